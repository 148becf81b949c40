//! What the device's network interfaces expose without authorization:
//! metadata in banners and discovery answers (AU-08).

use std::time::Duration;

use hilt_harness::board::{Board, InterfaceDecl, Transport};
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};
use hilt_net::http::{self, HttpOptions, HttpRequest, HttpResponse, HttpTarget};
use hilt_net::tls::{TlsClientConfig, Trust};
use hilt_net::udp::{probe_udp, UdpService};

use crate::api::{self, net_fault};
use crate::console;
use crate::logins;

/// AU-08: banners and discovery answers disclose nothing security-relevant.
pub struct MetadataLeakage;

static METADATA_LEAKAGE: CheckMeta = CheckMeta {
    name: "metadata_leakage",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-08",
    title: "Banners and discovery answers disclose no security-relevant metadata",
    expected: "unauthenticated HTTP responses, login banners (telnet, SSH, FTP, MQTT's $SYS/broker/version) and SNMP/mDNS/SSDP answers carry no firmware or component versions, key material, credentials or debug output",
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

/// Software a banner may name; with or without a version it tells an
/// attacker what runs there.
const PRODUCT_NAMES: &str = r"(?i)\b(linux|debian|ubuntu|raspbian|busybox|openwrt|yocto|poky|freebsd|windows|vxworks|zephyr|freertos|openssh|dropbear|vsftpd|proftpd|pure-ftpd|mosquitto|emqx|hivemq|net-snmp|lighttpd|nginx|apache|boa|goahead)\b";

/// Services whose banner is read before any login.
const BANNER_SERVICES: &[&str] = &["telnet", "ssh", "ftp", "mqtt", "mqtts"];

/// What a login banner discloses: a version number or a product name,
/// plus what any unauthenticated answer must not carry.
///
/// An SSH identification string is `SSH-2.0-softwareversion[ comments]`
/// (RFC 4253 section 4.2): the software version is required there and
/// clients key their interoperability workarounds on it, so only the
/// optional comments (e.g. a distribution's patch level) are judged; the
/// software version is shown in the observation (see [`ssh_software`]).
fn banner_leaks(
    source: &str,
    banner: &str,
    firmware_version: Option<&regex::Regex>,
    password: &str,
) -> Vec<String> {
    let software = match banner.trim().strip_prefix("SSH-") {
        Some(rest) => rest.split_once(' ').map_or("", |(_, comments)| comments),
        None => banner,
    };
    let shown: String = banner.trim().chars().take(120).collect();
    let mut leaks = Vec::new();
    let numbered = regex::Regex::new(r"\d+\.\d+").ok();
    let product = regex::Regex::new(PRODUCT_NAMES).ok();
    if numbered.as_ref().is_some_and(|re| re.is_match(software)) {
        leaks.push(format!("{source}: banner names a version: {shown:?}"));
    } else if product.as_ref().is_some_and(|re| re.is_match(software)) {
        leaks.push(format!("{source}: banner names the software: {shown:?}"));
    }
    leaks.extend(leaks_in(source, &[], banner, firmware_version, password));
    leaks
}

/// The software version of an SSH identification string, which the
/// protocol requires and AU-08 therefore reports without counting it.
fn ssh_software(banner: &str) -> Option<&str> {
    let rest = banner.trim().strip_prefix("SSH-")?;
    let (_, software) = rest.split_once('-')?;
    Some(software.split(' ').next().unwrap_or(software))
}

fn banner_interfaces(board: &Board) -> Vec<InterfaceDecl> {
    board
        .spec
        .declares
        .interfaces
        .iter()
        .filter(|i| i.protocol == Transport::Tcp && i.enabled_by_default)
        .filter(|i| BANNER_SERVICES.contains(&i.service.to_ascii_lowercase().as_str()))
        .cloned()
        .collect()
}

/// The greeting a service sends unasked (FTP's 220 lines), bounded.
fn greeting(link: &hilt_net::Link, port: u16) -> Result<String, CheckError> {
    use std::io::Read;
    let mut sock = link
        .tcp_connect(port, Duration::from_secs(5))
        .map_err(net_fault)?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| CheckError::Harness(format!("socket: {e}")))?;
    let until = std::time::Instant::now() + Duration::from_secs(3);
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while std::time::Instant::now() < until && got.len() < 4096 {
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                // An FTP greeting ends at its last line, "220 ...".
                let text = String::from_utf8_lossy(&got);
                if text.lines().any(|l| l.len() > 3 && l.as_bytes()[3] == b' ') {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(CheckError::Board(format!("greeting on {port}/tcp: {e}"))),
        }
    }
    got.truncate(4096);
    Ok(String::from_utf8_lossy(&got).into_owned())
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
    let golden = crate::update::golden(ctx).ok()?;
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
        // Login services greet anyone before a login.
        let mut banners = String::new();
        let mut first_leak: Option<u64> = None;
        for interface in banner_interfaces(ctx.board()) {
            let source = logins::label(&interface);
            let banner = if interface.service.eq_ignore_ascii_case("ftp") {
                Some(greeting(&link, interface.port)?)
            } else {
                match logins::open(ctx, &interface)? {
                    Ok(mut probe) => probe.banner().map_err(CheckError::from)?,
                    Err(why) => {
                        answered.push(format!("{source} (not read: {why})"));
                        continue;
                    }
                }
            };
            match banner {
                Some(text) => {
                    let leaked = banner_leaks(&source, &text, version_re.as_ref(), &password);
                    if !leaked.is_empty() && first_leak.is_none() {
                        // The banner's first line, below its `=== source` line.
                        first_leak = Some(banners.lines().count() as u64 + 2);
                    }
                    banners.push_str(&format!("=== {source}\n{text}\n"));
                    leaks.extend(leaked);
                    answered.push(match ssh_software(&text) {
                        Some(software) => format!(
                            "{source} banner (software version {software:?}: required by RFC 4253, not counted)"
                        ),
                        None => format!("{source} banner"),
                    });
                }
                // MQTT without anonymous access, or no version published.
                None => answered.push(format!("{source} (no banner without login)")),
            }
        }
        if !banners.is_empty() {
            ctx.evidence().text(
                "login-banners.txt",
                "text/plain",
                "what the login services show before a login",
                &banners,
            )?;
            if let Some(line) = first_leak {
                ctx.evidence().locate(
                    "login-banners.txt",
                    hilt_harness::evidence::Locator::Line(line),
                );
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

#[cfg(test)]
mod tests {
    use super::banner_leaks;

    #[test]
    fn a_banner_naming_software_or_a_version_is_a_leak() {
        assert_eq!(
            banner_leaks(
                "ssh 22/tcp",
                "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
                None,
                ""
            )
            .len(),
            1
        );
        assert_eq!(
            banner_leaks("mqtt", "mosquitto version 2.0.11", None, "").len(),
            1
        );
        assert_eq!(
            banner_leaks("telnet", "\r\nDebian GNU/Linux 12\r\n", None, "").len(),
            1
        );
        assert_eq!(
            banner_leaks("ftp", "220 (vsFTPd 3.0.3)\r\n", None, "").len(),
            1
        );
    }

    #[test]
    fn a_plain_banner_and_the_ssh_protocol_version_are_not() {
        assert!(banner_leaks("ssh", "SSH-2.0-server", None, "").is_empty());
        // The software version is required by RFC 4253; only comments count.
        assert!(banner_leaks("ssh", "SSH-2.0-dropbear_2022.83\r\n", None, "").is_empty());
        assert!(banner_leaks("ssh", "SSH-2.0-OpenSSH_9.2p1", None, "").is_empty());
        assert_eq!(
            super::ssh_software("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"),
            Some("OpenSSH_9.2p1")
        );
        assert!(
            banner_leaks("telnet", "hilt reference thermostat (simulated)", None, "").is_empty()
        );
        assert!(banner_leaks("ftp", "220 ready\r\n", None, "").is_empty());
    }
}
