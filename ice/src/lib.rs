//! STUN, the ICE agent, the TURN client and a STUN responder, sans-IO (RFC 8489, 8445, 8656). Work in progress: see issue 5.
