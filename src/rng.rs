//! One random source for every layer: the operating system's (through `ring`) by default, or a
//! seeded generator for deterministic tests and simulations.

use ring::rand::SecureRandom;

/// Randomness shared by the ICE agent, DTLS, SCTP and JSEP of one peer connection.
#[derive(Debug, Clone)]
pub enum PcRng {
    /// The operating system's cryptographic randomness.
    System,
    /// SplitMix64 from a seed: deterministic, for tests only (not for production secrets).
    Seeded(u64),
}

impl PcRng {
    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        match self {
            PcRng::System => {
                // ring's system RNG only fails when the OS has no randomness at all.
                ring::rand::SystemRandom::new()
                    .fill(out)
                    .expect("the operating system provides randomness");
            }
            PcRng::Seeded(state) => {
                // sansrtc-core's SplitMix64, continued from the state kept here.
                let mut r = sansrtc_core::SeededRng::new(*state);
                sansrtc_core::Rng::fill(&mut r, out);
                *state = r.state();
            }
        }
    }

    /// An independent generator derived from this one (a new seed for seeded generators).
    pub fn fork(&mut self) -> PcRng {
        match self {
            PcRng::System => PcRng::System,
            PcRng::Seeded(_) => {
                let mut b = [0u8; 8];
                self.fill(&mut b);
                PcRng::Seeded(u64::from_le_bytes(b))
            }
        }
    }
}

// Every crate's `Rng` is `sansrtc-core`'s trait: this one impl serves ICE, TURN, DTLS and SCTP.
impl sansrtc_core::Rng for PcRng {
    fn fill(&mut self, out: &mut [u8]) {
        PcRng::fill(self, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_deterministic_and_forks_differ() {
        let (mut a, mut b) = (PcRng::Seeded(7), PcRng::Seeded(7));
        let (mut x, mut y) = ([0u8; 13], [0u8; 13]);
        a.fill(&mut x);
        b.fill(&mut y);
        assert_eq!(x, y);
        let mut f = a.fork();
        f.fill(&mut y);
        assert_ne!(x, y);
    }
}
