//! Injected randomness.

/// A source of random bytes. The endpoint draws its randoms, session ids and cookie secret from
/// here; production code uses [`SystemRng`], tests a seeded [`TestRng`].
///
/// Ephemeral ECDHE keys and ECDSA signature nonces always come from `ring`'s system RNG because
/// `ring` only accepts its own sealed random source for them.
pub trait Rng: Send + CloneRng {
    /// Fills `out` with random bytes.
    fn fill(&mut self, out: &mut [u8]);
}

/// Copies a boxed [`Rng`] (so an [`crate::Endpoint`] can be cloned, e.g. to snapshot a
/// connection for fuzzing); every `Rng + Clone` has it.
pub trait CloneRng {
    /// A boxed copy of this generator (it produces the same sequence as the original).
    fn clone_rng(&self) -> Box<dyn Rng>;
}

impl<T: Rng + Clone + 'static> CloneRng for T {
    fn clone_rng(&self) -> Box<dyn Rng> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn Rng> {
    fn clone(&self) -> Self {
        self.clone_rng()
    }
}

/// The operating system's RNG through `ring::rand::SystemRandom`.
#[derive(Debug, Clone)]
pub struct SystemRng(ring::rand::SystemRandom);

impl Default for SystemRng {
    fn default() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Rng for SystemRng {
    fn fill(&mut self, out: &mut [u8]) {
        use ring::rand::SecureRandom;
        self.0.fill(out).expect("the system RNG does not fail");
    }
}

/// A deterministic, seedable generator (SplitMix64) for tests and simulations. Not for production.
#[derive(Debug, Clone)]
pub struct TestRng(u64);

impl TestRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Rng for TestRng {
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
