//! Firmware builds: the manifest inside a signed image's payload says what
//! the firmware runs, and the flaw catalogue maps each flaw name to the
//! switch it turns on (in the firmware manifest or in the bootloader config).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::device_api::Personality;
use crate::mcuboot::{self, Version};

pub const MANIFEST_FORMAT: &str = "hilt-sim-firmware/1";
pub const MODEL: &str = "hilt reference thermostat (simulated)";
pub const MANUFACTURER: &str = "hilt project (test devices)";
pub const REFERENCE_VERSION: &str = "1.0.0";
pub const REFERENCE_SECURITY_COUNTER: u32 = 1;
/// A genuine newer release handed to labs (the positive update control).
pub const CANDIDATE_VERSION: &str = "1.1.0";
/// An archived older release with a lower security counter (rollback test).
pub const OLDER_VERSION: &str = "0.9.0";

/// TEST ONLY signing keys, committed so anyone can build and sign images
/// for the simulated board. Never use them for anything real.
pub const TEST_KEY_ED25519_PEM: &str = include_str!("../keys/sim-root-ed25519.pem");
pub const TEST_PUB_ED25519_PEM: &str = include_str!("../keys/sim-root-ed25519.pub.pem");
pub const TEST_PUB_P256_PEM: &str = include_str!("../keys/sim-root-p256.pub.pem");

/// Where a flaw lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home {
    Firmware,
    Bootloader,
}

pub struct Flaw {
    pub name: &'static str,
    pub home: Home,
    /// NIST IR 8259A capability it violates.
    pub capability: &'static str,
    pub summary: &'static str,
}

pub const FLAWS: &[Flaw] = &[
    Flaw {
        name: "default-password",
        home: Home::Firmware,
        capability: "logical access to interfaces",
        summary: "universal password \"admin\" accepted for the admin account",
    },
    Flaw {
        name: "telnet-open",
        home: Home::Firmware,
        capability: "logical access to interfaces",
        summary: "telnet-like plaintext login on tcp/23",
    },
    Flaw {
        name: "config-write-unauthenticated",
        home: Home::Firmware,
        capability: "device configuration",
        summary: "HTTP configuration write accepted without authentication",
    },
    Flaw {
        name: "serial-no-login",
        home: Home::Firmware,
        capability: "logical access to interfaces",
        summary: "console shell without login",
    },
    Flaw {
        name: "bootloader-accepts-unsigned",
        home: Home::Bootloader,
        capability: "software update",
        summary: "bootloader boots images without a signature",
    },
    Flaw {
        name: "bootloader-accepts-any-key",
        home: Home::Bootloader,
        capability: "software update",
        summary: "bootloader accepts a signature by any key",
    },
    Flaw {
        name: "rollback-allowed",
        home: Home::Bootloader,
        capability: "software update",
        summary: "bootloader ignores the security counter (downgrade allowed)",
    },
    Flaw {
        name: "debug-unlocked",
        home: Home::Firmware,
        capability: "data protection",
        summary: "firmware never sets the readout-protection fuse",
    },
    Flaw {
        name: "plaintext-api",
        home: Home::Firmware,
        capability: "data protection",
        summary: "API also served over plain HTTP on tcp/80",
    },
    Flaw {
        name: "digest-accepts-any-password",
        home: Home::Firmware,
        capability: "logical access",
        summary: "http-api shape: the camera API's Digest check takes any answer from a known user",
    },
    Flaw {
        name: "form-login-accepts-any-password",
        home: Home::Firmware,
        capability: "logical access",
        summary: "form-login-api shape: the login form lets admin in with any password",
    },
    Flaw {
        name: "tls-accepts-untrusted",
        home: Home::Firmware,
        capability: "data protection",
        summary: "telemetry client accepts any server certificate",
    },
    Flaw {
        name: "no-lockout",
        home: Home::Firmware,
        capability: "logical access to interfaces",
        summary: "no lockout or delay after failed logins",
    },
    Flaw {
        name: "no-security-logging",
        home: Home::Firmware,
        capability: "cybersecurity state awareness",
        summary: "security events are not recorded or forwarded",
    },
    Flaw {
        name: "identifier-changes-on-reboot",
        home: Home::Firmware,
        capability: "device identification",
        summary: "logical identifier is random per boot",
    },
    Flaw {
        name: "shared-identifier",
        home: Home::Firmware,
        capability: "device identification",
        summary: "the same identifier on every board",
    },
    Flaw {
        name: "factory-reset-keeps-credentials",
        home: Home::Firmware,
        capability: "data protection",
        summary: "factory reset keeps changed passwords",
    },
    Flaw {
        name: "event-log-unauthenticated",
        home: Home::Firmware,
        capability: "cybersecurity state awareness",
        summary: "event log readable and clearable without authentication",
    },
    Flaw {
        name: "update-unauthenticated",
        home: Home::Firmware,
        capability: "software update",
        summary: "updates accepted without authentication",
    },
    Flaw {
        name: "reset-unauthenticated",
        home: Home::Firmware,
        capability: "data protection",
        summary: "factory reset (erase) accepted without authentication",
    },
    Flaw {
        name: "identifier-inconsistent",
        home: Home::Firmware,
        capability: "device identification",
        summary: "network side reports the identifier in another format than the console",
    },
    Flaw {
        name: "identifier-writable",
        home: Home::Firmware,
        capability: "device identification",
        summary: "PUT /api/v1/identity changes the identifier without authentication",
    },
    Flaw {
        name: "config-not-persisted",
        home: Home::Firmware,
        capability: "device configuration",
        summary: "configuration changes apply but are lost at the next boot",
    },
    Flaw {
        name: "password-change-keeps-old",
        home: Home::Firmware,
        capability: "logical access to interfaces",
        summary: "after a password change the old password still works",
    },
    Flaw {
        name: "tls-legacy-versions",
        home: Home::Firmware,
        capability: "data protection",
        summary: "HTTPS server answers a TLS 1.0 ClientHello with a TLS 1.0 ServerHello",
    },
    Flaw {
        name: "https-update-ignored",
        home: Home::Firmware,
        capability: "software update",
        summary: "HTTPS firmware upload answers 202 but drops the image",
    },
    Flaw {
        name: "no-degraded-state",
        home: Home::Firmware,
        capability: "cybersecurity state awareness",
        summary: "status always says normal, even after a rejected image",
    },
    Flaw {
        name: "version-report-stale",
        home: Home::Firmware,
        capability: "cybersecurity state awareness",
        summary: "reported image hash is not the MCUboot hash of the running image",
    },
    Flaw {
        name: "banner-leak",
        home: Home::Firmware,
        capability: "logical access to interfaces",
        summary: "HTTP headers and the public identity disclose the firmware version",
    },
    Flaw {
        name: "plaintext-beacon",
        home: Home::Firmware,
        capability: "data protection",
        summary: "cleartext CoAP broadcast with the device id and a pairing token every 2 s",
    },
    Flaw {
        name: "disable-not-persisted",
        home: Home::Firmware,
        capability: "logical access to interfaces",
        summary: "telnet_enabled=false applies at runtime but is not stored",
    },
    Flaw {
        name: "update-setting-ignored",
        home: Home::Firmware,
        capability: "software update",
        summary: "updates_enabled=false is stored but uploads and installs proceed",
    },
    Flaw {
        name: "tls-skips-hostname-check",
        home: Home::Firmware,
        capability: "data protection",
        summary: "telemetry client accepts a trusted certificate issued for another host name",
    },
    Flaw {
        name: "tls-ignores-expiry",
        home: Home::Firmware,
        capability: "data protection",
        summary: "telemetry client accepts an expired or not yet valid certificate",
    },
    Flaw {
        name: "tls-version-fallback",
        home: Home::Firmware,
        capability: "data protection",
        summary: "telemetry client retries with a TLS 1.0 ClientHello after a version failure",
    },
    Flaw {
        name: "ota-accepts-untrusted",
        home: Home::Firmware,
        capability: "data protection",
        summary: "second-tls-client shape: the update-check client accepts any server certificate",
    },
    Flaw {
        name: "ota-skips-hostname-check",
        home: Home::Firmware,
        capability: "data protection",
        summary: "second-tls-client shape: the update-check client accepts a trusted certificate for another name",
    },
    Flaw {
        name: "ota-version-fallback",
        home: Home::Firmware,
        capability: "data protection",
        summary: "second-tls-client shape: the update-check client retries with a TLS 1.0 ClientHello after a version failure",
    },
    Flaw {
        name: "bootloader-skips-hash",
        home: Home::Bootloader,
        capability: "software update",
        summary: "bootloader checks the signature over the stored hash without recomputing it",
    },
    Flaw {
        name: "bootloader-hangs-on-truncated",
        home: Home::Bootloader,
        capability: "software update",
        summary: "bootloader faults and hangs on a pending image whose header overstates its size",
    },
    Flaw {
        name: "console-upload-unauthenticated",
        home: Home::Firmware,
        capability: "software update",
        summary: "shape console-upload: fw-upload and fw-install are taken at the login prompt, before any login",
    },
    Flaw {
        name: "http-upload-unauthenticated",
        home: Home::Firmware,
        capability: "software update",
        summary: "shape http-upload-only: the multipart upload handler installs without checking credentials",
    },
    Flaw {
        name: "bootloader-no-boot-validation",
        home: Home::Bootloader,
        capability: "software update",
        summary: "bootloader does not validate slot 0 at boot",
    },
];

pub fn flaw(name: &str) -> Option<&'static Flaw> {
    FLAWS.iter().find(|f| f.name == name)
}

/// Behaviour switches carried in the manifest. All false = reference firmware.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Behaviour {
    pub default_password: bool,
    pub telnet_open: bool,
    pub config_write_unauthenticated: bool,
    pub serial_no_login: bool,
    pub debug_unlocked: bool,
    pub plaintext_api: bool,
    pub tls_accepts_untrusted: bool,
    pub no_lockout: bool,
    pub no_security_logging: bool,
    pub identifier_changes_on_reboot: bool,
    pub shared_identifier: bool,
    pub factory_reset_keeps_credentials: bool,
    pub event_log_unauthenticated: bool,
    pub update_unauthenticated: bool,
    pub reset_unauthenticated: bool,
    pub identifier_inconsistent: bool,
    pub identifier_writable: bool,
    pub config_not_persisted: bool,
    pub password_change_keeps_old: bool,
    pub tls_legacy_versions: bool,
    pub https_update_ignored: bool,
    pub no_degraded_state: bool,
    pub version_report_stale: bool,
    pub banner_leak: bool,
    pub plaintext_beacon: bool,
    pub disable_not_persisted: bool,
    pub update_setting_ignored: bool,
    pub tls_skips_hostname_check: bool,
    pub tls_ignores_expiry: bool,
    pub tls_version_fallback: bool,
    pub ota_accepts_untrusted: bool,
    pub ota_skips_hostname_check: bool,
    pub ota_version_fallback: bool,
    pub digest_accepts_any_password: bool,
    pub form_login_accepts_any_password: bool,
    pub console_upload_unauthenticated: bool,
    pub http_upload_unauthenticated: bool,
}

impl Behaviour {
    fn set(&mut self, flaw: &str) -> bool {
        let slot = match flaw {
            "default-password" => &mut self.default_password,
            "telnet-open" => &mut self.telnet_open,
            "config-write-unauthenticated" => &mut self.config_write_unauthenticated,
            "serial-no-login" => &mut self.serial_no_login,
            "debug-unlocked" => &mut self.debug_unlocked,
            "plaintext-api" => &mut self.plaintext_api,
            "tls-accepts-untrusted" => &mut self.tls_accepts_untrusted,
            "no-lockout" => &mut self.no_lockout,
            "no-security-logging" => &mut self.no_security_logging,
            "identifier-changes-on-reboot" => &mut self.identifier_changes_on_reboot,
            "shared-identifier" => &mut self.shared_identifier,
            "factory-reset-keeps-credentials" => &mut self.factory_reset_keeps_credentials,
            "event-log-unauthenticated" => &mut self.event_log_unauthenticated,
            "update-unauthenticated" => &mut self.update_unauthenticated,
            "reset-unauthenticated" => &mut self.reset_unauthenticated,
            "identifier-inconsistent" => &mut self.identifier_inconsistent,
            "identifier-writable" => &mut self.identifier_writable,
            "config-not-persisted" => &mut self.config_not_persisted,
            "password-change-keeps-old" => &mut self.password_change_keeps_old,
            "tls-legacy-versions" => &mut self.tls_legacy_versions,
            "https-update-ignored" => &mut self.https_update_ignored,
            "no-degraded-state" => &mut self.no_degraded_state,
            "version-report-stale" => &mut self.version_report_stale,
            "banner-leak" => &mut self.banner_leak,
            "plaintext-beacon" => &mut self.plaintext_beacon,
            "disable-not-persisted" => &mut self.disable_not_persisted,
            "update-setting-ignored" => &mut self.update_setting_ignored,
            "tls-skips-hostname-check" => &mut self.tls_skips_hostname_check,
            "tls-ignores-expiry" => &mut self.tls_ignores_expiry,
            "tls-version-fallback" => &mut self.tls_version_fallback,
            "ota-accepts-untrusted" => &mut self.ota_accepts_untrusted,
            "ota-skips-hostname-check" => &mut self.ota_skips_hostname_check,
            "ota-version-fallback" => &mut self.ota_version_fallback,
            "digest-accepts-any-password" => &mut self.digest_accepts_any_password,
            "form-login-accepts-any-password" => &mut self.form_login_accepts_any_password,
            "console-upload-unauthenticated" => &mut self.console_upload_unauthenticated,
            "http-upload-unauthenticated" => &mut self.http_upload_unauthenticated,
            _ => return false,
        };
        *slot = true;
        true
    }
}

/// Services the firmware runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Services {
    pub console_shell: bool,
    pub smp_serial: bool,
    pub https_api: bool,
    pub telemetry: bool,
    pub syslog: bool,
}

impl Default for Services {
    fn default() -> Self {
        Services {
            console_shell: true,
            smp_serial: true,
            https_api: true,
            telemetry: true,
            syslog: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub model: String,
    pub version: String,
    #[serde(default)]
    pub flaws: Vec<String>,
    /// Device shapes this firmware is built for (see `shapes`); absent in
    /// the reference firmware, so its image is unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shapes: Vec<String>,
    #[serde(default)]
    pub services: Services,
    #[serde(default)]
    pub behaviour: Behaviour,
}

impl Manifest {
    pub fn new(flaws: &[String], version: &str) -> Result<Manifest, String> {
        let mut behaviour = Behaviour::default();
        for f in flaws {
            match flaw(f) {
                None => return Err(format!("unknown flaw {f:?} (see --list-flaws)")),
                Some(fl) if fl.home == Home::Bootloader => {
                    return Err(format!(
                        "flaw {f:?} lives in the bootloader, not in a firmware image: use `hilt-sim up --flaw {f}`"
                    ))
                }
                Some(_) => {
                    behaviour.set(f);
                }
            }
        }
        Ok(Manifest {
            format: MANIFEST_FORMAT.into(),
            model: MODEL.into(),
            version: version.into(),
            flaws: flaws.to_vec(),
            shapes: Vec::new(),
            services: Services::default(),
            behaviour,
        })
    }

    /// The same firmware built for device `shapes` (checked names).
    pub fn with_shapes(mut self, shapes: &[String]) -> Result<Manifest, String> {
        self.shapes = crate::shapes::validate(shapes)?;
        Ok(self)
    }

    /// Whether this firmware is built for the device shape `name`.
    pub fn has_shape(&self, name: &str) -> bool {
        self.shapes.iter().any(|s| s == name)
    }

    /// The manifest at the start of a payload (JSON, ended by a NUL byte).
    /// A payload without one runs as the reference firmware.
    pub fn from_payload(payload: &[u8]) -> Option<Manifest> {
        let end = payload.iter().take(8192).position(|&b| b == 0)?;
        let m: Manifest = serde_json::from_slice(&payload[..end]).ok()?;
        (m.format == MANIFEST_FORMAT).then_some(m)
    }

    pub fn personality(&self) -> Personality {
        let b = &self.behaviour;
        Personality {
            flaws: self.flaws.clone(),
            shapes: self.shapes.clone(),
            // The http-api shape serves its API over plain HTTP only.
            https_api: self.services.https_api && !self.has_shape(crate::shapes::HTTP_API),
            plaintext_api: b.plaintext_api || self.has_shape(crate::shapes::HTTP_API),
            telnet: b.telnet_open,
            telemetry: self.services.telemetry,
            tls_accepts_untrusted: b.tls_accepts_untrusted,
            tls_skips_hostname_check: b.tls_skips_hostname_check,
            tls_ignores_expiry: b.tls_ignores_expiry,
            tls_version_fallback: b.tls_version_fallback,
            ota_accepts_untrusted: b.ota_accepts_untrusted,
            ota_skips_hostname_check: b.ota_skips_hostname_check,
            ota_version_fallback: b.ota_version_fallback,
            syslog: self.services.syslog && !b.no_security_logging,
            config_write_unauthenticated: b.config_write_unauthenticated,
            event_log_unauthenticated: b.event_log_unauthenticated,
            update_unauthenticated: b.update_unauthenticated,
            tls_legacy_versions: b.tls_legacy_versions,
            banner_leak: b.banner_leak,
            plaintext_beacon: b.plaintext_beacon,
            identifier_writable: b.identifier_writable,
            camera_api: self.has_shape(crate::shapes::HTTP_API),
            digest_accepts_any_password: b.digest_accepts_any_password,
            form_login_api: self.has_shape(crate::shapes::FORM_LOGIN_API),
            form_login_accepts_any_password: b.form_login_accepts_any_password,
        }
    }

    /// Payload bytes: manifest, NUL, then deterministic filler standing in
    /// for code (so images of different builds differ in size and hash).
    pub fn payload(&self) -> Vec<u8> {
        let mut p = serde_json::to_vec_pretty(self).unwrap_or_default();
        p.push(0);
        let mut seed: [u8; 32] = Sha256::digest(&p).into();
        while p.len() < 8192 {
            seed = Sha256::digest(seed).into();
            p.extend_from_slice(&seed);
        }
        p
    }
}

/// Splits flaw names into (firmware, bootloader) after checking them.
pub fn split_flaws(flaws: &[String]) -> Result<(Vec<String>, Vec<String>), String> {
    let mut fw = Vec::new();
    let mut bl = Vec::new();
    for f in flaws {
        match flaw(f) {
            None => {
                return Err(format!(
                    "unknown flaw {f:?} (see `hilt-sim firmware --list-flaws`)"
                ))
            }
            Some(fl) if fl.home == Home::Bootloader => bl.push(f.clone()),
            Some(_) => fw.push(f.clone()),
        }
    }
    Ok((fw, bl))
}

pub fn test_signing_key() -> Result<ed25519_dalek::SigningKey, String> {
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    ed25519_dalek::SigningKey::from_pkcs8_pem(TEST_KEY_ED25519_PEM)
        .map_err(|e| format!("test key: {e}"))
}

/// Builds a signed firmware image with the given firmware flaws.
pub fn build(flaws: &[String], version: &str, security_counter: u32) -> Result<Vec<u8>, String> {
    build_shaped(flaws, &[], version, security_counter)
}

/// Builds a signed firmware image with the given firmware flaws, for the
/// device `shapes`.
pub fn build_shaped(
    flaws: &[String],
    shapes: &[String],
    version: &str,
    security_counter: u32,
) -> Result<Vec<u8>, String> {
    let v = Version::parse(version).ok_or_else(|| format!("bad version {version:?}"))?;
    let m = Manifest::new(flaws, &v.to_string())?.with_shapes(shapes)?;
    Ok(mcuboot::build_signed(
        &m.payload(),
        v,
        security_counter,
        &test_signing_key()?,
    ))
}

/// The image a board with `flaws` (firmware and bootloader) is shipped
/// with: the firmware flaws in the manifest (the bootloader flaws live in
/// the bootloader), signed as every image is (MCUboot's hash).
pub fn build_for_board(
    flaws: &[String],
    shapes: &[String],
    version: &str,
    security_counter: u32,
) -> Result<Vec<u8>, String> {
    let (fw, _) = split_flaws(flaws)?;
    build_shaped(&fw, shapes, version, security_counter)
}

/// The bootloader's trusted keys (SPKI DER): both test manufacturer keys.
pub fn trusted_keys_der() -> Vec<Vec<u8>> {
    [TEST_PUB_ED25519_PEM, TEST_PUB_P256_PEM]
        .iter()
        .filter_map(|p| mcuboot::pem_to_der(p).ok())
        .collect()
}
