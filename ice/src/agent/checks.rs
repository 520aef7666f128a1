//! Connectivity checks: building and sending them, their retransmission
//! ([`Backoff::ice`](crate::stun::retransmit::Backoff::ice)), and pacing new checks one per `Ta`.

use std::net::SocketAddr;
use std::time::Instant;

use super::*;
use crate::checklist::{PairId, PairState};
use crate::rng::Rng;
use crate::small::PushSmall;
use crate::stun::attribute::{self as attr, Attribute};
use crate::stun::retransmit::{Backoff, Retransmission, Step};
use crate::stun::{IntegrityKey, MessageBuilder, MessageType, StunMessage, TransactionId};

#[derive(Debug, Clone)]
pub(super) struct Check {
    pub(super) id: TransactionId,
    pub(super) pair: PairId,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    pub(super) request: Vec<u8>,
    pub(super) timer: Retransmission,
    pub(super) use_candidate: bool,
    pub(super) consent: bool,
    pub(super) component: u16,
    /// A consent check on a pair selected before an ICE restart (old credentials).
    pub(super) old: bool,
    /// When the request was first sent (round-trip times come from unretransmitted checks).
    pub(super) first_sent: Instant,
    /// Cancelled by a triggered check (RFC 8445 7.3.1.4): no more retransmissions, and no
    /// answer within the transaction timeout is not a failure; an answer still counts.
    pub(super) cancelled: bool,
    /// The pair's transport.
    pub(super) transport: CandidateTransport,
}

impl<R: Rng> Agent<R> {
    /// New pairs after checks ran dry: pacing starts again at the next `handle_timeout`.
    pub(super) fn resume_pacing(&mut self) {
        if self.next_pace.is_none() {
            self.next_pace = self.last_now;
        }
    }

    pub(super) fn schedule(&mut self, now: Instant) {
        if self.next_pace.is_none() {
            self.next_pace = Some(now);
        }
    }

    pub(super) fn start_check(
        &mut self,
        now: Instant,
        pid: PairId,
        use_candidate: bool,
        consent: bool,
    ) {
        let Some((ufrag, key)) = &self.remote else {
            return;
        };
        let Some(p) = self.checklist.pair(pid) else {
            return;
        };
        let (local, remote, component, transport) = (p.local, p.remote, p.component, p.transport);
        let username = format!("{ufrag}:{}", self.config.local_ufrag);
        let key = key.clone();
        self.send_check(
            now,
            (pid, component, local, remote, transport),
            &username,
            &key,
            use_candidate,
            consent,
            false,
        );
    }

    /// Builds, sends and records a check request.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_check(
        &mut self,
        now: Instant,
        (pid, component, local, remote, transport): (
            PairId,
            u16,
            SocketAddr,
            SocketAddr,
            CandidateTransport,
        ),
        username: &str,
        key: &IntegrityKey,
        use_candidate: bool,
        consent: bool,
        old: bool,
    ) {
        let mut id = TransactionId([0; 12]);
        self.rng.fill(&mut id.0);
        let prio = self.local_priority_prflx(local, transport);
        let mut buf = [0u8; MAX_MESSAGE];
        let Ok(mut b) = MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, id) else {
            return;
        };
        let role = if self.controlling {
            Attribute::IceControlling(self.tie_breaker)
        } else {
            Attribute::IceControlled(self.tie_breaker)
        };
        let built = b.add(&Attribute::Username(username)).is_ok()
            && b.add(&role).is_ok()
            && b.add(&Attribute::Priority(prio)).is_ok()
            && (!use_candidate || b.add(&Attribute::UseCandidate).is_ok())
            && b.add_message_integrity(key).is_ok()
            && b.add_fingerprint().is_ok();
        if !built {
            return;
        }
        let n = b.finish();
        let request = buf[..n].to_vec();
        self.stats.checks_sent += 1;
        self.transmits.push_small(AgentTransmit {
            source: local,
            destination: remote,
            transport,
            contents: request.clone(),
        });
        self.checks.push_small(Check {
            id,
            pair: pid,
            local,
            remote,
            request,
            timer: self.check_backoff().start(now),
            use_candidate,
            consent,
            component,
            old,
            first_sent: now,
            cancelled: false,
            transport,
        });
        if self.state == ConnectionState::New {
            self.set_state(ConnectionState::Checking);
        }
    }

    /// Check retransmissions, and the checks that got no answer.
    pub(super) fn retransmit_checks(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.checks.len() {
            let c = &mut self.checks[i];
            let step = c.timer.on_timeout(now);
            if c.cancelled {
                // Silent: the transaction's time runs out without retransmissions.
                if step == Step::Expired {
                    self.checks.swap_remove(i);
                } else {
                    i += 1;
                }
                continue;
            }
            if step == Step::Wait {
                i += 1;
                continue;
            }
            if step == Step::Expired {
                let c = self.checks.swap_remove(i);
                if c.consent {
                    // Unanswered consent checks only count through the consent timers; a
                    // cancelled check's pair is being checked again.
                    continue;
                }
                if self.nominating.get(&c.component) == Some(&c.pair) && c.use_candidate {
                    // The pair was valid; only the nomination got no answer: nominate again
                    // at the next pacing slot.
                    self.nominating.remove(&c.component);
                    self.schedule(now);
                    continue;
                }
                self.checklist.on_failure(c.pair);
                self.check_failed_all();
                self.schedule(now);
                continue;
            }
            self.stats.checks_sent += 1;
            self.transmits.push_small(AgentTransmit {
                source: c.local,
                destination: c.remote,
                transport: c.transport,
                contents: c.request.clone(),
            });
            i += 1;
        }
    }

    /// Paced new checks and nominations (one per Ta).
    pub(super) fn pace(&mut self, now: Instant) {
        if self.remote.is_none() || self.state == ConnectionState::Failed || self.config.lite {
            return;
        }
        let due = self.next_pace.is_none_or(|t| now >= t);
        if due {
            if let Some(pid) = self.nomination_candidate(now) {
                self.nominating.insert(self.component_of(pid), pid);
                self.start_check(now, pid, true, false);
                self.next_pace = Some(now + self.config.ta);
            } else if let Some(pid) = self.checklist.next_check() {
                self.start_check(now, pid, false, false);
                self.next_pace = Some(now + self.config.ta);
            } else {
                self.next_pace = None;
            }
        }
    }

    pub(super) fn has_work(&self) -> bool {
        self.nomination_pending()
            || self
                .checklist
                .pairs()
                .iter()
                .any(|p| matches!(p.state, PairState::Waiting | PairState::Frozen))
    }

    /// The retransmission timer of checks and gathering requests.
    pub(super) fn check_backoff(&self) -> Backoff {
        Backoff::ice(self.config.check_rto, self.config.check_max_requests)
    }
}

/// Whether a check request we sent carried ICE-CONTROLLING.
pub(super) fn check_controlling(request: &[u8]) -> bool {
    StunMessage::parse(request).is_ok_and(|m| m.get_raw(attr::ICE_CONTROLLING).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::test_support::*;

    #[test]
    fn a_check_is_signed_retransmitted_and_fails_unanswered() {
        let t0 = Instant::now();
        let mut a = checking(true, t0);
        let sent = drain(&mut a);
        assert_eq!(sent.len(), 1);
        let (src, dst, request) = &sent[0];
        assert_eq!((*src, *dst), (sa(LOCAL), sa(REMOTE)));
        let m = StunMessage::parse(request).unwrap();
        assert_eq!(m.username(), Some("rfrg:lfrg"));
        m.verify_message_integrity(&IntegrityKey::short_term(REMOTE_PWD))
            .unwrap();
        assert!(check_controlling(request));
        a.end_of_remote_candidates();
        let mut sends = vec![];
        while let Some(t) = a.poll_timeout() {
            a.handle_timeout(t);
            for (_, _, bytes) in drain(&mut a) {
                assert_eq!(&bytes, request);
                sends.push((t - t0).as_millis());
            }
            if a.state() == ConnectionState::Failed {
                assert_eq!((t - t0).as_millis(), 15_750 + 16_000);
                break;
            }
        }
        assert_eq!(sends, [250, 750, 1750, 3750, 7750, 15750]);
        assert_eq!(a.stats().checks_sent, 7);
    }

    #[test]
    fn new_checks_are_paced_one_per_ta() {
        let t0 = Instant::now();
        let mut a = agent(config(true));
        for i in 0..3 {
            // Foundations of their own: none waits frozen for another.
            let mut c = remote(&format!("10.0.0.{}:6000", 2 + i));
            c.foundation = format!("r{i}");
            a.add_remote_candidate(c).unwrap();
        }
        a.start(t0);
        a.handle_timeout(t0);
        assert_eq!(drain(&mut a).len(), 1);
        a.handle_timeout(t0 + Duration::from_millis(49));
        assert!(drain(&mut a).is_empty());
        a.handle_timeout(t0 + Duration::from_millis(50));
        assert_eq!(drain(&mut a).len(), 1);
        assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_millis(100)));
    }
}
