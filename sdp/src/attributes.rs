//! Typed views of the attributes WebRTC uses, and [`AttributeList`], the accessors shared by the
//! session level and every media section.
//!
//! Attributes are stored raw ([`Attribute`]); a view borrows its text and is parsed on demand, without
//! allocating. Each view parses with `parse(value)` (returning an [`AttributeError`] naming the
//! attribute and the reason) and writes its value back with `Display`; [`TypedAttribute::to_attribute`]
//! turns a view into an attribute line for building descriptions.

use std::fmt;

use crate::candidate::Candidate;
use crate::error::AttributeError;
use crate::model::Attribute;
use crate::parse::parse_num;

/// A typed attribute value that can be written back as an `a=` line.
pub trait TypedAttribute: fmt::Display {
    /// The attribute's canonical name.
    const NAME: &'static str;

    /// The `a=<NAME>:<value>` line for this value.
    fn to_attribute(&self) -> Attribute<'static> {
        Attribute::new(Self::NAME, self.to_string())
    }
}

fn err(name: &'static str, reason: &'static str) -> AttributeError {
    AttributeError::new(name, reason)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Splits off the first space-separated word; the rest has its leading spaces removed.
#[inline]
fn word(s: &str) -> (&str, &str) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i] != b' ' {
        i += 1;
    }
    let end = i;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    // Spaces are ASCII, so each index is a character boundary and `get` never fails.
    (
        s.get(start..end).unwrap_or_default(),
        s.get(i..).unwrap_or_default(),
    )
}

/// Splits at the first `/` (`(s, None)` when there is none).
#[inline]
fn split_slash(s: &str) -> (&str, Option<&str>) {
    match s.as_bytes().iter().position(|&b| b == b'/') {
        Some(i) => (
            s.get(..i).unwrap_or_default(),
            Some(s.get(i + 1..).unwrap_or_default()),
        ),
        None => (s, None),
    }
}

/// Parses a non-negative decimal (`20`, `29.97`) without exponent, sign, `inf` or `nan`.
fn parse_decimal(s: &str) -> Option<f64> {
    let mut dots = 0;
    if s.is_empty() || s.len() > 32 || s.starts_with('.') || s.ends_with('.') {
        return None;
    }
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => {}
            b'.' => dots += 1,
            _ => return None,
        }
    }
    if dots > 1 {
        return None;
    }
    s.parse().ok()
}

/// Media direction (`a=sendrecv` / `sendonly` / `recvonly` / `inactive`, RFC 8866 section 6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Send and receive.
    SendRecv,
    /// Send only.
    SendOnly,
    /// Receive only.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Recognizes a direction name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| name.eq_ignore_ascii_case(d.as_str()))
    }

    /// Built from whether this side sends and receives.
    pub fn from_flags(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether this side sends.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this side receives.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same direction seen from the other side (sendonly <-> recvonly).
    pub fn reverse(self) -> Self {
        Direction::from_flags(self.receives(), self.sends())
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `a=group:<semantics> <mid>...` (RFC 5888; `BUNDLE` from RFC 9143, `LS` lip sync).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group<'a> {
    /// `BUNDLE`, `LS`, `FID`, ...
    pub semantics: &'a str,
    /// Space-separated identification tags.
    pub mids: &'a str,
}

impl<'a> Group<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (semantics, mids) = word(v);
        if !is_token(semantics) {
            return Err(err("group", "missing semantics"));
        }
        Ok(Self { semantics, mids })
    }

    /// The mids in the group.
    pub fn mids(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.mids.split_ascii_whitespace()
    }

    /// Whether this is a `BUNDLE` group.
    pub fn is_bundle(&self) -> bool {
        self.semantics.eq_ignore_ascii_case("BUNDLE")
    }

    /// Whether this is an `LS` (lip synchronization) group.
    pub fn is_lip_sync(&self) -> bool {
        self.semantics.eq_ignore_ascii_case("LS")
    }
}

impl fmt::Display for Group<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.semantics)?;
        for m in self.mids() {
            write!(f, " {m}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Group<'_> {
    const NAME: &'static str = "group";
}

/// `a=msid-semantic:<semantic> <identifier>...` (e.g. `WMS *`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsidSemantic<'a> {
    /// Usually `WMS`.
    pub semantic: &'a str,
    /// Space-separated stream identifiers (or `*`).
    pub identifiers: &'a str,
}

impl<'a> MsidSemantic<'a> {
    /// Parses the attribute value (leading spaces, as Chromium writes them, are allowed).
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (semantic, identifiers) = word(v);
        if !is_token(semantic) {
            return Err(err("msid-semantic", "missing semantic"));
        }
        Ok(Self {
            semantic,
            identifiers,
        })
    }

    /// The identifiers.
    pub fn identifiers(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.identifiers.split_ascii_whitespace()
    }
}

impl fmt::Display for MsidSemantic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.semantic)?;
        for i in self.identifiers() {
            write!(f, " {i}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for MsidSemantic<'_> {
    const NAME: &'static str = "msid-semantic";
}

/// `a=msid:<stream id> [<track id>]` (RFC 8830).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msid<'a> {
    /// Media stream id (`-` for none).
    pub stream: &'a str,
    /// Track id (the "appdata").
    pub track: Option<&'a str>,
}

impl<'a> Msid<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (stream, rest) = word(v);
        if !is_token(stream) {
            return Err(err("msid", "missing stream id"));
        }
        let (track, extra) = word(rest);
        if !extra.is_empty() {
            return Err(err("msid", "more than two identifiers"));
        }
        Ok(Self {
            stream,
            track: (!track.is_empty()).then_some(track),
        })
    }
}

impl fmt::Display for Msid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stream)?;
        if let Some(t) = self.track {
            write!(f, " {t}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Msid<'_> {
    const NAME: &'static str = "msid";
}

fn ice_credential(name: &'static str, v: &str, min: usize) -> Result<(), AttributeError> {
    if v.len() < min || v.len() > 256 {
        return Err(err(name, "length outside the allowed range"));
    }
    // RFC 8839 ice-char is ALPHA / DIGIT / "+" / "/"; accept every visible ASCII character, as
    // deployed stacks use a few more.
    if !is_token(v) {
        return Err(err(name, "not visible ASCII"));
    }
    Ok(())
}

/// A hash function a DTLS certificate fingerprint can use (RFC 8122 section 5, from RFC 4572's
/// registry): the ones both sides of a WebRTC connection can check. `md5` and `md2` are in the
/// registry but broken, and not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FingerprintHash {
    /// `sha-1`, 20-byte digest.
    Sha1,
    /// `sha-224`, 28-byte digest.
    Sha224,
    /// `sha-256`, 32-byte digest.
    Sha256,
    /// `sha-384`, 48-byte digest.
    Sha384,
    /// `sha-512`, 64-byte digest.
    Sha512,
}

impl FingerprintHash {
    /// Every function, weakest first.
    pub const ALL: [FingerprintHash; 5] = [
        FingerprintHash::Sha1,
        FingerprintHash::Sha224,
        FingerprintHash::Sha256,
        FingerprintHash::Sha384,
        FingerprintHash::Sha512,
    ];

    /// The name as written in SDP (lower case).
    pub fn name(self) -> &'static str {
        match self {
            FingerprintHash::Sha1 => "sha-1",
            FingerprintHash::Sha224 => "sha-224",
            FingerprintHash::Sha256 => "sha-256",
            FingerprintHash::Sha384 => "sha-384",
            FingerprintHash::Sha512 => "sha-512",
        }
    }

    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            FingerprintHash::Sha1 => 20,
            FingerprintHash::Sha224 => 28,
            FingerprintHash::Sha256 => 32,
            FingerprintHash::Sha384 => 48,
            FingerprintHash::Sha512 => 64,
        }
    }

    /// Recognizes a name, ignoring case (`SHA-256` as some stacks write it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|h| name.eq_ignore_ascii_case(h.name()))
    }
}

impl fmt::Display for FingerprintHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Hash function of a `a=fingerprint` (RFC 8122), as written: one of the usable
/// [`FingerprintHash`]es or any other token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFunction<'a> {
    /// `sha-1`
    Sha1,
    /// `sha-224`
    Sha224,
    /// `sha-256`
    Sha256,
    /// `sha-384`
    Sha384,
    /// `sha-512`
    Sha512,
    /// Another token (`md5`, ...), kept as written. Parsing accepts it; negotiation does not use it.
    Other(&'a str),
}

impl<'a> HashFunction<'a> {
    fn from_name(s: &'a str) -> Self {
        match FingerprintHash::from_name(s) {
            Some(h) => h.into(),
            None => HashFunction::Other(s),
        }
    }

    /// The name as written in SDP.
    pub fn as_str(&self) -> &'a str {
        match self {
            HashFunction::Sha1 => "sha-1",
            HashFunction::Sha224 => "sha-224",
            HashFunction::Sha256 => "sha-256",
            HashFunction::Sha384 => "sha-384",
            HashFunction::Sha512 => "sha-512",
            HashFunction::Other(s) => s,
        }
    }

    /// The function, when it is one a fingerprint can be checked with.
    pub fn usable(&self) -> Option<FingerprintHash> {
        match self {
            HashFunction::Sha1 => Some(FingerprintHash::Sha1),
            HashFunction::Sha224 => Some(FingerprintHash::Sha224),
            HashFunction::Sha256 => Some(FingerprintHash::Sha256),
            HashFunction::Sha384 => Some(FingerprintHash::Sha384),
            HashFunction::Sha512 => Some(FingerprintHash::Sha512),
            HashFunction::Other(_) => None,
        }
    }

    /// Digest length in bytes, for the known functions.
    pub fn digest_len(&self) -> Option<usize> {
        self.usable().map(FingerprintHash::digest_len)
    }
}

impl From<FingerprintHash> for HashFunction<'_> {
    fn from(h: FingerprintHash) -> Self {
        match h {
            FingerprintHash::Sha1 => HashFunction::Sha1,
            FingerprintHash::Sha224 => HashFunction::Sha224,
            FingerprintHash::Sha256 => HashFunction::Sha256,
            FingerprintHash::Sha384 => HashFunction::Sha384,
            FingerprintHash::Sha512 => HashFunction::Sha512,
        }
    }
}

/// A certificate fingerprint that can be checked: a [`FingerprintHash`] and a digest of exactly
/// its length. This is what negotiation hands to DTLS
/// ([`Negotiated::remote_fingerprints`](crate::jsep::Negotiated::remote_fingerprints)); the
/// constructors make a mismatched pair unrepresentable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificateFingerprint {
    hash: FingerprintHash,
    digest: Vec<u8>,
}

impl CertificateFingerprint {
    /// The pair, when `digest` has `hash`'s length.
    pub fn new(hash: FingerprintHash, digest: Vec<u8>) -> Option<Self> {
        (digest.len() == hash.digest_len()).then_some(Self { hash, digest })
    }

    /// The hash function.
    pub fn hash(&self) -> FingerprintHash {
        self.hash
    }

    /// The digest (`hash().digest_len()` bytes).
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// Reads an `a=fingerprint` value: `Some` when it is well formed, names a [`FingerprintHash`]
    /// (any case) and has a digest of its length; `None` otherwise (`md5`, unknown names, wrong
    /// lengths, bad hex).
    pub fn from_attribute(value: &str) -> Option<Self> {
        let f = Fingerprint::parse(value).ok()?;
        Self::new(f.hash.usable()?, f.digest())
    }

    /// Splits into the hash function and the digest.
    pub fn into_parts(self) -> (FingerprintHash, Vec<u8>) {
        (self.hash, self.digest)
    }
}

impl fmt::Display for CertificateFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.hash.name(),
            Fingerprint::format_digest(&self.digest)
        )
    }
}

/// `a=fingerprint:<hash-func> <hex:pairs>` (RFC 8122).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint<'a> {
    /// The hash function.
    pub hash: HashFunction<'a>,
    /// Colon-separated uppercase or lowercase hex pairs, as written.
    pub value: &'a str,
}

impl<'a> Fingerprint<'a> {
    /// Parses the attribute value; a known hash function must have a digest of its length.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (hash, value) = word(v);
        if !is_token(hash) {
            return Err(err("fingerprint", "missing hash function"));
        }
        let hash = HashFunction::from_name(hash);
        let value = value.trim_ascii_end();
        // `XX:XX:...:XX`: 3n - 1 bytes, hex pairs at 3i, colons at 3i + 2.
        let b = value.as_bytes();
        let well_formed = (b.len() + 1) % 3 == 0
            && b.chunks(3).all(|c| {
                c[0].is_ascii_hexdigit()
                    && c.get(1).is_some_and(u8::is_ascii_hexdigit)
                    && c.get(2).is_none_or(|&colon| colon == b':')
            });
        if !well_formed {
            return Err(err(
                "fingerprint",
                "fingerprint is not colon-separated hex pairs",
            ));
        }
        let n = (b.len() + 1) / 3;
        if hash.digest_len().is_some_and(|len| len != n) {
            return Err(err(
                "fingerprint",
                "fingerprint length does not match the hash function",
            ));
        }
        Ok(Self { hash, value })
    }

    /// The digest bytes.
    pub fn digest(&self) -> Vec<u8> {
        fn hex(b: u8) -> u8 {
            match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => 0,
            }
        }
        self.value
            .split(':')
            .filter_map(|p| {
                let b = p.as_bytes();
                (b.len() == 2).then(|| hex(b[0]) << 4 | hex(b[1]))
            })
            .collect()
    }

    /// Formats `digest` as uppercase colon-separated hex, as browsers write it.
    pub fn format_digest(digest: &[u8]) -> String {
        let mut s = String::with_capacity(digest.len() * 3);
        for (i, b) in digest.iter().enumerate() {
            if i > 0 {
                s.push(':');
            }
            s.push_str(&format!("{b:02X}"));
        }
        s
    }
}

impl fmt::Display for Fingerprint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.hash.as_str(), self.value)
    }
}

impl TypedAttribute for Fingerprint<'_> {
    const NAME: &'static str = "fingerprint";
}

/// `a=setup:` DTLS role (RFC 4145, RFC 8842).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setup {
    /// Will initiate the connection (DTLS client).
    Active,
    /// Will accept the connection (DTLS server).
    Passive,
    /// Either; offers use this.
    ActPass,
    /// Does not want a connection now.
    HoldConn,
}

impl Setup {
    /// Parses the attribute value, ignoring case.
    pub fn parse(v: &str) -> Result<Self, AttributeError> {
        let v = v.trim_ascii();
        [
            Setup::Active,
            Setup::Passive,
            Setup::ActPass,
            Setup::HoldConn,
        ]
        .into_iter()
        .find(|s| v.eq_ignore_ascii_case(s.as_str()))
        .ok_or_else(|| err("setup", "not active, passive, actpass or holdconn"))
    }

    /// The value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Setup::Active => "active",
            Setup::Passive => "passive",
            Setup::ActPass => "actpass",
            Setup::HoldConn => "holdconn",
        }
    }
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TypedAttribute for Setup {
    const NAME: &'static str = "setup";
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtcp<'a> {
    /// RTCP port.
    pub port: u16,
    /// Network type, address type and address, when given.
    pub address: Option<(&'a str, &'a str, &'a str)>,
}

impl<'a> Rtcp<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let mut it = v.split_ascii_whitespace();
        let port = it
            .next()
            .and_then(parse_num)
            .ok_or_else(|| err("rtcp", "port is not 0-65535"))?;
        let address = match (it.next(), it.next(), it.next(), it.next()) {
            (None, ..) => None,
            (Some(n), Some(t), Some(a), None) => Some((n, t, a)),
            _ => {
                return Err(err(
                    "rtcp",
                    "expected <port> [<nettype> <addrtype> <address>]",
                ));
            }
        };
        Ok(Self { port, address })
    }
}

impl fmt::Display for Rtcp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.port)?;
        if let Some((n, t, a)) = self.address {
            write!(f, " {n} {t} {a}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Rtcp<'_> {
    const NAME: &'static str = "rtcp";
}

/// `a=extmap:<id>[/<direction>] <uri> [<extension attributes>]` (RFC 8285).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extmap<'a> {
    /// Local identifier (1-14 for one-byte headers, up to 255 for two-byte headers).
    pub id: u16,
    /// Direction, when given.
    pub direction: Option<Direction>,
    /// Extension URI.
    pub uri: &'a str,
    /// Extension attributes after the URI.
    pub attributes: Option<&'a str>,
}

impl<'a> Extmap<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (id_dir, rest) = word(v);
        let (id, direction) = match split_slash(id_dir) {
            (id, Some(d)) => (
                id,
                Some(Direction::from_name(d).ok_or_else(|| err("extmap", "unknown direction"))?),
            ),
            (_, None) => (id_dir, None),
        };
        let id: u16 = parse_num(id).ok_or_else(|| err("extmap", "id is not a number"))?;
        if id == 0 || id > 4095 {
            return Err(err("extmap", "id outside 1-4095"));
        }
        let (uri, attrs) = word(rest);
        if !is_token(uri) {
            return Err(err("extmap", "missing URI"));
        }
        Ok(Self {
            id,
            direction,
            uri,
            attributes: (!attrs.is_empty()).then_some(attrs),
        })
    }
}

impl fmt::Display for Extmap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        if let Some(d) = self.direction {
            write!(f, "/{d}")?;
        }
        write!(f, " {}", self.uri)?;
        if let Some(a) = self.attributes {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Extmap<'_> {
    const NAME: &'static str = "extmap";
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtpmap<'a> {
    /// RTP payload type, 0-127.
    pub payload_type: u8,
    /// Encoding name (`opus`, `VP8`, `H264`, `rtx`, ...), case as written.
    pub encoding: &'a str,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters: the number of channels for audio.
    pub channels: Option<u16>,
}

impl<'a> Rtpmap<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (pt, rest) = word(v);
        let payload_type: u8 =
            parse_num(pt).ok_or_else(|| err("rtpmap", "payload type is not a number"))?;
        if payload_type > 127 {
            return Err(err("rtpmap", "payload type above 127"));
        }
        let (encoding, rest) = split_slash(rest.trim_ascii_end());
        if !is_token(encoding) {
            return Err(err("rtpmap", "missing encoding name"));
        }
        let (clock_rate, rest) = split_slash(rest.unwrap_or_default());
        let clock_rate =
            parse_num(clock_rate).ok_or_else(|| err("rtpmap", "clock rate is not a number"))?;
        let channels = match rest.map(split_slash) {
            Some((_, Some(_))) => return Err(err("rtpmap", "too many `/` fields")),
            Some((c, None)) => Some(
                parse_num(c)
                    .ok_or_else(|| err("rtpmap", "encoding parameters are not a number"))?,
            ),
            None => None,
        };
        Ok(Self {
            payload_type,
            encoding,
            clock_rate,
            channels,
        })
    }
}

impl fmt::Display for Rtpmap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding, self.clock_rate
        )?;
        if let Some(c) = self.channels {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Rtpmap<'_> {
    const NAME: &'static str = "rtpmap";
}

/// `a=fmtp:<format> <format specific parameters>`.
///
/// Parameters are usually `key=value` pairs separated by `;` ([`Fmtp::parameters`]); values that are
/// not (RED's `111/111`, telephone-event's `0-16`) are kept opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmtp<'a> {
    /// The format (payload type) the parameters apply to.
    pub format: &'a str,
    /// The parameters as written.
    pub parameters: &'a str,
}

/// One `;`-separated item of an `a=fmtp` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FmtpParameter<'a> {
    /// `key=value`.
    Pair(&'a str, &'a str),
    /// Anything without `=`.
    Opaque(&'a str),
}

impl<'a> Fmtp<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (format, parameters) = word(v);
        if !is_token(format) {
            return Err(err("fmtp", "missing format"));
        }
        Ok(Self {
            format,
            parameters: parameters.trim_ascii_end(),
        })
    }

    /// The format as a payload type, when it is one.
    pub fn payload_type(&self) -> Option<u8> {
        parse_num(self.format)
    }

    /// The `;`-separated parameters.
    pub fn parameters(&self) -> impl Iterator<Item = FmtpParameter<'a>> + use<'a> {
        self.parameters
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => FmtpParameter::Pair(k.trim_ascii(), v.trim_ascii()),
                None => FmtpParameter::Opaque(p),
            })
    }

    /// The value of parameter `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.parameters().find_map(|p| match p {
            FmtpParameter::Pair(k, v) if k.eq_ignore_ascii_case(key) => Some(v),
            _ => None,
        })
    }
}

impl fmt::Display for Fmtp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.format, self.parameters)
    }
}

impl TypedAttribute for Fmtp<'_> {
    const NAME: &'static str = "fmtp";
}

/// The payload an `a=rtcp-fb` applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedbackPayload {
    /// `*`: every payload type of the section.
    All,
    /// One payload type.
    Pt(u8),
}

/// `a=rtcp-fb:<pt|*> <type> [<parameter>]` (RFC 4585).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpFb<'a> {
    /// Which payload types.
    pub payload: FeedbackPayload,
    /// Feedback type: `nack`, `ccm`, `goog-remb`, `transport-cc`, `trr-int`, ...
    pub kind: &'a str,
    /// Parameter: `pli` for `nack pli`, `fir` for `ccm fir`, ...
    pub parameter: Option<&'a str>,
}

impl<'a> RtcpFb<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (pt, rest) = word(v);
        let payload = if pt == "*" {
            FeedbackPayload::All
        } else {
            FeedbackPayload::Pt(
                parse_num(pt)
                    .ok_or_else(|| err("rtcp-fb", "payload type is neither a number nor *"))?,
            )
        };
        let (kind, parameter) = word(rest);
        if !is_token(kind) {
            return Err(err("rtcp-fb", "missing feedback type"));
        }
        let parameter = parameter.trim_ascii_end();
        Ok(Self {
            payload,
            kind,
            parameter: (!parameter.is_empty()).then_some(parameter),
        })
    }

    /// Whether type and parameter match another feedback (ignoring the payload type and case).
    pub fn same_feedback(&self, other: &RtcpFb<'_>) -> bool {
        self.kind.eq_ignore_ascii_case(other.kind)
            && match (self.parameter, other.parameter) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
    }
}

impl fmt::Display for RtcpFb<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.payload {
            FeedbackPayload::All => f.write_str("*")?,
            FeedbackPayload::Pt(pt) => write!(f, "{pt}")?,
        }
        write!(f, " {}", self.kind)?;
        if let Some(p) = self.parameter {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for RtcpFb<'_> {
    const NAME: &'static str = "rtcp-fb";
}

/// `a=ssrc:<ssrc> <attribute>[:<value>]` (RFC 5576).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ssrc<'a> {
    /// The synchronization source.
    pub ssrc: u32,
    /// Source attribute name (`cname`, `msid`, ...).
    pub attribute: &'a str,
    /// Its value.
    pub value: Option<&'a str>,
}

impl<'a> Ssrc<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (ssrc, rest) = word(v);
        let ssrc = parse_num(ssrc).ok_or_else(|| err("ssrc", "ssrc is not a 32-bit number"))?;
        let rest = rest.trim_ascii_end();
        let (attribute, value) = match rest.split_once(':') {
            Some((a, v)) => (a, Some(v)),
            None => (rest, None),
        };
        if attribute.is_empty() {
            return Err(err("ssrc", "missing source attribute"));
        }
        Ok(Self {
            ssrc,
            attribute,
            value,
        })
    }
}

impl fmt::Display for Ssrc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.ssrc, self.attribute)?;
        if let Some(v) = self.value {
            write!(f, ":{v}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Ssrc<'_> {
    const NAME: &'static str = "ssrc";
}

/// `a=ssrc-group:<semantics> <ssrc>...` (`FID`, `SIM`, `FEC-FR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsrcGroup<'a> {
    /// Semantics token.
    pub semantics: &'a str,
    /// Space-separated SSRCs (checked to be numbers by `parse`).
    pub ssrcs: &'a str,
}

impl<'a> SsrcGroup<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (semantics, ssrcs) = word(v);
        if !is_token(semantics) {
            return Err(err("ssrc-group", "missing semantics"));
        }
        if ssrcs
            .split_ascii_whitespace()
            .any(|s| parse_num::<u32>(s).is_none())
        {
            return Err(err("ssrc-group", "ssrc is not a 32-bit number"));
        }
        Ok(Self { semantics, ssrcs })
    }

    /// The SSRCs.
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + use<'a> {
        self.ssrcs.split_ascii_whitespace().filter_map(parse_num)
    }
}

impl fmt::Display for SsrcGroup<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.semantics)?;
        for s in self.ssrcs() {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for SsrcGroup<'_> {
    const NAME: &'static str = "ssrc-group";
}

/// Direction of an `a=rid` (RFC 8851).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RidDirection {
    /// The offerer (or answerer) sends this stream.
    Send,
    /// It receives it.
    Recv,
}

impl RidDirection {
    /// The value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            RidDirection::Send => "send",
            RidDirection::Recv => "recv",
        }
    }

    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            RidDirection::Send => RidDirection::Recv,
            RidDirection::Recv => RidDirection::Send,
        }
    }
}

fn is_rid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `a=rid:<id> <send|recv> [pt=<fmt>,...;<key>=<value>;...]` (RFC 8851).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rid<'a> {
    /// RTP stream identifier.
    pub id: &'a str,
    /// Direction.
    pub direction: RidDirection,
    /// Restrictions (`pt=` list and `;`-separated `key=value` parameters), as written.
    pub restrictions: Option<&'a str>,
}

impl<'a> Rid<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (id, rest) = word(v);
        if !is_rid_id(id) {
            return Err(err("rid", "rid-id is not 1-255 alphanumerics, - or _"));
        }
        let (dir, restrictions) = word(rest);
        let direction = if dir.eq_ignore_ascii_case("send") {
            RidDirection::Send
        } else if dir.eq_ignore_ascii_case("recv") {
            RidDirection::Recv
        } else {
            return Err(err("rid", "direction is not send or recv"));
        };
        let restrictions = restrictions.trim_ascii_end();
        let rid = Self {
            id,
            direction,
            restrictions: (!restrictions.is_empty()).then_some(restrictions),
        };
        for (k, value) in rid.parameters() {
            if k.is_empty() {
                return Err(err("rid", "empty restriction name"));
            }
            if k == "pt" && value.is_some_and(|v| v.split(',').any(|f| f.is_empty())) {
                return Err(err("rid", "empty format in pt="));
            }
        }
        Ok(rid)
    }

    /// The `;`-separated restrictions as `(name, value)`.
    pub fn parameters(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + use<'a> {
        self.restrictions
            .unwrap_or("")
            .split(';')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (p, None),
            })
    }

    /// The payload types allowed by `pt=`, empty when unrestricted.
    pub fn payload_types(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.parameters()
            .filter(|(k, _)| *k == "pt")
            .flat_map(|(_, v)| v.unwrap_or("").split(','))
    }
}

impl fmt::Display for Rid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.direction.as_str())?;
        if let Some(r) = self.restrictions {
            write!(f, " {r}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Rid<'_> {
    const NAME: &'static str = "rid";
}

/// One RID in an `a=simulcast` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulcastRid<'a> {
    /// The RID.
    pub id: &'a str,
    /// Whether it starts paused (`~`).
    pub paused: bool,
}

/// `a=simulcast:send <list> [recv <list>]` (RFC 8853): each list is `;`-separated streams, each a
/// `,`-separated set of alternative RIDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Simulcast<'a> {
    /// The send list as written.
    pub send: Option<&'a str>,
    /// The receive list as written.
    pub recv: Option<&'a str>,
    /// Whether `recv` was written first.
    pub recv_first: bool,
}

/// One `~`-prefixed or plain RID of a simulcast list.
fn simulcast_rid(id: &str) -> Result<SimulcastRid<'_>, AttributeError> {
    let (paused, id) = match id.strip_prefix('~') {
        Some(rest) => (true, rest),
        None => (false, id),
    };
    if !is_rid_id(id) {
        return Err(err("simulcast", "bad rid-id in list"));
    }
    Ok(SimulcastRid { id, paused })
}

/// Checks a simulcast list without building it (validation while parsing allocates nothing).
fn check_simulcast_list(list: &str) -> Result<(), AttributeError> {
    list.split([';', ','])
        .try_for_each(|id| simulcast_rid(id).map(drop))
}

fn simulcast_list(list: &str) -> Result<Vec<Vec<SimulcastRid<'_>>>, AttributeError> {
    list.split(';')
        .map(|stream| stream.split(',').map(simulcast_rid).collect())
        .collect()
}

impl<'a> Simulcast<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let mut s = Self {
            send: None,
            recv: None,
            recv_first: false,
        };
        let mut it = v.split_ascii_whitespace();
        let mut first = true;
        while let Some(dir) = it.next() {
            let list = it
                .next()
                .ok_or_else(|| err("simulcast", "direction without a list"))?;
            check_simulcast_list(list)?;
            let slot = if dir.eq_ignore_ascii_case("send") {
                &mut s.send
            } else if dir.eq_ignore_ascii_case("recv") {
                s.recv_first |= first;
                &mut s.recv
            } else {
                return Err(err("simulcast", "direction is not send or recv"));
            };
            if slot.replace(list).is_some() {
                return Err(err("simulcast", "direction given twice"));
            }
            first = false;
        }
        if first {
            return Err(err("simulcast", "empty"));
        }
        Ok(s)
    }

    /// The streams this side sends: each a list of alternative RIDs.
    pub fn send_streams(&self) -> Vec<Vec<SimulcastRid<'a>>> {
        self.send
            .and_then(|l| simulcast_list(l).ok())
            .unwrap_or_default()
    }

    /// The streams this side receives.
    pub fn recv_streams(&self) -> Vec<Vec<SimulcastRid<'a>>> {
        self.recv
            .and_then(|l| simulcast_list(l).ok())
            .unwrap_or_default()
    }
}

impl fmt::Display for Simulcast<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = if self.recv_first {
            [("recv", self.recv), ("send", self.send)]
        } else {
            [("send", self.send), ("recv", self.recv)]
        };
        let mut first = true;
        for (dir, list) in parts {
            if let Some(l) = list {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{dir} {l}")?;
                first = false;
            }
        }
        Ok(())
    }
}

impl TypedAttribute for Simulcast<'_> {
    const NAME: &'static str = "simulcast";
}

/// Legacy `a=sctpmap:<number> <app> [<streams>]` (draft-ietf-mmusic-sctp-sdp-05).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sctpmap<'a> {
    /// SCTP port (the m= format).
    pub number: u16,
    /// Application, `webrtc-datachannel`.
    pub app: &'a str,
    /// Maximum number of streams.
    pub streams: Option<u32>,
}

impl<'a> Sctpmap<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let mut it = v.split_ascii_whitespace();
        let number = it
            .next()
            .and_then(parse_num)
            .ok_or_else(|| err("sctpmap", "number is not 0-65535"))?;
        let app = it
            .next()
            .ok_or_else(|| err("sctpmap", "missing application"))?;
        let streams = match it.next() {
            Some(s) => Some(parse_num(s).ok_or_else(|| err("sctpmap", "streams is not a number"))?),
            None => None,
        };
        if it.next().is_some() {
            return Err(err("sctpmap", "too many fields"));
        }
        Ok(Self {
            number,
            app,
            streams,
        })
    }
}

impl fmt::Display for Sctpmap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.number, self.app)?;
        if let Some(s) = self.streams {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Sctpmap<'_> {
    const NAME: &'static str = "sctpmap";
}

fn number<T: crate::parse::Num>(name: &'static str, v: &str) -> Result<T, AttributeError> {
    parse_num(v.trim_ascii()).ok_or_else(|| err(name, "not a number in range"))
}

fn decimal(name: &'static str, v: &str) -> Result<f64, AttributeError> {
    parse_decimal(v.trim_ascii()).ok_or_else(|| err(name, "not a non-negative decimal number"))
}

/// Checks the value of every attribute this crate knows; unknown attributes and flags pass.
pub(crate) fn validate(name: &str, value: Option<&str>) -> Result<(), AttributeError> {
    // Names are almost always written in lower case: try them as they are first.
    if check(name, value)? {
        return Ok(());
    }
    if name.len() <= 24 && name.bytes().any(|b| b.is_ascii_uppercase()) {
        let mut buf = [0u8; 24];
        buf[..name.len()].copy_from_slice(name.as_bytes());
        buf[..name.len()].make_ascii_lowercase();
        let lower = std::str::from_utf8(&buf[..name.len()]).unwrap_or("");
        check(lower, value)?;
    }
    Ok(())
}

/// [`validate`] for a lower-case name: `Ok(false)` when the name is not one this crate checks.
fn check(lower: &str, value: Option<&str>) -> Result<bool, AttributeError> {
    let need = |n: &'static str| value.ok_or_else(|| err(n, "missing value"));
    let number_u16 = |n: &'static str| number::<u16>(n, need(n)?).map(drop);
    let decimal = |n: &'static str| decimal(n, need(n)?).map(drop);
    // Dispatch on the first letter, then compare the few names starting with it.
    let Some(&first) = lower.as_bytes().first() else {
        return Ok(false);
    };
    match first {
        b'c' => match lower {
            "candidate" => Candidate::parse(need("candidate")?).map(drop),
            _ => return Ok(false),
        },
        b'r' => match lower {
            "rtcp-fb" => RtcpFb::parse(need("rtcp-fb")?).map(drop),
            "rtpmap" => Rtpmap::parse(need("rtpmap")?).map(drop),
            "rtcp" => Rtcp::parse(need("rtcp")?).map(drop),
            "rid" => Rid::parse(need("rid")?).map(drop),
            _ => return Ok(false),
        },
        b'f' => match lower {
            "fmtp" => Fmtp::parse(need("fmtp")?).map(drop),
            "fingerprint" => Fingerprint::parse(need("fingerprint")?).map(drop),
            "framerate" => decimal("framerate"),
            _ => return Ok(false),
        },
        b'e' => match lower {
            "extmap" => Extmap::parse(need("extmap")?).map(drop),
            _ => return Ok(false),
        },
        b's' => match lower {
            "ssrc" => Ssrc::parse(need("ssrc")?).map(drop),
            "ssrc-group" => SsrcGroup::parse(need("ssrc-group")?).map(drop),
            "setup" => Setup::parse(need("setup")?).map(drop),
            "simulcast" => Simulcast::parse(need("simulcast")?).map(drop),
            "sctp-port" => number_u16("sctp-port"),
            "sctpmap" => Sctpmap::parse(need("sctpmap")?).map(drop),
            _ => return Ok(false),
        },
        b'm' => match lower {
            "mid" => {
                if need("mid")?.is_empty() {
                    Err(err("mid", "empty identification tag"))
                } else {
                    Ok(())
                }
            }
            "msid" => Msid::parse(need("msid")?).map(drop),
            "msid-semantic" => MsidSemantic::parse(need("msid-semantic")?).map(drop),
            "max-message-size" => {
                number::<u64>("max-message-size", need("max-message-size")?).map(drop)
            }
            "maxptime" => decimal("maxptime"),
            _ => return Ok(false),
        },
        b'g' => match lower {
            "group" => Group::parse(need("group")?).map(drop),
            _ => return Ok(false),
        },
        b'i' => match lower {
            "ice-ufrag" => ice_credential("ice-ufrag", need("ice-ufrag")?, 1),
            "ice-pwd" => ice_credential("ice-pwd", need("ice-pwd")?, 1),
            "ice-options" => {
                if need("ice-options")?
                    .split_ascii_whitespace()
                    .next()
                    .is_none()
                {
                    Err(err("ice-options", "no option"))
                } else {
                    Ok(())
                }
            }
            _ => return Ok(false),
        },
        b'p' => match lower {
            "ptime" => decimal("ptime"),
            _ => return Ok(false),
        },
        _ => return Ok(false),
    }
    .map(|()| true)
}

/// Accessors over an ordered list of attributes: implemented by the session level, by every media
/// section and by `[Attribute]`. Lookups ignore the case of names; typed accessors skip values
/// that do not parse (a description parsed with the default [`Limits`](crate::Limits) has none).
pub trait AttributeList {
    /// The attributes, in order.
    fn attribute_slice(&self) -> &[Attribute<'_>];

    /// The first attribute named `name`.
    fn attribute(&self, name: &str) -> Option<&Attribute<'_>> {
        self.attribute_slice().iter().find(|a| a.is(name))
    }

    /// The values of every attribute named `name` (`""` for flags).
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.attribute_slice()
            .iter()
            .filter(move |a| a.is(name))
            .map(|a| a.value_str())
    }

    /// The value of the first attribute named `name`.
    fn value(&self, name: &str) -> Option<&str> {
        self.attribute(name).map(|a| a.value_str())
    }

    /// Whether an attribute named `name` is present.
    fn has(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// `a=mid`.
    fn mid(&self) -> Option<&str> {
        self.value("mid")
    }

    /// Every `a=group`.
    fn groups(&self) -> impl Iterator<Item = Group<'_>> {
        self.values("group").filter_map(|v| Group::parse(v).ok())
    }

    /// The first `a=group:BUNDLE`.
    fn bundle_group(&self) -> Option<Group<'_>> {
        self.groups().find(Group::is_bundle)
    }

    /// `a=msid-semantic`.
    fn msid_semantic(&self) -> Option<MsidSemantic<'_>> {
        self.value("msid-semantic")
            .and_then(|v| MsidSemantic::parse(v).ok())
    }

    /// Every `a=msid`.
    fn msids(&self) -> impl Iterator<Item = Msid<'_>> {
        self.values("msid").filter_map(|v| Msid::parse(v).ok())
    }

    /// `a=ice-ufrag`.
    fn ice_ufrag(&self) -> Option<&str> {
        self.value("ice-ufrag").map(str::trim)
    }

    /// `a=ice-pwd`.
    fn ice_pwd(&self) -> Option<&str> {
        self.value("ice-pwd").map(str::trim)
    }

    /// The tokens of every `a=ice-options` (`trickle`, `ice2`, `renomination`, ...).
    fn ice_options(&self) -> impl Iterator<Item = &str> {
        self.values("ice-options")
            .flat_map(str::split_ascii_whitespace)
    }

    /// Whether `a=ice-options` includes `option` (case-insensitive).
    fn has_ice_option(&self, option: &str) -> bool {
        self.ice_options().any(|o| o.eq_ignore_ascii_case(option))
    }

    /// `a=ice-lite`.
    fn ice_lite(&self) -> bool {
        self.has("ice-lite")
    }

    /// Every `a=fingerprint`.
    fn fingerprints(&self) -> impl Iterator<Item = Fingerprint<'_>> {
        self.values("fingerprint")
            .filter_map(|v| Fingerprint::parse(v).ok())
    }

    /// `a=setup`.
    fn setup(&self) -> Option<Setup> {
        self.value("setup").and_then(|v| Setup::parse(v).ok())
    }

    /// Every `a=candidate`.
    fn candidates(&self) -> impl Iterator<Item = Candidate<'_>> {
        self.values("candidate")
            .filter_map(|v| Candidate::parse(v).ok())
    }

    /// `a=end-of-candidates`.
    fn end_of_candidates(&self) -> bool {
        self.has("end-of-candidates")
    }

    /// `a=rtcp`.
    fn rtcp(&self) -> Option<Rtcp<'_>> {
        self.value("rtcp").and_then(|v| Rtcp::parse(v).ok())
    }

    /// `a=rtcp-mux`.
    fn rtcp_mux(&self) -> bool {
        self.has("rtcp-mux")
    }

    /// `a=rtcp-mux-only` (RFC 8858).
    fn rtcp_mux_only(&self) -> bool {
        self.has("rtcp-mux-only")
    }

    /// `a=rtcp-rsize` (RFC 5506).
    fn rtcp_rsize(&self) -> bool {
        self.has("rtcp-rsize")
    }

    /// Every `a=extmap`.
    fn extmaps(&self) -> impl Iterator<Item = Extmap<'_>> {
        self.values("extmap").filter_map(|v| Extmap::parse(v).ok())
    }

    /// `a=extmap-allow-mixed` (RFC 8285).
    fn extmap_allow_mixed(&self) -> bool {
        self.has("extmap-allow-mixed")
    }

    /// Every `a=rtpmap`.
    fn rtpmaps(&self) -> impl Iterator<Item = Rtpmap<'_>> {
        self.values("rtpmap").filter_map(|v| Rtpmap::parse(v).ok())
    }

    /// The `a=rtpmap` of payload type `pt`. Each call scans the attributes: reading every payload
    /// type of a section this way costs formats x attributes (JSEP indexes them in one pass).
    fn rtpmap(&self, pt: u8) -> Option<Rtpmap<'_>> {
        self.rtpmaps().find(|r| r.payload_type == pt)
    }

    /// Every `a=fmtp`.
    fn fmtps(&self) -> impl Iterator<Item = Fmtp<'_>> {
        self.values("fmtp").filter_map(|v| Fmtp::parse(v).ok())
    }

    /// The `a=fmtp` of payload type `pt` (a scan of the attributes, like [`AttributeList::rtpmap`]).
    fn fmtp(&self, pt: u8) -> Option<Fmtp<'_>> {
        self.fmtps().find(|f| f.payload_type() == Some(pt))
    }

    /// Every `a=rtcp-fb`.
    fn rtcp_fbs(&self) -> impl Iterator<Item = RtcpFb<'_>> {
        self.values("rtcp-fb").filter_map(|v| RtcpFb::parse(v).ok())
    }

    /// Every `a=ssrc`.
    fn ssrcs(&self) -> impl Iterator<Item = Ssrc<'_>> {
        self.values("ssrc").filter_map(|v| Ssrc::parse(v).ok())
    }

    /// Every `a=ssrc-group`.
    fn ssrc_groups(&self) -> impl Iterator<Item = SsrcGroup<'_>> {
        self.values("ssrc-group")
            .filter_map(|v| SsrcGroup::parse(v).ok())
    }

    /// Every `a=rid`.
    fn rids(&self) -> impl Iterator<Item = Rid<'_>> {
        self.values("rid").filter_map(|v| Rid::parse(v).ok())
    }

    /// `a=simulcast`.
    fn simulcast(&self) -> Option<Simulcast<'_>> {
        self.value("simulcast")
            .and_then(|v| Simulcast::parse(v).ok())
    }

    /// `a=sctp-port` (RFC 8841).
    fn sctp_port(&self) -> Option<u16> {
        self.value("sctp-port")
            .and_then(|v| parse_num(v.trim_ascii()))
    }

    /// `a=max-message-size` (RFC 8841).
    fn max_message_size(&self) -> Option<u64> {
        self.value("max-message-size")
            .and_then(|v| parse_num(v.trim_ascii()))
    }

    /// Legacy `a=sctpmap`.
    fn sctpmap(&self) -> Option<Sctpmap<'_>> {
        self.value("sctpmap").and_then(|v| Sctpmap::parse(v).ok())
    }

    /// The direction attribute, when one is present.
    fn direction(&self) -> Option<Direction> {
        self.attribute_slice()
            .iter()
            .find_map(|a| Direction::from_name(&a.name))
    }

    /// `a=bundle-only` (RFC 9143).
    fn bundle_only(&self) -> bool {
        self.has("bundle-only")
    }

    /// `a=framerate`.
    fn framerate(&self) -> Option<f64> {
        self.value("framerate")
            .and_then(|v| parse_decimal(v.trim_ascii()))
    }

    /// `a=ptime` in milliseconds.
    fn ptime(&self) -> Option<f64> {
        self.value("ptime")
            .and_then(|v| parse_decimal(v.trim_ascii()))
    }

    /// `a=maxptime` in milliseconds.
    fn maxptime(&self) -> Option<f64> {
        self.value("maxptime")
            .and_then(|v| parse_decimal(v.trim_ascii()))
    }
}

impl AttributeList for [Attribute<'_>] {
    fn attribute_slice(&self) -> &[Attribute<'_>] {
        self
    }
}

impl AttributeList for crate::model::SessionDescription<'_> {
    fn attribute_slice(&self) -> &[Attribute<'_>] {
        &self.attributes
    }
}

impl AttributeList for crate::model::MediaDescription<'_> {
    fn attribute_slice(&self) -> &[Attribute<'_>] {
        &self.attributes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtpmap() {
        let r = Rtpmap::parse("111 opus/48000/2").unwrap();
        assert_eq!(
            (r.payload_type, r.encoding, r.clock_rate, r.channels),
            (111, "opus", 48000, Some(2))
        );
        assert_eq!(r.to_string(), "111 opus/48000/2");
        assert!(Rtpmap::parse("128 x/1").is_err());
        assert!(Rtpmap::parse("96 VP8").is_err());
        assert!(Rtpmap::parse("96 VP8/90000/1/2").is_err());
    }

    #[test]
    fn fmtp_pairs_and_opaque() {
        let f = Fmtp::parse("111 minptime=10;useinbandfec=1").unwrap();
        assert_eq!(f.payload_type(), Some(111));
        assert_eq!(f.get("useinbandfec"), Some("1"));
        assert_eq!(f.get("MINPTIME"), Some("10"));
        let red = Fmtp::parse("63 111/111").unwrap();
        assert_eq!(
            red.parameters().collect::<Vec<_>>(),
            vec![FmtpParameter::Opaque("111/111")]
        );
        let h264 = Fmtp::parse(
            "102 level-asymmetry-allowed=1; packetization-mode=1 ;profile-level-id=42001f",
        )
        .unwrap();
        assert_eq!(h264.get("packetization-mode"), Some("1"));
        assert_eq!(h264.get("profile-level-id"), Some("42001f"));
    }

    #[test]
    fn fingerprint() {
        let v = "sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F";
        let f = Fingerprint::parse(v).unwrap();
        assert_eq!(f.hash, HashFunction::Sha256);
        assert_eq!(f.digest().len(), 32);
        assert_eq!(f.digest()[0], 0xD2);
        assert_eq!(f.to_string(), v);
        assert_eq!(Fingerprint::format_digest(&f.digest()), f.value);
        assert!(Fingerprint::parse("sha-1 D2:FA").is_err());
        assert!(Fingerprint::parse("sha-256 zz").is_err());
        let sha1 =
            Fingerprint::parse("SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB")
                .unwrap();
        assert_eq!(sha1.hash, HashFunction::Sha1);
        for (name, len) in [("sha-224", 28), ("sha-384", 48), ("sha-512", 64)] {
            let digest = Fingerprint::format_digest(&vec![0xAB; len]);
            assert_eq!(
                Fingerprint::parse(&format!("{name} {digest}"))
                    .unwrap()
                    .digest()
                    .len(),
                len
            );
        }
    }

    #[test]
    fn certificate_fingerprints_need_a_usable_hash_and_its_length() {
        for h in FingerprintHash::ALL {
            assert_eq!(FingerprintHash::from_name(h.name()), Some(h));
            assert_eq!(
                FingerprintHash::from_name(&h.name().to_ascii_uppercase()),
                Some(h)
            );
            let digest = vec![0x5A; h.digest_len()];
            let value = format!("{} {}", h.name(), Fingerprint::format_digest(&digest));
            let f = CertificateFingerprint::from_attribute(&value).unwrap();
            assert_eq!((f.hash(), f.digest()), (h, digest.as_slice()));
            assert_eq!(f.to_string(), value);
            assert_eq!(Fingerprint::parse(&value).unwrap().hash.usable(), Some(h));
            assert!(CertificateFingerprint::new(h, vec![0; h.digest_len() + 1]).is_none());
        }
        assert_eq!(FingerprintHash::from_name("md5"), None);
        // Unknown names still parse as attributes, but are not usable.
        let md5 =
            Fingerprint::parse("md5 01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10").unwrap();
        assert_eq!(md5.hash, HashFunction::Other("md5"));
        assert_eq!(md5.hash.usable(), None);
        assert_eq!(md5.hash.digest_len(), None);
        for bad in [
            "md5 01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10",
            "foo AB:CD",
            "sha-256 AB:CD",
            "sha-1 zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz:zz",
            "",
        ] {
            assert_eq!(CertificateFingerprint::from_attribute(bad), None, "{bad}");
        }
    }

    #[test]
    fn extmap() {
        let e = Extmap::parse("3/sendonly urn:ietf:params:rtp-hdrext:sdes:mid").unwrap();
        assert_eq!(e.id, 3);
        assert_eq!(e.direction, Some(Direction::SendOnly));
        assert_eq!(
            e.to_string(),
            "3/sendonly urn:ietf:params:rtp-hdrext:sdes:mid"
        );
        assert!(Extmap::parse("0 urn:x").is_err());
        assert!(Extmap::parse("1/sideways urn:x").is_err());
        let with_attr = Extmap::parse("4 urn:ietf:params:rtp-hdrext:encrypt urn:x").unwrap();
        assert_eq!(with_attr.attributes, Some("urn:x"));
    }

    #[test]
    fn rtcp_fb_ssrc_groups() {
        let fb = RtcpFb::parse("96 nack pli").unwrap();
        assert_eq!(
            (fb.payload, fb.kind, fb.parameter),
            (FeedbackPayload::Pt(96), "nack", Some("pli"))
        );
        assert_eq!(
            RtcpFb::parse("* transport-cc").unwrap().payload,
            FeedbackPayload::All
        );
        let s = Ssrc::parse("3735928559 cname:4TOk42mSjXCkVIa6").unwrap();
        assert_eq!(
            (s.ssrc, s.attribute, s.value),
            (3735928559, "cname", Some("4TOk42mSjXCkVIa6"))
        );
        assert!(Ssrc::parse("4294967296 cname:x").is_err());
        let g = SsrcGroup::parse("FID 1 2").unwrap();
        assert_eq!(g.ssrcs().collect::<Vec<_>>(), vec![1, 2]);
        assert!(SsrcGroup::parse("SIM 1 x").is_err());
        let grp = Group::parse("BUNDLE 0 1 2").unwrap();
        assert!(grp.is_bundle());
        assert_eq!(grp.mids().collect::<Vec<_>>(), vec!["0", "1", "2"]);
        assert!(Group::parse("LS a b").unwrap().is_lip_sync());
    }

    #[test]
    fn rid_and_simulcast() {
        // RFC 8851 section 10 and RFC 8853 section 5.1.
        let r = Rid::parse("1 send pt=97;max-width=1280;max-height=720").unwrap();
        assert_eq!(r.direction, RidDirection::Send);
        assert_eq!(r.payload_types().collect::<Vec<_>>(), vec!["97"]);
        assert_eq!(r.parameters().nth(1), Some(("max-width", Some("1280"))));
        assert!(Rid::parse("1 both").is_err());
        assert!(Rid::parse("a!b send").is_err());
        let s = Simulcast::parse("send 1;~4,2 recv 3").unwrap();
        let send = s.send_streams();
        assert_eq!(send.len(), 2);
        assert_eq!(
            send[1][0],
            SimulcastRid {
                id: "4",
                paused: true
            }
        );
        assert_eq!(s.recv_streams()[0][0].id, "3");
        assert_eq!(s.to_string(), "send 1;~4,2 recv 3");
        let r = Simulcast::parse("recv h;m;l").unwrap();
        assert_eq!(r.recv_streams().len(), 3);
        assert!(Simulcast::parse("send").is_err());
        assert!(Simulcast::parse("send 1 send 2").is_err());
        // Checked without being built: the same errors as building the lists.
        for bad in [
            "send a;;b",
            "send a,",
            "send ~",
            "recv a;b!",
            "send ,a",
            "send a;~~b",
        ] {
            let v = bad.split_once(' ').unwrap().1;
            assert!(simulcast_list(v).is_err(), "{bad}");
            assert!(Simulcast::parse(bad).is_err(), "{bad}");
        }
        let long = format!("send {}", vec!["~a,b"; 2000].join(";"));
        let s = Simulcast::parse(&long).unwrap();
        assert_eq!(s.send_streams().len(), 2000);
        assert!(
            s.send_streams()
                .iter()
                .all(|alts| alts.len() == 2 && alts[0].paused)
        );
    }

    #[test]
    fn small_values() {
        assert_eq!(Setup::parse("ACTPASS").unwrap(), Setup::ActPass);
        assert!(Setup::parse("both").is_err());
        assert_eq!(Direction::SendOnly.reverse(), Direction::RecvOnly);
        assert_eq!(Direction::from_name("SENDRECV"), Some(Direction::SendRecv));
        let rtcp = Rtcp::parse("9 IN IP4 0.0.0.0").unwrap();
        assert_eq!(rtcp.port, 9);
        assert_eq!(rtcp.to_string(), "9 IN IP4 0.0.0.0");
        assert_eq!(
            Sctpmap::parse("5000 webrtc-datachannel 1024")
                .unwrap()
                .streams,
            Some(1024)
        );
        let m = Msid::parse("stream track").unwrap();
        assert_eq!(m.track, Some("track"));
        assert!(Msid::parse("a b c").is_err());
        assert_eq!(parse_decimal("29.97"), Some(29.97));
        assert_eq!(parse_decimal("inf"), None);
        assert_eq!(parse_decimal("1e5"), None);
        assert!(validate("PTIME", Some("x")).is_err());
        assert!(validate("x-unknown", Some("whatever")).is_ok());
        assert!(validate("rtpmap", None).is_err());
    }
}
