//! SCTP over DTLS and WebRTC data channels, sans-IO (RFC 9260, RFC 8261, RFC 8831, RFC 8832).
//!
//! - [`packet`], [`chunk`], [`param`]: total, zero-copy parsers and writers for SCTP packets,
//!   chunks, parameters and error causes.
//! - [`association`]: the SCTP association state machine.
//! - [`datachannel`], [`dcep`]: WebRTC data channels on top of it.

pub mod association;
pub mod chunk;
mod cookie;
pub mod datachannel;
pub mod dcep;
pub mod error;
pub mod packet;
pub mod param;
pub mod receiver;
pub mod rng;

pub use association::{Association, CloseReason, Config, Event, Reliability, SendOptions, State};
pub use chunk::Chunk;
pub use datachannel::{
    ChannelConfig, DataChannelEndpoint, DataChannelEvent, DtlsRole, EndpointConfig,
};
pub use error::{ParseError, SendError};
pub use packet::SctpPacket;
pub use receiver::ReceivedMessage;
pub use rng::{Rng, SeededRng, SystemRng};
