//! Errors and TLS alert codes.

/// A TLS alert description (RFC 5246 section 7.2, RFC 5746, RFC 6347).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlertDescription(pub u8);

impl AlertDescription {
    /// close_notify (0).
    pub const CLOSE_NOTIFY: Self = Self(0);
    /// unexpected_message (10).
    pub const UNEXPECTED_MESSAGE: Self = Self(10);
    /// bad_record_mac (20).
    pub const BAD_RECORD_MAC: Self = Self(20);
    /// handshake_failure (40).
    pub const HANDSHAKE_FAILURE: Self = Self(40);
    /// bad_certificate (42).
    pub const BAD_CERTIFICATE: Self = Self(42);
    /// unsupported_certificate (43).
    pub const UNSUPPORTED_CERTIFICATE: Self = Self(43);
    /// illegal_parameter (47).
    pub const ILLEGAL_PARAMETER: Self = Self(47);
    /// decode_error (50).
    pub const DECODE_ERROR: Self = Self(50);
    /// decrypt_error (51).
    pub const DECRYPT_ERROR: Self = Self(51);
    /// protocol_version (70).
    pub const PROTOCOL_VERSION: Self = Self(70);
    /// insufficient_security (71).
    pub const INSUFFICIENT_SECURITY: Self = Self(71);
    /// internal_error (80).
    pub const INTERNAL_ERROR: Self = Self(80);
    /// no_renegotiation (100).
    pub const NO_RENEGOTIATION: Self = Self(100);
}

/// A received or sent alert: its level (1 warning, 2 fatal) and description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    /// 1 = warning, 2 = fatal.
    pub level: u8,
    /// What the alert says.
    pub description: AlertDescription,
}

impl Alert {
    /// A fatal alert with this description.
    pub fn fatal(description: AlertDescription) -> Self {
        Self {
            level: 2,
            description,
        }
    }
    /// Whether this alert is fatal (or close_notify, which also ends the connection).
    pub fn ends_connection(&self) -> bool {
        self.level == 2 || self.description == AlertDescription::CLOSE_NOTIFY
    }
}

/// Everything that can go wrong while decoding or running DTLS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtlsError {
    /// A structure needed more bytes than were present.
    #[error("truncated: needed {needed} bytes, {available} available")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// Bytes left over after a structure that should have filled its container.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// A field held a value that is not allowed.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The peer speaks a protocol version other than DTLS 1.2.
    #[error("unsupported protocol version {0:#06x}")]
    UnsupportedVersion(u16),
    /// Record authentication failed.
    #[error("record authentication failed")]
    BadRecordMac,
    /// An output buffer was too small.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// No common cipher suite, group, signature scheme or SRTP profile.
    #[error("no common {0}")]
    NoCommon(&'static str),
    /// The peer's certificate did not match the expected fingerprint.
    #[error("peer certificate fingerprint does not match the expected one")]
    FingerprintMismatch,
    /// The peer sent a certificate but no fingerprint to check it against was configured (and
    /// `Config::insecure_accept_any_certificate` is not set): refused, never accepted.
    #[error("no remote fingerprint configured to check the peer certificate against")]
    NoRemoteFingerprint,
    /// The peer's certificate could not be parsed or uses an unsupported key.
    #[error("bad peer certificate: {0}")]
    BadCertificate(&'static str),
    /// A signature (ServerKeyExchange, CertificateVerify) did not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The peer's Finished message did not match.
    #[error("Finished verify_data mismatch")]
    BadFinished,
    /// The peer did not offer the extended master secret extension, which we require.
    #[error("peer does not support extended master secret")]
    NoExtendedMasterSecret,
    /// A message arrived that is not allowed in the current state.
    #[error("unexpected message: {0}")]
    UnexpectedMessage(&'static str),
    /// The peer sent a fatal alert.
    #[error("peer sent fatal alert {0:?}")]
    PeerAlert(AlertDescription),
    /// The handshake gave up after too many retransmissions.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The operation needs an established connection.
    #[error("connection not established")]
    NotConnected,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// A DTLS 1.2 ServerHello carried the RFC 8446 4.1.3 downgrade sentinel although we offered
    /// DTLS 1.3: someone removed 1.3 from our offer.
    #[error("downgrade to DTLS 1.2 detected")]
    Downgrade,
    /// DTLS 1.3: the sending keys may protect no more records and their KeyUpdate is still
    /// waiting for the peer's acknowledgement (RFC 9147 4.5.3, 8); retry once it arrives.
    #[error("sending keys used up, KeyUpdate not yet acknowledged")]
    KeysExhausted,
    /// The operation exists only in DTLS 1.3 (e.g. `Endpoint::update_keys` on a DTLS 1.2
    /// connection).
    #[error("operation needs DTLS 1.3")]
    NotDtls13,
    /// A key or certificate could not be created.
    #[error("crypto failure: {0}")]
    Crypto(&'static str),
}

impl DtlsError {
    /// The alert we send the peer when this error ends the handshake.
    pub fn alert(&self) -> AlertDescription {
        use AlertDescription as A;
        match self {
            Self::Truncated { .. } | Self::TrailingBytes(_) => A::DECODE_ERROR,
            Self::Invalid(_) | Self::Downgrade => A::ILLEGAL_PARAMETER,
            Self::UnsupportedVersion(_) => A::PROTOCOL_VERSION,
            Self::BadRecordMac => A::BAD_RECORD_MAC,
            Self::NoCommon(_) | Self::NoExtendedMasterSecret => A::HANDSHAKE_FAILURE,
            Self::FingerprintMismatch | Self::NoRemoteFingerprint | Self::BadCertificate(_) => {
                A::BAD_CERTIFICATE
            }
            Self::BadSignature | Self::BadFinished => A::DECRYPT_ERROR,
            Self::UnexpectedMessage(_) => A::UNEXPECTED_MESSAGE,
            _ => A::INTERNAL_ERROR,
        }
    }
}
