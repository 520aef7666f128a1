//! Random bytes into the DTLS 1.3 record layer: sealed as content, they open to themselves in every
//! suite and header form; as a datagram, into the parser (plaintext and unified
//! headers), then every protected record into the receive epochs of all three suites (record
//! number decryption, sequence number reconstruction, replay window, AEAD open, inner plaintext),
//! the ACK parser and the 1.3 handshake message parsers (a parsed ClientHello re-encodes to
//! the same value). Nothing may panic; a record that opens is never accepted twice, and every
//! framed record lies within the datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_dtls::v13::ack::parse_ack;
use sansrtc_dtls::v13::key_schedule::{KeySchedule, Secret, Suite13};
use sansrtc_dtls::v13::message as m;
use sansrtc_dtls::v13::record::{
    CT_APPLICATION_DATA, EpochKeys, HeaderForm, Record, RecvEpoch, RecvEpochs, parse_datagram,
};

fuzz_target!(|data: &[u8]| {
    let mut all: Vec<RecvEpochs> = Suite13::ALL
        .into_iter()
        .map(|suite| {
            let ks = KeySchedule::dtls13(suite.hash(), sansrtc_dtls::crypto::default_provider());
            let mut epochs = RecvEpochs::new();
            for epoch in [2u64, 3] {
                let secret = Secret::new(vec![epoch as u8; suite.hash().output_len()]);
                let keys =
                    EpochKeys::new(suite, epoch, &ks.traffic_keys(suite, &secret), ks.crypto).expect("keys");
                epochs.install(RecvEpoch::new(keys, 64));
            }
            epochs
        })
        .collect();
    let _ = parse_ack(data);
    // The input as content: sealed in every header form, with padding, it opens to itself.
    if data.len() <= 1 << 14 {
        for suite in Suite13::ALL {
            let ks = KeySchedule::dtls13(suite.hash(), sansrtc_dtls::crypto::default_provider());
            let tk = ks.traffic_keys(suite, &Secret::new(vec![7; suite.hash().output_len()]));
            let tx = EpochKeys::new(suite, 3, &tk, ks.crypto).expect("keys");
            let mut rx = RecvEpoch::new(EpochKeys::new(suite, 3, &tk, ks.crypto).expect("keys"), 64);
            let flags = data.first().copied().unwrap_or(0);
            let form = HeaderForm {
                long_sequence: flags & 1 != 0,
                length: flags & 2 != 0,
            };
            let seq = u64::from(data.get(1).copied().unwrap_or(0));
            let mut out = Vec::new();
            tx.seal(
                seq,
                CT_APPLICATION_DATA,
                data,
                usize::from(flags >> 4),
                form,
                &mut out,
            );
            let Some(Ok(Record::Ciphertext(c))) = parse_datagram(&out).next() else {
                panic!("our record frames")
            };
            let opened = rx.open(&c).expect("our record opens");
            assert_eq!((opened.sequence, opened.content.as_slice()), (seq, data));
        }
    }
    // Every 1.3 message parser and the accessors of the hellos.
    if let Ok(frags) = m::parse_fragments(data) {
        for f in frags {
            assert!(f.offset as usize + f.data.len() <= f.length as usize);
        }
    }
    if let Ok(ch) = m::ClientHello::parse(data) {
        let _ = (
            ch.supported_versions(),
            ch.key_shares(),
            ch.supported_groups(),
        );
        let _ = (ch.signature_algorithms(), ch.srtp_profiles(), ch.cookie());
        let mut out = Vec::new();
        ch.write(&mut out);
        assert_eq!(m::ClientHello::parse(&out).as_ref(), Ok(&ch));
    }
    if let Ok(sh) = m::ServerHello::parse(data) {
        let _ = (sh.selected_version(), sh.key_share(), sh.cookie());
    }
    let _ = m::Extensions::parse(data);
    let _ = m::Certificate13::parse(data);
    let _ = m::CertificateVerify::parse(data);
    for _ in 0..2 {
        for rec in parse_datagram(data) {
            let Ok(rec) = rec else { break };
            match rec {
                Record::Plaintext(p) => {
                    assert!(p.fragment.len() <= data.len());
                    let _ = parse_ack(p.fragment);
                }
                Record::Ciphertext(c) => {
                    assert!(c.header.len() + c.encrypted.len() <= data.len());
                    for epochs in &mut all {
                        if let Ok((epoch, opened)) = epochs.open(&c) {
                            // The same record again is a replay.
                            assert!(epochs.open(&c).is_err());
                            assert!(epoch == 2 || epoch == 3);
                            let _ = parse_ack(&opened.content);
                        }
                    }
                }
            }
        }
    }
});
