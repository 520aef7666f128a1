//! SCTP over DTLS and WebRTC data channels, sans-IO (RFC 9260, RFC 8261, RFC 8831, RFC 8832).
//!
//! - [`packet`], [`chunk`], [`param`]: total, zero-copy parsers and writers for SCTP packets,
//!   chunks, parameters and error causes.
//! - [`association`]: the SCTP association state machine.
//! - [`datachannel`], [`dcep`]: WebRTC data channels on top of it.
//!
//! Two endpoints joined in memory (in a real stack each packet goes through DTLS):
//!
//! ```
//! use std::time::Instant;
//! use sansrtc_sctp::{
//!     ChannelConfig, DataChannelEndpoint, DataChannelEvent, DtlsRole, EndpointConfig, SeededRng,
//! };
//!
//! let now = Instant::now();
//! let mut rng = SeededRng::new(1);
//! let mut a = DataChannelEndpoint::new(EndpointConfig::new(DtlsRole::Client), now, &mut rng);
//! let mut b = DataChannelEndpoint::new(EndpointConfig::new(DtlsRole::Server), now, &mut rng);
//! a.connect(now);
//! b.connect(now);
//! let chat = a.open_channel(now, ChannelConfig::reliable("chat")).unwrap();
//! a.send(now, chat, b"hello".to_vec(), false).unwrap();
//! let mut got = None;
//! for _ in 0..10 {
//!     while let Some(p) = a.poll_transmit(now) {
//!         b.handle_receive(now, &p);
//!     }
//!     while let Some(p) = b.poll_transmit(now) {
//!         a.handle_receive(now, &p);
//!     }
//!     while let Some(e) = b.poll_event() {
//!         if let DataChannelEvent::Message { channel, data, binary } = e {
//!             got = Some((channel, data, binary));
//!         }
//!     }
//! }
//! assert_eq!(got, Some((chat, b"hello".to_vec(), false)));
//! ```

pub mod association;
pub mod chunk;
mod cookie;
pub mod datachannel;
pub mod dcep;
pub mod error;
pub mod packet;
pub mod param;
mod pool;
mod ranges;
pub mod receiver;
pub mod rng;

pub use association::{Association, CloseReason, Config, Event, Reliability, SendOptions, State};
pub use chunk::Chunk;
pub use datachannel::{
    ChannelConfig, DataChannelEndpoint, DataChannelEvent, DtlsRole, EndpointConfig, EndpointStats,
};
pub use error::{ParseError, SendError};
pub use packet::SctpPacket;
pub use receiver::ReceivedMessage;
pub use rng::{CloneRng, Rng, SeededRng, SystemRng};

#[cfg(test)]
mod tests {
    fn assert_send<T: Send>() {}

    fn assert_clone<T: Clone>() {}

    #[test]
    fn machines_are_send_and_clone() {
        assert_send::<crate::Association>();
        assert_send::<crate::DataChannelEndpoint>();
        assert_clone::<crate::Association>();
        assert_clone::<crate::DataChannelEndpoint>();
    }
}
