//! What the simulated device's core offers to its network side.
//!
//! The device core (accounts, configuration, event log, update slots, the
//! running firmware's personality) implements [`DeviceApi`]; the network
//! services in `net/` (HTTPS API, plaintext API, telnet-like login, TLS
//! telemetry client, syslog sender) call it. Security policy lives in the
//! core: the network side reports whether a request authenticated and where
//! it came from, and the core decides (taking the firmware's flaws into
//! account) and records security events. So a flaw such as
//! `config-write-unauthenticated` needs no code in `net/`: the core simply
//! accepts `config_set(.., authenticated = false, ..)`.
//!
//! Lifetime: the board process calls [`crate::net::start`] after every boot
//! of the firmware and drops the returned handle when the device powers off,
//! reboots or is mass-erased. Dropping the handle must stop every listener
//! and outgoing connection promptly (within about a second) and free the
//! ports, because the next boot binds them again.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;

use serde::{Deserialize, Serialize};

/// Who the device says it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The logical device identifier the firmware reports (normally the
    /// unique id from OTP; flawed firmware may report something else).
    pub device_id: String,
    /// Model designation, as printed on the label.
    pub model: String,
    /// Manufacturer name.
    pub manufacturer: String,
    /// Version of the running firmware image (from its MCUboot header), `X.Y.Z`
    /// or `X.Y.Z+B` when the build number is not zero. Not shown to
    /// unauthenticated callers (only the `banner-leak` flaw does).
    pub firmware_version: String,
}

/// Health of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Normal,
    /// A boot-time verification failure (or another integrity problem) was
    /// detected since power-on.
    Degraded,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Normal => "normal",
            Health::Degraded => "degraded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub health: Health,
    /// Why the device is degraded (empty when normal).
    pub reasons: Vec<String>,
    pub firmware_version: String,
    /// SHA-256 of the running image (the image hash MCUboot computes:
    /// header + payload + protected TLVs), lowercase hex.
    pub image_sha256: String,
    /// Seconds since the current boot.
    pub uptime_s: u64,
}

/// Outcome of an authentication attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthResult {
    Ok,
    /// Wrong user or password (the two are not told apart).
    Denied,
    /// Too many failures: attempts are refused until the delay has passed,
    /// even with the right password. Callers should answer like `Denied`
    /// (same message) so an attacker learns nothing.
    LockedOut,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigError {
    /// Authentication required and the caller was not authenticated.
    Unauthorized,
    UnknownKey(String),
    InvalidValue {
        key: String,
        reason: String,
    },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Unauthorized => f.write_str("authentication required"),
            ConfigError::UnknownKey(k) => write!(f, "unknown key {k}"),
            ConfigError::InvalidValue { key, reason } => {
                write!(f, "invalid value for {key}: {reason}")
            }
        }
    }
}

/// Errors for operations that only need an authorization decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessError {
    Unauthorized,
}

impl std::fmt::Display for AccessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("authentication required")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateError {
    Unauthorized,
    /// Not an MCUboot image, or its sizes are inconsistent.
    Malformed(String),
    /// Larger than the update slot.
    TooLarge {
        size: usize,
        slot_size: usize,
    },
    /// The user turned updates off (`updates_enabled` = `false`).
    Disabled,
}

impl std::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpdateError::Unauthorized => f.write_str("authentication required"),
            UpdateError::Malformed(why) => write!(f, "malformed image: {why}"),
            UpdateError::TooLarge { size, slot_size } => {
                write!(f, "image of {size} bytes exceeds slot of {slot_size} bytes")
            }
            UpdateError::Disabled => f.write_str("updates are disabled"),
        }
    }
}

/// What happens to an uploaded image at the next boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallMode {
    /// Stored in slot 1 only; nothing happens at reboot until marked pending.
    StoreOnly,
    /// Pending in test mode: swapped in at the next boot and reverted at the
    /// boot after unless the running firmware is confirmed.
    Test,
    /// Pending and permanent.
    Permanent,
}

/// Result of an accepted upload. The firmware only checks the image's
/// structure here; signature and security counter are the bootloader's job
/// at the next boot (as on a Zephyr/MCUboot device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadOutcome {
    /// Version from the uploaded image's header.
    pub version: String,
    /// SHA-256 image hash (header + payload + protected TLVs), lowercase hex.
    pub image_sha256: String,
    pub mode: InstallMode,
}

/// A security event, as kept in the event log and forwarded to syslog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Monotonic sequence number (survives power cycles).
    pub seq: u64,
    /// Wall-clock time, seconds since the Unix epoch.
    pub time: u64,
    /// RFC 5424 severity (0 emergency .. 7 debug): 4 warning for failures
    /// and denials, 5 notice for security-relevant successes, 6 info.
    pub severity: u8,
    /// Event kind, one of the `event_kind` constants.
    pub kind: String,
    /// Where it came from: `console`, `smp`, `debug`, `boot`, or the network
    /// side's own label such as `https:198.18.0.1:40312`.
    pub source: String,
    /// Free text (never contains a password).
    pub detail: String,
}

/// Event kinds the core records.
pub mod event_kind {
    pub const LOGIN_FAILED: &str = "login_failed";
    pub const LOGIN_SUCCEEDED: &str = "login_succeeded";
    pub const LOGIN_LOCKED_OUT: &str = "login_locked_out";
    pub const ACCOUNT_LOCKED: &str = "account_locked";
    pub const PASSWORD_CHANGED: &str = "password_changed";
    pub const CONFIG_CHANGED: &str = "config_changed";
    pub const CONFIG_WRITE_DENIED: &str = "config_write_denied";
    pub const UPDATE_ACCEPTED: &str = "update_accepted";
    pub const UPDATE_REJECTED: &str = "update_rejected";
    pub const BOOT_VERIFICATION_FAILED: &str = "boot_verification_failed";
    pub const IMAGE_SWAPPED: &str = "image_swapped";
    pub const IMAGE_REVERTED: &str = "image_reverted";
    pub const IMAGE_CONFIRMED: &str = "image_confirmed";
    pub const LOG_CLEARED: &str = "log_cleared";
    pub const LOG_ACCESS_DENIED: &str = "log_access_denied";
    pub const FACTORY_RESET: &str = "factory_reset";
    pub const FACTORY_RESET_DENIED: &str = "factory_reset_denied";
    pub const REBOOT: &str = "reboot";
    pub const ACCESS_DENIED: &str = "access_denied";
}

/// What the running firmware enables, read from the manifest inside its
/// signed image. Each switch is `false`/secure in the reference firmware.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Personality {
    /// Names of the flaws this build carries (see `hilt-sim firmware --list-flaws`).
    pub flaws: Vec<String>,
    /// Device shapes of this build (see `hilt_sim::shapes`).
    #[serde(default)]
    pub shapes: Vec<String>,
    /// HTTPS API on tcp/443 (loopback: 10443). On in the reference firmware.
    pub https_api: bool,
    /// `plaintext-api`: the same API over plain HTTP on tcp/80 (loopback: 10080).
    pub plaintext_api: bool,
    /// `telnet-open`: telnet-like plaintext login shell on tcp/23 (loopback: 10023).
    pub telnet: bool,
    /// TLS telemetry client on. On in the reference firmware.
    pub telemetry: bool,
    /// `tls-accepts-untrusted`: the telemetry client accepts any server
    /// certificate (no chain or host name validation).
    pub tls_accepts_untrusted: bool,
    /// `tls-skips-hostname-check`: the telemetry client validates the chain
    /// and the validity dates but accepts a certificate for another name.
    #[serde(default)]
    pub tls_skips_hostname_check: bool,
    /// `tls-ignores-expiry`: the telemetry client validates chain and name
    /// but accepts an expired or not yet valid certificate.
    #[serde(default)]
    pub tls_ignores_expiry: bool,
    /// `tls-version-fallback`: after a handshake that failed over the
    /// protocol version, the telemetry client retries at once with a TLS 1.0
    /// ClientHello.
    #[serde(default)]
    pub tls_version_fallback: bool,
    /// `ota-accepts-untrusted` (`second-tls-client` shape): the
    /// update-check client accepts any server certificate.
    #[serde(default)]
    pub ota_accepts_untrusted: bool,
    /// `ota-skips-hostname-check`: the update-check client accepts a
    /// trusted certificate for another name.
    #[serde(default)]
    pub ota_skips_hostname_check: bool,
    /// `ota-version-fallback`: the update-check client retries with a
    /// TLS 1.0 ClientHello after a version failure.
    #[serde(default)]
    pub ota_version_fallback: bool,
    /// Syslog forwarding of security events on. On in the reference firmware
    /// (sends only once `syslog_collector` is configured).
    pub syslog: bool,
    /// `config-write-unauthenticated` (enforced by the core; informational).
    pub config_write_unauthenticated: bool,
    /// `event-log-unauthenticated` (enforced by the core; informational).
    pub event_log_unauthenticated: bool,
    /// `update-unauthenticated` (enforced by the core; informational).
    pub update_unauthenticated: bool,
    /// `tls-legacy-versions`: the HTTPS server answers a TLS 1.0 ClientHello
    /// with a TLS 1.0 ServerHello instead of a protocol_version alert.
    #[serde(default)]
    pub tls_legacy_versions: bool,
    /// `banner-leak`: HTTP responses name the firmware version (`Server`,
    /// `X-Firmware-Version`) and the public identity includes it.
    #[serde(default)]
    pub banner_leak: bool,
    /// `plaintext-beacon`: a cleartext CoAP broadcast every 2 s with the
    /// device id and a pairing token derived from the device secret.
    #[serde(default)]
    pub plaintext_beacon: bool,
    /// `identifier-writable`: `PUT /api/v1/identity` is routed to
    /// [`DeviceApi::set_device_id`] (which the flawed core accepts without
    /// authentication).
    #[serde(default)]
    pub identifier_writable: bool,
    /// `http-api` shape: the API is served camera-style (`/cgi-bin/*.cgi`,
    /// HTTP Digest as `operator`) over plain HTTP only.
    #[serde(default)]
    pub camera_api: bool,
    /// `digest-accepts-any-password`: the camera API's Digest check takes
    /// any answer from a known user.
    #[serde(default)]
    pub digest_accepts_any_password: bool,
    /// `form-login-api` shape: the HTTPS API authenticates with a login
    /// form (`POST /login`) and a session cookie instead of HTTP Basic.
    #[serde(default)]
    pub form_login_api: bool,
    /// `form-login-accepts-any-password`: the login form lets `admin` in
    /// with any password.
    #[serde(default)]
    pub form_login_accepts_any_password: bool,
}

/// The device's interface to its network side.
pub trait DeviceApi: Send + Sync + 'static {
    fn identity(&self) -> Identity;
    fn status(&self) -> Status;
    /// Checks a password for `user`; applies lockout and records events.
    /// `source` labels the channel and peer for the event log.
    fn authenticate(&self, user: &str, password: &str, source: &str) -> AuthResult;
    /// Like [`DeviceApi::authenticate`] for a proof made with the password
    /// rather than the password itself (HTTP Digest): `made_with` is asked
    /// whether the proof was made with the stored password of `user`. Only
    /// accounts whose password the device keeps in a usable form (the
    /// `http-api` shape's `operator`) can pass.
    fn authenticate_digest(
        &self,
        user: &str,
        made_with: &dyn Fn(&str) -> bool,
        source: &str,
    ) -> AuthResult {
        let _ = (user, made_with, source);
        AuthResult::Denied
    }
    /// One configuration value; `None` for an unknown key.
    fn config_get(&self, key: &str) -> Option<String>;
    /// The whole configuration (reading it needs authentication; the caller
    /// enforces that for reads, as reads carry no security event).
    fn config_all(&self) -> BTreeMap<String, String>;
    /// Writes one value. Denied (and logged) unless `authenticated` or the
    /// firmware has `config-write-unauthenticated`.
    fn config_set(
        &self,
        key: &str,
        value: &str,
        authenticated: bool,
        source: &str,
    ) -> Result<(), ConfigError>;
    /// The security event log, oldest first. Denied unless `authenticated`
    /// or the firmware has `event-log-unauthenticated`.
    fn events(&self, authenticated: bool, source: &str) -> Result<Vec<Event>, AccessError>;
    fn clear_events(&self, authenticated: bool, source: &str) -> Result<(), AccessError>;
    /// Stores an image in slot 1 with the given install mode. Takes effect
    /// at the next boot (see [`DeviceApi::reboot`]).
    fn upload_image(
        &self,
        image: &[u8],
        mode: InstallMode,
        authenticated: bool,
        source: &str,
    ) -> Result<UploadOutcome, UpdateError>;
    /// Confirms the running image (after a test swap).
    fn confirm_running(&self, authenticated: bool, source: &str) -> Result<(), AccessError>;
    /// One MCUmgr SMP message received over UDP (shape `smp-udp-update`):
    /// the raw answer, or None for a message that gets none. MCUmgr's UDP
    /// transport has no authentication, and neither does this one: every
    /// datagram is served as if from a session. A reset request reboots the
    /// device shortly after the answer.
    fn smp_datagram(&self, message: &[u8]) -> Option<Vec<u8>>;
    /// Requests a reboot shortly after the call returns (so a response can
    /// still be sent). The network handle is dropped during the reboot.
    fn reboot(&self, authenticated: bool, source: &str) -> Result<(), AccessError>;
    /// Restores secure defaults, erases configuration, accounts and the event
    /// log, then reboots shortly after the call returns.
    fn factory_reset(&self, authenticated: bool, source: &str) -> Result<(), AccessError>;
    fn personality(&self) -> Personality;
    /// New events as they are recorded (for syslog forwarding). Each call
    /// returns a new receiver; a dropped receiver is forgotten.
    fn subscribe_events(&self) -> Receiver<Event>;
    /// 32 bytes derived from the device secret in OTP for `purpose` (e.g.
    /// `"tls-device-key"`); stable across boots, changes after a mass erase.
    fn device_secret_material(&self, purpose: &str) -> [u8; 32];
    /// The board's runtime folder (`DIR/sim-<i>`), where the network side may
    /// publish files a lab would get from the manufacturer (e.g. the
    /// manufacturer CA certificate).
    fn runtime_dir(&self) -> PathBuf;
    /// The board index `i`.
    fn index(&self) -> u32;
    /// Records an event the network side observed itself (added by the
    /// network side): the TLS telemetry client's outcomes, e.g.
    /// `tls_verification_failed` (severity 4) when the telemetry server's
    /// certificate is rejected; see `crate::net::event_kind`. The core should
    /// store it in the event log (with `seq` and `time`) and publish it to
    /// subscribers like its own events. The default drops it.
    fn record_event(&self, severity: u8, kind: &str, source: &str, detail: &str) {
        let _ = (severity, kind, source, detail);
    }
    /// Whether the telnet-like login service should listen now: configuration
    /// `telnet_enabled` is `true`, or the firmware has `telnet-open`. The
    /// network side polls this and opens or closes tcp/23 to match.
    fn telnet_wanted(&self) -> bool {
        self.personality().telnet
    }
    /// The network side reports whether tcp/23 listens now (after it opened
    /// or closed it), so a configuration change can wait until it took effect.
    fn telnet_listening(&self, listening: bool) {
        let _ = listening;
    }
    /// Changes the logical identifier (only firmware with
    /// `identifier-writable` offers this, and accepts it without
    /// authentication). `Err` carries a reason for a 400 answer.
    fn set_device_id(
        &self,
        new_id: &str,
        authenticated: bool,
        source: &str,
    ) -> Result<(), IdentityWriteError> {
        let _ = (new_id, authenticated, source);
        Err(IdentityWriteError::NotSupported)
    }
}

/// Why an identifier write failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityWriteError {
    /// The identifier cannot be written (the reference firmware).
    NotSupported,
    Invalid(String),
}

impl std::fmt::Display for IdentityWriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityWriteError::NotSupported => f.write_str("the identifier cannot be changed"),
            IdentityWriteError::Invalid(why) => write!(f, "invalid identifier: {why}"),
        }
    }
}

/// Configuration keys the core knows, with their secure defaults. Values are
/// at most 128 printable ASCII characters.
pub mod config_key {
    /// `host:port` of the telemetry (TLS) server; empty = not configured.
    pub const TELEMETRY_SERVER: &str = "telemetry_server";
    /// Host name expected in the telemetry server's certificate.
    pub const TELEMETRY_SERVER_NAME: &str = "telemetry_server_name";
    /// Seconds between telemetry reports.
    pub const TELEMETRY_INTERVAL_S: &str = "telemetry_interval_s";
    /// `host:port` of the syslog collector (UDP); empty = not configured.
    pub const SYSLOG_COLLECTOR: &str = "syslog_collector";
    pub const LOCKOUT_THRESHOLD: &str = "lockout_threshold";
    pub const LOCKOUT_DELAY_S: &str = "lockout_delay_s";
    /// A harmless parameter (the thermostat's set point, in 0.1 degC).
    pub const SETPOINT: &str = "setpoint";
    pub const DISPLAY_NAME: &str = "display_name";
    /// `true` or `false` (default): the telnet-like login service on tcp/23.
    pub const TELNET_ENABLED: &str = "telnet_enabled";
    /// `true` (default) or `false`: whether firmware updates are accepted.
    pub const UPDATES_ENABLED: &str = "updates_enabled";
}
