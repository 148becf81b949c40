//! Console steps several checks share: reach a shell with the declared
//! account, run a command, leave the console at its login prompt. The
//! dialogue itself is the console driver's (`hilt_harness::driver::console`).

use std::time::Duration;

use hilt_harness::board::{ConsoleDecl, Dialogue, Secret};
use hilt_harness::context::CheckContext;
use hilt_harness::driver::console::{self as dialogue, LoginOutcome};
use hilt_harness::driver::dialogues::{self, Ending, Fill, Said};
use hilt_harness::transport::serial;
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

/// Logs in with the declared credentials (a console declared without
/// login is only woken). A console that will not let the genuine account
/// in cannot show that it refuses others: board fault.
pub fn open_shell(ctx: &mut CheckContext) -> Result<ConsoleDecl, CheckError> {
    let decl = ctx.console_decl()?;
    if decl.login.is_none() {
        let console = ctx.console()?;
        if dialogue::wake(console, &decl, STEP)? != dialogue::AT_SHELL {
            return Err(CheckError::Board(
                "the console declares no login but did not show its shell prompt".into(),
            ));
        }
        return Ok(decl);
    }
    let user = account(ctx)?;
    let password = ctx.password(&user)?;
    let console = ctx.console()?;
    match dialogue::login(console, &decl, &user, &password, STEP)? {
        LoginOutcome::LoggedIn | LoginOutcome::NoLoginRequired => Ok(decl),
        LoginOutcome::Rejected(text) => Err(CheckError::Board(format!(
            "the declared account {user:?} could not log in on the console: {text:?}"
        ))),
    }
}

/// Runs a declared device dialogue at the shell prompt (the console must
/// be at it) with `fill` for its placeholders.
pub fn say(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    dialogue: &Dialogue,
    fill: &Fill,
) -> Result<Said, CheckError> {
    let console = ctx.console()?;
    Ok(dialogues::run(
        console,
        decl,
        dialogue,
        fill,
        Ending::Prompt,
        STEP,
    )?)
}

/// The output of a declared dialogue without placeholders (a log, the
/// state, the identity).
pub fn ask(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    dialogue: &Dialogue,
) -> Result<String, CheckError> {
    Ok(say(ctx, decl, dialogue, &Fill::default())?.output)
}

/// The console's declared password-change dialogue.
pub fn change_password_dialogue(decl: &ConsoleDecl) -> Result<Dialogue, CheckError> {
    decl.change_password.clone().ok_or_else(|| {
        CheckError::Harness(
            "no password change declared (declares.console.change_password); applicability should have excluded this check"
                .into(),
        )
    })
}

/// Changes the logged-in user's password from `old` to `new` with the
/// declared dialogue (the console must be at the shell prompt); what the
/// device said. Whether it took is for the caller to prove by logging in.
pub fn change_password(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    old: &Secret,
    new: &Secret,
) -> Result<Said, CheckError> {
    let dialogue = change_password_dialogue(decl)?;
    say(ctx, decl, &dialogue, &Fill::password(old, new))
}

/// What a password-change dialogue said, for findings.
pub fn said(said: &Said) -> String {
    let mut text = format!("{:?}", said.output);
    if !said.completed {
        text.push_str(" (back at the shell prompt before the dialogue was done)");
    }
    match said.success {
        Some(true) => text.push_str(" (success text shown)"),
        Some(false) => text.push_str(" (no success text)"),
        None => {}
    }
    text
}

/// Applicable when the console declares how a password is changed.
pub fn needs_password_dialogue(board: &hilt_harness::board::Board) -> hilt_harness::Applicability {
    match &board.spec.declares.console {
        Some(c) if c.change_password.is_some() => hilt_harness::Applicability::Applicable,
        _ => hilt_harness::Applicability::not_applicable(
            "the console declares no password change (declares.console.change_password)",
            &["declares.console.change_password"],
        ),
    }
}

/// Ends the session so the next check meets the login prompt.
pub fn close_shell(ctx: &mut CheckContext, decl: &ConsoleDecl) -> Result<(), CheckError> {
    let console = ctx.console()?;
    Ok(dialogue::logout(console, decl, Duration::from_secs(3))?)
}

/// Reads a configuration parameter with the declared console command.
pub fn config_get(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    param: &str,
) -> Result<String, CheckError> {
    let get = config_dialogues(ctx)?.0;
    let out = say(ctx, decl, &get, &Fill::setting(param, None))?.output;
    let line = out
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("");
    if line.to_ascii_lowercase().starts_with("error") {
        return Err(CheckError::Board(format!("reading {param}: {line}")));
    }
    // `param=value` or `param: value` or the bare value.
    let value = line
        .strip_prefix(param)
        .map(|rest| rest.trim_start_matches(['=', ':', ' ']))
        .unwrap_or(line);
    Ok(value.to_string())
}

/// Writes a configuration parameter with the declared console command;
/// returns the device's answer. The first change of a parameter registers
/// an undo step that puts its original value back (verified), so the
/// runner restores it on every exit path of the check.
pub fn config_set(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    param: &str,
    value: &str,
) -> Result<String, CheckError> {
    remember_setting(ctx, decl, param)?;
    let set = config_dialogues(ctx)?.1;
    Ok(say(ctx, decl, &set, &Fill::setting(param, Some(value)))?.output)
}

fn config_dialogues(ctx: &CheckContext) -> Result<(Dialogue, Dialogue), CheckError> {
    let console = ctx
        .board()
        .spec
        .declares
        .configuration
        .as_ref()
        .and_then(|c| c.console.clone())
        .ok_or_else(|| CheckError::Harness("no console configuration commands declared".into()))?;
    Ok((console.get, console.set))
}

/// Sets a parameter and verifies it by reading it back.
pub fn config_set_verified(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    param: &str,
    value: &str,
) -> Result<(), CheckError> {
    let answer = config_set(ctx, decl, param, value)?;
    let read = config_get(ctx, decl, param)?;
    if read == value {
        // Back at its original value: nothing left to undo.
        ctx.settle_undo(&setting_key(param, value));
        Ok(())
    } else {
        Err(CheckError::Board(format!(
            "setting {param} to {value:?} as an authorized user did not take (answer {answer:?}, reads {read:?})"
        )))
    }
}

/// Waits at the console for the login prompt after a reboot or reset.
pub fn await_boot(ctx: &mut CheckContext, decl: &ConsoleDecl) -> Result<String, CheckError> {
    let wanted = decl
        .login_pattern()
        .unwrap_or_else(|| decl.prompt_pattern());
    let boot = dialogue::boot_time(ctx.board());
    let console = ctx.console()?;
    match console.expect(&wanted, Duration::from_secs(5)) {
        Ok(found) => Ok(found.before),
        // The prompt came before the console was reopened: ask for it.
        Err(serial::SerialError::Timeout { tail, .. }) => {
            dialogue::wake(console, decl, boot.max(Duration::from_secs(30)))?;
            Ok(tail)
        }
        Err(e) => Err(e.into()),
    }
}

/// One login attempt from the login prompt; the outcome.
pub fn try_login(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    user: &str,
    password: &hilt_harness::board::Secret,
) -> Result<LoginOutcome, CheckError> {
    let console = ctx.console()?;
    Ok(dialogue::login(console, decl, user, password, STEP)?)
}

/// Power-cycles the board (or, when no power control is wired, logs in
/// and runs the declared reboot dialogue) and waits for it to boot.
pub fn restart(ctx: &mut CheckContext, decl: &ConsoleDecl) -> Result<String, CheckError> {
    if ctx.board().spec.hardware.power.is_some() {
        ctx.power(hilt_harness::transport::power::PowerAction::Cycle)?;
    } else {
        let reboot = decl.reboot.clone().ok_or_else(|| {
            CheckError::Board(
                "no power control (hardware.power) and no reboot dialogue (declares.console.reboot): the board cannot be restarted".into(),
            )
        })?;
        open_shell(ctx)?;
        restart_with(ctx, decl, &reboot)?;
    }
    await_boot(ctx, decl)
}

/// Runs a dialogue after which the device restarts (a reboot, a factory
/// reset), from the shell prompt; the caller waits for the boot.
pub fn restart_with(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    dialogue: &Dialogue,
) -> Result<(), CheckError> {
    let console = ctx.console()?;
    dialogues::run(
        console,
        decl,
        dialogue,
        &Fill::default(),
        Ending::Restart,
        STEP,
    )?;
    Ok(())
}

/// Whether the board can be restarted: power control, or a reboot dialogue.
pub fn can_restart(board: &hilt_harness::board::Board) -> bool {
    board.spec.hardware.power.is_some()
        || board
            .spec
            .declares
            .console
            .as_ref()
            .is_some_and(|c| c.reboot.is_some())
}

/// The undo key of a setting changed from `original`.
fn setting_key(param: &str, original: &str) -> String {
    format!("setting:{param}\n{original}")
}

/// Registers, before the first change of `param` in this check, the undo
/// step that puts its current value back.
fn remember_setting(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    param: &str,
) -> Result<(), CheckError> {
    let prefix = setting_key(param, "");
    if !ctx.undo_accepting() || ctx.undo_keys().any(|k| k.starts_with(&prefix)) {
        return Ok(());
    }
    let original = config_get(ctx, decl, param)?;
    let (decl, name, value) = (decl.clone(), param.to_string(), original.clone());
    ctx.on_undo(
        setting_key(param, &original),
        format!("{param} back to {original:?}"),
        move |ctx| {
            if decl.login.is_some() {
                let user = account(ctx)?;
                let password = ctx.password(&user)?;
                if let Err(text) = login_patiently(ctx, &decl, &[(&user, &password)])? {
                    return Err(CheckError::Board(format!(
                        "the declared account {user:?} could not log in to put {name} back: {text:?}"
                    )));
                }
            } else {
                open_shell(ctx)?;
            }
            config_set_verified(ctx, &decl, &name, &value)?;
            close_shell(ctx, &decl)
        },
    );
    Ok(())
}

/// Registers, before a check changes `user`'s password to `new`, the undo
/// step that brings the declared one back: verified by logging in with
/// it. The declared password is read again then (a label's may have
/// rotated at a factory reset).
pub fn undo_password_change(ctx: &mut CheckContext, user: &str, new: &Secret) {
    let (user, new) = (user.to_string(), new.clone());
    ctx.on_undo(
        format!("password:{user}"),
        format!("the password of {user:?} back to the declared one (logged in with it)"),
        move |ctx| {
            let decl = ctx.console_decl()?;
            let original = ctx.password(&user)?;
            let (user, original, new) = (&user, &original, &new);
            match login_patiently(ctx, &decl, &[(user, original), (user, new)])? {
                Ok(0) => {}
                Ok(_) => {
                    // In with the check's password: set the declared one back.
                    change_password(ctx, &decl, new, original)?;
                    close_shell(ctx, &decl)?;
                    let again = login_fresh(ctx, &decl, user, original)?;
                    if again != LoginOutcome::LoggedIn {
                        return Err(CheckError::Board(format!(
                            "after setting it back the declared password does not log in ({again:?})"
                        )));
                    }
                }
                Err(text) => {
                    return Err(CheckError::Board(format!(
                        "neither the declared password nor the check's new one logs in: {text:?}"
                    )))
                }
            }
            close_shell(ctx, &decl)
        },
    );
}

/// The undo key of a lock the guesses of a check may cause.
pub fn lock_key(user: &str) -> String {
    format!("lock:{user}")
}

/// Registers, before a check guesses `user`'s password, the undo step that
/// waits out the lock the guesses may cause: done when the declared
/// password logs in again. The check settles it when it saw that itself.
pub fn undo_lock(ctx: &mut CheckContext, user: &str) {
    let user = user.to_string();
    ctx.on_undo(
        lock_key(&user),
        format!("the lock on {user:?} waited out (the declared password logs in)"),
        move |ctx| {
            let decl = ctx.console_decl()?;
            let password = ctx.password(&user)?;
            if let Err(text) = login_patiently(ctx, &decl, &[(&user, &password)])? {
                return Err(CheckError::Board(format!(
                    "the declared account {user:?} still cannot log in after the guesses: {text:?}"
                )));
            }
            close_shell(ctx, &decl)
        },
    );
}

/// Logs in for an undo step with the first of `credentials` that works,
/// and says which one. A lockout the check provoked may still hold, so when
/// every one is refused it waits (3 s, then the declared lockout delay)
/// and tries again; after that, the last refusal.
fn login_patiently(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    credentials: &[(&str, &Secret)],
) -> Result<Result<usize, String>, CheckError> {
    let declared_delay = ctx
        .board()
        .spec
        .declares
        .lockout
        .as_ref()
        .and_then(|l| l.delay_s)
        .unwrap_or(0);
    // A lock the board file does not describe (AU-04 guesses anyway)
    // gets the longer waits AU-04 itself gives it.
    let pauses: &[u64] = if ctx.board().spec.declares.lockout.is_some() {
        &[0, 3, u64::from(declared_delay) + 1]
    } else {
        &[0, 3, 10, 30]
    };
    let mut refused = String::new();
    for &pause in pauses {
        ctx.sleep(Duration::from_secs(pause))?;
        for (index, (user, secret)) in credentials.iter().enumerate() {
            match login_fresh(ctx, decl, user, secret)? {
                LoginOutcome::Rejected(text) => refused = text,
                _ => return Ok(Ok(index)),
            }
        }
    }
    Ok(Err(refused))
}

/// A login attempt from wherever the console is: a shell left open by
/// the check is closed first, so the attempt really tests `password`.
fn login_fresh(
    ctx: &mut CheckContext,
    decl: &ConsoleDecl,
    user: &str,
    password: &Secret,
) -> Result<LoginOutcome, CheckError> {
    match try_login(ctx, decl, user, password)? {
        LoginOutcome::NoLoginRequired if decl.login.is_some() => {
            close_shell(ctx, decl)?;
            try_login(ctx, decl, user, password)
        }
        other => Ok(other),
    }
}
