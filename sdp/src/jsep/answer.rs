//! Answering a remote offer.

use std::collections::{HashMap, HashSet};

use crate::attributes::{AttributeList, Direction, Setup};
use crate::mid::Mid;
use crate::model::{Attribute, Connection, MediaDescription, SessionDescription};

use super::codec::Codec;
use super::error::NegotiationError;
use super::limits::check_limits;
use super::matching::{intersect_codecs, read_codecs};
use super::negotiated::{DtlsRole, Negotiated, NegotiatedSection};
use super::remote::{
    Remote, RemoteTransport, offered_recv_layers, offered_send_layers, remote_ssrcs, setup_name,
};
use super::transceiver::{HeaderExtension, RID_URI, Transceiver, TransceiverId};
use super::{JsepSession, Section, SectionKind, new_credentials, section_kind};

impl JsepSession {
    /// Answers a remote offer (RFC 9429 section 5.3) and returns the answer with the negotiated
    /// state. The offer's m-section layout becomes the session's. An offer that cannot be accepted
    /// leaves the session exactly as it was: every check (limits, mids, transports, fingerprints,
    /// DTLS roles, rtcp-mux) is made before anything changes.
    pub fn create_answer(
        &mut self,
        offer: &SessionDescription<'_>,
    ) -> Result<(SessionDescription<'static>, Negotiated), NegotiationError> {
        check_limits(offer)?;
        let remote = Remote::new(offer)?;

        // Validate mids and bind sections to transceivers; transceivers for remote tracks are
        // only created once the whole offer has been checked.
        let mut sections: Vec<Section> = Vec::with_capacity(offer.media.len());
        let existing = self.transceivers.len();
        let mut created: Vec<Transceiver> = Vec::new();
        // Remote codecs read while creating a transceiver, kept for the answer.
        let mut remote_codecs: Vec<Option<Vec<Codec>>> = vec![None; offer.media.len()];
        let previous: HashMap<Mid, &Section> =
            self.sections.iter().rev().map(|s| (s.mid, s)).collect();
        let offered_mids: HashSet<Mid> = remote.mids.iter().flatten().copied().collect();
        // Transceivers bound to a section of this offer: those bound to a section the offer keeps,
        // then each one bound as the offer's sections are read.
        let mut taken = vec![false; existing];
        for s in &self.sections {
            if let Some(t) = s.transceiver.filter(|_| offered_mids.contains(&s.mid)) {
                taken[t] = true;
            }
        }
        let mut seen_mids: HashSet<Mid> = HashSet::with_capacity(offer.media.len());
        for (index, m) in offer.media.iter().enumerate() {
            let mid = remote.mids[index].ok_or(NegotiationError::MissingMid { index })?;
            if !seen_mids.insert(mid) {
                return Err(NegotiationError::DuplicateMid(mid));
            }
            let kind = section_kind(m);
            let previous = previous.get(&mid);
            if let Some(p) = previous {
                if p.kind != kind {
                    return Err(NegotiationError::KindChanged(mid));
                }
            }
            let mut transceiver = previous.and_then(|p| p.transceiver);
            if transceiver.is_none() {
                if let SectionKind::Media(k) = kind {
                    transceiver = (0..existing).find(|&t| {
                        self.transceivers[t].kind == k && !self.transceivers[t].stopped && !taken[t]
                    });
                    if transceiver.is_none() && m.port != 0 {
                        // Like a browser: a remote track creates a receive-only transceiver.
                        let codecs = read_codecs(m);
                        let mut t = Transceiver::new(k, Direction::RecvOnly, codecs.clone());
                        remote_codecs[index] = Some(codecs);
                        t.header_extensions = m
                            .extmaps()
                            .map(|e| HeaderExtension::new(e.id, e.uri))
                            .collect();
                        created.push(t);
                        transceiver = Some(existing + created.len() - 1);
                    }
                }
            }
            if let Some(t) = transceiver.filter(|&t| t < existing) {
                taken[t] = true;
            }
            sections.push(Section {
                mid,
                kind,
                transceiver,
                rejected: false,
                proto: m.proto.to_string(),
                media: m.media.to_string(),
            });
        }
        let stopped = |t: usize| t < existing && self.transceivers[t].stopped;

        // Check the transport of every section that will be accepted.
        let mut transports: Vec<Option<(RemoteTransport, Setup)>> =
            Vec::with_capacity(sections.len());
        for (index, (s, m)) in sections.iter().zip(&offer.media).enumerate() {
            let port_zero = m.port == 0 && !(m.bundle_only() && remote.in_bundle(s.mid));
            let supported = match s.kind {
                SectionKind::Media(_) => s.transceiver.is_some(),
                SectionKind::Data => true,
                SectionKind::Unsupported => false,
            };
            if port_zero || s.transceiver.is_some_and(stopped) || !supported {
                transports.push(None);
                continue;
            }
            let transport = remote.transport(index, s.mid)?;
            let local_setup = match transport.setup {
                // A renegotiation keeps the established role; a restart of ICE does not
                // change it either (the DTLS association survives).
                Some(Setup::ActPass) => match self.dtls_role {
                    Some(DtlsRole::Client) => Setup::Active,
                    Some(DtlsRole::Server) => Setup::Passive,
                    None => self.config.answer_setup,
                },
                Some(Setup::Active) => Setup::Passive,
                Some(Setup::Passive) => Setup::Active,
                other => {
                    return Err(NegotiationError::BadSetup {
                        mid: s.mid,
                        setup: setup_name(other),
                        context: "offer",
                    });
                }
            };
            if matches!(s.kind, SectionKind::Media(_)) && !transport.rtcp_mux {
                return Err(NegotiationError::RtcpMuxRequired(s.mid));
            }
            transports.push(Some((transport, local_setup)));
        }
        // ICE restart detection: new remote credentials mean new local ones.
        let offered_ufrag = match offer.media.iter().position(|m| m.port != 0) {
            Some(i) => remote.ice(i)?.map(|i| i.ufrag),
            None => None,
        };

        // The offer is acceptable: from here on nothing fails.
        self.transceivers.append(&mut created);
        let ice_restart = match (&self.remote_ufrag, &offered_ufrag) {
            (Some(old), Some(new)) => old != new,
            _ => false,
        };
        if ice_restart {
            self.ice = new_credentials(self.rng.as_mut());
        }
        let mut answer = SessionDescription::new(self.origin());
        // Exact capacity: the result is kept for the connection's lifetime.
        let mut out = Vec::with_capacity(offer.media.len());
        let mut media = Vec::with_capacity(offer.media.len());
        let mut fingerprints = Vec::new();
        let mut role = None;
        for (index, ((s, m), transport)) in sections
            .iter_mut()
            .zip(&offer.media)
            .zip(transports)
            .enumerate()
        {
            let mut n =
                NegotiatedSection::new(s.mid, s.kind, true, s.transceiver.map(TransceiverId::new));
            let mut accepted = None;
            if let Some((transport, local_setup)) = transport {
                n.remote_ice = Some(transport.ice);
                if fingerprints.is_empty() {
                    fingerprints = transport.fingerprints;
                }
                role.get_or_insert(if local_setup == Setup::Active {
                    DtlsRole::Client
                } else {
                    DtlsRole::Server
                });
                (n.remote_candidates, n.skipped_candidates) =
                    crate::candidate::udp_candidates(m.values("candidate"));
                (n.remote_ssrcs, n.remote_rtx_ssrcs) = remote_ssrcs(m);
                match s.kind {
                    SectionKind::Media(_) => {
                        let t = &self.transceivers[s.transceiver.expect("checked above")];
                        let offered = remote_codecs[index]
                            .take()
                            .unwrap_or_else(|| read_codecs(m));
                        let codecs = intersect_codecs(&offered, &t.codecs);
                        if !codecs.is_empty() {
                            let local_uris: HashSet<&str> =
                                t.header_extensions.iter().map(|l| l.uri.as_str()).collect();
                            let extensions: Vec<HeaderExtension> = m
                                .extmaps()
                                .filter(|e| local_uris.contains(e.uri))
                                .map(|e| HeaderExtension::new(e.id, e.uri))
                                .collect();
                            let remote_direction = m.direction().unwrap_or(Direction::SendRecv);
                            let direction = Direction::from_flags(
                                t.direction.sends() && remote_direction.receives(),
                                t.direction.receives() && remote_direction.sends(),
                            );
                            // The offerer's send layers become our receive layers, when the
                            // RID header extension that names them is negotiated (RFC 8853
                            // 5.3; browsers refuse simulcast without it).
                            let rid_extension = extensions.iter().any(|e| e.uri == RID_URI);
                            let recv_rids = match m.simulcast() {
                                Some(sim)
                                    if sim.send.is_some()
                                        && direction.receives()
                                        && rid_extension =>
                                {
                                    offered_send_layers(m, &sim)
                                }
                                _ => Vec::new(),
                            };
                            // The offerer's receive layers that we have become our send
                            // layers (RFC 8853 5.3); a layer it does not ask for is not sent.
                            let send_layers = match m.simulcast() {
                                Some(sim)
                                    if sim.recv.is_some() && direction.sends() && rid_extension =>
                                {
                                    offered_recv_layers(m, &sim, &t.send_encodings)
                                }
                                _ => Vec::new(),
                            };
                            let md = self.media_section(
                                s,
                                local_setup,
                                direction,
                                &codecs,
                                &extensions,
                                (&send_layers, &recv_rids),
                                t,
                            );
                            n.direction = direction;
                            n.codecs = codecs;
                            n.header_extensions = extensions;
                            n.recv_rids = recv_rids;
                            n.send_encodings = send_layers;
                            accepted = Some(md);
                        }
                    }
                    SectionKind::Data => {
                        n.direction = Direction::SendRecv;
                        n.remote_sctp_port = m
                            .sctp_port()
                            .or_else(|| m.sctpmap().map(|s| s.number))
                            .or(Some(5000));
                        n.remote_max_message_size = Some(m.max_message_size().unwrap_or(65536));
                        accepted = Some(self.data_section(s, local_setup));
                    }
                    SectionKind::Unsupported => {}
                }
            }
            match accepted {
                Some(md) => {
                    n.rejected = false;
                    s.rejected = false;
                    media.push(md);
                }
                None => {
                    s.rejected = true;
                    let mut md = MediaDescription::new(
                        m.media.to_string(),
                        0,
                        m.proto.to_string(),
                        Vec::new(),
                    );
                    md.formats.push(
                        m.formats
                            .first()
                            .map_or_else(|| "0".to_string(), |f| f.to_string())
                            .into(),
                    );
                    md.connections.push(Connection {
                        nettype: "IN".into(),
                        addrtype: "IP4".into(),
                        address: "0.0.0.0".into(),
                        ttl: None,
                        num_addresses: None,
                    });
                    md.attributes.push(Attribute::new("mid", s.mid.to_string()));
                    media.push(md);
                }
            }
            out.push(n);
        }
        // BUNDLE: accept the offered group, minus rejected sections, keeping its order.
        let accepted_mids: HashSet<Mid> =
            out.iter().filter(|n| !n.rejected).map(|n| n.mid).collect();
        let bundle: Vec<Mid> = remote
            .bundle
            .iter()
            .filter(|mid| accepted_mids.contains(*mid))
            .copied()
            .collect();
        if !bundle.is_empty() {
            answer.attributes.push(Attribute::new(
                "group",
                format!("BUNDLE {}", bundle.join(" ")),
            ));
        }
        answer
            .attributes
            .push(Attribute::new("msid-semantic", "WMS *"));
        let allow_mixed = self.config.extmap_allow_mixed && offer.extmap_allow_mixed();
        if allow_mixed {
            answer
                .attributes
                .push(Attribute::flag("extmap-allow-mixed"));
        }
        answer.media = media;
        // Remember the layout; mids the remote chose must never be handed out by us again.
        for s in &sections {
            if let Ok(n) = s.mid.parse::<u32>() {
                self.next_mid = self.next_mid.max(u64::from(n) + 1);
            }
        }
        self.sections = sections;
        self.remote_ufrag = offered_ufrag.or(self.remote_ufrag.take());
        self.pending = None;
        let negotiated = Negotiated {
            sections: out,
            bundle,
            dtls_role: {
                if role.is_some() {
                    self.dtls_role = role;
                }
                self.dtls_role.unwrap_or(DtlsRole::Client)
            },
            remote_fingerprints: fingerprints,
            remote_ice_lite: offer.ice_lite(),
            ice_restart,
            extmap_allow_mixed: allow_mixed,
        };
        Ok((answer, negotiated))
    }
}
