//! Minimal HTTP/1.1 wire helpers shared by the fault proxy and the token server:
//! a buffered reader, request/response head parsing, body framing, and a body relay
//! that forwards bytes as they arrive (never buffering a whole body) while applying a
//! byte-level fault (cut with RST, cut with FIN, stall, corrupt one byte).

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest request/response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Read size used when relaying bodies.
const READ_SIZE: usize = 64 * 1024;

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// A read half with its own buffer, so heads and bodies can be read from one stream.
pub struct Reader<R> {
    inner: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: BytesMut::with_capacity(READ_SIZE),
        }
    }

    /// The wrapped reader (bytes already buffered are not visible through it).
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Bytes read from the stream but not consumed yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Unwraps the reader, dropping buffered bytes.
    pub fn into_inner(self) -> R {
        self.inner
    }

    async fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(READ_SIZE);
        self.inner.read_buf(&mut self.buf).await
    }

    /// Reads one head up to and including the blank line. `Ok(None)` on a clean EOF
    /// before the first byte (an idle keep-alive connection being closed).
    pub async fn read_head(&mut self) -> io::Result<Option<BytesMut>> {
        let mut scanned = 0;
        loop {
            if self.buf.first() == Some(&0x16) {
                // A TLS ClientHello on this plain-HTTP port: hang up at once, as a plain HTTP
                // server would (clients probing HTTPS first must not wait for a timeout).
                return Err(bad("TLS handshake on a plain HTTP port"));
            }
            if let Some(pos) = find(&self.buf[scanned..], b"\r\n\r\n") {
                return Ok(Some(self.buf.split_to(scanned + pos + 4)));
            }
            scanned = self.buf.len().saturating_sub(3);
            if self.buf.len() > MAX_HEAD {
                return Err(bad("HTTP head too large"));
            }
            if self.fill().await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// Reads one line including its CRLF (used for chunk-size lines and trailers).
    pub async fn read_line(&mut self) -> io::Result<BytesMut> {
        loop {
            if let Some(pos) = find(&self.buf, b"\n") {
                return Ok(self.buf.split_to(pos + 1));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad("line too long"));
            }
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Returns up to `max` bytes; empty means EOF.
    pub async fn read_some(&mut self, max: usize) -> io::Result<BytesMut> {
        if self.buf.is_empty() {
            self.fill().await?;
        }
        let n = max.min(self.buf.len());
        Ok(self.buf.split_to(n))
    }

    /// Reads a whole (small) body into memory; for the token server only.
    pub async fn read_small_body(
        &mut self,
        framing: &Framing,
        limit: usize,
    ) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        relay_body(self, &mut out, framing, &BodyFault::None).await?;
        if out.len() > limit {
            return Err(bad("body too large"));
        }
        Ok(out)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A parsed request or response head. Header order and spelling are preserved.
#[derive(Clone, Debug)]
pub struct Head {
    /// Request line or status line, without CRLF.
    pub first_line: String,
    /// Headers in wire order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// Parses a head as returned by [`Reader::read_head`].
    pub fn parse(raw: &[u8]) -> io::Result<Head> {
        let text = String::from_utf8_lossy(raw);
        let mut lines = text.split("\r\n");
        let first_line = lines.next().unwrap_or_default().to_string();
        if first_line.split(' ').count() < 2 {
            return Err(bad(format!("bad first line {first_line:?}")));
        }
        let mut headers = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| bad(format!("bad header line {line:?}")))?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        Ok(Head {
            first_line,
            headers,
        })
    }

    /// A response head with the canonical reason phrase.
    pub fn response(status: u16) -> Head {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Unknown");
        Head {
            first_line: format!("HTTP/1.1 {status} {reason}"),
            headers: Vec::new(),
        }
    }

    /// Request method (first word of the request line).
    pub fn method(&self) -> &str {
        self.first_line.split(' ').next().unwrap_or_default()
    }

    /// Request target (second word of the request line).
    pub fn target(&self) -> &str {
        self.first_line.split(' ').nth(1).unwrap_or_default()
    }

    /// Status code of a response head.
    pub fn status(&self) -> io::Result<u16> {
        self.first_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {:?}", self.first_line)))
    }

    /// First value of a header (case-insensitive name).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header contains `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Appends a header.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_string(), value.into()));
    }

    /// Serialises the head including the blank line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(self.first_line.as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, v) in &self.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Whether the sender asked to close the connection after this message.
    pub fn wants_close(&self) -> bool {
        self.has_token("connection", "close") || self.first_line.contains("HTTP/1.0")
    }
}

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Body runs until the connection closes (responses only).
    UntilClose,
}

fn content_length(head: &Head) -> io::Result<Option<u64>> {
    head.get("content-length")
        .map(|v| {
            v.parse()
                .map_err(|_| bad(format!("bad Content-Length {v:?}")))
        })
        .transpose()
}

/// Body framing of a request.
pub fn request_framing(head: &Head) -> io::Result<Framing> {
    if head.has_token("transfer-encoding", "chunked") {
        return Ok(Framing::Chunked);
    }
    Ok(match content_length(head)? {
        Some(0) | None => Framing::None,
        Some(n) => Framing::Length(n),
    })
}

/// Body framing of a response to a request with `method`.
pub fn response_framing(method: &str, head: &Head) -> io::Result<Framing> {
    let status = head.status()?;
    if method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Ok(Framing::None);
    }
    if head.has_token("transfer-encoding", "chunked") {
        return Ok(Framing::Chunked);
    }
    Ok(match content_length(head)? {
        Some(0) => Framing::None,
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// A byte-level fault applied to body payload bytes (chunk framing is never altered).
#[derive(Clone, Debug)]
pub enum BodyFault {
    /// Forward everything.
    None,
    /// Forward `after` payload bytes, then stop: the caller resets or closes the connection.
    Cut {
        /// Payload bytes forwarded before the cut.
        after: u64,
    },
    /// Forward `after` payload bytes, wait `duration`, then continue.
    Stall {
        /// Payload bytes forwarded before the pause.
        after: u64,
        /// Length of the pause.
        duration: Duration,
    },
    /// Flip all bits of payload byte `at` (0-based); length unchanged.
    Corrupt {
        /// Offset of the flipped byte.
        at: u64,
    },
}

/// How a relayed body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayEnd {
    /// The whole body was forwarded.
    Complete,
    /// A [`BodyFault::Cut`] stopped it.
    Cut,
}

struct Payload<'a> {
    pos: u64,
    fault: &'a BodyFault,
    stalled: bool,
}

impl Payload<'_> {
    /// Forwards payload bytes; `Ok(false)` once a cut happened.
    async fn forward<W: AsyncWrite + Unpin>(
        &mut self,
        dst: &mut W,
        mut data: BytesMut,
    ) -> io::Result<bool> {
        let len = data.len() as u64;
        match *self.fault {
            BodyFault::Cut { after } if self.pos + len > after => {
                let keep = (after - self.pos) as usize;
                dst.write_all(&data[..keep]).await?;
                dst.flush().await?;
                self.pos += keep as u64;
                return Ok(false);
            }
            BodyFault::Stall { after, duration } if !self.stalled && self.pos + len > after => {
                let keep = (after - self.pos) as usize;
                dst.write_all(&data[..keep]).await?;
                dst.flush().await?;
                tokio::time::sleep(duration).await;
                self.stalled = true;
                dst.write_all(&data[keep..]).await?;
            }
            BodyFault::Corrupt { at } if self.pos <= at && at < self.pos + len => {
                data[(at - self.pos) as usize] ^= 0xFF;
                dst.write_all(&data).await?;
            }
            _ => dst.write_all(&data).await?,
        }
        self.pos += len;
        Ok(true)
    }
}

/// Copies one body from `src` to `dst` according to `framing`, applying `fault` to the
/// payload bytes. Chunked bodies are forwarded chunk by chunk with their framing intact.
pub async fn relay_body<R, W>(
    src: &mut Reader<R>,
    dst: &mut W,
    framing: &Framing,
    fault: &BodyFault,
) -> io::Result<RelayEnd>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut payload = Payload {
        pos: 0,
        fault,
        stalled: false,
    };
    match *framing {
        Framing::None => {}
        Framing::Length(n) => {
            if !relay_exact(src, dst, &mut payload, n).await? {
                return Ok(RelayEnd::Cut);
            }
        }
        Framing::UntilClose => loop {
            let data = src.read_some(READ_SIZE).await?;
            if data.is_empty() {
                break;
            }
            if !payload.forward(dst, data).await? {
                return Ok(RelayEnd::Cut);
            }
        },
        Framing::Chunked => loop {
            let line = src.read_line().await?;
            let size_text = String::from_utf8_lossy(&line);
            let size_text = size_text
                .trim()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            let size = u64::from_str_radix(&size_text, 16)
                .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
            dst.write_all(&line).await?;
            if size == 0 {
                // Trailers, up to and including the final empty line.
                loop {
                    let t = src.read_line().await?;
                    dst.write_all(&t).await?;
                    if t.as_ref() == b"\r\n" || t.as_ref() == b"\n" {
                        break;
                    }
                }
                break;
            }
            if !relay_exact(src, dst, &mut payload, size).await? {
                return Ok(RelayEnd::Cut);
            }
            let crlf = src.read_line().await?;
            if crlf.as_ref() != b"\r\n" && crlf.as_ref() != b"\n" {
                return Err(bad("missing CRLF after chunk"));
            }
            dst.write_all(&crlf).await?;
        },
    }
    dst.flush().await?;
    Ok(RelayEnd::Complete)
}

async fn relay_exact<R, W>(
    src: &mut Reader<R>,
    dst: &mut W,
    payload: &mut Payload<'_>,
    n: u64,
) -> io::Result<bool>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut remaining = n;
    while remaining > 0 {
        let data = src
            .read_some(remaining.min(READ_SIZE as u64) as usize)
            .await?;
        if data.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        remaining -= data.len() as u64;
        if !payload.forward(dst, data).await? {
            return Ok(false);
        }
    }
    Ok(true)
}
