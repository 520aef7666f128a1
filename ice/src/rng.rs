//! Injected randomness: transaction ids, tie-breakers and consent jitter come from an [`Rng`]
//! the caller provides. The trait and generators are `sansrtc-core`'s, shared by every sansrtc
//! crate; this module keeps their old paths.

pub use sansrtc_core::rng::{CloneRng, Rng, SeededRng, SystemRng};
