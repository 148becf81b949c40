//! Whether PEM text holds what a board file says it does (certificates, a
//! private key), so a broken file is found before a check needs it.

use crate::tls::certs_from_pem;

/// The number of certificates in `pem` (at least one), or what is wrong.
pub fn certificate_count(pem: &[u8]) -> Result<usize, String> {
    certs_from_pem(pem)
        .map(|certs| certs.len())
        .map_err(|e| e.to_string())
}

/// Whether `pem` holds a private key hilt can sign certificates with.
pub fn check_private_key(pem: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(pem).map_err(|_| "not PEM text".to_string())?;
    rcgen::KeyPair::from_pem(text)
        .map(|_| ())
        .map_err(|e| format!("no usable private key: {e}"))
}
