//! Live interop with headless Chromium (Debian `chromium`, driven by playwright-core from npm) and
//! headless Firefox (Debian `firefox-esr`), installed when missing: each browser accepts our answer to
//! its offer, and answers our offer with an answer we accept. Only SDP strings cross (the Firefox page
//! fetches its requests from a server on 127.0.0.1).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use sansrtc_sdp::jsep::{
    Codec, DtlsRole, Feedback, HeaderExtension, JsepConfig, JsepSession, MediaKind, SectionKind,
    Transceiver,
};
use sansrtc_sdp::{AttributeList, Direction, SessionDescription, Setup};

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
}

fn apt_install(packages: &[&str]) {
    run(Command::new("apt-get").args(["update", "-qq"]));
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"));
}

/// Installs the browser, Node.js and playwright-core when missing; returns the driver's directory.
fn setup(browser: &str) -> PathBuf {
    // The two tests run in parallel: install one at a time.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let package = if browser == "firefox" {
        "firefox-esr"
    } else {
        "chromium"
    };
    if !Path::new("/usr/bin").join(package).exists() {
        apt_install(&[package]);
    }
    if Command::new("npm").arg("--version").output().is_err() {
        apt_install(&["nodejs", "npm"]);
    }
    let dir = std::env::temp_dir().join("sansrtc-sdp-gen");
    std::fs::create_dir_all(&dir).unwrap();
    if !dir.join("node_modules/playwright-core").exists() {
        run(Command::new("npm")
            .args(["init", "-y"])
            .current_dir(&dir)
            .stdout(Stdio::null()));
        run(Command::new("npm")
            .args(["install", "-q", "playwright-core"])
            .current_dir(&dir));
    }
    for file in ["interop.js", "interop-page.js"] {
        let driver = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/gen")
            .join(file);
        std::fs::copy(driver, dir.join(file)).unwrap();
    }
    dir
}

struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Browser {
    fn start(browser: &str) -> Self {
        let dir = setup(browser);
        let mut child = Command::new("node")
            .args(["interop.js", browser])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            stdin: Some(stdin),
            stdout,
        }
    }

    fn call(&mut self, op: &str, sdp: Option<&str>) -> Result<String, String> {
        let request = serde_json::json!({ "op": op, "sdp": sdp });
        let stdin = self.stdin.as_mut().expect("driver running");
        writeln!(stdin, "{request}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let reply: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        if reply["ok"].as_bool() == Some(true) {
            Ok(reply["sdp"].as_str().unwrap_or_default().to_string())
        } else {
            Err(reply["error"].as_str().unwrap_or("?").to_string())
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing stdin ends the driver's loop; it then closes the browser and exits.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn rng() -> Box<dyn sansrtc_sdp::jsep::RandomSource> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    Box::new(move |buf: &mut [u8]| {
        for b in buf {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = (state >> 24) as u8;
        }
    })
}

fn local_session() -> JsepSession {
    let mut config = JsepConfig::default();
    config.fingerprint = (0..32).collect();
    let mut s = JsepSession::new(config, rng());
    let mut audio = Transceiver::new(
        MediaKind::Audio,
        Direction::SendRecv,
        vec![
            Codec::new(111, "opus", 48000, Some(2))
                .fmtp("minptime=10;useinbandfec=1")
                .feedback(Feedback::new("transport-cc")),
        ],
    );
    audio.header_extensions = vec![HeaderExtension::new(
        4,
        "urn:ietf:params:rtp-hdrext:sdes:mid",
    )];
    audio.msid = Some(("stream".into(), "mic".into()));
    s.add_transceiver(audio);
    let mut video = Transceiver::new(
        MediaKind::Video,
        Direction::SendRecv,
        vec![
            Codec::new(96, "VP8", 90000, None)
                .feedback(Feedback::new("transport-cc"))
                .feedback(Feedback::with("ccm", "fir"))
                .feedback(Feedback::new("nack"))
                .feedback(Feedback::with("nack", "pli")),
            Codec::new(97, "rtx", 90000, None).fmtp("apt=96"),
        ],
    );
    video.header_extensions = vec![HeaderExtension::new(
        4,
        "urn:ietf:params:rtp-hdrext:sdes:mid",
    )];
    video.msid = Some(("stream".into(), "camera".into()));
    video.send_ssrcs = Some((0x1234_5678, Some(0x2345_6789)));
    video.cname = Some("sansrtc-test".into());
    s.add_transceiver(video);
    s
}

fn accepts_our_answer_and_answers_our_offer(name: &str) {
    let mut chromium = Browser::start(name);

    // Chromium offers; we answer; Chromium accepts the answer.
    let offer_text = chromium
        .call("offer", None)
        .unwrap_or_else(|e| panic!("{name} offer: {e}"));
    let offer = SessionDescription::parse(&offer_text).expect("chromium's offer parses");
    let mut ours = local_session();
    let (answer, negotiated) = ours.create_answer(&offer).expect("we can answer chromium");
    assert_eq!(negotiated.sections.len(), 3);
    assert!(negotiated.sections.iter().all(|s| !s.rejected));
    assert_eq!(negotiated.dtls_role, DtlsRole::Client);
    assert_eq!(negotiated.sections[0].codecs[0].name, "opus");
    assert_eq!(
        negotiated.sections[1]
            .codecs
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["VP8", "rtx"]
    );
    assert_eq!(negotiated.sections[2].kind, SectionKind::Data);
    // The browser announces its sending SSRCs (media and RTX).
    assert!(!negotiated.sections[0].remote_ssrcs.is_empty(), "{name}");
    assert!(
        !negotiated.sections[1].remote_rtx_ssrcs.is_empty(),
        "{name}"
    );
    let state = chromium
        .call("answer", Some(&answer.to_sdp_string()))
        .unwrap_or_else(|e| {
            panic!(
                "chromium rejected our answer: {e}\n{}",
                answer.to_sdp_string()
            )
        });
    assert_eq!(state, "stable");

    // We offer (audio, video, data); a fresh Chromium peer connection answers; we accept the answer.
    let mut ours = local_session();
    ours.add_data_channel();
    let offer = ours.create_offer();
    let answer_text = chromium
        .call("accept", Some(&offer.to_sdp_string()))
        .unwrap_or_else(|e| {
            panic!(
                "chromium rejected our offer: {e}\n{}",
                offer.to_sdp_string()
            )
        });
    let answer = SessionDescription::parse(&answer_text).expect("chromium's answer parses");
    assert!(
        answer
            .media
            .iter()
            .all(|m| m.setup() == Some(Setup::Active))
    );
    let negotiated = ours
        .set_remote_answer(&answer)
        .expect("we accept chromium's answer");
    assert_eq!(negotiated.dtls_role, DtlsRole::Server);
    assert_eq!(negotiated.bundle, ["0", "1", "2"]);
    assert_eq!(negotiated.sections[0].codecs[0].payload_type, 111);
    assert_eq!(negotiated.sections[1].codecs[0].payload_type, 96);
    assert_eq!(negotiated.sections[0].direction, Direction::SendRecv);
    assert_eq!(negotiated.sections[2].remote_sctp_port, Some(5000));
    assert!(negotiated.sections[2].remote_max_message_size.is_some());
}

#[test]
fn chromium_accepts_our_answer_and_answers_our_offer() {
    accepts_our_answer_and_answers_our_offer("chromium");
}

#[test]
fn firefox_accepts_our_answer_and_answers_our_offer() {
    accepts_our_answer_and_answers_our_offer("firefox");
}
