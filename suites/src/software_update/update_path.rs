//! Driving an update as an authorized user and reading back what runs:
//! SMP over the serial console, the declared HTTPS upload, reboots.

use std::time::Duration;

use hilt_harness::board::{Board, UpdateMechanism};
use hilt_harness::context::CheckContext;
use hilt_harness::transport::serial;
use hilt_harness::transport::smp::{SlotState, Smp, SmpError};
use hilt_harness::{Applicability, CheckError};

use crate::console::{self, STEP};

/// How long a reboot may take before the board counts as not answering.
const BOOT: Duration = Duration::from_secs(20);

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

pub(crate) fn describe(state: &SlotState) -> String {
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
            console::restart(ctx, &decl)?;
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
    pub(crate) fn unchanged(&self) -> bool {
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
