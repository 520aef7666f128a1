//! SRTP protect and unprotect, 160-byte and 1200-byte payloads, every profile: sansrtc-srtp beside
//! crates.io `webrtc-srtp`, libsrtp 2 (Debian `libsrtp2-dev`, through the FFI shim below) and the
//! raw crypto on the same bytes (ring AES-GCM seal/open; RustCrypto AES-CTR + HMAC-SHA1, the
//! primitives sansrtc-srtp uses). The GCM profiles run twice more: sansrtc-srtp with the
//! aws-lc-rs crypto provider beside aws-lc-rs's raw seal/open (`-aws-lc-rs` suffix).
//!
//! In-place implementations (sansrtc, libsrtp, raw) copy the packet into their buffer inside the
//! timed loop, as a sender or receiver would; webrtc-srtp allocates its output. Unprotect cycles
//! through 4096 distinct packets and starts a fresh receiver when they run out, so the replay
//! window never refuses one.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes::cipher::{InnerIvInit, KeyInit, StreamCipher};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::Mac;
use ring::aead::{self, LessSafeKey, UnboundKey};
use sansrtc_core::crypto::CryptoProvider;
use sansrtc_srtp::{Config, Context, Profile};

const SSRC: u32 = 0xCAFE_BABE;
const BATCH: usize = 4096;

fn name(profile: Profile) -> &'static str {
    match profile {
        Profile::Aes128CmHmacSha1_80 => "AES128_CM_HMAC_SHA1_80",
        Profile::Aes128CmHmacSha1_32 => "AES128_CM_HMAC_SHA1_32",
        Profile::AeadAes128Gcm => "AEAD_AES_128_GCM",
        Profile::AeadAes256Gcm => "AEAD_AES_256_GCM",
    }
}

fn keys(profile: Profile) -> (Vec<u8>, Vec<u8>) {
    let key = (0..profile.key_len()).map(|i| i as u8 * 7 + 1).collect();
    let salt = (0..profile.salt_len()).map(|i| i as u8 * 11 + 3).collect();
    (key, salt)
}

fn rtp(seq: u16, payload: usize) -> Vec<u8> {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..payload).map(|i| i as u8));
    p
}

fn ours(profile: Profile) -> Context {
    ours_with(profile, &sansrtc_core::crypto::RING)
}

fn ours_with(profile: Profile, crypto: &'static dyn CryptoProvider) -> Context {
    let (k, s) = keys(profile);
    let mut config = Config::default();
    config.crypto = crypto;
    Context::new(profile, &k, &s, config).expect("keys match the profile")
}

fn webrtc(profile: Profile) -> webrtc_srtp::context::Context {
    use webrtc_srtp::protection_profile::ProtectionProfile as P;
    let p = match profile {
        Profile::Aes128CmHmacSha1_80 => P::Aes128CmHmacSha1_80,
        Profile::Aes128CmHmacSha1_32 => P::Aes128CmHmacSha1_32,
        Profile::AeadAes128Gcm => P::AeadAes128Gcm,
        Profile::AeadAes256Gcm => P::AeadAes256Gcm,
    };
    let (k, s) = keys(profile);
    webrtc_srtp::context::Context::new(&k, &s, p, None, None).expect("webrtc-srtp context")
}

/// Times `iters` unprotects cycling through `packets`, with `fresh` making a new receiver.
fn cycle<R>(
    iters: u64,
    packets: &[Vec<u8>],
    mut fresh: impl FnMut() -> R,
    mut one: impl FnMut(&mut R, &[u8]),
) -> Duration {
    let mut rx = fresh();
    let mut i = 0;
    let start = Instant::now();
    for _ in 0..iters {
        if i == packets.len() {
            rx = fresh();
            i = 0;
        }
        one(&mut rx, &packets[i]);
        i += 1;
    }
    start.elapsed()
}

/// The raw crypto of one profile: what protecting a packet costs at the least.
#[allow(
    clippy::large_enum_variant,
    reason = "one per benchmark, inline like the context's"
)]
enum Raw {
    Gcm(LessSafeKey),
    GcmAwsLc(aws_lc_rs::aead::LessSafeKey),
    Cm(aes::Aes128Enc, hmac::Hmac<sha1::Sha1>, usize),
}

impl Raw {
    fn new(profile: Profile) -> Self {
        match profile {
            Profile::AeadAes128Gcm => Self::Gcm(LessSafeKey::new(
                UnboundKey::new(&aead::AES_128_GCM, &[7; 16]).unwrap(),
            )),
            Profile::AeadAes256Gcm => Self::Gcm(LessSafeKey::new(
                UnboundKey::new(&aead::AES_256_GCM, &[7; 32]).unwrap(),
            )),
            _ => Self::Cm(
                aes::Aes128Enc::new(&[7; 16].into()),
                <hmac::Hmac<sha1::Sha1> as Mac>::new_from_slice(&[9; 20]).unwrap(),
                profile.rtp_tag_len(),
            ),
        }
    }

    /// aws-lc-rs's AES-GCM for a GCM profile.
    fn aws_lc(profile: Profile) -> Self {
        use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, LessSafeKey, UnboundKey};
        let (alg, len) = match profile {
            Profile::AeadAes128Gcm => (&AES_128_GCM, 16),
            _ => (&AES_256_GCM, 32),
        };
        Self::GcmAwsLc(LessSafeKey::new(
            UnboundKey::new(alg, &[7; 32][..len]).unwrap(),
        ))
    }

    /// Encrypts `buf[12..]` and appends the tag.
    fn seal(&self, buf: &mut Vec<u8>) {
        match self {
            Self::GcmAwsLc(key) => aws_lc_seal(key, buf),
            Self::Gcm(key) => ring_seal(key, buf),
            Self::Cm(aes, key, tag_len) => {
                let core = ctr::CtrCore::<&aes::Aes128Enc, ctr::flavors::Ctr128BE>::inner_iv_init(
                    aes,
                    &[1; 16].into(),
                );
                ctr::Ctr128BE::from_core(core).apply_keystream(&mut buf[12..]);
                let mut mac = key.clone();
                mac.update(buf);
                mac.update(&[0; 4]);
                let tag = mac.finalize().into_bytes();
                buf.extend_from_slice(&tag[..*tag_len]);
            }
        }
    }

    /// Checks the tag and decrypts; returns the plaintext length.
    fn open(&self, buf: &mut [u8]) -> usize {
        match self {
            Self::GcmAwsLc(key) => aws_lc_open(key, buf),
            Self::Gcm(key) => ring_open(key, buf),
            Self::Cm(aes, key, tag_len) => {
                let end = buf.len() - tag_len;
                let mut mac = key.clone();
                mac.update(&buf[..end]);
                mac.update(&[0; 4]);
                let tag = mac.finalize().into_bytes();
                assert!(ring_eq(&tag[..*tag_len], &buf[end..]));
                let core = ctr::CtrCore::<&aes::Aes128Enc, ctr::flavors::Ctr128BE>::inner_iv_init(
                    aes,
                    &[1; 16].into(),
                );
                ctr::Ctr128BE::from_core(core).apply_keystream(&mut buf[12..end]);
                end
            }
        }
    }
}

/// Raw AES-GCM seal (tag appended) and open of a packet whose first 12 bytes are its header,
/// with `$lib`'s `LessSafeKey`: ring and aws-lc-rs share this API.
macro_rules! raw_gcm {
    ($lib:ident, $seal:ident, $open:ident) => {
        fn $seal(key: &$lib::aead::LessSafeKey, buf: &mut Vec<u8>) {
            use $lib::aead::{Aad, Nonce};
            let (header, body) = buf.split_at_mut(12);
            let nonce = Nonce::assume_unique_for_key([1; 12]);
            let tag = key
                .seal_in_place_separate_tag(nonce, Aad::from(&*header), body)
                .unwrap();
            buf.extend_from_slice(tag.as_ref());
        }

        /// Returns the plaintext length.
        fn $open(key: &$lib::aead::LessSafeKey, buf: &mut [u8]) -> usize {
            use $lib::aead::{Aad, Nonce};
            let (header, body) = buf.split_at_mut(12);
            let nonce = Nonce::assume_unique_for_key([1; 12]);
            12 + key
                .open_in_place(nonce, Aad::from(&*header), body)
                .unwrap()
                .len()
        }
    };
}

raw_gcm!(ring, ring_seal, ring_open);
raw_gcm!(aws_lc_rs, aws_lc_seal, aws_lc_open);

fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[allow(unsafe_code)]
mod libsrtp {
    //! Minimal FFI shim to libsrtp 2 (`-lsrtp2`), mirroring `srtp_policy_t` of libsrtp 2.5. The
    //! layout is checked at run time: the benchmark first asserts that libsrtp's protected packet
    //! equals sansrtc's byte for byte.

    use std::ffi::{c_int, c_uint, c_ulong, c_void};

    use sansrtc_srtp::Profile;

    #[repr(C)]
    struct Ssrc {
        kind: c_int,
        value: c_uint,
    }

    #[repr(C)]
    struct CryptoPolicy {
        cipher_type: u32,
        cipher_key_len: c_int,
        auth_type: u32,
        auth_key_len: c_int,
        auth_tag_len: c_int,
        sec_serv: c_int,
    }

    #[repr(C)]
    struct Policy {
        ssrc: Ssrc,
        rtp: CryptoPolicy,
        rtcp: CryptoPolicy,
        key: *mut u8,
        keys: *mut c_void,
        num_master_keys: c_ulong,
        deprecated_ekt: *mut c_void,
        window_size: c_ulong,
        allow_repeat_tx: c_int,
        enc_xtn_hdr: *mut c_int,
        enc_xtn_hdr_count: c_int,
        next: *mut Policy,
    }

    #[link(name = "srtp2")]
    unsafe extern "C" {
        fn srtp_init() -> c_int;
        fn srtp_create(session: *mut *mut c_void, policy: *const Policy) -> c_int;
        fn srtp_dealloc(session: *mut c_void) -> c_int;
        fn srtp_protect(session: *mut c_void, rtp: *mut c_void, len: *mut c_int) -> c_int;
        fn srtp_unprotect(session: *mut c_void, srtp: *mut c_void, len: *mut c_int) -> c_int;
        fn srtp_crypto_policy_set_rtp_default(p: *mut CryptoPolicy);
        fn srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(p: *mut CryptoPolicy);
        fn srtp_crypto_policy_set_aes_gcm_128_16_auth(p: *mut CryptoPolicy);
        fn srtp_crypto_policy_set_aes_gcm_256_16_auth(p: *mut CryptoPolicy);
    }

    /// Room libsrtp may write after the packet (SRTP_MAX_TRAILER_LEN is below this).
    pub const TRAILER: usize = 160;

    /// One libsrtp session.
    pub struct Session(*mut c_void);

    impl Session {
        /// A session protecting (`outbound`) or unprotecting with `key_and_salt`.
        pub fn new(profile: Profile, key_and_salt: &[u8], outbound: bool) -> Self {
            let mut key = key_and_salt.to_vec();
            // SAFETY: plain C calls; `policy` is zero-initialised POD of the C layout, filled by
            // libsrtp's own setters, and lives (with `key`) across srtp_create, which copies both.
            unsafe {
                // libsrtp refuses a second srtp_init: initialise once per process.
                static INIT: std::sync::Once = std::sync::Once::new();
                INIT.call_once(|| assert_eq!(srtp_init(), 0, "srtp_init"));
                let mut policy: Policy = std::mem::zeroed();
                let (rtp, rtcp): (
                    unsafe extern "C" fn(*mut CryptoPolicy),
                    unsafe extern "C" fn(*mut CryptoPolicy),
                ) = match profile {
                    Profile::Aes128CmHmacSha1_80 => (
                        srtp_crypto_policy_set_rtp_default,
                        srtp_crypto_policy_set_rtp_default,
                    ),
                    Profile::Aes128CmHmacSha1_32 => (
                        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32,
                        srtp_crypto_policy_set_rtp_default,
                    ),
                    Profile::AeadAes128Gcm => (
                        srtp_crypto_policy_set_aes_gcm_128_16_auth,
                        srtp_crypto_policy_set_aes_gcm_128_16_auth,
                    ),
                    Profile::AeadAes256Gcm => (
                        srtp_crypto_policy_set_aes_gcm_256_16_auth,
                        srtp_crypto_policy_set_aes_gcm_256_16_auth,
                    ),
                };
                rtp(&mut policy.rtp);
                rtcp(&mut policy.rtcp);
                policy.ssrc.kind = if outbound { 3 } else { 2 };
                policy.key = key.as_mut_ptr();
                policy.window_size = 1024;
                policy.allow_repeat_tx = 1;
                let mut session = std::ptr::null_mut();
                assert_eq!(srtp_create(&mut session, &policy), 0, "srtp_create");
                Self(session)
            }
        }

        /// Protects `buf` in place (its capacity must leave [`TRAILER`] bytes).
        pub fn protect(&mut self, buf: &mut Vec<u8>) {
            assert!(buf.capacity() >= buf.len() + TRAILER);
            let mut len = buf.len() as c_int;
            // SAFETY: the buffer has TRAILER bytes of capacity after `len`, more than libsrtp
            // writes; set_len covers only bytes libsrtp initialised.
            unsafe {
                assert_eq!(
                    srtp_protect(self.0, buf.as_mut_ptr().cast(), &mut len),
                    0,
                    "srtp_protect"
                );
                buf.set_len(len as usize);
            }
        }

        /// Unprotects `buf` in place.
        pub fn unprotect(&mut self, buf: &mut Vec<u8>) {
            let mut len = buf.len() as c_int;
            // SAFETY: libsrtp reads and writes at most `len` bytes and only shortens the packet.
            unsafe {
                assert_eq!(
                    srtp_unprotect(self.0, buf.as_mut_ptr().cast(), &mut len),
                    0,
                    "srtp_unprotect"
                );
                buf.set_len(len as usize);
            }
        }
    }

    impl Drop for Session {
        fn drop(&mut self) {
            // SAFETY: the session came from srtp_create and is freed once.
            unsafe {
                srtp_dealloc(self.0);
            }
        }
    }
}

fn bench_srtp(c: &mut Criterion) {
    for profile in Profile::ALL {
        let (k, s) = keys(profile);
        let key_and_salt = [k.clone(), s.clone()].concat();
        for size in [160usize, 1200] {
            let mut group = c.benchmark_group(format!("srtp/{}/{size}", name(profile)));
            group.throughput(Throughput::Bytes(size as u64));
            let plain = rtp(1, size);
            let cap = plain.len() + libsrtp::TRAILER;

            // Same bytes out of every implementation (also checks the FFI layout).
            let reference = ours(profile).protect_rtp_to_vec(&plain).unwrap();
            let mut check = Vec::with_capacity(cap);
            check.extend_from_slice(&plain);
            libsrtp::Session::new(profile, &key_and_salt, true).protect(&mut check);
            assert_eq!(check, reference, "libsrtp and sansrtc differ");
            assert_eq!(
                &webrtc(profile).encrypt_rtp(&plain).unwrap()[..],
                &reference[..],
                "webrtc-srtp and sansrtc differ"
            );

            let mut tx = ours(profile);
            let mut buf = Vec::with_capacity(cap);
            group.bench_function("protect/sansrtc", |b| {
                b.iter(|| {
                    buf.clear();
                    buf.extend_from_slice(black_box(&plain));
                    tx.protect_rtp(&mut buf).unwrap();
                    black_box(&buf);
                })
            });
            let mut wtx = webrtc(profile);
            group.bench_function("protect/webrtc-srtp", |b| {
                b.iter(|| black_box(wtx.encrypt_rtp(black_box(&plain)).unwrap()))
            });
            let mut ltx = libsrtp::Session::new(profile, &key_and_salt, true);
            group.bench_function("protect/libsrtp", |b| {
                b.iter(|| {
                    buf.clear();
                    buf.extend_from_slice(black_box(&plain));
                    ltx.protect(&mut buf);
                    black_box(&buf);
                })
            });
            let raw = Raw::new(profile);
            group.bench_function("protect/raw-crypto", |b| {
                b.iter(|| {
                    buf.clear();
                    buf.extend_from_slice(black_box(&plain));
                    raw.seal(&mut buf);
                    black_box(&buf);
                })
            });

            let mut sender = ours(profile);
            let packets: Vec<Vec<u8>> = (0..BATCH as u16)
                .map(|seq| sender.protect_rtp_to_vec(&rtp(seq, size)).unwrap())
                .collect();
            group.bench_function("unprotect/sansrtc", |b| {
                b.iter_custom(|iters| {
                    cycle(
                        iters,
                        &packets,
                        || ours(profile),
                        |rx, p| {
                            buf.clear();
                            buf.extend_from_slice(p);
                            black_box(rx.unprotect_rtp(&mut buf).unwrap());
                        },
                    )
                })
            });
            group.bench_function("unprotect/webrtc-srtp", |b| {
                b.iter_custom(|iters| {
                    cycle(
                        iters,
                        &packets,
                        || webrtc(profile),
                        |rx, p| {
                            black_box(rx.decrypt_rtp(p).unwrap());
                        },
                    )
                })
            });
            group.bench_function("unprotect/libsrtp", |b| {
                b.iter_custom(|iters| {
                    cycle(
                        iters,
                        &packets,
                        || libsrtp::Session::new(profile, &key_and_salt, false),
                        |rx, p| {
                            buf.clear();
                            buf.extend_from_slice(p);
                            rx.unprotect(&mut buf);
                            black_box(&buf);
                        },
                    )
                })
            });
            let mut sealed = Vec::with_capacity(cap);
            sealed.extend_from_slice(&plain);
            raw.seal(&mut sealed);
            group.bench_function("unprotect/raw-crypto", |b| {
                b.iter(|| {
                    buf.clear();
                    buf.extend_from_slice(black_box(&sealed));
                    black_box(raw.open(&mut buf));
                })
            });
            if matches!(profile, Profile::AeadAes128Gcm | Profile::AeadAes256Gcm) {
                aws_lc_rs_beside_its_raw_crypto(&mut group, profile, &plain, &mut buf);
            }
            group.finish();
        }
    }
}

/// sansrtc-srtp with the aws-lc-rs crypto provider beside aws-lc-rs's own seal/open on the same
/// bytes: the ceiling of that provider.
fn aws_lc_rs_beside_its_raw_crypto(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    profile: Profile,
    plain: &[u8],
    buf: &mut Vec<u8>,
) {
    let aws: &'static dyn CryptoProvider = &sansrtc_core::crypto::AWS_LC_RS;
    assert_eq!(
        ours_with(profile, aws).protect_rtp_to_vec(plain).unwrap(),
        ours(profile).protect_rtp_to_vec(plain).unwrap(),
        "both providers protect to the same bytes"
    );
    let mut tx = ours_with(profile, aws);
    group.bench_function("protect/sansrtc-aws-lc-rs", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(black_box(plain));
            tx.protect_rtp(buf).unwrap();
            black_box(&buf);
        })
    });
    let raw = Raw::aws_lc(profile);
    group.bench_function("protect/raw-crypto-aws-lc-rs", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(black_box(plain));
            raw.seal(buf);
            black_box(&buf);
        })
    });
    let mut sender = ours_with(profile, aws);
    let size = plain.len() - 12;
    let packets: Vec<Vec<u8>> = (0..BATCH as u16)
        .map(|seq| sender.protect_rtp_to_vec(&rtp(seq, size)).unwrap())
        .collect();
    group.bench_function("unprotect/sansrtc-aws-lc-rs", |b| {
        b.iter_custom(|iters| {
            cycle(
                iters,
                &packets,
                || ours_with(profile, aws),
                |rx, p| {
                    buf.clear();
                    buf.extend_from_slice(p);
                    black_box(rx.unprotect_rtp(buf).unwrap());
                },
            )
        })
    });
    let mut sealed = plain.to_vec();
    raw.seal(&mut sealed);
    group.bench_function("unprotect/raw-crypto-aws-lc-rs", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(black_box(&sealed));
            black_box(raw.open(buf));
        })
    });
}

criterion_group!(benches, bench_srtp);
criterion_main!(benches);
