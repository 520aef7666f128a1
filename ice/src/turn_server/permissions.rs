//! Permissions (RFC 8656 9: per peer IP, 300 s) and channel bindings (RFC 8656 12: per peer
//! transport address, 600 s), bounded per allocation.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Permission lifetime.
pub const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);
/// Channel binding lifetime.
pub const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);

/// A table is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Full;

/// An allocation's permissions.
#[derive(Debug, Clone)]
pub(super) struct Permissions {
    entries: Vec<(IpAddr, Instant)>,
    max: usize,
}

impl Permissions {
    pub(super) fn new(max: usize) -> Self {
        Permissions {
            entries: Vec::new(),
            max,
        }
    }

    /// How many more distinct addresses would fit after installing `ips`.
    pub(super) fn fits(&self, ips: &[IpAddr]) -> bool {
        let new = ips
            .iter()
            .enumerate()
            .filter(|(i, ip)| {
                !self.entries.iter().any(|(p, _)| p == *ip) && !ips[..*i].contains(ip)
            })
            .count();
        self.entries.len() + new <= self.max
    }

    /// Installs or refreshes a permission.
    pub(super) fn install(&mut self, now: Instant, ip: IpAddr) -> Result<(), Full> {
        let expires = now + PERMISSION_LIFETIME;
        if let Some(e) = self.entries.iter_mut().find(|(p, _)| *p == ip) {
            e.1 = expires;
            return Ok(());
        }
        if self.entries.len() >= self.max {
            return Err(Full);
        }
        self.entries.push((ip, expires));
        Ok(())
    }

    /// Whether a live permission covers `ip`.
    pub(super) fn allows(&self, now: Instant, ip: IpAddr) -> bool {
        self.entries.iter().any(|(p, e)| *p == ip && *e > now)
    }

    /// Drops expired permissions.
    pub(super) fn expire(&mut self, now: Instant) {
        self.entries.retain(|(_, e)| *e > now);
    }
}

/// Why a channel could not be bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BindError {
    /// The number is bound to another peer, or the peer to another number (400).
    Conflict,
    /// The table is full (508).
    Full,
}

/// An allocation's channel bindings.
#[derive(Debug, Clone)]
pub(super) struct Channels {
    entries: Vec<(u16, SocketAddr, Instant)>,
    max: usize,
}

impl Channels {
    pub(super) fn new(max: usize) -> Self {
        Channels {
            entries: Vec::new(),
            max,
        }
    }

    /// Checks a binding could be made or refreshed, without making it.
    pub(super) fn check(&self, number: u16, peer: SocketAddr) -> Result<(), BindError> {
        match self
            .entries
            .iter()
            .find(|(n, p, _)| *n == number || *p == peer)
        {
            Some((n, p, _)) if *n == number && *p == peer => Ok(()),
            Some(_) => Err(BindError::Conflict),
            None if self.entries.len() >= self.max => Err(BindError::Full),
            None => Ok(()),
        }
    }

    /// Binds or refreshes.
    pub(super) fn bind(
        &mut self,
        now: Instant,
        number: u16,
        peer: SocketAddr,
    ) -> Result<(), BindError> {
        self.check(number, peer)?;
        let expires = now + CHANNEL_LIFETIME;
        match self.entries.iter_mut().find(|(n, _, _)| *n == number) {
            Some(e) => e.2 = expires,
            None => self.entries.push((number, peer, expires)),
        }
        Ok(())
    }

    /// The peer a live channel is bound to.
    pub(super) fn peer(&self, now: Instant, number: u16) -> Option<SocketAddr> {
        self.entries
            .iter()
            .find(|(n, _, e)| *n == number && *e > now)
            .map(|(_, p, _)| *p)
    }

    /// The live channel bound to a peer.
    pub(super) fn number(&self, now: Instant, peer: SocketAddr) -> Option<u16> {
        self.entries
            .iter()
            .find(|(_, p, e)| *p == peer && *e > now)
            .map(|(n, _, _)| *n)
    }

    /// Drops expired bindings.
    pub(super) fn expire(&mut self, now: Instant) {
        self.entries.retain(|(_, _, e)| *e > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_expire_and_are_bounded() {
        let now = Instant::now();
        let mut p = Permissions::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        p.install(now, a).unwrap();
        assert!(p.fits(&[a, b, b]));
        assert!(!p.fits(&[b, c]));
        p.install(now, b).unwrap();
        assert_eq!(p.install(now, c), Err(Full));
        assert!(p.allows(now, a) && !p.allows(now, c));
        assert!(!p.allows(now + PERMISSION_LIFETIME, a));
        p.expire(now + PERMISSION_LIFETIME);
        p.install(now, c).unwrap();
    }

    #[test]
    fn channels_conflicts_and_expiry() {
        let now = Instant::now();
        let mut ch = Channels::new(1);
        let a: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let b: SocketAddr = "192.0.2.1:2".parse().unwrap();
        ch.bind(now, 0x4000, a).unwrap();
        ch.bind(now, 0x4000, a).unwrap();
        assert_eq!(ch.bind(now, 0x4000, b), Err(BindError::Conflict));
        assert_eq!(ch.bind(now, 0x4001, a), Err(BindError::Conflict));
        assert_eq!(ch.bind(now, 0x4001, b), Err(BindError::Full));
        assert_eq!(ch.peer(now, 0x4000), Some(a));
        assert_eq!(ch.number(now, a), Some(0x4000));
        assert_eq!(ch.peer(now + CHANNEL_LIFETIME, 0x4000), None);
        ch.expire(now + CHANNEL_LIFETIME);
        ch.bind(now, 0x4001, b).unwrap();
    }
}
