//! Shared inputs for the sansrtc benchmarks: real packets captured from browsers and built by hand,
//! so every implementation in a benchmark works on the same bytes.

pub mod inputs;
