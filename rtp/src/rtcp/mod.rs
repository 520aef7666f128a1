//! RTCP packets (RFC 3550, 4585, 5104, 3611, 5506 and the transport-wide congestion control
//! draft): a zero-copy parser for compound and reduced-size packets, and writers.
//!
//! [`CompoundIter`] walks a compound packet and yields each [`RtcpPacket`]; lists inside packets
//! are validated up front and read lazily from the buffer, so parsing allocates nothing. To write,
//! build the packet structs (lists borrow the caller's slices) and call [`RtcpPacket::write`] or
//! [`write_compound`].
//!
//! ```
//! use sansrtc_rtp::rtcp::{self, List, Pli, ReceiverReport, ReportBlock, RtcpPacket};
//! let blocks = [ReportBlock { ssrc: 2, fraction_lost: 10, ..Default::default() }];
//! let packets = [
//!     RtcpPacket::ReceiverReport(ReceiverReport {
//!         ssrc: 1,
//!         reports: List::from_items(&blocks),
//!         profile_extension: &[],
//!     }),
//!     RtcpPacket::Pli(Pli { sender_ssrc: 1, media_ssrc: 2 }),
//! ];
//! let mut buf = [0u8; 1200];
//! let len = rtcp::write_compound(&packets, &mut buf)?;
//! let parsed: Vec<_> = rtcp::CompoundIter::new(&buf[..len]).collect::<Result<_, _>>()?;
//! assert_eq!(parsed, packets);
//! # Ok::<(), sansrtc_rtp::RtcpError>(())
//! ```

mod app;
mod bye;
mod feedback;
mod list;
mod report;
mod sdes;
mod twcc;
mod xr;

pub use app::App;
pub use bye::Goodbye;
pub use feedback::{Fir, FirEntry, Nack, NackPair, Pli, Remb, Rpsi, Sli, SliEntry, Tmmb, TmmbItem};
pub use list::{List, ListIter, WireItem};
pub use report::{ReceiverReport, ReportBlock, SenderReport};
pub use sdes::{SdesChunk, SdesItem, SdesType, SourceDescription};
pub use twcc::{PacketChunk, PacketStatus, TransportCc, TransportCcBuilder, TwccPacket};
pub use xr::{DlrrEntry, ExtendedReport, XrBlock};

use crate::error::RtcpError;

/// Length of the common RTCP header.
pub const HEADER_LEN: usize = 4;

/// RTCP packet type numbers.
pub mod packet_type {
    /// Sender report.
    pub const SR: u8 = 200;
    /// Receiver report.
    pub const RR: u8 = 201;
    /// Source description.
    pub const SDES: u8 = 202;
    /// Goodbye.
    pub const BYE: u8 = 203;
    /// Application-defined.
    pub const APP: u8 = 204;
    /// Transport-layer feedback (RFC 4585).
    pub const RTPFB: u8 = 205;
    /// Payload-specific feedback (RFC 4585).
    pub const PSFB: u8 = 206;
    /// Extended report (RFC 3611).
    pub const XR: u8 = 207;
}

/// One RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    /// SR (RFC 3550 6.4.1).
    SenderReport(SenderReport<'a>),
    /// RR (RFC 3550 6.4.2).
    ReceiverReport(ReceiverReport<'a>),
    /// SDES (RFC 3550 6.5).
    SourceDescription(SourceDescription<'a>),
    /// BYE (RFC 3550 6.6).
    Goodbye(Goodbye<'a>),
    /// APP (RFC 3550 6.7).
    App(App<'a>),
    /// Generic NACK (RFC 4585 6.2.1).
    Nack(Nack<'a>),
    /// TMMBR (RFC 5104 4.2.1).
    Tmmbr(Tmmb<'a>),
    /// TMMBN (RFC 5104 4.2.2).
    Tmmbn(Tmmb<'a>),
    /// Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions).
    TransportCc(TransportCc<'a>),
    /// Picture loss indication (RFC 4585 6.3.1).
    Pli(Pli),
    /// Slice loss indication (RFC 4585 6.3.2).
    Sli(Sli<'a>),
    /// Reference picture selection indication (RFC 4585 6.3.3).
    Rpsi(Rpsi<'a>),
    /// Full intra request (RFC 5104 4.3.1).
    Fir(Fir<'a>),
    /// Receiver estimated maximum bitrate (draft-alvestrand-rmcat-remb).
    Remb(Remb<'a>),
    /// Extended report (RFC 3611).
    ExtendedReport(ExtendedReport<'a>),
    /// Any other packet (unknown type or feedback format), kept as it is.
    Unknown(RawPacket<'a>),
}

/// A packet we do not interpret: its type, count/format field and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPacket<'a> {
    /// The packet type byte.
    pub packet_type: u8,
    /// The 5-bit count or feedback message type.
    pub count: u8,
    /// The body after the 4-byte header, padding removed (a multiple of 4 bytes to write).
    pub body: &'a [u8],
}

/// The 4-byte header every RTCP packet starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Whether the padding bit is set.
    pub padding: bool,
    /// The 5-bit count (or feedback message type).
    pub count: u8,
    /// The packet type.
    pub packet_type: u8,
    /// The whole packet's length in bytes, header and padding included.
    pub packet_len: usize,
}

impl Header {
    /// Parses the header at the front of `buf` and checks the packet fits in `buf`.
    pub fn parse(buf: &[u8]) -> Result<Header, RtcpError> {
        let Some(head) = buf.first_chunk::<4>() else {
            return Err(RtcpError::Truncated {
                needed: HEADER_LEN,
                available: buf.len(),
            });
        };
        if head[0] >> 6 != 2 {
            return Err(RtcpError::BadVersion(head[0] >> 6));
        }
        let packet_len = (u16::from_be_bytes([head[2], head[3]]) as usize + 1) * 4;
        if packet_len > buf.len() {
            return Err(RtcpError::Truncated {
                needed: packet_len,
                available: buf.len(),
            });
        }
        Ok(Header {
            padding: head[0] & 0x20 != 0,
            count: head[0] & 0x1F,
            packet_type: head[1],
            packet_len,
        })
    }
}

pub(crate) fn malformed(packet: &'static str, reason: &'static str) -> RtcpError {
    RtcpError::Malformed { packet, reason }
}

/// What every packet body does to be written.
pub(crate) trait Body {
    /// The header's packet type and count/format.
    fn type_and_count(&self) -> (u8, usize);
    /// Length of the body, a multiple of 4.
    fn body_len(&self) -> usize;
    /// Writes the body into `out`, exactly `body_len` bytes.
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError>;
}

/// Zero bytes that pad a body to a multiple of 4.
pub(crate) fn pad4(len: usize) -> usize {
    (4 - len % 4) % 4
}

impl<'a> RtcpPacket<'a> {
    /// Parses the packet at the front of `buf`; returns it and the bytes it took.
    pub fn parse(buf: &'a [u8]) -> Result<(RtcpPacket<'a>, usize), RtcpError> {
        let header = Header::parse(buf)?;
        let mut body = &buf[HEADER_LEN..header.packet_len];
        if header.padding {
            let padding = body.last().copied().unwrap_or(0) as usize;
            if padding == 0 || padding > body.len() {
                return Err(RtcpError::BadPadding(padding));
            }
            body = &body[..body.len() - padding];
        }
        let count = header.count;
        use packet_type::*;
        let packet = match (header.packet_type, count) {
            (SR, _) => RtcpPacket::SenderReport(SenderReport::parse(count, body)?),
            (RR, _) => RtcpPacket::ReceiverReport(ReceiverReport::parse(count, body)?),
            (SDES, _) => RtcpPacket::SourceDescription(SourceDescription::parse(count, body)?),
            (BYE, _) => RtcpPacket::Goodbye(Goodbye::parse(count, body)?),
            (APP, _) => RtcpPacket::App(App::parse(count, body)?),
            (RTPFB, 1) => RtcpPacket::Nack(Nack::parse(body)?),
            (RTPFB, 3) => RtcpPacket::Tmmbr(Tmmb::parse(body)?),
            (RTPFB, 4) => RtcpPacket::Tmmbn(Tmmb::parse(body)?),
            (RTPFB, 15) => RtcpPacket::TransportCc(TransportCc::parse(body)?),
            (PSFB, 1) => RtcpPacket::Pli(Pli::parse(body)?),
            (PSFB, 2) => RtcpPacket::Sli(Sli::parse(body)?),
            (PSFB, 3) => RtcpPacket::Rpsi(Rpsi::parse(body)?),
            (PSFB, 4) => RtcpPacket::Fir(Fir::parse(body)?),
            (PSFB, 15) if Remb::matches(body) => RtcpPacket::Remb(Remb::parse(body)?),
            (XR, _) => RtcpPacket::ExtendedReport(ExtendedReport::parse(body)?),
            (packet_type, count) => RtcpPacket::Unknown(RawPacket {
                packet_type,
                count,
                body,
            }),
        };
        Ok((packet, header.packet_len))
    }

    fn with_body<R>(&self, f: impl FnOnce(&dyn Body) -> R) -> R {
        let tmmb;
        let body: &dyn Body = match self {
            RtcpPacket::SenderReport(p) => p,
            RtcpPacket::ReceiverReport(p) => p,
            RtcpPacket::SourceDescription(p) => p,
            RtcpPacket::Goodbye(p) => p,
            RtcpPacket::App(p) => p,
            RtcpPacket::Nack(p) => p,
            RtcpPacket::Tmmbr(p) => {
                tmmb = TmmbAs(p, 3);
                &tmmb
            }
            RtcpPacket::Tmmbn(p) => {
                tmmb = TmmbAs(p, 4);
                &tmmb
            }
            RtcpPacket::TransportCc(p) => p,
            RtcpPacket::Pli(p) => p,
            RtcpPacket::Sli(p) => p,
            RtcpPacket::Rpsi(p) => p,
            RtcpPacket::Fir(p) => p,
            RtcpPacket::Remb(p) => p,
            RtcpPacket::ExtendedReport(p) => p,
            RtcpPacket::Unknown(p) => p,
        };
        f(body)
    }

    /// Bytes the packet takes when written (header included, no padding).
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.with_body(|b| b.body_len())
    }

    /// Writes the packet into the front of `out`, returning its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtcpError> {
        self.with_body(|body| write_packet(body, out))
    }
}

fn write_packet(body: &dyn Body, out: &mut [u8]) -> Result<usize, RtcpError> {
    let len = HEADER_LEN + body.body_len();
    if out.len() < len {
        return Err(RtcpError::BufferTooSmall {
            needed: len,
            available: out.len(),
        });
    }
    if len % 4 != 0 {
        return Err(RtcpError::FieldOverflow(
            "packet body not a multiple of 4 bytes",
        ));
    }
    let words = len / 4 - 1;
    if words > u16::MAX as usize {
        return Err(RtcpError::FieldOverflow("packet longer than 256 KiB"));
    }
    let (packet_type, count) = body.type_and_count();
    if count > 31 {
        return Err(RtcpError::FieldOverflow("count above 31"));
    }
    out[0] = 0x80 | count as u8;
    out[1] = packet_type;
    out[2..4].copy_from_slice(&(words as u16).to_be_bytes());
    body.write_body(&mut out[HEADER_LEN..len])?;
    Ok(len)
}

impl<'a> RtcpPacket<'a> {
    /// Appends the packet to `out`.
    pub fn write_vec(&self, out: &mut Vec<u8>) -> Result<usize, RtcpError> {
        crate::append_with(out, self.encoded_len(), |buf| self.write(buf))
    }
}

/// TMMBR and TMMBN share a body; this pairs it with its format number.
struct TmmbAs<'p, 'a>(&'p Tmmb<'a>, usize);

impl Body for TmmbAs<'_, '_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::RTPFB, self.1)
    }
    fn body_len(&self) -> usize {
        self.0.body_len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        self.0.write_body(out)
    }
}

impl Body for RawPacket<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (self.packet_type, self.count as usize)
    }
    fn body_len(&self) -> usize {
        self.body.len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        out.copy_from_slice(self.body);
        Ok(())
    }
}

/// Iterator over the packets of a compound (or reduced-size) RTCP packet. Yields an error and
/// stops at the first malformed packet.
#[derive(Debug, Clone)]
pub struct CompoundIter<'a> {
    rest: &'a [u8],
}

impl<'a> CompoundIter<'a> {
    /// Iterates the packets in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        CompoundIter { rest: buf }
    }
}

impl<'a> Iterator for CompoundIter<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match RtcpPacket::parse(self.rest) {
            Ok((packet, len)) => {
                self.rest = &self.rest[len..];
                Some(Ok(packet))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Checks the RFC 3550 rules for a full compound packet: every packet parses, the first is an SR
/// or RR, and only the last may be padded. Reduced-size RTCP (RFC 5506) relaxes the first rule; a
/// receiver that negotiated `a=rtcp-rsize` uses [`CompoundIter`] alone.
pub fn validate_compound(buf: &[u8]) -> Result<(), RtcpError> {
    let mut rest = buf;
    let mut first = true;
    while !rest.is_empty() {
        let header = Header::parse(rest)?;
        if first && !matches!(header.packet_type, packet_type::SR | packet_type::RR) {
            return Err(malformed("compound", "first packet is not SR or RR"));
        }
        if header.padding && header.packet_len != rest.len() {
            return Err(malformed(
                "compound",
                "padding on a packet that is not the last",
            ));
        }
        RtcpPacket::parse(rest)?;
        rest = &rest[header.packet_len..];
        first = false;
    }
    if first {
        return Err(RtcpError::Truncated {
            needed: HEADER_LEN,
            available: 0,
        });
    }
    Ok(())
}

/// Bytes `packets` take when written as one compound packet.
pub fn compound_len(packets: &[RtcpPacket<'_>]) -> usize {
    packets.iter().map(RtcpPacket::encoded_len).sum()
}

/// Writes `packets` one after the other into `out`, returning the total length.
pub fn write_compound(packets: &[RtcpPacket<'_>], out: &mut [u8]) -> Result<usize, RtcpError> {
    let needed = compound_len(packets);
    if out.len() < needed {
        return Err(RtcpError::BufferTooSmall {
            needed,
            available: out.len(),
        });
    }
    packets
        .iter()
        .try_fold(0, |at, p| Ok(at + p.write(&mut out[at..])?))
}
