//! The allocation: Allocate, its refresh before expiry, deallocation on close.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::rng::Rng;
use crate::stun::StunMessage;
use crate::stun::attribute::{self as attr, Attribute};

/// Longest allocation lifetime the client schedules with, whatever the server grants (s).
pub(super) const MAX_LIFETIME: u32 = 86_400;

impl<R: Rng> TurnClient<R> {
    /// The relayed address, once allocated.
    pub fn relayed_address(&self) -> Option<SocketAddr> {
        self.relayed.filter(|_| self.state == State::Allocated)
    }

    /// Starts the allocation.
    pub fn allocate(&mut self, now: Instant) -> Result<(), TurnError> {
        if self.state != State::Idle {
            return Err(TurnError::AlreadyAllocating);
        }
        self.state = State::Allocating;
        self.send(now, Request::Allocate, false)
    }

    /// Deletes the allocation (Refresh with LIFETIME 0).
    pub fn close(&mut self, now: Instant) -> Result<(), TurnError> {
        self.require_allocated()?;
        self.state = State::Closing;
        self.send(now, Request::Refresh(0), true)
    }

    pub(super) fn require_allocated(&self) -> Result<(), TurnError> {
        if self.state == State::Allocated {
            Ok(())
        } else {
            Err(TurnError::NotAllocated)
        }
    }

    /// The allocation succeeded.
    pub(super) fn on_allocated(&mut self, now: Instant, m: &StunMessage<'_>) {
        let relayed = match m.get(attr::XOR_RELAYED_ADDRESS) {
            Some(Ok(Attribute::XorRelayedAddress(a))) => a,
            _ => {
                self.on_failure(&Request::Allocate, 0);
                return;
            }
        };
        let lifetime = match m.get(attr::LIFETIME) {
            // A server's lifetime is clamped to a day: it only schedules our refresh.
            Some(Ok(Attribute::Lifetime(l))) => l.min(MAX_LIFETIME),
            _ => self.config.lifetime,
        };
        self.state = State::Allocated;
        self.relayed = Some(relayed);
        self.allocation_expires = Some(now + Duration::from_secs(lifetime.into()));
        self.events.push_back(TurnEvent::Allocated {
            relayed,
            mapped: m.xor_mapped_address(),
            lifetime,
        });
    }

    /// The allocation was deleted (Refresh with LIFETIME 0 answered).
    pub(super) fn on_deallocated(&mut self) {
        self.state = State::Closed;
        self.relayed = None;
        self.permissions.clear();
        self.channels.clear();
        self.events.push_back(TurnEvent::Closed);
    }

    /// The allocation was refreshed.
    pub(super) fn on_refreshed(&mut self, now: Instant, m: &StunMessage<'_>) {
        let lifetime = match m.get(attr::LIFETIME) {
            // A server's lifetime is clamped to a day: it only schedules our refresh.
            Some(Ok(Attribute::Lifetime(l))) => l.min(MAX_LIFETIME),
            _ => self.config.lifetime,
        };
        self.allocation_expires = Some(now + Duration::from_secs(lifetime.into()));
        self.events
            .push_back(TurnEvent::AllocationRefreshed(lifetime));
    }

    /// Refreshes the allocation when it nears expiry.
    pub(super) fn refresh_allocation(&mut self, now: Instant) {
        let margin = self.config.refresh_margin;
        let refresh_due = self
            .allocation_expires
            .is_some_and(|exp| now + margin >= exp);
        if refresh_due && !self.refreshing(|r| matches!(r, Request::Refresh(_))) {
            let _ = self.send(now, Request::Refresh(self.config.lifetime), true);
        }
    }

    /// When the allocation expires, unless its refresh is in flight.
    pub(super) fn allocation_expiry(&self) -> Option<Instant> {
        // A refresh already in flight is not due again: its retransmissions are the STUN
        // client's deadlines (otherwise its refresh point, now past, would be reported until
        // the answer came, and a caller would spin).
        self.allocation_expires
            .filter(|_| !self.refreshing(|r| matches!(r, Request::Refresh(_))))
    }
}
