//! The client's flights: ClientHello (flight 1, again with the cookie as flight 3), then, once the
//! server's flight 4 arrived, Certificate, ClientKeyExchange, CertificateVerify,
//! ChangeCipherSpec, Finished (flight 5); the server's Finished (flight 6) completes it.

use std::sync::Arc;
use std::time::Instant;

use super::handshake::Disposition;
use super::{Endpoint, Res, State};
use crate::cipher::{CipherSuite, SrtpProfile};
use crate::error::DtlsError;
use crate::fragment::Message;
use crate::message::{
    CertificateMsg, CertificateRequest, CertificateVerify, ClientHello, ClientKeyExchange,
    Extensions, HelloVerifyRequest, ServerHello, ServerKeyExchange, Signature, group, msg_type,
    sig,
};
use crate::record::{DTLS_1_0, DTLS_1_2};

/// What the client remembers of its cookie exchange.
#[derive(Debug, Clone, Default)]
pub(super) struct CookieState {
    /// Our current ClientHello carries a cookie.
    has_cookie: bool,
    /// The cookie of a further HelloVerifyRequest, used only if no ServerHello arrived by the
    /// next retransmission.
    deferred: Option<Vec<u8>>,
}

impl Endpoint {
    /// Sends the first ClientHello.
    pub(super) fn start_client(&mut self, now: Instant) {
        self.rng.fill(&mut self.hs.client_random);
        if self.config.versions.has_13() {
            let with_12 = self.config.versions.has_12();
            match super::tls13::Offer13::new(&self.config, &mut *self.rng, with_12) {
                Ok(o) => self.offer13 = Some(Box::new(o)),
                Err(e) => return self.fail(e),
            }
        }
        self.send_client_hello(now, Vec::new());
        self.state = State::ClientWaitHello;
    }

    /// Before a retransmission: a HelloVerifyRequest kept aside is followed after all when no
    /// ServerHello answered the ClientHello with our cookie (the server may have changed its
    /// cookie secret).
    pub(super) fn client_before_retransmission(&mut self) {
        let Some(cookie) = self.cookie.deferred.take() else {
            return;
        };
        if self.state == State::ClientWaitHello {
            let seq = self.reassembler.next_seq();
            self.reassembler.reset(seq);
            self.reassembler.advance();
            self.build_client_hello(cookie);
        }
    }

    fn send_client_hello(&mut self, now: Instant, cookie: Vec<u8>) {
        self.build_client_hello(cookie);
        self.start_flight(now, true);
    }

    /// Makes a ClientHello the flight (and the transcript).
    fn build_client_hello(&mut self, cookie: Vec<u8>) {
        self.cookie.has_cookie = !cookie.is_empty();
        self.cookie.deferred = None;
        let mut suites: Vec<u16> = self.config.cipher_suites.iter().map(|s| s.id()).collect();
        suites.push(0x00FF); // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
        let ch = ClientHello {
            version: DTLS_1_2,
            random: self.hs.client_random,
            session_id: Vec::new(),
            cookie,
            cipher_suites: suites,
            compression_methods: vec![0],
            extensions: Extensions {
                srtp_profiles: (!self.config.srtp_profiles.is_empty())
                    .then(|| self.config.srtp_profiles.iter().map(|p| p.id()).collect()),
                srtp_mki: Vec::new(),
                extended_master_secret: true,
                renegotiation_info: None,
                supported_groups: Some(vec![group::X25519, group::SECP256R1, group::SECP384R1]),
                ec_point_formats: Some(vec![0]),
                signature_algorithms: Some(sig::VERIFY.to_vec()),
            },
        };
        let mut body = Vec::new();
        ch.write(&mut body);
        if let Some(offer) = self.offer13.as_mut() {
            // Our own 1.2 ClientHello always parses; keep it as is if it somehow does not.
            if let Ok(extended) = offer.extend_hello(&body, &self.config.groups13) {
                body = extended;
            }
        }
        self.flight.clear();
        self.hs.transcript.clear();
        self.add_message(0, msg_type::CLIENT_HELLO, &body);
    }

    /// A complete message the client's state expects (see [`Endpoint::expects`]).
    pub(super) fn client_message(&mut self, now: Instant, m: &Message) -> Res<Disposition> {
        use Disposition::{Done, Malformed};
        use State as S;
        use msg_type as M;
        let (ty, seq, body) = (m.msg_type, m.message_seq, &m.body[..]);
        match (self.state, ty) {
            (S::ClientWaitHello, M::HELLO_VERIFY_REQUEST) => {
                let Ok(hvr) = HelloVerifyRequest::parse(body) else {
                    return Ok(Malformed);
                };
                if hvr.version != DTLS_1_0 && hvr.version != DTLS_1_2 {
                    return Ok(Malformed);
                }
                if self.cookie.has_cookie {
                    // Anyone can make a server send us a HelloVerifyRequest (with a ClientHello
                    // spoofing our address): one racing the ServerHello for the ClientHello that
                    // carries our cookie must not derail it. Keep it for the next timeout.
                    self.cookie.deferred = Some(hvr.cookie);
                    return Ok(Disposition::Deferred);
                }
                // Whatever was buffered arrived before the ClientHello it would answer: drop it.
                self.reassembler.reset(seq);
                self.send_client_hello(now, hvr.cookie);
            }
            (S::ClientWaitHello, M::SERVER_HELLO) => {
                if let Some(d) = self.takes_13(now, m) {
                    return Ok(d);
                }
                let Ok(sh) = ServerHello::parse(body) else {
                    return Ok(Malformed);
                };
                if self.offer13.is_some() {
                    // We offered DTLS 1.3 and the server picked 1.2 (RFC 8446 4.1.3).
                    if !self.config.versions.has_12() {
                        return Err(DtlsError::UnsupportedVersion(sh.version));
                    }
                    if crate::v13::message::has_downgrade_sentinel(&sh.random) {
                        return Err(DtlsError::Downgrade);
                    }
                    self.offer13 = None;
                }
                self.hs.record(ty, seq, body);
                self.server_hello(&sh)?;
                self.state = S::ClientWaitCertificate;
            }
            (S::ClientWaitCertificate, M::CERTIFICATE) => {
                let Ok(msg) = CertificateMsg::parse(body) else {
                    return Ok(Malformed);
                };
                self.hs.record(ty, seq, body);
                self.peer_certificate(msg)?;
                let suite = self.hs.suite.expect("suite chosen with ServerHello");
                if self
                    .hs
                    .peer_key
                    .as_ref()
                    .is_some_and(|k| k.is_ecdsa() != suite.is_ecdsa())
                {
                    return Err(DtlsError::BadCertificate(
                        "key type does not match the cipher suite",
                    ));
                }
                self.state = S::ClientWaitKeyExchange;
            }
            (S::ClientWaitKeyExchange, M::SERVER_KEY_EXCHANGE) => {
                let Ok(ske) = ServerKeyExchange::parse(body) else {
                    return Ok(Malformed);
                };
                self.hs.record(ty, seq, body);
                self.server_key_exchange(ske)?;
                self.state = S::ClientWaitCertReqOrDone;
            }
            (S::ClientWaitCertReqOrDone, M::CERTIFICATE_REQUEST) => {
                let Ok(cr) = CertificateRequest::parse(body) else {
                    return Ok(Malformed);
                };
                self.hs.record(ty, seq, body);
                if !cr
                    .signature_algorithms
                    .contains(&self.config.certificate.scheme())
                {
                    return Err(DtlsError::NoCommon("signature scheme for our certificate"));
                }
                self.hs.certificate_requested = true;
                self.state = S::ClientWaitDone;
            }
            (S::ClientWaitCertReqOrDone | S::ClientWaitDone, M::SERVER_HELLO_DONE) => {
                if !body.is_empty() {
                    return Ok(Malformed);
                }
                self.hs.record(ty, seq, body);
                self.flight5(now)?;
                self.state = S::ClientWaitFinished;
            }
            (S::ClientWaitFinished, M::FINISHED) => {
                self.hs
                    .check_finished(b"server finished", body, self.config.crypto)?;
                self.hs.record(ty, seq, body);
                self.flight.clear();
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

    fn server_hello(&mut self, sh: &ServerHello) -> Res {
        if sh.version != DTLS_1_2 {
            return Err(DtlsError::UnsupportedVersion(sh.version));
        }
        let suite = CipherSuite::from_id(sh.cipher_suite)
            .filter(|s| self.config.cipher_suites.contains(s))
            .ok_or(DtlsError::Invalid("cipher suite not offered"))?;
        if sh.compression_method != 0 {
            return Err(DtlsError::Invalid("compression method"));
        }
        let e = &sh.extensions;
        if !e.extended_master_secret && self.config.require_extended_master_secret {
            return Err(DtlsError::NoExtendedMasterSecret);
        }
        if e.renegotiation_info.as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(DtlsError::Invalid("renegotiation_info"));
        }
        self.hs.srtp = match &e.srtp_profiles {
            None => None,
            Some(list) => {
                let [id] = list[..] else {
                    return Err(DtlsError::Invalid("use_srtp answer"));
                };
                Some(
                    SrtpProfile::from_id(id)
                        .filter(|p| self.config.srtp_profiles.contains(p))
                        .ok_or(DtlsError::Invalid("SRTP profile not offered"))?,
                )
            }
        };
        self.hs.suite = Some(suite);
        self.hs.extended_master_secret = e.extended_master_secret;
        self.hs.server_random = sh.random;
        Ok(())
    }

    fn server_key_exchange(&mut self, ske: ServerKeyExchange) -> Res {
        if !sig::VERIFY.contains(&ske.signature.scheme) {
            return Err(DtlsError::Invalid("signature scheme not offered"));
        }
        let mut signed = Vec::with_capacity(64 + 4 + ske.public.len());
        signed.extend_from_slice(&self.hs.client_random);
        signed.extend_from_slice(&self.hs.server_random);
        signed.extend_from_slice(&ServerKeyExchange::params(ske.group, &ske.public));
        let key = self
            .hs
            .peer_key
            .as_ref()
            .ok_or(DtlsError::UnexpectedMessage("no certificate"))?;
        key.verify_with(
            self.config.crypto,
            ske.signature.scheme,
            &signed,
            &ske.signature.signature,
        )?;
        self.hs.peer_scheme = Some(ske.signature.scheme);
        self.hs.group = ske.group;
        self.generate_key_share()?;
        self.hs.peer_point = ske.public;
        Ok(())
    }

    fn flight5(&mut self, now: Instant) -> Res {
        self.flight.clear();
        let cert = Arc::clone(&self.config.certificate);
        if self.hs.certificate_requested {
            let mut body = Vec::new();
            CertificateMsg {
                chain: vec![cert.der().to_vec()],
            }
            .write(&mut body);
            self.add_message(0, msg_type::CERTIFICATE, &body);
        }
        let peer_point = std::mem::take(&mut self.hs.peer_point);
        let pms = self.hs.agree(&peer_point)?;
        let mut body = Vec::new();
        ClientKeyExchange {
            public: self.hs.our_point.clone(),
        }
        .write(&mut body);
        self.add_message(0, msg_type::CLIENT_KEY_EXCHANGE, &body);
        self.install_keys(&pms)?;
        if self.hs.certificate_requested {
            let transcript = std::mem::take(&mut self.hs.transcript);
            let signature = self.sign(&transcript);
            self.hs.transcript = transcript;
            let signature = signature?;
            let mut body = Vec::new();
            CertificateVerify {
                signature: Signature {
                    scheme: cert.scheme(),
                    signature,
                },
            }
            .write(&mut body);
            self.add_message(0, msg_type::CERTIFICATE_VERIFY, &body);
        }
        self.change_cipher_spec();
        let verify = self
            .hs
            .finished_data(b"client finished", self.config.crypto);
        self.add_message(1, msg_type::FINISHED, &verify);
        self.start_flight(now, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::super::test_util::*;
    use super::super::{Config, Endpoint, Event};
    use crate::cert::Certificate;
    use crate::error::DtlsError;
    use crate::rng::TestRng;

    #[test]
    fn client_gives_up_after_max_retransmissions() {
        let mut c = Config::new(Arc::new(Certificate::generate().unwrap()));
        c.max_retransmissions = 3;
        // A 1.2 ClientHello: one datagram each (a 1.3 one with the hybrid share takes two).
        c.versions = crate::endpoint::Versions::Dtls12;
        let mut client = Endpoint::client(c, Box::new(TestRng::new(1)));
        let start = Instant::now();
        client.connect(start);
        let mut intervals = Vec::new();
        let mut last = start;
        while let Some(t) = client.poll_timeout() {
            intervals.push(t - last);
            last = t;
            client.handle_timeout(t);
        }
        assert_eq!(intervals, [1, 2, 4, 8].map(Duration::from_secs));
        assert!(matches!(
            client.poll_event(),
            Some(Event::Failed(DtlsError::HandshakeTimeout))
        ));
        assert_eq!(
            client.export_keying_material("EXTRACTOR-dtls_srtp", 60),
            Err(DtlsError::NotConnected)
        );
        assert_eq!(drain(&mut client).len(), 5, "4 ClientHellos and the alert");
    }
}
