//! H.264 payloads (RFC 6184, packetization mode 1): an access unit (Annex B byte stream) is cut
//! into single NAL unit packets, STAP-A packets aggregating small NAL units (parameter sets
//! with the slice that follows), and FU-A fragments of NAL units larger than a payload. The
//! depacketizer gives back Annex B access units (a 4-byte start code before each NAL unit).

use super::{AnnexBUnits, DEFAULT_MAX_FRAME, DepacketizeError, Frame, Payloads, even_split};

const STAP_A: u8 = 24;
const FU_A: u8 = 28;
const IDR: u8 = 5;

/// The NAL units of an Annex B byte stream (without start codes or trailing zero bytes). Input
/// without any start code is one NAL unit.
pub fn nal_units(stream: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = match find_start(stream) {
        Some((at, len)) => &stream[at + len..],
        None => stream,
    };
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (nal, next) = match find_start(rest) {
            Some((at, len)) => (&rest[..at], &rest[at + len..]),
            None => (rest, &[][..]),
        };
        rest = next;
        let end = nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        Some(&nal[..end])
    })
    .filter(|nal| !nal.is_empty())
}

/// The next `00 00 01` start code: where it starts and its length (3, or 4 with a leading
/// zero byte). The `01` bytes are found with `memchr` (vectorized), then their two zeros checked.
fn find_start(data: &[u8]) -> Option<(usize, usize)> {
    let mut from = 2;
    while from < data.len() {
        let one = from + memchr::memchr(1, &data[from..])?;
        if data[one - 1] == 0 && data[one - 2] == 0 {
            let at = one - 2;
            return Some(if at > 0 && data[at - 1] == 0 {
                (at - 1, 4)
            } else {
                (at, 3)
            });
        }
        from = one + 1;
    }
    None
}

/// This payload starts an H.264 key frame: it holds (whole, in a STAP-A, or as the first FU-A
/// fragment) an IDR slice or a sequence parameter set. False for anything that does not parse.
pub fn is_keyframe(payload: &[u8]) -> bool {
    let key = |header: u8| matches!(header & 0x1F, IDR | 7);
    let Some(&header) = payload.first() else {
        return false;
    };
    match header & 0x1F {
        STAP_A => {
            let mut rest = &payload[1..];
            while let [hi, lo, tail @ ..] = rest {
                let len = usize::from(u16::from_be_bytes([*hi, *lo]));
                let Some(nal) = tail.get(..len) else {
                    return false;
                };
                if nal.first().is_some_and(|&h| key(h)) {
                    return true;
                }
                rest = &tail[len..];
            }
            false
        }
        FU_A => payload.get(1).is_some_and(|&fu| fu & 0x80 != 0 && key(fu)),
        _ => key(header),
    }
}

/// Cuts H.264 access units into payloads of at most `max_payload` bytes.
#[derive(Debug, Clone)]
pub struct H264Packetizer {
    max_payload: usize,
}

impl H264Packetizer {
    /// A packetizer for payloads of at most `max_payload` bytes (at least 3).
    pub fn new(max_payload: usize) -> Self {
        Self {
            max_payload: max_payload.max(3),
        }
    }

    /// Cuts the access unit `annex_b` (NAL units behind start codes) into `payloads`.
    pub fn packetize(&self, annex_b: &[u8], payloads: &mut Payloads) {
        payloads.clear();
        let mut nals = nal_units(annex_b).peekable();
        let fits = |size: usize, nal: &[u8]| {
            nal.len() <= 0xFFFF && size + 2 + nal.len() <= self.max_payload
        };
        while let Some(nal) = nals.next() {
            // This and the following small NAL units, while they fit, go in one STAP-A.
            if fits(1, nal) && nals.peek().is_some_and(|next| fits(3 + nal.len(), next)) {
                let out = payloads.next();
                out.push(STAP_A);
                let mut nri = 0;
                let mut add = |out: &mut Vec<u8>, nal: &[u8]| {
                    nri = nri.max(nal[0] & 0x60);
                    out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
                    out.extend_from_slice(nal);
                };
                add(out, nal);
                while let Some(next) = nals.next_if(|next| fits(out.len(), next)) {
                    add(out, next);
                }
                out[0] |= nri;
                continue;
            }
            if nal.len() <= self.max_payload {
                payloads.next().extend_from_slice(nal);
            } else {
                let header = nal[0];
                let body = &nal[1..];
                let (count, piece) = even_split(body.len(), self.max_payload - 2);
                for k in 0..count {
                    let start = (k * piece).min(body.len());
                    let end = (start + piece).min(body.len());
                    let mut fu = header & 0x1F;
                    if k == 0 {
                        fu |= 0x80;
                    }
                    if k + 1 == count {
                        fu |= 0x40;
                    }
                    let out = payloads.next();
                    out.extend_from_slice(&[(header & 0xE0) | FU_A, fu]);
                    out.extend_from_slice(&body[start..end]);
                }
            }
        }
    }
}

/// Joins H.264 payloads into Annex B access units.
#[derive(Debug)]
pub struct H264Depacketizer {
    units: AnnexBUnits,
}

impl Default for H264Depacketizer {
    fn default() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }
}

impl H264Depacketizer {
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

/// The NAL units of one H.264 payload (single, STAP-A or FU-A) into the access unit.
fn add(units: &mut AnnexBUnits, payload: &[u8]) -> Result<(), DepacketizeError> {
    let &header = payload
        .first()
        .ok_or(DepacketizeError::Truncated("empty H.264 payload"))?;
    let is_idr = |nal_header: u8| nal_header & 0x1F == IDR;
    match header & 0x1F {
        1..=23 => units.nal(payload, is_idr(header)),
        STAP_A => {
            let mut rest = &payload[1..];
            while !rest.is_empty() {
                let [hi, lo, ..] = *rest else {
                    return Err(DepacketizeError::Truncated("STAP-A size"));
                };
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                let nal = rest
                    .get(2..2 + len)
                    .filter(|n| !n.is_empty())
                    .ok_or(DepacketizeError::Truncated("STAP-A NAL unit"))?;
                units.nal(nal, is_idr(nal[0]))?;
                rest = &rest[2 + len..];
            }
            Ok(())
        }
        FU_A => {
            let &fu = payload
                .get(1)
                .ok_or(DepacketizeError::Truncated("FU-A header"))?;
            let nal_header = (header & 0xE0) | (fu & 0x1F);
            units.fragment(
                (fu & 0x80 != 0, fu & 0x40 != 0),
                &[nal_header],
                &payload[2..],
                is_idr(nal_header),
                "FU-A without its start",
            )
        }
        25 => Err(DepacketizeError::Unsupported("STAP-B")),
        26 | 27 => Err(DepacketizeError::Unsupported("MTAP")),
        29 => Err(DepacketizeError::Unsupported("FU-B")),
        _ => Err(DepacketizeError::Unsupported("reserved NAL unit type")),
    }
}

super::depacketizer_by_inherent_push!(H264Depacketizer);

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

    fn run(p: &H264Packetizer, au: &[u8]) -> (Vec<Vec<u8>>, Frame) {
        let mut payloads = Payloads::default();
        p.packetize(au, &mut payloads);
        let list: Vec<Vec<u8>> = payloads.iter().map(<[u8]>::to_vec).collect();
        let mut d = H264Depacketizer::default();
        let mut frame = None;
        for (i, payload) in list.iter().enumerate() {
            frame = d.push(i as u16, i + 1 == list.len(), payload).unwrap();
        }
        (list, frame.expect("a frame"))
    }

    #[test]
    fn start_codes_of_both_lengths_and_trailing_zeros() {
        let stream = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4,
        ];
        let nals: Vec<&[u8]> = nal_units(&stream).collect();
        assert_eq!(nals, [&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4]]);
        assert_eq!(nal_units(&[0x41, 9]).collect::<Vec<_>>(), [&[0x41, 9][..]]);
    }

    #[test]
    fn parameter_sets_go_in_a_stap_a_and_a_large_slice_in_fu_a() {
        let sps = [0x67, 0x42, 0xE0, 0x1F];
        let pps = [0x68, 0xCE, 0x3C, 0x80];
        let mut idr = vec![0x65];
        idr.extend((0..2500).map(|i| (i % 251) as u8 + 1));
        let au = annex_b(&[&sps, &pps, &idr]);
        let (payloads, frame) = run(&H264Packetizer::new(1200), &au);
        // STAP-A (SPS, PPS), then the IDR slice in 3 FU-A fragments.
        assert_eq!(payloads.len(), 4);
        assert_eq!(payloads[0][0] & 0x1F, STAP_A);
        assert_eq!(&payloads[0][1..3], &[0, 4]);
        assert_eq!((payloads[1][0], payloads[1][1]), (0x60 | FU_A, 0x80 | IDR));
        assert_eq!(payloads[2][1], IDR);
        assert_eq!(payloads[3][1], 0x40 | IDR);
        assert!(is_keyframe(&payloads[0]) && is_keyframe(&payloads[1]));
        assert!(!is_keyframe(&payloads[2]) && !is_keyframe(&[0x41, 1]) && !is_keyframe(&[]));
        assert!(payloads.iter().all(|p| p.len() <= 1200));
        assert_eq!(frame.data, au);
        assert!(frame.keyframe);
    }

    #[test]
    fn a_lost_fragment_drops_the_access_unit() {
        let mut slice = vec![0x41];
        slice.extend(std::iter::repeat_n(7u8, 3000));
        let au = annex_b(&[&slice]);
        let mut payloads = Payloads::default();
        H264Packetizer::new(1000).packetize(&au, &mut payloads);
        let list: Vec<Vec<u8>> = payloads.iter().map(<[u8]>::to_vec).collect();
        assert_eq!(list.len(), 4);
        let mut d = H264Depacketizer::default();
        for (i, p) in list.iter().enumerate() {
            if i != 2 {
                assert_eq!(d.push(i as u16, i + 1 == list.len(), p).unwrap(), None);
            }
        }
        // The next access unit comes through whole.
        let next = annex_b(&[&[0x41, 1, 2, 3]]);
        H264Packetizer::new(1000).packetize(&next, &mut payloads);
        let p = payloads.iter().next().unwrap();
        let f = d.push(list.len() as u16, true, p).unwrap().unwrap();
        assert_eq!((f.data, f.keyframe), (next, false));
    }

    #[test]
    fn unsupported_and_truncated_payloads_are_errors() {
        let mut d = H264Depacketizer::default();
        for (i, (p, e)) in [
            (&[0x19, 0][..], DepacketizeError::Unsupported("STAP-B")),
            (&[0x1D, 0x80], DepacketizeError::Unsupported("FU-B")),
            (
                &[0x18, 0, 5, 0x67],
                DepacketizeError::Truncated("STAP-A NAL unit"),
            ),
            (&[0x1C], DepacketizeError::Truncated("FU-A header")),
            (&[], DepacketizeError::Truncated("empty H.264 payload")),
        ]
        .into_iter()
        .enumerate()
        {
            assert_eq!(d.push(i as u16, true, p), Err(e), "{p:?}");
        }
    }
}
