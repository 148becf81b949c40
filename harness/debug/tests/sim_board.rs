//! The GDB client against hilt's simulated board (boards/sim), through its
//! debug port only, as CONTRACT.md describes it: 127.0.0.1:<3333+i>,
//! `E01` while readout protection is set. Skipped (with a note) when
//! `target/debug/hilt-sim` has not been built.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hilt_debug::gdb::{GdbClient, GdbConfig, GdbError};

fn sim_binary() -> Option<PathBuf> {
    let path = common::target_dir().join("debug/hilt-sim");
    path.is_file().then_some(path)
}

/// Boards started with `hilt-sim up`, stopped with `hilt-sim down` on drop.
struct Sim {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Sim {
    fn up(bin: &Path, index: u32, flaws: &[&str]) -> Sim {
        let dir = tempfile::tempdir().expect("runtime dir");
        let mut cmd = Command::new(bin);
        cmd.args(["up", "--count", "1", "--base-index", &index.to_string()])
            .arg("--runtime-dir")
            .arg(dir.path())
            .args(["--no-net", "--fresh"]);
        for flaw in flaws {
            cmd.args(["--flaw", flaw]);
        }
        let out = cmd.output().expect("run hilt-sim up");
        let sim = Sim {
            bin: bin.to_path_buf(),
            dir,
        };
        assert!(
            out.status.success(),
            "hilt-sim up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        sim
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = Command::new(&self.bin)
            .arg("down")
            .arg("--runtime-dir")
            .arg(self.dir.path())
            .output();
    }
}

fn connect(index: u32) -> GdbClient {
    let addr = format!("127.0.0.1:{}", 3333 + index);
    GdbClient::connect(
        &addr,
        GdbConfig {
            reply_timeout: Duration::from_secs(5),
            ..GdbConfig::default()
        },
    )
    .expect("connect to the simulated board's debug port")
}

#[test]
fn locked_board_refuses_reads_and_unlocked_board_shows_its_flash_map() {
    let Some(bin) = sim_binary() else {
        assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "note: target/debug/hilt-sim not built; skipping the simulated-board test: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip");
        eprintln!("note: target/debug/hilt-sim not built; skipping the simulated-board test");
        return;
    };

    // Reference firmware: readout protection set at boot.
    let locked = Sim::up(&bin, 180, &[]);
    let mut gdb = connect(180);
    match gdb.read_memory(0xC000, 16) {
        Err(GdbError::MemoryReadRefused { code, addr, .. }) => {
            assert_eq!(code, 0x01, "E01: readout protection");
            assert_eq!(addr, 0xC000);
        }
        other => panic!("a locked board must refuse the read, got {other:?}"),
    }
    let status = gdb.monitor("status").expect("monitor status");
    assert!(status.contains("readout protection"), "{status:?}");
    drop(gdb);
    drop(locked);

    // debug-unlocked flaw: the flash map of boards/sim/README.md reads out.
    let _open = Sim::up(&bin, 181, &["debug-unlocked"]);
    let mut gdb = connect(181);
    let config = gdb.read_memory(0xC000, 8).expect("bootloader config");
    assert_eq!(&config[..4], b"HSBC");
    assert_eq!(&config[4..8], &1u32.to_le_bytes(), "config version 1");
    let otp = gdb.read_memory(0x1000_0000, 4).expect("OTP");
    assert_eq!(&otp, b"HOTP");
    match gdb.read_memory(0x7000_0000, 4) {
        Err(GdbError::MemoryReadRefused { code: 0x0e, .. }) => {}
        other => panic!("unmapped address should give E0E, got {other:?}"),
    }
    let transcript = gdb.transcript().render();
    assert!(transcript.contains("$mc000,8#"), "{transcript}");
}
