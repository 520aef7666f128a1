//! The statistics report (transport, candidate pairs, RTP streams, data channels).

use super::*;

impl PeerConnection {
    /// A snapshot of every statistic: transport, candidate pairs, RTP streams, data channels.
    pub fn stats_report(&self) -> StatsReport {
        let selected = self.path;
        let candidate_pairs = self
            .agent
            .as_ref()
            .map(|a| {
                a.checklist()
                    .pairs()
                    .iter()
                    .map(|p| {
                        let c = self.paths.iter().find(|c| {
                            c.transport == p.transport && c.local == p.local && c.remote == p.remote
                        });
                        CandidatePairStats {
                            local: p.local,
                            remote: p.remote,
                            transport: p.transport,
                            state: p.state,
                            nominated: p.nominated,
                            selected: selected == Some((p.local, p.remote))
                                && self.path_transport == p.transport,
                            round_trip_time: a.round_trip_time(p.local, p.remote),
                            packets_sent: c.map_or(0, |c| c.packets_sent),
                            bytes_sent: c.map_or(0, |c| c.bytes_sent),
                            packets_received: c.map_or(0, |c| c.packets_received),
                            bytes_received: c.map_or(0, |c| c.bytes_received),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let data_channels = self
            .channels
            .iter()
            .map(|(id, c)| DataChannelStats {
                id,
                stream_id: c.stream,
                label: c.label.clone(),
                protocol: c.protocol.clone(),
                state: c.state,
                messages_sent: c.messages_sent,
                bytes_sent: c.bytes_sent,
                messages_received: c.messages_received,
                bytes_received: c.bytes_received,
                buffered_amount: match (&self.sctp, c.stream, c.state) {
                    (Some(s), Some(stream), ChannelState::Connecting | ChannelState::Open) => {
                        s.buffered_amount(stream)
                    }
                    _ => 0,
                },
            })
            .collect();
        StatsReport {
            transport: TransportStats {
                state: self.state,
                ice_state: self.ice_state,
                dtls_state: self.dtls_state,
                counters: self.stats,
                selected_pair: selected,
                dtls_cipher_suite: self.dtls.as_ref().and_then(|d| d.cipher_suite()),
                dtls_version: self
                    .dtls
                    .as_ref()
                    .filter(|d| d.is_connected() || d.is_closed())
                    .map(|d| d.protocol_version()),
                dtls_group: self.dtls.as_ref().and_then(|d| d.named_group()),
                srtp_profile: self.srtp_profile(),
                ice: self.agent.as_ref().map(|a| a.stats()).unwrap_or_default(),
                dtls: self.dtls_stats(),
                sctp_round_trip_time: self
                    .sctp
                    .as_ref()
                    .and_then(|s| s.association().smoothed_rtt()),
                sctp: self
                    .sctp
                    .as_ref()
                    .map(|s| (s.association().state(), s.association().stats())),
                sctp_zero_checksum: self
                    .sctp
                    .as_ref()
                    .is_some_and(|s| s.association().zero_checksum()),
            },
            candidate_pairs,
            inbound_rtp: self.media.inbound_stats(),
            outbound_rtp: self.media.outbound_stats(),
            data_channels,
        }
    }
}
