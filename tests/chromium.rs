//! Interop with headless Chromium (Debian `chromium`, driven by playwright-core from npm; both
//! installed when missing): the browser offers WHIP-style to `examples/echo_server.rs`, opens a data
//! channel and gets 201 messages (text and binary, 1..1000 bytes, and 64 KiB) echoed byte-exact;
//! and the browser's fake camera and microphone come back through SRTP and are decoded.
//! Loopback only: the server binds 127.0.0.1 and ignores the browser's other candidates.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

fn setup() -> PathBuf {
    // Tests run in parallel: install one at a time.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !Path::new("/usr/bin/chromium").exists() {
        apt_install(&["chromium"]);
    }
    if Command::new("npm").arg("--version").output().is_err() {
        apt_install(&["nodejs", "npm"]);
    }
    let dir = std::env::temp_dir().join("sansrtc-pc-browser");
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/chromium_echo.js");
    std::fs::copy(script, dir.join("chromium_echo.js")).unwrap();
    dir
}

/// Kills the echo server (by its PID) when the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn echo_server() -> PathBuf {
    // Examples are built by `cargo test` next to the test's deps directory.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let path = dir.join("echo_server");
    if !path.exists() {
        run(Command::new(env!("CARGO")).args(["build", "--example", "echo_server"]));
    }
    path
}

/// Starts the echo server, runs the driver in `mode`, returns its JSON result.
fn drive(script: &str, mode: &str, server_args: &[&str]) -> serde_json::Value {
    let dir = setup();
    let mut child = Command::new(echo_server())
        .args(["--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .args(server_args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("echo server starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let _server = Server(child);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // "echo server: http://127.0.0.1:PORT/ (WHIP: POST /whip), UDP ..."
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("server prints its URL")
        .trim_end_matches('/')
        .to_string();
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            eprintln!("server: {l}");
        }
    });
    let output = Command::new("node")
        .args([script, &base, mode])
        .current_dir(&dir)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let json = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(v.get("error").is_none(), "{v}");
    v
}

#[test]
fn chromium_data_channel_echo() {
    let v = drive("chromium_echo.js", "data", &[]);
    assert_eq!(v["messages"], 201);
    assert_eq!(v["mismatches"], 0, "{v}");
    eprintln!(
        "chromium: data channel open {:.0} ms after createOffer, 201 messages echoed in {:.0} ms, {} / {}",
        v["setupMs"].as_f64().unwrap_or(0.0),
        v["echoMs"].as_f64().unwrap_or(0.0),
        v["dtlsCipher"],
        v["srtpCipher"]
    );
}

#[test]
fn chromium_camera_and_microphone_looped_back() {
    let v = drive("chromium_echo.js", "media", &[]);
    eprintln!("chromium media: {v}");
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
    // Headless Chromium has no audio output device, so nothing pulls samples for playout
    // (totalSamplesReceived stays 0); the looped-back Opus packets are counted on arrival.
    assert!(v["audioPackets"].as_u64().unwrap_or(0) >= 50, "{v}");
}

#[test]
fn chromium_as_dtls_client() {
    // We answer setup:passive: Chromium sends the ClientHello, we are the DTLS and SCTP server.
    let v = drive("chromium_echo.js", "data", &["--passive"]);
    assert_eq!(v["messages"], 201, "{v}");
    assert_eq!(v["mismatches"], 0, "{v}");
    eprintln!("chromium (DTLS client): open after {} ms", v["setupMs"]);
}

#[test]
fn chromium_twenty_channels_and_twenty_megabytes() {
    let v = drive("chromium_echo.js", "bulk", &[]);
    assert_eq!(v["channelsEchoed"], 20, "{v}");
    assert_eq!(v["bulkBytes"], 20 * 1024 * 1024, "{v}");
    assert_eq!(v["corrupt"], 0, "{v}");
    eprintln!(
        "chromium bulk: 20 MB echoed at {:.1} MB/s each way",
        v["mbPerSec"].as_f64().unwrap_or(0.0)
    );
}

#[test]
fn chromium_h264_camera_looped_back() {
    let v = drive("chromium_echo.js", "h264", &[]);
    eprintln!("chromium h264: {v}");
    assert_eq!(v["codec"], "video/H264", "{v}");
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
}

#[test]
fn chromium_answers_our_offer() {
    // We offer (ICE controlling, setup:actpass); Chromium answers and becomes DTLS client; we open
    // the channel, Chromium sends 100 messages through it and gets them back byte-exact.
    let v = drive("chromium_echo.js", "answerer", &[]);
    assert_eq!(v["label"], "echo", "{v}");
    assert_eq!(v["messages"], 100, "{v}");
    assert_eq!(v["mismatches"], 0, "{v}");
    eprintln!(
        "chromium as answerer: channel open after {} ms",
        v["setupMs"]
    );
}
