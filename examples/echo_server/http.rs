//! A small HTTP/1.1 server for the signalling, safe to face the internet: one thread per
//! connection and at most `max_connections` of them (more are answered `503` and closed), one
//! deadline for the whole request (a client sending slowly cannot hold a thread longer), a
//! bounded head (`431` beyond) and body (`413` beyond, before reading it), bodies only with a
//! `Content-Length` (`411` for chunked ones), one request per connection (`Connection: close`).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What one client may ask of the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections served at once (each has a thread).
    pub(crate) max_connections: usize,
    /// Bytes of the request line and headers.
    pub(crate) max_head: usize,
    /// Bytes of a request body.
    pub(crate) max_body: usize,
    /// From the connection's accept to the last byte of its request; also the limit for
    /// writing the response.
    pub(crate) timeout: Duration,
}

/// Counters of the HTTP side (read by `GET /stats`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Requests read in full and handed to the handler.
    pub(crate) requests: AtomicU64,
    /// Connections refused because `max_connections` were being served.
    pub(crate) refused: AtomicU64,
    /// Connections whose request did not arrive in time.
    pub(crate) timeouts: AtomicU64,
    /// Requests refused for their size (`413`, `431`).
    pub(crate) too_large: AtomicU64,
    /// Requests refused as malformed (`400`, `411`, `505`).
    pub(crate) malformed: AtomicU64,
}

/// A request read in full.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The origin-form target: path and query, e.g. `/offer?media=1`.
    pub(crate) target: String,
    pub(crate) body: Vec<u8>,
}

/// A response to send.
#[derive(Debug)]
pub(crate) struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    pub(crate) fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        // RFC 9110 8.6: no Content-Length in a 204.
        if self.status != 204 {
            out += &format!("Content-Length: {}\r\n", self.body.len());
        }
        out += "Connection: close\r\nCache-Control: no-store\r\n";
        for (name, value) in &self.headers {
            out += &format!("{name}: {value}\r\n");
        }
        out += "\r\n";
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Decrements the count of connections being served when its thread ends (or never starts).
struct Active(Arc<AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts connections forever, each served by `handler` on a thread of its own.
pub(crate) fn serve<H>(listener: TcpListener, limits: Limits, counters: Arc<Counters>, handler: H)
where
    H: Fn(Request) -> Response + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors, typically: back off instead of spinning on accept.
                eprintln!("http accept: {e}");
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if active.load(Ordering::SeqCst) >= limits.max_connections {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            // Never blocks this thread: what does not fit in the socket buffer is lost.
            let _ = stream.set_nonblocking(true);
            let _ = (&stream).write_all(&Response::new(503, "too many connections\n").encode());
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let guard = Active(active.clone());
        let (handler, counters) = (handler.clone(), counters.clone());
        // If the thread cannot start, the closure (and the guard with it) is dropped.
        let _ = std::thread::Builder::new()
            .name("http".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let _guard = guard;
                connection(stream, limits, &counters, &*handler);
            });
    }
}

/// Why no request came out of a connection.
enum Failure {
    /// The client left or sent nothing in time: close without a word (a browser may have
    /// opened the connection ahead of need; a response on it would answer its next request).
    Silent,
    /// Answer with this status and close.
    Status(u16),
}

/// Serves the one request of a connection.
fn connection(
    mut stream: TcpStream,
    limits: Limits,
    counters: &Counters,
    handler: &dyn Fn(Request) -> Response,
) {
    let deadline = Instant::now() + limits.timeout;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(limits.timeout));
    let response = match read_request(&mut stream, deadline, &limits, counters) {
        Ok(request) => {
            counters.requests.fetch_add(1, Ordering::Relaxed);
            handler(request)
        }
        Err(Failure::Silent) => return,
        Err(Failure::Status(status)) => {
            let counter = match status {
                408 => &counters.timeouts,
                413 | 431 => &counters.too_large,
                _ => &counters.malformed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            Response::new(status, format!("{}\n", reason(status)))
        }
    };
    if stream.write_all(&response.encode()).is_err() {
        return;
    }
    // Lingering close: closing with unread bytes (the rest of a refused body) would reset the
    // connection, and the client could lose the response. Read what is left, boundedly.
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + limits.timeout.min(Duration::from_secs(1));
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 1 << 20 {
        let Some(left) = until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            break;
        };
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// Reads more bytes into `buf` before `deadline`: the count read, 0 at the end of the stream;
/// `Err(true)` when the deadline passed, `Err(false)` on another error.
fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>, deadline: Instant) -> Result<usize, bool> {
    let left = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(true)?;
    stream.set_read_timeout(Some(left)).map_err(|_| false)?;
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                ));
            }
        }
    }
}

/// Reads one request (head and body) before `deadline`.
fn read_request(
    stream: &mut TcpStream,
    deadline: Instant,
    limits: &Limits,
    counters: &Counters,
) -> Result<Request, Failure> {
    let mut buf = Vec::with_capacity(4096);
    // The end of the stream or the deadline before the request was complete: silent when
    // nothing came, 408 or 400 otherwise.
    let cut_short = |received: bool, timed_out: bool| match (received, timed_out) {
        (false, true) => {
            counters.timeouts.fetch_add(1, Ordering::Relaxed);
            Failure::Silent
        }
        (false, false) => Failure::Silent,
        (true, true) => Failure::Status(408),
        (true, false) => Failure::Status(400),
    };
    let head_end = loop {
        let from = buf.len().saturating_sub(3);
        match read_some(stream, &mut buf, deadline) {
            Ok(0) => return Err(cut_short(!buf.is_empty(), false)),
            Ok(_) => {}
            Err(timed_out) => return Err(cut_short(!buf.is_empty(), timed_out)),
        }
        if let Some(i) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            break from + i + 4;
        }
        if buf.len() > limits.max_head {
            return Err(Failure::Status(431));
        }
    };
    if head_end > limits.max_head {
        return Err(Failure::Status(431));
    }
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| Failure::Status(400))?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) = (
        request_line.next(),
        request_line.next(),
        request_line.next(),
        request_line.next(),
    ) else {
        return Err(Failure::Status(400));
    };
    if !version.starts_with("HTTP/") {
        return Err(Failure::Status(400));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(Failure::Status(505));
    }
    if method.is_empty() || !target.starts_with('/') {
        return Err(Failure::Status(400));
    }
    let (method, target) = (method.to_string(), target.to_string());
    let mut length: Option<usize> = None;
    let mut expect_continue = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Failure::Status(400));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            // Digits only (no sign, no list); two different lengths are an attack.
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Failure::Status(400));
            }
            let n = value.parse::<usize>().unwrap_or(usize::MAX);
            if length.is_some_and(|l| l != n) {
                return Err(Failure::Status(400));
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Failure::Status(411));
        } else if name.eq_ignore_ascii_case("expect") && value.eq_ignore_ascii_case("100-continue")
        {
            expect_continue = true;
        }
    }
    // No Content-Length: no body (RFC 9112 6.3).
    let length = length.unwrap_or(0);
    if length > limits.max_body {
        return Err(Failure::Status(413));
    }
    let mut body = buf.split_off(head_end);
    if expect_continue && body.len() < length {
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    while body.len() < length {
        match read_some(stream, &mut body, deadline) {
            Ok(0) => return Err(Failure::Status(400)),
            Ok(_) => {}
            Err(timed_out) => return Err(cut_short(true, timed_out)),
        }
    }
    // Bytes after the body (a pipelined request) are not served: one request per connection.
    body.truncate(length);
    Ok(Request {
        method,
        target,
        body,
    })
}
