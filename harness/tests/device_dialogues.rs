//! Device dialogues (`driver::dialogues`) against a scripted console peer
//! on a socket pair: an interactive `passwd` that asks for the old
//! password, the new one and again, a setting written with `{param}` and
//! `{value}`, and a factory reset that asks for confirmation and then
//! restarts. What we test is hilt's driver; the peer only plays a device.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hilt_harness::board::{ConsoleDecl, Dialogue, LineEnding, Secret};
use hilt_harness::driver::dialogues::{self, Ending, Fill};
use hilt_harness::stop::StopSignal;
use hilt_harness::transport::serial::Console;

const OLD: &str = "Old-secret-41";
const NEW: &str = "New-secret-97";
const STEP: Duration = Duration::from_secs(5);

/// What the peer saw: the password it ended with and the settings written.
#[derive(Default)]
struct Seen {
    password: String,
    settings: Vec<String>,
    reset: bool,
}

/// A console shell at `dev# ` with an interactive passwd, `config set`
/// and `system factory-reset` (asks `Type YES: `, then goes silent as a
/// rebooting device does). Echoes typed lines, never passwords.
fn peer(mut stream: UnixStream, seen: Arc<Mutex<Seen>>) {
    let mut state = "shell";
    let mut pending_new = String::new();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let say = |stream: &mut UnixStream, text: &str| {
        let _ = stream.write_all(text.as_bytes());
    };
    say(&mut stream, "\r\ndev# ");
    while let Ok(1) = stream.read(&mut byte) {
        if byte[0] != b'\r' {
            line.push(byte[0]);
            continue;
        }
        let text = String::from_utf8_lossy(&std::mem::take(&mut line)).into_owned();
        let mut seen = seen.lock().expect("lock");
        let secret = matches!(state, "old" | "new" | "retype");
        if !secret {
            say(&mut stream, &text);
        }
        say(&mut stream, "\r\n");
        state = match (state, text.as_str()) {
            ("shell", "passwd") => {
                say(&mut stream, "Old password: ");
                "old"
            }
            ("old", old) if old == seen.password => {
                say(&mut stream, "New password: ");
                "new"
            }
            ("old", _) => {
                say(&mut stream, "passwd: authentication failed\r\ndev# ");
                "shell"
            }
            ("new", new) => {
                pending_new = new.to_string();
                say(&mut stream, "Retype: ");
                "retype"
            }
            ("retype", again) => {
                if again == pending_new {
                    seen.password = pending_new.clone();
                    say(&mut stream, "passwd: password updated\r\ndev# ");
                } else {
                    say(&mut stream, "passwd: passwords do not match\r\ndev# ");
                }
                "shell"
            }
            ("shell", "system factory-reset") => {
                say(&mut stream, "Type YES: ");
                "confirm"
            }
            ("confirm", "YES") => {
                seen.reset = true;
                say(&mut stream, "erasing...\r\n");
                "rebooting"
            }
            ("shell", cmd) if cmd.starts_with("config set ") => {
                seen.settings.push(cmd["config set ".len()..].to_string());
                say(&mut stream, "ok\r\ndev# ");
                "shell"
            }
            ("rebooting", _) => "rebooting",
            _ => {
                say(&mut stream, "error: unknown command\r\ndev# ");
                "shell"
            }
        };
    }
}

fn start() -> (Console, Arc<Mutex<Seen>>) {
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    // Reads return when nothing comes, as the serial transports' do.
    ours.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("read timeout");
    let seen = Arc::new(Mutex::new(Seen {
        password: OLD.into(),
        ..Seen::default()
    }));
    let peer_seen = seen.clone();
    std::thread::spawn(move || peer(theirs, peer_seen));
    let mut console = Console::from_stream(
        ours,
        LineEnding::Cr,
        StopSignal::after(Duration::from_secs(60)),
    );
    // The first prompt, as the console driver's wake would consume it.
    console.expect("dev# ", STEP).expect("first prompt");
    (console, seen)
}

fn decl() -> ConsoleDecl {
    yaml_serde::from_str("{ prompt: 'dev# ' }").expect("console declaration")
}

fn passwd() -> Dialogue {
    yaml_serde::from_str(
        "steps:\n  - { send: passwd, expect: 'Old password: ' }\n  - { send: '{old}', expect: 'New password: ' }\n  - { send: '{new}', expect: 'Retype: ' }\n  - { send: '{new}' }\nsuccess: 'passwd: password updated'\n",
    )
    .expect("dialogue")
}

#[test]
fn an_interactive_password_change_runs_every_step_and_keeps_secrets_out_of_the_transcript() {
    let (mut console, seen) = start();
    let (old, new) = (Secret::from_guess(OLD), Secret::from_guess(NEW));
    let said = dialogues::run(
        &mut console,
        &decl(),
        &passwd(),
        &Fill::password(&old, &new),
        Ending::Prompt,
        STEP,
    )
    .expect("dialogue runs");
    assert!(said.completed, "{said:?}");
    assert_eq!(said.success, Some(true), "{said:?}");
    assert_eq!(seen.lock().expect("lock").password, NEW);
    let transcript = console.transcript();
    assert!(transcript.contains("> <old>"), "{transcript}");
    assert!(transcript.contains("> <new>"), "{transcript}");
    assert!(
        !transcript.contains(OLD) && !transcript.contains(NEW),
        "{transcript}"
    );
}

#[test]
fn a_refusal_half_way_ends_the_dialogue_at_the_shell_prompt() {
    let (mut console, seen) = start();
    let (wrong, new) = (
        Secret::from_guess("Not-the-old-one"),
        Secret::from_guess(NEW),
    );
    let said = dialogues::run(
        &mut console,
        &decl(),
        &passwd(),
        &Fill::password(&wrong, &new),
        Ending::Prompt,
        STEP,
    )
    .expect("dialogue runs");
    assert!(!said.completed, "{said:?}");
    assert_eq!(said.success, Some(false), "{said:?}");
    assert!(said.output.contains("authentication failed"), "{said:?}");
    assert_eq!(seen.lock().expect("lock").password, OLD);
    // The console is usable at once: the next dialogue runs.
    let said = dialogues::run(
        &mut console,
        &decl(),
        &Dialogue::Command("config set {param} {value}".into()),
        &Fill::setting("setpoint", Some("225")),
        Ending::Prompt,
        STEP,
    )
    .expect("next dialogue");
    assert_eq!(said.output, "ok");
    assert_eq!(seen.lock().expect("lock").settings, ["setpoint 225"]);
}

#[test]
fn a_reset_that_asks_first_is_confirmed_and_not_waited_on() {
    let (mut console, seen) = start();
    let reset: Dialogue = yaml_serde::from_str(
        "steps:\n  - { send: system factory-reset, expect: 'Type YES: ' }\n  - { send: 'YES' }\n",
    )
    .expect("dialogue");
    let started = std::time::Instant::now();
    dialogues::run(
        &mut console,
        &decl(),
        &reset,
        &Fill::default(),
        Ending::Restart,
        STEP,
    )
    .expect("dialogue runs");
    assert!(
        started.elapsed() < STEP,
        "waited for a prompt after the reset"
    );
    console.expect("erasing", STEP).expect("the device erases");
    assert!(seen.lock().expect("lock").reset);
}

#[test]
fn a_placeholder_the_check_does_not_fill_is_refused_before_anything_is_sent() {
    let (mut console, seen) = start();
    let err = dialogues::run(
        &mut console,
        &decl(),
        &Dialogue::Command("config set {param} {value}".into()),
        &Fill::setting("setpoint", None),
        Ending::Prompt,
        STEP,
    )
    .expect_err("no value given");
    assert!(err.to_string().contains("{value}"), "{err}");
    assert!(seen.lock().expect("lock").settings.is_empty());
}
