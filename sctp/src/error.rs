//! Typed errors for SCTP packet parsing and the association API.

use thiserror::Error;

/// Why an SCTP packet, chunk or parameter could not be parsed or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer ends before the part being read.
    #[error("truncated SCTP {what}: {needed} bytes needed, {available} available")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The CRC32c in the common header does not match the packet.
    #[error("bad SCTP checksum: packet says {received:#010x}, computed {computed:#010x}")]
    BadChecksum {
        /// The checksum field.
        received: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
    /// A chunk's length field is shorter than its fixed part.
    #[error("SCTP chunk type {chunk_type} has length {length}, below its minimum {minimum}")]
    ChunkTooShort {
        /// The chunk type.
        chunk_type: u8,
        /// The length field.
        length: usize,
        /// The minimum for this type.
        minimum: usize,
    },
    /// A parameter or error cause has a length field below 4.
    #[error("SCTP parameter type {param_type} has invalid length {length}")]
    BadParamLength {
        /// The parameter type.
        param_type: u16,
        /// The length field.
        length: usize,
    },
    /// The body does not match what its fields announce (e.g. a SACK's block counts).
    #[error("malformed SCTP {0}")]
    Malformed(&'static str),
    /// The output buffer is too small.
    #[error("output buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

/// Why an association or data-channel API call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SendError {
    /// The association is not established (or is shutting down).
    #[error("association is not established")]
    NotEstablished,
    /// The message is larger than the peer's (or our) maximum message size.
    #[error("message of {size} bytes exceeds the maximum message size {max}")]
    TooLarge {
        /// The message size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The stream (or channel) does not exist, is closing or is closed.
    #[error("stream or channel {0} is not open")]
    NotOpen(u16),
    /// No stream id is free.
    #[error("no free stream id")]
    NoFreeStream,
    /// The stream id is already in use.
    #[error("stream id {0} is already in use")]
    StreamInUse(u16),
    /// Queued plus unacknowledged data would exceed the association's
    /// [`Config::max_buffered_amount`](crate::Config::max_buffered_amount) (as a browser's
    /// `send` throws when `bufferedAmount` would pass its limit). Nothing was queued; retry
    /// once acknowledgements have freed room.
    #[error("send buffer full: {buffered} bytes buffered, limit {limit}")]
    BufferFull {
        /// Bytes charged now: queued and unacknowledged message data plus a fixed
        /// bookkeeping charge per message
        /// ([`SEND_MESSAGE_OVERHEAD`](crate::association::SEND_MESSAGE_OVERHEAD)).
        buffered: usize,
        /// The limit.
        limit: usize,
    },
    /// A channel id of the other DTLS role's parity (RFC 8832 6: even ids are the DTLS
    /// client's, odd ones the server's).
    #[error("stream id {0} belongs to the other DTLS role")]
    WrongParity(u16),
}
