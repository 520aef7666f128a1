//! Stream reconfiguration (RFC 6525): outgoing SSN reset requests, answering the peer's, and the
//! responses.

use super::*;

/// Most RE-CONFIG responses waiting to be sent (12 bytes each).
const MAX_RECONFIG_RESPONSES: usize = 16;
/// Most streams in one outgoing reset request of ours (2 bytes each).
const MAX_RESET_STREAMS: usize = 256;

impl Association {
    /// Treats our pending outgoing reset of `stream` as performed. The data-channel layer calls
    /// this when the peer opens the stream again: the peer reuses a stream only after it has
    /// performed our reset, so only its response is still on the way (or lost).
    pub fn assume_outgoing_reset_done(&mut self, stream: u16) {
        let Some(req) = self.reconfig_out.as_mut() else {
            return;
        };
        let Some(pos) = req.streams.iter().position(|s| *s == stream) else {
            return;
        };
        req.streams.remove(pos);
        if req.streams.is_empty() {
            // Nothing left to wait for; the sequence number stays used, as the peer saw it.
            self.reconfig_out = None;
        }
        if let Some(st) = self.out_streams.get_mut(&stream) {
            st.next_ssn = 0;
            st.next_mid = 0;
            st.next_unordered_mid = 0;
            st.resetting = false;
        }
    }

    pub(super) fn on_reconfig(&mut self, params: Tlvs<'_>) {
        if self.peer.is_none() {
            return;
        }
        for tlv in params.iter() {
            let Ok(p) = ReconfigParam::from_tlv(tlv) else {
                continue;
            };
            match p {
                ReconfigParam::OutgoingReset {
                    request_seq,
                    last_tsn,
                    streams,
                    ..
                } => {
                    if request_seq == self.peer_next_reconfig_seq {
                        self.peer_next_reconfig_seq = request_seq.wrapping_add(1);
                        let list: Vec<u16> = streams.iter().take(1024).collect();
                        self.pending_incoming_reset = Some((request_seq, last_tsn, list));
                        self.process_pending_incoming_reset();
                    } else if request_seq.wrapping_add(1) == self.peer_next_reconfig_seq {
                        // A retransmitted request: answer again if we already did.
                        if let Some((seq, result)) = self.last_reconfig_response
                            && seq == request_seq
                        {
                            self.push_reconfig_response(seq, result);
                        }
                    } else {
                        self.push_reconfig_response(
                            request_seq,
                            reconfig_result::ERROR_BAD_SEQUENCE,
                        );
                    }
                }
                ReconfigParam::IncomingReset { request_seq, .. }
                | ReconfigParam::SsnTsnReset { request_seq }
                | ReconfigParam::AddStreams { request_seq, .. } => {
                    if request_seq == self.peer_next_reconfig_seq {
                        self.peer_next_reconfig_seq = request_seq.wrapping_add(1);
                    }
                    self.push_reconfig_response(request_seq, reconfig_result::DENIED);
                }
                ReconfigParam::Response {
                    response_seq,
                    result,
                    ..
                } => {
                    let Some(req) = &self.reconfig_out else {
                        continue;
                    };
                    if req.seq != response_seq {
                        continue;
                    }
                    if result == reconfig_result::IN_PROGRESS {
                        continue;
                    }
                    let req = self.reconfig_out.take().expect("checked above");
                    for s in &req.streams {
                        if let Some(st) = self.out_streams.get_mut(s) {
                            st.next_ssn = 0;
                            st.next_mid = 0;
                            st.next_unordered_mid = 0;
                            st.resetting = false;
                        }
                    }
                    self.events
                        .push_back(Event::OutgoingStreamsReset(req.streams));
                }
                ReconfigParam::Unknown(_) => {}
            }
        }
    }

    /// Queues a RE-CONFIG response; beyond `MAX_RECONFIG_RESPONSES` waiting it is dropped and
    /// counted (the peer retransmits a request it gets no answer to).
    fn push_reconfig_response(&mut self, seq: u32, result: u32) {
        if self.reconfig_responses.len() >= MAX_RECONFIG_RESPONSES {
            self.stats.replies_dropped += 1;
            return;
        }
        self.reconfig_responses.push((seq, result));
    }

    pub(super) fn process_pending_incoming_reset(&mut self) {
        let Some((seq, last_tsn, _)) = &self.pending_incoming_reset else {
            return;
        };
        let (seq, last_tsn) = (*seq, *last_tsn);
        let Some(r) = self.receiver.as_mut() else {
            return;
        };
        if !r.reached(last_tsn) {
            return;
        }
        let (_, _, streams) = self.pending_incoming_reset.take().expect("checked above");
        r.reset_streams(&streams);
        self.push_reconfig_response(seq, reconfig_result::SUCCESS_PERFORMED);
        self.last_reconfig_response = Some((seq, reconfig_result::SUCCESS_PERFORMED));
        self.events.push_back(Event::IncomingStreamsReset(streams));
    }

    pub(super) fn write_reconfig(&mut self, now: Instant, out: &mut Vec<u8>, mtu: usize) {
        let mut body = Vec::new();
        for (seq, result) in self.reconfig_responses.drain(..) {
            ReconfigParam::Response {
                response_seq: seq,
                result,
                next_tsns: None,
            }
            .write(&mut body);
        }
        if self.reconfig_out.is_none() && !self.reconfig_queue.is_empty() {
            // A stream is reset only once all its queued data has TSNs, so the request's last
            // TSN covers it.
            // At most MAX_RESET_STREAMS per request, so it fits a packet; the rest wait for
            // the next one.
            let (mut streams, mut wait): (Vec<u16>, Vec<u16>) =
                std::mem::take(&mut self.reconfig_queue)
                    .into_iter()
                    .partition(|s| self.out_streams.get(s).is_none_or(|st| st.queue.is_empty()));
            if streams.len() > MAX_RESET_STREAMS {
                wait.extend(streams.drain(MAX_RESET_STREAMS..));
            }
            self.reconfig_queue = wait;
            if !streams.is_empty() {
                let seq = self.next_reconfig_seq;
                self.next_reconfig_seq = seq.wrapping_add(1);
                self.reconfig_out = Some(ReconfigRequest {
                    seq,
                    last_tsn: self.next_tsn.wrapping_sub(1),
                    streams,
                    sent_at: None,
                });
            }
        }
        if let Some(req) = &mut self.reconfig_out
            && req.sent_at.is_none()
        {
            req.sent_at = Some(now);
            write_outgoing_reset(
                &mut body,
                req.seq,
                self.peer_next_reconfig_seq.wrapping_sub(1),
                req.last_tsn,
                &req.streams,
            );
        }
        if body.is_empty() {
            return;
        }
        if out.len() + 4 + body.len() > mtu {
            // Cannot fit now: send alone in the next packet.
            let mut own = Vec::new();
            begin_packet(
                &mut own,
                self.config.local_port,
                self.config.remote_port,
                self.peer.map_or(0, |p| p.tag),
            );
            write_tlv_chunk(&mut own, chunk_type::RE_CONFIG, 0, |o| {
                o.extend_from_slice(&body)
            });
            finish_packet(&mut own, false);
            self.control.push_back(own);
            return;
        }
        write_tlv_chunk(out, chunk_type::RE_CONFIG, 0, |o| {
            o.extend_from_slice(&body)
        });
    }
}
