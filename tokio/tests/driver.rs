//! The async driver over real UDP sockets on 127.0.0.1: two peers, cancellation safety,
//! shutdown.

mod common;

use std::time::Duration;

use common::{config, connect, within};
use sansrtc::{ChannelState, ConnectionState, MessageKind, codecs};
use sansrtc_tokio::{Endpoint, EndpointConfig, Error};
use tokio::net::UdpSocket;

/// The connection's first media section.
async fn first_media_mid(c: &sansrtc_tokio::Connection) -> sansrtc::Mid {
    c.with(|pc| pc.media_mids().next())
        .await
        .expect("with")
        .expect("a media section")
}

#[tokio::test]
async fn two_peers_exchange_messages_and_rtp() {
    let a = Endpoint::bind("127.0.0.1:0").await.expect("bind");
    let b = Endpoint::bind("127.0.0.1:0").await.expect("bind");
    let mut pair = connect(&a, &b, config(None), config(None), true).await;
    assert_eq!(pair.client.state(), ConnectionState::Connected);

    // Messages both ways, in order.
    for i in 0..20 {
        pair.client_chat
            .send_text(&format!("ping {i}"))
            .await
            .expect("send");
    }
    for i in 0..20 {
        let m = within("ping", pair.server_chat.recv())
            .await
            .expect("message");
        assert_eq!(m.text(), Some(format!("ping {i}").as_str()));
        pair.server_chat
            .send(&[i as u8; 1000])
            .await
            .expect("send back");
    }
    for i in 0..20 {
        let m = within("pong", pair.client_chat.recv())
            .await
            .expect("message");
        assert_eq!(m.kind, MessageKind::Binary);
        assert_eq!(&m.data[..], &[i as u8; 1000][..]);
    }

    // A channel the server opens reaches the client's accept queue.
    let server_news = pair
        .server
        .open_channel(sansrtc::ChannelConfig::reliable("news"))
        .await
        .expect("channel");
    let mut client_news = within("accept", pair.client.accept_channel())
        .await
        .expect("news");
    assert_eq!(client_news.label(), "news");
    server_news.send_text("extra").await.expect("send");
    let m = within("news", client_news.recv()).await.expect("message");
    assert_eq!(m.text(), Some("extra"));

    // RTP both ways on the audio track.
    let client_mid = first_media_mid(&pair.client).await;
    let server_mid = first_media_mid(&pair.server).await;
    let mut at_server = pair.server.rtp_receiver(server_mid).await.expect("rx");
    let to_server = pair.client.rtp_writer(client_mid);
    let to_client = pair.server.rtp_writer(server_mid);
    let pt = codecs::opus().payload_type;
    for seq in 0..50u32 {
        to_server
            .write(pt, seq * 960, false, &[seq as u8; 160])
            .await
            .expect("write");
        to_client
            .write(pt, seq * 960, false, &[seq as u8 ^ 0xff; 160])
            .await
            .expect("write");
    }
    // The client asked for no receiver: the track comes to `accept_track` with its first
    // packet.
    let mut at_client = within("track", pair.client.accept_track())
        .await
        .expect("a track");
    assert_eq!(at_client.mid(), client_mid);
    for seq in 0..50u32 {
        let p = within("rtp at the server", at_server.recv())
            .await
            .expect("rtp");
        assert_eq!(p.timestamp, seq * 960);
        assert_eq!(p.payload(), &[seq as u8; 160][..]);
        assert_eq!(p.mid, Some(server_mid));
        let p = within("rtp at the client", at_client.recv())
            .await
            .expect("rtp");
        assert_eq!(p.payload(), &[seq as u8 ^ 0xff; 160][..]);
    }
    // The stream interface.
    to_server.write(pt, 0, true, b"last").await.expect("write");
    let p = within(
        "stream",
        std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(std::pin::Pin::new(&mut at_server), cx)
        }),
    )
    .await
    .expect("rtp");
    assert_eq!(p.payload(), b"last");
    assert!(p.marker);

    // Closing one side closes the other.
    within("close", pair.client.close()).await;
    assert_eq!(pair.client.state(), ConnectionState::Closed);
    within("peer closed", pair.server.closed()).await;
    assert_eq!(pair.server.state(), ConnectionState::Closed);
    assert!(
        within("recv after close", pair.server_chat.recv())
            .await
            .is_none()
    );
    assert_eq!(pair.server_chat.state(), ChannelState::Closed);
    assert!(matches!(
        pair.server_chat.send(b"late").await,
        Err(Error::Closed)
    ));
    let stats = b.stats();
    assert_eq!(stats.datagrams_held_back, 0);
    assert_eq!(stats.connections, 0);
    a.shutdown().await;
    b.shutdown().await;
}

/// `recv` futures dropped before completing (here: losing a race against `yield_now`, over
/// and over) take no message: every one of them arrives, in order, exactly once.
#[tokio::test]
async fn cancelled_recv_loses_no_message() {
    const COUNT: usize = 500;
    let mut big_queues = EndpointConfig::default();
    big_queues.message_capacity = COUNT; // no drops: the test is about cancellation only
    let a = Endpoint::new(
        UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
        big_queues.clone(),
    )
    .expect("endpoint");
    let b = Endpoint::new(
        UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
        big_queues,
    )
    .expect("endpoint");
    let pair = connect(&a, &b, config(None), config(None), false).await;
    let sender = tokio::spawn(async move {
        for i in 0..COUNT {
            pair.client_chat
                .send(&(i as u32).to_be_bytes())
                .await
                .expect("send");
        }
        pair.client_chat
    });
    let mut receiver = pair.server_chat;
    let mut next = 0u32;
    let mut cancelled = 0u64;
    within("every message", async {
        while (next as usize) < COUNT {
            tokio::select! {
                m = receiver.recv() => {
                    let m = m.expect("open");
                    assert_eq!(&m.data[..], &next.to_be_bytes()[..], "lost or reordered");
                    next += 1;
                }
                () = tokio::task::yield_now() => cancelled += 1,
            }
        }
    })
    .await;
    assert!(cancelled > 0, "no recv future was cancelled");
    let _client_chat = within("sender", sender).await.expect("sender task");
    assert_eq!(b.stats().datagrams_held_back, 0);
    // Nothing more than was sent.
    assert!(
        tokio::time::timeout(Duration::from_millis(1), receiver.recv())
            .await
            .is_err()
    );
}

/// `shutdown` closes every connection of the endpoint, every handle sees it, and the task
/// ends; the peers see their connections closed too.
#[tokio::test]
async fn shutdown_closes_every_handle() {
    let server = Endpoint::bind("127.0.0.1:0").await.expect("bind");
    let mut clients = Vec::new();
    let mut pairs = Vec::new();
    for _ in 0..3 {
        let client = Endpoint::bind("127.0.0.1:0").await.expect("bind");
        pairs.push(connect(&client, &server, config(None), config(None), false).await);
        clients.push(client);
    }
    assert_eq!(server.stats().connections, 3);
    within("shutdown", server.shutdown()).await;
    for pair in &mut pairs {
        assert_eq!(pair.server.state(), ConnectionState::Closed);
        assert!(pair.server_chat.recv().await.is_none());
        assert!(pair.server.accept_channel().await.is_none());
        // Events queued before the end are still there, then the queue ends.
        while within("events end", pair.server.next_event())
            .await
            .is_some()
        {}
        assert!(matches!(
            pair.server.create_offer().await,
            Err(Error::Closed)
        ));
        assert!(matches!(pair.server.connected().await, Err(Error::Closed)));
        // The clients were told (SCTP shutdown or close_notify).
        within("client sees the close", pair.client.closed()).await;
        assert_eq!(pair.client.state(), ConnectionState::Closed);
        assert!(
            within("client recv", pair.client_chat.recv())
                .await
                .is_none()
        );
    }
    for client in clients {
        within("client shutdown", client.shutdown()).await;
    }
}

/// Dropping the endpoint ends its task too: the handles see their connection closed.
#[tokio::test]
async fn dropping_the_endpoint_closes_its_connections() {
    let server = Endpoint::bind("127.0.0.1:0").await.expect("bind");
    let client = Endpoint::bind("127.0.0.1:0").await.expect("bind");
    let mut pair = connect(&client, &server, config(None), config(None), false).await;
    let server_addr = server.local_addr();
    drop(server);
    within("server side closed", pair.server.closed()).await;
    // The task ended: it dropped its socket, so the port can be bound again.
    within("the task ends and frees its port", async {
        while UdpSocket::bind(server_addr).await.is_err() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(matches!(
        pair.server.create_offer().await,
        Err(Error::Closed)
    ));
    assert!(pair.server_chat.recv().await.is_none());
    within("client side closed", pair.client.closed()).await;
    assert!(pair.client_chat.recv().await.is_none());
    // Dropping a connection's handle closes it, and the endpoint forgets it.
    let server = Endpoint::bind("127.0.0.1:0").await.expect("bind");
    let pair = connect(&client, &server, config(None), config(None), false).await;
    let server_conn = pair.server;
    drop(pair.client);
    within("dropped handle closes", server_conn.closed()).await;
    assert_eq!(client.stats().connections, 0);
}

/// A sender faster than its peer waits (`send_high_water`) instead of filling the
/// connection's send buffer: 8 MiB through a connection whose buffer holds 2 MiB, no error.
#[tokio::test]
async fn send_waits_for_the_peer() {
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 8 << 20;
    let mut queues = EndpointConfig::default();
    queues.message_capacity = TOTAL / CHUNK; // the reader's queue cannot overflow here
    queues.send_high_water = 256 * 1024;
    let a = Endpoint::new(
        UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
        queues.clone(),
    )
    .expect("endpoint");
    let b = Endpoint::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"), queues)
        .expect("endpoint");
    let mut small_buffer = config(None);
    small_buffer.max_buffered_amount = 2 << 20;
    let pair = connect(&a, &b, small_buffer, config(None), false).await;
    let chat = pair.client_chat;
    let sender = tokio::spawn(async move {
        let chunk: Vec<u8> = (0..CHUNK).map(|i| (i % 251) as u8).collect();
        for _ in 0..TOTAL / CHUNK {
            chat.send(&chunk).await.expect("send never fails: it waits");
        }
        chat
    });
    let mut receiver = pair.server_chat;
    let mut received = 0;
    within("8 MiB", async {
        while received < TOTAL {
            let m = receiver.recv().await.expect("message");
            assert_eq!(m.data.len(), CHUNK);
            assert!(
                m.data
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| b == (i % 251) as u8)
            );
            received += m.data.len();
        }
    })
    .await;
    let _chat = within("sender", sender).await.expect("sender");
    assert_eq!(b.stats().datagrams_held_back, 0);
}

/// A reader that does not keep up loses nothing: with a queue of 4, the peer sends 2,000
/// messages while the reader is not reading; the endpoint keeps what one delivery brought
/// beyond the queue and holds the peer's next datagrams back (the peer sends them again), so
/// memory stays bounded; once the reader reads, all 2,000 arrive, once each, in order.
#[tokio::test]
async fn a_slow_reader_holds_the_peer_back_and_loses_nothing() {
    slow_reader().await;
}

/// The same on a runtime with two worker threads: the reader and the endpoint's task run at
/// once, so a refill and a `recv` race for real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_on_two_threads_loses_nothing() {
    slow_reader().await;
}

async fn slow_reader() {
    const QUEUE: usize = 4;
    const COUNT: u32 = 2_000;
    let mut small = EndpointConfig::default();
    small.message_capacity = QUEUE;
    let a = Endpoint::bind("127.0.0.1:0").await.expect("bind");
    let b = Endpoint::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"), small)
        .expect("endpoint");
    let pair = connect(&a, &b, config(None), config(None), false).await;
    let chat = pair.client_chat;
    let sender = tokio::spawn(async move {
        for i in 0..COUNT {
            chat.send(&i.to_be_bytes()).await.expect("send");
        }
        chat
    });
    // The reader has not read yet: the endpoint holds the peer back (a condition, no sleep).
    within("held back", async {
        while b.stats().datagrams_held_back == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let mut receiver = pair.server_chat;
    let started = std::time::Instant::now();
    within("every message", async {
        for i in 0..COUNT {
            let m = receiver.recv().await.expect("open");
            assert_eq!(&m.data[..], &i.to_be_bytes()[..], "lost or reordered");
        }
    })
    .await;
    let _chat = within("sender", sender).await.expect("sender task");
    let stats = b.stats();
    eprintln!(
        "2,000 messages through a queue of {QUEUE} in {:?}: {} datagrams held back, overflow peak {}",
        started.elapsed(),
        stats.datagrams_held_back,
        stats.overflow_peak
    );
    assert!(stats.datagrams_held_back > 0);
    assert!(stats.overflow_peak > 0);
    // Bounded by what SCTP delivers at once (one datagram's messages, or those it kept behind
    // a gap the datagram fills: up to about 440 here), well below what was sent.
    assert!(
        stats.overflow_peak <= u64::from(COUNT) / 2,
        "overflow peak {} above {}",
        stats.overflow_peak,
        COUNT / 2
    );
    assert_eq!(stats.messages_unclaimed, 0);
    // Nothing more than was sent.
    assert!(
        tokio::time::timeout(Duration::from_millis(1), receiver.recv())
            .await
            .is_err()
    );
}

/// A lagging channel holds its connection back only while its handle lives: dropping it
/// discards what was kept for it (counted) and the connection goes on (a new channel opens
/// and carries a message); closing a connection that is held back is not held up either.
#[tokio::test]
async fn dropping_a_lagging_channel_lets_its_connection_go_on() {
    let mut small = EndpointConfig::default();
    small.message_capacity = 4;
    let a = Endpoint::bind("127.0.0.1:0").await.expect("bind");
    let b = Endpoint::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"), small)
        .expect("endpoint");
    let pair = connect(&a, &b, config(None), config(None), false).await;
    let chat = pair.client_chat;
    let sender = tokio::spawn(async move {
        for i in 0..200u32 {
            chat.send(&i.to_be_bytes()).await.expect("send");
        }
        chat
    });
    within("held back", async {
        while b.stats().datagrams_held_back == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    drop(pair.server_chat);
    let second = pair
        .client
        .open_channel(sansrtc::ChannelConfig::reliable("second"))
        .await
        .expect("channel");
    let mut accepted = within("second channel", pair.server.accept_channel())
        .await
        .expect("accepted");
    assert_eq!(accepted.label(), "second");
    within("open", second.opened()).await.expect("open");
    second.send(b"after").await.expect("send");
    let m = within("after", accepted.recv()).await.expect("message");
    assert_eq!(&m.data[..], b"after");
    assert!(b.stats().messages_unclaimed > 0);
    let _chat = within("sender", sender).await.expect("sender task");

    // A connection whose reader lags closes as fast as any (another client socket: one
    // connection per pair of sockets).
    let a2 = Endpoint::bind("127.0.0.1:0").await.expect("bind");
    let pair = connect(&a2, &b, config(None), config(None), false).await;
    for i in 0..100u32 {
        pair.client_chat.send(&i.to_be_bytes()).await.expect("send");
    }
    let held = b.stats().datagrams_held_back;
    within("held back", async {
        while b.stats().datagrams_held_back == held {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let started = std::time::Instant::now();
    within("closed", pair.server.close()).await;
    // The peer's goodbye was not held back (else the close would wait out its 2 s timer).
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let _keep = (pair.client, pair.client_chat, pair.server_chat);
}

/// An `add` cancelled after it reached the task leaves no connection behind (whichever the
/// task sees first: the call, or the dropped handle). On this one-thread runtime the task has
/// usually answered the call before the future is dropped, so the handle's drop closes the
/// connection; on a multi-thread runtime the task may instead find the reply undeliverable,
/// and closes it then (that path is not forced here).
#[tokio::test]
async fn a_cancelled_add_leaves_nothing() {
    let endpoint = Endpoint::bind("127.0.0.1:0").await.expect("bind");
    let mut kept = Vec::new();
    for _ in 0..20 {
        let pc = sansrtc::PeerConnection::new(config(None)).expect("pc");
        tokio::select! {
            biased;
            // Pending at the first poll, ready at the second: `add` has sent its call by then.
            () = tokio::task::yield_now() => {}
            _ = endpoint.add(pc) => panic!("add finished before its second poll"),
        }
        // Calls are handled in order: once this one is added, the cancelled one was handled.
        kept.push(
            endpoint
                .add(sansrtc::PeerConnection::new(config(None)).expect("pc"))
                .await
                .expect("added"),
        );
        // The dropped handle's notice may come after: a call that runs after it is handled.
        let _ = kept[0].with(|_| ()).await;
        within("dropped handle handled", async {
            while endpoint.stats().connections != kept.len() as u64 {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
}

/// The handles can be shared and moved between tasks.
#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Endpoint>();
    send_sync::<sansrtc_tokio::Connection>();
    send_sync::<sansrtc_tokio::DataChannel>();
    send_sync::<sansrtc_tokio::RtpReceiver>();
    send_sync::<sansrtc_tokio::RtpWriter>();
    send_sync::<Error>();
}

/// Hostile input while the application reads slowly: 10,000 datagrams from a source no
/// connection knows (junk, STUN naming no ufrag, DTLS records, RTP) are counted and dropped
/// without touching the connection; the peer's RTP for a track nobody reads is bounded by the
/// track's queue (the rest counted as dropped, the oldest kept); an unreliable channel nobody
/// reads drops what its queue cannot hold (counted) instead of holding the connection back, so
/// once the reader catches up on the reliable channel (reading it alone, first), every
/// reliable message arrives, in order.
#[tokio::test]
async fn floods_from_strangers_and_the_peer_stay_bounded_for_a_slow_reader() {
    const QUEUE: usize = 4;
    const RTP_QUEUE: usize = 8;
    const FLOOD: u64 = 10_000;
    const MESSAGES: u32 = 300;
    const RTP: u32 = 200;
    let mut small = EndpointConfig::default();
    small.message_capacity = QUEUE;
    small.rtp_capacity = RTP_QUEUE;
    let a = Endpoint::bind("127.0.0.1:0").await.expect("bind");
    let b = Endpoint::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"), small)
        .expect("endpoint");
    let pair = connect(&a, &b, config(None), config(None), true).await;
    let mut lossy = sansrtc::ChannelConfig::reliable("lossy");
    lossy.ordered = false;
    lossy.reliability = sansrtc::sctp::Reliability::MaxRetransmits(0);
    let client_lossy = pair.client.open_channel(lossy).await.expect("channel");
    let mut server_lossy = within("lossy accepted", pair.server.accept_channel())
        .await
        .expect("lossy");
    within("lossy open", client_lossy.opened())
        .await
        .expect("open");

    // The peer sends reliable and unreliable messages nobody reads yet.
    let chat = pair.client_chat;
    let sender = tokio::spawn(async move {
        for i in 0..MESSAGES {
            chat.send(&i.to_be_bytes()).await.expect("send");
            let _ = client_lossy.send(&[0u8; 500]).await;
        }
        (chat, client_lossy)
    });

    // A stranger floods the endpoint's socket, in batches each counted before the next (a
    // condition, no sleep: the socket's buffer never overflows).
    let stranger = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let target = b.local_addr();
    let mut stun = vec![0x00, 0x01, 0x00, 0x10, 0x21, 0x12, 0xA4, 0x42];
    stun.extend_from_slice(&[7u8; 12]);
    stun.extend_from_slice(&[0x00, 0x06, 0x00, 0x0C]);
    stun.extend_from_slice(b"nobody:knows");
    let mut dtls = vec![23, 0xFE, 0xFD, 0, 1, 0, 0, 0, 0, 0, 1, 0, 32];
    dtls.extend_from_slice(&[0x5A; 32]);
    let mut rtp = vec![0x80, 111, 0, 1, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78];
    rtp.extend_from_slice(&[1u8; 160]);
    let kinds = [vec![0xABu8; 100], stun, dtls, rtp];
    let base = b.stats().datagrams_unrouted;
    let mut sent = 0u64;
    while sent < FLOOD {
        for _ in 0..200 {
            stranger
                .send_to(&kinds[sent as usize % kinds.len()], target)
                .await
                .expect("send");
            sent += 1;
        }
        within("the batch counted", async {
            while b.stats().datagrams_unrouted < base + sent {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }
    assert_eq!(b.stats().datagrams_unrouted - base, FLOOD);

    // The peer's RTP for a track that is not read.
    let client_mid = first_media_mid(&pair.client).await;
    let server_mid = first_media_mid(&pair.server).await;
    let mut at_server = pair.server.rtp_receiver(server_mid).await.expect("rx");
    let to_server = pair.client.rtp_writer(client_mid);
    let pt = codecs::opus().payload_type;
    let dropped = b.stats().rtp_dropped;
    for seq in 0..RTP {
        to_server
            .write(pt, seq * 960, false, &[seq as u8; 160])
            .await
            .expect("write");
        if seq % 50 == 49 {
            // Each batch in before the next (no sleep: the condition is the count).
            let expect = u64::from(seq + 1).saturating_sub(RTP_QUEUE as u64);
            within("RTP counted", async {
                while b.stats().rtp_dropped - dropped < expect {
                    tokio::task::yield_now().await;
                }
            })
            .await;
        }
    }
    assert_eq!(
        b.stats().rtp_dropped - dropped,
        u64::from(RTP) - RTP_QUEUE as u64
    );
    // What waits is the first packets, no more.
    for seq in 0..RTP_QUEUE as u32 {
        let p = within("queued rtp", at_server.recv()).await.expect("rtp");
        assert_eq!(p.timestamp, seq * 960);
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(1), at_server.recv())
            .await
            .is_err()
    );

    // The reader catches up: every reliable message, in order; the unreliable ones as many as
    // arrived, never more than were sent.
    let mut receiver = pair.server_chat;
    within("every message", async {
        for i in 0..MESSAGES {
            let m = receiver.recv().await.expect("open");
            assert_eq!(&m.data[..], &i.to_be_bytes()[..], "lost or reordered");
        }
    })
    .await;
    let _kept = within("sender", sender).await.expect("sender task");
    let mut lossy_received = 0u32;
    while let Ok(Some(_)) =
        tokio::time::timeout(Duration::from_millis(50), server_lossy.recv()).await
    {
        lossy_received += 1;
    }
    let stats = b.stats();
    eprintln!(
        "{FLOOD} strangers' datagrams dropped; {} RTP dropped; {} datagrams held back, overflow \
         peak {}; {lossy_received} of {MESSAGES} unreliable messages read, {} dropped",
        stats.rtp_dropped, stats.datagrams_held_back, stats.overflow_peak, stats.unreliable_dropped
    );
    assert!(lossy_received <= QUEUE as u32 + 1, "{lossy_received}");
    assert!(stats.unreliable_dropped > 0);
    assert!(u64::from(lossy_received) + stats.unreliable_dropped <= u64::from(MESSAGES));
    assert!(stats.overflow_peak <= u64::from(MESSAGES));
    assert_eq!(pair.server.state(), ConnectionState::Connected);
}
