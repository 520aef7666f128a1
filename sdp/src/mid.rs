//! [`Mid`], the identifier of an m-section (`a=mid`, RFC 5888; BUNDLE, RFC 8843).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::str::FromStr;

use thiserror::Error;

/// The longest [`Mid`], in bytes. A mid is sent in RTP packets in the `sdes:mid` header
/// extension (RFC 8843 section 15), whose one-byte form (RFC 8285) carries at most 16 bytes;
/// Firefox refuses longer mids for that reason, and JSEP (RFC 9429 section 5.2.1) asks for 3
/// bytes or fewer.
pub const MAX_MID_LEN: usize = 16;

/// The identifier of an m-section: an SDP token (RFC 8866 `token`, RFC 5888
/// `identification-tag`) of 1 to [`MAX_MID_LEN`] bytes, stored inline, so it is `Copy`.
///
/// It compares, orders and hashes as its text, dereferences to `&str`, and compares with
/// `&str` directly.
///
/// ```
/// use sansrtc_sdp::{Mid, MidError};
///
/// let mid: Mid = "audio".parse()?;
/// assert_eq!(mid, "audio");
/// assert_eq!(mid.as_str(), "audio");
/// assert_eq!(mid.to_string(), "audio");
/// assert_eq!(Mid::new("a b"), Err(MidError::NotToken));
/// assert_eq!(Mid::new(&"x".repeat(17)), Err(MidError::TooLong { len: 17 }));
/// # Ok::<(), MidError>(())
/// ```
#[derive(Clone, Copy)]
pub struct Mid {
    len: u8,
    bytes: [u8; MAX_MID_LEN],
}

/// Why a text is not a [`Mid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MidError {
    /// The text is empty.
    #[error("empty mid")]
    Empty,
    /// The text is longer than [`MAX_MID_LEN`].
    #[error("mid of {len} bytes, longer than {MAX_MID_LEN}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The text has a character an SDP token does not allow (space, control characters,
    /// non-ASCII, or one of `"(),/:;<=>?@[\]`).
    #[error("mid with a character not allowed in an SDP token")]
    NotToken,
}

/// RFC 8866 `token-char`: `%x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E`.
const fn is_token_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x27 | 0x2A..=0x2B | 0x2D..=0x2E | 0x30..=0x39 | 0x41..=0x5A | 0x5E..=0x7E)
}

impl Mid {
    /// `s` as a mid: 1 to [`MAX_MID_LEN`] bytes of SDP token characters.
    pub const fn new(s: &str) -> Result<Mid, MidError> {
        let b = s.as_bytes();
        if b.is_empty() {
            return Err(MidError::Empty);
        }
        if b.len() > MAX_MID_LEN {
            return Err(MidError::TooLong { len: b.len() });
        }
        let mut bytes = [0u8; MAX_MID_LEN];
        let mut i = 0;
        while i < b.len() {
            if !is_token_char(b[i]) {
                return Err(MidError::NotToken);
            }
            bytes[i] = b[i];
            i += 1;
        }
        Ok(Mid {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The decimal mid `n` (`0`, `1`, ...), as JSEP numbers the sections it creates; `None`
    /// above 16 digits.
    pub(crate) fn from_number(n: u64) -> Option<Mid> {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut n = n;
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let digits = &buf[i..];
        let mut bytes = [0u8; MAX_MID_LEN];
        bytes.get_mut(..digits.len())?.copy_from_slice(digits);
        Some(Mid {
            len: digits.len() as u8,
            bytes,
        })
    }

    /// The mid's text.
    pub fn as_str(&self) -> &str {
        // Only ASCII token characters are ever stored, so this cannot fail.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The mid's bytes, as the `sdes:mid` header extension carries them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Deref for Mid {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Mid {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Mid {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Mid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Mid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl FromStr for Mid {
    type Err = MidError;

    fn from_str(s: &str) -> Result<Mid, MidError> {
        Mid::new(s)
    }
}

impl TryFrom<&str> for Mid {
    type Error = MidError;

    fn try_from(s: &str) -> Result<Mid, MidError> {
        Mid::new(s)
    }
}

impl PartialEq for Mid {
    fn eq(&self, other: &Mid) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Mid {}

impl PartialOrd for Mid {
    fn partial_cmp(&self, other: &Mid) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Mid {
    fn cmp(&self, other: &Mid) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Mid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As its text, so that maps keyed by `Mid` can be searched with a `&str`.
        self.as_str().hash(state)
    }
}

impl PartialEq<str> for Mid {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Mid {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<Mid> for str {
    fn eq(&self, other: &Mid) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Mid> for &str {
    fn eq(&self, other: &Mid) -> bool {
        *self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn mids_are_sdp_tokens_of_at_most_16_bytes() {
        for ok in [
            "0",
            "a1",
            "audio",
            "v-1.x_y~",
            "!#$%&'*+^`{|}",
            &"9".repeat(16),
        ] {
            let mid = Mid::new(ok).unwrap();
            assert_eq!(mid.as_str(), ok);
            assert_eq!(mid.as_bytes(), ok.as_bytes());
            assert_eq!(ok.parse::<Mid>(), Ok(mid));
            assert_eq!(Mid::try_from(ok), Ok(mid));
        }
        assert_eq!(Mid::new(""), Err(MidError::Empty));
        assert_eq!(
            Mid::new(&"9".repeat(17)),
            Err(MidError::TooLong { len: 17 })
        );
        for bad in [
            "a b", "a:b", "a/b", "a\"", "(", "a,b", "a;b", "a=b", "@", "[", "\\", "é", "\t",
        ] {
            assert_eq!(Mid::new(bad), Err(MidError::NotToken), "{bad:?}");
        }
        assert_eq!(
            MidError::TooLong { len: 17 }.to_string(),
            "mid of 17 bytes, longer than 16"
        );
    }

    #[test]
    fn mids_behave_as_their_text() {
        let a = Mid::new("a").unwrap();
        let b = Mid::new("b").unwrap();
        let ten = Mid::new("10").unwrap();
        assert!(a < b && ten < Mid::new("9").unwrap(), "ordered as text");
        assert_eq!(a, "a");
        assert_eq!("a", a);
        assert_eq!(format!("{a} {a:?}"), "a \"a\"");
        assert!(a.starts_with('a'), "dereferences to str");
        let map: HashMap<Mid, u8> = [(a, 1), (b, 2)].into();
        assert_eq!(map.get("b"), Some(&2), "hashes as its text");
        const AUDIO: Mid = match Mid::new("audio") {
            Ok(m) => m,
            Err(_) => panic!(),
        };
        assert_eq!(AUDIO, "audio");
    }

    #[test]
    fn numeric_mids() {
        for n in [0, 1, 9, 10, 4_294_967_295, 9_999_999_999_999_999] {
            assert_eq!(Mid::from_number(n).unwrap().as_str(), n.to_string());
        }
        assert_eq!(Mid::from_number(10_000_000_000_000_000), None);
        assert_eq!(Mid::from_number(u64::MAX), None);
    }
}
