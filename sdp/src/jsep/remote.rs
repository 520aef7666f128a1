//! What negotiation reads from a remote description.

use std::collections::{HashMap, HashSet};

use crate::attributes::{AttributeList, CertificateFingerprint, RidDirection, Setup, Simulcast};
use crate::mid::Mid;
use crate::model::{MediaDescription, SessionDescription};

use super::error::NegotiationError;
use super::limits::{MAX_ICE_CREDENTIAL_LENGTH, NegotiationLimit};
use super::negotiated::IceCredentials;
use super::transceiver::SendEncoding;

/// What negotiation reads from a remote description, looked up once instead of once per section:
/// the session-level values sections inherit, each section's mid and the BUNDLE group.
pub(super) struct Remote<'s, 'd> {
    pub(super) sd: &'s SessionDescription<'d>,
    /// Each section's `a=mid`.
    pub(super) mids: Vec<Option<Mid>>,
    /// The first BUNDLE group's mids, in order, each once (texts that are not mids, which no
    /// section can have, are left out).
    pub(super) bundle: Vec<Mid>,
    pub(super) bundle_set: HashSet<Mid>,
    /// The section carrying the BUNDLE transport: the first with the group's first mid and a
    /// port other than 0.
    pub(super) tag: Option<usize>,
    pub(super) ice_ufrag: Option<&'s str>,
    pub(super) ice_pwd: Option<&'s str>,
    pub(super) setup: Option<Setup>,
}

/// The transport of an accepted remote m-section.
pub(super) struct RemoteTransport {
    pub(super) ice: IceCredentials,
    pub(super) fingerprints: Vec<CertificateFingerprint>,
    /// The section's `a=setup`, else its transport's, else the session's.
    pub(super) setup: Option<Setup>,
    pub(super) rtcp_mux: bool,
}

impl<'s, 'd> Remote<'s, 'd> {
    /// Reads `sd`; refused when an `a=mid` is not a [`Mid`].
    pub(super) fn new(sd: &'s SessionDescription<'d>) -> Result<Self, NegotiationError> {
        let mut mids = Vec::with_capacity(sd.media.len());
        for (index, m) in sd.media.iter().enumerate() {
            let mid = m.mid().map(Mid::new).transpose();
            mids.push(mid.map_err(|reason| NegotiationError::InvalidMid { index, reason })?);
        }
        let mut bundle = Vec::new();
        let mut bundle_set = HashSet::new();
        let group = sd.bundle_group();
        for mid in group
            .iter()
            .flat_map(|g| g.mids())
            .filter_map(|m| Mid::new(m).ok())
        {
            if bundle_set.insert(mid) {
                bundle.push(mid);
            }
        }
        let tag = bundle.first().and_then(|&tag| {
            (0..sd.media.len()).find(|&i| mids[i] == Some(tag) && sd.media[i].port != 0)
        });
        Ok(Self {
            sd,
            mids,
            bundle,
            bundle_set,
            tag,
            ice_ufrag: sd.ice_ufrag(),
            ice_pwd: sd.ice_pwd(),
            setup: sd.setup(),
        })
    }

    pub(super) fn in_bundle(&self, mid: Mid) -> bool {
        self.bundle_set.contains(&mid)
    }

    /// The section carrying section `index`'s transport: itself, or, when it is bundled without ICE
    /// credentials or a fingerprint of its own, the BUNDLE group's tagged section. RFC 8843 puts
    /// the transport attributes only in the tagged section of an answer, of a subsequent offer,
    /// and never in a `bundle-only` section (RFC 9429 section 7.2's example).
    pub(super) fn transport_index(&self, index: usize) -> usize {
        let m = &self.sd.media[index];
        if m.ice_ufrag().is_some() || m.has("fingerprint") {
            return index;
        }
        match self.mids[index] {
            Some(mid) if self.in_bundle(mid) => self.tag.unwrap_or(index),
            _ => index,
        }
    }

    /// Section `index`'s ICE credentials, inheriting the session level's.
    pub(super) fn ice(&self, index: usize) -> Result<Option<IceCredentials>, NegotiationError> {
        let m = &self.sd.media[index];
        let ufrag = m.ice_ufrag().or(self.ice_ufrag);
        let pwd = m.ice_pwd().or(self.ice_pwd);
        let (Some(ufrag), Some(pwd)) = (ufrag, pwd) else {
            return Ok(None);
        };
        if ufrag.len().max(pwd.len()) > MAX_ICE_CREDENTIAL_LENGTH {
            return Err(NegotiationLimit::IceCredentialLength.exceeded(Some(index)));
        }
        Ok(Some(IceCredentials {
            ufrag: ufrag.into(),
            pwd: pwd.into(),
        }))
    }

    /// The usable fingerprints of the transport in section `index`: its own `a=fingerprint` lines
    /// when it has any (they override the session level's, RFC 8122 section 5), else the session
    /// level's.
    pub(super) fn fingerprints(
        &self,
        index: usize,
        mid: Mid,
    ) -> Result<Vec<CertificateFingerprint>, NegotiationError> {
        let m = &self.sd.media[index];
        let lines: &[crate::model::Attribute<'_>] = if m.has("fingerprint") {
            &m.attributes
        } else {
            &self.sd.attributes
        };
        let mut present = false;
        let mut usable = Vec::new();
        for value in lines.values("fingerprint") {
            present = true;
            if let Some(f) = CertificateFingerprint::from_attribute(value) {
                usable.push(f);
            }
        }
        if !present {
            return Err(NegotiationError::MissingFingerprint(mid));
        }
        if usable.is_empty() {
            return Err(NegotiationError::NoUsableFingerprint(mid));
        }
        Ok(usable)
    }

    /// The transport of section `index`, which is accepted: refused without ICE credentials or a
    /// usable fingerprint.
    pub(super) fn transport(
        &self,
        index: usize,
        mid: Mid,
    ) -> Result<RemoteTransport, NegotiationError> {
        let t = self.transport_index(index);
        let ice = self
            .ice(t)?
            .ok_or(NegotiationError::MissingIceCredentials(mid))?;
        let fingerprints = self.fingerprints(t, mid)?;
        let (m, tm) = (&self.sd.media[index], &self.sd.media[t]);
        Ok(RemoteTransport {
            ice,
            fingerprints,
            setup: m.setup().or_else(|| tm.setup()).or(self.setup),
            rtcp_mux: m.rtcp_mux() || tm.rtcp_mux(),
        })
    }
}

pub(super) fn remote_ssrcs(m: &MediaDescription<'_>) -> (Vec<u32>, Vec<(u32, u32)>) {
    let mut seen = std::collections::HashSet::new();
    let ssrcs: Vec<u32> = m
        .ssrcs()
        .map(|s| s.ssrc)
        .filter(|s| seen.insert(*s))
        .collect();
    let rtx = m
        .ssrc_groups()
        .filter(|g| g.semantics.eq_ignore_ascii_case("FID"))
        .filter_map(|g| {
            let mut it = g.ssrcs();
            Some((it.next()?, it.next()?))
        })
        .collect();
    (ssrcs, rtx)
}

pub(super) fn setup_name(s: Option<Setup>) -> &'static str {
    s.map_or("none", Setup::as_str)
}

/// The offerer's simulcast send layers: the first alternative of each stream of `sim`, when an
/// `a=rid` with direction `send` declares it, each once.
pub(super) fn offered_send_layers(m: &MediaDescription<'_>, sim: &Simulcast<'_>) -> Vec<String> {
    let declared: HashSet<&str> = m
        .rids()
        .filter(|r| r.direction == RidDirection::Send)
        .map(|r| r.id)
        .collect();
    let mut seen = HashSet::new();
    sim.send_streams()
        .iter()
        .filter_map(|alts| alts.first().map(|r| r.id))
        .filter(|id| declared.contains(id) && seen.insert(*id))
        .map(String::from)
        .collect()
}

/// The layers an offerer asks to receive (`a=simulcast:recv`, each stream's first
/// alternative declared by an `a=rid` with direction `recv`) that we have among `ours`, in the
/// offer's order, each once: the layers our answer sends. A layer is paused when ours is or
/// the offer writes it `~rid`, and keeps within the restrictions of both `a=rid` lines.
pub(super) fn offered_recv_layers(
    m: &MediaDescription<'_>,
    sim: &Simulcast<'_>,
    ours: &[SendEncoding],
) -> Vec<SendEncoding> {
    let declared = recv_rid_restrictions(m);
    let mut seen = HashSet::new();
    sim.recv_streams()
        .iter()
        .filter_map(|alts| alts.first().copied())
        .filter_map(|r| {
            let restrictions = declared.get(r.id)?;
            let mine = ours.iter().find(|o| o.rid == r.id)?;
            seen.insert(r.id)
                .then(|| mine.negotiated(r.paused, *restrictions))
        })
        .collect()
}

/// Our send layers `ours` as an answer accepted them: those its `a=rid` lines with direction
/// `recv` name, paused when ours is or its `a=simulcast:recv` writes `~rid`, within the
/// restrictions of both `a=rid` lines.
pub(super) fn answered_send_layers(
    m: &MediaDescription<'_>,
    ours: &[SendEncoding],
) -> Vec<SendEncoding> {
    let accepted = recv_rid_restrictions(m);
    let paused: HashSet<&str> = m
        .simulcast()
        .map(|sim| {
            sim.recv_streams()
                .iter()
                .flatten()
                .filter(|r| r.paused)
                .map(|r| r.id)
                .collect()
        })
        .unwrap_or_default();
    ours.iter()
        .filter_map(|o| {
            let restrictions = accepted.get(o.rid.as_str())?;
            Some(o.negotiated(paused.contains(o.rid.as_str()), *restrictions))
        })
        .collect()
}

/// The RIDs of `m`'s `a=rid` lines with direction `recv`, each with its restrictions.
fn recv_rid_restrictions<'a>(m: &'a MediaDescription<'_>) -> HashMap<&'a str, Option<&'a str>> {
    m.rids()
        .filter(|r| r.direction == RidDirection::Recv)
        .map(|r| (r.id, r.restrictions))
        .collect()
}
