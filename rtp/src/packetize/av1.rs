//! AV1 payloads (the AOM "RTP Payload Format for AV1", v1.0): each payload starts with an
//! aggregation header (Z: the first OBU element continues one from the previous packet; Y: the
//! last one continues in the next; W: how many elements, 0 meaning every element has a length;
//! N: the first packet of a coded video sequence), then OBU elements, each behind its leb128
//! length except the last when W is 1..=3. OBUs travel without their size field; temporal
//! delimiters and tile lists are not sent.
//!
//! The packetizer takes one temporal unit in the low-overhead bitstream format (AV1 5.2: OBUs
//! with size fields, as IVF files and encoders give them) and the depacketizer gives one back: a
//! temporal delimiter, then each OBU with its size field.

use super::{Assembler, DEFAULT_MAX_FRAME, DepacketizeError, Frame, Payloads, WriteError};

/// OBU types (AV1 6.2.2).
const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_FRAME_HEADER: u8 = 3;
const OBU_FRAME: u8 = 6;
const OBU_TILE_LIST: u8 = 8;

/// Reads an unsigned leb128 value (at most 8 bytes, AV1 4.10.5): the value and its length.
pub fn read_leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Appends `value` as a leb128 (the shortest encoding).
pub fn write_leb128(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let b = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Bytes the shortest leb128 encoding of `value` takes.
pub fn leb128_len(value: usize) -> usize {
    let bits = usize::BITS - value.leading_zeros();
    (bits as usize).div_ceil(7).max(1)
}

/// The OBU type in the header byte `header`.
pub fn obu_type(header: u8) -> u8 {
    (header >> 3) & 0x0F
}

/// One OBU of a low-overhead bitstream: its header (1 or 2 bytes, size-field bit as given) and
/// its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obu<'a> {
    /// The header byte(s): the OBU header and, when its extension flag is set, the extension.
    pub header: &'a [u8],
    /// The OBU's payload (after the size field).
    pub payload: &'a [u8],
}

impl Obu<'_> {
    /// The OBU type.
    pub fn obu_type(&self) -> u8 {
        obu_type(self.header[0])
    }
}

/// The OBUs of a low-overhead bitstream (AV1 5.2); an OBU without a size field runs to the end
/// of the data. Stops at the first malformed OBU with an error.
pub fn obus(data: &[u8]) -> impl Iterator<Item = Result<Obu<'_>, DepacketizeError>> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let &h = rest.first()?;
        let result = split_obu(rest, h);
        match result {
            Ok((obu, next)) => {
                rest = next;
                Some(Ok(obu))
            }
            Err(e) => {
                rest = &[];
                Some(Err(e))
            }
        }
    })
}

fn split_obu(data: &[u8], h: u8) -> Result<(Obu<'_>, &[u8]), DepacketizeError> {
    let header_len = 1 + usize::from(h & 0x04 != 0);
    let header = data
        .get(..header_len)
        .ok_or(DepacketizeError::Truncated("AV1 OBU header"))?;
    let after = &data[header_len..];
    if h & 0x02 == 0 {
        return Ok((
            Obu {
                header,
                payload: after,
            },
            &[],
        ));
    }
    let (size, len) = read_leb128(after).ok_or(DepacketizeError::Truncated("AV1 OBU size"))?;
    let end = usize::try_from(size)
        .ok()
        .and_then(|s| s.checked_add(len))
        .filter(|&e| e <= after.len())
        .ok_or(DepacketizeError::Truncated("AV1 OBU payload"))?;
    Ok((
        Obu {
            header,
            payload: &after[len..end],
        },
        &after[end..],
    ))
}

/// Follows the OBUs of a temporal unit to tell whether it is a key frame: a sequence header,
/// then a frame (header) that is a key frame shown anew (or any frame under a reduced still
/// picture header).
#[derive(Debug, Clone, Copy, Default)]
struct KeyframeScan {
    /// The sequence header seen, with its reduced_still_picture_header bit.
    sequence: Option<bool>,
    /// The first frame header's verdict.
    frame: Option<bool>,
}

impl KeyframeScan {
    fn note(&mut self, obu_type: u8, payload: &[u8]) {
        match obu_type {
            OBU_SEQUENCE_HEADER => {
                // seq_profile (3), still_picture (1), reduced_still_picture_header (1).
                self.sequence = payload.first().map(|b| b & 0x08 != 0);
            }
            OBU_FRAME_HEADER | OBU_FRAME if self.frame.is_none() => {
                self.frame = Some(match self.sequence {
                    Some(true) => true,
                    // show_existing_frame (1) = 0, frame_type (2) = KEY_FRAME (0).
                    _ => payload.first().is_some_and(|b| b & 0xE0 == 0),
                });
            }
            _ => {}
        }
    }

    fn keyframe(&self) -> bool {
        self.sequence.is_some() && self.frame == Some(true)
    }
}

/// A temporal unit (low-overhead bitstream) is a key frame: it has a sequence header and its
/// first frame is a key frame.
pub fn is_keyframe_temporal_unit(temporal_unit: &[u8]) -> bool {
    let mut scan = KeyframeScan::default();
    for obu in obus(temporal_unit) {
        let Ok(obu) = obu else { return false };
        scan.note(obu.obu_type(), obu.payload);
    }
    scan.keyframe()
}

/// This payload starts a key frame: its N bit is set, or its first element (not a
/// continuation) is a sequence header. False for an empty payload.
pub fn is_keyframe(payload: &[u8]) -> bool {
    let Some(&agg) = payload.first() else {
        return false;
    };
    if agg & 0x08 != 0 {
        return true;
    }
    if agg & 0x80 != 0 {
        return false;
    }
    let rest = &payload[1..];
    let first = if agg & 0x30 == 0x10 {
        rest.first()
    } else {
        read_leb128(rest).and_then(|(_, n)| rest.get(n))
    };
    first.is_some_and(|&h| obu_type(h) == OBU_SEQUENCE_HEADER)
}

/// One OBU as sent: its header with the size-field bit cleared, then its payload.
#[derive(Debug, Clone, Copy)]
struct Element {
    header: [u8; 2],
    header_len: usize,
    start: usize,
    end: usize,
}

impl Element {
    fn len(&self) -> usize {
        self.header_len + self.end - self.start
    }

    /// Appends bytes `from..to` of the element (header then payload from `data`).
    fn write(&self, data: &[u8], from: usize, to: usize, out: &mut Vec<u8>) {
        if from < self.header_len {
            out.extend_from_slice(&self.header[from..self.header_len.min(to)]);
        }
        let (a, b) = (
            from.max(self.header_len) - self.header_len,
            to.max(self.header_len) - self.header_len,
        );
        out.extend_from_slice(&data[self.start + a..self.start + b]);
    }
}

/// Cuts AV1 temporal units into payloads of at most `max_payload` bytes.
#[derive(Debug, Clone)]
pub struct Av1Packetizer {
    max_payload: usize,
    elements: Vec<Element>,
    /// (element, from, to) per element piece of the payload being planned.
    pieces: Vec<(usize, usize, usize)>,
}

impl Av1Packetizer {
    /// A packetizer for payloads of at most `max_payload` bytes (at least 4).
    pub fn new(max_payload: usize) -> Self {
        Self {
            max_payload: max_payload.max(4),
            elements: Vec::new(),
            pieces: Vec::new(),
        }
    }

    /// Cuts the temporal unit `temporal_unit` (OBUs in the low-overhead format) into
    /// `payloads`; temporal delimiters and tile lists are left out, OBUs split across
    /// payloads where they do not fit. A malformed OBU is an error (and `payloads` is empty).
    pub fn packetize(
        &mut self,
        temporal_unit: &[u8],
        payloads: &mut Payloads,
    ) -> Result<(), WriteError> {
        payloads.clear();
        self.elements.clear();
        let mut scan = KeyframeScan::default();
        let base = temporal_unit.as_ptr() as usize;
        for obu in obus(temporal_unit) {
            let obu = obu.map_err(|_| WriteError::FieldOverflow("malformed AV1 OBU"))?;
            let t = obu.obu_type();
            scan.note(t, obu.payload);
            if t == OBU_TEMPORAL_DELIMITER || t == OBU_TILE_LIST {
                continue;
            }
            let mut header = [obu.header[0] & !0x02, 0];
            if obu.header.len() == 2 {
                header[1] = obu.header[1];
            }
            let start = obu.payload.as_ptr() as usize - base;
            self.elements.push(Element {
                header,
                header_len: obu.header.len(),
                start,
                end: start + obu.payload.len(),
            });
        }
        let keyframe = scan.keyframe();
        let capacity = self.max_payload - 1;
        let (mut index, mut offset) = (0, 0);
        while index < self.elements.len() {
            self.pieces.clear();
            let mut used = 0;
            while let Some(e) = self.elements.get(index) {
                let remaining = e.len() - offset;
                let room = capacity - used;
                if leb128_len(remaining) + remaining <= room {
                    self.pieces.push((index, offset, e.len()));
                    used += leb128_len(remaining) + remaining;
                    index += 1;
                    offset = 0;
                    continue;
                }
                let fits = room.saturating_sub(leb128_len(room));
                if fits > 0 {
                    self.pieces.push((index, offset, offset + fits));
                    offset += fits;
                }
                break;
            }
            let &(_, first_from, _) = self.pieces.first().expect("a payload holds a piece");
            let &(last, _, last_to) = self.pieces.last().expect("a payload holds a piece");
            let count = self.pieces.len();
            let w = if count <= 3 { count as u8 } else { 0 };
            let mut agg = w << 4;
            if first_from > 0 {
                agg |= 0x80;
            }
            if last_to < self.elements[last].len() {
                agg |= 0x40;
            }
            if keyframe && payloads.is_empty() {
                agg |= 0x08;
            }
            let out = payloads.next();
            out.push(agg);
            for (k, &(e, from, to)) in self.pieces.iter().enumerate() {
                if w == 0 || k + 1 < count {
                    write_leb128((to - from) as u64, out);
                }
                self.elements[e].write(temporal_unit, from, to, out);
            }
        }
        Ok(())
    }
}

/// Joins AV1 payloads into temporal units (low-overhead bitstream: a temporal delimiter, then
/// each OBU with its size field).
#[derive(Debug)]
pub struct Av1Depacketizer {
    assembler: Assembler,
    /// The previous payload ended a temporal unit (marker bit), so the next one starts one.
    at_boundary: bool,
    /// An OBU element continued into the next payload: its bytes so far.
    fragment: Vec<u8>,
    in_fragment: bool,
    scan: KeyframeScan,
}

impl Default for Av1Depacketizer {
    fn default() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }
}

impl Av1Depacketizer {
    /// A depacketizer that drops temporal units over `max_frame` bytes.
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self {
            assembler: Assembler::new(max_frame),
            at_boundary: true,
            fragment: Vec::new(),
            in_fragment: false,
            scan: KeyframeScan::default(),
        }
    }

    /// Takes the payload of the packet with `sequence` number and `marker` bit (the last packet
    /// of a temporal unit); returns the temporal unit it completes. Payloads must come in
    /// sequence order; a gap drops the temporal unit it falls in.
    pub fn push(
        &mut self,
        sequence: u16,
        marker: bool,
        payload: &[u8],
    ) -> Result<Option<Frame>, DepacketizeError> {
        let in_sequence = self.assembler.in_sequence(sequence);
        let can_start = self.at_boundary && in_sequence;
        self.at_boundary = marker;
        if !in_sequence {
            self.reset_fragment();
        }
        let Some(&agg) = payload.first() else {
            self.drop_frame();
            return Err(DepacketizeError::Truncated("AV1 aggregation header"));
        };
        if !self.assembler.collecting {
            if !can_start || agg & 0x80 != 0 {
                return Ok(None);
            }
            self.assembler.start(agg & 0x08 != 0);
            self.assembler.data.extend_from_slice(&[0x12, 0x00]);
            self.scan = KeyframeScan::default();
            self.reset_fragment();
        }
        if let Err(e) = self.add(agg, &payload[1..]) {
            self.drop_frame();
            return Err(e);
        }
        if !marker {
            return Ok(None);
        }
        if self.in_fragment {
            // The temporal unit ended inside an OBU: it cannot be decoded.
            self.drop_frame();
            return Err(DepacketizeError::Truncated(
                "AV1 temporal unit ends inside an OBU",
            ));
        }
        if self.scan.keyframe() {
            self.assembler.keyframe = true;
        }
        Ok(self.assembler.finish())
    }

    fn reset_fragment(&mut self) {
        self.fragment.clear();
        self.in_fragment = false;
    }

    fn drop_frame(&mut self) {
        self.assembler.drop_frame();
        self.reset_fragment();
    }

    fn add(&mut self, agg: u8, mut rest: &[u8]) -> Result<(), DepacketizeError> {
        let (z, y, w) = (
            agg & 0x80 != 0,
            agg & 0x40 != 0,
            usize::from((agg >> 4) & 0x03),
        );
        if z != self.in_fragment {
            return Err(DepacketizeError::Truncated(if z {
                "AV1 continuation without its start"
            } else {
                "AV1 OBU fragment not continued"
            }));
        }
        let mut index = 0;
        while !rest.is_empty() || (w != 0 && index < w) {
            if w != 0 && index >= w {
                return Err(DepacketizeError::Truncated(
                    "AV1 bytes after the last element",
                ));
            }
            let len = if w != 0 && index + 1 == w {
                rest.len()
            } else {
                let (len, n) =
                    read_leb128(rest).ok_or(DepacketizeError::Truncated("AV1 element length"))?;
                rest = &rest[n..];
                usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= rest.len())
                    .ok_or(DepacketizeError::Truncated("AV1 OBU element"))?
            };
            let (element, next) = rest.split_at(len);
            rest = next;
            let last = rest.is_empty() && (w == 0 || index + 1 == w);
            if last && y {
                if self.assembler.data.len() + self.fragment.len() + element.len()
                    > self.assembler.max
                {
                    return Err(DepacketizeError::TooLarge(self.assembler.max));
                }
                self.fragment.extend_from_slice(element);
                self.in_fragment = true;
            } else if self.in_fragment {
                self.fragment.extend_from_slice(element);
                let fragment = std::mem::take(&mut self.fragment);
                let result = self.obu(&fragment);
                self.fragment = fragment;
                self.reset_fragment();
                result?;
            } else {
                self.obu(element)?;
            }
            index += 1;
        }
        Ok(())
    }

    /// Appends one whole OBU (as sent) in the low-overhead format.
    fn obu(&mut self, obu: &[u8]) -> Result<(), DepacketizeError> {
        let &h = obu
            .first()
            .ok_or(DepacketizeError::Truncated("empty AV1 OBU"))?;
        let (obu, _) = split_obu(obu, h)?;
        let t = obu_type(h);
        if t == OBU_TEMPORAL_DELIMITER || t == OBU_TILE_LIST {
            return Ok(());
        }
        self.scan.note(t, obu.payload);
        let size = obu.payload.len();
        self.assembler
            .reserve(obu.header.len() + leb128_len(size) + size)?;
        let data = &mut self.assembler.data;
        data.push(h | 0x02);
        data.extend_from_slice(&obu.header[1..]);
        write_leb128(size as u64, data);
        data.extend_from_slice(obu.payload);
        Ok(())
    }
}

super::depacketizer_by_inherent_push!(Av1Depacketizer);

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporal unit: TD, sequence header (profile 0, not reduced), a key frame OBU.
    fn keyframe_tu(frame_len: usize) -> Vec<u8> {
        let mut tu = vec![0x12, 0x00, 0x0A, 0x03, 0x00, 0x00, 0x00];
        tu.push(0x32); // OBU_FRAME with size
        write_leb128(frame_len as u64, &mut tu);
        tu.push(0x10); // show_existing_frame 0, frame_type KEY_FRAME, show_frame 1
        tu.extend((1..frame_len).map(|i| (i % 253) as u8));
        tu
    }

    #[test]
    fn leb128_values() {
        let mut out = Vec::new();
        write_leb128(0, &mut out);
        write_leb128(127, &mut out);
        write_leb128(128, &mut out);
        write_leb128(300, &mut out);
        assert_eq!(out, [0x00, 0x7F, 0x80, 0x01, 0xAC, 0x02]);
        assert_eq!(read_leb128(&[0xAC, 0x02]), Some((300, 2)));
        // A non-minimal encoding still reads.
        assert_eq!(read_leb128(&[0x81, 0x00]), Some((1, 2)));
        assert_eq!(read_leb128(&[0x80; 9]), None);
        assert_eq!(read_leb128(&[0x80]), None);
        assert_eq!([0, 127, 128, 16383, 16384].map(leb128_len), [1, 1, 2, 2, 3]);
    }

    #[test]
    fn a_small_key_frame_by_hand() {
        let tu = keyframe_tu(3);
        assert!(is_keyframe_temporal_unit(&tu));
        let mut payloads = Payloads::default();
        Av1Packetizer::new(1200)
            .packetize(&tu, &mut payloads)
            .unwrap();
        let list: Vec<&[u8]> = payloads.iter().collect();
        // Z=0 Y=0 W=2 N=1; the sequence header behind its length, the frame without one;
        // both without size fields, the temporal delimiter left out.
        assert_eq!(
            list,
            [&[0x28, 0x04, 0x08, 0x00, 0x00, 0x00, 0x30, 0x10, 0x01, 0x02][..]]
        );
        assert!(is_keyframe(list[0]));
        let mut d = Av1Depacketizer::default();
        let f = d.push(9, true, list[0]).unwrap().unwrap();
        assert_eq!(f.data, tu);
        assert!(f.keyframe);
    }

    #[test]
    fn large_obus_fragment_across_payloads() {
        let tu = keyframe_tu(3000);
        let mut payloads = Payloads::default();
        Av1Packetizer::new(1000)
            .packetize(&tu, &mut payloads)
            .unwrap();
        let list: Vec<Vec<u8>> = payloads.iter().map(<[u8]>::to_vec).collect();
        assert_eq!(list.len(), 4);
        // First: Y, W=2, N; middle: Z, Y, W=1; last: Z, W=1.
        assert_eq!(list[0][0], 0x40 | 0x20 | 0x08);
        assert_eq!(list[1][0], 0x80 | 0x40 | 0x10);
        assert_eq!(list[3][0], 0x80 | 0x10);
        assert!(list.iter().all(|p| p.len() <= 1000));
        let mut d = Av1Depacketizer::default();
        let mut got = None;
        for (i, p) in list.iter().enumerate() {
            got = d.push(i as u16, i + 1 == list.len(), p).unwrap();
        }
        assert_eq!(got.unwrap().data, tu);
        // A lost middle payload drops it; the next temporal unit comes through.
        let mut d = Av1Depacketizer::default();
        for (i, p) in list.iter().enumerate() {
            if i != 1 {
                assert_eq!(d.push(i as u16, i + 1 == list.len(), p).unwrap(), None);
            }
        }
        let delta = [0x12, 0x00, 0x32, 0x02, 0x30, 0x55];
        Av1Packetizer::new(1000)
            .packetize(&delta, &mut payloads)
            .unwrap();
        let p = payloads.iter().next().unwrap();
        assert!(!is_keyframe(p));
        let f = d.push(4, true, p).unwrap().unwrap();
        assert_eq!((f.data.as_slice(), f.keyframe), (&delta[..], false));
    }

    #[test]
    fn malformed_payloads_are_errors() {
        let mut d = Av1Depacketizer::default();
        for (i, p) in [
            &[][..],
            &[0x00, 0x05, 0x30], // element longer than the payload
            &[0x00, 0x80],       // unterminated length
            &[0x20, 0x01, 0x30], // W=2 but one element
            &[0x00, 0x00],       // empty OBU
            &[0x10, 0x34],       // extension flag without its byte
            &[0x10, 0x32, 0x05], // size field past the element
        ]
        .into_iter()
        .enumerate()
        {
            assert!(d.push(i as u16, true, p).is_err(), "{p:?}");
        }
        // A continuation without its start is not started on.
        assert_eq!(d.push(10, true, &[0x90, 0x30]).unwrap(), None);
        // A temporal unit ending inside an OBU is dropped.
        assert!(d.push(11, true, &[0x50, 0x30]).is_err());
        assert!(
            Av1Packetizer::new(100)
                .packetize(&[0x32, 0x05, 0x00], &mut Payloads::default())
                .is_err()
        );
    }
}
