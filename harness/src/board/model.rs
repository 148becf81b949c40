//! The board file: how one device under test is wired to this host
//! (`hardware`) and what its maker declares about it (`declares`, the
//! ICS/IXIT of ETSI TS 103 701). Every struct rejects unknown keys, so a
//! misspelt key is an error rather than a silently ignored setting.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::api::{ApiDecl, ApiRef};
use super::dialogues::{Dialogue, LabelDecl};
use super::secret::SecretRef;
use super::update::UpdateDecl;

/// One device under test.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BoardFile {
    /// Short unique name of this board on the rack; used in trial names
    /// (`sim-0::software_update::unsigned_image`). Letters, digits, `-` and `_`.
    pub board: BoardName,
    /// The product's model designation, as printed on the device.
    pub model: String,
    /// Manufacturer of the product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Hardware revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware_revision: Option<String>,
    /// How the board is wired to this host.
    pub hardware: Hardware,
    /// What the manufacturer declares (ICS / IXIT).
    #[serde(default)]
    pub declares: Declaration,
}

// ---------------------------------------------------------------- wiring

/// Resources: what is wired where. Each one is optional; a check that needs a
/// resource the board lacks is NOT_APPLICABLE or INCONCLUSIVE, never PASS.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<SerialWiring>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkWiring>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<DebugWiring>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<PowerWiring>,
    /// Offline access to the flash contents (a clip-on SPI programmer's
    /// image, or the simulated board's flash file), used while powered off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash: Option<FlashWiring>,
    /// The board is a QEMU machine hilt starts itself: its console, debug
    /// port and power come from QEMU (a chardev, the gdbstub, QMP), so
    /// `serial`, `debug` and `power` are not given with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qemu: Option<QemuWiring>,
    /// The board is a place on a labgrid coordinator, on another host: hilt
    /// acquires the place for the run and takes the console, the network
    /// address and power from the resources it holds, so `serial`,
    /// `network` and `power` are not given with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labgrid: Option<LabgridWiring>,
}

/// A labgrid place as the board's wiring (see docs/labgrid.md). The place
/// exports a `NetworkSerialPort` (the console, through ser2net), a
/// `NetworkService` (the board's address) and, for power, a
/// `NetworkPowerPort` of model `simplerest`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabgridWiring {
    /// `host:port` of the coordinator (labgrid's default port is 20408).
    pub coordinator: HostPort,
    /// The place, by name ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// ... or any free place whose tags match all of these (a labgrid
    /// reservation; the tag `name` matches a place's name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// How long to wait for the place (a reservation waits for another
    /// user to release one), in seconds.
    #[serde(default = "default_labgrid_wait")]
    pub wait_s: u64,
    /// This host's interface towards the board's network: every socket
    /// for the board is bound to it, as `hardware.network.interface`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// What the console expects at the end of a typed line.
    #[serde(default)]
    pub line_ending: LineEnding,
}

fn default_labgrid_wait() -> u64 {
    60
}

/// A QEMU machine as a board. hilt starts it before the board's first
/// trial and stops it after the last (and when hilt dies: QEMU gets
/// SIGKILL with its parent), always with software emulation (TCG) and
/// `-nic none` unless a network is declared. Power through QMP: `on`
/// starts QEMU, `off` quits it (so files it holds, pflash and drives, can
/// be written through `hardware.flash`), `cycle` quits and starts it again
/// (a cold boot, as a lab's relay gives; a warm `system_reset` would keep
/// the flash QEMU read at start).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QemuWiring {
    /// The QEMU binary (`qemu-system-arm`), found on PATH or as a path.
    pub system: String,
    /// The machine (`-M`), e.g. `virt`.
    pub machine: String,
    /// `-cpu`, e.g. `cortex-a15`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// `-m`, e.g. `256M`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Firmware (`-bios`), e.g. `/usr/lib/u-boot/qemu_arm/u-boot.bin`;
    /// relative paths start at the board file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bios: Option<PathBuf>,
    /// A kernel to boot directly (`-kernel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<PathBuf>,
    /// Its initial RAM disk (`-initrd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<PathBuf>,
    /// The kernel command line (`-append`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append: Option<String>,
    /// Flash images, one `-drive if=pflash,format=raw,unit=N` each, in
    /// order from bank 0, or from bank 1 when `bios` fills bank 0. Each
    /// must have the bank's exact size (64 MiB on arm `virt`). Name one in
    /// `hardware.flash.file` too for hilt to write it while the board is off.
    #[serde(default)]
    pub pflash: Vec<PathBuf>,
    /// Disk images.
    #[serde(default)]
    pub drives: Vec<QemuDrive>,
    /// How hilt reaches the console (the first serial port).
    #[serde(default)]
    pub console: QemuConsole,
    /// What the console expects at the end of a typed line.
    #[serde(default)]
    pub line_ending: LineEnding,
    /// Open QEMU's gdbstub on a free loopback port; it becomes the board's
    /// `hardware.debug.gdb`.
    #[serde(default)]
    pub gdb: bool,
    /// Hold the machine at its reset vector (`-S`) until hilt first opens
    /// the console after each power-on, so the console transcript holds the
    /// boot from its first line (a bootloader's autoboot countdown, which
    /// `declares.console.autoboot` interrupts). Without it the machine runs
    /// from power-on and output before hilt looks is lost.
    #[serde(default)]
    pub hold_until_console: bool,
    /// The machine's network.
    #[serde(default)]
    pub network: QemuNetwork,
    /// More arguments passed to QEMU as they are (after hilt's own).
    #[serde(default)]
    pub extra_args: Vec<String>,
    /// Seconds QEMU may take to come up (its QMP socket answering).
    #[serde(default = "default_qemu_start_s")]
    pub start_timeout_s: u32,
    /// Seconds the guest may take from power-on to the console's login
    /// prompt (or its shell prompt, for a console without login). hilt
    /// waits up to this long after it starts the machine, before the first
    /// check, and after each power cycle. A kernel under software
    /// emulation on a busy host can take tens of seconds.
    #[serde(default = "default_qemu_boot_s")]
    pub boot_s: u32,
}

fn default_qemu_boot_s() -> u32 {
    60
}

fn default_qemu_start_s() -> u32 {
    10
}

/// One disk image (`-drive file=..,format=..,if=..`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QemuDrive {
    /// The image file; relative paths start at the board file.
    pub file: PathBuf,
    /// `raw` (default) or `qcow2`.
    #[serde(default = "default_drive_format")]
    pub format: String,
    /// The drive's interface: `virtio` (default), `none`, `sd`, `ide`, `scsi`.
    #[serde(default = "default_drive_interface")]
    pub interface: String,
}

fn default_drive_format() -> String {
    "raw".into()
}

fn default_drive_interface() -> String {
    "virtio".into()
}

/// How the first serial port of the machine is exported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum QemuConsole {
    /// A pseudo-terminal (`-chardev pty`); hilt keeps a fixed link to it in
    /// the machine's runtime folder, across restarts.
    #[default]
    Pty,
    /// A Unix socket QEMU listens on (`-chardev socket,server=on`) in the
    /// machine's runtime folder; hilt connects to it as a console.
    Socket,
}

/// The machine's network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum QemuNetwork {
    /// No network card (`-nic none`): no option ROM is needed.
    #[default]
    None,
    /// One network card joined to a tap device on this host, which is the
    /// board's link: the guest is its own host on it, as a real board is
    /// behind its cable (`hardware.network.interface` names the tap, and
    /// every socket hilt opens for the board is bound to it). hilt creates
    /// the tap with `host_address` if it does not exist, keeps it across
    /// power cycles (so a capture on it spans a reboot), and deletes the
    /// tap it created when the run ends.
    Tap(QemuTap),
}

/// A tap device on this host and the guest's network card on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QemuTap {
    /// The tap's name on this host (1 to 15 letters, digits, `-`, `_`, `.`).
    pub ifname: String,
    /// This host's address on the tap with its prefix length
    /// (`198.19.10.1/24`), set when hilt creates the tap.
    pub host_address: String,
    /// The guest's network card (`-device`): `e1000` (default; a module
    /// in most distribution kernels), `virtio-net-pci`, `rtl8139`, ...
    /// It is started without an option ROM (`romfile=`), so no iPXE ROM
    /// needs to be installed.
    #[serde(default = "default_nic_model")]
    pub model: String,
    /// The card's MAC address (`52:54:00:..`); unset, QEMU picks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

fn default_nic_model() -> String {
    "e1000".into()
}

impl QemuTap {
    /// `host_address` as an address and a prefix length, if well formed.
    pub fn host_cidr(&self) -> Option<(IpAddr, u8)> {
        let (address, prefix) = self.host_address.split_once('/')?;
        let address: IpAddr = address.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some((address, prefix))
    }
}

/// How hilt reads and writes the board's flash at rest. Only a file is
/// supported today: the flash contents as one image, written while the
/// board is powered off and read by the board at its next power-on.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlashWiring {
    /// The flash image file, relative to the board file.
    pub file: PathBuf,
}

/// The serial console: a local tty, or a network serial port exported by
/// ser2net (raw TCP or RFC 2217).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SerialWiring {
    /// A serial device (`/dev/ttyUSB0`, a PTY path) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<PathBuf>,
    /// ... or `host:port` of a network serial export ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<HostPort>,
    /// ... or a Unix stream socket carrying the console's bytes (QEMU's
    /// `-chardev socket`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unix: Option<PathBuf>,
    /// Whether `tcp` speaks RFC 2217 (telnet COM-port control) rather than raw bytes.
    #[serde(default)]
    pub rfc2217: bool,
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// What the console expects at the end of a typed line.
    #[serde(default)]
    pub line_ending: LineEnding,
}

fn default_baud() -> u32 {
    115_200
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LineEnding {
    /// Carriage return, as a terminal sends Enter (the usual choice for consoles).
    #[default]
    Cr,
    Lf,
    Crlf,
}

impl LineEnding {
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            Self::Cr => b"\r",
            Self::Lf => b"\n",
            Self::Crlf => b"\r\n",
        }
    }
}

/// The board's network attachment: the board's address and the host side
/// of the link that reaches it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkWiring {
    /// The board's own address. The harness only ever sends traffic here.
    pub address: IpAddr,
    /// Host-side interface of the board's link (e.g. `hsim0`, `enp3s0`).
    /// Every socket hilt opens for the board (connects, the port scan, UDP
    /// probes, rogue servers and collectors) is bound to it
    /// (SO_BINDTODEVICE), so nothing for the board leaves by another
    /// interface or a default route; with the link down, checks end
    /// INCONCLUSIVE. Without it the routing table decides (as before) and
    /// `hilt board check` warns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Host interface on which the board's traffic is captured (pcap).
    /// Defaults to `interface`; name it only when the board's traffic is
    /// seen elsewhere (a mirror port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    /// Address of this host on the board's link (the source address of
    /// every connection, where rogue servers and collectors listen).
    /// Defaults to the address the OS chooses on `interface`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_address: Option<IpAddr>,
}

impl NetworkWiring {
    /// The interface to capture on: `capture`, else the link's `interface`.
    pub fn capture_interface(&self) -> Option<&str> {
        self.capture.as_deref().or(self.interface.as_deref())
    }

    /// Why the board's traffic is not confined to its link, if it is not.
    pub fn unbound_warning(&self) -> Option<String> {
        if self.interface.is_some() {
            return None;
        }
        let hint = match &self.capture {
            Some(c) => format!(" (`interface: {c}` if the capture interface is the board's link)"),
            None => String::new(),
        };
        Some(format!(
            "hardware.network names no `interface`: connections to {} are not bound to the board's link and follow the routing table (a link that is down can send them out by the default route); add `interface:`{hint}",
            self.address
        ))
    }
}

/// The debug port: a GDB remote endpoint or a probe-rs probe.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DebugWiring {
    /// `host:port` of a GDB remote serial protocol server (OpenOCD, J-Link
    /// GDB server, Black Magic Probe, QEMU's gdbstub, the simulated board).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gdb: Option<HostPort>,
    /// A USB debug probe driven through probe-rs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeWiring>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeWiring {
    /// Target name as probe-rs knows it, e.g. `nRF52840_xxAA`.
    pub chip: String,
    /// `VID:PID[:SERIAL]` of the probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

/// How the board's power is switched.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum PowerWiring {
    /// No power control: checks that need it report INCONCLUSIVE.
    None,
    /// The simulated board's power socket.
    Sim(PathBuf),
    /// Shell commands (uhubctl, sispmctl, relay tools).
    Command(PowerCommands),
    /// QEMU's power, through QMP, for a board with `hardware.qemu` (hilt
    /// sets it; not written in a board file).
    #[serde(skip_deserializing)]
    Qemu(String),
    /// A network power switch a labgrid place exports (hilt sets it from
    /// `hardware.labgrid`; not written in a board file).
    #[serde(skip_deserializing)]
    Labgrid(LabgridPower),
}

/// labgrid's `NetworkPowerPort`: the switch's model (the driver labgrid's
/// client would use), its address or URL, and the outlet.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LabgridPower {
    pub model: String,
    pub host: String,
    pub index: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerCommands {
    pub on: String,
    pub off: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle: Option<String>,
}

// ---------------------------------------------------------------- declaration

/// The manufacturer's statements a lab tests against. ETSI TS 103 701 calls
/// the claimed provisions the ICS and the test information the IXIT; the
/// comments name the IXIT sheet each part fills.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Declaration {
    /// Identity sources (DI-1, DI-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityDecl>,
    /// Network services that are meant to be reachable (IXIT LogIntf). A scan
    /// finding anything else is a finding.
    #[serde(default)]
    pub interfaces: Vec<InterfaceDecl>,
    /// More UDP ports for AU-07 to probe, beyond the declared interfaces
    /// and the well-known set it always probes (SNMP 161, CoAP 5683, mDNS
    /// 5353, SSDP 1900, DNS 53, NTP 123, TFTP 69, syslog 514, MQTT-SN
    /// 1883, MCUmgr SMP 1337): a vendor's discovery port, a port the product's app talks
    /// to. Not a declaration that the port is open: an answer from a port
    /// listed here and not under `interfaces` FAILs AU-07.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub udp_probes: Vec<UdpProbeDecl>,
    /// Accounts and their credentials (IXIT AuthMech), by user name.
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountDecl>,
    /// The serial console's login dialogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleDecl>,
    /// Account lockout or delay after failed logins (LA-3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout: Option<LockoutDecl>,
    /// How a configuration parameter is read and written (IXIT Conf).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<ConfigurationDecl>,
    /// The update mechanism (IXIT UpdMech, SecBoot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateDecl>,
    /// Debug port state in production (IXIT PhyIntf).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug_port: Option<DebugPortDecl>,
    /// The manufacturer CA that issues the device's own server certificates
    /// (PEM), used to verify the device's TLS services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_ca: Option<PathBuf>,
    /// Outgoing TLS connections the device makes (telemetry, cloud).
    #[serde(default)]
    pub tls_clients: Vec<TlsClientDecl>,
    /// How the cybersecurity state is read (CS-1, CS-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateDecl>,
    /// Security event logging (CS-1, CS-5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingDecl>,
    /// Factory reset (DC-3, DP-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory_reset: Option<FactoryResetDecl>,
    /// Support period and vulnerability disclosure (8259B; reviewed by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<SupportDecl>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityDecl {
    /// Where the logical identifier can be read.
    #[serde(default)]
    pub logical: Vec<IdentitySource>,
    /// The label printed on the unit: a file transcribing it (relative to
    /// the board file), standing in for an operator reading it; or
    /// `{ file, identifier, password, rotates_on_factory_reset }` with the
    /// patterns that find the identifier and the unit's own password on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical: Option<LabelDecl>,
}

/// One place the logical identifier is readable.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum IdentitySource {
    /// A console dialogue (a command, or steps); `pattern` is a regular
    /// expression whose first capture group is the identifier.
    Console { command: Dialogue, pattern: String },
    /// An HTTP(S) GET returning JSON; `field` names the identifier. `api`
    /// picks the API (port or name) when the board has more than one.
    Http {
        path: String,
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api: Option<ApiRef>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InterfaceDecl {
    pub port: u16,
    #[serde(default)]
    pub protocol: Transport,
    /// Service name (`https`, `ssh`, `coap`, ...).
    pub service: String,
    /// Whether the service requires authentication.
    #[serde(default)]
    pub auth: AuthRequirement,
    /// Whether the service runs on a device in its default configuration;
    /// an interface that is off by default may be closed (AU-07 allows it).
    #[serde(default = "yes")]
    pub enabled_by_default: bool,
    /// A configuration parameter that turns the service on and off (AU-13
    /// checks that "off" holds across a reboot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toggle: Option<ToggleDecl>,
    /// Whether the service speaks TLS from its first byte. Unset, the
    /// service name decides (`https`, `mqtts`, ... see
    /// `TLS_SERVICE_NAMES`); set it for a TLS service with another name,
    /// or to `false` for one that does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    /// This interface is an API checks drive: its authentication and
    /// accounts. An authenticated `https` interface without it is taken as
    /// an API with HTTP Basic and the console's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiDecl>,
    /// How hilt logs in on this interface (telnet, ssh, mqtt, snmp, ftp):
    /// the account that must get in and, for telnet, the dialogue. Unset,
    /// the console's dialogue and account are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<super::login::InterfaceLoginDecl>,
    /// This interface's own lockout or rate limit, where it differs from
    /// `declares.lockout` (a web login behind PAM, a broker behind a
    /// firewall limit); unset, `declares.lockout` holds here too. Its
    /// settings are not adjustable: `threshold_parameter` and
    /// `delay_parameter` belong to `declares.lockout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout: Option<LockoutDecl>,
}

/// One extra UDP port to probe (`declares.udp_probes`), with what to send:
/// a protocol hilt speaks (`service`), or the bytes of the vendor's own
/// request (`payload`, hex), or neither (an empty datagram: a closed port
/// still answers with ICMP port unreachable).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UdpProbeDecl {
    pub port: u16,
    /// A protocol hilt has a probe for: `snmp`, `coap`, `mdns`, `ssdp`,
    /// `dns`, `ntp`, `tftp`, `syslog`, `mqtt-sn`, `mcumgr-smp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The datagram to send, in hex (at most 1472 bytes), e.g. a vendor
    /// discovery request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

/// Largest `udp_probes` payload: one Ethernet frame's UDP payload.
pub const MAX_UDP_PROBE_PAYLOAD: usize = 1472;

impl UdpProbeDecl {
    /// The payload's bytes (empty without one), or why the hex is wrong.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, String> {
        let Some(text) = &self.payload else {
            return Ok(Vec::new());
        };
        let digits: Vec<u8> = text
            .bytes()
            .filter(|b| !b.is_ascii_whitespace() && *b != b':')
            .collect();
        if digits.len() % 2 != 0 {
            return Err("expected an even number of hex digits".into());
        }
        if digits.len() / 2 > MAX_UDP_PROBE_PAYLOAD {
            return Err(format!(
                "at most {MAX_UDP_PROBE_PAYLOAD} bytes (one frame's UDP payload)"
            ));
        }
        digits
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|s| u8::from_str_radix(s, 16).ok())
                    .ok_or_else(|| "expected hex digits (0-9, a-f)".to_string())
            })
            .collect()
    }
}

/// Service names spoken over TLS from the first byte.
pub const TLS_SERVICE_NAMES: &[&str] = &[
    "https", "mqtts", "ftps", "imaps", "pop3s", "smtps", "ldaps", "coaps", "amqps", "wss",
];

impl InterfaceDecl {
    /// Whether the service speaks TLS: its `tls` field, else its name.
    pub fn speaks_tls(&self) -> bool {
        self.tls.unwrap_or_else(|| {
            TLS_SERVICE_NAMES.contains(&self.service.to_ascii_lowercase().as_str())
        })
    }
}

/// A configuration parameter with the values that switch something on and off.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToggleDecl {
    pub parameter: String,
    pub on: String,
    pub off: String,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthRequirement {
    #[default]
    Required,
    /// Reachable without authentication by design (must be justified).
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDecl {
    /// Reference to the account's credential (`env:NAME` or `file:PATH`).
    pub password: SecretRef,
    #[serde(default)]
    pub role: Role,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Admin,
    User,
}

/// The console's dialogue. `login`, `password`, `prompt` and `failure`
/// are regular expressions (Rust `regex` syntax) anchored to a line start:
/// they match only where a line begins, so `login: ` never matches inside
/// `Last login: Sun Dec  6 ...`. Text without special characters matches
/// literally (`login: `, `sim> `); escape `$ . [ ] ( ) * + ? { } | ^ \`
/// with a backslash to match them literally (`prompt: '\$ '`). The three
/// prompts must also be the last thing the console printed (only spaces or
/// tabs after them): a prompt is where the device waits for input.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleDecl {
    /// Where the console asks for a user name (a pattern, see above).
    /// Absent, with `password`, for a console that opens without
    /// credentials: the checks judge it (AU-09 fails it) and use its shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// Where the console asks for the password (a pattern).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The shell prompt after a successful login (a pattern).
    pub prompt: String,
    /// What the console prints when it refuses a login (a pattern, e.g.
    /// `Login incorrect`); without it a refusal is recognised by the login
    /// prompt coming back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Account used on the console (a key of `accounts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Command that ends a session, so the next check finds the login prompt.
    #[serde(default = "default_logout")]
    pub logout: String,
    /// How the logged-in user changes their own password: a command such
    /// as `passwd {new}`, or steps when the device asks back (`passwd`,
    /// then `{old}` after `Old password:`, `{new}` after `New password:`
    /// ...), with the `success` text it prints. AU-03 and CF-05 need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_password: Option<Dialogue>,
    /// How the device is restarted from its shell (`reboot`), used when no
    /// power control is wired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot: Option<Dialogue>,
    /// How long the console must stay silent before hilt takes what it
    /// shows as final (a prompt, the end of a boot log). Slow or chatty
    /// consoles need more; a fast one (the simulated board) can use less.
    #[serde(default = "default_settle_ms")]
    pub settle_ms: u64,
    /// What hilt sends to a console that shows no prompt, so it prints one.
    #[serde(default)]
    pub wake: Wake,
    /// A bootloader's autoboot countdown hilt interrupts: when the console
    /// shows `pattern` (a regular expression, e.g. `Hit any key to stop
    /// autoboot`) while hilt waits for the prompt, it sends `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoboot: Option<AutobootDecl>,
}

/// How a bootloader's autoboot is interrupted.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutobootDecl {
    /// What the bootloader prints while it counts down (a regular expression).
    pub pattern: String,
    /// What to send to stop it (a space unless told; `\u0003` for Ctrl-C).
    #[serde(default = "default_autoboot_key")]
    pub key: String,
}

fn default_autoboot_key() -> String {
    " ".into()
}

/// How a silent console is asked for its prompt. hilt first looks (the
/// console's `settle_ms`, then up to two seconds more) and sends this only
/// when nothing it recognises was shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Wake {
    /// Ctrl-C (0x03): drops a half-typed line and makes most shells,
    /// bootloaders and embedded consoles print their prompt again; at a
    /// Linux getty it ends `login`, which starts over without counting a
    /// failed login. A console that ignores it stays silent, and the check
    /// is INCONCLUSIVE.
    #[default]
    CtrlC,
    /// The line ending alone. Allowed only for a console without login: at
    /// a login prompt an empty line is an empty user name, which a real
    /// `/bin/login` counts as a failed login (towards lockout).
    Enter,
    /// Nothing: hilt only waits for the console to speak (a device whose
    /// console reacts badly to any key; power control helps here).
    None,
}

impl Wake {
    /// The bytes to send, given the board's line ending.
    pub fn bytes(self, line_ending: LineEnding) -> Option<Vec<u8>> {
        match self {
            Wake::CtrlC => Some(vec![0x03]),
            Wake::Enter => Some(line_ending.as_bytes().to_vec()),
            Wake::None => None,
        }
    }
}

fn default_logout() -> String {
    "logout".to_string()
}

fn default_settle_ms() -> u64 {
    250
}

/// A lockout (or rate limit) after failed logins, as the device has it.
///
/// ```yaml
/// lockout: { threshold: 5, delay_s: 10, window_s: 10, per: account, reset_on_success: true }  # pam_faillock
/// lockout: { threshold: 10, delay_s: 10, window_s: 10, per: source }   # a firewall's per-address limit
/// ```
///
/// AU-01 paces its guesses so that it never trips it (each count stays
/// below `threshold`; then the window is waited out, or the declared
/// account logs in where that clears the count), and AU-04 trips it on
/// purpose: after `threshold` wrong attempts even the right password is
/// refused (or the connection dropped), and it works again after `delay_s`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LockoutDecl {
    /// Attempts counted before the account (or the source) is locked:
    /// the attempt that brings the count to it is the last one weighed.
    pub threshold: u32,
    /// How long the lock or delay lasts, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_s: Option<u32>,
    /// The counting window, in seconds: attempts further back than this
    /// no longer count (pam_faillock's `fail_interval`; the time after
    /// which a rate limit has forgotten a source). Unset: the count is
    /// taken to start over once a lock has passed (`delay_s`), and never
    /// by time alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<u32>,
    /// Whose attempts are counted together: `account` (each account its
    /// own count of failed logins, as pam_faillock) or `source` (every
    /// attempt from one address, successful ones included, as a
    /// firewall's rate limit). Default `source`, the cautious reading.
    #[serde(default)]
    pub per: LockoutScope,
    /// Whether a successful login clears the count (pam_faillock's
    /// `authsucc`): for `per: account` that account's, for `per: source`
    /// the source's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset_on_success: bool,
    /// Configuration parameter that sets the threshold (LA-3: adjustable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_parameter: Option<String>,
    /// Configuration parameter that sets the delay, in seconds; checks
    /// shorten it while they run and put it back afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_parameter: Option<String>,
}

/// Whose attempts a lockout counts together (`declares.lockout.per`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LockoutScope {
    /// Each account's failed logins, apart.
    Account,
    /// Every attempt from one address, whichever account it names.
    #[default]
    Source,
}

/// How the device reports its cybersecurity state (CS-1, CS-2).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateDecl {
    /// Console dialogue that prints the state (after login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<Dialogue>,
    /// HTTP(S) path that returns the state (authenticated GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// The API `http` is on (port or name); unset, the board's one API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiRef>,
    /// Text that marks a degraded state in that output (CS-02 needs it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
    /// Console dialogue that prints the running version and image SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_console: Option<Dialogue>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigurationDecl {
    /// A harmless parameter checks may change and restore.
    pub parameter: String,
    /// A value to write that differs from the default.
    pub test_value: String,
    /// How the parameter is read and written over the console:
    /// `{param}` and `{value}` are substituted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleConfig>,
    /// How it is read and written over HTTP(S).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Prints the value of `{param}` (as `param=value`, `param: value` or
    /// the value alone on the last line).
    pub get: Dialogue,
    /// Sets `{param}` to `{value}`.
    pub set: Dialogue,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Path of the configuration resource, e.g. `/api/v1/config`.
    pub path: String,
    /// The API it is on (port or name); unset, the board's one API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiRef>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DebugPortDecl {
    /// Present and locked (readout protection set).
    Locked,
    /// Physically or logically absent.
    Disabled,
    /// Deliberately open (must be justified; AU-10 fails it).
    Open,
}

/// One outgoing TLS connection. hilt meets the client with servers of its
/// own (DP-03, DP-04, DP-06), reached one of two ways: the device's
/// server is a setting (`server_parameter`), which hilt points at itself,
/// or it is fixed (`server`), and hilt takes that address over on the
/// board's link (`takeover`). Exactly one of the two is declared.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsClientDecl {
    /// What the connection is for (`telemetry`).
    pub purpose: String,
    /// Configuration parameter holding the server address (`host:port`),
    /// so a check can point the device at a rogue server and put it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_parameter: Option<String>,
    /// The server the device calls when it is not a setting: `host:port`,
    /// an IP address or a DNS name (a name needs `resolves_to`). Needs
    /// `takeover`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<HostPort>,
    /// The address the device resolves the name in `server` to, as the lab
    /// observed it (its DNS answer, or a capture). hilt does not answer the
    /// device's DNS; it takes this address over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolves_to: Option<IpAddr>,
    /// How hilt takes the fixed `server` over so the client reaches hilt's
    /// servers: `address` or `{ redirect: { netns: NAME } }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub takeover: Option<Takeover>,
    /// Host name the device expects in the server certificate.
    pub server_name: String,
    /// Configuration parameter setting how often (seconds) it connects;
    /// checks shorten it while they wait for a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_parameter: Option<String>,
    /// Seconds between the client's connection attempts, as observed, when
    /// the interval is not a setting: hilt waits up to twice this (plus 5 s)
    /// for each connection before calling the board unresponsive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<u32>,
    /// The client connects soon after power-on: when its interval is
    /// unknown or long (over 30 s), hilt power-cycles the board to provoke
    /// each connection (needs `hardware.power`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub connects_at_boot: bool,
    /// A test CA the client trusts, with its key, which the manufacturer
    /// hands to the lab: with it hilt can mint a certificate for the wrong
    /// host name, or an expired one, that only the host name or the date
    /// makes invalid (DP-04).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_ca: Option<TestCaDecl>,
}

impl TlsClientDecl {
    /// The address a fixed `server` is taken over at: its IP, or what its
    /// name resolves to. None for a client reached through a setting.
    pub fn fixed_address(&self) -> Option<std::net::SocketAddr> {
        let server = self.server.as_ref()?;
        let ip = server.host.parse::<IpAddr>().ok().or(self.resolves_to)?;
        Some(std::net::SocketAddr::new(ip, server.port))
    }
}

/// How hilt takes over a TLS client's fixed server address. Only addresses
/// on the board's own link are taken: nothing hilt does routes anywhere else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Takeover {
    /// hilt adds the server's address to the host side of the board's link
    /// (`hardware.network.interface`) for the length of the trial, listens
    /// there, and removes it afterwards on every exit path (the address is
    /// added with a lifetime, so the kernel drops it even if hilt is
    /// killed). The address must lie in a prefix of that interface.
    Address,
    /// A DNAT rule in the board's network namespace (a QEMU or namespace
    /// device the lab controls) sends the client's connections to the
    /// server to this host's address on the link, where hilt listens. The
    /// rule is removed afterwards. Needs `nft` on this host.
    Redirect(RedirectTakeover),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectTakeover {
    /// The board's network namespace (as `ip netns list` shows it).
    pub netns: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCaDecl {
    /// CA certificate (PEM), relative to the board file.
    pub cert: PathBuf,
    /// Its private key (PEM): a secret of the test PKI, never of production.
    pub key: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoggingDecl {
    /// Where security events can be read on the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_log: Option<EventLogDecl>,
    /// Remote collector protocol and the configuration parameter holding its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syslog: Option<SyslogDecl>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventLogDecl {
    /// Console dialogue that prints the event log, one event a line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<Dialogue>,
    /// Console dialogue that clears the event log (CS-04 tries it on a
    /// console that gives a shell without login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_clear: Option<Dialogue>,
    /// HTTP(S) path of the event log (JSON; GET reads, DELETE clears).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// The API `http` is on (port or name); unset, the board's one API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyslogDecl {
    /// Configuration parameter holding the collector's `host:port`.
    pub collector_parameter: String,
    #[serde(default)]
    pub protocol: Transport,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FactoryResetDecl {
    /// Console dialogue that resets the device (after login): a command,
    /// or steps when it asks for confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<Dialogue>,
    /// HTTP(S) path that resets the device (authenticated POST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// The API `http` is on (port or name); unset, the board's one API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportDecl {
    /// Published end of the security support period (EN 303 645 5.3-13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_of_support: Option<String>,
    /// Where vulnerabilities are reported (5.2-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerability_contact: Option<String>,
    /// URL of the vulnerability disclosure policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosure_policy: Option<String>,
}

// ---------------------------------------------------------------- checked strings

/// A board name: 1 to 64 letters, digits, `-` or `_` (it becomes part of
/// trial names and file names, so nothing else is allowed).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BoardName(String);

impl BoardName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BoardName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(value))
        } else {
            Err(format!(
                "invalid board name {value:?}: expected 1 to 64 letters, digits, `-` or `_`"
            ))
        }
    }
}

impl From<BoardName> for String {
    fn from(value: BoardName) -> Self {
        value.0
    }
}

impl std::fmt::Display for BoardName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `host:port`, where host is a name, an IPv4 address or a bracketed IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl TryFrom<String> for HostPort {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let bad = || format!("expected `host:port` (e.g. 198.18.0.2:3333), got {value:?}");
        let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }
}

impl From<HostPort> for String {
    fn from(value: HostPort) -> Self {
        value.to_string()
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A string schema with a pattern, for checked string types.
fn pattern_schema(pattern: &str, description: &str) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "pattern": pattern,
        "description": description,
    })
}

impl JsonSchema for BoardName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BoardName".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        pattern_schema(
            r"^[A-Za-z0-9_-]{1,64}$",
            "Board name: letters, digits, `-` and `_`.",
        )
    }
}

impl JsonSchema for HostPort {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HostPort".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        pattern_schema(r"^.+:[0-9]{1,5}$", "`host:port`")
    }
}
