//! The server's configuration and the peer address policy (which addresses may never be relayed
//! to).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// TURN server configuration. Made with [`TurnServerConfig::new`] and changed field by field.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TurnServerConfig {
    /// The REALM of the long-term credentials.
    pub realm: String,
    /// Static long-term users `(name, password)`.
    pub users: Vec<(String, String)>,
    /// The TURN REST API shared secret: usernames `expiry:user` with password
    /// base64(HMAC-SHA1(secret, username)), refused once `expiry` (Unix seconds) passed.
    pub auth_secret: Option<String>,
    /// The IPv4 address relayed sockets bind to (`None`: no IPv4 relaying).
    pub relay_ipv4: Option<Ipv4Addr>,
    /// The IPv6 address relayed sockets bind to (`None`: no IPv6 relaying).
    pub relay_ipv6: Option<Ipv6Addr>,
    /// Lowest relayed port.
    pub min_port: u16,
    /// Highest relayed port.
    pub max_port: u16,
    /// Most allocations alive at once (508 beyond).
    pub max_allocations: usize,
    /// Most allocations of one user (486 beyond; REST users counted by the name after the
    /// expiry).
    pub max_allocations_per_user: usize,
    /// Most permissions per allocation (508 beyond).
    pub max_permissions: usize,
    /// Most channels per allocation (508 beyond).
    pub max_channels: usize,
    /// Default (and minimum) allocation lifetime in seconds.
    pub default_lifetime: u32,
    /// Longest allocation lifetime in seconds.
    pub max_lifetime: u32,
    /// How long a nonce is valid (438 Stale Nonce after).
    pub nonce_lifetime: Duration,
    /// Bytes per second one allocation may relay, both directions together (0: unlimited).
    pub max_bytes_per_second: u64,
    /// Whether peers on loopback addresses may be relayed to (for tests only).
    pub allow_loopback_peers: bool,
    /// Whether peers on private (RFC 1918, ULA) addresses may be relayed to.
    pub allow_private_peers: bool,
    /// More addresses never relayed to: the server's own listening addresses. The relay
    /// addresses are always denied (unless loopback peers are allowed and they are loopback).
    pub denied_peers: Vec<IpAddr>,
    /// SOFTWARE attribute in answers, if any.
    pub software: Option<String>,
}

impl TurnServerConfig {
    /// A configuration with safe defaults: relaying on `relay_ipv4`, ports 49152-65535, 1000
    /// allocations (10 per user), 64 permissions and 64 channels per allocation, lifetimes 600 s
    /// (at most 3600 s), nonces valid 10 minutes, 4 MB/s per allocation, loopback and private
    /// peers denied.
    pub fn new(realm: &str, relay_ipv4: Ipv4Addr) -> Self {
        TurnServerConfig {
            realm: realm.into(),
            users: Vec::new(),
            auth_secret: None,
            relay_ipv4: Some(relay_ipv4),
            relay_ipv6: None,
            min_port: 49152,
            max_port: 65535,
            max_allocations: 1000,
            max_allocations_per_user: 10,
            max_permissions: 64,
            max_channels: 64,
            default_lifetime: 600,
            max_lifetime: 3600,
            nonce_lifetime: Duration::from_secs(600),
            // 32 Mbit/s both ways with a second of burst: a 4K screen share or a data channel
            // burst fits (1 MB/s dropped Chromium's 256 KiB messages), a hog is still capped.
            max_bytes_per_second: 4_000_000,
            allow_loopback_peers: false,
            allow_private_peers: false,
            denied_peers: Vec::new(),
            software: None,
        }
    }

    /// Whether data may be relayed to (and from) a peer at `ip`.
    pub fn peer_allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            },
            v4 => v4,
        };
        if ip.is_loopback() {
            return self.allow_loopback_peers;
        }
        let own = self.denied_peers.contains(&ip)
            || self.relay_ipv4.map(IpAddr::V4) == Some(ip)
            || self.relay_ipv6.map(IpAddr::V6) == Some(ip);
        if own || ip.is_unspecified() || ip.is_multicast() {
            return false;
        }
        match ip {
            IpAddr::V4(v4) => {
                if v4.is_link_local() || v4.is_broadcast() || v4.octets()[0] == 0 {
                    return false;
                }
                !v4.is_private() || self.allow_private_peers
            }
            IpAddr::V6(v6) => {
                let s = v6.segments()[0];
                if s & 0xffc0 == 0xfe80 || is_v4_compatible(&v6) {
                    return false;
                }
                s & 0xfe00 != 0xfc00 || self.allow_private_peers
            }
        }
    }
}

/// `::a.b.c.d` (deprecated IPv4-compatible addresses) and `::` prefixes a relay must not use.
fn is_v4_compatible(v6: &Ipv6Addr) -> bool {
    v6.segments()[..6].iter().all(|s| *s == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_policy() {
        let mut c = TurnServerConfig::new("r", Ipv4Addr::new(198, 51, 100, 1));
        let ok = |c: &TurnServerConfig, s: &str| c.peer_allowed(s.parse().unwrap());
        for denied in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "224.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "198.51.100.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!ok(&c, denied), "{denied} must be denied");
        }
        for allowed in ["203.0.113.5", "2001:db8::1", "::ffff:203.0.113.5"] {
            assert!(ok(&c, allowed), "{allowed} must be allowed");
        }
        c.allow_loopback_peers = true;
        c.allow_private_peers = true;
        c.denied_peers.push("203.0.113.9".parse().unwrap());
        assert!(ok(&c, "127.0.0.1") && ok(&c, "::1") && ok(&c, "10.0.0.1"));
        assert!(!ok(&c, "203.0.113.9"));
    }
}
