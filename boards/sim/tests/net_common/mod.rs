//! Shared by the `net_*` tests: a small in-test `DeviceApi` (for testing
//! the network side alone; the real core lives in the crate) and bounded
//! HTTP/TLS clients, and a telemetry server.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use hilt_sim::device_api::{
    AccessError, AuthResult, ConfigError, DeviceApi, Event, Health, Identity, InstallMode,
    Personality, Status, UpdateError, UploadOutcome,
};

pub const PASSWORD: &str = "Xq7-per-device-pw";

#[derive(Default)]
struct State {
    config: BTreeMap<String, String>,
    events: Vec<Event>,
    subscribers: Vec<Sender<Event>>,
    failures: u32,
    locked_until: Option<Instant>,
    uploads: Vec<Vec<u8>>,
}

/// A stand-in for the device core: one admin account, a lockout after
/// three failures (for two seconds), a configuration map and an event log.
pub struct MockDevice {
    pub index: u32,
    pub personality: Personality,
    pub dir: tempfile::TempDir,
    state: Mutex<State>,
}

impl MockDevice {
    pub fn new(index: u32, flaws: &[&str]) -> Arc<MockDevice> {
        let has = |f: &str| flaws.contains(&f);
        let personality = Personality {
            flaws: flaws.iter().map(|s| s.to_string()).collect(),
            shapes: Vec::new(),
            https_api: true,
            plaintext_api: has("plaintext-api"),
            telnet: has("telnet-open"),
            telemetry: true,
            tls_accepts_untrusted: has("tls-accepts-untrusted"),
            tls_skips_hostname_check: has("tls-skips-hostname-check"),
            tls_ignores_expiry: has("tls-ignores-expiry"),
            tls_version_fallback: has("tls-version-fallback"),
            ota_accepts_untrusted: has("ota-accepts-untrusted"),
            ota_skips_hostname_check: has("ota-skips-hostname-check"),
            ota_version_fallback: has("ota-version-fallback"),
            syslog: !has("no-security-logging"),
            config_write_unauthenticated: has("config-write-unauthenticated"),
            event_log_unauthenticated: has("event-log-unauthenticated"),
            update_unauthenticated: has("update-unauthenticated"),
            tls_legacy_versions: has("tls-legacy-versions"),
            banner_leak: has("banner-leak"),
            plaintext_beacon: has("plaintext-beacon"),
            identifier_writable: has("identifier-writable"),
            camera_api: false,
            digest_accepts_any_password: false,
            form_login_api: false,
            form_login_accepts_any_password: false,
        };
        let mut config = BTreeMap::new();
        for (k, v) in [
            ("setpoint", "215"),
            ("display_name", "thermostat"),
            // Tests point these at their own servers; off by default.
            ("telemetry_server", "off"),
            ("telemetry_server_name", ""),
            ("telemetry_interval_s", "1"),
            ("syslog_collector", "off"),
            ("lockout_threshold", "3"),
            ("lockout_delay_s", "2"),
        ] {
            config.insert(k.to_string(), v.to_string());
        }
        Arc::new(MockDevice {
            index,
            personality,
            dir: tempfile::tempdir().expect("tempdir"),
            state: Mutex::new(State {
                config,
                ..State::default()
            }),
        })
    }

    pub fn set(&self, key: &str, value: &str) {
        self.lock().config.insert(key.into(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.lock().config.get(key).cloned()
    }

    pub fn events_of(&self, kind: &str) -> Vec<Event> {
        self.lock()
            .events
            .iter()
            .filter(|e| e.kind == kind)
            .cloned()
            .collect()
    }

    pub fn uploads(&self) -> usize {
        self.lock().uploads.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("state lock")
    }

    fn push(&self, severity: u8, kind: &str, source: &str, detail: &str) {
        let mut st = self.lock();
        let ev = Event {
            seq: st.events.len() as u64 + 1,
            time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            severity,
            kind: kind.into(),
            source: source.into(),
            detail: detail.into(),
        };
        st.subscribers.retain(|s| s.send(ev.clone()).is_ok());
        st.events.push(ev);
    }

    fn has(&self, flaw: &str) -> bool {
        self.personality.flaws.iter().any(|f| f == flaw)
    }
}

impl DeviceApi for MockDevice {
    fn identity(&self) -> Identity {
        Identity {
            device_id: format!("SIM-TEST-{:04}", self.index),
            model: "hilt reference thermostat (simulated)".into(),
            manufacturer: "hilt".into(),
            firmware_version: "1.2.3".into(),
        }
    }

    fn status(&self) -> Status {
        Status {
            health: Health::Normal,
            reasons: vec![],
            firmware_version: "1.2.3".into(),
            image_sha256: "ab".repeat(32),
            uptime_s: 7,
        }
    }

    fn authenticate(&self, user: &str, password: &str, source: &str) -> AuthResult {
        let result = {
            let mut st = self.lock();
            if st.locked_until.is_some_and(|t| Instant::now() < t) {
                AuthResult::LockedOut
            } else if user == "admin" && password == PASSWORD
                || self.has("default-password") && user == "admin" && password == "admin"
            {
                st.failures = 0;
                AuthResult::Ok
            } else {
                st.failures += 1;
                if st.failures >= 3 {
                    st.locked_until = Some(Instant::now() + Duration::from_secs(2));
                    st.failures = 0;
                }
                AuthResult::Denied
            }
        };
        match result {
            AuthResult::Ok => self.push(5, "login_succeeded", source, "admin logged in"),
            AuthResult::Denied => self.push(4, "login_failed", source, "login failed"),
            AuthResult::LockedOut => self.push(4, "login_locked_out", source, "locked out"),
        }
        result
    }

    fn config_get(&self, key: &str) -> Option<String> {
        self.get(key)
    }

    fn config_all(&self) -> BTreeMap<String, String> {
        self.lock().config.clone()
    }

    fn config_set(
        &self,
        key: &str,
        value: &str,
        authenticated: bool,
        source: &str,
    ) -> Result<(), ConfigError> {
        if !authenticated && !self.has("config-write-unauthenticated") {
            self.push(4, "config_write_denied", source, key);
            return Err(ConfigError::Unauthorized);
        }
        let mut st = self.lock();
        if !st.config.contains_key(key) {
            return Err(ConfigError::UnknownKey(key.into()));
        }
        st.config.insert(key.into(), value.into());
        Ok(())
    }

    fn events(&self, authenticated: bool, _source: &str) -> Result<Vec<Event>, AccessError> {
        if !authenticated && !self.has("event-log-unauthenticated") {
            return Err(AccessError::Unauthorized);
        }
        Ok(self.lock().events.clone())
    }

    fn clear_events(&self, authenticated: bool, _source: &str) -> Result<(), AccessError> {
        if !authenticated && !self.has("event-log-unauthenticated") {
            return Err(AccessError::Unauthorized);
        }
        self.lock().events.clear();
        Ok(())
    }

    fn upload_image(
        &self,
        image: &[u8],
        mode: InstallMode,
        authenticated: bool,
        source: &str,
    ) -> Result<UploadOutcome, UpdateError> {
        if !authenticated && !self.has("update-unauthenticated") {
            self.push(4, "update_rejected", source, "unauthenticated");
            return Err(UpdateError::Unauthorized);
        }
        if image.len() < 32 || image[..4] != [0x3d, 0xb8, 0xf3, 0x96] {
            return Err(UpdateError::Malformed("bad magic".into()));
        }
        self.lock().uploads.push(image.to_vec());
        Ok(UploadOutcome {
            version: "9.9.9".into(),
            image_sha256: "cd".repeat(32),
            mode,
        })
    }

    fn smp_datagram(&self, _message: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn confirm_running(&self, authenticated: bool, _source: &str) -> Result<(), AccessError> {
        if authenticated {
            Ok(())
        } else {
            Err(AccessError::Unauthorized)
        }
    }

    fn reboot(&self, authenticated: bool, _source: &str) -> Result<(), AccessError> {
        if authenticated {
            Ok(())
        } else {
            Err(AccessError::Unauthorized)
        }
    }

    fn factory_reset(&self, authenticated: bool, _source: &str) -> Result<(), AccessError> {
        if authenticated {
            Ok(())
        } else {
            Err(AccessError::Unauthorized)
        }
    }

    fn personality(&self) -> Personality {
        self.personality.clone()
    }

    fn subscribe_events(&self) -> Receiver<Event> {
        let (tx, rx) = channel();
        self.lock().subscribers.push(tx);
        rx
    }

    fn device_secret_material(&self, purpose: &str) -> [u8; 32] {
        let mut out = [0x5au8; 32];
        for (i, b) in purpose.bytes().enumerate() {
            out[i % 32] ^= b;
        }
        out[0] = self.index as u8;
        out
    }

    fn runtime_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn index(&self) -> u32 {
        self.index
    }

    fn record_event(&self, severity: u8, kind: &str, source: &str, detail: &str) {
        self.push(severity, kind, source, detail);
    }
}

/// Polls `f` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn build_request_typed(
    method: &str,
    path: &str,
    auth: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\nContent-Type: {content_type}\r\n"
    );
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    out
}

fn build_request(method: &str, path: &str, auth: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n");
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn parse_reply(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    Reply {
        status,
        head,
        body: raw[end + 4..].to_vec(),
    }
}

/// The CA in `manufacturer-ca.pem` of the runtime folder as a root store.
pub fn roots_from(path: &std::path::Path) -> rustls::RootCertStore {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(path).expect("CA file") {
        roots.add(c.expect("CA cert")).expect("add root");
    }
    roots
}

pub fn tls_client(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// One HTTPS request, verifying the server as `name`.
pub fn https(
    cfg: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    name: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Result<Reply, std::io::Error> {
    https_typed(cfg, addr, name, method, path, auth, None, body)
}

/// [`https`] with a `Content-Type` header.
#[allow(clippy::too_many_arguments, dead_code)]
pub fn https_typed(
    cfg: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    name: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Reply, std::io::Error> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let server_name =
        rustls::pki_types::ServerName::try_from(name.to_string()).map_err(std::io::Error::other)?;
    let conn = rustls::ClientConnection::new(Arc::clone(cfg), server_name)
        .map_err(std::io::Error::other)?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let request = match content_type {
        Some(t) => build_request_typed(method, path, auth, t, body),
        None => build_request(method, path, auth, body),
    };
    s.write_all(&request)?;
    s.flush()?;
    let mut raw = Vec::new();
    match s.read_to_end(&mut raw) {
        Ok(_) => {}
        // A peer that closes without close_notify still sent its answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(parse_reply(&raw))
}

/// One plain HTTP request.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &[u8],
) -> Result<Reply, std::io::Error> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    tcp.write_all(&build_request(method, path, auth, body))?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw)?;
    Ok(parse_reply(&raw))
}

/// What the server saw.
#[derive(Debug)]
#[allow(dead_code)] // fields are shown in assertion messages
pub enum Seen {
    HandshakeFailed(String),
    /// MQTT topic and payload of the PUBLISH, and the client's address.
    Published(String, String, String),
    Other(String),
}

/// A one-connection MQTT-over-TLS server on 127.0.0.1 (a telemetry server) with the given
/// credential; reports what the first client did.
pub fn mqtt_tls_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> (SocketAddr, Receiver<Seen>) {
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server credential"),
    );
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(20);
        let (tcp, peer) = loop {
            match l.accept() {
                Ok((s, peer)) => break (s, peer.ip().to_string()),
                Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    let _ = tx.send(Seen::Other(format!("no client: {e}")));
                    return;
                }
            }
        };
        tcp.set_nonblocking(false).expect("blocking");
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let conn = rustls::ServerConnection::new(cfg).expect("conn");
        let mut s = rustls::StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            if let Err(e) = s.conn.complete_io(&mut s.sock) {
                let _ = tx.send(Seen::HandshakeFailed(e.to_string()));
                return;
            }
        }
        let read_packet = |s: &mut rustls::StreamOwned<
            rustls::ServerConnection,
            std::net::TcpStream,
        >|
         -> std::io::Result<(u8, Vec<u8>)> {
            let mut b = [0u8; 1];
            s.read_exact(&mut b)?;
            let kind = b[0];
            let (mut len, mut mult) = (0usize, 1usize);
            for _ in 0..4 {
                s.read_exact(&mut b)?;
                len += (b[0] & 0x7f) as usize * mult;
                mult *= 128;
                if b[0] & 0x80 == 0 {
                    break;
                }
            }
            let mut body = vec![0u8; len.min(65536)];
            s.read_exact(&mut body)?;
            Ok((kind, body))
        };
        let seen = (|| -> std::io::Result<Seen> {
            let (k, _) = read_packet(&mut s)?;
            if k != 0x10 {
                return Ok(Seen::Other(format!("first packet {k:#x}")));
            }
            s.write_all(&[0x20, 0x02, 0x00, 0x00])?;
            s.flush()?;
            let (k, body) = read_packet(&mut s)?;
            if k & 0xf0 != 0x30 {
                return Ok(Seen::Other(format!("second packet {k:#x}")));
            }
            let tlen = u16::from_be_bytes([body[0], body[1]]) as usize;
            let topic = String::from_utf8_lossy(&body[2..2 + tlen]).into_owned();
            let payload = String::from_utf8_lossy(&body[2 + tlen..]).into_owned();
            Ok(Seen::Published(topic, payload, peer))
        })();
        let _ = tx.send(seen.unwrap_or_else(|e| Seen::Other(e.to_string())));
    });
    (addr, rx)
}
