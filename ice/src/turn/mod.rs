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
//!
//! The code is split by concern: `config`, `events` (errors, events, counters), `requests`
//! (building requests, their transactions, answers, credentials), `allocation`, `permissions`
//! (permissions and channel bindings), `data` (ChannelData, Send and Data indications) and
//! `stream` (framing over TCP/TLS); this module holds the client and its input/output methods.

mod allocation;
mod config;
mod data;
mod events;
mod permissions;
mod requests;
mod stream;

pub use config::{TurnConfig, TurnTransport};
pub use data::{CHANNEL_MAX, CHANNEL_MAX_RFC5766, CHANNEL_MIN, ChannelData};
pub use events::{TurnError, TurnEvent, TurnStats};
pub use stream::{MAX_STREAM_BUFFER, NotTurnFraming, StreamFramer};

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::Transmit;
use crate::rng::Rng;
use crate::stun::transaction::{StunClient, TransactionConfig};
use crate::stun::{IntegrityKey, MessageClass, StunMessage};

use requests::{Pending, Request};

/// Where the allocation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Allocating,
    Allocated,
    Closing,
    Closed,
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
    stream: StreamFramer,
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
            stream: StreamFramer::new(),
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

    /// Handles a datagram from `source`. Returns `true` if it came from the TURN server and was
    /// consumed.
    pub fn handle_receive(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) -> bool {
        if source != self.config.server {
            return false;
        }
        if let Some(cd) = ChannelData::parse(datagram) {
            self.handle_channel_data(cd);
            return true;
        }
        let Ok(m) = StunMessage::parse(datagram) else {
            self.stats.ignored += 1;
            return false;
        };
        if m.class() == MessageClass::Indication {
            self.handle_indication(&m);
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

    /// Retransmits, and refreshes the allocation, permissions and channels when they near expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.stun.handle_timeout(now);
        self.process_events(now);
        if self.state != State::Allocated {
            return;
        }
        self.refresh_allocation(now);
        self.refresh_bindings(now);
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
            let refreshes = self
                .allocation_expiry()
                .into_iter()
                .chain(self.binding_expiries())
                .map(|e| e.checked_sub(margin).unwrap_or(e));
            for r in refreshes {
                t = Some(t.map_or(r, |t| t.min(r)));
            }
        }
        t
    }
}

#[cfg(test)]
mod test_support {
    //! What the unit tests of the submodules share: the server address and answers to requests.

    use std::net::SocketAddr;

    use crate::stun::{IntegrityKey, MessageBuilder, MessageClass, MessageType, StunMessage};

    pub(super) fn server() -> SocketAddr {
        "192.0.2.10:3478".parse().unwrap()
    }

    pub(super) fn reply(
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
}
