//! SCTP over DTLS and WebRTC data channels, sans-IO (RFC 9260, RFC 8831, RFC 8832). Work in progress: see issue 7.
