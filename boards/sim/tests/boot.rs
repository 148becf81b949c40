//! The bootloader against images that imgtool signs (and forgeries of
//! them), delivered the way a lab delivers them: SMP over the console.

mod common;

use std::time::Duration;

use common::*;

struct Outcome {
    boot_log: String,
    version: String,
    status: String,
    log: String,
}

/// Uploads `image`, marks it for test, resets, logs in again and reports.
fn install(sim: &Sim, index: u32, image: &[u8], confirm: bool) -> Outcome {
    let mut c = sim.console(index);
    c.login("admin", &sim.password(index)).expect("login");
    c.smp_upload(image).expect("upload");
    c.smp_test(&image_hash(image), confirm).expect("test");
    c.smp_reset().expect("reset");
    let boot_log = c.wait_boot();
    c.login("admin", &sim.password(index))
        .expect("login after boot");
    let version = c.cmd("version");
    let status = c.cmd("status");
    let log = c.cmd("log");
    Outcome {
        boot_log,
        version,
        status,
        log,
    }
}

fn skip() -> bool {
    if !have("imgtool") {
        assert!(std::env::var_os("HILT_ALLOW_SKIP").is_some(), "imgtool not installed: skipping: install what is missing (scripts/install-deps.sh, as root) or set HILT_ALLOW_SKIP=1 to skip");
        eprintln!("imgtool not installed: skipping");
        return true;
    }
    false
}

#[test]
fn ed25519_image_signed_by_imgtool_boots_and_reverts_unless_confirmed() {
    if skip() {
        return;
    }
    let sim = Sim::up(100, 1, &[]);
    let img = signed_image(
        sim.dir.path(),
        "ed",
        Some(&key("sim-root-ed25519.pem")),
        "1.2.3",
        2,
    );
    let o = install(&sim, 100, &img, false);
    assert!(o.version.contains("version: 1.2.3"), "{}", o.version);
    assert!(o.boot_log.contains("swap type: test"), "{}", o.boot_log);
    assert!(o.status.contains("normal"), "{}", o.status);
    // Not confirmed: the next boot reverts to the reference firmware.
    let mut c = sim.console(100);
    c.login("admin", &sim.password(100)).expect("login");
    c.send("reboot");
    let log = c.wait_boot();
    assert!(log.contains("revert"), "{log}");
    c.login("admin", &sim.password(100)).expect("login");
    assert!(c.cmd("version").contains("version: 1.0.0"));
}

#[test]
fn p256_image_signed_by_imgtool_boots_and_stays_when_confirmed() {
    if skip() {
        return;
    }
    let sim = Sim::up(101, 1, &[]);
    let img = signed_image(
        sim.dir.path(),
        "p256",
        Some(&key("sim-root-p256.pem")),
        "1.2.3",
        2,
    );
    let o = install(&sim, 101, &img, false);
    assert!(o.version.contains("version: 1.2.3"), "{}", o.version);
    let mut c = sim.console(101);
    c.login("admin", &sim.password(101)).expect("login");
    c.smp_confirm().expect("confirm");
    assert_eq!(sim.power(101, "cycle"), "ok on");
    c.login("admin", &sim.password(101)).expect("login");
    assert!(c.cmd("version").contains("version: 1.2.3"));
    // The hash the console reports is imgtool's image hash.
    let want = image_hash(&img)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    assert!(c.cmd("version").contains(&want));
}

fn assert_rejected(o: &Outcome, why: &str) {
    assert!(o.version.contains("version: 1.0.0"), "{why}: {}", o.version);
    assert!(o.status.contains("degraded"), "{why}: {}", o.status);
    assert!(
        o.log.contains("boot_verification_failed"),
        "{why}: {}",
        o.log
    );
    assert!(
        o.boot_log.contains("verification FAILED"),
        "{why}: {}",
        o.boot_log
    );
}

#[test]
fn tampered_image_does_not_boot() {
    if skip() {
        return;
    }
    let sim = Sim::up(102, 1, &[]);
    let mut img = signed_image(
        sim.dir.path(),
        "t",
        Some(&key("sim-root-ed25519.pem")),
        "1.2.3",
        2,
    );
    // Flip a payload byte (the hash no longer matches).
    img[0x200 + 300] ^= 0x01;
    let o = install(&sim, 102, &img, false);
    assert_rejected(&o, "tampered");
    assert!(o.boot_log.contains("hash mismatch"), "{}", o.boot_log);
}

#[test]
fn unsigned_image_does_not_boot_unless_the_bootloader_is_flawed() {
    if skip() {
        return;
    }
    let sim = Sim::up(103, 1, &[]);
    let img = signed_image(sim.dir.path(), "u", None, "1.2.3", 2);
    let o = install(&sim, 103, &img, false);
    assert_rejected(&o, "unsigned");
    assert!(o.boot_log.contains("no signature"), "{}", o.boot_log);

    let flawed = Sim::up(104, 1, &["bootloader-accepts-unsigned"]);
    let o = install(&flawed, 104, &img, false);
    assert!(o.version.contains("version: 1.2.3"), "{}", o.version);
}

#[test]
fn image_signed_with_another_key_does_not_boot_unless_any_key_is_accepted() {
    if skip() {
        return;
    }
    let sim = Sim::up(105, 1, &[]);
    let other = sim.dir.path().join("other.pem");
    imgtool(&[
        "keygen",
        "-k",
        &other.display().to_string(),
        "-t",
        "ed25519",
    ]);
    let img = signed_image(sim.dir.path(), "w", Some(&other), "1.2.3", 2);
    let o = install(&sim, 105, &img, false);
    assert_rejected(&o, "wrong key");
    assert!(o.boot_log.contains("untrusted key"), "{}", o.boot_log);

    let flawed = Sim::up(106, 1, &["bootloader-accepts-any-key"]);
    let o = install(&flawed, 106, &img, false);
    assert!(o.version.contains("version: 1.2.3"), "{}", o.version);
}

#[test]
fn rolled_back_image_does_not_boot_unless_rollback_is_allowed() {
    if skip() {
        return;
    }
    let sim = Sim::up(107, 1, &[]);
    let k = key("sim-root-ed25519.pem");
    // Raise the counter to 5 with a confirmed update ...
    let new = signed_image(sim.dir.path(), "n", Some(&k), "2.0.0", 5);
    let o = install(&sim, 107, &new, true);
    assert!(o.version.contains("version: 2.0.0"), "{}", o.version);
    // ... then offer a genuine, correctly signed older image (counter 3).
    let old = signed_image(sim.dir.path(), "o", Some(&k), "1.5.0", 3);
    let o = install(&sim, 107, &old, true);
    assert!(o.version.contains("version: 2.0.0"), "{}", o.version);
    assert!(o.status.contains("degraded"), "{}", o.status);
    assert!(o.boot_log.contains("rollback"), "{}", o.boot_log);

    let flawed = Sim::up(108, 1, &["rollback-allowed"]);
    let o = install(&flawed, 108, &new, true);
    assert!(o.version.contains("version: 2.0.0"), "{}", o.version);
    let o = install(&flawed, 108, &old, true);
    assert!(o.version.contains("version: 1.5.0"), "{}", o.version);
}

#[test]
fn smp_update_needs_a_logged_in_session() {
    let sim = Sim::up(109, 1, &[]);
    let mut c = sim.console(109);
    c.drain();
    let img = std::fs::read(sim.board_dir(109).join("golden.bin")).expect("golden");
    let err = c
        .smp_upload(&img)
        .expect_err("upload without login must fail");
    assert!(err.contains("refused"), "{err}");
    // Reading the image list is allowed; it still shows only slot 0.
    let st = c.smp_image_state().expect("state");
    let images = map_get(&st, "images")
        .and_then(|v| v.as_array())
        .expect("images");
    assert_eq!(images.len(), 1, "{st:?}");
    // The refusal is logged.
    c.login("admin", &sim.password(109)).expect("login");
    assert!(c.cmd("log").contains("update_rejected"));

    let flawed = Sim::up(110, 1, &["update-unauthenticated"]);
    let mut c = flawed.console(110);
    c.drain();
    c.smp_upload(&img).expect("flaw: upload without login");
    std::thread::sleep(Duration::from_millis(10));
}

#[test]
fn firmware_command_builds_flawed_images_and_refuses_bootloader_flaws() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("fw.bin");
    let st = std::process::Command::new(BIN)
        .args([
            "firmware",
            "--flaw",
            "telnet-open",
            "--version",
            "1.1.0",
            "--out",
        ])
        .arg(&out)
        .status()
        .expect("run");
    assert!(st.success());
    let img = std::fs::read(&out).expect("image");
    assert_eq!(&img[..4], &[0x3d, 0xb8, 0xf3, 0x96]);
    if have("imgtool") {
        // imgtool itself accepts our image under the committed public key.
        imgtool(&[
            "verify",
            "--key",
            &key("sim-root-ed25519.pem").display().to_string(),
            &out.display().to_string(),
        ]);
    }
    let o = std::process::Command::new(BIN)
        .args(["firmware", "--flaw", "rollback-allowed", "--out"])
        .arg(&out)
        .output()
        .expect("run");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("bootloader"));
    let list = std::process::Command::new(BIN)
        .args(["firmware", "--list-flaws"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert_eq!(text.lines().count(), hilt_sim::firmware::FLAWS.len());
    for f in hilt_sim::firmware::FLAWS {
        assert!(
            text.contains(f.name) && text.contains(f.summary),
            "{}",
            f.name
        );
    }
}
