//! STUN attributes: type numbers, the typed [`Attribute`] view, and its wire encoding.
//!
//! Decoding borrows the message buffer; strings are validated as UTF-8 and checked against the
//! RFC length limits, addresses against their family.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::stun::error::StunError;
use crate::stun::{MAGIC_COOKIE, TransactionId};

/// MAPPED-ADDRESS (RFC 8489).
pub const MAPPED_ADDRESS: u16 = 0x0001;
/// USERNAME (RFC 8489).
pub const USERNAME: u16 = 0x0006;
/// MESSAGE-INTEGRITY (RFC 8489).
pub const MESSAGE_INTEGRITY: u16 = 0x0008;
/// ERROR-CODE (RFC 8489).
pub const ERROR_CODE: u16 = 0x0009;
/// UNKNOWN-ATTRIBUTES (RFC 8489).
pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
/// CHANNEL-NUMBER (RFC 8656).
pub const CHANNEL_NUMBER: u16 = 0x000C;
/// LIFETIME (RFC 8656).
pub const LIFETIME: u16 = 0x000D;
/// XOR-PEER-ADDRESS (RFC 8656).
pub const XOR_PEER_ADDRESS: u16 = 0x0012;
/// DATA (RFC 8656).
pub const DATA: u16 = 0x0013;
/// REALM (RFC 8489).
pub const REALM: u16 = 0x0014;
/// NONCE (RFC 8489).
pub const NONCE: u16 = 0x0015;
/// XOR-RELAYED-ADDRESS (RFC 8656).
pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
/// REQUESTED-ADDRESS-FAMILY (RFC 8656).
pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
/// EVEN-PORT (RFC 8656).
pub const EVEN_PORT: u16 = 0x0018;
/// REQUESTED-TRANSPORT (RFC 8656).
pub const REQUESTED_TRANSPORT: u16 = 0x0019;
/// DONT-FRAGMENT (RFC 8656).
pub const DONT_FRAGMENT: u16 = 0x001A;
/// MESSAGE-INTEGRITY-SHA256 (RFC 8489).
pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
/// PASSWORD-ALGORITHM (RFC 8489).
pub const PASSWORD_ALGORITHM: u16 = 0x001D;
/// USERHASH (RFC 8489).
pub const USERHASH: u16 = 0x001E;
/// XOR-MAPPED-ADDRESS (RFC 8489).
pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// RESERVATION-TOKEN (RFC 8656).
pub const RESERVATION_TOKEN: u16 = 0x0022;
/// PRIORITY (RFC 8445).
pub const PRIORITY: u16 = 0x0024;
/// USE-CANDIDATE (RFC 8445).
pub const USE_CANDIDATE: u16 = 0x0025;
/// ADDITIONAL-ADDRESS-FAMILY (RFC 8656).
pub const ADDITIONAL_ADDRESS_FAMILY: u16 = 0x8000;
/// ADDRESS-ERROR-CODE (RFC 8656).
pub const ADDRESS_ERROR_CODE: u16 = 0x8001;
/// PASSWORD-ALGORITHMS (RFC 8489).
pub const PASSWORD_ALGORITHMS: u16 = 0x8002;
/// ICMP (RFC 8656).
pub const ICMP: u16 = 0x8004;
/// SOFTWARE (RFC 8489).
pub const SOFTWARE: u16 = 0x8022;
/// ALTERNATE-SERVER (RFC 8489).
pub const ALTERNATE_SERVER: u16 = 0x8023;
/// FINGERPRINT (RFC 8489).
pub const FINGERPRINT: u16 = 0x8028;
/// ICE-CONTROLLED (RFC 8445).
pub const ICE_CONTROLLED: u16 = 0x8029;
/// ICE-CONTROLLING (RFC 8445).
pub const ICE_CONTROLLING: u16 = 0x802A;

/// Longest USERNAME value (RFC 8489 14.3: less than 513 bytes).
pub const MAX_USERNAME_LEN: usize = 512;
/// Longest REALM, NONCE, SOFTWARE and reason phrase values (RFC 8489: less than 763 bytes).
pub const MAX_TEXT_LEN: usize = 763;

/// Whether an attribute type is comprehension-required (0x0000..=0x7FFF).
pub fn is_comprehension_required(attribute: u16) -> bool {
    attribute < 0x8000
}

/// Whether this crate understands the attribute type (unknown comprehension-required attributes
/// make a server answer 420).
pub fn is_known(attribute: u16) -> bool {
    matches!(
        attribute,
        MAPPED_ADDRESS
            | USERNAME
            | MESSAGE_INTEGRITY
            | ERROR_CODE
            | UNKNOWN_ATTRIBUTES
            | CHANNEL_NUMBER
            | LIFETIME
            | XOR_PEER_ADDRESS
            | DATA
            | REALM
            | NONCE
            | XOR_RELAYED_ADDRESS
            | REQUESTED_ADDRESS_FAMILY
            | EVEN_PORT
            | REQUESTED_TRANSPORT
            | DONT_FRAGMENT
            | MESSAGE_INTEGRITY_SHA256
            | PASSWORD_ALGORITHM
            | USERHASH
            | XOR_MAPPED_ADDRESS
            | RESERVATION_TOKEN
            | PRIORITY
            | USE_CANDIDATE
            | ADDITIONAL_ADDRESS_FAMILY
            | ADDRESS_ERROR_CODE
            | PASSWORD_ALGORITHMS
            | ICMP
            | SOFTWARE
            | ALTERNATE_SERVER
            | FINGERPRINT
            | ICE_CONTROLLED
            | ICE_CONTROLLING
    )
}

/// An IP address family as carried by the address attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressFamily {
    /// IPv4 (0x01).
    V4,
    /// IPv6 (0x02).
    V6,
}

impl AddressFamily {
    fn to_u8(self) -> u8 {
        match self {
            AddressFamily::V4 => 1,
            AddressFamily::V6 => 2,
        }
    }

    fn from_u8(attribute: u16, v: u8) -> Result<Self, StunError> {
        match v {
            1 => Ok(AddressFamily::V4),
            2 => Ok(AddressFamily::V6),
            _ => Err(StunError::BadAttribute {
                attribute,
                reason: "unknown address family",
            }),
        }
    }
}

/// One entry of PASSWORD-ALGORITHM or PASSWORD-ALGORITHMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordAlgorithm<'a> {
    /// Algorithm number: 1 = MD5, 2 = SHA-256.
    pub algorithm: u16,
    /// Algorithm parameters (empty for MD5 and SHA-256).
    pub parameters: &'a [u8],
}

impl PasswordAlgorithm<'_> {
    /// MD5 (RFC 8489 18.5.1.1).
    pub const MD5: u16 = 0x0001;
    /// SHA-256 (RFC 8489 18.5.1.2).
    pub const SHA256: u16 = 0x0002;

    fn encoded_len(&self) -> usize {
        4 + padded(self.parameters.len())
    }
}

/// A list of 16-bit values (UNKNOWN-ATTRIBUTES): read from the wire, or given for writing.
#[derive(Debug, Clone, Copy)]
pub enum U16List<'a> {
    /// Big-endian values as received (even length, checked when decoded).
    Wire(&'a [u8]),
    /// Values to write.
    Values(&'a [u16]),
}

impl<'a> U16List<'a> {
    /// The values in order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        let (wire, values): (&'a [u8], &'a [u16]) = match *self {
            U16List::Wire(w) => (w, &[]),
            U16List::Values(v) => (&[], v),
        };
        wire.chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .chain(values.iter().copied())
    }

    fn byte_len(&self) -> usize {
        match self {
            U16List::Wire(w) => w.len(),
            U16List::Values(v) => v.len() * 2,
        }
    }
}

impl PartialEq for U16List<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

/// A list of password algorithms (PASSWORD-ALGORITHMS): read from the wire, or given for writing.
#[derive(Debug, Clone, Copy)]
pub enum PasswordAlgorithmList<'a> {
    /// The attribute value as received (validated when decoded).
    Wire(&'a [u8]),
    /// Entries to write.
    Values(&'a [PasswordAlgorithm<'a>]),
}

impl<'a> PasswordAlgorithmList<'a> {
    /// The entries in order.
    pub fn iter(&self) -> PasswordAlgorithmIter<'a> {
        match *self {
            PasswordAlgorithmList::Wire(w) => PasswordAlgorithmIter {
                wire: w,
                values: &[],
            },
            PasswordAlgorithmList::Values(v) => PasswordAlgorithmIter {
                wire: &[],
                values: v,
            },
        }
    }

    fn byte_len(&self) -> usize {
        match self {
            PasswordAlgorithmList::Wire(w) => w.len(),
            PasswordAlgorithmList::Values(v) => v.iter().map(|p| p.encoded_len()).sum(),
        }
    }
}

impl PartialEq for PasswordAlgorithmList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

/// Iterator over [`PasswordAlgorithmList`] entries.
#[derive(Debug, Clone)]
pub struct PasswordAlgorithmIter<'a> {
    wire: &'a [u8],
    values: &'a [PasswordAlgorithm<'a>],
}

impl<'a> Iterator for PasswordAlgorithmIter<'a> {
    type Item = PasswordAlgorithm<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some((first, rest)) = self.values.split_first() {
            self.values = rest;
            return Some(*first);
        }
        let (entry, used) = read_password_algorithm(PASSWORD_ALGORITHMS, self.wire).ok()?;
        self.wire = &self.wire[used..];
        Some(entry)
    }
}

fn read_password_algorithm(
    attribute: u16,
    v: &[u8],
) -> Result<(PasswordAlgorithm<'_>, usize), StunError> {
    if v.len() < 4 {
        return Err(StunError::BadAttribute {
            attribute,
            reason: "password algorithm too short",
        });
    }
    let algorithm = u16::from_be_bytes([v[0], v[1]]);
    let len = u16::from_be_bytes([v[2], v[3]]) as usize;
    let used = 4 + padded(len);
    if used > v.len() {
        return Err(StunError::BadAttribute {
            attribute,
            reason: "password algorithm parameters overrun",
        });
    }
    Ok((
        PasswordAlgorithm {
            algorithm,
            parameters: &v[4..4 + len],
        },
        used,
    ))
}

/// A decoded STUN attribute, borrowing the message buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Attribute<'a> {
    /// MAPPED-ADDRESS.
    MappedAddress(SocketAddr),
    /// XOR-MAPPED-ADDRESS (decoded: the plain address).
    XorMappedAddress(SocketAddr),
    /// USERNAME.
    Username(&'a str),
    /// USERHASH (SHA-256 of "username:realm").
    UserHash(&'a [u8; 32]),
    /// MESSAGE-INTEGRITY (HMAC-SHA1).
    MessageIntegrity(&'a [u8; 20]),
    /// MESSAGE-INTEGRITY-SHA256 (16 to 32 bytes, a multiple of 4).
    MessageIntegritySha256(&'a [u8]),
    /// FINGERPRINT (CRC-32 XOR 0x5354554E).
    Fingerprint(u32),
    /// ERROR-CODE: code 300..=699 and a reason phrase.
    ErrorCode {
        /// The error code (class * 100 + number).
        code: u16,
        /// The reason phrase.
        reason: &'a str,
    },
    /// UNKNOWN-ATTRIBUTES.
    UnknownAttributes(U16List<'a>),
    /// REALM.
    Realm(&'a str),
    /// NONCE.
    Nonce(&'a str),
    /// PASSWORD-ALGORITHM.
    PasswordAlgorithm(PasswordAlgorithm<'a>),
    /// PASSWORD-ALGORITHMS.
    PasswordAlgorithms(PasswordAlgorithmList<'a>),
    /// SOFTWARE.
    Software(&'a str),
    /// ALTERNATE-SERVER.
    AlternateServer(SocketAddr),
    /// PRIORITY (ICE).
    Priority(u32),
    /// USE-CANDIDATE (ICE).
    UseCandidate,
    /// ICE-CONTROLLED with its tie-breaker.
    IceControlled(u64),
    /// ICE-CONTROLLING with its tie-breaker.
    IceControlling(u64),
    /// CHANNEL-NUMBER (TURN).
    ChannelNumber(u16),
    /// LIFETIME in seconds (TURN).
    Lifetime(u32),
    /// XOR-PEER-ADDRESS (TURN, decoded).
    XorPeerAddress(SocketAddr),
    /// DATA (TURN).
    Data(&'a [u8]),
    /// XOR-RELAYED-ADDRESS (TURN, decoded).
    XorRelayedAddress(SocketAddr),
    /// REQUESTED-ADDRESS-FAMILY (TURN).
    RequestedAddressFamily(AddressFamily),
    /// EVEN-PORT with its R (reserve next port) bit (TURN).
    EvenPort(bool),
    /// REQUESTED-TRANSPORT protocol number, 17 for UDP (TURN).
    RequestedTransport(u8),
    /// DONT-FRAGMENT (TURN).
    DontFragment,
    /// RESERVATION-TOKEN (TURN).
    ReservationToken(u64),
    /// ADDITIONAL-ADDRESS-FAMILY (TURN).
    AdditionalAddressFamily(AddressFamily),
    /// ADDRESS-ERROR-CODE (TURN).
    AddressErrorCode {
        /// The family the error is about.
        family: AddressFamily,
        /// The error code.
        code: u16,
        /// The reason phrase.
        reason: &'a str,
    },
    /// ICMP (TURN).
    Icmp {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
        /// Error data.
        error_data: u32,
    },
    /// Any other attribute, carried as raw bytes.
    Other {
        /// The attribute type.
        attribute: u16,
        /// The value, without padding.
        value: &'a [u8],
    },
}

fn padded(len: usize) -> usize {
    (len + 3) & !3
}

fn bad(attribute: u16, reason: &'static str) -> StunError {
    StunError::BadAttribute { attribute, reason }
}

fn exact<const N: usize>(attribute: u16, v: &[u8]) -> Result<&[u8; N], StunError> {
    v.try_into()
        .map_err(|_| bad(attribute, "wrong value length"))
}

fn text(attribute: u16, v: &[u8], max: usize) -> Result<&str, StunError> {
    if v.len() > max {
        return Err(bad(attribute, "text too long"));
    }
    std::str::from_utf8(v).map_err(|_| bad(attribute, "text is not UTF-8"))
}

fn decode_address(
    attribute: u16,
    v: &[u8],
    xor: Option<&TransactionId>,
) -> Result<SocketAddr, StunError> {
    if v.len() < 4 {
        return Err(bad(attribute, "address too short"));
    }
    let family = AddressFamily::from_u8(attribute, v[1])?;
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let mut port = u16::from_be_bytes([v[2], v[3]]);
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match family {
        AddressFamily::V4 => {
            let mut a: [u8; 4] = *exact::<4>(attribute, &v[4..])?;
            if xor.is_some() {
                for (b, k) in a.iter_mut().zip(cookie) {
                    *b ^= k;
                }
            }
            IpAddr::V4(Ipv4Addr::from(a))
        }
        AddressFamily::V6 => {
            let mut a: [u8; 16] = *exact::<16>(attribute, &v[4..])?;
            if let Some(tid) = xor {
                for (b, k) in a.iter_mut().zip(cookie.iter().chain(tid.0.iter())) {
                    *b ^= k;
                }
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
    };
    Ok(SocketAddr::new(ip, port))
}

fn address_len(a: &SocketAddr) -> usize {
    if a.is_ipv4() { 8 } else { 20 }
}

fn write_address(out: &mut [u8], a: &SocketAddr, xor: Option<&TransactionId>) {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    out[0] = 0;
    let mut port = a.port();
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    out[2..4].copy_from_slice(&port.to_be_bytes());
    match a.ip() {
        IpAddr::V4(ip) => {
            out[1] = AddressFamily::V4.to_u8();
            let mut b = ip.octets();
            if xor.is_some() {
                for (x, k) in b.iter_mut().zip(cookie) {
                    *x ^= k;
                }
            }
            out[4..8].copy_from_slice(&b);
        }
        IpAddr::V6(ip) => {
            out[1] = AddressFamily::V6.to_u8();
            let mut b = ip.octets();
            if let Some(tid) = xor {
                for (x, k) in b.iter_mut().zip(cookie.iter().chain(tid.0.iter())) {
                    *x ^= k;
                }
            }
            out[4..20].copy_from_slice(&b);
        }
    }
}

fn decode_error_code(attribute: u16, v: &[u8]) -> Result<(u16, &str), StunError> {
    if v.len() < 4 {
        return Err(bad(attribute, "error code too short"));
    }
    let class = (v[2] & 0x07) as u16;
    let number = v[3] as u16;
    if !(3..=6).contains(&class) || number > 99 {
        return Err(bad(attribute, "error code outside 300..=699"));
    }
    Ok((
        class * 100 + number,
        text(attribute, &v[4..], MAX_TEXT_LEN)?,
    ))
}

fn check_error_code(code: u16, reason: &str) -> Result<(), StunError> {
    if !(300..=699).contains(&code) {
        return Err(StunError::FieldOverflow("error code outside 300..=699"));
    }
    if reason.len() > MAX_TEXT_LEN {
        return Err(StunError::FieldOverflow(
            "reason phrase longer than 763 bytes",
        ));
    }
    Ok(())
}

fn family_attr(attribute: u16, v: &[u8]) -> Result<AddressFamily, StunError> {
    let v = exact::<4>(attribute, v)?;
    AddressFamily::from_u8(attribute, v[0])
}

impl<'a> Attribute<'a> {
    /// Decodes an attribute value (`value` without padding). `transaction_id` is needed for the
    /// XOR address attributes.
    pub fn decode(
        attribute: u16,
        value: &'a [u8],
        transaction_id: &TransactionId,
    ) -> Result<Attribute<'a>, StunError> {
        let v = value;
        let t = attribute;
        Ok(match t {
            MAPPED_ADDRESS => Attribute::MappedAddress(decode_address(t, v, None)?),
            XOR_MAPPED_ADDRESS => {
                Attribute::XorMappedAddress(decode_address(t, v, Some(transaction_id))?)
            }
            ALTERNATE_SERVER => Attribute::AlternateServer(decode_address(t, v, None)?),
            XOR_PEER_ADDRESS => {
                Attribute::XorPeerAddress(decode_address(t, v, Some(transaction_id))?)
            }
            XOR_RELAYED_ADDRESS => {
                Attribute::XorRelayedAddress(decode_address(t, v, Some(transaction_id))?)
            }
            USERNAME => Attribute::Username(text(t, v, MAX_USERNAME_LEN)?),
            REALM => Attribute::Realm(text(t, v, MAX_TEXT_LEN)?),
            NONCE => Attribute::Nonce(text(t, v, MAX_TEXT_LEN)?),
            SOFTWARE => Attribute::Software(text(t, v, MAX_TEXT_LEN)?),
            USERHASH => Attribute::UserHash(exact::<32>(t, v)?),
            MESSAGE_INTEGRITY => Attribute::MessageIntegrity(exact::<20>(t, v)?),
            MESSAGE_INTEGRITY_SHA256 => {
                if v.len() < 16 || v.len() > 32 || v.len() % 4 != 0 {
                    return Err(bad(
                        t,
                        "MESSAGE-INTEGRITY-SHA256 must be 16..=32 bytes, 4-aligned",
                    ));
                }
                Attribute::MessageIntegritySha256(v)
            }
            FINGERPRINT => Attribute::Fingerprint(u32::from_be_bytes(*exact::<4>(t, v)?)),
            ERROR_CODE => {
                let (code, reason) = decode_error_code(t, v)?;
                Attribute::ErrorCode { code, reason }
            }
            UNKNOWN_ATTRIBUTES => {
                if v.len() % 2 != 0 {
                    return Err(bad(t, "odd length"));
                }
                Attribute::UnknownAttributes(U16List::Wire(v))
            }
            PASSWORD_ALGORITHM => {
                let (entry, used) = read_password_algorithm(t, v)?;
                if used != v.len() {
                    return Err(bad(t, "trailing bytes"));
                }
                Attribute::PasswordAlgorithm(entry)
            }
            PASSWORD_ALGORITHMS => {
                let mut rest = v;
                while !rest.is_empty() {
                    let (_, used) = read_password_algorithm(t, rest)?;
                    rest = &rest[used..];
                }
                Attribute::PasswordAlgorithms(PasswordAlgorithmList::Wire(v))
            }
            PRIORITY => Attribute::Priority(u32::from_be_bytes(*exact::<4>(t, v)?)),
            USE_CANDIDATE => {
                exact::<0>(t, v)?;
                Attribute::UseCandidate
            }
            ICE_CONTROLLED => Attribute::IceControlled(u64::from_be_bytes(*exact::<8>(t, v)?)),
            ICE_CONTROLLING => Attribute::IceControlling(u64::from_be_bytes(*exact::<8>(t, v)?)),
            CHANNEL_NUMBER => {
                let b = exact::<4>(t, v)?;
                Attribute::ChannelNumber(u16::from_be_bytes([b[0], b[1]]))
            }
            LIFETIME => Attribute::Lifetime(u32::from_be_bytes(*exact::<4>(t, v)?)),
            DATA => Attribute::Data(v),
            REQUESTED_ADDRESS_FAMILY => Attribute::RequestedAddressFamily(family_attr(t, v)?),
            ADDITIONAL_ADDRESS_FAMILY => Attribute::AdditionalAddressFamily(family_attr(t, v)?),
            EVEN_PORT => Attribute::EvenPort(exact::<1>(t, v)?[0] & 0x80 != 0),
            REQUESTED_TRANSPORT => Attribute::RequestedTransport(exact::<4>(t, v)?[0]),
            DONT_FRAGMENT => {
                exact::<0>(t, v)?;
                Attribute::DontFragment
            }
            RESERVATION_TOKEN => {
                Attribute::ReservationToken(u64::from_be_bytes(*exact::<8>(t, v)?))
            }
            ADDRESS_ERROR_CODE => {
                if v.is_empty() {
                    return Err(bad(t, "address error code too short"));
                }
                let family = AddressFamily::from_u8(t, v[0])?;
                let (code, reason) = decode_error_code(t, v)?;
                Attribute::AddressErrorCode {
                    family,
                    code,
                    reason,
                }
            }
            ICMP => {
                let b = exact::<8>(t, v)?;
                Attribute::Icmp {
                    icmp_type: b[2],
                    code: b[3],
                    error_data: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                }
            }
            _ => Attribute::Other {
                attribute: t,
                value: v,
            },
        })
    }

    /// The attribute type number.
    pub fn attribute_type(&self) -> u16 {
        match self {
            Attribute::MappedAddress(_) => MAPPED_ADDRESS,
            Attribute::XorMappedAddress(_) => XOR_MAPPED_ADDRESS,
            Attribute::Username(_) => USERNAME,
            Attribute::UserHash(_) => USERHASH,
            Attribute::MessageIntegrity(_) => MESSAGE_INTEGRITY,
            Attribute::MessageIntegritySha256(_) => MESSAGE_INTEGRITY_SHA256,
            Attribute::Fingerprint(_) => FINGERPRINT,
            Attribute::ErrorCode { .. } => ERROR_CODE,
            Attribute::UnknownAttributes(_) => UNKNOWN_ATTRIBUTES,
            Attribute::Realm(_) => REALM,
            Attribute::Nonce(_) => NONCE,
            Attribute::PasswordAlgorithm(_) => PASSWORD_ALGORITHM,
            Attribute::PasswordAlgorithms(_) => PASSWORD_ALGORITHMS,
            Attribute::Software(_) => SOFTWARE,
            Attribute::AlternateServer(_) => ALTERNATE_SERVER,
            Attribute::Priority(_) => PRIORITY,
            Attribute::UseCandidate => USE_CANDIDATE,
            Attribute::IceControlled(_) => ICE_CONTROLLED,
            Attribute::IceControlling(_) => ICE_CONTROLLING,
            Attribute::ChannelNumber(_) => CHANNEL_NUMBER,
            Attribute::Lifetime(_) => LIFETIME,
            Attribute::XorPeerAddress(_) => XOR_PEER_ADDRESS,
            Attribute::Data(_) => DATA,
            Attribute::XorRelayedAddress(_) => XOR_RELAYED_ADDRESS,
            Attribute::RequestedAddressFamily(_) => REQUESTED_ADDRESS_FAMILY,
            Attribute::EvenPort(_) => EVEN_PORT,
            Attribute::RequestedTransport(_) => REQUESTED_TRANSPORT,
            Attribute::DontFragment => DONT_FRAGMENT,
            Attribute::ReservationToken(_) => RESERVATION_TOKEN,
            Attribute::AdditionalAddressFamily(_) => ADDITIONAL_ADDRESS_FAMILY,
            Attribute::AddressErrorCode { .. } => ADDRESS_ERROR_CODE,
            Attribute::Icmp { .. } => ICMP,
            Attribute::Other { attribute, .. } => *attribute,
        }
    }

    /// Length of the value on the wire, without padding.
    pub fn value_len(&self) -> usize {
        match self {
            Attribute::MappedAddress(a)
            | Attribute::XorMappedAddress(a)
            | Attribute::AlternateServer(a)
            | Attribute::XorPeerAddress(a)
            | Attribute::XorRelayedAddress(a) => address_len(a),
            Attribute::Username(s)
            | Attribute::Realm(s)
            | Attribute::Nonce(s)
            | Attribute::Software(s) => s.len(),
            Attribute::UserHash(_) => 32,
            Attribute::MessageIntegrity(_) => 20,
            Attribute::MessageIntegritySha256(v) => v.len(),
            Attribute::Fingerprint(_) | Attribute::Priority(_) | Attribute::Lifetime(_) => 4,
            Attribute::ErrorCode { reason, .. } => 4 + reason.len(),
            Attribute::AddressErrorCode { reason, .. } => 4 + reason.len(),
            Attribute::UnknownAttributes(l) => l.byte_len(),
            Attribute::PasswordAlgorithm(p) => p.encoded_len(),
            Attribute::PasswordAlgorithms(l) => l.byte_len(),
            Attribute::UseCandidate | Attribute::DontFragment => 0,
            Attribute::IceControlled(_)
            | Attribute::IceControlling(_)
            | Attribute::ReservationToken(_)
            | Attribute::Icmp { .. } => 8,
            Attribute::ChannelNumber(_)
            | Attribute::RequestedAddressFamily(_)
            | Attribute::RequestedTransport(_)
            | Attribute::AdditionalAddressFamily(_) => 4,
            Attribute::EvenPort(_) => 1,
            Attribute::Data(d) => d.len(),
            Attribute::Other { value, .. } => value.len(),
        }
    }

    /// Length on the wire: 4-byte header, value and padding.
    pub fn encoded_len(&self) -> usize {
        4 + padded(self.value_len())
    }

    /// Checks the value fits its field before it is written.
    pub(crate) fn validate(&self) -> Result<(), StunError> {
        match self {
            Attribute::Username(s) if s.len() > MAX_USERNAME_LEN => {
                Err(StunError::FieldOverflow("USERNAME longer than 512 bytes"))
            }
            Attribute::Realm(s) | Attribute::Nonce(s) | Attribute::Software(s)
                if s.len() > MAX_TEXT_LEN =>
            {
                Err(StunError::FieldOverflow(
                    "text attribute longer than 763 bytes",
                ))
            }
            Attribute::ErrorCode { code, reason }
            | Attribute::AddressErrorCode { code, reason, .. } => check_error_code(*code, reason),
            Attribute::MessageIntegritySha256(v)
                if v.len() < 16 || v.len() > 32 || v.len() % 4 != 0 =>
            {
                Err(StunError::FieldOverflow(
                    "MESSAGE-INTEGRITY-SHA256 must be 16..=32 bytes",
                ))
            }
            Attribute::PasswordAlgorithm(p) if p.parameters.len() > u16::MAX as usize => Err(
                StunError::FieldOverflow("password algorithm parameters too long"),
            ),
            Attribute::PasswordAlgorithms(PasswordAlgorithmList::Values(v))
                if v.iter().any(|p| p.parameters.len() > u16::MAX as usize) =>
            {
                Err(StunError::FieldOverflow(
                    "password algorithm parameters too long",
                ))
            }
            _ if self.value_len() > u16::MAX as usize => Err(StunError::FieldOverflow(
                "attribute value longer than 65535 bytes",
            )),
            _ => Ok(()),
        }
    }

    /// Writes the value (exactly [`Attribute::value_len`] bytes) into `out`.
    pub(crate) fn write_value(&self, out: &mut [u8], transaction_id: &TransactionId) {
        let tid = Some(transaction_id);
        match self {
            Attribute::MappedAddress(a) | Attribute::AlternateServer(a) => {
                write_address(out, a, None)
            }
            Attribute::XorMappedAddress(a)
            | Attribute::XorPeerAddress(a)
            | Attribute::XorRelayedAddress(a) => write_address(out, a, tid),
            Attribute::Username(s)
            | Attribute::Realm(s)
            | Attribute::Nonce(s)
            | Attribute::Software(s) => out.copy_from_slice(s.as_bytes()),
            Attribute::UserHash(h) => out.copy_from_slice(&h[..]),
            Attribute::MessageIntegrity(h) => out.copy_from_slice(&h[..]),
            Attribute::MessageIntegritySha256(h) | Attribute::Data(h) => out.copy_from_slice(h),
            Attribute::Other { value, .. } => out.copy_from_slice(value),
            Attribute::Fingerprint(v) | Attribute::Priority(v) | Attribute::Lifetime(v) => {
                out.copy_from_slice(&v.to_be_bytes())
            }
            Attribute::ErrorCode { code, reason } => {
                out[..4].copy_from_slice(&[0, 0, (code / 100) as u8, (code % 100) as u8]);
                out[4..].copy_from_slice(reason.as_bytes());
            }
            Attribute::AddressErrorCode {
                family,
                code,
                reason,
            } => {
                out[..4].copy_from_slice(&[
                    family.to_u8(),
                    0,
                    (code / 100) as u8,
                    (code % 100) as u8,
                ]);
                out[4..].copy_from_slice(reason.as_bytes());
            }
            Attribute::UnknownAttributes(l) => {
                for (chunk, v) in out.chunks_exact_mut(2).zip(l.iter()) {
                    chunk.copy_from_slice(&v.to_be_bytes());
                }
            }
            Attribute::PasswordAlgorithm(p) => write_password_algorithm(out, p),
            Attribute::PasswordAlgorithms(l) => {
                let mut at = 0;
                for p in l.iter() {
                    let n = p.encoded_len();
                    write_password_algorithm(&mut out[at..at + n], &p);
                    at += n;
                }
            }
            Attribute::UseCandidate | Attribute::DontFragment => {}
            Attribute::IceControlled(v)
            | Attribute::IceControlling(v)
            | Attribute::ReservationToken(v) => out.copy_from_slice(&v.to_be_bytes()),
            Attribute::ChannelNumber(n) => {
                out[..2].copy_from_slice(&n.to_be_bytes());
                out[2..4].fill(0);
            }
            Attribute::RequestedAddressFamily(f) | Attribute::AdditionalAddressFamily(f) => {
                out.copy_from_slice(&[f.to_u8(), 0, 0, 0])
            }
            Attribute::EvenPort(r) => out[0] = if *r { 0x80 } else { 0 },
            Attribute::RequestedTransport(p) => out.copy_from_slice(&[*p, 0, 0, 0]),
            Attribute::Icmp {
                icmp_type,
                code,
                error_data,
            } => {
                out[..4].copy_from_slice(&[0, 0, *icmp_type, *code]);
                out[4..].copy_from_slice(&error_data.to_be_bytes());
            }
        }
    }
}

fn write_password_algorithm(out: &mut [u8], p: &PasswordAlgorithm<'_>) {
    out[..2].copy_from_slice(&p.algorithm.to_be_bytes());
    out[2..4].copy_from_slice(&(p.parameters.len() as u16).to_be_bytes());
    out[4..4 + p.parameters.len()].copy_from_slice(p.parameters);
    out[4 + p.parameters.len()..].fill(0);
}
