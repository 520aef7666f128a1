//! Typed errors for RTP and RTCP parsing and writing.

use thiserror::Error;

/// Why an RTP packet could not be parsed or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// The buffer ends before the part being read.
    #[error("truncated RTP packet: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the packet claims or needs up to this point.
        needed: usize,
        /// Bytes actually present.
        available: usize,
    },
    /// The version field is not 2.
    #[error("unsupported RTP version {0}")]
    BadVersion(u8),
    /// The padding flag is set but the padding length is zero or exceeds the packet.
    #[error("invalid RTP padding length {padding} for {available} bytes after the header")]
    BadPadding {
        /// The padding count from the last byte.
        padding: usize,
        /// Bytes after the header (payload and padding).
        available: usize,
    },
    /// A header extension element is malformed (RFC 8285).
    #[error("malformed RTP header extension: {0}")]
    BadExtension(&'static str),
    /// The output buffer is too small for the packet being written.
    #[error("output buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A value does not fit its field (e.g. more than 15 CSRCs, payload type above 127).
    #[error("value does not fit its field: {0}")]
    FieldOverflow(&'static str),
}

/// Why an RTCP packet could not be parsed or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// The buffer ends before the part being read.
    #[error("truncated RTCP packet: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the packet claims or needs up to this point.
        needed: usize,
        /// Bytes actually present.
        available: usize,
    },
    /// The version field is not 2.
    #[error("unsupported RTCP version {0}")]
    BadVersion(u8),
    /// The padding flag is set but the padding length is zero or exceeds the packet.
    #[error("invalid RTCP padding length {0}")]
    BadPadding(usize),
    /// The packet's body does not match what its type and count fields announce.
    #[error("malformed RTCP {packet}: {reason}")]
    Malformed {
        /// Which packet type was being parsed.
        packet: &'static str,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The output buffer is too small for the packet being written.
    #[error("output buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A value does not fit its field (e.g. more than 31 report blocks, a packet over 256 KiB).
    #[error("value does not fit its field: {0}")]
    FieldOverflow(&'static str),
}
