//! A live association under attack: an association established with a deterministic in-memory
//! peer (built once, with data in flight both ways and a gap in what it received, then cloned
//! per input) receives arbitrary packets carrying its verification tag and a valid checksum,
//! interleaved with real traffic, its own sends and the passing of time. TSN-like fields of
//! the fuzzed chunks can be made relative to the live TSNs, so the input reaches
//! reassembly, SACK processing, FORWARD-TSN and stream reset deep in the state. Nothing may
//! panic, and the receive and send buffers stay within their bounds.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sansrtc_sctp::chunk::{Chunk, chunk_type};
use sansrtc_sctp::packet::{SctpPacket, finish_packet};
use sansrtc_sctp::{Association, Config, Event, Reliability, SeededRng, SendOptions, State};

#[derive(Clone)]
struct Fixture {
    now: Instant,
    /// The association under test.
    a: Association,
    /// Its peer.
    b: Association,
    /// Common header of packets to `a`: ports and `a`'s verification tag.
    header: [u8; 12],
    /// The next TSN `b` sends (so `a`'s cumulative point is near it) and `a`'s lowest
    /// unacknowledged TSN.
    peer_tsn: u32,
    own_tsn: u32,
}

fn data_tsns(p: &[u8]) -> Vec<u32> {
    SctpPacket::parse(p)
        .map(|p| {
            p.chunks()
                .filter_map(|c| match c {
                    Chunk::Data(d) => Some(d.tsn),
                    Chunk::IData(d) => Some(d.tsn),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn build(interleaving: bool) -> Fixture {
    let mut now = Instant::now();
    let mut rng = SeededRng::new(11);
    let mut config = Config::default();
    config.interleaving = interleaving;
    config.max_message_size = 64 * 1024;
    config.receive_window = 128 * 1024;
    config.max_buffered_amount = 256 * 1024;
    let mut a = Association::new(config.clone(), now, &mut rng);
    let mut b = Association::new(config, now, &mut rng);
    a.connect(now);
    b.connect(now);
    let mut header = [0u8; 12];
    for _ in 0..8 {
        while let Some(p) = a.poll_transmit(now) {
            b.handle_receive(now, &p);
        }
        while let Some(p) = b.poll_transmit(now) {
            header.copy_from_slice(&p[..12]);
            a.handle_receive(now, &p);
        }
    }
    assert_eq!(a.state(), State::Established);
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    // Some traffic both ways, settled.
    let reliable = SendOptions::default();
    for i in 0..4u16 {
        let _ = a.send(now, i, 53, vec![i as u8; 3000], reliable);
        let _ = b.send(now, i, 51, vec![i as u8; 100], reliable);
    }
    for _ in 0..8 {
        while let Some(p) = a.poll_transmit(now) {
            b.handle_receive(now, &p);
        }
        while let Some(p) = b.poll_transmit(now) {
            a.handle_receive(now, &p);
        }
        now += Duration::from_millis(250);
        a.handle_timeout(now);
        b.handle_timeout(now);
    }
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    // Then: `b` sends a fragmented message and two small ones, the first packet lost, so `a`
    // holds fragments above a gap; `a` sends data whose SACKs are lost, so it has chunks in
    // flight.
    let _ = b.send(now, 1, 53, vec![7u8; 5000], reliable);
    let mut pr = SendOptions::default();
    pr.reliability = Reliability::MaxRetransmits(1);
    let _ = b.send(now, 2, 53, vec![8u8; 10], pr);
    let _ = b.send(now, 3, 53, vec![9u8; 10], reliable);
    let mut peer_tsn = 0;
    let mut first = true;
    while let Some(p) = b.poll_transmit(now) {
        if let Some(t) = data_tsns(&p).last() {
            peer_tsn = t.wrapping_add(1);
        }
        if !first {
            a.handle_receive(now, &p);
        }
        first = false;
    }
    let _ = a.send(now, 0, 53, vec![1u8; 4000], reliable);
    let _ = a.send(now, 5, 53, vec![2u8; 10], pr);
    let mut own_tsn = 0;
    let mut first_own = true;
    while let Some(p) = a.poll_transmit(now) {
        if let Some(&t) = data_tsns(&p).first()
            && first_own
        {
            own_tsn = t;
            first_own = false;
        }
        b.handle_receive(now, &p);
    }
    // `b`'s answers (SACKs) are dropped.
    while b.poll_transmit(now).is_some() {}
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    Fixture {
        now,
        a,
        b,
        header,
        peer_tsn,
        own_tsn,
    }
}

fn fixture(interleaving: bool) -> &'static Fixture {
    static F: OnceLock<[Fixture; 2]> = OnceLock::new();
    &F.get_or_init(|| [build(false), build(true)])[interleaving as usize]
}

fn be32_add(b: &mut [u8], at: usize, base: u32) {
    if let Some(f) = b.get_mut(at..at + 4) {
        let v = u32::from_be_bytes([f[0], f[1], f[2], f[3]]).wrapping_add(base);
        f.copy_from_slice(&v.to_be_bytes());
    }
}

/// Adds the live TSNs to the TSN fields of the chunks in `chunks` (walked leniently).
fn make_relative(chunks: &mut [u8], peer_tsn: u32, own_tsn: u32) {
    let mut i = 0;
    while i + 4 <= chunks.len() {
        let len = u16::from_be_bytes([chunks[i + 2], chunks[i + 3]]) as usize;
        let base = match chunks[i] {
            chunk_type::DATA | chunk_type::I_DATA => Some(peer_tsn),
            chunk_type::FORWARD_TSN | chunk_type::I_FORWARD_TSN => Some(peer_tsn.wrapping_sub(1)),
            chunk_type::SACK | chunk_type::SHUTDOWN => Some(own_tsn.wrapping_sub(1)),
            _ => None,
        };
        if let Some(base) = base {
            be32_add(chunks, i + 4, base);
        }
        i += len.max(4).next_multiple_of(4);
    }
}

fn exchange(now: Instant, a: &mut Association, b: &mut Association, drop_from_b: bool) {
    for _ in 0..4 {
        while let Some(p) = a.poll_transmit(now) {
            b.handle_receive(now, &p);
        }
        while let Some(p) = b.poll_transmit(now) {
            if !drop_from_b {
                a.handle_receive(now, &p);
            }
        }
        while let Some(e) = b.poll_event() {
            // Delivered buffers go back to the pool, as a pooled application's would.
            if let Event::Message(m) = e {
                b.recycle(m.data);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let f = fixture(mode & 1 != 0);
    let mut now = f.now;
    let mut a = f.a.clone();
    let mut b = f.b.clone();
    let config = a.config().clone();
    let receive_bound = {
        let w = config.receive_window as usize;
        w + w / 4 + 65_536
    };
    // Records: [op, length] then `length` bytes.
    let mut steps = 0;
    while rest.len() >= 2 && steps < 48 {
        steps += 1;
        let (op, len) = (rest[0], rest[1] as usize);
        let body = &rest[2..];
        let (piece, tail) = body.split_at(len.min(body.len()));
        rest = tail;
        match op % 8 {
            // A forged packet, TSNs absolute or relative to the live ones.
            0..=3 => {
                let mut p = f.header.to_vec();
                p.extend_from_slice(piece);
                if op & 1 == 1 {
                    make_relative(&mut p[12..], f.peer_tsn, f.own_tsn);
                }
                finish_packet(&mut p, false);
                a.handle_receive(now, &p);
            }
            // We send.
            4 => {
                let stream = u16::from(piece.first().copied().unwrap_or(0) % 8);
                let size = 1 + (piece.len() * 97) % 6000;
                let mut options = SendOptions::default();
                options.unordered = op & 0x10 != 0;
                options.reliability = match op >> 5 {
                    0 => Reliability::MaxRetransmits(0),
                    1 => Reliability::MaxLifetime(Duration::from_millis(100)),
                    _ => Reliability::Reliable,
                };
                options.uncounted = false;
                // Held as given, or copied into a pooled buffer (from the second byte).
                if piece.get(1).is_some_and(|b| b & 1 == 1) {
                    let _ = a.send_from_slice(now, stream, 53, &vec![op; size], options);
                } else {
                    let _ = a.send(now, stream, 53, vec![op; size], options);
                }
            }
            // Real traffic, or traffic whose answers are lost.
            5 => exchange(now, &mut a, &mut b, op & 0x10 != 0),
            // Time passes.
            6 => {
                now += Duration::from_millis(u64::from(piece.first().copied().unwrap_or(1)) * 10);
                a.handle_timeout(now);
                b.handle_timeout(now);
            }
            // Streams reset, shutdown.
            _ => match piece.first().copied().unwrap_or(0) {
                0xFF => a.shutdown(now),
                s => a.reset_streams(&[u16::from(s % 8)]),
            },
        }
        // Our answers go nowhere, except during real traffic.
        while a.poll_transmit(now).is_some() {}
        while a.poll_event().is_some() {}
        assert!(
            a.receive_buffered() <= receive_bound,
            "{} > {receive_bound}",
            a.receive_buffered()
        );
        assert!(a.send_buffered() <= config.max_buffered_amount);
    }
});
