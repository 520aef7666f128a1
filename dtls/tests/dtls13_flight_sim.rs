//! A DTLS 1.3 server flight (EncryptedExtensions, a 3 KB Certificate, CertificateVerify,
//! Finished, in epoch 2 records with encrypted record numbers) delivered over a lossy,
//! duplicating, reordering link: the receiver reassembles with the DTLS fragment code and
//! acknowledges every record it opened in ACK records (epoch 2, through the same lossy link);
//! the sender retransmits, on each timeout, only the fragments not yet acknowledged
//! (`v13::flight`). 300 seeds at 0-40% loss: every flight arrives whole and in order, and is
//! fully acknowledged; without loss one transmission suffices; with loss the retransmissions
//! carry fewer fragments than the flight.

use sansrtc_dtls::Rng;
use sansrtc_dtls::TestRng;
use sansrtc_dtls::codec::Reader;
use sansrtc_dtls::fragment::{HandshakeHeader, Reassembler};
use sansrtc_dtls::v13::ack::{AckTracker, RecordNumber, parse_ack};
use sansrtc_dtls::v13::flight::{Flight, OutMessage};
use sansrtc_dtls::v13::key_schedule::{KeySchedule, Secret, Suite13};
use sansrtc_dtls::v13::record::{
    self as rec, EpochKeys, HeaderForm, Record, RecvEpoch, RecvEpochs, SendEpoch,
};

const MTU: usize = 1200;

fn epoch(secret: u8) -> (SendEpoch, RecvEpoch) {
    let suite = Suite13::Aes128GcmSha256;
    let crypto = sansrtc_core::crypto::default_provider();
    let ks = KeySchedule::dtls13(suite.hash(), crypto);
    let k = ks.traffic_keys(suite, &Secret::new(vec![secret; 32]));
    (
        SendEpoch::new(EpochKeys::new(suite, 2, &k, crypto).expect("keys")),
        RecvEpoch::new(EpochKeys::new(suite, 2, &k, crypto).expect("keys"), 64),
    )
}

/// Loses each datagram with probability `loss`%, duplicates 10%, and shuffles them.
fn link(rng: &mut TestRng, loss: u32, datagrams: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for d in datagrams {
        if rng.next_u32() % 100 < loss {
            continue;
        }
        if rng.next_u32() % 10 == 0 {
            out.push(d.clone());
        }
        out.push(d);
    }
    for i in (1..out.len()).rev() {
        let j = rng.next_u32() as usize % (i + 1);
        out.swap(i, j);
    }
    out
}

struct Run {
    rounds: u32,
    parts: usize,
    retransmitted_parts: usize,
}

fn run(seed: u64, loss: u32) -> Run {
    let mut rng = TestRng::new(seed);
    let messages = vec![
        OutMessage {
            msg_type: 8,
            message_seq: 1,
            epoch: 2,
            body: vec![0; 8],
        },
        OutMessage {
            msg_type: 11,
            message_seq: 2,
            epoch: 2,
            body: (0..3000u32).map(|i| i as u8).collect(),
        },
        OutMessage {
            msg_type: 15,
            message_seq: 3,
            epoch: 2,
            body: vec![7; 74],
        },
        OutMessage {
            msg_type: 20,
            message_seq: 4,
            epoch: 2,
            body: vec![9; 32],
        },
    ];
    // Record overhead: unified header 5, content type 1, tag 16; handshake header 12.
    let mut flight = Flight::new(messages.clone(), MTU - 5 - 1 - 16 - 12);
    let parts = flight.part_count();
    let (mut server_send, _) = epoch(1);
    let (_, client_recv) = epoch(1);
    let (mut client_send, _) = epoch(2);
    let (_, server_recv) = epoch(2);
    let mut client_epochs = RecvEpochs::new();
    client_epochs.install(client_recv);
    let mut server_epochs = RecvEpochs::new();
    server_epochs.install(server_recv);
    let mut reassembler = Reassembler::new(1, 1 << 16, 1 << 17);
    let mut acks = AckTracker::new(64);
    let mut received = Vec::new();
    let mut retransmitted_parts = 0;
    let mut rounds = 0;
    while !(flight.all_acked() && received.len() == messages.len()) {
        rounds += 1;
        assert!(rounds <= 60, "seed {seed} loss {loss}: no progress");
        // Server: (re)transmits what is not acknowledged (on its timer).
        if rounds > 1 {
            retransmitted_parts += flight.pending();
        }
        let datagrams = flight.transmit(MTU, &mut |_, content, out| {
            let seq = server_send
                .seal(rec::CT_HANDSHAKE, content, HeaderForm::FULL, out)
                .expect("keys");
            RecordNumber {
                epoch: 2,
                sequence: seq,
            }
        });
        assert!(datagrams.iter().all(|d| d.len() <= MTU));
        // Client: opens, reassembles, acknowledges after each datagram.
        let mut ack_datagrams = Vec::new();
        for d in link(&mut rng, loss, datagrams) {
            for r in rec::parse_datagram(&d) {
                let Ok(Record::Ciphertext(c)) = r else {
                    panic!("framing")
                };
                // Duplicates are dropped by the replay window (and need no new ACK).
                let Ok((e, opened)) = client_epochs.open(&c) else {
                    continue;
                };
                acks.received(RecordNumber {
                    epoch: e,
                    sequence: opened.sequence,
                });
                let mut reader = Reader::new(&opened.content);
                let (h, data) = HandshakeHeader::parse(&mut reader).expect("header");
                reassembler.insert(2, &h, data);
                while let Some(m) = reassembler.next_complete() {
                    received.push((m.msg_type, m.message_seq, m.body));
                    reassembler.advance();
                }
            }
            if let Some(ack) = acks.take_ack(64) {
                let mut out = Vec::new();
                client_send
                    .seal(rec::CT_ACK, &ack, HeaderForm::FULL, &mut out)
                    .expect("keys");
                ack_datagrams.push(out);
            }
        }
        // A lost ACK leaves its records pending at the server; the client acknowledges
        // retransmitted records again.
        for d in link(&mut rng, loss, ack_datagrams) {
            for r in rec::parse_datagram(&d) {
                let Ok(Record::Ciphertext(c)) = r else {
                    panic!("framing")
                };
                let Ok((_, opened)) = server_epochs.open(&c) else {
                    continue;
                };
                assert_eq!(opened.content_type, rec::CT_ACK);
                flight.on_ack(&parse_ack(&opened.content).expect("ack"));
            }
        }
    }
    let want: Vec<_> = messages
        .iter()
        .map(|m| (m.msg_type, m.message_seq, m.body.clone()))
        .collect();
    assert_eq!(received, want, "seed {seed}");
    Run {
        rounds,
        parts,
        retransmitted_parts,
    }
}

#[test]
fn flights_are_delivered_and_acknowledged_over_a_lossy_link() {
    let mut partial = 0;
    for seed in 0..300u64 {
        let loss = [0, 10, 20, 30, 40][seed as usize % 5];
        let r = run(seed, loss);
        assert_eq!(r.parts, 4 + 2);
        if loss == 0 {
            assert_eq!(r.rounds, 1, "seed {seed}");
        }
        // A retransmission that carried fewer fragments than the whole flight.
        if r.rounds > 1 && r.retransmitted_parts < r.parts * (r.rounds as usize - 1) {
            partial += 1;
        }
    }
    assert!(partial > 50, "partial retransmissions: {partial}");
}
