//! DTLS 1.2 (RFC 6347) client and server for WebRTC, sans-IO, on `ring` primitives: ECDHE with
//! AES-GCM or ChaCha20-Poly1305, mutual authentication with self-signed certificates checked
//! against SDP fingerprints, the use_srtp extension (RFC 5764) and the DTLS-SRTP exporter
//! (RFC 5705), extended master secret (RFC 7627), cookies, fragmentation and retransmission.
//!
//! The [`Endpoint`] state machine takes datagrams and time in and gives datagrams, events and its
//! next deadline out; it never does I/O.
//!
//! DTLS 1.3 (RFC 9147) is offered and accepted by default, with 1.2 as the fallback
//! ([`Config::versions`], [`endpoint::Versions`]; `Versions::Dtls12` pins 1.2), on the building
//! blocks in [`v13`] (key schedule, record layer, ACKs, X25519MLKEM768 key shares, handshake
//! messages).

pub mod cert;
pub mod cipher;
pub mod codec;
pub mod endpoint;
pub mod error;
pub mod fragment;
mod kx;
pub mod message;
pub mod negotiated;
pub mod record;
pub mod rng;
pub mod v13;

pub use cert::{Certificate, Fingerprint, HashAlgorithm};
pub use cipher::{CipherSuite, SrtpProfile};
pub use endpoint::{Config, Endpoint, Event, Role};
pub use error::{Alert, AlertDescription, DtlsError};
pub use kx::KeyRandomness;
pub use negotiated::{NamedGroup, ProtocolVersion, Suite};
pub use rng::{Rng, SeededRng, SystemRng, TestRng};
pub use sansrtc_core::DtlsRole;
/// The crypto providers ([`Config::crypto`]): ring, and aws-lc-rs with its feature.
pub use sansrtc_core::crypto;
pub use v13::key_schedule::Suite13;
