//! Complete handshake messages in order: which the current state takes, which are dropped
//! (unauthenticated and unexpected or malformed: their message_seq stays free for the real
//! one), and the dispatch to the client's or the server's flights. After the handshake,
//! renegotiation is refused with a `no_renegotiation` warning.

use std::time::Instant;

use super::{Endpoint, Res, State};
use crate::error::{Alert, AlertDescription, DtlsError};
use crate::fragment::Message;
use crate::message::msg_type;

/// What became of a complete handshake message that did not end the handshake.
pub(super) enum Disposition {
    /// Handled: its message_seq is used up.
    Done,
    /// Unauthenticated and not expected now: dropped.
    Unexpected,
    /// Unauthenticated and did not parse: dropped.
    Malformed,
    /// Kept aside without using up its message_seq (a later HelloVerifyRequest).
    Deferred,
}

impl Endpoint {
    /// Handles the messages that completed, in order. An unauthenticated message the state does
    /// not expect, or that does not parse, is dropped without using up its message_seq, so the
    /// peer's real message can still fill it. Once a message handed the handshake to DTLS 1.3,
    /// the rest are the 1.3 connection's (it gets the datagram again).
    pub(super) fn process_messages(&mut self, now: Instant) -> Res {
        while !self.is_closed() && self.tls13.is_none() {
            let Some(m) = self.reassembler.next_complete() else {
                break;
            };
            match self.process_message(now, &m)? {
                Disposition::Done => self.reassembler.advance(),
                Disposition::Unexpected => self.stats.unexpected_handshake += 1,
                Disposition::Malformed => self.stats.malformed += 1,
                Disposition::Deferred => {}
            }
        }
        Ok(())
    }

    /// Whether the current state takes a handshake message of type `ty` arriving in `epoch`:
    /// Finished only protected (epoch 1), everything else of the handshake in plaintext.
    pub(super) fn expects(&self, ty: u8, epoch: u16) -> bool {
        use State as S;
        use msg_type as M;
        if self.state == S::Connected {
            return true;
        }
        let needed_epoch = u16::from(ty == M::FINISHED);
        epoch == needed_epoch
            && matches!(
                (self.state, ty),
                (
                    S::ClientWaitHello,
                    M::HELLO_VERIFY_REQUEST | M::SERVER_HELLO
                ) | (S::ClientWaitCertificate, M::CERTIFICATE)
                    | (S::ClientWaitKeyExchange, M::SERVER_KEY_EXCHANGE)
                    | (
                        S::ClientWaitCertReqOrDone,
                        M::CERTIFICATE_REQUEST | M::SERVER_HELLO_DONE
                    )
                    | (S::ClientWaitDone, M::SERVER_HELLO_DONE)
                    | (S::ClientWaitFinished, M::FINISHED)
                    | (S::ServerWaitCertificate, M::CERTIFICATE)
                    | (S::ServerWaitKeyExchange, M::CLIENT_KEY_EXCHANGE)
                    | (S::ServerWaitCertVerify, M::CERTIFICATE_VERIFY)
                    | (S::ServerWaitFinished, M::FINISHED)
            )
    }

    /// One complete message. Unauthenticated (epoch-0) input that is unexpected or does not
    /// parse is dropped (the returned [`Disposition`]); a message that parses but fails a check
    /// (fingerprint, signature, Finished, negotiation) ends the handshake, as does anything out
    /// of place in an authenticated record.
    fn process_message(&mut self, now: Instant, m: &Message) -> Res<Disposition> {
        use State as S;
        use msg_type as M;
        if !self.expects(m.msg_type, m.epoch) {
            if m.epoch == 0 {
                return Ok(Disposition::Unexpected);
            }
            return Err(DtlsError::UnexpectedMessage(
                "handshake message out of order",
            ));
        }
        match self.state {
            S::Connected => {
                if matches!(m.msg_type, M::CLIENT_HELLO | M::HELLO_REQUEST) {
                    // RFC 5746 / our policy: no renegotiation.
                    self.send_alert(Alert {
                        level: 1,
                        description: AlertDescription::NO_RENEGOTIATION,
                    });
                } else {
                    self.stats.dropped += 1;
                }
                Ok(Disposition::Done)
            }
            S::ClientIdle
            | S::ClientWaitHello
            | S::ClientWaitCertificate
            | S::ClientWaitKeyExchange
            | S::ClientWaitCertReqOrDone
            | S::ClientWaitDone
            | S::ClientWaitFinished => self.client_message(now, m),
            S::ServerWaitHello
            | S::ServerWaitCertificate
            | S::ServerWaitKeyExchange
            | S::ServerWaitCertVerify
            | S::ServerWaitFinished => self.server_message(now, m),
            S::Closed | S::Failed => Err(DtlsError::UnexpectedMessage(
                "handshake message out of order",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::test_util::*;
    use super::super::{Endpoint, Event};
    use crate::cipher::CipherSuite;
    use crate::error::{Alert, AlertDescription};
    use crate::message::{ClientHello, Extensions, msg_type};
    use crate::record::DTLS_1_2;

    /// Adds `body` as a protected handshake message of type `ty` and sends it.
    fn send_protected(from: &mut Endpoint, ty: u8, body: &[u8]) -> Vec<u8> {
        from.flight.clear();
        from.add_message(1, ty, body);
        from.transmit_flight();
        from.poll_transmit().unwrap()
    }

    #[test]
    fn renegotiation_is_refused_with_no_renegotiation() {
        let (mut client, mut server) = connected_pair();
        let now = Instant::now();
        // The client starts a new handshake inside the encrypted epoch.
        let mut body = Vec::new();
        ClientHello {
            version: DTLS_1_2,
            random: [1; 32],
            session_id: Vec::new(),
            cookie: Vec::new(),
            cipher_suites: vec![CipherSuite::EcdheEcdsaAes128GcmSha256.id()],
            compression_methods: vec![0],
            extensions: Extensions::default(),
        }
        .write(&mut body);
        let d = send_protected(&mut client, msg_type::CLIENT_HELLO, &body);
        server.handle_receive(now, &d);
        let alert = server.poll_transmit().expect("server answers");
        client.handle_receive(now, &alert);
        let no_reneg = Alert {
            level: 1,
            description: AlertDescription::NO_RENEGOTIATION,
        };
        assert_eq!(client.poll_event(), Some(Event::AlertReceived(no_reneg)));
        assert!(
            server.is_connected() && client.is_connected(),
            "a warning keeps the connection"
        );
        // A server's HelloRequest gets the same answer from the client.
        let d = send_protected(&mut server, msg_type::HELLO_REQUEST, &[]);
        client.handle_receive(now, &d);
        let alert = client.poll_transmit().expect("client answers");
        server.handle_receive(now, &alert);
        assert_eq!(server.poll_event(), Some(Event::AlertReceived(no_reneg)));
    }

    #[test]
    fn handshake_state_is_released_once_connected() {
        let (mut client, mut server) = pair((1, 2), |_| {});
        let now = Instant::now();
        client.connect(now);
        let mut client_flights = Vec::new();
        for _ in 0..10 {
            while let Some(d) = client.poll_transmit() {
                client_flights.push(d.clone());
                server.handle_receive(now, &d);
            }
            while let Some(d) = server.poll_transmit() {
                client.handle_receive(now, &d);
            }
        }
        assert!(client.is_connected() && server.is_connected());
        for e in [&client, &server] {
            assert_eq!(e.hs.transcript.capacity(), 0);
            assert!(e.hs.our_point.capacity() == 0 && e.hs.peer_point.capacity() == 0);
            assert!(e.hs.peer_key.is_none() && e.hs.peer_certificate.is_none());
        }
        // The peer certificate went out in the event.
        assert!(matches!(
            client.poll_event(),
            Some(Event::Connected { peer_certificate, .. }) if !peer_certificate.is_empty()
        ));
        // Keys still export identically on both sides.
        let label = "EXTRACTOR-dtls_srtp";
        assert_eq!(
            client.export_keying_material(label, 60).unwrap(),
            server.export_keying_material(label, 60).unwrap()
        );
        // The client's final flight arriving again (our last flight was lost) is still answered
        // with the server's last flight, which the client accepts as a repeat.
        let last = client_flights.last().unwrap().clone();
        let later = now + Duration::from_secs(1);
        server.handle_receive(later, &last);
        let repeat = server
            .poll_transmit()
            .expect("server repeats its last flight");
        client.handle_receive(later, &repeat);
        assert!(client.is_connected() && server.is_connected());
        // Application data still flows both ways.
        client.send_application_data(b"ping").unwrap();
        while let Some(d) = client.poll_transmit() {
            server.handle_receive(later, &d);
        }
        while let Some(e) = server.poll_event() {
            if let Event::ApplicationData(d) = e {
                assert_eq!(d, b"ping");
                return;
            }
        }
        panic!("no application data");
    }
}
