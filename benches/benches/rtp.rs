//! RTP header parse, RTP serialize and compound RTCP parse: sansrtc beside webrtc-rs (`rtp`,
//! `rtcp`) and `rtp-types`, on the same bytes in the same run.

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

criterion_group!(benches, rtp_parse, rtp_serialize, rtcp_parse);
criterion_main!(benches);
