//! Writing our m-sections, for offers and answers.

use crate::attributes::{
    Direction, Extmap, FeedbackPayload, Fingerprint, Rid, RidDirection, RtcpFb, Rtpmap, Setup,
    Simulcast, TypedAttribute,
};
use crate::model::{Attribute, Connection, MediaDescription};

use super::codec::Codec;
use super::transceiver::{HeaderExtension, SendEncoding, Transceiver};
use super::{JsepSession, Section, SectionKind};

/// One `a=rid` line to write: the RID, its restrictions, whether the layer is paused.
type RidLine<'a> = (&'a str, Option<String>, bool);

impl JsepSession {
    fn common_lines(&self, m: &mut MediaDescription<'static>, s: &Section, setup: Setup) {
        m.connections.push(Connection {
            nettype: "IN".into(),
            addrtype: "IP4".into(),
            address: "0.0.0.0".into(),
            ttl: None,
            num_addresses: None,
        });
        m.attributes
            .push(Attribute::new("ice-ufrag", self.ice.ufrag.clone()));
        m.attributes
            .push(Attribute::new("ice-pwd", self.ice.pwd.clone()));
        if self.config.trickle {
            m.attributes.push(Attribute::new("ice-options", "trickle"));
        }
        let fp = format!(
            "{} {}",
            self.config.fingerprint_hash.name(),
            Fingerprint::format_digest(&self.config.fingerprint)
        );
        m.attributes.push(Attribute::new("fingerprint", fp));
        m.attributes.push(setup.to_attribute());
        m.attributes.push(Attribute::new("mid", s.mid.to_string()));
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn media_section(
        &self,
        s: &Section,
        setup: Setup,
        direction: Direction,
        codecs: &[Codec],
        extensions: &[HeaderExtension],
        (send_layers, recv_rids): (&[SendEncoding], &[String]),
        t: &Transceiver,
    ) -> MediaDescription<'static> {
        let formats = codecs
            .iter()
            .map(|c| c.payload_type.to_string().into())
            .collect();
        let mut m = MediaDescription::new(s.media.clone(), 9, "UDP/TLS/RTP/SAVPF", formats);
        self.common_lines(&mut m, s, setup);
        m.attributes
            .push(Attribute::new("rtcp", "9 IN IP4 0.0.0.0"));
        for e in extensions {
            m.attributes.push(
                Extmap {
                    id: e.id,
                    direction: None,
                    uri: &e.uri,
                    attributes: None,
                }
                .to_attribute(),
            );
        }
        m.attributes.push(Attribute::flag(direction.as_str()));
        if direction.sends() {
            let (stream, track) = t
                .msid
                .clone()
                .unwrap_or_else(|| ("-".into(), format!("track-{}", s.mid)));
            m.attributes
                .push(Attribute::new("msid", format!("{stream} {track}")));
        }
        m.attributes.push(Attribute::flag("rtcp-mux"));
        m.attributes.push(Attribute::flag("rtcp-rsize"));
        for c in codecs {
            let rtpmap = Rtpmap {
                payload_type: c.payload_type,
                encoding: c.name.as_str(),
                clock_rate: c.clock_rate,
                channels: c.channels,
            };
            m.attributes.push(rtpmap.to_attribute());
            for f in &c.feedback {
                let fb = RtcpFb {
                    payload: FeedbackPayload::Pt(c.payload_type),
                    kind: &f.kind,
                    parameter: f.parameter.as_deref(),
                };
                m.attributes.push(fb.to_attribute());
            }
            if !c.fmtp.is_empty() {
                let value = format!("{} {}", c.payload_type, c.fmtp);
                m.attributes.push(Attribute::new("fmtp", value));
            }
        }
        // Each layer: its RID, its `a=rid` restrictions, whether paused (`~rid`, RFC 8853 5.1).
        let (rid_dir, layers): (RidDirection, Vec<RidLine<'_>>) =
            if !send_layers.is_empty() && direction.sends() {
                let layers = send_layers
                    .iter()
                    .map(|l| (l.rid.as_str(), l.restrictions(), l.paused));
                (RidDirection::Send, layers.collect())
            } else {
                let layers = recv_rids.iter().map(|r| (r.as_str(), None, false));
                (RidDirection::Recv, layers.collect())
            };
        if !layers.is_empty() {
            for (id, restrictions, _) in &layers {
                m.attributes.push(
                    Rid {
                        id,
                        direction: rid_dir,
                        restrictions: restrictions.as_deref(),
                    }
                    .to_attribute(),
                );
            }
            let joined = layers
                .iter()
                .map(|(id, _, paused)| format!("{}{id}", if *paused { "~" } else { "" }))
                .collect::<Vec<_>>()
                .join(";");
            let sim = match rid_dir {
                RidDirection::Send => Simulcast {
                    send: Some(&joined),
                    recv: None,
                    recv_first: false,
                },
                RidDirection::Recv => Simulcast {
                    send: None,
                    recv: Some(&joined),
                    recv_first: true,
                },
            };
            m.attributes.push(sim.to_attribute());
        }
        if let (Some((ssrc, rtx)), true) = (t.send_ssrcs, direction.sends()) {
            if let Some(rtx) = rtx {
                m.attributes
                    .push(Attribute::new("ssrc-group", format!("FID {ssrc} {rtx}")));
            }
            let cname = t.cname.as_deref().unwrap_or("sansrtc");
            for s in std::iter::once(ssrc).chain(rtx) {
                m.attributes
                    .push(Attribute::new("ssrc", format!("{s} cname:{cname}")));
                if let Some((stream, track)) = &t.msid {
                    m.attributes
                        .push(Attribute::new("ssrc", format!("{s} msid:{stream} {track}")));
                }
            }
        }
        m
    }

    pub(super) fn data_section(&self, s: &Section, setup: Setup) -> MediaDescription<'static> {
        let legacy = s.proto.eq_ignore_ascii_case("DTLS/SCTP");
        let format = if legacy {
            self.config.sctp_port.to_string()
        } else {
            "webrtc-datachannel".to_string()
        };
        let mut m = MediaDescription::new("application", 9, s.proto.clone(), vec![format.into()]);
        self.common_lines(&mut m, s, setup);
        if legacy {
            m.attributes.push(Attribute::new(
                "sctpmap",
                format!("{} webrtc-datachannel 1024", self.config.sctp_port),
            ));
        } else {
            m.attributes.push(Attribute::new(
                "sctp-port",
                self.config.sctp_port.to_string(),
            ));
        }
        m.attributes.push(Attribute::new(
            "max-message-size",
            self.config.max_message_size.to_string(),
        ));
        m
    }

    pub(super) fn rejected_section(&self, s: &Section) -> MediaDescription<'static> {
        let format = match s.kind {
            SectionKind::Data => "webrtc-datachannel".to_string(),
            SectionKind::Media(_) => s
                .transceiver
                .and_then(|t| self.transceivers[t].codecs.first())
                .map_or_else(|| "0".to_string(), |c| c.payload_type.to_string()),
            SectionKind::Unsupported => "0".to_string(),
        };
        let mut m = MediaDescription::new(s.media.clone(), 0, s.proto.clone(), vec![format.into()]);
        m.connections.push(Connection {
            nettype: "IN".into(),
            addrtype: "IP4".into(),
            address: "0.0.0.0".into(),
            ttl: None,
            num_addresses: None,
        });
        m.attributes.push(Attribute::new("mid", s.mid.to_string()));
        if s.kind != SectionKind::Data {
            m.attributes.push(Attribute::flag("inactive"));
        }
        m
    }
}
