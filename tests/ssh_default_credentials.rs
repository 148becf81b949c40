//! AU-01 over SSH through the real CLI (`hilt run -b <board file> --
//! AU-01`), against Debian's dropbear in namespaces of this test
//! (hilt-ssh-c1, hilt-ssh-c2; 198.19.46.0/24) with a made-up account:
//! - a weak device whose SSH takes passwords, root/root among them, FAILs
//!   naming the interface (`ssh 22/tcp`) and the credential;
//! - a hardened one whose SSH takes public keys only PASSes: every
//!   password is refused as not offered, the declared account's included.
//!
//! Needs root, dropbear-bin, openssh-client, openssl.

#[path = "support/hilt_cli.rs"]
mod hilt_cli;
#[path = "support/ssh_server.rs"]
mod ssh_server;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

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

/// `hilt run -b BOARD -- AU-01` in a fresh folder; the AU-01 trial of
/// the record and what hilt printed.
fn au01(board: &Path, password: &str) -> (Option<i32>, serde_json::Value, String) {
    let dir = board.parent().expect("folder").join("run");
    std::fs::create_dir_all(&dir).expect("run folder");
    let out = hilt_with(
        &["run", "-b", &board.display().to_string(), "--", "AU-01"],
        &dir,
        &[(PASSWORD_ENV, password)],
    );
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let record = record(&dir);
    let trials = record["trials"].as_array().cloned().unwrap_or_default();
    assert_eq!(trials.len(), 1, "{record:#}\n{shown}");
    (out.status.code(), trials[0].clone(), shown)
}

#[test]
fn a_weak_ssh_device_fails_au01_naming_ssh_and_the_credential() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dev = SshDevice::new("c1", Ipv4Addr::new(198, 19, 46, 0));
    dev.dropbear(22, &[("root", "root")], true);
    let board = board_file(dir.path(), "ssh-weak", &dev);
    let (code, trial, shown) = au01(&board, "root");
    assert_eq!(trial["verdict"], "FAIL", "{trial:#}\n{shown}");
    let reason = trial["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("ssh 22/tcp"), "{reason}");
    assert!(reason.contains("root/root"), "{reason}");
    assert_ne!(code, Some(0), "a FAIL is a failing exit: {shown}");
}

#[test]
fn a_keys_only_ssh_device_passes_au01() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dev = SshDevice::new("c2", Ipv4Addr::new(198, 19, 46, 4));
    dev.dropbear(22, &[("root", "Q7-unguessable-w4")], false);
    let board = board_file(dir.path(), "ssh-hardened", &dev);
    let (code, trial, shown) = au01(&board, "Q7-unguessable-w4");
    assert_eq!(trial["verdict"], "PASS", "{trial:#}\n{shown}");
    let said = format!("{trial}");
    assert!(said.contains("ssh 22/tcp"), "{said}");
    assert!(said.contains("not offered"), "{said}");
    assert!(!said.contains("Q7-unguessable-w4"), "{said}");
    assert_eq!(code, Some(0), "{shown}");
}
