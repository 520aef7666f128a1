//! The peer's requests: authentication, role conflicts (487), answers, peer-reflexive remote
//! candidates, triggered checks and the controlled agent's nominations.

use std::net::SocketAddr;
use std::time::Instant;

use super::*;
use crate::candidate::{Candidate, CandidateKind};
use crate::checklist::PairState;
use crate::rng::Rng;
use crate::small::PushSmall;
use crate::stun::attribute::{self as attr, Attribute};
use crate::stun::{MessageBuilder, MessageClass, MessageType, StunMessage, TransactionId};

impl<R: Rng> Agent<R> {
    pub(super) fn respond(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        message_type: MessageType,
        id: TransactionId,
        build: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), crate::stun::StunError>,
        with_integrity: bool,
    ) {
        let mut buf = [0u8; MAX_MESSAGE];
        let Ok(mut b) = MessageBuilder::new(&mut buf, message_type, id) else {
            return;
        };
        let ok = build(&mut b).is_ok()
            && (!with_integrity || b.add_message_integrity(&self.local_key).is_ok())
            && b.add_fingerprint().is_ok();
        if ok {
            let n = b.finish();
            self.transmits.push_small(AgentTransmit {
                transport: self.rx_transport,
                source: destination,
                destination: source,
                contents: buf[..n].to_vec(),
            });
        }
    }

    pub(super) fn handle_request(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        m: &StunMessage<'_>,
    ) {
        let id = m.transaction_id();
        let error_type = MessageType::new(m.method(), MessageClass::ErrorResponse);
        if m.message_type() != MessageType::BINDING_REQUEST {
            if !self.config.answer_unauthenticated {
                self.stats.auth_failures += 1;
                return;
            }
            self.respond(
                source,
                destination,
                error_type,
                id,
                |b| {
                    b.add(&Attribute::ErrorCode {
                        code: 400,
                        reason: "Bad Request",
                    })
                    .map(|_| ())
                },
                false,
            );
            return;
        }
        if self.answer_old_session(source, destination, m) {
            return;
        }
        // Authentication first: a request failing it changes nothing (RFC 8445 7.3).
        let username_ok = m.username().is_some_and(|u| {
            u.strip_prefix(self.config.local_ufrag.as_str())
                .is_some_and(|r| r.starts_with(':'))
        });
        if !username_ok || m.verify_message_integrity(&self.local_key).is_err() {
            self.stats.auth_failures += 1;
            if !self.config.answer_unauthenticated {
                return;
            }
            let code = if m.username().is_none() || !m.has_message_integrity() {
                400
            } else {
                401
            };
            self.respond(
                source,
                destination,
                error_type,
                id,
                |b| {
                    b.add(&Attribute::ErrorCode {
                        code,
                        reason: if code == 400 {
                            "Bad Request"
                        } else {
                            "Unauthorized"
                        },
                    })
                    .map(|_| ())
                },
                false,
            );
            return;
        }
        self.mark_validated(destination, source);
        let unknown = m.unknown_comprehension_required();
        if !unknown.is_empty() {
            let list: Vec<u16> = unknown.to_vec();
            self.respond(
                source,
                destination,
                error_type,
                id,
                |b| {
                    b.add(&Attribute::ErrorCode {
                        code: 420,
                        reason: "Unknown Attribute",
                    })?;
                    b.add(&Attribute::UnknownAttributes(attr::U16List::Values(&list)))
                        .map(|_| ())
                },
                true,
            );
            return;
        }
        let Some(Ok(Attribute::Priority(peer_priority))) = m.get(attr::PRIORITY) else {
            self.respond(
                source,
                destination,
                error_type,
                id,
                |b| {
                    b.add(&Attribute::ErrorCode {
                        code: 400,
                        reason: "Bad Request",
                    })
                    .map(|_| ())
                },
                true,
            );
            return;
        };
        // Role conflict (RFC 8445 7.3.1.1).
        let their_controlling = match (m.get(attr::ICE_CONTROLLING), m.get(attr::ICE_CONTROLLED)) {
            (Some(Ok(Attribute::IceControlling(t))), _) => Some((true, t)),
            (_, Some(Ok(Attribute::IceControlled(t)))) => Some((false, t)),
            _ => None,
        };
        if let Some((_, tb)) = their_controlling.filter(|(theirs, _)| *theirs == self.controlling) {
            self.stats.role_conflicts += 1;
            let we_win = self.tie_breaker >= tb;
            // Both controlling: the larger tie-breaker stays controlling. Both controlled: the
            // larger tie-breaker becomes controlling.
            // A lite agent stays controlled: the full peer must take the controlling role.
            let keep_and_reject =
                self.config.lite || if self.controlling { we_win } else { !we_win };
            if keep_and_reject {
                self.respond(
                    source,
                    destination,
                    error_type,
                    id,
                    |b| {
                        b.add(&Attribute::ErrorCode {
                            code: 487,
                            reason: "Role Conflict",
                        })
                        .map(|_| ())
                    },
                    true,
                );
                return;
            }
            self.switch_role(!self.controlling);
        }
        // Success response.
        self.stats.checks_answered += 1;
        self.respond(
            source,
            destination,
            MessageType::BINDING_SUCCESS,
            id,
            |b| b.add(&Attribute::XorMappedAddress(source)).map(|_| ()),
            true,
        );

        // Learn a peer-reflexive remote candidate, then trigger a check on the pair.
        let transport = self.rx_transport;
        if self
            .checklist
            .find_on(transport, destination, source)
            .is_none()
            && !self
                .checklist
                .remote_candidates()
                .iter()
                .any(|r| r.transport == transport && r.socket_addr() == Some(source))
        {
            self.prflx_count += 1;
            let component = self
                .locals
                .iter()
                .find(|c| c.transport == transport && c.socket_addr() == Some(destination))
                .map_or(COMPONENT, |c| c.component);
            let mut c = Candidate::new(
                format!("prflx{}", self.prflx_count),
                component,
                peer_priority,
                source,
                CandidateKind::PeerReflexive,
            );
            // Over TCP this is the peer's end of the stream it opened to our passive candidate
            // (RFC 6544 7.2): the only TCP remote candidate we pair with.
            c.transport = transport;
            let _ = self.checklist.add_remote(c);
        }
        let use_candidate = m.get_raw(attr::USE_CANDIDATE).is_some();
        if let Some(pair) = self
            .checklist
            .find_on(transport, destination, source)
            .map(|p| (p.id, p.state))
        {
            let (pid, state) = pair;
            if self.config.lite {
                // A lite agent does no checks: the nominated pair is valid and selected.
                if use_candidate {
                    self.checklist.on_success(pid);
                    self.checklist.nominate(pid);
                    self.select(now, pid);
                }
                return;
            }
            if use_candidate && !self.controlling {
                self.checklist.nominate(pid);
                if state == PairState::Succeeded {
                    self.select(now, pid);
                }
            }
            if state == PairState::InProgress {
                // Cancel our ordinary check on the pair and check it again at once instead of
                // waiting for the retransmission (RFC 8445 7.3.1.4). Nominations keep running.
                let mut cancelled = false;
                for c in &mut self.checks {
                    if c.pair == pid && !c.consent && !c.use_candidate && !c.old && !c.cancelled {
                        c.cancelled = true;
                        cancelled = true;
                    }
                }
                if cancelled {
                    self.checklist.retry(pid);
                }
            } else if state != PairState::Succeeded {
                self.checklist.trigger(pid);
            }
            self.schedule(now);
        }
    }

    pub(super) fn switch_role(&mut self, controlling: bool) {
        self.controlling = controlling;
        self.checklist.set_controlling(controlling);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::test_support::*;
    use crate::stun::IntegrityKey;

    #[test]
    fn unauthenticated_checks_change_nothing_and_may_stay_unanswered() {
        let now = Instant::now();
        for answer in [true, false] {
            let mut c = config(false);
            c.answer_unauthenticated = answer;
            let mut a = agent(c);
            let bad = check(1, "lfrg:rfrg", "wrong-password-0123456");
            assert!(a.handle_receive(now, sa(REMOTE), sa(LOCAL), &bad));
            assert_eq!(a.stats().auth_failures, 1);
            assert!(a.checklist().remote_candidates().is_empty());
            assert!(!a.is_validated(sa(LOCAL), sa(REMOTE)));
            let sent = drain(&mut a);
            assert_eq!(sent.len(), usize::from(answer));
            if let Some((_, _, bytes)) = sent.first() {
                let m = StunMessage::parse(bytes).unwrap();
                assert_eq!(m.class(), MessageClass::ErrorResponse);
                assert_eq!(m.error_code().map(|e| e.0), Some(401));
            }
        }
    }

    #[test]
    fn an_authenticated_check_is_answered_and_teaches_a_peer_reflexive_candidate() {
        let now = Instant::now();
        let mut a = agent(config(false));
        let from = sa("198.51.100.7:7000");
        assert!(a.handle_receive(now, from, sa(LOCAL), &check(2, "lfrg:rfrg", LOCAL_PWD)));
        assert!(a.is_validated(sa(LOCAL), from));
        let sent = drain(&mut a);
        let m = StunMessage::parse(&sent[0].2).unwrap();
        assert_eq!(m.message_type(), MessageType::BINDING_SUCCESS);
        assert_eq!(m.xor_mapped_address(), Some(from));
        m.verify_message_integrity(&IntegrityKey::short_term(LOCAL_PWD))
            .unwrap();
        let learned = &a.checklist().remote_candidates()[0];
        assert_eq!(learned.kind, CandidateKind::PeerReflexive);
        assert_eq!(learned.socket_addr(), Some(from));
        assert_eq!(learned.priority, 1_853_824_767);
    }
}
