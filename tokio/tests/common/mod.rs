//! What the driver's tests share: peer connections negotiated through the async handles.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sansrtc::sdp::Direction;
use sansrtc::{ChannelConfig, Config, PeerConnection, SdpType, codecs};
use sansrtc_tokio::{Connection, DataChannel, Endpoint};

/// The upper bound of every wait (never a way to synchronize: each wait ends on an event).
pub const LIMIT: Duration = Duration::from_secs(20);

/// Awaits `f`, failing the test with `what` past [`LIMIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A peer connection config with `certificate` (shared to save generating one per connection).
pub fn config(certificate: Option<Arc<sansrtc::dtls::Certificate>>) -> Config {
    let mut config = Config::default();
    config.certificate = certificate;
    config
}

/// A client/server pair, connected, the client's "chat" channel open at both ends.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub client_chat: DataChannel,
    pub server_chat: DataChannel,
}

/// Negotiates a connection from `client_ep` (offerer, opening "chat") to `server_ep`
/// (answerer), each `with_audio` or not, and waits until the channel is open at both ends.
pub async fn connect(
    client_ep: &Endpoint,
    server_ep: &Endpoint,
    client_config: Config,
    server_config: Config,
    with_audio: bool,
) -> Pair {
    let mut client_pc = PeerConnection::new(client_config).expect("client");
    let mut server_pc = PeerConnection::new(server_config).expect("server");
    if with_audio {
        client_pc.add_transceiver(codecs::audio_transceiver(Direction::SendRecv));
        server_pc.add_transceiver(codecs::audio_transceiver(Direction::SendRecv));
    }
    let client = client_ep.add(client_pc).await.expect("client added");
    let client_chat = client
        .open_channel(ChannelConfig::reliable("chat"))
        .await
        .expect("channel");
    let offer = client.create_offer().await.expect("offer");
    let server = server_ep.add(server_pc).await.expect("server added");
    server
        .set_remote_description(SdpType::Offer, &offer)
        .await
        .expect("offer accepted");
    let answer = server.create_answer().await.expect("answer");
    client
        .set_remote_description(SdpType::Answer, &answer)
        .await
        .expect("answer accepted");
    within("client connected", client.connected())
        .await
        .expect("client connected");
    within("server connected", server.connected())
        .await
        .expect("server connected");
    let server_chat = within("channel accepted", server.accept_channel())
        .await
        .expect("the client's channel");
    within("channel open", client_chat.opened())
        .await
        .expect("open");
    assert_eq!(server_chat.label(), "chat");
    Pair {
        client,
        server,
        client_chat,
        server_chat,
    }
}
