use std::time::Duration;

use hilt_harness::board::Board;
use hilt_harness::context::CheckContext;
use hilt_harness::{Applicability, Capability, Check, CheckError, CheckMeta, Finding};

use hilt_net::udp::UdpService;
use hilt_net::udp_scan::{well_known_targets, UdpPortState, UdpProbe, UdpScan, UdpTarget};

use super::needs_console;
use crate::console;

/// AU-07: every open TCP port and every UDP port that answers is a
/// declared interface.
///
/// TCP: a full connect scan. UDP: a probe of every declared UDP port, the
/// board file's `udp_probes` and the well-known IoT services (SNMP, CoAP,
/// mDNS, SSDP, DNS, NTP, TFTP, syslog, MQTT-SN, MCUmgr SMP), each with a well-formed
/// request of its protocol (see `hilt_net::udp_scan`). A port that
/// answers is open; ICMP port unreachable is closed; silence is
/// open|filtered, recorded but not a finding (a syslog receiver never
/// answers). The UDP part counts for a PASS only if its probes are shown
/// to reach the board: the declared UDP services that always answer did
/// answer, or (none declared) some port answered or came back closed.
pub struct OpenPorts;

static OPEN_PORTS: CheckMeta = CheckMeta {
    name: "open_ports",
    capability: Capability::LogicalAccess,
    catalogue_id: "AU-07",
    title: "Only declared network interfaces are open",
    expected: "a full TCP scan, and UDP probes of the declared and well-known UDP ports, find no open port beyond the declared interfaces",
    nistir_8259a: &["LA-1"],
    en_303_645: &["5.6-1"],
    ts_103_701: &["5.6-1-2"],
    cra_annex_i: &["j"],
    destructive: false,
    default_timeout: Duration::from_secs(120),
    params: &[],
};

impl Check for OpenPorts {
    fn meta(&self) -> &CheckMeta {
        &OPEN_PORTS
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
        use hilt_harness::board::Transport;
        use hilt_net::scan::{scan_tcp, TcpScanOptions};
        use hilt_net::udp_scan::{scan_udp, UdpPortState, UdpScanOptions};
        let link = crate::api::link(ctx)?;
        let address = link.board();
        let stop = crate::api::stop(ctx);
        let udp_targets = udp_targets(ctx.board())?;
        let udp_opts = UdpScanOptions::default();
        // A dead or cut-off board shows no open port either: the scans
        // count only between two controls that show the board alive.
        // The UDP probes mostly wait (for the board's rate-limited ICMP
        // errors): they run beside the TCP scan.
        let ((scan, udp), alive) = crate::liveness::around(ctx, |_| {
            let (tcp, udp) = std::thread::scope(|scope| {
                let udp = scope.spawn(|| scan_udp(&link, &udp_targets, &udp_opts, &stop));
                let tcp = scan_tcp(&link, &TcpScanOptions::default(), &stop);
                let udp = udp.join().unwrap_or_else(|_| {
                    Err(hilt_net::NetError::Setup("UDP scan thread panicked".into()))
                });
                (tcp, udp)
            });
            Ok((
                tcp.map_err(crate::api::net_fault)?,
                udp.map_err(crate::api::net_fault)?,
            ))
        })?;
        ctx.evidence().text(
            "tcp-scan.json",
            "application/json",
            "full TCP connect scan of the board's address",
            &serde_json::to_string_pretty(&scan).unwrap_or_default(),
        )?;
        ctx.evidence().text(
            "udp-scan.json",
            "application/json",
            "UDP probes of the declared, board-file and well-known UDP ports, with every answer",
            &serde_json::to_string_pretty(&serde_json::json!({
                "targets": &udp_targets,
                "scan": &udp,
            }))
            .unwrap_or_default(),
        )?;
        // On a loopback address, listeners bound to every address of the
        // host answer too: subtract what a control address shows.
        let mut host_wide = Vec::new();
        let mut host_wide_udp = Vec::new();
        if address.is_loopback() {
            let control = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 254, 254, 254));
            if control != address {
                host_wide = scan_tcp(&link.with_board(control), &TcpScanOptions::default(), &stop)
                    .map_err(crate::api::net_fault)?
                    .open;
                host_wide_udp = scan_udp(&link.with_board(control), &udp_targets, &udp_opts, &stop)
                    .map_err(crate::api::net_fault)?
                    .in_state(UdpPortState::Open);
            }
        }
        let declared: Vec<u16> = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .filter(|i| i.protocol == Transport::Tcp)
            .map(|i| i.port)
            .collect();
        let extra: Vec<u16> = scan
            .open
            .iter()
            .copied()
            .filter(|p| !declared.contains(p) && !host_wide.contains(p))
            .collect();
        if !scan.undetermined.is_empty() {
            return Err(CheckError::Harness(format!(
                "{} ports could not be scanned (local resource errors)",
                scan.undetermined.len()
            )));
        }
        let declared_udp: Vec<u16> = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .filter(|i| i.protocol == Transport::Udp)
            .map(|i| i.port)
            .collect();
        let udp_open: Vec<u16> = udp
            .in_state(UdpPortState::Open)
            .into_iter()
            .filter(|p| !host_wide_udp.contains(p))
            .collect();
        let extra_udp: Vec<String> = udp
            .ports
            .iter()
            .filter(|p| udp_open.contains(&p.port) && !declared_udp.contains(&p.port))
            .map(|p| {
                format!(
                    "udp/{} {} ({})",
                    p.port,
                    p.protocol,
                    p.summary.as_deref().unwrap_or("answered")
                )
            })
            .collect();
        let observed = format!(
            "TCP open: {:?}; declared: {:?}; host-wide listeners ignored: {:?}; {} closed, {} filtered, in {} ms; {}; {alive}",
            scan.open, declared, host_wide, scan.closed, scan.filtered, scan.elapsed_ms,
            udp_observed(&udp, &declared_udp, &host_wide_udp)
        );
        if scan.open.is_empty() && scan.closed == 0 {
            return Err(CheckError::Board(format!(
                "every port was filtered: the scan did not reach the board ({observed})"
            )));
        }
        // Positive control: the declared services answer, so the scan
        // reached the board (a board that is down shows no open port and
        // must not pass for having none).
        // Interfaces that are off by default may be closed.
        let required: Vec<u16> = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .filter(|i| i.protocol == Transport::Tcp && i.enabled_by_default)
            .map(|i| i.port)
            .collect();
        let missing: Vec<u16> = required
            .iter()
            .copied()
            .filter(|p| !scan.open.contains(p))
            .collect();
        if !missing.is_empty() {
            return Err(CheckError::Board(format!(
                "declared ports {missing:?} are not open: the scan may not have reached the board ({observed})"
            )));
        }
        // Declared but off by default: open only if its setting says on
        // (read with authorization); otherwise the device contradicts its
        // own declaration.
        let mut off_but_open = Vec::new();
        let mut settings = Vec::new();
        let optional: Vec<hilt_harness::board::InterfaceDecl> = ctx
            .board()
            .spec
            .declares
            .interfaces
            .iter()
            .filter(|i| !i.enabled_by_default)
            .filter(|i| match i.protocol {
                Transport::Tcp => scan.open.contains(&i.port) && !host_wide.contains(&i.port),
                Transport::Udp => udp_open.contains(&i.port),
            })
            .cloned()
            .collect();
        for interface in optional {
            let setting = match &interface.toggle {
                Some(toggle) if needs_console(ctx.board()) == Applicability::Applicable => {
                    let decl = console::open_shell(ctx)?;
                    let value = console::config_get(ctx, &decl, &toggle.parameter)?;
                    console::close_shell(ctx, &decl)?;
                    settings.push(format!("{} = {value:?}", toggle.parameter));
                    Some(value.trim() == toggle.on)
                }
                _ => None,
            };
            if setting != Some(true) {
                off_but_open.push(format!(
                    "{}/{}",
                    match interface.protocol {
                        Transport::Tcp => "tcp",
                        Transport::Udp => "udp",
                    },
                    interface.port
                ));
            }
        }
        let observed = if settings.is_empty() {
            observed
        } else {
            format!("{observed}; settings: {}", settings.join(", "))
        };
        let mut problems = Vec::new();
        if !extra.is_empty() {
            problems.push(format!("undeclared open ports: {extra:?}"));
        }
        if !extra_udp.is_empty() {
            problems.push(format!(
                "undeclared UDP services answered: {}",
                extra_udp.join(", ")
            ));
        }
        if !off_but_open.is_empty() {
            problems.push(format!(
                "ports declared off by default are open without being turned on: {off_but_open:?}"
            ));
        }
        // An answer from an undeclared port is proof by itself; a PASS
        // needs the UDP probes shown to reach the board.
        if problems.is_empty() {
            if let Some(why) = udp_control_failure(ctx.board(), &udp, &udp_targets) {
                return Err(CheckError::Board(format!("{why} ({observed})")));
            }
        }
        if problems.is_empty() {
            Ok(Finding::pass("no undeclared port is open", observed))
        } else {
            Ok(Finding::fail(problems.join("; "), observed))
        }
    }
}

/// What AU-07 probes over UDP: the declared UDP interfaces (with their
/// service's probe, else an empty datagram), the board file's
/// `udp_probes`, then the well-known services on their ports; each port
/// once, the first entry winning.
fn udp_targets(board: &Board) -> Result<Vec<UdpTarget>, CheckError> {
    use hilt_harness::board::Transport;
    let decl = &board.spec.declares;
    let mut targets: Vec<UdpTarget> = Vec::new();
    let mut add = |t: UdpTarget| {
        if !targets.iter().any(|x| x.port == t.port) {
            targets.push(t);
        }
    };
    for i in decl
        .interfaces
        .iter()
        .filter(|i| i.protocol == Transport::Udp)
    {
        add(declared_target(i.port, Some(&i.service)));
    }
    for p in &decl.udp_probes {
        let target = match (&p.service, &p.payload) {
            (Some(service), _) => declared_target(p.port, Some(service)),
            (None, Some(_)) => UdpTarget {
                port: p.port,
                probe: UdpProbe::Raw(p.payload_bytes().map_err(|why| {
                    CheckError::Harness(format!("declares.udp_probes port {}: {why}", p.port))
                })?),
            },
            (None, None) => declared_target(p.port, None),
        };
        add(target);
    }
    for t in well_known_targets() {
        add(t);
    }
    Ok(targets)
}

/// The probe for a port: its service's (by name, else by the port's
/// well-known service), else an empty datagram.
fn declared_target(port: u16, service: Option<&str>) -> UdpTarget {
    match service
        .and_then(UdpService::from_name)
        .or_else(|| UdpService::by_port(port))
    {
        Some(s) => UdpTarget::service(port, s),
        None => UdpTarget {
            port,
            probe: UdpProbe::Raw(Vec::new()),
        },
    }
}

/// The UDP part's positive control: why its silence proves nothing, if it
/// does not. Declared UDP services on by default whose protocol always
/// answers must have answered; with none declared, some probe must have
/// come back (an answer or an ICMP port unreachable), or the probes may
/// never have reached the board (a firewall that drops UDP).
fn udp_control_failure(board: &Board, udp: &UdpScan, targets: &[UdpTarget]) -> Option<String> {
    use hilt_harness::board::Transport;
    let must_answer: Vec<u16> = board
        .spec
        .declares
        .interfaces
        .iter()
        .filter(|i| i.protocol == Transport::Udp && i.enabled_by_default)
        .filter(|i| {
            targets.iter().any(|t| {
                t.port == i.port && matches!(t.probe, UdpProbe::Service(s) if s.always_answers())
            })
        })
        .map(|i| i.port)
        .collect();
    let open = udp.in_state(UdpPortState::Open);
    if !must_answer.is_empty() {
        let silent: Vec<u16> = must_answer
            .iter()
            .copied()
            .filter(|p| !open.contains(p))
            .collect();
        return (!silent.is_empty()).then(|| {
            format!(
                "declared UDP services on {silent:?} did not answer their probes: the UDP probes may not have reached the board"
            )
        });
    }
    (open.is_empty() && udp.in_state(UdpPortState::Closed).is_empty()).then(|| {
        "no UDP probe came back (no answer, no ICMP port unreachable): the UDP probes may not have reached the board".to_string()
    })
}

/// The UDP part of the observation.
fn udp_observed(udp: &UdpScan, declared: &[u16], host_wide: &[u16]) -> String {
    let list = |state: UdpPortState| -> Vec<String> {
        udp.ports
            .iter()
            .filter(|p| p.state == state)
            .map(|p| format!("{}/{}", p.port, p.protocol))
            .collect()
    };
    let answered: Vec<String> = udp
        .ports
        .iter()
        .filter(|p| p.state == UdpPortState::Open)
        .map(|p| {
            format!(
                "udp/{} {}{}: {}",
                p.port,
                p.protocol,
                if host_wide.contains(&p.port) {
                    " (host-wide, ignored)"
                } else if declared.contains(&p.port) {
                    " (declared)"
                } else {
                    ""
                },
                p.summary.as_deref().unwrap_or("answered")
            )
        })
        .collect();
    format!(
        "UDP ({} ports probed in {} ms, {} rounds): answered: [{}]; closed (ICMP port unreachable): [{}]; open|filtered (no answer, no ICMP; a syslog or TFTP service may be silent): [{}]; declared: {declared:?}",
        udp.ports.len(),
        udp.elapsed_ms,
        udp.rounds,
        answered.join("; "),
        list(UdpPortState::Closed).join(", "),
        list(UdpPortState::OpenFiltered).join(", "),
    )
}
