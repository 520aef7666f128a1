//! The STUN methods the server answers: Binding, Allocate, Refresh, CreatePermission, ChannelBind,
//! and the Send indication; authentication of requests and the answers' encoding.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::allocation::{Allocation, TokenBucket};
use super::auth::{UserError, quota_name};
use super::permissions::{BindError, Channels, Permissions};
use super::*;
use crate::rng::Rng;
use crate::stun::attribute::{self as attr, AddressFamily, Attribute, U16List};
use crate::stun::{
    IntegrityKey, MessageBuilder, MessageClass, MessageType, Method, StunError, TransactionId,
};
use crate::turn::{CHANNEL_MAX_RFC5766, CHANNEL_MIN};

/// The UDP protocol number in REQUESTED-TRANSPORT.
const UDP: u8 = 17;

/// An error answer: code and reason phrase.
type Refusal = (u16, &'static str);

/// Encodes a message from a list of attributes, optionally with MESSAGE-INTEGRITY and FINGERPRINT.
fn encode(
    message_type: MessageType,
    tid: TransactionId,
    attributes: &[Attribute<'_>],
    key: Option<&IntegrityKey>,
    fingerprint: bool,
) -> Result<Vec<u8>, StunError> {
    let size = 20
        + attributes.iter().map(|a| a.encoded_len()).sum::<usize>()
        + if key.is_some() { 24 } else { 0 }
        + if fingerprint { 8 } else { 0 };
    let mut buf = vec![0u8; size];
    let mut b = MessageBuilder::new(&mut buf, message_type, tid)?;
    for a in attributes {
        b.add(a)?;
    }
    if let Some(k) = key {
        b.add_message_integrity(k)?;
    }
    if fingerprint {
        b.add_fingerprint()?;
    }
    let n = b.finish();
    buf.truncate(n);
    Ok(buf)
}

/// A Data indication carrying `data` from `peer` (`None` if it cannot be encoded: too long).
pub(super) fn data_indication(rng: &mut dyn Rng, peer: SocketAddr, data: &[u8]) -> Option<Vec<u8>> {
    let mut tid = [0u8; 12];
    rng.fill(&mut tid);
    encode(
        MessageType::new(Method::DATA, MessageClass::Indication),
        TransactionId(tid),
        &[Attribute::XorPeerAddress(peer), Attribute::Data(data)],
        None,
        false,
    )
    .ok()
}

/// The 508 answer to an Allocate whose relayed socket could not be opened.
pub(super) fn error_for_allocate(alloc: &Allocation) -> Option<Vec<u8>> {
    encode(
        MessageType::new(Method::ALLOCATE, MessageClass::ErrorResponse),
        alloc.transaction,
        &[Attribute::ErrorCode {
            code: 508,
            reason: "Insufficient Capacity",
        }],
        Some(&alloc.key),
        false,
    )
    .ok()
}

/// What the request handlers need about the request being answered.
struct Request<'m, 'a> {
    m: &'m StunMessage<'a>,
    from: SocketAddr,
    transport: ClientTransport,
    username: String,
    key: IntegrityKey,
}

impl<R: Rng> TurnServer<R> {
    fn send(&mut self, to: SocketAddr, transport: ClientTransport, contents: Vec<u8>) {
        self.transmits.push_back(ServerTransmit {
            source: TransmitSource::Listener(transport),
            destination: to,
            contents,
        });
    }

    fn software(&self) -> Option<Attribute<'_>> {
        self.config.software.as_deref().map(Attribute::Software)
    }

    /// Answers `m` with an error, with the integrity key when the request was authenticated,
    /// and REALM + NONCE when it asks for (new) credentials.
    fn refuse(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: ClientTransport,
        m: &StunMessage<'_>,
        (code, reason): Refusal,
        key: Option<&IntegrityKey>,
    ) {
        let nonce = matches!(code, 401 | 438).then(|| self.auth.mint_nonce(now, from));
        let unknown = m.unknown_comprehension_required();
        let mut attrs = vec![Attribute::ErrorCode { code, reason }];
        if code == 420 {
            attrs.push(Attribute::UnknownAttributes(U16List::Values(unknown)));
        }
        if let Some(n) = &nonce {
            attrs.push(Attribute::Realm(self.auth.realm()));
            attrs.push(Attribute::Nonce(n));
        }
        attrs.extend(self.software());
        let t = MessageType::new(m.method(), MessageClass::ErrorResponse);
        if let Ok(out) = encode(t, m.transaction_id(), &attrs, key, m.has_fingerprint()) {
            self.send(from, transport, out);
        }
    }

    /// Dispatches a STUN message from a client.
    pub(super) fn handle_stun(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: ClientTransport,
        m: &StunMessage<'_>,
    ) {
        match (m.class(), m.method()) {
            (MessageClass::Request, Method::BINDING) => self.binding(from, transport, m),
            (MessageClass::Indication, Method::SEND) => {
                self.send_indication(now, from, transport, m)
            }
            (MessageClass::Request, Method::ALLOCATE)
            | (MessageClass::Request, Method::REFRESH)
            | (MessageClass::Request, Method::CREATE_PERMISSION)
            | (MessageClass::Request, Method::CHANNEL_BIND) => {
                if let Some(req) = self.authenticate(now, from, transport, m) {
                    self.authenticated(now, req);
                }
            }
            (MessageClass::Request, _) => {
                self.stats.malformed += 1;
                self.refuse(now, from, transport, m, (400, "Bad Request"), None);
            }
            // Binding indications (keepalives), responses: nothing to do.
            _ => {}
        }
    }

    fn binding(&mut self, from: SocketAddr, transport: ClientTransport, m: &StunMessage<'_>) {
        self.stats.binding_requests += 1;
        let mut attrs = vec![Attribute::XorMappedAddress(from)];
        attrs.extend(self.software());
        if let Ok(out) = encode(
            MessageType::BINDING_SUCCESS,
            m.transaction_id(),
            &attrs,
            None,
            m.has_fingerprint(),
        ) {
            self.send(from, transport, out);
        }
    }

    /// Checks the long-term credentials of a request (RFC 8489 9.2.4), answering 400, 401 or 438
    /// when they fail.
    fn authenticate<'m, 'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: ClientTransport,
        m: &'m StunMessage<'a>,
    ) -> Option<Request<'m, 'a>> {
        if !m.has_message_integrity() && !m.has_message_integrity_sha256() {
            self.stats.unauthenticated += 1;
            self.refuse(now, from, transport, m, (401, "Unauthorized"), None);
            return None;
        }
        let realm = match m.get(attr::REALM) {
            Some(Ok(Attribute::Realm(r))) => Some(r),
            _ => None,
        };
        let nonce = match m.get(attr::NONCE) {
            Some(Ok(Attribute::Nonce(n))) => Some(n),
            _ => None,
        };
        let (Some(username), Some(_realm), Some(nonce)) = (m.username(), realm, nonce) else {
            self.stats.malformed += 1;
            self.refuse(now, from, transport, m, (400, "Bad Request"), None);
            return None;
        };
        if !self.auth.nonce_valid(now, from, nonce) {
            self.stats.stale_nonces += 1;
            self.refuse(now, from, transport, m, (438, "Stale Nonce"), None);
            return None;
        }
        let key = match self.auth.key(now, username) {
            Ok(k) => k,
            Err(UserError::Unknown | UserError::Expired) => {
                self.stats.unknown_users += 1;
                self.refuse(now, from, transport, m, (401, "Unauthorized"), None);
                return None;
            }
        };
        if m.verify_integrity(&key).is_err() {
            self.stats.integrity_failures += 1;
            self.refuse(now, from, transport, m, (401, "Unauthorized"), None);
            return None;
        }
        Some(Request {
            m,
            from,
            transport,
            username: username.into(),
            key,
        })
    }

    fn authenticated(&mut self, now: Instant, req: Request<'_, '_>) {
        if !req.m.unknown_comprehension_required().is_empty() {
            self.stats.malformed += 1;
            return self.refuse_req(now, &req, (420, "Unknown Attribute"));
        }
        let result = match req.m.method() {
            Method::ALLOCATE => self.allocate(now, &req),
            Method::REFRESH => self.refresh(now, &req),
            Method::CREATE_PERMISSION => self.create_permission(now, &req),
            _ => self.channel_bind(now, &req),
        };
        match result {
            Ok(Some(attrs)) => {
                let t = MessageType::new(req.m.method(), MessageClass::SuccessResponse);
                let mut attrs = attrs;
                attrs.extend(self.config.software.clone().map(Owned::Software));
                let borrowed: Vec<Attribute<'_>> = attrs.iter().map(Owned::as_attribute).collect();
                if let Ok(out) = encode(
                    t,
                    req.m.transaction_id(),
                    &borrowed,
                    Some(&req.key),
                    req.m.has_fingerprint(),
                ) {
                    self.send(req.from, req.transport, out);
                }
            }
            // Answered later (an Allocate waiting for its relayed sockets) or already answered.
            Ok(None) => {}
            Err(refusal) => self.refuse_req(now, &req, refusal),
        }
    }

    fn refuse_req(&mut self, now: Instant, req: &Request<'_, '_>, refusal: Refusal) {
        self.refuse(now, req.from, req.transport, req.m, refusal, Some(&req.key));
    }

    /// The allocation of the request's client, checked to belong to the request's user.
    fn own_allocation(&mut self, req: &Request<'_, '_>) -> Result<u64, Refusal> {
        let Some(&id) = self.by_client.get(&(req.from, req.transport)) else {
            self.stats.allocation_mismatches += 1;
            return Err((437, "Allocation Mismatch"));
        };
        if self
            .allocations
            .get(&id)
            .is_none_or(|a| a.username != req.username)
        {
            self.stats.allocation_mismatches += 1;
            return Err((441, "Wrong Credentials"));
        }
        Ok(id)
    }

    fn allocate(
        &mut self,
        now: Instant,
        req: &Request<'_, '_>,
    ) -> Result<Option<Vec<Owned>>, Refusal> {
        let m = req.m;
        if let Some(&id) = self.by_client.get(&(req.from, req.transport)) {
            let alloc = &self.allocations[&id];
            if alloc.transaction == m.transaction_id() && alloc.username == req.username {
                // A retransmission: the same answer, once it exists.
                if alloc.is_open() {
                    let out = alloc.response.clone();
                    self.send(req.from, req.transport, out);
                }
                return Ok(None);
            }
            self.stats.allocation_mismatches += 1;
            return Err((437, "Allocation Mismatch"));
        }
        let bad = |s: &mut TurnServerStats| {
            s.malformed += 1;
            Err((400, "Bad Request"))
        };
        let mut transport = None;
        let mut even_port = None;
        let mut token = None;
        let mut requested = None;
        let mut additional = None;
        let mut lifetime = None;
        for a in m.attributes() {
            match a {
                Ok(Attribute::RequestedTransport(p)) => transport = Some(p),
                Ok(Attribute::EvenPort(r)) => even_port = Some(r),
                Ok(Attribute::ReservationToken(t)) => token = Some(t),
                Ok(Attribute::RequestedAddressFamily(f)) => requested = Some(f),
                Ok(Attribute::AdditionalAddressFamily(f)) => additional = Some(f),
                Ok(Attribute::Lifetime(l)) => lifetime = Some(l),
                Ok(_) => {}
                Err(_) => return bad(&mut self.stats),
            }
        }
        match transport {
            None => return bad(&mut self.stats),
            Some(UDP) => {}
            Some(_) => {
                self.stats.unsupported_transport += 1;
                return Err((442, "Unsupported Transport Protocol"));
            }
        }
        if (token.is_some() && (even_port.is_some() || requested.is_some()))
            || (requested.is_some() && additional.is_some())
            || additional == Some(AddressFamily::V4)
        {
            return bad(&mut self.stats);
        }
        let user = quota_name(&req.username).to_string();
        if self.per_user.get(&user).copied().unwrap_or(0) >= self.config.max_allocations_per_user {
            self.stats.quota_refused += 1;
            return Err((486, "Allocation Quota Reached"));
        }
        if self.allocations.len() >= self.config.max_allocations {
            self.stats.capacity_refused += 1;
            return Err((508, "Insufficient Capacity"));
        }
        // The relayed addresses.
        let mut relays = Vec::new();
        let mut reservation = None;
        let mut address_error = None;
        if let Some(t) = token {
            match self.ports.claim(now, t) {
                Some(addr) => relays.push(addr),
                None => {
                    self.stats.capacity_refused += 1;
                    return Err((508, "Insufficient Capacity"));
                }
            }
        } else {
            let mut families = vec![requested.unwrap_or(AddressFamily::V4)];
            if additional == Some(AddressFamily::V6) {
                families.push(AddressFamily::V6);
            }
            for (i, family) in families.into_iter().enumerate() {
                let ip = match family {
                    AddressFamily::V4 => self.config.relay_ipv4.map(IpAddr::V4),
                    AddressFamily::V6 => self.config.relay_ipv6.map(IpAddr::V6),
                };
                let Some(ip) = ip else {
                    if i == 0 {
                        self.stats.family_refused += 1;
                        return Err((440, "Address Family not Supported"));
                    }
                    address_error = Some(family);
                    continue;
                };
                let even = even_port.is_some() && i == 0;
                let reserve = even_port == Some(true) && i == 0;
                match self.ports.take(now, ip, even, reserve, &mut self.rng) {
                    Some((addr, t)) => {
                        relays.push(addr);
                        reservation = reservation.or(t);
                    }
                    None => {
                        for r in &relays {
                            self.ports.release(*r);
                        }
                        self.stats.capacity_refused += 1;
                        return Err((508, "Insufficient Capacity"));
                    }
                }
            }
        }
        let lifetime = lifetime
            .unwrap_or(self.config.default_lifetime)
            .max(self.config.default_lifetime)
            .min(self.config.max_lifetime);
        let mut attrs: Vec<Owned> = relays.iter().map(|r| Owned::Relayed(*r)).collect();
        if let Some(family) = address_error {
            attrs.push(Owned::AddressError(family));
        }
        attrs.push(Owned::Lifetime(lifetime));
        if let Some(t) = reservation {
            attrs.push(Owned::Token(t));
        }
        attrs.push(Owned::Mapped(req.from));
        attrs.extend(self.config.software.clone().map(Owned::Software));
        let borrowed: Vec<Attribute<'_>> = attrs.iter().map(Owned::as_attribute).collect();
        let t = MessageType::new(Method::ALLOCATE, MessageClass::SuccessResponse);
        let response = match encode(
            t,
            m.transaction_id(),
            &borrowed,
            Some(&req.key),
            m.has_fingerprint(),
        ) {
            Ok(r) => r,
            Err(_) => {
                for r in &relays {
                    self.ports.release(*r);
                }
                return bad(&mut self.stats);
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        for r in &relays {
            self.by_relay.insert(*r, id);
            self.events.push_back(TurnServerEvent::OpenRelay(*r));
        }
        self.by_client.insert((req.from, req.transport), id);
        *self.per_user.entry(user).or_insert(0) += 1;
        self.allocations.insert(
            id,
            Allocation {
                client: req.from,
                transport: req.transport,
                username: req.username.clone(),
                key: req.key.clone(),
                opening: relays.len() as u8,
                relays,
                expires: now + Duration::from_secs(lifetime as u64),
                lifetime,
                transaction: m.transaction_id(),
                response,
                open_failed: false,
                request: m.as_bytes().to_vec(),
                attempt: self.open_attempt,
                permissions: Permissions::new(self.config.max_permissions),
                channels: Channels::new(self.config.max_channels),
                bucket: TokenBucket::new(self.config.max_bytes_per_second),
            },
        );
        self.schedule_sweep(now);
        Ok(None)
    }

    fn refresh(
        &mut self,
        now: Instant,
        req: &Request<'_, '_>,
    ) -> Result<Option<Vec<Owned>>, Refusal> {
        let id = self.own_allocation(req)?;
        let lifetime = match req.m.get(attr::LIFETIME) {
            Some(Ok(Attribute::Lifetime(l))) => l.min(self.config.max_lifetime),
            Some(_) => {
                self.stats.malformed += 1;
                return Err((400, "Bad Request"));
            }
            None => self.config.default_lifetime,
        };
        if let Some(Ok(Attribute::RequestedAddressFamily(f))) =
            req.m.get(attr::REQUESTED_ADDRESS_FAMILY)
        {
            let v4 = f == AddressFamily::V4;
            if !self.allocations[&id]
                .relays
                .iter()
                .any(|r| r.is_ipv4() == v4)
            {
                self.stats.family_refused += 1;
                return Err((443, "Peer Address Family Mismatch"));
            }
        }
        if lifetime == 0 {
            self.delete_allocation(id, DeleteReason::Deleted);
        } else if let Some(a) = self.allocations.get_mut(&id) {
            a.expires = now + Duration::from_secs(lifetime as u64);
            a.lifetime = lifetime;
        }
        Ok(Some(vec![Owned::Lifetime(lifetime)]))
    }

    /// The XOR-PEER-ADDRESS attributes of a request, checked against the allocation's families
    /// and the peer policy.
    fn peers(&mut self, req: &Request<'_, '_>, id: u64) -> Result<Vec<SocketAddr>, Refusal> {
        let mut peers = Vec::new();
        for a in req.m.attributes() {
            match a {
                Ok(Attribute::XorPeerAddress(p)) => {
                    if peers.len() >= self.config.max_permissions {
                        self.stats.capacity_refused += 1;
                        return Err((508, "Insufficient Capacity"));
                    }
                    peers.push(p)
                }
                Err(_) => {
                    self.stats.malformed += 1;
                    return Err((400, "Bad Request"));
                }
                _ => {}
            }
        }
        if peers.is_empty() {
            self.stats.malformed += 1;
            return Err((400, "Bad Request"));
        }
        let alloc = &self.allocations[&id];
        if peers.iter().any(|p| alloc.relay_for(*p).is_none()) {
            self.stats.family_refused += 1;
            return Err((443, "Peer Address Family Mismatch"));
        }
        if peers.iter().any(|p| !self.config.peer_allowed(p.ip())) {
            self.stats.peers_denied += 1;
            return Err((403, "Forbidden"));
        }
        Ok(peers)
    }

    fn create_permission(
        &mut self,
        now: Instant,
        req: &Request<'_, '_>,
    ) -> Result<Option<Vec<Owned>>, Refusal> {
        let id = self.own_allocation(req)?;
        let peers = self.peers(req, id)?;
        let ips: Vec<IpAddr> = peers.iter().map(|p| p.ip()).collect();
        let Some(alloc) = self.allocations.get_mut(&id) else {
            return Err((437, "Allocation Mismatch"));
        };
        if !alloc.permissions.fits(&ips) {
            self.stats.capacity_refused += 1;
            return Err((508, "Insufficient Capacity"));
        }
        for ip in ips {
            let _ = alloc.permissions.install(now, ip);
            self.stats.permissions_installed += 1;
        }
        Ok(Some(Vec::new()))
    }

    fn channel_bind(
        &mut self,
        now: Instant,
        req: &Request<'_, '_>,
    ) -> Result<Option<Vec<Owned>>, Refusal> {
        let id = self.own_allocation(req)?;
        let number = match req.m.get(attr::CHANNEL_NUMBER) {
            Some(Ok(Attribute::ChannelNumber(n)))
                if (CHANNEL_MIN..=CHANNEL_MAX_RFC5766).contains(&n) =>
            {
                n
            }
            _ => {
                self.stats.malformed += 1;
                return Err((400, "Bad Request"));
            }
        };
        let peers = self.peers(req, id)?;
        if peers.len() != 1 {
            self.stats.malformed += 1;
            return Err((400, "Bad Request"));
        }
        let peer = peers[0];
        let Some(alloc) = self.allocations.get_mut(&id) else {
            return Err((437, "Allocation Mismatch"));
        };
        let check = alloc.channels.check(number, peer).and_then(|()| {
            if alloc.permissions.fits(&[peer.ip()]) {
                Ok(())
            } else {
                Err(BindError::Full)
            }
        });
        match check {
            Ok(()) => {}
            Err(BindError::Conflict) => {
                self.stats.malformed += 1;
                return Err((400, "Bad Request"));
            }
            Err(BindError::Full) => {
                self.stats.capacity_refused += 1;
                return Err((508, "Insufficient Capacity"));
            }
        }
        let _ = alloc.channels.bind(now, number, peer);
        let _ = alloc.permissions.install(now, peer.ip());
        self.stats.channels_bound += 1;
        self.stats.permissions_installed += 1;
        Ok(Some(Vec::new()))
    }

    /// A Send indication: its DATA goes to its XOR-PEER-ADDRESS if a permission allows it.
    fn send_indication(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: ClientTransport,
        m: &StunMessage<'_>,
    ) {
        let Some(alloc) = self
            .by_client
            .get(&(from, transport))
            .and_then(|id| self.allocations.get_mut(id))
            .filter(|a| a.is_open() && a.expires > now)
        else {
            self.stats.dropped_no_allocation += 1;
            return;
        };
        let peer = match m.get(attr::XOR_PEER_ADDRESS) {
            Some(Ok(Attribute::XorPeerAddress(p))) => p,
            _ => {
                self.stats.malformed += 1;
                return;
            }
        };
        let data = match m.get(attr::DATA) {
            Some(Ok(Attribute::Data(d))) => d,
            _ => {
                self.stats.malformed += 1;
                return;
            }
        };
        if !self.config.peer_allowed(peer.ip()) {
            self.stats.peers_denied += 1;
            return;
        }
        if !alloc.permissions.allows(now, peer.ip()) {
            self.stats.dropped_no_permission += 1;
            return;
        }
        Self::relay_to_peer(&mut self.stats, &mut self.transmits, now, alloc, peer, data);
    }
}

/// An answer attribute the server owns until it is encoded.
#[derive(Debug, Clone)]
pub(super) enum Owned {
    Relayed(SocketAddr),
    Mapped(SocketAddr),
    Lifetime(u32),
    Token(u64),
    AddressError(AddressFamily),
    Software(String),
}

impl Owned {
    fn as_attribute(&self) -> Attribute<'_> {
        match self {
            Owned::Relayed(a) => Attribute::XorRelayedAddress(*a),
            Owned::Mapped(a) => Attribute::XorMappedAddress(*a),
            Owned::Lifetime(l) => Attribute::Lifetime(*l),
            Owned::Token(t) => Attribute::ReservationToken(*t),
            Owned::AddressError(family) => Attribute::AddressErrorCode {
                family: *family,
                code: 440,
                reason: "Address Family not Supported",
            },
            Owned::Software(s) => Attribute::Software(s),
        }
    }
}
