//! Reaching the device over the network: the board's [`Link`] (the one
//! place checks get the board's address, the host-side interface and the
//! host address; every socket for the board is made through it), and the
//! board's declared API (HTTP or HTTPS, authenticated as its board file
//! says, through the harness's API driver), every exchange kept as
//! evidence with credentials redacted.

use std::sync::atomic::{AtomicU64, Ordering};

use hilt_harness::board::{ApiRef, Board, Secret};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::api::{ApiClient, ApiError, ApiReply, Credentials};
use hilt_harness::{Applicability, CheckError};
use hilt_net::http::{HttpRequest, HttpResponse};
use hilt_net::{Link, NetError, Stop};

/// Applicable when the board declares an API (HTTP or HTTPS) and an
/// account to use it with.
pub fn needs_api(board: &Board) -> Applicability {
    if board.spec.hardware.network.is_none() {
        return Applicability::not_applicable(
            "no network wired (hardware.network)",
            &["hardware.network.address"],
        );
    }
    let Some(api) = board.spec.api(None) else {
        return Applicability::not_applicable(
            "no API declared (an interface with `api:`, or an authenticated https interface)",
            &["declares.interfaces[].api"],
        );
    };
    if board.spec.api_account(&api).is_none() {
        return Applicability::not_applicable(
            "no account declared to authenticate to the API with",
            &["declares.interfaces[].api.accounts", "declares.accounts"],
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

/// The board's API (the first declared), ready for requests.
pub fn target(ctx: &CheckContext) -> Result<ApiClient, CheckError> {
    target_for(ctx, None)
}

/// The API a resource names (`api:` beside its path), else the first.
pub fn target_for(ctx: &CheckContext, wanted: Option<&ApiRef>) -> Result<ApiClient, CheckError> {
    ApiClient::open(ctx.board(), &link(ctx)?, wanted).map_err(api_fault)
}

/// The API the state resource (`declares.state.http`) is on.
pub fn for_state(ctx: &CheckContext) -> Result<ApiClient, CheckError> {
    let wanted = ctx
        .board()
        .spec
        .declares
        .state
        .as_ref()
        .and_then(|s| s.api.clone());
    target_for(ctx, wanted.as_ref())
}

/// The API the configuration resource (`declares.configuration.http`) is on.
pub fn for_config(ctx: &CheckContext) -> Result<ApiClient, CheckError> {
    let wanted = ctx
        .board()
        .spec
        .declares
        .configuration
        .as_ref()
        .and_then(|c| c.http.as_ref())
        .and_then(|h| h.api.clone());
    target_for(ctx, wanted.as_ref())
}

/// The API the event log (`declares.logging.event_log.http`) is on.
pub fn for_event_log(ctx: &CheckContext) -> Result<ApiClient, CheckError> {
    let wanted = ctx
        .board()
        .spec
        .declares
        .logging
        .as_ref()
        .and_then(|l| l.event_log.as_ref())
        .and_then(|e| e.api.clone());
    target_for(ctx, wanted.as_ref())
}

/// The API the network factory reset (`declares.factory_reset.http`) is on.
pub fn for_factory_reset(ctx: &CheckContext) -> Result<ApiClient, CheckError> {
    let wanted = ctx
        .board()
        .spec
        .declares
        .factory_reset
        .as_ref()
        .and_then(|f| f.api.clone());
    target_for(ctx, wanted.as_ref())
}

pub fn api_fault(e: ApiError) -> CheckError {
    match e {
        ApiError::Net(e) => net_fault(e),
        e @ ApiError::Device(_) => CheckError::Board(e.to_string()),
        e @ ApiError::Declaration(_) => CheckError::Harness(e.to_string()),
    }
}

/// How a request authenticates: the API's declared authentication kind
/// decides what goes on the wire.
pub enum Auth<'a> {
    None,
    Declared,
    /// The API's account with a wrong password (or token).
    Wrong(&'a str),
}

/// Sends a request and keeps every exchange it took (credentials, tokens
/// and session cookies redacted) as evidence.
pub fn send(
    ctx: &mut CheckContext,
    target: &ApiClient,
    request: HttpRequest,
    auth: Auth,
) -> Result<HttpResponse, CheckError> {
    Ok(send_reply(ctx, target, request, auth)?.response)
}

/// [`send`], returning everything the driver saw (the exchanges, and the
/// credential material that went on the wire).
pub fn send_reply(
    ctx: &mut CheckContext,
    target: &ApiClient,
    request: HttpRequest,
    auth: Auth,
) -> Result<ApiReply, CheckError> {
    let credentials = match auth {
        Auth::None => Credentials::None,
        Auth::Declared => Credentials::Declared,
        Auth::Wrong(password) => Credentials::Wrong(password.to_string()),
    };
    let reply = target
        .send(request, &credentials, &stop(ctx))
        .map_err(api_fault)?;
    for value in &reply.learned {
        ctx.evidence().add_secret(&Secret::from_guess(value));
    }
    static EXCHANGES: AtomicU64 = AtomicU64::new(0);
    for exchange in &reply.exchanges {
        let n = EXCHANGES.fetch_add(1, Ordering::Relaxed);
        let text = format!("{}\n\n{}", exchange.request, exchange.response);
        ctx.evidence().text(
            &format!("http-{n}.txt"),
            "text/plain",
            &format!(
                "HTTP exchange with {} (credentials redacted)",
                target.label()
            ),
            &text,
        )?;
    }
    Ok(reply)
}

/// Authorized read of one configuration value over the API.
pub fn config_value(
    ctx: &mut CheckContext,
    target: &ApiClient,
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
    target: &ApiClient,
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
