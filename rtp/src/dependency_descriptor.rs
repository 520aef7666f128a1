//! The Dependency Descriptor RTP header extension (AV1 RTP specification, appendix A), what a
//! forwarding server reads to select layers of AV1 (and, in browsers, VP8/VP9/H.264) without
//! parsing the payload: the mandatory fields (start and end of frame, frame dependency template
//! ID, frame number), the template dependency structure (decode targets, templates with their
//! layers, decode target indications, frame diffs and chains, render resolutions), active
//! decode targets, and per-frame custom indications, diffs and chains.
//!
//! The fields after the mandatory ones depend on the structure in effect, which a sender
//! attaches to key frames only: [`DependencyDescriptor::parse`] takes the last structure
//! received.

use crate::bits::BitReader;
use crate::packetize::{DepacketizeError, WriteError};

/// The `a=extmap` URI of the dependency descriptor.
pub const URI: &str =
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension";

/// Most templates a structure holds (template IDs are 6 bits).
pub const MAX_TEMPLATES: usize = 64;
/// Most decode targets (dt_cnt_minus_one is 5 bits).
pub const MAX_DECODE_TARGETS: usize = 32;

/// How a frame matters to a decode target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeTargetIndication {
    /// Not part of the decode target.
    NotPresent,
    /// Part of it, but no later frame of the target depends on it.
    Discardable,
    /// A switch point: decoding the target can start here.
    Switch,
    /// Part of it, and later frames depend on it.
    Required,
}

impl DecodeTargetIndication {
    fn from_bits(v: u32) -> Self {
        match v & 3 {
            0 => Self::NotPresent,
            1 => Self::Discardable,
            2 => Self::Switch,
            _ => Self::Required,
        }
    }

    fn bits(self) -> u32 {
        match self {
            Self::NotPresent => 0,
            Self::Discardable => 1,
            Self::Switch => 2,
            Self::Required => 3,
        }
    }
}

/// One frame template of a structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameTemplate {
    /// The spatial layer of frames using this template.
    pub spatial_id: u8,
    /// The temporal layer of frames using this template.
    pub temporal_id: u8,
    /// One indication per decode target.
    pub dtis: Vec<DecodeTargetIndication>,
    /// How many frames back each referenced frame is (1..=16).
    pub fdiffs: Vec<u8>,
    /// Per chain, how many frames back the previous frame of the chain is (0..=15).
    pub chain_fdiffs: Vec<u8>,
}

/// The template dependency structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameDependencyStructure {
    /// The template ID of the first template (6 bits); the others follow, wrapping at 64.
    pub template_id_offset: u8,
    /// Number of decode targets (1..=32).
    pub decode_target_count: u8,
    /// The templates (1..=64), ordered by spatial then temporal layer.
    pub templates: Vec<FrameTemplate>,
    /// Number of chains (0..=decode_target_count).
    pub chain_count: u8,
    /// For each decode target, the chain protecting it (empty without chains).
    pub decode_target_protected_by: Vec<u8>,
    /// Max render width and height (1..=65536) per spatial layer, when sent.
    pub resolutions: Option<Vec<(u32, u32)>>,
}

impl FrameDependencyStructure {
    /// The template a frame's template ID refers to.
    pub fn template(&self, template_id: u8) -> Option<&FrameTemplate> {
        let index = (usize::from(template_id) + MAX_TEMPLATES
            - usize::from(self.template_id_offset))
            % MAX_TEMPLATES;
        self.templates.get(index)
    }

    fn max_spatial_id(&self) -> u8 {
        self.templates.last().map_or(0, |t| t.spatial_id)
    }

    fn read(r: &mut BitReader<'_>) -> Option<Self> {
        let template_id_offset = r.bits(6)? as u8;
        let dt_count = r.bits(5)? as usize + 1;
        let mut templates = Vec::new();
        let (mut spatial_id, mut temporal_id) = (0u8, 0u8);
        loop {
            if templates.len() == MAX_TEMPLATES {
                return None;
            }
            templates.push(FrameTemplate {
                spatial_id,
                temporal_id,
                dtis: Vec::new(),
                fdiffs: Vec::new(),
                chain_fdiffs: Vec::new(),
            });
            match r.bits(2)? {
                0 => {}
                1 => temporal_id = temporal_id.checked_add(1)?,
                2 => {
                    temporal_id = 0;
                    spatial_id = spatial_id.checked_add(1)?;
                }
                _ => break,
            }
        }
        for t in &mut templates {
            for _ in 0..dt_count {
                t.dtis.push(DecodeTargetIndication::from_bits(r.bits(2)?));
            }
        }
        for t in &mut templates {
            while r.bits(1)? == 1 {
                if t.fdiffs.len() == 16 {
                    return None;
                }
                t.fdiffs.push(r.bits(4)? as u8 + 1);
            }
        }
        let chain_count = r.ns(dt_count as u32 + 1)? as u8;
        let mut decode_target_protected_by = Vec::new();
        if chain_count > 0 {
            for _ in 0..dt_count {
                decode_target_protected_by.push(r.ns(u32::from(chain_count))? as u8);
            }
            for t in &mut templates {
                for _ in 0..chain_count {
                    t.chain_fdiffs.push(r.bits(4)? as u8);
                }
            }
        }
        let mut s = Self {
            template_id_offset,
            decode_target_count: dt_count as u8,
            templates,
            chain_count,
            decode_target_protected_by,
            resolutions: None,
        };
        if r.bits(1)? == 1 {
            let mut res = Vec::new();
            for _ in 0..=s.max_spatial_id() {
                res.push((r.bits(16)? + 1, r.bits(16)? + 1));
            }
            s.resolutions = Some(res);
        }
        Some(s)
    }

    fn validate(&self) -> Result<(), WriteError> {
        let bad = WriteError::FieldOverflow;
        let dt = usize::from(self.decode_target_count);
        if self.template_id_offset > 63 || !(1..=MAX_DECODE_TARGETS).contains(&dt) {
            return Err(bad("dependency structure offset or decode target count"));
        }
        if self.templates.is_empty() || self.templates.len() > MAX_TEMPLATES {
            return Err(bad("dependency structure needs 1..=64 templates"));
        }
        if usize::from(self.chain_count) > dt
            || self.decode_target_protected_by.len() != if self.chain_count > 0 { dt } else { 0 }
            || self
                .decode_target_protected_by
                .iter()
                .any(|&c| c >= self.chain_count)
        {
            return Err(bad("dependency structure chains"));
        }
        let mut previous: Option<(u8, u8)> = None;
        for t in &self.templates {
            let layer_ok = match previous {
                None => (t.spatial_id, t.temporal_id) == (0, 0),
                Some((s, tid)) => {
                    (t.spatial_id == s
                        && (t.temporal_id == tid || Some(t.temporal_id) == tid.checked_add(1)))
                        || (Some(t.spatial_id) == s.checked_add(1) && t.temporal_id == 0)
                }
            };
            if !layer_ok
                || t.dtis.len() != dt
                || t.fdiffs.len() > 16
                || t.fdiffs.iter().any(|&f| !(1..=16).contains(&f))
                || t.chain_fdiffs.len() != usize::from(self.chain_count)
                || t.chain_fdiffs.iter().any(|&f| f > 15)
            {
                return Err(bad("dependency structure template"));
            }
            previous = Some((t.spatial_id, t.temporal_id));
        }
        if let Some(res) = &self.resolutions {
            if res.len() != usize::from(self.max_spatial_id()) + 1
                || res
                    .iter()
                    .any(|&(w, h)| !(1..=65536).contains(&w) || !(1..=65536).contains(&h))
            {
                return Err(bad("dependency structure resolutions"));
            }
        }
        Ok(())
    }

    fn write(&self, w: &mut BitWriter<'_>) {
        w.bits(u32::from(self.template_id_offset), 6);
        w.bits(u32::from(self.decode_target_count) - 1, 5);
        for pair in self.templates.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let idc = if b.spatial_id != a.spatial_id {
                2
            } else if b.temporal_id != a.temporal_id {
                1
            } else {
                0
            };
            w.bits(idc, 2);
        }
        w.bits(3, 2);
        for t in &self.templates {
            for d in &t.dtis {
                w.bits(d.bits(), 2);
            }
        }
        for t in &self.templates {
            for &f in &t.fdiffs {
                w.bits(1, 1);
                w.bits(u32::from(f) - 1, 4);
            }
            w.bits(0, 1);
        }
        w.ns(
            u32::from(self.decode_target_count) + 1,
            u32::from(self.chain_count),
        );
        if self.chain_count > 0 {
            for &c in &self.decode_target_protected_by {
                w.ns(u32::from(self.chain_count), u32::from(c));
            }
            for t in &self.templates {
                for &f in &t.chain_fdiffs {
                    w.bits(u32::from(f), 4);
                }
            }
        }
        w.bits(u32::from(self.resolutions.is_some()), 1);
        if let Some(res) = &self.resolutions {
            for &(width, height) in res {
                w.bits(width - 1, 16);
                w.bits(height - 1, 16);
            }
        }
    }
}

/// A dependency descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyDescriptor {
    /// The packet is the first of a frame.
    pub start_of_frame: bool,
    /// The packet is the last of a frame.
    pub end_of_frame: bool,
    /// The frame's template ID (6 bits).
    pub template_id: u8,
    /// The frame number (16 bits, wrapping).
    pub frame_number: u16,
    /// A new template dependency structure (sent on key frames).
    pub structure: Option<FrameDependencyStructure>,
    /// Which decode targets are active (bit i for decode target i), when sent.
    pub active_decode_targets: Option<u32>,
    /// The frame's own decode target indications instead of its template's.
    pub custom_dtis: Option<Vec<DecodeTargetIndication>>,
    /// The frame's own frame diffs (1..=4096) instead of its template's.
    pub custom_fdiffs: Option<Vec<u16>>,
    /// The frame's own chain diffs instead of its template's.
    pub custom_chain_fdiffs: Option<Vec<u8>>,
}

impl DependencyDescriptor {
    /// A descriptor with only the mandatory fields.
    pub fn new(
        start_of_frame: bool,
        end_of_frame: bool,
        template_id: u8,
        frame_number: u16,
    ) -> Self {
        Self {
            start_of_frame,
            end_of_frame,
            template_id,
            frame_number,
            structure: None,
            active_decode_targets: None,
            custom_dtis: None,
            custom_fdiffs: None,
            custom_chain_fdiffs: None,
        }
    }

    /// Reads a descriptor from the extension element `data`. `structure` is the structure in
    /// effect (the last one received); it is needed for the optional fields unless `data`
    /// carries a new one. A template ID the structure lacks is an error.
    pub fn parse(
        data: &[u8],
        structure: Option<&FrameDependencyStructure>,
    ) -> Result<Self, DepacketizeError> {
        let truncated = || DepacketizeError::Truncated("dependency descriptor");
        let [b0, hi, lo, ..] = *data else {
            return Err(truncated());
        };
        let mut d = Self::new(
            b0 & 0x80 != 0,
            b0 & 0x40 != 0,
            b0 & 0x3F,
            u16::from_be_bytes([hi, lo]),
        );
        if data.len() == 3 {
            if let Some(s) = structure {
                s.template(d.template_id)
                    .ok_or(DepacketizeError::Unsupported("unknown dependency template"))?;
            }
            return Ok(d);
        }
        let mut r = BitReader::new(&data[3..]);
        let f = r.bits(5).ok_or_else(truncated)?;
        let (has_structure, has_active, custom_dtis, custom_fdiffs, custom_chains) = (
            f & 0x10 != 0,
            f & 0x08 != 0,
            f & 0x04 != 0,
            f & 0x02 != 0,
            f & 0x01 != 0,
        );
        if has_structure {
            d.structure = Some(FrameDependencyStructure::read(&mut r).ok_or(
                DepacketizeError::Truncated("dependency descriptor structure"),
            )?);
        }
        let in_effect = d.structure.as_ref().or(structure);
        let needs_structure = has_active || custom_dtis || custom_fdiffs || custom_chains;
        let Some(s) = in_effect else {
            if needs_structure {
                return Err(DepacketizeError::Unsupported(
                    "dependency descriptor without a structure",
                ));
            }
            return Ok(d);
        };
        s.template(d.template_id)
            .ok_or(DepacketizeError::Unsupported("unknown dependency template"))?;
        let dt = u32::from(s.decode_target_count);
        if has_active {
            d.active_decode_targets = Some(r.bits(dt as usize).ok_or_else(truncated)?);
        }
        if custom_dtis {
            let mut v = Vec::new();
            for _ in 0..dt {
                v.push(DecodeTargetIndication::from_bits(
                    r.bits(2).ok_or_else(truncated)?,
                ));
            }
            d.custom_dtis = Some(v);
        }
        if custom_fdiffs {
            let mut v = Vec::new();
            loop {
                let size = r.bits(2).ok_or_else(truncated)? as usize;
                if size == 0 {
                    break;
                }
                if v.len() == 16 {
                    return Err(DepacketizeError::Unsupported(
                        "more than 16 dependency frame diffs",
                    ));
                }
                v.push(r.bits(4 * size).ok_or_else(truncated)? as u16 + 1);
            }
            d.custom_fdiffs = Some(v);
        }
        if custom_chains {
            let mut v = Vec::new();
            for _ in 0..s.chain_count {
                v.push(r.bits(8).ok_or_else(truncated)? as u8);
            }
            d.custom_chain_fdiffs = Some(v);
        }
        Ok(d)
    }

    /// The structure in effect for this descriptor: its own, else `previous`.
    pub fn structure_in_effect<'a>(
        &'a self,
        previous: Option<&'a FrameDependencyStructure>,
    ) -> Option<&'a FrameDependencyStructure> {
        self.structure.as_ref().or(previous)
    }

    /// Appends the descriptor to `out` (the extension element's data). `structure` is the one in
    /// effect when the descriptor carries none but has optional fields. Values that do not fit,
    /// or optional fields without a structure, are an error and leave `out` as it was.
    pub fn write(
        &self,
        structure: Option<&FrameDependencyStructure>,
        out: &mut Vec<u8>,
    ) -> Result<usize, WriteError> {
        let bad = WriteError::FieldOverflow;
        if self.template_id > 63 {
            return Err(bad("dependency template ID over 63"));
        }
        if let Some(s) = &self.structure {
            s.validate()?;
        }
        let in_effect = self.structure.as_ref().or(structure);
        let extended = self.structure.is_some()
            || self.active_decode_targets.is_some()
            || self.custom_dtis.is_some()
            || self.custom_fdiffs.is_some()
            || self.custom_chain_fdiffs.is_some();
        if let Some(s) = in_effect {
            if s.template(self.template_id).is_none() {
                return Err(bad("dependency template ID not in the structure"));
            }
            let dt = usize::from(s.decode_target_count);
            if self
                .active_decode_targets
                .is_some_and(|a| dt < 32 && a >> dt != 0)
                || self.custom_dtis.as_ref().is_some_and(|v| v.len() != dt)
                || self
                    .custom_chain_fdiffs
                    .as_ref()
                    .is_some_and(|v| v.len() != usize::from(s.chain_count))
            {
                return Err(bad(
                    "dependency descriptor fields do not match the structure",
                ));
            }
        } else if extended {
            return Err(bad("dependency descriptor fields need a structure"));
        }
        if let Some(v) = &self.custom_fdiffs {
            if v.len() > 16 || v.iter().any(|&f| !(1..=4096).contains(&f)) {
                return Err(bad("dependency frame diffs"));
            }
        }
        let start = out.len();
        out.push(
            (u8::from(self.start_of_frame) << 7)
                | (u8::from(self.end_of_frame) << 6)
                | self.template_id,
        );
        out.extend_from_slice(&self.frame_number.to_be_bytes());
        if extended {
            let mut w = BitWriter { out, bit: 0 };
            for flag in [
                self.structure.is_some(),
                self.active_decode_targets.is_some(),
                self.custom_dtis.is_some(),
                self.custom_fdiffs.is_some(),
                self.custom_chain_fdiffs.is_some(),
            ] {
                w.bits(u32::from(flag), 1);
            }
            if let Some(s) = &self.structure {
                s.write(&mut w);
            }
            let s = in_effect.expect("extended fields have a structure (checked above)");
            if let Some(a) = self.active_decode_targets {
                w.bits(a, usize::from(s.decode_target_count));
            }
            for d in self.custom_dtis.iter().flatten() {
                w.bits(d.bits(), 2);
            }
            if let Some(v) = &self.custom_fdiffs {
                for &f in v {
                    let minus = u32::from(f - 1);
                    let size = match minus {
                        0..=0xF => 1,
                        0x10..=0xFF => 2,
                        _ => 3,
                    };
                    w.bits(size, 2);
                    w.bits(minus, 4 * size as usize);
                }
                w.bits(0, 2);
            }
            for &c in self.custom_chain_fdiffs.iter().flatten() {
                w.bits(u32::from(c), 8);
            }
        }
        Ok(out.len() - start)
    }
}

/// Appends bits most significant first; a partial last byte is padded with zeros.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Bits used in the last byte (0 = start a new byte).
    bit: u8,
}

impl BitWriter<'_> {
    fn bits(&mut self, v: u32, n: usize) {
        for i in (0..n).rev() {
            if self.bit == 0 {
                self.out.push(0);
            }
            let last = self.out.last_mut().expect("a byte was pushed");
            *last |= (((v >> i) & 1) as u8) << (7 - self.bit);
            self.bit = (self.bit + 1) % 8;
        }
    }

    /// Writes `v` (below `n`) as a non-symmetric unsigned value.
    fn ns(&mut self, n: u32, v: u32) {
        let w = u32::BITS - n.leading_zeros();
        let m = (1u32 << w) - n;
        if v < m {
            self.bits(v, w as usize - 1);
        } else {
            let t = v + m;
            self.bits(t >> 1, w as usize - 1);
            self.bits(t & 1, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DecodeTargetIndication::{Discardable as D, NotPresent as N, Switch as S};
    use super::*;

    /// L1T2 as libwebrtc describes it: two decode targets (T0, T0+T1), one chain.
    fn l1t2() -> FrameDependencyStructure {
        let t =
            |temporal_id, dtis: [DecodeTargetIndication; 2], fdiffs: &[u8], chain| FrameTemplate {
                spatial_id: 0,
                temporal_id,
                dtis: dtis.to_vec(),
                fdiffs: fdiffs.to_vec(),
                chain_fdiffs: vec![chain],
            };
        FrameDependencyStructure {
            template_id_offset: 0,
            decode_target_count: 2,
            templates: vec![
                t(0, [S, S], &[], 0),
                t(0, [S, S], &[2], 2),
                t(1, [N, D], &[1], 1),
            ],
            chain_count: 1,
            decode_target_protected_by: vec![0, 0],
            resolutions: Some(vec![(320, 180)]),
        }
    }

    /// The L1T2 key frame descriptor, bit by bit: mandatory (S, E, template 0, frame 1);
    /// flags 10000; offset 0, dt_cnt-1 = 1; layers 00 01 11; DTIs 1010 1010 0001; fdiffs 0,
    /// 1 0001 0, 1 0000 0; chain_cnt ns(3) = 1 as 10; chain fdiffs 0000 0010 0001;
    /// resolutions 1, 319, 179; zero padding.
    const L1T2_KEY: [u8; 15] = [
        0xC0, 0x00, 0x01, 0x80, 0x01, 0x1E, 0xA8, 0x51, 0x41, 0x01, 0x0C, 0x04, 0xFC, 0x02, 0xCC,
    ];

    #[test]
    fn mandatory_fields_by_hand() {
        let d = DependencyDescriptor::parse(&[0x85, 0x12, 0x34], None).unwrap();
        assert_eq!(d, DependencyDescriptor::new(true, false, 5, 0x1234));
        let mut out = Vec::new();
        assert_eq!(d.write(None, &mut out), Ok(3));
        assert_eq!(out, [0x85, 0x12, 0x34]);
        assert!(DependencyDescriptor::parse(&[0x85, 0x12], None).is_err());
    }

    #[test]
    fn a_structure_by_hand() {
        let mut d = DependencyDescriptor::new(true, true, 0, 1);
        d.structure = Some(l1t2());
        let mut out = Vec::new();
        d.write(None, &mut out).unwrap();
        assert_eq!(out, L1T2_KEY);
        let parsed = DependencyDescriptor::parse(&L1T2_KEY, None).unwrap();
        assert_eq!(parsed, d);
        let s = parsed.structure.unwrap();
        assert_eq!(s.template(2).unwrap().temporal_id, 1);
        assert!(s.template(3).is_none());
        // A later frame: template 2 with custom fdiffs and chains and active targets.
        let mut f = DependencyDescriptor::new(true, true, 2, 2);
        f.active_decode_targets = Some(0b01);
        f.custom_dtis = Some(vec![N, D]);
        f.custom_fdiffs = Some(vec![1, 300]);
        f.custom_chain_fdiffs = Some(vec![7]);
        let mut out = Vec::new();
        f.write(Some(&s), &mut out).unwrap();
        assert_eq!(DependencyDescriptor::parse(&out, Some(&s)).unwrap(), f);
        // Without the structure, the optional fields cannot be read or written.
        assert!(DependencyDescriptor::parse(&out, None).is_err());
        assert!(f.write(None, &mut Vec::new()).is_err());
        // An unknown template is an error.
        assert!(DependencyDescriptor::parse(&[0x83, 0, 3], Some(&s)).is_err());
    }

    #[test]
    fn invalid_structures_are_not_written() {
        let mut d = DependencyDescriptor::new(true, true, 0, 1);
        let mut s = l1t2();
        s.templates[0].temporal_id = 1;
        d.structure = Some(s);
        let mut out = vec![9];
        assert!(d.write(None, &mut out).is_err());
        assert_eq!(out, [9]);
    }

    #[test]
    fn ns_values_round_trip() {
        for n in 1..40u32 {
            for v in 0..n {
                let mut out = Vec::new();
                let mut w = BitWriter {
                    out: &mut out,
                    bit: 0,
                };
                w.ns(n, v);
                w.bits(0, 8);
                let mut r = BitReader::new(&out);
                assert_eq!(r.ns(n), Some(v), "ns({n}) of {v}");
            }
        }
    }
}
