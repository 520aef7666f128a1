//! Zero-copy view of a STUN message (RFC 8489 sections 5, 14).

use std::net::SocketAddr;

use crate::stun::attribute::{self as attr, Attribute, is_comprehension_required, is_known};
use crate::stun::error::StunError;
use crate::stun::integrity::{IntegrityKey, fingerprint_over, mac_matches};
use crate::stun::{HEADER_LEN, MAGIC_COOKIE, MessageClass, MessageType, Method, TransactionId};

/// Most unknown comprehension-required attribute types one message view records.
pub const MAX_UNKNOWN_RECORDED: usize = 8;

/// A parsed STUN message borrowing the caller's buffer.
///
/// [`StunMessage::parse`] checks the header and walks the attribute TLVs once, recording where
/// MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are and which unknown
/// comprehension-required attributes are present. Attribute values are decoded lazily.
/// Attributes after MESSAGE-INTEGRITY(-SHA256), other than the integrity and fingerprint
/// attributes, are ignored as RFC 8489 14.5 requires.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StunMessage<'a> {
    buf: &'a [u8],
    attrs_end: usize,
    integrity: Option<usize>,
    integrity_sha256: Option<usize>,
    fingerprint: Option<usize>,
    unknown: [u16; MAX_UNKNOWN_RECORDED],
    unknown_len: u8,
}

impl std::fmt::Debug for StunMessage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StunMessage")
            .field("type", &self.message_type())
            .field("transaction_id", &self.transaction_id())
            .field("len", &self.buf.len())
            .finish()
    }
}

/// Whether `buf` starts like a STUN message (leading zero bits and the magic cookie), for
/// demultiplexing STUN from DTLS, RTP and TURN ChannelData on one socket.
pub fn is_stun(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN
        && buf[0] & 0xC0 == 0
        && u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) == MAGIC_COOKIE
}

/// The type and transaction id of what starts like a STUN message ([`is_stun`]), read from
/// its header alone (nothing else is validated): for routing a datagram before parsing it.
pub fn peek_header(buf: &[u8]) -> Option<(MessageType, TransactionId)> {
    if !is_stun(buf) {
        return None;
    }
    let message_type = MessageType::from_u16(u16::from_be_bytes([buf[0], buf[1]]));
    let mut txid = [0u8; 12];
    txid.copy_from_slice(&buf[8..HEADER_LEN]);
    Some((message_type, TransactionId(txid)))
}

/// The total length (header included) the header of a message announces, for stream framing.
pub fn message_len(header: &[u8]) -> Option<usize> {
    (header.len() >= 4).then(|| HEADER_LEN + u16::from_be_bytes([header[2], header[3]]) as usize)
}

impl<'a> StunMessage<'a> {
    /// Parses and validates a STUN message. `buf` must hold exactly one message.
    pub fn parse(buf: &'a [u8]) -> Result<Self, StunError> {
        if buf.len() < HEADER_LEN {
            return Err(StunError::Truncated {
                needed: HEADER_LEN,
                available: buf.len(),
            });
        }
        if buf[0] & 0xC0 != 0 {
            return Err(StunError::NotStun);
        }
        let cookie = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if cookie != MAGIC_COOKIE {
            return Err(StunError::BadMagicCookie(cookie));
        }
        let body = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        if body % 4 != 0 {
            return Err(StunError::UnalignedLength(body));
        }
        let total = HEADER_LEN + body;
        if buf.len() < total {
            return Err(StunError::Truncated {
                needed: total,
                available: buf.len(),
            });
        }
        if buf.len() > total {
            return Err(StunError::TrailingBytes {
                declared: total,
                available: buf.len(),
            });
        }
        let mut m = StunMessage {
            buf,
            attrs_end: total,
            integrity: None,
            integrity_sha256: None,
            fingerprint: None,
            unknown: [0; MAX_UNKNOWN_RECORDED],
            unknown_len: 0,
        };
        let mut pos = HEADER_LEN;
        while pos < total {
            // `pos` and `total` are 4-aligned, so a whole attribute header is present.
            let typ = u16::from_be_bytes([buf[pos], buf[pos + 1]]);
            let len = u16::from_be_bytes([buf[pos + 2], buf[pos + 3]]) as usize;
            let end = pos + 4 + ((len + 3) & !3);
            if end > total {
                return Err(StunError::Truncated {
                    needed: end,
                    available: total,
                });
            }
            if m.fingerprint.is_some() {
                return Err(StunError::AttributeAfterFingerprint(typ));
            }
            let protected = m.integrity.is_some() || m.integrity_sha256.is_some();
            match typ {
                attr::MESSAGE_INTEGRITY => {
                    if len != 20 {
                        return Err(StunError::BadAttribute {
                            attribute: typ,
                            reason: "MESSAGE-INTEGRITY must be 20 bytes",
                        });
                    }
                    if !protected {
                        m.integrity = Some(pos);
                    }
                }
                attr::MESSAGE_INTEGRITY_SHA256 => {
                    if !(16..=32).contains(&len) || len % 4 != 0 {
                        return Err(StunError::BadAttribute {
                            attribute: typ,
                            reason: "MESSAGE-INTEGRITY-SHA256 must be 16..=32 bytes, 4-aligned",
                        });
                    }
                    if m.integrity_sha256.is_none() {
                        m.integrity_sha256 = Some(pos);
                    }
                }
                attr::FINGERPRINT => {
                    if len != 4 {
                        return Err(StunError::BadAttribute {
                            attribute: typ,
                            reason: "FINGERPRINT must be 4 bytes",
                        });
                    }
                    m.fingerprint = Some(pos);
                }
                _ if protected => {}
                _ if is_comprehension_required(typ)
                    && !is_known(typ)
                    && (m.unknown_len as usize) < MAX_UNKNOWN_RECORDED
                    && !m.unknown[..m.unknown_len as usize].contains(&typ) =>
                {
                    m.unknown[m.unknown_len as usize] = typ;
                    m.unknown_len += 1;
                }
                _ => {}
            }
            if m.attrs_end == total
                && matches!(
                    typ,
                    attr::MESSAGE_INTEGRITY | attr::MESSAGE_INTEGRITY_SHA256 | attr::FINGERPRINT
                )
            {
                m.attrs_end = pos;
            }
            pos = end;
        }
        Ok(m)
    }

    /// The whole message.
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The message type (method and class).
    #[inline]
    pub fn message_type(&self) -> MessageType {
        MessageType::from_u16(u16::from_be_bytes([self.buf[0], self.buf[1]]))
    }

    /// The method.
    #[inline]
    pub fn method(&self) -> Method {
        self.message_type().method
    }

    /// The class.
    #[inline]
    pub fn class(&self) -> MessageClass {
        self.message_type().class
    }

    /// The transaction id.
    #[inline]
    pub fn transaction_id(&self) -> TransactionId {
        let mut id = [0; 12];
        id.copy_from_slice(&self.buf[8..20]);
        TransactionId(id)
    }

    /// The unknown comprehension-required attribute types present (at most
    /// [`MAX_UNKNOWN_RECORDED`] distinct ones): a server answers 420 listing them.
    #[inline]
    pub fn unknown_comprehension_required(&self) -> &[u16] {
        &self.unknown[..self.unknown_len as usize]
    }

    /// The attributes before MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT, as raw TLVs
    /// `(type, value without padding)`.
    pub fn raw_attributes(&self) -> RawAttributes<'a> {
        RawAttributes {
            buf: &self.buf[..self.attrs_end],
            pos: HEADER_LEN,
        }
    }

    /// The attributes before MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT, decoded.
    pub fn attributes(&self) -> impl Iterator<Item = Result<Attribute<'a>, StunError>> + 'a {
        let tid = self.transaction_id();
        self.raw_attributes()
            .map(move |(t, v)| Attribute::decode(t, v, &tid))
    }

    /// The value of the first attribute of type `attribute` (integrity and fingerprint included).
    pub fn get_raw(&self, attribute: u16) -> Option<&'a [u8]> {
        let special = match attribute {
            attr::MESSAGE_INTEGRITY => Some(self.integrity),
            attr::MESSAGE_INTEGRITY_SHA256 => Some(self.integrity_sha256),
            attr::FINGERPRINT => Some(self.fingerprint),
            _ => None,
        };
        if let Some(at) = special {
            return at.map(|p| self.value_at(p));
        }
        self.raw_attributes()
            .find(|(t, _)| *t == attribute)
            .map(|(_, v)| v)
    }

    /// The first attribute of type `attribute`, decoded.
    pub fn get(&self, attribute: u16) -> Option<Result<Attribute<'a>, StunError>> {
        self.get_raw(attribute)
            .map(|v| Attribute::decode(attribute, v, &self.transaction_id()))
    }

    fn value_at(&self, pos: usize) -> &'a [u8] {
        let len = u16::from_be_bytes([self.buf[pos + 2], self.buf[pos + 3]]) as usize;
        &self.buf[pos + 4..pos + 4 + len]
    }

    /// USERNAME, if present and valid.
    pub fn username(&self) -> Option<&'a str> {
        match self.get(attr::USERNAME) {
            Some(Ok(Attribute::Username(u))) => Some(u),
            _ => None,
        }
    }

    /// XOR-MAPPED-ADDRESS, if present and valid.
    pub fn xor_mapped_address(&self) -> Option<SocketAddr> {
        match self.get(attr::XOR_MAPPED_ADDRESS) {
            Some(Ok(Attribute::XorMappedAddress(a))) => Some(a),
            _ => None,
        }
    }

    /// ERROR-CODE `(code, reason)`, if present and valid.
    pub fn error_code(&self) -> Option<(u16, &'a str)> {
        match self.get(attr::ERROR_CODE) {
            Some(Ok(Attribute::ErrorCode { code, reason })) => Some((code, reason)),
            _ => None,
        }
    }

    /// Whether MESSAGE-INTEGRITY is present.
    pub fn has_message_integrity(&self) -> bool {
        self.integrity.is_some()
    }

    /// Whether MESSAGE-INTEGRITY-SHA256 is present.
    pub fn has_message_integrity_sha256(&self) -> bool {
        self.integrity_sha256.is_some()
    }

    /// Whether FINGERPRINT is present.
    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint.is_some()
    }

    /// Checks MESSAGE-INTEGRITY (HMAC-SHA1) in constant time.
    pub fn verify_message_integrity(&self, key: &IntegrityKey) -> Result<(), StunError> {
        let pos = self.integrity.ok_or(StunError::MissingIntegrity)?;
        let tag = key.sha1_over(&self.buf[..pos], (pos + 24 - HEADER_LEN) as u16);
        if mac_matches(tag.as_ref(), self.value_at(pos)) {
            Ok(())
        } else {
            Err(StunError::IntegrityMismatch)
        }
    }

    /// Checks MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, possibly truncated) in constant time.
    pub fn verify_message_integrity_sha256(&self, key: &IntegrityKey) -> Result<(), StunError> {
        let pos = self.integrity_sha256.ok_or(StunError::MissingIntegrity)?;
        let value = self.value_at(pos);
        let tag = key.sha256_over(
            &self.buf[..pos],
            (pos + 4 + value.len() - HEADER_LEN) as u16,
        );
        if mac_matches(tag.as_ref(), value) {
            Ok(())
        } else {
            Err(StunError::IntegrityMismatch)
        }
    }

    /// Checks the message's integrity: MESSAGE-INTEGRITY-SHA256 if present, MESSAGE-INTEGRITY
    /// otherwise.
    pub fn verify_integrity(&self, key: &IntegrityKey) -> Result<(), StunError> {
        if self.integrity_sha256.is_some() {
            self.verify_message_integrity_sha256(key)
        } else {
            self.verify_message_integrity(key)
        }
    }

    /// Checks FINGERPRINT.
    pub fn verify_fingerprint(&self) -> Result<(), StunError> {
        let pos = self.fingerprint.ok_or(StunError::MissingFingerprint)?;
        let computed = fingerprint_over(&self.buf[..pos], (pos + 8 - HEADER_LEN) as u16);
        let v = self.value_at(pos);
        let received = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
        if computed == received {
            Ok(())
        } else {
            Err(StunError::FingerprintMismatch { computed, received })
        }
    }
}

/// Iterator over raw attribute TLVs of a parsed message.
#[derive(Debug, Clone)]
pub struct RawAttributes<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for RawAttributes<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.buf;
        let p = self.pos;
        if p + 4 > b.len() {
            return None;
        }
        let typ = u16::from_be_bytes([b[p], b[p + 1]]);
        let len = u16::from_be_bytes([b[p + 2], b[p + 3]]) as usize;
        let value = b.get(p + 4..p + 4 + len)?;
        self.pos = p + 4 + ((len + 3) & !3);
        Some((typ, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::MessageBuilder;

    #[test]
    fn peek_header_reads_type_and_transaction_id_only_from_stun() {
        let txid = TransactionId([7; 12]);
        let mut buf = [0u8; 64];
        let len = MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, txid)
            .unwrap()
            .finish();
        let bytes = &buf[..len];
        assert_eq!(
            peek_header(bytes),
            Some((MessageType::BINDING_REQUEST, txid))
        );
        assert_eq!(peek_header(&bytes[..19]), None);
        let mut not_stun = bytes.to_vec();
        not_stun[4] ^= 1; // the magic cookie
        assert_eq!(peek_header(&not_stun), None);
        assert_eq!(peek_header(&[0x80; 40]), None);
    }
}
