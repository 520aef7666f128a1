//! The agent's configuration and credentials: [`AgentConfig`], the component ids, the
//! peer's credentials and ICE-lite.

use std::net::SocketAddr;
use std::time::Duration;

use super::*;
use crate::checklist::ChecklistConfig;
use crate::rng::Rng;
use crate::stun::IntegrityKey;

/// The first component (RTP, or RTP and RTCP multiplexed, or a data channel).
pub const COMPONENT: u16 = 1;

/// The RTCP component when rtcp-mux is not used.
pub const RTCP_COMPONENT: u16 = 2;

/// Agent configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AgentConfig {
    /// Start as the controlling agent (the offerer, in WebRTC).
    pub controlling: bool,
    /// Our username fragment.
    pub local_ufrag: String,
    /// Our password.
    pub local_password: String,
    /// Pacing between new checks (`Ta`, RFC 8445 14.2; default 50 ms).
    pub ta: Duration,
    /// Initial retransmission timeout of a check (default 250 ms).
    pub check_rto: Duration,
    /// Requests sent per check before it fails (default 7).
    pub check_max_requests: u32,
    /// Mean interval between consent checks on the selected pair (default 5 s).
    pub consent_interval: Duration,
    /// Time without consent after which the state is `Disconnected` (default 12 s).
    pub consent_disconnected: Duration,
    /// Time without consent after which consent is lost (RFC 7675: 30 s).
    pub consent_timeout: Duration,
    /// Limits of the check list.
    pub checklist: ChecklistConfig,
    /// Most local candidates.
    pub max_local_candidates: usize,
    /// How long the controlling agent waits for higher-priority pairs still being checked before
    /// nominating the best valid pair it has (default 500 ms).
    pub nomination_delay: Duration,
    /// STUN servers to learn server-reflexive candidates from ([`Agent::gather`]).
    pub stun_servers: Vec<SocketAddr>,
    /// Run as an ICE-lite agent (RFC 8445 2.5): always controlled, never sends checks, selects
    /// the pair the full peer nominates. For servers with a public address.
    pub lite: bool,
    /// Components of the stream (default 1; 2 for RTP and RTCP without rtcp-mux). Each has its
    /// own candidates, pairs, nomination, selected pair and consent; the connection state is
    /// aggregated over them.
    pub components: u16,
    /// Answer requests that fail authentication (a wrong or missing USERNAME or
    /// MESSAGE-INTEGRITY, or a method other than Binding) with a 400/401 error response, as
    /// RFC 8445 7.3 and RFC 8489 9.1.3 describe (default `true`). `false` drops them silently
    /// (still counted in [`AgentStats::auth_failures`]): nothing is reflected to a spoofed
    /// source, which suits a server exposed to the internet.
    pub answer_unauthenticated: bool,
}

impl AgentConfig {
    /// A configuration with the given role and credentials and default timers and limits.
    pub fn new(controlling: bool, local_ufrag: &str, local_password: &str) -> Self {
        AgentConfig {
            controlling,
            local_ufrag: local_ufrag.into(),
            local_password: local_password.into(),
            ta: Duration::from_millis(50),
            check_rto: Duration::from_millis(250),
            check_max_requests: 7,
            consent_interval: Duration::from_secs(5),
            consent_disconnected: Duration::from_secs(12),
            consent_timeout: Duration::from_secs(30),
            checklist: ChecklistConfig::default(),
            max_local_candidates: 16,
            lite: false,
            stun_servers: Vec::new(),
            nomination_delay: Duration::from_millis(500),
            components: 1,
            answer_unauthenticated: true,
        }
    }
}

impl<R: Rng> Agent<R> {
    /// Tells the agent the peer is ICE-lite (`a=ice-lite`): a full agent is then controlling
    /// (RFC 8445 6.1.1).
    pub fn set_remote_lite(&mut self, lite: bool) {
        if lite && !self.config.lite && !self.controlling {
            self.switch_role(true);
        }
    }

    /// Sets the peer's username fragment and password (from its SDP).
    pub fn set_remote_credentials(&mut self, ufrag: &str, password: &str) {
        self.remote = Some((ufrag.to_owned(), IntegrityKey::short_term(password)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = AgentConfig::new(true, "u", "p");
        assert_eq!(c.ta, Duration::from_millis(50));
        assert_eq!(
            (c.check_rto, c.check_max_requests),
            (Duration::from_millis(250), 7)
        );
        assert_eq!(
            (
                c.consent_interval,
                c.consent_disconnected,
                c.consent_timeout
            ),
            (
                Duration::from_secs(5),
                Duration::from_secs(12),
                Duration::from_secs(30)
            )
        );
        assert_eq!(c.max_local_candidates, 16);
        assert_eq!(c.checklist.max_remote_candidates, 64);
        assert_eq!(c.checklist.max_pairs, 100);
        assert_eq!(c.components, 1);
        assert!(c.answer_unauthenticated && !c.lite);
    }

    #[test]
    fn a_lite_peer_makes_a_full_agent_controlling() {
        use crate::agent::test_support::*;
        let mut a = agent(config(false));
        a.set_remote_lite(true);
        assert!(a.is_controlling());
        let mut lite = agent({
            let mut c = config(false);
            c.lite = true;
            c
        });
        lite.set_remote_lite(true);
        assert!(!lite.is_controlling());
    }
}
