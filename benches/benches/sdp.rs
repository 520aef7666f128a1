//! SDP parse and write of a real Chromium audio+video+data offer (generated on this machine by headless
//! Chromium, see sdp/tests/gen-corpus.sh), beside Mozilla's `webrtc-sdp` (Firefox's parser) and
//! webrtc-rs' `sdp`, on the same bytes in the same run. Instruction counts of the same cases:
//! `scripts/sdp-instructions` (examples/sdp_instructions.rs). `sdp_negotiate` times our JSEP
//! answer to the same offer and to one at the negotiation limits.

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

/// An answerer with the transceivers a browser-like peer has: audio (opus) and video (VP8 + RTX).
fn answerer() -> sansrtc_sdp::JsepSession {
    use sansrtc_sdp::jsep::{Codec, Feedback, MediaKind, Transceiver};
    let mut n = 7u8;
    let rng = Box::new(move |buf: &mut [u8]| {
        for b in buf {
            n = n.wrapping_mul(167).wrapping_add(13);
            *b = n;
        }
    });
    let mut s = sansrtc_sdp::JsepSession::new(sansrtc_sdp::JsepConfig::default(), rng);
    s.add_transceiver(Transceiver::new(
        MediaKind::Audio,
        sansrtc_sdp::Direction::SendRecv,
        vec![Codec::new(111, "opus", 48000, Some(2)).feedback(Feedback::new("transport-cc"))],
    ));
    s.add_transceiver(Transceiver::new(
        MediaKind::Video,
        sansrtc_sdp::Direction::SendRecv,
        vec![
            Codec::new(96, "VP8", 90000, None)
                .feedback(Feedback::new("nack"))
                .feedback(Feedback::with("nack", "pli")),
            Codec::new(97, "rtx", 90000, None).fmtp("apt=96"),
        ],
    ));
    s.add_data_channel();
    s
}

/// JSEP (ours only; the other two crates have no offer/answer model): answering the Chromium
/// offer, and an offer at the negotiation limits' edge (256 audio sections, each with 128 payload
/// types), which costs time linear in its size.
fn negotiate(c: &mut Criterion) {
    let offer = sansrtc_sdp::SessionDescription::parse(OFFER).unwrap();
    let mut wide = String::from(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\n\
         a=ice-pwd:abcdefghijklmnopqrstuvwx\r\n",
    );
    wide.push_str(&format!(
        "a=fingerprint:sha-256 {}\r\n",
        sansrtc_sdp::attributes::Fingerprint::format_digest(&[7; 32])
    ));
    let formats: Vec<String> = (0..128).map(|pt| pt.to_string()).collect();
    for mid in 0..sansrtc_sdp::jsep::MAX_MEDIA_SECTIONS {
        wide.push_str(&format!(
            "m=audio 9 UDP/TLS/RTP/SAVPF {}\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\n\
             a=setup:actpass\r\na=rtcp-mux\r\n",
            formats.join(" ")
        ));
        for pt in 0..128 {
            wide.push_str(&format!(
                "a=rtpmap:{pt} opus/48000/2\r\na=fmtp:{pt} minptime=10\r\n"
            ));
        }
    }
    let mut limits = sansrtc_sdp::Limits::default();
    limits.max_bytes = 8 << 20;
    limits.max_lines = 1 << 20;
    let wide = sansrtc_sdp::SessionDescription::parse_with(&wide, &limits).unwrap();
    let mut g = c.benchmark_group("sdp_negotiate");
    g.bench_function("sansrtc_answer_chromium_offer", |b| {
        b.iter_batched(
            answerer,
            |mut s| s.create_answer(black_box(&offer)).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    g.sample_size(20);
    g.bench_function("sansrtc_answer_256_sections_x_128_pts", |b| {
        b.iter_batched(
            answerer,
            |mut s| s.create_answer(black_box(&wide)).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, parse, write, negotiate);
criterion_main!(benches);
