//! Property tests: for every RTP and RTCP packet type, parsing what we write gives back what we
//! wrote, and parsing arbitrary bytes never panics.

use proptest::collection::vec;
use proptest::prelude::*;
use sansrtc_rtp::builder::ExtensionsBuilder;
use sansrtc_rtp::rtcp::*;
use sansrtc_rtp::{RtpPacket, RtpPacketBuilder};

fn words(max_words: usize) -> impl Strategy<Value = Vec<u8>> {
    (0..=max_words).prop_flat_map(|n| vec(any::<u8>(), 4 * n))
}

fn report_block() -> impl Strategy<Value = ReportBlock> {
    (
        any::<u32>(),
        any::<u8>(),
        -(1i32 << 23)..(1 << 23),
        any::<[u32; 4]>(),
    )
        .prop_map(|(ssrc, fraction_lost, cumulative_lost, w)| ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost,
            extended_highest_sequence: w[0],
            jitter: w[1],
            last_sender_report: w[2],
            delay_since_last_sender_report: w[3],
        })
}

/// Writes `packets` as a compound packet, parses it back and checks every packet is equal.
fn round_trip(packets: &[RtcpPacket<'_>]) -> Result<(), TestCaseError> {
    let mut buf = vec![0u8; compound_len(packets)];
    let len = write_compound(packets, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(len, buf.len());
    let parsed: Vec<_> = CompoundIter::new(&buf).collect::<Result<_, _>>().unwrap();
    prop_assert_eq!(parsed.as_slice(), packets);
    Ok(())
}

proptest! {
    #[test]
    fn sender_and_receiver_reports(
        ssrc in any::<u32>(), ntp in any::<u64>(), rtp in any::<u32>(), counts in any::<(u32, u32)>(),
        blocks in vec(report_block(), 0..=31), ext in words(3),
    ) {
        round_trip(&[
            RtcpPacket::SenderReport(SenderReport {
                ssrc, ntp_timestamp: ntp, rtp_timestamp: rtp, packet_count: counts.0,
                octet_count: counts.1, reports: List::from_items(&blocks), profile_extension: &ext,
            }),
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc, reports: List::from_items(&blocks), profile_extension: &ext,
            }),
        ])?;
    }

    #[test]
    fn source_description(
        chunks in vec((any::<u32>(), vec((1u8..=255, vec(any::<u8>(), 0..40)), 0..5)), 0..=6),
    ) {
        let items: Vec<Vec<SdesItem>> = chunks.iter().map(|(_, items)| items.iter().map(|(k, t)| {
            let kind = match k { 1 => SdesType::Cname, 2 => SdesType::Name, 8 => SdesType::Private, k if *k > 8 => SdesType::Other(*k), _ => SdesType::Note };
            SdesItem { kind, text: t }
        }).collect()).collect();
        let built: Vec<SdesChunk> = chunks.iter().zip(&items)
            .map(|((ssrc, _), items)| SdesChunk { ssrc: *ssrc, items: List::from_items(items) }).collect();
        round_trip(&[RtcpPacket::SourceDescription(SourceDescription { chunks: List::from_items(&built) })])?;
    }

    #[test]
    fn goodbye_and_app(
        sources in vec(any::<u32>(), 0..=31), reason in proptest::option::of(vec(any::<u8>(), 0..=255)),
        subtype in 0u8..32, ssrc in any::<u32>(), name in any::<[u8; 4]>(), data in words(10),
    ) {
        round_trip(&[
            RtcpPacket::Goodbye(Goodbye { sources: List::from_items(&sources), reason: reason.as_deref() }),
            RtcpPacket::App(App { subtype, ssrc, name, data: &data }),
        ])?;
    }

    #[test]
    fn transport_layer_feedback(
        ssrcs in any::<(u32, u32)>(),
        pairs in vec(any::<(u16, u16)>(), 1..30),
        tmmb in vec((any::<u32>(), 0u8..64, 0u32..(1 << 17), 0u16..512), 0..8),
    ) {
        let pairs: Vec<_> = pairs.iter().map(|&(packet_id, lost_bitmask)| NackPair { packet_id, lost_bitmask }).collect();
        let items: Vec<_> = tmmb.iter().map(|&(ssrc, exponent, mantissa, overhead)| TmmbItem { ssrc, exponent, mantissa, overhead }).collect();
        round_trip(&[
            RtcpPacket::Nack(Nack { sender_ssrc: ssrcs.0, media_ssrc: ssrcs.1, pairs: List::from_items(&pairs) }),
            RtcpPacket::Tmmbr(Tmmb { sender_ssrc: ssrcs.0, media_ssrc: 0, items: List::from_items(&items) }),
            RtcpPacket::Tmmbn(Tmmb { sender_ssrc: ssrcs.1, media_ssrc: 0, items: List::from_items(&items) }),
        ])?;
    }

    #[test]
    fn payload_specific_feedback(
        ssrcs in any::<(u32, u32)>(),
        sli in vec((0u16..8192, 0u16..8192, 0u8..64), 0..8),
        rpsi_len in 0usize..6, rpsi_bytes in vec(any::<u8>(), 30), rpsi_pt in 0u8..128,
        fir in vec(any::<(u32, u8)>(), 0..8),
        remb in (0u8..64, 0u32..(1 << 18), vec(any::<u32>(), 0..20)),
    ) {
        let sli: Vec<_> = sli.iter().map(|&(first, number, picture_id)| SliEntry { first, number, picture_id }).collect();
        let fir: Vec<_> = fir.iter().map(|&(ssrc, sequence_number)| FirEntry { ssrc, sequence_number }).collect();
        let bit_string = &rpsi_bytes[..2 + 4 * rpsi_len];
        round_trip(&[
            RtcpPacket::Pli(Pli { sender_ssrc: ssrcs.0, media_ssrc: ssrcs.1 }),
            RtcpPacket::Sli(Sli { sender_ssrc: ssrcs.0, media_ssrc: ssrcs.1, entries: List::from_items(&sli) }),
            RtcpPacket::Rpsi(Rpsi { sender_ssrc: ssrcs.0, media_ssrc: ssrcs.1, padding_bits: (rpsi_bytes[0] % 16).min(8 * bit_string.len() as u8), payload_type: rpsi_pt, bit_string }),
            RtcpPacket::Fir(Fir { sender_ssrc: ssrcs.0, media_ssrc: 0, entries: List::from_items(&fir) }),
            RtcpPacket::Remb(Remb { sender_ssrc: ssrcs.0, media_ssrc: 0, exponent: remb.0, mantissa: remb.1, ssrcs: List::from_items(&remb.2) }),
        ])?;
    }

    #[test]
    fn transport_cc(
        results in vec(proptest::option::of(prop_oneof![0i32..256, -32768i32..32768]), 1..400),
        base in any::<u16>(), reference_time in 0u32..(1 << 24), count in any::<u8>(),
    ) {
        let mut builder = TransportCcBuilder::new();
        for r in &results {
            match r {
                Some(delta) => { builder.received(*delta).unwrap(); }
                None => { builder.lost(); }
            }
        }
        let mut chunks = Vec::new();
        let cc = builder.build(&mut chunks, 1, 2, base, reference_time, count).unwrap();
        let decoded: Vec<_> = cc.packets().map(|p| p.delta).collect();
        prop_assert_eq!(&decoded, &results);
        let seqs: Vec<_> = cc.packets().map(|p| p.sequence).collect();
        let want: Vec<_> = (0..results.len()).map(|i| base.wrapping_add(i as u16)).collect();
        prop_assert_eq!(seqs, want);
        round_trip(&[RtcpPacket::TransportCc(cc)])?;
    }

    #[test]
    fn extended_reports_and_unknown(
        ssrc in any::<u32>(), ntp in any::<u64>(),
        dlrr in vec(any::<(u32, u32, u32)>(), 0..6),
        other_type in prop_oneof![0u8..4, 6u8..=255], other_specific in any::<u8>(), other_data in words(4),
        unknown_type in prop_oneof![0u8..200, 208u8..=255], unknown_count in 0u8..32, unknown_body in words(6),
    ) {
        let dlrr: Vec<_> = dlrr.iter().map(|&(ssrc, l, d)| DlrrEntry { ssrc, last_receiver_report: l, delay_since_last_receiver_report: d }).collect();
        let blocks = [
            XrBlock::ReceiverReferenceTime { ntp_timestamp: ntp },
            XrBlock::Dlrr(List::from_items(&dlrr)),
            XrBlock::Other { block_type: other_type, type_specific: other_specific, data: &other_data },
        ];
        round_trip(&[
            RtcpPacket::ExtendedReport(ExtendedReport { ssrc, blocks: List::from_items(&blocks) }),
            RtcpPacket::Unknown(RawPacket { packet_type: unknown_type, count: unknown_count, body: &unknown_body }),
        ])?;
    }

    #[test]
    fn rtp_packets(
        pt in 0u8..128, seq in any::<u16>(), ts in any::<u32>(), ssrc in any::<u32>(), marker in any::<bool>(),
        csrcs in vec(any::<u32>(), 0..=15),
        elements in vec((1u8..=255, vec(any::<u8>(), 0..=20)), 0..=16),
        payload in vec(any::<u8>(), 0..300), padding in any::<u8>(),
    ) {
        let mut ext = ExtensionsBuilder::new();
        for (id, data) in &elements {
            ext.push(*id, data).unwrap();
        }
        let mut b = RtpPacketBuilder::new(pt, seq, ts, ssrc);
        b.marker(marker).payload(&payload).padding(padding).extensions(&ext);
        b.csrcs(&csrcs).unwrap();
        let bytes = b.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), b.encoded_len());
        let p = RtpPacket::parse(&bytes).unwrap();
        prop_assert_eq!((p.payload_type(), p.sequence_number(), p.timestamp(), p.ssrc(), p.marker()), (pt, seq, ts, ssrc, marker));
        prop_assert_eq!(p.csrcs().collect::<Vec<_>>(), csrcs);
        prop_assert_eq!(p.payload(), &payload[..]);
        prop_assert_eq!(p.padding_len(), padding as usize);
        let got: Vec<(u8, Vec<u8>)> = p.extensions().map(|e| e.iter().map(|el| { let el = el.unwrap(); (el.id, el.data.to_vec()) }).collect()).unwrap_or_default();
        prop_assert_eq!(got, elements);
        // rewriting a parsed packet is byte-exact
        prop_assert_eq!(RtpPacketBuilder::from_packet(&p).to_vec().unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..200)) {
        if let Ok(p) = RtpPacket::parse(&bytes) {
            let _ = (p.payload(), p.csrcs().count(), p.extensions().map(|e| e.iter().count()));
        }
        for packet in CompoundIter::new(&bytes).flatten() {
            let mut out = vec![0u8; packet.encoded_len()];
            let _ = packet.write(&mut out);
            if let RtcpPacket::TransportCc(cc) = packet {
                let _ = cc.packets().count();
            }
        }
    }
}
