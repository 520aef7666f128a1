//! The steps both roles share: output (alerts, events, flights), failing, the peer's
//! certificate, installing the keys, and finishing the handshake.

use std::time::Instant;

use super::{Endpoint, Event, Res, State};
use crate::cert::{Fingerprint, HashAlgorithm, PeerKey};
use crate::error::{Alert, DtlsError};
use crate::kx::KeyRandomness;
use crate::message::CertificateMsg;
use crate::negotiated::{NamedGroup, ProtocolVersion, Suite};
use crate::record::ContentType;

impl Endpoint {
    /// Queues an alert in the current write epoch.
    pub(super) fn send_alert(&mut self, alert: Alert) {
        let mut datagram = self.outbox.buffer();
        let epoch = self.records.write_epoch();
        self.records.seal(
            epoch,
            ContentType::Alert,
            &[alert.level, alert.description.0],
            &mut datagram,
        );
        self.outbox.push(datagram);
    }

    /// Ends the connection with `error`: its fatal alert goes out and the event is queued.
    pub(super) fn fail(&mut self, error: DtlsError) {
        if self.is_closed() {
            return;
        }
        self.send_alert(Alert::fatal(error.alert()));
        self.state = State::Failed;
        self.flight.stop();
        self.push_event(Event::Failed(error));
    }

    /// Queues an event (dropped past `max_queued`).
    pub(super) fn push_event(&mut self, e: Event) {
        if self.events.len() < self.config.max_queued {
            self.events.push_back(e);
        }
    }

    /// Adds one of our messages to the flight and the transcript.
    pub(super) fn add_message(&mut self, epoch: u16, ty: u8, body: &[u8]) {
        let whole = self.flight.add(epoch, ty, body);
        self.hs.transcript.extend_from_slice(whole);
    }

    /// Our ChangeCipherSpec joins the flight; what follows is protected.
    pub(super) fn change_cipher_spec(&mut self) {
        self.flight.push_change_cipher_spec();
        self.records.change_write_epoch();
    }

    /// The flight is complete: send it, and arm the timer if an answer is expected.
    pub(super) fn start_flight(&mut self, now: Instant, expects_reply: bool) {
        self.flight
            .start(now, expects_reply, self.config.initial_retransmit);
        self.transmit_flight();
    }

    /// Sends the flight (again).
    pub(super) fn transmit_flight(&mut self) {
        self.flight
            .transmit(&mut self.records, self.config.mtu, &mut self.outbox);
    }

    /// Checks the peer's certificate against the expected fingerprints and keeps its key.
    pub(super) fn peer_certificate(&mut self, msg: CertificateMsg) -> Res {
        let Some(leaf) = msg.chain.into_iter().next() else {
            return Err(DtlsError::BadCertificate("no certificate"));
        };
        self.hs.peer_key = Some(check_peer_certificate(&self.config, &leaf)?);
        self.hs.peer_certificate = Some(leaf);
        Ok(())
    }

    /// Makes our key share for the negotiated group.
    pub(super) fn generate_key_share(&mut self) -> Res {
        self.hs.generate_ephemeral(
            self.config.key_randomness,
            &mut *self.rng,
            self.config.crypto,
        )
    }

    /// Signs `msg` with our certificate's key, the nonce from `ring` (the operating system) or
    /// from the injected generator, as [`Config::key_randomness`](super::Config::key_randomness)
    /// says.
    pub(super) fn sign(&mut self, msg: &[u8]) -> Res<Vec<u8>> {
        match self.config.key_randomness {
            KeyRandomness::Injected => self.config.certificate.sign_with_rng(msg, &mut *self.rng),
            KeyRandomness::Fast => self.config.certificate.sign(msg),
        }
    }

    /// Derives the master secret and installs the epoch-1 ciphers.
    pub(super) fn install_keys(&mut self, pms: &[u8]) -> Res {
        let (write, read) = self.hs.derive_keys(self.role, pms, self.config.crypto)?;
        self.records.install(write, read);
        Ok(())
    }

    /// Both Finished messages verified.
    pub(super) fn connected(&mut self) {
        self.state = State::Connected;
        self.handshake_complete = true;
        self.flight.stop();
        let peer_certificate = self.hs.peer_certificate.take().unwrap_or_default();
        self.push_event(Event::Connected {
            version: ProtocolVersion::Dtls12,
            cipher_suite: Suite::Dtls12(self.hs.suite.expect("negotiated")),
            group: NamedGroup::from_id(self.hs.group),
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
    pub(super) fn release_handshake(&mut self) {
        self.stateless = None;
        self.hs.release();
        self.reassembler.release();
        self.flight.shrink();
        self.early_data = Vec::new();
        self.early_records = Vec::new();
    }
}

/// Checks the peer's leaf certificate against the expected fingerprints (both DTLS versions)
/// and returns its key.
pub(super) fn check_peer_certificate(config: &super::Config, leaf: &[u8]) -> Res<PeerKey> {
    let expected = &config.remote_fingerprints;
    if expected.is_empty() {
        if !config.insecure_accept_any_certificate {
            return Err(DtlsError::NoRemoteFingerprint);
        }
    } else if !expected.iter().any(|f| f.matches(leaf)) {
        return Err(DtlsError::FingerprintMismatch);
    }
    PeerKey::from_certificate(leaf)
}
