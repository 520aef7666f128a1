//! Routing the datagrams of one shared UDP socket (or a few) to many peer connections, in O(1)
//! and without allocating per datagram.
//!
//! A server holding thousands of [`PeerConnection`]s behind one port must find the connection
//! a datagram belongs to. [`Router`] does this the way the security rules of ICE allow:
//!
//! - A STUN request names the connection's ICE ufrag first in its USERNAME (`ours:theirs`);
//!   the connection's ICE agent then checks its MESSAGE-INTEGRITY (only the peer knows the
//!   password).
//! - The answer to one of the connection's own checks has no USERNAME: it is routed by its
//!   transaction id, and only from the address the check went to.
//! - Everything else (DTLS, SRTP, SRTCP, and later STUN) is routed by its 5-tuple (our local
//!   address, the source address) once the connection's ICE agent validated that path with an
//!   authenticated check or answer ([`PeerConnection::is_validated_path`]). A stranger's DTLS or
//!   SRTP never reaches a connection, and a route cannot be taken from a connection that still
//!   holds it validated (first come, first served: the owner of an address could otherwise
//!   spoof a victim's source address to steal its route).
//!
//! Over ICE-TCP (RFC 6544) the caller deframes each accepted stream and routes every frame with
//! [`Router::route_on`] / [`Router::learn_on`] and [`Transport::Tcp`]: the transport is part of
//! the 5-tuple, so a TCP path validated for one connection routes nothing that arrives over UDP
//! between the same addresses, and the answer to a check sent over a stream is accepted only from
//! that stream.
//!
//! Everything a peer can grow is bounded: at most [`MAX_SOURCES`] routes and [`MAX_CHECKS`]
//! remembered checks per connection, the oldest forgotten first.
//!
//! The driving loop:
//!
//! ```
//! # use std::net::SocketAddr;
//! # use std::time::Instant;
//! # use std::collections::HashMap;
//! use sansrtc::{PeerConnection, Router};
//!
//! fn on_datagram(
//!     router: &mut Router<u32>,
//!     peers: &mut HashMap<u32, PeerConnection>,
//!     now: Instant,
//!     local: SocketAddr,
//!     source: SocketAddr,
//!     datagram: &[u8],
//! ) {
//!     let Some(key) = router.route(local, source, datagram) else {
//!         return; // nobody's: count and drop
//!     };
//!     let pc = peers.get_mut(&key).expect("the router only knows inserted keys");
//!     pc.handle_receive(now, source, local, datagram);
//!     router.learn(key, pc, local, source, datagram);
//!     while let Some(t) = pc.poll_transmit() {
//!         router.sent(key, &t);
//!         // socket.send_to(&t.contents, t.destination)
//!     }
//! }
//! ```

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::SocketAddr;

use crate::demux::{Kind, classify};
use crate::event::{Transmit, Transport};
use crate::ice::stun::message::peek_header;
use crate::ice::stun::{MessageClass, StunMessage};
use crate::peer::PeerConnection;

/// Routes by source address one connection may hold (its ICE agent remembers at most 32
/// validated paths; a browser uses one or two). The oldest goes first.
pub const MAX_SOURCES: usize = 8;

/// Transaction ids of one connection's own STUN checks remembered to route their answers
/// (checks are paced at 50 ms and answered within seconds; consent checks come every ~5 s).
pub const MAX_CHECKS: usize = 64;

/// A 5-tuple of the shared socket(s): our local address, the peer's, and the transport.
type Path = (SocketAddr, SocketAddr, Transport);

/// Why [`Router::insert`] refused a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The key already names a connection.
    #[error("the key already names a routed connection")]
    KeyTaken,
    /// Another connection uses the same local ICE ufrag (STUN requests could not tell them
    /// apart).
    #[error("another routed connection uses the ICE ufrag {0:?}")]
    UfragTaken(String),
}

/// Counters of what [`Router::route`] decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterStats {
    /// Datagrams routed by a validated 5-tuple.
    pub by_path: u64,
    /// STUN requests routed by the ufrag in their USERNAME.
    pub by_ufrag: u64,
    /// STUN answers routed by the transaction id of a check.
    pub by_check: u64,
    /// Datagrams no connection claims.
    pub unrouted: u64,
    /// Routes refused because another connection held the 5-tuple validated.
    pub routes_refused: u64,
}

/// What the router keeps per connection (to forget its routes when it goes).
#[derive(Debug)]
struct Entry {
    ufrag: Box<str>,
    paths: Vec<Path>,
    checks: VecDeque<[u8; 12]>,
}

/// Finds the peer connection (named by the application's key `K`) a datagram belongs to. See
/// the [module documentation](self).
#[derive(Debug)]
pub struct Router<K> {
    by_ufrag: HashMap<Box<str>, K>,
    by_path: HashMap<Path, K>,
    by_check: HashMap<[u8; 12], (K, SocketAddr, Transport)>,
    entries: HashMap<K, Entry>,
    stats: std::cell::Cell<RouterStats>,
}

impl<K> Default for Router<K> {
    fn default() -> Self {
        Router {
            by_ufrag: HashMap::new(),
            by_path: HashMap::new(),
            by_check: HashMap::new(),
            entries: HashMap::new(),
            stats: std::cell::Cell::new(RouterStats::default()),
        }
    }
}

impl<K: Copy + Eq + Hash> Router<K> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes STUN requests naming `pc`'s local ICE ufrag to `key`.
    pub fn insert(&mut self, key: K, pc: &PeerConnection) -> Result<(), RouteError> {
        if self.entries.contains_key(&key) {
            return Err(RouteError::KeyTaken);
        }
        let ufrag: Box<str> = pc.local_ufrag().into();
        if self.by_ufrag.contains_key(&ufrag) {
            return Err(RouteError::UfragTaken(ufrag.into()));
        }
        self.by_ufrag.insert(ufrag.clone(), key);
        self.entries.insert(
            key,
            Entry {
                ufrag,
                paths: Vec::new(),
                checks: VecDeque::new(),
            },
        );
        Ok(())
    }

    /// Forgets every route to `key`. Returns whether it was routed.
    pub fn remove(&mut self, key: K) -> bool {
        let Some(entry) = self.entries.remove(&key) else {
            return false;
        };
        self.by_ufrag.remove(&entry.ufrag);
        for path in &entry.paths {
            if self.by_path.get(path) == Some(&key) {
                self.by_path.remove(path);
            }
        }
        for txid in &entry.checks {
            if self.by_check.get(txid).is_some_and(|(k, ..)| *k == key) {
                self.by_check.remove(txid);
            }
        }
        true
    }

    /// The connection a datagram that arrived on our `local` address from `source` belongs to,
    /// if any. Allocates nothing.
    pub fn route(&self, local: SocketAddr, source: SocketAddr, datagram: &[u8]) -> Option<K> {
        self.route_on(Transport::Udp, local, source, datagram)
    }

    /// [`Router::route`] for a packet that arrived over `transport` (for TCP: one frame of the
    /// stream accepted on `local` from `source`).
    pub fn route_on(
        &self,
        transport: Transport,
        local: SocketAddr,
        source: SocketAddr,
        datagram: &[u8],
    ) -> Option<K> {
        let found = self.find((local, source, transport), datagram);
        let mut stats = self.stats.get();
        match found {
            Some((_, How::Path)) => stats.by_path += 1,
            Some((_, How::Ufrag)) => stats.by_ufrag += 1,
            Some((_, How::Check)) => stats.by_check += 1,
            None => stats.unrouted += 1,
        }
        self.stats.set(stats);
        found.map(|(k, _)| k)
    }

    fn find(&self, path: Path, datagram: &[u8]) -> Option<(K, How)> {
        let Some((message_type, txid)) = peek_header(datagram) else {
            return self.by_path.get(&path).map(|k| (*k, How::Path));
        };
        // A request names our ufrag ("ours:theirs"); the connection's agent checks its
        // integrity.
        if message_type.class == MessageClass::Request
            && let Some(key) = StunMessage::parse(datagram).ok().and_then(|m| {
                let ufrag = m.username()?.split(':').next()?;
                self.by_ufrag.get(ufrag).copied()
            })
        {
            return Some((key, How::Ufrag));
        }
        if let Some(key) = self.by_path.get(&path) {
            return Some((*key, How::Path));
        }
        // The answer to one of our checks, from where the check went.
        if matches!(
            message_type.class,
            MessageClass::Request | MessageClass::Indication
        ) {
            return None;
        }
        let (key, to, transport) = self.by_check.get(&txid.0)?;
        (*to == path.1 && *transport == path.2).then_some((*key, How::Check))
    }

    /// After `pc` (routed as `key`) handled `datagram` from `source` on `local`: routes the
    /// 5-tuple to it if the datagram was STUN (only an authenticated check or answer validates
    /// a path) and `pc` now holds the path validated, unless another connection still holds
    /// it validated.
    pub fn learn(
        &mut self,
        key: K,
        pc: &PeerConnection,
        local: SocketAddr,
        source: SocketAddr,
        datagram: &[u8],
    ) {
        self.learn_on(key, pc, Transport::Udp, local, source, datagram);
    }

    /// [`Router::learn`] for a packet that arrived over `transport`.
    pub fn learn_on(
        &mut self,
        key: K,
        pc: &PeerConnection,
        transport: Transport,
        local: SocketAddr,
        source: SocketAddr,
        datagram: &[u8],
    ) {
        let path = (local, source, transport);
        if classify(datagram) != Kind::Stun
            || self.by_path.get(&path) == Some(&key)
            || !self.entries.contains_key(&key)
            || !pc.is_validated_path_on(transport, local, source)
        {
            return;
        }
        if let Some(other) = self.by_path.get(&path).copied() {
            // The other owner is asked through `refresh` whether it still holds the path; until
            // then its route stands.
            if self.entries.contains_key(&other) {
                let mut stats = self.stats.get();
                stats.routes_refused += 1;
                self.stats.set(stats);
                return;
            }
        }
        let entry = self.entries.get_mut(&key).expect("checked above");
        if entry.paths.len() >= MAX_SOURCES {
            let oldest = entry.paths.remove(0);
            if self.by_path.get(&oldest) == Some(&key) {
                self.by_path.remove(&oldest);
            }
        }
        entry.paths.push(path);
        self.by_path.insert(path, key);
    }

    /// Records a datagram `key`'s connection sends: the transaction id of a STUN request, so
    /// that its answer (which names no ufrag) finds the way back, from where it went only.
    pub fn sent(&mut self, key: K, transmit: &Transmit) {
        self.sent_on(
            key,
            transmit.transport,
            transmit.destination,
            &transmit.contents,
        );
    }

    /// [`Router::sent`] for the parts of a UDP transmit.
    pub fn sent_datagram(&mut self, key: K, destination: SocketAddr, datagram: &[u8]) {
        self.sent_on(key, Transport::Udp, destination, datagram);
    }

    /// [`Router::sent`] for the parts of a transmit over `transport`.
    pub fn sent_on(
        &mut self,
        key: K,
        transport: Transport,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        let Some((message_type, txid)) = peek_header(datagram) else {
            return;
        };
        if message_type.class != MessageClass::Request {
            return;
        }
        let txid = txid.0;
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        if self.by_check.contains_key(&txid) {
            return; // a retransmission
        }
        if entry.checks.len() >= MAX_CHECKS
            && let Some(oldest) = entry.checks.pop_front()
            && self.by_check.get(&oldest).is_some_and(|(k, ..)| *k == key)
        {
            self.by_check.remove(&oldest);
        }
        entry.checks.push_back(txid);
        self.by_check.insert(txid, (key, destination, transport));
    }

    /// Brings `key`'s routes up to date with its connection: forgets 5-tuples whose paths are
    /// no longer validated (consent lost, RFC 7675) and follows a new local ufrag after an ICE
    /// restart. Call it now and then (every second or so) for each connection, and after
    /// [`PeerConnection::restart_ice`] or a remote description that restarts ICE.
    pub fn refresh(&mut self, key: K, pc: &PeerConnection) {
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        let by_path = &mut self.by_path;
        entry.paths.retain(|&path @ (local, remote, transport)| {
            let keep = pc.is_validated_path_on(transport, local, remote);
            if !keep && by_path.get(&path) == Some(&key) {
                by_path.remove(&path);
            }
            keep
        });
        if *entry.ufrag != *pc.local_ufrag() && !self.by_ufrag.contains_key(pc.local_ufrag()) {
            if self.by_ufrag.get(&entry.ufrag) == Some(&key) {
                self.by_ufrag.remove(&entry.ufrag);
            }
            entry.ufrag = pc.local_ufrag().into();
            self.by_ufrag.insert(entry.ufrag.clone(), key);
        }
    }

    /// Whether a routed connection uses the local ICE ufrag `ufrag` (choose another for a new
    /// connection: [`Router::insert`] refuses a second).
    pub fn ufrag_taken(&self, ufrag: &str) -> bool {
        self.by_ufrag.contains_key(ufrag)
    }

    /// How many connections are routed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no connection is routed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `key` is routed.
    pub fn contains(&self, key: K) -> bool {
        self.entries.contains_key(&key)
    }

    /// The 5-tuples routed to `key` (our local address, the peer's, the transport).
    pub fn paths(&self, key: K) -> &[(SocketAddr, SocketAddr, Transport)] {
        self.entries.get(&key).map_or(&[], |e| &e.paths)
    }

    /// How many 5-tuples are routed, over all connections.
    pub fn path_count(&self) -> usize {
        self.by_path.len()
    }

    /// What [`Router::route`] decided so far.
    pub fn stats(&self) -> RouterStats {
        self.stats.get()
    }
}

/// Which table found a route.
#[derive(Debug, Clone, Copy)]
enum How {
    Path,
    Ufrag,
    Check,
}
