//! The [`Connection`] handle: signalling calls, state, data channels and tracks of one peer
//! connection driven by an [`crate::Endpoint`].

use std::sync::Arc;
use std::time::Instant;

use sansrtc::{ChannelConfig, ChannelState, ConnectionState, Event, Mid, PeerConnection, SdpType};
use tokio::sync::{Mutex, mpsc, watch};

use crate::channel::DataChannel;
use crate::endpoint::{Command, Entry, Shared, run_job};
use crate::error::Error;
use crate::media::{RtpReceiver, RtpWriter};

/// A peer connection driven by an [`crate::Endpoint`]'s task, from any task.
///
/// Every call goes to the endpoint's task through a bounded queue (a full queue makes the call
/// wait). The signalling stays yours: [`Connection::create_offer`],
/// [`Connection::set_remote_description`], ... or any call of the [`PeerConnection`] API
/// through [`Connection::with`].
///
/// Dropping the handle closes the connection (as [`Connection::close`], without waiting), and
/// with it its data channels and tracks, whichever handles of them remain. A connection that
/// failed (state [`ConnectionState::Failed`]) stays until it is closed or its handle dropped.
///
/// # Cancel safety
///
/// [`Connection::accept_channel`], [`Connection::accept_track`], [`Connection::next_event`],
/// [`Connection::connected`] and
/// [`Connection::closed`] are cancel safe: cancelled, they lose nothing (the next call gets
/// what this one would have). The others send a call to the task: cancelled, the call may or
/// may not have run, and its result is lost.
#[derive(Debug)]
pub struct Connection {
    key: u64,
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    state: watch::Receiver<ConnectionState>,
    accept: Mutex<mpsc::Receiver<DataChannel>>,
    tracks: Mutex<mpsc::Receiver<RtpReceiver>>,
    events: Mutex<mpsc::Receiver<Event>>,
}

impl Connection {
    pub(crate) fn new(
        key: u64,
        commands: mpsc::Sender<Command>,
        shared: Arc<Shared>,
        state: watch::Receiver<ConnectionState>,
        accept: mpsc::Receiver<DataChannel>,
        tracks: mpsc::Receiver<RtpReceiver>,
        events: mpsc::Receiver<Event>,
    ) -> Self {
        Connection {
            key,
            commands,
            shared,
            state,
            accept: Mutex::new(accept),
            tracks: Mutex::new(tracks),
            events: Mutex::new(events),
        }
    }

    async fn run<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Entry, Instant) -> R + Send + 'static,
    {
        run_job(&self.commands, self.key, f).await
    }

    /// Runs `f` on the peer connection inside the endpoint's task and returns its result:
    /// any call of the sans-IO API (`create_offer`, `add_transceiver`, `stats_report`,
    /// `request_keyframe`, ...). What the call makes the connection send is sent right after.
    /// `f` must not block (it holds up every connection of the socket) and should not panic
    /// (a panic closes this connection at once, and the call returns [`Error::Closed`]).
    ///
    /// Use the connection's own handles, not `f`, for what they cover: a data channel
    /// created with `create_data_channel` inside `f` has no [`DataChannel`] handle until it
    /// opens and shows up in [`Connection::accept_channel`].
    pub async fn with<R, F>(&self, f: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut PeerConnection) -> R + Send + 'static,
    {
        self.run(move |entry, _| f(&mut entry.pc)).await
    }

    /// [`PeerConnection::create_offer`].
    pub async fn create_offer(&self) -> Result<String, Error> {
        Ok(self.run(|e, now| e.pc.create_offer(now)).await??)
    }

    /// [`PeerConnection::create_answer`].
    pub async fn create_answer(&self) -> Result<String, Error> {
        Ok(self.run(|e, now| e.pc.create_answer(now)).await??)
    }

    /// [`PeerConnection::set_remote_description`].
    pub async fn set_remote_description(&self, kind: SdpType, sdp: &str) -> Result<(), Error> {
        let sdp = sdp.to_owned();
        Ok(self
            .run(move |e, now| e.pc.set_remote_description(now, kind, &sdp))
            .await??)
    }

    /// [`PeerConnection::add_remote_candidate`] (a trickled `candidate:...` value).
    pub async fn add_remote_candidate(&self, candidate: &str) -> Result<(), Error> {
        let candidate = candidate.to_owned();
        Ok(self
            .run(move |e, now| e.pc.add_remote_candidate(now, &candidate))
            .await??)
    }

    /// [`PeerConnection::local_description`]: the last offer or answer with every candidate
    /// gathered so far.
    pub async fn local_description(&self) -> Result<Option<String>, Error> {
        self.run(|e, _| e.pc.local_description()).await
    }

    /// The connection's state now.
    pub fn state(&self) -> ConnectionState {
        *self.state.borrow()
    }

    /// The connection's state as a watch channel: `changed().await` wakes on each change; the
    /// sender is dropped (and `changed()` fails) once the connection is gone, its last state
    /// [`ConnectionState::Closed`].
    pub fn state_watch(&self) -> watch::Receiver<ConnectionState> {
        self.state.clone()
    }

    /// Waits until the connection is connected (ICE and DTLS up); [`Error::Closed`] if it
    /// failed or closed instead. Cancel safe.
    pub async fn connected(&self) -> Result<(), Error> {
        let mut state = self.state.clone();
        match state
            .wait_for(|s| {
                matches!(
                    s,
                    ConnectionState::Connected | ConnectionState::Failed | ConnectionState::Closed
                )
            })
            .await
        {
            Ok(s) if *s == ConnectionState::Connected => Ok(()),
            _ => Err(Error::Closed),
        }
    }

    /// Waits until the endpoint has forgotten the connection (closed by either side and every
    /// goodbye sent, or the endpoint shut down). Cancel safe.
    pub async fn closed(&self) {
        let mut state = self.state.clone();
        while state.changed().await.is_ok() {}
    }

    /// Opens a data channel (as a browser's `createDataChannel`: before or after the
    /// offer/answer; it opens once SCTP is up, see [`DataChannel::opened`]).
    pub async fn open_channel(&self, config: ChannelConfig) -> Result<DataChannel, Error> {
        let (label, protocol) = (config.label.clone(), config.protocol.clone());
        self.run(move |e, now| {
            let id = e.pc.create_data_channel(now, config)?;
            e.new_channel(id, label, protocol, ChannelState::Connecting)
                .ok_or(Error::Closed)
        })
        .await?
    }

    /// The next data channel the peer opened; `None` once the connection is gone. Channels
    /// opened by the peer queue up to [`crate::EndpointConfig::accept_capacity`]; beyond,
    /// they are closed at once. Cancel safe.
    pub async fn accept_channel(&self) -> Option<DataChannel> {
        self.accept.lock().await.recv().await
    }

    /// The next event that has no handle of its own (local candidates to trickle,
    /// gathering complete, ICE and DTLS states, keyframe requests, NACKs, bandwidth
    /// estimates, RTCP, negotiation needed, ...); `None` once the connection is gone. Data
    /// channel and RTP events go to their handles, connection states to
    /// [`Connection::state_watch`]. Events wait up to
    /// [`crate::EndpointConfig::event_capacity`]; beyond, they are dropped (counted). Cancel
    /// safe.
    pub async fn next_event(&self) -> Option<Event> {
        self.events.lock().await.recv().await
    }

    /// The next track the peer sends on (as a browser's `ontrack`): the first RTP packet of a
    /// track (m-section) no receiver was asked for brings its [`RtpReceiver`] here, with that
    /// packet first in it. `None` once the connection is gone. Until read, a receiver holds
    /// up to [`crate::EndpointConfig::rtp_capacity`] packets (then drops newer ones). Cancel
    /// safe.
    pub async fn accept_track(&self) -> Option<RtpReceiver> {
        self.tracks.lock().await.recv().await
    }

    /// Receives the RTP packets of track `mid` from now on, without waiting for
    /// [`Connection::accept_track`] (a second call, or a call after the track was offered
    /// there, takes the packets over from the earlier receiver).
    pub async fn rtp_receiver(&self, mid: Mid) -> Result<RtpReceiver, Error> {
        let rx = self.run(move |e, _| e.new_track(mid)).await?;
        Ok(RtpReceiver::new(mid, rx))
    }

    /// A writer of RTP on track `mid` (our sending side of that transceiver: look its mid up
    /// with `PeerConnection::transceiver_mid` through [`Connection::with`]).
    pub fn rtp_writer(&self, mid: Mid) -> RtpWriter {
        RtpWriter::new(self.key, mid, self.commands.clone())
    }

    /// Closes the connection ([`PeerConnection::close`]: SCTP shutdown, DTLS close_notify)
    /// and waits until its goodbyes are out and the endpoint forgot it.
    pub async fn close(&self) {
        if self.run(|e, now| e.pc.close(now)).await.is_ok() {
            self.closed().await;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.connection_dropped(self.key);
    }
}
