//! What the record says about a run besides its trials: the lab's
//! statements (with hilt's defaults), each board's identification, and the
//! environment the tests ran in (17025 7.8.2.1 and 7.5).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hilt_reports::{BoardInfo, Environment, ReportInfo, ToolVersion};

use crate::board::Board;

/// What the caller knows about the run that the runner cannot: the lab's
/// statements and how hilt was built.
#[derive(Debug, Clone, Default)]
pub struct RunDescription {
    /// The lab's statements (`hilt run --lab-info FILE`); the runner fills
    /// what is left out with hilt's defaults (title, methods, statement,
    /// decision rule).
    pub report: ReportInfo,
    /// The git commit hilt was built from, if known.
    pub hilt_commit: Option<String>,
    /// Libraries built into hilt whose version matters to a result
    /// (probe-rs, ...).
    pub built_in: Vec<ToolVersion>,
}

/// How long `TOOL --version` may take before its version is left unknown.
const VERSION_LIMIT: Duration = Duration::from_secs(5);
/// How much of its output is read.
const VERSION_BYTES: usize = 4096;

/// A board's identification from its board file and the lab's item
/// statement; observed values are added as checks report them.
pub fn board_info(board: &Board, report: &ReportInfo, file_sha256: String) -> BoardInfo {
    let spec = &board.spec;
    let mut info = BoardInfo::new(
        board.name(),
        &spec.model,
        &board.file.display().to_string(),
        &file_sha256,
    );
    info.manufacturer = spec.manufacturer.clone();
    info.hardware_revision = spec.hardware_revision.clone();
    info.probe = spec
        .hardware
        .debug
        .as_ref()
        .and_then(|debug| match (&debug.probe, &debug.gdb) {
            (Some(probe), _) => Some(match &probe.selector {
                Some(selector) => format!("probe-rs {} {selector}", probe.chip),
                None => format!("probe-rs {}", probe.chip),
            }),
            (None, Some(gdb)) => Some(format!("gdb {gdb}")),
            (None, None) => None,
        });
    if let Some(item) = report.items.get(board.name()) {
        info.serial_number = item.serial_number.clone();
        info.physical_id = item.physical_id.clone();
        info.condition = item.condition.clone();
    }
    info
}

/// The environment: hilt's build, this host, and the versions of the
/// external tools the boards need (QEMU for QEMU boards).
pub fn environment(
    description: &RunDescription,
    boards: &[std::sync::Arc<Board>],
    host: String,
) -> Environment {
    let mut tools = description.built_in.clone();
    let mut systems: Vec<&str> = boards
        .iter()
        .filter_map(|b| b.spec.hardware.qemu.as_ref())
        .map(|q| q.system.as_str())
        .collect();
    systems.sort_unstable();
    systems.dedup();
    for system in systems {
        tools.push(ToolVersion {
            name: system.to_string(),
            version: tool_version(system).unwrap_or_else(|| "unknown".into()),
        });
    }
    Environment {
        hilt_version: env!("CARGO_PKG_VERSION").into(),
        hilt_commit: description.hilt_commit.clone(),
        host,
        os: os_description(),
        time_source: "this host's system clock, UTC (timestamps); its monotonic clock (offsets and durations)".into(),
        tools,
    }
}

fn os_description() -> String {
    let pretty = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        Ok(kernel) => format!("{pretty}, kernel {}", kernel.trim()),
        Err(_) => pretty,
    }
}

/// The first line of `PROGRAM --version`, bounded in time and size; None
/// when it cannot be run or says nothing.
fn tool_version(program: &str) -> Option<String> {
    use std::io::Read;
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < VERSION_LIMIT => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = Vec::new();
    child
        .stdout
        .take()?
        .take(VERSION_BYTES as u64)
        .read_to_end(&mut out)
        .ok()?;
    let text = String::from_utf8_lossy(&out);
    let line = text.lines().find(|l| !l.trim().is_empty())?.trim();
    Some(line.chars().take(200).collect())
}
