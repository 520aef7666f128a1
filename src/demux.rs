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

/// Rewrites the record-layer version of plaintext (epoch 0) DTLS records from DTLS 1.0 (`FE FF`)
/// to DTLS 1.2 (`FE FD`); returns `None` when nothing needed changing.
///
/// Browsers (BoringSSL, as OpenSSL allows) send their first ClientHello in a record marked DTLS 1.0
/// for compatibility (RFC 6347 4.1 lets the record version of a ClientHello differ); the dtls crate
/// drops such records. The header of an epoch-0 record is covered by neither a MAC nor the
/// handshake transcript, so normalising it changes nothing else. Gap noted in the status file.
pub fn normalize_dtls10_records(datagram: &[u8]) -> Option<Vec<u8>> {
    let mut at = 0;
    let mut patched: Option<Vec<u8>> = None;
    while let Some(h) = datagram.get(at..at + 13) {
        let len = usize::from(u16::from_be_bytes([h[11], h[12]]));
        if h[1..3] == [0xFE, 0xFF] && h[3..5] == [0, 0] {
            let out = patched.get_or_insert_with(|| datagram.to_vec());
            out[at + 2] = 0xFD;
        }
        at += 13 + len;
    }
    patched
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtls10_client_hello_records_are_normalised() {
        let mut d = vec![22, 0xFE, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2];
        d.extend([22, 0xFE, 0xFD, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9]);
        let out = normalize_dtls10_records(&d).unwrap();
        assert_eq!(&out[1..3], &[0xFE, 0xFD]);
        assert_eq!(&out[15..], &d[15..]);
        assert_eq!(normalize_dtls10_records(&out), None);
        assert_eq!(normalize_dtls10_records(&[22, 0xFE]), None);
        // Epoch 1 records are left alone.
        let e1 = [23, 0xFE, 0xFF, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(normalize_dtls10_records(&e1), None);
    }

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
