//! A block of simulated boards at consecutive indices, started and stopped
//! with `hilt-sim`, and what the test reads about each board from the
//! runtime folder `hilt-sim` writes (its pid, the host side of its link,
//! its flash file): the handles a lab has on a real board's power, cable
//! and flash.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::HILT;

fn sim_binary() -> PathBuf {
    Path::new(HILT).with_file_name("hilt-sim")
}

/// One simulated board of a block.
#[derive(Debug, Clone)]
pub struct SimBoard {
    /// `sim-<index>`, the board name in trial names.
    pub name: String,
    pub board_file: PathBuf,
    dir: PathBuf,
}

impl SimBoard {
    /// The board's process: a power cut is its SIGKILL.
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The host side of the board's link (`hardware.network.interface`).
    pub fn host_link(&self) -> String {
        self.board_field("interface: ")
            .unwrap_or_else(|| panic!("no network interface in {}", self.board_file.display()))
    }

    /// The board's link subnet, from its address (`198.18.N.0/24`).
    pub fn subnet(&self) -> String {
        let address = self
            .board_field("address: ")
            .unwrap_or_else(|| panic!("no address in {}", self.board_file.display()));
        let network = address
            .rsplit_once('.')
            .map_or(address.as_str(), |(n, _)| n);
        format!("{network}.0/24")
    }

    fn board_field(&self, prefix: &str) -> Option<String> {
        let text = std::fs::read_to_string(&self.board_file).ok()?;
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|v| v.trim().to_string())
    }

    /// Whether the primary slot of the board's flash holds the image the
    /// board shipped with (`update.golden` at `update.primary_slot`).
    pub fn runs_golden_image(&self) -> Result<(), String> {
        let offset: usize = self
            .board_field("primary_slot: { offset: ")
            .and_then(|v| v.split(',').next().and_then(|n| n.trim().parse().ok()))
            .ok_or("no primary_slot offset in the board file")?;
        let golden = std::fs::read(self.dir.join("golden.bin")).map_err(|e| e.to_string())?;
        let flash = std::fs::read(self.dir.join("flash.bin")).map_err(|e| e.to_string())?;
        match flash.get(offset..offset + golden.len()) {
            Some(slot) if slot == golden.as_slice() => Ok(()),
            _ => Err("the primary slot no longer holds the golden image".into()),
        }
    }
}

/// Boards `base..base + count` in a runtime folder of their own; stopped
/// when dropped.
pub struct Block {
    runtime: tempfile::TempDir,
    pub base: u32,
    pub count: u32,
}

impl Block {
    pub fn new(base: u32, count: u32) -> Self {
        Self {
            runtime: tempfile::tempdir().expect("tempdir"),
            base,
            count,
        }
    }

    pub fn path(&self) -> &Path {
        self.runtime.path()
    }

    /// Starts every board that is not running (`fresh`: from a new flash).
    pub fn up(&self, fresh: bool) -> Vec<SimBoard> {
        let mut cmd = Command::new(sim_binary());
        cmd.args([
            "up",
            "--count",
            &self.count.to_string(),
            "--base-index",
            &self.base.to_string(),
            "--runtime-dir",
        ])
        .arg(self.path());
        if fresh {
            cmd.arg("--fresh");
        }
        let out = cmd
            .output()
            .expect("hilt-sim runs (cargo build --workspace --bins first)");
        assert!(
            out.status.success(),
            "hilt-sim up {}+{}: {}",
            self.base,
            self.count,
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let name = words.next()?.to_string();
                let file = PathBuf::from(words.next()?);
                let dir = file.parent()?.to_path_buf();
                Some(SimBoard {
                    name,
                    board_file: file,
                    dir,
                })
            })
            .collect()
    }

    pub fn down(&self) {
        let _ = Command::new(sim_binary())
            .args(["down", "--runtime-dir"])
            .arg(self.path())
            .output();
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        self.down();
    }
}
