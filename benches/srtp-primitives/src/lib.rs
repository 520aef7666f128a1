//! Nothing: see `benches/primitives.rs`.
