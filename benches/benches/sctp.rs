//! SCTP data channels in process: one ordered reliable channel between two endpoints, 16 KiB
//! messages (throughput) and 100-byte messages (messages per second). sansrtc's sans-IO endpoints
//! are pumped directly with a fake clock, sending with `send` (a shared `Bytes`, as the other
//! stacks take) or, in the "pooled" rows, with `send_from_slice` and every delivered message
//! handed back with `recycle` (no allocation per message); webrtc-rs `webrtc-sctp` (async, tokio) runs on a
//! current-thread runtime over an in-memory pipe; `sctp-proto` (the sans-IO SCTP engine under
//! str0m's data channels) is pumped like ours.
//!
//! The `_dtls` groups run the same transfers with every SCTP packet in a DTLS 1.2 record
//! (AES-128-GCM, after a full handshake): sansrtc-sctp inside sansrtc-dtls endpoints, and
//! webrtc-sctp on a webrtc-dtls `DTLSConn` (webrtc-rs' data-channel stack). sctp-proto has no
//! DTLS of its own (str0m brings its own), so it is not in those groups.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sansrtc_sctp::{
    ChannelConfig, DataChannelEndpoint, DataChannelEvent, DtlsRole, EndpointConfig, SeededRng,
};

struct Pair {
    now: Instant,
    e: [DataChannelEndpoint; 2],
    /// DTLS endpoints (client, server) carrying every packet, when measuring with DTLS.
    dtls: Option<[sansrtc_dtls::Endpoint; 2]>,
    received: usize,
    received_bytes: usize,
    /// One packet buffer reused for every packet.
    buf: Vec<u8>,
    /// Send with `send_from_slice` and recycle delivered messages.
    pooled: bool,
}

impl Pair {
    fn new(interleaving: bool) -> (Pair, u16) {
        Self::with_dtls(interleaving, false)
    }

    fn with_dtls(interleaving: bool, dtls: bool) -> (Pair, u16) {
        let now = Instant::now();
        let mut rng = SeededRng::new(1);
        let mk = |role, rng: &mut SeededRng| {
            let mut c = EndpointConfig::new(role);
            c.sctp.receive_window = 4 * 1024 * 1024;
            c.sctp.interleaving = interleaving;
            DataChannelEndpoint::new(c, now, rng)
        };
        let a = mk(DtlsRole::Client, &mut rng);
        let b = mk(DtlsRole::Server, &mut rng);
        let mut p = Pair {
            now,
            e: [a, b],
            dtls: dtls.then(|| dtls_pair(now)),
            received: 0,
            received_bytes: 0,
            buf: Vec::with_capacity(1500),
            pooled: false,
        };
        p.e[0].connect(now);
        p.e[1].connect(now);
        let ch = p.e[0]
            .open_channel(now, ChannelConfig::reliable("bench"))
            .unwrap();
        p.pump(|_| true);
        (p, ch)
    }

    /// Moves packets until `done` or nothing is left; advances the fake clock to the next
    /// deadline (delayed SACK) when idle.
    fn pump(&mut self, done: impl Fn(&Pair) -> bool) {
        loop {
            let mut moved = false;
            for i in 0..2 {
                while self.e[i].poll_transmit_into(self.now, &mut self.buf) {
                    match &mut self.dtls {
                        None => self.e[1 - i].handle_receive(self.now, &self.buf),
                        Some(d) => {
                            // Packet -> record -> datagram -> record -> packet.
                            d[i].send_application_data(&self.buf).unwrap();
                            while let Some(datagram) = d[i].poll_transmit() {
                                d[1 - i].handle_receive(self.now, &datagram);
                            }
                            while let Some(ev) = d[1 - i].poll_event() {
                                if let sansrtc_dtls::Event::ApplicationData(packet) = ev {
                                    self.e[1 - i].handle_receive(self.now, &packet);
                                }
                            }
                        }
                    }
                    moved = true;
                }
                while let Some(ev) = self.e[i].poll_event() {
                    if let DataChannelEvent::Message { data, .. } = ev {
                        self.received += 1;
                        self.received_bytes += data.len();
                        if self.pooled {
                            self.e[i].recycle(data);
                        }
                    }
                }
            }
            if done(self) && !moved {
                return;
            }
            if !moved {
                let Some(t) = self.e.iter().filter_map(|e| e.poll_timeout()).min() else {
                    return;
                };
                self.now = self.now.max(t) + Duration::from_micros(1);
                for e in &mut self.e {
                    e.handle_timeout(self.now);
                }
            }
        }
    }

    fn transfer(&mut self, ch: u16, count: usize, msg: &bytes::Bytes) {
        let target = self.received + count;
        for _ in 0..count {
            if self.pooled {
                self.e[0].send_from_slice(self.now, ch, msg, true).unwrap();
            } else {
                self.e[0].send(self.now, ch, msg.clone(), true).unwrap();
            }
        }
        self.pump(|p| p.received >= target);
        assert_eq!(self.received, target);
    }
}

/// A connected sansrtc-dtls client/server pair (AES-128-GCM, the WebRTC default suite).
fn dtls_pair(now: Instant) -> [sansrtc_dtls::Endpoint; 2] {
    use sansrtc_dtls::{Certificate, Config, Endpoint, HashAlgorithm, SystemRng};
    use std::sync::Arc;
    let cc = Arc::new(Certificate::generate().unwrap());
    let sc = Arc::new(Certificate::generate().unwrap());
    // DTLS 1.2, as webrtc-rs (the comparison) speaks it.
    let mut c = Config::new(cc.clone());
    c.remote_fingerprints = vec![sc.fingerprint(HashAlgorithm::Sha256)];
    c.versions = sansrtc_dtls::endpoint::Versions::Dtls12;
    let mut s = Config::new(sc.clone());
    s.remote_fingerprints = vec![cc.fingerprint(HashAlgorithm::Sha256)];
    s.versions = sansrtc_dtls::endpoint::Versions::Dtls12;
    let mut client = Endpoint::client(c, Box::new(SystemRng::default()));
    let mut server = Endpoint::server(s, Box::new(SystemRng::default()));
    client.connect(now);
    while !(client.is_connected() && server.is_connected()) {
        while let Some(d) = client.poll_transmit() {
            server.handle_receive(now, &d);
        }
        while let Some(d) = server.poll_transmit() {
            client.handle_receive(now, &d);
        }
        assert!(!client.is_closed() && !server.is_closed());
    }
    while client.poll_event().is_some() || server.poll_event().is_some() {}
    [client, server]
}

fn sansrtc_bench(c: &mut Criterion, name: &str, size: usize, count: usize) {
    let mut group = c.benchmark_group(format!("sctp_{name}"));
    if size >= 1024 {
        group.throughput(Throughput::Bytes((size * count) as u64));
    } else {
        group.throughput(Throughput::Elements(count as u64));
    }
    let msg = bytes::Bytes::from(vec![0xA5u8; size]);
    let (mut pair, ch) = Pair::new(false);
    group.bench_function("sansrtc", |b| {
        b.iter(|| pair.transfer(ch, count, black_box(&msg)))
    });
    let (mut pair, ch) = Pair::new(true);
    group.bench_function("sansrtc (I-DATA)", |b| {
        b.iter(|| pair.transfer(ch, count, black_box(&msg)))
    });
    let (mut pair, ch) = Pair::new(false);
    pair.pooled = true;
    group.bench_function("sansrtc (pooled)", |b| {
        b.iter(|| pair.transfer(ch, count, black_box(&msg)))
    });
    webrtc_sctp_bench(&mut group, size, count, false);
    let (mut proto, sid) = ProtoPair::new();
    group.bench_function("sctp-proto (str0m)", |b| {
        b.iter(|| proto.transfer(sid, count, black_box(&msg)))
    });
    group.finish();

    let mut group = c.benchmark_group(format!("sctp_{name}_dtls"));
    if size >= 1024 {
        group.throughput(Throughput::Bytes((size * count) as u64));
    } else {
        group.throughput(Throughput::Elements(count as u64));
    }
    let (mut pair, ch) = Pair::with_dtls(false, true);
    group.bench_function("sansrtc", |b| {
        b.iter(|| pair.transfer(ch, count, black_box(&msg)))
    });
    webrtc_sctp_bench(&mut group, size, count, true);
    group.finish();
}

/// webrtc-dtls 0.12 implements webrtc-util 0.11's `Conn`; webrtc-sctp 0.17 takes 0.17's (the
/// same trait, a newer crate): this forwards one to the other.
struct DtlsConn17(Arc<webrtc_dtls::conn::DTLSConn>);

fn util_err(e: webrtc_util_dtls::Error) -> webrtc_util::Error {
    webrtc_util::Error::Other(e.to_string())
}

#[async_trait::async_trait]
impl webrtc_util::Conn for DtlsConn17 {
    async fn connect(&self, addr: std::net::SocketAddr) -> webrtc_util::Result<()> {
        webrtc_util_dtls::Conn::connect(&*self.0, addr)
            .await
            .map_err(util_err)
    }
    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        webrtc_util_dtls::Conn::recv(&*self.0, buf)
            .await
            .map_err(util_err)
    }
    async fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> webrtc_util::Result<(usize, std::net::SocketAddr)> {
        webrtc_util_dtls::Conn::recv_from(&*self.0, buf)
            .await
            .map_err(util_err)
    }
    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        webrtc_util_dtls::Conn::send(&*self.0, buf)
            .await
            .map_err(util_err)
    }
    async fn send_to(
        &self,
        buf: &[u8],
        target: std::net::SocketAddr,
    ) -> webrtc_util::Result<usize> {
        webrtc_util_dtls::Conn::send_to(&*self.0, buf, target)
            .await
            .map_err(util_err)
    }
    fn local_addr(&self) -> webrtc_util::Result<std::net::SocketAddr> {
        webrtc_util_dtls::Conn::local_addr(&*self.0).map_err(util_err)
    }
    fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        webrtc_util_dtls::Conn::remote_addr(&*self.0)
    }
    async fn close(&self) -> webrtc_util::Result<()> {
        webrtc_util_dtls::Conn::close(&*self.0)
            .await
            .map_err(util_err)
    }
    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// Two connected webrtc-dtls endpoints (AES-128-GCM) over the in-memory pipe, as webrtc-util
/// 0.17 connections.
async fn webrtc_dtls_pair() -> (
    Arc<dyn webrtc_util::Conn + Send + Sync>,
    Arc<dyn webrtc_util::Conn + Send + Sync>,
) {
    use webrtc_dtls::cipher_suite::CipherSuiteId;
    use webrtc_dtls::config::{ClientAuthType, Config as WConfig, ExtendedMasterSecretType};
    use webrtc_dtls::conn::DTLSConn;
    let (a, b) = webrtc_util_dtls::conn::conn_pipe::pipe();
    let cert = |name: &str| {
        webrtc_dtls::crypto::Certificate::generate_self_signed(vec![name.to_owned()]).unwrap()
    };
    let base = |c| WConfig {
        certificates: vec![c],
        insecure_skip_verify: true,
        extended_master_secret: ExtendedMasterSecretType::Require,
        cipher_suites: vec![CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256],
        ..Default::default()
    };
    let server_cfg = WConfig {
        client_auth: ClientAuthType::RequireAnyClientCert,
        ..base(cert("server"))
    };
    let a: Arc<dyn webrtc_util_dtls::Conn + Send + Sync> = Arc::new(a);
    let b: Arc<dyn webrtc_util_dtls::Conn + Send + Sync> = Arc::new(b);
    let (client, server) = tokio::join!(
        DTLSConn::new(a, base(cert("client")), true, None),
        DTLSConn::new(b, server_cfg, false, None)
    );
    (
        Arc::new(DtlsConn17(Arc::new(client.unwrap()))),
        Arc::new(DtlsConn17(Arc::new(server.unwrap()))),
    )
}

fn webrtc_sctp_bench(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
    count: usize,
    dtls: bool,
) {
    use webrtc_sctp::association::{Association, Config};
    use webrtc_sctp::chunk::chunk_payload_data::PayloadProtocolIdentifier;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (client_stream, server_stream, _keep) = rt.block_on(async {
        let (ca, cb): (
            Arc<dyn webrtc_util::Conn + Send + Sync>,
            Arc<dyn webrtc_util::Conn + Send + Sync>,
        ) = if dtls {
            webrtc_dtls_pair().await
        } else {
            let (ca, cb) = webrtc_util::conn::conn_pipe::pipe();
            (Arc::new(ca), Arc::new(cb))
        };
        let server = tokio::spawn(async move {
            Association::server(Config {
                net_conn: cb,
                max_receive_buffer_size: 4 * 1024 * 1024,
                max_message_size: 262_144,
                name: "server".into(),
                local_port: 5000,
                remote_port: 5000,
                mtu: 1150,
            })
            .await
            .unwrap()
        });
        let client = Association::client(Config {
            net_conn: ca,
            max_receive_buffer_size: 4 * 1024 * 1024,
            max_message_size: 262_144,
            name: "client".into(),
            local_port: 5000,
            remote_port: 5000,
            mtu: 1150,
        })
        .await
        .unwrap();
        let server = server.await.unwrap();
        let cs = client
            .open_stream(1, PayloadProtocolIdentifier::Binary)
            .await
            .unwrap();
        cs.write_sctp(
            &bytes::Bytes::from_static(b"hi"),
            PayloadProtocolIdentifier::Binary,
        )
        .await
        .unwrap();
        let ss = server.accept_stream().await.unwrap();
        let mut buf = vec![0u8; 300_000];
        ss.read(&mut buf).await.unwrap();
        (cs, ss, (client, server))
    });
    let msg = bytes::Bytes::from(vec![0xA5u8; size]);
    let mut buf = vec![0u8; 300_000];
    group.bench_function("webrtc-sctp", |b| {
        b.iter(|| {
            rt.block_on(async {
                let writer = {
                    let cs = client_stream.clone();
                    let msg = msg.clone();
                    tokio::spawn(async move {
                        for _ in 0..count {
                            cs.write_sctp(&msg, PayloadProtocolIdentifier::Binary)
                                .await
                                .unwrap();
                        }
                    })
                };
                let mut got = 0;
                while got < count {
                    let n = server_stream.read(&mut buf).await.unwrap();
                    assert_eq!(n, size);
                    got += 1;
                }
                writer.await.unwrap();
            })
        })
    });
}

/// Two `sctp-proto` endpoints joined in memory, pumped with a fake clock.
struct ProtoPair {
    now: Instant,
    ep: [sctp_proto::Endpoint; 2],
    assoc: [Option<(sctp_proto::AssociationHandle, sctp_proto::Association)>; 2],
    addr: [std::net::SocketAddr; 2],
    received: usize,
}

impl ProtoPair {
    fn new() -> (ProtoPair, u16) {
        use std::sync::Arc;
        let transport = Arc::new(
            sctp_proto::TransportConfig::default()
                .with_max_receive_buffer_size(4 * 1024 * 1024)
                .with_max_send_message_size(262_144)
                .with_max_receive_message_size(262_144),
        );
        let mut server = sctp_proto::ServerConfig::new();
        server.transport = transport.clone();
        let mut client = sctp_proto::ClientConfig::new();
        client.transport = transport;
        let mut ep0 = sctp_proto::Endpoint::new(Arc::new(sctp_proto::EndpointConfig::new()), None);
        let ep1 = sctp_proto::Endpoint::new(
            Arc::new(sctp_proto::EndpointConfig::new()),
            Some(Arc::new(server)),
        );
        let addr: [std::net::SocketAddr; 2] = [
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        ];
        let a0 = ep0.connect(client, addr[1]).unwrap();
        let mut p = ProtoPair {
            now: Instant::now(),
            ep: [ep0, ep1],
            assoc: [Some(a0), None],
            addr,
            received: 0,
        };
        p.pump(|p| p.assoc[1].is_some());
        let sid = 1;
        let (_, a) = p.assoc[0].as_mut().unwrap();
        a.open_stream(sid, sctp_proto::PayloadProtocolIdentifier::Binary)
            .unwrap();
        (p, sid)
    }

    fn deliver(&mut self, to: usize, data: bytes::Bytes) {
        let from = self.addr[1 - to];
        match self.ep[to].handle(self.now, from, None, None, data) {
            Some((h, sctp_proto::DatagramEvent::NewAssociation(a))) => {
                self.assoc[to] = Some((h, a))
            }
            Some((_, sctp_proto::DatagramEvent::AssociationEvent(ev))) => {
                if let Some((_, a)) = self.assoc[to].as_mut() {
                    a.handle_event(ev);
                }
            }
            None => {}
        }
    }

    fn pump(&mut self, done: impl Fn(&ProtoPair) -> bool) {
        use sctp_proto::{Event, Payload, StreamEvent};
        loop {
            let mut moved = false;
            for i in 0..2 {
                let mut out = Vec::new();
                while let Some(t) = self.ep[i].poll_transmit() {
                    if let Payload::RawEncode(v) = t.payload {
                        out.extend(v);
                    }
                }
                if let Some((_, a)) = self.assoc[i].as_mut() {
                    while let Some(t) = a.poll_transmit(self.now) {
                        if let Payload::RawEncode(v) = t.payload {
                            out.extend(v);
                        }
                    }
                    while a.poll_endpoint_event().is_some() {}
                    while let Some(e) = a.poll() {
                        if let Event::Stream(StreamEvent::Readable { id }) = e {
                            while let Ok(mut s) = a.stream(id) {
                                match s.read_sctp() {
                                    Ok(Some(_chunks)) => self.received += 1,
                                    _ => break,
                                }
                            }
                        }
                    }
                    while a.accept_stream().is_some() {}
                }
                moved |= !out.is_empty();
                for b in out {
                    self.deliver(1 - i, b);
                }
            }
            if done(self) && !moved {
                return;
            }
            if !moved {
                let t = self
                    .assoc
                    .iter()
                    .flatten()
                    .filter_map(|(_, a)| a.poll_timeout())
                    .min();
                let Some(t) = t else { return };
                self.now = self.now.max(t) + Duration::from_micros(1);
                for (_, a) in self.assoc.iter_mut().flatten() {
                    a.handle_timeout(self.now);
                }
            }
        }
    }

    fn transfer(&mut self, sid: u16, count: usize, msg: &bytes::Bytes) {
        let target = self.received + count;
        {
            let (_, a) = self.assoc[0].as_mut().unwrap();
            let mut s = a.stream(sid).unwrap();
            for _ in 0..count {
                s.write_sctp(msg, sctp_proto::PayloadProtocolIdentifier::Binary)
                    .unwrap();
            }
        }
        self.pump(|p| p.received >= target);
        assert_eq!(self.received, target);
    }
}

fn throughput_16k(c: &mut Criterion) {
    sansrtc_bench(c, "16KiB_messages", 16 * 1024, 64);
}

fn small_messages(c: &mut Criterion) {
    sansrtc_bench(c, "100B_messages", 100, 1000);
}

criterion_group!(benches, throughput_16k, small_messages);
criterion_main!(benches);
