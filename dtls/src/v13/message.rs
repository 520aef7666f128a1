//! DTLS 1.3 handshake messages (RFC 9147 5, RFC 8446 4): the DTLS handshake header, the
//! transcript form of a message (without message_seq and fragment fields, RFC 9147 5.2),
//! ClientHello, ServerHello and HelloRetryRequest, EncryptedExtensions, the TLS 1.3 Certificate,
//! CertificateVerify's signed content, Finished, the downgrade sentinels (RFC 8446 4.1.3) and
//! the `message_hash` that replaces the first ClientHello after a HelloRetryRequest (4.4.1),
//! and KeyUpdate (RFC 8446 4.6.3).
//! Extensions are kept as (type, data) pairs; helpers read the ones we use.

use crate::codec::{Reader, put_u24, put_vec8, put_vec16, put_vec24};
use crate::error::DtlsError;
use crate::fragment::HandshakeHeader;

/// Handshake message types (the crate's one table, 1.2 and 1.3).
pub use crate::message::msg_type as hs;

/// Extension types (the crate's one table, 1.2 and 1.3).
pub use crate::message::ext_type as ext;

/// The legacy_version of DTLS 1.3 hellos: DTLS 1.2.
pub const LEGACY_VERSION: u16 = crate::record::DTLS_1_2;
/// Bytes of the DTLS handshake header.
pub const HEADER_LEN: usize = crate::fragment::HEADER_LEN;

/// The ServerHello random that marks a HelloRetryRequest: SHA-256("HelloRetryRequest")
/// (RFC 8446 4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// The last 8 bytes of a ServerHello random of a server able to speak DTLS 1.3 that negotiates
/// DTLS 1.2 (RFC 8446 4.1.3 with RFC 9147 5.3's mapping).
pub const DOWNGRADE_TO_1_2: [u8; 8] = *b"DOWNGRD\x01";
/// The same for DTLS 1.0 (and TLS 1.1 and below).
pub const DOWNGRADE_TO_1_0: [u8; 8] = *b"DOWNGRD\x00";

/// Whether a server random carries a downgrade sentinel: a client that offered DTLS 1.3 and
/// gets an older version with one must abort with illegal_parameter.
pub fn has_downgrade_sentinel(server_random: &[u8; 32]) -> bool {
    let tail = &server_random[24..];
    tail == DOWNGRADE_TO_1_2 || tail == DOWNGRADE_TO_1_0
}

/// Appends a complete (unfragmented) handshake message with its DTLS header.
pub fn write_handshake(msg_type: u8, message_seq: u16, body: &[u8], out: &mut Vec<u8>) {
    HandshakeHeader {
        msg_type,
        length: body.len() as u32,
        message_seq,
        fragment_offset: 0,
        fragment_length: body.len() as u32,
    }
    .write(out);
    out.extend_from_slice(body);
}

/// A handshake fragment as framed in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// The message type.
    pub msg_type: u8,
    /// The whole message's length.
    pub length: u32,
    /// The message sequence number.
    pub message_seq: u16,
    /// Where this fragment starts in the message.
    pub offset: u32,
    /// The fragment's bytes.
    pub data: &'a [u8],
}

impl Fragment<'_> {
    /// Whether the fragment is the whole message.
    pub fn is_whole(&self) -> bool {
        self.offset == 0 && self.data.len() as u32 == self.length
    }
}

/// Splits a record's content into handshake fragments; fails on a fragment that overruns its
/// message or the record.
pub fn parse_fragments(content: &[u8]) -> Result<Vec<Fragment<'_>>, DtlsError> {
    let mut r = Reader::new(content);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        let (h, data) = HandshakeHeader::parse(&mut r)?;
        out.push(Fragment {
            msg_type: h.msg_type,
            length: h.length,
            message_seq: h.message_seq,
            offset: h.fragment_offset,
            data,
        });
    }
    Ok(out)
}

/// Appends a message in its transcript form: type || uint24 length || body (RFC 9147 5.2: no
/// message_seq, fragment_offset or fragment_length).
pub fn transcript_message(msg_type: u8, body: &[u8], transcript: &mut Vec<u8>) {
    transcript.push(msg_type);
    put_u24(transcript, body.len() as u32);
    transcript.extend_from_slice(body);
}

/// The `message_hash` message that replaces ClientHello1 in the transcript after a
/// HelloRetryRequest (RFC 8446 4.4.1), from Hash(ClientHello1).
pub fn message_hash(client_hello1_hash: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + client_hello1_hash.len());
    transcript_message(hs::MESSAGE_HASH, client_hello1_hash, &mut out);
    out
}

/// A list of extensions, in order, each type at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions(pub Vec<(u16, Vec<u8>)>);

impl Extensions {
    /// Parses an `extensions<..2^16-1>` vector's content; a repeated type is refused (RFC 8446
    /// 4.2).
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let mut list: Vec<(u16, Vec<u8>)> = Vec::new();
        while r.remaining() > 0 {
            let ty = r.u16()?;
            let data = r.vec16()?;
            if list.iter().any(|(t, _)| *t == ty) {
                return Err(DtlsError::Invalid("duplicate extension"));
            }
            list.push((ty, data.to_vec()));
        }
        Ok(Self(list))
    }
    /// Appends the vector with its length.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        for (ty, data) in &self.0 {
            body.extend_from_slice(&ty.to_be_bytes());
            put_vec16(&mut body, data);
        }
        put_vec16(out, &body);
    }
    /// The data of extension `ty`.
    pub fn get(&self, ty: u16) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, d)| d.as_slice())
    }
    /// Adds extension `ty`.
    pub fn push(&mut self, ty: u16, data: Vec<u8>) {
        self.0.push((ty, data));
    }
}

fn u16_list8(data: &[u8]) -> Result<Vec<u16>, DtlsError> {
    let mut r = Reader::new(data);
    let list = r.vec8()?;
    r.finish()?;
    if list.len() % 2 != 0 {
        return Err(DtlsError::Invalid("list length"));
    }
    Ok(list
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

fn u16_list16(data: &[u8]) -> Result<Vec<u16>, DtlsError> {
    let mut r = Reader::new(data);
    let list = r.vec16()?;
    r.finish()?;
    crate::codec::u16_list(list)
}

fn put_u16_list16(list: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    let body: Vec<u8> = list.iter().flat_map(|v| v.to_be_bytes()).collect();
    put_vec16(&mut out, &body);
    out
}

/// supported_versions of a ClientHello: a one-byte-length list.
pub fn client_versions_ext(versions: &[u16]) -> Vec<u8> {
    let body: Vec<u8> = versions.iter().flat_map(|v| v.to_be_bytes()).collect();
    let mut out = Vec::new();
    put_vec8(&mut out, &body);
    out
}

/// key_share of a ClientHello: `client_shares<0..2^16-1>` of (group, key_exchange).
pub fn client_key_share_ext(shares: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (group, kx) in shares {
        body.extend_from_slice(&group.to_be_bytes());
        put_vec16(&mut body, kx);
    }
    let mut out = Vec::new();
    put_vec16(&mut out, &body);
    out
}

/// key_share of a ServerHello: one (group, key_exchange).
pub fn server_key_share_ext(group: u16, kx: &[u8]) -> Vec<u8> {
    let mut out = group.to_be_bytes().to_vec();
    put_vec16(&mut out, kx);
    out
}

/// cookie: `cookie<1..2^16-1>`.
pub fn cookie_ext(cookie: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_vec16(&mut out, cookie);
    out
}

/// use_srtp (RFC 5764 4.1.1) with these profiles and an empty MKI.
pub fn use_srtp_ext(profiles: &[u16]) -> Vec<u8> {
    let mut out = put_u16_list16(profiles);
    out.push(0);
    out
}

/// A DTLS 1.3 ClientHello (RFC 9147 5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// legacy_version (DTLS 1.2).
    pub legacy_version: u16,
    /// random.
    pub random: [u8; 32],
    /// legacy_session_id.
    pub session_id: Vec<u8>,
    /// legacy_cookie (empty in DTLS 1.3; a DTLS 1.2 HelloVerifyRequest cookie otherwise).
    pub legacy_cookie: Vec<u8>,
    /// cipher_suites.
    pub cipher_suites: Vec<u16>,
    /// extensions.
    pub extensions: Extensions,
}

impl ClientHello {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let legacy_version = r.u16()?;
        let random = r.take(32)?.try_into().expect("32 bytes");
        let session_id = r.vec8()?.to_vec();
        let legacy_cookie = r.vec8()?.to_vec();
        let cipher_suites = crate::codec::u16_list(r.vec16()?)?;
        let _compression = r.vec8()?;
        let extensions = if r.remaining() > 0 {
            Extensions::parse(r.vec16()?)?
        } else {
            Extensions::default()
        };
        r.finish()?;
        Ok(Self {
            legacy_version,
            random,
            session_id,
            legacy_cookie,
            cipher_suites,
            extensions,
        })
    }
    /// Appends the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.legacy_version.to_be_bytes());
        out.extend_from_slice(&self.random);
        put_vec8(out, &self.session_id);
        put_vec8(out, &self.legacy_cookie);
        out.extend_from_slice(&put_u16_list16(&self.cipher_suites));
        put_vec8(out, &[0]);
        self.extensions.write(out);
    }
    /// The versions of supported_versions (empty when absent).
    pub fn supported_versions(&self) -> Result<Vec<u16>, DtlsError> {
        self.extensions
            .get(ext::SUPPORTED_VERSIONS)
            .map_or(Ok(Vec::new()), u16_list8)
    }
    /// The key shares offered (empty when absent); a group offered twice is refused.
    pub fn key_shares(&self) -> Result<Vec<(u16, &[u8])>, DtlsError> {
        let Some(data) = self.extensions.get(ext::KEY_SHARE) else {
            return Ok(Vec::new());
        };
        let mut r = Reader::new(data);
        let mut list = Reader::new(r.vec16()?);
        r.finish()?;
        let mut out: Vec<(u16, &[u8])> = Vec::new();
        while list.remaining() > 0 {
            let group = list.u16()?;
            let kx = list.vec16()?;
            if out.iter().any(|(g, _)| *g == group) {
                return Err(DtlsError::Invalid("duplicate key share"));
            }
            out.push((group, kx));
        }
        Ok(out)
    }
    /// The groups of supported_groups (empty when absent).
    pub fn supported_groups(&self) -> Result<Vec<u16>, DtlsError> {
        self.extensions
            .get(ext::SUPPORTED_GROUPS)
            .map_or(Ok(Vec::new()), u16_list16)
    }
    /// The schemes of signature_algorithms (empty when absent).
    pub fn signature_algorithms(&self) -> Result<Vec<u16>, DtlsError> {
        self.extensions
            .get(ext::SIGNATURE_ALGORITHMS)
            .map_or(Ok(Vec::new()), u16_list16)
    }
    /// The SRTP profiles of use_srtp (`None` when absent).
    pub fn srtp_profiles(&self) -> Result<Option<Vec<u16>>, DtlsError> {
        let Some(data) = self.extensions.get(ext::USE_SRTP) else {
            return Ok(None);
        };
        let mut r = Reader::new(data);
        let list = crate::codec::u16_list(r.vec16()?)?;
        let _mki = r.vec8()?;
        r.finish()?;
        Ok(Some(list))
    }
    /// The cookie extension's value (`None` when absent).
    pub fn cookie(&self) -> Result<Option<&[u8]>, DtlsError> {
        let Some(data) = self.extensions.get(ext::COOKIE) else {
            return Ok(None);
        };
        let mut r = Reader::new(data);
        let c = r.vec16()?;
        r.finish()?;
        Ok(Some(c))
    }
}

/// A ServerHello or HelloRetryRequest (RFC 8446 4.1.3, 4.1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// legacy_version (DTLS 1.2).
    pub legacy_version: u16,
    /// random ([`HRR_RANDOM`] for a HelloRetryRequest).
    pub random: [u8; 32],
    /// legacy_session_id_echo.
    pub session_id: Vec<u8>,
    /// cipher_suite.
    pub cipher_suite: u16,
    /// extensions.
    pub extensions: Extensions,
}

impl ServerHello {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let legacy_version = r.u16()?;
        let random = r.take(32)?.try_into().expect("32 bytes");
        let session_id = r.vec8()?.to_vec();
        let cipher_suite = r.u16()?;
        if r.u8()? != 0 {
            return Err(DtlsError::Invalid("compression method"));
        }
        let extensions = if r.remaining() > 0 {
            Extensions::parse(r.vec16()?)?
        } else {
            Extensions::default()
        };
        r.finish()?;
        Ok(Self {
            legacy_version,
            random,
            session_id,
            cipher_suite,
            extensions,
        })
    }
    /// Appends the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.legacy_version.to_be_bytes());
        out.extend_from_slice(&self.random);
        put_vec8(out, &self.session_id);
        out.extend_from_slice(&self.cipher_suite.to_be_bytes());
        out.push(0);
        self.extensions.write(out);
    }
    /// Whether this is a HelloRetryRequest.
    pub fn is_hello_retry_request(&self) -> bool {
        self.random == HRR_RANDOM
    }
    /// The selected version of supported_versions (`None` when absent: DTLS 1.2 or older).
    pub fn selected_version(&self) -> Result<Option<u16>, DtlsError> {
        let Some(data) = self.extensions.get(ext::SUPPORTED_VERSIONS) else {
            return Ok(None);
        };
        let mut r = Reader::new(data);
        let v = r.u16()?;
        r.finish()?;
        Ok(Some(v))
    }
    /// The server's key share (group, key_exchange); in a HelloRetryRequest only the group
    /// (with an empty key_exchange).
    pub fn key_share(&self) -> Result<Option<(u16, &[u8])>, DtlsError> {
        let Some(data) = self.extensions.get(ext::KEY_SHARE) else {
            return Ok(None);
        };
        let mut r = Reader::new(data);
        let group = r.u16()?;
        if self.is_hello_retry_request() {
            r.finish()?;
            return Ok(Some((group, &[])));
        }
        let kx = r.vec16()?;
        r.finish()?;
        Ok(Some((group, kx)))
    }
    /// The cookie of a HelloRetryRequest.
    pub fn cookie(&self) -> Result<Option<&[u8]>, DtlsError> {
        let Some(data) = self.extensions.get(ext::COOKIE) else {
            return Ok(None);
        };
        let mut r = Reader::new(data);
        let c = r.vec16()?;
        r.finish()?;
        Ok(Some(c))
    }
}

/// The TLS 1.3 Certificate message (RFC 8446 4.4.2): a request context and certificate
/// entries (their extensions kept raw).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate13 {
    /// certificate_request_context (empty for the server's).
    pub context: Vec<u8>,
    /// The DER certificates, end-entity first.
    pub certificates: Vec<Vec<u8>>,
}

impl Certificate13 {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let context = r.vec8()?.to_vec();
        let mut list = Reader::new(r.vec24()?);
        r.finish()?;
        let mut certificates = Vec::new();
        while list.remaining() > 0 {
            let der = list.vec24()?;
            if der.is_empty() {
                return Err(DtlsError::Invalid("empty certificate"));
            }
            let _extensions = list.vec16()?;
            certificates.push(der.to_vec());
        }
        Ok(Self {
            context,
            certificates,
        })
    }
    /// Appends the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        put_vec8(out, &self.context);
        let mut list = Vec::new();
        for der in &self.certificates {
            put_vec24(&mut list, der);
            put_vec16(&mut list, &[]);
        }
        put_vec24(out, &list);
    }
}

/// A CertificateVerify (RFC 8446 4.4.3): scheme and signature, the same body as DTLS 1.2's.
pub use crate::message::CertificateVerify;

/// The content a CertificateVerify signs (RFC 8446 4.4.3): 64 spaces, the context string of
/// the signer's role, a zero byte, the transcript hash.
pub fn certificate_verify_content(server: bool, transcript_hash: &[u8]) -> Vec<u8> {
    let context: &[u8] = if server {
        b"TLS 1.3, server CertificateVerify"
    } else {
        b"TLS 1.3, client CertificateVerify"
    };
    let mut out = vec![0x20; 64];
    out.extend_from_slice(context);
    out.push(0);
    out.extend_from_slice(transcript_hash);
    out
}

/// A KeyUpdate message (RFC 8446 4.6.3): the sender's next records use its next traffic
/// secret; `update_requested` asks the receiver to update its own sending keys too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUpdate {
    /// `update_requested` (1) rather than `update_not_requested` (0).
    pub update_requested: bool,
}

impl KeyUpdate {
    /// Parses a KeyUpdate body: exactly one byte, 0 or 1. A body of another length is a
    /// decode error ([`DtlsError::Truncated`] / [`DtlsError::TrailingBytes`], decode_error);
    /// another value is [`DtlsError::Invalid`] (illegal_parameter, as RFC 8446 4.6.3 asks).
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let value = r.u8()?;
        r.finish()?;
        match value {
            0 => Ok(Self {
                update_requested: false,
            }),
            1 => Ok(Self {
                update_requested: true,
            }),
            _ => Err(DtlsError::Invalid("KeyUpdate request_update")),
        }
    }

    /// The body.
    pub fn to_body(self) -> Vec<u8> {
        vec![u8::from(self.update_requested)]
    }
}

/// Checks the structure of a NewSessionTicket body (RFC 8446 4.6.1): ticket_lifetime (4 bytes),
/// ticket_age_add (4), ticket_nonce<0..255>, ticket<1..2^16-1>, extensions<0..2^16-2>, nothing
/// after. We never resume sessions, so nothing of it is kept. A body that does not parse is a
/// decode error ([`DtlsError::Truncated`] / [`DtlsError::TrailingBytes`]), an empty ticket
/// (below the vector's minimum length) too.
pub fn check_new_session_ticket(body: &[u8]) -> Result<(), DtlsError> {
    let mut r = Reader::new(body);
    r.take(8)?;
    r.vec8()?;
    if r.vec16()?.is_empty() {
        return Err(DtlsError::Truncated {
            needed: 1,
            available: 0,
        });
    }
    r.vec16()?;
    r.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_update_codec() {
        for update_requested in [false, true] {
            let ku = KeyUpdate { update_requested };
            let body = ku.to_body();
            assert_eq!(body, [u8::from(update_requested)]);
            assert_eq!(KeyUpdate::parse(&body), Ok(ku));
        }
        // Wrong length: decode_error; another value: illegal_parameter.
        for bad in [&[][..], &[0, 0], &[1, 0, 0]] {
            let e = KeyUpdate::parse(bad).unwrap_err();
            assert_eq!(
                e.alert(),
                crate::error::AlertDescription::DECODE_ERROR,
                "{bad:?}"
            );
        }
        for v in 2..=255u8 {
            let e = KeyUpdate::parse(&[v]).unwrap_err();
            assert_eq!(e, DtlsError::Invalid("KeyUpdate request_update"));
            assert_eq!(e.alert(), crate::error::AlertDescription::ILLEGAL_PARAMETER);
        }
    }

    #[test]
    fn hrr_random_is_sha256_of_its_name() {
        let d = ring::digest::digest(&ring::digest::SHA256, b"HelloRetryRequest");
        assert_eq!(d.as_ref(), HRR_RANDOM);
    }

    #[test]
    fn downgrade_sentinels() {
        let mut r = [7u8; 32];
        assert!(!has_downgrade_sentinel(&r));
        r[24..].copy_from_slice(&[0x44, 0x4F, 0x57, 0x4E, 0x47, 0x52, 0x44, 0x01]);
        assert!(has_downgrade_sentinel(&r));
        r[31] = 0;
        assert!(has_downgrade_sentinel(&r));
        r[31] = 2;
        assert!(!has_downgrade_sentinel(&r));
    }

    fn hello() -> ClientHello {
        let mut extensions = Extensions::default();
        extensions.push(
            ext::SUPPORTED_VERSIONS,
            client_versions_ext(&[0xFEFC, 0xFEFD]),
        );
        extensions.push(
            ext::KEY_SHARE,
            client_key_share_ext(&[(0x11EC, vec![1; 1216]), (0x001D, vec![2; 32])]),
        );
        extensions.push(ext::SUPPORTED_GROUPS, put_u16_list16(&[0x11EC, 0x001D, 23]));
        extensions.push(ext::SIGNATURE_ALGORITHMS, put_u16_list16(&[0x0403]));
        extensions.push(ext::USE_SRTP, use_srtp_ext(&[7, 1]));
        extensions.push(ext::COOKIE, cookie_ext(b"cookie"));
        ClientHello {
            legacy_version: LEGACY_VERSION,
            random: [3; 32],
            session_id: vec![],
            legacy_cookie: vec![],
            cipher_suites: vec![0x1301, 0x1303],
            extensions,
        }
    }

    #[test]
    fn client_hello_round_trip_and_accessors() {
        let ch = hello();
        let mut body = Vec::new();
        ch.write(&mut body);
        let back = ClientHello::parse(&body).expect("parses");
        assert_eq!(back, ch);
        assert_eq!(back.supported_versions().expect("v"), [0xFEFC, 0xFEFD]);
        let shares = back.key_shares().expect("shares");
        assert_eq!(shares.len(), 2);
        assert_eq!((shares[0].0, shares[0].1.len()), (0x11EC, 1216));
        assert_eq!(back.supported_groups().expect("g"), [0x11EC, 0x001D, 23]);
        assert_eq!(back.signature_algorithms().expect("s"), [0x0403]);
        assert_eq!(back.srtp_profiles().expect("srtp"), Some(vec![7, 1]));
        assert_eq!(back.cookie().expect("cookie"), Some(&b"cookie"[..]));
        // Truncations never parse, but for the one that ends before the (optional) extensions.
        let mut ext_len = Vec::new();
        ch.extensions.write(&mut ext_len);
        let without_extensions = body.len() - ext_len.len();
        for n in 0..body.len() {
            let r = ClientHello::parse(&body[..n]);
            assert_eq!(r.is_ok(), n == without_extensions, "{n}");
        }
    }

    #[test]
    fn duplicates_are_refused() {
        let mut ch = hello();
        ch.extensions.push(ext::COOKIE, cookie_ext(b"again"));
        let mut body = Vec::new();
        ch.write(&mut body);
        assert!(ClientHello::parse(&body).is_err());
        let mut ch = hello();
        ch.extensions.0[1].1 = client_key_share_ext(&[(29, vec![1; 32]), (29, vec![2; 32])]);
        assert!(ch.key_shares().is_err());
    }

    #[test]
    fn server_hello_and_hrr() {
        let mut extensions = Extensions::default();
        extensions.push(ext::SUPPORTED_VERSIONS, 0xFEFCu16.to_be_bytes().to_vec());
        extensions.push(ext::KEY_SHARE, server_key_share_ext(0x001D, &[5; 32]));
        let sh = ServerHello {
            legacy_version: LEGACY_VERSION,
            random: [9; 32],
            session_id: vec![],
            cipher_suite: 0x1301,
            extensions,
        };
        let mut body = Vec::new();
        sh.write(&mut body);
        let back = ServerHello::parse(&body).expect("parses");
        assert_eq!(back, sh);
        assert!(!back.is_hello_retry_request());
        assert_eq!(back.selected_version().expect("v"), Some(0xFEFC));
        assert_eq!(
            back.key_share().expect("ks"),
            Some((0x001D, &[5u8; 32][..]))
        );
        let mut extensions = Extensions::default();
        extensions.push(ext::SUPPORTED_VERSIONS, 0xFEFCu16.to_be_bytes().to_vec());
        extensions.push(ext::KEY_SHARE, 0x11ECu16.to_be_bytes().to_vec());
        extensions.push(ext::COOKIE, cookie_ext(&[1, 2, 3]));
        let hrr = ServerHello {
            random: HRR_RANDOM,
            extensions,
            ..sh
        };
        let mut body = Vec::new();
        hrr.write(&mut body);
        let back = ServerHello::parse(&body).expect("parses");
        assert!(back.is_hello_retry_request());
        assert_eq!(back.key_share().expect("ks"), Some((0x11EC, &[][..])));
        assert_eq!(back.cookie().expect("c"), Some(&[1u8, 2, 3][..]));
    }

    #[test]
    fn handshake_framing_and_transcript_form() {
        let mut rec = Vec::new();
        write_handshake(hs::FINISHED, 3, &[1, 2, 3], &mut rec);
        write_handshake(hs::KEY_UPDATE, 4, &[0], &mut rec);
        assert_eq!(rec.len(), 2 * HEADER_LEN + 4);
        let f = parse_fragments(&rec).expect("frames");
        assert_eq!(f.len(), 2);
        assert!(f[0].is_whole() && f[1].is_whole());
        assert_eq!(
            (f[0].msg_type, f[0].message_seq, f[0].data),
            (20, 3, &[1u8, 2, 3][..])
        );
        let mut t = Vec::new();
        transcript_message(hs::FINISHED, &[1, 2, 3], &mut t);
        assert_eq!(t, [20, 0, 0, 3, 1, 2, 3]);
        assert_eq!(message_hash(&[0xAA; 32])[..4], [254, 0, 0, 32]);
        // A fragment past its message's end.
        let bad = [20, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 2, 1, 2];
        assert!(parse_fragments(&bad).is_err());
    }

    #[test]
    fn certificate_and_verify_round_trip() {
        let c = Certificate13 {
            context: vec![],
            certificates: vec![vec![0x30, 1, 2], vec![0x30, 3]],
        };
        let mut body = Vec::new();
        c.write(&mut body);
        assert_eq!(Certificate13::parse(&body).expect("parses"), c);
        let cv = CertificateVerify {
            signature: crate::message::Signature {
                scheme: 0x0403,
                signature: vec![1; 70],
            },
        };
        let mut body = Vec::new();
        cv.write(&mut body);
        assert_eq!(CertificateVerify::parse(&body).expect("parses"), cv);
        let content = certificate_verify_content(true, &[0; 32]);
        assert_eq!(content.len(), 64 + 33 + 1 + 32);
        assert_ne!(content, certificate_verify_content(false, &[0; 32]));
    }

    /// A NewSessionTicket body: lifetime, age_add, nonce, ticket, extensions.
    fn ticket_body(nonce: &[u8], ticket: &[u8], extensions: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 0x1C, 0x20, 1, 2, 3, 4];
        put_vec8(&mut b, nonce);
        put_vec16(&mut b, ticket);
        put_vec16(&mut b, extensions);
        b
    }

    #[test]
    fn new_session_ticket_structure_is_checked() {
        let ok = ticket_body(&[7; 8], &[9; 200], &[0, 42, 0, 4, 0, 0, 0x40, 0]);
        check_new_session_ticket(&ok).expect("well formed");
        check_new_session_ticket(&ticket_body(&[], &[1], &[])).expect("minimal");
        // Every truncation, a trailing byte, an empty ticket: decode errors.
        for n in 0..ok.len() {
            let e = check_new_session_ticket(&ok[..n]).unwrap_err();
            assert!(matches!(e, DtlsError::Truncated { .. }), "{n}: {e:?}");
        }
        let mut long = ok.clone();
        long.push(0);
        assert_eq!(
            check_new_session_ticket(&long),
            Err(DtlsError::TrailingBytes(1))
        );
        let e = check_new_session_ticket(&ticket_body(&[1], &[], &[])).unwrap_err();
        assert_eq!(e.alert(), crate::AlertDescription::DECODE_ERROR, "{e:?}");
    }
}
