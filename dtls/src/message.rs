//! Handshake messages (RFC 5246 section 7.4, RFC 6347 section 4.2) and the hello extensions we
//! speak. Each message type has a body struct with `parse` and `write`; the 12-byte DTLS handshake
//! header is handled by [`crate::fragment`].

use crate::codec::{Reader, put_u16_list, put_vec8, put_vec16, put_vec24, u16_list};
use crate::error::DtlsError;

/// Handshake message types.
pub mod msg_type {
    /// hello_request.
    pub const HELLO_REQUEST: u8 = 0;
    /// client_hello.
    pub const CLIENT_HELLO: u8 = 1;
    /// server_hello.
    pub const SERVER_HELLO: u8 = 2;
    /// hello_verify_request.
    pub const HELLO_VERIFY_REQUEST: u8 = 3;
    /// certificate.
    pub const CERTIFICATE: u8 = 11;
    /// server_key_exchange.
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    /// certificate_request.
    pub const CERTIFICATE_REQUEST: u8 = 13;
    /// server_hello_done.
    pub const SERVER_HELLO_DONE: u8 = 14;
    /// certificate_verify.
    pub const CERTIFICATE_VERIFY: u8 = 15;
    /// client_key_exchange.
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    /// finished.
    pub const FINISHED: u8 = 20;
    /// new_session_ticket (TLS 1.3).
    pub const NEW_SESSION_TICKET: u8 = 4;
    /// encrypted_extensions (TLS 1.3).
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    /// key_update (TLS 1.3).
    pub const KEY_UPDATE: u8 = 24;
    /// message_hash (TLS 1.3): the stand-in of the first ClientHello after a
    /// HelloRetryRequest.
    pub const MESSAGE_HASH: u8 = 254;
}

/// Named groups.
pub mod group {
    /// secp256r1.
    pub const SECP256R1: u16 = 23;
    /// secp384r1.
    pub const SECP384R1: u16 = 24;
    /// x25519.
    pub const X25519: u16 = 29;
}

/// Signature schemes (RFC 8446 code points, used by TLS 1.2 as hash/signature pairs).
pub mod sig {
    /// ecdsa_secp256r1_sha256.
    pub const ECDSA_SECP256R1_SHA256: u16 = 0x0403;
    /// ecdsa_secp384r1_sha384.
    pub const ECDSA_SECP384R1_SHA384: u16 = 0x0503;
    /// rsa_pkcs1_sha256.
    pub const RSA_PKCS1_SHA256: u16 = 0x0401;
    /// rsa_pkcs1_sha384.
    pub const RSA_PKCS1_SHA384: u16 = 0x0501;
    /// rsa_pss_rsae_sha256.
    pub const RSA_PSS_RSAE_SHA256: u16 = 0x0804;
    /// rsa_pss_rsae_sha384.
    pub const RSA_PSS_RSAE_SHA384: u16 = 0x0805;
    /// rsa_pss_rsae_sha512.
    pub const RSA_PSS_RSAE_SHA512: u16 = 0x0806;
    /// Every scheme we can verify, in preference order.
    pub const VERIFY: [u16; 6] = [
        ECDSA_SECP256R1_SHA256,
        ECDSA_SECP384R1_SHA384,
        RSA_PSS_RSAE_SHA256,
        RSA_PKCS1_SHA256,
        RSA_PSS_RSAE_SHA384,
        RSA_PKCS1_SHA384,
    ];
}

/// Hello extension types (DTLS 1.2 and 1.3).
pub mod ext_type {
    /// supported_groups (10).
    pub const SUPPORTED_GROUPS: u16 = 10;
    /// ec_point_formats (11).
    pub const EC_POINT_FORMATS: u16 = 11;
    /// signature_algorithms (13).
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    /// use_srtp (14).
    pub const USE_SRTP: u16 = 14;
    /// extended_master_secret (23).
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    /// supported_versions (43, TLS 1.3).
    pub const SUPPORTED_VERSIONS: u16 = 43;
    /// cookie (44, TLS 1.3).
    pub const COOKIE: u16 = 44;
    /// key_share (51, TLS 1.3).
    pub const KEY_SHARE: u16 = 51;
    /// renegotiation_info (0xff01).
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// The extension types an extensions block has shown so far: one bit for each of the 65536
/// types (8 KiB on the stack), so the duplicate check is one lookup per extension and allocates
/// nothing.
struct SeenTypes([u64; 1024]);

impl SeenTypes {
    fn new() -> Self {
        Self([0; 1024])
    }
    /// Records `ty`; false if it was already there.
    fn insert(&mut self, ty: u16) -> bool {
        let (word, bit) = (usize::from(ty / 64), ty % 64);
        let fresh = self.0[word] & (1 << bit) == 0;
        self.0[word] |= 1 << bit;
        fresh
    }
}

/// The hello extensions we understand; unknown ones are skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// use_srtp profiles (RFC 5764); `None` when absent.
    pub srtp_profiles: Option<Vec<u16>>,
    /// The use_srtp MKI.
    pub srtp_mki: Vec<u8>,
    /// extended_master_secret present (RFC 7627).
    pub extended_master_secret: bool,
    /// renegotiation_info payload (RFC 5746); `None` when absent.
    pub renegotiation_info: Option<Vec<u8>>,
    /// supported_groups.
    pub supported_groups: Option<Vec<u16>>,
    /// ec_point_formats.
    pub ec_point_formats: Option<Vec<u8>>,
    /// signature_algorithms.
    pub signature_algorithms: Option<Vec<u16>>,
}

impl Extensions {
    /// Parses an extensions block (the bytes inside its two-byte length).
    pub fn parse(bytes: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(bytes);
        let mut e = Self::default();
        let mut seen = SeenTypes::new();
        while r.remaining() > 0 {
            let ty = r.u16()?;
            let body = r.vec16()?;
            if !seen.insert(ty) {
                return Err(DtlsError::Invalid("duplicate extension"));
            }
            let mut b = Reader::new(body);
            match ty {
                ext_type::USE_SRTP => {
                    e.srtp_profiles = Some(u16_list(b.vec16()?)?);
                    e.srtp_mki = b.vec8()?.to_vec();
                    b.finish()?;
                }
                ext_type::EXTENDED_MASTER_SECRET => {
                    b.finish()?;
                    e.extended_master_secret = true;
                }
                ext_type::RENEGOTIATION_INFO => {
                    e.renegotiation_info = Some(b.vec8()?.to_vec());
                    b.finish()?;
                }
                ext_type::SUPPORTED_GROUPS => {
                    e.supported_groups = Some(u16_list(b.vec16()?)?);
                    b.finish()?;
                }
                ext_type::EC_POINT_FORMATS => {
                    e.ec_point_formats = Some(b.vec8()?.to_vec());
                    b.finish()?;
                }
                ext_type::SIGNATURE_ALGORITHMS => {
                    e.signature_algorithms = Some(u16_list(b.vec16()?)?);
                    b.finish()?;
                }
                _ => {}
            }
        }
        Ok(e)
    }

    /// Appends the extensions block with its two-byte length (nothing if empty).
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        let mut ext = |ty: u16, data: &[u8]| {
            body.extend_from_slice(&ty.to_be_bytes());
            put_vec16(&mut body, data);
        };
        if let Some(groups) = &self.supported_groups {
            let mut d = Vec::new();
            put_u16_list(&mut d, groups);
            ext(ext_type::SUPPORTED_GROUPS, &d);
        }
        if let Some(formats) = &self.ec_point_formats {
            let mut d = Vec::new();
            put_vec8(&mut d, formats);
            ext(ext_type::EC_POINT_FORMATS, &d);
        }
        if let Some(algs) = &self.signature_algorithms {
            let mut d = Vec::new();
            put_u16_list(&mut d, algs);
            ext(ext_type::SIGNATURE_ALGORITHMS, &d);
        }
        if let Some(profiles) = &self.srtp_profiles {
            let mut d = Vec::new();
            put_u16_list(&mut d, profiles);
            put_vec8(&mut d, &self.srtp_mki);
            ext(ext_type::USE_SRTP, &d);
        }
        if self.extended_master_secret {
            ext(ext_type::EXTENDED_MASTER_SECRET, &[]);
        }
        if let Some(info) = &self.renegotiation_info {
            let mut d = Vec::new();
            put_vec8(&mut d, info);
            ext(ext_type::RENEGOTIATION_INFO, &d);
        }
        if !body.is_empty() {
            put_vec16(out, &body);
        }
    }
}

/// ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// client_version.
    pub version: u16,
    /// The client random.
    pub random: [u8; 32],
    /// Session id (we never resume).
    pub session_id: Vec<u8>,
    /// The cookie from HelloVerifyRequest (empty at first).
    pub cookie: Vec<u8>,
    /// Offered cipher suite ids.
    pub cipher_suites: Vec<u16>,
    /// Offered compression methods.
    pub compression_methods: Vec<u8>,
    /// Extensions.
    pub extensions: Extensions,
}

fn random(r: &mut Reader<'_>) -> Result<[u8; 32], DtlsError> {
    let mut out = [0u8; 32];
    out.copy_from_slice(r.take(32)?);
    Ok(out)
}

impl ClientHello {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let version = r.u16()?;
        let random = random(&mut r)?;
        let session_id = r.vec8()?;
        if session_id.len() > 32 {
            return Err(DtlsError::Invalid("session id length"));
        }
        let cookie = r.vec8()?;
        if cookie.len() > 255 {
            return Err(DtlsError::Invalid("cookie length"));
        }
        let cipher_suites = u16_list(r.vec16()?)?;
        let compression_methods = r.vec8()?.to_vec();
        let extensions = if r.remaining() > 0 {
            Extensions::parse(r.vec16()?)?
        } else {
            Extensions::default()
        };
        r.finish()?;
        Ok(Self {
            version,
            random,
            session_id: session_id.to_vec(),
            cookie: cookie.to_vec(),
            cipher_suites,
            compression_methods,
            extensions,
        })
    }
    /// Appends the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.random);
        put_vec8(out, &self.session_id);
        put_vec8(out, &self.cookie);
        put_u16_list(out, &self.cipher_suites);
        put_vec8(out, &self.compression_methods);
        self.extensions.write(out);
    }
}

/// The front of a ClientHello up to and including its cipher suites: everything a stateless
/// server's cookie covers (RFC 6347 4.2.1), readable from the first fragment of a fragmented
/// ClientHello before the rest has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHelloPrefix<'a> {
    /// client_version.
    pub version: u16,
    /// The client random.
    pub random: &'a [u8; 32],
    /// Session id.
    pub session_id: &'a [u8],
    /// The cookie (empty in a first ClientHello).
    pub cookie: &'a [u8],
    /// The cipher suite list as on the wire (two bytes per suite).
    pub cipher_suites: &'a [u8],
}

impl<'a> ClientHelloPrefix<'a> {
    /// Reads the prefix from the front of a (possibly partial) ClientHello body; fails when
    /// `front` ends before the cipher suites do.
    pub fn parse(front: &'a [u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(front);
        let version = r.u16()?;
        let random = r.take(32)?.try_into().expect("32 bytes");
        let session_id = r.vec8()?;
        if session_id.len() > 32 {
            return Err(DtlsError::Invalid("session id length"));
        }
        let cookie = r.vec8()?;
        let cipher_suites = r.vec16()?;
        if cipher_suites.len() % 2 != 0 {
            return Err(DtlsError::Invalid("odd cipher suite list"));
        }
        Ok(Self {
            version,
            random,
            session_id,
            cookie,
            cipher_suites,
        })
    }
}

/// HelloVerifyRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloVerifyRequest {
    /// server_version.
    pub version: u16,
    /// The cookie.
    pub cookie: Vec<u8>,
}

impl HelloVerifyRequest {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let version = r.u16()?;
        let cookie = r.vec8()?.to_vec();
        r.finish()?;
        Ok(Self { version, cookie })
    }
    /// Appends the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_be_bytes());
        put_vec8(out, &self.cookie);
    }
}

/// ServerHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// server_version.
    pub version: u16,
    /// The server random.
    pub random: [u8; 32],
    /// Session id.
    pub session_id: Vec<u8>,
    /// The chosen suite.
    pub cipher_suite: u16,
    /// The chosen compression method.
    pub compression_method: u8,
    /// Extensions.
    pub extensions: Extensions,
}

impl ServerHello {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let version = r.u16()?;
        let random = random(&mut r)?;
        let session_id = r.vec8()?.to_vec();
        let cipher_suite = r.u16()?;
        let compression_method = r.u8()?;
        let extensions = if r.remaining() > 0 {
            Extensions::parse(r.vec16()?)?
        } else {
            Extensions::default()
        };
        r.finish()?;
        Ok(Self {
            version,
            random,
            session_id,
            cipher_suite,
            compression_method,
            extensions,
        })
    }
    /// Appends the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.random);
        put_vec8(out, &self.session_id);
        out.extend_from_slice(&self.cipher_suite.to_be_bytes());
        out.push(self.compression_method);
        self.extensions.write(out);
    }
}

/// Certificate: a chain of DER certificates, leaf first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateMsg {
    /// DER certificates.
    pub chain: Vec<Vec<u8>>,
}

impl CertificateMsg {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let list = r.vec24()?;
        r.finish()?;
        let mut l = Reader::new(list);
        let mut chain = Vec::new();
        while l.remaining() > 0 {
            chain.push(l.vec24()?.to_vec());
        }
        Ok(Self { chain })
    }
    /// Appends the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut list = Vec::new();
        for c in &self.chain {
            put_vec24(&mut list, c);
        }
        put_vec24(out, &list);
    }
}

/// A digitally-signed struct: scheme and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The signature scheme.
    pub scheme: u16,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

impl Signature {
    fn parse(r: &mut Reader<'_>) -> Result<Self, DtlsError> {
        let scheme = r.u16()?;
        let signature = r.vec16()?.to_vec();
        Ok(Self { scheme, signature })
    }
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.scheme.to_be_bytes());
        put_vec16(out, &self.signature);
    }
}

/// ServerKeyExchange for ECDHE with a named curve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKeyExchange {
    /// The named group.
    pub group: u16,
    /// The server's ephemeral public key.
    pub public: Vec<u8>,
    /// The signature over client_random + server_random + params.
    pub signature: Signature,
}

impl ServerKeyExchange {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        if r.u8()? != 3 {
            return Err(DtlsError::Invalid("curve type (only named_curve)"));
        }
        let group = r.u16()?;
        let public = r.vec8()?.to_vec();
        let signature = Signature::parse(&mut r)?;
        r.finish()?;
        Ok(Self {
            group,
            public,
            signature,
        })
    }
    /// The signed ServerECDHParams bytes.
    pub fn params(group: u16, public: &[u8]) -> Vec<u8> {
        let mut p = vec![3];
        p.extend_from_slice(&group.to_be_bytes());
        put_vec8(&mut p, public);
        p
    }
    /// Appends the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&Self::params(self.group, &self.public));
        self.signature.write(out);
    }
}

/// CertificateRequest (TLS 1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRequest {
    /// Certificate types (64 = ecdsa_sign, 1 = rsa_sign).
    pub certificate_types: Vec<u8>,
    /// Acceptable signature schemes.
    pub signature_algorithms: Vec<u16>,
}

impl CertificateRequest {
    /// Parses the body (certificate_authorities are read and ignored).
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let certificate_types = r.vec8()?.to_vec();
        let signature_algorithms = u16_list(r.vec16()?)?;
        let _authorities = r.vec16()?;
        r.finish()?;
        Ok(Self {
            certificate_types,
            signature_algorithms,
        })
    }
    /// Appends the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        put_vec8(out, &self.certificate_types);
        put_u16_list(out, &self.signature_algorithms);
        put_vec16(out, &[]);
    }
}

/// ClientKeyExchange for ECDHE: the client's ephemeral public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKeyExchange {
    /// The public key point.
    pub public: Vec<u8>,
}

impl ClientKeyExchange {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let public = r.vec8()?.to_vec();
        r.finish()?;
        Ok(Self { public })
    }
    /// Appends the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        put_vec8(out, &self.public);
    }
}

/// CertificateVerify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateVerify {
    /// The signature over the transcript.
    pub signature: Signature,
}

impl CertificateVerify {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, DtlsError> {
        let mut r = Reader::new(body);
        let signature = Signature::parse(&mut r)?;
        r.finish()?;
        Ok(Self { signature })
    }
    /// Appends the body.
    pub fn write(&self, out: &mut Vec<u8>) {
        self.signature.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_ext() -> Extensions {
        Extensions {
            srtp_profiles: Some(vec![7, 1]),
            srtp_mki: vec![],
            extended_master_secret: true,
            renegotiation_info: Some(vec![]),
            supported_groups: Some(vec![29, 23]),
            ec_point_formats: Some(vec![0]),
            signature_algorithms: Some(sig::VERIFY.to_vec()),
        }
    }

    #[test]
    fn client_hello_round_trip() {
        let ch = ClientHello {
            version: 0xfefd,
            random: [9; 32],
            session_id: vec![],
            cookie: vec![1, 2, 3],
            cipher_suites: vec![0xc02b, 0xc02f],
            compression_methods: vec![0],
            extensions: sample_ext(),
        };
        let mut b = Vec::new();
        ch.write(&mut b);
        assert_eq!(ClientHello::parse(&b).unwrap(), ch);
        let mut bare = Vec::new();
        ClientHello {
            extensions: Extensions::default(),
            ..ch.clone()
        }
        .write(&mut bare);
        for n in 0..b.len() {
            if n == bare.len() {
                continue; // the extensions block is optional
            }
            assert!(
                ClientHello::parse(&b[..n]).is_err(),
                "prefix {n} must not parse"
            );
        }
    }

    #[test]
    fn server_messages_round_trip() {
        let sh = ServerHello {
            version: 0xfefd,
            random: [1; 32],
            session_id: vec![5; 32],
            cipher_suite: 0xc02b,
            compression_method: 0,
            extensions: sample_ext(),
        };
        let mut b = Vec::new();
        sh.write(&mut b);
        assert_eq!(ServerHello::parse(&b).unwrap(), sh);
        let ske = ServerKeyExchange {
            group: 29,
            public: vec![4; 32],
            signature: Signature {
                scheme: 0x0403,
                signature: vec![1; 70],
            },
        };
        let mut b = Vec::new();
        ske.write(&mut b);
        assert_eq!(ServerKeyExchange::parse(&b).unwrap(), ske);
        let cr = CertificateRequest {
            certificate_types: vec![64, 1],
            signature_algorithms: vec![0x0403],
        };
        let mut b = Vec::new();
        cr.write(&mut b);
        assert_eq!(CertificateRequest::parse(&b).unwrap(), cr);
        let c = CertificateMsg {
            chain: vec![vec![1, 2], vec![3]],
        };
        let mut b = Vec::new();
        c.write(&mut b);
        assert_eq!(CertificateMsg::parse(&b).unwrap(), c);
    }

    #[test]
    fn duplicate_extension_rejected() {
        let bytes = [0, 23, 0, 0, 0, 23, 0, 0];
        assert_eq!(
            Extensions::parse(&bytes),
            Err(DtlsError::Invalid("duplicate extension"))
        );
        // At the edges of the type space, and far apart in the block.
        for ty in [0u16, 63, 64, 0x7fff, 0xfffe, 0xffff] {
            let [a, b] = ty.to_be_bytes();
            let mut block = vec![a, b, 0, 0];
            block.extend(distinct_extensions(1000));
            assert!(Extensions::parse(&block).is_ok(), "{ty}");
            block.extend([a, b, 0, 0]);
            assert_eq!(
                Extensions::parse(&block),
                Err(DtlsError::Invalid("duplicate extension")),
                "{ty}"
            );
        }
    }

    /// An extensions block of `n` (at most 0x8000) empty extensions of distinct unknown types.
    fn distinct_extensions(n: u16) -> Vec<u8> {
        (0..n)
            .flat_map(|t| {
                let [a, b] = (0x8000 + t).to_be_bytes();
                [a, b, 0, 0]
            })
            .collect()
    }

    #[test]
    fn duplicate_check_is_not_quadratic() {
        // The largest block a ClientHello body can carry holds 16383 empty extensions: checking
        // them for duplicates must take time linear in that, not 16383^2 / 2 comparisons.
        let block = distinct_extensions(16383);
        let start = std::time::Instant::now();
        for _ in 0..4 {
            assert_eq!(Extensions::parse(&block), Ok(Extensions::default()));
        }
        let took = start.elapsed();
        eprintln!("4 parses of 16383 extensions: {took:?}");
        assert!(took < std::time::Duration::from_millis(400), "{took:?}");
    }
}
