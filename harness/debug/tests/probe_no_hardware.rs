//! The probe-rs transport without hardware: listing, selectors, chip
//! names, probe-rs's own FakeProbe, image loading, and the errors a user
//! sees with no probe attached.

use std::fmt::Write as _;

use hilt_debug::probe::{
    self, attach, attach_probe, port_state, AttachOptions, ImageFormat, PortState, ProbeError,
    ProbeSelector,
};
use probe_rs::integration::FakeProbe;

#[test]
fn listing_without_probes_is_not_an_error() {
    let probes = probe::list_probes().expect("listing works with no probe attached");
    // CI machines have none; a developer's may. Either way each has a
    // selector that parses back.
    for p in &probes {
        let sel: ProbeSelector = p.selector().parse().expect("own selector parses");
        assert!(sel.matches(p));
    }
}

#[test]
fn selectors_parse_and_explain_mistakes() {
    let s: ProbeSelector = "1366:1015".parse().expect("VID:PID");
    assert_eq!(
        (s.vendor_id, s.product_id, s.serial.as_deref()),
        (0x1366, 0x1015, None)
    );
    let s: ProbeSelector = "1366:1015:000683000000".parse().expect("VID:PID:SERIAL");
    assert_eq!(s.serial.as_deref(), Some("000683000000"));
    assert_eq!(s.to_string(), "1366:1015:000683000000");
    let s: ProbeSelector = "0x0483:0X374e".parse().expect("0x prefixes");
    assert_eq!(s.to_string(), "0483:374e");
    // A serial may itself hold colons (some probes report MAC-like ones).
    let s: ProbeSelector = "303a:1001:F4:12:FA".parse().expect("serial with colons");
    assert_eq!(s.serial.as_deref(), Some("F4:12:FA"));

    for (input, says) in [
        ("", "empty"),
        ("1366", "no product id"),
        ("1366:", "product id is empty"),
        (":1015", "vendor id is empty"),
        ("13666:1015", "not a 16-bit hex number"),
        ("jlink:1015", "not a 16-bit hex number"),
        ("1366:1015:", "serial number after the second ':' is empty"),
        ("1366:1015:00 68", "spaces or control characters"),
    ] {
        let err = input.parse::<ProbeSelector>().expect_err(input).to_string();
        assert!(err.contains(says), "{input:?}: {err}");
        assert!(err.contains("VID:PID"), "{input:?}: {err}");
    }
}

#[test]
fn no_probe_error_names_the_selector_and_what_is_attached() {
    let probes = probe::list_probes().expect("list");
    let sel: ProbeSelector = "1366:1015".parse().expect("selector");
    let err = attach(&sel, "nRF52840_xxAA", &AttachOptions::default())
        .expect_err("no J-Link on this machine");
    if probes.iter().any(|p| sel.matches(p)) {
        return; // a developer with a J-Link plugged in
    }
    let text = err.to_string();
    if probes.is_empty() {
        assert_eq!(
            text,
            "no debug probe found matching 1366:1015; attached probes: none"
        );
    } else {
        assert!(text.starts_with("no debug probe found matching 1366:1015; attached probes: "));
    }
}

/// The missing-probe path for real: probe-rs itself, asked to open a probe
/// that is not there, answers with its typed `NotFound`, and hilt reads
/// that type (not its words) as "no probe", which AU-10 turns into a fault
/// of the rack, never a PASS.
#[test]
fn a_missing_probe_is_told_by_probe_rs_s_own_typed_error() {
    // A vendor id no probe has (0xfffe is reserved for testing).
    let sel: ProbeSelector = "fffe:0001:hilt-no-such-probe".parse().expect("selector");
    if probe::list_probes()
        .expect("list")
        .iter()
        .any(|p| sel.matches(p))
    {
        return;
    }
    // probe-rs answers NotFound where the host has a USB bus; a host with
    // none (a container without /sys/bus/usb/devices, like this one) gets
    // ProbeCreationError::Usb. Both are typed, both say "no usable probe",
    // and AU-10 makes both a fault of the rack.
    let no_probe = [PortState::NoProbe, PortState::ProbeUnavailable];
    match probe::open(&sel) {
        Err(ProbeError::Open { state, reason, .. }) => {
            assert!(no_probe.contains(&state), "{state:?}: {reason}");
        }
        Err(other) => panic!("expected Open, got {other}"),
        Ok(_) => panic!("a probe answered to fffe:0001"),
    }
    // The same through probe-rs's lister directly.
    let err = probe_rs::probe::list::Lister::new()
        .open(
            "fffe:0001"
                .parse::<probe_rs::probe::DebugProbeSelector>()
                .expect("probe-rs selector"),
        )
        .expect_err("no probe");
    let state = port_state(&err);
    assert!(no_probe.contains(&state), "{state:?}: {err:?}");
    if std::path::Path::new("/sys/bus/usb/devices").is_dir() {
        assert_eq!(state, PortState::NoProbe, "{err:?}");
    }
}

#[test]
fn unknown_chip_names_get_close_matches_before_any_probe_is_touched() {
    let sel: ProbeSelector = "1366:1015".parse().expect("selector");
    // Letter O instead of zero.
    match attach(&sel, "STM32F1O3C8", &AttachOptions::default()) {
        Err(ProbeError::UnknownChip { suggestions, .. }) => {
            assert!(
                suggestions.iter().any(|s| s == "STM32F103C8"),
                "{suggestions:?}"
            );
        }
        other => panic!("expected UnknownChip, got {other:?}"),
    }
    let err = probe::resolve_chip("NoSuchChipAtAll").expect_err("unknown");
    assert!(
        err.to_string()
            .starts_with("unknown chip \"NoSuchChipAtAll\""),
        "{err}"
    );
    assert_eq!(
        probe::resolve_chip("STM32F103C8").expect("known chip"),
        "STM32F103C8"
    );
}

#[test]
fn fake_probe_with_mocked_core_attaches_and_reads_zeros() {
    let fake = FakeProbe::with_mocked_core().into_probe();
    let mut session =
        attach_probe(fake, "STM32F103C8", &AttachOptions::default()).expect("attach fake probe");
    assert_eq!(session.chip(), "STM32F103C8");
    let mem = session.read_memory(0x2000_0000, 64).expect("read RAM");
    assert_eq!(mem, vec![0u8; 64]);
}

#[test]
fn fake_probe_without_core_fails_cleanly() {
    // probe-rs panics here (documented in machine notes); the wrapper must
    // turn that into an error.
    let fake = FakeProbe::new().into_probe();
    match attach_probe(fake, "STM32F103C8", &AttachOptions::default()) {
        Err(ProbeError::Panicked { .. } | ProbeError::Attach { .. }) => {}
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Intel HEX of `data` at `addr` (extended linear address records, 16-byte
/// data records, EOF), computed here from the format's definition.
fn intel_hex(addr: u32, data: &[u8]) -> String {
    fn record(out: &mut String, kind: u8, offset: u16, bytes: &[u8]) {
        let mut sum = bytes.len() as u8;
        sum = sum
            .wrapping_add((offset >> 8) as u8)
            .wrapping_add(offset as u8)
            .wrapping_add(kind);
        let _ = write!(out, ":{:02X}{offset:04X}{kind:02X}", bytes.len());
        for b in bytes {
            sum = sum.wrapping_add(*b);
            let _ = write!(out, "{b:02X}");
        }
        let _ = writeln!(out, "{:02X}", sum.wrapping_neg());
    }
    let mut out = String::new();
    record(&mut out, 4, 0, &((addr >> 16) as u16).to_be_bytes());
    for (i, chunk) in data.chunks(16).enumerate() {
        record(
            &mut out,
            0,
            (addr as u16).wrapping_add((i * 16) as u16),
            chunk,
        );
    }
    record(&mut out, 1, 0, &[]);
    out
}

#[test]
fn hex_and_bin_images_load_into_a_flash_loader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data: Vec<u8> = (0..40u8).collect();
    let hex = dir.path().join("image.hex");
    let text = intel_hex(0x0800_0000, &data);
    assert!(text.starts_with(":020000040800F2\n"), "{text}");
    std::fs::write(&hex, text).expect("write hex");
    let bin = dir.path().join("image.bin");
    std::fs::write(&bin, &data).expect("write bin");

    let fake = FakeProbe::with_mocked_core().into_probe();
    let mut session = attach_probe(fake, "STM32F103C8", &AttachOptions::default()).expect("attach");
    assert_eq!(ImageFormat::from_path(&hex), Some(ImageFormat::Hex));
    let loaded = session.load(&hex, &ImageFormat::Hex).expect("load hex");
    assert_eq!(loaded.blocks, vec![(0x0800_0000, 40)]);

    let loaded = session
        .load(
            &bin,
            &ImageFormat::Bin {
                base_address: 0x0800_1000,
                skip: 8,
            },
        )
        .expect("load bin");
    assert_eq!(loaded.blocks, vec![(0x0800_1000, 32)]);

    // Data outside the chip's flash is refused with the path in the message.
    let outside = dir.path().join("outside.hex");
    std::fs::write(&outside, intel_hex(0x6000_0000, &data)).expect("write");
    let err = session
        .load(&outside, &ImageFormat::Hex)
        .expect_err("no flash there");
    assert!(err.to_string().contains("outside.hex"), "{err}");

    // A file that is not Intel HEX.
    let junk = dir.path().join("junk.hex");
    std::fs::write(&junk, "hello\n").expect("write");
    assert!(session.load(&junk, &ImageFormat::Hex).is_err());

    // .bin needs a base address, so the format is not guessed.
    assert_eq!(ImageFormat::from_path(&bin), None);
}

#[test]
fn flash_erase_and_reset_on_the_fake_probe_end_in_errors_not_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("app.bin");
    std::fs::write(&bin, [0xa5u8; 64]).expect("write");
    let options = AttachOptions {
        allow_erase_all: true,
        ..AttachOptions::default()
    };
    let fake = FakeProbe::with_mocked_core().into_probe();
    let mut session = attach_probe(fake, "STM32F103C8", &options).expect("attach");
    // The mocked core cannot run a flash algorithm: probe-rs reports that
    // it could not reset and halt the CPU. What matters here is a typed
    // error naming the file, not a panic.
    let format = ImageFormat::Bin {
        base_address: 0x0800_0000,
        skip: 0,
    };
    match session.flash(&bin, &format, true) {
        Err(ProbeError::Flash { path, .. }) => assert_eq!(path, bin),
        other => panic!("expected a flash error, got {other:?}"),
    }
    assert!(matches!(session.erase_all(), Err(ProbeError::Erase(_))));
    session.reset().expect("the mocked core accepts a reset");
    session
        .write_memory(0x2000_0000, &[1, 2, 3, 4])
        .expect("write RAM");
}
