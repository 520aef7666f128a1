//! `examples/play_from_disk` against headless Chromium (driven by playwright-core, as in
//! `tests/chromium.rs`): the media files are made at test time with Debian's `ffmpeg`
//! (installed when missing): 3 s of a test picture as VP8, VP9 and AV1 in IVF and H.264 in
//! Annex B, and a 440 Hz tone as Ogg Opus. Chromium fetches them with WHEP (recvonly
//! transceivers, the codec under test preferred) and must decode more than 90 video frames,
//! past the end of the file (the player loops), and receive the Opus audio; then it `DELETE`s
//! the session. A keyframe request from the browser makes the player jump to the file's next
//! key frame. Two files of one codec at different bitrates (and sizes, so the browser's
//! decoded size tells which one it gets) are layers: the estimator's start and ceiling decide
//! which one a session is sent, and through a loopback throttled to 1 Mbit/s (`tc` token bucket
//! in a private network namespace) a session falls from the 1.5 Mbit/s file to the 150 kbit/s
//! one. H.265 plays only if this Chromium receives it (it is checked; Debian's does not, and
//! then an offer without H.265 must be refused).
//! Headless Firefox ESR (in a private network namespace, on a page this test serves with
//! `whep_play.js` as its script and `/whep` proxied to the player) plays VP8, VP9, AV1 (an
//! SVT-AV1 file: on the libaom one its content process crashes) and H.264 (through its FFmpeg
//! decoder) the same way. Loopback only: every socket is bound to 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::{apt_install, run};

/// One browser session at a time (a 2-core machine: two Chromiums decoding and two players
/// slow each other past real time).
static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// Set in the copy of a test that runs in a private network namespace: the media files were
/// made by the test that started it.
const MEDIA_MADE: &str = "SANSRTC_PLAY_MEDIA_MADE";
/// Set (to the test's name) in the copy of a test that runs in a private network namespace.
const NETNS: &str = "SANSRTC_PLAY_NETNS";

/// The directory of the media files, made once per test run with ffmpeg.
fn media_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if Command::new("ffmpeg").arg("-version").output().is_err() {
            apt_install(&["ffmpeg"]);
        }
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("play_from_disk");
        if std::env::var_os(MEDIA_MADE).is_some() {
            return dir;
        }
        std::fs::create_dir_all(&dir).unwrap();
        let picture = |size: &str| format!("testsrc=size={size}:rate=30");
        // A noisy picture: its bitrate follows the bitrate asked for.
        let noisy = |size: &str| format!("testsrc=size={size}:rate=30,noise=alls=30:allf=t");
        let files: [(&str, String, &[&str]); 11] = [
            (
                "vp8.ivf",
                picture("320x240"),
                &["-c:v", "libvpx", "-b:v", "500k"],
            ),
            (
                "vp9.ivf",
                picture("320x240"),
                &["-c:v", "libvpx-vp9", "-b:v", "500k"],
            ),
            (
                "av1.ivf",
                picture("320x240"),
                &["-c:v", "libaom-av1", "-cpu-used", "8", "-b:v", "300k"],
            ),
            // Firefox ESR's content process dies on the libaom file (see below), not on this.
            (
                "av1-svt.ivf",
                picture("320x240"),
                &["-c:v", "libsvtav1", "-preset", "12", "-b:v", "300k"],
            ),
            (
                "h264.h264",
                picture("320x240"),
                &[
                    "-c:v",
                    "libx264",
                    "-profile:v",
                    "baseline",
                    "-pix_fmt",
                    "yuv420p",
                    "-x264-params",
                    "keyint=30",
                    "-bsf:v",
                    "h264_mp4toannexb",
                    "-f",
                    "h264",
                ],
            ),
            (
                "h265.h265",
                picture("320x240"),
                &[
                    "-c:v",
                    "libx265",
                    "-x265-params",
                    "keyint=30:log-level=error",
                    "-f",
                    "hevc",
                ],
            ),
            // Layers: 1.2 Mbit/s at 320x240, 150 kbit/s at 160x120; one key frame each.
            (
                "high.ivf",
                noisy("320x240"),
                &[
                    "-c:v", "libvpx", "-b:v", "1200k", "-minrate", "1200k", "-maxrate", "1200k",
                    "-g", "300",
                ],
            ),
            (
                "low.ivf",
                noisy("160x120"),
                &[
                    "-c:v", "libvpx", "-b:v", "150k", "-minrate", "150k", "-maxrate", "150k", "-g",
                    "300",
                ],
            ),
            // Layers with a key frame every second (where a switch can happen): 1.5 Mbit/s at
            // 320x240, 150 kbit/s at 160x120.
            (
                "high-g30.ivf",
                noisy("320x240"),
                &[
                    "-c:v", "libvpx", "-b:v", "1500k", "-minrate", "1500k", "-maxrate", "1500k",
                    "-g", "30",
                ],
            ),
            (
                "low-g30.ivf",
                noisy("160x120"),
                &[
                    "-c:v", "libvpx", "-b:v", "150k", "-minrate", "150k", "-maxrate", "150k", "-g",
                    "30",
                ],
            ),
            (
                "tone.ogg",
                "sine=frequency=440".into(),
                &["-c:a", "libopus"],
            ),
        ];
        for (name, source, codec) in files {
            run(Command::new("ffmpeg")
                .args([
                    "-hide_banner",
                    "-loglevel",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                ])
                .arg(&source)
                .args(["-t", "3"])
                .args(codec)
                .arg(dir.join(name)));
        }
        dir
    })
    .clone()
}

/// A running `play_from_disk` (killed by its PID when dropped) and its first lines.
struct Player {
    child: Child,
    /// `127.0.0.1:PORT`
    http: String,
    /// What it printed about its files.
    lines: Vec<String>,
}

impl Player {
    /// Starts the example with `args` (paths relative to [`media_dir`]).
    fn start(args: &[&str]) -> Self {
        let dir = media_dir();
        let mut child = Command::new(common::example_exe("play_from_disk"))
            .args(["--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("play_from_disk starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // "play from disk: http://127.0.0.1:PORT/ (WHEP: POST /whep), UDP 127.0.0.1:PORT"
        let http = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .unwrap_or_else(|| panic!("the player prints its URL: {line:?}"))
            .trim_end_matches('/')
            .to_string();
        let mut lines = Vec::new();
        // A line per file.
        let count = args
            .iter()
            .filter(|a| **a == "--video" || **a == "--audio")
            .count();
        for _ in 0..count {
            let mut l = String::new();
            out.read_line(&mut l).unwrap();
            eprintln!("player: {}", l.trim_end());
            lines.push(l);
        }
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                eprintln!("player: {l}");
            }
        });
        Player { child, http, lines }
    }

    /// `GET /stats`.
    fn stats(&self) -> Value {
        let (_, _, body) = http_request(&self.http, "GET", "/stats", b"");
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
    }

    /// Polls `/stats` until `done` holds (bounded); the last value either way.
    fn stats_until(&self, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.stats();
            if done(&v) || Instant::now() >= deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One HTTP request to `addr`: the response's status, `Location` header and body.
fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Option<String>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("HTTP connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        addr,
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status");
    let location = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.trim().to_string());
    (status, location, response[split + 4..].to_vec())
}

impl Drop for Player {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The driver (node) with `opts`; killed by its PID when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the WHEP driver against `player` with `opts` (JSON); the result, and the player's
/// `/stats` taken while the session still played (the driver reports progress first).
fn drive(player: &Player, opts: &str) -> (Value, Value) {
    let (dir, script) = common::chromium_driver("whep_play.js");
    let mut child = Command::new("node")
        .args([script.as_str(), &format!("http://{}", player.http), opts])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let out: BufReader<ChildStdout> = BufReader::new(child.stdout.take().unwrap());
    let _driver = Driver(child);
    let mut playing = Value::Null;
    for line in out.lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            eprintln!("driver: {line}");
            continue;
        };
        if let Some(p) = v.get("progress") {
            // The server's view while the browser counts frames (the last one is kept).
            if p["framesDecoded"].as_u64().unwrap_or(0) > 30 {
                playing = player.stats();
            }
            continue;
        }
        eprintln!("driver: {line}");
        assert!(v.get("error").is_none(), "{v}");
        return (v, playing);
    }
    panic!("the driver ended without a result");
}

/// Plays `--video video --audio tone.ogg` to Chromium preferring `codec`; checks that more
/// than 90 frames (past the loop) and 50 audio packets arrived, and that `DELETE` ended the
/// session.
fn chromium_plays(codec: &str, video: &str) -> Value {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let player = Player::start(&["--video", video, "--audio", "tone.ogg"]);
    let (v, playing) = drive(
        &player,
        &format!(r#"{{"codec":"{codec}","frames":100,"audioPackets":50}}"#),
    );
    eprintln!(
        "chromium plays {codec}: {} frames decoded ({} key frames, {}x{}), {} audio packets, in {:.0} ms; server: {playing}",
        v["framesDecoded"],
        v["keyFramesDecoded"],
        v["width"],
        v["height"],
        v["audioPackets"],
        v["ms"].as_f64().unwrap_or(0.0)
    );
    assert_eq!(
        v["codec"].as_str().map(str::to_ascii_uppercase),
        Some(codec.to_string()),
        "{v}"
    );
    assert_eq!(v["audioCodec"], "opus", "{v}");
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 90, "{v}");
    assert!(v["audioPackets"].as_u64().unwrap_or(0) >= 50, "{v}");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(240)),
        "{v}"
    );
    assert_eq!(v["deleteStatus"], 200, "{v}");
    assert_eq!(playing["sessions"][0]["layer"], 0, "{playing}");
    assert_eq!(playing["sessions"][0]["write_errors"], 0, "{playing}");
    // DELETE ended the session: the server forgets it.
    let after = player.stats_until(Duration::from_secs(10), |s| {
        s["sessions"].as_array().is_some_and(|a| a.is_empty())
    });
    assert_eq!(
        after["sessions"].as_array().map(Vec::len),
        Some(0),
        "{after}"
    );
    v
}

#[test]
fn chromium_plays_vp8() {
    chromium_plays("VP8", "vp8.ivf");
}

#[test]
fn chromium_plays_vp9() {
    chromium_plays("VP9", "vp9.ivf");
}

#[test]
fn chromium_plays_av1() {
    chromium_plays("AV1", "av1.ivf");
}

#[test]
fn chromium_plays_h264() {
    let v = chromium_plays("H264", "h264.h264");
    // A key frame every 30 frames: more than 3 decoded in 100 frames.
    assert!(v["keyFramesDecoded"].as_u64().unwrap_or(0) >= 3, "{v}");
}

#[test]
fn chromium_keyframe_request_jumps_to_the_next_key_frame() {
    // vp8.ivf has one key frame, its first: without the jump the second would come at the
    // loop, after frame 90.
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let player = Player::start(&["--video", "vp8.ivf", "--audio", "tone.ogg"]);
    let (v, playing) = drive(
        &player,
        r#"{"codec":"VP8","frames":61,"audioPackets":0,"keyframe":true}"#,
    );
    let s = &playing["sessions"][0];
    eprintln!(
        "keyframe request ({}): {} frames decoded, {} key frames; server: {s}",
        v["keyFrameRequest"], v["framesDecoded"], v["keyFramesDecoded"]
    );
    assert_eq!(v["keyFrameRequest"], "sent", "{v}");
    assert!(s["keyframe_requests"].as_u64().unwrap_or(0) >= 1, "{s}");
    assert!(s["keyframe_jumps"].as_u64().unwrap_or(0) >= 1, "{s}");
    assert!(v["keyFramesDecoded"].as_u64().unwrap_or(0) >= 2, "{v}");
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 60, "{v}");
}

/// Chromium plays H.265 when it receives it; Debian's Chromium 156 does not (no H.265 in its
/// receive capabilities), and then what it would offer, an offer without H.265, is refused.
#[test]
fn chromium_plays_h265_or_an_offer_without_it_is_refused() {
    let caps = {
        let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
        let player = Player::start(&["--audio", "tone.ogg"]);
        drive(&player, r#"{"capabilities":true}"#).0
    };
    let receives = caps["video"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c == "video/H265"));
    if receives {
        chromium_plays("H265", "h265.h265");
        return;
    }
    eprintln!(
        "this Chromium does not receive H.265 (it offers {}): an offer without it must be refused",
        caps["video"]
    );
    // A WHEP offer like this Chromium's: receive-only VP8/VP9/H.264/AV1 video and Opus.
    let mut pc = sansrtc::PeerConnection::new(sansrtc::Config::default()).unwrap();
    pc.add_local_address("127.0.0.1:9".parse().unwrap())
        .unwrap();
    pc.add_transceiver(sansrtc::codecs::audio_transceiver(
        sansrtc::sdp::Direction::RecvOnly,
    ));
    pc.add_transceiver(sansrtc::codecs::video_transceiver(
        sansrtc::sdp::Direction::RecvOnly,
    ));
    let offer = pc.create_offer(Instant::now()).unwrap();
    assert!(!offer.contains("H265"), "{offer}");
    let player = Player::start(&["--video", "h265.h265", "--audio", "tone.ogg"]);
    let (status, location, body) = http_request(&player.http, "POST", "/whep", offer.as_bytes());
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert_eq!(location, None);
}

/// Plays the layers `high.ivf` (1.2 Mbit/s, 320x240) and `low.ivf` (150 kbit/s, 160x120) with
/// `args`; the driver's result and the server's view while playing.
fn play_layers(args: &[&str]) -> (Value, Value) {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let mut all = vec![
        "--video", "high.ivf", "--video", "low.ivf", "--audio", "tone.ogg",
    ];
    all.extend_from_slice(args);
    let player = Player::start(&all);
    let bitrates = layer_bitrates(&player);
    let (v, playing) = drive(&player, r#"{"codec":"VP8","frames":61,"audioPackets":50}"#);
    eprintln!(
        "layers {bitrates:?} with {args:?}: {}x{}, {} frames decoded; server: {playing}",
        v["width"], v["height"], v["framesDecoded"]
    );
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 60, "{v}");
    (v, playing)
}

/// The bitrates of the player's two layers, from what it printed; the first more than three
/// times the second.
fn layer_bitrates(player: &Player) -> Vec<u64> {
    let bitrates: Vec<u64> = player.lines[..2]
        .iter()
        .map(|l| {
            l.rsplit(", ")
                .next()
                .and_then(|b| b.split_whitespace().next())
                .and_then(|b| b.parse().ok())
                .unwrap_or_else(|| panic!("a layer's bitrate in {l:?}"))
        })
        .collect();
    assert!(bitrates[0] > 3 * bitrates[1], "{bitrates:?}");
    bitrates
}

#[test]
fn chromium_gets_the_low_layer_under_a_low_estimate() {
    // The estimate never exceeds 600 kbit/s: only the 150 kbit/s file fits.
    let (v, playing) = play_layers(&["--max-bitrate", "600000"]);
    let s = &playing["sessions"][0];
    assert!(
        s["bandwidth_estimate"].as_u64().unwrap_or(u64::MAX) <= 600_000,
        "{s}"
    );
    assert_eq!(s["layer"], 1, "{s}");
    assert_eq!(s["layer_file"], "low.ivf", "{s}");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(160), Some(120)),
        "{v}"
    );
}

#[test]
fn chromium_gets_the_high_layer_under_a_high_estimate() {
    // The estimate starts at 5 Mbit/s: the 1.2 Mbit/s file fits from the first frame (the
    // only key frame of each file is its first: a switch could come only at the loop).
    let (v, playing) = play_layers(&["--start-bitrate", "5000000"]);
    let s = &playing["sessions"][0];
    assert_eq!(s["layer_file"], "high.ivf", "{s}");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(320), Some(240)),
        "{v}"
    );
}

/// Runs `body` in a private network namespace where `lo` is the only interface, limited to
/// `rate` by a token bucket filter when given (`tc qdisc ... tbf`; `netem` is not in every
/// kernel): outside, this makes what the inner test needs (media files, driver, example) and
/// re-runs the test `test` inside (`unshare --net`), which must pass.
fn in_netns(test: &str, rate: Option<&str>, body: impl FnOnce()) {
    if std::env::var(NETNS).is_ok_and(|t| t == test) {
        run(Command::new("ip").args(["link", "set", "lo", "up"]));
        if let Some(rate) = rate {
            run(Command::new("tc")
                .args(["qdisc", "add", "dev", "lo", "root", "tbf", "rate", rate])
                .args(["burst", "32kb", "latency", "200ms"]));
        }
        body();
        return;
    }
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    media_dir();
    common::chromium_driver("whep_play.js");
    common::example_exe("play_from_disk");
    if !std::path::Path::new(FIREFOX).exists() {
        apt_install(&["firefox-esr"]);
    }
    if Command::new("tc").arg("-V").output().is_err() {
        apt_install(&["iproute2"]);
    }
    let mut child = common::Proc(
        Command::new("unshare")
            .args(["--net", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(NETNS, test)
            .env(MEDIA_MADE, "1")
            .env(common::EXAMPLES_BUILT, "1")
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare runs (needs root or CAP_SYS_ADMIN)"),
    );
    let out = child.0.stdout.take().unwrap();
    let lines: Vec<String> = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .inspect(|l| eprintln!("netns: {l}"))
        .collect();
    let status = child.0.wait().expect("the inner test ends");
    assert!(
        status.success(),
        "the test in the namespace failed: {status}"
    );
    // It ran (a name that matched no test would pass too).
    assert!(
        lines.iter().any(|l| l.contains("1 passed")),
        "the inner test did not run"
    );
}

#[test]
fn chromium_through_a_throttled_loopback_gets_the_layer_that_fits() {
    in_netns(
        "chromium_through_a_throttled_loopback_gets_the_layer_that_fits",
        Some("1mbit"),
        || {
            // The estimate starts at 5 Mbit/s: the 1.5 Mbit/s layer is sent first, the 1 Mbit/s
            // loopback queues and drops it, the estimate falls, and at a key frame of the
            // 150 kbit/s file the session switches to it; the browser decodes its 160x120.
            let player = Player::start(&[
                "--video",
                "high-g30.ivf",
                "--video",
                "low-g30.ivf",
                "--audio",
                "tone.ogg",
                "--start-bitrate",
                "5000000",
            ]);
            let bitrates = layer_bitrates(&player);
            let (v, playing) = drive(
                &player,
                r#"{"codec":"VP8","frames":61,"audioPackets":50,"width":160,"timeoutMs":40000}"#,
            );
            let s = &playing["sessions"][0];
            eprintln!(
                "throttled to 1 Mbit/s, layers {bitrates:?}: {}x{}, {} frames decoded, {} lost, {} NACKs; server: {s}",
                v["width"], v["height"], v["framesDecoded"], v["packetsLost"], v["nackCount"]
            );
            assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 60, "{v}");
            assert_eq!(
                (v["width"].as_u64(), v["height"].as_u64()),
                (Some(160), Some(120)),
                "{v}"
            );
            assert_eq!(s["layer_file"], "low-g30.ivf", "{s}");
            assert!(s["switches"].as_u64().unwrap_or(0) >= 1, "{s}");
            assert!(
                s["bandwidth_estimate"].as_u64().unwrap_or(u64::MAX) < bitrates[0],
                "{s}"
            );
        },
    );
}

const FIREFOX: &str = "/usr/bin/firefox-esr";

/// Firefox preferences for the test profile (as in `tests/firefox.rs`).
const FIREFOX_PREFS: &[(&str, &str)] = &[
    // Keep 127.0.0.1 among the host candidates, with real addresses (no mDNS names).
    ("media.peerconnection.ice.loopback", "true"),
    ("media.peerconnection.ice.obfuscate_host_addresses", "false"),
    // Every interface's address is gathered once the page has a capture permission.
    ("permissions.default.camera", "1"),
    ("permissions.default.microphone", "1"),
    ("media.navigator.streams.fake", "true"),
    ("media.navigator.permission.disabled", "true"),
    ("media.autoplay.default", "0"),
    ("browser.shell.checkDefaultBrowser", "false"),
    ("browser.startup.homepage_override.mstone", "\"ignore\""),
    ("browser.aboutwelcome.enabled", "false"),
    ("datareporting.policy.dataSubmissionEnabled", "false"),
    ("toolkit.telemetry.reportingpolicy.firstRun", "false"),
    ("app.update.auto", "false"),
    ("network.captive-portal-service.enabled", "false"),
    ("network.connectivity-service.enabled", "false"),
];

/// `s` with every byte but ASCII letters and digits percent-encoded (a URL query value).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Inside the namespace: headless Firefox on a page served by this test (the player's WHEP
/// requests proxied to it), running `play(opts)` of `whep_play.js`; the page's result.
fn firefox_play(player: &Player, opts: &str, extra_prefs: &[(&str, &str)]) -> Value {
    const PAGE: &str = include_str!("browser/firefox_play.html");
    const SCRIPT: &str = include_str!("browser/whep_play.js");
    let http = tiny_http::Server::http("127.0.0.1:0").expect("bind HTTP");
    let port = http.server_addr().to_ip().expect("an IP address").port();
    let (results, result) = std::sync::mpsc::channel();
    let target = player.http.clone();
    std::thread::spawn(move || {
        let header = |h: &str| h.parse::<tiny_http::Header>().expect("a valid header");
        for mut request in http.incoming_requests() {
            let mut body = Vec::new();
            let _ = request.as_reader().read_to_end(&mut body);
            let url = request.url().to_string();
            let method = request.method().as_str().to_string();
            let response = match (method.as_str(), url.as_str()) {
                ("GET", u) if u == "/" || u.starts_with("/?") => {
                    tiny_http::Response::from_string(PAGE)
                        .with_header(header("Content-Type: text/html; charset=utf-8"))
                }
                ("GET", "/whep_play.js") => tiny_http::Response::from_string(SCRIPT)
                    .with_header(header("Content-Type: text/javascript")),
                ("POST", "/progress") => {
                    eprintln!("firefox: {}", String::from_utf8_lossy(&body));
                    tiny_http::Response::from_string("")
                }
                ("POST", "/result") => {
                    let _ = results.send(String::from_utf8_lossy(&body).to_string());
                    tiny_http::Response::from_string("")
                }
                ("POST", "/whep") | ("DELETE", _) => {
                    let (status, location, body) = http_request(&target, &method, &url, &body);
                    let mut r = tiny_http::Response::from_data(body).with_status_code(status);
                    if let Some(l) = location {
                        r = r.with_header(header(&format!("Location: {l}")));
                    }
                    r
                }
                _ => tiny_http::Response::from_string("not found").with_status_code(404),
            };
            let _ = request.respond(response);
        }
    });
    let profile = std::env::temp_dir().join(format!("sansrtc-play-firefox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).unwrap();
    let prefs: String = FIREFOX_PREFS
        .iter()
        .chain(extra_prefs)
        .map(|(k, v)| format!("user_pref(\"{k}\", {v});\n"))
        .collect();
    std::fs::write(profile.join("user.js"), prefs).unwrap();
    let url = format!("http://127.0.0.1:{port}/?opts={}", percent_encode(opts));
    let mut firefox = common::Proc(
        Command::new(FIREFOX)
            .args(["--headless", "--no-remote", "--profile"])
            .arg(&profile)
            .arg(&url)
            .env("MOZ_CRASHREPORTER_DISABLE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("firefox starts"),
    );
    let json = result
        .recv_timeout(Duration::from_secs(120))
        .expect("the Firefox page posts its result");
    // SIGTERM first, so that Firefox takes its content processes down with it.
    let _ = Command::new("kill")
        .args(["-TERM", &firefox.0.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && matches!(firefox.0.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(firefox);
    let _ = std::fs::remove_dir_all(&profile);
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    eprintln!("firefox: {v}");
    assert!(v.get("error").is_none(), "{v}");
    v
}

/// Firefox plays `video` (preferring `codec`) with the Opus tone: more than 90 frames and 50
/// audio packets, then `DELETE`.
fn firefox_plays(test: &str, codec: &str, video: &str, extra_prefs: &[(&str, &str)]) {
    in_netns(test, None, || {
        let player = Player::start(&["--video", video, "--audio", "tone.ogg"]);
        let v = firefox_play(
            &player,
            &format!(r#"{{"codec":"{codec}","frames":100,"audioPackets":50}}"#),
            extra_prefs,
        );
        eprintln!(
            "firefox plays {codec}: {} frames decoded ({} key frames, {}x{}), {} audio packets, in {:.0} ms",
            v["framesDecoded"],
            v["keyFramesDecoded"],
            v["width"],
            v["height"],
            v["audioPackets"],
            v["ms"].as_f64().unwrap_or(0.0)
        );
        assert_eq!(
            v["codec"].as_str().map(str::to_ascii_uppercase),
            Some(codec.to_string()),
            "{v}"
        );
        assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 90, "{v}");
        assert!(v["audioPackets"].as_u64().unwrap_or(0) >= 50, "{v}");
        assert_eq!(v["deleteStatus"], 200, "{v}");
    });
}

#[test]
fn firefox_plays_vp8() {
    firefox_plays("firefox_plays_vp8", "VP8", "vp8.ivf", &[]);
}

#[test]
fn firefox_plays_vp9() {
    firefox_plays("firefox_plays_vp9", "VP9", "vp9.ivf", &[]);
}

#[test]
fn firefox_plays_av1() {
    // Encoded by SVT-AV1: with the libaom file (av1.ivf, which Chromium decodes) Firefox ESR's
    // content process dies of SIGSEGV as the stream starts (its parent logs "process ...
    // exited on signal 11"); whether something in that stream or in our packets of it triggers
    // it is not known yet.
    firefox_plays("firefox_plays_av1", "AV1", "av1-svt.ivf", &[]);
}

#[test]
fn a_truncated_or_garbage_file_is_refused_at_start() {
    let dir = media_dir();
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("play_from_disk_bad");
    std::fs::create_dir_all(&scratch).unwrap();
    let whole = std::fs::read(dir.join("vp8.ivf")).unwrap();
    let cut = scratch.join("cut.ivf");
    std::fs::write(&cut, &whole[..whole.len() - 100]).unwrap();
    let garbage = scratch.join("garbage.h264");
    std::fs::write(&garbage, [0x5Au8; 4096]).unwrap();
    let ogg = std::fs::read(dir.join("tone.ogg")).unwrap();
    let cut_ogg = scratch.join("cut.ogg");
    std::fs::write(&cut_ogg, &ogg[..ogg.len() / 2]).unwrap();
    for (flag, path, why) in [
        ("--video", &cut, "truncated"),
        ("--video", &garbage, "Annex B"),
        ("--audio", &cut_ogg, "truncated"),
    ] {
        let out = Command::new(common::example_exe("play_from_disk"))
            .args(["--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", flag])
            .arg(path)
            .output()
            .expect("play_from_disk runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("{}: {}", path.display(), stderr.trim_end());
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn whep_refuses_what_it_cannot_answer() {
    let player = Player::start(&["--video", "vp8.ivf", "--audio", "tone.ogg"]);
    let (status, location, body) =
        http_request(&player.http, "POST", "/whep", b"v=0\r\nnot an offer\r\n");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert_eq!(location, None);
    let unknown = format!("/whep/{}", "0".repeat(32));
    assert_eq!(http_request(&player.http, "DELETE", &unknown, b"").0, 404);
    assert_eq!(http_request(&player.http, "DELETE", "/whep/x", b"").0, 404);
    assert_eq!(http_request(&player.http, "GET", "/nothing", b"").0, 404);
    let stats = player.stats();
    assert_eq!(
        stats["sessions"].as_array().map(Vec::len),
        Some(0),
        "{stats}"
    );
}

#[test]
fn firefox_plays_h264() {
    // Firefox's software H.264 is Cisco's OpenH264 plugin, downloaded at run time (not here):
    // these preferences (as in tests/firefox.rs) make it use the platform decoder (FFmpeg).
    const H264_PREFS: &[(&str, &str)] = &[
        ("media.webrtc.hw.h264.enabled", "true"),
        ("gfx.blacklist.webrtc.hw.acceleration.h264", "1"),
        ("media.ffmpeg.encoder.enabled", "true"),
        ("media.webrtc.platformencoder", "true"),
        ("media.webrtc.encoder_creation_strategy", "1"),
    ];
    firefox_plays("firefox_plays_h264", "H264", "h264.h264", H264_PREFS);
}
