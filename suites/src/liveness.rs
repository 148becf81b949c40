//! Positive controls: showing the board alive and reachable.
//!
//! A check that concludes from absence (no undeclared port open, no
//! plaintext in a capture, no answer to a probe, no event at a collector)
//! has proven nothing if the board was dead, frozen or cut off while it
//! looked. Such a check wraps its observation window in [`around`]: a
//! control before and after, and INCONCLUSIVE when either fails. Every
//! check's PASS or FAIL is also followed by a control ([`AliveAfter`]):
//! a verdict reached on a board that then turns out dead or unreachable is
//! not kept, because the fault may have started while the check looked.
//!
//! A control is an exchange at the application layer: a listening socket
//! of a frozen process still completes a TCP handshake (the kernel does
//! it), so a bare connect proves little. The strongest exchange a declared
//! service allows is used: a TLS handshake, an HTTP response, a banner.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hilt_harness::board::{Board, InterfaceDecl, Reference, Transport};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Check, CheckError, CheckMeta, Finding, Verdict};
use hilt_net::http::{self, HttpOptions, HttpRequest, HttpTarget};
use hilt_net::tls::{self, TlsClientConfig, Trust};
use hilt_net::Link;

/// Bound on one control exchange. A live board answers in milliseconds;
/// a frozen one never does.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// How a declared service can show that the board is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Exchange {
    /// A complete TLS handshake: only the device's own stack can do it.
    TlsHandshake,
    /// An HTTP response to a request.
    HttpResponse,
    /// A greeting the service sends unasked (SSH, telnet, FTP, SMTP).
    Banner,
}

fn exchange_for(interface: &InterfaceDecl) -> Option<Exchange> {
    if interface.protocol != Transport::Tcp || !interface.enabled_by_default {
        return None;
    }
    let service = interface.service.to_ascii_lowercase();
    if interface.speaks_tls() {
        Some(Exchange::TlsHandshake)
    } else if service == "http" {
        Some(Exchange::HttpResponse)
    } else if ["ssh", "telnet", "ftp", "smtp", "pop3", "imap"].contains(&service.as_str()) {
        Some(Exchange::Banner)
    } else {
        None
    }
}

/// The declared service that gives the strongest control, if any, other
/// than the one on port `besides`.
fn control_service(
    board: &Board,
    besides: Option<u16>,
) -> Option<(IpAddr, InterfaceDecl, Exchange)> {
    let address = board.spec.hardware.network.as_ref()?.address;
    board
        .spec
        .declares
        .interfaces
        .iter()
        .filter(|i| Some(i.port) != besides)
        .filter_map(|i| exchange_for(i).map(|e| (i.clone(), e)))
        .min_by_key(|(_, e)| *e)
        .map(|(i, e)| (address, i, e))
}

/// Whether a control exists for this board, and if not, why.
pub fn available(board: &Board) -> Result<(), String> {
    if control_service(board, None).is_some() || console_control_possible(board) {
        Ok(())
    } else {
        Err("the board declares no service that can show it alive (a TLS, HTTP, SSH, telnet or FTP interface enabled by default) and no console".into())
    }
}

fn console_control_possible(board: &Board) -> bool {
    board.spec.hardware.serial.is_some() && board.spec.declares.console.is_some()
}

/// One positive control, now. Returns what was seen; a board fault when
/// the board did not answer.
pub fn control(ctx: &mut CheckContext, moment: &str) -> Result<String, CheckError> {
    control_besides(ctx, None, moment)
}

/// One positive control through another service than the one on port
/// `besides` (or the console): the board shown alive while that one
/// drops connections.
pub fn control_besides(
    ctx: &mut CheckContext,
    besides: Option<u16>,
    moment: &str,
) -> Result<String, CheckError> {
    match control_service(ctx.board(), besides) {
        Some((address, interface, exchange)) => {
            let link = crate::api::link(ctx)?.with_board(address);
            network_control(ctx, &link, interface.port, exchange).map_err(|why| {
                CheckError::Board(format!(
                    "the board was not shown alive {moment}: {} on port {} did not answer ({why})",
                    interface.service, interface.port
                ))
            })
        }
        None if console_control_possible(ctx.board()) => console_control(ctx).map_err(|why| {
            CheckError::Board(format!(
                "the board was not shown alive {moment}: the console did not answer ({why})"
            ))
        }),
        None => Err(CheckError::Board(format!(
            "the board cannot be shown alive {moment}: {}",
            available(ctx.board()).err().unwrap_or_default()
        ))),
    }
}

/// After a restart of a board whose boot cannot be followed on a
/// console: waits until its control service answers, up to `within` (and
/// the check's deadline). The boot counts only once the board answers.
pub fn await_boot_on_network(
    ctx: &mut CheckContext,
    within: Duration,
) -> Result<String, CheckError> {
    let until = Instant::now() + within;
    loop {
        match control(ctx, "after the restart") {
            Ok(seen) => return Ok(seen),
            Err(CheckError::Board(_)) if Instant::now() < until => {
                ctx.stop().check()?;
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Tries the exchange until it succeeds or [`CONTROL_TIMEOUT`] passes: a
/// board just back from a reboot may open its services a moment after its
/// console prompt.
fn network_control(
    ctx: &CheckContext,
    link: &Link,
    port: u16,
    exchange: Exchange,
) -> Result<String, String> {
    let until = Instant::now() + CONTROL_TIMEOUT;
    loop {
        match exchange_once(ctx, link, port, exchange) {
            Ok(seen) => return Ok(seen),
            Err(why) if Instant::now() >= until || ctx.stop().check().is_err() => return Err(why),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn exchange_once(
    ctx: &CheckContext,
    link: &Link,
    port: u16,
    exchange: Exchange,
) -> Result<String, String> {
    let addr = link.to(port);
    let stop = crate::api::stop(ctx);
    let started = Instant::now();
    match exchange {
        Exchange::TlsHandshake => {
            // Any completed handshake shows the device's TLS stack alive.
            // The certificate is not judged here: a chain that does not
            // verify is DP-02's finding, and must not read as a dead board
            // (that would discard the FAIL). That the answer comes from the
            // board, not from something behind another route, is the
            // link's doing: every socket is bound to the board's interface.
            let mut cfg = TlsClientConfig::new(addr.ip().to_string(), Trust::InspectOnly);
            cfg.timeout = CONTROL_TIMEOUT;
            let conn = tls::connect(link, port, &cfg, &stop).map_err(|e| e.to_string())?;
            let record = conn.record.clone();
            if let Some(stream) = conn.stream {
                stream.close();
            }
            if record.completed() {
                Ok(format!(
                    "TLS handshake with {addr} completed in {} ms",
                    started.elapsed().as_millis()
                ))
            } else {
                Err(format!("TLS handshake failed: {:?}", record.outcome))
            }
        }
        Exchange::HttpResponse => {
            let options = HttpOptions {
                timeout: CONTROL_TIMEOUT,
                max_body: 4096,
            };
            let response = http::request(
                &HttpTarget::http(link, port),
                &HttpRequest::get("/"),
                &options,
                &stop,
            )
            .map_err(|e| e.to_string())?;
            Ok(format!(
                "HTTP {} from {addr} in {} ms",
                response.status,
                started.elapsed().as_millis()
            ))
        }
        Exchange::Banner => {
            let bytes = hilt_net::greeting::read_greeting(link, port, CONTROL_TIMEOUT, &stop)
                .map_err(|e| e.to_string())?;
            if bytes == 0 {
                return Err("connected, but the service sent no greeting".into());
            }
            Ok(format!(
                "{addr} sent a {bytes}-byte greeting in {} ms",
                started.elapsed().as_millis()
            ))
        }
    }
}

/// Whether one declared TCP service answers: with the strongest exchange
/// it allows (TLS handshake, HTTP response, greeting), or for a service
/// without one, a completed connection.
pub(crate) fn service_answers(
    ctx: &CheckContext,
    link: &Link,
    interface: &InterfaceDecl,
) -> Result<String, String> {
    match exchange_for(interface) {
        Some(exchange) => network_control(ctx, link, interface.port, exchange),
        None => {
            let started = Instant::now();
            link.tcp_connect(interface.port, CONTROL_TIMEOUT)
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "{} accepted a connection in {} ms (no exchange known for {})",
                link.to(interface.port),
                started.elapsed().as_millis(),
                interface.service
            ))
        }
    }
}

/// The console answers: it comes to rest at a login or shell prompt.
pub(crate) fn console_control(ctx: &mut CheckContext) -> Result<String, String> {
    let decl = ctx.console_decl().map_err(|e| e.to_string())?;
    let console = ctx.console().map_err(|e| e.to_string())?;
    let state = hilt_harness::driver::console::wake(console, &decl, CONTROL_TIMEOUT)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "the console rests at its {} prompt",
        if state == 0 { "login" } else { "shell" }
    ))
}

/// Runs an observation window between two controls. Returns the window's
/// result and a note of both controls for the finding's `observed`.
pub fn around<T>(
    ctx: &mut CheckContext,
    window: impl FnOnce(&mut CheckContext) -> Result<T, CheckError>,
) -> Result<(T, String), CheckError> {
    let before = control(ctx, "before the observation")?;
    let result = window(ctx)?;
    let after = control(ctx, "after the observation")?;
    Ok((
        result,
        format!("alive before ({before}) and after ({after})"),
    ))
}

/// Wraps a check so that its PASS or FAIL stands only if the board is
/// shown alive once the check has finished.
pub struct AliveAfter(pub Arc<dyn Check>);

impl Check for AliveAfter {
    fn meta(&self) -> &CheckMeta {
        self.0.meta()
    }

    fn applicability(&self, board: &Board) -> Applicability {
        self.0.applicability(board)
    }

    fn uses(&self) -> &'static [Reference] {
        self.0.uses()
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let started = Instant::now();
        let finding = self.0.run(ctx)?;
        if !matches!(finding.verdict, Verdict::Pass | Verdict::Fail) {
            return Ok(finding);
        }
        match control(ctx, "after the check") {
            // When the control ended, from the check's start: a fault after
            // this moment found nothing of the check left to disturb.
            Ok(seen) => Ok(finding
                .with("alive_after_check", seen)
                .with("alive_after_check_ms", started.elapsed().as_millis())),
            Err(CheckError::Board(why)) => Err(CheckError::Board(format!(
                "{why}; the check's tentative {} ({}) is not kept",
                finding.verdict, finding.reason
            ))),
            Err(other) => Err(other),
        }
    }
}
