//! Starting and stopping simulated boards. The simulator is a separate
//! program (`hilt-sim`, boards/sim) that shares no code with the harness;
//! hilt only runs it and reads the board files it prints.

use std::path::PathBuf;
use std::process::Command;

pub struct SimUp {
    pub board_files: Vec<PathBuf>,
    runtime_dir: PathBuf,
}

/// `hilt-sim` next to this executable (cargo puts both in target/*/), else
/// on PATH.
fn sim_binary() -> PathBuf {
    if let Ok(me) = std::env::current_exe() {
        if let Some(dir) = me.parent() {
            let beside = dir.join("hilt-sim");
            if beside.is_file() {
                return beside;
            }
        }
    }
    PathBuf::from("hilt-sim")
}

pub fn passthrough(args: &[String]) -> i32 {
    match Command::new(sim_binary()).args(args).status() {
        Ok(status) => status.code().unwrap_or(2),
        Err(e) => {
            eprintln!(
                "error: cannot run hilt-sim ({}): {e}",
                sim_binary().display()
            );
            2
        }
    }
}

/// Starts `count` boards in a runtime folder of this run's own, on board
/// indices hilt-sim finds free (it stops the ones it started if one fails).
pub fn up(count: u32, flaw: Option<&str>) -> Result<SimUp, String> {
    let runtime_dir = std::env::temp_dir().join(format!("hilt-run-{}", std::process::id()));
    let mut command = Command::new(sim_binary());
    command
        .arg("up")
        .arg("--count")
        .arg(count.to_string())
        .arg("--runtime-dir")
        .arg(&runtime_dir);
    if let Some(flaw) = flaw {
        command.arg("--flaw").arg(flaw);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", sim_binary().display()))?;
    if !output.status.success() {
        // hilt-sim stopped what it started; `down` makes sure of it.
        let _ = down(&SimUp {
            board_files: Vec::new(),
            runtime_dir,
        });
        return Err(format!(
            "hilt-sim up failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let board_files = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1).map(PathBuf::from))
        .collect::<Vec<_>>();
    if board_files.is_empty() {
        return Err("hilt-sim up printed no board files".into());
    }
    Ok(SimUp {
        board_files,
        runtime_dir,
    })
}

pub fn down(up: &SimUp) -> Result<(), String> {
    let status = Command::new(sim_binary())
        .arg("down")
        .arg("--runtime-dir")
        .arg(&up.runtime_dir)
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        // The runtime folder was this run's own (PTY links, flash, label).
        let _ = std::fs::remove_dir_all(&up.runtime_dir);
        Ok(())
    } else {
        Err(format!("hilt-sim down: {status}"))
    }
}
