//! Helpers shared by the interop tests.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

#[allow(dead_code)]
pub(crate) mod tls;

fn run(cmd: &mut Command) -> bool {
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

/// A Python interpreter with aioice (PyPI) importable: a virtualenv under the cargo target dir,
/// created and filled on first use (once per test binary; test binaries run one after another).
#[allow(dead_code)]
pub(crate) fn aioice_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("aioice-venv");
            let python = venv.join("bin/python");
            if run(Command::new(&python).args(["-c", "import aioice"])) {
                return python;
            }
            if !run(Command::new("python3").args(["-m", "venv"]).arg(&venv)) {
                // Debian splits venv support out of python3.
                assert!(run(Command::new("apt-get").args([
                    "install",
                    "-y",
                    "-qq",
                    "python3",
                    "python3-venv"
                ])));
                assert!(
                    run(Command::new("python3").args(["-m", "venv"]).arg(&venv)),
                    "python3 -m venv failed"
                );
            }
            assert!(
                run(Command::new(&python).args(["-m", "pip", "install", "-q", "aioice"])),
                "pip install aioice failed"
            );
            assert!(run(Command::new(&python).args(["-c", "import aioice"])));
            python
        })
        .clone()
}

/// A running coturn, stopped (by its PID) when dropped.
pub(crate) struct Coturn(Child);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts coturn on a free 127.0.0.1 UDP port with user `u`, password `p`, realm `r`; installs
/// the Debian package first if it is missing.
#[allow(dead_code)]
pub(crate) fn start_coturn() -> (Coturn, SocketAddr) {
    let (c, addr, _) = start_coturn_with(None, &[]);
    (c, addr)
}

fn free_port() -> u16 {
    // A port that was free a moment ago.
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts coturn with `extra` arguments; with `tls = Some((cert_pem, key_pem))` it also listens
/// for TLS, on the returned second address.
#[allow(dead_code)]
pub(crate) fn start_coturn_with(
    tls: Option<(&std::path::Path, &std::path::Path)>,
    extra: &[&str],
) -> (Coturn, SocketAddr, Option<SocketAddr>) {
    let have = Command::new("turnserver")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !have {
        let ok = Command::new("apt-get")
            .args(["install", "-y", "-qq", "coturn"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "apt-get install coturn failed");
    }
    let port = free_port();
    let mut cmd = Command::new("turnserver");
    cmd.args([
        "-n",
        "--no-cli",
        "--no-dtls",
        "--lt-cred-mech",
        "--user",
        "u:p",
        "--realm",
        "r",
    ])
    .args([
        "--listening-ip",
        "127.0.0.1",
        "--relay-ip",
        "127.0.0.1",
        "--allow-loopback-peers",
    ])
    .args([
        "--listening-port",
        &port.to_string(),
        "--min-port",
        "49152",
        "--max-port",
        "65535",
    ])
    .args(["--log-file", "stdout", "--no-stdout-log"])
    .args(extra);
    let tls_addr = match tls {
        Some((cert, key)) => {
            let tls_port = free_port();
            cmd.arg("--cert").arg(cert).arg("--pkey").arg(key);
            cmd.args(["--tls-listening-port", &tls_port.to_string()]);
            Some(SocketAddr::from(([127, 0, 0, 1], tls_port)))
        }
        None => {
            cmd.arg("--no-tls");
            None
        }
    };
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let coturn = Coturn(child);
    wait_until_answering(addr);
    (coturn, addr, tls_addr)
}

/// Waits (at most 10 s) until coturn answers a STUN Binding request on its UDP port, so tests
/// that send a request only once (TURN over TCP/TLS) never meet a server still starting.
fn wait_until_answering(server: SocketAddr) {
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    // Binding request: type 0x0001, length 0, magic cookie, a transaction id.
    let mut request = vec![0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42];
    request.extend_from_slice(b"coturn-ready");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut buf = [0u8; 512];
    while std::time::Instant::now() < deadline {
        let _ = probe.send_to(&request, server);
        match probe.recv_from(&mut buf) {
            Ok((n, _)) if n >= 20 && buf[8..20] == request[8..20] => return,
            _ => {}
        }
    }
    panic!("coturn on {server} does not answer");
}
