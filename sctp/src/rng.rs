//! Injected randomness: verification tags, initial TSNs and the cookie key come from an [`Rng`].
//!
//! The generators are the ones every sansrtc crate shares, from [`sansrtc_core`]: tests use
//! [`SeededRng`], production [`SystemRng`]; any `Rng` the application brings works too.

pub use sansrtc_core::{CloneRng, Rng, SeededRng, SystemRng};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_deterministic() {
        let mut a = SeededRng::new(7);
        let mut b = SeededRng::new(7);
        let (mut x, mut y) = ([0u8; 13], [0u8; 13]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        assert_ne!(SeededRng::new(8).next_u32(), SeededRng::new(7).next_u32());
    }
}
