//! The console on its PTY: login, lockout, persistence across power cuts,
//! factory reset, identity flaws, hostile input.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn login_works_with_the_per_device_password_and_no_default_one() {
    let sim = Sim::up(140, 1, &[]);
    let mut c = sim.console(140);
    for (u, p) in [
        ("admin", "admin"),
        ("admin", ""),
        ("root", "root"),
        ("admin", "password"),
    ] {
        assert!(c.login(u, p).is_err(), "{u}/{p} must not log in");
    }
    let pw = sim.password(140);
    assert!(pw.len() >= 12);
    c.login("admin", &pw).expect("per-device password");
    let id = c.cmd("id");
    assert_eq!(id, format!("device_id: {}", sim.label_id(140)));
    let log = c.cmd("log");
    assert!(
        log.contains("login_failed source=console user=root"),
        "{log}"
    );
    assert!(!log.contains(&pw), "the log must not hold the password");
    assert!(c.cmd("status").contains("status: normal"));
}

#[test]
fn default_password_flaw_accepts_admin() {
    let sim = Sim::up(141, 1, &["default-password"]);
    let mut c = sim.console(141);
    c.login("admin", "admin").expect("flaw: universal password");
}

#[test]
fn serial_no_login_flaw_opens_a_shell() {
    let sim = Sim::up(142, 1, &["serial-no-login"]);
    let mut c = sim.console(142);
    c.drain();
    c.send("");
    c.expect("sim> ", Duration::from_secs(5))
        .expect("shell without login");
    assert!(c.cmd("id").starts_with("device_id: "));
}

#[test]
fn lockout_refuses_even_the_right_password_until_the_delay_passes() {
    let sim = Sim::up(143, 1, &[]);
    let pw = sim.password(143);
    let mut c = sim.console(143);
    c.login("admin", &pw).expect("login");
    assert_eq!(c.cmd("config set lockout_threshold 3"), "ok");
    assert_eq!(c.cmd("config set lockout_delay_s 2"), "ok");
    c.send("logout");
    for _ in 0..3 {
        assert!(c.login("admin", "wrong-guess").is_err());
    }
    assert!(c.login("admin", &pw).is_err(), "locked out");
    std::thread::sleep(Duration::from_millis(2300));
    c.login("admin", &pw).expect("after the delay");
    let log = c.cmd("log");
    assert!(log.contains("account_locked"), "{log}");
    assert!(log.contains("login_locked_out"), "{log}");

    let flawed = Sim::up(144, 1, &["no-lockout"]);
    let pw = flawed.password(144);
    let mut c = flawed.console(144);
    for _ in 0..8 {
        assert!(c.login("admin", "wrong-guess").is_err());
    }
    c.login("admin", &pw).expect("flaw: never locks");
}

#[test]
fn power_cuts_keep_configuration_and_event_log() {
    let sim = Sim::up(145, 1, &[]);
    let pw = sim.password(145);
    let id = sim.label_id(145);
    let mut c = sim.console(145);
    c.login("admin", &pw).expect("login");
    assert_eq!(c.cmd("config set setpoint 225"), "ok");
    // Power socket cycle.
    assert_eq!(sim.power(145, "off"), "ok off");
    assert_eq!(sim.power(145, "status"), "ok off");
    assert_eq!(sim.power(145, "on"), "ok on");
    c.login("admin", &pw).expect("login after power cycle");
    assert_eq!(c.cmd("config get setpoint"), "setpoint=225");
    assert!(c.cmd("log").contains("config_changed"));
    // Killing the process is a power cut too.
    sim.down();
    sim.run_up(&[], &["--loopback", "--no-net"]);
    assert_eq!(sim.label_id(145), id, "same device after the cut");
    let mut c = sim.console(145);
    c.login("admin", &pw).expect("login after kill");
    assert_eq!(c.cmd("config get setpoint"), "setpoint=225");
    let log = c.cmd("log");
    assert!(
        log.contains("config_changed source=console key=setpoint"),
        "{log}"
    );
}

#[test]
fn factory_reset_restores_defaults_and_erases_accounts() {
    for (index, flaw) in [(146, None), (147, Some("factory-reset-keeps-credentials"))] {
        let flaws: Vec<&str> = flaw.into_iter().collect();
        let sim = Sim::up(index, 1, &flaws);
        let pw = sim.password(index);
        let mut c = sim.console(index);
        c.login("admin", &pw).expect("login");
        assert_eq!(c.cmd("passwd Changed-Pass-42"), "ok");
        assert_eq!(c.cmd("config set setpoint 300"), "ok");
        c.send("factory-reset");
        c.wait_boot();
        let new_pw_works = c.login("admin", "Changed-Pass-42").is_ok();
        assert_eq!(new_pw_works, flaw.is_some(), "{flaw:?}");
        if !new_pw_works {
            c.login("admin", &pw).expect("label password again");
        }
        assert_eq!(c.cmd("config get setpoint"), "setpoint=210");
        let log = c.cmd("log");
        assert!(log.contains("factory_reset"), "{log}");
        assert!(!log.contains("config_changed"), "{log}");
    }
}

#[test]
fn identifiers_are_stable_unique_and_flaws_break_that() {
    let sim = Sim::up(148, 2, &[]);
    let ids: Vec<String> = (148..150)
        .map(|i| {
            let mut c = sim.console(i);
            c.login("admin", &sim.password(i)).expect("login");
            let id = c.cmd("id");
            assert_eq!(sim.power(i, "cycle"), "ok on");
            c.login("admin", &sim.password(i)).expect("login");
            assert_eq!(c.cmd("id"), id, "stable across reboots");
            id
        })
        .collect();
    assert_ne!(ids[0], ids[1]);

    let changing = Sim::up(150, 1, &["identifier-changes-on-reboot"]);
    let mut c = changing.console(150);
    c.login("admin", &changing.password(150)).expect("login");
    let a = c.cmd("id");
    changing.power(150, "cycle");
    c.login("admin", &changing.password(150)).expect("login");
    assert_ne!(c.cmd("id"), a);

    let shared = Sim::up(151, 2, &["shared-identifier"]);
    let ids: Vec<String> = (151..153)
        .map(|i| {
            let mut c = shared.console(i);
            c.login("admin", &shared.password(i)).expect("login");
            c.cmd("id")
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_ne!(
        shared.label_id(151),
        shared.label_id(152),
        "labels stay unique"
    );
}

#[test]
fn no_security_logging_flaw_records_nothing() {
    let sim = Sim::up(153, 1, &["no-security-logging"]);
    let mut c = sim.console(153);
    assert!(c.login("admin", "guess").is_err());
    c.login("admin", &sim.password(153)).expect("login");
    assert_eq!(c.cmd("log"), "(no events)");
}

#[test]
fn hostile_input_does_not_hurt_the_board() {
    let sim = Sim::up(154, 1, &[]);
    let mut c = sim.console(154);
    // Noise at the login prompt makes failed logins: keep the lockout short.
    c.login("admin", &sim.password(154)).expect("login");
    assert_eq!(c.cmd("config set lockout_delay_s 1"), "ok");
    c.send("logout");
    c.drain();
    // A 20 kB line, binary noise, broken and oversized SMP frames.
    c.send_raw(&vec![b'A'; 20_000]);
    c.send_raw(b"\r");
    let noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    c.send_raw(&noise);
    c.send_raw(b"\r\x06\x09!!!notbase64\n\x06\x09AAAA\n\x04\x14AAAA\n");
    let mut big = vec![6u8, 9];
    big.extend(std::iter::repeat_n(b'Q', 4000));
    big.push(b'\n');
    c.send_raw(&big);
    c.send_raw(b"\r\n");
    std::thread::sleep(Duration::from_millis(1500));
    c.login("admin", &sim.password(154)).expect("still answers");
    assert!(c.cmd("id").starts_with("device_id: "));
    let long = format!("config set display_name {}", "x".repeat(200));
    assert!(c.cmd(&long).starts_with("error"));
    assert!(c.cmd(&"y".repeat(300)).contains("line too long"));
    assert!(c.cmd("config set nosuchkey 1").starts_with("error"));
}
