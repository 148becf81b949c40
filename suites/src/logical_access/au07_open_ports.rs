use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use super::needs_console;
use crate::console;

/// AU-07: every open TCP port is a declared interface.
pub struct OpenPorts;

static OPEN_PORTS: CheckMeta = CheckMeta {
    name: "open_ports",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-07",
    title: "Only declared network interfaces are open",
    expected: "a full TCP scan finds no open port beyond the declared interfaces",
    nistir_8259a: &["LA-1"],
    en_303_645: &["5.6-1"],
    ts_103_701: &["5.6-1-2"],
    cra_annex_i: &["j"],
    destructive: false,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

impl Check for OpenPorts {
    fn meta(&self) -> &CheckMeta {
        &OPEN_PORTS
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if board.spec.hardware.network.is_none() {
            return Applicability::not_applicable(
                "no network wired (hardware.network)",
                &["hardware.network.address"],
            );
        }
        Applicability::Applicable
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        use hilt_harness::board::Transport;
        use hilt_net::scan::{scan_tcp, TcpScanOptions};
        let link = crate::api::link(ctx)?;
        let address = link.board();
        let stop = crate::api::stop(ctx);
        // A dead or cut-off board shows no open port either: the scan
        // counts only between two controls that show the board alive.
        let (scan, alive) = crate::liveness::around(ctx, |_| {
            scan_tcp(&link, &TcpScanOptions::default(), &stop).map_err(crate::api::net_fault)
        })?;
        ctx.evidence().text(
            "tcp-scan.json",
            "application/json",
            "full TCP connect scan of the board's address",
            &serde_json::to_string_pretty(&scan).unwrap_or_default(),
        )?;
        // On a loopback address, listeners bound to every address of the
        // host answer too: subtract what a control address shows.
        let mut host_wide = Vec::new();
        if address.is_loopback() {
            let control = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 254, 254, 254));
            if control != address {
                host_wide = scan_tcp(&link.with_board(control), &TcpScanOptions::default(), &stop)
                    .map_err(crate::api::net_fault)?
                    .open;
            }
        }
        let declared: Vec<u16> = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .filter(|i| i.protocol == Transport::Tcp)
            .map(|i| i.port)
            .collect();
        let extra: Vec<u16> = scan
            .open
            .iter()
            .copied()
            .filter(|p| !declared.contains(p) && !host_wide.contains(p))
            .collect();
        if !scan.undetermined.is_empty() {
            return Err(CheckError::Harness(format!(
                "{} ports could not be scanned (local resource errors)",
                scan.undetermined.len()
            )));
        }
        let observed = format!(
            "open: {:?}; declared: {:?}; host-wide listeners ignored: {:?}; {} closed, {} filtered, in {} ms; {alive}",
            scan.open, declared, host_wide, scan.closed, scan.filtered, scan.elapsed_ms
        );
        if scan.open.is_empty() && scan.closed == 0 {
            return Err(CheckError::Board(format!(
                "every port was filtered: the scan did not reach the board ({observed})"
            )));
        }
        // Positive control: the declared services answer, so the scan
        // reached the board (a board that is down shows no open port and
        // must not pass for having none).
        // Interfaces that are off by default may be closed.
        let required: Vec<u16> = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .filter(|i| i.protocol == Transport::Tcp && i.enabled_by_default)
            .map(|i| i.port)
            .collect();
        let missing: Vec<u16> = required
            .iter()
            .copied()
            .filter(|p| !scan.open.contains(p))
            .collect();
        if !missing.is_empty() {
            return Err(CheckError::Board(format!(
                "declared ports {missing:?} are not open: the scan may not have reached the board ({observed})"
            )));
        }
        // Declared but off by default: open only if its setting says on
        // (read with authorization); otherwise the device contradicts its
        // own declaration.
        let mut off_but_open = Vec::new();
        let mut settings = Vec::new();
        let optional: Vec<hilt_harness::board::InterfaceDecl> = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .filter(|i| i.protocol == Transport::Tcp && !i.enabled_by_default)
            .filter(|i| scan.open.contains(&i.port) && !host_wide.contains(&i.port))
            .cloned()
            .collect();
        for interface in optional {
            let setting = match &interface.toggle {
                Some(toggle) if needs_console(ctx.board()) == Applicability::Applicable => {
                    let decl = console::open_shell(ctx)?;
                    let value = console::config_get(ctx, &decl, &toggle.parameter)?;
                    console::close_shell(ctx, &decl)?;
                    settings.push(format!("{} = {value:?}", toggle.parameter));
                    Some(value.trim() == toggle.on)
                }
                _ => None,
            };
            if setting != Some(true) {
                off_but_open.push(interface.port);
            }
        }
        let observed = if settings.is_empty() {
            observed
        } else {
            format!("{observed}; settings: {}", settings.join(", "))
        };
        let mut problems = Vec::new();
        if !extra.is_empty() {
            problems.push(format!("undeclared open ports: {extra:?}"));
        }
        if !off_but_open.is_empty() {
            problems.push(format!(
                "ports declared off by default are open without being turned on: {off_but_open:?}"
            ));
        }
        if problems.is_empty() {
            Ok(Finding::pass("no undeclared port is open", observed))
        } else {
            Ok(Finding::fail(problems.join("; "), observed))
        }
    }
}
