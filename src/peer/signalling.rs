//! Offer/answer: transceivers, descriptions, candidates (trickled and mDNS), ICE restart, and
//! putting a finished negotiation to work (ICE credentials and candidates, DTLS, SCTP, media).

use super::*;

impl PeerConnection {
    /// Adds a transceiver (audio or video) to the next offer, or to match the next remote offer.
    /// Without `send_ssrcs` it gets a random SSRC (signalled with `a=ssrc` and our CNAME), which
    /// [`PeerConnection::write_rtp`] sends on, and another for RTX when its codecs include
    /// `rtx` (`a=ssrc-group:FID`; NACKed packets are sent again on it). Adding one after the
    /// connection is up takes a renegotiation (a new offer).
    pub fn add_transceiver(&mut self, mut transceiver: Transceiver) -> TransceiverId {
        if transceiver.send_ssrcs.is_none() {
            let media = self.media.new_ssrc();
            let rtx = transceiver.codecs.iter().any(Codec::is_rtx).then(|| {
                loop {
                    let rtx = self.media.new_ssrc();
                    if rtx != media {
                        break rtx;
                    }
                }
            });
            transceiver.send_ssrcs = Some((media, rtx));
        }
        if transceiver.cname.is_none() {
            transceiver.cname = Some(self.media.cname().to_owned());
        }
        self.negotiation_needed();
        self.jsep.add_transceiver(transceiver)
    }

    /// A transceiver, to change its direction or stop it (takes effect with the next offer).
    pub fn transceiver_mut(&mut self, id: TransceiverId) -> Option<&mut Transceiver> {
        self.jsep.transceiver_mut(id)
    }

    /// The mid of a transceiver: given by the offer that brought it (ours, once created, or
    /// the peer's).
    pub fn transceiver_mid(&self, id: TransceiverId) -> Option<Mid> {
        self.jsep.transceiver_mid(id)
    }

    /// Asks for an SCTP data channel section in the next offer (needed only when the
    /// connection was created with `data_channels: false`; takes a renegotiation).
    pub fn add_data_channel_section(&mut self) {
        self.jsep.add_data_channel();
        self.negotiation_needed();
    }

    /// After the first exchange, changes need a new one: tell the application.
    pub(super) fn negotiation_needed(&mut self) {
        if self.negotiated {
            self.events.push_back(Event::NegotiationNeeded);
        }
    }

    /// Restarts ICE with new credentials: call, then create and exchange a new offer
    /// (RFC 8445 9). Media and data keep flowing on the old pair until the new one is selected.
    pub fn restart_ice(&mut self) {
        self.jsep.restart_ice();
        self.ice_restart_requested = true;
        self.negotiation_needed();
    }

    pub(super) fn ensure_agent(&mut self, now: Instant, controlling: bool) {
        if self.agent.is_some() {
            return;
        }
        let creds = self.jsep.local_ice().clone();
        let mut cfg = AgentConfig::new(controlling, &creds.ufrag, &creds.pwd);
        cfg.answer_unauthenticated = self.config.answer_unauthenticated_stun;
        let all = self.config.ice_transport_policy == IceTransportPolicy::All;
        if all {
            cfg.stun_servers = self.config.stun_servers.clone();
        }
        let mut agent = Agent::new(cfg, self.config.rng.fork());
        if all {
            for &a in &self.locals {
                if let Some(c) = agent.add_host_candidate(a) {
                    self.local_candidates.push(c.to_string());
                }
            }
            for &a in &self.tcp_locals {
                if let Some(c) = agent.add_passive_tcp_candidate(a) {
                    self.local_candidates.push(c.to_string());
                }
            }
        }
        // Gathering starts now, with the first description: server-reflexive candidates
        // (STUN) and relayed ones (TURN) come as Event::LocalCandidate, then
        // Event::GatheringComplete; `local_description` has them all.
        agent.gather(now);
        self.agent = Some(agent);
        self.relays.start(
            now,
            &self.config.turn_servers,
            &self.locals,
            &mut self.config.rng,
        );
    }

    /// Reports [`Event::GatheringComplete`] once the agent and every relay are done.
    pub(super) fn check_gathering_complete(&mut self) {
        if self.agent_gathered && !self.relays.pending() && !self.gathering_complete {
            self.gathering_complete = true;
            self.events.push_back(Event::GatheringComplete);
        }
    }

    /// Whether anything could ever be a candidate: a registered address, or a TURN server
    /// (with the `Relay` policy, only a TURN server).
    fn check_candidates(&self) -> Result<(), Error> {
        let relay_only = self.config.ice_transport_policy == IceTransportPolicy::Relay;
        let turn = !self.config.turn_servers.is_empty();
        // Relays are reached from a registered socket too.
        if (self.locals.is_empty() && self.tcp_locals.is_empty()) || (relay_only && !turn) {
            return Err(Error::NoCandidates);
        }
        Ok(())
    }

    /// The current local description (the offer or answer last created) with every candidate
    /// gathered so far, and `a=end-of-candidates` once gathering is complete. A client that
    /// does not trickle (WHIP without PATCH) waits for [`Event::GatheringComplete`] and sends
    /// this; one that trickles sends the description at once and each
    /// [`Event::LocalCandidate`] as it comes.
    pub fn local_description(&self) -> Option<String> {
        let (_, text) = self.local_description.as_ref()?;
        // Our own serialization: it parses.
        let desc = SessionDescription::parse(text).ok()?;
        Some(self.with_candidates(desc))
    }

    pub(super) fn with_candidates(&self, mut desc: SessionDescription<'_>) -> String {
        if let Some(m) = desc.media.first_mut() {
            for c in &self.local_candidates {
                let value = c.strip_prefix("candidate:").unwrap_or(c);
                m.attributes
                    .push(Attribute::new("candidate", value.to_owned()));
            }
            if self.gathering_complete {
                m.attributes.push(Attribute::flag("end-of-candidates"));
            }
        }
        desc.to_sdp_string()
    }

    /// Creates an offer (and sets it as the local description). Candidates gathered so far
    /// are included (host candidates of every registered address at once; server-reflexive and
    /// relayed ones follow as [`Event::LocalCandidate`], and [`PeerConnection::local_description`]
    /// has them all). Also the way to renegotiate: after new transceivers, a data channel
    /// section, a direction change or [`PeerConnection::restart_ice`].
    pub fn create_offer(&mut self, now: Instant) -> Result<String, Error> {
        if self.closing.is_some() || self.state == ConnectionState::Closed {
            return Err(Error::Closed);
        }
        if self.pending_answer {
            return Err(StateError::AnsweringAnOffer.into());
        }
        self.check_candidates()?;
        self.ensure_agent(now, true);
        if std::mem::take(&mut self.ice_restart_requested)
            && self.negotiated
            && let Some(agent) = &mut self.agent
        {
            let creds = self.jsep.local_ice().clone();
            agent.restart(now, &creds.ufrag, &creds.pwd);
        }
        let offer = self.jsep.create_offer();
        self.local_description = Some((SdpType::Offer, offer.to_sdp_string().into()));
        let text = self.with_candidates(offer);
        self.drive(now);
        Ok(text)
    }

    /// Sets the local description: accepts the offer or answer this connection created (the
    /// JSEP session already holds it), with or without the candidates gathered since; a
    /// description of another kind, or a modified one (SDP munging), is refused.
    pub fn set_local_description(&mut self, kind: SdpType, sdp: &str) -> Result<(), Error> {
        let Some((created_kind, created)) = &self.local_description else {
            return Err(StateError::NoSuchLocalDescription.into());
        };
        let current = match kind {
            SdpType::Offer => self.jsep.has_pending_offer(),
            SdpType::Answer => self.negotiated && !self.pending_answer,
        };
        if *created_kind != kind || !current {
            return Err(StateError::NoSuchLocalDescription.into());
        }
        if without_candidates(sdp) != without_candidates(created) {
            return Err(StateError::LocalDescriptionModified.into());
        }
        Ok(())
    }

    /// Discards our pending offer (JSEP rollback), e.g. when both sides offered at once and we
    /// are the polite peer: then [`PeerConnection::set_remote_description`] takes the peer's
    /// offer.
    pub fn rollback(&mut self) {
        self.jsep.rollback();
    }

    /// Sets the remote description. For an offer, the answer is then available from
    /// [`PeerConnection::create_answer`]. Offers after the first renegotiate: new media
    /// sections, a data channel added later, direction changes, ICE restarts.
    pub fn set_remote_description(
        &mut self,
        now: Instant,
        kind: SdpType,
        sdp_text: &str,
    ) -> Result<(), Error> {
        if self.closing.is_some() || self.state == ConnectionState::Closed {
            return Err(Error::Closed);
        }
        let desc = SessionDescription::parse(sdp_text)?;
        let negotiated = match kind {
            SdpType::Offer => {
                if self.jsep.has_pending_offer() {
                    return Err(StateError::HaveLocalOffer.into());
                }
                self.check_candidates()?;
                self.ensure_agent(now, false);
                let (answer, negotiated) =
                    self.jsep.create_answer(&desc).map_err(NegotiationFailure)?;
                if negotiated.ice_restart
                    && self.negotiated
                    && let Some(agent) = &mut self.agent
                {
                    let creds = self.jsep.local_ice().clone();
                    agent.restart(now, &creds.ufrag, &creds.pwd);
                }
                self.pending_answer = true;
                self.local_description = Some((SdpType::Answer, answer.to_sdp_string().into()));
                negotiated
            }
            SdpType::Answer => {
                if !self.jsep.has_pending_offer() {
                    return Err(StateError::NoLocalOffer.into());
                }
                self.jsep
                    .set_remote_answer(&desc)
                    .map_err(NegotiationFailure)?
            }
        };
        self.apply(now, negotiated, kind == SdpType::Answer);
        // Non-trickle peers (and trickle peers done gathering) say so in the description.
        if desc
            .media
            .iter()
            .any(|m| m.port != 0 && m.end_of_candidates())
            && let Some(a) = &mut self.agent
        {
            a.end_of_remote_candidates();
        }
        self.drive(now);
        Ok(())
    }

    /// The answer to the remote offer last set (also the local description from then on),
    /// with the candidates gathered so far (see [`PeerConnection::create_offer`]).
    pub fn create_answer(&mut self, now: Instant) -> Result<String, Error> {
        if !std::mem::take(&mut self.pending_answer) {
            return Err(StateError::NoRemoteOffer.into());
        }
        self.drive(now);
        self.local_description()
            .ok_or(Error::State(StateError::NoRemoteOffer))
    }

    /// Adds a remote candidate (the `candidate:...` attribute value, trickled). An empty string
    /// means end-of-candidates.
    pub fn add_remote_candidate(&mut self, now: Instant, candidate: &str) -> Result<(), Error> {
        if candidate.trim().is_empty() {
            if let Some(a) = &mut self.agent {
                a.end_of_remote_candidates();
            }
            return Ok(());
        }
        let c = ice::candidate::Candidate::parse(candidate)?;
        if c.transport == Transport::Tcp {
            // We only accept TCP connections (passive candidates): a peer's active candidate
            // pairs when its connection's first check arrives, its passive and simultaneous-open
            // ones are of no use to us. Accepted and ignored.
            return Ok(());
        }
        if self.agent.is_some() && self.negotiated {
            self.give_remote_candidate(c);
        } else if self.pending_remote_candidates.len() < 64 {
            self.pending_remote_candidates.push(c);
        }
        self.drive(now);
        Ok(())
    }

    /// Hands a remote candidate to the agent; an mDNS one (`<uuid>.local`, how browsers hide
    /// their addresses) waits for [`PeerConnection::resolve_mdns`] and is announced with
    /// [`Event::ResolveMdns`].
    pub(super) fn give_remote_candidate(&mut self, c: ice::candidate::Candidate) {
        if let ice::candidate::CandidateAddress::Mdns(name, _) = &c.address {
            if self.mdns_pending.len() < MAX_MDNS_PENDING && !self.mdns_pending.contains(&c) {
                if !self
                    .mdns_pending
                    .iter()
                    .any(|p| matches!(&p.address, ice::candidate::CandidateAddress::Mdns(n, _) if n == name))
                {
                    self.events.push_back(Event::ResolveMdns(name.clone()));
                }
                self.mdns_pending.push(c);
            }
            return;
        }
        if let Some(a) = &mut self.agent {
            // Limits reached or a duplicate: the agent refuses it and we drop it.
            let _ = a.add_remote_candidate(c);
        }
    }

    /// The caller resolved an mDNS name from [`Event::ResolveMdns`]: the candidates waiting
    /// for it join ICE with that address.
    pub fn resolve_mdns(&mut self, now: Instant, name: &str, ip: std::net::IpAddr) {
        let (matching, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.mdns_pending)
            .into_iter()
            .partition(
                |c| matches!(&c.address, ice::candidate::CandidateAddress::Mdns(n, _) if n == name),
            );
        self.mdns_pending = rest;
        for mut c in matching {
            if let ice::candidate::CandidateAddress::Mdns(_, port) = c.address {
                c.address = ice::candidate::CandidateAddress::Ip(SocketAddr::new(ip, port));
                self.give_remote_candidate(c);
            }
        }
        self.drive(now);
    }

    /// Applies a completed offer/answer exchange to the transport, data channels and media.
    /// Puts a finished negotiation to work; `offered`: it completes our offer.
    pub(super) fn apply(&mut self, now: Instant, n: Negotiated, offered: bool) {
        let agent = self.agent.as_mut().expect("agent exists once negotiating");
        if let Some(ice) = n.sections.iter().find_map(|s| s.remote_ice.clone()) {
            agent.set_remote_credentials(&ice.ufrag, &ice.pwd);
        }
        agent.set_remote_lite(n.remote_ice_lite);
        let bundle_first = n.bundle.first().cloned();
        let mut candidates = Vec::new();
        for s in &n.sections {
            if s.rejected {
                continue;
            }
            // With BUNDLE only the tagged section's candidates matter; others repeat them.
            if bundle_first.as_ref().is_some_and(|b| *b != s.mid) && !s.remote_candidates.is_empty()
            {
                continue;
            }
            candidates.extend(s.remote_candidates.iter().cloned());
            self.stats.bad_candidates += s.skipped_candidates as u64;
        }
        // Then the ones trickled before the description.
        candidates.append(&mut self.pending_remote_candidates);
        for c in candidates {
            self.give_remote_candidate(c);
        }
        let agent = self.agent.as_mut().expect("agent exists once negotiating");
        agent.start(now);
        self.media
            .configure(&n, &self.jsep, self.config.rtcp_interval);
        let c = &self.config;
        self.media.ensure_bandwidth(
            || {
                crate::bandwidth::bwe_config(
                    c.min_bitrate,
                    c.start_bitrate,
                    c.max_bitrate,
                    c.probing,
                )
                .ok()
            },
            c.pacing,
        );
        // Media added by a renegotiation after DTLS connected.
        self.ensure_srtp();
        // One DtlsRole (sansrtc-core) for JSEP, DTLS, SRTP and SCTP alike.
        let role = n.dtls_role;
        if self.dtls.is_none() {
            let mut cfg = dtls::Config::new(self.certificate.clone());
            cfg.srtp_profiles = self.config.srtp_profiles.clone();
            cfg.cipher_suites = self.config.cipher_suites.clone();
            cfg.versions = self.config.dtls_versions;
            cfg.key_update_after = self.config.dtls_key_update_after;
            cfg.groups13 = self.config.dtls_groups13.clone();
            // JSEP refused any description without a usable fingerprint, so this list is never
            // empty (and an empty one would fail the handshake: the dtls crate fails closed).
            cfg.remote_fingerprints = n
                .remote_fingerprints
                .iter()
                .map(|f| dtls::Fingerprint {
                    algorithm: hash_algorithm(f.hash()),
                    value: f.digest().to_vec(),
                })
                .collect();
            let rng = Box::new(self.config.rng.fork());
            self.dtls = Some(match role {
                dtls::Role::Client => dtls::Endpoint::client(cfg, rng),
                dtls::Role::Server => dtls::Endpoint::server(cfg, rng),
            });
            self.dtls_role = Some(role);
            self.set_dtls_state(DtlsState::Connecting);
        }
        // The data channel section may come with the first negotiation or a later one.
        if let Some(data) = n
            .sections
            .iter()
            .find(|s| s.kind == SectionKind::Data && !s.rejected)
        {
            // 0 means the peer takes any size (RFC 8841 6).
            self.remote_max_message_size = match data.remote_max_message_size.unwrap_or(65_536) {
                0 => usize::MAX,
                m => usize::try_from(m).unwrap_or(usize::MAX),
            };
        }
        if self.sctp.is_none()
            && let Some(data) = n
                .sections
                .iter()
                .find(|s| s.kind == SectionKind::Data && !s.rejected)
        {
            let role = self.dtls_role.unwrap_or(role);
            let mut ec = sctp::EndpointConfig::new(role);
            ec.sctp.local_port = 5000;
            ec.sctp.remote_port = data.remote_sctp_port.unwrap_or(5000);
            ec.sctp.max_message_size = self.config.max_message_size;
            ec.sctp.max_buffered_amount = self.config.max_buffered_amount;
            ec.sctp.zero_checksum = self.config.sctp_zero_checksum;
            let mut rng = self.config.rng.fork();
            let mut endpoint = sctp::DataChannelEndpoint::new(ec, now, &mut rng);
            if self.dtls_state == DtlsState::Connected {
                endpoint.connect(now);
            }
            self.sctp = Some(endpoint);
            self.open_pending_channels(now);
        }
        if self.sctp.is_none() && self.channels.waiting().next().is_some() {
            if offered {
                // Our offer asked for data channels and the answer refused them.
                self.close_pending_channels();
            } else {
                // The peer's offer had no data section: ours comes with the next offer.
                self.events.push_back(Event::NegotiationNeeded);
            }
        }
        self.negotiated = true;
    }
}

/// The description without its candidate lines (what `set_local_description` compares).
fn without_candidates(sdp: &str) -> Vec<&str> {
    sdp.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with("a=candidate:") && *l != "a=end-of-candidates")
        .collect()
}
