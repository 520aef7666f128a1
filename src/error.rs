//! Why an API call failed.

use sansrtc_dtls as dtls;
use sansrtc_ice as ice;
use sansrtc_sctp as sctp;
use sansrtc_sdp as sdp;
use sansrtc_srtp as srtp;

use crate::track::MediaError;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The SDP did not parse.
    #[error("SDP: {0}")]
    Sdp(#[from] sdp::ParseError),
    /// Offer/answer failed.
    #[error("negotiation: {0}")]
    Negotiation(#[from] NegotiationFailure),
    /// The call does not fit the signalling state (JSEP), or a description is not the one
    /// this connection created.
    #[error("wrong signalling state: {0}")]
    State(#[from] StateError),
    /// Nothing to connect with: no local address registered
    /// ([`crate::PeerConnection::add_local_address`]) and no TURN server that could give a
    /// relayed candidate.
    #[error("no local address and no TURN server: no candidate to connect with")]
    NoCandidates,
    /// A local address that cannot be a candidate: unspecified (`0.0.0.0`, `::`) or port 0.
    /// Register the address the socket actually has (bind to a concrete interface).
    #[error("{0} cannot be a candidate: register the socket's concrete address")]
    UnusableLocalAddress(std::net::SocketAddr),
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
    /// but ICE checks is sent until an ICE restart ([`crate::PeerConnection::restart_ice`]) selects a
    /// path again.
    #[error("ICE consent expired")]
    NoConsent,
    /// The bitrate bounds of the [`crate::Config`] cannot work (`min_bitrate` is 0 or above
    /// `max_bitrate`).
    #[error("bandwidth estimation: {0}")]
    Bandwidth(#[from] sansrtc_rtp::bwe::BweError),
    /// The connection is closed.
    #[error("closed")]
    Closed,
    /// The call needs DTLS 1.3 and the connection negotiated DTLS 1.2 (e.g.
    /// [`crate::PeerConnection::update_dtls_keys`]).
    #[error("needs DTLS 1.3 (DTLS 1.2 was negotiated)")]
    NotDtls13,
}

/// A [`sdp::NegotiationError`] (wrapped to keep our error type small).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NegotiationFailure(pub sdp::NegotiationError);

/// Which signalling (JSEP) rule a call broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// An offer of the peer is being answered: answer it before offering.
    #[error("an offer of the peer is being answered")]
    AnsweringAnOffer,
    /// We have a local offer pending: roll it back before taking the peer's (glare).
    #[error("have a local offer: roll it back first (glare)")]
    HaveLocalOffer,
    /// An answer arrived but we made no offer.
    #[error("no local offer to answer")]
    NoLocalOffer,
    /// `create_answer` without a remote offer set.
    #[error("no remote offer to answer")]
    NoRemoteOffer,
    /// `set_local_description` of a kind this connection did not create.
    #[error("no such local description was created")]
    NoSuchLocalDescription,
    /// `set_local_description` with a description other than the one created (SDP munging
    /// is not supported: change transceivers and the configuration instead).
    #[error("the local description differs from the one created")]
    LocalDescriptionModified,
}
