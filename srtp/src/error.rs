//! Typed errors for keying and for protecting or unprotecting packets.

use thiserror::Error;

/// Why a packet could not be protected or unprotected. Every error leaves the context unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The packet is shorter than its header, or than header plus trailer.
    #[error("truncated packet: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes needed up to the part being read.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The RTP or RTCP header is malformed (version not 2, header extension past the end).
    #[error("malformed header: {0}")]
    Malformed(&'static str),
    /// The authentication tag does not match: wrong key, corrupted or forged packet, or a wrong
    /// rollover-counter guess.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// This packet index was already received.
    #[error("replayed packet index {index}")]
    Replayed {
        /// The packet index (48-bit for SRTP, 31-bit for SRTCP).
        index: u64,
    },
    /// The packet index is older than the replay window reaches.
    #[error("packet index {index} is older than the replay window (highest {highest})")]
    TooOld {
        /// The packet index.
        index: u64,
        /// The highest index received so far.
        highest: u64,
    },
    /// The SSRC has no state and the configuration does not accept new SSRCs.
    #[error("unknown SSRC {0:#010x}")]
    UnknownSsrc(u32),
    /// A new SSRC would exceed [`Config::max_ssrcs`](crate::Config::max_ssrcs).
    #[error("too many SSRCs (limit {limit})")]
    TooManySsrcs {
        /// The configured limit.
        limit: usize,
    },
    /// The packet index space of this SSRC is used up (2^48 SRTP or 2^31 SRTCP packets): rekey.
    #[error("packet index exhausted for SSRC {ssrc:#010x}")]
    IndexExhausted {
        /// The SSRC whose index ran out.
        ssrc: u32,
    },
    /// The buffer has no room for the tag and trailer protection appends.
    #[error("buffer too small: {needed} bytes needed, {available} available")]
    BufferTooSmall {
        /// Bytes the protected packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
}

/// Why a context could not be created from the given keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A key, salt or keying material has the wrong length for the profile.
    #[error("{what} is {actual} bytes, the profile needs {expected}")]
    WrongLength {
        /// Which input: "master key", "master salt" or "keying material".
        what: &'static str,
        /// Length the profile needs.
        expected: usize,
        /// Length given.
        actual: usize,
    },
}
