//! Ogg Opus files (RFC 7845): Ogg pages (RFC 3533, CRC checked) joined into packets, the
//! `OpusHead` and `OpusTags` headers checked and skipped, and each audio packet's duration
//! read from its TOC byte (RFC 6716 3.1; 20 ms for what `libopus` writes by default), which is
//! what the pages' granule positions count. A total parser: a truncated or garbage file is an
//! error, and no packet grows past [`MAX_PACKET`].

/// One Opus packet and its duration in 48 kHz samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Packet {
    pub(crate) data: Vec<u8>,
    pub(crate) samples: u32,
}

/// What an Ogg Opus file holds.
#[derive(Debug)]
pub(crate) struct OggOpus {
    /// From `OpusHead`.
    pub(crate) channels: u8,
    /// The audio packets, in order.
    pub(crate) packets: Vec<Packet>,
    /// The granule position of the last page (samples at 48 kHz, pre-skip included).
    pub(crate) last_granule: u64,
}

/// Largest packet taken (an Opus packet is at most 120 ms of 1275-byte frames).
pub(crate) const MAX_PACKET: usize = 64 * 1024;

/// The Ogg CRC-32 (polynomial 0x04C11DB7, not reflected, initial value 0).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The duration of an Opus packet in 48 kHz samples, from its TOC byte (RFC 6716 3.1).
pub(crate) fn packet_samples(packet: &[u8]) -> Result<u32, String> {
    let &toc = packet.first().ok_or("empty Opus packet")?;
    let config = toc >> 3;
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(packet.get(1).ok_or("Opus code 3 packet without count")? & 0x3F),
    };
    let samples = frame * frames;
    if frames == 0 || samples > 5760 {
        return Err(format!(
            "Opus packet of {frames} frames ({samples} samples)"
        ));
    }
    Ok(samples)
}

/// Parses a whole Ogg Opus file (the first logical stream; pages of others are skipped).
pub(crate) fn parse(data: &[u8]) -> Result<OggOpus, String> {
    let mut at = 0;
    let mut serial = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut raw = Vec::new();
    let mut last_granule = 0;
    while at < data.len() {
        let page = &data[at..];
        if page.len() < 27 || &page[..4] != b"OggS" {
            return Err(format!("no Ogg page at byte {at}"));
        }
        if page[4] != 0 {
            return Err(format!("Ogg version {}", page[4]));
        }
        let flags = page[5];
        let granule = u64::from_le_bytes(page[6..14].try_into().expect("8 bytes"));
        let page_serial = u32::from_le_bytes(page[14..18].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(page[22..26].try_into().expect("4 bytes"));
        let segments = usize::from(page[26]);
        let lacing = page
            .get(27..27 + segments)
            .ok_or_else(|| format!("Ogg lacing table truncated at byte {at}"))?;
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let len = 27 + segments + body_len;
        if page.len() < len {
            return Err(format!("Ogg page truncated at byte {at}"));
        }
        let mut check = page[..len].to_vec();
        check[22..26].fill(0);
        if crc32(&check) != crc {
            return Err(format!("Ogg page CRC mismatch at byte {at}"));
        }
        at += len;
        if *serial.get_or_insert(page_serial) != page_serial {
            continue;
        }
        if granule != u64::MAX {
            last_granule = granule;
        }
        // A page not continuing a packet ends the unfinished one (lost pages): dropped.
        if flags & 1 == 0 {
            pending.clear();
        }
        let mut body = &page[27 + segments..len];
        for &l in lacing {
            let (piece, rest) = body.split_at(usize::from(l));
            body = rest;
            if pending.len() + piece.len() > MAX_PACKET {
                return Err(format!("Ogg packet over {MAX_PACKET} bytes"));
            }
            pending.extend_from_slice(piece);
            if l < 255 {
                raw.push(std::mem::take(&mut pending));
            }
        }
    }
    let mut packets = raw.into_iter();
    let head = packets.next().ok_or("no Ogg packet")?;
    if head.len() < 19 || &head[..8] != b"OpusHead" {
        return Err("the first packet is not OpusHead".into());
    }
    let channels = head[9];
    let tags = packets.next().ok_or("no OpusTags packet")?;
    if !tags.starts_with(b"OpusTags") {
        return Err("the second packet is not OpusTags".into());
    }
    let packets = packets
        .map(|data| {
            let samples = packet_samples(&data)?;
            Ok(Packet { data, samples })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if packets.is_empty() {
        return Err("no audio packet".into());
    }
    Ok(OggOpus {
        channels,
        packets,
        last_granule,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One page of `packets` (each under 255 * 255 bytes).
    fn page(flags: u8, granule: u64, sequence: u32, packets: &[&[u8]]) -> Vec<u8> {
        let mut lacing = Vec::new();
        for p in packets {
            lacing.extend(std::iter::repeat_n(255u8, p.len() / 255));
            lacing.push((p.len() % 255) as u8);
        }
        let mut out = b"OggS".to_vec();
        out.push(0);
        out.push(flags);
        out.extend_from_slice(&granule.to_le_bytes());
        out.extend_from_slice(&7u32.to_le_bytes());
        out.extend_from_slice(&sequence.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.push(lacing.len() as u8);
        out.extend_from_slice(&lacing);
        for p in packets {
            out.extend_from_slice(p);
        }
        let crc = crc32(&out);
        out[22..26].copy_from_slice(&crc.to_le_bytes());
        out
    }

    fn head() -> Vec<u8> {
        let mut h = b"OpusHead".to_vec();
        h.extend_from_slice(&[1, 2, 0x38, 0x01, 0x80, 0xBB, 0, 0, 0, 0, 0]);
        h
    }

    fn file() -> Vec<u8> {
        // 20 ms CELT frames (config 31, code 0), one of 300 bytes across lacing values.
        let big = [&[0xF8u8][..], &[7; 299]].concat();
        [
            page(2, 0, 0, &[&head()]),
            page(0, 0, 1, &[b"OpusTags\0\0\0\0\0\0\0\0"]),
            page(0, 1272, 2, &[&[0xF8, 1, 2], &big]),
            page(4, 2232, 3, &[&[0xFB, 0x03, 9, 9]]),
        ]
        .concat()
    }

    #[test]
    fn reads_packets_and_durations() {
        let ogg = parse(&file()).unwrap();
        assert_eq!(ogg.channels, 2);
        assert_eq!(ogg.last_granule, 2232);
        let samples: Vec<u32> = ogg.packets.iter().map(|p| p.samples).collect();
        // Code 3 with 3 frames of 20 ms.
        assert_eq!(samples, [960, 960, 2880]);
        assert_eq!(ogg.packets[1].data.len(), 300);
    }

    #[test]
    fn toc_durations() {
        assert_eq!(packet_samples(&[0x00]), Ok(480)); // SILK 10 ms
        assert!(packet_samples(&[0x0B]).is_err()); // code 3 without its count byte
        assert_eq!(packet_samples(&[0x0B, 0x02]), Ok(1920)); // 2 frames of 20 ms
        assert_eq!(packet_samples(&[0x61]), Ok(960)); // hybrid 10 ms, code 1: 2 frames
        assert!(packet_samples(&[0x1B, 0x03]).is_err()); // 3 frames of 60 ms: 180 ms
        assert!(packet_samples(&[0xFB, 0x00]).is_err()); // no frames
        assert!(packet_samples(&[]).is_err());
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_or_fewer_packets() {
        let data = file();
        for n in 0..data.len() {
            let _ = parse(&data[..n]);
        }
        for i in 0..data.len() {
            let mut d = data.clone();
            d[i] ^= 0x55;
            // A flipped bit anywhere is caught by the capture pattern, a length or the CRC.
            assert!(parse(&d).is_err(), "byte {i}");
        }
        assert!(parse(b"").is_err());
        assert!(parse(&[0x4F; 100]).is_err());
    }
}
