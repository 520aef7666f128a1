//! Random bytes from a "TURN server" into the TURN client: as a TCP stream (split at a random
//! point) and as UDP datagrams. Nothing may panic, and the stream buffer stays bounded.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use sansrtc_ice::SeededRng;
use sansrtc_ice::turn::{ChannelData, TurnClient, TurnConfig, TurnTransport};

fuzz_target!(|data: &[u8]| {
    let server = "192.0.2.1:3478".parse().unwrap();
    let now = Instant::now();
    let _ = ChannelData::parse(data);

    let mut config = TurnConfig::new(server, "u", "p");
    config.transport = TurnTransport::Tcp;
    let mut tcp = TurnClient::new(config, SeededRng::new(1));
    tcp.allocate(now).unwrap();
    let split = data.first().map_or(0, |b| *b as usize).min(data.len());
    tcp.handle_stream(now, &data[..split]);
    tcp.handle_stream(now, &data[split..]);
    while tcp.poll_event().is_some() {}
    while tcp.poll_transmit().is_some() {}

    let mut udp = TurnClient::new(TurnConfig::new(server, "u", "p"), SeededRng::new(2));
    udp.allocate(now).unwrap();
    udp.handle_receive(now, server, data);
    udp.handle_timeout(now);
    while udp.poll_event().is_some() {}
});
