//! One image through one update path as an authorized user: upload, test
//! boot, restart, and the read-back that shows what runs afterwards. An
//! error code at upload proves nothing on its own; the read-back does.

use hilt_harness::context::CheckContext;
use hilt_harness::CheckError;

use super::boot::wait_for_boot;
use super::{
    golden, restart_and_wait, restore, running, updaters, Boot, Running, Session, Updater, Upload,
};

/// What happened when an image went through one update path.
pub struct Attempt {
    /// The path's label.
    pub path: String,
    pub steps: Vec<String>,
    pub before: Running,
    pub after: Running,
    pub boot_log: String,
    /// The device hung at the restart and needed a power cycle.
    pub hung: bool,
    /// Whether the path took the upload (every step answered as taken).
    pub upload_taken: bool,
}

impl Attempt {
    pub fn observed(&self) -> String {
        format!(
            "{}: {}; after reboot: {}; before: {}; bootloader: {}",
            self.path,
            self.steps.join(", "),
            self.after.describe(),
            self.before.describe(),
            verdict_lines(&self.boot_log)
        )
    }

    /// The image that ran before still runs, not as a test boot.
    pub fn unchanged(&self) -> bool {
        self.after.same_confirmed(&self.before)
    }
}

/// The lines of a boot log that state the bootloader's verdict.
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

/// Keeps the boot log after `what` through `updater` as evidence.
fn keep_boot_log(
    ctx: &mut CheckContext,
    updater: &dyn Updater,
    what: &str,
    boot_log: &str,
) -> Result<(), CheckError> {
    ctx.evidence().text(
        &format!("boot-{}.log", slug(&updater.label())),
        "text/plain",
        &format!("boot log after {what} through {}", updater.label()),
        boot_log,
    )?;
    Ok(())
}

/// A file-name-safe form of a path's label, for evidence names.
fn slug(label: &str) -> String {
    let mut out: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').chars().take(40).collect()
}

/// Sends `image` through `updater` as an authorized user would (upload,
/// request a test boot, restart) and reads the running image back.
pub fn attempt(
    ctx: &mut CheckContext,
    updater: &dyn Updater,
    image: &[u8],
) -> Result<Attempt, CheckError> {
    let before = running(ctx)?;
    if before.confirmed == Some(false) {
        return Err(CheckError::Board(format!(
            "the board runs an unconfirmed image before the check ({}); restore it first",
            before.describe()
        )));
    }
    let upload = updater.upload(ctx, image, Session::Authorized)?;
    let upload_taken = upload.taken();
    let mut steps = vec![upload.note().to_string()];
    if updater.in_place() {
        return in_place(ctx, updater, before, steps, upload_taken);
    }
    let boot = restart_and_wait(ctx, updater)?;
    let hung = matches!(boot, Boot::HungUntilPowerCycle(_));
    if hung {
        steps.push("the device hung at reboot and booted only after a power cycle".into());
    }
    let boot_log = boot.log().to_string();
    keep_boot_log(ctx, updater, "the update attempt", &boot_log)?;
    let after = running(ctx)?;
    Ok(Attempt {
        path: updater.label(),
        steps,
        before,
        after,
        boot_log,
        hung,
        upload_taken,
    })
}

/// The rest of an [`attempt`] for an image written in place: a device that
/// then halts (no valid image to boot) refused it, and gets the golden
/// image back through the same path.
fn in_place(
    ctx: &mut CheckContext,
    updater: &dyn Updater,
    before: Running,
    mut steps: Vec<String>,
    upload_taken: bool,
) -> Result<Attempt, CheckError> {
    updater.restart(ctx)?;
    let boot_log = match wait_for_boot(ctx)? {
        Ok(log) => log,
        Err(tail) => {
            steps.push("the device did not boot the written image (halted)".into());
            let golden = golden(ctx)?;
            if let Upload::Refused(why) = updater.upload(ctx, &golden, Session::Authorized)? {
                return Err(CheckError::Board(format!(
                    "the golden image could not be written back: {why}"
                )));
            }
            updater.restart(ctx)?;
            if let Err(still) = wait_for_boot(ctx)? {
                return Err(CheckError::Board(format!(
                    "with the golden image written back the board did not boot: {still:?}"
                )));
            }
            steps.push("the golden image written back".into());
            tail
        }
    };
    keep_boot_log(ctx, updater, "writing the image", &boot_log)?;
    let after = running(ctx)?;
    Ok(Attempt {
        path: updater.label(),
        steps,
        before,
        after,
        boot_log,
        hung: false,
        upload_taken,
    })
}

/// [`attempt`] through every declared path, the golden image restored
/// between paths when an attempt changed what runs.
pub fn attempt_every_path(
    ctx: &mut CheckContext,
    image: &[u8],
) -> Result<Vec<Attempt>, CheckError> {
    let paths = updaters(ctx.board());
    if paths.is_empty() {
        return Err(CheckError::Harness("no update path to drive".into()));
    }
    let mut attempts = Vec::new();
    let last = paths.len() - 1;
    for (i, updater) in paths.iter().enumerate() {
        let attempt = attempt(ctx, updater.as_ref(), image)?;
        if i < last && (attempt.hung || !attempt.unchanged()) {
            restore(ctx)?;
        }
        attempts.push(attempt);
    }
    Ok(attempts)
}

/// A positive control: an authorized upload of `golden` (harmless) through
/// `updater`, whose answer shows the path takes uploads at all. Nothing is
/// left pending: the update slot is emptied, or the golden image booted
/// once and confirmed.
pub fn control_upload(
    ctx: &mut CheckContext,
    updater: &dyn Updater,
    golden: &[u8],
) -> Result<Upload, CheckError> {
    let control = updater.upload(ctx, golden, Session::Authorized)?;
    if !updater.discard(ctx)? {
        restart_and_wait(ctx, updater)?;
        if running(ctx)?.confirmed != Some(true) {
            updater.confirm(ctx)?;
        }
    }
    Ok(control)
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs_are_plain_file_names() {
        assert_eq!(
            super::slug("HTTP POST /api/v1/firmware?mode=test (raw)"),
            "http-post-api-v1-firmware-mode-test-raw"
        );
    }
}
