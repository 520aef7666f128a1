//! [`FormatParameters`]: a codec's `a=fmtp` parameters, parsed once.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use crate::attributes::{Fmtp, FmtpParameter};

/// H.264 `profile-level-id` (RFC 6184 section 8.1): `profile_idc`, `profile-iop` and
/// `level_idc`, written as six hex digits (`42e01f`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfileLevelId {
    /// `profile_idc` (`0x42` Baseline, `0x4d` Main, `0x64` High, ...).
    pub profile_idc: u8,
    /// The `profile-iop` constraint flags (`0xe0`: constrained baseline).
    pub profile_iop: u8,
    /// `level_idc` (`0x1f`: level 3.1).
    pub level_idc: u8,
}

impl ProfileLevelId {
    /// Constrained Baseline, level 3.1 (`42e01f`): what every browser decodes.
    pub const CONSTRAINED_BASELINE_3_1: ProfileLevelId = ProfileLevelId::new(0x42, 0xe0, 0x1f);

    /// From its three bytes.
    pub const fn new(profile_idc: u8, profile_iop: u8, level_idc: u8) -> Self {
        Self {
            profile_idc,
            profile_iop,
            level_idc,
        }
    }

    /// Parses six hex digits (either case).
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(s.get(i..i + 2)?, 16).ok();
        Some(Self::new(byte(0)?, byte(2)?, byte(4)?))
    }
}

impl fmt::Display for ProfileLevelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}{:02x}{:02x}",
            self.profile_idc, self.profile_iop, self.level_idc
        )
    }
}

/// The parameters this crate reads, parsed once from the text (the first occurrence of each key
/// counts; a value that does not parse reads as absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Known {
    apt: Option<u8>,
    packetization_mode: Option<u8>,
    profile_level_id: Option<ProfileLevelId>,
    level_asymmetry_allowed: Option<bool>,
    profile_id: Option<u8>,
    profile: Option<u8>,
    minptime: Option<u16>,
    useinbandfec: Option<bool>,
    stereo: Option<bool>,
}

fn flag(v: &str) -> Option<bool> {
    match v {
        "1" => Some(true),
        "0" => Some(false),
        _ => None,
    }
}

impl Known {
    fn parse(text: &str) -> Self {
        let mut k = Known::default();
        // Which keys were seen: the first occurrence counts even when its value does not parse.
        let mut seen = 0u16;
        for p in parameters(text) {
            let FmtpParameter::Pair(key, v) = p else {
                continue;
            };
            // Keys are few and short: compare in lower case without allocating.
            let mut buf = [0u8; 24];
            let Some(lower) = buf.get_mut(..key.len()) else {
                continue;
            };
            lower.copy_from_slice(key.as_bytes());
            lower.make_ascii_lowercase();
            let bit = match &*lower {
                b"apt" => 0,
                b"packetization-mode" => 1,
                b"profile-level-id" => 2,
                b"level-asymmetry-allowed" => 3,
                b"profile-id" => 4,
                b"profile" => 5,
                b"minptime" => 6,
                b"useinbandfec" => 7,
                b"stereo" => 8,
                _ => continue,
            };
            if seen & (1 << bit) != 0 {
                continue;
            }
            seen |= 1 << bit;
            match bit {
                0 => k.apt = v.parse().ok(),
                1 => k.packetization_mode = v.parse().ok(),
                2 => k.profile_level_id = ProfileLevelId::parse(v),
                3 => k.level_asymmetry_allowed = flag(v),
                4 => k.profile_id = v.parse().ok(),
                5 => k.profile = v.parse().ok(),
                6 => k.minptime = v.parse().ok(),
                7 => k.useinbandfec = flag(v),
                _ => k.stereo = flag(v),
            }
        }
        k
    }
}

/// The `;`-separated items of an fmtp value, read as the attribute view reads them.
fn parameters(text: &str) -> impl Iterator<Item = FmtpParameter<'_>> {
    Fmtp {
        format: "",
        parameters: text,
    }
    .parameters()
}

/// A codec's format parameters (`a=fmtp:<pt> <parameters>`), parsed once.
///
/// The text is kept as written and written back unchanged (unknown parameters and opaque
/// values such as RED's `111/111` or telephone-event's `0-15` included); the parameters
/// negotiation and the media path use are parsed when the value is built and read through
/// typed accessors: [`apt`](Self::apt) (RTX), H.264's
/// [`packetization_mode`](Self::packetization_mode),
/// [`profile_level_id`](Self::profile_level_id) and
/// [`level_asymmetry_allowed`](Self::level_asymmetry_allowed), VP9's
/// [`profile_id`](Self::profile_id), AV1's [`profile`](Self::profile), Opus's
/// [`minptime`](Self::minptime), [`useinbandfec`](Self::useinbandfec) and
/// [`stereo`](Self::stereo). Any parameter can be read as text with [`get`](Self::get).
///
/// ```
/// use sansrtc_sdp::jsep::{FormatParameters, ProfileLevelId};
///
/// let p = FormatParameters::parse("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f");
/// assert_eq!(p.packetization_mode(), Some(1));
/// assert_eq!(p.profile_level_id(), Some(ProfileLevelId::CONSTRAINED_BASELINE_3_1));
/// assert_eq!(p.level_asymmetry_allowed(), Some(true));
/// assert_eq!(p.apt(), None);
///
/// let mut q = FormatParameters::default();
/// q.set("x-google-start-bitrate", 800);
/// q.set("apt", 96);
/// assert_eq!(q.as_str(), "x-google-start-bitrate=800;apt=96");
/// assert_eq!((q.apt(), q.get("X-GOOGLE-START-BITRATE")), (Some(96), Some("800")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormatParameters {
    text: String,
    known: Known,
}

impl FormatParameters {
    /// Parses the parameters as written after the payload type in `a=fmtp`. Total: any text is
    /// kept, and a parameter whose value does not parse reads as absent through its accessor.
    pub fn parse(text: &str) -> Self {
        Self {
            text: text.to_string(),
            known: Known::parse(text),
        }
    }

    /// The parameters as written (empty when there are none).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether there are none (no `a=fmtp` line is written).
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The `;`-separated items, in order.
    pub fn iter(&self) -> impl Iterator<Item = FmtpParameter<'_>> {
        parameters(&self.text)
    }

    /// The value of parameter `key` (case-insensitive) as text: the first one.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find_map(|p| match p {
            FmtpParameter::Pair(k, v) if k.eq_ignore_ascii_case(key) => Some(v),
            _ => None,
        })
    }

    /// Sets parameter `key` (a token without `=` or `;`) to `value`: replaces the first one with
    /// that key (case-insensitive), or appends it. Every other item is kept as written.
    pub fn set(&mut self, key: &str, value: impl fmt::Display) {
        let item = format!("{key}={value}");
        let mut out = String::with_capacity(self.text.len() + item.len() + 1);
        let mut replaced = false;
        for (i, raw) in self.text.split(';').enumerate() {
            if i > 0 {
                out.push(';');
            }
            let is_key = raw
                .split_once('=')
                .is_some_and(|(k, _)| k.trim_ascii().eq_ignore_ascii_case(key));
            if is_key && !replaced {
                out.push_str(&item);
                replaced = true;
            } else {
                out.push_str(raw);
            }
        }
        if !replaced {
            if !out.trim_ascii().is_empty() && !out.ends_with(';') {
                out.push(';');
            } else if out.trim_ascii().is_empty() {
                out.clear();
            }
            out.push_str(&item);
        }
        *self = Self::parse(&out);
    }

    /// RTX (RFC 4588): the payload type this retransmission format repairs.
    pub fn apt(&self) -> Option<u8> {
        self.known.apt
    }

    /// H.264 `packetization-mode` (0 when absent, RFC 6184).
    pub fn packetization_mode(&self) -> Option<u8> {
        self.known.packetization_mode
    }

    /// H.264 `profile-level-id` (`42001f` when absent, RFC 6184).
    pub fn profile_level_id(&self) -> Option<ProfileLevelId> {
        self.known.profile_level_id
    }

    /// H.264 `level-asymmetry-allowed`.
    pub fn level_asymmetry_allowed(&self) -> Option<bool> {
        self.known.level_asymmetry_allowed
    }

    /// VP9 `profile-id` (0 when absent).
    pub fn profile_id(&self) -> Option<u8> {
        self.known.profile_id
    }

    /// AV1 `profile` (0 when absent).
    pub fn profile(&self) -> Option<u8> {
        self.known.profile
    }

    /// Opus `minptime`, in milliseconds.
    pub fn minptime(&self) -> Option<u16> {
        self.known.minptime
    }

    /// Opus `useinbandfec`.
    pub fn useinbandfec(&self) -> Option<bool> {
        self.known.useinbandfec
    }

    /// Opus `stereo`.
    pub fn stereo(&self) -> Option<bool> {
        self.known.stereo
    }
}

impl fmt::Display for FormatParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<&str> for FormatParameters {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl FromStr for FormatParameters {
    type Err = Infallible;

    fn from_str(text: &str) -> Result<Self, Infallible> {
        Ok(Self::parse(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_parameters_are_typed() {
        let p = FormatParameters::parse("minptime=10;useinbandfec=1; STEREO = 0");
        assert_eq!(
            (p.minptime(), p.useinbandfec(), p.stereo()),
            (Some(10), Some(true), Some(false))
        );
        let p = FormatParameters::parse("apt=96");
        assert_eq!(p.apt(), Some(96));
        assert_eq!(
            FormatParameters::parse("apt=300").apt(),
            None,
            "not a payload type"
        );
        assert_eq!(FormatParameters::parse("apt=x").apt(), None);
        let p = FormatParameters::parse("profile-id=2");
        assert_eq!((p.profile_id(), p.profile()), (Some(2), None));
        let p = FormatParameters::parse("level-idx=5;profile=1;tier=0");
        assert_eq!((p.profile(), p.get("tier")), (Some(1), Some("0")));
        let p = FormatParameters::parse("profile-level-id=640C1F;packetization-mode=1");
        assert_eq!(
            p.profile_level_id(),
            Some(ProfileLevelId::new(0x64, 0x0c, 0x1f))
        );
        assert_eq!(p.profile_level_id().unwrap().to_string(), "640c1f");
        for bad in ["42e01", "42e01f0", "42e0zz", "+2e01f"] {
            let p = FormatParameters::parse(&format!("profile-level-id={bad}"));
            assert_eq!(p.profile_level_id(), None, "{bad}");
            assert_eq!(p.get("profile-level-id"), Some(bad));
        }
        assert_eq!(
            FormatParameters::parse("useinbandfec=yes").useinbandfec(),
            None
        );
        // The first occurrence counts, as with `get`.
        let p = FormatParameters::parse("apt=96;apt=98");
        assert_eq!((p.apt(), p.get("apt")), (Some(96), Some("96")));
        let p = FormatParameters::parse("apt=x;APT=98");
        assert_eq!((p.apt(), p.get("apt")), (None, Some("x")));
    }

    #[test]
    fn text_is_kept_and_written_back_unchanged() {
        for text in [
            "",
            "111/111",
            "0-15",
            "level-asymmetry-allowed=1; packetization-mode=1 ;profile-level-id=42001f",
            "x-google-start-bitrate=1000;;foo",
        ] {
            let p = FormatParameters::parse(text);
            assert_eq!(p.as_str(), text);
            assert_eq!(p.to_string(), text);
            assert_eq!(p.is_empty(), text.is_empty());
            assert_eq!(text.parse::<FormatParameters>().unwrap(), p);
        }
        let red = FormatParameters::parse("111/111");
        assert_eq!(
            red.iter().collect::<Vec<_>>(),
            [FmtpParameter::Opaque("111/111")]
        );
    }

    #[test]
    fn set_replaces_or_appends() {
        let mut p = FormatParameters::parse("a=1; APT = 5 ;b");
        p.set("apt", 96);
        assert_eq!(p.as_str(), "a=1;apt=96;b");
        assert_eq!(p.apt(), Some(96));
        p.set("stereo", 1);
        assert_eq!(p.as_str(), "a=1;apt=96;b;stereo=1");
        assert_eq!(p.stereo(), Some(true));
        let mut p = FormatParameters::parse("a=1;");
        p.set("b", 2);
        assert_eq!(p.as_str(), "a=1;b=2");
        let mut p = FormatParameters::default();
        p.set("profile-level-id", ProfileLevelId::CONSTRAINED_BASELINE_3_1);
        assert_eq!(p.as_str(), "profile-level-id=42e01f");
    }
}
