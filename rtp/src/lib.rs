//! RTP and RTCP for sansrtc: zero-copy packet views, builders that write into caller buffers,
//! RFC 8285 header extensions with typed WebRTC values, every RTCP packet a WebRTC endpoint meets,
//! the receive-side helpers (sequence unwrapping, NTP/RTP time, loss and jitter) the rest of the
//! stack needs, the payload formats (packetizers and depacketizers for Opus, VP8, VP9, H.264,
//! H.265 and AV1), the AV1 dependency descriptor header extension, and send-side bandwidth
//! estimation with a pacer and a link simulator ([`bwe`]).
//!
//! Parsing never panics and never allocates from an untrusted length: every function here returns
//! a typed error for any malformed input.

mod bits;
pub mod builder;
pub mod bwe;
pub mod dependency_descriptor;
pub mod error;
pub mod extension;
pub mod packet;
pub mod packetize;
pub mod rtcp;
pub mod seq;
pub mod stats;
pub mod time;

pub use builder::RtpPacketBuilder;
pub use error::{RtcpError, RtpError};
pub use extension::{ExtensionKind, ExtensionMap, Extensions};
pub use packet::{RtpPacket, header_len};

/// Appends `len` bytes written by `write` to `out`; on error `out` is left as it was.
pub(crate) fn append_with<E>(
    out: &mut Vec<u8>,
    len: usize,
    write: impl FnOnce(&mut [u8]) -> Result<usize, E>,
) -> Result<usize, E> {
    let start = out.len();
    out.resize(start + len, 0);
    let result = write(&mut out[start..]);
    if result.is_err() {
        out.truncate(start);
    }
    result
}
