//! Requests to the server: building them (long-term credentials once challenged), their
//! transactions on the [`StunClient`](crate::stun::transaction::StunClient) (which retransmits
//! them over UDP), answers and failures, 401 challenges and 438 stale nonces.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::*;
use crate::rng::Rng;
use crate::stun::attribute::{self as attr, Attribute};
use crate::stun::transaction::TransactionEvent;
use crate::stun::{IntegrityKey, MessageClass, MessageType, Method, StunMessage, TransactionId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Request {
    Allocate,
    Refresh(u32),
    Permission(IpAddr),
    Channel(SocketAddr, u16),
}

#[derive(Debug, Clone)]
pub(super) struct Pending {
    pub(super) id: TransactionId,
    pub(super) request: Request,
    pub(super) authenticated: bool,
    pub(super) stale_retried: bool,
}

impl<R: Rng> TurnClient<R> {
    pub(super) fn stun_rng_fill(&mut self, out: &mut [u8]) {
        self.stun.fill_random(out);
    }

    pub(super) fn send(
        &mut self,
        now: Instant,
        request: Request,
        authenticate: bool,
    ) -> Result<(), TurnError> {
        let authenticated = authenticate || self.key.is_some();
        let id = self.start(now, &request, authenticated)?;
        self.pending.push(Pending {
            id,
            request,
            authenticated,
            stale_retried: false,
        });
        Ok(())
    }

    pub(super) fn start(
        &mut self,
        now: Instant,
        request: &Request,
        authenticated: bool,
    ) -> Result<TransactionId, TurnError> {
        let (method, lifetime) = match request {
            Request::Allocate => (Method::ALLOCATE, Some(self.config.lifetime)),
            Request::Refresh(l) => (Method::REFRESH, Some(*l)),
            Request::Permission(_) => (Method::CREATE_PERMISSION, None),
            Request::Channel(..) => (Method::CHANNEL_BIND, None),
        };
        let creds = if authenticated {
            match (&self.realm, &self.nonce, &self.key) {
                (Some(r), Some(n), Some(k)) => Some((r.clone(), n.clone(), k.clone())),
                _ => None,
            }
        } else {
            None
        };
        let username = self.config.username.clone();
        let software = self.config.software.clone();
        let requested_family = self.config.requested_family;
        let request = request.clone();
        let id = self.stun.start_request(
            now,
            self.config.server,
            MessageType::new(method, MessageClass::Request),
            |b| {
                match request {
                    Request::Allocate => {
                        b.add(&Attribute::RequestedTransport(17))?;
                        if let Some(family) = requested_family {
                            b.add(&Attribute::RequestedAddressFamily(family))?;
                        }
                    }
                    Request::Permission(ip) => {
                        b.add(&Attribute::XorPeerAddress(SocketAddr::new(ip, 0)))?;
                    }
                    Request::Channel(peer, channel) => {
                        b.add(&Attribute::ChannelNumber(channel))?;
                        b.add(&Attribute::XorPeerAddress(peer))?;
                    }
                    Request::Refresh(_) => {}
                }
                if let Some(l) = lifetime {
                    b.add(&Attribute::Lifetime(l))?;
                }
                if let Some(s) = &software {
                    b.add(&Attribute::Software(s))?;
                }
                if let Some((realm, nonce, key)) = &creds {
                    b.add(&Attribute::Username(&username))?;
                    b.add(&Attribute::Realm(realm))?;
                    b.add(&Attribute::Nonce(nonce))?;
                    b.add_message_integrity(key)?;
                }
                b.add_fingerprint().map(|_| ())
            },
        )?;
        Ok(id)
    }

    pub(super) fn process_events(&mut self, now: Instant) {
        while let Some(event) = self.stun.poll_event() {
            match event {
                TransactionEvent::Response { id, message, .. } => {
                    self.on_response(now, id, &message)
                }
                TransactionEvent::Timeout { id } => {
                    if let Some(i) = self.pending.iter().position(|p| p.id == id) {
                        let p = self.pending.swap_remove(i);
                        self.on_failure(&p.request, 0);
                    }
                }
            }
        }
    }

    pub(super) fn on_failure(&mut self, request: &Request, code: u16) {
        match request {
            Request::Allocate | Request::Refresh(_) => {
                if self.state == State::Closing {
                    self.state = State::Closed;
                    self.events.push_back(TurnEvent::Closed);
                } else {
                    self.state = State::Closed;
                    self.events.push_back(TurnEvent::AllocationFailed(code));
                }
            }
            Request::Permission(ip) => self
                .events
                .push_back(TurnEvent::PermissionFailed(*ip, code)),
            Request::Channel(peer, _) => self
                .events
                .push_back(TurnEvent::PermissionFailed(peer.ip(), code)),
        }
    }

    pub(super) fn on_response(&mut self, now: Instant, id: TransactionId, bytes: &[u8]) {
        let Some(i) = self.pending.iter().position(|p| p.id == id) else {
            return;
        };
        let p = self.pending.swap_remove(i);
        let Ok(m) = StunMessage::parse(bytes) else {
            return;
        };
        if m.class() == MessageClass::ErrorResponse {
            self.on_error_response(now, p, &m);
            return;
        }
        match p.request {
            Request::Allocate => self.on_allocated(now, &m),
            Request::Refresh(0) => self.on_deallocated(),
            Request::Refresh(_) => self.on_refreshed(now, &m),
            Request::Permission(ip) => self.on_permission(now, ip),
            Request::Channel(peer, channel) => self.on_channel_bound(now, peer, channel),
        }
    }

    /// An error answer: a 401 challenge (learn realm and nonce, derive the long-term key,
    /// retry once with them) or a 438 stale nonce (retry once with the new nonce); anything else
    /// fails the request.
    pub(super) fn on_error_response(&mut self, now: Instant, p: Pending, m: &StunMessage<'_>) {
        let code = m.error_code().map(|e| e.0).unwrap_or(0);
        let realm = match m.get(attr::REALM) {
            Some(Ok(Attribute::Realm(r))) => Some(r.to_owned()),
            _ => None,
        };
        let nonce = match m.get(attr::NONCE) {
            Some(Ok(Attribute::Nonce(n))) => Some(n.to_owned()),
            _ => None,
        };
        let retry = match code {
            // The challenge: learn realm and nonce, derive the key, retry once with them.
            401 if !p.authenticated => match (realm, nonce) {
                (Some(r), Some(n)) => {
                    self.key = Some(IntegrityKey::long_term_md5(
                        &self.config.username,
                        &r,
                        &self.config.password,
                    ));
                    self.realm = Some(r);
                    self.nonce = Some(n);
                    true
                }
                _ => false,
            },
            438 if !p.stale_retried => match nonce {
                Some(n) => {
                    self.stats.stale_nonce_retries += 1;
                    self.nonce = Some(n);
                    if let Some(r) = realm {
                        self.realm = Some(r);
                    }
                    true
                }
                None => false,
            },
            _ => false,
        };
        if retry {
            if let Ok(new_id) = self.start(now, &p.request, true) {
                self.pending.push(Pending {
                    id: new_id,
                    request: p.request,
                    authenticated: true,
                    stale_retried: p.stale_retried || code == 438,
                });
                return;
            }
        }
        self.on_failure(&p.request, code);
    }

    pub(super) fn refreshing(&self, matches: impl Fn(&Request) -> bool) -> bool {
        self.pending.iter().any(|p| matches(&p.request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;
    use crate::turn::test_support::{reply, server};

    /// 401 challenge, then 438 stale nonce answered by retrying with the new nonce, then success;
    /// a forged success without valid integrity is ignored.
    #[test]
    fn challenge_stale_nonce_and_forgery() {
        let mut c = TurnClient::new(TurnConfig::new(server(), "u", "p"), SeededRng::new(3));
        let now = Instant::now();
        c.allocate(now).unwrap();
        let first = c.poll_transmit().unwrap().contents;
        assert!(StunMessage::parse(&first).unwrap().username().is_none());
        let challenge = reply(&first, MessageClass::ErrorResponse, None, |b| {
            b.add(&Attribute::ErrorCode {
                code: 401,
                reason: "Unauthorized",
            })
            .unwrap();
            b.add(&Attribute::Realm("r")).unwrap();
            b.add(&Attribute::Nonce("n1")).unwrap();
        });
        assert!(c.handle_receive(now, server(), &challenge));
        let second = c.poll_transmit().unwrap().contents;
        let m = StunMessage::parse(&second).unwrap();
        assert_eq!(m.username(), Some("u"));
        let key = IntegrityKey::long_term_md5("u", "r", "p");
        m.verify_message_integrity(&key).unwrap();
        assert_eq!(m.get(attr::NONCE), Some(Ok(Attribute::Nonce("n1"))));

        let stale = reply(&second, MessageClass::ErrorResponse, None, |b| {
            b.add(&Attribute::ErrorCode {
                code: 438,
                reason: "Stale Nonce",
            })
            .unwrap();
            b.add(&Attribute::Realm("r")).unwrap();
            b.add(&Attribute::Nonce("n2")).unwrap();
        });
        assert!(c.handle_receive(now, server(), &stale));
        assert_eq!(c.stats().stale_nonce_retries, 1);
        let third = c.poll_transmit().unwrap().contents;
        let m = StunMessage::parse(&third).unwrap();
        assert_eq!(m.get(attr::NONCE), Some(Ok(Attribute::Nonce("n2"))));

        let relayed: SocketAddr = "192.0.2.10:50000".parse().unwrap();
        let forged = reply(
            &third,
            MessageClass::SuccessResponse,
            Some(&IntegrityKey::short_term("x")),
            |b| {
                b.add(&Attribute::XorRelayedAddress("6.6.6.6:6".parse().unwrap()))
                    .unwrap();
            },
        );
        assert!(c.handle_receive(now, server(), &forged));
        assert_eq!(c.stats().integrity_failures, 1);
        assert_eq!(c.poll_event(), None);
        assert_eq!(c.relayed_address(), None);

        let ok = reply(&third, MessageClass::SuccessResponse, Some(&key), |b| {
            b.add(&Attribute::XorRelayedAddress(relayed)).unwrap();
            b.add(&Attribute::Lifetime(600)).unwrap();
        });
        assert!(c.handle_receive(now, server(), &ok));
        assert_eq!(
            c.poll_event(),
            Some(TurnEvent::Allocated {
                relayed,
                mapped: None,
                lifetime: 600
            })
        );
        // Refresh is due a minute before expiry.
        assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(540)));
        c.handle_timeout(now + Duration::from_secs(540));
        let refresh = c.poll_transmit().unwrap().contents;
        assert_eq!(
            StunMessage::parse(&refresh).unwrap().method(),
            Method::REFRESH
        );
        // While the refresh is in flight its refresh point (now past) is not a deadline: the
        // next one is its retransmission.
        let next = c.poll_timeout().unwrap();
        assert!(next > now + Duration::from_secs(540), "{next:?}");
        // Datagrams from elsewhere are not ours.
        assert!(!c.handle_receive(now, "192.0.2.99:1".parse().unwrap(), &ok));
    }
}
