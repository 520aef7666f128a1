//! Memory per connected, idle peer connection, sansrtc beside str0m 0.25: builds 1,000 connected
//! pairs per stack (data channel open on both sides, then 10 s of simulated idle time so lazily
//! released handshake state is gone), keeps them alive, and reads the live heap bytes from a
//! counting global allocator. Per connection = (live heap with the pairs - live heap before) /
//! 2,000; the `Vec` holding the connections is allocated after the baseline, so each connection's
//! inline struct size is counted too. Certificates are made once and shared (an `Arc` for us,
//! a DER copy per connection for str0m, as its API takes them).
//!
//! Then the same with one audio and one video section negotiated (send-receive, no media sent).
//!
//! Run: `cargo bench -p sansrtc-benches --bench peer_memory` (`PAIRS=n` changes the count,
//! `MEDIA=0` or `MEDIA=1` runs only the data-only or only the media case, `STACK=sansrtc`
//! only ours, e.g. under a heap profiler, `DTLS=12` makes our connections DTLS 1.2 instead of
//! the default 1.3).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use sansrtc::dtls::endpoint::Versions;
use sansrtc::sdp::Direction;
use sansrtc_benches::peer::{ADDRS, Certs, SansrtcPair, Str0mPair, init_str0m};
use str0m::media::MediaKind;

/// The system allocator, counting live bytes and allocation calls.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY (the only unsafe code in this file): every call forwards to `System` with the caller's
// arguments unchanged; the counters are plain atomics.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const IDLE: Duration = Duration::from_secs(10);

struct Result {
    /// Live heap bytes per connection (inline struct included).
    per_connection: f64,
    /// Allocation calls per setup (both peers), during setup and idle time.
    allocs_per_pair: f64,
    /// Live heap bytes left after dropping everything (should be ~0).
    leaked: isize,
}

fn measure<P>(pairs: usize, mut make: impl FnMut() -> P) -> Result {
    drop(make()); // warm up lazily initialised statics (crypto providers, logging callsites)
    let before = LIVE.load(Relaxed);
    let allocs_before = ALLOCS.load(Relaxed);
    let mut kept = Vec::with_capacity(pairs);
    for _ in 0..pairs {
        kept.push(make());
    }
    let with = LIVE.load(Relaxed);
    let allocs = ALLOCS.load(Relaxed) - allocs_before;
    drop(kept);
    Result {
        per_connection: (with - before) as f64 / (2 * pairs) as f64,
        allocs_per_pair: allocs as f64 / pairs as f64,
        leaked: LIVE.load(Relaxed) - before,
    }
}

/// One stack's result and the size of its connection struct.
fn report(name: &str, r: &Result, inline: usize) {
    println!(
        "{name:>8}: {:>9.0} bytes per connection ({inline} inline), {:.0} allocations per \
         setup, {} bytes left after drop",
        r.per_connection, r.allocs_per_pair, r.leaked
    );
}

fn main() {
    let pairs: usize = std::env::var("PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    init_str0m();
    let certs = Certs::generate();
    let start = Instant::now();
    let only = std::env::var("MEDIA").ok();
    let dtls12 = std::env::var("DTLS").is_ok_and(|v| v == "12");
    for media in [false, true] {
        if only.as_deref().is_some_and(|m| (m == "1") != media) {
            continue;
        }
        let ours = measure(pairs, || {
            let mut p = SansrtcPair::new_configured(
                start,
                Some(&certs),
                ADDRS.map(|a| a.parse().expect("address")),
                |config| {
                    if dtls12 {
                        config.dtls_versions = Versions::Dtls12;
                    }
                },
                |pc| {
                    if media {
                        pc.add_transceiver(sansrtc::codecs::audio_transceiver(Direction::SendRecv));
                        pc.add_transceiver(sansrtc::codecs::video_transceiver(Direction::SendRecv));
                    }
                },
            );
            p.connect();
            p.idle(IDLE);
            let peers = p.into_peers();
            assert_eq!(peers[1].media_mids().count(), if media { 2 } else { 0 });
            peers
        });
        if std::env::var("STACK").is_ok_and(|s| s == "sansrtc") {
            report(
                "sansrtc",
                &ours,
                std::mem::size_of::<sansrtc::PeerConnection>(),
            );
            continue;
        }
        let theirs = measure(pairs, || {
            let mut p = Str0mPair::new(start, Some(&certs), None);
            if media {
                p.media = vec![MediaKind::Audio, MediaKind::Video];
            }
            p.connect();
            p.idle(IDLE);
            p.into_peers()
        });
        println!(
            "peer_memory: {pairs} connected idle pairs per stack (data channel open{}, {IDLE:?} \
             idle)",
            if media {
                ", one audio and one video section"
            } else {
                ""
            }
        );
        report(
            "sansrtc",
            &ours,
            std::mem::size_of::<sansrtc::PeerConnection>(),
        );
        report("str0m", &theirs, std::mem::size_of::<str0m::Rtc>());
        println!(
            "   ratio: str0m / sansrtc = {:.2}x",
            theirs.per_connection / ours.per_connection
        );
    }
}
