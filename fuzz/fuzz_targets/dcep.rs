//! DCEP: the message parser (with and without limits, re-serialization of what parses) and a
//! data-channel endpoint, established once with an in-memory SCTP peer and cloned per input,
//! receiving arbitrary DCEP and data messages on arbitrary streams from that peer, with time
//! passing and the endpoint opening, sending on and closing channels itself. Nothing may
//! panic, and the endpoint keeps within its channel, label and buffer limits.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sansrtc_sctp::dcep::{DcepError, DcepMessage};
use sansrtc_sctp::{
    Association, ChannelConfig, Config, DataChannelEndpoint, DtlsRole, EndpointConfig, Reliability,
    SeededRng, SendOptions,
};

const MAX_CHANNELS: usize = 8;
const MAX_LABEL: usize = 24;

struct Fixture {
    now: Instant,
    endpoint: DataChannelEndpoint,
    /// The peer as a bare association, so it can send any PPID on any stream.
    peer: Association,
}

fn pump(now: Instant, e: &mut DataChannelEndpoint, p: &mut Association) {
    for _ in 0..8 {
        let mut moved = false;
        while let Some(x) = e.poll_transmit(now) {
            p.handle_receive(now, &x);
            moved = true;
        }
        while let Some(x) = p.poll_transmit(now) {
            e.handle_receive(now, &x);
            moved = true;
        }
        while p.poll_event().is_some() {}
        if !moved {
            break;
        }
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let now = Instant::now();
        let mut rng = SeededRng::new(7);
        let mut config = EndpointConfig::new(DtlsRole::Client);
        config.max_channels = MAX_CHANNELS;
        config.max_label_len = MAX_LABEL;
        config.max_protocol_len = MAX_LABEL;
        config.sctp.streams = 64;
        config.sctp.max_message_size = 4096;
        config.sctp.max_buffered_amount = 64 * 1024;
        let mut endpoint = DataChannelEndpoint::new(config, now, &mut rng);
        let mut peer = Association::new(Config::default(), now, &mut rng);
        endpoint.connect(now);
        peer.connect(now);
        pump(now, &mut endpoint, &mut peer);
        assert_eq!(peer.state(), sansrtc_sctp::State::Established);
        while endpoint.poll_event().is_some() {}
        Fixture {
            now,
            endpoint,
            peer,
        }
    })
}

fn parse_checks(data: &[u8]) {
    if let Ok(m) = DcepMessage::parse(data) {
        assert_eq!(DcepMessage::parse(&m.to_bytes()), Ok(m));
    }
    match DcepMessage::parse_with_limits(data, MAX_LABEL, MAX_LABEL) {
        Ok(DcepMessage::Open(o)) => {
            assert!(o.label.len() <= MAX_LABEL && o.protocol.len() <= MAX_LABEL);
        }
        Ok(DcepMessage::Ack) => {}
        Err(DcepError::TooLong { length, max, .. }) => assert!(length > max),
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    parse_checks(data);
    let f = fixture();
    let mut now = f.now;
    let mut e = f.endpoint.clone();
    let mut p = f.peer.clone();
    // Records: [op, stream, ppid selector, length] then `length` bytes of payload.
    let mut rest = data;
    let mut steps = 0;
    while rest.len() >= 4 && steps < 64 {
        steps += 1;
        let (op, stream, sel, len) = (rest[0], rest[1] as u16, rest[2], rest[3] as usize);
        let body = &rest[4..];
        let len = len.min(body.len());
        let (payload, tail) = body.split_at(len);
        rest = tail;
        match op % 8 {
            // The peer sends a message: DCEP most of the time, data otherwise.
            0..=3 => {
                let ppid = match sel % 8 {
                    0..=3 => 50,
                    4 => 51,
                    5 => 53,
                    6 => 56 + (sel as u32 >> 7),
                    _ => sel as u32,
                };
                let mut options = SendOptions::default();
                options.unordered = sel & 0x10 != 0;
                let _ = p.send(now, stream, ppid, payload.to_vec(), options);
            }
            // The peer resets a stream (closing its side of a channel).
            4 => p.reset_streams(&[stream]),
            // We open, send on or close a channel.
            5 => {
                let _ = e.open_channel(now, {
                    let mut cfg = ChannelConfig::default();
                    cfg.label = String::from_utf8_lossy(payload).into_owned();
                    cfg.ordered = sel & 1 == 0;
                    cfg.reliability = if sel & 2 == 0 {
                        Reliability::Reliable
                    } else {
                        Reliability::MaxRetransmits(1)
                    };
                    cfg.negotiated = (sel & 4 != 0).then_some(stream);
                    cfg
                });
            }
            6 => {
                if sel & 1 == 0 {
                    let _ = e.send(now, stream, payload.to_vec(), sel & 2 != 0);
                } else {
                    e.close(now, stream);
                }
            }
            // Time passes.
            _ => {
                now += Duration::from_millis(u64::from(sel) * 20);
                e.handle_timeout(now);
                p.handle_timeout(now);
            }
        }
        pump(now, &mut e, &mut p);
        while e.poll_event().is_some() {}
        assert!(e.channel_ids().count() <= MAX_CHANNELS);
        let a = e.association();
        assert!(a.send_buffered() <= a.config().max_buffered_amount);
    }
});
