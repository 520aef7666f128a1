//! The DTLS 1.3 client: the 1.3 extensions added to the (1.2-compatible) ClientHello, the
//! ServerHello or HelloRetryRequest (a second ClientHello with the cookie and, if asked, a share
//! of another group), the server's encrypted flight, and our Certificate, CertificateVerify and
//! Finished.

use std::time::Instant;

use sansrtc_core::crypto::DigestAlgorithm;

use super::{Conn13, Cx, Res, SUITES, St};
use crate::cipher::SrtpProfile;
use crate::codec::Reader;
use crate::error::DtlsError;
use crate::fragment::{HandshakeHeader, Inserted, Message, Reassembler};
use crate::negotiated::NamedGroup;
use crate::record::DTLS_1_2;
use crate::rng::Rng;
use crate::v13::DTLS_1_3;
use crate::v13::flight::OutMessage;
use crate::v13::key_schedule::{Secret, Suite13};
use crate::v13::kx::{self, ClientKeyShare};
use crate::v13::message::{self as m, ext, hs};
use crate::v13::record::{self as rec, CiphertextRecord};

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
        let (mut shares, mut publics) = (Vec::new(), Vec::new());
        for group in first_share_groups(&config.groups13)? {
            let (share, public) =
                ClientKeyShare::generate_with(group, config.key_randomness, rng, config.crypto)?;
            shares.push(share);
            publics.push((group, public));
        }
        Ok(Self {
            shares,
            publics,
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
        groups13: &[NamedGroup],
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

/// The groups of the first ClientHello's key shares: the first configured group and, when that
/// is X25519MLKEM768 and X25519 is configured too, an X25519 share beside it, as Chromium and
/// Firefox send (a server that prefers the hybrid takes it at once, one without it takes X25519
/// without a retry; the ClientHello is then fragmented, as theirs are).
fn first_share_groups(groups: &[NamedGroup]) -> Res<Vec<u16>> {
    let first = groups
        .first()
        .ok_or(DtlsError::NoCommon("no DTLS 1.3 group configured"))?;
    let mut shares = vec![first.id()];
    if *first == NamedGroup::X25519Mlkem768 && groups.contains(&NamedGroup::X25519) {
        shares.push(kx::X25519);
    }
    Ok(shares)
}

/// The supported_groups extension body: our 1.3 groups in order, then (when 1.2 is offered
/// too) the groups of the 1.2 list (`list12`, without its length) that are no 1.3 group of ours
/// (P-384), for a 1.2 server.
fn supported_groups(groups13: &[NamedGroup], list12: Option<&[u8]>, with_12: bool) -> Vec<u8> {
    let mut list: Vec<u8> = groups13.iter().flat_map(|g| g.id().to_be_bytes()).collect();
    if with_12 {
        for pair in list12.unwrap_or_default().chunks_exact(2) {
            let g = u16::from_be_bytes([pair[0], pair[1]]);
            if !NamedGroup::from_id(g).is_some_and(NamedGroup::in_dtls13) {
                list.extend_from_slice(pair);
            }
        }
    }
    let mut body = (list.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(&list);
    body
}

/// Distinct HelloRetryRequests kept (and answered) at once; a further one replaces the oldest.
const MAX_RETRIES: usize = 3;
/// Distinct ServerHellos kept at once; a further one replaces the oldest.
const MAX_SERVER_HELLOS: usize = 3;
/// Distinct HelloRetryRequests and ServerHellos handled in all: past this, more are dropped
/// (each costs key derivations; an attacker must not make us work without end).
const MAX_HELLOS_HANDLED: usize = 24;
/// The hellos' message_seq taken (0 to this - 1; the first flight of a server).
const MAX_HELLO_SEQ: usize = 4;

/// A HelloRetryRequest answered: with which suite and group, its body, our second ClientHello.
#[derive(Clone)]
struct Retry {
    suite: Suite13,
    /// The group it asked for (its share is then the only one in our second ClientHello).
    group: Option<u16>,
    hrr: Vec<u8>,
    ch2: Vec<u8>,
    /// Hash(ClientHello) of each hello we had sent when it arrived (those it may answer).
    h1s: Vec<Vec<u8>>,
}

/// A ServerHello received, with the secret it shares with our key share of its group.
#[derive(Clone)]
struct Sh {
    seq: u16,
    suite: Suite13,
    group: u16,
    body: Vec<u8>,
    /// The shared secret with our share of its group.
    shared: Secret,
}

/// The client before a ServerHello is authenticated. Nothing in a HelloRetryRequest or a
/// ServerHello (plaintext) can be checked, and a HelloRetryRequest does not name the hello it
/// answers (anyone can make a stateless server send one to our address for a ClientHello of
/// theirs). So every distinct one is kept (bounded): each HelloRetryRequest is answered by a
/// second ClientHello, and each ServerHello gives one candidate handshake key schedule per
/// transcript the server may have (no retry, or one retry answering one of our earlier hellos).
/// The first protected record that opens under a candidate's keys picks it: only the server
/// that saw our hello and knows its key share can make it.
#[derive(Clone)]
pub(super) struct HelloPhase {
    offer: Offer13,
    /// Our shares of the groups a HelloRetryRequest asked for, with their public values (one key
    /// pair per group, so that a HelloRetryRequest again gives the same second ClientHello).
    asked: Vec<(ClientKeyShare, Vec<u8>)>,
    retries: Vec<Retry>,
    server_hellos: Vec<Sh>,
    /// SHA-256 of each distinct HelloRetryRequest and ServerHello handled so far (one evicted
    /// from `retries` or `server_hellos` is not taken again when repeated).
    seen: Vec<[u8; 32]>,
    /// One reassembler per message_seq (each expects that one only).
    assemblers: Vec<Reassembler>,
    /// Unfragmented hellos of the record being handled, (message_seq, body): they skip the
    /// reassemblers, so that a whole forged one cannot fill in a real one's missing fragments.
    whole: Vec<(u16, Vec<u8>)>,
    /// The candidate connections, in state WaitEncryptedExtensions.
    candidates: Vec<Conn13>,
}

impl HelloPhase {
    /// Our share of `group` among those a hello may have sent.
    fn share(&self, retry: Option<&Retry>, group: u16) -> Option<&ClientKeyShare> {
        match retry.and_then(|r| r.group) {
            Some(g) if g != group => None,
            Some(_) => self
                .asked
                .iter()
                .map(|(s, _)| s)
                .find(|s| s.group() == group),
            None => self.offer.shares.iter().find(|s| s.group() == group),
        }
    }
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
        let mut c = Self::new(crate::Role::Client, suite, cx.config, 0);
        c.plain_seq = plain_seq;
        c.hello = Some(Box::new(HelloPhase {
            offer,
            asked: Vec::new(),
            retries: Vec::new(),
            server_hellos: Vec::new(),
            seen: Vec::new(),
            assemblers: Vec::new(),
            whole: Vec::new(),
            candidates: Vec::new(),
        }));
        c.hello_message(now, first.message_seq, &first.body, cx)?;
        if c.flight.is_none() {
            // A ServerHello first: our ClientHello is retransmitted until one is authenticated.
            c.send_hellos(now, cx, false);
        }
        Ok(c)
    }

    /// Plaintext handshake fragments before a ServerHello is authenticated: ServerHellos (and
    /// HelloRetryRequests) only.
    pub(super) fn hello_fragments(&mut self, content: &[u8], cx: &mut Cx<'_>) {
        let Some(hp) = self.hello.as_mut() else {
            return;
        };
        let mut r = Reader::new(content);
        while r.remaining() > 0 {
            let Ok((h, body)) = HandshakeHeader::parse(&mut r) else {
                cx.stats.malformed += 1;
                return;
            };
            let seq = usize::from(h.message_seq);
            if h.msg_type != hs::SERVER_HELLO || seq >= MAX_HELLO_SEQ {
                cx.stats.unexpected_handshake += 1;
                continue;
            }
            if h.fragment_offset == 0 && h.fragment_length == h.length {
                hp.whole.push((h.message_seq, body.to_vec()));
                continue;
            }
            while hp.assemblers.len() <= seq {
                let max = cx.config.max_handshake_message;
                hp.assemblers
                    .push(Reassembler::new(hp.assemblers.len() as u16, max, 2 * max));
            }
            if let Inserted::Dropped = hp.assemblers[seq].insert(0, &h, body) {
                cx.stats.dropped += 1;
            }
        }
    }

    /// The hellos that completed; one failing a check is dropped (it is not authenticated).
    pub(super) fn hello_process(&mut self, now: Instant, cx: &mut Cx<'_>) {
        let mut done = Vec::new();
        if let Some(hp) = self.hello.as_mut() {
            done = std::mem::take(&mut hp.whole);
            for a in &mut hp.assemblers {
                let complete = std::iter::from_fn(|| a.next_complete());
                done.extend(complete.map(|m| (m.message_seq, m.body)));
            }
        }
        for (seq, body) in done {
            if self.hello_message(now, seq, &body, cx).is_err() {
                cx.stats.malformed += 1;
            }
        }
    }

    /// A whole (unauthenticated) ServerHello or HelloRetryRequest.
    fn hello_message(&mut self, now: Instant, seq: u16, body: &[u8], cx: &mut Cx<'_>) -> Res {
        let sh = m::ServerHello::parse(body)?;
        if sh.selected_version()? != Some(DTLS_1_3) {
            return Err(DtlsError::UnsupportedVersion(sh.legacy_version));
        }
        let suite = Offer13::suite(sh.cipher_suite)?;
        if !sh.session_id.is_empty() {
            return Err(DtlsError::Invalid("ServerHello"));
        }
        let hp = self.hello.as_mut().ok_or(DtlsError::Invalid("state"))?;
        let mut digest = [0u8; 32];
        digest.copy_from_slice(
            cx.config
                .crypto
                .digest(DigestAlgorithm::Sha256, body)
                .as_ref(),
        );
        if hp.seen.contains(&digest) {
            // A retransmission (or a repeated forgery).
            return Ok(());
        }
        if hp.seen.len() >= MAX_HELLOS_HANDLED {
            cx.stats.dropped += 1;
            return Ok(());
        }
        hp.seen.push(digest);
        if sh.is_hello_retry_request() {
            self.hello_retry(now, suite, &sh, body, cx)
        } else {
            self.server_hello(seq, suite, &sh, body, cx)
        }
    }

    /// A HelloRetryRequest: a second ClientHello (the first one with the cookie and, if asked,
    /// a share of another group) goes out with the others not yet answered by a ServerHello.
    fn hello_retry(
        &mut self,
        now: Instant,
        suite: Suite13,
        hrr: &m::ServerHello,
        body: &[u8],
        cx: &mut Cx<'_>,
    ) -> Res {
        let hp = self.hello.as_mut().ok_or(DtlsError::Invalid("state"))?;
        let mut ch = m::ClientHello::parse(&hp.offer.hello)?;
        let group = hrr.key_share()?.map(|(g, _)| g);
        let publics = match group {
            Some(g) => {
                // Only a group of ours (Config::groups13) we sent no share of.
                let ours = cx.config.groups13.iter().any(|c| c.id() == g);
                if hp.offer.publics.iter().any(|(o, _)| *o == g) || !ours {
                    return Err(DtlsError::Invalid("HelloRetryRequest group"));
                }
                if !hp.asked.iter().any(|(s, _)| s.group() == g) {
                    let randomness = cx.config.key_randomness;
                    hp.asked.push(ClientKeyShare::generate_with(
                        g,
                        randomness,
                        cx.rng,
                        cx.config.crypto,
                    )?);
                }
                hp.asked
                    .iter()
                    .filter(|(s, _)| s.group() == g)
                    .map(|(s, p)| (s.group(), p.clone()))
                    .collect()
            }
            None => hp.offer.publics.clone(),
        };
        let cookie = hrr.cookie()?.map(<[u8]>::to_vec);
        let e = &mut ch.extensions;
        e.0.retain(|(t, _)| *t != ext::KEY_SHARE && *t != ext::COOKIE);
        e.push(ext::KEY_SHARE, m::client_key_share_ext(&publics));
        if let Some(c) = cookie {
            e.push(ext::COOKIE, m::cookie_ext(&c));
        }
        let mut ch2 = Vec::new();
        ch.write(&mut ch2);
        // The hellos it may answer: the first, and each second one sent so far.
        let mut h1s = Vec::new();
        for hello in std::iter::once(&hp.offer.hello).chain(hp.retries.iter().map(|r| &r.ch2)) {
            let mut t = Vec::new();
            m::transcript_message(hs::CLIENT_HELLO, hello, &mut t);
            let h = suite.hash().digest(cx.config.crypto, &t);
            if !h1s.contains(&h) {
                h1s.push(h);
            }
        }
        if hp.retries.len() >= MAX_RETRIES {
            hp.retries.remove(0);
            cx.stats.dropped += 1;
        }
        hp.retries.push(Retry {
            suite,
            group,
            hrr: body.to_vec(),
            ch2,
            h1s,
        });
        self.candidates(cx)?;
        self.send_hellos(now, cx, true);
        Ok(())
    }

    /// A ServerHello: the shared secret, and candidate handshake keys for it.
    fn server_hello(
        &mut self,
        seq: u16,
        suite: Suite13,
        sh: &m::ServerHello,
        body: &[u8],
        cx: &mut Cx<'_>,
    ) -> Res {
        let hp = self.hello.as_mut().ok_or(DtlsError::Invalid("state"))?;
        let (group, server_kx) = sh.key_share()?.ok_or(DtlsError::Invalid("key_share"))?;
        // Our share of that group: the first hello's, or the one a HelloRetryRequest asked for.
        let share = hp
            .offer
            .shares
            .iter()
            .chain(hp.asked.iter().map(|(s, _)| s))
            .find(|s| s.group() == group)
            .ok_or(DtlsError::Invalid("key_share group"))?;
        let shared = share.finish(server_kx)?;
        if hp.server_hellos.len() >= MAX_SERVER_HELLOS {
            hp.server_hellos.remove(0);
            cx.stats.dropped += 1;
        }
        hp.server_hellos.push(Sh {
            seq,
            suite,
            group,
            body: body.to_vec(),
            shared,
        });
        self.candidates(cx)
    }

    /// The candidate connections: for each ServerHello kept, one per transcript the server may
    /// have and our share of its group (records that arrived before their keys are tried on
    /// them next).
    fn candidates(&mut self, cx: &mut Cx<'_>) -> Res {
        let hp = self.hello.as_mut().ok_or(DtlsError::Invalid("state"))?;
        let mut candidates = Vec::new();
        for sh in &hp.server_hellos {
            // (transcript through our last ClientHello, our next message_seq)
            let mut paths = Vec::new();
            if hp.share(None, sh.group).is_some() {
                let mut t = Vec::new();
                m::transcript_message(hs::CLIENT_HELLO, &hp.offer.hello, &mut t);
                paths.push((t, 1));
            }
            for r in &hp.retries {
                // The ServerHello after a HelloRetryRequest has its suite and group.
                if r.suite != sh.suite || hp.share(Some(r), sh.group).is_none() {
                    continue;
                }
                for h1 in &r.h1s {
                    let mut t = m::message_hash(h1);
                    m::transcript_message(hs::SERVER_HELLO, &r.hrr, &mut t);
                    m::transcript_message(hs::CLIENT_HELLO, &r.ch2, &mut t);
                    paths.push((t, 2));
                }
            }
            for (t, next_msg_seq) in paths {
                let mut k = Self::new(
                    crate::Role::Client,
                    sh.suite,
                    cx.config,
                    sh.seq.wrapping_add(1),
                );
                k.next_msg_seq = next_msg_seq;
                k.transcript = t;
                m::transcript_message(hs::SERVER_HELLO, &sh.body, &mut k.transcript);
                k.group = sh.group;
                k.handshake_keys(&sh.shared)?;
                k.st = St::WaitEncryptedExtensions;
                candidates.push(k);
            }
        }
        hp.candidates = candidates;
        // Records held for want of keys are tried on the new candidates.
        self.keys_changed = true;
        Ok(())
    }

    /// Our hellos not yet answered by an authenticated ServerHello, as the flight: the first
    /// ClientHello alone, the second one for a single HelloRetryRequest (as usual), or, when
    /// several arrived (some are forged), the first one and every second one, so that the real
    /// server's answer to any of them can still come (sent now unless `transmit` is false).
    fn send_hellos(&mut self, now: Instant, cx: &Cx<'_>, transmit: bool) {
        let Some(hp) = self.hello.as_ref() else {
            return;
        };
        let hello = |message_seq, body: &Vec<u8>| OutMessage {
            msg_type: hs::CLIENT_HELLO,
            message_seq,
            epoch: 0,
            body: body.clone(),
        };
        let mut out = Vec::new();
        if hp.retries.len() != 1 {
            out.push(hello(0, &hp.offer.hello));
        }
        out.extend(hp.retries.iter().map(|r| hello(1, &r.ch2)));
        self.start_flight(now, out, cx, transmit);
    }

    /// The candidate whose keys open `record` becomes the connection: its ServerHello is the
    /// server's, and our transcript is the server's.
    pub(super) fn select_candidate(&mut self, record: &CiphertextRecord<'_>) {
        let Some(hp) = self.hello.as_mut() else {
            return;
        };
        let Some(i) = hp
            .candidates
            .iter()
            .position(|k| k.recv.clone().open(record).is_ok())
        else {
            return;
        };
        let mut k = hp.candidates.swap_remove(i);
        k.plain_seq = self.plain_seq;
        k.out = std::mem::take(&mut self.out);
        k.events = std::mem::take(&mut self.events);
        k.held = std::mem::take(&mut self.held);
        k.keys_changed = true;
        // The ServerHello acknowledges our ClientHello: the flight ends with the hello phase.
        *self = k;
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
}
