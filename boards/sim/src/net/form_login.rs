//! The `form-login-api` shape's login: a form posted to `/login`
//! (`username`, `password`, URL-encoded) that answers `303 See Other` with
//! a `SESSIONID` cookie; the cookie then authenticates API requests until
//! it expires ([`SESSION_LIFETIME`]) or the device reboots. A refused
//! login answers `200` with an HTML page that says so, as many devices'
//! web interfaces do (a client that judged by status alone would think it
//! got in). HTTP Basic is not taken on this shape.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::http::{Head, Response};
use crate::device_api::{AuthResult, DeviceApi};

pub const PATH: &str = "/login";
pub const COOKIE: &str = "SESSIONID";
pub const SESSION_LIFETIME: Duration = Duration::from_secs(600);
/// Live sessions kept at most (the oldest is dropped first).
const MAX_SESSIONS: usize = 64;

/// The shape's sessions (per boot: a reboot logs everybody out).
pub struct FormLogin {
    sessions: Mutex<BTreeMap<String, Instant>>,
    /// `form-login-accepts-any-password`: any password logs `admin` in.
    pub any_password: bool,
}

impl FormLogin {
    pub fn new(any_password: bool) -> Self {
        Self {
            sessions: Mutex::new(BTreeMap::new()),
            any_password,
        }
    }

    /// Whether the request's `SESSIONID` cookie names a live session;
    /// `None` when it carries none.
    pub fn session_ok(&self, head: &Head) -> Option<bool> {
        let cookies = head.header("cookie")?;
        let token = cookies
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v.trim().to_string())?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, until| *until > now);
        Some(sessions.contains_key(&token))
    }

    /// Handles `POST /login`.
    pub fn login(&self, api: &dyn DeviceApi, body: &[u8], source: &str) -> Response {
        let form = String::from_utf8_lossy(body);
        let field = |name: &str| {
            form.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| url_decode(v))
                .unwrap_or_default()
        };
        let (user, password) = (field("username"), field("password"));
        let result = if self.any_password && user == crate::device::ADMIN {
            AuthResult::Ok
        } else {
            api.authenticate(&user, &password, source)
        };
        match result {
            AuthResult::Ok => match new_token() {
                Some(token) => {
                    let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
                    if sessions.len() >= MAX_SESSIONS {
                        let oldest = sessions
                            .iter()
                            .min_by_key(|(_, until)| **until)
                            .map(|(t, _)| t.clone());
                        if let Some(t) = oldest {
                            sessions.remove(&t);
                        }
                    }
                    sessions.insert(token.clone(), Instant::now() + SESSION_LIFETIME);
                    Response::new(303, "See Other")
                        .with_header("Location", "/")
                        .with_header(
                            "Set-Cookie",
                            &format!("{COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict"),
                        )
                }
                None => Response::error(500, "Internal Server Error", "no random source"),
            },
            AuthResult::Denied => page(200, "OK", "Invalid credentials"),
            AuthResult::LockedOut => page(
                429,
                "Too Many Requests",
                "Too many failed logins; try later",
            ),
        }
    }
}

fn page(status: u16, reason: &'static str, text: &str) -> Response {
    let mut r =
        Response::new(status, reason).with_header("Content-Type", "text/html; charset=utf-8");
    r.body = format!("<!doctype html><title>Login</title><p>{text}</p>\n").into_bytes();
    r
}

fn new_token() -> Option<String> {
    let mut b = [0u8; 16];
    getrandom::getrandom(&mut b).ok()?;
    Some(crate::mcuboot::hex(&b))
}

/// `application/x-www-form-urlencoded` value decoding (`+`, `%XX`);
/// bad escapes are kept as they are.
fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
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
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_decoding_handles_plus_escapes_and_garbage() {
        assert_eq!(url_decode("a+b%26c%3D"), "a b&c=");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz%4"), "%zz%4");
    }
}
