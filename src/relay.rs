//! TURN relays of a peer connection (RFC 8656 over UDP): one allocation per configured server,
//! made from a registered socket of the server's address family. The relayed address becomes a
//! relayed ICE candidate; whatever ICE, DTLS or SRTP sends from it goes through the server (a
//! permission is requested for each peer, a channel is bound to the peer of the selected pair),
//! and what the server relays back is handed on as if it had arrived on the relayed address.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use sansrtc_ice::turn::{TurnClient, TurnConfig, TurnError, TurnEvent};

use crate::rng::PcRng;

/// A TURN server and its long-term credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServer {
    /// The server's UDP address.
    pub server: SocketAddr,
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

impl TurnServer {
    /// A server at `server` with `username` and `password`.
    pub fn new(server: SocketAddr, username: &str, password: &str) -> Self {
        Self {
            server,
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }
}

/// Peers a relay asks permissions for at most (the TURN client bounds them too).
const MAX_PERMISSIONS: usize = 64;
/// How long a permission request is left to be answered before it is asked again.
const PERMISSION_RETRY: Duration = Duration::from_secs(2);

/// Something a relay reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RelayEvent {
    /// The allocation succeeded: `relayed` is a candidate.
    Allocated {
        relayed: SocketAddr,
        server: SocketAddr,
    },
    /// A peer's datagram arrived through the relay.
    Data {
        peer: SocketAddr,
        relayed: SocketAddr,
        data: Vec<u8>,
    },
    /// The allocation failed (error code, 0 for no answer).
    Failed { server: SocketAddr, code: u16 },
}

#[derive(Debug, Clone)]
struct Relay {
    client: TurnClient<PcRng>,
    /// Our socket the allocation lives on.
    local: SocketAddr,
    server: SocketAddr,
    relayed: Option<SocketAddr>,
    /// Permissions asked for, and when.
    asked: Vec<(IpAddr, Instant)>,
    /// The peer a channel is bound to.
    channel: Option<SocketAddr>,
    /// The allocation failed.
    failed: bool,
}

/// Every relay of one peer connection.
#[derive(Debug, Default, Clone)]
pub(crate) struct Relays {
    relays: Vec<Relay>,
    /// Datagrams dropped because the relay could not take them yet (no permission, no
    /// allocation).
    pub(crate) dropped: u64,
}

impl Relays {
    /// Starts an allocation on each server from the first socket of its address family.
    pub(crate) fn start(
        &mut self,
        now: Instant,
        servers: &[TurnServer],
        locals: &[SocketAddr],
        rng: &mut PcRng,
    ) {
        for s in servers {
            if self.relays.iter().any(|r| r.server == s.server) {
                continue;
            }
            let Some(&local) = locals.iter().find(|l| l.is_ipv4() == s.server.is_ipv4()) else {
                continue;
            };
            let mut client = TurnClient::new(
                TurnConfig::new(s.server, &s.username, &s.password),
                rng.fork(),
            );
            if client.allocate(now).is_ok() {
                self.relays.push(Relay {
                    client,
                    local,
                    server: s.server,
                    relayed: None,
                    asked: Vec::new(),
                    channel: None,
                    failed: false,
                });
            }
        }
    }

    /// Whether a datagram from `source` to our `destination` is the server's: then it is
    /// consumed, and what it carried comes out in `out`.
    pub(crate) fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
        out: &mut Vec<RelayEvent>,
    ) -> bool {
        let Some(r) = self
            .relays
            .iter_mut()
            .find(|r| r.server == source && r.local == destination)
        else {
            return false;
        };
        let consumed = r.client.handle_receive(now, source, datagram);
        Self::events(r, out);
        consumed
    }

    fn events(r: &mut Relay, out: &mut Vec<RelayEvent>) {
        while let Some(e) = r.client.poll_event() {
            match e {
                TurnEvent::Allocated { relayed, .. } => {
                    r.relayed = Some(relayed);
                    out.push(RelayEvent::Allocated {
                        relayed,
                        server: r.server,
                    });
                }
                TurnEvent::AllocationFailed(code) => {
                    r.relayed = None;
                    r.failed = true;
                    out.push(RelayEvent::Failed {
                        server: r.server,
                        code,
                    });
                }
                TurnEvent::Data { peer, data } => {
                    if let Some(relayed) = r.relayed {
                        out.push(RelayEvent::Data {
                            peer,
                            relayed,
                            data,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether an allocation is still under way (gathering is not complete).
    pub(crate) fn pending(&self) -> bool {
        self.relays.iter().any(|r| r.relayed.is_none() && !r.failed)
    }

    /// Whether `addr` is one of our relayed addresses.
    pub(crate) fn is_relayed(&self, addr: SocketAddr) -> bool {
        self.relays.iter().any(|r| r.relayed == Some(addr))
    }

    /// Sends `data` from relayed address `relayed` to `peer` through its server. Without a
    /// permission for the peer yet, one is asked for and the datagram is dropped (ICE checks
    /// are retransmitted).
    pub(crate) fn send(
        &mut self,
        now: Instant,
        relayed: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) {
        let Some(r) = self.relays.iter_mut().find(|r| r.relayed == Some(relayed)) else {
            self.dropped += 1;
            return;
        };
        match r.client.send_to(now, peer, data) {
            Ok(()) => {}
            Err(TurnError::NoPermission(ip)) => {
                self.dropped += 1;
                let recent = r
                    .asked
                    .iter()
                    .any(|(a, t)| *a == ip && now < *t + PERMISSION_RETRY);
                if !recent
                    && (r.asked.len() < MAX_PERMISSIONS || r.asked.iter().any(|(a, _)| *a == ip))
                {
                    r.asked.retain(|(a, _)| *a != ip);
                    r.asked.push((ip, now));
                    let _ = r.client.create_permission(now, ip);
                }
            }
            Err(_) => self.dropped += 1,
        }
    }

    /// The path `(relayed, peer)` was selected: bind a channel so data goes as ChannelData.
    pub(crate) fn selected(&mut self, now: Instant, relayed: SocketAddr, peer: SocketAddr) {
        if let Some(r) = self.relays.iter_mut().find(|r| r.relayed == Some(relayed))
            && r.channel != Some(peer)
            && r.client.bind_channel(now, peer).is_ok()
        {
            r.channel = Some(peer);
        }
    }

    /// The next datagram for a server: `(our socket, server, bytes)`.
    pub(crate) fn poll_transmit(&mut self) -> Option<(SocketAddr, SocketAddr, Vec<u8>)> {
        self.relays.iter_mut().find_map(|r| {
            r.client
                .poll_transmit()
                .map(|t| (r.local, t.destination, t.contents))
        })
    }

    /// Retransmissions, refreshes of allocations, permissions and channels.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Vec<RelayEvent>) {
        for r in &mut self.relays {
            r.client.handle_timeout(now);
            Self::events(r, out);
        }
    }

    /// The earliest relay deadline.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.relays
            .iter()
            .filter_map(|r| r.client.poll_timeout())
            .min()
    }

    /// Deletes every allocation.
    pub(crate) fn close(&mut self, now: Instant) {
        for r in &mut self.relays {
            let _ = r.client.close(now);
        }
    }
}
