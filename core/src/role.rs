//! The DTLS role, which also decides the SCTP data channel id parity (RFC 8832 6) and which
//! half of the DTLS-SRTP keying material protects what we send (RFC 5764 4.2).

/// Which side of the DTLS handshake this endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtlsRole {
    /// Sends the ClientHello (`a=setup:active` in SDP).
    Client,
    /// Answers it (`a=setup:passive`).
    Server,
}

impl DtlsRole {
    /// The other role.
    pub const fn other(self) -> DtlsRole {
        match self {
            DtlsRole::Client => DtlsRole::Server,
            DtlsRole::Server => DtlsRole::Client,
        }
    }

    /// Whether this is the client.
    pub const fn is_client(self) -> bool {
        matches!(self, DtlsRole::Client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_is_an_involution() {
        for r in [DtlsRole::Client, DtlsRole::Server] {
            assert_eq!(r.other().other(), r);
            assert_ne!(r.other(), r);
        }
        assert!(DtlsRole::Client.is_client());
    }
}
