//! A counting global allocator proves that protect and unprotect allocate nothing once a stream's
//! state exists and the buffer has tailroom: in place on a growable buffer, in place on a slice
//! (`_in`), and from a borrowed packet into a reused buffer (`_into`).
//!
//! Runs without the libtest harness (`harness = false`) so that no other thread allocates while
//! the counting region is open: `main` is the only thread.

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;

use sansrtc_srtp::{Config, Context, Profile};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    the_counter_sees_allocations();
    steady_state_protect_and_unprotect_allocate_nothing();
    println!(
        "no_alloc: steady-state protect and unprotect allocated nothing, every profile and crypto provider"
    );
}

fn steady_state_protect_and_unprotect_allocate_nothing() {
    let providers = sansrtc_core::crypto::available();
    for (profile, &crypto) in Profile::ALL
        .into_iter()
        .flat_map(|p| providers.iter().map(move |c| (p, c)))
    {
        let key = vec![0x11; profile.key_len()];
        let salt = vec![0x22; profile.salt_len()];
        let mut config = Config::default();
        config.crypto = crypto;
        let mut tx = Context::new(profile, &key, &salt, config.clone()).unwrap();
        let mut rx = Context::new(profile, &key, &salt, config).unwrap();
        let mut rtp = Vec::with_capacity(1300);
        let mut rtcp = Vec::with_capacity(200);
        let mut bytes = bytes::BytesMut::with_capacity(1300);
        let mut slice = [0u8; 1300];
        let (mut wire, mut plain) = (Vec::with_capacity(1300), Vec::with_capacity(1300));

        let mut run = |seq: u16| {
            rtp.clear();
            rtp.extend_from_slice(&[0x80, 96]);
            rtp.extend_from_slice(&seq.to_be_bytes());
            rtp.extend_from_slice(&[0, 0, 0, 1, 0xCA, 0xFE, 0xBA, 0xBE]);
            rtp.resize(12 + 1200, 0x5A);
            tx.protect_rtp(&mut rtp).unwrap();
            assert_eq!(rx.unprotect_rtp(&mut rtp).unwrap(), 1212);

            bytes.clear();
            bytes.extend_from_slice(&rtp[..172]);
            bytes[11] ^= 1; // another SSRC: this one is protected a second time
            tx.protect_rtp(&mut bytes).unwrap();
            rx.unprotect_rtp(&mut bytes).unwrap();

            rtcp.clear();
            rtcp.extend_from_slice(&[0x81, 201, 0, 7, 0xCA, 0xFE, 0xBA, 0xBE]);
            rtcp.resize(32, 7);
            tx.protect_rtcp(&mut rtcp).unwrap();
            assert_eq!(rx.unprotect_rtcp(&mut rtcp).unwrap(), 32);

            // On slices, in place: a third SSRC.
            slice[..172].copy_from_slice(&rtp[..172]);
            slice[11] ^= 2;
            let n = tx.protect_rtp_in(&mut slice, 172).unwrap();
            assert_eq!(rx.unprotect_rtp_in(&mut slice[..n]).unwrap(), 172);
            slice[..32].copy_from_slice(&rtcp[..32]);
            let n = tx.protect_rtcp_in(&mut slice, 32).unwrap();
            assert_eq!(rx.unprotect_rtcp_in(&mut slice[..n]).unwrap(), 32);

            // From borrowed packets into reused buffers.
            let mut packet = [0u8; 172];
            packet.copy_from_slice(&rtp[..172]);
            packet[11] ^= 4; // a fourth SSRC
            tx.protect_rtp_into(&packet, &mut wire).unwrap();
            assert_eq!(rx.unprotect_rtp_into(&wire, &mut plain).unwrap(), 172);
            assert_eq!(plain, packet);
            tx.protect_rtcp_into(&rtcp[..32], &mut wire).unwrap();
            assert_eq!(rx.unprotect_rtcp_into(&wire, &mut plain).unwrap(), 32);
            assert_eq!(plain, rtcp[..32]);
        };
        // Warm up: creates the per-SSRC state (the only allocation, once per SSRC).
        run(65000);
        let region = Region::new(GLOBAL);
        for seq in 65001..=65535u16 {
            run(seq);
        }
        for seq in 0..1000u16 {
            run(seq);
        }
        let stats = region.change();
        assert_eq!(stats.allocations, 0, "{profile:?}: {stats:?}");
        assert_eq!(stats.reallocations, 0, "{profile:?}: {stats:?}");
        assert_eq!(stats.deallocations, 0, "{profile:?}: {stats:?}");
    }
}

/// The allocating convenience API does allocate: the counter is live.
fn the_counter_sees_allocations() {
    let profile = Profile::AeadAes128Gcm;
    let mut tx = Context::new(profile, &[1; 16], &[2; 12], Config::default()).unwrap();
    let packet = [0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 42];
    tx.protect_rtp_to_vec(&packet).unwrap();
    let region = Region::new(GLOBAL);
    let protected = tx.protect_rtp_to_vec(&packet).unwrap();
    assert!(region.change().allocations >= 1);
    drop(protected);
}
