//! Injected randomness. Every state machine that needs random numbers (transaction ids,
//! tie-breakers, DTLS randoms, SCTP tags, SSRCs, ICE credentials) takes an [`Rng`] at
//! construction: the operating system's [`SystemRng`] in production, a [`SeededRng`] in tests
//! and simulations, so every run can be repeated.

/// A source of random bytes.
///
/// Every `Rng + Clone + 'static` can be boxed and cloned (through [`CloneRng`]), so a state
/// machine holding a `Box<dyn Rng>` can be snapshotted.
pub trait Rng: Send + CloneRng {
    /// Fills `out` with random bytes.
    fn fill(&mut self, out: &mut [u8]);

    /// A random `u32`.
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill(&mut b);
        u32::from_le_bytes(b)
    }

    /// A random `u64`.
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill(&mut b);
        u64::from_le_bytes(b)
    }
}

/// Copies a boxed [`Rng`]; every `Rng + Clone + 'static` has it.
pub trait CloneRng {
    /// A boxed copy producing the same sequence as the original.
    fn clone_rng(&self) -> Box<dyn Rng>;
}

impl<T: Rng + Clone + 'static> CloneRng for T {
    fn clone_rng(&self) -> Box<dyn Rng> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn Rng> {
    fn clone(&self) -> Self {
        // The boxed generator's own copy (`self.clone_rng()` would box this box again).
        (**self).clone_rng()
    }
}

impl Rng for Box<dyn Rng> {
    fn fill(&mut self, out: &mut [u8]) {
        (**self).fill(out)
    }
}

/// The operating system's cryptographic randomness, through `ring`.
#[derive(Debug, Clone)]
pub struct SystemRng(ring::rand::SystemRandom);

impl SystemRng {
    /// A handle to the system generator.
    pub fn new() -> Self {
        SystemRng(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRng {
    fn default() -> Self {
        Self::new()
    }
}

impl Rng for SystemRng {
    fn fill(&mut self, out: &mut [u8]) {
        use ring::rand::SecureRandom;
        // ring's system generator fails only when the operating system has no randomness.
        self.0
            .fill(out)
            .expect("the operating system provides randomness");
    }
}

/// A deterministic generator (SplitMix64) for tests and simulations. Not for production: its
/// output is predictable from the seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator from `seed`.
    pub const fn new(seed: u64) -> Self {
        SeededRng(seed)
    }

    /// The generator's state: `SeededRng::new(r.state())` continues where `r` is.
    pub const fn state(&self) -> u64 {
        self.0
    }

    /// An independent generator seeded from this one.
    pub fn fork(&mut self) -> SeededRng {
        SeededRng(self.step())
    }

    fn step(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Rng for SeededRng {
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.step().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.step()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_deterministic_and_seed_dependent() {
        let (mut a, mut b, mut c) = (SeededRng::new(1), SeededRng::new(1), SeededRng::new(2));
        let (mut x, mut y, mut z) = ([0u8; 13], [0u8; 13], [0u8; 13]);
        a.fill(&mut x);
        b.fill(&mut y);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        // The first SplitMix64 output for seed 0 (a published reference value).
        assert_eq!(SeededRng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn boxed_generators_clone_into_the_same_sequence() {
        let mut boxed: Box<dyn Rng> = Box::new(SeededRng::new(9));
        boxed.next_u64();
        let mut copy = boxed.clone();
        assert_eq!(boxed.next_u64(), copy.next_u64());
    }

    #[test]
    fn forks_differ_from_their_parent() {
        let mut a = SeededRng::new(3);
        let mut f = a.fork();
        assert_ne!(a.next_u64(), f.next_u64());
    }

    #[test]
    fn system_randomness_fills() {
        let mut r = SystemRng::new();
        let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
        r.fill(&mut x);
        r.fill(&mut y);
        assert_ne!(x, y);
    }
}
