//! STUN (RFC 8489) with the ICE (RFC 8445) and TURN (RFC 8656) attributes: a zero-copy message
//! view, a builder writing into caller buffers, MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT, and
//! client transactions with retransmission.

pub mod attribute;
pub mod builder;
pub mod error;
pub mod integrity;
pub mod message;
pub mod retransmit;
pub mod transaction;

pub use attribute::{AddressFamily, Attribute};
pub use builder::MessageBuilder;
pub use error::StunError;
pub use integrity::IntegrityKey;
pub use message::StunMessage;

/// Length of the STUN header.
pub const HEADER_LEN: usize = 20;
/// The magic cookie every RFC 5389/8489 message carries in bytes 4..8.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// The value XORed into the CRC-32 of FINGERPRINT ("STUN").
pub const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// The class of a STUN message (RFC 8489 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageClass {
    /// A request, answered by a success or error response.
    Request,
    /// An indication, not answered.
    Indication,
    /// A success response.
    SuccessResponse,
    /// An error response.
    ErrorResponse,
}

impl MessageClass {
    fn bits(self) -> u16 {
        match self {
            MessageClass::Request => 0,
            MessageClass::Indication => 1,
            MessageClass::SuccessResponse => 2,
            MessageClass::ErrorResponse => 3,
        }
    }

    fn from_bits(bits: u16) -> Self {
        match bits & 3 {
            0 => MessageClass::Request,
            1 => MessageClass::Indication,
            2 => MessageClass::SuccessResponse,
            _ => MessageClass::ErrorResponse,
        }
    }
}

/// A STUN method (12 bits): Binding, and the TURN methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(pub u16);

impl Method {
    /// Binding (RFC 8489).
    pub const BINDING: Method = Method(0x001);
    /// TURN Allocate (RFC 8656).
    pub const ALLOCATE: Method = Method(0x003);
    /// TURN Refresh.
    pub const REFRESH: Method = Method(0x004);
    /// TURN Send (indication).
    pub const SEND: Method = Method(0x006);
    /// TURN Data (indication).
    pub const DATA: Method = Method(0x007);
    /// TURN CreatePermission.
    pub const CREATE_PERMISSION: Method = Method(0x008);
    /// TURN ChannelBind.
    pub const CHANNEL_BIND: Method = Method(0x009);
}

/// The message type field: a method and a class, interleaved on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageType {
    /// The method (only the low 12 bits are used).
    pub method: Method,
    /// The class.
    pub class: MessageClass,
}

impl MessageType {
    /// A Binding request.
    pub const BINDING_REQUEST: MessageType = MessageType {
        method: Method::BINDING,
        class: MessageClass::Request,
    };
    /// A Binding success response.
    pub const BINDING_SUCCESS: MessageType = MessageType {
        method: Method::BINDING,
        class: MessageClass::SuccessResponse,
    };
    /// A Binding error response.
    pub const BINDING_ERROR: MessageType = MessageType {
        method: Method::BINDING,
        class: MessageClass::ErrorResponse,
    };
    /// A Binding indication (ICE keepalive).
    pub const BINDING_INDICATION: MessageType = MessageType {
        method: Method::BINDING,
        class: MessageClass::Indication,
    };

    /// Creates a message type.
    pub const fn new(method: Method, class: MessageClass) -> Self {
        MessageType { method, class }
    }

    /// The 14-bit wire value.
    pub fn to_u16(self) -> u16 {
        let m = self.method.0 & 0x0FFF;
        let c = self.class.bits();
        (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
    }

    /// Decodes the wire value (the two leading zero bits are not checked here).
    pub fn from_u16(v: u16) -> Self {
        let method = (v & 0x000F) | ((v >> 1) & 0x0070) | ((v >> 2) & 0x0F80);
        let class = ((v >> 4) & 1) | ((v >> 7) & 2);
        MessageType {
            method: Method(method),
            class: MessageClass::from_bits(class),
        }
    }
}

/// The 96-bit transaction id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub [u8; 12]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_encoding() {
        assert_eq!(MessageType::BINDING_REQUEST.to_u16(), 0x0001);
        assert_eq!(MessageType::BINDING_SUCCESS.to_u16(), 0x0101);
        assert_eq!(MessageType::BINDING_ERROR.to_u16(), 0x0111);
        assert_eq!(MessageType::BINDING_INDICATION.to_u16(), 0x0011);
        assert_eq!(
            MessageType::new(Method::ALLOCATE, MessageClass::Request).to_u16(),
            0x0003
        );
        assert_eq!(
            MessageType::new(Method::DATA, MessageClass::Indication).to_u16(),
            0x0017
        );
        for v in 0..0x4000u16 {
            assert_eq!(MessageType::from_u16(v).to_u16(), v);
        }
    }
}
