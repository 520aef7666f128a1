//! Why an API call failed.

use sansrtc_dtls as dtls;
use sansrtc_ice as ice;
use sansrtc_sctp as sctp;
use sansrtc_sdp as sdp;
use sansrtc_srtp as srtp;

use crate::track::MediaError;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SDP did not parse.
    #[error("SDP: {0}")]
    Sdp(#[from] sdp::ParseError),
    /// Offer/answer failed.
    #[error("negotiation: {0}")]
    Negotiation(#[from] NegotiationFailure),
    /// A description arrived in the wrong signalling state.
    #[error("wrong signalling state: {0}")]
    State(&'static str),
    /// The DTLS certificate could not be generated.
    #[error("certificate: {0}")]
    Certificate(#[from] dtls::DtlsError),
    /// A candidate did not parse.
    #[error("candidate: {0}")]
    Candidate(#[from] ice::candidate::CandidateError),
    /// Data channels are not negotiated yet, or the channel is not open.
    #[error("data channel: {0}")]
    DataChannel(#[from] sctp::SendError),
    /// SRTP is not up yet or failed.
    #[error("SRTP: {0}")]
    Srtp(#[from] srtp::Error),
    /// The message is larger than the peer's `a=max-message-size` (RFC 8841; 65536 when the
    /// peer states none).
    #[error("message of {size} bytes is over the peer's limit of {max}")]
    MessageTooLarge {
        /// The message's size.
        size: usize,
        /// The peer's limit.
        max: usize,
    },
    /// A media call failed.
    #[error("media: {0}")]
    Media(#[from] MediaError),
    /// No data channel has this id (never had, or closed long ago).
    #[error("unknown {0}")]
    UnknownChannel(crate::peer::ChannelId),
    /// The data channel is not open (still connecting, or closed).
    #[error("{0} is not open")]
    ChannelNotOpen(crate::peer::ChannelId),
    /// Not possible before the transport is connected.
    #[error("not connected")]
    NotConnected,
    /// ICE consent on the path expired (RFC 7675: no authenticated answer for 30 s): nothing
    /// but ICE checks is sent until an ICE restart ([`PeerConnection::restart_ice`]) selects a
    /// path again.
    #[error("ICE consent expired")]
    NoConsent,
    /// The connection is closed.
    #[error("closed")]
    Closed,
}

/// A [`sdp::NegotiationError`] (wrapped to keep our error type small).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NegotiationFailure(pub sdp::NegotiationError);
