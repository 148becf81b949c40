//! The API driver: requests to one of the board's declared APIs, over HTTP
//! or HTTPS, authenticated the way the board file says (Basic, Digest,
//! bearer token, form login with a session cookie) as the API's account.
//! Checks say what they send and with which credentials ([`Credentials`]);
//! they never see the authentication kind.
//!
//! Every exchange is returned for the evidence, secrets redacted; values
//! learnt from the device (a token, a session cookie) are returned too, so
//! the caller's scrubber learns them before anything is written.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hilt_net::http::{self, Exchange, HttpOptions, HttpRequest, HttpResponse, HttpTarget};
use hilt_net::tls::{TlsClientConfig, Trust};
use hilt_net::{Link, NetError, Stop};

use super::digest::Challenge;
use crate::board::{Api, ApiAuth, ApiRef, Board, FormLoginDecl, Secret, TokenLoginDecl};

/// What a request carries.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Nothing: an unauthenticated request.
    None,
    /// The API's declared account and its password (or token).
    Declared,
    /// The API's account with this password instead (a bearer token API
    /// with a given token: this as the token).
    Wrong(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Net(#[from] NetError),
    /// The board file does not say enough to reach or use the API.
    #[error("{0}")]
    Declaration(String),
    /// The device did not answer as its declared authentication says it
    /// would (no challenge, a login that sets no cookie...).
    #[error("{0}")]
    Device(String),
}

impl ApiError {
    /// Whether the device (rather than the host or the board file) failed.
    pub fn is_device_fault(&self) -> bool {
        match self {
            ApiError::Net(e) => e.is_peer_fault(),
            ApiError::Device(_) => true,
            ApiError::Declaration(_) => false,
        }
    }
}

/// The answer to one request, with every exchange it took.
#[derive(Debug)]
pub struct ApiReply {
    /// The device's answer to the request. When a form or token login
    /// with the request's credentials was refused, the request was never
    /// sent: this is the login's answer with status 401.
    pub response: HttpResponse,
    /// Every exchange, in order (challenge, login, the request, a retry).
    pub exchanges: Vec<Exchange>,
    /// Secret values the device handed out during the request (tokens,
    /// session cookies), to be scrubbed from all evidence.
    pub learned: Vec<String>,
    /// The form or token login for this request was refused.
    pub login_refused: bool,
    /// What went on the wire to prove the account (password, token,
    /// cookie, Digest response), named: what a capture must not show in
    /// the clear.
    pub proofs: Vec<(&'static str, String)>,
}

#[derive(Debug, Default)]
struct Session {
    challenge: Option<Challenge>,
    nc: u32,
    /// A token or cookie from a login with the declared password.
    token: Option<String>,
    cookie: Option<String>,
}

/// One declared API of the board, ready for requests.
#[derive(Debug, Clone)]
pub struct ApiClient {
    target: HttpTarget,
    label: String,
    tls: bool,
    auth: ApiAuth,
    account: String,
    password: Option<Secret>,
    token: Option<Secret>,
    /// Read resources the board file declares on this API (state,
    /// configuration, event log, identity): where Digest gets a challenge
    /// before its first request, and what a login reads.
    read_paths: Vec<String>,
    options: HttpOptions,
    session: Arc<Mutex<Session>>,
}

impl ApiClient {
    /// The API `wanted` names (the board's first when `None`), reached
    /// through `link`. HTTPS trusts only the declared manufacturer CA (or,
    /// without one, records the chain without trusting it: such TLS is
    /// judged by DP-02, not here).
    pub fn open(board: &Board, link: &Link, wanted: Option<&ApiRef>) -> Result<Self, ApiError> {
        let spec = &board.spec;
        let api = spec.api(wanted).ok_or_else(|| {
            ApiError::Declaration(match wanted {
                Some(w) => format!("no API {w} declared (declares.interfaces[].api)"),
                None => "no API declared (declares.interfaces[].api)".into(),
            })
        })?;
        let account = spec.api_account(&api).ok_or_else(|| {
            ApiError::Declaration(format!(
                "no account for the API on port {} (declares.interfaces[].api.accounts)",
                api.port()
            ))
        })?;
        let password = board.account_password(&account).ok();
        let token = match &api.decl.auth {
            ApiAuth::Bearer(b) => match &b.token {
                Some(r) => Some(board.resolve_secret(r).map_err(|e| {
                    ApiError::Declaration(format!(
                        "bearer token of the API on port {}: {e}",
                        api.port()
                    ))
                })?),
                None => None,
            },
            _ => None,
        };
        let target = if api.speaks_tls() {
            let trust = match &spec.declares.device_ca {
                Some(ca) => Trust::Anchors(board.resolve_path(ca)),
                None => Trust::InspectOnly,
            };
            HttpTarget::https(
                link,
                api.port(),
                TlsClientConfig::new(link.board().to_string(), trust),
            )
        } else {
            HttpTarget::http(link, api.port())
        };
        Ok(Self {
            target,
            label: api.label(),
            tls: api.speaks_tls(),
            auth: api.decl.auth.clone(),
            account,
            password,
            token,
            read_paths: read_paths(board, &api),
            options: HttpOptions::default(),
            session: Arc::default(),
        })
    }

    /// `http:80 (digest)`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether requests cross the network encrypted.
    pub fn speaks_tls(&self) -> bool {
        self.tls
    }

    pub fn target(&self) -> &HttpTarget {
        &self.target
    }

    /// The account requests authenticate as.
    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn auth(&self) -> &ApiAuth {
        &self.auth
    }

    /// The declared password (or token) requests prove themselves with.
    pub fn declared_secret(&self) -> Option<&Secret> {
        self.token.as_ref().or(self.password.as_ref())
    }

    /// Read resources the board file declares on this API, protected ones
    /// first (state, configuration, event log, then identity).
    pub fn read_paths(&self) -> &[String] {
        &self.read_paths
    }

    /// The same API (authentication, account) at another target, with a
    /// session of its own: for a service the board file does not declare
    /// that may be the API again (a plain-HTTP copy of it).
    pub fn at(&self, target: HttpTarget) -> Self {
        let mut other = self.clone();
        other.tls = target.tls.is_some();
        other.label = format!(
            "{}:{} ({}, undeclared)",
            if other.tls { "https" } else { "http" },
            target.port,
            self.auth.name()
        );
        other.target = target;
        other.session = Arc::default();
        other
    }

    /// The same API authenticating as `user` (a guess: no declared
    /// password), for a login driver trying credentials with
    /// [`Credentials::Wrong`]. It shares this client's session: a Digest
    /// challenge and its nonce count carry on from one guess to the next
    /// (a device refuses a nonce count used before as a replay); no
    /// token or cookie of a guess is ever kept in it.
    pub fn as_account(&self, user: &str) -> Self {
        let mut other = self.clone();
        other.account = user.to_string();
        other.password = None;
        other.token = None;
        other
    }

    /// Bounds one exchange (also bounded by the caller's stop).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Sends `request` with `credentials`.
    pub fn send(
        &self,
        request: HttpRequest,
        credentials: &Credentials,
        stop: &Stop,
    ) -> Result<ApiReply, ApiError> {
        let mut run = Run {
            client: self,
            stop,
            exchanges: Vec::new(),
            learned: Vec::new(),
            proofs: Vec::new(),
        };
        let (response, login_refused) = match credentials {
            Credentials::None => (run.plain(&request)?, false),
            Credentials::Declared => {
                let password = self.password_for_declared()?;
                run.authenticated(&request, &password, true)?
            }
            Credentials::Wrong(password) => run.authenticated(&request, password, false)?,
        };
        Ok(ApiReply {
            response,
            exchanges: run.exchanges,
            learned: run.learned,
            login_refused,
            proofs: run.proofs,
        })
    }

    fn password_for_declared(&self) -> Result<String, ApiError> {
        match (&self.auth, &self.token) {
            (ApiAuth::Bearer(_), Some(token)) => Ok(token.expose().to_string()),
            _ => self
                .password
                .as_ref()
                .map(|p| p.expose().to_string())
                .ok_or_else(|| {
                    ApiError::Declaration(format!(
                        "the password of account {:?} cannot be read (declares.accounts)",
                        self.account
                    ))
                }),
        }
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Read resources the board file declares on `api`.
fn read_paths(board: &Board, api: &Api<'_>) -> Vec<String> {
    let d = &board.spec.declares;
    let on_this = |wanted: Option<&ApiRef>| match wanted {
        Some(w) => api.matches(w),
        None => board.spec.api(None).is_some_and(|a| a.port() == api.port()),
    };
    let mut out = Vec::new();
    if let Some(s) = &d.state {
        if let (Some(p), true) = (&s.http, on_this(s.api.as_ref())) {
            out.push(p.clone());
        }
    }
    if let Some(h) = d.configuration.as_ref().and_then(|c| c.http.as_ref()) {
        if on_this(h.api.as_ref()) {
            out.push(h.path.clone());
        }
    }
    if let Some(e) = d.logging.as_ref().and_then(|l| l.event_log.as_ref()) {
        if let (Some(p), true) = (&e.http, on_this(e.api.as_ref())) {
            out.push(p.clone());
        }
    }
    for source in d.identity.iter().flat_map(|i| &i.logical) {
        if let crate::board::IdentitySource::Http {
            path, api: wanted, ..
        } = source
        {
            if on_this(wanted.as_ref()) {
                out.push(path.clone());
            }
        }
    }
    out
}

/// One request's work: the exchanges it took and what it learnt.
struct Run<'a> {
    client: &'a ApiClient,
    stop: &'a Stop,
    exchanges: Vec<Exchange>,
    learned: Vec<String>,
    proofs: Vec<(&'static str, String)>,
}

impl Run<'_> {
    fn plain(&mut self, request: &HttpRequest) -> Result<HttpResponse, ApiError> {
        let response = http::request(
            &self.client.target,
            request,
            &self.client.options,
            self.stop,
        )?;
        self.exchanges.push(response.exchange.clone());
        Ok(response)
    }

    /// The request with credentials; `declared` marks the declared
    /// password (its token or cookie is kept for later requests).
    fn authenticated(
        &mut self,
        request: &HttpRequest,
        password: &str,
        declared: bool,
    ) -> Result<(HttpResponse, bool), ApiError> {
        let c = self.client;
        if !matches!(&c.auth, ApiAuth::Bearer(b) if b.login.is_none()) {
            self.proofs.push(("password", password.to_string()));
        }
        match &c.auth {
            ApiAuth::Basic => Ok((
                self.plain(&request.clone().basic_auth(&c.account, password))?,
                false,
            )),
            ApiAuth::Digest => Ok((self.digest(request, password, declared)?, false)),
            ApiAuth::Bearer(b) => match &b.login {
                None => {
                    self.learned.push(password.to_string());
                    self.proofs.push(("bearer token", password.to_string()));
                    Ok((self.plain(&bearer(request, password))?, false))
                }
                Some(login) => self.with_session(request, password, declared, |run, pw| {
                    run.token_login(login, pw)
                }),
            },
            ApiAuth::Form(form) => self.with_session(request, password, declared, |run, pw| {
                run.form_login(form, pw)
            }),
        }
    }

    fn digest(
        &mut self,
        request: &HttpRequest,
        password: &str,
        declared: bool,
    ) -> Result<HttpResponse, ApiError> {
        let cached = self.client.session().challenge.clone();
        let mut challenge = match cached {
            Some(c) => c,
            None => self.fetch_challenge(request)?,
        };
        let mut response = self.digest_once(request, password, &challenge)?;
        if response.status == 401 {
            // A nonce the device no longer takes (`stale`, or a new one
            // with the declared password): answer the new challenge once.
            if let Some(fresh) = challenge_of(&response) {
                let retry = fresh.stale || (declared && fresh.nonce != challenge.nonce);
                self.client.session().challenge = Some(fresh.clone());
                if retry {
                    challenge = fresh;
                    response = self.digest_once(request, password, &challenge)?;
                    if let Some(newer) = challenge_of(&response) {
                        self.client.session().challenge = Some(newer);
                    }
                }
            }
        }
        Ok(response)
    }

    fn digest_once(
        &mut self,
        request: &HttpRequest,
        password: &str,
        challenge: &Challenge,
    ) -> Result<HttpResponse, ApiError> {
        let nc = {
            let mut s = self.client.session();
            s.nc = if s.challenge.as_ref().map(|c| &c.nonce) == Some(&challenge.nonce) {
                s.nc.saturating_add(1)
            } else {
                1
            };
            s.challenge = Some(challenge.clone());
            s.nc
        };
        let cnonce = cnonce()?;
        let answer = challenge.answer_parts(
            &self.client.account,
            password,
            request.method.as_str(),
            &request.path,
            nc,
            &cnonce,
        );
        self.proofs
            .push(("Digest response", answer.response.clone()));
        let req = request
            .clone()
            .secret_header_shown("Authorization", &answer.header, &answer.shown)
            .redacting(password);
        self.plain(&req)
    }

    /// A challenge from an unauthenticated GET of the request's path, else
    /// of the API's declared read resources.
    fn fetch_challenge(&mut self, request: &HttpRequest) -> Result<Challenge, ApiError> {
        let mut paths = vec![request.path.clone()];
        paths.extend(self.client.read_paths.iter().cloned());
        paths.dedup();
        let mut seen = Vec::new();
        for path in paths {
            let probe = self.plain(&HttpRequest::get(path.clone()))?;
            if let Some(c) = challenge_of(&probe) {
                self.client.session().challenge = Some(c.clone());
                return Ok(c);
            }
            seen.push(format!("GET {path} -> {}", probe.status));
        }
        Err(ApiError::Device(format!(
            "the API {} declares Digest authentication but gave no Digest challenge ({})",
            self.client.label,
            seen.join(", ")
        )))
    }

    /// Session-based authentication (a token or a cookie from a login):
    /// log in when there is no session, send, and log in again once when
    /// the device answers 401 (the session expired). A login with other
    /// than the declared password is never kept.
    fn with_session(
        &mut self,
        request: &HttpRequest,
        password: &str,
        declared: bool,
        login: impl Fn(&mut Self, &str) -> Result<Result<Session, HttpResponse>, ApiError>,
    ) -> Result<(HttpResponse, bool), ApiError> {
        let cached = if declared {
            let s = self.client.session();
            (s.token.is_some() || s.cookie.is_some()).then(|| Session {
                token: s.token.clone(),
                cookie: s.cookie.clone(),
                ..Session::default()
            })
        } else {
            None
        };
        let fresh_login = cached.is_none();
        let session = match cached {
            Some(s) => s,
            None => match login(self, password)? {
                Ok(s) => s,
                Err(refused) => return Ok((refused, true)),
            },
        };
        if declared {
            self.keep(&session);
        }
        self.session_proofs(&session);
        let response = self.plain(&with_session(request, &session))?;
        if response.status != 401 || fresh_login {
            return Ok((response, false));
        }
        match login(self, password)? {
            Ok(session) => {
                self.keep(&session);
                self.session_proofs(&session);
                Ok((self.plain(&with_session(request, &session))?, false))
            }
            Err(refused) => Ok((refused, true)),
        }
    }

    /// A secret the device handed out: kept out of the exchanges already
    /// recorded, and returned so the caller's scrubber learns it.
    fn learn(&mut self, value: &str) {
        // Shorter values would mask ordinary text (`lang=en`); a session
        // secret that short protects nothing anyway.
        if value.len() < 6 {
            return;
        }
        for e in &mut self.exchanges {
            e.request = e.request.replace(value, "<redacted>");
            e.response = e.response.replace(value, "<redacted>");
        }
        self.learned.push(value.to_string());
    }

    fn session_proofs(&mut self, session: &Session) {
        if let Some(t) = &session.token {
            self.proofs.push(("bearer token", t.clone()));
        }
        if let Some(c) = &session.cookie {
            for value in c
                .split("; ")
                .filter_map(|kv| kv.split_once('=').map(|(_, v)| v))
            {
                self.proofs.push(("session cookie", value.to_string()));
            }
        }
    }

    fn keep(&mut self, session: &Session) {
        let mut s = self.client.session();
        s.token = session.token.clone();
        s.cookie = session.cookie.clone();
    }

    fn token_login(
        &mut self,
        login: &TokenLoginDecl,
        password: &str,
    ) -> Result<Result<Session, HttpResponse>, ApiError> {
        let body = serde_json::json!({
            login.user_field.clone(): self.client.account,
            login.password_field.clone(): password,
        });
        let req = HttpRequest::post(login.path.clone())
            .json(&body)
            .redacting(password);
        let response = self.plain(&req)?;
        let token = response
            .json()
            .ok()
            .and_then(|j| {
                j.get(&login.token_field)
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
            })
            .filter(|t| !t.is_empty() && t.len() <= 8192 && !t.contains(['\r', '\n']));
        match token {
            Some(token) if (200..300).contains(&response.status) => {
                self.learn(&token);
                Ok(Ok(Session {
                    token: Some(token),
                    ..Session::default()
                }))
            }
            _ => Ok(Err(refused(response, "the token login gave no token"))),
        }
    }

    fn form_login(
        &mut self,
        form: &FormLoginDecl,
        password: &str,
    ) -> Result<Result<Session, HttpResponse>, ApiError> {
        let body = format!(
            "{}={}&{}={}",
            url_encode(&form.user_field),
            url_encode(&self.client.account),
            url_encode(&form.password_field),
            url_encode(password)
        );
        let req = HttpRequest::post(form.path.clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.into_bytes())
            .redacting(password)
            .redacting(&url_encode(password));
        let response = self.plain(&req)?;
        let cookies = set_cookies(&response, form.cookie.as_deref());
        for (_, value) in &cookies {
            self.learn(value);
        }
        let status_ok = match form.success.as_ref().and_then(|s| s.status) {
            Some(s) => response.status == s,
            None => (200..400).contains(&response.status),
        };
        let pattern_ok = match form.success.as_ref().and_then(|s| s.pattern.as_deref()) {
            Some(p) => regex::Regex::new(p)
                .map_err(|e| ApiError::Declaration(format!("form success pattern: {e}")))?
                .is_match(&response.text()),
            None => true,
        };
        if status_ok && pattern_ok && !cookies.is_empty() {
            let cookie = cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            Ok(Ok(Session {
                cookie: Some(cookie),
                ..Session::default()
            }))
        } else {
            Ok(Err(refused(response, "the form login was refused")))
        }
    }
}

/// A refused login stands for the request, which was never sent: status
/// 401, the login's own answer otherwise.
fn refused(mut login: HttpResponse, why: &str) -> HttpResponse {
    login.reason = format!(
        "{why} (answer {} {}); request not sent",
        login.status, login.reason
    );
    login.status = 401;
    login
}

fn with_session(request: &HttpRequest, session: &Session) -> HttpRequest {
    let mut req = request.clone();
    if let Some(token) = &session.token {
        req = bearer(&req, token);
    }
    if let Some(cookie) = &session.cookie {
        req = req.secret_header("Cookie", cookie);
    }
    req
}

fn bearer(request: &HttpRequest, token: &str) -> HttpRequest {
    request.clone().secret_header_shown(
        "Authorization",
        &format!("Bearer {token}"),
        "Bearer <redacted>",
    )
}

fn challenge_of(response: &HttpResponse) -> Option<Challenge> {
    Challenge::pick(
        response
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
            .map(|(_, v)| v.as_str()),
    )
}

/// Cookies a response sets: (name, value), only `wanted` when named.
fn set_cookies(response: &HttpResponse, wanted: Option<&str>) -> Vec<(String, String)> {
    response
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, v)| {
            let pair = v.split(';').next()?.trim();
            let (name, value) = pair.split_once('=')?;
            let (name, value) = (name.trim(), value.trim().trim_matches('"'));
            let printable = |s: &str| s.bytes().all(|b| b.is_ascii_graphic() && b != b';');
            (!name.is_empty() && !value.is_empty() && printable(name) && printable(value))
                .then(|| (name.to_string(), value.to_string()))
        })
        .filter(|(name, _)| wanted.is_none_or(|w| w == name))
        .collect()
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn cnonce() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| ApiError::Declaration(format!("no random source for a Digest cnonce: {e}")))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_unreserved_characters() {
        assert_eq!(url_encode("a b&c=d~é"), "a+b%26c%3Dd~%C3%A9");
    }
}
