//! A sans-IO STUN server answering Binding requests (RFC 8489), with FINGERPRINT and optional
//! short-term integrity (as an ICE agent or a plain STUN server on a deployment needs).
//!
//! Requests failing FINGERPRINT, and everything that is not a request, are dropped silently.
//! Requests are answered with:
//! - 400 when credentials are configured and USERNAME or MESSAGE-INTEGRITY is missing, or when
//!   the method is not Binding;
//! - 401 when the username is not ours or the integrity check fails (no state changes);
//! - 420 with UNKNOWN-ATTRIBUTES when unknown comprehension-required attributes are present;
//! - otherwise a success response with XOR-MAPPED-ADDRESS (the request's source), SOFTWARE if
//!   configured, MESSAGE-INTEGRITY when the request was authenticated, and FINGERPRINT.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use crate::Transmit;
use crate::stun::attribute::{Attribute, U16List};
use crate::stun::{
    IntegrityKey, MessageBuilder, MessageClass, MessageType, Method, StunError, StunMessage,
};

/// Short-term credentials the responder checks requests against.
#[derive(Debug, Clone)]
pub struct ShortTermCredentials {
    /// Our username fragment: a request's USERNAME must be `ufrag` or start with `ufrag:`.
    pub ufrag: String,
    /// Key made from our password.
    pub key: IntegrityKey,
}

impl ShortTermCredentials {
    /// Credentials from an ICE ufrag and password.
    pub fn new(ufrag: &str, password: &str) -> Self {
        ShortTermCredentials {
            ufrag: ufrag.to_owned(),
            key: IntegrityKey::short_term(password),
        }
    }

    fn accepts(&self, username: &str) -> bool {
        match username.strip_prefix(self.ufrag.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with(':'),
            None => false,
        }
    }
}

/// Responder configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResponderConfig {
    /// SOFTWARE attribute to put in responses.
    pub software: Option<String>,
    /// Require and check short-term integrity on requests.
    pub credentials: Option<ShortTermCredentials>,
    /// Most responses queued and not yet polled; more are dropped and counted.
    pub max_queued: usize,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        ResponderConfig {
            software: None,
            credentials: None,
            max_queued: 64,
        }
    }
}

/// Counters of a [`StunResponder`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponderStats {
    /// Success responses queued.
    pub success: u64,
    /// Error responses queued.
    pub errors: u64,
    /// Datagrams that were not valid STUN.
    pub malformed: u64,
    /// Valid STUN that was not a request (indications, responses).
    pub not_request: u64,
    /// Requests with a wrong FINGERPRINT.
    pub bad_fingerprint: u64,
    /// Requests that failed authentication (answered 401).
    pub unauthenticated: u64,
    /// Responses dropped because the queue was full.
    pub queue_full: u64,
}

/// The STUN responder.
#[derive(Debug)]
pub struct StunResponder {
    config: ResponderConfig,
    transmits: VecDeque<Transmit>,
    stats: ResponderStats,
}

/// Largest response we write: header, XOR-MAPPED-ADDRESS (v6), SOFTWARE, error, integrity.
const MAX_RESPONSE: usize = 1024;

impl StunResponder {
    /// Creates a responder.
    pub fn new(config: ResponderConfig) -> Self {
        StunResponder {
            config,
            transmits: VecDeque::new(),
            stats: ResponderStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> ResponderStats {
        self.stats
    }

    /// Handles a datagram from `source`. Returns whether it was a STUN request that got an answer.
    pub fn handle_receive(&mut self, _now: Instant, source: SocketAddr, datagram: &[u8]) -> bool {
        let m = match StunMessage::parse(datagram) {
            Ok(m) => m,
            Err(_) => {
                self.stats.malformed += 1;
                return false;
            }
        };
        if m.class() != MessageClass::Request {
            self.stats.not_request += 1;
            return false;
        }
        if m.has_fingerprint() && m.verify_fingerprint().is_err() {
            self.stats.bad_fingerprint += 1;
            return false;
        }
        if self.transmits.len() >= self.config.max_queued {
            self.stats.queue_full += 1;
            return false;
        }
        let mut buf = [0u8; MAX_RESPONSE];
        let written = self.answer(&m, source, &mut buf);
        match written {
            Ok(n) => {
                self.transmits.push_back(Transmit {
                    destination: source,
                    contents: buf[..n].to_vec(),
                });
                true
            }
            Err(_) => false,
        }
    }

    fn answer(
        &mut self,
        m: &StunMessage<'_>,
        source: SocketAddr,
        out: &mut [u8],
    ) -> Result<usize, StunError> {
        let id = m.transaction_id();
        let method = m.method();
        let error_type = MessageType::new(method, MessageClass::ErrorResponse);
        let mut key = None;
        if let Some(creds) = &self.config.credentials {
            let has_integrity = m.has_message_integrity() || m.has_message_integrity_sha256();
            let Some(username) = m.username().filter(|_| has_integrity) else {
                return self.error(out, error_type, id, 400, "Bad Request", None);
            };
            if !creds.accepts(username) || m.verify_integrity(&creds.key).is_err() {
                self.stats.unauthenticated += 1;
                return self.error(out, error_type, id, 401, "Unauthorized", None);
            }
            key = Some(creds.key.clone());
        }
        let unknown = m.unknown_comprehension_required();
        if !unknown.is_empty() {
            let mut b = MessageBuilder::new(out, error_type, id)?;
            b.add(&Attribute::ErrorCode {
                code: 420,
                reason: "Unknown Attribute",
            })?;
            b.add(&Attribute::UnknownAttributes(U16List::Values(unknown)))?;
            return self.finish_error(b, key.as_ref());
        }
        if method != Method::BINDING {
            return self.error(out, error_type, id, 400, "Bad Request", key.as_ref());
        }
        let mut b = MessageBuilder::new(out, MessageType::BINDING_SUCCESS, id)?;
        b.add(&Attribute::XorMappedAddress(source))?;
        if let Some(s) = &self.config.software {
            b.add(&Attribute::Software(s))?;
        }
        if let Some(key) = &key {
            b.add_message_integrity(key)?;
        }
        b.add_fingerprint()?;
        self.stats.success += 1;
        Ok(b.finish())
    }

    fn error(
        &mut self,
        out: &mut [u8],
        message_type: MessageType,
        id: crate::stun::TransactionId,
        code: u16,
        reason: &str,
        key: Option<&IntegrityKey>,
    ) -> Result<usize, StunError> {
        let mut b = MessageBuilder::new(out, message_type, id)?;
        b.add(&Attribute::ErrorCode { code, reason })?;
        self.finish_error(b, key)
    }

    fn finish_error(
        &mut self,
        mut b: MessageBuilder<'_>,
        key: Option<&IntegrityKey>,
    ) -> Result<usize, StunError> {
        if let Some(s) = &self.config.software {
            b.add(&Attribute::Software(s))?;
        }
        if let Some(key) = key {
            b.add_message_integrity(key)?;
        }
        b.add_fingerprint()?;
        self.stats.errors += 1;
        Ok(b.finish())
    }

    /// The next response to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::TransactionId;

    fn client() -> SocketAddr {
        "192.0.2.1:32853".parse().unwrap()
    }

    fn request(build: impl FnOnce(&mut MessageBuilder<'_>)) -> Vec<u8> {
        let mut buf = [0u8; 512];
        let mut b = MessageBuilder::new(
            &mut buf,
            MessageType::BINDING_REQUEST,
            TransactionId([9; 12]),
        )
        .unwrap();
        build(&mut b);
        let n = b.finish();
        buf[..n].to_vec()
    }

    fn respond(r: &mut StunResponder, req: &[u8]) -> Option<Vec<u8>> {
        r.handle_receive(Instant::now(), client(), req);
        r.poll_transmit().map(|t| {
            assert_eq!(t.destination, client());
            t.contents
        })
    }

    #[test]
    fn plain_binding() {
        let mut r = StunResponder::new(ResponderConfig {
            software: Some("sansrtc".into()),
            ..Default::default()
        });
        let req = request(|b| {
            b.add_fingerprint().unwrap();
        });
        let resp = respond(&mut r, &req).unwrap();
        let m = StunMessage::parse(&resp).unwrap();
        assert_eq!(m.message_type(), MessageType::BINDING_SUCCESS);
        assert_eq!(m.transaction_id(), TransactionId([9; 12]));
        assert_eq!(m.xor_mapped_address(), Some(client()));
        m.verify_fingerprint().unwrap();
        assert!(!m.has_message_integrity());
        assert_eq!(r.stats().success, 1);
    }

    #[test]
    fn short_term_auth() {
        let creds = ShortTermCredentials::new("local", "pass");
        let mut r = StunResponder::new(ResponderConfig {
            credentials: Some(creds),
            ..Default::default()
        });
        let good_key = IntegrityKey::short_term("pass");

        let ok = request(|b| {
            b.add(&Attribute::Username("local:remote")).unwrap();
            b.add_message_integrity(&good_key).unwrap();
            b.add_fingerprint().unwrap();
        });
        let resp = respond(&mut r, &ok).unwrap();
        let m = StunMessage::parse(&resp).unwrap();
        assert_eq!(m.message_type(), MessageType::BINDING_SUCCESS);
        m.verify_message_integrity(&good_key).unwrap();
        m.verify_fingerprint().unwrap();

        let missing = request(|b| {
            b.add(&Attribute::Username("local:remote")).unwrap();
        });
        let m_resp = respond(&mut r, &missing).unwrap();
        assert_eq!(
            StunMessage::parse(&m_resp).unwrap().error_code().unwrap().0,
            400
        );

        let wrong_key = request(|b| {
            b.add(&Attribute::Username("local:remote")).unwrap();
            b.add_message_integrity(&IntegrityKey::short_term("nope"))
                .unwrap();
        });
        let resp = respond(&mut r, &wrong_key).unwrap();
        let m = StunMessage::parse(&resp).unwrap();
        assert_eq!(m.message_type(), MessageType::BINDING_ERROR);
        assert_eq!(m.error_code().unwrap().0, 401);
        assert!(!m.has_message_integrity());

        let wrong_user = request(|b| {
            b.add(&Attribute::Username("localx:remote")).unwrap();
            b.add_message_integrity(&good_key).unwrap();
        });
        let resp = respond(&mut r, &wrong_user).unwrap();
        assert_eq!(
            StunMessage::parse(&resp).unwrap().error_code().unwrap().0,
            401
        );
        assert_eq!(r.stats().unauthenticated, 2);
    }

    #[test]
    fn unknown_required_attribute_gets_420() {
        let mut r = StunResponder::new(ResponderConfig::default());
        let req = request(|b| {
            b.add_raw(0x7F01, &[1, 2, 3]).unwrap();
            b.add_raw(0xC001, &[1]).unwrap(); // comprehension-optional: ignored
            b.add_raw(0x0031, &[]).unwrap();
        });
        let resp = respond(&mut r, &req).unwrap();
        let m = StunMessage::parse(&resp).unwrap();
        assert_eq!(m.error_code(), Some((420, "Unknown Attribute")));
        match m.get(crate::stun::attribute::UNKNOWN_ATTRIBUTES) {
            Some(Ok(Attribute::UnknownAttributes(list))) => {
                assert_eq!(list.iter().collect::<Vec<_>>(), [0x7F01, 0x0031]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn drops_bad_fingerprint_and_non_requests() {
        let mut r = StunResponder::new(ResponderConfig::default());
        let mut req = request(|b| {
            b.add_fingerprint().unwrap();
        });
        let last = req.len() - 1;
        req[last] ^= 1;
        assert!(respond(&mut r, &req).is_none());
        assert_eq!(r.stats().bad_fingerprint, 1);

        let mut buf = [0u8; 20];
        let n = MessageBuilder::new(
            &mut buf,
            MessageType::BINDING_INDICATION,
            TransactionId([1; 12]),
        )
        .unwrap()
        .finish();
        assert!(respond(&mut r, &buf[..n]).is_none());
        assert!(respond(&mut r, b"\x80\x00garbage").is_none());
        assert_eq!(r.stats().not_request, 1);
        assert_eq!(r.stats().malformed, 1);
    }

    #[test]
    fn queue_is_bounded() {
        let mut r = StunResponder::new(ResponderConfig {
            max_queued: 2,
            ..Default::default()
        });
        let req = request(|_| {});
        for _ in 0..5 {
            r.handle_receive(Instant::now(), client(), &req);
        }
        assert_eq!(r.stats().queue_full, 3);
        assert!(r.poll_transmit().is_some() && r.poll_transmit().is_some());
        assert!(r.poll_transmit().is_none());
    }

    #[test]
    fn ipv6_source() {
        let mut r = StunResponder::new(ResponderConfig::default());
        let from: SocketAddr = "[2001:db8::1]:40000".parse().unwrap();
        r.handle_receive(Instant::now(), from, &request(|_| {}));
        let t = r.poll_transmit().unwrap();
        assert_eq!(
            StunMessage::parse(&t.contents)
                .unwrap()
                .xor_mapped_address(),
            Some(from)
        );
    }
}
