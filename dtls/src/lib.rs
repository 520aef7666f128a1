//! DTLS 1.2 client and server with DTLS-SRTP key export, sans-IO (RFC 6347, RFC 5764). Work in progress: see issue 6.
