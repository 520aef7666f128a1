//! DTLS 1.3 (RFC 9147) building blocks, used by the [`Endpoint`](crate::Endpoint) when
//! [`Config::versions`](crate::Config::versions) offers 1.3:
//! the TLS 1.3 key schedule with the DTLS label prefix ([`key_schedule`]), the DTLS 1.3 record
//! layer with its unified header, record number encryption, epochs and replay window
//! ([`record`]), the ACK message ([`ack`]), and the X25519 and X25519MLKEM768 key shares
//! ([`kx`]).
//!
//! The handshake state machine over them is the endpoint's (`endpoint/tls13`).

pub mod ack;
pub mod flight;
pub mod key_schedule;
pub mod kx;
pub mod message;
pub mod record;

/// DTLS 1.3 in `supported_versions` (RFC 9147 5.3).
pub const DTLS_1_3: u16 = 0xFEFC;
