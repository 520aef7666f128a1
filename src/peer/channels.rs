//! Data channels: stable [`ChannelId`]s decoupled from SCTP stream ids, the [`Channel`] handle
//! to send, close and watch one, channels created before SCTP exists (opened once it does),
//! and what SCTP reports of them.

use super::*;
use sansrtc_core::VecMap;

/// A data channel, stable for the connection's life: given by
/// [`PeerConnection::create_data_channel`] or in [`Event::DataChannelOpen`] for the peer's
/// channels. Unlike the SCTP stream id (which depends on the DTLS role, only known once
/// negotiated, and is reused after a close) it never changes and never names another channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(u32);

impl std::fmt::Display for ChannelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "channel {}", self.0)
    }
}

/// Whether a data channel message is text (UTF-8, DCEP PPID 51) or binary (PPID 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Text: UTF-8 (a browser's `send(string)`).
    Text,
    /// Binary (a browser's `send(ArrayBuffer)`).
    Binary,
}

/// Where a channel is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    /// Created by us, waiting for SCTP (negotiation, DTLS) or for the peer's acknowledgement.
    Connecting,
    /// Open: messages flow.
    Open,
    /// Closed by either side (or never opened: refused, or data channels were rejected).
    Closed,
}

/// What we know of one channel.
#[derive(Debug, Clone)]
pub(super) struct ChannelInfo {
    pub(super) label: String,
    pub(super) protocol: String,
    pub(super) state: ChannelState,
    /// The SCTP stream, once SCTP carries it.
    pub(super) stream: Option<u16>,
    /// How to open it, while it waits for SCTP.
    pub(super) pending: Option<ChannelConfig>,
    /// A threshold set before SCTP carries it.
    pub(super) low_threshold: Option<usize>,
    pub(super) messages_sent: u64,
    pub(super) bytes_sent: u64,
    pub(super) messages_received: u64,
    pub(super) bytes_received: u64,
}

impl ChannelInfo {
    fn new(label: String, protocol: String, state: ChannelState) -> Self {
        Self {
            label,
            protocol,
            state,
            stream: None,
            pending: None,
            low_threshold: None,
            messages_sent: 0,
            bytes_sent: 0,
            messages_received: 0,
            bytes_received: 0,
        }
    }
}

/// Channels not closed, at most (ours waiting for SCTP included; SCTP bounds open ones too).
pub(super) const MAX_CHANNELS: usize = 1024;
/// Closed channels kept (for the statistics report and late lookups) at most.
pub(super) const MAX_CLOSED_CHANNELS: usize = 256;

/// Every channel of a connection by id, and the live ones by SCTP stream.
#[derive(Debug, Clone, Default)]
pub(super) struct Channels {
    /// A [`VecMap`], not a `BTreeMap`: a connection has a channel or a few, and a B-tree's
    /// first node holds room for eleven (~2 KB per connection).
    by_id: VecMap<ChannelId, ChannelInfo>,
    by_stream: VecMap<u16, ChannelId>,
    next: u32,
    closed: usize,
}

impl Channels {
    fn insert(&mut self, info: ChannelInfo) -> Result<ChannelId, Error> {
        if self.by_id.len() - self.closed >= MAX_CHANNELS {
            return Err(Error::DataChannel(sctp::SendError::NoFreeStream));
        }
        let id = ChannelId(self.next);
        self.next = self.next.wrapping_add(1);
        self.by_id.insert(id, info);
        Ok(id)
    }

    /// A channel of ours waiting for SCTP.
    pub(super) fn create_pending(&mut self, config: ChannelConfig) -> Result<ChannelId, Error> {
        if let Some(stream) = config.negotiated
            && self.waiting().any(|(_, c)| c.negotiated == Some(stream))
        {
            return Err(Error::DataChannel(sctp::SendError::StreamInUse(stream)));
        }
        let mut info = ChannelInfo::new(
            config.label.clone(),
            config.protocol.clone(),
            ChannelState::Connecting,
        );
        info.pending = Some(config);
        self.insert(info)
    }

    /// A channel SCTP carries on `stream` (ours, opening or open; or the peer's, open).
    pub(super) fn create_on_stream(
        &mut self,
        stream: u16,
        label: String,
        protocol: String,
        state: ChannelState,
    ) -> Result<ChannelId, Error> {
        let mut info = ChannelInfo::new(label, protocol, state);
        info.stream = Some(stream);
        let id = self.insert(info)?;
        self.by_stream.insert(stream, id);
        Ok(id)
    }

    /// Ours, created before SCTP, now on `stream`.
    pub(super) fn attach(&mut self, id: ChannelId, stream: u16) {
        if let Some(c) = self.get_mut(id) {
            c.stream = Some(stream);
            c.pending = None;
            self.by_stream.insert(stream, id);
        }
    }

    /// The channels waiting for SCTP, with how to open them.
    pub(super) fn waiting(&self) -> impl Iterator<Item = (ChannelId, &ChannelConfig)> {
        self.by_id
            .iter()
            .filter_map(|(&id, c)| Some((id, c.pending.as_ref()?)))
    }

    pub(super) fn get(&self, id: ChannelId) -> Option<&ChannelInfo> {
        self.by_id.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: ChannelId) -> Option<&mut ChannelInfo> {
        self.by_id.get_mut(&id)
    }

    /// The live channel on `stream`.
    pub(super) fn on_stream(&self, stream: u16) -> Option<ChannelId> {
        self.by_stream.get(&stream).copied()
    }

    /// The channel is closed: its stream is free again; the oldest closed channels beyond
    /// [`MAX_CLOSED_CHANNELS`] are forgotten.
    pub(super) fn close(&mut self, id: ChannelId) -> bool {
        let Some(c) = self.get_mut(id) else {
            return false;
        };
        if c.state == ChannelState::Closed {
            return false;
        }
        c.state = ChannelState::Closed;
        c.pending = None;
        if let Some(s) = c.stream
            && self.by_stream.get(&s) == Some(&id)
        {
            self.by_stream.remove(&s);
        }
        self.closed += 1;
        while self.closed > MAX_CLOSED_CHANNELS {
            match self
                .by_id
                .remove_first(|_, c| c.state == ChannelState::Closed)
            {
                Some(_) => self.closed -= 1,
                None => break,
            }
        }
        true
    }

    /// Every channel not closed is closed (the connection closed): their ids.
    pub(super) fn close_all(&mut self) -> Vec<ChannelId> {
        let live: Vec<ChannelId> = self
            .by_id
            .iter()
            .filter(|(_, c)| c.state != ChannelState::Closed)
            .map(|(&id, _)| id)
            .collect();
        for &id in &live {
            self.close(id);
        }
        live
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (ChannelId, &ChannelInfo)> {
        self.by_id.iter().map(|(&id, c)| (id, c))
    }
}

/// One data channel of a [`PeerConnection`], borrowed from it
/// ([`PeerConnection::channel`]): send on it, close it, watch its buffer.
///
/// ```no_run
/// # fn f(pc: &mut sansrtc::PeerConnection, id: sansrtc::ChannelId) -> Result<(), sansrtc::Error> {
/// let now = std::time::Instant::now();
/// let mut chat = pc.channel(id)?;
/// chat.set_buffered_amount_low_threshold(64 * 1024);
/// chat.send_text(now, "hello")?;
/// if chat.buffered_amount() > 1 << 20 {
///     // wait for Event::BufferedAmountLow before sending more
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Channel<'a> {
    pc: &'a mut PeerConnection,
    id: ChannelId,
}

impl Channel<'_> {
    fn info(&self) -> &ChannelInfo {
        self.pc
            .channels
            .get(self.id)
            .expect("a handle exists only for a known channel")
    }

    /// Its id.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// Its label.
    pub fn label(&self) -> &str {
        &self.info().label
    }

    /// Its sub-protocol.
    pub fn protocol(&self) -> &str {
        &self.info().protocol
    }

    /// Where it is in its life.
    pub fn state(&self) -> ChannelState {
        self.info().state
    }

    /// The SCTP stream carrying it, once SCTP does.
    pub fn stream_id(&self) -> Option<u16> {
        self.info().stream
    }

    /// Sends a binary message.
    pub fn send(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        self.pc.send_on_channel(now, self.id, data, true)
    }

    /// Sends a text message.
    pub fn send_text(&mut self, now: Instant, text: &str) -> Result<(), Error> {
        self.pc
            .send_on_channel(now, self.id, text.as_bytes(), false)
    }

    /// Sends a message of `kind` (as text the bytes should be UTF-8: a browser refuses
    /// anything else).
    pub fn send_message(
        &mut self,
        now: Instant,
        data: &[u8],
        kind: MessageKind,
    ) -> Result<(), Error> {
        self.pc
            .send_on_channel(now, self.id, data, kind == MessageKind::Binary)
    }

    /// Closes it (its stream is reset; [`Event::DataChannelClose`] follows).
    pub fn close(self, now: Instant) {
        self.pc.close_channel(now, self.id);
    }

    /// Its reliability: [`sansrtc_sctp::Reliability::Reliable`], or how it gives up on a
    /// message (as it was opened, by us or by the peer).
    pub fn reliability(&self) -> sansrtc_sctp::Reliability {
        let info = self.info();
        match (&self.pc.sctp, info.stream, &info.pending) {
            (Some(s), Some(stream), _) => s.reliability(stream).unwrap_or_default(),
            (_, _, Some(pending)) => pending.reliability,
            _ => sansrtc_sctp::Reliability::Reliable,
        }
    }

    /// Bytes queued on it and not yet sent.
    pub fn buffered_amount(&self) -> usize {
        match (&self.pc.sctp, self.info().stream) {
            (Some(s), Some(stream)) if self.info().state != ChannelState::Closed => {
                s.buffered_amount(stream)
            }
            _ => 0,
        }
    }

    /// Sets the threshold under which [`Event::BufferedAmountLow`] is reported.
    pub fn set_buffered_amount_low_threshold(&mut self, threshold: usize) {
        let stream = self.info().stream;
        match (&mut self.pc.sctp, stream) {
            (Some(s), Some(stream)) => s.set_buffered_amount_low_threshold(stream, threshold),
            _ => {
                if let Some(c) = self.pc.channels.get_mut(self.id) {
                    c.low_threshold = Some(threshold);
                }
            }
        }
    }
}

impl PeerConnection {
    /// Opens a data channel and returns its id. Like a browser's `createDataChannel`, it may be
    /// called at any time: before the first offer the connection asks for a data channel
    /// section (and [`Event::NegotiationNeeded`] once negotiated without one), and the channel
    /// opens once SCTP is up ([`Event::DataChannelOpen`]). Should the answer reject data
    /// channels, [`Event::DataChannelClose`] follows.
    pub fn create_data_channel(
        &mut self,
        now: Instant,
        config: ChannelConfig,
    ) -> Result<ChannelId, Error> {
        self.check_open()?;
        let id = match &mut self.sctp {
            Some(sctp) => {
                let (label, protocol) = (config.label.clone(), config.protocol.clone());
                let stream = sctp.open_channel(now, config)?;
                self.channels
                    .create_on_stream(stream, label, protocol, ChannelState::Connecting)?
            }
            None => {
                let id = self.channels.create_pending(config)?;
                if !self.jsep.has_data_channel() {
                    self.add_data_channel_section();
                }
                id
            }
        };
        self.drive(now);
        Ok(id)
    }

    /// The data channel `id`, to send on, close or watch.
    pub fn channel(&mut self, id: ChannelId) -> Result<Channel<'_>, Error> {
        if self.channels.get(id).is_none() {
            return Err(Error::UnknownChannel(id));
        }
        Ok(Channel { pc: self, id })
    }

    /// Every data channel known (open, opening, and the last closed ones).
    pub fn channel_ids(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.channels.iter().map(|(id, _)| id)
    }

    fn send_on_channel(
        &mut self,
        now: Instant,
        id: ChannelId,
        data: &[u8],
        binary: bool,
    ) -> Result<(), Error> {
        self.check_open()?;
        let info = self.channels.get(id).ok_or(Error::UnknownChannel(id))?;
        let (ChannelState::Open, Some(stream), Some(sctp)) =
            (info.state, info.stream, &mut self.sctp)
        else {
            return Err(Error::ChannelNotOpen(id));
        };
        if data.len() > self.remote_max_message_size {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max: self.remote_max_message_size,
            });
        }
        // Copied into SCTP's pooled buffers: no allocation per message once warm.
        sctp.send_from_slice(now, stream, data, binary)?;
        if let Some(c) = self.channels.get_mut(id) {
            c.messages_sent += 1;
            c.bytes_sent += data.len() as u64;
        }
        self.drive(now);
        Ok(())
    }

    fn close_channel(&mut self, now: Instant, id: ChannelId) {
        let Some(info) = self.channels.get(id) else {
            return;
        };
        match (info.state, info.stream, &mut self.sctp) {
            (ChannelState::Closed, _, _) => {}
            (_, Some(stream), Some(s)) => {
                // SCTP resets the stream and reports the close.
                s.close(now, stream);
                self.drive(now);
            }
            _ => {
                // Never reached SCTP.
                self.channels.close(id);
                self.events.push_back(Event::DataChannelClose(id));
            }
        }
    }

    /// SCTP now exists: open the channels created before it (pre-agreed streams first, so
    /// the automatic choice cannot take one of them).
    pub(super) fn open_pending_channels(&mut self, now: Instant) {
        let Some(sctp) = &mut self.sctp else { return };
        let mut waiting: Vec<(ChannelId, ChannelConfig)> = self
            .channels
            .waiting()
            .map(|(id, c)| (id, c.clone()))
            .collect();
        waiting.sort_by_key(|(_, c)| c.negotiated.is_none());
        for (id, config) in waiting {
            match sctp.open_channel(now, config) {
                Ok(stream) => {
                    if let Some(t) = self.channels.get(id).and_then(|c| c.low_threshold) {
                        sctp.set_buffered_amount_low_threshold(stream, t);
                    }
                    self.channels.attach(id, stream);
                }
                Err(_) => {
                    self.channels.close(id);
                    self.events.push_back(Event::DataChannelClose(id));
                }
            }
        }
    }

    /// The data section was rejected or is gone: channels waiting for it close.
    pub(super) fn close_pending_channels(&mut self) {
        let waiting: Vec<ChannelId> = self.channels.waiting().map(|(id, _)| id).collect();
        for id in waiting {
            self.channels.close(id);
            self.events.push_back(Event::DataChannelClose(id));
        }
    }

    pub(super) fn on_sctp_event(&mut self, now: Instant, e: sctp::DataChannelEvent) {
        use sctp::DataChannelEvent as D;
        let ev = match e {
            D::Connected => return,
            D::ChannelOpened {
                id: stream,
                label,
                protocol,
            } => {
                let id = match self.channels.on_stream(stream) {
                    // Ours, acknowledged.
                    Some(id) => id,
                    // The peer's.
                    None => match self.channels.create_on_stream(
                        stream,
                        label.clone(),
                        protocol.clone(),
                        ChannelState::Open,
                    ) {
                        Ok(id) => id,
                        Err(_) => {
                            // More channels than we keep: refuse it.
                            if let Some(s) = &mut self.sctp {
                                s.close(now, stream);
                            }
                            return;
                        }
                    },
                };
                if let Some(c) = self.channels.get_mut(id) {
                    c.state = ChannelState::Open;
                }
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
                // No copy: the application gets SCTP's buffer (back in our pool when dropped)
                // and SCTP an empty one of ours as large (the one an earlier message of this
                // size came in, once warm: nothing allocated).
                let mut message = self.buffers.take(data.len());
                let spare = std::mem::replace(message.vec_mut(), data);
                if let Some(s) = &mut self.sctp {
                    s.recycle(spare);
                }
                let Some(id) = self.channels.on_stream(channel) else {
                    return;
                };
                if let Some(c) = self.channels.get_mut(id) {
                    c.messages_received += 1;
                    c.bytes_received += message.len() as u64;
                }
                let kind = if binary {
                    MessageKind::Binary
                } else {
                    MessageKind::Text
                };
                Event::DataChannelMessage {
                    id,
                    data: message,
                    kind,
                }
            }
            D::ChannelClosed(stream) => {
                let Some(id) = self.channels.on_stream(stream) else {
                    return;
                };
                self.channels.close(id);
                Event::DataChannelClose(id)
            }
            D::BufferedAmountLow(stream) => match self.channels.on_stream(stream) {
                Some(id) => Event::BufferedAmountLow(id),
                None => return,
            },
            D::Disconnected(_) => {
                if self.closing.is_some() {
                    self.finish_close(now);
                }
                return;
            }
            _ => return,
        };
        self.events.push_back(ev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_never_reused() {
        let mut c = Channels::default();
        let a = c.create_pending(ChannelConfig::reliable("a")).unwrap();
        let b = c
            .create_on_stream(3, "b".into(), String::new(), ChannelState::Open)
            .unwrap();
        assert_ne!(a, b);
        c.attach(a, 3 + 2);
        assert_eq!(c.on_stream(5), Some(a));
        assert!(c.close(b));
        assert!(!c.close(b), "closing twice reports nothing");
        assert_eq!(c.on_stream(3), None);
        // Stream 3 reused by a new channel: a new id.
        let d = c
            .create_on_stream(3, "d".into(), String::new(), ChannelState::Open)
            .unwrap();
        assert_ne!(d, b);
        assert_eq!(c.get(b).unwrap().state, ChannelState::Closed);
    }

    #[test]
    fn closed_channels_are_forgotten_beyond_the_bound() {
        let mut c = Channels::default();
        let first = c.create_pending(ChannelConfig::reliable("x")).unwrap();
        c.close(first);
        for _ in 0..MAX_CLOSED_CHANNELS + 10 {
            let id = c.create_pending(ChannelConfig::reliable("x")).unwrap();
            c.close(id);
        }
        assert!(c.get(first).is_none());
        assert_eq!(c.iter().count(), MAX_CLOSED_CHANNELS);
    }

    #[test]
    fn live_channels_are_bounded() {
        let mut c = Channels::default();
        for _ in 0..MAX_CHANNELS {
            c.create_pending(ChannelConfig::reliable("x")).unwrap();
        }
        assert!(c.create_pending(ChannelConfig::reliable("x")).is_err());
    }

    #[test]
    fn a_negotiated_stream_is_promised_once() {
        let mut c = Channels::default();
        let mut cfg = ChannelConfig::reliable("n");
        cfg.negotiated = Some(7);
        c.create_pending(cfg.clone()).unwrap();
        assert!(matches!(
            c.create_pending(cfg),
            Err(Error::DataChannel(sctp::SendError::StreamInUse(7)))
        ));
    }
}
