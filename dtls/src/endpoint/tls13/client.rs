//! The DTLS 1.3 client: the 1.3 extensions added to the (1.2-compatible) ClientHello, the
//! ServerHello or HelloRetryRequest (a second ClientHello with the cookie and, if asked, a share
//! of another group), the server's encrypted flight, and our Certificate, CertificateVerify and
//! Finished.

use std::time::Instant;

use super::{Conn13, Cx, Res, SUITES, St};
use crate::cipher::SrtpProfile;
use crate::codec::Reader;
use crate::error::DtlsError;
use crate::fragment::Message;
use crate::record::DTLS_1_2;
use crate::rng::Rng;
use crate::v13::DTLS_1_3;
use crate::v13::key_schedule::Suite13;
use crate::v13::kx::{self, ClientKeyShare, Group13};
use crate::v13::message::{self as m, ext, hs};
use crate::v13::record as rec;

/// What a 1.3-capable client offered: its key shares and its ClientHello.
#[derive(Clone)]
pub(in crate::endpoint) struct Offer13 {
    shares: Vec<ClientKeyShare>,
    publics: Vec<(u16, Vec<u8>)>,
    /// The ClientHello body as last built.
    hello: Vec<u8>,
    /// Also offer DTLS 1.2.
    with_12: bool,
}

impl Offer13 {
    /// One key share (see [`Config::groups13`](crate::Config::groups13)) from the generator.
    pub(in crate::endpoint) fn new(
        config: &crate::Config,
        rng: &mut dyn Rng,
        with_12: bool,
    ) -> Res<Self> {
        let group = first_share_group(&config.groups13)?;
        let (share, public) = ClientKeyShare::generate_with(group, config.key_randomness, rng)?;
        Ok(Self {
            shares: vec![share],
            publics: vec![(group, public)],
            hello: Vec::new(),
            with_12,
        })
    }

    /// Adds the DTLS 1.3 suites and extensions (supported_versions, key_share, our 1.3 groups in
    /// supported_groups) to a DTLS 1.2 ClientHello body; a 1.2 server ignores them. Returns the
    /// new body.
    pub(in crate::endpoint) fn extend_hello(
        &mut self,
        body12: &[u8],
        groups13: &[Group13],
    ) -> Res<Vec<u8>> {
        let mut ch = m::ClientHello::parse(body12)?;
        let mut suites: Vec<u16> = SUITES.iter().map(|s| s.id()).collect();
        suites.extend_from_slice(&ch.cipher_suites);
        ch.cipher_suites = suites;
        let versions: &[u16] = if self.with_12 {
            &[DTLS_1_3, DTLS_1_2]
        } else {
            &[DTLS_1_3]
        };
        let e = &mut ch.extensions;
        if let Some(groups) = e.0.iter_mut().find(|(t, _)| *t == ext::SUPPORTED_GROUPS) {
            groups.1 = supported_groups(groups13, groups.1.get(2..), self.with_12);
        }
        e.push(ext::SUPPORTED_VERSIONS, m::client_versions_ext(versions));
        e.push(ext::KEY_SHARE, m::client_key_share_ext(&self.publics));
        let mut out = Vec::new();
        ch.write(&mut out);
        self.hello.clone_from(&out);
        Ok(out)
    }

    /// The first suite of ours the server may pick.
    fn suite(id: u16) -> Res<Suite13> {
        Suite13::from_id(id)
            .filter(|s| SUITES.contains(s))
            .ok_or(DtlsError::Invalid("cipher suite"))
    }
}

/// The group of the first ClientHello's one key share: X25519 when it is configured and only
/// X25519MLKEM768 comes before it (small: one datagram; the server's HelloRetryRequest, sent
/// anyway for its cookie, may ask for the hybrid), else the first group.
fn first_share_group(groups: &[Group13]) -> Res<u16> {
    let first = groups
        .first()
        .ok_or(DtlsError::NoCommon("no DTLS 1.3 group configured"))?;
    let next_other = groups
        .iter()
        .skip(1)
        .find(|g| **g != Group13::X25519MlKem768);
    Ok(match (first, next_other) {
        (Group13::X25519MlKem768, Some(Group13::X25519)) => kx::X25519,
        _ => first.id(),
    })
}

/// The supported_groups extension body: our 1.3 groups in order, then (when 1.2 is offered
/// too) the groups of the 1.2 list (`list12`, without its length) that are no 1.3 group of ours
/// (P-384), for a 1.2 server.
fn supported_groups(groups13: &[Group13], list12: Option<&[u8]>, with_12: bool) -> Vec<u8> {
    let mut list: Vec<u8> = groups13.iter().flat_map(|g| g.id().to_be_bytes()).collect();
    if with_12 {
        for pair in list12.unwrap_or_default().chunks_exact(2) {
            let g = u16::from_be_bytes([pair[0], pair[1]]);
            if !kx::GROUPS.contains(&g) {
                list.extend_from_slice(pair);
            }
        }
    }
    let mut body = (list.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(&list);
    body
}

impl Conn13 {
    /// The client's connection from the server's first 1.3 message (ServerHello or
    /// HelloRetryRequest) on; `plain_seq` continues the epoch-0 record numbers.
    pub(in crate::endpoint) fn client(
        now: Instant,
        offer: Offer13,
        first: &Message,
        plain_seq: u64,
        cx: &mut Cx<'_>,
    ) -> Res<Self> {
        let sh = m::ServerHello::parse(&first.body)?;
        let suite = Offer13::suite(sh.cipher_suite)?;
        let next = first.message_seq.wrapping_add(1);
        let mut c = Self::new(crate::Role::Client, suite, cx.config, next);
        c.next_msg_seq = next;
        c.plain_seq = plain_seq;
        m::transcript_message(hs::CLIENT_HELLO, &offer.hello, &mut c.transcript);
        c.client = Some(offer);
        if !c.client_message(now, first, cx)? {
            return Err(DtlsError::UnexpectedMessage("ServerHello"));
        }
        Ok(c)
    }

    /// One message for the client; false if the state does not take it.
    pub(super) fn client_message(
        &mut self,
        now: Instant,
        msg: &Message,
        cx: &mut Cx<'_>,
    ) -> Res<bool> {
        let body = &msg.body[..];
        match (self.st, msg.msg_type) {
            (St::WaitServerHello, hs::SERVER_HELLO) => {
                let sh = m::ServerHello::parse(body)?;
                if sh.selected_version()? != Some(DTLS_1_3) {
                    return Err(DtlsError::UnsupportedVersion(sh.legacy_version));
                }
                if Offer13::suite(sh.cipher_suite)? != self.suite || !sh.session_id.is_empty() {
                    return Err(DtlsError::Invalid("ServerHello"));
                }
                if sh.is_hello_retry_request() {
                    self.hello_retry(now, &sh, body, cx)?;
                } else {
                    self.server_hello(&sh, body)?;
                }
            }
            (St::WaitEncryptedExtensions, hs::ENCRYPTED_EXTENSIONS) => {
                let mut r = Reader::new(body);
                let list = r.vec16()?;
                r.finish()?;
                let e = m::Extensions::parse(list)?;
                if let Some(data) = e.get(ext::USE_SRTP) {
                    let mut r = Reader::new(data);
                    let list = crate::codec::u16_list(r.vec16()?)?;
                    let _mki = r.vec8()?;
                    r.finish()?;
                    let [id] = list[..] else {
                        return Err(DtlsError::Invalid("use_srtp"));
                    };
                    let p = SrtpProfile::from_id(id)
                        .filter(|p| cx.config.srtp_profiles.contains(p))
                        .ok_or(DtlsError::Invalid("use_srtp"))?;
                    self.srtp = Some(p);
                }
                m::transcript_message(msg.msg_type, body, &mut self.transcript);
                self.st = St::WaitCertRequest;
            }
            (St::WaitCertRequest, hs::CERTIFICATE_REQUEST) => {
                let mut r = Reader::new(body);
                let context = r.vec8()?.to_vec();
                let _extensions = m::Extensions::parse(r.vec16()?)?;
                r.finish()?;
                self.cert_request = Some(context);
                m::transcript_message(msg.msg_type, body, &mut self.transcript);
                self.st = St::WaitCertificate;
            }
            (St::WaitCertRequest | St::WaitCertificate, hs::CERTIFICATE) => {
                self.peer_certificate(msg, cx)?;
                self.st = St::WaitCertVerify;
            }
            (St::WaitCertVerify, hs::CERTIFICATE_VERIFY) => {
                self.peer_certificate_verify(msg)?;
                self.st = St::WaitFinished;
            }
            (St::WaitFinished, hs::FINISHED) => {
                let s_hs = self.s_hs.as_ref().ok_or(DtlsError::Invalid("state"))?;
                if !self.ks.verify_finished(s_hs, &self.th(), body) {
                    return Err(DtlsError::BadFinished);
                }
                m::transcript_message(msg.msg_type, body, &mut self.transcript);
                let theirs = self.application_keys()?;
                self.install_peer_application(&theirs)?;
                let mut flight = Vec::new();
                if let Some(context) = self.cert_request.take() {
                    let [cert, cv] = self.own_certificate(context, cx)?;
                    m::transcript_message(hs::CERTIFICATE, &cert, &mut self.transcript);
                    m::transcript_message(hs::CERTIFICATE_VERIFY, &cv, &mut self.transcript);
                    flight.push((rec::EPOCH_HANDSHAKE, hs::CERTIFICATE, cert));
                    flight.push((rec::EPOCH_HANDSHAKE, hs::CERTIFICATE_VERIFY, cv));
                }
                let c_hs = self.c_hs.as_ref().ok_or(DtlsError::Invalid("state"))?;
                let fin = self.ks.finished(c_hs, &self.th());
                flight.push((rec::EPOCH_HANDSHAKE, hs::FINISHED, fin));
                self.send_flight(now, flight, cx);
                self.connected();
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// A HelloRetryRequest: ClientHello1 becomes message_hash, a second ClientHello carries the
    /// cookie and, if the server asked for another group, a share of it.
    fn hello_retry(
        &mut self,
        now: Instant,
        hrr: &m::ServerHello,
        body: &[u8],
        cx: &mut Cx<'_>,
    ) -> Res {
        let offer = self.client.as_mut().ok_or(DtlsError::Invalid("state"))?;
        if self.flight.is_some() {
            return Err(DtlsError::UnexpectedMessage("second HelloRetryRequest"));
        }
        let mut ch = m::ClientHello::parse(&offer.hello)?;
        if let Some((group, _)) = hrr.key_share()? {
            let ours = cx.config.groups13.iter().any(|g| g.id() == group);
            if offer.publics.iter().any(|(g, _)| *g == group) || !ours {
                return Err(DtlsError::Invalid("HelloRetryRequest group"));
            }
            let (share, public) =
                ClientKeyShare::generate_with(group, cx.config.key_randomness, cx.rng)?;
            offer.shares = vec![share];
            offer.publics = vec![(group, public)];
        }
        let cookie = hrr.cookie()?.map(<[u8]>::to_vec);
        let e = &mut ch.extensions;
        e.0.retain(|(t, _)| *t != ext::KEY_SHARE && *t != ext::COOKIE);
        e.push(ext::KEY_SHARE, m::client_key_share_ext(&offer.publics));
        if let Some(c) = cookie {
            e.push(ext::COOKIE, m::cookie_ext(&c));
        }
        let mut ch2 = Vec::new();
        ch.write(&mut ch2);
        offer.hello.clone_from(&ch2);
        let h1 = self.th();
        self.transcript = m::message_hash(&h1);
        m::transcript_message(hs::SERVER_HELLO, body, &mut self.transcript);
        m::transcript_message(hs::CLIENT_HELLO, &ch2, &mut self.transcript);
        self.send_flight(now, vec![(0, hs::CLIENT_HELLO, ch2)], cx);
        Ok(())
    }

    /// The ServerHello: the shared secret and the handshake keys.
    fn server_hello(&mut self, sh: &m::ServerHello, body: &[u8]) -> Res {
        let offer = self.client.as_ref().ok_or(DtlsError::Invalid("state"))?;
        let (group, server_kx) = sh.key_share()?.ok_or(DtlsError::Invalid("key_share"))?;
        let share = offer
            .shares
            .iter()
            .find(|s| s.group() == group)
            .ok_or(DtlsError::Invalid("key_share group"))?;
        let shared = share.finish(server_kx)?;
        self.group = group;
        self.client = None;
        m::transcript_message(hs::SERVER_HELLO, body, &mut self.transcript);
        self.handshake_keys(&shared)?;
        // The ServerHello acknowledges our ClientHello.
        self.flight = None;
        self.deadline = None;
        self.st = St::WaitEncryptedExtensions;
        Ok(())
    }
}
