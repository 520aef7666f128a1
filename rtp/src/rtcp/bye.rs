//! BYE packets (RFC 3550 6.6).

use super::list::List;
use super::{Body, malformed, packet_type, pad4};
use crate::error::RtcpError;

/// Sources leaving the session, with an optional reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Goodbye<'a> {
    /// The SSRCs/CSRCs that leave (at most 31).
    pub sources: List<'a, u32>,
    /// Why they leave (at most 255 bytes, UTF-8 by convention).
    pub reason: Option<&'a [u8]>,
}

impl<'a> Goodbye<'a> {
    pub(crate) fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtcpError> {
        let (sources, rest) = List::parse_counted(body, count as usize)
            .ok_or(malformed("BYE", "sources exceed the packet"))?;
        let reason = match rest.split_first() {
            None => None,
            Some((&len, text)) => {
                let text = text
                    .get(..len as usize)
                    .ok_or(malformed("BYE", "reason exceeds the packet"))?;
                Some(text)
            }
        };
        Ok(Goodbye { sources, reason })
    }
}

impl Body for Goodbye<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::BYE, self.sources.len())
    }
    fn body_len(&self) -> usize {
        let reason = self.reason.map_or(0, |r| 1 + r.len());
        self.sources.encoded_len() + reason + pad4(reason)
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        let at = self.sources.encode(out);
        if let Some(reason) = self.reason {
            if reason.len() > 255 {
                return Err(RtcpError::FieldOverflow("BYE reason over 255 bytes"));
            }
            out[at] = reason.len() as u8;
            out[at + 1..at + 1 + reason.len()].copy_from_slice(reason);
            out[at + 1 + reason.len()..].fill(0);
        }
        Ok(())
    }
}
