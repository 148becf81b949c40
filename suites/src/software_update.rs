//! Software Update (NIST IR 8259A SU-1 to SU-6): forged, tampered and
//! unauthenticated updates sent through the declared update mechanism.
//!
//! Every negative check proves its negative by authorized read-back: after
//! the device reboots, the running image (hash, version and whether it is
//! confirmed, as MCUmgr's `image state` reports) must be the one that ran
//! before. An error code at upload proves nothing on its own.

use std::sync::Arc;
use std::time::Duration;

use ciborium::Value;
use hilt_harness::board::{Board, Reference, UpdateMechanism};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console as dialogue;
use hilt_harness::transport::serial;
use hilt_harness::transport::smp::{SlotState, Smp, SmpError, GROUP_IMAGE};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_image::{forge, sign, ForgeKeys, Forgery, Image, SignOptions, SigningKey};
use sha2::{Digest, Sha256};

use crate::console::{self, STEP};

mod primary_slot;
mod update_setting;
pub use primary_slot::PrimarySlotTamper;
pub use update_setting::UpdateSettingEnforced;

/// How long a reboot may take before the board counts as not answering.
const BOOT: Duration = Duration::from_secs(20);

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(GenuineUpdate),
        Arc::new(Forged(&UNSIGNED)),
        Arc::new(Forged(&BAD_SIGNATURE)),
        Arc::new(Forged(&TAMPERED_PAYLOAD)),
        Arc::new(Forged(&WRONG_KEY)),
        Arc::new(Forged(&LYING_SIZE)),
        Arc::new(Rollback),
        Arc::new(Forged(&EDITED_COUNTER)),
        Arc::new(UnauthenticatedUpdate),
        Arc::new(UpdateSettingEnforced),
        Arc::new(PrimarySlotTamper),
    ]
}

/// A forged image and the check that sends it.
struct ForgedSpec {
    meta: CheckMeta,
    make: fn(&[u8]) -> Result<Vec<u8>, String>,
}

const fn meta(
    name: &'static str,
    id: &'static str,
    title: &'static str,
    en: &'static [&'static str],
    ts: &'static [&'static str],
) -> CheckMeta {
    CheckMeta {
        name,
        capability: Capability::SoftwareUpdate,
        catalogue_id: id,
        title,
        expected: "the update is rejected and the image that ran before still runs, confirmed",
        nistir_8259a: &["SU-2"],
        en_303_645: en,
        ts_103_701: ts,
        cra_annex_i: &["f"],
        destructive: true,
        default_timeout: Duration::from_secs(120),
        params: &[],
    }
}

static UNSIGNED: ForgedSpec = ForgedSpec {
    meta: meta(
        "unsigned_image",
        "SU-02",
        "Unsigned image is rejected",
        &["5.3-9", "5.3-10", "5.7-1"],
        &["5.3-10-2", "5.7-1-2"],
    ),
    make: unsigned,
};
static BAD_SIGNATURE: ForgedSpec = ForgedSpec {
    meta: meta(
        "bad_signature",
        "SU-03",
        "Image with an invalid signature is rejected",
        &["5.3-10"],
        &["5.3-10-2"],
    ),
    make: bad_signature,
};
static TAMPERED_PAYLOAD: ForgedSpec = ForgedSpec {
    meta: meta(
        "tampered_payload",
        "SU-04",
        "Image with a tampered payload is rejected",
        &["5.3-10", "5.7-1"],
        &["5.3-10-2", "5.7-1-2"],
    ),
    make: tampered_payload,
};
static WRONG_KEY: ForgedSpec = ForgedSpec {
    meta: meta(
        "wrong_key",
        "SU-05",
        "Image signed by an untrusted key is rejected",
        &["5.3-10", "5.4-4"],
        &["5.3-10-2"],
    ),
    make: wrong_key,
};
static LYING_SIZE: ForgedSpec = ForgedSpec {
    meta: meta(
        "truncated_image",
        "SU-06",
        "Image whose header lies about its size is rejected",
        &["5.3-2"],
        &["5.3-2-2"],
    ),
    make: lying_size,
};
static EDITED_COUNTER: ForgedSpec = ForgedSpec {
    meta: meta(
        "edited_security_counter",
        "SU-09",
        "Protected metadata edited without re-signing is rejected",
        &["5.3-10"],
        &["5.3-10-2"],
    ),
    make: edited_counter,
};

/// The golden payload with its last byte changed, so every image built from
/// it differs (by hash) from the image the board runs: an image that is
/// installed is then visible in `image state`.
fn distinct_payload(golden: &[u8]) -> Result<(Image, Vec<u8>), String> {
    let image = Image::parse(golden).map_err(|e| format!("golden image: {e}"))?;
    let mut payload = golden
        .get(image.payload.clone())
        .ok_or("golden image payload out of range")?
        .to_vec();
    if let Some(last) = payload.last_mut() {
        *last ^= 0x5a;
    }
    Ok((image, payload))
}

fn options_like(image: &Image) -> SignOptions {
    SignOptions {
        version: image.header.version,
        security_counter: image.security_counter(),
        header_size: image.header.hdr_size,
        ..SignOptions::default()
    }
}

fn unsigned(golden: &[u8]) -> Result<Vec<u8>, String> {
    let (image, payload) = distinct_payload(golden)?;
    sign(&payload, &options_like(&image), None).map_err(|e| e.to_string())
}

fn bad_signature(golden: &[u8]) -> Result<Vec<u8>, String> {
    // The golden image with its payload changed and the hash TLV fixed to
    // match: only the (genuine) signature no longer fits.
    let image = Image::parse(golden).map_err(|e| format!("golden image: {e}"))?;
    let mut bytes = golden.to_vec();
    let at = image.payload.end.checked_sub(1).ok_or("empty payload")?;
    bytes[at] ^= 0x5a;
    let digest = Sha256::digest(&bytes[image.hashed_range()]);
    let hash_tlv = image
        .tlvs()
        .find(|t| t.kind == hilt_image::tlv::SHA256)
        .ok_or("golden image has no SHA256 TLV")?;
    bytes[hash_tlv.data_range()].copy_from_slice(&digest);
    Ok(bytes)
}

pub(crate) fn tampered_payload(golden: &[u8]) -> Result<Vec<u8>, String> {
    forge(golden, &Forgery::TamperedPayload, &ForgeKeys::default()).map_err(|e| e.to_string())
}

fn wrong_key(golden: &[u8]) -> Result<Vec<u8>, String> {
    let (image, payload) = distinct_payload(golden)?;
    let kind = match image.signature_kind() {
        Some(hilt_image::SignatureKind::Ecdsa) => hilt_image::KeyKind::EcdsaP256,
        _ => hilt_image::KeyKind::Ed25519,
    };
    let attacker = SigningKey::generate(kind);
    sign(&payload, &options_like(&image), Some(&attacker)).map_err(|e| e.to_string())
}

fn lying_size(golden: &[u8]) -> Result<Vec<u8>, String> {
    forge(golden, &Forgery::LyingImgSize, &ForgeKeys::default()).map_err(|e| e.to_string())
}

fn edited_counter(golden: &[u8]) -> Result<Vec<u8>, String> {
    forge(
        golden,
        &Forgery::EditedSecurityCounter,
        &ForgeKeys::default(),
    )
    .map_err(|e| e.to_string())
}

pub(crate) fn smp_applicable(board: &Board) -> Applicability {
    let Some(update) = &board.spec.declares.update else {
        return Applicability::not_applicable(
            "the declaration names no update mechanism (declares.update)",
            &["declares.update"],
        );
    };
    if update.mechanism == UpdateMechanism::None {
        return Applicability::not_applicable("the device declares it cannot be updated", &[]);
    }
    if update.mechanism != UpdateMechanism::SmpSerial {
        // No field makes hilt drive a mechanism it has no driver for.
        return Applicability::not_applicable(
            format!(
                "update mechanism {:?} is not driven by hilt yet (SMP over serial is)",
                update.mechanism
            ),
            &[],
        );
    }
    if update.golden.is_none() {
        return Applicability::not_applicable(
            "no golden image declared (declares.update.golden) to derive test images from",
            &["declares.update.golden"],
        );
    }
    // One missing field at a time, so the preview names what to add.
    let needs_console = "SMP over serial needs the console (hardware.serial, declares.console)";
    if board.spec.hardware.serial.is_none() {
        return Applicability::not_applicable(
            needs_console,
            &["hardware.serial.port", "hardware.serial.tcp"],
        );
    }
    if board.spec.declares.console.is_none() {
        return Applicability::not_applicable(needs_console, &["declares.console"]);
    }
    Applicability::Applicable
}

pub(crate) fn golden(ctx: &CheckContext) -> Result<Vec<u8>, CheckError> {
    let path = ctx
        .board()
        .spec
        .declares
        .update
        .as_ref()
        .and_then(|u| u.golden.clone())
        .ok_or_else(|| CheckError::Harness("no golden image declared".into()))?;
    let path = ctx.board().resolve_path(&path);
    std::fs::read(&path).map_err(|e| {
        CheckError::Harness(format!("cannot read golden image {}: {e}", path.display()))
    })
}

/// The hash MCUmgr's `image state` reports for an image: SHA-256 over
/// header, payload and protected TLVs, computed here (not read from the
/// image's own hash TLV, which a forgery may carry unchanged).
pub(crate) fn computed_hash(image: &[u8]) -> Result<Vec<u8>, CheckError> {
    let parsed = Image::parse(image).map_err(|e| CheckError::Harness(format!("image: {e}")))?;
    image
        .get(parsed.hashed_range())
        .map(|b| Sha256::digest(b).to_vec())
        .ok_or_else(|| CheckError::Harness("image hash range out of bounds".into()))
}

pub(crate) fn smp_fault(e: SmpError) -> CheckError {
    match e {
        SmpError::Serial(s) => s.into(),
        other => CheckError::Board(other.to_string()),
    }
}

/// The running slot as `image state` reports it.
pub(crate) fn running(ctx: &mut CheckContext) -> Result<SlotState, CheckError> {
    let console = ctx.console()?;
    let states = Smp::new(console, STEP).image_state().map_err(smp_fault)?;
    states
        .into_iter()
        .find(|s| s.active)
        .ok_or_else(|| CheckError::Board("image state names no active image".into()))
}

fn describe(state: &SlotState) -> String {
    format!(
        "version {} hash {}{}",
        state.version,
        hex::encode(&state.hash),
        if state.confirmed {
            " (confirmed)"
        } else {
            " (NOT confirmed: test boot)"
        }
    )
}

/// Resets the board through SMP and waits for it to come back to its
/// login prompt; returns the boot log.
pub(crate) fn reboot(ctx: &mut CheckContext) -> Result<String, CheckError> {
    reset_and_wait(ctx)?.map_err(|tail| {
        CheckError::Board(format!(
            "no login prompt within {BOOT:?} after a reset; the console printed {tail:?}"
        ))
    })
}

/// Resets through SMP and waits for the prompt: the boot log, or (inner
/// `Err`) what the console printed before the boot timeout ran out.
fn reset_and_wait(ctx: &mut CheckContext) -> Result<Result<String, String>, CheckError> {
    let console = ctx.console()?;
    match Smp::new(console, STEP).reset() {
        Ok(()) => {}
        // Some devices reset before answering.
        Err(SmpError::Serial(serial::SerialError::Timeout { .. })) => {}
        Err(e) => return Err(smp_fault(e)),
    }
    let decl = ctx.console_decl()?;
    // The boot ends at the login prompt, or at the shell on a console that
    // asks for none (which AU-09 reports; here it only ends the wait).
    let mut ends = vec![decl.prompt_pattern()];
    ends.extend(decl.login_pattern());
    let ends: Vec<&str> = ends.iter().map(String::as_str).collect();
    let console = ctx.console()?;
    match console.expect_any(&ends, BOOT) {
        Ok(found) => Ok(Ok(found.before)),
        Err(serial::SerialError::Timeout { tail, .. }) => Ok(Err(tail)),
        Err(e) => Err(e.into()),
    }
}

/// How a reboot after an update attempt ended.
pub(crate) enum Boot {
    /// The login prompt came back; the boot log.
    Booted(String),
    /// No prompt within the boot timeout; what the console printed. The
    /// board was then power-cycled and came back (else an error is returned).
    HungUntilPowerCycle(String),
}

/// Like [`reboot`], but a device that hangs is power-cycled once: a hang
/// after a bad image is the device's failure ("no brick"), while a board
/// that does not come back even then is a board fault.
pub(crate) fn reboot_or_hang(ctx: &mut CheckContext) -> Result<Boot, CheckError> {
    match reset_and_wait(ctx)? {
        Ok(log) => Ok(Boot::Booted(log)),
        Err(tail) => {
            if ctx.board().spec.hardware.power.is_none() {
                return Err(CheckError::Board(format!(
                    "the device did not boot within {BOOT:?} after the update attempt and no power control is wired to recover it (console: {tail:?})"
                )));
            }
            let decl = ctx.console_decl()?;
            console::restart(ctx, &decl, &decl.logout.clone())?;
            Ok(Boot::HungUntilPowerCycle(tail))
        }
    }
}

/// The one line of a boot log that states the bootloader's verdict.
fn verdict_lines(boot_log: &str) -> String {
    let lines: Vec<&str> = boot_log
        .lines()
        .map(str::trim)
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("verif") || l.contains("verdict") || l.contains("reject")
        })
        .collect();
    if lines.is_empty() {
        "boot log shows no verification line".into()
    } else {
        lines.join(" / ")
    }
}

/// What happened when an image went through the update path.
pub(crate) struct Attempt {
    pub(crate) steps: Vec<String>,
    pub(crate) before: SlotState,
    pub(crate) after: SlotState,
    pub(crate) boot_log: String,
    /// The device hung at the reboot and needed a power cycle.
    pub(crate) hung: bool,
}

impl Attempt {
    pub(crate) fn observed(&self) -> String {
        format!(
            "{}; after reboot: {}; before: {}; bootloader: {}",
            self.steps.join(", "),
            describe(&self.after),
            describe(&self.before),
            verdict_lines(&self.boot_log)
        )
    }

    /// The image that ran before still runs, confirmed.
    fn unchanged(&self) -> bool {
        self.after.hash == self.before.hash
            && self.after.version == self.before.version
            && self.after.confirmed
    }
}

/// Sends `image` through SMP as an authorized user would (upload, request a
/// test boot, reset) and reads the running image back after the reboot.
pub(crate) fn attempt_update(ctx: &mut CheckContext, image: &[u8]) -> Result<Attempt, CheckError> {
    let decl = console::open_shell(ctx)?;
    let before = running(ctx)?;
    if !before.confirmed {
        return Err(CheckError::Board(format!(
            "the board runs an unconfirmed image before the check ({}); restore it first",
            describe(&before)
        )));
    }
    let console = ctx.console()?;
    let mut smp = Smp::new(console, STEP);
    let mut steps = Vec::new();
    match smp.upload(image) {
        Ok(()) => {
            steps.push("upload accepted".to_string());
            let slot1 = smp
                .image_state()
                .map_err(smp_fault)?
                .into_iter()
                .find(|s| s.slot == 1);
            match slot1 {
                Some(slot) => match smp.mark(&slot.hash, false) {
                    Ok(()) => steps.push("test boot requested".into()),
                    Err(SmpError::Refused(rc)) => {
                        steps.push(format!("test request refused (rc {rc})"))
                    }
                    Err(e) => return Err(smp_fault(e)),
                },
                None => steps.push("slot 1 holds no image after upload".into()),
            }
        }
        Err(SmpError::Refused(rc)) => steps.push(format!("upload refused (rc {rc})")),
        Err(e) => return Err(smp_fault(e)),
    }
    let (boot_log, hung) = match reboot_or_hang(ctx)? {
        Boot::Booted(log) => (log, false),
        Boot::HungUntilPowerCycle(log) => {
            steps.push("the device hung at reboot and booted only after a power cycle".into());
            (log, true)
        }
    };
    ctx.evidence().text(
        "boot.log",
        "text/plain",
        "boot log after the update attempt",
        &boot_log,
    )?;
    console::open_shell(ctx)?;
    let after = running(ctx)?;
    console::close_shell(ctx, &decl)?;
    Ok(Attempt {
        steps,
        before,
        after,
        boot_log,
        hung,
    })
}

/// Installs `image` through the declared HTTPS update path as an
/// authorized user (upload, reboot) and reads the running image back.
pub(crate) fn http_update(
    ctx: &mut CheckContext,
    http: &hilt_harness::board::HttpUpdateDecl,
    image: &[u8],
) -> Result<(Vec<String>, SlotState), CheckError> {
    use crate::api::{self, Auth};
    use hilt_net::http::HttpRequest;
    let target = api::target(ctx)?;
    let mut steps = Vec::new();
    let upload = HttpRequest::post(&http.upload)
        .header("Content-Type", "application/octet-stream")
        .body(image.to_vec());
    let response = api::send(ctx, &target, upload, Auth::Declared)?;
    steps.push(format!("upload answered {}", response.status));
    if !(200..300).contains(&response.status) {
        return Err(CheckError::Board(format!(
            "the authorized HTTPS upload was refused ({} {})",
            response.status,
            response.text().chars().take(200).collect::<String>()
        )));
    }
    let response = api::send(
        ctx,
        &target,
        HttpRequest::post(&http.reboot),
        Auth::Declared,
    )?;
    steps.push(format!("reboot answered {}", response.status));
    let decl = ctx.console_decl()?;
    console::await_boot(ctx, &decl)?;
    console::open_shell(ctx)?;
    let after = running(ctx)?;
    console::close_shell(ctx, &decl)?;
    Ok((steps, after))
}

struct Forged(&'static ForgedSpec);

impl Check for Forged {
    fn meta(&self) -> &CheckMeta {
        &self.0.meta
    }

    fn uses(&self) -> &'static [Reference] {
        &[Reference::GoldenImage, Reference::TrustedKey]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        smp_applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let forged = (self.0.make)(&golden(ctx)?)
            .map_err(|e| CheckError::Harness(format!("forging: {e}")))?;
        ctx.evidence().bytes(
            "forged.bin",
            "application/octet-stream",
            &format!("the forged image sent ({})", self.0.meta.title),
            forged.clone(),
        )?;
        let attempt = attempt_update(ctx, &forged)?;
        if attempt.hung {
            return Ok(Finding::fail(
                "the device hung after the forged image and booted only after a power cycle",
                attempt.observed(),
            ));
        }
        if attempt.unchanged() {
            Ok(Finding::pass(
                "the forged image did not run; the previous image runs, confirmed",
                attempt.observed(),
            ))
        } else {
            Ok(Finding::fail(
                "the device booted the forged image",
                attempt.observed(),
            ))
        }
    }
}

/// Reads a declared image (candidate or older) named by `pick`.
fn declared_image(
    ctx: &CheckContext,
    what: &str,
    pick: fn(&hilt_harness::board::UpdateDecl) -> Option<std::path::PathBuf>,
) -> Result<Vec<u8>, CheckError> {
    let path = ctx
        .board()
        .spec
        .declares
        .update
        .as_ref()
        .and_then(pick)
        .ok_or_else(|| CheckError::Harness(format!("no {what} image declared")))?;
    let path = ctx.board().resolve_path(&path);
    std::fs::read(&path).map_err(|e| {
        CheckError::Harness(format!("cannot read {what} image {}: {e}", path.display()))
    })
}

fn version_of(image: &[u8]) -> Result<String, CheckError> {
    let parsed =
        Image::parse(image).map_err(|e| CheckError::Harness(format!("declared image: {e}")))?;
    let v = parsed.header.version;
    Ok(format!("{}.{}.{}", v.major, v.minor, v.revision))
}

/// SU-01: a genuine newer image installs (positive control: without it, a
/// device that refuses every update would pass every negative check).
struct GenuineUpdate;

static GENUINE_UPDATE: CheckMeta = CheckMeta {
    name: "genuine_update",
    capability: Capability::SoftwareUpdate,
    catalogue_id: "SU-01",
    title: "Genuine signed update installs",
    expected: "a genuine newer image installs and runs; its version and hash are reported",
    nistir_8259a: &["SU-1"],
    en_303_645: &["5.3-2"],
    ts_103_701: &["5.3-2-2"],
    cra_annex_i: &["c"],
    destructive: true,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

impl Check for GenuineUpdate {
    fn meta(&self) -> &CheckMeta {
        &GENUINE_UPDATE
    }

    fn uses(&self) -> &'static [Reference] {
        &[
            Reference::GoldenImage,
            Reference::TrustedKey,
            Reference::CandidateImage,
        ]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match smp_applicable(board) {
            Applicability::Applicable => {}
            na => return na,
        }
        match board
            .spec
            .declares
            .update
            .as_ref()
            .and_then(|u| u.candidate.as_ref())
        {
            Some(_) => Applicability::Applicable,
            None => Applicability::not_applicable(
                "no genuine newer image declared (declares.update.candidate)",
                &["declares.update.candidate"],
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let image = declared_image(ctx, "candidate", |u| u.candidate.clone())?;
        let version = version_of(&image)?;
        let expected_hash = computed_hash(&image)?;
        let installed = |state: &SlotState| state.version == version && state.hash == expected_hash;
        let attempt = attempt_update(ctx, &image)?;
        let mut observed = vec![format!("SMP: {}", attempt.observed())];
        let mut failed = Vec::new();
        if !installed(&attempt.after) {
            failed.push("SMP over serial");
        }
        let http = ctx
            .board()
            .spec
            .declares
            .update
            .as_ref()
            .and_then(|u| u.http.clone());
        if let Some(http) = http {
            // The test image reverts at the next reset: start the second
            // path from the golden image again.
            console::open_shell(ctx)?;
            reboot(ctx)?;
            let decl = console::open_shell(ctx)?;
            let before = running(ctx)?;
            console::close_shell(ctx, &decl)?;
            if before.hash != attempt.before.hash || !before.confirmed {
                return Err(CheckError::Board(format!(
                    "the board did not revert to its image after the SMP test boot (runs {})",
                    describe(&before)
                )));
            }
            let (steps, after) = http_update(ctx, &http, &image)?;
            observed.push(format!(
                "HTTPS: {}; after reboot: {}",
                steps.join(", "),
                describe(&after)
            ));
            if !installed(&after) {
                failed.push("HTTPS");
            }
        }
        let observed = observed.join("; ");
        if failed.is_empty() {
            Ok(Finding::pass(
                format!(
                    "the genuine image {version} installed and ran through every declared path"
                ),
                observed,
            )
            .with("installed_version", &version))
        } else {
            Ok(Finding::fail(
                format!(
                    "the genuine image {version} did not install through: {}",
                    failed.join(", ")
                ),
                observed,
            ))
        }
    }
}

/// SU-07: an older, genuinely signed image with a lower security counter
/// is refused.
struct Rollback;

static ROLLBACK: CheckMeta = CheckMeta {
    name: "rollback",
    capability: Capability::SoftwareUpdate,
    catalogue_id: "SU-07",
    title: "Rollback to an older image is refused",
    expected: "an older genuine image with a lower security counter does not run",
    nistir_8259a: &["SU-2", "SU-4"],
    en_303_645: &["5.3-2", "5.3-10"],
    ts_103_701: &["5.3-2-2", "5.3-10-2"],
    cra_annex_i: &["c", "f"],
    destructive: true,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

impl Check for Rollback {
    fn meta(&self) -> &CheckMeta {
        &ROLLBACK
    }

    fn uses(&self) -> &'static [Reference] {
        &[
            Reference::GoldenImage,
            Reference::TrustedKey,
            Reference::OlderImage,
        ]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match smp_applicable(board) {
            Applicability::Applicable => {}
            na => return na,
        }
        let update = board.spec.declares.update.as_ref();
        if update.is_some_and(|u| !u.rollback_protection) {
            return Applicability::not_applicable(
                "the declaration says rollback is an authorized path (rollback_protection: false)",
                &["declares.update.rollback_protection"],
            );
        }
        match update.and_then(|u| u.older.as_ref()) {
            Some(_) => Applicability::Applicable,
            None => Applicability::not_applicable(
                "no older genuine image declared (declares.update.older)",
                &["declares.update.older"],
            ),
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let image = declared_image(ctx, "older", |u| u.older.clone())?;
        let version = version_of(&image)?;
        let attempt = attempt_update(ctx, &image)?;
        if attempt.unchanged() {
            Ok(Finding::pass(
                format!("the older image {version} did not run"),
                attempt.observed(),
            ))
        } else {
            Ok(Finding::fail(
                format!("the device rolled back to {version}"),
                attempt.observed(),
            ))
        }
    }
}

/// SU-11: an update without authentication is refused.
struct UnauthenticatedUpdate;

static UNAUTHENTICATED_UPDATE: CheckMeta = CheckMeta {
    name: "unauthenticated_update",
    capability: Capability::SoftwareUpdate,
    catalogue_id: "SU-11",
    title: "Update without authentication is refused",
    expected: "an upload without a session is refused and nothing reaches the update slot",
    nistir_8259a: &["SU-4"],
    en_303_645: &["5.5-5"],
    ts_103_701: &["5.5-5-2"],
    cra_annex_i: &["d"],
    destructive: true,
    default_timeout: Duration::from_secs(60),
    params: &[],
};

impl Check for UnauthenticatedUpdate {
    fn meta(&self) -> &CheckMeta {
        &UNAUTHENTICATED_UPDATE
    }

    fn uses(&self) -> &'static [Reference] {
        &[Reference::GoldenImage, Reference::TrustedKey]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        smp_applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        // A genuine, harmless image (the golden one): only the lack of a
        // session should stop it.
        let image = golden(ctx)?;
        let image_hash = computed_hash(&image)?;
        // With authorization, empty the update slot first, so whatever is
        // there afterwards came from the unauthenticated attempt.
        let decl = console::open_shell(ctx)?;
        {
            let console = ctx.console()?;
            let mut smp = Smp::new(console, STEP);
            let _ = smp.request(2, GROUP_IMAGE, 5, Value::Map(vec![]));
            if smp
                .image_state()
                .map_err(smp_fault)?
                .iter()
                .any(|s| s.slot == 1)
            {
                return Err(CheckError::Board(
                    "the update slot could not be emptied before the attempt".into(),
                ));
            }
        }
        console::close_shell(ctx, &decl)?;
        let console = ctx.console()?;
        if dialogue::wake(console, &decl, STEP)? != dialogue::AT_LOGIN {
            return Err(CheckError::Board(
                "the console is at a shell without login; cannot test an unauthenticated update"
                    .into(),
            ));
        }
        let mut smp = Smp::new(console, STEP);
        let outcome = match smp.upload(&image) {
            Ok(()) => "upload accepted without a session".to_string(),
            Err(SmpError::Refused(rc)) => format!("upload refused (rc {rc})"),
            Err(e) => return Err(smp_fault(e)),
        };
        // Read-back (state reads need no session): what is in slot 1 now?
        let states = smp.image_state().map_err(smp_fault)?;
        let landed = states.iter().any(|s| s.slot == 1 && s.hash == image_hash);
        let observed = format!(
            "{outcome}; slot 1 afterwards: {}",
            if landed {
                "holds the uploaded image"
            } else {
                "empty"
            }
        );
        if landed || outcome.starts_with("upload accepted") {
            return Ok(Finding::fail(
                "the device took an update without authentication",
                observed,
            ));
        }
        // Positive control: with a session the same upload is taken (then
        // removed), so the refusal was about authentication, not an update
        // path that refuses everything.
        let decl = console::open_shell(ctx)?;
        let console = ctx.console()?;
        let mut smp = Smp::new(console, STEP);
        let authorized = smp.upload(&image);
        let taken = smp
            .image_state()
            .map_err(smp_fault)?
            .iter()
            .any(|s| s.slot == 1 && s.hash == image_hash);
        let _ = smp.request(2, GROUP_IMAGE, 5, Value::Map(vec![]));
        console::close_shell(ctx, &decl)?;
        if authorized.is_err() || !taken {
            return Err(CheckError::Board(format!(
                "the same upload with a session was not taken either ({authorized:?}); the refusal proves nothing ({observed})"
            )));
        }
        Ok(Finding::pass(
            "the upload was refused without a session and taken with one",
            observed,
        ))
    }
}
