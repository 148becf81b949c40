//! The device's JSON API, over HTTPS (tcp/443) and, with `plaintext-api`,
//! plain HTTP (tcp/80). One request per connection.
//!
//! | method | path | auth | answer |
//! | --- | --- | --- | --- |
//! | GET | `/api/v1/identity` | none | `{device_id, model, manufacturer}` (`firmware_version` too with `banner-leak`) |
//! | PUT | `/api/v1/identity` | (flaw only) | with `identifier-writable`: body `{device_id}`; 200 `{device_id}`; otherwise 405 |
//! | GET | `/api/v1/status` | required | `{state, reasons, version, image_sha256, uptime_s}` |
//! | GET | `/api/v1/config` | required | `{key: value, ...}` (all values strings) |
//! | GET | `/api/v1/config/<key>` | required | `{key: value}` |
//! | PUT | `/api/v1/config` | core decides | body `{key: value, ...}`; 200 `{updated: [keys]}` |
//! | POST | `/api/v1/firmware[?mode=test\|permanent\|store]` | core decides | body: MCUboot image (<= 2 MiB); 202 `{version, image_sha256, mode}`; 403 when `updates_enabled` is false |
//! | POST | `/api/v1/firmware/upload[?mode=...]` | core decides | shape `http-upload-only` only (where the raw route above answers 404): `multipart/form-data`, the image in file field `firmware`; answers as above |
//! | POST | `/api/v1/firmware/confirm` | core decides | 200 `{confirmed: true}` |
//! | GET | `/api/v1/events` | core decides | `{events: [{seq, time, severity, kind, source, detail}]}` |
//! | DELETE | `/api/v1/events` | core decides | 204 |
//! | POST | `/api/v1/factory-reset` | core decides | 202 `{status: "resetting"}` |
//! | POST | `/api/v1/reboot` | core decides | 202 `{status: "rebooting"}` |
//!
//! Authentication is HTTP Basic (`admin:<per-device password>`), checked by
//! the core (`DeviceApi::authenticate`, which applies the lockout). Wrong
//! credentials: 401 with `WWW-Authenticate`; locked out: 429 with
//! `Retry-After`.
//!
//! The `http-api` shape serves the same resources camera-style instead
//! (see [`CAMERA_PATHS`]): under `/cgi-bin/*.cgi`, over plain HTTP only,
//! with HTTP Digest authentication (RFC 7616, SHA-256 or MD5, `qop=auth`;
//! see `digest`) as the `operator` account; its identity adds
//! `firmware_version` and `image_sha256` for an authenticated caller.
//!
//! Where the core decides, a request *without* credentials
//! is passed on as unauthenticated and the core refuses it (401) unless the
//! firmware carries the matching flaw (`config-write-unauthenticated`,
//! `event-log-unauthenticated`, `update-unauthenticated`). Errors are
//! `{"error": "..."}`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Map, Value};

use rustls::pki_types::CertificateDer;

use super::http::{Head, HttpError, Reader, Response};
use super::upload;
use super::Shutdown;
use crate::device_api::{AccessError, AuthResult, ConfigError, DeviceApi, IdentityWriteError};

/// Deadline for one whole request (head, body and answer).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// Largest firmware image accepted.
pub const MAX_FIRMWARE: usize = 2 * 1024 * 1024;
/// Largest configuration document.
pub const MAX_CONFIG_BODY: usize = 64 * 1024;
/// Largest body of any other request (ignored).
const MAX_OTHER_BODY: usize = 4 * 1024;

/// What an API connection needs.
pub struct ApiContext {
    pub api: Arc<dyn DeviceApi>,
    /// `https` or `http` (used in event sources).
    pub scheme: &'static str,
    /// `banner-leak`: the firmware version the responses disclose.
    pub banner: Option<String>,
    /// `tls-legacy-versions`: the certificate chain a TLS 1.0 ServerHello
    /// is followed by (TLS 1.0 hellos are answered outside rustls).
    pub legacy_tls: Option<Arc<Vec<CertificateDer<'static>>>>,
    /// `http-api` shape: the camera-style API.
    pub camera: Option<Camera>,
    /// `form-login-api` shape: a login form and a session cookie instead
    /// of HTTP Basic.
    pub form: Option<super::form_login::FormLogin>,
}

/// The camera-style API of the `http-api` shape.
pub struct Camera {
    /// Key of the stateless Digest nonces (from the device secret).
    pub nonce_key: [u8; 32],
    /// `digest-accepts-any-password`: any answer from a known user passes.
    pub any_password: bool,
}

/// The camera-style paths and the resources they stand for.
pub const CAMERA_PATHS: &[(&str, &str)] = &[
    ("/cgi-bin/identity.cgi", "/api/v1/identity"),
    ("/cgi-bin/status.cgi", "/api/v1/status"),
    ("/cgi-bin/config.cgi", "/api/v1/config"),
    ("/cgi-bin/events.cgi", "/api/v1/events"),
    ("/cgi-bin/firmware.cgi", "/api/v1/firmware"),
    ("/cgi-bin/firmware-upload.cgi", "/api/v1/firmware/upload"),
    ("/cgi-bin/firmware-confirm.cgi", "/api/v1/firmware/confirm"),
    ("/cgi-bin/factory-reset.cgi", "/api/v1/factory-reset"),
    ("/cgi-bin/reboot.cgi", "/api/v1/reboot"),
];

/// Serves one HTTPS connection.
pub fn serve_tls(
    ctx: &ApiContext,
    tls: &Arc<rustls::ServerConfig>,
    mut stream: TcpStream,
    peer: SocketAddr,
    _sd: &Arc<Shutdown>,
) {
    if let Some(chain) = &ctx.legacy_tls {
        // The flaw: a TLS 1.0 hello is answered before rustls (which would
        // refuse it with a protocol_version alert) ever sees it.
        if super::tls_legacy::is_legacy_hello(&stream) {
            super::tls_legacy::answer(&mut stream, chain);
            return;
        }
    }
    let Ok(conn) = rustls::ServerConnection::new(Arc::clone(tls)) else {
        return;
    };
    let mut s = rustls::StreamOwned::new(conn, stream);
    serve(ctx, &mut s, peer);
    s.conn.send_close_notify();
    let _ = s.flush();
}

/// Serves one plain HTTP connection.
pub fn serve_plain(ctx: &ApiContext, mut stream: TcpStream, peer: SocketAddr, _sd: &Arc<Shutdown>) {
    serve(ctx, &mut stream, peer);
    let _ = stream.flush();
}

fn serve<S: Read + Write>(ctx: &ApiContext, s: &mut S, peer: SocketAddr) {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut reader = Reader::new(s, deadline);
    let mut head = match reader.read_head() {
        Ok(h) => h,
        Err(e) => {
            drop(reader);
            answer_error(ctx, s, &e);
            return;
        }
    };
    // The request target as sent (Digest answers name it).
    let uri = if head.query.is_empty() {
        head.path.clone()
    } else {
        format!("{}?{}", head.path, head.query)
    };
    if ctx.camera.is_some() {
        // Camera paths stand for the resources below; others do not exist.
        let path = head.path.trim_end_matches('/');
        match CAMERA_PATHS.iter().find(|(outside, _)| *outside == path) {
            Some((_, inside)) => head.path = (*inside).to_string(),
            None => head.path = "/not-found".into(),
        }
    }
    let limit = body_limit(&head);
    let body = reader.read_body(&head, limit);
    drop(reader);
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            answer_error(ctx, s, &e);
            return;
        }
    };
    let source = format!("{}:{}", ctx.scheme, peer);
    let resp = with_banner(ctx, route(ctx, &head, &uri, &body, &source));
    let _ = resp.write_to(s, head.method == "HEAD");
}

/// `banner-leak`: every response names the software and its version.
fn with_banner(ctx: &ApiContext, resp: Response) -> Response {
    match &ctx.banner {
        Some(version) => resp
            .with_header("Server", &format!("hilt-sim-httpd/{version} rustls/0.23"))
            .with_header("X-Firmware-Version", version),
        None => resp,
    }
}

fn answer_error<W: Write>(ctx: &ApiContext, w: &mut W, e: &HttpError) {
    if let Some((code, reason)) = e.status() {
        let msg = match e {
            HttpError::Bad(m) | HttpError::NotImplemented(m) => (*m).to_string(),
            _ => reason.to_ascii_lowercase(),
        };
        let _ = with_banner(ctx, Response::error(code, reason, &msg)).write_to(w, false);
    }
}

fn body_limit(head: &Head) -> usize {
    match (head.method.as_str(), head.path.as_str()) {
        ("POST", "/api/v1/firmware") => MAX_FIRMWARE,
        // The image plus the form's part headers and boundaries.
        ("POST", "/api/v1/firmware/upload") => MAX_FIRMWARE + 64 * 1024,
        ("PUT", "/api/v1/config") => MAX_CONFIG_BODY,
        _ => MAX_OTHER_BODY,
    }
}

/// Outcome of checking the request's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// No `Authorization` header.
    Absent,
    Ok,
    Denied,
    /// A Digest answer to a nonce that expired: ask again (`stale=true`).
    Stale,
    LockedOut,
}

fn authenticate(ctx: &ApiContext, head: &Head, uri: &str, source: &str) -> Auth {
    if let Some(form) = &ctx.form {
        match form.session_ok(head) {
            Some(true) => return Auth::Ok,
            Some(false) => return Auth::Denied,
            None => {}
        }
    }
    let Some(value) = head.header("authorization") else {
        return Auth::Absent;
    };
    if let Some(camera) = &ctx.camera {
        return authenticate_digest(ctx, camera, value, &head.method, uri, source);
    }
    if ctx.form.is_some() {
        // Only the session cookie counts on this shape (checked above).
        return Auth::Denied;
    }
    let Some((scheme, b64)) = value.split_once(' ') else {
        return Auth::Denied;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Auth::Denied;
    }
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return Auth::Denied;
    };
    let Ok(text) = String::from_utf8(raw) else {
        return Auth::Denied;
    };
    let Some((user, password)) = text.split_once(':') else {
        return Auth::Denied;
    };
    match ctx.api.authenticate(user, password, source) {
        AuthResult::Ok => Auth::Ok,
        AuthResult::Denied => Auth::Denied,
        AuthResult::LockedOut => Auth::LockedOut,
    }
}

/// Digest (the camera-style API): everything but the password is checked
/// here; the core checks the password (and applies the lockout).
fn authenticate_digest(
    ctx: &ApiContext,
    camera: &Camera,
    value: &str,
    method: &str,
    uri: &str,
    source: &str,
) -> Auth {
    let Some(answer) = super::digest::Answer::parse(value) else {
        return Auth::Denied;
    };
    match answer.check(&camera.nonce_key, uri) {
        Ok(()) => {}
        Err(super::digest::Refusal::Stale) => return Auth::Stale,
        Err(super::digest::Refusal::Bad) => return Auth::Denied,
    }
    let any = camera.any_password;
    let verify = |stored: &str| any || answer.made_with(stored, method);
    match ctx
        .api
        .authenticate_digest(&answer.username, &verify, source)
    {
        AuthResult::Ok => Auth::Ok,
        AuthResult::Denied => Auth::Denied,
        AuthResult::LockedOut => Auth::LockedOut,
    }
}

pub(super) fn unauthorized(ctx: &ApiContext) -> Response {
    challenge(ctx, false)
}

fn challenge(ctx: &ApiContext, stale: bool) -> Response {
    let r = Response::error(401, "Unauthorized", "authentication required");
    match &ctx.camera {
        Some(camera) => super::digest::challenges(&camera.nonce_key, stale)
            .iter()
            .fold(r, |r, c| r.with_header("WWW-Authenticate", c)),
        // A form login names no HTTP scheme: the client logs in at /login.
        None if ctx.form.is_some() => r,
        None => r.with_header(
            "WWW-Authenticate",
            "Basic realm=\"hilt-sim\", charset=\"UTF-8\"",
        ),
    }
}

fn locked_out(ctx: &ApiContext) -> Response {
    let delay = ctx
        .api
        .config_get(crate::device_api::config_key::LOCKOUT_DELAY_S)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(60);
    Response::error(
        429,
        "Too Many Requests",
        "too many failed attempts; try later",
    )
    .with_header("Retry-After", &delay.to_string())
}

/// For endpoints the network side guards: `Err(response)` unless the
/// credentials are good.
fn require(ctx: &ApiContext, auth: Auth) -> Result<(), Response> {
    match auth {
        Auth::Ok => Ok(()),
        Auth::Absent | Auth::Denied => Err(unauthorized(ctx)),
        Auth::Stale => Err(challenge(ctx, true)),
        Auth::LockedOut => Err(locked_out(ctx)),
    }
}

/// For endpoints the core guards: bad credentials end the request here;
/// otherwise `Ok(authenticated)` to pass on.
fn gate(ctx: &ApiContext, auth: Auth) -> Result<bool, Response> {
    match auth {
        Auth::Ok => Ok(true),
        Auth::Absent => Ok(false),
        Auth::Denied => Err(unauthorized(ctx)),
        Auth::Stale => Err(challenge(ctx, true)),
        Auth::LockedOut => Err(locked_out(ctx)),
    }
}

fn access(ctx: &ApiContext, r: Result<(), AccessError>, ok: Response) -> Response {
    match r {
        Ok(()) => ok,
        Err(AccessError::Unauthorized) => unauthorized(ctx),
    }
}

fn route(ctx: &ApiContext, head: &Head, uri: &str, body: &[u8], source: &str) -> Response {
    let method = if head.method == "HEAD" {
        "GET"
    } else {
        head.method.as_str()
    };
    let path = head.path.trim_end_matches('/');
    if let Some(form) = &ctx.form {
        if path == super::form_login::PATH {
            if head.method != "POST" {
                return Response::error(405, "Method Not Allowed", "method not allowed")
                    .with_header("Allow", "POST");
            }
            return form.login(ctx.api.as_ref(), body, source);
        }
    }
    let personality = ctx.api.personality();
    let writable_id = personality.identifier_writable;
    let upload_only = personality
        .shapes
        .iter()
        .any(|s| s == crate::shapes::update::HTTP_UPLOAD_ONLY);
    let allowed: &str = match path {
        // Shape `http-upload-only`: the multipart form is the one upload.
        "/api/v1/firmware/upload" if upload_only => "POST",
        "/api/v1/firmware" if upload_only => {
            return Response::error(404, "Not Found", "no such resource")
        }
        "/api/v1/identity" if writable_id => "GET, HEAD, PUT",
        "/api/v1/identity" | "/api/v1/status" => "GET, HEAD",
        "/api/v1/config" => "GET, HEAD, PUT",
        p if p.starts_with("/api/v1/config/") => "GET, HEAD",
        "/api/v1/firmware"
        | "/api/v1/firmware/confirm"
        | "/api/v1/factory-reset"
        | "/api/v1/reboot" => "POST",
        "/api/v1/events" => "GET, HEAD, DELETE",
        _ => return Response::error(404, "Not Found", "no such resource"),
    };
    if !allowed.split(", ").any(|m| m == head.method) {
        return Response::error(405, "Method Not Allowed", "method not allowed")
            .with_header("Allow", allowed);
    }
    // Identity needs no authentication (and costs no lockout attempt).
    // It names the device, not its software: a version would tell an
    // attacker which vulnerabilities to try (only `banner-leak` adds it).
    if path == "/api/v1/identity" && method == "GET" {
        let id = ctx.api.identity();
        let mut doc = json!({
            "device_id": id.device_id,
            "model": id.model,
            "manufacturer": id.manufacturer,
        });
        if ctx.banner.is_some() {
            doc["firmware_version"] = Value::String(id.firmware_version.clone());
        }
        // The camera tells an authenticated caller what it runs (what an
        // update is read back through).
        if ctx.camera.is_some() && head.header("authorization").is_some() {
            if let Err(r) = require(ctx, authenticate(ctx, head, uri, source)) {
                return r;
            }
            doc["firmware_version"] = Value::String(id.firmware_version);
            doc["image_sha256"] = Value::String(ctx.api.status().image_sha256);
        }
        return Response::json(200, "OK", &doc);
    }
    if path == "/api/v1/identity" {
        // PUT, offered only by firmware with `identifier-writable`; the
        // core takes it without looking at credentials (the flaw).
        return write_identity(ctx, body, source);
    }
    let auth = authenticate(ctx, head, uri, source);
    match (method, path) {
        ("GET", "/api/v1/status") => {
            if let Err(r) = require(ctx, auth) {
                return r;
            }
            let st = ctx.api.status();
            Response::json(
                200,
                "OK",
                &json!({
                    "state": st.health.as_str(),
                    "reasons": st.reasons,
                    "version": st.firmware_version,
                    "image_sha256": st.image_sha256,
                    "uptime_s": st.uptime_s,
                }),
            )
        }
        ("GET", "/api/v1/config") => {
            if let Err(r) = require(ctx, auth) {
                return r;
            }
            let all: Map<String, Value> = ctx
                .api
                .config_all()
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Response::json(200, "OK", &Value::Object(all))
        }
        ("GET", p) if p.starts_with("/api/v1/config/") => {
            if let Err(r) = require(ctx, auth) {
                return r;
            }
            let key = &p["/api/v1/config/".len()..];
            match ctx.api.config_get(key) {
                Some(v) => Response::json(200, "OK", &json!({ key: v })),
                None => Response::error(404, "Not Found", &format!("unknown key {key}")),
            }
        }
        ("PUT", "/api/v1/config") => {
            let authenticated = match gate(ctx, auth) {
                Ok(a) => a,
                Err(r) => return r,
            };
            put_config(ctx, body, authenticated, source)
        }
        ("POST", "/api/v1/firmware") => match gate(ctx, auth) {
            Ok(authenticated) => upload::install(ctx, head, body, false, authenticated, source),
            Err(r) => r,
        },
        ("POST", "/api/v1/firmware/upload") => {
            // `http-upload-unauthenticated`: the form handler never asks
            // whether the caller authenticated.
            let skips_check = personality
                .flaws
                .iter()
                .any(|f| f == "http-upload-unauthenticated");
            match gate(ctx, auth) {
                Ok(authenticated) => {
                    upload::install(ctx, head, body, true, authenticated || skips_check, source)
                }
                Err(r) => r,
            }
        }
        ("POST", "/api/v1/firmware/confirm") => match gate(ctx, auth) {
            Ok(a) => access(
                ctx,
                ctx.api.confirm_running(a, source),
                Response::json(200, "OK", &json!({ "confirmed": true })),
            ),
            Err(r) => r,
        },
        ("GET", "/api/v1/events") => match gate(ctx, auth) {
            Ok(a) => match ctx.api.events(a, source) {
                Ok(ev) => Response::json(200, "OK", &json!({ "events": ev })),
                Err(AccessError::Unauthorized) => unauthorized(ctx),
            },
            Err(r) => r,
        },
        ("DELETE", "/api/v1/events") => match gate(ctx, auth) {
            Ok(a) => access(
                ctx,
                ctx.api.clear_events(a, source),
                Response::new(204, "No Content"),
            ),
            Err(r) => r,
        },
        ("POST", "/api/v1/factory-reset") => match gate(ctx, auth) {
            Ok(a) => access(
                ctx,
                ctx.api.factory_reset(a, source),
                Response::json(202, "Accepted", &json!({ "status": "resetting" })),
            ),
            Err(r) => r,
        },
        ("POST", "/api/v1/reboot") => match gate(ctx, auth) {
            Ok(a) => access(
                ctx,
                ctx.api.reboot(a, source),
                Response::json(202, "Accepted", &json!({ "status": "rebooting" })),
            ),
            Err(r) => r,
        },
        _ => Response::error(404, "Not Found", "no such resource"),
    }
}

fn write_identity(ctx: &ApiContext, body: &[u8], source: &str) -> Response {
    let doc: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return Response::error(400, "Bad Request", "body must be a JSON object"),
    };
    let Some(new_id) = doc.get("device_id").and_then(Value::as_str) else {
        return Response::error(400, "Bad Request", "device_id (a string) required");
    };
    match ctx.api.set_device_id(new_id, false, source) {
        Ok(()) => Response::json(200, "OK", &json!({ "device_id": new_id })),
        Err(IdentityWriteError::NotSupported) => {
            Response::error(405, "Method Not Allowed", "method not allowed")
                .with_header("Allow", "GET, HEAD")
        }
        Err(e @ IdentityWriteError::Invalid(_)) => {
            Response::error(400, "Bad Request", &e.to_string())
        }
    }
}

fn put_config(ctx: &ApiContext, body: &[u8], authenticated: bool, source: &str) -> Response {
    let doc: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return Response::error(400, "Bad Request", "body must be a JSON object"),
    };
    let Value::Object(map) = doc else {
        return Response::error(400, "Bad Request", "body must be a JSON object");
    };
    if map.is_empty() {
        return Response::error(400, "Bad Request", "no keys to write");
    }
    let mut pairs = Vec::with_capacity(map.len());
    for (k, v) in map {
        let v = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Response::error(
                    400,
                    "Bad Request",
                    &format!("value of {k} must be a string, number or boolean"),
                )
            }
        };
        pairs.push((k, v));
    }
    // Unknown keys are refused before anything is written (only told to
    // an authenticated caller: the unauthenticated one learns nothing).
    if authenticated {
        if let Some((k, _)) = pairs.iter().find(|(k, _)| ctx.api.config_get(k).is_none()) {
            return Response::error(400, "Bad Request", &format!("unknown key {k}"));
        }
    }
    let mut updated = Vec::new();
    for (k, v) in &pairs {
        match ctx.api.config_set(k, v, authenticated, source) {
            Ok(()) => updated.push(k.clone()),
            Err(ConfigError::Unauthorized) => return unauthorized(ctx),
            Err(e) => {
                return Response::json(
                    400,
                    "Bad Request",
                    &json!({ "error": e.to_string(), "updated": updated }),
                )
            }
        }
    }
    Response::json(200, "OK", &json!({ "updated": updated }))
}
