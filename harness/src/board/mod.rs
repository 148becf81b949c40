//! Board files: resources (how a device is wired) and its declaration.

mod api;
mod dialogue;
mod dialogues;
mod login;
mod model;
mod preflight;
mod secret;
mod update;

pub use api::{
    Api, ApiAuth, ApiDecl, ApiRef, BearerDecl, FormLoginDecl, FormSuccessDecl, TokenLoginDecl,
};
pub use dialogue::{at_line_start, declared_text, resting_prompt};
pub use dialogues::{capture, Dialogue, DialogueStep, DialogueSteps, LabelDecl, LabelReading};
pub use login::InterfaceLoginDecl;
pub use model::*;
pub use preflight::{Reference, ReferenceProblem};
pub use secret::{Secret, SecretError, SecretRef};
pub use update::*;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::yaml::{self, DefinitionError};

/// The largest flash region hilt reads or writes: no slot of a device hilt
/// targets is bigger, and a typo in a board file must not make hilt read
/// gigabytes.
pub const MAX_FLASH_REGION: u64 = 64 * 1024 * 1024;

/// A board file that was read and validated, with the folder its relative
/// paths are resolved against.
#[derive(Debug, Clone)]
pub struct Board {
    pub file: PathBuf,
    pub spec: BoardFile,
}

impl Board {
    pub fn load(file: &Path) -> Result<Self, DefinitionError> {
        let (spec, text): (BoardFile, String) = yaml::load(file)?;
        validate(file, &text, &spec)?;
        Ok(Self {
            file: file.to_path_buf(),
            spec,
        })
    }

    pub fn name(&self) -> &str {
        self.spec.board.as_str()
    }

    /// The folder relative paths in the board file start from.
    pub fn base_dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        self.base_dir().join(path)
    }

    /// Resolves a declared account's password (a `label` one is read from
    /// the label now, so after a reset that rotates it, it is the new one).
    pub fn account_password(&self, account: &str) -> Result<Secret, SecretError> {
        match self.spec.declares.accounts.get(account) {
            Some(decl) if decl.password == SecretRef::Label => self.label_password(),
            Some(decl) => decl.password.resolve(self.base_dir()),
            None => Err(SecretError::MissingEnv(format!("<no account {account}>"))),
        }
    }

    /// The label, if declared.
    pub fn label(&self) -> Option<&LabelDecl> {
        self.spec.declares.identity.as_ref()?.physical.as_ref()
    }

    /// The label's text as transcribed (bounded: a label is short).
    pub fn label_text(&self) -> Result<String, String> {
        let label = self
            .label()
            .ok_or("no label declared (declares.identity.physical)")?;
        let path = self.resolve_path(label.file());
        let bytes = crate::yaml::read_regular_file(&path, 1 << 20)
            .map_err(|e| format!("the label {}: {e}", path.display()))?;
        Ok(String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned())
    }

    /// The unit's password as the label prints it.
    fn label_password(&self) -> Result<Secret, SecretError> {
        let pattern = self
            .label()
            .and_then(LabelDecl::password_pattern)
            .ok_or_else(|| {
                SecretError::Label(
                    "no pattern declared to find it (declares.identity.physical.password)".into(),
                )
            })?;
        let text = self.label_text().map_err(SecretError::Label)?;
        match capture(pattern, &text) {
            Ok(Some(value)) => Ok(Secret::from_guess(&value)),
            Ok(None) => Err(SecretError::Label(format!(
                "nothing on the label matches {pattern:?}"
            ))),
            Err(e) => Err(SecretError::Label(format!("pattern {pattern:?}: {e}"))),
        }
    }

    /// Resolves a secret reference (a `label` one from the label).
    pub fn resolve_secret(&self, secret: &SecretRef) -> Result<Secret, SecretError> {
        match secret {
            SecretRef::Label => self.label_password(),
            other => other.resolve(self.base_dir()),
        }
    }

    /// Every secret value this board file references that is currently
    /// resolvable; used to scrub evidence and output.
    pub fn secret_values(&self) -> Vec<Secret> {
        let tokens = self.spec.declares.interfaces.iter().filter_map(|i| {
            match i.api.as_ref().map(|a| &a.auth) {
                Some(ApiAuth::Bearer(BearerDecl { token: Some(t), .. })) => Some(t),
                _ => None,
            }
        });
        self.spec
            .declares
            .accounts
            .values()
            .map(|a| &a.password)
            .chain(tokens)
            .filter_map(|r| self.resolve_secret(r).ok())
            .collect()
    }
}

/// Checks that need the whole file rather than one field.
fn validate(file: &Path, text: &str, spec: &BoardFile) -> Result<(), DefinitionError> {
    let hw = &spec.hardware;
    if let Some(qemu) = &hw.qemu {
        validate_qemu(file, text, spec, qemu)?;
    }
    if let Some(labgrid) = &hw.labgrid {
        validate_labgrid(file, text, spec, labgrid)?;
    }
    if let Some(serial) = &hw.serial {
        match (&serial.port, &serial.tcp) {
            (None, None) if serial.unix.is_none() => {
                return Err(DefinitionError::at_field(
                    file,
                    text,
                    "hardware.serial",
                    "expected either `port` (a serial device), `tcp` (host:port of a network serial export) or `unix` (a socket)",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(DefinitionError::at_field(
                    file,
                    text,
                    "hardware.serial.tcp",
                    "`port` and `tcp` are exclusive: name one way to reach the console",
                ))
            }
            _ => {}
        }
        if serial.unix.is_some() && (serial.port.is_some() || serial.tcp.is_some()) {
            return Err(DefinitionError::at_field(
                file,
                text,
                "hardware.serial.unix",
                "`unix` excludes `port` and `tcp`: name one way to reach the console",
            ));
        }
        if serial.rfc2217 && serial.tcp.is_none() {
            return Err(DefinitionError::at_field(
                file,
                text,
                "hardware.serial.rfc2217",
                "`rfc2217: true` needs `tcp: host:port`",
            ));
        }
        if serial.baud == 0 {
            return Err(DefinitionError::at_field(
                file,
                text,
                "hardware.serial.baud",
                "expected a baud rate above 0",
            ));
        }
    }
    if let Some(network) = &hw.network {
        for (field, name) in [
            ("hardware.network.interface", &network.interface),
            ("hardware.network.capture", &network.capture),
        ] {
            if let Some(why) = name.as_deref().and_then(bad_interface_name) {
                return Err(DefinitionError::at_field(file, text, field, why));
            }
        }
        if let Some(host) = network.host_address {
            if host.is_ipv4() != network.address.is_ipv4() {
                return Err(DefinitionError::at_field(
                    file,
                    text,
                    "hardware.network.host_address",
                    format!(
                        "{host} and the board's address {} are of different IP versions",
                        network.address
                    ),
                ));
            }
        }
    }
    if let Some(debug) = &hw.debug {
        if debug.gdb.is_none() == debug.probe.is_none() {
            return Err(DefinitionError::at_field(
                file,
                text,
                "hardware.debug",
                "expected exactly one of `gdb` (host:port) or `probe` ({ chip, selector })",
            ));
        }
    }
    let decl = &spec.declares;
    for (i, interface) in decl.interfaces.iter().enumerate() {
        if let Some(toggle) = &interface.toggle {
            if toggle.on == toggle.off {
                return Err(DefinitionError::at_field(
                    file,
                    text,
                    &format!("declares.interfaces[{i}].toggle"),
                    "`on` and `off` must differ",
                ));
            }
        }
    }
    for (i, probe) in decl.udp_probes.iter().enumerate() {
        let field = format!("declares.udp_probes[{i}]");
        let problem = if probe.port == 0 {
            Some("expected a port from 1 to 65535".to_string())
        } else if probe.service.is_some() && probe.payload.is_some() {
            Some("`service` and `payload` are exclusive: name a protocol hilt speaks, or give the bytes".into())
        } else if let Some(service) = &probe.service {
            hilt_net::udp::UdpService::from_name(service).is_none().then(|| {
                format!("unknown service `{service}`: expected one of snmp, coap, mdns, ssdp, dns, ntp, tftp, syslog, mqtt-sn, mcumgr-smp (or give `payload`)")
            })
        } else {
            probe
                .payload_bytes()
                .err()
                .map(|why| format!("payload: {why}"))
        };
        if let Some(why) = problem {
            return Err(DefinitionError::at_field(file, text, &field, why));
        }
    }
    if let Some(update) = &decl.update {
        if let Some((field, why)) = update_problem(update) {
            // A field that is missing (or inside a flow list) has no line
            // of its own: point at the nearest enclosing one that has.
            let mut error = DefinitionError::at_field(file, text, &field, why.clone());
            let mut at = field.as_str();
            while error.line.is_none() {
                let Some((parent, _)) = at.rsplit_once(['.', '[']) else {
                    break;
                };
                at = parent;
                error = DefinitionError::at_field(file, text, at, why.clone());
                error.field = Some(field.clone());
            }
            return Err(error);
        }
    }
    if let Some(slot) = decl.update.as_ref().and_then(|u| u.primary_slot) {
        if slot.size == 0 || slot.size > MAX_FLASH_REGION {
            return Err(DefinitionError::at_field(
                file,
                text,
                "declares.update.primary_slot.size",
                format!("expected 1 to {} bytes", MAX_FLASH_REGION),
            ));
        }
        if hw.flash.is_none() {
            return Err(DefinitionError::at_field(
                file,
                text,
                "declares.update.primary_slot",
                "a primary slot is written through `hardware.flash`, which is not wired",
            ));
        }
    }
    if let Some(console) = &decl.console {
        if let Some(account) = &console.account {
            if !decl.accounts.contains_key(account) {
                return Err(DefinitionError::at_field(
                    file,
                    text,
                    "declares.console.account",
                    format!(
                        "account {account:?} is not declared under `declares.accounts` (declared: {})",
                        list(decl.accounts.keys())
                    ),
                ));
            }
        }
        if console.settle_ms == 0 || console.settle_ms > 5000 {
            return Err(DefinitionError::at_field(
                file,
                text,
                "declares.console.settle_ms",
                "expected milliseconds from 1 to 5000",
            ));
        }
        if let Some((field, why)) = console.pattern_error() {
            return Err(DefinitionError::at_field(
                file,
                text,
                &format!("declares.console.{field}"),
                why,
            ));
        }
        if console.wake == Wake::Enter && console.login.is_some() {
            return Err(DefinitionError::at_field(
                file,
                text,
                "declares.console.wake",
                "`wake: enter` is for consoles without login: at a login prompt an empty line is an empty user name (a failed login); use `ctrl-c` or `none`",
            ));
        }
        if console.login.is_some() != console.password.is_some() {
            return Err(DefinitionError::at_field(
                file,
                text,
                "declares.console",
                "`login` and `password` prompts go together: give both or neither",
            ));
        }
        if hw.serial.is_none() && hw.qemu.is_none() && hw.labgrid.is_none() {
            return Err(DefinitionError::at_field(
                file,
                text,
                "declares.console",
                "a console is declared but `hardware.serial` (or `hardware.qemu`, `hardware.labgrid`) is missing",
            ));
        }
    }
    if let Some(identity) = &decl.identity {
        for source in &identity.logical {
            if let IdentitySource::Console { pattern, command } = source {
                if let Err(e) = regex::Regex::new(pattern) {
                    return Err(DefinitionError::at_field(
                        file,
                        text,
                        "declares.identity.logical.pattern",
                        format!("invalid regular expression: {e}"),
                    ));
                }
                if let Some(why) = command.problem(&[]) {
                    return Err(DefinitionError::at_field(
                        file,
                        text,
                        "declares.identity.logical.command",
                        why,
                    ));
                }
            }
        }
        if let Some((field, why)) = identity
            .physical
            .as_ref()
            .and_then(LabelDecl::pattern_error)
        {
            return Err(DefinitionError::at_field(
                file,
                text,
                &format!("declares.identity.physical.{field}"),
                why,
            ));
        }
    }
    let label_password = decl
        .identity
        .as_ref()
        .and_then(|i| i.physical.as_ref())
        .and_then(LabelDecl::password_pattern)
        .is_some();
    for (name, account) in &decl.accounts {
        if account.password == SecretRef::Label && !label_password {
            return Err(DefinitionError::at_field(
                file,
                text,
                &format!("declares.accounts.{name}.password"),
                "`label` needs the label's password pattern: `declares.identity.physical: { file, password: '...' }`",
            ));
        }
    }
    if let Some((field, why)) = dialogues(decl)
        .into_iter()
        .find_map(|(field, dialogue, allowed)| Some((field, dialogue?.problem(allowed)?)))
    {
        return Err(DefinitionError::at_field(file, text, field, why));
    }
    validate_apis(file, text, spec)?;
    validate_lockouts(file, text, spec)?;
    for (i, client) in decl.tls_clients.iter().enumerate() {
        if let Some((field, why)) = tls_client_error(client, hw) {
            return Err(DefinitionError::at_field(
                file,
                text,
                &format!("declares.tls_clients[{i}]{field}"),
                why,
            ));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for interface in &decl.interfaces {
        if !seen.insert((interface.port, interface.protocol)) {
            return Err(DefinitionError::at_field(
                file,
                text,
                "declares.interfaces.port",
                format!(
                    "port {}/{:?} is declared twice",
                    interface.port, interface.protocol
                ),
            ));
        }
    }
    Ok(())
}

/// A QEMU machine: it brings its own console, debug port and power, and
/// names files that must exist.
fn validate_labgrid(
    file: &Path,
    text: &str,
    spec: &BoardFile,
    labgrid: &LabgridWiring,
) -> Result<(), DefinitionError> {
    let hw = &spec.hardware;
    let at = |field: &str, why: String| DefinitionError::at_field(file, text, field, why);
    for (field, given) in [
        ("serial", hw.serial.is_some()),
        ("network", hw.network.is_some()),
        ("power", hw.power.is_some()),
        ("qemu", hw.qemu.is_some()),
    ] {
        if given {
            return Err(at(
                &format!("hardware.{field}"),
                format!(
                    "a labgrid place's {field} comes from the resources it exports (`hardware.labgrid`); remove `hardware.{field}`"
                ),
            ));
        }
    }
    match (&labgrid.place, labgrid.tags.is_empty()) {
        (None, true) => {
            return Err(at(
                "hardware.labgrid",
                "expected `place: NAME` or `tags: { key: value }` to choose the place".into(),
            ))
        }
        (Some(_), false) => {
            return Err(at(
                "hardware.labgrid.tags",
                "`place` and `tags` are exclusive: name the place, or the tags of any free one"
                    .into(),
            ))
        }
        (Some(place), true) if !labgrid_word(place, true) => {
            return Err(at(
                "hardware.labgrid.place",
                format!("expected a place name (letters, digits, `-`, `_`, `.`), got {place:?}"),
            ))
        }
        _ => {}
    }
    for (key, value) in &labgrid.tags {
        // labgrid's coordinator refuses tag keys outside [a-z][a-z0-9_]+.
        let key_ok = key.len() >= 2
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok || !labgrid_word(value, false) {
            return Err(at(
                &format!("hardware.labgrid.tags.{key}"),
                format!(
                    "expected a tag key of lowercase letters, digits and `_` (starting with a letter, two or more) and a value without spaces, got {key:?}: {value:?}"
                ),
            ));
        }
    }
    if labgrid.wait_s == 0 || labgrid.wait_s > 24 * 3600 {
        return Err(at(
            "hardware.labgrid.wait_s",
            "expected seconds from 1 to 86400".into(),
        ));
    }
    if let Some(why) = labgrid.interface.as_deref().and_then(bad_interface_name) {
        return Err(at("hardware.labgrid.interface", why));
    }
    Ok(())
}

/// A place name or tag value: no spaces, no control characters, bounded.
fn labgrid_word(value: &str, strict: bool) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || "-_.".contains(c) || (!strict && "+:/@".contains(c))
        })
}

fn validate_qemu(
    file: &Path,
    text: &str,
    spec: &BoardFile,
    qemu: &QemuWiring,
) -> Result<(), DefinitionError> {
    let hw = &spec.hardware;
    let at = |field: &str, why: String| DefinitionError::at_field(file, text, field, why);
    for (field, given) in [
        ("serial", hw.serial.is_some()),
        ("debug", hw.debug.is_some()),
        ("power", hw.power.is_some()),
    ] {
        if given {
            return Err(at(
                &format!("hardware.{field}"),
                format!(
                    "a QEMU board's {field} comes from `hardware.qemu`; remove `hardware.{field}`"
                ),
            ));
        }
    }
    let word = |v: &str| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.,=/+:".contains(c))
    };
    if qemu.system.is_empty() || qemu.system.contains(char::is_whitespace) {
        return Err(at(
            "hardware.qemu.system",
            format!(
                "expected a QEMU binary such as `qemu-system-arm`, got {:?}",
                qemu.system
            ),
        ));
    }
    for (field, value) in [
        ("hardware.qemu.machine", Some(&qemu.machine)),
        ("hardware.qemu.cpu", qemu.cpu.as_ref()),
        ("hardware.qemu.memory", qemu.memory.as_ref()),
    ] {
        if let Some(value) = value.filter(|v| !word(v)) {
            return Err(at(
                field,
                format!("{value:?} is not a QEMU option value (letters, digits, `-_.,=/+:`)"),
            ));
        }
    }
    let base = file.parent().unwrap_or(Path::new("."));
    let mut files: Vec<(String, &PathBuf)> = Vec::new();
    for (field, path) in [
        ("bios", &qemu.bios),
        ("kernel", &qemu.kernel),
        ("initrd", &qemu.initrd),
    ] {
        if let Some(path) = path {
            files.push((format!("hardware.qemu.{field}"), path));
        }
    }
    for (i, path) in qemu.pflash.iter().enumerate() {
        files.push((format!("hardware.qemu.pflash[{i}]"), path));
    }
    for (i, drive) in qemu.drives.iter().enumerate() {
        files.push((format!("hardware.qemu.drives[{i}].file"), &drive.file));
        for (what, value) in [("format", &drive.format), ("interface", &drive.interface)] {
            if !word(value) || value.contains(',') {
                return Err(at(
                    &format!("hardware.qemu.drives[{i}].{what}"),
                    format!("{value:?} is not a QEMU drive {what}"),
                ));
            }
        }
    }
    for (field, path) in files {
        let full = base.join(path);
        if !full.is_file() {
            let mut error = at(
                &field,
                format!(
                    "{} is not a file (relative paths start at the board file)",
                    full.display()
                ),
            );
            if error.line.is_none() {
                // A list item has no line of its own: the list's line.
                let parent = field
                    .rsplit_once(['[', '.'])
                    .map(|(p, _)| p)
                    .unwrap_or("hardware.qemu");
                error = at(parent, error.message.clone());
                error.field = Some(field.clone());
            }
            return Err(error);
        }
    }
    if let QemuNetwork::Tap(tap) = &qemu.network {
        let name_ok = (1..=15).contains(&tap.ifname.len())
            && tap
                .ifname
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(at(
                "hardware.qemu.network.tap.ifname",
                format!(
                    "{:?} is not an interface name (1 to 15 letters, digits, `-`, `_`, `.`)",
                    tap.ifname
                ),
            ));
        }
        if tap.host_cidr().is_none() {
            return Err(at(
                "hardware.qemu.network.tap.host_address",
                format!(
                    "expected this host's address with its prefix length, such as `198.19.10.1/24`, got {:?}",
                    tap.host_address
                ),
            ));
        }
        if !word(&tap.model) || tap.model.contains(',') {
            return Err(at(
                "hardware.qemu.network.tap.model",
                format!("{:?} is not a QEMU network card model", tap.model),
            ));
        }
        if let Some(mac) = &tap.mac {
            let parts: Vec<&str> = mac.split(':').collect();
            let ok = parts.len() == 6
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
            if !ok {
                return Err(at(
                    "hardware.qemu.network.tap.mac",
                    format!("expected a MAC address such as `52:54:00:12:34:56`, got {mac:?}"),
                ));
            }
        }
        match spec.hardware.network.as_ref().map(|n| n.interface.as_deref()) {
            Some(Some(interface)) if interface == tap.ifname => {}
            Some(_) => {
                return Err(at(
                    "hardware.network.interface",
                    format!(
                        "the board's link is the QEMU tap: expected `interface: {}`",
                        tap.ifname
                    ),
                ))
            }
            None => {
                return Err(at(
                    "hardware.network",
                    format!(
                        "a QEMU tap network needs `hardware.network` with the guest's address and `interface: {}`",
                        tap.ifname
                    ),
                ))
            }
        }
    }
    if qemu.boot_s == 0 || qemu.boot_s > 3600 {
        return Err(at(
            "hardware.qemu.boot_s",
            "expected seconds from 1 to 3600".into(),
        ));
    }
    if qemu.start_timeout_s == 0 || qemu.start_timeout_s > 300 {
        return Err(at(
            "hardware.qemu.start_timeout_s",
            "expected seconds from 1 to 300".into(),
        ));
    }
    Ok(())
}

/// Every declared device dialogue: its field and the placeholders the
/// checks fill in for it.
fn dialogues(
    decl: &Declaration,
) -> Vec<(&'static str, Option<&Dialogue>, &'static [&'static str])> {
    let console = decl.console.as_ref();
    let config = decl.configuration.as_ref().and_then(|c| c.console.as_ref());
    let log = decl.logging.as_ref().and_then(|l| l.event_log.as_ref());
    let state = decl.state.as_ref();
    vec![
        (
            "declares.console.change_password",
            console.and_then(|c| c.change_password.as_ref()),
            &["{old}", "{new}"],
        ),
        (
            "declares.console.reboot",
            console.and_then(|c| c.reboot.as_ref()),
            &[],
        ),
        (
            "declares.configuration.console.get",
            config.map(|c| &c.get),
            &["{param}"],
        ),
        (
            "declares.configuration.console.set",
            config.map(|c| &c.set),
            &["{param}", "{value}"],
        ),
        (
            "declares.logging.event_log.console",
            log.and_then(|l| l.console.as_ref()),
            &[],
        ),
        (
            "declares.logging.event_log.console_clear",
            log.and_then(|l| l.console_clear.as_ref()),
            &[],
        ),
        (
            "declares.state.console",
            state.and_then(|s| s.console.as_ref()),
            &[],
        ),
        (
            "declares.state.version_console",
            state.and_then(|s| s.version_console.as_ref()),
            &[],
        ),
        (
            "declares.factory_reset.console",
            decl.factory_reset.as_ref().and_then(|f| f.console.as_ref()),
            &[],
        ),
    ]
}

/// What is wrong with a TLS client's declaration, if anything: the field
/// below `declares.tls_clients[i]` and why.
fn tls_client_error(client: &TlsClientDecl, hw: &Hardware) -> Option<(&'static str, String)> {
    let network = hw.network.as_ref();
    if client.server_parameter.is_some() == client.server.is_some() {
        return Some((
            "",
            "expected exactly one of `server_parameter` (a setting hilt points at its own servers) or `server` (the fixed host:port the device calls, with `takeover`)".into(),
        ));
    }
    if client.interval_s == Some(0) {
        return Some((".interval_s", "expected seconds above 0".into()));
    }
    let Some(server) = &client.server else {
        return match (&client.takeover, &client.resolves_to) {
            (Some(_), _) => Some((".takeover", "`takeover` is for a fixed `server`; this client's server is the setting `server_parameter`".into())),
            (_, Some(_)) => Some((".resolves_to", "`resolves_to` is for a fixed `server` given by name".into())),
            _ => None,
        };
    };
    let literal = server.host.parse::<IpAddr>().ok();
    if literal.is_some() && client.resolves_to.is_some() {
        return Some((
            ".resolves_to",
            format!(
                "`server` is already an address ({}); `resolves_to` is for a name",
                server.host
            ),
        ));
    }
    let Some(address) = client.fixed_address() else {
        return Some((
            ".server",
            format!(
                "{} is a name: add `resolves_to: <address>` (what the device resolves it to, as observed); hilt takes that address over and does not answer the device's DNS",
                server.host
            ),
        ));
    };
    let field = if literal.is_some() {
        ".server"
    } else {
        ".resolves_to"
    };
    let ip = address.ip();
    let bad_kind = match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    };
    if bad_kind {
        return Some((field, format!("{ip} is not an address a server can hold")));
    }
    let Some(takeover) = &client.takeover else {
        return Some((
            ".server",
            "a fixed `server` needs `takeover`: `address` (hilt adds the server's address to the host side of the board's link) or `{ redirect: { netns: NAME } }` (a rule in the board's network namespace)".into(),
        ));
    };
    let Some(network) = network else {
        return Some((
            ".takeover",
            "taking a server over happens on the board's link: `hardware.network` is missing"
                .into(),
        ));
    };
    if ip.is_ipv4() != network.address.is_ipv4() {
        return Some((
            field,
            format!(
                "{ip} and the board's address {} are of different IP versions",
                network.address
            ),
        ));
    }
    if ip == network.address {
        return Some((field, format!("{ip} is the board's own address")));
    }
    match takeover {
        Takeover::Address if network.interface.is_none() => Some((
            ".takeover",
            "`takeover: address` adds the server's address to the host side of the board's link: name it in `hardware.network.interface`".into(),
        )),
        Takeover::Redirect(r) if bad_netns_name(&r.netns) => Some((
            ".takeover.redirect.netns",
            format!("{:?} is not a network namespace name", r.netns),
        )),
        Takeover::Redirect(_) if network.host_address.is_none() => Some((
            ".takeover",
            "a redirect sends the client to this host's address on the link: name it in `hardware.network.host_address`".into(),
        )),
        _ => None,
    }
}

fn bad_netns_name(name: &str) -> bool {
    name.is_empty()
        || name.len() > 255
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
}

/// Why `name` cannot be a Linux interface name, if so.
fn bad_interface_name(name: &str) -> Option<String> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    bad.then(|| format!("{name:?} is not an interface name (1 to 15 bytes, no '/', ':' or spaces)"))
}

fn list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let items: Vec<&str> = items.map(String::as_str).collect();
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// APIs: accounts that exist, one token source, valid patterns, and
/// resources that name an API the board declares.
/// The board's lockout and each interface's: numbers a lockout can have,
/// and adjustable settings only on the board's (checks change them
/// through the configuration routes, which are the board's).
fn validate_lockouts(file: &Path, text: &str, spec: &BoardFile) -> Result<(), DefinitionError> {
    let decl = &spec.declares;
    let board = decl
        .lockout
        .as_ref()
        .map(|l| ("declares.lockout".to_string(), l));
    let interfaces = decl
        .interfaces
        .iter()
        .enumerate()
        .filter_map(|(i, interface)| {
            interface
                .lockout
                .as_ref()
                .map(|l| (format!("declares.interfaces[{i}].lockout"), l))
        });
    for (at, lockout) in board.into_iter().chain(interfaces) {
        let error = |field: &str, why: &str| {
            DefinitionError::at_field(file, text, &format!("{at}.{field}"), why)
        };
        if lockout.threshold == 0 {
            return Err(error(
                "threshold",
                "expected the number of attempts counted before the lock (1 or more); a device that locks before any attempt is not a lockout",
            ));
        }
        if lockout.window_s == Some(0) {
            return Err(error(
                "window_s",
                "expected the counting window in seconds (1 or more): how long an attempt keeps counting; leave it out when the count starts over only after a lock",
            ));
        }
        if at != "declares.lockout" {
            for (field, set) in [
                ("threshold_parameter", lockout.threshold_parameter.is_some()),
                ("delay_parameter", lockout.delay_parameter.is_some()),
            ] {
                if set {
                    return Err(error(
                        field,
                        "an interface's lockout is not adjustable here: declare adjustable lockout settings under `declares.lockout`",
                    ));
                }
            }
        }
    }
    for (i, interface) in decl.interfaces.iter().enumerate() {
        if interface.lockout.is_some() && interface.auth != AuthRequirement::Required {
            return Err(DefinitionError::at_field(
                file,
                text,
                &format!("declares.interfaces[{i}].lockout"),
                "a lockout on an interface that takes no login: declare `auth: required`, or remove the lockout",
            ));
        }
    }
    Ok(())
}

fn validate_apis(file: &Path, text: &str, spec: &BoardFile) -> Result<(), DefinitionError> {
    let decl = &spec.declares;
    for (i, interface) in decl.interfaces.iter().enumerate() {
        let Some(api) = &interface.api else { continue };
        let at = |field: &str| format!("declares.interfaces[{i}].api{field}");
        for account in &api.accounts {
            if !decl.accounts.contains_key(account) {
                return Err(DefinitionError::at_field(
                    file,
                    text,
                    &at(".accounts"),
                    format!(
                        "account {account:?} is not declared under `declares.accounts` (declared: {})",
                        list(decl.accounts.keys())
                    ),
                ));
            }
        }
        match &api.auth {
            ApiAuth::Bearer(b) if b.token.is_some() == b.login.is_some() => {
                return Err(DefinitionError::at_field(
                    file,
                    text,
                    &at(".auth.bearer"),
                    "expected exactly one of `token` (env:NAME or file:PATH) or `login` ({ path, user_field, password_field, token_field })",
                ));
            }
            ApiAuth::Form(form) => {
                if let Some(Err(e)) = form
                    .success
                    .as_ref()
                    .and_then(|s| s.pattern.as_deref())
                    .map(regex::Regex::new)
                {
                    return Err(DefinitionError::at_field(
                        file,
                        text,
                        &at(".auth.form.success.pattern"),
                        format!("invalid regular expression: {e}"),
                    ));
                }
            }
            _ => {}
        }
    }
    let refs: Vec<(&str, Option<&ApiRef>)> = vec![
        (
            "declares.state.api",
            decl.state.as_ref().and_then(|s| s.api.as_ref()),
        ),
        (
            "declares.configuration.http.api",
            decl.configuration
                .as_ref()
                .and_then(|c| c.http.as_ref())
                .and_then(|h| h.api.as_ref()),
        ),
        (
            "declares.update.http.api",
            decl.update
                .as_ref()
                .and_then(|u| u.http.as_ref())
                .and_then(|h| h.api.as_ref()),
        ),
        (
            "declares.logging.event_log.api",
            decl.logging
                .as_ref()
                .and_then(|l| l.event_log.as_ref())
                .and_then(|e| e.api.as_ref()),
        ),
        (
            "declares.factory_reset.api",
            decl.factory_reset.as_ref().and_then(|f| f.api.as_ref()),
        ),
    ];
    let identity = decl
        .identity
        .iter()
        .flat_map(|i| &i.logical)
        .filter_map(|s| match s {
            IdentitySource::Http { api, .. } => api.as_ref(),
            IdentitySource::Console { .. } => None,
        });
    // The update paths and read-back sources on an API.
    let mut update_refs: Vec<(String, &ApiRef)> = Vec::new();
    if let Some(update) = &decl.update {
        for (i, path) in update.paths.iter().enumerate() {
            if let UpdatePath::Http(h) = path {
                if let Some(api) = &h.api {
                    update_refs.push((format!("declares.update.paths[{i}].http.api"), api));
                }
            }
        }
        for (i, source) in update.read_back.iter().enumerate() {
            if let ReadBack::Http(h) = source {
                if let Some(api) = &h.api {
                    update_refs.push((format!("declares.update.read_back[{i}].http.api"), api));
                }
            }
        }
    }
    let refs = refs
        .into_iter()
        .chain(identity.map(|r| ("declares.identity.logical.api", Some(r))))
        .chain(update_refs.iter().map(|(f, r)| (f.as_str(), Some(*r))));
    for (field, wanted) in refs {
        if let Some(wanted) = wanted {
            if spec.api(Some(wanted)).is_none() {
                let known: Vec<String> = spec
                    .apis()
                    .iter()
                    .map(|a| match &a.decl.name {
                        Some(n) => format!("{} ({n})", a.port()),
                        None => a.port().to_string(),
                    })
                    .collect();
                return Err(DefinitionError::at_field(
                    file,
                    text,
                    field,
                    format!(
                        "no API {wanted} among the declared interfaces (APIs: {})",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The first problem of an update declaration: (field, message).
fn update_problem(update: &UpdateDecl) -> Option<(String, String)> {
    let field = |f: &str| format!("declares.update{f}");
    if update.not_updatable() {
        if !update.paths.is_empty() || update.http.is_some() {
            return Some((
                field(".mechanism"),
                "`mechanism: none` says the device cannot be updated, yet update paths are declared".into(),
            ));
        }
        return None;
    }
    let paths = update.all_paths();
    match update.mechanism {
        Some(UpdateMechanism::Http)
            if update.http.is_none() && !paths.iter().any(|p| p.kind() == "http") =>
        {
            return Some((
                field(".mechanism"),
                "`mechanism: http` needs the `http` field (or an `http` entry under `paths`)"
                    .into(),
            ));
        }
        Some(UpdateMechanism::Probe) if !paths.iter().any(|p| p.kind() == "probe") => {
            return Some((
                field(".mechanism"),
                "`mechanism: probe` needs a `probe: { address, size }` entry under `paths`".into(),
            ));
        }
        _ => {}
    }
    if paths.is_empty() {
        return Some((
            field(""),
            "expected `paths` (how the device takes an image) or `mechanism: none`".into(),
        ));
    }
    if update.trusted_key.is_none() {
        return Some((
            field(""),
            "expected `trusted_key` (the manufacturer's public signing key, PEM): forged images are judged against it; only `mechanism: none` needs none".into(),
        ));
    }
    for (i, path) in update.paths.iter().enumerate() {
        let at = |f: &str| field(&format!(".paths[{i}]{f}"));
        match path {
            UpdatePath::Console(c) => {
                if !c.command.contains("{chunk}") {
                    return Some((
                        at(".console.command"),
                        "expected `{chunk}` where the encoded bytes go".into(),
                    ));
                }
                if c.chunk_size == 0 || c.chunk_size > 4096 {
                    return Some((at(".console.chunk_size"), "expected 1 to 4096 bytes".into()));
                }
                if let Err(e) = regex::Regex::new(&c.success) {
                    return Some((
                        at(".console.success"),
                        format!("not a regular expression: {e}"),
                    ));
                }
            }
            UpdatePath::Http(h) if !h.path.starts_with('/') || !h.reboot.starts_with('/') => {
                return Some((
                    at(".http"),
                    "`path` and `reboot` are absolute paths (`/...`)".into(),
                ));
            }
            UpdatePath::Probe(p) if p.size == 0 => {
                return Some((
                    at(".probe.size"),
                    "expected the slot's size in bytes".into(),
                ));
            }
            _ => {}
        }
    }
    for (i, source) in update.read_back.iter().enumerate() {
        let at = |f: &str| field(&format!(".read_back[{i}]{f}"));
        match source {
            ReadBack::Smp if !paths.iter().any(UpdatePath::is_smp) => {
                return Some((
                    at(""),
                    "`smp` reads `image state` over an SMP path, and none is declared".into(),
                ));
            }
            ReadBack::Console(c) => {
                for (name, pattern) in [("version", &c.version), ("sha256", &c.sha256)] {
                    match regex::Regex::new(pattern) {
                        Ok(re) if re.captures_len() >= 2 => {}
                        Ok(_) => {
                            return Some((
                                at(&format!(".console.{name}")),
                                "expected one group `(...)` around the value".into(),
                            ))
                        }
                        Err(e) => {
                            return Some((
                                at(&format!(".console.{name}")),
                                format!("not a regular expression: {e}"),
                            ))
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if update.read_back_sources().is_empty() {
        return Some((
            field(".read_back"),
            "expected where hilt reads which image runs (`smp`, `http: {path, version_field, sha256_field}` or `console: {command, version, sha256}`): without it no update attempt can be judged".into(),
        ));
    }
    None
}
