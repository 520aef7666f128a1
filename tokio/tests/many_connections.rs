//! 1,000 peer connections on ONE server socket (one endpoint, one task), each connecting and
//! exchanging a message both ways.
//!
//! The clients each have a socket (and an endpoint) of their own, like 1,000 browsers: after
//! ICE, DTLS and SRTP are routed by their 5-tuple (the only key they carry), so connections
//! between the same two sockets could not be told apart: `sansrtc::Router` gives a validated
//! 5-tuple to the first connection holding it. The server side is one socket, the ask.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::config;
use sansrtc::dtls::Certificate;
use sansrtc::{ChannelConfig, PeerConnection, SdpType};
use sansrtc_tokio::{Endpoint, EndpointConfig};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

const CONNECTIONS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_on_one_socket() {
    let started = Instant::now();
    let server = Arc::new(Endpoint::bind("127.0.0.1:0").await.expect("bind"));
    // One certificate per side (generating 2,000 would be most of the test's time).
    let server_cert = Arc::new(Certificate::generate().expect("certificate"));
    let client_cert = Arc::new(Certificate::generate().expect("certificate"));
    let mut tasks = JoinSet::new();
    for i in 0..CONNECTIONS {
        let server = server.clone();
        let (server_cert, client_cert) = (server_cert.clone(), client_cert.clone());
        tasks.spawn(async move {
            let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            let client_ep = Endpoint::new(socket, EndpointConfig::default()).expect("client");
            let client_pc = PeerConnection::new(config(Some(client_cert))).expect("pc");
            let client = client_ep.add(client_pc).await.expect("added");
            let mut chat = client
                .open_channel(ChannelConfig::reliable("chat"))
                .await
                .expect("channel");
            let offer = client.create_offer().await.expect("offer");
            let server_pc = PeerConnection::new(config(Some(server_cert))).expect("pc");
            let conn = server.add(server_pc).await.expect("added");
            conn.set_remote_description(SdpType::Offer, &offer)
                .await
                .expect("offer");
            let answer = conn.create_answer().await.expect("answer");
            client
                .set_remote_description(SdpType::Answer, &answer)
                .await
                .expect("answer");
            let mut server_chat = conn.accept_channel().await.expect("accepted");
            chat.send_text(&format!("hello {i}")).await.expect("send");
            let m = server_chat.recv().await.expect("message");
            assert_eq!(m.text(), Some(format!("hello {i}").as_str()));
            server_chat
                .send_text(&format!("echo {i}"))
                .await
                .expect("send");
            let m = chat.recv().await.expect("reply");
            assert_eq!(m.text(), Some(format!("echo {i}").as_str()));
            // Keep every connection up until all are done (`conn` and the client's endpoint
            // are returned, not dropped).
            (conn, client, client_ep)
        });
    }
    let mut alive = Vec::new();
    let all = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(done) = tasks.join_next().await {
            alive.push(done.expect("a connection task"));
        }
    })
    .await;
    let stats = server.stats();
    all.unwrap_or_else(|_| {
        panic!(
            "{} of {CONNECTIONS} connections done in time; server stats {stats:?}",
            alive.len()
        )
    });
    let elapsed = started.elapsed();
    assert_eq!(alive.len(), CONNECTIONS);
    assert_eq!(stats.connections, CONNECTIONS as u64);
    assert_eq!(stats.datagrams_held_back, 0);
    eprintln!(
        "{CONNECTIONS} connections on one socket connected and exchanged a message each in \
         {elapsed:.2?}; server: {stats:?}"
    );
    let server = Arc::into_inner(server).expect("the only handle");
    tokio::time::timeout(Duration::from_secs(30), server.shutdown())
        .await
        .expect("shutdown");
    for (conn, _, _) in &alive {
        assert_eq!(conn.state(), sansrtc::ConnectionState::Closed);
    }
}
