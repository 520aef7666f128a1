//! IVF files (the container of libvpx and libaom: a 32-byte header, then frames each behind a
//! 12-byte header). The header's fourcc names the codec (`VP80`, `VP90`, `AV01`). A total
//! parser: a truncated or garbage file is an error, never a panic, and nothing is allocated
//! beyond the frames the file really holds.

/// What an IVF file holds.
#[derive(Debug)]
pub(crate) struct Ivf {
    /// The codec, as the header's fourcc names it.
    pub(crate) fourcc: [u8; 4],
    /// Frames per second as a fraction (`rate / scale`), from the header's time base.
    pub(crate) rate: u32,
    pub(crate) scale: u32,
    /// The frames (for AV1: temporal units), in file order.
    pub(crate) frames: Vec<Vec<u8>>,
}

/// The IVF signature.
const SIGNATURE: &[u8; 4] = b"DKIF";
/// Bytes of the file header (at least: its length field may say more).
const HEADER: usize = 32;
/// Bytes of a frame header: a 32-bit size and a 64-bit timestamp.
const FRAME_HEADER: usize = 12;
/// Largest frame taken (a 4K key frame is a few hundred KiB).
pub(crate) const MAX_FRAME: usize = 16 << 20;

fn u16_at(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([data[at], data[at + 1]])
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Parses a whole IVF file.
pub(crate) fn parse(data: &[u8]) -> Result<Ivf, String> {
    if data.len() < HEADER || &data[..4] != SIGNATURE {
        return Err("not an IVF file (no DKIF header)".into());
    }
    let header_len = usize::from(u16_at(data, 6));
    if header_len < HEADER || header_len > data.len() {
        return Err(format!("IVF header length {header_len} out of range"));
    }
    let fourcc = [data[8], data[9], data[10], data[11]];
    let (rate, scale) = (u32_at(data, 16), u32_at(data, 20));
    let mut frames = Vec::new();
    let mut at = header_len;
    while at < data.len() {
        if data.len() - at < FRAME_HEADER {
            return Err(format!("IVF frame header truncated at byte {at}"));
        }
        let size = u32_at(data, at) as usize;
        at += FRAME_HEADER;
        if size > MAX_FRAME {
            return Err(format!("IVF frame of {size} bytes (limit {MAX_FRAME})"));
        }
        if size > data.len() - at {
            return Err(format!(
                "IVF frame of {size} bytes truncated ({} left)",
                data.len() - at
            ));
        }
        frames.push(data[at..at + size].to_vec());
        at += size;
    }
    if frames.is_empty() {
        return Err("IVF file without frames".into());
    }
    Ok(Ivf {
        fourcc,
        rate,
        scale,
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IVF file of `frames` with fourcc `VP80` at 30 fps.
    pub(crate) fn file(frames: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"DKIF");
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&32u16.to_le_bytes());
        out.extend_from_slice(b"VP80");
        out.extend_from_slice(&320u16.to_le_bytes());
        out.extend_from_slice(&240u16.to_le_bytes());
        out.extend_from_slice(&30u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for (i, f) in frames.iter().enumerate() {
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(i as u64).to_le_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    #[test]
    fn reads_header_and_frames() {
        let ivf = parse(&file(&[b"abc", b"", b"defg"])).unwrap();
        assert_eq!(&ivf.fourcc, b"VP80");
        assert_eq!((ivf.rate, ivf.scale), (30, 1));
        assert_eq!(ivf.frames, [b"abc".to_vec(), vec![], b"defg".to_vec()]);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let data = file(&[b"abc", b"defg"]);
        for n in 0..data.len() {
            // Cut at a frame boundary, a shorter file is still valid (fewer frames).
            let boundaries = [32 + 12 + 3];
            if boundaries.contains(&n) {
                assert_eq!(parse(&data[..n]).unwrap().frames.len(), 1);
            } else {
                assert!(parse(&data[..n]).is_err(), "cut at {n}");
            }
        }
    }

    #[test]
    fn garbage_and_huge_sizes_are_errors() {
        assert!(parse(b"").is_err());
        assert!(parse(&[0xFF; 100]).is_err());
        let mut data = file(&[b"abc"]);
        data[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&data).is_err());
        // A header length past the end.
        let mut data = file(&[b"abc"]);
        data[6..8].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(parse(&data).is_err());
        // Pseudo-random bytes behind a valid header never panic.
        let mut x = 0x1234_5678u32;
        for len in 0..2000 {
            let mut data = file(&[]);
            for _ in 0..len % 97 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                data.push(x as u8);
            }
            let _ = parse(&data);
        }
    }
}
