//! A parsed, serialisable view of one X.509 certificate (x509-parser).

use serde::{Serialize, Serializer};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// What a lab reads off a certificate. `der` is the certificate itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CertInfo {
    #[serde(serialize_with = "hex")]
    pub der: Vec<u8>,
    /// False when x509-parser could not parse it (the fields below are then empty).
    pub parsed: bool,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub not_before_unix: i64,
    pub not_after_unix: i64,
    /// DNS names, IP addresses, URIs and e-mail addresses of the SAN extension.
    pub subject_alt_names: Vec<String>,
    /// "RSA", "EC", "Ed25519", ... with size in bits.
    pub key_type: String,
    pub key_bits: usize,
    pub signature_algorithm: String,
    pub is_ca: bool,
    pub self_signed: bool,
}

pub(crate) fn hex<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&to_hex(bytes))
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

impl CertInfo {
    /// Parses `der`; never fails (an unparsable certificate is recorded as such).
    pub fn from_der(der: &[u8]) -> Self {
        let mut info = CertInfo {
            der: der.to_vec(),
            parsed: false,
            subject: String::new(),
            issuer: String::new(),
            serial: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            not_before_unix: 0,
            not_after_unix: 0,
            subject_alt_names: Vec::new(),
            key_type: String::new(),
            key_bits: 0,
            signature_algorithm: String::new(),
            is_ca: false,
            self_signed: false,
        };
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            return info;
        };
        info.parsed = true;
        info.subject = cert.subject().to_string();
        info.issuer = cert.issuer().to_string();
        info.serial = cert.raw_serial_as_string();
        let v = cert.validity();
        info.not_before = v.not_before.to_string();
        info.not_after = v.not_after.to_string();
        info.not_before_unix = v.not_before.timestamp();
        info.not_after_unix = v.not_after.timestamp();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => info.subject_alt_names.push(format!("DNS:{d}")),
                    GeneralName::IPAddress(ip) => {
                        info.subject_alt_names.push(format!("IP:{}", ip_text(ip)))
                    }
                    GeneralName::URI(u) => info.subject_alt_names.push(format!("URI:{u}")),
                    GeneralName::RFC822Name(m) => info.subject_alt_names.push(format!("email:{m}")),
                    other => info.subject_alt_names.push(format!("{other:?}")),
                }
            }
        }
        let spki = cert.public_key();
        let oid = spki.algorithm.algorithm.to_id_string();
        let (kind, bits) = match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => ("RSA".to_string(), rsa.key_size()),
            Ok(PublicKey::EC(ec)) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| curve_name(&o.to_id_string()))
                    .unwrap_or_else(|| "unknown curve".into());
                (format!("EC {curve}"), ec.key_size())
            }
            Ok(PublicKey::DSA(_)) => ("DSA".to_string(), 0),
            Ok(PublicKey::GostR3410(_)) | Ok(PublicKey::GostR3410_2012(_)) => {
                ("GOST".to_string(), 0)
            }
            Ok(PublicKey::Unknown(raw)) => match oid.as_str() {
                "1.3.101.112" => ("Ed25519".to_string(), 256),
                "1.3.101.113" => ("Ed448".to_string(), 456),
                _ => (format!("unknown ({oid})"), raw.len() * 8),
            },
            Err(_) => (format!("unparsed ({oid})"), 0),
        };
        info.key_type = kind;
        info.key_bits = bits;
        info.signature_algorithm = sig_name(&cert.signature_algorithm.algorithm.to_id_string());
        info.is_ca = cert.is_ca();
        info.self_signed = cert.subject() == cert.issuer();
        info
    }
}

fn ip_text(raw: &[u8]) -> String {
    match raw.len() {
        4 => std::net::Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(raw);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => to_hex(raw),
    }
}

fn curve_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.3.1.7" => "P-256".into(),
        "1.3.132.0.34" => "P-384".into(),
        "1.3.132.0.35" => "P-521".into(),
        "1.3.132.0.10" => "secp256k1".into(),
        other => other.into(),
    }
}

fn sig_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption".into(),
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption".into(),
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption".into(),
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption".into(),
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption".into(),
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256".into(),
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384".into(),
        "1.3.101.112" => "Ed25519".into(),
        other => other.into(),
    }
}
