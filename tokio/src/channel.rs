//! The [`DataChannel`] handle: async send and receive on one data channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use sansrtc::{ChannelId, ChannelState, MessageKind, PacketBuf};
use tokio::sync::{Notify, mpsc, watch};

use crate::endpoint::{Command, Shared, run_job};
use crate::error::Error;

/// A received data channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The bytes (dropped, their storage returns to the connection's pool).
    pub data: PacketBuf,
    /// Text or binary.
    pub kind: MessageKind,
}

impl Message {
    /// The message as text, if it is a text message in valid UTF-8.
    pub fn text(&self) -> Option<&str> {
        match self.kind {
            MessageKind::Text => std::str::from_utf8(&self.data).ok(),
            MessageKind::Binary => None,
        }
    }
}

/// One data channel of a [`crate::Connection`]: from [`crate::Connection::open_channel`] or
/// [`crate::Connection::accept_channel`].
///
/// Received messages wait in a bounded queue ([`crate::EndpointConfig::message_capacity`]).
/// None is lost: when the queue is full because [`DataChannel::recv`] is not called, the
/// endpoint's task keeps the next messages aside and stops taking the connection's data
/// channel datagrams (the peer sends them again later) until the reader has caught up, so one
/// slow reader neither grows memory nor stalls the other connections of the socket. While one
/// channel's reader lags, the other channels of its connection wait too: read every channel
/// you accept, or close it.
///
/// Dropping the handle does not close the channel (its messages are then discarded): call
/// [`DataChannel::close`].
///
/// # Cancel safety
///
/// [`DataChannel::recv`] and [`DataChannel::opened`] are cancel safe: a `recv` future dropped
/// before it completed took no message, the next `recv` gets it. [`DataChannel::send`] is not:
/// cancelled after it reached the endpoint's task, the message is sent anyway.
#[derive(Debug)]
pub struct DataChannel {
    pub(crate) conn: u64,
    pub(crate) id: ChannelId,
    pub(crate) label: String,
    pub(crate) protocol: String,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) state: watch::Receiver<ChannelState>,
    pub(crate) messages: mpsc::Receiver<Message>,
    /// Woken when the channel's buffered amount fell to half of `high_water`, or it closed.
    pub(crate) writable: Arc<Notify>,
    pub(crate) high_water: usize,
    /// Set by the task while it keeps messages of the channel beyond the queue.
    pub(crate) backlog: Arc<AtomicBool>,
    pub(crate) shared: Arc<Shared>,
}

impl DataChannel {
    /// The channel's id in its connection.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The sub-protocol.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }

    /// The channel's state now.
    pub fn state(&self) -> ChannelState {
        *self.state.borrow()
    }

    /// Waits until the channel is open; [`Error::Closed`] if it closed (or never opened).
    /// Cancel safe.
    pub async fn opened(&self) -> Result<(), Error> {
        let mut state = self.state.clone();
        match state.wait_for(|s| *s != ChannelState::Connecting).await {
            Ok(s) if *s == ChannelState::Open => Ok(()),
            _ => Err(Error::Closed),
        }
    }

    /// Sends a binary message, once the channel is open (waits for it).
    ///
    /// Backpressure: while more than [`crate::EndpointConfig::send_high_water`] bytes of the
    /// channel wait to be sent or acknowledged, `send` waits (until half of them are
    /// acknowledged), so a fast sender cannot outrun its peer.
    ///
    /// Errors: the channel closed ([`Error::Closed`]), or the connection refused the message
    /// ([`Error::PeerConnection`]: larger than the peer accepts, or the connection's send
    /// buffer over all channels is full: `max_buffered_amount` of its config).
    pub async fn send(&self, data: &[u8]) -> Result<(), Error> {
        self.send_message(data, MessageKind::Binary).await
    }

    /// Sends a text message, as [`DataChannel::send`].
    pub async fn send_text(&self, text: &str) -> Result<(), Error> {
        self.send_message(text.as_bytes(), MessageKind::Text).await
    }

    /// Sends a message of `kind`, as [`DataChannel::send`].
    pub async fn send_message(&self, data: &[u8], kind: MessageKind) -> Result<(), Error> {
        self.opened().await?;
        let (id, high_water) = (self.id, self.high_water);
        let mut data = data.to_vec();
        loop {
            // Registered before the check runs in the task: a wake-up between the two is kept.
            let writable = self.writable.notified();
            tokio::pin!(writable);
            writable.as_mut().enable();
            let waiting = run_job(&self.commands, self.conn, move |e, now| {
                let mut channel = e.pc.channel(id)?;
                if channel.buffered_amount() > high_water {
                    return Ok::<_, sansrtc::Error>(Some(data));
                }
                channel.send_message(now, &data, kind)?;
                Ok(None)
            })
            .await??;
            match waiting {
                None => return Ok(()),
                Some(back) => {
                    data = back;
                    writable.await;
                    if self.state() == ChannelState::Closed {
                        return Err(Error::Closed);
                    }
                }
            }
        }
    }

    /// The next message; `None` once the channel (or its connection) is closed and every
    /// message before the close was received. Cancel safe.
    pub async fn recv(&mut self) -> Option<Message> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next message (as [`DataChannel::recv`], for hand-written futures).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let polled = self.messages.poll_recv(cx);
        if let Poll::Ready(Some(_)) = &polled {
            self.made_room();
        }
        polled
    }

    /// A message left the queue: if the task keeps more for this channel, it moves them in.
    fn made_room(&self) {
        if self.backlog.load(Ordering::SeqCst) {
            self.shared.refill(self.conn, self.id);
        }
    }

    /// Bytes queued to send on the channel and not yet sent.
    pub async fn buffered_amount(&self) -> Result<usize, Error> {
        let id = self.id;
        Ok(run_job(&self.commands, self.conn, move |e, _| {
            e.pc.channel(id).map(|c| c.buffered_amount())
        })
        .await??)
    }

    /// Closes the channel (its stream is reset); [`DataChannel::recv`] then returns `None`
    /// after the messages already received.
    pub async fn close(&self) -> Result<(), Error> {
        let id = self.id;
        run_job(&self.commands, self.conn, move |e, now| {
            if let Ok(c) = e.pc.channel(id) {
                c.close(now);
            }
        })
        .await
    }
}

impl Drop for DataChannel {
    fn drop(&mut self) {
        // Closed first, so that the task's refill finds it closed (not room to fill, with
        // nobody left to ask for more): what it kept for this handle is discarded, and the
        // connection's datagrams flow again.
        self.messages.close();
        self.made_room();
    }
}
