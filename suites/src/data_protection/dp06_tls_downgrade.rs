//! DP-06: the device's TLS clients refuse a downgrade. For every declared
//! client with a test CA (`super::every_client`), hilt brings the client
//! (`crate::tls_peer`) to a server that answers with TLS 1.0, then at one that picks
//! the weakest suite offered, presenting a certificate the client trusts
//! (so only the version or the suite can make it refuse), and watches for
//! a client that retries with a legacy-only hello (version fallback).

use std::time::Duration;

use hilt_harness::board::{Board, Reference, TlsClientDecl};
use hilt_harness::context::CheckContext;
use hilt_harness::params::{ParamKind, ParamSpec};
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_net::downgrade::{
    fallback_detected, ClientReaction, DowngradeConfig, DowngradeConnection, DowngradeOffer,
    DowngradeServer, ServerAnswer,
};
use hilt_net::rogue::{make_presented, RogueCert};

use super::every_client::{self, Client};
use super::mitm::{control_meeting, test_ca};
use crate::api::net_fault;
use crate::tls_peer::{self, TlsPeer};

pub struct TlsDowngrade;

static TLS_DOWNGRADE: CheckMeta = CheckMeta {
    name: "tls_downgrade",
    capability: Capability::DataProtection,
    catalogue_id: "DP-06",
    title: "TLS client refuses a protocol or cipher downgrade",
    expected: "the device aborts when a server answers with TLS 1.0 or a weak suite (NULL, EXPORT, RC4, DES, 3DES, anonymous), offers no weak suite, and does not retry with a legacy-only hello",
    nistir_8259a: &["DP-1"],
    en_303_645: &["5.5-1"],
    ts_103_701: &["5.5-1-2"],
    cra_annex_i: &["e"],
    destructive: true,
    default_timeout: Duration::from_secs(90),
    params: &[ParamSpec {
        name: "linger_ms",
        meaning: "how long each rogue server waits for the client's next attempt after a refusal",
        kind: ParamKind::Integer {
            min: 100,
            max: 60_000,
            default: 2500,
            unit: "ms",
        },
    }],
};

/// The downgraded answer was taken: a continued TLS 1.0 handshake, or a
/// continued handshake on a weak suite (CBC-SHA1 is legacy, not broken).
fn took_downgrade(c: &DowngradeConnection) -> bool {
    if !c.accepted_downgrade() {
        return false;
    }
    match (&c.offer, &c.answer) {
        (DowngradeOffer::Tls10, _) => true,
        (DowngradeOffer::WeakCipher, ServerAnswer::ServerHello { weakness, .. }) => {
            weakness.is_some_and(|w| w.is_weak())
        }
        _ => false,
    }
}

fn describe(c: &DowngradeConnection) -> String {
    format!(
        "#{} offered up to {}{}; answer {}; reaction {}",
        c.seq,
        c.max_offered_version.as_deref().unwrap_or("?"),
        if c.plaintext { " (plaintext!)" } else { "" },
        serde_json::to_string(&c.answer).unwrap_or_default(),
        serde_json::to_string(&c.reaction).unwrap_or_default()
    )
}

impl Check for TlsDowngrade {
    fn meta(&self) -> &CheckMeta {
        &TLS_DOWNGRADE
    }

    fn uses(&self) -> &'static [Reference] {
        &[Reference::TestCa]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        every_client::applicability(board, client_applicability)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        every_client::judge_every_client(ctx, client_applicability, downgrade)
    }
}

/// A client is met with a certificate it trusts (so only the version or
/// the suite can make it refuse): it needs a declared test CA, and a way
/// to bring it to hilt's servers.
fn client_applicability(board: &Board, client: &TlsClientDecl) -> Applicability {
    if client.test_ca.is_none() {
        return Applicability::not_applicable(
            "no test CA the client trusts is declared (declares.tls_clients[].test_ca): the downgrade servers need a certificate it accepts",
            &["declares.tls_clients[].test_ca"],
        );
    }
    tls_peer::applicability(board, client)
}

/// Brings one client to the TLS 1.0 server, then to the weak-suite one.
fn downgrade(ctx: &mut CheckContext, client: &Client) -> Result<Finding, CheckError> {
    let (tag, decl) = (&client.tag, &client.decl);
    let ca =
        test_ca(ctx, decl)?.ok_or_else(|| CheckError::Harness("no test CA declared".into()))?;
    // A certificate the client trusts, for the right name.
    let presented = make_presented(
        &RogueCert::WrongHostname {
            ca,
            wrong_name: decl.server_name.clone(),
        },
        &decl.server_name,
    )
    .map_err(net_fault)?;
    // Long enough for the client's next attempt after a refusal.
    let linger = Duration::from_millis(ctx.param_u64("linger_ms")?);
    let mut peer = TlsPeer::start(ctx, decl)?;
    let mut all: Vec<DowngradeConnection> = Vec::new();
    let mut outcome = Ok(());
    for offer in [DowngradeOffer::Tls10, DowngradeOffer::WeakCipher] {
        let mut config = DowngradeConfig::new(offer, presented.chain_pem.clone());
        config.key_pem = Some(presented.key_pem());
        let (link, port) = peer.listen_at();
        let server = match DowngradeServer::start(&link, port, config) {
            Ok(s) => s,
            Err(e) => {
                outcome = Err(net_fault(e));
                break;
            }
        };
        if let Err(e) = peer.point_at(ctx, server.local_addr()) {
            outcome = Err(e);
            break;
        }
        let seen = server.wait_for(1, &peer.wait(ctx));
        if seen.is_ok() {
            if let Err(e) = ctx.sleep(linger) {
                outcome = Err(e);
            }
        }
        let connections = server.shutdown();
        ctx.evidence().text(
            &format!("downgrade-{tag}-{offer:?}.json").to_lowercase(),
            "application/json",
            &format!(
                "connections of the {} client to the {offer:?} downgrade server",
                decl.purpose
            ),
            &serde_json::to_string_pretty(&connections).unwrap_or_default(),
        )?;
        if let Err(e) = seen {
            outcome = Err(CheckError::Board(format!(
                    "the device never connected to the {offer:?} downgrade server (reached through {}): {e}",
                    peer.describe()
                )));
            break;
        }
        all.extend(connections);
        if outcome.is_err() {
            break;
        }
    }
    // A refusal is an alert in answer to the downgraded ServerHello. A
    // client that closed, went silent or erred may never have reached
    // the question: such a refusal counts only if a control handshake
    // through the same path completes.
    let unclear: Vec<usize> = all
        .iter()
        .filter(|c| {
            matches!(
                c.reaction,
                ClientReaction::Closed | ClientReaction::Timeout | ClientReaction::Error(_)
            )
        })
        .map(|c| c.seq)
        .collect();
    let mut control = None;
    if outcome.is_ok() && !unclear.is_empty() {
        match test_ca(ctx, decl)? {
            Some(ca) => match control_meeting(ctx, &mut peer, client, ca) {
                Ok(seen) => control = Some(seen),
                Err(e) => outcome = Err(e),
            },
            None => {
                outcome = Err(CheckError::Harness("no test CA declared".into()));
            }
        }
    }
    peer.restore(ctx)?;
    outcome?;
    let mut problems = Vec::new();
    for c in all.iter().filter(|c| took_downgrade(c)) {
        problems.push(format!(
            "continued the downgraded handshake ({:?} offer, connection #{})",
            c.offer, c.seq
        ));
    }
    if fallback_detected(&all) {
        problems.push(
            "retried with a legacy-only hello or in plaintext after the refusal (version fallback)"
                .into(),
        );
    }
    let mut weak: Vec<String> = all
        .iter()
        .flat_map(|c| c.weak_suites_offered.iter().cloned())
        .collect();
    weak.sort();
    weak.dedup();
    if !weak.is_empty() {
        problems.push(format!("offers weak suites: {}", weak.join(", ")));
    }
    let mut observed = all.iter().map(describe).collect::<Vec<_>>().join("; ");
    if let Some(seen) = control {
        observed.push_str(&format!(
                "; connections {unclear:?} ended without an alert, but a control server with a trusted certificate was accepted ({seen})"
            ));
    }
    if problems.is_empty() {
        Ok(Finding::pass(
            "both downgrades were refused and no legacy retry followed",
            observed,
        ))
    } else {
        Ok(Finding::fail(problems.join("; "), observed))
    }
}
