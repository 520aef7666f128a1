//! Two whole peer connections in one process, for the peer connection benchmarks: sansrtc's
//! [`PeerConnection`] and str0m's `Rtc`, each pair driven the same way.
//!
//! The link is in memory: datagrams are delivered at once and in order, and the clock is fake.
//! When nothing is in flight the clock jumps to the earliest deadline of the two peers, so timers
//! (ICE pacing, delayed SACKs) cost no real time and every measured nanosecond is protocol work.
//! A setup is offer -> answer (both as SDP text, parsed by the other side) -> ICE -> DTLS -> SCTP
//! -> one data channel open on both sides.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sansrtc::{ChannelConfig, Config, Event, PeerConnection, SdpType};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::channel::ChannelId;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Rtc, RtcConfig};

/// The two peers' addresses (every pair uses the same ones: pairs never share a wire).
pub const ADDRS: [&str; 2] = ["127.0.0.1:10001", "127.0.0.1:10002"];

/// Simulated time a setup may take before the driver gives up (a broken setup must not hang).
const SETUP_LIMIT: Duration = Duration::from_secs(30);

fn addrs() -> [SocketAddr; 2] {
    [ADDRS[0].parse().unwrap(), ADDRS[1].parse().unwrap()]
}

/// Certificates made once and shared by every connection, so certificate generation is not part
/// of a setup (setups given `None` instead make fresh ones, as each stack does by default).
#[derive(Clone)]
pub struct Certs {
    /// sansrtc's (an ECDSA P-256 key and self-signed certificate).
    pub sansrtc: [Arc<sansrtc::dtls::Certificate>; 2],
    /// str0m's (DER certificate and key; ECDSA P-256 from its default provider).
    pub str0m: [str0m::crypto::dtls::DtlsCert; 2],
}

impl Certs {
    /// Generates two certificates for each stack.
    pub fn generate() -> Certs {
        let provider = str0m::crypto::from_feature_flags();
        let s0 = || provider.dtls_provider.generate_certificate().unwrap();
        let ours = || Arc::new(sansrtc::dtls::Certificate::generate().unwrap());
        Certs {
            sansrtc: [ours(), ours()],
            str0m: [s0(), s0()],
        }
    }
}

/// Installs str0m's crypto provider as the process default (needed once, before any `Rtc`).
pub fn init_str0m() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
}

/// Two connected sansrtc peer connections with one open data channel.
pub struct SansrtcPair {
    /// Fake clock.
    pub now: Instant,
    /// Offerer (0) and answerer (1).
    pub pcs: [PeerConnection; 2],
    addrs: [SocketAddr; 2],
    wire: VecDeque<(usize, SocketAddr, SocketAddr, sansrtc::PacketBuf)>,
    /// The data channel (opened by the offerer).
    pub channel: Option<sansrtc::ChannelId>,
    open: [bool; 2],
    /// Messages received by each peer.
    pub received: [usize; 2],
    /// Bytes received by each peer.
    pub received_bytes: [usize; 2],
}

impl SansrtcPair {
    /// Runs a full setup starting at `now`: [`SansrtcPair::new`] then
    /// [`SansrtcPair::connect`]. With `certs`, both peers reuse them.
    pub fn setup(now: Instant, certs: Option<&Certs>) -> SansrtcPair {
        let mut pair = Self::new(now, certs);
        pair.connect();
        pair
    }

    /// Two new peer connections with their local addresses registered.
    pub fn new(now: Instant, certs: Option<&Certs>) -> SansrtcPair {
        Self::new_with(now, certs, |_| {})
    }

    /// [`SansrtcPair::new`], each peer changed by `prepare` (tracks added, say) before the
    /// offer.
    pub fn new_with(
        now: Instant,
        certs: Option<&Certs>,
        prepare: impl Fn(&mut PeerConnection),
    ) -> SansrtcPair {
        Self::new_between(now, certs, addrs(), prepare)
    }

    /// [`SansrtcPair::new_with`] with the two peers at `addrs` (offerer, answerer).
    pub fn new_between(
        now: Instant,
        certs: Option<&Certs>,
        addrs: [SocketAddr; 2],
        prepare: impl Fn(&mut PeerConnection),
    ) -> SansrtcPair {
        Self::new_configured(now, certs, addrs, |_| {}, prepare)
    }

    /// [`SansrtcPair::new_between`], each peer's [`Config`] changed by `configure` first.
    pub fn new_configured(
        now: Instant,
        certs: Option<&Certs>,
        addrs: [SocketAddr; 2],
        configure: impl Fn(&mut Config),
        prepare: impl Fn(&mut PeerConnection),
    ) -> SansrtcPair {
        let mk = |i: usize| {
            let mut config = Config::default();
            config.certificate = certs.map(|c| c.sansrtc[i].clone());
            configure(&mut config);
            let mut pc = PeerConnection::new(config).unwrap();
            prepare(&mut pc);
            pc
        };
        let mut pcs = [mk(0), mk(1)];
        pcs[0].add_local_address(addrs[0]).unwrap();
        pcs[1].add_local_address(addrs[1]).unwrap();
        SansrtcPair {
            now,
            pcs,
            addrs,
            wire: VecDeque::new(),
            channel: None,
            open: [false; 2],
            received: [0; 2],
            received_bytes: [0; 2],
        }
    }

    /// Offer -> answer -> ICE -> DTLS -> SCTP -> data channel open on both sides.
    pub fn connect(&mut self) {
        self.begin();
        self.run(self.now + SETUP_LIMIT, |p| p.open == [true; 2]);
    }

    /// The signalling part of [`SansrtcPair::connect`] (offer, answer, the data channel
    /// created); [`SansrtcPair::step`] does the rest one datagram or timer at a time.
    pub fn begin(&mut self) {
        let (now, pcs) = (self.now, &mut self.pcs);
        let offer = pcs[0].create_offer(now).unwrap();
        pcs[0]
            .set_local_description(SdpType::Offer, &offer)
            .unwrap();
        pcs[1]
            .set_remote_description(now, SdpType::Offer, &offer)
            .unwrap();
        let answer = pcs[1].create_answer(now).unwrap();
        pcs[1]
            .set_local_description(SdpType::Answer, &answer)
            .unwrap();
        pcs[0]
            .set_remote_description(now, SdpType::Answer, &answer)
            .unwrap();
        self.channel = Some(
            pcs[0]
                .create_data_channel(now, ChannelConfig::reliable("bench"))
                .unwrap(),
        );
    }

    /// One step of a setup [`SansrtcPair::begin`] started: delivers one datagram, or fires the
    /// next deadline when none is in flight. True once the channel is open on both sides.
    pub fn step(&mut self) -> bool {
        self.collect();
        if let Some((to, from, dst, bytes)) = self.wire.pop_front() {
            self.pcs[to].handle_receive(self.now, from, dst, &bytes);
            return false;
        }
        if self.open == [true; 2] {
            return true;
        }
        // Each pair keeps its own fake clock: pairs set up side by side never wait for
        // each other's timers.
        self.advance(self.now + SETUP_LIMIT);
        false
    }

    fn collect(&mut self) {
        for i in 0..2 {
            while let Some(t) = self.pcs[i].poll_transmit() {
                let to = if t.destination == self.addrs[0] { 0 } else { 1 };
                self.wire
                    .push_back((to, t.source, t.destination, t.contents));
            }
            while let Some(e) = self.pcs[i].poll_event() {
                match e {
                    Event::DataChannelOpen { .. } => self.open[i] = true,
                    Event::DataChannelMessage { data, .. } => {
                        self.received[i] += 1;
                        self.received_bytes[i] += data.len();
                    }
                    _ => {}
                }
            }
        }
    }

    /// Delivers datagrams and fires timers until `done` holds with nothing in flight (panics at
    /// `end` of simulated time).
    fn run(&mut self, end: Instant, done: impl Fn(&SansrtcPair) -> bool) {
        loop {
            self.collect();
            if let Some((to, from, dst, bytes)) = self.wire.pop_front() {
                self.pcs[to].handle_receive(self.now, from, dst, &bytes);
                continue;
            }
            if done(self) {
                return;
            }
            self.advance(end);
        }
    }

    /// Jumps the clock to the next deadline and fires it.
    fn advance(&mut self, end: Instant) {
        let next = self.pcs.iter().filter_map(|p| p.poll_timeout()).min();
        let next = next.expect("a peer has a deadline").max(self.now);
        assert!(next < end, "sansrtc pair stalled");
        self.now = next;
        for p in &mut self.pcs {
            if p.poll_timeout().is_some_and(|t| t <= self.now) {
                p.handle_timeout(self.now);
            }
        }
    }

    /// Lets `d` of simulated time pass with no application traffic (keepalives, timers).
    pub fn idle(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.collect();
            if let Some((to, from, dst, bytes)) = self.wire.pop_front() {
                self.pcs[to].handle_receive(self.now, from, dst, &bytes);
                continue;
            }
            match self.pcs.iter().filter_map(|p| p.poll_timeout()).min() {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    for p in &mut self.pcs {
                        if p.poll_timeout().is_some_and(|t| t <= self.now) {
                            p.handle_timeout(self.now);
                        }
                    }
                }
                _ => {
                    self.now = end;
                    return;
                }
            }
        }
    }

    /// Sends `count` messages of `msg` from the offerer to the answerer on the data channel,
    /// writing whenever less than `high_water` bytes are buffered, and runs until all arrived.
    pub fn transfer(&mut self, count: usize, msg: &[u8], high_water: usize) {
        let target = self.received[1] + count;
        let end = self.now + SETUP_LIMIT;
        let mut sent = 0;
        while self.received[1] < target {
            while sent < count
                && self.pcs[0]
                    .channel(self.channel.expect("connected"))
                    .unwrap()
                    .buffered_amount()
                    < high_water
            {
                self.pcs[0]
                    .channel(self.channel.expect("connected"))
                    .unwrap()
                    .send(self.now, msg)
                    .unwrap();
                sent += 1;
            }
            self.collect();
            if self.wire.is_empty() {
                if self.received[1] >= target {
                    break;
                }
                self.advance(end);
            }
            while let Some((to, from, dst, bytes)) = self.wire.pop_front() {
                self.pcs[to].handle_receive(self.now, from, dst, &bytes);
                self.collect();
            }
        }
        assert_eq!(self.received[1], target);
    }

    /// The two connections, without the driver's buffers.
    pub fn into_peers(self) -> [PeerConnection; 2] {
        assert!(self.wire.is_empty());
        self.pcs
    }
}

/// Two connected str0m `Rtc`s with one open data channel.
pub struct Str0mPair {
    /// Fake clock.
    pub now: Instant,
    /// Offerer (0) and answerer (1).
    pub rtcs: [Rtc; 2],
    deadlines: [Instant; 2],
    addrs: [SocketAddr; 2],
    wire: VecDeque<(usize, SocketAddr, SocketAddr, Vec<u8>)>,
    /// The data channel id on each side.
    pub channel: [Option<ChannelId>; 2],
    /// Messages received by each peer.
    pub received: [usize; 2],
    /// Bytes received by each peer.
    pub received_bytes: [usize; 2],
    /// Media sections the offerer adds to its offer (send-receive), before the channel.
    pub media: Vec<str0m::media::MediaKind>,
    /// The media sections each peer reported added (`Event::MediaAdded`).
    pub mids: [Vec<str0m::media::Mid>; 2],
}

impl Str0mPair {
    /// Runs a full setup starting at `now`: [`Str0mPair::new`] then [`Str0mPair::connect`].
    /// With `certs`, both peers reuse them. `max_buffered` raises str0m's per-channel send
    /// buffer limit (default 128 KiB).
    pub fn setup(now: Instant, certs: Option<&Certs>, max_buffered: Option<usize>) -> Str0mPair {
        let mut pair = Self::new(now, certs, max_buffered);
        pair.connect();
        pair
    }

    /// Two new `Rtc`s with their host candidates added.
    pub fn new(now: Instant, certs: Option<&Certs>, max_buffered: Option<usize>) -> Str0mPair {
        Self::new_between(now, certs, max_buffered, addrs())
    }

    /// [`Str0mPair::new`] with the two peers at `addrs` (offerer, answerer).
    pub fn new_between(
        now: Instant,
        certs: Option<&Certs>,
        max_buffered: Option<usize>,
        addrs: [SocketAddr; 2],
    ) -> Str0mPair {
        Self::new_configured(now, certs, max_buffered, addrs, |c| c)
    }

    /// [`Str0mPair::new_between`] with `configure` applied to both peers' `RtcConfig`.
    pub fn new_configured(
        now: Instant,
        certs: Option<&Certs>,
        max_buffered: Option<usize>,
        addrs: [SocketAddr; 2],
        configure: impl Fn(RtcConfig) -> RtcConfig,
    ) -> Str0mPair {
        init_str0m();
        let mk = |i: usize| {
            let mut cfg = configure(RtcConfig::new());
            if let Some(c) = certs {
                cfg = cfg.set_dtls_cert(c.str0m[i].clone());
            }
            if let Some(m) = max_buffered {
                cfg = cfg.set_sctp_max_buffered_amount(m);
            }
            let mut rtc = cfg.build(now);
            rtc.add_local_candidate(Candidate::host(addrs[i], "udp").unwrap())
                .unwrap();
            rtc
        };
        Str0mPair {
            now,
            rtcs: [mk(0), mk(1)],
            deadlines: [now; 2],
            addrs,
            wire: VecDeque::new(),
            channel: [None; 2],
            received: [0; 2],
            received_bytes: [0; 2],
            media: Vec::new(),
            mids: [Vec::new(), Vec::new()],
        }
    }

    /// Offer -> answer -> ICE -> DTLS -> SCTP -> data channel open on both sides.
    pub fn connect(&mut self) {
        self.begin();
        self.run(self.now + SETUP_LIMIT, |p| {
            p.channel.iter().all(Option::is_some)
        });
    }

    /// The signalling part of [`Str0mPair::connect`]; [`Str0mPair::step`] does the rest.
    pub fn begin(&mut self) {
        let rtcs = &mut self.rtcs;
        let mut change = rtcs[0].sdp_api();
        for kind in &self.media {
            change.add_media(*kind, str0m::media::Direction::SendRecv, None, None, None);
        }
        change.add_channel("bench".into());
        let (offer, pending) = change.apply().unwrap();
        let offer = SdpOffer::from_sdp_string(&offer.to_sdp_string()).unwrap();
        let answer = rtcs[1].sdp_api().accept_offer(offer).unwrap();
        let answer = SdpAnswer::from_sdp_string(&answer.to_sdp_string()).unwrap();
        rtcs[0].sdp_api().accept_answer(pending, answer).unwrap();
        self.poll(0);
        self.poll(1);
    }

    /// One step of a setup [`Str0mPair::begin`] started (as [`SansrtcPair::step`]).
    pub fn step(&mut self) -> bool {
        if self.deliver_one() {
            return false;
        }
        if self.channel.iter().all(Option::is_some) {
            return true;
        }
        self.advance(self.now + SETUP_LIMIT);
        false
    }

    /// Drains peer `i`'s output until it reports its next deadline.
    fn poll(&mut self, i: usize) {
        loop {
            match self.rtcs[i].poll_output().unwrap() {
                str0m::Output::Timeout(t) => {
                    self.deadlines[i] = t;
                    return;
                }
                str0m::Output::Transmit(t) => {
                    let to = if t.destination == self.addrs[0] { 0 } else { 1 };
                    self.wire
                        .push_back((to, t.source, t.destination, t.contents.to_vec()));
                }
                str0m::Output::Event(e) => match e {
                    str0m::Event::ChannelOpen(id, _) => self.channel[i] = Some(id),
                    str0m::Event::MediaAdded(m) => self.mids[i].push(m.mid),
                    str0m::Event::ChannelData(d) => {
                        self.received[i] += 1;
                        self.received_bytes[i] += d.data.len();
                    }
                    _ => {}
                },
            }
        }
    }

    fn deliver_one(&mut self) -> bool {
        let Some((to, source, destination, bytes)) = self.wire.pop_front() else {
            return false;
        };
        let r = Receive::new(Protocol::Udp, source, destination, &bytes).unwrap();
        self.rtcs[to]
            .handle_input(str0m::Input::Receive(self.now, r))
            .unwrap();
        self.poll(to);
        true
    }

    fn fire(&mut self) {
        for i in 0..2 {
            if self.deadlines[i] <= self.now {
                self.rtcs[i]
                    .handle_input(str0m::Input::Timeout(self.now))
                    .unwrap();
                self.poll(i);
            }
        }
    }

    fn run(&mut self, end: Instant, done: impl Fn(&Str0mPair) -> bool) {
        loop {
            if self.deliver_one() {
                continue;
            }
            if done(self) {
                return;
            }
            self.advance(end);
        }
    }

    fn advance(&mut self, end: Instant) {
        let next = self.deadlines[0].min(self.deadlines[1]).max(self.now);
        assert!(next < end, "str0m pair stalled");
        self.now = next;
        self.fire();
    }

    /// Lets `d` of simulated time pass with no application traffic (keepalives, timers).
    pub fn idle(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            if self.deliver_one() {
                continue;
            }
            let next = self.deadlines[0].min(self.deadlines[1]);
            if next > end {
                self.now = end;
                return;
            }
            self.now = next.max(self.now);
            self.fire();
        }
    }

    /// Sends `count` messages of `msg` from the offerer to the answerer on the data channel,
    /// writing whenever less than `high_water` bytes are buffered, and runs until all arrived.
    pub fn transfer(&mut self, count: usize, msg: &[u8], high_water: usize) {
        let target = self.received[1] + count;
        let end = self.now + SETUP_LIMIT;
        let id = self.channel[0].unwrap();
        let mut sent = 0;
        while self.received[1] < target {
            let mut wrote = false;
            while sent < count {
                let mut ch = self.rtcs[0].channel(id).unwrap();
                if ch.buffered_amount() >= high_water || !ch.write(true, msg).unwrap() {
                    break;
                }
                sent += 1;
                wrote = true;
            }
            if wrote {
                self.poll(0);
            }
            if self.wire.is_empty() {
                if self.received[1] >= target {
                    break;
                }
                self.advance(end);
            }
            while self.deliver_one() {}
        }
        assert_eq!(self.received[1], target);
    }

    /// The two connections, without the driver's buffers.
    pub fn into_peers(self) -> [Rtc; 2] {
        assert!(self.wire.is_empty());
        self.rtcs
    }
}
