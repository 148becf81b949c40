//! labgrid's own programs (PyPI `labgrid`) as the tests' lab: a
//! coordinator, exporters, and `labgrid-client` to set places up and to
//! read back what hilt did. Each runs in a network namespace when given one.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A program, run inside `netns` when one is given.
fn command(netns: Option<&str>, program: &str) -> Command {
    match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, program]);
            c
        }
        None => Command::new(program),
    }
}

/// A child process killed when dropped.
pub struct Running {
    child: Child,
    pub log: std::path::PathBuf,
}

impl Running {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` in `dir`, its output into `dir/log_name`; killed when dropped.
pub fn spawn(mut command: Command, dir: &Path, log_name: &str) -> Running {
    let log = dir.join(log_name);
    let file = std::fs::File::create(&log).expect("log file");
    let err = file.try_clone().expect("log file");
    let child = command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    Running { child, log }
}

/// `labgrid-coordinator` listening on `listen` (it writes its places into `dir`).
pub fn coordinator(netns: Option<&str>, listen: SocketAddr, dir: &Path) -> Running {
    let mut c = command(netns, "labgrid-coordinator");
    c.arg("-l").arg(listen.to_string());
    let running = spawn(c, dir, "coordinator.log");
    let deadline = Instant::now() + Duration::from_secs(15);
    // Reachable from here when it runs in this namespace; in another one,
    // labgrid-client (run there) tells.
    while Instant::now() < deadline {
        let up = match netns {
            None => TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_ok(),
            Some(_) => client(netns, &listen.to_string(), &["places"])
                .status
                .success(),
        };
        if up {
            return running;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the coordinator did not listen: {}", running.log_text());
}

/// `labgrid-exporter` named `name`, publishing `config` (labgrid's exporter
/// YAML) with `hostname` as the address clients reach its resources at.
pub fn exporter(
    netns: Option<&str>,
    coordinator: &str,
    name: &str,
    hostname: &str,
    config: &str,
    dir: &Path,
) -> Running {
    let file = dir.join(format!("exporter-{name}.yaml"));
    std::fs::write(&file, config).expect("exporter config");
    let mut c = command(netns, "labgrid-exporter");
    c.args(["-c", coordinator, "-n", name, "--hostname", hostname])
        .arg(&file);
    spawn(c, dir, &format!("exporter-{name}.log"))
}

/// `labgrid-client -x COORDINATOR ARGS...`.
pub fn client(netns: Option<&str>, coordinator: &str, args: &[&str]) -> Output {
    command(netns, "labgrid-client")
        .args(["-x", coordinator])
        .args(args)
        .output()
        .expect("labgrid-client runs")
}

/// `labgrid-client` that must succeed; returns its stdout.
pub fn client_ok(netns: Option<&str>, coordinator: &str, args: &[&str]) -> String {
    let out = client(netns, coordinator, args);
    assert!(
        out.status.success(),
        "labgrid-client {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the coordinator lists `count` resources of `exporter`.
pub fn await_resources(netns: Option<&str>, coordinator: &str, exporter: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut listed = String::new();
    while Instant::now() < deadline {
        listed = client_ok(netns, coordinator, &["resources"]);
        if listed
            .lines()
            .filter(|l| l.starts_with(&format!("{exporter}/")))
            .count()
            >= count
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{exporter} published fewer than {count} resources: {listed}");
}

/// Creates place `name` holding everything in `exporter`'s group `group`,
/// tagged with `tags` (`key=value`).
pub fn create_place(
    netns: Option<&str>,
    coordinator: &str,
    name: &str,
    exporter: &str,
    group: &str,
    tags: &[&str],
) {
    client_ok(netns, coordinator, &["-p", name, "create"]);
    client_ok(
        netns,
        coordinator,
        &["-p", name, "add-match", &format!("{exporter}/{group}/*")],
    );
    if !tags.is_empty() {
        let mut args = vec!["-p", name, "set-tags"];
        args.extend_from_slice(tags);
        client_ok(netns, coordinator, &args);
    }
}

/// Who holds `place`, as `labgrid-client show` says (None: nobody).
pub fn holder(netns: Option<&str>, coordinator: &str, place: &str) -> Option<String> {
    let shown = client_ok(netns, coordinator, &["-p", place, "show"]);
    shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("acquired:"))
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h != "None")
}
