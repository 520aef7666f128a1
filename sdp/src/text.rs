//! [`Text`]: a piece of SDP text that borrows the parsed input, owns its bytes, or is a range of a
//! buffer shared by a whole owned description.
//!
//! [`SessionDescription::parse`](crate::SessionDescription::parse) borrows every piece from its
//! input. [`SessionDescription::parse_owned`](crate::SessionDescription::parse_owned) copies the
//! input once into one shared buffer and makes every piece a range of it, so a description that
//! outlives its input costs one copy of the text instead of an allocation per piece.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// A piece of SDP text: dereferences to `str`, compares, hashes and prints as its text whatever
/// its storage.
#[derive(Clone)]
pub struct Text<'a>(Repr<'a>);

#[derive(Clone)]
enum Repr<'a> {
    Borrowed(&'a str),
    Owned(Box<str>),
    /// `buf[start..end]`: the constructor checks the range lies on character boundaries of
    /// `buf`, which never changes.
    Shared {
        buf: Arc<String>,
        start: u32,
        end: u32,
    },
}

impl<'a> Text<'a> {
    /// Text borrowing `s`.
    pub const fn borrowed(s: &'a str) -> Self {
        Text(Repr::Borrowed(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Borrowed(s) => s,
            Repr::Owned(s) => s,
            Repr::Shared { buf, start, end } => {
                buf.get(*start as usize..*end as usize).unwrap_or_default()
            }
        }
    }

    /// Whether the text borrows from outside (and so is tied to the lifetime `'a`).
    pub fn is_borrowed(&self) -> bool {
        matches!(self.0, Repr::Borrowed(_))
    }

    /// A `'static` text: owned and shared text is kept as it is, borrowed text is copied (text
    /// that recurs in every WebRTC description, such as payload types, costs no allocation).
    pub fn into_owned(self) -> Text<'static> {
        match self.0 {
            Repr::Borrowed(s) => match crate::model::static_text(s) {
                Some(s) => Text(Repr::Borrowed(s)),
                None => Text(Repr::Owned(s.into())),
            },
            Repr::Owned(s) => Text(Repr::Owned(s)),
            Repr::Shared { buf, start, end } => Text(Repr::Shared { buf, start, end }),
        }
    }

    /// `buf[start..end]`, or `None` when the range is not a `str` range of `buf` (or does not fit
    /// in 32 bits).
    pub(crate) fn shared(buf: &Arc<String>, start: usize, end: usize) -> Option<Text<'static>> {
        if end > buf.len()
            || start > end
            || !buf.is_char_boundary(start)
            || !buf.is_char_boundary(end)
        {
            return None;
        }
        Some(Text(Repr::Shared {
            buf: Arc::clone(buf),
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        }))
    }
}

impl Text<'static> {
    /// `'static` text, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Text(Repr::Borrowed(s))
    }
}

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text<'_> {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Default for Text<'_> {
    fn default() -> Self {
        Text(Repr::Borrowed(""))
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text<'_> {}

impl PartialEq<str> for Text<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text<'_> {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Text<'_>> for str {
    fn eq(&self, other: &Text<'_>) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text<'_>> for &str {
    fn eq(&self, other: &Text<'_>) -> bool {
        *self == other.as_str()
    }
}

impl PartialOrd for Text<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text(Repr::Borrowed(s))
    }
}

impl<'a> From<&'a String> for Text<'a> {
    fn from(s: &'a String) -> Self {
        Text(Repr::Borrowed(s))
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text(Repr::Owned(s.into_boxed_str()))
    }
}

impl From<Box<str>> for Text<'_> {
    fn from(s: Box<str>) -> Self {
        Text(Repr::Owned(s))
    }
}

impl<'a> From<Cow<'a, str>> for Text<'a> {
    fn from(s: Cow<'a, str>) -> Self {
        match s {
            Cow::Borrowed(s) => Text(Repr::Borrowed(s)),
            Cow::Owned(s) => s.into(),
        }
    }
}

impl<'a> From<&'a Text<'_>> for Text<'a> {
    fn from(t: &'a Text<'_>) -> Self {
        Text(Repr::Borrowed(t.as_str()))
    }
}

impl From<Text<'_>> for String {
    fn from(t: Text<'_>) -> Self {
        match t.0 {
            Repr::Owned(s) => s.into_string(),
            _ => t.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_does_not_matter() {
        let buf = Arc::new(String::from("a=mid:0\r\na=setup:actpass"));
        let shared = Text::shared(&buf, 11, 16).unwrap();
        assert_eq!(shared, "setup");
        assert_eq!(shared, Text::borrowed("setup"));
        assert_eq!(shared, Text::from(String::from("setup")));
        assert_eq!(format!("{shared} {shared:?}"), "setup \"setup\"");
        assert!(!shared.is_borrowed());
        assert_eq!(Arc::strong_count(&buf), 2);
        let owned = shared.clone().into_owned();
        assert_eq!(Arc::strong_count(&buf), 3);
        drop((shared, owned));
        assert_eq!(Arc::strong_count(&buf), 1);
        // Ranges outside the buffer or off character boundaries are refused.
        assert!(Text::shared(&buf, 20, 40).is_none());
        let accented = Arc::new(String::from("é"));
        assert!(Text::shared(&accented, 0, 1).is_none());
        // Borrowed text becomes owned; recurring tokens stay static.
        let input = String::from("111 UDP/TLS/RTP/SAVPF something");
        let pt = Text::borrowed(&input[..3]).into_owned();
        let other = Text::borrowed(&input[22..]).into_owned();
        drop(input);
        assert_eq!((pt.as_str(), other.as_str()), ("111", "something"));
        assert!(pt.is_borrowed());
        assert!(!other.is_borrowed());
    }
}
