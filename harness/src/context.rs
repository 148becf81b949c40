//! What a running check gets: its board, its parameters, its stop signal,
//! transports opened on demand, and an evidence sink. Transports opened
//! through the context leave their transcripts as evidence even when the
//! check fails or errs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::board::{Board, ConsoleDecl, Secret};
use crate::evidence::EvidenceSink;
use crate::outcome::{CheckError, Finding};
use crate::params::ParamSpec;
use crate::stop::StopSignal;
use crate::transport::power::{self, PowerAction};
use crate::transport::serial::Console;

pub use crate::params::Params;

/// Puts back one change a check made to the device and verifies it by
/// reading it back; run by the runner after the check on every exit path.
pub type UndoAction = Box<dyn FnOnce(&mut CheckContext) -> Result<(), CheckError> + Send>;

/// One registered undo step.
pub struct UndoStep {
    /// Identifies the change (`setting:telnet_enabled`); a second
    /// registration under the same key keeps the first, which knows the
    /// original state.
    pub key: String,
    /// What the step puts back, for the record (`telnet_enabled back to "false"`).
    pub what: String,
    action: UndoAction,
}

impl UndoStep {
    pub fn run(self, ctx: &mut CheckContext) -> Result<(), CheckError> {
        (self.action)(ctx)
    }
}

pub struct CheckContext {
    board: Arc<Board>,
    params: Params,
    /// What the check declares it reads (`CheckMeta::params`).
    param_specs: &'static [ParamSpec],
    stop: StopSignal,
    evidence: EvidenceSink,
    console: Option<Console>,
    /// Identity values observed (device id, firmware version), copied into
    /// the record's board section.
    identity: BTreeMap<String, String>,
    /// Console sessions opened so far; each gets its own transcript file.
    console_sessions: u32,
    /// Passwords generated for this trial (the values stay in the scrubber).
    generated_passwords: usize,
    /// Changes to put back after the check, in the order they were made.
    undo: Vec<UndoStep>,
    /// False once the runner took the undo steps: changes made while
    /// undoing are not undone again.
    undo_open: bool,
}

impl CheckContext {
    pub fn new(
        board: Arc<Board>,
        params: Params,
        param_specs: &'static [ParamSpec],
        stop: StopSignal,
        evidence: EvidenceSink,
    ) -> Self {
        Self {
            board,
            params,
            param_specs,
            stop,
            evidence,
            console: None,
            identity: BTreeMap::new(),
            console_sessions: 0,
            generated_passwords: 0,
            undo: Vec::new(),
            undo_open: true,
        }
    }

    /// Registers how to put back a change the check is about to make to
    /// the device (before making it, so an error, panic, timeout or
    /// interruption halfway still has it undone). The runner runs the
    /// steps after the check, newest first, with a budget of their own.
    pub fn on_undo(
        &mut self,
        key: impl Into<String>,
        what: impl Into<String>,
        action: impl FnOnce(&mut CheckContext) -> Result<(), CheckError> + Send + 'static,
    ) {
        let key = key.into();
        if !self.undo_open || self.undo.iter().any(|s| s.key == key) {
            return;
        }
        self.undo.push(UndoStep {
            key,
            what: what.into(),
            action: Box::new(action),
        });
    }

    /// False while the runner runs the undo steps (changes made then are
    /// not undone again).
    pub fn undo_accepting(&self) -> bool {
        self.undo_open
    }

    /// Keys of the undo steps still registered.
    pub fn undo_keys(&self) -> impl Iterator<Item = &str> {
        self.undo.iter().map(|s| s.key.as_str())
    }

    /// The check put the change back itself (verified): nothing to undo.
    pub fn settle_undo(&mut self, key: &str) {
        self.undo.retain(|s| s.key != key);
    }

    /// Takes the registered steps, newest first, and closes registration.
    pub fn take_undo(&mut self) -> Vec<UndoStep> {
        self.undo_open = false;
        let mut steps = std::mem::take(&mut self.undo);
        steps.reverse();
        steps
    }

    pub fn board(&self) -> &Board {
        &self.board
    }

    pub fn stop(&self) -> &StopSignal {
        &self.stop
    }

    /// Gives the trial a fresh time budget that an interruption of the
    /// run does not cancel (for undo and restore steps after the check).
    pub fn renew_deadline_detached(&mut self, budget: Duration) {
        self.stop = self.stop.detached(budget);
        if let Some(console) = self.console.as_mut() {
            console.set_stop(self.stop.clone());
        }
    }

    pub fn evidence(&mut self) -> &mut EvidenceSink {
        &mut self.evidence
    }

    /// An integer parameter: the suite's value (validated when the suite
    /// was loaded) or the default the check declares in its metadata.
    pub fn param_u64(&self, key: &str) -> Result<u64, CheckError> {
        self.param(key)?
            .as_u64()
            .ok_or_else(|| CheckError::Harness(format!("parameter {key:?} is not an integer")))
    }

    /// A list-of-strings parameter, as [`CheckContext::param_u64`].
    pub fn param_strings(&self, key: &str) -> Result<Vec<String>, CheckError> {
        let value = self.param(key)?;
        let list = value
            .as_array()
            .ok_or_else(|| CheckError::Harness(format!("parameter {key:?} is not a list")))?;
        list.iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    CheckError::Harness(format!("parameter {key:?} holds a non-string"))
                })
            })
            .collect()
    }

    /// A parameter's value; reading one the check does not declare is a
    /// harness bug (the suite could never have set it).
    fn param(&self, key: &str) -> Result<serde_json::Value, CheckError> {
        let spec = self
            .param_specs
            .iter()
            .find(|s| s.name == key)
            .ok_or_else(|| {
                CheckError::Harness(format!(
                    "the check reads parameter {key:?} without declaring it in its metadata"
                ))
            })?;
        Ok(self
            .params
            .get(key)
            .cloned()
            .unwrap_or_else(|| spec.default_value()))
    }

    /// The console declaration, or a board fault if the board file has none.
    pub fn console_decl(&self) -> Result<ConsoleDecl, CheckError> {
        self.board.spec.declares.console.clone().ok_or_else(|| {
            CheckError::Harness(
                "check needs `declares.console`; applicability should have excluded it".into(),
            )
        })
    }

    /// The board's serial console, opened on first use.
    pub fn console(&mut self) -> Result<&mut Console, CheckError> {
        if self.console.is_none() {
            let wiring = self.board.spec.hardware.serial.as_ref().ok_or_else(|| {
                CheckError::Harness(
                    "check needs `hardware.serial`; applicability should have excluded it".into(),
                )
            })?;
            let mut console = Console::open(wiring, self.board.base_dir(), self.stop.clone())?;
            console.set_scrubber(self.evidence.scrubber().clone());
            self.console = Some(console);
            // A QEMU machine held at reset runs once someone watches.
            crate::transport::qemu::release_hold(self.board.name())
                .map_err(|e| CheckError::Board(e.to_string()))?;
        }
        self.console
            .as_mut()
            .ok_or_else(|| CheckError::Harness("console vanished".into()))
    }

    /// Closes the console (saving its transcript so far), e.g. before a
    /// power cycle that replaces the device's PTY.
    pub fn close_console(&mut self) -> Result<(), CheckError> {
        if let Some(console) = self.console.take() {
            self.save_transcript(&console)?;
        }
        Ok(())
    }

    /// Marks the last line of the open console's transcript (what the
    /// console showed last) as where the check's observation is: call it
    /// right after the console showed what decides the verdict.
    pub fn locate_on_console(&mut self) {
        if let Some(console) = &self.console {
            let line = console.transcript().lines().count() as u64;
            let name = Self::transcript_name(self.console_sessions + 1);
            self.evidence
                .locate(&name, crate::evidence::Locator::Line(line.max(1)));
        }
    }

    fn transcript_name(session: u32) -> String {
        format!("console-{session}.log")
    }

    fn save_transcript(&mut self, console: &Console) -> Result<(), CheckError> {
        self.console_sessions += 1;
        let name = Self::transcript_name(self.console_sessions);
        self.evidence.text(
            &name,
            "text/plain",
            "serial console transcript (+seconds, < from device, > to device)",
            &console.transcript(),
        )?;
        Ok(())
    }

    /// Resolves a declared account's password.
    pub fn password(&self, account: &str) -> Result<Secret, CheckError> {
        self.board
            .account_password(account)
            .map_err(|e| CheckError::Harness(format!("secret for account {account:?}: {e}")))
    }

    /// Resolves a declared account's password again (a label's may have
    /// rotated at a factory reset) and adds the value to the secrets this
    /// trial's evidence and console transcript are scrubbed of.
    pub fn reread_password(&mut self, account: &str) -> Result<Secret, CheckError> {
        let secret = self.password(account)?;
        self.evidence.add_secret(&secret);
        if let Some(console) = self.console.as_mut() {
            console.set_scrubber(self.evidence.scrubber().clone());
        }
        Ok(secret)
    }

    /// A new random password for a check that sets a credential on the
    /// device (AU-03, CF-05): 20 letters and digits, at least one of each
    /// kind, from the operating system's random source. A fixed password
    /// would be known to anyone who read hilt's source, and would stay on
    /// a board a failed restore left changed. The value is added to the
    /// secrets this trial's evidence, console transcript and record are
    /// scrubbed of; the record says that one was generated, never what.
    pub fn new_password(&mut self) -> Result<Secret, CheckError> {
        let secret = crate::board::Secret::generated(20).map_err(|e| {
            CheckError::Harness(format!("no random source for a new password: {e}"))
        })?;
        self.evidence.add_secret(&secret);
        if let Some(console) = self.console.as_mut() {
            console.set_scrubber(self.evidence.scrubber().clone());
        }
        self.generated_passwords += 1;
        Ok(secret)
    }

    /// Scrubs a check's result of every secret of the trial, generated
    /// ones included, and notes generated passwords in it. Device text in
    /// a finding or error is scrubbed here, before the runner renders it.
    pub fn scrub_outcome(
        &self,
        result: Result<Finding, CheckError>,
    ) -> Result<Finding, CheckError> {
        let scrubber = self.evidence.scrubber();
        let note = match self.generated_passwords {
            0 => None,
            1 => Some("a random password generated for this run (value not recorded)".to_string()),
            n => Some(format!(
                "{n} random passwords generated for this run (values not recorded)"
            )),
        };
        match result {
            Ok(mut finding) => {
                finding.scrub(scrubber);
                if let Some(note) = note {
                    finding
                        .measurements
                        .insert("generated_password".into(), note);
                }
                Ok(finding)
            }
            Err(err) => {
                let err = err.map_text(|text| {
                    let text = scrubber.scrub_text(&text);
                    match &note {
                        Some(note) => format!("{text}; {note}"),
                        None => text,
                    }
                });
                Err(err)
            }
        }
    }

    pub fn power(&mut self, action: PowerAction) -> Result<(), CheckError> {
        self.close_console()?;
        power::switch(
            self.board.spec.hardware.power.as_ref(),
            self.board.base_dir(),
            action,
        )?;
        Ok(())
    }

    /// Switches power with the console open, so the boot log is captured
    /// from its first line (for consoles that outlive the board's power, as
    /// a UART adapter does).
    pub fn power_watching_console(&mut self, action: PowerAction) -> Result<(), CheckError> {
        if self.board.spec.hardware.qemu.is_some() {
            // A QEMU board's PTY is new after each start: the console opens
            // after it (a machine with `hold_until_console` waits for it).
            self.power(action)?;
            self.console()?;
            return Ok(());
        }
        self.console()?;
        power::switch(
            self.board.spec.hardware.power.as_ref(),
            self.board.base_dir(),
            action,
        )?;
        Ok(())
    }

    /// Offline access to the board's flash (write only while powered off).
    pub fn flash(&self) -> Result<crate::transport::flash::OfflineFlash, CheckError> {
        let wiring = self.board.spec.hardware.flash.as_ref().ok_or_else(|| {
            CheckError::Harness("the board file declares no flash access (hardware.flash)".into())
        })?;
        Ok(crate::transport::flash::OfflineFlash::new(
            wiring,
            self.board.base_dir(),
        ))
    }

    /// Records an identity value for the run record's board section.
    pub fn observe_identity(&mut self, key: &str, value: &str) {
        let value = self.evidence.scrubber().scrub_text(value);
        self.identity.insert(key.to_string(), value);
    }

    /// Records an identity value unless this trial already recorded one
    /// under `key` (a value as first seen, e.g. the image before a change).
    pub fn observe_identity_once(&mut self, key: &str, value: &str) {
        if !self.identity.contains_key(key) {
            self.observe_identity(key, value);
        }
    }

    /// Sleeps, but not past the stop signal.
    pub fn sleep(&self, duration: Duration) -> Result<(), CheckError> {
        self.stop
            .set_waiting(format!("a pause of {} s", duration.as_secs_f64()));
        let until = self.stop.bound(duration);
        while std::time::Instant::now() < until {
            self.stop.check()?;
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(self.stop.check()?)
    }

    /// Ends the trial: saves open transports' transcripts and returns the
    /// evidence list and observed identity.
    pub fn finish(
        mut self,
    ) -> (
        Vec<hilt_reports::EvidenceRecord>,
        BTreeMap<String, String>,
        Option<CheckError>,
    ) {
        let saved = self.close_console().err();
        (self.evidence.into_records(), self.identity, saved)
    }
}
