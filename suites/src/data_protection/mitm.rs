//! DP-03 and DP-04: the device's TLS clients meet a man in the middle.
//! Every declared client is met (`super::every_client`): hilt brings each (through its declared server setting, or by
//! taking its fixed server over on the board's link: `crate::tls_peer`) to
//! rogue servers, one per kind of bad certificate, and records whether the
//! handshake completed or any data was sent.

use hilt_harness::board::{Board, Reference, TlsClientDecl};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Check, CheckError, CheckMeta, Finding};
use hilt_net::rogue::{CaMaterial, RogueCert, RogueConfig, RogueServer};

use super::every_client::{self, Client};
use crate::api::net_fault;
use crate::tls_peer::{self, TlsPeer};

/// One rogue server the client meets, and what it must do.
pub(super) struct Meeting {
    pub(super) label: &'static str,
    pub(super) cert: RogueCert,
    /// A control: a certificate the client must accept (proves the path
    /// to the rogue server works, so refusals mean something).
    pub(super) must_accept: bool,
}

pub struct MitmSpec {
    pub(super) meta: CheckMeta,
    /// What the meetings cannot judge on a client without a declared test
    /// CA (its other meetings still run); None: nothing.
    pub(super) unjudged_without_test_ca: Option<&'static str>,
    pub(super) meetings: fn(&TlsClientDecl, Option<CaMaterial>) -> Vec<Meeting>,
}

pub struct TlsClientMitm(pub &'static MitmSpec);

pub(crate) fn test_ca(
    ctx: &CheckContext,
    client: &TlsClientDecl,
) -> Result<Option<CaMaterial>, CheckError> {
    let Some(decl) = &client.test_ca else {
        return Ok(None);
    };
    let read = |p: &std::path::Path| {
        let path = ctx.board().resolve_path(p);
        std::fs::read_to_string(&path)
            .map_err(|e| CheckError::Harness(format!("test CA file {}: {e}", path.display())))
    };
    Ok(Some(CaMaterial {
        cert_pem: read(&decl.cert)?,
        key_pem: read(&decl.key)?,
    }))
}

impl Check for TlsClientMitm {
    fn meta(&self) -> &CheckMeta {
        &self.0.meta
    }

    fn uses(&self) -> &'static [Reference] {
        &[Reference::TestCa]
    }

    fn applicability(&self, board: &Board) -> Applicability {
        // How each client is brought to hilt's servers: its setting, or
        // its fixed server taken over on the board's link.
        every_client::applicability(board, tls_peer::applicability)
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        every_client::judge_every_client(ctx, tls_peer::applicability, |ctx, client| {
            self.meet(ctx, client)
        })
    }
}

impl TlsClientMitm {
    /// Brings one client to each of the check's rogue servers in turn.
    fn meet(&self, ctx: &mut CheckContext, client: &Client) -> Result<Finding, CheckError> {
        let ca = test_ca(ctx, &client.decl)?;
        let unjudged = match (&ca, self.0.unjudged_without_test_ca) {
            (None, Some(what)) => Some(format!(
                "{what} not judged: no test CA the client trusts is declared ({})",
                client.field("test_ca")
            )),
            _ => None,
        };
        let meetings = (self.0.meetings)(&client.decl, ca);
        if meetings.is_empty() {
            return Err(CheckError::Harness("no rogue server to run".into()));
        }
        let mut peer = TlsPeer::start(ctx, &client.decl)?;
        let mut met = Vec::new();
        let mut outcome = Ok(());
        for meeting in meetings {
            let (link, port) = peer.listen_at();
            let server = match RogueServer::start(
                &link,
                port,
                RogueConfig::new(meeting.cert, client.decl.server_name.clone()),
            ) {
                Ok(s) => s,
                Err(e) => {
                    outcome = Err(net_fault(e));
                    break;
                }
            };
            let address = server.local_addr();
            if let Err(e) = peer.point_at(ctx, address) {
                outcome = Err(e);
                break;
            }
            let seen = server.wait_for(1, &peer.wait(ctx));
            let connections = server.shutdown();
            if let Err(e) = seen {
                outcome = Err(CheckError::Board(format!(
                    "the device never connected to the {} server at {address} (reached through {}): {e}",
                    meeting.label,
                    peer.describe()
                )));
                break;
            }
            ctx.evidence().text(
                &format!("rogue-{}-{}.json", client.tag, meeting.label),
                "application/json",
                &format!(
                    "connections of the {} client to the {} server",
                    client.name(),
                    meeting.label
                ),
                &serde_json::to_string_pretty(&connections).unwrap_or_default(),
            )?;
            met.push((meeting.label, meeting.must_accept, answer(&connections)));
        }
        // Put back what reaching the client changed, whatever happened.
        peer.restore(ctx)?;
        outcome?;
        let mut finding = judge(&met)?;
        if let Some(unjudged) = unjudged {
            finding.reason = format!("{} ({unjudged})", finding.reason);
        }
        Ok(finding)
    }
}

/// A control meeting: a server with a certificate the client must accept
/// (its trusted test CA, the right name). Returns a description of the
/// accepted handshake, or a board fault when the client did not accept it
/// (then its refusals elsewhere prove nothing).
pub(crate) fn control_meeting(
    ctx: &mut CheckContext,
    peer: &mut TlsPeer,
    client: &Client,
    ca: CaMaterial,
) -> Result<String, CheckError> {
    let (tag, client) = (&client.tag, &client.decl);
    let (link, port) = peer.listen_at();
    let server = RogueServer::start(
        &link,
        port,
        RogueConfig::new(
            RogueCert::WrongHostname {
                ca,
                wrong_name: client.server_name.clone(),
            },
            client.server_name.clone(),
        ),
    )
    .map_err(net_fault)?;
    let address = server.local_addr();
    peer.point_at(ctx, address)?;
    let seen = server.wait_for(1, &peer.wait(ctx));
    let connections = server.shutdown();
    ctx.evidence().text(
        &format!("rogue-{tag}-control.json"),
        "application/json",
        &format!(
            "connections of the {} client to the control server (a certificate it trusts)",
            client.purpose
        ),
        &serde_json::to_string_pretty(&connections).unwrap_or_default(),
    )?;
    seen.map_err(|e| {
        CheckError::Board(format!(
            "the device never connected to the control server at {address}: {e}"
        ))
    })?;
    match answer(&connections) {
        Answer::Accepted(d) => Ok(d),
        Answer::RefusedCertificate(d) | Answer::Unclear(d) => Err(CheckError::Board(format!(
            "the device did not accept the control certificate from its trusted CA ({d}): its refusals prove nothing"
        ))),
    }
}

/// Alerts a TLS client sends when it rejects the server's certificate
/// (RFC 8446 6.2): only these show that the certificate was the question
/// the client answered.
const CERTIFICATE_ALERTS: &[u8] = &[
    42, // bad_certificate
    43, // unsupported_certificate
    44, // certificate_revoked
    45, // certificate_expired
    46, // certificate_unknown
    48, // unknown_ca
    49, // access_denied
    51, // decrypt_error (a signature in the chain did not verify)
];

/// How the client answered one rogue server.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// It completed the handshake or sent data.
    Accepted(String),
    /// It aborted with a certificate alert.
    RefusedCertificate(String),
    /// It aborted for another reason (a version or cipher mismatch, a
    /// close without an alert, a lost connection): it may never have
    /// reached the certificate.
    Unclear(String),
}

fn answer(connections: &[hilt_net::rogue::RogueConnection]) -> Answer {
    let describe = |c: &hilt_net::rogue::RogueConnection| {
        format!(
            "handshake {}, alert {}, {} bytes of data",
            if c.handshake_completed {
                "completed"
            } else {
                "aborted"
            },
            c.alert
                .map(|a| format!("{} ({})", a.name, a.code))
                .unwrap_or_else(|| "none".into()),
            c.app_data_total
        )
    };
    if let Some(c) = connections
        .iter()
        .find(|c| c.handshake_completed || c.app_data_total > 0)
    {
        return Answer::Accepted(describe(c));
    }
    // A client that speaks its protocol in the clear to the impostor has
    // given it what it would have told the real server: no TLS protected it.
    if let Some(c) = connections.iter().find(|c| c.cleartext_bytes > 0) {
        return Answer::Accepted(format!(
            "no TLS: the client sent {} bytes in the clear that begin no TLS record",
            c.cleartext_bytes
        ));
    }
    let refused = |c: &hilt_net::rogue::RogueConnection| {
        c.alert
            .is_some_and(|a| CERTIFICATE_ALERTS.contains(&a.code))
    };
    match connections.iter().find(|c| !refused(c)) {
        None if !connections.is_empty() => Answer::RefusedCertificate(describe(&connections[0])),
        None => Answer::Unclear("no connection".into()),
        Some(c) => Answer::Unclear(describe(c)),
    }
}

/// The verdict over every meeting. A refusal counts when the client sent a
/// certificate alert, or when a control server with a certificate it must
/// accept (same server, same parameters) was accepted, so that the
/// certificate is the only thing that differed.
fn judge(met: &[(&str, bool, Answer)]) -> Result<Finding, CheckError> {
    let observed = met
        .iter()
        .map(|(label, _, a)| match a {
            Answer::Accepted(d) | Answer::RefusedCertificate(d) | Answer::Unclear(d) => {
                format!("{label}: {d}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    let controls: Vec<&Answer> = met
        .iter()
        .filter(|(_, must_accept, _)| *must_accept)
        .map(|(_, _, a)| a)
        .collect();
    if controls.iter().any(|a| !matches!(a, Answer::Accepted(_))) {
        return Err(CheckError::Board(format!(
            "the device did not accept the control certificate from its trusted CA: its refusals prove nothing ({observed})"
        )));
    }
    let control_accepted = !controls.is_empty();
    let rogues = met.iter().filter(|(_, must_accept, _)| !must_accept);
    let accepted: Vec<&str> = rogues
        .clone()
        .filter(|(_, _, a)| matches!(a, Answer::Accepted(_)))
        .map(|(l, _, _)| *l)
        .collect();
    if !accepted.is_empty() {
        return Ok(Finding::fail(
            format!("the device accepted rogue servers: {}", accepted.join(", ")),
            observed,
        ));
    }
    let unclear: Vec<&str> = rogues
        .filter(|(_, _, a)| matches!(a, Answer::Unclear(_)))
        .map(|(l, _, _)| *l)
        .collect();
    if !unclear.is_empty() && !control_accepted {
        return Err(CheckError::Board(format!(
            "the device aborted without a certificate alert against {} and no control handshake showed it could have completed: it may never have reached the certificate ({observed})",
            unclear.join(", ")
        )));
    }
    Ok(Finding::pass(
        "every rogue server was refused before any data was sent",
        observed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hilt_net::rogue::RogueConnection;
    use hilt_net::tls::Alert;

    fn connection(completed: bool, alert: Option<u8>, data: u64) -> RogueConnection {
        RogueConnection {
            peer: "198.18.0.2:40000".parse().expect("address"),
            accepted_unix_ms: 0,
            sni: None,
            handshake_completed: completed,
            protocol_version: None,
            cipher_suite: None,
            alert: alert.map(Alert::new),
            alert_source: None,
            error: None,
            app_data: Vec::new(),
            app_data_total: data,
            app_data_truncated: false,
            cleartext_bytes: 0,
        }
    }

    fn verdict(met: &[(&str, bool, Answer)]) -> Result<hilt_harness::Verdict, CheckError> {
        judge(met).map(|f| f.verdict)
    }

    #[test]
    fn a_client_speaking_in_the_clear_to_the_impostor_fails() {
        let mut plain = connection(false, None, 0);
        plain.cleartext_bytes = 125;
        let answered = answer(&[plain]);
        assert!(matches!(answered, Answer::Accepted(_)), "{answered:?}");
        let judged = verdict(&[("self_signed", false, answered)]);
        assert!(
            matches!(judged, Ok(hilt_harness::Verdict::Fail)),
            "{judged:?}"
        );
    }

    #[test]
    fn a_certificate_alert_is_a_refusal() {
        let unknown_ca = answer(&[connection(false, Some(48), 0)]);
        assert!(matches!(unknown_ca, Answer::RefusedCertificate(_)));
        assert_eq!(
            verdict(&[("self_signed", false, unknown_ca)]),
            Ok(hilt_harness::Verdict::Pass)
        );
    }

    #[test]
    fn a_silent_close_or_a_version_alert_is_not_a_refusal_without_a_control() {
        for unclear in [
            answer(&[connection(false, None, 0)]),
            answer(&[connection(false, Some(70), 0)]), // protocol_version
            answer(&[connection(false, Some(40), 0)]), // handshake_failure
            answer(&[]),
        ] {
            assert!(matches!(unclear, Answer::Unclear(_)), "{unclear:?}");
            let judged = verdict(&[("self_signed", false, unclear)]);
            assert!(matches!(judged, Err(CheckError::Board(_))), "{judged:?}");
        }
    }

    #[test]
    fn an_accepted_control_makes_a_silent_close_count_as_a_refusal() {
        let control = answer(&[connection(true, None, 33)]);
        let silent = answer(&[connection(false, None, 0)]);
        assert_eq!(
            verdict(&[("control", true, control), ("expired", false, silent)]),
            Ok(hilt_harness::Verdict::Pass)
        );
    }

    #[test]
    fn a_refused_control_makes_everything_inconclusive() {
        let control = answer(&[connection(false, Some(48), 0)]);
        let accepted = answer(&[connection(true, None, 10)]);
        let judged = verdict(&[("control", true, control), ("expired", false, accepted)]);
        assert!(matches!(judged, Err(CheckError::Board(_))), "{judged:?}");
    }

    #[test]
    fn data_sent_to_a_rogue_is_a_fail_even_without_a_completed_handshake() {
        let leaked = answer(&[connection(false, None, 5)]);
        assert_eq!(
            verdict(&[("self_signed", false, leaked)]),
            Ok(hilt_harness::Verdict::Fail)
        );
    }
}
