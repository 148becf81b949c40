//! Devices nobody here wrote: each board of `docs/third-party.md` is
//! brought up (and down again by a Drop guard, pass or fail), the whole
//! `nistir-8259a` suite runs on it through the real CLI, and the record's
//! verdicts must equal the document's table row for row, none INCONCLUSIVE
//! or ERROR. On the weak Debian-daemons device hilt's findings are also
//! checked against tools nobody here wrote: its open TCP ports against
//! `nmap -sT -p-`, its capture findings against `tshark` on the same pcap.
//!
//! Needs root (namespaces) and the packages of `scripts/install-deps.sh`.
//! Names and addresses used: namespaces and links `hilt-deb-weak`,
//! `hilt-deb-hard`, subnets 198.19.1.0/24 and 198.19.2.0/24, runtime
//! folders `/run/hilt-deb/<config>` and `/run/hilt-pty/{login,shell}`.
//! The four boards run at once (one test each): about 90 s in all, the
//! PTY login's 3 s delay after each failed login being the longest part.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "support/third_party.rs"]
mod third_party_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use hilt_cli::{hilt_with, record, text};
use third_party_support::verdict_table;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether the tools a device needs are here; otherwise the test fails
/// with the install hint (or, with HILT_ALLOW_SKIP set, is skipped).
fn ready(tools: &[&str]) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if root && missing.is_empty() {
        return true;
    }
    let why = if root {
        format!("missing {}", missing.join(", "))
    } else {
        "needs root (network and mount namespaces)".into()
    };
    assert!(
        std::env::var_os("HILT_ALLOW_SKIP").is_some(),
        "{why}: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip"
    );
    eprintln!("SKIPPED: {why}");
    false
}

/// A device brought up by `up` and taken down by `down` when dropped,
/// whatever happened in between.
struct Device {
    down: Vec<String>,
}

impl Device {
    fn up(up: &[&str], down: &[&str]) -> Self {
        let device = Self {
            down: down.iter().map(|s| s.to_string()).collect(),
        };
        let out = Command::new(up[0])
            .args(&up[1..])
            .current_dir(repo())
            .output()
            .expect("the up script runs");
        assert!(
            out.status.success(),
            "{} failed: {}{}",
            up.join(" "),
            text(&out.stdout),
            text(&out.stderr)
        );
        device
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = Command::new(&self.down[0])
            .args(&self.down[1..])
            .current_dir(repo())
            .output();
    }
}

/// Runs the default suite on `boards/<dir>/board.yaml` from the repository
/// root (the board files' power commands are relative to it) and returns
/// the record, after asserting it equals the document's table.
fn run_and_compare(dir: &str, out: &Path) -> serde_json::Value {
    let board = format!("boards/{dir}/board.yaml");
    let out_dir = out.join("hilt-out");
    let run = hilt_with(
        &[
            "run",
            "-b",
            &board,
            "--out",
            out_dir.to_str().expect("utf-8"),
        ],
        &repo(),
        &[],
    );
    let record = record(out);
    let doc = std::fs::read_to_string(repo().join("docs/third-party.md")).expect("doc");
    let want = verdict_table(&doc, dir).unwrap_or_else(|| panic!("no table for {dir}"));
    let mut got = BTreeMap::new();
    let mut reasons = Vec::new();
    for trial in record["trials"].as_array().expect("trials") {
        let id = trial["catalogue_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let verdict = trial["verdict"].as_str().unwrap_or_default().to_string();
        reasons.push(format!(
            "{id} {verdict}: {}",
            trial["reason"].as_str().unwrap_or_default()
        ));
        got.insert(id, verdict);
    }
    let reasons = reasons.join("\n");
    for (id, verdict) in &got {
        assert!(
            verdict != "INCONCLUSIVE" && verdict != "ERROR",
            "{dir}: {id} is {verdict}\n{reasons}\n{}",
            text(&run.stderr)
        );
    }
    let differ: Vec<String> = want
        .keys()
        .chain(got.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|id| want.get(*id) != got.get(*id))
        .map(|id| {
            format!(
                "{id}: table {:?}, run {:?}",
                want.get(id).map(String::as_str).unwrap_or("-"),
                got.get(id).map(String::as_str).unwrap_or("-")
            )
        })
        .collect();
    assert!(
        differ.is_empty(),
        "{dir}: the run differs from docs/third-party.md:\n{}\n\nthe run's reasons:\n{reasons}",
        differ.join("\n")
    );
    record
}

/// The run folder of the (only) run under `out/hilt-out`.
fn run_folder(out: &Path) -> PathBuf {
    std::fs::read_dir(out.join("hilt-out"))
        .expect("hilt-out")
        .flatten()
        .next()
        .expect("one run")
        .path()
}

fn trial<'a>(record: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    record["trials"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["catalogue_id"] == id))
        .unwrap_or_else(|| panic!("no {id} trial"))
}

/// The evidence file of `id` whose path ends with `suffix`.
fn evidence(run: &Path, record: &serde_json::Value, id: &str, suffix: &str) -> PathBuf {
    let path = trial(record, id)["evidence"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .filter_map(|e| e["path"].as_str())
                .find(|p| p.ends_with(suffix))
        })
        .unwrap_or_else(|| panic!("{id} left no evidence *{suffix}"));
    run.join(path)
}

/// Runs a tool nobody here wrote; its stdout.
fn tool(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// tshark's frame numbers of `pcap` that match `filter`.
fn tshark_frames(pcap: &Path, filter: &str) -> BTreeSet<u64> {
    tool(&[
        "tshark",
        "-n",
        "-r",
        pcap.to_str().expect("utf-8"),
        "-Y",
        filter,
        "-T",
        "fields",
        "-e",
        "frame.number",
    ])
    .lines()
    .filter_map(|l| l.trim().parse().ok())
    .collect()
}

/// The frame number of the `frame N` locator on `id`'s evidence `*suffix`.
fn located_frame(record: &serde_json::Value, id: &str, suffix: &str) -> u64 {
    let evidence = trial(record, id)["evidence"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .find(|e| e["path"].as_str().is_some_and(|p| p.ends_with(suffix)))
        })
        .unwrap_or_else(|| panic!("{id} left no evidence *{suffix}"));
    evidence["locator"]
        .as_str()
        .and_then(|l| l.strip_prefix("frame "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{id}: no frame locator on {evidence}"))
}

/// The frame numbers listed in `... in frames [4, 27]` / `appears in frames [..]`.
fn frames_named(reason: &str) -> BTreeSet<u64> {
    reason
        .split("frames [")
        .skip(1)
        .filter_map(|s| s.split(']').next())
        .flat_map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()))
        .collect()
}

#[test]
fn the_table_parser_reads_the_documented_format() {
    let doc = "## x\n### a\nprose\n\n| check | verdict | why |\n|---|---|---|\n| AU-07 | FAIL | 161/udp |\n| DP-02 | NOT_APPLICABLE | `declares.interfaces[].tls` |\nafter\n| AU-01 | PASS | not in the table |\n### b\nno table\n### c\n";
    let a = verdict_table(doc, "a").expect("table a");
    assert_eq!(
        a.into_iter().collect::<Vec<_>>(),
        vec![
            ("AU-07".to_string(), "FAIL".to_string()),
            ("DP-02".to_string(), "NOT_APPLICABLE".to_string())
        ]
    );
    assert_eq!(verdict_table(doc, "b"), None);
    assert_eq!(verdict_table(doc, "missing"), None);
    // Every table of the real document has only allowed verdicts.
    let real = std::fs::read_to_string(repo().join("docs/third-party.md")).expect("doc");
    let dirs: Vec<&str> = real
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .collect();
    assert!(dirs.len() >= 2, "{dirs:?}");
    for dir in dirs {
        let table = verdict_table(&real, dir).unwrap_or_else(|| panic!("no table for {dir}"));
        assert_eq!(table.len(), 42, "{dir}: one row per check of nistir-8259a");
        for (id, verdict) in table {
            assert!(
                ["PASS", "FAIL", "NOT_APPLICABLE", "DECLARED"].contains(&verdict.as_str()),
                "{dir}: {id} has {verdict}"
            );
        }
        assert!(
            repo().join("boards").join(dir).join("board.yaml").is_file(),
            "{dir}: no boards/{dir}/board.yaml"
        );
    }
}

const DAEMON_TOOLS: &[&str] = &[
    "ip",
    "unshare",
    "setsid",
    "openssl",
    "mosquitto",
    "mosquitto_pub",
    "mosquitto_passwd",
    "lighttpd",
];

#[test]
fn debian_weak_matches_its_table_and_nmap_and_tshark() {
    let mut tools = DAEMON_TOOLS.to_vec();
    tools.extend(["inetutils-inetd", "telnetd", "snmpd", "nmap", "tshark"]);
    if !ready(&tools) {
        return;
    }
    let d = "boards/debian-daemons";
    let _device = Device::up(
        &["sh", &format!("{d}/up.sh"), "weak"],
        &["sh", &format!("{d}/down.sh"), "weak"],
    );
    let out = tempfile::tempdir().expect("tempdir");
    let record = run_and_compare("debian-weak", out.path());
    let run = run_folder(out.path());

    // AU-07's open TCP ports are nmap's.
    let scan: serde_json::Value = serde_json::from_slice(
        &std::fs::read(evidence(&run, &record, "AU-07", "tcp-scan.json")).expect("scan"),
    )
    .expect("scan json");
    let hilt_open: BTreeSet<u64> = scan["open"]
        .as_array()
        .expect("open ports")
        .iter()
        .filter_map(|p| p.as_u64())
        .collect();
    let nmap = tool(&[
        "nmap",
        "-n",
        "-Pn",
        "-sT",
        "-p-",
        "-e",
        "hilt-deb-weak",
        "-oG",
        "-",
        "198.19.1.2",
    ]);
    let nmap_open: BTreeSet<u64> = nmap
        .lines()
        .filter_map(|l| l.split("Ports: ").nth(1))
        .flat_map(|ports| ports.split(", "))
        .filter(|p| p.contains("/open/tcp/"))
        .filter_map(|p| p.split('/').next()?.trim().parse().ok())
        .collect();
    assert_eq!(
        hilt_open, nmap_open,
        "hilt's open TCP ports vs nmap:\n{nmap}"
    );
    assert_eq!(hilt_open, BTreeSet::from([23, 80, 1883]));

    // AU-01's locators name the line of each attempts file where the first
    // accepted guess begins (several interfaces: telnet, HTTP, MQTT, SNMP).
    let au01: Vec<&serde_json::Value> = trial(&record, "AU-01")["evidence"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["locator"].is_string()).collect())
        .unwrap_or_default();
    assert!(!au01.is_empty(), "AU-01 set no locator");
    for evidence in au01 {
        let n: usize = evidence["locator"]
            .as_str()
            .and_then(|l| l.strip_prefix("line "))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a line locator: {evidence}"));
        let file = std::fs::read_to_string(run.join(evidence["path"].as_str().unwrap_or_default()))
            .expect("AU-01 attempts");
        let line = file.lines().nth(n - 1).unwrap_or_default();
        assert!(
            line.starts_with("=== ") && line.ends_with(": Accepted"),
            "line {n} of {evidence}: {line:?}"
        );
        assert!(
            !file.lines().take(n - 1).any(|l| l.ends_with(": Accepted")),
            "an earlier accepted attempt than line {n}: {evidence}"
        );
    }

    // DP-01: the frames where hilt found the password are the frames where
    // tshark decodes a password field (MQTT CONNECT, HTTP Basic), and the
    // plaintext flows hilt lists are tshark's MQTT and HTTP conversations.
    let dp01 = trial(&record, "DP-01");
    let pcap = evidence(&run, &record, "DP-01", "boot-and-operation.pcap");
    let hilt_frames = frames_named(dp01["reason"].as_str().unwrap_or_default());
    let tshark_creds = tshark_frames(&pcap, "mqtt.passwd || http.authorization");
    assert!(!hilt_frames.is_empty(), "{dp01}");
    assert_eq!(hilt_frames, tshark_creds, "DP-01 password frames vs tshark");
    let flows: serde_json::Value = serde_json::from_slice(
        &std::fs::read(evidence(&run, &record, "DP-01", "flows.json")).expect("flows"),
    )
    .expect("flows json");
    let hilt_flows: BTreeSet<(String, String)> = flows["flows"]
        .as_array()
        .expect("flows")
        .iter()
        .filter(|f| f["plaintext"] == true)
        .map(|f| {
            (
                f["protocol"].as_str().unwrap_or_default().to_string(),
                f["client"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    // tshark's MQTT and HTTP streams, each named by the side that opened it.
    let streams = tool(&[
        "tshark",
        "-n",
        "-r",
        pcap.to_str().expect("utf-8"),
        "-Y",
        "mqtt || http",
        "-T",
        "fields",
        "-e",
        "tcp.stream",
        "-e",
        "_ws.col.Protocol",
    ]);
    let mut proto_of: BTreeMap<String, String> = BTreeMap::new();
    for line in streams.lines() {
        let mut f = line.split('\t');
        if let (Some(stream), Some(proto)) = (f.next(), f.next()) {
            proto_of
                .entry(stream.to_string())
                .or_insert_with(|| proto.to_ascii_lowercase());
        }
    }
    let openers = tool(&[
        "tshark",
        "-n",
        "-r",
        pcap.to_str().expect("utf-8"),
        "-Y",
        "tcp.flags.syn == 1 && tcp.flags.ack == 0",
        "-T",
        "fields",
        "-e",
        "tcp.stream",
        "-e",
        "ip.src",
        "-e",
        "tcp.srcport",
    ]);
    let tshark_flows: BTreeSet<(String, String)> = openers
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let proto = proto_of.get(*f.first()?)?;
            Some((proto.clone(), format!("{}:{}", f.get(1)?, f.get(2)?)))
        })
        .collect();
    assert_eq!(hilt_flows, tshark_flows, "DP-01 plaintext flows vs tshark");
    // Its locator is the first frame of the pcap that carried MQTT or HTTP
    // (tshark's numbering), no later than the first password frame.
    let frame = located_frame(&record, "DP-01", "boot-and-operation.pcap");
    let plaintext = tshark_frames(&pcap, "(mqtt || http) && tcp.len > 0");
    assert_eq!(
        plaintext.first(),
        Some(&frame),
        "DP-01 locator vs tshark's plaintext frames {plaintext:?}"
    );
    assert!(hilt_frames.first().is_some_and(|f| *f >= frame));

    // AU-05: every frame hilt names carries, by tshark's decoding, a
    // password field (MQTT CONNECT, HTTP Basic, an SNMP community: hilt
    // tries the account's password as one) or telnet data (the login hilt
    // makes; the default password is also the user name, which the device
    // echoes); and hilt missed no MQTT or HTTP password field tshark decodes.
    let au05 = trial(&record, "AU-05");
    let login = evidence(&run, &record, "AU-05", "login.pcap");
    let named = frames_named(au05["reason"].as_str().unwrap_or_default());
    assert!(!named.is_empty(), "{au05}");
    let fields = tshark_frames(&login, "mqtt.passwd || http.authorization");
    let decoded = tshark_frames(
        &login,
        "mqtt.passwd || http.authorization || snmp.community || (telnet.data && tcp.port == 23)",
    );
    assert!(
        named.is_subset(&decoded) && fields.is_subset(&named),
        "AU-05 names frames {named:?}; tshark decodes password fields in {fields:?}, and with SNMP communities and telnet data {decoded:?}"
    );
    // Its locator is the first frame it names, one tshark decodes as
    // carrying a credential.
    let frame = located_frame(&record, "AU-05", "login.pcap");
    assert_eq!(named.first(), Some(&frame), "AU-05 locator vs {named:?}");
    assert_eq!(
        tshark_frames(
            &login,
            &format!("frame.number == {frame} && (mqtt.passwd || http.authorization || snmp.community || (telnet.data && tcp.port == 23))")
        ),
        BTreeSet::from([frame]),
        "AU-05 locator frame {frame}: tshark decodes no credential in it"
    );
    assert!(
        named
            .intersection(&tshark_frames(&login, "telnet.data && tcp.dstport == 23"))
            .next()
            .is_some(),
        "AU-05 names no frame of the telnet login: {named:?}"
    );
}

#[test]
fn debian_hardened_matches_its_table() {
    let mut tools = DAEMON_TOOLS.to_vec();
    tools.extend(["dropbear", "dropbearkey"]);
    if !ready(&tools) {
        return;
    }
    let d = "boards/debian-daemons";
    let _device = Device::up(
        &["sh", &format!("{d}/up.sh"), "hardened"],
        &["sh", &format!("{d}/down.sh"), "hardened"],
    );
    let out = tempfile::tempdir().expect("tempdir");
    run_and_compare("debian-hardened", out.path());
}

#[test]
fn pty_login_matches_its_table() {
    if !ready(&["socat", "unshare", "openssl", "passwd"]) {
        return;
    }
    let _board = Device::up(
        &["sh", "boards/pty-login/up.sh"],
        &["sh", "boards/pty-login/down.sh"],
    );
    let out = tempfile::tempdir().expect("tempdir");
    let record = run_and_compare("pty-login", out.path());
    // The password change went through Debian's passwd, and was put back:
    // the board's password still logs in (AU-03 proves it and says so).
    let au03 = trial(&record, "AU-03");
    assert!(
        au03["observed"]
            .as_str()
            .unwrap_or_default()
            .contains("passwd: password updated successfully"),
        "{au03}"
    );
}

#[test]
fn pty_shell_matches_its_table() {
    if !ready(&["socat", "unshare", "setpriv"]) {
        return;
    }
    let _board = Device::up(
        &["sh", "boards/pty-shell/up.sh"],
        &["sh", "boards/pty-shell/down.sh"],
    );
    let out = tempfile::tempdir().expect("tempdir");
    run_and_compare("pty-shell", out.path());
}
