//! Nomination and selection: regular nomination by the controlling agent, selecting a
//! nominated pair, and the `Connected`, `Completed` and `Failed` decisions.

use std::time::Instant;

use super::*;
use crate::checklist::{PairId, PairState};
use crate::rng::Rng;
use crate::small::PushSmall;

impl<R: Rng> Agent<R> {
    /// Moves to `Completed` once a pair is selected, the peer has signalled end-of-candidates,
    /// and no pair or (non-consent) check is pending (RFC 8445 8.1.2, 6.1.2.1).
    pub(super) fn check_completed(&mut self) {
        if self.completed
            || self.state != ConnectionState::Connected
            || !self.all_selected()
            || !self.remote_end
            || self.checks.iter().any(|c| !c.consent && !c.cancelled)
            || !self.checklist.checks_done()
        {
            return;
        }
        self.completed = true;
        self.set_state(ConnectionState::Completed);
    }

    /// The state for a selected pair with fresh consent.
    pub(super) fn connected_state(&self) -> ConnectionState {
        if self.completed {
            ConnectionState::Completed
        } else {
            ConnectionState::Connected
        }
    }

    pub(super) fn select(&mut self, now: Instant, pid: PairId) {
        let Some(p) = self.checklist.pair(pid) else {
            return;
        };
        let (local, remote, component, transport) = (p.local, p.remote, p.component, p.transport);
        if self.selected.get(&component) == Some(&pid) {
            return;
        }
        self.selected.insert(component, pid);
        self.previous.remove(&component);
        if let Some(old) = &mut self.old {
            old.consent.remove(&component);
            if old.consent.is_empty() || self.previous.is_empty() {
                self.old = None;
                self.checks.retain(|c| !c.old);
            }
        }
        if !self.config.lite {
            let next = now + self.consent_jitter();
            self.consent.insert(component, Consent { last: now, next });
        }
        self.events.push_small(AgentEvent::SelectedPair {
            component,
            local,
            remote,
            transport,
        });
        self.completed = false;
        if self.all_selected() {
            self.set_state(ConnectionState::Connected);
        }
        // The pair is nominated: drop frozen and waiting pairs, and stop checks on pairs of
        // lower priority (RFC 8445 8.1.2).
        let prio = self.checklist.pair(pid).map_or(0, |p| p.priority);
        self.checklist.stop_after_nomination(component);
        let mut i = 0;
        while i < self.checks.len() {
            let c = &self.checks[i];
            let lower = self
                .checklist
                .pair(c.pair)
                .is_none_or(|p| p.component == component && p.priority < prio);
            if !c.consent && c.pair != pid && lower {
                let c = self.checks.swap_remove(i);
                if self
                    .checklist
                    .pair(c.pair)
                    .is_some_and(|p| p.state == PairState::InProgress)
                {
                    self.checklist.on_failure(c.pair);
                }
            } else {
                i += 1;
            }
        }
        self.check_completed();
    }

    pub(super) fn check_failed_all(&mut self) {
        if !self.remote_end || self.checks.iter().any(|c| !c.consent) {
            return;
        }
        // A component without a selected pair whose pairs all failed fails the connection.
        let failed = (1..=self.config.components.max(1)).any(|c| {
            !self.selected.contains_key(&c) && {
                let mut pairs = self
                    .checklist
                    .pairs()
                    .iter()
                    .filter(|p| p.component == c)
                    .peekable();
                pairs.peek().is_some() && pairs.all(|p| p.state == PairState::Failed)
            }
        });
        if failed {
            self.set_state(ConnectionState::Failed);
        }
    }

    /// The highest-priority valid pair, with its priority.
    pub(super) fn best_valid(&self, component: u16) -> Option<(PairId, u64)> {
        self.checklist
            .pairs()
            .iter()
            .find(|p| p.component == component && p.state == PairState::Succeeded)
            .map(|p| (p.id, p.priority))
    }

    /// The components whose nomination is due or waited for: controlling, a valid pair,
    /// nothing selected or being nominated.
    pub(super) fn nomination_pending_components(&self) -> impl Iterator<Item = u16> + '_ {
        (1..=self.config.components.max(1)).filter(|c| {
            self.controlling
                && !self.selected.contains_key(c)
                && !self.nominating.contains_key(c)
                && self.best_valid(*c).is_some()
        })
    }

    pub(super) fn nomination_pending(&self) -> bool {
        self.nomination_pending_components().next().is_some()
    }

    /// When the nomination stops waiting for higher-priority pairs.
    pub(super) fn nomination_deadline(&self) -> Option<Instant> {
        if !self.nomination_pending() {
            return None;
        }
        self.first_valid.map(|t| t + self.config.nomination_delay)
    }

    /// The valid pair to nominate now, if any.
    pub(super) fn nomination_candidate(&self, now: Instant) -> Option<PairId> {
        let waited = self.nomination_deadline().is_some_and(|d| now >= d);
        self.nomination_pending_components().find_map(|c| {
            let (id, prio) = self.best_valid(c)?;
            let higher_pending = self.checklist.pairs().iter().any(|p| {
                p.component == c
                    && p.priority > prio
                    && matches!(
                        p.state,
                        PairState::Frozen | PairState::Waiting | PairState::InProgress
                    )
            });
            (!higher_pending || waited).then_some(id)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::agent::test_support::*;
    use crate::agent::{AgentEvent, ConnectionState};
    use crate::stun::StunMessage;
    use crate::stun::attribute as attr;

    #[test]
    fn the_controlling_agent_nominates_a_valid_pair_and_selects_it() {
        let t0 = Instant::now();
        let mut a = checking(true, t0);
        let (_, _, request) = drain(&mut a).remove(0);
        a.handle_receive(
            t0,
            sa(REMOTE),
            sa(LOCAL),
            &answer(&request, sa(LOCAL), REMOTE_PWD),
        );
        // Nothing of higher priority is pending: the nomination goes out at once.
        let (_, _, nomination) = drain(&mut a).remove(0);
        let m = StunMessage::parse(&nomination).unwrap();
        assert!(m.get_raw(attr::USE_CANDIDATE).is_some());
        let later = t0 + Duration::from_millis(20);
        a.handle_receive(
            later,
            sa(REMOTE),
            sa(LOCAL),
            &answer(&nomination, sa(LOCAL), REMOTE_PWD),
        );
        assert_eq!(a.selected_pair(), Some((sa(LOCAL), sa(REMOTE))));
        let events: Vec<_> = std::iter::from_fn(|| a.poll_event()).collect();
        assert!(events.contains(&AgentEvent::SelectedPair {
            component: 1,
            local: sa(LOCAL),
            remote: sa(REMOTE),
            transport: crate::candidate::CandidateTransport::Udp,
        }));
        assert_eq!(a.state(), ConnectionState::Connected);
        a.end_of_remote_candidates();
        assert_eq!(a.state(), ConnectionState::Completed);
    }
}
