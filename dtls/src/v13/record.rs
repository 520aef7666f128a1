//! The DTLS 1.3 record layer (RFC 9147 section 4): the legacy `DTLSPlaintext` header of epoch 0,
//! the unified header of protected records, record number encryption (4.2.3), sequence number
//! and epoch reconstruction (4.2.2), AEAD protection with the TLS 1.3 inner plaintext
//! (RFC 8446 5.2-5.4, with the 64-bit sequence number and without the epoch in the nonce), the
//! replay window (4.5.1) and the per-key record limits (4.5.3).
//!
//! The receive side is split in two: [`parse_datagram`] only frames records (nothing is
//! trusted), [`RecvEpoch::open`] removes the record number mask, reconstructs the sequence
//! number, checks the replay window, authenticates and only then accepts the record.

use std::sync::Arc;

use sansrtc_core::crypto::{AeadKey, CryptoProvider, HeaderProtectionKey};
use sansrtc_core::{ReplayWindow, WindowCheck};

use super::key_schedule::{Suite13, TrafficKeys};
use crate::cipher::Bulk;
use crate::codec::{Reader, put_u48};
use crate::error::DtlsError;

/// The `legacy_record_version` of DTLS 1.3 records: DTLS 1.2 (RFC 9147 4).
pub const LEGACY_VERSION: u16 = 0xFEFD;
/// The alert content type (21).
pub const CT_ALERT: u8 = 21;
/// The handshake content type (22).
pub const CT_HANDSHAKE: u8 = 22;
/// The application_data content type (23).
pub const CT_APPLICATION_DATA: u8 = 23;
/// The ack content type (26, RFC 9147 7).
pub const CT_ACK: u8 = 26;
/// The epoch of handshake messages after the ServerHello (RFC 9147 6.1).
pub const EPOCH_HANDSHAKE: u64 = 2;
/// The epoch of the first application data keys (RFC 9147 6.1).
pub const EPOCH_APPLICATION: u64 = 3;
/// The most plaintext one record may carry (RFC 8446 5.1).
pub const MAX_PLAINTEXT: usize = 1 << 14;
/// The most a protected record may hold: 2^14 + 256 (RFC 8446 5.2).
pub const MAX_CIPHERTEXT: usize = (1 << 14) + 256;
/// The AEAD tag length.
pub const TAG_LEN: usize = 16;
/// The largest sequence number we send or accept: records are numbered in 48 bits on the wire
/// of epoch 0 and we keep the same bound in every epoch (RFC 9147 4.2.1 says to rekey or close
/// before the sequence number wraps).
pub const MAX_SEQUENCE: u64 = (1 << 48) - 1;
/// Records we protect under one key of AES-GCM before it must be updated: RFC 9147 4.5.3 points
/// to the limits of RFC 8446 5.5; we keep QUIC's lower 2^23 (RFC 9001 6.6), a conservative choice.
pub const AES_GCM_CONFIDENTIALITY_LIMIT: u64 = 1 << 23;
/// Records failing authentication under one key after which the connection must end
/// (RFC 9147 4.5.3): 2^36, the lowest of the AEADs we use (ChaCha20-Poly1305), for all of them.
pub const INTEGRITY_LIMIT: u64 = 1 << 36;

/// The records one sending key of `suite` may protect before it must be updated: the AES-GCM
/// confidentiality limit, or the whole sequence space for ChaCha20-Poly1305 (whose limit,
/// 2^62 in RFC 8446 5.5, is beyond it).
pub fn record_limit(suite: Suite13) -> u64 {
    match suite.bulk() {
        Bulk::Chacha20Poly1305 => MAX_SEQUENCE,
        _ => AES_GCM_CONFIDENTIALITY_LIMIT,
    }
}

/// The unified header's fixed bits `001` (RFC 9147 4).
const FIXED_BITS: u8 = 0b0010_0000;
const FIXED_MASK: u8 = 0b1110_0000;
const C_BIT: u8 = 0b0001_0000;
const S_BIT: u8 = 0b0000_1000;
const L_BIT: u8 = 0b0000_0100;

/// A record of epoch 0 (the legacy `DTLSPlaintext` framing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaintextRecord<'a> {
    /// Alert, handshake or ack.
    pub content_type: u8,
    /// The legacy record version (ignored by DTLS 1.3 receivers, checked to be DTLS 1.x).
    pub version: u16,
    /// The 16-bit epoch field (0 for the records a DTLS 1.3 receiver accepts in plaintext).
    pub epoch: u16,
    /// The 48-bit sequence number.
    pub sequence: u64,
    /// The fragment.
    pub fragment: &'a [u8],
}

/// A protected record with a unified header, as framed, before anything is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CiphertextRecord<'a> {
    /// The unified header as on the wire (its sequence number bytes still encrypted).
    pub header: &'a [u8],
    /// The low two bits of the epoch.
    pub epoch_bits: u8,
    /// Bytes of sequence number in the header: 1 or 2.
    pub seq_len: usize,
    /// The encrypted record (ciphertext and tag).
    pub encrypted: &'a [u8],
}

/// One record of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// A `DTLSPlaintext` record.
    Plaintext(PlaintextRecord<'a>),
    /// A `DTLSCiphertext` record with a unified header.
    Ciphertext(CiphertextRecord<'a>),
}

/// Splits a datagram into records (RFC 9147 4.1 demultiplexing): a first byte of alert,
/// handshake or ack starts a `DTLSPlaintext` record, `001xxxxx` a unified header; anything else,
/// a connection ID (we negotiate none) or a malformed record ends the datagram with an error (the
/// rest is discarded, RFC 9147 4.5.2). A unified header without a length takes the rest of the
/// datagram. Nothing is authenticated here.
pub fn parse_datagram(datagram: &[u8]) -> impl Iterator<Item = Result<Record<'_>, DtlsError>> {
    crate::codec::parse_until_error(datagram, parse_one)
}

fn parse_one<'a>(r: &mut Reader<'a>) -> Result<Record<'a>, DtlsError> {
    let start = r.rest_peek();
    let first = r.u8()?;
    match first {
        CT_ALERT | CT_HANDSHAKE | CT_ACK => {
            let version = r.u16()?;
            if version >> 8 != 0xFE {
                return Err(DtlsError::UnsupportedVersion(version));
            }
            let epoch = r.u16()?;
            let sequence = r.u48()?;
            let fragment = r.vec16()?;
            if fragment.len() > MAX_PLAINTEXT {
                return Err(DtlsError::Invalid("record length"));
            }
            Ok(Record::Plaintext(PlaintextRecord {
                content_type: first,
                version,
                epoch,
                sequence,
                fragment,
            }))
        }
        _ if first & FIXED_MASK == FIXED_BITS => {
            if first & C_BIT != 0 {
                return Err(DtlsError::Invalid("connection id"));
            }
            let seq_len = if first & S_BIT != 0 { 2 } else { 1 };
            r.take(seq_len)?;
            let encrypted = if first & L_BIT != 0 {
                r.vec16()?
            } else {
                r.rest()
            };
            let header_len = 1 + seq_len + if first & L_BIT != 0 { 2 } else { 0 };
            if encrypted.len() > MAX_CIPHERTEXT {
                return Err(DtlsError::Invalid("record length"));
            }
            Ok(Record::Ciphertext(CiphertextRecord {
                header: &start[..header_len],
                epoch_bits: first & 0b11,
                seq_len,
                encrypted,
            }))
        }
        _ => Err(DtlsError::Invalid("content type")),
    }
}

/// Appends a `DTLSPlaintext` record of epoch 0.
pub fn write_plaintext(content_type: u8, sequence: u64, fragment: &[u8], out: &mut Vec<u8>) {
    out.push(content_type);
    out.extend_from_slice(&LEGACY_VERSION.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    put_u48(out, sequence);
    out.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
    out.extend_from_slice(fragment);
}

/// The full sequence number whose low `bits` bits are `truncated` and which is closest to
/// `expected` (the next one the receiver expects), as RFC 9147 4.2.2 asks (the algorithm of
/// RFC 9000 A.3).
pub fn reconstruct_sequence(expected: u64, truncated: u64, bits: u32) -> u64 {
    let win = 1u64 << bits;
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | truncated;
    if candidate.saturating_add(hwin) <= expected && candidate < (1 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(hwin) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// The header form of records we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderForm {
    /// A 16-bit (else 8-bit) sequence number.
    pub long_sequence: bool,
    /// With the length field (needed unless the record ends the datagram).
    pub length: bool,
}

impl HeaderForm {
    /// 16-bit sequence number and length: what we send by default (RFC 9147 4 recommends the
    /// length unless space is at a premium).
    pub const FULL: Self = Self {
        long_sequence: true,
        length: true,
    };
}

/// The AEAD and record number encryption keys of one direction of one epoch.
#[derive(Clone)]
pub struct EpochKeys {
    epoch: u64,
    suite: Suite13,
    aead: Arc<dyn AeadKey>,
    iv: [u8; 12],
    sn: Arc<dyn HeaderProtectionKey>,
}

impl std::fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochKeys")
            .field("epoch", &self.epoch)
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl EpochKeys {
    /// The keys of `epoch` from traffic keys derived for `suite`, on `crypto`'s AEAD.
    pub fn new(
        suite: Suite13,
        epoch: u64,
        keys: &TrafficKeys,
        crypto: &dyn CryptoProvider,
    ) -> Result<Self, DtlsError> {
        let alg = suite.bulk().algorithm();
        let aead = crypto
            .aead_key(alg, &keys.key)
            .map_err(|_| DtlsError::Crypto("AEAD key length"))?;
        let sn = crypto
            .header_protection_key(alg, &keys.sn_key)
            .map_err(|_| DtlsError::Crypto("sn_key length"))?;
        let iv: [u8; 12] = keys
            .iv
            .as_slice()
            .try_into()
            .map_err(|_| DtlsError::Crypto("IV length"))?;
        Ok(Self {
            epoch,
            suite,
            aead,
            iv,
            sn,
        })
    }

    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The suite.
    pub fn suite(&self) -> Suite13 {
        self.suite
    }

    fn nonce(&self, sequence: u64) -> [u8; 12] {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(sequence.to_be_bytes()) {
            *b ^= s;
        }
        n
    }

    fn mask(&self, encrypted: &[u8]) -> Result<[u8; 5], DtlsError> {
        if encrypted.len() < 16 {
            return Err(DtlsError::BadRecordMac);
        }
        self.sn
            .mask(&encrypted[..16])
            .map_err(|_| DtlsError::BadRecordMac)
    }

    /// Appends the protected record of `sequence` (`DTLSInnerPlaintext` = `plaintext` ||
    /// `content_type` || `padding` zero bytes), its header in `form`, with its sequence number
    /// bytes encrypted.
    pub fn seal(
        &self,
        sequence: u64,
        content_type: u8,
        plaintext: &[u8],
        padding: usize,
        form: HeaderForm,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        let seq_len = if form.long_sequence { 2 } else { 1 };
        let mut first = FIXED_BITS | (self.epoch & 0b11) as u8;
        if form.long_sequence {
            first |= S_BIT;
        }
        if form.length {
            first |= L_BIT;
        }
        out.push(first);
        if form.long_sequence {
            out.extend_from_slice(&(sequence as u16).to_be_bytes());
        } else {
            out.push(sequence as u8);
        }
        let inner_len = plaintext.len() + 1 + padding;
        if form.length {
            out.extend_from_slice(&((inner_len + TAG_LEN) as u16).to_be_bytes());
        }
        let header_end = out.len();
        out.extend_from_slice(plaintext);
        out.push(content_type);
        out.resize(out.len() + padding, 0);
        let (header, body) = out[start..].split_at_mut(header_end - start);
        let tag = self
            .aead
            .seal_in_place(&self.nonce(sequence), header, body)
            .expect("a record is far below the AEAD length limit");
        out.extend_from_slice(&tag);
        let mask = self
            .mask(&out[header_end..])
            .expect("a sealed record has at least 17 bytes");
        for (b, m) in out[start + 1..start + 1 + seq_len].iter_mut().zip(mask) {
            *b ^= m;
        }
    }
}

/// What an opened record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The full reconstructed sequence number.
    pub sequence: u64,
    /// The true content type (from the inner plaintext).
    pub content_type: u8,
    /// The content, padding removed.
    pub content: Vec<u8>,
}

/// Why a protected record was not accepted. Each is a silent drop (RFC 9147 4.5.2): nothing
/// changes but counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Its epoch bits are not those of these keys.
    WrongEpoch,
    /// Already received, or below the replay window.
    Replay,
    /// Authentication failed (counted towards [`INTEGRITY_LIMIT`]).
    BadRecordMac,
    /// It authenticated but its inner plaintext is all zeros (no content type) or too long.
    Malformed,
}

/// The sending side of one epoch: its keys and next sequence number.
#[derive(Debug, Clone)]
pub struct SendEpoch {
    keys: EpochKeys,
    next: u64,
}

impl SendEpoch {
    /// Sends with `keys` from sequence number 0.
    pub fn new(keys: EpochKeys) -> Self {
        Self { keys, next: 0 }
    }
    /// Sends with `keys` from sequence number `next` (tests of the limits).
    #[cfg(test)]
    pub(crate) fn starting_at(keys: EpochKeys, next: u64) -> Self {
        Self { keys, next }
    }
    /// The keys.
    pub fn keys(&self) -> &EpochKeys {
        &self.keys
    }
    /// The sequence number the next record gets.
    pub fn next_sequence(&self) -> u64 {
        self.next
    }
    /// The number of records these keys may protect: the AEAD's confidentiality limit
    /// (AES-GCM) or the sequence space (ChaCha20-Poly1305), see [`record_limit`].
    pub fn limit(&self) -> u64 {
        record_limit(self.keys.suite)
    }
    /// Whether these keys may protect no more records: the sequence space or the AEAD's
    /// confidentiality limit is used up (the sender must update its keys, RFC 9147 4.5.3).
    pub fn exhausted(&self) -> bool {
        self.next >= self.limit()
    }
    /// Protects one record and appends it; returns its sequence number, or `None` when the
    /// keys are [`exhausted`](Self::exhausted) (nothing is written).
    pub fn seal(
        &mut self,
        content_type: u8,
        plaintext: &[u8],
        form: HeaderForm,
        out: &mut Vec<u8>,
    ) -> Option<u64> {
        if self.exhausted() {
            return None;
        }
        let seq = self.next;
        self.keys.seal(seq, content_type, plaintext, 0, form, out);
        self.next += 1;
        Some(seq)
    }
}

/// The receiving side of one epoch: its keys, replay window and failed-authentication count.
#[derive(Debug, Clone)]
pub struct RecvEpoch {
    keys: EpochKeys,
    window: ReplayWindow,
    failures: u64,
}

impl RecvEpoch {
    /// Receives with `keys` and a replay window of `window` records (rounded up to 64).
    pub fn new(keys: EpochKeys, window: usize) -> Self {
        Self {
            keys,
            window: ReplayWindow::new(window),
            failures: 0,
        }
    }
    /// The keys.
    pub fn keys(&self) -> &EpochKeys {
        &self.keys
    }
    /// Records that failed authentication under these keys.
    pub fn failures(&self) -> u64 {
        self.failures
    }
    /// Whether so many records failed authentication that the connection must end
    /// ([`INTEGRITY_LIMIT`]).
    pub fn integrity_limit_reached(&self) -> bool {
        self.failures >= INTEGRITY_LIMIT
    }

    /// Opens a record of this epoch: removes the record number mask, reconstructs the sequence
    /// number next to the highest accepted one, checks the replay window, authenticates (the
    /// header with the decrypted sequence number is the additional data), strips the padding and
    /// reads the content type; only then marks the sequence number received.
    pub fn open(&mut self, record: &CiphertextRecord<'_>) -> Result<Opened, Rejected> {
        self.open_into(record, Vec::new())
    }

    /// [`RecvEpoch::open`] into `content` (emptied first; a spare buffer, so that opening
    /// allocates nothing once it has room for a record). It is dropped when the record is
    /// rejected.
    pub fn open_into(
        &mut self,
        record: &CiphertextRecord<'_>,
        mut content: Vec<u8>,
    ) -> Result<Opened, Rejected> {
        if u64::from(record.epoch_bits) != self.keys.epoch & 0b11 {
            return Err(Rejected::WrongEpoch);
        }
        let mask = self.keys.mask(record.encrypted).map_err(|_| {
            self.failures += 1;
            Rejected::BadRecordMac
        })?;
        let mut header = [0u8; 5];
        let header = &mut header[..record.header.len()];
        header.copy_from_slice(record.header);
        let mut truncated = 0u64;
        for (b, m) in header[1..1 + record.seq_len].iter_mut().zip(mask) {
            *b ^= m;
            truncated = (truncated << 8) | u64::from(*b);
        }
        let expected = self.window.highest().map_or(0, |h| h + 1);
        let sequence = reconstruct_sequence(expected, truncated, 8 * record.seq_len as u32);
        if sequence > MAX_SEQUENCE || self.window.check(sequence) != WindowCheck::New {
            return Err(Rejected::Replay);
        }
        content.clear();
        content.extend_from_slice(record.encrypted);
        let len =
            match self
                .keys
                .aead
                .open_in_place(&self.keys.nonce(sequence), header, &mut content)
            {
                Ok(plain) => plain.len(),
                Err(_) => {
                    self.failures += 1;
                    return Err(Rejected::BadRecordMac);
                }
            };
        content.truncate(len);
        // DTLSInnerPlaintext: content || type || zeros; the type is the last non-zero byte.
        let Some(type_at) = content.iter().rposition(|&b| b != 0) else {
            return Err(Rejected::Malformed);
        };
        let content_type = content[type_at];
        content.truncate(type_at);
        if content.len() > MAX_PLAINTEXT {
            return Err(Rejected::Malformed);
        }
        self.window.accept(sequence);
        Ok(Opened {
            sequence,
            content_type,
            content,
        })
    }
}

/// The receive epochs of a connection: epoch 0 (plaintext, handshake messages and ACKs only)
/// and the protected epochs currently installed (the handshake epoch 2 and the application
/// epochs from 3 on). The epoch of a unified header is the installed one with the same two low
/// bits (RFC 9147 4.2.2): at most one per value is kept, installing epoch n + 4 replaces n.
#[derive(Debug, Default, Clone)]
pub struct RecvEpochs {
    /// Boxed: an idle connection keeps two epochs, not room for four.
    epochs: [Option<Box<RecvEpoch>>; 4],
}

impl RecvEpochs {
    /// No protected epoch installed.
    pub fn new() -> Self {
        Self::default()
    }
    /// Installs (or replaces) the epoch with these low bits.
    pub fn install(&mut self, epoch: RecvEpoch) {
        let slot = (epoch.keys.epoch & 0b11) as usize;
        self.epochs[slot] = Some(Box::new(epoch));
    }
    /// Removes the epoch `epoch` if installed.
    pub fn remove(&mut self, epoch: u64) {
        let slot = (epoch & 0b11) as usize;
        if self.epochs[slot]
            .as_ref()
            .is_some_and(|e| e.keys.epoch == epoch)
        {
            self.epochs[slot] = None;
        }
    }
    /// The installed epoch `epoch`.
    pub fn get(&self, epoch: u64) -> Option<&RecvEpoch> {
        self.epochs[(epoch & 0b11) as usize]
            .as_deref()
            .filter(|e| e.keys.epoch == epoch)
    }
    /// Opens a record with the installed epoch its header names; returns the epoch with it.
    pub fn open(&mut self, record: &CiphertextRecord<'_>) -> Result<(u64, Opened), Rejected> {
        self.open_into(record, Vec::new())
    }
    /// [`RecvEpochs::open`] into `content` (see [`RecvEpoch::open_into`]).
    pub fn open_into(
        &mut self,
        record: &CiphertextRecord<'_>,
        content: Vec<u8>,
    ) -> Result<(u64, Opened), Rejected> {
        let epoch = self.epochs[usize::from(record.epoch_bits)]
            .as_mut()
            .ok_or(Rejected::WrongEpoch)?;
        let e = epoch.keys.epoch;
        epoch.open_into(record, content).map(|o| (e, o))
    }
}

#[cfg(test)]
mod tests {
    use super::super::key_schedule::{KeySchedule, Secret};
    use super::*;

    /// A sender's and a receiver's keys: ring's and the last provider's (aws-lc-rs when the
    /// build has it), so records cross providers.
    fn keys(suite: Suite13, epoch: u64, seed: u8) -> (EpochKeys, EpochKeys) {
        let providers = sansrtc_core::crypto::available();
        let ks = KeySchedule::dtls13(suite.hash(), providers[0]);
        let secret = Secret::new(vec![seed; suite.hash().output_len()]);
        let tk = ks.traffic_keys(suite, &secret);
        let last = *providers.last().expect("ring");
        (
            EpochKeys::new(suite, epoch, &tk, providers[0]).expect("keys"),
            EpochKeys::new(suite, epoch, &tk, last).expect("keys"),
        )
    }

    fn one(datagram: &[u8]) -> CiphertextRecord<'_> {
        let recs: Vec<_> = parse_datagram(datagram).collect();
        assert_eq!(recs.len(), 1);
        match recs[0] {
            Ok(Record::Ciphertext(c)) => c,
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn seal_open_every_suite_and_form() {
        for suite in Suite13::ALL {
            for form in [
                HeaderForm::FULL,
                HeaderForm {
                    long_sequence: false,
                    length: true,
                },
                HeaderForm {
                    long_sequence: true,
                    length: false,
                },
                HeaderForm {
                    long_sequence: false,
                    length: false,
                },
            ] {
                let (tx, rx) = keys(suite, EPOCH_APPLICATION, 1);
                let mut send = SendEpoch::new(tx);
                let mut recv = RecvEpoch::new(rx, 64);
                for i in 0..300u32 {
                    let msg = i.to_be_bytes().repeat(i as usize % 7);
                    let mut d = Vec::new();
                    let seq = send.seal(CT_APPLICATION_DATA, &msg, form, &mut d);
                    assert_eq!(seq, Some(u64::from(i)));
                    let rec = one(&d);
                    assert_eq!(rec.header[0] & 0b11, 3);
                    let opened = recv.open(&rec).expect("opens");
                    assert_eq!(opened.sequence, u64::from(i), "{suite:?} {form:?}");
                    assert_eq!(opened.content_type, CT_APPLICATION_DATA);
                    assert_eq!(opened.content, msg);
                    // A replay is dropped.
                    assert_eq!(recv.open(&rec), Err(Rejected::Replay));
                }
            }
        }
    }

    #[test]
    fn record_number_is_encrypted_and_aad_covers_header() {
        let (tx, rx) = keys(Suite13::Aes128GcmSha256, EPOCH_HANDSHAKE, 2);
        let mut d = Vec::new();
        tx.seal(0x1234, CT_HANDSHAKE, b"hello", 0, HeaderForm::FULL, &mut d);
        assert_eq!(d[0], 0b0010_1110);
        let mask = tx.mask(&d[5..]).expect("mask");
        assert_eq!([d[1] ^ mask[0], d[2] ^ mask[1]], [0x12, 0x34]);
        assert_eq!(u16::from_be_bytes([d[3], d[4]]) as usize, d.len() - 5);
        let mut recv = RecvEpoch::new(rx, 64);
        // Flipping any bit anywhere fails authentication (or the framing).
        for i in 0..d.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = d.clone();
                t[i] ^= bit;
                let ok = parse_datagram(&t)
                    .next()
                    .and_then(|r| r.ok())
                    .and_then(|r| match r {
                        Record::Ciphertext(c) => recv.open(&c).ok(),
                        Record::Plaintext(_) => None,
                    });
                assert_eq!(ok, None, "byte {i} bit {bit:#x}");
            }
        }
        let opened = recv.open(&one(&d)).expect("original opens");
        assert_eq!(
            (opened.sequence, opened.content.as_slice()),
            (0x1234, &b"hello"[..])
        );
        assert!(recv.failures() > 0);
    }

    #[test]
    fn padding_and_empty_inner_plaintext() {
        let (tx, rx) = keys(Suite13::Chacha20Poly1305Sha256, 2, 3);
        let mut recv = RecvEpoch::new(rx, 64);
        let mut d = Vec::new();
        tx.seal(0, CT_ACK, b"ab\0\0", 40, HeaderForm::FULL, &mut d);
        let o = recv.open(&one(&d)).expect("padded");
        assert_eq!(
            (o.content_type, o.content.as_slice()),
            (CT_ACK, &b"ab\0\0"[..])
        );
        // All zeros inside: no content type.
        let mut d = Vec::new();
        tx.seal(1, 0, b"", 3, HeaderForm::FULL, &mut d);
        assert_eq!(recv.open(&one(&d)), Err(Rejected::Malformed));
    }

    #[test]
    fn wrong_epoch_or_keys_drop() {
        let (tx, _) = keys(Suite13::Aes256GcmSha384, 2, 4);
        let (_, rx3) = keys(Suite13::Aes256GcmSha384, 3, 4);
        let (_, rx_other) = keys(Suite13::Aes256GcmSha384, 2, 5);
        let mut d = Vec::new();
        tx.seal(0, CT_HANDSHAKE, b"x", 0, HeaderForm::FULL, &mut d);
        assert_eq!(
            RecvEpoch::new(rx3, 64).open(&one(&d)),
            Err(Rejected::WrongEpoch)
        );
        let mut other = RecvEpoch::new(rx_other, 64);
        assert_eq!(other.open(&one(&d)), Err(Rejected::BadRecordMac));
        assert_eq!(other.failures(), 1);
    }

    #[test]
    fn epochs_by_low_bits_and_key_update() {
        let suite = Suite13::Aes128GcmSha256;
        let mut epochs = RecvEpochs::new();
        for e in [2, 3] {
            epochs.install(RecvEpoch::new(keys(suite, e, e as u8).1, 64));
        }
        let mut d = Vec::new();
        let (tx2, _) = keys(suite, 2, 2);
        let (tx3, _) = keys(suite, 3, 3);
        tx3.seal(
            5,
            CT_APPLICATION_DATA,
            b"three",
            0,
            HeaderForm::FULL,
            &mut d,
        );
        tx2.seal(9, CT_HANDSHAKE, b"two", 0, HeaderForm::FULL, &mut d);
        let recs: Vec<_> = parse_datagram(&d).map(|r| r.expect("framed")).collect();
        let mut got = Vec::new();
        for r in &recs {
            let Record::Ciphertext(c) = r else { panic!() };
            let (e, o) = epochs.open(c).expect("opens");
            got.push((e, o.sequence, o.content));
        }
        assert_eq!(got, [(3, 5, b"three".to_vec()), (2, 9, b"two".to_vec())]);
        // Epoch 7 (a key update of 3) takes the slot of 3.
        epochs.install(RecvEpoch::new(keys(suite, 7, 7).1, 64));
        assert!(epochs.get(3).is_none() && epochs.get(7).is_some());
        let Record::Ciphertext(c) = recs[0] else {
            panic!()
        };
        assert_eq!(epochs.open(&c).map(|x| x.0), Err(Rejected::BadRecordMac));
        epochs.remove(2);
        let Record::Ciphertext(c) = recs[1] else {
            panic!()
        };
        assert_eq!(epochs.open(&c).map(|x| x.0), Err(Rejected::WrongEpoch));
    }

    #[test]
    fn sequence_reconstruction() {
        assert_eq!(reconstruct_sequence(0, 0, 8), 0);
        assert_eq!(reconstruct_sequence(0x100, 0xff, 8), 0xff);
        assert_eq!(reconstruct_sequence(0x1fe, 0x02, 8), 0x202);
        assert_eq!(reconstruct_sequence(0x12345, 0x2346, 16), 0x12346);
        assert_eq!(reconstruct_sequence(0x1ffff, 0x0001, 16), 0x20001);
        assert_eq!(reconstruct_sequence(0x20001, 0xffff, 16), 0x1ffff);
        // RFC 9000 A.3's example.
        assert_eq!(reconstruct_sequence(0xa82f30eb, 0x9b32, 16), 0xa82f9b32);
    }

    #[test]
    fn long_runs_cross_the_truncation_with_reordering_and_loss() {
        let suite = Suite13::Aes128GcmSha256;
        for form in [
            HeaderForm::FULL,
            HeaderForm {
                long_sequence: false,
                length: true,
            },
        ] {
            let (tx, rx) = keys(suite, 3, 9);
            let mut send = SendEpoch::new(tx);
            let mut recv = RecvEpoch::new(rx, 64);
            let mut held: Option<Vec<u8>> = None;
            let mut accepted = 0;
            for i in 0..1000u64 {
                let mut d = Vec::new();
                send.seal(CT_APPLICATION_DATA, &i.to_be_bytes(), form, &mut d);
                if i % 10 == 3 {
                    continue; // lost
                }
                if i % 10 == 5 {
                    held = Some(d); // delivered after the next one
                    continue;
                }
                let o = recv.open(&one(&d)).expect("opens");
                assert_eq!(o.sequence, i);
                accepted += 1;
                if let Some(h) = held.take() {
                    let o = recv.open(&one(&h)).expect("late one opens");
                    assert_eq!(o.sequence, i - 1);
                    accepted += 1;
                }
            }
            assert_eq!(accepted, 900);
        }
    }

    #[test]
    fn plaintext_records_and_demultiplexing() {
        let mut d = Vec::new();
        write_plaintext(CT_HANDSHAKE, 7, b"ch", &mut d);
        write_plaintext(CT_ACK, 8, &[0, 0], &mut d);
        let recs: Vec<_> = parse_datagram(&d).collect();
        assert_eq!(
            recs,
            [
                Ok(Record::Plaintext(PlaintextRecord {
                    content_type: CT_HANDSHAKE,
                    version: LEGACY_VERSION,
                    epoch: 0,
                    sequence: 7,
                    fragment: b"ch",
                })),
                Ok(Record::Plaintext(PlaintextRecord {
                    content_type: CT_ACK,
                    version: LEGACY_VERSION,
                    epoch: 0,
                    sequence: 8,
                    fragment: &[0, 0],
                })),
            ]
        );
        // application_data (23) in plaintext, a CID header, and a bad version end the datagram.
        for bad in [
            &[23u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
            &[0b0011_1100, 0, 0, 0, 0][..],
            &[22, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
            &[0b0010_1100, 0, 0, 0, 5, 1][..],
        ] {
            let mut d2 = bad.to_vec();
            d2.extend_from_slice(&d);
            let recs: Vec<_> = parse_datagram(if bad.len() == 6 { bad } else { &d2 }).collect();
            assert_eq!(recs.len(), 1);
            assert!(recs[0].is_err(), "{bad:?}");
        }
        // Too short to sample: dropped as a failed authentication.
        let (_, rx) = keys(Suite13::Aes128GcmSha256, 2, 1);
        let mut recv = RecvEpoch::new(rx, 64);
        let short = [0b0010_1010u8, 0, 1, 2, 3];
        assert_eq!(recv.open(&one(&short)), Err(Rejected::BadRecordMac));
    }

    #[test]
    fn confidentiality_limit_stops_sealing() {
        let (tx, _) = keys(Suite13::Aes128GcmSha256, 3, 1);
        let mut send = SendEpoch {
            keys: tx,
            next: AES_GCM_CONFIDENTIALITY_LIMIT - 1,
        };
        let mut d = Vec::new();
        assert!(
            send.seal(CT_APPLICATION_DATA, b"x", HeaderForm::FULL, &mut d)
                .is_some()
        );
        assert!(send.exhausted());
        let len = d.len();
        assert_eq!(
            send.seal(CT_APPLICATION_DATA, b"x", HeaderForm::FULL, &mut d),
            None
        );
        assert_eq!(d.len(), len);
        let (tx, _) = keys(Suite13::Chacha20Poly1305Sha256, 3, 1);
        let send = SendEpoch {
            keys: tx,
            next: AES_GCM_CONFIDENTIALITY_LIMIT,
        };
        assert!(!send.exhausted());
    }
}
