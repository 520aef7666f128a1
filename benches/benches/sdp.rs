//! SDP parse and write of a real Chromium audio+video+data offer (generated on this machine by headless
//! Chromium, see sdp/tests/gen-corpus.sh), beside Mozilla's `webrtc-sdp` (Firefox's parser) and
//! webrtc-rs' `sdp`, on the same bytes in the same run. Instruction counts of the same cases:
//! `scripts/sdp-instructions` (examples/sdp_instructions.rs).

use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, criterion_group, criterion_main};

const OFFER: &str = include_str!("../../sdp/tests/corpus/chromium-av-offer.sdp");

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("sdp_parse");
    g.throughput(criterion::Throughput::Bytes(OFFER.len() as u64));
    g.bench_function("sansrtc", |b| {
        b.iter(|| sansrtc_sdp::SessionDescription::parse(black_box(OFFER)).unwrap())
    });
    // An owned description (what the other two crates build): the input copied once into a
    // buffer shared by every piece of text.
    g.bench_function("sansrtc_owned", |b| {
        b.iter(|| sansrtc_sdp::SessionDescription::parse_owned(black_box(OFFER)).unwrap())
    });
    // The same through the borrowed parse and `into_owned` (an allocation per piece of text).
    g.bench_function("sansrtc_into_owned", |b| {
        b.iter(|| {
            sansrtc_sdp::SessionDescription::parse(black_box(OFFER))
                .unwrap()
                .into_owned()
        })
    });
    g.bench_function("webrtc-sdp", |b| {
        b.iter(|| webrtc_sdp::parse_sdp(black_box(OFFER), false).unwrap())
    });
    g.bench_function("webrtc-rs_sdp", |b| {
        b.iter(|| {
            let mut reader = Cursor::new(black_box(OFFER).as_bytes());
            sdp::description::session::SessionDescription::unmarshal(&mut reader).unwrap()
        })
    });
    g.finish();
}

fn write(c: &mut Criterion) {
    let ours = sansrtc_sdp::SessionDescription::parse(OFFER).unwrap();
    let mozilla = webrtc_sdp::parse_sdp(OFFER, false).unwrap();
    let webrtc_rs = sdp::description::session::SessionDescription::unmarshal(&mut Cursor::new(
        OFFER.as_bytes(),
    ))
    .unwrap();
    let mut g = c.benchmark_group("sdp_write");
    g.throughput(criterion::Throughput::Bytes(OFFER.len() as u64));
    g.bench_function("sansrtc", |b| b.iter(|| black_box(&ours).to_sdp_string()));
    g.bench_function("webrtc-sdp", |b| b.iter(|| black_box(&mozilla).to_string()));
    g.bench_function("webrtc-rs_sdp", |b| {
        b.iter(|| black_box(&webrtc_rs).marshal())
    });
    g.finish();
}

criterion_group!(benches, parse, write);
criterion_main!(benches);
