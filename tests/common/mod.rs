//! The in-process harness the peer-connection tests share: two peer connections, no sockets, a
//! fake clock, and a simulated link (lossless and in order by default; loss, duplication and
//! random delay, hence reordering, on request).

#![allow(dead_code, unreachable_pub)]

pub mod example_server;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use sansrtc::{Config, ConnectionState, Event, PcRng, PeerConnection, SdpType};

/// What the simulated link does to each datagram.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra random delay up to this (reorders datagrams).
    pub jitter: Duration,
}

impl Link {
    /// No loss, no duplication, 100 us, in order.
    pub const PERFECT: Link = Link {
        loss: 0.0,
        duplicate: 0.0,
        delay: Duration::from_micros(100),
        jitter: Duration::ZERO,
    };
}

/// One datagram on the wire.
pub struct Datagram {
    pub to: usize,
    pub from: SocketAddr,
    pub dst: SocketAddr,
    pub bytes: Vec<u8>,
}

pub struct Net {
    pub now: Instant,
    pub pcs: [PeerConnection; 2],
    pub addrs: [SocketAddr; 2],
    pub events: [Vec<Event>; 2],
    pub link: Link,
    /// In-flight datagrams by (delivery time, sequence).
    pub wire: BTreeMap<(Instant, u64), Datagram>,
    sequence: u64,
    /// The link's random state (SplitMix64).
    rng: u64,
    /// Datagrams delivered so far.
    pub delivered: u64,
    /// Datagrams the peers sent to [`ATTACKER`] (none should be, but STUN error answers).
    pub to_attacker: Vec<Datagram>,
    /// Peer `i`'s datagrams vanish on the way (a cut link, one way).
    pub cut: [bool; 2],
    /// When set, every datagram each peer sends is logged here (before loss).
    pub sent_log: Option<[Vec<Vec<u8>>; 2]>,
}

/// The address hostile datagrams come from (an attacker who is not the peer).
pub const ATTACKER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(127, 0, 0, 1),
    6666,
));

impl Net {
    pub fn new(seed: u64) -> Self {
        Self::with_setup(seed, sansrtc::sdp::Setup::Active)
    }

    /// `answer_setup` is the answerer's DTLS role choice.
    pub fn with_setup(seed: u64, answer_setup: sansrtc::sdp::Setup) -> Self {
        Self::with_config(seed, |c| c.answer_setup = answer_setup)
    }

    /// Both peers with the default config changed by `change`.
    pub fn with_config(seed: u64, change: impl Fn(&mut Config)) -> Self {
        let addrs: [SocketAddr; 2] = [
            "127.0.0.1:10001".parse().unwrap(),
            "127.0.0.1:10002".parse().unwrap(),
        ];
        let mk = |s: u64| {
            let mut config = Config::default();
            config.rng = PcRng::Seeded(s);
            change(&mut config);
            PeerConnection::new(config).unwrap()
        };
        let mut pcs = [mk(seed), mk(seed + 1)];
        pcs[0].add_local_address(addrs[0]).unwrap();
        pcs[1].add_local_address(addrs[1]).unwrap();
        Net {
            now: Instant::now(),
            pcs,
            addrs,
            events: [Vec::new(), Vec::new()],
            link: Link::PERFECT,
            wire: BTreeMap::new(),
            sequence: 0,
            rng: seed ^ 0x005E_ED0F_114B,
            delivered: 0,
            to_attacker: Vec::new(),
            cut: [false; 2],
            sent_log: None,
        }
    }

    fn random(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn send(&mut self, d: Datagram) {
        let jitter = self.link.jitter.mul_f64(self.random());
        let at = self.now + self.link.delay + jitter;
        self.sequence += 1;
        self.wire.insert((at, self.sequence), d);
    }

    pub fn collect(&mut self) {
        for i in 0..2 {
            while let Some(t) = self.pcs[i].poll_transmit() {
                assert_eq!(t.source, self.addrs[i]);
                if let Some(log) = &mut self.sent_log {
                    log[i].push(t.contents.to_vec());
                }
                if t.destination == ATTACKER {
                    self.to_attacker.push(Datagram {
                        to: usize::MAX,
                        from: t.source,
                        dst: t.destination,
                        bytes: t.contents.to_vec(),
                    });
                    continue;
                }
                if self.cut[i] {
                    continue;
                }
                let to = self
                    .addrs
                    .iter()
                    .position(|a| *a == t.destination)
                    .expect("known peer");
                if self.random() < self.link.loss {
                    continue;
                }
                let copies = if self.random() < self.link.duplicate {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    self.send(Datagram {
                        to,
                        from: t.source,
                        dst: t.destination,
                        bytes: t.contents.to_vec(),
                    });
                }
            }
            while let Some(e) = self.pcs[i].poll_event() {
                self.events[i].push(e);
            }
        }
    }

    /// Delivers `bytes` to peer `to` at once, as if sent from `from` (an attacker, or a
    /// spoofer using the other peer's address).
    pub fn inject(&mut self, to: usize, from: SocketAddr, bytes: &[u8]) {
        let dst = self.addrs[to];
        self.pcs[to].handle_receive(self.now, from, dst, bytes);
        self.collect();
    }

    /// Removes the datagram sent last (it is lost on the way).
    pub fn drop_newest(&mut self) {
        let newest = self.wire.keys().max_by_key(|(_, seq)| *seq).copied();
        if let Some(k) = newest {
            self.wire.remove(&k);
        }
    }

    /// Advances to the next event: a delivery or a deadline, whichever is first, but not past
    /// `until`. Returns false when nothing is left before `until`.
    fn step(&mut self, until: Instant) -> bool {
        self.collect();
        let delivery = self.wire.keys().next().map(|(t, _)| *t);
        let deadline = self.pcs.iter().filter_map(|p| p.poll_timeout()).min();
        let next = match (delivery, deadline) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        if next >= until {
            return false;
        }
        self.now = self.now.max(next);
        if delivery == Some(next) {
            let (_, d) = self.wire.pop_first().expect("a delivery is due");
            self.delivered += 1;
            self.pcs[d.to].handle_receive(self.now, d.from, d.dst, &d.bytes);
        } else {
            for p in &mut self.pcs {
                if p.poll_timeout().is_some_and(|t| t <= self.now) {
                    p.handle_timeout(self.now);
                }
            }
        }
        true
    }

    /// Runs until `done` holds. Panics after `limit` of simulated time.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) {
        let end = self.now + limit;
        loop {
            self.collect();
            if done(self) {
                return;
            }
            assert!(self.step(end), "not done within {limit:?}");
        }
    }

    /// Lets `d` of simulated time pass, delivering datagrams and firing deadlines.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step(until) {}
        self.now = until;
        self.collect();
    }

    /// Peer 0 opens a reliable channel `label`; once peer 1 saw it open, returns its id on
    /// each side (`ids[0]` is peer 0's, `ids[1]` peer 1's: ids belong to one connection).
    pub fn open_channel(&mut self, label: &str) -> [sansrtc::ChannelId; 2] {
        let ours = self.pcs[0]
            .create_data_channel(self.now, sansrtc::ChannelConfig::reliable(label))
            .unwrap();
        self.run_until(Duration::from_secs(5), |n| {
            opened_id(&n.events[1], label).is_some()
        });
        [ours, opened_id(&self.events[1], label).expect("opened")]
    }

    /// Negotiates, connects and opens channel `label` (see [`Net::open_channel`]).
    pub fn connect_with_channel(&mut self, label: &str) -> [sansrtc::ChannelId; 2] {
        self.negotiate();
        self.run_until(Duration::from_secs(10), connected);
        self.open_channel(label)
    }

    /// Peer 0 offers, peer 1 answers.
    pub fn negotiate(&mut self) {
        self.negotiate_from(0);
    }

    /// Peer `offerer` offers, the other answers; returns the offer and the answer.
    pub fn negotiate_from(&mut self, offerer: usize) -> (String, String) {
        let [a, b] = &mut self.pcs;
        let (offerer, answerer) = if offerer == 0 { (a, b) } else { (b, a) };
        offer_answer(self.now, offerer, answerer, |o| o, |a| a)
    }
}

/// One offer/answer exchange: `offerer` offers, `answerer` answers; each description reaches
/// the other side through its rewrite (as a signaling channel might change it). Returns the
/// offer and the answer as created.
pub fn offer_answer(
    now: Instant,
    offerer: &mut PeerConnection,
    answerer: &mut PeerConnection,
    rewrite_offer: impl FnOnce(String) -> String,
    rewrite_answer: impl FnOnce(String) -> String,
) -> (String, String) {
    let offer = offerer.create_offer(now).unwrap();
    offerer
        .set_local_description(SdpType::Offer, &offer)
        .unwrap();
    answerer
        .set_remote_description(now, SdpType::Offer, &rewrite_offer(offer.clone()))
        .unwrap();
    let answer = answerer.create_answer(now).unwrap();
    answerer
        .set_local_description(SdpType::Answer, &answer)
        .unwrap();
    offerer
        .set_remote_description(now, SdpType::Answer, &rewrite_answer(answer.clone()))
        .unwrap();
    (offer, answer)
}

pub fn connected(n: &Net) -> bool {
    n.pcs
        .iter()
        .all(|p| p.state() == ConnectionState::Connected)
}

/// The RTP packets among `events`.
pub fn rtp_received(events: &[Event]) -> Vec<&sansrtc::RtpReceived> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Rtp(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// The id of the channel labelled `label` that `events` saw open (the peer's channels).
pub fn opened_id(events: &[Event], label: &str) -> Option<sansrtc::ChannelId> {
    events.iter().find_map(|e| match e {
        Event::DataChannelOpen { id, label: l, .. } if l == label => Some(*id),
        _ => None,
    })
}

/// The messages of channel `id` among `events`, with whether each is binary.
pub fn messages(events: &[Event], id: sansrtc::ChannelId) -> Vec<(Vec<u8>, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DataChannelMessage { id: i, data, kind } if *i == id => {
                Some((data.to_vec(), *kind == sansrtc::MessageKind::Binary))
            }
            _ => None,
        })
        .collect()
}

/// Runs `cmd`, which must succeed.
pub fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed: {status}");
}

/// Installs Debian packages a test's real peer needs (the test setup installs what is missing).
pub fn apt_install(packages: &[&str]) {
    run(Command::new("apt-get").args(["update", "-qq"]));
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive"));
}

/// Installs Chromium, node and playwright-core when missing; copies the driver script
/// `tests/browser/<script>` next to playwright-core and returns that directory and the copy's
/// file name there (named after this checkout, so that two checkouts testing at once keep their
/// own script).
pub fn chromium_driver(script: &str) -> (PathBuf, String) {
    // Tests run in parallel: install one at a time.
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !std::path::Path::new("/usr/bin/chromium").exists() {
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
    let root = env!("CARGO_MANIFEST_DIR");
    let stem = script.trim_end_matches(".js");
    let name = format!(
        "{stem}-{:x}.js",
        root.bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b))
                .wrapping_mul(0x100_0000_01b3))
    );
    std::fs::copy(
        std::path::Path::new(root)
            .join("tests/browser")
            .join(script),
        dir.join(&name),
    )
    .unwrap();
    (dir, name)
}

/// A Python interpreter with aioice (PyPI) importable: the virtualenv the ice crate's aioice
/// tests use (under the cargo target dir), created and filled on first use.
pub fn aioice_python() -> PathBuf {
    venv_python("aioice-venv", "aioice")
}

/// A Python interpreter with aiortc (PyPI, a DTLS 1.2-only WebRTC stack) importable, in its own
/// virtualenv under the cargo target dir, created and filled on first use.
pub fn aiortc_python() -> PathBuf {
    venv_python("aiortc-venv", "aiortc")
}

/// The interpreter of virtualenv `name` (under the cargo target dir) with PyPI package `package`
/// installed: created, filled and checked on first use.
fn venv_python(name: &'static str, package: &'static str) -> PathBuf {
    static MADE: Mutex<BTreeMap<&'static str, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    made.entry(name)
        .or_insert_with(|| {
            let ok = |cmd: &mut Command| cmd.status().is_ok_and(|s| s.success());
            let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
            let python = venv.join("bin/python");
            let import = format!("import {package}");
            if ok(Command::new(&python).args(["-c", &import])) {
                return python;
            }
            if !ok(Command::new("python3").args(["-m", "venv"]).arg(&venv)) {
                // Debian splits venv support out of python3.
                apt_install(&["python3", "python3-venv"]);
                run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
            }
            run(Command::new(&python).args(["-m", "pip", "install", "-q", package]));
            run(Command::new(&python).args(["-c", &import]));
            python
        })
        .clone()
}

/// A child process killed (by its PID) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Set when the examples were built already (by the test that re-ran itself in a private network
/// namespace, where this copy of it need not, and cannot fetch anything to, build them).
pub const EXAMPLES_BUILT: &str = "SANSRTC_EXAMPLES_BUILT";

/// The example `name`, built (once per test binary, so it is never stale) in this test's profile.
pub fn example_exe(name: &'static str) -> PathBuf {
    static BUILT: Mutex<BTreeMap<&'static str, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    built
        .entry(name)
        .or_insert_with(|| {
            // target/<profile>/deps/TEST-HASH -> target/<profile>/examples/NAME
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
            let path = profile_dir.join("examples").join(name);
            if std::env::var_os(EXAMPLES_BUILT).is_some() && path.exists() {
                return path;
            }
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "--example", name]);
            // Without the variables cargo sets for a test (CARGO_PKG_NAME, ...): build scripts
            // that watch them would otherwise rebuild (ring) on every switch. The caller's own
            // build settings (home, jobs, incremental, target dir) stay.
            for (k, _) in std::env::vars() {
                if k.starts_with("CARGO_")
                    && k != "CARGO_HOME"
                    && k != "CARGO_BUILD_JOBS"
                    && k != "CARGO_INCREMENTAL"
                    && !k.starts_with("CARGO_TARGET")
                {
                    cmd.env_remove(k);
                }
            }
            if profile_dir.ends_with("release") {
                cmd.arg("--release");
            }
            run(&mut cmd);
            path
        })
        .clone()
}

/// A running `examples/turn_server`: its addresses and its stdout lines.
pub struct TurnProcess {
    _proc: Proc,
    /// UDP and TCP.
    pub addr: SocketAddr,
    /// TLS, when asked for.
    pub tls: Option<SocketAddr>,
    pub lines: Receiver<String>,
}

/// Starts `examples/turn_server` on 127.0.0.1 (realm `sansrtc.test`, relaying from 127.0.0.1,
/// stats every 100 ms) with `args`; returns once it printed its address.
pub fn start_turn_server(args: &[&str]) -> TurnProcess {
    let mut child = Command::new(example_exe("turn_server"))
        .args(["--listen", "127.0.0.1:0", "--realm", "sansrtc.test"])
        .args(["--relay-ip", "127.0.0.1", "--stats-interval-ms", "100"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("turn_server starts");
    let stdout = child.stdout.take().unwrap();
    let proc = Proc(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let (mut addr, mut tls) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while addr.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("turn_server prints its address");
        if let Some(a) = line.strip_prefix("listening tls on ") {
            tls = Some(a.parse().unwrap());
        }
        if let Some(a) = line.strip_prefix("listening on ") {
            addr = Some(a.parse().unwrap());
        }
    }
    TurnProcess {
        _proc: proc,
        addr: addr.unwrap(),
        tls,
        lines,
    }
}

impl TurnProcess {
    /// Waits (bounded) for a `stats` line satisfying `done`, and returns it.
    pub fn stats_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        self.line_until(what, "stats ", done)
    }

    /// Waits (bounded) for a line starting with `prefix` satisfying `done`, and returns it.
    pub fn line_until(&self, what: &str, prefix: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_secs(1)) {
                Ok(line) if line.starts_with(prefix) => {
                    if done(&line) {
                        return line;
                    }
                    last = line;
                }
                _ => {}
            }
        }
        panic!("{what}: last {prefix:?} line {last}");
    }
}

/// A counter of a `stats` line.
pub fn stat(line: &str, name: &str) -> u64 {
    let key = format!(" {name}: ");
    let at = line
        .find(&key)
        .unwrap_or_else(|| panic!("{name} in {line}"))
        + key.len();
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A self-signed ECDSA P-256 certificate for `localhost` and its key (PEM files `cert.pem` and
/// `key.pem` in `dir`, created), made by `openssl req`.
pub fn self_signed_cert(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec"])
        .args(["-pkeyopt", "ec_paramgen_curve:P-256"])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null()));
    (cert, key)
}

/// Drops every UDP packet in this (private) network namespace with nftables, as a corporate
/// firewall would: only TCP (ICE-TCP, TURN over TCP) can work.
pub fn block_udp() {
    let nft = |args: &[&str]| run(Command::new("nft").args(args));
    nft(&["add", "table", "inet", "sansrtc_no_udp"]);
    nft(&[
        "add",
        "chain",
        "inet",
        "sansrtc_no_udp",
        "input",
        "{ type filter hook input priority 0; policy accept; }",
    ]);
    nft(&[
        "add",
        "rule",
        "inet",
        "sansrtc_no_udp",
        "input",
        "meta",
        "l4proto",
        "udp",
        "drop",
    ]);
    // It holds: a datagram to ourselves is lost.
    let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    a.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    a.send_to(b"x", a.local_addr().unwrap()).unwrap();
    assert!(a.recv(&mut [0; 4]).is_err(), "UDP still gets through");
}

/// The RTP packet of a made-up simulcast layer: VP8 payload type 96 on `ssrc`, with the
/// `sdes:mid` (id 4) and `rtp-stream-id` (id 10) one-byte header extensions.
pub fn layer_packet(mid: &str, rid: &[u8], ssrc: u32, seq: u16) -> Vec<u8> {
    let mut elements = Vec::new();
    for (id, value) in [(4u8, mid.as_bytes()), (10, rid)] {
        elements.push((id << 4) | (value.len() as u8 - 1));
        elements.extend_from_slice(value);
    }
    while elements.len() % 4 != 0 {
        elements.push(0);
    }
    let mut p = vec![0x90, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xBE, 0xDE]);
    p.extend_from_slice(&((elements.len() / 4) as u16).to_be_bytes());
    p.extend_from_slice(&elements);
    // A VP8 payload descriptor and a few bytes of a (non-key) frame.
    p.extend_from_slice(&[0x10, 0x01, 0x02, 0x03, 0x04]);
    p
}
