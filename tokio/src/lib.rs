//! # sansrtc-tokio
//!
//! [sansrtc]'s peer connections driven on [tokio], as quinn drives quinn-proto: the
//! protocol stack stays sans-IO and runtime-free; this crate owns the sockets, the clock and
//! the task.
//!
//! - An [`Endpoint`] is one UDP socket and one task serving any number of peer connections:
//!   each datagram goes to its connection through [`sansrtc::Router`], one timer (the earliest
//!   deadline of all connections) fires their `handle_timeout`, and what they send goes out on
//!   the socket.
//! - [`Endpoint::add`] hands it a configured [`sansrtc::PeerConnection`] and returns a
//!   [`Connection`]: async signalling calls ([`Connection::create_offer`], ... or any call
//!   through [`Connection::with`]), its state as a [`tokio::sync::watch`] channel, data
//!   channels ([`DataChannel`]: async `send` / `recv`), tracks ([`Connection::accept_track`]
//!   gives an [`RtpReceiver`], a stream of RTP packets, per track the peer sends on;
//!   [`RtpWriter`] sends) and the other events ([`Connection::next_event`]).
//! - Every queue is bounded ([`EndpointConfig`]): calls wait for room (backpressure); data
//!   channel messages for a reader who does not keep up are never lost: the endpoint holds
//!   the peer back (its SCTP sends again what was not acknowledged,
//!   [`EndpointConfig::message_capacity`]); RTP and events for such a reader are dropped and
//!   counted ([`EndpointStats`]). One slow reader neither grows memory nor stalls the socket.
//! - Dropping the [`Endpoint`] (or [`Endpoint::shutdown`]) closes every connection and ends
//!   the task; every handle then sees the end.
//!
//! Cancel safety is documented on each handle: the receiving methods (`recv`,
//! `accept_channel`, `accept_track`, `next_event`) and the waiting ones (`connected`, `opened`, `closed`) are
//! cancel safe; the calls that change a connection are not (cancelled, they may have run).
//!
//! ## Example
//!
//! A server answering an offer and echoing every message of the channels its peer opens:
//!
//! ```no_run
//! use sansrtc::{Config, PeerConnection, SdpType};
//! use sansrtc_tokio::Endpoint;
//!
//! # async fn signal(_answer: &str) {}
//! # async fn run(offer: String) -> Result<(), Box<dyn std::error::Error>> {
//! let endpoint = Endpoint::bind("127.0.0.1:0").await?;
//! let conn = endpoint.add(PeerConnection::new(Config::default())?).await?;
//! conn.set_remote_description(SdpType::Offer, &offer).await?;
//! let answer = conn.create_answer().await?;
//! signal(&answer).await; // your signalling: WHIP, a WebSocket, ...
//!
//! conn.connected().await?;
//! while let Some(mut channel) = conn.accept_channel().await {
//!     tokio::spawn(async move {
//!         while let Some(message) = channel.recv().await {
//!             if channel.send_message(&message.data, message.kind).await.is_err() {
//!                 break;
//!             }
//!         }
//!     });
//! }
//! endpoint.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The socket's address must be concrete (it is the connections' host candidate): bind
//! `127.0.0.1:0` or the server's address, not `0.0.0.0`.

#![forbid(unsafe_code)]

mod channel;
mod connection;
mod endpoint;
mod error;
mod media;
mod tcp;

pub use channel::{DataChannel, Message};
pub use connection::Connection;
pub use endpoint::{Endpoint, EndpointConfig, EndpointStats, MAX_TCP_STREAMS};
pub use error::Error;
pub use media::{RtpReceiver, RtpWriter};
