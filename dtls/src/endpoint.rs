//! The DTLS 1.2 client and server state machine, sans-IO.
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

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::agreement::{self, EphemeralPrivateKey, UnparsedPublicKey};

use crate::cert::{Certificate, Fingerprint, HashAlgorithm, PeerKey};
use crate::cipher::{CipherSuite, RecordCipher, SrtpProfile, key_block, prf};
use crate::codec::Reader;
use crate::error::{Alert, AlertDescription, DtlsError};
use crate::fragment::{self, HandshakeHeader, Inserted, Message, Reassembler, SingleReassembler};
use crate::message::{
    CertificateMsg, CertificateRequest, CertificateVerify, ClientHello, ClientHelloPrefix,
    ClientKeyExchange, Extensions, HelloVerifyRequest, ServerHello, ServerKeyExchange, Signature,
    group, msg_type, sig,
};
use crate::record::{self, ContentType, DTLS_1_0, DTLS_1_2, RecordHeader, ReplayWindow};
use crate::rng::Rng;

/// Which side of the handshake we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sends the ClientHello.
    Client,
    /// Answers it.
    Server,
}

/// Configuration of an endpoint.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our certificate (ECDSA P-256).
    pub certificate: Arc<Certificate>,
    /// The fingerprints the peer's certificate must match (from the remote SDP). When empty,
    /// the handshake fails with [`DtlsError::NoRemoteFingerprint`] once the peer's certificate
    /// arrives, unless [`Config::insecure_accept_any_certificate`] is set.
    pub remote_fingerprints: Vec<Fingerprint>,
    /// Accept any peer certificate when `remote_fingerprints` is empty. Only for tests, or for
    /// a caller that explicitly opts out because it checks the certificate itself (from
    /// `Event::Connected::peer_certificate`) before trusting the connection. Default false.
    pub insecure_accept_any_certificate: bool,
    /// Cipher suites in preference order.
    pub cipher_suites: Vec<CipherSuite>,
    /// SRTP profiles in preference order (empty: no use_srtp).
    pub srtp_profiles: Vec<SrtpProfile>,
    /// Refuse peers without extended master secret (RFC 7627).
    pub require_extended_master_secret: bool,
    /// As server: request (and require) a client certificate.
    pub require_client_certificate: bool,
    /// The path MTU: no datagram we send exceeds it (application data records excepted).
    pub mtu: usize,
    /// The first retransmission timeout.
    pub initial_retransmit: Duration,
    /// The back-off ceiling.
    pub max_retransmit: Duration,
    /// Retransmissions of one flight before the handshake fails.
    pub max_retransmissions: u32,
    /// The largest handshake message we reassemble.
    pub max_handshake_message: usize,
    /// Bytes held in reassembly buffers at most.
    pub max_reassembly: usize,
    /// Events and early application-data records queued at most.
    pub max_queued: usize,
    /// Bytes held in each of the two buffers of records that arrive before they can be used:
    /// protected records that arrive before we have the keys (reordering; anyone can send
    /// them), and application data that arrives before our side of the handshake finished.
    /// Records past it are dropped (counted in [`Stats::dropped`]).
    pub max_early_data: usize,
}

impl Config {
    /// Defaults around a certificate: every suite and SRTP profile, EMS required, client
    /// certificates required, MTU 1200, 1 s initial retransmission timer.
    pub fn new(certificate: Arc<Certificate>) -> Self {
        Self {
            certificate,
            remote_fingerprints: Vec::new(),
            insecure_accept_any_certificate: false,
            cipher_suites: CipherSuite::ALL.to_vec(),
            srtp_profiles: SrtpProfile::ALL.to_vec(),
            require_extended_master_secret: true,
            require_client_certificate: true,
            mtu: 1200,
            initial_retransmit: Duration::from_secs(1),
            max_retransmit: Duration::from_secs(60),
            max_retransmissions: 12,
            max_handshake_message: 16 * 1024,
            max_reassembly: 64 * 1024,
            max_queued: 256,
            max_early_data: 16 * 1024,
        }
    }
}

/// What the application learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed.
    Connected {
        /// The negotiated suite.
        cipher_suite: CipherSuite,
        /// The negotiated SRTP profile, if use_srtp was negotiated.
        srtp_profile: Option<SrtpProfile>,
        /// The SHA-256 fingerprint of the peer's certificate.
        peer_fingerprint: Fingerprint,
        /// The peer's certificate (DER).
        peer_certificate: Vec<u8>,
    },
    /// Application data from the peer.
    ApplicationData(Vec<u8>),
    /// The peer sent an alert (warning or fatal).
    AlertReceived(Alert),
    /// The connection closed with close_notify.
    Closed,
    /// The connection failed; the fatal alert (if any) was sent.
    Failed(DtlsError),
}

/// Counters of dropped input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records that failed authentication.
    pub bad_mac: u64,
    /// Records, fragments or unauthenticated handshake messages that did not parse.
    pub malformed: u64,
    /// Replayed records.
    pub replayed: u64,
    /// Records of an epoch we had no keys for, or otherwise dropped.
    pub dropped: u64,
    /// Flights retransmitted.
    pub retransmissions: u64,
    /// Plaintext (epoch-0) alerts ignored. Anyone can send one, so it does not end a handshake
    /// the real peer can still complete (RFC 6347 4.1.2.7, RFC 9147 allow ignoring them); the
    /// last one is kept for diagnostics ([`Endpoint::last_unauthenticated_alert`]).
    pub unauthenticated_alerts: u64,
    /// Unauthenticated (epoch-0) handshake messages dropped because the current state does not
    /// expect them (wrong type, out of order, a plaintext Finished, any after the handshake).
    pub unexpected_handshake: u64,
    /// Records over the RFC size limits dropped: a plaintext record over 2^14 bytes, a
    /// protected one over 2^14 + 2048 bytes or opening to more than 2^14 bytes.
    pub oversized_records: u64,
}

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

#[derive(Debug, Clone)]
enum FlightItem {
    Handshake { epoch: u16, whole: Vec<u8> },
    ChangeCipherSpec,
}

/// Cloned without the ephemeral key (ring's private keys cannot be copied): a clone taken
/// after our key share went out cannot finish that handshake; one taken before it was made,
/// or once connected (the handshake state is freed then), behaves as the original.
#[derive(Default)]
struct Handshake {
    client_random: [u8; 32],
    server_random: [u8; 32],
    suite: Option<CipherSuite>,
    srtp: Option<SrtpProfile>,
    peer_certificate: Option<Vec<u8>>,
    peer_key: Option<PeerKey>,
    /// The scheme of the peer's verified signature (ServerKeyExchange or CertificateVerify).
    peer_scheme: Option<u16>,
    certificate_requested: bool,
    extended_master_secret: bool,
    group: u16,
    ephemeral: Option<EphemeralPrivateKey>,
    our_point: Vec<u8>,
    peer_point: Vec<u8>,
    master: Vec<u8>,
    transcript: Vec<u8>,
}

impl Clone for Handshake {
    fn clone(&self) -> Self {
        Handshake {
            client_random: self.client_random,
            server_random: self.server_random,
            suite: self.suite,
            srtp: self.srtp,
            peer_certificate: self.peer_certificate.clone(),
            peer_key: self.peer_key.clone(),
            peer_scheme: self.peer_scheme,
            certificate_requested: self.certificate_requested,
            extended_master_secret: self.extended_master_secret,
            group: self.group,
            ephemeral: None,
            our_point: self.our_point.clone(),
            peer_point: self.peer_point.clone(),
            master: self.master.clone(),
            transcript: self.transcript.clone(),
        }
    }
}

/// A DTLS 1.2 endpoint (client or server) for one peer.
#[derive(Clone)]
pub struct Endpoint {
    role: Role,
    config: Config,
    rng: Box<dyn Rng>,
    state: State,
    hs: Handshake,
    reassembler: Reassembler,
    /// As a server before the cookie exchange: the one fragmented ClientHello being joined.
    hello: SingleReassembler,
    /// The fragmented ClientHello (message_seq, length) last answered with a HelloVerifyRequest
    /// from its first fragment: its later fragments are not worth holding.
    hello_answered: Option<(u16, u32)>,
    next_send_seq: u16,
    write_epoch: u16,
    write_seq: [u64; 2],
    write_cipher: Option<RecordCipher>,
    read_cipher: Option<RecordCipher>,
    replay: [ReplayWindow; 2],
    flight: Vec<FlightItem>,
    retransmit_at: Option<Instant>,
    retransmit_interval: Duration,
    retransmit_count: u32,
    last_peer_resend: Option<Instant>,
    cookie_secret: [u8; 32],
    early_data: Vec<Vec<u8>>,
    /// Both Finished messages verified (stays true after close).
    handshake_complete: bool,
    /// Epoch-1 records that arrived before we had the keys (reordering), bounded.
    early_records: Vec<(RecordHeader, Vec<u8>)>,
    /// The last plaintext alert we ignored.
    last_unauthenticated_alert: Option<Alert>,
    /// As a stateless server: a HelloVerifyRequest answered the datagram being handled (one per
    /// datagram; the rest of its ClientHellos are dropped).
    hello_verify_sent: bool,
    /// As a client: our current ClientHello carries a cookie.
    hello_has_cookie: bool,
    /// As a client whose ClientHello already carries a cookie: the cookie of a further
    /// HelloVerifyRequest, used only if no ServerHello arrived by the next retransmission.
    deferred_cookie: Option<Vec<u8>>,
    transmits: VecDeque<Vec<u8>>,
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

type Res<T = ()> = Result<T, DtlsError>;

/// What became of a complete handshake message that did not end the handshake.
enum Disposition {
    /// Handled: its message_seq is used up.
    Done,
    /// Unauthenticated and not expected now: dropped.
    Unexpected,
    /// Unauthenticated and did not parse: dropped.
    Malformed,
    /// Kept aside without using up its message_seq (a later HelloVerifyRequest).
    Deferred,
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

    fn new(role: Role, config: Config, mut rng: Box<dyn Rng>) -> Self {
        let mut cookie_secret = [0u8; 32];
        rng.fill(&mut cookie_secret);
        let reassembler = Reassembler::new(0, config.max_handshake_message, config.max_reassembly);
        let retransmit_interval = config.initial_retransmit;
        let hello = SingleReassembler::new(config.max_handshake_message);
        Self {
            role,
            state: if role == Role::Client {
                State::ClientIdle
            } else {
                State::ServerWaitHello
            },
            config,
            rng,
            hs: Handshake::default(),
            reassembler,
            hello,
            hello_answered: None,
            next_send_seq: 0,
            write_epoch: 0,
            write_seq: [0; 2],
            write_cipher: None,
            read_cipher: None,
            replay: Default::default(),
            flight: Vec::new(),
            retransmit_at: None,
            retransmit_interval,
            retransmit_count: 0,
            last_peer_resend: None,
            cookie_secret,
            early_data: Vec::new(),
            handshake_complete: false,
            early_records: Vec::new(),
            last_unauthenticated_alert: None,
            hello_verify_sent: false,
            hello_has_cookie: false,
            deferred_cookie: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
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
        self.hs.srtp
    }

    /// The negotiated ECDHE group (IANA named group number, see [`crate::message::group`]).
    pub fn named_group(&self) -> Option<u16> {
        self.hs.suite.map(|_| self.hs.group)
    }

    /// The negotiated cipher suite.
    pub fn cipher_suite(&self) -> Option<CipherSuite> {
        self.hs.suite
    }

    /// The signature scheme (IANA number, see [`crate::message::sig`]) of the peer's signature
    /// we verified: its ServerKeyExchange when we are the client, its CertificateVerify when we
    /// are the server (`None` before, or without a client certificate).
    pub fn peer_signature_scheme(&self) -> Option<u16> {
        self.hs.peer_scheme
    }

    /// Starts the handshake (client only; a server ignores it).
    pub fn connect(&mut self, now: Instant) {
        if self.state != State::ClientIdle {
            return;
        }
        self.rng.fill(&mut self.hs.client_random);
        self.send_client_hello(now, Vec::new());
        self.state = State::ClientWaitHello;
    }

    /// A datagram from the peer.
    pub fn handle_receive(&mut self, now: Instant, datagram: &[u8]) {
        if self.is_closed() {
            return;
        }
        self.hello_verify_sent = false;
        for rec in record::parse_datagram(datagram) {
            let Ok(rec) = rec else {
                self.stats.malformed += 1;
                break;
            };
            self.handle_record(now, rec.header, rec.fragment);
            if self.is_closed() {
                break;
            }
        }
        if self.read_cipher.is_some() && !self.early_records.is_empty() {
            for (header, fragment) in std::mem::take(&mut self.early_records) {
                if self.is_closed() {
                    break;
                }
                self.handle_record(now, header, &fragment);
            }
        }
        if let Err(e) = self.process_messages(now) {
            self.fail(e);
        }
    }

    /// Call when the deadline from [`Endpoint::poll_timeout`] has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(at) = self.retransmit_at else { return };
        if now < at {
            return;
        }
        if self.retransmit_count >= self.config.max_retransmissions {
            self.fail(DtlsError::HandshakeTimeout);
            return;
        }
        self.retransmit_count += 1;
        self.retransmit_interval = (self.retransmit_interval * 2).min(self.config.max_retransmit);
        self.stats.retransmissions += 1;
        if let Some(cookie) = self.deferred_cookie.take() {
            if self.state == State::ClientWaitHello {
                // No ServerHello answered the ClientHello with our cookie: follow the later
                // HelloVerifyRequest after all (the server may have changed its cookie secret).
                let seq = self.reassembler.next_seq();
                self.reassembler.reset(seq);
                self.reassembler.advance();
                self.build_client_hello(cookie);
            }
        }
        self.transmit_flight();
        self.retransmit_at = Some(now + self.retransmit_interval);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.retransmit_at
    }

    /// Sends application data in one record (at most 16384 bytes).
    pub fn send_application_data(&mut self, data: &[u8]) -> Res {
        if self.state != State::Connected {
            return Err(DtlsError::NotConnected);
        }
        if data.len() > record::MAX_PLAINTEXT {
            return Err(DtlsError::Invalid("application data longer than a record"));
        }
        let rec = self.seal(1, ContentType::ApplicationData, data);
        self.transmits.push_back(rec);
        Ok(())
    }

    /// Seals application data as one record appended to `out` instead of queueing a datagram:
    /// the caller sends `out` (several records may share it, up to the path MTU) and can reuse
    /// the buffer, so nothing is allocated once it has the capacity. Same rules as
    /// [`Endpoint::send_application_data`]; records from both keep one sequence.
    pub fn seal_application_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Res {
        if self.state != State::Connected {
            return Err(DtlsError::NotConnected);
        }
        if data.len() > record::MAX_PLAINTEXT {
            return Err(DtlsError::Invalid("application data longer than a record"));
        }
        let cipher = self.write_cipher.as_ref().ok_or(DtlsError::NotConnected)?;
        let header = RecordHeader {
            content_type: ContentType::ApplicationData,
            version: DTLS_1_2,
            epoch: 1,
            sequence: self.write_seq[1],
        };
        self.write_seq[1] += 1;
        cipher.seal(&header, data, out);
        Ok(())
    }

    /// Closes the connection with close_notify.
    pub fn close(&mut self) {
        if self.is_closed() {
            return;
        }
        self.send_alert(Alert {
            level: 1,
            description: AlertDescription::CLOSE_NOTIFY,
        });
        self.state = State::Closed;
        self.retransmit_at = None;
    }

    /// Keying material from the RFC 5705 exporter (no context), e.g. label
    /// `EXTRACTOR-dtls_srtp`.
    pub fn export_keying_material(&self, label: &str, len: usize) -> Res<Vec<u8>> {
        let suite = self.hs.suite.ok_or(DtlsError::NotConnected)?;
        if !self.handshake_complete {
            return Err(DtlsError::NotConnected);
        }
        let mut seed = [0u8; 64];
        seed[..32].copy_from_slice(&self.hs.client_random);
        seed[32..].copy_from_slice(&self.hs.server_random);
        let mut out = vec![0u8; len];
        prf(
            suite.hash(),
            &self.hs.master,
            label.as_bytes(),
            &seed,
            &mut out,
        );
        Ok(out)
    }

    /// The SRTP keying material of RFC 5764 4.2 for the negotiated profile:
    /// client key, server key, client salt, server salt.
    pub fn srtp_keying_material(&self) -> Res<(SrtpProfile, Vec<u8>)> {
        let profile = self.hs.srtp.ok_or(DtlsError::NoCommon("SRTP profile"))?;
        let (k, s) = profile.key_salt_len();
        Ok((
            profile,
            self.export_keying_material("EXTRACTOR-dtls_srtp", 2 * (k + s))?,
        ))
    }

    // ----- records -----

    fn handle_record(&mut self, now: Instant, header: RecordHeader, fragment: &[u8]) {
        let limit = match header.epoch {
            0 => record::MAX_PLAINTEXT,
            _ => record::MAX_CIPHERTEXT,
        };
        if fragment.len() > limit {
            self.stats.oversized_records += 1;
            return;
        }
        let buf;
        let plaintext: &[u8] = match header.epoch {
            // Plaintext: nothing in it is authenticated, so nothing in it may end the connection.
            0 => match header.content_type {
                ContentType::Handshake => fragment,
                ContentType::Alert => {
                    self.unauthenticated_alert(fragment);
                    return;
                }
                ContentType::ChangeCipherSpec if self.state != State::Connected => return,
                ContentType::ChangeCipherSpec | ContentType::ApplicationData => {
                    self.stats.dropped += 1;
                    return;
                }
            },
            1 => {
                let Some(cipher) = &self.read_cipher else {
                    let held: usize = self.early_records.iter().map(|(_, r)| r.len()).sum();
                    if self.early_records.len() < 8
                        && held + fragment.len() <= self.config.max_early_data
                    {
                        self.early_records.push((header, fragment.to_vec()));
                    } else {
                        self.stats.dropped += 1;
                    }
                    return;
                };
                if !self.replay[1].check(header.sequence) {
                    self.stats.replayed += 1;
                    return;
                }
                match cipher.open_to_vec(&header, fragment) {
                    Ok(plain) if plain.len() > record::MAX_PLAINTEXT => {
                        self.stats.oversized_records += 1;
                        return;
                    }
                    Ok(plain) => {
                        self.replay[1].mark(header.sequence);
                        if header.content_type == ContentType::ApplicationData {
                            // The opened buffer becomes the event's: no second copy.
                            self.application_data(plain);
                            return;
                        }
                        buf = plain;
                        &buf
                    }
                    Err(_) => {
                        self.stats.bad_mac += 1;
                        return;
                    }
                }
            }
            _ => {
                self.stats.dropped += 1;
                return;
            }
        };
        let result = match header.content_type {
            ContentType::Handshake => self.handle_handshake_record(now, &header, plaintext),
            ContentType::ChangeCipherSpec => Ok(()),
            ContentType::Alert => self.handle_alert(plaintext),
            // Epoch-1 application data was delivered above; plaintext application data is
            // not accepted.
            ContentType::ApplicationData => Ok(()),
        };
        if let Err(e) = result {
            self.fail(e);
        }
    }

    /// Authenticated application data: an event once connected, queued (bounded in records
    /// and bytes) while our side of the handshake is still finishing.
    fn application_data(&mut self, data: Vec<u8>) {
        if self.state == State::Connected {
            self.push_event(Event::ApplicationData(data));
            return;
        }
        let held: usize = self.early_data.iter().map(Vec::len).sum();
        if self.early_data.len() < self.config.max_queued
            && held + data.len() <= self.config.max_early_data
        {
            self.early_data.push(data);
        } else {
            self.stats.dropped += 1;
        }
    }

    /// A plaintext alert: counted and remembered, never acted on. A real peer that gave up
    /// stops answering, and our retransmissions end the handshake with a timeout; a forged one
    /// (anyone can send it) must not end a handshake the peer can still complete.
    fn unauthenticated_alert(&mut self, body: &[u8]) {
        let [level, description] = body[..] else {
            self.stats.malformed += 1;
            return;
        };
        self.stats.unauthenticated_alerts += 1;
        self.last_unauthenticated_alert = Some(Alert {
            level,
            description: AlertDescription(description),
        });
    }

    /// An authenticated (epoch-1) alert.
    fn handle_alert(&mut self, body: &[u8]) -> Res {
        if body.len() != 2 {
            self.stats.malformed += 1;
            return Ok(());
        }
        let alert = Alert {
            level: body[0],
            description: AlertDescription(body[1]),
        };
        self.push_event(Event::AlertReceived(alert));
        if alert.description == AlertDescription::CLOSE_NOTIFY {
            if self.state == State::Connected {
                self.send_alert(alert);
            }
            self.state = State::Closed;
            self.retransmit_at = None;
            self.push_event(Event::Closed);
        } else if alert.level == 2 {
            self.state = State::Failed;
            self.retransmit_at = None;
            self.push_event(Event::Failed(DtlsError::PeerAlert(alert.description)));
        }
        Ok(())
    }

    fn handle_handshake_record(
        &mut self,
        now: Instant,
        header: &RecordHeader,
        mut data: &[u8],
    ) -> Res {
        let mut peer_resent = false;
        while !data.is_empty() {
            let mut r = Reader::new(data);
            let Ok((h, body)) = HandshakeHeader::parse(&mut r) else {
                self.stats.malformed += 1;
                break;
            };
            data = r.rest();
            if self.state == State::ServerWaitHello {
                self.stateless_client_hello(now, header, &h, body)?;
                continue;
            }
            if header.epoch == 0 && self.state == State::Connected {
                // After the handshake a plaintext fragment can only be a retransmission of the
                // peer's last flight (ours was lost); nothing else of it is held.
                if self.reassembler.is_old(h.message_seq) {
                    peer_resent = true;
                } else {
                    self.stats.unexpected_handshake += 1;
                }
                continue;
            }
            match self.reassembler.insert(header.epoch, &h, body) {
                Inserted::Old => peer_resent = true,
                Inserted::Buffered => {}
                Inserted::Dropped => self.stats.dropped += 1,
            }
            self.stats.dropped += self.reassembler.take_evicted();
        }
        // RFC 6347 4.2.4: the peer repeating its last flight means ours was lost. Rate-limited
        // so that duplicated datagrams cannot make us amplify.
        if peer_resent && !self.flight.is_empty() {
            let quiet = self.config.initial_retransmit / 4;
            if self.last_peer_resend.is_none_or(|t| now >= t + quiet) {
                self.last_peer_resend = Some(now);
                self.stats.retransmissions += 1;
                self.transmit_flight();
            }
        }
        // Process what completed now: the keys it installs may be needed by the next record.
        self.process_messages(now)
    }

    fn seal(&mut self, epoch: u16, content_type: ContentType, payload: &[u8]) -> Vec<u8> {
        let e = epoch as usize;
        let header = RecordHeader {
            content_type,
            version: DTLS_1_2,
            epoch,
            sequence: self.write_seq[e],
        };
        self.write_seq[e] += 1;
        let mut out = Vec::with_capacity(payload.len() + 64);
        match (&self.write_cipher, epoch) {
            (Some(c), 1) => c.seal(&header, payload, &mut out),
            _ => {
                header.write(payload.len(), &mut out);
                out.extend_from_slice(payload);
            }
        }
        out
    }

    fn send_alert(&mut self, alert: Alert) {
        let rec = self.seal(
            self.write_epoch,
            ContentType::Alert,
            &[alert.level, alert.description.0],
        );
        self.transmits.push_back(rec);
    }

    fn fail(&mut self, error: DtlsError) {
        if self.is_closed() {
            return;
        }
        self.send_alert(Alert::fatal(error.alert()));
        self.state = State::Failed;
        self.retransmit_at = None;
        self.push_event(Event::Failed(error));
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() < self.config.max_queued {
            self.events.push_back(e);
        }
    }

    // ----- flights -----

    fn add_message(&mut self, epoch: u16, ty: u8, body: &[u8]) {
        let whole = fragment::whole_message(ty, self.next_send_seq, body);
        self.next_send_seq = self.next_send_seq.wrapping_add(1);
        self.hs.transcript.extend_from_slice(&whole);
        self.flight.push(FlightItem::Handshake { epoch, whole });
    }

    fn start_flight(&mut self, now: Instant, expects_reply: bool) {
        self.retransmit_interval = self.config.initial_retransmit;
        self.retransmit_count = 0;
        self.retransmit_at = expects_reply.then(|| now + self.retransmit_interval);
        self.transmit_flight();
    }

    fn transmit_flight(&mut self) {
        let mtu = self
            .config
            .mtu
            .max(record::HEADER_LEN + fragment::HEADER_LEN + 64);
        let items = std::mem::take(&mut self.flight);
        let mut datagram = Vec::new();
        for item in &items {
            let (epoch, ct, payloads) = match item {
                FlightItem::ChangeCipherSpec => (0, ContentType::ChangeCipherSpec, vec![vec![1u8]]),
                FlightItem::Handshake { epoch, whole } => {
                    let overhead = match (*epoch, &self.write_cipher) {
                        (1, Some(c)) => c.overhead(),
                        _ => 0,
                    };
                    (
                        *epoch,
                        ContentType::Handshake,
                        fragment::fragments(whole, mtu - record::HEADER_LEN - overhead),
                    )
                }
            };
            for p in payloads {
                let rec = self.seal(epoch, ct, &p);
                if !datagram.is_empty() && datagram.len() + rec.len() > mtu {
                    self.transmits.push_back(std::mem::take(&mut datagram));
                }
                datagram.extend_from_slice(&rec);
            }
        }
        if !datagram.is_empty() {
            self.transmits.push_back(datagram);
        }
        self.flight = items;
    }

    // ----- client -----

    fn send_client_hello(&mut self, now: Instant, cookie: Vec<u8>) {
        self.build_client_hello(cookie);
        self.start_flight(now, true);
    }

    /// Makes a ClientHello the flight (and the transcript).
    fn build_client_hello(&mut self, cookie: Vec<u8>) {
        self.hello_has_cookie = !cookie.is_empty();
        self.deferred_cookie = None;
        let mut suites: Vec<u16> = self.config.cipher_suites.iter().map(|s| s.id()).collect();
        suites.push(0x00FF); // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
        let ch = ClientHello {
            version: DTLS_1_2,
            random: self.hs.client_random,
            session_id: Vec::new(),
            cookie,
            cipher_suites: suites,
            compression_methods: vec![0],
            extensions: Extensions {
                srtp_profiles: (!self.config.srtp_profiles.is_empty())
                    .then(|| self.config.srtp_profiles.iter().map(|p| p.id()).collect()),
                srtp_mki: Vec::new(),
                extended_master_secret: true,
                renegotiation_info: None,
                supported_groups: Some(vec![group::X25519, group::SECP256R1, group::SECP384R1]),
                ec_point_formats: Some(vec![0]),
                signature_algorithms: Some(sig::VERIFY.to_vec()),
            },
        };
        let mut body = Vec::new();
        ch.write(&mut body);
        self.flight.clear();
        self.hs.transcript.clear();
        self.add_message(0, msg_type::CLIENT_HELLO, &body);
    }

    /// Handles the messages that completed, in order. An unauthenticated message the state does
    /// not expect, or that does not parse, is dropped without using up its message_seq, so the
    /// peer's real message can still fill it.
    fn process_messages(&mut self, now: Instant) -> Res {
        while !self.is_closed() {
            let Some(m) = self.reassembler.next_complete() else {
                break;
            };
            match self.process_message(now, &m)? {
                Disposition::Done => self.reassembler.advance(),
                Disposition::Unexpected => self.stats.unexpected_handshake += 1,
                Disposition::Malformed => self.stats.malformed += 1,
                Disposition::Deferred => {}
            }
        }
        Ok(())
    }

    /// Whether the current state takes a handshake message of type `ty` arriving in `epoch`:
    /// Finished only protected (epoch 1), everything else of the handshake in plaintext.
    fn expects(&self, ty: u8, epoch: u16) -> bool {
        use State as S;
        use msg_type as M;
        if self.state == S::Connected {
            return true;
        }
        let needed_epoch = u16::from(ty == M::FINISHED);
        epoch == needed_epoch
            && matches!(
                (self.state, ty),
                (
                    S::ClientWaitHello,
                    M::HELLO_VERIFY_REQUEST | M::SERVER_HELLO
                ) | (S::ClientWaitCertificate, M::CERTIFICATE)
                    | (S::ClientWaitKeyExchange, M::SERVER_KEY_EXCHANGE)
                    | (
                        S::ClientWaitCertReqOrDone,
                        M::CERTIFICATE_REQUEST | M::SERVER_HELLO_DONE
                    )
                    | (S::ClientWaitDone, M::SERVER_HELLO_DONE)
                    | (S::ClientWaitFinished, M::FINISHED)
                    | (S::ServerWaitCertificate, M::CERTIFICATE)
                    | (S::ServerWaitKeyExchange, M::CLIENT_KEY_EXCHANGE)
                    | (S::ServerWaitCertVerify, M::CERTIFICATE_VERIFY)
                    | (S::ServerWaitFinished, M::FINISHED)
            )
    }

    fn record_message(&mut self, ty: u8, seq: u16, body: &[u8]) {
        let whole = fragment::whole_message(ty, seq, body);
        self.hs.transcript.extend_from_slice(&whole);
    }

    /// One complete message. Unauthenticated (epoch-0) input that is unexpected or does not
    /// parse is dropped (the returned [`Disposition`]); a message that parses but fails a check
    /// (fingerprint, signature, Finished, negotiation) ends the handshake, as does anything out
    /// of place in an authenticated record.
    fn process_message(&mut self, now: Instant, m: &Message) -> Res<Disposition> {
        use Disposition::{Done, Malformed};
        use State as S;
        use msg_type as M;
        let (ty, seq, body) = (m.msg_type, m.message_seq, &m.body[..]);
        if !self.expects(ty, m.epoch) {
            if m.epoch == 0 {
                return Ok(Disposition::Unexpected);
            }
            return Err(DtlsError::UnexpectedMessage(
                "handshake message out of order",
            ));
        }
        match (self.state, ty) {
            (S::ClientWaitHello, M::HELLO_VERIFY_REQUEST) => {
                let Ok(hvr) = HelloVerifyRequest::parse(body) else {
                    return Ok(Malformed);
                };
                if hvr.version != DTLS_1_0 && hvr.version != DTLS_1_2 {
                    return Ok(Malformed);
                }
                if self.hello_has_cookie {
                    // Anyone can make a server send us a HelloVerifyRequest (with a ClientHello
                    // spoofing our address): one racing the ServerHello for the ClientHello that
                    // carries our cookie must not derail it. Keep it for the next timeout.
                    self.deferred_cookie = Some(hvr.cookie);
                    return Ok(Disposition::Deferred);
                }
                // Whatever was buffered arrived before the ClientHello it would answer: drop it.
                self.reassembler.reset(seq);
                self.send_client_hello(now, hvr.cookie);
            }
            (S::ClientWaitHello, M::SERVER_HELLO) => {
                let Ok(sh) = ServerHello::parse(body) else {
                    return Ok(Malformed);
                };
                self.record_message(ty, seq, body);
                self.client_server_hello(&sh)?;
                self.state = S::ClientWaitCertificate;
            }
            (S::ClientWaitCertificate, M::CERTIFICATE) => {
                let Ok(msg) = CertificateMsg::parse(body) else {
                    return Ok(Malformed);
                };
                self.record_message(ty, seq, body);
                self.peer_certificate(msg)?;
                let suite = self.hs.suite.expect("suite chosen with ServerHello");
                if self
                    .hs
                    .peer_key
                    .as_ref()
                    .is_some_and(|k| k.is_ecdsa() != suite.is_ecdsa())
                {
                    return Err(DtlsError::BadCertificate(
                        "key type does not match the cipher suite",
                    ));
                }
                self.state = S::ClientWaitKeyExchange;
            }
            (S::ClientWaitKeyExchange, M::SERVER_KEY_EXCHANGE) => {
                let Ok(ske) = ServerKeyExchange::parse(body) else {
                    return Ok(Malformed);
                };
                self.record_message(ty, seq, body);
                self.client_server_key_exchange(ske)?;
                self.state = S::ClientWaitCertReqOrDone;
            }
            (S::ClientWaitCertReqOrDone, M::CERTIFICATE_REQUEST) => {
                let Ok(cr) = CertificateRequest::parse(body) else {
                    return Ok(Malformed);
                };
                self.record_message(ty, seq, body);
                if !cr
                    .signature_algorithms
                    .contains(&self.config.certificate.scheme())
                {
                    return Err(DtlsError::NoCommon("signature scheme for our certificate"));
                }
                self.hs.certificate_requested = true;
                self.state = S::ClientWaitDone;
            }
            (S::ClientWaitCertReqOrDone | S::ClientWaitDone, M::SERVER_HELLO_DONE) => {
                if !body.is_empty() {
                    return Ok(Malformed);
                }
                self.record_message(ty, seq, body);
                self.client_flight5(now)?;
                self.state = S::ClientWaitFinished;
            }
            (S::ClientWaitFinished, M::FINISHED) => {
                self.check_finished(b"server finished", body)?;
                self.record_message(ty, seq, body);
                self.flight.clear();
                self.connected();
            }
            (S::ServerWaitCertificate, M::CERTIFICATE) => {
                let Ok(msg) = CertificateMsg::parse(body) else {
                    return Ok(Malformed);
                };
                self.record_message(ty, seq, body);
                self.peer_certificate(msg)?;
                self.state = S::ServerWaitKeyExchange;
            }
            (S::ServerWaitKeyExchange, M::CLIENT_KEY_EXCHANGE) => {
                let Ok(cke) = ClientKeyExchange::parse(body) else {
                    return Ok(Malformed);
                };
                self.record_message(ty, seq, body);
                let pms = self.agree(&cke.public)?;
                self.derive_keys(&pms)?;
                self.state = if self.hs.peer_key.is_some() {
                    S::ServerWaitCertVerify
                } else {
                    S::ServerWaitFinished
                };
            }
            (S::ServerWaitCertVerify, M::CERTIFICATE_VERIFY) => {
                let Ok(cv) = CertificateVerify::parse(body) else {
                    return Ok(Malformed);
                };
                let key = self.hs.peer_key.as_ref().expect("state implies a peer key");
                key.verify(
                    cv.signature.scheme,
                    &self.hs.transcript,
                    &cv.signature.signature,
                )?;
                self.hs.peer_scheme = Some(cv.signature.scheme);
                self.record_message(ty, seq, body);
                self.state = S::ServerWaitFinished;
            }
            (S::ServerWaitFinished, M::FINISHED) => {
                self.check_finished(b"client finished", body)?;
                self.record_message(ty, seq, body);
                let verify = self.finished_data(b"server finished");
                self.flight.clear();
                self.flight.push(FlightItem::ChangeCipherSpec);
                self.write_epoch = 1;
                self.add_message(1, M::FINISHED, &verify);
                self.start_flight(now, false);
                self.connected();
            }
            (S::Connected, M::CLIENT_HELLO | M::HELLO_REQUEST) => {
                // RFC 5746 / our policy: no renegotiation.
                self.send_alert(Alert {
                    level: 1,
                    description: AlertDescription::NO_RENEGOTIATION,
                });
            }
            (S::Connected, _) => self.stats.dropped += 1,
            _ => {
                return Err(DtlsError::UnexpectedMessage(
                    "handshake message out of order",
                ));
            }
        }
        Ok(Done)
    }

    fn client_server_hello(&mut self, sh: &ServerHello) -> Res {
        if sh.version != DTLS_1_2 {
            return Err(DtlsError::UnsupportedVersion(sh.version));
        }
        let suite = CipherSuite::from_id(sh.cipher_suite)
            .filter(|s| self.config.cipher_suites.contains(s))
            .ok_or(DtlsError::Invalid("cipher suite not offered"))?;
        if sh.compression_method != 0 {
            return Err(DtlsError::Invalid("compression method"));
        }
        let e = &sh.extensions;
        if !e.extended_master_secret && self.config.require_extended_master_secret {
            return Err(DtlsError::NoExtendedMasterSecret);
        }
        if e.renegotiation_info.as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(DtlsError::Invalid("renegotiation_info"));
        }
        self.hs.srtp = match &e.srtp_profiles {
            None => None,
            Some(list) => {
                let [id] = list[..] else {
                    return Err(DtlsError::Invalid("use_srtp answer"));
                };
                Some(
                    SrtpProfile::from_id(id)
                        .filter(|p| self.config.srtp_profiles.contains(p))
                        .ok_or(DtlsError::Invalid("SRTP profile not offered"))?,
                )
            }
        };
        self.hs.suite = Some(suite);
        self.hs.extended_master_secret = e.extended_master_secret;
        self.hs.server_random = sh.random;
        Ok(())
    }

    fn peer_certificate(&mut self, msg: CertificateMsg) -> Res {
        let Some(leaf) = msg.chain.into_iter().next() else {
            return Err(DtlsError::BadCertificate("no certificate"));
        };
        let expected = &self.config.remote_fingerprints;
        if expected.is_empty() {
            if !self.config.insecure_accept_any_certificate {
                return Err(DtlsError::NoRemoteFingerprint);
            }
        } else if !expected.iter().any(|f| f.matches(&leaf)) {
            return Err(DtlsError::FingerprintMismatch);
        }
        self.hs.peer_key = Some(PeerKey::from_certificate(&leaf)?);
        self.hs.peer_certificate = Some(leaf);
        Ok(())
    }

    fn client_server_key_exchange(&mut self, ske: ServerKeyExchange) -> Res {
        if !sig::VERIFY.contains(&ske.signature.scheme) {
            return Err(DtlsError::Invalid("signature scheme not offered"));
        }
        let mut signed = Vec::with_capacity(64 + 4 + ske.public.len());
        signed.extend_from_slice(&self.hs.client_random);
        signed.extend_from_slice(&self.hs.server_random);
        signed.extend_from_slice(&ServerKeyExchange::params(ske.group, &ske.public));
        let key = self
            .hs
            .peer_key
            .as_ref()
            .ok_or(DtlsError::UnexpectedMessage("no certificate"))?;
        key.verify(ske.signature.scheme, &signed, &ske.signature.signature)?;
        self.hs.peer_scheme = Some(ske.signature.scheme);
        self.hs.group = ske.group;
        self.generate_ephemeral()?;
        self.hs.peer_point = ske.public;
        Ok(())
    }

    fn client_flight5(&mut self, now: Instant) -> Res {
        self.flight.clear();
        let cert = Arc::clone(&self.config.certificate);
        if self.hs.certificate_requested {
            let mut body = Vec::new();
            CertificateMsg {
                chain: vec![cert.der().to_vec()],
            }
            .write(&mut body);
            self.add_message(0, msg_type::CERTIFICATE, &body);
        }
        let peer_point = std::mem::take(&mut self.hs.peer_point);
        let pms = self.agree(&peer_point)?;
        let mut body = Vec::new();
        ClientKeyExchange {
            public: self.hs.our_point.clone(),
        }
        .write(&mut body);
        self.add_message(0, msg_type::CLIENT_KEY_EXCHANGE, &body);
        self.derive_keys(&pms)?;
        if self.hs.certificate_requested {
            let signature = cert.sign(&self.hs.transcript)?;
            let mut body = Vec::new();
            CertificateVerify {
                signature: Signature {
                    scheme: cert.scheme(),
                    signature,
                },
            }
            .write(&mut body);
            self.add_message(0, msg_type::CERTIFICATE_VERIFY, &body);
        }
        self.flight.push(FlightItem::ChangeCipherSpec);
        self.write_epoch = 1;
        let verify = self.finished_data(b"client finished");
        self.add_message(1, msg_type::FINISHED, &verify);
        self.start_flight(now, true);
        Ok(())
    }

    fn connected(&mut self) {
        self.state = State::Connected;
        self.handshake_complete = true;
        self.retransmit_at = None;
        let peer_certificate = self.hs.peer_certificate.take().unwrap_or_default();
        self.push_event(Event::Connected {
            cipher_suite: self.hs.suite.expect("negotiated"),
            srtp_profile: self.hs.srtp,
            peer_fingerprint: Fingerprint::of(HashAlgorithm::Sha256, &peer_certificate),
            peer_certificate,
        });
        for data in std::mem::take(&mut self.early_data) {
            self.push_event(Event::ApplicationData(data));
        }
        self.release_handshake();
    }

    /// Frees what only the handshake needed (a connection may stay idle for hours): the
    /// transcript, the key shares, the peer's key, the buffers of partial messages. Kept: the
    /// master secret (for the exporter) and the last flight (retransmitted when the peer repeats
    /// its own, RFC 6347 4.2.4).
    fn release_handshake(&mut self) {
        self.hs.transcript = Vec::new();
        self.hs.our_point = Vec::new();
        self.hs.peer_point = Vec::new();
        self.hs.peer_key = None;
        self.hs.ephemeral = None;
        self.reassembler.release();
        self.flight.shrink_to_fit();
        self.early_data = Vec::new();
        self.early_records = Vec::new();
    }

    fn ring_group(id: u16) -> Option<&'static agreement::Algorithm> {
        match id {
            group::X25519 => Some(&agreement::X25519),
            group::SECP256R1 => Some(&agreement::ECDH_P256),
            group::SECP384R1 => Some(&agreement::ECDH_P384),
            _ => None,
        }
    }

    fn generate_ephemeral(&mut self) -> Res {
        let alg = Self::ring_group(self.hs.group).ok_or(DtlsError::Invalid("named group"))?;
        let rng = ring::rand::SystemRandom::new();
        let key =
            EphemeralPrivateKey::generate(alg, &rng).map_err(|_| DtlsError::Crypto("ECDHE key"))?;
        self.hs.our_point = key
            .compute_public_key()
            .map_err(|_| DtlsError::Crypto("ECDHE key"))?
            .as_ref()
            .to_vec();
        self.hs.ephemeral = Some(key);
        Ok(())
    }

    fn agree(&mut self, peer_point: &[u8]) -> Res<Vec<u8>> {
        let alg = Self::ring_group(self.hs.group).ok_or(DtlsError::Invalid("named group"))?;
        let key = self
            .hs
            .ephemeral
            .take()
            .ok_or(DtlsError::UnexpectedMessage("key exchange"))?;
        agreement::agree_ephemeral(key, &UnparsedPublicKey::new(alg, peer_point), |s| {
            s.to_vec()
        })
        .map_err(|_| DtlsError::Invalid("ECDHE public key"))
    }

    /// Master secret with EMS (RFC 7627: the session hash covers the transcript through
    /// ClientKeyExchange), then the epoch-1 record keys.
    fn derive_keys(&mut self, pms: &[u8]) -> Res {
        let suite = self.hs.suite.expect("negotiated");
        let hash = suite.hash();
        let session_hash = hash.digest(&self.hs.transcript);
        let mut master = vec![0u8; 48];
        prf(
            hash,
            pms,
            b"extended master secret",
            &session_hash,
            &mut master,
        );
        self.hs.master = master;
        let kb = key_block(
            suite,
            &self.hs.master,
            &self.hs.client_random,
            &self.hs.server_random,
        );
        let client = RecordCipher::new(suite.bulk(), &kb.client_key, &kb.client_iv)?;
        let server = RecordCipher::new(suite.bulk(), &kb.server_key, &kb.server_iv)?;
        let (write, read) = match self.role {
            Role::Client => (client, server),
            Role::Server => (server, client),
        };
        self.write_cipher = Some(write);
        self.read_cipher = Some(read);
        Ok(())
    }

    fn finished_data(&self, label: &[u8]) -> Vec<u8> {
        let hash = self.hs.suite.expect("negotiated").hash();
        let mut out = vec![0u8; 12];
        prf(
            hash,
            &self.hs.master,
            label,
            &hash.digest(&self.hs.transcript),
            &mut out,
        );
        out
    }

    fn check_finished(&self, label: &[u8], body: &[u8]) -> Res {
        let expected = self.finished_data(label);
        if crate::codec::ct_eq(&expected, body) {
            Ok(())
        } else {
            Err(DtlsError::BadFinished)
        }
    }

    // ----- server -----

    /// The cookie (RFC 6347 4.2.1): one random value per endpoint. An endpoint serves one
    /// peer, so the cookie proves only what it must (the client receives what we send to its
    /// address) and is not bound to the ClientHello's fields: a HelloVerifyRequest that a
    /// spoofed ClientHello drew from us still carries a cookie the real client can use, so a
    /// spoofer flooding us with ClientHellos in the real client's name cannot keep it from
    /// completing. No hashing per ClientHello either.
    fn cookie(&self) -> Vec<u8> {
        self.cookie_secret.to_vec()
    }

    /// Checks the cookie of a ClientHello (prefix); on a missing or wrong one, answers with a
    /// HelloVerifyRequest carrying the right cookie and returns false. Nothing else is checked
    /// here: before the cookie exchange, nothing fails the server.
    fn verify_cookie(
        &mut self,
        record: &RecordHeader,
        message_seq: u16,
        ch: &ClientHelloPrefix<'_>,
    ) -> bool {
        let cookie = self.cookie();
        if !ch.cookie.is_empty() && crate::codec::ct_eq(&cookie, ch.cookie) {
            return true;
        }
        let mut hvr = Vec::new();
        HelloVerifyRequest {
            version: DTLS_1_0,
            cookie,
        }
        .write(&mut hvr);
        let whole = fragment::whole_message(msg_type::HELLO_VERIFY_REQUEST, message_seq, &hvr);
        // The record sequence number of the ClientHello, and its record version (DTLS 1.0 or
        // 1.2, both allowed here by RFC 6347 4.1).
        let header = RecordHeader {
            content_type: ContentType::Handshake,
            epoch: 0,
            ..*record
        };
        let mut out = Vec::new();
        header.write(whole.len(), &mut out);
        out.extend_from_slice(&whole);
        self.transmits.push_back(out);
        self.hello_verify_sent = true;
        false
    }

    /// A ClientHello fragment before any state exists. A whole ClientHello is answered with a
    /// HelloVerifyRequest unless it carries our cookie, then starts the handshake (RFC 6347
    /// 4.2.1). A fragmented one (current browsers send one) is joined in one bounded buffer; its
    /// first fragment alone decides the cookie exchange, so a ClientHello without a valid cookie
    /// is answered at once and nothing of it is kept. Records may carry the DTLS 1.0 version.
    fn stateless_client_hello(
        &mut self,
        now: Instant,
        record: &RecordHeader,
        h: &HandshakeHeader,
        body: &[u8],
    ) -> Res {
        // Not a ClientHello, one over the size limit (checked before anything of it is parsed),
        // or a further one in a datagram a HelloVerifyRequest already answered (at most one
        // answer, and one cookie computation, per datagram).
        if h.msg_type != msg_type::CLIENT_HELLO
            || h.length as usize > self.config.max_handshake_message
            || self.hello_verify_sent
        {
            self.stats.dropped += 1;
            return Ok(());
        }
        if h.fragment_offset == 0 && h.fragment_length == h.length {
            return self.whole_client_hello(now, record, h.message_seq, body);
        }
        let id = (h.message_seq, h.length);
        if h.fragment_offset == 0 {
            // The prefix may not fit a tiny first fragment: then the whole message decides.
            if let Ok(prefix) = ClientHelloPrefix::parse(body) {
                if !self.verify_cookie(record, h.message_seq, &prefix) {
                    self.hello.discard(h.message_seq, h.length);
                    self.hello_answered = Some(id);
                    return Ok(());
                }
            }
        } else if self.hello_answered == Some(id) {
            self.stats.dropped += 1;
            return Ok(());
        }
        match self.hello.insert(h, body) {
            Ok(Some(whole)) => self.whole_client_hello(now, record, h.message_seq, &whole),
            Ok(None) => Ok(()),
            Err(()) => {
                self.stats.dropped += 1;
                Ok(())
            }
        }
    }

    fn whole_client_hello(
        &mut self,
        now: Instant,
        record: &RecordHeader,
        message_seq: u16,
        body: &[u8],
    ) -> Res {
        // The cookie first: a ClientHello without a valid one is answered from its first
        // fields, and the rest of it (extensions) is never parsed.
        let Ok(prefix) = ClientHelloPrefix::parse(body) else {
            self.stats.malformed += 1;
            return Ok(());
        };
        if !self.verify_cookie(record, message_seq, &prefix) {
            return Ok(());
        }
        let Ok(ch) = ClientHello::parse(body) else {
            self.stats.malformed += 1;
            return Ok(());
        };
        // The cookie exchange is done: from here a bad ClientHello ends the handshake.
        // DTLS versions count down: 0xFEFD (1.2) < 0xFEFF (1.0).
        if ch.version > DTLS_1_2 {
            return Err(DtlsError::UnsupportedVersion(ch.version));
        }
        // Our HelloVerifyRequests reused the client's record numbers, which a client's epoch-0
        // replay window remembers: continue from this ClientHello's number rather than 0, or the
        // first records of the flight are dropped as replays and the handshake waits for a
        // retransmission (seen with NSS in Firefox).
        self.write_seq[0] = self.write_seq[0].max(record.sequence);
        self.hello.clear();
        self.hello_answered = None;
        self.server_flight4(now, &ch, message_seq, body)
    }

    fn server_flight4(&mut self, now: Instant, ch: &ClientHello, seq: u16, ch_body: &[u8]) -> Res {
        let cert = Arc::clone(&self.config.certificate);
        let suite = self
            .config
            .cipher_suites
            .iter()
            .copied()
            .find(|s| s.is_ecdsa() && ch.cipher_suites.contains(&s.id()))
            .ok_or(DtlsError::NoCommon("cipher suite"))?;
        let e = &ch.extensions;
        if !e.extended_master_secret && self.config.require_extended_master_secret {
            return Err(DtlsError::NoExtendedMasterSecret);
        }
        if e.renegotiation_info.as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(DtlsError::Invalid("renegotiation_info"));
        }
        if e.signature_algorithms
            .as_ref()
            .is_some_and(|l| !l.contains(&cert.scheme()))
        {
            return Err(DtlsError::NoCommon("signature scheme"));
        }
        let groups = e
            .supported_groups
            .clone()
            .unwrap_or_else(|| vec![group::SECP256R1]);
        self.hs.group = [group::X25519, group::SECP256R1, group::SECP384R1]
            .into_iter()
            .find(|g| groups.contains(g))
            .ok_or(DtlsError::NoCommon("named group"))?;
        let offered_srtp = e.srtp_profiles.clone().unwrap_or_default();
        self.hs.srtp = self
            .config
            .srtp_profiles
            .iter()
            .copied()
            .find(|p| offered_srtp.contains(&p.id()));
        let secure_reneg = e.renegotiation_info.is_some() || ch.cipher_suites.contains(&0x00FF);

        self.hs.suite = Some(suite);
        self.hs.extended_master_secret = e.extended_master_secret;
        self.hs.client_random = ch.random;
        self.rng.fill(&mut self.hs.server_random);
        self.hs.transcript.clear();
        self.record_message(msg_type::CLIENT_HELLO, seq, ch_body);
        self.reassembler.reset(seq.wrapping_add(1));
        self.next_send_seq = seq;
        self.flight.clear();

        let sh = ServerHello {
            version: DTLS_1_2,
            random: self.hs.server_random,
            session_id: Vec::new(),
            cipher_suite: suite.id(),
            compression_method: 0,
            extensions: Extensions {
                srtp_profiles: self.hs.srtp.map(|p| vec![p.id()]),
                srtp_mki: Vec::new(),
                extended_master_secret: e.extended_master_secret,
                renegotiation_info: secure_reneg.then(Vec::new),
                supported_groups: None,
                ec_point_formats: e.ec_point_formats.as_ref().map(|_| vec![0]),
                signature_algorithms: None,
            },
        };
        let mut body = Vec::new();
        sh.write(&mut body);
        self.add_message(0, msg_type::SERVER_HELLO, &body);

        let mut body = Vec::new();
        CertificateMsg {
            chain: vec![cert.der().to_vec()],
        }
        .write(&mut body);
        self.add_message(0, msg_type::CERTIFICATE, &body);

        self.generate_ephemeral()?;
        let params = ServerKeyExchange::params(self.hs.group, &self.hs.our_point);
        let mut signed = Vec::with_capacity(64 + params.len());
        signed.extend_from_slice(&self.hs.client_random);
        signed.extend_from_slice(&self.hs.server_random);
        signed.extend_from_slice(&params);
        let signature = Signature {
            scheme: cert.scheme(),
            signature: cert.sign(&signed)?,
        };
        let mut body = Vec::new();
        ServerKeyExchange {
            group: self.hs.group,
            public: self.hs.our_point.clone(),
            signature,
        }
        .write(&mut body);
        self.add_message(0, msg_type::SERVER_KEY_EXCHANGE, &body);

        if self.config.require_client_certificate {
            let mut body = Vec::new();
            CertificateRequest {
                certificate_types: vec![64, 1],
                signature_algorithms: sig::VERIFY.to_vec(),
            }
            .write(&mut body);
            self.add_message(0, msg_type::CERTIFICATE_REQUEST, &body);
        }
        self.add_message(0, msg_type::SERVER_HELLO_DONE, &[]);
        self.state = if self.config.require_client_certificate {
            State::ServerWaitCertificate
        } else {
            State::ServerWaitKeyExchange
        };
        self.start_flight(now, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::TestRng;

    /// A client and a server with fresh certificates and seeded randomness; `adjust` changes
    /// the client's configuration.
    /// Each expects the other's certificate fingerprint.
    fn pair(seeds: (u64, u64), adjust: impl FnOnce(&mut Config)) -> (Endpoint, Endpoint) {
        let cc = Arc::new(Certificate::generate().unwrap());
        let sc = Arc::new(Certificate::generate().unwrap());
        let mut c = Config::new(cc.clone());
        c.remote_fingerprints = vec![sc.fingerprint(HashAlgorithm::Sha256)];
        adjust(&mut c);
        let mut s = Config::new(sc);
        s.remote_fingerprints = vec![cc.fingerprint(HashAlgorithm::Sha256)];
        (
            Endpoint::client(c, Box::new(TestRng::new(seeds.0))),
            Endpoint::server(s, Box::new(TestRng::new(seeds.1))),
        )
    }

    fn connected_pair() -> (Endpoint, Endpoint) {
        let (mut client, mut server) = pair((1, 2), |_| {});
        let now = Instant::now();
        client.connect(now);
        for _ in 0..10 {
            while let Some(d) = client.poll_transmit() {
                server.handle_receive(now, &d);
            }
            while let Some(d) = server.poll_transmit() {
                client.handle_receive(now, &d);
            }
        }
        assert!(client.is_connected() && server.is_connected());
        while client.poll_event().is_some() {}
        while server.poll_event().is_some() {}
        (client, server)
    }

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
    fn renegotiation_is_refused_with_no_renegotiation() {
        let (mut client, mut server) = connected_pair();
        let now = Instant::now();
        // The client starts a new handshake inside the encrypted epoch.
        let mut body = Vec::new();
        ClientHello {
            version: DTLS_1_2,
            random: [1; 32],
            session_id: Vec::new(),
            cookie: Vec::new(),
            cipher_suites: vec![CipherSuite::EcdheEcdsaAes128GcmSha256.id()],
            compression_methods: vec![0],
            extensions: Extensions::default(),
        }
        .write(&mut body);
        client.flight.clear();
        client.add_message(1, msg_type::CLIENT_HELLO, &body);
        client.transmit_flight();
        let d = client.poll_transmit().unwrap();
        server.handle_receive(now, &d);
        let alert = server.poll_transmit().expect("server answers");
        client.handle_receive(now, &alert);
        let no_reneg = Alert {
            level: 1,
            description: AlertDescription::NO_RENEGOTIATION,
        };
        assert_eq!(client.poll_event(), Some(Event::AlertReceived(no_reneg)));
        assert!(
            server.is_connected() && client.is_connected(),
            "a warning keeps the connection"
        );
        // A server's HelloRequest gets the same answer from the client.
        server.flight.clear();
        server.add_message(1, msg_type::HELLO_REQUEST, &[]);
        server.transmit_flight();
        let d = server.poll_transmit().unwrap();
        client.handle_receive(now, &d);
        let alert = client.poll_transmit().expect("client answers");
        server.handle_receive(now, &alert);
        assert_eq!(server.poll_event(), Some(Event::AlertReceived(no_reneg)));
    }

    /// Rewrites the record version of every epoch-0 record of a datagram to DTLS 1.0, as
    /// browsers and OpenSSL send their ClientHello.
    fn as_dtls10(mut d: Vec<u8>) -> Vec<u8> {
        let mut at = 0;
        while at + record::HEADER_LEN <= d.len() {
            if d[at + 3..at + 5] == [0, 0] {
                d[at + 1..at + 3].copy_from_slice(&DTLS_1_0.to_be_bytes());
            }
            at += record::HEADER_LEN + usize::from(u16::from_be_bytes([d[at + 11], d[at + 12]]));
        }
        d
    }

    /// The (msg_type, offset, fragment length) of every handshake fragment in a datagram.
    fn fragments_in(d: &[u8]) -> Vec<(u8, u32, u32)> {
        let mut out = Vec::new();
        for rec in record::parse_datagram(d) {
            let rec = rec.unwrap();
            if rec.header.content_type == ContentType::Handshake && rec.header.epoch == 0 {
                let mut r = Reader::new(rec.fragment);
                while r.remaining() > 0 {
                    let (h, _) = HandshakeHeader::parse(&mut r).unwrap();
                    out.push((h.msg_type, h.fragment_offset, h.fragment_length));
                }
            }
        }
        out
    }

    /// One epoch-0 record per `piece`-byte fragment of a whole handshake message.
    fn split(whole: &[u8], piece: usize, first_seq: u64) -> Vec<Vec<u8>> {
        fragment::fragments(whole, fragment::HEADER_LEN + piece)
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let mut d = Vec::new();
                RecordHeader {
                    content_type: ContentType::Handshake,
                    version: DTLS_1_0,
                    epoch: 0,
                    sequence: first_seq + i as u64,
                }
                .write(f.len(), &mut d);
                d.extend_from_slice(&f);
                d
            })
            .collect()
    }

    fn drain(ep: &mut Endpoint) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| ep.poll_transmit()).collect()
    }

    fn finish(client: &mut Endpoint, server: &mut Endpoint, now: Instant) {
        for _ in 0..10 {
            for d in drain(client) {
                server.handle_receive(now, &d);
            }
            for d in drain(server) {
                client.handle_receive(now, &d);
            }
        }
        assert!(client.is_connected() && server.is_connected());
        assert_eq!(
            client.export_keying_material("EXTRACTOR-dtls_srtp", 60),
            server.export_keying_material("EXTRACTOR-dtls_srtp", 60)
        );
    }

    fn small_mtu_pair() -> (Endpoint, Endpoint) {
        pair((1, 2), |c| c.mtu = 89) // 64 body bytes per fragment
    }

    #[test]
    fn fragmented_client_hello_is_answered_from_its_first_fragment() {
        let (mut client, mut server) = small_mtu_pair();
        let now = Instant::now();
        client.connect(now);
        let flight1: Vec<Vec<u8>> = drain(&mut client).into_iter().map(as_dtls10).collect();
        assert!(flight1.len() >= 2, "the ClientHello is fragmented");
        assert_eq!(
            fragments_in(&flight1[0])[0],
            (msg_type::CLIENT_HELLO, 0, 64)
        );

        // The first fragment alone (no cookie) gets the HelloVerifyRequest; nothing is kept.
        server.handle_receive(now, &flight1[0]);
        let hvr = drain(&mut server);
        assert_eq!(hvr.len(), 1);
        assert_eq!(
            fragments_in(&hvr[0]),
            [(msg_type::HELLO_VERIFY_REQUEST, 0, 35)]
        );
        assert_eq!(
            &hvr[0][1..3],
            &DTLS_1_0.to_be_bytes(),
            "record version echoed"
        );
        assert_eq!(&hvr[0][5..11], &flight1[0][5..11], "record sequence echoed");
        assert_eq!(server.hello.held(), 0);
        let dropped = server.stats().dropped;
        for d in &flight1[1..] {
            server.handle_receive(now, d);
        }
        assert!(drain(&mut server).is_empty(), "one answer per ClientHello");
        assert_eq!(
            server.hello.held(),
            0,
            "the rest of an answered hello is not held"
        );
        assert_eq!(server.stats().dropped, dropped + flight1.len() as u64 - 1);
        assert_eq!(server.state, State::ServerWaitHello);
        assert!(server.hs.ephemeral.is_none() && server.hs.transcript.is_empty());

        // The ClientHello with the cookie: its first fragment is too short to hold the cookie,
        // so it is joined first. Delivered backwards, duplicated, in DTLS 1.0 records.
        client.handle_receive(now, &hvr[0]);
        let flight3: Vec<Vec<u8>> = drain(&mut client).into_iter().map(as_dtls10).collect();
        assert!(flight3.len() >= 3);
        for (i, d) in flight3.iter().enumerate().rev() {
            server.handle_receive(now, d);
            if i > 0 {
                server.handle_receive(now, d);
                assert!(drain(&mut server).is_empty(), "incomplete: no answer yet");
                assert!(server.hello.held() > 0);
            }
        }
        assert_eq!(server.hello.held(), 0);
        assert_eq!(server.state, State::ServerWaitCertificate);
        let flight4 = drain(&mut server);
        assert_eq!(fragments_in(&flight4[0])[0].0, msg_type::SERVER_HELLO);
        for d in flight4 {
            client.handle_receive(now, &d);
        }
        finish(&mut client, &mut server, now);
    }

    #[test]
    fn client_hello_with_a_tiny_first_fragment_is_joined_then_checked() {
        let (mut client, mut server) = small_mtu_pair();
        let now = Instant::now();
        client.connect(now);
        drain(&mut client);
        let FlightItem::Handshake { whole, .. } = &client.flight[0] else {
            panic!("ClientHello");
        };
        // 20-byte fragments: the first ends inside the random, so no cookie can be read early.
        let pieces = split(whole, 20, 0);
        for d in &pieces[..pieces.len() - 1] {
            server.handle_receive(now, d);
            assert!(drain(&mut server).is_empty());
        }
        server.handle_receive(now, &pieces[pieces.len() - 1]);
        let hvr = drain(&mut server);
        assert_eq!(
            fragments_in(&hvr[0]),
            [(msg_type::HELLO_VERIFY_REQUEST, 0, 35)]
        );
        assert_eq!(server.hello.held(), 0);
        assert_eq!(server.state, State::ServerWaitHello);
        client.handle_receive(now, &hvr[0]);
        finish(&mut client, &mut server, now);
    }

    #[test]
    fn dtls10_record_version_on_a_whole_client_hello() {
        let (mut client, mut server) = pair((3, 4), |_| {});
        let now = Instant::now();
        client.connect(now);
        for _ in 0..2 {
            let d = drain(&mut client);
            assert_eq!(d.len(), 1);
            assert_eq!(fragments_in(&d[0]).len(), 1, "unfragmented");
            server.handle_receive(now, &as_dtls10(d[0].clone()));
            for d in drain(&mut server) {
                client.handle_receive(now, &d);
            }
        }
        assert_eq!(server.state, State::ServerWaitCertificate);
        finish(&mut client, &mut server, now);
    }

    #[test]
    fn oversized_fragmented_client_hello_is_dropped() {
        let mut s = Config::new(Arc::new(Certificate::generate().unwrap()));
        s.max_handshake_message = 100;
        let mut server = Endpoint::server(s, Box::new(TestRng::new(4)));
        let msg = whole_client_hello_with_cookie(&[7; 200]);
        assert!(msg.len() > 100 + fragment::HEADER_LEN);
        let now = Instant::now();
        // Skip the first fragment (which could be checked at once): the rest is not held.
        for d in &split(&msg, 40, 0)[1..] {
            server.handle_receive(now, d);
        }
        assert_eq!(server.hello.held(), 0);
        assert!(server.stats().dropped > 0);
        assert!(drain(&mut server).is_empty());
    }

    /// A whole ClientHello message (header and body) with `cookie`.
    fn whole_client_hello_with_cookie(cookie: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        ClientHello {
            version: DTLS_1_2,
            random: [1; 32],
            session_id: Vec::new(),
            cookie: cookie.to_vec(),
            cipher_suites: vec![CipherSuite::EcdheEcdsaAes128GcmSha256.id()],
            compression_methods: vec![0],
            extensions: Extensions::default(),
        }
        .write(&mut body);
        fragment::whole_message(msg_type::CLIENT_HELLO, 0, &body)
    }

    #[test]
    fn handshake_state_is_released_once_connected() {
        let (mut client, mut server) = pair((1, 2), |_| {});
        let now = Instant::now();
        client.connect(now);
        let mut client_flights = Vec::new();
        for _ in 0..10 {
            while let Some(d) = client.poll_transmit() {
                client_flights.push(d.clone());
                server.handle_receive(now, &d);
            }
            while let Some(d) = server.poll_transmit() {
                client.handle_receive(now, &d);
            }
        }
        assert!(client.is_connected() && server.is_connected());
        for e in [&client, &server] {
            assert_eq!(e.hs.transcript.capacity(), 0);
            assert!(e.hs.our_point.capacity() == 0 && e.hs.peer_point.capacity() == 0);
            assert!(e.hs.peer_key.is_none() && e.hs.peer_certificate.is_none());
        }
        // The peer certificate went out in the event.
        assert!(matches!(
            client.poll_event(),
            Some(Event::Connected { peer_certificate, .. }) if !peer_certificate.is_empty()
        ));
        // Keys still export identically on both sides.
        let label = "EXTRACTOR-dtls_srtp";
        assert_eq!(
            client.export_keying_material(label, 60).unwrap(),
            server.export_keying_material(label, 60).unwrap()
        );
        // The client's final flight arriving again (our last flight was lost) is still answered
        // with the server's last flight, which the client accepts as a repeat.
        let last = client_flights.last().unwrap().clone();
        let later = now + Duration::from_secs(1);
        server.handle_receive(later, &last);
        let repeat = server
            .poll_transmit()
            .expect("server repeats its last flight");
        client.handle_receive(later, &repeat);
        assert!(client.is_connected() && server.is_connected());
        // Application data still flows both ways.
        client.send_application_data(b"ping").unwrap();
        while let Some(d) = client.poll_transmit() {
            server.handle_receive(later, &d);
        }
        while let Some(e) = server.poll_event() {
            if let Event::ApplicationData(d) = e {
                assert_eq!(d, b"ping");
                return;
            }
        }
        panic!("no application data");
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
    fn plaintext_alert_after_handshake_is_ignored() {
        let (mut client, _server) = connected_pair();
        let mut d = Vec::new();
        RecordHeader {
            content_type: ContentType::Alert,
            version: DTLS_1_2,
            epoch: 0,
            sequence: 99,
        }
        .write(2, &mut d);
        d.extend_from_slice(&[2, 40]);
        client.handle_receive(Instant::now(), &d);
        assert!(client.is_connected());
        assert_eq!(client.poll_event(), None);
    }

    #[test]
    fn client_gives_up_after_max_retransmissions() {
        let mut c = Config::new(Arc::new(Certificate::generate().unwrap()));
        c.max_retransmissions = 3;
        let mut client = Endpoint::client(c, Box::new(TestRng::new(1)));
        let start = Instant::now();
        client.connect(start);
        let mut intervals = Vec::new();
        let mut last = start;
        while let Some(t) = client.poll_timeout() {
            intervals.push(t - last);
            last = t;
            client.handle_timeout(t);
        }
        assert_eq!(intervals, [1, 2, 4, 8].map(Duration::from_secs));
        assert!(matches!(
            client.poll_event(),
            Some(Event::Failed(DtlsError::HandshakeTimeout))
        ));
        assert_eq!(
            client.export_keying_material("EXTRACTOR-dtls_srtp", 60),
            Err(DtlsError::NotConnected)
        );
    }

    /// A whole ClientHello (without cookie, `extra` bytes of padding extension) in an epoch-0
    /// record.
    fn client_hello_datagram(message_seq: u16, extra: usize) -> Vec<u8> {
        let mut body = Vec::new();
        ClientHello {
            version: DTLS_1_2,
            random: [3; 32],
            session_id: Vec::new(),
            cookie: Vec::new(),
            cipher_suites: vec![CipherSuite::EcdheEcdsaAes128GcmSha256.id()],
            compression_methods: vec![0],
            extensions: Extensions::default(),
        }
        .write(&mut body);
        if extra > 0 {
            // One unknown extension (type 0x7777) of `extra - 4` bytes.
            body.extend_from_slice(&(extra as u16).to_be_bytes());
            body.extend_from_slice(&[0x77, 0x77]);
            body.extend_from_slice(&((extra - 4) as u16).to_be_bytes());
            body.resize(body.len() + extra - 4, 0);
        }
        let whole = fragment::whole_message(msg_type::CLIENT_HELLO, message_seq, &body);
        let mut d = Vec::new();
        RecordHeader {
            content_type: ContentType::Handshake,
            version: DTLS_1_2,
            epoch: 0,
            sequence: u64::from(message_seq),
        }
        .write(whole.len(), &mut d);
        d.extend_from_slice(&whole);
        d
    }

    fn server() -> Endpoint {
        Endpoint::server(
            Config::new(Arc::new(Certificate::generate().unwrap())),
            Box::new(TestRng::new(8)),
        )
    }

    #[test]
    fn one_hello_verify_request_per_datagram() {
        let mut server = server();
        let d: Vec<u8> = (0..50).flat_map(|i| client_hello_datagram(i, 0)).collect();
        assert!(d.len() < 5000);
        server.handle_receive(Instant::now(), &d);
        let out = drain(&mut server);
        assert_eq!(out.len(), 1, "one HelloVerifyRequest for 50 ClientHellos");
        assert_eq!(fragments_in(&out[0]).len(), 1);
        assert_eq!(server.stats().dropped, 49);
        // The next datagram gets its own answer.
        server.handle_receive(Instant::now(), &client_hello_datagram(0, 0));
        assert_eq!(drain(&mut server).len(), 1);
    }

    #[test]
    fn client_hello_over_the_size_limit_is_dropped_before_parsing() {
        let mut s = Config::new(Arc::new(Certificate::generate().unwrap()));
        s.max_handshake_message = 1000;
        let mut server = Endpoint::server(s, Box::new(TestRng::new(4)));
        let now = Instant::now();
        server.handle_receive(now, &client_hello_datagram(0, 5000));
        assert!(drain(&mut server).is_empty(), "no answer, nothing parsed");
        assert_eq!(server.stats().dropped, 1);
        // Within the limit: answered.
        server.handle_receive(now, &client_hello_datagram(0, 500));
        assert_eq!(drain(&mut server).len(), 1);
    }

    /// An epoch-1 record sealed with `from`'s keys, whatever its length.
    fn sealed(from: &mut Endpoint, ct: ContentType, plaintext: &[u8]) -> Vec<u8> {
        let header = RecordHeader {
            content_type: ct,
            version: DTLS_1_2,
            epoch: 1,
            sequence: from.write_seq[1],
        };
        from.write_seq[1] += 1;
        let mut out = Vec::new();
        from.write_cipher
            .as_ref()
            .unwrap()
            .seal(&header, plaintext, &mut out);
        out
    }

    #[test]
    fn records_over_the_rfc_size_limits_are_dropped() {
        let (mut client, mut server) = connected_pair();
        let now = Instant::now();
        // 2^14 bytes of plaintext is the most a record may carry (RFC 5246 6.2.1).
        let max = sealed(&mut client, ContentType::ApplicationData, &[1; 16384]);
        server.handle_receive(now, &max);
        assert!(matches!(server.poll_event(), Some(Event::ApplicationData(d)) if d.len() == 16384));
        let over = sealed(&mut client, ContentType::ApplicationData, &[1; 16385]);
        server.handle_receive(now, &over);
        assert!(server.poll_event().is_none(), "2^14 + 1 bytes of plaintext");
        assert_eq!(server.stats().oversized_records, 1);
        // A ciphertext over 2^14 + 2048 bytes is dropped before it is decrypted.
        let huge = sealed(&mut client, ContentType::ApplicationData, &[1; 18_500]);
        server.handle_receive(now, &huge);
        assert!(server.poll_event().is_none());
        assert_eq!(server.stats().bad_mac, 0);
        assert_eq!(server.stats().oversized_records, 2);
        // A plaintext record over 2^14 bytes, in a handshake state.
        let mut server = server_after_cookie();
        let mut d = Vec::new();
        RecordHeader {
            content_type: ContentType::Handshake,
            version: DTLS_1_2,
            epoch: 0,
            sequence: 9,
        }
        .write(16385, &mut d);
        let mut body = Vec::new();
        HandshakeHeader {
            msg_type: msg_type::CERTIFICATE,
            length: 16385 - fragment::HEADER_LEN as u32,
            message_seq: 1,
            fragment_offset: 0,
            fragment_length: 16385 - fragment::HEADER_LEN as u32,
        }
        .write(&mut body);
        body.resize(16385, 0);
        d.extend_from_slice(&body);
        let held = server.reassembler.held();
        server.handle_receive(now, &d);
        assert_eq!(server.reassembler.held(), held, "not buffered");
        assert_eq!(server.stats().oversized_records, 1);
    }

    /// A server that completed the cookie exchange and sent flight 4.
    fn server_after_cookie() -> Endpoint {
        let (mut client, mut server) = pair((5, 6), |_| {});
        let now = Instant::now();
        client.connect(now);
        for _ in 0..2 {
            for d in drain(&mut client) {
                server.handle_receive(now, &d);
            }
            for d in drain(&mut server) {
                client.handle_receive(now, &d);
            }
        }
        assert_eq!(server.state, State::ServerWaitCertificate);
        server
    }

    #[test]
    fn records_waiting_for_keys_are_bounded_in_bytes() {
        // Epoch-1 records before the keys exist (anyone can send them) are held for reordering,
        // a few kilobytes at most.
        let mut server = server();
        let now = Instant::now();
        for i in 0..8u64 {
            let mut d = Vec::new();
            RecordHeader {
                content_type: ContentType::ApplicationData,
                version: DTLS_1_2,
                epoch: 1,
                sequence: i,
            }
            .write(16_000, &mut d);
            d.resize(d.len() + 16_000, 0);
            server.handle_receive(now, &d);
        }
        let held: usize = server.early_records.iter().map(|(_, r)| r.len()).sum();
        assert!(held <= 16 * 1024, "{held}");
        assert!(server.stats().dropped >= 7);
    }

    #[test]
    fn early_application_data_is_bounded_in_bytes() {
        // The server finished first; its application data reaches the client before the
        // server's Finished does, and is held only up to a bound in bytes.
        let (mut client, mut server) = pair((1, 2), |_| {});
        let now = Instant::now();
        client.connect(now);
        let mut flight6 = Vec::new();
        for _ in 0..4 {
            for d in drain(&mut client) {
                server.handle_receive(now, &d);
            }
            if server.is_connected() {
                flight6 = drain(&mut server);
                break;
            }
            for d in drain(&mut server) {
                client.handle_receive(now, &d);
            }
        }
        assert!(server.is_connected() && !client.is_connected());
        for _ in 0..10 {
            server.send_application_data(&[5; 16384]).unwrap();
            let d = server.poll_transmit().unwrap();
            client.handle_receive(now, &d);
        }
        let held: usize = client.early_data.iter().map(Vec::len).sum();
        assert!(held <= 16 * 1024, "{held}");
        for d in flight6 {
            client.handle_receive(now, &d);
        }
        assert!(client.is_connected());
        let data = std::iter::from_fn(|| client.poll_event())
            .filter(|e| matches!(e, Event::ApplicationData(_)))
            .count();
        assert_eq!(data, 1);
        assert_eq!(client.stats().dropped, 9);
    }
}
