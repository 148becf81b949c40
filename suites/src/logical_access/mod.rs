//! Logical Access to Interfaces (NIST IR 8259A LA-1, LA-2, LA-3).

use std::sync::Arc;

use hilt_harness::board::Board;
use hilt_harness::driver::console::LoginOutcome;
use hilt_harness::{Applicability, Check};

mod au01_default_credentials;
mod au03_password_change;
mod au04_brute_force_lockout;
mod au07_open_ports;
mod au08_metadata_leakage;
mod au09_serial_login_required;
mod au10_debug_port_locked;
mod au13_disabled_interface_stays_disabled;

pub fn checks() -> Vec<Arc<dyn Check>> {
    vec![
        Arc::new(au01_default_credentials::DefaultCredentials),
        Arc::new(au03_password_change::PasswordChange),
        Arc::new(au04_brute_force_lockout::BruteForceLockout),
        Arc::new(au09_serial_login_required::SerialLoginRequired),
        Arc::new(au07_open_ports::OpenPorts),
        Arc::new(au10_debug_port_locked::DebugPortLocked),
        Arc::new(au08_metadata_leakage::MetadataLeakage),
        Arc::new(au13_disabled_interface_stays_disabled::DisabledInterfaceStaysDisabled),
    ]
}

fn needs_console(board: &Board) -> Applicability {
    if board.spec.hardware.serial.is_none() {
        Applicability::not_applicable(
            "the board has no serial console wired (hardware.serial)",
            &["hardware.serial.port", "hardware.serial.tcp"],
        )
    } else if board.spec.declares.console.is_none() {
        Applicability::not_applicable(
            "the declaration describes no console (declares.console)",
            &["declares.console"],
        )
    } else {
        Applicability::Applicable
    }
}

fn verdict_word(outcome: &LoginOutcome) -> &'static str {
    match outcome {
        LoginOutcome::LoggedIn => "logs in",
        LoginOutcome::Rejected(_) => "refused",
        LoginOutcome::NoLoginRequired => "no login asked",
    }
}
