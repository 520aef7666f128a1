//! Writing STUN messages into a caller-supplied buffer.

use crate::stun::attribute::{self as attr, Attribute};
use crate::stun::error::StunError;
use crate::stun::integrity::{IntegrityKey, fingerprint_over};
use crate::stun::{HEADER_LEN, MAGIC_COOKIE, MessageType, TransactionId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Open,
    AfterIntegrity,
    AfterIntegritySha256,
    AfterFingerprint,
}

/// Builds a STUN message in place: header first, then attributes in order, then optionally
/// MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT. The length field is kept current
/// after every attribute, so the integrity attributes are computed over the bytes already written.
///
/// ```
/// use sansrtc_ice::stun::{Attribute, IntegrityKey, MessageBuilder, MessageType, StunMessage, TransactionId};
/// let key = IntegrityKey::short_term("secret");
/// let mut buf = [0u8; 256];
/// let mut b = MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, TransactionId([7; 12]))?;
/// b.add(&Attribute::Username("remote:local"))?;
/// b.add(&Attribute::Priority(1_853_824_767))?;
/// b.add_message_integrity(&key)?;
/// b.add_fingerprint()?;
/// let len = b.finish();
/// let m = StunMessage::parse(&buf[..len])?;
/// assert_eq!(m.username(), Some("remote:local"));
/// m.verify_message_integrity(&key)?;
/// m.verify_fingerprint()?;
/// # Ok::<(), sansrtc_ice::stun::StunError>(())
/// ```
#[derive(Debug)]
pub struct MessageBuilder<'b> {
    buf: &'b mut [u8],
    len: usize,
    transaction_id: TransactionId,
    stage: Stage,
}

impl<'b> MessageBuilder<'b> {
    /// Writes the header into `buf` and starts a message.
    pub fn new(
        buf: &'b mut [u8],
        message_type: MessageType,
        transaction_id: TransactionId,
    ) -> Result<Self, StunError> {
        if buf.len() < HEADER_LEN {
            return Err(StunError::BufferTooSmall {
                needed: HEADER_LEN,
                available: buf.len(),
            });
        }
        buf[..2].copy_from_slice(&message_type.to_u16().to_be_bytes());
        buf[2..4].fill(0);
        buf[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf[8..20].copy_from_slice(&transaction_id.0);
        Ok(MessageBuilder {
            buf,
            len: HEADER_LEN,
            transaction_id,
            stage: Stage::Open,
        })
    }

    /// The transaction id being written.
    pub fn transaction_id(&self) -> TransactionId {
        self.transaction_id
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether only the header is written (never true: the header is always there).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Reserves an attribute of `value_len` bytes, writes its header and padding, updates the
    /// length field, and returns the value's range.
    fn reserve(
        &mut self,
        attribute: u16,
        value_len: usize,
    ) -> Result<std::ops::Range<usize>, StunError> {
        if value_len > u16::MAX as usize {
            return Err(StunError::FieldOverflow(
                "attribute value longer than 65535 bytes",
            ));
        }
        let total = 4 + ((value_len + 3) & !3);
        let end = self.len + total;
        if end - HEADER_LEN > u16::MAX as usize {
            return Err(StunError::FieldOverflow("message longer than 65535 bytes"));
        }
        if end > self.buf.len() {
            return Err(StunError::BufferTooSmall {
                needed: end,
                available: self.buf.len(),
            });
        }
        let start = self.len;
        self.buf[start..start + 2].copy_from_slice(&attribute.to_be_bytes());
        self.buf[start + 2..start + 4].copy_from_slice(&(value_len as u16).to_be_bytes());
        self.buf[start + 4 + value_len..end].fill(0);
        self.len = end;
        self.buf[2..4].copy_from_slice(&((end - HEADER_LEN) as u16).to_be_bytes());
        Ok(start + 4..start + 4 + value_len)
    }

    fn check_order(&self, attribute: u16) -> Result<(), StunError> {
        let allowed = match attribute {
            attr::MESSAGE_INTEGRITY => self.stage < Stage::AfterIntegrity,
            attr::MESSAGE_INTEGRITY_SHA256 => self.stage < Stage::AfterIntegritySha256,
            attr::FINGERPRINT => self.stage < Stage::AfterFingerprint,
            _ => self.stage == Stage::Open,
        };
        if allowed {
            Ok(())
        } else {
            Err(StunError::AttributeOrder(attribute))
        }
    }

    /// Appends an attribute. Integrity and fingerprint values given this way are written as is;
    /// use [`MessageBuilder::add_message_integrity`] and friends to compute them.
    pub fn add(&mut self, attribute: &Attribute<'_>) -> Result<&mut Self, StunError> {
        let t = attribute.attribute_type();
        self.check_order(t)?;
        attribute.validate()?;
        let range = self.reserve(t, attribute.value_len())?;
        attribute.write_value(&mut self.buf[range], &self.transaction_id);
        self.advance_stage(t);
        Ok(self)
    }

    /// Appends an attribute from its type and raw value.
    pub fn add_raw(&mut self, attribute: u16, value: &[u8]) -> Result<&mut Self, StunError> {
        self.check_order(attribute)?;
        let range = self.reserve(attribute, value.len())?;
        self.buf[range].copy_from_slice(value);
        self.advance_stage(attribute);
        Ok(self)
    }

    fn advance_stage(&mut self, attribute: u16) {
        self.stage = match attribute {
            attr::MESSAGE_INTEGRITY => Stage::AfterIntegrity,
            attr::MESSAGE_INTEGRITY_SHA256 => Stage::AfterIntegritySha256,
            attr::FINGERPRINT => Stage::AfterFingerprint,
            _ => self.stage,
        };
    }

    /// Appends MESSAGE-INTEGRITY (HMAC-SHA1 over the message so far).
    pub fn add_message_integrity(&mut self, key: &IntegrityKey) -> Result<&mut Self, StunError> {
        self.check_order(attr::MESSAGE_INTEGRITY)?;
        let prefix_end = self.len;
        let range = self.reserve(attr::MESSAGE_INTEGRITY, 20)?;
        let tag = key.sha1_over(&self.buf[..prefix_end], (self.len - HEADER_LEN) as u16);
        self.buf[range].copy_from_slice(tag.as_ref());
        self.stage = Stage::AfterIntegrity;
        Ok(self)
    }

    /// Appends MESSAGE-INTEGRITY-SHA256 (full 32-byte HMAC-SHA256 over the message so far).
    pub fn add_message_integrity_sha256(
        &mut self,
        key: &IntegrityKey,
    ) -> Result<&mut Self, StunError> {
        self.check_order(attr::MESSAGE_INTEGRITY_SHA256)?;
        let prefix_end = self.len;
        let range = self.reserve(attr::MESSAGE_INTEGRITY_SHA256, 32)?;
        let tag = key.sha256_over(&self.buf[..prefix_end], (self.len - HEADER_LEN) as u16);
        self.buf[range].copy_from_slice(tag.as_ref());
        self.stage = Stage::AfterIntegritySha256;
        Ok(self)
    }

    /// Appends FINGERPRINT (CRC-32 over the message so far, XOR 0x5354554E).
    pub fn add_fingerprint(&mut self) -> Result<&mut Self, StunError> {
        self.check_order(attr::FINGERPRINT)?;
        let prefix_end = self.len;
        let range = self.reserve(attr::FINGERPRINT, 4)?;
        let crc = fingerprint_over(&self.buf[..prefix_end], (self.len - HEADER_LEN) as u16);
        self.buf[range].copy_from_slice(&crc.to_be_bytes());
        self.stage = Stage::AfterFingerprint;
        Ok(self)
    }

    /// Ends the message and returns its length in the buffer.
    pub fn finish(self) -> usize {
        self.len
    }
}
