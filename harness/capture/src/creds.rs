//! Credentials sent in the clear: HTTP Basic and form fields, telnet (or
//! any console) logins, FTP USER/PASS, MQTT CONNECT. Every parser works on
//! a reassembled, bounded stream and never indexes out of bounds.

use base64::Engine as _;
use serde::Serialize;

use crate::stream::Stream;

/// Frames listed per credential at most.
const MAX_FRAMES: usize = 64;
/// Credentials reported per flow at most.
const MAX_PER_FLOW: usize = 16;
/// Longest typed line or field value considered.
const MAX_VALUE: usize = 1024;
/// HTTP requests examined per flow at most.
const MAX_REQUESTS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// `Authorization: Basic` header.
    HttpBasic,
    /// A password-like field in a query string, form or JSON body.
    HttpForm,
    /// Typed after a `Password:` prompt on a telnet session.
    TelnetLogin,
    /// Typed after a `Password:` prompt on some other plaintext TCP session.
    ConsoleLogin,
    /// FTP `PASS` command.
    Ftp,
    /// MQTT CONNECT password field.
    MqttConnect,
    /// SNMPv1/v2c community string (one entry per distinct community).
    SnmpCommunity,
}

/// A credential seen in plaintext. The password itself is kept out of
/// `Debug` and serialization; only its length is reported.
#[derive(Clone, Serialize)]
pub struct Credential {
    pub kind: CredentialKind,
    /// User name that went with it, if any (printable, escaped).
    pub user: Option<String>,
    /// Name of the form field that held the password (HTTP forms).
    pub field: Option<String>,
    pub password_len: usize,
    /// First frame carrying the password (1-based, as tshark counts).
    pub frame: u64,
    /// Frames carrying the password (at most 64).
    pub frames: Vec<u64>,
    #[serde(skip)]
    password: Vec<u8>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("kind", &self.kind)
            .field("user", &self.user)
            .field("field", &self.field)
            .field("password", &"<redacted>")
            .field("password_len", &self.password_len)
            .field("frames", &self.frames)
            .finish()
    }
}

impl Credential {
    fn new(
        kind: CredentialKind,
        user: Option<&[u8]>,
        password: &[u8],
        frames: Vec<u64>,
    ) -> Option<Self> {
        if password.is_empty() {
            return None;
        }
        let frame = *frames.first()?;
        Some(Self {
            kind,
            user: user.filter(|u| !u.is_empty()).map(printable),
            field: None,
            password_len: password.len(),
            frame,
            frames,
            password: password.to_vec(),
        })
    }

    /// True if the password seen equals `candidate` (for comparing with a
    /// board's known secrets without printing either).
    pub fn password_matches(&self, candidate: &[u8]) -> bool {
        if candidate.len() != self.password.len() {
            return false;
        }
        self.password
            .iter()
            .zip(candidate)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// Bytes as a printable string: lossy UTF-8, control characters escaped,
/// at most 128 characters.
pub(crate) fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(128)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn find_ci(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

// ---------------------------------------------------------------- HTTP

fn url_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => {
                let hex = std::str::from_utf8(&raw[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn password_field(name: &[u8]) -> bool {
    let n = name.to_ascii_lowercase();
    find(&n, b"pass", 0).is_some() || find(&n, b"pwd", 0).is_some() || n == b"pw" || n == b"pin"
}

fn user_field(name: &[u8]) -> bool {
    let n = name.to_ascii_lowercase();
    find(&n, b"user", 0).is_some()
        || find(&n, b"login", 0).is_some()
        || n == b"email"
        || n == b"account"
        || n == b"uid"
}

/// A field value with its byte range in the stream.
struct Field {
    name: Vec<u8>,
    value: Vec<u8>,
    start: usize,
    end: usize,
}

/// `a=1&b=2` at `base` in the stream.
fn form_fields(raw: &[u8], base: usize, out: &mut Vec<Field>) {
    let mut at = 0;
    for part in raw.split(|b| *b == b'&') {
        if out.len() >= 256 {
            return;
        }
        if let Some(eq) = part.iter().position(|b| *b == b'=') {
            let name = url_decode(&part[..eq]);
            let value = url_decode(&part[eq + 1..]);
            out.push(Field {
                name,
                value,
                start: base + at + eq + 1,
                end: base + at + part.len(),
            });
        }
        at += part.len() + 1;
    }
}

/// A JSON string token at `i` (which is a `"`); returns its unescaped
/// bytes and the index after the closing quote.
fn json_string(b: &[u8], i: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut j = i + 1;
    while j < b.len() && out.len() <= MAX_VALUE {
        match b[j] {
            b'"' => return Some((out, j + 1)),
            b'\\' => {
                let esc = *b.get(j + 1)?;
                out.push(match esc {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    other => other,
                });
                j += 2;
            }
            c => {
                out.push(c);
                j += 1;
            }
        }
    }
    None
}

/// `"key": "value"` pairs anywhere in a JSON body (nesting ignored).
fn json_fields(raw: &[u8], base: usize, out: &mut Vec<Field>) {
    let mut i = 0;
    while i < raw.len() && out.len() < 256 {
        if raw[i] != b'"' {
            i += 1;
            continue;
        }
        let Some((key, after)) = json_string(raw, i) else {
            return;
        };
        let mut j = after;
        while j < raw.len() && raw[j].is_ascii_whitespace() {
            j += 1;
        }
        if raw.get(j) != Some(&b':') {
            i = after;
            continue;
        }
        j += 1;
        while j < raw.len() && raw[j].is_ascii_whitespace() {
            j += 1;
        }
        if raw.get(j) == Some(&b'"') {
            if let Some((value, end)) = json_string(raw, j) {
                out.push(Field {
                    name: key,
                    value,
                    start: base + j + 1,
                    end: base + end.saturating_sub(1),
                });
                i = end;
                continue;
            }
            return;
        }
        i = j;
    }
}

fn fields_to_credentials(fields: &[Field], stream: &Stream, out: &mut Vec<Credential>) {
    let user = fields
        .iter()
        .find(|f| user_field(&f.name) && !password_field(&f.name))
        .map(|f| f.value.clone());
    for f in fields.iter().filter(|f| password_field(&f.name)) {
        let frames = stream.frames_in(f.start, f.end.max(f.start + 1), MAX_FRAMES);
        if let Some(mut c) = Credential::new(
            CredentialKind::HttpForm,
            user.as_deref(),
            &f.value[..f.value.len().min(MAX_VALUE)],
            frames,
        ) {
            c.field = Some(printable(&f.name));
            out.push(c);
        }
    }
}

pub(crate) fn http(client: &Stream, out: &mut Vec<Credential>) {
    let data = &client.data;
    let mut pos = 0;
    for _ in 0..MAX_REQUESTS {
        if pos >= data.len() || out.len() >= MAX_PER_FLOW {
            return;
        }
        let (head_end, body_start) = match find(data, b"\r\n\r\n", pos) {
            Some(e) => (e, e + 4),
            None => (data.len(), data.len()),
        };
        let head = &data[pos..head_end];
        let mut content_length = 0usize;
        let mut form = false;
        let mut json = false;
        let mut line_start = pos;
        for (n, line) in head.split(|b| *b == b'\n').enumerate() {
            let line_at = line_start;
            line_start += line.len() + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if n == 0 {
                // Request line: a query string may carry fields.
                let mut parts = line.splitn(3, |b| *b == b' ');
                let method_len = parts.next().map_or(0, |m| m.len());
                let target = parts.next().unwrap_or_default();
                if let Some(q) = target.iter().position(|b| *b == b'?') {
                    let mut fields = Vec::new();
                    form_fields(
                        &target[q + 1..],
                        line_at + method_len + 1 + q + 1,
                        &mut fields,
                    );
                    fields_to_credentials(&fields, client, out);
                }
                continue;
            }
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let name = &line[..colon];
            let value_off =
                colon + 1 + line[colon + 1..].iter().take_while(|b| **b == b' ').count();
            let value = &line[value_off..];
            if name.eq_ignore_ascii_case(b"authorization") && value.len() > 6 {
                if value[..6].eq_ignore_ascii_case(b"basic ") {
                    let b64 = value[6..].trim_ascii();
                    let engine = base64::engine::GeneralPurpose::new(
                        &base64::alphabet::STANDARD,
                        base64::engine::GeneralPurposeConfig::new().with_decode_padding_mode(
                            base64::engine::DecodePaddingMode::Indifferent,
                        ),
                    );
                    if let Ok(decoded) = engine.decode(b64) {
                        let (user, pass) = match decoded.iter().position(|b| *b == b':') {
                            Some(c) => (&decoded[..c], &decoded[c + 1..]),
                            None => (&decoded[..], &[][..]),
                        };
                        let start = line_at + value_off;
                        let frames = client.frames_in(start, start + value.len(), MAX_FRAMES);
                        out.extend(Credential::new(
                            CredentialKind::HttpBasic,
                            Some(user),
                            pass,
                            frames,
                        ));
                    }
                }
            } else if name.eq_ignore_ascii_case(b"content-length") {
                content_length = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
            } else if name.eq_ignore_ascii_case(b"content-type") {
                let v = value.to_ascii_lowercase();
                form = find(&v, b"x-www-form-urlencoded", 0).is_some();
                json = find(&v, b"json", 0).is_some();
            }
        }
        let body_end = body_start.saturating_add(content_length).min(data.len());
        let body = &data[body_start.min(body_end)..body_end];
        let mut fields = Vec::new();
        if form || (!json && body.contains(&b'=') && !body.contains(&b'\n')) {
            form_fields(body, body_start, &mut fields);
        } else if json || body.first() == Some(&b'{') {
            json_fields(body, body_start, &mut fields);
        }
        fields_to_credentials(&fields, client, out);
        if body_end <= pos {
            return;
        }
        pos = body_end;
    }
}

// ---------------------------------------------------------------- telnet

/// Removes telnet IAC sequences; returns the data bytes and, for each, its
/// offset in the raw stream.
pub(crate) fn strip_telnet(raw: &[u8]) -> (Vec<u8>, Vec<usize>) {
    #[derive(Clone, Copy)]
    enum S {
        Data,
        Iac,
        Option,
        Sub,
        SubIac,
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut offsets = Vec::with_capacity(raw.len());
    let mut state = S::Data;
    for (i, &b) in raw.iter().enumerate() {
        state = match (state, b) {
            (S::Data, 0xff) => S::Iac,
            (S::Data, _) => {
                out.push(b);
                offsets.push(i);
                S::Data
            }
            (S::Iac, 0xff) => {
                out.push(0xff);
                offsets.push(i);
                S::Data
            }
            (S::Iac, 0xfb..=0xfe) => S::Option,
            (S::Iac, 0xfa) => S::Sub,
            (S::Iac, _) | (S::Option, _) => S::Data,
            (S::Sub, 0xff) => S::SubIac,
            (S::Sub, _) => S::Sub,
            (S::SubIac, 0xf0) => S::Data,
            (S::SubIac, _) => S::Sub,
        };
    }
    (out, offsets)
}

/// What the client typed after `after_frame`, up to the end of the line:
/// the value and the raw-stream offsets of the bytes kept.
fn typed_line(
    clean: &[u8],
    offsets: &[usize],
    stream: &Stream,
    after_frame: u64,
) -> Option<(Vec<u8>, Vec<usize>)> {
    let first = offsets
        .iter()
        .position(|o| stream.frame_at(*o).is_some_and(|f| f > after_frame))?;
    let mut value: Vec<u8> = Vec::new();
    let mut kept: Vec<usize> = Vec::new();
    for (i, &b) in clean.iter().enumerate().skip(first) {
        match b {
            b'\r' | b'\n' => break,
            0 => {}
            0x08 | 0x7f => {
                value.pop();
                kept.pop();
            }
            0x15 => {
                value.clear();
                kept.clear();
            }
            0x03 | 0x04 => return None,
            _ => {
                if value.len() >= MAX_VALUE {
                    break;
                }
                value.push(b);
                kept.push(offsets[i]);
            }
        }
    }
    Some((value, kept))
}

const USER_PROMPTS: &[&[u8]] = &[b"login:", b"username:", b"user name:", b"user:"];

/// Logins typed after a `Password:` prompt. `telnet` says whether the
/// streams carry telnet commands to strip.
pub(crate) fn login(client: &Stream, server: &Stream, telnet: bool, out: &mut Vec<Credential>) {
    let (s_clean, s_off) = if telnet {
        strip_telnet(&server.data)
    } else {
        (server.data.clone(), (0..server.data.len()).collect())
    };
    let (c_clean, c_off) = if telnet {
        strip_telnet(&client.data)
    } else {
        (client.data.clone(), (0..client.data.len()).collect())
    };
    let kind = if telnet {
        CredentialKind::TelnetLogin
    } else {
        CredentialKind::ConsoleLogin
    };
    let prompt_frame = |end: usize| {
        s_off
            .get(end.checked_sub(1)?)
            .and_then(|o| server.frame_at(*o))
    };
    let mut from = 0;
    // Prompts examined at most: a device that prints "Password:" in a loop
    // must not make this quadratic.
    for _ in 0..4 * MAX_PER_FLOW {
        if out.len() >= MAX_PER_FLOW {
            return;
        }
        let Some(at) = find_ci(&s_clean, b"password:", from) else {
            return;
        };
        from = at + 9;
        let Some(pw_frame) = prompt_frame(from) else {
            continue;
        };
        // The last user-name prompt before this password prompt.
        let user = USER_PROMPTS
            .iter()
            .filter_map(|p| {
                s_clean[..at]
                    .windows(p.len())
                    .rposition(|w| w.eq_ignore_ascii_case(p))
                    .map(|i| i + p.len())
            })
            .max()
            .and_then(prompt_frame)
            .and_then(|uf| typed_line(&c_clean, &c_off, client, uf))
            .map(|(u, _)| u);
        let Some((password, kept)) = typed_line(&c_clean, &c_off, client, pw_frame) else {
            continue;
        };
        let mut frames: Vec<u64> = Vec::new();
        for o in kept {
            if let Some(f) = client.frame_at(o) {
                if !frames.contains(&f) && frames.len() < MAX_FRAMES {
                    frames.push(f);
                }
            }
        }
        out.extend(Credential::new(kind, user.as_deref(), &password, frames));
    }
}

// ---------------------------------------------------------------- FTP

pub(crate) fn ftp(client: &Stream, out: &mut Vec<Credential>) {
    let data = &client.data;
    let mut user: Option<Vec<u8>> = None;
    let mut at = 0;
    for line in data.split(|b| *b == b'\n') {
        let line_at = at;
        at += line.len() + 1;
        if out.len() >= MAX_PER_FLOW {
            return;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() < 5 {
            continue;
        }
        if line[..5].eq_ignore_ascii_case(b"USER ") {
            user = Some(line[5..].to_vec());
        } else if line[..5].eq_ignore_ascii_case(b"PASS ") {
            let pass = &line[5..line.len().min(5 + MAX_VALUE)];
            let frames = client.frames_in(line_at + 5, line_at + line.len(), MAX_FRAMES);
            out.extend(Credential::new(
                CredentialKind::Ftp,
                user.as_deref(),
                pass,
                frames,
            ));
        }
    }
}

// ---------------------------------------------------------------- SNMP

pub(crate) fn snmp(client: &Stream, out: &mut Vec<Credential>) {
    let mut seen: Vec<(Vec<u8>, Vec<u64>)> = Vec::new();
    for (frame, datagram) in client.chunks() {
        let Some((at, len)) = crate::protocol::snmp_community(datagram) else {
            continue;
        };
        let community = &datagram[at..at + len];
        if let Some((_, frames)) = seen.iter_mut().find(|(c, _)| c == community) {
            if frames.len() < MAX_FRAMES {
                frames.push(frame);
            }
        } else if seen.len() < MAX_PER_FLOW {
            seen.push((community.to_vec(), vec![frame]));
        }
    }
    for (community, frames) in seen {
        out.extend(Credential::new(
            CredentialKind::SnmpCommunity,
            None,
            &community,
            frames,
        ));
    }
}

// ---------------------------------------------------------------- MQTT

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.byte()?, self.byte()?]))
    }
    fn varint(&mut self) -> Option<usize> {
        let mut v = 0usize;
        for shift in 0..4 {
            let b = self.byte()?;
            v |= ((b & 0x7f) as usize) << (7 * shift);
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn take(&mut self, n: usize) -> Option<(usize, &'a [u8])> {
        let start = self.at;
        let s = self.b.get(start..start.checked_add(n)?)?;
        self.at += n;
        Some((start, s))
    }
    fn field(&mut self) -> Option<(usize, &'a [u8])> {
        let n = self.u16()? as usize;
        self.take(n)
    }
}

pub(crate) fn mqtt(client: &Stream, out: &mut Vec<Credential>) {
    let _ = mqtt_connect(client, out);
}

fn mqtt_connect(client: &Stream, out: &mut Vec<Credential>) -> Option<()> {
    let mut c = Cursor {
        b: &client.data,
        at: 0,
    };
    if c.byte()? != 0x10 {
        return None;
    }
    let _remaining = c.varint()?;
    let (_, name) = c.field()?;
    if name != b"MQTT" && name != b"MQIsdp" {
        return None;
    }
    let level = c.byte()?;
    let flags = c.byte()?;
    let _keepalive = c.u16()?;
    if level == 5 {
        let props = c.varint()?;
        c.take(props)?;
    }
    let _client_id = c.field()?;
    if flags & 0x04 != 0 {
        if level == 5 {
            let props = c.varint()?;
            c.take(props)?;
        }
        c.field()?;
        c.field()?;
    }
    let user = if flags & 0x80 != 0 {
        Some(c.field()?.1)
    } else {
        None
    };
    if flags & 0x40 != 0 {
        let (start, pass) = c.field()?;
        let frames = client.frames_in(start, start + pass.len(), MAX_FRAMES);
        out.extend(Credential::new(
            CredentialKind::MqttConnect,
            user,
            pass,
            frames,
        ));
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(parts: &[(u64, &[u8])]) -> Stream {
        let mut budget = 1 << 20;
        let mut s = Stream::new(1 << 16);
        for (frame, bytes) in parts {
            s.push_datagram(*frame, bytes, &mut budget);
        }
        s
    }

    #[test]
    fn http_basic_form_json_query() {
        let c = stream(&[
            (3, b"GET /x?user=bob&password=s%40cret HTTP/1.1\r\nAuthorization: Basic YWRtaW46aHVudGVyMg==\r\n\r\n"),
            (5, b"POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 21\r\n\r\n"),
            (6, b"username=al&pwd=abc+d"),
            (8, b"POST /j HTTP/1.1\r\nContent-Length: 33\r\n\r\n{\"login\":\"eve\",\"passwd\":\"x\\\"y\"}  "),
        ]);
        let mut out = Vec::new();
        http(&c, &mut out);
        let kinds: Vec<_> = out
            .iter()
            .map(|c| (c.kind, c.user.clone(), c.frame))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (CredentialKind::HttpForm, Some("bob".into()), 3),
                (CredentialKind::HttpBasic, Some("admin".into()), 3),
                (CredentialKind::HttpForm, Some("al".into()), 6),
                (CredentialKind::HttpForm, Some("eve".into()), 8),
            ]
        );
        assert!(out[0].password_matches(b"s@cret"));
        assert!(out[1].password_matches(b"hunter2"));
        assert!(out[2].password_matches(b"abc d"));
        assert!(out[3].password_matches(b"x\"y"));
        assert!(!format!("{:?}", out[1]).contains("hunter2"));
    }

    #[test]
    fn telnet_login_typed_char_by_char() {
        let server = stream(&[
            (2, b"\xff\xfd\x18\xff\xfb\x01"),
            (4, b"Debian\r\nbox login: "),
            (8, b"ad"),
            (9, b"m"),
            (12, b"\r\nPassword: "),
        ]);
        let client = stream(&[
            (3, b"\xff\xfc\x18\xff\xfd\x01"),
            (7, b"ad"),
            (9, b"m"),
            (10, b"\r\0"),
            (13, b"p"),
            (14, b"\xff\xff"),
            (15, b"x\x7fw"),
            (16, b"\r\n"),
        ]);
        let mut out = Vec::new();
        login(&client, &server, true, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].user.as_deref(), Some("adm"));
        assert!(out[0].password_matches(b"p\xffw"));
        assert_eq!(out[0].frames, vec![13, 14, 15]);
    }

    #[test]
    fn ftp_and_mqtt() {
        let c = stream(&[(4, b"USER anna\r\n"), (6, b"PASS pw1\r\nQUIT\r\n")]);
        let mut out = Vec::new();
        ftp(&c, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].frame, 6);
        let mut pkt = vec![0x10, 0];
        pkt.extend_from_slice(b"\x00\x04MQTT\x04\xc2\x00\x3c\x00\x02id\x00\x03bob\x00\x04pass");
        pkt[1] = (pkt.len() - 2) as u8;
        let c = stream(&[(9, &pkt)]);
        let mut out = Vec::new();
        mqtt(&c, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].user.as_deref(), Some("bob"));
        assert!(out[0].password_matches(b"pass"));
    }
}
