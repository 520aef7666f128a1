//! DTLS 1.3 through the whole `Endpoint`: a real client and server (seeded, every secret from the
//! injected generator, so a crash reproduces) run a handshake and exchange application data, and
//! the input attacks one datagram of that exchange. Its first bytes choose the versions each side
//! offers, the side attacked, the datagram (by its position) and how: forged datagrams from the
//! rest of the input delivered before the real one, the real one with bytes overwritten (plaintext
//! ClientHello / HelloRetryRequest / ServerHello fields, record headers, ACKs), or the real one cut
//! short. The clock moves on when nothing is in flight so retransmissions and timeouts run.
//! Nothing may panic, one received datagram never makes more than a flight's worth of datagrams,
//! and without an attack the handshake completes with equal SRTP keys.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sansrtc_dtls::endpoint::Versions;
use sansrtc_dtls::{Certificate, Config, Endpoint, HashAlgorithm, KeyRandomness, TestRng};

fn certs() -> &'static (Arc<Certificate>, Arc<Certificate>) {
    static C: OnceLock<(Arc<Certificate>, Arc<Certificate>)> = OnceLock::new();
    C.get_or_init(|| {
        (
            Arc::new(Certificate::generate().expect("certificate")),
            Arc::new(Certificate::generate().expect("certificate")),
        )
    })
}

fn config(own: &Arc<Certificate>, peer: &Arc<Certificate>, versions: Versions) -> Config {
    let mut c = Config::new(own.clone());
    c.remote_fingerprints = vec![peer.fingerprint(HashAlgorithm::Sha256)];
    c.versions = versions;
    c.key_randomness = KeyRandomness::Injected;
    c
}

fn versions(bits: u8) -> Versions {
    match bits % 3 {
        0 => Versions::Dtls13Or12,
        1 => Versions::Dtls13,
        _ => Versions::Dtls12,
    }
}

/// How the chosen datagram is attacked.
enum Attack<'a> {
    /// Forged datagrams (two-byte length before each) delivered before the real one.
    Inject(&'a [u8]),
    /// (offset, byte) pairs written over the real datagram.
    Overwrite(&'a [u8]),
    /// The real datagram cut to this many bytes.
    Truncate(usize),
}

/// Most datagrams one received datagram (or timeout) may produce: a whole flight of ours.
const MAX_ANSWER: usize = 32;

fuzz_target!(|data: &[u8]| {
    let [v, target, mode, rest @ ..] = data else {
        return;
    };
    let (client_v, server_v) = (versions(*v), versions(*v / 3));
    let attack_server = target & 1 == 0;
    let attacked_step = usize::from(target >> 1) % 12;
    let attack = match mode % 3 {
        0 => Attack::Inject(rest),
        1 => Attack::Overwrite(rest),
        _ => Attack::Truncate(rest.first().map_or(0, |&b| usize::from(b) * 4)),
    };
    let attacking = !rest.is_empty() || matches!(attack, Attack::Truncate(_));

    let (cc, sc) = certs();
    let seed = u64::from(*v);
    let mut client = Endpoint::client(config(cc, sc, client_v), Box::new(TestRng::new(seed)));
    let mut server = Endpoint::server(config(sc, cc, server_v), Box::new(TestRng::new(seed + 1)));
    let mut now = Instant::now();
    client.connect(now);

    let mut step = 0usize;
    let mut sent_data = false;
    for _round in 0..40 {
        let mut moved = false;
        for to_server in [true, false] {
            let (from, to) = if to_server {
                (&mut client, &mut server)
            } else {
                (&mut server, &mut client)
            };
            let mut out = Vec::new();
            while let Some(d) = from.poll_transmit() {
                out.push(d);
                assert!(out.len() <= 4 * MAX_ANSWER, "unbounded output");
            }
            for mut d in out {
                moved = true;
                let this = step;
                step += 1;
                if attacking && this == attacked_step && to_server == attack_server {
                    match attack {
                        Attack::Inject(mut forged) => {
                            while forged.len() >= 2 {
                                let len = usize::from(u16::from_be_bytes([forged[0], forged[1]]))
                                    .min(forged.len() - 2);
                                let (one, tail) = forged[2..].split_at(len);
                                forged = tail;
                                to.handle_receive(now, one);
                            }
                        }
                        Attack::Overwrite(pairs) => {
                            for p in pairs.chunks_exact(3) {
                                if !d.is_empty() {
                                    let at =
                                        usize::from(u16::from_be_bytes([p[0], p[1]])) % d.len();
                                    d[at] = p[2];
                                }
                            }
                        }
                        Attack::Truncate(n) => d.truncate(n),
                    }
                }
                to.handle_receive(now, &d);
            }
        }
        if client.is_connected() && server.is_connected() && !sent_data {
            sent_data = true;
            let _ = client.send_application_data(b"from the client");
            let _ = server.send_application_data(b"from the server");
            continue;
        }
        if !moved {
            if client.is_closed() || server.is_closed() || (sent_data && step > attacked_step) {
                break;
            }
            // Nothing in flight: let the retransmission timers fire.
            now += Duration::from_secs(2);
            client.handle_timeout(now);
            server.handle_timeout(now);
        }
        while client.poll_event().is_some() {}
        while server.poll_event().is_some() {}
    }

    // Without an attack, every pair of versions with one in common connects.
    let compatible = !matches!(
        (client_v, server_v),
        (Versions::Dtls13, Versions::Dtls12) | (Versions::Dtls12, Versions::Dtls13)
    );
    if !attacking && compatible {
        assert!(client.is_connected() && server.is_connected());
        assert_eq!(
            client.srtp_keying_material().expect("client keys"),
            server.srtp_keying_material().expect("server keys")
        );
    }
});
