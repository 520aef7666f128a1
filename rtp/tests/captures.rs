//! Real packets: RTP headers captured from headless Chromium (see `gen-captures.sh`), parsed by us
//! and compared field by field with what Wireshark's tshark read from the same bytes, plus the
//! typed header extensions Chromium negotiated in its SDP.

use sansrtc_rtp::RtpPacket;
use sansrtc_rtp::extension::{
    AbsSendTime, AudioLevel, ExtensionKind, ExtensionMap, Mid, TransportSequence,
};

const CHROMIUM_RTP: &str = include_str!("captures/chromium-rtp.txt");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn chromium_rtp_headers_match_tshark() {
    let mut map = ExtensionMap::new();
    for line in CHROMIUM_RTP
        .lines()
        .filter_map(|l| l.strip_prefix("# a=extmap:"))
    {
        let (id, uri) = line.split_once(' ').unwrap();
        if let Some(kind) = ExtensionKind::from_uri(uri.trim()) {
            map.insert(id.parse().unwrap(), kind);
        }
    }
    assert_eq!(map.id(ExtensionKind::TransportWideCc), Some(3));

    let mut packets = 0;
    let mut last_transport_seq: Option<u16> = None;
    for line in CHROMIUM_RTP.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(' ').collect();
        let bytes = hex(f[0]);
        let p = RtpPacket::parse(&bytes).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(format!("0x{:08x}", p.ssrc()), f[1], "{line}");
        assert_eq!(p.sequence_number().to_string(), f[2]);
        assert_eq!(p.timestamp().to_string(), f[3]);
        assert_eq!(p.payload_type().to_string(), f[4]);
        assert_eq!(if p.marker() { "1" } else { "0" }, f[5]);
        let ext = p.extensions().expect("Chromium always sends extensions");
        ext.validate().unwrap();
        let ids: Vec<String> = ext.iter().map(|e| e.unwrap().id.to_string()).collect();
        assert_eq!(ids.join(","), f[6], "{line}");

        // typed values Chromium puts on every packet
        let TransportSequence(seq) = map.get::<TransportSequence>(&ext).expect("transport-cc");
        if let Some(last) = last_transport_seq {
            assert!(
                seq.wrapping_sub(last) < 0x8000 && seq != last,
                "transport seq increases"
            );
        }
        last_transport_seq = Some(seq);
        assert!(map.get::<AbsSendTime>(&ext).is_some());
        if let Some(Mid(mid)) = map.get::<Mid>(&ext) {
            assert!(mid == "0" || mid == "1", "mid {mid}");
        }
        if p.payload_type() == 111 {
            let level = map
                .get::<AudioLevel>(&ext)
                .expect("Opus packets carry the audio level");
            assert!(level.level <= 127);
        }
        packets += 1;
    }
    assert!(packets >= 40, "{packets} packets in the capture");
}

const CHROMIUM_RTCP: &str = include_str!("captures/chromium-rtcp.txt");

/// The SSRC the echo server sends the looped-back video on (its second SSRC).
const ECHO_VIDEO_SSRC: u32 = 0x5EC0_0002;

/// The captured packets: (session, bytes).
fn chromium_rtcp() -> Vec<(u8, Vec<u8>)> {
    CHROMIUM_RTCP
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (session, bytes) = l.split_once(' ').unwrap();
            (session.parse().unwrap(), hex(bytes))
        })
        .collect()
}

#[test]
fn chromium_rtcp_parses_and_rewrites_byte_exact() {
    use sansrtc_rtp::rtcp::{
        CompoundIter, PacketStatus, RtcpPacket, compound_len, validate_compound, write_compound,
    };
    use std::collections::BTreeSet;

    let mut kinds = BTreeSet::new();
    let mut chromium_ssrc = [None, None];
    let mut twcc_chunk_kinds = BTreeSet::new();
    let captured = chromium_rtcp();
    assert_eq!(captured.len(), 26);
    let mut padded_twcc = 0;
    for (session, bytes) in &captured {
        let packets: Vec<RtcpPacket<'_>> = CompoundIter::new(bytes)
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}: {bytes:02x?}"));
        let mut out = vec![0; compound_len(&packets)];
        let n = write_compound(&packets, &mut out).unwrap();
        // Chromium pads its transport-cc feedback with the RTCP padding bit (the deltas end off
        // a word boundary); the parser strips padding and the writer adds none, so the rewrite
        // equals the packet without it.
        let (unpadded, padded) = without_padding(bytes);
        padded_twcc += usize::from(padded);
        assert_eq!(&out[..n], &unpadded[..], "rewritten byte for byte");
        if matches!(
            packets[0],
            RtcpPacket::SenderReport(_) | RtcpPacket::ReceiverReport(_)
        ) {
            validate_compound(bytes).unwrap();
        }
        // One Chromium SSRC sends all RTCP of a session (its first local SSRC).
        let sender = match &packets[0] {
            RtcpPacket::SenderReport(sr) => sr.ssrc,
            RtcpPacket::ReceiverReport(rr) => rr.ssrc,
            RtcpPacket::TransportCc(t) => t.sender_ssrc,
            other => panic!("unexpected first packet {other:?}"),
        };
        let expected = chromium_ssrc[usize::from(*session) - 1].get_or_insert(sender);
        assert_eq!(sender, *expected);
        let mut highest_reported = None;
        for p in &packets {
            match p {
                RtcpPacket::SenderReport(sr) => {
                    kinds.insert("SR");
                    assert!(
                        sr.ntp_timestamp >> 32 > 3_900_000_000,
                        "NTP time after 2023"
                    );
                    assert!(sr.packet_count > 0 && sr.octet_count > sr.packet_count);
                    assert!(sr.reports.is_empty() && sr.profile_extension.is_empty());
                }
                RtcpPacket::SourceDescription(sdes) => {
                    kinds.insert("SDES");
                    let chunks: Vec<_> = sdes.chunks.iter().collect();
                    assert_eq!(chunks.len(), 1);
                    assert_eq!(chunks[0].ssrc, sender);
                    let cname = chunks[0].cname().expect("CNAME");
                    assert_eq!(cname.len(), 16, "Chromium's random 16-character CNAME");
                    assert!(cname.iter().all(|c| c.is_ascii_graphic()));
                }
                RtcpPacket::ReceiverReport(rr) => {
                    kinds.insert("RR");
                    let blocks: Vec<_> = rr.reports.iter().collect();
                    assert_eq!(blocks.len(), 1);
                    let b = blocks[0];
                    assert_eq!(b.ssrc, ECHO_VIDEO_SSRC);
                    assert!(b.cumulative_lost >= 0 && b.jitter < 90_000);
                    highest_reported = Some(b.extended_highest_sequence);
                }
                RtcpPacket::Nack(nack) => {
                    kinds.insert("NACK");
                    assert_eq!(
                        (nack.sender_ssrc, nack.media_ssrc),
                        (sender, ECHO_VIDEO_SSRC)
                    );
                    // The echo server dropped these: each lies near the highest sequence the
                    // RR in front of it reports (that RR's statistics may be a little older).
                    let highest = highest_reported.expect("Chromium puts an RR first") as u16;
                    for lost in nack.lost() {
                        let distance = highest.wrapping_sub(lost).min(lost.wrapping_sub(highest));
                        assert!(distance < 1000, "lost {lost}, highest {highest}");
                    }
                }
                RtcpPacket::Pli(pli) => {
                    kinds.insert("PLI");
                    assert_eq!((pli.sender_ssrc, pli.media_ssrc), (sender, ECHO_VIDEO_SSRC));
                }
                RtcpPacket::TransportCc(t) => {
                    kinds.insert("TWCC");
                    assert_eq!(t.sender_ssrc, sender);
                    let fed: Vec<_> = t.packets().collect();
                    assert_eq!(fed.len(), usize::from(t.status_count));
                    for (i, f) in fed.iter().enumerate() {
                        assert_eq!(f.sequence, t.base_sequence.wrapping_add(i as u16));
                        let received = matches!(
                            f.status,
                            PacketStatus::SmallDelta | PacketStatus::LargeDelta
                        );
                        assert_eq!(f.delta.is_some(), received);
                        assert_ne!(f.status, PacketStatus::Reserved);
                    }
                    assert!(fed.iter().any(|f| f.delta.is_some()));
                    for c in t.chunks.iter() {
                        twcc_chunk_kinds.insert(c.0 >> 14);
                    }
                }
                RtcpPacket::Remb(remb) => {
                    kinds.insert("REMB");
                    assert_eq!(remb.sender_ssrc, sender);
                    assert_eq!(remb.media_ssrc, 0);
                    assert!(remb.bitrate() > 30_000, "{}", remb.bitrate());
                    assert!(remb.ssrcs.iter().any(|s| s == ECHO_VIDEO_SSRC));
                }
                other => panic!("Chromium sent no {other:?} in this capture"),
            }
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["NACK", "PLI", "REMB", "RR", "SDES", "SR", "TWCC"]
    );
    // Run-length chunks (0b0x) and two-bit status vectors (0b11).
    assert!(twcc_chunk_kinds.contains(&0) || twcc_chunk_kinds.contains(&1));
    assert!(twcc_chunk_kinds.contains(&3), "{twcc_chunk_kinds:?}");
    assert!(padded_twcc > 0, "the capture covers RTCP padding");
}

/// The last packet of a compound without its RTCP padding (P bit cleared, length and bytes
/// shortened), and whether it had any.
fn without_padding(compound: &[u8]) -> (Vec<u8>, bool) {
    let mut at = 0;
    let mut last = 0;
    while at < compound.len() {
        last = at;
        at += (usize::from(u16::from_be_bytes([compound[at + 2], compound[at + 3]])) + 1) * 4;
    }
    let mut out = compound.to_vec();
    if out[last] & 0x20 == 0 {
        return (out, false);
    }
    let pad = usize::from(*out.last().unwrap());
    assert!(
        pad > 0 && pad <= out.len() - last - 4,
        "padding count {pad}"
    );
    out.truncate(out.len() - pad);
    // Chromium pads to the word, so the unpadded length may end mid-word: the writer then
    // needs the same word alignment, which it gets by padding with zeros inside the FCI.
    while (out.len() - last) % 4 != 0 {
        out.push(0);
    }
    out[last] &= !0x20;
    let words = ((out.len() - last) / 4 - 1) as u16;
    out[last + 2..last + 4].copy_from_slice(&words.to_be_bytes());
    (out, true)
}
