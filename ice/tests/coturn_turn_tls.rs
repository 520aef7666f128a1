//! Interop: TURN over TLS to coturn (Debian `coturn`) with `rustls`' sans-IO client connection:
//! a test CA and server certificate are made with the `openssl` command, coturn serves TLS with
//! them, and our client allocates, installs a permission, relays data both ways (Send/Data
//! indications and padded ChannelData inside TLS) and deallocates. A client that does not trust
//! the CA fails the handshake.

mod common;
use common::start_coturn_with;
use common::tls::{client_config, make_certs};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use sansrtc_ice::SeededRng;
use sansrtc_ice::turn::{TurnClient, TurnConfig, TurnEvent, TurnTransport};
use sansrtc_ice::turn_tls::TlsStream;

fn connect(addr: SocketAddr) -> TcpStream {
    let started = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => return s,
            Err(_) if started.elapsed() < Duration::from_secs(10) => std::thread::yield_now(),
            Err(e) => panic!("cannot connect to coturn TLS: {e}"),
        }
    }
}

struct Session {
    turn: TurnClient<SeededRng>,
    tls: TlsStream,
    stream: TcpStream,
}

impl Session {
    fn flush(&mut self) {
        while let Some(t) = self.turn.poll_transmit() {
            self.tls.write_plaintext(&t.contents).unwrap();
        }
        let records = self.tls.poll_tls();
        if !records.is_empty() {
            self.stream.write_all(&records).unwrap();
        }
    }

    /// Drives the session until `want` accepts an event (10 s deadline).
    fn until(&mut self, mut want: impl FnMut(&TurnEvent) -> bool) -> Result<TurnEvent, String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            self.turn.handle_timeout(Instant::now());
            self.flush();
            while let Some(e) = self.turn.poll_event() {
                if want(&e) {
                    return Ok(e);
                }
            }
            self.stream
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let n = match self.stream.read(&mut buf) {
                Ok(0) => return Err("connection closed".into()),
                Ok(n) => n,
                Err(_) => continue,
            };
            let plaintext = self.tls.handle_tls(&buf[..n]).map_err(|e| e.to_string())?;
            assert!(self.turn.handle_stream(Instant::now(), &plaintext));
        }
        Err("timed out".into())
    }
}

fn session(tls_addr: SocketAddr, trusted: Option<&[u8]>) -> Session {
    let stream = connect(tls_addr);
    let mut config = TurnConfig::new(tls_addr, "u", "p");
    config.transport = TurnTransport::Tcp;
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    Session {
        turn: TurnClient::new(config, SeededRng::new(41)),
        tls: TlsStream::new(client_config(trusted), name).unwrap(),
        stream,
    }
}

#[test]
fn turn_over_tls_against_coturn() {
    let (dir, ca_der) = make_certs();
    let (_coturn, _plain, tls_addr) = start_coturn_with(
        Some((&dir.join("server.pem"), &dir.join("server.key"))),
        &[],
    );
    let tls_addr = tls_addr.unwrap();

    let mut s = session(tls_addr, Some(&ca_der));
    s.turn.allocate(Instant::now()).unwrap();
    let TurnEvent::Allocated { relayed, .. } = s
        .until(|e| matches!(e, TurnEvent::Allocated { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    assert!(!s.tls.is_handshaking());
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let peer_addr = peer.local_addr().unwrap();
    s.turn
        .create_permission(Instant::now(), peer_addr.ip())
        .unwrap();
    s.until(|e| matches!(e, TurnEvent::PermissionCreated(_)))
        .unwrap();

    let mut buf = [0u8; 2048];
    s.turn
        .send_to(Instant::now(), peer_addr, b"tls: send indication")
        .unwrap();
    s.flush();
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"tls: send indication"[..], relayed));
    peer.send_to(b"tls: data indication", relayed).unwrap();
    let e = s.until(|e| matches!(e, TurnEvent::Data { .. })).unwrap();
    assert_eq!(
        e,
        TurnEvent::Data {
            peer: peer_addr,
            data: b"tls: data indication".to_vec()
        }
    );

    s.turn.bind_channel(Instant::now(), peer_addr).unwrap();
    s.until(|e| matches!(e, TurnEvent::ChannelBound { .. }))
        .unwrap();
    s.turn
        .send_to(Instant::now(), peer_addr, b"tls: channel")
        .unwrap();
    s.flush();
    let (n, from) = peer.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"tls: channel"[..], relayed));
    peer.send_to(b"tls: odd", relayed).unwrap();
    let e = s.until(|e| matches!(e, TurnEvent::Data { .. })).unwrap();
    assert_eq!(
        e,
        TurnEvent::Data {
            peer: peer_addr,
            data: b"tls: odd".to_vec()
        }
    );

    s.turn.close(Instant::now()).unwrap();
    s.until(|e| *e == TurnEvent::Closed).unwrap();

    // A client that does not trust the CA refuses the server's certificate.
    let mut untrusting = session(tls_addr, None);
    untrusting.turn.allocate(Instant::now()).unwrap();
    let err = untrusting
        .until(|e| matches!(e, TurnEvent::Allocated { .. }))
        .unwrap_err();
    assert!(
        err.contains("certificate") || err.contains("Unknown"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
