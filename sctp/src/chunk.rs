//! SCTP chunks (RFC 9260 3.3, RFC 3758, RFC 6525, RFC 8260): zero-copy views parsed from a packet
//! and written back into a `Vec<u8>`.

use crate::error::ParseError;
use crate::param::{Tlvs, UnknownAction, pad4};

/// Chunk type codes.
pub mod chunk_type {
    /// Payload data.
    pub const DATA: u8 = 0;
    /// Initiation.
    pub const INIT: u8 = 1;
    /// Initiation acknowledgement.
    pub const INIT_ACK: u8 = 2;
    /// Selective acknowledgement.
    pub const SACK: u8 = 3;
    /// Heartbeat request.
    pub const HEARTBEAT: u8 = 4;
    /// Heartbeat acknowledgement.
    pub const HEARTBEAT_ACK: u8 = 5;
    /// Abort.
    pub const ABORT: u8 = 6;
    /// Shutdown.
    pub const SHUTDOWN: u8 = 7;
    /// Shutdown acknowledgement.
    pub const SHUTDOWN_ACK: u8 = 8;
    /// Operation error.
    pub const ERROR: u8 = 9;
    /// State cookie echo.
    pub const COOKIE_ECHO: u8 = 10;
    /// Cookie acknowledgement.
    pub const COOKIE_ACK: u8 = 11;
    /// Shutdown complete.
    pub const SHUTDOWN_COMPLETE: u8 = 14;
    /// Interleaved data (RFC 8260).
    pub const I_DATA: u8 = 64;
    /// Stream re-configuration (RFC 6525).
    pub const RE_CONFIG: u8 = 130;
    /// Forward cumulative TSN (RFC 3758).
    pub const FORWARD_TSN: u8 = 192;
    /// Interleaved forward TSN (RFC 8260).
    pub const I_FORWARD_TSN: u8 = 194;
}

/// DATA / I-DATA flag bits.
pub mod data_flags {
    /// Immediate: the receiver should SACK without delay (RFC 7053).
    pub const IMMEDIATE: u8 = 0x08;
    /// Unordered.
    pub const UNORDERED: u8 = 0x04;
    /// First fragment of a message.
    pub const BEGIN: u8 = 0x02;
    /// Last fragment of a message.
    pub const END: u8 = 0x01;
}

/// Size of the DATA chunk header (chunk header plus TSN, stream, SSN, PPID).
pub const DATA_HEADER_LEN: usize = 16;
/// Size of the I-DATA chunk header.
pub const I_DATA_HEADER_LEN: usize = 20;

/// A DATA chunk (RFC 9260 3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataChunk<'a> {
    /// Flag bits ([`data_flags`]).
    pub flags: u8,
    /// Transmission sequence number.
    pub tsn: u32,
    /// Stream identifier.
    pub stream_id: u16,
    /// Stream sequence number.
    pub ssn: u16,
    /// Payload protocol identifier.
    pub ppid: u32,
    /// User data.
    pub payload: &'a [u8],
}

/// An I-DATA chunk (RFC 8260 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IDataChunk<'a> {
    /// Flag bits ([`data_flags`]).
    pub flags: u8,
    /// Transmission sequence number.
    pub tsn: u32,
    /// Stream identifier.
    pub stream_id: u16,
    /// Message identifier.
    pub mid: u32,
    /// PPID on the first fragment, fragment sequence number on the others.
    pub ppid_or_fsn: u32,
    /// User data.
    pub payload: &'a [u8],
}

/// An INIT or INIT-ACK chunk (RFC 9260 3.3.2 / 3.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitChunk<'a> {
    /// Initiate tag: the verification tag the sender expects on packets to it.
    pub initiate_tag: u32,
    /// Advertised receiver window credit.
    pub a_rwnd: u32,
    /// Number of outbound streams.
    pub outbound_streams: u16,
    /// Maximum inbound streams.
    pub inbound_streams: u16,
    /// Initial TSN.
    pub initial_tsn: u32,
    /// Optional and variable-length parameters.
    pub params: Tlvs<'a>,
}

/// A SACK chunk (RFC 9260 3.3.4); gap blocks and duplicates are read lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SackChunk<'a> {
    /// Cumulative TSN acknowledged.
    pub cum_tsn_ack: u32,
    /// Advertised receiver window credit.
    pub a_rwnd: u32,
    gaps: &'a [u8],
    dups: &'a [u8],
}

impl<'a> SackChunk<'a> {
    /// Gap-ack blocks as (start, end) offsets from the cumulative TSN, inclusive.
    pub fn gap_blocks(&self) -> impl Iterator<Item = (u16, u16)> + 'a {
        self.gaps.chunks_exact(4).map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u16::from_be_bytes([c[2], c[3]]),
            )
        })
    }
    /// Number of gap-ack blocks.
    pub fn gap_count(&self) -> usize {
        self.gaps.len() / 4
    }
    /// Duplicate TSNs reported.
    pub fn duplicates(&self) -> impl Iterator<Item = u32> + 'a {
        self.dups
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
    /// Number of duplicate TSNs.
    pub fn duplicate_count(&self) -> usize {
        self.dups.len() / 4
    }
}

/// A FORWARD-TSN chunk (RFC 3758 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardTsnChunk<'a> {
    /// New cumulative TSN.
    pub new_cum_tsn: u32,
    entries: &'a [u8],
}

impl<'a> ForwardTsnChunk<'a> {
    /// (stream, ssn) pairs of ordered streams whose messages were skipped.
    pub fn streams(&self) -> impl Iterator<Item = (u16, u16)> + 'a {
        self.entries.chunks_exact(4).map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                u16::from_be_bytes([c[2], c[3]]),
            )
        })
    }
}

/// An I-FORWARD-TSN chunk (RFC 8260 2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IForwardTsnChunk<'a> {
    /// New cumulative TSN.
    pub new_cum_tsn: u32,
    entries: &'a [u8],
}

impl<'a> IForwardTsnChunk<'a> {
    /// (stream, unordered, mid) entries.
    pub fn entries(&self) -> impl Iterator<Item = (u16, bool, u32)> + 'a {
        self.entries.chunks_exact(8).map(|c| {
            (
                u16::from_be_bytes([c[0], c[1]]),
                c[3] & 1 != 0,
                u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
    }
}

/// One parsed chunk, borrowing the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// DATA.
    Data(DataChunk<'a>),
    /// I-DATA.
    IData(IDataChunk<'a>),
    /// INIT.
    Init(InitChunk<'a>),
    /// INIT-ACK.
    InitAck(InitChunk<'a>),
    /// SACK.
    Sack(SackChunk<'a>),
    /// HEARTBEAT with its parameters (Heartbeat Info).
    Heartbeat(Tlvs<'a>),
    /// HEARTBEAT-ACK, echoing the HEARTBEAT's parameters.
    HeartbeatAck(Tlvs<'a>),
    /// ABORT with the T bit and error causes.
    Abort {
        /// T bit: the verification tag is reflected.
        reflected: bool,
        /// Error causes.
        causes: Tlvs<'a>,
    },
    /// SHUTDOWN with the cumulative TSN ack.
    Shutdown {
        /// Cumulative TSN ack.
        cum_tsn_ack: u32,
    },
    /// SHUTDOWN-ACK.
    ShutdownAck,
    /// SHUTDOWN-COMPLETE with the T bit.
    ShutdownComplete {
        /// T bit.
        reflected: bool,
    },
    /// ERROR with its causes.
    Error(Tlvs<'a>),
    /// COOKIE-ECHO with the opaque cookie.
    CookieEcho(&'a [u8]),
    /// COOKIE-ACK.
    CookieAck,
    /// FORWARD-TSN.
    ForwardTsn(ForwardTsnChunk<'a>),
    /// I-FORWARD-TSN.
    IForwardTsn(IForwardTsnChunk<'a>),
    /// RE-CONFIG with its re-configuration parameters.
    ReConfig(Tlvs<'a>),
    /// A chunk type this crate does not know.
    Unknown {
        /// Type code.
        chunk_type: u8,
        /// Flags.
        flags: u8,
        /// The value (without header and padding).
        value: &'a [u8],
    },
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> Chunk<'a> {
    /// Parses one chunk from the start of `buf`; returns it and the bytes consumed (padding
    /// included; the last chunk of a packet may omit its padding).
    pub fn parse(buf: &'a [u8]) -> Result<(Chunk<'a>, usize), ParseError> {
        if buf.len() < 4 {
            return Err(ParseError::Truncated {
                what: "chunk header",
                needed: 4,
                available: buf.len(),
            });
        }
        let ty = buf[0];
        let flags = buf[1];
        let len = be16(buf, 2) as usize;
        if len > buf.len() {
            return Err(ParseError::Truncated {
                what: "chunk",
                needed: len,
                available: buf.len(),
            });
        }
        let min = match ty {
            chunk_type::DATA => DATA_HEADER_LEN,
            chunk_type::I_DATA => I_DATA_HEADER_LEN,
            chunk_type::INIT | chunk_type::INIT_ACK => 20,
            chunk_type::SACK => 16,
            chunk_type::SHUTDOWN | chunk_type::FORWARD_TSN | chunk_type::I_FORWARD_TSN => 8,
            _ => 4,
        };
        if len < min {
            return Err(ParseError::ChunkTooShort {
                chunk_type: ty,
                length: len,
                minimum: min,
            });
        }
        let b = &buf[..len];
        let v = &b[4..];
        let chunk = match ty {
            chunk_type::DATA => Chunk::Data(DataChunk {
                flags,
                tsn: be32(b, 4),
                stream_id: be16(b, 8),
                ssn: be16(b, 10),
                ppid: be32(b, 12),
                payload: &b[16..],
            }),
            chunk_type::I_DATA => Chunk::IData(IDataChunk {
                flags,
                tsn: be32(b, 4),
                stream_id: be16(b, 8),
                mid: be32(b, 12),
                ppid_or_fsn: be32(b, 16),
                payload: &b[20..],
            }),
            chunk_type::INIT | chunk_type::INIT_ACK => {
                let init = InitChunk {
                    initiate_tag: be32(b, 4),
                    a_rwnd: be32(b, 8),
                    outbound_streams: be16(b, 12),
                    inbound_streams: be16(b, 14),
                    initial_tsn: be32(b, 16),
                    params: Tlvs::parse(&b[20..])?,
                };
                if ty == chunk_type::INIT {
                    Chunk::Init(init)
                } else {
                    Chunk::InitAck(init)
                }
            }
            chunk_type::SACK => {
                let gaps = be16(b, 12) as usize;
                let dups = be16(b, 14) as usize;
                let needed = 16 + gaps * 4 + dups * 4;
                if needed != len {
                    return Err(ParseError::Malformed("SACK block counts"));
                }
                Chunk::Sack(SackChunk {
                    cum_tsn_ack: be32(b, 4),
                    a_rwnd: be32(b, 8),
                    gaps: &b[16..16 + gaps * 4],
                    dups: &b[16 + gaps * 4..],
                })
            }
            chunk_type::HEARTBEAT => Chunk::Heartbeat(Tlvs::parse(v)?),
            chunk_type::HEARTBEAT_ACK => Chunk::HeartbeatAck(Tlvs::parse(v)?),
            chunk_type::ABORT => Chunk::Abort {
                reflected: flags & 1 != 0,
                causes: Tlvs::parse(v)?,
            },
            chunk_type::SHUTDOWN => Chunk::Shutdown {
                cum_tsn_ack: be32(b, 4),
            },
            chunk_type::SHUTDOWN_ACK => Chunk::ShutdownAck,
            chunk_type::SHUTDOWN_COMPLETE => Chunk::ShutdownComplete {
                reflected: flags & 1 != 0,
            },
            chunk_type::ERROR => Chunk::Error(Tlvs::parse(v)?),
            chunk_type::COOKIE_ECHO => Chunk::CookieEcho(v),
            chunk_type::COOKIE_ACK => Chunk::CookieAck,
            chunk_type::FORWARD_TSN => {
                if !(len - 8).is_multiple_of(4) {
                    return Err(ParseError::Malformed("FORWARD-TSN stream entries"));
                }
                Chunk::ForwardTsn(ForwardTsnChunk {
                    new_cum_tsn: be32(b, 4),
                    entries: &b[8..],
                })
            }
            chunk_type::I_FORWARD_TSN => {
                if !(len - 8).is_multiple_of(8) {
                    return Err(ParseError::Malformed("I-FORWARD-TSN entries"));
                }
                Chunk::IForwardTsn(IForwardTsnChunk {
                    new_cum_tsn: be32(b, 4),
                    entries: &b[8..],
                })
            }
            chunk_type::RE_CONFIG => Chunk::ReConfig(Tlvs::parse(v)?),
            _ => Chunk::Unknown {
                chunk_type: ty,
                flags,
                value: v,
            },
        };
        let consumed = ((len + 3) & !3).min(buf.len());
        Ok((chunk, consumed))
    }

    /// The chunk type code.
    pub fn chunk_type(&self) -> u8 {
        use chunk_type::*;
        match self {
            Chunk::Data(_) => DATA,
            Chunk::IData(_) => I_DATA,
            Chunk::Init(_) => INIT,
            Chunk::InitAck(_) => INIT_ACK,
            Chunk::Sack(_) => SACK,
            Chunk::Heartbeat(_) => HEARTBEAT,
            Chunk::HeartbeatAck(_) => HEARTBEAT_ACK,
            Chunk::Abort { .. } => ABORT,
            Chunk::Shutdown { .. } => SHUTDOWN,
            Chunk::ShutdownAck => SHUTDOWN_ACK,
            Chunk::ShutdownComplete { .. } => SHUTDOWN_COMPLETE,
            Chunk::Error(_) => ERROR,
            Chunk::CookieEcho(_) => COOKIE_ECHO,
            Chunk::CookieAck => COOKIE_ACK,
            Chunk::ForwardTsn(_) => FORWARD_TSN,
            Chunk::IForwardTsn(_) => I_FORWARD_TSN,
            Chunk::ReConfig(_) => RE_CONFIG,
            Chunk::Unknown { chunk_type, .. } => *chunk_type,
        }
    }

    /// For an unknown chunk, what its two high type bits ask for.
    pub fn unknown_action(&self) -> Option<UnknownAction> {
        match self {
            Chunk::Unknown { chunk_type, .. } => Some(UnknownAction::from_bits(chunk_type >> 6)),
            _ => None,
        }
    }

    /// Length on the wire, padding included.
    pub fn encoded_len(&self) -> usize {
        (self.unpadded_len() + 3) & !3
    }

    fn unpadded_len(&self) -> usize {
        match self {
            Chunk::Data(d) => DATA_HEADER_LEN + d.payload.len(),
            Chunk::IData(d) => I_DATA_HEADER_LEN + d.payload.len(),
            Chunk::Init(i) | Chunk::InitAck(i) => 20 + i.params.trimmed().len(),
            Chunk::Sack(s) => 16 + s.gaps.len() + s.dups.len(),
            Chunk::Heartbeat(p)
            | Chunk::HeartbeatAck(p)
            | Chunk::Error(p)
            | Chunk::ReConfig(p)
            | Chunk::Abort { causes: p, .. } => 4 + p.trimmed().len(),
            Chunk::Shutdown { .. } => 8,
            Chunk::ShutdownAck | Chunk::CookieAck | Chunk::ShutdownComplete { .. } => 4,
            Chunk::CookieEcho(c) => 4 + c.len(),
            Chunk::ForwardTsn(f) => 8 + f.entries.len(),
            Chunk::IForwardTsn(f) => 8 + f.entries.len(),
            Chunk::Unknown { value, .. } => 4 + value.len(),
        }
    }

    /// Appends the chunk, padded to 4 bytes.
    pub fn write(&self, out: &mut Vec<u8>) {
        let len = self.unpadded_len();
        let flags = match self {
            Chunk::Data(d) => d.flags,
            Chunk::IData(d) => d.flags,
            Chunk::Abort { reflected, .. } | Chunk::ShutdownComplete { reflected } => {
                *reflected as u8
            }
            Chunk::Unknown { flags, .. } => *flags,
            _ => 0,
        };
        out.push(self.chunk_type());
        out.push(flags);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        match self {
            Chunk::Data(d) => {
                out.extend_from_slice(&d.tsn.to_be_bytes());
                out.extend_from_slice(&d.stream_id.to_be_bytes());
                out.extend_from_slice(&d.ssn.to_be_bytes());
                out.extend_from_slice(&d.ppid.to_be_bytes());
                out.extend_from_slice(d.payload);
            }
            Chunk::IData(d) => {
                out.extend_from_slice(&d.tsn.to_be_bytes());
                out.extend_from_slice(&d.stream_id.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&d.mid.to_be_bytes());
                out.extend_from_slice(&d.ppid_or_fsn.to_be_bytes());
                out.extend_from_slice(d.payload);
            }
            Chunk::Init(i) | Chunk::InitAck(i) => {
                out.extend_from_slice(&i.initiate_tag.to_be_bytes());
                out.extend_from_slice(&i.a_rwnd.to_be_bytes());
                out.extend_from_slice(&i.outbound_streams.to_be_bytes());
                out.extend_from_slice(&i.inbound_streams.to_be_bytes());
                out.extend_from_slice(&i.initial_tsn.to_be_bytes());
                out.extend_from_slice(i.params.trimmed());
            }
            Chunk::Sack(s) => {
                out.extend_from_slice(&s.cum_tsn_ack.to_be_bytes());
                out.extend_from_slice(&s.a_rwnd.to_be_bytes());
                out.extend_from_slice(&((s.gaps.len() / 4) as u16).to_be_bytes());
                out.extend_from_slice(&((s.dups.len() / 4) as u16).to_be_bytes());
                out.extend_from_slice(s.gaps);
                out.extend_from_slice(s.dups);
            }
            Chunk::Heartbeat(p)
            | Chunk::HeartbeatAck(p)
            | Chunk::Error(p)
            | Chunk::ReConfig(p)
            | Chunk::Abort { causes: p, .. } => out.extend_from_slice(p.trimmed()),
            Chunk::Shutdown { cum_tsn_ack } => out.extend_from_slice(&cum_tsn_ack.to_be_bytes()),
            Chunk::ShutdownAck | Chunk::CookieAck | Chunk::ShutdownComplete { .. } => {}
            Chunk::CookieEcho(c) => out.extend_from_slice(c),
            Chunk::ForwardTsn(ForwardTsnChunk {
                new_cum_tsn,
                entries,
            })
            | Chunk::IForwardTsn(IForwardTsnChunk {
                new_cum_tsn,
                entries,
            }) => {
                out.extend_from_slice(&new_cum_tsn.to_be_bytes());
                out.extend_from_slice(entries);
            }
            Chunk::Unknown { value, .. } => out.extend_from_slice(value),
        }
        pad4(out, len);
    }
}

/// Appends a chunk header with a value written by `body`, fixing up the length and padding.
pub fn write_chunk_with(out: &mut Vec<u8>, ty: u8, flags: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[ty, flags, 0, 0]);
    body(out);
    let len = out.len() - start;
    out[start + 2..start + 4].copy_from_slice(&(len as u16).to_be_bytes());
    pad4(out, len);
}

/// Appends a chunk whose value is a list of TLVs written by `body`; the length field leaves out
/// the last TLV's padding as RFC 9260 3.2 requires.
pub fn write_tlv_chunk(out: &mut Vec<u8>, ty: u8, flags: u8, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[ty, flags, 0, 0]);
    body(out);
    let trimmed = crate::param::trimmed_len(&out[start + 4..]);
    out.truncate(start + 4 + trimmed);
    let len = out.len() - start;
    out[start + 2..start + 4].copy_from_slice(&(len as u16).to_be_bytes());
    pad4(out, len);
}

/// Appends a DATA chunk header and payload without building a [`DataChunk`].
pub fn write_data(
    out: &mut Vec<u8>,
    flags: u8,
    tsn: u32,
    stream_id: u16,
    ssn: u16,
    ppid: u32,
    payload: &[u8],
) {
    let len = DATA_HEADER_LEN + payload.len();
    out.extend_from_slice(&[chunk_type::DATA, flags]);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&tsn.to_be_bytes());
    out.extend_from_slice(&stream_id.to_be_bytes());
    out.extend_from_slice(&ssn.to_be_bytes());
    out.extend_from_slice(&ppid.to_be_bytes());
    out.extend_from_slice(payload);
    pad4(out, len);
}

/// Appends a SACK from gap blocks (offsets from `cum_tsn_ack`) and duplicate TSNs.
pub fn write_sack(
    out: &mut Vec<u8>,
    cum_tsn_ack: u32,
    a_rwnd: u32,
    gaps: &[(u16, u16)],
    dups: &[u32],
) {
    write_sack_from(
        out,
        cum_tsn_ack,
        a_rwnd,
        gaps.len(),
        gaps.iter().copied(),
        dups,
    );
}

/// Appends a SACK with the first `gap_count` gap blocks of `gaps` (which has at least that
/// many) and duplicate TSNs.
pub(crate) fn write_sack_from(
    out: &mut Vec<u8>,
    cum_tsn_ack: u32,
    a_rwnd: u32,
    gap_count: usize,
    gaps: impl Iterator<Item = (u16, u16)>,
    dups: &[u32],
) {
    write_chunk_with(out, chunk_type::SACK, 0, |o| {
        o.extend_from_slice(&cum_tsn_ack.to_be_bytes());
        o.extend_from_slice(&a_rwnd.to_be_bytes());
        o.extend_from_slice(&(gap_count as u16).to_be_bytes());
        o.extend_from_slice(&(dups.len() as u16).to_be_bytes());
        for (s, e) in gaps.take(gap_count) {
            o.extend_from_slice(&s.to_be_bytes());
            o.extend_from_slice(&e.to_be_bytes());
        }
        for d in dups {
            o.extend_from_slice(&d.to_be_bytes());
        }
    });
}

/// Appends a FORWARD-TSN with (stream, ssn) entries.
pub fn write_forward_tsn(out: &mut Vec<u8>, new_cum_tsn: u32, streams: &[(u16, u16)]) {
    write_chunk_with(out, chunk_type::FORWARD_TSN, 0, |o| {
        o.extend_from_slice(&new_cum_tsn.to_be_bytes());
        for (s, n) in streams {
            o.extend_from_slice(&s.to_be_bytes());
            o.extend_from_slice(&n.to_be_bytes());
        }
    });
}

/// Appends an I-FORWARD-TSN with (stream, unordered, mid) entries.
pub fn write_i_forward_tsn(out: &mut Vec<u8>, new_cum_tsn: u32, entries: &[(u16, bool, u32)]) {
    write_chunk_with(out, chunk_type::I_FORWARD_TSN, 0, |o| {
        o.extend_from_slice(&new_cum_tsn.to_be_bytes());
        for (s, u, m) in entries {
            o.extend_from_slice(&s.to_be_bytes());
            o.extend_from_slice(&[0, *u as u8]);
            o.extend_from_slice(&m.to_be_bytes());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::param::write_tlv;
    use proptest::prelude::*;

    fn round_trip(c: &Chunk<'_>) {
        let mut out = Vec::new();
        c.write(&mut out);
        assert_eq!(out.len(), c.encoded_len());
        let (back, used) = Chunk::parse(&out).unwrap();
        assert_eq!(used, out.len());
        assert_eq!(&back, c);
    }

    #[test]
    fn fixed_chunks_round_trip() {
        let mut params = Vec::new();
        write_tlv(&mut params, 0xC000, &[]);
        write_tlv(&mut params, 0x8008, &[130, 192]);
        let init = InitChunk {
            initiate_tag: 1,
            a_rwnd: 2,
            outbound_streams: 3,
            inbound_streams: 4,
            initial_tsn: 5,
            params: Tlvs::parse(&params).unwrap(),
        };
        for c in [
            Chunk::Init(init),
            Chunk::InitAck(init),
            Chunk::CookieAck,
            Chunk::ShutdownAck,
            Chunk::Shutdown { cum_tsn_ack: 77 },
            Chunk::ShutdownComplete { reflected: true },
            Chunk::CookieEcho(&[1, 2, 3, 4, 5]),
            Chunk::Heartbeat(Tlvs::parse(&params).unwrap()),
            Chunk::Abort {
                reflected: false,
                causes: Tlvs::parse(&params).unwrap(),
            },
            Chunk::Unknown {
                chunk_type: 0xC1,
                flags: 3,
                value: &[9, 9],
            },
        ] {
            round_trip(&c);
        }
    }

    #[test]
    fn rejects_bad_lengths() {
        assert!(Chunk::parse(&[0, 0, 0, 8, 0, 0, 0, 0]).is_err());
        assert!(Chunk::parse(&[3, 0, 0, 20]).is_err());
        // SACK claiming one gap block but carrying none.
        let mut b = Vec::new();
        write_sack(&mut b, 1, 2, &[], &[]);
        b[13] = 1;
        assert!(Chunk::parse(&b).is_err());
    }

    proptest! {
        #[test]
        fn data_round_trip(flags in 0u8..16, tsn: u32, sid: u16, ssn: u16, ppid: u32,
                           payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let c = Chunk::Data(DataChunk { flags, tsn, stream_id: sid, ssn, ppid, payload: &payload });
            round_trip(&c);
            let mut direct = Vec::new();
            write_data(&mut direct, flags, tsn, sid, ssn, ppid, &payload);
            let mut via = Vec::new();
            c.write(&mut via);
            prop_assert_eq!(direct, via);
        }

        #[test]
        fn idata_round_trip(flags in 0u8..16, tsn: u32, sid: u16, mid: u32, p: u32,
                            payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            round_trip(&Chunk::IData(IDataChunk { flags, tsn, stream_id: sid, mid, ppid_or_fsn: p, payload: &payload }));
        }

        #[test]
        fn sack_round_trip(cum: u32, rwnd: u32,
                           gaps in proptest::collection::vec(any::<(u16, u16)>(), 0..20),
                           dups in proptest::collection::vec(any::<u32>(), 0..20)) {
            let mut b = Vec::new();
            write_sack(&mut b, cum, rwnd, &gaps, &dups);
            let (c, _) = Chunk::parse(&b).unwrap();
            let Chunk::Sack(s) = c else { panic!("not a SACK") };
            prop_assert_eq!(s.cum_tsn_ack, cum);
            prop_assert_eq!(s.a_rwnd, rwnd);
            prop_assert_eq!(s.gap_blocks().collect::<Vec<_>>(), gaps);
            prop_assert_eq!(s.duplicates().collect::<Vec<_>>(), dups);
            round_trip(&c);
        }

        #[test]
        fn forward_tsn_round_trip(cum: u32, streams in proptest::collection::vec(any::<(u16, u16)>(), 0..20),
                                  ientries in proptest::collection::vec(any::<(u16, bool, u32)>(), 0..20)) {
            let mut b = Vec::new();
            write_forward_tsn(&mut b, cum, &streams);
            let (c, _) = Chunk::parse(&b).unwrap();
            let Chunk::ForwardTsn(f) = c else { panic!("not FORWARD-TSN") };
            prop_assert_eq!(f.new_cum_tsn, cum);
            prop_assert_eq!(f.streams().collect::<Vec<_>>(), streams);
            round_trip(&c);
            let mut b = Vec::new();
            write_i_forward_tsn(&mut b, cum, &ientries);
            let (c, _) = Chunk::parse(&b).unwrap();
            let Chunk::IForwardTsn(f) = c else { panic!("not I-FORWARD-TSN") };
            prop_assert_eq!(f.entries().collect::<Vec<_>>(), ientries);
            round_trip(&c);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok((c, used)) = Chunk::parse(&bytes) {
                prop_assert!(used <= bytes.len());
                let mut out = Vec::new();
                c.write(&mut out);
                let (again, _) = Chunk::parse(&out).unwrap();
                prop_assert_eq!(again, c);
            }
        }
    }
}
