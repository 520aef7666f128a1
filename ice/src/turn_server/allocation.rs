//! Allocations: the relayed addresses, the port pool they come from (with EVEN-PORT reservations),
//! and the per-allocation bandwidth limit.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::ClientTransport;
use super::permissions::{Channels, Permissions};
use crate::rng::Rng;
use crate::stun::{IntegrityKey, TransactionId};

/// How long a port reserved by EVEN-PORT's R bit is kept for a RESERVATION-TOKEN (RFC 8656 7.2:
/// about 30 seconds).
pub(super) const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);

/// One allocation.
#[derive(Debug, Clone)]
pub(super) struct Allocation {
    pub(super) client: SocketAddr,
    pub(super) transport: ClientTransport,
    pub(super) username: String,
    /// The user's integrity key, for answers about this allocation.
    pub(super) key: IntegrityKey,
    pub(super) relays: Vec<SocketAddr>,
    pub(super) expires: Instant,
    pub(super) lifetime: u32,
    /// The Allocate transaction and its answer, resent on a retransmitted request.
    pub(super) transaction: TransactionId,
    pub(super) response: Vec<u8>,
    /// Relayed sockets the caller has not yet reported opened.
    pub(super) opening: u8,
    pub(super) open_failed: bool,
    /// The Allocate request while the relayed sockets are being opened (handled again, drawing
    /// other ports, when one could not be bound), and which attempt this is (0 the first).
    pub(super) request: Vec<u8>,
    pub(super) attempt: u8,
    pub(super) permissions: Permissions,
    pub(super) channels: Channels,
    pub(super) bucket: TokenBucket,
}

impl Allocation {
    /// The relayed address with the family of `peer`, if any.
    pub(super) fn relay_for(&self, peer: SocketAddr) -> Option<SocketAddr> {
        self.relays
            .iter()
            .copied()
            .find(|r| r.is_ipv4() == peer.is_ipv4())
    }

    /// Whether the Allocate answer was sent (all relayed sockets open).
    pub(super) fn is_open(&self) -> bool {
        self.opening == 0 && !self.open_failed
    }
}

/// A token bucket over bytes: `rate` bytes per second, bursts up to one second's worth.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    rate: u64,
    tokens: u64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A bucket allowing `rate` bytes per second (0: unlimited), full.
    pub(super) fn new(rate: u64) -> Self {
        TokenBucket {
            rate,
            tokens: rate,
            last: None,
        }
    }

    /// Takes `n` bytes if the bucket holds them.
    pub(super) fn take(&mut self, now: Instant, n: usize) -> bool {
        if self.rate == 0 {
            return true;
        }
        let elapsed = self
            .last
            .map_or(Duration::ZERO, |l| now.saturating_duration_since(l));
        if self.last.is_none_or(|l| now > l) {
            self.last = Some(now);
        }
        let refill = (self.rate as u128 * elapsed.as_nanos() / 1_000_000_000) as u64;
        self.tokens = self.tokens.saturating_add(refill).min(self.rate);
        let n = n as u64;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// The relayed ports in use, and those reserved by EVEN-PORT.
#[derive(Debug, Clone)]
pub(super) struct PortPool {
    min: u16,
    max: u16,
    used: HashSet<SocketAddr>,
    reservations: HashMap<u64, (SocketAddr, Instant)>,
}

impl PortPool {
    pub(super) fn new(min: u16, max: u16) -> Self {
        PortPool {
            min: min.min(max),
            max: max.max(min),
            used: HashSet::new(),
            reservations: HashMap::new(),
        }
    }

    /// Ports in use or reserved.
    #[cfg(test)]
    pub(super) fn in_use(&self) -> usize {
        self.used.len()
    }

    /// Whether reservations are pending (they need a timeout).
    pub(super) fn has_reservations(&self) -> bool {
        !self.reservations.is_empty()
    }

    fn free(&self, ip: IpAddr, port: u16) -> bool {
        port >= self.min && port <= self.max && !self.used.contains(&SocketAddr::new(ip, port))
    }

    /// Takes a free port on `ip`: random first, then a scan from a random start. With `even`, an
    /// even port; with `reserve_next` also the next one (returned as a reservation token).
    pub(super) fn take(
        &mut self,
        now: Instant,
        ip: IpAddr,
        even: bool,
        reserve_next: bool,
        rng: &mut dyn Rng,
    ) -> Option<(SocketAddr, Option<u64>)> {
        let span = (self.max - self.min) as u32 + 1;
        let start = rng.next_u32() % span;
        let fits = |pool: &Self, port: u16| {
            (!even || port % 2 == 0)
                && pool.free(ip, port)
                && (!reserve_next || port.checked_add(1).is_some_and(|n| pool.free(ip, n)))
        };
        // A few random probes, then a full scan: the pool may be nearly full.
        let mut chosen = None;
        for i in 0..span.min(8) {
            let port = self.min + ((start.wrapping_add(i.wrapping_mul(7919))) % span) as u16;
            if fits(self, port) {
                chosen = Some(port);
                break;
            }
        }
        if chosen.is_none() {
            chosen = (0..span)
                .map(|i| self.min + ((start + i) % span) as u16)
                .find(|p| fits(self, *p));
        }
        let port = chosen?;
        let addr = SocketAddr::new(ip, port);
        self.used.insert(addr);
        let token = if reserve_next {
            let next = SocketAddr::new(ip, port + 1);
            self.used.insert(next);
            let mut token = rng.next_u64();
            while self.reservations.contains_key(&token) {
                token = rng.next_u64();
            }
            self.reservations
                .insert(token, (next, now + RESERVATION_LIFETIME));
            Some(token)
        } else {
            None
        };
        Some((addr, token))
    }

    /// Takes the port a RESERVATION-TOKEN reserved.
    pub(super) fn claim(&mut self, now: Instant, token: u64) -> Option<SocketAddr> {
        match self.reservations.remove(&token) {
            Some((addr, expires)) if expires > now => Some(addr),
            Some((addr, _)) => {
                self.used.remove(&addr);
                None
            }
            None => None,
        }
    }

    /// Gives a port back.
    pub(super) fn release(&mut self, addr: SocketAddr) {
        self.used.remove(&addr);
    }

    /// Drops expired reservations.
    pub(super) fn expire(&mut self, now: Instant) {
        let used = &mut self.used;
        self.reservations.retain(|_, (addr, expires)| {
            let keep = *expires > now;
            if !keep {
                used.remove(addr);
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;

    #[test]
    fn port_pool_bounds_even_ports_and_reservations() {
        let mut rng = SeededRng::new(1);
        let now = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut pool = PortPool::new(50000, 50003);
        let (a, t) = pool.take(now, ip, true, true, &mut rng).unwrap();
        assert_eq!(a.port() % 2, 0);
        let token = t.unwrap();
        assert_eq!(pool.in_use(), 2);
        assert_eq!(
            pool.claim(now, token),
            Some(SocketAddr::new(ip, a.port() + 1))
        );
        assert_eq!(pool.claim(now, token), None);
        let (b, _) = pool.take(now, ip, false, false, &mut rng).unwrap();
        let (c, _) = pool.take(now, ip, false, false, &mut rng).unwrap();
        assert!(b != c && b != a && c != a);
        assert!(pool.take(now, ip, false, false, &mut rng).is_none());
        pool.release(b);
        assert_eq!(pool.take(now, ip, false, false, &mut rng).unwrap().0, b);
        // An unclaimed reservation expires and frees its port.
        let mut pool = PortPool::new(50000, 50001);
        let (_, t) = pool.take(now, ip, true, true, &mut rng).unwrap();
        pool.expire(now + RESERVATION_LIFETIME);
        assert_eq!(pool.in_use(), 1);
        assert_eq!(pool.claim(now, t.unwrap()), None);
    }

    #[test]
    fn token_bucket() {
        let now = Instant::now();
        let mut b = TokenBucket::new(1000);
        assert!(b.take(now, 600));
        assert!(!b.take(now, 600));
        assert!(b.take(now + Duration::from_millis(200), 600));
        assert!(TokenBucket::new(0).take(now, usize::MAX));
    }
}
