//! `examples/sfu` with headless Chromium (Debian `chromium`, driven by playwright-core from npm,
//! fake camera and microphone; installed when missing), driven by `tests/browser/sfu.js`:
//! three pages join the room page and each decodes the other two's video (> 30 frames each)
//! and receives the other two's chat message; a WHIP publisher and a WHEP subscriber (> 30
//! frames decoded, `DELETE` ends both); a simulcast publisher (rids q, h, f at 1/4, 1/2 and
//! full size) and a subscriber that gets one layer of it, then another. Loopback only.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

mod common;

/// Chromium, node and playwright-core (installed when missing) and this test's driver script:
/// the driver's directory and the script's file name there.
fn setup() -> (PathBuf, String) {
    common::chromium_driver("sfu.js")
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

/// Starts the SFU on 127.0.0.1 (ports chosen by the system); returns it and its base URL.
fn start_sfu() -> (Proc, String) {
    let mut child = Command::new(common::example_exe("sfu"))
        .args(["--http", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the SFU starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("the SFU prints its URL: {line:?}"))
        .trim_end_matches('/')
        .to_string();
    std::thread::spawn(move || {
        for l in out.lines().map_while(Result::ok) {
            eprintln!("sfu: {l}");
        }
    });
    (Proc(child), url)
}

/// Runs the browser driver in `mode` against a fresh SFU; returns its result.
fn drive(mode: &str) -> Value {
    let _one = ONE_BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, script) = setup();
    let (_sfu, base) = start_sfu();
    let mut child = Command::new("node")
        .arg(&script)
        .arg(&base)
        .arg(mode)
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
        assert!(v.get("error").is_none(), "{v}");
        return v;
    }
    panic!("the driver ended without a result");
}

/// The sessions of a `/stats` answer with `role`.
fn sessions<'a>(stats: &'a Value, role: &str) -> Vec<&'a Value> {
    stats["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["role"] == role)
        .collect()
}

/// Three pages in the room: each decodes the other two's video (> 30 frames each) and gets
/// the other two's chat message, through one UDP port.
#[test]
fn three_pages_in_a_room() {
    let v = drive("room");
    let ids: Vec<u64> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{v}");
    for (i, frames) in v["frames"].as_array().unwrap().iter().enumerate() {
        for (j, id) in ids.iter().enumerate() {
            if i != j {
                let n = frames[id.to_string()].as_u64().unwrap_or(0);
                assert!(n > 30, "page {i} decoded {n} frames of page {j}: {v}");
            }
        }
    }
    for (i, chat) in v["chats"].as_array().unwrap().iter().enumerate() {
        let chat: Vec<&str> = chat
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        for j in (0..3).filter(|&j| j != i) {
            let want = format!("{}: hello from page {j}", ids[j]);
            assert!(
                chat.contains(&want.as_str()),
                "page {i} lacks {want:?}: {v}"
            );
        }
        assert_eq!(chat.len(), 2, "page {i} got only the others' messages: {v}");
    }
    // Three publishers, each with two subscribers.
    let publishers = sessions(&v["stats"], "publisher");
    assert_eq!(publishers.len(), 3, "{v}");
    assert!(publishers.iter().all(|p| p["subscribers"] == 2), "{v}");
    assert_eq!(sessions(&v["stats"], "subscriber").len(), 6, "{v}");
}

/// WHIP in, WHEP out: the subscriber decodes the publisher's video; `DELETE` of the WHIP
/// session ends it and its subscriber.
#[test]
fn whip_publisher_whep_subscriber() {
    let v = drive("whip");
    assert_eq!(v["published"]["status"], 201, "{v}");
    assert!(
        v["published"]["location"]
            .as_str()
            .unwrap()
            .starts_with("/whip/"),
        "{v}"
    );
    assert_eq!(v["subscribed"]["status"], 201, "{v}");
    assert!(v["frames"].as_u64().unwrap() > 30, "{v}");
    let subscriber = sessions(&v["stats"], "subscriber")[0];
    assert!(subscriber["audio_forwarded"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["deleted"], 200, "{v}");
    assert_eq!(v["afterDelete"]["sessions"], serde_json::json!([]), "{v}");
}

/// A simulcast publisher (three layers reach the SFU) and a subscriber: the SFU forwards one
/// layer (the one its bandwidth estimate allows), which the subscriber decodes as one stream;
/// then a switch to another layer (asked with `POST .../layer?rid=`), at its key frame.
#[test]
fn simulcast_publisher_one_layer_forwarded() {
    let v = drive("simulcast");
    assert!(v["frames"].as_u64().unwrap() > 30, "{v}");
    let inbound = v["inbound"].as_array().unwrap();
    assert_eq!(
        inbound.len(),
        1,
        "one video stream reaches the subscriber: {v}"
    );
    let publisher = sessions(&v["stats"], "publisher")[0];
    let layers = publisher["layer_bitrates"].as_object().unwrap();
    assert_eq!(layers.len(), 3, "q, h and f reached the SFU: {v}");
    let subscriber = sessions(&v["stats"], "subscriber")[0];
    // The SFU probes its subscribers (`Config::probing`): Chromium's feedback on the padding
    // lifts the estimate past three times its 300 kbit/s start within the first seconds
    // (without probes it grew with the layer forwarded only, for tens of seconds). The peak:
    // once the full layer flows the estimate may settle lower again.
    let estimate = subscriber["peak_bandwidth_estimate"].as_u64().unwrap();
    assert!(estimate >= 900_000, "peak estimate {estimate}: {v}");
    let layer = subscriber["layer"].as_str().expect("a layer forwarded");
    assert!(["q", "h", "f"].contains(&layer), "{v}");
    // What the subscriber decodes has the size of the layer forwarded (1280x720 / 4, 2, 1)...
    let width = inbound[0]["frameWidth"].as_u64().unwrap();
    assert!([320, 640, 1280].contains(&width), "{v}");
    // ...and the packets forwarded came from one layer at a time: a layer's packets are
    // forwarded only after a switch to it.
    let forwarded = subscriber["video_forwarded"].as_object().unwrap();
    assert!(forwarded.contains_key(layer), "{v}");
    assert!(
        forwarded.len() as u64 <= subscriber["switches"].as_u64().unwrap(),
        "{v}"
    );
    // Then the viewer asks for the other of q and h: the SFU switches at a key frame of it and
    // the subscriber decodes 30 more frames of the same stream (its sequence numbers go on), at
    // that layer's size.
    let switched = &v["switched"];
    assert_eq!(switched["pinned"], 204, "{v}");
    let to = switched["to"].as_str().unwrap();
    let after = sessions(&switched["stats"], "subscriber")[0];
    assert_eq!(after["layer"], to, "{v}");
    let inbound = switched["inbound"].as_array().unwrap();
    assert_eq!(inbound.len(), 1, "still one stream after the switch: {v}");
    let width = inbound[0]["frameWidth"].as_u64().unwrap();
    assert_eq!(width, if to == "q" { 320 } else { 640 }, "{v}");
}
