//! Behaviour of a context through the public API: round trips, rollover, reordering, replay,
//! limits, failures leaving state unchanged, DTLS keying material, and property tests.

use proptest::prelude::*;
use sansrtc_srtp::{Config, Context, Error, Profile, ProfileExt, Role};

fn keys(profile: Profile, seed: u8) -> (Vec<u8>, Vec<u8>) {
    let key = (0..profile.key_len())
        .map(|i| seed.wrapping_add(i as u8))
        .collect();
    let salt = (0..profile.salt_len())
        .map(|i| seed.wrapping_mul(3).wrapping_add(i as u8))
        .collect();
    (key, salt)
}

fn pair(profile: Profile, config: Config) -> (Context, Context) {
    let (k, s) = keys(profile, 7);
    (
        Context::new(profile, &k, &s, config.clone()).unwrap(),
        Context::new(profile, &k, &s, config).unwrap(),
    )
}

fn rtp(seq: u16, ssrc: u32, payload_len: usize) -> Vec<u8> {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..payload_len).map(|i| (i as u8) ^ (seq as u8)));
    p
}

fn rtcp(ssrc: u32, n: u8) -> Vec<u8> {
    // A receiver report with one report block (32 bytes).
    let mut p = vec![0x81, 201, 0, 7];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend((0..24).map(|i| i as u8 ^ n));
    p
}

/// The `_into` variants protect and unprotect a borrowed packet into the caller's buffer, reused
/// from packet to packet, and leave it empty when they refuse one.
#[test]
fn into_variants_fill_the_callers_buffer() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        let (mut wire, mut plain) = (Vec::new(), Vec::new());
        for seq in 0..20u16 {
            let packet = rtp(seq, 0x77, 40 + usize::from(seq));
            tx.protect_rtp_into(&packet, &mut wire).unwrap();
            assert_eq!(wire.len(), packet.len() + tx.rtp_overhead());
            assert_eq!(rx.unprotect_rtp_into(&wire, &mut plain), Ok(packet.len()));
            assert_eq!(plain, packet);

            let packet = rtcp(0x77, seq as u8);
            tx.protect_rtcp_into(&packet, &mut wire).unwrap();
            assert_eq!(wire.len(), packet.len() + tx.rtcp_overhead());
            assert_eq!(rx.unprotect_rtcp_into(&wire, &mut plain), Ok(packet.len()));
            assert_eq!(plain, packet);
        }
        // A replay is refused and leaves nothing in the buffer.
        assert!(matches!(
            rx.unprotect_rtcp_into(&wire, &mut plain),
            Err(Error::Replayed { .. })
        ));
        assert!(plain.is_empty());
        assert_eq!(
            tx.protect_rtp_into(&[0x80, 96, 0], &mut wire),
            Err(Error::Truncated {
                needed: 12,
                available: 3
            })
        );
        assert!(wire.is_empty());
    }
}

#[test]
fn round_trip_every_profile_rtp_and_rtcp() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        for seq in 0..50u16 {
            let plain = rtp(seq, 0x1234, 100 + usize::from(seq));
            let protected = tx.protect_rtp_to_vec(&plain).unwrap();
            assert_eq!(protected.len(), plain.len() + profile.rtp_overhead());
            assert_ne!(protected[12..plain.len()], plain[12..]);
            assert_eq!(rx.unprotect_rtp_to_vec(&protected).unwrap(), plain);

            let plain = rtcp(0x1234, seq as u8);
            let protected = tx.protect_rtcp_to_vec(&plain).unwrap();
            assert_eq!(protected.len(), plain.len() + profile.rtcp_overhead());
            assert_eq!(rx.unprotect_rtcp_to_vec(&protected).unwrap(), plain);
        }
        assert_eq!(rx.stats().rtp_unprotected, 50);
        assert_eq!(rx.stats().rtcp_unprotected, 50);
        assert_eq!(tx.stats().rtp_protected, 50);
    }
}

#[test]
fn header_extension_and_csrcs_stay_clear() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        let mut p = vec![
            0x92, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 0xAA, 0xAA, 0xAA, 0xAA, 0xBE, 0xDE, 0, 1, 0x10,
            0xFF, 0, 0,
        ];
        p.extend_from_slice(b"payload bytes");
        let protected = tx.protect_rtp_to_vec(&p).unwrap();
        assert_eq!(protected[..24], p[..24]);
        assert_ne!(protected[24..p.len()], p[24..]);
        assert_eq!(rx.unprotect_rtp_to_vec(&protected).unwrap(), p);
    }
}

#[test]
fn rollover_wrap_with_reordering() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        let seqs: Vec<u16> = (65530..=65535).chain(0..6).collect();
        let protected: Vec<Vec<u8>> = seqs
            .iter()
            .map(|&s| tx.protect_rtp_to_vec(&rtp(s, 5, 40)).unwrap())
            .collect();
        assert_eq!(tx.roc(5), Some(1));
        // Deliver 65530..65532, then post-wrap 0 and 2, then the late pre-wrap ones, then the rest.
        let order = [0, 1, 2, 6, 8, 5, 3, 4, 7, 9, 10, 11];
        for i in order {
            let plain = rx.unprotect_rtp_to_vec(&protected[i]).unwrap();
            assert_eq!(plain, rtp(seqs[i], 5, 40), "packet {i}");
        }
        assert_eq!(rx.roc(5), Some(1));
        // Every one of them is now a replay.
        for p in &protected {
            assert!(matches!(
                rx.unprotect_rtp_to_vec(p),
                Err(Error::Replayed { .. })
            ));
        }
        assert_eq!(rx.stats().replays, 12);
    }
}

#[test]
fn replay_window_size_is_configurable() {
    let mut config = Config::default();
    config.replay_window = 64;
    let (mut tx, mut rx) = pair(Profile::AeadAes128Gcm, config);
    tx.protect_rtp_to_vec(&rtp(1, 9, 10)).unwrap();
    let old = tx.protect_rtp_to_vec(&rtp(2, 9, 10)).unwrap();
    let mid = tx.protect_rtp_to_vec(&rtp(3, 9, 10)).unwrap();
    let mut last = Vec::new();
    for seq in 4..=66 {
        last = tx.protect_rtp_to_vec(&rtp(seq, 9, 10)).unwrap();
    }
    rx.unprotect_rtp_to_vec(&last).unwrap();
    assert_eq!(
        rx.unprotect_rtp_to_vec(&old),
        Err(Error::TooOld {
            index: 2,
            highest: 66
        })
    );
    assert_eq!(rx.unprotect_rtp_to_vec(&mid).unwrap(), rtp(3, 9, 10));
}

#[test]
fn failed_unprotect_leaves_state_unchanged() {
    for profile in Profile::ALL {
        let (mut tx, mut rx) = pair(profile, Config::default());
        let good = tx.protect_rtp_to_vec(&rtp(100, 1, 30)).unwrap();
        // A forged packet far ahead must not move the window or the ROC.
        let (mut other_tx, _) = pair(profile, Config::default());
        let mut forged = other_tx.protect_rtp_to_vec(&rtp(40000, 1, 30)).unwrap();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(
            rx.unprotect_rtp_to_vec(&forged),
            Err(Error::AuthenticationFailed)
        );
        assert_eq!(rx.ssrc_count(), 0, "no state for an unauthenticated SSRC");
        rx.unprotect_rtp_to_vec(&good).unwrap();
        assert_eq!(
            rx.unprotect_rtp_to_vec(&forged),
            Err(Error::AuthenticationFailed)
        );
        assert_eq!(rx.roc(1), Some(0));
        let next = tx.protect_rtp_to_vec(&rtp(101, 1, 30)).unwrap();
        rx.unprotect_rtp_to_vec(&next).unwrap();
        // The same for SRTCP.
        let mut bad = tx.protect_rtcp_to_vec(&rtcp(1, 0)).unwrap();
        bad[10] ^= 0x40;
        assert_eq!(
            rx.unprotect_rtcp_to_vec(&bad),
            Err(Error::AuthenticationFailed)
        );
        assert_eq!(rx.stats().auth_failures, 3);
        let good = tx.protect_rtcp_to_vec(&rtcp(1, 1)).unwrap();
        rx.unprotect_rtcp_to_vec(&good).unwrap();
        assert!(matches!(
            rx.unprotect_rtcp_to_vec(&good),
            Err(Error::Replayed { .. })
        ));
    }
}

#[test]
fn truncated_and_malformed() {
    for profile in Profile::ALL {
        let (_, mut rx) = pair(profile, Config::default());
        for len in 0..40 {
            let mut p = vec![0x80u8; len];
            assert!(rx.unprotect_rtp_in(&mut p).is_err());
            let mut p = vec![0x80u8; len];
            assert!(rx.unprotect_rtcp_in(&mut p).is_err());
        }
        let mut p = vec![0x40u8; 60];
        assert_eq!(
            rx.unprotect_rtp_in(&mut p),
            Err(Error::Malformed("RTP version is not 2"))
        );
        assert_eq!(rx.stats().malformed, 1);
        let (mut tx, _) = pair(profile, Config::default());
        let mut small = rtp(1, 1, 10);
        let len = small.len();
        small.push(0);
        assert!(matches!(
            tx.protect_rtp_in(&mut small, len),
            Err(Error::BufferTooSmall { .. })
        ));
        assert_eq!(tx.stats().truncated, 1);
    }
}

#[test]
fn ssrc_limits() {
    let mut config = Config::default();
    config.max_ssrcs = 2;
    let (mut tx, mut rx) = pair(Profile::Aes128CmHmacSha1_80, Config::default());
    let mut rx_limited = Context::new(
        Profile::Aes128CmHmacSha1_80,
        &keys(Profile::Aes128CmHmacSha1_80, 7).0,
        &keys(Profile::Aes128CmHmacSha1_80, 7).1,
        config,
    )
    .unwrap();
    for ssrc in 1..=3 {
        let p = tx.protect_rtp_to_vec(&rtp(1, ssrc, 10)).unwrap();
        let r = rx_limited.unprotect_rtp_to_vec(&p);
        if ssrc <= 2 {
            r.unwrap();
        } else {
            assert_eq!(r, Err(Error::TooManySsrcs { limit: 2 }));
        }
        rx.unprotect_rtp_to_vec(&p).unwrap();
    }
    assert_eq!(rx_limited.stats().too_many_ssrcs, 1);
    rx_limited.remove_ssrc(1);
    let p = tx.protect_rtp_to_vec(&rtp(2, 3, 10)).unwrap();
    rx_limited.unprotect_rtp_to_vec(&p).unwrap();

    let mut strict = Config::default();
    strict.accept_new_ssrcs = false;
    let (k, s) = keys(Profile::Aes128CmHmacSha1_80, 7);
    let mut rx_strict = Context::new(Profile::Aes128CmHmacSha1_80, &k, &s, strict).unwrap();
    let p = tx.protect_rtp_to_vec(&rtp(3, 3, 10)).unwrap();
    assert_eq!(
        rx_strict.unprotect_rtp_to_vec(&p),
        Err(Error::UnknownSsrc(3))
    );
    rx_strict.add_ssrc(3, 0).unwrap();
    rx_strict.unprotect_rtp_to_vec(&p).unwrap();
}

#[test]
fn joining_mid_stream_with_known_roc() {
    let (mut tx, mut rx) = pair(Profile::AeadAes256Gcm, Config::default());
    tx.add_ssrc(77, 41).unwrap();
    let p = tx.protect_rtp_to_vec(&rtp(500, 77, 10)).unwrap();
    // Without the ROC the receiver guesses 0 and authentication fails.
    assert_eq!(
        rx.unprotect_rtp_to_vec(&p),
        Err(Error::AuthenticationFailed)
    );
    rx.add_ssrc(77, 41).unwrap();
    assert_eq!(rx.unprotect_rtp_to_vec(&p).unwrap(), rtp(500, 77, 10));
    assert_eq!(rx.roc(77), Some(41));
}

#[test]
fn rtp_index_exhaustion() {
    let (mut tx, _) = pair(Profile::Aes128CmHmacSha1_32, Config::default());
    tx.add_ssrc(1, u32::MAX).unwrap();
    tx.protect_rtp_to_vec(&rtp(65535, 1, 4)).unwrap();
    assert_eq!(
        tx.protect_rtp_to_vec(&rtp(0, 1, 4)),
        Err(Error::IndexExhausted { ssrc: 1 })
    );
    assert_eq!(tx.stats().index_exhausted, 1);
}

#[test]
fn dtls_keying_material_halves() {
    for profile in Profile::ALL {
        let material: Vec<u8> = (0..profile.keying_material_len())
            .map(|i| i as u8)
            .collect();
        let mut client =
            Context::from_dtls_keying_material(profile, &material, Role::Client, Config::default())
                .unwrap();
        let mut server =
            Context::from_dtls_keying_material(profile, &material, Role::Server, Config::default())
                .unwrap();
        let p = client.outbound.protect_rtp_to_vec(&rtp(1, 1, 20)).unwrap();
        assert_eq!(
            server.inbound.unprotect_rtp_to_vec(&p).unwrap(),
            rtp(1, 1, 20)
        );
        assert_eq!(
            client.inbound.unprotect_rtp_to_vec(&p),
            Err(Error::AuthenticationFailed)
        );
        let p = server.outbound.protect_rtcp_to_vec(&rtcp(2, 0)).unwrap();
        assert_eq!(
            client.inbound.unprotect_rtcp_to_vec(&p).unwrap(),
            rtcp(2, 0)
        );
        // The client half is the first key and the first salt.
        let (k, s) = (profile.key_len(), profile.salt_len());
        let mut direct = Context::new(
            profile,
            &material[..k],
            &material[2 * k..2 * k + s],
            Config::default(),
        )
        .unwrap();
        let p = direct.protect_rtp_to_vec(&rtp(9, 9, 9)).unwrap();
        server.inbound.unprotect_rtp_to_vec(&p).unwrap();
        assert!(
            Context::from_dtls_keying_material(
                profile,
                &material[1..],
                Role::Client,
                Config::default()
            )
            .is_err()
        );
    }
}

#[test]
fn context_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Context>();
}

#[test]
fn bytes_mut_in_place() {
    let (mut tx, mut rx) = pair(Profile::AeadAes128Gcm, Config::default());
    let plain = rtp(7, 7, 100);
    let mut buf = bytes::BytesMut::with_capacity(plain.len() + 16);
    buf.extend_from_slice(&plain);
    tx.protect_rtp(&mut buf).unwrap();
    assert_eq!(buf.len(), plain.len() + 16);
    assert_eq!(rx.unprotect_rtp(&mut buf).unwrap(), plain.len());
    assert_eq!(&buf[..], &plain[..]);
}

fn profile_strategy() -> impl Strategy<Value = Profile> {
    prop::sample::select(Profile::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn prop_round_trip(profile in profile_strategy(), seed in any::<u8>(), seq in any::<u16>(), ssrc in any::<u32>(),
                       csrcs in 0usize..4, payload in prop::collection::vec(any::<u8>(), 0..1500)) {
        let (k, s) = keys(profile, seed);
        let mut tx = Context::new(profile, &k, &s, Config::default()).unwrap();
        let mut rx = Context::new(profile, &k, &s, Config::default()).unwrap();
        let mut p = vec![0x80 | csrcs as u8, 111];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[1, 2, 3, 4]);
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend(std::iter::repeat_n(0xCC, 4 * csrcs));
        p.extend_from_slice(&payload);
        let protected = tx.protect_rtp_to_vec(&p).unwrap();
        prop_assert_eq!(rx.unprotect_rtp_to_vec(&protected).unwrap(), p.clone());

        let mut c = vec![0x80, 200, 0, 0];
        c.extend_from_slice(&ssrc.to_be_bytes());
        c.extend_from_slice(&payload);
        let protected = tx.protect_rtcp_to_vec(&c).unwrap();
        prop_assert_eq!(rx.unprotect_rtcp_to_vec(&protected).unwrap(), c);
    }

    #[test]
    fn prop_bit_flip_fails_authentication(profile in profile_strategy(), seed in any::<u8>(), seq in any::<u16>(),
                                          payload in prop::collection::vec(any::<u8>(), 1..300), bit in any::<prop::sample::Index>(),
                                          rtcp_packet in any::<bool>()) {
        let (k, s) = keys(profile, seed);
        let mut tx = Context::new(profile, &k, &s, Config::default()).unwrap();
        let mut rx = Context::new(profile, &k, &s, Config::default()).unwrap();
        let mut p = vec![0x80, 0];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 42]);
        p.extend_from_slice(&payload);
        let mut protected = if rtcp_packet { tx.protect_rtcp_to_vec(&p).unwrap() } else { tx.protect_rtp_to_vec(&p).unwrap() };
        let bit = bit.index(protected.len() * 8);
        protected[bit / 8] ^= 1 << (bit % 8);
        let before = *rx.stats();
        let r = if rtcp_packet { rx.unprotect_rtcp_to_vec(&protected) } else { rx.unprotect_rtp_to_vec(&protected) };
        // A flipped bit may break the header (version, extension length) before the tag is
        // checked; every other flip must fail authentication. Never accepted either way.
        prop_assert!(r.is_err());
        let after = *rx.stats();
        prop_assert_eq!(after.rtp_unprotected + after.rtcp_unprotected, 0);
        prop_assert_eq!(rx.ssrc_count(), 0);
        let header_broken = matches!(r, Err(Error::Malformed(_)) | Err(Error::Truncated { .. }));
        if !header_broken {
            // Flipping the E flag of SRTCP is caught by authentication, as is everything else.
            prop_assert_eq!(r, Err(Error::AuthenticationFailed));
        }
        prop_assert_ne!(before, after);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A lossy, reordering link across sequence wraps: every packet that arrives decrypts (the
    /// ROC estimate follows the sender), duplicates are refused, and both ends agree on the ROC.
    /// Reordering stays within blocks of 8 packets and gaps below 40, so no packet falls out of the
    /// 1024-packet replay window. The first packet (at most `start + 39`) comes before the wrap
    /// and 3000 packets later the sequence number has passed 65535, so every run crosses it.
    #[test]
    fn prop_lossy_reordering_link_across_wraps(
        profile in profile_strategy(),
        start in 62600u16..65400,
        steps in prop::collection::vec(1u16..40, 3000),
        shuffles in prop::collection::vec((0usize..8, any::<bool>()), 375),
        duplicates in prop::collection::vec(0usize..3000, 0..20),
    ) {
        let (mut tx, mut rx) = pair(profile, Config::default());
        let mut seq = start;
        let mut sent = Vec::new();
        for step in &steps {
            // A step of more than 1 is packets lost on the link.
            seq = seq.wrapping_add(*step);
            let plain = rtp(seq, 0xABCD, 8);
            sent.push((tx.protect_rtp_to_vec(&plain).unwrap(), plain));
        }
        prop_assert!(tx.roc(0xABCD).unwrap() >= 1, "the run crosses a wrap");
        let mut order: Vec<usize> = (0..sent.len()).collect();
        // The stream's first packet arrives first: a receiver without state takes ROC 0, so a
        // first packet from after the wrap would be guessed wrong (by libsrtp too).
        for (block, (rotate, reverse)) in order[1..].chunks_mut(8).zip(shuffles) {
            block.rotate_left(rotate % block.len());
            if reverse {
                block.reverse();
            }
        }
        for i in order {
            let (protected, plain) = &sent[i];
            prop_assert_eq!(&rx.unprotect_rtp_to_vec(protected).unwrap(), plain, "packet {}", i);
        }
        for i in duplicates {
            prop_assert!(rx.unprotect_rtp_to_vec(&sent[i].0).is_err());
        }
        prop_assert_eq!(rx.roc(0xABCD), tx.roc(0xABCD));
        prop_assert_eq!(rx.stats().rtp_unprotected, sent.len() as u64);
    }
}
