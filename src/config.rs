//! Settings of a peer connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sansrtc_dtls as dtls;
use sansrtc_sdp::Setup;

use crate::relay::TurnServer;
use crate::rng::PcRng;
#[cfg(doc)]
use crate::{Event, PeerConnection};

/// Settings of a [`PeerConnection`]: start from the defaults and change what you need.
///
/// ```
/// use std::time::Duration;
///
/// let mut config = sansrtc::Config::default();
/// config.stun_servers = vec!["127.0.0.1:3478".parse().unwrap()];
/// config.answer_unauthenticated_stun = false; // a server on the internet: reflect nothing
/// config.rtcp_interval = Duration::from_millis(500);
/// let pc = sansrtc::PeerConnection::new(config).unwrap();
/// # let _ = pc;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The DTLS certificate; `None` generates a fresh one for this connection.
    pub certificate: Option<Arc<dtls::Certificate>>,
    /// Offer an SCTP data channel section (default true).
    pub data_channels: bool,
    /// Role to take when answering an `actpass` offer (default [`Setup::Active`]).
    pub answer_setup: Setup,
    /// Randomness (default the operating system's).
    pub rng: PcRng,
    /// STUN servers for server-reflexive candidates.
    pub stun_servers: Vec<SocketAddr>,
    /// Largest data channel message we accept (default 256 KiB).
    pub max_message_size: usize,
    /// Data channel bytes queued or sent and not yet acknowledged, over all channels, at most
    /// (default 16 MiB, like Chromium's `bufferedAmount` limit): past it `send_data` fails with
    /// [`crate::sctp::SendError::BufferFull`], so a peer that never acknowledges cannot grow our
    /// memory. Raised to one `max_message_size` message if smaller.
    pub max_buffered_amount: usize,
    /// How often RTCP receiver/sender reports are sent while media flows (default 1 s).
    pub rtcp_interval: Duration,
    /// SRTP profiles offered or accepted in DTLS `use_srtp`, in preference order (default all
    /// four, in the dtls crate's order: AES-128-GCM, AES-CM-80, AES-256-GCM, AES-CM-32).
    pub srtp_profiles: Vec<dtls::SrtpProfile>,
    /// DTLS cipher suites in preference order (default every suite the dtls crate has).
    pub cipher_suites: Vec<dtls::CipherSuite>,
    /// DTLS versions offered and accepted (default `Dtls13Or12`: DTLS 1.3, which Chromium and
    /// Firefox negotiate, with DTLS 1.2 as the fallback; `Dtls12` pins 1.2; see the dtls crate's
    /// STATUS.md).
    pub dtls_versions: dtls::endpoint::Versions,
    /// DTLS 1.3 only: records sealed under one sending key after which our side updates its
    /// keys with a KeyUpdate (RFC 9147 8), asking the peer to update its own. `None` (the
    /// default): the dtls crate's automatic point, 7/8 of the key's usage limit (about 7.3
    /// million records with AES-GCM), so an ordinary connection rarely updates; smaller
    /// values update more often (see the dtls crate's `Config::key_update_after`). Updates can
    /// also be asked for at any time: [`PeerConnection::update_dtls_keys`]. Ignored for DTLS 1.2.
    pub dtls_key_update_after: Option<u64>,
    /// DTLS 1.3 only: the key exchange groups offered (as DTLS client) and accepted (as DTLS
    /// server), in preference order; default [`dtls::NamedGroup::DTLS13`] (X25519MLKEM768, X25519,
    /// P-256). Passed to the dtls crate's `Config::groups13` (see it for which key share the
    /// first ClientHello carries); the group negotiated is reported as
    /// [`TransportStats::dtls_group`](crate::stats::TransportStats::dtls_group). An empty list
    /// fails a DTLS 1.3 handshake. Ignored for DTLS 1.2, which keeps its own groups.
    pub dtls_groups13: Vec<dtls::NamedGroup>,
    /// TURN servers (UDP) for relayed candidates.
    pub turn_servers: Vec<TurnServer>,
    /// Which candidates to use (default all; `Relay` keeps our addresses private).
    pub ice_transport_policy: IceTransportPolicy,
    /// Packets kept per sending SSRC (of sections that negotiated `nack`) to answer the peer's
    /// NACKs by sending them again, as RTX when negotiated (default 512; 0: NACKs only arrive
    /// as [`Event::Nack`]). Buffers are reused, so the history allocates only while filling.
    pub retransmission_history: usize,
    /// Answer STUN requests that fail ICE authentication with a 400/401 error, as RFC 8445
    /// 7.3 describes (default `true`). `false` drops them silently (counted in the ICE stats),
    /// so a spoofed request reflects nothing: the choice for servers on the internet.
    pub answer_unauthenticated_stun: bool,
    /// Ask for lost packets of received streams whose section negotiated `nack` (NACK after a
    /// short reordering wait, again every round trip, up to 10 times; a gap too large for
    /// NACKs sends a PLI when `nack pli` is negotiated). Default true.
    pub nack_requests: bool,
    /// The send bitrate estimated before any feedback (bits per second, default 300 kbit/s as
    /// browsers): see [`PeerConnection::bandwidth_estimate`].
    pub start_bitrate: u64,
    /// The bandwidth estimate never goes below this (bits per second, default 30 kbit/s; at
    /// least 1 and at most `max_bitrate`, else [`PeerConnection::new`] fails).
    pub min_bitrate: u64,
    /// The bandwidth estimate never goes above this (bits per second, default 10 Mbit/s).
    pub max_bitrate: u64,
    /// Pace what [`PeerConnection::write_rtp`] sends (default false): packets wait in a queue
    /// and leave at 2.5 times the bandwidth estimate, audio before video, in bursts of at most
    /// 5 ms ([`crate::rtp::bwe::Pacer`]), so a video frame does not hit the bottleneck at once;
    /// [`PeerConnection::poll_timeout`] says when the next one may leave. Only once a bandwidth
    /// estimate exists (congestion control negotiated); retransmissions, RTCP and
    /// [`PeerConnection::send_rtp`] are not paced. A full queue (1 MiB or 2048 packets) refuses
    /// video with [`crate::MediaError::PacerFull`].
    pub pacing: bool,
    /// Probe the path for more bandwidth (default false): once a bandwidth estimate exists,
    /// probe clusters of padding-only RTX packets (RFC 4588, each carrying a transport-wide
    /// sequence number) leave at a rate above the estimate, at the start and whenever the
    /// estimate may grow (after a drop, after a probe that reached its rate), and the peer's
    /// feedback on them lifts the estimate in a second rather than the tens of seconds of
    /// additive increase. Needs RTX negotiated on a section we send on, and a stream that sent
    /// media. What a forwarding server wants, whose streams' rates it does not choose; the
    /// padding costs bandwidth (a probe is ~15 ms at up to twice the estimate).
    pub probing: bool,
    /// Offer SCTP zero checksum on data channels (RFC 9653, error detection by DTLS; default
    /// true): when the peer offers it too (Chromium does), the CRC32c over every SCTP packet is
    /// skipped both ways; DTLS's AEAD already authenticates every byte. Packets with a nonzero
    /// checksum are still verified.
    pub sctp_zero_checksum: bool,
}

/// Which local candidates ICE uses (W3C `iceTransportPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IceTransportPolicy {
    /// Host, server-reflexive and relayed candidates.
    #[default]
    All,
    /// Only relayed candidates: the peer never learns our addresses.
    Relay,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            certificate: None,
            data_channels: true,
            answer_setup: Setup::Active,
            rng: PcRng::System,
            stun_servers: Vec::new(),
            max_message_size: 256 * 1024,
            max_buffered_amount: 16 << 20,
            rtcp_interval: Duration::from_secs(1),
            srtp_profiles: dtls::SrtpProfile::ALL.to_vec(),
            cipher_suites: dtls::CipherSuite::ALL.to_vec(),
            dtls_versions: dtls::endpoint::Versions::Dtls13Or12,
            dtls_key_update_after: None,
            dtls_groups13: dtls::NamedGroup::DTLS13.to_vec(),
            turn_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            retransmission_history: 512,
            nack_requests: true,
            answer_unauthenticated_stun: true,
            start_bitrate: 300_000,
            min_bitrate: 30_000,
            max_bitrate: 10_000_000,
            pacing: false,
            probing: false,
            sctp_zero_checksum: true,
        }
    }
}
