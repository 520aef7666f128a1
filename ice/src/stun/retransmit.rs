//! The retransmission timer of a STUN client transaction over UDP (RFC 8489 6.2.1), the one
//! every request of this crate runs on: [`StunClient`](super::transaction::StunClient) (and the
//! TURN client through it), the ICE agent's connectivity and consent checks, and its
//! server-reflexive gathering.
//!
//! A request goes out at once; it is sent again after RTO, then 2·RTO, 4·RTO, ... until `Rc`
//! requests have gone out; after the last one the transaction waits `Rm`·RTO for an answer and
//! then expires. RFC 8489's defaults (RTO 500 ms, Rc 7, Rm 16) send at 0, 0.5, 1.5, 3.5, 7.5,
//! 15.5 and 31.5 s and expire at 39.5 s. ICE (RFC 8445 14.3) runs the same back-off with its own
//! RTO and count and, after the last request, waits one more doubled interval
//! (`Rm` = 2^(Rc-1)).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sansrtc_ice::stun::retransmit::{Backoff, Step};
//!
//! let t0 = Instant::now();
//! let mut timer = Backoff::rfc8489(Duration::from_millis(500), 7, 16).start(t0);
//! let mut sends = vec![];
//! loop {
//!     let now = timer.deadline();
//!     match timer.on_timeout(now) {
//!         Step::Send => sends.push((now - t0).as_millis()),
//!         Step::Wait => unreachable!("called at the deadline"),
//!         Step::Expired => break assert_eq!((now - t0).as_millis(), 39_500),
//!     }
//! }
//! assert_eq!(sends, [500, 1500, 3500, 7500, 15500, 31500]);
//! ```

use std::time::{Duration, Instant};

/// How a transaction retransmits: the initial RTO, how many requests (`Rc`) and how long to wait
/// after the last one (`Rm` times the RTO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial_rto: Duration,
    max_requests: u32,
    last_wait_multiplier: u32,
    from_deadline: bool,
}

impl Backoff {
    /// RFC 8489's timer: `max_requests` (`Rc`) requests with the interval doubling from
    /// `initial_rto`, then `last_wait_multiplier` (`Rm`) times `initial_rto` for the answer.
    /// Deadlines follow the schedule from the first request: a late
    /// [`Retransmission::on_timeout`] does not shift the ones after it.
    pub fn rfc8489(initial_rto: Duration, max_requests: u32, last_wait_multiplier: u32) -> Self {
        Backoff {
            initial_rto,
            max_requests,
            last_wait_multiplier,
            from_deadline: true,
        }
    }

    /// The ICE agent's timer (connectivity, consent and gathering checks): `max_requests`
    /// requests with the interval doubling from `rto`, then one more doubled interval for the
    /// answer (`Rm` = 2^(Rc-1)). Each interval counts from the moment its request was sent.
    pub fn ice(rto: Duration, max_requests: u32) -> Self {
        Backoff {
            initial_rto: rto,
            max_requests,
            last_wait_multiplier: 1 << max_requests.saturating_sub(1).min(31),
            from_deadline: false,
        }
    }

    /// The initial retransmission timeout.
    pub fn initial_rto(&self) -> Duration {
        self.initial_rto
    }

    /// `Rc`: requests sent in all.
    pub fn max_requests(&self) -> u32 {
        self.max_requests
    }

    /// `Rm`: the wait after the last request, in initial RTOs.
    pub fn last_wait_multiplier(&self) -> u32 {
        self.last_wait_multiplier
    }

    /// The timer of a transaction whose first request is sent at `now`.
    pub fn start(self, now: Instant) -> Retransmission {
        Retransmission {
            backoff: self,
            sent: 1,
            interval: self.initial_rto,
            deadline: now + self.initial_rto,
        }
    }
}

/// What a transaction does when [`Retransmission::on_timeout`] is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The deadline has not come: nothing to do.
    Wait,
    /// Send the request again (counted; the next deadline is set).
    Send,
    /// Every request went out and the last wait is over: the transaction timed out.
    Expired,
}

/// The retransmission state of one transaction: requests sent and the next deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retransmission {
    backoff: Backoff,
    sent: u32,
    interval: Duration,
    deadline: Instant,
}

impl Retransmission {
    /// When [`Retransmission::on_timeout`] must be called next.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Requests sent so far, the first included.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    /// Whether the request went out more than once (an answer then gives no round-trip time,
    /// Karn's rule).
    pub fn retransmitted(&self) -> bool {
        self.sent > 1
    }

    /// Advances the timer at `now`: early calls wait, a due one retransmits or expires. Calling
    /// it early, late or twice is harmless; an expired timer stays expired.
    pub fn on_timeout(&mut self, now: Instant) -> Step {
        if now < self.deadline {
            return Step::Wait;
        }
        let b = self.backoff;
        if self.sent >= b.max_requests {
            return Step::Expired;
        }
        self.sent += 1;
        let from = if b.from_deadline { self.deadline } else { now };
        self.interval = self.interval.saturating_mul(2);
        self.deadline = from
            + if self.sent >= b.max_requests {
                b.initial_rto.saturating_mul(b.last_wait_multiplier)
            } else {
                self.interval
            };
        Step::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Send times and the expiry, calling at every deadline (or `late` after it).
    fn run(backoff: Backoff, late: Duration) -> (Vec<u128>, u128) {
        let t0 = Instant::now();
        let mut t = backoff.start(t0);
        let mut sends = vec![0];
        loop {
            let now = t.deadline() + late;
            assert_eq!(t.on_timeout(t.deadline() - ms(1)), Step::Wait);
            match t.on_timeout(now) {
                Step::Send => sends.push((now - t0).as_millis()),
                Step::Wait => panic!("due"),
                Step::Expired => {
                    assert_eq!(t.on_timeout(now + ms(1000)), Step::Expired);
                    return (sends, (now - t0).as_millis());
                }
            }
        }
    }

    #[test]
    fn rfc8489_defaults() {
        let (sends, expired) = run(Backoff::rfc8489(ms(500), 7, 16), ms(0));
        assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(expired, 39500);
    }

    #[test]
    fn rfc8489_keeps_its_schedule_when_called_late() {
        // Each call 10 ms late: sends drift by those 10 ms only, never accumulate.
        let (sends, expired) = run(Backoff::rfc8489(ms(500), 3, 16), ms(10));
        assert_eq!(sends, [0, 510, 1510]);
        assert_eq!(expired, 9510);
    }

    #[test]
    fn ice_waits_a_doubled_interval_after_the_last_check() {
        let (sends, expired) = run(Backoff::ice(ms(250), 7), ms(0));
        assert_eq!(sends, [0, 250, 750, 1750, 3750, 7750, 15750]);
        assert_eq!(expired, 15750 + 16000);
        assert_eq!(Backoff::ice(ms(250), 7).last_wait_multiplier(), 64);
    }

    #[test]
    fn ice_intervals_count_from_each_send() {
        let (sends, expired) = run(Backoff::ice(ms(100), 3), ms(10));
        assert_eq!(sends, [0, 110, 320]);
        assert_eq!(expired, 320 + 400 + 10);
    }

    #[test]
    fn a_single_request_waits_one_rto() {
        for b in [
            Backoff::rfc8489(ms(39_500), 1, 16),
            Backoff::ice(ms(39_500), 1),
        ] {
            assert_eq!(run(b, ms(0)), (vec![0], 39_500));
        }
        assert_eq!(run(Backoff::ice(ms(5), 0), ms(0)), (vec![0], 5));
        let mut t = Backoff::ice(ms(5), 1).start(Instant::now());
        assert!(!t.retransmitted());
        assert_eq!(t.sent(), 1);
        assert_eq!(t.on_timeout(t.deadline()), Step::Expired);
    }
}
