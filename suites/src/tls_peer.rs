//! Bringing the device's TLS client to servers hilt runs: the strategy
//! DP-03, DP-04 and DP-06 share, chosen by the board file, never by them.
//!
//! - `server_parameter`: the server is a setting; hilt logs in on the
//!   console, shortens the client's interval (when that is a setting too),
//!   points the setting at each of its servers in turn, and puts both back.
//! - `server` with `takeover: address`: the server is fixed; hilt adds its
//!   address to the host side of the board's link for the trial and
//!   listens on it (removed afterwards on every exit path).
//! - `server` with `takeover: { redirect: { netns } }`: a DNAT rule in the
//!   board's namespace sends the client to this host's address on the
//!   link, re-aimed at each server; removed afterwards.
//!
//! A check asks where a server must listen ([`TlsPeer::listen_at`]),
//! starts it there, tells the peer ([`TlsPeer::point_at`]) and waits
//! for the client within [`TlsPeer::wait`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hilt_harness::board::{Board, Takeover, TlsClientDecl};
use hilt_harness::context::CheckContext;
use hilt_harness::transport::power::PowerAction;
use hilt_harness::{Applicability, CheckError};
use hilt_net::takeover::{self, AddressClaim, NatRedirect};
use hilt_net::{Link, Stop};

use crate::api;
use crate::settings::{self, Settings};

/// Above this interval (seconds) a client that connects at boot is
/// provoked by a power cycle rather than waited for.
const PROVOKE_ABOVE_S: u32 = 30;

/// How the client is brought to hilt, as the board file says.
enum Route {
    /// Its server is a setting, pointed at each server in turn.
    Setting {
        settings: Box<Settings>,
        parameter: String,
        /// The settings' values before the check: (parameter, value).
        originals: Vec<(String, String)>,
    },
    /// Its fixed server's address is added to the host side of the link.
    Address {
        claim: Option<AddressClaim>,
        /// The link with the claimed address as this host's, where the
        /// servers listen.
        listening: Option<Link>,
    },
    /// A DNAT rule in the board's namespace sends it to this host.
    Redirect {
        netns: String,
        rule: Option<NatRedirect>,
    },
}

/// The device's TLS client, brought to hilt's servers.
pub(crate) struct TlsPeer {
    route: Route,
    /// The board's link, for servers that listen on the host address.
    link: Link,
    /// The fixed server the client calls (takeover routes).
    fixed: Option<SocketAddr>,
    /// The longest wait for one connection, when the board file bounds it.
    wait_bound: Option<Duration>,
    /// Power-cycle the board after starting each server.
    provoke: bool,
}

/// Whether a check that meets `client` can run on `board`, and if not,
/// why and which field would let it.
pub(crate) fn applicability(board: &Board, client: &TlsClientDecl) -> Applicability {
    let network = board.spec.hardware.network.as_ref();
    match (&client.server_parameter, &client.takeover) {
        (Some(_), _) => {
            if network.and_then(|n| n.host_address).is_none() {
                return Applicability::not_applicable(
                    "no host address declared for rogue servers (hardware.network.host_address)",
                    &["hardware.network.host_address"],
                );
            }
            // The client is pointed at rogue servers through its setting.
            settings::applicable(board)
        }
        (None, Some(Takeover::Address)) => {
            let (Some(interface), Some(address)) = (
                network.and_then(|n| n.interface.as_deref()),
                client.fixed_address(),
            ) else {
                // The board file's validation refuses this; stay closed.
                return Applicability::not_applicable(
                    "the fixed server has no address to take over on the board's link",
                    &["declares.tls_clients[].server", "hardware.network.interface"],
                );
            };
            match takeover::on_link(interface, address.ip()) {
                Ok(_) => Applicability::Applicable,
                // An interface this host does not have: the run finds the
                // link down (INCONCLUSIVE), nothing to decide here.
                Err(_) if takeover::interface_prefixes(interface).is_ok_and(|p| p.is_empty()) => {
                    Applicability::Applicable
                }
                Err(e) => Applicability::not_applicable(
                    format!(
                        "the device's fixed server {address} cannot be taken over: {} (declares.tls_clients[].server); a server off the link needs `takeover: {{ redirect: {{ netns }} }}`",
                        match e {
                            hilt_net::NetError::Setup(why) => why,
                            e => e.to_string(),
                        }
                    ),
                    &["declares.tls_clients[].takeover"],
                ),
            }
        }
        (None, Some(Takeover::Redirect(_))) => Applicability::Applicable,
        (None, None) => Applicability::not_applicable(
            "the device's TLS client names neither a server setting nor a fixed server with a takeover",
            &[
                "declares.tls_clients[].server_parameter",
                "declares.tls_clients[].takeover",
            ],
        ),
    }
}

impl TlsPeer {
    /// Prepares the route the board file declares for `client`.
    pub(crate) fn start(
        ctx: &mut CheckContext,
        client: &TlsClientDecl,
    ) -> Result<Self, CheckError> {
        let link = api::listening_link(ctx)?;
        let interval = client.interval_s;
        let mut peer = TlsPeer {
            route: Route::Address {
                claim: None,
                listening: None,
            },
            link,
            fixed: client.fixed_address(),
            wait_bound: interval.map(|s| Duration::from_secs(2 * u64::from(s) + 5)),
            provoke: client.connects_at_boot
                && ctx.board().spec.hardware.power.is_some()
                && interval.is_none_or(|s| s > PROVOKE_ABOVE_S),
        };
        if peer.provoke {
            // A boot takes its time: wait for the boot's connection, not the interval.
            peer.wait_bound = None;
        }
        if let Some(parameter) = &client.server_parameter {
            let settings = Settings::open(ctx)?;
            let mut originals = vec![(parameter.clone(), settings.get(ctx, parameter)?)];
            if let Some(p) = &client.interval_parameter {
                // Every change registers the undo step that puts the
                // value back.
                originals.push((p.clone(), settings.get(ctx, p)?));
                settings.set_verified(ctx, p, "1")?;
            }
            peer.route = Route::Setting {
                settings: Box::new(settings),
                parameter: parameter.clone(),
                originals,
            };
            return Ok(peer);
        }
        let fixed = peer.fixed.ok_or_else(|| {
            CheckError::Harness("a fixed TLS server without an address to take over".into())
        })?;
        peer.route = match &client.takeover {
            Some(Takeover::Address) => {
                let claim = claim_address(ctx, &peer.link, fixed.ip())?;
                let listening = listening_on(&peer.link, claim.ip())?;
                Route::Address {
                    claim: Some(claim),
                    listening: Some(listening),
                }
            }
            Some(Takeover::Redirect(r)) => {
                let netns = r.netns.clone();
                let undo_netns = netns.clone();
                let family = family(fixed.ip());
                ctx.on_undo(
                    format!("takeover:redirect:{netns}"),
                    format!("the redirect of {fixed} removed from namespace {netns}"),
                    move |_| {
                        takeover::remove_redirect(&undo_netns, family).map_err(takeover_fault)
                    },
                );
                Route::Redirect { netns, rule: None }
            }
            None => {
                return Err(CheckError::Harness(
                    "a fixed TLS server without `takeover`; the board file's validation should have refused it".into(),
                ))
            }
        };
        Ok(peer)
    }

    /// The link and port a server must listen on for the client to reach
    /// it: the taken-over address and the fixed port, or this host's
    /// address on the link and any port.
    pub(crate) fn listen_at(&self) -> (Link, u16) {
        match (&self.route, self.fixed) {
            (
                Route::Address {
                    listening: Some(link),
                    ..
                },
                Some(fixed),
            ) => (link.clone(), fixed.port()),
            _ => (self.link.clone(), 0),
        }
    }

    /// Makes the client's next attempt go to `server` (listening where
    /// [`TlsPeer::listen_at`] said), and provokes it when the board file
    /// says a boot does.
    pub(crate) fn point_at(
        &mut self,
        ctx: &mut CheckContext,
        server: SocketAddr,
    ) -> Result<(), CheckError> {
        match &mut self.route {
            Route::Setting {
                settings,
                parameter,
                ..
            } => {
                settings.set_verified(ctx, parameter, &server.to_string())?;
            }
            Route::Address { .. } => {}
            Route::Redirect { netns, rule } => {
                let fixed = self.fixed.ok_or_else(|| {
                    CheckError::Harness("a redirect without a fixed server".into())
                })?;
                // One table per namespace: the previous rule goes first
                // (dropping it later would remove the new one).
                if let Some(previous) = rule.take() {
                    previous.release().map_err(takeover_fault)?;
                }
                *rule = Some(NatRedirect::install(netns, fixed, server).map_err(takeover_fault)?);
            }
        }
        if self.provoke {
            ctx.power(PowerAction::Cycle)?;
        }
        Ok(())
    }

    /// The bound on waiting for the client's next connection: twice its
    /// declared interval (plus 5 s), else the check's deadline.
    pub(crate) fn wait(&self, ctx: &CheckContext) -> Stop {
        let stop = api::stop(ctx);
        match self.wait_bound {
            Some(bound) => stop.within(bound),
            None => stop,
        }
    }

    /// What the peer reaches the client by, for reasons and evidence.
    pub(crate) fn describe(&self) -> String {
        match (&self.route, self.fixed) {
            (Route::Setting { parameter, .. }, _) => format!("the setting {parameter}"),
            (Route::Address { .. }, Some(f)) => {
                format!("its fixed server {f}, taken over on the board's link")
            }
            (Route::Redirect { netns, .. }, Some(f)) => {
                format!("its fixed server {f}, redirected in namespace {netns}")
            }
            _ => "its server".into(),
        }
    }

    /// Puts back what the route changed (settings, the address, the rule),
    /// verified, and leaves the console at its login prompt.
    pub(crate) fn restore(self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        match self.route {
            Route::Setting {
                settings,
                originals,
                ..
            } => {
                // Back as found before the check ends (this settles the
                // undo steps the changes registered).
                for (parameter, value) in &originals {
                    settings.set_verified(ctx, parameter, value)?;
                }
                settings.close(ctx)
            }
            Route::Address { claim, .. } => {
                if let Some(claim) = claim {
                    let (interface, ip) = (self.link.interface().map(str::to_string), claim.ip());
                    claim.release().map_err(takeover_fault)?;
                    if let Some(interface) = interface {
                        ctx.settle_undo(&address_key(&interface, ip));
                    }
                }
                Ok(())
            }
            Route::Redirect { netns, rule } => {
                match rule {
                    Some(rule) => rule.release(),
                    None => Ok(()),
                }
                .map_err(takeover_fault)?;
                ctx.settle_undo(&format!("takeover:redirect:{netns}"));
                Ok(())
            }
        }
    }
}

/// Adds `ip` to the host side of the link for the rest of the trial
/// (its lifetime covers the trial and the undo budget, so the kernel
/// drops it even if hilt is killed), with an undo step that removes it.
fn claim_address(
    ctx: &mut CheckContext,
    link: &Link,
    ip: IpAddr,
) -> Result<AddressClaim, CheckError> {
    let interface = link
        .interface()
        .ok_or_else(|| {
            CheckError::Harness(
                "`takeover: address` needs hardware.network.interface; the board file's validation should have refused it".into(),
            )
        })?
        .to_string();
    link.ensure_up().map_err(api::net_fault)?;
    let lifetime = ctx
        .stop()
        .deadline()
        .saturating_duration_since(Instant::now())
        + Duration::from_secs(120);
    let undo_interface = interface.clone();
    ctx.on_undo(
        address_key(&interface, ip),
        format!("the address {ip} removed from {interface}"),
        move |_| takeover::release_address(&undo_interface, ip).map_err(takeover_fault),
    );
    let claim = AddressClaim::take(&interface, ip, lifetime).map_err(takeover_fault)?;
    if !claim.added() {
        // This host held it already (loopback): nothing to remove.
        ctx.settle_undo(&address_key(&interface, ip));
    }
    Ok(claim)
}

fn address_key(interface: &str, ip: IpAddr) -> String {
    format!("takeover:address:{interface}:{ip}")
}

/// The link with `ip` as this host's address on it (where a server for
/// the taken-over address listens).
fn listening_on(link: &Link, ip: IpAddr) -> Result<Link, CheckError> {
    Link::new(link.board(), link.interface().map(str::to_string), Some(ip))
        .map_err(|e| CheckError::Harness(format!("listening on {ip}: {e}")))
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "ip"
    } else {
        "ip6"
    }
}

/// A takeover that could not be made or undone is this host's fault.
fn takeover_fault(e: hilt_net::NetError) -> CheckError {
    match e {
        e @ hilt_net::NetError::LinkDown(_) => CheckError::Board(e.to_string()),
        e => CheckError::Harness(format!("taking over the TLS client's server: {e}")),
    }
}
