//! [`AttributeList`], the accessors shared by the session level and every media section.

use crate::candidate::Candidate;
use crate::model::Attribute;
use crate::parse::parse_num;

use super::{
    Direction, Extmap, Fingerprint, Fmtp, Group, Msid, MsidSemantic, Rid, Rtcp, RtcpFb, Rtpmap,
    Sctpmap, Setup, Simulcast, Ssrc, SsrcGroup, parse_decimal,
};

/// Accessors over an ordered list of attributes: implemented by the session level, by every media
/// section and by `[Attribute]`. Lookups ignore the case of names; typed accessors skip values
/// that do not parse (a description parsed with the default [`Limits`](crate::Limits) has none).
pub trait AttributeList {
    /// The attributes, in order.
    fn attribute_slice(&self) -> &[Attribute<'_>];

    /// The first attribute named `name`.
    fn attribute(&self, name: &str) -> Option<&Attribute<'_>> {
        self.attribute_slice().iter().find(|a| a.is(name))
    }

    /// The values of every attribute named `name` (`""` for flags).
    fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.attribute_slice()
            .iter()
            .filter(move |a| a.is(name))
            .map(|a| a.value_str())
    }

    /// The value of the first attribute named `name`.
    fn value(&self, name: &str) -> Option<&str> {
        self.attribute(name).map(|a| a.value_str())
    }

    /// Whether an attribute named `name` is present.
    fn has(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// `a=mid`.
    fn mid(&self) -> Option<&str> {
        self.value("mid")
    }

    /// Every `a=group`.
    fn groups(&self) -> impl Iterator<Item = Group<'_>> {
        self.values("group").filter_map(|v| Group::parse(v).ok())
    }

    /// The first `a=group:BUNDLE`.
    fn bundle_group(&self) -> Option<Group<'_>> {
        self.groups().find(Group::is_bundle)
    }

    /// `a=msid-semantic`.
    fn msid_semantic(&self) -> Option<MsidSemantic<'_>> {
        self.value("msid-semantic")
            .and_then(|v| MsidSemantic::parse(v).ok())
    }

    /// Every `a=msid`.
    fn msids(&self) -> impl Iterator<Item = Msid<'_>> {
        self.values("msid").filter_map(|v| Msid::parse(v).ok())
    }

    /// `a=ice-ufrag`.
    fn ice_ufrag(&self) -> Option<&str> {
        self.value("ice-ufrag").map(str::trim)
    }

    /// `a=ice-pwd`.
    fn ice_pwd(&self) -> Option<&str> {
        self.value("ice-pwd").map(str::trim)
    }

    /// The tokens of every `a=ice-options` (`trickle`, `ice2`, `renomination`, ...).
    fn ice_options(&self) -> impl Iterator<Item = &str> {
        self.values("ice-options")
            .flat_map(str::split_ascii_whitespace)
    }

    /// Whether `a=ice-options` includes `option` (case-insensitive).
    fn has_ice_option(&self, option: &str) -> bool {
        self.ice_options().any(|o| o.eq_ignore_ascii_case(option))
    }

    /// `a=ice-lite`.
    fn ice_lite(&self) -> bool {
        self.has("ice-lite")
    }

    /// Every `a=fingerprint`.
    fn fingerprints(&self) -> impl Iterator<Item = Fingerprint<'_>> {
        self.values("fingerprint")
            .filter_map(|v| Fingerprint::parse(v).ok())
    }

    /// `a=setup`.
    fn setup(&self) -> Option<Setup> {
        self.value("setup").and_then(|v| Setup::parse(v).ok())
    }

    /// Every `a=candidate` that parses (UDP and TCP; well-formed but unusable ones, see
    /// [`crate::candidate`], are left out).
    fn candidates(&self) -> impl Iterator<Item = Candidate> {
        self.values("candidate")
            .filter_map(|v| Candidate::parse(v).ok())
    }

    /// `a=end-of-candidates`.
    fn end_of_candidates(&self) -> bool {
        self.has("end-of-candidates")
    }

    /// `a=rtcp`.
    fn rtcp(&self) -> Option<Rtcp<'_>> {
        self.value("rtcp").and_then(|v| Rtcp::parse(v).ok())
    }

    /// `a=rtcp-mux`.
    fn rtcp_mux(&self) -> bool {
        self.has("rtcp-mux")
    }

    /// `a=rtcp-mux-only` (RFC 8858).
    fn rtcp_mux_only(&self) -> bool {
        self.has("rtcp-mux-only")
    }

    /// `a=rtcp-rsize` (RFC 5506).
    fn rtcp_rsize(&self) -> bool {
        self.has("rtcp-rsize")
    }

    /// Every `a=extmap`.
    fn extmaps(&self) -> impl Iterator<Item = Extmap<'_>> {
        self.values("extmap").filter_map(|v| Extmap::parse(v).ok())
    }

    /// `a=extmap-allow-mixed` (RFC 8285).
    fn extmap_allow_mixed(&self) -> bool {
        self.has("extmap-allow-mixed")
    }

    /// Every `a=rtpmap`.
    fn rtpmaps(&self) -> impl Iterator<Item = Rtpmap<'_>> {
        self.values("rtpmap").filter_map(|v| Rtpmap::parse(v).ok())
    }

    /// The `a=rtpmap` of payload type `pt`. Each call scans the attributes: reading every payload
    /// type of a section this way costs formats x attributes (JSEP indexes them in one pass).
    fn rtpmap(&self, pt: u8) -> Option<Rtpmap<'_>> {
        self.rtpmaps().find(|r| r.payload_type == pt)
    }

    /// Every `a=fmtp`.
    fn fmtps(&self) -> impl Iterator<Item = Fmtp<'_>> {
        self.values("fmtp").filter_map(|v| Fmtp::parse(v).ok())
    }

    /// The `a=fmtp` of payload type `pt` (a scan of the attributes, like [`AttributeList::rtpmap`]).
    fn fmtp(&self, pt: u8) -> Option<Fmtp<'_>> {
        self.fmtps().find(|f| f.payload_type() == Some(pt))
    }

    /// Every `a=rtcp-fb`.
    fn rtcp_fbs(&self) -> impl Iterator<Item = RtcpFb<'_>> {
        self.values("rtcp-fb").filter_map(|v| RtcpFb::parse(v).ok())
    }

    /// Every `a=ssrc`.
    fn ssrcs(&self) -> impl Iterator<Item = Ssrc<'_>> {
        self.values("ssrc").filter_map(|v| Ssrc::parse(v).ok())
    }

    /// Every `a=ssrc-group`.
    fn ssrc_groups(&self) -> impl Iterator<Item = SsrcGroup<'_>> {
        self.values("ssrc-group")
            .filter_map(|v| SsrcGroup::parse(v).ok())
    }

    /// Every `a=rid`.
    fn rids(&self) -> impl Iterator<Item = Rid<'_>> {
        self.values("rid").filter_map(|v| Rid::parse(v).ok())
    }

    /// `a=simulcast`.
    fn simulcast(&self) -> Option<Simulcast<'_>> {
        self.value("simulcast")
            .and_then(|v| Simulcast::parse(v).ok())
    }

    /// `a=sctp-port` (RFC 8841).
    fn sctp_port(&self) -> Option<u16> {
        self.value("sctp-port")
            .and_then(|v| parse_num(v.trim_ascii()))
    }

    /// `a=max-message-size` (RFC 8841).
    fn max_message_size(&self) -> Option<u64> {
        self.value("max-message-size")
            .and_then(|v| parse_num(v.trim_ascii()))
    }

    /// Legacy `a=sctpmap`.
    fn sctpmap(&self) -> Option<Sctpmap<'_>> {
        self.value("sctpmap").and_then(|v| Sctpmap::parse(v).ok())
    }

    /// The direction attribute, when one is present.
    fn direction(&self) -> Option<Direction> {
        self.attribute_slice()
            .iter()
            .find_map(|a| Direction::from_name(&a.name))
    }

    /// `a=bundle-only` (RFC 9143).
    fn bundle_only(&self) -> bool {
        self.has("bundle-only")
    }

    /// `a=framerate`.
    fn framerate(&self) -> Option<f64> {
        self.value("framerate")
            .and_then(|v| parse_decimal(v.trim_ascii()))
    }

    /// `a=ptime` in milliseconds.
    fn ptime(&self) -> Option<f64> {
        self.value("ptime")
            .and_then(|v| parse_decimal(v.trim_ascii()))
    }

    /// `a=maxptime` in milliseconds.
    fn maxptime(&self) -> Option<f64> {
        self.value("maxptime")
            .and_then(|v| parse_decimal(v.trim_ascii()))
    }
}

impl AttributeList for [Attribute<'_>] {
    fn attribute_slice(&self) -> &[Attribute<'_>] {
        self
    }
}

impl AttributeList for crate::model::SessionDescription<'_> {
    fn attribute_slice(&self) -> &[Attribute<'_>] {
        &self.attributes
    }
}

impl AttributeList for crate::model::MediaDescription<'_> {
    fn attribute_slice(&self) -> &[Attribute<'_>] {
        &self.attributes
    }
}
