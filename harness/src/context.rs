//! What a running check gets: its board, its parameters, its stop signal,
//! transports opened on demand, and an evidence sink. Transports opened
//! through the context leave their transcripts as evidence even when the
//! check fails or errs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::board::{Board, ConsoleDecl, Secret};
use crate::check::{CheckError, Finding};
use crate::evidence::EvidenceSink;
use crate::stop::StopSignal;
use crate::transport::power::{self, PowerAction};
use crate::transport::serial::Console;

/// Parameters a suite passes to a check (`params:` in the suite file).
pub type Params = BTreeMap<String, serde_json::Value>;

pub struct CheckContext {
    board: Arc<Board>,
    params: Params,
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
}

impl CheckContext {
    pub fn new(
        board: Arc<Board>,
        params: Params,
        stop: StopSignal,
        evidence: EvidenceSink,
    ) -> Self {
        Self {
            board,
            params,
            stop,
            evidence,
            console: None,
            identity: BTreeMap::new(),
            console_sessions: 0,
            generated_passwords: 0,
        }
    }

    pub fn board(&self) -> &Board {
        &self.board
    }

    pub fn stop(&self) -> &StopSignal {
        &self.stop
    }

    /// Gives the trial a fresh time budget (used for the restore step).
    pub fn renew_deadline(&mut self, budget: Duration) {
        self.stop = self.stop.renewed(budget);
        if let Some(console) = self.console.as_mut() {
            console.set_stop(self.stop.clone());
        }
    }

    pub fn evidence(&mut self) -> &mut EvidenceSink {
        &mut self.evidence
    }

    /// A parameter from the suite, or `default`.
    pub fn param_u64(&self, key: &str, default: u64) -> u64 {
        self.params
            .get(key)
            .and_then(|v| v.as_u64())
            .unwrap_or(default)
    }

    pub fn param_str(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(|v| v.as_str())
    }

    pub fn param_strings(&self, key: &str) -> Option<Vec<String>> {
        let list = self.params.get(key)?.as_array()?;
        Some(
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        )
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

    fn save_transcript(&mut self, console: &Console) -> Result<(), CheckError> {
        self.console_sessions += 1;
        let name = format!("console-{}.log", self.console_sessions);
        self.evidence.text(
            &name,
            "text/plain",
            "serial console transcript (+seconds, < from device, > to device)",
            &console.transcript(),
        )
    }

    /// Resolves a declared account's password.
    pub fn password(&self, account: &str) -> Result<Secret, CheckError> {
        self.board
            .account_password(account)
            .map_err(|e| CheckError::Harness(format!("secret for account {account:?}: {e}")))
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
        )
    }

    /// Switches power with the console open, so the boot log is captured
    /// from its first line (for consoles that outlive the board's power, as
    /// a UART adapter does).
    pub fn power_watching_console(&mut self, action: PowerAction) -> Result<(), CheckError> {
        self.console()?;
        power::switch(
            self.board.spec.hardware.power.as_ref(),
            self.board.base_dir(),
            action,
        )
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

    /// Sleeps, but not past the stop signal.
    pub fn sleep(&self, duration: Duration) -> Result<(), CheckError> {
        let until = self.stop.bound(duration);
        while std::time::Instant::now() < until {
            self.stop.check()?;
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop.check()
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
