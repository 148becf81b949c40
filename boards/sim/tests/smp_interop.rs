//! SMP interoperability: smpclient (Python, not written here) uploads,
//! marks and resets over the board's console; the board boots the image.

mod common;

use std::process::Command;

use common::*;

fn smpclient_available() -> bool {
    Command::new("python3")
        .args(["-c", "import smpclient, serial"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn smpclient_uploads_tests_and_resets() {
    if !smpclient_available() || !have("imgtool") {
        assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "smpclient[serial] or imgtool not installed: skipping: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip");
        eprintln!("smpclient[serial] or imgtool not installed: skipping");
        return;
    }
    let sim = Sim::up(186, 1, &[]);
    let img = signed_image(
        sim.dir.path(),
        "s",
        Some(&key("sim-root-ed25519.pem")),
        "1.4.0",
        2,
    );
    let path = sim.dir.path().join("s.bin");
    let mut c = sim.console(186);
    c.login("admin", &sim.password(186)).expect("login");
    drop(c);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smp_client.py");
    let out = Command::new("timeout")
        .args(["60", "python3", script])
        .arg(sim.board_dir(186).join("tty"))
        .arg(&path)
        .output()
        .expect("run smpclient");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("uploaded {}", img.len())), "{text}");
    // The reset answer comes before the reboot: wait for the new image's
    // banner (the PTY keeps what nobody read) so the login below is not
    // made to the session of the image that is about to go away.
    let mut c = sim.console(186);
    c.expect(
        "hilt-sim firmware 1.4.0",
        std::time::Duration::from_secs(15),
    )
    .expect("the new image boots");
    c.wait_boot();
    c.login("admin", &sim.password(186))
        .expect("login after reset");
    assert!(c.cmd("version").contains("version: 1.4.0"));
}
