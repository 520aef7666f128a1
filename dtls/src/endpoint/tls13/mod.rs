//! The DTLS 1.3 (RFC 9147) connection an [`Endpoint`](super::Endpoint) hands over to once 1.3
//! is negotiated: records in epochs 0 / 2 / 3 (the [`crate::v13::record`] layer), flights cut
//! into fragments and retransmitted by ACK ([`crate::v13::flight`], [`crate::v13::ack`]) on a
//! back-off timer, the TLS 1.3 key schedule, application data, alerts and the exporter.
//! The role-specific handshake steps are in `client` and `server`.
//!
//! KeyUpdate (RFC 9147 8, RFC 8446 4.6.3), the same for both roles: we send one (asking the peer
//! to update too) once a sending key has protected [`Config::key_update_after`] records, or when
//! the application asks ([`Endpoint::update_keys`](super::Endpoint::update_keys)), or (without
//! asking back) to answer the peer's `update_requested`. It is a one-message flight in the
//! current epoch, retransmitted on the flight timer until acknowledged; only then do we switch to
//! the next sending epoch (application data goes on under the old keys meanwhile), and only one
//! is outstanding at a time. A KeyUpdate from the peer installs its next receive epoch; the
//! previous one stays for stragglers until a grace period after the first record of the new one
//! (and at most until the next update), older ones are removed.
//!
//! Other post-handshake messages: a server's NewSessionTicket (RFC 8446 4.6.1) is acknowledged
//! and ignored (we never resume sessions); anything else is a fatal unexpected_message.

mod client;
mod server;

use std::time::{Duration, Instant};

use client::HelloPhase;
pub(super) use client::Offer13;

use super::{Config, Event, Role, Stats};
use crate::cert::{Fingerprint, HashAlgorithm, PeerKey};
use crate::cipher::SrtpProfile;
use crate::codec::Reader;
use crate::error::{Alert, AlertDescription, DtlsError};
use crate::fragment::{HandshakeHeader, Inserted, Message, Reassembler};
use crate::kx::KeyRandomness;
use crate::message::sig;
use crate::negotiated::{NamedGroup, ProtocolVersion, Suite};
use crate::rng::Rng;
use crate::v13::ack::{AckTracker, RecordNumber, parse_ack};
use crate::v13::flight::{Flight, OutMessage};
use crate::v13::key_schedule::{KeySchedule, Secret, Suite13};
use crate::v13::message::{self as m, hs};
use crate::v13::record::{
    self as rec, CiphertextRecord, EpochKeys, HeaderForm, Record, RecvEpoch, RecvEpochs, Rejected,
    SendEpoch,
};
use server::{HrrDecision, client_hello_13};

type Res<T = ()> = Result<T, DtlsError>;

/// Record numbers kept for acknowledgement at most.
const MAX_ACKS: usize = 64;
/// The replay window of each epoch.
const WINDOW: usize = 64;
/// Sequence numbers of each sending key kept for handshake records, ACKs and alerts: application
/// data is refused this far from the key's limit, so that a KeyUpdate can still be retransmitted.
const CONTROL_RESERVE: u64 = 1024;
/// How long the peer's previous receive epoch stays after the first record of its next one, in
/// initial retransmission timeouts (reordered records of the old epoch still open meanwhile).
const OLD_EPOCH_GRACE_RTOS: u32 = 3;
/// The highest epoch we send in (RFC 9147 8: a sender must not let the epoch exceed 2^48 - 1;
/// a receiver does not enforce it).
const MAX_SEND_EPOCH: u64 = (1 << 48) - 1;
/// Protected records held at most while their keys do not exist yet (as in DTLS 1.2).
const MAX_HELD: usize = 8;

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
    /// Client: the hellos until a ServerHello is authenticated (see [`HelloPhase`]).
    hello: Option<Box<HelloPhase>>,
    /// Protected records that arrived before their keys (reordering), as received; bounded.
    held: Vec<Vec<u8>>,
    /// Keys were installed while handling this datagram: the held records are tried again.
    keys_changed: bool,
    /// Server: the client's application secret, installed once its Finished verified.
    pending_peer_ap: Option<Secret>,
    /// Our current application traffic secret (the next one is derived from it).
    send_ap_secret: Option<Secret>,
    /// The peer's newest application traffic secret and its epoch.
    recv_ap_secret: Option<Secret>,
    recv_ap_epoch: u64,
    /// The peer's previous application epoch, kept for reordered records, and when it goes
    /// (set by the first record of the newer epoch).
    old_recv: Option<(u64, Option<Instant>)>,
    /// Our KeyUpdate is the flight, waiting for its acknowledgement.
    key_update_outstanding: bool,
    /// A KeyUpdate to send as soon as none is outstanding, with its `update_requested`.
    key_update_wanted: Option<bool>,
    /// Records under one sending key after which we update it.
    key_update_after: u64,
    /// The latest time we were given (when an update falls due between calls, the deadline).
    last_now: Option<Instant>,
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
            ks: KeySchedule::dtls13(suite.hash(), config.crypto),
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
            hello: None,
            held: Vec::new(),
            keys_changed: false,
            pending_peer_ap: None,
            send_ap_secret: None,
            recv_ap_secret: None,
            recv_ap_epoch: rec::EPOCH_APPLICATION,
            old_recv: None,
            key_update_outstanding: false,
            key_update_wanted: None,
            key_update_after: {
                let limit = rec::record_limit(suite);
                let auto = limit - limit / 8;
                config.key_update_after.unwrap_or(auto).clamp(1, auto)
            },
            last_now: None,
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
        self.acks.release();
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

    /// When [`Conn13::handle_timeout`] must run next: the retransmission timer, or at once
    /// (the latest time we were given) when a KeyUpdate is due.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let due = if self.key_update_due() {
            self.last_now
        } else {
            None
        };
        match (self.deadline, due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Our sending application epoch and the peer's newest one (both 3 before any KeyUpdate).
    pub(super) fn epochs(&self) -> (u64, u64) {
        let send = self
            .send_ap
            .as_ref()
            .map_or(rec::EPOCH_APPLICATION, |s| s.keys().epoch());
        (send, self.recv_ap_epoch)
    }

    /// Whether our KeyUpdate waits for the peer's acknowledgement.
    pub(super) fn key_update_outstanding(&self) -> bool {
        self.key_update_outstanding
    }

    /// A datagram from the peer.
    pub(super) fn receive(&mut self, now: Instant, datagram: &[u8], cx: &mut Cx<'_>) {
        if self.is_closed() {
            return;
        }
        self.last_now = Some(now);
        self.expire_old_epoch(now);
        self.sent_flight = false;
        self.keys_changed = false;
        let mut handshake = false;
        for r in rec::parse_datagram(datagram) {
            let Ok(r) = r else {
                cx.stats.malformed += 1;
                break;
            };
            handshake |= self.record(now, r, cx);
            if self.is_closed() {
                return;
            }
        }
        handshake |= self.replay_held(now, cx);
        if self.is_closed() {
            return;
        }
        // Handshake records are acknowledged unless a new flight of ours just did it.
        if handshake && !self.sent_flight {
            self.send_ack();
        }
        self.start_key_update(now, cx);
    }

    /// One record; true when it was a protected handshake record (to acknowledge).
    fn record(&mut self, now: Instant, r: Record<'_>, cx: &mut Cx<'_>) -> bool {
        let mut handshake = false;
        let result = match r {
            Record::Plaintext(p) => match p.content_type {
                rec::CT_HANDSHAKE if p.epoch == 0 && self.hello.is_some() => {
                    self.hello_fragments(p.fragment, cx);
                    Ok(())
                }
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
            Record::Ciphertext(c) => {
                self.select_candidate(&c);
                match self.recv.open_into(&c, cx.buffers.buffer()) {
                    Ok((epoch, opened)) => {
                        self.opened_in(now, epoch, cx);
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
                            Rejected::WrongEpoch => self.hold(&c, cx),
                            Rejected::Malformed => cx.stats.malformed += 1,
                        }
                        Ok(())
                    }
                }
            }
        };
        let result = result.and_then(|()| self.process(now, cx));
        if let Err(e) = result {
            self.fail(e);
        }
        handshake
    }

    /// A protected record of an epoch whose keys we do not have (yet: the flight was reordered,
    /// or its ServerHello is not authenticated yet), held for when they are installed; bounded
    /// in records and bytes (anyone can send one), dropped past that or once connected.
    fn hold(&mut self, record: &CiphertextRecord<'_>, cx: &mut Cx<'_>) {
        let len = record.header.len() + record.encrypted.len();
        let held: usize = self.held.iter().map(Vec::len).sum();
        if self.st == St::Connected
            || self.held.len() >= MAX_HELD
            || held + len > cx.config.max_early_data
        {
            cx.stats.dropped += 1;
            return;
        }
        let mut raw = record.header.to_vec();
        raw.extend_from_slice(record.encrypted);
        self.held.push(raw);
    }

    /// The held records again after new keys (each pass may install more); true when one was
    /// a handshake record.
    fn replay_held(&mut self, now: Instant, cx: &mut Cx<'_>) -> bool {
        let mut handshake = false;
        // One pass per key installation at most: candidates or epoch 2, then epoch 3.
        for _ in 0..4 {
            if !std::mem::take(&mut self.keys_changed) || self.held.is_empty() {
                break;
            }
            for raw in std::mem::take(&mut self.held) {
                if self.is_closed() {
                    return handshake;
                }
                // One record as received; it parses as it did the first time.
                if let Some(Ok(r)) = rec::parse_datagram(&raw).next() {
                    handshake |= self.record(now, r, cx);
                }
            }
        }
        handshake
    }

    /// A record of `epoch` authenticated: the first one of the peer's newest application epoch
    /// starts the grace period of the previous one. The peer sends in epoch 4 only once its
    /// handshake flights were all acknowledged, so the handshake epoch can go then.
    fn opened_in(&mut self, now: Instant, epoch: u64, cx: &Cx<'_>) {
        if epoch != self.recv_ap_epoch {
            return;
        }
        if let Some((_, expires @ None)) = self.old_recv.as_mut() {
            *expires = Some(now + cx.config.initial_retransmit * OLD_EPOCH_GRACE_RTOS);
        }
        if epoch > rec::EPOCH_APPLICATION {
            self.recv.remove(rec::EPOCH_HANDSHAKE);
        }
    }

    /// Removes the peer's previous application epoch once its grace period is over.
    fn expire_old_epoch(&mut self, now: Instant) {
        if let Some((old, Some(expires))) = self.old_recv {
            if now >= expires {
                self.recv.remove(old);
                self.old_recv = None;
            }
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
                        if self.key_update_outstanding {
                            self.key_update_acknowledged()?;
                        } else if self.st == St::Connected {
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
        if self.hello.is_some() {
            self.hello_process(now, cx);
            return Ok(());
        }
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
            // KeyUpdate is the same for both roles (and protected: any error is fatal).
            if msg.msg_type == hs::KEY_UPDATE {
                self.key_update_received(&msg, cx)?;
                self.reassembler.advance();
                continue;
            }
            // A server may send a NewSessionTicket at any time after the handshake.
            if msg.msg_type == hs::NEW_SESSION_TICKET {
                self.new_session_ticket_received(&msg, cx)?;
                self.reassembler.advance();
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

    /// Call when the deadline passed: retransmits what the peer did not acknowledge, starts a
    /// KeyUpdate that fell due.
    pub(super) fn handle_timeout(&mut self, now: Instant, cx: &mut Cx<'_>) {
        if self.is_closed() {
            return;
        }
        self.last_now = Some(now);
        self.expire_old_epoch(now);
        self.retransmit(now, cx);
        self.start_key_update(now, cx);
    }

    /// Retransmits the flight if its timer expired.
    fn retransmit(&mut self, now: Instant, cx: &mut Cx<'_>) {
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline {
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
        self.start_flight(now, out, cx, true);
    }

    /// Makes `out` our flight, sent now if `transmit`, and starts its timer.
    fn start_flight(&mut self, now: Instant, out: Vec<OutMessage>, cx: &Cx<'_>, transmit: bool) {
        // Room for the record header, the handshake header and the AEAD tag in each record.
        let max_fragment = cx.config.mtu.saturating_sub(64).max(64);
        self.flight = Some(Flight::new(out, max_fragment));
        self.rto = cx.config.initial_retransmit;
        self.retransmissions = 0;
        if transmit {
            self.sent_flight = true;
            self.transmit(cx.config.mtu);
        }
        self.deadline = Some(now + self.rto);
    }

    /// Sends the parts of the flight not yet acknowledged.
    fn transmit(&mut self, mtu: usize) {
        let Some(mut flight) = self.flight.take() else {
            return;
        };
        let plain_seq = &mut self.plain_seq;
        let send_hs = &mut self.send_hs;
        let send_ap = &mut self.send_ap;
        let datagrams = flight.transmit(mtu, &mut |epoch, content, out| {
            if epoch == 0 {
                let sequence = *plain_seq;
                rec::write_plaintext(rec::CT_HANDSHAKE, sequence, content, out);
                *plain_seq += 1;
                RecordNumber { epoch, sequence }
            } else {
                // A KeyUpdate goes in our application epoch (not switched before its ACK).
                let send = if epoch >= rec::EPOCH_APPLICATION {
                    send_ap.as_mut()
                } else {
                    send_hs.as_mut()
                };
                let sequence = send
                    .filter(|s| s.keys().epoch() == epoch)
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
        // The last sequence numbers of a key are kept for the KeyUpdate and ACKs.
        if s.next_sequence().saturating_add(CONTROL_RESERVE) >= s.limit() {
            return Err(DtlsError::KeysExhausted);
        }
        s.seal(rec::CT_APPLICATION_DATA, data, HeaderForm::FULL, out)
            .map(|_| ())
            .ok_or(DtlsError::KeysExhausted)
    }

    /// The application asks for a KeyUpdate (with `update_requested`): sent now, or once the
    /// handshake's last flight is acknowledged; nothing more if ours is already outstanding.
    pub(super) fn update_keys(&mut self, now: Instant, cx: &mut Cx<'_>) -> Res {
        match self.st {
            St::Connected => {}
            St::Closed | St::Failed => return Err(DtlsError::Closed),
            _ => return Err(DtlsError::NotConnected),
        }
        self.last_now = Some(now);
        if !self.key_update_outstanding {
            self.key_update_wanted = Some(true);
        }
        self.start_key_update(now, cx);
        Ok(())
    }

    /// Whether a KeyUpdate of ours may start: connected, no flight waiting for an ACK (the
    /// handshake's last one or a KeyUpdate), and [`Conn13::key_update_within_limits`].
    fn key_update_possible(&self) -> bool {
        self.st == St::Connected
            && !self.key_update_outstanding
            && self.flight.as_ref().is_none_or(Flight::all_acked)
            && self.key_update_within_limits()
    }

    /// Whether one more KeyUpdate keeps our sending epoch within 2^48 - 1 (RFC 9147 8) and our
    /// message_seq from wrapping. Past them no update is sent (the peer's `update_requested`
    /// is then ignored, as RFC 9147 8 says) and the keys end at their record limit.
    fn key_update_within_limits(&self) -> bool {
        self.next_msg_seq < u16::MAX
            && self
                .send_ap
                .as_ref()
                .is_some_and(|s| s.keys().epoch() < MAX_SEND_EPOCH)
    }

    /// Whether a KeyUpdate should start now: possible, and asked for or the sending key's
    /// record count reached.
    fn key_update_due(&self) -> bool {
        self.key_update_possible()
            && (self.key_update_wanted.is_some()
                || self
                    .send_ap
                    .as_ref()
                    .is_some_and(|s| s.next_sequence() >= self.key_update_after))
    }

    /// Sends our KeyUpdate if one is due: a one-message flight in our current application
    /// epoch, retransmitted until acknowledged. It is no implicit acknowledgement of anything.
    fn start_key_update(&mut self, now: Instant, cx: &mut Cx<'_>) {
        if !self.key_update_due() {
            return;
        }
        let Some(epoch) = self.send_ap.as_ref().map(|s| s.keys().epoch()) else {
            return;
        };
        let update_requested = self.key_update_wanted.take().unwrap_or(true);
        let message = OutMessage {
            msg_type: hs::KEY_UPDATE,
            message_seq: self.next_msg_seq,
            epoch,
            body: m::KeyUpdate { update_requested }.to_body(),
        };
        self.next_msg_seq = self.next_msg_seq.wrapping_add(1);
        self.flight = Some(Flight::new(vec![message], cx.config.mtu.max(64)));
        self.key_update_outstanding = true;
        self.rto = cx.config.initial_retransmit;
        self.retransmissions = 0;
        cx.stats.key_updates_sent += 1;
        self.transmit(cx.config.mtu);
        self.deadline = Some(now + self.rto);
    }

    /// The peer acknowledged our KeyUpdate: we send with the next secret, in the next epoch.
    fn key_update_acknowledged(&mut self) -> Res {
        let secret = self
            .send_ap_secret
            .as_ref()
            .ok_or(DtlsError::Invalid("state"))?;
        let next = self.ks.next_traffic_secret(secret);
        let epoch = self
            .send_ap
            .as_ref()
            .map(|s| s.keys().epoch())
            .and_then(|e| e.checked_add(1))
            .ok_or(DtlsError::Invalid("state"))?;
        self.send_ap = Some(Box::new(SendEpoch::new(self.epoch_keys(epoch, &next)?)));
        self.send_ap_secret = Some(next);
        self.key_update_outstanding = false;
        self.flight = None;
        self.deadline = None;
        Ok(())
    }

    /// A KeyUpdate from the peer (authenticated): installs its next receive epoch, keeps the
    /// current one for stragglers (dropping the one before), and answers `update_requested`
    /// with our own update unless one is already outstanding (which updates our keys anyway).
    /// Before the handshake completed it is an unexpected_message; it must come in the peer's
    /// newest epoch.
    fn key_update_received(&mut self, msg: &Message, cx: &mut Cx<'_>) -> Res {
        if self.st != St::Connected {
            return Err(DtlsError::UnexpectedMessage(
                "KeyUpdate before the handshake completed",
            ));
        }
        let ku = m::KeyUpdate::parse(&msg.body)?;
        // The reassembler knows epochs by their low 16 bits.
        if u64::from(msg.epoch) != self.recv_ap_epoch & 0xFFFF {
            return Err(DtlsError::UnexpectedMessage(
                "KeyUpdate outside the newest epoch",
            ));
        }
        let epoch = self
            .recv_ap_epoch
            .checked_add(1)
            .ok_or(DtlsError::Invalid("epoch"))?;
        let secret = self
            .recv_ap_secret
            .as_ref()
            .ok_or(DtlsError::Invalid("state"))?;
        let next = self.ks.next_traffic_secret(secret);
        let keys = self.epoch_keys(epoch, &next)?;
        if let Some((older, _)) = self.old_recv.take() {
            self.recv.remove(older);
        }
        self.recv.install(RecvEpoch::new(keys, WINDOW));
        self.old_recv = Some((self.recv_ap_epoch, None));
        self.recv_ap_epoch = epoch;
        self.recv_ap_secret = Some(next);
        cx.stats.key_updates_received += 1;
        if ku.update_requested && !self.key_update_outstanding && self.key_update_within_limits() {
            self.key_update_wanted.get_or_insert(false);
        }
        Ok(())
    }

    /// A NewSessionTicket (authenticated) from the server after the handshake (RFC 8446 4.6.1):
    /// checked for structure and ignored (we never resume sessions); its record is
    /// acknowledged like any handshake record. From a client, before the handshake completed,
    /// or outside the server's current and previous application epochs it is a fatal
    /// unexpected_message; a malformed one a decode_error.
    fn new_session_ticket_received(&mut self, msg: &Message, cx: &mut Cx<'_>) -> Res {
        if self.role != Role::Client {
            return Err(DtlsError::UnexpectedMessage(
                "NewSessionTicket from a client",
            ));
        }
        if self.st != St::Connected {
            return Err(DtlsError::UnexpectedMessage(
                "NewSessionTicket before the handshake completed",
            ));
        }
        // The reassembler knows epochs by their low 16 bits.
        let epoch = u64::from(msg.epoch);
        let application = [Some(self.recv_ap_epoch), self.old_recv.map(|(e, _)| e)]
            .into_iter()
            .flatten()
            .any(|e| e & 0xFFFF == epoch);
        if !application {
            return Err(DtlsError::UnexpectedMessage(
                "NewSessionTicket outside an application epoch",
            ));
        }
        m::check_new_session_ticket(&msg.body)?;
        cx.stats.session_tickets_ignored += 1;
        Ok(())
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
        EpochKeys::new(
            self.suite,
            epoch,
            &self.ks.traffic_keys(self.suite, secret),
            self.ks.crypto,
        )
    }

    /// The handshake secrets from the shared secret and the transcript through ServerHello;
    /// installs epoch 2 both ways.
    fn handshake_keys(&mut self, shared: &Secret) -> Res {
        let hs_secret = self
            .ks
            .handshake_secret(&self.ks.early_secret(), shared.as_bytes());
        let th = self.suite.hash().digest(self.ks.crypto, &self.transcript);
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
        self.keys_changed = true;
        self.c_hs = Some(c);
        self.s_hs = Some(s);
        Ok(())
    }

    /// The application secrets and the exporter from the transcript through the server's
    /// Finished; our sending epoch 3 is ready (the receiving one is installed by the caller).
    fn application_keys(&mut self) -> Res<Secret> {
        let hs_secret = self.hs_secret.as_ref().ok_or(DtlsError::Invalid("state"))?;
        let master = self.ks.master_secret(hs_secret);
        let th = self.suite.hash().digest(self.ks.crypto, &self.transcript);
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
        self.send_ap_secret = Some(mine);
        Ok(theirs)
    }

    /// Installs the peer's epoch 3.
    fn install_peer_application(&mut self, secret: &Secret) -> Res {
        let keys = self.epoch_keys(rec::EPOCH_APPLICATION, secret)?;
        self.recv.install(RecvEpoch::new(keys, WINDOW));
        self.recv_ap_secret = Some(secret.clone());
        self.recv_ap_epoch = rec::EPOCH_APPLICATION;
        self.keys_changed = true;
        Ok(())
    }

    /// The transcript hash now.
    fn th(&self) -> Vec<u8> {
        self.suite.hash().digest(self.ks.crypto, &self.transcript)
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
        let key = self.peer_key.as_ref().ok_or(DtlsError::Invalid("state"))?;
        if !scheme_fits_key_13(scheme, key) {
            return Err(DtlsError::Invalid("signature scheme"));
        }
        let content = m::certificate_verify_content(self.role == Role::Client, &self.th());
        key.verify_with(self.ks.crypto, scheme, &content, &cv.signature.signature)
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
        let content = m::certificate_verify_content(
            self.role == Role::Server,
            &self.suite.hash().digest(self.ks.crypto, &t),
        );
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
        // The handshake secrets made both Finished and the application secrets; the epochs
        // they keyed keep their own keys.
        self.hs_secret = None;
        self.c_hs = None;
        self.s_hs = None;
        self.cert_request = None;
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

/// The signature schemes we accept in 1.3, in preference order: ECDSA (the curve named by the
/// scheme) and RSA-PSS, never PKCS#1 v1.5 (RFC 8446 4.2.3).
const SCHEMES_13: [u16; 5] = [
    sig::ECDSA_SECP256R1_SHA256,
    sig::ECDSA_SECP384R1_SHA384,
    sig::RSA_PSS_RSAE_SHA256,
    sig::RSA_PSS_RSAE_SHA384,
    sig::RSA_PSS_RSAE_SHA512,
];

/// Whether a peer's 1.3 CertificateVerify scheme is one we offered and fits its certificate's
/// key: in TLS 1.3 an ECDSA scheme names the curve, and an RSA key signs with RSA-PSS only
/// (RFC 8446 4.4.3); anything else is an illegal_parameter.
fn scheme_fits_key_13(scheme: u16, key: &PeerKey) -> bool {
    SCHEMES_13.contains(&scheme)
        && match key {
            PeerKey::EcdsaP256(_) => scheme == sig::ECDSA_SECP256R1_SHA256,
            PeerKey::EcdsaP384(_) => scheme == sig::ECDSA_SECP384R1_SHA384,
            PeerKey::Rsa(_) => (scheme >> 8) == 0x08,
        }
}

/// The signature_algorithms extension body we send in 1.3 ([`SCHEMES_13`]).
fn signature_algorithms_ext() -> Vec<u8> {
    let list = SCHEMES_13;
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
            if s == super::State::Connected && !self.handshake_complete {
                self.handshake_complete = true;
                // What the 1.2 layer held on the way in (a fragmented ClientHello joined by
                // its reassembler, the hello recorded for a 1.2 transcript) goes too, and so
                // does its flight: our ClientHello, which only a 1.2 handshake re-sends.
                self.release_handshake();
                self.flight.release();
                // The 1.2 handshake state (randoms, key share, transcript) is never used again.
                self.hs.free();
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
        let Some(secret) = self.stateless.as_ref().map(|s| s.cookie) else {
            return Ok(false);
        };
        let mut cx = Cx {
            config: &self.config,
            rng: &mut *self.rng,
            stats: &mut self.stats,
            buffers: &mut self.outbox,
        };
        match client_hello_13(now, &secret, record_seq, message_seq, body, &ch, &mut cx)? {
            HrrDecision::Retry(d) => {
                self.outbox.push(d);
                if let Some(s) = self.stateless.as_mut() {
                    s.verify_sent = true;
                }
            }
            HrrDecision::Accept(conn) => {
                self.tls13 = Some(conn);
                if let Some(s) = self.stateless.as_mut() {
                    s.hello.clear();
                }
                self.drain13();
            }
            HrrDecision::Drop => self.stats.dropped += 1,
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cert::Certificate;
    use crate::rng::TestRng;

    fn config() -> Config {
        Config::new(Arc::new(Certificate::generate().unwrap()))
    }

    /// A connection with application secrets on both sides, in `st`.
    fn conn(config: &Config, st: St) -> Conn13 {
        let suite = Suite13::Aes128GcmSha256;
        let mut c = Conn13::new(Role::Client, suite, config, 0);
        let mine = Secret::new(vec![1; 32]);
        let theirs = Secret::new(vec![2; 32]);
        c.send_ap = Some(Box::new(SendEpoch::new(
            c.epoch_keys(rec::EPOCH_APPLICATION, &mine).unwrap(),
        )));
        c.send_ap_secret = Some(mine);
        c.install_peer_application(&theirs).unwrap();
        c.st = st;
        c
    }

    /// Declares `$config` (a fresh [`config`]) and `$cx`, a context over it with its own stats
    /// (read them as `$cx.stats`) and a seeded generator.
    macro_rules! test_cx {
        ($config:ident, $cx:ident) => {
            let $config = config();
            let mut stats = Stats::default();
            let mut rng = TestRng::new(1);
            let mut buffers = crate::endpoint::buffers::Outbox::default();
            let mut $cx = Cx {
                config: &$config,
                rng: &mut rng,
                stats: &mut stats,
                buffers: &mut buffers,
            };
        };
    }

    fn key_update(epoch: u16, body: &[u8]) -> Message {
        Message {
            msg_type: hs::KEY_UPDATE,
            message_seq: 0,
            epoch,
            body: body.to_vec(),
        }
    }

    #[test]
    fn a_key_update_before_the_handshake_completes_is_an_unexpected_message() {
        test_cx!(config, cx);
        for st in [St::WaitCertificate, St::WaitFinished] {
            let mut c = conn(&config, st);
            let e = c
                .key_update_received(&key_update(2, &[1]), &mut cx)
                .unwrap_err();
            assert_eq!(e.alert(), AlertDescription::UNEXPECTED_MESSAGE, "{e:?}");
            assert_eq!(c.epochs(), (3, 3));
        }
    }

    #[test]
    fn malformed_or_misplaced_key_updates_are_fatal_with_the_rfc_alert() {
        test_cx!(config, cx);
        let cases: [(u16, &[u8], AlertDescription); 5] = [
            (3, &[], AlertDescription::DECODE_ERROR),
            (3, &[1, 0], AlertDescription::DECODE_ERROR),
            (3, &[2], AlertDescription::ILLEGAL_PARAMETER),
            // Not in the peer's newest epoch.
            (2, &[0], AlertDescription::UNEXPECTED_MESSAGE),
            (4, &[0], AlertDescription::UNEXPECTED_MESSAGE),
        ];
        for (epoch, body, alert) in cases {
            let mut c = conn(&config, St::Connected);
            let e = c
                .key_update_received(&key_update(epoch, body), &mut cx)
                .unwrap_err();
            assert_eq!(e.alert(), alert, "{epoch} {body:?}: {e:?}");
            assert_eq!(c.epochs(), (3, 3));
        }
        assert_eq!(cx.stats.key_updates_received, 0);
    }

    #[test]
    fn key_updates_move_the_receive_epoch_and_keep_one_previous() {
        test_cx!(config, cx);
        let mut c = conn(&config, St::Connected);
        for epoch in 3u16..12 {
            c.key_update_received(&key_update(epoch, &[0]), &mut cx)
                .unwrap();
            let newest = u64::from(epoch) + 1;
            assert_eq!(c.epochs(), (3, newest));
            assert!(c.recv.get(newest).is_some());
            assert!(c.recv.get(newest - 1).is_some(), "previous kept");
            if newest >= 5 {
                assert!(c.recv.get(newest - 2).is_none(), "older removed");
            }
            // update_not_requested: no answer wanted.
            assert_eq!(c.key_update_wanted, None);
        }
        assert_eq!(cx.stats.key_updates_received, 9);
        // update_requested: one answer, not requested back.
        c.key_update_received(&key_update(12, &[1]), &mut cx)
            .unwrap();
        assert_eq!(c.key_update_wanted, Some(false));
        // The receive secrets follow the key schedule.
        let ks = KeySchedule::dtls13(Suite13::Aes128GcmSha256.hash(), &sansrtc_core::crypto::RING);
        let mut s = Secret::new(vec![2; 32]);
        for _ in 0..10 {
            s = ks.next_traffic_secret(&s);
        }
        assert_eq!(c.recv_ap_secret, Some(s));
    }

    #[test]
    fn no_update_past_the_sending_epoch_limit() {
        test_cx!(config, cx);
        let now = Instant::now();
        let mut c = conn(&config, St::Connected);
        let secret = Secret::new(vec![1; 32]);
        c.send_ap = Some(Box::new(SendEpoch::new(
            c.epoch_keys(MAX_SEND_EPOCH - 1, &secret).unwrap(),
        )));
        // One more update is allowed: to 2^48 - 1.
        c.update_keys(now, &mut cx).unwrap();
        assert!(c.key_update_outstanding);
        c.key_update_acknowledged().unwrap();
        assert_eq!(c.epochs().0, MAX_SEND_EPOCH);
        // Then none: asked by the application or by the peer (ignored), nothing is sent.
        c.out.clear();
        c.update_keys(now, &mut cx).unwrap();
        c.key_update_received(&key_update(3, &[1]), &mut cx)
            .unwrap();
        assert_eq!(c.key_update_wanted, Some(true));
        assert!(!c.key_update_outstanding && c.out.is_empty());
        assert_eq!(c.deadline(), None);
        assert_eq!(c.epochs(), (MAX_SEND_EPOCH, 4));
        // A receiver does not enforce the limit.
        c.recv_ap_epoch = MAX_SEND_EPOCH;
        c.key_update_received(&key_update(0xFFFF, &[0]), &mut cx)
            .unwrap();
        assert_eq!(c.epochs().1, 1 << 48);
    }

    #[test]
    fn near_the_key_limit_data_stops_but_the_key_update_goes_out() {
        test_cx!(config, cx);
        let now = Instant::now();
        let mut c = conn(&config, St::Connected);
        c.last_now = Some(now);
        let keys = c.send_ap.as_ref().unwrap().keys().clone();
        let limit = rec::AES_GCM_CONFIDENTIALITY_LIMIT;
        c.send_ap = Some(Box::new(SendEpoch::starting_at(
            keys,
            limit - CONTROL_RESERVE - 1,
        )));
        // Past the automatic point (7/8 of the limit): an update is due at once.
        assert_eq!(c.deadline(), Some(now));
        let mut out = Vec::new();
        c.seal_application(b"last", &mut out).unwrap();
        assert_eq!(
            c.seal_application(b"one more", &mut out),
            Err(DtlsError::KeysExhausted)
        );
        // The KeyUpdate still goes out under the old keys, retransmitted until acknowledged.
        c.handle_timeout(now, &mut cx);
        assert!(c.key_update_outstanding);
        assert_eq!(c.out.len(), 1);
        assert_eq!(cx.stats.key_updates_sent, 1);
        let later = now + config.initial_retransmit;
        c.handle_timeout(later, &mut cx);
        assert_eq!(c.out.len(), 2);
        c.key_update_acknowledged().unwrap();
        assert_eq!(c.epochs().0, 4);
        c.seal_application(b"new keys", &mut out).unwrap();
        assert_eq!(c.deadline(), None);
    }

    #[test]
    fn the_automatic_update_point_is_below_the_key_limit() {
        let mut config = config();
        for (after, suite, expected) in [
            (None, Suite13::Aes128GcmSha256, (1 << 23) - (1 << 20)),
            (
                Some(1 << 40),
                Suite13::Aes256GcmSha384,
                (1 << 23) - (1 << 20),
            ),
            (Some(300), Suite13::Aes128GcmSha256, 300),
            (Some(0), Suite13::Aes128GcmSha256, 1),
            (
                None,
                Suite13::Chacha20Poly1305Sha256,
                rec::MAX_SEQUENCE - rec::MAX_SEQUENCE / 8,
            ),
        ] {
            config.key_update_after = after;
            let c = Conn13::new(Role::Server, suite, &config, 0);
            assert_eq!(c.key_update_after, expected, "{after:?} {suite:?}");
        }
    }

    /// The server half of [`conn`] (the secrets swapped), connected.
    fn server_of_conn(config: &Config) -> Conn13 {
        let mut s = Conn13::new(Role::Server, Suite13::Aes128GcmSha256, config, 0);
        let mine = Secret::new(vec![2; 32]);
        let theirs = Secret::new(vec![1; 32]);
        s.send_ap = Some(Box::new(SendEpoch::new(
            s.epoch_keys(rec::EPOCH_APPLICATION, &mine).unwrap(),
        )));
        s.send_ap_secret = Some(mine);
        s.install_peer_application(&theirs).unwrap();
        s.st = St::Connected;
        s
    }

    /// A NewSessionTicket body (RFC 8446 4.6.1) with an early_data extension.
    fn ticket() -> Vec<u8> {
        let mut b = vec![0, 0, 0x1C, 0x20, 1, 2, 3, 4, 8];
        b.extend_from_slice(&[7; 8]);
        b.extend_from_slice(&[0, 100]);
        b.extend_from_slice(&[9; 100]);
        b.extend_from_slice(&[0, 8, 0, 42, 0, 4, 0, 0, 0x40, 0]);
        b
    }

    /// Hands every datagram `from` has queued to `to`.
    fn deliver(from: &mut Conn13, to: &mut Conn13, now: Instant, cx: &mut Cx<'_>) -> usize {
        let out = std::mem::take(&mut from.out);
        for d in &out {
            to.receive(now, d, cx);
        }
        out.len()
    }

    #[test]
    fn a_new_session_ticket_after_the_handshake_is_acknowledged_and_ignored() {
        let config = config();
        let (mut client_stats, mut server_stats) = (Stats::default(), Stats::default());
        let (mut client_rng, mut server_rng) = (TestRng::new(1), TestRng::new(2));
        let mut buffers = crate::endpoint::buffers::Outbox::default();
        macro_rules! cx {
            ($rng:expr, $stats:expr) => {
                &mut Cx {
                    config: &config,
                    rng: &mut $rng,
                    stats: &mut $stats,
                    buffers: &mut buffers,
                }
            };
        }
        let now = Instant::now();
        let mut client = conn(&config, St::Connected);
        let mut server = server_of_conn(&config);
        // Two tickets in one flight (servers often send two), in the server's epoch 3.
        let flight = vec![
            (3, hs::NEW_SESSION_TICKET, ticket()),
            (3, hs::NEW_SESSION_TICKET, ticket()),
        ];
        server.send_flight(now, flight, &*cx!(server_rng, server_stats));
        assert_eq!(
            deliver(&mut server, &mut client, now, cx!(client_rng, client_stats)),
            1
        );
        assert!(client.is_connected(), "{:?}", client.events);
        assert!(client.events.is_empty(), "{:?}", client.events);
        assert_eq!(client_stats.session_tickets_ignored, 2);
        // The client's ACK completes the server's flight: no retransmission pending.
        assert_eq!(
            deliver(&mut client, &mut server, now, cx!(server_rng, server_stats)),
            1
        );
        assert!(server.flight.as_ref().is_none_or(Flight::all_acked));
        assert_eq!(server.deadline(), None);
        // The message sequence went on: a KeyUpdate after the tickets is taken, and a ticket
        // in the server's new epoch too.
        server
            .update_keys(now, cx!(server_rng, server_stats))
            .unwrap();
        for _ in 0..4 {
            deliver(&mut server, &mut client, now, cx!(client_rng, client_stats));
            deliver(&mut client, &mut server, now, cx!(server_rng, server_stats));
        }
        assert_eq!(client.epochs(), (4, 4));
        assert_eq!(server.epochs(), (4, 4));
        let flight = vec![(4, hs::NEW_SESSION_TICKET, ticket())];
        server.send_flight(now, flight, &*cx!(server_rng, server_stats));
        deliver(&mut server, &mut client, now, cx!(client_rng, client_stats));
        assert!(client.is_connected(), "{:?}", client.events);
        assert_eq!(client_stats.session_tickets_ignored, 3);
        assert_eq!(client_stats.key_updates_received, 1);
        assert_eq!(client_stats.key_updates_sent, 1);
        deliver(&mut client, &mut server, now, cx!(server_rng, server_stats));
        assert!(server.flight.as_ref().is_none_or(Flight::all_acked));
    }

    #[test]
    fn other_post_handshake_messages_and_misplaced_tickets_are_fatal() {
        test_cx!(config, cx);
        let now = Instant::now();
        let message = |msg_type, epoch, body: Vec<u8>| Message {
            msg_type,
            message_seq: 0,
            epoch,
            body,
        };
        // To the client in the wrong state or epoch, malformed: the RFC alert.
        let cases = [
            (
                St::WaitFinished,
                2,
                ticket(),
                AlertDescription::UNEXPECTED_MESSAGE,
            ),
            (
                St::Connected,
                2,
                ticket(),
                AlertDescription::UNEXPECTED_MESSAGE,
            ),
            (
                St::Connected,
                4,
                ticket(),
                AlertDescription::UNEXPECTED_MESSAGE,
            ),
            (
                St::Connected,
                3,
                ticket()[..20].to_vec(),
                AlertDescription::DECODE_ERROR,
            ),
            (St::Connected, 3, vec![], AlertDescription::DECODE_ERROR),
        ];
        for (st, epoch, body, alert) in cases {
            let mut c = conn(&config, st);
            let e = c
                .new_session_ticket_received(&message(hs::NEW_SESSION_TICKET, epoch, body), &mut cx)
                .unwrap_err();
            assert_eq!(e.alert(), alert, "{st:?} {epoch}: {e:?}");
        }
        // To a server: unexpected.
        let mut s = server_of_conn(&config);
        let e = s
            .new_session_ticket_received(&message(hs::NEW_SESSION_TICKET, 3, ticket()), &mut cx)
            .unwrap_err();
        assert_eq!(e.alert(), AlertDescription::UNEXPECTED_MESSAGE, "{e:?}");
        assert_eq!(cx.stats.session_tickets_ignored, 0);
        // Any other handshake message after the handshake, protected, ends the connection
        // with unexpected_message (through the record layer, both roles).
        for msg_type in [
            hs::CLIENT_HELLO,
            hs::SERVER_HELLO,
            hs::ENCRYPTED_EXTENSIONS,
            hs::CERTIFICATE,
            hs::CERTIFICATE_REQUEST,
            hs::CERTIFICATE_VERIFY,
            hs::FINISHED,
            99,
        ] {
            let mut client = conn(&config, St::Connected);
            let mut server = server_of_conn(&config);
            server.send_flight(now, vec![(3, msg_type, vec![0; 8])], &cx);
            deliver(&mut server, &mut client, now, &mut cx);
            assert!(
                matches!(
                    client.events[..],
                    [Event::Failed(DtlsError::UnexpectedMessage(_))]
                ),
                "{msg_type}: {:?}",
                client.events
            );
        }
        // And a ticket from the client to the server.
        let mut client = conn(&config, St::Connected);
        let mut server = server_of_conn(&config);
        client.send_flight(now, vec![(3, hs::NEW_SESSION_TICKET, ticket())], &cx);
        deliver(&mut client, &mut server, now, &mut cx);
        assert!(
            matches!(
                server.events[..],
                [Event::Failed(DtlsError::UnexpectedMessage(_))]
            ),
            "{:?}",
            server.events
        );
    }

    /// The peer's CertificateVerify with `scheme`, signed by `sign` over what a connection in
    /// `c`'s role expects, as a handshake message.
    fn certificate_verify(c: &Conn13, scheme: u16, sign: &dyn Fn(&[u8]) -> Vec<u8>) -> Message {
        let content = m::certificate_verify_content(c.role == Role::Client, &c.th());
        let mut body = Vec::new();
        m::CertificateVerify {
            signature: crate::message::Signature {
                scheme,
                signature: sign(&content),
            },
        }
        .write(&mut body);
        Message {
            msg_type: hs::CERTIFICATE_VERIFY,
            message_seq: 0,
            epoch: 2,
            body,
        }
    }

    /// DTLS 1.3 takes an RSA certificate's CertificateVerify in RSA-PSS (SHA-256, -384, -512)
    /// and refuses PKCS#1 v1.5 even when the signature is right; an ECDSA scheme must name the
    /// key's curve; a scheme we did not offer or that does not fit the key is an
    /// illegal_parameter, a wrong signature a decrypt_error (RFC 8446 4.4.3).
    #[test]
    fn certificate_verify_schemes_fit_the_key_and_rsa_signs_with_pss_only() {
        use ring::signature::{self as rs, KeyPair};
        // An RSA 2048 key generated by OpenSSL (`openssl genpkey -algorithm RSA`, DER RSAPrivateKey).
        let rsa = rs::RsaKeyPair::from_der(include_bytes!("testdata/rsa2048.der")).unwrap();
        let rsa_key = PeerKey::Rsa(rsa.public_key().as_ref().to_vec());
        let rsa = &rsa;
        let rsa_sign = |padding: &'static dyn rs::RsaEncoding| {
            move |msg: &[u8]| {
                let mut out = vec![0; rsa.public().modulus_len()];
                rsa.sign(padding, &ring::rand::SystemRandom::new(), msg, &mut out)
                    .unwrap();
                out
            }
        };
        let p256_sign = |alg: &'static rs::EcdsaSigningAlgorithm, pkcs8: &[u8]| {
            let rng = ring::rand::SystemRandom::new();
            let key = rs::EcdsaKeyPair::from_pkcs8(alg, pkcs8, &rng).unwrap();
            move |msg: &[u8]| key.sign(&rng, msg).unwrap().as_ref().to_vec()
        };
        let ec = Certificate::generate().unwrap();
        let ec_key = PeerKey::EcdsaP256(ec.public_key().to_vec());
        let ec_der = rcgen::KeyPair::from_pem(&ec.key_pem())
            .unwrap()
            .serialize_der();
        let config = config();
        let check = |key: &PeerKey, scheme: u16, sign: &dyn Fn(&[u8]) -> Vec<u8>| {
            let mut c = conn(&config, St::WaitCertVerify);
            c.peer_key = Some(key.clone());
            let msg = certificate_verify(&c, scheme, sign);
            c.peer_certificate_verify(&msg).map_err(|e| e.alert())
        };
        let ok: [(u16, &'static dyn rs::RsaEncoding); 3] = [
            (sig::RSA_PSS_RSAE_SHA256, &rs::RSA_PSS_SHA256),
            (sig::RSA_PSS_RSAE_SHA384, &rs::RSA_PSS_SHA384),
            (sig::RSA_PSS_RSAE_SHA512, &rs::RSA_PSS_SHA512),
        ];
        for (scheme, padding) in ok {
            assert_eq!(
                check(&rsa_key, scheme, &rsa_sign(padding)),
                Ok(()),
                "{scheme:#06x}"
            );
        }
        let illegal = AlertDescription::ILLEGAL_PARAMETER;
        for (scheme, padding) in [
            (sig::RSA_PKCS1_SHA256, &rs::RSA_PKCS1_SHA256),
            (sig::RSA_PKCS1_SHA384, &rs::RSA_PKCS1_SHA384),
        ] {
            assert_eq!(check(&rsa_key, scheme, &rsa_sign(padding)), Err(illegal));
        }
        // A PSS signature over other bytes.
        let wrong = rsa_sign(&rs::RSA_PSS_SHA256);
        assert_eq!(
            check(&rsa_key, sig::RSA_PSS_RSAE_SHA256, &|_: &[u8]| wrong(
                b"other"
            )),
            Err(AlertDescription::DECRYPT_ERROR)
        );
        // ECDSA: P-256 with SHA-256 only; never an RSA scheme for an EC key or the reverse.
        let sha256 = p256_sign(&rs::ECDSA_P256_SHA256_ASN1_SIGNING, &ec_der);
        assert_eq!(check(&ec_key, sig::ECDSA_SECP256R1_SHA256, &sha256), Ok(()));
        // (TLS 1.2 takes P-256 with SHA-384; 1.3 refuses it on the scheme alone.)
        assert_eq!(
            check(&ec_key, sig::ECDSA_SECP384R1_SHA384, &sha256),
            Err(illegal)
        );
        assert_eq!(
            check(
                &ec_key,
                sig::RSA_PSS_RSAE_SHA256,
                &rsa_sign(&rs::RSA_PSS_SHA256)
            ),
            Err(illegal)
        );
        assert_eq!(
            check(&rsa_key, sig::ECDSA_SECP256R1_SHA256, &sha256),
            Err(illegal)
        );
        // An unknown scheme.
        assert_eq!(
            check(&rsa_key, 0x0807, &rsa_sign(&rs::RSA_PSS_SHA256)),
            Err(illegal)
        );
    }
}
