//! Send-side bandwidth estimation: how fast to send, learned from transport-wide congestion
//! control feedback (and REMB when transport-cc is not negotiated), a pacer that spreads the
//! packets out at that rate, and a deterministic link simulator to test both.
//!
//! The estimator follows the shape of Google Congestion Control (draft-ietf-rmcat-gcc-02): a
//! delay-based part (packets grouped by send time, a trendline over the inter-group delay
//! variation, an adaptive-threshold overuse detector, AIMD rate control), a loss-based part, and
//! the target is the smaller of the two within the configured bounds. Beyond the draft: the
//! bottleneck queueing delay is estimated from the one-way delay over its recent minimum, a
//! standing queue above `max_queue_delay` counts as overuse and decreases also drain it, and
//! probe clusters (sent by the [`Pacer`]) measure the path at start and when it seems to have
//! grown. Everything is sans-IO:
//! time is an [`std::time::Instant`] argument and nothing reads a clock.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sansrtc_rtp::bwe::{BweConfig, PacketResult, SendSideEstimator, TransportFeedback};
//!
//! let t0 = Instant::now();
//! let mut bwe = SendSideEstimator::new(BweConfig::default()).unwrap();
//! for seq in 0..10u16 {
//!     bwe.on_packet_sent(t0 + Duration::from_millis(seq as u64 * 10), seq, 1000);
//! }
//! let feedback = TransportFeedback {
//!     packets: (0..10u16)
//!         .map(|seq| PacketResult { sequence: seq, arrival_us: Some(20_000 + seq as i64 * 10_000) })
//!         .collect(),
//! };
//! bwe.on_transport_feedback(t0 + Duration::from_millis(150), &feedback);
//! assert!(bwe.target_bitrate() >= BweConfig::default().min_bitrate);
//! ```

mod acked;
mod aimd;
mod delay;
mod estimator;
mod loss;
pub mod pacer;
pub mod probe;
pub mod sim;

pub use delay::BandwidthUsage;
pub use estimator::{
    BweConfig, BweError, PacketResult, SendSideEstimator, TargetReason, TransportFeedback,
};
pub use pacer::{Pacer, PacerConfig, PacerError, PacketClass};
