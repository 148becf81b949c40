//! AU-07 scans UDP too (issue 11), through the real CLI, against Debian's
//! snmpd in a network namespace of this test's own (`hilt-udp-au07`,
//! 198.19.33.0/29; hilt on 198.19.33.1, the device on 198.19.33.2). The
//! device declares its HTTP service (python3's http.server, the liveness
//! control) and runs snmpd on udp/161:
//! - undeclared, AU-07 FAILs naming udp/161 and SNMP, with the agent's
//!   sysDescr in the reason;
//! - declared (`protocol: udp, port: 161, service: snmp`), AU-07 PASSes,
//!   the closed well-known ports seen as ICMP port unreachable;
//! - a vendor's discovery responder (socat) on udp/30303, listed in the
//!   board file's `udp_probes` with its request bytes: AU-07 FAILs
//!   naming udp/30303 and quoting the answer;
//! - with the device dropping every UDP datagram (an nftables rule in its
//!   namespace), nothing answers and no ICMP comes back: AU-07 is
//!   INCONCLUSIVE with either board file, never PASS (the declared agent
//!   did not answer; with none declared, no probe came back).
//!
//! Needs root, iproute2, nftables, snmpd, python3, socat.

#[path = "support/command.rs"]
mod command;
use command::{require_tool, run, run_ok};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
use hilt_cli::{record, text, HILT};

const NS: &str = "hilt-udp-au07";
const HOST_IF: &str = "huau07x";
const NS_IF: &str = "huau07y";
const HOST: &str = "198.19.33.1";
const DEVICE: &str = "198.19.33.2";

/// The device: a namespace behind a veth pair, its daemons; all removed on drop.
struct Device {
    children: Vec<Child>,
    dir: PathBuf,
}

impl Device {
    fn up(dir: &Path) -> Self {
        let _ = run(&["ip", "link", "del", HOST_IF]);
        let _ = run(&["ip", "netns", "del", NS]);
        run_ok(&["ip", "netns", "add", NS]);
        let mut dev = Self {
            children: Vec::new(),
            dir: dir.to_path_buf(),
        };
        run_ok(&[
            "ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF, "netns", NS,
        ]);
        run_ok(&["ip", "addr", "add", &format!("{HOST}/29"), "dev", HOST_IF]);
        run_ok(&["ip", "link", "set", HOST_IF, "up"]);
        for cmd in [
            vec!["ip", "addr", "add", "198.19.33.2/29", "dev", NS_IF],
            vec!["ip", "link", "set", NS_IF, "up"],
            vec!["ip", "link", "set", "lo", "up"],
        ] {
            run_ok(&[&["ip", "netns", "exec", NS][..], &cmd[..]].concat());
        }
        let d = dir.display().to_string();
        std::fs::create_dir_all(dir.join("www")).expect("dir");
        std::fs::write(dir.join("www/index.html"), "hilt au07 device\n").expect("write");
        std::fs::write(
            dir.join("snmpd.conf"),
            format!(
                "rocommunity public default\nsysdescr hilt au07 test device\nagentaddress udp:{DEVICE}:161\n"
            ),
        )
        .expect("write");
        dev.spawn(&[
            "python3",
            "-m",
            "http.server",
            "80",
            "--bind",
            DEVICE,
            "--directory",
            &format!("{d}/www"),
        ]);
        dev.spawn(&[
            "snmpd",
            "-f",
            // No SMUX listener on tcp/199: the device declares only HTTP.
            "-I",
            "-smux",
            "-Lo",
            "-C",
            "-c",
            &format!("{d}/snmpd.conf"),
            "-p",
            &format!("{d}/snmpd.pid"),
        ]);
        // A vendor's discovery responder on udp/30303, not a well-known
        // port: probed only when the board file lists it (`udp_probes`).
        dev.spawn(&[
            "socat",
            &format!("UDP4-RECVFROM:30303,bind={DEVICE},fork"),
            "SYSTEM:echo ACME-DISCOVERY model=X1 fw=1.0",
        ]);
        dev.wait_ready();
        dev
    }

    fn spawn(&mut self, cmd: &[&str]) {
        let child = Command::new("ip")
            .args(["netns", "exec", NS])
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        self.children.push(child);
    }

    /// HTTP accepts and snmpd has bound udp/161 (seen inside the namespace).
    fn wait_ready(&self) {
        let until = Instant::now() + Duration::from_secs(15);
        while Instant::now() < until {
            let http = std::net::TcpStream::connect_timeout(
                &format!("{DEVICE}:80").parse().expect("addr"),
                Duration::from_millis(200),
            )
            .is_ok();
            let udp = text(&run(&["ip", "netns", "exec", NS, "ss", "-uln"]).stdout);
            let snmp = udp.contains(&format!("{DEVICE}:161"));
            let vendor = udp.contains(&format!("{DEVICE}:30303"));
            if http && snmp && vendor {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the device's http.server and snmpd did not come up");
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = run(&["ip", "link", "del", HOST_IF]);
        let _ = run(&["ip", "netns", "del", NS]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn board_file(dir: &Path, declare_snmp: bool) -> PathBuf {
    board_file_with(dir, declare_snmp, "")
}

/// The board file; `more` is appended under `declares:`.
fn board_file_with(dir: &Path, declare_snmp: bool, more: &str) -> PathBuf {
    let snmp = if declare_snmp {
        "\n    - { port: 161, protocol: udp, service: snmp }"
    } else {
        ""
    };
    let text = format!(
        "board: au07-udp\nmodel: Debian daemons in a namespace\nhardware:\n  network: {{ address: {DEVICE}, interface: {HOST_IF}, host_address: {HOST} }}\ndeclares:\n  interfaces:\n    - {{ port: 80, protocol: tcp, service: http, auth: none }}{snmp}\n{more}"
    );
    let path = dir.join(match (declare_snmp, more.is_empty()) {
        (true, true) => "declared.yaml",
        (false, true) => "undeclared.yaml",
        _ => "more.yaml",
    });
    std::fs::write(&path, text).expect("write board");
    path
}

/// `hilt run -b BOARD -- AU-07`: the trial's verdict, reason, observation.
fn au07(dir: &Path, board: &Path) -> (String, String, String) {
    let out_dir = dir.join("hilt-out");
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = Command::new(HILT)
        .arg("run")
        .arg("-b")
        .arg(board)
        .arg("--out")
        .arg(&out_dir)
        .args(["--", "AU-07"])
        .current_dir(dir)
        .output()
        .expect("hilt runs");
    let record = record(dir);
    let trial = &record["trials"][0];
    let field = |name: &str| trial[name].as_str().unwrap_or_default().to_string();
    assert!(
        !field("verdict").is_empty(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    (field("verdict"), field("reason"), field("observed"))
}

#[test]
fn undeclared_snmp_fails_and_declared_snmp_passes() {
    for t in ["ip", "nft", "snmpd", "python3", "ss", "socat"] {
        require_tool(t);
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let _device = Device::up(&dir.join("device"));

    let started = Instant::now();
    let (verdict, reason, observed) = au07(dir, &board_file(dir, false));
    eprintln!(
        "undeclared snmpd: AU-07 {verdict} in {:?}: {reason}",
        started.elapsed()
    );
    assert_eq!(verdict, "FAIL", "{reason}\n{observed}");
    assert!(
        reason.contains("udp/161 SNMP") && reason.contains("hilt au07 test device"),
        "{reason}"
    );
    assert!(!reason.contains("udp/80"), "{reason}");

    let started = Instant::now();
    let (verdict, reason, observed) = au07(dir, &board_file(dir, true));
    eprintln!(
        "declared snmpd: AU-07 {verdict} in {:?}: {observed}",
        started.elapsed()
    );
    assert_eq!(verdict, "PASS", "{reason}\n{observed}");
    // The closed well-known ports came back as ICMP port unreachable, and
    // the silent ones are named as such.
    assert!(
        observed.contains("closed (ICMP port unreachable): [") && observed.contains("123/NTP"),
        "{observed}"
    );
    assert!(observed.contains("udp/161 SNMP (declared)"), "{observed}");

    // The board file's `udp_probes` adds the vendor's discovery port: its
    // answer, undeclared, FAILs and is quoted.
    let more = "  udp_probes:\n    - { port: 30303, payload: \"48494c54\" }\n";
    let (verdict, reason, observed) = au07(dir, &board_file_with(dir, true, more));
    eprintln!("udp_probes 30303: AU-07 {verdict}: {reason}");
    assert_eq!(verdict, "FAIL", "{reason}\n{observed}");
    assert!(
        reason.contains("udp/30303 raw") && reason.contains("ACME-DISCOVERY model=X1"),
        "{reason}"
    );
    assert!(!reason.contains("udp/161"), "{reason}");

    // The device's firewall drops UDP: silence proves nothing.
    let rules = "table inet hiltudp { chain input { type filter hook input priority 0; meta l4proto udp drop; }; }";
    run_ok(&["ip", "netns", "exec", NS, "nft", rules]);
    for (declare_snmp, why) in [
        (true, "declared UDP services on [161] did not answer"),
        (false, "no UDP probe came back"),
    ] {
        let started = Instant::now();
        let (verdict, reason, _) = au07(dir, &board_file(dir, declare_snmp));
        eprintln!(
            "UDP dropped, snmp declared {declare_snmp}: AU-07 {verdict} in {:?}: {reason}",
            started.elapsed()
        );
        assert_eq!(verdict, "INCONCLUSIVE", "{reason}");
        assert!(reason.contains(why), "{reason}");
    }
}
