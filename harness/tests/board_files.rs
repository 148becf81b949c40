//! Malformed board files: every error names the file, the line, the field
//! and what was expected.

use std::path::PathBuf;

use hilt_harness::board::Board;
use hilt_harness::yaml::DefinitionError;

const VALID: &str = "\
board: lab-7
model: thermostat T1
hardware:
  serial: { port: /dev/ttyUSB0, baud: 115200 }
  network: { address: 198.18.0.2 }
  debug: { gdb: \"127.0.0.1:3333\" }
  power: none
declares:
  accounts:
    admin: { password: \"env:LAB7_PASSWORD\" }
  console: { login: \"login: \", password: \"Password: \", prompt: \"sim> \", account: admin }
  interfaces:
    - { port: 443, service: https }
";

fn load(text: &str) -> (PathBuf, Result<Board, DefinitionError>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("board.yaml");
    std::fs::write(&file, text).expect("write");
    let result = Board::load(&file);
    (file, result, dir)
}

/// Asserts the error names `file`, `line` and `field`, and its message
/// contains `says`.
fn assert_error(text: &str, line: usize, field: &str, says: &str) {
    let (file, result, _dir) = load(text);
    let err = result.expect_err("board file must be rejected");
    let shown = err.to_string();
    assert_eq!(err.file, file, "{shown}");
    assert_eq!(err.line, Some(line), "{shown}");
    assert_eq!(err.field.as_deref(), Some(field), "{shown}");
    assert!(
        err.message.contains(says),
        "message {:?} lacks {says:?}",
        err.message
    );
    assert!(
        shown.starts_with(&format!("{}:{line}:", file.display())),
        "display starts with file:line: {shown}"
    );
    assert!(shown.contains(&format!("field `{field}`")), "{shown}");
}

#[test]
fn the_valid_file_loads() {
    let (_, result, _dir) = load(VALID);
    let board = result.expect("valid");
    assert_eq!(board.name(), "lab-7");
}

#[test]
fn unknown_top_level_key() {
    let text = VALID.replace("model: thermostat T1", "model: thermostat T1\nmodle: typo");
    assert_error(&text, 3, "modle", "unknown field `modle`, expected one of");
}

#[test]
fn unknown_nested_key() {
    let text = VALID.replace("baud: 115200", "baud: 115200, parity: none");
    assert_error(&text, 4, "hardware.serial.parity", "unknown field `parity`");
}

#[test]
fn wrong_type_for_baud() {
    let text = VALID.replace("baud: 115200", "baud: fast");
    assert_error(&text, 4, "hardware.serial.baud", "expected u32");
}

#[test]
fn invalid_ip_address() {
    let text = VALID.replace("198.18.0.2", "198.18.0.300");
    assert_error(&text, 5, "hardware.network.address", "invalid IP address");
}

#[test]
fn gdb_endpoint_without_port() {
    let text = VALID.replace("\"127.0.0.1:3333\"", "\"127.0.0.1\"");
    assert_error(&text, 6, "hardware.debug.gdb", "expected `host:port`");
}

#[test]
fn literal_password_is_refused_and_not_echoed() {
    let text = VALID.replace("\"env:LAB7_PASSWORD\"", "hunter2");
    assert_error(
        &text,
        10,
        "declares.accounts.admin.password",
        "literal secrets are not allowed",
    );
    let (_, result, _dir) = load(&text);
    assert!(!result
        .expect_err("rejected")
        .to_string()
        .contains("hunter2"));
}

#[test]
fn unknown_power_kind() {
    let text = VALID.replace("power: none", "power: { relay: 3 }");
    assert_error(
        &text,
        7,
        "hardware.power.relay",
        "unknown variant `relay`, expected one of `none`, `sim`, `command`",
    );
}

#[test]
fn bad_board_name() {
    let text = VALID.replace("board: lab-7", "board: lab 7/x");
    assert_error(&text, 1, "board", "invalid board name");
}

#[test]
fn console_account_not_declared() {
    let text = VALID.replace("account: admin }", "account: root }");
    assert_error(
        &text,
        11,
        "declares.console.account",
        "account \"root\" is not declared",
    );
}

#[test]
fn missing_required_model() {
    let text = VALID.replace("model: thermostat T1\n", "");
    assert_error(&text, 1, "model", "missing field `model`");
}

#[test]
fn interface_port_out_of_range() {
    let text = VALID.replace("port: 443", "port: 70000");
    assert_error(&text, 13, "declares.interfaces[0].port", "expected u16");
}

#[test]
fn serial_with_port_and_tcp() {
    let text = VALID.replace("baud: 115200 }", "baud: 115200, tcp: \"10.0.0.1:2000\" }");
    assert_error(&text, 4, "hardware.serial.tcp", "exclusive");
}

#[test]
fn trusted_key_file_missing() {
    let text = format!(
        "{VALID}  update: {{ mechanism: smp-serial, format: mcuboot, trusted_key: keys/absent.pem }}\n"
    );
    // The file loads; the preflight a run and `hilt board check` do names the key.
    let (file, result, _dir) = load(&text);
    let mut problems = result.expect("loads").preflight();
    // LAB7_PASSWORD is not set here either.
    problems.retain(|p| p.reference != hilt_harness::board::Reference::Secret);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, "declares.update.trusted_key");
    assert_eq!(problems[0].file, file);
    assert!(
        problems[0].message.contains("No such file"),
        "{}",
        problems[0]
    );
}

#[test]
fn unknown_update_mechanism() {
    let text =
        format!("{VALID}  update: {{ mechanism: floppy, format: mcuboot, trusted_key: k.pem }}\n");
    assert_error(
        &text,
        14,
        "declares.update.mechanism",
        "unknown variant `floppy`",
    );
}

#[test]
fn not_yaml_at_all() {
    let (file, result, _dir) = load("board: [unclosed\n");
    let err = result.expect_err("rejected");
    assert_eq!(err.file, file);
    assert!(err.line.is_some(), "{err}");
}

#[test]
fn no_update_mechanism_and_a_bare_state_resource_need_no_other_fields() {
    let text = format!("{VALID}  update: {{ mechanism: none }}\n  state: {{ http: /api/state }}\n");
    let (_, result, _dir) = load(&text);
    let board = result.expect("loads");
    let update = board.spec.declares.update.as_ref().expect("update");
    assert!(update.trusted_key.is_none());
    let state = board.spec.declares.state.as_ref().expect("state");
    assert_eq!(state.http.as_deref(), Some("/api/state"));
    assert!(state.degraded.is_none());
}

#[test]
fn an_update_mechanism_needs_its_trusted_key() {
    let text = format!("{VALID}  update: {{ mechanism: smp-serial }}\n");
    assert_error(&text, 14, "declares.update", "trusted_key");
}

#[test]
fn api_account_not_declared() {
    let text = VALID.replace(
        "service: https }",
        "service: https, api: { auth: digest, accounts: [operator] } }",
    );
    assert_error(
        &text,
        13,
        "declares.interfaces[0].api.accounts",
        "account \"operator\" is not declared",
    );
}

#[test]
fn unknown_api_auth_kind() {
    let text = VALID.replace("service: https }", "service: https, api: { auth: ntlm } }");
    let (_, result, _dir) = load(&text);
    let err = result.expect_err("ntlm is no auth kind");
    assert_eq!(err.line, Some(13), "{err}");
    assert!(
        err.field.as_deref().is_some_and(|f| f.contains("api.auth")),
        "{err}"
    );
}

#[test]
fn bearer_needs_exactly_one_token_source() {
    let text = VALID.replace(
        "service: https }",
        "service: https, api: { auth: { bearer: {} } } }",
    );
    assert_error(
        &text,
        13,
        "declares.interfaces[0].api.auth.bearer",
        "exactly one of `token`",
    );
}

#[test]
fn a_resource_naming_an_unknown_api_is_refused() {
    let text = format!("{VALID}  state: {{ http: /status, api: 8080 }}\n");
    assert_error(&text, 14, "declares.state.api", "no API 8080");
}

#[test]
fn a_console_upload_needs_a_place_for_its_chunk() {
    let text = format!(
        "{VALID}  update:\n    trusted_key: k.pem\n    paths:\n      - smp-serial\n      - console: {{ command: fw-upload, success: '^ok', finish: fw-install }}\n"
    );
    assert_error(
        &text,
        18,
        "declares.update.paths[1].console.command",
        "{chunk}",
    );
}

#[test]
fn smp_read_back_needs_an_smp_path() {
    let text = format!(
        "{VALID}  update:\n    trusted_key: k.pem\n    paths: [ {{ http: {{ path: /fw, reboot: /reboot }} }} ]\n    read_back: [ smp ]\n"
    );
    assert_error(&text, 17, "declares.update.read_back[0]", "SMP path");
}

#[test]
fn an_update_path_without_read_back_is_refused() {
    let text = format!(
        "{VALID}  update:\n    trusted_key: k.pem\n    paths: [ {{ http: {{ path: /fw, body: {{ multipart: {{ field: firmware }} }}, reboot: /reboot }} }} ]\n"
    );
    assert_error(
        &text,
        14,
        "declares.update.read_back",
        "hilt reads which image runs",
    );
}

#[test]
fn a_label_password_needs_the_labels_pattern() {
    let text = VALID.replace("env:LAB7_PASSWORD", "label");
    assert_error(&text, 10, "declares.accounts.admin.password", "label");
}

#[test]
fn a_label_pattern_without_a_capture_group_is_refused() {
    let text =
        format!("{VALID}  identity:\n    physical: {{ file: label.txt, password: 'PW: \\S+' }}\n");
    assert_error(
        &text,
        15,
        "declares.identity.physical.password",
        "capture group",
    );
}

#[test]
fn a_label_read_by_its_own_patterns_gives_the_accounts_password() {
    let text = format!(
        "{}  identity:\n    physical: {{ file: label.txt, identifier: 'S/N: (\\S+)', password: 'PW: (\\S+)' }}\n",
        VALID.replace("env:LAB7_PASSWORD", "label")
    );
    let (file, result, _dir) = load(&text);
    let board = result.expect("loads");
    std::fs::write(
        file.with_file_name("label.txt"),
        "Thermostat T1\nS/N: T1-0042\nPW: Label-pass-1\n",
    )
    .expect("label");
    let password = board
        .account_password("admin")
        .expect("read from the label");
    assert_eq!(password.expose(), "Label-pass-1");
    assert!(board.preflight().is_empty(), "{:?}", board.preflight());
}

#[test]
fn a_dialogue_step_with_a_bad_prompt_names_its_field() {
    let text = VALID.replace(
        "account: admin }",
        "account: admin, change_password: { steps: [ { send: passwd, expect: '(' }, { send: '{new}' } ] } }",
    );
    assert_error(
        &text,
        11,
        "declares.console.change_password",
        "regular expression",
    );
}

#[test]
fn an_interfaces_lockout_with_its_window_and_scope_loads() {
    let text = VALID.replace(
        "service: https }",
        "service: https, auth: required, lockout: { threshold: 5, delay_s: 10, window_s: 60, per: account, reset_on_success: true } }",
    );
    let (_, result, _dir) = load(&text);
    let board = result.expect("valid");
    let lockout = board.spec.declares.interfaces[0]
        .lockout
        .clone()
        .expect("declared");
    assert_eq!(lockout.window_s, Some(60));
    assert_eq!(lockout.per, hilt_harness::board::LockoutScope::Account);
    assert!(lockout.reset_on_success);
}

#[test]
fn an_interfaces_lockout_is_not_adjustable() {
    let text = VALID.replace(
        "service: https }",
        "service: https, auth: required, lockout: { threshold: 5, threshold_parameter: lockout_threshold } }",
    );
    assert_error(
        &text,
        13,
        "declares.interfaces[0].lockout.threshold_parameter",
        "declare adjustable lockout settings under `declares.lockout`",
    );
}

#[test]
fn a_lockout_window_of_zero_is_refused() {
    let text = format!("{VALID}  lockout:\n    threshold: 3\n    window_s: 0\n");
    assert_error(
        &text,
        16,
        "declares.lockout.window_s",
        "counting window in seconds (1 or more)",
    );
}

#[test]
fn a_lockout_on_an_interface_without_a_login_is_refused() {
    let text = VALID.replace(
        "service: https }",
        "service: https, auth: none, lockout: { threshold: 5 } }",
    );
    assert_error(
        &text,
        13,
        "declares.interfaces[0].lockout",
        "takes no login",
    );
}
