//! RTP header extensions: the RFC 8285 one-byte and two-byte forms, the extension map negotiated in
//! SDP (`a=extmap`), and typed values for the extensions WebRTC uses.

use crate::error::RtpError;

/// The "defined by profile" value of the one-byte header form.
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// The "defined by profile" value of the two-byte header form (the low 4 "appbits" are zero).
pub const TWO_BYTE_PROFILE: u16 = 0x1000;

/// The header extension block of an RTP packet: the profile value and the data after the 4-byte
/// extension header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extensions<'a> {
    profile: u16,
    data: &'a [u8],
}

/// Which RFC 8285 form an extension block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionForm {
    /// One-byte headers: ids 1..=14, 1..=16 bytes of data.
    OneByte,
    /// Two-byte headers: ids 1..=255, 0..=255 bytes of data; carries 4 application bits.
    TwoByte {
        /// The low 4 bits of the profile value.
        appbits: u8,
    },
    /// Not an RFC 8285 block: the data is opaque to us.
    Other,
}

impl<'a> Extensions<'a> {
    /// Wraps a profile value and the extension data (without the 4-byte extension header).
    pub fn new(profile: u16, data: &'a [u8]) -> Self {
        Extensions { profile, data }
    }

    /// The 16-bit "defined by profile" value.
    pub fn profile(&self) -> u16 {
        self.profile
    }

    /// The extension data after the 4-byte extension header, padding included.
    pub fn raw(&self) -> &'a [u8] {
        self.data
    }

    /// Which form the block uses.
    pub fn form(&self) -> ExtensionForm {
        match self.profile {
            ONE_BYTE_PROFILE => ExtensionForm::OneByte,
            p if p & 0xFFF0 == TWO_BYTE_PROFILE => ExtensionForm::TwoByte {
                appbits: (p & 0xF) as u8,
            },
            _ => ExtensionForm::Other,
        }
    }

    /// The elements of an RFC 8285 block, in wire order; yields an error (and then stops) at the
    /// first malformed element. Yields nothing for a non-RFC 8285 block.
    pub fn iter(&self) -> ExtensionIter<'a> {
        ExtensionIter {
            form: self.form(),
            data: self.data,
        }
    }

    /// The data of the first element with this id, if present and well formed.
    pub fn get(&self, id: u8) -> Option<&'a [u8]> {
        self.iter()
            .map_while(Result::ok)
            .find(|e| e.id == id)
            .map(|e| e.data)
    }

    /// The data of the first element with each of `ids`, in one pass over the block (an id of
    /// 0, which no element has, asks for nothing). Stops at the first malformed element, as
    /// [`Extensions::get`] does.
    pub fn get_each<const N: usize>(&self, ids: [u8; N]) -> [Option<&'a [u8]>; N] {
        let mut found = [None; N];
        for element in self.iter().map_while(Result::ok) {
            for (slot, &id) in found.iter_mut().zip(&ids) {
                if id == element.id && slot.is_none() {
                    *slot = Some(element.data);
                }
            }
        }
        found
    }

    /// Checks that every element is well formed.
    pub fn validate(&self) -> Result<(), RtpError> {
        self.iter().try_for_each(|e| e.map(drop))
    }
}

/// One header extension element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionElement<'a> {
    /// The local identifier negotiated by `a=extmap`.
    pub id: u8,
    /// The element's data.
    pub data: &'a [u8],
}

/// Iterator over the elements of an extension block, see [`Extensions::iter`].
#[derive(Debug, Clone)]
pub struct ExtensionIter<'a> {
    form: ExtensionForm,
    data: &'a [u8],
}

impl<'a> Iterator for ExtensionIter<'a> {
    type Item = Result<ExtensionElement<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (&first, rest) = self.data.split_first()?;
            let (id, len, rest) = match self.form {
                ExtensionForm::Other => return None,
                ExtensionForm::OneByte => {
                    if first == 0 {
                        self.data = rest; // padding byte
                        continue;
                    }
                    let id = first >> 4;
                    if id == 15 {
                        // Reserved: processing stops here (RFC 8285 section 4.2).
                        self.data = &[];
                        return None;
                    }
                    (id, (first & 0x0F) as usize + 1, rest)
                }
                ExtensionForm::TwoByte { .. } => {
                    if first == 0 {
                        self.data = rest; // padding byte
                        continue;
                    }
                    let Some((&len, rest)) = rest.split_first() else {
                        self.data = &[];
                        return Some(Err(RtpError::BadExtension(
                            "two-byte element without length",
                        )));
                    };
                    (first, len as usize, rest)
                }
            };
            if rest.len() < len {
                self.data = &[];
                return Some(Err(RtpError::BadExtension(
                    "element longer than the extension block",
                )));
            }
            let (data, rest) = rest.split_at(len);
            self.data = rest;
            return Some(Ok(ExtensionElement { id, data }));
        }
    }
}

/// The header extensions WebRTC uses, identified by their URIs in `a=extmap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionKind {
    /// `http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time`
    AbsSendTime,
    /// `http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01`
    TransportWideCc,
    /// `urn:ietf:params:rtp-hdrext:sdes:mid`
    SdesMid,
    /// `urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id`
    RtpStreamId,
    /// `urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id`
    RepairedRtpStreamId,
    /// `urn:ietf:params:rtp-hdrext:ssrc-audio-level` (RFC 6464)
    AudioLevel,
    /// `urn:3gpp:video-orientation`
    VideoOrientation,
    /// `http://www.webrtc.org/experiments/rtp-hdrext/playout-delay`
    PlayoutDelay,
}

impl ExtensionKind {
    /// Every kind, in declaration order.
    pub const ALL: [ExtensionKind; 8] = [
        ExtensionKind::AbsSendTime,
        ExtensionKind::TransportWideCc,
        ExtensionKind::SdesMid,
        ExtensionKind::RtpStreamId,
        ExtensionKind::RepairedRtpStreamId,
        ExtensionKind::AudioLevel,
        ExtensionKind::VideoOrientation,
        ExtensionKind::PlayoutDelay,
    ];

    /// The URI that names this extension in `a=extmap`.
    pub const fn uri(self) -> &'static str {
        match self {
            ExtensionKind::AbsSendTime => {
                "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
            }
            ExtensionKind::TransportWideCc => {
                "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
            }
            ExtensionKind::SdesMid => "urn:ietf:params:rtp-hdrext:sdes:mid",
            ExtensionKind::RtpStreamId => "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            ExtensionKind::RepairedRtpStreamId => {
                "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
            }
            ExtensionKind::AudioLevel => "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            ExtensionKind::VideoOrientation => "urn:3gpp:video-orientation",
            ExtensionKind::PlayoutDelay => {
                "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
            }
        }
    }

    /// The kind an `a=extmap` URI names, if we know it.
    pub fn from_uri(uri: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.uri() == uri)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The mapping from extension ids to kinds negotiated for one m-section (`a=extmap` lines).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionMap {
    ids: [u8; ExtensionKind::ALL.len()],
}

impl ExtensionMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `id` (1..=255) to `kind`, replacing any previous id of that kind. Id 0 unmaps it.
    pub fn insert(&mut self, id: u8, kind: ExtensionKind) {
        self.ids[kind.index()] = id;
    }

    /// The id negotiated for `kind`.
    pub fn id(&self, kind: ExtensionKind) -> Option<u8> {
        match self.ids[kind.index()] {
            0 => None,
            id => Some(id),
        }
    }

    /// The kind mapped to `id`.
    pub fn kind(&self, id: u8) -> Option<ExtensionKind> {
        if id == 0 {
            return None;
        }
        ExtensionKind::ALL
            .into_iter()
            .find(|k| self.ids[k.index()] == id)
    }

    /// Reads and decodes the typed extension `T` from `extensions`, if it is mapped, present and well
    /// formed.
    pub fn get<'a, T: ExtensionValue<'a>>(&self, extensions: &Extensions<'a>) -> Option<T> {
        let id = self.id(T::KIND)?;
        T::decode(extensions.get(id)?).ok()
    }
}

/// A typed header extension value.
pub trait ExtensionValue<'a>: Sized {
    /// Which extension this is.
    const KIND: ExtensionKind;
    /// Decodes the element data.
    fn decode(data: &'a [u8]) -> Result<Self, RtpError>;
    /// Bytes the encoded value takes.
    fn encoded_len(&self) -> usize;
    /// Encodes into `out[..self.encoded_len()]`; `out` must be at least that long.
    fn encode(&self, out: &mut [u8]);
}

fn exact<const N: usize>(data: &[u8], what: &'static str) -> Result<[u8; N], RtpError> {
    data.try_into().map_err(|_| RtpError::BadExtension(what))
}

/// abs-send-time: a 24-bit 6.18 fixed-point send time in seconds (wraps every 64 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsSendTime(pub u32);

impl AbsSendTime {
    /// From a time in microseconds (of any epoch, e.g. the Unix epoch; only the time within the
    /// current 64-second cycle counts).
    pub fn from_micros(micros: u64) -> Self {
        // Reduce to the 64 s cycle first: shifting a large time by 18 bits would overflow.
        let within = micros % 64_000_000;
        AbsSendTime(((within << 18) / 1_000_000) as u32)
    }

    /// The time within the 64-second cycle, in microseconds.
    pub fn to_micros(self) -> u64 {
        ((self.0 as u64) * 1_000_000) >> 18
    }
}

impl ExtensionValue<'_> for AbsSendTime {
    const KIND: ExtensionKind = ExtensionKind::AbsSendTime;
    fn decode(data: &[u8]) -> Result<Self, RtpError> {
        let [a, b, c] = exact::<3>(data, "abs-send-time is 3 bytes")?;
        Ok(AbsSendTime(u32::from_be_bytes([0, a, b, c])))
    }
    fn encoded_len(&self) -> usize {
        3
    }
    fn encode(&self, out: &mut [u8]) {
        out[..3].copy_from_slice(&self.0.to_be_bytes()[1..]);
    }
}

/// transport-wide-cc: the transport-wide sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportSequence(pub u16);

impl ExtensionValue<'_> for TransportSequence {
    const KIND: ExtensionKind = ExtensionKind::TransportWideCc;
    fn decode(data: &[u8]) -> Result<Self, RtpError> {
        Ok(TransportSequence(u16::from_be_bytes(exact::<2>(
            data,
            "transport-cc is 2 bytes",
        )?)))
    }
    fn encoded_len(&self) -> usize {
        2
    }
    fn encode(&self, out: &mut [u8]) {
        out[..2].copy_from_slice(&self.0.to_be_bytes());
    }
}

fn sdes_text(data: &[u8]) -> Result<&str, RtpError> {
    // Some senders pad the text with NULs; they are not part of the identifier.
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    if end == 0 {
        return Err(RtpError::BadExtension("empty SDES identifier"));
    }
    core::str::from_utf8(&data[..end])
        .map_err(|_| RtpError::BadExtension("SDES identifier is not UTF-8"))
}

macro_rules! sdes_extension {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name<'a>(pub &'a str);

        impl<'a> ExtensionValue<'a> for $name<'a> {
            const KIND: ExtensionKind = $kind;
            fn decode(data: &'a [u8]) -> Result<Self, RtpError> {
                sdes_text(data).map($name)
            }
            fn encoded_len(&self) -> usize {
                self.0.len()
            }
            fn encode(&self, out: &mut [u8]) {
                out[..self.0.len()].copy_from_slice(self.0.as_bytes());
            }
        }
    };
}

sdes_extension!(
    /// sdes:mid: the media identification of the m-section (RFC 9143).
    Mid,
    ExtensionKind::SdesMid
);
sdes_extension!(
    /// sdes:rtp-stream-id: the RID of a simulcast encoding (RFC 8852).
    RtpStreamId,
    ExtensionKind::RtpStreamId
);
sdes_extension!(
    /// sdes:repaired-rtp-stream-id: the RID a repair stream repairs (RFC 8852).
    RepairedRtpStreamId,
    ExtensionKind::RepairedRtpStreamId
);

/// ssrc-audio-level (RFC 6464): voice activity flag and level in -dBov (0 loudest, 127 silence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLevel {
    /// The V bit: the sender believes the packet contains voice.
    pub voice_activity: bool,
    /// Level in -dBov, 0..=127.
    pub level: u8,
}

impl ExtensionValue<'_> for AudioLevel {
    const KIND: ExtensionKind = ExtensionKind::AudioLevel;
    fn decode(data: &[u8]) -> Result<Self, RtpError> {
        // One byte; some senders pad the element to more bytes, which are ignored.
        let &b = data
            .first()
            .ok_or(RtpError::BadExtension("audio level is empty"))?;
        Ok(AudioLevel {
            voice_activity: b & 0x80 != 0,
            level: b & 0x7F,
        })
    }
    fn encoded_len(&self) -> usize {
        1
    }
    fn encode(&self, out: &mut [u8]) {
        out[0] = (u8::from(self.voice_activity) << 7) | (self.level & 0x7F);
    }
}

/// Camera rotation carried by video-orientation (3GPP TS 26.114 CVO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// No rotation.
    Deg0,
    /// 90 degrees counter-clockwise.
    Deg90,
    /// 180 degrees.
    Deg180,
    /// 270 degrees counter-clockwise.
    Deg270,
}

/// video-orientation (urn:3gpp:video-orientation): camera, flip and rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoOrientation {
    /// C bit: back-facing camera.
    pub back_camera: bool,
    /// F bit: horizontal flip.
    pub flip: bool,
    /// Rotation to apply before display.
    pub rotation: Rotation,
}

impl ExtensionValue<'_> for VideoOrientation {
    const KIND: ExtensionKind = ExtensionKind::VideoOrientation;
    fn decode(data: &[u8]) -> Result<Self, RtpError> {
        let &b = data
            .first()
            .ok_or(RtpError::BadExtension("video orientation is empty"))?;
        let rotation = match b & 0x03 {
            0 => Rotation::Deg0,
            1 => Rotation::Deg90,
            2 => Rotation::Deg180,
            _ => Rotation::Deg270,
        };
        Ok(VideoOrientation {
            back_camera: b & 0x08 != 0,
            flip: b & 0x04 != 0,
            rotation,
        })
    }
    fn encoded_len(&self) -> usize {
        1
    }
    fn encode(&self, out: &mut [u8]) {
        out[0] = (u8::from(self.back_camera) << 3)
            | (u8::from(self.flip) << 2)
            | match self.rotation {
                Rotation::Deg0 => 0,
                Rotation::Deg90 => 1,
                Rotation::Deg180 => 2,
                Rotation::Deg270 => 3,
            };
    }
}

/// playout-delay: minimum and maximum playout delay in units of 10 ms (12 bits each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayoutDelay {
    /// Minimum delay, 10 ms units, 0..=4095.
    pub min: u16,
    /// Maximum delay, 10 ms units, 0..=4095.
    pub max: u16,
}

impl ExtensionValue<'_> for PlayoutDelay {
    const KIND: ExtensionKind = ExtensionKind::PlayoutDelay;
    fn decode(data: &[u8]) -> Result<Self, RtpError> {
        let [a, b, c] = exact::<3>(data, "playout delay is 3 bytes")?;
        Ok(PlayoutDelay {
            min: ((a as u16) << 4) | (b as u16 >> 4),
            max: (((b & 0x0F) as u16) << 8) | c as u16,
        })
    }
    fn encoded_len(&self) -> usize {
        3
    }
    fn encode(&self, out: &mut [u8]) {
        let (min, max) = (self.min & 0x0FFF, self.max & 0x0FFF);
        out[0] = (min >> 4) as u8;
        out[1] = ((min & 0x0F) << 4) as u8 | (max >> 8) as u8;
        out[2] = max as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_elements_with_padding_and_stop() {
        // id 1 len 1, padding, id 2 len 2, id 15 stops parsing
        let data = [0x10, 0xAA, 0x00, 0x21, 0x01, 0x02, 0xF0, 0x30, 0x55];
        let ext = Extensions::new(ONE_BYTE_PROFILE, &data);
        let all: Vec<_> = ext.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            all,
            vec![
                ExtensionElement {
                    id: 1,
                    data: &[0xAA]
                },
                ExtensionElement {
                    id: 2,
                    data: &[1, 2]
                }
            ]
        );
        assert_eq!(ext.get(3), None);
    }

    #[test]
    fn get_each_finds_what_get_finds_in_one_pass() {
        // id 1, id 2, id 1 again (the first counts), then a malformed element hiding id 4.
        let data = [0x10, 0xAA, 0x21, 0x01, 0x02, 0x10, 0xBB, 0x42, 0x01];
        let ext = Extensions::new(ONE_BYTE_PROFILE, &data);
        let [one, two, three, nothing, four] = ext.get_each([1, 2, 3, 0, 4]);
        assert_eq!(one, ext.get(1));
        assert_eq!(one, Some(&[0xAA][..]));
        assert_eq!(two, Some(&[1, 2][..]));
        assert_eq!((three, nothing, four), (None, None, None));
        assert_eq!(four, ext.get(4));
    }

    #[test]
    fn two_byte_elements_allow_empty_data() {
        let data = [0x05, 0x00, 0x00, 0x20, 0x02, 0x01, 0x02, 0x00];
        let ext = Extensions::new(0x1003, &data);
        assert_eq!(ext.form(), ExtensionForm::TwoByte { appbits: 3 });
        let all: Vec<_> = ext.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            all,
            vec![
                ExtensionElement { id: 5, data: &[] },
                ExtensionElement {
                    id: 32,
                    data: &[1, 2]
                }
            ]
        );
    }

    #[test]
    fn overlong_element_is_an_error() {
        let data = [0x13, 0xAA];
        let ext = Extensions::new(ONE_BYTE_PROFILE, &data);
        assert!(ext.validate().is_err());
        assert_eq!(ext.get(1), None);
    }

    #[test]
    fn typed_values() {
        let mut map = ExtensionMap::new();
        map.insert(3, ExtensionKind::AbsSendTime);
        map.insert(4, ExtensionKind::SdesMid);
        map.insert(5, ExtensionKind::PlayoutDelay);
        map.insert(6, ExtensionKind::VideoOrientation);
        assert_eq!(map.kind(4), Some(ExtensionKind::SdesMid));
        let data = [
            0x32, 0x12, 0x34, 0x56, 0x41, b'a', b'0', 0x52, 0x01, 0x23, 0x45, 0x60, 0x0D,
        ];
        let ext = Extensions::new(ONE_BYTE_PROFILE, &data);
        assert_eq!(map.get::<AbsSendTime>(&ext), Some(AbsSendTime(0x123456)));
        assert_eq!(map.get::<Mid>(&ext), Some(Mid("a0")));
        assert_eq!(
            map.get::<PlayoutDelay>(&ext),
            Some(PlayoutDelay {
                min: 0x012,
                max: 0x345
            })
        );
        assert_eq!(
            map.get::<VideoOrientation>(&ext),
            Some(VideoOrientation {
                back_camera: true,
                flip: true,
                rotation: Rotation::Deg90
            })
        );
        assert_eq!(map.get::<TransportSequence>(&ext), None);
        assert_eq!(
            ExtensionKind::from_uri("urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
            Some(ExtensionKind::AudioLevel)
        );
    }

    #[test]
    fn abs_send_time_conversion() {
        let t = AbsSendTime::from_micros(1_500_000);
        assert_eq!(t.0, 0x06_0000);
        assert_eq!(t.to_micros(), 1_500_000);
    }

    #[test]
    fn abs_send_time_of_epoch_scale_times() {
        // The exact 6.18 value modulo 2^24, computed without overflow.
        let reference = |m: u64| ((u128::from(m) << 18) / 1_000_000 % (1 << 24)) as u32;
        // A Unix-epoch time in microseconds (2026): the shift alone would overflow u64.
        let now = 1_796_403_799_208_356;
        assert_eq!(AbsSendTime::from_micros(now).0, 6_083_931);
        for m in [
            0,
            63_999_999,
            64_000_000,
            (1 << 46) - 1,
            1 << 46,
            now,
            u64::MAX / 3,
            u64::MAX,
        ] {
            assert_eq!(AbsSendTime::from_micros(m).0, reference(m), "{m}");
        }
        // 64 s apart: the same value; the round trip stays within one 6.18 tick (~3.8 us).
        assert_eq!(
            AbsSendTime::from_micros(now),
            AbsSendTime::from_micros(now + 64_000_000)
        );
        let back = AbsSendTime::from_micros(now).to_micros();
        assert!((now % 64_000_000).abs_diff(back) < 4);
    }
}
