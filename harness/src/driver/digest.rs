//! HTTP Digest authentication, the client side (RFC 7616): reading a
//! device's challenge and answering it for one request. MD5 and SHA-256,
//! with or without `-sess`; `qop=auth` when the device offers it (RFC 2069
//! answers otherwise); `userhash` honoured.

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// Hash algorithms a challenge may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "MD5" => Some(Self::Md5),
            "MD5-SESS" => Some(Self::Md5Sess),
            "SHA-256" => Some(Self::Sha256),
            "SHA-256-SESS" => Some(Self::Sha256Sess),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Self::Md5 | Self::Md5Sess => hex::encode(Md5::digest(data.as_bytes())),
            Self::Sha256 | Self::Sha256Sess => hex::encode(Sha256::digest(data.as_bytes())),
        }
    }

    fn sess(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    /// Preference when a device offers several: the stronger hash first.
    fn strength(self) -> u8 {
        match self {
            Self::Sha256 | Self::Sha256Sess => 2,
            Self::Md5 | Self::Md5Sess => 1,
        }
    }
}

/// One Digest challenge (`WWW-Authenticate: Digest ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// Whether the device offers `qop=auth` (else an RFC 2069 answer).
    pub qop_auth: bool,
    pub stale: bool,
    pub userhash: bool,
}

impl Challenge {
    /// The Digest challenge to answer among `WWW-Authenticate` values (one
    /// header may hold several challenges): the strongest supported
    /// algorithm, `None` when no usable Digest challenge is there.
    pub fn pick<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        values
            .into_iter()
            .flat_map(split_challenges)
            .filter_map(|(scheme, params)| {
                if !scheme.eq_ignore_ascii_case("digest") {
                    return None;
                }
                Self::from_params(&params)
            })
            .max_by_key(|c| c.algorithm.strength())
    }

    fn from_params(params: &[(String, String)]) -> Option<Self> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let algorithm = match get("algorithm") {
            Some(a) => Algorithm::parse(&a)?,
            None => Algorithm::Md5,
        };
        let qop = get("qop");
        let qop_auth = qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")));
        // A device that offers only auth-int (body integrity) is not supported.
        if qop.is_some() && !qop_auth {
            return None;
        }
        Some(Self {
            realm: get("realm")?,
            nonce: get("nonce")?,
            opaque: get("opaque"),
            algorithm,
            qop_auth,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
            userhash: get("userhash").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The `Authorization` header value answering this challenge for
    /// `method uri`, as request number `nc` under it, and the same with the
    /// `response` redacted (for the record).
    pub fn answer(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> (String, String) {
        let a = self.answer_parts(user, password, method, uri, nc, cnonce);
        (a.header, a.shown)
    }

    /// [`Challenge::answer`] with the `response` value on its own (the
    /// proof that crosses the network, for a capture search).
    pub fn answer_parts(
        &self,
        user: &str,
        password: &str,
        method: &str,
        uri: &str,
        nc: u32,
        cnonce: &str,
    ) -> Answer {
        let alg = self.algorithm;
        let mut ha1 = alg.hash(&format!("{user}:{}:{password}", self.realm));
        if alg.sess() {
            ha1 = alg.hash(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let ha2 = alg.hash(&format!("{method}:{uri}"));
        let nc = format!("{nc:08x}");
        let response = if self.qop_auth {
            alg.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
        } else {
            alg.hash(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let username = if self.userhash {
            alg.hash(&format!("{user}:{}", self.realm))
        } else {
            user.to_string()
        };
        let header = |response: &str| {
            let mut h = format!(
                "Digest username=\"{}\", realm=\"{}\", uri=\"{}\", algorithm={}, nonce=\"{}\"",
                quote(&username),
                quote(&self.realm),
                quote(uri),
                alg.name(),
                quote(&self.nonce)
            );
            if self.qop_auth {
                h.push_str(&format!(
                    ", nc={nc}, cnonce=\"{}\", qop=auth",
                    quote(cnonce)
                ));
            }
            h.push_str(&format!(", response=\"{response}\""));
            if let Some(opaque) = &self.opaque {
                h.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
            }
            if self.userhash {
                h.push_str(", userhash=true");
            }
            h
        };
        Answer {
            header: header(&response),
            shown: header("<redacted>"),
            response,
        }
    }
}

/// An answer to a challenge: the header value, the same as recorded, and
/// the `response` hash.
#[derive(Debug, Clone)]
pub struct Answer {
    pub header: String,
    pub shown: String,
    pub response: String,
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Splits a `WWW-Authenticate` value into challenges: (scheme, params).
/// Bounded by the value's length; malformed pieces are skipped.
fn split_challenges(value: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut rest = value.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let end = rest.find([' ', ',', '=']).unwrap_or(rest.len());
        let word = &rest[..end];
        let after = &rest[end..];
        if word.is_empty() {
            break;
        }
        if after.trim_start().starts_with('=') && !out.is_empty() {
            // A parameter of the current challenge.
            let Some(eq) = rest.find('=') else { break };
            let name = rest[..eq].trim().to_string();
            let (val, remaining) = read_value(rest[eq + 1..].trim_start());
            if let Some((_, params)) = out.last_mut() {
                params.push((name, val));
            }
            rest = remaining;
        } else {
            // A new scheme (a token68 after it is not used by Digest).
            out.push((word.to_string(), Vec::new()));
            rest = after;
        }
    }
    out
}

/// A quoted string or a token, and what follows it.
fn read_value(s: &str) -> (String, &str) {
    if let Some(body) = s.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(n);
                    }
                }
                '"' => return (value, &body[i + 1..]),
                c => value.push(c),
            }
        }
        (value, "")
    } else {
        let end = s.find([',', ' ']).unwrap_or(s.len());
        (s[..end].to_string(), &s[end..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7616 section 3.9.1: the same request with MD5 and with SHA-256.
    const RFC_CHALLENGE: &str = r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS", Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    fn response_of(header: &str) -> String {
        let (_, params) = split_challenges(header).remove(0);
        params
            .into_iter()
            .find(|(k, _)| k == "response")
            .map(|(_, v)| v)
            .unwrap_or_default()
    }

    #[test]
    fn rfc7616_sha256_vector() {
        let c = Challenge::pick([RFC_CHALLENGE]).expect("challenge");
        assert_eq!(c.algorithm, Algorithm::Sha256, "the stronger one is picked");
        assert_eq!(c.realm, "http-auth@example.org");
        let (h, shown) = c.answer(
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            CNONCE,
        );
        assert_eq!(
            response_of(&h),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert!(h.contains("nc=00000001") && h.contains("qop=auth"), "{h}");
        assert!(shown.contains("response=\"<redacted>\"") && !shown.contains("753927fa"));
    }

    #[test]
    fn rfc7616_md5_vector() {
        let md5_only = RFC_CHALLENGE.split(", Digest ").nth(1).expect("second");
        let c = Challenge::pick([format!("Digest {md5_only}").as_str()]).expect("challenge");
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert_eq!(
            c.opaque.as_deref(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        let (h, _) = c.answer(
            "Mufasa",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            1,
            CNONCE,
        );
        assert_eq!(response_of(&h), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc2617_vector_without_sha() {
        // RFC 2617 section 3.5.
        let c = Challenge::pick([r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#]).expect("challenge");
        let (h, _) = c.answer(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            1,
            "0a4f113b",
        );
        assert_eq!(response_of(&h), "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn basic_only_or_garbage_gives_no_challenge() {
        assert!(Challenge::pick([r#"Basic realm="x""#]).is_none());
        assert!(Challenge::pick(["Digest"]).is_none());
        assert!(
            Challenge::pick([r#"Digest realm="a", nonce="n", algorithm=SHA-512-256"#]).is_none()
        );
        assert!(Challenge::pick([r#"Digest realm="a", nonce="n", qop="auth-int""#]).is_none());
        assert!(Challenge::pick(["\"\"\"=,=,,, Digest =\"\\"]).is_none());
        let both = Challenge::pick([r#"Basic realm="x", Digest realm="y", nonce="n", stale=TRUE"#])
            .expect("digest after basic");
        assert!(both.stale && !both.qop_auth && both.realm == "y");
    }
}
