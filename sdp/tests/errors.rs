//! Broken descriptions are rejected with the line number and the reason; hostile ones hit a limit
//! instead of allocating without bound or taking super-linear time.

use sansrtc_sdp::{Limits, ParseError, ParseErrorKind, SessionDescription};

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

fn err(sdp: &str) -> ParseError {
    SessionDescription::parse(sdp).expect_err(sdp)
}

#[test]
fn broken_lines_name_line_and_reason() {
    let cases: &[(&str, usize, ParseErrorKind)] = &[
        ("", 0, ParseErrorKind::Empty),
        (
            "o=- 1 1 IN IP4 1.2.3.4\r\n",
            1,
            ParseErrorKind::MissingVersion,
        ),
        ("v=0\r\ns=-\r\n", 0, ParseErrorKind::Missing('o')),
        (
            "v=zero\r\n",
            1,
            ParseErrorKind::BadField {
                line_type: 'v',
                reason: "not a number",
            },
        ),
        ("v=0\r\nhello\r\n", 2, ParseErrorKind::MalformedLine),
        ("v=0\r\n=x\r\n", 2, ParseErrorKind::MalformedLine),
        (
            "v=0\r\no=- 1 1 IN IP4\r\n",
            2,
            ParseErrorKind::BadField {
                line_type: 'o',
                reason: "expected 6 fields",
            },
        ),
        (
            "v=0\r\no=- 99999999999999999999 1 IN IP4 1.2.3.4\r\n",
            2,
            ParseErrorKind::BadField {
                line_type: 'o',
                reason: "session id is not a 64-bit number",
            },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\no=- 1 1 IN IP4 a\r\n",
            3,
            ParseErrorKind::Duplicate('o'),
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nr=1 1 1\r\n",
            3,
            ParseErrorKind::Misplaced('r'),
        ),
        ("v=0\r\nv=0\r\n", 2, ParseErrorKind::Duplicate('v')),
    ];
    for (sdp, line, kind) in cases {
        let e = err(sdp);
        assert_eq!((e.line, e.kind), (*line, *kind), "{sdp:?}");
    }
}

#[test]
fn broken_media_and_attributes() {
    let cases: &[(&str, usize, &str)] = &[
        ("m=audio 70000 RTP/AVP 0\r\n", 5, "port is not 0-65535"),
        (
            "m=audio 9\r\n",
            5,
            "expected <media> <port> <proto> <fmt>...",
        ),
        (
            "m=audio 9 RTP/AVP 0\r\no=- 1 1 IN IP4 a\r\n",
            6,
            "`o=` line not allowed here",
        ),
        (
            "m=audio 9 RTP/AVP 0\r\na=rtpmap:300 opus/48000\r\n",
            6,
            "bad a=rtpmap attribute: payload type is not a number",
        ),
        (
            "m=audio 9 RTP/AVP 0\r\na=rtpmap:96 opus\r\n",
            6,
            "bad a=rtpmap attribute: clock rate is not a number",
        ),
        (
            "a=fingerprint:sha-256 AB:CD\r\n",
            5,
            "length does not match",
        ),
        (
            "a=setup:sideways\r\n",
            5,
            "not active, passive, actpass or holdconn",
        ),
        (
            "a=candidate:1 1 udp 1 1.2.3.4 1 type host\r\n",
            5,
            "expected `typ`",
        ),
        ("a=extmap:0 urn:x\r\n", 5, "id outside 1-4095"),
        ("a=ssrc:abc cname:x\r\n", 5, "ssrc is not a 32-bit number"),
        ("a=simulcast:send\r\n", 5, "direction without a list"),
        ("a=rid:x both\r\n", 5, "direction is not send or recv"),
        ("a=sctp-port:99999\r\n", 5, "not a number in range"),
        ("a=max-message-size:-1\r\n", 5, "not a number in range"),
        ("a=ptime:fast\r\n", 5, "not a non-negative decimal number"),
        ("a=:x\r\n", 5, "attribute with an empty name"),
        ("a=mid\r\n", 5, "missing value"),
        ("c=IN IP4 1.2.3.4/300\r\n", 5, "TTL is not 0-255"),
        ("b=AS\r\n", 5, "expected <bwtype>:<bandwidth>"),
        ("t=0\r\n", 5, "expected <start> <stop>"),
        ("z=1\r\n", 5, "adjustment time without offset"),
    ];
    for (tail, line, reason) in cases {
        let sdp = format!("{HEAD}{tail}");
        let e = err(&sdp);
        assert_eq!(e.line, *line, "{sdp:?}: {e}");
        assert!(e.to_string().contains(reason), "{sdp:?}: {e}");
        assert!(
            e.to_string().starts_with(&format!("SDP line {line}: ")),
            "{e}"
        );
    }
}

#[test]
fn not_utf8() {
    let mut bytes = HEAD.as_bytes().to_vec();
    bytes.extend_from_slice(b"s=\xff\xfe\r\n");
    let e = SessionDescription::parse_bytes(&bytes).unwrap_err();
    assert_eq!((e.line, e.kind), (5, ParseErrorKind::NotUtf8));
}

#[test]
fn validation_can_be_turned_off() {
    let sdp = format!("{HEAD}a=rtpmap:bogus\r\n");
    assert!(SessionDescription::parse(&sdp).is_err());
    let mut limits = Limits::default();
    limits.validate_attributes = false;
    let sd = SessionDescription::parse_with(&sdp, &limits).unwrap();
    assert_eq!(sd.attributes[0].value.as_deref(), Some("bogus"));
}

#[test]
fn hostile_inputs_hit_limits() {
    // A million lines.
    let many = format!("{HEAD}{}", "\r\n".repeat(1_000_000));
    let mut unbounded_bytes = Limits::default();
    unbounded_bytes.max_bytes = usize::MAX;
    let e = SessionDescription::parse_with(&many, &unbounded_bytes).unwrap_err();
    assert_eq!(
        e.kind,
        ParseErrorKind::TooManyLines {
            limit: Limits::default().max_lines
        }
    );
    assert!(matches!(
        SessionDescription::parse(&many).unwrap_err().kind,
        ParseErrorKind::TooLarge { .. }
    ));
    // Too many attributes in one section.
    let mut limits = Limits::default();
    limits.max_attributes = 10;
    let attrs = format!("{HEAD}{}", "a=x\r\n".repeat(11));
    assert_eq!(
        SessionDescription::parse_with(&attrs, &limits)
            .unwrap_err()
            .kind,
        ParseErrorKind::TooManyAttributes { limit: 10 }
    );
    // Too many media sections and formats.
    let media = format!("{HEAD}{}", "m=audio 9 RTP/AVP 0\r\n".repeat(513));
    assert_eq!(
        SessionDescription::parse(&media).unwrap_err().kind,
        ParseErrorKind::TooManyMedia { limit: 512 }
    );
    let formats = format!("{HEAD}m=audio 9 RTP/AVP{}\r\n", " 0".repeat(1025));
    assert!(matches!(
        SessionDescription::parse(&formats).unwrap_err().kind,
        ParseErrorKind::TooManyItems {
            what: "formats",
            ..
        }
    ));
    // A very long line.
    let long = format!("{HEAD}a=x:{}\r\n", "y".repeat(10_000));
    assert_eq!(
        SessionDescription::parse(&long).unwrap_err().kind,
        ParseErrorKind::LineTooLong { limit: 8192 }
    );
    // Huge numbers are errors, not allocations.
    for tail in [
        "m=audio 9 RTP/AVP 0\r\nb=AS:99999999999999999999999\r\n",
        "a=max-message-size:99999999999999999999999\r\n",
    ] {
        assert!(SessionDescription::parse(&format!("{HEAD}{tail}")).is_err());
    }
}

#[test]
fn parse_time_is_linear() {
    // Parsing 8x the input must take about 8x the time, not 64x.
    fn time(n: usize) -> std::time::Duration {
        let sdp = format!(
            "{HEAD}{}",
            "a=candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host generation 0\r\n".repeat(n)
        );
        let mut limits = Limits::default();
        limits.max_bytes = usize::MAX;
        limits.max_lines = usize::MAX;
        limits.max_attributes = usize::MAX;
        // The fastest of several parses: a scheduler stall on a busy machine does not count.
        (0..5)
            .map(|_| {
                let start = std::time::Instant::now();
                SessionDescription::parse_with(&sdp, &limits).unwrap();
                start.elapsed()
            })
            .min()
            .unwrap()
    }
    time(1000);
    let small = time(4_000);
    let big = time(32_000);
    // Linear: about 8x. Quadratic would be 64x.
    assert!(big < small * 24, "small {small:?} big {big:?}");
}

#[test]
fn fuzz_regressions_round_trip() {
    // r= after attributes belongs to the last t=; found by the sdp_parse fuzz target.
    let inputs: &[&[u8]] = &[
        b"v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=1 0\r\na=sendrecv\r\na=x\nr=7d 1h 0 25h\nt=0 0\nz=2882844526 -1h 2898948070 0\nk=clear:k\na=recvonly:p\r\n",
    ];
    for input in inputs {
        let sd = SessionDescription::parse_bytes(input).unwrap();
        let written = sd.to_sdp_string();
        assert_eq!(
            SessionDescription::parse(&written).unwrap(),
            sd,
            "{written}"
        );
    }
}
