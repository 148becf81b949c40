//! `second-tls-client`: a device with two outgoing TLS clients, telemetry
//! (as the reference board, or as `fixed-telemetry` makes it) and an
//! update check (`crate::net::ota_check`), as many devices call both a
//! telemetry and an update service. hilt must judge both: a flaw in the
//! second client alone (`ota-accepts-untrusted`, `ota-skips-hostname-check`,
//! `ota-version-fallback`) must fail DP-03, DP-04 or DP-06.
//!
//! The update server is fixed in the firmware: 198.18.<i>.11:8443
//! (loopback mode: 127.77.2.<i+2>:8443), an address on the board's own
//! link that nothing holds until a lab takes it over; the client tries it
//! every [`INTERVAL_S`] seconds and expects the name [`SERVER_NAME`] in a
//! certificate from the service CA it shares with telemetry.
//!
//! The board file gains a second `tls_clients` entry, after telemetry:
//! `purpose: ota-check`, `server:`, `takeover: address`, `interval_s`, and
//! the service CA as `test_ca`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use yaml_serde::Value;

use super::{edit, BoardFileContext};

pub const NAME: &str = "second-tls-client";

/// Seconds between update checks (fixed in the firmware).
pub const INTERVAL_S: u64 = 3;

/// The host name the update-check client expects in the certificate.
pub const SERVER_NAME: &str = "ota.hilt.test";

/// The fixed update server of board `index`.
pub fn server(index: u32, loopback: bool) -> SocketAddr {
    let ip = if loopback {
        Ipv4Addr::new(127, 77, 2, (index + 2) as u8)
    } else {
        Ipv4Addr::new(198, 18, index as u8, 11)
    };
    SocketAddr::V4(SocketAddrV4::new(ip, 8443))
}

/// The board file: the update-check client appended to `tls_clients`.
pub fn board_file(doc: &mut Value, ctx: &BoardFileContext) {
    let client = edit::yaml(&format!(
        "purpose: ota-check\nserver: \"{server}\"\ntakeover: address\nserver_name: {SERVER_NAME}\ninterval_s: {INTERVAL_S}\ntest_ca: {{ cert: {d}/telemetry-ca.pem, key: {d}/telemetry-ca.key }}\n",
        server = server(ctx.index, ctx.loopback),
        d = ctx.dir.display(),
    ));
    let clients = edit::mapping(doc, &["declares"])
        .entry(Value::from("tls_clients"))
        .or_insert_with(|| Value::Sequence(Vec::new()));
    if !clients.is_sequence() {
        *clients = Value::Sequence(Vec::new());
    }
    if let Value::Sequence(list) = clients {
        list.push(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_file_declares_the_update_client_after_telemetry() {
        let ctx = BoardFileContext {
            dir: "/run/hilt/sim-61".into(),
            index: 61,
            loopback: false,
        };
        let mut doc = edit::yaml(
            "declares:\n  tls_clients:\n    - { purpose: telemetry, server_parameter: telemetry_server, server_name: telemetry.hilt.test }\n",
        );
        board_file(&mut doc, &ctx);
        let text = yaml_serde::to_string(&doc).expect("yaml");
        let telemetry = text.find("purpose: telemetry").expect("telemetry kept");
        let ota = text
            .find("purpose: ota-check")
            .expect("update client added");
        assert!(telemetry < ota, "{text}");
        assert!(text.contains("server: 198.18.61.11:8443"), "{text}");
        assert_eq!(server(0, true).to_string(), "127.77.2.2:8443");
    }
}
