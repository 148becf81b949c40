//! The running firmware's core: identity, accounts and lockout,
//! configuration, the security event log, update slots. One `Device` per
//! boot; the board drops it at power-off, reboot or mass erase.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::board::{Board, Control};
use crate::bootloader::Running;
use crate::device_api::*;
use crate::firmware::{Behaviour, Manifest, MANUFACTURER, MODEL};
use crate::flash::{self, Flash, Trailer};
use crate::mcuboot;

pub const ADMIN: &str = "admin";
/// The `http-api` shape's API account.
pub const OPERATOR: &str = "operator";
const MAX_VALUE_LEN: usize = 128;

/// Secure defaults of the configuration.
pub fn default_config() -> BTreeMap<String, String> {
    [
        (config_key::TELEMETRY_SERVER, ""),
        (config_key::TELEMETRY_SERVER_NAME, "telemetry.hilt.test"),
        (config_key::TELEMETRY_INTERVAL_S, "10"),
        (config_key::SYSLOG_COLLECTOR, ""),
        (config_key::LOCKOUT_THRESHOLD, "5"),
        (config_key::LOCKOUT_DELAY_S, "30"),
        (config_key::SETPOINT, "210"),
        (config_key::DISPLAY_NAME, "thermostat"),
        (config_key::TELNET_ENABLED, "false"),
        (config_key::UPDATES_ENABLED, "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn validate_value(key: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_VALUE_LEN {
        return Err(format!("longer than {MAX_VALUE_LEN} characters"));
    }
    if !value.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return Err("only printable ASCII allowed".into());
    }
    let number = |lo: u64, hi: u64| -> Result<(), String> {
        match value.parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(()),
            _ => Err(format!("expected a number from {lo} to {hi}")),
        }
    };
    match key {
        config_key::TELEMETRY_SERVER | config_key::SYSLOG_COLLECTOR => {
            if value.is_empty() || value == "off" {
                return Ok(());
            }
            let ok = value
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if ok {
                Ok(())
            } else {
                Err("expected host:port, empty or off".into())
            }
        }
        config_key::TELEMETRY_INTERVAL_S => number(1, 86_400),
        config_key::LOCKOUT_THRESHOLD => number(1, 1000),
        config_key::LOCKOUT_DELAY_S => number(0, 86_400),
        config_key::SETPOINT => number(50, 350),
        config_key::TELNET_ENABLED | config_key::UPDATES_ENABLED => match value {
            "true" | "false" => Ok(()),
            _ => Err("expected true or false".into()),
        },
        _ => Ok(()),
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct EventStore {
    next_seq: u64,
    events: Vec<Event>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccountRecord {
    salt: String,
    hash: String,
    /// Earlier passwords that still log in: only ever filled by firmware
    /// with `password-change-keeps-old`, as (salt, hash) pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    also: Vec<(String, String)>,
}

/// Where the identifier written over the API (`identifier-writable`) is
/// kept: a key of the configuration record that `config` does not list,
/// so a factory reset erases it with the rest of the configuration.
const STORED_ID_KEY: &str = "_device_id";
/// How many earlier passwords `password-change-keeps-old` keeps.
const MAX_OLD_PASSWORDS: usize = 8;

#[derive(Default)]
struct Lockout {
    failures: u32,
    locked_until: Option<Instant>,
}

/// An SMP upload in progress (chunks arrive in order).
#[derive(Default)]
pub struct UploadState {
    pub expected: usize,
    pub received: usize,
}

pub struct Device {
    pub board: Arc<Board>,
    alive: AtomicBool,
    boot_time: Instant,
    device_id: RwLock<String>,
    uid: [u8; 8],
    pub version: String,
    pub image_hash: [u8; 32],
    /// SHA-256 over the running image's payload alone (what firmware with
    /// `version-report-stale` reports instead of the image hash).
    payload_hash: [u8; 32],
    pub security_counter: u32,
    pub manifest: Manifest,
    pub behaviour: Behaviour,
    pub test_boot: bool,
    health: Mutex<(Health, Vec<String>)>,
    lock: Mutex<Lockout>,
    subscribers: Mutex<Vec<Sender<Event>>>,
    pub upload: Mutex<UploadState>,
    /// Configuration values in force but not in flash (lost at power-off):
    /// what `config-not-persisted` and `disable-not-persisted` leave behind.
    unsaved: Mutex<BTreeMap<String, String>>,
    /// Whether the telnet service should listen (kept in step with the
    /// configuration so the network side can poll it cheaply).
    telnet_on: AtomicBool,
    /// The network side manages the telnet listener (it reported once).
    telnet_managed: AtomicBool,
    /// The telnet listener's state as the network side last reported it.
    telnet_listening: AtomicBool,
}

pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 4648 base32 without padding.
pub fn base32(data: &[u8]) -> String {
    const ALPHA: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buf: u32 = 0;
    let mut bits = 0;
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHA[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHA[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

pub fn hmac256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

/// The per-device admin password printed on the label: 16 base32
/// characters (80 bits) derived from the device secret.
pub fn derived_password(secret: &[u8; 32]) -> String {
    let h = hmac256(secret, b"hilt-sim/admin-password/v1");
    base32(&h)[..16].to_string()
}

/// The `http-api` shape's per-device `operator` password (the API's
/// account): 16 base32 characters, unrelated to the admin password.
pub fn derived_operator_password(secret: &[u8; 32]) -> String {
    let h = hmac256(secret, b"hilt-sim/operator-password/v1");
    base32(&h)[..16].to_string()
}

/// The label password of `generation` (0: the factory's first one, the
/// reference board's; a `rotating-label` unit gets the next generation at
/// each factory reset).
pub fn label_password(secret: &[u8; 32], generation: u32) -> String {
    if generation == 0 {
        return derived_password(secret);
    }
    let h = hmac256(
        secret,
        format!("hilt-sim/admin-password/v1/generation-{generation}").as_bytes(),
    );
    base32(&h)[..16].to_string()
}

/// The label password's generation stored in factory data (0 if none).
pub fn label_generation(flash: &Flash) -> u32 {
    flash
        .read_record(flash::FACTORY_DATA_OFF, flash::FACTORY_DATA_SIZE)
        .and_then(|b| serde_json::from_slice::<u32>(&b).ok())
        .unwrap_or(0)
}

/// The unique identifier from OTP as the label prints it.
pub fn uid_string(uid: &[u8; 8]) -> String {
    format!("HS-{}", mcuboot::hex(uid).to_uppercase())
}

/// The same unique identifier written the way a network stack prints a
/// hardware address (`identifier-inconsistent`): `01:23:45:67:89:ab:cd:ef`.
pub fn uid_mac_string(uid: &[u8; 8]) -> String {
    uid.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn valid_identifier(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 {
        return Err("1 to 64 characters".into());
    }
    if !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err("printable ASCII without spaces only".into());
    }
    Ok(())
}

fn password_hash(salt: &[u8], password: &str) -> [u8; 32] {
    let mut h = hmac256(salt, password.as_bytes());
    for _ in 0..1000 {
        h = hmac256(&h, password.as_bytes());
    }
    h
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Keeps untrusted text printable and short for the log.
pub fn sanitize(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if getrandom::getrandom(&mut b).is_err() {
        // No entropy source: fall back to time-derived bytes (a simulator
        // only; never the case on Linux).
        let h = Sha256::digest(format!("{:?}", SystemTime::now()));
        for (i, x) in b.iter_mut().enumerate() {
            *x = h[i % 32];
        }
    }
    b
}

pub fn random_uid() -> [u8; 8] {
    random_bytes::<8>()
}

pub fn random_secret() -> [u8; 32] {
    random_bytes::<32>()
}

impl Device {
    pub fn start(board: Arc<Board>, running: &Running, degraded: Vec<String>) -> Arc<Device> {
        let payload = running.image.payload(&running.bytes);
        let manifest = Manifest::from_payload(payload).unwrap_or_else(|| {
            Manifest::new(&[], &running.image.version.to_string())
                .unwrap_or_else(|_| unreachable!("no flaws cannot fail"))
        });
        let behaviour = manifest.behaviour.clone();
        let uid = board.flash().otp_uid();
        let stored = Self::read_stored_config(&board.flash());
        let written_id = stored
            .get(STORED_ID_KEY)
            .filter(|id| behaviour.identifier_writable && valid_identifier(id).is_ok())
            .cloned();
        let device_id = if behaviour.shared_identifier {
            "HS-0000000000000001".to_string()
        } else if behaviour.identifier_changes_on_reboot {
            uid_string(&random_uid())
        } else if let Some(id) = written_id {
            id
        } else {
            uid_string(&uid)
        };
        let health = if degraded.is_empty() {
            Health::Normal
        } else {
            Health::Degraded
        };
        let telnet_on = behaviour.telnet_open
            || stored
                .get(config_key::TELNET_ENABLED)
                .is_some_and(|v| v == "true");
        let payload_hash: [u8; 32] = Sha256::digest(payload).into();
        Arc::new(Device {
            board,
            alive: AtomicBool::new(true),
            boot_time: Instant::now(),
            device_id: RwLock::new(device_id),
            uid,
            version: running.image.version.to_string(),
            image_hash: running.image.computed_hash,
            payload_hash,
            security_counter: running.image.security_counter().unwrap_or(0),
            manifest,
            behaviour,
            test_boot: running.test_boot,
            health: Mutex::new((health, degraded)),
            lock: Mutex::new(Lockout::default()),
            subscribers: Mutex::new(Vec::new()),
            upload: Mutex::new(UploadState::default()),
            unsaved: Mutex::new(BTreeMap::new()),
            telnet_on: AtomicBool::new(telnet_on),
            telnet_managed: AtomicBool::new(false),
            telnet_listening: AtomicBool::new(false),
        })
    }

    /// The logical identifier the console reports.
    pub fn device_id(&self) -> String {
        self.device_id
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn kill(&self) {
        self.alive.store(false, Ordering::SeqCst);
        self.subscribers_lock().clear();
    }

    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    fn flash(&self) -> MutexGuard<'_, Flash> {
        self.board.flash()
    }

    fn subscribers_lock(&self) -> MutexGuard<'_, Vec<Sender<Event>>> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn image_hash_hex(&self) -> String {
        mcuboot::hex(&self.image_hash)
    }

    /// The image hash the firmware reports (console `version`, HTTP
    /// status): the running image's MCUboot hash, or with
    /// `version-report-stale` a hash over its payload alone.
    pub fn reported_hash_hex(&self) -> String {
        if self.behaviour.version_report_stale {
            mcuboot::hex(&self.payload_hash)
        } else {
            self.image_hash_hex()
        }
    }

    // ------------------------------------------------------------ events

    fn load_events(flash: &Flash) -> EventStore {
        flash
            .read_record(flash::EVENTS_OFF, flash::EVENTS_SIZE)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn store_events(flash: &mut Flash, store: &mut EventStore) {
        loop {
            let body = serde_json::to_vec(&store).unwrap_or_default();
            if flash.write_record(flash::EVENTS_OFF, flash::EVENTS_SIZE, &body) {
                return;
            }
            // Full: drop the oldest tenth and try again.
            let drop = (store.events.len() / 10).max(1).min(store.events.len());
            if drop == 0 {
                return;
            }
            store.events.drain(..drop);
        }
    }

    /// Records a security event (unless the firmware does not log).
    pub fn record(&self, kind: &str, severity: u8, source: &str, detail: &str) {
        if self.behaviour.no_security_logging || !self.alive() {
            return;
        }
        let ev = {
            let mut f = self.flash();
            let mut store = Self::load_events(&f);
            let ev = Event {
                seq: store.next_seq,
                time: now_s(),
                severity,
                kind: kind.to_string(),
                source: sanitize(source, 64),
                detail: sanitize(detail, 200),
            };
            store.next_seq += 1;
            store.events.push(ev.clone());
            Self::store_events(&mut f, &mut store);
            ev
        };
        self.subscribers_lock()
            .retain(|s| s.send(ev.clone()).is_ok());
    }

    pub fn degrade(&self, reason: String) {
        let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        h.0 = Health::Degraded;
        h.1.push(reason);
    }

    // ------------------------------------------------------------ accounts

    fn accounts(flash: &Flash) -> BTreeMap<String, AccountRecord> {
        flash
            .read_record(flash::ACCOUNTS_OFF, flash::ACCOUNTS_SIZE)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn password_ok(&self, user: &str, password: &str) -> bool {
        if user != ADMIN {
            return false;
        }
        if self.behaviour.default_password && password == "admin" {
            return true;
        }
        let (accounts, secret) = {
            let f = self.flash();
            (Self::accounts(&f), f.otp_secret())
        };
        let matches = |salt: &str, hash: &str| {
            let h = mcuboot::hex(&password_hash(salt.as_bytes(), password));
            ct_eq(h.as_bytes(), hash.as_bytes())
        };
        match accounts.get(ADMIN) {
            Some(rec) => {
                matches(&rec.salt, &rec.hash)
                    || (self.behaviour.password_change_keeps_old
                        && rec.also.iter().any(|(salt, hash)| matches(salt, hash)))
            }
            None => {
                let label = label_password(&secret, label_generation(&self.flash()));
                ct_eq(label.as_bytes(), password.as_bytes())
            }
        }
    }

    /// Whether `password` is the admin's current one (the interactive
    /// `passwd` asks for it first).
    pub fn admin_password_ok(&self, password: &str) -> bool {
        self.password_ok(ADMIN, password)
    }

    /// Whether this firmware is built for the device shape `name`.
    pub fn shape(&self, name: &str) -> bool {
        self.manifest.has_shape(name)
    }

    /// The shell prompt this product shows.
    pub fn shell_prompt(&self) -> &'static str {
        if self.shape(crate::shapes::open_console::NAME) {
            crate::shapes::open_console::PROMPT
        } else {
            crate::console::SHELL_PROMPT
        }
    }

    /// The `http-api` shape's `operator` password (kept as the device
    /// keeps a Digest account's: usable to check a Digest answer).
    fn operator_password(&self) -> Option<String> {
        self.manifest
            .has_shape(crate::shapes::HTTP_API)
            .then(|| derived_operator_password(&self.flash().otp_secret()))
    }

    pub fn change_password(&self, new: &str, source: &str) -> Result<(), String> {
        if new.len() < 8 || new.len() > 64 || !new.chars().all(|c| c.is_ascii_graphic()) {
            return Err("password must be 8 to 64 printable characters without spaces".into());
        }
        let salt = mcuboot::hex(&random_bytes::<16>());
        let hash = mcuboot::hex(&password_hash(salt.as_bytes(), new));
        {
            let mut f = self.flash();
            let mut acc = Self::accounts(&f);
            let mut also = Vec::new();
            if self.behaviour.password_change_keeps_old {
                // The flaw: the new password is added; the old one stays.
                match acc.get(ADMIN) {
                    Some(old) => {
                        also.push((old.salt.clone(), old.hash.clone()));
                        also.extend(old.also.iter().cloned());
                    }
                    None => {
                        let salt = mcuboot::hex(&random_bytes::<16>());
                        let label = label_password(&f.otp_secret(), label_generation(&f));
                        let hash = mcuboot::hex(&password_hash(salt.as_bytes(), &label));
                        also.push((salt, hash));
                    }
                }
                also.truncate(MAX_OLD_PASSWORDS);
            }
            acc.insert(ADMIN.into(), AccountRecord { salt, hash, also });
            let body = serde_json::to_vec(&acc).unwrap_or_default();
            f.write_record(flash::ACCOUNTS_OFF, flash::ACCOUNTS_SIZE, &body);
        }
        self.record(event_kind::PASSWORD_CHANGED, 5, source, "user=admin");
        Ok(())
    }

    fn lockout_params(&self) -> (u32, u64) {
        let c = self.config();
        let th = c
            .get(config_key::LOCKOUT_THRESHOLD)
            .and_then(|v| v.parse().ok())
            .unwrap_or(5);
        let d = c
            .get(config_key::LOCKOUT_DELAY_S)
            .and_then(|v| v.parse().ok())
            .unwrap_or(30);
        (th, d)
    }

    // ------------------------------------------------------------ configuration

    /// The configuration record as stored (hidden keys included).
    fn read_stored_config(flash: &Flash) -> BTreeMap<String, String> {
        flash
            .read_record(flash::CONFIG_OFF, flash::CONFIG_SIZE)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Stores one value in the configuration record, keeping the rest.
    fn store_config_value(&self, key: &str, value: &str) {
        let mut f = self.flash();
        let mut stored = Self::read_stored_config(&f);
        stored.insert(key.to_string(), value.to_string());
        let body = serde_json::to_vec(&stored).unwrap_or_default();
        f.write_record(flash::CONFIG_OFF, flash::CONFIG_SIZE, &body);
    }

    /// The configuration in force: defaults, then what flash holds, then
    /// values set since boot but not stored.
    pub fn config(&self) -> BTreeMap<String, String> {
        let stored = Self::read_stored_config(&self.flash());
        let unsaved = self
            .unsaved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut c = self.settings();
        for (k, v) in stored.into_iter().chain(unsaved) {
            if c.contains_key(&k) {
                c.insert(k, v);
            }
        }
        c
    }

    /// The settings this firmware has, at their defaults: a shape may
    /// build in what is a setting elsewhere.
    fn settings(&self) -> BTreeMap<String, String> {
        let mut c = default_config();
        if self
            .manifest
            .has_shape(crate::shapes::fixed_telemetry::NAME)
        {
            for key in crate::shapes::fixed_telemetry::ABSENT_SETTINGS {
                c.remove(*key);
            }
        }
        c
    }

    /// Whether updates are switched on (`updates_enabled`).
    pub fn updates_enabled(&self) -> bool {
        self.config()
            .get(config_key::UPDATES_ENABLED)
            .is_none_or(|v| v != "false")
    }

    /// After a change of `telnet_enabled`: waits (up to 2 s) until the
    /// network side has opened or closed tcp/23 to match, so that `ok`
    /// means the change is in force.
    fn await_telnet(&self) {
        if !self.telnet_managed.load(Ordering::SeqCst) {
            return;
        }
        let want = self.telnet_on.load(Ordering::SeqCst);
        let until = Instant::now() + Duration::from_secs(2);
        while self.telnet_listening.load(Ordering::SeqCst) != want && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    // ------------------------------------------------------------ slots

    /// The image in each slot that holds one: (slot, version, hash,
    /// trailer). Slot 0 must parse; slot 1 is listed as soon as its header
    /// is well-formed (an upload the bootloader has yet to judge), named by
    /// the hash over the range its header declares.
    pub fn slot_images(&self) -> Vec<(usize, mcuboot::Version, [u8; 32], Trailer)> {
        let f = self.flash();
        (0..2)
            .filter_map(|s| {
                let (version, hash) = match mcuboot::parse(f.slot(s)) {
                    Ok(img) => (img.version, img.computed_hash),
                    Err(_) if s == 1 => {
                        let h = mcuboot::header_info(f.slot(1))?;
                        (h.version, h.declared_hash)
                    }
                    Err(_) => return None,
                };
                Some((s, version, hash, f.trailer(s)))
            })
            .collect()
    }

    /// The hash slot 1's image is known by (see [`Device::slot_images`]).
    fn slot1_hash(&self) -> Option<[u8; 32]> {
        let f = self.flash();
        match mcuboot::parse(f.slot(1)) {
            Ok(img) => Some(img.computed_hash),
            Err(_) => mcuboot::header_info(f.slot(1)).map(|h| h.declared_hash),
        }
    }

    /// Whether an update step may proceed: authentication (unless
    /// `update-unauthenticated`), then, for steps that install (`installs`),
    /// the user's `updates_enabled` setting (unless `update-setting-ignored`).
    fn update_allowed(
        &self,
        authenticated: bool,
        installs: bool,
        source: &str,
        what: &str,
    ) -> Result<(), UpdateError> {
        if !authenticated && !self.behaviour.update_unauthenticated {
            self.record(
                event_kind::UPDATE_REJECTED,
                4,
                source,
                &format!("{what}: not authenticated"),
            );
            return Err(UpdateError::Unauthorized);
        }
        if installs && !self.behaviour.update_setting_ignored && !self.updates_enabled() {
            self.record(
                event_kind::UPDATE_REJECTED,
                4,
                source,
                &format!("{what}: updates are disabled (updates_enabled=false)"),
            );
            return Err(UpdateError::Disabled);
        }
        Ok(())
    }

    /// Writes one chunk of an SMP upload into slot 1. Returns the next
    /// expected offset.
    pub fn upload_chunk(
        &self,
        off: usize,
        data: &[u8],
        total: Option<usize>,
        authenticated: bool,
        source: &str,
    ) -> Result<usize, UpdateError> {
        self.update_allowed(authenticated, true, source, "upload")?;
        let mut up = self.upload.lock().unwrap_or_else(|e| e.into_inner());
        let max = flash::SLOT_SIZE - flash::TRAILER_COPY_DONE_FROM_END;
        if off == 0 {
            let total =
                total.ok_or_else(|| UpdateError::Malformed("first chunk without len".into()))?;
            if total > max {
                self.record(
                    event_kind::UPDATE_REJECTED,
                    4,
                    source,
                    &format!("image of {total} bytes exceeds slot"),
                );
                return Err(UpdateError::TooLarge {
                    size: total,
                    slot_size: max,
                });
            }
            self.flash().erase(flash::SLOT1_OFF, flash::SLOT_SIZE);
            *up = UploadState {
                expected: total,
                received: 0,
            };
        }
        if off != up.received || up.expected == 0 {
            // Out of order: tell the client where we are (as Zephyr does).
            return Ok(up.received);
        }
        let end = off.saturating_add(data.len());
        if end > up.expected {
            return Err(UpdateError::Malformed(
                "chunk past the declared length".into(),
            ));
        }
        self.flash().write(flash::SLOT1_OFF + off, data);
        up.received = end;
        if end == up.expected {
            let image = self.flash().read(flash::SLOT1_OFF, end).to_vec();
            match Self::inspect_upload(&image) {
                Ok(what) => self.record(
                    event_kind::UPDATE_ACCEPTED,
                    5,
                    source,
                    &format!("{what} ({end} bytes) stored in slot 1"),
                ),
                Err(why) => {
                    self.record(
                        event_kind::UPDATE_REJECTED,
                        4,
                        source,
                        &format!("uploaded image malformed: {why}"),
                    );
                    self.flash().erase(flash::SLOT1_OFF, flash::SLOT_SIZE);
                    *up = UploadState::default();
                    return Err(UpdateError::Malformed(why));
                }
            }
        }
        Ok(end)
    }

    /// What the firmware checks of an upload, as MCUmgr does: an image
    /// header (magic, header size). Its sizes, TLVs, hash and signature are
    /// the bootloader's to judge at the next boot (a header that lies about
    /// the size is rejected there). `Ok` describes the image for the log.
    fn inspect_upload(image: &[u8]) -> Result<String, String> {
        match mcuboot::parse(image) {
            Ok(img) => Ok(format!(
                "image {} (sha256 {})",
                img.version,
                mcuboot::hex(&img.computed_hash)
            )),
            Err(why) => match mcuboot::header_info(image) {
                Some(h) => Ok(format!(
                    "image {} (declared range sha256 {}; not a complete image: {why})",
                    h.version,
                    mcuboot::hex(&h.declared_hash)
                )),
                None => Err(why),
            },
        }
    }

    /// Marks slot 1 pending (test or permanent) if `hash` names its image.
    pub fn set_pending(
        &self,
        hash: &[u8],
        permanent: bool,
        authenticated: bool,
        source: &str,
    ) -> Result<(), UpdateError> {
        self.update_allowed(authenticated, true, source, "set pending")?;
        if self.slot1_hash().is_none_or(|h| h != hash) {
            return Err(UpdateError::Malformed(
                "no image with that hash in slot 1".into(),
            ));
        }
        self.flash().write_trailer(
            1,
            Trailer {
                magic: true,
                image_ok: permanent,
                copy_done: false,
            },
        );
        Ok(())
    }

    pub fn confirm(&self, source: &str) {
        {
            let mut f = self.flash();
            let t = f.trailer(0);
            f.write_trailer(
                0,
                Trailer {
                    magic: true,
                    image_ok: true,
                    copy_done: t.copy_done,
                },
            );
            f.raise_security_counter(self.security_counter);
        }
        self.record(
            event_kind::IMAGE_CONFIRMED,
            5,
            source,
            &format!("image {} confirmed", self.version),
        );
    }

    pub fn erase_slot1(&self, authenticated: bool, source: &str) -> Result<(), UpdateError> {
        self.update_allowed(authenticated, false, source, "erase")?;
        self.flash().erase(flash::SLOT1_OFF, flash::SLOT_SIZE);
        Ok(())
    }

    pub fn request(&self, c: Control) {
        self.board.send(c);
    }

    /// Factory reset without the authorization decision (callers check).
    fn do_factory_reset(&self, source: &str) {
        {
            let mut f = self.flash();
            f.erase(flash::CONFIG_OFF, flash::CONFIG_SIZE);
            if !self.behaviour.factory_reset_keeps_credentials {
                f.erase(flash::ACCOUNTS_OFF, flash::ACCOUNTS_SIZE);
            }
            if self.shape(crate::shapes::rotating_label::NAME) {
                // A new unit password, printed on the label at the next boot.
                let next = label_generation(&f).saturating_add(1);
                let body = serde_json::to_vec(&next).unwrap_or_default();
                f.write_record(flash::FACTORY_DATA_OFF, flash::FACTORY_DATA_SIZE, &body);
            }
            // The log restarts, keeping its sequence numbering.
            let mut store = Self::load_events(&f);
            store.events.clear();
            Self::store_events(&mut f, &mut store);
        }
        self.record(
            event_kind::FACTORY_RESET,
            5,
            source,
            "configuration, accounts and event log erased",
        );
        self.request(Control::Reboot {
            delay: Duration::from_millis(200),
        });
    }
}

impl Device {
    /// One authentication attempt: lockout first, then `ok` (whether the
    /// credentials are right), then the counting and the events.
    fn authenticate_by(&self, user: &str, ok: &dyn Fn() -> bool, source: &str) -> AuthResult {
        let (threshold, delay) = self.lockout_params();
        let user_s = sanitize(user, 32);
        {
            let mut l = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            if !self.behaviour.no_lockout {
                if let Some(until) = l.locked_until {
                    if Instant::now() < until {
                        drop(l);
                        self.record(
                            event_kind::LOGIN_LOCKED_OUT,
                            4,
                            source,
                            &format!("user={user_s}: account locked"),
                        );
                        return AuthResult::LockedOut;
                    }
                    l.locked_until = None;
                }
            }
        }
        if ok() {
            self.lock.lock().unwrap_or_else(|e| e.into_inner()).failures = 0;
            // Sessions (console, telnet) are logged; HTTP checks credentials
            // on every request, which would flood the log, so only its
            // failures are.
            if !(source.starts_with("https:") || source.starts_with("http:")) {
                self.record(
                    event_kind::LOGIN_SUCCEEDED,
                    6,
                    source,
                    &format!("user={user_s}"),
                );
            }
            return AuthResult::Ok;
        }
        let slows = self.shape(crate::shapes::undeclared_lockout::NAME);
        let (locked, slowed_by) = {
            let mut l = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            l.failures += 1;
            if slows {
                // This product slows failures instead of locking: each one
                // after the second answers later (up to 3 s), until a login
                // succeeds.
                let delay = if self.behaviour.no_lockout {
                    0
                } else {
                    u64::from(l.failures.saturating_sub(2).min(3))
                };
                (false, Duration::from_secs(delay))
            } else if !self.behaviour.no_lockout && l.failures >= threshold {
                l.failures = 0;
                l.locked_until = Some(Instant::now() + Duration::from_secs(delay));
                (true, Duration::ZERO)
            } else {
                (false, Duration::ZERO)
            }
        };
        std::thread::sleep(slowed_by);
        self.record(
            event_kind::LOGIN_FAILED,
            4,
            source,
            &format!("user={user_s}"),
        );
        if locked {
            self.record(
                event_kind::ACCOUNT_LOCKED,
                4,
                source,
                &format!("{threshold} failed logins; locked for {delay} s"),
            );
        }
        AuthResult::Denied
    }
}

impl DeviceApi for Device {
    fn identity(&self) -> Identity {
        let device_id = if self.behaviour.identifier_inconsistent {
            uid_mac_string(&self.uid)
        } else {
            self.device_id()
        };
        Identity {
            device_id,
            model: MODEL.into(),
            manufacturer: MANUFACTURER.into(),
            firmware_version: self.version.clone(),
        }
    }

    fn status(&self) -> Status {
        let h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let (health, reasons) = if self.behaviour.no_degraded_state {
            (Health::Normal, Vec::new())
        } else {
            (h.0, h.1.clone())
        };
        Status {
            health,
            reasons,
            firmware_version: self.version.clone(),
            image_sha256: self.reported_hash_hex(),
            uptime_s: self.boot_time.elapsed().as_secs(),
        }
    }

    fn authenticate(&self, user: &str, password: &str, source: &str) -> AuthResult {
        let ok = || self.password_ok(user, password);
        self.authenticate_by(user, &ok, source)
    }

    fn authenticate_digest(
        &self,
        user: &str,
        made_with: &dyn Fn(&str) -> bool,
        source: &str,
    ) -> AuthResult {
        let ok = || {
            self.operator_password()
                .is_some_and(|pw| user == OPERATOR && made_with(&pw))
        };
        self.authenticate_by(user, &ok, source)
    }

    fn config_get(&self, key: &str) -> Option<String> {
        self.config().get(key).cloned()
    }

    fn config_all(&self) -> BTreeMap<String, String> {
        self.config()
    }

    fn config_set(
        &self,
        key: &str,
        value: &str,
        authenticated: bool,
        source: &str,
    ) -> Result<(), ConfigError> {
        let key_s = sanitize(key, 40);
        if !authenticated && !self.behaviour.config_write_unauthenticated {
            self.record(
                event_kind::CONFIG_WRITE_DENIED,
                4,
                source,
                &format!("key={key_s}: not authenticated"),
            );
            return Err(ConfigError::Unauthorized);
        }
        if !self.settings().contains_key(key) {
            return Err(ConfigError::UnknownKey(key_s));
        }
        validate_value(key, value).map_err(|reason| ConfigError::InvalidValue {
            key: key_s.clone(),
            reason,
        })?;
        let b = &self.behaviour;
        // The flaws: a value in force until the next boot, never written.
        let disabling_telnet = key == config_key::TELNET_ENABLED && value == "false";
        let unsaved = b.config_not_persisted || (b.disable_not_persisted && disabling_telnet);
        {
            let mut in_ram = self.unsaved.lock().unwrap_or_else(|e| e.into_inner());
            if unsaved {
                in_ram.insert(key.to_string(), value.to_string());
            } else {
                in_ram.remove(key);
            }
        }
        if !unsaved {
            self.store_config_value(key, value);
        }
        self.record(
            event_kind::CONFIG_CHANGED,
            5,
            source,
            &format!("key={key_s}"),
        );
        if key == config_key::TELNET_ENABLED {
            self.telnet_on
                .store(b.telnet_open || value == "true", Ordering::SeqCst);
            self.await_telnet();
        }
        Ok(())
    }

    fn events(&self, authenticated: bool, source: &str) -> Result<Vec<Event>, AccessError> {
        if !authenticated && !self.behaviour.event_log_unauthenticated {
            self.record(
                event_kind::LOG_ACCESS_DENIED,
                4,
                source,
                "read: not authenticated",
            );
            return Err(AccessError::Unauthorized);
        }
        Ok(Self::load_events(&self.flash()).events)
    }

    fn clear_events(&self, authenticated: bool, source: &str) -> Result<(), AccessError> {
        if !authenticated && !self.behaviour.event_log_unauthenticated {
            self.record(
                event_kind::LOG_ACCESS_DENIED,
                4,
                source,
                "clear: not authenticated",
            );
            return Err(AccessError::Unauthorized);
        }
        {
            let mut f = self.flash();
            let mut store = Self::load_events(&f);
            store.events.clear();
            Self::store_events(&mut f, &mut store);
        }
        self.record(event_kind::LOG_CLEARED, 5, source, "event log cleared");
        Ok(())
    }

    fn upload_image(
        &self,
        image: &[u8],
        mode: InstallMode,
        authenticated: bool,
        source: &str,
    ) -> Result<UploadOutcome, UpdateError> {
        self.update_allowed(authenticated, true, source, "upload")?;
        let max = flash::SLOT_SIZE - flash::TRAILER_COPY_DONE_FROM_END;
        if image.len() > max {
            self.record(
                event_kind::UPDATE_REJECTED,
                4,
                source,
                &format!("image of {} bytes exceeds slot", image.len()),
            );
            return Err(UpdateError::TooLarge {
                size: image.len(),
                slot_size: max,
            });
        }
        let (version, hash) = match (mcuboot::parse(image), mcuboot::header_info(image)) {
            (Ok(img), _) => (img.version, img.computed_hash),
            // As over SMP: a well-formed header is enough here; the
            // bootloader judges the rest.
            (Err(_), Some(h)) => (h.version, h.declared_hash),
            (Err(why), None) => {
                self.record(
                    event_kind::UPDATE_REJECTED,
                    4,
                    source,
                    &format!("malformed image: {why}"),
                );
                return Err(UpdateError::Malformed(why));
            }
        };
        if !self.behaviour.https_update_ignored {
            // (`https-update-ignored` answers as below but stores nothing.)
            let mut f = self.flash();
            f.erase(flash::SLOT1_OFF, flash::SLOT_SIZE);
            f.write(flash::SLOT1_OFF, image);
            if mode != InstallMode::StoreOnly {
                f.write_trailer(
                    1,
                    Trailer {
                        magic: true,
                        image_ok: mode == InstallMode::Permanent,
                        copy_done: false,
                    },
                );
            }
        }
        let hash = mcuboot::hex(&hash);
        self.record(
            event_kind::UPDATE_ACCEPTED,
            5,
            source,
            &format!("image {version} (sha256 {hash}) stored in slot 1, {mode:?}"),
        );
        Ok(UploadOutcome {
            version: version.to_string(),
            image_sha256: hash,
            mode,
        })
    }

    fn confirm_running(&self, authenticated: bool, source: &str) -> Result<(), AccessError> {
        if self
            .update_allowed(authenticated, false, source, "confirm")
            .is_err()
        {
            return Err(AccessError::Unauthorized);
        }
        self.confirm(source);
        Ok(())
    }

    fn smp_datagram(&self, message: &[u8]) -> Option<Vec<u8>> {
        let (answer, reset) = crate::smp::respond(self, message, true)?;
        if reset {
            self.request(Control::Reboot {
                delay: Duration::from_millis(200),
            });
        }
        Some(answer)
    }

    fn reboot(&self, authenticated: bool, source: &str) -> Result<(), AccessError> {
        if !authenticated {
            self.record(
                event_kind::ACCESS_DENIED,
                4,
                source,
                "reboot: not authenticated",
            );
            return Err(AccessError::Unauthorized);
        }
        self.record(event_kind::REBOOT, 6, source, "reboot requested");
        self.request(Control::Reboot {
            delay: Duration::from_millis(200),
        });
        Ok(())
    }

    fn factory_reset(&self, authenticated: bool, source: &str) -> Result<(), AccessError> {
        if !authenticated && !self.behaviour.reset_unauthenticated {
            self.record(
                event_kind::FACTORY_RESET_DENIED,
                4,
                source,
                "not authenticated",
            );
            return Err(AccessError::Unauthorized);
        }
        self.do_factory_reset(source);
        Ok(())
    }

    fn personality(&self) -> Personality {
        self.manifest.personality()
    }

    fn subscribe_events(&self) -> Receiver<Event> {
        let (tx, rx) = channel();
        self.subscribers_lock().push(tx);
        rx
    }

    fn device_secret_material(&self, purpose: &str) -> [u8; 32] {
        let secret = self.flash().otp_secret();
        hmac256(&secret, format!("hilt-sim/purpose/{purpose}").as_bytes())
    }

    fn runtime_dir(&self) -> PathBuf {
        self.board.dir.clone()
    }

    fn index(&self) -> u32 {
        self.board.index
    }

    fn record_event(&self, severity: u8, kind: &str, source: &str, detail: &str) {
        self.record(kind, severity.min(7), source, detail);
    }

    fn telnet_wanted(&self) -> bool {
        self.alive() && self.telnet_on.load(Ordering::SeqCst)
    }

    fn telnet_listening(&self, listening: bool) {
        self.telnet_listening.store(listening, Ordering::SeqCst);
        self.telnet_managed.store(true, Ordering::SeqCst);
    }

    fn set_device_id(
        &self,
        new_id: &str,
        authenticated: bool,
        source: &str,
    ) -> Result<(), IdentityWriteError> {
        // Only the flawed firmware offers the write, and takes it from
        // anyone (`authenticated` is not looked at: that is the flaw).
        let _ = authenticated;
        if !self.behaviour.identifier_writable {
            return Err(IdentityWriteError::NotSupported);
        }
        valid_identifier(new_id).map_err(IdentityWriteError::Invalid)?;
        self.store_config_value(STORED_ID_KEY, new_id);
        *self.device_id.write().unwrap_or_else(|e| e.into_inner()) = new_id.to_string();
        self.record(
            event_kind::CONFIG_CHANGED,
            5,
            source,
            &format!("key=device_id value={}", sanitize(new_id, 64)),
        );
        Ok(())
    }
}
