//! `examples/signaling_server.rs` with headless Chromium (Debian `chromium`, driven by
//! playwright-core from npm, fake camera and microphone; installed when missing): two pages
//! join one room, connect through the server's WebSocket (offer, answer, trickled candidates),
//! each decodes the other's video and gets the other's chat message, one shares its screen and
//! the other shows it, and the one left is told when the other goes (presence); a page and `examples/native_peer.rs` (on `sansrtc-tokio`)
//! exchange chat and media, whichever of them calls; two pages whose page config allows relayed candidates only
//! (`--relay-only`) call each other through our TURN server (`examples/turn_server.rs`, in a
//! private network namespace where `lo` is the only interface); and the WebSocket protocol (rooms, relay, presence) without a
//! browser. Driven by `tests/browser/signaling_call.js`. Loopback only.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::{apt_install, run};

/// Chromium, node and playwright-core (installed when missing) and this test's driver script:
/// the driver's directory and the script's file name there.
fn setup() -> (PathBuf, String) {
    common::chromium_driver("signaling_call.js")
}

/// One browser session at a time (the machine has two cores).
static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A child process, killed by its PID when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts an example with `args`, returns it and the first word of its first line that
/// starts with `http://`, without the trailing slash (its other lines go to stderr).
fn start(example: &'static str, args: &[&str]) -> (Proc, String) {
    let mut child = Command::new(common::example_exe(example))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("example starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") || w.starts_with("ws://"))
        .unwrap_or_else(|| panic!("{example} prints its URL: {line:?}"))
        .trim_end_matches('/')
        .to_string();
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            eprintln!("{example}: {l}");
        }
    });
    (Proc(child), url)
}

/// Runs the browser driver with `args` against `base`; returns its result.
fn drive(base: &str, args: &[&str]) -> Value {
    drive_with(base, args, |_| {})
}

/// As [`drive`], calling `progress` with each progress report of the driver as it comes.
fn drive_with(base: &str, args: &[&str], mut progress: impl FnMut(&str)) -> Value {
    let (dir, script) = setup();
    let mut child = Command::new("node")
        .arg(&script)
        .arg(base)
        .args(args)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let out = BufReader::new(child.stdout.take().unwrap());
    let _node = Proc(child);
    for line in out.lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        eprintln!("driver: {v}");
        if let Some(p) = v["progress"].as_str() {
            progress(p);
            continue;
        }
        assert!(v.get("error").is_none(), "{v}");
        return v;
    }
    panic!("the driver ended without a result");
}

/// Two pages in one room: connected through the server, each decodes the other's video
/// (> 30 frames) and receives the other's chat message; one shares its screen ("Share
/// screen": Chromium's fake screen capture) and the other shows it (its size, > 30 more
/// frames); when one leaves, the other is told.
#[test]
fn two_pages_call_each_other() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let (_server, base) = start("signaling_server", &["--http", "127.0.0.1:0"]);
    let v = drive(&base, &["pair"]);
    assert!(v["framesA"].as_u64().unwrap() > 30, "{v}");
    assert!(v["framesB"].as_u64().unwrap() > 30, "{v}");
    assert_eq!(v["chatA"], serde_json::json!(["hello from b"]), "{v}");
    assert_eq!(v["chatB"], serde_json::json!(["hello from a"]), "{v}");
    assert_eq!(v["sharedTrack"]["displaySurface"], "monitor", "{v}");
    assert_eq!(v["remoteSizeBefore"], serde_json::json!([640, 480]), "{v}");
    assert_ne!(v["remoteSizeSharing"], v["remoteSizeBefore"], "{v}");
    assert!(v["framesBWhileSharing"].as_u64().unwrap() > 30, "{v}");
    assert_eq!(v["presence"], true, "{v}");
}

/// Set (to the test's name) in the copy of a test that runs inside a private network namespace.
const NETNS: &str = "SANSRTC_SIGNALING_NETNS";

/// Runs `body` where `lo` is the only interface (Chromium gathers through every interface, so
/// a TURN server on 127.0.0.1 would also get allocations from the machine's other addresses):
/// outside, this re-runs the test `test` inside a private network namespace (`unshare --net`),
/// which must pass; inside, it brings `lo` up and runs `body`.
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
    common::example_exe("signaling_server");
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
    let mut inner = Proc(child);
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

/// Two pages call each other through our TURN server: the server's `--ice-server` (a TURN URL
/// with credentials) and `--relay-only` reach the page, each page's pair in use is relayed
/// over UDP, and video and chat go through.
#[test]
fn two_pages_call_through_our_turn_server() {
    in_private_netns("two_pages_call_through_our_turn_server", || {
        let turn = common::start_turn_server(&["--user", "alice:secret", "--allow-loopback-peers"]);
        let url = format!("turn:127.0.0.1:{}?transport=udp", turn.addr.port());
        let (_server, base) = start(
            "signaling_server",
            &[
                "--http",
                "127.0.0.1:0",
                "--ice-server",
                &url,
                "--ice-username",
                "alice",
                "--ice-credential",
                "secret",
                "--relay-only",
            ],
        );
        let v = drive(&base, &["pair"]);
        assert!(v["framesA"].as_u64().unwrap() > 30, "{v}");
        assert!(v["framesB"].as_u64().unwrap() > 30, "{v}");
        assert_eq!(v["chatA"], serde_json::json!(["hello from b"]), "{v}");
        assert_eq!(v["chatB"], serde_json::json!(["hello from a"]), "{v}");
        for pair in [&v["pairA"], &v["pairB"]] {
            assert_eq!(pair["local"], "relay", "{v}");
            assert_eq!(pair["relayProtocol"], "udp", "{v}");
        }
        // The TURN server relayed it (video and audio both ways: hundreds of packets).
        let line = turn.stats_until("the call relayed", |l| {
            common::stat(l, "allocations_created") >= 2
                && common::stat(l, "to_peer_packets") >= 100
                && common::stat(l, "to_client_packets") >= 100
        });
        eprintln!("turn server: {line}");
    });
}

/// A page and `examples/native_peer.rs` (on the async driver) in one room: the page calls,
/// the native peer answers, echoes the chat message and loops the camera back, which the
/// page decodes (> 30 frames).
#[test]
fn a_page_calls_the_native_peer() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let (_server, base) = start("signaling_server", &["--http", "127.0.0.1:0"]);
    let addr = base.trim_start_matches("http://").to_owned();
    // Its first line says it is in the room: the page comes second, so it calls.
    let (_native, _page) = start(
        "native_peer",
        &[
            "--server",
            &addr,
            "--room",
            "native",
            "--udp",
            "127.0.0.1:0",
        ],
    );
    let v = drive(&base, &["native", "native"]);
    assert!(v["frames"].as_u64().unwrap() > 30, "{v}");
    assert_eq!(v["chat"], serde_json::json!(["echo: hello native"]), "{v}");
}

/// The WebSocket protocol without a browser: join (ids, the members already there), presence
/// (`peer-joined`, `peer-left`), relaying to a member of the same room only (with `from`), and
/// the configured ICE servers in the page.
#[test]
fn rooms_relay_and_presence() {
    use futures_util::{SinkExt, StreamExt};
    use serde_json::json;
    use tokio_tungstenite::tungstenite::Message;

    let (_server, base) = start(
        "signaling_server",
        &[
            "--http",
            "127.0.0.1:0",
            "--ice-server",
            "turn:127.0.0.1:3478?transport=udp",
            "--ice-username",
            "alice",
            "--ice-credential",
            "secret",
        ],
    );
    let addr = base.trim_start_matches("http://").to_owned();
    block_on(async move {
        // The page carries the ICE servers.
        let mut http = tokio::net::TcpStream::connect(&addr).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(
            &mut http,
            format!("GET /?room=x HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut page = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut http, &mut page)
            .await
            .unwrap();
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(
            page.contains(
                r#"const ICE_SERVERS = [{"credential":"secret","urls":"turn:127.0.0.1:3478?transport=udp","username":"alice"}];"#
            ),
            "{page}"
        );

        let connect = || async {
            let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp)
                .await
                .unwrap();
            ws
        };
        async fn send<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>, v: Value)
        where
            S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        {
            ws.send(Message::Text(v.to_string())).await.unwrap();
        }
        async fn next<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> Value
        where
            S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        {
            let limit = std::time::Duration::from_secs(10);
            loop {
                let m = tokio::time::timeout(limit, ws.next())
                    .await
                    .expect("a message in time")
                    .expect("open")
                    .expect("message");
                if let Message::Text(t) = m {
                    return serde_json::from_str(&t).unwrap();
                }
            }
        }
        let (mut a, mut b, mut c) = (connect().await, connect().await, connect().await);
        send(&mut a, json!({ "type": "join", "room": "r1" })).await;
        let joined_a = next(&mut a).await;
        assert_eq!(joined_a["type"], "joined");
        assert_eq!(joined_a["peers"], json!([]));
        let id_a = joined_a["id"].as_u64().unwrap();
        send(&mut b, json!({ "type": "join", "room": "r1" })).await;
        let joined_b = next(&mut b).await;
        assert_eq!(joined_b["peers"], json!([id_a]));
        let id_b = joined_b["id"].as_u64().unwrap();
        assert_eq!(
            next(&mut a).await,
            json!({ "type": "peer-joined", "id": id_b })
        );
        send(&mut c, json!({ "type": "join", "room": "r2" })).await;
        assert_eq!(next(&mut c).await["peers"], json!([]));

        // Relayed within the room, with `from`.
        send(&mut b, json!({ "type": "offer", "to": id_a, "sdp": "v=0" })).await;
        assert_eq!(
            next(&mut a).await,
            json!({ "type": "offer", "to": id_a, "from": id_b, "sdp": "v=0" })
        );
        send(
            &mut a,
            json!({ "type": "candidate", "to": id_b, "candidate": "candidate:1" }),
        )
        .await;
        assert_eq!(next(&mut b).await["candidate"], "candidate:1");
        // Not across rooms.
        send(
            &mut c,
            json!({ "type": "answer", "to": id_a, "sdp": "v=0" }),
        )
        .await;
        assert_eq!(next(&mut c).await["type"], "error");

        // Presence: leaving, and a closed WebSocket.
        send(&mut b, json!({ "type": "leave" })).await;
        assert_eq!(
            next(&mut a).await,
            json!({ "type": "peer-left", "id": id_b })
        );
        send(&mut b, json!({ "type": "join", "room": "r1" })).await;
        assert_eq!(next(&mut b).await["peers"], json!([id_a]));
        assert_eq!(next(&mut a).await["type"], "peer-joined");
        drop(b);
        assert_eq!(
            next(&mut a).await,
            json!({ "type": "peer-left", "id": id_b })
        );
    });
}

/// The other way round: the page is in the room first, the native peer joins and calls it
/// (its offer: audio, video and the chat channel; the page answers); chat echoed, the camera
/// looped back and decoded.
#[test]
fn the_native_peer_calls_a_page() {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let (_server, base) = start("signaling_server", &["--http", "127.0.0.1:0"]);
    let addr = base.trim_start_matches("http://").to_owned();
    let mut native = None;
    let v = drive_with(&base, &["native-late", "late"], |p| {
        assert_eq!(p, "joined");
        native = Some(start(
            "native_peer",
            &["--server", &addr, "--room", "late", "--udp", "127.0.0.1:0"],
        ));
    });
    assert!(native.is_some(), "the page joined first");
    assert!(v["frames"].as_u64().unwrap() > 30, "{v}");
    assert_eq!(v["chat"], serde_json::json!(["echo: hello native"]), "{v}");
}

/// A WebSocket client of the signaling server for the tests below.
type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn ws_connect(addr: &str) -> Ws {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp)
        .await
        .unwrap();
    ws
}

async fn ws_send(ws: &mut Ws, v: Value) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(v.to_string()))
        .await
        .unwrap();
}

/// The next JSON message, or `None` once the server closed the socket (within 20 s).
async fn ws_next(ws: &mut Ws) -> Option<Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let m = tokio::time::timeout(std::time::Duration::from_secs(20), ws.next())
            .await
            .expect("a message or the end in time");
        match m {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

/// Hostile WebSocket clients: rooms and members are capped, messages to unknown members are
/// refused, an oversized message closes its socket, and connections beyond the cap are closed.
#[test]
fn hostile_signaling_clients_are_bounded() {
    use serde_json::json;
    let (_server, base) = start(
        "signaling_server",
        &[
            "--http",
            "127.0.0.1:0",
            "--max-rooms",
            "2",
            "--max-room-members",
            "2",
            "--max-connections",
            "6",
        ],
    );
    let addr = base.trim_start_matches("http://").to_owned();
    block_on(async move {
        let mut a = ws_connect(&addr).await;
        let mut b = ws_connect(&addr).await;
        let mut c = ws_connect(&addr).await;
        let mut d = ws_connect(&addr).await;
        ws_send(&mut a, json!({ "type": "join", "room": "r1" })).await;
        let id_a = ws_next(&mut a).await.unwrap()["id"].as_u64().unwrap();
        ws_send(&mut b, json!({ "type": "join", "room": "r1" })).await;
        let id_b = ws_next(&mut b).await.unwrap()["id"].as_u64().unwrap();
        assert_eq!(ws_next(&mut a).await.unwrap()["type"], "peer-joined");
        // The room is full.
        ws_send(&mut c, json!({ "type": "join", "room": "r1" })).await;
        assert_eq!(
            ws_next(&mut c).await.unwrap(),
            json!({ "type": "error", "message": "the room is full" })
        );
        // A second room, and no third.
        ws_send(&mut c, json!({ "type": "join", "room": "r2" })).await;
        assert_eq!(ws_next(&mut c).await.unwrap()["type"], "joined");
        ws_send(&mut d, json!({ "type": "join", "room": "r3" })).await;
        assert_eq!(
            ws_next(&mut d).await.unwrap(),
            json!({ "type": "error", "message": "too many rooms" })
        );
        // Messages to members that do not exist or are in another room.
        for to in [id_a + id_b + 1000, u64::MAX, id_a] {
            ws_send(&mut c, json!({ "type": "offer", "to": to, "sdp": "v=0" })).await;
            assert_eq!(ws_next(&mut c).await.unwrap()["type"], "error");
        }
        ws_send(
            &mut a,
            json!({ "type": "offer", "to": "everyone", "sdp": "v=0" }),
        )
        .await;
        assert_eq!(ws_next(&mut a).await.unwrap()["type"], "error");
        // A message above 64 KiB closes its socket; the room is told it left.
        let big = json!({ "type": "offer", "to": id_a, "sdp": "x".repeat(100_000) });
        use futures_util::SinkExt;
        let _ = b
            .send(tokio_tungstenite::tungstenite::Message::Text(
                big.to_string(),
            ))
            .await;
        assert_eq!(ws_next(&mut b).await, None, "closed");
        assert_eq!(
            ws_next(&mut a).await.unwrap(),
            json!({ "type": "peer-left", "id": id_b })
        );
        // Connections beyond the cap (6: a, c, d and three idle ones) are closed at once.
        let mut idle = Vec::new();
        for _ in 0..3 {
            idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
        }
        let mut extra = tokio::net::TcpStream::connect(&addr).await.unwrap();
        // It asks for the page: no answer, only the close.
        let _ = tokio::io::AsyncWriteExt::write_all(&mut extra, b"GET / HTTP/1.1\r\n\r\n").await;
        let mut rest = Vec::new();
        let n = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            tokio::io::AsyncReadExt::read_to_end(&mut extra, &mut rest),
        )
        .await
        .expect("closed in time");
        assert!(n.is_err() || rest.is_empty(), "{rest:?}");
        // The members already in are still served.
        ws_send(&mut a, json!({ "type": "leave" })).await;
        ws_send(&mut a, json!({ "type": "join", "room": "r1" })).await;
        assert_eq!(ws_next(&mut a).await.unwrap()["type"], "joined");
    });
}

/// A member that never reads its socket: the server holds at most its outbox for it, then
/// drops it from the room and closes its socket, instead of buffering for it forever; the
/// sender is told the member is gone.
#[test]
fn a_member_that_never_reads_is_disconnected() {
    use serde_json::json;
    let (_server, base) = start("signaling_server", &["--http", "127.0.0.1:0"]);
    let addr = base.trim_start_matches("http://").to_owned();
    block_on(async move {
        let mut sender = ws_connect(&addr).await;
        let mut slow = ws_connect(&addr).await;
        ws_send(&mut slow, json!({ "type": "join", "room": "flood" })).await;
        let id_slow = ws_next(&mut slow).await.unwrap()["id"].as_u64().unwrap();
        ws_send(&mut sender, json!({ "type": "join", "room": "flood" })).await;
        assert_eq!(
            ws_next(&mut sender).await.unwrap()["peers"],
            json!([id_slow])
        );
        // 2,000 offers of 60 KB (120 MB) to a member that reads nothing meanwhile; the sender
        // reads its own socket as it goes, and learns the member is gone: its departure, and
        // refused relays after it.
        const SENT: usize = 2000;
        use futures_util::{SinkExt, StreamExt};
        let (mut sink, mut stream) = sender.split();
        let sdp = "x".repeat(60_000);
        let flood = async move {
            for _ in 0..SENT {
                let m = json!({ "type": "offer", "to": id_slow, "sdp": sdp }).to_string();
                sink.send(tokio_tungstenite::tungstenite::Message::Text(m))
                    .await
                    .unwrap();
            }
        };
        let watch = async move {
            let (mut left, mut refused) = (false, 0);
            while !(left && refused > 0) {
                let m = tokio::time::timeout(Duration::from_secs(20), stream.next())
                    .await
                    .expect("in time")
                    .expect("the sender stays connected")
                    .unwrap();
                let tokio_tungstenite::tungstenite::Message::Text(t) = m else {
                    continue;
                };
                let m: Value = serde_json::from_str(&t).unwrap();
                match m["type"].as_str() {
                    Some("error") => refused += 1,
                    Some("peer-left") => {
                        assert_eq!(m["id"], id_slow);
                        left = true;
                    }
                    other => panic!("{other:?}: {m}"),
                }
            }
        };
        tokio::join!(flood, watch);
        // The slow member's socket ends after what was in flight: far fewer than were sent.
        let mut received = 0;
        while let Some(m) = ws_next(&mut slow).await {
            if m["type"] == "offer" {
                received += 1;
            } else {
                assert_eq!(m["type"], "peer-joined", "{m}");
            }
        }
        eprintln!("the member that did not read got {received} of {SENT} before it was cut");
        assert!(received < SENT / 2, "{received}");
    });
}

/// Runs `f` to completion on a current-thread tokio runtime (the WebSocket clients).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
