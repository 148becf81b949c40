//! The health check before a board's suite (the runner quarantines a
//! board that fails it): the console answers, every declared TCP service
//! enabled by default answers, and the running image is the golden one.
//! Each part the board file gives no way to ask is recorded as unknown,
//! never as passed.

use hilt_harness::board::Transport;
use hilt_harness::context::CheckContext;
use hilt_harness::rack::health::HealthCheck;
use hilt_reports::{HealthItem, HealthStatus};

use crate::{liveness, update};

pub struct BoardHealth;

impl HealthCheck for BoardHealth {
    fn check(&self, ctx: &mut CheckContext) -> Vec<HealthItem> {
        let mut items = vec![console(ctx)];
        items.extend(services(ctx));
        items.push(image(ctx));
        items
    }
}

fn item(what: &str, status: HealthStatus, detail: impl Into<String>) -> HealthItem {
    HealthItem {
        what: what.into(),
        status,
        detail: detail.into(),
    }
}

fn console(ctx: &mut CheckContext) -> HealthItem {
    let board = ctx.board();
    if board.spec.hardware.serial.is_none() || board.spec.declares.console.is_none() {
        return item(
            "console",
            HealthStatus::Unknown,
            "no console wired and declared (hardware.serial, declares.console)",
        );
    }
    match liveness::console_control(ctx) {
        Ok(seen) => item("console", HealthStatus::Ok, seen),
        Err(why) => item(
            "console",
            HealthStatus::Failed,
            format!("did not answer: {why}"),
        ),
    }
}

fn services(ctx: &mut CheckContext) -> Vec<HealthItem> {
    let declared: Vec<_> = ctx
        .board()
        .spec
        .declares
        .interfaces
        .iter()
        .filter(|i| i.protocol == Transport::Tcp && i.enabled_by_default)
        .cloned()
        .collect();
    if declared.is_empty() {
        return Vec::new();
    }
    let link = match crate::api::link(ctx) {
        Ok(link) => link,
        Err(e) => {
            return vec![item(
                "services",
                HealthStatus::Unknown,
                format!("declared TCP services, but the network cannot be reached: {e}"),
            )]
        }
    };
    declared
        .iter()
        .map(|interface| {
            let what = format!("service {} {}/tcp", interface.service, interface.port);
            match liveness::service_answers(ctx, &link, interface) {
                Ok(seen) => item(&what, HealthStatus::Ok, seen),
                Err(why) => item(
                    &what,
                    HealthStatus::Failed,
                    format!("did not answer: {why}"),
                ),
            }
        })
        .collect()
}

fn image(ctx: &mut CheckContext) -> HealthItem {
    const WHAT: &str = "running image";
    let board = ctx.board();
    let golden_declared = board
        .spec
        .declares
        .update
        .as_ref()
        .is_some_and(|u| u.golden.is_some());
    if !golden_declared {
        return item(
            WHAT,
            HealthStatus::Unknown,
            "no golden image declared (declares.update.golden) to compare with",
        );
    }
    let Some(source) = update::running_image(board) else {
        return item(
            WHAT,
            HealthStatus::Unknown,
            "the board declares no way to read which image runs (declares.update.read_back)",
        );
    };
    let golden = match update::golden(ctx).and_then(|g| update::image_hash(&g)) {
        Ok(hash) => hash,
        Err(e) => return item(WHAT, HealthStatus::Failed, format!("the golden image: {e}")),
    };
    match update::running(ctx) {
        Ok(running) if running.hash == golden && running.confirmed != Some(false) => item(
            WHAT,
            HealthStatus::Ok,
            format!(
                "the golden image runs ({}, read by {})",
                running.describe(),
                source.label()
            ),
        ),
        Ok(running) => item(
            WHAT,
            HealthStatus::Failed,
            format!(
                "runs {} (read by {}), not the golden image {}",
                running.describe(),
                source.label(),
                hex::encode(&golden)
            ),
        ),
        Err(e) => item(
            WHAT,
            HealthStatus::Failed,
            format!("could not be read back ({}): {e}", source.label()),
        ),
    }
}
