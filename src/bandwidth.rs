//! How fast this connection can send: a send-side bandwidth estimator
//! ([`sansrtc_rtp::bwe::SendSideEstimator`]) fed with every packet we send carrying a
//! transport-wide sequence number, the peer's transport-cc feedback and its REMB, and reported as
//! [`PeerConnection::bandwidth_estimate`] and [`Event::BandwidthEstimate`].
//!
//! The application chooses its encoder bitrate (and simulcast layers) from it; the stack does not
//! drop or delay media on its own.

use std::time::{Duration, Instant};

use sansrtc_rtp::bwe::{
    BweConfig, BweError, Pacer, PacerConfig, PacerError, PacketClass, SendSideEstimator,
    TransportFeedback,
};

use crate::buffer::PacketBuf;
use sansrtc_rtp::rtcp::TransportCc;

pub use sansrtc_rtp::bwe::TargetReason;

#[cfg(doc)]
use crate::{Event, PeerConnection};

/// The connection's estimate of the bitrate it can send at, over all its media.
///
/// ```
/// # fn f(pc: &sansrtc::PeerConnection) {
/// if let Some(estimate) = pc.bandwidth_estimate() {
///     // leave some room for audio and retransmissions
///     let video = estimate.target_bitrate * 9 / 10;
///     println!("encode video at {video} bit/s ({:?})", estimate.reason);
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BandwidthEstimate {
    /// The bitrate to send at, all media together (bits per second, within
    /// [`crate::Config::min_bitrate`] and [`crate::Config::max_bitrate`]).
    pub target_bitrate: u64,
    /// Why the target is what it is.
    pub reason: TargetReason,
    /// The rate the peer acknowledged receiving over the last half second (bits per second),
    /// once transport-wide feedback arrived.
    pub acknowledged_bitrate: Option<u64>,
}

/// A change of the target smaller than this fraction is not reported as an event...
const EVENT_CHANGE: f64 = 0.05;
/// ...and events are at least this far apart.
const EVENT_INTERVAL: Duration = Duration::from_millis(200);

/// Sent packets remembered to match feedback with (4 s at 10 Mbit/s of 1200-byte packets).
const MAX_HISTORY: usize = 4096;

/// Bytes SRTP adds to a packet (the authentication tag: 10 for AES-CM-80, 16 for AES-GCM):
/// counted in the sizes given to the estimator, which wants what goes on the wire.
pub(crate) const SRTP_OVERHEAD: usize = 16;

/// The estimator settings a [`crate::Config`] asks for, checked.
pub(crate) fn bwe_config(
    min: u64,
    start: u64,
    max: u64,
    probing: bool,
) -> Result<BweConfig, BweError> {
    let config = BweConfig {
        min_bitrate: min,
        start_bitrate: start,
        max_bitrate: max,
        max_history: MAX_HISTORY,
        // Probe clusters leave through the pacer (padding at the cluster's rate).
        probing,
        ..BweConfig::default()
    };
    if min == 0 || min > max {
        return Err(BweError::Bounds { min, max });
    }
    Ok(config)
}

/// The estimator of a connection that sends media with congestion control negotiated, and what
/// was last reported of it.
#[derive(Debug, Clone)]
pub(crate) struct Bandwidth {
    estimator: SendSideEstimator,
    /// A feedback report's packets (the storage is reused).
    feedback: TransportFeedback,
    /// The estimate last given as an event, and when.
    reported: Option<(BandwidthEstimate, Instant)>,
    /// With [`crate::Config::pacing`]: plain RTP packets waiting to leave, each with where its
    /// transport-wide sequence number goes (written as it leaves). With
    /// [`crate::Config::probing`] it times the probes' padding too.
    pacer: Option<Pacer<(PacketBuf, Option<usize>)>>,
    /// Whether written media goes through the pacer.
    paced_media: bool,
}

impl Bandwidth {
    pub(crate) fn new(config: BweConfig, pacing: bool) -> Result<Self, BweError> {
        let probing = config.probing;
        let estimator = SendSideEstimator::new(config)?;
        let pacer = (pacing || probing)
            .then(|| Pacer::new(PacerConfig::default(), estimator.target_bitrate()));
        Ok(Self {
            estimator,
            feedback: TransportFeedback::default(),
            reported: None,
            pacer,
            paced_media: pacing,
        })
    }

    /// Whether packets are paced.
    pub(crate) fn pacing(&self) -> bool {
        self.paced_media && self.pacer.is_some()
    }

    /// Whether it probes ([`crate::Config::probing`]).
    pub(crate) fn probing(&self) -> bool {
        self.estimator.config().probing
    }

    /// The size of the padding packet to send now for a probe cluster (at most `max_size`
    /// bytes), and the cluster's id: the estimator's next cluster starts when none is in
    /// progress (with [`crate::Config::probing`]).
    pub(crate) fn poll_padding(&mut self, now: Instant, max_size: usize) -> Option<(usize, u32)> {
        let pacer = self.pacer.as_mut()?;
        if !pacer.probing()
            && let Some(cluster) = self.estimator.poll_probe(now)
        {
            pacer.probe(now, &cluster);
        }
        pacer
            .poll_padding(now, max_size.saturating_sub(SRTP_OVERHEAD))
            .map(|p| (p.size, p.probe))
    }

    /// A padding packet of probe `cluster` with transport-wide sequence number `sequence` and
    /// `size` bytes of plain RTP left at `now`.
    pub(crate) fn on_probe_sent(&mut self, now: Instant, sequence: u16, size: usize, cluster: u32) {
        self.estimator
            .on_probe_sent(now, sequence, size + SRTP_OVERHEAD, cluster);
    }

    /// Queues a plain RTP packet for the pacer; `sequence_at` is where its transport-wide
    /// sequence number goes, when it carries one.
    pub(crate) fn enqueue(
        &mut self,
        now: Instant,
        audio: bool,
        packet: PacketBuf,
        sequence_at: Option<usize>,
    ) -> Result<(), PacerError> {
        let Some(pacer) = &mut self.pacer else {
            return Ok(());
        };
        let class = if audio {
            PacketClass::Audio
        } else {
            PacketClass::Video
        };
        let size = packet.len() + SRTP_OVERHEAD;
        pacer.enqueue(now, class, size, (packet, sequence_at))
    }

    /// The next paced packet allowed to leave at `now` (its transport-wide sequence number
    /// position, if any, to be written with the next number).
    pub(crate) fn poll_paced(&mut self, now: Instant) -> Option<(PacketBuf, Option<usize>)> {
        self.pacer.as_mut()?.poll_send(now).map(|p| p.item)
    }

    /// When the next paced packet may leave.
    pub(crate) fn pacer_timeout(&self) -> Option<Instant> {
        self.pacer.as_ref()?.poll_timeout()
    }

    /// The pacer follows the estimate.
    fn sync_pacer(&mut self, now: Instant) {
        if let Some(p) = &mut self.pacer {
            p.set_target(now, self.estimator.target_bitrate());
        }
    }

    /// A packet with transport-wide sequence number `sequence` and `size` bytes of plain RTP
    /// left at `now`.
    pub(crate) fn on_sent(&mut self, now: Instant, sequence: u16, size: usize) {
        self.estimator
            .on_packet_sent(now, sequence, size + SRTP_OVERHEAD);
    }

    /// The peer's transport-wide feedback arrived.
    pub(crate) fn on_transport_cc(&mut self, now: Instant, fb: &TransportCc<'_>) {
        self.feedback.packets.clear();
        TransportFeedback::extend_from_transport_cc(&mut self.feedback.packets, fb);
        self.estimator.on_transport_feedback(now, &self.feedback);
        self.sync_pacer(now);
    }

    /// The peer's REMB arrived.
    pub(crate) fn on_remb(&mut self, now: Instant, bitrate: u64) {
        self.estimator.on_remb(now, bitrate);
        self.sync_pacer(now);
    }

    /// A receiver report's loss about our streams (used while no transport-wide feedback
    /// arrives).
    pub(crate) fn on_loss_report(&mut self, now: Instant, fraction_lost: u8, packets: u32) {
        self.estimator.on_loss_report(now, fraction_lost, packets);
        self.sync_pacer(now);
    }

    /// The current estimate.
    pub(crate) fn estimate(&self) -> BandwidthEstimate {
        BandwidthEstimate {
            target_bitrate: self.estimator.target_bitrate(),
            reason: self.estimator.reason(),
            acknowledged_bitrate: self.estimator.acknowledged_bitrate(),
        }
    }

    /// The estimate to report as an event: the first one, then when the target moved by more
    /// than 5 % or the reason changed, at most every 200 ms.
    pub(crate) fn poll_change(&mut self, now: Instant) -> Option<BandwidthEstimate> {
        let current = self.estimate();
        if let Some((last, at)) = self.reported {
            if now.saturating_duration_since(at) < EVENT_INTERVAL {
                return None;
            }
            let moved = (current.target_bitrate as f64 - last.target_bitrate as f64).abs()
                > EVENT_CHANGE * last.target_bitrate as f64;
            if !moved && current.reason == last.reason {
                return None;
            }
        }
        self.reported = Some((current, now));
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_only_for_meaningful_changes_and_rate_limited() {
        let t0 = Instant::now();
        let mut b = Bandwidth::new(
            bwe_config(30_000, 300_000, 10_000_000, false).unwrap(),
            false,
        )
        .unwrap();
        let first = b.poll_change(t0).expect("the first estimate is reported");
        assert_eq!(first.target_bitrate, 300_000);
        assert_eq!(first.reason, TargetReason::Initial);
        assert_eq!(b.poll_change(t0 + Duration::from_secs(1)), None);
        // REMB mode: the REMB is the estimate
        b.on_remb(t0, 1_000_000);
        assert_eq!(
            b.poll_change(t0 + Duration::from_millis(100)),
            None,
            "too soon"
        );
        let e = b.poll_change(t0 + Duration::from_millis(300)).unwrap();
        assert_eq!(
            (e.target_bitrate, e.reason),
            (1_000_000, TargetReason::Remb)
        );
        // 3 % is not worth an event, 10 % is
        b.on_remb(t0, 1_030_000);
        assert_eq!(b.poll_change(t0 + Duration::from_secs(1)), None);
        b.on_remb(t0, 900_000);
        let e = b.poll_change(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(e.target_bitrate, 900_000);
        assert_eq!(b.estimate(), e);
    }

    #[test]
    fn bounds_are_checked() {
        assert!(bwe_config(0, 1, 2, false).is_err());
        assert!(bwe_config(3, 1, 2, false).is_err());
        assert!(
            bwe_config(1, 5, 2, false).is_ok(),
            "the start is clamped into the bounds"
        );
    }
}
