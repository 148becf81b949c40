//! An HTTPS login (`openssl s_server -www` with a throwaway self-signed
//! certificate, `curl -k -u user:password`) must show no password and a
//! TLS flow; the same login over plain HTTP (python3's http.server) must
//! show the password in the frame tshark finds the Authorization header in.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{run_ok, tshark_count, tshark_fields, tshark_reads, Netns};
use hilt_capture::{
    classify_file, host_filter, Capture, ClassifyOptions, CredentialKind, Limits, NamedSecret,
    Protocol,
};

const USER: &str = "labuser";

fn password() -> String {
    format!("Https-{}-pw", std::process::id())
}

fn curl(url: &str, password: &str) {
    let out = Command::new("curl")
        .args(["-sS", "-k", "--max-time", "10", "-o", "/dev/null", "-u"])
        .arg(format!("{USER}:{password}"))
        .arg(url)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {url} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn options(password: &str) -> ClassifyOptions {
    ClassifyOptions {
        secrets: vec![NamedSecret::new("lab password", password)],
        ..ClassifyOptions::default()
    }
}

fn capture_during(ns: &Netns, path: &Path, f: impl FnOnce()) {
    let cap = Capture::start(
        &ns.host_if,
        &host_filter(ns.addr.into()),
        path,
        Limits::default(),
    )
    .expect("start capture");
    f();
    std::thread::sleep(Duration::from_millis(300));
    let stats = cap.stop().expect("stop");
    tshark_reads(path);
    assert_eq!(tshark_count(path), stats.packets);
}

#[test]
fn https_login_shows_no_password_and_a_tls_flow() {
    need_root!();
    let password = password();
    let mut ns = Netns::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key.pem");
    let cert = dir.path().join("cert.pem");
    run_ok(&[
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=hilt-capture-test",
        "-keyout",
        key.to_str().expect("utf-8"),
        "-out",
        cert.to_str().expect("utf-8"),
    ]);
    ns.spawn(&[
        "openssl",
        "s_server",
        "-quiet",
        "-accept",
        "443",
        "-www",
        "-cert",
        cert.to_str().expect("utf-8"),
        "-key",
        key.to_str().expect("utf-8"),
    ]);
    ns.wait_port(443, Duration::from_secs(10));

    let path = dir.path().join("https.pcap");
    capture_during(&ns, &path, || {
        curl(&format!("https://{}/", ns.addr), &password)
    });

    let report = classify_file(&path, &options(&password)).expect("classify");
    let flows: Vec<_> = report
        .flows
        .iter()
        .filter(|f| f.server.port() == 443)
        .collect();
    assert_eq!(flows.len(), 1, "{:?}", report.flows);
    let flow = flows[0];
    assert_eq!(flow.server, SocketAddr::from((ns.addr, 443)));
    assert_eq!(flow.protocol, Protocol::Tls);
    assert_eq!(flow.plaintext, Some(false));
    assert!(flow.client_bytes > 0 && flow.server_bytes > 0);
    assert_eq!(report.credentials().count(), 0, "{:?}", report.flows);
    assert!(!report.secrets[0].found, "{:?}", report.secrets);

    // tshark agrees it is TLS: it finds a Client Hello from our client.
    let hellos = tshark_fields(
        &path,
        "tls.handshake.type == 1",
        &["frame.number", "tcp.srcport"],
    );
    assert_eq!(hellos.len(), 1, "{hellos:?}");
    assert_eq!(hellos[0][1], flow.client.port().to_string());
}

#[test]
fn same_login_over_http_shows_the_password_where_tshark_does() {
    need_root!();
    let password = password();
    let mut ns = Netns::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = ns.addr.to_string();
    ns.spawn(&[
        "python3",
        "-m",
        "http.server",
        "80",
        "--bind",
        &addr,
        "--directory",
        "/nonexistent",
    ]);
    ns.wait_port(80, Duration::from_secs(10));

    let path = dir.path().join("http.pcap");
    capture_during(&ns, &path, || {
        curl(&format!("http://{}/login", ns.addr), &password)
    });

    let report = classify_file(&path, &options(&password)).expect("classify");
    let creds: Vec<_> = report.credentials().collect();
    assert_eq!(creds.len(), 1, "{:?}", report.flows);
    let (flow, cred) = creds[0];
    assert_eq!(flow.protocol, Protocol::Http);
    assert_eq!(flow.plaintext, Some(true));
    assert_eq!(cred.kind, CredentialKind::HttpBasic);
    assert_eq!(cred.user.as_deref(), Some(USER));
    assert!(cred.password_matches(password.as_bytes()));

    let rows = tshark_fields(
        &path,
        "http.authorization",
        &["frame.number", "http.authbasic"],
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], cred.frame.to_string());
    assert_eq!(rows[0][1], format!("{USER}:{password}"));
    assert_eq!(cred.frames, vec![cred.frame]);

    // Found as base64 by the secret search too, in the same frame.
    let hit = &report.secrets[0];
    assert!(hit.found);
    assert_eq!(hit.frames, vec![cred.frame]);
    assert!(hit.encodings.contains(&"base64"), "{hit:?}");
    let json = serde_json::to_string(&report).expect("json");
    assert!(!json.contains(&password));
}
