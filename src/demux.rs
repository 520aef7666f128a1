//! RFC 7983 (section 7) demultiplexing of one UDP port by the first byte of a datagram.

/// What a datagram on the shared socket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// STUN (first byte 0-3).
    Stun,
    /// DTLS (20-63).
    Dtls,
    /// RTP (128-191, payload type not in the RTCP range).
    Rtp,
    /// RTCP (128-191, packet type 192-223, the RFC 5761 range).
    Rtcp,
    /// Anything else (ZRTP, TURN channel data, garbage): dropped.
    Unknown,
}

/// Classifies a datagram (RFC 7983 plus RFC 5761 section 4 for RTP versus RTCP).
pub fn classify(datagram: &[u8]) -> Kind {
    match datagram.first() {
        Some(0..=3) => Kind::Stun,
        Some(20..=63) => Kind::Dtls,
        Some(128..=191) => match datagram.get(1) {
            Some(192..=223) => Kind::Rtcp,
            Some(_) => Kind::Rtp,
            None => Kind::Unknown,
        },
        _ => Kind::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(classify(&[]), Kind::Unknown);
        assert_eq!(classify(&[0, 1]), Kind::Stun);
        assert_eq!(classify(&[3]), Kind::Stun);
        assert_eq!(classify(&[4]), Kind::Unknown);
        assert_eq!(classify(&[22, 254, 253]), Kind::Dtls);
        assert_eq!(classify(&[63]), Kind::Dtls);
        assert_eq!(classify(&[64]), Kind::Unknown);
        assert_eq!(classify(&[0x80, 96]), Kind::Rtp);
        assert_eq!(classify(&[0x80, 0x80 | 96]), Kind::Rtp);
        assert_eq!(classify(&[0x81, 200]), Kind::Rtcp);
        assert_eq!(classify(&[0x81, 206]), Kind::Rtcp);
        assert_eq!(classify(&[0x80]), Kind::Unknown);
        assert_eq!(classify(&[192, 0]), Kind::Unknown);
    }
}
