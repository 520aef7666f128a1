//! Headless Chromium against a WHIP echo server built on the async driver: the browser offers
//! (`POST /whip`), a `Connection` on an `Endpoint` answers, echoes every message of the
//! channels the browser opens (`accept_channel`) and loops every track the browser sends
//! back (`accept_track` into an `RtpWriter`, key frame requests passed on). Driven by the
//! repository's `tests/browser/chromium_echo.js` (playwright-core), as the echo server example
//! is in `tests/chromium.rs`; Chromium, node and playwright-core are installed when missing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sansrtc::sdp::Direction;
use sansrtc::{Config, Event, PeerConnection, SdpType, codecs};
use sansrtc_tokio::{Connection, Endpoint};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn run(command: &mut Command) {
    let status = command.status().expect("command runs");
    assert!(status.success(), "{command:?} failed");
}

/// Installs Chromium, node and playwright-core when missing; returns the script to run.
fn setup() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let apt = |packages: &[&str]| {
        run(Command::new("apt-get").args(["update", "-qq"]));
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"));
    };
    if !Path::new("/usr/bin/chromium").exists() {
        apt(&["chromium"]);
    }
    if Command::new("npm").arg("--version").output().is_err() {
        apt(&["nodejs", "npm"]);
    }
    let dir = std::env::temp_dir().join("sansrtc-tokio-browser");
    std::fs::create_dir_all(&dir).expect("temp dir");
    if !dir.join("node_modules/playwright-core").exists() {
        run(Command::new("npm")
            .args(["init", "-y"])
            .current_dir(&dir)
            .stdout(Stdio::null()));
        run(Command::new("npm")
            .args(["install", "-q", "playwright-core"])
            .current_dir(&dir));
    }
    // Named after this checkout, so that two checkouts testing at once keep their own script.
    let root = env!("CARGO_MANIFEST_DIR");
    let name = format!(
        "chromium_echo-{:x}.js",
        root.bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b))
                .wrapping_mul(0x100_0000_01b3))
    );
    let script = dir.join(name);
    std::fs::copy(
        Path::new(root).join("../tests/browser/chromium_echo.js"),
        &script,
    )
    .expect("the repository's browser driver");
    script
}

/// Echoes what the browser sends on `conn`, until it closes.
fn echo(conn: Connection) {
    let conn = Arc::new(conn);
    // The SSRC the browser sends on, per track: where its key frame requests go.
    let incoming: Arc<Mutex<HashMap<sansrtc::Mid, u32>>> = Arc::default();
    let c = conn.clone();
    tokio::spawn(async move {
        while let Some(mut channel) = c.accept_channel().await {
            tokio::spawn(async move {
                while let Some(m) = channel.recv().await {
                    if channel.send_message(&m.data, m.kind).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let (c, ssrcs) = (conn.clone(), incoming.clone());
    tokio::spawn(async move {
        while let Some(mut track) = c.accept_track().await {
            let writer = c.rtp_writer(track.mid());
            let ssrcs = ssrcs.clone();
            tokio::spawn(async move {
                while let Some(p) = track.recv().await {
                    if let Ok(mut s) = ssrcs.lock() {
                        s.insert(track.mid(), p.ssrc);
                    }
                    let _ = writer
                        .write(p.payload_type, p.timestamp, p.marker, p.payload())
                        .await;
                }
            });
        }
    });
    tokio::spawn(async move {
        while let Some(event) = conn.next_event().await {
            if let Event::KeyframeRequest {
                mid: Some(mid),
                kind,
                ..
            } = event
                && let Some(ssrc) = incoming.lock().ok().and_then(|s| s.get(&mid).copied())
            {
                let _ = conn
                    .with(move |pc| pc.request_keyframe(Instant::now(), ssrc, kind))
                    .await;
            }
        }
    });
}

/// Answers one WHIP offer: the answer once gathering is complete (no trickle).
async fn answer(endpoint: &Endpoint, offer: &str) -> Result<String, String> {
    let mut pc = PeerConnection::new(Config::default()).map_err(|e| e.to_string())?;
    // Sending sections for the browser's camera and microphone to come back on.
    pc.add_transceiver(codecs::audio_transceiver(Direction::SendRecv));
    pc.add_transceiver(codecs::video_transceiver(Direction::SendRecv));
    let conn = endpoint.add(pc).await.map_err(|e| e.to_string())?;
    conn.set_remote_description(SdpType::Offer, offer)
        .await
        .map_err(|e| e.to_string())?;
    conn.create_answer().await.map_err(|e| e.to_string())?;
    while let Some(event) = conn.next_event().await {
        if event == Event::GatheringComplete {
            break;
        }
    }
    let sdp = conn
        .local_description()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no description")?;
    echo(conn);
    Ok(sdp)
}

/// A minimal HTTP/1.1 exchange: `GET /blank` and `POST /whip`.
async fn http(endpoint: Arc<Endpoint>, mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let (head_end, length) = loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        request.extend_from_slice(&buf[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
        if request.len() > 64 * 1024 {
            return;
        }
    };
    while request.len() < head_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&request[..head_end])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let body = String::from_utf8_lossy(&request[head_end..head_end + length]).into_owned();
    let (status, extra, body) = if line.starts_with("POST /whip") {
        match answer(&endpoint, &body).await {
            Ok(sdp) => (
                "201 Created",
                "Content-Type: application/sdp\r\nLocation: /whip/1\r\n",
                sdp,
            ),
            Err(e) => ("400 Bad Request", "", e),
        }
    } else if line.starts_with("GET /blank") {
        (
            "200 OK",
            "Content-Type: text/html\r\n",
            "<!doctype html><title>blank</title>".to_owned(),
        )
    } else {
        ("404 Not Found", "", String::new())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

/// One browser at a time: two Chromiums with camera and microphone overload a 2-core machine.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs the browser driver in `mode` against a WHIP echo server on the async driver.
async fn drive(mode: &'static str) -> Value {
    let _one = ONE_BROWSER.lock().await;
    let script = tokio::task::spawn_blocking(setup).await.expect("setup");
    let endpoint = Arc::new(Endpoint::bind("127.0.0.1:0").await.expect("bind"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let base: SocketAddr = listener.local_addr().expect("address");
    let e = endpoint.clone();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(http(e.clone(), stream));
        }
    });
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .arg(format!("http://{base}"))
            .arg(mode)
            .current_dir(script.parent().expect("its folder"))
            .stderr(Stdio::inherit())
            .output()
            .expect("node runs")
    })
    .await
    .expect("driver");
    server.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    eprintln!("chromium ({mode}): {last}; endpoint {:?}", endpoint.stats());
    serde_json::from_str(last).unwrap_or_else(|_| panic!("the driver's result: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_data_channel_echo() {
    let v = drive("data").await;
    assert_eq!(v["messages"], 202, "{v}");
    assert_eq!(v["mismatches"], 0, "{v}");
    assert_eq!(v["largest"], 256 * 1024, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_media_looped_back() {
    let v = drive("media").await;
    assert!(v["framesDecoded"].as_u64().unwrap_or(0) > 30, "{v}");
    assert!(v["audioPackets"].as_u64().unwrap_or(0) > 50, "{v}");
}
