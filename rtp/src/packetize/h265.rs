//! H.265 payloads (RFC 7798): an access unit (Annex B byte stream) is cut into single NAL unit
//! packets, aggregation packets (AP, type 48) joining small NAL units, and fragmentation units
//! (FU, type 49) of NAL units larger than a payload; every NAL unit and payload header is the
//! 2-byte H.265 NAL unit header (F, type, layer ID, TID). The depacketizer gives back Annex B
//! access units (a 4-byte start code before each NAL unit).
//!
//! Without `sprop-max-don-diff` (what WebRTC uses), no DONL/DOND fields are sent; PACI packets
//! (type 50) are refused as unsupported.

use super::{AnnexBUnits, DEFAULT_MAX_FRAME, DepacketizeError, Frame, Payloads, even_split};
use crate::packetize::h264::nal_units;

/// Aggregation packet.
const AP: u8 = 48;
/// Fragmentation unit.
const FU: u8 = 49;
/// Payload content information (not taken).
const PACI: u8 = 50;

/// The NAL unit type in the 2-byte header starting with `first`.
pub fn nal_type(first: u8) -> u8 {
    (first >> 1) & 0x3F
}

/// An intra random access point picture (BLA, IDR or CRA: types 16..=21): a decoder can start
/// here.
pub fn is_irap(nal_type: u8) -> bool {
    (16..=21).contains(&nal_type)
}

/// A parameter set (VPS 32, SPS 33, PPS 34), sent before IRAP pictures.
pub fn is_parameter_set(nal_type: u8) -> bool {
    (32..=34).contains(&nal_type)
}

/// This payload starts a key frame: it holds (whole, aggregated, or as the first fragment) an
/// IRAP picture's NAL unit or a parameter set. False for anything that does not parse.
pub fn is_keyframe(payload: &[u8]) -> bool {
    let key = |t: u8| is_irap(t) || is_parameter_set(t);
    let (Some(&b0), Some(_)) = (payload.first(), payload.get(1)) else {
        return false;
    };
    match nal_type(b0) {
        AP => {
            let mut rest = &payload[2..];
            while let [hi, lo, tail @ ..] = rest {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                let Some(nal) = tail.get(..len) else {
                    return false;
                };
                if nal.first().is_some_and(|&b| key(nal_type(b))) {
                    return true;
                }
                rest = &tail[len..];
            }
            false
        }
        FU => payload
            .get(2)
            .is_some_and(|&fu| fu & 0x80 != 0 && key(fu & 0x3F)),
        t => key(t),
    }
}

/// Cuts H.265 access units into payloads of at most `max_payload` bytes.
#[derive(Debug, Clone)]
pub struct H265Packetizer {
    max_payload: usize,
}

impl H265Packetizer {
    /// A packetizer for payloads of at most `max_payload` bytes (at least 4).
    pub fn new(max_payload: usize) -> Self {
        Self {
            max_payload: max_payload.max(4),
        }
    }

    /// Cuts the access unit `annex_b` (NAL units behind start codes) into `payloads`. NAL
    /// units shorter than their 2-byte header are left out.
    pub fn packetize(&self, annex_b: &[u8], payloads: &mut Payloads) {
        payloads.clear();
        let mut nals = nal_units(annex_b).filter(|n| n.len() >= 2).peekable();
        let fits = |size: usize, nal: &[u8]| {
            nal.len() <= 0xFFFF && size + 2 + nal.len() <= self.max_payload
        };
        while let Some(nal) = nals.next() {
            // This and the following small NAL units, while they fit, go in one AP.
            if fits(2, nal) && nals.peek().is_some_and(|next| fits(4 + nal.len(), next)) {
                let out = payloads.next();
                out.extend_from_slice(&[0, 0]);
                // F is the OR of the units' F bits; layer ID and TID the lowest of theirs.
                let (mut f, mut layer, mut tid) = (0u8, u8::MAX, u8::MAX);
                let mut add = |out: &mut Vec<u8>, nal: &[u8]| {
                    f |= nal[0] & 0x80;
                    layer = layer.min(((nal[0] & 0x01) << 5) | (nal[1] >> 3));
                    tid = tid.min(nal[1] & 0x07);
                    out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
                    out.extend_from_slice(nal);
                };
                add(out, nal);
                while let Some(next) = nals.next_if(|next| fits(out.len(), next)) {
                    add(out, next);
                }
                out[0] = f | (AP << 1) | (layer >> 5);
                out[1] = (layer << 3) | tid;
                continue;
            }
            if nal.len() <= self.max_payload {
                payloads.next().extend_from_slice(nal);
            } else {
                let (h0, h1) = (nal[0], nal[1]);
                let body = &nal[2..];
                let (count, piece) = even_split(body.len(), self.max_payload - 3);
                for k in 0..count {
                    let start = (k * piece).min(body.len());
                    let end = (start + piece).min(body.len());
                    let mut fu = nal_type(h0);
                    if k == 0 {
                        fu |= 0x80;
                    }
                    if k + 1 == count {
                        fu |= 0x40;
                    }
                    let out = payloads.next();
                    out.extend_from_slice(&[(h0 & 0x81) | (FU << 1), h1, fu]);
                    out.extend_from_slice(&body[start..end]);
                }
            }
        }
    }
}

/// Joins H.265 payloads into Annex B access units.
#[derive(Debug)]
pub struct H265Depacketizer {
    units: AnnexBUnits,
}

impl Default for H265Depacketizer {
    fn default() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }
}

impl H265Depacketizer {
    /// A depacketizer that drops access units over `max_frame` bytes.
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self {
            units: AnnexBUnits::new(max_frame),
        }
    }

    /// Takes the payload of the packet with `sequence` number and `marker` bit (the last packet
    /// of an access unit); returns the access unit it completes. Payloads must come in sequence
    /// order; a gap drops the access unit it falls in.
    pub fn push(
        &mut self,
        sequence: u16,
        marker: bool,
        payload: &[u8],
    ) -> Result<Option<Frame>, DepacketizeError> {
        self.units.push(sequence, marker, payload, add)
    }
}

/// The NAL units of one H.265 payload (single, AP or FU) into the access unit.
fn add(units: &mut AnnexBUnits, payload: &[u8]) -> Result<(), DepacketizeError> {
    let [h0, h1, ..] = *payload else {
        return Err(DepacketizeError::Truncated("H.265 payload header"));
    };
    match nal_type(h0) {
        0..=47 => units.nal(payload, is_irap(nal_type(h0))),
        AP => {
            let mut rest = &payload[2..];
            if rest.is_empty() {
                return Err(DepacketizeError::Truncated("empty H.265 AP"));
            }
            while !rest.is_empty() {
                let [hi, lo, ..] = *rest else {
                    return Err(DepacketizeError::Truncated("H.265 AP size"));
                };
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                let nal = rest
                    .get(2..2 + len)
                    .filter(|n| n.len() >= 2)
                    .ok_or(DepacketizeError::Truncated("H.265 AP NAL unit"))?;
                units.nal(nal, is_irap(nal_type(nal[0])))?;
                rest = &rest[2 + len..];
            }
            Ok(())
        }
        FU => {
            let &fu = payload
                .get(2)
                .ok_or(DepacketizeError::Truncated("H.265 FU header"))?;
            units.fragment(
                (fu & 0x80 != 0, fu & 0x40 != 0),
                &[(h0 & 0x81) | ((fu & 0x3F) << 1), h1],
                &payload[3..],
                is_irap(fu & 0x3F),
                "H.265 FU without its start",
            )
        }
        PACI => Err(DepacketizeError::Unsupported("H.265 PACI")),
        _ => Err(DepacketizeError::Unsupported(
            "reserved H.265 NAL unit type",
        )),
    }
}

super::depacketizer_by_inherent_push!(H265Depacketizer);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packetize::START_CODE;

    fn annex_b(nals: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for nal in nals {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(nal);
        }
        out
    }

    fn payloads_of(p: &H265Packetizer, au: &[u8]) -> Vec<Vec<u8>> {
        let mut payloads = Payloads::default();
        p.packetize(au, &mut payloads);
        payloads.iter().map(<[u8]>::to_vec).collect()
    }

    fn join(list: &[Vec<u8>]) -> Frame {
        let mut d = H265Depacketizer::default();
        let mut frame = None;
        for (i, payload) in list.iter().enumerate() {
            frame = d.push(i as u16, i + 1 == list.len(), payload).unwrap();
        }
        frame.expect("a frame")
    }

    #[test]
    fn nal_header_types() {
        // VPS 0x40 0x01, SPS 0x42 0x01, PPS 0x44 0x01, IDR_W_RADL 0x26 0x01, TRAIL_R 0x02 0x01.
        assert_eq!(
            [0x40, 0x42, 0x44, 0x26, 0x02].map(nal_type),
            [32, 33, 34, 19, 1]
        );
        assert!(is_irap(19) && is_irap(21) && !is_irap(1) && !is_irap(22));
        assert!(is_keyframe(&[0x40, 0x01, 0x0C]) && !is_keyframe(&[0x02, 0x01, 0xAA]));
        assert!(!is_keyframe(&[0x26]));
    }

    #[test]
    fn parameter_sets_aggregate_and_a_large_slice_fragments() {
        let vps = [0x40, 0x01, 0x0C, 0x01];
        let sps = [0x42, 0x01, 0x01, 0x01, 0x60];
        let pps = [0x44, 0x01, 0xC1, 0x72];
        let mut idr = vec![0x26, 0x01];
        idr.extend((0..2500).map(|i| (i % 251) as u8 + 1));
        let au = annex_b(&[&vps, &sps, &pps, &idr]);
        let list = payloads_of(&H265Packetizer::new(1200), &au);
        // AP(VPS, SPS, PPS), then the IDR slice in 3 FUs.
        assert_eq!(list.len(), 4);
        // The AP by hand: header type 48, layer 0, TID 1; sizes and units.
        let mut ap = vec![0x60, 0x01, 0, 4];
        ap.extend_from_slice(&vps);
        ap.extend_from_slice(&[0, 5]);
        ap.extend_from_slice(&sps);
        ap.extend_from_slice(&[0, 4]);
        ap.extend_from_slice(&pps);
        assert_eq!(list[0], ap);
        // FU header: type 49 (0x62), TID 1; S + type 19, then middle, then E + type 19.
        assert_eq!(&list[1][..3], &[0x62, 0x01, 0x80 | 19]);
        assert_eq!(&list[2][..3], &[0x62, 0x01, 19]);
        assert_eq!(&list[3][..3], &[0x62, 0x01, 0x40 | 19]);
        assert!(list.iter().all(|p| p.len() <= 1200));
        assert!(is_keyframe(&list[0]) && is_keyframe(&list[1]) && !is_keyframe(&list[2]));
        let frame = join(&list);
        assert_eq!(frame.data, au);
        assert!(frame.keyframe);
    }

    #[test]
    fn single_nal_units_and_a_lost_fragment() {
        let slice = [0x02, 0x01, 0xAA, 0xBB];
        let au = annex_b(&[&slice]);
        let list = payloads_of(&H265Packetizer::new(1200), &au);
        assert_eq!(list, [slice.to_vec()]);
        let f = join(&list);
        assert_eq!((f.data, f.keyframe), (au, false));

        let mut big = vec![0x02, 0x01];
        big.extend(std::iter::repeat_n(7u8, 3000));
        let list = payloads_of(&H265Packetizer::new(1000), &annex_b(&[&big]));
        assert_eq!(list.len(), 4);
        let mut d = H265Depacketizer::default();
        for (i, p) in list.iter().enumerate() {
            if i != 2 {
                assert_eq!(d.push(i as u16, i + 1 == list.len(), p).unwrap(), None);
            }
        }
        let f = d.push(list.len() as u16, true, &slice).unwrap().unwrap();
        assert_eq!(f.data, annex_b(&[&slice]));
    }

    #[test]
    fn unsupported_and_truncated_payloads_are_errors() {
        let mut d = H265Depacketizer::default();
        for (i, (p, e)) in [
            (
                &[0x64, 0x01, 0][..],
                DepacketizeError::Unsupported("H.265 PACI"),
            ),
            (&[0x60, 0x01], DepacketizeError::Truncated("empty H.265 AP")),
            (
                &[0x60, 0x01, 0, 5, 0x02, 0x01],
                DepacketizeError::Truncated("H.265 AP NAL unit"),
            ),
            (
                &[0x62, 0x01],
                DepacketizeError::Truncated("H.265 FU header"),
            ),
            (
                &[0x62, 0x01, 0x01, 9],
                DepacketizeError::Truncated("H.265 FU without its start"),
            ),
            (&[0x02], DepacketizeError::Truncated("H.265 payload header")),
            (
                &[0x7E, 0x01],
                DepacketizeError::Unsupported("reserved H.265 NAL unit type"),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(d.push(i as u16, true, p), Err(e), "{p:?}");
        }
    }
}
