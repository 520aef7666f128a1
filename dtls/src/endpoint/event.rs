//! What an [`Endpoint`](super::Endpoint) tells the application: events and counters.

use crate::cert::Fingerprint;
use crate::cipher::{CipherSuite, SrtpProfile};
use crate::error::{Alert, DtlsError};

/// What the application learns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed. (More may be reported here later: match it with `..`.)
    #[non_exhaustive]
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
#[non_exhaustive]
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
    /// last one is kept for diagnostics ([`Endpoint::last_unauthenticated_alert`](super::Endpoint::last_unauthenticated_alert)).
    pub unauthenticated_alerts: u64,
    /// Unauthenticated (epoch-0) handshake messages dropped because the current state does not
    /// expect them (wrong type, out of order, a plaintext Finished, any after the handshake).
    pub unexpected_handshake: u64,
    /// Records over the RFC size limits dropped: a plaintext record over 2^14 bytes, a
    /// protected one over 2^14 + 2048 bytes or opening to more than 2^14 bytes.
    pub oversized_records: u64,
    /// DTLS 1.3 KeyUpdates we sent (each counted once, not per retransmission).
    pub key_updates_sent: u64,
    /// DTLS 1.3 KeyUpdates of the peer's we accepted (a new receive epoch each).
    pub key_updates_received: u64,
    /// DTLS 1.3 NewSessionTickets from the server, acknowledged and ignored (we never resume
    /// sessions).
    pub session_tickets_ignored: u64,
}
