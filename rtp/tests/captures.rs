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
