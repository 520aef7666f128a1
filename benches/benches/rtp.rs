//! RTP header parse, RTP serialize, compound RTCP parse and the VP8 / H.264 payload formats:
//! sansrtc beside webrtc-rs (`rtp`, `rtcp`) and `rtp-types`, on the same bytes in the same run.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sansrtc_benches::inputs::{RTP_EXTENSION_DATA, rtcp_compound, rtp_video_packet};
use sansrtc_rtp::rtcp::{CompoundIter, RtcpPacket};
use sansrtc_rtp::{RtpPacket, RtpPacketBuilder};
use webrtc_util::{Marshal, Unmarshal};

/// What a receiver reads of every packet: the fixed fields and the payload.
fn rtp_parse(c: &mut Criterion) {
    for size in [160usize, 1200] {
        let bytes = rtp_video_packet(size);
        let mut group = c.benchmark_group(format!("rtp_parse/{size}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("sansrtc", |b| {
            b.iter(|| {
                let p = RtpPacket::parse(black_box(&bytes)).unwrap();
                (
                    p.marker(),
                    p.payload_type(),
                    p.sequence_number(),
                    p.timestamp(),
                    p.ssrc(),
                    p.payload().len(),
                )
            })
        });
        group.bench_function("rtp-types", |b| {
            b.iter(|| {
                let p = rtp_types::RtpPacket::parse(black_box(&bytes[..])).unwrap();
                (
                    p.marker_bit(),
                    p.payload_type(),
                    p.sequence_number(),
                    p.timestamp(),
                    p.ssrc(),
                    p.payload().len(),
                )
            })
        });
        let shared = Bytes::from(bytes.clone());
        group.bench_function("webrtc-rs rtp", |b| {
            b.iter(|| {
                let mut buf = black_box(shared.clone());
                let p = rtp::packet::Packet::unmarshal(&mut buf).unwrap();
                let h = &p.header;
                (
                    h.marker,
                    h.payload_type,
                    h.sequence_number,
                    h.timestamp,
                    h.ssrc,
                    p.payload.len(),
                )
            })
        });
        group.finish();
    }
}

/// Writing a packet with a header extension block and payload into a buffer.
fn rtp_serialize(c: &mut Criterion) {
    for size in [160usize, 1200] {
        let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
        let mut out = vec![0u8; 1500];
        let mut group = c.benchmark_group(format!("rtp_serialize/{size}"));
        group.throughput(Throughput::Elements(1));
        group.bench_function("sansrtc", |b| {
            b.iter(|| {
                let mut builder =
                    RtpPacketBuilder::new(96, black_box(0x1A2B), 0x0012_D687, 0x3C4D_5E6F);
                builder.marker(true).payload(black_box(&payload));
                builder
                    .raw_extension(0xBEDE, black_box(&RTP_EXTENSION_DATA))
                    .unwrap();
                builder.write(&mut out).unwrap()
            })
        });
        // Zero-copy: the packetizer already wrote the payload after the header's place.
        let mut in_place = vec![0u8; 1500];
        let header_len = 12 + 4 + RTP_EXTENSION_DATA.len();
        in_place[header_len..header_len + size].copy_from_slice(&payload);
        group.bench_function("sansrtc in place", |b| {
            b.iter(|| {
                let mut builder =
                    RtpPacketBuilder::new(96, black_box(0x1A2B), 0x0012_D687, 0x3C4D_5E6F);
                builder.marker(true);
                builder
                    .raw_extension(0xBEDE, black_box(&RTP_EXTENSION_DATA))
                    .unwrap();
                builder
                    .write_in_place(&mut in_place, black_box(size))
                    .unwrap()
            })
        });
        group.bench_function("rtp-types", |b| {
            b.iter(|| {
                rtp_types::RtpPacketBuilder::<&[u8], &[u8]>::new()
                    .payload_type(96)
                    .sequence_number(black_box(0x1A2B))
                    .timestamp(0x0012_D687)
                    .ssrc(0x3C4D_5E6F)
                    .marker_bit(true)
                    .extension(0xBEDE, black_box(&RTP_EXTENSION_DATA[..]))
                    .payload(black_box(&payload[..]))
                    .write_into(&mut out)
                    .unwrap()
            })
        });
        // webrtc-rs: the packet struct is built once outside the loop (its construction
        // allocates), only marshalling is measured.
        let packet = rtp::packet::Packet {
            header: rtp::header::Header {
                version: 2,
                extension: true,
                marker: true,
                payload_type: 96,
                sequence_number: 0x1A2B,
                timestamp: 0x0012_D687,
                ssrc: 0x3C4D_5E6F,
                extension_profile: 0xBEDE,
                extensions: vec![
                    rtp::header::Extension {
                        id: 2,
                        payload: Bytes::from_static(&[0x12, 0x34, 0x56]),
                    },
                    rtp::header::Extension {
                        id: 3,
                        payload: Bytes::from_static(&[0x01, 0x02]),
                    },
                    rtp::header::Extension {
                        id: 4,
                        payload: Bytes::from_static(b"0"),
                    },
                ],
                ..Default::default()
            },
            payload: Bytes::from(payload.clone()),
        };
        group.bench_function("webrtc-rs rtp", |b| {
            b.iter(|| black_box(&packet).marshal_to(&mut out).unwrap())
        });
        group.finish();
    }
}

/// Parsing a compound RTCP packet and reading every field of every packet in it.
fn rtcp_parse(c: &mut Criterion) {
    let bytes = rtcp_compound();
    let mut group = c.benchmark_group("rtcp_compound_parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sansrtc", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for packet in CompoundIter::new(black_box(&bytes)) {
                match packet.unwrap() {
                    RtcpPacket::SenderReport(sr) => {
                        sum += sr.ntp_timestamp;
                        for block in &sr.reports {
                            sum += (block.ssrc ^ block.jitter ^ block.extended_highest_sequence)
                                as u64;
                        }
                    }
                    RtcpPacket::SourceDescription(sdes) => {
                        for chunk in &sdes.chunks {
                            sum += chunk.items.iter().map(|i| i.text.len() as u64).sum::<u64>();
                        }
                    }
                    RtcpPacket::Nack(nack) => {
                        sum += nack.pairs.iter().map(|p| p.packet_id as u64).sum::<u64>()
                    }
                    RtcpPacket::Pli(pli) => sum += pli.media_ssrc as u64,
                    RtcpPacket::Remb(remb) => {
                        sum += remb.bitrate() + remb.ssrcs.iter().count() as u64
                    }
                    _ => {}
                }
            }
            sum
        })
    });
    let shared = Bytes::from(bytes.clone());
    group.bench_function("webrtc-rs rtcp", |b| {
        b.iter(|| {
            let mut buf = black_box(shared.clone());
            rtcp::packet::unmarshal(&mut buf).unwrap()
        })
    });
    group.finish();
}

/// A 10 KB VP8 frame and an H.264 access unit (SPS, PPS, 10 KB IDR slice) cut into payloads of
/// at most 1200 bytes, and joined back into the frame.
fn payload_formats(c: &mut Criterion) {
    use rtp::packetizer::{Depacketizer, Payloader};
    use sansrtc_rtp::packetize::Payloads;
    use sansrtc_rtp::packetize::h264::{H264Depacketizer, H264Packetizer};
    use sansrtc_rtp::packetize::vp8::{Vp8Depacketizer, Vp8Packetizer};
    const MTU: usize = 1200;

    let vp8_frame: Vec<u8> = (0..10_000).map(|i| (i % 251) as u8 & !1).collect();
    let mut au = vec![
        0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01, 0x40, 0x16, 0xEC, 0x04,
    ];
    au.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80]);
    au.extend_from_slice(&[0, 0, 0, 1, 0x65]);
    au.extend((0..10_000).map(|i| (i % 250) as u8 + 1));

    let mut group = c.benchmark_group("packetize/vp8_10k");
    group.throughput(Throughput::Bytes(vp8_frame.len() as u64));
    let mut payloads = Payloads::default();
    let mut ours = Vp8Packetizer::new(MTU);
    group.bench_function("sansrtc", |b| {
        b.iter(|| {
            ours.packetize(black_box(&vp8_frame), &mut payloads);
            payloads.len()
        })
    });
    let shared = Bytes::from(vp8_frame.clone());
    let mut theirs = rtp::codecs::vp8::Vp8Payloader::default();
    theirs.enable_picture_id = true;
    group.bench_function("webrtc-rs rtp", |b| {
        b.iter(|| theirs.payload(MTU, black_box(&shared)).unwrap().len())
    });
    group.finish();

    let mut group = c.benchmark_group("packetize/h264_10k");
    group.throughput(Throughput::Bytes(au.len() as u64));
    let ours = H264Packetizer::new(MTU);
    group.bench_function("sansrtc", |b| {
        b.iter(|| {
            ours.packetize(black_box(&au), &mut payloads);
            payloads.len()
        })
    });
    let shared = Bytes::from(au.clone());
    let mut theirs = rtp::codecs::h264::H264Payloader::default();
    group.bench_function("webrtc-rs rtp", |b| {
        b.iter(|| theirs.payload(MTU, black_box(&shared)).unwrap().len())
    });
    group.finish();

    // Depacketizing: the payloads back into one frame (webrtc-rs returns each payload's
    // media bytes; joining them is the frame assembly its sample builder does).
    let mut vp8_payloads = Payloads::default();
    Vp8Packetizer::new(MTU).packetize(&vp8_frame, &mut vp8_payloads);
    let vp8_list: Vec<Vec<u8>> = vp8_payloads.iter().map(<[u8]>::to_vec).collect();
    let vp8_bytes: Vec<Bytes> = vp8_list.iter().map(|p| Bytes::from(p.clone())).collect();
    let mut group = c.benchmark_group("depacketize/vp8_10k");
    group.throughput(Throughput::Bytes(vp8_frame.len() as u64));
    group.bench_function("sansrtc", |b| {
        let mut d = Vp8Depacketizer::default();
        let mut seq = 0u16;
        b.iter(|| {
            let mut frame = None;
            let n = vp8_list.len();
            for (i, p) in vp8_list.iter().enumerate() {
                frame = d.push(seq, i + 1 == n, black_box(p)).unwrap();
                seq = seq.wrapping_add(1);
            }
            frame.unwrap().data.len()
        })
    });
    group.bench_function("webrtc-rs rtp", |b| {
        let mut d = rtp::codecs::vp8::Vp8Packet::default();
        b.iter(|| {
            let mut frame = Vec::new();
            for p in &vp8_bytes {
                frame.extend_from_slice(&d.depacketize(black_box(p)).unwrap());
            }
            frame.len()
        })
    });
    group.finish();

    let ours = H264Packetizer::new(MTU);
    let mut h264_payloads = Payloads::default();
    ours.packetize(&au, &mut h264_payloads);
    let h264_list: Vec<Vec<u8>> = h264_payloads.iter().map(<[u8]>::to_vec).collect();
    let h264_bytes: Vec<Bytes> = h264_list.iter().map(|p| Bytes::from(p.clone())).collect();
    let mut group = c.benchmark_group("depacketize/h264_10k");
    group.throughput(Throughput::Bytes(au.len() as u64));
    group.bench_function("sansrtc", |b| {
        let mut d = H264Depacketizer::default();
        let mut seq = 0u16;
        b.iter(|| {
            let mut frame = None;
            let n = h264_list.len();
            for (i, p) in h264_list.iter().enumerate() {
                frame = d.push(seq, i + 1 == n, black_box(p)).unwrap();
                seq = seq.wrapping_add(1);
            }
            frame.unwrap().data.len()
        })
    });
    group.bench_function("webrtc-rs rtp", |b| {
        let mut d = rtp::codecs::h264::H264Packet::default();
        b.iter(|| {
            let mut frame = Vec::new();
            for p in &h264_bytes {
                frame.extend_from_slice(&d.depacketize(black_box(p)).unwrap());
            }
            frame.len()
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    rtp_parse,
    rtp_serialize,
    rtcp_parse,
    payload_formats
);
criterion_main!(benches);
