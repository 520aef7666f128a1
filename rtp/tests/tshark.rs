//! Byte-exactness against a third-party dissector: RTP and RTCP packets written by us go into a
//! pcap file that Wireshark's `tshark` must dissect as RTP/RTCP with no malformed packet and no
//! expert-info error. Installs tshark (Debian) when it is missing.

use std::path::PathBuf;
use std::process::Command;

use sansrtc_rtp::RtpPacketBuilder;
use sansrtc_rtp::builder::{ExtensionEncoding, ExtensionsBuilder};
use sansrtc_rtp::extension::{AbsSendTime, AudioLevel, Mid, TransportSequence};
use sansrtc_rtp::rtcp::*;

const RTP_PORT: u16 = 5004;
const RTCP_PORT: u16 = 5005;

fn ensure_tshark() {
    if Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return;
    }
    let sudo = if unsafe_free_is_root() { "" } else { "sudo " };
    let script = format!(
        "echo 'wireshark-common wireshark-common/install-setuid boolean false' | {sudo}debconf-set-selections; \
         {sudo}apt-get update -qq && DEBIAN_FRONTEND=noninteractive {sudo}apt-get install -y -qq --no-install-recommends tshark"
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(script)
        .status()
        .expect("run apt-get");
    assert!(status.success(), "installing tshark failed");
}

fn unsafe_free_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}

/// A minimal pcap writer: Ethernet, IPv4, UDP from 127.0.0.1 to 127.0.0.1.
struct Pcap(Vec<u8>);

impl Pcap {
    fn new() -> Self {
        let mut b = Vec::new();
        b.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&65535u32.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        Pcap(b)
    }

    fn udp(&mut self, index: u32, dst_port: u16, payload: &[u8]) {
        let mut frame = Vec::new();
        frame.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00]);
        let total = 20 + 8 + payload.len();
        let mut ip = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        let sum = ip
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
            .sum::<u32>();
        let sum = !(((sum & 0xFFFF) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        let udp_len = (8 + payload.len()) as u16;
        frame.extend_from_slice(&40000u16.to_be_bytes());
        frame.extend_from_slice(&dst_port.to_be_bytes());
        frame.extend_from_slice(&udp_len.to_be_bytes());
        frame.extend_from_slice(&[0, 0]); // no UDP checksum
        frame.extend_from_slice(payload);
        self.0
            .extend_from_slice(&(1_700_000_000 + index).to_le_bytes());
        self.0.extend_from_slice(&0u32.to_le_bytes());
        self.0
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.0
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.0.extend_from_slice(&frame);
    }
}

fn rtp_packets() -> Vec<Vec<u8>> {
    let payload = [0x90u8, 0x80, 0x12, 0x34, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE];
    let mut out = Vec::new();
    let mut plain = RtpPacketBuilder::new(96, 1000, 90_000, 0x1122_3344);
    plain.marker(true).payload(&payload);
    out.push(plain.to_vec().unwrap());

    let mut ext = ExtensionsBuilder::new();
    ext.push_value(
        1,
        &AudioLevel {
            voice_activity: true,
            level: 40,
        },
    )
    .unwrap();
    ext.push_value(2, &AbsSendTime::from_micros(12_345_678))
        .unwrap();
    ext.push_value(3, &TransportSequence(77)).unwrap();
    ext.push_value(4, &Mid("0")).unwrap();
    let csrcs = [1, 2, 3];
    let mut one_byte = RtpPacketBuilder::new(111, 1001, 960, 0x5566_7788);
    one_byte
        .payload(&payload)
        .extensions(&ext)
        .csrcs(&csrcs)
        .unwrap();
    out.push(one_byte.to_vec().unwrap());

    let long = [0x5Au8; 40];
    let mut ext2 = ExtensionsBuilder::new();
    ext2.encoding(ExtensionEncoding::TwoByte)
        .push(5, &[])
        .unwrap()
        .push(20, &long)
        .unwrap();
    let mut two_byte = RtpPacketBuilder::new(97, 1002, 1800, 0x99AA_BBCC);
    two_byte.payload(&payload).padding(7).extensions(&ext2);
    out.push(two_byte.to_vec().unwrap());
    out
}

fn rtcp_compounds() -> Vec<Vec<u8>> {
    let blocks = [ReportBlock {
        ssrc: 0x1122_3344,
        fraction_lost: 12,
        cumulative_lost: 3,
        extended_highest_sequence: 70_000,
        jitter: 30,
        last_sender_report: 0x2A3B_4000,
        delay_since_last_sender_report: 0x0001_0000,
    }];
    let cname = [SdesItem {
        kind: SdesType::Cname,
        text: b"sansrtc-cname",
    }];
    let chunks = [SdesChunk {
        ssrc: 0x5566_7788,
        items: List::from_items(&cname),
    }];
    let sdes = RtcpPacket::SourceDescription(SourceDescription {
        chunks: List::from_items(&chunks),
    });
    let nack_pairs = NackPair::from_lost([1000u16, 1002, 1010]);
    let fir = [FirEntry {
        ssrc: 0x1122_3344,
        sequence_number: 3,
    }];
    let remb_ssrcs = [0x1122_3344u32];
    let tmmb = [TmmbItem::with_bitrate(0x1122_3344, 2_000_000, 40)];
    let dlrr = [DlrrEntry {
        ssrc: 9,
        last_receiver_report: 1,
        delay_since_last_receiver_report: 2,
    }];
    let xr_blocks = [
        XrBlock::ReceiverReferenceTime {
            ntp_timestamp: 0xE88F_2A3B_4000_0000,
        },
        XrBlock::Dlrr(List::from_items(&dlrr)),
    ];
    let bye_sources = [0x5566_7788u32];
    let sli = [SliEntry {
        first: 1,
        number: 20,
        picture_id: 3,
    }];
    let mut twcc = TransportCcBuilder::new();
    twcc.received(4)
        .unwrap()
        .lost()
        .received(300)
        .unwrap()
        .received(-20)
        .unwrap();
    for i in 0..30 {
        if i % 3 == 0 {
            twcc.lost();
        } else {
            twcc.received(i).unwrap();
        }
    }
    let mut twcc_chunks = Vec::new();
    let twcc = twcc
        .build(&mut twcc_chunks, 0x5566_7788, 0x1122_3344, 500, 1234, 9)
        .unwrap();

    let compounds: Vec<Vec<RtcpPacket>> = vec![
        vec![
            RtcpPacket::SenderReport(SenderReport {
                ssrc: 0x5566_7788,
                ntp_timestamp: 0xE88F_2A3B_4000_0000,
                rtp_timestamp: 90_000,
                packet_count: 100,
                octet_count: 120_000,
                reports: List::from_items(&blocks),
                profile_extension: &[],
            }),
            sdes.clone(),
        ],
        vec![
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: 0x5566_7788,
                reports: List::from_items(&blocks),
                profile_extension: &[],
            }),
            RtcpPacket::Remb(Remb::with_bitrate(
                0x5566_7788,
                1_500_000,
                List::from_items(&remb_ssrcs),
            )),
            RtcpPacket::Nack(Nack {
                sender_ssrc: 0x5566_7788,
                media_ssrc: 0x1122_3344,
                pairs: List::from_items(&nack_pairs),
            }),
            RtcpPacket::Pli(Pli {
                sender_ssrc: 0x5566_7788,
                media_ssrc: 0x1122_3344,
            }),
            RtcpPacket::Fir(Fir {
                sender_ssrc: 0x5566_7788,
                media_ssrc: 0,
                entries: List::from_items(&fir),
            }),
            RtcpPacket::Sli(Sli {
                sender_ssrc: 0x5566_7788,
                media_ssrc: 0x1122_3344,
                entries: List::from_items(&sli),
            }),
            RtcpPacket::Rpsi(Rpsi {
                sender_ssrc: 0x5566_7788,
                media_ssrc: 0x1122_3344,
                padding_bits: 8,
                payload_type: 96,
                bit_string: &[0xAB, 0x00],
            }),
        ],
        vec![
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: 0x5566_7788,
                reports: List::empty(),
                profile_extension: &[],
            }),
            RtcpPacket::TransportCc(twcc),
            RtcpPacket::Tmmbr(Tmmb {
                sender_ssrc: 0x5566_7788,
                media_ssrc: 0,
                items: List::from_items(&tmmb),
            }),
            RtcpPacket::Tmmbn(Tmmb {
                sender_ssrc: 0x5566_7788,
                media_ssrc: 0,
                items: List::from_items(&tmmb),
            }),
        ],
        vec![
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: 0x5566_7788,
                reports: List::empty(),
                profile_extension: &[],
            }),
            RtcpPacket::ExtendedReport(ExtendedReport {
                ssrc: 0x5566_7788,
                blocks: List::from_items(&xr_blocks),
            }),
            RtcpPacket::App(App {
                subtype: 1,
                ssrc: 0x5566_7788,
                name: *b"TEST",
                data: &[1, 2, 3, 4],
            }),
            sdes,
            RtcpPacket::Goodbye(Goodbye {
                sources: List::from_items(&bye_sources),
                reason: Some(b"done"),
            }),
        ],
    ];
    compounds
        .iter()
        .map(|packets| {
            let mut buf = vec![0u8; compound_len(packets)];
            write_compound(packets, &mut buf).unwrap();
            validate_compound(&buf).unwrap();
            buf
        })
        .collect()
}

fn tshark(pcap: &PathBuf, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-d",
            &format!("udp.port=={RTP_PORT},rtp"),
            "-d",
            &format!("udp.port=={RTCP_PORT},rtcp"),
        ])
        .args(args)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tshark_dissects_our_packets_cleanly() {
    ensure_tshark();
    let mut pcap = Pcap::new();
    let rtp = rtp_packets();
    let rtcp = rtcp_compounds();
    let mut index = 0;
    for p in &rtp {
        pcap.udp(index, RTP_PORT, p);
        index += 1;
    }
    for p in &rtcp {
        pcap.udp(index, RTCP_PORT, p);
        index += 1;
    }
    let path = std::env::temp_dir().join(format!("sansrtc-rtp-{}.pcap", std::process::id()));
    std::fs::write(&path, &pcap.0).unwrap();

    // no malformed packet, no expert info of error severity
    let bad = tshark(
        &path,
        &["-Y", "_ws.malformed || _ws.expert.severity == \"Error\""],
    );
    assert!(
        bad.trim().is_empty(),
        "tshark found problems:\n{bad}\n{}",
        tshark(
            &path,
            &[
                "-V",
                "-Y",
                "_ws.malformed || _ws.expert.severity == \"Error\""
            ]
        )
    );

    // and it dissected what we meant to write
    let fields = tshark(
        &path,
        &[
            "-T",
            "fields",
            "-e",
            "rtp.ssrc",
            "-e",
            "rtp.seq",
            "-e",
            "rtp.p_type",
            "-e",
            "rtp.ext.rfc5285.id",
            "-Y",
            "rtp",
        ],
    );
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(lines.len(), rtp.len(), "{fields}");
    assert!(lines[0].starts_with("0x11223344\t1000\t96"), "{fields}");
    assert!(
        lines[1].contains("1,2,3,4"),
        "one-byte extension ids: {fields}"
    );
    assert!(
        lines[2].contains("5,20"),
        "two-byte extension ids: {fields}"
    );

    let types = tshark(
        &path,
        &[
            "-T",
            "fields",
            "-e",
            "rtcp.pt",
            "-e",
            "rtcp.rtpfb.fmt",
            "-e",
            "rtcp.psfb.fmt",
            "-Y",
            "rtcp",
        ],
    );
    let all: String = types.lines().collect::<Vec<_>>().join("|");
    for pt in ["200", "201", "202", "203", "204", "205", "206", "207"] {
        assert!(all.contains(pt), "packet type {pt} not dissected: {all}");
    }
    let cname = tshark(
        &path,
        &[
            "-T",
            "fields",
            "-e",
            "rtcp.sdes.text",
            "-Y",
            "rtcp.sdes.text",
        ],
    );
    assert!(cname.contains("sansrtc-cname"), "{cname}");
    let twcc = tshark(
        &path,
        &[
            "-T",
            "fields",
            "-e",
            "rtcp.rtpfb.transportcc.statuscount",
            "-Y",
            "rtcp.rtpfb.fmt == 15",
        ],
    );
    assert_eq!(twcc.trim(), "34", "transport-cc status count: {twcc}");
    let remb = tshark(
        &path,
        &[
            "-T",
            "fields",
            "-e",
            "rtcp.psfb.remb.fci.br_exp",
            "-e",
            "rtcp.psfb.remb.fci.br_mantissa",
            "-Y",
            "rtcp.psfb.fmt == 15",
        ],
    );
    assert_eq!(remb.trim(), "3\t187500", "REMB 1.5 Mbit/s: {remb}");
    let deltas = tshark(
        &path,
        &[
            "-T",
            "fields",
            "-e",
            "rtcp.rtpfb.transportcc.recv_delta",
            "-Y",
            "rtcp.rtpfb.fmt == 15",
        ],
    );
    assert!(
        deltas.trim().starts_with("0x04,0x012c,0xffec,0x01,0x02,"),
        "transport-cc deltas: {deltas}"
    );
    std::fs::remove_file(&path).ok();
}

const CHROMIUM_RTCP: &str = include_str!("captures/chromium-rtcp.txt");

/// tshark's fields for one frame, in the order of [`our_fields`].
const RTCP_FIELDS: [&str; 20] = [
    "rtcp.pt",
    "rtcp.senderssrc",
    "rtcp.mediassrc",
    "rtcp.timestamp.ntp.msw",
    "rtcp.timestamp.ntp.lsw",
    "rtcp.timestamp.rtp",
    "rtcp.sender.packetcount",
    "rtcp.sender.octetcount",
    "rtcp.ssrc.identifier",
    "rtcp.ssrc.cum_nr",
    "rtcp.ssrc.ext_high",
    "rtcp.ssrc.jitter",
    "rtcp.sdes.text",
    "rtcp.rtpfb.nack_pid",
    "rtcp.rtpfb.transportcc.baseseq",
    "rtcp.rtpfb.transportcc.statuscount",
    "rtcp.rtpfb.transportcc.reftime",
    "rtcp.rtpfb.transportcc.pktcount",
    "rtcp.psfb.remb.fci.br_mantissa",
    "rtcp.psfb.remb.fci.ssrc",
];

/// The same fields from our parse: every occurrence in the frame, comma-separated.
fn our_fields(compound: &[u8]) -> String {
    let mut f: [Vec<String>; 20] = Default::default();
    let hex = |v: u32| format!("0x{v:08x}");
    for p in CompoundIter::new(compound) {
        let p = p.unwrap();
        match &p {
            RtcpPacket::SenderReport(sr) => {
                f[0].push("200".into());
                f[1].push(hex(sr.ssrc));
                f[3].push((sr.ntp_timestamp >> 32).to_string());
                f[4].push((sr.ntp_timestamp as u32).to_string());
                f[5].push(sr.rtp_timestamp.to_string());
                f[6].push(sr.packet_count.to_string());
                f[7].push(sr.octet_count.to_string());
            }
            RtcpPacket::ReceiverReport(rr) => {
                f[0].push("201".into());
                f[1].push(hex(rr.ssrc));
                for b in rr.reports.iter() {
                    f[8].push(hex(b.ssrc));
                    f[9].push(b.cumulative_lost.to_string());
                    f[10].push(b.extended_highest_sequence.to_string());
                    f[11].push(b.jitter.to_string());
                }
            }
            RtcpPacket::SourceDescription(sdes) => {
                f[0].push("202".into());
                for c in sdes.chunks.iter() {
                    // tshark names the chunk's SSRC like a report block's.
                    f[8].push(hex(c.ssrc));
                    f[12].push(String::from_utf8(c.cname().unwrap().to_vec()).unwrap());
                }
            }
            RtcpPacket::Nack(n) => {
                f[0].push("205".into());
                f[1].push(hex(n.sender_ssrc));
                f[2].push(hex(n.media_ssrc));
                // tshark lists every lost sequence number (the PID and the bitmask's).
                for lost in n.lost() {
                    f[13].push(lost.to_string());
                }
            }
            RtcpPacket::TransportCc(t) => {
                f[0].push("205".into());
                f[1].push(hex(t.sender_ssrc));
                f[2].push(hex(t.media_ssrc));
                f[14].push(t.base_sequence.to_string());
                f[15].push(t.status_count.to_string());
                f[16].push(t.reference_time.to_string());
                f[17].push(t.feedback_count.to_string());
            }
            RtcpPacket::Pli(pli) => {
                f[0].push("206".into());
                f[1].push(hex(pli.sender_ssrc));
                f[2].push(hex(pli.media_ssrc));
            }
            RtcpPacket::Remb(r) => {
                f[0].push("206".into());
                f[1].push(hex(r.sender_ssrc));
                f[2].push(hex(r.media_ssrc));
                f[18].push(r.mantissa.to_string());
                for s in r.ssrcs.iter() {
                    f[19].push(hex(s));
                }
            }
            other => panic!("not in the capture: {other:?}"),
        }
    }
    f.iter().map(|v| v.join(",")).collect::<Vec<_>>().join("\t")
}

/// Real RTCP from Chromium (decrypted SRTCP, see `captures/chromium-rtcp.txt`): what we parse
/// equals what Wireshark's dissector reads from the same bytes, field by field, and tshark finds
/// nothing malformed.
#[test]
fn chromium_rtcp_fields_match_tshark() {
    ensure_tshark();
    let packets: Vec<Vec<u8>> = CHROMIUM_RTCP
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let hex = l.split_once(' ').unwrap().1;
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    let mut pcap = Pcap::new();
    for (i, p) in packets.iter().enumerate() {
        pcap.udp(i as u32, RTCP_PORT, p);
    }
    let path = std::env::temp_dir().join(format!(
        "sansrtc-rtp-chromium-rtcp-{}.pcap",
        std::process::id()
    ));
    std::fs::write(&path, &pcap.0).unwrap();
    let bad = tshark(
        &path,
        &["-Y", "_ws.malformed || _ws.expert.severity == \"Error\""],
    );
    assert!(bad.trim().is_empty(), "tshark found problems:\n{bad}");
    let mut args = vec!["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,"];
    for field in RTCP_FIELDS {
        args.extend(["-e", field]);
    }
    let theirs = tshark(&path, &args);
    let theirs: Vec<&str> = theirs.lines().collect();
    assert_eq!(theirs.len(), packets.len());
    for (i, p) in packets.iter().enumerate() {
        assert_eq!(our_fields(p), theirs[i], "frame {i}: ours, then tshark's");
    }
    let _ = std::fs::remove_file(path);
}
