//! A TURN client over UDP (RFC 8656), sans-IO: Allocate with long-term credentials (401
//! challenge, realm and nonce, MD5 key, 438 stale nonce retried), allocation refresh before
//! expiry, CreatePermission and ChannelBind with their refreshes, Send/Data indications,
//! ChannelData framing, and deallocation on close.
//!
//! Over TCP (RFC 8656 framing, the caller owns the stream) the client writes each message as
//! one transmit (ChannelData padded to four bytes), does not retransmit, and reassembles what the
//! caller reads from the stream with [`TurnClient::handle_stream`].
//!
//! Not yet: TLS to the server, REQUESTED-ADDRESS-FAMILY / dual allocation, the SHA-256 password
//! algorithm.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::Transmit;
use crate::rng::Rng;
use crate::stun::attribute::{self as attr, Attribute};
use crate::stun::transaction::{StunClient, TransactionConfig, TransactionEvent};
use crate::stun::{
    IntegrityKey, MessageBuilder, MessageClass, MessageType, Method, StunMessage, TransactionId,
};

/// Lowest TURN channel number.
pub const CHANNEL_MIN: u16 = 0x4000;
/// Highest TURN channel number (RFC 8656 12).
pub const CHANNEL_MAX: u16 = 0x4FFF;

/// A ChannelData message (RFC 8656 12.4) borrowing its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    /// Channel number (0x4000..=0x4FFF).
    pub channel: u16,
    /// Application data.
    pub data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Parses a ChannelData message; trailing padding (over TCP) is allowed.
    pub fn parse(buf: &'a [u8]) -> Option<Self> {
        if buf.len() < 4 {
            return None;
        }
        let channel = u16::from_be_bytes([buf[0], buf[1]]);
        if !(CHANNEL_MIN..=CHANNEL_MAX).contains(&channel) {
            return None;
        }
        let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        let data = buf.get(4..4 + len)?;
        Some(ChannelData { channel, data })
    }

    /// Appends the message (unpadded, as over UDP) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.channel.to_be_bytes());
        out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
        out.extend_from_slice(self.data);
    }
}

/// TURN client configuration.
#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// The TURN server.
    pub server: SocketAddr,
    /// Long-term credential username.
    pub username: String,
    /// Long-term credential password.
    pub password: String,
    /// Requested allocation lifetime (seconds).
    pub lifetime: u32,
    /// Refresh an allocation, permission or channel this long before it expires.
    pub refresh_margin: Duration,
    /// STUN retransmission parameters.
    pub transactions: TransactionConfig,
    /// Most permissions kept.
    pub max_permissions: usize,
    /// Most channels kept.
    pub max_channels: usize,
    /// SOFTWARE attribute to send, if any.
    pub software: Option<String>,
    /// Transport to the server.
    pub transport: TurnTransport,
    /// Address family of the relayed address to ask for (REQUESTED-ADDRESS-FAMILY, RFC 8656
    /// 7.2; `None`: the server's default, IPv4). A server that cannot relay that family answers
    /// 440, reported as [`TurnEvent::AllocationFailed`].
    pub requested_family: Option<crate::stun::attribute::AddressFamily>,
}

impl TurnConfig {
    /// A configuration with defaults (600 s lifetime, refresh 60 s before expiry).
    pub fn new(server: SocketAddr, username: &str, password: &str) -> Self {
        TurnConfig {
            server,
            username: username.into(),
            password: password.into(),
            lifetime: 600,
            refresh_margin: Duration::from_secs(60),
            transactions: TransactionConfig::default(),
            max_permissions: 64,
            max_channels: 64,
            software: None,
            transport: TurnTransport::Udp,
            requested_family: None,
        }
    }
}

/// The transport between the client and the TURN server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnTransport {
    /// UDP: one message per datagram, requests retransmitted.
    Udp,
    /// TCP: messages back to back on a stream the caller owns, no retransmission.
    Tcp,
}

/// Most bytes of a partial frame kept from a TCP stream (a STUN message or ChannelData is at
/// most 65535 + 20 bytes).
const MAX_STREAM_BUFFER: usize = 65_535 + 20 + 4;

/// Longest allocation lifetime the client schedules with, whatever the server grants (s).
const MAX_LIFETIME: u32 = 86_400;

/// Permission lifetime (RFC 8656 9).
const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// Channel binding lifetime (RFC 8656 12).
const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);

/// Why a TURN operation could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TurnError {
    /// The client has no allocation (yet, or any more).
    #[error("no TURN allocation")]
    NotAllocated,
    /// An allocation exists or is being made.
    #[error("TURN allocation already exists or is in progress")]
    AlreadyAllocating,
    /// No permission for the peer's IP address: call `create_permission` first.
    #[error("no TURN permission for {0}")]
    NoPermission(IpAddr),
    /// `max_permissions` or `max_channels` reached, or channel numbers exhausted.
    #[error("TURN permission or channel limit reached")]
    Limit,
    /// A request could not be built or sent.
    #[error("STUN: {0}")]
    Stun(#[from] crate::stun::transaction::TransactionError),
}

/// Something the application must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    /// The allocation succeeded.
    Allocated {
        /// The relayed transport address (a relayed ICE candidate).
        relayed: SocketAddr,
        /// Our address as the server saw it (a server-reflexive candidate).
        mapped: Option<SocketAddr>,
        /// Granted lifetime in seconds.
        lifetime: u32,
    },
    /// The allocation was refreshed; the new lifetime in seconds.
    AllocationRefreshed(u32),
    /// The allocation failed or was lost (error code, 0 for a timeout).
    AllocationFailed(u16),
    /// A permission was installed or refreshed.
    PermissionCreated(IpAddr),
    /// A permission request failed (error code, 0 for a timeout).
    PermissionFailed(IpAddr, u16),
    /// A channel was bound or refreshed.
    ChannelBound {
        /// The peer.
        peer: SocketAddr,
        /// The channel.
        channel: u16,
    },
    /// Data relayed from a peer (Data indication or ChannelData).
    Data {
        /// The peer.
        peer: SocketAddr,
        /// The data.
        data: Vec<u8>,
    },
    /// The allocation was deleted (after `close`).
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Allocating,
    Allocated,
    Closing,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Request {
    Allocate,
    Refresh(u32),
    Permission(IpAddr),
    Channel(SocketAddr, u16),
}

#[derive(Debug, Clone)]
struct Pending {
    id: TransactionId,
    request: Request,
    authenticated: bool,
    stale_retried: bool,
}

/// Counters of a [`TurnClient`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnStats {
    /// Responses failing integrity, ignored.
    pub integrity_failures: u64,
    /// Requests retried after 438 Stale Nonce.
    pub stale_nonce_retries: u64,
    /// Datagrams from the server that were neither STUN nor ChannelData for us.
    pub ignored: u64,
}

/// The TURN client.
#[derive(Debug, Clone)]
pub struct TurnClient<R> {
    config: TurnConfig,
    stun: StunClient<R>,
    state: State,
    realm: Option<String>,
    nonce: Option<String>,
    key: Option<IntegrityKey>,
    pending: Vec<Pending>,
    relayed: Option<SocketAddr>,
    allocation_expires: Option<Instant>,
    permissions: Vec<(IpAddr, Instant)>,
    channels: Vec<(u16, SocketAddr, Instant)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TurnEvent>,
    stats: TurnStats,
    stream: Vec<u8>,
}

impl<R: Rng> TurnClient<R> {
    /// Creates a client; transaction ids come from `rng`.
    pub fn new(config: TurnConfig, rng: R) -> Self {
        TurnClient {
            stun: StunClient::new(
                match config.transport {
                    TurnTransport::Udp => config.transactions.clone(),
                    // Reliable transport: one request, and the RFC 8489 overall timeout of
                    // 39.5 s (Ti) for the answer.
                    TurnTransport::Tcp => TransactionConfig {
                        initial_rto: Duration::from_millis(39_500),
                        max_requests: 1,
                        ..config.transactions.clone()
                    },
                },
                rng,
            ),
            stream: Vec::new(),
            config,
            state: State::Idle,
            realm: None,
            nonce: None,
            key: None,
            pending: Vec::new(),
            relayed: None,
            allocation_expires: None,
            permissions: Vec::new(),
            channels: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: TurnStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> TurnStats {
        self.stats
    }

    /// The relayed address, once allocated.
    pub fn relayed_address(&self) -> Option<SocketAddr> {
        self.relayed.filter(|_| self.state == State::Allocated)
    }

    /// Starts the allocation.
    pub fn allocate(&mut self, now: Instant) -> Result<(), TurnError> {
        if self.state != State::Idle {
            return Err(TurnError::AlreadyAllocating);
        }
        self.state = State::Allocating;
        self.send(now, Request::Allocate, false)
    }

    /// Installs (or refreshes) a permission for a peer IP address.
    pub fn create_permission(&mut self, now: Instant, peer: IpAddr) -> Result<(), TurnError> {
        self.require_allocated()?;
        if !self.permissions.iter().any(|(ip, _)| *ip == peer)
            && self.permissions.len() >= self.config.max_permissions
        {
            return Err(TurnError::Limit);
        }
        self.send(now, Request::Permission(peer), true)
    }

    /// Binds a channel to a peer (or refreshes the binding) and returns its number. The binding
    /// also installs a permission for the peer's IP.
    pub fn bind_channel(&mut self, now: Instant, peer: SocketAddr) -> Result<u16, TurnError> {
        self.require_allocated()?;
        let channel = match self.channels.iter().find(|(_, p, _)| *p == peer) {
            Some((c, _, _)) => *c,
            None => {
                if self.channels.len() >= self.config.max_channels {
                    return Err(TurnError::Limit);
                }
                (CHANNEL_MIN..=CHANNEL_MAX)
                    .find(|c| !self.channels.iter().any(|(used, _, _)| used == c))
                    .ok_or(TurnError::Limit)?
            }
        };
        self.send(now, Request::Channel(peer, channel), true)?;
        Ok(channel)
    }

    /// Sends data to a peer through the relay: ChannelData when a channel is bound, a Send
    /// indication otherwise (a permission for the peer's IP is needed).
    pub fn send_to(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        data: &[u8],
    ) -> Result<(), TurnError> {
        self.require_allocated()?;
        if let Some((channel, _, _)) = self
            .channels
            .iter()
            .find(|(_, p, e)| *p == peer && *e > now)
        {
            let mut out = Vec::with_capacity(4 + data.len() + 3);
            ChannelData {
                channel: *channel,
                data,
            }
            .write(&mut out);
            if self.config.transport == TurnTransport::Tcp {
                // Over a stream ChannelData is padded to a multiple of four (RFC 8656 12.5).
                out.resize((out.len() + 3) & !3, 0);
            }
            self.transmits.push_back(Transmit {
                destination: self.config.server,
                contents: out,
            });
            return Ok(());
        }
        if !self
            .permissions
            .iter()
            .any(|(ip, e)| *ip == peer.ip() && *e > now)
        {
            return Err(TurnError::NoPermission(peer.ip()));
        }
        let mut id = TransactionId([0; 12]);
        // Indications need a transaction id too; draw it like requests do.
        let mut buf = vec![0u8; data.len() + 64];
        let len = {
            let mut b = MessageBuilder::new(
                &mut buf,
                MessageType::new(Method::SEND, MessageClass::Indication),
                {
                    self.stun_rng_fill(&mut id.0);
                    id
                },
            )
            .map_err(|e| TurnError::Stun(e.into()))?;
            b.add(&Attribute::XorPeerAddress(peer))
                .map_err(|e| TurnError::Stun(e.into()))?;
            b.add(&Attribute::Data(data))
                .map_err(|e| TurnError::Stun(e.into()))?;
            b.finish()
        };
        buf.truncate(len);
        self.transmits.push_back(Transmit {
            destination: self.config.server,
            contents: buf,
        });
        Ok(())
    }

    fn stun_rng_fill(&mut self, out: &mut [u8]) {
        self.stun.fill_random(out);
    }

    /// Deletes the allocation (Refresh with LIFETIME 0).
    pub fn close(&mut self, now: Instant) -> Result<(), TurnError> {
        self.require_allocated()?;
        self.state = State::Closing;
        self.send(now, Request::Refresh(0), true)
    }

    fn require_allocated(&self) -> Result<(), TurnError> {
        if self.state == State::Allocated {
            Ok(())
        } else {
            Err(TurnError::NotAllocated)
        }
    }

    fn send(
        &mut self,
        now: Instant,
        request: Request,
        authenticate: bool,
    ) -> Result<(), TurnError> {
        let authenticated = authenticate || self.key.is_some();
        let id = self.start(now, &request, authenticated)?;
        self.pending.push(Pending {
            id,
            request,
            authenticated,
            stale_retried: false,
        });
        Ok(())
    }

    fn start(
        &mut self,
        now: Instant,
        request: &Request,
        authenticated: bool,
    ) -> Result<TransactionId, TurnError> {
        let (method, lifetime) = match request {
            Request::Allocate => (Method::ALLOCATE, Some(self.config.lifetime)),
            Request::Refresh(l) => (Method::REFRESH, Some(*l)),
            Request::Permission(_) => (Method::CREATE_PERMISSION, None),
            Request::Channel(..) => (Method::CHANNEL_BIND, None),
        };
        let creds = if authenticated {
            match (&self.realm, &self.nonce, &self.key) {
                (Some(r), Some(n), Some(k)) => Some((r.clone(), n.clone(), k.clone())),
                _ => None,
            }
        } else {
            None
        };
        let username = self.config.username.clone();
        let software = self.config.software.clone();
        let requested_family = self.config.requested_family;
        let request = request.clone();
        let id = self.stun.start_request(
            now,
            self.config.server,
            MessageType::new(method, MessageClass::Request),
            |b| {
                match request {
                    Request::Allocate => {
                        b.add(&Attribute::RequestedTransport(17))?;
                        if let Some(family) = requested_family {
                            b.add(&Attribute::RequestedAddressFamily(family))?;
                        }
                    }
                    Request::Permission(ip) => {
                        b.add(&Attribute::XorPeerAddress(SocketAddr::new(ip, 0)))?;
                    }
                    Request::Channel(peer, channel) => {
                        b.add(&Attribute::ChannelNumber(channel))?;
                        b.add(&Attribute::XorPeerAddress(peer))?;
                    }
                    Request::Refresh(_) => {}
                }
                if let Some(l) = lifetime {
                    b.add(&Attribute::Lifetime(l))?;
                }
                if let Some(s) = &software {
                    b.add(&Attribute::Software(s))?;
                }
                if let Some((realm, nonce, key)) = &creds {
                    b.add(&Attribute::Username(&username))?;
                    b.add(&Attribute::Realm(realm))?;
                    b.add(&Attribute::Nonce(nonce))?;
                    b.add_message_integrity(key)?;
                }
                b.add_fingerprint().map(|_| ())
            },
        )?;
        Ok(id)
    }

    /// Handles bytes read from the TCP stream to the server: complete frames (STUN messages and
    /// ChannelData) are processed, a partial one is kept for the next call. Returns `false` (and
    /// discards the stream state) if the stream cannot be TURN framing.
    pub fn handle_stream(&mut self, now: Instant, bytes: &[u8]) -> bool {
        self.stream.extend_from_slice(bytes);
        loop {
            if self.stream.len() < 4 {
                return true;
            }
            let len = u16::from_be_bytes([self.stream[2], self.stream[3]]) as usize;
            let frame_len = match self.stream[0] >> 6 {
                0 => 20 + len,
                1 => 4 + ((len + 3) & !3),
                _ => {
                    self.stream.clear();
                    self.stats.ignored += 1;
                    return false;
                }
            };
            if self.stream.len() < frame_len {
                if self.stream.len() > MAX_STREAM_BUFFER {
                    self.stream.clear();
                    return false;
                }
                return true;
            }
            let frame: Vec<u8> = self.stream.drain(..frame_len).collect();
            let server = self.config.server;
            self.handle_receive(now, server, &frame);
        }
    }

    /// Handles a datagram from `source`. Returns `true` if it came from the TURN server and was
    /// consumed.
    pub fn handle_receive(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) -> bool {
        if source != self.config.server {
            return false;
        }
        if let Some(cd) = ChannelData::parse(datagram) {
            match self.channels.iter().find(|(c, _, _)| *c == cd.channel) {
                Some((_, peer, _)) => self.events.push_back(TurnEvent::Data {
                    peer: *peer,
                    data: cd.data.to_vec(),
                }),
                None => self.stats.ignored += 1,
            }
            return true;
        }
        let Ok(m) = StunMessage::parse(datagram) else {
            self.stats.ignored += 1;
            return false;
        };
        if m.class() == MessageClass::Indication {
            if m.method() == Method::DATA {
                match (m.get(attr::XOR_PEER_ADDRESS), m.get(attr::DATA)) {
                    (Some(Ok(Attribute::XorPeerAddress(peer))), Some(Ok(Attribute::Data(d)))) => {
                        self.events.push_back(TurnEvent::Data {
                            peer,
                            data: d.to_vec(),
                        })
                    }
                    _ => self.stats.ignored += 1,
                }
            }
            return true;
        }
        // Responses: authenticate before the transaction layer sees them, so a forged response
        // cannot complete a transaction.
        let id = m.transaction_id();
        let authenticated = self.pending.iter().any(|p| p.id == id && p.authenticated);
        // 401 and 438 answers cannot carry integrity the client can check (the nonce changed).
        let challenge = matches!(m.error_code().map(|e| e.0), Some(401 | 438));
        let forged = match &self.key {
            Some(key) => authenticated && !challenge && m.verify_message_integrity(key).is_err(),
            None => false,
        };
        if forged {
            self.stats.integrity_failures += 1;
            return true;
        }
        if self.stun.handle_receive(now, source, datagram) {
            self.process_events(now);
        }
        true
    }

    fn process_events(&mut self, now: Instant) {
        while let Some(event) = self.stun.poll_event() {
            match event {
                TransactionEvent::Response { id, message, .. } => {
                    self.on_response(now, id, &message)
                }
                TransactionEvent::Timeout { id } => {
                    if let Some(i) = self.pending.iter().position(|p| p.id == id) {
                        let p = self.pending.swap_remove(i);
                        self.on_failure(&p.request, 0);
                    }
                }
            }
        }
    }

    fn on_failure(&mut self, request: &Request, code: u16) {
        match request {
            Request::Allocate | Request::Refresh(_) => {
                if self.state == State::Closing {
                    self.state = State::Closed;
                    self.events.push_back(TurnEvent::Closed);
                } else {
                    self.state = State::Closed;
                    self.events.push_back(TurnEvent::AllocationFailed(code));
                }
            }
            Request::Permission(ip) => self
                .events
                .push_back(TurnEvent::PermissionFailed(*ip, code)),
            Request::Channel(peer, _) => self
                .events
                .push_back(TurnEvent::PermissionFailed(peer.ip(), code)),
        }
    }

    fn on_response(&mut self, now: Instant, id: TransactionId, bytes: &[u8]) {
        let Some(i) = self.pending.iter().position(|p| p.id == id) else {
            return;
        };
        let p = self.pending.swap_remove(i);
        let Ok(m) = StunMessage::parse(bytes) else {
            return;
        };
        if m.class() == MessageClass::ErrorResponse {
            let code = m.error_code().map(|e| e.0).unwrap_or(0);
            let realm = match m.get(attr::REALM) {
                Some(Ok(Attribute::Realm(r))) => Some(r.to_owned()),
                _ => None,
            };
            let nonce = match m.get(attr::NONCE) {
                Some(Ok(Attribute::Nonce(n))) => Some(n.to_owned()),
                _ => None,
            };
            let retry = match code {
                // The challenge: learn realm and nonce, derive the key, retry once with them.
                401 if !p.authenticated => match (realm, nonce) {
                    (Some(r), Some(n)) => {
                        self.key = Some(IntegrityKey::long_term_md5(
                            &self.config.username,
                            &r,
                            &self.config.password,
                        ));
                        self.realm = Some(r);
                        self.nonce = Some(n);
                        true
                    }
                    _ => false,
                },
                438 if !p.stale_retried => match nonce {
                    Some(n) => {
                        self.stats.stale_nonce_retries += 1;
                        self.nonce = Some(n);
                        if let Some(r) = realm {
                            self.realm = Some(r);
                        }
                        true
                    }
                    None => false,
                },
                _ => false,
            };
            if retry {
                if let Ok(new_id) = self.start(now, &p.request, true) {
                    self.pending.push(Pending {
                        id: new_id,
                        request: p.request,
                        authenticated: true,
                        stale_retried: p.stale_retried || code == 438,
                    });
                    return;
                }
            }
            self.on_failure(&p.request, code);
            return;
        }
        match p.request {
            Request::Allocate => {
                let relayed = match m.get(attr::XOR_RELAYED_ADDRESS) {
                    Some(Ok(Attribute::XorRelayedAddress(a))) => a,
                    _ => {
                        self.on_failure(&Request::Allocate, 0);
                        return;
                    }
                };
                let lifetime = match m.get(attr::LIFETIME) {
                    // A server's lifetime is clamped to a day: it only schedules our refresh.
                    Some(Ok(Attribute::Lifetime(l))) => l.min(MAX_LIFETIME),
                    _ => self.config.lifetime,
                };
                self.state = State::Allocated;
                self.relayed = Some(relayed);
                self.allocation_expires = Some(now + Duration::from_secs(lifetime.into()));
                self.events.push_back(TurnEvent::Allocated {
                    relayed,
                    mapped: m.xor_mapped_address(),
                    lifetime,
                });
            }
            Request::Refresh(0) => {
                self.state = State::Closed;
                self.relayed = None;
                self.permissions.clear();
                self.channels.clear();
                self.events.push_back(TurnEvent::Closed);
            }
            Request::Refresh(_) => {
                let lifetime = match m.get(attr::LIFETIME) {
                    // A server's lifetime is clamped to a day: it only schedules our refresh.
                    Some(Ok(Attribute::Lifetime(l))) => l.min(MAX_LIFETIME),
                    _ => self.config.lifetime,
                };
                self.allocation_expires = Some(now + Duration::from_secs(lifetime.into()));
                self.events
                    .push_back(TurnEvent::AllocationRefreshed(lifetime));
            }
            Request::Permission(ip) => {
                let expires = now + PERMISSION_LIFETIME;
                match self.permissions.iter_mut().find(|(p, _)| *p == ip) {
                    Some(entry) => entry.1 = expires,
                    None => self.permissions.push((ip, expires)),
                }
                self.events.push_back(TurnEvent::PermissionCreated(ip));
            }
            Request::Channel(peer, channel) => {
                let expires = now + CHANNEL_LIFETIME;
                match self.channels.iter_mut().find(|(c, _, _)| *c == channel) {
                    Some(entry) => entry.2 = expires,
                    None => self.channels.push((channel, peer, expires)),
                }
                // A channel binding also installs or refreshes the permission (RFC 8656 12.2).
                let perm = now + PERMISSION_LIFETIME;
                match self.permissions.iter_mut().find(|(p, _)| *p == peer.ip()) {
                    Some(entry) => entry.1 = entry.1.max(perm),
                    None => self.permissions.push((peer.ip(), perm)),
                }
                self.events
                    .push_back(TurnEvent::ChannelBound { peer, channel });
            }
        }
    }

    fn refreshing(&self, matches: impl Fn(&Request) -> bool) -> bool {
        self.pending.iter().any(|p| matches(&p.request))
    }

    /// Retransmits, and refreshes the allocation, permissions and channels when they near expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.stun.handle_timeout(now);
        self.process_events(now);
        if self.state != State::Allocated {
            return;
        }
        let margin = self.config.refresh_margin;
        let refresh_due = self
            .allocation_expires
            .is_some_and(|exp| now + margin >= exp);
        if refresh_due && !self.refreshing(|r| matches!(r, Request::Refresh(_))) {
            let _ = self.send(now, Request::Refresh(self.config.lifetime), true);
        }
        // Permissions and channels that the application keeps are refreshed before expiry;
        // expired ones are forgotten.
        self.permissions.retain(|(_, e)| *e > now);
        self.channels.retain(|(_, _, e)| *e > now);
        let due_perms: Vec<IpAddr> = self
            .permissions
            .iter()
            .filter(|(_, e)| now + margin >= *e)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in due_perms {
            // A channel to that IP is refreshed instead: ChannelBind refreshes the permission
            // too (RFC 8656 12.2), so channels are refreshed at the permissions' pace.
            let request = match self.channels.iter().find(|(_, p, _)| p.ip() == ip) {
                Some((c, p, _)) => Request::Channel(*p, *c),
                None => Request::Permission(ip),
            };
            if !self.refreshing(|r| *r == request) {
                let _ = self.send(now, request, true);
            }
        }
        let due_channels: Vec<(u16, SocketAddr)> = self
            .channels
            .iter()
            .filter(|(_, _, e)| now + margin >= *e)
            .map(|(c, p, _)| (*c, *p))
            .collect();
        for (c, p) in due_channels {
            if !self.refreshing(|r| *r == Request::Channel(p, c)) {
                let _ = self.send(now, Request::Channel(p, c), true);
            }
        }
    }

    /// The next datagram to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.stun
            .poll_transmit()
            .or_else(|| self.transmits.pop_front())
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    /// When [`TurnClient::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let margin = self.config.refresh_margin;
        let mut t = self.stun.poll_timeout();
        if self.state == State::Allocated {
            // A refresh already in flight is not due again: its retransmissions are the STUN
            // client's deadlines (otherwise its refresh point, now past, would be reported
            // until the answer came, and a caller would spin).
            let allocation = self
                .allocation_expires
                .filter(|_| !self.refreshing(|r| matches!(r, Request::Refresh(_))));
            let permissions = self
                .permissions
                .iter()
                .filter(|(ip, _)| {
                    !self.refreshing(|r| match r {
                        Request::Permission(p) => p == ip,
                        Request::Channel(p, _) => p.ip() == *ip,
                        _ => false,
                    })
                })
                .map(|(_, e)| *e);
            let channels = self
                .channels
                .iter()
                .filter(|(c, p, _)| !self.refreshing(|r| *r == Request::Channel(*p, *c)))
                .map(|(_, _, e)| *e);
            let refreshes = allocation
                .into_iter()
                .chain(permissions)
                .chain(channels)
                .map(|e| e.checked_sub(margin).unwrap_or(e));
            for r in refreshes {
                t = Some(t.map_or(r, |t| t.min(r)));
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    fn server() -> SocketAddr {
        "192.0.2.10:3478".parse().unwrap()
    }

    fn reply(
        request: &[u8],
        class: MessageClass,
        key: Option<&IntegrityKey>,
        build: impl FnOnce(&mut MessageBuilder<'_>),
    ) -> Vec<u8> {
        let req = StunMessage::parse(request).unwrap();
        let mut buf = [0u8; 512];
        let mut b = MessageBuilder::new(
            &mut buf,
            MessageType::new(req.method(), class),
            req.transaction_id(),
        )
        .unwrap();
        build(&mut b);
        if let Some(k) = key {
            b.add_message_integrity(k).unwrap();
        }
        let n = b.finish();
        buf[..n].to_vec()
    }

    #[test]
    fn channel_data_framing() {
        let mut out = Vec::new();
        ChannelData {
            channel: 0x4001,
            data: b"abc",
        }
        .write(&mut out);
        assert_eq!(out, [0x40, 0x01, 0, 3, b'a', b'b', b'c']);
        assert_eq!(
            ChannelData::parse(&out),
            Some(ChannelData {
                channel: 0x4001,
                data: b"abc"
            })
        );
        out.push(0); // TCP padding is tolerated
        assert!(ChannelData::parse(&out).is_some());
        assert_eq!(ChannelData::parse(&[0x40, 0x01, 0, 4, 1]), None);
        assert_eq!(ChannelData::parse(&[0x50, 0x00, 0, 0]), None);
        assert_eq!(ChannelData::parse(&[0x3F, 0xFF, 0, 0]), None);
    }

    /// 401 challenge, then 438 stale nonce answered by retrying with the new nonce, then success;
    /// a forged success without valid integrity is ignored.
    #[test]
    fn challenge_stale_nonce_and_forgery() {
        let mut c = TurnClient::new(TurnConfig::new(server(), "u", "p"), SeededRng::new(3));
        let now = Instant::now();
        c.allocate(now).unwrap();
        let first = c.poll_transmit().unwrap().contents;
        assert!(StunMessage::parse(&first).unwrap().username().is_none());
        let challenge = reply(&first, MessageClass::ErrorResponse, None, |b| {
            b.add(&Attribute::ErrorCode {
                code: 401,
                reason: "Unauthorized",
            })
            .unwrap();
            b.add(&Attribute::Realm("r")).unwrap();
            b.add(&Attribute::Nonce("n1")).unwrap();
        });
        assert!(c.handle_receive(now, server(), &challenge));
        let second = c.poll_transmit().unwrap().contents;
        let m = StunMessage::parse(&second).unwrap();
        assert_eq!(m.username(), Some("u"));
        let key = IntegrityKey::long_term_md5("u", "r", "p");
        m.verify_message_integrity(&key).unwrap();
        assert_eq!(m.get(attr::NONCE), Some(Ok(Attribute::Nonce("n1"))));

        let stale = reply(&second, MessageClass::ErrorResponse, None, |b| {
            b.add(&Attribute::ErrorCode {
                code: 438,
                reason: "Stale Nonce",
            })
            .unwrap();
            b.add(&Attribute::Realm("r")).unwrap();
            b.add(&Attribute::Nonce("n2")).unwrap();
        });
        assert!(c.handle_receive(now, server(), &stale));
        assert_eq!(c.stats().stale_nonce_retries, 1);
        let third = c.poll_transmit().unwrap().contents;
        let m = StunMessage::parse(&third).unwrap();
        assert_eq!(m.get(attr::NONCE), Some(Ok(Attribute::Nonce("n2"))));

        let relayed: SocketAddr = "192.0.2.10:50000".parse().unwrap();
        let forged = reply(
            &third,
            MessageClass::SuccessResponse,
            Some(&IntegrityKey::short_term("x")),
            |b| {
                b.add(&Attribute::XorRelayedAddress("6.6.6.6:6".parse().unwrap()))
                    .unwrap();
            },
        );
        assert!(c.handle_receive(now, server(), &forged));
        assert_eq!(c.stats().integrity_failures, 1);
        assert_eq!(c.poll_event(), None);
        assert_eq!(c.relayed_address(), None);

        let ok = reply(&third, MessageClass::SuccessResponse, Some(&key), |b| {
            b.add(&Attribute::XorRelayedAddress(relayed)).unwrap();
            b.add(&Attribute::Lifetime(600)).unwrap();
        });
        assert!(c.handle_receive(now, server(), &ok));
        assert_eq!(
            c.poll_event(),
            Some(TurnEvent::Allocated {
                relayed,
                mapped: None,
                lifetime: 600
            })
        );
        // Refresh is due a minute before expiry.
        assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(540)));
        c.handle_timeout(now + Duration::from_secs(540));
        let refresh = c.poll_transmit().unwrap().contents;
        assert_eq!(
            StunMessage::parse(&refresh).unwrap().method(),
            Method::REFRESH
        );
        // While the refresh is in flight its refresh point (now past) is not a deadline: the
        // next one is its retransmission.
        let next = c.poll_timeout().unwrap();
        assert!(next > now + Duration::from_secs(540), "{next:?}");
        // Datagrams from elsewhere are not ours.
        assert!(!c.handle_receive(now, "192.0.2.99:1".parse().unwrap(), &ok));
    }

    #[test]
    fn limits_and_preconditions() {
        let mut config = TurnConfig::new(server(), "u", "p");
        config.max_channels = 1;
        let mut c = TurnClient::new(config, SeededRng::new(3));
        let now = Instant::now();
        let peer: SocketAddr = "198.51.100.1:9".parse().unwrap();
        assert_eq!(
            c.create_permission(now, peer.ip()),
            Err(TurnError::NotAllocated)
        );
        assert_eq!(c.send_to(now, peer, b"x"), Err(TurnError::NotAllocated));
        c.allocate(now).unwrap();
        assert_eq!(c.allocate(now), Err(TurnError::AlreadyAllocating));
    }

    #[test]
    fn stream_framing() {
        let mut config = TurnConfig::new(server(), "u", "p");
        config.transport = TurnTransport::Tcp;
        let mut c = TurnClient::new(config, SeededRng::new(4));
        let now = Instant::now();
        // Not TURN framing (leading bits 11).
        assert!(!c.handle_stream(now, &[0xC0, 0, 0, 0]));
        // A ChannelData for an unknown channel, padded, split across calls, then a partial
        // STUN header: consumed without events, state kept.
        assert!(c.handle_stream(now, &[0x40, 0x00, 0x00, 0x05, 1, 2]));
        assert!(c.handle_stream(now, &[3, 4, 5, 0, 0, 0, 0x01, 0x01]));
        assert_eq!(c.stats().ignored, 2);
        assert_eq!(c.poll_event(), None);
        // Over TCP nothing is retransmitted: one request, then the overall timeout.
        c.allocate(now).unwrap();
        assert!(c.poll_transmit().is_some());
        c.handle_timeout(now + Duration::from_secs(39));
        assert!(c.poll_transmit().is_none());
        c.handle_timeout(now + Duration::from_millis(39_500));
        assert_eq!(c.poll_event(), Some(TurnEvent::AllocationFailed(0)));
    }
}
