//! What the end-to-end tests of the `hilt` binary share: running it,
//! writing a suite file, reading the run record it wrote. Each test
//! binary uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const HILT: &str = env!("CARGO_BIN_EXE_hilt");

/// Runs `hilt ARGS` in `dir` with `env` set.
pub fn hilt_with(args: &[&str], dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(HILT);
    command.args(args).current_dir(dir);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("hilt runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `dir/NAME-suite.yaml` naming `checks` in order.
pub fn write_suite(
    dir: &Path,
    name: &str,
    default_timeout_s: Option<u64>,
    checks: &[&str],
) -> PathBuf {
    let mut s = format!("suite: {name}\ntitle: {name}\n");
    if let Some(t) = default_timeout_s {
        s.push_str(&format!("default_timeout_s: {t}\n"));
    }
    s.push_str("checks:\n");
    for check in checks {
        s.push_str(&format!("  - check: {check}\n"));
    }
    let path = dir.join(format!("{name}-suite.yaml"));
    std::fs::write(&path, s).expect("write suite");
    path
}

/// The folder of the (only) run under `dir/hilt-out`.
pub fn run_dir(dir: &Path) -> PathBuf {
    run_folder(&dir.join("hilt-out"), b"")
}

/// The run record of the (only) run under `dir/hilt-out`.
pub fn record(dir: &Path) -> serde_json::Value {
    let run = run_dir(dir);
    let bytes = std::fs::read(run.join("record.json")).expect("record.json");
    serde_json::from_slice(&bytes).expect("record is JSON")
}

/// The (only) run folder under `out` (hilt's `--out`); `stderr`, the
/// run's, says why when there is none.
pub fn run_folder(out: &Path, stderr: &[u8]) -> PathBuf {
    std::fs::read_dir(out)
        .unwrap_or_else(|e| panic!("no run folder in {} ({e}): {}", out.display(), text(stderr)))
        .flatten()
        .next()
        .unwrap_or_else(|| panic!("no run folder in {}: {}", out.display(), text(stderr)))
        .path()
}

/// Whether python3 can import `module` (a PyPI package an independent
/// check needs). When it cannot, fails with the install hint, or with
/// HILT_ALLOW_SKIP set says so and returns false.
pub fn have_python_module(module: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("HILT_ALLOW_SKIP").is_some(),
            "this test needs python3 with PyPI's {module}: run scripts/install-deps.sh \
             (as root) or set HILT_ALLOW_SKIP=1 to skip"
        );
        eprintln!("skipped: python3 {module} missing (HILT_ALLOW_SKIP)");
    }
    found
}
