//! TLS cipher suite and protocol version facts: IANA names (TLS Cipher
//! Suites registry, RFC 5246 appendix A.5, RFC 4492, RFC 8446 B.4), how weak
//! a suite is, its key exchange, and which protocol versions can carry it.

use serde::Serializer;

/// IANA names of the cipher suites a device is likely to offer (or that
/// matter for a downgrade check). Codes not listed are shown in hex.
const NAMES: &[(u16, &str)] = &[
    (0x0000, "TLS_NULL_WITH_NULL_NULL"),
    (0x0001, "TLS_RSA_WITH_NULL_MD5"),
    (0x0002, "TLS_RSA_WITH_NULL_SHA"),
    (0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5"),
    (0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA"),
    (0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0009, "TLS_RSA_WITH_DES_CBC_SHA"),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x000b, "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA"),
    (0x000c, "TLS_DH_DSS_WITH_DES_CBC_SHA"),
    (0x000d, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x000e, "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x000f, "TLS_DH_RSA_WITH_DES_CBC_SHA"),
    (0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA"),
    (0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA"),
    (0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA"),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5"),
    (0x0018, "TLS_DH_anon_WITH_RC4_128_MD5"),
    (0x0019, "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA"),
    (0x001a, "TLS_DH_anon_WITH_DES_CBC_SHA"),
    (0x001b, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA"),
    (0x002c, "TLS_PSK_WITH_NULL_SHA"),
    (0x002d, "TLS_DHE_PSK_WITH_NULL_SHA"),
    (0x002e, "TLS_RSA_PSK_WITH_NULL_SHA"),
    (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0030, "TLS_DH_DSS_WITH_AES_128_CBC_SHA"),
    (0x0031, "TLS_DH_RSA_WITH_AES_128_CBC_SHA"),
    (0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x0036, "TLS_DH_DSS_WITH_AES_256_CBC_SHA"),
    (0x0037, "TLS_DH_RSA_WITH_AES_256_CBC_SHA"),
    (0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x003a, "TLS_DH_anon_WITH_AES_256_CBC_SHA"),
    (0x003b, "TLS_RSA_WITH_NULL_SHA256"),
    (0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256"),
    (0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0046, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x006a, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256"),
    (0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0x006c, "TLS_DH_anon_WITH_AES_128_CBC_SHA256"),
    (0x006d, "TLS_DH_anon_WITH_AES_256_CBC_SHA256"),
    (0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0089, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA"),
    (0x008a, "TLS_PSK_WITH_RC4_128_SHA"),
    (0x008b, "TLS_PSK_WITH_3DES_EDE_CBC_SHA"),
    (0x008c, "TLS_PSK_WITH_AES_128_CBC_SHA"),
    (0x008d, "TLS_PSK_WITH_AES_256_CBC_SHA"),
    (0x0096, "TLS_RSA_WITH_SEED_CBC_SHA"),
    (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00a2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00a3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384"),
    (0x00a6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256"),
    (0x00a7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384"),
    (0x00a8, "TLS_PSK_WITH_AES_128_GCM_SHA256"),
    (0x00a9, "TLS_PSK_WITH_AES_256_GCM_SHA384"),
    (0x00ae, "TLS_PSK_WITH_AES_128_CBC_SHA256"),
    (0x00af, "TLS_PSK_WITH_AES_256_CBC_SHA384"),
    (0x00b0, "TLS_PSK_WITH_NULL_SHA256"),
    (0x00b1, "TLS_PSK_WITH_NULL_SHA384"),
    (0x00ff, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
    (0x1301, "TLS_AES_128_GCM_SHA256"),
    (0x1302, "TLS_AES_256_GCM_SHA384"),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
    (0x1304, "TLS_AES_128_CCM_SHA256"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256"),
    (0x5600, "TLS_FALLBACK_SCSV"),
    (0xc001, "TLS_ECDH_ECDSA_WITH_NULL_SHA"),
    (0xc002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA"),
    (0xc003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xc006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA"),
    (0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xc00b, "TLS_ECDH_RSA_WITH_NULL_SHA"),
    (0xc00c, "TLS_ECDH_RSA_WITH_RC4_128_SHA"),
    (0xc00d, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc00e, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA"),
    (0xc00f, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA"),
    (0xc010, "TLS_ECDHE_RSA_WITH_NULL_SHA"),
    (0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xc015, "TLS_ECDH_anon_WITH_NULL_SHA"),
    (0xc016, "TLS_ECDH_anon_WITH_RC4_128_SHA"),
    (0xc017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA"),
    (0xc018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"),
    (0xc019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA"),
    (0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xc025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xc026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    (0xc029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256"),
    (0xc02a, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384"),
    (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xc02d, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc02e, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xc031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384"),
    (0xc035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA"),
    (0xc036, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA"),
    (0xc039, "TLS_ECDHE_PSK_WITH_NULL_SHA"),
    (0xc03a, "TLS_ECDHE_PSK_WITH_NULL_SHA256"),
    (0xc03b, "TLS_ECDHE_PSK_WITH_NULL_SHA384"),
    (0xc09c, "TLS_RSA_WITH_AES_128_CCM"),
    (0xc09d, "TLS_RSA_WITH_AES_256_CCM"),
    (0xc09e, "TLS_DHE_RSA_WITH_AES_128_CCM"),
    (0xc09f, "TLS_DHE_RSA_WITH_AES_256_CCM"),
    (0xc0a0, "TLS_RSA_WITH_AES_128_CCM_8"),
    (0xc0a1, "TLS_RSA_WITH_AES_256_CCM_8"),
    (0xc0a4, "TLS_PSK_WITH_AES_128_CCM"),
    (0xc0a5, "TLS_PSK_WITH_AES_256_CCM"),
    (0xc0a8, "TLS_PSK_WITH_AES_128_CCM_8"),
    (0xc0a9, "TLS_PSK_WITH_AES_256_CCM_8"),
    (0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
    (0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
    (0xc0ae, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),
    (0xc0af, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
    (0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xccab, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    (0xccac, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
];

pub const TLS_EMPTY_RENEGOTIATION_INFO_SCSV: u16 = 0x00ff;
pub const TLS_FALLBACK_SCSV: u16 = 0x5600;
pub const TLS_RSA_WITH_AES_128_CBC_SHA: u16 = 0x002f;
pub const TLS_RSA_WITH_3DES_EDE_CBC_SHA: u16 = 0x000a;

/// Protocol version codes as they appear on the wire.
pub const SSL_2_0: u16 = 0x0002;
pub const SSL_3_0: u16 = 0x0300;
pub const TLS_1_0: u16 = 0x0301;
pub const TLS_1_1: u16 = 0x0302;
pub const TLS_1_2: u16 = 0x0303;
pub const TLS_1_3: u16 = 0x0304;

/// RFC 8701 GREASE value (0x?a?a with both bytes equal).
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// A signalling value in the cipher suite list rather than a suite.
pub fn is_signal(code: u16) -> bool {
    code == TLS_EMPTY_RENEGOTIATION_INFO_SCSV || code == TLS_FALLBACK_SCSV || is_grease(code)
}

/// The IANA name of a known suite.
pub fn known_suite_name(code: u16) -> Option<&'static str> {
    NAMES
        .binary_search_by_key(&code, |(c, _)| *c)
        .ok()
        .map(|i| NAMES[i].1)
}

/// Every suite code this crate has a name for, in code order.
pub fn known_suites() -> impl Iterator<Item = u16> {
    NAMES.iter().map(|(c, _)| *c)
}

/// IANA name where known, "GREASE 0x?a?a" for GREASE, else "0x1234".
pub fn suite_name(code: u16) -> String {
    match known_suite_name(code) {
        Some(n) => n.to_string(),
        None if is_grease(code) => format!("GREASE {code:#06x}"),
        None => format!("{code:#06x}"),
    }
}

/// "TLS 1.2", "SSL 3.0", "TLS 1.3 draft 28", "GREASE 0x0a0a", else hex.
pub fn version_name(v: u16) -> String {
    match v {
        SSL_2_0 => "SSL 2.0".into(),
        SSL_3_0 => "SSL 3.0".into(),
        TLS_1_0 => "TLS 1.0".into(),
        TLS_1_1 => "TLS 1.1".into(),
        TLS_1_2 => "TLS 1.2".into(),
        TLS_1_3 => "TLS 1.3".into(),
        0x7f00..=0x7fff => format!("TLS 1.3 draft {}", v & 0xff),
        _ if is_grease(v) => format!("GREASE {v:#06x}"),
        _ => format!("{v:#06x}"),
    }
}

/// A version's place in the order SSL 2.0 < SSL 3.0 < TLS 1.0 < ... < TLS
/// 1.3, as the TLS 1.x code (TLS 1.3 drafts count as TLS 1.3); `None` for
/// GREASE and codes that are no version.
pub fn version_rank(v: u16) -> Option<u16> {
    match v {
        SSL_2_0 => Some(0x0200),
        _ if is_grease(v) => None,
        0x0300..=0x03ff => Some(v),
        0x7f00..=0x7fff => Some(TLS_1_3),
        _ => None,
    }
}

/// Why a suite is weak, weakest first (the order the downgrade server
/// prefers). `CbcSha1` is legacy rather than broken: it is the last resort
/// of the weak-cipher offer and is not listed as weak in evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Weakness {
    /// No encryption.
    Null,
    /// 40/56-bit export-grade.
    Export,
    Rc4,
    /// Single DES.
    Des,
    TripleDes,
    /// Unauthenticated key exchange.
    Anon,
    /// CBC with an HMAC-SHA1 MAC (Lucky13-class, TLS 1.0 era).
    CbcSha1,
}

impl Weakness {
    /// True for the classes a secure client must never offer.
    pub fn is_weak(self) -> bool {
        self != Weakness::CbcSha1
    }
}

/// The weakest property of a known suite, if any.
pub fn weakness(code: u16) -> Option<Weakness> {
    let name = known_suite_name(code)?;
    if is_signal(code) {
        return None;
    }
    if name.contains("_NULL_") || name.ends_with("_NULL") {
        Some(Weakness::Null)
    } else if name.contains("EXPORT") {
        Some(Weakness::Export)
    } else if name.contains("_RC4_") {
        Some(Weakness::Rc4)
    } else if name.contains("_DES_CBC_") {
        Some(Weakness::Des)
    } else if name.contains("_3DES_") {
        Some(Weakness::TripleDes)
    } else if name.contains("_anon_") {
        Some(Weakness::Anon)
    } else if name.ends_with("_CBC_SHA") {
        Some(Weakness::CbcSha1)
    } else {
        None
    }
}

/// A suite's key exchange, as far as the downgrade server cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyExchange {
    /// RSA key transport: Certificate then ServerHelloDone, nothing signed.
    StaticRsa,
    /// Ephemeral ECDH signed with the certificate's RSA key.
    EcdheRsa,
    /// Ephemeral ECDH signed with the certificate's ECDSA key.
    EcdheEcdsa,
    /// Ephemeral ECDH, no certificate, nothing signed.
    EcdhAnon,
    /// A TLS 1.3 suite (no key exchange in the suite).
    Tls13,
    /// Anything else (DHE, static DH/ECDH, PSK, SRP, export RSA, unknown).
    Other,
}

pub fn key_exchange(code: u16) -> KeyExchange {
    if (0x1301..=0x1305).contains(&code) {
        return KeyExchange::Tls13;
    }
    let Some(name) = known_suite_name(code) else {
        return KeyExchange::Other;
    };
    if name.starts_with("TLS_RSA_WITH_") {
        KeyExchange::StaticRsa
    } else if name.starts_with("TLS_ECDHE_RSA_WITH_") {
        KeyExchange::EcdheRsa
    } else if name.starts_with("TLS_ECDHE_ECDSA_WITH_") {
        KeyExchange::EcdheEcdsa
    } else if name.starts_with("TLS_ECDH_anon_WITH_") {
        KeyExchange::EcdhAnon
    } else {
        KeyExchange::Other
    }
}

/// True when the suite can only be used with TLS 1.2 (AEAD or SHA-2 PRF
/// MACs, RFC 5246/5288/5289) or TLS 1.3. Unknown codes count as not.
pub fn needs_tls12(code: u16) -> bool {
    if key_exchange(code) == KeyExchange::Tls13 {
        return true;
    }
    let Some(name) = known_suite_name(code) else {
        return false;
    };
    name.contains("_GCM_")
        || name.contains("_CCM")
        || name.contains("CHACHA20")
        || name.ends_with("_SHA256")
        || name.ends_with("_SHA384")
}

pub(crate) fn ser_version<S: Serializer>(v: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&version_name(*v))
}

pub(crate) fn ser_versions<S: Serializer>(v: &Option<Vec<u16>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(list) => s.collect_seq(list.iter().map(|x| version_name(*x))),
        None => s.serialize_none(),
    }
}

pub(crate) fn ser_suite<S: Serializer>(v: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&suite_name(*v))
}

pub(crate) fn ser_suites<S: Serializer>(v: &[u16], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| suite_name(*x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn names_and_classes() {
        assert_eq!(suite_name(0x002f), "TLS_RSA_WITH_AES_128_CBC_SHA");
        assert_eq!(suite_name(0x1a1a), "GREASE 0x1a1a");
        assert_eq!(suite_name(0xfefe), "0xfefe");
        assert_eq!(weakness(0x0002), Some(Weakness::Null));
        assert_eq!(weakness(0x0000), Some(Weakness::Null));
        assert_eq!(weakness(0x0003), Some(Weakness::Export));
        assert_eq!(weakness(0x0005), Some(Weakness::Rc4));
        assert_eq!(weakness(0x0009), Some(Weakness::Des));
        assert_eq!(weakness(0x000a), Some(Weakness::TripleDes));
        assert_eq!(weakness(0xc018), Some(Weakness::Anon));
        assert_eq!(weakness(0xc013), Some(Weakness::CbcSha1));
        assert_eq!(weakness(0xc02f), None);
        assert_eq!(weakness(0x1301), None);
        assert_eq!(weakness(0x00ff), None);
        assert_eq!(key_exchange(0x000a), KeyExchange::StaticRsa);
        assert_eq!(key_exchange(0xc02b), KeyExchange::EcdheEcdsa);
        assert_eq!(key_exchange(0xc015), KeyExchange::EcdhAnon);
        assert_eq!(key_exchange(0x0039), KeyExchange::Other);
        assert!(needs_tls12(0xc02f) && needs_tls12(0x003b) && needs_tls12(0x1302));
        assert!(!needs_tls12(0x002f) && !needs_tls12(0xc014));
        assert_eq!(version_rank(0x7f1c), Some(TLS_1_3));
        assert_eq!(version_rank(0x0a0a), None);
        assert_eq!(version_name(0x0302), "TLS 1.1");
    }
}
