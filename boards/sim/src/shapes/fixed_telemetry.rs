//! `fixed-telemetry`: a device whose TLS telemetry client calls a server
//! built into its firmware, as many gateways call their cloud.
//!
//! The server is 198.18.<i>.10:8883 (loopback mode: 127.77.1.<i+2>:8883),
//! an address on the board's own link that nothing holds until a lab takes
//! it over; the client tries it every [`INTERVAL_S`] seconds. Neither is a
//! setting: `telemetry_server` and `telemetry_interval_s` are not settings
//! of this device (`config get`/`set` answer "unknown key"). Until someone
//! holds the address the board's attempts end at its own link: the board's
//! namespace has no route but the link's, the host side does not answer
//! for the address, and nothing is forwarded.
//!
//! The board file declares `server:` and `takeover: address`, with the
//! observed `interval_s`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use yaml_serde::Value;

use super::{edit, BoardFileContext};

pub const NAME: &str = "fixed-telemetry";

/// Seconds between the client's attempts (fixed in the firmware).
pub const INTERVAL_S: u64 = 3;

/// Settings this shape does not have.
pub const ABSENT_SETTINGS: &[&str] = &["telemetry_server", "telemetry_interval_s"];

/// The fixed server of board `index`.
pub fn server(index: u32, loopback: bool) -> SocketAddr {
    let ip = if loopback {
        Ipv4Addr::new(127, 77, 1, (index + 2) as u8)
    } else {
        Ipv4Addr::new(198, 18, index as u8, 10)
    };
    SocketAddr::V4(SocketAddrV4::new(ip, 8883))
}

pub fn interval() -> Duration {
    Duration::from_secs(INTERVAL_S)
}

/// The board file: the telemetry client's fixed server, taken over on the
/// board's link, and its observed interval, instead of the two settings.
pub fn board_file(doc: &mut Value, ctx: &BoardFileContext) {
    let client = edit::yaml(&format!(
        "purpose: telemetry\nserver: \"{server}\"\ntakeover: address\nserver_name: telemetry.hilt.test\ninterval_s: {INTERVAL_S}\ntest_ca: {{ cert: {d}/telemetry-ca.pem, key: {d}/telemetry-ca.key }}\n",
        server = server(ctx.index, ctx.loopback),
        d = ctx.dir.display(),
    ));
    edit::set(
        doc,
        &["declares", "tls_clients"],
        Value::Sequence(vec![client]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_file_names_the_fixed_server_and_no_setting() {
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
        assert!(text.contains("server: 198.18.61.10:8883"), "{text}");
        assert!(text.contains("takeover: address"), "{text}");
        assert!(!text.contains("server_parameter"), "{text}");
        assert_eq!(server(0, true).to_string(), "127.77.1.2:8883");
    }
}
