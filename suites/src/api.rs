//! Reaching the device over the network: the board's [`Link`] (the one
//! place checks get the board's address, the host-side interface and the
//! host address; every socket for the board is made through it), and the
//! declared HTTPS API: the target (the declared port, the manufacturer CA
//! as the only trust anchor), requests with and without credentials, and
//! every exchange kept as evidence.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use hilt_harness::board::{AuthRequirement, Board, Transport};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, CheckError};
use hilt_net::http::{self, HttpOptions, HttpRequest, HttpResponse, HttpTarget};
use hilt_net::tls::{TlsClientConfig, Trust};
use hilt_net::{Link, NetError, Stop};

/// The declared HTTPS service: (address, port).
pub fn https_endpoint(board: &Board) -> Option<SocketAddr> {
    let address = board.spec.hardware.network.as_ref()?.address;
    let port = board
        .spec
        .declares
        .interfaces
        .iter()
        .find(|i| {
            i.protocol == Transport::Tcp
                && i.service == "https"
                && i.auth == AuthRequirement::Required
        })?
        .port;
    Some(SocketAddr::new(address, port))
}

/// Applicable when the board declares an authenticated HTTPS API.
pub fn needs_api(board: &Board) -> Applicability {
    if board.spec.hardware.network.is_none() {
        return Applicability::not_applicable(
            "no network wired (hardware.network)",
            &["hardware.network.address"],
        );
    }
    if https_endpoint(board).is_none() {
        return Applicability::not_applicable(
            "no authenticated HTTPS service declared (declares.interfaces)",
            &["declares.interfaces[]"],
        );
    }
    if board.spec.declares.accounts.is_empty() {
        return Applicability::not_applicable(
            "no account declared to authenticate with",
            &["declares.accounts"],
        );
    }
    Applicability::Applicable
}

/// The board's link as its board file wires it: every connection, scan,
/// probe and listener a check makes for the board goes through it, bound
/// to the link's interface and host address (see `hilt_net::link`).
pub fn link(ctx: &CheckContext) -> Result<Link, CheckError> {
    let network = ctx
        .board()
        .spec
        .hardware
        .network
        .as_ref()
        .ok_or_else(|| CheckError::Harness("no network wired (hardware.network)".into()))?;
    Link::new(
        network.address,
        network.interface.clone(),
        network.host_address,
    )
    .map_err(|e| CheckError::Harness(format!("hardware.network: {e}")))
}

/// The board's link for a server the device connects to (rogue TLS and
/// downgrade servers, collectors): it needs the host's address on the link.
pub fn listening_link(ctx: &CheckContext) -> Result<Link, CheckError> {
    let link = link(ctx)?;
    if link.host().is_none() {
        return Err(CheckError::Harness(
            "no host address declared (hardware.network.host_address)".into(),
        ));
    }
    Ok(link)
}

pub fn stop(ctx: &CheckContext) -> Stop {
    Stop::new(ctx.stop().deadline(), ctx.stop().interrupted_flag())
}

pub fn net_fault(e: NetError) -> CheckError {
    match e {
        e if e.is_peer_fault() => CheckError::Board(e.to_string()),
        NetError::Stopped(why) => CheckError::Stopped(why.to_string()),
        e => CheckError::Harness(e.to_string()),
    }
}

/// The HTTPS target, trusting only the declared manufacturer CA (or, if
/// none is declared, recording the chain without trusting it: such a
/// board's TLS is judged by DP-02, not here).
pub fn target(ctx: &CheckContext) -> Result<HttpTarget, CheckError> {
    let endpoint = https_endpoint(ctx.board())
        .ok_or_else(|| CheckError::Harness("no HTTPS endpoint declared".into()))?;
    let trust = match &ctx.board().spec.declares.device_ca {
        Some(ca) => Trust::Anchors(ctx.board().resolve_path(ca)),
        None => Trust::InspectOnly,
    };
    Ok(HttpTarget::https(
        &link(ctx)?,
        endpoint.port(),
        TlsClientConfig::new(endpoint.ip().to_string(), trust),
    ))
}

/// How a request authenticates.
pub enum Auth<'a> {
    None,
    Declared,
    Wrong(&'a str),
}

/// Sends a request and keeps the exchange (secrets redacted) as evidence.
pub fn send(
    ctx: &mut CheckContext,
    target: &HttpTarget,
    request: HttpRequest,
    auth: Auth,
) -> Result<HttpResponse, CheckError> {
    let request = match auth {
        Auth::None => request,
        Auth::Declared => {
            let user = crate::console::account(ctx)?;
            let password = ctx.password(&user)?;
            request.basic_auth(&user, password.expose())
        }
        Auth::Wrong(password) => {
            let user = crate::console::account(ctx)?;
            request.basic_auth(&user, password)
        }
    };
    let response =
        http::request(target, &request, &HttpOptions::default(), &stop(ctx)).map_err(net_fault)?;
    static EXCHANGES: AtomicU64 = AtomicU64::new(0);
    let n = EXCHANGES.fetch_add(1, Ordering::Relaxed);
    let text = format!(
        "{}\n\n{}",
        response.exchange.request, response.exchange.response
    );
    ctx.evidence().text(
        &format!("http-{n}.txt"),
        "text/plain",
        "HTTP exchange (credentials redacted)",
        &text,
    )?;
    Ok(response)
}

/// Authorized read of one configuration value over the API.
pub fn config_value(
    ctx: &mut CheckContext,
    target: &HttpTarget,
    path: &str,
    param: &str,
) -> Result<String, CheckError> {
    let response = send(ctx, target, HttpRequest::get(path), Auth::Declared)?;
    if response.status != 200 {
        return Err(CheckError::Board(format!(
            "authorized GET {path} answered {}",
            response.status
        )));
    }
    let json = response.json().map_err(net_fault)?;
    match &json[param] {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Null => Err(CheckError::Board(format!("{path} has no {param}"))),
        other => Ok(other.to_string()),
    }
}

/// Registers, before a check tries to change `param` at `path` (with or
/// without authorization), the undo step that puts `original` back with
/// the declared credentials, verified by reading it back.
pub fn undo_config_write(
    ctx: &mut CheckContext,
    target: &HttpTarget,
    path: &str,
    param: &str,
    original: &str,
) {
    let (target, path, name, value) = (
        target.clone(),
        path.to_string(),
        param.to_string(),
        original.to_string(),
    );
    ctx.on_undo(
        format!("api-setting:{param}"),
        format!("{param} back to {original:?} (through the API)"),
        move |ctx| {
            if config_value(ctx, &target, &path, &name)? == value {
                return Ok(());
            }
            let body = serde_json::json!({ name.clone(): value.clone() });
            send(
                ctx,
                &target,
                HttpRequest::put(path.clone()).json(&body),
                Auth::Declared,
            )?;
            let now = config_value(ctx, &target, &path, &name)?;
            if now == value {
                Ok(())
            } else {
                Err(CheckError::Board(format!(
                    "{name} reads {now:?} after writing {value:?} back"
                )))
            }
        },
    );
}
