//! STUN client transactions over UDP (RFC 8489 6.2.1), sans-IO.
//!
//! A request is sent at once, then retransmitted after RTO, 2·RTO, 4·RTO, ... until `Rc` requests
//! have gone out; after the last one the client waits `Rm`·RTO for an answer before reporting a
//! timeout. With the defaults (RTO 500 ms, Rc 7, Rm 16) requests leave at 0, 0.5, 1.5, 3.5, 7.5,
//! 15.5 and 31.5 s and the transaction times out at 39.5 s. The timer is
//! [`Backoff::rfc8489`](super::retransmit::Backoff::rfc8489).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use thiserror::Error;

use super::retransmit::{Backoff, Retransmission, Step};
use crate::Transmit;
use crate::rng::Rng;
use crate::stun::{
    MessageBuilder, MessageClass, MessageType, StunError, StunMessage, TransactionId,
};

/// Retransmission parameters and limits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransactionConfig {
    /// Initial retransmission timeout (RFC 8489 recommends 500 ms or more).
    pub initial_rto: Duration,
    /// `Rc`: how many requests are sent in all (default 7).
    pub max_requests: u32,
    /// `Rm`: after the last request, wait `Rm` times the initial RTO (default 16).
    pub last_wait_multiplier: u32,
    /// Most transactions outstanding at once.
    pub max_transactions: usize,
    /// Largest request the client builds.
    pub max_request_len: usize,
}

impl TransactionConfig {
    /// The retransmission timer these parameters describe.
    pub fn backoff(&self) -> Backoff {
        Backoff::rfc8489(
            self.initial_rto,
            self.max_requests,
            self.last_wait_multiplier,
        )
    }
}

impl Default for TransactionConfig {
    fn default() -> Self {
        TransactionConfig {
            initial_rto: Duration::from_millis(500),
            max_requests: 7,
            last_wait_multiplier: 16,
            max_transactions: 64,
            max_request_len: 1280,
        }
    }
}

/// Why a request could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// `max_transactions` are already outstanding.
    #[error("too many outstanding STUN transactions")]
    TooManyTransactions,
    /// The request could not be built.
    #[error(transparent)]
    Stun(#[from] StunError),
}

/// What happened to a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionEvent {
    /// A success or error response arrived (the first one; duplicates are ignored).
    Response {
        /// The transaction.
        id: TransactionId,
        /// Where the response came from.
        source: SocketAddr,
        /// The response, as received (parse it with [`StunMessage::parse`]).
        message: Vec<u8>,
    },
    /// No response after all retransmissions.
    Timeout {
        /// The transaction.
        id: TransactionId,
    },
}

#[derive(Debug, Clone)]
struct Pending {
    id: TransactionId,
    destination: SocketAddr,
    request: Vec<u8>,
    timer: Retransmission,
}

/// Counters of a [`StunClient`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Requests sent, retransmissions included.
    pub requests_sent: u64,
    /// Responses matched to a transaction.
    pub responses: u64,
    /// Transactions that timed out.
    pub timeouts: u64,
    /// Datagrams that were not STUN responses to an outstanding transaction.
    pub ignored: u64,
}

/// Outstanding STUN client transactions.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sansrtc_ice::{SeededRng, stun::{MessageType, transaction::*}};
/// let mut client = StunClient::new(TransactionConfig::default(), SeededRng::new(1));
/// let now = Instant::now();
/// let server = "127.0.0.1:3478".parse().unwrap();
/// let id = client.start_request(now, server, MessageType::BINDING_REQUEST, |b| {
///     b.add_fingerprint()?;
///     Ok(())
/// })?;
/// assert!(client.poll_transmit().is_some());
/// assert_eq!(client.poll_timeout(), Some(now + Duration::from_millis(500)));
/// # let _ = id;
/// # Ok::<(), TransactionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct StunClient<R> {
    config: TransactionConfig,
    rng: R,
    pending: Vec<Pending>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TransactionEvent>,
    stats: ClientStats,
}

impl<R: Rng> StunClient<R> {
    /// Creates a client drawing transaction ids from `rng`.
    pub fn new(config: TransactionConfig, rng: R) -> Self {
        StunClient {
            config,
            rng,
            pending: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: ClientStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Number of outstanding transactions.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// Starts a request: draws a fresh transaction id, writes the header, lets `build` append
    /// the attributes (and integrity/fingerprint), and queues the first transmission.
    pub fn start_request(
        &mut self,
        now: Instant,
        destination: SocketAddr,
        message_type: MessageType,
        build: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), StunError>,
    ) -> Result<TransactionId, TransactionError> {
        if self.pending.len() >= self.config.max_transactions {
            return Err(TransactionError::TooManyTransactions);
        }
        let mut id = TransactionId([0; 12]);
        loop {
            self.rng.fill(&mut id.0);
            if !self.pending.iter().any(|p| p.id == id) {
                break;
            }
        }
        let mut request = vec![0; self.config.max_request_len];
        let mut b = MessageBuilder::new(&mut request, message_type, id)?;
        build(&mut b)?;
        let len = b.finish();
        request.truncate(len);
        self.stats.requests_sent += 1;
        self.transmits.push_back(Transmit {
            destination,
            contents: request.clone(),
        });
        self.pending.push(Pending {
            id,
            destination,
            request,
            timer: self.config.backoff().start(now),
        });
        Ok(id)
    }

    /// Fills `out` from the client's RNG (transaction ids of indications sent beside it).
    pub(crate) fn fill_random(&mut self, out: &mut [u8]) {
        self.rng.fill(out);
    }

    /// Abandons a transaction without an event. Returns whether it was outstanding.
    pub fn cancel(&mut self, id: TransactionId) -> bool {
        let before = self.pending.len();
        self.pending.retain(|p| p.id != id);
        before != self.pending.len()
    }

    /// Offers a received datagram. Returns `true` if it was a response to an outstanding
    /// transaction (and was consumed), `false` otherwise.
    pub fn handle_receive(&mut self, _now: Instant, source: SocketAddr, datagram: &[u8]) -> bool {
        let Ok(m) = StunMessage::parse(datagram) else {
            self.stats.ignored += 1;
            return false;
        };
        if !matches!(
            m.class(),
            MessageClass::SuccessResponse | MessageClass::ErrorResponse
        ) {
            self.stats.ignored += 1;
            return false;
        }
        let id = m.transaction_id();
        let Some(i) = self.pending.iter().position(|p| p.id == id) else {
            self.stats.ignored += 1;
            return false;
        };
        self.pending.swap_remove(i);
        self.stats.responses += 1;
        self.events.push_back(TransactionEvent::Response {
            id,
            source,
            message: datagram.to_vec(),
        });
        true
    }

    /// Retransmits and times out transactions whose deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            match p.timer.on_timeout(now) {
                Step::Wait => {}
                Step::Send => {
                    self.stats.requests_sent += 1;
                    self.transmits.push_back(Transmit {
                        destination: p.destination,
                        contents: p.request.clone(),
                    });
                }
                Step::Expired => {
                    let id = p.id;
                    self.pending.swap_remove(i);
                    self.stats.timeouts += 1;
                    self.events.push_back(TransactionEvent::Timeout { id });
                    continue;
                }
            }
            i += 1;
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next transaction event.
    pub fn poll_event(&mut self) -> Option<TransactionEvent> {
        self.events.pop_front()
    }

    /// When [`StunClient::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.timer.deadline()).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;
    use crate::stun::{Attribute, MessageBuilder};

    fn server() -> SocketAddr {
        "127.0.0.1:3478".parse().unwrap()
    }

    #[test]
    fn retransmission_schedule_and_timeout() {
        let mut c = StunClient::new(TransactionConfig::default(), SeededRng::new(7));
        let t0 = Instant::now();
        let id = c
            .start_request(t0, server(), MessageType::BINDING_REQUEST, |_| Ok(()))
            .unwrap();
        let first = c.poll_transmit().unwrap();
        let mut sends = vec![0u64];
        let mut now = t0;
        while let Some(deadline) = c.poll_timeout() {
            now = deadline;
            c.handle_timeout(now);
            while let Some(t) = c.poll_transmit() {
                assert_eq!(t, first);
                sends.push((now - t0).as_millis() as u64);
            }
        }
        assert_eq!(sends, [0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!((now - t0).as_millis(), 39500);
        assert_eq!(c.poll_event(), Some(TransactionEvent::Timeout { id }));
        assert_eq!(c.stats().requests_sent, 7);
        assert_eq!(c.outstanding(), 0);
    }

    #[test]
    fn early_and_repeated_timeouts_are_harmless() {
        let mut c = StunClient::new(TransactionConfig::default(), SeededRng::new(7));
        let t0 = Instant::now();
        c.start_request(t0, server(), MessageType::BINDING_REQUEST, |_| Ok(()))
            .unwrap();
        c.poll_transmit().unwrap();
        c.handle_timeout(t0 + Duration::from_millis(499));
        c.handle_timeout(t0 + Duration::from_millis(499));
        assert!(c.poll_transmit().is_none());
        c.handle_timeout(t0 + Duration::from_millis(500));
        c.handle_timeout(t0 + Duration::from_millis(500));
        assert!(c.poll_transmit().is_some());
        assert!(c.poll_transmit().is_none());
    }

    #[test]
    fn response_completes_transaction_and_ids_come_from_rng() {
        let mut c = StunClient::new(TransactionConfig::default(), SeededRng::new(42));
        let t0 = Instant::now();
        let id = c
            .start_request(t0, server(), MessageType::BINDING_REQUEST, |_| Ok(()))
            .unwrap();
        let mut expect = [0u8; 12];
        SeededRng::new(42).fill(&mut expect);
        assert_eq!(id.0, expect);
        let sent = c.poll_transmit().unwrap();
        assert_eq!(&sent.contents[8..20], &id.0);

        // A response with another id is ignored; a request with our id is ignored.
        let mut buf = [0u8; 64];
        let mut b = MessageBuilder::new(
            &mut buf,
            MessageType::BINDING_SUCCESS,
            TransactionId([1; 12]),
        )
        .unwrap();
        b.add(&Attribute::XorMappedAddress("1.2.3.4:5".parse().unwrap()))
            .unwrap();
        let n = b.finish();
        assert!(!c.handle_receive(t0, server(), &buf[..n]));
        let n = MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, id)
            .unwrap()
            .finish();
        assert!(!c.handle_receive(t0, server(), &buf[..n]));

        let mut b = MessageBuilder::new(&mut buf, MessageType::BINDING_SUCCESS, id).unwrap();
        b.add(&Attribute::XorMappedAddress("1.2.3.4:5".parse().unwrap()))
            .unwrap();
        let n = b.finish();
        assert!(c.handle_receive(t0, server(), &buf[..n]));
        match c.poll_event() {
            Some(TransactionEvent::Response {
                id: got, message, ..
            }) => {
                assert_eq!(got, id);
                let m = StunMessage::parse(&message).unwrap();
                assert_eq!(m.xor_mapped_address(), Some("1.2.3.4:5".parse().unwrap()));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(c.poll_timeout(), None);
        // A duplicate response is ignored.
        assert!(!c.handle_receive(t0, server(), &buf[..n]));
        assert_eq!(c.poll_event(), None);
    }

    #[test]
    fn transaction_limit() {
        let config = TransactionConfig {
            max_transactions: 2,
            ..Default::default()
        };
        let mut c = StunClient::new(config, SeededRng::new(1));
        let t0 = Instant::now();
        for _ in 0..2 {
            c.start_request(t0, server(), MessageType::BINDING_REQUEST, |_| Ok(()))
                .unwrap();
        }
        assert_eq!(
            c.start_request(t0, server(), MessageType::BINDING_REQUEST, |_| Ok(())),
            Err(TransactionError::TooManyTransactions)
        );
    }
}
