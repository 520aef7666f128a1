//! The DTLS 1.3 server: the stateless HelloRetryRequest cookie exchange (RFC 9147 5.1, the
//! DoS protection DTLS 1.2 has with HelloVerifyRequest: nothing is kept until a ClientHello
//! returns our cookie), then ServerHello, EncryptedExtensions, CertificateRequest, Certificate,
//! CertificateVerify, Finished, and the client's Certificate, CertificateVerify and Finished.

use std::time::Instant;

use sansrtc_core::crypto::{CryptoProvider, DigestAlgorithm, HmacKey};

use super::{Conn13, Cx, Res, SUITES, St, signature_algorithms_ext};
use crate::error::DtlsError;
use crate::fragment::Message;
use crate::v13::DTLS_1_3;
use crate::v13::key_schedule::Suite13;
use crate::v13::kx;
use crate::v13::message::{self as m, ext, hs};
use crate::v13::record as rec;

/// Our cookie's HMAC tag length.
const TAG_LEN: usize = 32;

/// What to do with a ClientHello offering DTLS 1.3.
pub(in crate::endpoint) enum HrrDecision {
    /// Answer with this HelloRetryRequest datagram (nothing kept).
    Retry(Vec<u8>),
    /// Our cookie came back: the connection, its first flight queued.
    Accept(Box<Conn13>),
    /// Nothing in common, or unparsable: dropped (nothing unauthenticated fails the server).
    Drop,
}

/// The HelloRetryRequest body; rebuilt byte for byte from the cookie's facts for the transcript.
fn hrr_body(session_id: &[u8], suite: Suite13, group: u16, cookie: &[u8]) -> Vec<u8> {
    let mut e = m::Extensions::default();
    e.push(ext::SUPPORTED_VERSIONS, DTLS_1_3.to_be_bytes().to_vec());
    if group != 0 {
        e.push(ext::KEY_SHARE, group.to_be_bytes().to_vec());
    }
    e.push(ext::COOKIE, m::cookie_ext(cookie));
    let mut out = Vec::new();
    m::ServerHello {
        legacy_version: m::LEGACY_VERSION,
        random: m::HRR_RANDOM,
        session_id: session_id.to_vec(),
        cipher_suite: suite.id(),
        extensions: e,
    }
    .write(&mut out);
    out
}

/// Bytes of the hello binding in a cookie (SHA-256).
const BINDING_LEN: usize = 32;

/// Extensions a second ClientHello may change (RFC 8446 4.1.2): key_share, cookie, padding (21),
/// pre_shared_key (41) and early_data (42).
const MAY_CHANGE: [u16; 5] = [ext::KEY_SHARE, ext::COOKIE, 21, 41, 42];

/// SHA-256 of a ClientHello without the extensions a retried hello may change: the same for a
/// client's first and second ClientHello, different for anyone else's (whose random differs).
fn hello_binding(ch: &m::ClientHello, crypto: &dyn CryptoProvider) -> [u8; BINDING_LEN] {
    let mut ch = ch.clone();
    ch.extensions.0.retain(|(t, _)| !MAY_CHANGE.contains(t));
    let mut body = Vec::new();
    ch.write(&mut body);
    let mut out = [0u8; BINDING_LEN];
    out.copy_from_slice(crypto.digest(DigestAlgorithm::Sha256, &body).as_ref());
    out
}

/// The cookie: suite, group (0: none asked), the hello binding, Hash(ClientHello1), and
/// HMAC-SHA256 over them. The binding lets the server refuse a cookie minted for another hello
/// (anyone can make us send a HelloRetryRequest to the client's address, for a ClientHello of
/// theirs, and the client cannot tell which hello a HelloRetryRequest answers).
fn make_cookie(
    key: &dyn HmacKey,
    suite: Suite13,
    group: u16,
    binding: &[u8; BINDING_LEN],
    h1: &[u8],
) -> Vec<u8> {
    let mut c = suite.id().to_be_bytes().to_vec();
    c.extend_from_slice(&group.to_be_bytes());
    c.extend_from_slice(binding);
    c.extend_from_slice(h1);
    let tag = key.sign(&[&c]);
    c.extend_from_slice(&tag.as_ref()[..TAG_LEN]);
    c
}

/// The facts of a valid cookie of ours: (suite, group, hello binding, Hash(ClientHello1)).
fn open_cookie(key: &dyn HmacKey, cookie: &[u8]) -> Option<(Suite13, u16, Vec<u8>, Vec<u8>)> {
    let (facts, tag) = cookie.split_at_checked(cookie.len().checked_sub(TAG_LEN)?)?;
    key.verify(&[facts], tag).then_some(())?;
    let suite = Suite13::from_id(u16::from_be_bytes([*facts.first()?, *facts.get(1)?]))?;
    let group = u16::from_be_bytes([*facts.get(2)?, *facts.get(3)?]);
    let binding = facts.get(4..4 + BINDING_LEN)?;
    let h1 = facts.get(4 + BINDING_LEN..)?;
    (h1.len() == suite.hash().output_len()).then(|| (suite, group, binding.to_vec(), h1.to_vec()))
}

/// A whole ClientHello offering DTLS 1.3 (`ch`, its `body`, `message_seq`, the record's
/// sequence number): a HelloRetryRequest with our cookie unless it carries a valid one, then
/// the connection. Only after a valid cookie can anything fail.
pub(in crate::endpoint) fn client_hello_13(
    now: Instant,
    cookie_secret: &[u8; 32],
    record_seq: u64,
    message_seq: u16,
    body: &[u8],
    ch: &m::ClientHello,
    cx: &mut Cx<'_>,
) -> Res<HrrDecision> {
    let key = cx
        .config
        .crypto
        .hmac_key(DigestAlgorithm::Sha256, cookie_secret);
    let Ok(Some(cookie)) = ch.cookie() else {
        return Ok(retry(&*key, record_seq, message_seq, body, ch, cx));
    };
    let Some((suite, group, binding, h1)) = open_cookie(&*key, cookie) else {
        return Ok(retry(&*key, record_seq, message_seq, body, ch, cx));
    };
    // A cookie of ours, but minted for another ClientHello (e.g. one an attacker sent in the
    // client's name): answered like a hello without a cookie, nothing kept.
    if binding != hello_binding(ch, cx.config.crypto) {
        return Ok(retry(&*key, record_seq, message_seq, body, ch, cx));
    }
    let cookie = cookie.to_vec();
    let next = message_seq.wrapping_add(1);
    let mut c = Conn13::new(crate::Role::Server, suite, cx.config, next);
    c.next_msg_seq = message_seq;
    c.plain_seq = record_seq;
    c.transcript = m::message_hash(&h1);
    let hrr = hrr_body(&ch.session_id, suite, group, &cookie);
    m::transcript_message(hs::SERVER_HELLO, &hrr, &mut c.transcript);
    m::transcript_message(hs::CLIENT_HELLO, body, &mut c.transcript);
    c.server_flight(now, ch, group, cx)?;
    Ok(HrrDecision::Accept(Box::new(c)))
}

/// The HelloRetryRequest for a ClientHello without our cookie.
fn retry(
    key: &dyn HmacKey,
    record_seq: u64,
    message_seq: u16,
    body: &[u8],
    ch: &m::ClientHello,
    cx: &Cx<'_>,
) -> HrrDecision {
    let Some(suite) = SUITES
        .into_iter()
        .find(|s| ch.cipher_suites.contains(&s.id()))
    else {
        return HrrDecision::Drop;
    };
    let (Ok(shares), Ok(groups)) = (ch.key_shares(), ch.supported_groups()) else {
        return HrrDecision::Drop;
    };
    // The HelloRetryRequest goes out anyway (for the cookie), so it may as well ask for our
    // preferred group (the first of `Config::groups13` the client supports: X25519MLKEM768 by
    // default) when the client sent no share of it: post-quantum keys at no extra round trip.
    // With no group in common it asks for none: the ClientHello returning the cookie then
    // fails the handshake with handshake_failure (once the client's address is proven).
    let best = cx
        .config
        .groups13
        .iter()
        .map(|g| g.id())
        .find(|g| groups.contains(g) || shares.iter().any(|s| s.0 == *g));
    let group = match best {
        Some(g) if !shares.iter().any(|s| s.0 == g) => g,
        _ => 0,
    };
    let mut t = Vec::new();
    m::transcript_message(hs::CLIENT_HELLO, body, &mut t);
    let cookie = make_cookie(
        key,
        suite,
        group,
        &hello_binding(ch, cx.config.crypto),
        &suite.hash().digest(cx.config.crypto, &t),
    );
    let hrr = hrr_body(&ch.session_id, suite, group, &cookie);
    let mut content = Vec::new();
    m::write_handshake(hs::SERVER_HELLO, message_seq, &hrr, &mut content);
    let mut d = Vec::new();
    rec::write_plaintext(rec::CT_HANDSHAKE, record_seq, &content, &mut d);
    HrrDecision::Retry(d)
}

impl Conn13 {
    /// ServerHello and the encrypted flight for the ClientHello that returned our cookie.
    fn server_flight(
        &mut self,
        now: Instant,
        ch: &m::ClientHello,
        cookie_group: u16,
        cx: &mut Cx<'_>,
    ) -> Res {
        if !ch.cipher_suites.contains(&self.suite.id()) {
            return Err(DtlsError::NoCommon("cipher suite"));
        }
        let shares = ch.key_shares()?;
        let (group, client_kx) = cx
            .config
            .groups13
            .iter()
            .map(|g| g.id())
            .filter(|g| cookie_group == 0 || *g == cookie_group)
            .find_map(|g| shares.iter().find(|s| s.0 == g).copied())
            .ok_or(DtlsError::NoCommon("group"))?;
        if !ch
            .signature_algorithms()?
            .contains(&cx.config.certificate.scheme())
        {
            return Err(DtlsError::NoCommon("signature scheme"));
        }
        let (server_kx, shared) = kx::server_share_with(
            group,
            client_kx,
            cx.config.key_randomness,
            cx.rng,
            cx.config.crypto,
        )?;
        self.group = group;
        if let Some(offered) = ch.srtp_profiles()? {
            self.srtp = cx
                .config
                .srtp_profiles
                .iter()
                .copied()
                .find(|p| offered.contains(&p.id()));
        }
        let mut e = m::Extensions::default();
        e.push(ext::SUPPORTED_VERSIONS, DTLS_1_3.to_be_bytes().to_vec());
        e.push(ext::KEY_SHARE, m::server_key_share_ext(group, &server_kx));
        let mut random = [0u8; 32];
        cx.rng.fill(&mut random);
        let mut sh = Vec::new();
        m::ServerHello {
            legacy_version: m::LEGACY_VERSION,
            random,
            session_id: ch.session_id.clone(),
            cipher_suite: self.suite.id(),
            extensions: e,
        }
        .write(&mut sh);
        m::transcript_message(hs::SERVER_HELLO, &sh, &mut self.transcript);
        self.handshake_keys(&shared)?;
        let mut ee = m::Extensions::default();
        if let Some(p) = self.srtp {
            ee.push(ext::USE_SRTP, m::use_srtp_ext(&[p.id()]));
        }
        let mut ee_body = Vec::new();
        ee.write(&mut ee_body);
        m::transcript_message(hs::ENCRYPTED_EXTENSIONS, &ee_body, &mut self.transcript);
        let hs2 = rec::EPOCH_HANDSHAKE;
        let mut flight = vec![
            (0, hs::SERVER_HELLO, sh),
            (hs2, hs::ENCRYPTED_EXTENSIONS, ee_body),
        ];
        if cx.config.require_client_certificate {
            let mut cr = vec![0u8];
            let mut e = m::Extensions::default();
            e.push(ext::SIGNATURE_ALGORITHMS, signature_algorithms_ext());
            e.write(&mut cr);
            m::transcript_message(hs::CERTIFICATE_REQUEST, &cr, &mut self.transcript);
            flight.push((hs2, hs::CERTIFICATE_REQUEST, cr));
        }
        let [cert, cv] = self.own_certificate(Vec::new(), cx)?;
        m::transcript_message(hs::CERTIFICATE, &cert, &mut self.transcript);
        m::transcript_message(hs::CERTIFICATE_VERIFY, &cv, &mut self.transcript);
        let s_hs = self.s_hs.as_ref().ok_or(DtlsError::Invalid("state"))?;
        let fin = self.ks.finished(s_hs, &self.th());
        m::transcript_message(hs::FINISHED, &fin, &mut self.transcript);
        flight.push((hs2, hs::CERTIFICATE, cert));
        flight.push((hs2, hs::CERTIFICATE_VERIFY, cv));
        flight.push((hs2, hs::FINISHED, fin));
        self.pending_peer_ap = Some(self.application_keys()?);
        self.send_flight(now, flight, cx);
        self.st = if cx.config.require_client_certificate {
            St::WaitCertificate
        } else {
            St::WaitFinished
        };
        Ok(())
    }

    /// One message for the server; false if the state does not take it.
    pub(super) fn server_message(
        &mut self,
        _now: Instant,
        msg: &Message,
        cx: &mut Cx<'_>,
    ) -> Res<bool> {
        if msg.epoch != 0 {
            // The client's flight acknowledges ours.
            self.deadline = None;
        }
        match (self.st, msg.msg_type) {
            (St::WaitCertificate, hs::CERTIFICATE) => {
                self.peer_certificate(msg, cx)?;
                self.st = St::WaitCertVerify;
            }
            (St::WaitCertVerify, hs::CERTIFICATE_VERIFY) => {
                self.peer_certificate_verify(msg)?;
                self.st = St::WaitFinished;
            }
            (St::WaitFinished, hs::FINISHED) => {
                let c_hs = self.c_hs.as_ref().ok_or(DtlsError::Invalid("state"))?;
                if !self.ks.verify_finished(c_hs, &self.th(), &msg.body) {
                    return Err(DtlsError::BadFinished);
                }
                let theirs = self
                    .pending_peer_ap
                    .take()
                    .ok_or(DtlsError::Invalid("state"))?;
                self.install_peer_application(&theirs)?;
                // The client's Finished acknowledges our flight: nothing more is sent in the
                // handshake epoch (a repeated client flight is acknowledged in epoch 3).
                self.flight = None;
                self.send_hs = None;
                self.connected();
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cert::Certificate;
    use crate::endpoint::{Config, Stats};
    use crate::rng::TestRng;
    use crate::v13::record::Record;

    /// A ClientHello offering DTLS 1.3 with `random`, an X25519 share and maybe a cookie.
    fn hello(random: u8, cookie: Option<&[u8]>) -> (Vec<u8>, m::ClientHello) {
        let mut e = m::Extensions::default();
        e.push(ext::SUPPORTED_VERSIONS, m::client_versions_ext(&[DTLS_1_3]));
        e.push(ext::SUPPORTED_GROUPS, vec![0, 2, 0, 0x1d]);
        e.push(ext::SIGNATURE_ALGORITHMS, vec![0, 2, 4, 3]);
        let mut rng = TestRng::new(u64::from(random));
        let (_, public) = kx::ClientKeyShare::generate(kx::X25519, &mut rng).unwrap();
        e.push(
            ext::KEY_SHARE,
            m::client_key_share_ext(&[(kx::X25519, public)]),
        );
        if let Some(c) = cookie {
            e.push(ext::COOKIE, m::cookie_ext(c));
        }
        let ch = m::ClientHello {
            legacy_version: m::LEGACY_VERSION,
            random: [random; 32],
            session_id: vec![],
            legacy_cookie: vec![],
            cipher_suites: vec![0x1301],
            extensions: e,
        };
        let mut body = Vec::new();
        ch.write(&mut body);
        (body, ch)
    }

    /// The cookie of a HelloRetryRequest datagram.
    fn cookie_of(d: &[u8]) -> Vec<u8> {
        let Some(Ok(Record::Plaintext(p))) = rec::parse_datagram(d).next() else {
            panic!("not a plaintext record");
        };
        let frags = m::parse_fragments(p.fragment).unwrap();
        let hrr = m::ServerHello::parse(frags[0].data).unwrap();
        assert!(hrr.is_hello_retry_request());
        hrr.cookie().unwrap().unwrap().to_vec()
    }

    #[test]
    fn a_cookie_minted_for_another_hello_is_answered_not_accepted() {
        let config = Config::new(Arc::new(Certificate::generate().unwrap()));
        let mut rng = TestRng::new(1);
        let mut stats = Stats::default();
        let mut buffers = crate::endpoint::buffers::Outbox::default();
        let mut cx = Cx {
            config: &config,
            rng: &mut rng,
            stats: &mut stats,
            buffers: &mut buffers,
        };
        let secret = [7u8; 32];
        let now = Instant::now();
        let retry_for = |b: &[u8], ch: &m::ClientHello, cx: &mut Cx<'_>| match client_hello_13(
            now, &secret, 0, 0, b, ch, cx,
        )
        .unwrap()
        {
            HrrDecision::Retry(d) => cookie_of(&d),
            _ => panic!("no HelloRetryRequest"),
        };
        // Someone else's hello (sent in our name), then ours: a cookie for each.
        let (b, ch) = hello(1, None);
        let theirs = retry_for(&b, &ch, &mut cx);
        let (b, ch) = hello(2, None);
        let ours = retry_for(&b, &ch, &mut cx);
        // Our second hello with the cookie minted for theirs: a fresh HelloRetryRequest (for this
        // hello), nothing kept.
        let (b, ch) = hello(2, Some(&theirs));
        let again = retry_for(&b, &ch, &mut cx);
        assert_ne!(again, theirs);
        // With the cookie minted for ours (and for the hello that carried the wrong one, which
        // differs from ours only in the cookie): accepted.
        for cookie in [ours, again] {
            let (b, ch) = hello(2, Some(&cookie));
            assert!(matches!(
                client_hello_13(now, &secret, 1, 1, &b, &ch, &mut cx).unwrap(),
                HrrDecision::Accept(_)
            ));
        }
        // A tampered cookie is not ours.
        let (b, ch) = hello(2, Some(&[0; 100]));
        assert!(matches!(
            client_hello_13(now, &secret, 1, 1, &b, &ch, &mut cx).unwrap(),
            HrrDecision::Retry(_)
        ));
    }
}
