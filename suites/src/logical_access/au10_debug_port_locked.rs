//! AU-10: the debug port gives no memory access. Reached through a GDB
//! remote endpoint (OpenOCD, a J-Link GDB server, the simulated board) or
//! a USB probe driven by probe-rs.

use std::time::Duration;

use hilt_debug::gdb::{GdbClient, GdbConfig, GdbError};
use hilt_debug::probe::{self, AttachOptions, PortState, ProbeError, ProbeSelector};
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
    // Leave the board as found: running if it ran (QEMU halts a running
    // guest when a client connects). The transcript, written after, shows
    // how the client let go (`D`, or `c` if the stub refused `D`).
    let _ = client.release();
    let transcript = client.transcript().render();
    ctx.evidence().text(
        "gdb.log",
        "text/plain",
        "GDB remote protocol transcript",
        &transcript,
    )?;
    match failure {
        Some(why) => Err(CheckError::Board(why)),
        None => Ok((results, readable)),
    }
}

/// What a failed attach says, for AU-10, from probe-rs's typed error
/// ([`PortState`]), never from its text. `Ok` is the lock AU-10 asks for
/// (the evidence line); a missing or unusable probe is a fault of the
/// rack, and a target that does not answer proves nothing.
fn judge_attach(error: &ProbeError) -> Result<String, CheckError> {
    match error {
        ProbeError::Attach {
            state: PortState::Locked { permission },
            reason,
            ..
        } => Ok(format!(
            "attach refused: the debug port is locked (probe-rs needs the {permission} permission, a mass erase, to go on): {reason}"
        )),
        ProbeError::Attach {
            state: PortState::NoTargetResponse,
            ..
        } => Err(CheckError::Board(format!(
            "{error}: no target answers the probe; the target is off or not wired, or its debug port is disabled for good (an STM32 at readout protection level 2 looks exactly the same), so no verdict"
        ))),
        ProbeError::BadSelector { .. }
        | ProbeError::UnknownChip { .. }
        | ProbeError::AmbiguousChip { .. } => Err(CheckError::Harness(error.to_string())),
        ProbeError::NoProbe { .. }
        | ProbeError::AmbiguousProbe { .. }
        | ProbeError::Open { .. } => Err(CheckError::Board(format!(
            "{error} (the debug probe of this rack is missing or unusable: a fault of the rack, not a verdict on the device)"
        ))),
        other => Err(CheckError::Board(other.to_string())),
    }
}

/// What a failed read says: refused by the chip (the bus answered FAULT,
/// or the port is locked) or a fault that proves nothing.
fn judge_read(address: u64, error: &ProbeError) -> Result<String, CheckError> {
    match error {
        ProbeError::Read {
            state: state @ (PortState::AccessFault | PortState::Locked { .. }),
            reason,
            ..
        } => Ok(format!("0x{address:08x}: refused ({state}: {reason})")),
        other => Err(CheckError::Board(format!(
            "debug probe read at 0x{address:08x}: {other}"
        ))),
    }
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
        Err(e) => {
            let locked = judge_attach(&e)?;
            log.push(locked.clone());
            ctx.evidence().text(
                "probe.log",
                "text/plain",
                "probe-rs attach",
                &log.join("\n"),
            )?;
            return Ok((vec![locked], Vec::new()));
        }
    };
    let mut results = Vec::new();
    let mut readable = Vec::new();
    for &address in addresses {
        match session.read_memory(address, 64) {
            Ok(bytes) => {
                results.push(format!("0x{address:08x}: read {} bytes", bytes.len()));
                readable.push(address);
            }
            Err(e) => results.push(judge_read(address, &e)?),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn attach_error(state: PortState) -> ProbeError {
        ProbeError::Attach {
            probe: "1366:1015 (J-Link)".into(),
            chip: "nRF52840_xxAA".into(),
            reason: "probe-rs said something".into(),
            state,
        }
    }

    #[test]
    fn a_locked_port_is_the_lock_au10_asks_for() {
        let locked = judge_attach(&attach_error(PortState::Locked {
            permission: "erase_all".into(),
        }))
        .expect("locked is a pass");
        assert!(locked.contains("erase_all"), "{locked}");
    }

    #[test]
    fn a_missing_probe_is_a_fault_of_the_rack_never_a_pass() {
        for e in [
            ProbeError::NoProbe {
                selector: "1366:1015".into(),
                attached: Vec::new(),
            },
            ProbeError::Open {
                probe: "1366:1015".into(),
                reason: "not found".into(),
                state: PortState::NoProbe,
            },
            ProbeError::Open {
                probe: "1366:1015".into(),
                reason: "busy".into(),
                state: PortState::ProbeUnavailable,
            },
        ] {
            match judge_attach(&e) {
                Err(CheckError::Board(why)) => assert!(why.contains("rack"), "{why}"),
                other => panic!("{e}: {other:?}"),
            }
        }
    }

    #[test]
    fn no_target_response_is_inconclusive_and_says_rdp2_looks_the_same() {
        match judge_attach(&attach_error(PortState::NoTargetResponse)) {
            Err(CheckError::Board(why)) => assert!(why.contains("level 2"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn words_in_a_message_do_not_make_a_lock() {
        // The old check read "locked"/"protect" in the text as a lock.
        let e = ProbeError::Attach {
            probe: "p".into(),
            chip: "c".into(),
            reason: "device is locked: APPROTECT readout protection".into(),
            state: PortState::Unknown,
        };
        assert!(matches!(judge_attach(&e), Err(CheckError::Board(_))));
        let e = ProbeError::Read {
            addr: 0,
            len: 64,
            reason: "readout protection enabled".into(),
            state: PortState::Unknown,
        };
        assert!(matches!(judge_read(0, &e), Err(CheckError::Board(_))));
        let e = ProbeError::Read {
            addr: 0,
            len: 64,
            reason: "no answer".into(),
            state: PortState::NoTargetResponse,
        };
        assert!(matches!(judge_read(0, &e), Err(CheckError::Board(_))));
        let e = ProbeError::Read {
            addr: 0,
            len: 64,
            reason: "fault".into(),
            state: PortState::AccessFault,
        };
        assert!(judge_read(0, &e).expect("refused").contains("refused"));
    }

    #[test]
    fn a_wrong_chip_name_is_a_harness_fault() {
        let e = ProbeError::UnknownChip {
            name: "nrf".into(),
            suggestions: Vec::new(),
        };
        assert!(matches!(judge_attach(&e), Err(CheckError::Harness(_))));
    }
}
