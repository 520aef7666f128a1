//! The Data Channel Establishment Protocol (RFC 8832): DATA_CHANNEL_OPEN and DATA_CHANNEL_ACK.

use thiserror::Error;

use crate::association::Reliability;
use std::time::Duration;

/// PPIDs used by WebRTC data channels (RFC 8831 8).
pub mod ppid {
    /// DCEP messages.
    pub const DCEP: u32 = 50;
    /// A UTF-8 string message.
    pub const STRING: u32 = 51;
    /// Deprecated partial string (treated as string).
    pub const STRING_PARTIAL: u32 = 52;
    /// A binary message.
    pub const BINARY: u32 = 53;
    /// Deprecated partial binary (treated as binary).
    pub const BINARY_PARTIAL: u32 = 54;
    /// An empty string (payload is one ignored byte).
    pub const STRING_EMPTY: u32 = 56;
    /// An empty binary message (payload is one ignored byte).
    pub const BINARY_EMPTY: u32 = 57;
}

/// DCEP message type of DATA_CHANNEL_OPEN.
pub const MSG_OPEN: u8 = 0x03;
/// DCEP message type of DATA_CHANNEL_ACK.
pub const MSG_ACK: u8 = 0x02;

/// Why a DCEP message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DcepError {
    /// Too short for its fixed part or its announced label and protocol.
    #[error("truncated DCEP message: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// Unknown message type.
    #[error("unknown DCEP message type {0:#04x}")]
    UnknownType(u8),
    /// Unknown channel type.
    #[error("unknown DCEP channel type {0:#04x}")]
    UnknownChannelType(u8),
    /// Label or protocol is not UTF-8.
    #[error("DCEP label or protocol is not UTF-8")]
    NotUtf8,
    /// The label or protocol is longer than the receiver accepts
    /// (see [`DcepMessage::parse_with_limits`]).
    #[error("DCEP {field} of {length} bytes exceeds the limit of {max}")]
    TooLong {
        /// `"label"` or `"protocol"`.
        field: &'static str,
        /// The length announced in the message.
        length: usize,
        /// The limit.
        max: usize,
    },
}

/// A DATA_CHANNEL_OPEN message (RFC 8832 5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenMessage {
    /// Whether messages are delivered in order.
    pub ordered: bool,
    /// Reliability policy.
    pub reliability: Reliability,
    /// Priority.
    pub priority: u16,
    /// Channel label.
    pub label: String,
    /// Sub-protocol.
    pub protocol: String,
}

/// A parsed DCEP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DcepMessage {
    /// DATA_CHANNEL_OPEN.
    Open(OpenMessage),
    /// DATA_CHANNEL_ACK.
    Ack,
}

impl DcepMessage {
    /// Parses a DCEP message (the payload of a PPID 50 message), accepting labels and
    /// protocols of any length the format allows (65535 bytes each).
    pub fn parse(b: &[u8]) -> Result<Self, DcepError> {
        Self::parse_with_limits(b, u16::MAX as usize, u16::MAX as usize)
    }

    /// Parses a DCEP message, refusing with [`DcepError::TooLong`] a DATA_CHANNEL_OPEN whose
    /// label is longer than `max_label` bytes or whose protocol is longer than `max_protocol`
    /// bytes. The lengths are checked before anything is copied, so a refused open allocates
    /// nothing.
    pub fn parse_with_limits(
        b: &[u8],
        max_label: usize,
        max_protocol: usize,
    ) -> Result<Self, DcepError> {
        let Some(&ty) = b.first() else {
            return Err(DcepError::Truncated {
                needed: 1,
                available: 0,
            });
        };
        match ty {
            MSG_ACK => Ok(DcepMessage::Ack),
            MSG_OPEN => {
                if b.len() < 12 {
                    return Err(DcepError::Truncated {
                        needed: 12,
                        available: b.len(),
                    });
                }
                let ct = b[1];
                let priority = u16::from_be_bytes([b[2], b[3]]);
                let param = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                let ll = u16::from_be_bytes([b[8], b[9]]) as usize;
                let pl = u16::from_be_bytes([b[10], b[11]]) as usize;
                let needed = 12 + ll + pl;
                if b.len() < needed {
                    return Err(DcepError::Truncated {
                        needed,
                        available: b.len(),
                    });
                }
                if ll > max_label {
                    return Err(DcepError::TooLong {
                        field: "label",
                        length: ll,
                        max: max_label,
                    });
                }
                if pl > max_protocol {
                    return Err(DcepError::TooLong {
                        field: "protocol",
                        length: pl,
                        max: max_protocol,
                    });
                }
                let reliability = match ct & 0x7F {
                    0x00 => Reliability::Reliable,
                    0x01 => Reliability::MaxRetransmits(param.min(u16::MAX as u32) as u16),
                    0x02 => Reliability::MaxLifetime(Duration::from_millis(param as u64)),
                    _ => return Err(DcepError::UnknownChannelType(ct)),
                };
                let label = std::str::from_utf8(&b[12..12 + ll]).map_err(|_| DcepError::NotUtf8)?;
                let protocol =
                    std::str::from_utf8(&b[12 + ll..needed]).map_err(|_| DcepError::NotUtf8)?;
                Ok(DcepMessage::Open(OpenMessage {
                    ordered: ct & 0x80 == 0,
                    reliability,
                    priority,
                    label: label.to_owned(),
                    protocol: protocol.to_owned(),
                }))
            }
            t => Err(DcepError::UnknownType(t)),
        }
    }

    /// Serializes the message.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            DcepMessage::Ack => vec![MSG_ACK],
            DcepMessage::Open(o) => {
                let (ct, param) = match o.reliability {
                    Reliability::Reliable => (0x00, 0),
                    Reliability::MaxRetransmits(n) => (0x01, n as u32),
                    Reliability::MaxLifetime(d) => {
                        (0x02, d.as_millis().min(u32::MAX as u128) as u32)
                    }
                };
                let ct = if o.ordered { ct } else { ct | 0x80 };
                let label = &o.label.as_bytes()[..o.label.len().min(u16::MAX as usize)];
                let proto = &o.protocol.as_bytes()[..o.protocol.len().min(u16::MAX as usize)];
                let mut v = Vec::with_capacity(12 + label.len() + proto.len());
                v.push(MSG_OPEN);
                v.push(ct);
                v.extend_from_slice(&o.priority.to_be_bytes());
                v.extend_from_slice(&param.to_be_bytes());
                v.extend_from_slice(&(label.len() as u16).to_be_bytes());
                v.extend_from_slice(&(proto.len() as u16).to_be_bytes());
                v.extend_from_slice(label);
                v.extend_from_slice(proto);
                v
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_layout() {
        let m = DcepMessage::Open(OpenMessage {
            ordered: false,
            reliability: Reliability::MaxRetransmits(3),
            priority: 256,
            label: "chat".into(),
            protocol: "".into(),
        });
        let b = m.to_bytes();
        assert_eq!(&b[..12], &[3, 0x81, 1, 0, 0, 0, 0, 3, 0, 4, 0, 0]);
        assert_eq!(DcepMessage::parse(&b).unwrap(), m);
        assert_eq!(DcepMessage::parse(&[2]).unwrap(), DcepMessage::Ack);
        assert!(DcepMessage::parse(&b[..13]).is_err());
        assert!(DcepMessage::parse(&[9]).is_err());
    }

    #[test]
    fn limits_refuse_long_label_and_protocol() {
        let open = |label: &str, protocol: &str| {
            DcepMessage::Open(OpenMessage {
                ordered: true,
                reliability: Reliability::Reliable,
                priority: 0,
                label: label.into(),
                protocol: protocol.into(),
            })
            .to_bytes()
        };
        let b = open("abcd", "ef");
        assert!(DcepMessage::parse_with_limits(&b, 4, 2).is_ok());
        assert_eq!(
            DcepMessage::parse_with_limits(&b, 3, 2),
            Err(DcepError::TooLong {
                field: "label",
                length: 4,
                max: 3
            })
        );
        assert_eq!(
            DcepMessage::parse_with_limits(&b, 4, 1),
            Err(DcepError::TooLong {
                field: "protocol",
                length: 2,
                max: 1
            })
        );
        // Truncation is reported first: the lengths are only trusted once the bytes are there.
        assert!(matches!(
            DcepMessage::parse_with_limits(&b[..13], 0, 0),
            Err(DcepError::Truncated { .. })
        ));
        assert_eq!(
            DcepMessage::parse_with_limits(&[MSG_ACK], 0, 0),
            Ok(DcepMessage::Ack)
        );
    }

    proptest! {
        #[test]
        fn round_trip(ordered: bool, kind in 0u8..3, param in 0u32..100_000, priority: u16,
                      label in "\\PC{0,20}", protocol in "\\PC{0,20}") {
            let reliability = match kind {
                0 => Reliability::Reliable,
                1 => Reliability::MaxRetransmits(param as u16),
                _ => Reliability::MaxLifetime(Duration::from_millis(param as u64)),
            };
            let m = DcepMessage::Open(OpenMessage { ordered, reliability, priority, label, protocol });
            prop_assert_eq!(DcepMessage::parse(&m.to_bytes()).unwrap(), m);
        }

        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = DcepMessage::parse(&b);
        }
    }
}
