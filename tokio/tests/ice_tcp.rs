//! ICE over TCP through the endpoint (`Endpoint::bind_with_tcp`): a client that can reach the
//! server only over a TCP stream (as a browser whose network blocks UDP does) connects to the
//! passive TCP candidate; the data channel echoes over the stream, the server's selected pair
//! is TCP. The client is a sansrtc peer connection driven by hand over a real tokio
//! `TcpStream` on 127.0.0.1: its end of the stream is its only address (signalled as a host
//! candidate that nothing answers on over UDP).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::within;
use sansrtc::framing::{Deframer, frame_header};
use sansrtc::{ChannelConfig, ChannelId, Config, Event, PeerConnection, SdpType, Transport};
use sansrtc_tokio::Endpoint;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The hand-driven client: its peer connection and the stream to the server.
struct Client {
    pc: PeerConnection,
    stream: TcpStream,
    deframer: Deframer,
    local: SocketAddr,
    server: SocketAddr,
    events: Vec<Event>,
}

impl Client {
    /// Sends what the connection has (everything for the server goes on the stream), then
    /// reads the stream until its next deadline (at most 20 ms) and handles what came.
    async fn step(&mut self) {
        while let Some(t) = self.pc.poll_transmit() {
            if t.destination == self.server {
                let mut frame = frame_header(t.contents.len()).unwrap().to_vec();
                frame.extend_from_slice(&t.contents);
                self.stream.write_all(&frame).await.expect("write");
            }
        }
        self.events
            .extend(std::iter::from_fn(|| self.pc.poll_event()));
        let now = Instant::now();
        let wait = self
            .pc
            .poll_timeout()
            .map_or(Duration::from_millis(20), |t| {
                t.saturating_duration_since(now)
            })
            .min(Duration::from_millis(20));
        let mut buf = [0u8; 4096];
        if let Ok(read) = tokio::time::timeout(wait, self.stream.read(&mut buf)).await {
            let n = read.expect("read");
            assert!(n > 0, "the server closed the stream");
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let used = self.deframer.push(rest);
                rest = &rest[used..];
                while let Some(frame) = self.deframer.next_frame().expect("well framed") {
                    self.pc
                        .handle_receive(Instant::now(), self.server, self.local, frame);
                }
            }
        }
        self.pc.handle_timeout(Instant::now());
        self.events
            .extend(std::iter::from_fn(|| self.pc.poll_event()));
    }

    /// Steps until `done` holds.
    async fn until(&mut self, what: &str, done: impl Fn(&Client) -> bool) {
        within(what, async {
            while !done(self) {
                self.step().await;
            }
        })
        .await
    }
}

fn opened(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::DataChannelOpen { .. }))
}

fn messages(events: &[Event]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::DataChannelMessage { data, .. } => Some(data.to_vec()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_client_reachable_only_over_tcp_connects_and_echoes() {
    let endpoint = Endpoint::bind_with_tcp("127.0.0.1:0").await.expect("bind");
    let server_addr = endpoint.tcp_local_addr().expect("a TCP listener");
    assert_eq!(server_addr, endpoint.local_addr(), "same address and port");
    let server = endpoint
        .add(PeerConnection::new(Config::default()).unwrap())
        .await
        .expect("added");

    let stream = TcpStream::connect(server_addr).await.expect("connect");
    let local = stream.local_addr().unwrap();
    let mut pc = PeerConnection::new(Config::default()).unwrap();
    pc.add_local_address(local).unwrap();
    let chat: ChannelId = pc
        .create_data_channel(Instant::now(), ChannelConfig::reliable("chat"))
        .unwrap();
    let offer = pc.create_offer(Instant::now()).unwrap();
    pc.set_local_description(SdpType::Offer, &offer).unwrap();
    server
        .set_remote_description(SdpType::Offer, &offer)
        .await
        .expect("offer");
    let answer = server.create_answer().await.expect("answer");
    assert!(
        answer
            .lines()
            .any(|l| l.contains(" tcp ") && l.ends_with("tcptype passive")),
        "the answer carries the passive TCP candidate:\n{answer}"
    );
    pc.set_remote_description(Instant::now(), SdpType::Answer, &answer)
        .unwrap();
    let mut client = Client {
        pc,
        stream,
        deframer: Deframer::new(),
        local,
        server: server_addr,
        events: Vec::new(),
    };
    client.until("channel open", |c| opened(&c.events)).await;

    // Echo: the server reads from its accepted channel and sends each message back. The
    // client is driven meanwhile (its channel-open message may still be queued); the accept
    // is polled between steps (it is cancel safe; a step is not).
    let mut accepted = None;
    within("accept", async {
        while accepted.is_none() {
            client.step().await;
            accepted = tokio::time::timeout(Duration::ZERO, server.accept_channel())
                .await
                .ok()
                .flatten();
        }
    })
    .await;
    let mut server_chat = accepted.expect("the client's channel");
    let echo = tokio::spawn(async move {
        while let Some(m) = server_chat.recv().await {
            if server_chat.send(&m.data).await.is_err() {
                break;
            }
        }
    });
    let sizes = [1usize, 1200, 16_000, 60_000];
    for (i, size) in sizes.into_iter().enumerate() {
        let msg: Vec<u8> = (0..size).map(|b| (b * 3 + i) as u8).collect();
        client
            .pc
            .channel(chat)
            .unwrap()
            .send(Instant::now(), &msg)
            .unwrap();
        client
            .until("echo", |c| messages(&c.events).len() > i)
            .await;
        assert_eq!(messages(&client.events)[i], msg, "message {i}");
    }
    let transport = server
        .with(|pc| pc.selected_transport())
        .await
        .expect("with");
    assert_eq!(transport, Some(Transport::Tcp));
    let stats = endpoint.stats();
    assert_eq!(stats.tcp_streams, 1, "{stats:?}");
    assert!(stats.tcp_frames_received > 10, "{stats:?}");
    echo.abort();
    endpoint.shutdown().await;
}

/// A stream that breaks the framing (announces a frame longer than the limit) is closed, and
/// its bytes reach no connection.
#[tokio::test]
async fn a_stream_breaking_the_framing_is_closed() {
    let endpoint = Endpoint::bind_with_tcp("127.0.0.1:0").await.expect("bind");
    let addr = endpoint.tcp_local_addr().unwrap();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&[0xff, 0xff, 1, 2, 3]).await.unwrap();
    let mut buf = [0u8; 16];
    let n = within("closed", stream.read(&mut buf)).await.unwrap_or(0);
    assert_eq!(n, 0, "the endpoint closed the stream");
    // The endpoint forgot the stream before its socket closed.
    let stats = endpoint.stats();
    assert_eq!(
        (stats.tcp_frames_received, stats.tcp_streams),
        (0, 0),
        "{stats:?}"
    );
}

/// With every stream slot taken by streams in use (not idle), a new stream is closed at
/// once and counted ([`EndpointConfig::max_tcp_streams`]).
#[tokio::test]
async fn streams_beyond_the_limit_are_refused() {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let listener = tokio::net::TcpListener::bind(socket.local_addr().unwrap())
        .await
        .unwrap();
    let mut config = sansrtc_tokio::EndpointConfig::default();
    config.max_tcp_streams = 1;
    let endpoint = Endpoint::with_tcp(socket, listener, config).expect("endpoint");
    let addr = endpoint.tcp_local_addr().unwrap();
    let first = TcpStream::connect(addr).await.expect("connect");
    within("the first stream is taken", async {
        while endpoint.stats().tcp_streams < 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let mut second = TcpStream::connect(addr).await.expect("connect");
    let mut buf = [0u8; 16];
    let n = within("the second stream closed", second.read(&mut buf))
        .await
        .unwrap_or(0);
    assert_eq!(n, 0, "the endpoint closed the stream beyond the limit");
    let stats = endpoint.stats();
    assert_eq!(
        (stats.tcp_streams, stats.tcp_streams_refused),
        (1, 1),
        "{stats:?}"
    );
    drop(first);
}
