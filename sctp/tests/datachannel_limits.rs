//! Data channels against a peer testing our limits: oversized DCEP labels and protocols, more
//! channels than `max_channels`, a peer that never acknowledges (`max_buffered_amount`), and
//! streams beyond the negotiated count.
#![allow(clippy::needless_range_loop)]

mod common;

use std::time::Duration;

use common::endpoints::Sim;
use sansrtc_sctp::{ChannelConfig, Config, DataChannelEvent, DtlsRole, EndpointConfig};

/// A peer's DATA_CHANNEL_OPEN whose label or protocol is longer than our limit is refused: no
/// channel, and our side of the stream is reset, so the peer's channel closes.
#[test]
fn oversized_dcep_label_or_protocol_is_refused() {
    let mut s = Sim::new(21, 0.0, Config::default());
    s.connect();
    let long = "x".repeat(1025);
    let by_label = s.e[1]
        .open_channel(s.now, ChannelConfig::reliable(&long))
        .unwrap();
    let by_protocol = s.e[1]
        .open_channel(s.now, {
            let mut cfg = ChannelConfig::reliable("p");
            cfg.protocol = long.clone();
            cfg
        })
        .unwrap();
    let fine = s.e[1]
        .open_channel(s.now, ChannelConfig::reliable(&"y".repeat(1024)))
        .unwrap();
    assert!(
        s.run_until(Duration::from_secs(60), |s| {
            let closed = s.closed(1);
            closed.contains(&by_label) && closed.contains(&by_protocol)
        }),
        "the peer's channels are closed: {:?}",
        s.events[1]
    );
    let opened = s.opened(0);
    assert!(!opened.contains_key(&by_label) && !opened.contains_key(&by_protocol));
    assert_eq!(opened[&fine].len(), 1024);
    assert_eq!(s.e[0].stats().opens_refused, 2);
    assert_eq!(s.e[0].channel_ids().collect::<Vec<_>>(), vec![fine]);
    // The refused ids can be opened again once closed.
    let again = s.e[1]
        .open_channel_with_id(s.now, by_label, ChannelConfig::reliable("short"))
        .unwrap();
    s.e[1].send(s.now, again, b"hi".to_vec(), false).unwrap();
    assert!(s.run_until(Duration::from_secs(60), |s| s.messages(0, again).len() == 1));
}

/// The peer cannot open more channels than `max_channels`: the extra opens are refused and
/// their streams reset, and no state is kept for them.
#[test]
fn peer_cannot_open_more_than_max_channels() {
    let mut small = EndpointConfig::new(DtlsRole::Client);
    small.max_channels = 4;
    let mut s = Sim::with_endpoints(22, 0.0, [small, EndpointConfig::new(DtlsRole::Server)]);
    s.connect();
    let ids: Vec<u16> = (0..7)
        .map(|n| {
            s.e[1]
                .open_channel(s.now, ChannelConfig::reliable(&format!("c{n}")))
                .unwrap()
        })
        .collect();
    assert!(
        s.run_until(Duration::from_secs(60), |s| s.closed(1).len() == 3),
        "the refused channels close on the opener's side: {:?}",
        s.events[1]
    );
    assert_eq!(s.opened(0).len(), 4);
    assert_eq!(s.e[0].channel_ids().count(), 4);
    assert_eq!(s.e[0].stats().opens_refused, 3);
    assert_eq!(s.closed(1), ids[4..].to_vec());
}

/// A peer that never acknowledges cannot make us buffer without limit: sending fails with
/// `BufferFull` once queued plus unacknowledged data reaches `max_buffered_amount`, and works
/// again once acknowledgements arrive.
#[test]
fn send_buffer_is_bounded_when_the_peer_never_acknowledges() {
    use sansrtc_sctp::SendError;
    let mut s = Sim::new(23, 0.0, Config::default());
    s.connect();
    let ch = s.e[0]
        .open_channel(s.now, ChannelConfig::reliable("bulk"))
        .unwrap();
    assert!(s.run_until(Duration::from_secs(10), |s| s.opened(1).len() == 1));
    let limit = s.e[0].association().config().max_buffered_amount;
    assert_eq!(limit, 16 * 1024 * 1024);
    // From here on, everything the peer sends (its SACKs) is held back.
    let mut held = Vec::new();
    let now = s.now;
    let message = vec![5u8; 64 * 1024];
    let mut sent = 0usize;
    let err = loop {
        assert!(
            sent <= 2 * limit,
            "sent {sent} bytes without any acknowledgement"
        );
        match s.e[0].send(now, ch, message.clone(), true) {
            Ok(()) => sent += message.len(),
            Err(e) => break e,
        }
        while let Some(p) = s.e[0].poll_transmit(now) {
            s.e[1].handle_receive(now, &p);
        }
        while let Some(p) = s.e[1].poll_transmit(now) {
            held.push(p);
        }
        while let Some(ev) = s.e[1].poll_event() {
            s.events[1].push(ev);
        }
    };
    match err {
        SendError::BufferFull { buffered, limit: l } => {
            assert_eq!(l, limit);
            assert!(buffered <= limit && buffered + message.len() > limit - 64 * 1024);
        }
        other => panic!("expected BufferFull, got {other:?}"),
    }
    assert!(
        sent <= limit && sent > limit - 2 * message.len(),
        "sent {sent}"
    );
    assert!(s.e[0].association().send_buffered() <= limit);
    // Still full a moment later (nothing was acknowledged).
    assert!(matches!(
        s.e[0].send(now, ch, message.clone(), true),
        Err(SendError::BufferFull { .. })
    ));
    // The acknowledgements arrive: the buffer drains and sending works again.
    for p in held {
        s.e[0].handle_receive(now, &p);
    }
    assert!(s.run_until(Duration::from_secs(600), |s| {
        s.e[0].association().send_buffered() < limit / 2
    }));
    s.e[0].send(s.now, ch, message.clone(), true).unwrap();
    let count = sent / message.len() + 1;
    let received = |s: &Sim| {
        s.events[1]
            .iter()
            .filter(|e| matches!(e, DataChannelEvent::Message { channel, .. } if *channel == ch))
            .count()
    };
    let done = s.run_until(Duration::from_secs(600), |s| received(s) == count);
    assert!(
        done,
        "{} of {count} delivered, {:?}",
        received(&s),
        s.e[0].association()
    );
    // Once everything is acknowledged nothing stays charged.
    assert!(s.run_until(
        Duration::from_secs(10),
        |s| s.e[0].association().send_buffered() == 0
    ));
}

/// Channels live only on the streams both sides granted: a channel opened before the
/// association is up on a stream the peer does not grant closes when it comes up (its open
/// never reaches the peer), and later opens stay below the negotiated count.
#[test]
fn channels_stay_within_the_negotiated_streams() {
    let mut few = EndpointConfig::new(DtlsRole::Client);
    few.sctp.streams = 16;
    let mut s = Sim::with_endpoints(24, 0.0, [few, EndpointConfig::new(DtlsRole::Server)]);
    let far = s.e[1]
        .open_channel_with_id(s.now, 101, ChannelConfig::reliable("far"))
        .unwrap();
    s.e[1].send(s.now, far, b"lost".to_vec(), false).unwrap();
    let near = s.e[1]
        .open_channel_with_id(s.now, 9, ChannelConfig::reliable("near"))
        .unwrap();
    s.connect();
    assert!(s.run_until(Duration::from_secs(10), |s| s.opened(0).len() == 1));
    s.run_until(Duration::from_secs(1), |_| false);
    assert_eq!(s.closed(1), vec![far]);
    assert!(!s.opened(1).contains_key(&far));
    assert_eq!(s.opened(0).keys().copied().collect::<Vec<_>>(), vec![near]);
    assert_eq!(s.e[0].association().stats().invalid_stream_data, 0);
    assert_eq!(s.e[1].association().outbound_streams(), 16);
    assert!(matches!(
        s.e[1].open_channel_with_id(s.now, 17, ChannelConfig::reliable("x")),
        Err(sansrtc_sctp::SendError::NotOpen(17))
    ));
    // The automatic choice fills the odd ids below 16 and then runs out.
    let auto: Vec<u16> = std::iter::from_fn(|| {
        s.e[1]
            .open_channel(s.now, ChannelConfig::reliable("auto"))
            .ok()
    })
    .collect();
    assert_eq!(auto, vec![1, 3, 5, 7, 11, 13, 15]);
}
