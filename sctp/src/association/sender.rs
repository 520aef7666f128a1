//! The sending half: SACK processing, congestion control (RFC 9260 7), retransmission timer,
//! partial reliability (RFC 3758), the round-robin scheduler and DATA / I-DATA writing.

use super::*;

impl Association {
    pub(super) fn on_t3_expiry(&mut self, now: Instant) {
        self.stats.t3_expiries += 1;
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
        let mtu = self.config.max_packet_size;
        self.ssthresh = (self.cwnd / 2).max(4 * mtu);
        self.cwnd = mtu;
        self.partial_bytes_acked = 0;
        self.fast_recovery_exit = None;
        self.rto = (self.rto * 2).min(self.config.rto_max);
        for i in 0..self.outstanding.len() {
            let c = &mut self.outstanding[i];
            if c.state == ChunkState::InFlight {
                c.state = ChunkState::Retransmit;
                self.in_flight -= c.len;
                self.retransmit_pending += 1;
            }
        }
        self.check_abandon(now);
        if self.adv_peer_ack_point() != self.cum_ack {
            self.forward_tsn_needed = true;
        }
        self.t3 = if self.outstanding.is_empty() {
            None
        } else {
            Some(now + self.rto)
        };
    }

    pub(super) fn update_rto(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let diff = srtt.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + diff / 4;
                self.srtt = Some(srtt * 7 / 8 + r / 8);
            }
        }
        let srtt = self.srtt.expect("just set");
        self.rto = (srtt + (self.rttvar * 4).max(Duration::from_millis(1)))
            .clamp(self.config.rto_min, self.config.rto_max);
    }

    pub(super) fn on_sack(&mut self, now: Instant, sack: &SackChunk<'_>) {
        if !matches!(
            self.state,
            State::Established
                | State::ShutdownPending
                | State::ShutdownReceived
                | State::ShutdownSent
        ) {
            return;
        }
        let cum = sack.cum_tsn_ack;
        if serial_lt(cum, self.cum_ack) {
            return;
        }
        let highest = self.next_tsn.wrapping_sub(1);
        if serial_lt(highest, cum) {
            return;
        }
        let flight_before = self.in_flight;
        let mut bytes_acked = 0usize;
        let mut rtt_sample: Option<Instant> = None;
        let advanced = cum != self.cum_ack;
        let n = cum.wrapping_sub(self.cum_ack) as usize;
        for _ in 0..n {
            let Some(c) = self.outstanding.pop_front() else {
                break;
            };
            self.release_chunk(&c);
            if c.max_retransmits.is_some() || c.expires.is_some() {
                self.pr_chunks -= 1;
            }
            match c.state {
                ChunkState::InFlight => {
                    self.in_flight -= c.len;
                    bytes_acked += c.len;
                    if c.transmits == 1 {
                        rtt_sample = c.sent_at;
                    }
                }
                ChunkState::Retransmit => {
                    self.retransmit_pending -= 1;
                    bytes_acked += c.len;
                }
                ChunkState::Acked | ChunkState::Abandoned => {}
            }
        }
        self.cum_ack = cum;
        // Gap-ack blocks: must be ascending and disjoint; anything else ends the walk.
        let mut prev_end = 0u32;
        let mut highest_newly_acked: Option<usize> = None;
        let sent = self.outstanding.len();
        for (start, end) in sack.gap_blocks() {
            let (start, end) = (start as u32, end as u32);
            if start == 0 || start <= prev_end || end < start {
                break;
            }
            prev_end = end;
            let lo = (start - 1) as usize;
            let hi = (end as usize).min(sent);
            for i in lo..hi {
                let c = &mut self.outstanding[i];
                match c.state {
                    ChunkState::InFlight => {
                        self.in_flight -= c.len;
                        bytes_acked += c.len;
                        if c.transmits == 1 {
                            rtt_sample = c.sent_at;
                        }
                        c.state = ChunkState::Acked;
                        highest_newly_acked = Some(i);
                    }
                    ChunkState::Retransmit => {
                        self.retransmit_pending -= 1;
                        bytes_acked += c.len;
                        c.state = ChunkState::Acked;
                        highest_newly_acked = Some(i);
                    }
                    _ => {}
                }
            }
        }
        // Miss indications (RFC 9260 7.2.4, with the HTNA rule).
        let mut fast = false;
        if let Some(h) = highest_newly_acked {
            for i in 0..h {
                let c = &mut self.outstanding[i];
                if c.state == ChunkState::InFlight && !c.fast_retransmitted {
                    c.misses += 1;
                    if c.misses >= 3 {
                        c.state = ChunkState::Retransmit;
                        c.fast_retransmitted = true;
                        self.in_flight -= c.len;
                        self.retransmit_pending += 1;
                        fast = true;
                    }
                }
            }
        }
        if let Some(t) = rtt_sample {
            self.update_rto(now.saturating_duration_since(t));
        }
        let mtu = self.config.max_packet_size;
        if let Some(exit) = self.fast_recovery_exit
            && !serial_lt(cum, exit)
        {
            self.fast_recovery_exit = None;
        }
        if advanced {
            self.error_count = 0;
            if self.fast_recovery_exit.is_none() {
                let utilized = flight_before + mtu >= self.cwnd;
                if self.cwnd <= self.ssthresh {
                    if utilized {
                        self.cwnd += bytes_acked.min(mtu);
                    }
                } else {
                    self.partial_bytes_acked += bytes_acked;
                    if self.partial_bytes_acked >= self.cwnd && utilized {
                        self.partial_bytes_acked -= self.cwnd;
                        self.cwnd += mtu;
                    }
                }
            }
        }
        if fast {
            self.stats.fast_retransmits += 1;
            if self.fast_recovery_exit.is_none() {
                self.ssthresh = (self.cwnd / 2).max(4 * mtu);
                self.cwnd = self.ssthresh;
                self.partial_bytes_acked = 0;
                self.fast_recovery_exit = Some(self.next_tsn.wrapping_sub(1));
            }
            self.fast_rtx_ignore_cwnd = true;
        }
        self.peer_rwnd = (sack.a_rwnd as usize).saturating_sub(self.in_flight);
        let adv = self.adv_peer_ack_point();
        if self.peer.is_some_and(|p| p.forward_tsn) && adv != self.cum_ack {
            self.forward_tsn_needed = true;
        }
        let pending = self.in_flight > 0 || self.retransmit_pending > 0 || adv != self.cum_ack;
        if !pending {
            self.t3 = None;
        } else if advanced || self.t3.is_none() {
            self.t3 = Some(now + self.rto);
        }
        self.maybe_progress_shutdown(now);
    }

    /// Frees what a chunk leaving `outstanding` held: its data's send-buffer charge (and the
    /// message's overhead with its last fragment) and its reference to the payload.
    pub(super) fn release_chunk(&mut self, c: &OutChunk) {
        let mut freed = c.len;
        if c.flags & data_flags::END != 0 {
            freed += SEND_MESSAGE_OVERHEAD;
        }
        self.send_buffered -= freed;
        self.payloads.release(c.payload, &mut self.pool);
    }

    pub(super) fn reduce_buffered(&mut self, stream_id: u16, len: usize) {
        if let Some(s) = self.out_streams.get_mut(&stream_id) {
            let before = s.buffered;
            s.buffered = s.buffered.saturating_sub(len);
            if before > s.low_threshold && s.buffered <= s.low_threshold {
                self.events.push_back(Event::BufferedAmountLow(stream_id));
            }
        }
    }

    /// The TSN up to which the peer may move its cumulative point (RFC 3758 3.5 C1).
    pub(super) fn adv_peer_ack_point(&self) -> u32 {
        let mut p = self.cum_ack;
        for c in &self.outstanding {
            if c.state != ChunkState::Abandoned {
                break;
            }
            p = c.tsn;
        }
        p
    }

    /// Abandons messages whose partial-reliability limits passed (RFC 3758 3.5 A1-A3).
    pub(super) fn check_abandon(&mut self, now: Instant) {
        if !self.peer.is_some_and(|p| p.forward_tsn) || self.pr_chunks == 0 {
            return;
        }
        let before = self.stats.messages_abandoned;
        let mut i = 0;
        while i < self.outstanding.len() {
            let c = &self.outstanding[i];
            let expired = c.expires.is_some_and(|e| now >= e);
            let too_many = c.state == ChunkState::Retransmit
                && c.max_retransmits.is_some_and(|m| c.transmits > m as u32);
            if matches!(c.state, ChunkState::InFlight | ChunkState::Retransmit)
                && (expired || too_many)
            {
                i = self.abandon_message(i);
            } else {
                i += 1;
            }
        }
        if self.stats.messages_abandoned != before && self.adv_peer_ack_point() != self.cum_ack {
            self.forward_tsn_needed = true;
        }
    }

    /// Abandons the message containing index `i`; returns the index after it.
    pub(super) fn abandon_message(&mut self, i: usize) -> usize {
        let id = self.outstanding[i].message_id;
        let mut start = i;
        while start > 0 && self.outstanding[start - 1].message_id == id {
            start -= 1;
        }
        let mut end = i;
        while end + 1 < self.outstanding.len() && self.outstanding[end + 1].message_id == id {
            end += 1;
        }
        self.stats.messages_abandoned += 1;
        for k in start..=end {
            let c = &mut self.outstanding[k];
            match c.state {
                ChunkState::InFlight => self.in_flight -= c.len,
                ChunkState::Retransmit => self.retransmit_pending -= 1,
                _ => {}
            }
            c.state = ChunkState::Abandoned;
        }
        // The rest of a partly sent message is dropped from its stream's queue.
        let sid = self.outstanding[i].stream_id;
        if let Some(st) = self.out_streams.get_mut(&sid)
            && st.queue.front().is_some_and(|m| m.id == id)
        {
            let m = st.queue.pop_front().expect("checked above");
            self.payloads.release(m.payload, &mut self.pool);
            let rest = m.len - m.offset;
            // Its last fragment never got a TSN: the message's overhead goes with the rest.
            self.send_buffered -= rest + SEND_MESSAGE_OVERHEAD;
            let more = !st.queue.is_empty();
            self.queued_messages -= 1;
            // With DATA the partly sent message's stream is the current one; with I-DATA it is
            // already waiting in the round robin.
            if self.current_stream == Some(sid) {
                self.current_stream = None;
                if more {
                    self.ready_streams.push_back(sid);
                }
            }
            if m.counted {
                self.reduce_buffered(sid, rest);
            }
        }
        end + 1
    }

    pub(super) fn has_sendable_data(&self) -> bool {
        self.retransmit_pending > 0 || self.queued_messages > 0
    }

    pub(super) fn write_sack_chunk(&mut self, out: &mut Vec<u8>, mtu: usize) {
        let Some(r) = self.receiver.as_mut() else {
            return;
        };
        let room = mtu.saturating_sub(out.len() + 16);
        let rwnd = (self.config.receive_window as usize)
            .saturating_sub(r.buffered() + self.event_bytes) as u32;
        r.write_sack(out, rwnd, room);
        self.sack_now = false;
        self.sack_deadline = None;
        self.data_packets_unacked = 0;
    }

    pub(super) fn write_forward_tsn_chunk(&mut self, out: &mut Vec<u8>, mtu: usize) {
        let adv = self.adv_peer_ack_point();
        if adv == self.cum_ack {
            return;
        }
        if self.interleaving() {
            // (stream, unordered, MID): the highest skipped ordered MID per stream, and every
            // skipped unordered message.
            let mut entries: Vec<(u16, bool, u32)> = Vec::new();
            for c in &self.outstanding {
                if c.tsn == adv.wrapping_add(1) {
                    break;
                }
                let unordered = c.flags & data_flags::UNORDERED != 0;
                match entries.iter_mut().find(|(s, u, m)| {
                    *s == c.stream_id && *u == unordered && (!unordered || *m == c.mid)
                }) {
                    Some(e) => e.2 = c.mid,
                    None => entries.push((c.stream_id, unordered, c.mid)),
                }
            }
            let room = mtu.saturating_sub(out.len() + 8) / 8;
            entries.truncate(room);
            write_i_forward_tsn(out, adv, &entries);
            return;
        }
        let mut streams: Vec<(u16, u16)> = Vec::new();
        for c in &self.outstanding {
            if c.tsn == adv.wrapping_add(1) {
                break;
            }
            if c.flags & data_flags::UNORDERED == 0 {
                match streams.iter_mut().find(|(s, _)| *s == c.stream_id) {
                    Some(e) => e.1 = c.ssn,
                    None => streams.push((c.stream_id, c.ssn)),
                }
            }
        }
        let room = mtu.saturating_sub(out.len() + 8) / 4;
        streams.truncate(room);
        write_forward_tsn(out, adv, &streams);
    }

    pub(super) fn write_data_chunks(&mut self, now: Instant, out: &mut Vec<u8>, mtu: usize) {
        let ignore_cwnd = std::mem::take(&mut self.fast_rtx_ignore_cwnd);
        let header_len = self.data_header_len();
        // Retransmissions first, oldest first.
        if self.retransmit_pending > 0 {
            for i in 0..self.outstanding.len() {
                if self.retransmit_pending == 0 {
                    break;
                }
                let c = &self.outstanding[i];
                if c.state != ChunkState::Retransmit {
                    continue;
                }
                let len = c.len;
                // A chunk cut before the MTU shrank goes out alone rather than never.
                if out.len() + header_len + len > mtu && out.len() > COMMON_HEADER_LEN {
                    return;
                }
                if !ignore_cwnd && self.in_flight >= self.cwnd {
                    return;
                }
                if self.peer_rwnd < len && self.in_flight > 0 && !ignore_cwnd {
                    return;
                }
                self.retransmit_pending -= 1;
                self.stats.retransmissions += 1;
                self.transmit_chunk(now, i, out);
            }
        }
        let max_payload = self.max_payload();
        let interleaving = self.interleaving();
        loop {
            if self.in_flight >= self.cwnd {
                return;
            }
            let room = mtu.saturating_sub(out.len() + header_len) & !3;
            if room == 0 {
                return;
            }
            let sid = match self.current_stream {
                Some(s) => s,
                None => match self.ready_streams.pop_front() {
                    Some(s) => {
                        self.current_stream = Some(s);
                        s
                    }
                    None => return,
                },
            };
            let Some(st) = self.out_streams.get_mut(&sid) else {
                self.current_stream = None;
                continue;
            };
            let Some(m) = st.queue.front_mut() else {
                self.current_stream = None;
                continue;
            };
            if m.offset == 0 && m.expires.is_some_and(|e| now >= e) {
                // Expired before any of it was sent: dropped without using a TSN.
                let m = st.queue.pop_front().expect("front exists");
                self.payloads.release(m.payload, &mut self.pool);
                self.send_buffered -= m.len + SEND_MESSAGE_OVERHEAD;
                let more = !st.queue.is_empty();
                self.queued_messages -= 1;
                self.current_stream = None;
                if more {
                    self.ready_streams.push_back(sid);
                }
                self.stats.messages_abandoned += 1;
                if m.counted {
                    self.reduce_buffered(sid, m.len);
                }
                continue;
            }
            let remaining = m.len - m.offset;
            let mut len = remaining.min(max_payload);
            // A packet already carrying control chunks takes a shorter fragment, unless the
            // space left is small.
            if len > room {
                if room < 512 {
                    return;
                }
                len = room;
            }
            if self.peer_rwnd < len && self.in_flight > 0 {
                return;
            }
            if m.offset == 0 {
                if interleaving {
                    let counter = if m.unordered {
                        &mut st.next_unordered_mid
                    } else {
                        &mut st.next_mid
                    };
                    m.mid = *counter;
                    *counter = counter.wrapping_add(1);
                } else if !m.unordered {
                    m.ssn = st.next_ssn;
                    st.next_ssn = st.next_ssn.wrapping_add(1);
                }
            }
            let mut flags = if m.unordered {
                data_flags::UNORDERED
            } else {
                0
            };
            if m.offset == 0 {
                flags |= data_flags::BEGIN;
            }
            if len == remaining {
                flags |= data_flags::END;
            }
            let chunk = OutChunk {
                tsn: self.next_tsn,
                stream_id: sid,
                ssn: if m.unordered { 0 } else { m.ssn },
                ppid: m.ppid,
                flags,
                payload: m.payload,
                offset: m.offset,
                len,
                state: ChunkState::InFlight,
                sent_at: None,
                transmits: 0,
                misses: 0,
                fast_retransmitted: false,
                max_retransmits: m.max_retransmits,
                expires: m.expires,
                message_id: m.id,
                mid: m.mid,
                fsn: m.fsn,
            };
            m.offset += len;
            m.fsn = m.fsn.wrapping_add(1);
            let counted = m.counted;
            if flags & data_flags::END != 0 {
                // The last fragment takes over the queue's reference to the payload.
                st.queue.pop_front();
                self.queued_messages -= 1;
                self.current_stream = None;
                if !st.queue.is_empty() {
                    self.ready_streams.push_back(sid);
                }
            } else {
                // A chunk's reference; the queue keeps its own for the fragments to come.
                self.payloads.retain(m.payload);
                if interleaving {
                    // I-DATA: the next stream's turn after every fragment.
                    self.current_stream = None;
                    self.ready_streams.push_back(sid);
                }
            }
            if chunk.max_retransmits.is_some() || chunk.expires.is_some() {
                self.pr_chunks += 1;
            }
            self.next_tsn = self.next_tsn.wrapping_add(1);
            self.outstanding.push_back(chunk);
            if counted {
                self.reduce_buffered(sid, len);
            }
            let i = self.outstanding.len() - 1;
            self.transmit_chunk(now, i, out);
        }
    }

    pub(super) fn transmit_chunk(&mut self, now: Instant, i: usize, out: &mut Vec<u8>) {
        let c = &mut self.outstanding[i];
        c.state = ChunkState::InFlight;
        c.transmits += 1;
        c.misses = 0;
        c.sent_at = Some(now);
        let data = &self.payloads.get(c.payload)[c.offset..c.offset + c.len];
        if self.peer.is_some_and(|p| p.interleaving) {
            let ppid_or_fsn = if c.flags & data_flags::BEGIN != 0 {
                c.ppid
            } else {
                c.fsn
            };
            Chunk::IData(crate::chunk::IDataChunk {
                flags: c.flags,
                tsn: c.tsn,
                stream_id: c.stream_id,
                mid: c.mid,
                ppid_or_fsn,
                payload: data,
            })
            .write(out);
        } else {
            write_data(out, c.flags, c.tsn, c.stream_id, c.ssn, c.ppid, data);
        }
        let len = c.len;
        self.in_flight += len;
        self.peer_rwnd = self.peer_rwnd.saturating_sub(len);
        if self.t3.is_none() {
            self.t3 = Some(now + self.rto);
        }
    }
}
