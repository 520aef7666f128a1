//! Hostile remote descriptions of about 1 MiB: JSEP negotiation refuses them or completes with a
//! bounded result, and the work it does is linear in the input (checked here on structure; the
//! `#[ignore]`d `timings` test prints wall times, run it with
//! `cargo test -p sansrtc-sdp --release --test hostile -- --ignored --nocapture`).

use sansrtc_sdp::jsep::{
    Codec, Feedback, JsepConfig, JsepSession, MAX_ATTRIBUTES, MAX_CANDIDATES, MAX_FEEDBACK,
    MAX_FEEDBACK_LENGTH, MAX_FORMATS, MAX_ICE_CREDENTIAL_LENGTH, MAX_MEDIA_SECTIONS, MediaKind,
    Negotiated, NegotiationError, NegotiationLimit, Transceiver,
};
use sansrtc_sdp::{Direction, Limits, SessionDescription};

fn rng(seed: u8) -> Box<dyn sansrtc_sdp::jsep::RandomSource> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(seed);
    Box::new(move |buf: &mut [u8]| {
        for b in buf {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = (state >> 24) as u8;
        }
    })
}

fn answerer() -> JsepSession {
    let mut b = JsepSession::new(JsepConfig::default(), rng(2));
    b.add_transceiver(Transceiver::new(
        MediaKind::Audio,
        Direction::SendRecv,
        vec![
            Codec::new(111, "opus", 48000, Some(2))
                .fmtp("minptime=10;useinbandfec=1")
                .feedback(Feedback::new("transport-cc"))
                .feedback(Feedback::new("nack")),
        ],
    ));
    b
}

/// Limits loose enough for every hostile description here: the JSEP layer must not rely on the
/// caller having parsed with the default ones.
fn loose() -> Limits {
    let mut l = Limits::default();
    l.max_bytes = 8 << 20;
    l.max_lines = usize::MAX;
    l.max_line_length = usize::MAX;
    l.max_attributes = usize::MAX;
    l.max_media = usize::MAX;
    l.max_list = usize::MAX;
    l.validate_attributes = false;
    l
}

fn head(extra: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
         a=fingerprint:sha-256 {}\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n{extra}",
        sansrtc_sdp::attributes::Fingerprint::format_digest(&[7; 32])
    )
}

fn audio_section(mid: &str, formats: &str, attributes: &str) -> String {
    format!(
        "m=audio 9 UDP/TLS/RTP/SAVPF {formats}\r\nc=IN IP4 0.0.0.0\r\na=mid:{mid}\r\n\
         a=setup:actpass\r\na=rtcp-mux\r\na=sendrecv\r\n{attributes}"
    )
}

/// One section whose `m=` line repeats payload types 0-127 `repeat` times, with `lines` rtpmap,
/// fmtp and rtcp-fb lines (`*` included) cycling over them, and long fmtp values.
fn many_payload_types(repeat: usize, lines: usize, pad: usize) -> String {
    let formats: Vec<String> = (0..repeat)
        .flat_map(|_| (0..128).map(|pt| pt.to_string()))
        .collect();
    let mut attrs = String::new();
    let mut i = 0;
    while i < lines {
        let pt = i % 128;
        attrs.push_str(&format!("a=rtpmap:{pt} opus/48000/2\r\n"));
        attrs.push_str(&format!(
            "a=fmtp:{pt} minptime=10;useinbandfec=1;x-pad={}\r\n",
            "p".repeat(pad)
        ));
        attrs.push_str(&format!("a=rtcp-fb:{pt} nack\r\n"));
        attrs.push_str("a=rtcp-fb:* transport-cc\r\n");
        i += 4;
    }
    let bundle = "a=group:BUNDLE 0\r\n";
    format!(
        "{}{}",
        head(bundle),
        audio_section("0", &formats.join(" "), &attrs)
    )
}

/// `sections` small audio sections, all in one BUNDLE group, each padded to about `pad` bytes.
fn many_sections(sections: usize, pad: usize) -> String {
    let mids: Vec<String> = (0..sections).map(|i| i.to_string()).collect();
    let mut sdp = head(&format!("a=group:BUNDLE {}\r\n", mids.join(" ")));
    for mid in &mids {
        let attrs = format!(
            "a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 nack\r\na=x-pad:{}\r\n",
            "p".repeat(pad)
        );
        sdp.push_str(&audio_section(mid, "111", &attrs));
    }
    sdp
}

/// `sections` sections with `per_section` candidates each.
fn many_candidates(sections: usize, per_section: usize) -> String {
    let mids: Vec<String> = (0..sections).map(|i| i.to_string()).collect();
    let mut sdp = head(&format!("a=group:BUNDLE {}\r\n", mids.join(" ")));
    for mid in &mids {
        let mut attrs = String::from("a=rtpmap:111 opus/48000/2\r\n");
        for i in 0..per_section {
            attrs.push_str(&format!(
                "a=candidate:{i} 1 udp 2122260223 10.0.{}.{} {} typ host generation 0\r\n",
                i / 250,
                i % 250,
                1024 + i
            ));
        }
        sdp.push_str(&audio_section(mid, "111", &attrs));
    }
    sdp
}

/// One section with 128 payload types and `lines` `a=rtcp-fb:*` lines of `len` bytes: before
/// limits, each line was copied once per payload type.
fn wildcard_feedback(lines: usize, len: usize) -> String {
    wildcard_feedback_on(MAX_FORMATS, lines, len)
}

/// [`wildcard_feedback`] with `pts` payload types.
fn wildcard_feedback_on(pts: usize, lines: usize, len: usize) -> String {
    let formats: Vec<String> = (0..pts).map(|pt| pt.to_string()).collect();
    let mut attrs = String::new();
    for pt in 0..pts {
        attrs.push_str(&format!("a=rtpmap:{pt} opus/48000/2\r\n"));
    }
    for i in 0..lines {
        attrs.push_str(&format!("a=rtcp-fb:* x{i} {}\r\n", "v".repeat(len)));
    }
    // The first section takes the answerer's transceiver; the second makes a new one that keeps
    // the remote codecs as they are.
    format!(
        "{}{}{}",
        head("a=group:BUNDLE 0 1\r\n"),
        audio_section("0", "111", "a=rtpmap:111 opus/48000/2\r\n"),
        audio_section("1", &formats.join(" "), &attrs)
    )
}

/// `sections` sections inheriting a session-level ICE ufrag of `len` bytes.
fn long_session_ufrag(sections: usize, len: usize) -> String {
    let mids: Vec<String> = (0..sections).map(|i| i.to_string()).collect();
    let mut sdp = head(&format!("a=group:BUNDLE {}\r\n", mids.join(" "))).replace(
        "a=ice-ufrag:abcd",
        &format!("a=ice-ufrag:{}", "u".repeat(len)),
    );
    for mid in &mids {
        sdp.push_str(&audio_section(mid, "111", "a=rtpmap:111 opus/48000/2\r\n"));
    }
    sdp
}

/// 128 payload types, each with 2 rtpmap, fmtp and rtcp-fb lines, and 32 `*` rtcp-fb lines
/// interleaved (800 attributes).
fn interleaved_codecs() -> String {
    let formats: Vec<String> = (0..MAX_FORMATS).map(|pt| pt.to_string()).collect();
    let mut attrs = String::new();
    for round in 0..2 {
        for pt in 0..MAX_FORMATS {
            attrs.push_str(&format!("a=rtpmap:{pt} codec{round}/90000\r\n"));
            attrs.push_str(&format!("a=fmtp:{pt} round={round}\r\n"));
            attrs.push_str(&format!("a=rtcp-fb:{pt} nack r{round}\r\n"));
            if pt % 8 == 0 {
                attrs.push_str(&format!("a=rtcp-fb:* star {round}-{pt}\r\n"));
            }
        }
    }
    format!(
        "{}{}",
        head("a=group:BUNDLE 0\r\n"),
        audio_section("0", &formats.join(" "), &attrs)
    )
}

/// The largest offer the limits let through: [`MAX_MEDIA_SECTIONS`] sections, each with
/// [`MAX_FORMATS`] payload types with rtpmap and fmtp lines, 32 feedback lines (the description's
/// [`MAX_FEEDBACK`]) and 16 candidates. `prefix` starts every mid.
fn largest_acceptable(prefix: &str) -> String {
    let mids: Vec<String> = (0..MAX_MEDIA_SECTIONS)
        .map(|i| format!("{prefix}{i}"))
        .collect();
    let formats: Vec<String> = (0..MAX_FORMATS).map(|pt| pt.to_string()).collect();
    let mut sdp = head(&format!("a=group:BUNDLE {}\r\n", mids.join(" ")));
    let per_section = MAX_FEEDBACK / MAX_MEDIA_SECTIONS;
    for mid in &mids {
        let mut attrs = String::new();
        for pt in 0..MAX_FORMATS {
            attrs.push_str(&format!(
                "a=rtpmap:{pt} opus/48000/2\r\na=fmtp:{pt} minptime=10;useinbandfec=1\r\n"
            ));
        }
        for pt in 0..per_section {
            attrs.push_str(&format!("a=rtcp-fb:{pt} nack\r\n"));
        }
        for i in 0..16 {
            attrs.push_str(&format!(
                "a=candidate:{i} 1 udp 2122260223 10.0.0.{i} {} typ host\r\n",
                1024 + i
            ));
        }
        sdp.push_str(&audio_section(mid, &formats.join(" "), &attrs));
    }
    sdp
}

/// A rough count of what a negotiation result holds: entries and bytes of text.
fn weight(n: &Negotiated) -> usize {
    let mut w = n.bundle.iter().map(|m| m.len() + 1).sum::<usize>();
    for s in &n.sections {
        w += s.mid.len() + 1;
        for c in &s.codecs {
            w += 1 + c.name.as_str().len() + c.fmtp.as_str().len();
            for f in &c.feedback {
                w += 1 + f.kind.len() + f.parameter.as_ref().map_or(0, String::len);
            }
        }
        w += s
            .remote_candidates
            .iter()
            .map(|c| c.to_string().len() + 1)
            .sum::<usize>();
        if let Some(i) = &s.remote_ice {
            w += i.ufrag.len() + i.pwd.len();
        }
        w += s
            .header_extensions
            .iter()
            .map(|e| e.uri.len() + 1)
            .sum::<usize>();
    }
    w
}

fn transceivers(b: &JsepSession) -> impl Iterator<Item = &Transceiver> {
    b.transceivers().map(|(_, t)| t)
}

/// The same count over the codecs of every transceiver of `b` (a remote track creates one).
fn transceivers_weight(b: &JsepSession) -> usize {
    let mut w = 0;
    for t in transceivers(b) {
        for c in &t.codecs {
            w += 1 + c.name.as_str().len() + c.fmtp.as_str().len();
            for f in &c.feedback {
                w += 1 + f.kind.len() + f.parameter.as_ref().map_or(0, String::len);
            }
        }
        w += t
            .header_extensions
            .iter()
            .map(|e| e.uri.len() + 1)
            .sum::<usize>();
    }
    w
}

/// Negotiates `text` (parsed with `limits`) on a fresh answerer: it must either be refused or give
/// a result (and transceivers) whose size is at most about twice the input's.
fn negotiate(text: &str, limits: &Limits) -> Result<usize, NegotiationError> {
    negotiate_within(text, limits, 2 * text.len() + 4096)
}

/// [`negotiate`] with the bound on the result's weight given.
fn negotiate_within(text: &str, limits: &Limits, bound: usize) -> Result<usize, NegotiationError> {
    let offer = SessionDescription::parse_with(text, limits).unwrap();
    let mut b = answerer();
    let (answer, n) = b.create_answer(&offer)?;
    let w = weight(&n) + transceivers_weight(&b);
    assert!(
        w <= bound,
        "result weighs {w} for an input of {}",
        text.len()
    );
    assert!(n.sections.len() <= MAX_MEDIA_SECTIONS);
    for s in &n.sections {
        assert!(s.codecs.len() <= MAX_FORMATS, "{} codecs", s.codecs.len());
        assert!(s.remote_candidates.len() <= MAX_CANDIDATES);
    }
    Ok(answer.to_sdp_string().len())
}

fn exceeded(what: NegotiationLimit, section: Option<usize>) -> NegotiationError {
    NegotiationError::LimitExceeded {
        what,
        section,
        limit: what.max(),
    }
}

#[test]
fn thousands_of_payload_types_are_refused() {
    let text = many_payload_types(8, 4000, 900);
    assert!(text.len() > 1_000_000, "{}", text.len());
    // Parsed with the default limits (1024 formats, 4096 attributes in a section).
    let r = negotiate(&text, &Limits::default());
    assert_eq!(r, Err(exceeded(NegotiationLimit::Formats, Some(0))));
    assert_eq!(
        r.unwrap_err().to_string(),
        "formats on one m= line: more than 128 (m-section 0)"
    );
    // And with no parse limits: 8192 formats, 20 000 attributes.
    let r = negotiate(&many_payload_types(64, 20_000, 100), &loose());
    assert_eq!(r, Err(exceeded(NegotiationLimit::Formats, Some(0))));
    // Within the format limit, too many attributes.
    let r = negotiate(&many_payload_types(1, 4000, 100), &Limits::default());
    assert_eq!(r, Err(exceeded(NegotiationLimit::Attributes, Some(0))));
}

#[test]
fn codecs_are_read_once_per_payload_type() {
    // 128 payload types, each with 2 rtpmap, fmtp and rtcp-fb lines (the first rtpmap and fmtp
    // count), and 32 `*` rtcp-fb lines interleaved: each codec's feedback is its own lines and
    // every `*` line, in line order. Before indexing, each payload type scanned every attribute.
    let text = interleaved_codecs();
    let offer = SessionDescription::parse(&text).unwrap();
    assert!(offer.media[0].attributes.len() <= MAX_ATTRIBUTES);
    let mut b = JsepSession::new(JsepConfig::default(), rng(3));
    let (_, n) = b.create_answer(&offer).unwrap();
    let t = b.transceiver(n.sections[0].transceiver.unwrap()).unwrap();
    assert_eq!(t.codecs.len(), MAX_FORMATS);
    for (pt, c) in t.codecs.iter().enumerate() {
        assert_eq!(usize::from(c.payload_type), pt);
        assert_eq!((c.name.as_str(), c.clock_rate), ("codec0", 90000));
        assert_eq!(c.fmtp.as_str(), "round=0");
        let feedback: Vec<String> = c
            .feedback
            .iter()
            .map(|f| format!("{} {}", f.kind, f.parameter.as_deref().unwrap_or("")))
            .collect();
        let mut expected = Vec::new();
        for round in 0..2 {
            for p in 0..MAX_FORMATS {
                if p == pt {
                    expected.push(format!("nack r{round}"));
                }
                if p % 8 == 0 {
                    expected.push(format!("star {round}-{p}"));
                }
            }
        }
        assert_eq!(feedback, expected, "payload type {pt}");
    }
    // The same payload type listed twice on the m= line is one codec.
    let twice = text.replacen(" 126 127\r\n", " 126 0\r\n", 1);
    assert_ne!(twice, text);
    let offer = SessionDescription::parse(&twice).unwrap();
    let mut b = JsepSession::new(JsepConfig::default(), rng(3));
    let (_, n) = b.create_answer(&offer).unwrap();
    let t = b.transceiver(n.sections[0].transceiver.unwrap()).unwrap();
    assert_eq!(t.codecs.len(), MAX_FORMATS - 1);
}

#[test]
fn thousands_of_sections_are_refused() {
    let text = many_sections(512, 1800);
    assert!(text.len() > 1_000_000, "{}", text.len());
    let r = negotiate(&text, &Limits::default());
    assert_eq!(r, Err(exceeded(NegotiationLimit::MediaSections, None)));
    let r = negotiate(&many_sections(4000, 150), &loose());
    assert_eq!(r, Err(exceeded(NegotiationLimit::MediaSections, None)));
    // The limit itself is accepted.
    let r = negotiate(&many_sections(MAX_MEDIA_SECTIONS, 100), &Limits::default());
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn thousands_of_candidates_are_refused() {
    let text = many_candidates(4, 3500);
    assert!(text.len() > 1_000_000, "{}", text.len());
    let r = negotiate(&text, &Limits::default());
    assert_eq!(r, Err(exceeded(NegotiationLimit::Attributes, Some(0))));
    let r = negotiate(&many_candidates(40, MAX_CANDIDATES + 1), &Limits::default());
    assert_eq!(r, Err(exceeded(NegotiationLimit::Candidates, Some(0))));
    let r = negotiate(&many_candidates(40, MAX_CANDIDATES), &Limits::default());
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn wildcard_feedback_is_not_multiplied() {
    // 100 lines of 8000 bytes, each applying to 128 payload types: 100 MB of copies unbounded.
    let text = wildcard_feedback(100, 8000);
    assert!(text.len() > 700_000, "{}", text.len());
    let r = negotiate(&text, &Limits::default());
    assert_eq!(r, Err(exceeded(NegotiationLimit::FeedbackLength, Some(1))));
    // Short lines: 100 x 128 entries.
    let r = negotiate(&wildcard_feedback(100, 10), &Limits::default());
    assert_eq!(r, Err(exceeded(NegotiationLimit::Feedback, Some(1))));
    // Within both limits: accepted. A `*` line is copied into each codec, but the limits bound
    // the copies (twice: in the transceiver made for the remote track and in the result).
    let lines = MAX_FEEDBACK / MAX_FORMATS - 1;
    let text = wildcard_feedback(lines, MAX_FEEDBACK_LENGTH - 10);
    let bound = 2 * text.len() + 2 * MAX_FEEDBACK * (MAX_FEEDBACK_LENGTH + 1);
    assert!(bound < 3 << 20, "{bound}");
    let r = negotiate_within(&text, &Limits::default(), bound);
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn long_inherited_values_are_refused() {
    // An 8000-byte session-level ufrag inherited by 100 sections.
    let text = long_session_ufrag(100, 8000);
    let mut limits = Limits::default();
    limits.validate_attributes = false;
    let r = negotiate(&text, &limits);
    assert_eq!(
        r,
        Err(exceeded(NegotiationLimit::IceCredentialLength, Some(0)))
    );
    let r = negotiate(&long_session_ufrag(100, MAX_ICE_CREDENTIAL_LENGTH), &limits);
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn the_largest_acceptable_offer_gives_a_bounded_result() {
    let text = largest_acceptable("");
    let offer = SessionDescription::parse_with(&text, &loose()).unwrap();
    let mut b = answerer();
    let (answer, n) = b.create_answer(&offer).unwrap();
    assert_eq!(n.sections.len(), MAX_MEDIA_SECTIONS);
    assert!(n.sections.iter().all(|s| !s.rejected));
    assert_eq!(n.bundle.len(), MAX_MEDIA_SECTIONS);
    let w = weight(&n) + transceivers_weight(&b);
    assert!(w <= 2 * text.len(), "{w} for {}", text.len());
    assert!(answer.to_sdp_string().len() <= 2 * text.len());

    // Re-offered with a new mid for every section: the transceivers the first offer created are
    // reused, not duplicated.
    assert_eq!(transceivers(&b).count(), MAX_MEDIA_SECTIONS);
    let renamed = largest_acceptable("x");
    let offer = SessionDescription::parse_with(&renamed, &loose()).unwrap();
    let (_, n) = b.create_answer(&offer).unwrap();
    assert!(
        n.sections
            .iter()
            .all(|s| !s.rejected && s.mid.starts_with('x'))
    );
    assert_eq!(transceivers(&b).count(), MAX_MEDIA_SECTIONS);
}

/// Parses and negotiates `text`, printing the time each takes (the best of `runs`). With
/// `renegotiate`, the answerer has first answered `text` with other mids.
fn time_case(name: &str, text: &str, limits: &Limits, runs: usize, renegotiate: Option<&str>) {
    let mut parse = std::time::Duration::MAX;
    let mut answer = std::time::Duration::MAX;
    let mut outcome = String::new();
    for _ in 0..runs {
        let start = std::time::Instant::now();
        let offer = SessionDescription::parse_with(text, limits).unwrap();
        parse = parse.min(start.elapsed());
        let mut b = answerer();
        if let Some(first) = renegotiate {
            let first = SessionDescription::parse_with(first, limits).unwrap();
            let _ = b.create_answer(&first);
        }
        let start = std::time::Instant::now();
        let r = b.create_answer(&offer);
        answer = answer.min(start.elapsed());
        outcome = match r {
            Ok((_, n)) => format!("accepted, {} sections", n.sections.len()),
            Err(e) => format!("refused: {e}"),
        };
    }
    println!(
        "{name:<46} {:>8} bytes  parse {:>10.3?}  negotiate {:>10.3?}  {outcome}",
        text.len(),
        parse,
        answer
    );
}

#[test]
#[ignore = "prints wall times; run in release"]
fn timings() {
    let default = Limits::default();
    let loose = loose();
    let mut unvalidated = Limits::default();
    unvalidated.validate_attributes = false;
    let many_x = many_sections(256, 100).replace("a=mid:", "a=mid:x");
    let cases: Vec<(&str, String, &Limits, Option<&str>)> = vec![
        (
            "1024 formats, 4000 rtpmap/fmtp/rtcp-fb",
            many_payload_types(8, 4000, 900),
            &default,
            None,
        ),
        (
            "8192 formats, 20000 rtpmap/fmtp/rtcp-fb (loose)",
            many_payload_types(64, 20_000, 100),
            &loose,
            None,
        ),
        (
            "128 formats, 800 rtpmap/fmtp/rtcp-fb",
            interleaved_codecs(),
            &loose,
            None,
        ),
        (
            "8 formats x 1000 rtcp-fb:*",
            wildcard_feedback_on(8, 1000, 20),
            &default,
            None,
        ),
        ("512 sections", many_sections(512, 1800), &default, None),
        (
            "4000 sections (loose)",
            many_sections(4000, 150),
            &loose,
            None,
        ),
        (
            "4 x 3500 candidates",
            many_candidates(4, 3500),
            &default,
            None,
        ),
        (
            "100 x 8000-byte rtcp-fb:* x 128 PTs",
            wildcard_feedback(100, 8000),
            &default,
            None,
        ),
        (
            "8000-byte session ufrag x 100 sections",
            long_session_ufrag(100, 8000),
            &unvalidated,
            None,
        ),
        ("256 sections", many_sections(256, 100), &default, None),
        (
            "256 sections re-offered with new mids",
            many_sections(256, 100),
            &default,
            Some(many_x.as_str()),
        ),
        (
            "256 sections x 128 PTs (loose)",
            largest_acceptable(""),
            &loose,
            None,
        ),
    ];
    // For comparison, a real offer: Chromium's audio, video and data.
    let chromium = std::fs::read_to_string(format!(
        "{}/tests/corpus/chromium-av-offer.sdp",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut cases = cases;
    cases.insert(
        0,
        (
            "Chromium 156 audio+video+data offer",
            chromium,
            &default,
            None,
        ),
    );
    let runs = std::env::var("HOSTILE_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let only = std::env::var("HOSTILE_ONLY").ok();
    for (name, text, limits, first) in &cases {
        if only.as_deref().is_none_or(|o| name.contains(o)) {
            time_case(name, text, limits, runs, *first);
        }
    }
}

/// Corpus descriptions with lines deleted, duplicated and replaced by troublesome ones, parsed
/// without attribute validation, as remote offers and answers: negotiation never panics, and a
/// refused offer leaves the session exactly as it was.
#[test]
fn mutated_descriptions_never_panic_and_refusals_change_nothing() {
    let dir = format!("{}/tests/corpus", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let files: Vec<String> = files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let mut limits = Limits::default();
    limits.validate_attributes = false;
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let inserted = [
        "a=mid:0",
        "a=mid:1",
        "a=mid:4294967295",
        "a=group:BUNDLE 0 1 0 x",
        "m=audio 0 UDP/TLS/RTP/SAVPF 0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "a=bundle-only",
        "a=setup:actpass",
        "a=setup:active",
        "a=setup:passive",
        "a=rtcp-mux",
        "a=fingerprint:md5 AB",
        "a=fingerprint:sha-256 AB",
        "a=ice-ufrag:x",
        "a=ice-pwd:y",
        "a=rtpmap:96 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=fmtp:96 apt=999",
        "a=rtcp-fb:* nack",
        "a=simulcast:send a;b",
        "a=rid:a send",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "a=sctp-port:99999",
        "a=max-message-size:0",
        "a=sendonly",
        "a=inactive",
        "a=ssrc-group:FID 1",
        "a=ssrc:1 cname:x",
        "a=sctpmap:5000 webrtc-datachannel 1024",
    ];
    let (mut accepted, mut refused) = (0, 0);
    for seed in 0..2000u32 {
        let mut lines: Vec<String> = files[next(files.len())].lines().map(String::from).collect();
        for _ in 0..=next(6) {
            let i = next(lines.len());
            match next(4) {
                0 if lines.len() > 3 => {
                    lines.remove(i);
                }
                1 => lines.insert(i, lines[i].clone()),
                _ if i > 2 => lines.insert(i, inserted[next(inserted.len())].to_string()),
                _ => {}
            }
        }
        let text = lines.join("\r\n");
        let Ok(sd) = SessionDescription::parse_with(&text, &limits) else {
            continue;
        };
        let mut b = JsepSession::new(JsepConfig::default(), rng(seed as u8));
        if next(2) == 0 {
            b.add_transceiver(Transceiver::new(
                MediaKind::Audio,
                Direction::SendRecv,
                vec![Codec::new(111, "opus", 48000, Some(2))],
            ));
        }
        match b.create_answer(&sd) {
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
        // Again, on the session the first answer left: a refusal changes nothing.
        let state = |b: &JsepSession| {
            (
                format!("{b:?}"),
                b.local_ice().clone(),
                b.mids().join(","),
                b.has_pending_offer(),
            )
        };
        let before = state(&b);
        if b.create_answer(&sd).is_err() {
            assert_eq!(state(&b), before, "{text}");
        }
        let _ = b.create_offer();
        // As an answer to an offer of ours.
        let mut a = JsepSession::new(JsepConfig::default(), rng((seed as u8) ^ 0x55));
        a.add_transceiver(Transceiver::new(
            MediaKind::Audio,
            Direction::SendRecv,
            vec![Codec::new(111, "opus", 48000, Some(2))],
        ));
        a.add_transceiver(Transceiver::new(
            MediaKind::Video,
            Direction::SendRecv,
            vec![
                Codec::new(96, "VP8", 90000, None),
                Codec::new(97, "rtx", 90000, None).fmtp("apt=96"),
            ],
        ));
        a.add_data_channel();
        let _ = a.create_offer();
        if a.set_remote_answer(&sd).is_err() {
            assert!(a.has_pending_offer());
        }
    }
    assert!(accepted > 100 && refused > 100, "{accepted} {refused}");
}
