//! Device Configuration (NIST IR 8259A DC-1, DC-2, DC-3).

use std::sync::Arc;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Check, CheckError};

mod cf01_authorized_change;
mod cf02_unauthenticated_write;
mod cf05_factory_reset;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(cf01_authorized_change::AuthorizedChange),
        Arc::new(cf02_unauthenticated_write::UnauthenticatedWrite),
        Arc::new(cf05_factory_reset::FactoryResetDefaults),
    ]
}

fn console_config(board: &Board) -> Applicability {
    let has = board
        .spec
        .declares
        .configuration
        .as_ref()
        .is_some_and(|c| c.console.is_some());
    if !has {
        return Applicability::not_applicable(
            "no console configuration commands declared (declares.configuration.console)",
            &["declares.configuration.console"],
        );
    }
    if board.spec.declares.console.is_none() {
        return Applicability::not_applicable("no console declared", &["declares.console"]);
    }
    Applicability::Applicable
}

fn parameter(ctx: &CheckContext) -> Result<(String, String), CheckError> {
    let c = ctx
        .board()
        .spec
        .declares
        .configuration
        .clone()
        .ok_or_else(|| CheckError::Harness("no configuration declared".into()))?;
    Ok((c.parameter, c.test_value))
}
