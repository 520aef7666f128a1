//! The Opus, VP9, H.265 and AV1 payload formats: sansrtc beside webrtc-rs (`rtp` 0.17) on the
//! same frames in the same run. Packetizing: one frame into 1200-byte payloads. Depacketizing:
//! those payloads back into one frame (webrtc-rs returns each payload's media bytes, or for
//! H.265 the payload itself after parsing it; joining them is the frame assembly its sample
//! builder does, so its side does less work than ours, which rebuilds Annex B for H.265).
//! webrtc-rs has no AV1 depacketizer: that group measures ours alone.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rtp::packetizer::{Depacketizer, Payloader};
use sansrtc_rtp::packetize::Payloads;
use sansrtc_rtp::packetize::av1::{Av1Depacketizer, Av1Packetizer, write_leb128};
use sansrtc_rtp::packetize::h265::{H265Depacketizer, H265Packetizer};
use sansrtc_rtp::packetize::opus::{OpusDepacketizer, OpusPacketizer};
use sansrtc_rtp::packetize::vp9::{Vp9Depacketizer, Vp9Packetizer};

const MTU: usize = 1200;

/// A VP9 inter frame: an uncompressed header byte (frame_type 1) and 10 kB.
fn vp9_frame() -> Vec<u8> {
    let mut f = vec![0x86];
    f.extend((0..10_000).map(|i| (i % 251) as u8));
    f
}

/// An H.265 access unit: VPS, SPS, PPS and a 10 kB IDR slice, behind 4-byte start codes.
fn h265_access_unit() -> Vec<u8> {
    let mut au = vec![0, 0, 0, 1, 0x40, 0x01, 0x0C, 0x01, 0xFF, 0xFF, 0x01, 0x60];
    au.extend_from_slice(&[
        0, 0, 0, 1, 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90,
    ]);
    au.extend_from_slice(&[0, 0, 0, 1, 0x44, 0x01, 0xC1, 0x72, 0xB4, 0x62, 0x40]);
    au.extend_from_slice(&[0, 0, 0, 1, 0x26, 0x01]);
    au.extend((0..10_000).map(|i| (i % 250) as u8 + 1));
    au
}

/// An AV1 temporal unit: a temporal delimiter, a sequence header and a 10 kB frame OBU.
fn av1_temporal_unit() -> Vec<u8> {
    let mut tu = vec![
        0x12, 0x00, 0x0A, 0x0B, 0x00, 0x00, 0x00, 0x24, 0xCE, 0x3F, 0x8F, 0xFF, 0x00, 0x08, 0x10,
    ];
    tu.push(0x32);
    write_leb128(10_000, &mut tu);
    tu.push(0x10);
    tu.extend((1..10_000).map(|i| (i % 251) as u8));
    tu
}

fn packetize(c: &mut Criterion) {
    let mut payloads = Payloads::default();

    let frame = vp9_frame();
    let mut group = c.benchmark_group("packetize/vp9_10k");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    let mut ours = Vp9Packetizer::new(MTU);
    group.bench_function("sansrtc", |b| {
        b.iter(|| {
            ours.packetize(black_box(&frame), &mut payloads);
            payloads.len()
        })
    });
    let shared = Bytes::from(frame.clone());
    let mut theirs = rtp::codecs::vp9::Vp9Payloader::default();
    group.bench_function("webrtc-rs rtp", |b| {
        b.iter(|| theirs.payload(MTU, black_box(&shared)).unwrap().len())
    });
    group.finish();

    let au = h265_access_unit();
    let mut group = c.benchmark_group("packetize/h265_10k");
    group.throughput(Throughput::Bytes(au.len() as u64));
    let ours = H265Packetizer::new(MTU);
    group.bench_function("sansrtc", |b| {
        b.iter(|| {
            ours.packetize(black_box(&au), &mut payloads);
            payloads.len()
        })
    });
    let shared = Bytes::from(au.clone());
    let mut theirs = rtp::codecs::h265::HevcPayloader::default();
    group.bench_function("webrtc-rs rtp", |b| {
        b.iter(|| theirs.payload(MTU, black_box(&shared)).unwrap().len())
    });
    group.finish();

    let tu = av1_temporal_unit();
    let mut group = c.benchmark_group("packetize/av1_10k");
    group.throughput(Throughput::Bytes(tu.len() as u64));
    let mut ours = Av1Packetizer::new(MTU);
    group.bench_function("sansrtc", |b| {
        b.iter(|| {
            ours.packetize(black_box(&tu), &mut payloads).unwrap();
            payloads.len()
        })
    });
    let shared = Bytes::from(tu.clone());
    let mut theirs = rtp::codecs::av1::Av1Payloader::default();
    group.bench_function("webrtc-rs rtp", |b| {
        b.iter(|| theirs.payload(MTU, black_box(&shared)).unwrap().len())
    });
    group.finish();

    let packet: Vec<u8> = (0..160).map(|i| i as u8).collect();
    let mut group = c.benchmark_group("packetize/opus_160");
    group.throughput(Throughput::Bytes(packet.len() as u64));
    let ours = OpusPacketizer::new();
    group.bench_function("sansrtc", |b| {
        b.iter(|| {
            ours.packetize(black_box(&packet), &mut payloads);
            payloads.len()
        })
    });
    let shared = Bytes::from(packet.clone());
    let mut theirs = rtp::codecs::opus::OpusPayloader;
    group.bench_function("webrtc-rs rtp", |b| {
        b.iter(|| theirs.payload(MTU, black_box(&shared)).unwrap().len())
    });
    group.finish();
}

/// The payloads of `input` cut by `cut`, as owned vectors and as `Bytes`.
fn lists(cut: impl FnOnce(&mut Payloads)) -> (Vec<Vec<u8>>, Vec<Bytes>) {
    let mut payloads = Payloads::default();
    cut(&mut payloads);
    let list: Vec<Vec<u8>> = payloads.iter().map(<[u8]>::to_vec).collect();
    let bytes = list.iter().map(|p| Bytes::from(p.clone())).collect();
    (list, bytes)
}

/// Ours: every payload through `push`, the frame out of the last.
macro_rules! ours {
    ($group:expr, $list:expr, $make:expr) => {
        $group.bench_function("sansrtc", |b| {
            let mut d = $make;
            let mut seq = 0u16;
            b.iter(|| {
                let mut frame = None;
                let n = $list.len();
                for (i, p) in $list.iter().enumerate() {
                    frame = d.push(seq, i + 1 == n, black_box(p)).unwrap();
                    seq = seq.wrapping_add(1);
                }
                frame.unwrap().data.len()
            })
        });
    };
}

/// Theirs: every payload through `depacketize`, the bytes joined.
macro_rules! theirs {
    ($group:expr, $bytes:expr, $make:expr) => {
        $group.bench_function("webrtc-rs rtp", |b| {
            let mut d = $make;
            b.iter(|| {
                let mut frame = Vec::new();
                for p in &$bytes {
                    frame.extend_from_slice(&d.depacketize(black_box(p)).unwrap());
                }
                frame.len()
            })
        });
    };
}

fn depacketize(c: &mut Criterion) {
    let frame = vp9_frame();
    let (list, bytes) = lists(|p| Vp9Packetizer::new(MTU).packetize(&frame, p));
    let mut group = c.benchmark_group("depacketize/vp9_10k");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    ours!(group, list, Vp9Depacketizer::default());
    theirs!(group, bytes, rtp::codecs::vp9::Vp9Packet::default());
    group.finish();

    let au = h265_access_unit();
    let (list, bytes) = lists(|p| H265Packetizer::new(MTU).packetize(&au, p));
    let mut group = c.benchmark_group("depacketize/h265_10k");
    group.throughput(Throughput::Bytes(au.len() as u64));
    ours!(group, list, H265Depacketizer::default());
    theirs!(group, bytes, rtp::codecs::h265::H265Packet::default());
    group.finish();

    let tu = av1_temporal_unit();
    let (list, _) = lists(|p| Av1Packetizer::new(MTU).packetize(&tu, p).unwrap());
    let mut group = c.benchmark_group("depacketize/av1_10k");
    group.throughput(Throughput::Bytes(tu.len() as u64));
    ours!(group, list, Av1Depacketizer::default());
    group.finish();

    let packet: Vec<u8> = (0..160).map(|i| i as u8).collect();
    let (list, bytes) = lists(|p| OpusPacketizer::new().packetize(&packet, p));
    let mut group = c.benchmark_group("depacketize/opus_160");
    group.throughput(Throughput::Bytes(packet.len() as u64));
    ours!(group, list, OpusDepacketizer::default());
    theirs!(group, bytes, rtp::codecs::opus::OpusPacket);
    group.finish();
}

criterion_group!(benches, packetize, depacketize);
criterion_main!(benches);
