//! SRTP and SRTCP protection for every WebRTC profile: `AES128_CM_HMAC_SHA1_80`,
//! `AES128_CM_HMAC_SHA1_32` (RFC 3711, RFC 5764) and `AEAD_AES_128_GCM`, `AEAD_AES_256_GCM`
//! (RFC 7714).
//!
//! A [`Context`] holds the session keys derived from one master key and salt (one direction of a
//! DTLS-SRTP association) and the per-SSRC state: rollover counters, SRTCP indices and replay
//! windows. [`Context::from_dtls_keying_material`] splits the DTLS exporter output into the
//! outbound and inbound contexts.
//!
//! The media path works in place and allocates nothing: [`Context::protect_rtp`] appends the tag
//! into the packet's own buffer (reserve [`Profile::rtp_overhead`] bytes of tailroom), and
//! [`Context::unprotect_rtp`] decrypts in place and returns the plaintext length. Every failure is a
//! typed [`Error`], counted in [`Stats`], and leaves the context's state unchanged.
//!
//! Cryptography: AES-GCM and HMAC-SHA1 from `ring`, AES-CTR from RustCrypto `aes` + `ctr`; key
//! schedules and HMAC states are computed once per key.

mod buffer;
mod cipher;
mod context;
mod error;
mod kdf;
mod profile;
mod replay;
mod roc;

pub use buffer::PacketBuffer;
pub use context::{Config, Context, Role, SessionContexts, Stats};
pub use error::{Error, KeyError};
pub use profile::Profile;
