//! Injected randomness: the one definition in `sansrtc-core`, re-exported under the names this
//! crate has always used.
//!
//! The endpoint draws its randoms, cookie secret and X25519 key shares from the [`Rng`] it is
//! given; see [`crate::KeyRandomness`] for the ECDSA nonces and the P-256/P-384 key shares.

pub use sansrtc_core::rng::{CloneRng, Rng, SeededRng, SystemRng};

/// The seedable, deterministic generator for tests and simulations (SplitMix64): `sansrtc-core`'s
/// [`SeededRng`] under the name this crate gave it. Not for production.
pub use sansrtc_core::rng::SeededRng as TestRng;

/// An [`Rng`] as a `rand_core` 0.6 generator, for the RustCrypto primitives that take one.
pub(crate) struct RandCore<'a>(pub(crate) &'a mut dyn Rng);

impl p256::elliptic_curve::rand_core::RngCore for RandCore<'_> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest)
    }

    fn try_fill_bytes(
        &mut self,
        dest: &mut [u8],
    ) -> Result<(), p256::elliptic_curve::rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

/// The injected generators are cryptographic in production ([`SystemRng`]); a seeded one is
/// for tests only.
impl p256::elliptic_curve::rand_core::CryptoRng for RandCore<'_> {}
