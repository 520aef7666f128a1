//! `GET /stats`: counters as JSON. Nothing secret goes in: no session id (the capability to
//! delete a session), no ICE ufrag (what a spoofed check would have to name).

use crate::session::Session;

/// One session's counters as a JSON object; `reason` is why an ended session was forgotten.
pub(crate) fn session_json(s: &Session, routes: usize, reason: Option<&str>) -> String {
    let st = s.pc.stats();
    let report = s.pc.stats_report();
    let inbound = &report.inbound_rtp;
    let dtls = s.pc.dtls_stats().unwrap_or_default();
    let ice = s.pc.ice_stats().unwrap_or_default();
    let bandwidth = s.pc.bandwidth_estimate();
    format!(
        concat!(
            r#"{{"session":{},"state":"{:?}","srtp":"{}","#,
            r#""datagrams_received":{},"datagrams_sent":{},"bytes_received":{},"bytes_sent":{},"#,
            r#""dropped_unknown":{},"dropped_unvalidated":{},"dropped_no_consent":{},"#,
            r#""dropped_stun":{},"dropped_dtls":{},"dropped_srtp":{},"#,
            r#""rtp_received":{},"rtp_sent":{},"rtcp_received":{},"rtcp_sent":{},"#,
            r#""dtls_bad_mac":{},"dtls_malformed":{},"dtls_replayed":{},"dtls_dropped":{},"#,
            r#""dtls_key_updates_sent":{},"dtls_key_updates_received":{},"#,
            r#""dtls_session_tickets_ignored":{},"key_updates_asked":{},"key_updates_refused":{},"#,
            r#""ice_auth_failures":{},"ice_ignored":{},"keyframe_requests_forwarded":{},"#,
            r#""retransmissions_sent":{},"retransmissions_limited":{},"rtx_discarded":{},"#,
            r#""lost_on_purpose":{},"incoming_lost_on_purpose":{},"nacks_sent":{},"#,
            r#""retransmitted_packets_received":{},"#,
            r#""layers":{{{}}},"echo_errors":{},"channels":[{}],"sctp":"{}","sctp_zero_checksum":{},"#,
            r#""dtls_version":{},"dtls_group":{},"#,
            r#""frames_repacketized":{},"packets_repacketized":{},"echo_backlog":{},"routes":{},"#,
            r#""bandwidth_estimate":{},"bandwidth_acknowledged":{},"bandwidth_reason":"{}","#,
            r#""selected_remote":"{}","selected_transport":"{}"{}}}"#
        ),
        s.seq,
        s.pc.state(),
        s.pc.srtp_profile()
            .map(|p| format!("{p:?}"))
            .unwrap_or_default(),
        st.datagrams_received,
        st.datagrams_sent,
        st.bytes_received,
        st.bytes_sent,
        st.dropped_unknown,
        st.dropped_unvalidated,
        st.dropped_no_consent,
        st.dropped_stun,
        st.dropped_dtls,
        st.dropped_srtp,
        st.rtp_received,
        st.rtp_sent,
        st.rtcp_received,
        st.rtcp_sent,
        dtls.bad_mac,
        dtls.malformed,
        dtls.replayed,
        dtls.dropped,
        dtls.key_updates_sent,
        dtls.key_updates_received,
        dtls.session_tickets_ignored,
        s.key_updates.asked,
        s.key_updates.refused,
        ice.auth_failures,
        ice.ignored,
        s.media.keyframe_requests,
        st.retransmissions_sent,
        st.retransmissions_limited,
        st.rtx_discarded,
        s.media.lost,
        s.media.lost_incoming,
        inbound.iter().map(|i| i.nacks_sent).sum::<u64>(),
        inbound
            .iter()
            .map(|i| i.retransmitted_packets_received)
            .sum::<u64>(),
        s.media
            .layers
            .iter()
            .map(|(rid, n)| format!(r#""{}":{n}"#, rid.escape_default()))
            .collect::<Vec<_>>()
            .join(","),
        s.media.echo_errors,
        report
            .data_channels
            .iter()
            .map(|c| format!(
                r#"{{"id":{},"open":{},"received":{},"sent":{},"buffered":{}}}"#,
                c.stream_id.map_or(-1, i64::from),
                c.state == sansrtc::ChannelState::Open,
                c.messages_received,
                c.messages_sent,
                c.buffered_amount
            ))
            .collect::<Vec<_>>()
            .join(","),
        format!("{:?}", report.transport.sctp).escape_default(),
        report.transport.sctp_zero_checksum,
        report
            .transport
            .dtls_version
            .map_or("null".to_owned(), |v| v.to_string()),
        report
            .transport
            .dtls_group
            .map_or("null".to_owned(), |g| g.to_string()),
        s.media.frames_repacketized,
        s.media.packets_repacketized,
        s.backlog_bytes,
        routes,
        bandwidth.map_or("null".to_owned(), |b| b.target_bitrate.to_string()),
        bandwidth
            .and_then(|b| b.acknowledged_bitrate)
            .map_or("null".to_owned(), |a| a.to_string()),
        bandwidth.map_or(String::new(), |b| format!("{:?}", b.reason)),
        s.pc.selected_path()
            .map(|(_, remote)| remote.to_string())
            .unwrap_or_default(),
        s.pc.selected_transport().map_or("", |t| t.as_str()),
        reason
            .map(|r| format!(r#","reason":"{}""#, r.escape_default()))
            .unwrap_or_default(),
    )
}
