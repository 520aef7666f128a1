//! ICE-TCP (RFC 6544) for an [`Endpoint`](crate::Endpoint): the passive candidate's listening
//! socket and the streams it accepted from browsers whose network blocks UDP.
//!
//! Each accepted stream gets a reader task, which splits it into RFC 4571 frames with the
//! library's [`Deframer`] and hands them to the endpoint's task (a bounded queue: a fast peer
//! waits, as TCP flow control makes it), and a writer task, which writes what the connections
//! send marked [`sansrtc::Transport::Tcp`] as frames on the stream accepted from the
//! destination. The endpoint's task routes each frame like a UDP datagram, over TCP.
//!
//! Limits: at most [`MAX_STREAMS`] streams at once by default
//! ([`crate::EndpointConfig::max_tcp_streams`]; a new one then takes the place of a stream no
//! routed frame came on for [`IDLE`], or is closed at once: frames no connection claims do not
//! keep a stream, so a stranger cannot hold the slots with garbage); frames of at most [`MAX_FRAME`] bytes
//! (a peer announcing more loses its stream); at most [`WRITE_QUEUE`] frames waiting to be
//! written per stream (more are dropped, as a full UDP socket would: the protocols above
//! resend what matters); a stream is gone when its peer closes it or breaks the framing.
//! Unlike the UDP path, each received frame is copied once into a buffer of its own (the
//! hand-over from the reader task).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sansrtc::PacketBuf;
use sansrtc::framing::{Deframer, frame_header};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Streams accepted at most at once, by default.
pub(crate) const MAX_STREAMS: usize = 1024;
/// The largest frame accepted (DTLS records, SCTP packets and RTP are far smaller).
pub(crate) const MAX_FRAME: usize = 16 * 1024;
/// Frames waiting to be written on one stream at most.
pub(crate) const WRITE_QUEUE: usize = 256;
/// Frames read from all streams waiting for the endpoint's task at most.
pub(crate) const INPUT_QUEUE: usize = 1024;
/// A stream without a routed frame for this long may be closed for a new one.
pub(crate) const IDLE: Duration = Duration::from_secs(30);

/// What the reader tasks tell the endpoint's task: a frame from the stream `id` accepted from
/// the address, or its end.
pub(crate) enum Input {
    Frame(SocketAddr, u64, Vec<u8>),
    Closed(SocketAddr, u64),
}

/// One accepted stream.
struct Stream {
    id: u64,
    writer: mpsc::Sender<PacketBuf>,
    reader_task: JoinHandle<()>,
    writer_task: JoinHandle<()>,
    /// When a frame of it last reached a connection (or when it was accepted).
    last_routed: Instant,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.reader_task.abort();
        self.writer_task.abort();
    }
}

/// The streams of the endpoint's TCP listener, by peer address.
pub(crate) struct Streams {
    streams: HashMap<SocketAddr, Stream>,
    inputs: mpsc::Sender<Input>,
    next_id: u64,
    max_streams: usize,
}

impl Streams {
    /// No streams yet, at most `max_streams` at once; the readers will send to `inputs`.
    pub(crate) fn new(inputs: mpsc::Sender<Input>, max_streams: usize) -> Self {
        Streams {
            streams: HashMap::new(),
            inputs,
            next_id: 0,
            max_streams,
        }
    }

    /// Streams open now.
    pub(crate) fn len(&self) -> usize {
        self.streams.len()
    }

    /// Takes a stream accepted from `peer`; `false` when refused (the limit, every stream
    /// busy). Must run inside the tokio runtime (spawns its two tasks).
    pub(crate) fn add(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) -> bool {
        if self.streams.len() >= self.max_streams && !self.streams.contains_key(&peer) {
            let idle: Vec<SocketAddr> = self
                .streams
                .iter()
                .filter(|(_, s)| now.saturating_duration_since(s.last_routed) >= IDLE)
                .map(|(a, _)| *a)
                .collect();
            for a in idle {
                self.streams.remove(&a);
            }
            if self.streams.len() >= self.max_streams {
                return false;
            }
        }
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let id = self.next_id;
        self.next_id += 1;
        let (writer, queue) = mpsc::channel(WRITE_QUEUE);
        let reader_task = tokio::spawn(read_frames(read, peer, id, self.inputs.clone()));
        let writer_task = tokio::spawn(write_frames(write, queue));
        // A stream from the same address replaces the old one (dropping it ends its tasks).
        self.streams.insert(
            peer,
            Stream {
                id,
                writer,
                reader_task,
                writer_task,
                last_routed: now,
            },
        );
        true
    }

    /// Whether stream `id` from `peer` is still the one kept (a frame read from a stream
    /// replaced or closed since is dropped).
    pub(crate) fn is_current(&self, peer: SocketAddr, id: u64) -> bool {
        self.streams.get(&peer).is_some_and(|s| s.id == id)
    }

    /// A frame of stream `id` from `peer` reached a connection: the stream is in use.
    pub(crate) fn routed(&mut self, peer: SocketAddr, id: u64, now: Instant) {
        if let Some(s) = self.streams.get_mut(&peer)
            && s.id == id
        {
            s.last_routed = now;
        }
    }

    /// Stream `id` from `peer` ended.
    pub(crate) fn closed(&mut self, peer: SocketAddr, id: u64) {
        if self.streams.get(&peer).is_some_and(|s| s.id == id) {
            self.streams.remove(&peer);
        }
    }

    /// Queues `contents` as a frame on the stream from `destination`; `false` when there is
    /// no such stream or its queue is full (dropped).
    pub(crate) fn send(&mut self, destination: SocketAddr, contents: PacketBuf) -> bool {
        match self.streams.get(&destination) {
            Some(s) => s.writer.try_send(contents).is_ok(),
            None => false,
        }
    }
}

/// Reads frames from `read` until it ends or breaks the framing.
async fn read_frames(mut read: OwnedReadHalf, peer: SocketAddr, id: u64, to: mpsc::Sender<Input>) {
    let mut deframer = Deframer::with_max_frame_len(MAX_FRAME);
    let mut buf = vec![0u8; 16 * 1024];
    'stream: loop {
        let n = match read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let used = deframer.push(rest);
            rest = &rest[used..];
            loop {
                match deframer.next_frame() {
                    Ok(Some(frame)) => {
                        if to
                            .send(Input::Frame(peer, id, frame.to_vec()))
                            .await
                            .is_err()
                        {
                            return; // the endpoint is gone
                        }
                    }
                    Ok(None) => break,
                    Err(_) => break 'stream,
                }
            }
        }
    }
    let _ = to.send(Input::Closed(peer, id)).await;
}

/// Writes each queued packet as one frame, flushing when the queue is empty.
async fn write_frames(write: OwnedWriteHalf, mut queue: mpsc::Receiver<PacketBuf>) {
    let mut write = BufWriter::new(write);
    while let Some(packet) = queue.recv().await {
        let Ok(header) = frame_header(packet.len()) else {
            continue;
        };
        if write.write_all(&header).await.is_err() || write.write_all(&packet).await.is_err() {
            return;
        }
        drop(packet);
        if queue.is_empty() && write.flush().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A stream accepted on `listener`: the client's end (kept open), the server's, and the
    /// client's address.
    async fn accepted(listener: &TcpListener) -> (TcpStream, TcpStream, SocketAddr) {
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        (client, server, peer)
    }

    #[tokio::test]
    async fn the_stream_limit_holds_and_only_routed_frames_keep_a_stream() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (inputs, _frames) = mpsc::channel(16);
        let mut streams = Streams::new(inputs, 2);
        let t0 = Instant::now();
        let (_c1, s1, used) = accepted(&listener).await;
        let (_c2, s2, garbage) = accepted(&listener).await;
        assert!(streams.add(s1, used, t0));
        assert!(streams.add(s2, garbage, t0));
        // Both slots taken by fresh streams: a third is refused.
        let (_c3, s3, third) = accepted(&listener).await;
        assert!(!streams.add(s3, third, t0 + IDLE / 2));
        assert_eq!(streams.len(), 2);
        assert!(!streams.is_current(third, 2));
        // One stream carries frames a connection takes; the other only frames nobody
        // claims (its reads are checked with `is_current`, never marked routed).
        streams.routed(used, 0, t0 + IDLE / 2);
        assert!(streams.is_current(garbage, 1));
        // Past IDLE since the second stream's last routed frame (it never had one): a new
        // stream takes its place; the stream in use stays.
        let (_c4, s4, fourth) = accepted(&listener).await;
        assert!(streams.add(s4, fourth, t0 + IDLE + Duration::from_secs(1)));
        assert_eq!(streams.len(), 2);
        assert!(streams.is_current(used, 0));
        assert!(!streams.is_current(garbage, 1));
        assert!(streams.is_current(fourth, 2));
        // A frame read from a stream that was replaced does not revive it.
        streams.routed(garbage, 1, t0 + IDLE * 2);
        assert!(!streams.is_current(garbage, 1));
    }
}
