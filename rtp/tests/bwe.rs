//! Send-side bandwidth estimation on the link simulator: media source -> pacer -> estimator
//! bookkeeping -> simulated bottleneck -> receiver building transport-cc feedback every 50 ms ->
//! back to the estimator. Fake clock only; every scenario runs over many seeds.
//!
//! Run with `--nocapture` to see the measured values per seed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sansrtc_rtp::bwe::sim::{Link, LinkConfig};
use sansrtc_rtp::bwe::{
    BweConfig, Pacer, PacerConfig, PacketClass, SendSideEstimator, TransportFeedback,
};
use sansrtc_rtp::rtcp::TransportCcBuilder;
use sansrtc_rtp::seq::SequenceUnwrapper;

const SEEDS: u64 = 20;
const FEEDBACK_INTERVAL: Duration = Duration::from_millis(50);
const SAMPLE: Duration = Duration::from_millis(10);
const MTU: usize = 1200;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A tiny generator for the media source's frame size variation.
struct Rand(u64);
impl Rand {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Flow {
    start: Duration,
    bwe: SendSideEstimator,
    pacer: Pacer<usize>,
    next_frame: Option<Instant>,
    next_seq: u16,
    rand: Rand,
    // receiver
    unwrapper: SequenceUnwrapper,
    arrivals: VecDeque<(u64, Instant)>,
    next_report: Option<u64>,
    next_feedback: Instant,
    feedback_count: u8,
    in_return: VecDeque<(Instant, TransportFeedback)>,
    // measurements
    targets: Vec<(Duration, u64)>,
    delivered: Vec<(Duration, usize)>,
}

struct Scenario {
    /// Capacity changes (time from start, bits/s); the first entry is the initial capacity.
    capacity: Vec<(Duration, u64)>,
    loss: f64,
    flows: Vec<Duration>,
    duration: Duration,
    /// The media source produces at most this much (an app-limited sender).
    app_limit: Option<u64>,
    /// How often the receiver sends feedback.
    feedback_interval: Duration,
    /// Whether the estimators ask for probe clusters.
    probing: bool,
}

struct Trace {
    flows: Vec<Flow>,
    /// (time, link queueing delay) every 10 ms.
    queue: Vec<(Duration, Duration)>,
    /// (arrival time, queueing delay) per delivered packet.
    packet_delays: Vec<(Duration, Duration)>,
}

fn arrival_feedback(flow: &mut Flow, t0: Instant) -> Option<TransportFeedback> {
    let first = flow.next_report?;
    let &(last, _) = flow.arrivals.back()?;
    let mut b = TransportCcBuilder::new();
    let units = |at: Instant| (at - t0).as_micros() as i64 / 250;
    let first_arrival = flow.arrivals.front()?.1;
    let reference = units(first_arrival) / 256;
    let mut clock = reference * 256;
    let mut it = flow.arrivals.iter().peekable();
    for seq in first..=last {
        match it.peek() {
            Some(&&(s, at)) if s == seq => {
                let u = units(at);
                b.received((u - clock) as i32).unwrap();
                clock = u;
                it.next();
            }
            _ => {
                b.lost();
            }
        }
    }
    let mut chunks = Vec::new();
    let fb = b
        .build(
            &mut chunks,
            1,
            2,
            first as u16,
            reference as u32,
            flow.feedback_count,
        )
        .unwrap();
    flow.feedback_count = flow.feedback_count.wrapping_add(1);
    flow.next_report = Some(last + 1);
    flow.arrivals.clear();
    Some(TransportFeedback::from_transport_cc(&fb))
}

fn run(s: &Scenario, seed: u64) -> Trace {
    run_with(s, seed, |_| {})
}

fn run_with(s: &Scenario, seed: u64, adjust: impl FnOnce(&mut LinkConfig)) -> Trace {
    let t0 = Instant::now();
    let (_, cap0) = s.capacity[0];
    let mut config = LinkConfig {
        capacity_bps: cap0,
        queue_bytes: 100_000,
        propagation: ms(25),
        jitter: ms(1),
        loss: s.loss,
        burst: None,
    };
    adjust(&mut config);
    let mut link = Link::new(config, seed);
    let mut flows: Vec<Flow> = s
        .flows
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let bwe = SendSideEstimator::new(BweConfig {
                probing: s.probing,
                ..BweConfig::default()
            })
            .unwrap();
            let target = bwe.target_bitrate();
            Flow {
                start,
                bwe,
                pacer: Pacer::new(PacerConfig::default(), target),
                next_frame: None,
                next_seq: 0,
                rand: Rand(seed * 1000 + i as u64),
                unwrapper: SequenceUnwrapper::new(),
                arrivals: VecDeque::new(),
                next_report: None,
                next_feedback: t0 + start + s.feedback_interval,
                feedback_count: 0,
                in_return: VecDeque::new(),
                targets: Vec::new(),
                delivered: Vec::new(),
            }
        })
        .collect();
    let mut steps: VecDeque<(Duration, u64)> = s.capacity[1..].iter().copied().collect();
    let mut queue = Vec::new();
    let mut packet_delays = Vec::new();
    let mut next_sample = t0;
    let trace_on = std::env::var("BWE_TRACE").is_ok_and(|v| v == seed.to_string());
    let end = t0 + s.duration;
    let mut now = t0;
    while now < end {
        // capacity steps
        while let Some(&(at, cap)) = steps.front() {
            if t0 + at > now {
                break;
            }
            link.set_capacity(now, cap);
            steps.pop_front();
        }
        for f in flows.iter_mut() {
            if now < t0 + f.start {
                continue;
            }
            // media: 30 frames per second of target/30 bits, +-30 %
            let frame_at = *f.next_frame.get_or_insert(now);
            if frame_at <= now {
                let rate = f.bwe.target_bitrate().min(s.app_limit.unwrap_or(u64::MAX));
                let bytes = (rate as f64 / 8.0 / 30.0 * (0.7 + 0.6 * f.rand.next_f64())) as usize;
                let mut left = bytes.max(100);
                while left > 0 {
                    let size = left.min(MTU);
                    left -= size;
                    let _ = f.pacer.enqueue(now, PacketClass::Video, size, size);
                }
                f.next_frame = Some(frame_at + Duration::from_nanos(1_000_000_000 / 30));
            }
            // feedback reaching the sender
            while f.in_return.front().is_some_and(|(at, _)| *at <= now) {
                let (_, fb) = f.in_return.pop_front().unwrap();
                f.bwe.on_transport_feedback(now, &fb);
                f.pacer.set_target(now, f.bwe.target_bitrate());
            }
            // probes asked for by the estimator
            if !f.pacer.probing() {
                if let Some(cluster) = f.bwe.poll_probe(now) {
                    f.pacer.probe(now, &cluster);
                }
            }
            // pacer -> link (media, then probe padding)
            loop {
                let (size, probe) = match f.pacer.poll_send(now) {
                    Some(p) => (p.size, p.probe),
                    None => match f.pacer.poll_padding(now, 1200) {
                        Some(pad) => (pad.size, Some(pad.probe)),
                        None => break,
                    },
                };
                let seq = f.next_seq;
                f.next_seq = seq.wrapping_add(1);
                match probe {
                    Some(cluster) => f.bwe.on_probe_sent(now, seq, size, cluster),
                    None => f.bwe.on_packet_sent(now, seq, size),
                }
                let id = ((f.start.as_millis() as u64) << 32) | seq as u64;
                let _ = link.send(now, size, id);
            }
        }
        // link -> receivers
        while let Some(d) = link.poll_delivered(now) {
            let start_ms = d.id >> 32;
            let Some(f) = flows
                .iter_mut()
                .find(|f| f.start.as_millis() as u64 == start_ms)
            else {
                continue;
            };
            let ext = f.unwrapper.unwrap(d.id as u16);
            f.next_report.get_or_insert(ext);
            f.arrivals.push_back((ext, d.arrival));
            f.delivered.push((d.arrival - t0, d.size));
            packet_delays.push((d.arrival - t0, d.queue_delay));
        }
        for f in flows.iter_mut() {
            if f.next_feedback <= now {
                f.next_feedback += s.feedback_interval;
                if let Some(fb) = arrival_feedback(f, t0) {
                    f.in_return.push_back((now + ms(25), fb));
                }
            }
        }
        if next_sample <= now {
            next_sample += SAMPLE;
            let q = link.queue_delay(now);
            queue.push((now - t0, q));
            if trace_on && (now - t0).as_millis() % 100 == 0 {
                let f = &flows[0];
                eprintln!(
                    "t={:>6} target={:>8} acked={:>8?} q={:>4}ms est_q={:>4}ms {:?} {:?} pacerq={}",
                    (now - t0).as_millis(),
                    f.bwe.target_bitrate(),
                    f.bwe.acknowledged_bitrate(),
                    q.as_millis(),
                    f.bwe.queue_delay().as_millis(),
                    f.bwe.reason(),
                    f.bwe.delay_state(),
                    f.pacer.queued_bytes()
                );
            }
            for f in flows.iter_mut() {
                f.targets.push((now - t0, f.bwe.target_bitrate()));
            }
        }
        // next event
        let mut next = next_sample.min(end);
        if let Some(&(at, _)) = steps.front() {
            next = next.min(t0 + at);
        }
        if let Some(at) = link.poll_timeout() {
            next = next.min(at);
        }
        for f in &flows {
            next = next.min(f.next_feedback.max(t0 + f.start));
            if let Some(at) = f.next_frame {
                next = next.min(at);
            }
            if let Some(at) = f.pacer.poll_timeout() {
                next = next.min(at);
            }
            if let Some((at, _)) = f.in_return.front() {
                next = next.min(*at);
            }
        }
        // every deadline above lies after `now` once its work is done; step anyway if not
        now = if next > now {
            next
        } else {
            now + Duration::from_micros(1)
        };
    }
    Trace {
        flows,
        queue,
        packet_delays,
    }
}

fn mean_target(f: &Flow, from: Duration, to: Duration) -> f64 {
    let v: Vec<f64> = f
        .targets
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|x| x.1 as f64)
        .collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn throughput(f: &Flow, from: Duration, to: Duration) -> f64 {
    let bytes: usize = f
        .delivered
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|x| x.1)
        .sum();
    bytes as f64 * 8.0 / (to - from).as_secs_f64()
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v.get(((v.len() as f64 - 1.0) * p) as usize)
        .copied()
        .unwrap_or_default()
}

/// One flow from the start, no loss, over a link whose capacity changes at the given times (the
/// first entry is the initial capacity), for `secs` seconds.
fn stepped(capacity: Vec<(Duration, u64)>, secs: u64) -> Scenario {
    Scenario {
        capacity,
        ..steady(0, 0.0, vec![Duration::ZERO], secs)
    }
}

fn steady(capacity: u64, loss: f64, flows: Vec<Duration>, secs: u64) -> Scenario {
    Scenario {
        capacity: vec![(Duration::ZERO, capacity)],
        loss,
        flows,
        duration: Duration::from_secs(secs),
        app_limit: None,
        feedback_interval: FEEDBACK_INTERVAL,
        probing: true,
    }
}

#[test]
fn ramp_up_from_300k_reaches_80_percent_of_2500k_within_3s() {
    // with probe clusters (the default), and with the startup phase alone
    for probing in [true, false] {
        let mut s = steady(2_500_000, 0.0, vec![Duration::ZERO], 5);
        s.probing = probing;
        let mut worst = Duration::ZERO;
        for seed in 0..SEEDS {
            let t = run(&s, seed);
            let reached = t.flows[0]
                .targets
                .iter()
                .find(|(_, r)| *r >= 2_000_000)
                .map(|x| x.0)
                .unwrap_or(Duration::MAX);
            eprintln!("ramp (probing {probing}) seed {seed}: 2 Mbit/s at {reached:?}");
            worst = worst.max(reached);
        }
        eprintln!("ramp (probing {probing}) worst: {worst:?}");
        assert!(worst <= Duration::from_secs(3), "{worst:?}");
    }
}

#[test]
fn steady_state_uses_the_link_with_little_queueing() {
    let s = steady(2_500_000, 0.0, vec![Duration::ZERO], 30);
    let (mut worst_util, mut worst_p95) = (f64::MAX, Duration::ZERO);
    for seed in 0..SEEDS {
        let t = run(&s, seed);
        let util = throughput(
            &t.flows[0],
            Duration::from_secs(10),
            Duration::from_secs(30),
        ) / 2_500_000.0;
        let delays = t
            .packet_delays
            .iter()
            .filter(|(at, _)| *at >= Duration::from_secs(10))
            .map(|x| x.1)
            .collect();
        let p95 = percentile(delays, 0.95);
        eprintln!("steady seed {seed}: utilization {util:.3}, p95 queueing {p95:?}");
        worst_util = worst_util.min(util);
        worst_p95 = worst_p95.max(p95);
    }
    eprintln!("steady worst: utilization {worst_util:.3}, p95 queueing {worst_p95:?}");
    assert!(worst_util >= 0.85, "{worst_util}");
    assert!(worst_p95 <= ms(60), "{worst_p95:?}");
}

#[test]
fn step_down_to_500k_is_followed_and_the_queue_drains() {
    let step = Duration::from_secs(10);
    let s = stepped(vec![(Duration::ZERO, 2_500_000), (step, 500_000)], 16);
    let (mut worst_below, mut worst_drain) = (Duration::ZERO, Duration::ZERO);
    let mut worst_later = Duration::ZERO;
    for seed in 0..SEEDS {
        let t = run(&s, seed);
        let below = t.flows[0]
            .targets
            .iter()
            .find(|(at, r)| *at >= step && *r < 500_000)
            .map(|x| x.0 - step)
            .unwrap_or(Duration::MAX);
        // 100 ms means of the link queueing delay (sampled every 10 ms): a single frame burst
        // into a 500 kbit/s link alone queues about 30 ms, so single samples would measure the
        // frame, not the standing queue
        let windows: Vec<(Duration, Duration)> = t
            .queue
            .iter()
            .filter(|(at, _)| *at >= step)
            .collect::<Vec<_>>()
            .chunks(10)
            .map(|w| {
                let mean = w.iter().map(|x| x.1).sum::<Duration>() / w.len() as u32;
                (w[w.len() - 1].0 - step + SAMPLE, mean)
            })
            .collect();
        // the standing queue peaks in the first 3 s; drained = first window after the peak
        // with a mean under 50 ms
        let peak = windows
            .iter()
            .take(30)
            .enumerate()
            .max_by_key(|(_, w)| w.1)
            .map_or(0, |(i, _)| i);
        let drain = windows[peak..]
            .iter()
            .find(|w| w.1 < ms(50))
            .map_or(Duration::MAX, |w| w.0);
        let later = windows
            .iter()
            .filter(|w| w.0 > Duration::from_secs(3))
            .map(|w| w.1)
            .max()
            .unwrap_or_default();
        worst_later = worst_later.max(later);
        eprintln!(
            "step seed {seed}: below capacity after {below:?}, queue < 50 ms after {drain:?}, later 100 ms means up to {later:?}"
        );
        worst_below = worst_below.max(below);
        worst_drain = worst_drain.max(drain);
    }
    eprintln!(
        "step worst: below {worst_below:?}, drained {worst_drain:?}, later means {worst_later:?}"
    );
    assert!(worst_below <= Duration::from_secs(1), "{worst_below:?}");
    assert!(worst_drain <= Duration::from_secs(2), "{worst_drain:?}");
}

#[test]
fn random_loss_of_5_percent_does_not_hold_the_estimate_down() {
    let s = steady(2_500_000, 0.05, vec![Duration::ZERO], 30);
    let mut worst = f64::MAX;
    for seed in 0..SEEDS {
        let t = run(&s, seed);
        let share = mean_target(
            &t.flows[0],
            Duration::from_secs(10),
            Duration::from_secs(30),
        ) / 2_500_000.0;
        eprintln!("loss seed {seed}: mean target {share:.3} of capacity");
        worst = worst.min(share);
    }
    eprintln!("loss worst: {worst:.3}");
    assert!(worst >= 0.70, "{worst}");
}

#[test]
fn two_flows_share_the_bottleneck() {
    let (mut lo, mut hi) = (f64::MAX, 0.0f64);
    for seed in 0..SEEDS {
        // frames of the second flow 1 ms after the first's (aligned clocks), and at a
        // seed-dependent phase
        for offset in [ms(1), ms(2 + (seed * 7 + 5) % 31)] {
            let s = steady(2_500_000, 0.0, vec![Duration::ZERO, offset], 40);
            let t = run(&s, seed);
            let a = throughput(
                &t.flows[0],
                Duration::from_secs(20),
                Duration::from_secs(40),
            );
            let b = throughput(
                &t.flows[1],
                Duration::from_secs(20),
                Duration::from_secs(40),
            );
            let share = a / (a + b);
            eprintln!(
                "two flows seed {seed} offset {offset:?}: shares {share:.3} / {:.3}, total {:.3} of capacity",
                1.0 - share,
                (a + b) / 2_500_000.0
            );
            lo = lo.min(share.min(1.0 - share));
            hi = hi.max(share.max(1.0 - share));
        }
    }
    eprintln!("two flows: shares within [{lo:.3}, {hi:.3}]");
    assert!(lo >= 0.35 && hi <= 0.65, "{lo} {hi}");
}

#[test]
fn more_scenarios_measured() {
    // not issue goals: measured and bounded so a regression shows
    let mut worst_up = Duration::ZERO;
    let mut worst_low = (0.0f64, Duration::ZERO);
    let mut worst_jitter = (f64::MAX, Duration::ZERO);
    let mut worst_burst = f64::MAX;
    for seed in 0..SEEDS {
        // step up 500 kbit/s -> 2.5 Mbit/s at 10 s: time to 80 % of the new capacity
        let s = stepped(
            vec![
                (Duration::ZERO, 500_000),
                (Duration::from_secs(10), 2_500_000),
            ],
            40,
        );
        let t = run(&s, seed);
        let up = t.flows[0]
            .targets
            .iter()
            .find(|(at, r)| *at >= Duration::from_secs(10) && *r >= 2_000_000)
            .map_or(Duration::MAX, |x| x.0 - Duration::from_secs(10));
        worst_up = worst_up.max(up);
        // a 200 kbit/s link, below the 300 kbit/s start
        let s = steady(200_000, 0.0, vec![Duration::ZERO], 20);
        let t = run(&s, seed);
        let over =
            mean_target(&t.flows[0], Duration::from_secs(5), Duration::from_secs(20)) / 200_000.0;
        let p95 = percentile(
            t.packet_delays
                .iter()
                .filter(|(at, _)| *at >= Duration::from_secs(5))
                .map(|x| x.1)
                .collect(),
            0.95,
        );
        worst_low = (worst_low.0.max(over), worst_low.1.max(p95));
        // 10 ms of jitter
        let s = steady(2_500_000, 0.0, vec![Duration::ZERO], 30);
        let t = run_with(&s, seed, |c| c.jitter = ms(10));
        let util = throughput(
            &t.flows[0],
            Duration::from_secs(10),
            Duration::from_secs(30),
        ) / 2_500_000.0;
        let p95j = percentile(
            t.packet_delays
                .iter()
                .filter(|(at, _)| *at >= Duration::from_secs(10))
                .map(|x| x.1)
                .collect(),
            0.95,
        );
        worst_jitter = (worst_jitter.0.min(util), worst_jitter.1.max(p95j));
        // bursty loss: about 5 % of packets in bursts of 5 on average
        let t = run_with(&s, seed, |c| {
            c.burst = Some(sansrtc_rtp::bwe::sim::BurstLoss {
                good_to_bad: 0.01,
                bad_to_good: 0.2,
                loss_in_bad: 1.0,
            })
        });
        let share = mean_target(
            &t.flows[0],
            Duration::from_secs(10),
            Duration::from_secs(30),
        ) / 2_500_000.0;
        worst_burst = worst_burst.min(share);
        eprintln!(
            "more seed {seed}: step-up to 2 Mbit/s in {up:?}; 200k link: mean target {over:.2}x, p95 queue {p95:?}; 10 ms jitter: utilization {util:.3}, p95 queue {p95j:?}; burst loss: mean target {share:.3}"
        );
    }
    eprintln!(
        "more worst: step-up {worst_up:?}; 200k link {:.2}x p95 {:?}; jitter util {:.3} p95 {:?}; burst loss {worst_burst:.3}",
        worst_low.0, worst_low.1, worst_jitter.0, worst_jitter.1
    );
    // app-limited: the source sends 600 kbit/s on a 2.5 Mbit/s link; feedback every 100 ms
    let (mut worst_app, mut worst_fb) = (0u64, (f64::MAX, Duration::ZERO));
    for seed in 0..SEEDS {
        let mut s = steady(2_500_000, 0.0, vec![Duration::ZERO], 20);
        s.app_limit = Some(600_000);
        let t = run(&s, seed);
        let top = t.flows[0].targets.iter().map(|x| x.1).max().unwrap_or(0);
        worst_app = worst_app.max(top);
        let mut s = steady(2_500_000, 0.0, vec![Duration::ZERO], 30);
        s.feedback_interval = ms(100);
        let t = run(&s, seed);
        let util = throughput(
            &t.flows[0],
            Duration::from_secs(10),
            Duration::from_secs(30),
        ) / 2_500_000.0;
        let p95 = percentile(
            t.packet_delays
                .iter()
                .filter(|(at, _)| *at >= Duration::from_secs(10))
                .map(|x| x.1)
                .collect(),
            0.95,
        );
        worst_fb = (worst_fb.0.min(util), worst_fb.1.max(p95));
        eprintln!(
            "more seed {seed}: app-limited at 600k: highest target {top}; feedback every 100 ms: utilization {util:.3}, p95 queue {p95:?}"
        );
    }
    eprintln!("more worst: app-limited highest target {worst_app}; 100 ms feedback {worst_fb:?}");
    // bounds a little outside the measured worst cases (see the report in notes/)
    assert!(worst_up <= Duration::from_secs(6), "{worst_up:?}");
    assert!(worst_low.0 <= 1.0 && worst_low.1 <= ms(60), "{worst_low:?}");
    assert!(
        worst_jitter.0 >= 0.85 && worst_jitter.1 <= ms(60),
        "{worst_jitter:?}"
    );
    assert!(worst_burst >= 0.6, "{worst_burst}");
    // an app-limited sender's target never runs past the link: it grows with what gets
    // through (1.5 x acknowledged + 10 kbit/s) and with probes, which measure the link itself
    assert!(worst_app <= 2_750_000, "{worst_app}");
    assert!(worst_fb.0 >= 0.85 && worst_fb.1 <= ms(60), "{worst_fb:?}");
}

/// The plot in `docs/bwe-estimate.svg`: one flow from the 300 kbit/s start on a 2.5 Mbit/s link
/// that steps down to 500 kbit/s at 10 s and back up at 20 s (seed 1): capacity, the estimator's
/// target, the bytes delivered per 250 ms and the link's queueing delay, over time. The test
/// fails when the committed picture no longer matches what the estimator does;
/// `scripts/plot-bwe` redraws it.
#[test]
fn the_documented_estimate_plot_is_current() {
    let s = stepped(
        vec![
            (Duration::ZERO, 2_500_000),
            (Duration::from_secs(10), 500_000),
            (Duration::from_secs(20), 2_500_000),
        ],
        30,
    );
    let t = run(&s, 1);
    let svg = estimate_plot(&s, &t);
    // the picture shows what the goals assert: near capacity before the step, below it after
    let f = &t.flows[0];
    assert!(mean_target(f, Duration::from_secs(5), Duration::from_secs(10)) > 2_000_000.0);
    assert!(mean_target(f, Duration::from_secs(12), Duration::from_secs(20)) < 550_000.0);
    let up = f
        .targets
        .iter()
        .find(|(at, r)| *at >= Duration::from_secs(20) && *r >= 2_000_000)
        .map_or(Duration::MAX, |x| x.0 - Duration::from_secs(20));
    let peak = t.queue.iter().map(|q| q.1).max().unwrap_or_default();
    eprintln!("plot: 2 Mbit/s again {up:?} after the step up; queue peak {peak:?}");
    assert_eq!(
        svg.matches("<polyline").count(),
        4,
        "capacity, target, delivered, queue"
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/bwe-estimate.svg");
    if std::env::var_os("SANSRTC_WRITE_PLOT").is_some() {
        std::fs::write(path, &svg).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == svg,
        "docs/bwe-estimate.svg is out of date: run scripts/plot-bwe"
    );
}

/// An SVG line chart of a one-flow trace: bit rates (top panel) and queueing delay (bottom).
fn estimate_plot(s: &Scenario, t: &Trace) -> String {
    use std::fmt::Write;
    const W: f64 = 900.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 20.0;
    const TOP: (f64, f64) = (40.0, 300.0); // top panel's y range on the page
    const BOTTOM: (f64, f64) = (340.0, 460.0);
    const MAX_RATE: f64 = 3_000_000.0;
    let secs = s.duration.as_secs_f64();
    let x = |at: Duration| LEFT + at.as_secs_f64() / secs * (W - LEFT - RIGHT);
    let y_rate = |bps: f64| TOP.1 - bps.min(MAX_RATE) / MAX_RATE * (TOP.1 - TOP.0);
    let max_queue_ms = t
        .queue
        .iter()
        .map(|q| q.1.as_secs_f64() * 1000.0)
        .fold(50.0f64, f64::max)
        .ceil();
    let y_queue =
        |d: Duration| BOTTOM.1 - d.as_secs_f64() * 1000.0 / max_queue_ms * (BOTTOM.1 - BOTTOM.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="500" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="20" font-size="14">sansrtc send-side estimate on the link simulator (seed 1, 25 ms propagation, 100 kB queue)</text>"#
    );
    // axes and grid
    for mbps in 0..=3 {
        let y = y_rate(mbps as f64 * 1e6);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{mbps} Mbit/s</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    for (i, ms_label) in [0.0, max_queue_ms / 2.0, max_queue_ms].iter().enumerate() {
        let y = BOTTOM.1 - i as f64 / 2.0 * (BOTTOM.1 - BOTTOM.0);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{ms_label:.0} ms</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    for sec in (0..=s.duration.as_secs()).step_by(5) {
        let px = x(Duration::from_secs(sec));
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" x2="{px:.1}" y1="{}" y2="{}" stroke="#eee"/><text x="{px:.1}" y="480" text-anchor="middle">{sec} s</text>"##,
            TOP.0, BOTTOM.1
        );
    }
    let mut polyline = |points: Vec<(f64, f64)>, color: &str, width: f64| {
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="{width}" points=""#
        );
        for (px, py) in points {
            let _ = write!(out, "{px:.1},{py:.1} ");
        }
        let _ = writeln!(out, r#""/>"#);
    };
    // capacity: a step function
    let mut cap = Vec::new();
    for (i, &(at, bps)) in s.capacity.iter().enumerate() {
        let until = s.capacity.get(i + 1).map_or(s.duration, |n| n.0);
        cap.push((x(at), y_rate(bps as f64)));
        cap.push((x(until), y_rate(bps as f64)));
    }
    polyline(cap, "#888", 3.0);
    // delivered bytes per 250 ms
    let f = &t.flows[0];
    let bin = Duration::from_millis(250);
    let bins = (s.duration.as_millis() / bin.as_millis()) as u32;
    let delivered = (0..bins)
        .map(|i| {
            let from = bin * i;
            (x(from + bin / 2), y_rate(throughput(f, from, from + bin)))
        })
        .collect();
    polyline(delivered, "#2a9d8f", 1.5);
    // the estimator's target, every 10 ms
    let target = f
        .targets
        .iter()
        .map(|&(at, bps)| (x(at), y_rate(bps as f64)))
        .collect();
    polyline(target, "#e76f51", 2.0);
    // link queueing delay, every 10 ms
    let queue = t.queue.iter().map(|&(at, d)| (x(at), y_queue(d))).collect();
    polyline(queue, "#264653", 1.0);
    // legend
    for (i, (color, label)) in [
        ("#888", "link capacity"),
        ("#e76f51", "estimate (target bit rate)"),
        ("#2a9d8f", "delivered (per 250 ms)"),
        ("#264653", "queueing delay (bottom)"),
    ]
    .iter()
    .enumerate()
    {
        let lx = LEFT + 10.0 + i as f64 * 200.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" x2="{}" y1="32" y2="32" stroke="{color}" stroke-width="3"/><text x="{}" y="36">{label}</text>"#,
            lx + 20.0,
            lx + 25.0
        );
    }
    let _ = writeln!(out, "</svg>");
    out
}
