//! Remote racks through labgrid, end to end. Three hosts as network
//! namespaces on one bridge: labgrid's coordinator (hilt-lgc,
//! 198.19.70.1), an exporter (hilt-lge, .2) and hilt (hilt-lgh, .3). The
//! exporter exports two simulated boards (indices 220, a reference, and 221, flawed): their
//! consoles through ser2net over RFC 2217 (labgrid's RawSerialPort), their
//! addresses (NetworkService, routed through the exporter) and their power
//! (NetworkPowerPort, model simplerest, in front of the simulator's power
//! sockets). hilt in the third namespace runs a suite on them through
//! labgrid, one by place name and one by tags, and must get the verdicts
//! the same boards give run locally; a SIGKILLed run must leave no place
//! locked, and the next run gets the boards.
//!
//! Needs root, labgrid (pip) and ser2net. About 80 s on 2 cores.

#[path = "support/command.rs"]
mod command;
#[path = "support/labgrid.rs"]
mod labgrid;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use command::{require_tool, run, run_ok};

const HILT: &str = env!("CARGO_BIN_EXE_hilt");
const BOARDS: [u32; 2] = [220, 221];
const COORDINATOR: &str = "198.19.70.1:20408";
const PDU_PORT: u16 = 18220;
const FLAWS: &[&str] = &["serial-no-login", "identifier-changes-on-reboot"];
const NAMESPACES: [&str; 3] = ["hilt-lgc", "hilt-lge", "hilt-lgh"];

/// The quick suite and a check that cycles power (ID-02), so power goes
/// through the place's power port.
const SUITE: &str = "suite: labgrid\ntitle: through labgrid\nchecks:\n  - check: device_identification::logical_identifier\n  - check: logical_access::serial_login_required\n  - check: logical_access::open_ports\n  - check: state_awareness::state_read_requires_auth\n  - check: device_identification::identifier_immutable\n";

/// hilt-sim beside hilt (`cargo build --workspace --bins` puts it there).
fn hilt_sim() -> String {
    Path::new(HILT)
        .with_file_name("hilt-sim")
        .to_string_lossy()
        .into_owned()
}

/// The bridge, the three hosts and the boards' extra links; removed (with
/// every process left in the namespaces) when dropped.
struct Network;

impl Network {
    fn up() -> Self {
        let network = Network;
        network.down();
        run_ok(&["ip", "link", "add", "hilt-lgbr", "type", "bridge"]);
        run_ok(&["ip", "link", "set", "hilt-lgbr", "up"]);
        for (i, ns) in NAMESPACES.iter().enumerate() {
            let (outer, inner) = (format!("{ns}0"), format!("{ns}1"));
            let address = format!("198.19.70.{}/24", i + 1);
            run_ok(&["ip", "netns", "add", ns]);
            run_ok(&[
                "ip", "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ]);
            run_ok(&["ip", "link", "set", &inner, "netns", ns]);
            run_ok(&["ip", "link", "set", &outer, "master", "hilt-lgbr", "up"]);
            run_ok(&["ip", "-n", ns, "addr", "add", &address, "dev", &inner]);
            run_ok(&["ip", "-n", ns, "link", "set", &inner, "up"]);
            run_ok(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // The exporter routes between hilt and the boards, as a lab's
        // exporter host on the boards' network would.
        run_ok(&[
            "ip",
            "netns",
            "exec",
            "hilt-lge",
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        run_ok(&[
            "ip",
            "-n",
            "hilt-lgh",
            "route",
            "add",
            "198.18.0.0/16",
            "via",
            "198.19.70.2",
        ]);
        network
    }

    /// A link from the exporter into board `index`'s namespace
    /// (198.19.72.4k+1 and +2), and the routes across it.
    fn join_board(&self, index: u32) {
        let k = (index - BOARDS[0]) * 4;
        let (outer, inner) = (format!("hilt-lgb{index}"), format!("hilt-lgb{index}p"));
        let (exporter, board) = (
            format!("198.19.72.{}", k + 1),
            format!("198.19.72.{}", k + 2),
        );
        let board_ns = format!("hilt-sim{index}");
        run_ok(&[
            "ip", "link", "add", &outer, "type", "veth", "peer", "name", &inner,
        ]);
        run_ok(&["ip", "link", "set", &outer, "netns", "hilt-lge"]);
        run_ok(&["ip", "link", "set", &inner, "netns", &board_ns]);
        run_ok(&[
            "ip",
            "-n",
            "hilt-lge",
            "addr",
            "add",
            &format!("{exporter}/30"),
            "dev",
            &outer,
        ]);
        run_ok(&["ip", "-n", "hilt-lge", "link", "set", &outer, "up"]);
        run_ok(&[
            "ip",
            "-n",
            &board_ns,
            "addr",
            "add",
            &format!("{board}/30"),
            "dev",
            &inner,
        ]);
        run_ok(&["ip", "-n", &board_ns, "link", "set", &inner, "up"]);
        run_ok(&[
            "ip",
            "-n",
            "hilt-lge",
            "route",
            "add",
            &format!("198.18.{index}.2/32"),
            "via",
            &board,
        ]);
        run_ok(&[
            "ip",
            "-n",
            &board_ns,
            "route",
            "add",
            "198.19.70.0/24",
            "via",
            &exporter,
        ]);
    }

    fn down(&self) {
        for ns in NAMESPACES {
            // What this test started there (coordinator, exporter and its
            // ser2net, the power switch, hilt and watchdogs).
            let pids = run(&["ip", "netns", "pids", ns]);
            for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: kill(2) on a process of our own namespace.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            let _ = run(&["ip", "netns", "del", ns]);
        }
        let _ = run(&["ip", "link", "del", "hilt-lgbr"]);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.down();
    }
}

/// The simulated boards, stopped when dropped.
struct Sims {
    runtime: PathBuf,
}

impl Sims {
    /// Board 220 is the reference; 221 has two flaws the suite finds (a
    /// console without login, and an identifier that changes across the
    /// power cycle ID-02 makes through the place's power port).
    fn up(dir: &Path) -> Self {
        let runtime = dir.join("run");
        let sims = Sims { runtime };
        let runtime = sims.runtime.to_string_lossy().into_owned();
        let up = |index: u32, flaws: &[&str]| {
            let index = index.to_string();
            let mut args = vec![
                hilt_sim(),
                "up".into(),
                "--base-index".into(),
                index,
                "--runtime-dir".into(),
                runtime.clone(),
            ];
            for flaw in flaws {
                args.extend(["--flaw".to_string(), flaw.to_string()]);
            }
            run_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        };
        up(BOARDS[0], &[]);
        up(BOARDS[1], FLAWS);
        sims
    }

    fn board_file(&self, index: u32) -> PathBuf {
        self.runtime.join(format!("sim-{index}/board.yaml"))
    }

    fn tty(&self, index: u32) -> PathBuf {
        std::fs::read_link(self.runtime.join(format!("sim-{index}/tty"))).expect("the console PTY")
    }
}

impl Drop for Sims {
    fn drop(&mut self) {
        let _ = run(&[
            &hilt_sim(),
            "down",
            "--runtime-dir",
            &self.runtime.to_string_lossy(),
        ]);
    }
}

/// The exporter's configuration: per board a group with its console, its
/// address and its power outlet.
fn exporter_config(sims: &Sims) -> String {
    let mut config = String::new();
    for index in BOARDS {
        config.push_str(&format!(
            "sim-{index}:\n  RawSerialPort:\n    port: {}\n    speed: 115200\n  NetworkService:\n    address: 198.18.{index}.2\n    username: admin\n  NetworkPowerPort:\n    model: simplerest\n    host: 'http://198.19.70.2:{PDU_PORT}/relay/{{index}}/{{value}}'\n    index: {index}\n",
            sims.tty(index).display()
        ));
    }
    config
}

/// The simulator's board file with its wiring replaced by the labgrid
/// place (`choice`: `place: NAME` or `tags: {...}`); the declaration stays.
fn labgrid_board_file(sims: &Sims, index: u32, choice: &str, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(sims.board_file(index)).expect("board file");
    let start = text.find("hardware:\n").expect("hardware section");
    let end = text.find("declares:\n").expect("declares section");
    let wiring = format!(
        "hardware:\n  labgrid:\n    coordinator: {COORDINATOR}\n    {choice}\n    interface: hilt-lgh1\n    wait_s: 20\n"
    );
    // The primary slot is written through local flash wiring, which a
    // place on another host does not export.
    let declares: String = text[end..]
        .lines()
        .filter(|l| !l.contains("primary_slot"))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = dir.join(format!("labgrid-{index}.yaml"));
    std::fs::write(&file, format!("{}{wiring}{declares}", &text[..start])).expect("write");
    file
}

/// `hilt run` (in `netns` if given); the verdict of each trial.
fn verdicts(
    netns: Option<&str>,
    boards: &[PathBuf],
    suite: &Path,
    out: &Path,
    filter: Option<&str>,
) -> BTreeMap<String, String> {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, HILT]);
            c
        }
        None => Command::new(HILT),
    };
    cmd.args(["run", "--suite"])
        .arg(suite)
        .arg("--out")
        .arg(out);
    for board in boards {
        cmd.arg("-b").arg(board);
    }
    if let Some(filter) = filter {
        cmd.args(["--", filter]);
    }
    let output = cmd.output().expect("hilt runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let run_dir = std::fs::read_dir(out)
        .unwrap_or_else(|e| panic!("no run folder ({e}): {stderr}"))
        .flatten()
        .next()
        .unwrap_or_else(|| panic!("no run folder: {stderr}"))
        .path();
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("record.json")).expect("record"))
            .expect("JSON");
    record["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{} ({})",
                    t["verdict"].as_str().unwrap_or_default(),
                    t["reason"]
                ),
            )
        })
        .collect()
}

fn verdict_only(v: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    v.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.split(' ').next().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn await_holder(place: &str, held: bool, within: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        if labgrid::holder(Some("hilt-lgh"), COORDINATOR, place).is_some() == held {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "place {place} was {} after {within:?}",
        if held { "never acquired" } else { "still held" }
    );
}

#[test]
fn a_suite_through_labgrid_matches_the_local_run_and_a_killed_run_leaves_no_place_locked() {
    for tool in [
        "labgrid-coordinator",
        "labgrid-exporter",
        "labgrid-client",
        "ser2net",
    ] {
        require_tool(tool);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let network = Network::up();
    let sims = Sims::up(dir.path());
    for index in BOARDS {
        network.join_board(index);
    }
    let suite = dir.path().join("suite.yaml");
    std::fs::write(&suite, SUITE).expect("suite");

    // The lab: power switch, coordinator, exporter, places.
    let mut pdu = Command::new("ip");
    pdu.args(["netns", "exec", "hilt-lge", "python3"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/labgrid_pdu.py"))
        .args(["198.19.70.2", &PDU_PORT.to_string()]);
    for index in BOARDS {
        pdu.arg(format!(
            "{index}={}",
            sims.runtime
                .join(format!("sim-{index}/power.sock"))
                .display()
        ));
    }
    let switch = labgrid::spawn(pdu, dir.path(), "pdu.log");
    let listen: SocketAddr = COORDINATOR.parse().expect("address");
    let _coordinator = labgrid::coordinator(Some("hilt-lgc"), listen, dir.path());
    let _exporter = labgrid::exporter(
        Some("hilt-lge"),
        COORDINATOR,
        "rack1",
        "198.19.70.2",
        &exporter_config(&sims),
        dir.path(),
    );
    labgrid::await_resources(Some("hilt-lgh"), COORDINATOR, "rack1", 3 * BOARDS.len());
    for index in BOARDS {
        labgrid::create_place(
            Some("hilt-lgh"),
            COORDINATOR,
            &format!("lg-sim{index}"),
            "rack1",
            &format!("sim-{index}"),
            &["board=sim", &format!("slot=s{index}")],
        );
    }
    let through_labgrid = [
        labgrid_board_file(&sims, 220, "place: lg-sim220", dir.path()),
        labgrid_board_file(&sims, 221, "tags: { slot: s221 }", dir.path()),
    ];
    let local: Vec<PathBuf> = BOARDS.iter().map(|i| sims.board_file(*i)).collect();

    // The same boards, locally and through labgrid.
    let started = Instant::now();
    let here = verdicts(None, &local, &suite, &dir.path().join("out-local"), None);
    let local_s = started.elapsed();
    let started = Instant::now();
    let remote = verdicts(
        Some("hilt-lgh"),
        &through_labgrid,
        &suite,
        &dir.path().join("out-labgrid"),
        None,
    );
    let remote_s = started.elapsed();
    assert_eq!(here.len(), 10, "{here:#?}");
    assert_eq!(
        verdict_only(&here),
        verdict_only(&remote),
        "local {here:#?}\nthrough labgrid {remote:#?}"
    );
    // The reference board holds; the flawed one fails where it is flawed.
    let failed: Vec<String> = verdict_only(&here)
        .into_iter()
        .filter(|(_, v)| v != "PASS")
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        failed,
        [
            "sim-221::device_identification::identifier_immutable",
            "sim-221::logical_access::serial_login_required"
        ],
        "{here:#?}"
    );
    assert!(
        failed.iter().all(|k| here[k].starts_with("FAIL")),
        "{here:#?}"
    );
    // Power went through the place's power port (ID-02 cycles it).
    let switched = std::fs::read_to_string(&switch.log).unwrap_or_default();
    for index in BOARDS {
        for value in [0, 1] {
            assert!(
                switched.contains(&format!("GET /relay/{index}/{value} ")),
                "no power {value} for {index} through the switch: {switched}"
            );
        }
    }
    // Released after the run, the reservation with it.
    for index in BOARDS {
        assert_eq!(
            labgrid::holder(Some("hilt-lgh"), COORDINATOR, &format!("lg-sim{index}")),
            None
        );
    }
    let reservations = labgrid::client_ok(Some("hilt-lgh"), COORDINATOR, &["reservations"]);
    assert!(!reservations.contains("owner"), "{reservations}");
    eprintln!("local run {local_s:.1?}, through labgrid {remote_s:.1?}");

    // SIGKILL in the middle of a run: the watchdogs release the places.
    let mut killed = Command::new("ip")
        .args(["netns", "exec", "hilt-lgh", HILT, "run", "--suite"])
        .arg(&suite)
        .arg("--out")
        .arg(dir.path().join("out-killed"))
        .arg("-b")
        .arg(&through_labgrid[0])
        .arg("-b")
        .arg(&through_labgrid[1])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hilt starts");
    for index in BOARDS {
        await_holder(&format!("lg-sim{index}"), true, Duration::from_secs(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    // `ip netns exec` became hilt: this is hilt's own pid.
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(killed.id() as i32, libc::SIGKILL) };
    let _ = killed.wait();
    for index in BOARDS {
        let freed = await_holder(&format!("lg-sim{index}"), false, Duration::from_secs(20));
        eprintln!("lg-sim{index} free {freed:.1?} after the SIGKILL");
    }
    let reservations = labgrid::client_ok(Some("hilt-lgh"), COORDINATOR, &["reservations"]);
    assert!(!reservations.contains("owner"), "{reservations}");

    // The next run gets the boards (one check each is enough to show it).
    let again = verdicts(
        Some("hilt-lgh"),
        &through_labgrid,
        &suite,
        &dir.path().join("out-again"),
        Some("serial_login_required"),
    );
    let expected: BTreeMap<String, String> = verdict_only(&here)
        .into_iter()
        .filter(|(k, _)| k.ends_with("serial_login_required"))
        .collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(expected, verdict_only(&again), "{again:#?}");
    drop(network);
}
