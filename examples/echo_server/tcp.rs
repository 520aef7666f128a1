//! ICE-TCP (RFC 6544): the passive TCP candidate's listening socket, on the UDP socket's port
//! number, for browsers whose network blocks UDP. Every accepted stream is read without
//! blocking and split into RFC 4571 frames by the library's [`Deframer`]; each frame is a
//! packet from the stream's peer address, routed and handled like a UDP datagram but marked
//! [`Transport::Tcp`]. What a session sends marked TCP is written, framed, on the stream
//! accepted from its destination.
//!
//! Limits: at most [`MAX_STREAMS`] streams at once (more are closed at once), frames of at most
//! [`MAX_FRAME`] bytes (a peer announcing more has its stream dropped, as on any framing
//! error), and at most [`MAX_PENDING`] bytes waiting to be written per stream (a peer that does
//! not read has its stream dropped). A stream is dropped when its peer closes it, and when no
//! frame of it reached a session for [`IDLE`] (a live connection's consent checks come every
//! few seconds; this keeps idle connections, and strangers writing frames no session takes,
//! from holding the stream slots).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::time::{Duration, Instant};

use sansrtc::framing::{Deframer, frame_header};

/// Streams accepted at most at once.
pub(crate) const MAX_STREAMS: usize = 256;
/// The largest frame accepted (DTLS records, SCTP packets and RTP are far smaller).
pub(crate) const MAX_FRAME: usize = 16 * 1024;
/// Bytes waiting to be written on one stream at most.
pub(crate) const MAX_PENDING: usize = 1 << 20;
/// A stream without a frame a session took for this long is closed.
pub(crate) const IDLE: Duration = Duration::from_secs(30);

/// One accepted stream.
struct Conn {
    stream: TcpStream,
    deframer: Deframer,
    /// Framed bytes the kernel had no room for yet.
    pending: Vec<u8>,
    /// When a frame of it last reached a session (or when it was accepted).
    last_routed: Instant,
}

/// Frames read in one round: (peer, range in `data`); the buffers are reused round after
/// round, nothing is allocated per frame.
#[derive(Default)]
pub(crate) struct Frames {
    frames: Vec<(SocketAddr, Range<usize>)>,
    data: Vec<u8>,
}

impl Frames {
    /// Each frame with the address of the stream's peer.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.frames
            .iter()
            .map(|(peer, range)| (*peer, &self.data[range.clone()]))
    }
}

/// The listening socket and the streams it accepted, by peer address.
pub(crate) struct TcpStreams {
    listener: TcpListener,
    streams: HashMap<SocketAddr, Conn>,
    read: Frames,
    /// Streams dropped for a framing error, a write backlog or the limit.
    pub(crate) dropped: u64,
    pub(crate) accepted: u64,
}

impl TcpStreams {
    /// Listens on `local` (the UDP socket's address).
    pub(crate) fn bind(local: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(local)?;
        listener.set_nonblocking(true)?;
        Ok(TcpStreams {
            listener,
            streams: HashMap::new(),
            read: Frames::default(),
            dropped: 0,
            accepted: 0,
        })
    }

    /// Streams open.
    pub(crate) fn len(&self) -> usize {
        self.streams.len()
    }

    /// Accepts pending connections and reads every stream: the complete frames are then in
    /// [`TcpStreams::take_frames`].
    pub(crate) fn poll(&mut self, buf: &mut [u8]) {
        self.accept();
        let Frames { frames, data } = &mut self.read;
        frames.clear();
        data.clear();
        let mut gone = Vec::new();
        let now = Instant::now();
        for (&peer, conn) in &mut self.streams {
            if !conn.flush() || now >= conn.last_routed + IDLE {
                gone.push(peer);
                continue;
            }
            loop {
                let n = match conn.stream.read(buf) {
                    Ok(0) => {
                        gone.push(peer);
                        break;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => {
                        gone.push(peer);
                        break;
                    }
                };
                let mut input = &buf[..n];
                let mut broken = false;
                while !input.is_empty() && !broken {
                    let used = conn.deframer.push(input);
                    input = &input[used..];
                    loop {
                        match conn.deframer.next_frame() {
                            Ok(Some(frame)) => {
                                let start = data.len();
                                data.extend_from_slice(frame);
                                frames.push((peer, start..data.len()));
                            }
                            Ok(None) => break,
                            Err(e) => {
                                eprintln!("ICE-TCP stream from {peer}: {e}; dropped");
                                broken = true;
                                break;
                            }
                        }
                    }
                }
                if broken {
                    gone.push(peer);
                    self.dropped += 1;
                    break;
                }
                if n < buf.len() {
                    break;
                }
            }
        }
        for peer in gone {
            self.streams.remove(&peer);
        }
    }

    /// The frames the last [`TcpStreams::poll`] read (give them back when handled).
    pub(crate) fn take_frames(&mut self) -> Frames {
        std::mem::take(&mut self.read)
    }

    /// A frame of the stream from `peer` reached a session at `now`: the stream is in use.
    pub(crate) fn routed(&mut self, peer: SocketAddr, now: Instant) {
        if let Some(conn) = self.streams.get_mut(&peer) {
            conn.last_routed = now;
        }
    }

    /// Returns the buffers of [`TcpStreams::take_frames`] for reuse.
    pub(crate) fn give_back(&mut self, frames: Frames) {
        self.read = frames;
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if self.streams.len() >= MAX_STREAMS || stream.set_nonblocking(true).is_err() {
                        self.dropped += 1;
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    self.accepted += 1;
                    self.streams.insert(
                        peer,
                        Conn {
                            stream,
                            deframer: Deframer::with_max_frame_len(MAX_FRAME),
                            pending: Vec::new(),
                            last_routed: Instant::now(),
                        },
                    );
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }

    /// Writes `packet` as one frame on the stream accepted from `to` (dropped if there is no
    /// such stream any more).
    pub(crate) fn send(&mut self, to: SocketAddr, packet: &[u8]) {
        let Some(conn) = self.streams.get_mut(&to) else {
            return;
        };
        let Ok(header) = frame_header(packet.len()) else {
            return;
        };
        if conn.pending.len() + header.len() + packet.len() > MAX_PENDING {
            eprintln!("ICE-TCP stream to {to}: the peer does not read; dropped");
            self.streams.remove(&to);
            self.dropped += 1;
            return;
        }
        conn.pending.extend_from_slice(&header);
        conn.pending.extend_from_slice(packet);
        if !conn.flush() {
            self.streams.remove(&to);
        }
    }
}

impl Conn {
    /// Writes what is pending as far as the kernel takes it; false if the stream broke.
    fn flush(&mut self) -> bool {
        let mut written = 0;
        while written < self.pending.len() {
            match self.stream.write(&self.pending[written..]) {
                Ok(0) => return false,
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        self.pending.drain(..written);
        true
    }
}
