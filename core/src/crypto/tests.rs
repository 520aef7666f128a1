//! Every provider against published test vectors and against each other.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn aes_gcm_matches_the_gcm_specification_test_case_4() {
    // "The Galois/Counter Mode of Operation (GCM)", McGrew and Viega, test case 4.
    let key = hex("feffe9928665731c6d6a8f9467308308");
    let nonce: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
    let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let plain = hex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let cipher = hex(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
         21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
    );
    let tag = hex("5bc94fbc3221a5db94fae95ae7121a47");
    for &p in available() {
        let key = p.aead_key(AeadAlgorithm::Aes128Gcm, &key).unwrap();
        let mut data = plain.clone();
        let t = key.seal_in_place(&nonce, &aad, &mut data).unwrap();
        assert_eq!(
            (data.clone(), t.to_vec()),
            (cipher.clone(), tag.clone()),
            "{p:?}"
        );
        data.extend_from_slice(&t);
        assert_eq!(
            key.open_in_place(&nonce, &aad, &mut data).unwrap(),
            &plain[..]
        );
        // One flipped bit anywhere fails.
        let mut forged = [&cipher[..], &tag[..]].concat();
        forged[3] ^= 1;
        assert!(key.open_in_place(&nonce, &aad, &mut forged).is_err());
        assert!(
            key.open_in_place(&nonce, b"other", &mut [&cipher[..], &tag[..]].concat())
                .is_err()
        );
    }
}

#[test]
fn every_aead_round_trips_and_providers_agree() {
    for alg in [
        AeadAlgorithm::Aes128Gcm,
        AeadAlgorithm::Aes256Gcm,
        AeadAlgorithm::Chacha20Poly1305,
    ] {
        let key = vec![0x5a; alg.key_len()];
        let mut sealed = Vec::new();
        for &p in available() {
            let k = p.aead_key(alg, &key).unwrap();
            assert!(p.aead_key(alg, &key[1..]).is_err(), "short key refused");
            let mut data = vec![0x42u8; 1200];
            let tag = k.seal_in_place(&[1; 12], b"aad", &mut data).unwrap();
            data.extend_from_slice(&tag);
            sealed.push(data.clone());
            assert_eq!(
                k.open_in_place(&[1; 12], b"aad", &mut data).unwrap(),
                &[0x42; 1200][..]
            );
        }
        assert!(sealed.windows(2).all(|w| w[0] == w[1]), "{alg:?}");
    }
}

#[test]
fn digest_hmac_and_hkdf_match_their_rfcs() {
    for &p in available() {
        // FIPS 180-2 appendix B.1.
        assert_eq!(
            p.digest(DigestAlgorithm::Sha256, b"abc").as_ref(),
            &hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")[..]
        );
        let mut h = p.hash(DigestAlgorithm::Sha256);
        h.update(b"a");
        let fork = h.clone();
        h.update(b"bc");
        assert_eq!(
            h.clone().finish(),
            p.digest(DigestAlgorithm::Sha256, b"abc")
        );
        assert_eq!(fork.finish(), p.digest(DigestAlgorithm::Sha256, b"a"));
        // RFC 4231 test case 1.
        let key = p.hmac_key(DigestAlgorithm::Sha256, &[0x0b; 20]);
        let mac = hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        assert_eq!(key.sign(&[b"Hi ", b"There"]).as_ref(), &mac[..]);
        assert!(key.verify(&[b"Hi There"], &mac));
        assert!(!key.verify(&[b"Hi There"], &mac[..31]));
        assert!(!key.verify(&[b"Hi there"], &mac));
        // RFC 5869 test case 1.
        let salt = hex("000102030405060708090a0b0c");
        let prk = p.hkdf_extract(DigestAlgorithm::Sha256, &salt, &[0x0b; 22]);
        assert_eq!(
            prk.as_ref(),
            &hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")[..]
        );
        let mut okm = [0u8; 42];
        let info = hex("f0f1f2f3f4f5f6f7f8f9");
        p.hkdf_expand(
            DigestAlgorithm::Sha256,
            prk.as_ref(),
            &[&info[..4], &info[4..]],
            &mut okm,
        )
        .unwrap();
        assert_eq!(
            &okm[..],
            &hex(
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf\
                 34007208d5b887185865"
            )[..]
        );
        let mut too_long = vec![0u8; 255 * 32 + 1];
        assert!(
            p.hkdf_expand(DigestAlgorithm::Sha256, prk.as_ref(), &[], &mut too_long)
                .is_err()
        );
    }
}

#[test]
fn key_exchange_and_signatures_work_across_providers() {
    for &a in available() {
        for &b in available() {
            for group in [EcdhGroup::X25519, EcdhGroup::P256, EcdhGroup::P384] {
                let x = a.ecdhe(group).unwrap();
                let y = b.ecdhe(group).unwrap();
                let (xp, yp) = (x.public_key().to_vec(), y.public_key().to_vec());
                assert_eq!(x.agree(&yp).unwrap(), y.agree(&xp).unwrap(), "{group:?}");
                assert!(a.ecdhe(group).unwrap().agree(&[4; 3]).is_err());
            }
        }
    }
    // A P-256 PKCS#8 key made by ring, signed with each provider and checked by each.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap();
    for &a in available() {
        let key = a.ecdsa_p256_signing_key(pkcs8.as_ref()).unwrap();
        assert!(a.ecdsa_p256_signing_key(b"not a key").is_err());
        let sig = key.sign(b"message").unwrap();
        for &b in available() {
            let alg = SignatureAlgorithm::EcdsaP256Sha256;
            assert_eq!(b.verify(alg, key.public_key(), b"message", &sig), Ok(()));
            assert!(b.verify(alg, key.public_key(), b"massage", &sig).is_err());
            assert!(
                b.verify(
                    SignatureAlgorithm::EcdsaP384Sha384,
                    key.public_key(),
                    b"message",
                    &sig
                )
                .is_err()
            );
        }
    }
}

#[test]
fn header_protection_masks_agree() {
    let sample = [0x11u8; 16];
    for alg in [
        AeadAlgorithm::Aes128Gcm,
        AeadAlgorithm::Aes256Gcm,
        AeadAlgorithm::Chacha20Poly1305,
    ] {
        let masks: Vec<[u8; 5]> = available()
            .iter()
            .map(|p| {
                let k = p
                    .header_protection_key(alg, &vec![3; alg.key_len()])
                    .unwrap();
                k.mask(&sample).unwrap()
            })
            .collect();
        assert!(masks.windows(2).all(|w| w[0] == w[1]), "{alg:?}");
        assert_ne!(masks[0], [0; 5]);
    }
}

#[test]
fn the_default_is_ring_until_installed_and_providers_compare_by_name() {
    // No test in this binary installs one.
    assert_eq!(default_provider().name(), "ring");
    assert_eq!(
        available().len(),
        1 + usize::from(cfg!(feature = "aws-lc-rs"))
    );
    let ring: &'static dyn CryptoProvider = &RING;
    assert!(ring == &RING as &dyn CryptoProvider);
}
