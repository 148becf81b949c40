//! Running the system tools the tests set devices up with (`ip`, daemons).
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};

/// Fails the test with the install hint when `tool` is not on PATH.
pub fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        found,
        "this test needs `{tool}` on PATH (scripts/install-deps.sh installs it)"
    );
}

/// Runs `cmd` (program and arguments) and returns what it did.
pub fn run(cmd: &[&str]) -> Output {
    Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd` and fails the test, with its stderr, unless it succeeded.
pub fn run_ok(cmd: &[&str]) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
