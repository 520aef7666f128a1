//! Typed errors for SDP parsing and for typed attribute values.

use thiserror::Error;

/// Why an SDP could not be parsed, with the 1-based line number where the problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("SDP line {line}: {kind}")]
pub struct ParseError {
    /// 1-based number of the offending line (0 when the problem concerns the whole description).
    pub line: usize,
    /// What was wrong.
    pub kind: ParseErrorKind,
}

/// The reason a description or one of its lines was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input is larger than [`Limits::max_bytes`](crate::Limits::max_bytes).
    #[error("description of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// Bytes in the input.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// More lines than [`Limits::max_lines`](crate::Limits::max_lines).
    #[error("more than {limit} lines")]
    TooManyLines {
        /// The configured limit.
        limit: usize,
    },
    /// A line longer than [`Limits::max_line_length`](crate::Limits::max_line_length).
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// More attributes in one section than [`Limits::max_attributes`](crate::Limits::max_attributes).
    #[error("more than {limit} attributes in one section")]
    TooManyAttributes {
        /// The configured limit.
        limit: usize,
    },
    /// More media sections than [`Limits::max_media`](crate::Limits::max_media).
    #[error("more than {limit} media sections")]
    TooManyMedia {
        /// The configured limit.
        limit: usize,
    },
    /// More items of one kind (formats, bandwidths, times, ...) than [`Limits::max_list`](crate::Limits::max_list).
    #[error("more than {limit} {what}")]
    TooManyItems {
        /// What was counted.
        what: &'static str,
        /// The configured limit.
        limit: usize,
    },
    /// The input is not UTF-8.
    #[error("not valid UTF-8")]
    NotUtf8,
    /// The description is empty.
    #[error("empty description")]
    Empty,
    /// A line is not `<letter>=<value>`.
    #[error("not a `<type>=<value>` line")]
    MalformedLine,
    /// The first line is not `v=`.
    #[error("the description must start with v=")]
    MissingVersion,
    /// A required line is missing.
    #[error("missing required `{0}=` line")]
    Missing(char),
    /// A line that may appear only once in its section appeared again.
    #[error("duplicate `{0}=` line")]
    Duplicate(char),
    /// A line appears where the grammar does not allow it (e.g. `r=` without `t=`, `o=` in a media section).
    #[error("`{0}=` line not allowed here")]
    Misplaced(char),
    /// A known line has a malformed value.
    #[error("bad `{line_type}=` line: {reason}")]
    BadField {
        /// The line type letter.
        line_type: char,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A known attribute has a malformed value.
    #[error("bad a={name} attribute: {reason}")]
    BadAttribute {
        /// The attribute's canonical name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An attribute line with an empty name.
    #[error("attribute with an empty name")]
    EmptyAttributeName,
}

/// Why a typed attribute value could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("bad a={name} value: {reason}")]
pub struct AttributeError {
    /// The attribute's canonical name.
    pub name: &'static str,
    /// What is wrong with the value.
    pub reason: &'static str,
}

impl AttributeError {
    pub(crate) const fn new(name: &'static str, reason: &'static str) -> Self {
        Self { name, reason }
    }
}
