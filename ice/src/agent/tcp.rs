//! ICE over TCP (RFC 6544) end to end: our agent with a passive TCP candidate (and a UDP one),
//! a peer agent whose checks to our passive candidate travel over a simulated TCP stream in RFC
//! 4571 frames split across reads, and a lossy or blocked UDP path beside it.

use std::time::{Duration, Instant};

use super::test_support::sa;
use super::*;
use crate::candidate::{CandidateKind, CandidateTransport, TcpType};
use crate::framing::{Deframer, frame_header};
use crate::rng::SeededRng;

/// Our listening address: the same port number for UDP and TCP.
const OURS: &str = "10.0.0.1:5000";
/// The peer's UDP candidate.
const PEER_UDP: &str = "10.0.0.2:6000";
/// The peer's end of the TCP connection it opened to [`OURS`].
const PEER_TCP: &str = "10.0.0.3:50000";

/// Bytes in flight on the stream one way, read back in pieces of `piece` bytes.
struct Stream {
    wire: Vec<u8>,
    deframer: Deframer,
    piece: usize,
}

impl Stream {
    fn new(piece: usize) -> Self {
        Stream {
            wire: Vec::new(),
            deframer: Deframer::with_max_frame_len(1500),
            piece,
        }
    }

    fn write(&mut self, packet: &[u8]) {
        self.wire
            .extend_from_slice(&frame_header(packet.len()).unwrap());
        self.wire.extend_from_slice(packet);
    }

    /// Everything written so far, as the reader sees it: frames out of reads of `piece` bytes.
    fn read_all(&mut self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let wire = std::mem::take(&mut self.wire);
        for mut read in wire.chunks(self.piece) {
            while !read.is_empty() {
                let used = self.deframer.push(read);
                read = &read[used..];
                while let Some(f) = self.deframer.next_frame().unwrap() {
                    frames.push(f.to_vec());
                }
            }
        }
        frames
    }
}

struct Net {
    ours: Agent<SeededRng>,
    peer: Agent<SeededRng>,
    to_ours: Stream,
    to_peer: Stream,
    udp_works: bool,
    tcp_frames: usize,
}

impl Net {
    /// Our agent (controlled unless `we_control`) with a UDP and a passive TCP candidate on
    /// [`OURS`]; the peer with a UDP candidate and the end of its TCP connection (the peer sees
    /// our TCP candidate as the far end of its socket: to it this is one more path).
    fn new(we_control: bool, udp_works: bool, piece: usize) -> Self {
        let mut ours = Agent::new(
            AgentConfig::new(we_control, "ours", "ours-password-01234567"),
            SeededRng::new(1),
        );
        let udp = ours.add_host_candidate(sa(OURS)).unwrap();
        let tcp = ours.add_passive_tcp_candidate(sa(OURS)).unwrap();
        assert_eq!(tcp.transport, CandidateTransport::Tcp);
        assert_eq!(tcp.tcp_type(), Some(TcpType::Passive));
        assert!(tcp.priority < udp.priority, "UDP is preferred");
        assert!(tcp.to_string().contains(" tcp ") && tcp.to_string().ends_with("tcptype passive"));

        let mut peer = Agent::new(
            AgentConfig::new(!we_control, "peer", "peer-password-01234567"),
            SeededRng::new(2),
        );
        peer.add_host_candidate(sa(PEER_UDP)).unwrap();
        peer.add_host_candidate(sa(PEER_TCP)).unwrap();
        peer.set_remote_credentials("ours", "ours-password-01234567");
        peer.add_remote_candidate(udp).unwrap();

        ours.set_remote_credentials("peer", "peer-password-01234567");
        let mut active =
            Candidate::new("a", 1, 1_518_280_447, sa("10.0.0.2:9"), CandidateKind::Host);
        active.transport = CandidateTransport::Tcp;
        active.extensions.push(("tcptype".into(), "active".into()));
        // Accepted and ignored: its address arrives with its first check.
        ours.add_remote_candidate(active).unwrap();
        let mut udp_peer = Candidate::new("u", 1, 2_130_706_431, sa(PEER_UDP), CandidateKind::Host);
        udp_peer.transport = CandidateTransport::Udp;
        ours.add_remote_candidate(udp_peer).unwrap();
        let mut passive = Candidate::new(
            "p",
            1,
            1_518_280_447,
            sa("10.0.0.2:7000"),
            CandidateKind::Host,
        );
        passive.transport = CandidateTransport::Tcp;
        passive
            .extensions
            .push(("tcptype".into(), "passive".into()));
        assert!(
            ours.add_remote_candidate(passive).is_err(),
            "we never connect out"
        );
        Net {
            ours,
            peer,
            to_ours: Stream::new(piece),
            to_peer: Stream::new(piece),
            udp_works,
            tcp_frames: 0,
        }
    }

    /// Moves everything queued both ways until nothing is left.
    fn pump(&mut self, now: Instant) {
        for _ in 0..100 {
            let mut moved = false;
            while let Some(t) = self.peer.poll_transmit() {
                moved = true;
                if t.source == sa(PEER_TCP) {
                    self.to_ours.write(&t.contents);
                } else if self.udp_works {
                    self.ours
                        .handle_receive(now, t.source, t.destination, &t.contents);
                }
            }
            for frame in self.to_ours.read_all() {
                self.tcp_frames += 1;
                let stun = self.ours.handle_receive_on(
                    now,
                    CandidateTransport::Tcp,
                    sa(PEER_TCP),
                    sa(OURS),
                    &frame,
                );
                assert!(stun);
            }
            while let Some(t) = self.ours.poll_transmit() {
                moved = true;
                match t.transport {
                    CandidateTransport::Tcp => {
                        assert_eq!((t.source, t.destination), (sa(OURS), sa(PEER_TCP)));
                        self.to_peer.write(&t.contents);
                    }
                    CandidateTransport::Udp => {
                        assert_ne!(
                            t.destination,
                            sa(PEER_TCP),
                            "nothing over UDP to the stream"
                        );
                        if self.udp_works {
                            self.peer
                                .handle_receive(now, t.source, t.destination, &t.contents);
                        }
                    }
                }
            }
            for frame in self.to_peer.read_all() {
                self.peer
                    .handle_receive(now, sa(OURS), sa(PEER_TCP), &frame);
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs both agents for `duration` in 10 ms steps.
    fn run(&mut self, start: Instant, duration: Duration) -> Instant {
        let mut now = start;
        while now < start + duration {
            self.ours.handle_timeout(now);
            self.peer.handle_timeout(now);
            self.pump(now);
            now += Duration::from_millis(10);
        }
        now
    }
}

fn connect(we_control: bool, udp_works: bool, piece: usize) -> (Net, Instant) {
    let mut net = Net::new(we_control, udp_works, piece);
    let now = Instant::now();
    net.ours.start(now);
    net.peer.start(now);
    let now = net.run(now, Duration::from_secs(3));
    (net, now)
}

#[test]
fn only_tcp_works() {
    for piece in [1, 7, 1500] {
        let (mut net, now) = connect(false, false, piece);
        assert!(net.tcp_frames > 0);
        assert_eq!(
            net.ours.state(),
            ConnectionState::Connected,
            "piece {piece}"
        );
        let path = (sa(OURS), sa(PEER_TCP));
        assert_eq!(net.ours.selected_pair(), Some(path));
        assert_eq!(
            net.ours.selected_transport_of(COMPONENT),
            Some(CandidateTransport::Tcp)
        );
        // The TCP path is validated, the same addresses over UDP are not.
        assert!(
            net.ours
                .is_validated_on(CandidateTransport::Tcp, path.0, path.1)
        );
        assert!(!net.ours.is_validated(path.0, path.1));
        let selected = std::iter::from_fn(|| net.ours.poll_event()).find_map(|e| match e {
            AgentEvent::SelectedPair { transport, .. } => Some(transport),
            _ => None,
        });
        assert_eq!(selected, Some(CandidateTransport::Tcp));
        // Consent freshness runs over the stream: a minute later we are still connected.
        let frames = net.tcp_frames;
        net.run(now, Duration::from_secs(60));
        assert_eq!(net.ours.state(), ConnectionState::Connected);
        assert!(net.tcp_frames > frames + 10, "consent checks over TCP");
    }
}

#[test]
fn only_tcp_works_when_we_control() {
    let (net, _) = connect(true, false, 5);
    assert_eq!(net.ours.state(), ConnectionState::Connected);
    assert_eq!(
        net.ours.selected_transport_of(COMPONENT),
        Some(CandidateTransport::Tcp)
    );
    assert_eq!(net.ours.selected_pair(), Some((sa(OURS), sa(PEER_TCP))));
}

#[test]
fn udp_wins_when_both_work() {
    for we_control in [false, true] {
        let (net, _) = connect(we_control, true, 3);
        assert_eq!(net.ours.state(), ConnectionState::Connected);
        assert_eq!(
            net.ours.selected_transport_of(COMPONENT),
            Some(CandidateTransport::Udp),
            "controlling: {we_control}"
        );
        assert_eq!(net.ours.selected_pair(), Some((sa(OURS), sa(PEER_UDP))));
    }
}

#[test]
fn an_ice_restart_keeps_the_selected_tcp_pair_on_tcp() {
    for we_control in [false, true] {
        let (mut net, now) = connect(we_control, false, 9);
        assert_eq!(
            net.ours.selected_transport_of(COMPONENT),
            Some(CandidateTransport::Tcp)
        );
        // Restarted, the peer not told yet: consent on the old pair goes on over the stream
        // with the old credentials (`pump` asserts nothing goes as UDP to the stream's end).
        net.ours.restart(now, "ours2", "ours2-password-0123456");
        assert_eq!(net.ours.selected_pair(), Some((sa(OURS), sa(PEER_TCP))));
        assert_eq!(
            net.ours.selected_transport_of(COMPONENT),
            Some(CandidateTransport::Tcp)
        );
        let frames = net.tcp_frames;
        net.run(now, Duration::from_secs(40));
        assert_eq!(net.ours.state(), ConnectionState::Connected, "{we_control}");
        assert_eq!(
            net.ours.selected_transport_of(COMPONENT),
            Some(CandidateTransport::Tcp)
        );
        assert!(
            net.ours
                .is_validated_on(CandidateTransport::Tcp, sa(OURS), sa(PEER_TCP))
        );
        assert!(net.tcp_frames > frames + 5, "old-session consent over TCP");
    }
}

#[test]
fn tcp_consent_is_lost_when_the_stream_goes_quiet() {
    let (mut net, now) = connect(false, false, 64);
    assert_eq!(net.ours.state(), ConnectionState::Connected);
    // The stream breaks: nothing more arrives either way.
    let mut t = now;
    for _ in 0..4000 {
        net.ours.handle_timeout(t);
        while net.ours.poll_transmit().is_some() {}
        t += Duration::from_millis(10);
    }
    assert_eq!(net.ours.state(), ConnectionState::Failed);
    assert!(
        !net.ours
            .is_validated_on(CandidateTransport::Tcp, sa(OURS), sa(PEER_TCP))
    );
}

#[test]
fn a_check_over_tcp_is_authenticated() {
    let mut net = Net::new(false, false, 1500);
    let now = Instant::now();
    // A forged check (wrong password) over the stream changes nothing.
    let forged = super::test_support::check(9, "ours:peer", "not-the-password-00000");
    assert!(net.ours.handle_receive_on(
        now,
        CandidateTransport::Tcp,
        sa(PEER_TCP),
        sa(OURS),
        &forged
    ));
    assert!(
        !net.ours
            .is_validated_on(CandidateTransport::Tcp, sa(OURS), sa(PEER_TCP))
    );
    assert!(
        net.ours
            .checklist()
            .pairs()
            .iter()
            .all(|p| p.transport == CandidateTransport::Udp)
    );
    assert_eq!(net.ours.stats().auth_failures, 1);
}
