//! Reading the codecs of a remote m-section and intersecting them with ours.

use std::collections::{HashMap, HashSet};

use crate::attributes::{FeedbackPayload, Fmtp, RtcpFb, Rtpmap};
use crate::model::MediaDescription;

use super::MAX_FORMATS;
use super::codec::{Codec, CodecName, Feedback};
use super::fmtp::FormatParameters;

/// What must agree for an offered and a local codec to be the same codec in negotiation, computed
/// once per codec: the encoding name (ignoring case), clock rate, channels (1 when absent) and the
/// format parameters that must agree (H.264 packetization mode and profile, the first four hex
/// digits of `profile-level-id`; VP9 `profile-id`; AV1 `profile`), each from its typed value, or
/// from its text when it does not parse.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CodecKey {
    name: CodecName,
    clock_rate: u32,
    channels: u16,
    params: Option<(String, String)>,
}

/// A parameter that must agree: its typed value as text, else its text, else `default`.
fn agreed<T: ToString>(p: &FormatParameters, typed: Option<T>, key: &str, default: &str) -> String {
    match typed {
        Some(v) => v.to_string(),
        None => p.get(key).unwrap_or(default).to_string(),
    }
}

impl CodecKey {
    fn of(c: &Codec) -> Self {
        let p = &c.fmtp;
        let params = if c.name == CodecName::H264 {
            let mode = agreed(p, p.packetization_mode(), "packetization-mode", "0");
            let profile = match p.profile_level_id() {
                Some(id) => format!("{:02x}{:02x}", id.profile_idc, id.profile_iop),
                None => p
                    .get("profile-level-id")
                    .map(|t| t.get(..4).unwrap_or(t).to_ascii_lowercase())
                    .unwrap_or_else(|| "4200".into()),
            };
            Some((mode, profile))
        } else if c.name == CodecName::Vp9 {
            Some((agreed(p, p.profile_id(), "profile-id", "0"), String::new()))
        } else if c.name == CodecName::Av1 {
            Some((agreed(p, p.profile(), "profile", "0"), String::new()))
        } else {
            None
        };
        Self {
            name: c.name.clone(),
            clock_rate: c.clock_rate,
            channels: c.channels.unwrap_or(1),
            params,
        }
    }
}

/// A feedback type and parameter in lower case: equal keys are [`Feedback::same`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct FeedbackKey(String, Option<String>);

impl FeedbackKey {
    fn of(f: &Feedback) -> Self {
        Self(
            f.kind.to_ascii_lowercase(),
            f.parameter.as_deref().map(str::to_ascii_lowercase),
        )
    }
}

/// The `rtpmap`, `fmtp` and `rtcp-fb` lines of one m-section, indexed by payload type in one pass
/// over its attributes, so that reading its codecs is linear in its size rather than a scan of
/// every attribute per payload type. The first `rtpmap` and `fmtp` of a payload type count, as
/// with [`AttributeList::rtpmap`] and [`AttributeList::fmtp`].
struct CodecLines<'a> {
    rtpmap: Vec<Option<Rtpmap<'a>>>,
    fmtp: Vec<Option<&'a str>>,
    /// `rtcp-fb` lines grouped by payload type, then the `*` ones (group 256), each group in line
    /// order with its line's index: group `g` is `feedback[start[g]..start[g + 1]]`.
    feedback: Vec<(usize, RtcpFb<'a>)>,
    start: Vec<usize>,
}

const ALL_PAYLOADS: usize = 256;

impl<'a> CodecLines<'a> {
    fn new(m: &'a MediaDescription<'_>) -> Self {
        let mut rtpmap = vec![None; 256];
        let mut fmtp = vec![None; 256];
        let mut feedback: Vec<(usize, usize, RtcpFb<'a>)> = Vec::new();
        for (line, a) in m.attributes.iter().enumerate() {
            let Some(value) = a.value.as_deref() else {
                continue;
            };
            if a.is("rtpmap") {
                if let Ok(r) = Rtpmap::parse(value) {
                    rtpmap[usize::from(r.payload_type)].get_or_insert(r);
                }
            } else if a.is("fmtp") {
                if let Ok(f) = Fmtp::parse(value) {
                    if let Some(pt) = f.payload_type() {
                        fmtp[usize::from(pt)].get_or_insert(f.parameters);
                    }
                }
            } else if a.is("rtcp-fb") {
                if let Ok(fb) = RtcpFb::parse(value) {
                    let group = match fb.payload {
                        FeedbackPayload::Pt(pt) => usize::from(pt),
                        FeedbackPayload::All => ALL_PAYLOADS,
                    };
                    feedback.push((group, line, fb));
                }
            }
        }
        // Stable: each group stays in line order.
        feedback.sort_by_key(|&(group, _, _)| group);
        let mut start = vec![0; ALL_PAYLOADS + 2];
        for &(group, _, _) in &feedback {
            start[group + 1] += 1;
        }
        for g in 1..start.len() {
            start[g] += start[g - 1];
        }
        Self {
            rtpmap,
            fmtp,
            feedback: feedback.into_iter().map(|(_, l, f)| (l, f)).collect(),
            start,
        }
    }

    fn group(&self, g: usize) -> &[(usize, RtcpFb<'a>)] {
        &self.feedback[self.start[g]..self.start[g + 1]]
    }

    /// The feedback of payload type `pt`: its own lines and the `*` ones, in line order.
    fn feedback(&self, pt: u8) -> Vec<Feedback> {
        let (own, all) = (self.group(usize::from(pt)), self.group(ALL_PAYLOADS));
        let mut out = Vec::with_capacity(own.len() + all.len());
        let (mut i, mut j) = (0, 0);
        while i < own.len() || j < all.len() {
            let fb = if j == all.len() || (i < own.len() && own[i].0 < all[j].0) {
                i += 1;
                &own[i - 1].1
            } else {
                j += 1;
                &all[j - 1].1
            };
            out.push(Feedback {
                kind: fb.kind.into(),
                parameter: fb.parameter.map(Into::into),
            });
        }
        out
    }
}

/// Reads the codecs of an RTP m-section in `m=` order (a payload type listed twice is read once).
/// Linear in the section's size: its attributes are indexed once ([`CodecLines`]).
pub(super) fn read_codecs(m: &MediaDescription<'_>) -> Vec<Codec> {
    let lines = CodecLines::new(m);
    let mut seen = [false; 256];
    let mut out = Vec::with_capacity(m.formats.len().min(MAX_FORMATS));
    for f in &m.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        if std::mem::replace(&mut seen[usize::from(pt)], true) {
            continue;
        }
        let mut codec = match lines.rtpmap[usize::from(pt)] {
            Some(r) => Codec::new(pt, CodecName::parse(r.encoding), r.clock_rate, r.channels),
            None => match static_payload(pt) {
                Some(c) => c,
                None => continue,
            },
        };
        if let Some(p) = lines.fmtp[usize::from(pt)].filter(|p| !p.is_empty()) {
            codec.fmtp = FormatParameters::parse(p);
        }
        codec.feedback = lines.feedback(pt);
        out.push(codec);
    }
    pair_rtx(&mut out);
    out
}

/// The static payload types (RFC 3551) a section may list without `a=rtpmap`.
fn static_payload(pt: u8) -> Option<Codec> {
    match pt {
        0 => Some(Codec::pcmu()),
        8 => Some(Codec::pcma()),
        9 => Some(Codec::g722()),
        13 => Some(Codec::new(13, CodecName::Cn, 8000, None)),
        _ => None,
    }
}

/// Pairs RTX with what it repairs: each non-RTX codec's [`Codec::rtx`] becomes the payload type
/// of the first RTX codec of the list whose `apt` names it (the first codec of a payload type
/// counts), or `None`.
pub(super) fn pair_rtx(codecs: &mut [Codec]) {
    const NONE: usize = usize::MAX;
    let mut by_pt = [NONE; 256];
    for (i, c) in codecs.iter_mut().enumerate() {
        c.rtx = None;
        let slot = &mut by_pt[usize::from(c.payload_type)];
        if !c.is_rtx() && *slot == NONE {
            *slot = i;
        }
    }
    for i in 0..codecs.len() {
        let Some(apt) = codecs[i].apt() else {
            continue;
        };
        let target = by_pt[usize::from(apt)];
        if target != NONE && codecs[target].rtx.is_none() {
            codecs[target].rtx = Some(codecs[i].payload_type);
        }
    }
}

/// Intersects offered codecs with local ones, keeping the offerer's payload types and order.
/// Linear in both lists: local codecs are looked up by [`CodecKey`].
pub(super) fn intersect_codecs(offered: &[Codec], local: &[Codec]) -> Vec<Codec> {
    // The first local codec of each key, as a search in preference order would find, with its
    // feedback as a set (lower case) so that filtering the offered feedback is linear too.
    let mut by_key: HashMap<CodecKey, (&Codec, HashSet<FeedbackKey>)> = HashMap::new();
    for l in local.iter().filter(|l| !l.is_rtx()) {
        by_key
            .entry(CodecKey::of(l))
            .or_insert_with(|| (l, l.feedback.iter().map(FeedbackKey::of).collect()));
    }
    let mut accepted: Vec<Option<Codec>> = vec![None; offered.len()];
    let mut accepted_pt = [false; 256];
    for (slot, o) in accepted.iter_mut().zip(offered) {
        if o.is_rtx() {
            continue;
        }
        if let Some((l, local_feedback)) = by_key.get(&CodecKey::of(o)) {
            let feedback = o
                .feedback
                .iter()
                .filter(|f| local_feedback.contains(&FeedbackKey::of(f)))
                .cloned()
                .collect();
            let fmtp = if l.fmtp.is_empty() { &o.fmtp } else { &l.fmtp };
            accepted_pt[usize::from(o.payload_type)] = true;
            *slot = Some(Codec {
                payload_type: o.payload_type,
                name: o.name.clone(),
                fmtp: fmtp.clone(),
                feedback,
                ..o.clone()
            });
        }
    }
    // RTX follows its associated payload type.
    if local.iter().any(Codec::is_rtx) {
        for (slot, o) in accepted.iter_mut().zip(offered) {
            if !o.is_rtx() {
                continue;
            }
            if o.apt().is_some_and(|apt| accepted_pt[usize::from(apt)]) {
                *slot = Some(Codec {
                    feedback: Vec::new(),
                    ..o.clone()
                });
            }
        }
    }
    // In the offer's order.
    let mut codecs: Vec<Codec> = accepted.into_iter().flatten().collect();
    pair_rtx(&mut codecs);
    codecs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(codecs: &[Codec]) -> Vec<(u8, Option<u8>, Option<u8>)> {
        codecs
            .iter()
            .map(|c| (c.payload_type, c.rtx, c.apt()))
            .collect()
    }

    #[test]
    fn rtx_is_paired_with_the_codec_it_repairs() {
        let mut codecs = vec![
            Codec::vp8(96),
            Codec::rtx(97, 96),
            // A second RTX for 96: the first one of the list repairs it.
            Codec::rtx(98, 96),
            // Repairs a payload type that is not in the list, or an RTX format.
            Codec::rtx(99, 50),
            Codec::rtx(100, 97),
            Codec::h264(102),
            // Listed before or after its codec, either works.
            Codec::rtx(103, 102),
            Codec::new(104, "rtx", 90_000, None),
        ];
        codecs[0].rtx = Some(7); // a stale value is replaced
        pair_rtx(&mut codecs);
        assert_eq!(
            pairs(&codecs),
            [
                (96, Some(97), None),
                (97, None, Some(96)),
                (98, None, Some(96)),
                (99, None, Some(50)),
                (100, None, Some(97)),
                (102, Some(103), None),
                (103, None, Some(102)),
                (104, None, None),
            ]
        );
        let mut before = vec![Codec::rtx(97, 96), Codec::vp8(96)];
        pair_rtx(&mut before);
        assert_eq!(pairs(&before), [(97, None, Some(96)), (96, Some(97), None)]);
    }

    #[test]
    fn codec_keys_follow_the_typed_parameters() {
        let key = |c: Codec| CodecKey::of(&c);
        let h264 = |fmtp: &str| key(Codec::h264(96).fmtp(fmtp));
        // Name case, packetization mode and the profile's first two bytes matter, the level not.
        assert_eq!(
            key(Codec::new(96, "h264", 90_000, None).fmtp("profile-level-id=42E01F")),
            h264("profile-level-id=42e034;packetization-mode=0")
        );
        assert_ne!(h264("packetization-mode=1"), h264(""));
        assert_eq!(h264("packetization-mode=0"), h264(""));
        assert_eq!(h264("profile-level-id=42001f"), h264(""));
        assert_ne!(h264("profile-level-id=42e01f"), h264(""));
        // A malformed value is compared as text, as before typing.
        assert_eq!(
            h264("profile-level-id=42e0"),
            h264("profile-level-id=42e01f")
        );
        assert_ne!(h264("packetization-mode=x"), h264(""));
        let vp9 = |fmtp: &str| key(Codec::vp9(98).fmtp(fmtp));
        assert_eq!(vp9("profile-id=0"), vp9(""));
        assert_ne!(vp9("profile-id=2"), vp9(""));
        let av1 = |fmtp: &str| key(Codec::av1(45).fmtp(fmtp));
        assert_eq!(av1("level-idx=5;profile=0;tier=0"), av1(""));
        assert_ne!(av1("profile=1"), av1(""));
        // Other codecs: parameters do not matter; channels default to 1.
        assert_eq!(
            key(Codec::opus(111).fmtp("stereo=1")),
            key(Codec::new(100, "OPUS", 48_000, Some(2)))
        );
        assert_eq!(
            key(Codec::pcmu()),
            key(Codec::new(0, "pcmu", 8000, Some(1)))
        );
    }
}
