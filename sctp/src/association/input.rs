//! Input: a received packet's verification tag, its chunks dispatched to the handshake, the
//! sender (SACKs), the receiver (DATA, I-DATA, FORWARD-TSN), stream reconfiguration and shutdown,
//! and the replies a peer's input may ask for (bounded).

use super::*;

impl Association {
    /// Handles one SCTP packet (the payload of a DTLS application-data record).
    pub fn handle_receive(&mut self, now: Instant, packet: &[u8]) {
        self.stats.packets_received += 1;
        // RFC 9653 5.4: an all-zero checksum is accepted only by an endpoint that announced it
        // (our INIT or INIT-ACK carried Zero Checksum Acceptable, which `config.zero_checksum`
        // makes it do), and never on an INIT (a sender MUST compute the CRC32c of an INIT).
        let first_is_init = packet.get(COMMON_HEADER_LEN) == Some(&chunk_type::INIT);
        let parsed = if self.config.zero_checksum && !first_is_init {
            SctpPacket::parse_zero_checksum_ok(packet)
        } else {
            SctpPacket::parse(packet)
        };
        let p = match parsed {
            Ok(p) => p,
            Err(e) => {
                if matches!(e, crate::error::ParseError::BadChecksum { received: 0, .. }) {
                    self.stats.zero_checksum_refused += 1;
                }
                self.stats.packets_dropped += 1;
                return;
            }
        };
        if p.destination_port() != self.config.local_port {
            self.stats.packets_dropped += 1;
            return;
        }
        let vtag = p.verification_tag();
        let mut chunks = p.chunks();
        let Some(first) = chunks.clone().next() else {
            return;
        };
        // Verification tag rules (RFC 9260 8.5, 8.5.1).
        let tag_ok = match first {
            Chunk::Init(_) => vtag == 0,
            Chunk::Abort { reflected, .. } | Chunk::ShutdownComplete { reflected } => {
                if reflected {
                    self.peer.is_some_and(|p| p.tag == vtag)
                } else {
                    vtag == self.local_tag
                }
            }
            _ => vtag == self.local_tag,
        };
        if !tag_ok {
            self.stats.packets_dropped += 1;
            self.stats.wrong_tag += 1;
            return;
        }
        let mut had_data = false;
        let mut immediate = false;
        for chunk in chunks.by_ref() {
            match chunk {
                Chunk::Data(d) if d.payload.is_empty() && self.peer.is_some() => {
                    // RFC 9260 6.2: a DATA chunk without user data aborts the association.
                    self.send_abort_with(cause_code::NO_USER_DATA, &d.tsn.to_be_bytes());
                    self.close(CloseReason::LocalAbort);
                    return;
                }
                Chunk::Data(d) => {
                    had_data = true;
                    if d.flags & data_flags::IMMEDIATE != 0 {
                        immediate = true;
                    }
                    self.on_data(&d);
                }
                Chunk::Init(i) => {
                    self.on_init(now, &i);
                    break;
                }
                Chunk::InitAck(i) => {
                    self.on_init_ack(now, &i);
                    break;
                }
                Chunk::CookieEcho(c) => self.on_cookie_echo(now, c),
                Chunk::CookieAck => {
                    if self.state == State::CookieEchoed {
                        self.init_timer = None;
                        self.cookie = None;
                        self.established(now);
                    }
                }
                Chunk::Sack(s) => self.on_sack(now, &s),
                Chunk::Heartbeat(params) => {
                    if self.peer.is_some() {
                        let bytes = params.as_bytes();
                        self.queue_reply(4 + bytes.len().next_multiple_of(4), |o| {
                            write_tlv_chunk(o, chunk_type::HEARTBEAT_ACK, 0, |o| {
                                o.extend_from_slice(bytes)
                            })
                        });
                    }
                }
                Chunk::HeartbeatAck(info) => self.on_heartbeat_ack(now, &info),
                Chunk::Abort { .. } => {
                    if self.state != State::Closed || self.peer.is_some() {
                        self.close(CloseReason::PeerAbort);
                    }
                    return;
                }
                Chunk::Shutdown { cum_tsn_ack } => self.on_shutdown(now, cum_tsn_ack),
                Chunk::ShutdownAck => {
                    if matches!(self.state, State::ShutdownSent | State::ShutdownAckSent) {
                        let mut out = Vec::with_capacity(16);
                        begin_packet(
                            &mut out,
                            self.config.local_port,
                            self.config.remote_port,
                            self.peer.map_or(0, |p| p.tag),
                        );
                        write_chunk_with(&mut out, chunk_type::SHUTDOWN_COMPLETE, 0, |_| {});
                        finish_packet(&mut out, false);
                        self.control.push_back(out);
                        self.close(CloseReason::Shutdown);
                    }
                    return;
                }
                Chunk::ShutdownComplete { .. } => {
                    if self.state == State::ShutdownAckSent {
                        self.close(CloseReason::Shutdown);
                    }
                    return;
                }
                Chunk::Error(causes) => {
                    let stale = causes.iter().any(|c| c.kind == cause_code::STALE_COOKIE);
                    if stale && self.state == State::CookieEchoed {
                        // Start over (RFC 9260 5.2.6).
                        self.peer = None;
                        self.receiver = None;
                        self.cookie = None;
                        self.state = State::CookieWait;
                        self.send_init();
                        self.init_timer = Some(now + self.rto);
                        return;
                    }
                }
                Chunk::ForwardTsn(f) => {
                    if let Some(r) = self.receiver.as_mut() {
                        r.on_forward_tsn(f.new_cum_tsn, f.streams());
                        self.sack_now = true;
                        self.drain_messages();
                        self.process_pending_incoming_reset();
                    }
                }
                Chunk::ReConfig(params) => self.on_reconfig(params),
                Chunk::IData(d) if self.interleaving() && d.payload.is_empty() => {
                    self.send_abort_with(cause_code::NO_USER_DATA, &d.tsn.to_be_bytes());
                    self.close(CloseReason::LocalAbort);
                    return;
                }
                Chunk::IData(d) if self.interleaving() => {
                    had_data = true;
                    if d.flags & data_flags::IMMEDIATE != 0 {
                        immediate = true;
                    }
                    self.on_idata(&d);
                }
                Chunk::IForwardTsn(f) if self.interleaving() => {
                    if let Some(r) = self.receiver.as_mut() {
                        r.on_i_forward_tsn(f.new_cum_tsn, f.entries());
                        self.sack_now = true;
                        self.drain_messages();
                        self.process_pending_incoming_reset();
                    }
                }
                Chunk::IData(_) | Chunk::IForwardTsn(_) => {
                    // Not negotiated: a protocol violation (RFC 8260 2.2).
                    self.send_abort(cause_code::PROTOCOL_VIOLATION);
                    self.close(CloseReason::LocalAbort);
                    return;
                }
                Chunk::Unknown {
                    chunk_type, value, ..
                } => {
                    let action = UnknownAction::from_bits(chunk_type >> 6);
                    if matches!(
                        action,
                        UnknownAction::StopAndReport | UnknownAction::SkipAndReport
                    ) && self.peer.is_some()
                    {
                        let mut header = vec![chunk_type, 0];
                        header.extend_from_slice(&((value.len() + 4) as u16).to_be_bytes());
                        header.extend_from_slice(value);
                        self.queue_reply(8 + header.len().next_multiple_of(4), |o| {
                            write_tlv_chunk(o, chunk_type::ERROR, 0, |o| {
                                write_tlv(o, cause_code::UNRECOGNIZED_CHUNK_TYPE, &header)
                            })
                        });
                    }
                    if matches!(action, UnknownAction::Stop | UnknownAction::StopAndReport) {
                        break;
                    }
                }
            }
        }
        if had_data {
            self.data_packets_unacked += 1;
            let gaps = self.receiver.as_ref().is_some_and(|r| r.has_gaps());
            if immediate || gaps || self.data_packets_unacked >= 2 {
                self.sack_now = true;
            } else if self.sack_deadline.is_none() {
                self.sack_deadline = Some(now + self.config.delayed_ack);
            }
        }
        self.maybe_progress_shutdown(now);
    }

    pub(super) fn on_data(&mut self, d: &crate::chunk::DataChunk<'_>) {
        self.stats.data_chunks_received += 1;
        if !matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownSent
        ) {
            self.stats.data_before_established += 1;
            return;
        }
        let Some(r) = self.receiver.as_mut() else {
            return;
        };
        let accept = r.on_data(d, self.event_bytes, &mut self.pool);
        self.on_accept(accept);
        self.drain_messages();
        self.process_pending_incoming_reset();
    }

    pub(super) fn on_idata(&mut self, d: &crate::chunk::IDataChunk<'_>) {
        self.stats.data_chunks_received += 1;
        if !matches!(
            self.state,
            State::Established | State::ShutdownPending | State::ShutdownSent
        ) {
            self.stats.data_before_established += 1;
            return;
        }
        let Some(r) = self.receiver.as_mut() else {
            return;
        };
        let accept = r.on_idata(d, self.event_bytes, &mut self.pool);
        self.on_accept(accept);
        self.drain_messages();
        self.process_pending_incoming_reset();
    }

    pub(super) fn on_accept(&mut self, accept: Accept) {
        match accept {
            Accept::New => {}
            Accept::Duplicate => self.sack_now = true,
            Accept::Dropped => {
                self.stats.data_dropped += 1;
                self.sack_now = true;
            }
            Accept::InvalidStream(sid) => {
                // RFC 9260 6.5: acknowledge, report at once, discard.
                self.stats.invalid_stream_data += 1;
                self.sack_now = true;
                let mut value = [0u8; 4];
                value[..2].copy_from_slice(&sid.to_be_bytes());
                self.queue_reply(12, |o| {
                    write_tlv_chunk(o, chunk_type::ERROR, 0, |o| {
                        write_tlv(o, cause_code::INVALID_STREAM_ID, &value)
                    })
                });
            }
        }
    }

    /// Queues a whole packet the peer's input asked for (INIT-ACK, stale-cookie ERROR); beyond
    /// `MAX_REPLY_PACKETS` waiting it is dropped and counted.
    pub(super) fn push_reply_packet(&mut self, packet: Vec<u8>) {
        if self.control.len() >= MAX_REPLY_PACKETS {
            self.stats.replies_dropped += 1;
            return;
        }
        self.control.push_back(packet);
    }

    /// Queues a chunk the peer's input asked for (HEARTBEAT-ACK, ERROR reports) if it fits,
    /// with what is already queued, in one packet beside a SACK; otherwise it is dropped (and
    /// counted), so a peer cannot grow our pending output.
    pub(super) fn queue_reply(&mut self, len: usize, write: impl FnOnce(&mut Vec<u8>)) {
        let budget = self
            .config
            .max_packet_size
            .saturating_sub(COMMON_HEADER_LEN + REPLY_RESERVE);
        if self.pending_chunks.len() + len > budget {
            self.stats.replies_dropped += 1;
            return;
        }
        write(&mut self.pending_chunks);
    }
}
