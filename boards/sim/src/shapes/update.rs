//! Shapes that change how the device takes an update: each offers exactly
//! one update path, and the board file lists it with its read-back.
//!
//! - `console-upload`: no SMP; the logged-in console takes the image as
//!   base64 chunks (`fw-upload <offset> <base64>`, `fw-install`,
//!   `fw-confirm`); read back with `version`.
//! - `smp-udp-update`: no SMP on the console; MCUmgr SMP over UDP port 1337
//!   (no authentication: MCUmgr's UDP transport has none); read back with
//!   SMP `image state` over UDP.
//! - `http-upload-only`: no SMP and no raw upload; a multipart form upload
//!   (`POST /api/v1/firmware/upload`, file field `firmware`) on the HTTPS
//!   API; read back from `GET /api/v1/status` (with `http-api`, the
//!   camera's `/cgi-bin/firmware-upload.cgi` and `/cgi-bin/status.cgi`).

use yaml_serde::Value;

use super::{edit, BoardFileContext};

pub const CONSOLE_UPLOAD: &str = "console-upload";
pub const SMP_UDP_UPDATE: &str = "smp-udp-update";
pub const HTTP_UPLOAD_ONLY: &str = "http-upload-only";

/// The SMP-over-UDP port (MCUmgr's default).
pub const SMP_UDP_PORT: u16 = 1337;

/// Whether firmware of `shapes` answers SMP frames on its console.
pub fn smp_on_console(has_shape: impl Fn(&str) -> bool) -> bool {
    ![CONSOLE_UPLOAD, SMP_UDP_UPDATE, HTTP_UPLOAD_ONLY]
        .iter()
        .any(|s| has_shape(s))
}

/// Replaces the reference's SMP + HTTPS update paths with `paths` and
/// `read_back` (YAML fragments).
fn set_paths(doc: &mut Value, paths: &str, read_back: &str) {
    edit::remove(doc, &["declares", "update", "mechanism"]);
    edit::remove(doc, &["declares", "update", "http"]);
    edit::set(doc, &["declares", "update", "paths"], edit::yaml(paths));
    edit::set(
        doc,
        &["declares", "update", "read_back"],
        edit::yaml(read_back),
    );
}

pub fn console_upload(doc: &mut Value, _ctx: &BoardFileContext) {
    set_paths(
        doc,
        "- console: { command: 'fw-upload {offset} {chunk}', encoding: base64, chunk_size: 128, success: ok, finish: fw-install, reboot: reboot, confirm: fw-confirm }",
        "- console: { command: version, version: 'version: (\\S+)', sha256: 'image_sha256: ([0-9a-f]{64})' }",
    );
}

pub fn smp_udp_update(doc: &mut Value, _ctx: &BoardFileContext) {
    set_paths(
        doc,
        &format!("- smp-udp: {{ port: {SMP_UDP_PORT} }}"),
        "- smp",
    );
    let interfaces = edit::mapping(doc, &["declares"])
        .entry(Value::from("interfaces"))
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if let Value::Sequence(list) = interfaces {
        list.push(edit::yaml(&format!(
            "{{ port: {SMP_UDP_PORT}, protocol: udp, service: mcumgr-smp, auth: none }}"
        )));
    }
}

pub fn http_upload_only(doc: &mut Value, _ctx: &BoardFileContext) {
    // The upload sits on the API the board has: camera-style paths when the
    // `http-api` shape (applied before this one) declared them.
    let camera = edit::mapping(doc, &["declares", "state"])
        .get("http")
        .and_then(Value::as_str)
        == Some(super::http_api::STATUS_PATH);
    let (upload, reboot, confirm, status) = if camera {
        (
            "/cgi-bin/firmware-upload.cgi",
            "/cgi-bin/reboot.cgi",
            "/cgi-bin/firmware-confirm.cgi",
            super::http_api::STATUS_PATH,
        )
    } else {
        (
            "/api/v1/firmware/upload",
            "/api/v1/reboot",
            "/api/v1/firmware/confirm",
            "/api/v1/status",
        )
    };
    set_paths(
        doc,
        &format!("- http: {{ method: POST, path: '{upload}?mode=test', body: {{ multipart: {{ field: firmware, filename: firmware.bin }} }}, reboot: {reboot}, confirm: {confirm} }}"),
        &format!("- http: {{ path: {status}, version_field: version, sha256_field: image_sha256 }}"),
    );
}
