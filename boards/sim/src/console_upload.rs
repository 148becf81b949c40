//! Shape `console-upload`: the console takes a firmware image in base64
//! chunks, as serial-only devices and bootloader consoles do:
//!
//! - `fw-upload <offset> <base64>`: appends the chunk (offset 0 starts a new
//!   image; another offset must equal the bytes received) and answers
//!   `ok <bytes received>`;
//! - `fw-install`: stores the image in slot 1 for a test boot at the next
//!   reboot (`ok version X sha256 H`), through the same core as every path
//!   (authentication, `updates_enabled`, a well-formed header);
//! - `fw-confirm`: confirms the running image (`ok`).
//!
//! Refusals answer `error: ...`. The commands need a logged-in session
//! (only `console-upload-unauthenticated` takes them at the login prompt).

use base64::Engine as _;

use crate::device::Device;
use crate::device_api::{DeviceApi, InstallMode};
use crate::flash;

/// Largest image a console upload collects.
const MAX_IMAGE: usize = flash::SLOT_SIZE;

/// Whether `line` is a console upload command.
pub fn is_command(line: &str) -> bool {
    matches!(
        line.split_whitespace().next(),
        Some("fw-upload" | "fw-install" | "fw-confirm")
    )
}

/// Runs one upload command; the line to print.
pub fn run(dev: &Device, image: &mut Vec<u8>, line: &str, authenticated: bool) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["fw-upload", offset, chunk] => {
            let Ok(offset) = offset.parse::<usize>() else {
                return "error: offset is not a number".into();
            };
            if !authenticated {
                return "error: authentication required".into();
            }
            if offset == 0 {
                image.clear();
            }
            if offset != image.len() {
                return format!("error: expected offset {}", image.len());
            }
            let Ok(data) = base64::engine::general_purpose::STANDARD.decode(chunk) else {
                return "error: chunk is not base64".into();
            };
            if image.len() + data.len() > MAX_IMAGE {
                image.clear();
                return format!("error: image exceeds {MAX_IMAGE} bytes");
            }
            image.extend_from_slice(&data);
            format!("ok {}", image.len())
        }
        ["fw-install"] => {
            let taken = std::mem::take(image);
            if taken.is_empty() {
                return "error: no image uploaded".into();
            }
            match dev.upload_image(&taken, InstallMode::Test, authenticated, "console") {
                Ok(o) => format!(
                    "ok version {} sha256 {} (boots once at the next reboot; fw-confirm keeps it)",
                    o.version, o.image_sha256
                ),
                Err(e) => format!("error: {e}"),
            }
        }
        ["fw-confirm"] => match dev.confirm_running(authenticated, "console") {
            Ok(()) => "ok".into(),
            Err(e) => format!("error: {e}"),
        },
        _ => "error: usage: fw-upload <offset> <base64> | fw-install | fw-confirm".into(),
    }
}
