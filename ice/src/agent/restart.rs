//! ICE restart (RFC 8445 9): new credentials, the old session's pairs kept usable (and their
//! consent checks answered) until the restart selects new ones.

use sansrtc_core::VecMap;
use std::net::SocketAddr;
use std::time::Instant;

use super::*;
use crate::candidate::CandidateKind;
use crate::checklist::{Checklist, PairId};
use crate::rng::Rng;
use crate::small::PushSmall;
use crate::stun::attribute::Attribute;
use crate::stun::{IntegrityKey, MessageBuilder, MessageType, StunMessage};

/// The session before an ICE restart: its credentials and the consent of its selected pairs
/// (in `Agent::previous`), kept until the restart selects new pairs.
#[derive(Debug, Clone)]
pub(super) struct OldSession {
    pub(super) local_ufrag: String,
    pub(super) local_key: IntegrityKey,
    pub(super) remote_ufrag: String,
    pub(super) remote_key: IntegrityKey,
    pub(super) consent: VecMap<u16, Consent>,
}

/// `Check::pair` of consent checks on a pair of the old session (not in the check list).
pub(super) const OLD_PAIR: PairId = PairId(u32::MAX);

impl<R: Rng> Agent<R> {
    /// Restarts ICE (RFC 8445 9) with new local credentials: remote candidates, pairs and checks
    /// are dropped, local candidates kept (learned peer-reflexive ones excepted). The previously
    /// selected pair stays usable ([`Agent::selected_pair`]) until the restart selects a new one;
    /// consent keeps running on it with the old credentials meanwhile (losing it drops the old
    /// pair and the state goes to `Checking`). Signal the new credentials and candidates, then call
    /// [`Agent::set_remote_credentials`] with the peer's new ones and add its candidates.
    pub fn restart(&mut self, now: Instant, local_ufrag: &str, local_password: &str) {
        if self.state == ConnectionState::Closed {
            return;
        }
        if self.state != ConnectionState::Failed {
            self.previous = (1..=self.config.components.max(1))
                .filter_map(|c| {
                    let (local, remote) = self.selected_pair_of(c)?;
                    Some((c, (self.selected_transport_of(c)?, local, remote)))
                })
                .collect();
        }
        // Consent keeps running on the old pairs with the old credentials (RFC 7675 applies to
        // whatever pair is in use), until the restart selects new pairs.
        self.old = match (
            self.previous.is_empty(),
            self.remote.take(),
            self.old.take(),
        ) {
            (false, Some((remote_ufrag, remote_key)), _) if !self.consent.is_empty() => {
                Some(Box::new(OldSession {
                    local_ufrag: self.config.local_ufrag.clone(),
                    local_key: self.local_key.clone(),
                    remote_ufrag,
                    remote_key,
                    consent: std::mem::take(&mut self.consent),
                }))
            }
            // Restarted again before the first restart selected anything: keep the oldest.
            (false, _, old) => old,
            _ => None,
        };
        self.completed = false;
        self.config.local_ufrag = local_ufrag.to_owned();
        self.config.local_password = local_password.to_owned();
        self.local_key = IntegrityKey::short_term(local_password);
        self.remote_end = false;
        self.selected.clear();
        self.nominating.clear();
        self.first_valid = None;
        self.consent.clear();
        self.checks.clear();
        self.checklist = Checklist::new(self.config.checklist.clone(), self.controlling);
        // Peer-reflexive candidates belong to the old session.
        self.locals
            .retain(|c| c.kind != CandidateKind::PeerReflexive);
        for c in self.locals.clone() {
            let base = match (c.kind, c.related) {
                (CandidateKind::ServerReflexive, Some(base)) => Some(base),
                _ => c.socket_addr(),
            };
            if let Some(base) = base {
                self.checklist.add_local(c, base);
            }
        }
        if self.previous.is_empty() {
            self.state = ConnectionState::New;
            self.events
                .push_back(AgentEvent::StateChanged(ConnectionState::New));
        } else if self.state == ConnectionState::Completed {
            // Checks run again: no longer completed until the restart selects a pair.
            self.set_state(ConnectionState::Connected);
        }
        self.next_pace = Some(now);
    }

    /// During an ICE restart, answers the peer's consent checks on a pair of the old session
    /// with the old credentials (and changes nothing else). Returns whether it answered.
    pub(super) fn answer_old_session(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        m: &StunMessage<'_>,
    ) -> bool {
        let Some(old) = &self.old else {
            return false;
        };
        let on_old_pair = self
            .previous
            .values()
            .any(|p| *p == (self.rx_transport, destination, source));
        let username_ok = m.username().is_some_and(|u| {
            u.strip_prefix(old.local_ufrag.as_str())
                .is_some_and(|r| r.starts_with(':'))
        });
        if !on_old_pair
            || !username_ok
            || old.local_ufrag == self.config.local_ufrag
            || m.verify_message_integrity(&old.local_key).is_err()
        {
            return false;
        }
        let key = old.local_key.clone();
        self.mark_validated(destination, source);
        let mut buf = [0u8; MAX_MESSAGE];
        let Ok(mut b) =
            MessageBuilder::new(&mut buf, MessageType::BINDING_SUCCESS, m.transaction_id())
        else {
            return true;
        };
        let ok = b.add(&Attribute::XorMappedAddress(source)).is_ok()
            && b.add_message_integrity(&key).is_ok()
            && b.add_fingerprint().is_ok();
        if ok {
            let n = b.finish();
            self.stats.checks_answered += 1;
            self.transmits.push_small(AgentTransmit {
                transport: self.rx_transport,
                source: destination,
                destination: source,
                contents: buf[..n].to_vec(),
            });
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::agent::ConnectionState;
    use crate::agent::test_support::*;
    use crate::candidate::CandidateKind;

    #[test]
    fn restart_forgets_the_peer_and_learned_candidates() {
        let t0 = std::time::Instant::now();
        let mut a = checking(true, t0);
        let (_, _, request) = drain(&mut a).remove(0);
        // Mapped to an address that is none of ours: a local peer-reflexive candidate.
        let mapped = sa("203.0.113.9:9999");
        a.handle_receive(
            t0,
            sa(REMOTE),
            sa(LOCAL),
            &answer(&request, mapped, REMOTE_PWD),
        );
        assert!(
            a.local_candidates()
                .iter()
                .any(|c| c.kind == CandidateKind::PeerReflexive)
        );
        a.restart(t0, "new1", "new-password-0123456789");
        assert!(a.checklist().remote_candidates().is_empty());
        assert_eq!(a.local_candidates().len(), 1);
        assert_eq!(a.local_candidates()[0].kind, CandidateKind::Host);
        // Nothing was selected: the restart starts from New.
        assert_eq!(a.state(), ConnectionState::New);
    }
}
