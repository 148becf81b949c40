//! Debian's U-Boot in QEMU (boards/uboot-qemu-arm): `hilt run` starts the
//! machine itself, interrupts the autoboot countdown, and judges what a lab
//! would find: a console without login (AU-09 FAIL), configuration written
//! without authentication (CF-02 FAIL), an open gdbstub (AU-10 FAIL), the
//! environment lost at power-off (CF-01 FAIL), the support declaration
//! (NT-01, NT-02 DECLARED); everything else NOT_APPLICABLE, nothing
//! INCONCLUSIVE or ERROR: the table in docs/third-party.md, row for row. QEMU is gone afterwards, and when hilt is killed.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "support/third_party.rs"]
mod third_party_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hilt_cli::{text, HILT};
use third_party_support::{processes_mentioning, verdict_table};

const BIOS: &str = "/usr/lib/u-boot/qemu_arm/u-boot.bin";

fn board_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("boards/uboot-qemu-arm/board.yaml")
}

/// Whether QEMU and Debian's U-Boot are installed (else the hint, or a skip
/// with HILT_ALLOW_SKIP).
fn tools_present() -> bool {
    let qemu = Command::new("qemu-system-arm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if qemu && Path::new(BIOS).is_file() {
        return true;
    }
    let why = "qemu-system-arm or u-boot-qemu is not installed: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip";
    assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "{why}");
    eprintln!("note: {why}; skipping");
    false
}

/// A console transcript (`+seconds < text` from the device, `> text` to
/// it, one read a line) as one stream: the device's text joined, what hilt
/// sent as `[sent:text]`.
fn conversation(transcript: &str) -> String {
    let mut stream = String::new();
    for line in transcript.lines() {
        let Some((_, rest)) = line.split_once(' ') else {
            continue;
        };
        if let Some(text) = rest.strip_prefix("< ") {
            stream.push_str(text);
        } else if let Some(text) = rest.strip_prefix("> ") {
            stream.push_str(&format!("[sent:{text}]"));
        }
    }
    stream
}

fn machine_dir(pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("hilt-qemu-uboot-qemu-arm-{pid}"))
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

#[test]
fn uboot_in_qemu_fails_where_it_is_weak_and_shows_the_interrupted_autoboot() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let board = board_file();
    let child = Command::new(HILT)
        .args(["run", "-b"])
        .arg(&board)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hilt runs");
    let pid = child.id();
    let out = child.wait_with_output().expect("hilt ends");
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "FAILs and nothing worse: {stdout}\n{stderr}"
    );

    let run = std::fs::read_dir(dir.path().join("hilt-out"))
        .expect("hilt-out")
        .flatten()
        .next()
        .expect("one run")
        .path();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("record.json")).expect("record"))
            .expect("JSON");
    // Every trial as docs/third-party.md's table for this board says.
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/third-party.md"))
            .expect("docs/third-party.md");
    let expected = verdict_table(&doc, "uboot-qemu-arm").expect("the board's verdict table");
    let mut verdicts = BTreeMap::new();
    for trial in record["trials"].as_array().expect("trials") {
        let id = trial["catalogue_id"].as_str().unwrap_or("?").to_string();
        let verdict = trial["verdict"].as_str().expect("verdict").to_string();
        assert!(
            verdict != "INCONCLUSIVE" && verdict != "ERROR",
            "{id} {verdict}: {}",
            trial["reason"]
        );
        verdicts.insert(id, verdict);
    }
    assert_eq!(verdicts.len(), 42, "the whole nistir-8259a suite ran");
    assert_eq!(verdicts, expected, "{stdout}");
    // What the board is here to show, whatever the table says.
    for (id, verdict) in [("AU-09", "FAIL"), ("CF-02", "FAIL"), ("AU-10", "FAIL")] {
        assert_eq!(verdicts.get(id).map(String::as_str), Some(verdict), "{id}");
    }

    // The evidence: a console transcript with the countdown, the key hilt
    // sent, and U-Boot's prompt after it; and the setenv read back.
    let evidence = run.join("evidence/uboot-qemu-arm");
    let log = |check: &str| -> String {
        std::fs::read_to_string(evidence.join(check).join("console-1.log"))
            .unwrap_or_else(|e| panic!("{check} console-1.log: {e}"))
    };
    let mut interrupted = false;
    for entry in std::fs::read_dir(&evidence).expect("evidence").flatten() {
        for file in std::fs::read_dir(entry.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let stream = conversation(&std::fs::read_to_string(file.path()).unwrap_or_default());
            if let Some(at) = stream.find("Hit any key to stop autoboot") {
                // hilt's key, then U-Boot's prompt.
                let after = &stream[at..];
                if let Some(sent) = after.find("[sent: ]") {
                    interrupted |= after[sent..].contains("=> ");
                }
            }
        }
    }
    assert!(interrupted, "no transcript shows the interrupted autoboot");
    let cf02 = conversation(&log("device_configuration.unauthenticated_write"));
    let set = cf02
        .find("[sent:setenv bootdelay 7; saveenv")
        .unwrap_or_else(|| panic!("CF-02 sent setenv: {cf02}"));
    assert!(
        cf02[set..].contains("bootdelay=7"),
        "U-Boot read the value back: {cf02}"
    );

    let au10 = std::fs::read_to_string(evidence.join("logical_access.debug_port_locked/gdb.log"))
        .expect("AU-10 gdb transcript");
    assert!(au10.contains("$m"), "AU-10 read memory: {au10}");

    // QEMU went with the run, and so did its folder.
    assert!(
        processes_mentioning(&machine_dir(pid).display().to_string()).is_empty(),
        "QEMU outlived hilt"
    );
    assert!(!machine_dir(pid).exists(), "the machine's folder is left");
}

/// Starts `hilt run` on the board and waits until its QEMU runs.
fn start_hilt(dir: &Path) -> (std::process::Child, String) {
    let child = Command::new(HILT)
        .args(["run", "-b"])
        .arg(board_file())
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hilt runs");
    let machine = machine_dir(child.id()).display().to_string();
    let started = wait_until(Duration::from_secs(20), || {
        !processes_mentioning(&machine).is_empty()
    });
    assert!(started, "hilt never started QEMU");
    (child, machine)
}

#[test]
fn qemu_goes_with_a_killed_or_interrupted_hilt() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // Killed: QEMU dies with it (PR_SET_PDEATHSIG); its folder stays...
    let (mut killed, killed_machine) = start_hilt(dir.path());
    let _ = killed.kill();
    let _ = killed.wait();
    assert!(
        wait_until(Duration::from_secs(5), || processes_mentioning(
            &killed_machine
        )
        .is_empty()),
        "QEMU outlived a killed hilt: {:?}",
        processes_mentioning(&killed_machine)
    );
    // ...until the next run, which removes it. Interrupted (SIGINT, as
    // Ctrl-C): hilt stops QEMU itself, after the running check's undo.
    let (interrupted, machine) = start_hilt(dir.path());
    assert!(
        !Path::new(&killed_machine).exists(),
        "a dead run's folder is left"
    );
    // SAFETY: kill(2) on the child's pid with SIGINT.
    unsafe {
        libc::kill(interrupted.id() as libc::pid_t, libc::SIGINT);
    }
    let out = interrupted.wait_with_output().expect("hilt ends");
    assert_eq!(out.status.code(), Some(130), "interrupted run's exit");
    assert!(
        processes_mentioning(&machine).is_empty(),
        "QEMU outlived an interrupted hilt"
    );
    assert!(
        !Path::new(&machine).exists(),
        "the machine's folder is left"
    );
}

/// Flash at rest on a QEMU board: with the machine off (QEMU quit), a
/// pflash file written through `hardware.flash` is what the guest reads
/// after power-on (U-Boot's `md.b` on the second flash bank shows it).
/// This machine's console is a Unix socket (`console: socket`).
#[test]
fn a_pflash_file_written_while_off_is_what_the_machine_reads_after_power_on() {
    use hilt_harness::board::{Board, FlashRegion};
    use hilt_harness::driver::console as driver;
    use hilt_harness::stop::StopSignal;
    use hilt_harness::transport::power::{self, PowerAction};
    use hilt_harness::transport::{flash::OfflineFlash, qemu, serial::Console};

    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::File::create(dir.path().join("flash1.img"))
        .and_then(|f| f.set_len(64 << 20))
        .expect("a 64 MiB flash bank");
    let file = dir.path().join("board.yaml");
    let text = format!(
        "board: uboot-qemu-flash
model: U-Boot with a flash bank
hardware:
  qemu:
    system: qemu-system-arm
    machine: virt
    bios: {BIOS}
    pflash: [flash1.img]
    console: socket
    hold_until_console: true
  flash: {{ file: flash1.img }}
declares:
  console: {{ prompt: '=> ', autoboot: {{ pattern: 'Hit any key to stop autoboot' }} }}
"
    );
    std::fs::write(&file, text).expect("board file");
    let mut board = Board::load(&file).expect("board loads");
    let _machine = qemu::start(&mut board)
        .expect("QEMU starts")
        .expect("a QEMU board");
    let base = board.base_dir().to_path_buf();
    let switch = |action: PowerAction| {
        power::switch(board.spec.hardware.power.as_ref(), &base, action)
            .unwrap_or_else(|e| panic!("power {action:?}: {e}"))
    };
    let decl = board.spec.declares.console.clone().expect("console");
    let read_bank = || -> String {
        let serial = board.spec.hardware.serial.as_ref().expect("wired by start");
        assert!(serial.unix.is_some(), "a socket console: {serial:?}");
        let mut console = Console::open(serial, &base, StopSignal::after(Duration::from_secs(40)))
            .expect("console opens");
        qemu::release_hold(board.name()).expect("cont");
        driver::wake(&mut console, &decl, Duration::from_secs(20)).expect("U-Boot's prompt");
        driver::command(
            &mut console,
            &decl,
            "md.b 0x04000000 0x10",
            Duration::from_secs(10),
        )
        .expect("md.b")
    };
    const SHOWN: &str = "68 69 6c 74 2d 66 6c 61 73 68 2d 70 72 6f 62 65";
    let before = read_bank();
    assert!(before.contains("04000000:"), "md.b answered: {before}");
    assert!(!before.contains(SHOWN), "the bank starts blank: {before}");
    switch(PowerAction::Off);
    let flash = OfflineFlash::new(board.spec.hardware.flash.as_ref().expect("flash"), &base);
    flash
        .write(
            FlashRegion {
                offset: 0,
                size: 16,
            },
            b"hilt-flash-probe",
        )
        .expect("written at rest");
    switch(PowerAction::On);
    let after = read_bank();
    assert!(
        after.contains(SHOWN),
        "U-Boot reads what was written while off: {after}"
    );
}
