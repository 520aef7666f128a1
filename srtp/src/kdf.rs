//! The RFC 3711 section 4.3 key derivation function (AES-CM PRF, key derivation rate 0), used by
//! every profile (RFC 7714 section 11 pads the 96-bit GCM salt with zeros).

use aes::cipher::{KeyIvInit, StreamCipher};

/// Key derivation labels (RFC 3711 section 4.3.1).
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
pub(crate) enum Label {
    RtpEncryption = 0,
    RtpAuthentication = 1,
    RtpSalt = 2,
    RtcpEncryption = 3,
    RtcpAuthentication = 4,
    RtcpSalt = 5,
}

/// Fills `out` with the PRF output for `label`: the AES-CM keystream under the master key, starting
/// at IV = (master salt XOR label << 48) << 16. `master_key` is 16 or 32 bytes (checked by the
/// caller); `master_salt` at most 14 bytes, zero-padded on the right.
pub(crate) fn derive(master_key: &[u8], master_salt: &[u8], label: Label, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..master_salt.len()].copy_from_slice(master_salt);
    iv[7] ^= label as u8;
    out.fill(0);
    match master_key.len() {
        16 => ctr::Ctr128BE::<aes::Aes128>::new(master_key.into(), &iv.into()).apply_keystream(out),
        32 => ctr::Ctr128BE::<aes::Aes256>::new(master_key.into(), &iv.into()).apply_keystream(out),
        other => unreachable!("master key length {other} is checked against the profile"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cipher::tests::hex;

    /// RFC 3711 Appendix B.3.
    #[test]
    fn rfc3711_b3_key_derivation() {
        let key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
        let mut enc = [0u8; 16];
        derive(&key, &salt, Label::RtpEncryption, &mut enc);
        assert_eq!(enc.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut s = [0u8; 14];
        derive(&key, &salt, Label::RtpSalt, &mut s);
        assert_eq!(s.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        let mut auth = [0u8; 94];
        derive(&key, &salt, Label::RtpAuthentication, &mut auth);
        assert_eq!(
            auth.to_vec(),
            hex(
                "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE\
                 E049646C43D9327AD175578EF72270986371C10C9A369AC2F94A8C5FBCDDDC25\
                 6D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2"
            )
        );
    }
}
