//! SRTP and SRTCP protection for every WebRTC profile: `AES128_CM_HMAC_SHA1_80`,
//! `AES128_CM_HMAC_SHA1_32` (RFC 3711, RFC 5764) and `AEAD_AES_128_GCM`, `AEAD_AES_256_GCM`
//! (RFC 7714).
//!
//! A [`Context`] holds the session keys derived from one master key and salt (one direction of a
//! DTLS-SRTP association) and the per-SSRC state: rollover counters, SRTCP indices and replay
//! windows. [`Context::from_dtls_keying_material`] splits the DTLS exporter output into the
//! outbound and inbound contexts.
//!
//! The media path allocates nothing:
//!
//! - in place: [`Context::protect_rtp`] appends the tag into the packet's own buffer (reserve
//!   [`Context::rtp_overhead`] bytes of tailroom), [`Context::unprotect_rtp`] decrypts in place
//!   and returns the plaintext length; [`Context::protect_rtp_in`] and
//!   [`Context::unprotect_rtp_in`] do the same on a `&mut [u8]` (and the `rtcp` methods for
//!   SRTCP);
//! - from a borrowed packet into a reused buffer: [`Context::protect_rtp_into`],
//!   [`Context::unprotect_rtp_into`], [`Context::protect_rtcp_into`],
//!   [`Context::unprotect_rtcp_into`] (for a received datagram the caller may not change).
//!
//! The `_to_vec` methods allocate a new buffer per packet, for convenience. Every failure is a
//! typed [`Error`], counted in [`Stats`], and leaves the context's state unchanged.
//!
//! The profile ([`Profile`], an alias of [`sansrtc_core::SrtpProfile`]), the DTLS role
//! ([`Role`], an alias of [`sansrtc_core::DtlsRole`]) and the replay window
//! ([`sansrtc_core::ReplayWindow`]) are the ones every sansrtc crate shares.
//!
//! Cryptography: AES-GCM from the crypto provider of [`Config::crypto`] (ring by default;
//! aws-lc-rs, faster on CPUs with VAES, with this crate's `aws-lc-rs` feature, chosen per
//! context or installed as the process default);
//! AES-CTR from RustCrypto `aes` + `ctr` and HMAC-SHA1 from RustCrypto `hmac` + `sha1` (it uses
//! the CPU's SHA extensions; both providers were measured slower for these). Key schedules and
//! HMAC states are computed once per key.
//!
//! ```
//! use sansrtc_srtp::{Config, Context, Profile, ProfileExt, Role};
//!
//! // 56 bytes from the DTLS exporter (`EXTRACTOR-dtls_srtp`) for AEAD_AES_128_GCM.
//! let material = [7u8; 56];
//! let profile = Profile::AeadAes128Gcm;
//! let mut client = Context::from_dtls_keying_material(profile, &material, Role::Client, Config::default())?;
//! let mut server = Context::from_dtls_keying_material(profile, &material, Role::Server, Config::default())?;
//!
//! let rtp = [0x80, 96, 0, 1, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 1, 2, 3];
//! let mut packet = Vec::with_capacity(rtp.len() + profile.rtp_overhead());
//! packet.extend_from_slice(&rtp);
//! client.outbound.protect_rtp(&mut packet)?; // in place, no allocation
//! let len = server.inbound.unprotect_rtp(&mut packet)?;
//! assert_eq!(&packet[..len], &rtp);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod buffer;
mod cipher;
mod context;
mod error;
mod kdf;
mod profile;
mod roc;

pub use buffer::PacketBuffer;
pub use context::{Config, Context, SessionContexts, Stats};
pub use error::{Error, KeyError};
pub use profile::{Profile, ProfileExt};
pub use sansrtc_core::DtlsRole;
/// The DTLS role, which picks the half of the keying material each side protects with: the
/// shared [`sansrtc_core::DtlsRole`] under its former name here.
pub use sansrtc_core::DtlsRole as Role;
