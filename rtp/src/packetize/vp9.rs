//! VP9 payloads (RFC 9628): a payload descriptor before each piece of a layer frame, in flexible
//! mode (reference indices per picture) or non-flexible mode (TL0PICIDX and a scalability
//! structure describing the picture group), with the picture ID and the layer indices a
//! forwarding server reads to switch spatial and temporal layers.
//!
//! The packetizer writes non-flexible mode with one spatial and one temporal layer (a 15-bit
//! picture ID, TL0PICIDX, and a scalability structure with the resolution on key frames), what
//! browsers expect from a simple sender. The depacketizer takes either mode and joins a whole
//! picture (every spatial layer up to the RTP marker) into one frame.

use super::{
    Assembler, DEFAULT_MAX_FRAME, DepacketizeError, Frame, Payloads, WriteError, even_split,
};
use crate::bits::BitReader;

/// Most spatial layers a scalability structure describes (N_S is 3 bits).
pub const MAX_SPATIAL_LAYERS: usize = 8;
/// Most reference indices (P_DIFF) a flexible-mode descriptor or a picture group entry has.
pub const MAX_REFERENCES: usize = 3;

/// A picture ID: 7 bits (M=0) or 15 bits (M=1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureId {
    /// A 7-bit picture ID (one byte on the wire).
    Short(u8),
    /// A 15-bit picture ID (two bytes on the wire).
    Long(u16),
}

impl PictureId {
    /// The picture ID's value.
    pub fn value(self) -> u16 {
        match self {
            Self::Short(v) => u16::from(v),
            Self::Long(v) => v,
        }
    }
}

/// The layer indices (the L byte, and TL0PICIDX in non-flexible mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp9Layers {
    /// The temporal layer ID (TID, 0..=7).
    pub temporal_id: u8,
    /// Switching up point (U): from this frame on, a receiver can switch up to a higher
    /// temporal layer.
    pub switching_up: bool,
    /// The spatial layer ID (SID, 0..=7).
    pub spatial_id: u8,
    /// Inter-layer dependency (D): this layer frame depends on the spatial layer below.
    pub inter_layer_dependency: bool,
    /// TL0PICIDX: the running index of base temporal layer pictures (non-flexible mode only).
    pub tl0_pic_idx: Option<u8>,
}

/// Up to three reference indices: how many pictures back each reference is (P_DIFF, 1..=127).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct References {
    diffs: [u8; MAX_REFERENCES],
    len: u8,
}

impl References {
    /// References from `diffs` (at most three; each 1..=127 for a descriptor, 0..=255 in a
    /// picture group).
    pub fn new(diffs: &[u8]) -> Result<Self, WriteError> {
        if diffs.len() > MAX_REFERENCES {
            return Err(WriteError::FieldOverflow(
                "more than 3 VP9 reference indices",
            ));
        }
        let mut r = Self::default();
        r.diffs[..diffs.len()].copy_from_slice(diffs);
        r.len = diffs.len() as u8;
        Ok(r)
    }

    /// The reference indices, in wire order.
    pub fn as_slice(&self) -> &[u8] {
        &self.diffs[..usize::from(self.len)]
    }

    fn push(&mut self, diff: u8) {
        self.diffs[usize::from(self.len)] = diff;
        self.len += 1;
    }
}

/// One picture of the picture group a scalability structure describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PictureGroupEntry {
    /// The temporal layer ID of the picture (0..=7).
    pub temporal_id: u8,
    /// Its switching up point bit.
    pub switching_up: bool,
    /// Its reference indices (P_DIFF, 8 bits each).
    pub references: References,
}

/// The scalability structure (SS, the V bit): the spatial layers' resolutions and the
/// picture group's temporal structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalabilityStructure {
    /// Number of spatial layers (1..=8).
    pub spatial_layers: u8,
    /// Width and height of each spatial layer, when sent (Y=1).
    pub resolutions: Option<[(u16, u16); MAX_SPATIAL_LAYERS]>,
    /// The picture group (G=1), at most 255 entries; `None` when not sent.
    pub picture_group: Option<Vec<PictureGroupEntry>>,
}

impl ScalabilityStructure {
    /// The resolution of `spatial_layer`, when sent.
    pub fn resolution(&self, spatial_layer: u8) -> Option<(u16, u16)> {
        let r = self.resolutions?;
        (spatial_layer < self.spatial_layers).then(|| r[usize::from(spatial_layer)])
    }

    fn encoded_len(&self) -> usize {
        let mut n = 1;
        if self.resolutions.is_some() {
            n += 4 * usize::from(self.spatial_layers);
        }
        if let Some(pg) = &self.picture_group {
            n += 1 + pg
                .iter()
                .map(|e| 1 + e.references.as_slice().len())
                .sum::<usize>();
        }
        n
    }

    fn parse(data: &[u8]) -> Result<(Self, usize), DepacketizeError> {
        let truncated = || DepacketizeError::Truncated("VP9 scalability structure");
        let &b = data.first().ok_or_else(truncated)?;
        let spatial_layers = (b >> 5) + 1;
        let mut at = 1;
        let resolutions = if b & 0x10 != 0 {
            let n = usize::from(spatial_layers);
            let bytes = data.get(at..at + 4 * n).ok_or_else(truncated)?;
            at += 4 * n;
            let mut r = [(0u16, 0u16); MAX_SPATIAL_LAYERS];
            for (slot, c) in r.iter_mut().zip(bytes.chunks_exact(4)) {
                *slot = (
                    u16::from_be_bytes([c[0], c[1]]),
                    u16::from_be_bytes([c[2], c[3]]),
                );
            }
            Some(r)
        } else {
            None
        };
        let picture_group = if b & 0x08 != 0 {
            let &count = data.get(at).ok_or_else(truncated)?;
            at += 1;
            let mut entries = Vec::new();
            for _ in 0..count {
                let &e = data.get(at).ok_or_else(truncated)?;
                at += 1;
                let refs = usize::from((e >> 2) & 0x03);
                let diffs = data.get(at..at + refs).ok_or_else(truncated)?;
                at += refs;
                let mut references = References::default();
                for &d in diffs {
                    references.push(d);
                }
                entries.push(PictureGroupEntry {
                    temporal_id: e >> 5,
                    switching_up: e & 0x10 != 0,
                    references,
                });
            }
            Some(entries)
        } else {
            None
        };
        Ok((
            Self {
                spatial_layers,
                resolutions,
                picture_group,
            },
            at,
        ))
    }

    fn validate(&self) -> Result<(), WriteError> {
        if !(1..=8).contains(&self.spatial_layers) {
            return Err(WriteError::FieldOverflow("VP9 spatial layers not 1..=8"));
        }
        if let Some(pg) = &self.picture_group {
            if pg.len() > 255 {
                return Err(WriteError::FieldOverflow("VP9 picture group over 255"));
            }
            if pg.iter().any(|e| e.temporal_id > 7) {
                return Err(WriteError::FieldOverflow("VP9 picture group TID over 7"));
            }
        }
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) {
        let mut b = (self.spatial_layers - 1) << 5;
        if self.resolutions.is_some() {
            b |= 0x10;
        }
        if self.picture_group.is_some() {
            b |= 0x08;
        }
        out.push(b);
        if let Some(r) = &self.resolutions {
            for (w, h) in &r[..usize::from(self.spatial_layers)] {
                out.extend_from_slice(&w.to_be_bytes());
                out.extend_from_slice(&h.to_be_bytes());
            }
        }
        if let Some(pg) = &self.picture_group {
            out.push(pg.len() as u8);
            for e in pg {
                let refs = e.references.as_slice();
                out.push(
                    (e.temporal_id << 5)
                        | (u8::from(e.switching_up) << 4)
                        | ((refs.len() as u8) << 2),
                );
                out.extend_from_slice(refs);
            }
        }
    }
}

/// What a VP9 payload descriptor says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vp9Descriptor {
    /// The picture ID (I=1).
    pub picture_id: Option<PictureId>,
    /// Inter-picture predicted (P): the layer frame references an earlier picture. A layer
    /// frame with P=0 at spatial layer 0 is a key frame.
    pub inter_picture: bool,
    /// Flexible mode (F): reference indices in the descriptor, no TL0PICIDX.
    pub flexible: bool,
    /// Start of a layer frame (B).
    pub start_of_frame: bool,
    /// End of a layer frame (E).
    pub end_of_frame: bool,
    /// Not a reference for upper spatial layers (Z).
    pub not_upper_reference: bool,
    /// The layer indices (L=1).
    pub layers: Option<Vp9Layers>,
    /// The reference indices (flexible mode with P=1).
    pub references: References,
    /// The scalability structure (V=1).
    pub scalability: Option<ScalabilityStructure>,
}

impl Vp9Descriptor {
    /// Reads the descriptor at the start of `payload`; returns it and where the VP9 data
    /// starts.
    pub fn parse(payload: &[u8]) -> Result<(Self, usize), DepacketizeError> {
        let truncated = || DepacketizeError::Truncated("VP9 payload descriptor");
        let &b = payload.first().ok_or_else(truncated)?;
        let (i, p, l, f) = (b & 0x80 != 0, b & 0x40 != 0, b & 0x20 != 0, b & 0x10 != 0);
        let mut at = 1;
        let picture_id = if i {
            let &hi = payload.get(at).ok_or_else(truncated)?;
            at += 1;
            Some(if hi & 0x80 != 0 {
                let &lo = payload.get(at).ok_or_else(truncated)?;
                at += 1;
                PictureId::Long((u16::from(hi & 0x7F) << 8) | u16::from(lo))
            } else {
                PictureId::Short(hi)
            })
        } else {
            None
        };
        let layers = if l {
            let &lb = payload.get(at).ok_or_else(truncated)?;
            at += 1;
            let tl0_pic_idx = if f {
                None
            } else {
                let &t = payload.get(at).ok_or_else(truncated)?;
                at += 1;
                Some(t)
            };
            Some(Vp9Layers {
                temporal_id: lb >> 5,
                switching_up: lb & 0x10 != 0,
                spatial_id: (lb >> 1) & 0x07,
                inter_layer_dependency: lb & 0x01 != 0,
                tl0_pic_idx,
            })
        } else {
            None
        };
        let mut references = References::default();
        if f && p {
            loop {
                let &r = payload.get(at).ok_or_else(truncated)?;
                at += 1;
                references.push(r >> 1);
                if r & 0x01 == 0 {
                    break;
                }
                if usize::from(references.len) == MAX_REFERENCES {
                    return Err(DepacketizeError::Unsupported(
                        "more than 3 VP9 reference indices",
                    ));
                }
            }
        }
        let scalability = if b & 0x02 != 0 {
            let (ss, len) = ScalabilityStructure::parse(&payload[at..])?;
            at += len;
            Some(ss)
        } else {
            None
        };
        Ok((
            Self {
                picture_id,
                inter_picture: p,
                flexible: f,
                start_of_frame: b & 0x08 != 0,
                end_of_frame: b & 0x04 != 0,
                not_upper_reference: b & 0x01 != 0,
                layers,
                references,
                scalability,
            },
            at,
        ))
    }

    /// The spatial layer (SID; 0 without layer indices).
    pub fn spatial_layer(&self) -> u8 {
        self.layers.map_or(0, |l| l.spatial_id)
    }

    /// The temporal layer (TID; 0 without layer indices).
    pub fn temporal_layer(&self) -> u8 {
        self.layers.map_or(0, |l| l.temporal_id)
    }

    /// A switching up point (U): a receiver may start forwarding higher temporal layers here.
    pub fn is_switching_up_point(&self) -> bool {
        self.layers.is_some_and(|l| l.switching_up)
    }

    /// This payload ends a layer frame (E); the RTP marker ends the whole picture.
    pub fn is_end_of_layer_frame(&self) -> bool {
        self.end_of_frame
    }

    /// This payload starts a key frame: the start of a layer frame at spatial layer 0 that
    /// references no earlier picture.
    pub fn is_keyframe_start(&self) -> bool {
        self.start_of_frame && !self.inter_picture && self.spatial_layer() == 0
    }

    /// Bytes [`write`](Self::write) appends.
    pub fn encoded_len(&self) -> usize {
        let mut n = 1;
        n += match self.picture_id {
            None => 0,
            Some(PictureId::Short(_)) => 1,
            Some(PictureId::Long(_)) => 2,
        };
        if self.layers.is_some() {
            n += if self.flexible { 1 } else { 2 };
        }
        if self.flexible && self.inter_picture {
            n += self.references.as_slice().len();
        }
        n + self.scalability.as_ref().map_or(0, |s| s.encoded_len())
    }

    /// Appends the descriptor to `out`; a value too large for its field (or a combination the
    /// format cannot carry) is an error and leaves `out` as it was.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<usize, WriteError> {
        self.validate()?;
        let start = out.len();
        let mut b = 0u8;
        for (bit, set) in [
            (0x80, self.picture_id.is_some()),
            (0x40, self.inter_picture),
            (0x20, self.layers.is_some()),
            (0x10, self.flexible),
            (0x08, self.start_of_frame),
            (0x04, self.end_of_frame),
            (0x02, self.scalability.is_some()),
            (0x01, self.not_upper_reference),
        ] {
            if set {
                b |= bit;
            }
        }
        out.push(b);
        match self.picture_id {
            None => {}
            Some(PictureId::Short(v)) => out.push(v),
            Some(PictureId::Long(v)) => out.extend_from_slice(&(v | 0x8000).to_be_bytes()),
        }
        if let Some(l) = self.layers {
            out.push(
                (l.temporal_id << 5)
                    | (u8::from(l.switching_up) << 4)
                    | (l.spatial_id << 1)
                    | u8::from(l.inter_layer_dependency),
            );
            if !self.flexible {
                out.push(l.tl0_pic_idx.unwrap_or(0));
            }
        }
        if self.flexible && self.inter_picture {
            let refs = self.references.as_slice();
            for (k, &r) in refs.iter().enumerate() {
                out.push((r << 1) | u8::from(k + 1 < refs.len()));
            }
        }
        if let Some(ss) = &self.scalability {
            ss.write(out);
        }
        Ok(out.len() - start)
    }

    fn validate(&self) -> Result<(), WriteError> {
        match self.picture_id {
            Some(PictureId::Short(v)) if v > 0x7F => {
                return Err(WriteError::FieldOverflow("VP9 7-bit picture ID over 127"));
            }
            Some(PictureId::Long(v)) if v > 0x7FFF => {
                return Err(WriteError::FieldOverflow(
                    "VP9 15-bit picture ID over 32767",
                ));
            }
            _ => {}
        }
        if let Some(l) = self.layers {
            if l.temporal_id > 7 || l.spatial_id > 7 {
                return Err(WriteError::FieldOverflow("VP9 TID or SID over 7"));
            }
            if !self.flexible && l.tl0_pic_idx.is_none() {
                return Err(WriteError::FieldOverflow(
                    "VP9 non-flexible layer indices need TL0PICIDX",
                ));
            }
        }
        if self.flexible && self.inter_picture {
            let refs = self.references.as_slice();
            if refs.is_empty() || refs.iter().any(|&r| r == 0 || r > 0x7F) {
                return Err(WriteError::FieldOverflow(
                    "VP9 flexible mode needs 1..=3 P_DIFF of 1..=127",
                ));
            }
        }
        if let Some(ss) = &self.scalability {
            ss.validate()?;
        }
        Ok(())
    }
}

/// This payload starts a VP9 key frame (B=1, P=0, spatial layer 0); false for anything that
/// does not parse.
pub fn is_keyframe(payload: &[u8]) -> bool {
    Vp9Descriptor::parse(payload).is_ok_and(|(d, _)| d.is_keyframe_start())
}

/// What a VP9 frame's uncompressed header (VP9 bitstream spec 6.2) says: whether it is a key
/// frame and, for key frames, its size. `None` when the header does not parse.
pub fn frame_info(frame: &[u8]) -> Option<(bool, Option<(u16, u16)>)> {
    let mut b = BitReader::new(frame);
    if b.bits(2)? != 2 {
        return None; // frame_marker
    }
    let low = b.bits(1)?;
    let high = b.bits(1)?;
    let profile = (high << 1) | low;
    if profile == 3 {
        b.bits(1)?;
    }
    if b.bits(1)? == 1 {
        return Some((false, None)); // show_existing_frame
    }
    if b.bits(1)? != 0 {
        return Some((false, None)); // frame_type: not a key frame
    }
    b.bits(2)?; // show_frame, error_resilient_mode
    if b.bits(24)? != 0x49_83_42 {
        return Some((true, None));
    }
    if profile >= 2 {
        b.bits(1)?; // ten_or_twelve_bit
    }
    let color_space = b.bits(3)?;
    if color_space != 7 {
        b.bits(1)?; // color_range
        if profile == 1 || profile == 3 {
            b.bits(3)?; // subsampling_x, subsampling_y, reserved_zero
        }
    } else if profile == 1 || profile == 3 {
        b.bits(1)?;
    }
    let width = b.bits(16)? + 1;
    let height = b.bits(16)? + 1;
    Some((
        true,
        u16::try_from(width).ok().zip(u16::try_from(height).ok()),
    ))
}

/// Descriptor bytes of every payload: the first byte, a 15-bit picture ID, the L byte and
/// TL0PICIDX.
const DESCRIPTOR_LEN: usize = 5;
/// The scalability structure we send on key frames: one byte, one resolution, a picture group
/// of one entry with one reference.
const SS_LEN: usize = 1 + 4 + 1 + 2;

/// Cuts VP9 frames into payloads of at most `max_payload` bytes, in non-flexible mode with
/// one spatial and one temporal layer.
#[derive(Debug, Clone)]
pub struct Vp9Packetizer {
    max_payload: usize,
    picture_id: u16,
    tl0_pic_idx: u8,
}

impl Vp9Packetizer {
    /// A packetizer for payloads of at most `max_payload` bytes (at least 30).
    pub fn new(max_payload: usize) -> Self {
        Self {
            max_payload: max_payload.max(30),
            picture_id: 0,
            tl0_pic_idx: 0,
        }
    }

    /// The picture ID the next frame gets (15 bits, then it wraps).
    pub fn set_picture_id(&mut self, picture_id: u16) {
        self.picture_id = picture_id & 0x7FFF;
    }

    /// Cuts `frame` into `payloads`. Whether it is a key frame (and its size) is read from its
    /// uncompressed header; a key frame's first payload carries the scalability structure.
    pub fn packetize(&mut self, frame: &[u8], payloads: &mut Payloads) {
        payloads.clear();
        let (keyframe, size) = frame_info(frame).unwrap_or((false, None));
        let ss = keyframe.then(|| ScalabilityStructure {
            spatial_layers: 1,
            resolutions: size.map(|s| {
                let mut r = [(0, 0); MAX_SPATIAL_LAYERS];
                r[0] = s;
                r
            }),
            picture_group: Some(vec![PictureGroupEntry {
                temporal_id: 0,
                switching_up: false,
                references: References {
                    diffs: [1, 0, 0],
                    len: 1,
                },
            }]),
        });
        let extra = ss.as_ref().map_or(0, ScalabilityStructure::encoded_len);
        debug_assert!(extra <= SS_LEN);
        let (count, piece) = even_split(frame.len() + extra, self.max_payload - DESCRIPTOR_LEN);
        let mut descriptor = Vp9Descriptor {
            picture_id: Some(PictureId::Long(self.picture_id)),
            inter_picture: !keyframe,
            flexible: false,
            start_of_frame: true,
            end_of_frame: false,
            not_upper_reference: false,
            layers: Some(Vp9Layers {
                temporal_id: 0,
                switching_up: false,
                spatial_id: 0,
                inter_layer_dependency: false,
                tl0_pic_idx: Some(self.tl0_pic_idx),
            }),
            references: References::default(),
            scalability: ss,
        };
        let mut at = 0;
        for index in 0..count {
            let take = if index == 0 {
                piece.saturating_sub(extra)
            } else {
                piece
            };
            let end = (at + take).min(frame.len());
            descriptor.start_of_frame = index == 0;
            descriptor.end_of_frame = index + 1 == count;
            let out = payloads.next();
            descriptor
                .write(out)
                .expect("the descriptor's fields are in range by construction");
            out.extend_from_slice(&frame[at..end]);
            at = end;
            descriptor.scalability = None;
        }
        self.picture_id = (self.picture_id + 1) & 0x7FFF;
        self.tl0_pic_idx = self.tl0_pic_idx.wrapping_add(1);
    }
}

/// Joins VP9 payloads into pictures (every spatial layer frame up to the RTP marker).
#[derive(Debug)]
pub struct Vp9Depacketizer {
    assembler: Assembler,
    /// The previous payload had the marker: the next one starts a picture.
    at_boundary: bool,
    scalability: Option<ScalabilityStructure>,
}

impl Default for Vp9Depacketizer {
    fn default() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }
}

impl Vp9Depacketizer {
    /// A depacketizer that drops pictures over `max_frame` bytes.
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self {
            assembler: Assembler::new(max_frame),
            at_boundary: true,
            scalability: None,
        }
    }

    /// The last scalability structure received.
    pub fn scalability(&self) -> Option<&ScalabilityStructure> {
        self.scalability.as_ref()
    }

    /// Takes the payload of the packet with `sequence` number and `marker` bit (the last packet
    /// of a picture); returns the picture it completes. Payloads must come in sequence order; a
    /// gap drops the picture it falls in.
    pub fn push(
        &mut self,
        sequence: u16,
        marker: bool,
        payload: &[u8],
    ) -> Result<Option<Frame>, DepacketizeError> {
        let in_sequence = self.assembler.in_sequence(sequence);
        let at_boundary = std::mem::replace(&mut self.at_boundary, marker);
        let (d, header_len) = match Vp9Descriptor::parse(payload) {
            Ok(d) => d,
            Err(e) => {
                self.assembler.drop_frame();
                return Err(e);
            }
        };
        if let Some(ss) = d.scalability.clone() {
            self.scalability = Some(ss);
        }
        let data = &payload[header_len..];
        if d.start_of_frame && ((at_boundary && in_sequence) || d.spatial_layer() == 0) {
            self.assembler.start(d.is_keyframe_start());
        } else if !in_sequence || !self.assembler.collecting {
            return Ok(None);
        }
        self.assembler.append(data, marker)
    }
}

super::depacketizer_by_inherent_push!(Vp9Depacketizer);

#[cfg(test)]
mod tests {
    use super::*;

    /// A key frame's uncompressed header: profile 0, 640x360, then body bytes.
    fn keyframe(len: usize) -> Vec<u8> {
        // frame_marker 10, profile 00, show_existing 0, frame_type 0, show_frame 1,
        // error_res 0 -> 1000_0010; sync code 49 83 42; color_space 000, color_range 0, then
        // width-1 = 639 (16 bits), height-1 = 359 (16 bits), written bit by bit.
        let mut bits: Vec<u8> = Vec::new();
        let mut put = |v: u32, n: u32| {
            for i in (0..n).rev() {
                bits.push(((v >> i) & 1) as u8);
            }
        };
        put(0b1000_0010, 8);
        put(0x49_83_42, 24);
        put(0, 4);
        put(639, 16);
        put(359, 16);
        let mut out: Vec<u8> = bits
            .chunks(8)
            .map(|c| c.iter().enumerate().fold(0, |a, (i, b)| a | (b << (7 - i))))
            .collect();
        out.resize(len.max(out.len()), 0x55);
        out
    }

    #[test]
    fn frame_info_reads_the_uncompressed_header() {
        assert_eq!(frame_info(&keyframe(20)), Some((true, Some((640, 360)))));
        // Inter frame: frame_type 1.
        assert_eq!(frame_info(&[0b1000_0110, 0]), Some((false, None)));
        assert_eq!(frame_info(&[0x00]), None);
        assert_eq!(frame_info(&[]), None);
    }

    #[test]
    fn non_flexible_descriptor_by_hand() {
        // I P L - B E V Z = 1 1 1 0 1 0 1 0; PID 15-bit 0x1234; L: TID 2, U, SID 1, D;
        // TL0PICIDX 9; SS: N_S=1 (2 layers), Y, G; 320x180, 640x360; N_G 2: (TID 0, R 1,
        // P_DIFF 2), (TID 1, U, R 0).
        let bytes = [
            0xEA, 0x92, 0x34, 0x53, 0x09, 0x38, 0x01, 0x40, 0x00, 0xB4, 0x02, 0x80, 0x01, 0x68,
            0x02, 0x04, 0x02, 0x30, 0xAB,
        ];
        let (d, len) = Vp9Descriptor::parse(&bytes).unwrap();
        assert_eq!(len, bytes.len() - 1);
        assert_eq!(d.picture_id, Some(PictureId::Long(0x1234)));
        assert!(d.inter_picture && !d.flexible && d.start_of_frame && !d.end_of_frame);
        assert_eq!(
            d.layers,
            Some(Vp9Layers {
                temporal_id: 2,
                switching_up: true,
                spatial_id: 1,
                inter_layer_dependency: true,
                tl0_pic_idx: Some(9),
            })
        );
        assert_eq!((d.spatial_layer(), d.temporal_layer()), (1, 2));
        assert!(d.is_switching_up_point() && !d.is_keyframe_start());
        let ss = d.scalability.clone().unwrap();
        assert_eq!(ss.spatial_layers, 2);
        assert_eq!(ss.resolution(0), Some((320, 180)));
        assert_eq!(ss.resolution(1), Some((640, 360)));
        assert_eq!(ss.resolution(2), None);
        let pg = ss.picture_group.unwrap();
        assert_eq!(pg.len(), 2);
        assert_eq!(
            (pg[0].temporal_id, pg[0].references.as_slice()),
            (0, &[2][..])
        );
        assert!(pg[1].switching_up && pg[1].references.as_slice().is_empty());
        let mut out = Vec::new();
        assert_eq!(d.write(&mut out), Ok(len));
        assert_eq!(d.encoded_len(), len);
        assert_eq!(out, &bytes[..len]);
    }

    #[test]
    fn flexible_descriptor_by_hand() {
        // I P L F B E - Z = 1 1 1 1 1 1 0 1; 7-bit PID 5; L: TID 1, SID 0; P_DIFF 1 (N), 3.
        let bytes = [0xFD, 0x05, 0x20, 0x03, 0x06, 0xAA];
        let (d, len) = Vp9Descriptor::parse(&bytes).unwrap();
        assert_eq!(len, 5);
        assert_eq!(d.picture_id, Some(PictureId::Short(5)));
        assert_eq!(d.references.as_slice(), &[1, 3]);
        assert_eq!(d.layers.unwrap().tl0_pic_idx, None);
        assert!(d.not_upper_reference && d.end_of_frame && d.is_end_of_layer_frame());
        let mut out = Vec::new();
        d.write(&mut out).unwrap();
        assert_eq!(out, &bytes[..5]);
        // Four references are refused; truncations are errors.
        assert!(Vp9Descriptor::parse(&[0xD0, 0x05, 0x03, 0x03, 0x03, 0x02]).is_err());
        for short in [&[][..], &[0x80], &[0x80, 0x80], &[0xA0, 0x01], &[0x02]] {
            assert!(Vp9Descriptor::parse(short).is_err(), "{short:?}");
        }
    }

    #[test]
    fn writing_out_of_range_fields_is_an_error() {
        let (mut d, _) = Vp9Descriptor::parse(&[0xFD, 0x05, 0x20, 0x03, 0x06]).unwrap();
        d.references = References::new(&[]).unwrap();
        let mut out = vec![7];
        assert!(d.write(&mut out).is_err());
        assert_eq!(out, [7]);
        assert!(References::new(&[1, 2, 3, 4]).is_err());
    }

    #[test]
    fn keyframes_carry_the_scalability_structure() {
        let frame = keyframe(3000);
        let mut p = Vp9Packetizer::new(1200);
        let mut payloads = Payloads::default();
        p.packetize(&frame, &mut payloads);
        assert_eq!(payloads.len(), 3);
        let list: Vec<&[u8]> = payloads.iter().collect();
        assert!(is_keyframe(list[0]) && !is_keyframe(list[1]));
        let (d, _) = Vp9Descriptor::parse(list[0]).unwrap();
        assert_eq!(d.scalability.unwrap().resolution(0), Some((640, 360)));
        let mut dep = Vp9Depacketizer::default();
        let mut got = None;
        for (i, payload) in list.iter().enumerate() {
            assert!(payload.len() <= 1200);
            got = dep.push(i as u16, i + 1 == list.len(), payload).unwrap();
        }
        let got = got.unwrap();
        assert_eq!((got.data, got.keyframe), (frame, true));
        assert_eq!(dep.scalability().unwrap().resolution(0), Some((640, 360)));
        // The next (inter) frame has no scalability structure and P=1.
        p.packetize(&[0b1000_0110, 1, 2, 3], &mut payloads);
        let payload = payloads.iter().next().unwrap();
        let (d, _) = Vp9Descriptor::parse(payload).unwrap();
        assert!(d.inter_picture && d.scalability.is_none());
        assert_eq!(d.picture_id, Some(PictureId::Long(1)));
        assert_eq!(d.layers.unwrap().tl0_pic_idx, Some(1));
        let f = dep.push(3, true, payload).unwrap().unwrap();
        assert!(!f.keyframe);
    }

    #[test]
    fn a_gap_drops_the_picture() {
        let frame = keyframe(3000);
        let mut payloads = Payloads::default();
        Vp9Packetizer::new(1000).packetize(&frame, &mut payloads);
        let mut dep = Vp9Depacketizer::default();
        let n = payloads.len();
        for (i, payload) in payloads.iter().enumerate() {
            if i != 1 {
                assert_eq!(dep.push(i as u16, i + 1 == n, payload).unwrap(), None);
            }
        }
    }
}
