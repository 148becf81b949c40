//! DP-03, DP-04 and DP-06 judge every declared TLS client, not the first:
//! a device with a telemetry client and an update-check client is secure
//! only if both are. Each client is met by the check's own per-client
//! logic; the verdicts combine failing closed:
//! - FAIL when any client failed;
//! - else INCONCLUSIVE (the unmet client's board fault) when any client
//!   could not be met: the others' PASS does not stand alone;
//! - PASS only when every client that can be judged was met and held.
//!
//! A client the board file gives the check nothing to act on (no way to
//! reach it, no test CA where one is needed) is left out with the reason
//! and the field that would include it; the check is NOT_APPLICABLE only
//! when that is every client.

use hilt_harness::board::{Board, TlsClientDecl};
use hilt_harness::check::NotApplicable;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, CheckError, Finding, Verdict};

/// Whether a check can act on one client of a board.
pub(super) type ClientApplicability = fn(&Board, &TlsClientDecl) -> Applicability;

/// One declared client as a check meets it: its place in the board file,
/// its declaration, and a tag naming its evidence files.
pub(super) struct Client {
    pub(super) index: usize,
    pub(super) decl: TlsClientDecl,
    /// `purpose`, reduced to a file-name-safe word (with the index when
    /// two clients share a purpose).
    pub(super) tag: String,
}

impl Client {
    /// `purpose`, as reasons and observations name the client.
    pub(super) fn name(&self) -> &str {
        &self.decl.purpose
    }

    /// The client's own board-file path, for reasons.
    pub(super) fn field(&self, field: &str) -> String {
        format!("declares.tls_clients[{}].{field}", self.index)
    }
}

/// The check applies when at least one declared client can be acted on.
pub(super) fn applicability(board: &Board, per_client: ClientApplicability) -> Applicability {
    let clients = &board.spec.declares.tls_clients;
    if clients.is_empty() {
        return Applicability::not_applicable(
            "the device declares no outgoing TLS connections (declares.tls_clients)",
            &["declares.tls_clients"],
        );
    }
    let mut reasons = Vec::new();
    let mut enabled_by: Vec<String> = Vec::new();
    for client in clients {
        let Applicability::NotApplicable(na) = per_client(board, client) else {
            return Applicability::Applicable;
        };
        if clients.len() == 1 {
            // One client: its reason as it stands.
            return Applicability::NotApplicable(na);
        }
        reasons.push(format!("{}: {}", client.purpose, na.reason));
        for field in na.enabled_by {
            if !enabled_by.contains(&field) {
                enabled_by.push(field);
            }
        }
    }
    Applicability::NotApplicable(NotApplicable {
        reason: format!("no declared TLS client can be met: {}", reasons.join("; ")),
        enabled_by,
    })
}

/// Meets every declared client `per_client` lets through with `meet`
/// (the check's per-client logic) and combines the verdicts (see the
/// module's comment).
pub(super) fn judge_every_client(
    ctx: &mut CheckContext,
    per_client: ClientApplicability,
    mut meet: impl FnMut(&mut CheckContext, &Client) -> Result<Finding, CheckError>,
) -> Result<Finding, CheckError> {
    let (clients, left_out) = clients(ctx.board(), per_client);
    let mut results = Vec::new();
    for client in &clients {
        let result = meet(ctx, client);
        // A harness fault or a stop ends the check at once; a client that
        // could not be met does not keep the others from being met.
        if let Err(e @ (CheckError::Harness(_) | CheckError::Stopped(_))) = result {
            return Err(e.map_text(|t| format!("{}: {t}", client.name())));
        }
        results.push((client.name().to_string(), result));
    }
    combine(results, &left_out)
}

/// The check's verdict from each met client's (purpose, result) and the
/// reasons clients were left out (see the module's comment).
fn combine(
    results: Vec<(String, Result<Finding, CheckError>)>,
    left_out: &[String],
) -> Result<Finding, CheckError> {
    let mut failed = Vec::new();
    let mut held = Vec::new();
    let mut unmet = Vec::new();
    let mut observed = Vec::new();
    // Clients left out before the run and those found unjudgeable during
    // it: every verdict's reason names them, a PASS included.
    let mut left_out: Vec<String> = left_out.to_vec();
    for (name, result) in results {
        match result {
            Ok(f) if f.verdict == Verdict::Fail => {
                failed.push(format!("{name}: {}", f.reason));
                observed.push(format!("{name}: {}", f.observed));
            }
            Ok(f) => {
                held.push(format!("{name}: {}", f.reason));
                observed.push(format!("{name}: {}", f.observed));
            }
            Err(CheckError::NotApplicable(why)) => {
                left_out.push(format!("{name}: {why}"));
            }
            Err(CheckError::Board(why)) => {
                observed.push(format!("{name}: not met: {why}"));
                unmet.push(format!("{name}: {why}"));
            }
            Err(other) => return Err(other.map_text(|t| format!("{name}: {t}"))),
        }
    }
    observed.extend(left_out.iter().map(|why| format!("not judged: {why}")));
    let observed = observed.join(" | ");
    let not_judged = if left_out.is_empty() {
        String::new()
    } else {
        format!("; not judged: {}", left_out.join("; "))
    };
    if !failed.is_empty() {
        return Ok(Finding::fail(
            format!("{}{not_judged}", failed.join("; ")),
            observed,
        ));
    }
    if !unmet.is_empty() {
        let met = if held.is_empty() {
            "none".to_string()
        } else {
            held.join("; ")
        };
        return Err(CheckError::Board(format!(
            "{}{not_judged}; clients that held: {met}",
            unmet.join("; ")
        )));
    }
    if held.is_empty() {
        return Err(CheckError::NotApplicable(format!(
            "no declared TLS client could be judged{not_judged}"
        )));
    }
    Ok(Finding::pass(
        format!("{}{not_judged}", held.join("; ")),
        observed,
    ))
}

/// The clients the check meets, and a reason for each it leaves out.
fn clients(board: &Board, per_client: ClientApplicability) -> (Vec<Client>, Vec<String>) {
    let declared = &board.spec.declares.tls_clients;
    let mut met = Vec::new();
    let mut left_out = Vec::new();
    for (index, decl) in declared.iter().enumerate() {
        match per_client(board, decl) {
            Applicability::Applicable => met.push(Client {
                index,
                decl: decl.clone(),
                tag: tag(declared, index),
            }),
            Applicability::NotApplicable(na) => left_out.push(format!(
                "{} (declares.tls_clients[{index}]): {na}",
                decl.purpose
            )),
        }
    }
    (met, left_out)
}

/// The file-name-safe tag of client `index`: its purpose, with the index
/// when another client has the same purpose.
fn tag(declared: &[TlsClientDecl], index: usize) -> String {
    let word = |purpose: &str| -> String {
        let w: String = purpose
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        if w.trim_matches('-').is_empty() {
            "client".into()
        } else {
            w
        }
    };
    let own = word(&declared[index].purpose);
    let shared = declared.iter().filter(|c| word(&c.purpose) == own).count() > 1;
    if shared {
        format!("{own}-{index}")
    } else {
        own
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(reason: &str) -> Result<Finding, CheckError> {
        Ok(Finding::pass(reason, "refused"))
    }

    fn fail(reason: &str) -> Result<Finding, CheckError> {
        Ok(Finding::fail(reason, "accepted"))
    }

    fn unmet(why: &str) -> Result<Finding, CheckError> {
        Err(CheckError::Board(why.into()))
    }

    fn run(results: Vec<(&str, Result<Finding, CheckError>)>) -> Result<Finding, CheckError> {
        combine(
            results
                .into_iter()
                .map(|(name, r)| (name.to_string(), r))
                .collect(),
            &[],
        )
    }

    #[test]
    fn a_flaw_in_the_second_client_fails_the_check_and_names_it() {
        let judged = run(vec![
            ("telemetry", pass("held")),
            ("ota-check", fail("accepted self_signed")),
        ])
        .expect("a finding");
        assert_eq!(judged.verdict, Verdict::Fail);
        assert_eq!(judged.reason, "ota-check: accepted self_signed");
        assert!(judged.observed.contains("telemetry: refused"), "{judged:?}");
        assert!(
            judged.observed.contains("ota-check: accepted"),
            "{judged:?}"
        );
    }

    #[test]
    fn an_unmet_client_keeps_the_others_pass_from_standing() {
        let judged = run(vec![
            ("telemetry", pass("held")),
            ("ota-check", unmet("never connected")),
        ]);
        match judged {
            Err(CheckError::Board(why)) => {
                assert!(why.starts_with("ota-check: never connected"), "{why}");
                assert!(why.contains("telemetry: held"), "{why}");
            }
            other => panic!("expected INCONCLUSIVE, got {other:?}"),
        }
    }

    #[test]
    fn a_pass_names_a_client_that_could_not_be_judged() {
        let judged = run(vec![
            ("telemetry", pass("held")),
            (
                "ota-check",
                Err(CheckError::NotApplicable("no test CA".into())),
            ),
        ])
        .expect("a finding");
        assert_eq!(judged.verdict, Verdict::Pass);
        assert!(
            judged.reason.contains("not judged: ota-check: no test CA"),
            "{judged:?}"
        );
    }

    #[test]
    fn a_failure_outweighs_an_unmet_client() {
        let judged = run(vec![
            ("telemetry", unmet("never connected")),
            ("ota-check", fail("accepted")),
        ])
        .expect("a finding");
        assert_eq!(judged.verdict, Verdict::Fail);
    }

    #[test]
    fn every_client_held_is_a_pass_naming_each_and_what_was_left_out() {
        let judged = combine(
            vec![
                ("telemetry".into(), pass("held")),
                ("ota-check".into(), pass("held too")),
            ],
            &["backup (declares.tls_clients[2]): no way to reach it".into()],
        )
        .expect("a finding");
        assert_eq!(judged.verdict, Verdict::Pass);
        assert!(
            judged
                .reason
                .starts_with("telemetry: held; ota-check: held too; not judged: backup"),
            "{}",
            judged.reason
        );
    }

    #[test]
    fn nothing_judged_is_never_a_pass() {
        assert!(matches!(
            run(vec![(
                "telemetry",
                Err(CheckError::NotApplicable("x".into()))
            )]),
            Err(CheckError::NotApplicable(_))
        ));
        assert!(matches!(run(vec![]), Err(CheckError::NotApplicable(_))));
    }

    #[test]
    fn clients_sharing_a_purpose_get_distinct_evidence_tags() {
        let client = |purpose: &str| TlsClientDecl {
            purpose: purpose.into(),
            server_parameter: Some("s".into()),
            server: None,
            resolves_to: None,
            takeover: None,
            server_name: "a.test".into(),
            interval_parameter: None,
            interval_s: None,
            connects_at_boot: false,
            test_ca: None,
        };
        let declared = [client("Cloud API"), client("cloud/api"), client("ota")];
        assert_eq!(tag(&declared, 0), "cloud-api-0");
        assert_eq!(tag(&declared, 1), "cloud-api-1");
        assert_eq!(tag(&declared, 2), "ota");
    }
}
