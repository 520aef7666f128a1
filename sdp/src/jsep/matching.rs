//! Reading the codecs of a remote m-section and intersecting them with ours.

use std::collections::{HashMap, HashSet};

use crate::attributes::{FeedbackPayload, Fmtp, RtcpFb, Rtpmap};
use crate::model::MediaDescription;

use super::MAX_FORMATS;
use super::codec::{Codec, Feedback};

/// What must agree for an offered and a local codec to be the same codec in negotiation, computed
/// once per codec: the encoding name (lower case), clock rate, channels (1 when absent) and the
/// format parameters that must agree (H.264 packetization mode and profile, the first four hex
/// digits of `profile-level-id`; VP9 `profile-id`; AV1 `profile`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct CodecKey {
    name: String,
    clock_rate: u32,
    channels: u16,
    params: Option<(String, String)>,
}

impl CodecKey {
    fn of(c: &Codec) -> Self {
        let name = c.name.to_ascii_lowercase();
        let params = match name.as_str() {
            "h264" => {
                let mode = c.param("packetization-mode").unwrap_or("0").to_string();
                let profile = c
                    .param("profile-level-id")
                    .map(|p| p.get(..4).unwrap_or(p).to_ascii_lowercase())
                    .unwrap_or_else(|| "4200".into());
                Some((mode, profile))
            }
            "vp9" => Some((
                c.param("profile-id").unwrap_or("0").to_string(),
                String::new(),
            )),
            "av1" => Some((c.param("profile").unwrap_or("0").to_string(), String::new())),
            _ => None,
        };
        Self {
            name,
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
        let (name, clock_rate, channels) = match lines.rtpmap[usize::from(pt)] {
            Some(r) => (r.encoding.to_string(), r.clock_rate, r.channels),
            None => match static_payload(pt) {
                Some((n, c, ch)) => (n.to_string(), c, ch),
                None => continue,
            },
        };
        let fmtp = lines.fmtp[usize::from(pt)]
            .filter(|p| !p.is_empty())
            .map(String::from);
        out.push(Codec {
            payload_type: pt,
            name,
            clock_rate,
            channels,
            fmtp,
            feedback: lines.feedback(pt),
        });
    }
    out
}

fn static_payload(pt: u8) -> Option<(&'static str, u32, Option<u16>)> {
    match pt {
        0 => Some(("PCMU", 8000, None)),
        8 => Some(("PCMA", 8000, None)),
        9 => Some(("G722", 8000, None)),
        13 => Some(("CN", 8000, None)),
        _ => None,
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
            let fmtp = l.fmtp.clone().or_else(|| o.fmtp.clone());
            accepted_pt[usize::from(o.payload_type)] = true;
            *slot = Some(Codec {
                payload_type: o.payload_type,
                name: o.name.clone(),
                fmtp,
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
            let apt = o.param("apt").and_then(|a| a.parse::<u8>().ok());
            if apt.is_some_and(|apt| accepted_pt[usize::from(apt)]) {
                *slot = Some(Codec {
                    feedback: Vec::new(),
                    ..o.clone()
                });
            }
        }
    }
    // In the offer's order.
    accepted.into_iter().flatten().collect()
}
