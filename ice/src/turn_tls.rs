//! TURN over TLS (RFC 8656 3.1): the TCP framing of [`crate::turn::TurnClient`] inside a TLS
//! session, using `rustls`' sans-IO client connection. The caller owns the TCP stream:
//!
//! ```text
//! turn.poll_transmit()  -> tls.write_plaintext(..)      (TURN messages into the session)
//! tls.poll_tls()        -> stream.write_all(..)         (TLS records to the server)
//! stream.read(..)       -> tls.handle_tls(..) -> turn.handle_stream(..)
//! ```

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;

use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use thiserror::Error;

/// Why the TLS session failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The TLS layer reported an error (handshake failure, bad certificate, bad record).
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// Plaintext could not be buffered (the session's buffer limit was hit).
    #[error("TLS plaintext buffer full")]
    BufferFull,
}

/// A client TLS session carrying a TURN stream.
#[derive(Debug)]
pub struct TlsStream {
    conn: ClientConnection,
}

/// Most plaintext buffered before the handshake completes or while records wait to be written.
const BUFFER_LIMIT: usize = 256 * 1024;

impl TlsStream {
    /// Starts a session to `server_name` (a DNS name, or the server's IP address when its
    /// certificate carries it).
    pub fn new(
        config: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
    ) -> Result<Self, TlsError> {
        let mut conn = ClientConnection::new(config, server_name)?;
        conn.set_buffer_limit(Some(BUFFER_LIMIT));
        Ok(TlsStream { conn })
    }

    /// Whether the handshake is still running.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Queues plaintext (a transmit of the TURN client) into the session; it is sent once the
    /// handshake is done.
    pub fn write_plaintext(&mut self, data: &[u8]) -> Result<(), TlsError> {
        let n = self
            .conn
            .writer()
            .write(data)
            .map_err(|_| TlsError::BufferFull)?;
        if n == data.len() {
            Ok(())
        } else {
            Err(TlsError::BufferFull)
        }
    }

    /// TLS records to write to the TCP stream (empty when there is nothing to send).
    pub fn poll_tls(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut out).is_err() {
                break;
            }
        }
        out
    }

    /// Feeds bytes read from the TCP stream and returns the plaintext they carried (to give to
    /// [`crate::turn::TurnClient::handle_stream`]).
    pub fn handle_tls(&mut self, mut bytes: &[u8]) -> Result<Vec<u8>, TlsError> {
        let mut plaintext = Vec::new();
        while !bytes.is_empty() {
            let before = bytes.len();
            // An error here means rustls' own buffer is full: processing below frees it.
            if let Ok(0) = self.conn.read_tls(&mut bytes) {
                break;
            }
            self.conn.process_new_packets()?;
            self.drain_plaintext(&mut plaintext);
            if bytes.len() == before && self.conn.read_tls(&mut bytes).is_err() {
                return Err(TlsError::BufferFull);
            }
        }
        self.conn.process_new_packets()?;
        self.drain_plaintext(&mut plaintext);
        Ok(plaintext)
    }

    fn drain_plaintext(&mut self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 4096];
        loop {
            match self.conn.reader().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
    }
}
