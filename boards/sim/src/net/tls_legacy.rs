//! TLS 1.0 by hand, for two flaws: `tls-legacy-versions` (the HTTPS server
//! also answers TLS 1.0) and `tls-version-fallback` (the telemetry client
//! retries with a TLS 1.0 ClientHello, [`legacy_client_hello`]).
//!
//! rustls speaks only TLS 1.2 and 1.3 and refuses an older ClientHello
//! with a `protocol_version` alert, as the reference firmware should. With
//! the flaw, the server looks at the first record before rustls does
//! ([`is_legacy_hello`], a `peek` that consumes nothing): a ClientHello
//! whose `client_version` is at most TLS 1.0 (0x0301) and that carries no
//! `supported_versions` extension is answered here ([`answer`]) the way an
//! old TLS 1.0 stack answers it: ServerHello (`server_version` 0x0301, a
//! CBC suite the client offered, preferring TLS_RSA_WITH_AES_128_CBC_SHA
//! 0x002f), Certificate (the device chain) and ServerHelloDone, each in a
//! TLS 1.0 record. The handshake goes no further: whatever the client sends
//! next is answered with a `handshake_failure` alert. Every other hello
//! goes to rustls unchanged.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

/// How long the server waits for the first record to arrive in full.
const PEEK_DEADLINE: Duration = Duration::from_secs(5);
/// Largest TLS plaintext record.
const MAX_RECORD: usize = 16384;

const TLS10: [u8; 2] = [0x03, 0x01];
const HANDSHAKE: u8 = 22;
const ALERT: u8 = 21;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const CERTIFICATE: u8 = 11;
const SERVER_HELLO_DONE: u8 = 14;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
const EXT_RENEGOTIATION_INFO: u16 = 0xff01;
const SCSV_RENEGOTIATION: u16 = 0x00ff;

/// CBC suites a TLS 1.0 stack of the time picks, in its order of preference.
const SERVER_SUITES: [u16; 7] = [0x002f, 0x0035, 0x000a, 0xc009, 0xc00a, 0xc013, 0xc014];

/// What the server needs from a legacy ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyHello {
    pub client_version: u16,
    pub suites: Vec<u16>,
    /// The client offered secure renegotiation (extension or SCSV).
    pub renegotiation: bool,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

fn be24(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at.checked_add(3)?)?;
    Some((usize::from(s[0]) << 16) | (usize::from(s[1]) << 8) | usize::from(s[2]))
}

/// Parses one TLS record holding a ClientHello. `Some` only for a hello
/// that offers at most TLS 1.0 and no `supported_versions` extension.
pub fn parse_legacy_hello(record: &[u8]) -> Option<LegacyHello> {
    if *record.first()? != HANDSHAKE || *record.get(1)? != 3 {
        return None;
    }
    let len = usize::from(be16(record, 3)?);
    let hs = record.get(5..5 + len)?;
    if *hs.first()? != CLIENT_HELLO {
        return None;
    }
    let body = hs.get(4..4 + be24(hs, 1)?)?;
    let client_version = be16(body, 0)?;
    if client_version > 0x0301 {
        return None;
    }
    let mut at = 2 + 32;
    at += 1 + usize::from(*body.get(at)?);
    let suites_len = usize::from(be16(body, at)?);
    let suites: Vec<u16> = body
        .get(at + 2..at + 2 + suites_len)?
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    at += 2 + suites_len;
    at += 1 + usize::from(*body.get(at)?);
    let mut renegotiation = suites.contains(&SCSV_RENEGOTIATION);
    if let Some(ext_len) = be16(body, at) {
        let exts = body.get(at + 2..at + 2 + usize::from(ext_len))?;
        let mut e = 0;
        while e + 4 <= exts.len() {
            let kind = be16(exts, e)?;
            let n = usize::from(be16(exts, e + 2)?);
            if kind == EXT_SUPPORTED_VERSIONS {
                return None; // a modern hello, whatever its legacy_version
            }
            if kind == EXT_RENEGOTIATION_INFO {
                renegotiation = true;
            }
            e += 4 + n;
        }
    }
    Some(LegacyHello {
        client_version,
        suites,
        renegotiation,
    })
}

/// Peeks at the first record of `stream` (without consuming it) and says
/// whether it is a legacy ClientHello this server answers itself.
pub fn is_legacy_hello(stream: &TcpStream) -> bool {
    peek_record(stream).is_some_and(|r| parse_legacy_hello(&r).is_some())
}

fn peek_record(stream: &TcpStream) -> Option<Vec<u8>> {
    let until = Instant::now() + PEEK_DEADLINE;
    let mut buf = vec![0u8; 5 + MAX_RECORD];
    loop {
        let n = match stream.peek(&mut buf) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        };
        if n >= 5 {
            if buf[0] != HANDSHAKE {
                return None;
            }
            let want = 5 + usize::from(u16::from_be_bytes([buf[3], buf[4]])).min(MAX_RECORD);
            if n >= want {
                buf.truncate(want);
                return Some(buf);
            }
        }
        if Instant::now() > until {
            return None;
        }
        // Part of the record is in: wait for the rest.
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn record(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![kind, TLS10[0], TLS10[1]];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    record(HANDSHAKE, &m)
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if getrandom::getrandom(&mut b).is_err() {
        b.fill(0x5a);
    }
    b
}

/// The server's first flight for `hello`, or a `handshake_failure` alert
/// when the client offered no suite this server has.
pub fn first_flight(hello: &LegacyHello, chain: &[CertificateDer<'static>]) -> Vec<u8> {
    let Some(suite) = SERVER_SUITES
        .iter()
        .copied()
        .find(|s| hello.suites.contains(s))
    else {
        return record(ALERT, &[2, 40]);
    };
    let mut sh = TLS10.to_vec();
    sh.extend_from_slice(&random::<32>());
    sh.push(32);
    sh.extend_from_slice(&random::<32>());
    sh.extend_from_slice(&suite.to_be_bytes());
    sh.push(0); // compression: null
    if hello.renegotiation {
        // renegotiation_info, empty (RFC 5746)
        sh.extend_from_slice(&[0x00, 0x05, 0xff, 0x01, 0x00, 0x01, 0x00]);
    }
    let mut certs = Vec::new();
    for c in chain {
        certs.extend_from_slice(&(c.len() as u32).to_be_bytes()[1..]);
        certs.extend_from_slice(c);
    }
    let mut cert_body = (certs.len() as u32).to_be_bytes()[1..].to_vec();
    cert_body.extend_from_slice(&certs);
    let mut out = handshake(SERVER_HELLO, &sh);
    out.extend(handshake(CERTIFICATE, &cert_body));
    out.extend(handshake(SERVER_HELLO_DONE, &[]));
    out
}

/// Answers the legacy hello waiting on `stream`: consumes it, sends the
/// first flight, and ends the handshake at the client's next message.
pub fn answer(stream: &mut TcpStream, chain: &[CertificateDer<'static>]) {
    let Some(rec) = peek_record(stream) else {
        return;
    };
    let Some(hello) = parse_legacy_hello(&rec) else {
        return;
    };
    let mut consumed = vec![0u8; rec.len()];
    if stream.read_exact(&mut consumed).is_err() {
        return;
    }
    if stream.write_all(&first_flight(&hello, chain)).is_err() {
        return;
    }
    let _ = stream.flush();
    // No key exchange follows (nothing here decrypts): the next message
    // from the client ends the handshake.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut next = [0u8; 512];
    if matches!(stream.read(&mut next), Ok(n) if n > 0) {
        let _ = stream.write_all(&record(ALERT, &[2, 40]));
    }
}

/// Suites of the legacy ClientHello: TLS_RSA_WITH_AES_128_CBC_SHA,
/// TLS_RSA_WITH_AES_256_CBC_SHA, TLS_RSA_WITH_3DES_EDE_CBC_SHA, then the
/// renegotiation SCSV, as a TLS 1.0 client of the time offers them.
pub const LEGACY_CLIENT_SUITES: [u16; 4] = [0x002f, 0x0035, 0x000a, SCSV_RENEGOTIATION];

/// A ClientHello as an old TLS 1.0 stack sends it when it falls back after
/// a failed modern handshake (`tls-version-fallback`): record and
/// `client_version` 0x0301, [`LEGACY_CLIENT_SUITES`], null compression, no
/// `supported_versions`; `server_name` when `sni` is a DNS name.
pub fn legacy_client_hello(sni: Option<&str>) -> Vec<u8> {
    let mut body = TLS10.to_vec();
    body.extend_from_slice(&random::<32>());
    body.push(0); // no session id
    body.extend_from_slice(&((LEGACY_CLIENT_SUITES.len() * 2) as u16).to_be_bytes());
    for s in LEGACY_CLIENT_SUITES {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut exts = Vec::new();
    if let Some(name) = sni.filter(|n| !n.is_empty() && n.len() < 256) {
        let n = name.as_bytes();
        exts.extend_from_slice(&0u16.to_be_bytes()); // server_name
        exts.extend_from_slice(&((n.len() + 5) as u16).to_be_bytes());
        exts.extend_from_slice(&((n.len() + 3) as u16).to_be_bytes());
        exts.push(0); // host_name
        exts.extend_from_slice(&(n.len() as u16).to_be_bytes());
        exts.extend_from_slice(n);
    }
    if !exts.is_empty() {
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
    }
    handshake(CLIENT_HELLO, &body)
}

/// What a server answered a legacy ClientHello with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyAnswer {
    /// A ServerHello: its `server_version` and suite; `done` when the
    /// flight ended with ServerHelloDone.
    ServerHello {
        version: u16,
        suite: u16,
        done: bool,
    },
    /// An alert record: level, description.
    Alert(u8, u8),
    /// Bytes that are not a TLS answer.
    Other,
    /// Nothing, or the connection closed before an answer was complete.
    Nothing,
}

impl std::fmt::Display for LegacyAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LegacyAnswer::ServerHello {
                version,
                suite,
                done,
            } => write!(
                f,
                "ServerHello version 0x{version:04x} suite 0x{suite:04x}{}",
                if *done { " ... ServerHelloDone" } else { "" }
            ),
            LegacyAnswer::Alert(level, desc) => write!(f, "alert {level}/{desc}"),
            LegacyAnswer::Other => f.write_str("not a TLS answer"),
            LegacyAnswer::Nothing => f.write_str("no answer"),
        }
    }
}

/// Reads what came back so far: `Some` once the answer is complete (an
/// alert, a ServerHelloDone, or something that is not TLS).
pub fn parse_legacy_answer(b: &[u8]) -> Option<LegacyAnswer> {
    scan_answer(b).0
}

/// The complete answer if there is one, and the ServerHello's (version,
/// suite) if one has arrived.
fn scan_answer(b: &[u8]) -> (Option<LegacyAnswer>, Option<(u16, u16)>) {
    let mut hs = Vec::new();
    let mut at = 0;
    let mut hello: Option<(u16, u16)> = None;
    while let (Some(&kind), Some(&major), Some(len)) = (b.get(at), b.get(at + 1), be16(b, at + 3)) {
        if major != 3 || !(20..=23).contains(&kind) {
            return (Some(LegacyAnswer::Other), hello);
        }
        let Some(frag) = b.get(at + 5..at + 5 + usize::from(len)) else {
            break;
        };
        if kind == ALERT {
            let level = frag.first().copied().unwrap_or(0);
            let desc = frag.get(1).copied().unwrap_or(0);
            return (Some(LegacyAnswer::Alert(level, desc)), hello);
        }
        if kind == HANDSHAKE {
            hs.extend_from_slice(frag);
        }
        at += 5 + usize::from(len);
    }
    // The complete handshake messages.
    let mut m = 0;
    while let (Some(&t), Some(n)) = (hs.get(m), be24(&hs, m + 1)) {
        let Some(msg) = hs.get(m + 4..m + 4 + n) else {
            break;
        };
        match t {
            SERVER_HELLO => {
                let suite = msg
                    .get(34)
                    .and_then(|&sid| be16(msg, 35 + usize::from(sid)));
                match (be16(msg, 0), suite) {
                    (Some(v), Some(s)) => hello = Some((v, s)),
                    _ => return (Some(LegacyAnswer::Other), None),
                }
            }
            SERVER_HELLO_DONE => {
                if let Some((version, suite)) = hello {
                    let done = LegacyAnswer::ServerHello {
                        version,
                        suite,
                        done: true,
                    };
                    return (Some(done), hello);
                }
            }
            _ => {}
        }
        m += 4 + n;
    }
    (None, hello)
}

/// Sends [`legacy_client_hello`] on `stream` and reads the answer until it
/// is complete, the peer closes, or `wait` has passed. Sends nothing else.
pub fn legacy_probe(stream: &mut TcpStream, sni: Option<&str>, wait: Duration) -> LegacyAnswer {
    if stream.write_all(&legacy_client_hello(sni)).is_err() || stream.flush().is_err() {
        return LegacyAnswer::Nothing;
    }
    let until = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || got.len() > 4 * MAX_RECORD {
            break;
        }
        if stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if let Some(a) = parse_legacy_answer(&got) {
                    return a;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    match scan_answer(&got) {
        (Some(a), _) => a,
        (None, Some((version, suite))) => LegacyAnswer::ServerHello {
            version,
            suite,
            done: false,
        },
        (None, None) => LegacyAnswer::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS 1.0 ClientHello as an old client writes it.
    fn hello(version: u16, extensions: &[u8]) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend_from_slice(&[7u8; 32]);
        body.push(0);
        let suites = [0xc014u16, 0x0035, 0x002f, 0x000a];
        body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
        for s in suites {
            body.extend_from_slice(&s.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        body.extend_from_slice(extensions);
        let mut hs = vec![CLIENT_HELLO];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![HANDSHAKE, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn only_legacy_hellos_are_taken() {
        let reneg = [0xff, 0x01, 0x00, 0x01, 0x00];
        let h = parse_legacy_hello(&hello(0x0301, &reneg)).expect("TLS 1.0 hello");
        assert!(h.renegotiation);
        assert!(h.suites.contains(&0x002f));
        assert!(parse_legacy_hello(&hello(0x0303, &[])).is_none());
        assert!(parse_legacy_hello(&hello(0x0302, &[])).is_none());
        // supported_versions (TLS 1.3, 1.2): modern, whatever legacy_version says.
        let sv = [0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03];
        assert!(parse_legacy_hello(&hello(0x0301, &sv)).is_none());
        for n in 0..hello(0x0301, &reneg).len() {
            let _ = parse_legacy_hello(&hello(0x0301, &reneg)[..n]);
        }
    }

    #[test]
    fn the_legacy_client_hello_is_what_the_legacy_server_takes() {
        let h = legacy_client_hello(Some("telemetry.hilt.test"));
        assert_eq!(&h[..3], &[HANDSHAKE, 3, 1]);
        let parsed = parse_legacy_hello(&h).expect("a TLS 1.0 hello");
        assert_eq!(parsed.client_version, 0x0301);
        assert_eq!(parsed.suites, LEGACY_CLIENT_SUITES.to_vec());
        assert!(parsed.renegotiation);
        assert!(find(&h, b"telemetry.hilt.test"));
        assert!(parse_legacy_hello(&legacy_client_hello(None)).is_some());
        // The answer of the legacy server reads as a TLS 1.0 ServerHello.
        let chain = vec![CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01])];
        let flight = first_flight(&parsed, &chain);
        let want = LegacyAnswer::ServerHello {
            version: 0x0301,
            suite: 0x002f,
            done: true,
        };
        assert_eq!(parse_legacy_answer(&flight), Some(want));
        for n in 0..flight.len() {
            assert_eq!(parse_legacy_answer(&flight[..n]), None, "{n}");
        }
        assert_eq!(
            parse_legacy_answer(&record(ALERT, &[2, 70])),
            Some(LegacyAnswer::Alert(2, 70))
        );
        assert_eq!(
            parse_legacy_answer(b"HTTP/1.1 400"),
            Some(LegacyAnswer::Other)
        );
    }

    fn find(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn first_flight_is_a_tls10_server_hello_with_a_cbc_suite() {
        let h = parse_legacy_hello(&hello(0x0301, &[])).expect("hello");
        let chain = vec![CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01])];
        let out = first_flight(&h, &chain);
        assert_eq!(&out[..3], &[HANDSHAKE, 3, 1]);
        assert_eq!(out[5], SERVER_HELLO);
        // server_version, then random, session id, suite
        assert_eq!(&out[9..11], &[3, 1]);
        let at = 11 + 32 + 1 + 32;
        assert_eq!(&out[at..at + 2], &0x002fu16.to_be_bytes());
        let none = LegacyHello {
            client_version: 0x0301,
            suites: vec![0x1301],
            renegotiation: false,
        };
        assert_eq!(first_flight(&none, &chain), record(ALERT, &[2, 40]));
    }
}
