//! SRTP and SRTCP protection for every WebRTC profile (RFC 3711, RFC 7714). Work in progress: see issue 3.
