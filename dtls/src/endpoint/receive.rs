//! A datagram from the peer: its records by epoch and content type. Plaintext records are
//! unauthenticated, so nothing in them may end the connection: alerts are counted and ignored,
//! handshake fragments go to the reassembler (or the stateless server). Protected records are
//! opened (replay window, size limits), held while the keys do not exist yet, and delivered.

use std::time::Instant;

use super::records::Refused;
use super::{Endpoint, Event, Res, State};
use crate::codec::Reader;
use crate::error::{Alert, AlertDescription, DtlsError};
use crate::fragment::{HandshakeHeader, Inserted};
use crate::record::{self, ContentType, RecordHeader};

/// Protected records held at most while the keys do not exist yet.
const MAX_EARLY_RECORDS: usize = 8;

impl Endpoint {
    /// Every record of a datagram, then the messages that completed.
    pub(super) fn receive(&mut self, now: Instant, datagram: &[u8]) {
        if self.tls13.is_some() {
            self.with13(|c, cx| c.receive(now, datagram, cx));
            return;
        }
        if let Some(s) = self.stateless.as_mut() {
            s.verify_sent = false;
        }
        for rec in record::parse_datagram(datagram) {
            let Ok(rec) = rec else {
                self.stats.malformed += 1;
                break;
            };
            self.handle_record(now, rec.header, rec.fragment);
            if self.is_closed() {
                break;
            }
        }
        if self.records.has_read_keys() && !self.early_records.is_empty() {
            for (header, fragment) in std::mem::take(&mut self.early_records) {
                if self.is_closed() {
                    break;
                }
                self.handle_record(now, header, &fragment);
            }
        }
        if let Err(e) = self.process_messages(now) {
            self.fail(e);
        }
        // DTLS 1.3 was picked by a message of this datagram: its protected records are the 1.3
        // connection's (the hellos in it are old by now).
        if self.tls13.is_some() && !self.is_closed() {
            self.with13(|c, cx| c.receive(now, datagram, cx));
        }
    }

    fn handle_record(&mut self, now: Instant, header: RecordHeader, fragment: &[u8]) {
        let limit = match header.epoch {
            0 => record::MAX_PLAINTEXT,
            _ => record::MAX_CIPHERTEXT,
        };
        if fragment.len() > limit {
            self.stats.oversized_records += 1;
            return;
        }
        match header.epoch {
            // Plaintext: nothing in it is authenticated, so nothing in it may end the connection.
            0 => match header.content_type {
                ContentType::Handshake => {
                    if let Err(e) = self.handle_handshake_record(now, &header, fragment) {
                        self.fail(e);
                    }
                }
                ContentType::Alert => self.unauthenticated_alert(fragment),
                ContentType::ChangeCipherSpec if self.state != State::Connected => {}
                ContentType::ChangeCipherSpec | ContentType::ApplicationData => {
                    self.stats.dropped += 1;
                }
            },
            1 => self.protected_record(now, header, fragment),
            _ => self.stats.dropped += 1,
        }
    }

    /// An epoch-1 record: opened into a spare buffer, which application data hands on as is.
    fn protected_record(&mut self, now: Instant, header: RecordHeader, fragment: &[u8]) {
        let mut plain = self.outbox.buffer();
        match self.records.open(&header, fragment, &mut plain) {
            Ok(()) => {}
            Err(refused) => {
                match refused {
                    Refused::NoKeys => self.hold_early_record(header, fragment),
                    Refused::Replayed => self.stats.replayed += 1,
                    Refused::BadMac => self.stats.bad_mac += 1,
                    Refused::Oversized => self.stats.oversized_records += 1,
                }
                self.outbox.recycle(plain);
                return;
            }
        }
        let result = match header.content_type {
            ContentType::ApplicationData => {
                self.application_data(plain);
                return;
            }
            ContentType::Handshake => self.handle_handshake_record(now, &header, &plain),
            ContentType::ChangeCipherSpec => Ok(()),
            ContentType::Alert => self.handle_alert(&plain),
        };
        self.outbox.recycle(plain);
        if let Err(e) = result {
            self.fail(e);
        }
    }

    /// A protected record that arrived before the keys (reordering; anyone can send one): held,
    /// bounded in records and bytes.
    fn hold_early_record(&mut self, header: RecordHeader, fragment: &[u8]) {
        let held: usize = self.early_records.iter().map(|(_, r)| r.len()).sum();
        if self.early_records.len() < MAX_EARLY_RECORDS
            && held + fragment.len() <= self.config.max_early_data
        {
            self.early_records.push((header, fragment.to_vec()));
        } else {
            self.stats.dropped += 1;
        }
    }

    /// Authenticated application data: an event once connected, queued (bounded in records
    /// and bytes) while our side of the handshake is still finishing.
    fn application_data(&mut self, data: Vec<u8>) {
        if self.state == State::Connected {
            self.push_event(Event::ApplicationData(data));
            return;
        }
        let held: usize = self.early_data.iter().map(Vec::len).sum();
        if self.early_data.len() < self.config.max_queued
            && held + data.len() <= self.config.max_early_data
        {
            self.early_data.push(data);
        } else {
            self.stats.dropped += 1;
        }
    }

    /// A plaintext alert: counted and remembered, never acted on. A real peer that gave up
    /// stops answering, and our retransmissions end the handshake with a timeout; a forged one
    /// (anyone can send it) must not end a handshake the peer can still complete.
    fn unauthenticated_alert(&mut self, body: &[u8]) {
        let [level, description] = body[..] else {
            self.stats.malformed += 1;
            return;
        };
        self.stats.unauthenticated_alerts += 1;
        self.last_unauthenticated_alert = Some(Alert {
            level,
            description: AlertDescription(description),
        });
    }

    /// An authenticated (epoch-1) alert.
    fn handle_alert(&mut self, body: &[u8]) -> Res {
        if body.len() != 2 {
            self.stats.malformed += 1;
            return Ok(());
        }
        let alert = Alert {
            level: body[0],
            description: AlertDescription(body[1]),
        };
        self.push_event(Event::AlertReceived(alert));
        if alert.description == AlertDescription::CLOSE_NOTIFY {
            if self.state == State::Connected {
                self.send_alert(alert);
            }
            self.state = State::Closed;
            self.flight.stop();
            self.push_event(Event::Closed);
        } else if alert.level == 2 {
            self.state = State::Failed;
            self.flight.stop();
            self.push_event(Event::Failed(DtlsError::PeerAlert(alert.description)));
        }
        Ok(())
    }

    fn handle_handshake_record(
        &mut self,
        now: Instant,
        header: &RecordHeader,
        mut data: &[u8],
    ) -> Res {
        let mut peer_resent = false;
        while !data.is_empty() {
            let mut r = Reader::new(data);
            let Ok((h, body)) = HandshakeHeader::parse(&mut r) else {
                self.stats.malformed += 1;
                break;
            };
            data = r.rest();
            if self.state == State::ServerWaitHello {
                self.stateless_client_hello(now, header, &h, body)?;
                continue;
            }
            if header.epoch == 0 && self.state == State::Connected {
                // After the handshake a plaintext fragment can only be a retransmission of the
                // peer's last flight (ours was lost); nothing else of it is held.
                if self.reassembler.is_old(h.message_seq) {
                    peer_resent = true;
                } else {
                    self.stats.unexpected_handshake += 1;
                }
                continue;
            }
            match self.reassembler.insert(header.epoch, &h, body) {
                Inserted::Old => peer_resent = true,
                Inserted::Buffered => {}
                Inserted::Dropped => self.stats.dropped += 1,
            }
            self.stats.dropped += self.reassembler.take_evicted();
        }
        // RFC 6347 4.2.4: the peer repeating its last flight means ours was lost. Rate-limited
        // so that duplicated datagrams cannot make us amplify.
        if peer_resent
            && self
                .flight
                .peer_resent(now, self.config.initial_retransmit / 4)
        {
            self.stats.retransmissions += 1;
            self.transmit_flight();
        }
        // Process what completed now: the keys it installs may be needed by the next record.
        self.process_messages(now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::test_util::*;
    use super::super::{Event, State};
    use crate::fragment::{self, HandshakeHeader};
    use crate::message::msg_type;
    use crate::record::{ContentType, DTLS_1_2, RecordHeader};

    #[test]
    fn plaintext_alert_after_handshake_is_ignored() {
        let (mut client, _server) = connected_pair();
        let mut d = Vec::new();
        RecordHeader {
            content_type: ContentType::Alert,
            version: DTLS_1_2,
            epoch: 0,
            sequence: 99,
        }
        .write(2, &mut d);
        d.extend_from_slice(&[2, 40]);
        client.handle_receive(Instant::now(), &d);
        assert!(client.is_connected());
        assert_eq!(client.poll_event(), None);
        assert_eq!(client.stats().unauthenticated_alerts, 1);
    }

    #[test]
    fn records_over_the_rfc_size_limits_are_dropped() {
        let (mut client, mut server) = connected_pair();
        let now = Instant::now();
        // 2^14 bytes of plaintext is the most a record may carry (RFC 5246 6.2.1).
        let max = sealed(&mut client, ContentType::ApplicationData, &[1; 16384]);
        server.handle_receive(now, &max);
        assert!(matches!(server.poll_event(), Some(Event::ApplicationData(d)) if d.len() == 16384));
        let over = sealed(&mut client, ContentType::ApplicationData, &[1; 16385]);
        server.handle_receive(now, &over);
        assert!(server.poll_event().is_none(), "2^14 + 1 bytes of plaintext");
        assert_eq!(server.stats().oversized_records, 1);
        // A ciphertext over 2^14 + 2048 bytes is dropped before it is decrypted.
        let huge = sealed(&mut client, ContentType::ApplicationData, &[1; 18_500]);
        server.handle_receive(now, &huge);
        assert!(server.poll_event().is_none());
        assert_eq!(server.stats().bad_mac, 0);
        assert_eq!(server.stats().oversized_records, 2);
        // A plaintext record over 2^14 bytes, in a handshake state.
        let mut server = server_after_cookie();
        let mut d = Vec::new();
        RecordHeader {
            content_type: ContentType::Handshake,
            version: DTLS_1_2,
            epoch: 0,
            sequence: 9,
        }
        .write(16385, &mut d);
        let mut body = Vec::new();
        HandshakeHeader {
            msg_type: msg_type::CERTIFICATE,
            length: 16385 - fragment::HEADER_LEN as u32,
            message_seq: 1,
            fragment_offset: 0,
            fragment_length: 16385 - fragment::HEADER_LEN as u32,
        }
        .write(&mut body);
        body.resize(16385, 0);
        d.extend_from_slice(&body);
        let held = server.reassembler.held();
        server.handle_receive(now, &d);
        assert_eq!(server.reassembler.held(), held, "not buffered");
        assert_eq!(server.stats().oversized_records, 1);
        assert_eq!(server.state, State::ServerWaitCertificate);
    }

    #[test]
    fn records_waiting_for_keys_are_bounded_in_bytes() {
        // Epoch-1 records before the keys exist (anyone can send them) are held for reordering,
        // a few kilobytes at most.
        let mut server = server();
        let now = Instant::now();
        for i in 0..8u64 {
            let mut d = Vec::new();
            RecordHeader {
                content_type: ContentType::ApplicationData,
                version: DTLS_1_2,
                epoch: 1,
                sequence: i,
            }
            .write(16_000, &mut d);
            d.resize(d.len() + 16_000, 0);
            server.handle_receive(now, &d);
        }
        let held: usize = server.early_records.iter().map(|(_, r)| r.len()).sum();
        assert!(held <= 16 * 1024, "{held}");
        assert!(server.stats().dropped >= 7);
    }

    #[test]
    fn early_application_data_is_bounded_in_bytes() {
        // The server finished first; its application data reaches the client before the
        // server's Finished does, and is held only up to a bound in bytes.
        let (mut client, mut server) = pair((1, 2), |_| {});
        let now = Instant::now();
        client.connect(now);
        let mut flight6 = Vec::new();
        for _ in 0..4 {
            for d in drain(&mut client) {
                server.handle_receive(now, &d);
            }
            if server.is_connected() {
                flight6 = drain(&mut server);
                break;
            }
            for d in drain(&mut server) {
                client.handle_receive(now, &d);
            }
        }
        assert!(server.is_connected() && !client.is_connected());
        for _ in 0..10 {
            server.send_application_data(&[5; 16384]).unwrap();
            let d = server.poll_transmit().unwrap();
            client.handle_receive(now, &d);
        }
        let held: usize = client.early_data.iter().map(Vec::len).sum();
        assert!(held <= 16 * 1024, "{held}");
        for d in flight6 {
            client.handle_receive(now, &d);
        }
        assert!(client.is_connected());
        let data = std::iter::from_fn(|| client.poll_event())
            .filter(|e| matches!(e, Event::ApplicationData(_)))
            .count();
        assert_eq!(data, 1);
        assert_eq!(client.stats().dropped, 9);
    }
}
