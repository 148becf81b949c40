//! Build facts the run record carries (ISO/IEC 17025 7.5: enough to repeat
//! a test): the git commit hilt was built from, and the versions of the
//! libraries built in that act on devices (probe-rs), from Cargo.lock.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=HILT_GIT_COMMIT");
    // A build from a source archive can say where it came from.
    let commit = std::env::var("HILT_GIT_COMMIT")
        .ok()
        .or_else(|| git(&["rev-parse", "HEAD"]));
    if let Some(commit) = &commit {
        println!("cargo:rustc-env=HILT_GIT_COMMIT={commit}");
    }
    // Rebuild when HEAD moves: HEAD itself (a branch switch) and the
    // branch it points to (a commit), loose or packed.
    let mut watch = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["rev-parse", "--symbolic-full-name", "HEAD"]) {
        watch.push(git(&["rev-parse", "--git-path", &branch]));
    }
    watch.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    for path in watch.into_iter().flatten() {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }

    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let probe_rs = locked_version(&lock, "probe-rs").unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=HILT_PROBE_RS_VERSION={probe_rs}");
}

/// The version Cargo.lock pins for package `name`.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let version = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_string());
        }
    }
    None
}
