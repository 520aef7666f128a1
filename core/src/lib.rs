//! The primitives every sansrtc crate shares, defined once: injected randomness ([`Rng`],
//! [`SystemRng`], [`SeededRng`]), ICE candidates and their SDP form ([`Candidate`], parsed
//! once for signalling and ICE), the DTLS role ([`DtlsRole`]), the SRTP protection profiles
//! ([`SrtpProfile`]), the crypto provider ([`crypto::CryptoProvider`]: ring or aws-lc-rs),
//! a sliding replay window ([`ReplayWindow`]) and a small ordered map for
//! per-connection tables ([`VecMap`]).
//!
//! ```
//! use sansrtc_core::{Rng, SeededRng};
//!
//! let (mut a, mut b) = (SeededRng::new(7), SeededRng::new(7));
//! assert_eq!(a.next_u64(), b.next_u64());
//! ```

#![forbid(unsafe_code)]

pub mod candidate;
pub mod crypto;
pub mod rng;
pub mod role;
pub mod srtp_profile;
pub mod vec_map;
pub mod window;

pub use candidate::{Candidate, CandidateAddress, CandidateError, CandidateKind};
pub use rng::{CloneRng, Rng, SeededRng, SystemRng};
pub use role::DtlsRole;
pub use srtp_profile::SrtpProfile;
pub use vec_map::VecMap;
pub use window::{ReplayWindow, WindowCheck};
