//! Typed errors for STUN parsing, writing and authentication.

use thiserror::Error;

/// Why a STUN message could not be parsed, written or authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum StunError {
    /// The buffer ends before the part being read.
    #[error("truncated STUN message: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the message claims or needs up to this point.
        needed: usize,
        /// Bytes actually present.
        available: usize,
    },
    /// The buffer holds more bytes than the header's length field announces.
    #[error("STUN message length field says {declared} bytes, buffer holds {available}")]
    TrailingBytes {
        /// Total length (header included) from the length field.
        declared: usize,
        /// Bytes in the buffer.
        available: usize,
    },
    /// The two most significant bits of the first byte are not zero: not a STUN message.
    #[error("not a STUN message: leading bits are not zero")]
    NotStun,
    /// The magic cookie is not 0x2112A442 (RFC 3489 messages are not supported).
    #[error("bad STUN magic cookie {0:#010x}")]
    BadMagicCookie(u32),
    /// The message length field is not a multiple of four.
    #[error("STUN message length {0} is not a multiple of 4")]
    UnalignedLength(usize),
    /// An attribute follows FINGERPRINT, which must be the last attribute.
    #[error("attribute {0:#06x} follows FINGERPRINT")]
    AttributeAfterFingerprint(u16),
    /// An attribute's value does not have the form its type requires.
    #[error("malformed STUN attribute {attribute:#06x}: {reason}")]
    BadAttribute {
        /// The attribute type.
        attribute: u16,
        /// What was wrong with it.
        reason: &'static str,
    },
    /// The output buffer is too small for what is being written.
    #[error("output buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// A value does not fit its field (an attribute over 65535 bytes, an error code outside
    /// 300..=699, a reason phrase too long).
    #[error("value does not fit its field: {0}")]
    FieldOverflow(&'static str),
    /// An attribute was added after MESSAGE-INTEGRITY(-SHA256) or FINGERPRINT where that is not
    /// allowed.
    #[error("attribute {0:#06x} cannot follow the integrity or fingerprint attributes")]
    AttributeOrder(u16),
    /// The message has no MESSAGE-INTEGRITY / MESSAGE-INTEGRITY-SHA256 attribute to check.
    #[error("message has no integrity attribute")]
    MissingIntegrity,
    /// The integrity attribute does not match the key.
    #[error("message integrity check failed")]
    IntegrityMismatch,
    /// The message has no FINGERPRINT attribute.
    #[error("message has no FINGERPRINT attribute")]
    MissingFingerprint,
    /// The FINGERPRINT attribute does not match the message.
    #[error("FINGERPRINT mismatch: computed {computed:#010x}, received {received:#010x}")]
    FingerprintMismatch {
        /// CRC-32 computed over the message, XORed with 0x5354554E.
        computed: u32,
        /// The value in the attribute.
        received: u32,
    },
}
