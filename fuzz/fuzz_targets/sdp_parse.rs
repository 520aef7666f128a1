//! Random bytes into the SDP parser: every typed accessor, then write and re-parse, which must give
//! the same model; the owned parse must agree with the borrowed one. The typed values JSEP reads
//! (`Mid`, `FormatParameters`) are built from every `a=mid` and `a=fmtp`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sansrtc_sdp::jsep::FormatParameters;
use sansrtc_sdp::{AttributeList, Mid, SessionDescription};

fn touch(list: &impl AttributeList) {
    let _ = (
        list.mid(),
        list.groups().count(),
        list.msid_semantic(),
        list.msids().count(),
    );
    let _ = (
        list.ice_ufrag(),
        list.ice_pwd(),
        list.ice_options().count(),
        list.ice_lite(),
    );
    let _ = list.fingerprints().map(|f| f.digest().len()).sum::<usize>();
    let _ = (
        list.setup(),
        list.candidates().count(),
        list.end_of_candidates(),
        list.rtcp(),
    );
    let _ = (
        list.rtcp_mux(),
        list.rtcp_mux_only(),
        list.rtcp_rsize(),
        list.extmaps().count(),
    );
    let _ = (
        list.rtpmaps().count(),
        list.fmtps().map(|f| f.parameters().count()).sum::<usize>(),
    );
    for f in list.fmtps() {
        let p = FormatParameters::parse(f.parameters);
        assert_eq!(p.as_str(), f.parameters, "written back unchanged");
        assert_eq!(p.apt(), f.get("apt").and_then(|v| v.parse().ok()));
        let _ = (p.packetization_mode(), p.profile_level_id(), p.minptime());
    }
    if let Some(Ok(mid)) = list.mid().map(Mid::new) {
        assert_eq!(Some(mid.as_str()), list.mid());
    }
    let _ = (
        list.rtcp_fbs().count(),
        list.ssrcs().count(),
        list.ssrc_groups().map(|g| g.ssrcs().count()).sum::<usize>(),
    );
    let _ = list
        .rids()
        .map(|r| r.payload_types().count())
        .sum::<usize>();
    let _ = list
        .simulcast()
        .map(|s| (s.send_streams().len(), s.recv_streams().len()));
    let _ = (
        list.sctp_port(),
        list.max_message_size(),
        list.sctpmap(),
        list.direction(),
    );
    let _ = (
        list.bundle_only(),
        list.framerate(),
        list.ptime(),
        list.maxptime(),
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(session) = SessionDescription::parse_bytes(data) else {
        // The owned parse refuses what the borrowed one refuses, with the same error.
        if let Ok(text) = std::str::from_utf8(data) {
            assert_eq!(
                SessionDescription::parse_owned(text).err(),
                SessionDescription::parse(text).err()
            );
        }
        return;
    };
    // The owned parse (one shared copy of the input) gives the same model.
    let text = std::str::from_utf8(data).expect("parsed, so UTF-8");
    assert_eq!(
        SessionDescription::parse_owned(text).expect("owned parse accepts it too"),
        session
    );
    touch(&session);
    for media in &session.media {
        touch(media);
    }
    let written = session.to_sdp_string();
    let again = SessionDescription::parse(&written).expect("written description parses");
    assert_eq!(again, session);
});
