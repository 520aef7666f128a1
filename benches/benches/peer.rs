//! The whole peer connection in process, sansrtc beside str0m 0.25 (aws-lc-rs crypto) doing the
//! same work in the same run: two peers exchange datagrams in memory with a fake clock (see
//! `sansrtc_benches::peer`). Times are the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`),
//! so other work on a shared machine does not count; everything runs on that one thread.
//!
//! - `peer_setup`: offer -> answer -> ICE -> DTLS -> SCTP -> data channel open on both sides,
//!   certificates made once and reused by every connection (both stacks allow it).
//! - `peer_setup_fresh_certs`: the same with two certificates generated per setup, as each
//!   stack does when given none.
//! - `peer_setup_prebuilt`: the same as `peer_setup` without constructing the two peer objects
//!   (built outside the timing): negotiation and the handshakes only. str0m 0.25's constructor
//!   validates its crypto provider per connection (test key exchanges and signatures in dimpl's
//!   config builder), which is most of its setup cost.
//! - `peer_dc_16KiB`: 64 messages of 16 KiB (1 MiB) through one ordered reliable data channel
//!   (DTLS + SCTP); the sender writes a message whenever less than 16 KiB is buffered (str0m's
//!   fastest setting: sctp-proto's cost per packet grows with the queue).
//! - `peer_dc_16KiB_1MiB_buffered`: the same, keeping up to 1 MiB buffered (str0m's channel limit
//!   raised to 4 MiB for it).
//!
//! Memory per connection is measured by `--bench peer_memory`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use sansrtc_benches::peer::{Certs, SansrtcPair, Str0mPair, init_str0m};

/// CPU time of the measuring thread.
struct ThreadCpu;

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = ThreadTime;
    type Value = Duration;

    fn start(&self) -> ThreadTime {
        ThreadTime::now()
    }
    fn end(&self, start: ThreadTime) -> Duration {
        start.elapsed()
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

type Group<'a> = BenchmarkGroup<'a, ThreadCpu>;

fn setup_group(group: &mut Group<'_>, certs: Option<&Certs>) {
    group.throughput(Throughput::Elements(1));
    group.bench_function("sansrtc", |b| {
        b.iter_with_large_drop(|| SansrtcPair::setup(Instant::now(), black_box(certs)))
    });
    group.bench_function("str0m", |b| {
        b.iter_with_large_drop(|| Str0mPair::setup(Instant::now(), black_box(certs), None))
    });
}

fn setup(c: &mut Criterion<ThreadCpu>) {
    init_str0m();
    let certs = Certs::generate();
    let mut group = c.benchmark_group("peer_setup");
    setup_group(&mut group, Some(&certs));
    group.finish();
    let mut group = c.benchmark_group("peer_setup_fresh_certs");
    setup_group(&mut group, None);
    group.finish();
    let mut group = c.benchmark_group("peer_setup_prebuilt");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sansrtc", |b| {
        b.iter_batched(
            || SansrtcPair::new(Instant::now(), Some(&certs)),
            |mut p| {
                p.connect();
                p
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("str0m", |b| {
        b.iter_batched(
            || Str0mPair::new(Instant::now(), Some(&certs), None),
            |mut p| {
                p.connect();
                p
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn throughput_group(c: &mut Criterion<ThreadCpu>, name: &str, high_water: usize) {
    const COUNT: usize = 64;
    let msg = vec![0xA5u8; 16 * 1024];
    let certs = Certs::generate();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::BytesDecimal((COUNT * msg.len()) as u64));
    let mut pair = SansrtcPair::setup(Instant::now(), Some(&certs));
    group.bench_function("sansrtc", |b| {
        b.iter(|| pair.transfer(COUNT, black_box(&msg), high_water))
    });
    let mut pair = Str0mPair::setup(Instant::now(), Some(&certs), Some(4 * 1024 * 1024));
    group.bench_function("str0m", |b| {
        b.iter(|| pair.transfer(COUNT, black_box(&msg), high_water))
    });
    group.finish();
}

/// The media path through whole peer connections (`write_rtp` -> SRTP -> datagram -> the other
/// connection -> `Event::Rtp`, 1200 B payloads) beside the srtp crate alone doing the SRTP part of
/// the same packet (protect + unprotect in place), the work a stack cannot avoid.
fn media(c: &mut Criterion<ThreadCpu>) {
    use sansrtc::sdp::Direction;
    use sansrtc::srtp::Context;
    let certs = Certs::generate();
    let mut group = c.benchmark_group("peer_media_1200B");
    group.throughput(Throughput::Elements(1));
    let mut pair = SansrtcPair::new_with(Instant::now(), Some(&certs), |pc| {
        pc.add_transceiver(sansrtc::codecs::video_transceiver(Direction::SendRecv));
    });
    pair.connect();
    let now = pair.now;
    let [mut a, mut b] = pair.into_peers();
    let mid = a.media_mids().next().expect("video");
    let profile = a.srtp_profile().expect("SRTP up");
    let payload = [0x42u8; 1200];
    let mut ts = 0u32;
    group.bench_function("sansrtc_peer_connection", |bench| {
        bench.iter(|| {
            ts = ts.wrapping_add(3000);
            a.write_rtp(
                now,
                mid,
                sansrtc::RtpWrite::new(96, ts, black_box(&payload)),
            )
            .unwrap();
            while let Some(t) = a.poll_transmit() {
                b.handle_receive(now, t.source, t.destination, &t.contents);
            }
            while let Some(e) = b.poll_event() {
                black_box(e);
            }
        })
    });
    let key = [7u8; 32];
    let salt = [9u8; 14];
    let (k, s) = (&key[..profile.key_len()], &salt[..profile.salt_len()]);
    let mut tx = Context::new(profile, k, s, sansrtc::srtp::Config::default()).unwrap();
    let mut rx = Context::new(profile, k, s, sansrtc::srtp::Config::default()).unwrap();
    let mut packet = vec![0u8; 12 + 1200 + 16];
    let mut seq = 0u16;
    group.bench_function("srtp_crate_alone", |bench| {
        bench.iter(|| {
            seq = seq.wrapping_add(1);
            packet[..12].copy_from_slice(&[0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            packet[2..4].copy_from_slice(&seq.to_be_bytes());
            packet[12..1212].copy_from_slice(black_box(&payload));
            let n = tx.protect_rtp_in(&mut packet, 1212).unwrap();
            black_box(rx.unprotect_rtp_in(&mut packet[..n]).unwrap());
        })
    });
    group.finish();
}

fn throughput(c: &mut Criterion<ThreadCpu>) {
    throughput_group(c, "peer_dc_16KiB", 16 * 1024);
    throughput_group(c, "peer_dc_16KiB_1MiB_buffered", 1024 * 1024);
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = setup, throughput, media
}
criterion_main!(benches);
