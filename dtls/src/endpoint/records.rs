//! The record layer of one endpoint (RFC 6347 4.1): the epoch we write in, a sequence number per
//! epoch, the epoch-1 ciphers once the keys are derived, and the anti-replay window of epoch 1
//! (64 records, checked before a record is decrypted, accepted only once it authenticated).
//! Epoch 0 (plaintext) has no replay window: handshake duplicates are caught by message_seq.

use sansrtc_core::{ReplayWindow, WindowCheck};

use crate::cipher::RecordCipher;
use crate::error::DtlsError;
use crate::record::{self, ContentType, DTLS_1_2, RecordHeader};

/// Records in the epoch-1 anti-replay window (RFC 6347 4.1.2.6: 64 at least).
pub(super) const REPLAY_WINDOW: usize = 64;

/// Why a protected record was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// No read keys yet.
    NoKeys,
    /// Its sequence number was already accepted, or is below the window.
    Replayed,
    /// It failed authentication.
    BadMac,
    /// It opened to more than 2^14 bytes.
    Oversized,
}

/// Sequence numbers, ciphers and the replay window.
#[derive(Debug, Clone)]
pub(super) struct RecordLayer {
    write_epoch: u16,
    write_seq: [u64; 2],
    /// Boxed, as `read_cipher`: a connection that negotiated DTLS 1.3 never installs them, and
    /// inline they would cost it over 1 KB.
    write_cipher: Option<Box<RecordCipher>>,
    read_cipher: Option<Box<RecordCipher>>,
    replay: ReplayWindow,
}

impl RecordLayer {
    pub(super) fn new() -> Self {
        Self {
            write_epoch: 0,
            write_seq: [0; 2],
            write_cipher: None,
            read_cipher: None,
            replay: ReplayWindow::new(REPLAY_WINDOW),
        }
    }

    /// The epoch our next handshake or alert record goes out in.
    pub(super) fn write_epoch(&self) -> u16 {
        self.write_epoch
    }

    /// Our ChangeCipherSpec went out: handshake and alert records are protected from now on.
    pub(super) fn change_write_epoch(&mut self) {
        self.write_epoch = 1;
    }

    /// The epoch-1 ciphers, once the keys are derived.
    pub(super) fn install(&mut self, write: RecordCipher, read: RecordCipher) {
        self.write_cipher = Some(Box::new(write));
        self.read_cipher = Some(Box::new(read));
    }

    /// Whether protected records can be opened.
    pub(super) fn has_read_keys(&self) -> bool {
        self.read_cipher.is_some()
    }

    /// Bytes a record of `epoch` adds to its payload beyond the header.
    pub(super) fn overhead(&self, epoch: u16) -> usize {
        match (epoch, &self.write_cipher) {
            (1, Some(c)) => c.overhead(),
            _ => 0,
        }
    }

    /// Continues plaintext records from `next` at least (the server after a HelloVerifyRequest
    /// that reused the client's record number).
    pub(super) fn skip_plaintext_to(&mut self, next: u64) {
        self.write_seq[0] = self.write_seq[0].max(next);
    }

    /// Appends one record of `payload` in `epoch` to `out`: protected in epoch 1 once the keys
    /// exist, plaintext otherwise. Its length is `HEADER_LEN + payload.len() + overhead(epoch)`.
    pub(super) fn seal(
        &mut self,
        epoch: u16,
        content_type: ContentType,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) {
        let e = usize::from(epoch.min(1));
        let header = RecordHeader {
            content_type,
            version: DTLS_1_2,
            epoch,
            sequence: self.write_seq[e],
        };
        self.write_seq[e] += 1;
        out.reserve(record::HEADER_LEN + payload.len() + self.overhead(epoch));
        match (&self.write_cipher, epoch) {
            (Some(c), 1) => c.seal(&header, payload, out),
            _ => {
                header.write(payload.len(), out);
                out.extend_from_slice(payload);
            }
        }
    }

    /// Appends one protected application-data record to `out`.
    pub(super) fn seal_application(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DtlsError> {
        if self.write_cipher.is_none() {
            return Err(DtlsError::NotConnected);
        }
        self.seal(1, ContentType::ApplicationData, data, out);
        Ok(())
    }

    /// Opens an epoch-1 record into `out` (its contents replaced by the plaintext). The replay
    /// window is checked first and the record's number accepted only once it authenticated and
    /// is within the size limit, so a forged record cannot burn the number of a real one.
    pub(super) fn open(
        &mut self,
        header: &RecordHeader,
        fragment: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Refused> {
        let Some(cipher) = &self.read_cipher else {
            return Err(Refused::NoKeys);
        };
        if self.replay.check(header.sequence) != WindowCheck::New {
            return Err(Refused::Replayed);
        }
        cipher
            .open_into(header, fragment, out)
            .map_err(|_| Refused::BadMac)?;
        if out.len() > record::MAX_PLAINTEXT {
            return Err(Refused::Oversized);
        }
        self.replay.accept(header.sequence);
        Ok(())
    }

    /// The next sequence number of `epoch` (tests; the DTLS 1.3 client continues epoch 0).
    pub(super) fn next_sequence(&self, epoch: u16) -> u64 {
        self.write_seq[usize::from(epoch.min(1))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cipher::Bulk;
    use crate::record::parse_datagram;

    /// Two record layers with each other's keys (AES-128-GCM).
    fn pair() -> (RecordLayer, RecordLayer) {
        let c = |k: u8, iv: u8| {
            let crypto = sansrtc_core::crypto::default_provider();
            RecordCipher::new(crypto, Bulk::Aes128Gcm, &[k; 16], &[iv; 4]).unwrap()
        };
        let (mut a, mut b) = (RecordLayer::new(), RecordLayer::new());
        a.install(c(1, 2), c(3, 4));
        b.install(c(3, 4), c(1, 2));
        (a, b)
    }

    fn sealed(from: &mut RecordLayer, data: &[u8]) -> (RecordHeader, Vec<u8>) {
        let mut d = Vec::new();
        from.seal_application(data, &mut d).unwrap();
        let rec = parse_datagram(&d).next().unwrap().unwrap();
        (rec.header, rec.fragment.to_vec())
    }

    #[test]
    fn sequence_numbers_count_per_epoch() {
        let (mut a, _) = pair();
        let mut out = Vec::new();
        a.seal(0, ContentType::Handshake, b"hello", &mut out);
        a.seal(0, ContentType::Handshake, b"again", &mut out);
        a.change_write_epoch();
        a.seal(1, ContentType::Handshake, b"finished", &mut out);
        let recs: Vec<_> = parse_datagram(&out).map(Result::unwrap).collect();
        let seqs: Vec<_> = recs
            .iter()
            .map(|r| (r.header.epoch, r.header.sequence))
            .collect();
        assert_eq!(seqs, [(0, 0), (0, 1), (1, 0)]);
        assert_eq!(recs[0].fragment, b"hello", "plaintext in epoch 0");
        assert_eq!(
            recs[2].fragment.len(),
            8 + a.overhead(1),
            "protected in epoch 1"
        );
        assert_eq!(a.next_sequence(1), 1);
        a.skip_plaintext_to(10);
        assert_eq!(a.next_sequence(0), 10);
        a.skip_plaintext_to(3);
        assert_eq!(a.next_sequence(0), 10, "never goes back");
    }

    #[test]
    fn replays_are_checked_before_decryption_and_marked_after_authentication() {
        let (mut a, mut b) = pair();
        let (h, frag) = sealed(&mut a, b"one");
        let mut out = Vec::new();
        // A forged record with the real one's number fails authentication and does not burn it.
        let mut forged = frag.clone();
        *forged.last_mut().unwrap() ^= 1;
        assert_eq!(b.open(&h, &forged, &mut out), Err(Refused::BadMac));
        assert!(out.is_empty());
        b.open(&h, &frag, &mut out).unwrap();
        assert_eq!(out, b"one");
        assert_eq!(b.open(&h, &frag, &mut out), Err(Refused::Replayed));
        // 64 records later the first is below the window; the ones within it are still known.
        let later: Vec<_> = (0..64).map(|_| sealed(&mut a, b"x")).collect();
        for (h, f) in &later[..63] {
            b.open(h, f, &mut out).unwrap();
        }
        let (h63, f63) = &later[63];
        b.open(h63, f63, &mut out).unwrap();
        assert_eq!(b.open(&h, &frag, &mut out), Err(Refused::Replayed));
        let (h1, f1) = &later[0];
        assert_eq!(b.open(h1, f1, &mut out), Err(Refused::Replayed));
        // Out of order within the window: accepted once.
        let (h_a, f_a) = sealed(&mut a, b"a");
        let (h_b, f_b) = sealed(&mut a, b"b");
        b.open(&h_b, &f_b, &mut out).unwrap();
        b.open(&h_a, &f_a, &mut out).unwrap();
        assert_eq!(out, b"a");
        assert_eq!(b.open(&h_a, &f_a, &mut out), Err(Refused::Replayed));
    }

    #[test]
    fn without_keys_nothing_opens_or_seals() {
        let mut r = RecordLayer::new();
        assert!(!r.has_read_keys());
        let h = RecordHeader {
            content_type: ContentType::ApplicationData,
            version: DTLS_1_2,
            epoch: 1,
            sequence: 0,
        };
        assert_eq!(r.open(&h, &[0; 40], &mut Vec::new()), Err(Refused::NoKeys));
        assert_eq!(
            r.seal_application(b"x", &mut Vec::new()),
            Err(DtlsError::NotConnected)
        );
    }

    #[test]
    fn oversized_plaintext_is_refused_and_not_marked() {
        let (mut a, mut b) = pair();
        let (h, frag) = sealed(&mut a, &[0; record::MAX_PLAINTEXT + 1]);
        let mut out = Vec::new();
        assert_eq!(b.open(&h, &frag, &mut out), Err(Refused::Oversized));
        assert_eq!(b.open(&h, &frag, &mut out), Err(Refused::Oversized));
    }
}
