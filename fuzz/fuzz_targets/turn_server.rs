//! Arbitrary datagrams into the TURN server: from clients over UDP and TCP (through the stream
//! framer), and from peers on a relayed socket, with time moving. Nothing may panic.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sansrtc_ice::SeededRng;
use sansrtc_ice::turn::StreamFramer;
use sansrtc_ice::turn_server::{ClientTransport, TurnServer, TurnServerConfig, TurnServerEvent};

fuzz_target!(|data: &[u8]| {
    let mut config = TurnServerConfig::new("r", "198.51.100.1".parse().unwrap());
    config.users.push(("u".into(), "p".into()));
    config.auth_secret = Some("s".into());
    config.allow_loopback_peers = true;
    let mut server = TurnServer::new(config, SeededRng::new(1));
    let mut now = Instant::now();
    server.set_unix_time(now, 1_700_000_000);
    let client: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut framer = StreamFramer::new();
    // Records: a control byte, a length byte, that many bytes.
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        rest = next;
        match control % 4 {
            0 => server.handle_receive(now, client, ClientTransport::Udp, chunk),
            1 => {
                framer.push(chunk);
                while let Ok(Some(f)) = framer.next_frame() {
                    server.handle_receive(now, client, ClientTransport::Tcp, &f);
                }
            }
            2 => {
                let relay = SocketAddr::new("198.51.100.1".parse().unwrap(), 49152 + *len as u16);
                server.handle_relayed(now, relay, peer, chunk);
            }
            _ => {
                now += Duration::from_secs(*len as u64 * 8);
                server.handle_timeout(now);
            }
        }
        while let Some(e) = server.poll_event() {
            if let TurnServerEvent::OpenRelay(r) = e {
                server.relay_opened(now, r, control & 0x80 == 0);
            }
        }
        while server.poll_transmit().is_some() {}
    }
    let _ = server.stats();
});
