//! The DTLS record layer framing (RFC 6347 section 4.1): headers, several records per datagram.
//! The anti-replay window is `sansrtc-core`'s [`ReplayWindow`].

use crate::codec::{Reader, put_u48};
use crate::error::DtlsError;

/// DTLS 1.2 on the wire.
pub const DTLS_1_2: u16 = 0xFEFD;
/// DTLS 1.0 on the wire (allowed in record headers of early messages).
pub const DTLS_1_0: u16 = 0xFEFF;
/// Bytes in a record header.
pub const HEADER_LEN: usize = 13;
/// The largest 48-bit sequence number.
pub const MAX_SEQ: u64 = (1 << 48) - 1;
/// The most plaintext one record may carry: 2^14 bytes (RFC 5246 6.2.1, RFC 6347 4.1).
pub const MAX_PLAINTEXT: usize = 1 << 14;
/// The most a protected record's fragment may hold: 2^14 + 2048 bytes (RFC 5246 6.2.3).
pub const MAX_CIPHERTEXT: usize = (1 << 14) + 2048;

/// The record content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentType {
    /// change_cipher_spec (20).
    ChangeCipherSpec,
    /// alert (21).
    Alert,
    /// handshake (22).
    Handshake,
    /// application_data (23).
    ApplicationData,
}

impl ContentType {
    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::ChangeCipherSpec => 20,
            Self::Alert => 21,
            Self::Handshake => 22,
            Self::ApplicationData => 23,
        }
    }
    /// From the wire value.
    pub fn from_u8(v: u8) -> Result<Self, DtlsError> {
        Ok(match v {
            20 => Self::ChangeCipherSpec,
            21 => Self::Alert,
            22 => Self::Handshake,
            23 => Self::ApplicationData,
            _ => return Err(DtlsError::Invalid("content type")),
        })
    }
}

/// A record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// What the record carries.
    pub content_type: ContentType,
    /// The protocol version field.
    pub version: u16,
    /// The epoch (bumped by every ChangeCipherSpec).
    pub epoch: u16,
    /// The 48-bit record sequence number within the epoch.
    pub sequence: u64,
}

impl RecordHeader {
    /// The 8-byte epoch || sequence used in nonces and additional data.
    pub fn seq64(&self) -> u64 {
        (u64::from(self.epoch) << 48) | self.sequence
    }

    /// Appends the header with this fragment length.
    pub fn write(&self, len: usize, out: &mut Vec<u8>) {
        out.push(self.content_type.to_u8());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        put_u48(out, self.sequence);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    }
}

/// One record of a datagram, borrowing its fragment.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The header.
    pub header: RecordHeader,
    /// The (possibly protected) fragment.
    pub fragment: &'a [u8],
}

/// Splits a datagram into records. Stops at the first malformed record (RFC 6347 4.1.2.7 lets
/// the rest of the datagram be discarded). Only the framing is checked: the receiver enforces
/// [`MAX_PLAINTEXT`] and [`MAX_CIPHERTEXT`] for the record's epoch.
pub fn parse_datagram(datagram: &[u8]) -> impl Iterator<Item = Result<Record<'_>, DtlsError>> {
    crate::codec::parse_until_error(datagram, parse_one)
}

fn parse_one<'a>(r: &mut Reader<'a>) -> Result<Record<'a>, DtlsError> {
    let content_type = ContentType::from_u8(r.u8()?)?;
    let version = r.u16()?;
    if version != DTLS_1_2 && version != DTLS_1_0 {
        return Err(DtlsError::UnsupportedVersion(version));
    }
    let epoch = r.u16()?;
    let sequence = r.u48()?;
    let fragment = r.vec16()?;
    Ok(Record {
        header: RecordHeader {
            content_type,
            version,
            epoch,
            sequence,
        },
        fragment,
    })
}

/// The anti-replay window (RFC 6347 4.1.2.6): `sansrtc-core`'s sliding window, one definition
/// for DTLS and SRTP. The endpoint keeps 64 records, checks a record before decrypting it and
/// accepts its number only once it authenticated.
pub use sansrtc_core::{ReplayWindow, WindowCheck};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_records_in_one_datagram() {
        let mut d = Vec::new();
        let h = RecordHeader {
            content_type: ContentType::Handshake,
            version: DTLS_1_2,
            epoch: 0,
            sequence: 5,
        };
        h.write(3, &mut d);
        d.extend_from_slice(&[1, 2, 3]);
        let h2 = RecordHeader {
            content_type: ContentType::ApplicationData,
            epoch: 1,
            sequence: MAX_SEQ,
            ..h
        };
        h2.write(1, &mut d);
        d.push(9);
        let recs: Vec<_> = parse_datagram(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].header, h);
        assert_eq!(recs[0].fragment, &[1, 2, 3]);
        assert_eq!(recs[1].header, h2);
        assert_eq!(recs[1].header.seq64(), (1 << 48) | MAX_SEQ);
    }

    #[test]
    fn truncated_record_is_an_error() {
        let mut d = Vec::new();
        let h = RecordHeader {
            content_type: ContentType::Handshake,
            version: DTLS_1_2,
            epoch: 0,
            sequence: 0,
        };
        h.write(10, &mut d);
        d.extend_from_slice(&[0; 4]);
        let recs: Vec<_> = parse_datagram(&d).collect();
        assert_eq!(recs.len(), 1);
        assert!(matches!(recs[0], Err(DtlsError::Truncated { .. })));
        assert!(parse_datagram(&[22, 0xfe, 0xfd]).next().unwrap().is_err());
        assert!(
            parse_datagram(&[22, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
                .next()
                .unwrap()
                .is_err()
        );
    }
}
