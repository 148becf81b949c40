//! Console steps several checks share: reach a shell with the declared
//! account, run a command, leave the console at its login prompt.

use std::time::Duration;

use hilt_harness::board::ConsoleDecl;
use hilt_harness::context::CheckContext;
use hilt_harness::transport::serial::{self, LoginOutcome};
use hilt_harness::CheckError;

pub const STEP: Duration = Duration::from_secs(5);

/// The account a check logs in with: the console's declared account, else
/// the first admin account.
pub fn account(ctx: &CheckContext) -> Result<String, CheckError> {
    let decl = &ctx.board().spec.declares;
    if let Some(account) = decl.console.as_ref().and_then(|c| c.account.clone()) {
        return Ok(account);
    }
    decl.accounts.keys().next().cloned().ok_or_else(|| {
        CheckError::Harness(
            "no account declared; applicability should have excluded this check".into(),
        )
    })
}

/// Logs in with the declared credentials. A console that will not let the
/// genuine account in cannot show that it refuses others: board fault.
pub fn open_shell(ctx: &mut CheckContext) -> Result<ConsoleDecl, CheckError> {
    let decl = ctx.console_decl()?;
    let user = account(ctx)?;
    let password = ctx.password(&user)?;
    let console = ctx.console()?;
    match serial::login(console, &decl, &user, &password, STEP)? {
        LoginOutcome::LoggedIn | LoginOutcome::NoLoginRequired => Ok(decl),
        LoginOutcome::Rejected(text) => Err(CheckError::Board(format!(
            "the declared account {user:?} could not log in on the console: {text:?}"
        ))),
    }
}

/// Runs a shell command (the console must be at its prompt).
pub fn run(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    command: &str,
) -> Result<String, CheckError> {
    let console = ctx.console()?;
    Ok(console.command(command, &decl.prompt, STEP)?)
}

/// Ends the session so the next check meets the login prompt.
pub fn close_shell(ctx: &mut CheckContext, decl: &ConsoleDecl) -> Result<(), CheckError> {
    let logout = decl.logout.clone();
    let console = ctx.console()?;
    console.send_line(&logout)?;
    let _ = console.drain(Duration::from_millis(100))?;
    Ok(())
}
