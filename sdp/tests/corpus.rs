//! Every file in `tests/corpus/` is a real or RFC-example SDP. Each must parse; writing it and parsing
//! the result must give the same model; and, unless its name contains `lenient` (extra spaces, lower-case tokens), the written text
//! must be the original lines in the original order (blank lines aside) with CRLF line ends.

use std::path::PathBuf;

use sansrtc_sdp::{AttributeList, SessionDescription};

fn corpus_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/corpus exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sdp"))
        .collect();
    files.sort();
    files
}

#[test]
fn corpus() {
    let files = corpus_files();
    assert!(files.len() >= 30, "corpus has only {} files", files.len());
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let parsed = SessionDescription::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let written = parsed.to_sdp_string();
        assert!(written.ends_with("\r\n"), "{name}: no final CRLF");
        assert!(
            !written.replace("\r\n", "").contains('\n'),
            "{name}: bare LF in output"
        );
        let reparsed =
            SessionDescription::parse(&written).unwrap_or_else(|e| panic!("{name} rewritten: {e}"));
        assert_eq!(
            parsed, reparsed,
            "{name}: write then parse changed the model"
        );
        assert_eq!(
            written,
            reparsed.to_sdp_string(),
            "{name}: writing is not stable"
        );
        if !name.contains("lenient") {
            let original: Vec<&str> = text
                .lines()
                .map(|l| l.trim_end())
                .filter(|l| !l.is_empty())
                .collect();
            let out: Vec<&str> = written.split("\r\n").filter(|l| !l.is_empty()).collect();
            assert_eq!(original, out, "{name}: lines changed");
        }
        // Owned copies compare equal too.
        assert_eq!(
            parsed.clone().into_owned(),
            parsed,
            "{name}: into_owned changed the model"
        );
        // The owned parse (one shared copy of the input) gives the same model, which outlives
        // the input and every clone of the description.
        let input = text.clone();
        let owned = SessionDescription::parse_owned(&input)
            .unwrap_or_else(|e| panic!("{name} parse_owned: {e}"));
        drop(input);
        assert_eq!(owned, parsed, "{name}: parse_owned changed the model");
        let copy = owned.clone();
        drop(owned);
        assert_eq!(
            copy.to_sdp_string(),
            written,
            "{name}: owned writes differently"
        );
    }
}

#[test]
fn owned_descriptions_share_one_copy_of_the_input() {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    let text = load("chromium-av-offer.sdp");
    let owned = SessionDescription::parse_owned(&text).unwrap();
    send_sync(&owned);
    // Attribute values are ranges of the shared copy, not borrowed and not allocated one by one;
    // well-known names and payload types are static text.
    let video = &owned.media[1];
    let rtpmap = video.attribute("rtpmap").unwrap();
    assert!(rtpmap.name.is_borrowed(), "static text");
    let value = rtpmap.value.as_ref().unwrap();
    assert!(!value.is_borrowed());
    assert!(video.formats.iter().all(|f| f.is_borrowed()));
    // The same errors as the borrowed parse, with the same line numbers.
    let broken = text.replacen("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/fast", 1);
    assert_eq!(
        SessionDescription::parse_owned(&broken).unwrap_err(),
        SessionDescription::parse(&broken).unwrap_err()
    );
    let mut limits = sansrtc_sdp::Limits::default();
    limits.max_bytes = 100;
    assert!(SessionDescription::parse_owned_with(&text, &limits).is_err());
}

fn load(name: &str) -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus")
            .join(name),
    )
    .unwrap()
}

#[test]
fn browser_offers_have_what_jsep_needs() {
    for file in corpus_files() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.starts_with("chromium-") || name.starts_with("firefox-")) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let sd = SessionDescription::parse(&text).unwrap();
        let bundle = sd
            .bundle_group()
            .unwrap_or_else(|| panic!("{name}: no BUNDLE"));
        for m in &sd.media {
            let mid = m.mid().unwrap_or_else(|| panic!("{name}: m= without mid"));
            if m.port != 0 {
                assert!(bundle.mids().any(|b| b == mid), "{name}: {mid} not bundled");
            }
            assert!(
                m.ice_ufrag().is_some() || sd.ice_ufrag().is_some(),
                "{name}: no ufrag"
            );
            let fp = m.fingerprints().next().or_else(|| sd.fingerprints().next());
            assert_eq!(
                fp.unwrap_or_else(|| panic!("{name}: no fingerprint"))
                    .digest()
                    .len(),
                32
            );
            assert!(m.setup().is_some(), "{name}: no setup");
            if m.media == "application" {
                assert_eq!(m.sctp_port(), Some(5000), "{name}");
                assert!(m.max_message_size().is_some(), "{name}");
            } else {
                assert!(m.rtcp_mux(), "{name}");
                assert!(m.direction().is_some(), "{name}");
                for f in &m.formats {
                    let pt: u8 = f.parse().unwrap();
                    assert!(m.rtpmap(pt).is_some(), "{name}: pt {pt} without rtpmap");
                }
            }
        }
    }
}

#[test]
fn chromium_av_offer_details() {
    let text = load("chromium-av-offer.sdp");
    let sd = SessionDescription::parse(&text).unwrap();
    assert_eq!(sd.media.len(), 3);
    assert!(sd.extmap_allow_mixed());
    assert_eq!(sd.msid_semantic().unwrap().semantic, "WMS");
    let audio = &sd.media[0];
    assert_eq!(audio.rtpmap(111).unwrap().channels, Some(2));
    assert_eq!(audio.fmtp(111).unwrap().get("useinbandfec"), Some("1"));
    assert!(audio.candidates().count() >= 1);
    assert!(
        audio
            .candidates()
            .all(|c| c.socket_addr().map(|a| a.ip()) == Some([127, 0, 0, 1].into()))
    );
    let video = &sd.media[1];
    assert!(
        video
            .rtcp_fbs()
            .any(|f| f.kind == "nack" && f.parameter == Some("pli"))
    );
    assert!(
        video
            .ssrc_groups()
            .any(|g| g.semantics == "FID" && g.ssrcs().count() == 2)
    );
    assert!(
        video
            .extmaps()
            .any(|e| e.uri == "urn:ietf:params:rtp-hdrext:sdes:mid")
    );
    assert_eq!(sd.media[2].proto, "UDP/DTLS/SCTP");
}

#[test]
fn simulcast_offers() {
    for name in [
        "chromium-simulcast-offer.sdp",
        "firefox-simulcast-offer.sdp",
    ] {
        let text = load(name);
        let sd = SessionDescription::parse(&text).unwrap();
        let video = sd.media.iter().find(|m| m.media == "video").unwrap();
        let rids: Vec<_> = video.rids().map(|r| r.id).collect();
        assert_eq!(rids, ["q", "h", "f"], "{name}");
        let sim = video.simulcast().unwrap();
        assert_eq!(sim.send_streams().len(), 3, "{name}");
    }
    let rfc = load("rfc8853-simulcast-offer.sdp");
    let sd = SessionDescription::parse(&rfc).unwrap();
    let sim = sd.media[1].simulcast().unwrap();
    assert_eq!(sim.send_streams()[1].len(), 2);
    assert_eq!(sim.recv_streams()[0][0].id, "4");
}

#[test]
fn rfc8866_every_line_type() {
    let text = load("rfc8866-every-line-type.sdp");
    let sd = SessionDescription::parse(&text).unwrap();
    assert_eq!(sd.origin.username, "mhandley");
    assert_eq!(sd.emails.len(), 2);
    let c = sd.connection.as_ref().unwrap();
    assert_eq!(
        (c.address.as_ref(), c.ttl, c.num_addresses),
        ("233.252.0.1", Some(127), Some(3))
    );
    assert_eq!(sd.times.len(), 2);
    assert_eq!(sd.times[0].repeats[1].interval.seconds(), 7 * 86400);
    assert_eq!(sd.time_zones[0].offset.seconds(), -3600);
    assert_eq!(sd.key.as_ref().unwrap().value.as_deref(), Some("secretkey"));
    let audio = &sd.media[0];
    assert_eq!(audio.num_ports, Some(2));
    assert_eq!(audio.connections[0].num_addresses, Some(3));
    assert_eq!(audio.connections[0].ttl, None);
    assert_eq!(audio.ptime(), Some(20.0));
    assert_eq!(audio.maxptime(), Some(40.0));
    assert_eq!(sd.media[1].framerate(), Some(29.97));
    assert_eq!(sd.media[2].formats, ["wb"]);
}

#[test]
fn lenient_input() {
    let text = load("lenient-lf-spaces-case-no-final-newline.sdp");
    let sd = SessionDescription::parse(&text).unwrap();
    assert!(sd.bundle_group().is_some());
    assert_eq!(sd.unknown_lines[0].line_type, 'x');
    let m = &sd.media[0];
    assert_eq!(m.mid(), Some("0"));
    assert_eq!(m.direction(), Some(sansrtc_sdp::Direction::SendRecv));
    assert_eq!(m.rtpmap(111).unwrap().encoding, "OPUS");
    assert!(m.has_ice_option("RENOMINATION"));
    assert_eq!(m.unknown_lines[0].value, "0123456789");
    assert_eq!(
        sd.attribute("x-custom-thing").unwrap().value.as_deref(),
        Some("keep me")
    );
    assert!(sd.to_sdp_string().contains("a=X-Custom-Thing:keep me\r\n"));
}

#[test]
fn line_order_is_kept_only_when_not_canonical() {
    let chromium = load("chromium-av-offer.sdp");
    let sd = SessionDescription::parse(&chromium).unwrap();
    assert!(sd.line_order.is_none() && sd.media.iter().all(|m| m.line_order.is_none()));
    let gateway = load("sip-gateway-out-of-order.sdp");
    let sd = SessionDescription::parse(&gateway).unwrap();
    assert_eq!(sd.line_order.as_deref(), Some("ostcab"));
    assert_eq!(sd.media[0].line_order.as_deref(), Some("acaa?a"));
    assert_eq!(sd.to_sdp_string(), gateway.replace('\n', "\r\n"));
    // A model changed after parsing still writes every line: the ones the order does not cover last.
    let mut changed = sd.clone();
    changed.emails.push("ops@example.com".into());
    changed.media[0]
        .bandwidths
        .push(changed.bandwidths[0].clone());
    let text = changed.to_sdp_string();
    assert!(
        text.contains("e=ops@example.com\r\n") && text.matches("b=AS:84").count() == 2,
        "{text}"
    );
    assert_eq!(SessionDescription::parse(&text).unwrap().emails.len(), 1);
}
