//! APP packets (RFC 3550 6.7).

use super::list::take_u32;
use super::{Body, malformed, packet_type};
use crate::error::RtcpError;

/// An application-defined packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct App<'a> {
    /// The 5-bit subtype.
    pub subtype: u8,
    /// The sender's SSRC.
    pub ssrc: u32,
    /// Four ASCII characters naming the application.
    pub name: [u8; 4],
    /// Application data (a multiple of 4 bytes to write).
    pub data: &'a [u8],
}

impl<'a> App<'a> {
    pub(crate) fn parse(count: u8, body: &'a [u8]) -> Result<Self, RtcpError> {
        let mut rest = body;
        let (Some(ssrc), Some(name)) = (take_u32(&mut rest), take_u32(&mut rest)) else {
            return Err(malformed("APP", "shorter than SSRC and name"));
        };
        Ok(App {
            subtype: count,
            ssrc,
            name: name.to_be_bytes(),
            data: rest,
        })
    }
}

impl Body for App<'_> {
    fn type_and_count(&self) -> (u8, usize) {
        (packet_type::APP, self.subtype as usize)
    }
    fn body_len(&self) -> usize {
        8 + self.data.len()
    }
    fn write_body(&self, out: &mut [u8]) -> Result<(), RtcpError> {
        out[0..4].copy_from_slice(&self.ssrc.to_be_bytes());
        out[4..8].copy_from_slice(&self.name);
        out[8..].copy_from_slice(self.data);
        Ok(())
    }
}
