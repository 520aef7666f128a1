//! The DTLS 1.3 (RFC 9147) connection an [`Endpoint`](super::Endpoint) hands over to once 1.3
//! is negotiated: records in epochs 0 / 2 / 3 (the [`crate::v13::record`] layer), flights cut
//! into fragments and retransmitted by ACK ([`crate::v13::flight`], [`crate::v13::ack`]) on a
//! back-off timer, the TLS 1.3 key schedule, application data, alerts and the exporter.
//! The role-specific handshake steps are in `client` and `server`.

mod client;
mod server;

use std::time::{Duration, Instant};

pub(super) use client::Offer13;

use super::{Config, Event, Role, Stats};
use crate::cert::{Fingerprint, HashAlgorithm, PeerKey};
use crate::cipher::SrtpProfile;
use crate::codec::Reader;
use crate::error::{Alert, AlertDescription, DtlsError};
use crate::fragment::{HandshakeHeader, Inserted, Message, Reassembler};
use crate::kx::KeyRandomness;
use crate::negotiated::{NamedGroup, ProtocolVersion, Suite};
use crate::rng::Rng;
use crate::v13::ack::{AckTracker, RecordNumber, parse_ack};
use crate::v13::flight::{Flight, OutMessage};
use crate::v13::key_schedule::{KeySchedule, Secret, Suite13};
use crate::v13::message::{self as m, hs};
use crate::v13::record::{
    self as rec, EpochKeys, HeaderForm, Record, RecvEpoch, RecvEpochs, Rejected, SendEpoch,
};
use server::{HrrDecision, client_hello_13};

type Res<T = ()> = Result<T, DtlsError>;

/// Record numbers kept for acknowledgement at most.
const MAX_ACKS: usize = 64;
/// The replay window of each epoch.
const WINDOW: usize = 64;

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// Client: ServerHello (or HelloRetryRequest) expected.
    WaitServerHello,
    /// Client: EncryptedExtensions expected.
    WaitEncryptedExtensions,
    /// Client: CertificateRequest or Certificate expected.
    WaitCertRequest,
    /// The peer's Certificate expected.
    WaitCertificate,
    /// The peer's CertificateVerify expected.
    WaitCertVerify,
    /// The peer's Finished expected.
    WaitFinished,
    /// Both Finished verified.
    Connected,
    /// Closed with close_notify.
    Closed,
    /// Failed.
    Failed,
}

/// A DTLS 1.3 connection (either role) from the first ServerHello / the ClientHello with our
/// cookie on.
#[derive(Clone)]
pub(super) struct Conn13 {
    role: Role,
    st: St,
    suite: Suite13,
    ks: KeySchedule,
    /// The negotiated group.
    pub(super) group: u16,
    /// The negotiated SRTP profile.
    pub(super) srtp: Option<SrtpProfile>,
    transcript: Vec<u8>,
    hs_secret: Option<Secret>,
    c_hs: Option<Secret>,
    s_hs: Option<Secret>,
    exporter: Option<Secret>,
    plain_seq: u64,
    /// Boxed (as `send_ap`): dropped once the handshake flights are done with.
    send_hs: Option<Box<SendEpoch>>,
    send_ap: Option<Box<SendEpoch>>,
    recv: RecvEpochs,
    next_msg_seq: u16,
    reassembler: Reassembler,
    flight: Option<Flight>,
    deadline: Option<Instant>,
    rto: Duration,
    retransmissions: u32,
    acks: AckTracker,
    /// A new flight went out while handling this datagram (an implicit acknowledgement).
    sent_flight: bool,
    peer_cert: Option<Vec<u8>>,
    peer_key: Option<PeerKey>,
    /// Client: the CertificateRequest context (a certificate was requested).
    cert_request: Option<Vec<u8>>,
    client: Option<Offer13>,
    /// Server: the client's application secret, installed once its Finished verified.
    pending_peer_ap: Option<Secret>,
    /// Datagrams to send.
    pub(super) out: Vec<Vec<u8>>,
    /// Events for the application.
    pub(super) events: Vec<Event>,
}

impl Conn13 {
    fn new(role: Role, suite: Suite13, config: &Config, next_recv: u16) -> Self {
        Self {
            role,
            st: St::WaitServerHello,
            suite,
            ks: KeySchedule::dtls13(suite.hash()),
            group: 0,
            srtp: None,
            transcript: Vec::new(),
            hs_secret: None,
            c_hs: None,
            s_hs: None,
            exporter: None,
            plain_seq: 0,
            send_hs: None,
            send_ap: None,
            recv: RecvEpochs::new(),
            next_msg_seq: 0,
            reassembler: Reassembler::new(
                next_recv,
                config.max_handshake_message,
                config.max_reassembly,
            ),
            flight: None,
            deadline: None,
            rto: config.initial_retransmit,
            retransmissions: 0,
            acks: AckTracker::new(MAX_ACKS),
            sent_flight: false,
            peer_cert: None,
            peer_key: None,
            cert_request: None,
            client: None,
            pending_peer_ap: None,
            out: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Whether the handshake completed and the connection is open.
    pub(super) fn is_connected(&self) -> bool {
        self.st == St::Connected
    }

    /// Whether the connection failed.
    pub(super) fn is_failed(&self) -> bool {
        self.st == St::Failed
    }

    /// Whether the connection ended.
    pub(super) fn is_closed(&self) -> bool {
        matches!(self.st, St::Closed | St::Failed)
    }

    /// Frees the (empty) output and event queues' room.
    pub(super) fn release_buffers(&mut self) {
        if self.out.is_empty() {
            self.out = Vec::new();
        }
        if self.events.is_empty() {
            self.events = Vec::new();
        }
    }

    /// The negotiated suite.
    pub(super) fn suite(&self) -> Suite13 {
        self.suite
    }

    /// When [`Conn13::handle_timeout`] must run next.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// A datagram from the peer.
    pub(super) fn receive(&mut self, now: Instant, datagram: &[u8], cx: &mut Cx<'_>) {
        if self.is_closed() {
            return;
        }
        self.sent_flight = false;
        let mut handshake = false;
        for r in rec::parse_datagram(datagram) {
            let r = match r {
                Ok(r) => r,
                Err(_) => {
                    cx.stats.malformed += 1;
                    break;
                }
            };
            let result = match r {
                Record::Plaintext(p) => match p.content_type {
                    rec::CT_HANDSHAKE if p.epoch == 0 => self.fragments(0, p.fragment, cx),
                    rec::CT_ALERT => {
                        cx.stats.unauthenticated_alerts += 1;
                        Ok(())
                    }
                    _ => {
                        cx.stats.dropped += 1;
                        Ok(())
                    }
                },
                Record::Ciphertext(c) => match self.recv.open_into(&c, cx.buffers.buffer()) {
                    Ok((epoch, opened)) => {
                        if opened.content_type == rec::CT_HANDSHAKE {
                            handshake = true;
                            self.acks.received(RecordNumber {
                                epoch,
                                sequence: opened.sequence,
                            });
                        }
                        self.protected(now, epoch, opened.content_type, opened.content, cx)
                    }
                    Err(e) => {
                        match e {
                            Rejected::Replay => cx.stats.replayed += 1,
                            Rejected::BadRecordMac => cx.stats.bad_mac += 1,
                            Rejected::WrongEpoch => cx.stats.dropped += 1,
                            Rejected::Malformed => cx.stats.malformed += 1,
                        }
                        Ok(())
                    }
                },
            };
            let result = result.and_then(|()| self.process(now, cx));
            if let Err(e) = result {
                self.fail(e);
            }
            if self.is_closed() {
                return;
            }
        }
        // Handshake records are acknowledged unless a new flight of ours just did it.
        if handshake && !self.sent_flight {
            self.send_ack();
        }
    }

    /// A protected record's content.
    fn protected(
        &mut self,
        now: Instant,
        epoch: u64,
        content_type: u8,
        content: Vec<u8>,
        cx: &mut Cx<'_>,
    ) -> Res {
        match content_type {
            rec::CT_HANDSHAKE => self.fragments(epoch as u16, &content, cx),
            rec::CT_ACK => {
                let numbers = parse_ack(&content)?;
                if let Some(f) = self.flight.as_mut() {
                    f.on_ack(&numbers);
                    if f.all_acked() {
                        self.deadline = None;
                        if self.st == St::Connected {
                            // The client's last flight arrived: nothing is sent in the
                            // handshake epoch any more, and the server, having our Finished,
                            // repeats nothing of its own.
                            self.flight = None;
                            self.send_hs = None;
                            self.recv.remove(rec::EPOCH_HANDSHAKE);
                        }
                    }
                }
                let _ = now;
                Ok(())
            }
            rec::CT_ALERT => {
                let [level, description] = content[..] else {
                    return Err(DtlsError::Invalid("alert"));
                };
                let alert = Alert {
                    level,
                    description: AlertDescription(description),
                };
                self.events.push(Event::AlertReceived(alert));
                if description == AlertDescription::CLOSE_NOTIFY.0 {
                    self.st = St::Closed;
                    self.deadline = None;
                    self.events.push(Event::Closed);
                } else if level == 2 {
                    self.st = St::Failed;
                    self.deadline = None;
                    self.events
                        .push(Event::Failed(DtlsError::PeerAlert(alert.description)));
                }
                Ok(())
            }
            rec::CT_APPLICATION_DATA if epoch >= rec::EPOCH_APPLICATION => {
                if self.st == St::Connected && self.events.len() < cx.config.max_queued {
                    self.events.push(Event::ApplicationData(content));
                } else {
                    cx.stats.dropped += 1;
                }
                Ok(())
            }
            _ => Err(DtlsError::UnexpectedMessage("record content type")),
        }
    }

    /// Handshake fragments of one record.
    fn fragments(&mut self, epoch: u16, content: &[u8], cx: &mut Cx<'_>) -> Res {
        let mut r = Reader::new(content);
        while r.remaining() > 0 {
            let Ok((h, body)) = HandshakeHeader::parse(&mut r) else {
                cx.stats.malformed += 1;
                return Ok(());
            };
            if let Inserted::Dropped = self.reassembler.insert(epoch, &h, body) {
                cx.stats.dropped += 1;
            }
        }
        Ok(())
    }

    /// Complete messages in order.
    fn process(&mut self, now: Instant, cx: &mut Cx<'_>) -> Res {
        while !self.is_closed() {
            let Some(msg) = self.reassembler.next_complete() else {
                break;
            };
            // Everything but the hellos must be protected; unauthenticated messages that are
            // unexpected or fail a check are dropped without using up their message_seq.
            let plaintext_ok = matches!(msg.msg_type, hs::SERVER_HELLO | hs::CLIENT_HELLO);
            if msg.epoch == 0 && !plaintext_ok {
                cx.stats.unexpected_handshake += 1;
                continue;
            }
            let taken = match self.role {
                Role::Client => self.client_message(now, &msg, cx),
                Role::Server => self.server_message(now, &msg, cx),
            };
            // A plaintext (unauthenticated) message failing a check does not end the handshake:
            // dropped without using up its message_seq (as in DTLS 1.2), the real one may follow.
            let taken = match taken {
                Err(_) if msg.epoch == 0 => {
                    cx.stats.malformed += 1;
                    continue;
                }
                other => other?,
            };
            if taken {
                self.reassembler.advance();
            } else {
                cx.stats.unexpected_handshake += 1;
                if msg.epoch != 0 {
                    return Err(DtlsError::UnexpectedMessage("handshake message"));
                }
            }
        }
        Ok(())
    }

    /// Call when the deadline passed: retransmits what the peer did not acknowledge.
    pub(super) fn handle_timeout(&mut self, now: Instant, cx: &mut Cx<'_>) {
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline || self.is_closed() {
            return;
        }
        if self.retransmissions >= cx.config.max_retransmissions {
            self.fail(DtlsError::HandshakeTimeout);
            return;
        }
        self.retransmissions += 1;
        cx.stats.retransmissions += 1;
        self.rto = (self.rto * 2).min(cx.config.max_retransmit);
        self.transmit(cx.config.mtu);
        self.deadline = Some(now + self.rto);
    }

    /// Makes `messages` (already in the transcript) our flight and sends them.
    fn send_flight(&mut self, now: Instant, messages: Vec<(u64, u8, Vec<u8>)>, cx: &Cx<'_>) {
        let mut out = Vec::with_capacity(messages.len());
        for (epoch, ty, body) in messages {
            out.push(OutMessage {
                msg_type: ty,
                message_seq: self.next_msg_seq,
                epoch,
                body,
            });
            self.next_msg_seq = self.next_msg_seq.wrapping_add(1);
        }
        // Room for the record header, the handshake header and the AEAD tag in each record.
        let max_fragment = cx.config.mtu.saturating_sub(64).max(64);
        self.flight = Some(Flight::new(out, max_fragment));
        self.rto = cx.config.initial_retransmit;
        self.retransmissions = 0;
        self.sent_flight = true;
        self.transmit(cx.config.mtu);
        self.deadline = Some(now + self.rto);
    }

    /// Sends the parts of the flight not yet acknowledged.
    fn transmit(&mut self, mtu: usize) {
        let Some(mut flight) = self.flight.take() else {
            return;
        };
        let plain_seq = &mut self.plain_seq;
        let send_hs = &mut self.send_hs;
        let datagrams = flight.transmit(mtu, &mut |epoch, content, out| {
            if epoch == 0 {
                let sequence = *plain_seq;
                rec::write_plaintext(rec::CT_HANDSHAKE, sequence, content, out);
                *plain_seq += 1;
                RecordNumber { epoch, sequence }
            } else {
                let sequence = send_hs
                    .as_mut()
                    .and_then(|s| s.seal(rec::CT_HANDSHAKE, content, HeaderForm::FULL, out))
                    .unwrap_or(u64::MAX);
                RecordNumber { epoch, sequence }
            }
        });
        self.out.extend(datagrams);
        self.flight = Some(flight);
    }

    /// Acknowledges the handshake records received, in the newest epoch we send in.
    fn send_ack(&mut self) {
        let Some(body) = self.acks.take_ack(64) else {
            return;
        };
        let mut d = Vec::new();
        let send = if self.send_ap.is_some() && self.st == St::Connected {
            self.send_ap.as_mut()
        } else {
            self.send_hs.as_mut()
        };
        if let Some(s) = send {
            if s.seal(rec::CT_ACK, &body, HeaderForm::FULL, &mut d)
                .is_some()
            {
                self.out.push(d);
            }
        }
    }

    /// Sends an alert in the newest epoch we have (plaintext before any).
    fn send_alert(&mut self, alert: Alert) {
        let body = [alert.level, alert.description.0];
        let mut d = Vec::new();
        if let Some(s) = self.send_ap.as_mut().or(self.send_hs.as_mut()) {
            let _ = s.seal(rec::CT_ALERT, &body, HeaderForm::FULL, &mut d);
        } else {
            rec::write_plaintext(rec::CT_ALERT, self.plain_seq, &body, &mut d);
            self.plain_seq += 1;
        }
        if !d.is_empty() {
            self.out.push(d);
        }
    }

    /// Ends the connection with `error`.
    pub(super) fn fail(&mut self, error: DtlsError) {
        if self.is_closed() {
            return;
        }
        self.send_alert(Alert::fatal(error.alert()));
        self.st = St::Failed;
        self.deadline = None;
        self.events.push(Event::Failed(error));
    }

    /// Closes with close_notify.
    pub(super) fn close(&mut self) {
        if self.is_closed() {
            return;
        }
        self.send_alert(Alert {
            level: 1,
            description: AlertDescription::CLOSE_NOTIFY,
        });
        self.st = St::Closed;
        self.deadline = None;
    }

    /// Seals application data as one epoch-3 record appended to `out`.
    pub(super) fn seal_application(&mut self, data: &[u8], out: &mut Vec<u8>) -> Res {
        if self.st != St::Connected {
            return Err(DtlsError::NotConnected);
        }
        if data.len() > rec::MAX_PLAINTEXT {
            return Err(DtlsError::Invalid("application data longer than a record"));
        }
        let s = self.send_ap.as_mut().ok_or(DtlsError::NotConnected)?;
        s.seal(rec::CT_APPLICATION_DATA, data, HeaderForm::FULL, out)
            .map(|_| ())
            .ok_or(DtlsError::Invalid(
                "record keys used up (KeyUpdate not implemented)",
            ))
    }

    /// The RFC 8446 7.5 exporter (empty context).
    pub(super) fn export(&self, label: &str, len: usize) -> Res<Vec<u8>> {
        let ems = self.exporter.as_ref().ok_or(DtlsError::NotConnected)?;
        if self.st != St::Connected && self.st != St::Closed {
            return Err(DtlsError::NotConnected);
        }
        Ok(self.ks.export(ems, label.as_bytes(), b"", len))
    }

    /// Traffic keys of `epoch` from `secret`.
    fn epoch_keys(&self, epoch: u64, secret: &Secret) -> Res<EpochKeys> {
        EpochKeys::new(self.suite, epoch, &self.ks.traffic_keys(self.suite, secret))
    }

    /// The handshake secrets from the shared secret and the transcript through ServerHello;
    /// installs epoch 2 both ways.
    fn handshake_keys(&mut self, shared: &Secret) -> Res {
        let hs_secret = self
            .ks
            .handshake_secret(&self.ks.early_secret(), shared.as_bytes());
        let th = self.suite.hash().digest(&self.transcript);
        let c = self.ks.client_handshake_traffic(&hs_secret, &th);
        let s = self.ks.server_handshake_traffic(&hs_secret, &th);
        let (mine, theirs) = match self.role {
            Role::Client => (&c, &s),
            Role::Server => (&s, &c),
        };
        self.send_hs = Some(Box::new(SendEpoch::new(
            self.epoch_keys(rec::EPOCH_HANDSHAKE, mine)?,
        )));
        self.recv.install(RecvEpoch::new(
            self.epoch_keys(rec::EPOCH_HANDSHAKE, theirs)?,
            WINDOW,
        ));
        self.hs_secret = Some(hs_secret);
        self.c_hs = Some(c);
        self.s_hs = Some(s);
        Ok(())
    }

    /// The application secrets and the exporter from the transcript through the server's
    /// Finished; our sending epoch 3 is ready (the receiving one is installed by the caller).
    fn application_keys(&mut self) -> Res<Secret> {
        let hs_secret = self.hs_secret.as_ref().ok_or(DtlsError::Invalid("state"))?;
        let master = self.ks.master_secret(hs_secret);
        let th = self.suite.hash().digest(&self.transcript);
        let c = self.ks.client_application_traffic(&master, &th);
        let s = self.ks.server_application_traffic(&master, &th);
        self.exporter = Some(self.ks.exporter_master(&master, &th));
        let (mine, theirs) = match self.role {
            Role::Client => (c, s),
            Role::Server => (s, c),
        };
        self.send_ap = Some(Box::new(SendEpoch::new(
            self.epoch_keys(rec::EPOCH_APPLICATION, &mine)?,
        )));
        Ok(theirs)
    }

    /// Installs the peer's epoch 3.
    fn install_peer_application(&mut self, secret: &Secret) -> Res {
        let keys = self.epoch_keys(rec::EPOCH_APPLICATION, secret)?;
        self.recv.install(RecvEpoch::new(keys, WINDOW));
        Ok(())
    }

    /// The transcript hash now.
    fn th(&self) -> Vec<u8> {
        self.suite.hash().digest(&self.transcript)
    }

    /// The peer's Certificate: the same checks as DTLS 1.2 (fingerprint from the SDP).
    fn peer_certificate(&mut self, msg: &Message, cx: &Cx<'_>) -> Res {
        let cert = m::Certificate13::parse(&msg.body)?;
        let leaf = cert
            .certificates
            .into_iter()
            .next()
            .ok_or(DtlsError::BadCertificate("no certificate"))?;
        self.peer_key = Some(super::common::check_peer_certificate(cx.config, &leaf)?);
        self.peer_cert = Some(leaf);
        m::transcript_message(msg.msg_type, &msg.body, &mut self.transcript);
        Ok(())
    }

    /// The peer's CertificateVerify over the transcript through its Certificate.
    fn peer_certificate_verify(&mut self, msg: &Message) -> Res {
        let cv = m::CertificateVerify::parse(&msg.body)?;
        let scheme = cv.signature.scheme;
        // TLS 1.3 signs with ECDSA or RSA-PSS, never PKCS#1 v1.5 (RFC 8446 4.4.3).
        if matches!(scheme, 0x0401 | 0x0501 | 0x0601) {
            return Err(DtlsError::Invalid("signature scheme"));
        }
        let content = m::certificate_verify_content(self.role == Role::Client, &self.th());
        let key = self.peer_key.as_ref().ok_or(DtlsError::Invalid("state"))?;
        key.verify(scheme, &content, &cv.signature.signature)
            .map_err(|_| DtlsError::BadSignature)?;
        m::transcript_message(msg.msg_type, &msg.body, &mut self.transcript);
        Ok(())
    }

    /// Our Certificate and CertificateVerify bodies (the transcript updated in between).
    fn own_certificate(&mut self, context: Vec<u8>, cx: &mut Cx<'_>) -> Res<[Vec<u8>; 2]> {
        let mut cert = Vec::new();
        m::Certificate13 {
            context,
            certificates: vec![cx.config.certificate.der().to_vec()],
        }
        .write(&mut cert);
        let mut t = self.transcript.clone();
        m::transcript_message(hs::CERTIFICATE, &cert, &mut t);
        let content =
            m::certificate_verify_content(self.role == Role::Server, &self.suite.hash().digest(&t));
        let signature = match cx.config.key_randomness {
            KeyRandomness::Injected => cx.config.certificate.sign_with_rng(&content, cx.rng)?,
            KeyRandomness::Fast => cx.config.certificate.sign(&content)?,
        };
        let mut cv = Vec::new();
        m::CertificateVerify {
            signature: crate::message::Signature {
                scheme: cx.config.certificate.scheme(),
                signature,
            },
        }
        .write(&mut cv);
        Ok([cert, cv])
    }

    /// Both Finished verified.
    fn connected(&mut self) {
        self.st = St::Connected;
        let peer_certificate = self.peer_cert.take().unwrap_or_default();
        self.events.push(Event::Connected {
            version: ProtocolVersion::Dtls13,
            cipher_suite: Suite::Dtls13(self.suite),
            group: NamedGroup::from_id(self.group),
            srtp_profile: self.srtp,
            peer_fingerprint: Fingerprint::of(HashAlgorithm::Sha256, &peer_certificate),
            peer_certificate,
        });
        self.transcript = Vec::new();
        self.peer_key = None;
        self.reassembler.release();
    }
}

/// What the endpoint lends a [`Conn13`] for a call.
pub(super) struct Cx<'a> {
    /// The configuration.
    pub(super) config: &'a Config,
    /// The injected generator.
    pub(super) rng: &'a mut dyn Rng,
    /// The endpoint's counters.
    pub(super) stats: &'a mut Stats,
    /// The endpoint's spare buffers: a record is opened into one (application data then goes
    /// out in it, and comes back through `Endpoint::poll_application_data`).
    pub(super) buffers: &'a mut super::buffers::Outbox,
}

/// The 1.3 suites we offer, in preference order.
pub(super) const SUITES: [Suite13; 3] = [
    Suite13::Aes128GcmSha256,
    Suite13::Aes256GcmSha384,
    Suite13::Chacha20Poly1305Sha256,
];

/// The signature_algorithms extension body we send in 1.3 (ECDSA P-256 first, RSA-PSS).
fn signature_algorithms_ext() -> Vec<u8> {
    let list = [0x0403u16, 0x0804, 0x0805];
    let mut out = Vec::new();
    out.extend_from_slice(&((list.len() * 2) as u16).to_be_bytes());
    for s in list {
        out.extend_from_slice(&s.to_be_bytes());
    }
    out
}

impl super::Endpoint {
    /// Runs `f` on the DTLS 1.3 connection with the endpoint's configuration, generator and
    /// counters, then takes its output.
    pub(super) fn with13(&mut self, f: impl FnOnce(&mut Conn13, &mut Cx<'_>)) {
        let Some(c) = self.tls13.as_mut() else {
            return;
        };
        let mut cx = Cx {
            config: &self.config,
            rng: &mut *self.rng,
            stats: &mut self.stats,
            buffers: &mut self.outbox,
        };
        f(c, &mut cx);
        self.drain13();
    }

    /// Moves the 1.3 connection's datagrams and events out and follows its state.
    fn drain13(&mut self) {
        let Some(c) = self.tls13.as_mut() else {
            return;
        };
        // Drained through buffers kept across calls: their room stays with the connection, so
        // passing application data through allocates nothing once they have grown.
        let mut out = std::mem::take(&mut c.out);
        let mut events = std::mem::take(&mut c.events);
        let state = if c.is_failed() {
            Some(super::State::Failed)
        } else if c.is_closed() {
            Some(super::State::Closed)
        } else if c.is_connected() {
            Some(super::State::Connected)
        } else {
            None
        };
        for d in out.drain(..) {
            self.outbox.push(d);
        }
        for e in events.drain(..) {
            self.push_event(e);
        }
        if let Some(c) = self.tls13.as_mut() {
            c.out = out;
            c.events = events;
        }
        if let Some(s) = state {
            if s == super::State::Connected {
                self.handshake_complete = true;
            }
            self.state = s;
        }
    }

    /// As a client that offered DTLS 1.3: the server's first message picks 1.3 (a ServerHello
    /// or HelloRetryRequest with supported_versions 1.3)? Then the 1.3 connection takes over.
    /// `None`: not a 1.3 answer (the DTLS 1.2 path goes on); otherwise what became of it (an
    /// unauthenticated ServerHello failing a check is dropped, not fatal).
    pub(super) fn takes_13(
        &mut self,
        now: Instant,
        msg: &Message,
    ) -> Option<super::handshake::Disposition> {
        use super::handshake::Disposition;
        let offer = self.offer13.as_ref()?;
        let sh = m::ServerHello::parse(&msg.body).ok()?;
        if sh.selected_version() != Ok(Some(crate::v13::DTLS_1_3)) {
            return None;
        }
        let offer = (**offer).clone();
        let plain_seq = self.records.next_sequence(0);
        let mut cx = Cx {
            config: &self.config,
            rng: &mut *self.rng,
            stats: &mut self.stats,
            buffers: &mut self.outbox,
        };
        let Ok(conn) = Conn13::client(now, offer, msg, plain_seq, &mut cx) else {
            return Some(Disposition::Malformed);
        };
        self.offer13 = None;
        self.tls13 = Some(Box::new(conn));
        self.flight.stop();
        self.drain13();
        Some(Disposition::Done)
    }

    /// As a server accepting DTLS 1.3: a whole ClientHello offering it. Returns false when it
    /// does not (the DTLS 1.2 path goes on).
    pub(super) fn server_hello_13(
        &mut self,
        now: Instant,
        record_seq: u64,
        message_seq: u16,
        body: &[u8],
    ) -> Res<bool> {
        let Ok(ch) = m::ClientHello::parse(body) else {
            return Ok(false);
        };
        if !ch
            .supported_versions()
            .is_ok_and(|v| v.contains(&crate::v13::DTLS_1_3))
        {
            return Ok(false);
        }
        let secret = self.stateless.cookie;
        let mut cx = Cx {
            config: &self.config,
            rng: &mut *self.rng,
            stats: &mut self.stats,
            buffers: &mut self.outbox,
        };
        match client_hello_13(now, &secret, record_seq, message_seq, body, &ch, &mut cx)? {
            HrrDecision::Retry(d) => {
                self.outbox.push(d);
                self.stateless.verify_sent = true;
            }
            HrrDecision::Accept(conn) => {
                self.tls13 = Some(conn);
                self.stateless.hello.clear();
                self.drain13();
            }
            HrrDecision::Drop => self.stats.dropped += 1,
        }
        Ok(true)
    }
}
