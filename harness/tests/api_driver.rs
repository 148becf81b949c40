//! The API driver against a real HTTP server on loopback: Basic, bearer
//! (given and obtained by a login), and form login with a session cookie
//! that expires (the driver logs in again). The server below is small but
//! real: it parses requests off a socket and decides on credentials the
//! way a device does. Its Digest check is written here from RFC 7616's
//! formulas, apart from the driver's (Digest also meets the simulated
//! board's own server in the `http-api` shape's runs).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::driver::api::{ApiClient, Credentials};
use hilt_net::http::HttpRequest;
use hilt_net::{Link, Stop};

const USER: &str = "viewer";
const PASSWORD: &str = "Right-Pass-77";
const TOKEN: &str = "tok-3f9a1c77e2";

/// Counters of what the server saw.
#[derive(Default)]
struct Seen {
    logins: AtomicU32,
}

/// One request: method, path, headers, body.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len.min(64 * 1024)];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn answer(status: u16, extra: &[(&str, String)], body: &str) -> String {
    let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    out.push_str(body);
    out
}

/// The server's decisions: `/form-login` (sets `sid`), `/expire` (ends
/// the session, as a device's timeout does), `/token` (JSON), and
/// `/data`, readable with Basic, the bearer token, or a live session.
fn serve(listener: TcpListener, seen: Arc<Seen>) {
    let session = std::sync::Mutex::new(String::new());
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let Some(req) = read_request(&mut stream) else {
            continue;
        };
        let basic = format!(
            "Basic {}",
            hilt_net::http::base64(format!("{USER}:{PASSWORD}").as_bytes())
        );
        let reply = match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/form-login") => {
                let n = seen.logins.fetch_add(1, Ordering::SeqCst);
                let right = req.body == format!("user={USER}&pass={PASSWORD}");
                if right {
                    let sid = format!("s{n}x7q");
                    *session.lock().expect("lock") = sid.clone();
                    answer(
                        302,
                        &[
                            ("Set-Cookie", format!("sid={sid}; HttpOnly; Path=/")),
                            ("Location", "/".into()),
                        ],
                        "",
                    )
                } else {
                    // Like many devices: a 200 page that says no.
                    answer(200, &[], "<p>Login failed</p>")
                }
            }
            ("POST", "/token") => {
                let doc: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
                if doc["name"] == USER && doc["secret"] == PASSWORD {
                    answer(200, &[], &format!("{{\"access\":\"{TOKEN}\"}}"))
                } else {
                    answer(403, &[], "{}")
                }
            }
            ("GET", "/data") => {
                let auth = req.header("authorization").unwrap_or("");
                let cookie = req.header("cookie").unwrap_or("");
                let live = {
                    let s = session.lock().expect("lock");
                    !s.is_empty() && cookie == format!("sid={}", *s)
                };
                if auth == basic || auth == format!("Bearer {TOKEN}") || live {
                    answer(200, &[], "{\"secret_reading\":42}")
                } else {
                    answer(
                        401,
                        &[("WWW-Authenticate", "Basic realm=\"t\"".into())],
                        "{}",
                    )
                }
            }
            ("POST", "/expire") => {
                session.lock().expect("lock").clear();
                answer(204, &[], "")
            }
            _ => answer(404, &[], "{}"),
        };
        let _ = stream.write_all(reply.as_bytes());
    }
}

/// A board file with one API on `port` using `auth` (YAML), and its client.
fn client(auth: &str, dir: &tempfile::TempDir, port: u16) -> ApiClient {
    std::fs::write(dir.path().join("pw"), format!("{PASSWORD}\n")).expect("pw");
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).expect("token");
    let file = dir.path().join("board.yaml");
    std::fs::write(
        &file,
        format!(
            "board: t\nmodel: m\nhardware:\n  network: {{ address: 127.0.0.1 }}\ndeclares:\n  accounts: {{ {USER}: {{ password: 'file:pw', role: user }} }}\n  state: {{ http: /data }}\n  interfaces:\n    - {{ port: {port}, service: http, api: {{ auth: {auth}, accounts: [{USER}] }} }}\n"
        ),
    )
    .expect("board file");
    let board = Board::load(&file).expect("board file loads");
    let link = Link::new(IpAddr::V4(Ipv4Addr::LOCALHOST), None, None).expect("link");
    ApiClient::open(&board, &link, None).expect("API")
}

fn start() -> (u16, Arc<Seen>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Seen::default());
    let s = Arc::clone(&seen);
    std::thread::spawn(move || serve(listener, s));
    (port, seen)
}

fn get(api: &ApiClient, credentials: Credentials) -> hilt_harness::driver::api::ApiReply {
    api.send(
        HttpRequest::get("/data"),
        &credentials,
        &Stop::after(Duration::from_secs(10)),
    )
    .expect("exchange")
}

fn no_secret_in_evidence(reply: &hilt_harness::driver::api::ApiReply) {
    for e in &reply.exchanges {
        let text = format!("{}\n{}", e.request, e.response);
        assert!(!text.contains(PASSWORD), "password in the record: {text}");
        assert!(!text.contains(TOKEN), "token in the record: {text}");
    }
}

#[test]
fn basic_declared_passes_and_wrong_or_none_are_refused() {
    let (port, _) = start();
    let dir = tempfile::tempdir().expect("tmp");
    let api = client("basic", &dir, port);
    assert_eq!(get(&api, Credentials::Declared).response.status, 200);
    assert_eq!(
        get(&api, Credentials::Wrong("nope".into())).response.status,
        401
    );
    assert_eq!(get(&api, Credentials::None).response.status, 401);
    no_secret_in_evidence(&get(&api, Credentials::Declared));
}

#[test]
fn bearer_given_and_obtained_by_login() {
    let (port, _) = start();
    let dir = tempfile::tempdir().expect("tmp");
    let given = client("{ bearer: { token: 'file:token' } }", &dir, port);
    let reply = get(&given, Credentials::Declared);
    assert_eq!(reply.response.status, 200);
    assert!(reply.exchanges[0].request.contains("Bearer <redacted>"));
    no_secret_in_evidence(&reply);
    assert_eq!(
        get(&given, Credentials::Wrong("x".into())).response.status,
        401
    );

    let dir = tempfile::tempdir().expect("tmp");
    let login = client(
        "{ bearer: { login: { path: /token, user_field: name, password_field: secret, token_field: access } } }",
        &dir,
        port,
    );
    let reply = get(&login, Credentials::Declared);
    assert_eq!(reply.response.status, 200);
    assert!(reply.learned.iter().any(|t| t == TOKEN), "token learnt");
    assert!(reply
        .proofs
        .iter()
        .any(|(k, v)| *k == "bearer token" && v == TOKEN));
    no_secret_in_evidence(&reply);
    // The token is kept: the next request needs no login.
    assert_eq!(get(&login, Credentials::Declared).exchanges.len(), 1);
    let wrong = get(&login, Credentials::Wrong("bad".into()));
    assert!(wrong.login_refused && wrong.response.status == 401);
}

#[test]
fn form_login_keeps_its_cookie_and_logs_in_again_when_it_expires() {
    let (port, seen) = start();
    let dir = tempfile::tempdir().expect("tmp");
    let api = client(
        "{ form: { path: /form-login, user_field: user, password_field: pass, cookie: sid, success: { status: 302 } } }",
        &dir,
        port,
    );
    // Login 0: a session that lasts.
    let first = get(&api, Credentials::Declared);
    assert_eq!(first.response.status, 200);
    assert_eq!(first.exchanges.len(), 2, "login, then the request");
    assert!(first
        .proofs
        .iter()
        .any(|(k, v)| *k == "session cookie" && v == "s0x7q"));
    no_secret_in_evidence(&first);
    assert_eq!(
        get(&api, Credentials::Declared).exchanges.len(),
        1,
        "cookie reused"
    );
    // A refused login (a 200 page that says no) is a refusal, not access.
    let wrong = get(&api, Credentials::Wrong("bad".into()));
    assert!(wrong.login_refused, "{:?}", wrong.response.reason);
    assert_eq!(wrong.response.status, 401);
    assert_eq!(get(&api, Credentials::None).response.status, 401);
    // The session ends on the device: the driver logs in again, once.
    let stop = Stop::after(Duration::from_secs(10));
    let expire = api
        .send(HttpRequest::post("/expire"), &Credentials::None, &stop)
        .expect("expire");
    assert_eq!(expire.response.status, 204);
    let before = seen.logins.load(Ordering::SeqCst);
    let again = get(&api, Credentials::Declared);
    assert_eq!(again.response.status, 200);
    assert_eq!(again.exchanges.len(), 3, "401, login, the request again");
    assert_eq!(seen.logins.load(Ordering::SeqCst), before + 1);
}

/// RFC 7616 `response` for `qop=auth`, SHA-256, computed independently.
fn digest_response(user: &str, pw: &str, method: &str, p: &[(String, String)]) -> String {
    use sha2::{Digest, Sha256};
    let get = |k: &str| {
        p.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let h = |s: String| hex::encode(Sha256::digest(s.as_bytes()));
    let ha1 = h(format!("{user}:{}:{pw}", get("realm")));
    let ha2 = h(format!("{method}:{}", get("uri")));
    h(format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        get("nonce"),
        get("nc"),
        get("cnonce")
    ))
}

fn digest_params(header: &str) -> Vec<(String, String)> {
    header
        .trim_start_matches("Digest ")
        .split(", ")
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// A Digest server: `/data` (GET) and `/reset` (POST only; GET is 405,
/// so the driver must find a challenge elsewhere). The first nonce goes
/// stale after one use.
fn serve_digest(listener: TcpListener, seen: Arc<Seen>) {
    let nonce = std::sync::Mutex::new(("n1-abc".to_string(), 0u32));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let Some(req) = read_request(&mut stream) else {
            continue;
        };
        let (current, uses) = nonce.lock().expect("lock").clone();
        let challenge = |stale: bool| {
            format!(
                "Basic realm=\"x\", Digest realm=\"cam\", qop=\"auth\", algorithm=SHA-256, nonce=\"{current}\"{}",
                if stale { ", stale=true" } else { "" }
            )
        };
        let reply = if req.method == "GET" && req.path == "/reset" {
            answer(405, &[("Allow", "POST".into())], "")
        } else if !matches!(req.path.as_str(), "/data" | "/reset") {
            answer(404, &[], "")
        } else {
            match req.header("authorization") {
                None => answer(401, &[("WWW-Authenticate", challenge(false))], ""),
                Some(h) => {
                    seen.logins.fetch_add(1, Ordering::SeqCst);
                    let p = digest_params(h);
                    let sent_nonce = p
                        .iter()
                        .find(|(k, _)| k == "nonce")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    let response = p
                        .iter()
                        .find(|(k, _)| k == "response")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    let right = response == digest_response(USER, PASSWORD, &req.method, &p);
                    if sent_nonce != current {
                        // An old nonce: ask again, marked stale.
                        answer(401, &[("WWW-Authenticate", challenge(true))], "")
                    } else if right {
                        let mut n = nonce.lock().expect("lock");
                        n.1 = uses + 1;
                        if n.1 == 1 {
                            n.0 = "n2-def".into();
                        }
                        answer(200, &[], "{\"ok\":true}")
                    } else {
                        answer(401, &[("WWW-Authenticate", challenge(false))], "")
                    }
                }
            }
        };
        let _ = stream.write_all(reply.as_bytes());
    }
}

#[test]
fn digest_answers_challenges_follows_stale_nonces_and_fails_closed() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(Seen::default());
    let s = Arc::clone(&seen);
    std::thread::spawn(move || serve_digest(listener, s));
    let dir = tempfile::tempdir().expect("tmp");
    let api = client("digest", &dir, port);
    let stop = Stop::after(Duration::from_secs(10));
    // POST /reset: GET /reset is 405, the challenge comes from /data.
    let first = api
        .send(HttpRequest::post("/reset"), &Credentials::Declared, &stop)
        .expect("exchange");
    assert_eq!(first.response.status, 200, "{:?}", first.response.reason);
    assert_eq!(
        first.exchanges.len(),
        3,
        "GET /reset, GET /data, then the POST"
    );
    assert!(first.exchanges[2]
        .request
        .contains("response=\"<redacted>\""));
    assert!(first.proofs.iter().any(|(k, _)| *k == "Digest response"));
    no_secret_in_evidence(&first);
    // The nonce went stale: the driver answers the new one once.
    let second = get(&api, Credentials::Declared);
    assert_eq!(second.response.status, 200);
    assert_eq!(second.exchanges.len(), 2, "stale 401, then the retry");
    // A wrong password is refused, and tried once only.
    let before = seen.logins.load(Ordering::SeqCst);
    let wrong = get(&api, Credentials::Wrong("bad".into()));
    assert_eq!(wrong.response.status, 401);
    assert_eq!(seen.logins.load(Ordering::SeqCst), before + 1);
    assert_eq!(get(&api, Credentials::None).response.status, 401);
}
