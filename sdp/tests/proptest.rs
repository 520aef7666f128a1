//! Property: for any generated session, write then parse gives back the same model, and the parser
//! never panics on arbitrary text.

use proptest::prelude::*;
use sansrtc_sdp::model::{
    Bandwidth, Connection, Key, Repeat, TimeUnit, TimeZone, Timing, TypedTime, UnknownLine,
};
use sansrtc_sdp::{Attribute, MediaDescription, Origin, SessionDescription, Text};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.+/_-]{0,15}"
}

fn address() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.:-]{0,15}"
}

fn text() -> impl Strategy<Value = String> {
    // Free text: no CR/LF, no leading or trailing whitespace (trailing whitespace is trimmed on parse).
    "[!-~]([ -~]{0,30}[!-~])?"
}

fn typed_time(signed: bool) -> impl Strategy<Value = TypedTime> {
    let value = if signed {
        -100_000i64..100_000
    } else {
        0i64..100_000
    };
    (
        value,
        prop::option::of(prop::sample::select(vec![
            TimeUnit::Days,
            TimeUnit::Hours,
            TimeUnit::Minutes,
            TimeUnit::Seconds,
        ])),
    )
        .prop_map(|(value, unit)| TypedTime { value, unit })
}

fn connection() -> impl Strategy<Value = Connection<'static>> {
    prop_oneof![
        (address(), any::<Option<u8>>(), any::<Option<u32>>()).prop_map(|(a, ttl, n)| Connection {
            nettype: "IN".into(),
            addrtype: "IP4".into(),
            address: a.into(),
            ttl,
            num_addresses: if ttl.is_some() { n } else { None },
        }),
        (address(), any::<Option<u32>>()).prop_map(|(a, n)| Connection {
            nettype: "IN".into(),
            addrtype: "IP6".into(),
            address: a.into(),
            ttl: None,
            num_addresses: n,
        }),
    ]
}

fn bandwidth() -> impl Strategy<Value = Bandwidth<'static>> {
    ("[A-Z][A-Z-]{0,5}", any::<u64>()).prop_map(|(t, b)| Bandwidth {
        bwtype: t.into(),
        bandwidth: b,
    })
}

fn attribute() -> impl Strategy<Value = Attribute<'static>> {
    prop_oneof![
        "x-[a-z]{1,10}".prop_map(Attribute::flag),
        ("x-[a-z]{1,10}", text()).prop_map(|(n, v)| Attribute::new(n, v)),
        Just(Attribute::flag("rtcp-mux")),
        (
            0u8..128,
            "[A-Za-z0-9][A-Za-z0-9-]{0,9}",
            1u32..200_000,
            prop::option::of(1u16..9)
        )
            .prop_map(|(pt, e, c, ch)| Attribute::new(
                "rtpmap",
                match ch {
                    Some(ch) => format!("{pt} {e}/{c}/{ch}"),
                    None => format!("{pt} {e}/{c}"),
                }
            )),
        (
            token(),
            1u16..4,
            any::<u32>(),
            0u16..=65535,
            prop::sample::select(vec!["host", "srflx", "relay"])
        )
            .prop_map(|(f, c, p, port, t)| Attribute::new(
                "candidate",
                format!(
                    "{} {c} udp {p} 10.0.0.1 {port} typ {t}",
                    f.replace(['.', '_', '-'], "")
                )
            )),
        (1u16..256, "[a-z:.-]{1,30}")
            .prop_map(|(id, uri)| Attribute::new("extmap", format!("{id} urn:{uri}"))),
    ]
}

fn unknown_line() -> impl Strategy<Value = UnknownLine<'static>> {
    (prop::sample::select(vec!['x', 'y', 'w', 'f', 'g']), text()).prop_map(|(t, v)| UnknownLine {
        line_type: t,
        value: v.into(),
    })
}

fn media() -> impl Strategy<Value = MediaDescription<'static>> {
    (
        prop::sample::select(vec!["audio", "video", "application", "text"]),
        any::<u16>(),
        prop::option::of(any::<u16>()),
        prop::sample::select(vec!["UDP/TLS/RTP/SAVPF", "RTP/AVP", "UDP/DTLS/SCTP"]),
        prop::collection::vec(token(), 0..5),
        prop::option::of(text()),
        prop::collection::vec(connection(), 0..2),
        prop::collection::vec(bandwidth(), 0..2),
        prop::option::of(prop::sample::select(vec!["prompt", "clear:abc"])),
        prop::collection::vec(unknown_line(), 0..2),
        prop::collection::vec(attribute(), 0..8),
    )
        .prop_map(
            |(m, port, np, proto, fmts, info, conns, bws, key, unknown, attrs)| {
                let mut md = MediaDescription::new(
                    m,
                    port,
                    proto,
                    fmts.into_iter().map(Text::from).collect(),
                );
                md.num_ports = np;
                md.information = info.map(Text::from);
                md.connections = conns;
                md.bandwidths = bws;
                md.key = key.map(|k| match k.split_once(':') {
                    Some((m, v)) => Key {
                        method: m.into(),
                        value: Some(v.into()),
                    },
                    None => Key {
                        method: k.into(),
                        value: None,
                    },
                });
                md.unknown_lines = unknown;
                md.attributes = attrs;
                md
            },
        )
}

fn session() -> impl Strategy<Value = SessionDescription<'static>> {
    (
        (token(), any::<u64>(), any::<u64>(), token()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::collection::vec(text(), 0..2),
        prop::option::of(connection()),
        prop::collection::vec(bandwidth(), 0..2),
        prop::collection::vec(
            (
                any::<u64>(),
                any::<u64>(),
                prop::collection::vec(
                    (
                        typed_time(false),
                        typed_time(false),
                        prop::collection::vec(typed_time(false), 1..3),
                    ),
                    0..2,
                ),
            ),
            0..3,
        ),
        prop::collection::vec((any::<u64>(), typed_time(true)), 0..3),
        prop::collection::vec(unknown_line(), 0..2),
        prop::collection::vec(attribute(), 0..6),
        prop::collection::vec(media(), 0..4),
    )
        .prop_map(
            |(
                (user, id, ver, addr),
                name,
                info,
                emails,
                conn,
                bws,
                times,
                zones,
                unknown,
                attrs,
                media,
            )| {
                let mut sd = SessionDescription::new(Origin {
                    username: user.into(),
                    session_id: id,
                    session_version: ver,
                    nettype: "IN".into(),
                    addrtype: "IP4".into(),
                    address: addr.into(),
                });
                sd.session_name = name.map(Text::from);
                sd.information = info.map(Text::from);
                sd.emails = emails.into_iter().map(Text::from).collect();
                sd.connection = conn;
                sd.bandwidths = bws;
                sd.times = times
                    .into_iter()
                    .map(|(start, stop, reps)| Timing {
                        start,
                        stop,
                        repeats: reps
                            .into_iter()
                            .map(|(interval, duration, offsets)| Repeat {
                                interval,
                                duration,
                                offsets,
                            })
                            .collect(),
                    })
                    .collect();
                sd.time_zones = zones
                    .into_iter()
                    .map(|(time, offset)| TimeZone { time, offset })
                    .collect();
                sd.unknown_lines = unknown;
                sd.attributes = attrs;
                sd.media = media;
                sd
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn write_then_parse_is_identity(sd in session()) {
        let text = sd.to_sdp_string();
        let parsed = SessionDescription::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(&parsed, &sd);
        prop_assert_eq!(parsed.to_sdp_string(), text);
    }

    #[test]
    fn parser_is_total(input in "(v=0\n)?([a-z]=[ -~]{0,40}\n){0,20}") {
        let _ = SessionDescription::parse(&input);
    }

    #[test]
    fn parser_is_total_on_bytes(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = SessionDescription::parse_bytes(&input);
    }
}

/// Shuffles the lines of each section (keeping `v=` first and every `m=` line in place).
fn shuffle_sections(text: &str, seed: u64) -> String {
    let mut state = seed | 1;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = String::new();
    let mut section: Vec<&str> = Vec::new();
    let mut flush = |section: &mut Vec<&str>, out: &mut String| {
        for i in (1..section.len()).rev() {
            let j = (rand() % (i as u64 + 1)) as usize;
            section.swap(i, j);
        }
        for l in section.drain(..) {
            out.push_str(l);
            out.push_str("\r\n");
        }
    };
    for l in text.split("\r\n").filter(|l| !l.is_empty()) {
        if l.starts_with("v=") || l.starts_with("m=") {
            flush(&mut section, &mut out);
            out.push_str(l);
            out.push_str("\r\n");
        } else {
            section.push(l);
        }
    }
    flush(&mut section, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_line_order_round_trips(sd in session(), seed in any::<u64>()) {
        let shuffled = shuffle_sections(&sd.to_sdp_string(), seed);
        // A shuffle may put r= before any t=: such input is rightly rejected.
        let Ok(parsed) = SessionDescription::parse(&shuffled) else { return Ok(()) };
        let written = parsed.to_sdp_string();
        prop_assert_eq!(&written, &shuffled, "the order of lines is kept");
        prop_assert_eq!(SessionDescription::parse(&written).unwrap(), parsed);
    }
}

/// One fmtp item: a known or made-up key with a value, or an opaque item.
fn fmtp_item() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "apt",
        "APT",
        "packetization-mode",
        "profile-level-id",
        "level-asymmetry-allowed",
        "profile-id",
        "profile",
        "minptime",
        "useinbandfec",
        "stereo",
        "x-google-min-bitrate",
    ]);
    prop_oneof![
        (key, "[0-9a-fA-F]{0,7}|[ -~&&[^;=]]{0,8}").prop_map(|(k, v)| format!("{k}={v}")),
        "[ -~&&[^;]]{0,12}",
    ]
}

proptest! {
    #[test]
    fn format_parameters_keep_their_text_and_type_it(
        items in prop::collection::vec(fmtp_item(), 0..8),
        sep in prop::sample::select(vec![";", "; ", " ;"]),
    ) {
        use sansrtc_sdp::attributes::Fmtp;
        use sansrtc_sdp::jsep::{FormatParameters, ProfileLevelId};
        let text = items.join(sep);
        let p = FormatParameters::parse(&text);
        prop_assert_eq!(p.as_str(), text.as_str());
        prop_assert_eq!(p.to_string(), text.clone());
        // Items and text values as the attribute view reads them.
        let view = Fmtp { format: "96", parameters: &text };
        prop_assert_eq!(p.iter().collect::<Vec<_>>(), view.parameters().collect::<Vec<_>>());
        for key in ["apt", "packetization-mode", "profile-level-id", "profile-id", "profile", "minptime"] {
            prop_assert_eq!(p.get(key), view.get(key));
        }
        // Each typed value is the text value, parsed.
        prop_assert_eq!(p.apt(), view.get("apt").and_then(|v| v.parse().ok()));
        prop_assert_eq!(p.minptime(), view.get("minptime").and_then(|v| v.parse().ok()));
        prop_assert_eq!(p.profile_id(), view.get("profile-id").and_then(|v| v.parse().ok()));
        prop_assert_eq!(
            p.profile_level_id(),
            view.get("profile-level-id").and_then(ProfileLevelId::parse)
        );
        let flag = |v: &str| match v { "1" => Some(true), "0" => Some(false), _ => None };
        prop_assert_eq!(p.stereo(), view.get("stereo").and_then(flag));
        // Setting a value replaces the first one (or appends it) and keeps every other item.
        let mut q = p.clone();
        q.set("apt", 42);
        prop_assert_eq!(q.apt(), Some(42));
        prop_assert_eq!(q.get("apt"), Some("42"));
        let others = |f: &FormatParameters| {
            f.iter()
                .filter(|i| !matches!(i, sansrtc_sdp::attributes::FmtpParameter::Pair(k, _) if k.eq_ignore_ascii_case("apt")))
                .map(|i| format!("{i:?}"))
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(others(&q), others(&p));
    }

    #[test]
    fn mids_round_trip(s in "[!-~]{0,20}") {
        use sansrtc_sdp::{MAX_MID_LEN, Mid};
        let token = s.bytes().all(|b| !b"\"(),/:;<=>?@[\\]".contains(&b));
        match Mid::new(&s) {
            Ok(mid) => {
                prop_assert!(token && !s.is_empty() && s.len() <= MAX_MID_LEN);
                prop_assert_eq!(mid.as_str(), s.as_str());
                prop_assert_eq!(mid.to_string().parse::<Mid>(), Ok(mid));
            }
            Err(_) => prop_assert!(!token || s.is_empty() || s.len() > MAX_MID_LEN),
        }
    }
}
