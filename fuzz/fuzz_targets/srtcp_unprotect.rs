//! Random bytes into SRTCP unprotect of a keyed context, for every profile: never a panic, and a
//! refused packet leaves the context unchanged (a second try gives the same answer).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_srtp::{Config, Context, Profile};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, packet)) = data.split_first() else {
        return;
    };
    let profile = Profile::ALL[usize::from(selector) % Profile::ALL.len()];
    let key = vec![0x42; profile.key_len()];
    let salt = vec![0x17; profile.salt_len()];
    let mut config = Config::default();
    config.max_ssrcs = 2;
    let mut rx = Context::new(profile, &key, &salt, config).expect("lengths match the profile");
    let mut tx =
        Context::new(profile, &key, &salt, Config::default()).expect("lengths match the profile");

    let mut buf = packet.to_vec();
    let first = rx.unprotect_rtcp(&mut buf);
    if first.is_err() {
        assert_eq!(rx.ssrc_count(), 0);
        let mut again = packet.to_vec();
        assert_eq!(rx.unprotect_rtcp(&mut again), first);
    }
    let mut plain = packet.to_vec();
    if tx.protect_rtcp(&mut plain).is_ok() {
        let mut rx2 = Context::new(profile, &key, &salt, Config::default())
            .expect("lengths match the profile");
        let n = rx2
            .unprotect_rtcp(&mut plain)
            .expect("own packet authenticates");
        assert_eq!(&plain[..n], packet);
    }
});
