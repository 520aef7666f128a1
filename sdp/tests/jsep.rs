//! Negotiation tests, one or more per JSEP rule, plus answers to the real browser offers of the corpus.

use sansrtc_sdp::jsep::{
    Codec, CodecName, DtlsRole, Feedback, HeaderExtension, JsepConfig, JsepSession, MediaKind,
    NegotiationError, ProfileLevelId, SectionKind, SendEncoding, Transceiver,
};
use sansrtc_sdp::{
    AttributeList, CertificateFingerprint, Direction, FingerprintHash, Mid, MidError,
    SessionDescription, Setup,
};

fn rng(seed: u8) -> Box<dyn sansrtc_sdp::jsep::RandomSource> {
    // xorshift64: deterministic, and good enough to make every credential distinct.
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

fn session(seed: u8) -> JsepSession {
    let mut config = JsepConfig::default();
    config.fingerprint = vec![seed; 32];
    JsepSession::new(config, rng(seed))
}

fn mid(s: &str) -> Mid {
    s.parse().unwrap()
}

fn opus(pt: u8) -> Codec {
    Codec::new(pt, "opus", 48000, Some(2))
        .fmtp("minptime=10;useinbandfec=1")
        .feedback(Feedback::new("transport-cc"))
}

fn video_codecs(vp8: u8, rtx: u8) -> Vec<Codec> {
    vec![
        Codec::new(vp8, "VP8", 90000, None)
            .feedback(Feedback::new("transport-cc"))
            .feedback(Feedback::with("ccm", "fir"))
            .feedback(Feedback::new("nack"))
            .feedback(Feedback::with("nack", "pli")),
        Codec::new(rtx, "rtx", 90000, None).fmtp(&format!("apt={vp8}")),
    ]
}

const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";
const TWCC_URI: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";

fn audio(direction: Direction) -> Transceiver {
    let mut t = Transceiver::new(MediaKind::Audio, direction, vec![opus(111)]);
    t.header_extensions = vec![
        HeaderExtension::new(1, MID_URI),
        HeaderExtension::new(3, TWCC_URI),
    ];
    t
}

fn video(direction: Direction) -> Transceiver {
    let mut t = Transceiver::new(MediaKind::Video, direction, video_codecs(96, 97));
    t.header_extensions = vec![HeaderExtension::new(1, MID_URI)];
    t
}

fn reparse(sd: &SessionDescription<'_>) -> SessionDescription<'static> {
    let text = sd.to_sdp_string();
    SessionDescription::parse(&text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .into_owned()
}

fn corpus(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/corpus/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn offer_from_transceivers_and_data_channel() {
    let mut a = session(1);
    a.add_transceiver(audio(Direction::SendRecv));
    let mut v = video(Direction::SendOnly);
    v.send_encodings = ["q", "h", "f"].map(SendEncoding::new).to_vec();
    v.msid = Some(("stream".into(), "camera".into()));
    a.add_transceiver(v);
    a.add_data_channel();
    let offer = reparse(&a.create_offer());
    assert_eq!(
        offer.bundle_group().unwrap().mids().collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    let (au, vi, da) = (&offer.media[0], &offer.media[1], &offer.media[2]);
    for m in [au, vi, da] {
        assert_eq!(m.setup(), Some(Setup::ActPass));
        assert_eq!(m.ice_ufrag(), Some(a.local_ice().ufrag.as_str()));
        assert_eq!(m.fingerprints().next().unwrap().digest(), vec![1; 32]);
        assert!(m.has_ice_option("trickle"));
    }
    assert_eq!(au.formats, ["111"]);
    assert_eq!(au.fmtp(111).unwrap().get("useinbandfec"), Some("1"));
    assert!(au.rtcp_mux() && au.rtcp_rsize());
    assert_eq!(au.extmaps().map(|e| e.id).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(vi.direction(), Some(Direction::SendOnly));
    assert_eq!(vi.msids().next().unwrap().track, Some("camera"));
    assert_eq!(vi.fmtp(97).unwrap().get("apt"), Some("96"));
    assert_eq!(vi.rtcp_fbs().filter(|f| f.kind == "nack").count(), 2);
    assert_eq!(vi.rids().map(|r| r.id).collect::<Vec<_>>(), ["q", "h", "f"]);
    assert_eq!(vi.simulcast().unwrap().send_streams().len(), 3);
    assert_eq!(
        (da.proto.as_ref(), da.formats[0].as_ref()),
        ("UDP/DTLS/SCTP", "webrtc-datachannel")
    );
    assert_eq!(da.sctp_port(), Some(5000));
    assert_eq!(da.max_message_size(), Some(262_144));
}

#[test]
fn two_sessions_negotiate() {
    let mut a = session(1);
    a.add_transceiver(audio(Direction::SendRecv));
    let mut av = video(Direction::SendRecv);
    av.send_ssrcs = Some((1111, Some(2222)));
    av.cname = Some("a-cname".into());
    av.msid = Some(("s".into(), "t".into()));
    a.add_transceiver(av);
    a.add_data_channel();
    let offer = reparse(&a.create_offer());
    assert_eq!(
        offer.media[1]
            .ssrcs()
            .filter(|s| s.attribute == "cname")
            .count(),
        2
    );

    let mut b = session(2);
    let mut bv = Transceiver::new(
        MediaKind::Video,
        Direction::SendRecv,
        video_codecs(120, 121),
    );
    bv.header_extensions = vec![HeaderExtension::new(5, MID_URI)];
    b.add_transceiver(bv);
    let ba = b.add_transceiver(Transceiver::new(
        MediaKind::Audio,
        Direction::SendRecv,
        vec![opus(109)],
    ));
    let (answer, nb) = b.create_answer(&offer).unwrap();
    let answer = reparse(&answer);
    let na = a.set_remote_answer(&answer).unwrap();

    // Codecs: the offerer's payload types, on both sides.
    assert_eq!(nb.sections[0].codecs[0].payload_type, 111);
    assert_eq!(
        nb.sections[0].transceiver,
        Some(ba),
        "audio m-line bound to the audio transceiver"
    );
    assert_eq!(
        nb.sections[1]
            .codecs
            .iter()
            .map(|c| c.payload_type)
            .collect::<Vec<_>>(),
        [96, 97]
    );
    assert_eq!(answer.media[1].fmtp(97).unwrap().get("apt"), Some("96"));
    assert_eq!(
        na.sections[1]
            .codecs
            .iter()
            .map(|c| c.payload_type)
            .collect::<Vec<_>>(),
        [96, 97]
    );
    // Extensions: intersection with the offerer's ids.
    assert_eq!(
        nb.sections[1].header_extensions,
        [HeaderExtension::new(1, MID_URI)]
    );
    assert_eq!(
        na.sections[1].header_extensions,
        [HeaderExtension::new(1, MID_URI)]
    );
    // DTLS roles complement each other; fingerprints cross.
    assert_eq!(
        (na.dtls_role, nb.dtls_role),
        (DtlsRole::Server, DtlsRole::Client)
    );
    assert_eq!(na.remote_fingerprints[0].hash(), FingerprintHash::Sha256);
    assert_eq!(na.remote_fingerprints[0].digest(), [2; 32]);
    assert_eq!(nb.remote_fingerprints[0].digest(), [1; 32]);
    // ICE credentials cross.
    assert_eq!(na.sections[0].remote_ice.as_ref().unwrap(), b.local_ice());
    assert_eq!(nb.sections[0].remote_ice.as_ref().unwrap(), a.local_ice());
    // BUNDLE and SCTP.
    assert_eq!(na.bundle, ["0", "1", "2"]);
    assert_eq!(nb.bundle, ["0", "1", "2"]);
    assert_eq!(na.sections[2].kind, SectionKind::Data);
    assert_eq!(na.sections[2].remote_sctp_port, Some(5000));
    assert_eq!(nb.sections[2].remote_max_message_size, Some(262_144));
    assert!(
        na.sections
            .iter()
            .all(|s| s.direction == Direction::SendRecv && !s.rejected)
    );
}

fn offer_text(media: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
         a=fingerprint:sha-256 {fp}\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n{media}",
        fp = sansrtc_sdp::attributes::Fingerprint::format_digest(&[7; 32])
    )
}

const AUDIO: &str = "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=setup:actpass\r\n\
    a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=rtcp-fb:111 nack\r\n\
    a=extmap:2 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:4 urn:x-unknown\r\n";

/// The negotiated section carries the typed UDP candidates; well-formed ones no agent can use
/// (TCP, an FQDN, an unknown type) are counted, and a broken one refuses the description.
#[test]
fn remote_candidates_are_typed_and_the_unusable_counted() {
    let candidates = "a=candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host generation 0\r\n\
        a=candidate:2 1 UDP 2113937151 4e5c1b2c-9f1d.local 5001 typ host\r\n\
        a=candidate:3 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active\r\n\
        a=candidate:4 1 udp 1 turn.example.org 3478 typ relay\r\n\
        a=candidate:5 1 udp 1 192.0.2.9 3478 typ nat\r\n";
    let offer_s = offer_text(&format!("{AUDIO}a=sendrecv\r\n{candidates}"));
    let offer = SessionDescription::parse(&offer_s).unwrap();
    let mut b = session(3);
    b.add_transceiver(audio(Direction::SendRecv));
    let (_, n) = b.create_answer(&offer).unwrap();
    let s = &n.sections[0];
    assert_eq!(
        s.remote_candidates
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
        [
            "candidate:1 1 udp 2122260223 192.0.2.1 5000 typ host generation 0",
            "candidate:2 1 udp 2113937151 4e5c1b2c-9f1d.local 5001 typ host",
        ]
    );
    assert_eq!(s.skipped_candidates, 3);

    let broken = offer_text(&format!(
        "{AUDIO}a=candidate:1 1 udp 1 192.0.2.1 5000 typ host generation x\r\n"
    ));
    assert!(SessionDescription::parse(&broken).is_err());
}

#[test]
fn codec_rtcp_fb_and_extmap_intersection() {
    let offer_s = offer_text(&format!("{AUDIO}a=sendrecv\r\n"));
    let offer = SessionDescription::parse(&offer_s).unwrap();
    let mut b = session(2);
    let mut t = Transceiver::new(
        MediaKind::Audio,
        Direction::SendRecv,
        vec![
            Codec::new(100, "OPUS", 48000, Some(2)).feedback(Feedback::new("transport-cc")),
            Codec::new(8, "PCMA", 8000, None),
        ],
    );
    t.header_extensions = vec![HeaderExtension::new(9, MID_URI)];
    b.add_transceiver(t);
    let (answer, n) = b.create_answer(&offer).unwrap();
    let m = &answer.media[0];
    // opus kept with the offerer's PT 111, PCMU (0) not accepted since we only have PCMA.
    assert_eq!(m.formats, ["111"]);
    assert_eq!(m.rtpmap(111).unwrap().encoding, "opus");
    // nack was offered but not supported locally.
    assert_eq!(
        m.rtcp_fbs().map(|f| f.kind).collect::<Vec<_>>(),
        ["transport-cc"]
    );
    // extmap keeps the offer's id 2; the unknown URI is dropped.
    assert_eq!(
        m.extmaps().map(|e| (e.id, e.uri)).collect::<Vec<_>>(),
        [(2, MID_URI)]
    );
    assert_eq!(n.sections[0].codecs.len(), 1);
}

#[test]
fn h264_needs_matching_packetization_mode_and_rtx_follows_apt() {
    let media = "m=video 9 UDP/TLS/RTP/SAVPF 102 103 104 105\r\na=mid:0\r\na=setup:actpass\r\na=rtcp-mux\r\n\
        a=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n\
        a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n\
        a=rtpmap:104 H264/90000\r\na=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
        a=rtpmap:105 rtx/90000\r\na=fmtp:105 apt=104\r\n";
    let offer_s = offer_text(media);
    let offer = SessionDescription::parse(&offer_s).unwrap();
    let mut b = session(2);
    b.add_transceiver(Transceiver::new(
        MediaKind::Video,
        Direction::RecvOnly,
        vec![
            Codec::new(96, "H264", 90000, None)
                .fmtp("packetization-mode=1;profile-level-id=42e01f"),
            Codec::new(97, "rtx", 90000, None).fmtp("apt=96"),
        ],
    ));
    let (answer, n) = b.create_answer(&offer).unwrap();
    assert_eq!(answer.media[0].formats, ["104", "105"]);
    assert_eq!(answer.media[0].fmtp(105).unwrap().get("apt"), Some("104"));
    assert_eq!(n.sections[0].direction, Direction::RecvOnly);
}

#[test]
fn direction_negotiation() {
    let cases = [
        (
            Direction::SendRecv,
            Direction::SendRecv,
            Direction::SendRecv,
        ),
        (
            Direction::SendOnly,
            Direction::SendRecv,
            Direction::RecvOnly,
        ),
        (
            Direction::RecvOnly,
            Direction::SendRecv,
            Direction::SendOnly,
        ),
        (
            Direction::Inactive,
            Direction::SendRecv,
            Direction::Inactive,
        ),
        (
            Direction::SendRecv,
            Direction::RecvOnly,
            Direction::RecvOnly,
        ),
        (
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::SendOnly,
        ),
        (
            Direction::SendOnly,
            Direction::SendOnly,
            Direction::Inactive,
        ),
    ];
    for (offered, local, expected) in cases {
        let offer_s = offer_text(&format!("{AUDIO}a={offered}\r\n"));
        let offer = SessionDescription::parse(&offer_s).unwrap();
        let mut b = session(2);
        b.add_transceiver(audio(local));
        let (answer, n) = b.create_answer(&offer).unwrap();
        assert_eq!(
            answer.media[0].direction(),
            Some(expected),
            "offered {offered}, local {local}"
        );
        assert_eq!(n.sections[0].direction, expected);
    }
    // The offerer's view of an answer: the answer's direction reversed, limited by its own wish.
    let mut a = session(1);
    a.add_transceiver(audio(Direction::SendRecv));
    let mut b = session(2);
    b.add_transceiver(audio(Direction::RecvOnly));
    let (answer, _) = b.create_answer(&a.create_offer()).unwrap();
    assert_eq!(
        a.set_remote_answer(&answer).unwrap().sections[0].direction,
        Direction::SendOnly
    );
}

#[test]
fn bundle_rtcp_mux_and_port_zero() {
    let rejected = "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\n";
    let offer_s = offer_text(&format!("{AUDIO}{rejected}"));
    let offer = SessionDescription::parse(&offer_s).unwrap();
    let mut b = session(2);
    b.add_transceiver(audio(Direction::SendRecv));
    b.add_transceiver(video(Direction::SendRecv));
    let (answer, n) = b.create_answer(&offer).unwrap();
    let answer = reparse(&answer);
    assert!(answer.media[0].rtcp_mux());
    assert_eq!(answer.media[1].port, 0);
    assert_eq!(answer.media[1].mid(), Some("1"));
    assert!(n.sections[1].rejected);
    assert_eq!(
        answer.bundle_group().unwrap().mids().collect::<Vec<_>>(),
        ["0"]
    );
    assert_eq!(n.bundle, ["0"]);

    // No rtcp-mux: refused, saying why.
    let no_mux = offer_text(&AUDIO.replace("a=rtcp-mux\r\n", ""));
    let err = session(3)
        .create_answer(&SessionDescription::parse(&no_mux).unwrap())
        .unwrap_err();
    assert_eq!(err, NegotiationError::RtcpMuxRequired(mid("0")));
    assert!(err.to_string().contains("rtcp-mux"));

    // bundle-only with port 0 inside the BUNDLE group is accepted, not rejected.
    let data = "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\na=bundle-only\r\na=mid:1\r\na=setup:actpass\r\na=sctp-port:5000\r\n";
    let offer_s = offer_text(&format!("{AUDIO}{data}"));
    let (answer, n) = session(4)
        .create_answer(&SessionDescription::parse(&offer_s).unwrap())
        .unwrap();
    assert!(!n.sections[1].rejected);
    assert_eq!(answer.media[1].port, 9);
    // No local audio transceiver: like a browser, a receive-only one is created for the remote track.
    assert!(!n.sections[0].rejected);
    assert_eq!(n.sections[0].direction, Direction::RecvOnly);
}

#[test]
fn dtls_roles() {
    for (offered, config, answered, role) in [
        ("actpass", Setup::Active, Setup::Active, DtlsRole::Client),
        ("actpass", Setup::Passive, Setup::Passive, DtlsRole::Server),
        ("active", Setup::Active, Setup::Passive, DtlsRole::Server),
        ("passive", Setup::Active, Setup::Active, DtlsRole::Client),
    ] {
        let offer_s = offer_text(&AUDIO.replace("setup:actpass", &format!("setup:{offered}")));
        let mut jsep_config = JsepConfig::default();
        jsep_config.answer_setup = config;
        let mut b = JsepSession::new(jsep_config, rng(5));
        b.add_transceiver(audio(Direction::SendRecv));
        let (answer, n) = b
            .create_answer(&SessionDescription::parse(&offer_s).unwrap())
            .unwrap();
        assert_eq!(answer.media[0].setup(), Some(answered), "{offered}");
        assert_eq!(n.dtls_role, role, "{offered}");
    }
    let hold = offer_text(&AUDIO.replace("setup:actpass", "setup:holdconn"));
    let err = session(6)
        .create_answer(&SessionDescription::parse(&hold).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            NegotiationError::BadSetup {
                setup: "holdconn",
                ..
            }
        ),
        "{err}"
    );
    // An answer may not say actpass.
    let mut a = session(1);
    a.add_transceiver(audio(Direction::SendRecv));
    let mut b = session(2);
    b.add_transceiver(audio(Direction::SendRecv));
    let (answer, _) = b.create_answer(&a.create_offer()).unwrap();
    let bad = answer
        .to_sdp_string()
        .replace("setup:active", "setup:actpass");
    let err = a
        .set_remote_answer(&SessionDescription::parse(&bad).unwrap())
        .unwrap_err();
    assert!(matches!(
        err,
        NegotiationError::BadSetup {
            setup: "actpass",
            context: "answer",
            ..
        }
    ));
}

#[test]
fn sctp_port_and_max_message_size() {
    let data = |extra: &str| {
        offer_text(&format!(
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\na=setup:actpass\r\n{extra}"
        ))
    };
    let (answer, n) = session(1)
        .create_answer(
            &SessionDescription::parse(&data("a=sctp-port:5001\r\na=max-message-size:1000\r\n"))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        (
            n.sections[0].remote_sctp_port,
            n.sections[0].remote_max_message_size
        ),
        (Some(5001), Some(1000))
    );
    assert_eq!(answer.media[0].sctp_port(), Some(5000));
    assert_eq!(answer.media[0].max_message_size(), Some(262_144));
    let (_, n) = session(1)
        .create_answer(&SessionDescription::parse(&data("a=sctp-port:5000\r\n")).unwrap())
        .unwrap();
    assert_eq!(
        n.sections[0].remote_max_message_size,
        Some(65536),
        "RFC 8841 default"
    );
    // Legacy DTLS/SCTP with sctpmap.
    let legacy = offer_text(
        "m=application 9 DTLS/SCTP 5000\r\na=mid:0\r\na=setup:actpass\r\na=sctpmap:5000 webrtc-datachannel 1024\r\n",
    );
    let (answer, n) = session(1)
        .create_answer(&SessionDescription::parse(&legacy).unwrap())
        .unwrap();
    assert_eq!(n.sections[0].remote_sctp_port, Some(5000));
    assert_eq!(answer.media[0].sctpmap().unwrap().app, "webrtc-datachannel");
}

#[test]
fn subsequent_offers_add_remove_recycle_restart() {
    let mut a = session(1);
    let audio_id = a.add_transceiver(audio(Direction::SendRecv));
    let video_id = a.add_transceiver(video(Direction::SendRecv));
    let mut b = session(2);
    b.add_transceiver(audio(Direction::SendRecv));
    b.add_transceiver(video(Direction::SendRecv));
    let negotiate = |a: &mut JsepSession, b: &mut JsepSession| {
        let offer = reparse(&a.create_offer());
        let (answer, nb) = b.create_answer(&offer).unwrap();
        let na = a.set_remote_answer(&reparse(&answer)).unwrap();
        (offer, na, nb)
    };
    let (first, _, _) = negotiate(&mut a, &mut b);
    assert_eq!(a.mids(), ["0", "1"]);
    let ufrag = a.local_ice().ufrag.clone();

    // Adding a track: a new m-section at the end; existing mids stay.
    let extra = a.add_transceiver(audio(Direction::SendOnly));
    let (offer, na, _) = negotiate(&mut a, &mut b);
    assert_eq!(
        offer
            .media
            .iter()
            .map(|m| m.mid().unwrap())
            .collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    assert_eq!(na.sections[2].transceiver, Some(extra));
    assert!(offer.origin.session_version > first.origin.session_version);
    assert_eq!(offer.origin.session_id, first.origin.session_id);

    // Removing a track: the transceiver stops sending.
    a.transceiver_mut(audio_id).unwrap().direction = Direction::RecvOnly;
    let (offer, na, nb) = negotiate(&mut a, &mut b);
    assert_eq!(offer.media[0].direction(), Some(Direction::RecvOnly));
    assert_eq!(na.sections[0].direction, Direction::RecvOnly);
    assert_eq!(nb.sections[0].direction, Direction::SendOnly);

    // Stopping a transceiver: port 0, out of the BUNDLE group.
    a.transceiver_mut(video_id).unwrap().stopped = true;
    let (offer, na, nb) = negotiate(&mut a, &mut b);
    assert_eq!(offer.media[1].port, 0);
    assert!(na.sections[1].rejected && nb.sections[1].rejected);
    assert_eq!(
        offer.bundle_group().unwrap().mids().collect::<Vec<_>>(),
        ["0", "2"]
    );

    // A new transceiver recycles the rejected m-section with a new mid.
    let new_video = a.add_transceiver(video(Direction::SendRecv));
    let (offer, na, nb) = negotiate(&mut a, &mut b);
    assert_eq!(offer.media.len(), 3);
    let mid = offer.media[1].mid().unwrap();
    assert!(
        !["0", "1", "2"].contains(&mid),
        "recycled section has a new mid, got {mid}"
    );
    assert_eq!(offer.media[1].port, 9);
    assert_eq!(na.sections[1].transceiver, Some(new_video));
    assert!(!nb.sections[1].rejected);
    assert!(a.transceiver(video_id).unwrap().stopped);

    // ICE restart: new credentials in the offer; the answerer notices and changes its own.
    let b_ufrag = b.local_ice().ufrag.clone();
    a.restart_ice();
    assert_ne!(a.local_ice().ufrag, ufrag);
    let (offer, na, nb) = negotiate(&mut a, &mut b);
    assert_eq!(
        offer.media[0].ice_ufrag(),
        Some(a.local_ice().ufrag.as_str())
    );
    assert!(na.ice_restart && nb.ice_restart);
    assert_ne!(b.local_ice().ufrag, b_ufrag);
    // And no restart on the next round.
    let (_, na, nb) = negotiate(&mut a, &mut b);
    assert!(!na.ice_restart && !nb.ice_restart);
}

#[test]
fn errors_say_why() {
    let mut a = session(1);
    assert_eq!(
        a.set_remote_answer(&SessionDescription::parse(&offer_text("")).unwrap()),
        Err(NegotiationError::NoPendingOffer)
    );
    let no_mid = offer_text(&AUDIO.replace("a=mid:0\r\n", ""));
    assert_eq!(
        session(2)
            .create_answer(&SessionDescription::parse(&no_mid).unwrap())
            .unwrap_err(),
        NegotiationError::MissingMid { index: 0 }
    );
    let dup = offer_text(&format!("{AUDIO}{AUDIO}"));
    assert_eq!(
        session(2)
            .create_answer(&SessionDescription::parse(&dup).unwrap())
            .unwrap_err(),
        NegotiationError::DuplicateMid(mid("0"))
    );
    let no_fp = offer_text(AUDIO).replace("a=fingerprint", "a=x-fingerprint");
    let mut b = session(2);
    b.add_transceiver(audio(Direction::SendRecv));
    assert_eq!(
        b.create_answer(&SessionDescription::parse(&no_fp).unwrap())
            .unwrap_err(),
        NegotiationError::MissingFingerprint(mid("0"))
    );
    let no_ice = offer_text(AUDIO).replace("a=ice-pwd", "a=x-ice-pwd");
    let mut b = session(2);
    b.add_transceiver(audio(Direction::SendRecv));
    let err = b
        .create_answer(&SessionDescription::parse(&no_ice).unwrap())
        .unwrap_err();
    assert_eq!(err, NegotiationError::MissingIceCredentials(mid("0")));
    assert_eq!(err.to_string(), "mid \"0\" has no ice-ufrag/ice-pwd");

    // Answers that do not fit the offer.
    a.add_transceiver(audio(Direction::SendRecv));
    let offer = a.create_offer();
    let mut b = session(2);
    b.add_transceiver(audio(Direction::SendRecv));
    let (answer, _) = b.create_answer(&offer).unwrap();
    let text = answer.to_sdp_string();
    let mut two = SessionDescription::parse(&text).unwrap();
    two.media.push(two.media[0].clone());
    assert_eq!(
        a.set_remote_answer(&two),
        Err(NegotiationError::SectionCount {
            offered: 1,
            answered: 2
        })
    );
    let wrong_mid = text.replace("a=mid:0", "a=mid:9");
    assert!(matches!(
        a.set_remote_answer(&SessionDescription::parse(&wrong_mid).unwrap()),
        Err(NegotiationError::MidMismatch { index: 0, .. })
    ));
    let wrong_pt = text
        .replace("UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF 111 35")
        .replace("a=rtpmap:111", "a=rtpmap:35 x/8000\r\na=rtpmap:111");
    assert_eq!(
        a.set_remote_answer(&SessionDescription::parse(&wrong_pt).unwrap()),
        Err(NegotiationError::UnknownPayloadType {
            mid: mid("0"),
            payload_type: 35
        })
    );
    // The pending offer survives failed answers.
    assert!(
        a.set_remote_answer(&SessionDescription::parse(&text).unwrap())
            .is_ok()
    );
}

#[test]
fn answers_real_browser_offers() {
    for name in [
        "chromium-data-offer.sdp",
        "chromium-av-offer.sdp",
        "chromium-simulcast-offer.sdp",
        "chromium-recvonly-offer.sdp",
        "firefox-data-offer.sdp",
        "firefox-av-offer.sdp",
        "firefox-simulcast-offer.sdp",
        "firefox-recvonly-offer.sdp",
        "aiortc-av-offer.sdp",
    ] {
        let text = corpus(name);
        let offer = SessionDescription::parse(&text).unwrap();
        let mut b = session(9);
        b.add_transceiver(
            Transceiver::new(MediaKind::Audio, Direction::SendRecv, vec![opus(109)])
                .with_header_extensions(vec![
                    HeaderExtension::new(1, MID_URI),
                    HeaderExtension::new(3, TWCC_URI),
                ]),
        );
        b.add_transceiver(
            Transceiver::new(
                MediaKind::Video,
                Direction::RecvOnly,
                video_codecs(100, 101),
            )
            .with_header_extensions(vec![
                HeaderExtension::new(1, MID_URI),
                HeaderExtension::new(10, RID_URI),
            ]),
        );
        let (answer, n) = b
            .create_answer(&offer)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let answer = reparse(&answer);
        assert_eq!(answer.media.len(), offer.media.len(), "{name}");
        for (o, (a, s)) in offer.media.iter().zip(answer.media.iter().zip(&n.sections)) {
            assert_eq!(a.mid(), o.mid(), "{name}");
            assert_eq!(a.media, o.media, "{name}");
            assert!(!s.rejected, "{name}: {} rejected", s.mid);
            assert_eq!(a.setup(), Some(Setup::Active), "{name}");
            for c in &s.codecs {
                assert!(
                    o.formats.iter().any(|f| f == &c.payload_type.to_string()),
                    "{name}: {} not offered",
                    c.payload_type
                );
            }
            if o.media == "video" {
                assert!(s.codecs.iter().any(|c| c.name == CodecName::Vp8), "{name}");
                if o.simulcast().is_some() {
                    assert_eq!(s.recv_rids, ["q", "h", "f"], "{name}");
                    assert_eq!(a.simulcast().unwrap().recv_streams().len(), 3, "{name}");
                    assert!(
                        a.rids()
                            .all(|r| r.direction == sansrtc_sdp::attributes::RidDirection::Recv)
                    );
                }
            }
        }
        assert_eq!(n.dtls_role, DtlsRole::Client, "{name}");
        if !name.starts_with("aiortc") {
            assert_eq!(n.bundle.len(), offer.media.len(), "{name}");
        }
    }
}

#[test]
fn renegotiation_from_the_other_side_keeps_layout_and_dtls_role() {
    let mut a = session(1);
    let audio_id = a.add_transceiver(audio(Direction::SendRecv));
    a.add_data_channel();
    let mut b = session(2);
    b.add_transceiver(audio(Direction::SendRecv));
    let (answer, nb) = b.create_answer(&reparse(&a.create_offer())).unwrap();
    let na = a.set_remote_answer(&reparse(&answer)).unwrap();
    assert_eq!(
        (na.dtls_role, nb.dtls_role),
        (DtlsRole::Server, DtlsRole::Client)
    );

    // Now b offers: same mids in the same order, a new video section at the end.
    b.add_transceiver(video(Direction::SendRecv));
    let offer = reparse(&b.create_offer());
    assert_eq!(
        offer
            .media
            .iter()
            .map(|m| m.mid().unwrap())
            .collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    assert_eq!(offer.media[2].media, "video");
    assert!(
        offer
            .media
            .iter()
            .all(|m| m.setup() == Some(Setup::ActPass))
    );
    // a answers the actpass re-offer keeping its established role (server: passive).
    let (answer, na) = a.create_answer(&offer).unwrap();
    assert!(
        answer
            .media
            .iter()
            .filter(|m| m.port != 0)
            .all(|m| m.setup() == Some(Setup::Passive))
    );
    assert_eq!(na.dtls_role, DtlsRole::Server);
    let nb = b.set_remote_answer(&reparse(&answer)).unwrap();
    assert_eq!(nb.dtls_role, DtlsRole::Client);
    assert_eq!(
        na.sections[0].transceiver,
        Some(audio_id),
        "audio keeps its transceiver"
    );
    // a has no video to send: it only receives, b only sends.
    assert_eq!(na.sections[2].direction, Direction::RecvOnly);
    assert_eq!(nb.sections[2].direction, Direction::SendOnly);
    assert_eq!(na.sections[1].kind, SectionKind::Data);
}

#[test]
fn a_rejected_offer_leaves_the_session_unchanged() {
    let mut a = session(1);
    a.add_transceiver(audio(Direction::SendRecv));
    let mut b = session(2);
    let (answer, _) = b.create_answer(&reparse(&a.create_offer())).unwrap();
    a.set_remote_answer(&reparse(&answer)).unwrap();
    let (ice, mids) = (b.local_ice().clone(), b.mids());

    // An ICE restart re-offer with a new video section but without a fingerprint on it.
    a.restart_ice();
    a.add_transceiver(video(Direction::SendRecv));
    let offer = a.create_offer().to_sdp_string();
    let broken = offer.replacen("a=fingerprint", "a=x-fingerprint", 2);
    let err = b
        .create_answer(&SessionDescription::parse(&broken).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, NegotiationError::MissingFingerprint(_)),
        "{err}"
    );
    assert_eq!(b.local_ice(), &ice, "no new credentials");
    assert_eq!(b.mids(), mids, "no new sections");
    assert!(
        b.transceivers().len() == 1,
        "no transceiver created for the video"
    );
    // The same offer, intact, is then answered normally.
    let (answer, n) = b
        .create_answer(&SessionDescription::parse(&offer).unwrap())
        .unwrap();
    assert!(n.ice_restart);
    assert_eq!(answer.media.len(), 2);
}

/// The audio and video transceivers of the RFC 9429 section 7 answerer: the same codecs and
/// (for audio) header extensions as its offerer, with our own payload types and ids (the answer
/// must use the offerer's).
fn rfc9429_answerer(seed: u8) -> JsepSession {
    let mut b = session(seed);
    let mut audio = Transceiver::new(
        MediaKind::Audio,
        Direction::SendRecv,
        vec![
            Codec::new(111, "opus", 48000, Some(2)),
            Codec::new(0, "PCMU", 8000, None),
            Codec::new(8, "PCMA", 8000, None),
            Codec::new(110, "telephone-event", 8000, None).fmtp("0-15"),
            Codec::new(126, "telephone-event", 48000, None).fmtp("0-15"),
        ],
    );
    audio.header_extensions = vec![
        HeaderExtension::new(4, MID_URI),
        HeaderExtension::new(5, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
    ];
    b.add_transceiver(audio);
    let vp8 = Codec::new(120, "VP8", 90000, None)
        .feedback(Feedback::with("ccm", "fir"))
        .feedback(Feedback::new("nack"))
        .feedback(Feedback::with("nack", "pli"));
    let mut video = Transceiver::new(
        MediaKind::Video,
        Direction::SendRecv,
        vec![
            vp8,
            Codec::new(121, "H264", 90000, None)
                .fmtp("packetization-mode=1;profile-level-id=42e01f"),
            Codec::new(122, "rtx", 90000, None).fmtp("apt=120"),
            Codec::new(123, "rtx", 90000, None).fmtp("apt=121"),
            Codec::new(124, "flexfec", 90000, None),
        ],
    );
    // The RFC's answerer does not take the RID extensions.
    video.header_extensions = vec![HeaderExtension::new(4, MID_URI)];
    b.add_transceiver(video);
    b
}

/// What a section negotiates, as text: codecs with fmtp and feedback, extensions, direction.
fn negotiated_lines(m: &sansrtc_sdp::MediaDescription<'_>) -> Vec<String> {
    let mut out: Vec<String> = m.formats.iter().map(|f| format!("fmt {f}")).collect();
    out.extend(m.rtpmaps().map(|r| format!("rtpmap {r}")));
    out.extend(m.fmtps().map(|f| format!("fmtp {f}")));
    out.extend(m.rtcp_fbs().map(|f| format!("rtcp-fb {f}")));
    out.extend(m.extmaps().map(|e| format!("extmap {e}")));
    out.push(format!("{:?}", m.direction()));
    out
}

/// RFC 9429 section 7.1: the offer is negotiated, and the answer says what the RFC's answer
/// says: the offerer's payload types in its order, the same fmtp (RTX `apt` re-pointed to the
/// offerer's payload types), rtcp-fb and header extensions (ids of the offerer, the RID
/// extensions declined), both sections bundled on one transport with rtcp-mux, and `active`.
/// Textual differences that do not change the negotiation: we write no `a=group:LS`, `ice2`,
/// `tls-id` or `maxptime`, trickle candidates instead of listing them (port 9), and repeat the
/// transport attributes in the bundled section as browsers do. Then the RFC's answer (mids and
/// payload types mapped onto an offer of ours) is applied, its bundled video section taking the
/// tagged section's transport.
#[test]
fn answers_the_rfc9429_section_7_1_offer_as_the_rfc_does() {
    let offer_text = corpus("rfc9429-section7.1-offer.sdp");
    let rfc_answer_text = corpus("rfc9429-section7.1-answer.sdp");
    let offer = SessionDescription::parse(&offer_text).unwrap();
    let rfc_answer = SessionDescription::parse(&rfc_answer_text).unwrap();
    let mut b = rfc9429_answerer(71);
    let (answer, n) = b.create_answer(&offer).unwrap();
    let answer = reparse(&answer);

    assert_eq!(answer.media.len(), 2);
    for (ours, rfc) in answer.media.iter().zip(&rfc_answer.media) {
        assert_eq!(ours.mid(), rfc.mid());
        assert_eq!((&ours.media, &ours.proto), (&rfc.media, &rfc.proto));
        assert_ne!(ours.port, 0);
        assert_eq!(
            negotiated_lines(ours),
            negotiated_lines(rfc),
            "section {:?}",
            ours.mid()
        );
        assert!(ours.rtcp_mux() && ours.rtcp_rsize());
    }
    assert_eq!(
        answer.bundle_group().unwrap().mids().collect::<Vec<_>>(),
        rfc_answer
            .bundle_group()
            .unwrap()
            .mids()
            .collect::<Vec<_>>()
    );
    // The tagged section carries the transport: ICE credentials, fingerprint, `setup:active`.
    let tagged = &answer.media[0];
    assert_eq!(tagged.setup(), rfc_answer.media[0].setup());
    assert_eq!(tagged.setup(), Some(Setup::Active));
    assert_eq!(tagged.ice_ufrag(), Some(b.local_ice().ufrag.as_str()));
    assert_eq!(tagged.fingerprints().next().unwrap().digest(), vec![71; 32]);

    // What the answerer learned from the offer.
    assert_eq!(n.bundle, ["a1", "v1"]);
    assert_eq!(n.dtls_role, DtlsRole::Client);
    let offered_fp = offer.media[0].fingerprints().next().unwrap().digest();
    assert_eq!(
        n.remote_fingerprints,
        [CertificateFingerprint::new(FingerprintHash::Sha256, offered_fp).unwrap()]
    );
    let (audio, video) = (&n.sections[0], &n.sections[1]);
    assert_eq!(audio.remote_ice.as_ref().unwrap().ufrag, "ETEn");
    assert_eq!(
        audio.remote_ice.as_ref().unwrap().pwd,
        "OtSK0WpNtpUjkY4+86js7ZQl"
    );
    assert_eq!(audio.remote_candidates.len(), 2);
    assert_eq!(
        audio.remote_candidates[0].socket_addr(),
        Some("203.0.113.100:10100".parse().unwrap())
    );
    assert_eq!(
        audio.remote_candidates[0].kind,
        sansrtc_sdp::candidate::CandidateKind::Host
    );
    assert_eq!(audio.skipped_candidates, 0);
    assert_eq!(
        audio
            .codecs
            .iter()
            .map(|c| (c.payload_type, c.name.as_str()))
            .collect::<Vec<_>>(),
        [
            (96, "opus"),
            (0, "PCMU"),
            (8, "PCMA"),
            (97, "telephone-event"),
            (98, "telephone-event")
        ]
    );
    assert_eq!(
        audio.header_extensions,
        [
            HeaderExtension::new(1, MID_URI),
            HeaderExtension::new(2, "urn:ietf:params:rtp-hdrext:ssrc-audio-level")
        ]
    );
    assert_eq!(
        video
            .codecs
            .iter()
            .map(|c| (c.payload_type, c.fmtp.as_str(), c.rtx, c.apt()))
            .collect::<Vec<_>>(),
        [
            (100, "", Some(102), None),
            (
                101,
                "packetization-mode=1;profile-level-id=42e01f",
                Some(103),
                None
            ),
            (102, "apt=100", None, Some(100)),
            (103, "apt=101", None, Some(101)),
            (104, "", None, None)
        ]
    );
    assert_eq!(video.header_extensions, [HeaderExtension::new(1, MID_URI)]);
    assert!(
        n.sections
            .iter()
            .all(|s| s.direction == Direction::SendRecv && !s.rejected)
    );

    // The RFC's answer, taken as the answer to an offer of ours with the same sections, is
    // accepted and negotiates the same codecs (the RFC answer's second section carries no
    // transport attributes: it is bundled).
    let mut a = rfc9429_answerer(72);
    let our_offer = reparse(&a.create_offer());
    let rfc_like = rfc_answer_text
        .replace("a=mid:a1", "a=mid:0")
        .replace("a=mid:v1", "a=mid:1")
        .replace("a=group:BUNDLE a1 v1", "a=group:BUNDLE 0 1")
        .replace("a=group:LS a1 v1", "a=group:LS 0 1");
    let rfc_like = SessionDescription::parse(&rfc_like).unwrap();
    // Our offer uses our payload types; map the RFC answer onto them by rewriting its formats.
    let pts: Vec<Vec<String>> = our_offer
        .media
        .iter()
        .map(|m| m.formats.iter().map(|f| f.to_string()).collect())
        .collect();
    assert_eq!(pts[0], ["111", "0", "8", "110", "126"]);
    let mapped = rfc_like.to_sdp_string();
    let mut mapped_text = String::new();
    for line in mapped.split_inclusive("\r\n") {
        let mut l = line.to_string();
        for (rfc_pt, our_pt) in [
            ("96", "111"),
            ("97", "110"),
            ("98", "126"),
            ("100", "120"),
            ("101", "121"),
            ("102", "122"),
            ("103", "123"),
            ("104", "124"),
        ] {
            l = l
                .replace(&format!(":{rfc_pt} "), &format!(":{our_pt} "))
                .replace(&format!(" {rfc_pt}\r"), &format!(" {our_pt}\r"))
                .replace(&format!(" {rfc_pt} "), &format!(" {our_pt} "))
                .replace(&format!("apt={rfc_pt}"), &format!("apt={our_pt}"));
        }
        mapped_text.push_str(&l);
    }
    let rfc_answer_to_ours = SessionDescription::parse(&mapped_text).unwrap();
    let na = a.set_remote_answer(&rfc_answer_to_ours).unwrap();
    assert_eq!(na.dtls_role, DtlsRole::Server);
    assert_eq!(na.bundle, ["0", "1"]);
    assert_eq!(
        na.sections[0]
            .codecs
            .iter()
            .map(|c| c.payload_type)
            .collect::<Vec<_>>(),
        [111, 0, 8, 110, 126]
    );
    assert_eq!(
        na.sections[1]
            .codecs
            .iter()
            .map(|c| c.payload_type)
            .collect::<Vec<_>>(),
        [120, 121, 122, 123, 124]
    );
    assert_eq!(na.sections[0].remote_ice.as_ref().unwrap().ufrag, "6sFv");
    // The bundled section takes the tagged section's transport.
    assert_eq!(
        na.sections[1].remote_ice.as_ref().map(|i| i.ufrag.as_str()),
        Some("6sFv")
    );
}

/// RFC 9429 section 7.2: audio plus a data channel offered `bundle-only` (port 0 inside the
/// BUNDLE group, no transport attributes of its own): the data section is accepted on the
/// bundle's transport, not rejected, with the offered SCTP port and message size.
#[test]
fn answers_the_rfc9429_section_7_2_bundle_only_data_offer() {
    let offer = SessionDescription::parse_owned(&corpus(
        "rfc9429-section7.2-offer-data-and-bundle-only.sdp",
    ))
    .unwrap();
    let mut b = rfc9429_answerer(73);
    b.add_data_channel();
    let (answer, n) = b.create_answer(&offer).unwrap();
    let answer = reparse(&answer);
    assert_eq!(
        answer
            .media
            .iter()
            .map(|m| (m.mid().unwrap().to_string(), m.port != 0))
            .collect::<Vec<_>>(),
        [("a1".to_string(), true), ("d1".to_string(), true)]
    );
    assert_eq!(n.bundle, ["a1", "d1"]);
    assert_eq!(
        answer.bundle_group().unwrap().mids().collect::<Vec<_>>(),
        ["a1", "d1"]
    );
    let data = &n.sections[1];
    assert_eq!(data.kind, SectionKind::Data);
    assert!(!data.rejected);
    assert_eq!(data.remote_sctp_port, Some(5000));
    assert_eq!(data.remote_max_message_size, Some(65536));
    // The data section has no credentials of its own: it uses the tagged (audio) section's.
    assert_eq!(
        data.remote_ice.as_ref().map(|i| i.ufrag.as_str()),
        Some("ATEn")
    );
    let d = &answer.media[1];
    assert_eq!(
        (d.proto.as_str(), d.formats[0].as_str()),
        ("UDP/DTLS/SCTP", "webrtc-datachannel")
    );
    assert_eq!(d.sctp_port(), Some(5000));
    // rtcp-mux-only offered: answered with rtcp-mux.
    assert!(answer.media[0].rtcp_mux());
    assert_eq!(n.sections[0].codecs[0].payload_type, 96);
    assert_eq!(n.dtls_role, DtlsRole::Client);
}

#[test]
fn simulcast_is_accepted_only_with_the_rid_extension() {
    // Without the RID header extension the layers cannot be told apart, and browsers refuse an
    // answer that accepts simulcast without it: answer without simulcast (one layer comes).
    for name in [
        "chromium-simulcast-offer.sdp",
        "firefox-simulcast-offer.sdp",
    ] {
        let text = corpus(name);
        let offer = SessionDescription::parse(&text).unwrap();
        let mut b = session(10);
        b.add_transceiver(Transceiver::new(
            MediaKind::Audio,
            Direction::SendRecv,
            vec![opus(109)],
        ));
        b.add_transceiver(
            Transceiver::new(
                MediaKind::Video,
                Direction::RecvOnly,
                video_codecs(100, 101),
            )
            .with_header_extensions(vec![HeaderExtension::new(1, MID_URI)]),
        );
        let (answer, n) = b.create_answer(&offer).unwrap();
        let answer = reparse(&answer);
        let video = answer
            .media
            .iter()
            .position(|m| m.media == "video")
            .unwrap();
        assert!(answer.media[video].simulcast().is_none(), "{name}");
        assert_eq!(answer.media[video].rids().count(), 0, "{name}");
        assert!(n.sections[video].recv_rids.is_empty(), "{name}");
        assert!(!n.sections[video].rejected, "{name}");
    }
}

/// `offer_text` with its session-level fingerprint replaced by `fingerprints` (each a full
/// attribute value) at the media level, parsed without attribute validation so that a known hash
/// with a digest of the wrong length reaches the JSEP layer.
fn offer_with_fingerprints(fingerprints: &[String]) -> SessionDescription<'static> {
    let fp_line = |v: &String| format!("a=fingerprint:{v}\r\n");
    let own: String = fingerprints.iter().map(fp_line).collect();
    let text = offer_text(&format!("{AUDIO}{own}"));
    let session_fp = format!(
        "a=fingerprint:sha-256 {}\r\n",
        sansrtc_sdp::attributes::Fingerprint::format_digest(&[7; 32])
    );
    let text = text.replacen(&session_fp, "", 1);
    let mut limits = sansrtc_sdp::Limits::default();
    limits.validate_attributes = false;
    SessionDescription::parse_with(&text, &limits)
        .unwrap()
        .into_owned()
}

fn hex(len: usize, byte: u8) -> String {
    sansrtc_sdp::attributes::Fingerprint::format_digest(&vec![byte; len])
}

#[test]
fn offers_without_a_usable_fingerprint_are_refused() {
    let refused = [
        vec![format!("md5 {}", hex(16, 1))],
        vec![format!("foo {}", hex(32, 1))],
        vec![format!("sha-256 {}", hex(31, 1))],
        vec![format!("sha-1 {}", hex(32, 1))],
        vec![format!("sha-256 {}", "zz:".repeat(31) + "zz")],
        vec![format!("md5 {}", hex(16, 1)), format!("foo {}", hex(32, 2))],
    ];
    for fps in refused {
        let mut b = session(2);
        b.add_transceiver(audio(Direction::SendRecv));
        let offer = offer_with_fingerprints(&fps);
        let ice = b.local_ice().clone();
        let result = b.create_answer(&offer);
        assert_eq!(
            result.as_ref().map(|r| &r.1).unwrap_err(),
            &NegotiationError::NoUsableFingerprint(mid("0")),
            "{fps:?}"
        );
        assert_eq!(
            result.unwrap_err().to_string(),
            "mid \"0\" has no fingerprint with a usable hash function and digest length"
        );
        // Nothing changed: no credentials, layout or transceiver.
        assert_eq!(b.local_ice(), &ice);
        assert!(b.mids().is_empty());
        assert_eq!(b.transceivers().len(), 1);
    }

    // A remote track's transceiver is not created for a refused offer, even when the refusal
    // comes from a later section; nor are ICE credentials renewed by a refused restart.
    let mut a = session(1);
    a.add_transceiver(audio(Direction::SendRecv));
    let mut b = session(2);
    let (answer, _) = b.create_answer(&reparse(&a.create_offer())).unwrap();
    a.set_remote_answer(&reparse(&answer)).unwrap();
    a.restart_ice();
    a.add_transceiver(video(Direction::SendRecv));
    let offer = a.create_offer().to_sdp_string();
    // Only the new video section (the second) gets an md5 fingerprint.
    let good = format!("a=fingerprint:sha-256 {}\r\n", hex(32, 1));
    let second = offer.match_indices(&good).nth(1).unwrap().0;
    let bad = format!(
        "{}a=fingerprint:md5 {}\r\n{}",
        &offer[..second],
        hex(16, 1),
        &offer[second + good.len()..]
    );
    let (ice, mids) = (b.local_ice().clone(), b.mids().join(","));
    let err = b
        .create_answer(&SessionDescription::parse(&bad).unwrap())
        .unwrap_err();
    assert_eq!(err, NegotiationError::NoUsableFingerprint(mid("1")));
    assert_eq!(b.local_ice(), &ice);
    assert_eq!(b.mids().join(","), mids);
    assert_eq!(b.transceivers().len(), 1);
    let (_, n) = b
        .create_answer(&SessionDescription::parse(&offer).unwrap())
        .unwrap();
    assert!(n.ice_restart);
}

#[test]
fn a_media_level_fingerprint_overrides_the_session_level() {
    // RFC 8122 section 5: media-level fingerprints replace the session-level ones, so an md5-only
    // section is refused even though the session level has a good sha-256.
    let text = offer_text(&format!("{AUDIO}a=fingerprint:md5 {}\r\n", hex(16, 1)));
    let mut b = session(2);
    b.add_transceiver(audio(Direction::SendRecv));
    assert_eq!(
        b.create_answer(&SessionDescription::parse(&text).unwrap())
            .unwrap_err(),
        NegotiationError::NoUsableFingerprint(mid("0"))
    );
    // Inherited from the session level when the section has none.
    let (_, n) = b
        .create_answer(&SessionDescription::parse(&offer_text(AUDIO)).unwrap())
        .unwrap();
    assert_eq!(n.remote_fingerprints[0].digest(), [7; 32]);
}

#[test]
fn only_usable_fingerprints_are_kept() {
    let mut b = session(2);
    b.add_transceiver(audio(Direction::SendRecv));
    let offer = offer_with_fingerprints(&[
        format!("md5 {}", hex(16, 1)),
        format!("SHA-256 {}", hex(32, 9)),
        format!("foo {}", hex(32, 3)),
    ]);
    let (_, n) = b.create_answer(&offer).unwrap();
    assert_eq!(
        n.remote_fingerprints,
        [CertificateFingerprint::new(FingerprintHash::Sha256, vec![9; 32]).unwrap()]
    );
    assert_eq!(
        n.remote_fingerprints[0].to_string(),
        format!("sha-256 {}", hex(32, 9))
    );
}

#[test]
fn answers_without_a_usable_fingerprint_are_refused() {
    for bad in [format!("md5 {}", hex(16, 1)), format!("foo {}", hex(32, 1))] {
        let mut a = session(1);
        a.add_transceiver(audio(Direction::SendRecv));
        let offer = a.create_offer();
        let mut b = session(2);
        let (answer, _) = b.create_answer(&reparse(&offer)).unwrap();
        let good = format!("a=fingerprint:sha-256 {}\r\n", hex(32, 2));
        let text = answer.to_sdp_string();
        assert!(text.contains(&good));
        let text = text.replace(&good, &format!("a=fingerprint:{bad}\r\n"));
        let answer = SessionDescription::parse(&text).unwrap();
        assert_eq!(
            a.set_remote_answer(&answer),
            Err(NegotiationError::NoUsableFingerprint(mid("0"))),
            "{bad}"
        );
        assert!(a.has_pending_offer(), "the offer is still pending");
    }
}

#[test]
fn a_remote_mid_of_u32_max_does_not_overflow_our_mids() {
    // The answerer never hands out a mid the remote chose, counting up from the largest numeric
    // one: from u32::MAX it must not overflow.
    let text = offer_text(AUDIO).replace("a=mid:0", "a=mid:4294967295");
    let text = text.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 4294967295");
    let mut b = session(2);
    b.add_transceiver(audio(Direction::SendRecv));
    b.create_answer(&SessionDescription::parse(&text).unwrap())
        .unwrap();
    b.add_transceiver(video(Direction::SendRecv));
    b.add_data_channel();
    let offer = reparse(&b.create_offer());
    let mids: Vec<&str> = offer.media.iter().map(|m| m.mid().unwrap()).collect();
    assert_eq!(mids[0], "4294967295");
    assert_eq!(mids.len(), 3);
    let unique: std::collections::HashSet<&&str> = mids.iter().collect();
    assert_eq!(unique.len(), 3, "{mids:?}");
}

#[test]
fn remote_mids_must_be_tokens_of_at_most_16_bytes() {
    // 16 bytes: accepted, and the negotiated section, the BUNDLE group and our transceiver name it.
    let long = "abcdefghijklmnop";
    let text = offer_text(AUDIO)
        .replace("a=mid:0", &format!("a=mid:{long}"))
        .replace("a=group:BUNDLE 0 1", &format!("a=group:BUNDLE {long}"));
    let mut b = session(2);
    let id = b.add_transceiver(audio(Direction::SendRecv));
    let (answer, n) = b
        .create_answer(&SessionDescription::parse(&text).unwrap())
        .unwrap();
    assert_eq!(n.sections[0].mid, long);
    assert_eq!(n.bundle, [long]);
    assert_eq!(b.transceiver_mid(id), Some(mid(long)));
    assert_eq!(b.mids(), [long]);
    assert_eq!(reparse(&answer).media[0].mid(), Some(long));

    // 17 bytes, or not a token: refused, naming the section, and nothing changes.
    for (bad, reason) in [
        ("abcdefghijklmnopq", MidError::TooLong { len: 17 }),
        ("a:b", MidError::NotToken),
        ("x\u{e9}", MidError::NotToken),
    ] {
        let text = format!(
            "{}{}",
            offer_text(AUDIO),
            AUDIO.replace("a=mid:0", &format!("a=mid:{bad}"))
        );
        let mut b = session(2);
        b.add_transceiver(audio(Direction::SendRecv));
        let ice = b.local_ice().clone();
        let err = b
            .create_answer(&SessionDescription::parse(&text).unwrap())
            .unwrap_err();
        assert_eq!(err, NegotiationError::InvalidMid { index: 1, reason });
        assert!(err.to_string().starts_with("m-section 1: "), "{err}");
        assert!(b.mids().is_empty());
        assert_eq!(b.transceivers().len(), 1);
        assert_eq!(b.local_ice(), &ice);
    }
    assert_eq!(
        NegotiationError::InvalidMid {
            index: 0,
            reason: MidError::TooLong { len: 17 }
        }
        .to_string(),
        "m-section 0: mid of 17 bytes, longer than 16"
    );

    // The same in an answer: refused, the offer stays pending.
    let mut a = session(1);
    a.add_transceiver(audio(Direction::SendRecv));
    let offer = a.create_offer();
    let mut b = session(2);
    b.add_transceiver(audio(Direction::SendRecv));
    let (answer, _) = b.create_answer(&reparse(&offer)).unwrap();
    let text = answer.to_sdp_string();
    let bad = text.replace("a=mid:0", "a=mid:0123456789abcdefg");
    assert_eq!(
        a.set_remote_answer(&SessionDescription::parse(&bad).unwrap()),
        Err(NegotiationError::InvalidMid {
            index: 0,
            reason: MidError::TooLong { len: 17 }
        })
    );
    assert!(a.has_pending_offer());
    assert!(
        a.set_remote_answer(&SessionDescription::parse(&text).unwrap())
            .is_ok()
    );
}

#[test]
fn transceiver_ids_and_mids() {
    let mut a = session(1);
    let audio_id = a.add_transceiver(audio(Direction::SendRecv));
    let video_id = a.add_transceiver(video(Direction::SendRecv));
    assert_ne!(audio_id, video_id);
    assert_eq!(
        a.transceivers()
            .map(|(id, t)| (id, t.kind))
            .collect::<Vec<_>>(),
        [(audio_id, MediaKind::Audio), (video_id, MediaKind::Video)]
    );
    assert_eq!(a.transceiver_mid(audio_id), None, "not negotiated yet");
    let mut b = session(2);
    let (answer, nb) = b.create_answer(&reparse(&a.create_offer())).unwrap();
    // Offered: the pending offer already says which mid each transceiver has.
    let offered = a.transceiver_mid(audio_id).expect("bound by the offer");
    let na = a.set_remote_answer(&reparse(&answer)).unwrap();
    assert_eq!(a.transceiver_mid(audio_id), Some(na.sections[0].mid));
    assert_eq!(Some(offered), a.transceiver_mid(audio_id));
    assert_eq!(a.transceiver_mid(video_id), Some(na.sections[1].mid));
    assert_eq!(na.sections[1].transceiver, Some(video_id));
    // b made a receive-only transceiver for each remote track.
    let made: Vec<_> = b.transceivers().map(|(id, _)| id).collect();
    assert_eq!(made.len(), 2);
    assert_eq!(nb.sections[0].transceiver, Some(made[0]));
    assert_eq!(b.transceiver_mid(made[1]), Some(mid("1")));
}

/// Every codec of `codecs` repaired by RTX names it, and every RTX codec names what it repairs.
fn assert_rtx_paired(codecs: &[Codec], context: &str) {
    for c in codecs {
        if c.is_rtx() {
            assert_eq!(c.name, CodecName::Rtx);
            assert_eq!(c.rtx, None, "{context}");
            let apt = c
                .apt()
                .unwrap_or_else(|| panic!("{context}: rtx without apt"));
            let repaired = codecs.iter().find(|m| m.payload_type == apt).unwrap();
            assert_eq!(repaired.rtx, Some(c.payload_type), "{context}: {apt}");
        } else {
            assert_eq!(c.apt(), None);
            if let Some(rtx) = c.rtx {
                let r = codecs.iter().find(|r| r.payload_type == rtx).unwrap();
                assert_eq!(r.apt(), Some(c.payload_type), "{context}");
            }
        }
    }
}

#[test]
fn negotiated_codecs_are_typed_and_rtx_is_paired() {
    // Answering the real browser offers: VP8 and H.264 constrained baseline, each with RTX.
    let local = || {
        vec![
            Codec::vp8(96).feedback(Feedback::with("nack", "pli")),
            Codec::rtx(97, 96),
            Codec::h264(102)
                .level_asymmetry_allowed(true)
                .packetization_mode(1)
                .profile_level_id(ProfileLevelId::CONSTRAINED_BASELINE_3_1),
            Codec::rtx(103, 102),
        ]
    };
    for name in ["chromium-av-offer.sdp", "firefox-av-offer.sdp"] {
        let text = corpus(name);
        let offer = SessionDescription::parse(&text).unwrap();
        let mut b = session(3);
        b.add_transceiver(Transceiver::new(
            MediaKind::Audio,
            Direction::SendRecv,
            vec![Codec::opus(111).minptime(10).useinbandfec(true)],
        ));
        b.add_transceiver(Transceiver::new(
            MediaKind::Video,
            Direction::SendRecv,
            local(),
        ));
        let (_, n) = b.create_answer(&offer).unwrap();
        let audio = &n.sections[0].codecs;
        assert_eq!(audio[0].name, CodecName::Opus, "{name}");
        assert_eq!(audio[0].fmtp.useinbandfec(), Some(true), "{name}");
        let video = &n.sections[1].codecs;
        let names: Vec<&CodecName> = video.iter().map(|c| &c.name).collect();
        // This Firefox build offers no H.264.
        let expected: &[&CodecName] = if name.starts_with("chromium") {
            &[
                &CodecName::Vp8,
                &CodecName::Rtx,
                &CodecName::H264,
                &CodecName::Rtx,
            ]
        } else {
            &[&CodecName::Vp8, &CodecName::Rtx]
        };
        assert_eq!(names, expected, "{name}");
        assert!(video[0].rtx.is_some(), "{name}");
        if let Some(h264) = video.get(2) {
            assert_eq!(h264.fmtp.packetization_mode(), Some(1), "{name}");
            assert_eq!(
                h264.fmtp
                    .profile_level_id()
                    .map(|p| (p.profile_idc, p.profile_iop)),
                Some((0x42, 0xe0)),
                "{name}"
            );
            assert!(h264.rtx.is_some(), "{name}");
        }
        assert_rtx_paired(video, name);
        // The receive-only transceivers made for remote tracks pair their codecs too.
        let mut c = session(4);
        let (_, n) = c.create_answer(&offer).unwrap();
        for (_, t) in c.transceivers() {
            assert_rtx_paired(&t.codecs, name);
        }
        assert!(n.sections[1].codecs.iter().any(|c| c.rtx.is_some()));
    }

    // On the offerer's side, from the answer.
    let mut a = session(1);
    a.add_transceiver(Transceiver::new(
        MediaKind::Video,
        Direction::SendRecv,
        local(),
    ));
    let mut b = session(2);
    b.add_transceiver(Transceiver::new(
        MediaKind::Video,
        Direction::SendRecv,
        vec![
            Codec::h264(120)
                .packetization_mode(1)
                .profile_level_id(ProfileLevelId::new(0x42, 0xe0, 0x34)),
            Codec::rtx(121, 120),
        ],
    ));
    let (answer, nb) = b.create_answer(&reparse(&a.create_offer())).unwrap();
    let na = a.set_remote_answer(&reparse(&answer)).unwrap();
    for n in [&na, &nb] {
        let codecs = &n.sections[0].codecs;
        assert_eq!(
            codecs
                .iter()
                .map(|c| (c.payload_type, c.rtx, c.apt()))
                .collect::<Vec<_>>(),
            [(102, Some(103), None), (103, None, Some(102))]
        );
    }
}

#[test]
fn codec_names_ignore_case_and_parameters_are_written_back_unchanged() {
    let media = "m=video 9 UDP/TLS/RTP/SAVPF 96 97 100\r\na=mid:0\r\na=setup:actpass\r\na=rtcp-mux\r\n\
        a=rtpmap:96 vp8/90000\r\na=rtpmap:97 RTX/90000\r\na=fmtp:97 APT=96\r\n\
        a=rtpmap:100 h264/90000\r\n\
        a=fmtp:100 x-google-max-bitrate=2000; packetization-mode=1;profile-level-id=42E01F;foo\r\n";
    let text = offer_text(media);
    let offer = SessionDescription::parse(&text).unwrap();
    let mut b = session(2);
    b.add_transceiver(Transceiver::new(
        MediaKind::Video,
        Direction::RecvOnly,
        vec![
            Codec::vp8(96),
            Codec::rtx(97, 96),
            // No parameters of its own: the offer's are answered.
            Codec::h264(100).fmtp(""),
        ],
    ));
    let (answer, n) = b.create_answer(&offer).unwrap();
    let m = &reparse(&answer).media[0];
    assert_eq!(m.formats, ["96", "97"], "mode 1 is not mode 0 (absent)");
    // Known names are written with their registered spelling.
    assert_eq!(m.rtpmap(96).unwrap().encoding, "VP8");
    assert_eq!(m.rtpmap(97).unwrap().encoding, "rtx");
    assert_eq!(m.fmtp(97).unwrap().parameters, "APT=96");
    let codecs = &n.sections[0].codecs;
    assert_eq!((codecs[0].rtx, codecs[1].apt()), (Some(97), Some(96)));

    let mut b = session(2);
    b.add_transceiver(Transceiver::new(
        MediaKind::Video,
        Direction::RecvOnly,
        vec![
            Codec::h264(100)
                .packetization_mode(1)
                .profile_level_id(ProfileLevelId::CONSTRAINED_BASELINE_3_1),
        ],
    ));
    let (answer, n) = b.create_answer(&offer).unwrap();
    // Our own parameters, when we have some, else the offer's, unchanged.
    assert_eq!(
        reparse(&answer).media[0].fmtp(100).unwrap().parameters,
        "packetization-mode=1;profile-level-id=42e01f"
    );
    let mut b = session(2);
    b.add_transceiver(Transceiver::new(
        MediaKind::Video,
        Direction::RecvOnly,
        vec![Codec::new(100, "H264", 90000, None)],
    ));
    assert!(
        b.create_answer(&offer).unwrap().1.sections[0]
            .codecs
            .is_empty()
    );
    let (answer, n2) = session(5).create_answer(&offer).unwrap();
    let written = reparse(&answer).media[0]
        .fmtp(100)
        .unwrap()
        .parameters
        .to_string();
    assert_eq!(
        written,
        "x-google-max-bitrate=2000; packetization-mode=1;profile-level-id=42E01F;foo"
    );
    let h264 = &n2.sections[0].codecs[2];
    assert_eq!(h264.fmtp.get("x-google-max-bitrate"), Some("2000"));
    assert_eq!(
        h264.fmtp.profile_level_id(),
        Some(ProfileLevelId::CONSTRAINED_BASELINE_3_1)
    );
    assert_eq!(
        n.sections[0].codecs[0].fmtp.as_str(),
        "packetization-mode=1;profile-level-id=42e01f"
    );
}

/// Chromium's simulcast offer turned around: it asks to receive `recv_list`
/// (`a=simulcast:recv`), its `a=rid` lines made `recv` (h's with `h_restrictions` after).
fn simulcast_recv_offer(recv_list: &str, h_restrictions: &str) -> String {
    corpus("chromium-simulcast-offer.sdp")
        .replace("a=rid:q send", "a=rid:q recv")
        .replace("a=rid:h send", &format!("a=rid:h recv{h_restrictions}"))
        .replace("a=rid:f send", "a=rid:f recv")
        .replace(
            "a=simulcast:send q;h;f",
            &format!("a=simulcast:recv {recv_list}"),
        )
        .replacen("a=sendrecv", "a=recvonly", 2)
}

/// A session with audio and a send-only video transceiver sending `encodings`, with the mid
/// extension and, when `rid`, the RID extension.
fn simulcast_sender(seed: u8, encodings: Vec<SendEncoding>, rid: bool) -> JsepSession {
    let mut b = session(seed);
    b.add_transceiver(Transceiver::new(
        MediaKind::Audio,
        Direction::SendRecv,
        vec![opus(109)],
    ));
    let mut extensions = vec![HeaderExtension::new(1, MID_URI)];
    if rid {
        extensions.push(HeaderExtension::new(10, RID_URI));
    }
    let mut video = Transceiver::new(
        MediaKind::Video,
        Direction::SendOnly,
        video_codecs(100, 101),
    )
    .with_header_extensions(extensions);
    video.send_encodings = encodings;
    b.add_transceiver(video);
    b
}

#[test]
fn an_offer_pausing_and_restricting_layers_it_receives_is_answered_so() {
    // The offerer asks to receive q paused (`~q`) and h at most 15 fps and 500 kbit/s; our h
    // is held to 800 kbit/s and 640x360: the answer sends `~q;h`, h within both.
    let text = simulcast_recv_offer("~q;h", " max-fps=15;max-br=500000;max-foo=1");
    let offer = SessionDescription::parse(&text).unwrap();
    let mut b = simulcast_sender(
        13,
        vec![
            SendEncoding::new("q"),
            SendEncoding::new("h")
                .max_bitrate(800_000)
                .max_resolution(640, 360),
        ],
        true,
    );
    let (answer, n) = b.create_answer(&offer).unwrap();
    let v = n
        .sections
        .iter()
        .position(|s| !s.send_encodings.is_empty())
        .unwrap();
    assert_eq!(
        n.sections[v].send_encodings,
        [
            SendEncoding::new("q").paused(true),
            SendEncoding::new("h")
                .max_bitrate(500_000)
                .max_resolution(640, 360)
                .max_fps(15)
        ]
    );
    let answer = reparse(&answer);
    let m = &answer.media[v];
    assert_eq!(m.simulcast().unwrap().send, Some("~q;h"));
    let restrictions: Vec<_> = m.rids().map(|r| (r.id, r.restrictions)).collect();
    assert_eq!(
        restrictions,
        [
            ("q", None),
            (
                "h",
                Some("max-width=640;max-height=360;max-fps=15;max-br=500000")
            )
        ]
    );
}

#[test]
fn an_offer_to_receive_simulcast_is_answered_with_the_layers_we_send() {
    // Chromium's simulcast offer turned around: the offerer asks to receive q, h and f. Our
    // sender has q, h and x: the answer sends q and h (the offer's order); x, which the
    // offerer did not ask for, and f, which we do not have, are not sent.
    let text = simulcast_recv_offer("q;h;f", "");
    let offer = SessionDescription::parse(&text).unwrap();
    let mut b = simulcast_sender(11, ["x", "h", "q"].map(SendEncoding::new).to_vec(), true);
    let (answer, n) = b.create_answer(&offer).unwrap();
    let answer = reparse(&answer);
    let v = answer
        .media
        .iter()
        .position(|m| m.media == "video")
        .unwrap();
    let m = &answer.media[v];
    let sim = m.simulcast().expect("a=simulcast in the answer");
    assert_eq!(sim.send, Some("q;h"));
    assert_eq!(sim.recv, None);
    let rids: Vec<_> = m.rids().map(|r| (r.id, r.direction)).collect();
    assert_eq!(
        rids,
        [
            ("q", sansrtc_sdp::attributes::RidDirection::Send),
            ("h", sansrtc_sdp::attributes::RidDirection::Send)
        ]
    );
    assert_eq!(
        n.sections[v].send_encodings,
        ["q", "h"].map(SendEncoding::new)
    );
    assert!(n.sections[v].recv_rids.is_empty());
    // Without the RID extension: one stream, no simulcast.
    let mut b = simulcast_sender(12, vec![SendEncoding::new("q")], false);
    let (answer, n) = b.create_answer(&offer).unwrap();
    let answer = reparse(&answer);
    assert!(answer.media[v].simulcast().is_none());
    assert!(n.sections[v].send_encodings.is_empty());
}
