//! Type-length-value parameters and error causes (RFC 9260 3.2.1 and 3.3.10, RFC 6525, RFC 3758,
//! RFC 9653), read lazily from the wire and written by small helpers.

use crate::error::ParseError;

/// Parameter types used by this crate.
pub mod param_type {
    /// Heartbeat Info (RFC 9260 3.3.5).
    pub const HEARTBEAT_INFO: u16 = 1;
    /// IPv4 address.
    pub const IPV4_ADDRESS: u16 = 5;
    /// IPv6 address.
    pub const IPV6_ADDRESS: u16 = 6;
    /// State cookie (in INIT-ACK).
    pub const STATE_COOKIE: u16 = 7;
    /// Unrecognized parameter (in INIT-ACK, wrapping the offending parameter).
    pub const UNRECOGNIZED_PARAMETER: u16 = 8;
    /// Cookie preservative.
    pub const COOKIE_PRESERVATIVE: u16 = 9;
    /// Supported address types.
    pub const SUPPORTED_ADDRESS_TYPES: u16 = 12;
    /// Outgoing SSN reset request (RFC 6525 4.1).
    pub const OUTGOING_SSN_RESET: u16 = 13;
    /// Incoming SSN reset request (RFC 6525 4.2).
    pub const INCOMING_SSN_RESET: u16 = 14;
    /// SSN/TSN reset request (RFC 6525 4.3).
    pub const SSN_TSN_RESET: u16 = 15;
    /// Re-configuration response (RFC 6525 4.4).
    pub const RECONFIG_RESPONSE: u16 = 16;
    /// Add outgoing streams request (RFC 6525 4.5).
    pub const ADD_OUTGOING_STREAMS: u16 = 17;
    /// Add incoming streams request (RFC 6525 4.6).
    pub const ADD_INCOMING_STREAMS: u16 = 18;
    /// ECN capable.
    pub const ECN_CAPABLE: u16 = 0x8000;
    /// Zero checksum acceptable (RFC 9653).
    pub const ZERO_CHECKSUM_ACCEPTABLE: u16 = 0x8001;
    /// Supported extensions (RFC 5061 4.2.7).
    pub const SUPPORTED_EXTENSIONS: u16 = 0x8008;
    /// Forward-TSN supported (RFC 3758).
    pub const FORWARD_TSN_SUPPORTED: u16 = 0xC000;
}

/// Error cause codes (RFC 9260 3.3.10).
pub mod cause_code {
    /// Invalid stream identifier.
    pub const INVALID_STREAM_ID: u16 = 1;
    /// Missing mandatory parameter.
    pub const MISSING_MANDATORY_PARAMETER: u16 = 2;
    /// Stale cookie.
    pub const STALE_COOKIE: u16 = 3;
    /// Out of resource.
    pub const OUT_OF_RESOURCE: u16 = 4;
    /// Unrecognized chunk type.
    pub const UNRECOGNIZED_CHUNK_TYPE: u16 = 6;
    /// Invalid mandatory parameter.
    pub const INVALID_MANDATORY_PARAMETER: u16 = 7;
    /// Unrecognized parameters.
    pub const UNRECOGNIZED_PARAMETERS: u16 = 8;
    /// No user data.
    pub const NO_USER_DATA: u16 = 9;
    /// Cookie received while shutting down.
    pub const COOKIE_WHILE_SHUTTING_DOWN: u16 = 10;
    /// User-initiated abort.
    pub const USER_INITIATED_ABORT: u16 = 12;
    /// Protocol violation.
    pub const PROTOCOL_VIOLATION: u16 = 13;
}

/// One type-length-value element (a parameter or an error cause), padding removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The type (parameter type or cause code).
    pub kind: u16,
    /// The value, without the 4-byte header and without padding.
    pub value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// The whole element as it should be copied into an "unrecognized parameter" report.
    pub fn encoded_len(&self) -> usize {
        4 + self.value.len()
    }

    /// Writes the element with its padding.
    pub fn write(&self, out: &mut Vec<u8>) {
        write_tlv(out, self.kind, self.value);
    }

    /// What to do when the type is not understood, from its two high bits (RFC 9260 3.2.1).
    pub fn unknown_action(&self) -> UnknownAction {
        UnknownAction::from_bits((self.kind >> 14) as u8)
    }
}

/// What the two high bits of an unknown chunk or parameter type ask the receiver to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownAction {
    /// Stop processing, discard, do not report.
    Stop,
    /// Stop processing, discard, and report it.
    StopAndReport,
    /// Skip it and continue, do not report.
    Skip,
    /// Skip it, continue, and report it.
    SkipAndReport,
}

impl UnknownAction {
    /// From the two high bits (0..=3).
    pub fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => UnknownAction::Stop,
            1 => UnknownAction::StopAndReport,
            2 => UnknownAction::Skip,
            _ => UnknownAction::SkipAndReport,
        }
    }
}

/// A validated list of TLVs; iterate with [`Tlvs::iter`]. Two lists are equal when their
/// elements are (the last element's padding does not count).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tlvs<'a> {
    buf: &'a [u8],
}

impl PartialEq for Tlvs<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.trimmed() == other.trimmed()
    }
}

impl Eq for Tlvs<'_> {}

impl<'a> Tlvs<'a> {
    /// Checks every element's length (the last one may omit its padding).
    pub fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        let mut rest = buf;
        while !rest.is_empty() {
            let (_, consumed) = read_tlv(rest)?;
            rest = &rest[consumed..];
        }
        Ok(Tlvs { buf })
    }

    /// The raw bytes of the list.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The list without the padding of its last element: what a chunk's length field counts
    /// (RFC 9260 3.2).
    pub fn trimmed(&self) -> &'a [u8] {
        &self.buf[..trimmed_len(self.buf)]
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Iterates the elements.
    pub fn iter(&self) -> TlvIter<'a> {
        TlvIter { rest: self.buf }
    }

    /// The first element of the given type.
    pub fn find(&self, kind: u16) -> Option<&'a [u8]> {
        self.iter().find(|t| t.kind == kind).map(|t| t.value)
    }
}

/// Iterator over a validated [`Tlvs`] list.
#[derive(Debug, Clone)]
pub struct TlvIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Tlv<'a>;
    fn next(&mut self) -> Option<Tlv<'a>> {
        let (tlv, consumed) = read_tlv(self.rest).ok()?;
        self.rest = &self.rest[consumed..];
        Some(tlv)
    }
}

fn read_tlv(buf: &[u8]) -> Result<(Tlv<'_>, usize), ParseError> {
    if buf.len() < 4 {
        return Err(ParseError::Truncated {
            what: "parameter header",
            needed: 4,
            available: buf.len(),
        });
    }
    let kind = u16::from_be_bytes([buf[0], buf[1]]);
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    if len < 4 {
        return Err(ParseError::BadParamLength {
            param_type: kind,
            length: len,
        });
    }
    if len > buf.len() {
        return Err(ParseError::Truncated {
            what: "parameter",
            needed: len,
            available: buf.len(),
        });
    }
    let padded = (len + 3) & !3;
    let consumed = padded.min(buf.len());
    Ok((
        Tlv {
            kind,
            value: &buf[4..len],
        },
        consumed,
    ))
}

/// Length of a TLV list without the padding of its last element.
pub fn trimmed_len(buf: &[u8]) -> usize {
    let mut rest = buf;
    let mut end = 0;
    let mut offset = 0;
    while let Ok((tlv, consumed)) = read_tlv(rest) {
        end = offset + 4 + tlv.value.len();
        offset += consumed;
        rest = &rest[consumed..];
    }
    end
}

/// Appends a TLV with its padding.
pub fn write_tlv(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = 4 + value.len();
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(value);
    pad4(out, len);
}

pub(crate) fn pad4(out: &mut Vec<u8>, len: usize) {
    let pad = (4 - len % 4) % 4;
    out.extend_from_slice(&[0u8; 3][..pad]);
}

/// A stream reconfiguration parameter (RFC 6525), in a RE-CONFIG chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconfigParam<'a> {
    /// Outgoing SSN reset request: the sender resets its outgoing streams.
    OutgoingReset {
        /// Request sequence number.
        request_seq: u32,
        /// The last response sequence number the sender received.
        response_seq: u32,
        /// The sender's last assigned TSN.
        last_tsn: u32,
        /// Streams to reset (empty means all), raw big-endian u16s.
        streams: StreamList<'a>,
    },
    /// Incoming SSN reset request: ask the peer to reset its outgoing streams.
    IncomingReset {
        /// Request sequence number.
        request_seq: u32,
        /// Streams to reset (empty means all).
        streams: StreamList<'a>,
    },
    /// SSN/TSN reset request.
    SsnTsnReset {
        /// Request sequence number.
        request_seq: u32,
    },
    /// Response to a request.
    Response {
        /// The request sequence number being answered.
        response_seq: u32,
        /// The result code ([`reconfig_result`]).
        result: u32,
        /// Sender's and receiver's next TSN, present only for SSN/TSN reset answers.
        next_tsns: Option<(u32, u32)>,
    },
    /// Add outgoing (`incoming == false`) or incoming streams.
    AddStreams {
        /// Whether this is "add incoming streams".
        incoming: bool,
        /// Request sequence number.
        request_seq: u32,
        /// Number of new streams.
        count: u16,
    },
    /// Any other parameter type.
    Unknown(Tlv<'a>),
}

/// Result codes of a re-configuration response (RFC 6525 4.4).
pub mod reconfig_result {
    /// Success - nothing to do.
    pub const SUCCESS_NOTHING: u32 = 0;
    /// Success - performed.
    pub const SUCCESS_PERFORMED: u32 = 1;
    /// Denied.
    pub const DENIED: u32 = 2;
    /// Error - wrong SSN.
    pub const ERROR_WRONG_SSN: u32 = 3;
    /// Error - request already in progress.
    pub const ERROR_IN_PROGRESS: u32 = 4;
    /// Error - bad sequence number.
    pub const ERROR_BAD_SEQUENCE: u32 = 5;
    /// In progress.
    pub const IN_PROGRESS: u32 = 6;
}

/// A validated list of big-endian u16 stream identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamList<'a> {
    buf: &'a [u8],
}

impl<'a> StreamList<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self, ParseError> {
        if !buf.len().is_multiple_of(2) {
            return Err(ParseError::Malformed("stream list of odd length"));
        }
        Ok(StreamList { buf })
    }
    /// Number of streams in the list.
    pub fn len(&self) -> usize {
        self.buf.len() / 2
    }
    /// Whether the list is empty (which means "all streams").
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Iterates the stream ids.
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        self.buf
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> ReconfigParam<'a> {
    /// Interprets one TLV of a RE-CONFIG chunk.
    pub fn from_tlv(tlv: Tlv<'a>) -> Result<Self, ParseError> {
        use param_type::*;
        let v = tlv.value;
        let need = |n: usize| {
            if v.len() < n {
                Err(ParseError::Truncated {
                    what: "re-config parameter",
                    needed: n,
                    available: v.len(),
                })
            } else {
                Ok(())
            }
        };
        Ok(match tlv.kind {
            OUTGOING_SSN_RESET => {
                need(12)?;
                ReconfigParam::OutgoingReset {
                    request_seq: be32(v, 0),
                    response_seq: be32(v, 4),
                    last_tsn: be32(v, 8),
                    streams: StreamList::parse(&v[12..])?,
                }
            }
            INCOMING_SSN_RESET => {
                need(4)?;
                ReconfigParam::IncomingReset {
                    request_seq: be32(v, 0),
                    streams: StreamList::parse(&v[4..])?,
                }
            }
            SSN_TSN_RESET => {
                need(4)?;
                ReconfigParam::SsnTsnReset {
                    request_seq: be32(v, 0),
                }
            }
            RECONFIG_RESPONSE => {
                need(8)?;
                let next_tsns = if v.len() >= 16 {
                    Some((be32(v, 8), be32(v, 12)))
                } else {
                    None
                };
                ReconfigParam::Response {
                    response_seq: be32(v, 0),
                    result: be32(v, 4),
                    next_tsns,
                }
            }
            ADD_OUTGOING_STREAMS | ADD_INCOMING_STREAMS => {
                need(8)?;
                ReconfigParam::AddStreams {
                    incoming: tlv.kind == ADD_INCOMING_STREAMS,
                    request_seq: be32(v, 0),
                    count: u16::from_be_bytes([v[4], v[5]]),
                }
            }
            _ => ReconfigParam::Unknown(tlv),
        })
    }

    /// Appends the parameter, padded.
    pub fn write(&self, out: &mut Vec<u8>) {
        use param_type::*;
        let mut v = [0u8; 16];
        match *self {
            ReconfigParam::OutgoingReset {
                request_seq,
                response_seq,
                last_tsn,
                streams,
            } => {
                let len = 16 + streams.buf.len();
                out.extend_from_slice(&OUTGOING_SSN_RESET.to_be_bytes());
                out.extend_from_slice(&(len as u16).to_be_bytes());
                out.extend_from_slice(&request_seq.to_be_bytes());
                out.extend_from_slice(&response_seq.to_be_bytes());
                out.extend_from_slice(&last_tsn.to_be_bytes());
                out.extend_from_slice(streams.buf);
                pad4(out, len);
            }
            ReconfigParam::IncomingReset {
                request_seq,
                streams,
            } => {
                let len = 8 + streams.buf.len();
                out.extend_from_slice(&INCOMING_SSN_RESET.to_be_bytes());
                out.extend_from_slice(&(len as u16).to_be_bytes());
                out.extend_from_slice(&request_seq.to_be_bytes());
                out.extend_from_slice(streams.buf);
                pad4(out, len);
            }
            ReconfigParam::SsnTsnReset { request_seq } => {
                write_tlv(out, SSN_TSN_RESET, &request_seq.to_be_bytes())
            }
            ReconfigParam::Response {
                response_seq,
                result,
                next_tsns,
            } => {
                v[..4].copy_from_slice(&response_seq.to_be_bytes());
                v[4..8].copy_from_slice(&result.to_be_bytes());
                let n = if let Some((a, b)) = next_tsns {
                    v[8..12].copy_from_slice(&a.to_be_bytes());
                    v[12..16].copy_from_slice(&b.to_be_bytes());
                    16
                } else {
                    8
                };
                write_tlv(out, RECONFIG_RESPONSE, &v[..n]);
            }
            ReconfigParam::AddStreams {
                incoming,
                request_seq,
                count,
            } => {
                v[..4].copy_from_slice(&request_seq.to_be_bytes());
                v[4..6].copy_from_slice(&count.to_be_bytes());
                let kind = if incoming {
                    ADD_INCOMING_STREAMS
                } else {
                    ADD_OUTGOING_STREAMS
                };
                write_tlv(out, kind, &v[..8]);
            }
            ReconfigParam::Unknown(tlv) => tlv.write(out),
        }
    }
}

/// Writes an outgoing SSN reset request for the given streams without building a [`StreamList`].
pub fn write_outgoing_reset(
    out: &mut Vec<u8>,
    request_seq: u32,
    response_seq: u32,
    last_tsn: u32,
    streams: &[u16],
) {
    let len = 16 + 2 * streams.len();
    out.extend_from_slice(&param_type::OUTGOING_SSN_RESET.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&request_seq.to_be_bytes());
    out.extend_from_slice(&response_seq.to_be_bytes());
    out.extend_from_slice(&last_tsn.to_be_bytes());
    for s in streams {
        out.extend_from_slice(&s.to_be_bytes());
    }
    pad4(out, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_list_parses_and_rejects() {
        let mut b = Vec::new();
        write_tlv(&mut b, 7, &[1, 2, 3]);
        write_tlv(&mut b, 0xC000, &[]);
        let l = Tlvs::parse(&b).unwrap();
        let v: Vec<_> = l.iter().collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].value, &[1, 2, 3]);
        assert_eq!(v[1].kind, 0xC000);
        assert_eq!(v[1].unknown_action(), UnknownAction::SkipAndReport);
        assert!(Tlvs::parse(&[0, 1, 0, 2]).is_err());
        assert!(Tlvs::parse(&[0, 1, 0, 9, 0]).is_err());
        assert!(Tlvs::parse(&[0, 1]).is_err());
    }

    #[test]
    fn reconfig_round_trip() {
        let mut b = Vec::new();
        write_outgoing_reset(&mut b, 5, 6, 7, &[1, 3, 5]);
        let l = Tlvs::parse(&b).unwrap();
        let p = ReconfigParam::from_tlv(l.iter().next().unwrap()).unwrap();
        match p {
            ReconfigParam::OutgoingReset {
                request_seq,
                response_seq,
                last_tsn,
                streams,
            } => {
                assert_eq!((request_seq, response_seq, last_tsn), (5, 6, 7));
                assert_eq!(streams.iter().collect::<Vec<_>>(), vec![1, 3, 5]);
            }
            _ => panic!("wrong kind"),
        }
        let mut again = Vec::new();
        p.write(&mut again);
        assert_eq!(again, b);
    }
}
