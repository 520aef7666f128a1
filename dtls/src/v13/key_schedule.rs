//! The TLS 1.3 key schedule (RFC 8446 7.1) on the crypto provider's HMAC and HKDF, with the label prefix a
//! parameter: `"dtls13"` for DTLS 1.3 (RFC 9147 5.9), `"tls13 "` for TLS 1.3 (used by the tests
//! against the RFC 8448 traces). Traffic keys and IVs (RFC 8446 7.3), the record number
//! encryption key `sn_key` (RFC 9147 4.2.3), Finished (RFC 8446 4.4.4), KeyUpdate (7.2) and the
//! exporter (7.5).

use sansrtc_core::crypto::{CryptoProvider, DigestAlgorithm, HashContext};

use crate::cipher::Bulk;

/// The HKDF label prefix of DTLS 1.3 (RFC 9147 5.9).
pub const DTLS13_PREFIX: &[u8] = b"dtls13";
/// The HKDF label prefix of TLS 1.3 (RFC 8446 7.1).
pub const TLS13_PREFIX: &[u8] = b"tls13 ";

/// The hash of a TLS 1.3 cipher suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
}

impl Hash {
    /// The output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
        }
    }
    /// The provider's name for this hash.
    pub fn algorithm(self) -> DigestAlgorithm {
        match self {
            Self::Sha256 => DigestAlgorithm::Sha256,
            Self::Sha384 => DigestAlgorithm::Sha384,
        }
    }
    /// Hashes `data`.
    pub fn digest(self, crypto: &dyn CryptoProvider, data: &[u8]) -> Vec<u8> {
        crypto.digest(self.algorithm(), data).as_ref().to_vec()
    }
    /// A running hash of a transcript.
    pub fn context(self, crypto: &dyn CryptoProvider) -> Box<dyn HashContext> {
        crypto.hash(self.algorithm())
    }
}

/// The TLS 1.3 cipher suites (RFC 8446 B.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite13 {
    /// TLS_AES_128_GCM_SHA256 (0x1301).
    Aes128GcmSha256,
    /// TLS_AES_256_GCM_SHA384 (0x1302).
    Aes256GcmSha384,
    /// TLS_CHACHA20_POLY1305_SHA256 (0x1303).
    Chacha20Poly1305Sha256,
}

impl Suite13 {
    /// Every suite, in our order of preference.
    pub const ALL: [Suite13; 3] = [
        Self::Aes128GcmSha256,
        Self::Aes256GcmSha384,
        Self::Chacha20Poly1305Sha256,
    ];
    /// The IANA value.
    pub fn id(self) -> u16 {
        match self {
            Self::Aes128GcmSha256 => 0x1301,
            Self::Aes256GcmSha384 => 0x1302,
            Self::Chacha20Poly1305Sha256 => 0x1303,
        }
    }
    /// From the IANA value.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }
    /// The AEAD.
    pub fn bulk(self) -> Bulk {
        match self {
            Self::Aes128GcmSha256 => Bulk::Aes128Gcm,
            Self::Aes256GcmSha384 => Bulk::Aes256Gcm,
            Self::Chacha20Poly1305Sha256 => Bulk::Chacha20Poly1305,
        }
    }
    /// The hash of the key schedule and transcript.
    pub fn hash(self) -> Hash {
        match self {
            Self::Aes256GcmSha384 => Hash::Sha384,
            _ => Hash::Sha256,
        }
    }
    /// The AEAD key length (also the `sn_key` length).
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128GcmSha256 => 16,
            _ => 32,
        }
    }
}

/// A secret of the key schedule. Its `Debug` does not show the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Secret {
    /// A secret from its bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
    }
}

/// HKDF-Extract (RFC 5869 2.2): HMAC-Hash(salt, ikm); an empty salt stands for `Hash.length`
/// zero bytes, as does an empty `ikm` where RFC 8446 uses a zero IKM (pass it explicitly).
pub fn hkdf_extract(crypto: &dyn CryptoProvider, hash: Hash, salt: &[u8], ikm: &[u8]) -> Secret {
    let zeros = [0u8; 48];
    let salt = if salt.is_empty() {
        &zeros[..hash.output_len()]
    } else {
        salt
    };
    Secret(
        crypto
            .hkdf_extract(hash.algorithm(), salt, ikm)
            .as_ref()
            .to_vec(),
    )
}

/// HKDF-Expand-Label (RFC 8446 7.1) with the label prefix `prefix` (`"dtls13"` or `"tls13 "`):
/// HKDF-Expand(secret, HkdfLabel{len, prefix || label, context}, len).
///
/// # Panics
/// If `len` exceeds 255 hash lengths, or the label or context 255 bytes: callers pass constants.
pub fn hkdf_expand_label(
    crypto: &dyn CryptoProvider,
    hash: Hash,
    prefix: &[u8],
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Vec<u8> {
    let full = prefix.len() + label.len();
    assert!(full <= 255 && context.len() <= 255 && len <= u16::MAX as usize);
    let mut info = Vec::with_capacity(4 + full + context.len());
    info.extend_from_slice(&(len as u16).to_be_bytes());
    info.push(full as u8);
    info.extend_from_slice(prefix);
    info.extend_from_slice(label);
    info.push(context.len() as u8);
    info.extend_from_slice(context);
    let mut out = vec![0u8; len];
    crypto
        .hkdf_expand(hash.algorithm(), secret, &[&info], &mut out)
        .expect("output at most 255 hash lengths");
    out
}

/// The key schedule of one connection: its hash, label prefix and crypto provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySchedule {
    /// The suite's hash.
    pub hash: Hash,
    /// The HKDF label prefix: [`DTLS13_PREFIX`] or [`TLS13_PREFIX`].
    pub prefix: &'static [u8],
    /// Where HMAC, HKDF and the hash come from.
    pub crypto: &'static dyn CryptoProvider,
}

/// Traffic keys for one direction of one epoch (RFC 8446 7.3, RFC 9147 4.2.3).
#[derive(Clone, PartialEq, Eq)]
pub struct TrafficKeys {
    /// The AEAD key.
    pub key: Vec<u8>,
    /// The 12-byte write IV.
    pub iv: Vec<u8>,
    /// The record number encryption key.
    pub sn_key: Vec<u8>,
}

impl std::fmt::Debug for TrafficKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrafficKeys").finish_non_exhaustive()
    }
}

impl KeySchedule {
    /// The DTLS 1.3 key schedule for `hash`.
    pub fn dtls13(hash: Hash, crypto: &'static dyn CryptoProvider) -> Self {
        Self {
            hash,
            prefix: DTLS13_PREFIX,
            crypto,
        }
    }

    /// HKDF-Expand-Label with this schedule's hash and prefix.
    pub fn expand_label(
        &self,
        secret: &Secret,
        label: &[u8],
        context: &[u8],
        len: usize,
    ) -> Vec<u8> {
        hkdf_expand_label(
            self.crypto,
            self.hash,
            self.prefix,
            &secret.0,
            label,
            context,
            len,
        )
    }

    /// Derive-Secret(secret, label, transcript) = HKDF-Expand-Label(secret, label,
    /// transcript_hash, Hash.length), from the transcript's hash.
    pub fn derive_secret(&self, secret: &Secret, label: &[u8], transcript_hash: &[u8]) -> Secret {
        Secret(self.expand_label(secret, label, transcript_hash, self.hash.output_len()))
    }

    fn empty_hash(&self) -> Vec<u8> {
        self.hash.digest(self.crypto, &[])
    }

    /// The early secret without a PSK: HKDF-Extract(0, 0).
    pub fn early_secret(&self) -> Secret {
        hkdf_extract(
            self.crypto,
            self.hash,
            &[],
            &vec![0u8; self.hash.output_len()],
        )
    }

    /// The handshake secret: HKDF-Extract(Derive-Secret(early, "derived", ""), (EC)DHE).
    pub fn handshake_secret(&self, early: &Secret, shared: &[u8]) -> Secret {
        let salt = self.derive_secret(early, b"derived", &self.empty_hash());
        hkdf_extract(self.crypto, self.hash, &salt.0, shared)
    }

    /// The master secret: HKDF-Extract(Derive-Secret(handshake, "derived", ""), 0).
    pub fn master_secret(&self, handshake: &Secret) -> Secret {
        let salt = self.derive_secret(handshake, b"derived", &self.empty_hash());
        hkdf_extract(
            self.crypto,
            self.hash,
            &salt.0,
            &vec![0u8; self.hash.output_len()],
        )
    }

    /// client_handshake_traffic_secret, over ClientHello..ServerHello.
    pub fn client_handshake_traffic(&self, handshake: &Secret, th: &[u8]) -> Secret {
        self.derive_secret(handshake, b"c hs traffic", th)
    }
    /// server_handshake_traffic_secret, over ClientHello..ServerHello.
    pub fn server_handshake_traffic(&self, handshake: &Secret, th: &[u8]) -> Secret {
        self.derive_secret(handshake, b"s hs traffic", th)
    }
    /// client_application_traffic_secret_0, over ClientHello..server Finished.
    pub fn client_application_traffic(&self, master: &Secret, th: &[u8]) -> Secret {
        self.derive_secret(master, b"c ap traffic", th)
    }
    /// server_application_traffic_secret_0, over ClientHello..server Finished.
    pub fn server_application_traffic(&self, master: &Secret, th: &[u8]) -> Secret {
        self.derive_secret(master, b"s ap traffic", th)
    }
    /// exporter_master_secret, over ClientHello..server Finished.
    pub fn exporter_master(&self, master: &Secret, th: &[u8]) -> Secret {
        self.derive_secret(master, b"exp master", th)
    }
    /// resumption_master_secret, over ClientHello..client Finished.
    pub fn resumption_master(&self, master: &Secret, th: &[u8]) -> Secret {
        self.derive_secret(master, b"res master", th)
    }

    /// The next application traffic secret (KeyUpdate, RFC 8446 7.2).
    pub fn next_traffic_secret(&self, secret: &Secret) -> Secret {
        Secret(self.expand_label(secret, b"traffic upd", &[], self.hash.output_len()))
    }

    /// The write key, IV and `sn_key` of a traffic secret for `suite` (whose hash must be this
    /// schedule's).
    pub fn traffic_keys(&self, suite: Suite13, secret: &Secret) -> TrafficKeys {
        debug_assert_eq!(suite.hash(), self.hash);
        TrafficKeys {
            key: self.expand_label(secret, b"key", &[], suite.key_len()),
            iv: self.expand_label(secret, b"iv", &[], 12),
            sn_key: self.expand_label(secret, b"sn", &[], suite.key_len()),
        }
    }

    /// The Finished verify_data (RFC 8446 4.4.4): HMAC(finished_key, transcript_hash) with
    /// finished_key = HKDF-Expand-Label(base_key, "finished", "", Hash.length).
    pub fn finished(&self, base_key: &Secret, transcript_hash: &[u8]) -> Vec<u8> {
        let finished_key = self.expand_label(base_key, b"finished", &[], self.hash.output_len());
        let key = self.crypto.hmac_key(self.hash.algorithm(), &finished_key);
        key.sign(&[transcript_hash]).as_ref().to_vec()
    }

    /// Checks a received Finished in constant time.
    pub fn verify_finished(
        &self,
        base_key: &Secret,
        transcript_hash: &[u8],
        received: &[u8],
    ) -> bool {
        let finished_key = self.expand_label(base_key, b"finished", &[], self.hash.output_len());
        let key = self.crypto.hmac_key(self.hash.algorithm(), &finished_key);
        key.verify(&[transcript_hash], received)
    }

    /// TLS-Exporter(label, context, len) (RFC 8446 7.5): HKDF-Expand-Label(Derive-Secret(
    /// exporter_master, label, ""), "exporter", Hash(context), len). The DTLS-SRTP keying
    /// material is `export(ems, b"EXTRACTOR-dtls_srtp", b"", 60)` (RFC 5764 4.2 over RFC 9147).
    pub fn export(
        &self,
        exporter_master: &Secret,
        label: &[u8],
        context: &[u8],
        len: usize,
    ) -> Vec<u8> {
        let derived = self.derive_secret(exporter_master, label, &self.empty_hash());
        self.expand_label(
            &derived,
            b"exporter",
            &self.hash.digest(self.crypto, context),
            len,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// The TLS 1.3 schedule of RFC 8448, on the last provider this build has (aws-lc-rs when
    /// its feature is on; the DTLS tests run ring).
    fn tls() -> KeySchedule {
        KeySchedule {
            hash: Hash::Sha256,
            prefix: TLS13_PREFIX,
            crypto: *sansrtc_core::crypto::available().last().expect("ring"),
        }
    }

    fn dtls13(hash: Hash) -> KeySchedule {
        KeySchedule::dtls13(hash, &sansrtc_core::crypto::RING)
    }

    fn sha(hash: Hash, data: &[u8]) -> Vec<u8> {
        hash.digest(&sansrtc_core::crypto::RING, data)
    }

    // RFC 8448 section 3 (Simple 1-RTT Handshake), TLS_AES_128_GCM_SHA256, "tls13 " labels.
    const SHARED: &str = "8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d";
    const TH_HELLO: &str = "860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8";
    const TH_SERVER_FINISHED: &str =
        "9608102a0f1ccc6db6250b7b7e417b1a000eaada3daae4777a7686c9ff83df13";
    const TH_CLIENT_FINISHED: &str =
        "209145a96ee8e2a122ff810047cc952684658d6049e86429426db87c54ad143d";

    #[test]
    fn rfc8448_secrets() {
        let ks = tls();
        let early = ks.early_secret();
        assert_eq!(
            early.as_bytes(),
            h("33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a")
        );
        let derived = ks.derive_secret(&early, b"derived", &sha(Hash::Sha256, &[]));
        assert_eq!(
            derived.as_bytes(),
            h("6f2615a108c702c5678f54fc9dbab69716c076189c48250cebeac3576c3611ba")
        );
        let hs = ks.handshake_secret(&early, &h(SHARED));
        assert_eq!(
            hs.as_bytes(),
            h("1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac")
        );
        let c_hs = ks.client_handshake_traffic(&hs, &h(TH_HELLO));
        assert_eq!(
            c_hs.as_bytes(),
            h("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21")
        );
        let s_hs = ks.server_handshake_traffic(&hs, &h(TH_HELLO));
        assert_eq!(
            s_hs.as_bytes(),
            h("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
        );
        let master = ks.master_secret(&hs);
        assert_eq!(
            master.as_bytes(),
            h("18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919")
        );
        let c_ap = ks.client_application_traffic(&master, &h(TH_SERVER_FINISHED));
        assert_eq!(
            c_ap.as_bytes(),
            h("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5")
        );
        let s_ap = ks.server_application_traffic(&master, &h(TH_SERVER_FINISHED));
        assert_eq!(
            s_ap.as_bytes(),
            h("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643")
        );
        let exp = ks.exporter_master(&master, &h(TH_SERVER_FINISHED));
        assert_eq!(
            exp.as_bytes(),
            h("fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50")
        );
        let res = ks.resumption_master(&master, &h(TH_CLIENT_FINISHED));
        assert_eq!(
            res.as_bytes(),
            h("7df235f2031d2a051287d02b0241b0bfdaf86cc856231f2d5aba46c434ec196c")
        );
    }

    #[test]
    fn rfc8448_traffic_keys_and_finished() {
        let ks = tls();
        let suite = Suite13::Aes128GcmSha256;
        let c_hs = Secret::new(h(
            "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21",
        ));
        let s_hs = Secret::new(h(
            "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38",
        ));
        let k = ks.traffic_keys(suite, &s_hs);
        assert_eq!(k.key, h("3fce516009c21727d0f2e4e86ee403bc"));
        assert_eq!(k.iv, h("5d313eb2671276ee13000b30"));
        let k = ks.traffic_keys(suite, &c_hs);
        assert_eq!(k.key, h("dbfaa693d1762c5b666af5d950258d01"));
        assert_eq!(k.iv, h("5bd3c71b836e0b76bb73265f"));
        assert_eq!(
            ks.expand_label(&c_hs, b"finished", &[], 32),
            h("b80ad01015fb2f0bd65ff7d4da5d6bf83f84821d1f87fdc7d3c75b5a7b42d9c4")
        );
        assert_eq!(
            ks.expand_label(&s_hs, b"finished", &[], 32),
            h("008d3b66f816ea559f96b537e885c31fc068bf492c652f01f288a1d8cdc19fc8")
        );
        // The client's Finished covers ClientHello..server Finished.
        let fin = ks.finished(&c_hs, &h(TH_SERVER_FINISHED));
        assert_eq!(
            fin,
            h("a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61")
        );
        assert!(ks.verify_finished(&c_hs, &h(TH_SERVER_FINISHED), &fin));
        assert!(!ks.verify_finished(&s_hs, &h(TH_SERVER_FINISHED), &fin));
        let c_ap = Secret::new(h(
            "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5",
        ));
        let s_ap = Secret::new(h(
            "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643",
        ));
        let k = ks.traffic_keys(suite, &c_ap);
        assert_eq!(k.key, h("17422dda596ed5d9acd890e3c63f5051"));
        assert_eq!(k.iv, h("5b78923dee08579033e523d9"));
        let k = ks.traffic_keys(suite, &s_ap);
        assert_eq!(k.key, h("9f02283b6c9c07efc26bb9f2ac92e356"));
        assert_eq!(k.iv, h("cf782b88dd83549aadf1e984"));
        // The PSK of the ticket (ticket_nonce 0000) from the resumption master secret.
        let res = Secret::new(h(
            "7df235f2031d2a051287d02b0241b0bfdaf86cc856231f2d5aba46c434ec196c",
        ));
        assert_eq!(
            ks.expand_label(&res, b"resumption", &[0, 0], 32),
            h("4ecd0eb6ec3b4d87f5d6028f922ca4c5851a277fd41311c9e62d2c9492e1c4f3")
        );
    }

    #[test]
    fn dtls_labels_use_the_dtls13_prefix() {
        // HkdfLabel for "dtls13" || "key", 16 bytes, empty context, computed through ring's HKDF
        // directly: the prefix has no trailing space (RFC 9147 5.9).
        use ring::hkdf;
        struct Len(usize);
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let secret = [7u8; 32];
        let info: &[u8] = &[
            0, 16, 9, b'd', b't', b'l', b's', b'1', b'3', b'k', b'e', b'y', 0,
        ];
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &secret);
        let mut want = [0u8; 16];
        prk.expand(&[info], Len(16))
            .expect("len")
            .fill(&mut want)
            .expect("fill");
        let ks = dtls13(Hash::Sha256);
        let got = ks.expand_label(&Secret::new(secret.to_vec()), b"key", &[], 16);
        assert_eq!(got, want);
        // The DTLS and TLS schedules part at the first label.
        let dtls_hs = ks.handshake_secret(&ks.early_secret(), &h(SHARED));
        let tls_hs = tls().handshake_secret(&tls().early_secret(), &h(SHARED));
        assert_ne!(dtls_hs, tls_hs);
        // The early secret has no label: equal in both.
        assert_eq!(ks.early_secret(), tls().early_secret());
    }

    #[test]
    fn sha384_lengths_and_sn_key() {
        let ks = dtls13(Hash::Sha384);
        let early = ks.early_secret();
        assert_eq!(early.as_bytes().len(), 48);
        let hs = ks.handshake_secret(&early, &[1; 32]);
        let t = ks.client_handshake_traffic(&hs, &sha(Hash::Sha384, b"x"));
        let k = ks.traffic_keys(Suite13::Aes256GcmSha384, &t);
        assert_eq!((k.key.len(), k.iv.len(), k.sn_key.len()), (32, 12, 32));
        assert_ne!(k.key, k.sn_key);
        assert_eq!(ks.finished(&t, &[0; 48]).len(), 48);
        let next = ks.next_traffic_secret(&t);
        assert_eq!(next.as_bytes().len(), 48);
        assert_ne!(next, t);
    }

    #[test]
    fn exporter_is_label_and_context_bound() {
        let ks = dtls13(Hash::Sha256);
        let ems = Secret::new(vec![9; 32]);
        let srtp = ks.export(&ems, b"EXTRACTOR-dtls_srtp", b"", 60);
        assert_eq!(srtp.len(), 60);
        assert_eq!(srtp, ks.export(&ems, b"EXTRACTOR-dtls_srtp", b"", 60));
        assert_ne!(srtp, ks.export(&ems, b"EXTRACTOR-other", b"", 60));
        assert_ne!(srtp, ks.export(&ems, b"EXTRACTOR-dtls_srtp", b"c", 60));
        // Spelled out: Derive-Secret(ems, label, "") then Expand-Label("exporter", H("")).
        let empty = sha(Hash::Sha256, &[]);
        let d = ks.derive_secret(&ems, b"EXTRACTOR-dtls_srtp", &empty);
        assert_eq!(srtp, ks.expand_label(&d, b"exporter", &empty, 60));
    }
}
