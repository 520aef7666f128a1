//! The transport: datagrams demultiplexed (RFC 7983) and admitted only from ICE-validated paths,
//! the selected path and its consent, sending through sockets or TURN relays, and moving output
//! between ICE, DTLS and SCTP.

use super::*;

impl PeerConnection {
    /// What TURN relays reported: new relayed candidates, data relayed from peers, failures.
    pub(super) fn on_relay_events(&mut self, now: Instant) {
        for e in std::mem::take(&mut self.relay_events) {
            match e {
                RelayEvent::Allocated { relayed, server } => {
                    if let Some(a) = &mut self.agent
                        && let Some(c) = a.add_relayed_candidate(relayed, server)
                    {
                        self.local_candidates.push(c.to_string());
                        self.events.push_back(Event::LocalCandidate(c.to_string()));
                    }
                }
                RelayEvent::Data {
                    peer,
                    relayed,
                    data,
                } => self.handle_datagram(now, Transport::Udp, peer, relayed, &data),
                RelayEvent::Failed { .. } => self.stats.relay_failures += 1,
            }
        }
        self.check_gathering_complete();
    }

    /// A datagram (or TCP frame) for one of our addresses (a socket, or a relayed address
    /// through TURN).
    pub(super) fn handle_datagram(
        &mut self,
        now: Instant,
        transport: Transport,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        let kind = demux::classify(datagram);
        if matches!(kind, Kind::Dtls | Kind::Rtp | Kind::Rtcp)
            && !self.is_validated_path_on(transport, destination, source)
        {
            // Only the peer knows the ICE password: anything from a path its checks did not
            // validate may come from anyone, and never reaches DTLS, SRTP or SCTP.
            self.stats.dropped_unvalidated += 1;
            return;
        }
        if matches!(kind, Kind::Dtls | Kind::Rtp | Kind::Rtcp) {
            // Traffic that uses the packet buffers keeps them (they are freed once it stops
            // for a while); STUN (consent checks every few seconds), garbage and datagrams from
            // paths nobody validated do not.
            self.last_activity = Some(now);
        }
        if kind != Kind::Stun
            && let Some(c) = self
                .paths
                .iter_mut()
                .find(|c| c.transport == transport && c.local == destination && c.remote == source)
        {
            c.packets_received += 1;
            c.bytes_received += datagram.len() as u64;
        }
        match kind {
            Kind::Stun => match &mut self.agent {
                Some(a) => {
                    if !a.handle_receive_on(now, transport, source, destination, datagram) {
                        self.stats.dropped_stun += 1;
                    }
                }
                None => self.stats.dropped_stun += 1,
            },
            Kind::Dtls if self.dtls.is_none() => self.stats.dropped_dtls += 1,
            Kind::Dtls => {
                // A server answers where the ClientHello came from (a validated path) until
                // ICE selects a pair.
                if self.path.is_none() {
                    self.set_path(transport, destination, source);
                }
                if let Some(d) = &mut self.dtls {
                    d.handle_receive(now, datagram);
                }
            }
            Kind::Rtp => self.receive_rtp(now, datagram),
            Kind::Rtcp => self.receive_rtcp(now, datagram),
            Kind::Unknown => self.stats.dropped_unknown += 1,
        }
    }

    /// Whether the path from our address `local` to the peer's `remote` may carry DTLS, SRTP
    /// and SCTP: the selected pair, or a path an authenticated ICE check validated (a check
    /// or answer with the right MESSAGE-INTEGRITY: only the peer knows the password). Consent
    /// lost forgets the path (RFC 7675). A server routing datagrams of many connections by
    /// source address creates a route only once this holds.
    pub fn is_validated_path(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.is_validated_path_on(Transport::Udp, local, remote)
    }

    /// [`Self::is_validated_path`] over `transport`: a TCP path (the stream the peer opened
    /// from `remote` to our passive candidate `local`) is distinct from a UDP path between the
    /// same addresses.
    pub fn is_validated_path_on(
        &self,
        transport: Transport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> bool {
        // The current path is always one (it is forgotten when consent goes): the common case
        // costs one comparison.
        if self.path == Some((local, remote)) && self.path_transport == transport {
            return true;
        }
        self.agent_validates(transport, local, remote)
    }

    /// What the ICE agent says of the path (the check behind [`Self::is_validated_path`]).
    fn agent_validates(&self, transport: Transport, local: SocketAddr, remote: SocketAddr) -> bool {
        self.agent.as_ref().is_some_and(|a| {
            a.is_validated_on(transport, local, remote)
                || (a.selected_pair() == Some((local, remote))
                    && a.selected_transport_of(ice::agent::COMPONENT) == Some(transport))
        })
    }

    /// The path DTLS, SRTP and SCTP are sent on, while it has ICE consent.
    pub(super) fn sending_path(&self) -> Option<(SocketAddr, SocketAddr)> {
        // Set only from a validated path and cleared when ICE forgets it (consent lost).
        self.path
    }

    pub(super) fn set_path(&mut self, transport: Transport, local: SocketAddr, remote: SocketAddr) {
        self.path = Some((local, remote));
        self.path_transport = transport;
        if !self
            .paths
            .iter()
            .any(|c| c.transport == transport && c.local == local && c.remote == remote)
        {
            if self.paths.len() >= MAX_PATHS {
                self.paths.remove(0);
            } else if self.paths.len() < 2 {
                // Most connections count one path or two: no room for four.
                self.paths.reserve_exact(1);
            }
            self.paths.push(PathCounters {
                transport,
                local,
                remote,
                packets_sent: 0,
                bytes_sent: 0,
                packets_received: 0,
                bytes_received: 0,
            });
        }
    }

    /// The path to send media on, or why there is none: nothing selected yet, or consent
    /// expired (RFC 7675: only ICE, a restart, brings it back).
    pub(super) fn consented_path(&mut self) -> Result<(SocketAddr, SocketAddr), Error> {
        match (self.path, self.sending_path()) {
            (_, Some(p)) => Ok(p),
            (Some(_), None) => {
                self.stats.dropped_no_consent += 1;
                Err(Error::NoConsent)
            }
            (None, None) => Err(Error::NotConnected),
        }
    }

    /// Sends a datagram from one of our addresses: a socket directly, a relayed address
    /// through its TURN server.
    pub(super) fn emit(
        &mut self,
        now: Instant,
        transport: Transport,
        source: SocketAddr,
        destination: SocketAddr,
        contents: PacketBuf,
    ) {
        if transport == Transport::Udp && self.relays.is_relayed(source) {
            self.relays.send(now, source, destination, &contents);
            self.stats.dropped_relay = self.relays.dropped;
            while let Some((local, server, bytes)) = self.relays.poll_transmit() {
                self.transmits.push_back(Transmit {
                    source: local,
                    destination: server,
                    transport: Transport::Udp,
                    contents: bytes.into(),
                });
            }
        } else {
            self.transmits.push_back(Transmit {
                source,
                destination,
                transport,
                contents,
            });
        }
    }

    /// Sends DTLS, SRTP or SRTCP on the selected path (over its transport), counted per path.
    pub(super) fn push(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: PacketBuf,
    ) {
        self.last_activity = Some(now);
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += contents.len() as u64;
        let transport = self.path_transport;
        if let Some(c) = self
            .paths
            .iter_mut()
            .find(|c| c.transport == transport && c.local == source && c.remote == destination)
        {
            c.packets_sent += 1;
            c.bytes_sent += contents.len() as u64;
        }
        self.emit(now, transport, source, destination, contents);
    }

    /// Moves output between the layers until nothing changes.
    pub(super) fn drive(&mut self, now: Instant) {
        for _ in 0..10_000 {
            let mut progress = false;
            if let Some(agent) = &mut self.agent {
                let mut out = Vec::new();
                while let Some(t) = agent.poll_transmit() {
                    out.push(t);
                }
                for t in out {
                    self.stats.datagrams_sent += 1;
                    self.stats.bytes_sent += t.contents.len() as u64;
                    self.emit(now, t.transport, t.source, t.destination, t.contents.into());
                }
                while let Some(e) = self.agent.as_mut().and_then(|a| a.poll_event()) {
                    progress = true;
                    self.on_agent_event(now, e);
                }
            }
            let path = self.sending_path();
            // DTLS swaps its datagram into our pooled buffer (no allocation); a buffer is taken
            // only when a datagram waits (an idle connection keeps none).
            while let Some(d) = self.dtls.as_mut().filter(|d| d.has_transmit()) {
                let mut datagram = self.buffers.take(0);
                if !d.poll_transmit_into(datagram.vec_mut()) {
                    break;
                }
                match path {
                    Some((l, r)) => self.push(now, l, r, datagram),
                    None => self.stats.dropped_no_consent += 1,
                }
            }
            loop {
                // Application data (SCTP) decrypted into one reused buffer, events in order.
                if let (Some(d), Some(s)) = (&mut self.dtls, &mut self.sctp)
                    && d.poll_application_data(&mut self.dtls_scratch)
                {
                    progress = true;
                    s.handle_receive(now, &self.dtls_scratch);
                    continue;
                }
                let Some(e) = self.dtls.as_mut().and_then(|d| d.poll_event()) else {
                    break;
                };
                progress = true;
                self.on_dtls_event(now, e);
            }
            // SCTP packets go into one reused buffer, are sealed by DTLS straight into a
            // pooled datagram, and leave on the path with consent: nothing allocated.
            let path = self.sending_path();
            if let (Some(s), Some(d)) = (&mut self.sctp, &mut self.dtls)
                && d.is_connected()
            {
                while s.poll_transmit_into(now, &mut self.sctp_scratch) {
                    progress = true;
                    let Some((local, remote)) = path else {
                        self.stats.dropped_no_consent += 1;
                        continue;
                    };
                    let mut datagram = self.buffers.take(self.sctp_scratch.len() + 64);
                    match d.seal_application_data(&self.sctp_scratch, datagram.vec_mut()) {
                        Ok(()) => self.sealed.push_back((local, remote, datagram)),
                        Err(_) => self.stats.dropped_sctp += 1,
                    }
                }
            }
            while let Some((local, remote, datagram)) = self.sealed.pop_front() {
                self.push(now, local, remote, datagram);
            }
            while let Some(e) = self.sctp.as_mut().and_then(|s| s.poll_event()) {
                progress = true;
                self.on_sctp_event(now, e);
            }
            if !progress {
                break;
            }
        }
        while let Some((local, server, bytes)) = self.relays.poll_transmit() {
            self.transmits.push_back(Transmit {
                source: local,
                destination: server,
                transport: Transport::Udp,
                contents: bytes.into(),
            });
        }
    }

    pub(super) fn on_agent_event(&mut self, now: Instant, e: AgentEvent) {
        match e {
            AgentEvent::StateChanged(s) => {
                if self
                    .path
                    .is_some_and(|(l, r)| !self.agent_validates(self.path_transport, l, r))
                {
                    // Consent expired (or ICE closed): the path is gone until ICE selects one.
                    self.path = None;
                }
                self.ice_state = s;
                self.events.push_back(Event::IceStateChange(s));
                self.update_state();
            }
            AgentEvent::SelectedPair {
                local,
                remote,
                transport,
                ..
            } => {
                self.set_path(transport, local, remote);
                if transport == Transport::Udp && self.relays.is_relayed(local) {
                    self.relays.selected(now, local, remote);
                }
                self.events.push_back(Event::SelectedPairChange {
                    local,
                    remote,
                    transport,
                });
                if let Some(d) = &mut self.dtls
                    && self.dtls_role == Some(dtls::Role::Client)
                    && !d.is_connected()
                {
                    d.connect(now);
                }
            }
            AgentEvent::LocalCandidate(c) => {
                self.local_candidates.push(c.to_string());
                self.events.push_back(Event::LocalCandidate(c.to_string()))
            }
            AgentEvent::GatheringComplete => {
                self.agent_gathered = true;
                self.check_gathering_complete();
            }
            _ => {}
        }
    }

    pub(super) fn on_dtls_event(&mut self, now: Instant, e: dtls::Event) {
        match e {
            dtls::Event::Connected {
                version,
                cipher_suite,
                group,
                ..
            } => {
                // The endpoint already checked the certificate against the SDP fingerprints.
                self.ensure_srtp();
                if self.srtp.is_none() && self.media.mids().next().is_some() {
                    // Media was negotiated but no SRTP profile was agreed (RFC 5764 4.1.1 lets
                    // either side abort): close instead of connecting without media.
                    if let Some(d) = &mut self.dtls {
                        d.close();
                    }
                    self.set_dtls_state(DtlsState::Failed);
                    return;
                }
                if let Some(s) = &mut self.sctp {
                    s.connect(now);
                }
                self.media.start(now);
                self.events.push_back(Event::DtlsConnected {
                    version,
                    cipher_suite,
                    group,
                });
                self.set_dtls_state(DtlsState::Connected);
            }
            dtls::Event::ApplicationData(data) => {
                if let Some(s) = &mut self.sctp {
                    s.handle_receive(now, &data);
                }
            }
            dtls::Event::AlertReceived(_) => {}
            dtls::Event::Closed
                if self.closing.is_none() && self.dtls_state != DtlsState::Failed =>
            {
                // The peer said goodbye.
                for id in self.channels.close_all() {
                    self.events.push_back(Event::DataChannelClose(id));
                }
                self.set_dtls_state(DtlsState::Closed);
            }
            dtls::Event::Failed(_) => self.set_dtls_state(DtlsState::Failed),
            _ => {}
        }
    }

    /// The selected path `(local, remote)`, once ICE selected a pair.
    pub fn selected_path(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.path
    }

    /// The transport of [`Self::selected_path`]: UDP, or TCP (the stream the peer opened from
    /// the remote address to our local one).
    pub fn selected_transport(&self) -> Option<Transport> {
        self.path.map(|_| self.path_transport)
    }

    /// The DTLS endpoint's counters (dropped records, retransmissions, DTLS 1.3 KeyUpdates
    /// sent and received), once negotiated.
    pub fn dtls_stats(&self) -> Option<dtls::endpoint::Stats> {
        self.dtls.as_ref().map(|d| d.stats().clone())
    }

    /// DTLS 1.3: updates our sending keys now (RFC 9147 8): a KeyUpdate asking the peer to
    /// update its own goes out, and our records use the next keys once the peer acknowledged
    /// it (until then they keep the current ones). Nothing more while one is outstanding.
    /// [`Error::NotConnected`] before DTLS connected, [`Error::Closed`] once closed,
    /// [`Error::NotDtls13`] on a DTLS 1.2 connection. The counters are in
    /// [`Self::dtls_stats`] (`key_updates_sent`, `key_updates_received`); automatic updates:
    /// [`crate::Config::dtls_key_update_after`].
    pub fn update_dtls_keys(&mut self, now: Instant) -> Result<(), Error> {
        if self.state == ConnectionState::Closed || self.closing.is_some() {
            return Err(Error::Closed);
        }
        let d = self.dtls.as_mut().ok_or(Error::NotConnected)?;
        match d.update_keys(now) {
            Ok(()) => {}
            Err(dtls::DtlsError::NotDtls13) => return Err(Error::NotDtls13),
            Err(dtls::DtlsError::Closed) => return Err(Error::Closed),
            Err(_) => return Err(Error::NotConnected),
        }
        self.drive(now);
        Ok(())
    }

    /// The ICE agent's counters (checks, authentication failures), once negotiating.
    pub fn ice_stats(&self) -> Option<ice::agent::AgentStats> {
        self.agent.as_ref().map(|a| a.stats())
    }

    /// The negotiated SRTP profile, once DTLS is connected (and after it closed).
    pub fn srtp_profile(&self) -> Option<srtp::Profile> {
        if !matches!(self.dtls_state, DtlsState::Connected | DtlsState::Closed) {
            return None;
        }
        self.dtls.as_ref()?.srtp_profile()
    }
}
