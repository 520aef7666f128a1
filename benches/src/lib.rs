//! Shared inputs for the sansrtc benchmarks: real packets captured from browsers and built by hand,
//! so every implementation in a benchmark works on the same bytes; and drivers for two whole peer
//! connections (ours and str0m's) in one process.

pub mod inputs;
pub mod peer;
