//! The send-side estimator: sent-packet history, feedback matching, and the combination of the
//! delay-based, loss-based and REMB estimates into one target bitrate.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::acked::AckedBitrate;
use super::aimd::{Aimd, AimdAction};
use super::delay::{BandwidthUsage, InterArrival, Trendline};
use super::loss::LossControl;
use super::probe::{ProbeCluster, Prober};
use crate::rtcp::TransportCc;
use crate::seq::SequenceUnwrapper;

/// Settings of a [`SendSideEstimator`].
#[derive(Debug, Clone, PartialEq)]
pub struct BweConfig {
    /// The target before any feedback (bits per second).
    pub start_bitrate: u64,
    /// The target never goes below this (bits per second, at least 1).
    pub min_bitrate: u64,
    /// The target never goes above this (bits per second).
    pub max_bitrate: u64,
    /// Growth factor per second before the first congestion signal (startup phase).
    pub startup_gain: f64,
    /// On overuse the delay-based rate drops to this fraction of the acknowledged rate.
    pub beta: f64,
    /// Sent packets remembered for matching feedback at most (bounded memory).
    pub max_history: usize,
    /// A bottleneck queueing delay above this (estimated from the one-way delay over its recent
    /// minimum) counts as overuse even when the delay trend is flat: it bounds the standing
    /// queue a slow additive increase can build without a visible trend. `None` disables it.
    pub max_queue_delay: Option<Duration>,
    /// Whether [`SendSideEstimator::poll_probe`] asks for probe clusters on its own (at 3x and
    /// 6x the start rate, at twice the estimate every 5 s while it increases with no capacity
    /// learned (the last one was passed without congestion: the link grew) and is at least
    /// 800 kbit/s, then doubling while probes succeed).
    pub probing: bool,
}

impl Default for BweConfig {
    fn default() -> Self {
        BweConfig {
            start_bitrate: 300_000,
            min_bitrate: 30_000,
            max_bitrate: 20_000_000,
            startup_gain: 3.0,
            beta: 0.85,
            max_history: 8192,
            max_queue_delay: Some(Duration::from_millis(40)),
            probing: true,
        }
    }
}

/// A [`BweConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BweError {
    /// `min_bitrate` is zero or above `max_bitrate`.
    #[error("bitrate bounds invalid: min {min} max {max}")]
    Bounds {
        /// The minimum given.
        min: u64,
        /// The maximum given.
        max: u64,
    },
    /// `startup_gain` is not a finite number of at least 1.
    #[error("startup gain must be finite and at least 1")]
    StartupGain,
    /// `beta` is not in (0, 1).
    #[error("beta must be in (0, 1)")]
    Beta,
    /// `max_history` is zero.
    #[error("history size must be positive")]
    History,
}

/// Why the target is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetReason {
    /// The start bitrate; no feedback yet.
    Initial,
    /// Fast growth before the first congestion signal.
    Startup,
    /// Multiplicative increase, far from the last congestion point.
    Increase,
    /// Fast return towards the capacity learned at the last congestion point.
    Recovery,
    /// Raised to what a probe cluster measured.
    Probe,
    /// Additive increase near the last congestion point.
    NearCapacity,
    /// Holding while the bottleneck queue drains.
    Hold,
    /// Decreased because the delay-based detector saw the queue grow.
    Overuse,
    /// Limited by the loss-based control.
    Loss,
    /// Limited by the receiver's REMB.
    Remb,
}

/// One packet's result in a transport-wide feedback report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketResult {
    /// Its transport-wide sequence number.
    pub sequence: u16,
    /// Its arrival time in microseconds of the receiver's clock (any origin), `None` when it
    /// was reported not received.
    pub arrival_us: Option<i64>,
}

/// A transport-wide feedback report reduced to what the estimator needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportFeedback {
    /// The packets described, in any order.
    pub packets: Vec<PacketResult>,
}

impl TransportFeedback {
    /// From a parsed transport-cc message: arrival times are the reference time (64 ms units)
    /// plus the running sum of the receive deltas (250 us units). The 24-bit reference time
    /// wraps every 12.4 days; the estimator treats the jump like a clock reset.
    pub fn from_transport_cc(fb: &TransportCc<'_>) -> Self {
        let mut packets = Vec::with_capacity(fb.status_count as usize);
        Self::extend_from_transport_cc(&mut packets, fb);
        TransportFeedback { packets }
    }

    /// Like [`TransportFeedback::from_transport_cc`], appending to `packets` (reuses storage).
    pub fn extend_from_transport_cc(packets: &mut Vec<PacketResult>, fb: &TransportCc<'_>) {
        let mut at = i64::from(fb.reference_time) * 64_000;
        for p in fb.packets() {
            let arrival_us = p.delta.map(|d| {
                at += i64::from(d) * 250;
                at
            });
            packets.push(PacketResult {
                sequence: p.sequence,
                arrival_us,
            });
        }
    }
}

/// The minimum one-way delay (remote arrival minus local send, offset unknown) over the last
/// 5-10 s: the delay of an empty queue.
#[derive(Debug, Clone, Default)]
struct BaseDelay {
    current: Option<i64>,
    previous: Option<i64>,
    epoch: Option<Instant>,
}

/// Probes on a seemingly grown link are at least this far apart...
const GROWTH_PROBE_INTERVAL: Duration = Duration::from_secs(5);
/// ...and only sent from this rate up: a cluster is at least five packets of 200 bytes or more,
/// 8 ms at twice this rate (from 800 kbit/s up, recovery after a step up from 500 kbit/s to
/// 2.5 Mbit/s took 3.4-5.9 s on the simulator; from here 1.1-5.1 s, 2.6 s on average).
const GROWTH_PROBE_MIN_RATE: f64 = 500_000.0;

/// The recent arrival rate replaces the windowed one when below this fraction of it.
const SHARP_FALL: f64 = 0.75;

/// Length of one minimum-tracking epoch.
const BASE_EPOCH: Duration = Duration::from_secs(5);
/// A one-way delay this far above the base means the remote clock jumped.
const CLOCK_JUMP_US: i64 = 3_000_000;

impl BaseDelay {
    fn on_packet(&mut self, now: Instant, owd: i64) {
        let epoch = *self.epoch.get_or_insert(now);
        if now.saturating_duration_since(epoch) >= BASE_EPOCH {
            self.previous = self.current.take();
            self.epoch = Some(now);
        }
        if self
            .base()
            .is_some_and(|b| owd.saturating_sub(b) > CLOCK_JUMP_US)
        {
            self.previous = None;
            self.current = None;
        }
        self.current = Some(self.current.map_or(owd, |c| c.min(owd)));
    }

    fn base(&self) -> Option<i64> {
        match (self.current, self.previous) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn queue_delay(&self, owd: i64) -> Duration {
        let q = self.base().map_or(0, |b| owd.saturating_sub(b)).max(0);
        Duration::from_micros(q.min(CLOCK_JUMP_US) as u64)
    }
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    send_us: i64,
    size: usize,
    acked: bool,
    reported: bool,
    probe: Option<u32>,
}

/// The sent packets remembered for feedback matching, by extended transport-wide sequence
/// number: a ring of consecutive numbers (senders number packets consecutively), so that once
/// it has grown to `max_history` slots, recording a packet allocates nothing.
#[derive(Debug, Clone, Default)]
struct SentHistory {
    /// The extended sequence number of the front slot.
    first: u64,
    slots: VecDeque<Option<Sent>>,
    /// Slots holding a packet.
    count: usize,
}

impl SentHistory {
    fn insert(&mut self, ext: u64, sent: Sent, max: usize) {
        let end = self.first + self.slots.len() as u64;
        if self.slots.is_empty() || ext >= end.saturating_add(max as u64) {
            // empty, or so far ahead that nothing remembered stays: start again at `ext`
            self.slots.clear();
            self.count = 0;
            self.first = ext;
        } else if ext < self.first {
            // older than anything remembered (sent out of order long after): forgotten
            return;
        }
        while ext >= self.first + self.slots.len() as u64 {
            // the oldest goes first, so the ring never holds more than `max` slots
            if self.slots.len() >= max {
                if let Some(Some(_)) = self.slots.pop_front() {
                    self.count -= 1;
                }
                self.first += 1;
            }
            self.slots.push_back(None);
        }
        let Some(slot) = self.slots.get_mut((ext - self.first) as usize) else {
            return;
        };
        if slot.is_none() {
            self.count += 1;
        }
        *slot = Some(sent);
    }

    fn get_mut(&mut self, ext: u64) -> Option<&mut Sent> {
        let index = usize::try_from(ext.checked_sub(self.first)?).ok()?;
        self.slots.get_mut(index)?.as_mut()
    }

    fn len(&self) -> usize {
        self.count
    }
}

/// Estimates the available send bitrate from transport-wide feedback (and REMB).
///
/// Call [`SendSideEstimator::on_packet_sent`] for each packet carrying a transport-wide sequence
/// number as it leaves (after the pacer), [`SendSideEstimator::on_transport_feedback`] for each
/// feedback report, then read [`SendSideEstimator::target_bitrate`].
#[derive(Debug, Clone)]
pub struct SendSideEstimator {
    config: BweConfig,
    base: Option<Instant>,
    unwrapper: SequenceUnwrapper,
    history: SentHistory,
    inter_arrival: InterArrival,
    trendline: Trendline,
    acked: AckedBitrate,
    aimd: Aimd,
    loss: LossControl,
    remb: Option<u64>,
    feedback_seen: bool,
    rtt: Option<Duration>,
    base_delay: BaseDelay,
    queue_delay: Duration,
    target: u64,
    reason: TargetReason,
    scratch: Vec<(i64, i64, usize)>,
    prober: Prober,
    growth_probe_at: Option<Instant>,
}

impl SendSideEstimator {
    /// An estimator starting at `config.start_bitrate` (clamped to the bounds).
    pub fn new(config: BweConfig) -> Result<Self, BweError> {
        if config.min_bitrate == 0 || config.min_bitrate > config.max_bitrate {
            return Err(BweError::Bounds {
                min: config.min_bitrate,
                max: config.max_bitrate,
            });
        }
        if !(config.startup_gain.is_finite() && config.startup_gain >= 1.0) {
            return Err(BweError::StartupGain);
        }
        if !(config.beta > 0.0 && config.beta < 1.0) {
            return Err(BweError::Beta);
        }
        if config.max_history == 0 {
            return Err(BweError::History);
        }
        let start = config
            .start_bitrate
            .clamp(config.min_bitrate, config.max_bitrate);
        let aimd = Aimd::new(
            start as f64,
            config.min_bitrate as f64,
            config.max_bitrate as f64,
            config.startup_gain,
            config.beta,
        );
        Ok(SendSideEstimator {
            config,
            base: None,
            unwrapper: SequenceUnwrapper::new(),
            history: SentHistory::default(),
            inter_arrival: InterArrival::default(),
            trendline: Trendline::default(),
            acked: AckedBitrate::default(),
            aimd,
            loss: LossControl::default(),
            remb: None,
            feedback_seen: false,
            rtt: None,
            base_delay: BaseDelay::default(),
            queue_delay: Duration::ZERO,
            target: start,
            reason: TargetReason::Initial,
            scratch: Vec::new(),
            prober: Prober::default(),
            growth_probe_at: None,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &BweConfig {
        &self.config
    }

    fn micros(&mut self, now: Instant) -> i64 {
        let base = *self.base.get_or_insert(now);
        i64::try_from(now.saturating_duration_since(base).as_micros()).unwrap_or(i64::MAX)
    }

    /// Records that the packet with transport-wide sequence `seq` and `size` bytes (whole UDP
    /// payload) left at `now`.
    pub fn on_packet_sent(&mut self, now: Instant, seq: u16, size: usize) {
        self.record_sent(now, seq, size, None);
    }

    /// Like [`SendSideEstimator::on_packet_sent`] for a packet sent as part of probe cluster
    /// `cluster` (the [`ProbeCluster::id`]).
    pub fn on_probe_sent(&mut self, now: Instant, seq: u16, size: usize, cluster: u32) {
        self.record_sent(now, seq, size, Some(cluster));
    }

    /// The next probe cluster to send, if any: with `probing` on, the initial clusters on the
    /// first call, one when the link seems to have grown, then a cluster at twice each result
    /// that reached most of its rate; plus those asked for with
    /// [`SendSideEstimator::request_probe`].
    pub fn poll_probe(&mut self, _now: Instant) -> Option<ProbeCluster> {
        if self.config.probing {
            self.prober.start(self.target, self.config.max_bitrate);
        }
        self.prober.poll()
    }

    /// Asks for a probe cluster at `bitrate` (e.g. before turning on a higher layer).
    pub fn request_probe(&mut self, bitrate: u64) {
        self.prober
            .request(bitrate.clamp(self.config.min_bitrate, self.config.max_bitrate));
    }

    fn record_sent(&mut self, now: Instant, seq: u16, size: usize, probe: Option<u32>) {
        let send_us = self.micros(now);
        let ext = self.unwrapper.unwrap(seq);
        self.history.insert(
            ext,
            Sent {
                send_us,
                size,
                acked: false,
                reported: false,
                probe,
            },
            self.config.max_history,
        );
    }

    /// Takes one transport-wide feedback report received at `now`.
    pub fn on_transport_feedback(&mut self, now: Instant, feedback: &TransportFeedback) {
        let now_us = self.micros(now);
        let mut received = std::mem::take(&mut self.scratch);
        received.clear();
        let mut lost = 0u32;
        let mut newest_send: Option<i64> = None;
        for p in &feedback.packets {
            let ext = self.unwrapper.peek(p.sequence);
            let Some(sent) = self.history.get_mut(ext) else {
                continue;
            };
            match p.arrival_us {
                Some(arrival) => {
                    if sent.acked {
                        continue;
                    }
                    sent.acked = true;
                    sent.reported = true;
                    received.push((arrival, sent.send_us, sent.size));
                    if let Some(id) = sent.probe {
                        let (send, size) = (sent.send_us, sent.size);
                        if let Some((cluster, rate)) =
                            self.prober.on_received(id, send, arrival, size)
                        {
                            self.aimd.on_probe(rate);
                            // nearly all of it got through: there may be more
                            if self.config.probing
                                && rate >= 0.7 * cluster.bitrate as f64
                                && cluster.bitrate < self.config.max_bitrate
                            {
                                self.prober
                                    .request(((2.0 * rate) as u64).min(self.config.max_bitrate));
                            }
                        }
                    }
                    newest_send = Some(newest_send.map_or(sent.send_us, |n| n.max(sent.send_us)));
                }
                None => {
                    if !sent.reported {
                        sent.reported = true;
                        lost += 1;
                    }
                }
            }
        }
        if received.is_empty() && lost == 0 {
            self.scratch = received;
            return;
        }
        self.feedback_seen = true;
        if let Some(send) = newest_send {
            let sample = Duration::from_micros(now_us.saturating_sub(send).max(1000) as u64)
                .min(Duration::from_secs(10));
            self.rtt = Some(match self.rtt {
                Some(r) => r.mul_f64(0.875) + sample.mul_f64(0.125),
                None => sample,
            });
        }
        let rtt = self.rtt.unwrap_or(Duration::from_millis(100));
        received.sort_unstable();
        for &(arrival, send, size) in &received {
            self.base_delay.on_packet(now, arrival.saturating_sub(send));
            self.acked.on_packet(arrival, size);
            if let Some(delta) = self.inter_arrival.on_packet(send, arrival) {
                self.trendline.update(delta);
            }
        }
        // the least delayed packet of the report: the standing queue, without the queue a frame
        // burst builds behind itself
        if let Some(owd) = received.iter().map(|r| r.0.saturating_sub(r.1)).min() {
            self.queue_delay = self.base_delay.queue_delay(owd);
        }
        let mut acked = self.acked.rate();
        // a sharp fall of the recent arrival rate (the capacity dropped) is followed at once
        // rather than after the half-second window catches up
        if let (Some(a), Some(recent)) = (acked, self.acked.recent_rate()) {
            if recent < SHARP_FALL * a {
                acked = Some(recent);
            }
        }
        if !received.is_empty() {
            let mut usage = self.trendline.state();
            if self
                .config
                .max_queue_delay
                .is_some_and(|max| self.queue_delay > max)
            {
                usage = BandwidthUsage::Overuse;
            }
            self.aimd.update(now, usage, acked, rtt, self.queue_delay);
            // increasing with no learned capacity (it was passed without congestion: the link
            // grew): a probe finds the new capacity faster than 15 % per second
            if self.aimd.action() == AimdAction::Increase
                && self.config.probing
                && self.aimd.rate() >= GROWTH_PROBE_MIN_RATE
                && self.growth_probe_at.is_none_or(|at| now >= at)
            {
                let rate = (2.0 * self.aimd.rate()) as u64;
                self.prober.request(rate.min(self.config.max_bitrate));
                self.growth_probe_at = Some(now + GROWTH_PROBE_INTERVAL);
            }
        }
        let cut = self.loss.on_feedback(
            now,
            (received.len() as u32, lost),
            self.target as f64,
            self.aimd.rate(),
            rtt,
            self.queue_delay,
        );
        if cut {
            self.aimd.end_startup();
        }
        self.scratch = received;
        self.recompute();
    }

    /// Takes loss from an RTCP receiver report when transport-wide feedback is not in use:
    /// `fraction_lost` as carried in the report block (lost / 256), over `packets` packets
    /// expected since the previous report. Ignored once transport-wide feedback has arrived
    /// (it already counts every loss).
    pub fn on_loss_report(&mut self, now: Instant, fraction_lost: u8, packets: u32) {
        if self.feedback_seen {
            return;
        }
        let lost = ((u64::from(packets) * u64::from(fraction_lost)) / 256) as u32;
        let rtt = self.rtt.unwrap_or(Duration::from_millis(100));
        let ceiling = self.remb.map_or(self.config.max_bitrate, |r| {
            r.clamp(self.config.min_bitrate, self.config.max_bitrate)
        });
        // no delay signal here: judge loss as if a queue were visible (the 10 % threshold)
        let cut = self.loss.on_feedback(
            now,
            (packets - lost, lost),
            self.target as f64,
            ceiling as f64,
            rtt,
            Duration::MAX,
        );
        if cut {
            self.aimd.end_startup();
        }
        self.recompute();
    }

    /// Takes a REMB from the receiver: it caps the target, and is the estimate itself while no
    /// transport-wide feedback has arrived (transport-cc not in use).
    pub fn on_remb(&mut self, _now: Instant, bitrate: u64) {
        self.remb = Some(bitrate);
        self.recompute();
    }

    fn recompute(&mut self) {
        let delay = self.aimd.rate();
        let mut target = delay;
        let mut reason = match self.aimd.action() {
            AimdAction::Initial => TargetReason::Initial,
            AimdAction::Startup => TargetReason::Startup,
            AimdAction::Increase => TargetReason::Increase,
            AimdAction::NearCapacity => TargetReason::NearCapacity,
            AimdAction::Recovery => TargetReason::Recovery,
            AimdAction::Probe => TargetReason::Probe,
            AimdAction::Hold => TargetReason::Hold,
            AimdAction::Decrease => TargetReason::Overuse,
        };
        if let Some(cap) = self.loss.cap().filter(|c| *c < target) {
            target = cap;
            reason = TargetReason::Loss;
        }
        if let Some(remb) = self.remb {
            let remb = remb as f64;
            if !self.feedback_seen || remb < target {
                target = remb;
                reason = TargetReason::Remb;
            }
            if !self.feedback_seen {
                // REMB mode: receiver-report loss may still cap it
                if let Some(cap) = self.loss.cap().filter(|c| *c < target) {
                    target = cap;
                    reason = TargetReason::Loss;
                }
            }
        }
        let target = if target.is_finite() { target } else { 0.0 };
        self.target = (target as u64).clamp(self.config.min_bitrate, self.config.max_bitrate);
        self.reason = reason;
    }

    /// The bitrate to send at (bits per second), within the configured bounds.
    pub fn target_bitrate(&self) -> u64 {
        self.target
    }

    /// Why the target is what it is.
    pub fn reason(&self) -> TargetReason {
        self.reason
    }

    /// The rate the receiver acknowledged over the last half second (bits per second).
    pub fn acknowledged_bitrate(&self) -> Option<u64> {
        self.acked.rate().map(|r| r as u64)
    }

    /// The smoothed round-trip time seen through feedback (includes the feedback interval).
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// The bottleneck queueing delay estimated from the one-way delay above its recent minimum.
    pub fn queue_delay(&self) -> Duration {
        self.queue_delay
    }

    /// The delay-based detector's current verdict.
    pub fn delay_state(&self) -> BandwidthUsage {
        self.trendline.state()
    }

    /// The loss fraction of the last judged loss window.
    pub fn loss_fraction(&self) -> f64 {
        self.loss.last_fraction()
    }

    /// Sent packets remembered (at most `max_history`).
    pub fn history_len(&self) -> usize {
        self.history.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtcp::TransportCcBuilder;

    #[test]
    fn config_is_checked() {
        let bad = |f: fn(&mut BweConfig)| {
            let mut c = BweConfig::default();
            f(&mut c);
            SendSideEstimator::new(c).unwrap_err()
        };
        assert!(matches!(
            bad(|c| c.min_bitrate = 0),
            BweError::Bounds { .. }
        ));
        assert!(matches!(
            bad(|c| c.max_bitrate = 1000),
            BweError::Bounds { .. }
        ));
        assert_eq!(bad(|c| c.startup_gain = f64::NAN), BweError::StartupGain);
        assert_eq!(bad(|c| c.beta = 1.0), BweError::Beta);
        assert_eq!(bad(|c| c.max_history = 0), BweError::History);
    }

    #[test]
    fn converts_transport_cc() {
        let mut b = TransportCcBuilder::new();
        b.received(4).unwrap();
        b.lost();
        b.received(-8).unwrap();
        let mut chunks = Vec::new();
        let fb = b.build(&mut chunks, 1, 2, 65535, 10, 0).unwrap();
        let f = TransportFeedback::from_transport_cc(&fb);
        assert_eq!(
            f.packets,
            vec![
                PacketResult {
                    sequence: 65535,
                    arrival_us: Some(640_000 + 1000)
                },
                PacketResult {
                    sequence: 0,
                    arrival_us: None
                },
                PacketResult {
                    sequence: 1,
                    arrival_us: Some(640_000 + 1000 - 2000)
                },
            ]
        );
    }

    #[test]
    fn remb_is_the_estimate_without_transport_cc_and_a_cap_with_it() {
        let t0 = Instant::now();
        let mut e = SendSideEstimator::new(BweConfig::default()).unwrap();
        assert_eq!(e.reason(), TargetReason::Initial);
        e.on_remb(t0, 1_500_000);
        assert_eq!(e.target_bitrate(), 1_500_000);
        assert_eq!(e.reason(), TargetReason::Remb);
        e.on_remb(t0, 1);
        assert_eq!(e.target_bitrate(), 30_000);
        e.on_remb(t0, 1_500_000);
        // feedback arrives: now the delay-based estimate (300 kbit/s) is lower than REMB
        e.on_packet_sent(t0, 0, 1000);
        let fb = TransportFeedback {
            packets: vec![PacketResult {
                sequence: 0,
                arrival_us: Some(0),
            }],
        };
        e.on_transport_feedback(t0 + Duration::from_millis(60), &fb);
        assert_eq!(e.target_bitrate(), 300_000);
        e.on_remb(t0, 100_000);
        assert_eq!(e.target_bitrate(), 100_000);
    }

    #[test]
    fn probe_results_raise_the_estimate_and_ask_for_more() {
        let t0 = Instant::now();
        let mut e = SendSideEstimator::new(BweConfig::default()).unwrap();
        let a = e.poll_probe(t0).unwrap();
        let b = e.poll_probe(t0).unwrap();
        assert_eq!((a.bitrate, b.bitrate), (900_000, 1_800_000));
        assert_eq!(e.poll_probe(t0), None);
        // cluster b: 1000-byte packets every 4.44 ms (1.8 Mbit/s), all arriving at that rate
        let mut packets = Vec::new();
        for i in 0..6u16 {
            let at = Duration::from_micros(u64::from(i) * 4444);
            e.on_probe_sent(t0 + at, i, 1000, b.id);
            packets.push(PacketResult {
                sequence: i,
                arrival_us: Some(30_000 + at.as_micros() as i64),
            });
        }
        e.on_transport_feedback(
            t0 + Duration::from_millis(80),
            &TransportFeedback { packets },
        );
        assert_eq!(e.reason(), TargetReason::Probe);
        let t = e.target_bitrate();
        assert!((1_750_000..=1_810_000).contains(&t), "{t}");
        // it got through: the next cluster doubles it
        let next = e.poll_probe(t0).unwrap();
        assert!(
            (3_500_000..=3_620_000).contains(&next.bitrate),
            "{}",
            next.bitrate
        );
        // probing off: nothing unless asked
        let mut quiet = SendSideEstimator::new(BweConfig {
            probing: false,
            ..BweConfig::default()
        })
        .unwrap();
        assert_eq!(quiet.poll_probe(t0), None);
        quiet.request_probe(5_000_000);
        assert_eq!(quiet.poll_probe(t0).map(|c| c.bitrate), Some(5_000_000));
    }

    #[test]
    fn receiver_report_loss_caps_remb_mode() {
        let t0 = Instant::now();
        let mut e = SendSideEstimator::new(BweConfig::default()).unwrap();
        e.on_remb(t0, 1_000_000);
        e.on_loss_report(t0, 0, 0);
        // 25 % loss over 200 packets a second later: cut by 12.5 %
        e.on_loss_report(t0 + Duration::from_secs(1), 64, 200);
        assert_eq!(e.target_bitrate(), 875_000);
        assert_eq!(e.reason(), TargetReason::Loss);
        // clean reports let it grow back up to the REMB
        for i in 2..10 {
            e.on_loss_report(t0 + Duration::from_secs(i), 0, 200);
        }
        assert_eq!(e.target_bitrate(), 1_000_000);
        assert_eq!(e.reason(), TargetReason::Remb);
    }

    #[test]
    fn history_is_bounded_and_unknown_feedback_ignored() {
        let t0 = Instant::now();
        let mut e = SendSideEstimator::new(BweConfig {
            max_history: 100,
            ..BweConfig::default()
        })
        .unwrap();
        for i in 0..1000u32 {
            e.on_packet_sent(t0 + Duration::from_millis(i as u64), i as u16, 1200);
        }
        assert_eq!(e.history_len(), 100);
        let fb = TransportFeedback {
            packets: (0..50)
                .map(|s| PacketResult {
                    sequence: s,
                    arrival_us: None,
                })
                .collect(),
        };
        e.on_transport_feedback(t0 + Duration::from_secs(2), &fb);
        assert_eq!(e.reason(), TargetReason::Initial);
    }

    use proptest::prelude::*;

    /// One step of an arbitrary caller.
    #[derive(Debug, Clone)]
    enum Op {
        /// Time passes (microseconds; zero allowed).
        Wait(u64),
        /// A packet leaves.
        Send(u16, usize),
        /// A run of packets leaves, consecutive sequence numbers.
        Burst(u16, u8, usize),
        /// Feedback with arbitrary contents.
        Feedback(Vec<(u16, Option<i64>)>),
        /// Plausible feedback: a run of sequence numbers with increasing arrivals from a base.
        Run(u16, u8, i64, u16, u8),
        /// A REMB.
        Remb(u64),
        /// A receiver report's loss.
        LossReport(u8, u32),
        /// Probe packets for a cluster (polled, requested or made up).
        Probe(u16, u8, u32, Option<u64>),
    }

    fn arrival() -> impl Strategy<Value = Option<i64>> {
        prop_oneof![
            Just(None),
            any::<i64>().prop_map(Some),
            (-10_000_000i64..10_000_000).prop_map(Some),
            Just(Some(i64::MAX)),
            Just(Some(i64::MIN)),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            prop_oneof![0u64..100_000, Just(0), Just(3_600_000_000)].prop_map(Op::Wait),
            (any::<u16>(), 0usize..100_000).prop_map(|(s, n)| Op::Send(s, n)),
            (any::<u16>(), any::<u8>(), 0usize..2000).prop_map(|(s, c, n)| Op::Burst(s, c, n)),
            prop::collection::vec((any::<u16>(), arrival()), 0..64).prop_map(Op::Feedback),
            (
                any::<u16>(),
                any::<u8>(),
                any::<i64>(),
                any::<u16>(),
                0u8..100
            )
                .prop_map(|(s, c, b, g, l)| Op::Run(s, c, b, g, l)),
            any::<u64>().prop_map(Op::Remb),
            (any::<u8>(), any::<u32>()).prop_map(|(f, n)| Op::LossReport(f, n)),
            (
                any::<u16>(),
                any::<u8>(),
                0u32..4,
                prop::option::of(any::<u64>())
            )
                .prop_map(|(s, c, id, r)| Op::Probe(s, c, id, r)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_feedback_keeps_the_target_in_bounds_and_state_bounded(
            ops in prop::collection::vec(op(), 1..120),
            min in 1u64..1_000_000,
            span in 0u64..50_000_000,
        ) {
            let config = BweConfig {
                min_bitrate: min,
                max_bitrate: min + span,
                start_bitrate: min + span / 3,
                max_history: 500,
                ..BweConfig::default()
            };
            let mut e = SendSideEstimator::new(config).unwrap();
            let mut now = Instant::now();
            let mut rng = 1u64;
            for op in ops {
                match op {
                    Op::Wait(us) => now += Duration::from_micros(us),
                    Op::Send(seq, size) => e.on_packet_sent(now, seq, size),
                    Op::Burst(seq, count, size) => {
                        for i in 0..count as u16 {
                            now += Duration::from_micros(500);
                            e.on_packet_sent(now, seq.wrapping_add(i), size);
                        }
                    }
                    Op::Feedback(packets) => {
                        let fb = TransportFeedback {
                            packets: packets
                                .into_iter()
                                .map(|(sequence, arrival_us)| PacketResult { sequence, arrival_us })
                                .collect(),
                        };
                        e.on_transport_feedback(now, &fb);
                    }
                    Op::Run(seq, count, base, gap, loss) => {
                        let mut at = base;
                        let packets = (0..count as u16)
                            .map(|i| {
                                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                                at = at.saturating_add(gap as i64);
                                let lost = (rng >> 33) % 100 < loss as u64;
                                PacketResult {
                                    sequence: seq.wrapping_add(i),
                                    arrival_us: (!lost).then_some(at),
                                }
                            })
                            .collect();
                        e.on_transport_feedback(now, &TransportFeedback { packets });
                    }
                    Op::Remb(bps) => e.on_remb(now, bps),
                    Op::LossReport(f, n) => e.on_loss_report(now, f, n),
                    Op::Probe(seq, count, id, request) => {
                        if let Some(r) = request {
                            e.request_probe(r);
                        }
                        let id = e.poll_probe(now).map_or(id, |c| c.id);
                        for i in 0..count as u16 {
                            now += Duration::from_micros(300);
                            e.on_probe_sent(now, seq.wrapping_add(i), 1000, id);
                        }
                    }
                }
                let t = e.target_bitrate();
                prop_assert!(t >= min && t <= min + span, "{t} outside [{min}, {}]", min + span);
                prop_assert!(e.history_len() <= 500);
                prop_assert!(e.acked.window.len() <= 4096);
                if let Some(rtt) = e.rtt() {
                    prop_assert!(rtt <= Duration::from_secs(10));
                }
            }
        }
    }
}
