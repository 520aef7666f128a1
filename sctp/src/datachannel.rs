//! WebRTC data channels (RFC 8831) on an SCTP association, opened with DCEP (RFC 8832) or
//! negotiated out of band, closed by resetting their streams (RFC 6525).

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use crate::association::{Association, CloseReason, Config, Event, Reliability, SendOptions};
use crate::dcep::{DcepError, DcepMessage, OpenMessage, ppid};
use crate::error::SendError;
use crate::rng::Rng;

/// DCEP messages: reliable, ordered (RFC 8832 6), and not part of the channel's buffered
/// amount (the application did not queue them).
const DCEP_OPTIONS: SendOptions = SendOptions {
    unordered: false,
    reliability: Reliability::Reliable,
    uncounted: true,
};

/// Our DTLS role, which decides the parity of the stream ids we pick (RFC 8832 6): the DTLS
/// client takes even ids, the server odd ones. The role every sansrtc crate shares.
pub use sansrtc_core::DtlsRole;
use sansrtc_core::VecMap;

/// Default of [`EndpointConfig::max_channels`].
pub const DEFAULT_MAX_CHANNELS: usize = 1024;
/// Default of [`EndpointConfig::max_label_len`] and [`EndpointConfig::max_protocol_len`].
pub const DEFAULT_MAX_LABEL_LEN: usize = 1024;

/// Settings of the data-channel endpoint.
///
/// The per-channel state a peer can make us keep is bounded by `max_channels` times
/// (`max_label_len` + `max_protocol_len`) plus a small fixed amount per channel: 2 MiB of
/// labels and protocols with the defaults.
///
/// Built with [`EndpointConfig::new`] and changed field by field (it is `#[non_exhaustive]`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Our DTLS role.
    pub role: DtlsRole,
    /// The SCTP association's settings.
    pub sctp: Config,
    /// Most channels open at once, ours and the peer's together (default 1024). A peer's
    /// DATA_CHANNEL_OPEN beyond it is refused (its stream is reset) and counted in
    /// [`EndpointStats::opens_refused`].
    pub max_channels: usize,
    /// Longest label, in bytes, accepted in a peer's DATA_CHANNEL_OPEN (default 1024; DCEP
    /// allows 65535). A longer one is refused like an open beyond `max_channels`.
    pub max_label_len: usize,
    /// Longest sub-protocol, in bytes, accepted in a peer's DATA_CHANNEL_OPEN (default 1024).
    pub max_protocol_len: usize,
}

impl EndpointConfig {
    /// Defaults for the given role.
    pub fn new(role: DtlsRole) -> Self {
        EndpointConfig {
            role,
            sctp: Config::default(),
            max_channels: DEFAULT_MAX_CHANNELS,
            max_label_len: DEFAULT_MAX_LABEL_LEN,
            max_protocol_len: DEFAULT_MAX_LABEL_LEN,
        }
    }
}

/// Counters of the data-channel layer (the association's are in
/// [`Association::stats`](crate::Association::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// DCEP messages that failed to parse, and opens on a stream whose channel is open.
    pub dcep_errors: u64,
    /// Peer DATA_CHANNEL_OPENs refused for a limit (`max_channels`, `max_label_len`,
    /// `max_protocol_len`), or because no DATA_CHANNEL_ACK could be queued: no channel was
    /// created and the stream was reset.
    pub opens_refused: u64,
    /// Messages received on a stream without an open channel (dropped).
    pub messages_without_channel: u64,
}

/// How to open a channel: [`ChannelConfig::reliable`] (or `default`), changed field by field
/// (it is `#[non_exhaustive]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ChannelConfig {
    /// Label.
    pub label: String,
    /// Sub-protocol.
    pub protocol: String,
    /// Ordered delivery.
    pub ordered: bool,
    /// Reliability policy.
    pub reliability: Reliability,
    /// A pre-agreed stream id: the channel is negotiated out of band and no DCEP is sent.
    pub negotiated: Option<u16>,
    /// Priority (carried in DCEP).
    pub priority: u16,
}

impl ChannelConfig {
    /// A reliable ordered channel with this label.
    pub fn reliable(label: &str) -> Self {
        ChannelConfig {
            label: label.to_owned(),
            ordered: true,
            ..Default::default()
        }
    }
}

/// What the application learns from the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataChannelEvent {
    /// The SCTP association is up.
    Connected,
    /// A channel is open (one we created, or one the peer opened).
    ChannelOpened {
        /// Channel (stream) id.
        id: u16,
        /// Label.
        label: String,
        /// Sub-protocol.
        protocol: String,
    },
    /// A message arrived.
    ///
    /// `data` is a buffer of the endpoint's pool: hand it back with
    /// [`DataChannelEndpoint::recycle`] once done with it (after copying or parsing it), and
    /// the next message arriving reuses it instead of allocating. Keeping it is fine too: the
    /// next message then allocates its own.
    Message {
        /// Channel id.
        channel: u16,
        /// The bytes (empty for an empty message).
        data: Vec<u8>,
        /// Binary (`true`) or string (`false`).
        binary: bool,
    },
    /// A channel is closed in both directions.
    ChannelClosed(u16),
    /// A channel's buffered amount fell to its low threshold.
    BufferedAmountLow(u16),
    /// The association ended.
    Disconnected(CloseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChannelState {
    Open,
    Closing,
}

#[derive(Debug, Clone)]
struct Channel {
    label: String,
    protocol: String,
    ordered: bool,
    reliability: Reliability,
    state: ChannelState,
    /// DCEP ACK received (or not needed): unordered sending is safe.
    acked: bool,
    announced: bool,
    out_reset: bool,
    in_reset: bool,
}

/// A set of data channels over one SCTP association, sans-IO. `Clone` like
/// [`Association`].
#[derive(Debug, Clone)]
pub struct DataChannelEndpoint {
    assoc: Association,
    role: DtlsRole,
    max_channels: usize,
    max_label_len: usize,
    max_protocol_len: usize,
    channels: VecMap<u16, Channel>,
    events: VecDeque<DataChannelEvent>,
    connected: bool,
    last_now: Instant,
    stats: EndpointStats,
}

impl DataChannelEndpoint {
    /// A new endpoint; call [`DataChannelEndpoint::connect`] once DTLS is up (both sides do).
    pub fn new(config: EndpointConfig, now: Instant, rng: &mut dyn Rng) -> Self {
        DataChannelEndpoint {
            assoc: Association::new(config.sctp, now, rng),
            role: config.role,
            max_channels: config.max_channels,
            max_label_len: config.max_label_len,
            max_protocol_len: config.max_protocol_len,
            channels: VecMap::new(),
            events: VecDeque::new(),
            connected: false,
            last_now: now,
            stats: EndpointStats::default(),
        }
    }

    /// Counters of the data-channel layer.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// The underlying association.
    pub fn association(&self) -> &Association {
        &self.assoc
    }

    /// Changes the largest SCTP packet sent (see [`Association::set_max_packet_size`]).
    pub fn set_max_packet_size(&mut self, size: usize) {
        self.assoc.set_max_packet_size(size);
    }

    /// Sends INIT.
    pub fn connect(&mut self, now: Instant) {
        self.last_now = now;
        self.assoc.connect(now);
    }

    /// Handles one SCTP packet from DTLS.
    pub fn handle_receive(&mut self, now: Instant, packet: &[u8]) {
        self.last_now = now;
        self.assoc.handle_receive(now, packet);
        self.process(now);
    }

    /// Frees buffers an idle endpoint does not need ([`Association::release_buffers`], and
    /// the event queue's storage when it is empty).
    pub fn release_buffers(&mut self) {
        self.assoc.release_buffers();
        if self.events.is_empty() {
            self.events.shrink_to_fit();
        }
    }

    /// Handles the passing of time.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        self.assoc.handle_timeout(now);
        self.process(now);
    }

    /// The next SCTP packet to hand to DTLS.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.last_now = now;
        let p = self.assoc.poll_transmit(now);
        self.process(now);
        p
    }

    /// Like [`DataChannelEndpoint::poll_transmit`], writing into a reused buffer (see
    /// [`Association::poll_transmit_into`]).
    pub fn poll_transmit_into(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        self.last_now = now;
        let sent = self.assoc.poll_transmit_into(now, out);
        self.process(now);
        sent
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.assoc.poll_timeout()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<DataChannelEvent> {
        if self.events.is_empty() {
            self.process(self.last_now);
        }
        self.events.pop_front()
    }

    /// Opens a channel; returns its id. Before the association is up the DCEP open is queued.
    pub fn open_channel(&mut self, now: Instant, config: ChannelConfig) -> Result<u16, SendError> {
        self.open(now, config, None)
    }

    /// Opens a DCEP channel on a chosen stream id, which must have our role's parity (even for
    /// the DTLS client, odd for the server: RFC 8832 6) and be free. For channels whose id was
    /// promised to the application before the DTLS role was known.
    pub fn open_channel_with_id(
        &mut self,
        now: Instant,
        id: u16,
        config: ChannelConfig,
    ) -> Result<u16, SendError> {
        let parity = match self.role {
            DtlsRole::Client => 0,
            DtlsRole::Server => 1,
        };
        if id % 2 != parity {
            return Err(SendError::WrongParity(id));
        }
        self.open(now, config, Some(id))
    }

    fn open(
        &mut self,
        now: Instant,
        config: ChannelConfig,
        chosen: Option<u16>,
    ) -> Result<u16, SendError> {
        self.last_now = now;
        if self.channels.len() >= self.max_channels {
            return Err(SendError::NoFreeStream);
        }
        let streams = self.assoc.outbound_streams();
        let id = match config.negotiated.or(chosen) {
            Some(id) => {
                if self.channels.contains_key(&id) {
                    return Err(SendError::StreamInUse(id));
                }
                if id >= streams {
                    return Err(SendError::NotOpen(id));
                }
                id
            }
            None => {
                let first = match self.role {
                    DtlsRole::Client => 0,
                    DtlsRole::Server => 1,
                };
                (first..streams)
                    .step_by(2)
                    .find(|id| !self.channels.contains_key(id))
                    .ok_or(SendError::NoFreeStream)?
            }
        };
        if config.negotiated.is_none() {
            let open = DcepMessage::Open(OpenMessage {
                ordered: config.ordered,
                reliability: config.reliability,
                priority: config.priority,
                label: config.label.clone(),
                protocol: config.protocol.clone(),
            });
            self.assoc
                .send(now, id, ppid::DCEP, open.to_bytes(), DCEP_OPTIONS)?;
        }
        self.channels.insert(
            id,
            Channel {
                label: config.label,
                protocol: config.protocol,
                ordered: config.ordered,
                reliability: config.reliability,
                state: ChannelState::Open,
                acked: config.negotiated.is_some(),
                announced: false,
                out_reset: false,
                in_reset: false,
            },
        );
        if self.connected {
            self.announce(id);
        }
        Ok(id)
    }

    fn announce(&mut self, id: u16) {
        if let Some(c) = self.channels.get_mut(&id)
            && !c.announced
        {
            c.announced = true;
            self.events.push_back(DataChannelEvent::ChannelOpened {
                id,
                label: c.label.clone(),
                protocol: c.protocol.clone(),
            });
        }
    }

    /// Sends a message on a channel (`binary` chooses the PPID). Fails with
    /// [`SendError::BufferFull`] when the association already holds
    /// [`Config::max_buffered_amount`] bytes of queued and unacknowledged data, as a browser's
    /// `send` throws when its buffer is full.
    ///
    /// The message is held as given (nothing copied; the caller allocated it).
    /// [`DataChannelEndpoint::send_from_slice`] copies into a recycled buffer instead and
    /// allocates nothing once warm.
    pub fn send(
        &mut self,
        now: Instant,
        channel: u16,
        data: impl Into<Bytes>,
        binary: bool,
    ) -> Result<(), SendError> {
        self.last_now = now;
        let data: Bytes = data.into();
        let (ppid, options) = self.send_params(channel, data.is_empty(), binary)?;
        self.assoc.send(now, channel, ppid, data, options)
    }

    /// Like [`DataChannelEndpoint::send`], but copies `data` into a buffer of the
    /// association's pool: buffers of acknowledged messages, and of received ones handed back
    /// with [`DataChannelEndpoint::recycle`], are reused, so a warm endpoint allocates nothing
    /// per message sent.
    pub fn send_from_slice(
        &mut self,
        now: Instant,
        channel: u16,
        data: &[u8],
        binary: bool,
    ) -> Result<(), SendError> {
        self.last_now = now;
        let (ppid, options) = self.send_params(channel, data.is_empty(), binary)?;
        self.assoc
            .send_from_slice(now, channel, ppid, data, options)
    }

    /// Gives a buffer back for reuse: the `data` of a [`DataChannelEvent::Message`] the
    /// application is done with. The next message received, or sent with
    /// [`DataChannelEndpoint::send_from_slice`], reuses it instead of allocating. Any `Vec`
    /// may be given; at most [`Config::max_pooled_bytes`] are kept, the rest freed.
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        self.assoc.recycle(buffer);
    }

    /// The PPID and options of a message on `channel`, if it is open.
    fn send_params(
        &self,
        channel: u16,
        empty: bool,
        binary: bool,
    ) -> Result<(u32, SendOptions), SendError> {
        let c = self
            .channels
            .get(&channel)
            .filter(|c| c.state == ChannelState::Open)
            .ok_or(SendError::NotOpen(channel))?;
        let ppid = match (binary, empty) {
            (true, false) => ppid::BINARY,
            (true, true) => ppid::BINARY_EMPTY,
            (false, false) => ppid::STRING,
            (false, true) => ppid::STRING_EMPTY,
        };
        let options = SendOptions {
            // Until the peer acknowledged the open, keep order so data cannot overtake it.
            unordered: !c.ordered && c.acked,
            reliability: c.reliability,
            uncounted: false,
        };
        Ok((ppid, options))
    }

    /// Closes a channel by resetting its outgoing stream; [`DataChannelEvent::ChannelClosed`]
    /// follows once both directions are reset.
    pub fn close(&mut self, now: Instant, channel: u16) {
        self.last_now = now;
        if let Some(c) = self.channels.get_mut(&channel)
            && c.state == ChannelState::Open
        {
            c.state = ChannelState::Closing;
            self.assoc.reset_streams(&[channel]);
        }
    }

    /// Bytes queued on a channel and not yet sent.
    pub fn buffered_amount(&self, channel: u16) -> usize {
        self.assoc.buffered_amount(channel)
    }

    /// A channel's reliability (from its DCEP open, ours or the peer's); `None` for a channel
    /// not known.
    pub fn reliability(&self, channel: u16) -> Option<Reliability> {
        self.channels.get(&channel).map(|c| c.reliability)
    }

    /// Sets the threshold for [`DataChannelEvent::BufferedAmountLow`].
    pub fn set_buffered_amount_low_threshold(&mut self, channel: u16, threshold: usize) {
        self.assoc
            .set_buffered_amount_low_threshold(channel, threshold);
    }

    /// Ids of the channels currently known.
    pub fn channel_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.channels.keys().copied()
    }

    /// Starts a graceful SCTP shutdown.
    pub fn shutdown(&mut self, now: Instant) {
        self.assoc.shutdown(now);
        self.process(now);
    }

    fn process(&mut self, now: Instant) {
        while let Some(e) = self.assoc.poll_event() {
            match e {
                Event::Connected => {
                    self.connected = true;
                    self.events.push_back(DataChannelEvent::Connected);
                    // Channels opened before the association was up on a stream the peer did
                    // not grant: the association dropped their queued data; they close.
                    let granted = self.assoc.outbound_streams();
                    for id in self.channels.split_off(&granted).into_keys() {
                        self.events.push_back(DataChannelEvent::ChannelClosed(id));
                    }
                    let ids: Vec<u16> = self.channels.keys().copied().collect();
                    for id in ids {
                        self.announce(id);
                    }
                }
                Event::Message(m) => self.on_message(now, m),
                Event::IncomingStreamsReset(streams) => {
                    for s in streams {
                        let Some(c) = self.channels.get_mut(&s) else {
                            continue;
                        };
                        c.in_reset = true;
                        if c.state == ChannelState::Open {
                            c.state = ChannelState::Closing;
                            self.assoc.reset_streams(&[s]);
                        }
                        self.check_closed(s);
                    }
                }
                Event::OutgoingStreamsReset(streams) => {
                    for s in streams {
                        if let Some(c) = self.channels.get_mut(&s) {
                            c.out_reset = true;
                            self.check_closed(s);
                        }
                    }
                }
                Event::BufferedAmountLow(s) => {
                    if self.channels.contains_key(&s) {
                        self.events
                            .push_back(DataChannelEvent::BufferedAmountLow(s));
                    }
                }
                Event::Closed(reason) => {
                    for id in std::mem::take(&mut self.channels).into_keys() {
                        self.events.push_back(DataChannelEvent::ChannelClosed(id));
                    }
                    self.events
                        .push_back(DataChannelEvent::Disconnected(reason));
                }
            }
        }
    }

    /// Refuses a peer's DATA_CHANNEL_OPEN on a stream without a channel: nothing is kept, and
    /// our outgoing side of the stream is reset, which closes the channel at the peer
    /// (RFC 8831 6.7). Its own reset of the stream then arrives for a stream we do not know
    /// and is answered as usual.
    fn refuse_open(&mut self, id: u16) {
        self.stats.opens_refused += 1;
        self.assoc.reset_streams(&[id]);
    }

    fn check_closed(&mut self, id: u16) {
        if self
            .channels
            .get(&id)
            .is_some_and(|c| c.in_reset && c.out_reset)
        {
            self.channels.remove(&id);
            self.events.push_back(DataChannelEvent::ChannelClosed(id));
        }
    }

    fn on_message(&mut self, now: Instant, m: crate::receiver::ReceivedMessage) {
        let id = m.stream_id;
        if m.ppid == ppid::DCEP {
            let parsed =
                DcepMessage::parse_with_limits(&m.data, self.max_label_len, self.max_protocol_len);
            self.assoc.recycle(m.data);
            match parsed {
                Ok(DcepMessage::Open(open)) => {
                    // The peer reopens a stream whose close we have seen from its side but whose
                    // reset response to us is late or lost: the reuse proves our reset was
                    // performed, so finish closing the old channel first.
                    if self
                        .channels
                        .get(&id)
                        .is_some_and(|c| c.state == ChannelState::Closing && c.in_reset)
                    {
                        self.assoc.assume_outgoing_reset_done(id);
                        self.channels.remove(&id);
                        self.events.push_back(DataChannelEvent::ChannelClosed(id));
                    }
                    if self.channels.contains_key(&id) {
                        self.stats.dcep_errors += 1;
                        return;
                    }
                    // A stream we refused before and reset: the peer reuses it only once it has
                    // performed our reset, so only the response may still be on the way.
                    self.assoc.assume_outgoing_reset_done(id);
                    if self.channels.len() >= self.max_channels {
                        self.refuse_open(id);
                        return;
                    }
                    if self
                        .assoc
                        .send(
                            now,
                            id,
                            ppid::DCEP,
                            DcepMessage::Ack.to_bytes(),
                            DCEP_OPTIONS,
                        )
                        .is_err()
                    {
                        self.refuse_open(id);
                        return;
                    }
                    self.channels.insert(
                        id,
                        Channel {
                            label: open.label,
                            protocol: open.protocol,
                            ordered: open.ordered,
                            reliability: open.reliability,
                            state: ChannelState::Open,
                            acked: true,
                            announced: false,
                            out_reset: false,
                            in_reset: false,
                        },
                    );
                    self.announce(id);
                }
                Ok(DcepMessage::Ack) => {
                    if let Some(c) = self.channels.get_mut(&id) {
                        c.acked = true;
                    }
                }
                Err(DcepError::TooLong { .. }) if self.channels.contains_key(&id) => {
                    self.stats.dcep_errors += 1;
                }
                Err(DcepError::TooLong { .. }) => self.refuse_open(id),
                Err(_) => self.stats.dcep_errors += 1,
            }
            return;
        }
        let Some(c) = self.channels.get_mut(&id) else {
            self.stats.messages_without_channel += 1;
            self.assoc.recycle(m.data);
            return;
        };
        if c.in_reset {
            self.assoc.recycle(m.data);
            return;
        }
        // Data from the peer implies it saw our open (RFC 8832 6).
        c.acked = true;
        let (binary, empty) = match m.ppid {
            ppid::BINARY | ppid::BINARY_PARTIAL => (true, false),
            ppid::BINARY_EMPTY => (true, true),
            ppid::STRING | ppid::STRING_PARTIAL => (false, false),
            ppid::STRING_EMPTY => (false, true),
            _ => {
                self.assoc.recycle(m.data);
                return;
            }
        };
        let data = if empty {
            self.assoc.recycle(m.data);
            Vec::new()
        } else {
            m.data
        };
        self.events.push_back(DataChannelEvent::Message {
            channel: id,
            data,
            binary,
        });
    }
}
