//! The server's flights: the stateless cookie exchange (RFC 6347 4.2.1: a HelloVerifyRequest for
//! every ClientHello without our cookie, nothing kept), then ServerHello, Certificate,
//! ServerKeyExchange, CertificateRequest, ServerHelloDone (flight 4), and after the client's
//! flight 5, ChangeCipherSpec and Finished (flight 6).

use std::sync::Arc;
use std::time::Instant;

use super::handshake::Disposition;
use super::{Endpoint, Res, State};
use crate::error::DtlsError;
use crate::fragment::{self, HandshakeHeader, Message, SingleReassembler};
use crate::message::{
    CertificateMsg, CertificateRequest, CertificateVerify, ClientHello, ClientHelloPrefix,
    ClientKeyExchange, Extensions, HelloVerifyRequest, ServerHello, ServerKeyExchange, Signature,
    group, msg_type, sig,
};
use crate::record::{ContentType, DTLS_1_0, DTLS_1_2, RecordHeader};

/// What the server holds before the cookie exchange: the cookie, and at most one fragmented
/// ClientHello being joined.
#[derive(Debug, Clone)]
pub(super) struct Stateless {
    /// The cookie (RFC 6347 4.2.1): one random value per endpoint. An endpoint serves one
    /// peer, so the cookie proves only what it must (the client receives what we send to its
    /// address) and is not bound to the ClientHello's fields: a HelloVerifyRequest that a
    /// spoofed ClientHello drew from us still carries a cookie the real client can use, so a
    /// spoofer flooding us with ClientHellos in the real client's name cannot keep it from
    /// completing. No hashing per ClientHello either.
    pub(super) cookie: [u8; 32],
    /// The one fragmented ClientHello being joined.
    pub(super) hello: SingleReassembler,
    /// The fragmented ClientHello (message_seq, length) last answered with a HelloVerifyRequest
    /// from its first fragment: its later fragments are not worth holding.
    answered: Option<(u16, u32)>,
    /// A HelloVerifyRequest answered the datagram being handled (one per datagram; the rest of
    /// its ClientHellos are dropped).
    pub(super) verify_sent: bool,
}

impl Stateless {
    pub(super) fn new(cookie: [u8; 32], max_message: usize) -> Self {
        Self {
            cookie,
            hello: SingleReassembler::new(max_message),
            answered: None,
            verify_sent: false,
        }
    }
}

impl Endpoint {
    /// Checks the cookie of a ClientHello (prefix); on a missing or wrong one, answers with a
    /// HelloVerifyRequest carrying the right cookie and returns false. Nothing else is checked
    /// here: before the cookie exchange, nothing fails the server.
    fn verify_cookie(
        &mut self,
        record: &RecordHeader,
        message_seq: u16,
        ch: &ClientHelloPrefix<'_>,
    ) -> bool {
        let Some(cookie) = self.stateless.as_ref().map(|s| s.cookie) else {
            return false;
        };
        if !ch.cookie.is_empty() && crate::codec::ct_eq(&cookie, ch.cookie) {
            return true;
        }
        let mut hvr = Vec::new();
        HelloVerifyRequest {
            version: DTLS_1_0,
            cookie: cookie.to_vec(),
        }
        .write(&mut hvr);
        let whole = fragment::whole_message(msg_type::HELLO_VERIFY_REQUEST, message_seq, &hvr);
        // The record sequence number of the ClientHello, and its record version (DTLS 1.0 or
        // 1.2, both allowed here by RFC 6347 4.1).
        let header = RecordHeader {
            content_type: ContentType::Handshake,
            epoch: 0,
            ..*record
        };
        let mut out = self.outbox.buffer();
        header.write(whole.len(), &mut out);
        out.extend_from_slice(&whole);
        self.outbox.push(out);
        if let Some(s) = self.stateless.as_mut() {
            s.verify_sent = true;
        }
        false
    }

    /// A ClientHello fragment before any state exists. A whole ClientHello is answered with a
    /// HelloVerifyRequest unless it carries our cookie, then starts the handshake (RFC 6347
    /// 4.2.1). A fragmented one (current browsers send one) is joined in one bounded buffer; its
    /// first fragment alone decides the cookie exchange, so a ClientHello without a valid cookie
    /// is answered at once and nothing of it is kept. Records may carry the DTLS 1.0 version.
    pub(super) fn stateless_client_hello(
        &mut self,
        now: Instant,
        record: &RecordHeader,
        h: &HandshakeHeader,
        body: &[u8],
    ) -> Res {
        // Not a ClientHello, one over the size limit (checked before anything of it is parsed),
        // or a further one in a datagram a HelloVerifyRequest already answered (at most one
        // answer, and one cookie computation, per datagram). Without the cookie state (a client,
        // or a server past its handshake) nothing here is for us.
        if h.msg_type != msg_type::CLIENT_HELLO
            || h.length as usize > self.config.max_handshake_message
            || self.stateless.as_ref().is_none_or(|s| s.verify_sent)
        {
            self.stats.dropped += 1;
            return Ok(());
        }
        if h.fragment_offset == 0 && h.fragment_length == h.length {
            return self.whole_client_hello(now, record, h.message_seq, body);
        }
        let id = (h.message_seq, h.length);
        if h.fragment_offset == 0 {
            // The prefix may not fit a tiny first fragment: then the whole message decides. A
            // server accepting DTLS 1.3 needs the whole message (its versions are in the
            // extensions; the cookie exchange is then a HelloRetryRequest).
            if self.config.versions.has_13() {
            } else if let Ok(prefix) = ClientHelloPrefix::parse(body) {
                if !self.verify_cookie(record, h.message_seq, &prefix) {
                    if let Some(s) = self.stateless.as_mut() {
                        s.hello.discard(h.message_seq, h.length);
                        s.answered = Some(id);
                    }
                    return Ok(());
                }
            }
        } else if self
            .stateless
            .as_ref()
            .is_some_and(|s| s.answered == Some(id))
        {
            self.stats.dropped += 1;
            return Ok(());
        }
        let inserted = match self.stateless.as_mut() {
            Some(s) => s.hello.insert(h, body),
            None => Err(()),
        };
        match inserted {
            Ok(Some(whole)) => self.whole_client_hello(now, record, h.message_seq, &whole),
            Ok(None) => Ok(()),
            Err(()) => {
                self.stats.dropped += 1;
                Ok(())
            }
        }
    }

    fn whole_client_hello(
        &mut self,
        now: Instant,
        record: &RecordHeader,
        message_seq: u16,
        body: &[u8],
    ) -> Res {
        if self.config.versions.has_13() {
            if self.server_hello_13(now, record.sequence, message_seq, body)? {
                return Ok(());
            }
            if !self.config.versions.has_12() {
                self.stats.dropped += 1;
                return Ok(());
            }
        }
        // The cookie first: a ClientHello without a valid one is answered from its first
        // fields, and the rest of it (extensions) is never parsed.
        let Ok(prefix) = ClientHelloPrefix::parse(body) else {
            self.stats.malformed += 1;
            return Ok(());
        };
        if !self.verify_cookie(record, message_seq, &prefix) {
            return Ok(());
        }
        let Ok(ch) = ClientHello::parse(body) else {
            self.stats.malformed += 1;
            return Ok(());
        };
        // The cookie exchange is done: from here a bad ClientHello ends the handshake.
        // DTLS versions count down: 0xFEFD (1.2) < 0xFEFF (1.0).
        if ch.version > DTLS_1_2 {
            return Err(DtlsError::UnsupportedVersion(ch.version));
        }
        // Our HelloVerifyRequests reused the client's record numbers, which a client's epoch-0
        // replay window remembers: continue from this ClientHello's number rather than 0, or the
        // first records of the flight are dropped as replays and the handshake waits for a
        // retransmission (seen with NSS in Firefox).
        self.records.skip_plaintext_to(record.sequence);
        if let Some(s) = self.stateless.as_mut() {
            s.hello.clear();
            s.answered = None;
        }
        self.flight4(now, &ch, message_seq, body)
    }

    fn flight4(&mut self, now: Instant, ch: &ClientHello, seq: u16, ch_body: &[u8]) -> Res {
        let cert = Arc::clone(&self.config.certificate);
        let suite = self
            .config
            .cipher_suites
            .iter()
            .copied()
            .find(|s| s.is_ecdsa() && ch.cipher_suites.contains(&s.id()))
            .ok_or(DtlsError::NoCommon("cipher suite"))?;
        let e = &ch.extensions;
        if !e.extended_master_secret && self.config.require_extended_master_secret {
            return Err(DtlsError::NoExtendedMasterSecret);
        }
        if e.renegotiation_info.as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(DtlsError::Invalid("renegotiation_info"));
        }
        if e.signature_algorithms
            .as_ref()
            .is_some_and(|l| !l.contains(&cert.scheme()))
        {
            return Err(DtlsError::NoCommon("signature scheme"));
        }
        let groups = e
            .supported_groups
            .clone()
            .unwrap_or_else(|| vec![group::SECP256R1]);
        self.hs.group = [group::X25519, group::SECP256R1, group::SECP384R1]
            .into_iter()
            .find(|g| groups.contains(g))
            .ok_or(DtlsError::NoCommon("named group"))?;
        let offered_srtp = e.srtp_profiles.clone().unwrap_or_default();
        self.hs.srtp = self
            .config
            .srtp_profiles
            .iter()
            .copied()
            .find(|p| offered_srtp.contains(&p.id()));
        let secure_reneg = e.renegotiation_info.is_some() || ch.cipher_suites.contains(&0x00FF);

        self.hs.suite = Some(suite);
        self.hs.extended_master_secret = e.extended_master_secret;
        self.hs.client_random = ch.random;
        self.rng.fill(&mut self.hs.server_random);
        if self.config.versions.has_13() {
            // We could have spoken 1.3: tell a 1.3 client that 1.2 was what it offered (RFC 8446
            // 4.1.3), so that a downgrade by a man in the middle is detected.
            self.hs.server_random[24..].copy_from_slice(&crate::v13::message::DOWNGRADE_TO_1_2);
        }
        self.hs.transcript.clear();
        self.hs.record(msg_type::CLIENT_HELLO, seq, ch_body);
        self.reassembler.reset(seq.wrapping_add(1));
        self.flight.set_next_seq(seq);
        self.flight.clear();

        let sh = ServerHello {
            version: DTLS_1_2,
            random: self.hs.server_random,
            session_id: Vec::new(),
            cipher_suite: suite.id(),
            compression_method: 0,
            extensions: Extensions {
                srtp_profiles: self.hs.srtp.map(|p| vec![p.id()]),
                srtp_mki: Vec::new(),
                extended_master_secret: e.extended_master_secret,
                renegotiation_info: secure_reneg.then(Vec::new),
                supported_groups: None,
                ec_point_formats: e.ec_point_formats.as_ref().map(|_| vec![0]),
                signature_algorithms: None,
            },
        };
        let mut body = Vec::new();
        sh.write(&mut body);
        self.add_message(0, msg_type::SERVER_HELLO, &body);

        let mut body = Vec::new();
        CertificateMsg {
            chain: vec![cert.der().to_vec()],
        }
        .write(&mut body);
        self.add_message(0, msg_type::CERTIFICATE, &body);

        self.generate_key_share()?;
        let params = ServerKeyExchange::params(self.hs.group, &self.hs.our_point);
        let mut signed = Vec::with_capacity(64 + params.len());
        signed.extend_from_slice(&self.hs.client_random);
        signed.extend_from_slice(&self.hs.server_random);
        signed.extend_from_slice(&params);
        let signature = Signature {
            scheme: cert.scheme(),
            signature: self.sign(&signed)?,
        };
        let mut body = Vec::new();
        ServerKeyExchange {
            group: self.hs.group,
            public: self.hs.our_point.clone(),
            signature,
        }
        .write(&mut body);
        self.add_message(0, msg_type::SERVER_KEY_EXCHANGE, &body);

        if self.config.require_client_certificate {
            let mut body = Vec::new();
            CertificateRequest {
                certificate_types: vec![64, 1],
                signature_algorithms: sig::VERIFY.to_vec(),
            }
            .write(&mut body);
            self.add_message(0, msg_type::CERTIFICATE_REQUEST, &body);
        }
        self.add_message(0, msg_type::SERVER_HELLO_DONE, &[]);
        self.state = if self.config.require_client_certificate {
            State::ServerWaitCertificate
        } else {
            State::ServerWaitKeyExchange
        };
        self.start_flight(now, true);
        Ok(())
    }

    /// A complete message the server's state expects (see [`Endpoint::expects`]).
    pub(super) fn server_message(&mut self, now: Instant, m: &Message) -> Res<Disposition> {
        use Disposition::{Done, Malformed};
        use State as S;
        use msg_type as M;
        let (ty, seq, body) = (m.msg_type, m.message_seq, &m.body[..]);
        match (self.state, ty) {
            (S::ServerWaitCertificate, M::CERTIFICATE) => {
                let Ok(msg) = CertificateMsg::parse(body) else {
                    return Ok(Malformed);
                };
                self.hs.record(ty, seq, body);
                self.peer_certificate(msg)?;
                self.state = S::ServerWaitKeyExchange;
            }
            (S::ServerWaitKeyExchange, M::CLIENT_KEY_EXCHANGE) => {
                let Ok(cke) = ClientKeyExchange::parse(body) else {
                    return Ok(Malformed);
                };
                self.hs.record(ty, seq, body);
                let pms = self.hs.agree(&cke.public)?;
                self.install_keys(&pms)?;
                self.state = if self.hs.peer_key.is_some() {
                    S::ServerWaitCertVerify
                } else {
                    S::ServerWaitFinished
                };
            }
            (S::ServerWaitCertVerify, M::CERTIFICATE_VERIFY) => {
                let Ok(cv) = CertificateVerify::parse(body) else {
                    return Ok(Malformed);
                };
                let key = self.hs.peer_key.as_ref().expect("state implies a peer key");
                key.verify_with(
                    self.config.crypto,
                    cv.signature.scheme,
                    &self.hs.transcript,
                    &cv.signature.signature,
                )?;
                self.hs.peer_scheme = Some(cv.signature.scheme);
                self.hs.record(ty, seq, body);
                self.state = S::ServerWaitFinished;
            }
            (S::ServerWaitFinished, M::FINISHED) => {
                self.hs
                    .check_finished(b"client finished", body, self.config.crypto)?;
                self.hs.record(ty, seq, body);
                let verify = self
                    .hs
                    .finished_data(b"server finished", self.config.crypto);
                self.flight.clear();
                self.change_cipher_spec();
                self.add_message(1, M::FINISHED, &verify);
                self.start_flight(now, false);
                self.connected();
            }
            _ => {
                return Err(DtlsError::UnexpectedMessage(
                    "handshake message out of order",
                ));
            }
        }
        Ok(Done)
    }
}

impl Endpoint {
    /// Bytes of a fragmented ClientHello held by the cookie exchange (tests).
    #[cfg(test)]
    fn stateless_held(&self) -> usize {
        self.stateless.as_ref().map_or(0, |s| s.hello.held())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::super::State;
    use super::super::flight::FlightItem;
    use super::super::test_util::*;
    use super::super::{Config, Endpoint};
    use crate::cert::Certificate;
    use crate::fragment;
    use crate::message::msg_type;
    use crate::record::DTLS_1_0;
    use crate::rng::TestRng;

    #[test]
    fn fragmented_client_hello_is_answered_from_its_first_fragment() {
        let (mut client, mut server) = small_mtu_pair();
        let now = Instant::now();
        client.connect(now);
        let flight1: Vec<Vec<u8>> = drain(&mut client).into_iter().map(as_dtls10).collect();
        assert!(flight1.len() >= 2, "the ClientHello is fragmented");
        assert_eq!(
            fragments_in(&flight1[0])[0],
            (msg_type::CLIENT_HELLO, 0, 64)
        );

        // The first fragment alone (no cookie) gets the HelloVerifyRequest; nothing is kept.
        server.handle_receive(now, &flight1[0]);
        let hvr = drain(&mut server);
        assert_eq!(hvr.len(), 1);
        assert_eq!(
            fragments_in(&hvr[0]),
            [(msg_type::HELLO_VERIFY_REQUEST, 0, 35)]
        );
        assert_eq!(
            &hvr[0][1..3],
            &DTLS_1_0.to_be_bytes(),
            "record version echoed"
        );
        assert_eq!(&hvr[0][5..11], &flight1[0][5..11], "record sequence echoed");
        assert_eq!(server.stateless_held(), 0);
        let dropped = server.stats().dropped;
        for d in &flight1[1..] {
            server.handle_receive(now, d);
        }
        assert!(drain(&mut server).is_empty(), "one answer per ClientHello");
        assert_eq!(
            server.stateless_held(),
            0,
            "the rest of an answered hello is not held"
        );
        assert_eq!(server.stats().dropped, dropped + flight1.len() as u64 - 1);
        assert_eq!(server.state, State::ServerWaitHello);
        assert!(!server.hs.has_ephemeral() && server.hs.transcript.is_empty());

        // The ClientHello with the cookie: its first fragment is too short to hold the cookie,
        // so it is joined first. Delivered backwards, duplicated, in DTLS 1.0 records.
        client.handle_receive(now, &hvr[0]);
        let flight3: Vec<Vec<u8>> = drain(&mut client).into_iter().map(as_dtls10).collect();
        assert!(flight3.len() >= 3);
        for (i, d) in flight3.iter().enumerate().rev() {
            server.handle_receive(now, d);
            if i > 0 {
                server.handle_receive(now, d);
                assert!(drain(&mut server).is_empty(), "incomplete: no answer yet");
                assert!(server.stateless_held() > 0);
            }
        }
        assert_eq!(server.stateless_held(), 0);
        assert_eq!(server.state, State::ServerWaitCertificate);
        let flight4 = drain(&mut server);
        assert_eq!(fragments_in(&flight4[0])[0].0, msg_type::SERVER_HELLO);
        for d in flight4 {
            client.handle_receive(now, &d);
        }
        finish(&mut client, &mut server, now);
    }

    #[test]
    fn client_hello_with_a_tiny_first_fragment_is_joined_then_checked() {
        let (mut client, mut server) = small_mtu_pair();
        let now = Instant::now();
        client.connect(now);
        drain(&mut client);
        let FlightItem::Handshake { whole, .. } = &client.flight.items()[0] else {
            panic!("ClientHello");
        };
        // 20-byte fragments: the first ends inside the random, so no cookie can be read early.
        let pieces = split(whole, 20, 0);
        for d in &pieces[..pieces.len() - 1] {
            server.handle_receive(now, d);
            assert!(drain(&mut server).is_empty());
        }
        server.handle_receive(now, &pieces[pieces.len() - 1]);
        let hvr = drain(&mut server);
        assert_eq!(
            fragments_in(&hvr[0]),
            [(msg_type::HELLO_VERIFY_REQUEST, 0, 35)]
        );
        assert_eq!(server.stateless_held(), 0);
        assert_eq!(server.state, State::ServerWaitHello);
        client.handle_receive(now, &hvr[0]);
        finish(&mut client, &mut server, now);
    }

    #[test]
    fn dtls10_record_version_on_a_whole_client_hello() {
        let (mut client, mut server) = pair((3, 4), |_| {});
        let now = Instant::now();
        client.connect(now);
        for _ in 0..2 {
            let d = drain(&mut client);
            assert_eq!(d.len(), 1);
            assert_eq!(fragments_in(&d[0]).len(), 1, "unfragmented");
            server.handle_receive(now, &as_dtls10(d[0].clone()));
            for d in drain(&mut server) {
                client.handle_receive(now, &d);
            }
        }
        assert_eq!(server.state, State::ServerWaitCertificate);
        finish(&mut client, &mut server, now);
    }

    #[test]
    fn oversized_fragmented_client_hello_is_dropped() {
        let mut s = Config::new(Arc::new(Certificate::generate().unwrap()));
        s.max_handshake_message = 100;
        let mut server = Endpoint::server(s, Box::new(TestRng::new(4)));
        let msg = whole_client_hello_with_cookie(&[7; 200]);
        assert!(msg.len() > 100 + fragment::HEADER_LEN);
        let now = Instant::now();
        // Skip the first fragment (which could be checked at once): the rest is not held.
        for d in &split(&msg, 40, 0)[1..] {
            server.handle_receive(now, d);
        }
        assert_eq!(server.stateless_held(), 0);
        assert!(server.stats().dropped > 0);
        assert!(drain(&mut server).is_empty());
    }

    #[test]
    fn one_hello_verify_request_per_datagram() {
        let mut server = server();
        let d: Vec<u8> = (0..50).flat_map(|i| client_hello_datagram(i, 0)).collect();
        assert!(d.len() < 5000);
        server.handle_receive(Instant::now(), &d);
        let out = drain(&mut server);
        assert_eq!(out.len(), 1, "one HelloVerifyRequest for 50 ClientHellos");
        assert_eq!(fragments_in(&out[0]).len(), 1);
        assert_eq!(server.stats().dropped, 49);
        // The next datagram gets its own answer.
        server.handle_receive(Instant::now(), &client_hello_datagram(0, 0));
        assert_eq!(drain(&mut server).len(), 1);
    }

    #[test]
    fn client_hello_over_the_size_limit_is_dropped_before_parsing() {
        let mut s = Config::new(Arc::new(Certificate::generate().unwrap()));
        s.max_handshake_message = 1000;
        let mut server = Endpoint::server(s, Box::new(TestRng::new(4)));
        let now = Instant::now();
        server.handle_receive(now, &client_hello_datagram(0, 5000));
        assert!(drain(&mut server).is_empty(), "no answer, nothing parsed");
        assert_eq!(server.stats().dropped, 1);
        // Within the limit: answered.
        server.handle_receive(now, &client_hello_datagram(0, 500));
        assert_eq!(drain(&mut server).len(), 1);
    }
}
