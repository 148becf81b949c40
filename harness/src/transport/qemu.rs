//! QEMU as a board: hilt starts the machine a board file's `hardware.qemu`
//! describes and reaches it the way a lab reaches a real board: its first
//! serial port through a chardev PTY (a fixed link in the machine's
//! runtime folder points at the current one), its debug port through the
//! gdbstub on a loopback port, its power through QMP.
//!
//! Power, as a lab's relay gives it: `on` starts QEMU (nothing if it
//! runs), `off` quits it (QMP `quit`; files it holds, pflash and drives,
//! can then be written at rest), `cycle` quits and starts it again, a cold
//! boot that reads the flash files anew (a warm `system_reset` would not).
//!
//! Lifetime: [`start`] starts the machine and returns a guard that quits
//! it, kills it if it does not go, and removes its folder. QEMU is started
//! with PR_SET_PDEATHSIG (SIGKILL) from one long-lived launcher thread, so
//! it dies with hilt even when hilt is killed; the signal follows the
//! thread that forked, which is why no check thread forks QEMU itself.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::board::{
    Board, DebugWiring, HostPort, LineEnding, PowerWiring, QemuConsole, QemuNetwork, QemuWiring,
    SerialWiring,
};

use super::power::{PowerAction, PowerError};

/// Why a QEMU machine could not be started, reached or stopped. All are
/// faults of the board's wiring (or of this host), never of the device.
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("cannot create the machine's folder {}: {source}", .path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {system}: {source} (install it: scripts/install-deps.sh)")]
    Spawn {
        system: String,
        source: std::io::Error,
    },
    #[error("QEMU ({system}) exited at start ({status}): {log}")]
    Exited {
        system: String,
        status: String,
        log: String,
    },
    #[error("QEMU's QMP socket {} did not answer within {:.1} s: {why}", .path.display(), .waited.as_secs_f64())]
    NoQmp {
        path: PathBuf,
        waited: Duration,
        why: String,
    },
    #[error("QMP `{command}`: {why}")]
    Qmp { command: String, why: String },
    #[error("no free loopback port for the gdbstub: {0}")]
    Port(std::io::Error),
    #[error("the board {0} has no QEMU machine running in this hilt")]
    Unknown(String),
    #[error("the machine's launcher thread is gone")]
    Launcher,
    #[error("the machine's tap: {0}")]
    Tap(String),
}

impl From<QemuError> for PowerError {
    fn from(err: QemuError) -> Self {
        PowerError::Qemu(err.to_string())
    }
}

/// How long one QMP reply may take.
const QMP_REPLY: Duration = Duration::from_secs(10);
/// How long QEMU may take to exit after `quit` before it is killed.
const QUIT_WAIT: Duration = Duration::from_secs(5);
/// The longest QMP line hilt reads (a `query-chardev` reply is far shorter).
const QMP_LINE_MAX: u64 = 256 * 1024;
/// The chardev id of the console.
const CONSOLE_ID: &str = "hiltcon0";

/// One QMP session on QEMU's control socket.
struct Qmp {
    reader: BufReader<std::io::Take<UnixStream>>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(path: &Path) -> Result<Self, String> {
        let stream = UnixStream::connect(path).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(QMP_REPLY))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut qmp = Self {
            reader: BufReader::new(stream.take(QMP_LINE_MAX)),
            writer,
        };
        let greeting = qmp.line()?;
        if greeting.get("QMP").is_none() {
            return Err(format!(
                "not a QMP greeting: {}",
                clip(&greeting.to_string())
            ));
        }
        qmp.execute("qmp_capabilities", None)?;
        Ok(qmp)
    }

    fn line(&mut self) -> Result<Value, String> {
        self.reader.get_mut().set_limit(QMP_LINE_MAX);
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|e| format!("reading: {e}"))?;
        if n == 0 {
            return Err("QEMU closed the QMP socket".into());
        }
        if !line.ends_with('\n') {
            return Err(format!("a QMP line over {QMP_LINE_MAX} bytes"));
        }
        serde_json::from_str(&line).map_err(|e| format!("not JSON ({e}): {}", clip(&line)))
    }

    /// Runs one command and returns its `return` value; events in between
    /// are skipped.
    fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, String> {
        let mut request = json!({ "execute": command });
        if let Some(arguments) = arguments {
            request["arguments"] = arguments;
        }
        let mut bytes = request.to_string().into_bytes();
        bytes.push(b'\n');
        self.writer
            .write_all(&bytes)
            .map_err(|e| format!("writing: {e}"))?;
        for _ in 0..1000 {
            let reply = self.line()?;
            if let Some(value) = reply.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = reply.get("error") {
                return Err(format!("QEMU refused: {}", clip(&error.to_string())));
            }
            // An asynchronous event ({"event": ...}): not our reply.
        }
        Err("no reply among a thousand QMP events".into())
    }
}

fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

/// Runs `job` on the launcher thread, which lives as long as hilt does, so
/// the PR_SET_PDEATHSIG of what it forks fires only when hilt ends.
fn on_launcher<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, QemuError> {
    type Job = Box<dyn FnOnce() + Send>;
    static LAUNCHER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let sender = LAUNCHER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let _ = std::thread::Builder::new()
            .name("qemu-launcher".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        Mutex::new(tx)
    });
    let (done_tx, done_rx) = mpsc::channel();
    let job: Job = Box::new(move || {
        let _ = done_tx.send(job());
    });
    sender
        .lock()
        .map_err(|_| QemuError::Launcher)?
        .send(job)
        .map_err(|_| QemuError::Launcher)?;
    done_rx.recv().map_err(|_| QemuError::Launcher)
}

/// One running (or stopped) machine.
struct Machine {
    wiring: QemuWiring,
    base_dir: PathBuf,
    dir: PathBuf,
    gdb_port: Option<u16>,
    child: Option<Child>,
    /// Started with `-S` and not yet continued.
    held: bool,
}

type Shared = Arc<Mutex<Machine>>;

fn machines() -> &'static Mutex<BTreeMap<String, Shared>> {
    static MACHINES: OnceLock<Mutex<BTreeMap<String, Shared>>> = OnceLock::new();
    MACHINES.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn machine(board: &str) -> Result<Shared, QemuError> {
    machines()
        .lock()
        .map_err(|_| QemuError::Unknown(board.to_string()))?
        .get(board)
        .cloned()
        .ok_or_else(|| QemuError::Unknown(board.to_string()))
}

impl Machine {
    fn qmp_path(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }

    fn console_link(&self) -> PathBuf {
        self.dir.join("console")
    }

    fn console_socket(&self) -> PathBuf {
        self.dir.join("console.sock")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("qemu.log")
    }

    fn resolve(&self, path: &Path) -> String {
        self.base_dir.join(path).display().to_string()
    }

    /// QEMU's command line, without the binary.
    fn args(&self) -> Vec<String> {
        let w = &self.wiring;
        let mut args: Vec<String> = vec!["-M".into(), w.machine.clone()];
        // Software emulation only: KVM does not run guests on these hosts.
        args.extend(["-accel".into(), "tcg".into()]);
        if let Some(cpu) = &w.cpu {
            args.extend(["-cpu".into(), cpu.clone()]);
        }
        if let Some(memory) = &w.memory {
            args.extend(["-m".into(), memory.clone()]);
        }
        for (flag, path) in [
            ("-bios", &w.bios),
            ("-kernel", &w.kernel),
            ("-initrd", &w.initrd),
        ] {
            if let Some(path) = path {
                args.extend([flag.into(), self.resolve(path)]);
            }
        }
        if let Some(append) = &w.append {
            args.extend(["-append".into(), append.clone()]);
        }
        // With `-bios` the first flash bank holds the firmware; the files
        // fill the banks after it.
        let first_unit = usize::from(w.bios.is_some());
        for (i, file) in w.pflash.iter().enumerate() {
            args.extend([
                "-drive".into(),
                format!(
                    "if=pflash,unit={},format=raw,file={}",
                    first_unit + i,
                    escape_opt(&self.resolve(file))
                ),
            ]);
        }
        for drive in &w.drives {
            args.extend([
                "-drive".into(),
                format!(
                    "file={},format={},if={}",
                    escape_opt(&self.resolve(&drive.file)),
                    drive.format,
                    drive.interface
                ),
            ]);
        }
        args.extend(["-display".into(), "none".into()]);
        args.extend(["-monitor".into(), "none".into()]);
        args.extend(["-parallel".into(), "none".into()]);
        match w.console {
            QemuConsole::Pty => {
                args.extend(["-chardev".into(), format!("pty,id={CONSOLE_ID}")]);
            }
            QemuConsole::Socket => {
                args.extend([
                    "-chardev".into(),
                    format!(
                        "socket,id={CONSOLE_ID},path={},server=on,wait=off",
                        escape_opt(&self.console_socket().display().to_string())
                    ),
                ]);
            }
        }
        args.extend(["-serial".into(), format!("chardev:{CONSOLE_ID}")]);
        match &w.network {
            // No NIC, so no option ROM (efi-virtio.rom) is needed.
            QemuNetwork::None => args.extend(["-nic".into(), "none".into()]),
            // The tap hilt made; the card without an option ROM (`romfile=`),
            // which a fresh machine without ipxe-qemu does not have.
            QemuNetwork::Tap(tap) => {
                args.extend([
                    "-netdev".into(),
                    format!(
                        "tap,id=hiltnet0,ifname={},script=no,downscript=no",
                        escape_opt(&tap.ifname)
                    ),
                ]);
                let mut device = format!("{},netdev=hiltnet0,romfile=", tap.model);
                if let Some(mac) = &tap.mac {
                    device.push_str(&format!(",mac={mac}"));
                }
                args.extend(["-device".into(), device]);
            }
        }
        args.extend([
            "-qmp".into(),
            format!(
                "unix:{},server=on,wait=off",
                escape_opt(&self.qmp_path().display().to_string())
            ),
        ]);
        if let Some(port) = self.gdb_port {
            args.extend(["-gdb".into(), format!("tcp:127.0.0.1:{port}")]);
        }
        if w.hold_until_console {
            args.push("-S".into());
        }
        args.extend(w.extra_args.iter().cloned());
        args
    }

    fn start(&mut self) -> Result<(), QemuError> {
        if self.child.is_some() {
            return Ok(());
        }
        let _ = std::fs::remove_file(self.qmp_path());
        let log = std::fs::File::create(self.log_path()).map_err(|source| QemuError::Folder {
            path: self.log_path(),
            source,
        })?;
        let system = self.wiring.system.clone();
        let args = self.args();
        let child = on_launcher(move || {
            use std::os::unix::process::CommandExt;
            let mut command = Command::new(&system);
            command
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(log))
                // Its own process group: a Ctrl-C at the terminal is hilt's
                // to handle (it undoes the running check's changes on the
                // machine before it stops it).
                .process_group(0);
            // SAFETY: prctl and getppid are async-signal-safe; nothing
            // else runs between fork and exec here.
            unsafe {
                command.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    if libc::getppid() == 1 {
                        // hilt died before the signal was armed.
                        return Err(std::io::Error::other("hilt exited"));
                    }
                    Ok(())
                });
            }
            command
                .spawn()
                .map_err(|source| QemuError::Spawn { system, source })
        })??;
        self.child = Some(child);
        self.held = self.wiring.hold_until_console;
        match self.await_qmp().and_then(|()| self.link_console()) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.kill();
                Err(e)
            }
        }
    }

    /// Waits for the QMP socket to answer, or QEMU to exit.
    fn await_qmp(&mut self) -> Result<(), QemuError> {
        let waited = Duration::from_secs(u64::from(self.wiring.start_timeout_s.max(1)));
        let until = Instant::now() + waited;
        let mut why = String::from("no socket yet");
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(QemuError::Exited {
                        system: self.wiring.system.clone(),
                        status: status.to_string(),
                        log: self.log_tail(),
                    });
                }
            }
            if self.qmp_path().exists() {
                match Qmp::connect(&self.qmp_path()) {
                    Ok(_) => return Ok(()),
                    Err(e) => why = e,
                }
            }
            if Instant::now() >= until {
                return Err(QemuError::NoQmp {
                    path: self.qmp_path(),
                    waited,
                    why,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn qmp(&self, command: &str, arguments: Option<Value>) -> Result<Value, QemuError> {
        let fault = |why: String| QemuError::Qmp {
            command: command.to_string(),
            why,
        };
        let mut qmp = Qmp::connect(&self.qmp_path()).map_err(fault)?;
        qmp.execute(command, arguments).map_err(fault)
    }

    /// Points the console link at the PTY QEMU allocated this time (a
    /// socket console keeps its path).
    fn link_console(&self) -> Result<(), QemuError> {
        if self.wiring.console == QemuConsole::Socket {
            return Ok(());
        }
        let chardevs = self.qmp("query-chardev", None)?;
        let pty = chardevs
            .as_array()
            .and_then(|list| {
                list.iter()
                    .find(|c| c.get("label").and_then(Value::as_str) == Some(CONSOLE_ID))
            })
            .and_then(|c| c.get("filename").and_then(Value::as_str))
            .and_then(|f| f.strip_prefix("pty:"))
            .ok_or_else(|| QemuError::Qmp {
                command: "query-chardev".into(),
                why: format!("no PTY for chardev {CONSOLE_ID}"),
            })?
            .to_string();
        let link = self.console_link();
        let tmp = self.dir.join("console.new");
        let _ = std::fs::remove_file(&tmp);
        let folder = |source| QemuError::Folder {
            path: link.clone(),
            source,
        };
        std::os::unix::fs::symlink(&pty, &tmp).map_err(folder)?;
        std::fs::rename(&tmp, &link).map_err(folder)
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(file) = std::fs::File::open(self.log_path()) {
            let _ = file.take(64 * 1024).read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        let joined: Vec<&str> = lines.into_iter().rev().collect();
        clip(&joined.join(" | "))
    }

    /// Quits QEMU (QMP `quit`), killing it if it does not go in time.
    fn stop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            let _ = self.qmp("quit", None);
        }
        let until = Instant::now() + QUIT_WAIT;
        while Instant::now() < until {
            match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(None)) => std::thread::sleep(Duration::from_millis(20)),
                _ => break,
            }
        }
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.held = false;
    }

    fn running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                // It exited by itself (the guest powered off, or it crashed).
                self.kill();
                false
            }
            None => false,
        }
    }
}

/// Stops the machine when the run ends (or unwinds).
pub struct QemuGuard {
    board: String,
    machine: Shared,
    /// The tap hilt created for the machine, deleted after it stops.
    tap: Option<String>,
}

/// Runs `ip ARGS`; the error names the command and what it said.
fn ip(args: &[&str]) -> Result<(), QemuError> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| QemuError::Tap(format!("ip {}: {e} (install iproute2)", args.join(" "))))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(QemuError::Tap(format!(
            "ip {}: {}",
            args.join(" "),
            clip(&String::from_utf8_lossy(&output.stderr))
        )))
    }
}

/// Makes the tap of a `network: { tap }` machine unless it exists: a
/// persistent tap, so it outlives each QEMU process across power cycles,
/// with this host's address, up. Returns whether hilt created it.
fn ensure_tap(tap: &crate::board::QemuTap) -> Result<bool, QemuError> {
    let exists = Path::new("/sys/class/net").join(&tap.ifname).exists();
    if exists {
        return Ok(false);
    }
    ip(&["tuntap", "add", "dev", &tap.ifname, "mode", "tap"])?;
    let configured = ip(&["addr", "replace", &tap.host_address, "dev", &tap.ifname])
        .and_then(|()| ip(&["link", "set", "dev", &tap.ifname, "up"]));
    if let Err(e) = configured {
        let _ = ip(&["link", "del", "dev", &tap.ifname]);
        return Err(e);
    }
    Ok(true)
}

impl QemuGuard {
    /// The machine's runtime folder (QMP socket, console link, QEMU's log).
    pub fn dir(&self) -> PathBuf {
        self.machine
            .lock()
            .map(|m| m.dir.clone())
            .unwrap_or_default()
    }
}

impl Drop for QemuGuard {
    fn drop(&mut self) {
        if let Ok(mut machines) = machines().lock() {
            machines.remove(&self.board);
        }
        let dir = match self.machine.lock() {
            Ok(mut m) => {
                m.stop();
                Some(m.dir.clone())
            }
            Err(poisoned) => {
                let mut m = poisoned.into_inner();
                m.kill();
                Some(m.dir.clone())
            }
        };
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(tap) = self.tap.take() {
            let _ = ip(&["link", "del", "dev", &tap]);
        }
    }
}

/// Removes the folders of machines whose hilt is gone (killed before its
/// guards ran; QEMU itself died with it).
fn remove_stale_folders() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("hilt-qemu-")) else {
            continue;
        };
        let Some(pid) = rest
            .rsplit_once('-')
            .and_then(|(_, pid)| pid.parse::<libc::pid_t>().ok())
            .filter(|pid| *pid > 0)
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only asks whether the process exists.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Picks a free loopback TCP port (closed again before QEMU binds it).
fn free_port() -> Result<u16, QemuError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(QemuError::Port)?;
    Ok(listener.local_addr().map_err(QemuError::Port)?.port())
}

/// Starts the QEMU machine of a board with `hardware.qemu` (None for
/// another board) and fills in the board's console, debug and power
/// wiring from it, so every check reaches it as it reaches any board.
pub fn start(board: &mut Board) -> Result<Option<QemuGuard>, QemuError> {
    let Some(wiring) = board.spec.hardware.qemu.clone() else {
        return Ok(None);
    };
    let name = board.name().to_string();
    remove_stale_folders();
    let dir = std::env::temp_dir().join(format!("hilt-qemu-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|source| QemuError::Folder {
                path: dir.clone(),
                source,
            })?;
    }
    let gdb_port = if wiring.gdb { Some(free_port()?) } else { None };
    let (line_ending, console) = (wiring.line_ending, wiring.console);
    let shared = Arc::new(Mutex::new(Machine {
        wiring,
        base_dir: board.base_dir().to_path_buf(),
        dir: dir.clone(),
        gdb_port,
        child: None,
        held: false,
    }));
    let mut guard = QemuGuard {
        board: name.clone(),
        machine: shared.clone(),
        tap: None,
    };
    if let QemuNetwork::Tap(tap) = &board
        .spec
        .hardware
        .qemu
        .as_ref()
        .map(|q| q.network.clone())
        .unwrap_or_default()
    {
        if ensure_tap(tap)? {
            guard.tap = Some(tap.ifname.clone());
        }
    }
    if let Ok(mut all) = machines().lock() {
        all.insert(name.clone(), shared.clone());
    }
    shared
        .lock()
        .map_err(|_| QemuError::Unknown(name.clone()))?
        .start()?;
    wire(board, &dir, console, line_ending, gdb_port);
    Ok(Some(guard))
}

/// Fills in the console, debug and power wiring a QEMU board gets from its
/// machine.
fn wire(
    board: &mut Board,
    dir: &Path,
    console: QemuConsole,
    line_ending: LineEnding,
    gdb_port: Option<u16>,
) {
    let name = board.name().to_string();
    let hw = &mut board.spec.hardware;
    let (port, unix) = match console {
        QemuConsole::Pty => (Some(dir.join("console")), None),
        QemuConsole::Socket => (None, Some(dir.join("console.sock"))),
    };
    hw.serial = Some(SerialWiring {
        port,
        unix,
        tcp: None,
        rfc2217: false,
        baud: 115_200,
        line_ending,
    });
    if let Some(port) = gdb_port {
        hw.debug = Some(DebugWiring {
            gdb: Some(HostPort {
                host: "127.0.0.1".into(),
                port,
            }),
            probe: None,
        });
    }
    hw.power = Some(PowerWiring::Qemu(name));
}

/// Wires a QEMU board as [`start`] would, without starting it (the gdbstub
/// port is a stand-in): for previews such as `hilt board check`.
pub fn preview(board: &mut Board) {
    let Some(wiring) = board.spec.hardware.qemu.clone() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("hilt-qemu-{}-preview", board.name()));
    let gdb_port = wiring.gdb.then_some(1234);
    wire(board, &dir, wiring.console, wiring.line_ending, gdb_port);
}

/// Switches a QEMU board's power (see the module's notes).
pub fn power(board: &str, action: PowerAction) -> Result<(), PowerError> {
    let shared = machine(board)?;
    let mut m = shared
        .lock()
        .map_err(|_| PowerError::Qemu(format!("the machine of {board} is in an unknown state")))?;
    match action {
        PowerAction::On => {
            if !m.running() {
                m.start()?;
            }
        }
        PowerAction::Off => m.stop(),
        PowerAction::Cycle => {
            m.stop();
            m.start()?;
        }
    }
    Ok(())
}

/// Lets a machine held at its reset vector run (QMP `cont`): called once
/// the console is open, so its transcript holds the boot from the start.
/// Nothing for a board that is not QEMU or not held.
pub fn release_hold(board: &str) -> Result<(), QemuError> {
    let Ok(shared) = machine(board) else {
        return Ok(());
    };
    let mut m = shared
        .lock()
        .map_err(|_| QemuError::Unknown(board.to_string()))?;
    if m.held && m.running() {
        m.qmp("cont", None)?;
        m.held = false;
    }
    Ok(())
}

/// Escapes a value for QEMU's option syntax (a comma is doubled).
fn escape_opt(value: &str) -> String {
    value.replace(',', ",,")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_in_paths_are_doubled_for_qemu() {
        assert_eq!(escape_opt("/a,b/c"), "/a,,b/c");
    }

    fn machine_args(wiring: Value) -> Vec<String> {
        let wiring: QemuWiring = serde_json::from_value(wiring).expect("wiring");
        Machine {
            wiring,
            base_dir: PathBuf::from("/boards/x"),
            dir: PathBuf::from("/tmp/hilt-qemu-x-1"),
            gdb_port: None,
            child: None,
            held: false,
        }
        .args()
    }

    #[test]
    fn a_tap_network_is_one_card_without_an_option_rom() {
        let args = machine_args(json!({
            "system": "qemu-system-x86_64", "machine": "pc",
            "network": { "tap": { "ifname": "hilt-t0", "host_address": "198.19.10.1/24",
                                  "mac": "52:54:00:00:00:02" } }
        }));
        let after = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        assert_eq!(
            after("-netdev").as_deref(),
            Some("tap,id=hiltnet0,ifname=hilt-t0,script=no,downscript=no")
        );
        assert_eq!(
            after("-device").as_deref(),
            Some("e1000,netdev=hiltnet0,romfile=,mac=52:54:00:00:00:02")
        );
        assert!(!args.iter().any(|a| a == "-nic"), "{args:?}");
        // Without a network: no card at all, so no ROM either.
        let none = machine_args(json!({ "system": "qemu-system-arm", "machine": "virt" }));
        let at = none.iter().position(|a| a == "-nic").expect("-nic");
        assert_eq!(none[at + 1], "none");
        assert!(!none.iter().any(|a| a == "-netdev"), "{none:?}");
    }

    /// A QMP peer that answers each request line with the next script item.
    fn peer(greeting: &'static [u8], replies: Vec<&'static [u8]>) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("qmp.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let _ = stream.write_all(greeting);
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            for reply in replies {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let _ = stream.write_all(reply);
            }
        });
        (dir, path)
    }

    const GREETING: &[u8] = b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n";

    #[test]
    fn qmp_replies_are_paired_past_events_and_bad_ones_are_errors() {
        let (_dir, path) = peer(
            GREETING,
            vec![
                b"{\"return\": {}}\n",
                b"{\"event\": \"RESUME\"}\n{\"return\": {\"status\": \"running\"}}\n",
                b"{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}}\n",
                b"not json\n",
            ],
        );
        let mut qmp = Qmp::connect(&path).expect("greeting and capabilities");
        let status = qmp.execute("query-status", None).expect("reply");
        assert_eq!(status["status"], "running");
        let refused = qmp.execute("cont", None).expect_err("an error reply");
        assert!(refused.contains("GenericError"), "{refused}");
        let garbage = qmp.execute("cont", None).expect_err("not JSON");
        assert!(garbage.contains("not JSON"), "{garbage}");
    }

    #[test]
    fn an_endless_qmp_line_or_a_wrong_greeting_is_an_error_not_a_hang() {
        static LONG: OnceLock<Vec<u8>> = OnceLock::new();
        let long = LONG.get_or_init(|| vec![b'{'; (QMP_LINE_MAX + 10) as usize]);
        let (_dir, path) = peer(long, vec![]);
        let err = Qmp::connect(&path).err().expect("refused");
        assert!(err.contains("bytes"), "{err}");
        let (_dir, path) = peer(b"{\"hello\": 1}\n", vec![]);
        let err = Qmp::connect(&path).err().expect("refused");
        assert!(err.contains("greeting"), "{err}");
    }

    fn machine(yaml: &str, gdb_port: Option<u16>) -> Machine {
        Machine {
            wiring: yaml_serde::from_str(yaml).expect("qemu wiring"),
            base_dir: PathBuf::from("/lab/boards/x"),
            dir: PathBuf::from("/tmp/hilt-qemu-x-1"),
            gdb_port,
            child: None,
            held: false,
        }
    }

    fn has(args: &[String], pair: [&str; 2]) -> bool {
        args.windows(2).any(|w| w[0] == pair[0] && w[1] == pair[1])
    }

    #[test]
    fn the_command_line_is_software_emulation_without_a_nic_rom() {
        let m = machine(
            "{ system: qemu-system-arm, machine: virt, bios: u-boot.bin, pflash: [env.img], gdb: true, hold_until_console: true }",
            Some(4321),
        );
        let args = m.args();
        for pair in [
            ["-M", "virt"],
            ["-accel", "tcg"],
            ["-nic", "none"],
            ["-bios", "/lab/boards/x/u-boot.bin"],
            [
                "-drive",
                "if=pflash,unit=1,format=raw,file=/lab/boards/x/env.img",
            ],
            ["-gdb", "tcp:127.0.0.1:4321"],
            ["-serial", "chardev:hiltcon0"],
            [
                "-qmp",
                "unix:/tmp/hilt-qemu-x-1/qmp.sock,server=on,wait=off",
            ],
        ] {
            assert!(has(&args, pair), "{pair:?} in {args:?}");
        }
        assert!(args.iter().any(|a| a == "-S"), "held: {args:?}");
        // Without bios the flash files start at bank 0; no gdb, no hold.
        let m = machine(
            "{ system: qemu-system-arm, machine: virt, kernel: zImage, pflash: [a.img, b.img], extra_args: [-smp, '2'] }",
            None,
        );
        let args = m.args();
        assert!(has(
            &args,
            [
                "-drive",
                "if=pflash,unit=0,format=raw,file=/lab/boards/x/a.img"
            ]
        ));
        assert!(has(
            &args,
            [
                "-drive",
                "if=pflash,unit=1,format=raw,file=/lab/boards/x/b.img"
            ]
        ));
        assert!(!args.iter().any(|a| a == "-S" || a == "-gdb"), "{args:?}");
        assert_eq!(
            args[args.len() - 2..],
            ["-smp".to_string(), "2".to_string()]
        );
    }
}
