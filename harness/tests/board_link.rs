//! `hardware.network`: the board's link (interface, host address) and the
//! capture interface that defaults to it.

use hilt_harness::board::Board;

fn load(network: &str) -> Result<Board, hilt_harness::yaml::DefinitionError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("board.yaml");
    let text = format!("board: lab-7\nmodel: thermostat T1\nhardware:\n  network: {network}\n");
    std::fs::write(&file, text).expect("write");
    Board::load(&file)
}

fn network(board: &Board) -> &hilt_harness::board::NetworkWiring {
    board.spec.hardware.network.as_ref().expect("network")
}

#[test]
fn capture_defaults_to_the_link_interface() {
    let board =
        load("{ address: 198.18.0.2, interface: hsim0, host_address: 198.18.0.1 }").expect("valid");
    let n = network(&board);
    assert_eq!(n.interface.as_deref(), Some("hsim0"));
    assert_eq!(n.capture_interface(), Some("hsim0"));
    assert_eq!(n.unbound_warning(), None);
    let board = load("{ address: 198.18.0.2, interface: hsim0, capture: mirror0 }").expect("valid");
    assert_eq!(network(&board).capture_interface(), Some("mirror0"));
}

#[test]
fn a_file_without_interface_still_loads_and_is_warned_about() {
    let board = load("{ address: 198.18.0.2, capture: hsim0 }").expect("old files stay valid");
    let n = network(&board);
    assert_eq!(n.capture_interface(), Some("hsim0"));
    let warning = n.unbound_warning().expect("a warning");
    assert!(warning.contains("interface"), "{warning}");
    assert!(warning.contains("interface: hsim0"), "{warning}");
}

#[test]
fn a_bad_interface_name_is_an_error_naming_the_field() {
    for bad in ["\"\"", "\"eth0 up\"", "a/b", "sixteen-chars-xx"] {
        let err = load(&format!("{{ address: 198.18.0.2, interface: {bad} }}"))
            .expect_err("bad name refused");
        assert_eq!(
            err.field.as_deref(),
            Some("hardware.network.interface"),
            "{bad}: {err}"
        );
        assert_eq!(err.line, Some(4), "{bad}: {err}");
    }
}

#[test]
fn host_and_board_addresses_must_be_of_one_ip_version() {
    let err = load("{ address: 198.18.0.2, interface: hsim0, host_address: \"::1\" }")
        .expect_err("mixed versions refused");
    assert_eq!(err.field.as_deref(), Some("hardware.network.host_address"));
}
