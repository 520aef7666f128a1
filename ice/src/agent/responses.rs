//! Answers to our checks: authentication, symmetric addresses, role conflicts, valid pairs,
//! consent refreshes and the controlling agent's nominations.

use std::net::SocketAddr;
use std::time::Instant;

use super::checks::check_controlling;
use super::*;
use crate::rng::Rng;
use crate::stun::{MessageClass, StunMessage};

impl<R: Rng> Agent<R> {
    pub(super) fn handle_response(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        m: &StunMessage<'_>,
    ) {
        self.handle_response_inner(now, source, destination, m);
        self.check_completed();
    }

    pub(super) fn handle_response_inner(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        m: &StunMessage<'_>,
    ) {
        if self.handle_gather_response(source, destination, m) {
            return;
        }
        let id = m.transaction_id();
        let Some(i) = self
            .checks
            .iter()
            .position(|c| c.id == id && c.transport == self.rx_transport)
        else {
            self.stats.ignored += 1;
            return;
        };
        let key = if self.checks[i].old {
            let Some(old) = &self.old else { return };
            &old.remote_key
        } else {
            let Some((_, key)) = &self.remote else { return };
            key
        };
        if m.verify_message_integrity(key).is_err() {
            // Not authentic: ignore it, the check keeps retransmitting (RFC 8445 7.2.5.1).
            self.stats.auth_failures += 1;
            return;
        }
        self.mark_validated(destination, source);
        let check = self.checks.swap_remove(i);
        if m.class() == MessageClass::SuccessResponse
            && !check.timer.retransmitted()
            && source == check.remote
            && destination == check.local
        {
            self.record_rtt(check.local, check.remote, now - check.first_sent);
        }
        if check.old {
            let symmetric = source == check.remote && destination == check.local;
            if m.class() == MessageClass::SuccessResponse && symmetric {
                if let Some(c) = self
                    .old
                    .as_mut()
                    .and_then(|o| o.consent.get_mut(&check.component))
                {
                    c.last = now;
                    self.stats.consent_refreshed += 1;
                    if self.state == ConnectionState::Disconnected {
                        self.set_state(ConnectionState::Connected);
                    }
                }
            }
            return;
        }
        if check.consent {
            let symmetric = source == check.remote && destination == check.local;
            if m.class() == MessageClass::SuccessResponse && symmetric {
                if let Some(c) = self.consent.get_mut(&check.component) {
                    c.last = now;
                    self.stats.consent_refreshed += 1;
                    let stale = self
                        .consent
                        .values()
                        .any(|c| now >= c.last + self.config.consent_disconnected);
                    if self.state == ConnectionState::Disconnected && !stale {
                        self.set_state(self.connected_state());
                    }
                }
            }
            return;
        }
        let symmetric = source == check.remote && destination == check.local;
        if check.cancelled && (m.class() == MessageClass::ErrorResponse || !symmetric) {
            // The pair's new check decides its fate.
            return;
        }
        if m.class() == MessageClass::ErrorResponse {
            if m.error_code().map(|e| e.0) == Some(487) {
                // Role conflict: switch and retry the pair (RFC 8445 7.2.5.1).
                self.stats.role_conflicts += 1;
                let new_role = !check_controlling(&check.request);
                self.switch_role(new_role);
                if self.nominating.get(&check.component) == Some(&check.pair) {
                    self.nominating.remove(&check.component);
                }
                self.checklist.retry(check.pair);
                self.schedule(now);
            } else {
                self.checklist.on_failure(check.pair);
                self.check_failed_all();
                self.schedule(now);
            }
            return;
        }
        // Symmetric addresses (RFC 8445 7.2.5.2.1).
        if !symmetric {
            self.checklist.on_failure(check.pair);
            self.check_failed_all();
            self.schedule(now);
            return;
        }
        self.checklist.on_success(check.pair);
        if let Some(mapped) = m.xor_mapped_address() {
            self.learn_mapped(check.pair, check.local, mapped);
        }
        let nominated_by_peer =
            self.checklist.pair(check.pair).is_some_and(|p| p.nominated) && !self.controlling;
        if check.use_candidate || nominated_by_peer {
            self.checklist.nominate(check.pair);
            self.select(now, check.pair);
        } else if self.controlling {
            // Regular nomination: once no higher-priority pair is still being checked (or
            // `nomination_delay` after the first valid pair), repeat the check on the best valid
            // pair with USE-CANDIDATE.
            self.first_valid.get_or_insert(now);
            if let Some(pid) = self.nomination_candidate(now) {
                self.nominating.insert(self.component_of(pid), pid);
                self.start_check(now, pid, true, false);
            }
        }
        self.schedule(now);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::agent::ConnectionState;
    use crate::agent::test_support::*;

    #[test]
    fn a_forged_answer_is_ignored_and_an_authentic_one_validates() {
        let now = Instant::now();
        let mut a = checking(false, now);
        let (_, _, request) = drain(&mut a).remove(0);
        let forged = answer(&request, sa(LOCAL), "not-the-remote-password");
        a.handle_receive(now, sa(REMOTE), sa(LOCAL), &forged);
        assert_eq!(a.stats().auth_failures, 1);
        assert!(!a.is_validated(sa(LOCAL), sa(REMOTE)));
        a.handle_receive(
            now,
            sa(REMOTE),
            sa(LOCAL),
            &answer(&request, sa(LOCAL), REMOTE_PWD),
        );
        assert!(a.is_validated(sa(LOCAL), sa(REMOTE)));
        assert_eq!(a.state(), ConnectionState::Checking);
        assert_eq!(
            a.round_trip_time(sa(LOCAL), sa(REMOTE)),
            Some(std::time::Duration::ZERO)
        );
    }
}
