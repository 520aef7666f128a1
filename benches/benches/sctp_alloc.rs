//! Heap allocations per data-channel message in steady state. Two sansrtc-sctp endpoints joined in
//! memory (fake clock, no loss, default configuration) exchange messages both ways on one
//! reliable ordered channel, in rounds of a few messages each way (16 of 100 bytes, 2 of 16 KiB:
//! what is in flight must fit the pool, `Config::max_pooled_bytes`, 128 KiB by default); after a
//! warm-up, a counting global allocator counts the allocation calls (and reallocations) made
//! while `MESSAGES` more go each way.
//!
//! Two ways of driving the same endpoints:
//!
//! - **pooled**: the allocation-free API: `send_from_slice` (copies into a recycled buffer),
//!   `poll_transmit_into` with one reused packet buffer, and every delivered message's buffer
//!   handed back with `recycle`;
//! - **allocating**: the convenience API: `send` of a fresh `Vec`, `poll_transmit` (a `Vec` per
//!   packet), delivered messages dropped.
//!
//! Prints allocations per message (sent one way and received the other counts once) and asserts
//! that the pooled API makes none, for 100-byte and 16 KiB messages.
//!
//! Run: `cargo bench -p sansrtc-benches --bench sctp_alloc` (`MESSAGES=n` changes the count).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use sansrtc_sctp::{
    ChannelConfig, DataChannelEndpoint, DataChannelEvent, DtlsRole, EndpointConfig, SeededRng,
};

/// The system allocator, counting allocation calls (reallocations included).
struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY (the only unsafe code in this file): every call forwards to `System` with the caller's
// arguments unchanged; the counter is a plain atomic.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    Pooled,
    Allocating,
}

struct Pair {
    now: Instant,
    e: [DataChannelEndpoint; 2],
    channel: u16,
    /// The packet buffer reused for every packet (pooled API).
    packet: Vec<u8>,
    received: [usize; 2],
    received_bytes: [usize; 2],
}

impl Pair {
    fn new() -> Pair {
        let now = Instant::now();
        let mut rng = SeededRng::new(1);
        let a = DataChannelEndpoint::new(EndpointConfig::new(DtlsRole::Client), now, &mut rng);
        let b = DataChannelEndpoint::new(EndpointConfig::new(DtlsRole::Server), now, &mut rng);
        let mut p = Pair {
            now,
            e: [a, b],
            channel: 0,
            packet: Vec::with_capacity(1500),
            received: [0; 2],
            received_bytes: [0; 2],
        };
        p.e[0].connect(now);
        p.e[1].connect(now);
        p.channel = p.e[0]
            .open_channel(now, ChannelConfig::reliable("alloc"))
            .expect("the channel opens");
        p.pump(Api::Pooled, [0, 0]);
        p
    }

    /// Moves packets and events until each side received `target` messages and nothing moves;
    /// advances the fake clock to the next deadline (delayed SACK) when idle.
    fn pump(&mut self, api: Api, target: [usize; 2]) {
        loop {
            let mut moved = false;
            for i in 0..2 {
                let (from, to) = match i {
                    0 => {
                        let [a, b] = &mut self.e;
                        (a, b)
                    }
                    _ => {
                        let [a, b] = &mut self.e;
                        (b, a)
                    }
                };
                match api {
                    Api::Pooled => {
                        while from.poll_transmit_into(self.now, &mut self.packet) {
                            to.handle_receive(self.now, &self.packet);
                            moved = true;
                        }
                    }
                    Api::Allocating => {
                        while let Some(p) = from.poll_transmit(self.now) {
                            to.handle_receive(self.now, &p);
                            moved = true;
                        }
                    }
                }
            }
            for i in 0..2 {
                while let Some(ev) = self.e[i].poll_event() {
                    if let DataChannelEvent::Message { data, .. } = ev {
                        self.received[i] += 1;
                        self.received_bytes[i] += data.len();
                        if api == Api::Pooled {
                            self.e[i].recycle(data);
                        }
                    }
                }
            }
            let done = self.received[0] >= target[0] && self.received[1] >= target[1];
            if done && !moved {
                return;
            }
            if !moved {
                let Some(t) = self.e.iter().filter_map(|e| e.poll_timeout()).min() else {
                    return;
                };
                self.now = self.now.max(t) + Duration::from_micros(1);
                for e in &mut self.e {
                    e.handle_timeout(self.now);
                }
            }
        }
    }

    /// Sends `count` messages of `message` each way, `batch` at a time.
    fn exchange(&mut self, api: Api, message: &[u8], count: usize, batch: usize) {
        let mut sent = 0;
        while sent < count {
            let n = batch.min(count - sent);
            for _ in 0..n {
                for e in &mut self.e {
                    match api {
                        Api::Pooled => e.send_from_slice(self.now, self.channel, message, true),
                        Api::Allocating => e.send(self.now, self.channel, message.to_vec(), true),
                    }
                    .expect("the channel takes the message");
                }
            }
            sent += n;
            let target = [self.received[0] + n, self.received[1] + n];
            self.pump(api, target);
        }
    }
}

/// Allocation calls per message (one message = sent by one side and received by the other)
/// while `count` messages of `size` bytes go each way, `batch` per round, after a warm-up.
fn measure(api: Api, size: usize, batch: usize, count: usize) -> f64 {
    let mut pair = Pair::new();
    let message = vec![0xA5u8; size];
    pair.exchange(api, &message, 1000, batch);
    let before_received = pair.received;
    let before = ALLOCS.load(Relaxed);
    pair.exchange(api, &message, count, batch);
    let allocs = ALLOCS.load(Relaxed) - before;
    assert_eq!(
        [
            pair.received[0] - before_received[0],
            pair.received[1] - before_received[1]
        ],
        [count, count]
    );
    assert_eq!(
        pair.received_bytes,
        [pair.received[0] * size, pair.received[1] * size]
    );
    allocs as f64 / (2 * count) as f64
}

fn main() {
    // `cargo bench` passes `--bench`; a filter, if any, is ignored.
    let count: usize = std::env::var("MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    println!("allocations per message, {count} messages each way after 1000");
    println!(
        "{:>10} {:>10} {:>12} {:>12}",
        "size", "per round", "pooled", "allocating"
    );
    for (size, batch) in [(100, 16), (16 * 1024, 2)] {
        let pooled = measure(Api::Pooled, size, batch, count);
        let allocating = measure(Api::Allocating, size, batch, count);
        println!("{size:>10} {batch:>10} {pooled:>12.3} {allocating:>12.3}");
        assert_eq!(
            pooled, 0.0,
            "the pooled API allocated in steady state ({size}-byte messages)"
        );
    }
}
