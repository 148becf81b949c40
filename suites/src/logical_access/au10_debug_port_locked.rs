//! AU-10: the debug port gives no memory access. Reached through a GDB
//! remote endpoint (OpenOCD, a J-Link GDB server, the simulated board) or
//! a USB probe driven by probe-rs.

use std::time::Duration;

use hilt_debug::gdb::{GdbClient, GdbConfig, GdbError};
use hilt_debug::probe::{self, AttachOptions, ProbeError, ProbeSelector};
use hilt_harness::board::{Board, ProbeWiring};
use hilt_harness::context::CheckContext;
use hilt_harness::params::{parse_hex_address, ItemRule, ParamKind, ParamSpec};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use crate::console::STEP;

/// (what each read did, the addresses that could be read)
type Reads = (Vec<String>, Vec<u64>);

/// AU-10: the debug port refuses to read memory.
pub struct DebugPortLocked;

static DEBUG_PORT_LOCKED: CheckMeta = CheckMeta {
    name: "debug_port_locked",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-10",
    title: "Debug port does not give memory access",
    expected: "reading flash and RAM through the debug port is refused",
    nistir_8259a: &["LA-1", "DP-1"],
    en_303_645: &["5.6-4", "5.4-1"],
    ts_103_701: &["5.6-4-2"],
    cra_annex_i: &["j", "e"],
    destructive: false,
    default_timeout: Duration::from_secs(30),
    params: &[ParamSpec {
        name: "addresses",
        meaning: "memory addresses the debug port is asked to read (flash, RAM)",
        kind: ParamKind::Strings {
            min_items: 1,
            max_items: 64,
            item: ItemRule::HexAddress,
            default: &["0x00000000", "0x20000000"],
        },
    }],
};

impl Check for DebugPortLocked {
    fn meta(&self) -> &CheckMeta {
        &DEBUG_PORT_LOCKED
    }

    fn applicability(&self, board: &Board) -> Applicability {
        match &board.spec.hardware.debug {
            None => Applicability::not_applicable(
                "no debug port wired (hardware.debug)",
                &["hardware.debug.gdb", "hardware.debug.probe"],
            ),
            Some(_) => Applicability::Applicable,
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let debug = ctx
            .board()
            .spec
            .hardware
            .debug
            .clone()
            .ok_or_else(|| CheckError::Harness("no debug wiring".into()))?;
        let addresses: Vec<u64> = ctx
            .param_strings("addresses")?
            .iter()
            .map(|a| {
                parse_hex_address(a).ok_or_else(|| {
                    CheckError::Harness(format!("address {a:?} passed suite validation"))
                })
            })
            .collect::<Result<_, _>>()?;
        // A refusal proves a lock only on a running device: a board that is
        // off (or a probe with no target) refuses every read too.
        let alive = |ctx: &mut CheckContext| -> Result<(), CheckError> {
            if let Ok(decl) = ctx.console_decl() {
                let console = ctx.console()?;
                hilt_harness::driver::console::wake(console, &decl, STEP).map_err(|e| {
                    CheckError::Board(format!("the device does not answer on its console: {e}"))
                })?;
            }
            Ok(())
        };
        alive(ctx)?;
        let reads = match (&debug.gdb, &debug.probe) {
            (Some(endpoint), _) => gdb_reads(ctx, &endpoint.to_string(), &addresses)?,
            (None, Some(probe)) => probe_reads(ctx, probe, &addresses)?,
            (None, None) => {
                return Err(CheckError::Harness("no debug endpoint wired".into()));
            }
        };
        let (results, readable) = reads;
        if readable.is_empty() {
            alive(ctx)?;
        }
        let observed = results.join("; ");
        if readable.is_empty() {
            Ok(Finding::pass(
                "every memory read through the debug port was refused",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                "the debug port gives memory access",
                observed,
            ))
        }
    }
}

fn gdb_reads(
    ctx: &mut CheckContext,
    endpoint: &str,
    addresses: &[u64],
) -> Result<Reads, CheckError> {
    let config = GdbConfig {
        reply_timeout: Duration::from_secs(5),
        ..GdbConfig::default()
    };
    let mut client = GdbClient::connect(endpoint, config)
        .map_err(|e| CheckError::Board(format!("debug server {endpoint}: {e}")))?;
    let mut results = Vec::new();
    let mut readable = Vec::new();
    let mut failure = None;
    for &address in addresses {
        match client.read_memory(address, 64) {
            Ok(bytes) => {
                results.push(format!("0x{address:08x}: read {} bytes", bytes.len()));
                readable.push(address);
            }
            Err(GdbError::MemoryReadRefused { code, .. }) => {
                results.push(format!("0x{address:08x}: refused (E{code:02x})"))
            }
            Err(e) => {
                failure = Some(format!("debug port read at 0x{address:08x}: {e}"));
                break;
            }
        }
    }
    let transcript = client.transcript().render();
    ctx.evidence().text(
        "gdb.log",
        "text/plain",
        "GDB remote protocol transcript",
        &transcript,
    )?;
    // Leave the board as found: running if it ran (QEMU halts a running
    // guest when a client connects).
    let _ = client.release();
    match failure {
        Some(why) => Err(CheckError::Board(why)),
        None => Ok((results, readable)),
    }
}

/// Words probe-rs and the chips' debug ports use when access is refused
/// because of readout protection (nRF APPROTECT, STM32 RDP, ...).
fn says_locked(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    [
        "locked",
        "protect",
        "approtect",
        "readout",
        "secured",
        "access port is disabled",
    ]
    .iter()
    .any(|w| reason.contains(w))
}

fn probe_reads(
    ctx: &mut CheckContext,
    wiring: &ProbeWiring,
    addresses: &[u64],
) -> Result<Reads, CheckError> {
    let selector = match &wiring.selector {
        Some(s) => s
            .parse::<ProbeSelector>()
            .map_err(|e| CheckError::Harness(format!("hardware.debug.probe.selector: {e}")))?,
        None => {
            // No selector: the one probe attached, if there is exactly one.
            let probes = probe::list_probes().map_err(|e| CheckError::Board(e.to_string()))?;
            match probes.as_slice() {
                [one] => one
                    .selector()
                    .parse::<ProbeSelector>()
                    .map_err(|e| CheckError::Harness(e.to_string()))?,
                [] => {
                    return Err(CheckError::Board(
                        "no debug probe is attached to this host".into(),
                    ))
                }
                many => {
                    return Err(CheckError::Board(format!(
                    "{} debug probes are attached; name one in hardware.debug.probe.selector: {}",
                    many.len(),
                    many.iter()
                        .map(|p| p.selector())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
                }
            }
        }
    };
    let mut log = vec![format!("probe {selector}, chip {}", wiring.chip)];
    let mut session = match probe::attach(&selector, &wiring.chip, &AttachOptions::default()) {
        Ok(session) => session,
        // A debug port that refuses the attach because of readout
        // protection is the lock AU-10 asks for; any other attach failure
        // (wiring, power, a wrong chip name) proves nothing.
        Err(ProbeError::Attach { reason, .. }) if says_locked(&reason) => {
            log.push(format!("attach refused: {reason}"));
            ctx.evidence().text(
                "probe.log",
                "text/plain",
                "probe-rs attach",
                &log.join("\n"),
            )?;
            return Ok((
                vec![format!("attach refused as protected: {reason}")],
                Vec::new(),
            ));
        }
        Err(
            e @ (ProbeError::BadSelector { .. }
            | ProbeError::UnknownChip { .. }
            | ProbeError::AmbiguousChip { .. }),
        ) => return Err(CheckError::Harness(e.to_string())),
        Err(e) => return Err(CheckError::Board(e.to_string())),
    };
    let mut results = Vec::new();
    let mut readable = Vec::new();
    for &address in addresses {
        match session.read_memory(address, 64) {
            Ok(bytes) => {
                results.push(format!("0x{address:08x}: read {} bytes", bytes.len()));
                readable.push(address);
            }
            Err(ProbeError::Read { reason, .. }) => {
                results.push(format!("0x{address:08x}: refused ({reason})"))
            }
            Err(e) => return Err(CheckError::Board(e.to_string())),
        }
    }
    log.extend(results.iter().cloned());
    ctx.evidence().text(
        "probe.log",
        "text/plain",
        "probe-rs memory reads",
        &log.join("\n"),
    )?;
    Ok((results, readable))
}
