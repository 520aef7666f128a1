//! Interop with a real third-party dissector: every SCTP packet our endpoints exchange (handshake,
//! DCEP, strings, binary, empty and fragmented messages, SACK, FORWARD-TSN, RE-CONFIG, SHUTDOWN,
//! ABORT) is written to a pcap inside IPv4 (protocol 132), and Wireshark's `tshark` must dissect
//! them with a correct CRC32c and without malformed packets or expert warnings.

use std::process::Command;
use std::time::{Duration, Instant};

use sansrtc_sctp::{
    ChannelConfig, DataChannelEndpoint, DataChannelEvent, DtlsRole, EndpointConfig, Reliability,
    SeededRng,
};

fn ensure_tshark() {
    if Command::new("tshark").arg("--version").output().is_ok() {
        return;
    }
    let install = "echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections; \
                   apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tshark";
    let ok = Command::new("sh")
        .arg("-c")
        .arg(install)
        .status()
        .expect("run apt-get");
    assert!(ok.success(), "installing tshark failed");
}

fn ipv4(src: [u8; 4], dst: [u8; 4], payload: &[u8], id: u16) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut h = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        (id >> 8) as u8,
        id as u8,
        0x40,
        0,
        64,
        132,
        0,
        0,
    ];
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    let c = !(sum as u16);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn pcap(packets: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&228u32.to_le_bytes()); // LINKTYPE_IPV4
    for (i, (from, p)) in packets.iter().enumerate() {
        let (src, dst) = if *from == 0 {
            ([127, 0, 0, 1], [127, 0, 0, 2])
        } else {
            ([127, 0, 0, 2], [127, 0, 0, 1])
        };
        let frame = ipv4(src, dst, p, i as u16);
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

struct Pair {
    now: Instant,
    e: [DataChannelEndpoint; 2],
    captured: Vec<(usize, Vec<u8>)>,
    events: [Vec<DataChannelEvent>; 2],
}

impl Pair {
    /// Exchanges packets (without loss) until both sides are quiet, then lets timers run.
    fn run(&mut self, timers: bool) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..2 {
                while let Some(p) = self.e[i].poll_transmit(self.now) {
                    self.captured.push((i, p.clone()));
                    self.e[1 - i].handle_receive(self.now, &p);
                    moved = true;
                }
                while let Some(ev) = self.e[i].poll_event() {
                    self.events[i].push(ev);
                }
            }
            if !moved {
                if !timers {
                    return;
                }
                let Some(t) = self.e.iter().filter_map(|e| e.poll_timeout()).min() else {
                    return;
                };
                self.now = self.now.max(t);
                for e in &mut self.e {
                    e.handle_timeout(self.now);
                }
                if self.now > Instant::now() + Duration::from_secs(30) {
                    return;
                }
            }
        }
    }
}

#[test]
fn tshark_dissects_our_sctp_and_dcep() {
    ensure_tshark();
    // One session with DATA, one with I-DATA interleaving (RFC 8260).
    let mut captured = session(false);
    captured.extend(session(true));
    check_with_tshark(&captured);
}

/// A full session; returns every packet with its sender (0 or 1).
fn session(interleaving: bool) -> Vec<(usize, Vec<u8>)> {
    let now = Instant::now();
    let mut rng = SeededRng::new(42);
    let config = |role| {
        let mut c = EndpointConfig::new(role);
        c.sctp.interleaving = interleaving;
        c
    };
    let mut pair = Pair {
        now,
        e: [
            DataChannelEndpoint::new(config(DtlsRole::Client), now, &mut rng),
            DataChannelEndpoint::new(config(DtlsRole::Server), now, &mut rng),
        ],
        captured: Vec::new(),
        events: [Vec::new(), Vec::new()],
    };
    pair.e[0].connect(now);
    pair.run(false);
    let chat = pair.e[0]
        .open_channel(now, ChannelConfig::reliable("chat"))
        .unwrap();
    let pr = pair.e[0]
        .open_channel(now, {
            let mut cfg = ChannelConfig::default();
            cfg.label = "pr".into();
            cfg.protocol = "proto".into();
            cfg.ordered = false;
            cfg.reliability = Reliability::MaxRetransmits(0);
            cfg
        })
        .unwrap();
    pair.run(true);
    let t = pair.now;
    pair.e[0].send(t, chat, b"hello".to_vec(), false).unwrap();
    pair.e[0].send(t, chat, vec![1, 2, 3], true).unwrap();
    pair.e[0].send(t, chat, Vec::new(), false).unwrap();
    pair.e[0].send(t, chat, Vec::new(), true).unwrap();
    pair.e[0].send(t, chat, vec![9u8; 5000], true).unwrap();
    pair.e[1].send(t, chat, b"reply".to_vec(), false).unwrap();
    pair.run(true);
    // Sent once and lost: never retransmitted, so a FORWARD-TSN skips it.
    pair.e[0].send(pair.now, pr, vec![5u8; 10], true).unwrap();
    let lost = pair.e[0].poll_transmit(pair.now).expect("the PR message");
    pair.captured.push((0, lost));
    pair.run(true);
    // Quiet for longer than the heartbeat interval: HEARTBEAT and HEARTBEAT-ACK.
    pair.now += Duration::from_secs(31);
    for e in &mut pair.e {
        e.handle_timeout(pair.now);
    }
    pair.run(false);
    pair.e[0].close(pair.now, chat);
    pair.run(true);
    pair.e[1].shutdown(pair.now);
    pair.run(true);
    assert!(
        pair.events[1]
            .iter()
            .any(|e| matches!(e, DataChannelEvent::Message { data, .. } if data == b"hello"))
    );
    assert!(pair.events[1].contains(&DataChannelEvent::ChannelClosed(chat)));
    // An ABORT from a fresh pair.
    let mut a = DataChannelEndpoint::new(EndpointConfig::new(DtlsRole::Client), now, &mut rng);
    let mut b = DataChannelEndpoint::new(EndpointConfig::new(DtlsRole::Server), now, &mut rng);
    a.connect(now);
    let mut extra = Vec::new();
    for _ in 0..4 {
        while let Some(p) = a.poll_transmit(now) {
            extra.push((0, p.clone()));
            b.handle_receive(now, &p);
        }
        while let Some(p) = b.poll_transmit(now) {
            extra.push((1, p.clone()));
            a.handle_receive(now, &p);
        }
    }
    let mut assoc = sansrtc_sctp::Association::new(Default::default(), now, &mut rng);
    assoc.connect(now);
    let _ = assoc.poll_transmit(now);
    assoc.abort(now);
    extra.push((0, assoc.poll_transmit(now).expect("ABORT packet")));
    pair.captured.extend(extra);
    pair.captured
}

fn check_with_tshark(captured: &[(usize, Vec<u8>)]) {
    let dir = std::env::temp_dir().join(format!("sansrtc-sctp-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sctp.pcap");
    std::fs::write(&file, pcap(captured)).unwrap();
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&file)
        .args([
            "-o",
            "sctp.checksum:CRC-32C",
            "-T",
            "fields",
            "-E",
            "separator=/t",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
            "-e",
            "frame.number",
            "-e",
            "sctp.chunk_type",
            "-e",
            "sctp.checksum.status",
            "-e",
            "_ws.malformed",
            "-e",
            "_ws.expert.severity",
            "-e",
            "rtcdc.message_type",
            "-e",
            "rtcdc.label",
        ])
        .output()
        .expect("run tshark");
    if std::env::var_os("KEEP_PCAP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        captured.len(),
        "tshark saw every packet:\n{text}"
    );
    let mut chunk_types = std::collections::BTreeSet::new();
    let mut dcep = std::collections::BTreeSet::new();
    let mut labels = Vec::new();
    for line in &lines {
        let f: Vec<&str> = line.split('\t').collect();
        assert!(f.len() >= 5, "unexpected tshark line {line}");
        for c in f[1].split(',').filter(|s| !s.is_empty()) {
            chunk_types.insert(c.parse::<u32>().unwrap());
        }
        assert_eq!(f[2], "1", "checksum not good in {line}");
        assert!(f[3].is_empty(), "malformed packet: {line}");
        for sev in f[4].split(',').filter(|s| !s.is_empty()) {
            let v: u32 = sev.parse().unwrap();
            // 0x00400000 is "note"; warnings (0x00600000) and errors (0x00800000) fail.
            assert!(v < 0x0060_0000, "expert warning or error: {line}");
        }
        if let Some(m) = f.get(5) {
            for t in m.split(',').filter(|s| !s.is_empty()) {
                dcep.insert(t.to_owned());
            }
        }
        if let Some(l) = f.get(6).filter(|l| !l.is_empty()) {
            labels.extend(l.split(',').map(str::to_owned));
        }
    }
    for ty in [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 14, 64, 130, 192, 194] {
        assert!(
            chunk_types.contains(&ty),
            "chunk type {ty} missing: {chunk_types:?}\n{text}"
        );
    }
    assert!(
        dcep.contains("3") && dcep.contains("2"),
        "DCEP open and ack dissected: {dcep:?}"
    );
    assert!(
        labels.iter().any(|l| l == "chat") && labels.iter().any(|l| l == "pr"),
        "{labels:?}"
    );
}
