//! The media API's types: a received RTP packet with what it belongs to, what to send on a
//! track, and the feedback a peer asks for.

use std::ops::Range;
use std::sync::Arc;

use sansrtc_rtp::RtpPacket;
use sansrtc_sdp::Mid;

use crate::buffer::{PacketBuf, SharedPacket};

/// A decrypted RTP packet and the track it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpReceived {
    /// The m-section (track) it belongs to, when known: from the remote SDP's `a=ssrc` lines,
    /// the `sdes:mid` header extension, a payload type unique to one section, or the only media
    /// section.
    pub mid: Option<Mid>,
    /// The simulcast layer (`sdes:rtp-stream-id`, or `repaired-rtp-stream-id` for RTX), when the
    /// sender names it.
    pub rid: Option<Arc<str>>,
    /// Synchronization source.
    pub ssrc: u32,
    /// Payload type (look the codec up with [`crate::PeerConnection::codec`]).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// Sequence number extended with the wrap count of this SSRC's stream.
    pub extended_sequence_number: u64,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Marker bit (end of a video frame, start of a talk spurt).
    pub marker: bool,
    /// It came again after a NACK: unwrapped from RTX (RFC 4588), the fields above are the
    /// original packet's.
    pub retransmission: bool,
    pub(crate) packet: Received,
    pub(crate) payload_range: Range<usize>,
}

/// The bytes of a received packet: its own buffer, or shared once [`RtpReceived::share`]d.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Received {
    Owned(PacketBuf),
    Shared(SharedPacket),
}

impl RtpReceived {
    /// The whole packet, header included, decrypted.
    pub fn packet(&self) -> &[u8] {
        match &self.packet {
            Received::Owned(p) => p,
            Received::Shared(s) => s.packet(),
        }
    }

    /// The whole packet, to keep or to forward (e.g. with another SSRC through
    /// [`crate::PeerConnection::send_rtp`]); dropped, its storage returns to the connection.
    /// (A packet [`RtpReceived::share`]d is copied into a buffer of its own.)
    pub fn into_packet(self) -> PacketBuf {
        match self.packet {
            Received::Owned(p) => p,
            Received::Shared(s) => PacketBuf::from(s.packet().to_vec()),
        }
    }

    /// The payload (padding removed).
    pub fn payload(&self) -> &[u8] {
        &self.packet()[self.payload_range.clone()]
    }

    /// The packet behind a reference count, to write its payload on many tracks
    /// ([`RtpWrite::shared`], [`crate::PeerConnection::send_rtp_shared`]): each connection's
    /// retransmission history then keeps a reference instead of a copy (what a forwarding
    /// server wants). The first call moves the bytes behind the count (allocating nothing in
    /// steady state: the count's box comes from the connection's pool); every call returns a
    /// new reference. This packet stays readable as before.
    pub fn share(&mut self) -> SharedPacket {
        let shared = match &mut self.packet {
            Received::Shared(s) => return s.clone(),
            Received::Owned(p) => std::mem::replace(p, PacketBuf::from(Vec::new()))
                .into_shared(self.payload_range.clone()),
        };
        self.packet = Received::Shared(shared.clone());
        shared
    }

    /// The parsed header (CSRCs, header extensions).
    pub fn header(&self) -> RtpPacket<'_> {
        RtpPacket::parse(self.packet()).expect("parsed when received")
    }
}

/// An RTP packet to send on a track ([`crate::PeerConnection::write_rtp`]): the stack fills
/// in the SSRC, the sequence number and the header extensions it negotiated (`sdes:mid`,
/// `rtp-stream-id`, `abs-send-time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpWrite<'a> {
    /// A payload type negotiated for the track.
    pub payload_type: u8,
    /// RTP timestamp in the codec's clock.
    pub timestamp: u32,
    /// Marker bit.
    pub marker: bool,
    /// The payload (already packetized for the codec).
    pub payload: &'a [u8],
    /// The simulcast layer to send on (one of the track's send RIDs), `None` for the only layer.
    pub rid: Option<&'a str>,
    /// The shared packet `payload` is the payload of ([`RtpWrite::shared`]), kept by reference
    /// in the retransmission history.
    shared: Option<&'a SharedPacket>,
}

impl<'a> RtpWrite<'a> {
    /// A packet of `payload_type` at `timestamp`.
    pub fn new(payload_type: u8, timestamp: u32, payload: &'a [u8]) -> Self {
        Self {
            payload_type,
            timestamp,
            marker: false,
            payload,
            rid: None,
            shared: None,
        }
    }

    /// A packet of `payload_type` at `timestamp` carrying the payload of `packet` (a received
    /// packet being forwarded, [`RtpReceived::share`]): the retransmission history keeps
    /// a reference to it rather than a copy of the bytes.
    pub fn shared(payload_type: u8, timestamp: u32, packet: &'a SharedPacket) -> Self {
        Self {
            shared: Some(packet),
            ..Self::new(payload_type, timestamp, packet.payload())
        }
    }

    /// The shared packet whose payload this is, if the payload still is its payload.
    pub(crate) fn shared_payload(&self) -> Option<&'a SharedPacket> {
        self.shared
            .filter(|s| std::ptr::eq(s.payload(), self.payload))
    }

    /// With the marker bit set as given.
    pub fn marker(mut self, marker: bool) -> Self {
        self.marker = marker;
        self
    }

    /// On simulcast layer `rid`.
    pub fn rid(mut self, rid: &'a str) -> Self {
        self.rid = Some(rid);
        self
    }
}

/// How a receiver asks for a key frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyframeKind {
    /// Picture loss indication (RFC 4585 6.3.1).
    Pli,
    /// Full intra request (RFC 5104 4.3.1).
    Fir,
}

/// Why a media call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// No negotiated media section has this mid.
    #[error("no media section with mid {0}")]
    UnknownMid(Mid),
    /// The section's negotiated direction does not include sending.
    #[error("media section {0} does not send")]
    NotSending(Mid),
    /// The payload type was not negotiated for the section.
    #[error("payload type {0} is not negotiated for this section")]
    UnknownPayloadType(u8),
    /// The RID is not one of the section's send RIDs.
    #[error("rid {0} is not a negotiated send layer")]
    UnknownRid(String),
    /// The simulcast layer is paused ([`crate::PeerConnection::set_layer_paused`]): nothing is
    /// sent on it until it is resumed.
    #[error("the simulcast layer is paused")]
    LayerPaused,
    /// No remote SSRC is known for this request.
    #[error("unknown SSRC {0}")]
    UnknownSsrc(u32),
    /// We send on as many SSRCs as we track already.
    #[error("too many sending streams")]
    TooManyStreams,
    /// The lost packets need more NACK entries than one packet takes.
    #[error("{pairs} NACK entries needed, at most {max} per packet")]
    TooManyLost {
        /// Entries (a sequence number and a bitmask of the 16 after it) needed.
        pairs: usize,
        /// At most this many per packet.
        max: usize,
    },
    /// With [`crate::Config::pacing`], the pacer's queue is full: media is written faster than
    /// the bandwidth estimate lets it leave (lower the encoder's bitrate).
    #[error("the pacer's queue is full")]
    PacerFull,
    /// The RTP packet could not be written (a header extension value too long, say).
    #[error("cannot write the RTP packet: {0}")]
    Rtp(#[from] sansrtc_rtp::RtpError),
    /// The RTCP packet could not be written.
    #[error("cannot write the RTCP packet: {0}")]
    Rtcp(#[from] sansrtc_rtp::RtcpError),
}
