//! A syslog collector: RFC 5424 messages over UDP (RFC 5426) and TCP with
//! octet-counting or LF framing (RFC 6587), parsed and timestamped on
//! arrival.
//!
//! Bounds: a message is at most 64 KiB, at most 16 TCP senders are served
//! at once, at most `max_messages` are kept (later ones are counted as
//! dropped). A message that is not valid RFC 5424 is kept raw with the
//! parse error, so a device's malformed logging is evidence too.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::error::NetError;
use crate::link::Link;
use crate::stop::Stop;

pub const MAX_MESSAGE: usize = 64 * 1024;
const MAX_TCP_PEERS: usize = 16;
const POLL: Duration = Duration::from_millis(25);

/// One SD-ELEMENT: `[id name="value" ...]`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SdElement {
    pub id: String,
    pub params: Vec<(String, String)>,
}

/// The fields of an RFC 5424 message. `None` stands for the NILVALUE "-".
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rfc5424 {
    pub pri: u8,
    pub facility: u8,
    pub severity: u8,
    pub version: u16,
    pub timestamp: Option<String>,
    /// The timestamp as milliseconds since the Unix epoch, when it parsed.
    pub timestamp_unix_ms: Option<i64>,
    pub hostname: Option<String>,
    pub app_name: Option<String>,
    pub procid: Option<String>,
    pub msgid: Option<String>,
    pub structured_data: Vec<SdElement>,
    pub msg: String,
}

/// A message as received.
#[derive(Debug, Clone, Serialize)]
pub struct SyslogMessage {
    pub received_unix_ms: u128,
    pub peer: SocketAddr,
    pub transport: &'static str,
    /// The message bytes, lossy UTF-8.
    pub raw: String,
    pub parsed: Option<Rfc5424>,
    pub parse_error: Option<String>,
}

fn field<'a>(s: &'a str, name: &str, max: usize) -> Result<(Option<String>, &'a str), String> {
    let (tok, rest) = s
        .split_once(' ')
        .ok_or_else(|| format!("message ends before {name}"))?;
    if tok.is_empty() {
        return Err(format!("empty {name}"));
    }
    if tok.len() > max || !tok.bytes().all(|b| (33..=126).contains(&b)) {
        return Err(format!("bad {name} {tok:?}"));
    }
    Ok(((tok != "-").then(|| tok.to_string()), rest))
}

/// Parses one RFC 5424 message (section 6 ABNF).
pub fn parse_rfc5424(bytes: &[u8]) -> Result<Rfc5424, String> {
    let text = String::from_utf8_lossy(bytes);
    let s = text.trim_end_matches(['\n', '\r', '\0']);
    let rest = s.strip_prefix('<').ok_or("no PRI")?;
    let close = rest
        .find('>')
        .filter(|p| (1..=3).contains(p))
        .ok_or("bad PRI")?;
    let pri: u8 = rest[..close]
        .parse()
        .ok()
        .filter(|p| *p <= 191)
        .ok_or("bad PRI")?;
    let rest = &rest[close + 1..];
    let vlen = rest.bytes().take_while(u8::is_ascii_digit).count();
    if vlen == 0 || vlen > 3 || rest.starts_with('0') {
        return Err("bad VERSION (not RFC 5424?)".into());
    }
    let version: u16 = rest[..vlen].parse().map_err(|_| "bad VERSION")?;
    let rest = rest[vlen..]
        .strip_prefix(' ')
        .ok_or("no SP after VERSION")?;
    let (timestamp, rest) = field(rest, "TIMESTAMP", 64)?;
    let timestamp_unix_ms = match &timestamp {
        Some(t) => Some(rfc3339_unix_ms(t).ok_or_else(|| format!("bad TIMESTAMP {t:?}"))?),
        None => None,
    };
    let (hostname, rest) = field(rest, "HOSTNAME", 255)?;
    let (app_name, rest) = field(rest, "APP-NAME", 48)?;
    let (procid, rest) = field(rest, "PROCID", 128)?;
    let (msgid, rest) = field(rest, "MSGID", 32)?;
    let (structured_data, rest) = parse_sd(rest)?;
    let msg = match rest.strip_prefix(' ') {
        Some(m) => m.strip_prefix('\u{feff}').unwrap_or(m).to_string(),
        None if rest.is_empty() => String::new(),
        None => return Err("no SP before MSG".into()),
    };
    Ok(Rfc5424 {
        pri,
        facility: pri / 8,
        severity: pri % 8,
        version,
        timestamp,
        timestamp_unix_ms,
        hostname,
        app_name,
        procid,
        msgid,
        structured_data,
        msg,
    })
}

fn parse_sd(s: &str) -> Result<(Vec<SdElement>, &str), String> {
    if let Some(rest) = s.strip_prefix('-') {
        return Ok((Vec::new(), rest));
    }
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        match chars.peek() {
            Some((_, '[')) => {
                chars.next();
            }
            Some((i, _)) if !out.is_empty() => return Ok((out, &s[*i..])),
            None if !out.is_empty() => return Ok((out, "")),
            _ => return Err("bad STRUCTURED-DATA".into()),
        }
        if out.len() >= 64 {
            return Err("too many SD-ELEMENTs".into());
        }
        let mut id = String::new();
        while let Some((_, c)) = chars.peek() {
            if *c == ' ' || *c == ']' {
                break;
            }
            if *c == '=' || *c == '"' || id.len() >= 32 {
                return Err("bad SD-ID".into());
            }
            id.push(*c);
            chars.next();
        }
        if id.is_empty() {
            return Err("empty SD-ID".into());
        }
        let mut params = Vec::new();
        loop {
            match chars.next() {
                Some((_, ']')) => break,
                Some((_, ' ')) => {}
                _ => return Err(format!("unterminated SD-ELEMENT {id:?}")),
            }
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some((_, '=')) => break,
                    Some((_, c)) if c != ' ' && c != ']' && c != '"' && name.len() < 32 => {
                        name.push(c)
                    }
                    _ => return Err(format!("bad PARAM-NAME in {id:?}")),
                }
            }
            if !matches!(chars.next(), Some((_, '"'))) {
                return Err(format!("PARAM-VALUE of {name:?} not quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.peek() {
                        Some((_, c @ ('"' | '\\' | ']'))) => {
                            value.push(*c);
                            chars.next();
                        }
                        _ => value.push('\\'),
                    },
                    Some((_, '"')) => break,
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("unterminated PARAM-VALUE of {name:?}")),
                }
            }
            if params.len() >= 64 {
                return Err("too many SD-PARAMs".into());
            }
            params.push((name, value));
        }
        out.push(SdElement { id, params });
    }
}

/// RFC 3339 full-date "T" full-time to Unix milliseconds.
fn rfc3339_unix_ms(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 6 {
            return None;
        }
        let frac = &t[start..i];
        let padded = format!("{frac:0<3}");
        ms = padded[..3].parse().ok()?;
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        s @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let m = oh * 60 + om;
            if *s == b'+' {
                m
            } else {
                -m
            }
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian).
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + ms)
}

#[derive(Debug, Clone)]
pub struct SyslogOptions {
    pub max_messages: usize,
    /// A TCP sender silent this long is disconnected.
    pub tcp_idle_timeout: Duration,
}

impl Default for SyslogOptions {
    fn default() -> Self {
        Self {
            max_messages: 10_000,
            tcp_idle_timeout: Duration::from_secs(60),
        }
    }
}

struct Shared {
    messages: Mutex<Vec<SyslogMessage>>,
    dropped: AtomicU64,
    max: usize,
    stopping: AtomicBool,
}

impl Shared {
    fn push(&self, peer: SocketAddr, transport: &'static str, bytes: &[u8]) {
        let (parsed, parse_error) = match parse_rfc5424(bytes) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        };
        let msg = SyslogMessage {
            received_unix_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0),
            peer,
            transport,
            raw: String::from_utf8_lossy(bytes).into_owned(),
            parsed,
            parse_error,
        };
        let mut m = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() < self.max {
            m.push(msg);
        } else {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A running collector; stopped by [`SyslogCollector::shutdown`] or on drop.
pub struct SyslogCollector {
    link: Link,
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for SyslogCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogCollector")
            .field("udp", &self.udp_addr)
            .field("tcp", &self.tcp_addr)
            .finish()
    }
}

impl SyslogCollector {
    /// Listens on the link's host address, UDP and/or TCP port (0 picks
    /// one), taking messages only through the link.
    pub fn start(
        link: &Link,
        udp: Option<u16>,
        tcp: Option<u16>,
        opts: SyslogOptions,
    ) -> Result<Self, NetError> {
        if udp.is_none() && tcp.is_none() {
            return Err(NetError::Setup(
                "syslog collector needs a UDP or TCP address".into(),
            ));
        }
        let shared = Arc::new(Shared {
            messages: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
            max: opts.max_messages,
            stopping: AtomicBool::new(false),
        });
        let mut me = Self {
            link: link.clone(),
            udp_addr: None,
            tcp_addr: None,
            shared: shared.clone(),
            threads: Vec::new(),
        };
        if let Some(port) = udp {
            let sock = link.udp_listener(port)?;
            sock.set_read_timeout(Some(POLL))
                .map_err(|e| NetError::io("udp socket", e))?;
            me.udp_addr = Some(
                sock.local_addr()
                    .map_err(|e| NetError::io("udp socket", e))?,
            );
            let sh = shared.clone();
            me.threads
                .push(spawn("hilt-syslog-udp", move || udp_loop(sock, sh))?);
        }
        if let Some(port) = tcp {
            let l = link.tcp_listener(port)?;
            l.set_nonblocking(true)
                .map_err(|e| NetError::io("tcp listener", e))?;
            me.tcp_addr = Some(
                l.local_addr()
                    .map_err(|e| NetError::io("tcp listener", e))?,
            );
            let sh = shared.clone();
            let idle = opts.tcp_idle_timeout;
            me.threads
                .push(spawn("hilt-syslog-tcp", move || tcp_loop(l, sh, idle))?);
        }
        Ok(me)
    }

    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// Messages received so far, in arrival order.
    pub fn messages(&self) -> Vec<SyslogMessage> {
        self.shared
            .messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Messages not kept because `max_messages` was reached.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Waits until some message satisfies `want`.
    pub fn wait_for(
        &self,
        want: impl Fn(&SyslogMessage) -> bool,
        stop: &Stop,
    ) -> Result<SyslogMessage, NetError> {
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| want(m)) {
                return Ok(m);
            }
            if let Some(why) = stop.reason() {
                // Silence means nothing if the link is down.
                self.link.ensure_up()?;
                return Err(NetError::Stopped(why));
            }
            std::thread::sleep(POLL);
        }
    }

    pub fn shutdown(mut self) -> Vec<SyslogMessage> {
        self.stop_threads();
        self.messages()
    }

    fn stop_threads(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for SyslogCollector {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, NetError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| NetError::Setup(format!("thread: {e}")))
}

fn udp_loop(sock: UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    while !shared.stopping.load(Ordering::SeqCst) {
        match sock.recv_from(&mut buf) {
            Ok((n, peer)) => shared.push(peer, "udp", &buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

fn tcp_loop(l: TcpListener, shared: Arc<Shared>, idle: Duration) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    while !shared.stopping.load(Ordering::SeqCst) {
        workers.retain(|w: &JoinHandle<()>| !w.is_finished());
        if active.load(Ordering::SeqCst) >= MAX_TCP_PEERS {
            std::thread::sleep(POLL);
            continue;
        }
        match l.accept() {
            Ok((s, peer)) => {
                active.fetch_add(1, Ordering::SeqCst);
                let (sh, act) = (shared.clone(), active.clone());
                match std::thread::Builder::new()
                    .name("hilt-syslog-peer".into())
                    .spawn(move || {
                        tcp_peer(s, peer, &sh, idle);
                        act.fetch_sub(1, Ordering::SeqCst);
                    }) {
                    Ok(h) => workers.push(h),
                    Err(_) => {
                        active.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
    for w in workers {
        let _ = w.join();
    }
}

/// Reads frames from one TCP sender: octet-counted when a frame starts
/// with a digit (RFC 6587 3.4.1), else LF-terminated (3.4.2).
fn tcp_peer(mut s: TcpStream, peer: SocketAddr, shared: &Shared, idle: Duration) {
    if s.set_nonblocking(false).is_err() || s.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut silent = Duration::ZERO;
    loop {
        // Take every complete frame out of the buffer.
        loop {
            match next_frame(&buf) {
                Frame::Complete { start, end, next } => {
                    shared.push(peer, "tcp", &buf[start..end]);
                    buf.drain(..next);
                }
                Frame::Incomplete => break,
                Frame::Invalid => return,
            }
        }
        if shared.stopping.load(Ordering::SeqCst) || silent > idle {
            return;
        }
        match s.read(&mut chunk) {
            Ok(0) => {
                // A last LF-less frame at EOF.
                if !buf.is_empty() && !buf[0].is_ascii_digit() {
                    shared.push(peer, "tcp", &buf);
                }
                return;
            }
            Ok(n) => {
                silent = Duration::ZERO;
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                silent += POLL;
            }
            Err(_) => return,
        }
    }
}

enum Frame {
    Complete {
        start: usize,
        end: usize,
        next: usize,
    },
    Incomplete,
    Invalid,
}

fn next_frame(buf: &[u8]) -> Frame {
    if buf.is_empty() {
        return Frame::Incomplete;
    }
    if buf[0].is_ascii_digit() {
        let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == buf.len() {
            return if digits > 6 {
                Frame::Invalid
            } else {
                Frame::Incomplete
            };
        }
        if digits > 6 || buf[digits] != b' ' {
            return Frame::Invalid;
        }
        let len: usize = match std::str::from_utf8(&buf[..digits])
            .ok()
            .and_then(|d| d.parse().ok())
        {
            Some(l) if l <= MAX_MESSAGE => l,
            _ => return Frame::Invalid,
        };
        let start = digits + 1;
        if buf.len() < start + len {
            return Frame::Incomplete;
        }
        Frame::Complete {
            start,
            end: start + len,
            next: start + len,
        }
    } else {
        match buf.iter().position(|b| *b == b'\n') {
            Some(p) => Frame::Complete {
                start: 0,
                end: p,
                next: p + 1,
            },
            None if buf.len() > MAX_MESSAGE => Frame::Invalid,
            None => Frame::Incomplete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc5424_examples() {
        let m = parse_rfc5424(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8").expect("ex1");
        assert_eq!((m.facility, m.severity), (4, 2));
        assert_eq!(m.hostname.as_deref(), Some("mymachine.example.com"));
        assert_eq!(m.procid, None);
        assert_eq!(m.msgid.as_deref(), Some("ID47"));
        assert_eq!(m.msg, "'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(m.timestamp_unix_ms, Some(1_065_910_455_003));
        let m = parse_rfc5424(br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event"#).expect("ex4");
        assert_eq!(m.structured_data.len(), 2);
        assert_eq!(
            m.structured_data[0].params[1],
            ("eventSource".into(), "Application".into())
        );
        assert_eq!(m.msg, "An application event");
        let m = parse_rfc5424(br#"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - [a@1 v="q\"x\]y\\z"]"#).expect("ex2");
        assert_eq!(m.structured_data[0].params[0].1, "q\"x]y\\z");
        assert_eq!(m.msg, "");
        assert_eq!(m.timestamp_unix_ms, Some(1_061_727_255_000));
    }

    #[test]
    fn rejects_malformed_messages_without_panicking() {
        for bad in [
            &b""[..],
            b"<",
            b"<999>1 - - - - - -",
            b"<13>Oct 11 22:14:15 host app: bsd style",
            b"<13>1 - - - - -",
            b"<13>1 - - - - - [",
            b"<13>1 - - - - - [x a=\"b",
            b"<13>1 2003-13-11T22:14:15Z h a p m -",
            b"<13>1 - - - - - [id a=b]",
            b"\xff\xfe<13>",
        ] {
            assert!(
                parse_rfc5424(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn frames() {
        assert!(matches!(
            next_frame(b"5 hello6 world!"),
            Frame::Complete {
                start: 2,
                end: 7,
                next: 7
            }
        ));
        assert!(matches!(next_frame(b"12 short"), Frame::Incomplete));
        assert!(matches!(next_frame(b"9999999 x"), Frame::Invalid));
        assert!(matches!(
            next_frame(b"<13>1 - - - - - - x\nrest"),
            Frame::Complete {
                start: 0,
                end: 19,
                next: 20
            }
        ));
    }
}
