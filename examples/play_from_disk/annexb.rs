//! Annex B H.264 and H.265 elementary streams (NAL units behind `00 00 01` start codes, as
//! `ffmpeg -f h264` / `-f hevc` writes them) split into access units: a new one starts at an
//! access unit delimiter, or, after a picture's slices, at a parameter set, an SEI or another
//! prefix NAL unit, or at the first slice of a new picture (`first_mb_in_slice == 0` in
//! H.264, `first_slice_segment_in_pic_flag` in H.265). A total parser: garbage is an error.

use sansrtc::rtp::packetize::h264::nal_units;

/// One access unit: its NAL units behind 4-byte start codes, and whether it is a key frame
/// (H.264 IDR, H.265 IRAP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AccessUnit {
    pub(crate) data: Vec<u8>,
    pub(crate) keyframe: bool,
}

/// Which of the two syntaxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    H264,
    H265,
}

/// What one NAL unit means for the access unit boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A slice; `first`: the first of its picture; `key`: of an IDR / IRAP picture.
    Slice { first: bool, key: bool },
    /// Starts a new access unit when it follows a slice (AUD, parameter sets, SEI, ...).
    Prefix,
    /// Belongs to the access unit it is in (end of sequence, filler, suffix SEI, ...).
    Other,
}

fn role(syntax: Syntax, nal: &[u8]) -> Role {
    match syntax {
        Syntax::H264 => {
            let t = nal[0] & 0x1F;
            match t {
                1..=5 => Role::Slice {
                    // first_mb_in_slice is ue(v): 0 is a single 1 bit.
                    first: nal.get(1).is_some_and(|b| b & 0x80 != 0),
                    key: t == 5,
                },
                6..=9 | 14..=18 => Role::Prefix,
                _ => Role::Other,
            }
        }
        Syntax::H265 => {
            let t = (nal[0] >> 1) & 0x3F;
            match t {
                0..=31 => Role::Slice {
                    first: nal.get(2).is_some_and(|b| b & 0x80 != 0),
                    key: (16..=23).contains(&t),
                },
                32..=35 | 39 | 41..=44 | 48..=55 => Role::Prefix,
                _ => Role::Other,
            }
        }
    }
}

/// Splits a whole Annex B stream into access units.
pub(crate) fn access_units(syntax: Syntax, stream: &[u8]) -> Result<Vec<AccessUnit>, String> {
    let start = stream.iter().position(|&b| b != 0).unwrap_or(stream.len());
    if start < 2 || stream.get(start) != Some(&1) {
        return Err("not an Annex B stream (no start code at the beginning)".into());
    }
    let header = match syntax {
        Syntax::H264 => 1,
        Syntax::H265 => 2,
    };
    let mut units = Vec::new();
    let mut current = AccessUnit {
        data: Vec::new(),
        keyframe: false,
    };
    // The current access unit holds a slice.
    let mut has_slice = false;
    for nal in nal_units(stream) {
        if nal.len() < header || nal[0] & 0x80 != 0 {
            return Err("malformed NAL unit (short, or forbidden bit set)".into());
        }
        let r = role(syntax, nal);
        let boundary = has_slice
            && match r {
                Role::Slice { first, .. } => first,
                Role::Prefix => true,
                Role::Other => false,
            };
        if boundary {
            units.push(std::mem::replace(
                &mut current,
                AccessUnit {
                    data: Vec::new(),
                    keyframe: false,
                },
            ));
            has_slice = false;
        }
        if let Role::Slice { key, .. } = r {
            has_slice = true;
            current.keyframe |= key;
        }
        current.data.extend_from_slice(&[0, 0, 0, 1]);
        current.data.extend_from_slice(nal);
    }
    // NAL units after the last slice (an end of stream) go with it; none without a slice.
    if has_slice {
        units.push(current);
    }
    if units.is_empty() {
        return Err("no slice in the stream".into());
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(nals: &[&[u8]]) -> Vec<u8> {
        nals.iter()
            .flat_map(|n| [&[0u8, 0, 0, 1][..], n].concat())
            .collect()
    }

    // H.264: SPS, PPS, IDR slice (first), P slice (first), P slice (second slice), AUD, P.
    const SPS: &[u8] = &[0x67, 0x42, 0xC0, 0x1F];
    const PPS: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];
    const IDR: &[u8] = &[0x65, 0x88, 0x84];
    const P_FIRST: &[u8] = &[0x41, 0x9A, 0x02];
    const P_SECOND: &[u8] = &[0x41, 0x40, 0x02];
    const AUD: &[u8] = &[0x09, 0xF0];

    #[test]
    fn h264_access_units() {
        let s = stream(&[SPS, PPS, IDR, P_FIRST, P_SECOND, AUD, P_FIRST, P_FIRST]);
        let units = access_units(Syntax::H264, &s).unwrap();
        assert_eq!(units.len(), 4);
        assert_eq!(units[0].data, stream(&[SPS, PPS, IDR]));
        assert!(units[0].keyframe);
        assert_eq!(units[1].data, stream(&[P_FIRST, P_SECOND]));
        assert!(!units[1].keyframe);
        assert_eq!(units[2].data, stream(&[AUD, P_FIRST]));
        assert_eq!(units[3].data, stream(&[P_FIRST]));
    }

    #[test]
    fn h265_access_units() {
        // VPS, SPS, PPS, IDR_W_RADL (first), TRAIL_R (first), TRAIL_R (not first).
        let (vps, sps, pps): (&[u8], &[u8], &[u8]) = (
            &[0x40, 0x01, 0x0C],
            &[0x42, 0x01, 0x01],
            &[0x44, 0x01, 0xC1],
        );
        let idr: &[u8] = &[0x26, 0x01, 0xAF];
        let (trail, trail2): (&[u8], &[u8]) = (&[0x02, 0x01, 0xD0], &[0x02, 0x01, 0x50]);
        let units =
            access_units(Syntax::H265, &stream(&[vps, sps, pps, idr, trail, trail2])).unwrap();
        assert_eq!(units.len(), 2);
        assert!(units[0].keyframe && !units[1].keyframe);
        assert_eq!(units[1].data, stream(&[trail, trail2]));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(access_units(Syntax::H264, b"").is_err());
        assert!(access_units(Syntax::H264, &[0xFF; 64]).is_err());
        // Parameter sets and no slice.
        assert!(access_units(Syntax::H264, &stream(&[SPS, PPS])).is_err());
        // The forbidden bit.
        assert!(access_units(Syntax::H264, &stream(&[&[0x85, 1, 2]])).is_err());
        let good = stream(&[SPS, PPS, IDR, P_FIRST]);
        for n in 0..good.len() {
            let _ = access_units(Syntax::H264, &good[..n]);
            let _ = access_units(Syntax::H265, &good[..n]);
        }
        let mut x = 0x9E37_79B9u32;
        for len in 0..500 {
            let mut data = vec![0, 0, 1];
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                data.push((x % 7) as u8);
            }
            let _ = access_units(Syntax::H264, &data);
            let _ = access_units(Syntax::H265, &data);
        }
    }
}
