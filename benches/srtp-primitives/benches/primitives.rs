//! The primitives of the AES-CM SRTP profiles on one packet's bytes: HMAC-SHA1 and AES-128-CTR from
//! RustCrypto (what sansrtc-srtp and webrtc-srtp use) beside aws-lc-rs and ring, and a whole
//! AES-CM + HMAC-SHA1 protect with the keystream and MAC sequential or interleaved in chunks.
use std::hint::black_box;

use aes::cipher::{InnerIvInit, KeyInit, KeyIvInit, StreamCipher};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::Mac;

fn bench(c: &mut Criterion) {
    let key = [7u8; 20];
    let aes_key = [9u8; 16];
    let iv = [3u8; 16];
    for size in [172usize, 1212] {
        let data = vec![0x5au8; size];
        let mut g = c.benchmark_group(format!("hmac_sha1/{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        let rc = <hmac::Hmac<sha1::Sha1> as Mac>::new_from_slice(&key).unwrap();
        g.bench_function("rustcrypto", |b| {
            b.iter(|| {
                let mut m = rc.clone();
                m.update(black_box(&data));
                m.finalize().into_bytes()
            })
        });
        let aws = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
        g.bench_function("aws-lc-rs", |b| {
            b.iter(|| {
                let mut ctx = aws_lc_rs::hmac::Context::with_key(&aws);
                ctx.update(black_box(&data));
                ctx.sign()
            })
        });
        let rk = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
        g.bench_function("ring", |b| {
            b.iter(|| ring::hmac::sign(&rk, black_box(&data)))
        });
        g.finish();

        let mut g = c.benchmark_group(format!("aes128_ctr/{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        let enc = aes::Aes128Enc::new(&aes_key.into());
        let mut buf = data.clone();
        g.bench_function("rustcrypto", |b| {
            b.iter(|| {
                let core = ctr::CtrCore::<&aes::Aes128Enc, ctr::flavors::Ctr128BE>::inner_iv_init(
                    &enc,
                    (&iv).into(),
                );
                ctr::Ctr128BE::<&aes::Aes128Enc>::from_core(core)
                    .apply_keystream(black_box(&mut buf));
            })
        });
        let _ = ctr::Ctr128BE::<aes::Aes128>::new(&aes_key.into(), &iv.into());
        use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
        let ek = EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &aes_key).unwrap()).unwrap();
        g.bench_function("aws-lc-rs", |b| {
            b.iter(|| {
                let ctx = EncryptionContext::Iv128(iv.into());
                ek.less_safe_encrypt(black_box(&mut buf), ctx).unwrap();
            })
        });
        g.finish();
    }
}

/// One AES-CM + HMAC-SHA1 SRTP protect of the payload (12 B header, 4 B ROC): the keystream over
/// the whole payload then the MAC (what sansrtc-srtp does), against the two interleaved in chunks
/// so that AES-NI work can overlap SHA-NI's dependency chain.
fn cm_protect(c: &mut Criterion) {
    let key = [7u8; 20];
    let aes_key = [9u8; 16];
    let iv = [3u8; 16];
    let header = [0x80u8, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
    let enc = aes::Aes128Enc::new(&aes_key.into());
    let mac = <hmac::Hmac<sha1::Sha1> as Mac>::new_from_slice(&key).unwrap();
    for size in [160usize, 1200] {
        let mut payload = vec![0x5au8; size];
        let mut g = c.benchmark_group(format!("cm_protect/{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        let ctr = |enc| {
            let core = ctr::CtrCore::<&aes::Aes128Enc, ctr::flavors::Ctr128BE>::inner_iv_init(
                enc,
                (&iv).into(),
            );
            ctr::Ctr128BE::<&aes::Aes128Enc>::from_core(core)
        };
        g.bench_function("sequential", |b| {
            b.iter(|| {
                ctr(&enc).apply_keystream(black_box(&mut payload));
                let mut m = mac.clone();
                m.update(&header);
                m.update(&payload);
                m.update(&[0, 0, 0, 0]);
                m.finalize().into_bytes()
            })
        });
        for chunk in [64usize, 128, 256, 512] {
            g.bench_function(format!("interleaved/{chunk}"), |b| {
                b.iter(|| {
                    let mut c = ctr(&enc);
                    let mut m = mac.clone();
                    m.update(&header);
                    for piece in black_box(&mut payload).chunks_mut(chunk) {
                        c.apply_keystream(piece);
                        m.update(piece);
                    }
                    m.update(&[0, 0, 0, 0]);
                    m.finalize().into_bytes()
                })
            });
        }
        let aws = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
        use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
        let ek = EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &aes_key).unwrap()).unwrap();
        g.bench_function("aws-lc-rs sequential", |b| {
            b.iter(|| {
                ek.less_safe_encrypt(black_box(&mut payload), EncryptionContext::Iv128(iv.into()))
                    .unwrap();
                let mut ctx = aws_lc_rs::hmac::Context::with_key(&aws);
                ctx.update(&header);
                ctx.update(&payload);
                ctx.update(&[0, 0, 0, 0]);
                ctx.sign()
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench, cm_protect);
criterion_main!(benches);
