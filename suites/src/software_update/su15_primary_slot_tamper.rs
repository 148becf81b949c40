//! SU-15: secure boot at rest. hilt powers the board off, flips one byte
//! of the running image's payload directly in flash (as an attacker with a
//! programmer clip would), powers it on and watches what boots; then puts
//! the original bytes back.

use std::time::Duration;

use hilt_harness::board::{Board, FlashRegion, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console as dialogue;
use hilt_harness::transport::power::PowerAction;
use hilt_harness::transport::serial::SerialError;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_image::Image;

use crate::update::{self, golden, image_hash as computed_hash, running};

/// How long the board may take to reach its login prompt after power-on.
const BOOT: Duration = Duration::from_secs(15);
/// Silence after boot output that counts as "no prompt is coming".
const QUIET: Duration = Duration::from_secs(3);

pub struct PrimarySlotTamper;

static PRIMARY_SLOT_TAMPER: CheckMeta = CheckMeta {
    name: "primary_slot_tamper",
    capability: Capability::SoftwareUpdate,
    catalogue_id: "SU-15",
    title: "Secure boot refuses an image modified in flash",
    expected: "after one payload byte of the installed image is changed in flash, the device does not run it (refuses to boot or reverts to a valid image)",
    nistir_8259a: &["SU-2", "CS-2"],
    en_303_645: &["5.7-1", "5.7-2"],
    ts_103_701: &["5.7-1-2", "5.7-2-2"],
    cra_annex_i: &["f"],
    destructive: true,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

fn primary_slot(board: &Board) -> Option<FlashRegion> {
    board.spec.declares.update.as_ref()?.primary_slot
}

/// What the console showed after power-on.
enum PowerOn {
    /// The login prompt (or a shell) came; the boot log.
    Prompt(String),
    /// No prompt within [`BOOT`]; what the console printed.
    NoPrompt(String),
}

fn power_on_and_watch(ctx: &mut CheckContext) -> Result<PowerOn, CheckError> {
    if !update::has_console(ctx) {
        // No console to watch: the device booted when its read-back
        // answers again (the update drivers' wait after a restart).
        ctx.power(PowerAction::On)?;
        return Ok(match update::wait_for_boot(ctx)? {
            Ok(log) => PowerOn::Prompt(log),
            Err(last) => PowerOn::NoPrompt(format!("no read-back answer: {last}")),
        });
    }
    ctx.power_watching_console(PowerAction::On)?;
    let decl = ctx.console_decl()?;
    let mut ends = vec![decl.prompt_pattern()];
    ends.extend(decl.login_pattern());
    let ends: Vec<&str> = ends.iter().map(String::as_str).collect();
    let console = ctx.console()?;
    // A halted board prints its boot log and falls silent: 3 s of silence
    // after output ends the wait.
    match console.expect_any_or_quiet(&ends, BOOT, QUIET) {
        Ok(found) => Ok(PowerOn::Prompt(found.before)),
        Err(SerialError::Timeout { tail, .. }) => {
            // Silence is not yet a refusal: a board that pauses mid-boot
            // (longer than QUIET) would otherwise pass. Poke the console
            // as an operator would; a prompt now means it did boot.
            match dialogue::look(console, &decl, QUIET) {
                Ok(_) => Ok(PowerOn::Prompt(tail)),
                Err(SerialError::Timeout { .. }) => Ok(PowerOn::NoPrompt(tail)),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes the original slot contents back and checks that the golden
/// image boots and runs again.
fn restore_slot(
    ctx: &mut CheckContext,
    region: FlashRegion,
    original: &[u8],
    golden_hash: &[u8],
) -> Result<(), CheckError> {
    ctx.power(PowerAction::Off)?;
    ctx.flash()?.write(region, original)?;
    match power_on_and_watch(ctx)? {
        PowerOn::Prompt(_) => {}
        PowerOn::NoPrompt(tail) => {
            return Err(CheckError::Board(format!(
                "with its original flash contents written back the board did not boot: {tail:?}"
            )))
        }
    }
    let state = running(ctx)?;
    if state.hash != golden_hash {
        return Err(CheckError::Board(format!(
            "after writing the original slot back the board runs {} (hash {}), not its golden image",
            state.version,
            hex::encode(&state.hash)
        )));
    }
    Ok(())
}

impl Check for PrimarySlotTamper {
    fn meta(&self) -> &CheckMeta {
        &PRIMARY_SLOT_TAMPER
    }

    fn uses(&self) -> &'static [Reference] {
        &[
            Reference::GoldenImage,
            Reference::TrustedKey,
            Reference::FlashFile,
        ]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if board.spec.hardware.flash.is_none() {
            return Applicability::not_applicable(
                "no offline flash access wired (hardware.flash)",
                &["hardware.flash.file"],
            );
        }
        if primary_slot(board).is_none() {
            return Applicability::not_applicable(
                "the primary slot's place in flash is not declared (declares.update.primary_slot)",
                &["declares.update.primary_slot"],
            );
        }
        if board.spec.hardware.power.is_none() {
            return Applicability::not_applicable(
                "flash is written at rest: power control is needed (hardware.power)",
                &["hardware.power"],
            );
        }
        update::applicable(board)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let region = primary_slot(ctx.board())
            .ok_or_else(|| CheckError::Harness("no primary slot".into()))?;
        let golden_hash = computed_hash(&golden(ctx)?)?;
        let before = running(ctx)?;
        if before.hash != golden_hash || before.confirmed == Some(false) {
            return Err(CheckError::Board(
                "the board does not run its golden image, confirmed; restore it first".into(),
            ));
        }
        ctx.power(PowerAction::Off)?;
        let flash = ctx.flash()?;
        let original = flash.read(region)?;
        let image = Image::parse(&original).map_err(|e| {
            CheckError::Board(format!(
                "the declared primary slot at {:#x} holds no image hilt can parse: {e}",
                region.offset
            ))
        })?;
        if image.payload.is_empty() {
            return Err(CheckError::Board(
                "the primary slot's image has no payload".into(),
            ));
        }
        // One byte in the middle of the code: what a patched binary changes.
        let at = image.payload.start + image.payload.len() / 2;
        let mut tampered = original.clone();
        tampered[at] ^= 0x5a;
        let tampered_hash = computed_hash(&tampered[..image.end()])?;
        flash.write(region, &tampered)?;
        let note = format!(
            "flipped byte {:#x} of the slot (flash offset {:#x}): {:#04x} -> {:#04x}",
            at,
            region.offset + at as u64,
            original[at],
            tampered[at]
        );
        let watched = power_on_and_watch(ctx);
        // Whatever the device did, the original bytes go back.
        let verdict = match watched {
            Err(e) => Err(e),
            Ok(PowerOn::NoPrompt(log)) => {
                ctx.evidence()
                    .text("boot.log", "text/plain", "console after power-on", &log)?;
                if log.trim().is_empty() {
                    Err(CheckError::Board(format!(
                        "the console printed nothing after power-on; cannot tell a refusal from a dead board ({note})"
                    )))
                } else {
                    Ok(Finding::pass(
                        "the device refused to boot the modified image",
                        format!(
                            "{note}; no login prompt within {BOOT:?}; boot log: {:?}",
                            last_lines(&log)
                        ),
                    ))
                }
            }
            Ok(PowerOn::Prompt(log)) => {
                ctx.evidence()
                    .text("boot.log", "text/plain", "console after power-on", &log)?;
                match running(ctx) {
                    Err(e) => Err(e),
                    Ok(s) if s.hash == tampered_hash => Ok(Finding::fail(
                        "the device booted the image modified in flash",
                        format!("{note}; runs hash {}", hex::encode(&s.hash)),
                    )),
                    Ok(s) => Ok(Finding::pass(
                        "the device did not run the modified image (it runs another, valid one)",
                        format!(
                            "{note}; runs version {} hash {}; boot log: {:?}",
                            s.version,
                            hex::encode(&s.hash),
                            last_lines(&log)
                        ),
                    )),
                }
            }
        };
        restore_slot(ctx, region, &original, &golden_hash)?;
        verdict
    }
}

/// The last lines of a boot log, for the observed text.
fn last_lines(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}
