//! The HTTP(S) client against python's http.server, `openssl s_server
//! -WWW` (compared with curl), and a capturing listener for what goes on
//! the wire (Basic auth checked with coreutils' base64 -d).

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::require_tool;
use hilt_net::http::{request, HttpOptions, HttpRequest, HttpTarget};
use hilt_net::tls::{TlsClientConfig, Trust};
use hilt_net::{Link, NetError, Stop};

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A temporary directory, removed on drop (also when the test fails).
struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmpdir(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("hnet-http-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    TempDir(d)
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn wait_port(addr: SocketAddr) {
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < until, "{addr} did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop() -> Stop {
    Stop::after(Duration::from_secs(30))
}

#[test]
fn get_from_python_http_server() {
    require_tool("python3");
    let dir = tmpdir("py");
    std::fs::write(
        dir.join("id.json"),
        br#"{"device_id":"sim-0","fw":"1.2.3"}"#,
    )
    .expect("write");
    std::fs::write(dir.join("big.bin"), vec![7u8; 5 * 1024 * 1024]).expect("write");
    let port = free_port();
    let _srv = Proc(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(&*dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3"),
    );
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    wait_port(addr);
    let t = HttpTarget::http(&Link::loopback(), addr.port());
    let r = request(
        &t,
        &HttpRequest::get("/id.json"),
        &HttpOptions::default(),
        &stop(),
    )
    .expect("get");
    assert_eq!(r.status, 200);
    assert_eq!(r.json().expect("json")["device_id"], "sim-0");
    assert!(r.exchange.request.starts_with("GET /id.json HTTP/1.1\r\n"));
    assert!(r.exchange.response.contains("sim-0"));
    let r = request(
        &t,
        &HttpRequest::get("/nope"),
        &HttpOptions::default(),
        &stop(),
    )
    .expect("get");
    assert_eq!(r.status, 404);
    // Over the 4 MiB default bound: refused, not buffered.
    let e = request(
        &t,
        &HttpRequest::get("/big.bin"),
        &HttpOptions::default(),
        &stop(),
    )
    .expect_err("too big");
    assert!(matches!(e, NetError::Protocol(_)), "{e}");
    let opts = HttpOptions {
        max_body: 8 * 1024 * 1024,
        ..Default::default()
    };
    let r = request(&t, &HttpRequest::get("/big.bin"), &opts, &stop()).expect("get big");
    assert_eq!(r.body.len(), 5 * 1024 * 1024);
    assert!(
        r.exchange.response.len() < 100 * 1024,
        "recorded body is cut"
    );
}

/// Accepts one connection, captures the request (head + Content-Length
/// body), answers with `reply`.
fn capture_once(reply: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = l.local_addr().expect("addr");
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some(p) = text.find("\r\n\r\n") {
                let cl = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if got.len() >= p + 4 + cl {
                    break;
                }
            }
        }
        let _ = s.write_all(reply);
        got
    });
    (addr, h)
}

#[test]
fn basic_auth_is_sent_and_never_recorded() {
    require_tool("base64");
    // The reply echoes the credential back, chunked: the record must not carry it.
    let (addr, h) = capture_once(
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n\
          f\r\n{\"echo\":\"YWRtaW\r\nc\r\n46czNjcmV0IV\r\n4\r\nBX\"}\r\n0\r\n\r\n",
    );
    let req = HttpRequest::put("/api/v1/config")
        .basic_auth("admin", "s3cret!PW")
        .json(&serde_json::json!({"ntp": "pool.example", "interval": 60}));
    let r = request(
        &HttpTarget::http(&Link::loopback(), addr.port()),
        &req,
        &HttpOptions::default(),
        &stop(),
    )
    .expect("put");
    let wire = String::from_utf8(h.join().expect("server")).expect("utf8");
    assert_eq!(r.status, 201);
    assert_eq!(r.text(), "{\"echo\":\"YWRtaW46czNjcmV0IVBX\"}");
    // What went on the wire, decoded by coreutils.
    let token = wire
        .lines()
        .find_map(|l| l.strip_prefix("Authorization: Basic "))
        .expect("Authorization header sent")
        .trim()
        .to_string();
    let mut b64 = Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("base64");
    b64.stdin
        .take()
        .expect("stdin")
        .write_all(token.as_bytes())
        .expect("write");
    let decoded = b64.wait_with_output().expect("base64 -d");
    assert_eq!(String::from_utf8_lossy(&decoded.stdout), "admin:s3cret!PW");
    assert!(wire.starts_with("PUT /api/v1/config HTTP/1.1\r\n"));
    assert!(wire.contains("Content-Type: application/json\r\n"));
    assert!(
        wire.ends_with("\r\n\r\n{\"interval\":60,\"ntp\":\"pool.example\"}"),
        "{wire}"
    );
    // Never in the record, the JSON of the record, or any Debug output.
    let everything = format!(
        "{r:?}\n{req:?}\n{}\n{}\n{}",
        r.exchange.request,
        r.exchange.response,
        serde_json::to_string(&r).expect("json")
    );
    for secret in ["s3cret!PW", &token] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    assert!(r
        .exchange
        .request
        .contains("Authorization: Basic <redacted>"));
    assert!(r.exchange.response.contains("<redacted>"));
}

#[test]
fn post_and_delete_and_a_silent_server() {
    let (addr, h) = capture_once(b"HTTP/1.1 204 No Content\r\n\r\n");
    let r = request(
        &HttpTarget::http(&Link::loopback(), addr.port()),
        &HttpRequest::delete("/api/v1/users/bob"),
        &HttpOptions::default(),
        &stop(),
    )
    .expect("delete");
    assert_eq!(r.status, 204);
    assert!(String::from_utf8_lossy(&h.join().expect("srv"))
        .starts_with("DELETE /api/v1/users/bob HTTP/1.1\r\n"));
    let (addr, h) = capture_once(b"HTTP/1.0 200 OK\r\n\r\nplain body until close");
    let r = request(
        &HttpTarget::http(&Link::loopback(), addr.port()),
        &HttpRequest::post("/login")
            .body(b"user=a".to_vec())
            .header("Content-Type", "application/x-www-form-urlencoded"),
        &HttpOptions::default(),
        &stop(),
    )
    .expect("post");
    assert_eq!(r.text(), "plain body until close");
    assert!(String::from_utf8_lossy(&h.join().expect("srv")).contains("Content-Length: 6\r\n"));
    // A server that accepts and never answers: bounded by the timeout.
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let opts = HttpOptions {
        timeout: Duration::from_millis(700),
        ..Default::default()
    };
    let started = Instant::now();
    let e = request(
        &HttpTarget::http(&Link::loopback(), l.local_addr().expect("a").port()),
        &HttpRequest::get("/"),
        &opts,
        &stop(),
    )
    .expect_err("silent");
    // The device's silence, not the caller's deadline: a peer fault.
    assert!(e.is_peer_fault(), "{e}");
    assert!(e.to_string().contains("within 0.7 s"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(l);
}

#[test]
fn https_get_matches_curl() {
    require_tool("openssl");
    require_tool("curl");
    let dir = tmpdir("tls");
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
        ])
        .args([
            "-subj",
            "/CN=device.hilt.test",
            "-addext",
            "subjectAltName=DNS:device.hilt.test",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl req");
    assert!(st.success());
    std::fs::write(dir.join("status.json"), br#"{"ok":true,"temp":21.5}"#).expect("write");
    let port = free_port();
    let _srv = Proc(
        Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-WWW",
                "-quiet",
            ])
            .args(["-cert", "cert.pem", "-key", "key.pem"])
            .current_dir(&*dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s_server"),
    );
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    wait_port(addr);
    let cfg = TlsClientConfig::new("device.hilt.test", Trust::Anchors(dir.join("cert.pem")));
    let r = request(
        &HttpTarget::https(&Link::loopback(), addr.port(), cfg),
        &HttpRequest::get("/status.json"),
        &HttpOptions::default(),
        &stop(),
    )
    .expect("https get");
    assert_eq!(r.status, 200);
    let tls = r.exchange.tls.as_ref().expect("tls record");
    assert!(tls.verified);
    assert_eq!(tls.chain[0].key_type, "EC P-256");
    let curl = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(dir.join("cert.pem"))
        .args(["--resolve", &format!("device.hilt.test:{port}:127.0.0.1")])
        .arg(format!("https://device.hilt.test:{port}/status.json"))
        .output()
        .expect("curl");
    assert!(curl.status.success(), "curl failed");
    assert_eq!(r.body, curl.stdout, "hilt and curl read the same body");
}

#[test]
fn a_silent_server_times_out_with_a_reason_naming_what_and_how_long() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Accepts and reads, never answers.
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 1024];
        let _ = conn.set_read_timeout(Some(Duration::from_secs(3)));
        let _ = conn.read(&mut buf);
        std::thread::sleep(Duration::from_millis(800));
    });
    let opts = HttpOptions {
        timeout: Duration::from_millis(400),
        ..HttpOptions::default()
    };
    let started = Instant::now();
    let err = request(
        &HttpTarget::http(&Link::loopback(), addr.port()),
        &HttpRequest::get("/api/v1/status"),
        &opts,
        &stop(),
    )
    .expect_err("no answer");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.is_peer_fault(), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "no complete HTTP response to GET /api/v1/status from {addr} within 0.4 s"
        )),
        "{err}"
    );
    let _ = server.join();
}
