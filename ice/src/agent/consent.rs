//! Consent freshness (RFC 7675) on the selected pairs, and on the pairs of the session before
//! an ICE restart until the restart selects new ones.

use std::time::{Duration, Instant};

use super::restart::OLD_PAIR;
use super::*;
use crate::rng::Rng;

#[derive(Debug, Clone, Copy)]
pub(super) struct Consent {
    pub(super) last: Instant,
    pub(super) next: Instant,
}

impl<R: Rng> Agent<R> {
    pub(super) fn consent_jitter(&mut self) -> Duration {
        // 0.8 to 1.2 times the interval (RFC 7675 5.1).
        let permille = 800 + self.rng.next_u64() % 401;
        self.config.consent_interval * permille as u32 / 1000
    }

    pub(super) fn consent_timers(&mut self, now: Instant) {
        self.old_consent_timers(now);
        let consents: Vec<(u16, Consent)> = self.consent.iter().map(|(k, c)| (*k, *c)).collect();
        for (component, c) in consents {
            let Some(&pid) = self.selected.get(&component) else {
                continue;
            };
            if now >= c.last + self.config.consent_timeout {
                // Consent lost on a component: stop everything (RFC 7675 5.1), and the
                // selected paths carry nothing more until ICE validates them again.
                for pid in self.selected.values() {
                    if let Some(p) = self.checklist.pair(*pid) {
                        let path = (p.transport, p.local, p.remote);
                        self.validated.retain(|v| *v != path);
                    }
                }
                self.consent.clear();
                self.checks.retain(|c| !c.consent);
                self.set_state(ConnectionState::Failed);
                return;
            }
            if now >= c.last + self.config.consent_disconnected {
                self.set_state(ConnectionState::Disconnected);
            }
            if now >= c.next {
                let next = now + self.consent_jitter();
                if let Some(c) = self.consent.get_mut(&component) {
                    c.next = next;
                }
                self.start_check(now, pid, false, true);
            }
        }
    }

    /// The earliest consent timer: the next consent check, or when consent is lost or (while
    /// connected) the state goes `Disconnected`, on the selected pairs and the old session's.
    pub(super) fn consent_deadline(&self) -> Option<Instant> {
        let old_consent = self.old.iter().flat_map(|o| o.consent.values());
        self.consent
            .values()
            .chain(old_consent)
            .map(|c| {
                let lost = c.last + self.config.consent_timeout;
                let disconnected = c.last + self.config.consent_disconnected;
                let mut t = c.next.min(lost);
                if matches!(
                    self.state,
                    ConnectionState::Connected | ConnectionState::Completed
                ) {
                    t = t.min(disconnected);
                }
                t
            })
            .min()
    }

    /// Consent on the pairs selected before an ICE restart, with the old credentials.
    pub(super) fn old_consent_timers(&mut self, now: Instant) {
        let Some(old) = &self.old else {
            return;
        };
        let consents: Vec<(u16, Consent)> = old.consent.iter().map(|(k, c)| (*k, *c)).collect();
        for (component, c) in consents {
            let Some(&(transport, local, remote)) = self.previous.get(&component) else {
                continue;
            };
            if now >= c.last + self.config.consent_timeout {
                // Consent lost on the old pairs: stop using them; the restart's checks go on.
                for path in self.previous.values() {
                    self.validated.retain(|v| v != path);
                }
                self.old = None;
                self.previous.clear();
                self.checks.retain(|c| !c.old);
                if self.selected.is_empty() {
                    self.set_state(ConnectionState::Checking);
                }
                return;
            }
            if now >= c.last + self.config.consent_disconnected {
                self.set_state(ConnectionState::Disconnected);
            }
            if now >= c.next {
                let next = now + self.consent_jitter();
                let Some(old) = &mut self.old else { return };
                if let Some(c) = old.consent.get_mut(&component) {
                    c.next = next;
                }
                let username = format!("{}:{}", old.remote_ufrag, old.local_ufrag);
                let key = old.remote_key.clone();
                self.send_check(
                    now,
                    (OLD_PAIR, component, local, remote, transport),
                    &username,
                    &key,
                    false,
                    true,
                    true,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::agent::test_support::*;

    #[test]
    fn consent_checks_are_jittered_by_a_fifth() {
        let mut a = agent(config(true));
        let interval = a.config.consent_interval;
        let (low, high) = (interval * 4 / 5, interval * 6 / 5);
        let draws: Vec<_> = (0..200).map(|_| a.consent_jitter()).collect();
        assert!(draws.iter().all(|d| (low..=high).contains(d)));
        assert!(draws.iter().any(|d| *d != draws[0]));
    }
}
