//! A TURN server (RFC 8656 over RFC 8489), sans-IO; it also answers STUN Binding requests.
//!
//! The caller owns every socket: the listening sockets (UDP, and TCP/TLS connections framed with
//! [`StreamFramer`](crate::turn::StreamFramer)) and the relayed UDP sockets the server asks for.
//!
//! - [`TurnServer::handle_receive`]: a datagram (or one stream frame) from a client;
//! - [`TurnServer::handle_relayed`]: a datagram from a peer on a relayed socket;
//! - [`TurnServer::poll_transmit`]: what to send, and from which socket ([`TransmitSource`]);
//! - [`TurnServer::poll_event`]: relayed sockets to open ([`TurnServerEvent::OpenRelay`], answered
//!   with [`TurnServer::relay_opened`]) and close, allocation logs;
//! - [`TurnServer::poll_timeout`] / [`TurnServer::handle_timeout`]: allocations, permissions
//!   (300 s), channels (600 s) and EVEN-PORT reservations expire (checked once a second; data
//!   paths check expiry exactly). Nonces are stateless (see `auth`) and expire by their own
//!   timestamps.
//!
//! Authentication: long-term credentials (static users, TURN REST API usernames `expiry:user`
//! with password base64(HMAC-SHA1(secret, username))), nonces expiring into 438. Everything a
//! client can grow is bounded by [`TurnServerConfig`] and every refusal counted in
//! [`TurnServerStats`].
//!
//! Modules: `config` (configuration, peer address policy), `auth` (credentials, nonces),
//! `allocation` (allocations, port pool, bandwidth), `permissions` (permissions, channels),
//! `requests` (the STUN methods), `events` (output types, counters); this one holds the server
//! and the data path.

mod allocation;
mod auth;
mod config;
mod events;
mod permissions;
mod requests;

pub use auth::rest_api_password;
pub use config::TurnServerConfig;
pub use events::{
    ClientTransport, DeleteReason, ServerTransmit, TransmitSource, TurnServerEvent, TurnServerStats,
};
pub use permissions::{CHANNEL_LIFETIME, PERMISSION_LIFETIME};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::rng::Rng;
use crate::stun::StunMessage;
use crate::turn::{CHANNEL_MAX_RFC5766, ChannelData};

use allocation::{Allocation, PortPool};
use auth::Auth;

/// How often expiries are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Attempts at an allocation's relayed sockets: when one cannot be bound (another process holds
/// the port drawn), the Allocate request is handled again, drawing other ports, up to this many
/// times in all before the client is answered 508.
const RELAY_OPEN_ATTEMPTS: u8 = 4;

/// The client side of an allocation: its address and transport.
type ClientKey = (SocketAddr, ClientTransport);

/// The TURN server.
#[derive(Debug)]
pub struct TurnServer<R> {
    config: TurnServerConfig,
    auth: Auth,
    rng: R,
    allocations: HashMap<u64, Allocation>,
    by_client: HashMap<ClientKey, u64>,
    by_relay: HashMap<SocketAddr, u64>,
    per_user: HashMap<String, usize>,
    ports: PortPool,
    next_id: u64,
    next_sweep: Option<Instant>,
    /// The attempt of the Allocate request being handled (see [`RELAY_OPEN_ATTEMPTS`]).
    open_attempt: u8,
    transmits: VecDeque<ServerTransmit>,
    events: VecDeque<TurnServerEvent>,
    stats: TurnServerStats,
}

impl<R: Rng> TurnServer<R> {
    /// Creates a server; nonce keys, ports and reservation tokens come from `rng`.
    pub fn new(config: TurnServerConfig, mut rng: R) -> Self {
        let mut nonce_key = [0u8; 32];
        rng.fill(&mut nonce_key);
        TurnServer {
            auth: Auth::new(
                &config.realm,
                &config.users,
                config.auth_secret.as_deref(),
                config.nonce_lifetime,
                &nonce_key,
            ),
            ports: PortPool::new(config.min_port, config.max_port),
            config,
            rng,
            allocations: HashMap::new(),
            by_client: HashMap::new(),
            by_relay: HashMap::new(),
            per_user: HashMap::new(),
            next_id: 0,
            next_sweep: None,
            open_attempt: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: TurnServerStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TurnServerConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> TurnServerStats {
        TurnServerStats {
            allocations_active: self.allocations.len() as u64,
            ..self.stats
        }
    }

    /// Tells the server the Unix time (seconds) at `now`, for the expiry of REST usernames.
    /// Without it every REST username is refused.
    pub fn set_unix_time(&mut self, now: Instant, unix_secs: u64) {
        self.auth.set_unix_time(now, unix_secs);
    }

    /// Handles a datagram (UDP) or one frame (TCP/TLS, as split by a
    /// [`StreamFramer`](crate::turn::StreamFramer)) from the client at `from`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: ClientTransport,
        datagram: &[u8],
    ) {
        if let Some(cd) = ChannelData::parse_up_to(datagram, CHANNEL_MAX_RFC5766) {
            self.client_channel_data(now, (from, transport), cd);
            return;
        }
        match StunMessage::parse(datagram) {
            Ok(m) => self.handle_stun(now, from, transport, &m),
            Err(_) => self.stats.malformed += 1,
        }
    }

    /// Handles a datagram a peer sent to the relayed socket bound at `relay`.
    pub fn handle_relayed(
        &mut self,
        now: Instant,
        relay: SocketAddr,
        from_peer: SocketAddr,
        datagram: &[u8],
    ) {
        let Some(alloc) = self
            .by_relay
            .get(&relay)
            .and_then(|id| self.allocations.get_mut(id))
            .filter(|a| a.is_open() && a.expires > now)
        else {
            self.stats.dropped_no_allocation += 1;
            return;
        };
        if !alloc.permissions.allows(now, from_peer.ip()) {
            self.stats.dropped_no_permission += 1;
            return;
        }
        if !alloc.bucket.take(now, datagram.len()) {
            self.stats.dropped_rate_limited += 1;
            return;
        }
        let contents = match alloc.channels.number(now, from_peer) {
            Some(channel) if datagram.len() <= u16::MAX as usize => {
                let mut out = Vec::with_capacity(datagram.len() + 7);
                ChannelData {
                    channel,
                    data: datagram,
                }
                .write(&mut out);
                if alloc.transport.is_stream() {
                    out.resize((out.len() + 3) & !3, 0);
                }
                out
            }
            _ => match requests::data_indication(&mut self.rng, from_peer, datagram) {
                Some(out) => out,
                None => {
                    self.stats.malformed += 1;
                    return;
                }
            },
        };
        self.stats.to_client_packets += 1;
        self.stats.to_client_bytes += datagram.len() as u64;
        self.transmits.push_back(ServerTransmit {
            source: TransmitSource::Listener(alloc.transport),
            destination: alloc.client,
            contents,
        });
    }

    /// A ChannelData message from a client: relayed to the channel's peer.
    fn client_channel_data(&mut self, now: Instant, key: ClientKey, cd: ChannelData<'_>) {
        let Some(alloc) = self
            .by_client
            .get(&key)
            .and_then(|id| self.allocations.get_mut(id))
            .filter(|a| a.is_open() && a.expires > now)
        else {
            self.stats.dropped_no_allocation += 1;
            return;
        };
        let Some(peer) = alloc.channels.peer(now, cd.channel) else {
            self.stats.dropped_no_permission += 1;
            return;
        };
        if !alloc.permissions.allows(now, peer.ip()) {
            self.stats.dropped_no_permission += 1;
            return;
        }
        Self::relay_to_peer(
            &mut self.stats,
            &mut self.transmits,
            now,
            alloc,
            peer,
            cd.data,
        );
    }

    /// Sends data from the allocation's relayed socket to a peer, within its bandwidth.
    fn relay_to_peer(
        stats: &mut TurnServerStats,
        transmits: &mut VecDeque<ServerTransmit>,
        now: Instant,
        alloc: &mut Allocation,
        peer: SocketAddr,
        data: &[u8],
    ) {
        let Some(relay) = alloc.relay_for(peer) else {
            stats.family_refused += 1;
            return;
        };
        if !alloc.bucket.take(now, data.len()) {
            stats.dropped_rate_limited += 1;
            return;
        }
        stats.to_peer_packets += 1;
        stats.to_peer_bytes += data.len() as u64;
        transmits.push_back(ServerTransmit {
            source: TransmitSource::Relay(relay),
            destination: peer,
            contents: data.to_vec(),
        });
    }

    /// The caller reports whether the relayed socket at `relay` (asked for by
    /// [`TurnServerEvent::OpenRelay`]) could be bound. Once all of an allocation's sockets are
    /// open the Allocate answer is sent; if one failed the allocation is deleted and its request
    /// handled again, drawing other ports (4 attempts in all, counted in
    /// `relay_open_retries`), after which the client is answered 508.
    pub fn relay_opened(&mut self, now: Instant, relay: SocketAddr, ok: bool) {
        let Some(&id) = self.by_relay.get(&relay) else {
            return;
        };
        let Some(alloc) = self.allocations.get_mut(&id) else {
            return;
        };
        if alloc.opening == 0 {
            return;
        }
        alloc.opening -= 1;
        alloc.open_failed |= !ok;
        if alloc.opening > 0 {
            return;
        }
        if alloc.open_failed {
            let (client, transport) = (alloc.client, alloc.transport);
            if alloc.attempt + 1 < RELAY_OPEN_ATTEMPTS && !alloc.request.is_empty() {
                // The same request again: other ports are drawn.
                let request = std::mem::take(&mut alloc.request);
                let attempt = alloc.attempt + 1;
                self.delete_allocation(id, DeleteReason::RelayFailed);
                self.stats.relay_open_retries += 1;
                if let Ok(m) = StunMessage::parse(&request) {
                    self.open_attempt = attempt;
                    self.handle_stun(now, client, transport, &m);
                    self.open_attempt = 0;
                }
                return;
            }
            let response = requests::error_for_allocate(alloc);
            self.delete_allocation(id, DeleteReason::RelayFailed);
            self.stats.capacity_refused += 1;
            if let Some(contents) = response {
                self.transmits.push_back(ServerTransmit {
                    source: TransmitSource::Listener(transport),
                    destination: client,
                    contents,
                });
            }
            return;
        }
        self.stats.allocations_created += 1;
        alloc.request = Vec::new();
        self.transmits.push_back(ServerTransmit {
            source: TransmitSource::Listener(alloc.transport),
            destination: alloc.client,
            contents: alloc.response.clone(),
        });
        self.events.push_back(TurnServerEvent::AllocationCreated {
            client: alloc.client,
            transport: alloc.transport,
            relayed: alloc.relays.clone(),
            username: alloc.username.clone(),
            lifetime: alloc.lifetime,
        });
        self.schedule_sweep(now);
    }

    /// The client's TCP/TLS connection closed: its allocation (if any) is deleted.
    pub fn handle_connection_closed(
        &mut self,
        _now: Instant,
        from: SocketAddr,
        transport: ClientTransport,
    ) {
        if let Some(&id) = self.by_client.get(&(from, transport)) {
            self.delete_allocation(id, DeleteReason::ConnectionClosed);
        }
    }

    /// Deletes an allocation: its relayed sockets are closed, its ports returned.
    fn delete_allocation(&mut self, id: u64, reason: DeleteReason) {
        let Some(alloc) = self.allocations.remove(&id) else {
            return;
        };
        self.by_client.remove(&(alloc.client, alloc.transport));
        for r in &alloc.relays {
            self.by_relay.remove(r);
            self.ports.release(*r);
            self.events.push_back(TurnServerEvent::CloseRelay(*r));
        }
        let user = auth::quota_name(&alloc.username);
        if let Some(n) = self.per_user.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                self.per_user.remove(user);
            }
        }
        match reason {
            DeleteReason::Expired => self.stats.allocations_expired += 1,
            DeleteReason::RelayFailed => {}
            _ => self.stats.allocations_deleted += 1,
        }
        if reason != DeleteReason::RelayFailed {
            self.events.push_back(TurnServerEvent::AllocationDeleted {
                client: alloc.client,
                transport: alloc.transport,
                reason,
            });
        }
    }

    fn schedule_sweep(&mut self, now: Instant) {
        if self.next_sweep.is_none() {
            self.next_sweep = Some(now + SWEEP_INTERVAL);
        }
    }

    /// Expires allocations, permissions, channels and port reservations.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.next_sweep {
            Some(t) if t <= now => {}
            _ => return,
        }
        let expired: Vec<u64> = self
            .allocations
            .iter()
            .filter(|(_, a)| a.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.delete_allocation(id, DeleteReason::Expired);
        }
        for a in self.allocations.values_mut() {
            a.permissions.expire(now);
            a.channels.expire(now);
        }
        self.ports.expire(now);
        self.next_sweep = (!self.allocations.is_empty() || self.ports.has_reservations())
            .then(|| now + SWEEP_INTERVAL);
    }

    /// When [`TurnServer::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_sweep
    }

    /// The next bytes to send.
    pub fn poll_transmit(&mut self) -> Option<ServerTransmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TurnServerEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
