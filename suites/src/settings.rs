//! The device's settings, read and written through whatever the board file
//! declares: the console's configuration dialogues when a console is wired,
//! else the configuration resource of its API. Checks that change a
//! setting and put it back call this, never a transport; every change
//! registers its undo step (the console's or the API's) on first write.

use std::time::{Duration, Instant};

use hilt_harness::board::{Board, ConsoleDecl};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::api::ApiClient;
use hilt_harness::transport::power::PowerAction;
use hilt_harness::{Applicability, CheckError};
use hilt_net::http::HttpRequest;

use crate::api::{self, Auth};
use crate::console;

/// How long the API may take to answer again after a power cycle.
const BOOT: Duration = Duration::from_secs(60);

/// An open way to the settings.
pub enum Settings {
    /// Logged in at the console (its configuration dialogues).
    Console(Box<ConsoleDecl>),
    /// The API's configuration resource at `path`.
    Api {
        target: Box<ApiClient>,
        path: String,
    },
}

fn console_route(board: &Board) -> bool {
    board.spec.hardware.serial.is_some()
        && board.spec.declares.console.is_some()
        && board
            .spec
            .declares
            .configuration
            .as_ref()
            .is_some_and(|c| c.console.is_some())
}

fn api_route(board: &Board) -> Option<String> {
    let path = board
        .spec
        .declares
        .configuration
        .as_ref()?
        .http
        .as_ref()?
        .path
        .clone();
    matches!(api::needs_api(board), Applicability::Applicable).then_some(path)
}

/// Applicable when settings can be read and written: console dialogues on
/// a wired console, or a configuration resource on an API.
pub fn applicable(board: &Board) -> Applicability {
    if console_route(board) || api_route(board).is_some() {
        return Applicability::Applicable;
    }
    Applicability::not_applicable(
        "no way to change a setting: neither configuration dialogues on a wired console (declares.configuration.console) nor a configuration resource on an API (declares.configuration.http)",
        &[
            "declares.configuration.console",
            "declares.configuration.http",
        ],
    )
}

/// Whether the board can be restarted by hilt (power control, or the
/// console's reboot dialogue when the settings are on the console).
pub fn can_restart(board: &Board) -> bool {
    if console_route(board) {
        console::can_restart(board)
    } else {
        board.spec.hardware.power.is_some()
    }
}

impl Settings {
    /// Opens the declared way (logging in at the console if that is it).
    pub fn open(ctx: &mut CheckContext) -> Result<Self, CheckError> {
        if console_route(ctx.board()) {
            return Ok(Settings::Console(Box::new(console::open_shell(ctx)?)));
        }
        let path = api_route(ctx.board()).ok_or_else(|| {
            CheckError::Harness(
                "no way to change a setting declared; applicability should have excluded this check"
                    .into(),
            )
        })?;
        Ok(Settings::Api {
            target: Box::new(api::for_config(ctx)?),
            path,
        })
    }

    pub fn get(&self, ctx: &mut CheckContext, param: &str) -> Result<String, CheckError> {
        match self {
            Settings::Console(decl) => console::config_get(ctx, decl, param),
            Settings::Api { target, path } => api::config_value(ctx, target, path, param),
        }
    }

    /// Writes `param`; the device's answer. The first change registers the
    /// undo step that puts the original value back.
    pub fn set(
        &self,
        ctx: &mut CheckContext,
        param: &str,
        value: &str,
    ) -> Result<String, CheckError> {
        match self {
            Settings::Console(decl) => console::config_set(ctx, decl, param, value),
            Settings::Api { target, path } => {
                let key = format!("api-setting:{param}");
                if ctx.undo_accepting() && !ctx.undo_keys().any(|k| k == key) {
                    let original = api::config_value(ctx, target, path, param)?;
                    api::undo_config_write(ctx, target, path, param, &original);
                }
                let body = serde_json::json!({ param: value });
                let request = HttpRequest::put(path.clone()).json(&body);
                let response = api::send(ctx, target, request, Auth::Declared)?;
                if !(200..300).contains(&response.status) {
                    return Err(CheckError::Board(format!(
                        "authorized PUT {path} {{{param}}} answered {}",
                        response.status
                    )));
                }
                Ok(format!("{} {}", response.status, response.text().trim()))
            }
        }
    }

    /// Sets `param` and verifies it by reading it back.
    pub fn set_verified(
        &self,
        ctx: &mut CheckContext,
        param: &str,
        value: &str,
    ) -> Result<(), CheckError> {
        match self {
            Settings::Console(decl) => console::config_set_verified(ctx, decl, param, value),
            Settings::Api { .. } => {
                let answer = self.set(ctx, param, value)?;
                let read = self.get(ctx, param)?;
                if read == value {
                    Ok(())
                } else {
                    Err(CheckError::Board(format!(
                        "setting {param} to {value:?} as an authorized user did not take (answer {answer:?}, reads {read:?})"
                    )))
                }
            }
        }
    }

    /// Ends a console session (the API needs nothing).
    pub fn close(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        match self {
            Settings::Console(decl) => console::close_shell(ctx, decl),
            Settings::Api { .. } => Ok(()),
        }
    }

    /// Opens the way again after [`Settings::close`].
    pub fn reopen(&self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        match self {
            Settings::Console(_) => console::open_shell(ctx).map(|_| ()),
            Settings::Api { .. } => Ok(()),
        }
    }

    /// Restarts the board (closed), and reopens the way once it is back:
    /// the API when `param` can be read again.
    pub fn restart(&self, ctx: &mut CheckContext, param: &str) -> Result<(), CheckError> {
        match self {
            Settings::Console(decl) => {
                console::restart(ctx, decl)?;
                self.reopen(ctx)
            }
            Settings::Api { path, .. } => {
                ctx.power(PowerAction::Cycle)?;
                // The device may still answer before it goes down.
                ctx.sleep(Duration::from_secs(2))?;
                let until = Instant::now() + BOOT;
                loop {
                    match self.get(ctx, param) {
                        Ok(_) => return Ok(()),
                        Err(CheckError::Board(_)) if Instant::now() < until => {
                            ctx.sleep(Duration::from_secs(1))?;
                        }
                        Err(CheckError::Board(why)) => {
                            return Err(CheckError::Board(format!(
                                "{path} did not answer within {}s of a power cycle: {why}",
                                BOOT.as_secs()
                            )))
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}
