//! Why a call on an endpoint or one of its handles failed.

/// Why a call on an [`crate::Endpoint`] or one of its handles failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection (or the data channel) is closed, or the endpoint's task ended.
    #[error("closed")]
    Closed,
    /// The peer connection refused the call.
    #[error(transparent)]
    PeerConnection(#[from] sansrtc::Error),
    /// The endpoint could not route the connection (its ICE ufrag is taken by another one).
    #[error(transparent)]
    Route(#[from] sansrtc::RouteError),
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
