//! Data channels: created at any time (queued until SCTP exists), sent on, closed, and what SCTP
//! reports of them.

use super::*;

impl PeerConnection {
    /// Opens a data channel and returns its id (the SCTP stream id: even for the DTLS client,
    /// odd for the server, or the `negotiated` id). Like a browser's `createDataChannel`, it
    /// may be called at any time: before the first offer the connection asks for a data
    /// channel section (and [`Event::NegotiationNeeded`] once negotiated without one), and the
    /// open waits until SCTP is up.
    ///
    /// Before the DTLS role is known the id is provisional: it assumes we will be the DTLS
    /// server when we offer (browsers and this stack answer `actpass` with `active`) and the
    /// client when we answer. Should the answer decide otherwise, the channel moves to the
    /// next id of the right parity and [`Event::DataChannelIdChanged`] says so. Should the
    /// answer reject data channels, [`Event::DataChannelClose`] follows.
    pub fn create_data_channel(
        &mut self,
        now: Instant,
        config: ChannelConfig,
    ) -> Result<u16, Error> {
        self.check_open()?;
        let (label, protocol) = (config.label.clone(), config.protocol.clone());
        let id = match &mut self.sctp {
            Some(sctp) => sctp.open_channel(now, config)?,
            None => self.queue_channel(config)?,
        };
        self.channel_info(id, label, protocol);
        self.drive(now);
        Ok(id)
    }

    /// Keeps a channel created before SCTP exists, with a provisional id.
    pub(super) fn queue_channel(&mut self, config: ChannelConfig) -> Result<u16, Error> {
        if self.pending_channels.len() >= MAX_PENDING_CHANNELS {
            return Err(sctp::SendError::NoFreeStream.into());
        }
        let taken = |id: u16| self.pending_channels.iter().any(|p| p.id == id);
        let id = match config.negotiated {
            Some(id) if taken(id) => return Err(sctp::SendError::StreamInUse(id).into()),
            Some(id) => id,
            None => {
                let first = match self.expected_dtls_role() {
                    dtls::Role::Client => 0,
                    dtls::Role::Server => 1,
                };
                (first..u16::MAX)
                    .step_by(2)
                    .find(|id| !taken(*id))
                    .ok_or(sctp::SendError::NoFreeStream)?
            }
        };
        if !self.jsep.has_data_channel() {
            self.add_data_channel_section();
        }
        self.pending_channels.push(PendingChannel {
            id,
            config,
            low_threshold: None,
        });
        Ok(id)
    }

    /// Our DTLS role, or the one we expect before the answer decides: the client when we
    /// answer (we answer `actpass` with `active` by default), the server when we offer.
    pub(super) fn expected_dtls_role(&self) -> dtls::Role {
        if let Some(role) = self.dtls_role {
            return role;
        }
        let answering = self.pending_answer.is_some() || self.negotiated.is_some();
        if answering && self.jsep.config().answer_setup == sdp::Setup::Active {
            dtls::Role::Client
        } else {
            dtls::Role::Server
        }
    }

    /// SCTP now exists: open the channels created before it, on their promised ids when the
    /// role allows it.
    pub(super) fn open_pending_channels(&mut self, now: Instant) {
        let Some(sctp) = &mut self.sctp else { return };
        let mut pending = std::mem::take(&mut self.pending_channels);
        // Pre-agreed ids first, so the automatic choice cannot take one of them.
        pending.sort_by_key(|p| p.config.negotiated.is_none());
        for PendingChannel {
            id: provisional,
            config,
            low_threshold,
        } in pending
        {
            let opened = if config.negotiated.is_some() {
                sctp.open_channel(now, config)
            } else {
                match sctp.open_channel_with_id(now, provisional, config.clone()) {
                    Err(sctp::SendError::WrongParity(_) | sctp::SendError::StreamInUse(_)) => {
                        sctp.open_channel(now, config)
                    }
                    other => other,
                }
            };
            if let (Ok(id), Some(t)) = (&opened, low_threshold) {
                sctp.set_buffered_amount_low_threshold(*id, t);
            }
            match opened {
                Ok(id) if id == provisional => {}
                Ok(id) => {
                    if let Some(info) = self.channels.remove(&provisional) {
                        self.channels.insert(id, info);
                    }
                    self.events
                        .push_back(Event::DataChannelIdChanged { provisional, id });
                }
                Err(_) => {
                    self.channels.remove(&provisional);
                    self.events.push_back(Event::DataChannelClose(provisional));
                }
            }
        }
    }

    /// The data section was rejected or is gone: channels waiting for it close.
    pub(super) fn close_pending_channels(&mut self) {
        for PendingChannel { id, .. } in std::mem::take(&mut self.pending_channels) {
            self.pending_channel_closed(id);
        }
    }

    /// A channel that never reached SCTP is closed.
    pub(super) fn pending_channel_closed(&mut self, id: u16) {
        if let Some(c) = self.channels.get_mut(&id) {
            c.open = false;
        }
        self.events.push_back(Event::DataChannelClose(id));
    }

    pub(super) fn channel_info(
        &mut self,
        id: u16,
        label: String,
        protocol: String,
    ) -> &mut ChannelInfo {
        if self.channels.len() >= MAX_CLOSED_CHANNELS + 1024
            && let Some(closed) = self.channels.iter().find(|(_, c)| !c.open).map(|(&k, _)| k)
        {
            self.channels.remove(&closed);
        }
        let info = self.channels.entry(id).or_default();
        if !label.is_empty() || !protocol.is_empty() {
            info.label = label;
            info.protocol = protocol;
        }
        info
    }

    /// Sends a message on a data channel.
    pub fn send_data(
        &mut self,
        now: Instant,
        id: u16,
        data: &[u8],
        binary: bool,
    ) -> Result<(), Error> {
        self.check_open()?;
        let sctp = self.sctp.as_mut().ok_or(Error::NotConnected)?;
        if data.len() > self.remote_max_message_size {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max: self.remote_max_message_size,
            });
        }
        sctp.send(now, id, data.to_vec(), binary)?;
        if let Some(c) = self.channels.get_mut(&id) {
            c.messages_sent += 1;
            c.bytes_sent += data.len() as u64;
        }
        self.drive(now);
        Ok(())
    }

    /// Sends a text message on a data channel.
    pub fn send_text(&mut self, now: Instant, id: u16, text: &str) -> Result<(), Error> {
        self.send_data(now, id, text.as_bytes(), false)
    }

    /// Closes a data channel (its stream is reset; [`Event::DataChannelClose`] follows).
    pub fn close_data_channel(&mut self, now: Instant, id: u16) {
        if let Some(i) = self.pending_channels.iter().position(|p| p.id == id) {
            self.pending_channels.remove(i);
            self.pending_channel_closed(id);
            return;
        }
        if let Some(s) = &mut self.sctp {
            s.close(now, id);
        }
        self.drive(now);
    }

    /// Bytes queued on a data channel and not yet sent.
    pub fn buffered_amount(&self, id: u16) -> usize {
        self.sctp.as_ref().map_or(0, |s| s.buffered_amount(id))
    }

    /// Sets the threshold for [`Event::BufferedAmountLow`].
    pub fn set_buffered_amount_low_threshold(&mut self, id: u16, threshold: usize) {
        if let Some(s) = &mut self.sctp {
            s.set_buffered_amount_low_threshold(id, threshold);
        } else if let Some(p) = self.pending_channels.iter_mut().find(|p| p.id == id) {
            p.low_threshold = Some(threshold);
        }
    }

    pub(super) fn on_sctp_event(&mut self, now: Instant, e: sctp::DataChannelEvent) {
        use sctp::DataChannelEvent as D;
        let ev = match e {
            D::Connected => return,
            D::ChannelOpened {
                id,
                label,
                protocol,
            } => {
                self.channel_info(id, label.clone(), protocol.clone()).open = true;
                Event::DataChannelOpen {
                    id,
                    label,
                    protocol,
                }
            }
            D::Message {
                channel,
                data,
                binary,
            } => {
                if let Some(c) = self.channels.get_mut(&channel) {
                    c.messages_received += 1;
                    c.bytes_received += data.len() as u64;
                }
                Event::DataChannelMessage {
                    id: channel,
                    data,
                    binary,
                }
            }
            D::ChannelClosed(id) => {
                if let Some(c) = self.channels.get_mut(&id) {
                    c.open = false;
                }
                Event::DataChannelClose(id)
            }
            D::BufferedAmountLow(id) => Event::BufferedAmountLow(id),
            D::Disconnected(_) => {
                if self.closing.is_some() {
                    self.finish_close(now);
                }
                return;
            }
        };
        self.events.push_back(ev);
    }
}
