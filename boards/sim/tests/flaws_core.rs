//! The flaws of the device core and of the bootloader, each against the
//! reference, through the board's own interfaces: the console PTY, SMP over
//! it, HTTPS, the power socket and `flash.bin` at rest.
//!
//! Board indices: 156-157 (core), 163, 165, 166 and 169 (bootloader).

mod common;
mod net_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use net_common::{basic, https, roots_from, tls_client};

const BOOT: Duration = Duration::from_secs(15);
const NEW_PASSWORD: &str = "Hilt-changed-7Kx2";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn golden(sim: &Sim, index: u32) -> Vec<u8> {
    std::fs::read(sim.board_dir(index).join("golden.bin")).expect("golden.bin")
}

/// An HTTPS client for board `index` (loopback wiring).
struct Api {
    cfg: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    name: String,
}

impl Api {
    fn new(sim: &Sim, index: u32) -> Api {
        let ip = format!("127.77.0.{}", index + 2);
        Api {
            cfg: tls_client(roots_from(
                &sim.board_dir(index).join("manufacturer-ca.pem"),
            )),
            addr: format!("{ip}:10443").parse().expect("address"),
            name: ip,
        }
    }

    fn get(&self, path: &str, password: Option<&str>) -> net_common::Reply {
        let auth = password.map(|p| basic("admin", p));
        https(
            &self.cfg,
            self.addr,
            &self.name,
            "GET",
            path,
            auth.as_deref(),
            b"",
        )
        .expect("HTTPS request")
    }
}

/// CF-01, AU-03, CS-06 and CS-02 on one board: the reference holds where
/// `flawed` (config-not-persisted, password-change-keeps-old,
/// version-report-stale, no-degraded-state) does not.
fn core_checks(index: u32, flaws: &[&str]) {
    let flawed = !flaws.is_empty();
    let sim = Sim::up_with(index, 1, flaws, &["--loopback"]);
    let pw = sim.password(index);
    let api = Api::new(&sim, index);
    let mut c = sim.console(index);
    c.login("admin", &pw).expect("login");

    // CF-01: a change applies at once and (reference) survives a reboot.
    assert_eq!(c.cmd("config set setpoint 225"), "ok");
    assert_eq!(c.cmd("config get setpoint"), "setpoint=225");
    c.send("reboot");
    c.wait_boot();
    c.login("admin", &pw).expect("login after reboot");
    let after = c.cmd("config get setpoint");
    assert_eq!(
        after,
        if flawed {
            "setpoint=210"
        } else {
            "setpoint=225"
        },
        "after reboot"
    );

    // CS-06: the reported hash is the running image's MCUboot hash; the
    // SMP image list stays right either way.
    let image = golden(&sim, index);
    let want = hex(&image_hash(&image));
    let version = c.cmd("version");
    assert_eq!(version.contains(&want), !flawed, "{version}");
    assert!(version.contains("version: 1.0.0"), "{version}");
    let st = c.smp_image_state().expect("image state");
    assert_eq!(slot_hash(&st, 0), Some(image_hash(&image)));
    let status = api.get("/api/v1/status", Some(&pw)).json();
    assert_eq!(status["image_sha256"] == want.as_str(), !flawed, "{status}");

    // AU-03: after `passwd` the old password stops working (reference).
    assert_eq!(c.cmd(&format!("passwd {NEW_PASSWORD}")), "ok");
    let old = c.login("admin", &pw);
    assert_eq!(old.is_ok(), flawed, "old password on the console: {old:?}");
    c.login("admin", NEW_PASSWORD).expect("new password");
    let old_http = api.get("/api/v1/status", Some(&pw)).status;
    assert_eq!(old_http, if flawed { 200 } else { 401 });
    assert_eq!(api.get("/api/v1/status", Some(NEW_PASSWORD)).status, 200);
    assert_eq!(c.cmd(&format!("passwd {pw}")), "ok");
    c.login("admin", &pw).expect("original password back");

    // CS-02: an image the bootloader rejects leaves the state degraded.
    let log = smp_install(&mut c, &tampered_payload(&image), BOOT).expect("boots");
    assert!(log.contains("slot 1: verification FAILED"), "{log}");
    assert_eq!(log.contains("status: degraded"), !flawed, "{log}");
    c.login("admin", &pw).expect("login");
    let status = c.cmd("status");
    assert_eq!(status.contains("status: degraded"), !flawed, "{status}");
    assert_eq!(status.contains("status: normal"), flawed, "{status}");
    let http = api.get("/api/v1/status", Some(&pw)).json();
    assert_eq!(http["state"], if flawed { "normal" } else { "degraded" });
    // The event is recorded either way: only the state indicator lies.
    assert!(c.cmd("log").contains("boot_verification_failed"));
}

#[test]
fn reference_core_persists_forgets_old_passwords_and_reports_truly() {
    core_checks(156, &[]);
}

#[test]
fn flawed_core_loses_config_keeps_old_password_and_misreports() {
    core_checks(
        157,
        &[
            "config-not-persisted",
            "password-change-keeps-old",
            "version-report-stale",
            "no-degraded-state",
        ],
    );
}

/// The running image as `image state` reports it: (hash, confirmed).
fn running(c: &mut Console) -> (Vec<u8>, bool) {
    let st = c.smp_image_state().expect("image state");
    (slot_hash(&st, 0).expect("slot 0"), running_confirmed(&st))
}

#[test]
fn reference_bootloader_rejects_forgeries_and_a_slot_modified_at_rest() {
    let index = 169;
    let sim = Sim::up(index, 1, &[]);
    let pw = sim.password(index);
    let image = golden(&sim, index);
    let mut c = sim.console(index);
    c.login("admin", &pw).expect("login");
    for (what, forged, why) in [
        ("SU-04", tampered_payload(&image), "image hash mismatch"),
        ("SU-09", edited_counter(&image), "image hash mismatch"),
        (
            "raised counter",
            raised_counter(&image),
            "image hash mismatch",
        ),
        ("SU-06", lying_size(&image), "protected TLV area"),
    ] {
        let log = smp_install(&mut c, &forged, BOOT).expect(what);
        assert!(
            log.contains("[boot] slot 1: verification FAILED") && log.contains(why),
            "{what}: {log}"
        );
        assert!(log.contains("erasing slot 1"), "{what}: {log}");
        c.login("admin", &pw).expect("login");
        assert_eq!(running(&mut c), (image_hash(&image), true), "{what}");
        let st = c.smp_image_state().expect("state");
        assert_eq!(slot_hash(&st, 1), None, "{what}: slot 1 erased");
    }

    // SU-15: slot 0 modified at rest is refused at the next boot, and the
    // halted board still answers its power socket.
    let flash = sim.board_dir(index).join("flash.bin");
    let payload_byte = 0x1_0000 + 0x200 + 4000;
    assert_eq!(sim.power(index, "off"), "ok off");
    flip_byte(&flash, payload_byte);
    c.drain();
    assert_eq!(sim.power(index, "on"), "ok on");
    let log = c
        .expect("[boot] verdict: no bootable image; halted", BOOT)
        .expect("halt");
    assert!(
        log.contains("[boot] slot 0: verification FAILED: image hash mismatch"),
        "{log}"
    );
    assert!(c.expect("login: ", Duration::from_secs(1)).is_err());
    assert_eq!(sim.power(index, "status"), "ok on");
    assert_eq!(sim.power(index, "cycle"), "ok on");
    assert_eq!(sim.power(index, "on"), "ok on");
    // Put the byte back while off: the board boots again.
    assert_eq!(sim.power(index, "off"), "ok off");
    flip_byte(&flash, payload_byte);
    assert_eq!(sim.power(index, "on"), "ok on");
    c.login("admin", &pw).expect("boots after the repair");
    assert_eq!(running(&mut c), (image_hash(&image), true));
}

#[test]
fn bootloader_skips_hash_boots_a_tampered_payload() {
    let index = 163;
    let sim = Sim::up(index, 1, &["bootloader-skips-hash"]);
    let pw = sim.password(index);
    let image = golden(&sim, index);
    let tampered = tampered_payload(&image);
    let mut c = sim.console(index);
    c.login("admin", &pw).expect("login");
    let log = smp_install(&mut c, &tampered, BOOT).expect("boots");
    assert!(log.contains("test boot, unconfirmed"), "{log}");
    c.login("admin", &pw).expect("login");
    assert_eq!(running(&mut c), (image_hash(&tampered), false));
    // Not confirmed: the next boot reverts it.
    assert_eq!(sim.power(index, "cycle"), "ok on");
    c.login("admin", &pw).expect("login");
    assert_eq!(running(&mut c), (image_hash(&image), true));
    // The protected TLVs are no better off: the security counter raised by
    // one, hash and signature kept, boots too (the reference refuses it:
    // its hash covers the protected TLVs).
    let raised = raised_counter(&image);
    let log = smp_install(&mut c, &raised, BOOT).expect("boots");
    assert!(
        log.contains("[boot] slot 1: image 1.0.0") && log.contains("test boot, unconfirmed"),
        "{log}"
    );
    c.login("admin", &pw).expect("login");
    assert_eq!(running(&mut c), (image_hash(&raised), false));
    assert_eq!(sim.power(index, "cycle"), "ok on");
    c.login("admin", &pw).expect("login");
    assert_eq!(running(&mut c), (image_hash(&image), true));
    // The signature is still checked over the stored hash: a recomputed
    // hash (SU-03's forgery) and a lowered counter (SU-09's, caught by the
    // rollback check) are refused.
    for (forged, why) in [
        (rehashed_payload(&image), "bad signature"),
        (edited_counter(&image), "below stored counter"),
    ] {
        let log = smp_install(&mut c, &forged, BOOT).expect("boots");
        assert!(
            log.contains("verification FAILED") && log.contains(why),
            "{log}"
        );
        c.login("admin", &pw).expect("login");
    }
}

#[test]
fn bootloader_hangs_on_a_lying_size_until_power_cycled() {
    let index = 165;
    let sim = Sim::up(index, 1, &["bootloader-hangs-on-truncated"]);
    let pw = sim.password(index);
    let image = golden(&sim, index);
    let mut c = sim.console(index);
    c.login("admin", &pw).expect("login");
    c.smp_upload(&lying_size(&image)).expect("upload");
    let st = c.smp_image_state().expect("state");
    let hash = slot_hash(&st, 1).expect("slot 1 listed");
    c.smp_test(&hash, false).expect("test");
    c.smp_reset().expect("reset");
    let log = c.expect("[boot] FAULT:", BOOT).expect("fault line");
    assert!(log.contains("swap type: test"), "{log}");
    // Hung: no prompt, no answer to input.
    assert!(c.expect("login: ", Duration::from_secs(1)).is_err());
    c.send("");
    assert!(c.expect("login: ", Duration::from_millis(500)).is_err());
    assert_eq!(sim.power(index, "status"), "ok on");
    // The pending request was consumed: the next power-on boots slot 0.
    assert_eq!(sim.power(index, "cycle"), "ok on");
    let log = c.wait_boot();
    assert!(log.contains("[boot] swap type: none"), "{log}");
    assert!(log.contains("booting slot 0 (confirmed)"), "{log}");
    c.login("admin", &pw).expect("login");
    assert_eq!(running(&mut c), (image_hash(&image), true));
    // Other forgeries are rejected as by the reference.
    let log = smp_install(&mut c, &tampered_payload(&image), BOOT).expect("boots");
    assert!(log.contains("image hash mismatch; erasing slot 1"), "{log}");
}

#[test]
fn bootloader_without_boot_validation_runs_a_slot_modified_at_rest() {
    let index = 166;
    let sim = Sim::up(index, 1, &["bootloader-no-boot-validation"]);
    let pw = sim.password(index);
    let image = golden(&sim, index);
    let flash = sim.board_dir(index).join("flash.bin");
    let mut c = sim.console(index);
    assert_eq!(sim.power(index, "off"), "ok off");
    flip_byte(&flash, 0x1_0000 + 0x200 + 4000);
    c.drain();
    assert_eq!(sim.power(index, "on"), "ok on");
    let log = c.wait_boot();
    assert!(log.contains("not validated"), "{log}");
    c.login("admin", &pw).expect("the modified image runs");
    let mut modified = image.clone();
    modified[0x200 + 4000] ^= 0x01;
    assert_eq!(running(&mut c), (image_hash(&modified), true));
    // Images swapped in are still verified.
    let log = smp_install(&mut c, &tampered_payload(&image), BOOT).expect("boots");
    assert!(log.contains("slot 1: verification FAILED"), "{log}");
}
