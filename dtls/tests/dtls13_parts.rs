//! A DTLS 1.3 handshake composed by hand from the `v13` building blocks (the endpoint does not
//! speak 1.3 yet): ClientHello with supported_versions, key_share (X25519MLKEM768 and/or
//! X25519), signature_algorithms and use_srtp in a plaintext record; an optional
//! HelloRetryRequest with a cookie (ClientHello1 replaced by message_hash); ServerHello;
//! EncryptedExtensions, Certificate, CertificateVerify and Finished in epoch 2 records with
//! encrypted record numbers; the client's Certificate, CertificateVerify and Finished; both
//! certificates checked against fingerprints and their signatures verified; application data and
//! an ACK in epoch 3; both sides export the same DTLS-SRTP keying material. Also the downgrade
//! sentinel a 1.3-capable client checks when a server answers with DTLS 1.2.

use sansrtc_dtls::cert::PeerKey;
use sansrtc_dtls::v13::DTLS_1_3;
use sansrtc_dtls::v13::ack::{RecordNumber, parse_ack, write_ack};
use sansrtc_dtls::v13::key_schedule::{KeySchedule, Secret, Suite13};
use sansrtc_dtls::v13::kx::{self, ClientKeyShare};
use sansrtc_dtls::v13::message::{self as m, ext, hs};
use sansrtc_dtls::v13::record::{
    self as rec, EpochKeys, HeaderForm, Record, RecvEpoch, RecvEpochs, SendEpoch,
};
use sansrtc_dtls::{Certificate, Fingerprint, HashAlgorithm, NamedGroup, TestRng};

/// The provider of the hand-driven handshake parts (the default: ring).
const CRYPTO: &dyn sansrtc_core::crypto::CryptoProvider = &sansrtc_core::crypto::RING;

const SCHEME: u16 = 0x0403;

fn handshake_msgs(content: &[u8]) -> Vec<(u8, Vec<u8>)> {
    m::parse_fragments(content)
        .expect("handshake framing")
        .into_iter()
        .map(|f| {
            assert!(f.is_whole());
            (f.msg_type, f.data.to_vec())
        })
        .collect()
}

fn plaintext_msgs(datagram: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    for r in rec::parse_datagram(datagram) {
        match r.expect("record") {
            Record::Plaintext(p) => {
                assert_eq!(p.content_type, rec::CT_HANDSHAKE);
                out.extend(handshake_msgs(p.fragment));
            }
            Record::Ciphertext(_) => panic!("protected record in a plaintext flight"),
        }
    }
    out
}

fn protected_msgs(
    datagram: &[u8],
    epochs: &mut RecvEpochs,
    acks: &mut Vec<RecordNumber>,
) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    for r in rec::parse_datagram(datagram) {
        let Record::Ciphertext(c) = r.expect("record") else {
            panic!("plaintext record in a protected flight")
        };
        let (epoch, opened) = epochs.open(&c).expect("opens");
        assert_eq!(opened.content_type, rec::CT_HANDSHAKE);
        acks.push(RecordNumber {
            epoch,
            sequence: opened.sequence,
        });
        out.extend(handshake_msgs(&opened.content));
    }
    out
}

fn epoch_keys(
    ks: &KeySchedule,
    suite: Suite13,
    epoch: u64,
    secret: &Secret,
) -> (SendEpoch, RecvEpoch) {
    let k = ks.traffic_keys(suite, secret);
    (
        SendEpoch::new(EpochKeys::new(suite, epoch, &k, CRYPTO).expect("keys")),
        RecvEpoch::new(EpochKeys::new(suite, epoch, &k, CRYPTO).expect("keys"), 64),
    )
}

/// Seals handshake messages, one record each, into one datagram.
fn seal_flight(send: &mut SendEpoch, msgs: &[(u8, u16, Vec<u8>)]) -> Vec<u8> {
    let mut d = Vec::new();
    for (ty, seq, body) in msgs {
        let mut content = Vec::new();
        m::write_handshake(*ty, *seq, body, &mut content);
        send.seal(rec::CT_HANDSHAKE, &content, HeaderForm::FULL, &mut d)
            .expect("keys not exhausted");
    }
    d
}

struct Outcome {
    client_srtp: Vec<u8>,
    server_srtp: Vec<u8>,
    group: u16,
    retried: bool,
}

/// Runs the handshake; `client_groups` are the key shares the client sends at first.
fn handshake(suite: Suite13, client_groups: &[u16], seed: u64) -> Outcome {
    handshake_with(suite, client_groups, seed, Tamper::None).expect("handshake")
}

/// What a man in the middle changes in the server's flight (its records resealed, as if the
/// handshake keys were known: only the signature, the fingerprint and Finished stand).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tamper {
    None,
    /// Another certificate (with its own valid signature) in place of the expected one.
    Certificate,
    /// One bit of the CertificateVerify signature.
    Signature,
    /// One bit of the Finished verify_data.
    Finished,
}

/// Runs the handshake, the client's checks failing with their name.
fn handshake_with(
    suite: Suite13,
    client_groups: &[u16],
    seed: u64,
    tamper: Tamper,
) -> Result<Outcome, &'static str> {
    let client_cert = Certificate::generate().expect("cert");
    let expected_server_cert = Certificate::generate().expect("cert");
    let other_cert = Certificate::generate().expect("cert");
    let server_cert = if tamper == Tamper::Certificate {
        &other_cert
    } else {
        &expected_server_cert
    };
    let client_fp = Fingerprint::of(HashAlgorithm::Sha256, client_cert.der());
    let server_fp = Fingerprint::of(HashAlgorithm::Sha256, expected_server_cert.der());
    let mut crng = TestRng::new(seed);
    let mut srng = TestRng::new(seed ^ 0xABCD);
    let ks = KeySchedule::dtls13(suite.hash(), CRYPTO);
    let hash = suite.hash();

    // ---- Client: ClientHello1.
    let make_hello = |groups: &[u16], cookie: Option<&[u8]>, rng: &mut TestRng| {
        let mut shares = Vec::new();
        let mut secrets = Vec::new();
        for &g in groups {
            let (s, public) = ClientKeyShare::generate(g, rng).expect("share");
            shares.push((g, public));
            secrets.push(s);
        }
        let mut e = m::Extensions::default();
        e.push(
            ext::SUPPORTED_VERSIONS,
            m::client_versions_ext(&[DTLS_1_3, 0xFEFD]),
        );
        let mut groups_body = Vec::new();
        let list: Vec<u8> = NamedGroup::DTLS13
            .iter()
            .flat_map(|g| g.id().to_be_bytes())
            .collect();
        groups_body.extend_from_slice(&(list.len() as u16).to_be_bytes());
        groups_body.extend_from_slice(&list);
        e.push(ext::SUPPORTED_GROUPS, groups_body);
        e.push(ext::SIGNATURE_ALGORITHMS, vec![0, 2, 0x04, 0x03]);
        e.push(ext::KEY_SHARE, m::client_key_share_ext(&shares));
        e.push(ext::USE_SRTP, m::use_srtp_ext(&[0x0007, 0x0001]));
        if let Some(c) = cookie {
            e.push(ext::COOKIE, m::cookie_ext(c));
        }
        let mut random = [0u8; 32];
        sansrtc_dtls::Rng::fill(rng, &mut random);
        let ch = m::ClientHello {
            legacy_version: m::LEGACY_VERSION,
            random,
            session_id: vec![],
            legacy_cookie: vec![],
            cipher_suites: vec![suite.id()],
            extensions: e,
        };
        let mut body = Vec::new();
        ch.write(&mut body);
        (body, secrets)
    };
    let (mut ch_body, mut client_shares) = make_hello(client_groups, None, &mut crng);
    let mut d = Vec::new();
    let mut hs_content = Vec::new();
    m::write_handshake(hs::CLIENT_HELLO, 0, &ch_body, &mut hs_content);
    rec::write_plaintext(rec::CT_HANDSHAKE, 0, &hs_content, &mut d);

    // ---- Server: reads ClientHello; HelloRetryRequest if no share of its preferred group.
    let cookie_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[0x5e; 32]);
    let mut server_transcript = Vec::new();
    let mut retried = false;
    let mut client_transcript = Vec::new();
    let (ch, ch_raw) = loop {
        let msgs = plaintext_msgs(&d);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].0, hs::CLIENT_HELLO);
        let ch = m::ClientHello::parse(&msgs[0].1).expect("client hello");
        assert!(
            ch.supported_versions()
                .expect("versions")
                .contains(&DTLS_1_3)
        );
        assert!(ch.cipher_suites.contains(&suite.id()));
        let offered: Vec<u16> = ch
            .key_shares()
            .expect("shares")
            .iter()
            .map(|s| s.0)
            .collect();
        if let Some(cookie) = ch.cookie().expect("cookie") {
            // Stateless: the cookie is Hash(ClientHello1) and its HMAC.
            let (h1, tag) = cookie.split_at(hash.output_len());
            ring::hmac::verify(&cookie_key, h1, tag).expect("our cookie");
            server_transcript = m::message_hash(h1);
            // The HelloRetryRequest is rebuilt from the cookie's facts (here: the same bytes).
            let mut hrr = Vec::new();
            m::transcript_message(hs::SERVER_HELLO, &hrr_body(suite, cookie), &mut hrr);
            server_transcript.extend_from_slice(&hrr);
            break (ch, msgs[0].1.clone());
        }
        if offered.contains(&kx::X25519MLKEM768) {
            break (ch, msgs[0].1.clone());
        }
        assert!(!retried, "a second HelloRetryRequest");
        retried = true;
        // HelloRetryRequest asking for X25519MLKEM768, with the cookie.
        let h1 = hash.digest(CRYPTO, &{
            let mut t = Vec::new();
            m::transcript_message(hs::CLIENT_HELLO, &msgs[0].1, &mut t);
            t
        });
        let mut cookie = h1.clone();
        cookie.extend_from_slice(ring::hmac::sign(&cookie_key, &h1).as_ref());
        let hrr = hrr_body(suite, &cookie);
        let mut content = Vec::new();
        m::write_handshake(hs::SERVER_HELLO, 0, &hrr, &mut content);
        let mut hrr_datagram = Vec::new();
        rec::write_plaintext(rec::CT_HANDSHAKE, 0, &content, &mut hrr_datagram);

        // ---- Client: reads the HelloRetryRequest, sends ClientHello2 with the cookie.
        let msgs = plaintext_msgs(&hrr_datagram);
        let sh = m::ServerHello::parse(&msgs[0].1).expect("hrr");
        assert!(sh.is_hello_retry_request());
        assert_eq!(sh.selected_version().expect("v"), Some(DTLS_1_3));
        let (group, _) = sh.key_share().expect("ks").expect("group");
        let cookie = sh.cookie().expect("c").expect("cookie").to_vec();
        let ch1_hash = hash.digest(CRYPTO, &{
            let mut t = Vec::new();
            m::transcript_message(hs::CLIENT_HELLO, &ch_body, &mut t);
            t
        });
        client_transcript = m::message_hash(&ch1_hash);
        m::transcript_message(hs::SERVER_HELLO, &msgs[0].1, &mut client_transcript);
        let (body, shares) = make_hello(&[group], Some(&cookie), &mut crng);
        ch_body = body;
        client_shares = shares;
        d.clear();
        hs_content.clear();
        m::write_handshake(hs::CLIENT_HELLO, 1, &ch_body, &mut hs_content);
        rec::write_plaintext(rec::CT_HANDSHAKE, 1, &hs_content, &mut d);
    };
    m::transcript_message(hs::CLIENT_HELLO, &ch_raw, &mut server_transcript);
    m::transcript_message(hs::CLIENT_HELLO, &ch_body, &mut client_transcript);

    // ---- Server: ServerHello and its encrypted flight.
    let shares = ch.key_shares().expect("shares");
    let (group, client_kx) = NamedGroup::DTLS13
        .iter()
        .find_map(|g| shares.iter().find(|s| s.0 == g.id()).copied())
        .expect("common group");
    let (server_kx, server_shared) = kx::server_share(group, client_kx, &mut srng).expect("kx");
    let srtp = ch.srtp_profiles().expect("srtp").expect("offered")[0];
    let mut e = m::Extensions::default();
    e.push(ext::SUPPORTED_VERSIONS, DTLS_1_3.to_be_bytes().to_vec());
    e.push(ext::KEY_SHARE, m::server_key_share_ext(group, &server_kx));
    let mut random = [0u8; 32];
    sansrtc_dtls::Rng::fill(&mut srng, &mut random);
    let sh = m::ServerHello {
        legacy_version: m::LEGACY_VERSION,
        random,
        session_id: ch.session_id.clone(),
        cipher_suite: suite.id(),
        extensions: e,
    };
    let mut sh_body = Vec::new();
    sh.write(&mut sh_body);
    m::transcript_message(hs::SERVER_HELLO, &sh_body, &mut server_transcript);
    let s_hs_secret = ks.handshake_secret(&ks.early_secret(), server_shared.as_bytes());
    let th = hash.digest(CRYPTO, &server_transcript);
    let s_c_hs = ks.client_handshake_traffic(&s_hs_secret, &th);
    let s_s_hs = ks.server_handshake_traffic(&s_hs_secret, &th);
    let (mut s_send2, _) = epoch_keys(&ks, suite, rec::EPOCH_HANDSHAKE, &s_s_hs);
    let (_, s_recv2_client) = epoch_keys(&ks, suite, rec::EPOCH_HANDSHAKE, &s_c_hs);
    let seq0 = if retried { 1 } else { 0 };
    let mut ee = m::Extensions::default();
    ee.push(ext::USE_SRTP, m::use_srtp_ext(&[srtp]));
    let mut ee_body = Vec::new();
    ee.write(&mut ee_body);
    let mut cert_body = Vec::new();
    m::Certificate13 {
        context: vec![],
        certificates: vec![server_cert.der().to_vec()],
    }
    .write(&mut cert_body);
    m::transcript_message(hs::ENCRYPTED_EXTENSIONS, &ee_body, &mut server_transcript);
    m::transcript_message(hs::CERTIFICATE, &cert_body, &mut server_transcript);
    let content = m::certificate_verify_content(true, &hash.digest(CRYPTO, &server_transcript));
    let mut cv_body = Vec::new();
    m::CertificateVerify {
        signature: sansrtc_dtls::message::Signature {
            scheme: SCHEME,
            signature: server_cert.sign(&content).expect("sign"),
        },
    }
    .write(&mut cv_body);
    if tamper == Tamper::Signature {
        let last = cv_body.len() - 1;
        cv_body[last] ^= 1;
    }
    m::transcript_message(hs::CERTIFICATE_VERIFY, &cv_body, &mut server_transcript);
    let mut fin = ks.finished(&s_s_hs, &hash.digest(CRYPTO, &server_transcript));
    if tamper == Tamper::Finished {
        fin[0] ^= 0x80;
    }
    m::transcript_message(hs::FINISHED, &fin, &mut server_transcript);
    let th_sf = hash.digest(CRYPTO, &server_transcript);
    let s_master = ks.master_secret(&s_hs_secret);
    let mut sh_datagram = Vec::new();
    let mut content = Vec::new();
    m::write_handshake(hs::SERVER_HELLO, seq0, &sh_body, &mut content);
    rec::write_plaintext(rec::CT_HANDSHAKE, seq0.into(), &content, &mut sh_datagram);
    let flight = seal_flight(
        &mut s_send2,
        &[
            (hs::ENCRYPTED_EXTENSIONS, seq0 + 1, ee_body),
            (hs::CERTIFICATE, seq0 + 2, cert_body),
            (hs::CERTIFICATE_VERIFY, seq0 + 3, cv_body),
            (hs::FINISHED, seq0 + 4, fin),
        ],
    );

    // ---- Client: ServerHello, then the encrypted flight.
    let msgs = plaintext_msgs(&sh_datagram);
    let sh = m::ServerHello::parse(&msgs[0].1).expect("server hello");
    assert!(!sh.is_hello_retry_request());
    assert_eq!(sh.selected_version().expect("v"), Some(DTLS_1_3));
    let (group_c, server_kx) = sh.key_share().expect("ks").expect("share");
    let share = client_shares
        .iter()
        .find(|s| s.group() == group_c)
        .expect("ours");
    let shared = share.finish(server_kx).expect("agree");
    m::transcript_message(hs::SERVER_HELLO, &msgs[0].1, &mut client_transcript);
    let c_hs_secret = ks.handshake_secret(&ks.early_secret(), shared.as_bytes());
    let th = hash.digest(CRYPTO, &client_transcript);
    let c_c_hs = ks.client_handshake_traffic(&c_hs_secret, &th);
    let c_s_hs = ks.server_handshake_traffic(&c_hs_secret, &th);
    let (_, c_recv2) = epoch_keys(&ks, suite, rec::EPOCH_HANDSHAKE, &c_s_hs);
    let mut c_epochs = RecvEpochs::new();
    c_epochs.install(c_recv2);
    let mut client_acks = Vec::new();
    let msgs = protected_msgs(&flight, &mut c_epochs, &mut client_acks);
    assert_eq!(client_acks.len(), 4);
    let types: Vec<u8> = msgs.iter().map(|x| x.0).collect();
    assert_eq!(
        types,
        [
            hs::ENCRYPTED_EXTENSIONS,
            hs::CERTIFICATE,
            hs::CERTIFICATE_VERIFY,
            hs::FINISHED
        ]
    );
    let ee = m::Extensions::parse(&msgs[0].1[2..]).expect("ee");
    assert_eq!(ee.get(ext::USE_SRTP), Some(&m::use_srtp_ext(&[srtp])[..]));
    m::transcript_message(hs::ENCRYPTED_EXTENSIONS, &msgs[0].1, &mut client_transcript);
    let cert = m::Certificate13::parse(&msgs[1].1).expect("cert");
    if !server_fp.matches(&cert.certificates[0]) {
        return Err("fingerprint");
    }
    m::transcript_message(hs::CERTIFICATE, &msgs[1].1, &mut client_transcript);
    let cv = m::CertificateVerify::parse(&msgs[2].1).expect("cv");
    assert_eq!(cv.signature.scheme, SCHEME);
    let peer = PeerKey::from_certificate(&cert.certificates[0]).expect("key");
    let content = m::certificate_verify_content(true, &hash.digest(CRYPTO, &client_transcript));
    if peer
        .verify(cv.signature.scheme, &content, &cv.signature.signature)
        .is_err()
    {
        return Err("signature");
    }
    // The client's context string must not verify.
    assert!(
        peer.verify(
            cv.signature.scheme,
            &m::certificate_verify_content(false, &hash.digest(CRYPTO, &client_transcript)),
            &cv.signature.signature
        )
        .is_err()
    );
    m::transcript_message(hs::CERTIFICATE_VERIFY, &msgs[2].1, &mut client_transcript);
    if !ks.verify_finished(
        &c_s_hs,
        &hash.digest(CRYPTO, &client_transcript),
        &msgs[3].1,
    ) {
        return Err("finished");
    }
    m::transcript_message(hs::FINISHED, &msgs[3].1, &mut client_transcript);
    let th_sf_c = hash.digest(CRYPTO, &client_transcript);
    assert_eq!(th_sf_c, th_sf);
    let c_master = ks.master_secret(&c_hs_secret);

    // Client's flight: Certificate, CertificateVerify, Finished (epoch 2).
    let mut cert_body = Vec::new();
    m::Certificate13 {
        context: vec![],
        certificates: vec![client_cert.der().to_vec()],
    }
    .write(&mut cert_body);
    m::transcript_message(hs::CERTIFICATE, &cert_body, &mut client_transcript);
    let content = m::certificate_verify_content(false, &hash.digest(CRYPTO, &client_transcript));
    let mut cv_body = Vec::new();
    m::CertificateVerify {
        signature: sansrtc_dtls::message::Signature {
            scheme: SCHEME,
            signature: client_cert.sign(&content).expect("sign"),
        },
    }
    .write(&mut cv_body);
    m::transcript_message(hs::CERTIFICATE_VERIFY, &cv_body, &mut client_transcript);
    let fin = ks.finished(&c_c_hs, &hash.digest(CRYPTO, &client_transcript));
    let cseq = if retried { 2 } else { 1 };
    let (mut c_send2, _) = epoch_keys(&ks, suite, rec::EPOCH_HANDSHAKE, &c_c_hs);
    let client_flight = seal_flight(
        &mut c_send2,
        &[
            (hs::CERTIFICATE, cseq, cert_body),
            (hs::CERTIFICATE_VERIFY, cseq + 1, cv_body),
            (hs::FINISHED, cseq + 2, fin),
        ],
    );

    // ---- Server: the client's flight.
    let mut s_epochs = RecvEpochs::new();
    s_epochs.install(s_recv2_client);
    let mut server_acks = Vec::new();
    let msgs = protected_msgs(&client_flight, &mut s_epochs, &mut server_acks);
    let cert = m::Certificate13::parse(&msgs[0].1).expect("cert");
    assert!(
        client_fp.matches(&cert.certificates[0]),
        "client fingerprint"
    );
    m::transcript_message(hs::CERTIFICATE, &msgs[0].1, &mut server_transcript);
    let cv = m::CertificateVerify::parse(&msgs[1].1).expect("cv");
    let peer = PeerKey::from_certificate(&cert.certificates[0]).expect("key");
    let content = m::certificate_verify_content(false, &hash.digest(CRYPTO, &server_transcript));
    peer.verify(cv.signature.scheme, &content, &cv.signature.signature)
        .expect("client signature");
    m::transcript_message(hs::CERTIFICATE_VERIFY, &msgs[1].1, &mut server_transcript);
    assert!(ks.verify_finished(
        &s_c_hs,
        &hash.digest(CRYPTO, &server_transcript),
        &msgs[2].1
    ));

    // ---- Application keys (epoch 3), application data and an ACK both ways.
    let c_cap = ks.client_application_traffic(&c_master, &th_sf_c);
    let c_sap = ks.server_application_traffic(&c_master, &th_sf_c);
    let s_cap = ks.client_application_traffic(&s_master, &th_sf);
    let s_sap = ks.server_application_traffic(&s_master, &th_sf);
    let (mut c_send3, _) = epoch_keys(&ks, suite, rec::EPOCH_APPLICATION, &c_cap);
    let (_, c_recv3) = epoch_keys(&ks, suite, rec::EPOCH_APPLICATION, &c_sap);
    let (mut s_send3, _) = epoch_keys(&ks, suite, rec::EPOCH_APPLICATION, &s_sap);
    let (_, s_recv3) = epoch_keys(&ks, suite, rec::EPOCH_APPLICATION, &s_cap);
    c_epochs.install(c_recv3);
    s_epochs.install(s_recv3);
    // The server acknowledges the client's flight in epoch 3 and sends data.
    let mut d = Vec::new();
    let mut ack = Vec::new();
    write_ack(&server_acks, &mut ack);
    s_send3
        .seal(rec::CT_ACK, &ack, HeaderForm::FULL, &mut d)
        .expect("seal");
    s_send3
        .seal(
            rec::CT_APPLICATION_DATA,
            b"from server",
            HeaderForm::FULL,
            &mut d,
        )
        .expect("seal");
    let opened: Vec<_> = rec::parse_datagram(&d)
        .map(|r| match r.expect("record") {
            Record::Ciphertext(c) => c_epochs.open(&c).expect("opens").1,
            Record::Plaintext(_) => panic!("plaintext"),
        })
        .collect();
    assert_eq!(opened[0].content_type, rec::CT_ACK);
    assert_eq!(parse_ack(&opened[0].content).expect("ack"), server_acks);
    assert_eq!(
        server_acks.iter().map(|r| r.epoch).collect::<Vec<_>>(),
        [2, 2, 2]
    );
    assert_eq!(opened[1].content, b"from server");
    let mut d = Vec::new();
    c_send3
        .seal(
            rec::CT_APPLICATION_DATA,
            b"from client",
            HeaderForm {
                long_sequence: false,
                length: false,
            },
            &mut d,
        )
        .expect("seal");
    let Some(Ok(Record::Ciphertext(c))) = rec::parse_datagram(&d).next() else {
        panic!()
    };
    assert_eq!(s_epochs.open(&c).expect("opens").1.content, b"from client");

    // ---- DTLS-SRTP keying material from the exporter master secret.
    let c_ems = ks.exporter_master(&c_master, &th_sf_c);
    let s_ems = ks.exporter_master(&s_master, &th_sf);
    Ok(Outcome {
        client_srtp: ks.export(&c_ems, b"EXTRACTOR-dtls_srtp", b"", 60),
        server_srtp: ks.export(&s_ems, b"EXTRACTOR-dtls_srtp", b"", 60),
        group: group_c,
        retried,
    })
}

fn hrr_body(suite: Suite13, cookie: &[u8]) -> Vec<u8> {
    let mut e = m::Extensions::default();
    e.push(ext::SUPPORTED_VERSIONS, DTLS_1_3.to_be_bytes().to_vec());
    e.push(ext::KEY_SHARE, kx::X25519MLKEM768.to_be_bytes().to_vec());
    e.push(ext::COOKIE, m::cookie_ext(cookie));
    let hrr = m::ServerHello {
        legacy_version: m::LEGACY_VERSION,
        random: m::HRR_RANDOM,
        session_id: vec![],
        cipher_suite: suite.id(),
        extensions: e,
    };
    let mut body = Vec::new();
    hrr.write(&mut body);
    body
}

#[test]
fn one_round_trip_with_x25519mlkem768_every_suite() {
    for (i, suite) in Suite13::ALL.into_iter().enumerate() {
        let o = handshake(suite, &[kx::X25519MLKEM768, kx::X25519], i as u64);
        assert_eq!(o.client_srtp, o.server_srtp);
        assert_eq!(o.client_srtp.len(), 60);
        assert_eq!(o.group, kx::X25519MLKEM768);
        assert!(!o.retried);
    }
}

#[test]
fn hello_retry_request_with_cookie_moves_to_the_hybrid_group() {
    let o = handshake(Suite13::Aes128GcmSha256, &[kx::X25519], 42);
    assert!(o.retried);
    assert_eq!(o.group, kx::X25519MLKEM768);
    assert_eq!(o.client_srtp, o.server_srtp);
}

#[test]
fn different_seeds_give_different_keys() {
    let a = handshake(Suite13::Aes128GcmSha256, &[kx::X25519MLKEM768], 1);
    let b = handshake(Suite13::Aes128GcmSha256, &[kx::X25519MLKEM768], 2);
    assert_ne!(a.client_srtp, b.client_srtp);
}

#[test]
fn a_dtls12_server_hello_with_the_sentinel_is_a_downgrade() {
    // A DTLS 1.2 ServerHello (no supported_versions) from a server that could speak 1.3 ends its
    // random with "DOWNGRD\x01": a client that offered 1.3 must refuse it.
    let mut random = [0x11u8; 32];
    random[24..].copy_from_slice(&m::DOWNGRADE_TO_1_2);
    let sh = m::ServerHello {
        legacy_version: 0xFEFD,
        random,
        session_id: vec![],
        cipher_suite: 0xC02B,
        extensions: m::Extensions::default(),
    };
    let mut body = Vec::new();
    sh.write(&mut body);
    let back = m::ServerHello::parse(&body).expect("parses");
    assert_eq!(back.selected_version().expect("v"), None);
    assert!(m::has_downgrade_sentinel(&back.random));
    // A genuine 1.2-only server's random has no sentinel.
    assert!(!m::has_downgrade_sentinel(&[0x11; 32]));
}

#[test]
fn the_hybrid_client_hello_is_fragmented_and_reassembled_by_the_12_machinery() {
    use sansrtc_dtls::codec::Reader;
    use sansrtc_dtls::fragment::{self, HandshakeHeader, Reassembler};
    // A ClientHello with the X25519MLKEM768 and X25519 shares is larger than one datagram
    // (browsers fragment it too); the DTLS handshake header is unchanged in 1.3.
    let mut rng = TestRng::new(3);
    let (_, hybrid) = ClientKeyShare::generate(kx::X25519MLKEM768, &mut rng).expect("share");
    let (_, x) = ClientKeyShare::generate(kx::X25519, &mut rng).expect("share");
    let mut e = m::Extensions::default();
    e.push(ext::SUPPORTED_VERSIONS, m::client_versions_ext(&[DTLS_1_3]));
    e.push(
        ext::KEY_SHARE,
        m::client_key_share_ext(&[(kx::X25519MLKEM768, hybrid), (kx::X25519, x)]),
    );
    let ch = m::ClientHello {
        legacy_version: m::LEGACY_VERSION,
        random: [1; 32],
        session_id: vec![],
        legacy_cookie: vec![],
        cipher_suites: vec![0x1301],
        extensions: e,
    };
    let mut body = Vec::new();
    ch.write(&mut body);
    assert!(body.len() > 1200);
    let whole = fragment::whole_message(hs::CLIENT_HELLO, 0, &body);
    let mut frags = fragment::fragments(&whole, 1200 - 13);
    assert_eq!(frags.len(), 2);
    frags.reverse();
    let mut datagrams = Vec::new();
    for (i, f) in frags.iter().enumerate() {
        let mut d = Vec::new();
        rec::write_plaintext(rec::CT_HANDSHAKE, i as u64, f, &mut d);
        assert!(d.len() <= 1200);
        datagrams.push(d);
    }
    let mut re = Reassembler::new(0, 1 << 16, 1 << 17);
    for d in &datagrams {
        let Some(Ok(Record::Plaintext(p))) = rec::parse_datagram(d).next() else {
            panic!("plaintext record")
        };
        let mut r = Reader::new(p.fragment);
        let (h, data) = HandshakeHeader::parse(&mut r).expect("header");
        re.insert(0, &h, data);
    }
    let msg = re.next_complete().expect("complete");
    assert_eq!(msg.msg_type, hs::CLIENT_HELLO);
    assert_eq!(m::ClientHello::parse(&msg.body).expect("parses"), ch);
}

#[test]
fn the_client_refuses_a_wrong_certificate_signature_or_finished() {
    for (tamper, error) in [
        (Tamper::Certificate, "fingerprint"),
        (Tamper::Signature, "signature"),
        (Tamper::Finished, "finished"),
    ] {
        let r = handshake_with(Suite13::Aes128GcmSha256, &[kx::X25519MLKEM768], 5, tamper);
        assert_eq!(r.err(), Some(error), "{tamper:?}");
    }
}
