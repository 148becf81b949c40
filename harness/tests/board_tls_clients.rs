//! `declares.tls_clients[]`: a client reached through its server setting,
//! or one with a fixed server that hilt takes over on the board's link.

use hilt_harness::board::{Board, Takeover};

fn load(client: &str) -> Result<Board, hilt_harness::yaml::DefinitionError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("board.yaml");
    let text = format!(
        "board: gw-1\nmodel: gateway\nhardware:\n  network: {{ address: 198.18.0.2, interface: hsim0, host_address: 198.18.0.1 }}\ndeclares:\n  tls_clients:\n    - {client}\n"
    );
    std::fs::write(&file, text).expect("write");
    Board::load(&file)
}

fn field(client: &str) -> String {
    let err = load(client).expect_err("refused");
    assert_eq!(err.line, Some(7), "{err}");
    err.field.unwrap_or_default()
}

#[test]
fn a_setting_or_a_fixed_server_loads() {
    let board = load("{ purpose: t, server_parameter: telemetry_server, server_name: t.test }")
        .expect("setting");
    assert_eq!(board.spec.declares.tls_clients[0].fixed_address(), None);
    let board = load(
        "{ purpose: t, server: \"198.18.0.10:8883\", takeover: address, server_name: t.test, interval_s: 60 }",
    )
    .expect("fixed address");
    let client = &board.spec.declares.tls_clients[0];
    assert_eq!(client.takeover, Some(Takeover::Address));
    assert_eq!(
        client.fixed_address(),
        Some("198.18.0.10:8883".parse().expect("addr"))
    );
    let board = load(
        "{ purpose: t, server: \"cloud.example.com:8883\", resolves_to: 198.18.0.20, takeover: { redirect: { netns: board-ns } }, server_name: cloud.example.com }",
    )
    .expect("name with its address, redirected");
    assert_eq!(
        board.spec.declares.tls_clients[0].fixed_address(),
        Some("198.18.0.20:8883".parse().expect("addr"))
    );
}

#[test]
fn incomplete_or_contradictory_clients_are_errors_naming_the_field() {
    for (client, expected) in [
        ("{ purpose: t, server_name: t.test }", "declares.tls_clients[0]"),
        (
            "{ purpose: t, server_parameter: s, server: \"198.18.0.10:1\", takeover: address, server_name: t.test }",
            "declares.tls_clients[0]",
        ),
        (
            "{ purpose: t, server: \"198.18.0.10:8883\", server_name: t.test }",
            "declares.tls_clients[0].server",
        ),
        (
            "{ purpose: t, server: \"cloud.example.com:8883\", takeover: address, server_name: t.test }",
            "declares.tls_clients[0].server",
        ),
        (
            "{ purpose: t, server: \"198.18.0.10:8883\", resolves_to: 198.18.0.11, takeover: address, server_name: t.test }",
            "declares.tls_clients[0].resolves_to",
        ),
        (
            "{ purpose: t, server: \"198.18.0.2:8883\", takeover: address, server_name: t.test }",
            "declares.tls_clients[0].server",
        ),
        (
            "{ purpose: t, server_parameter: s, takeover: address, server_name: t.test }",
            "declares.tls_clients[0].takeover",
        ),
        (
            "{ purpose: t, server: \"198.18.0.10:8883\", takeover: address, server_name: t.test, interval_s: 0 }",
            "declares.tls_clients[0].interval_s",
        ),
        (
            "{ purpose: t, server: \"198.18.0.10:8883\", takeover: { redirect: { netns: a/b } }, server_name: t.test }",
            "declares.tls_clients[0].takeover.redirect.netns",
        ),
    ] {
        assert_eq!(field(client), expected, "{client}");
    }
}
