//! The board file's APIs: which declared HTTP(S) interfaces are APIs, how
//! a client authenticates on each (Basic, Digest, bearer token, form login
//! with a session cookie) and with which accounts, and which API a
//! resource (a configuration path, the event log, ...) lives on.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{AuthRequirement, BoardFile, InterfaceDecl, Transport};
use super::secret::SecretRef;

/// An interface's API: how a client authenticates and as whom.
///
/// ```yaml
/// interfaces:
///   - { port: 80, service: http, auth: required, api: { auth: digest, accounts: [operator] } }
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiDecl {
    /// A name other sections use to pick this API (`api: cam`) when the
    /// board has more than one; the port number works too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How a request authenticates.
    #[serde(default)]
    pub auth: ApiAuth,
    /// Accounts (keys of `declares.accounts`) this API takes; checks
    /// authenticate with the first. Empty: the console's account, else the
    /// only declared account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
}

/// How a request proves who sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ApiAuth {
    /// HTTP Basic (RFC 7617): user and password on every request.
    #[default]
    Basic,
    /// HTTP Digest (RFC 7616; MD5 or SHA-256, `qop=auth`): the device's
    /// challenge answered with a hash of the password.
    Digest,
    /// A bearer token (RFC 6750) in `Authorization: Bearer`, either given
    /// (`token: env:NAME`) or obtained with the account's credentials.
    Bearer(BearerDecl),
    /// A login form: credentials posted once, the session cookie the
    /// device sets sent with every request after (logged in again when
    /// the device answers 401).
    Form(FormLoginDecl),
}

impl ApiAuth {
    pub fn name(&self) -> &'static str {
        match self {
            ApiAuth::Basic => "basic",
            ApiAuth::Digest => "digest",
            ApiAuth::Bearer(_) => "bearer",
            ApiAuth::Form(_) => "form",
        }
    }
}

/// Where a bearer token comes from: exactly one of `token` and `login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BearerDecl {
    /// A token issued out of band (`env:NAME` or `file:PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// A request that trades the account's credentials for a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<TokenLoginDecl>,
}

/// `POST path` with `{user_field: user, password_field: password}` as
/// JSON; the token is the answer's `token_field`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenLoginDecl {
    pub path: String,
    #[serde(default = "default_user_field")]
    pub user_field: String,
    #[serde(default = "default_password_field")]
    pub password_field: String,
    #[serde(default = "default_token_field")]
    pub token_field: String,
}

/// A login form: `POST path` with the fields URL-encoded
/// (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FormLoginDecl {
    pub path: String,
    #[serde(default = "default_user_field")]
    pub user_field: String,
    #[serde(default = "default_password_field")]
    pub password_field: String,
    /// How a successful login is told from a refused one. Unset: a 2xx or
    /// 3xx answer that sets the session cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<FormSuccessDecl>,
    /// Name of the session cookie. Unset: every cookie the login sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
}

/// What a successful form login answers: its status, and/or a regular
/// expression its body matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FormSuccessDecl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

fn default_user_field() -> String {
    "username".into()
}
fn default_password_field() -> String {
    "password".into()
}
fn default_token_field() -> String {
    "token".into()
}

/// Which API a resource lives on: the interface's port or its API's
/// `name`. Unset, the board's one API (the first declared).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ApiRef {
    Port(u16),
    Name(String),
}

impl std::fmt::Display for ApiRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiRef::Port(p) => write!(f, "{p}"),
            ApiRef::Name(n) => f.write_str(n),
        }
    }
}

/// One API of the board: its interface, and its declaration (explicit, or
/// implied for an authenticated HTTPS interface of an older board file).
#[derive(Debug, Clone)]
pub struct Api<'a> {
    pub interface: &'a InterfaceDecl,
    pub decl: ApiDecl,
}

impl Api<'_> {
    pub fn port(&self) -> u16 {
        self.interface.port
    }

    /// Whether requests cross the network encrypted.
    pub fn speaks_tls(&self) -> bool {
        self.interface.speaks_tls()
    }

    pub fn matches(&self, wanted: &ApiRef) -> bool {
        match wanted {
            ApiRef::Port(p) => self.interface.port == *p,
            ApiRef::Name(n) => self.decl.name.as_deref() == Some(n.as_str()),
        }
    }

    /// `https:443 (digest)`, for notes and reasons.
    pub fn label(&self) -> String {
        format!(
            "{}:{} ({})",
            if self.speaks_tls() { "https" } else { "http" },
            self.port(),
            self.decl.auth.name()
        )
    }
}

impl BoardFile {
    /// Every API the board declares, in declaration order: interfaces with
    /// `api:`, and (as board files written before `api:` mean) an
    /// authenticated TCP `https` interface without it, taken as HTTP Basic.
    pub fn apis(&self) -> Vec<Api<'_>> {
        self.declares
            .interfaces
            .iter()
            .filter_map(|i| match &i.api {
                Some(decl) => Some(Api {
                    interface: i,
                    decl: decl.clone(),
                }),
                None if i.protocol == Transport::Tcp
                    && i.service.eq_ignore_ascii_case("https")
                    && i.auth == AuthRequirement::Required =>
                {
                    Some(Api {
                        interface: i,
                        decl: ApiDecl {
                            name: None,
                            auth: ApiAuth::Basic,
                            accounts: Vec::new(),
                        },
                    })
                }
                None => None,
            })
            .collect()
    }

    /// The API `wanted` names, or the board's first API when unset.
    pub fn api(&self, wanted: Option<&ApiRef>) -> Option<Api<'_>> {
        let apis = self.apis();
        match wanted {
            None => apis.into_iter().next(),
            Some(w) => apis.into_iter().find(|a| a.matches(w)),
        }
    }

    /// The account an API authenticates with: its first declared account,
    /// else the console's, else the only declared account.
    pub fn api_account(&self, api: &Api<'_>) -> Option<String> {
        if let Some(first) = api.decl.accounts.first() {
            return Some(first.clone());
        }
        if let Some(account) = self
            .declares
            .console
            .as_ref()
            .and_then(|c| c.account.clone())
        {
            return Some(account);
        }
        if self.declares.accounts.len() == 1 {
            return self.declares.accounts.keys().next().cloned();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(interfaces: &str) -> BoardFile {
        let text = format!(
            "board: b\nmodel: m\nhardware: {{}}\ndeclares:\n  accounts: {{ admin: {{ password: 'env:X' }}, operator: {{ password: 'env:Y' }} }}\n  interfaces:\n{interfaces}"
        );
        crate::yaml::parse(std::path::Path::new("b.yaml"), &text).expect("board file")
    }

    #[test]
    fn an_https_interface_without_api_is_a_basic_api() {
        let b = board("    - { port: 443, service: https, auth: required }\n    - { port: 22, service: ssh }\n");
        let apis = b.apis();
        assert_eq!(apis.len(), 1);
        assert_eq!(apis[0].decl.auth, ApiAuth::Basic);
        assert!(apis[0].speaks_tls());
    }

    #[test]
    fn auth_kinds_read_from_yaml_and_resources_pick_their_api() {
        let b = board(concat!(
            "    - { port: 80, service: http, api: { name: cam, auth: digest, accounts: [operator] } }\n",
            "    - { port: 8443, service: https, api: { auth: { bearer: { token: 'env:T' } } } }\n",
            "    - { port: 8080, service: http, api: { auth: { form: { path: /login, cookie: sid, success: { status: 302 } } } } }\n",
        ));
        let apis = b.apis();
        assert_eq!(apis.len(), 3);
        assert_eq!(apis[0].decl.auth, ApiAuth::Digest);
        assert!(!apis[0].speaks_tls());
        assert!(matches!(apis[1].decl.auth, ApiAuth::Bearer(_)));
        let ApiAuth::Form(form) = &apis[2].decl.auth else {
            panic!("form")
        };
        assert_eq!(form.user_field, "username");
        assert_eq!(form.cookie.as_deref(), Some("sid"));
        assert_eq!(b.api(None).map(|a| a.port()), Some(80));
        assert_eq!(
            b.api(Some(&ApiRef::Name("cam".into()))).map(|a| a.port()),
            Some(80)
        );
        assert_eq!(
            b.api(Some(&ApiRef::Port(8443))).map(|a| a.port()),
            Some(8443)
        );
        assert!(b.api(Some(&ApiRef::Port(1))).is_none());
        assert_eq!(b.api_account(&apis[0]).as_deref(), Some("operator"));
    }

    #[test]
    fn an_unknown_auth_kind_is_refused() {
        let text = "board: b\nmodel: m\nhardware: {}\ndeclares:\n  interfaces:\n    - { port: 80, service: http, api: { auth: ntlm } }\n";
        let err = crate::yaml::parse::<BoardFile>(std::path::Path::new("b.yaml"), text)
            .expect_err("ntlm is no auth kind");
        assert!(err.to_string().contains("auth"), "{err}");
    }
}
