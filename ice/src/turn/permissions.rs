//! Permissions and channel bindings: CreatePermission, ChannelBind, and their refreshes.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::rng::Rng;

/// Permission lifetime (RFC 8656 9).
pub(super) const PERMISSION_LIFETIME: Duration = Duration::from_secs(300);

/// Channel binding lifetime (RFC 8656 12).
pub(super) const CHANNEL_LIFETIME: Duration = Duration::from_secs(600);

impl<R: Rng> TurnClient<R> {
    /// Installs (or refreshes) a permission for a peer IP address.
    pub fn create_permission(&mut self, now: Instant, peer: IpAddr) -> Result<(), TurnError> {
        self.require_allocated()?;
        if !self.permissions.iter().any(|(ip, _)| *ip == peer)
            && self.permissions.len() >= self.config.max_permissions
        {
            return Err(TurnError::Limit);
        }
        self.send(now, Request::Permission(peer), true)
    }

    /// Binds a channel to a peer (or refreshes the binding) and returns its number. The binding
    /// also installs a permission for the peer's IP.
    pub fn bind_channel(&mut self, now: Instant, peer: SocketAddr) -> Result<u16, TurnError> {
        self.require_allocated()?;
        let channel = match self.channels.iter().find(|(_, p, _)| *p == peer) {
            Some((c, _, _)) => *c,
            None => {
                if self.channels.len() >= self.config.max_channels {
                    return Err(TurnError::Limit);
                }
                (CHANNEL_MIN..=CHANNEL_MAX)
                    .find(|c| !self.channels.iter().any(|(used, _, _)| used == c))
                    .ok_or(TurnError::Limit)?
            }
        };
        self.send(now, Request::Channel(peer, channel), true)?;
        Ok(channel)
    }

    /// A permission was installed or refreshed.
    pub(super) fn on_permission(&mut self, now: Instant, ip: IpAddr) {
        let expires = now + PERMISSION_LIFETIME;
        match self.permissions.iter_mut().find(|(p, _)| *p == ip) {
            Some(entry) => entry.1 = expires,
            None => self.permissions.push((ip, expires)),
        }
        self.events.push_back(TurnEvent::PermissionCreated(ip));
    }

    /// A channel was bound or refreshed.
    pub(super) fn on_channel_bound(&mut self, now: Instant, peer: SocketAddr, channel: u16) {
        let expires = now + CHANNEL_LIFETIME;
        match self.channels.iter_mut().find(|(c, _, _)| *c == channel) {
            Some(entry) => entry.2 = expires,
            None => self.channels.push((channel, peer, expires)),
        }
        // A channel binding also installs or refreshes the permission (RFC 8656 12.2).
        let perm = now + PERMISSION_LIFETIME;
        match self.permissions.iter_mut().find(|(p, _)| *p == peer.ip()) {
            Some(entry) => entry.1 = entry.1.max(perm),
            None => self.permissions.push((peer.ip(), perm)),
        }
        self.events
            .push_back(TurnEvent::ChannelBound { peer, channel });
    }

    /// Forgets expired permissions and channels, refreshes those nearing expiry.
    pub(super) fn refresh_bindings(&mut self, now: Instant) {
        let margin = self.config.refresh_margin;
        // Permissions and channels that the application keeps are refreshed before expiry;
        // expired ones are forgotten.
        self.permissions.retain(|(_, e)| *e > now);
        self.channels.retain(|(_, _, e)| *e > now);
        let due_perms: Vec<IpAddr> = self
            .permissions
            .iter()
            .filter(|(_, e)| now + margin >= *e)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in due_perms {
            // A channel to that IP is refreshed instead: ChannelBind refreshes the permission
            // too (RFC 8656 12.2), so channels are refreshed at the permissions' pace.
            let request = match self.channels.iter().find(|(_, p, _)| p.ip() == ip) {
                Some((c, p, _)) => Request::Channel(*p, *c),
                None => Request::Permission(ip),
            };
            if !self.refreshing(|r| *r == request) {
                let _ = self.send(now, request, true);
            }
        }
        let due_channels: Vec<(u16, SocketAddr)> = self
            .channels
            .iter()
            .filter(|(_, _, e)| now + margin >= *e)
            .map(|(c, p, _)| (*c, *p))
            .collect();
        for (c, p) in due_channels {
            if !self.refreshing(|r| *r == Request::Channel(p, c)) {
                let _ = self.send(now, Request::Channel(p, c), true);
            }
        }
    }

    /// When permissions and channels expire, those whose refresh is in flight excepted.
    pub(super) fn binding_expiries(&self) -> impl Iterator<Item = Instant> + '_ {
        let permissions = self
            .permissions
            .iter()
            .filter(|(ip, _)| {
                !self.refreshing(|r| match r {
                    Request::Permission(p) => p == ip,
                    Request::Channel(p, _) => p.ip() == *ip,
                    _ => false,
                })
            })
            .map(|(_, e)| *e);
        let channels = self
            .channels
            .iter()
            .filter(|(c, p, _)| !self.refreshing(|r| *r == Request::Channel(*p, *c)))
            .map(|(_, _, e)| *e);
        permissions.chain(channels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;
    use crate::turn::test_support::server;

    #[test]
    fn limits_and_preconditions() {
        let mut config = TurnConfig::new(server(), "u", "p");
        config.max_channels = 1;
        let mut c = TurnClient::new(config, SeededRng::new(3));
        let now = Instant::now();
        let peer: SocketAddr = "198.51.100.1:9".parse().unwrap();
        assert_eq!(
            c.create_permission(now, peer.ip()),
            Err(TurnError::NotAllocated)
        );
        assert_eq!(c.send_to(now, peer, b"x"), Err(TurnError::NotAllocated));
        c.allocate(now).unwrap();
        assert_eq!(c.allocate(now), Err(TurnError::AlreadyAllocating));
    }
}
