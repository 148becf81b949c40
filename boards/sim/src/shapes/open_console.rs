//! `open-console`: a serial-only sensor. Its console opens without a
//! login, at its own prompt (`sensor# `); it has no network side, no
//! accounts and no lockout. Settings, state, the event log, updates (SMP on
//! the console) and the factory reset are all reached from that shell, so
//! the checks judge the open console itself (AU-09, and CF-02, CS-03 and
//! CS-04 for what it changes and prints without credentials).

use yaml_serde::Value;

use super::edit;
use super::BoardFileContext;

pub const NAME: &str = "open-console";
pub const PROMPT: &str = "sensor# ";

pub fn board_file(doc: &mut Value, _ctx: &BoardFileContext) {
    edit::remove(doc, &["hardware", "network"]);
    edit::set(
        doc,
        &["declares", "console"],
        edit::yaml(&format!(
            "{{ prompt: '{PROMPT}', settle_ms: 40, reboot: reboot }}"
        )),
    );
    for key in [
        "accounts",
        "lockout",
        "interfaces",
        "tls_clients",
        "device_ca",
    ] {
        edit::remove(doc, &["declares", key]);
    }
    edit::set(
        doc,
        &["declares", "identity", "logical"],
        edit::yaml("[ { console: { command: id, pattern: 'device_id: (\\S+)' } } ]"),
    );
    edit::remove(doc, &["declares", "state", "http"]);
    edit::remove(doc, &["declares", "configuration", "http"]);
    // No network: SMP on the console is the one update path.
    edit::remove(doc, &["declares", "update", "http"]);
    edit::set(
        doc,
        &["declares", "update", "paths"],
        edit::yaml("- smp-serial"),
    );
    edit::remove(doc, &["declares", "logging", "event_log", "http"]);
    edit::remove(doc, &["declares", "logging", "syslog"]);
    edit::remove(doc, &["declares", "factory_reset", "http"]);
}
