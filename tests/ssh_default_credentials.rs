//! AU-01, AU-04 and AU-08 over SSH through the real CLI (`hilt run -b
//! <board file> -- AU-01 AU-04 AU-08`), against Debian's dropbear in
//! namespaces of this test (hilt-ssh-c1, hilt-ssh-c2; 198.19.46.0/24)
//! with a made-up account:
//! - a weak device whose SSH takes passwords, root/root among them, FAILs
//!   AU-01 naming the interface (`ssh 22/tcp`) and the credential, and
//!   AU-04 (no lockout, no delay);
//! - a hardened one whose SSH takes public keys only PASSes AU-01 and
//!   AU-04: every password is refused as not offered, the declared
//!   account's included;
//! - both PASS AU-08 on SSH: dropbear's identification string carries
//!   only the software version RFC 4253 requires (shown, not counted).
//!
//! Needs root, dropbear-bin, openssh-client, openssl.

#[path = "support/command.rs"]
mod command;
#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "support/ssh_server.rs"]
mod ssh_server;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::Value;

use hilt_cli::{hilt_with, record, text};
use ssh_server::SshDevice;

const PASSWORD_ENV: &str = "HILT_SSH_TEST_ROOT";

fn board_file(dir: &Path, name: &str, dev: &SshDevice) -> PathBuf {
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "board: {name}\nmodel: SSH device of Debian's dropbear\n\
             hardware:\n  network: {{ address: {}, interface: {}, host_address: {} }}\n\
             declares:\n  accounts: {{ root: {{ password: 'env:{PASSWORD_ENV}' }} }}\n\
             \x20 interfaces:\n    - {{ port: 22, service: ssh, auth: required }}\n",
            dev.addr, dev.host_if, dev.host_addr
        ),
    )
    .expect("board file");
    file
}

/// `hilt run -b BOARD -- AU-01 AU-04 AU-08` in a fresh folder: the exit
/// code, the trials of the record by catalogue id, what hilt printed.
fn run(board: &Path, password: &str) -> (Option<i32>, BTreeMap<String, Value>, String) {
    let dir = board.parent().expect("folder").join("run");
    std::fs::create_dir_all(&dir).expect("run folder");
    let out = hilt_with(
        &[
            "run",
            "-b",
            &board.display().to_string(),
            "--",
            "AU-01",
            "AU-04",
            "AU-08",
        ],
        &dir,
        &[(PASSWORD_ENV, password)],
    );
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let record = record(&dir);
    let trials: BTreeMap<String, Value> = record["trials"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t["catalogue_id"].as_str().unwrap_or("?").to_string(), t))
        .collect();
    (out.status.code(), trials, shown)
}

#[test]
fn a_weak_ssh_device_fails_au01_and_au04_naming_ssh_and_the_credential() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dev = SshDevice::new("c1", Ipv4Addr::new(198, 19, 46, 0));
    dev.dropbear(22, &[("root", "root")], true);
    let board = board_file(dir.path(), "ssh-weak", &dev);
    let (code, trials, shown) = run(&board, "root");
    let au01 = &trials["AU-01"];
    assert_eq!(au01["verdict"], "FAIL", "{au01:#}\n{shown}");
    let reason = au01["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("ssh 22/tcp"), "{reason}");
    assert!(reason.contains("root/root"), "{reason}");
    assert_ne!(code, Some(0), "a FAIL is a failing exit: {shown}");

    // AU-04 over the same interface: dropbear neither locks nor slows.
    let au04 = &trials["AU-04"];
    assert_eq!(au04["verdict"], "FAIL", "{au04:#}\n{shown}");
    assert!(format!("{au04}").contains("ssh 22/tcp"), "{au04:#}");
    // AU-08 gets the identification string through the SSH driver.
    assert_banner_named(&trials, &shown);
}

/// dropbear's identification string carries only the software version,
/// which RFC 4253 requires: AU-08 reads it through the SSH driver, shows
/// it, and does not count it.
fn assert_banner_named(trials: &BTreeMap<String, Value>, shown: &str) {
    let au08 = &trials["AU-08"];
    assert_eq!(au08["verdict"], "PASS", "{au08:#}\n{shown}");
    let observed = au08["observed"].as_str().unwrap_or_default();
    assert!(
        observed.contains("ssh 22/tcp banner (software version \"dropbear_"),
        "{observed}"
    );
}

#[test]
fn a_keys_only_ssh_device_passes_au01_and_au04() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dev = SshDevice::new("c2", Ipv4Addr::new(198, 19, 46, 4));
    dev.dropbear(22, &[("root", "Q7-unguessable-w4")], false);
    let board = board_file(dir.path(), "ssh-hardened", &dev);
    let (_, trials, shown) = run(&board, "Q7-unguessable-w4");
    let au01 = &trials["AU-01"];
    assert_eq!(au01["verdict"], "PASS", "{au01:#}\n{shown}");
    let said = format!("{au01}");
    assert!(said.contains("ssh 22/tcp"), "{said}");
    assert!(said.contains("not offered"), "{said}");
    assert!(!shown.contains("Q7-unguessable-w4"), "{shown}");

    // AU-04: no password to guess on a keys-only interface.
    let au04 = &trials["AU-04"];
    assert_eq!(au04["verdict"], "PASS", "{au04:#}\n{shown}");
    assert!(
        format!("{au04}").contains("no password to guess"),
        "{au04:#}"
    );
    assert_banner_named(&trials, &shown);
    for trial in trials.values() {
        assert!(
            !format!("{trial}").contains("Q7-unguessable-w4"),
            "{trial:#}"
        );
    }
}
