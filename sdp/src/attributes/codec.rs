//! Codecs: `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` (RFC 8866, RFC 4585).

use std::fmt;

use crate::error::AttributeError;
use crate::parse::parse_num;

use super::{TypedAttribute, err, is_token, split_slash, word};

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtpmap<'a> {
    /// RTP payload type, 0-127.
    pub payload_type: u8,
    /// Encoding name (`opus`, `VP8`, `H264`, `rtx`, ...), case as written.
    pub encoding: &'a str,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters: the number of channels for audio.
    pub channels: Option<u16>,
}

impl<'a> Rtpmap<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (pt, rest) = word(v);
        let payload_type: u8 =
            parse_num(pt).ok_or_else(|| err("rtpmap", "payload type is not a number"))?;
        if payload_type > 127 {
            return Err(err("rtpmap", "payload type above 127"));
        }
        let (encoding, rest) = split_slash(rest.trim_ascii_end());
        if !is_token(encoding) {
            return Err(err("rtpmap", "missing encoding name"));
        }
        let (clock_rate, rest) = split_slash(rest.unwrap_or_default());
        let clock_rate =
            parse_num(clock_rate).ok_or_else(|| err("rtpmap", "clock rate is not a number"))?;
        let channels = match rest.map(split_slash) {
            Some((_, Some(_))) => return Err(err("rtpmap", "too many `/` fields")),
            Some((c, None)) => Some(
                parse_num(c)
                    .ok_or_else(|| err("rtpmap", "encoding parameters are not a number"))?,
            ),
            None => None,
        };
        Ok(Self {
            payload_type,
            encoding,
            clock_rate,
            channels,
        })
    }
}

impl fmt::Display for Rtpmap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        if let Some(c) = self.channels {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Rtpmap<'_> {
    const NAME: &'static str = "rtpmap";
}

/// `a=fmtp:<format> <format specific parameters>`.
///
/// Parameters are usually `key=value` pairs separated by `;` ([`Fmtp::parameters`]); values that are
/// not (RED's `111/111`, telephone-event's `0-16`) are kept opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmtp<'a> {
    /// The format (payload type) the parameters apply to.
    pub format: &'a str,
    /// The parameters as written.
    pub parameters: &'a str,
}

/// One `;`-separated item of an `a=fmtp` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FmtpParameter<'a> {
    /// `key=value`.
    Pair(&'a str, &'a str),
    /// Anything without `=`.
    Opaque(&'a str),
}

impl<'a> Fmtp<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (format, parameters) = word(v);
        if !is_token(format) {
            return Err(err("fmtp", "missing format"));
        }
        Ok(Self {
            format,
            parameters: parameters.trim_ascii_end(),
        })
    }

    /// The format as a payload type, when it is one.
    pub fn payload_type(&self) -> Option<u8> {
        parse_num(self.format)
    }

    /// The `;`-separated parameters.
    pub fn parameters(&self) -> impl Iterator<Item = FmtpParameter<'a>> + use<'a> {
        self.parameters
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => FmtpParameter::Pair(k.trim_ascii(), v.trim_ascii()),
                None => FmtpParameter::Opaque(p),
            })
    }

    /// The value of parameter `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.parameters().find_map(|p| match p {
            FmtpParameter::Pair(k, v) if k.eq_ignore_ascii_case(key) => Some(v),
            _ => None,
        })
    }
}

impl fmt::Display for Fmtp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.format, self.parameters)
    }
}

impl TypedAttribute for Fmtp<'_> {
    const NAME: &'static str = "fmtp";
}

/// The payload an `a=rtcp-fb` applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedbackPayload {
    /// `*`: every payload type of the section.
    All,
    /// One payload type.
    Pt(u8),
}

/// `a=rtcp-fb:<pt|*> <type> [<parameter>]` (RFC 4585).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpFb<'a> {
    /// Which payload types.
    pub payload: FeedbackPayload,
    /// Feedback type: `nack`, `ccm`, `goog-remb`, `transport-cc`, `trr-int`, ...
    pub kind: &'a str,
    /// Parameter: `pli` for `nack pli`, `fir` for `ccm fir`, ...
    pub parameter: Option<&'a str>,
}

impl<'a> RtcpFb<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (pt, rest) = word(v);
        let payload = if pt == "*" {
            FeedbackPayload::All
        } else {
            FeedbackPayload::Pt(
                parse_num(pt)
                    .ok_or_else(|| err("rtcp-fb", "payload type is neither a number nor *"))?,
            )
        };
        let (kind, parameter) = word(rest);
        if !is_token(kind) {
            return Err(err("rtcp-fb", "missing feedback type"));
        }
        let parameter = parameter.trim_ascii_end();
        Ok(Self {
            payload,
            kind,
            parameter: (!parameter.is_empty()).then_some(parameter),
        })
    }

    /// Whether type and parameter match another feedback (ignoring the payload type and case).
    pub fn same_feedback(&self, other: &RtcpFb<'_>) -> bool {
        self.kind.eq_ignore_ascii_case(other.kind)
            && match (self.parameter, other.parameter) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
    }
}

impl fmt::Display for RtcpFb<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.payload {
            FeedbackPayload::All => f.write_str("*")?,
            FeedbackPayload::Pt(pt) => write!(f, "{pt}")?,
        }
        write!(f, " {}", self.kind)?;
        if let Some(p) = self.parameter {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for RtcpFb<'_> {
    const NAME: &'static str = "rtcp-fb";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtpmap() {
        let r = Rtpmap::parse("111 opus/48000/2").unwrap();
        assert_eq!(
            (r.payload_type, r.encoding, r.clock_rate, r.channels),
            (111, "opus", 48000, Some(2))
        );
        assert_eq!(r.to_string(), "111 opus/48000/2");
        assert!(Rtpmap::parse("128 x/1").is_err());
        assert!(Rtpmap::parse("96 VP8").is_err());
        assert!(Rtpmap::parse("96 VP8/90000/1/2").is_err());
    }

    #[test]
    fn fmtp_pairs_and_opaque() {
        let f = Fmtp::parse("111 minptime=10;useinbandfec=1").unwrap();
        assert_eq!(f.payload_type(), Some(111));
        assert_eq!(f.get("useinbandfec"), Some("1"));
        assert_eq!(f.get("MINPTIME"), Some("10"));
        let red = Fmtp::parse("63 111/111").unwrap();
        assert_eq!(
            red.parameters().collect::<Vec<_>>(),
            vec![FmtpParameter::Opaque("111/111")]
        );
        let h264 = Fmtp::parse(
            "102 level-asymmetry-allowed=1; packetization-mode=1 ;profile-level-id=42001f",
        )
        .unwrap();
        assert_eq!(h264.get("packetization-mode"), Some("1"));
        assert_eq!(h264.get("profile-level-id"), Some("42001f"));
    }

    #[test]
    fn rtcp_fb() {
        let fb = RtcpFb::parse("96 nack pli").unwrap();
        assert_eq!(
            (fb.payload, fb.kind, fb.parameter),
            (FeedbackPayload::Pt(96), "nack", Some("pli"))
        );
        assert_eq!(
            RtcpFb::parse("* transport-cc").unwrap().payload,
            FeedbackPayload::All
        );
    }
}
