//! A small, bounded HTTP/1.1 server side: one request per connection
//! (`Connection: close`), request head at most [`MAX_HEAD`] bytes and
//! [`MAX_HEADERS`] fields, bodies by `Content-Length` or chunked coding up to
//! a caller-chosen limit, `Expect: 100-continue` honoured, and a deadline for
//! the whole request on top of the socket's per-read timeout.

use std::io::{self, Read, Write};
use std::time::Instant;

/// Largest request line plus header fields.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in one request.
pub const MAX_HEADERS: usize = 64;

#[derive(Debug)]
pub enum HttpError {
    /// The peer closed before sending a request.
    Closed,
    /// Socket error.
    Io,
    /// The whole-request deadline passed.
    Timeout,
    /// Malformed request (400).
    Bad(&'static str),
    /// Request head too large (431).
    HeadTooLarge,
    /// Body over the limit (413).
    BodyTooLarge,
    /// Transfer coding or version we do not speak (501 / 505).
    NotImplemented(&'static str),
}

impl HttpError {
    /// Status code and reason to answer with, if any answer is due.
    pub fn status(&self) -> Option<(u16, &'static str)> {
        match self {
            HttpError::Closed | HttpError::Io => None,
            HttpError::Timeout => Some((408, "Request Timeout")),
            HttpError::Bad(_) => Some((400, "Bad Request")),
            HttpError::HeadTooLarge => Some((431, "Request Header Fields Too Large")),
            HttpError::BodyTooLarge => Some((413, "Content Too Large")),
            HttpError::NotImplemented(_) => Some((501, "Not Implemented")),
        }
    }
}

impl From<io::Error> for HttpError {
    fn from(_: io::Error) -> Self {
        HttpError::Io
    }
}

/// Request line and header fields.
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string without `?` (empty when none).
    pub query: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Value of query parameter `name` (no percent-decoding: values here are
    /// plain words).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Reads from a stream with a leftover buffer and a deadline.
pub struct Reader<'a, S: Read> {
    stream: &'a mut S,
    buf: Vec<u8>,
    deadline: Instant,
}

impl<'a, S: Read> Reader<'a, S> {
    pub fn new(stream: &'a mut S, deadline: Instant) -> Self {
        Reader {
            stream,
            buf: Vec::new(),
            deadline,
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    fn fill(&mut self) -> Result<usize, HttpError> {
        if Instant::now() > self.deadline {
            return Err(HttpError::Timeout);
        }
        let mut chunk = [0u8; 8192];
        let n = loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(HttpError::Timeout)
                }
                Err(_) => return Err(HttpError::Io),
            }
        };
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads the request head.
    pub fn read_head(&mut self) -> Result<Head, HttpError> {
        let end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(HttpError::HeadTooLarge);
            }
            if self.fill()? == 0 {
                return Err(if self.buf.is_empty() {
                    HttpError::Closed
                } else {
                    HttpError::Bad("truncated request head")
                });
            }
        };
        if end > MAX_HEAD {
            return Err(HttpError::HeadTooLarge);
        }
        let head_bytes: Vec<u8> = self.buf.drain(..end + 4).collect();
        let text = std::str::from_utf8(&head_bytes[..end])
            .map_err(|_| HttpError::Bad("request head is not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let request_line = lines.next().ok_or(HttpError::Bad("empty request"))?;
        let mut parts = request_line.split(' ');
        let (method, target, version) =
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(m), Some(t), Some(v), None) => (m, t, v),
                _ => return Err(HttpError::Bad("malformed request line")),
            };
        if !method.bytes().all(|b| b.is_ascii_uppercase()) || method.is_empty() {
            return Err(HttpError::Bad("malformed method"));
        }
        if version != "HTTP/1.1" && version != "HTTP/1.0" {
            return Err(HttpError::NotImplemented("HTTP version"));
        }
        if !target.starts_with('/') {
            return Err(HttpError::Bad("request target must be a path"));
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (target, ""),
        };
        let mut headers = Vec::new();
        for line in lines {
            if headers.len() >= MAX_HEADERS {
                return Err(HttpError::HeadTooLarge);
            }
            let (name, value) = line
                .split_once(':')
                .ok_or(HttpError::Bad("malformed header field"))?;
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
                return Err(HttpError::Bad("malformed header name"));
            }
            headers.push((name.to_string(), value.trim().to_string()));
        }
        Ok(Head {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            headers,
        })
    }

    /// Reads the body announced by `head`, at most `limit` bytes. Sends
    /// `100 Continue` first when the client asked for it.
    pub fn read_body(&mut self, head: &Head, limit: usize) -> Result<Vec<u8>, HttpError>
    where
        S: Write,
    {
        let te = head.header("transfer-encoding");
        let cl = head.header("content-length");
        let length = match (te, cl) {
            (Some(_), Some(_)) => {
                return Err(HttpError::Bad("both Content-Length and Transfer-Encoding"))
            }
            (Some(te), None) => {
                if !te.eq_ignore_ascii_case("chunked") {
                    return Err(HttpError::NotImplemented("transfer coding"));
                }
                None
            }
            (None, Some(cl)) => {
                let n: u64 = cl
                    .parse()
                    .map_err(|_| HttpError::Bad("malformed Content-Length"))?;
                if n > limit as u64 {
                    return Err(HttpError::BodyTooLarge);
                }
                Some(n as usize)
            }
            // A request without either has no body (RFC 9112, 6.3).
            (None, None) => Some(0),
        };
        if length != Some(0)
            && head
                .header("expect")
                .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            self.stream.flush()?;
        }
        match length {
            Some(n) => {
                while self.buf.len() < n {
                    if self.fill()? == 0 {
                        return Err(HttpError::Bad("truncated body"));
                    }
                }
                Ok(self.buf.drain(..n).collect())
            }
            None => self.read_chunked(limit),
        }
    }

    fn read_line(&mut self, max: usize) -> Result<String, HttpError> {
        loop {
            if let Some(p) = find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..p + 2).collect();
                return String::from_utf8(line[..p].to_vec())
                    .map_err(|_| HttpError::Bad("chunk line is not UTF-8"));
            }
            if self.buf.len() > max {
                return Err(HttpError::Bad("chunk line too long"));
            }
            if self.fill()? == 0 {
                return Err(HttpError::Bad("truncated chunked body"));
            }
        }
    }

    fn read_chunked(&mut self, limit: usize) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line(256)?;
            let size_hex = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| HttpError::Bad("malformed chunk size"))?;
            if size == 0 {
                // Trailer fields, bounded, then the empty line.
                for _ in 0..MAX_HEADERS {
                    if self.read_line(1024)?.is_empty() {
                        return Ok(body);
                    }
                }
                return Err(HttpError::HeadTooLarge);
            }
            if body.len().saturating_add(size) > limit {
                return Err(HttpError::BodyTooLarge);
            }
            while self.buf.len() < size + 2 {
                if self.fill()? == 0 {
                    return Err(HttpError::Bad("truncated chunk"));
                }
            }
            body.extend_from_slice(&self.buf[..size]);
            if &self.buf[size..size + 2] != b"\r\n" {
                return Err(HttpError::Bad("chunk not followed by CRLF"));
            }
            self.buf.drain(..size + 2);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A response: status, extra headers, body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, reason: &'static str) -> Response {
        Response {
            status,
            reason,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, reason: &'static str, value: &serde_json::Value) -> Response {
        let mut r = Response::new(status, reason);
        r.body = value.to_string().into_bytes();
        r.body.push(b'\n');
        r.headers
            .push(("Content-Type".into(), "application/json".into()));
        r
    }

    /// A JSON `{"error": message}` response.
    pub fn error(status: u16, reason: &'static str, message: &str) -> Response {
        Response::json(status, reason, &serde_json::json!({ "error": message }))
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Writes the response (always `Connection: close`).
    pub fn write_to<W: Write>(&self, w: &mut W, head_only: bool) -> io::Result<()> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason);
        // A versionless product name, unless the caller set its own.
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("server"))
        {
            out.push_str("Server: hilt-sim\r\n");
        }
        for (n, v) in &self.headers {
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        out.push_str("Connection: close\r\n\r\n");
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        w.write_all(&bytes)?;
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Duplex {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }
    impl Read for Duplex {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.input.read(b)
        }
    }
    impl Write for Duplex {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.output.write(b)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn parse(raw: &[u8], limit: usize) -> Result<(Head, Vec<u8>), HttpError> {
        let mut d = Duplex {
            input: io::Cursor::new(raw.to_vec()),
            output: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut r = Reader::new(&mut d, deadline);
        let head = r.read_head()?;
        let body = r.read_body(&head, limit)?;
        Ok((head, body))
    }

    #[test]
    fn content_length_body() {
        let (h, b) = parse(
            b"PUT /api/v1/config?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
            100,
        )
        .expect("parses");
        assert_eq!(h.method, "PUT");
        assert_eq!(h.path, "/api/v1/config");
        assert_eq!(h.query_param("x"), Some("1"));
        assert_eq!(b, b"hello");
    }

    #[test]
    fn chunked_body() {
        let (_, b) = parse(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            100,
        )
        .expect("parses");
        assert_eq!(b, b"abcde");
    }

    #[test]
    fn limits_hold() {
        assert!(matches!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 100),
            Err(HttpError::BodyTooLarge)
        ));
        assert!(matches!(
            parse(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n",
                100
            ),
            Err(HttpError::BodyTooLarge)
        ));
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        big.extend_from_slice(b"\r\n\r\n");
        assert!(matches!(parse(&big, 0), Err(HttpError::HeadTooLarge)));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", 100),
            Err(HttpError::Bad(_))
        ));
        assert!(matches!(
            parse(b"GET http://x/ HTTP/1.1\r\n\r\n", 0),
            Err(HttpError::Bad(_))
        ));
        assert!(matches!(parse(b"", 0), Err(HttpError::Closed)));
    }
}
