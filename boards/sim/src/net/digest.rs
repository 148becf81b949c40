//! HTTP Digest authentication, the server side (RFC 7616), for the
//! `http-api` shape's camera-style API: challenges offering SHA-256 and
//! MD5 with `qop=auth`, and verification of an answer against the stored
//! password.
//!
//! Nonces are stateless: the issue time and an HMAC of it under a key
//! derived from the device secret, valid for [`NONCE_LIFETIME`]; an
//! expired one is answered with `stale=true`. Nonce counts are not
//! tracked (a replayed answer within the lifetime is taken): enough for a
//! test device, said here so nobody copies it into a real one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::Md5;
use sha2::{Digest as _, Sha256};

use crate::device::hmac256;

pub const REALM: &str = "hilt-sim-camera";
pub const NONCE_LIFETIME: Duration = Duration::from_secs(300);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn nonce_at(key: &[u8; 32], t: u64) -> String {
    let mac = hmac256(key, format!("digest-nonce/{t}").as_bytes());
    format!("{t:x}-{}", crate::mcuboot::hex(&mac[..12]))
}

/// The `WWW-Authenticate` values for a 401: SHA-256 first, then MD5.
pub fn challenges(key: &[u8; 32], stale: bool) -> Vec<String> {
    let nonce = nonce_at(key, now());
    let stale = if stale { ", stale=true" } else { "" };
    ["SHA-256", "MD5"]
        .iter()
        .map(|alg| {
            format!(
                "Digest realm=\"{REALM}\", qop=\"auth\", algorithm={alg}, nonce=\"{nonce}\"{stale}"
            )
        })
        .collect()
}

/// A parsed `Authorization: Digest` answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub username: String,
    params: Vec<(String, String)>,
}

/// Why an answer was not checked against a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed, another realm or URI, unsupported algorithm or qop.
    Bad,
    /// The nonce is ours but too old: ask again with `stale=true`.
    Stale,
}

impl Answer {
    /// Parses `Digest k=v, ...` (bounded: at most 32 parameters).
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.trim();
        let (scheme, rest) = rest.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        let mut params = Vec::new();
        let mut s = rest.trim();
        while !s.is_empty() && params.len() < 32 {
            let eq = s.find('=')?;
            let name = s[..eq].trim().to_ascii_lowercase();
            let after = s[eq + 1..].trim_start();
            let (value, rest) = if let Some(body) = after.strip_prefix('"') {
                let mut v = String::new();
                let mut end = None;
                let mut chars = body.char_indices();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                v.push(n);
                            }
                        }
                        '"' => {
                            end = Some(i + 1);
                            break;
                        }
                        c => v.push(c),
                    }
                }
                (v, &body[end?..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            };
            params.push((name, value));
            s = rest.trim_start().trim_start_matches(',').trim_start();
        }
        let username = params
            .iter()
            .find(|(k, _)| k == "username")
            .map(|(_, v)| v.clone())?;
        Some(Self { username, params })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Checks everything but the password: realm, our nonce (fresh), the
    /// request's URI, `qop=auth`, a supported algorithm.
    pub fn check(&self, key: &[u8; 32], uri: &str) -> Result<(), Refusal> {
        if self.get("realm") != Some(REALM) || self.get("uri") != Some(uri) {
            return Err(Refusal::Bad);
        }
        if self.get("qop") != Some("auth")
            || self.get("nc").is_none()
            || self.get("cnonce").is_none()
        {
            return Err(Refusal::Bad);
        }
        if !matches!(self.algorithm(), Some("MD5" | "SHA-256")) {
            return Err(Refusal::Bad);
        }
        let nonce = self.get("nonce").ok_or(Refusal::Bad)?;
        let t = nonce
            .split_once('-')
            .and_then(|(t, _)| u64::from_str_radix(t, 16).ok())
            .ok_or(Refusal::Bad)?;
        if nonce_at(key, t) != nonce {
            return Err(Refusal::Bad);
        }
        if now().saturating_sub(t) > NONCE_LIFETIME.as_secs() || t > now() + 5 {
            return Err(Refusal::Stale);
        }
        Ok(())
    }

    fn algorithm(&self) -> Option<&str> {
        match self.get("algorithm") {
            None => Some("MD5"),
            Some(a) if a.eq_ignore_ascii_case("md5") => Some("MD5"),
            Some(a) if a.eq_ignore_ascii_case("sha-256") => Some("SHA-256"),
            Some(_) => None,
        }
    }

    /// Whether the answer was made with `password` for `method`.
    pub fn made_with(&self, password: &str, method: &str) -> bool {
        let hash = |s: String| match self.algorithm() {
            Some("SHA-256") => crate::mcuboot::hex(&Sha256::digest(s.as_bytes())),
            _ => crate::mcuboot::hex(&Md5::digest(s.as_bytes())),
        };
        let (Some(nonce), Some(uri), Some(nc), Some(cnonce), Some(response)) = (
            self.get("nonce"),
            self.get("uri"),
            self.get("nc"),
            self.get("cnonce"),
            self.get("response"),
        ) else {
            return false;
        };
        let ha1 = hash(format!("{}:{REALM}:{password}", self.username));
        let ha2 = hash(format!("{method}:{uri}"));
        let expected = hash(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
        expected.len() == response.len()
            && expected
                .bytes()
                .zip(response.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer as a client computes it (written here from RFC 7616's
    /// formulas, independently of the code under test).
    fn client_answer(key: &[u8; 32], user: &str, pw: &str, uri: &str, sha: bool) -> String {
        let nonce = nonce_at(key, now());
        let h = |s: String| {
            if sha {
                crate::mcuboot::hex(&Sha256::digest(s.as_bytes()))
            } else {
                crate::mcuboot::hex(&Md5::digest(s.as_bytes()))
            }
        };
        let ha1 = h(format!("{user}:{REALM}:{pw}"));
        let ha2 = h(format!("GET:{uri}"));
        let resp = h(format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
        format!(
            "Digest username=\"{user}\", realm=\"{REALM}\", uri=\"{uri}\", algorithm={}, nonce=\"{nonce}\", nc=00000001, cnonce=\"abc\", qop=auth, response=\"{resp}\"",
            if sha { "SHA-256" } else { "MD5" }
        )
    }

    #[test]
    fn answers_verify_only_with_the_right_password_and_uri() {
        let key = [7u8; 32];
        for sha in [true, false] {
            let a = Answer::parse(&client_answer(
                &key,
                "operator",
                "pw1",
                "/cgi-bin/x.cgi",
                sha,
            ))
            .expect("parses");
            assert_eq!(a.check(&key, "/cgi-bin/x.cgi"), Ok(()));
            assert!(a.made_with("pw1", "GET"));
            assert!(!a.made_with("pw2", "GET"));
            assert!(!a.made_with("pw1", "PUT"));
            assert_eq!(a.check(&key, "/cgi-bin/y.cgi"), Err(Refusal::Bad));
            assert_eq!(a.check(&[8u8; 32], "/cgi-bin/x.cgi"), Err(Refusal::Bad));
        }
        assert!(Answer::parse("Basic YWRtaW46eA==").is_none());
        assert!(Answer::parse("Digest \"").is_none());
        assert_eq!(challenges(&key, false).len(), 2);
    }
}
