//! Preflight of what a board file points to: the label, images, keys,
//! certificates, the flash file and the account secrets. Each must exist,
//! be a regular file of bounded size and load (an image parses, a key
//! loads, a certificate is PEM) before anything is sent to the device, so a
//! broken reference is a setup fault (ERROR) found up front, never a board
//! fault found after the device was changed. `hilt board check` and the
//! run planner both use `Board::preflight`.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Board;
use crate::yaml::read_regular_file;

/// A file or secret named by the board file that checks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reference {
    /// `declares.identity.physical`: the transcribed label.
    Label,
    /// `declares.update.trusted_key`.
    TrustedKey,
    /// `declares.update.golden`: also what a destructive check restores.
    GoldenImage,
    /// `declares.update.candidate`.
    CandidateImage,
    /// `declares.update.older`.
    OlderImage,
    /// `declares.tls_clients[].test_ca` (certificate and key).
    TestCa,
    /// `declares.device_ca`: trust anchor of every HTTPS exchange.
    DeviceCa,
    /// `hardware.flash.file`.
    FlashFile,
    /// `declares.accounts.<name>.password`: used by every login.
    Secret,
}

impl Reference {
    /// Whether a check that lists no references still needs this one: the
    /// console login and the HTTPS trust anchor are used by most checks and
    /// by the restore after a destructive one, so a broken one stops them all.
    pub fn needed_by_every_check(self) -> bool {
        matches!(self, Self::Secret | Self::DeviceCa)
    }
}

/// One reference that is missing or does not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceProblem {
    pub reference: Reference,
    /// The board file.
    pub file: PathBuf,
    /// Dotted path of the field (`declares.update.golden`).
    pub field: String,
    pub message: String,
}

impl fmt::Display for ReferenceProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: field `{}`: {}",
            self.file.display(),
            self.field,
            self.message
        )
    }
}

/// Upper bounds for reading references (a label, key or certificate is
/// small; an image is at most a flash slot).
const SMALL_FILE: u64 = 1 << 20;
const IMAGE_FILE: u64 = super::MAX_FLASH_REGION;

impl Board {
    /// Every referenced file and secret that is missing or does not load.
    pub fn preflight(&self) -> Vec<ReferenceProblem> {
        let mut problems = Vec::new();
        let mut report = |reference, field: String, message: String| {
            problems.push(ReferenceProblem {
                reference,
                file: self.file.clone(),
                field,
                message,
            })
        };
        let decl = &self.spec.declares;
        if let Some(label) = decl.identity.as_ref().and_then(|i| i.physical.as_ref()) {
            if let Err(e) = self.check_file(label.file(), SMALL_FILE, check_label) {
                report(Reference::Label, "declares.identity.physical".into(), e);
            }
        }
        if let Some(update) = &decl.update {
            if let Some(key) = &update.trusted_key {
                if let Err(e) = self.check_file(key, SMALL_FILE, check_trusted_key) {
                    report(
                        Reference::TrustedKey,
                        "declares.update.trusted_key".into(),
                        e,
                    );
                }
            }
            let images = [
                (Reference::GoldenImage, "golden", &update.golden),
                (Reference::CandidateImage, "candidate", &update.candidate),
                (Reference::OlderImage, "older", &update.older),
            ];
            for (reference, name, path) in images {
                if let Some(path) = path {
                    if let Err(e) = self.check_file(path, IMAGE_FILE, check_image) {
                        report(reference, format!("declares.update.{name}"), e);
                    }
                }
            }
        }
        for (i, client) in decl.tls_clients.iter().enumerate() {
            if let Some(ca) = &client.test_ca {
                if let Err(e) = self.check_file(&ca.cert, SMALL_FILE, check_certificates) {
                    report(
                        Reference::TestCa,
                        format!("declares.tls_clients[{i}].test_ca.cert"),
                        e,
                    );
                }
                if let Err(e) = self.check_file(&ca.key, SMALL_FILE, check_private_key) {
                    report(
                        Reference::TestCa,
                        format!("declares.tls_clients[{i}].test_ca.key"),
                        e,
                    );
                }
            }
        }
        if let Some(ca) = &decl.device_ca {
            if let Err(e) = self.check_file(ca, SMALL_FILE, check_certificates) {
                report(Reference::DeviceCa, "declares.device_ca".into(), e);
            }
        }
        if let Some(flash) = &self.spec.hardware.flash {
            if let Err(e) = self.check_flash_file(&flash.file) {
                report(Reference::FlashFile, "hardware.flash.file".into(), e);
            }
        }
        for name in decl.accounts.keys() {
            if let Err(e) = self.account_password(name) {
                report(
                    Reference::Secret,
                    format!("declares.accounts.{name}.password"),
                    e.to_string(),
                );
            }
        }
        for (i, interface) in decl.interfaces.iter().enumerate() {
            if let Some(super::ApiAuth::Bearer(super::BearerDecl {
                token: Some(token), ..
            })) = interface.api.as_ref().map(|a| &a.auth)
            {
                if let Err(e) = token.resolve(self.base_dir()) {
                    report(
                        Reference::Secret,
                        format!("declares.interfaces[{i}].api.auth.bearer.token"),
                        e.to_string(),
                    );
                }
            }
        }
        problems
    }

    /// Reads `path` (relative to the board file) bounded and runs `load` on it.
    fn check_file(
        &self,
        path: &Path,
        limit: u64,
        load: fn(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        let full = self.resolve_path(path);
        let bytes =
            read_regular_file(&full, limit).map_err(|e| format!("{}: {e}", full.display()))?;
        load(&bytes).map_err(|e| format!("{}: {e}", full.display()))
    }

    /// The flash file is written while the board is off, so it must be a
    /// regular file hilt can read and write (its contents are the board's).
    fn check_flash_file(&self, path: &Path) -> Result<(), String> {
        let full = self.resolve_path(path);
        let shown = full.display();
        let meta = std::fs::metadata(&full).map_err(|e| format!("{shown}: cannot read: {e}"))?;
        if !meta.is_file() {
            return Err(format!("{shown}: cannot read: expected a regular file"));
        }
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&full)
            .map(|_| ())
            .map_err(|e| format!("{shown}: cannot open for reading and writing: {e}"))
    }
}

fn check_label(bytes: &[u8]) -> Result<(), String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("the label file is empty".into());
    }
    Ok(())
}

fn check_trusted_key(bytes: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not a PEM key (not text)".to_string())?;
    hilt_image::TrustedKey::from_pem(text)
        .map(|_| ())
        .map_err(|e| format!("not a usable PEM public key: {e}"))
}

fn check_image(bytes: &[u8]) -> Result<(), String> {
    hilt_image::Image::parse(bytes)
        .map(|_| ())
        .map_err(|e| format!("not an MCUboot image: {e}"))
}

fn check_certificates(bytes: &[u8]) -> Result<(), String> {
    hilt_net::pem::certificate_count(bytes).map(|_| ())
}

fn check_private_key(bytes: &[u8]) -> Result<(), String> {
    hilt_net::pem::check_private_key(bytes)
}
