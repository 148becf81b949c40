//! A minimal HTTP/1.1 client (one request per connection) over plain TCP
//! or the TLS client of [`crate::tls`], recording every exchange as
//! evidence with secrets redacted.
//!
//! Bounds: response head 64 KiB and 100 headers, body `max_body` (4 MiB by
//! default), every read bounded by the [`Stop`] and the request timeout.
//! Basic-auth passwords and secret headers never appear in `Debug` output
//! or in the recorded exchange (`Authorization: Basic <redacted>`); any
//! echo of them in the response is redacted in the record as well.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::error::NetError;
use crate::link::Link;
use crate::stop::Stop;
use crate::tls::{self, HandshakeOutcome, TlsClientConfig, TlsRecord, TlsStream};

pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
/// Body bytes copied into the recorded exchange.
const RECORD_BODY: usize = 64 * 1024;
const REDACTED: &str = "<redacted>";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    Get,
    Put,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// A secret string: usable, never shown.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: &str) -> Self {
        Secret(s.to_string())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

/// One request.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: Method,
    /// Request target, e.g. "/api/v1/identity".
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// (name, value, what the record shows instead of the value).
    secret_headers: Vec<(String, Secret, String)>,
    basic: Option<(String, Secret)>,
    /// Other values kept out of the record (a password in a form body).
    redacted: Vec<Secret>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: Vec::new(),
            secret_headers: Vec::new(),
            basic: None,
            redacted: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::Get, path)
    }
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::Put, path)
    }
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::Post, path)
    }
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::Delete, path)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    /// A header whose value is a secret (API key, token): sent, never recorded.
    pub fn secret_header(mut self, name: &str, value: &str) -> Self {
        self.secret_headers
            .push((name.to_string(), Secret::new(value), REDACTED.to_string()));
        self
    }
    /// A header whose value holds a secret, recorded as `shown` (e.g. a
    /// Digest `Authorization` with its `response` redacted).
    pub fn secret_header_shown(mut self, name: &str, value: &str, shown: &str) -> Self {
        self.secret_headers
            .push((name.to_string(), Secret::new(value), shown.to_string()));
        self
    }
    /// Keeps `value` out of the recorded exchange wherever it appears
    /// (request or response), e.g. a password in a form body.
    pub fn redacting(mut self, value: &str) -> Self {
        self.redacted.push(Secret::new(value));
        self
    }
    /// Whether the request carries credentials of any kind.
    pub fn has_credentials(&self) -> bool {
        self.basic.is_some() || !self.secret_headers.is_empty()
    }
    /// HTTP Basic authentication (RFC 7617).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        self.basic = Some((user.to_string(), Secret::new(password)));
        self
    }
    /// A JSON body (`Content-Type: application/json`).
    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.body = value.to_string().into_bytes();
        self.headers
            .push(("Content-Type".into(), "application/json".into()));
        self
    }
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.body = bytes.into();
        self
    }

    /// Strings that must not appear in any record.
    fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((user, pw)) = &self.basic {
            if !pw.0.is_empty() {
                out.push(pw.0.clone());
            }
            out.push(base64(format!("{user}:{}", pw.0).as_bytes()));
        }
        for v in self
            .secret_headers
            .iter()
            .map(|(_, v, _)| v)
            .chain(&self.redacted)
        {
            if !v.0.is_empty() {
                out.push(v.0.clone());
            }
        }
        out
    }
}

/// Where requests go: a port of the board, through its link.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub link: Link,
    pub port: u16,
    /// Host header value (defaults to the address).
    pub host: String,
    /// `Some` for HTTPS.
    pub tls: Option<TlsClientConfig>,
}

impl HttpTarget {
    pub fn http(link: &Link, port: u16) -> Self {
        Self {
            link: link.clone(),
            port,
            host: link.to(port).to_string(),
            tls: None,
        }
    }
    pub fn https(link: &Link, port: u16, tls: TlsClientConfig) -> Self {
        let host = if port == 443 {
            tls.server_name.clone()
        } else {
            format!("{}:{port}", tls.server_name)
        };
        Self {
            link: link.clone(),
            port,
            host,
            tls: Some(tls),
        }
    }

    /// The board's address and port.
    pub fn addr(&self) -> SocketAddr {
        self.link.to(self.port)
    }
}

#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub max_body: usize,
    /// Bound on the whole exchange (also bounded by the Stop).
    pub timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            max_body: DEFAULT_MAX_BODY,
            timeout: Duration::from_secs(15),
        }
    }
}

/// The exchange as evidence: request and response text, secrets redacted,
/// response body cut at 64 KiB.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub target: String,
    pub scheme: &'static str,
    pub started_unix_ms: u128,
    pub elapsed_ms: u128,
    pub request: String,
    pub response: String,
    pub tls: Option<TlsRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub exchange: Exchange,
}

impl HttpResponse {
    /// First header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Result<serde_json::Value, NetError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| NetError::Protocol(format!("response body is not JSON: {e}")))
    }
}

/// Standard base64 (RFC 4648 section 4) with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(char::from(T[(n >> 18) as usize & 63]));
        out.push(char::from(T[(n >> 12) as usize & 63]));
        out.push(if chunk.len() > 1 {
            char::from(T[(n >> 6) as usize & 63])
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            char::from(T[n as usize & 63])
        } else {
            '='
        });
    }
    out
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

fn redact(text: &str, secrets: &[String]) -> String {
    let mut t = text.to_string();
    for s in secrets {
        if !s.is_empty() {
            t = t.replace(s.as_str(), REDACTED);
        }
    }
    t
}

fn valid_token(s: &str) -> bool {
    !s.is_empty() && !s.bytes().any(|b| b.is_ascii_control() || b == b' ')
}

/// Sends one request and reads the response. When the request's own
/// timeout (not the caller's deadline) runs out, the error says what was
/// waited for, from where and for how long.
pub fn request(
    target: &HttpTarget,
    req: &HttpRequest,
    opts: &HttpOptions,
    stop: &Stop,
) -> Result<HttpResponse, NetError> {
    match request_within_timeout(target, req, opts, stop) {
        Err(NetError::Stopped(why)) if why == crate::stop::TIMED_OUT => Err(NetError::io(
            format!(
                "no complete HTTP response to {} {} from {} within {:.1} s",
                req.method.as_str(),
                req.path,
                target.addr(),
                opts.timeout.as_secs_f64()
            ),
            io::Error::from(io::ErrorKind::TimedOut),
        )),
        other => other,
    }
}

fn request_within_timeout(
    target: &HttpTarget,
    req: &HttpRequest,
    opts: &HttpOptions,
    stop: &Stop,
) -> Result<HttpResponse, NetError> {
    let started = Instant::now();
    let started_unix_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let stop = stop.within(opts.timeout);
    let all_headers = req
        .headers
        .iter()
        .map(|(k, v)| (k, v))
        .chain(req.secret_headers.iter().map(|(k, v, _)| (k, &v.0)));
    for (k, v) in all_headers {
        if !valid_token(k) || k.contains(':') || v.contains('\r') || v.contains('\n') {
            return Err(NetError::Setup(format!("bad header {k:?}")));
        }
    }
    if req.path.contains(['\r', '\n', ' ']) {
        return Err(NetError::Setup(format!(
            "bad request target {:?}",
            req.path
        )));
    }
    // The request, and the same with secrets replaced.
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\n",
        req.method.as_str(),
        req.path,
        target.host
    );
    let mut shown = head.clone();
    for (k, v) in &req.headers {
        let line = format!("{k}: {v}\r\n");
        head.push_str(&line);
        shown.push_str(&line);
    }
    for (k, v, instead) in &req.secret_headers {
        head.push_str(&format!("{k}: {}\r\n", v.0));
        shown.push_str(&format!("{k}: {instead}\r\n"));
    }
    if let Some((user, pw)) = &req.basic {
        head.push_str(&format!(
            "Authorization: Basic {}\r\n",
            base64(format!("{user}:{}", pw.0).as_bytes())
        ));
        shown.push_str(&format!("Authorization: Basic {REDACTED}\r\n"));
    }
    let has_body = !req.body.is_empty() || matches!(req.method, Method::Put | Method::Post);
    if has_body {
        let cl = format!("Content-Length: {}\r\n", req.body.len());
        head.push_str(&cl);
        shown.push_str(&cl);
    }
    head.push_str("Connection: close\r\nUser-Agent: hilt\r\n\r\n");
    shown.push_str("Connection: close\r\nUser-Agent: hilt\r\n\r\n");
    let secrets = req.secrets();
    let mut shown_req = redact(&shown, &secrets);
    shown_req.push_str(&redact(&String::from_utf8_lossy(&req.body), &secrets));

    let (mut conn, tls_record, scheme) = match &target.tls {
        None => {
            let sock = tls::tcp_connect(&target.link, target.port, &stop)?;
            (Conn::Plain(sock), None, "http")
        }
        Some(cfg) => {
            let c = tls::connect(&target.link, target.port, cfg, &stop)?;
            match (c.stream, &c.record.outcome) {
                (Some(s), HandshakeOutcome::Completed) => {
                    (Conn::Tls(Box::new(s)), Some(c.record), "https")
                }
                (_, outcome) => {
                    return Err(NetError::Tls(format!(
                        "handshake with {} failed: {outcome:?}",
                        target.addr()
                    )))
                }
            }
        }
    };
    let mut wire = head.into_bytes();
    wire.extend_from_slice(&req.body);
    write_all(&mut conn, &wire, &stop)?;

    let (status, reason, version, headers, head_len, mut buf) = loop {
        let mut buf = Vec::new();
        let head_end = read_head(&mut conn, &mut buf, &stop)?;
        let parsed = parse_head(&buf[..head_end])?;
        if parsed.0 == 100 {
            // 100 Continue: the final response follows.
            continue;
        }
        break (parsed.0, parsed.1, parsed.2, parsed.3, head_end, buf);
    };
    let mut body = buf.split_off(head_len);
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    let te = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
        .map(|(_, v)| v.to_ascii_lowercase());
    let cl = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.trim().parse::<usize>());
    if no_body {
        body.clear();
    } else if te.as_deref().is_some_and(|t| t.contains("chunked")) {
        body = read_chunked(&mut conn, body, opts.max_body, &stop)?;
    } else if let Some(cl) = cl {
        let cl = cl.map_err(|_| NetError::Protocol("bad Content-Length".into()))?;
        if cl > opts.max_body {
            return Err(NetError::Protocol(format!(
                "response body of {cl} bytes exceeds the {} byte limit",
                opts.max_body
            )));
        }
        while body.len() < cl {
            let want = cl - body.len();
            if read_more(&mut conn, &mut body, want, &stop)? == 0 {
                return Err(NetError::Protocol(format!(
                    "connection closed after {} of {cl} body bytes",
                    body.len()
                )));
            }
        }
        body.truncate(cl);
    } else {
        // Until the server closes.
        loop {
            if body.len() > opts.max_body {
                return Err(NetError::Protocol(format!(
                    "response body exceeds the {} byte limit",
                    opts.max_body
                )));
            }
            if read_more(&mut conn, &mut body, 16 * 1024, &stop)? == 0 {
                break;
            }
        }
    }
    let mut shown_resp = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    shown_resp.push_str(&String::from_utf8_lossy(
        &body[..body.len().min(RECORD_BODY)],
    ));
    if body.len() > RECORD_BODY {
        shown_resp.push_str(&format!(
            "\n[... {} more body bytes not recorded]",
            body.len() - RECORD_BODY
        ));
    }
    if let Conn::Tls(s) = conn {
        s.close();
    }
    Ok(HttpResponse {
        status,
        reason,
        version,
        headers,
        body,
        exchange: Exchange {
            target: target.addr().to_string(),
            scheme,
            started_unix_ms,
            elapsed_ms: started.elapsed().as_millis(),
            request: shown_req,
            response: redact(&shown_resp, &secrets),
            tls: tls_record,
        },
    })
}

fn write_all(conn: &mut Conn, mut data: &[u8], stop: &Stop) -> Result<(), NetError> {
    while !data.is_empty() {
        if let Some(why) = stop.reason() {
            return Err(NetError::Stopped(why));
        }
        match conn.write(data) {
            Ok(0) => return Err(NetError::Protocol("connection closed while sending".into())),
            Ok(n) => data = &data[n..],
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(NetError::io("sending the request", e)),
        }
    }
    conn.flush()
        .map_err(|e| NetError::io("sending the request", e))
}

/// Reads up to `want` more bytes into `buf`; 0 means EOF.
fn read_more(
    conn: &mut Conn,
    buf: &mut Vec<u8>,
    want: usize,
    stop: &Stop,
) -> Result<usize, NetError> {
    let mut chunk = [0u8; 16 * 1024];
    let want = want.clamp(1, chunk.len());
    loop {
        if let Some(why) = stop.reason() {
            return Err(NetError::Stopped(why));
        }
        match conn.read(&mut chunk[..want]) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if e.to_string().starts_with("stopped") {
                    return Err(NetError::Stopped("deadline passed"));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
            Err(e) => return Err(NetError::io("reading the response", e)),
        }
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn read_head(conn: &mut Conn, buf: &mut Vec<u8>, stop: &Stop) -> Result<usize, NetError> {
    loop {
        if let Some(end) = find_head_end(buf) {
            return Ok(end);
        }
        if buf.len() > MAX_HEAD {
            return Err(NetError::Protocol(format!(
                "response head exceeds {MAX_HEAD} bytes"
            )));
        }
        if read_more(conn, buf, 4096, stop)? == 0 {
            return Err(NetError::Protocol(if buf.is_empty() {
                "connection closed without a response".into()
            } else {
                "connection closed inside the response head".into()
            }));
        }
    }
}

type Head = (u16, String, String, Vec<(String, String)>);

fn parse_head(head: &[u8]) -> Result<Head, NetError> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("").to_string();
    if !version.starts_with("HTTP/1.") {
        return Err(NetError::Protocol(format!(
            "not an HTTP/1.x response: {:?}",
            status_line.chars().take(80).collect::<String>()
        )));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| NetError::Protocol(format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(NetError::Protocol(format!(
                "more than {MAX_HEADERS} headers"
            )));
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| NetError::Protocol(format!("bad header line {line:?}")))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok((status, reason, version, headers))
}

/// Decodes a chunked body (RFC 9112 section 7.1), bounded by `max`.
fn read_chunked(
    conn: &mut Conn,
    mut pending: Vec<u8>,
    max: usize,
    stop: &Stop,
) -> Result<Vec<u8>, NetError> {
    let mut body = Vec::new();
    loop {
        // Chunk size line.
        let line_end = loop {
            if let Some(p) = pending.windows(2).position(|w| w == b"\r\n") {
                break p;
            }
            if pending.len() > 1024 {
                return Err(NetError::Protocol("chunk size line too long".into()));
            }
            if read_more(conn, &mut pending, 1024, stop)? == 0 {
                return Err(NetError::Protocol(
                    "connection closed inside a chunked body".into(),
                ));
            }
        };
        let line = String::from_utf8_lossy(&pending[..line_end]).into_owned();
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| NetError::Protocol(format!("bad chunk size {size_text:?}")))?;
        pending.drain(..line_end + 2);
        if size == 0 {
            return Ok(body); // trailers ignored
        }
        if body.len().saturating_add(size) > max {
            return Err(NetError::Protocol(format!(
                "response body exceeds the {max} byte limit"
            )));
        }
        while pending.len() < size + 2 {
            let want = size + 2 - pending.len();
            if read_more(conn, &mut pending, want, stop)? == 0 {
                return Err(NetError::Protocol(
                    "connection closed inside a chunk".into(),
                ));
            }
        }
        body.extend_from_slice(&pending[..size]);
        pending.drain(..size + 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let r = HttpRequest::get("/")
            .basic_auth("admin", "hunter2-pw")
            .secret_header("X-Api-Key", "k3y-s3cret");
        let d = format!("{r:?}");
        assert!(
            !d.contains("hunter2-pw") && !d.contains("k3y-s3cret"),
            "{d}"
        );
    }

    #[test]
    fn head_parser_rejects_garbage() {
        assert!(parse_head(b"SSH-2.0-dropbear\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 abc OK\r\n\r\n").is_err());
        let (s, r, _, h) = parse_head(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n").expect("ok");
        assert_eq!((s, r.as_str(), h.len()), (200, "OK", 1));
    }
}
