//! Association setup: INIT / INIT-ACK / COOKIE-ECHO / COOKIE-ACK with a stateless, authenticated
//! cookie (RFC 9260 5), INIT collision, stale cookies, and the parameters we offer.

use super::*;

impl Association {
    pub(super) fn init_params(&self, out: &mut Vec<u8>) {
        write_tlv(out, param_type::FORWARD_TSN_SUPPORTED, &[]);
        if self.config.interleaving {
            write_tlv(
                out,
                param_type::SUPPORTED_EXTENSIONS,
                &[
                    chunk_type::RE_CONFIG,
                    chunk_type::FORWARD_TSN,
                    chunk_type::I_DATA,
                    chunk_type::I_FORWARD_TSN,
                ],
            );
        } else {
            write_tlv(
                out,
                param_type::SUPPORTED_EXTENSIONS,
                &[chunk_type::RE_CONFIG, chunk_type::FORWARD_TSN],
            );
        }
        if self.config.zero_checksum {
            // Error detection method 1: DTLS (RFC 9653 / RFC 8261).
            write_tlv(
                out,
                param_type::ZERO_CHECKSUM_ACCEPTABLE,
                &1u32.to_be_bytes(),
            );
        }
    }

    pub(super) fn send_init(&mut self) {
        let mut out = Vec::with_capacity(128);
        begin_packet(&mut out, self.config.local_port, self.config.remote_port, 0);
        let mut params = Vec::new();
        self.init_params(&mut params);
        Chunk::Init(InitChunk {
            initiate_tag: self.local_tag,
            a_rwnd: self.config.receive_window,
            outbound_streams: self.config.streams,
            inbound_streams: self.config.streams,
            initial_tsn: self.initial_tsn,
            params: Tlvs::parse(&params).expect("we wrote valid parameters"),
        })
        .write(&mut out);
        finish_packet(&mut out, false);
        self.control.push_back(out);
    }

    pub(super) fn peer_features(params: &Tlvs<'_>) -> (bool, bool, bool, bool) {
        let mut fwd = false;
        let mut reconfig = false;
        let mut zero = false;
        let mut idata = false;
        for p in params.iter() {
            match p.kind {
                param_type::FORWARD_TSN_SUPPORTED => fwd = true,
                param_type::SUPPORTED_EXTENSIONS => {
                    fwd |= p.value.contains(&chunk_type::FORWARD_TSN);
                    reconfig |= p.value.contains(&chunk_type::RE_CONFIG);
                    idata |= p.value.contains(&chunk_type::I_DATA)
                        && p.value.contains(&chunk_type::I_FORWARD_TSN);
                }
                param_type::ZERO_CHECKSUM_ACCEPTABLE => zero = p.value == 1u32.to_be_bytes(),
                param_type::STATE_COOKIE
                | param_type::UNRECOGNIZED_PARAMETER
                | param_type::IPV4_ADDRESS
                | param_type::IPV6_ADDRESS
                | param_type::COOKIE_PRESERVATIVE
                | param_type::SUPPORTED_ADDRESS_TYPES
                | param_type::ECN_CAPABLE => {}
                _ => {
                    if matches!(
                        p.unknown_action(),
                        UnknownAction::Stop | UnknownAction::StopAndReport
                    ) {
                        break;
                    }
                }
            }
        }
        (fwd, reconfig, zero, idata)
    }

    pub(super) fn on_init(&mut self, now: Instant, init: &InitChunk<'_>) {
        if init.initiate_tag == 0 || init.inbound_streams == 0 || init.outbound_streams == 0 {
            return;
        }
        if matches!(
            self.state,
            State::ShutdownAckSent | State::ShutdownSent | State::ShutdownReceived
        ) {
            return;
        }
        // Answer statelessly; in every state our tag and initial TSN stay the same, so an INIT
        // collision (RFC 9260 5.2.1) yields matching cookies on both sides.
        let (fwd, reconfig, zero, idata) = Self::peer_features(&init.params);
        let cookie = CookieParams {
            created_ms: now.saturating_duration_since(self.epoch).as_millis() as u64,
            local_tag: self.local_tag,
            peer_tag: init.initiate_tag,
            local_initial_tsn: self.initial_tsn,
            peer_initial_tsn: init.initial_tsn,
            peer_rwnd: init.a_rwnd,
            peer_outbound_streams: init.outbound_streams,
            peer_inbound_streams: init.inbound_streams,
            peer_features: fwd as u8
                | (reconfig as u8) << 1
                | (zero as u8) << 2
                | (idata as u8) << 3,
        }
        .seal(&self.key);
        let mut params = Vec::with_capacity(128);
        write_tlv(&mut params, param_type::STATE_COOKIE, &cookie);
        self.init_params(&mut params);
        for p in init.params.iter() {
            let known = matches!(
                p.kind,
                param_type::FORWARD_TSN_SUPPORTED
                    | param_type::SUPPORTED_EXTENSIONS
                    | param_type::ZERO_CHECKSUM_ACCEPTABLE
                    | param_type::IPV4_ADDRESS
                    | param_type::IPV6_ADDRESS
                    | param_type::COOKIE_PRESERVATIVE
                    | param_type::SUPPORTED_ADDRESS_TYPES
                    | param_type::ECN_CAPABLE
            );
            if !known {
                let action = p.unknown_action();
                if matches!(
                    action,
                    UnknownAction::StopAndReport | UnknownAction::SkipAndReport
                ) && params.len() < 512
                {
                    let mut inner = Vec::new();
                    p.write(&mut inner);
                    write_tlv(&mut params, param_type::UNRECOGNIZED_PARAMETER, &inner);
                }
                if matches!(action, UnknownAction::Stop | UnknownAction::StopAndReport) {
                    break;
                }
            }
        }
        let mut out = Vec::with_capacity(64 + params.len());
        begin_packet(
            &mut out,
            self.config.local_port,
            self.config.remote_port,
            init.initiate_tag,
        );
        Chunk::InitAck(InitChunk {
            initiate_tag: self.local_tag,
            a_rwnd: self.config.receive_window,
            outbound_streams: self.config.streams,
            inbound_streams: self.config.streams,
            initial_tsn: self.initial_tsn,
            params: Tlvs::parse(&params).expect("we wrote valid parameters"),
        })
        .write(&mut out);
        finish_packet(&mut out, false);
        self.push_reply_packet(out);
    }

    pub(super) fn on_init_ack(&mut self, now: Instant, ack: &InitChunk<'_>) {
        if self.state != State::CookieWait
            || ack.initiate_tag == 0
            || ack.inbound_streams == 0
            || ack.outbound_streams == 0
        {
            return;
        }
        let Some(cookie) = ack.params.find(param_type::STATE_COOKIE) else {
            return;
        };
        let (fwd, _reconfig, zero, idata) = Self::peer_features(&ack.params);
        self.setup_peer(
            ack.initiate_tag,
            ack.a_rwnd,
            ack.initial_tsn,
            (ack.outbound_streams, ack.inbound_streams),
            (
                fwd,
                zero && self.config.zero_checksum,
                idata && self.config.interleaving,
            ),
        );
        self.cookie = Some(cookie.to_vec());
        self.state = State::CookieEchoed;
        self.init_retransmits = 0;
        self.send_cookie_echo();
        self.init_timer = Some(now + self.rto);
    }

    /// Records the peer once its INIT or INIT-ACK is known. `peer_streams` is the peer's
    /// (outbound, inbound) stream counts: we receive on the smaller of our and its outbound
    /// counts and send on the smaller of ours and its inbound count (RFC 9260 5.1.1).
    pub(super) fn setup_peer(
        &mut self,
        tag: u32,
        rwnd: u32,
        initial_tsn: u32,
        (peer_outbound, peer_inbound): (u16, u16),
        (fwd, zero, interleaving): (bool, bool, bool),
    ) {
        self.in_stream_count = self.config.streams.min(peer_outbound);
        self.out_stream_count = self.config.streams.min(peer_inbound);
        self.peer = Some(Peer {
            tag,
            interleaving,
            forward_tsn: fwd,
            zero_checksum: zero,
        });
        self.peer_rwnd = rwnd as usize;
        self.ssthresh = rwnd as usize;
        self.peer_next_reconfig_seq = initial_tsn;
        let hard = self.config.receive_window as usize + self.config.receive_window as usize / 4;
        self.receiver = Some(Receiver::new(
            initial_tsn,
            self.config.max_message_size,
            hard,
            self.in_stream_count,
        ));
    }

    pub(super) fn send_cookie_echo(&mut self) {
        let (Some(cookie), Some(peer)) = (&self.cookie, self.peer) else {
            return;
        };
        let mut out = Vec::with_capacity(32 + cookie.len());
        begin_packet(
            &mut out,
            self.config.local_port,
            self.config.remote_port,
            peer.tag,
        );
        Chunk::CookieEcho(cookie).write(&mut out);
        finish_packet(&mut out, false);
        self.control.push_back(out);
    }

    pub(super) fn on_cookie_echo(&mut self, now: Instant, cookie: &[u8]) {
        if cookie.len() != COOKIE_LEN {
            return;
        }
        let Some(c) = CookieParams::open(&self.key, cookie) else {
            self.stats.packets_dropped += 1;
            return;
        };
        if c.local_tag != self.local_tag || c.local_initial_tsn != self.initial_tsn {
            return;
        }
        // A duplicate COOKIE-ECHO for the association we have (our COOKIE-ACK was lost, RFC
        // 9260 5.2.4 case D) is answered whatever the cookie's age.
        let ours = self.peer.is_some_and(|p| p.tag == c.peer_tag);
        if ours
            && !matches!(
                self.state,
                State::Closed | State::CookieWait | State::CookieEchoed
            )
        {
            self.queue_simple(chunk_type::COOKIE_ACK);
            return;
        }
        let age = now.saturating_duration_since(self.epoch).as_millis() as u64;
        let lifetime = self.config.cookie_lifetime.as_millis() as u64;
        if age.saturating_sub(c.created_ms) > lifetime {
            // Stale cookie (RFC 9260 5.1.5, 5.2.6): report it so the peer starts over with INIT.
            let staleness_us = (age - c.created_ms - lifetime).saturating_mul(1000);
            let mut out = Vec::with_capacity(32);
            begin_packet(
                &mut out,
                self.config.local_port,
                self.config.remote_port,
                c.peer_tag,
            );
            write_tlv_chunk(&mut out, chunk_type::ERROR, 0, |o| {
                write_tlv(
                    o,
                    cause_code::STALE_COOKIE,
                    &(staleness_us.min(u32::MAX as u64) as u32).to_be_bytes(),
                )
            });
            finish_packet(&mut out, false);
            self.push_reply_packet(out);
            return;
        }
        match self.state {
            State::Closed | State::CookieWait | State::CookieEchoed => {
                if self.peer.is_none_or(|p| p.tag != c.peer_tag) {
                    self.setup_peer(
                        c.peer_tag,
                        c.peer_rwnd,
                        c.peer_initial_tsn,
                        (c.peer_outbound_streams, c.peer_inbound_streams),
                        (
                            c.peer_features & 1 != 0,
                            c.peer_features & 4 != 0 && self.config.zero_checksum,
                            c.peer_features & 8 != 0 && self.config.interleaving,
                        ),
                    );
                }
                self.init_timer = None;
                self.cookie = None;
                self.queue_simple(chunk_type::COOKIE_ACK);
                self.established(now);
            }
            _ => {
                // Duplicate COOKIE-ECHO for this association (RFC 9260 5.2.4 case D).
                if self.peer.is_some_and(|p| p.tag == c.peer_tag) {
                    self.queue_simple(chunk_type::COOKIE_ACK);
                }
            }
        }
    }

    /// Drops what was queued before the association was up on streams the peer did not
    /// grant (ids at or above the negotiated outbound count).
    fn drop_ungranted_streams(&mut self) {
        let limit = self.out_stream_count;
        for (&sid, st) in self.out_streams.iter_mut() {
            if sid < limit {
                continue;
            }
            for m in st.queue.drain(..) {
                self.queued_messages -= 1;
                self.send_buffered -= m.len - m.offset + SEND_MESSAGE_OVERHEAD;
                self.payloads.release(m.payload, &mut self.pool);
            }
        }
        self.out_streams.retain(|sid, _| *sid < limit);
        self.ready_streams.retain(|sid| *sid < limit);
        if self.current_stream.is_some_and(|sid| sid >= limit) {
            self.current_stream = None;
        }
    }

    pub(super) fn established(&mut self, now: Instant) {
        self.drop_ungranted_streams();
        self.state = State::Established;
        self.error_count = 0;
        self.heartbeat_due = self.config.heartbeat_interval.map(|i| now + i);
        self.rto = self.config.rto_initial;
        self.events.push_back(Event::Connected);
    }
}
