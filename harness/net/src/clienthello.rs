//! Reading a client's first flight off the wire: the TLS records that carry
//! its ClientHello (RFC 5246 sections 6.2 and 7.4.1.2, RFC 8446 section
//! 4.1.2), or an SSL 2.0-compatible hello (RFC 5246 appendix E.2), or
//! bytes that are no TLS at all.
//!
//! [`HelloAssembler`] takes bytes as they arrive, reassembles a ClientHello
//! fragmented over several records, and never panics: malformed or
//! oversized input ends in [`HelloParse::Malformed`].

use serde::Serialize;

use crate::suites::{self, ser_suites, ser_version, ser_versions};

/// Largest plaintext record fragment (RFC 8446 section 5.1).
pub const MAX_FRAGMENT: usize = 16384;
/// Bytes of non-TLS input kept (escaped) as evidence.
pub const PLAINTEXT_KEEP: usize = 256;

const CT_CHANGE_CIPHER_SPEC: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APPLICATION_DATA: u8 = 23;
const CT_HEARTBEAT: u8 = 24;
const HT_CLIENT_HELLO: u8 = 1;

/// How the hello was framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HelloFormat {
    /// TLS handshake record(s).
    Tls,
    /// The SSL 2.0-compatible CLIENT-HELLO some old clients send first.
    Sslv2Compat,
}

/// What a ClientHello offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientHelloInfo {
    pub format: HelloFormat,
    /// Version in the first record header (SSL 2.0 for the SSLv2 format).
    #[serde(serialize_with = "ser_version")]
    pub record_version: u16,
    /// `client_version` (TLS 1.3: `legacy_version`).
    #[serde(serialize_with = "ser_version")]
    pub client_version: u16,
    /// The supported_versions extension (RFC 8446 4.2.1), if sent.
    #[serde(serialize_with = "ser_versions")]
    pub supported_versions: Option<Vec<u16>>,
    /// Offered suites in the client's order (signalling values included).
    #[serde(serialize_with = "ser_suites")]
    pub cipher_suites: Vec<u16>,
    /// SSL 2.0 cipher kinds of an SSLv2-format hello (hex).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sslv2_cipher_kinds: Vec<String>,
    /// host_name of server_name (non-printable bytes escaped).
    pub sni: Option<String>,
    /// supported_groups (named groups, RFC 8422 / RFC 8446).
    pub supported_groups: Vec<u16>,
    /// signature_algorithms (SignatureScheme codes).
    pub signature_algorithms: Vec<u16>,
    /// Extension types in the order sent.
    pub extensions: Vec<u16>,
    /// TLS_FALLBACK_SCSV (RFC 7507) offered: the client says this is a fallback retry.
    pub fallback_scsv: bool,
    /// renegotiation_info or TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746).
    pub secure_renegotiation: bool,
    /// Handshake records the hello was spread over.
    pub records: usize,
    #[serde(skip)]
    pub random: [u8; 32],
}

impl ClientHelloInfo {
    /// Highest version offered, from supported_versions when present
    /// (RFC 8446 4.2.1: then it alone counts), else `client_version`; as a
    /// TLS 1.x code (see [`suites::version_rank`]).
    pub fn max_version(&self) -> Option<u16> {
        if let Some(list) = &self.supported_versions {
            if let Some(max) = list.iter().filter_map(|v| suites::version_rank(*v)).max() {
                return Some(max);
            }
        }
        suites::version_rank(self.client_version)
    }

    /// Offered suites that are suites (no SCSV, no GREASE).
    pub fn real_suites(&self) -> impl Iterator<Item = u16> + '_ {
        self.cipher_suites
            .iter()
            .copied()
            .filter(|c| !suites::is_signal(*c))
    }

    pub fn offers(&self, suite: u16) -> bool {
        self.cipher_suites.contains(&suite)
    }

    /// Names of offered suites in a weak class (NULL, EXPORT, RC4, DES,
    /// 3DES, anon), then any SSL 2.0 cipher kinds.
    pub fn weak_suites(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .real_suites()
            .filter(|c| suites::weakness(*c).is_some_and(|w| w.is_weak()))
            .map(suites::suite_name)
            .collect();
        out.extend(
            self.sslv2_cipher_kinds
                .iter()
                .map(|k| format!("SSL2_CK_{k}")),
        );
        out
    }
}

/// Where the assembler is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloParse {
    /// More bytes are needed.
    NeedMore,
    /// A complete hello; `trailing` bytes followed it (pipelined records).
    Complete {
        hello: Box<ClientHelloInfo>,
        trailing: usize,
    },
    /// The first bytes are not TLS; the first ≤256 bytes, escaped.
    NotTls { first_bytes: String },
    /// TLS framing, but broken or over a limit.
    Malformed(String),
}

/// Escapes bytes for evidence (printable ASCII kept, the rest `\xNN`).
pub fn escape_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

/// Reassembles a ClientHello from the bytes a client sends.
#[derive(Debug)]
pub struct HelloAssembler {
    max_hello: usize,
    /// Raw bytes received and not yet consumed as whole records.
    pending: Vec<u8>,
    /// First bytes received (for the plaintext case).
    head: Vec<u8>,
    /// Handshake bytes collected so far.
    handshake: Vec<u8>,
    record_version: Option<u16>,
    records: usize,
    total: usize,
    done: Option<HelloParse>,
}

impl HelloAssembler {
    /// `max_hello`: the largest ClientHello accepted (handshake header
    /// included). Raw input is bounded by twice that plus record headers.
    pub fn new(max_hello: usize) -> Self {
        Self {
            max_hello: max_hello.max(64),
            pending: Vec::new(),
            head: Vec::new(),
            handshake: Vec::new(),
            record_version: None,
            records: 0,
            total: 0,
            done: None,
        }
    }

    fn raw_limit(&self) -> usize {
        self.max_hello * 2 + 1024
    }

    /// Bytes taken so far.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The first bytes received (≤256).
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// Feeds bytes; returns the state after them. Once the state is final
    /// (anything but `NeedMore`) further input is ignored (except that a
    /// `NotTls` state keeps collecting up to 256 bytes).
    pub fn push(&mut self, data: &[u8]) -> HelloParse {
        let room = PLAINTEXT_KEEP.saturating_sub(self.head.len());
        self.head.extend_from_slice(&data[..data.len().min(room)]);
        if let Some(done) = &self.done {
            if let HelloParse::NotTls { .. } = done {
                let first = HelloParse::NotTls {
                    first_bytes: escape_bytes(&self.head),
                };
                self.done = Some(first.clone());
                return first;
            }
            if let HelloParse::Complete { hello, trailing } = done {
                let more = HelloParse::Complete {
                    hello: hello.clone(),
                    trailing: trailing.saturating_add(data.len()),
                };
                self.total = self.total.saturating_add(data.len());
                self.done = Some(more.clone());
                return more;
            }
            return done.clone();
        }
        self.total = self.total.saturating_add(data.len());
        let room = self.raw_limit().saturating_sub(self.pending.len());
        let overflow = data.len() > room;
        self.pending
            .extend_from_slice(&data[..data.len().min(room)]);
        let state = self.advance();
        let state = match state {
            HelloParse::NeedMore if overflow || self.total > self.raw_limit() => {
                HelloParse::Malformed(format!(
                    "{} bytes without a complete ClientHello (limit {})",
                    self.total,
                    self.raw_limit()
                ))
            }
            s => s,
        };
        if state != HelloParse::NeedMore {
            self.done = Some(state.clone());
            self.pending = Vec::new();
        }
        state
    }

    fn advance(&mut self) -> HelloParse {
        if self.records == 0 {
            match classify(&self.pending) {
                First::NeedMore => return HelloParse::NeedMore,
                First::NotTls => {
                    return HelloParse::NotTls {
                        first_bytes: escape_bytes(&self.head),
                    }
                }
                First::Sslv2 => return parse_sslv2(&self.pending, self.max_hello),
                First::WrongRecord(t) => {
                    return HelloParse::Malformed(format!(
                        "first record is {} (type {t}), not a handshake",
                        content_type_name(t)
                    ))
                }
                First::Handshake => {}
            }
        }
        let mut at = 0;
        while let Some(header) = self.pending.get(at..at + 5) {
            let (ctype, major, minor) = (header[0], header[1], header[2]);
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            if ctype != CT_HANDSHAKE {
                return HelloParse::Malformed(format!(
                    "{} record (type {ctype}) before the ClientHello was complete",
                    content_type_name(ctype)
                ));
            }
            if major != 3 {
                return HelloParse::Malformed(format!("record version {major}.{minor} is not 3.x"));
            }
            if len > MAX_FRAGMENT {
                return HelloParse::Malformed(format!(
                    "record length {len} exceeds {MAX_FRAGMENT}"
                ));
            }
            if len == 0 {
                return HelloParse::Malformed("empty handshake record".into());
            }
            let Some(fragment) = self.pending.get(at + 5..at + 5 + len) else {
                break;
            };
            if self.record_version.is_none() {
                self.record_version = Some(u16::from_be_bytes([major, minor]));
            }
            self.records += 1;
            self.handshake.extend_from_slice(fragment);
            at += 5 + len;
            if let Some(state) = self.try_hello(at) {
                return state;
            }
        }
        self.pending.drain(..at);
        HelloParse::NeedMore
    }

    /// Checks the collected handshake bytes after a record; `Some` once
    /// final. `at`: raw bytes consumed so far from `pending`.
    fn try_hello(&self, at: usize) -> Option<HelloParse> {
        let hs = &self.handshake;
        if hs.len() < 4 {
            return None;
        }
        if hs[0] != HT_CLIENT_HELLO {
            return Some(HelloParse::Malformed(format!(
                "first handshake message is {} (type {}), not client_hello",
                handshake_name(hs[0]),
                hs[0]
            )));
        }
        let len = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
        if len + 4 > self.max_hello {
            return Some(HelloParse::Malformed(format!(
                "ClientHello length {len} exceeds the limit of {} bytes",
                self.max_hello
            )));
        }
        let body = hs.get(4..4 + len)?;
        let trailing = self.pending.len().saturating_sub(at) + (hs.len() - 4 - len);
        let record_version = self.record_version.unwrap_or(0);
        Some(match parse_body(body) {
            Ok(mut hello) => {
                hello.record_version = record_version;
                hello.records = self.records;
                HelloParse::Complete {
                    hello: Box::new(hello),
                    trailing,
                }
            }
            Err(e) => HelloParse::Malformed(format!("ClientHello: {e}")),
        })
    }
}

/// Parses a whole first flight at once (see [`HelloAssembler`]).
pub fn parse_client_hello(bytes: &[u8], max_hello: usize) -> HelloParse {
    HelloAssembler::new(max_hello).push(bytes)
}

enum First {
    NeedMore,
    Handshake,
    Sslv2,
    WrongRecord(u8),
    NotTls,
}

fn classify(b: &[u8]) -> First {
    let Some(&b0) = b.first() else {
        return First::NeedMore;
    };
    if b0 & 0x80 != 0 {
        // SSL 2.0 two-byte header, then msg_type 1 (CLIENT-HELLO) and a 3.x
        // or 2.0 version.
        return match (b.get(2), b.get(3)) {
            (Some(1), Some(&major)) if major == 3 || major == 0 => First::Sslv2,
            (Some(1), None) | (None, _) => First::NeedMore,
            _ => First::NotTls,
        };
    }
    let Some(&b1) = b.get(1) else {
        return if (CT_CHANGE_CIPHER_SPEC..=CT_HEARTBEAT).contains(&b0) {
            First::NeedMore
        } else {
            First::NotTls
        };
    };
    match (b0, b1) {
        (CT_HANDSHAKE, 3) => First::Handshake,
        (CT_CHANGE_CIPHER_SPEC..=CT_HEARTBEAT, 3) => First::WrongRecord(b0),
        _ => First::NotTls,
    }
}

pub fn content_type_name(t: u8) -> &'static str {
    match t {
        CT_CHANGE_CIPHER_SPEC => "change_cipher_spec",
        CT_ALERT => "alert",
        CT_HANDSHAKE => "handshake",
        CT_APPLICATION_DATA => "application_data",
        CT_HEARTBEAT => "heartbeat",
        _ => "unknown",
    }
}

pub fn handshake_name(t: u8) -> &'static str {
    match t {
        0 => "hello_request",
        1 => "client_hello",
        2 => "server_hello",
        4 => "new_session_ticket",
        8 => "encrypted_extensions",
        11 => "certificate",
        12 => "server_key_exchange",
        13 => "certificate_request",
        14 => "server_hello_done",
        15 => "certificate_verify",
        16 => "client_key_exchange",
        20 => "finished",
        24 => "key_update",
        _ => "unknown",
    }
}

/// A bounds-checked reader over a byte slice.
struct Cur<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8]) -> Self {
        Self { b, at: 0 }
    }

    fn left(&self) -> usize {
        self.b.len() - self.at
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len());
        match end {
            Some(end) => {
                let s = &self.b[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => Err(format!(
                "{what}: needs {n} bytes, {} left",
                self.b.len() - self.at
            )),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, String> {
        let s = self.take(2, what)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    fn vec8(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = usize::from(self.u8(what)?);
        self.take(n, what)
    }

    fn vec16(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = usize::from(self.u16(what)?);
        self.take(n, what)
    }
}

fn u16_list(b: &[u8], what: &str) -> Result<Vec<u16>, String> {
    if b.len() % 2 != 0 {
        return Err(format!("{what}: odd length {}", b.len()));
    }
    Ok(b.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

fn empty_info(format: HelloFormat) -> ClientHelloInfo {
    ClientHelloInfo {
        format,
        record_version: 0,
        client_version: 0,
        supported_versions: None,
        cipher_suites: Vec::new(),
        sslv2_cipher_kinds: Vec::new(),
        sni: None,
        supported_groups: Vec::new(),
        signature_algorithms: Vec::new(),
        extensions: Vec::new(),
        fallback_scsv: false,
        secure_renegotiation: false,
        records: 0,
        random: [0; 32],
    }
}

/// Parses a ClientHello body (after the 4-byte handshake header).
fn parse_body(body: &[u8]) -> Result<ClientHelloInfo, String> {
    let mut c = Cur::new(body);
    let mut h = empty_info(HelloFormat::Tls);
    h.client_version = c.u16("client_version")?;
    h.random.copy_from_slice(c.take(32, "random")?);
    let sid = c.vec8("session_id")?;
    if sid.len() > 32 {
        return Err(format!("session_id of {} bytes (max 32)", sid.len()));
    }
    let suites = c.vec16("cipher_suites")?;
    if suites.is_empty() {
        return Err("no cipher suites".into());
    }
    h.cipher_suites = u16_list(suites, "cipher_suites")?;
    let compression = c.vec8("compression_methods")?;
    if compression.is_empty() {
        return Err("no compression methods".into());
    }
    h.fallback_scsv = h.offers(suites::TLS_FALLBACK_SCSV);
    h.secure_renegotiation = h.offers(suites::TLS_EMPTY_RENEGOTIATION_INFO_SCSV);
    if c.left() == 0 {
        return Ok(h);
    }
    let exts = c.vec16("extensions")?;
    if c.left() != 0 {
        return Err(format!("{} bytes after the extensions", c.left()));
    }
    let mut e = Cur::new(exts);
    while e.left() > 0 {
        let typ = e.u16("extension type")?;
        let data = e.vec16("extension data")?;
        h.extensions.push(typ);
        parse_extension(&mut h, typ, data)?;
    }
    Ok(h)
}

fn parse_extension(h: &mut ClientHelloInfo, typ: u16, data: &[u8]) -> Result<(), String> {
    let mut d = Cur::new(data);
    match typ {
        0 if !data.is_empty() && h.sni.is_none() => {
            let list = d.vec16("server_name list")?;
            let mut l = Cur::new(list);
            while l.left() > 0 {
                let kind = l.u8("server_name type")?;
                let name = l.vec16("server_name")?;
                if kind == 0 && h.sni.is_none() {
                    h.sni = Some(escape_bytes(&name[..name.len().min(255)]));
                }
            }
        }
        10 => h.supported_groups = u16_list(d.vec16("supported_groups")?, "supported_groups")?,
        13 => {
            h.signature_algorithms =
                u16_list(d.vec16("signature_algorithms")?, "signature_algorithms")?
        }
        43 => {
            let list = u16_list(d.vec8("supported_versions")?, "supported_versions")?;
            if list.is_empty() {
                return Err("empty supported_versions".into());
            }
            h.supported_versions = Some(list);
        }
        0xff01 => h.secure_renegotiation = true,
        _ => {}
    }
    Ok(())
}

/// SSL 2.0-compatible CLIENT-HELLO (RFC 5246 E.2): 2-byte length with the
/// high bit set, msg_type 1, version, three lengths, cipher specs (3 bytes
/// each), session id, challenge.
fn parse_sslv2(b: &[u8], max_hello: usize) -> HelloParse {
    if b.len() < 2 {
        return HelloParse::NeedMore;
    }
    let len = (usize::from(b[0] & 0x7f) << 8) | usize::from(b[1]);
    if len > max_hello {
        return HelloParse::Malformed(format!(
            "SSLv2 hello length {len} exceeds the limit of {max_hello} bytes"
        ));
    }
    let Some(body) = b.get(2..2 + len) else {
        return HelloParse::NeedMore;
    };
    let parsed = (|| -> Result<ClientHelloInfo, String> {
        let mut c = Cur::new(body);
        let mut h = empty_info(HelloFormat::Sslv2Compat);
        h.record_version = suites::SSL_2_0;
        let _msg_type = c.u8("msg_type")?;
        h.client_version = c.u16("version")?;
        let spec_len = usize::from(c.u16("cipher_spec_length")?);
        let sid_len = usize::from(c.u16("session_id_length")?);
        let chal_len = usize::from(c.u16("challenge_length")?);
        if spec_len == 0 || spec_len % 3 != 0 {
            return Err(format!("cipher_spec_length {spec_len}"));
        }
        if !(16..=32).contains(&chal_len) {
            return Err(format!("challenge_length {chal_len} (16..32)"));
        }
        for spec in c.take(spec_len, "cipher_specs")?.chunks_exact(3) {
            if spec[0] == 0 {
                h.cipher_suites.push(u16::from_be_bytes([spec[1], spec[2]]));
            } else {
                h.sslv2_cipher_kinds.push(crate::certinfo::to_hex(spec));
            }
        }
        c.take(sid_len, "session_id")?;
        let challenge = c.take(chal_len, "challenge")?;
        h.random[32 - chal_len..].copy_from_slice(challenge);
        h.fallback_scsv = h.offers(suites::TLS_FALLBACK_SCSV);
        h.secure_renegotiation = h.offers(suites::TLS_EMPTY_RENEGOTIATION_INFO_SCSV);
        h.records = 1;
        Ok(h)
    })();
    match parsed {
        Ok(hello) => HelloParse::Complete {
            hello: Box::new(hello),
            trailing: b.len() - 2 - len,
        },
        Err(e) => HelloParse::Malformed(format!("SSLv2 hello: {e}")),
    }
}

/// Builds a ClientHello handshake message (header included), for tests
/// and hand-written clients. `versions`: the supported_versions extension.
pub fn build_client_hello(
    client_version: u16,
    suites: &[u16],
    sni: Option<&str>,
    versions: Option<&[u16]>,
) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&client_version.to_be_bytes());
    body.extend_from_slice(&[0x42; 32]);
    body.push(0);
    push_u16(&mut body, (suites.len() * 2) as u16);
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]);
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let n = name.len().min(255) as u16;
        push_u16(&mut ext, 0);
        push_u16(&mut ext, n + 5);
        push_u16(&mut ext, n + 3);
        ext.push(0);
        push_u16(&mut ext, n);
        ext.extend_from_slice(&name.as_bytes()[..usize::from(n)]);
    }
    // supported_groups x25519, secp256r1; signature_algorithms
    // rsa_pkcs1_sha256, ecdsa_secp256r1_sha256; renegotiation_info.
    ext.extend_from_slice(&[0, 10, 0, 6, 0, 4, 0, 0x1d, 0, 0x17]);
    ext.extend_from_slice(&[0, 13, 0, 6, 0, 4, 4, 1, 4, 3]);
    ext.extend_from_slice(&[0xff, 1, 0, 1, 0]);
    if let Some(v) = versions {
        let n = (v.len() * 2).min(254) as u8;
        push_u16(&mut ext, 43);
        push_u16(&mut ext, u16::from(n) + 1);
        ext.push(n);
        for x in v.iter().take(127) {
            ext.extend_from_slice(&x.to_be_bytes());
        }
    }
    push_u16(&mut body, ext.len() as u16);
    body.extend_from_slice(&ext);
    let mut hs = vec![HT_CLIENT_HELLO];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    hs
}

/// Wraps handshake bytes in records of at most `fragment` bytes each.
pub fn to_records(record_version: u16, handshake: &[u8], fragment: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in handshake.chunks(fragment.clamp(1, MAX_FRAGMENT)) {
        out.push(CT_HANDSHAKE);
        out.extend_from_slice(&record_version.to_be_bytes());
        push_u16(&mut out, chunk.len() as u16);
        out.extend_from_slice(chunk);
    }
    out
}

fn push_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(p: HelloParse) -> (ClientHelloInfo, usize) {
        match p {
            HelloParse::Complete { hello, trailing } => (*hello, trailing),
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn parses_a_modern_hello() {
        let hs = build_client_hello(
            0x0303,
            &[0x0a0a, 0x1301, 0xc02f, 0x00ff],
            Some("dev.test"),
            Some(&[0x2a2a, 0x0304, 0x0303]),
        );
        let (h, trailing) = complete(parse_client_hello(&to_records(0x0301, &hs, 16384), 16384));
        assert_eq!(trailing, 0);
        assert_eq!(h.record_version, 0x0301);
        assert_eq!(h.client_version, 0x0303);
        assert_eq!(h.supported_versions, Some(vec![0x2a2a, 0x0304, 0x0303]));
        assert_eq!(h.max_version(), Some(0x0304));
        assert_eq!(h.sni.as_deref(), Some("dev.test"));
        assert!(h.secure_renegotiation);
        assert_eq!(h.real_suites().collect::<Vec<_>>(), vec![0x1301, 0xc02f]);
        assert_eq!(h.records, 1);
        assert_eq!(h.random, [0x42; 32]);
        assert!(h.weak_suites().is_empty());
    }

    #[test]
    fn reassembles_a_hello_fragmented_over_records_and_reads() {
        let hs = build_client_hello(0x0301, &[0x002f, 0x000a, 0x0005], Some("a.test"), None);
        // 7-byte fragments, plus a pipelined alert record after the hello.
        let mut wire = to_records(0x0301, &hs, 7);
        let records = hs.len().div_ceil(7);
        wire.extend_from_slice(&[21, 3, 1, 0, 2, 1, 0]);
        // Fed one byte at a time: NeedMore until the last fragment.
        let mut a = HelloAssembler::new(16384);
        let mut last = HelloParse::NeedMore;
        let mut completed_at = None;
        for (i, b) in wire.iter().enumerate() {
            last = a.push(std::slice::from_ref(b));
            if completed_at.is_none() && last != HelloParse::NeedMore {
                completed_at = Some(i);
            }
        }
        let (h, trailing) = complete(last);
        assert_eq!(trailing, 7);
        assert_eq!(completed_at, Some(wire.len() - 8));
        assert_eq!(h.records, records);
        assert_eq!(h.max_version(), Some(0x0301));
        assert_eq!(
            h.weak_suites(),
            vec!["TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_RC4_128_SHA"]
        );
        // The same bytes in one piece give the same hello.
        let (h2, _) = complete(parse_client_hello(&wire, 16384));
        assert_eq!(h, h2);
    }

    #[test]
    fn malformed_input_is_reported_not_panicked_on() {
        let hs = build_client_hello(0x0303, &[0x002f], None, None);
        let wire = to_records(0x0303, &hs, 16384);
        // Every truncation is NeedMore (never complete, never a panic).
        for cut in 0..wire.len() {
            assert_eq!(
                parse_client_hello(&wire[..cut], 16384),
                HelloParse::NeedMore,
                "{cut}"
            );
        }
        // Corrupting each length byte in turn never panics.
        for i in 0..wire.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut w = wire.clone();
                w[i] = v;
                let _ = parse_client_hello(&w, 16384);
            }
        }
        let bad =
            |bytes: &[u8]| matches!(parse_client_hello(bytes, 16384), HelloParse::Malformed(_));
        assert!(bad(&[22, 3, 1, 0xff, 0xff]), "record over 2^14");
        assert!(
            bad(&[22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]),
            "hello over the limit"
        );
        assert!(bad(&[22, 3, 1, 0, 4, 2, 0, 0, 0]), "not a client_hello");
        assert!(bad(&[22, 3, 1, 0, 0]), "empty record");
        assert!(bad(&[21, 3, 1, 0, 2, 2, 40]), "alert first");
        assert!(
            bad(&[22, 3, 1, 0, 5, 1, 0, 0, 1, 3]),
            "hello body too short"
        );
        assert!(matches!(
            parse_client_hello(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 16384),
            HelloParse::NotTls { first_bytes } if first_bytes.starts_with("GET / HTTP/1.1\\r\\n")
        ));
        assert!(matches!(
            parse_client_hello(&[0u8; 300], 16384),
            HelloParse::NotTls { first_bytes } if first_bytes.len() == 256 * 4
        ));
        // A 1000-byte hello in endless 1-byte records stops at the raw limit
        // (2 * 1024 + 1024 bytes), not at the end of the hello.
        let mut a = HelloAssembler::new(1024);
        let mut state = a.push(&[22, 3, 1, 0, 4, 1, 0, 3, 0xe8]);
        for _ in 0..2000 {
            if state != HelloParse::NeedMore {
                break;
            }
            state = a.push(&[22, 3, 1, 0, 1, 0]);
        }
        assert!(
            matches!(&state, HelloParse::Malformed(m) if m.contains("without a complete")),
            "{state:?}"
        );
    }

    #[test]
    fn parses_an_sslv2_compatible_hello() {
        // CLIENT-HELLO, version 3.1, specs: SSL2 RC4 (0x010080), TLS 0x002f, challenge 16 bytes.
        let mut body = vec![1, 3, 1, 0, 6, 0, 0, 0, 16];
        body.extend_from_slice(&[1, 0, 0x80, 0, 0, 0x2f]);
        body.extend_from_slice(&[7; 16]);
        let mut wire = vec![0x80 | (body.len() >> 8) as u8, body.len() as u8];
        wire.extend_from_slice(&body);
        let (h, _) = complete(parse_client_hello(&wire, 16384));
        assert_eq!(h.format, HelloFormat::Sslv2Compat);
        assert_eq!(h.client_version, 0x0301);
        assert_eq!(h.cipher_suites, vec![0x002f]);
        assert_eq!(h.weak_suites(), vec!["SSL2_CK_010080"]);
        assert_eq!(&h.random[16..], &[7; 16]);
    }
}
