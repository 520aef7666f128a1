//! A WebRTC echo server for browsers. Signalling is WHIP-style (RFC 9725): `POST /whip` with an SDP
//! offer (`application/sdp`, non-trickle) answers `201 Created` with the SDP answer. Every data
//! channel message is echoed on the channel it came on; RTP from the browser is sent back.
//! `POST /offer` makes our peer the offerer (data channel only): `201` with our offer and
//! `Location: /answer/<session>`, where the browser POSTs its answer; we then open channel `echo`.
//! `GET /` serves a small page with a chat box that talks to the server.
//!
//! `cargo run --release --example echo_server -- --http 127.0.0.1:8080 --udp 127.0.0.1:0`
//! (`--passive` answers `a=setup:passive`, making the browser the DTLS client;
//! `--srtp-profile SRTP_...` and `--cipher-suite TLS_...` accept only that SRTP profile or DTLS
//! cipher suite, by IANA name.)
//!
//! The HTTP side is `tiny_http` on its own thread; the WebRTC side runs on the main thread with one
//! UDP socket shared by every peer connection (datagrams are routed by source address, learned
//! from the STUN USERNAME of the first check).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sansrtc::ice::stun::StunMessage;
use sansrtc::sdp::jsep::{Codec, Feedback, MediaKind, Transceiver};
use sansrtc::sdp::{Direction, Setup};
use sansrtc::{ChannelConfig, Config, Event, PeerConnection, SdpType};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>sansrtc echo</title>
<h1>sansrtc echo</h1><p>Your camera, looped back by the server:</p><video id="v" autoplay playsinline muted width="320"></video>
<p><input id="msg" value="hello"><button id="send">send</button></p><pre id="log"></pre>
<script>
const log = (t) => document.getElementById('log').textContent += t + '\n';
(async () => {
  const pc = new RTCPeerConnection();
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    for (const t of stream.getAudioTracks()) pc.addTrack(t, stream);
    for (const t of stream.getVideoTracks()) pc.addTrack(t, stream);
  } catch (e) { log('no camera: ' + e); }
  pc.ontrack = (e) => { if (e.track.kind === 'video') document.getElementById('v').srcObject = new MediaStream([e.track]); };
  const dc = pc.createDataChannel('chat');
  dc.onmessage = (e) => log('echo: ' + e.data);
  dc.onopen = () => log('open');
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); });
  const res = await fetch('/whip', { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
  document.getElementById('send').onclick = () => dc.send(document.getElementById('msg').value);
})();
</script>"#;

/// What the HTTP thread asks of the WebRTC loop.
enum Request {
    /// WHIP: answer this offer.
    Whip(String),
    /// Our peer offers (`POST /offer`): reply `"<session>\n<offer>"`.
    MakeOffer,
    /// The browser's answer to the offer of a session (`POST /answer/<session>`).
    Answer(usize, String),
}

/// A request and where to put the reply.
type Offer = (Request, mpsc::Sender<Result<String, String>>);

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// Keeps only loopback candidates (the browser also lists other interfaces).
fn loopback_only(sdp: &str) -> String {
    sdp.split("\r\n")
        .filter(|l| {
            !l.starts_with("a=candidate:")
                || l.split(' ')
                    .nth(4)
                    .is_some_and(|ip| ip == "127.0.0.1" || ip == "::1")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Adds an audio and a video transceiver that send on `ssrcs` (signalled with `a=ssrc`).
fn transceivers(pc: &mut PeerConnection, ssrcs: [u32; 2]) {
    let fb = |c: Codec| {
        c.feedback(Feedback::new("nack"))
            .feedback(Feedback::with("nack", "pli"))
            .feedback(Feedback::with("ccm", "fir"))
    };
    let mut audio = Transceiver::new(
        MediaKind::Audio,
        Direction::SendRecv,
        vec![Codec::new(111, "opus", 48000, Some(2)).fmtp("minptime=10;useinbandfec=1")],
    );
    let mut video = Transceiver::new(
        MediaKind::Video,
        Direction::SendRecv,
        vec![
            fb(Codec::new(96, "VP8", 90000, None)),
            fb(Codec::new(102, "H264", 90000, None)
                .fmtp("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f")),
        ],
    );
    for (t, (ssrc, name)) in [&mut audio, &mut video]
        .into_iter()
        .zip(ssrcs.into_iter().zip(["audio", "video"]))
    {
        t.send_ssrcs = Some((ssrc, None));
        t.cname = Some("sansrtc-echo".into());
        t.msid = Some(("echo".into(), name.into()));
    }
    pc.add_transceiver(audio);
    pc.add_transceiver(video);
}

/// The default config, limited to the `--srtp-profile` and `--cipher-suite` given, if any.
fn base_config() -> Config {
    use sansrtc::dtls::{CipherSuite, SrtpProfile};
    let mut config = Config::default();
    let profile = arg("--srtp-profile", "");
    let profiles = [
        (
            "SRTP_AES128_CM_HMAC_SHA1_80",
            SrtpProfile::Aes128CmHmacSha1_80,
        ),
        (
            "SRTP_AES128_CM_HMAC_SHA1_32",
            SrtpProfile::Aes128CmHmacSha1_32,
        ),
        ("SRTP_AEAD_AES_128_GCM", SrtpProfile::AeadAes128Gcm),
        ("SRTP_AEAD_AES_256_GCM", SrtpProfile::AeadAes256Gcm),
    ];
    if let Some((_, p)) = profiles.iter().find(|(name, _)| *name == profile) {
        config.srtp_profiles = vec![*p];
    }
    let suite = arg("--cipher-suite", "");
    let suites = [
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            CipherSuite::EcdheEcdsaAes128GcmSha256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            CipherSuite::EcdheEcdsaAes256GcmSha384,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            CipherSuite::EcdheEcdsaChacha20Poly1305Sha256,
        ),
    ];
    if let Some((_, s)) = suites.iter().find(|(name, _)| *name == suite) {
        config.cipher_suites = vec![*s];
    }
    config
}

fn main() {
    let http = arg("--http", "127.0.0.1:8080");
    let udp = arg("--udp", "127.0.0.1:0");
    let passive = std::env::args().any(|a| a == "--passive");
    let socket = UdpSocket::bind(&udp).expect("bind UDP");
    socket
        .set_read_timeout(Some(Duration::from_millis(2)))
        .expect("read timeout");
    let local = socket.local_addr().expect("local addr");
    let server = tiny_http::Server::http(&http).expect("bind HTTP");
    let http_addr = server.server_addr().to_ip().expect("ip address");
    println!("echo server: http://{http_addr}/ (WHIP: POST /whip), UDP {local}");

    let (offers_tx, offers_rx) = mpsc::channel::<Offer>();
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let response = match (request.method(), request.url()) {
                (tiny_http::Method::Get, "/") => tiny_http::Response::from_string(PAGE)
                    .with_header(
                        "Content-Type: text/html; charset=utf-8"
                            .parse::<tiny_http::Header>()
                            .expect("static header"),
                    ),
                (tiny_http::Method::Post, "/offer") => {
                    let (tx, rx) = mpsc::channel();
                    let _ = offers_tx.send((Request::MakeOffer, tx));
                    match rx.recv_timeout(Duration::from_secs(5)) {
                        Ok(Ok(reply)) => {
                            let (session, offer) = reply.split_once('\n').unwrap_or(("0", ""));
                            tiny_http::Response::from_string(offer)
                                .with_status_code(201)
                                .with_header(
                                    format!("Location: /answer/{session}")
                                        .parse::<tiny_http::Header>()
                                        .expect("ascii header"),
                                )
                        }
                        _ => tiny_http::Response::from_string("failed").with_status_code(500),
                    }
                }
                (tiny_http::Method::Post, url) if url.starts_with("/answer/") => {
                    let session = url["/answer/".len()..].parse().unwrap_or(usize::MAX);
                    let mut body = String::new();
                    let _ = std::io::Read::read_to_string(request.as_reader(), &mut body);
                    let (tx, rx) = mpsc::channel();
                    let _ = offers_tx.send((Request::Answer(session, body), tx));
                    match rx.recv_timeout(Duration::from_secs(5)) {
                        Ok(Ok(_)) => tiny_http::Response::from_string("").with_status_code(204),
                        Ok(Err(e)) => tiny_http::Response::from_string(e).with_status_code(400),
                        Err(_) => tiny_http::Response::from_string("timeout").with_status_code(503),
                    }
                }
                (tiny_http::Method::Post, "/whip") => {
                    let mut body = String::new();
                    let _ = std::io::Read::read_to_string(request.as_reader(), &mut body);
                    let (tx, rx) = mpsc::channel();
                    let _ = offers_tx.send((Request::Whip(body), tx));
                    match rx.recv_timeout(Duration::from_secs(5)) {
                        Ok(Ok(answer)) => tiny_http::Response::from_string(answer)
                            .with_status_code(201)
                            .with_header(
                                "Content-Type: application/sdp"
                                    .parse::<tiny_http::Header>()
                                    .expect("static header"),
                            )
                            .with_header(
                                "Location: /whip/session"
                                    .parse::<tiny_http::Header>()
                                    .expect("static header"),
                            ),
                        Ok(Err(e)) => tiny_http::Response::from_string(e).with_status_code(400),
                        Err(_) => tiny_http::Response::from_string("timeout").with_status_code(503),
                    }
                }
                _ => tiny_http::Response::from_string("not found").with_status_code(404),
            };
            let _ = request.respond(response);
        }
    });

    let mut pcs: Vec<PeerConnection> = Vec::new();
    // Per connection: mid -> the SSRC we send that section's echo on.
    let mut echo_ssrcs: Vec<HashMap<String, u32>> = Vec::new();
    let mut next_ssrc: u32 = 0x5EC0_0001;
    let mut routes: HashMap<SocketAddr, usize> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let debug = std::env::var_os("SANSRTC_ECHO_DEBUG").is_some();
    let mut next_debug = Instant::now();
    loop {
        while let Ok((request, reply)) = offers_rx.try_recv() {
            let now = Instant::now();
            let offer = match request {
                Request::Whip(offer) => offer,
                Request::MakeOffer => {
                    let result = PeerConnection::new(base_config())
                        .and_then(|mut pc| {
                            pc.add_local_address(local);
                            let offer = pc.create_offer(now)?;
                            Ok((pc, offer))
                        })
                        .map_err(|e| e.to_string());
                    let _ = reply.send(result.map(|(pc, offer)| {
                        pcs.push(pc);
                        echo_ssrcs.push(HashMap::new());
                        format!("{}\n{offer}", pcs.len() - 1)
                    }));
                    continue;
                }
                Request::Answer(session, answer) => {
                    let result = match pcs.get_mut(session) {
                        Some(pc) => pc
                            .set_remote_description(now, SdpType::Answer, &loopback_only(&answer))
                            .and_then(|()| {
                                pc.create_data_channel(now, ChannelConfig::reliable("echo"))
                            })
                            .map(|_| String::new())
                            .map_err(|e| e.to_string()),
                        None => Err("no such session".to_string()),
                    };
                    let _ = reply.send(result);
                    continue;
                }
            };
            if std::env::var_os("SANSRTC_ECHO_DEBUG").is_some() {
                eprintln!("offer:\n{offer}");
            }
            let result = (|| {
                let config = Config {
                    answer_setup: if passive {
                        Setup::Passive
                    } else {
                        Setup::Active
                    },
                    ..base_config()
                };
                let mut pc = PeerConnection::new(config).map_err(|e| e.to_string())?;
                pc.add_local_address(local);
                transceivers(&mut pc, [next_ssrc, next_ssrc + 1]);
                pc.set_remote_description(now, SdpType::Offer, &loopback_only(&offer))
                    .map_err(|e| e.to_string())?;
                let answer = pc.create_answer().map_err(|e| e.to_string())?;
                Ok::<_, String>((pc, answer))
            })();
            match result {
                Ok((pc, answer)) => {
                    // Our transceivers took the offer's audio and video sections in order.
                    let map: HashMap<String, u32> = (next_ssrc..)
                        .zip(pc.media_mids().iter())
                        .map(|(ssrc, mid)| (mid.clone(), ssrc))
                        .collect();
                    next_ssrc += 2;
                    echo_ssrcs.push(map);
                    pcs.push(pc);
                    let _ = reply.send(Ok(answer));
                }
                Err(e) => {
                    eprintln!("offer refused: {e}");
                    let _ = reply.send(Err(e));
                }
            }
        }
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let data = &buf[..n];
                let index = routes.get(&from).copied().or_else(|| {
                    let user = StunMessage::parse(data).ok()?.username()?.to_owned();
                    let ufrag = user.split(':').next()?;
                    let i = pcs.iter().position(|p| p.local_ufrag() == ufrag)?;
                    routes.insert(from, i);
                    Some(i)
                });
                if let Some(i) = index {
                    pcs[i].handle_receive(Instant::now(), from, local, data);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => eprintln!("recv: {e}"),
        }
        let now = Instant::now();
        if debug && now >= next_debug {
            next_debug = now + Duration::from_secs(1);
            for pc in &pcs {
                eprintln!("{pc:?} dtls {:?}", pc.dtls_stats());
            }
        }
        for (i, (pc, ssrcs)) in pcs.iter_mut().zip(&echo_ssrcs).enumerate() {
            if pc.poll_timeout().is_some_and(|t| t <= now) {
                pc.handle_timeout(now);
            }
            while let Some(e) = pc.poll_event() {
                match e {
                    Event::DataChannelMessage { id, data, binary } => {
                        let _ = pc.send_data(now, id, &data, binary);
                    }
                    Event::Rtp {
                        mut packet,
                        mid: Some(mid),
                    } => {
                        // Loop the browser's media back on our own SSRC for that section.
                        if let Some(&ssrc) = ssrcs.get(&mid)
                            && packet.len() >= 12
                        {
                            packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
                            let _ = pc.send_rtp(now, &packet);
                        }
                    }
                    Event::ConnectionStateChange(s) => println!("connection {s:?}"),
                    Event::DataChannelOpen { id, label, .. } => {
                        println!("data channel {id} {label:?} open")
                    }
                    _ => {}
                }
            }
            while let Some(t) = pc.poll_transmit() {
                // Also route what comes back from where we send: the answer to our first
                // connectivity check (a STUN response has no USERNAME) may arrive first.
                routes.entry(t.destination).or_insert(i);
                let _ = socket.send_to(&t.contents, t.destination);
            }
        }
    }
}
