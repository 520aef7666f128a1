//! Tracks: received RTP as a stream per track ([`RtpReceiver`]), and a writer of RTP on a
//! transceiver ([`RtpWriter`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use sansrtc::{Mid, RtpReceived, RtpWrite};
use tokio::sync::mpsc;

use crate::endpoint::{Command, run_job};
use crate::error::Error;

/// The RTP packets received on one track (m-section), decrypted, in arrival order: from
/// [`crate::Connection::rtp_receiver`]. Also a [`futures_core::Stream`].
///
/// Packets wait in a bounded queue ([`crate::EndpointConfig::rtp_capacity`]); when it is
/// full, newer packets are **dropped** (counted in [`crate::EndpointStats::rtp_dropped`]).
///
/// [`RtpReceiver::recv`] is cancel safe.
#[derive(Debug)]
pub struct RtpReceiver {
    mid: Mid,
    packets: mpsc::Receiver<RtpReceived>,
}

impl RtpReceiver {
    pub(crate) fn new(mid: Mid, packets: mpsc::Receiver<RtpReceived>) -> Self {
        RtpReceiver { mid, packets }
    }

    /// The track.
    pub fn mid(&self) -> Mid {
        self.mid
    }

    /// The next packet; `None` once the connection is gone (or another receiver took the
    /// track over). Cancel safe.
    pub async fn recv(&mut self) -> Option<RtpReceived> {
        self.packets.recv().await
    }

    /// Polls for the next packet (as [`RtpReceiver::recv`]).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<RtpReceived>> {
        self.packets.poll_recv(cx)
    }
}

impl futures_core::Stream for RtpReceiver {
    type Item = RtpReceived;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RtpReceived>> {
        self.get_mut().packets.poll_recv(cx)
    }
}

/// Sends RTP on one track (our side of a transceiver): from
/// [`crate::Connection::rtp_writer`]. The connection fills in SSRC, sequence number and the
/// negotiated header extensions, and encrypts ([`sansrtc::PeerConnection::write_rtp`]).
///
/// Each write waits for room in the endpoint's call queue (backpressure) and for the result.
/// Not cancel safe: a write cancelled after it reached the task is sent anyway.
#[derive(Debug, Clone)]
pub struct RtpWriter {
    conn: u64,
    mid: Mid,
    commands: mpsc::Sender<Command>,
}

impl RtpWriter {
    pub(crate) fn new(conn: u64, mid: Mid, commands: mpsc::Sender<Command>) -> Self {
        RtpWriter {
            conn,
            mid,
            commands,
        }
    }

    /// The track.
    pub fn mid(&self) -> Mid {
        self.mid
    }

    /// Sends one packet of `payload` with `payload_type`, RTP `timestamp` and the `marker`
    /// bit (end of a video frame).
    pub async fn write(
        &self,
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), Error> {
        let (mid, payload) = (self.mid, payload.to_vec());
        run_job(&self.commands, self.conn, move |e, now| {
            e.pc.write_rtp(
                now,
                mid,
                RtpWrite::new(payload_type, timestamp, &payload).marker(marker),
            )
        })
        .await??;
        Ok(())
    }
}
