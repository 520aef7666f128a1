//! Creating offers.

use crate::attributes::Setup;
use crate::mid::Mid;
use crate::model::{Attribute, SessionDescription};

use super::{JsepSession, PendingOffer, Section, SectionKind};

impl JsepSession {
    /// Creates an offer from the local transceivers and data channel (RFC 9429 section 5.2).
    ///
    /// Existing m-sections keep their order and mids; stopped transceivers are offered with port 0;
    /// new transceivers first take m-sections rejected in the last negotiation (with a new mid), then
    /// get new sections at the end.
    pub fn create_offer(&mut self) -> SessionDescription<'static> {
        let mut sections = self.sections.clone();
        // Bind unbound, unstopped transceivers: recycle rejected sections, else append.
        for t in 0..self.transceivers.len() {
            if self.transceivers[t].stopped || sections.iter().any(|s| s.transceiver == Some(t)) {
                continue;
            }
            let kind = SectionKind::Media(self.transceivers[t].kind);
            let mid = self.fresh_mid_excluding(&sections);
            let recycled = sections
                .iter_mut()
                .find(|s| s.rejected && s.transceiver.is_none_or(|x| self.transceivers[x].stopped));
            let section = Section {
                mid,
                kind,
                transceiver: Some(t),
                rejected: false,
                proto: "UDP/TLS/RTP/SAVPF".into(),
                media: self.transceivers[t].kind.as_str().into(),
            };
            match recycled {
                Some(slot) => *slot = section,
                None => sections.push(section),
            }
        }
        if self.data_channel
            && !sections
                .iter()
                .any(|s| s.kind == SectionKind::Data && !s.rejected)
        {
            let mid = self.fresh_mid_excluding(&sections);
            let section = Section {
                mid,
                kind: SectionKind::Data,
                transceiver: None,
                rejected: false,
                proto: "UDP/DTLS/SCTP".into(),
                media: "application".into(),
            };
            let recyclable = |s: &Section| {
                s.rejected && s.transceiver.is_none_or(|t| self.transceivers[t].stopped)
            };
            match sections.iter_mut().find(|s| recyclable(s)) {
                Some(slot) => *slot = section,
                None => sections.push(section),
            }
        }

        let mut sd = SessionDescription::new(self.origin());
        let active: Vec<&str> = sections
            .iter()
            .filter(|s| !self.section_stopped(s) && !s.rejected)
            .map(|s| s.mid.as_str())
            .collect();
        if !active.is_empty() {
            sd.attributes.push(Attribute::new(
                "group",
                format!("BUNDLE {}", active.join(" ")),
            ));
        }
        sd.attributes.push(Attribute::new("msid-semantic", "WMS *"));
        if self.config.extmap_allow_mixed {
            sd.attributes.push(Attribute::flag("extmap-allow-mixed"));
        }
        for s in &sections {
            let m = if s.rejected || self.section_stopped(s) {
                self.rejected_section(s)
            } else {
                match s.kind {
                    SectionKind::Media(_) => {
                        let t = &self.transceivers
                            [s.transceiver.expect("media sections have a transceiver")];
                        self.media_section(
                            s,
                            Setup::ActPass,
                            t.direction,
                            &t.codecs,
                            &t.header_extensions,
                            (&t.send_encodings, &[]),
                            t,
                        )
                    }
                    SectionKind::Data => self.data_section(s, Setup::ActPass),
                    SectionKind::Unsupported => self.rejected_section(s),
                }
            };
            sd.media.push(m);
        }
        self.pending = Some(PendingOffer {
            sections,
            ice_restart: self.ice_restart_pending,
        });
        sd
    }

    fn fresh_mid_excluding(&mut self, sections: &[Section]) -> Mid {
        loop {
            let mid = self.fresh_mid();
            if !sections.iter().any(|s| s.mid == mid) {
                return mid;
            }
        }
    }

    pub(super) fn section_stopped(&self, s: &Section) -> bool {
        s.transceiver.is_some_and(|t| self.transceivers[t].stopped)
    }
}
