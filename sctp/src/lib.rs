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
//!
//! # Without allocating
//!
//! The loop above allocates per packet and per message: `poll_transmit` returns a new `Vec`,
//! `send` takes one the caller allocated, and every message arrives in a new `Vec`. A warm
//! endpoint needs none of that:
//!
//! - [`DataChannelEndpoint::poll_transmit_into`] writes the next packet into a buffer the caller
//!   reuses;
//! - [`DataChannelEndpoint::send_from_slice`] copies the message into a buffer of the
//!   association's pool (buffers of acknowledged messages go back to it);
//! - a delivered [`DataChannelEvent::Message`] carries its data in a pooled buffer: hand it back
//!   with [`DataChannelEndpoint::recycle`] once done with it, and the next message reuses it.
//!
//! Nothing can go wrong by forgetting `recycle`: the event owns its data either way, and the
//! next message then allocates, as with the plain API. Any `Vec` may be recycled. The pool
//! keeps at most [`Config::max_pooled_bytes`] (4 MiB by default), so the messages in flight
//! must fit it for no allocation at all (`benches/benches/sctp_alloc.rs` counts: none per
//! message, 100-byte and 16 KiB messages).
//!
//! ```
//! # use std::time::Instant;
//! # use sansrtc_sctp::{
//! #     ChannelConfig, DataChannelEndpoint, DataChannelEvent, DtlsRole, EndpointConfig, SeededRng,
//! # };
//! # let now = Instant::now();
//! # let mut rng = SeededRng::new(1);
//! # let mut a = DataChannelEndpoint::new(EndpointConfig::new(DtlsRole::Client), now, &mut rng);
//! # let mut b = DataChannelEndpoint::new(EndpointConfig::new(DtlsRole::Server), now, &mut rng);
//! # a.connect(now);
//! # b.connect(now);
//! # let chat = a.open_channel(now, ChannelConfig::reliable("chat")).unwrap();
//! let mut packet = Vec::with_capacity(1500);
//! let mut received = 0;
//! for round in 0..20 {
//!     if round >= 10 {
//!         a.send_from_slice(now, chat, b"hello", false).unwrap();
//!     }
//!     while a.poll_transmit_into(now, &mut packet) {
//!         b.handle_receive(now, &packet);
//!     }
//!     while b.poll_transmit_into(now, &mut packet) {
//!         a.handle_receive(now, &packet);
//!     }
//!     while let Some(e) = b.poll_event() {
//!         if let DataChannelEvent::Message { data, .. } = e {
//!             assert_eq!(data, b"hello");
//!             received += 1;
//!             b.recycle(data);
//!         }
//!     }
//! }
//! assert_eq!(received, 10);
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
