//! Codecs and RTCP feedback as JSEP offers and negotiates them.

/// An RTCP feedback type with its optional parameter (`nack` / `pli`, `transport-cc`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// Feedback type.
    pub kind: String,
    /// Parameter.
    pub parameter: Option<String>,
}

impl Feedback {
    /// A feedback without parameter.
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.into(),
            parameter: None,
        }
    }

    /// A feedback with a parameter.
    pub fn with(kind: &str, parameter: &str) -> Self {
        Self {
            kind: kind.into(),
            parameter: Some(parameter.into()),
        }
    }

    /// Same type and parameter, ignoring case.
    pub fn same(&self, other: &Feedback) -> bool {
        self.kind.eq_ignore_ascii_case(&other.kind)
            && match (&self.parameter, &other.parameter) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
    }
}

/// A codec: payload type, `rtpmap`, `fmtp` and `rtcp-fb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// RTP payload type.
    pub payload_type: u8,
    /// Encoding name (`opus`, `VP8`, `rtx`, ...).
    pub name: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels.
    pub channels: Option<u16>,
    /// Format parameters, as written after the payload type in `a=fmtp`.
    pub fmtp: Option<String>,
    /// RTCP feedback.
    pub feedback: Vec<Feedback>,
}

impl Codec {
    /// A codec without format parameters or feedback.
    pub fn new(payload_type: u8, name: &str, clock_rate: u32, channels: Option<u16>) -> Self {
        Self {
            payload_type,
            name: name.into(),
            clock_rate,
            channels,
            fmtp: None,
            feedback: Vec::new(),
        }
    }

    /// With format parameters.
    pub fn fmtp(mut self, fmtp: &str) -> Self {
        self.fmtp = Some(fmtp.into());
        self
    }

    /// With an RTCP feedback.
    pub fn feedback(mut self, fb: Feedback) -> Self {
        self.feedback.push(fb);
        self
    }

    pub(super) fn is_rtx(&self) -> bool {
        self.name.eq_ignore_ascii_case("rtx")
    }

    pub(super) fn param(&self, key: &str) -> Option<&str> {
        fmtp_param(self.fmtp.as_deref(), key)
    }
}

fn fmtp_param<'a>(fmtp: Option<&'a str>, key: &str) -> Option<&'a str> {
    fmtp?.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}
