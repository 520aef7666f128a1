//! Byte-exact cross-check against libsrtp 2 (Debian `libsrtp2-dev`, installed if missing) for all
//! four profiles, RTP and RTCP, both directions, across a rollover-counter wrap with reordering
//! (including packets from before the wrap delivered after packets from after it).
//!
//! A small C program (tests/libsrtp/helper.c) linked with `-lsrtp2` protects and unprotects hex
//! lines on stdin/stdout; this crate stays free of FFI.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use sansrtc_srtp::{Config, Context, Profile};

fn ensure_libsrtp() {
    let installed = Command::new("dpkg")
        .args(["-s", "libsrtp2-dev"])
        .output()
        .is_ok_and(|o| o.status.success());
    let has_cc = Command::new("cc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed || !has_cc {
        let update = Command::new("apt-get")
            .args(["update", "-qq"])
            .status()
            .expect("run apt-get update");
        assert!(update.success(), "apt-get update failed");
        let status = Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "libsrtp2-dev",
                "gcc",
                "libc6-dev",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("run apt-get install");
        assert!(status.success(), "apt-get install libsrtp2-dev failed");
    }
}

fn helper_binary() -> PathBuf {
    ensure_libsrtp();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    // One binary per caller: tests run in parallel and each removes its own.
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let out = dir.join(format!("srtp-libsrtp-helper-{}-{n}", std::process::id()));
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/libsrtp/helper.c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(cc)
        .args(["-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-lsrtp2")
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "compiling the libsrtp helper failed");
    out
}

struct Libsrtp {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Libsrtp {
    fn start(binary: &PathBuf, profile: Profile, key_and_salt: &[u8]) -> Self {
        let name = match profile {
            Profile::Aes128CmHmacSha1_80 => "AES128_CM_HMAC_SHA1_80",
            Profile::Aes128CmHmacSha1_32 => "AES128_CM_HMAC_SHA1_32",
            Profile::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Profile::AeadAes256Gcm => "AEAD_AES_256_GCM",
        };
        let mut child = Command::new(binary)
            .arg(name)
            .arg(hex(key_and_salt))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the libsrtp helper");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Self {
            child,
            stdin,
            stdout,
        }
    }

    fn call(&mut self, op: &str, packet: &[u8]) -> Result<Vec<u8>, String> {
        writeln!(self.stdin, "{op} {}", hex(packet)).expect("write to helper");
        self.stdin.flush().expect("flush helper stdin");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from helper");
        let line = line.trim_end();
        assert!(!line.is_empty(), "libsrtp helper exited");
        if let Some(err) = line.strip_prefix("ERR ") {
            Err(err.to_string())
        } else {
            Ok(unhex(line))
        }
    }
}

impl Drop for Libsrtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from helper"))
        .collect()
}

fn rtp(seq: u16, ssrc: u32, payload_len: usize, variant: usize) -> Vec<u8> {
    let mut p = match variant % 3 {
        // Plain header.
        0 => vec![0x80, 0x60],
        // Two CSRCs.
        1 => vec![0x82, 0xE0],
        // One-byte header extension with one element.
        _ => vec![0x90, 0x6F],
    };
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq).wrapping_mul(3000)).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    match variant % 3 {
        1 => p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]),
        2 => p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x22, 1, 2, 3]),
        _ => {}
    }
    p.extend((0..payload_len).map(|i| (i * 7 + usize::from(seq)) as u8));
    p
}

fn rtcp(ssrc: u32, n: usize) -> Vec<u8> {
    // Sender report without report blocks, then an SDES chunk: a compound packet.
    let mut p = vec![0x80, 200, 0, 6];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..20).map(|i| (i + n) as u8));
    p.extend_from_slice(&[0x81, 202, 0, 2]);
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[1, 1, b'x', 0]);
    p
}

/// The order packets are delivered in: shuffled within a few positions, across the wrap.
fn reordered(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (0..n.saturating_sub(3)).step_by(3) {
        order.swap(i, i + 2);
    }
    order
}

#[test]
fn byte_exact_with_libsrtp_every_profile() {
    let binary = helper_binary();
    for profile in Profile::ALL {
        let key: Vec<u8> = (0..profile.key_len() + profile.salt_len())
            .map(|i| (i * 13 + 5) as u8)
            .collect();
        let (master_key, master_salt) = key.split_at(profile.key_len());
        let mut ours_tx =
            Context::new(profile, master_key, master_salt, Config::default()).unwrap();
        let mut ours_rx =
            Context::new(profile, master_key, master_salt, Config::default()).unwrap();
        let mut lib = Libsrtp::start(&binary, profile, &key);

        // RTP across a ROC wrap: 65500..=65535, 0..40, two SSRCs interleaved.
        let seqs: Vec<u16> = (65500..=65535).chain(0..40).collect();
        let mut plains = Vec::new();
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for (i, &seq) in seqs.iter().enumerate() {
            for ssrc in [0x1111_1111, 0xDEAD_BEEF] {
                let plain = rtp(seq, ssrc, [0, 1, 160, 1200][i % 4], i);
                let a = ours_tx.protect_rtp_to_vec(&plain).unwrap();
                let b = lib.call("P", &plain).expect("libsrtp protect");
                assert_eq!(
                    hex(&a),
                    hex(&b),
                    "{profile:?} RTP seq {seq} ssrc {ssrc:x}: protect differs"
                );
                plains.push(plain);
                ours.push(a);
                theirs.push(b);
            }
        }
        assert_eq!(ours_tx.roc(0x1111_1111), Some(1));
        for i in reordered(plains.len()) {
            let back = lib
                .call("U", &ours[i])
                .unwrap_or_else(|e| panic!("{profile:?} libsrtp unprotect #{i}: {e}"));
            assert_eq!(back, plains[i], "{profile:?} libsrtp unprotect #{i}");
            let back = ours_rx
                .unprotect_rtp_to_vec(&theirs[i])
                .unwrap_or_else(|e| panic!("{profile:?} our unprotect #{i}: {e}"));
            assert_eq!(back, plains[i], "{profile:?} our unprotect #{i}");
        }
        assert_eq!(ours_rx.roc(0xDEAD_BEEF), Some(1));
        // Both refuse a replay.
        assert!(lib.call("U", &ours[3]).is_err());
        assert!(ours_rx.unprotect_rtp_to_vec(&theirs[3]).is_err());

        // RTCP. libsrtp sends index 1 first, RFC 3711 and we send 0 first: both receivers take
        // either. Send one packet from us first so the indices line up for the byte comparison.
        let first = ours_tx.protect_rtcp_to_vec(&rtcp(0x1111_1111, 99)).unwrap();
        assert_eq!(
            lib.call("UC", &first)
                .expect("libsrtp accepts SRTCP index 0"),
            rtcp(0x1111_1111, 99)
        );
        let mut plains = Vec::new();
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for n in 0..20 {
            let plain = rtcp(0x1111_1111, n);
            let a = ours_tx.protect_rtcp_to_vec(&plain).unwrap();
            let b = lib.call("PC", &plain).expect("libsrtp protect RTCP");
            assert_eq!(hex(&a), hex(&b), "{profile:?} RTCP #{n}: protect differs");
            plains.push(plain);
            ours.push(a);
            theirs.push(b);
        }
        for i in reordered(plains.len()) {
            assert_eq!(
                lib.call("UC", &ours[i]).expect("libsrtp unprotect RTCP"),
                plains[i],
                "{profile:?} RTCP #{i}"
            );
            assert_eq!(
                ours_rx.unprotect_rtcp_to_vec(&theirs[i]).unwrap(),
                plains[i],
                "{profile:?} RTCP #{i}"
            );
        }
        assert!(lib.call("UC", &ours[5]).is_err());
        assert!(ours_rx.unprotect_rtcp_to_vec(&theirs[5]).is_err());
    }
    let _ = std::fs::remove_file(binary);
}

/// Packets from before the sequence wrap delivered after packets from after it, and the other
/// way round (a jump across the wrap, then the late ones from both sides), between us and
/// libsrtp in both directions. The receiver must guess ROC - 1 for a late 65535 once it has
/// seen 0 with ROC 1 (RFC 3711 3.3.1).
#[test]
fn reordering_across_the_wrap_with_libsrtp() {
    let binary = helper_binary();
    let seqs: Vec<u16> = (65530..=65535).chain(0..=5).collect();
    // Positions in `seqs`: 0..=5 are 65530..=65535, 6..=11 are 0..=5.
    let orders: [(u32, [usize; 12]); 2] = [
        // Late pre-wrap packets after post-wrap ones: 65533, 65534 after 0, 1; 65535 after 2.
        (0x0A0A_0A0A, [0, 1, 2, 6, 7, 3, 4, 8, 5, 9, 10, 11]),
        // A jump from 65531 to 2 across the wrap, then the skipped packets of both sides.
        (0x0B0B_0B0B, [0, 1, 8, 2, 6, 5, 7, 3, 9, 4, 10, 11]),
    ];
    for profile in Profile::ALL {
        let key: Vec<u8> = (0..profile.key_len() + profile.salt_len())
            .map(|i| (i * 29 + 1) as u8)
            .collect();
        let (master_key, master_salt) = key.split_at(profile.key_len());
        let mut ours_tx =
            Context::new(profile, master_key, master_salt, Config::default()).unwrap();
        let mut ours_rx =
            Context::new(profile, master_key, master_salt, Config::default()).unwrap();
        let mut lib = Libsrtp::start(&binary, profile, &key);
        for (ssrc, order) in orders {
            let mut plains = Vec::new();
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            for (i, &seq) in seqs.iter().enumerate() {
                let plain = rtp(seq, ssrc, [20, 160, 1][i % 3], i);
                let a = ours_tx.protect_rtp_to_vec(&plain).unwrap();
                let b = lib.call("P", &plain).expect("libsrtp protect");
                assert_eq!(hex(&a), hex(&b), "{profile:?} seq {seq}: protect differs");
                plains.push(plain);
                ours.push(a);
                theirs.push(b);
            }
            let mut delivered = Vec::new();
            for i in order {
                let seq = seqs[i];
                delivered.push(seq);
                let back = lib.call("U", &ours[i]).unwrap_or_else(|e| {
                    panic!("{profile:?} libsrtp unprotect seq {seq} after {delivered:?}: {e}")
                });
                assert_eq!(back, plains[i], "{profile:?} libsrtp seq {seq}");
                let back = ours_rx
                    .unprotect_rtp_to_vec(&theirs[i])
                    .unwrap_or_else(|e| {
                        panic!("{profile:?} our unprotect seq {seq} after {delivered:?}: {e}")
                    });
                assert_eq!(back, plains[i], "{profile:?} our seq {seq}");
            }
            assert_eq!(ours_rx.roc(ssrc), Some(1), "{profile:?}");
            // A late pre-wrap packet replayed is refused by both.
            assert!(lib.call("U", &ours[5]).is_err());
            assert!(ours_rx.unprotect_rtp_to_vec(&theirs[5]).is_err());
        }
    }
    let _ = std::fs::remove_file(binary);
}
