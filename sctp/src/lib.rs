//! SCTP over DTLS and WebRTC data channels, sans-IO (RFC 9260, RFC 8261, RFC 8831, RFC 8832).
//!
//! - [`packet`], [`chunk`], [`param`]: total, zero-copy parsers and writers for SCTP packets,
//!   chunks, parameters and error causes.

pub mod chunk;
pub mod error;
pub mod packet;
pub mod param;

pub use chunk::Chunk;
pub use error::{ParseError, SendError};
pub use packet::SctpPacket;
