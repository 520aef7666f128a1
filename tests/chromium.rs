//! Interop with headless Chromium (Debian `chromium`, driven by playwright-core from npm; both
//! installed when missing) against `examples/echo_server`: data channels in both offer
//! directions and both DTLS roles (messages up to 256 KiB echoed byte-exact, 20 channels, 20 MB),
//! camera and microphone looped back and played (VP8 and H264, both offer directions and both
//! DTLS roles, every SRTP profile Chromium offers), keyframe requests forwarded to the browser's
//! sender, hostile datagrams during a live transfer, WHIP `DELETE`, and the server's own page;
//! relay-only connections (`iceTransportPolicy: 'relay'`) through our TURN server
//! (`examples/turn_server`) over UDP, TCP and TLS; and ICE over TCP (RFC 6544) to the echo
//! server's passive TCP candidate where nftables drops every UDP packet. DTLS 1.3 is the
//! default on both sides (Chromium 156 offers it): `chromium_dtls13_both_roles` checks the
//! version, suite and group reported by getStats and by our side in both DTLS roles, with our
//! side updating its keys (KeyUpdate) during the echo, and during media.
//! Loopback only: the server binds 127.0.0.1 and ignores the browser's other candidates; the
//! relay tests run in a private network namespace where `lo` is the only interface.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use sansrtc::ice::stun::{Attribute, IntegrityKey, MessageBuilder, TransactionId};
use serde_json::Value;

mod common;

use common::{apt_install, block_udp, run};

/// Installs Chromium, node and playwright-core when missing; returns the driver's directory and
/// the driver script's file name there.
fn setup() -> (PathBuf, String) {
    common::chromium_driver("chromium_echo.js")
}

/// The echo server example, built (once per test run, so it is never stale) in this profile.
fn echo_server_exe() -> PathBuf {
    common::example_exe("echo_server")
}

/// One browser session at a time: two Chromiums with camera, microphone and a debug echo server
/// each overload the 2-core machine and setups time out.
static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A running echo server (killed by its PID when dropped).
struct EchoServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
    /// Its UDP socket.
    udp: SocketAddr,
    /// One browser session at a time: two Chromiums with camera, microphone and a debug echo
    /// server each overload the 2-core machine and setups time out.
    _one: std::sync::MutexGuard<'static, ()>,
}

impl EchoServer {
    fn start(args: &[&str]) -> Self {
        let one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
        let mut child = Command::new(echo_server_exe())
            .args(["--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("echo server starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        // "echo server: http://127.0.0.1:PORT/ (WHIP: POST /whip), UDP 127.0.0.1:PORT"
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("server prints its URL")
            .trim_end_matches('/')
            .to_string();
        let udp = line
            .split_whitespace()
            .last()
            .and_then(|w| w.parse().ok())
            .expect("server prints its UDP address");
        std::thread::spawn(move || {
            for l in out.lines().map_while(Result::ok) {
                eprintln!("server: {l}");
            }
        });
        EchoServer {
            child,
            base,
            udp,
            _one: one,
        }
    }

    /// `GET /stats`: every session's counters and the server's own.
    fn stats(&self) -> Value {
        let addr = self.base.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("HTTP connect");
        write!(
            s,
            "GET /stats HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
    }

    /// Polls `GET /stats` until `done` holds; `false` after `limit`.
    fn poll_stats(&self, limit: Duration, done: impl Fn(&Value) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(&self.stats()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The browser driver (node) in `mode`, stdout piped; killed by its PID when dropped.
struct Driver(Child);

impl Driver {
    fn start(server: &EchoServer, mode: &str, opts: &str) -> (Self, BufReader<ChildStdout>) {
        let (dir, script) = setup();
        let mut child = Command::new("node")
            .args([script.as_str(), &server.base, mode, opts])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let out = BufReader::new(child.stdout.take().unwrap());
        (Driver(child), out)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads the driver's lines up to its result (the first line that is not a progress report).
fn result(out: &mut BufReader<ChildStdout>) -> Value {
    for line in out.lines().map_while(Result::ok) {
        eprintln!("driver: {line}");
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if v.get("progress").is_none() {
            assert!(v.get("error").is_none(), "{v}");
            return v;
        }
    }
    panic!("the driver ended without a result");
}

/// Starts an echo server with `server_args`, runs the driver in `mode` with `opts` (JSON), returns
/// the driver's result and then the server's counters (all of `/stats`).
fn drive_all(mode: &str, opts: &str, server_args: &[&str]) -> (Value, Value) {
    let server = EchoServer::start(server_args);
    let (_driver, mut out) = Driver::start(&server, mode, opts);
    let v = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| result(&mut out)));
    // The server's counters either way: on a failure they tell which layer stalled.
    let stats = server.stats();
    eprintln!("server stats: {stats}");
    match v {
        Ok(v) => (v, stats),
        Err(e) => std::panic::resume_unwind(e),
    }
}

/// The counters of the test's session: the first live one, else the last one the server
/// forgot (it forgets a session once the browser closes its peer connection, as the driver
/// does when it is done, or once its connection failed).
fn session_of(stats: &Value) -> Value {
    match &stats["sessions"][0] {
        Value::Null => stats["ended"]
            .as_array()
            .and_then(|a| a.last())
            .cloned()
            .unwrap_or_default(),
        live => live.clone(),
    }
}

/// [`drive_all`], with the counters of the session ([`session_of`]).
fn drive_with(mode: &str, opts: &str, server_args: &[&str]) -> (Value, Value) {
    let (v, stats) = drive_all(mode, opts, server_args);
    (v, session_of(&stats))
}

fn drive(mode: &str, server_args: &[&str]) -> Value {
    drive_with(mode, "{}", server_args).0
}

const MESSAGES: u64 = 202;

#[test]
fn chromium_data_channel_echo() {
    let (v, session) = drive_with("data", "{}", &[]);
    eprintln!("sctp zero checksum: {}", session["sctp_zero_checksum"]);
    assert_eq!(v["messages"], MESSAGES);
    assert_eq!(v["mismatches"], 0, "{v}");
    assert_eq!(v["largest"], 256 * 1024, "{v}");
    eprintln!(
        "chromium: data channel open {:.0} ms after createOffer, {MESSAGES} messages (up to 256 KiB) echoed in {:.0} ms, {} / {}",
        v["setupMs"].as_f64().unwrap_or(0.0),
        v["echoMs"].as_f64().unwrap_or(0.0),
        v["dtlsCipher"],
        v["srtpCipher"]
    );
}

#[test]
fn chromium_as_dtls_client() {
    // We answer setup:passive: Chromium sends the ClientHello, we are the DTLS and SCTP server.
    let v = drive("data", &["--passive"]);
    assert_eq!(v["messages"], MESSAGES, "{v}");
    assert_eq!(v["mismatches"], 0, "{v}");
    assert_eq!(v["largest"], 256 * 1024, "{v}");
    eprintln!(
        "chromium (DTLS client): open after {:.0} ms, echo {:.0} ms",
        v["setupMs"].as_f64().unwrap_or(0.0),
        v["echoMs"].as_f64().unwrap_or(0.0)
    );
}

#[test]
fn chromium_answers_our_offer() {
    // We offer (ICE controlling, setup:actpass); Chromium answers and becomes DTLS client; we open
    // the channel, Chromium sends the same messages (up to 256 KiB) and gets them back byte-exact.
    let v = drive("answerer", &[]);
    check_answered_echo("chromium as answerer (DTLS client)", &v, "active", "client");
}

/// Our offer answered: ICE roles as offerer/answerer, the DTLS role the answer chose, and the
/// 202 messages echoed byte-exact.
fn check_answered_echo(name: &str, v: &Value, setup: &str, dtls_role: &str) {
    assert_eq!(v["answerSetup"], setup, "{v}");
    assert_eq!(v["dtlsRole"], dtls_role, "{v}");
    assert_eq!(v["iceRole"], "controlled", "{v}");
    assert_eq!(v["label"], "echo", "{v}");
    assert_eq!(v["messages"], MESSAGES, "{v}");
    assert_eq!(v["mismatches"], 0, "{v}");
    assert_eq!(v["largest"], 256 * 1024, "{v}");
    eprintln!(
        "{name}: POST /offer to channel open {:.0} ms, echo {:.0} ms, {} / {}",
        v["setupMs"].as_f64().unwrap_or(0.0),
        v["echoMs"].as_f64().unwrap_or(0.0),
        v["dtlsCipher"],
        v["srtpCipher"]
    );
}

#[test]
fn chromium_answers_our_offer_as_dtls_server() {
    // Chromium's answer says setup:passive (the page rewrites `active` before
    // setLocalDescription, which Chromium accepts): Chromium is DTLS server, we are client.
    let (v, _) = drive_with("answerer", r#"{"setup":"passive"}"#, &[]);
    check_answered_echo(
        "chromium as answerer (DTLS server)",
        &v,
        "passive",
        "server",
    );
}

/// Our media offer answered with Chromium's camera and microphone on the offered transceivers:
/// the media came back (>30 frames of `codec` decoded, audio played), the channel echoed.
fn check_answered_media(name: &str, v: &Value, stats: &Value, codec: &str, dtls_role: &str) {
    assert_eq!(v["dtlsRole"], dtls_role, "{v}");
    assert_eq!(v["iceRole"], "controlled", "{v}");
    assert_eq!(
        v["transceivers"], "audio:sendrecv:track,video:sendrecv:track",
        "{v}"
    );
    assert_eq!(v["echo"], "media session", "{v}");
    if v["sends"].as_u64().unwrap_or(1) > 1 {
        eprintln!(
            "{name}: the channel message had to be sent {} times (server: {})",
            v["sends"], stats["sctp"]
        );
    }
    assert_eq!(v["codec"], codec, "{v}");
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
    assert!(v["audioPackets"].as_u64().unwrap_or(0) >= 50, "{v}");
    assert_eq!(v["playing"], true, "{v}");
    assert!(v["audioSamples"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(stats["rtp_sent"].as_u64().unwrap_or(0) > 0, "{stats}");
    assert_eq!(stats["dropped_srtp"], 0, "{stats}");
    eprintln!(
        "{name}: POST /offer to connected {:.0} ms, to channel open {:.0} ms; {} frames of {codec} decoded, {} audio samples; {} / {}",
        v["connectedMs"].as_f64().unwrap_or(0.0),
        v["setupMs"].as_f64().unwrap_or(0.0),
        v["framesDecoded"],
        v["audioSamples"],
        v["dtlsCipher"],
        v["srtpCipher"]
    );
}

#[test]
fn chromium_answers_our_media_offer() {
    // POST /offer?media=1: our offer has sendrecv audio and video (sansrtc::codecs defaults, VP8
    // first) and a data channel; Chromium puts its camera and microphone on those transceivers.
    let (v, stats) = drive_with("answerer-media", r#"{"playAudio":true}"#, &[]);
    check_answered_media(
        "chromium answers our media offer",
        &v,
        &stats,
        "video/VP8",
        "client",
    );
}

#[test]
fn chromium_answers_our_simulcast_offer_with_one_stream() {
    // POST /offer?media=1&simulcast=1: our video is offered in three RID layers
    // (a=rid:q/h/f send, a=simulcast:send q;h;f). Chromium 156 answers without a=simulcast or
    // a=rid (it does not receive simulcast from a remote offer), so no layer is negotiated and
    // the echo sends one stream without a RID, which Chromium decodes.
    let (v, stats) = drive_with(
        "answerer-media",
        r#"{"playAudio":true,"simulcastOffer":true}"#,
        &[],
    );
    assert_eq!(v["answerSimulcast"], serde_json::json!([]), "{v}");
    check_answered_media(
        "chromium answers our simulcast offer",
        &v,
        &stats,
        "video/VP8",
        "client",
    );
}

#[test]
fn chromium_answers_our_h264_offer() {
    // Our offer restricted to H264 (and its RTX): Chromium sends and decodes looped-back H264.
    // (setCodecPreferences on the answering side would not do: Chromium then answers with H264
    // only but keeps sending VP8, the offer's first codec, which its receiver then refuses.)
    let (v, stats) = drive_with(
        "answerer-media",
        r#"{"playAudio":true,"codec":"H264"}"#,
        &[],
    );
    assert_eq!(v["videoLine"], "m=video 9 UDP/TLS/RTP/SAVPF 102 103", "{v}");
    check_answered_media(
        "chromium answers our H264 offer",
        &v,
        &stats,
        "video/H264",
        "client",
    );
}

#[test]
fn chromium_answers_our_media_offer_as_dtls_server() {
    let (v, stats) = drive_with(
        "answerer-media",
        r#"{"playAudio":true,"setup":"passive"}"#,
        &[],
    );
    assert_eq!(v["answerSetup"], "passive", "{v}");
    check_answered_media(
        "chromium answers our media offer (DTLS server)",
        &v,
        &stats,
        "video/VP8",
        "server",
    );
}

#[test]
fn chromium_answers_our_offer_twenty_channels_and_twenty_megabytes() {
    // POST /offer?channels=20: once the answer is in, our peer opens c0..c19 at once (c0
    // unordered with maxRetransmits 0); Chromium sees them with those settings, each echoes a
    // message, then 20 MB go through c1 with bufferedAmountLow flow control.
    let v = drive("answerer-bulk", &[]);
    let labels: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
    assert_eq!(v["labels"], labels.join(","), "{v}");
    assert_eq!(v["unorderedConfig"]["ordered"], false, "{v}");
    assert_eq!(v["unorderedConfig"]["maxRetransmits"], 0, "{v}");
    assert_eq!(v["dtlsRole"], "client", "{v}");
    assert_eq!(v["channelsEchoed"], 20, "{v}");
    assert_eq!(v["bulkBytes"], 20 * 1024 * 1024, "{v}");
    assert_eq!(v["corrupt"], 0, "{v}");
    eprintln!(
        "chromium answers our offer: 20 channels open {:.0} ms after POST /offer; 20 MB echoed at {:.1} MB/s each way",
        v["setupMs"].as_f64().unwrap_or(0.0),
        v["mbPerSec"].as_f64().unwrap_or(0.0)
    );
}

#[test]
fn chromium_twenty_channels_and_twenty_megabytes() {
    let v = drive("bulk", &[]);
    assert_eq!(v["channelsEchoed"], 20, "{v}");
    assert_eq!(v["bulkBytes"], 20 * 1024 * 1024, "{v}");
    assert_eq!(v["corrupt"], 0, "{v}");
    eprintln!(
        "chromium bulk: 20 MB echoed at {:.1} MB/s each way",
        v["mbPerSec"].as_f64().unwrap_or(0.0)
    );
}

#[test]
fn chromium_camera_and_microphone_looped_back() {
    // The looped-back audio plays through an <audio> element (autoplay allowed by flag), which
    // makes Chromium pull samples out of its jitter buffer: totalSamplesReceived grows.
    let (v, stats) = drive_with("media", r#"{"playAudio":true}"#, &[]);
    eprintln!("chromium media: {v}");
    assert_eq!(v["playing"], true, "{v}");
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
    assert!(v["audioPackets"].as_u64().unwrap_or(0) >= 50, "{v}");
    assert!(v["audioSamples"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(v["totalAudioEnergy"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    assert!(stats["rtp_sent"].as_u64().unwrap_or(0) > 0, "{stats}");
    // Chromium's transport-cc feedback on what we echo feeds our bandwidth estimate: it
    // acknowledged some of it.
    eprintln!(
        "chromium media: our estimate {} bit/s ({}), acknowledged {} bit/s",
        stats["bandwidth_estimate"], stats["bandwidth_reason"], stats["bandwidth_acknowledged"]
    );
    assert!(
        stats["bandwidth_estimate"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
    assert!(
        stats["bandwidth_acknowledged"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
}

#[test]
fn chromium_nacks_are_answered_with_rtx() {
    // The echo server loses every 25th video packet it echoes, after the peer connection sent
    // it: Chromium's receiver NACKs it and we send it again from the history, as RTX on the
    // SSRC our answer paired with the video one (a=ssrc-group:FID); the video keeps decoding.
    let (v, stats) = drive_with("media", r#"{"nacks":true}"#, &["--drop-video-every", "25"]);
    eprintln!("chromium NACK/RTX: {v}");
    let session = &stats;
    let lost = session["lost_on_purpose"].as_u64().unwrap_or(0);
    let resent = session["retransmissions_sent"].as_u64().unwrap_or(0);
    eprintln!("chromium NACK/RTX: {lost} packets lost on purpose, {resent} retransmitted");
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 90, "{v}");
    assert!(v["nackSent"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(lost > 0 && resent > 0, "{stats}");
    // Chromium received them on its RTX stream (its packetsLost still counts them: libwebrtc
    // counts the media SSRC's packets only).
    assert!(
        v["retransmittedPacketsReceived"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
}

#[test]
fn chromium_answers_our_nacks() {
    // The echo server loses every 25th video packet Chromium sends before the peer connection
    // sees it: we NACK it by ourselves, Chromium sends it again on its RTX stream, we unwrap it
    // and echo it; the video keeps decoding.
    let (v, stats) = drive_with(
        "media",
        r#"{"nacksIn":true}"#,
        &["--drop-incoming-video-every", "25"],
    );
    eprintln!("chromium answering our NACKs: {v}");
    let lost = stats["incoming_lost_on_purpose"].as_u64().unwrap_or(0);
    let nacks = stats["nacks_sent"].as_u64().unwrap_or(0);
    let recovered = stats["retransmitted_packets_received"]
        .as_u64()
        .unwrap_or(0);
    eprintln!(
        "chromium answering our NACKs: {lost} lost on purpose, {nacks} NACKs, {recovered} recovered through RTX"
    );
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 90, "{v}");
    assert!(v["nackReceived"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(
        v["retransmittedPacketsSent"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
    assert!(lost > 0 && nacks > 0 && recovered > 0, "{stats}");
}

#[test]
fn chromium_simulcast_layers_arrive_with_their_rid() {
    // Chromium sends its camera as three RID layers (q, h, f); our answer accepts them
    // (a=simulcast:recv, a=rid recv), and every packet arrives with its layer's rid (the
    // rtp-stream-id header extension; the SSRCs are not signalled). The echo server counts
    // each layer and loops one back, which Chromium decodes; its transport-cc feedback drives
    // Chromium's bandwidth estimate.
    let (v, stats) = drive_with("media", r#"{"simulcast":true}"#, &[]);
    eprintln!("chromium simulcast: {v}");
    eprintln!("chromium simulcast: layers received {}", stats["layers"]);
    assert_eq!(v["layersSent"], serde_json::json!(["f", "h", "q"]), "{v}");
    // Chromium sends the layers its bandwidth estimate allows. Our transport-cc feedback
    // lets the estimate grow (it starts near 300 kbit/s, and without feedback the full
    // resolution layer never started): all three layers flow.
    let estimate = v["availableOutgoingBitrate"].as_f64().unwrap_or(0.0);
    eprintln!(
        "chromium simulcast: bandwidth estimate {:.2} Mbit/s",
        estimate / 1e6
    );
    assert!(estimate > 1e6, "{v}");
    for rid in ["q", "h", "f"] {
        assert!(
            stats["layers"][rid].as_u64().unwrap_or(0) > 20,
            "layer {rid}: {stats}"
        );
    }
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
}

/// The camera looped back through our depacketizer and packetizer (`--repacketize`): every
/// frame Chromium decodes was joined from its payloads and cut again by us.
fn repacketized(codec: &str) {
    let opts = format!(r#"{{"codec":"{codec}"}}"#);
    let (v, stats) = drive_with("media", &opts, &["--repacketize"]);
    let frames = stats["frames_repacketized"].as_u64().unwrap_or(0);
    let packets = stats["packets_repacketized"].as_u64().unwrap_or(0);
    eprintln!(
        "chromium {codec} repacketized: {frames} frames joined and cut again into {packets} packets of at most 400 bytes, {} decoded",
        v["framesDecoded"]
    );
    assert_eq!(v["codec"], format!("video/{codec}"), "{v}");
    assert!(frames > 30, "{stats}");
    // Most frames took several packets (VP8 partitions, H.264 FU-A fragments).
    assert!(packets > 2 * frames, "{stats}");
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
}

#[test]
fn chromium_decodes_vp8_from_our_packetizer() {
    repacketized("VP8");
}

#[test]
fn chromium_decodes_h264_from_our_packetizer() {
    repacketized("H264");
}

#[test]
fn chromium_decodes_vp9_from_our_packetizer() {
    repacketized("VP9");
}

#[test]
fn chromium_decodes_av1_from_our_packetizer() {
    repacketized("AV1");
}

#[test]
fn chromium_video_section_before_audio() {
    // The offer lists video first: our answer's SSRCs follow the sections by mid, not order.
    let (v, _) = drive_with("media", r#"{"videoFirst":true}"#, &[]);
    assert_eq!(v["sectionOrder"], "video,audio", "{v}");
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
    assert!(v["audioPackets"].as_u64().unwrap_or(0) >= 50, "{v}");
}

#[test]
fn chromium_h264_camera_looped_back() {
    let (v, _) = drive_with("media", r#"{"codec":"H264"}"#, &[]);
    eprintln!("chromium h264: {v}");
    assert_eq!(v["codec"], "video/H264", "{v}");
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
}

#[test]
fn chromium_keyframe_request_reaches_the_browser_sender() {
    // Chromium's video receiver asks for a key frame (sendKeyFrameRequest: a PLI to our SSRC);
    // the echo server forwards it to the browser's own sender SSRC, whose encoder makes one.
    let (v, stats) = drive_with("media", r#"{"keyframe":true}"#, &[]);
    eprintln!("chromium keyframe request: {v}");
    assert_eq!(v["keyFrameRequest"], "sent", "{v}");
    assert!(
        v["pliSent"].as_u64().unwrap_or(0) + v["firSent"].as_u64().unwrap_or(0) >= 1,
        "{v}"
    );
    assert!(
        v["pliReceived"].as_u64().unwrap_or(0) + v["firReceived"].as_u64().unwrap_or(0) >= 1,
        "{v}"
    );
    assert!(v["keyFramesEncoded"].as_u64().unwrap_or(0) >= 2, "{v}");
    assert!(
        stats["keyframe_requests_forwarded"].as_u64().unwrap_or(0) >= 1,
        "{stats}"
    );
}

/// Media with the server restricted to one SRTP profile: Chromium must negotiate it and media
/// must flow (>30 frames decoded).
fn srtp_profile(flag: &str, chromium_name: &str, ours: &str) {
    let (v, stats) = drive_with("media", "{}", &["--srtp-profile", flag]);
    eprintln!("chromium SRTP {flag}: {v}");
    assert_eq!(v["srtpCipher"], chromium_name, "{v}");
    assert_eq!(stats["srtp"], ours, "{stats}");
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
    assert!(v["audioPackets"].as_u64().unwrap_or(0) >= 50, "{v}");
    assert_eq!(stats["dropped_srtp"], 0, "{stats}");
}

#[test]
fn chromium_srtp_aead_aes_128_gcm() {
    srtp_profile("aes128gcm", "SRTP_AEAD_AES_128_GCM", "AeadAes128Gcm");
}

#[test]
fn chromium_srtp_aead_aes_256_gcm() {
    srtp_profile("aes256gcm", "SRTP_AEAD_AES_256_GCM", "AeadAes256Gcm");
}

#[test]
fn chromium_srtp_aes128_cm_sha1_80() {
    srtp_profile("cm80", "SRTP_AES128_CM_HMAC_SHA1_80", "Aes128CmHmacSha1_80");
}

#[test]
fn chromium_does_not_offer_srtp_sha1_32() {
    // Chromium 156 offers SHA1_80, AES-256-GCM and AES-128-GCM, not SHA1_32: with only SHA1_32
    // allowed the handshake ends without SRTP, and our peer refuses to connect media without it
    // (closes DTLS, state Failed) instead of reporting a connection no media can cross.
    let (v, all) = drive_all("nosrtp", "{}", &["--srtp-profile", "cm32"]);
    eprintln!("chromium SRTP cm32: {v}");
    // The server forgets a failed session: its last counters are in `ended` once it has.
    let stats = &session_of(&all);
    assert!(v["srtpCipher"].as_str().unwrap_or("").is_empty(), "{v}");
    assert_eq!(v["dtlsState"], "closed", "{v}");
    assert_eq!(stats["state"], "Failed", "{stats}");
    assert_eq!(stats["srtp"], "", "{stats}");
    if all["sessions"][0].is_null() {
        assert_eq!(stats["reason"], "connection failed", "{stats}");
    }
}

#[test]
fn chromium_whip_delete_closes_the_session() {
    let (v, stats) = drive_all("delete", "{}", &[]);
    assert_eq!(v["echo"], "before delete", "{v}");
    assert_eq!(v["deleteStatus"], 200, "{v}");
    assert_eq!(v["againStatus"], 404, "{v}");
    assert_eq!(v["dtlsState"], "closed", "{v}");
    assert_eq!(v["dcState"], "closed", "{v}");
    // The session is gone from the server.
    assert_eq!(stats["sessions"], serde_json::json!([]), "{stats}");
    assert_eq!(stats["ended"][0]["reason"], "deleted", "{stats}");
    assert_eq!(stats["sessions_deleted"], 1, "{stats}");
    eprintln!(
        "chromium: DTLS transport closed {:.0} ms after DELETE",
        v["closeMs"].as_f64().unwrap_or(0.0)
    );
}

#[test]
fn chromium_loads_the_echo_page() {
    // GET / : the page offers camera, microphone and a chat channel; the chat is echoed and the
    // looped-back video plays; leaving the page DELETEs the session.
    let (v, stats) = drive_all("page", "{}", &[]);
    assert!(
        v["log"]
            .as_str()
            .unwrap_or("")
            .contains("echo: hello from the test"),
        "{v}"
    );
    assert!(v["videoWidth"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["paused"], false, "{v}");
    assert_eq!(v["sessionsAfterLeaving"], 0, "{v}");
    assert_eq!(stats["sessions"], serde_json::json!([]), "{stats}");
}

/// xorshift64*: the test's own random bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Hostile datagrams of one round, with what each should raise in the server's counters.
fn hostile_round(rng: &mut Rng, ufrag: &str, round: u64) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    // A binding request naming the session with a wrong MESSAGE-INTEGRITY: the server routes it
    // to the session by that USERNAME, whose ICE agent refuses it (silently). It earns the
    // attacker's address no route: what follows reaches no session and is counted by the server.
    let mut buf = [0u8; 200];
    let id = TransactionId(rng.bytes(12).try_into().unwrap());
    let mut b = MessageBuilder::new(
        &mut buf,
        sansrtc::ice::stun::MessageType::BINDING_REQUEST,
        id,
    )
    .unwrap();
    let user = format!("{ufrag}:intruder");
    b.add(&Attribute::Username(&user)).unwrap();
    b.add_message_integrity(&IntegrityKey::short_term("not the password"))
        .unwrap();
    b.add_fingerprint().unwrap();
    let n = b.finish();
    out.push(("ice_auth_failures", buf[..n].to_vec()));
    // Truncated STUN: a header announcing 8 bytes of attributes, 2 of them present.
    out.push((
        "unrouted_stun",
        vec![
            0, 1, 0, 8, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 6,
        ],
    ));
    // Garbage: first bytes no RFC 7983 range owns, and an empty datagram.
    let n = 1 + (rng.next() % 1200) as usize;
    let mut g = rng.bytes(n);
    g[0] = [4, 70, 127, 200, 255][(round % 5) as usize];
    out.push(("unrouted_unknown", g));
    out.push(("unrouted_unknown", Vec::new()));
    // A well-formed DTLS 1.2 epoch-1 application_data record, random contents (bad MAC), a
    // sequence number ahead of the real ones.
    let len = 40 + (rng.next() % 200) as usize;
    let mut r = vec![23, 0xFE, 0xFD, 0, 1];
    r.extend_from_slice(&(0x10_0000_0000u64 + round).to_be_bytes()[2..]);
    r.extend_from_slice(&(len as u16).to_be_bytes());
    r.extend(rng.bytes(len));
    out.push(("unrouted_dtls", r));
    // SRTP with a bad tag (header, random payload and tag).
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&(round as u16).to_be_bytes());
    p.extend(rng.bytes(8 + 60));
    out.push(("unrouted_rtp", p));
    // SRTCP (a sender report) with a bad tag: header, sender info, E+index, tag.
    let mut c = vec![0x80, 200, 0, 6];
    c.extend(rng.bytes(24));
    c.extend_from_slice(&(0x8000_0000u32 | round as u32).to_be_bytes());
    c.extend(rng.bytes(16));
    out.push(("unrouted_rtp", c));
    out
}

#[test]
fn chromium_hostile_input_during_a_transfer() {
    // While Chromium pushes a transfer through a data channel, another loopback socket sends the
    // echo server's UDP port bad STUN, garbage, forged DTLS records and SRTP/SRTCP with bad tags.
    // The transfer completes byte-exact; the counters show every hostile datagram: the check
    // naming the session reaches its ICE agent (refused, unanswered), the rest reach no session
    // (the attacker's address never earned a route) and are counted by the server.
    let server = EchoServer::start(&[]);
    let (mut driver, mut out) = Driver::start(&server, "hostile", "{}");
    let mut line = String::new();
    let ufrag = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "driver ended early");
        eprintln!("driver: {}", line.trim_end());
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        assert!(v.get("error").is_none(), "{v}");
        if v["progress"] == "transfer" {
            break v["ufrag"].as_str().expect("ufrag").to_string();
        }
    };
    let before = server.stats();
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let counters = [
        "ice_auth_failures",
        "unrouted_stun",
        "unrouted_unknown",
        "unrouted_dtls",
        "unrouted_rtp",
    ];
    // The session's counters for the session's, the server's for the others.
    let counter = |stats: &Value, c: &str| {
        let scope = if c.starts_with("unrouted") {
            stats
        } else {
            &stats["sessions"][0]
        };
        scope[c].as_u64().unwrap_or(0)
    };
    let mut expected: Vec<u64> = counters.iter().map(|c| counter(&before, c)).collect();
    let rounds = 25;
    let (mut sent, mut resent) = (0, 0);
    let t0 = Instant::now();
    for round in 0..rounds {
        for (c, datagram) in hostile_round(&mut rng, &ufrag, round) {
            let i = counters.iter().position(|x| *x == c).unwrap();
            expected[i] += 1;
            sent += 1;
            // Each datagram is counted before the next is sent (the transfer is still running:
            // the driver keeps sending until told to stop). Loopback drops UDP when the server's
            // socket buffer is full of the transfer: a datagram not counted in 1 s is sent again.
            for attempt in 0.. {
                assert!(attempt < 10, "{c} never counted");
                resent += u32::from(attempt > 0);
                attacker.send_to(&datagram, server.udp).unwrap();
                if server.poll_stats(Duration::from_secs(1), |s| counter(s, c) >= expected[i]) {
                    break;
                }
            }
        }
    }
    let inject_ms = t0.elapsed().as_millis();
    let during = server.stats();
    assert_eq!(during["sessions"][0]["state"], "Connected", "{during}");
    driver
        .0
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"stop\n")
        .unwrap();
    let v = result(&mut out);
    let after = server.stats();
    eprintln!("chromium hostile: {v}\nserver: {after}");
    assert_eq!(v["corrupt"], 0, "{v}");
    assert_eq!(v["bytes"], v["sentBytes"], "{v}");
    assert!(v["bytes"].as_u64().unwrap() >= 8 * 1024 * 1024, "{v}");
    assert_eq!(v["state"], "connected", "{v}");
    // Every hostile datagram was counted where it belongs (a resent one may count twice).
    for (c, e) in counters.iter().zip(&expected) {
        let n = counter(&during, c);
        assert!(n >= *e && n <= *e + u64::from(resent), "{c}: {during}");
    }
    // Nothing hostile reached the session's DTLS or SRTP, and the attacker got no route.
    let (was, is) = (&before["sessions"][0], &during["sessions"][0]);
    for c in [
        "dtls_bad_mac",
        "dropped_srtp",
        "dropped_unknown",
        "dropped_unvalidated",
    ] {
        assert_eq!(was[c], is[c], "{c}: {during}");
    }
    eprintln!(
        "chromium hostile: {sent} hostile datagrams ({resent} resent after loopback loss) counted and dropped in {inject_ms} ms during a {:.1} MB transfer at {:.1} MB/s, echoed byte-exact",
        v["bytes"].as_f64().unwrap_or(0.0) / 1e6,
        v["mbPerSec"].as_f64().unwrap_or(0.0)
    );
}

/// Set (to the test's name) in the copy of a relay test that runs inside a private network
/// namespace.
const NETNS: &str = "SANSRTC_CHROMIUM_NETNS";

/// Runs `body` where `lo` is the only interface. Chromium gathers through every interface, so a
/// TURN server on 127.0.0.1 would also get allocations from the machine's other addresses (their
/// packets sent to 127.0.0.1): outside, this re-runs the test `test` inside a private network
/// namespace (`unshare --net`), which must pass; inside, it brings `lo` up and runs `body`.
fn in_private_netns(test: &str, body: impl FnOnce()) {
    if std::env::var(NETNS).is_ok_and(|t| t == test) {
        run(Command::new("ip").args(["link", "set", "lo", "up"]));
        body();
        return;
    }
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    // Everything the inner test needs from the network or cargo, done here.
    setup();
    if Command::new("ip").arg("-V").output().is_err() {
        apt_install(&["iproute2"]);
    }
    // The ICE-TCP tests block UDP in the namespace with nftables.
    if Command::new("nft").arg("--version").output().is_err() {
        apt_install(&["nftables"]);
    }
    echo_server_exe();
    common::example_exe("turn_server");
    let mut child = Command::new("unshare")
        .args(["--net", "--"])
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(NETNS, test)
        .env(common::EXAMPLES_BUILT, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare runs (needs root or CAP_SYS_ADMIN)");
    let (tx, rx) = std::sync::mpsc::channel();
    let forward = |out: Box<dyn Read + Send>, tx: std::sync::mpsc::Sender<String>| {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                eprintln!("netns: {line}");
                let _ = tx.send(line);
            }
        })
    };
    let readers = [
        forward(Box::new(child.stdout.take().unwrap()), tx.clone()),
        forward(Box::new(child.stderr.take().unwrap()), tx),
    ];
    let mut inner = common::Proc(child);
    // The inner test has its own timeouts; this one only guards against a hang.
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = inner.0.try_wait().expect("wait for the inner test") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the test in the namespace did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    for r in readers {
        let _ = r.join();
    }
    let lines: Vec<String> = rx.try_iter().collect();
    assert!(
        status.success(),
        "the test in the namespace failed: {status}"
    );
    // It ran (a name that matched no test would pass too).
    assert!(
        lines
            .iter()
            .any(|l| l.contains("test result: ok. 1 passed")),
        "{test} did not run in the namespace"
    );
}

/// Chromium with only relayed candidates of our TURN server (`examples/turn_server`, loopback
/// peers allowed) reached over `transport` (`udp`, `tcp`, or `tls`: `turns:` with a self-signed
/// certificate, which Chromium is told to accept), against the echo server: runs the driver's
/// `mode` with `opts` plus the TURN server, checks that the data went through our relay, and
/// returns the driver's result and the session's counters.
fn through_our_relay(mode: &str, transport: &str, mut opts: Value) -> (Value, Value) {
    let mut args = vec!["--user", "alice:secret", "--allow-loopback-peers"];
    let dir = std::env::temp_dir().join(format!("sansrtc-chromium-turns-{}", std::process::id()));
    let (cert, key);
    if transport == "tls" {
        (cert, key) = common::self_signed_cert(&dir);
        args.extend(["--tls-listen", "127.0.0.1:0"]);
        args.extend([
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ]);
    }
    let turn = common::start_turn_server(&args);
    // It has read them.
    let _ = std::fs::remove_dir_all(&dir);
    let url = match turn.tls {
        Some(tls) => {
            opts["ignoreCertificateErrors"] = true.into();
            format!("turns:127.0.0.1:{}?transport=tcp", tls.port())
        }
        None => format!("turn:127.0.0.1:{}?transport={transport}", turn.addr.port()),
    };
    opts["turn"] = serde_json::json!({"urls": url, "username": "alice", "credential": "secret"});
    let server = EchoServer::start(&[]);
    let (_driver, mut out) = Driver::start(&server, mode, &opts.to_string());
    let v = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| result(&mut out)));
    let stats = session_of(&server.stats());
    eprintln!("session: {stats}");
    let v = v.unwrap_or_else(|e| std::panic::resume_unwind(e));
    // The offer carried relayed candidates only.
    let offered = v["offered"].as_array().expect("offered candidates");
    assert!(!offered.is_empty(), "{v}");
    for c in offered {
        let c = c.as_str().unwrap();
        assert!(
            c.contains(" typ relay ") && c.contains(" 127.0.0.1 "),
            "{c}"
        );
    }
    // getStats: the selected pair's local candidate is a relayed one, allocated over
    // `transport` from our server, and its remote one the echo server's socket.
    let sel = &v["selected"];
    assert_eq!(sel["localType"], "relay", "{v}");
    assert_eq!(sel["relayProtocol"], transport, "{v}");
    assert_eq!(sel["url"], url.as_str(), "{v}");
    assert_eq!(sel["state"], "succeeded", "{v}");
    assert_eq!(sel["remote"], server.udp.to_string(), "{v}");
    assert!(sel["bytesSent"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(sel["bytesReceived"].as_u64().unwrap_or(0) > 0, "{v}");
    let relayed: SocketAddr = sel["local"].as_str().unwrap().parse().unwrap();
    // Our server says it allocated that address, over that transport, to a loopback client.
    let created = turn.line_until("allocation created", "allocation created ", |l| {
        l.contains(&format!(" relayed=[{relayed}] "))
    });
    let printed = match transport {
        "udp" => "Udp",
        "tcp" => "Tcp",
        _ => "Tls",
    };
    assert!(
        created.starts_with("allocation created client=127.0.0.1:")
            && created.contains(&format!(" transport={printed} "))
            && created.contains(" user=alice "),
        "{created}"
    );
    // The echo server's selected path leads to that relayed address.
    assert_eq!(stats["selected_remote"], relayed.to_string(), "{stats}");
    // Our server relayed all the echo server received (the relay is its only path to the
    // browser) and all the browser received on the pair, and no more than the echo server sent.
    let (received, sent) = (&stats["datagrams_received"], &stats["datagrams_sent"]);
    let (received, sent) = (received.as_u64().unwrap(), sent.as_u64().unwrap());
    let browser_received = sel["packetsReceived"].as_u64().unwrap();
    let line = turn.stats_until("the session's traffic relayed", |l| {
        common::stat(l, "to_peer_packets") >= received
            && common::stat(l, "to_client_packets") >= browser_received
    });
    assert!(common::stat(&line, "to_client_packets") <= sent, "{line}");
    eprintln!(
        "chromium through our relay over {transport}: {created}; {} datagrams to the echo server, {} to the browser, {} dropped by the default rate limit (1 MB/s per allocation)",
        common::stat(&line, "to_peer_packets"),
        common::stat(&line, "to_client_packets"),
        common::stat(&line, "dropped_rate_limited")
    );
    (v, stats)
}

fn relay_data_channel(transport: &str) {
    let t0 = Instant::now();
    let (v, _) = through_our_relay("data", transport, serde_json::json!({}));
    assert_eq!(v["messages"], MESSAGES, "{v}");
    assert_eq!(v["mismatches"], 0, "{v}");
    assert_eq!(v["largest"], 256 * 1024, "{v}");
    eprintln!(
        "chromium through our TURN server over {transport}: channel open {:.0} ms after createOffer, {MESSAGES} messages (up to 256 KiB) echoed in {:.0} ms; {} ms in all",
        v["setupMs"].as_f64().unwrap_or(0.0),
        v["echoMs"].as_f64().unwrap_or(0.0),
        t0.elapsed().as_millis()
    );
}

#[test]
fn chromium_data_channel_through_our_turn_server_over_udp() {
    in_private_netns(
        "chromium_data_channel_through_our_turn_server_over_udp",
        || relay_data_channel("udp"),
    );
}

#[test]
fn chromium_data_channel_through_our_turn_server_over_tcp() {
    in_private_netns(
        "chromium_data_channel_through_our_turn_server_over_tcp",
        || relay_data_channel("tcp"),
    );
}

/// Camera and microphone looped back through our relay over `transport`.
fn relay_camera(transport: &str) {
    let (v, stats) = through_our_relay("media", transport, serde_json::json!({}));
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
    assert!(v["audioPackets"].as_u64().unwrap_or(0) >= 50, "{v}");
    assert!(stats["rtp_sent"].as_u64().unwrap_or(0) > 0, "{stats}");
    assert_eq!(stats["dropped_srtp"], 0, "{stats}");
    eprintln!(
        "chromium camera through our TURN server over {transport}: connected {:.0} ms after createOffer; {} frames of {} decoded, {} audio packets",
        v["setupMs"].as_f64().unwrap_or(0.0),
        v["framesDecoded"],
        v["codec"],
        v["audioPackets"]
    );
}

#[test]
fn chromium_camera_through_our_turn_server_over_udp() {
    in_private_netns("chromium_camera_through_our_turn_server_over_udp", || {
        relay_camera("udp")
    });
}

#[test]
fn chromium_camera_through_our_turn_server_over_tcp() {
    in_private_netns("chromium_camera_through_our_turn_server_over_tcp", || {
        relay_camera("tcp")
    });
}

#[test]
fn chromium_data_channel_through_our_turn_server_over_tls() {
    in_private_netns(
        "chromium_data_channel_through_our_turn_server_over_tls",
        || relay_data_channel("tls"),
    );
}

/// Chromium with UDP blocked, against the echo server, in `mode`: checks that the pair both
/// sides selected is TCP (Chromium's active candidate to our passive one, on the UDP socket's
/// port number) and returns the driver's result and the session's counters.
fn over_ice_tcp(mode: &str) -> (Value, Value) {
    block_udp();
    let server = EchoServer::start(&[]);
    let (_driver, mut out) = Driver::start(&server, mode, r#"{"path":true}"#);
    let v = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| result(&mut out)));
    let stats = session_of(&server.stats());
    eprintln!("session: {stats}");
    let v = v.unwrap_or_else(|e| std::panic::resume_unwind(e));
    // Chromium offered TCP candidates (active) beside its UDP ones.
    let offered = v["offered"].as_array().expect("offered candidates");
    assert!(
        offered.iter().any(|c| c.as_str().unwrap().contains(" tcp ")
            && c.as_str().unwrap().contains("tcptype active")),
        "{v}"
    );
    let sel = &v["selected"];
    assert_eq!(sel["localProtocol"], "tcp", "{v}");
    assert_eq!(sel["remoteProtocol"], "tcp", "{v}");
    // Chromium's active candidate (port 9) becomes its connection's real address, which it
    // learns from our answer's mapped address: peer-reflexive.
    assert!(
        matches!(sel["localType"].as_str(), Some("host" | "prflx")),
        "{v}"
    );
    assert_eq!(sel["state"], "succeeded", "{v}");
    // Our passive candidate listens on the UDP socket's address, port number included.
    assert_eq!(sel["remote"], server.udp.to_string(), "{v}");
    assert!(sel["bytesReceived"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(stats["selected_transport"], "tcp", "{stats}");
    assert_eq!(stats["dropped_unvalidated"], 0, "{stats}");
    (v, stats)
}

#[test]
fn chromium_data_channel_over_ice_tcp_when_udp_is_blocked() {
    in_private_netns(
        "chromium_data_channel_over_ice_tcp_when_udp_is_blocked",
        || {
            let (v, _) = over_ice_tcp("data");
            assert_eq!(v["messages"], MESSAGES, "{v}");
            assert_eq!(v["mismatches"], 0, "{v}");
            assert_eq!(v["largest"], 256 * 1024, "{v}");
            eprintln!(
                "chromium over ICE-TCP (UDP blocked): channel open {:.0} ms after createOffer, {MESSAGES} messages (up to 256 KiB) echoed in {:.0} ms, {} / {}",
                v["setupMs"].as_f64().unwrap_or(0.0),
                v["echoMs"].as_f64().unwrap_or(0.0),
                v["dtlsCipher"],
                v["srtpCipher"]
            );
        },
    );
}

#[test]
fn chromium_camera_over_ice_tcp_when_udp_is_blocked() {
    in_private_netns("chromium_camera_over_ice_tcp_when_udp_is_blocked", || {
        let (v, stats) = over_ice_tcp("media");
        assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
        assert!(v["audioPackets"].as_u64().unwrap_or(0) >= 50, "{v}");
        assert!(stats["rtp_sent"].as_u64().unwrap_or(0) > 0, "{stats}");
        assert_eq!(stats["dropped_srtp"], 0, "{stats}");
        eprintln!(
            "chromium camera over ICE-TCP (UDP blocked): connected {:.0} ms after createOffer; {} frames of {} decoded, {} audio packets",
            v["setupMs"].as_f64().unwrap_or(0.0),
            v["framesDecoded"],
            v["codec"],
            v["audioPackets"]
        );
    });
}

/// With UDP open, the same browser and server select UDP: our passive TCP candidate ranks
/// below the UDP one.
#[test]
fn chromium_prefers_udp_over_ice_tcp() {
    let (v, stats) = drive_with("data", r#"{"path":true}"#, &[]);
    assert_eq!(v["messages"], MESSAGES, "{v}");
    assert_eq!(v["selected"]["localProtocol"], "udp", "{v}");
    assert_eq!(stats["selected_transport"], "udp", "{stats}");
}

/// DTLS 1.3 with Chromium (BoringSSL, field trial `WebRTC-ForceDtls13`) when our endpoint offers
/// and accepts it (`--dtls13`), in both DTLS roles: getStats must report `tlsVersion` `FEFC`,
/// and our side the post-quantum group X25519MLKEM768. Our side updates its keys during the
/// echo (KeyUpdate with `update_requested`, RFC 9147 8): asked for after every 10 messages
/// echoed (`--key-update-every`) as DTLS server, automatically every 40 records
/// (`--key-update-after-records`) as DTLS client. The messages go five times, one round after
/// the other (Chromium answers a KeyUpdate with its own some 50 ms later and acknowledges it
/// some 80 ms later, so one round of 150-300 ms leaves room for one to three updates). Every message still
/// comes back byte-exact, at least 3 updates went out, and Chromium answered with KeyUpdates
/// of its own, as `update_requested` asks.
#[test]
fn chromium_dtls13_both_roles() {
    for (args, role) in [
        (&["--dtls13", "--key-update-every", "10"][..], "server"),
        (
            &["--dtls13", "--passive", "--key-update-after-records", "40"][..],
            "client",
        ),
    ] {
        let (v, session) = drive_with("data", r#"{"dtls13":true,"rounds":5}"#, args);
        eprintln!(
            "chromium as DTLS {role}: tlsVersion {} {} / {}, our side: version {} group {}, \
             key updates sent {} received {} (asked {}, refused {}), {} messages echoed",
            v["tlsVersion"],
            v["dtlsCipher"],
            v["srtpCipher"],
            session["dtls_version"],
            session["dtls_group"],
            session["dtls_key_updates_sent"],
            session["dtls_key_updates_received"],
            session["key_updates_asked"],
            session["key_updates_refused"],
            v["messages"],
        );
        assert_eq!(session["dtls_version"], 0xFEFC, "{session}");
        // X25519MLKEM768, as Chromium offers it.
        assert_eq!(session["dtls_group"], 0x11EC, "{session}");
        assert_eq!(session["dtls_group_name"], "X25519MLKEM768", "{session}");
        assert_eq!(v["dtlsCipher"], "TLS_AES_128_GCM_SHA256", "{v}");
        assert_eq!(session["dtls_suite"], v["dtlsCipher"], "{session}");
        assert_eq!(v["messages"], 5 * MESSAGES, "{v}");
        assert_eq!(v["mismatches"], 0, "{v}");
        assert_eq!(v["largest"], 256 * 1024, "{v}");
        assert_eq!(v["tlsVersion"], "FEFC", "{v}");
        let sent = session["dtls_key_updates_sent"].as_u64().unwrap_or(0);
        let received = session["dtls_key_updates_received"].as_u64().unwrap_or(0);
        assert!(sent >= 3, "{session}");
        assert!(received >= 1, "{session}");
        assert_eq!(session["key_updates_refused"], 0, "{session}");
        assert_eq!(session["dtls_bad_mac"], 0, "{session}");
    }
}

/// Media over DTLS 1.3 with Chromium, as DTLS client and as DTLS server (the answer's setup
/// rewritten to `passive`): our media offer (audio, video, a channel) answered with its camera
/// and microphone, SRTP keyed by the DTLS 1.3 exporter; the channel's message asks for a key
/// update (`--key-update-every 1`), so one KeyUpdate of ours (and Chromium's answer) happens
/// while media flows, and the media is looped back and decoded all the same.
#[test]
fn chromium_dtls13_media_with_a_key_update() {
    for (opts, role) in [
        (r#"{"dtls13":true,"playAudio":true}"#, "client"),
        (
            r#"{"dtls13":true,"playAudio":true,"setup":"passive"}"#,
            "server",
        ),
    ] {
        let (v, session) = drive_with(
            "answerer-media",
            opts,
            &["--dtls13", "--key-update-every", "1"],
        );
        eprintln!(
            "chromium media over DTLS 1.3, chromium as DTLS {role}: tlsVersion {} {} / {}, our \
             side: version {}, key updates sent {} received {}, {} frames decoded",
            v["tlsVersion"],
            v["dtlsCipher"],
            v["srtpCipher"],
            session["dtls_version"],
            session["dtls_key_updates_sent"],
            session["dtls_key_updates_received"],
            v["framesDecoded"],
        );
        assert_eq!(v["tlsVersion"], "FEFC", "{v}");
        assert_eq!(session["dtls_version"], 0xFEFC, "{session}");
        assert_eq!(session["dtls_group_name"], "X25519MLKEM768", "{session}");
        check_answered_media(
            "chromium media over DTLS 1.3",
            &v,
            &session,
            "video/VP8",
            role,
        );
        assert!(
            session["dtls_key_updates_sent"].as_u64().unwrap_or(0) >= 1,
            "{session}"
        );
        assert!(
            session["dtls_key_updates_received"].as_u64().unwrap_or(0) >= 1,
            "{session}"
        );
        assert_eq!(session["dtls_bad_mac"], 0, "{session}");
    }
}
