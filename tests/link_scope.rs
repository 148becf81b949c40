//! Scope enforced by the socket, not by the route (issue 10).
//!
//! Three network namespaces of this test's own: "host" (where hilt runs)
//! reaches a "board" namespace over a veth pair (the board's link, `hb0`
//! on the host side, a real HTTPS service behind it), and its default route
//! leads over a second veth pair to a "trap" namespace, where tshark
//! listens. `hilt run` with a hand-written board file and three network
//! checks (the port scan, a TLS handshake and legacy hello, HTTP requests
//! and UDP probes) must:
//! - with the link up: reach the board through it (no trial INCONCLUSIVE
//!   or ERROR) and send nothing to the trap;
//! - with the link down: end every trial INCONCLUSIVE naming the link, and
//!   still send nothing to the trap.
//!
//! A control packet sent deliberately (unbound) to the board's address
//! while the link is down must show up in the trap's capture, so an empty
//! capture means something. Needs root, iproute2, openssl, python3, tshark, socat.

#[path = "support/command.rs"]
mod command;
use command::{require_tool, run, run_ok};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HILT: &str = env!("CARGO_BIN_EXE_hilt");
const PASSWORD_ENV: &str = "HILT_SCOPE_PASSWORD";
/// Board link 198.18.50.0/24 and trap link 198.18.51.0/24 (board indices
/// 50 and 51 of the simulated range, inside namespaces of this test only).
const BOARD: &str = "198.18.50.2";
const HOST: &str = "198.18.50.1";
const TRAP: &str = "198.18.51.2";
const LINK: &str = "hb0";

/// A network namespace, deleted (with its processes) on drop.
struct Netns {
    name: String,
    children: Vec<Child>,
}

impl Netns {
    fn new(role: &str) -> Self {
        let name = format!("hilt-scope-{}-{role}", std::process::id());
        let _ = run(&["ip", "netns", "del", &name]);
        run_ok(&["ip", "netns", "add", &name]);
        let ns = Self {
            name,
            children: Vec::new(),
        };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        // No IPv6: nothing but what the test sends reaches the trap.
        ns.exec_ok(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
        ns.exec_ok(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
        ns
    }

    fn cmd(&self, cmd: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(cmd);
        c
    }

    fn exec_ok(&self, cmd: &[&str]) {
        let out = self.cmd(cmd).output().expect("ip netns exec");
        assert!(
            out.status.success(),
            "{cmd:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn spawn(&mut self, cmd: &[&str], stdout: Stdio, stderr: Stdio) -> &mut Child {
        let child = self
            .cmd(cmd)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        self.children.push(child);
        self.children.last_mut().expect("just pushed")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = run(&["ip", "netns", "del", &self.name]);
    }
}

/// A veth pair: `a_if` in `a`, `b_if` in `b`, each with its address, up.
fn veth(a: &Netns, a_if: &str, a_addr: &str, b: &Netns, b_if: &str, b_addr: &str) {
    run_ok(&[
        "ip", "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns",
        &b.name,
    ]);
    a.exec_ok(&["ip", "addr", "add", a_addr, "dev", a_if]);
    a.exec_ok(&["ip", "link", "set", a_if, "up"]);
    b.exec_ok(&["ip", "addr", "add", b_addr, "dev", b_if]);
    b.exec_ok(&["ip", "link", "set", b_if, "up"]);
}

/// What tshark printed in the trap so far (one line per packet).
struct TrapCapture {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TrapCapture {
    fn start(trap: &mut Netns) -> Self {
        let child = trap.spawn(
            &["tshark", "-i", "eth0", "-n", "-l"],
            Stdio::piped(),
            Stdio::piped(),
        );
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        // tshark says "Capturing on ..." once it listens.
        let mut err = BufReader::new(stderr);
        let mut seen = String::new();
        while !seen.contains("Capturing on") {
            let mut line = String::new();
            match err.read_line(&mut line) {
                Ok(n) if n > 0 => seen.push_str(&line),
                _ => panic!("tshark did not start: {seen}"),
            }
        }
        std::thread::spawn(move || for _ in err.lines() {});
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        Self { lines }
    }

    fn packets(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// Waits up to `within` for a packet line containing `text`.
    fn wait_for(&self, text: &str, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if self.packets().iter().any(|l| l.contains(text)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

fn write_board(dir: &Path) -> PathBuf {
    let text = format!(
        r#"board: scope-board
model: link scope test device
hardware:
  network: {{ address: {BOARD}, interface: {LINK}, host_address: {HOST} }}
declares:
  interfaces:
    - {{ port: 443, protocol: tcp, service: https, auth: required }}
  accounts:
    admin: {{ password: "env:{PASSWORD_ENV}" }}
  support: {{ end_of_support: 2031-12-31, vulnerability_contact: security@example.com }}
"#
    );
    let path = dir.join("scope-board.yaml");
    std::fs::write(&path, text).expect("write board file");
    path
}

fn write_suite(dir: &Path) -> PathBuf {
    let text = "suite: scope\ntitle: network checks through the board's link\ndefault_timeout_s: 60\nchecks:\n  - check: logical_access::open_ports\n  - check: data_protection::tls_server\n  - check: logical_access::metadata_leakage\n";
    let path = dir.join("scope-suite.yaml");
    std::fs::write(&path, text).expect("write suite");
    path
}

/// Runs hilt in the host namespace; the trials' (name, verdict, reason).
fn hilt_run(host: &Netns, dir: &Path, out: &str, board: &Path, suite: &Path) -> Vec<[String; 3]> {
    let started = Instant::now();
    let output = host
        .cmd(&[HILT, "run", "--board"])
        .arg(board)
        .arg("--suite")
        .arg(suite)
        .arg("--out")
        .arg(dir.join(out))
        .current_dir(dir)
        .env(PASSWORD_ENV, "not-used-by-these-checks")
        .output()
        .expect("hilt runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let run = std::fs::read_dir(dir.join(out))
        .unwrap_or_else(|e| panic!("no record ({e}): {stdout}\n{stderr}"))
        .flatten()
        .next()
        .expect("one run folder")
        .path();
    let bytes = std::fs::read(run.join("record.json")).expect("record.json");
    let record: serde_json::Value = serde_json::from_slice(&bytes).expect("record is JSON");
    eprintln!(
        "hilt run ({out}) took {:.1} s:\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    record["trials"]
        .as_array()
        .expect("trials")
        .iter()
        .map(|t| {
            [
                t["name"].as_str().unwrap_or_default().to_string(),
                t["verdict"].as_str().unwrap_or_default().to_string(),
                t["reason"].as_str().unwrap_or_default().to_string(),
            ]
        })
        .collect()
}

#[test]
fn a_board_link_that_is_down_sends_nothing_by_the_default_route() {
    for tool in ["ip", "openssl", "python3", "tshark", "socat"] {
        require_tool(tool);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let host = Netns::new("host");
    let mut board = Netns::new("board");
    let mut trap = Netns::new("trap");
    veth(
        &host,
        LINK,
        &format!("{HOST}/24"),
        &board,
        "eth0",
        &format!("{BOARD}/24"),
    );
    veth(
        &host,
        "ht0",
        "198.18.51.1/24",
        &trap,
        "eth0",
        &format!("{TRAP}/24"),
    );
    host.exec_ok(&["ip", "route", "add", "default", "via", TRAP]);

    // A real TLS service on the board.
    let key = d.join("key.pem");
    let cert = d.join("cert.pem");
    run_ok(&[
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=scope-board",
        "-keyout",
        &key.display().to_string(),
        "-out",
        &cert.display().to_string(),
    ]);
    // Python's HTTPS server, one thread per connection.
    let server = format!(
        "import http.server, ssl\n\
         s = http.server.ThreadingHTTPServer(('0.0.0.0', 443), http.server.SimpleHTTPRequestHandler)\n\
         c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
         c.load_cert_chain('{}', '{}')\n\
         s.socket = c.wrap_socket(s.socket, server_side=True)\n\
         s.serve_forever()\n",
        cert.display(),
        key.display()
    );
    board.spawn(&["python3", "-c", &server], Stdio::null(), Stdio::null());
    let until = Instant::now() + Duration::from_secs(15);
    while !board
        .cmd(&["sh", "-c", "ss -ltn | grep -q ':443 '"])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            Instant::now() < until,
            "the board's TLS service did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let capture = TrapCapture::start(&mut trap);
    let board_file = write_board(d);
    let suite = write_suite(d);

    // Link up: every check reaches the board through hb0.
    let up = hilt_run(&host, d, "out-up", &board_file, &suite);
    assert_eq!(up.len(), 3, "{up:?}");
    for [name, verdict, reason] in &up {
        assert!(
            verdict == "PASS" || verdict == "FAIL",
            "link up: {name} is {verdict}: {reason}"
        );
    }

    // Link down: every attempt fails locally, every trial INCONCLUSIVE.
    host.exec_ok(&["ip", "link", "set", LINK, "down"]);
    let started = Instant::now();
    let down = hilt_run(&host, d, "out-down", &board_file, &suite);
    assert_eq!(down.len(), 3, "{down:?}");
    for [name, verdict, reason] in &down {
        assert_eq!(verdict, "INCONCLUSIVE", "link down: {name}: {reason}");
        assert!(
            reason.contains(LINK),
            "link down: {name}'s reason names no link: {reason}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a link that is down is found at once, not by timeouts"
    );
    std::thread::sleep(Duration::from_secs(1));
    let leaked = capture.packets();
    assert!(
        leaked.is_empty(),
        "packets reached the trap by the default route: {leaked:#?}"
    );

    // Control: an unbound datagram for the board does take the default
    // route to the trap, and the capture sees it.
    let mut control = host
        .cmd(&["socat", "-u", "-", &format!("UDP4-SENDTO:{BOARD}:9")])
        .stdin(Stdio::piped())
        .spawn()
        .expect("socat");
    {
        use std::io::Write;
        let mut stdin = control.stdin.take().expect("stdin");
        let _ = stdin.write_all(b"hilt scope control\n");
    }
    let _ = control.wait();
    assert!(
        capture.wait_for(BOARD, Duration::from_secs(5)),
        "the trap's capture did not see the control packet: {:#?}",
        capture.packets()
    );
}

#[test]
fn board_check_warns_about_a_board_file_without_interface() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old.yaml");
    std::fs::write(
        &old,
        "board: old\nmodel: m\nhardware:\n  network: { address: 198.18.50.2, capture: hb0 }\n",
    )
    .expect("write");
    let out = Command::new(HILT)
        .args(["board", "check"])
        .arg(&old)
        .output()
        .expect("hilt runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "still valid: {stdout}");
    assert!(
        stdout.contains("warn") && stdout.contains("names no `interface`"),
        "{stdout}"
    );
    // The shipped board files (hilt-sim's) name their link: no warning.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped: Vec<PathBuf> = std::fs::read_dir(root.join("boards"))
        .expect("boards/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    let out = Command::new(HILT)
        .args(["board", "check"])
        .args(&shipped)
        .output()
        .expect("hilt runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // (Their referenced files exist only while the boards run; only the
    // warning matters here.)
    assert!(!stdout.contains("warn"), "{stdout}");
}
