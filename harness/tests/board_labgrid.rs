//! `hardware.labgrid`: a labgrid place as a board's wiring. Bad values are
//! errors that name the file, the line and the field.

use hilt_harness::board::Board;
use hilt_harness::yaml::DefinitionError;

fn load(labgrid: &str, more: &str) -> Result<Board, DefinitionError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("board.yaml");
    let text = format!(
        "board: lg-1\nmodel: a board on another host\nhardware:\n  labgrid:\n{labgrid}{more}"
    );
    std::fs::write(&file, text).expect("write");
    let loaded = Board::load(&file);
    if let Err(e) = &loaded {
        assert_eq!(e.file, file, "{e}");
    }
    loaded
}

#[test]
fn a_place_by_name_or_by_tags_loads() {
    let board = load(
        "    coordinator: 198.19.70.1:20408\n    place: sim-220\n    interface: hilt-lgh0\n",
        "",
    )
    .expect("valid");
    let lg = board.spec.hardware.labgrid.as_ref().expect("labgrid");
    assert_eq!(lg.place.as_deref(), Some("sim-220"));
    assert_eq!(lg.coordinator.port, 20408);
    assert_eq!(lg.wait_s, 60);
    let board = load(
        "    coordinator: lab:20408\n    tags: { board: sim, rack: r1 }\n",
        "",
    )
    .expect("valid");
    let lg = board.spec.hardware.labgrid.as_ref().expect("labgrid");
    assert_eq!(lg.tags.get("rack").map(String::as_str), Some("r1"));

    // Until a run acquires the place nothing is wired; a preview (`board
    // check`, `--list`) wires what the place's resources would give.
    let mut board = board;
    assert!(board.spec.hardware.serial.is_none() && board.spec.hardware.network.is_none());
    hilt_harness::transport::labgrid::preview(&mut board);
    let hw = &board.spec.hardware;
    assert!(hw.serial.as_ref().is_some_and(|s| s.rfc2217));
    assert!(hw.network.is_some() && hw.power.is_some());
}

#[test]
fn bad_values_name_file_line_and_field() {
    let cases: &[(&str, &str, &str, usize)] = &[
        ("    coordinator: lab:20408\n", "", "hardware.labgrid", 4),
        (
            "    coordinator: lab:20408\n    place: p\n    tags: { board: sim }\n",
            "",
            "hardware.labgrid.tags",
            7,
        ),
        (
            "    coordinator: lab:20408\n    place: \"two words\"\n",
            "",
            "hardware.labgrid.place",
            6,
        ),
        (
            "    coordinator: lab:20408\n    tags:\n      Board: sim\n",
            "",
            "hardware.labgrid.tags.Board",
            7,
        ),
        (
            "    coordinator: lab:20408\n    place: p\n    wait_s: 0\n",
            "",
            "hardware.labgrid.wait_s",
            7,
        ),
        (
            "    coordinator: lab:20408\n    place: p\n    interface: \"a/b\"\n",
            "",
            "hardware.labgrid.interface",
            7,
        ),
        (
            "    coordinator: lab:20408\n    place: p\n",
            "  serial: { port: /dev/ttyS0 }\n",
            "hardware.serial",
            7,
        ),
        (
            "    coordinator: lab:20408\n    place: p\n",
            "  power: none\n",
            "hardware.power",
            7,
        ),
        (
            "    coordinator: lab:20408\n    place: p\n",
            "  network: { address: 198.19.70.9 }\n",
            "hardware.network",
            7,
        ),
    ];
    for (labgrid, more, field, line) in cases {
        let err = load(labgrid, more).expect_err(field);
        assert_eq!(err.field.as_deref(), Some(*field), "{err}");
        assert_eq!(err.line, Some(*line), "{field}: {err}");
    }
    // A coordinator that is no host:port, and a misspelt key, are refused
    // by the reader with their field too.
    let err = load("    coordinator: lab\n    place: p\n", "").expect_err("no port");
    assert!(err.to_string().contains("host:port"), "{err}");
    let err = load("    coordinator: lab:1\n    plase: p\n", "").expect_err("typo");
    assert!(err.to_string().contains("plase"), "{err}");
}
