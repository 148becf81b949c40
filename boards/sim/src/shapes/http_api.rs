//! `http-api`: a camera-like device. Its API is served over plain HTTP on
//! tcp/80 (loopback: 10080) and nowhere else, at camera-style paths
//! (`/cgi-bin/*.cgi`), with HTTP Digest authentication as an `operator`
//! account whose password differs from the console's `admin`. The board
//! file says so: the interface declares its API (auth and account), and
//! every resource names its camera path.

use yaml_serde::Value;

use super::edit;
use super::BoardFileContext;

/// The camera's status resource (other shapes find the camera's API by it).
pub const STATUS_PATH: &str = "/cgi-bin/status.cgi";

pub fn board_file(doc: &mut Value, ctx: &BoardFileContext) {
    let d = ctx.dir.display();
    let http = crate::netglue::port(80, ctx.loopback);
    let telnet = crate::netglue::port(23, ctx.loopback);
    edit::set(
        doc,
        &["declares", "interfaces"],
        edit::yaml(&format!(
            r#"
- {{ port: {http}, protocol: tcp, service: http, auth: required, api: {{ auth: digest, accounts: [operator] }} }}
- {{ port: {telnet}, protocol: tcp, service: telnet, auth: required, enabled_by_default: false, toggle: {{ parameter: telnet_enabled, on: "true", off: "false" }} }}
"#
        )),
    );
    edit::set(
        doc,
        &["declares", "accounts", "operator"],
        edit::yaml(&format!(
            r#"{{ password: "file:{d}/operator-password", role: user }}"#
        )),
    );
    edit::set(
        doc,
        &["declares", "identity", "logical"],
        edit::yaml(
            r#"
- console: { command: id, pattern: "device_id: (\\S+)" }
- http: { path: /cgi-bin/identity.cgi, field: device_id }
"#,
        ),
    );
    edit::set(doc, &["declares", "state", "http"], STATUS_PATH);
    edit::set(
        doc,
        &["declares", "configuration", "http", "path"],
        "/cgi-bin/config.cgi",
    );
    edit::set(
        doc,
        &["declares", "update", "paths"],
        edit::yaml(
            r#"
- smp-serial
- http: { path: "/cgi-bin/firmware.cgi?mode=test", reboot: /cgi-bin/reboot.cgi, confirm: /cgi-bin/firmware-confirm.cgi }
"#,
        ),
    );
    edit::set(
        doc,
        &["declares", "logging", "event_log", "http"],
        "/cgi-bin/events.cgi",
    );
    edit::set(
        doc,
        &["declares", "factory_reset", "http"],
        "/cgi-bin/factory-reset.cgi",
    );
}

#[cfg(test)]
mod tests {
    use super::super::*;

    #[test]
    fn the_board_file_declares_a_digest_api_on_plain_http() {
        let ctx = BoardFileContext {
            dir: "/run/hilt/sim-20".into(),
            index: 20,
            loopback: true,
        };
        let reference =
            crate::lifecycle::board_yaml_with(20, &ctx.dir, true, "k.pem", &[]).expect("reference");
        let text = board_file(&reference, &[HTTP_API.into()], &ctx).expect("shaped");
        assert!(text.contains("service: http"), "{text}");
        assert!(text.contains("auth: digest"), "{text}");
        assert!(text.contains("/cgi-bin/config.cgi"), "{text}");
        assert!(text.contains("operator-password"), "{text}");
        assert!(!text.contains("/api/v1"), "{text}");
        assert!(!text.contains("service: https"), "{text}");
    }
}
