//! One board process: power state, boot, and the threads that outlive a
//! boot (console PTY, debug port, power socket).

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::bootloader;
use crate::console::{self, ConsoleOut};
use crate::device::{self, Device};
use crate::device_api::DeviceApi as _;
use crate::firmware::{self, MODEL};
use crate::flash::{self, Flash};

pub const RAM_BASE: u32 = 0x2000_0000;
pub const RAM_SIZE: usize = 0x1_0000;

/// Requests to the board's control loop.
pub enum Control {
    PowerOn(Sender<String>),
    PowerOff(Sender<String>),
    Cycle(Sender<String>),
    Status(Sender<String>),
    Reboot {
        delay: Duration,
    },
    /// Debug-port mass erase: wipe flash and OTP, halt.
    MassErase(Sender<String>),
    /// Debug-port reset.
    Reset(Sender<String>),
}

pub enum Power {
    Off,
    /// Powered, but nothing runs (no bootable image, or blank after mass erase).
    Halted,
    Running(Arc<Device>),
}

pub struct BoardOptions {
    pub index: u32,
    pub dir: PathBuf,
    /// Flaws the factory provisions (firmware and bootloader).
    pub flaws: Vec<String>,
    /// Device shapes of the firmware the factory programs.
    pub shapes: Vec<String>,
    pub loopback: bool,
    /// Do not start the network side (tests of the core alone).
    pub no_net: bool,
}

pub struct Board {
    pub index: u32,
    pub dir: PathBuf,
    pub flaws: Vec<String>,
    pub shapes: Vec<String>,
    pub loopback: bool,
    pub no_net: bool,
    flash: Mutex<Flash>,
    pub ram: Mutex<Vec<u8>>,
    pub console: ConsoleOut,
    pub power: Mutex<Power>,
    /// Bumped at every power transition; the console resets its session.
    pub generation: AtomicU64,
    control: Mutex<Sender<Control>>,
}

impl Board {
    pub fn flash(&self) -> MutexGuard<'_, Flash> {
        self.flash.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn send(&self, c: Control) {
        let tx = self.control.lock().unwrap_or_else(|e| e.into_inner());
        let _ = tx.send(c);
    }

    pub fn running(&self) -> Option<Arc<Device>> {
        match &*self.power.lock().unwrap_or_else(|e| e.into_inner()) {
            Power::Running(d) => Some(d.clone()),
            _ => None,
        }
    }

    pub fn powered(&self) -> bool {
        !matches!(
            *self.power.lock().unwrap_or_else(|e| e.into_inner()),
            Power::Off
        )
    }

    pub fn readout_protected(&self) -> bool {
        self.flash().fuses() & flash::FUSE_READOUT_PROTECTION != 0
    }
}

/// Factory provisioning of a blank chip: OTP (unique id, device secret),
/// bootloader and its configuration, firmware in slot 0.
pub fn provision(flash: &mut Flash, flaws: &[String], shapes: &[String]) -> Result<(), String> {
    let (_, bl_flaws) = firmware::split_flaws(flaws)?;
    flash.erase(0, flash::FLASH_SIZE);
    flash.provision_otp(device::random_uid(), device::random_secret());
    let mut code = b"hilt-sim bootloader 1.0 (simulated; MCUboot-compatible swap mode)\0".to_vec();
    code.resize(256, 0);
    flash.write(flash::BOOTLOADER_OFF, &code);
    let flags = bl_flaws.iter().fold(0, |acc, f| acc | flash::boot_flag(f));
    flash.write_boot_config(flags, &firmware::trusted_keys_der());
    // The factory programs the image the manufacturer ships (the golden
    // image `up` hands the lab is built the same way).
    let image = firmware::build_for_board(
        flaws,
        shapes,
        firmware::REFERENCE_VERSION,
        firmware::REFERENCE_SECURITY_COUNTER,
    )?;
    flash.write(flash::SLOT0_OFF, &image);
    Ok(())
}

/// The label and secret file a lab gets with the board. A
/// `rotating-label` unit prints its own label layout, with the password
/// of the current generation, and comes with no password file: the label
/// is where the lab reads it.
pub fn write_label(dir: &Path, flash: &Flash, shapes: &[String]) -> std::io::Result<()> {
    if shapes.iter().any(|s| s == crate::shapes::HTTP_API) {
        // The API account's password, as the manufacturer documents it.
        let operator = device::derived_operator_password(&flash.otp_secret());
        write_private(&dir.join("operator-password"), &format!("{operator}\n"))?;
    }
    let uid = device::uid_string(&flash.otp_uid());
    if shapes
        .iter()
        .any(|s| s == crate::shapes::rotating_label::NAME)
    {
        let pw = device::label_password(&flash.otp_secret(), device::label_generation(flash));
        let label = crate::shapes::rotating_label::label(&uid, &pw);
        let _ = std::fs::remove_file(dir.join("password"));
        return write_private(&dir.join("label.txt"), &label);
    }
    let pw = device::derived_password(&flash.otp_secret());
    let label = format!(
        "model: {MODEL}\nmanufacturer: {}\ndevice_id: {uid}\nuser: admin\npassword: {pw}\n",
        firmware::MANUFACTURER
    );
    write_private(&dir.join("label.txt"), &label)?;
    write_private(&dir.join("password"), &format!("{pw}\n"))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    drop(f);
    std::fs::rename(tmp, path)
}

/// What runs while the device is up, dropped at power-off.
struct Up {
    device: Arc<Device>,
    net: Option<crate::netglue::NetHandle>,
}

struct Loop {
    board: Arc<Board>,
    up: Option<Up>,
}

impl Loop {
    fn set_power(&self, p: Power) {
        *self.board.power.lock().unwrap_or_else(|e| e.into_inner()) = p;
        self.board.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn power_off(&mut self) {
        if let Some(up) = self.up.take() {
            up.device.kill();
            drop(up.net);
        }
        self.set_power(Power::Off);
        self.board
            .ram
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fill(0);
    }

    fn power_on(&mut self) {
        let b = self.board.clone();
        let report = {
            let mut f = b.flash();
            // Flash may have been written from outside while the board was
            // off (a lab modifying the image at rest): read it afresh.
            if let Err(e) = f.reload() {
                eprintln!("hilt-sim: cannot read flash.bin: {e}");
            }
            if !f.otp_provisioned() || !f.boot_config_valid() {
                // A blank chip: the simulated factory programmer provisions it.
                if let Err(e) = provision(&mut f, &b.flaws, &b.shapes) {
                    b.console
                        .println(&format!("[factory] provisioning failed: {e}"));
                }
                b.console.println("[factory] blank device provisioned");
            }
            if let Err(e) = write_label(&b.dir, &f, &b.shapes) {
                eprintln!("hilt-sim: cannot write label: {e}");
            }
            bootloader::boot(&mut f)
        };
        b.console.print("\r\n");
        for l in &report.log {
            b.console.println(l);
        }
        let Some(running) = report.running.as_ref() else {
            // Halted (nothing bootable) or hung (a bootloader fault): the
            // board draws power and answers its power socket, nothing else.
            self.set_power(Power::Halted);
            return;
        };
        let dev = Device::start(b.clone(), running, report.degraded.clone());
        for (kind, detail) in &report.events {
            dev.record(kind, 4, "boot", detail);
        }
        if !dev.behaviour.debug_unlocked {
            // Production firmware locks the debug port at first boot.
            b.flash().set_fuses(flash::FUSE_READOUT_PROTECTION);
        }
        fill_ram(&b, &dev);
        b.console.println(&format!(
            "*** hilt-sim firmware {} ({}) ***",
            dev.version,
            firmware::MODEL
        ));
        b.console
            .println(&format!("device_id: {}", dev.device_id()));
        b.console
            .println(&format!("image_sha256: {}", dev.reported_hash_hex()));
        let st = dev.status();
        b.console
            .println(&format!("status: {}", st.health.as_str()));
        for r in &st.reasons {
            b.console.println(&format!("reason: {r}"));
        }
        // A serial-only product has no network side at all.
        let net = if b.no_net || dev.shape(crate::shapes::open_console::NAME) {
            None
        } else {
            match crate::netglue::start(dev.clone(), b.loopback) {
                Ok(h) => h,
                Err(e) => {
                    b.console.println(&format!("[net] failed to start: {e}"));
                    eprintln!("hilt-sim: network side failed: {e}");
                    None
                }
            }
        };
        b.console.print("\r\n");
        b.console.print(
            if dev.behaviour.serial_no_login || dev.shape(crate::shapes::open_console::NAME) {
                dev.shell_prompt()
            } else {
                console::LOGIN_PROMPT
            },
        );
        self.up = Some(Up {
            device: dev.clone(),
            net,
        });
        self.set_power(Power::Running(dev));
    }

    fn state(&self) -> &'static str {
        match *self.board.power.lock().unwrap_or_else(|e| e.into_inner()) {
            Power::Off => "off",
            Power::Halted => "halted",
            Power::Running(_) => "on",
        }
    }

    fn run(&mut self, rx: Receiver<Control>, ready: impl FnOnce()) {
        self.power_on();
        ready();
        while let Ok(c) = rx.recv() {
            match c {
                Control::PowerOn(reply) => {
                    if matches!(self.state(), "off") {
                        self.power_on();
                    }
                    let _ = reply.send("ok on".into());
                }
                Control::PowerOff(reply) => {
                    self.power_off();
                    let _ = reply.send("ok off".into());
                }
                Control::Cycle(reply) => {
                    self.power_off();
                    std::thread::sleep(Duration::from_millis(100));
                    self.power_on();
                    let _ = reply.send("ok on".into());
                }
                Control::Status(reply) => {
                    let s = if self.state() == "off" { "off" } else { "on" };
                    let _ = reply.send(format!("ok {s}"));
                }
                Control::Reboot { delay } => {
                    std::thread::sleep(delay);
                    if self.state() != "off" {
                        self.power_off();
                        self.power_on();
                    }
                }
                Control::Reset(reply) => {
                    if self.state() != "off" {
                        self.power_off();
                        self.power_on();
                    }
                    let _ = reply.send("ok".into());
                }
                Control::MassErase(reply) => {
                    if let Some(up) = self.up.take() {
                        up.device.kill();
                        drop(up.net);
                    }
                    self.board.flash().mass_erase();
                    self.board
                        .ram
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .fill(0xff);
                    self.set_power(Power::Halted);
                    let _ = reply.send("ok".into());
                }
            }
        }
    }
}

/// What the firmware keeps in RAM: a marker, the identity and a session
/// key derived from the device secret (what a debugger could steal).
fn fill_ram(b: &Board, dev: &Device) {
    let mut ram = b.ram.lock().unwrap_or_else(|e| e.into_inner());
    ram.fill(0);
    let mut put = |off: usize, data: &[u8]| {
        if let Some(s) = ram.get_mut(off..off + data.len()) {
            s.copy_from_slice(data);
        }
    };
    put(0, b"HSIM-RAM");
    put(0x10, dev.device_id().as_bytes());
    put(0x40, dev.version.as_bytes());
    put(0x100, &dev.device_secret_material("session-key"));
}

/// The power socket: one line in, one line out, per connection.
fn serve_power(board: Arc<Board>, listener: UnixListener) {
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let b = board.clone();
        std::thread::spawn(move || {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let mut line = String::new();
            let Ok(mut rd) = conn.try_clone().map(BufReader::new) else {
                return;
            };
            if std::io::Read::take(&mut rd, 64)
                .read_line(&mut line)
                .is_err()
            {
                return;
            }
            let (tx, rx) = channel();
            let msg = match line.trim() {
                "on" => Some(Control::PowerOn(tx)),
                "off" => Some(Control::PowerOff(tx)),
                "cycle" => Some(Control::Cycle(tx)),
                "status" => Some(Control::Status(tx)),
                _ => None,
            };
            let answer = match msg {
                Some(m) => {
                    b.send(m);
                    rx.recv_timeout(Duration::from_secs(30))
                        .unwrap_or_else(|_| "error timeout".into())
                }
                None => "error unknown command (on, off, cycle, status)".into(),
            };
            let _ = conn.write_all(format!("{answer}\n").as_bytes());
        });
    }
}

/// Runs a board until killed. `ready` is called once the first boot has
/// reached its login prompt.
pub fn run(opts: BoardOptions, ready: impl FnOnce()) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.dir)?;
    let flash = Flash::open(&opts.dir.join("flash.bin"))?;
    let console = ConsoleOut::open()?;
    console.link(&opts.dir.join("tty"))?;
    let (tx, rx) = channel();
    let board = Arc::new(Board {
        index: opts.index,
        dir: opts.dir.clone(),
        flaws: opts.flaws,
        shapes: opts.shapes,
        loopback: opts.loopback,
        no_net: opts.no_net,
        flash: Mutex::new(flash),
        ram: Mutex::new(vec![0; RAM_SIZE]),
        console,
        power: Mutex::new(Power::Off),
        generation: AtomicU64::new(0),
        control: Mutex::new(tx),
    });
    let sock = opts.dir.join("power.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock)?;
    {
        let b = board.clone();
        std::thread::Builder::new()
            .name("power".into())
            .spawn(move || serve_power(b, listener))?;
    }
    {
        let b = board.clone();
        std::thread::Builder::new()
            .name("console".into())
            .spawn(move || console::run(b))?;
    }
    {
        let b = board.clone();
        let port = 3333 + opts.index as u16;
        let l = std::net::TcpListener::bind(("127.0.0.1", port))?;
        std::thread::Builder::new()
            .name("gdb".into())
            .spawn(move || crate::gdb::serve(b, l))?;
    }
    let mut lp = Loop { board, up: None };
    lp.run(rx, ready);
    Ok(())
}
