//! AU-01 through the real CLI on a device made of Debian's daemons in a
//! network namespace (hilt-cr-d1, 198.19.40.0/24): busybox telnetd running
//! Debian's `/bin/login` with made-up accounts, mosquitto, Net-SNMP's
//! snmpd and busybox httpd with HTTP Basic. The weak configuration
//! (admin/admin on telnet and HTTP, anonymous MQTT, community `public`)
//! must FAIL naming each interface; the strong one (only the declared
//! account's password, MQTT password file, a private community) must PASS
//! with every interface judged. The board file is the same for both.
//! Needs root (namespaces), busybox, openssl, mosquitto, snmpd.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "../harness/tests/support/netns_device.rs"]
mod netns_device;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hilt_cli::{hilt_with, record, text};
use netns_device::{require_tool, run_ok, Device};

const PASSWORD: &str = "Tq7-harbor-Vw3z";
const COMMUNITY: &str = "Rk2-beacon-Yp8d";

struct Config {
    weak: bool,
}

fn start(device: &mut Device, config: &Config) {
    let a = device.address.clone();
    let mut users = vec![("operator", PASSWORD)];
    if config.weak {
        users.push(("admin", "admin"));
    }
    device.accounts(&users);
    device.spawn_with_accounts(
        "telnetd.log",
        &format!("busybox telnetd -F -p 23 -b {a} -l /bin/login"),
    );
    let pwfile = device.path("mqtt.pw").display().to_string();
    run_ok(&[
        "mosquitto_passwd",
        "-b",
        "-c",
        &pwfile,
        "operator",
        PASSWORD,
    ]);
    let mqtt = if config.weak {
        format!("user root\nlistener 1883 {a}\nallow_anonymous true\n")
    } else {
        format!("user root\nlistener 1883 {a}\nallow_anonymous false\npassword_file {pwfile}\n")
    };
    let conf = device.write("mosquitto.conf", &mqtt).display().to_string();
    device.spawn("mosquitto.log", &format!("exec mosquitto -c {conf}"));
    let community = if config.weak { "public" } else { COMMUNITY };
    let mut snmp = format!("rocommunity {COMMUNITY}\n");
    if config.weak {
        snmp.push_str(&format!("rocommunity {community}\n"));
    }
    let conf = device.write("snmpd.conf", &snmp).display().to_string();
    let dir = device.dir_path().display().to_string();
    device.spawn(
        "snmpd.log",
        &format!("SNMP_PERSISTENT_DIR={dir} exec snmpd -f -Lo -C -c {conf} -p {dir}/snmpd.pid udp:{a}:161"),
    );
    std::fs::create_dir_all(device.path("www")).expect("www");
    device.write("www/index.html", "thermostat\n");
    let mut basic = format!("/:operator:{PASSWORD}\n");
    if config.weak {
        basic.push_str("/:admin:admin\n");
    }
    let conf = device.write("httpd.conf", &basic).display().to_string();
    device.spawn(
        "httpd.log",
        &format!(
            "exec busybox httpd -f -p {a}:80 -h {} -c {conf}",
            device.path("www").display()
        ),
    );
    for port in [23, 1883, 80] {
        device.wait_tcp(port, Duration::from_secs(5));
    }
}

fn board_file(dir: &Path, device: &Device) -> PathBuf {
    std::fs::write(dir.join("pw"), format!("{PASSWORD}\n")).expect("pw");
    std::fs::write(dir.join("community"), format!("{COMMUNITY}\n")).expect("community");
    let file = dir.join("board.yaml");
    std::fs::write(
        &file,
        format!(
            "board: debian-daemons\nmodel: a network device of Debian's daemons\n\
             hardware:\n  network: {{ address: {}, interface: {}, host_address: {} }}\n\
             declares:\n  accounts:\n    operator: {{ password: 'file:pw' }}\n    snmp: {{ password: 'file:community', role: user }}\n\
             \x20 interfaces:\n\
             \x20   - {{ port: 23, service: telnet, login: {{ account: operator }} }}\n\
             \x20   - {{ port: 1883, service: mqtt, login: {{ account: operator }} }}\n\
             \x20   - {{ port: 161, protocol: udp, service: snmp, login: {{ account: snmp }} }}\n\
             \x20   - {{ port: 80, service: http, api: {{ auth: basic, accounts: [operator] }} }}\n",
            device.address, device.host_if, device.host_address
        ),
    )
    .expect("board file");
    file
}

/// Runs AU-01 and returns its trial from the record.
fn au01(device: &Device) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let board = board_file(dir.path(), device);
    let board = board.display().to_string();
    let out = hilt_with(&["run", "-b", &board, "--", "AU-01"], dir.path(), &[]);
    let trial = record(dir.path())["trials"][0].clone();
    assert_eq!(
        trial["name"],
        "debian-daemons::logical_access::default_credentials",
        "{trial:#}\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // Nothing secret in what was printed or recorded.
    let printed = format!("{}{}{trial}", text(&out.stdout), text(&out.stderr));
    assert!(!printed.contains(PASSWORD), "{printed}");
    assert!(!printed.contains(COMMUNITY), "{printed}");
    trial
}

fn tools() {
    for tool in [
        "busybox",
        "openssl",
        "mosquitto",
        "mosquitto_passwd",
        "snmpd",
    ] {
        require_tool(tool);
    }
}

#[test]
fn au01_fails_every_weak_interface_of_a_debian_device_and_passes_the_strong_one() {
    tools();
    let mut weak = Device::new("hilt-cr-d1", "198.19.40");
    start(&mut weak, &Config { weak: true });
    let trial = au01(&weak);
    drop(weak);
    assert_eq!(trial["verdict"], "FAIL", "{trial:#}");
    let reason = trial["reason"].as_str().unwrap_or("");
    for named in [
        "telnet 23/tcp accepted admin/admin",
        "mqtt 1883/tcp accepted anonymous",
        "snmp 161/udp accepted community public",
        "http 80/tcp accepted admin/admin",
    ] {
        assert!(reason.contains(named), "{named:?} not in {reason}");
    }

    let mut strong = Device::new("hilt-cr-d1", "198.19.40");
    start(&mut strong, &Config { weak: false });
    let trial = au01(&strong);
    assert_eq!(trial["verdict"], "PASS", "{trial:#}\n{}", strong.logs());
    let observed = trial["observed"].as_str().unwrap_or("");
    for held in [
        "telnet 23/tcp refused 10 (the declared account operator logged in after 3 wrong password(s) in a row)",
        "mqtt 1883/tcp refused 11 (the declared account operator logged in after 3 wrong password(s) in a row)",
        "snmp 161/udp refused 6 (the declared account snmp logged in)",
        "http 80/tcp refused 10 (the declared account operator logged in after 3 wrong password(s) in a row)",
    ] {
        assert!(observed.contains(held), "{held:?} not in {observed}");
    }
}

/// Debian's PAM stack with pam_faillock: 3 failures lock the account
/// for 3 s (the tally kept in the device's own folder).
fn faillock_stack(dir: &Path) -> String {
    faillock_stack_locking(dir, 3)
}

/// As [`faillock_stack`], the lock lasting `unlock_s`.
fn faillock_stack_locking(dir: &Path, unlock_s: u32) -> String {
    // even_deny_root: root is locked like any account.
    let opts = format!(
        "deny=3 unlock_time={unlock_s} even_deny_root dir={}",
        dir.display()
    );
    format!(
        "auth required pam_faillock.so preauth {opts}\n\
         auth [success=1 default=bad] pam_unix.so nodelay\n\
         auth [default=die] pam_faillock.so authfail {opts}\n\
         auth sufficient pam_faillock.so authsucc {opts}\n\
         account required pam_unix.so\nsession required pam_unix.so\n"
    )
}

/// Runs AU-04 against a board whose one login is telnet.
fn au04(device: &Device) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pw"), format!("{PASSWORD}\n")).expect("pw");
    let board = dir.path().join("board.yaml");
    std::fs::write(
        &board,
        format!(
            "board: telnet-box\nmodel: m\n\
             hardware:\n  network: {{ address: {}, interface: {}, host_address: {} }}\n\
             declares:\n  accounts: {{ operator: {{ password: 'file:pw' }} }}\n\
             \x20 lockout: {{ threshold: 3, delay_s: 3 }}\n\
             \x20 interfaces:\n    - {{ port: 23, service: telnet, login: {{ account: operator }} }}\n",
            device.address, device.host_if, device.host_address
        ),
    )
    .expect("board");
    let board = board.display().to_string();
    let out = hilt_with(&["run", "-b", &board, "--", "AU-04"], dir.path(), &[]);
    let trial = record(dir.path())["trials"][0].clone();
    assert_eq!(
        trial["name"],
        "telnet-box::logical_access::brute_force_lockout",
        "{trial:#}\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    trial
}

#[test]
fn au04_passes_telnet_behind_pam_faillock_and_fails_it_without() {
    tools();
    let mut locking = Device::new("hilt-cr-d2", "198.19.41");
    locking.accounts(&[("operator", PASSWORD)]);
    std::fs::create_dir_all(locking.path("faillock")).expect("tally dir");
    locking.pam_login(&faillock_stack(&locking.path("faillock")));
    let a = locking.address.clone();
    locking.spawn_with_accounts(
        "telnetd.log",
        &format!("busybox telnetd -F -p 23 -b {a} -l /bin/login"),
    );
    locking.wait_tcp(23, Duration::from_secs(5));
    let trial = au04(&locking);
    assert_eq!(trial["verdict"], "PASS", "{trial:#}\n{}", locking.logs());
    let observed = trial["observed"].as_str().unwrap_or("");
    assert!(
        observed.contains("telnet 23/tcp: 3 wrong attempts")
            && observed.contains("right password right after: refused; after 4 s: logs in"),
        "{observed}"
    );
    drop(locking);

    let mut open = Device::new("hilt-cr-d2", "198.19.41");
    open.accounts(&[("operator", PASSWORD)]);
    let a = open.address.clone();
    open.spawn_with_accounts(
        "telnetd.log",
        &format!("busybox telnetd -F -p 23 -b {a} -l /bin/login"),
    );
    open.wait_tcp(23, Duration::from_secs(5));
    let trial = au04(&open);
    assert_eq!(trial["verdict"], "FAIL", "{trial:#}");
    assert!(
        trial["reason"]
            .as_str()
            .unwrap_or("")
            .contains("telnet 23/tcp"),
        "{trial:#}"
    );
}

/// Runs AU-08 against a board with telnet and MQTT.
fn au08(device: &Device) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pw"), format!("{PASSWORD}\n")).expect("pw");
    let board = dir.path().join("board.yaml");
    std::fs::write(
        &board,
        format!(
            "board: banners\nmodel: m\n\
             hardware:\n  network: {{ address: {}, interface: {}, host_address: {} }}\n\
             declares:\n  accounts: {{ operator: {{ password: 'file:pw' }} }}\n\
             \x20 interfaces:\n    - {{ port: 23, service: telnet }}\n    - {{ port: 1883, service: mqtt }}\n",
            device.address, device.host_if, device.host_address
        ),
    )
    .expect("board");
    let board = board.display().to_string();
    let out = hilt_with(&["run", "-b", &board, "--", "AU-08"], dir.path(), &[]);
    let trial = record(dir.path())["trials"][0].clone();
    assert_eq!(
        trial["name"],
        "banners::logical_access::metadata_leakage",
        "{trial:#}\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    trial
}

fn banner_device(issue: &str, anonymous: bool) -> Device {
    let mut device = Device::new("hilt-cr-d3", "198.19.42");
    device.accounts(&[("operator", PASSWORD)]);
    let issue = device.write("issue", issue).display().to_string();
    let a = device.address.clone();
    device.spawn_with_accounts(
        "telnetd.log",
        &format!("busybox telnetd -F -p 23 -b {a} -f {issue} -l /bin/login"),
    );
    let conf = device
        .write(
            "mosquitto.conf",
            &format!("user root\nlistener 1883 {a}\nallow_anonymous {anonymous}\n"),
        )
        .display()
        .to_string();
    device.spawn("mosquitto.log", &format!("exec mosquitto -c {conf}"));
    device.wait_tcp(23, Duration::from_secs(5));
    device.wait_tcp(1883, Duration::from_secs(5));
    device
}

#[test]
fn au08_reads_the_telnet_and_mqtt_banners_before_any_login() {
    tools();
    let chatty = banner_device("Debian GNU/Linux 12 (kernel 6.1)\n", true);
    let trial = au08(&chatty);
    drop(chatty);
    assert_eq!(trial["verdict"], "FAIL", "{trial:#}");
    let reason = trial["reason"].as_str().unwrap_or("");
    assert!(reason.contains("telnet 23/tcp: banner names"), "{reason}");
    assert!(
        reason.contains("mqtt 1883/tcp: banner names a version: \"mosquitto version 2."),
        "{reason}"
    );

    let quiet = banner_device("Authorized use only\n", false);
    let trial = au08(&quiet);
    assert_eq!(trial["verdict"], "PASS", "{trial:#}\n{}", quiet.logs());
    let observed = trial["observed"].as_str().unwrap_or("");
    assert!(
        observed.contains("telnet 23/tcp banner")
            && observed.contains("mqtt 1883/tcp (no banner without login)"),
        "{observed}"
    );
}

/// A telnet device (Debian's /bin/login behind busybox telnetd) whose
/// `root` has the dictionary default `vizxv` (root's fourth guess); with
/// `faillock`, pam_faillock locks any account after 3 failures, and the
/// board file (declared account `operator`) says nothing about it.
fn root_default_device(faillock: bool) -> Device {
    let mut device = Device::new("hilt-hd-au01", "198.19.50");
    device.accounts(&[("operator", PASSWORD), ("root", "vizxv")]);
    if faillock {
        std::fs::create_dir_all(device.path("faillock")).expect("tally dir");
        // Locked for 60 s: longer than the rest of the dictionary takes.
        device.pam_login(&faillock_stack_locking(&device.path("faillock"), 60));
    }
    let a = device.address.clone();
    device.spawn_with_accounts(
        "telnetd.log",
        &format!("busybox telnetd -F -p 23 -b {a} -l /bin/login"),
    );
    device.wait_tcp(23, Duration::from_secs(5));
    device
}

/// Runs AU-01 against a board whose one login is telnet, with no lockout
/// declared.
fn au01_telnet(device: &Device) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pw"), format!("{PASSWORD}\n")).expect("pw");
    let board = dir.path().join("board.yaml");
    std::fs::write(
        &board,
        format!(
            "board: telnet-box\nmodel: m\n\
             hardware:\n  network: {{ address: {}, interface: {}, host_address: {} }}\n\
             declares:\n  accounts: {{ operator: {{ password: 'file:pw' }} }}\n\
             \x20 interfaces:\n    - {{ port: 23, service: telnet, login: {{ account: operator }} }}\n",
            device.address, device.host_if, device.host_address
        ),
    )
    .expect("board");
    let board = board.display().to_string();
    let out = hilt_with(&["run", "-b", &board, "--", "AU-01"], dir.path(), &[]);
    let trial = record(dir.path())["trials"][0].clone();
    assert_eq!(
        trial["name"],
        "telnet-box::logical_access::default_credentials",
        "{trial:#}\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    trial
}

/// An undeclared per-account lockout must not hide a default: before,
/// root's lock refused `root/vizxv` at its fourth guess, `operator` (never
/// guessed) still logged in, and AU-01 PASSed. Now `operator` is given as
/// many wrong passwords in a row as root had before its last guess (3),
/// the lock refuses its control, and the trial is INCONCLUSIVE naming the
/// undeclared lockout. Without the lock the same device FAILs naming
/// root/vizxv, so the default is real. About 15 s.
#[test]
fn au01_is_not_fooled_by_an_undeclared_per_account_lockout() {
    tools();
    let locking = root_default_device(true);
    let trial = au01_telnet(&locking);
    assert_eq!(
        trial["verdict"],
        "INCONCLUSIVE",
        "{trial:#}\n{}",
        locking.logs()
    );
    let reason = trial["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("telnet 23/tcp")
            && reason.contains("was refused after 3 wrong password(s) in a row")
            && reason.contains("declares.lockout"),
        "{reason}"
    );
    drop(locking);

    let open = root_default_device(false);
    let trial = au01_telnet(&open);
    assert_eq!(trial["verdict"], "FAIL", "{trial:#}\n{}", open.logs());
    let reason = trial["reason"].as_str().unwrap_or("");
    assert!(reason.contains("root/vizxv"), "{reason}");
}
