//! The forged images SU-02 to SU-06 and SU-09 send: each check is a
//! `ForgedSpec` (its metadata and how to forge the image from the golden
//! one), and `Forged` sends it and judges what runs afterwards.

use std::time::Duration;

use hilt_harness::board::{Board, Reference};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_image::{forge, ForgeKeys, Forgery, Image, SignOptions};

use crate::update::{self, attempt_every_path, golden, Attempt};

/// A forged image and the check that sends it.
pub(super) struct ForgedSpec {
    pub(super) meta: CheckMeta,
    pub(super) make: fn(&[u8]) -> Result<Vec<u8>, String>,
}

pub(super) const fn meta(
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

/// The golden payload with its last byte changed, so every image built from
/// it differs (by hash) from the image the board runs: an image that is
/// installed is then visible in `image state`.
pub(super) fn distinct_payload(golden: &[u8]) -> Result<(Image, Vec<u8>), String> {
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

pub(super) fn options_like(image: &Image) -> SignOptions {
    SignOptions {
        version: image.header.version,
        security_counter: image.security_counter(),
        header_size: image.header.hdr_size,
        ..SignOptions::default()
    }
}

pub(crate) fn tampered_payload(golden: &[u8]) -> Result<Vec<u8>, String> {
    forge(golden, &Forgery::TamperedPayload, &ForgeKeys::default()).map_err(|e| e.to_string())
}

pub(super) struct Forged(pub(super) &'static ForgedSpec);

impl Check for Forged {
    fn meta(&self) -> &CheckMeta {
        &self.0.meta
    }

    fn uses(&self) -> &'static [Reference] {
        &[Reference::GoldenImage, Reference::TrustedKey]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        update::applicable(board)
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
        let attempts = attempt_every_path(ctx, &forged)?;
        prove_refusals(ctx, &attempts)?;
        Ok(judge_refused(&attempts, "the forged image"))
    }
}

/// A refusal at upload counts only if the same path takes the genuine
/// golden image: a path that refuses everything (a wrong declared path,
/// broken authentication, a full slot) proves nothing about forgeries.
pub(super) fn prove_refusals(
    ctx: &mut CheckContext,
    attempts: &[Attempt],
) -> Result<(), CheckError> {
    if attempts.iter().all(|a| a.upload_taken || !a.unchanged()) {
        return Ok(());
    }
    let golden = golden(ctx)?;
    for (attempt, updater) in attempts.iter().zip(update::updaters(ctx.board())) {
        if attempt.upload_taken || !attempt.unchanged() {
            continue;
        }
        let control = update::control_upload(ctx, updater.as_ref(), &golden)?;
        if !control.taken() {
            return Err(CheckError::Board(format!(
                "{} refused the genuine golden image as well ({}); its refusal of the test image proves nothing",
                attempt.path,
                control.note()
            )));
        }
    }
    Ok(())
}

/// PASS when `what` ran through no path (the image that ran before still
/// runs, confirmed, after each attempt); FAIL naming each path that
/// booted it or hung.
pub(super) fn judge_refused(attempts: &[Attempt], what: &str) -> Finding {
    let observed = attempts
        .iter()
        .map(Attempt::observed)
        .collect::<Vec<_>>()
        .join(" | ");
    let hung: Vec<&str> = attempts
        .iter()
        .filter(|a| a.hung)
        .map(|a| a.path.as_str())
        .collect();
    let ran: Vec<&str> = attempts
        .iter()
        .filter(|a| !a.hung && !a.unchanged())
        .map(|a| a.path.as_str())
        .collect();
    if !ran.is_empty() {
        return Finding::fail(
            format!("the device booted {what} through: {}", ran.join(", ")),
            observed,
        );
    }
    if !hung.is_empty() {
        return Finding::fail(
            format!(
                "the device hung after {what} and booted only after a power cycle (through: {})",
                hung.join(", ")
            ),
            observed,
        );
    }
    let paths: Vec<&str> = attempts.iter().map(|a| a.path.as_str()).collect();
    Finding::pass(
        format!(
            "{what} did not run through any update path ({}); the previous image runs, confirmed",
            paths.join(", ")
        ),
        observed,
    )
}
