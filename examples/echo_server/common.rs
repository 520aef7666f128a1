//! What the examples serving browsers over HTTP share (`echo_server`, `play_from_disk`):
//! session ids (128 random bits whose hex form in a `Location` URL is the capability to act on
//! the session) and the filter keeping a browser's loopback candidates.

use std::fmt;

use sansrtc::PcRng;

/// A session's id: 128 bits from the operating system's RNG. Its hex form in the `Location`
/// URL is the capability to post the session's answer or to delete it, so it appears nowhere
/// else (not in `/stats`, not in the log).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionId([u8; 16]);

impl SessionId {
    pub(crate) fn random() -> Self {
        let mut id = [0u8; 16];
        PcRng::System.fill(&mut id);
        SessionId(id)
    }

    /// Exactly 32 hex digits (either case).
    pub(crate) fn parse(hex: &str) -> Option<Self> {
        if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(SessionId(id))
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Keeps only loopback candidates (the browser also lists other interfaces).
pub(crate) fn loopback_only(sdp: &str) -> String {
    sdp.split("\r\n")
        .filter(|l| {
            !l.starts_with("a=candidate:")
                || l.split(' ')
                    .nth(4)
                    .is_some_and(|ip| ip == "127.0.0.1" || ip == "::1")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}
