//! What the device's network interfaces expose without authorization:
//! metadata in banners and discovery answers (AU-08), and interfaces that
//! come back after being turned off (AU-13).

use std::time::{Duration, Instant};

use hilt_harness::board::{Board, InterfaceDecl, Transport};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_net::http::{self, HttpOptions, HttpRequest, HttpResponse, HttpTarget};
use hilt_net::tls::{TlsClientConfig, Trust};
use hilt_net::udp::{probe_udp, UdpService};
use hilt_net::{Link, NetError};

use crate::api::{self, net_fault};
use crate::console;

/// AU-08: banners and discovery answers disclose nothing security-relevant.
pub struct MetadataLeakage;

static METADATA_LEAKAGE: CheckMeta = CheckMeta {
    name: "metadata_leakage",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-08",
    title: "Banners and discovery answers disclose no security-relevant metadata",
    expected: "unauthenticated HTTP responses and SNMP/mDNS/SSDP answers carry no firmware or component versions, key material, credentials or debug output",
    nistir_8259a: &["LA-2"],
    en_303_645: &["5.6-2"],
    ts_103_701: &["5.6-2-2"],
    cra_annex_i: &["j"],
    destructive: false,
    default_timeout: Duration::from_secs(60),
    params: &[],
};

/// Headers that name software; with a version number they give an
/// attacker the exact build to look up.
const SOFTWARE_HEADERS: &[&str] = &[
    "server",
    "x-powered-by",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    "x-generator",
    "via",
];

/// Text that should never reach an unauthenticated caller.
const DEBUG_MARKERS: &[&str] = &[
    "-----BEGIN",
    "panicked at",
    "Traceback (most recent call last)",
    "stack trace",
    "Exception in thread",
];

/// What an unauthenticated response discloses; empty when nothing.
fn leaks_in(
    source: &str,
    headers: &[(String, String)],
    body: &str,
    firmware_version: Option<&regex::Regex>,
    password: &str,
) -> Vec<String> {
    let mut leaks = Vec::new();
    let numbered = regex::Regex::new(r"\d+\.\d+").ok();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let names_software =
            SOFTWARE_HEADERS.contains(&lower.as_str()) || lower.contains("version");
        if names_software && numbered.as_ref().is_some_and(|re| re.is_match(value)) {
            leaks.push(format!("{source}: header {name}: {value:?}"));
        }
    }
    let everything = format!(
        "{}\n{body}",
        headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    if let Some(re) = firmware_version {
        if re.is_match(body) {
            leaks.push(format!(
                "{source}: the firmware version appears in the body"
            ));
        }
    }
    for marker in DEBUG_MARKERS {
        if everything.contains(marker) {
            leaks.push(format!("{source}: contains {marker:?}"));
        }
    }
    if password.len() >= 4 && everything.contains(password) {
        leaks.push(format!("{source}: contains the account password"));
    }
    leaks
}

fn http_interfaces(board: &Board) -> Vec<InterfaceDecl> {
    board
        .spec
        .declares
        .interfaces
        .iter()
        .filter(|i| i.protocol == Transport::Tcp && (i.service == "https" || i.service == "http"))
        .filter(|i| i.enabled_by_default)
        .cloned()
        .collect()
}

/// The version of the image the board runs, as the golden image states it.
fn firmware_version(ctx: &CheckContext) -> Option<String> {
    let golden = crate::software_update::golden(ctx).ok()?;
    let parsed = hilt_image::Image::parse(&golden).ok()?;
    let v = parsed.header.version;
    Some(format!("{}.{}.{}", v.major, v.minor, v.revision))
}

impl Check for MetadataLeakage {
    fn meta(&self) -> &CheckMeta {
        &METADATA_LEAKAGE
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
        let link = api::link(ctx)?;
        let address = link.board();
        let version = firmware_version(ctx);
        let version_re = match &version {
            Some(v) => Some(
                regex::Regex::new(&format!(r"(^|[^0-9.]){}($|[^0-9])", regex::escape(v)))
                    .map_err(|e| CheckError::Harness(e.to_string()))?,
            ),
            None => None,
        };
        let password = match console::account(ctx) {
            Ok(user) => ctx.password(&user)?.expose().to_string(),
            Err(_) => String::new(),
        };
        let identity_paths: Vec<String> = ctx
            .board()
            .spec
            .declares
            .identity
            .iter()
            .flat_map(|i| i.logical.iter())
            .filter_map(|s| match s {
                hilt_harness::board::IdentitySource::Http { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect();
        let stop = api::stop(ctx);
        let options = HttpOptions {
            timeout: Duration::from_secs(5),
            ..HttpOptions::default()
        };
        let mut leaks = Vec::new();
        let mut answered = Vec::new();
        let mut transcript = String::new();
        for interface in http_interfaces(ctx.board()) {
            let target = if interface.service == "https" {
                HttpTarget::https(
                    &link,
                    interface.port,
                    TlsClientConfig::new(address.to_string(), Trust::InspectOnly),
                )
            } else {
                HttpTarget::http(&link, interface.port)
            };
            let mut paths = vec!["/".to_string(), "/hilt-no-such-resource".to_string()];
            paths.extend(identity_paths.iter().cloned());
            for path in paths {
                let response: HttpResponse =
                    http::request(&target, &HttpRequest::get(&path), &options, &stop)
                        .map_err(net_fault)?;
                let source = format!("{} {path} ({})", interface.service, response.status);
                transcript.push_str(&format!(
                    "{}\n\n{}\n\n",
                    response.exchange.request, response.exchange.response
                ));
                leaks.extend(leaks_in(
                    &source,
                    &response.headers,
                    &response.text(),
                    version_re.as_ref(),
                    &password,
                ));
                answered.push(source);
            }
        }
        // Discovery and management protocols answer anyone on the network.
        let udp = probe_udp(
            &link,
            &[UdpService::Snmp, UdpService::Mdns, UdpService::Ssdp],
            Duration::from_millis(1500),
            &stop,
        )
        .map_err(net_fault)?;
        for probe in &udp {
            if !probe.answered {
                continue;
            }
            let source = format!("{:?} udp/{}", probe.service, probe.port);
            let text = String::from_utf8_lossy(&probe.response).into_owned();
            if probe.service == UdpService::Snmp {
                leaks.push(format!(
                    "{source}: answers the community \"public\" ({})",
                    probe.summary.clone().unwrap_or_default()
                ));
            }
            leaks.extend(leaks_in(
                &source,
                &[],
                &text,
                version_re.as_ref(),
                &password,
            ));
            answered.push(source);
        }
        ctx.evidence().text(
            "unauthenticated-http.txt",
            "text/plain",
            "unauthenticated HTTP exchanges",
            &transcript,
        )?;
        ctx.evidence().text(
            "udp-probes.json",
            "application/json",
            "SNMP, mDNS and SSDP probes",
            &serde_json::to_string_pretty(&udp).unwrap_or_default(),
        )?;
        let observed = format!(
            "firmware version looked for: {}; answered: {}; UDP without answer: {}",
            version
                .as_deref()
                .unwrap_or("unknown (no golden image declared)"),
            answered.join(", "),
            udp.iter()
                .filter(|p| !p.answered)
                .map(|p| format!("{:?}", p.service))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if answered.is_empty() {
            return Err(CheckError::Board(format!(
                "no interface answered an unauthenticated request; nothing was judged ({observed})"
            )));
        }
        if leaks.is_empty() {
            Ok(Finding::pass(
                "no version, key material, credential or debug output was disclosed",
                observed,
            ))
        } else {
            Ok(Finding::fail(
                format!("metadata disclosed: {}", leaks.join("; ")),
                observed,
            ))
        }
    }
}

/// AU-13: an interface turned off stays off across a power cycle.
pub struct DisabledInterfaceStaysDisabled;

static DISABLED_INTERFACE: CheckMeta = CheckMeta {
    name: "disabled_interface_stays_disabled",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-13",
    title: "A disabled interface stays disabled after a power cycle",
    expected: "after the interface is turned off, its port is closed and stays closed across a power cycle, and the setting still reads off",
    nistir_8259a: &["LA-1"],
    en_303_645: &["5.6-1"],
    ts_103_701: &["5.6-1-2"],
    cra_annex_i: &["j"],
    destructive: true,
    default_timeout: Duration::from_secs(90),
    params: &[],
};

fn toggled_interface(board: &Board) -> Option<InterfaceDecl> {
    board
        .spec
        .declares
        .interfaces
        .iter()
        .find(|i| i.protocol == Transport::Tcp && i.toggle.is_some())
        .cloned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortState {
    Open,
    Closed,
    /// Neither an answer nor a refusal within the timeout.
    Silent,
}

/// The state of the board's `port`, reached through its link (a link that
/// is down reads as silent, never as closed).
fn port_state(link: &Link, port: u16) -> PortState {
    match link.tcp_connect(port, Duration::from_secs(1)) {
        Ok(_) => PortState::Open,
        Err(NetError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::ConnectionRefused =>
        {
            PortState::Closed
        }
        Err(_) => PortState::Silent,
    }
}

/// Polls until the port reaches `wanted` or `within` passes; the last state.
fn await_port(
    ctx: &CheckContext,
    link: &Link,
    port: u16,
    wanted: PortState,
    within: Duration,
) -> PortState {
    let until = Instant::now() + within;
    loop {
        let state = port_state(link, port);
        if state == wanted || Instant::now() >= until || ctx.stop().is_interrupted() {
            return state;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Check for DisabledInterfaceStaysDisabled {
    fn meta(&self) -> &CheckMeta {
        &DISABLED_INTERFACE
    }

    fn applicability(&self, board: &Board) -> Applicability {
        if board.spec.hardware.network.is_none() {
            return Applicability::not_applicable(
                "no network wired (hardware.network)",
                &["hardware.network.address"],
            );
        }
        if toggled_interface(board).is_none() {
            return Applicability::not_applicable(
"no TCP interface declares a setting that turns it off (declares.interfaces[].toggle)", &["declares.interfaces[].toggle"]);
        }
        match console::needs_config_commands(board) {
            Applicability::Applicable => super::needs_console(board),
            na => na,
        }
    }

    fn run(&self, ctx: &mut CheckContext) -> Result<Finding, CheckError> {
        let interface = toggled_interface(ctx.board())
            .ok_or_else(|| CheckError::Harness("no toggled interface".into()))?;
        let toggle = interface
            .toggle
            .clone()
            .ok_or_else(|| CheckError::Harness("no toggle".into()))?;
        let link = api::link(ctx)?;
        let port = interface.port;
        let name = format!("{} tcp/{}", interface.service, interface.port);
        let decl = console::open_shell(ctx)?;
        let original = console::config_get(ctx, &decl, &toggle.parameter)?;
        // Control: turning the interface on opens its port, so "closed"
        // later means the setting worked, not that the port never existed.
        console::config_set_verified(ctx, &decl, &toggle.parameter, &toggle.on)?;
        let on_state = await_port(ctx, &link, port, PortState::Open, Duration::from_secs(3));
        console::config_set_verified(ctx, &decl, &toggle.parameter, &toggle.off)?;
        let off_state = await_port(ctx, &link, port, PortState::Closed, Duration::from_secs(3));
        console::close_shell(ctx, &decl)?;
        if on_state != PortState::Open {
            console::open_shell(ctx)?;
            console::config_set_verified(ctx, &decl, &toggle.parameter, &original)?;
            console::close_shell(ctx, &decl)?;
            return Err(CheckError::Board(format!(
                "{} = {:?} did not open {name} (port {on_state:?}): the declared toggle does not control it",
                toggle.parameter, toggle.on
            )));
        }
        console::restart(ctx, &decl, "reboot")?;
        let after_state = port_state(&link, port);
        // Control: an interface that is on by default answers, so the board
        // is up and reachable when the toggled port reads closed.
        let control = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .find(|i| i.protocol == Transport::Tcp && i.enabled_by_default && i.toggle.is_none())
            .map(|i| i.port);
        let control_state =
            control.map(|c| await_port(ctx, &link, c, PortState::Open, Duration::from_secs(5)));
        console::open_shell(ctx)?;
        let setting_after = console::config_get(ctx, &decl, &toggle.parameter)?;
        console::config_set_verified(ctx, &decl, &toggle.parameter, &original)?;
        console::close_shell(ctx, &decl)?;
        let observed = format!(
            "{name}: on -> {on_state:?}; off -> {off_state:?}; after a power cycle: {after_state:?}, {} reads {setting_after:?}; control port: {}; setting put back to {original:?}",
            toggle.parameter,
            match (control, control_state) {
                (Some(c), Some(s)) => format!("{} {s:?}", link.to(c)),
                _ => "none declared".into(),
            }
        );
        if off_state == PortState::Silent || after_state == PortState::Silent {
            // Closed means the board refused the connection; silence may be
            // a dead board or a lost link.
            return Err(CheckError::Board(format!(
                "{name} neither answered nor refused a connection; cannot tell off from unreachable ({observed})"
            )));
        }
        if matches!(control_state, Some(s) if s != PortState::Open) {
            return Err(CheckError::Board(format!(
                "the board's always-on interface does not answer after the power cycle ({observed})"
            )));
        }
        if off_state == PortState::Open {
            return Ok(Finding::fail(
                format!("turning {name} off did not close it"),
                observed,
            ));
        }
        if after_state == PortState::Open {
            return Ok(Finding::fail(
                format!("{name} was turned off but is open again after a power cycle"),
                observed,
            ));
        }
        if setting_after.trim() != toggle.off {
            return Ok(Finding::fail(
                format!(
                    "{} reads {setting_after:?} after a power cycle, not {:?}",
                    toggle.parameter, toggle.off
                ),
                observed,
            ));
        }
        Ok(Finding::pass(
            format!("{name} stayed off across a power cycle"),
            observed,
        ))
    }
}
