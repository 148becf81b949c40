//! `hardware.qemu`: a QEMU machine as a board. Bad values are errors that
//! name the file, the line and the field.

use hilt_harness::board::{Board, QemuNetwork};
use hilt_harness::yaml::DefinitionError;

fn load(qemu: &str, more: &str) -> Result<Board, DefinitionError> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("fw.bin"), b"firmware").expect("firmware");
    let file = dir.path().join("board.yaml");
    let text = format!("board: vm-1\nmodel: a QEMU machine\nhardware:\n  qemu:\n{qemu}{more}");
    std::fs::write(&file, text).expect("write");
    let loaded = Board::load(&file);
    if let Err(e) = &loaded {
        assert_eq!(e.file, file, "{e}");
    }
    loaded
}

const GOOD: &str = "    system: qemu-system-arm\n    machine: virt\n    bios: fw.bin\n";

#[test]
fn a_qemu_machine_loads_with_its_defaults() {
    let board = load(GOOD, "declares:\n  console: { prompt: '=> ' }\n").expect("valid");
    let qemu = board.spec.hardware.qemu.as_ref().expect("qemu");
    assert_eq!(qemu.network, QemuNetwork::None);
    assert!(!qemu.gdb && !qemu.hold_until_console);
    assert_eq!(qemu.start_timeout_s, 10);
    // The console it brings counts as wired; serial is filled in at start.
    assert!(board.spec.hardware.serial.is_none());
}

#[test]
fn bad_values_name_file_line_and_field() {
    let cases: &[(&str, &str, &str, usize)] = &[
        (
            "    system: qemu-system-arm\n    machine: \"virt accel=kvm\"\n",
            "",
            "hardware.qemu.machine",
            6,
        ),
        (
            "    system: qemu-system-arm\n    machine: virt\n    bios: missing.bin\n",
            "",
            "hardware.qemu.bios",
            7,
        ),
        (
            "    system: \"\"\n    machine: virt\n",
            "",
            "hardware.qemu.system",
            5,
        ),
        (
            GOOD,
            "  serial: { port: /dev/ttyS0 }\n",
            "hardware.serial",
            8,
        ),
        (GOOD, "  power: none\n", "hardware.power", 8),
        (
            "    system: qemu-system-arm\n    machine: virt\n    start_timeout_s: 0\n",
            "",
            "hardware.qemu.start_timeout_s",
            7,
        ),
    ];
    for (qemu, more, field, line) in cases {
        let err = load(qemu, more).expect_err(field);
        assert_eq!(err.field.as_deref(), Some(*field), "{err}");
        assert_eq!(err.line, Some(*line), "{field}: {err}");
    }
    // A missing drive file: the list item's field, at the list's line.
    let err = load(
        "    system: qemu-system-arm\n    machine: virt\n    drives:\n      - { file: disk.img }\n",
        "",
    )
    .expect_err("missing drive");
    assert_eq!(err.field.as_deref(), Some("hardware.qemu.drives[0].file"));
    assert!(err.line.is_some(), "{err}");
    // A misspelt key and an unknown network kind are refused too.
    let err = load(&format!("{GOOD}    gbd: true\n"), "").expect_err("misspelt key");
    assert!(err.to_string().contains("gbd"), "{err}");
    let err = load(&format!("{GOOD}    network: bridge\n"), "").expect_err("unknown network");
    assert!(err.to_string().contains("network"), "{err}");
}

#[test]
fn an_autoboot_key_may_not_be_empty_nor_its_pattern_invalid() {
    let err = load(
        GOOD,
        "declares:\n  console: { prompt: '=> ', autoboot: { pattern: 'Hit any key', key: '' } }\n",
    )
    .expect_err("empty key");
    assert_eq!(
        err.field.as_deref(),
        Some("declares.console.autoboot.key"),
        "{err}"
    );
    let err = load(
        GOOD,
        "declares:\n  console: { prompt: '=> ', autoboot: { pattern: 'Hit (any' } }\n",
    )
    .expect_err("bad pattern");
    assert_eq!(
        err.field.as_deref(),
        Some("declares.console.autoboot.pattern"),
        "{err}"
    );
}

#[test]
fn a_socket_console_is_one_way_to_the_console() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("board.yaml");
    let load = |serial: &str| {
        std::fs::write(
            &file,
            format!("board: b\nmodel: m\nhardware:\n  serial: {serial}\n"),
        )
        .expect("write");
        Board::load(&file)
    };
    let board = load("{ unix: console.sock }").expect("a socket console");
    let serial = board.spec.hardware.serial.expect("serial");
    assert_eq!(
        serial.unix.as_deref(),
        Some(std::path::Path::new("console.sock"))
    );
    let err = load("{ unix: console.sock, port: /dev/ttyS0 }").expect_err("two ways");
    assert_eq!(err.field.as_deref(), Some("hardware.serial.unix"), "{err}");
    assert_eq!(err.line, Some(4), "{err}");
}

const TAP: &str =
    "    system: qemu-system-x86_64\n    machine: pc\n    bios: fw.bin\n    network:\n      tap:\n";

#[test]
fn a_tap_network_is_the_boards_link() {
    let board = load(
        &format!("{TAP}        ifname: hilt-t0\n        host_address: 198.19.10.1/24\n        mac: \"52:54:00:00:00:02\"\n"),
        "  network: { address: 198.19.10.2, interface: hilt-t0 }\n",
    )
    .expect("valid");
    let QemuNetwork::Tap(tap) = &board.spec.hardware.qemu.as_ref().expect("qemu").network else {
        panic!("a tap network");
    };
    assert_eq!(tap.model, "e1000");
    assert_eq!(
        tap.host_cidr(),
        Some(("198.19.10.1".parse().expect("ip"), 24))
    );
    assert_eq!(
        board.spec.hardware.qemu.as_ref().map(|q| q.boot_s),
        Some(60)
    );
}

#[test]
fn a_bad_tap_names_its_field() {
    let link = "  network: { address: 198.19.10.2, interface: hilt-t0 }\n";
    let cases: &[(String, &str, &str)] = &[
        (
            format!("{TAP}        ifname: a-name-far-too-long\n        host_address: 198.19.10.1/24\n"),
            link,
            "hardware.qemu.network.tap.ifname",
        ),
        (
            format!("{TAP}        ifname: hilt-t0\n        host_address: 198.19.10.1\n"),
            link,
            "hardware.qemu.network.tap.host_address",
        ),
        (
            format!("{TAP}        ifname: hilt-t0\n        host_address: 198.19.10.1/24\n        mac: nope\n"),
            link,
            "hardware.qemu.network.tap.mac",
        ),
        (
            format!("{TAP}        ifname: hilt-t0\n        host_address: 198.19.10.1/24\n"),
            "  network: { address: 198.19.10.2, interface: eth0 }\n",
            "hardware.network.interface",
        ),
        (
            format!("{TAP}        ifname: hilt-t0\n        host_address: 198.19.10.1/24\n"),
            "",
            "hardware.network",
        ),
    ];
    for (qemu, more, field) in cases {
        let err = load(qemu, more).expect_err(field);
        assert_eq!(err.field.as_deref(), Some(*field), "{err}");
        // A field that is missing altogether has no line of its own.
        assert!(err.line.is_some() || more.is_empty(), "{field}: {err}");
    }
}
