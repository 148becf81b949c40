//! The simulated manufacturer's PKI.
//!
//! Two CAs, both with TEST-ONLY private keys committed under `boards/sim/keys/`
//! (`net-manufacturer-ca.TEST-ONLY.key.pem`, `net-telemetry-ca.TEST-ONLY.key.pem`),
//! so every board and every run share the same trust anchors:
//! - the **manufacturer CA** issues each device's TLS certificate (ECDSA
//!   P-256, key derived from the device secret in OTP, so it is stable across
//!   boots and changes after a mass erase);
//! - the **telemetry CA** issues the telemetry server's certificate; the
//!   device's telemetry client trusts only this CA.
//!
//! The CA certificates are rebuilt from the committed keys with fixed
//! subjects and validity (2024-01-01 .. 2049-12-31), so a certificate
//! published by one board verifies every board's chain. Published in the
//! board's runtime folder, as a manufacturer would hand them to a lab:
//! - `manufacturer-ca.pem`: trust anchor for the device's HTTPS API;
//! - `telemetry-ca.pem`: the CA the device trusts for telemetry, and
//!   `telemetry-ca.key`, its TEST-ONLY private key (so a lab can issue
//!   server certificates the device accepts, e.g. for a wrong host name);
//! - `telemetry-server.pem` and `telemetry-server.key`: a genuine telemetry
//!   server credential (chain for `telemetry.hilt.test`), so a lab can show
//!   that the device accepts the genuine server before it tries rogue ones.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::RootCertStore;
use sha2::{Digest, Sha256};

use super::{NetConfig, NetError};
use crate::device_api::DeviceApi;

/// TEST ONLY: the simulated manufacturer's root key.
const MANUFACTURER_CA_KEY: &str = include_str!("../../keys/net-manufacturer-ca.TEST-ONLY.key.pem");
/// TEST ONLY: the simulated telemetry service's root key.
const TELEMETRY_CA_KEY: &str = include_str!("../../keys/net-telemetry-ca.TEST-ONLY.key.pem");

/// The host name the telemetry client expects by default.
pub const DEFAULT_TELEMETRY_SERVER_NAME: &str = "telemetry.hilt.test";
/// Names in the genuine telemetry server's certificate: the default above,
/// and `telemetry.hilt-sim.test`, which the core's configuration defaults
/// have used for `telemetry_server_name`.
const GENUINE_TELEMETRY_NAMES: [&str; 2] =
    [DEFAULT_TELEMETRY_SERVER_NAME, "telemetry.hilt-sim.test"];

fn pki_err(what: &str) -> impl Fn(rcgen::Error) -> NetError + '_ {
    move |e| NetError::Pki(format!("{what}: {e}"))
}

/// The fixed parameters of a CA certificate.
fn ca_params(common_name: &str, serial: u8) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "ZZ");
    dn.push(
        DnType::OrganizationName,
        "hilt simulated devices (TEST ONLY)",
    );
    dn.push(DnType::CommonName, common_name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = date_time_ymd(2024, 1, 1);
    p.not_after = date_time_ymd(2049, 12, 31);
    p.serial_number = Some(SerialNumber::from_slice(&[0x01, serial]));
    p
}

/// A CA: its certificate and an issuer to sign with.
pub struct Ca {
    pub cert_der: CertificateDer<'static>,
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn from_key(key_pem: &str, common_name: &str, serial: u8) -> Result<Ca, NetError> {
        let key = KeyPair::from_pem(key_pem).map_err(pki_err("CA key"))?;
        let params = ca_params(common_name, serial);
        let cert = params
            .self_signed(&key)
            .map_err(pki_err("CA certificate"))?;
        Ok(Ca {
            cert_der: cert.der().clone(),
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The simulated manufacturer's root.
    pub fn manufacturer() -> Result<Ca, NetError> {
        Ca::from_key(
            MANUFACTURER_CA_KEY,
            "hilt-sim Manufacturer Root CA (TEST ONLY)",
            1,
        )
    }

    /// The simulated telemetry service's root.
    pub fn telemetry() -> Result<Ca, NetError> {
        Ca::from_key(
            TELEMETRY_CA_KEY,
            "hilt-sim Telemetry Root CA (TEST ONLY)",
            2,
        )
    }

    /// Issues a leaf certificate for `key`.
    pub fn issue(
        &self,
        key: &KeyPair,
        common_name: &str,
        sans: Vec<SanType>,
        server: bool,
        client: bool,
    ) -> Result<rcgen::Certificate, NetError> {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::OrganizationName,
            "hilt simulated devices (TEST ONLY)",
        );
        dn.push(DnType::CommonName, common_name);
        p.distinguished_name = dn;
        p.subject_alt_names = sans;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if server {
            p.extended_key_usages
                .push(ExtendedKeyUsagePurpose::ServerAuth);
        }
        if client {
            p.extended_key_usages
                .push(ExtendedKeyUsagePurpose::ClientAuth);
        }
        p.not_before = date_time_ymd(2024, 1, 1);
        p.not_after = date_time_ymd(2049, 12, 31);
        p.use_authority_key_identifier_extension = true;
        let serial: [u8; 16] = Sha256::digest(key.public_key_raw())[..16]
            .try_into()
            .map_err(|_| NetError::Pki("serial".into()))?;
        let mut serial = serial;
        serial[0] &= 0x7f;
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        p.signed_by(key, &self.issuer)
            .map_err(pki_err("leaf certificate"))
    }
}

/// A P-256 key derived from 32 secret bytes (re-hashed in the negligible
/// case that they are not a valid scalar).
pub fn p256_key_from_secret(secret: [u8; 32]) -> Result<KeyPair, NetError> {
    use p256::pkcs8::EncodePrivateKey;
    let mut bytes = secret;
    for _ in 0..8 {
        if let Ok(sk) = p256::SecretKey::from_slice(&bytes) {
            let der = sk
                .to_pkcs8_der()
                .map_err(|e| NetError::Pki(format!("device key encoding: {e}")))?;
            return KeyPair::try_from(der.as_bytes()).map_err(pki_err("device key"));
        }
        bytes = Sha256::digest(bytes).into();
    }
    Err(NetError::Pki(
        "no valid P-256 scalar from the device secret".into(),
    ))
}

/// Writes `contents` to `path` atomically (temporary file, then rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

/// Publishes the telemetry CA in `dir`: `telemetry-ca.pem` (the CA the
/// device's telemetry client trusts) and `telemetry-ca.key`, its TEST-ONLY
/// private key (committed in `keys/`), so a lab can mint server
/// certificates the client accepts (a certificate for the wrong host name,
/// for instance, to see that the client checks the name).
pub fn publish_telemetry_ca(dir: &Path, ca: &Ca) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    write_atomic(&dir.join("telemetry-ca.pem"), ca.cert_pem.as_bytes())?;
    let key = dir.join("telemetry-ca.key");
    write_atomic(&key, TELEMETRY_CA_KEY.as_bytes())?;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
}

/// Publishes the telemetry CA in `dir` (see [`publish_telemetry_ca`]).
pub fn publish_test_pki(dir: &Path) -> Result<(), NetError> {
    std::fs::create_dir_all(dir)?;
    publish_telemetry_ca(dir, &Ca::telemetry()?)?;
    Ok(())
}

/// What the network side needs: the device's server credential and the
/// telemetry client's trust anchors.
pub struct Pki {
    pub telemetry_ca: Ca,
    device_chain: Vec<CertificateDer<'static>>,
    device_key_der: Vec<u8>,
}

impl Pki {
    /// Builds the CAs and the device certificate, and publishes the CA
    /// certificates (and a genuine telemetry server credential) in the
    /// runtime folder.
    pub fn load(api: &dyn DeviceApi, cfg: &NetConfig) -> Result<Pki, NetError> {
        let manufacturer_ca = Ca::manufacturer()?;
        let telemetry_ca = Ca::telemetry()?;
        let identity = api.identity();
        let key = p256_key_from_secret(api.device_secret_material("tls-device-key"))?;
        let sans = vec![
            SanType::IpAddress(IpAddr::V4(cfg.board_addr())),
            SanType::DnsName(
                format!("sim-{}.hilt.test", cfg.index)
                    .try_into()
                    .map_err(pki_err("device name"))?,
            ),
        ];
        let cn: String = identity
            .device_id
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        let leaf = manufacturer_ca.issue(&key, &cn, sans, true, true)?;
        let device_chain = vec![leaf.der().clone(), manufacturer_ca.cert_der.clone()];

        let dir = &cfg.runtime_dir;
        std::fs::create_dir_all(dir)?;
        write_atomic(
            &dir.join("manufacturer-ca.pem"),
            manufacturer_ca.cert_pem.as_bytes(),
        )?;
        publish_telemetry_ca(dir, &telemetry_ca)?;
        let srv_cert = dir.join("telemetry-server.pem");
        let srv_key = dir.join("telemetry-server.key");
        if !srv_cert.exists() || !srv_key.exists() {
            let k = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .map_err(pki_err("telemetry server key"))?;
            let mut sans = Vec::new();
            for name in GENUINE_TELEMETRY_NAMES {
                sans.push(SanType::DnsName(
                    name.try_into().map_err(pki_err("telemetry name"))?,
                ));
            }
            sans.push(SanType::IpAddress(IpAddr::V4(cfg.host_addr())));
            let c = telemetry_ca.issue(&k, DEFAULT_TELEMETRY_SERVER_NAME, sans, true, false)?;
            write_atomic(&srv_key, k.serialize_pem().as_bytes())?;
            write_atomic(
                &srv_cert,
                format!("{}{}", c.pem(), telemetry_ca.cert_pem).as_bytes(),
            )?;
        }
        Ok(Pki {
            telemetry_ca,
            device_chain,
            device_key_der: key.serialize_der(),
        })
    }

    /// The device's certificate chain (leaf, then the manufacturer CA).
    pub fn device_chain(&self) -> &[CertificateDer<'static>] {
        &self.device_chain
    }

    /// TLS server configuration for the device's API (TLS 1.2 and 1.3).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, NetError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.device_key_der.clone()));
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| {
                b.with_no_client_auth()
                    .with_single_cert(self.device_chain.clone(), key)
            });
        cfg.map(Arc::new)
            .map_err(|e| NetError::Pki(format!("device TLS configuration: {e}")))
    }

    /// Trust anchors of the telemetry client: the telemetry CA only.
    pub fn telemetry_roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        // The CA certificate is built above; adding it cannot fail unless it
        // is malformed, which the unit tests rule out.
        let _ = roots.add(self.telemetry_ca.cert_der.clone());
        roots
    }
}
