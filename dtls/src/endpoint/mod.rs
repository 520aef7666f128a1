//! The DTLS 1.2 client and server state machine, sans-IO, and the hand-over to DTLS 1.3
//! (`tls13`) when [`Config::versions`] allows it and the peer picks it.
//!
//! Flights (RFC 6347 4.2.4): the client sends ClientHello (flight 1), possibly answers a
//! HelloVerifyRequest (flight 2) with a ClientHello carrying the cookie (flight 3); the server
//! answers with ServerHello, Certificate, ServerKeyExchange, CertificateRequest, ServerHelloDone
//! (flight 4); the client sends Certificate, ClientKeyExchange, CertificateVerify,
//! ChangeCipherSpec, Finished (flight 5) and the server ChangeCipherSpec, Finished (flight 6).
//! A flight that expects an answer is retransmitted with exponential back-off; a flight of the
//! peer arriving again makes us retransmit our last flight.
//!
//! Unauthenticated input (plaintext records, anyone can send them) never ends a handshake by
//! itself: before the cookie exchange nothing fails the server (it answers with at most one
//! HelloVerifyRequest per datagram or drops, counted in [`Stats`]); plaintext alerts are counted
//! and ignored; plaintext handshake messages the state does not expect, or that do not parse,
//! are dropped without using up their message_seq. What can still end a handshake: a message
//! that parses, arrives where expected and fails a check (a certificate not matching the
//! fingerprints, a bad signature, nothing in common), anything wrong in a protected record, and
//! the retransmission limit.
//!
//! The parts, each with its unit tests, from the bottom up (a part uses only those above it):
//!
//! - `config` ([`Config`]) and `event` ([`Event`], [`Stats`]): what goes in and comes out;
//! - `records`: epochs, sequence numbers, the record ciphers and the replay window;
//! - `buffers`: the transmit queue and the spare buffers shared with the caller;
//! - `flight`: our last flight, packing it into datagrams, its retransmission timer;
//! - `keys`: the handshake's negotiated parameters, key shares, transcript and key schedule;
//! - `common`: what both roles do (alerts, failing, the peer's certificate, keys, connecting);
//! - `client` and `server`: each role's flights; the server's stateless cookie exchange;
//! - `handshake`: complete messages, which the state takes, dispatch to the role;
//! - `receive`: a datagram's records by epoch and content type;
//! - `tls13`: the DTLS 1.3 connection (records, flights with ACKs, both roles' handshake, the
//!   stateless HelloRetryRequest cookie) that takes over once 1.3 is negotiated;
//! - this module: the [`Endpoint`] and its public methods.

mod buffers;
mod client;
mod common;
mod config;
mod event;
mod flight;
mod handshake;
mod keys;
mod receive;
mod records;
mod server;
#[cfg(test)]
mod test_util;
mod tls13;

use std::collections::VecDeque;
use std::time::Instant;

pub use config::{Config, Versions};
pub use event::{Event, Stats};

use buffers::Outbox;
use client::CookieState;
use flight::{Flight, Timeout};
use keys::HandshakeSlot;
use records::RecordLayer;
use server::Stateless;

use crate::cipher::SrtpProfile;
use crate::error::{Alert, AlertDescription, DtlsError};
use crate::fragment::Reassembler;
use crate::negotiated::{NamedGroup, ProtocolVersion, Suite};
use crate::record::{self, RecordHeader};
use crate::rng::Rng;

/// Which side of the handshake we are: `sansrtc-core`'s [`DtlsRole`](sansrtc_core::DtlsRole)
/// (one definition for every crate), under the name this crate has always used.
pub use sansrtc_core::DtlsRole as Role;

type Res<T = ()> = Result<T, DtlsError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    ClientIdle,
    ClientWaitHello,
    ClientWaitCertificate,
    ClientWaitKeyExchange,
    ClientWaitCertReqOrDone,
    ClientWaitDone,
    ClientWaitFinished,
    ServerWaitHello,
    ServerWaitCertificate,
    ServerWaitKeyExchange,
    ServerWaitCertVerify,
    ServerWaitFinished,
    Connected,
    Closed,
    Failed,
}

/// A DTLS endpoint (client or server) for one peer: DTLS 1.2, or DTLS 1.3 when
/// [`Config::versions`] allows it.
#[derive(Clone)]
pub struct Endpoint {
    role: Role,
    config: Config,
    rng: Box<dyn Rng>,
    state: State,
    hs: HandshakeSlot,
    records: RecordLayer,
    flight: Flight,
    reassembler: Reassembler,
    /// A server's cookie exchange, until its handshake completes (boxed and then dropped: an
    /// idle connection, and every client, saves its inline ClientHello reassembly).
    stateless: Option<Box<Stateless>>,
    /// As a client: the cookie exchange.
    cookie: CookieState,
    /// Application data that arrived before our side of the handshake finished.
    early_data: Vec<Vec<u8>>,
    /// Both Finished messages verified (stays true after close).
    handshake_complete: bool,
    /// Epoch-1 records that arrived before we had the keys (reordering), bounded.
    early_records: Vec<(RecordHeader, Vec<u8>)>,
    /// The last plaintext alert we ignored.
    last_unauthenticated_alert: Option<Alert>,
    /// As a client offering DTLS 1.3: what we offered, until the server picks a version.
    offer13: Option<Box<tls13::Offer13>>,
    /// The DTLS 1.3 connection, once 1.3 was negotiated (it then handles everything).
    tls13: Option<Box<tls13::Conn13>>,
    outbox: Outbox,
    events: VecDeque<Event>,
    stats: Stats,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("role", &self.role)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A client; call [`Endpoint::connect`] to start.
    pub fn client(config: Config, rng: Box<dyn Rng>) -> Self {
        Self::new(Role::Client, config, rng)
    }

    /// A server waiting for a ClientHello.
    pub fn server(config: Config, rng: Box<dyn Rng>) -> Self {
        Self::new(Role::Server, config, rng)
    }

    fn new(role: Role, mut config: Config, mut rng: Box<dyn Rng>) -> Self {
        config.groups13.retain(|g| g.in_dtls13());
        let mut cookie = [0u8; 32];
        rng.fill(&mut cookie);
        Self {
            role,
            state: match role {
                Role::Client => State::ClientIdle,
                Role::Server => State::ServerWaitHello,
            },
            rng,
            hs: HandshakeSlot::default(),
            records: RecordLayer::new(),
            flight: Flight::new(config.initial_retransmit),
            reassembler: Reassembler::new(0, config.max_handshake_message, config.max_reassembly),
            stateless: (role == Role::Server)
                .then(|| Box::new(Stateless::new(cookie, config.max_handshake_message))),
            cookie: CookieState::default(),
            early_data: Vec::new(),
            handshake_complete: false,
            early_records: Vec::new(),
            last_unauthenticated_alert: None,
            offer13: None,
            tls13: None,
            outbox: Outbox::default(),
            events: VecDeque::new(),
            stats: Stats::default(),
            config,
        }
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the handshake completed and the connection is open.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// Whether the connection ended (closed or failed).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed)
    }

    /// Counters of dropped input.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The last plaintext (epoch-0, unauthenticated) alert received, which was ignored (see
    /// [`Stats::unauthenticated_alerts`]). When a handshake times out, this tells what the peer
    /// (or someone pretending to be it) said.
    pub fn last_unauthenticated_alert(&self) -> Option<Alert> {
        self.last_unauthenticated_alert
    }

    /// The negotiated SRTP profile.
    pub fn srtp_profile(&self) -> Option<SrtpProfile> {
        if let Some(c) = &self.tls13 {
            return c.srtp;
        }
        self.hs.srtp
    }

    /// The negotiated key exchange group (for DTLS 1.2 the ECDHE curve, for DTLS 1.3 the
    /// key share's group, e.g. [`NamedGroup::X25519Mlkem768`]).
    pub fn named_group(&self) -> Option<NamedGroup> {
        if let Some(c) = &self.tls13 {
            return NamedGroup::from_id(c.group);
        }
        self.hs
            .suite
            .and_then(|_| NamedGroup::from_id(self.hs.group))
    }

    /// The protocol version: [`ProtocolVersion::Dtls13`] once DTLS 1.3 was picked, else
    /// [`ProtocolVersion::Dtls12`].
    pub fn protocol_version(&self) -> ProtocolVersion {
        if self.tls13.is_some() {
            ProtocolVersion::Dtls13
        } else {
            ProtocolVersion::Dtls12
        }
    }

    /// The negotiated cipher suite: a [`Suite::Dtls12`] or, once DTLS 1.3 was picked, a
    /// [`Suite::Dtls13`].
    pub fn cipher_suite(&self) -> Option<Suite> {
        if let Some(c) = &self.tls13 {
            return Some(Suite::Dtls13(c.suite()));
        }
        self.hs.suite.map(Suite::Dtls12)
    }

    /// The signature scheme (IANA number, see [`crate::message::sig`]) of the peer's signature
    /// we verified: its ServerKeyExchange when we are the client, its CertificateVerify when we
    /// are the server (`None` before, or without a client certificate).
    pub fn peer_signature_scheme(&self) -> Option<u16> {
        self.hs.peer_scheme
    }

    /// Starts the handshake (client only; a server ignores it).
    pub fn connect(&mut self, now: Instant) {
        if self.state == State::ClientIdle {
            self.start_client(now);
        }
    }

    /// A datagram from the peer.
    pub fn handle_receive(&mut self, now: Instant, datagram: &[u8]) {
        if !self.is_closed() {
            self.receive(now, datagram);
        }
    }

    /// Call when the deadline from [`Endpoint::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.tls13.is_some() {
            self.with13(|c, cx| c.handle_timeout(now, cx));
            return;
        }
        let timeout = self.flight.on_timeout(
            now,
            self.config.max_retransmissions,
            self.config.max_retransmit,
        );
        match timeout {
            Timeout::NotDue => {}
            Timeout::GiveUp => self.fail(DtlsError::HandshakeTimeout),
            Timeout::Retransmit => {
                self.stats.retransmissions += 1;
                self.client_before_retransmission();
                self.transmit_flight();
            }
        }
    }

    /// The next datagram to send, handed over as a new buffer (see
    /// [`Endpoint::poll_transmit_into`], which allocates nothing).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.outbox.pop()
    }

    /// The next datagram to send, in `out`: returns false when there is none (`out` is then
    /// untouched). The datagram's buffer is exchanged with `out`'s, whose old buffer (emptied)
    /// is kept for a later datagram or record, so once the buffers have grown to a datagram's
    /// size this allocates nothing. Drains the same queue as [`Endpoint::poll_transmit`].
    ///
    /// ```
    /// # fn send(_: &[u8]) {}
    /// # fn f(endpoint: &mut sansrtc_dtls::Endpoint) {
    /// let mut datagram = Vec::with_capacity(1500);
    /// while endpoint.poll_transmit_into(&mut datagram) {
    ///     send(&datagram);
    /// }
    /// # }
    /// ```
    pub fn poll_transmit_into(&mut self, out: &mut Vec<u8>) -> bool {
        self.outbox.pop_into(out)
    }

    /// Whether a datagram waits to be sent (so a caller lending buffers to
    /// [`Endpoint::poll_transmit_into`] takes one only when it will be filled).
    pub fn has_transmit(&self) -> bool {
        self.outbox.has_datagram()
    }

    /// Frees the spare buffers the endpoint keeps for reuse, e.g. when the connection goes idle
    /// (an idle endpoint then holds no datagram-sized memory; the next datagram allocates).
    pub fn release_buffers(&mut self) {
        self.outbox.release();
        if self.events.is_empty() {
            self.events.shrink_to_fit();
        }
        if let Some(c) = self.tls13.as_mut() {
            c.release_buffers();
        }
    }

    /// The next event. Application data comes as [`Event::ApplicationData`] with a new buffer
    /// (see [`Endpoint::poll_application_data`], which allocates nothing).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Application data from the peer, in `out`: when the next event is
    /// [`Event::ApplicationData`], its bytes replace `out`'s and true is returned. The record
    /// was opened into a buffer of the endpoint's, which is exchanged with `out`'s (the old one,
    /// emptied, opens a later record), so once the buffers have grown to a record's size this
    /// allocates nothing. False when no event is queued or another event comes first: take that
    /// one with [`Endpoint::poll_event`] (events keep their order; `poll_event` also returns
    /// application data, as before).
    ///
    /// ```
    /// # use sansrtc_dtls::Event;
    /// # fn deliver(_: &[u8]) {}
    /// # fn handle(_: Event) {}
    /// # fn f(endpoint: &mut sansrtc_dtls::Endpoint) {
    /// let mut data = Vec::new();
    /// loop {
    ///     if endpoint.poll_application_data(&mut data) {
    ///         deliver(&data);
    ///     } else if let Some(event) = endpoint.poll_event() {
    ///         handle(event);
    ///     } else {
    ///         break;
    ///     }
    /// }
    /// # }
    /// ```
    pub fn poll_application_data(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(Event::ApplicationData(data)) = self.events.front_mut() else {
            return false;
        };
        let old = std::mem::replace(out, std::mem::take(data));
        self.events.pop_front();
        self.outbox.recycle(old);
        true
    }

    /// When [`Endpoint::handle_timeout`] must be called next. With DTLS 1.3 this is also the
    /// last time the endpoint was given (that is, at once) when a KeyUpdate fell due since,
    /// e.g. because sealing application data reached [`Config::key_update_after`]: the update
    /// goes out from `handle_timeout`, with the caller's `now`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let Some(c) = &self.tls13 {
            return c.deadline();
        }
        self.flight.deadline()
    }

    /// Sends application data in one record (at most 16384 bytes).
    pub fn send_application_data(&mut self, data: &[u8]) -> Res {
        let mut datagram = self.outbox.buffer();
        match self.seal_application_data(data, &mut datagram) {
            Ok(()) => {
                self.outbox.push(datagram);
                Ok(())
            }
            Err(e) => {
                self.outbox.recycle(datagram);
                Err(e)
            }
        }
    }

    /// Seals application data as one record appended to `out` instead of queueing a datagram:
    /// the caller sends `out` (several records may share it, up to the path MTU) and can reuse
    /// the buffer, so nothing is allocated once it has the capacity. Same rules as
    /// [`Endpoint::send_application_data`]; records from both keep one sequence.
    pub fn seal_application_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Res {
        if self.state != State::Connected {
            return Err(DtlsError::NotConnected);
        }
        if let Some(c) = self.tls13.as_mut() {
            return c.seal_application(data, out);
        }
        if data.len() > record::MAX_PLAINTEXT {
            return Err(DtlsError::Invalid("application data longer than a record"));
        }
        self.records.seal_application(data, out)
    }

    /// DTLS 1.3: updates our sending keys now (a KeyUpdate asking the peer to update its own
    /// too, RFC 9147 8), as the endpoint does by itself before a key's record limit
    /// ([`Config::key_update_after`]). Records keep the old keys until the peer acknowledges the
    /// KeyUpdate (retransmitted meanwhile); if one is already outstanding nothing more is sent,
    /// and right after the handshake it waits for our last flight's acknowledgement.
    /// [`DtlsError::NotConnected`] before the handshake completed, [`DtlsError::Closed`] once
    /// closed, [`DtlsError::NotDtls13`] on a DTLS 1.2 connection.
    pub fn update_keys(&mut self, now: Instant) -> Res {
        if self.tls13.is_none() {
            return Err(match self.state {
                State::Connected => DtlsError::NotDtls13,
                State::Closed | State::Failed => DtlsError::Closed,
                _ => DtlsError::NotConnected,
            });
        }
        let mut result = Ok(());
        self.with13(|c, cx| result = c.update_keys(now, cx));
        result
    }

    /// DTLS 1.3: our sending application epoch and the peer's newest one (3 each after the
    /// handshake, one more per KeyUpdate), and whether our KeyUpdate waits for its
    /// acknowledgement. `None` for DTLS 1.2 or before the 1.3 handshake started.
    pub fn dtls13_epochs(&self) -> Option<(u64, u64, bool)> {
        self.tls13.as_ref().map(|c| {
            let (send, recv) = c.epochs();
            (send, recv, c.key_update_outstanding())
        })
    }

    /// Closes the connection with close_notify.
    pub fn close(&mut self) {
        if self.is_closed() {
            return;
        }
        if self.tls13.is_some() {
            self.with13(|c, _| c.close());
            self.state = State::Closed;
            return;
        }
        self.send_alert(Alert {
            level: 1,
            description: AlertDescription::CLOSE_NOTIFY,
        });
        self.state = State::Closed;
        self.flight.stop();
    }

    /// Keying material from the RFC 5705 exporter (DTLS 1.2) or the RFC 8446 7.5 exporter
    /// (DTLS 1.3), no context, e.g. label
    /// `EXTRACTOR-dtls_srtp`.
    pub fn export_keying_material(&self, label: &str, len: usize) -> Res<Vec<u8>> {
        if let Some(c) = &self.tls13 {
            return c.export(label, len);
        }
        if self.hs.suite.is_none() || !self.handshake_complete {
            return Err(DtlsError::NotConnected);
        }
        self.hs.export(label, len, self.config.crypto)
    }

    /// The SRTP keying material of RFC 5764 4.2 for the negotiated profile:
    /// client key, server key, client salt, server salt.
    pub fn srtp_keying_material(&self) -> Res<(SrtpProfile, Vec<u8>)> {
        let profile = self
            .srtp_profile()
            .ok_or(DtlsError::NoCommon("SRTP profile"))?;
        let (k, s) = profile.key_salt_len();
        Ok((
            profile,
            self.export_keying_material("EXTRACTOR-dtls_srtp", 2 * (k + s))?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::test_util::*;
    use super::*;
    use crate::cert::Certificate;
    use crate::rng::TestRng;

    #[test]
    fn a_connected_endpoint_can_be_cloned_as_a_snapshot() {
        let (client, server) = connected_pair();
        let now = Instant::now();
        for round in 0..2u8 {
            // Each clone starts from the same state: the same record, the same delivery.
            let (mut c, mut s) = (client.clone(), server.clone());
            c.send_application_data(&[round; 100]).unwrap();
            let d = c.poll_transmit().unwrap();
            s.handle_receive(now, &d);
            assert_eq!(
                s.poll_event(),
                Some(Event::ApplicationData(vec![round; 100]))
            );
        }
    }

    #[test]
    fn sealed_into_a_caller_buffer_shares_the_record_sequence() {
        let (mut client, mut server) = connected_pair();
        let now = Instant::now();
        let mut datagram = Vec::new();
        assert_eq!(
            Endpoint::server(
                Config::new(Arc::new(Certificate::generate().unwrap())),
                Box::new(TestRng::new(9))
            )
            .seal_application_data(b"x", &mut datagram),
            Err(DtlsError::NotConnected)
        );
        client.send_application_data(b"one").unwrap();
        let first = client.poll_transmit().unwrap();
        // Two records in one caller buffer, then a queued one: three sequence numbers.
        client.seal_application_data(b"two", &mut datagram).unwrap();
        client
            .seal_application_data(b"three", &mut datagram)
            .unwrap();
        client.send_application_data(b"four").unwrap();
        let last = client.poll_transmit().unwrap();
        for d in [&datagram, &last, &first] {
            server.handle_receive(now, d);
        }
        let got: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
        let data = |s: &str| Event::ApplicationData(s.as_bytes().to_vec());
        assert_eq!(got, [data("two"), data("three"), data("four"), data("one")]);
        assert_eq!(server.stats().replayed, 0);
        // A replay of the caller-buffer datagram is refused.
        server.handle_receive(now, &datagram);
        assert_eq!(server.poll_event(), None);
        assert_eq!(server.stats().replayed, 2);
        assert!(matches!(
            client.seal_application_data(&[0; 16385], &mut datagram),
            Err(DtlsError::Invalid(_))
        ));
    }

    #[test]
    fn endpoint_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<Endpoint>();
    }

    #[test]
    fn buffers_are_exchanged_with_the_caller_and_events_keep_their_order() {
        let (mut client, mut server) = connected_pair();
        let now = Instant::now();
        let (mut datagram, mut data) = (Vec::new(), Vec::new());
        for i in 0..5u8 {
            client.send_application_data(&[i; 1000]).unwrap();
            assert!(client.poll_transmit_into(&mut datagram));
            assert!(!client.poll_transmit_into(&mut datagram));
            server.handle_receive(now, &datagram);
            assert!(server.poll_application_data(&mut data));
            assert_eq!(data, [i; 1000]);
            assert!(!server.poll_application_data(&mut data));
            assert_eq!(data, [i; 1000], "untouched when there is none");
        }
        assert!(client.outbox.spares() <= 1 && server.outbox.spares() <= 1);
        // Both polls drain one queue of datagrams and one of events, in order.
        client.send_application_data(b"one").unwrap();
        client.send_application_data(b"two").unwrap();
        client.close();
        let first = client.poll_transmit().unwrap();
        server.handle_receive(now, &first);
        while client.poll_transmit_into(&mut datagram) {
            server.handle_receive(now, &datagram);
        }
        assert_eq!(
            server.poll_event(),
            Some(Event::ApplicationData(b"one".to_vec()))
        );
        assert!(server.poll_application_data(&mut data));
        assert_eq!(data, b"two");
        assert!(
            !server.poll_application_data(&mut data),
            "an alert comes first"
        );
        assert!(matches!(server.poll_event(), Some(Event::AlertReceived(_))));
        assert_eq!(server.poll_event(), Some(Event::Closed));
        assert_eq!(server.poll_event(), None);
    }
}
