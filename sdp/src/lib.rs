//! SDP for sansrtc: a lossless parser and writer for RFC 8866 session descriptions, typed views of
//! every attribute WebRTC uses, and the JSEP offer/answer model of RFC 9429.
//!
//! Parsing borrows from the input and keeps every line: unknown attributes and unknown line types are
//! preserved in order, so writing a parsed description gives back an equivalent one (with CRLF line
//! ends). Parsing is total, linear in the input and bounded by [`Limits`]; every rejected line gives a
//! [`ParseError`] naming its line number and the reason.
//!
//! ```
//! use sansrtc_sdp::{AttributeList, SessionDescription};
//!
//! let sdp = "v=0\no=- 1 2 IN IP4 127.0.0.1\ns=-\nt=0 0\na=group:BUNDLE 0\n\
//!            m=audio 9 UDP/TLS/RTP/SAVPF 111\na=mid:0\na=rtpmap:111 opus/48000/2\n";
//! let session = SessionDescription::parse(sdp).unwrap();
//! assert_eq!(session.bundle_group().unwrap().mids().next(), Some("0"));
//! assert_eq!(session.media[0].rtpmap(111).unwrap().encoding, "opus");
//! assert!(session.to_sdp_string().ends_with("a=rtpmap:111 opus/48000/2\r\n"));
//! ```

pub mod attributes;
pub mod candidate;
pub mod error;
pub mod jsep;
pub mod mid;
pub mod model;
pub mod parse;
pub mod text;
pub mod write;

pub use attributes::{
    AttributeList, CertificateFingerprint, Direction, FingerprintHash, Setup, TypedAttribute,
};
pub use candidate::Candidate;
pub use error::{AttributeError, ParseError, ParseErrorKind};
pub use jsep::{JsepConfig, JsepSession, Negotiated, NegotiationError};
pub use mid::{MAX_MID_LEN, Mid, MidError};
pub use model::{Attribute, MediaDescription, Origin, SessionDescription};
pub use parse::Limits;
pub use text::Text;
