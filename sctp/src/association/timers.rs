//! Time: the deadlines the association reports, what their passing does (retransmission,
//! delayed acknowledgement, shutdown and reconfiguration timers), and heartbeats (RFC 9260 8.3).

use super::*;

impl Association {
    /// The next deadline at which [`Association::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.init_timer,
            self.t3,
            self.sack_deadline,
            self.t2,
            self.heartbeat_due,
            self.reconfig_out
                .as_ref()
                .and_then(|r| r.sent_at.map(|s| s + self.rto)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Handles the passing of time: retransmission timers, delayed acknowledgements.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.heartbeat_due.is_some_and(|d| now >= d) {
            self.check_heartbeat(now);
        }
        if let Some(t) = self.init_timer
            && now >= t
        {
            self.init_retransmits += 1;
            if self.init_retransmits > self.config.max_init_retransmits {
                self.init_timer = None;
                self.close(CloseReason::Timeout);
                return;
            }
            self.rto = (self.rto * 2).min(self.config.rto_max);
            match self.state {
                State::CookieWait => self.send_init(),
                State::CookieEchoed => self.send_cookie_echo(),
                _ => {}
            }
            self.init_timer = Some(now + self.rto);
        }
        if let Some(t) = self.sack_deadline
            && now >= t
        {
            self.sack_now = true;
            self.sack_deadline = None;
        }
        if let Some(t) = self.t3
            && now >= t
        {
            self.on_t3_expiry(now);
        }
        if let Some(t) = self.t2
            && now >= t
        {
            self.error_count += 1;
            if self
                .config
                .max_retransmits
                .is_some_and(|m| self.error_count > m)
            {
                self.send_abort(cause_code::PROTOCOL_VIOLATION);
                self.close(CloseReason::Timeout);
                return;
            }
            self.rto = (self.rto * 2).min(self.config.rto_max);
            match self.state {
                State::ShutdownSent => self.queue_shutdown(),
                State::ShutdownAckSent => self.queue_simple(chunk_type::SHUTDOWN_ACK),
                _ => {}
            }
            self.t2 = Some(now + self.rto);
        }
        if let Some(r) = &mut self.reconfig_out
            && r.sent_at.is_some_and(|s| now >= s + self.rto)
        {
            r.sent_at = None;
        }
    }

    /// Sends a HEARTBEAT when the association has been quiet for the configured interval.
    pub(super) fn check_heartbeat(&mut self, now: Instant) {
        let Some(interval) = self.config.heartbeat_interval else {
            return;
        };
        if self.state != State::Established {
            self.heartbeat_due = None;
            return;
        }
        let Some(due) = self.heartbeat_due else {
            self.heartbeat_due = Some(now + interval);
            return;
        };
        if now < due {
            return;
        }
        if self.heartbeat_sent.is_some() {
            // The previous one went unanswered (RFC 9260 8.1).
            self.error_count += 1;
            if self
                .config
                .max_retransmits
                .is_some_and(|m| self.error_count > m)
            {
                self.send_abort(cause_code::PROTOCOL_VIOLATION);
                self.close(CloseReason::Timeout);
                return;
            }
        }
        let nonce =
            self.next_message_id ^ (now.saturating_duration_since(self.epoch).as_nanos() as u64);
        self.heartbeat_sent = Some((nonce, now));
        write_tlv_chunk(&mut self.pending_chunks, chunk_type::HEARTBEAT, 0, |o| {
            write_tlv(o, param_type::HEARTBEAT_INFO, &nonce.to_be_bytes())
        });
        self.heartbeat_due = Some(now + interval + self.rto);
    }

    pub(super) fn on_heartbeat_ack(&mut self, now: Instant, info: &Tlvs<'_>) {
        let Some(v) = info.find(param_type::HEARTBEAT_INFO) else {
            return;
        };
        let Some((nonce, sent)) = self.heartbeat_sent else {
            return;
        };
        if v.len() == 8 && v == nonce.to_be_bytes() {
            self.heartbeat_sent = None;
            self.error_count = 0;
            self.update_rto(now.saturating_duration_since(sent));
        }
    }
}
