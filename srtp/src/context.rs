//! The SRTP context: session keys of one direction plus the per-SSRC state (rollover counters,
//! SRTCP indices, replay windows), and the in-place protect and unprotect operations.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use sansrtc_rtp::RtpError;

use crate::buffer::PacketBuffer;
use crate::cipher::Transform;
use crate::error::{Error, KeyError};
use crate::profile::{Profile, ProfileExt};
use crate::roc;
use sansrtc_core::crypto::CryptoProvider;
use sansrtc_core::{DtlsRole, ReplayWindow, WindowCheck};

/// Highest SRTCP index (31 bits).
const MAX_RTCP_INDEX: u32 = 0x7fff_ffff;
/// Size of the fixed RTP header.
const RTP_HEADER: usize = 12;
/// Size of the RTCP header SRTCP leaves in the clear (header word and sender SSRC).
const RTCP_HEADER: usize = 8;

/// Limits and options of a [`Context`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Most SSRCs the context keeps state for; a packet of one more is refused with
    /// [`Error::TooManySsrcs`]. Default 64.
    pub max_ssrcs: usize,
    /// SRTP replay window in packets, rounded up to a multiple of 64, at most 32768.
    /// Default 1024.
    pub replay_window: usize,
    /// SRTCP replay window in packets, rounded up to a multiple of 64, at most 32768.
    /// Default 1024.
    pub rtcp_replay_window: usize,
    /// Whether a packet of an SSRC the context has no state for creates it. When false, only
    /// SSRCs added with [`Context::add_ssrc`] are accepted. Default true.
    pub accept_new_ssrcs: bool,
    /// The crypto provider of the AES-GCM profiles. Default
    /// [`sansrtc_core::crypto::default_provider`] (ring unless another was installed).
    pub crypto: &'static dyn CryptoProvider,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_ssrcs: 64,
            replay_window: 1024,
            rtcp_replay_window: 1024,
            accept_new_ssrcs: true,
            crypto: sansrtc_core::crypto::default_provider(),
        }
    }
}

/// Counters of a [`Context`]: packets processed and errors by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// RTP packets protected.
    pub rtp_protected: u64,
    /// SRTP packets unprotected.
    pub rtp_unprotected: u64,
    /// RTCP packets protected.
    pub rtcp_protected: u64,
    /// SRTCP packets unprotected.
    pub rtcp_unprotected: u64,
    /// Packets too short, or buffers without room for the tag.
    pub truncated: u64,
    /// Packets with a malformed header.
    pub malformed: u64,
    /// Packets failing authentication.
    pub auth_failures: u64,
    /// Packets refused as replayed or older than the replay window.
    pub replays: u64,
    /// Packets of an SSRC not accepted ([`Config::accept_new_ssrcs`] false).
    pub unknown_ssrcs: u64,
    /// Packets refused because [`Config::max_ssrcs`] was reached.
    pub too_many_ssrcs: u64,
    /// Packets refused because the SSRC's packet index is exhausted.
    pub index_exhausted: u64,
}

impl Stats {
    fn record(&mut self, error: &Error) {
        let counter = match error {
            Error::Truncated { .. } | Error::BufferTooSmall { .. } => &mut self.truncated,
            Error::Malformed(_) => &mut self.malformed,
            Error::AuthenticationFailed => &mut self.auth_failures,
            Error::Replayed { .. } | Error::TooOld { .. } => &mut self.replays,
            Error::UnknownSsrc(_) => &mut self.unknown_ssrcs,
            Error::TooManySsrcs { .. } => &mut self.too_many_ssrcs,
            Error::IndexExhausted { .. } => &mut self.index_exhausted,
        };
        *counter += 1;
    }
}

/// The two contexts of a DTLS-SRTP association.
#[derive(Debug, Clone)]
pub struct SessionContexts {
    /// Protects what this endpoint sends.
    pub outbound: Context,
    /// Unprotects what the peer sends.
    pub inbound: Context,
}

/// Whether the replay window `window` lets `index` in; changes nothing.
#[inline]
fn replay_check(window: &ReplayWindow, index: u64) -> Result<(), Error> {
    match window.check(index) {
        WindowCheck::New => Ok(()),
        WindowCheck::Seen => Err(Error::Replayed { index }),
        WindowCheck::TooOld => Err(Error::TooOld {
            index,
            // A window says TooOld only once it accepted an index.
            highest: window.highest().unwrap_or(index),
        }),
    }
}

/// State of one SSRC.
#[derive(Debug, Clone)]
struct Stream {
    /// The rollover counter assumed before the first packet.
    initial_roc: u32,
    /// Highest SRTP index protected.
    tx_highest: Option<u64>,
    /// Received SRTP indices.
    rx: ReplayWindow,
    /// Next SRTCP index to send.
    rtcp_tx_index: u32,
    /// Received SRTCP indices.
    rtcp_rx: ReplayWindow,
}

impl Stream {
    fn new(config: &Config, initial_roc: u32) -> Self {
        Self {
            initial_roc,
            tx_highest: None,
            rx: ReplayWindow::new(config.replay_window),
            rtcp_tx_index: 0,
            rtcp_rx: ReplayWindow::new(config.rtcp_replay_window),
        }
    }

    #[inline]
    fn estimate(&self, highest: Option<u64>, seq: u16) -> Option<u64> {
        match highest {
            Some(highest) => roc::estimate(highest, seq),
            None => Some(u64::from(self.initial_roc) << 16 | u64::from(seq)),
        }
    }
}

/// A cheap hasher for SSRC keys; the map is bounded by [`Config::max_ssrcs`], so collisions a peer
/// provokes cost at most a scan of that many entries.
#[derive(Default, Clone)]
struct SsrcHasher(u64);

impl Hasher for SsrcHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

type Streams = HashMap<u32, Stream, BuildHasherDefault<SsrcHasher>>;

/// SRTP and SRTCP keys of one direction and the state of every SSRC seen in it.
#[derive(Clone)]
pub struct Context {
    profile: Profile,
    rtp: Transform,
    rtcp: Transform,
    config: Config,
    streams: Streams,
    stats: Stats,
}

impl core::fmt::Debug for Context {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Context")
            .field("profile", &self.profile)
            .field("ssrcs", &self.streams.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn check_len(what: &'static str, expected: usize, actual: usize) -> Result<(), KeyError> {
    if expected == actual {
        Ok(())
    } else {
        Err(KeyError::WrongLength {
            what,
            expected,
            actual,
        })
    }
}

fn rtp_error(e: RtpError) -> Error {
    match e {
        RtpError::Truncated { needed, available } => Error::Truncated { needed, available },
        RtpError::BadVersion(_) => Error::Malformed("RTP version is not 2"),
        _ => Error::Malformed("RTP header"),
    }
}

/// The stream of `ssrc`, created if the configuration allows.
fn stream_mut<'a>(
    streams: &'a mut Streams,
    config: &Config,
    ssrc: u32,
) -> Result<&'a mut Stream, Error> {
    let len = streams.len();
    match streams.entry(ssrc) {
        std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
        std::collections::hash_map::Entry::Vacant(e) => {
            if !config.accept_new_ssrcs {
                return Err(Error::UnknownSsrc(ssrc));
            }
            if len >= config.max_ssrcs {
                return Err(Error::TooManySsrcs {
                    limit: config.max_ssrcs,
                });
            }
            Ok(e.insert(Stream::new(config, 0)))
        }
    }
}

/// Checks, without changing anything, that a packet of a new `ssrc` could create its stream.
fn may_create(streams: &Streams, config: &Config, ssrc: u32) -> Result<(), Error> {
    if !config.accept_new_ssrcs {
        Err(Error::UnknownSsrc(ssrc))
    } else if streams.len() >= config.max_ssrcs {
        Err(Error::TooManySsrcs {
            limit: config.max_ssrcs,
        })
    } else {
        Ok(())
    }
}

/// Replaces the contents of `out` with `packet`, with room for `tailroom` more bytes.
fn copy_into(out: &mut Vec<u8>, packet: &[u8], tailroom: usize) {
    out.clear();
    out.reserve(packet.len() + tailroom);
    out.extend_from_slice(packet);
}

fn rtcp_header(packet: &[u8], min: usize) -> Result<u32, Error> {
    if packet.len() < min {
        return Err(Error::Truncated {
            needed: min,
            available: packet.len(),
        });
    }
    if packet[0] >> 6 != 2 {
        return Err(Error::Malformed("RTCP version is not 2"));
    }
    Ok(u32::from_be_bytes([
        packet[4], packet[5], packet[6], packet[7],
    ]))
}

impl Context {
    /// A context for `profile` from a master key and salt (RFC 3711 key derivation, rate 0).
    pub fn new(
        profile: Profile,
        master_key: &[u8],
        master_salt: &[u8],
        config: Config,
    ) -> Result<Self, KeyError> {
        check_len("master key", profile.key_len(), master_key.len())?;
        check_len("master salt", profile.salt_len(), master_salt.len())?;
        Ok(Self {
            profile,
            rtp: Transform::derive(profile, master_key, master_salt, false, config.crypto),
            rtcp: Transform::derive(profile, master_key, master_salt, true, config.crypto),
            config,
            streams: Streams::default(),
            stats: Stats::default(),
        })
    }

    /// The outbound and inbound contexts from the DTLS-SRTP exporter output (label
    /// `EXTRACTOR-dtls_srtp`, [`Profile::keying_material_len`] bytes): client key, server key,
    /// client salt, server salt (RFC 5764 section 4.2).
    pub fn from_dtls_keying_material(
        profile: Profile,
        material: &[u8],
        role: DtlsRole,
        config: Config,
    ) -> Result<SessionContexts, KeyError> {
        check_len(
            "keying material",
            profile.keying_material_len(),
            material.len(),
        )?;
        let (k, s) = (profile.key_len(), profile.salt_len());
        let client_key = &material[..k];
        let server_key = &material[k..2 * k];
        let client_salt = &material[2 * k..2 * k + s];
        let server_salt = &material[2 * k + s..];
        let client = Self::new(profile, client_key, client_salt, config.clone())?;
        let server = Self::new(profile, server_key, server_salt, config)?;
        Ok(match role {
            DtlsRole::Client => SessionContexts {
                outbound: client,
                inbound: server,
            },
            DtlsRole::Server => SessionContexts {
                outbound: server,
                inbound: client,
            },
        })
    }

    /// The protection profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Bytes protecting an RTP packet adds (the tag): the tailroom [`Context::protect_rtp`]
    /// needs to allocate nothing.
    pub fn rtp_overhead(&self) -> usize {
        self.profile.rtp_overhead()
    }

    /// Bytes protecting an RTCP packet adds (E flag, SRTCP index and tag): the tailroom
    /// [`Context::protect_rtcp`] needs to allocate nothing.
    pub fn rtcp_overhead(&self) -> usize {
        self.profile.rtcp_overhead()
    }

    /// Counters of packets processed and refused.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Number of SSRCs with state.
    pub fn ssrc_count(&self) -> usize {
        self.streams.len()
    }

    /// Creates the state of `ssrc` with a known rollover counter for its first packet (for a
    /// stream joined mid-way). Does nothing if the SSRC already has state.
    pub fn add_ssrc(&mut self, ssrc: u32, roc: u32) -> Result<(), Error> {
        if self.streams.contains_key(&ssrc) {
            return Ok(());
        }
        if self.streams.len() >= self.config.max_ssrcs {
            return Err(Error::TooManySsrcs {
                limit: self.config.max_ssrcs,
            });
        }
        self.streams.insert(ssrc, Stream::new(&self.config, roc));
        Ok(())
    }

    /// Forgets the state of `ssrc` (a stream that ended).
    pub fn remove_ssrc(&mut self, ssrc: u32) {
        self.streams.remove(&ssrc);
    }

    /// The current rollover counter of `ssrc`: of the highest packet index protected or
    /// received, or the initial one before any packet.
    pub fn roc(&self, ssrc: u32) -> Option<u32> {
        let s = self.streams.get(&ssrc)?;
        let highest = s.tx_highest.max(s.rx.highest());
        Some(highest.map_or(s.initial_roc, |h| (h >> 16) as u32))
    }

    fn finish<T>(
        &mut self,
        result: Result<T, Error>,
        ok: fn(&mut Stats) -> &mut u64,
    ) -> Result<T, Error> {
        match &result {
            Ok(_) => *ok(&mut self.stats) += 1,
            Err(e) => self.stats.record(e),
        }
        result
    }

    // ---- SRTP ----

    /// Protects the RTP packet in `packet` in place: encrypts the payload and appends the tag.
    /// Allocates nothing when the buffer has [`Profile::rtp_overhead`] bytes of spare capacity.
    pub fn protect_rtp<B: PacketBuffer + ?Sized>(&mut self, packet: &mut B) -> Result<(), Error> {
        let len = packet.bytes_mut().len();
        packet.set_len(len + self.profile.rtp_overhead());
        match self.protect_rtp_in(packet.bytes_mut(), len) {
            Ok(n) => {
                packet.set_len(n);
                Ok(())
            }
            Err(e) => {
                packet.set_len(len);
                Err(e)
            }
        }
    }

    /// Protects the RTP packet `buf[..len]` in place; `buf` must have room for the tag after it.
    /// Returns the SRTP packet's length.
    pub fn protect_rtp_in(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let r = self.protect_rtp_inner(buf, len);
        self.finish(r, |s| &mut s.rtp_protected)
    }

    #[inline]
    fn protect_rtp_inner(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let available = buf.len();
        let packet = buf.get(..len).ok_or(Error::Truncated {
            needed: len,
            available,
        })?;
        let header_len = sansrtc_rtp::header_len(packet).map_err(rtp_error)?;
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let needed = len + self.profile.rtp_overhead();
        if available < needed {
            return Err(Error::BufferTooSmall { needed, available });
        }
        let stream = stream_mut(&mut self.streams, &self.config, ssrc)?;
        let index = stream
            .estimate(stream.tx_highest, seq)
            .ok_or(Error::IndexExhausted { ssrc })?;
        stream.tx_highest = stream.tx_highest.max(Some(index));
        self.rtp
            .protect_rtp(&mut buf[..needed], header_len, len, ssrc, index)?;
        Ok(needed)
    }

    /// Unprotects the SRTP packet in `packet` in place and shortens it to the RTP packet; returns
    /// its length. On error the context is unchanged (the buffer's bytes may not be, for GCM).
    pub fn unprotect_rtp<B: PacketBuffer + ?Sized>(
        &mut self,
        packet: &mut B,
    ) -> Result<usize, Error> {
        let n = self.unprotect_rtp_in(packet.bytes_mut())?;
        packet.set_len(n);
        Ok(n)
    }

    /// Unprotects the SRTP packet `buf` in place; the RTP packet is `buf[..returned length]`.
    pub fn unprotect_rtp_in(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let r = self.unprotect_rtp_inner(buf);
        self.finish(r, |s| &mut s.rtp_unprotected)
    }

    #[inline]
    fn unprotect_rtp_inner(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let tag_len = self.profile.rtp_tag_len();
        let n = buf.len();
        if n < RTP_HEADER + tag_len {
            return Err(Error::Truncated {
                needed: RTP_HEADER + tag_len,
                available: n,
            });
        }
        let header_len = sansrtc_rtp::header_len(&buf[..n - tag_len]).map_err(rtp_error)?;
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let index = match self.streams.get(&ssrc) {
            Some(stream) => {
                let index = stream
                    .estimate(stream.rx.highest(), seq)
                    .ok_or(Error::IndexExhausted { ssrc })?;
                replay_check(&stream.rx, index)?;
                index
            }
            None => {
                may_create(&self.streams, &self.config, ssrc)?;
                u64::from(seq)
            }
        };
        let plain_len = self.rtp.unprotect_rtp(buf, header_len, ssrc, index)?;
        stream_mut(&mut self.streams, &self.config, ssrc)?
            .rx
            .accept(index);
        Ok(plain_len)
    }

    /// Protects the RTP packet `packet` into `out`, replacing its contents: `out` is reused, so
    /// nothing is allocated once its capacity holds the packet plus
    /// [`Context::rtp_overhead`]. On error `out` is left empty.
    pub fn protect_rtp_into(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        copy_into(out, packet, self.profile.rtp_overhead());
        self.protect_rtp(out).inspect_err(|_| out.clear())
    }

    /// Unprotects the SRTP packet `packet` into `out`, replacing its contents with the RTP
    /// packet (whose length is returned): `out` is reused, so nothing is allocated once its
    /// capacity holds the packet. For a packet in a buffer that may be changed, see
    /// [`Context::unprotect_rtp_in`]. On error `out` is left empty.
    pub fn unprotect_rtp_into(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<usize, Error> {
        copy_into(out, packet, 0);
        self.unprotect_rtp(out).inspect_err(|_| out.clear())
    }

    /// Protects an RTP packet into a new buffer (allocates; see [`Context::protect_rtp_into`]).
    pub fn protect_rtp_to_vec(&mut self, packet: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.protect_rtp_into(packet, &mut out)?;
        Ok(out)
    }

    /// Unprotects an SRTP packet into a new buffer (allocates; see
    /// [`Context::unprotect_rtp_into`]).
    pub fn unprotect_rtp_to_vec(&mut self, packet: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.unprotect_rtp_into(packet, &mut out)?;
        Ok(out)
    }

    // ---- SRTCP ----

    /// Protects the RTCP (compound) packet in `packet` in place: encrypts all but the first 8
    /// bytes and appends the E flag, SRTCP index and tag. Allocates nothing when the buffer has
    /// [`Profile::rtcp_overhead`] bytes of spare capacity.
    pub fn protect_rtcp<B: PacketBuffer + ?Sized>(&mut self, packet: &mut B) -> Result<(), Error> {
        let len = packet.bytes_mut().len();
        packet.set_len(len + self.profile.rtcp_overhead());
        match self.protect_rtcp_in(packet.bytes_mut(), len) {
            Ok(n) => {
                packet.set_len(n);
                Ok(())
            }
            Err(e) => {
                packet.set_len(len);
                Err(e)
            }
        }
    }

    /// Protects the RTCP packet `buf[..len]` in place; `buf` must have room for the trailer and
    /// tag after it. Returns the SRTCP packet's length.
    pub fn protect_rtcp_in(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let r = self.protect_rtcp_inner(buf, len);
        self.finish(r, |s| &mut s.rtcp_protected)
    }

    fn protect_rtcp_inner(&mut self, buf: &mut [u8], len: usize) -> Result<usize, Error> {
        let available = buf.len();
        let packet = buf.get(..len).ok_or(Error::Truncated {
            needed: len,
            available,
        })?;
        let ssrc = rtcp_header(packet, RTCP_HEADER)?;
        let needed = len + self.profile.rtcp_overhead();
        if available < needed {
            return Err(Error::BufferTooSmall { needed, available });
        }
        let stream = stream_mut(&mut self.streams, &self.config, ssrc)?;
        let index = stream.rtcp_tx_index;
        if index > MAX_RTCP_INDEX {
            return Err(Error::IndexExhausted { ssrc });
        }
        stream.rtcp_tx_index += 1;
        self.rtcp
            .protect_rtcp(&mut buf[..needed], len, ssrc, index)?;
        Ok(needed)
    }

    /// Unprotects the SRTCP packet in `packet` in place and shortens it to the RTCP packet;
    /// returns its length. On error the context is unchanged.
    pub fn unprotect_rtcp<B: PacketBuffer + ?Sized>(
        &mut self,
        packet: &mut B,
    ) -> Result<usize, Error> {
        let n = self.unprotect_rtcp_in(packet.bytes_mut())?;
        packet.set_len(n);
        Ok(n)
    }

    /// Unprotects the SRTCP packet `buf` in place; the RTCP packet is `buf[..returned length]`.
    pub fn unprotect_rtcp_in(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let r = self.unprotect_rtcp_inner(buf);
        self.finish(r, |s| &mut s.rtcp_unprotected)
    }

    fn unprotect_rtcp_inner(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let overhead = self.profile.rtcp_overhead();
        let ssrc = rtcp_header(buf, RTCP_HEADER + overhead)?;
        let n = buf.len();
        let at = if self.profile.is_aead() {
            n - 4
        } else {
            n - overhead
        };
        let trailer = u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        let index = trailer & MAX_RTCP_INDEX;
        let encrypted = trailer & !MAX_RTCP_INDEX != 0;
        match self.streams.get(&ssrc) {
            Some(stream) => replay_check(&stream.rtcp_rx, u64::from(index))?,
            None => may_create(&self.streams, &self.config, ssrc)?,
        }
        let plain_len = self.rtcp.unprotect_rtcp(buf, ssrc, index, encrypted)?;
        stream_mut(&mut self.streams, &self.config, ssrc)?
            .rtcp_rx
            .accept(u64::from(index));
        Ok(plain_len)
    }

    /// Protects the RTCP (compound) packet `packet` into `out`, replacing its contents: `out`
    /// is reused, so nothing is allocated once its capacity holds the packet plus
    /// [`Context::rtcp_overhead`]. On error `out` is left empty.
    pub fn protect_rtcp_into(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        copy_into(out, packet, self.profile.rtcp_overhead());
        self.protect_rtcp(out).inspect_err(|_| out.clear())
    }

    /// Unprotects the SRTCP packet `packet` into `out`, replacing its contents with the RTCP
    /// packet (whose length is returned): `out` is reused, so nothing is allocated once its
    /// capacity holds the packet. For a packet in a buffer that may be changed, see
    /// [`Context::unprotect_rtcp_in`]. On error `out` is left empty.
    pub fn unprotect_rtcp_into(
        &mut self,
        packet: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, Error> {
        copy_into(out, packet, 0);
        self.unprotect_rtcp(out).inspect_err(|_| out.clear())
    }

    /// Protects an RTCP packet into a new buffer (allocates; see
    /// [`Context::protect_rtcp_into`]).
    pub fn protect_rtcp_to_vec(&mut self, packet: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.protect_rtcp_into(packet, &mut out)?;
        Ok(out)
    }

    /// Unprotects an SRTCP packet into a new buffer (allocates; see
    /// [`Context::unprotect_rtcp_into`]).
    pub fn unprotect_rtcp_to_vec(&mut self, packet: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.unprotect_rtcp_into(packet, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtcp(ssrc: u32) -> Vec<u8> {
        // A receiver report without report blocks.
        let mut p = vec![0x80, 201, 0, 1];
        p.extend_from_slice(&ssrc.to_be_bytes());
        p
    }

    /// The SRTCP index is 31 bits (RFC 3711 3.4): the last one is used, then protect refuses.
    #[test]
    fn rtcp_index_exhaustion() {
        for profile in Profile::ALL {
            let key = vec![3; profile.key_len()];
            let salt = vec![5; profile.salt_len()];
            let mut tx = Context::new(profile, &key, &salt, Config::default()).unwrap();
            let mut rx = Context::new(profile, &key, &salt, Config::default()).unwrap();
            let first = tx.protect_rtcp_to_vec(&rtcp(9)).unwrap();
            assert_eq!(rx.unprotect_rtcp_to_vec(&first).unwrap(), rtcp(9));
            // Jump to the last index instead of sending 2^31 packets.
            tx.streams.get_mut(&9).unwrap().rtcp_tx_index = MAX_RTCP_INDEX;
            let last = tx.protect_rtcp_to_vec(&rtcp(9)).unwrap();
            let at = if profile.is_aead() {
                last.len() - 4
            } else {
                last.len() - profile.rtcp_overhead()
            };
            assert_eq!(
                last[at..at + 4],
                [0xFF; 4],
                "{profile:?}: E flag and index 2^31-1"
            );
            assert_eq!(rx.unprotect_rtcp_to_vec(&last).unwrap(), rtcp(9));

            let mut buf = rtcp(9);
            assert_eq!(
                tx.protect_rtcp(&mut buf),
                Err(Error::IndexExhausted { ssrc: 9 })
            );
            assert_eq!(buf, rtcp(9), "the packet is left as it was");
            assert_eq!(
                tx.protect_rtcp_to_vec(&rtcp(9)),
                Err(Error::IndexExhausted { ssrc: 9 })
            );
            assert_eq!(tx.stats().index_exhausted, 2);
            assert_eq!(tx.stats().rtcp_protected, 2);
            // Other SSRCs are unaffected, and a replay of the last index is still refused.
            assert!(tx.protect_rtcp_to_vec(&rtcp(10)).is_ok());
            assert_eq!(
                rx.unprotect_rtcp_to_vec(&last),
                Err(Error::Replayed {
                    index: u64::from(MAX_RTCP_INDEX)
                })
            );
        }
    }
}
