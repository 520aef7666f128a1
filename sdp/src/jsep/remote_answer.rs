//! Applying the remote answer to our offer.

use std::collections::HashSet;

use crate::attributes::{AttributeList, Direction, Setup};
use crate::model::SessionDescription;

use super::error::NegotiationError;
use super::limits::check_limits;
use super::matching::read_codecs;
use super::negotiated::{DtlsRole, Negotiated, NegotiatedSection};
use super::remote::{Remote, answered_send_layers, remote_ssrcs, setup_name};
use super::transceiver::{HeaderExtension, TransceiverId};
use super::{JsepSession, SectionKind};

impl JsepSession {
    /// Applies the remote answer to the pending local offer. An answer that cannot be accepted
    /// changes nothing (the offer stays pending).
    pub fn set_remote_answer(
        &mut self,
        answer: &SessionDescription<'_>,
    ) -> Result<Negotiated, NegotiationError> {
        let pending = self
            .pending
            .as_ref()
            .ok_or(NegotiationError::NoPendingOffer)?;
        if pending.sections.len() != answer.media.len() {
            return Err(NegotiationError::SectionCount {
                offered: pending.sections.len(),
                answered: answer.media.len(),
            });
        }
        check_limits(answer)?;
        let remote = Remote::new(answer)?;
        // Exact capacity: the result is kept for the connection's lifetime.
        let mut out = Vec::with_capacity(answer.media.len());
        let mut fingerprints = Vec::new();
        let mut role = None;
        let mut sections = pending.sections.clone();
        for (index, (s, m)) in sections.iter_mut().zip(&answer.media).enumerate() {
            let found = remote.mids[index].ok_or(NegotiationError::MissingMid { index })?;
            if found != s.mid {
                return Err(NegotiationError::MidMismatch {
                    index,
                    expected: s.mid,
                    found,
                });
            }
            let offered_rejected = s.rejected || self.section_stopped(s);
            let rejected = offered_rejected || m.port == 0 && !m.bundle_only();
            s.rejected = rejected;
            let mut n = NegotiatedSection::new(
                s.mid,
                s.kind,
                rejected,
                s.transceiver.map(TransceiverId::new),
            );
            if rejected {
                out.push(n);
                continue;
            }
            let transport = remote.transport(index, s.mid)?;
            n.remote_ice = Some(transport.ice);
            (n.remote_candidates, n.skipped_candidates) =
                crate::candidate::udp_candidates(m.values("candidate"));
            (n.remote_ssrcs, n.remote_rtx_ssrcs) = remote_ssrcs(m);
            if fingerprints.is_empty() {
                fingerprints = transport.fingerprints;
            }
            let this_role = match transport.setup {
                Some(Setup::Active) => DtlsRole::Server,
                Some(Setup::Passive) => DtlsRole::Client,
                other => {
                    return Err(NegotiationError::BadSetup {
                        mid: s.mid,
                        setup: setup_name(other),
                        context: "answer",
                    });
                }
            };
            role.get_or_insert(this_role);
            match s.kind {
                SectionKind::Media(_) => {
                    let t = &self.transceivers
                        [s.transceiver.expect("media sections have a transceiver")];
                    if !transport.rtcp_mux {
                        return Err(NegotiationError::RtcpMuxRequired(s.mid));
                    }
                    let answered = read_codecs(m);
                    let mut offered_pt = [false; 256];
                    for c in &t.codecs {
                        offered_pt[usize::from(c.payload_type)] = true;
                    }
                    if let Some(c) = answered
                        .iter()
                        .find(|c| !offered_pt[usize::from(c.payload_type)])
                    {
                        return Err(NegotiationError::UnknownPayloadType {
                            mid: s.mid,
                            payload_type: c.payload_type,
                        });
                    }
                    if answered.is_empty() {
                        return Err(NegotiationError::NoCodec(s.mid));
                    }
                    n.codecs = answered;
                    let local: HashSet<(u16, &str)> = t
                        .header_extensions
                        .iter()
                        .map(|l| (l.id, l.uri.as_str()))
                        .collect();
                    n.header_extensions = m
                        .extmaps()
                        .filter(|e| local.contains(&(e.id, e.uri)))
                        .map(|e| HeaderExtension::new(e.id, e.uri))
                        .collect();
                    let remote_direction = m.direction().unwrap_or(Direction::SendRecv);
                    n.direction = Direction::from_flags(
                        t.direction.sends() && remote_direction.receives(),
                        t.direction.receives() && remote_direction.sends(),
                    );
                    n.send_encodings = answered_send_layers(m, &t.send_encodings);
                }
                SectionKind::Data => {
                    n.direction = Direction::SendRecv;
                    n.remote_sctp_port = m
                        .sctp_port()
                        .or_else(|| m.sctpmap().map(|s| s.number))
                        .or(Some(5000));
                    n.remote_max_message_size = Some(m.max_message_size().unwrap_or(65536));
                }
                SectionKind::Unsupported => {}
            }
            out.push(n);
        }
        let bundle = remote.bundle;
        let ice_restart = pending.ice_restart;
        let remote_ufrag = out
            .iter()
            .find_map(|n| n.remote_ice.as_ref().map(|i| i.ufrag.clone()));
        self.remote_ufrag = remote_ufrag.or(self.remote_ufrag.take());
        self.sections = sections;
        self.pending = None;
        self.ice_restart_pending = false;
        Ok(Negotiated {
            sections: out,
            bundle,
            dtls_role: {
                if role.is_some() {
                    self.dtls_role = role;
                }
                self.dtls_role.unwrap_or(DtlsRole::Client)
            },
            remote_fingerprints: fingerprints,
            remote_ice_lite: answer.ice_lite(),
            ice_restart,
            extmap_allow_mixed: self.config.extmap_allow_mixed && answer.extmap_allow_mixed(),
        })
    }
}
