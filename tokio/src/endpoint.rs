//! The [`Endpoint`]: one UDP socket, one task, many peer connections.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sansrtc::{
    ChannelId, ChannelState, ConnectionState, Event, Mid, PeerConnection, Router, RtpReceived,
};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::channel::{DataChannel, Message};
use crate::connection::Connection;
use crate::error::Error;
use crate::media::RtpReceiver;
use crate::tcp;

/// Sizes of the queues between the endpoint's task and the handles, and how long a shutdown
/// waits for goodbyes. Every queue is bounded; what happens when one is full is written beside
/// it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// Calls from handles waiting for the task (default 1024). When full, the calling `async`
    /// method waits (backpressure on the caller).
    pub command_capacity: usize,
    /// Received messages waiting per data channel for [`DataChannel::recv`] (default 256).
    /// No message is ever dropped: when the queue is full, the task keeps further messages of
    /// the channel in an overflow (in order) and stops feeding the connection the datagrams
    /// that may carry data channel data (DTLS records; STUN and media still go through) until
    /// the reader has emptied the overflow. Those datagrams wait in a small hold
    /// ([`EndpointConfig::hold_capacity`]) and are fed once the reader caught up; beyond it,
    /// they are dropped: SCTP did not acknowledge them, so the peer sends them again later.
    /// Backpressure, as a reliable channel wants, with memory bounded by what the connection
    /// delivers from the datagrams it was fed (one datagram's messages, plus those SCTP had
    /// kept waiting on a gap it fills: at most its receive window). Held-back datagrams are
    /// counted in [`EndpointStats::datagrams_held_back`], the longest overflow in
    /// [`EndpointStats::overflow_peak`]. The task serves every connection of the socket and
    /// never waits for one slow reader: the other connections go on. (A reader that stops
    /// for a minute or more makes the peer's SCTP give up after its retransmissions.)
    ///
    /// Unreliable channels (opened with `MaxRetransmits` or `MaxLifetime`) are the exception:
    /// their messages were sent to be lost rather than late, so a message for a full queue is
    /// dropped (counted in [`EndpointStats::unreliable_dropped`]) and never holds back the
    /// connection, whose reliable channels go on while nobody reads an unreliable one.
    pub message_capacity: usize,
    /// Datagrams of a connection kept aside while one of its channels has an overflow (see
    /// [`EndpointConfig::message_capacity`]), fed to it once the reader caught up (default
    /// 64, about 75 KiB per connection whose reader lags). Beyond, they are dropped (counted
    /// in [`EndpointStats::held_back_dropped`]) for the peer to send again.
    pub hold_capacity: usize,
    /// Received RTP packets waiting per track (default 512). When full, packets are dropped
    /// (media is real time: a late packet is worth little) and counted in
    /// [`EndpointStats::rtp_dropped`].
    pub rtp_capacity: usize,
    /// Other events waiting per connection (default 64; [`Connection::next_event`]). When
    /// full, events are dropped and counted in [`EndpointStats::events_dropped`].
    pub event_capacity: usize,
    /// Data channels opened by the peer waiting for [`Connection::accept_channel`], and
    /// new tracks waiting for [`Connection::accept_track`] (default 16 each). When full, a
    /// new channel is closed at once and counted in [`EndpointStats::channels_refused`]; the
    /// packets of a new track are dropped (counted in [`EndpointStats::rtp_unclaimed`]) until
    /// there is room.
    pub accept_capacity: usize,
    /// Bytes a data channel may have buffered (queued or sent and not yet acknowledged)
    /// before [`DataChannel::send`] waits (default 1 MiB): backpressure on the sender, until
    /// the peer has acknowledged half of it.
    pub send_high_water: usize,
    /// How long [`Endpoint::shutdown`] (or dropping the endpoint) lets the connections say
    /// goodbye (SCTP shutdown, DTLS close_notify) before the task ends (default 3 s).
    pub close_timeout: Duration,
    /// ICE-TCP streams kept open at most (default [`MAX_TCP_STREAMS`]; only with
    /// [`Endpoint::with_tcp`]). A stream accepted beyond takes the place of one on which no
    /// frame reached a connection for 30 s, or is closed at once (counted in
    /// [`EndpointStats::tcp_streams_refused`]). Frames no connection claims do not count as
    /// use: strangers opening streams and writing garbage cannot keep the slots from browsers.
    pub max_tcp_streams: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            command_capacity: 1024,
            message_capacity: 256,
            hold_capacity: 64,
            rtp_capacity: 512,
            event_capacity: 64,
            accept_capacity: 16,
            send_high_water: 1 << 20,
            close_timeout: Duration::from_secs(3),
            max_tcp_streams: MAX_TCP_STREAMS,
        }
    }
}

/// Counters of an endpoint's task ([`Endpoint::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Connections the task drives now.
    pub connections: u64,
    /// Datagrams received on the socket.
    pub datagrams_received: u64,
    /// Datagrams no connection claimed (dropped).
    pub datagrams_unrouted: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams the socket refused to send.
    pub send_errors: u64,
    /// Datagrams not fed to their connection (dropped, for the peer to send again) because a
    /// data channel of the connection had more messages than its queue holds
    /// ([`EndpointConfig::message_capacity`]).
    pub datagrams_held_back: u64,
    /// Of the held-back datagrams, those dropped because the connection's hold was full
    /// ([`EndpointConfig::hold_capacity`]): the peer sends them again.
    pub held_back_dropped: u64,
    /// The most messages that waited at once in one channel's overflow (beyond its queue):
    /// how far the backpressure of [`EndpointConfig::message_capacity`] lets memory go.
    pub overflow_peak: u64,
    /// Data channel messages for a channel with no handle, or whose handle was dropped
    /// (discarded).
    pub messages_unclaimed: u64,
    /// RTP packets dropped because their track's queue was full.
    pub rtp_dropped: u64,
    /// RTP packets of no known track (no mid), or of a new track that found the accept
    /// queue full (dropped).
    pub rtp_unclaimed: u64,
    /// Events dropped because the connection's event queue was full.
    pub events_dropped: u64,
    /// Messages of unreliable channels dropped because the channel's queue was full
    /// ([`EndpointConfig::message_capacity`]).
    pub unreliable_dropped: u64,
    /// Channels opened by the peer and closed because the accept queue was full.
    pub channels_refused: u64,
    /// ICE-TCP streams open now ([`Endpoint::bind_with_tcp`]).
    pub tcp_streams: u64,
    /// ICE-TCP streams closed at once because [`EndpointConfig::max_tcp_streams`] were open
    /// and none idle.
    pub tcp_streams_refused: u64,
    /// Frames received on ICE-TCP streams (each also counted in `datagrams_received`).
    pub tcp_frames_received: u64,
}

/// ICE-TCP streams an endpoint keeps open at most by default
/// ([`EndpointConfig::max_tcp_streams`]).
pub const MAX_TCP_STREAMS: usize = tcp::MAX_STREAMS;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    connections: AtomicU64,
    datagrams_received: AtomicU64,
    datagrams_unrouted: AtomicU64,
    datagrams_sent: AtomicU64,
    send_errors: AtomicU64,
    datagrams_held_back: AtomicU64,
    held_back_dropped: AtomicU64,
    overflow_peak: AtomicU64,
    messages_unclaimed: AtomicU64,
    rtp_dropped: AtomicU64,
    rtp_unclaimed: AtomicU64,
    events_dropped: AtomicU64,
    unreliable_dropped: AtomicU64,
    channels_refused: AtomicU64,
    tcp_streams: AtomicU64,
    tcp_streams_refused: AtomicU64,
    tcp_frames_received: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What the endpoint and its handles share with the task.
#[derive(Debug)]
pub(crate) struct Shared {
    next_key: AtomicU64,
    /// Connections whose handle was dropped: the task closes them.
    dropped: Mutex<Vec<u64>>,
    /// Channels (connection key, id) whose reader took a message while the task kept an
    /// overflow for them: the task moves the overflow into their queue.
    refill: Mutex<HashSet<(u64, ChannelId)>>,
    notify: Notify,
    counters: Counters,
    pub(crate) config: EndpointConfig,
}

impl Shared {
    /// A connection handle was dropped: its connection is to be closed.
    pub(crate) fn connection_dropped(&self, key: u64) {
        if let Ok(mut d) = self.dropped.lock() {
            d.push(key);
        }
        self.notify.notify_one();
    }

    /// The reader of channel `id` of connection `key` made room in its queue (or dropped its
    /// handle) while the task kept an overflow for it.
    pub(crate) fn refill(&self, key: u64, id: ChannelId) {
        if let Ok(mut r) = self.refill.lock() {
            r.insert((key, id));
        }
        self.notify.notify_one();
    }
}

/// Work for the task on one connection (the handles' calls).
pub(crate) type Job = Box<dyn FnOnce(&mut Entry, Instant) + Send>;

/// A call from the endpoint or a handle to the task.
pub(crate) enum Command {
    Add {
        key: u64,
        pc: Box<PeerConnection>,
        parts: EntryParts,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Run {
        key: u64,
        job: Job,
    },
}

/// Runs `f` on connection `key` inside the task and returns what it returned; `Closed` when
/// the connection or the task is gone.
pub(crate) async fn run_job<R, F>(
    commands: &mpsc::Sender<Command>,
    key: u64,
    f: F,
) -> Result<R, Error>
where
    R: Send + 'static,
    F: FnOnce(&mut Entry, Instant) -> R + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |entry, now| {
        let _ = tx.send(f(entry, now));
    });
    commands
        .send(Command::Run { key, job })
        .await
        .map_err(|_| Error::Closed)?;
    rx.await.map_err(|_| Error::Closed)
}

/// The task's halves of a new connection's queues.
pub(crate) struct EntryParts {
    state: watch::Sender<ConnectionState>,
    accept: mpsc::Sender<DataChannel>,
    tracks: mpsc::Sender<RtpReceiver>,
    events: mpsc::Sender<Event>,
}

/// The task's side of one data channel.
pub(crate) struct ChannelSlot {
    messages: mpsc::Sender<Message>,
    /// Messages received while `messages` was full, oldest first.
    overflow: VecDeque<Message>,
    /// Set while `overflow` is not empty: the reader then asks for a refill
    /// ([`Shared::refill`]) after each message it takes.
    backlog: Arc<AtomicBool>,
    state: watch::Sender<ChannelState>,
    /// Woken when the channel's buffered amount falls to its low threshold, or it closes.
    writable: Arc<Notify>,
    /// An unreliable channel: a message for a full queue is dropped, never kept in `overflow`.
    lossy: bool,
}

/// One connection inside the task.
pub(crate) struct Entry {
    pub(crate) pc: PeerConnection,
    key: u64,
    state: watch::Sender<ConnectionState>,
    accept: mpsc::Sender<DataChannel>,
    accept_tracks: mpsc::Sender<RtpReceiver>,
    events: mpsc::Sender<Event>,
    channels: HashMap<ChannelId, ChannelSlot>,
    /// Channels whose `overflow` is not empty: while any, the connection is fed no datagram
    /// that may carry data channel data.
    overflowing: usize,
    /// Datagrams that arrived while `overflowing` (transport, source, bytes), to feed in
    /// order later.
    held: VecDeque<(sansrtc::Transport, SocketAddr, Vec<u8>)>,
    tracks: HashMap<Mid, mpsc::Sender<RtpReceived>>,
    deadline: Option<Instant>,
    /// To make handles for channels the peer opens.
    commands: mpsc::WeakSender<Command>,
    shared: Arc<Shared>,
}

impl Entry {
    /// A handle (and the task's side) for channel `id`.
    pub(crate) fn new_channel(
        &mut self,
        id: ChannelId,
        label: String,
        protocol: String,
        state: ChannelState,
    ) -> Option<DataChannel> {
        let commands = self.commands.upgrade()?;
        let (messages_tx, messages_rx) = mpsc::channel(self.shared.config.message_capacity.max(1));
        let (state_tx, state_rx) = watch::channel(state);
        let writable = Arc::new(Notify::new());
        let backlog = Arc::new(AtomicBool::new(false));
        let high_water = self.shared.config.send_high_water;
        let mut lossy = false;
        if let Ok(mut c) = self.pc.channel(id) {
            c.set_buffered_amount_low_threshold(high_water / 2);
            lossy = c.reliability() != sansrtc::sctp::Reliability::Reliable;
        }
        let replaced = self.channels.insert(
            id,
            ChannelSlot {
                messages: messages_tx,
                overflow: VecDeque::new(),
                backlog: backlog.clone(),
                state: state_tx,
                writable: writable.clone(),
                lossy,
            },
        );
        if let Some(old) = replaced
            && !old.overflow.is_empty()
        {
            self.overflowing -= 1;
            old.hand_over();
        }
        Some(DataChannel {
            conn: self.key,
            id,
            label,
            protocol,
            commands,
            state: state_rx,
            messages: messages_rx,
            writable,
            high_water,
            backlog,
            shared: self.shared.clone(),
        })
    }

    /// Sends the RTP of `mid` to a new queue (replacing an earlier one).
    pub(crate) fn new_track(&mut self, mid: Mid) -> mpsc::Receiver<RtpReceived> {
        let (tx, rx) = mpsc::channel(self.shared.config.rtp_capacity.max(1));
        self.tracks.insert(mid, tx);
        rx
    }

    fn event(&mut self, event: Event, now: Instant) {
        let shared = self.shared.clone();
        let counters = &shared.counters;
        match event {
            Event::ConnectionStateChange(s) => {
                self.state.send_replace(s);
            }
            Event::DataChannelOpen {
                id,
                label,
                protocol,
            } => {
                if let Some(slot) = self.channels.get(&id) {
                    slot.state.send_replace(ChannelState::Open);
                    return;
                }
                let Some(handle) = self.new_channel(id, label, protocol, ChannelState::Open) else {
                    return;
                };
                if self.accept.try_send(handle).is_err() {
                    bump(&counters.channels_refused);
                    self.channels.remove(&id);
                    if let Ok(c) = self.pc.channel(id) {
                        c.close(now);
                    }
                }
            }
            Event::DataChannelMessage { id, data, kind } => {
                let Some(slot) = self.channels.get_mut(&id) else {
                    bump(&counters.messages_unclaimed);
                    return;
                };
                let message = Message { data, kind };
                if !slot.overflow.is_empty() {
                    // Behind the others, in order.
                    slot.overflow.push_back(message);
                    counters
                        .overflow_peak
                        .fetch_max(slot.overflow.len() as u64, Ordering::Relaxed);
                    return;
                }
                match slot.messages.try_send(message) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) if slot.lossy => {
                        bump(&counters.unreliable_dropped);
                    }
                    Err(mpsc::error::TrySendError::Full(message)) => {
                        // Set before the message is kept: a reader taking a message from now
                        // on asks for a refill; one that took it before is caught by the
                        // refill right below.
                        slot.backlog.store(true, Ordering::SeqCst);
                        slot.overflow.push_back(message);
                        counters.overflow_peak.fetch_max(1, Ordering::Relaxed);
                        self.overflowing += 1;
                        if slot.refill(counters) {
                            self.overflowing -= 1;
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        bump(&counters.messages_unclaimed);
                    }
                }
            }
            Event::DataChannelClose(id) => {
                if let Some(slot) = self.channels.remove(&id) {
                    slot.state.send_replace(ChannelState::Closed);
                    slot.writable.notify_waiters();
                    if !slot.overflow.is_empty() {
                        self.overflowing -= 1;
                        slot.hand_over();
                    }
                }
            }
            Event::BufferedAmountLow(id) if self.channels.contains_key(&id) => {
                if let Some(slot) = self.channels.get(&id) {
                    slot.writable.notify_waiters();
                }
            }
            Event::Rtp(packet) => {
                let Some(mid) = packet.mid else {
                    bump(&counters.rtp_unclaimed);
                    return;
                };
                if !self.tracks.contains_key(&mid) {
                    // A new track: offered to `accept_track` with its first packet.
                    let Ok(permit) = self.accept_tracks.try_reserve() else {
                        bump(&counters.rtp_unclaimed);
                        return;
                    };
                    let (tx, rx) = mpsc::channel(shared.config.rtp_capacity.max(1));
                    self.tracks.insert(mid, tx);
                    permit.send(RtpReceiver::new(mid, rx));
                }
                if let Some(tx) = self.tracks.get(&mid)
                    && let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(packet)
                {
                    bump(&counters.rtp_dropped);
                }
            }
            other => {
                if let Err(mpsc::error::TrySendError::Full(_)) = self.events.try_send(other) {
                    bump(&counters.events_dropped);
                }
            }
        }
    }

    /// The connection is gone: every handle sees it closed.
    fn finish(self) {
        // Watchers wake only if the state was not `Closed` yet (then at the sender's drop).
        self.state.send_if_modified(|s| {
            let changed = *s != ConnectionState::Closed;
            *s = ConnectionState::Closed;
            changed
        });
        for (_, slot) in self.channels {
            slot.state.send_replace(ChannelState::Closed);
            slot.writable.notify_waiters();
            slot.hand_over();
        }
        // Dropping the senders ends every `recv` (after the messages handed over).
    }

    /// Moves the overflow of channel `id` into its queue, as far as there is room.
    fn refill(&mut self, id: ChannelId) {
        let counters = &self.shared.counters;
        if let Some(slot) = self.channels.get_mut(&id)
            && !slot.overflow.is_empty()
            && slot.refill(counters)
        {
            self.overflowing -= 1;
        }
    }
}

impl ChannelSlot {
    /// Moves the overflow into the queue as far as there is room; `true` if it is now empty
    /// (the reader's handle may be gone: then the overflow is discarded).
    fn refill(&mut self, counters: &Counters) -> bool {
        while let Some(message) = self.overflow.pop_front() {
            match self.messages.try_send(message) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(message)) => {
                    self.overflow.push_front(message);
                    return false;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    counters
                        .messages_unclaimed
                        .fetch_add(1 + self.overflow.len() as u64, Ordering::Relaxed);
                    self.overflow.clear();
                }
            }
        }
        self.backlog.store(false, Ordering::SeqCst);
        true
    }

    /// The channel is gone from its connection: the messages of its overflow still reach the
    /// reader (no more arrive, so a small task delivers them as the reader makes room).
    fn hand_over(self) {
        if self.overflow.is_empty() {
            return;
        }
        let (messages, overflow) = (self.messages, self.overflow);
        tokio::spawn(async move {
            for message in overflow {
                if messages.send(message).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// A UDP socket and the task that drives every peer connection added to it.
///
/// The task (spawned on the current tokio runtime by [`Endpoint::new`]) waits for whichever
/// comes first: a datagram (routed to its connection by [`sansrtc::Router`]), a call from a
/// handle, or the earliest deadline of all its connections (one timer for the socket, kept in
/// a sorted set: no connection is polled unless its deadline passed or input arrived).
///
/// Dropping the endpoint, or [`Endpoint::shutdown`], closes every connection (each says
/// goodbye, for at most [`EndpointConfig::close_timeout`]) and ends the task; every handle then
/// sees the end: state [`ConnectionState::Closed`], `recv` returning `None`, calls failing
/// with [`Error::Closed`]. Handles ([`Connection`], [`DataChannel`], ...) may outlive it.
#[derive(Debug)]
pub struct Endpoint {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    local: SocketAddr,
    tcp_local: Option<SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Binds a UDP socket to `addr` (a concrete address such as `127.0.0.1:0` or the
    /// server's public IP: it becomes the connections' host candidate, so not `0.0.0.0`) and
    /// starts its task with the default [`EndpointConfig`].
    pub async fn bind(addr: impl ToSocketAddrs) -> Result<Endpoint, Error> {
        let socket = UdpSocket::bind(addr).await?;
        Endpoint::new(socket, EndpointConfig::default())
    }

    /// [`Endpoint::bind`], and a TCP listener on the same address and port: every connection
    /// added also gets a passive ICE-TCP host candidate (RFC 6544) there, for browsers whose
    /// network blocks UDP (UDP is still preferred when it works). See [`Endpoint::with_tcp`].
    pub async fn bind_with_tcp(addr: impl ToSocketAddrs) -> Result<Endpoint, Error> {
        let socket = UdpSocket::bind(addr).await?;
        let listener = TcpListener::bind(socket.local_addr()?).await?;
        Endpoint::with_tcp(socket, listener, EndpointConfig::default())
    }

    /// Starts the task of `socket` on the current tokio runtime (panics outside one, as
    /// `tokio::spawn`).
    pub fn new(socket: UdpSocket, config: EndpointConfig) -> Result<Endpoint, Error> {
        Self::start(socket, None, config)
    }

    /// [`Endpoint::new`] with ICE over TCP: the task also accepts streams on `listener`
    /// (its address becomes every connection's passive TCP candidate), reads each as RFC 4571
    /// frames routed like datagrams, and writes what a connection sends over TCP on the stream
    /// accepted from the destination. Limits: [`EndpointConfig::max_tcp_streams`] streams, frames of 16 KiB,
    /// 256 frames queued per stream (more are dropped, like datagrams a full socket refuses).
    pub fn with_tcp(
        socket: UdpSocket,
        listener: TcpListener,
        config: EndpointConfig,
    ) -> Result<Endpoint, Error> {
        Self::start(socket, Some(listener), config)
    }

    fn start(
        socket: UdpSocket,
        listener: Option<TcpListener>,
        config: EndpointConfig,
    ) -> Result<Endpoint, Error> {
        let local = socket.local_addr()?;
        let tcp_local = listener.as_ref().map(TcpListener::local_addr).transpose()?;
        let (tcp_inputs_tx, tcp_inputs) = mpsc::channel(tcp::INPUT_QUEUE);
        let max_tcp_streams = config.max_tcp_streams;
        let (commands, commands_rx) = mpsc::channel(config.command_capacity.max(1));
        let shared = Arc::new(Shared {
            next_key: AtomicU64::new(0),
            dropped: Mutex::new(Vec::new()),
            refill: Mutex::new(HashSet::new()),
            notify: Notify::new(),
            counters: Counters::default(),
            config,
        });
        let (shutdown, shutdown_rx) = oneshot::channel();
        let driver = Driver {
            socket,
            local,
            tcp_listener: listener,
            tcp_local,
            tcp_inputs,
            tcp: tcp::Streams::new(tcp_inputs_tx, max_tcp_streams),
            router: Router::new(),
            conns: HashMap::new(),
            timers: BTreeSet::new(),
            commands: commands_rx,
            weak: commands.downgrade(),
            shared: shared.clone(),
        };
        let task = tokio::spawn(driver.run(shutdown_rx));
        Ok(Endpoint {
            commands,
            shared,
            local,
            tcp_local,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The socket's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The TCP listener's address (the passive ICE-TCP candidate), when the endpoint has one.
    pub fn tcp_local_addr(&self) -> Option<SocketAddr> {
        self.tcp_local
    }

    /// Hands `pc` to the task, which drives it from now on, and returns its handle. The
    /// socket's address is registered on `pc` (`add_local_address`): create the offer or
    /// answer afterwards, through the handle ([`Connection::create_offer`], ...), or register
    /// [`Endpoint::local_addr`] yourself before. `pc` may be configured in any way before
    /// (transceivers, channels, even descriptions already exchanged).
    ///
    /// Fails if the connection's ICE ufrag is taken by another connection of the socket, or
    /// the socket's address cannot be a candidate.
    ///
    /// Cancel safety: if cancelled, the connection may or may not have been added; if it was,
    /// its handle is dropped at once, which closes it.
    pub async fn add(&self, pc: PeerConnection) -> Result<Connection, Error> {
        let key = self.shared.next_key.fetch_add(1, Ordering::Relaxed);
        let config = &self.shared.config;
        let (state_tx, state_rx) = watch::channel(pc.state());
        let (accept_tx, accept_rx) = mpsc::channel(config.accept_capacity.max(1));
        let (tracks_tx, tracks_rx) = mpsc::channel(config.accept_capacity.max(1));
        let (events_tx, events_rx) = mpsc::channel(config.event_capacity.max(1));
        // The handle exists before the call so that a cancelled `add` closes the connection.
        let connection = Connection::new(
            key,
            self.commands.clone(),
            self.shared.clone(),
            state_rx,
            accept_rx,
            tracks_rx,
            events_rx,
        );
        let (reply, reply_rx) = oneshot::channel();
        self.commands
            .send(Command::Add {
                key,
                pc: Box::new(pc),
                parts: EntryParts {
                    state: state_tx,
                    accept: accept_tx,
                    tracks: tracks_tx,
                    events: events_tx,
                },
                reply,
            })
            .await
            .map_err(|_| Error::Closed)?;
        reply_rx.await.map_err(|_| Error::Closed)??;
        Ok(connection)
    }

    /// The task's counters.
    pub fn stats(&self) -> EndpointStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EndpointStats {
            connections: get(&c.connections),
            datagrams_received: get(&c.datagrams_received),
            datagrams_unrouted: get(&c.datagrams_unrouted),
            datagrams_sent: get(&c.datagrams_sent),
            send_errors: get(&c.send_errors),
            datagrams_held_back: get(&c.datagrams_held_back),
            held_back_dropped: get(&c.held_back_dropped),
            overflow_peak: get(&c.overflow_peak),
            messages_unclaimed: get(&c.messages_unclaimed),
            rtp_dropped: get(&c.rtp_dropped),
            rtp_unclaimed: get(&c.rtp_unclaimed),
            events_dropped: get(&c.events_dropped),
            unreliable_dropped: get(&c.unreliable_dropped),
            channels_refused: get(&c.channels_refused),
            tcp_streams: get(&c.tcp_streams),
            tcp_streams_refused: get(&c.tcp_streams_refused),
            tcp_frames_received: get(&c.tcp_frames_received),
        }
    }

    /// Closes every connection, lets their goodbyes out (at most
    /// [`EndpointConfig::close_timeout`]) and returns when the task has ended.
    ///
    /// Cancel safety: the shutdown is under way as soon as this is first polled; cancelling it
    /// only stops waiting for the end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        // Dropping `shutdown` wakes the task, which closes everything and ends.
        self.shutdown.take();
    }
}

/// The task: owns the socket, the router and every connection.
struct Driver {
    socket: UdpSocket,
    local: SocketAddr,
    /// ICE-TCP: the listener, its address, what the streams' readers send, the streams.
    tcp_listener: Option<TcpListener>,
    tcp_local: Option<SocketAddr>,
    tcp_inputs: mpsc::Receiver<tcp::Input>,
    tcp: tcp::Streams,
    router: Router<u64>,
    conns: HashMap<u64, Entry>,
    /// Every connection's deadline, earliest first.
    timers: BTreeSet<(Instant, u64)>,
    commands: mpsc::Receiver<Command>,
    weak: mpsc::WeakSender<Command>,
    shared: Arc<Shared>,
}

/// Datagrams read in one go before the other inputs get a turn.
const RECV_BATCH: usize = 64;

impl Driver {
    async fn run(mut self, mut shutdown: oneshot::Receiver<()>) {
        let mut buf = vec![0u8; 65_536];
        let mut closing_until: Option<Instant> = None;
        let mut commands_open = true;
        // The socket's one timer, moved only when the earliest deadline moves.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            if let Some(until) = closing_until
                && (self.conns.is_empty() || Instant::now() >= until)
            {
                break;
            }
            let wake = match (self.timers.first().map(|&(t, _)| t), closing_until) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if wake != armed {
                if let Some(wake) = wake {
                    timer.as_mut().reset(tokio::time::Instant::from_std(wake));
                }
                armed = wake;
            }
            tokio::select! {
                _ = &mut shutdown, if closing_until.is_none() => {
                    closing_until = Some(Instant::now() + self.shared.config.close_timeout);
                    let keys: Vec<u64> = self.conns.keys().copied().collect();
                    for key in keys {
                        self.close(key).await;
                    }
                }
                command = self.commands.recv(), if commands_open => match command {
                    Some(command) => self.command(command, closing_until.is_some()).await,
                    None => commands_open = false,
                },
                () = self.shared.notify.notified() => {
                    self.refills().await;
                    let dropped = self
                        .shared
                        .dropped
                        .lock()
                        .map(|mut d| std::mem::take(&mut *d))
                        .unwrap_or_default();
                    for key in dropped {
                        self.close(key).await;
                    }
                }
                received = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = received {
                        self.datagram(sansrtc::Transport::Udp, from, &buf[..n]).await;
                        for _ in 1..RECV_BATCH {
                            match self.socket.try_recv_from(&mut buf) {
                                Ok((n, from)) => {
                                    self.datagram(sansrtc::Transport::Udp, from, &buf[..n]).await;
                                }
                                Err(_) => break,
                            }
                        }
                    }
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None; // re-armed at the next turn, even for the same instant
                    self.timeouts().await;
                }
                accepted = accept(self.tcp_listener.as_ref()), if self.tcp_listener.is_some() => {
                    if let Ok((stream, peer)) = accepted {
                        self.accepted(stream, peer);
                    }
                }
                Some(input) = self.tcp_inputs.recv(), if self.tcp_listener.is_some() => {
                    self.tcp_input(input).await;
                }
            }
        }
        for (key, entry) in self.conns.drain() {
            self.router.remove(key);
            entry.finish();
        }
        self.shared.counters.connections.store(0, Ordering::Relaxed);
    }

    async fn command(&mut self, command: Command, closing: bool) {
        match command {
            Command::Add {
                key,
                pc,
                parts,
                reply,
            } => {
                if closing {
                    let _ = reply.send(Err(Error::Closed));
                    return;
                }
                let mut pc = *pc;
                if let Err(e) = pc.add_local_address(self.local) {
                    let _ = reply.send(Err(e.into()));
                    return;
                }
                if let Some(tcp_local) = self.tcp_local
                    && let Err(e) = pc.add_local_tcp_address(tcp_local)
                {
                    let _ = reply.send(Err(e.into()));
                    return;
                }
                if let Err(e) = self.router.insert(key, &pc) {
                    let _ = reply.send(Err(e.into()));
                    return;
                }
                self.conns.insert(
                    key,
                    Entry {
                        pc,
                        key,
                        state: parts.state,
                        accept: parts.accept,
                        accept_tracks: parts.tracks,
                        events: parts.events,
                        channels: HashMap::new(),
                        overflowing: 0,
                        held: VecDeque::new(),
                        tracks: HashMap::new(),
                        deadline: None,
                        commands: self.weak.clone(),
                        shared: self.shared.clone(),
                    },
                );
                bump(&self.shared.counters.connections);
                if reply.send(Ok(())).is_err() {
                    // `add` was cancelled: its handle is gone, so is the connection.
                    self.close(key).await;
                    return;
                }
                self.flush(key).await;
            }
            Command::Run { key, job } => {
                let Some(entry) = self.conns.get_mut(&key) else {
                    return; // the job's reply is dropped: the caller sees `Closed`
                };
                let now = Instant::now();
                if std::panic::catch_unwind(AssertUnwindSafe(|| job(entry, now))).is_err() {
                    // A closure given to `Connection::with` panicked: the connection may be
                    // half-changed, so it goes; the other connections go on.
                    self.remove(key);
                    return;
                }
                // A call may have restarted ICE (a new ufrag to route).
                self.router.refresh(key, &entry.pc);
                self.flush(key).await;
            }
        }
    }

    async fn close(&mut self, key: u64) {
        if let Some(entry) = self.conns.get_mut(&key) {
            entry.pc.close(Instant::now());
            self.flush(key).await;
        }
    }

    /// A stream accepted on the TCP listener.
    fn accepted(&mut self, stream: TcpStream, peer: SocketAddr) {
        let counters = &self.shared.counters;
        if !self.tcp.add(stream, peer, Instant::now()) {
            bump(&counters.tcp_streams_refused);
        }
        counters
            .tcp_streams
            .store(self.tcp.len() as u64, Ordering::Relaxed);
    }

    /// A frame read from a stream, or a stream's end.
    async fn tcp_input(&mut self, input: tcp::Input) {
        match input {
            tcp::Input::Frame(peer, id, frame) => {
                if self.tcp.is_current(peer, id) {
                    bump(&self.shared.counters.tcp_frames_received);
                    if self.datagram(sansrtc::Transport::Tcp, peer, &frame).await {
                        self.tcp.routed(peer, id, Instant::now());
                    }
                }
            }
            tcp::Input::Closed(peer, id) => {
                self.tcp.closed(peer, id);
                self.shared
                    .counters
                    .tcp_streams
                    .store(self.tcp.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// The local address packets over `transport` arrive on.
    fn local_on(&self, transport: sansrtc::Transport) -> SocketAddr {
        match (transport, self.tcp_local) {
            (sansrtc::Transport::Tcp, Some(tcp)) => tcp,
            _ => self.local,
        }
    }

    /// Routes a datagram (over TCP: a frame) to its connection; whether one claimed it.
    async fn datagram(
        &mut self,
        transport: sansrtc::Transport,
        source: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        let counters = &self.shared.counters;
        bump(&counters.datagrams_received);
        let local = self.local_on(transport);
        let Some(key) = self.router.route_on(transport, local, source, datagram) else {
            bump(&counters.datagrams_unrouted);
            return false;
        };
        let Some(entry) = self.conns.get_mut(&key) else {
            bump(&counters.datagrams_unrouted);
            return false;
        };
        // DTLS records (first byte 20..=63, RFC 7983) may carry data channel data: while a
        // channel of the connection has an overflow, they wait in the hold, or at the peer
        // (which sends them again, as SCTP got no acknowledgement). STUN (consent) and media
        // go on, and so does everything once the connection is closing (its goodbyes).
        if matches!(datagram.first(), Some(20..=63))
            && (entry.overflowing > 0 || !entry.held.is_empty())
            && entry.pc.state() != ConnectionState::Closed
        {
            self.refills().await;
            let Some(entry) = self.conns.get_mut(&key) else {
                return true;
            };
            if entry.overflowing > 0 || !entry.held.is_empty() {
                let counters = &self.shared.counters;
                bump(&counters.datagrams_held_back);
                if entry.held.len() < self.shared.config.hold_capacity {
                    entry.held.push_back((transport, source, datagram.to_vec()));
                } else {
                    bump(&counters.held_back_dropped);
                }
                return true;
            }
        }
        self.feed(key, transport, source, datagram).await;
        true
    }

    /// Feeds connection `key` a datagram (over TCP: a frame) from `source`.
    async fn feed(
        &mut self,
        key: u64,
        transport: sansrtc::Transport,
        source: SocketAddr,
        datagram: &[u8],
    ) {
        let local = self.local_on(transport);
        let Some(entry) = self.conns.get_mut(&key) else {
            return;
        };
        entry
            .pc
            .handle_receive_on(Instant::now(), transport, source, local, datagram);
        self.router
            .learn_on(key, &entry.pc, transport, local, source, datagram);
        self.flush(key).await;
    }

    async fn timeouts(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(&(t, key)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            due.push(key);
        }
        for key in due {
            if let Some(entry) = self.conns.get_mut(&key) {
                entry.deadline = None;
                entry.pc.handle_timeout(now);
                // Routes follow consent and ICE restarts (cheap: a few paths per connection).
                self.router.refresh(key, &entry.pc);
                self.flush(key).await;
            }
        }
    }

    /// Sends what connection `key` has to send, hands its events to their queues, files its
    /// next deadline, and forgets it once closed.
    async fn flush(&mut self, key: u64) {
        let Some(entry) = self.conns.get_mut(&key) else {
            return;
        };
        let counters = &self.shared.counters;
        loop {
            let mut idle = true;
            while let Some(t) = entry.pc.poll_transmit() {
                idle = false;
                self.router.sent(key, &t);
                if t.transport == sansrtc::Transport::Tcp {
                    // A frame on the stream accepted from the destination (dropped when that
                    // stream is gone or its queue full, as a datagram the socket refuses).
                    if self.tcp.send(t.destination, t.contents) {
                        bump(&counters.datagrams_sent);
                    } else {
                        bump(&counters.send_errors);
                    }
                    continue;
                }
                match self.socket.send_to(&t.contents, t.destination).await {
                    Ok(_) => bump(&counters.datagrams_sent),
                    Err(_) => bump(&counters.send_errors),
                }
            }
            let now = Instant::now();
            while let Some(event) = entry.pc.poll_event() {
                idle = false;
                entry.event(event, now);
            }
            if idle {
                break;
            }
        }
        let next = entry.pc.poll_timeout();
        if next != entry.deadline {
            if let Some(old) = entry.deadline {
                self.timers.remove(&(old, key));
            }
            if let Some(new) = next {
                self.timers.insert((new, key));
            }
            entry.deadline = next;
        }
        if entry.pc.is_closed() {
            self.remove(key);
        }
    }

    /// Moves overflows into the queues their readers made room in ([`Shared::refill`]), and
    /// feeds the connections whose overflows are all gone the datagrams they held.
    async fn refills(&mut self) {
        let refill = self
            .shared
            .refill
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        let mut ready = BTreeSet::new();
        for (key, id) in refill {
            if let Some(entry) = self.conns.get_mut(&key) {
                entry.refill(id);
                if entry.overflowing == 0 && !entry.held.is_empty() {
                    ready.insert(key);
                }
            }
        }
        for key in ready {
            // In order, until one of them fills a queue again.
            while let Some(entry) = self.conns.get_mut(&key)
                && entry.overflowing == 0
                && let Some((transport, source, datagram)) = entry.held.pop_front()
            {
                self.feed(key, transport, source, &datagram).await;
            }
        }
    }

    fn remove(&mut self, key: u64) {
        if let Some(entry) = self.conns.remove(&key) {
            self.router.remove(key);
            if let Some(d) = entry.deadline {
                self.timers.remove(&(d, key));
            }
            entry.finish();
            self.shared
                .counters
                .connections
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The next stream of `listener` (never, without one).
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}
