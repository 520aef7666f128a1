//! Ending an association: graceful shutdown (RFC 9260 9.2), ABORT, and closing.

use super::*;

impl Association {
    /// Starts a graceful shutdown (RFC 9260 9.2).
    pub fn shutdown(&mut self, now: Instant) {
        if self.state == State::Established {
            self.state = State::ShutdownPending;
            self.maybe_progress_shutdown(now);
        } else if matches!(self.state, State::CookieWait | State::CookieEchoed) {
            self.abort(now);
        }
    }

    /// Sends ABORT and closes at once.
    pub fn abort(&mut self, _now: Instant) {
        if self.state == State::Closed && self.peer.is_none() {
            return;
        }
        self.send_abort(cause_code::USER_INITIATED_ABORT);
        self.close(CloseReason::LocalAbort);
    }

    pub(super) fn send_abort(&mut self, cause: u16) {
        self.send_abort_with(cause, &[]);
    }

    pub(super) fn send_abort_with(&mut self, cause: u16, info: &[u8]) {
        let tag = self.peer.map_or(0, |p| p.tag);
        let mut out = Vec::with_capacity(32);
        begin_packet(
            &mut out,
            self.config.local_port,
            self.config.remote_port,
            tag,
        );
        write_tlv_chunk(&mut out, chunk_type::ABORT, 0, |o| {
            write_tlv(o, cause, info)
        });
        finish_packet(&mut out, false);
        self.control.push_back(out);
    }

    pub(super) fn close(&mut self, reason: CloseReason) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.state = State::Closed;
        self.peer = None;
        self.init_timer = None;
        self.t3 = None;
        self.t2 = None;
        self.heartbeat_due = None;
        self.sack_deadline = None;
        self.sack_now = false;
        self.outstanding.clear();
        self.ready_streams.clear();
        self.current_stream = None;
        self.queued_messages = 0;
        self.send_buffered = 0;
        for s in self.out_streams.values_mut() {
            s.queue.clear();
            s.buffered = 0;
        }
        self.payloads.clear(&mut self.pool);
        self.retransmit_pending = 0;
        self.in_flight = 0;
        self.pr_chunks = 0;
        self.events.push_back(Event::Closed(reason));
    }

    pub(super) fn queue_simple(&mut self, ty: u8) {
        write_chunk_with(&mut self.pending_chunks, ty, 0, |_| {});
    }

    pub(super) fn queue_shutdown(&mut self) {
        let cum = self.receiver.as_ref().map_or(0, |r| r.cum_tsn());
        write_chunk_with(&mut self.pending_chunks, chunk_type::SHUTDOWN, 0, |o| {
            o.extend_from_slice(&cum.to_be_bytes())
        });
    }

    pub(super) fn on_shutdown(&mut self, now: Instant, cum_tsn_ack: u32) {
        if !matches!(
            self.state,
            State::Established
                | State::ShutdownPending
                | State::ShutdownReceived
                | State::ShutdownSent
        ) {
            return;
        }
        self.ack_up_to(now, cum_tsn_ack);
        if self.state != State::ShutdownSent {
            self.state = State::ShutdownReceived;
        }
        self.maybe_progress_shutdown(now);
    }

    pub(super) fn ack_up_to(&mut self, now: Instant, cum: u32) {
        if serial_lt(self.cum_ack, cum) && !serial_lt(self.next_tsn.wrapping_sub(1), cum) {
            let mut b = Vec::new();
            let rwnd = (self.peer_rwnd + self.in_flight) as u32;
            write_sack(&mut b, cum, rwnd, &[], &[]);
            if let Ok((Chunk::Sack(s), _)) = Chunk::parse(&b) {
                self.on_sack(now, &s);
            }
        }
    }

    pub(super) fn maybe_progress_shutdown(&mut self, now: Instant) {
        if !self.outstanding.is_empty() || self.queued_messages > 0 {
            return;
        }
        match self.state {
            State::ShutdownPending => {
                self.state = State::ShutdownSent;
                self.queue_shutdown();
                self.t2 = Some(now + self.rto);
            }
            State::ShutdownReceived => {
                self.state = State::ShutdownAckSent;
                self.queue_simple(chunk_type::SHUTDOWN_ACK);
                self.t2 = Some(now + self.rto);
            }
            _ => {}
        }
    }
}
