//! `hilt-sim up/down/status`: board processes and their runtime folders.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::claim::{self, Claim};
use crate::firmware;
use crate::netglue;

/// Names the environment variable that tells a board which descriptor
/// holds its index lock (so it can keep the lock from its own children).
pub const LOCK_FD_ENV: &str = "HILT_SIM_LOCK_FD";

pub struct UpOptions {
    pub count: u32,
    /// First of `count` consecutive indices; `None` picks free ones.
    pub base_index: Option<u32>,
    pub runtime_dir: PathBuf,
    pub flaws: Vec<String>,
    /// Device shapes (see `crate::shapes`).
    pub shapes: Vec<String>,
    pub loopback: bool,
    pub fresh: bool,
    pub no_net: bool,
}

pub fn board_dir(runtime: &Path, index: u32) -> PathBuf {
    runtime.join(format!("sim-{index}"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The pid in `dir/pid` if that process is a live hilt-sim board.
pub fn live_pid(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir.join("pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text = String::from_utf8_lossy(&cmdline);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    (text.contains("hilt-sim") && text.contains("board") && !zombie).then_some(pid)
}

pub fn up(o: &UpOptions) -> anyhow::Result<Vec<(u32, PathBuf)>> {
    firmware::split_flaws(&o.flaws).map_err(anyhow::Error::msg)?;
    let shapes = crate::shapes::validate(&o.shapes).map_err(anyhow::Error::msg)?;
    let mut out = Vec::new();
    let claims = match o.base_index {
        Some(base) => {
            if o.count == 0 || base + o.count > claim::MAX_INDEX + 1 {
                bail!("indices must lie in 0..={}", claim::MAX_INDEX);
            }
            let mut claims = Vec::new();
            for index in base..base + o.count {
                let dir = board_dir(&o.runtime_dir, index);
                // Already running from this runtime folder: reuse it.
                if live_pid(&dir).is_some() {
                    out.push((index, dir.join("board.yaml")));
                } else {
                    claims.extend(claim::claim_range(index, 1)?);
                }
            }
            claims
        }
        None => {
            if o.count == 0 || o.count > claim::MAX_INDEX + 1 {
                bail!("--count must lie in 1..={}", claim::MAX_INDEX + 1);
            }
            claim::claim_free(o.count)?
        }
    };
    let loopback = o.loopback || !is_root();
    let exe = std::env::current_exe().context("cannot find the hilt-sim executable")?;
    let mut flaws = o.flaws.clone();
    flaws.sort();
    flaws.dedup();
    // Until every board reported ready, a failure stops the ones started.
    let mut started = Started {
        runtime_dir: o.runtime_dir.clone(),
        indices: Vec::new(),
    };
    let mut waiting = Vec::new();
    for claim in &claims {
        let (rx, board_file) = start(o, &exe, &flaws, &shapes, loopback, claim)?;
        started.indices.push(claim.index);
        waiting.push((claim.index, board_file, rx));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for (index, board_file, rx) in waiting {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if l.starts_with("ready") => out.push((index, board_file)),
            _ => {
                let dir = board_dir(&o.runtime_dir, index);
                let log = std::fs::read_to_string(dir.join("board.log")).unwrap_or_default();
                bail!("sim-{index} did not come up:\n{log}");
            }
        }
    }
    started.indices.clear();
    out.sort();
    Ok(out)
}

/// Boards this `up` started; dropped before they all came up, it stops
/// them, so a failed `up` leaves nothing running.
struct Started {
    runtime_dir: PathBuf,
    indices: Vec<u32>,
}

impl Drop for Started {
    fn drop(&mut self) {
        for &index in &self.indices {
            if let Err(e) = down(&self.runtime_dir, Some(index)) {
                eprintln!("hilt-sim: stopping sim-{index}: {e:#}");
            }
        }
    }
}

/// Provisions the runtime folder of `claim`'s board and starts it; the
/// receiver gets the board's first line ("ready" once at its login prompt).
fn start(
    o: &UpOptions,
    exe: &Path,
    flaws: &[String],
    shapes: &[String],
    loopback: bool,
    claim: &Claim,
) -> anyhow::Result<(std::sync::mpsc::Receiver<String>, PathBuf)> {
    let index = claim.index;
    let recipe = if shapes.is_empty() {
        serde_json::json!({ "flaws": flaws })
    } else {
        serde_json::json!({ "flaws": flaws, "shapes": shapes })
    }
    .to_string();
    let dir = board_dir(&o.runtime_dir, index);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let board_file = dir.join("board.yaml");
    let old = std::fs::read_to_string(dir.join("provision.json")).unwrap_or_default();
    if o.fresh || old != recipe {
        let _ = std::fs::remove_file(dir.join("flash.bin"));
    }
    std::fs::write(dir.join("provision.json"), &recipe)?;
    std::fs::write(dir.join("trusted-key.pem"), firmware::TEST_PUB_ED25519_PEM)?;
    // The golden image is the one the factory programmed: the board's
    // own firmware, flaws included (a lab restores a board to what it
    // shipped with, not to another product's firmware).
    let golden = firmware::build_for_board(
        flaws,
        shapes,
        firmware::REFERENCE_VERSION,
        firmware::REFERENCE_SECURITY_COUNTER,
    )
    .map_err(anyhow::Error::msg)?;
    std::fs::write(dir.join("golden.bin"), golden)?;
    // What a manufacturer hands a lab besides the shipped image: a
    // genuine newer release (same security counter, so a test boot of
    // it can be reverted) and an archived older one with a lower
    // counter (the rollback test).
    let candidate = firmware::build_for_board(
        flaws,
        shapes,
        firmware::CANDIDATE_VERSION,
        firmware::REFERENCE_SECURITY_COUNTER,
    )
    .map_err(anyhow::Error::msg)?;
    std::fs::write(dir.join("candidate.bin"), candidate)?;
    let older = firmware::build_for_board(
        flaws,
        shapes,
        firmware::OLDER_VERSION,
        firmware::REFERENCE_SECURITY_COUNTER.saturating_sub(1),
    )
    .map_err(anyhow::Error::msg)?;
    std::fs::write(dir.join("older.bin"), older)?;
    // The test PKI for the telemetry client (CA certificate and its
    // TEST-ONLY key), there even for a board started without network.
    netglue::publish_test_pki(&dir).map_err(anyhow::Error::msg)?;
    std::fs::write(&board_file, board_yaml(index, &dir, loopback, shapes)?)?;
    let log = std::fs::File::create(dir.join("board.log"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("board")
        .arg("--index")
        .arg(index.to_string())
        .arg("--runtime-dir")
        .arg(&o.runtime_dir);
    for f in flaws {
        cmd.arg("--flaw").arg(f);
    }
    for s in shapes {
        cmd.arg("--shape").arg(s);
    }
    if loopback {
        cmd.arg("--loopback");
    }
    if o.no_net {
        cmd.arg("--no-net");
    }
    let lock_fd = claim.raw_fd();
    cmd.env(LOCK_FD_ENV, lock_fd.to_string());
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
    // SAFETY: setsid and fcntl are async-signal-safe. The board leaves our
    // session so it outlives this command and the terminal it ran in, and
    // keeps the index lock open across exec (it holds it while it runs).
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            if libc::fcntl(lock_fd, libc::F_SETFD, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("cannot start a board process")?;
    let pid = child.id();
    claim.record_holder(pid, &o.runtime_dir);
    std::fs::write(dir.join("pid"), format!("{pid}\n"))?;
    let stdout = child.stdout.take();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        if let Some(s) = stdout {
            let _ = BufReader::new(s).read_line(&mut line);
        }
        let _ = tx.send(line);
        // Reap the child if it dies while we still wait (no zombie).
        let _ = child.try_wait();
    });
    Ok((rx, board_file))
}

/// In a board process: keeps the inherited index lock from the board's
/// own children (so the lock ends with the board, not with a child).
pub fn keep_lock_private() {
    let Some(fd) = std::env::var(LOCK_FD_ENV)
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
    else {
        return;
    };
    // SAFETY: fcntl on a descriptor number; a wrong one fails harmlessly.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    std::env::remove_var(LOCK_FD_ENV);
}

pub fn down(runtime: &Path, index: Option<u32>) -> anyhow::Result<Vec<u32>> {
    let mut stopped = Vec::new();
    for (i, dir) in boards(runtime, index) {
        if let Some(pid) = live_pid(&dir) {
            // A power cut: the device gets no chance to clean up.
            // SAFETY: plain kill(2) on a pid checked to be a board process.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            let t = Instant::now();
            while live_pid(&dir).is_some() && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(10));
            }
            stopped.push(i);
        }
        netglue::teardown(i);
        for f in ["pid", "tty", "power.sock"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
    }
    Ok(stopped)
}

fn boards(runtime: &Path, index: Option<u32>) -> Vec<(u32, PathBuf)> {
    if let Some(i) = index {
        return vec![(i, board_dir(runtime, i))];
    }
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(runtime)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let i = name.strip_prefix("sim-")?.parse().ok()?;
            Some((i, e.path()))
        })
        .collect();
    v.sort();
    v
}

pub fn status(runtime: &Path) -> Vec<String> {
    boards(runtime, None)
        .into_iter()
        .map(|(i, dir)| {
            let state = match live_pid(&dir) {
                Some(pid) => format!("running pid {pid}"),
                None => "stopped".into(),
            };
            let tty = std::fs::read_link(dir.join("tty"))
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "-".into());
            let id = std::fs::read_to_string(dir.join("label.txt"))
                .ok()
                .and_then(|l| {
                    l.lines()
                        .find_map(|l| l.strip_prefix("device_id: ").map(str::to_string))
                })
                .unwrap_or_else(|| "-".into());
            format!(
                "sim-{i} {state} tty={tty} device_id={id} dir={}",
                dir.display()
            )
        })
        .collect()
}

/// A board file for one instance, as a manufacturer would describe the
/// product and a lab its wiring. `dir` absolute paths are used for the
/// instance's files; `trusted_key` and `golden` may be given relative.
/// The board file of instance `index` with device `shapes`.
pub fn board_yaml(
    index: u32,
    dir: &Path,
    loopback: bool,
    shapes: &[String],
) -> anyhow::Result<String> {
    board_yaml_with(
        index,
        dir,
        loopback,
        &dir.join("trusted-key.pem").display().to_string(),
        shapes,
    )
}

/// Like [`board_yaml`], naming the trusted key as `trusted_key`.
pub fn board_yaml_with(
    index: u32,
    dir: &Path,
    loopback: bool,
    trusted_key: &str,
    shapes: &[String],
) -> anyhow::Result<String> {
    let reference = reference_board_yaml(index, dir, loopback, trusted_key);
    let ctx = crate::shapes::BoardFileContext {
        dir: dir.to_path_buf(),
        index,
        loopback,
    };
    crate::shapes::board_file(&reference, shapes, &ctx).map_err(anyhow::Error::msg)
}

/// The reference board's file (no shapes), as a lab would write it.
fn reference_board_yaml(index: u32, dir: &Path, loopback: bool, trusted_key: &str) -> String {
    let d = dir.display();
    let (addr, host, interface) = netglue::addresses(index, loopback);
    let https = netglue::port(443, loopback);
    let telnet = netglue::port(23, loopback);
    let slot0_offset = crate::flash::SLOT0_OFF;
    let slot0_size = crate::flash::SLOT_SIZE;
    format!(
        r#"# Board file for the simulated reference board sim-{index}.
# Generated by hilt-sim; the same shape a lab writes for a real device.
board: sim-{index}
model: "{model}"
manufacturer: "{manufacturer}"
hardware_revision: sim-1
hardware:
  serial:
    port: {d}/tty
    baud: 115200
    line_ending: cr
  network:
    address: {addr}
    interface: {interface}
    host_address: {host}
  debug:
    gdb: "127.0.0.1:{gdb}"
  power:
    sim: {d}/power.sock
  flash:
    file: {d}/flash.bin
declares:
  identity:
    logical:
      - console: {{ command: id, pattern: "device_id: (\\S+)" }}
      - http: {{ path: /api/v1/identity, field: device_id }}
    physical: {d}/label.txt
  interfaces:
    - {{ port: {https}, protocol: tcp, service: https, auth: required, api: {{ auth: basic, accounts: [admin] }} }}
    - {{ port: {telnet}, protocol: tcp, service: telnet, auth: required, enabled_by_default: false, toggle: {{ parameter: telnet_enabled, on: "true", off: "false" }} }}
  accounts:
    admin: {{ password: "file:{d}/password", role: admin }}
  console:
    login: "login: "
    password: "Password: "
    prompt: "sim> "
    account: admin
    settle_ms: 40
    change_password: "passwd {{new}}"
    reboot: reboot
  lockout: {{ threshold: 5, delay_s: 30, threshold_parameter: lockout_threshold, delay_parameter: lockout_delay_s }}
  state: {{ console: status, http: /api/v1/status, degraded: degraded, version_console: version }}
  configuration:
    parameter: setpoint
    test_value: "225"
    console: {{ get: "config get {{param}}", set: "config set {{param}} {{value}}" }}
    http: {{ path: /api/v1/config }}
  update:
    format: mcuboot
    trusted_key: {trusted_key}
    golden: {d}/golden.bin
    candidate: {d}/candidate.bin
    older: {d}/older.bin
    rollback_protection: true
    paths:
      - smp-serial
      - http: {{ path: "/api/v1/firmware?mode=test", reboot: /api/v1/reboot, confirm: /api/v1/firmware/confirm }}
    read_back:
      - smp
    setting: {{ parameter: updates_enabled, enabled: "true", disabled: "false" }}
    primary_slot: {{ offset: {slot0_offset}, size: {slot0_size} }}
  debug_port: locked
  device_ca: {d}/manufacturer-ca.pem
  tls_clients:
    - {{ purpose: telemetry, server_parameter: telemetry_server, server_name: telemetry.hilt.test, interval_parameter: telemetry_interval_s, test_ca: {{ cert: {d}/telemetry-ca.pem, key: {d}/telemetry-ca.key }} }}
  logging:
    event_log: {{ console: log, console_clear: log clear, http: /api/v1/events }}
    syslog: {{ collector_parameter: syslog_collector, protocol: udp }}
  factory_reset: {{ console: factory-reset, http: /api/v1/factory-reset }}
  support:
    end_of_support: "2031-12-31"
    vulnerability_contact: "security@example.com"
    disclosure_policy: "https://example.com/security/disclosure"
"#,
        model = firmware::MODEL,
        manufacturer = firmware::MANUFACTURER,
        gdb = 3333 + index,
    )
}
