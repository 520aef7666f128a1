//! What a hostile datagram costs a live connection: CPU per datagram of each kind an attacker
//! can send (criterion, `--bench flood`), and the heap of a connection after a flood of each
//! (printed first, from a counting global allocator).
//!
//! Two sansrtc peers are connected in memory (audio + video + a data channel, fake clock, see
//! `sansrtc_benches::peer`); the offerer (the DTLS server) takes every hostile datagram, then its
//! output is drained. Two kinds of attacker:
//! - a *stranger* (another address): its DTLS, SRTP and SRTCP are dropped before any crypto
//!   (only paths validated by an authenticated ICE check reach them); its STUN is checked
//!   (HMAC-SHA1) and answered with a 401 (`Config::answer_unauthenticated_stun` silences that);
//! - a *spoofer* sending from the peer's own address: its datagrams reach DTLS and SRTP and fail
//!   authentication there (an AEAD open or HMAC per datagram).
//!
//! Goal (issue "Secure by composition"): no hostile datagram costs more than 5 us of CPU, and no
//! flood grows a connection past a documented bound.
//!
//! Run: `cargo bench -p sansrtc-benches --bench flood` (`FLOOD=n` datagrams per kind for the
//! memory part, default 100,000).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group};
use sansrtc::PeerConnection;
use sansrtc::ice::stun::{Attribute, IntegrityKey, MessageBuilder, MessageType, TransactionId};
use sansrtc::sdp::Direction;
use sansrtc_benches::peer::{ADDRS, Certs, SansrtcPair};

/// The system allocator, counting live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY (the only unsafe code in this file): every call forwards to `System` with the caller's
// arguments unchanged; the counter is a plain atomic.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const STRANGER: &str = "127.0.0.1:6666";

/// A hostile datagram kind: its name, where it comes from, and its bytes for the `i`th copy
/// (sequence numbers and ids vary, so replay checks and caches see new datagrams).
struct Kind {
    name: &'static str,
    spoofed: bool,
    make: fn(&Target, u32) -> Vec<u8>,
}

/// What the attacker knows of the target: its ICE ufrag (it is in the SDP the signalling
/// relayed), a ClientHello to replay, the SSRC of a stream it saw.
struct Target {
    ufrag: String,
    client_hello: Vec<u8>,
}

fn stun_check(t: &Target, i: u32) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let mut id = [7u8; 12];
    id[..4].copy_from_slice(&i.to_be_bytes());
    let mut b =
        MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId(id)).unwrap();
    let username = format!("{}:guess", t.ufrag);
    b.add(&Attribute::Username(&username)).unwrap();
    b.add(&Attribute::Priority(1_853_824_767)).unwrap();
    b.add(&Attribute::IceControlling(u64::from(i))).unwrap();
    b.add_message_integrity(&IntegrityKey::short_term("not-the-password-xxxxx"))
        .unwrap();
    b.add_fingerprint().unwrap();
    let n = b.finish();
    buf[..n].to_vec()
}

fn rtp(i: u32, len: usize) -> Vec<u8> {
    let mut p = vec![0x5Au8; len];
    p[..12].copy_from_slice(&[0x80, 96, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78]);
    p[2..4].copy_from_slice(&(i as u16).to_be_bytes());
    p[4..8].copy_from_slice(&(i * 3000).to_be_bytes());
    p
}

fn rtcp(i: u32) -> Vec<u8> {
    // An SR-looking compound, the E bit and an SRTCP index, then a tag.
    let mut p = vec![0u8; 52 + 4 + 10];
    p[..4].copy_from_slice(&[0x80, 200, 0, 6]);
    p[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    p[52..56].copy_from_slice(&(0x8000_0000 | i).to_be_bytes());
    p
}

/// An epoch-1 DTLS application data record of `len` bytes of garbage ciphertext.
fn dtls_app_data(i: u32, len: usize) -> Vec<u8> {
    let mut p = vec![0xA5u8; 13 + len];
    p[..3].copy_from_slice(&[23, 0xFE, 0xFD]);
    p[3..5].copy_from_slice(&1u16.to_be_bytes());
    p[5..11].copy_from_slice(&(u64::from(i) + 1_000_000).to_be_bytes()[2..]);
    p[11..13].copy_from_slice(&(len as u16).to_be_bytes());
    p
}

/// An epoch-0 handshake fragment of a huge ClientHello (declared 2^24 - 1 bytes) at a moving
/// offset: what a reassembler must not hoard.
fn dtls_fragment(i: u32) -> Vec<u8> {
    let body = 100usize;
    let mut p = vec![0u8; 13 + 12 + body];
    p[..3].copy_from_slice(&[22, 0xFE, 0xFD]);
    p[5..11].copy_from_slice(&(u64::from(i) + 5).to_be_bytes()[2..]);
    p[11..13].copy_from_slice(&((12 + body) as u16).to_be_bytes());
    let h = &mut p[13..25];
    h[0] = 1; // ClientHello
    h[1..4].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
    h[4..6].copy_from_slice(&((i % 4) as u16).to_be_bytes());
    let offset = (i.wrapping_mul(2_654_435_761) % 0xFF_FF00) & 0xFF_FFFF;
    h[6..9].copy_from_slice(&offset.to_be_bytes()[1..]);
    h[9..12].copy_from_slice(&(body as u32).to_be_bytes()[1..]);
    p
}

const KINDS: &[Kind] = &[
    Kind {
        name: "stranger_garbage_1200B",
        spoofed: false,
        make: |_, _| vec![0xFF; 1200],
    },
    Kind {
        name: "stranger_dtls_client_hello",
        spoofed: false,
        make: |t, _| t.client_hello.clone(),
    },
    Kind {
        name: "stranger_srtp_1200B",
        spoofed: false,
        make: |_, i| rtp(i, 1200),
    },
    Kind {
        name: "stranger_stun_bad_integrity",
        spoofed: false,
        make: stun_check,
    },
    Kind {
        name: "spoofed_stun_bad_integrity",
        spoofed: true,
        make: stun_check,
    },
    Kind {
        name: "spoofed_dtls_client_hello",
        spoofed: true,
        make: |t, _| t.client_hello.clone(),
    },
    Kind {
        name: "spoofed_dtls_app_data_1200B",
        spoofed: true,
        make: |_, i| dtls_app_data(i, 1200),
    },
    Kind {
        name: "spoofed_dtls_handshake_fragment",
        spoofed: true,
        make: |_, i| dtls_fragment(i),
    },
    Kind {
        name: "spoofed_srtp_1200B",
        spoofed: true,
        make: |_, i| rtp(i, 1200),
    },
    Kind {
        name: "spoofed_srtcp",
        spoofed: true,
        make: |_, i| rtcp(i),
    },
];

fn certs() -> &'static Certs {
    static C: std::sync::OnceLock<Certs> = std::sync::OnceLock::new();
    C.get_or_init(Certs::generate)
}

/// A connected pair with media and a data channel, idle for a few seconds (RTCP flowing).
fn connected() -> SansrtcPair {
    let mut pair = SansrtcPair::new_with(Instant::now(), Some(certs()), |pc| {
        pc.add_transceiver(sansrtc::codecs::audio_transceiver(Direction::SendRecv));
        pc.add_transceiver(sansrtc::codecs::video_transceiver(Direction::SendRecv));
    });
    pair.connect();
    pair.idle(Duration::from_secs(3));
    pair
}

fn target(pc: &PeerConnection) -> Target {
    let cert = Arc::new(sansrtc::dtls::Certificate::generate().unwrap());
    let mut c = sansrtc::dtls::Endpoint::client(
        sansrtc::dtls::Config::new(cert),
        Box::new(sansrtc::dtls::TestRng::new(7)),
    );
    c.connect(Instant::now());
    Target {
        ufrag: pc.local_ufrag().to_owned(),
        client_hello: c.poll_transmit().unwrap(),
    }
}

fn source(kind: &Kind) -> SocketAddr {
    if kind.spoofed {
        ADDRS[1].parse().unwrap()
    } else {
        STRANGER.parse().unwrap()
    }
}

/// Feeds one datagram to the offerer and drains what it answers.
fn hit(pc: &mut PeerConnection, now: Instant, from: SocketAddr, bytes: &[u8]) {
    let local: SocketAddr = ADDRS[0].parse().unwrap();
    pc.handle_receive(now, from, local, bytes);
    while let Some(t) = pc.poll_transmit() {
        black_box(t);
    }
    while let Some(e) = pc.poll_event() {
        black_box(e);
    }
}

/// Heap growth of a connection under a flood of each kind, printed.
fn memory_under_flood() {
    let count: u32 = std::env::var("FLOOD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    println!("heap growth of one connection after {count} hostile datagrams of each kind:");
    for kind in KINDS {
        let mut pair = connected();
        let t = target(&pair.pcs[0]);
        let datagrams: Vec<Vec<u8>> = (0..count).map(|i| (kind.make)(&t, i)).collect();
        let from = source(kind);
        let now = pair.now;
        let before = LIVE.load(Relaxed);
        for (i, d) in datagrams.iter().enumerate() {
            // 10 us apart: a flood of 100,000 datagrams per second.
            hit(
                &mut pair.pcs[0],
                now + Duration::from_micros(10 * i as u64),
                from,
                d,
            );
        }
        let after = LIVE.load(Relaxed);
        let state = pair.pcs[0].state();
        println!(
            "  {:<34} {:>+9} bytes  (state {:?}, dropped_unvalidated {})",
            kind.name,
            after - before,
            state,
            pair.pcs[0].stats().dropped_unvalidated
        );
        drop(datagrams);
    }
}

fn flood(c: &mut Criterion) {
    let mut group = c.benchmark_group("flood");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for kind in KINDS {
        let mut pair = connected();
        let t = target(&pair.pcs[0]);
        let from = source(kind);
        let start = pair.now;
        let mut i = 0u32;
        group.bench_function(kind.name, |b| {
            b.iter_batched_ref(
                || {
                    i = i.wrapping_add(1);
                    let now = start + Duration::from_micros(u64::from(i));
                    (now, (kind.make)(&t, i))
                },
                |(now, d)| hit(&mut pair.pcs[0], *now, from, d),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, flood);

fn main() {
    memory_under_flood();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
