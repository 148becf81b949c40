//! Network serial as ser2net exports it (Debian's ser2net, which nobody
//! here wrote): a PTY-backed test device behind ser2net, reached over raw
//! TCP and over RFC 2217; the console logs in and runs a command through
//! both. Needs root (a veth pair: ser2net wants a non-loopback
//! address) and ser2net (scripts/install-deps.sh installs it).

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hilt_harness::board::{ConsoleDecl, HostPort, LineEnding, Secret, SerialWiring};
use hilt_harness::driver::console::{self as dialogue, LoginOutcome};
use hilt_harness::stop::StopSignal;
use hilt_harness::transport::serial::Console;
use support::pty_device::{Behaviour, PtyDevice};

struct Link(String);

impl Drop for Link {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

struct Ser2net(Child);

impl Drop for Ser2net {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .expect("ip (iproute2) runs");
    assert!(status.success(), "ip {args:?}");
}

fn wait_for_port(addr: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "ser2net never listened on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn decl() -> ConsoleDecl {
    ConsoleDecl {
        login: Some("login: ".into()),
        password: Some("Password: ".into()),
        prompt: "dev> ".into(),
        account: None,
        logout: "logout".into(),
        change_password: None,
        reboot: None,
        settle_ms: 250,
        failure: None,
        wake: Default::default(),
        autoboot: None,
    }
}

fn login_and_read_id(wiring: &SerialWiring) -> String {
    let mut console = Console::open(
        wiring,
        Path::new("/"),
        StopSignal::after(Duration::from_secs(30)),
    )
    .expect("console opens");
    let secret = Secret::from_guess("correct-horse-7");
    let outcome = dialogue::login(
        &mut console,
        &decl(),
        "admin",
        &secret,
        Duration::from_secs(5),
    )
    .expect("dialogue");
    assert_eq!(outcome, LoginOutcome::LoggedIn, "{}", console.transcript());
    let id = dialogue::command(&mut console, &decl(), "id", Duration::from_secs(5)).expect("id");
    console.send_line("logout").expect("logout");
    id
}

#[test]
fn console_works_through_ser2net_raw_and_rfc2217() {
    let n = std::process::id() % 200 + 20;
    let name = format!("hrfc{n}");
    let address = format!("198.19.77.{n}");
    let _ = Command::new("ip").args(["link", "del", &name]).status();
    // A veth pair (no dummy driver on every kernel) carries the address.
    let peer = format!("{name}p");
    ip(&["link", "add", &name, "type", "veth", "peer", "name", &peer]);
    let _link = Link(name.clone());
    ip(&["addr", "add", &format!("{address}/32"), "dev", &name]);
    ip(&["link", "set", &name, "up"]);
    ip(&["link", "set", &peer, "up"]);

    let dir = tempfile::tempdir().expect("tempdir");
    let device = PtyDevice::start(dir.path(), "dev", Behaviour::default());
    let config = dir.path().join("ser2net.yaml");
    std::fs::write(
        &config,
        format!(
            "connection: &rfc\n  accepter: telnet(rfc2217),tcp,{address},2217\n  connector: serialdev,{pts},115200n81,local\n\
             connection: &raw\n  accepter: tcp,{address},2218\n  connector: serialdev,{pts},115200n81,local\n",
            pts = device.pts.display()
        ),
    )
    .expect("config");
    let log = std::fs::File::create(dir.path().join("ser2net.log")).expect("log");
    let child = Command::new("ser2net")
        .args(["-d", "-u", "-c"])
        .arg(&config)
        .arg("-P")
        .arg(dir.path().join("ser2net.pid"))
        .stdout(Stdio::from(log))
        .stderr(Stdio::null())
        .spawn()
        .expect("ser2net runs (scripts/install-deps.sh installs it)");
    let _ser2net = Ser2net(child);
    wait_for_port(&format!("{address}:2217"));
    wait_for_port(&format!("{address}:2218"));

    for (port, rfc2217) in [(2217u16, true), (2218, false)] {
        let wiring = SerialWiring {
            port: None,
            tcp: Some(HostPort::try_from(format!("{address}:{port}")).expect("host:port")),
            unix: None,
            rfc2217,
            baud: 115_200,
            line_ending: LineEnding::Cr,
        };
        // ser2net releases the device a moment after the previous client
        // leaves; until then it turns new clients away.
        std::thread::sleep(Duration::from_millis(500));
        let id = std::panic::catch_unwind(|| login_and_read_id(&wiring)).unwrap_or_else(|_| {
            panic!(
                "through ser2net (rfc2217={rfc2217}); ser2net said:\n{}",
                std::fs::read_to_string(dir.path().join("ser2net.log")).unwrap_or_default()
            )
        });
        assert!(
            id.contains("device_id: DEV-0001"),
            "rfc2217={rfc2217}: {id:?}"
        );
    }
}
