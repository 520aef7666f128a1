//! Two peer connections in one process, each on its own endpoint (UDP socket) on 127.0.0.1:
//! they negotiate, open a data channel and say hello both ways, then shut down.
//!
//! Run with `cargo run -p sansrtc-tokio --example chat`.

use sansrtc::{ChannelConfig, Config, PeerConnection, SdpType};
use sansrtc_tokio::Endpoint;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let alice_ep = Endpoint::bind("127.0.0.1:0").await?;
    let bob_ep = Endpoint::bind("127.0.0.1:0").await?;
    println!(
        "alice on {}, bob on {}",
        alice_ep.local_addr(),
        bob_ep.local_addr()
    );

    let alice = alice_ep
        .add(PeerConnection::new(Config::default())?)
        .await?;
    let mut alice_chat = alice.open_channel(ChannelConfig::reliable("chat")).await?;
    let offer = alice.create_offer().await?;

    // The signalling (here: a function call) carries the offer and the answer.
    let bob = bob_ep.add(PeerConnection::new(Config::default())?).await?;
    bob.set_remote_description(SdpType::Offer, &offer).await?;
    let answer = bob.create_answer().await?;
    alice
        .set_remote_description(SdpType::Answer, &answer)
        .await?;

    let mut state = alice.state_watch();
    tokio::spawn(async move {
        while state.changed().await.is_ok() {
            println!("alice: {:?}", *state.borrow());
        }
    });

    let mut bob_chat = bob.accept_channel().await.ok_or("no channel")?;
    alice_chat.send_text("hello, bob").await?;
    let message = bob_chat.recv().await.ok_or("channel closed")?;
    println!("bob got {:?}", message.text());
    bob_chat.send_text("hello, alice").await?;
    let message = alice_chat.recv().await.ok_or("channel closed")?;
    println!("alice got {:?}", message.text());

    alice.close().await;
    bob.closed().await;
    println!("closed: alice {:?}, bob {:?}", alice.state(), bob.state());
    alice_ep.shutdown().await;
    bob_ep.shutdown().await;
    Ok(())
}
