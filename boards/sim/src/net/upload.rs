//! The firmware upload handler behind the API's upload routes: the image
//! is the raw request body (`POST /api/v1/firmware`) or the `firmware`
//! file field of a `multipart/form-data` body (`POST
//! /api/v1/firmware/upload`, shape `http-upload-only`). `?mode=test`
//! (default), `permanent` or `store` says how the image is to boot. The
//! core decides everything else (authentication, `updates_enabled`, a
//! well-formed header); the bootloader judges the image at the next boot.

use serde_json::Value;

use super::api::ApiContext;
use super::http::{Head, Response};
use crate::device_api::{InstallMode, UpdateError};

/// The form field that carries the image.
pub const FIELD: &str = "firmware";
/// Largest header block of one multipart part.
const MAX_PART_HEADERS: usize = 4096;

/// Installs the image in `body` (raw, or multipart when `multipart`).
pub fn install(
    ctx: &ApiContext,
    head: &Head,
    body: &[u8],
    multipart: bool,
    authenticated: bool,
    source: &str,
) -> Response {
    let mode = match head.query_param("mode").unwrap_or("test") {
        "test" => InstallMode::Test,
        "permanent" => InstallMode::Permanent,
        "store" => InstallMode::StoreOnly,
        _ => return Response::error(400, "Bad Request", "mode must be test, permanent or store"),
    };
    let image = if multipart {
        let Some(boundary) = head.header("content-type").and_then(boundary) else {
            return Response::error(
                400,
                "Bad Request",
                "expected Content-Type: multipart/form-data; boundary=...",
            );
        };
        match file_field(body, &boundary, FIELD) {
            Some(image) => image,
            None => {
                return Response::error(
                    400,
                    "Bad Request",
                    &format!("no `{FIELD}` file field in the form"),
                )
            }
        }
    } else {
        body
    };
    match ctx.api.upload_image(image, mode, authenticated, source) {
        Ok(o) => Response::json(
            202,
            "Accepted",
            &serde_json::to_value(&o).unwrap_or(Value::Null),
        ),
        Err(UpdateError::Unauthorized) => super::api::unauthorized(ctx),
        Err(e @ UpdateError::Malformed(_)) => Response::error(400, "Bad Request", &e.to_string()),
        Err(e @ UpdateError::TooLarge { .. }) => {
            Response::error(413, "Content Too Large", &e.to_string())
        }
        Err(e @ UpdateError::Disabled) => Response::error(403, "Forbidden", &e.to_string()),
    }
}

/// The boundary of a `multipart/form-data` content type.
fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    if !parts
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.trim().eq_ignore_ascii_case("boundary") && !v.is_empty() && v.len() <= 70)
            .then(|| v.to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The contents of the part named `field` (with a file name or without).
fn file_field<'a>(body: &'a [u8], boundary: &str, field: &str) -> Option<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let next = format!("\r\n--{boundary}");
    let mut rest = &body[find(body, delimiter.as_bytes())? + delimiter.len()..];
    loop {
        // After a delimiter: `--` ends the form, CRLF starts a part.
        if rest.starts_with(b"--") {
            return None;
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(&rest[..rest.len().min(MAX_PART_HEADERS)], b"\r\n\r\n")?;
        let headers = String::from_utf8_lossy(&rest[..head_end]).to_ascii_lowercase();
        let content = &rest[head_end + 4..];
        let end = find(content, next.as_bytes())?;
        let named = headers.lines().any(|l| {
            l.starts_with("content-disposition:")
                && l.split(';')
                    .any(|p| p.trim() == format!("name=\"{field}\""))
        });
        if named {
            return Some(&content[..end]);
        }
        rest = &content[end + next.len()..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_field_is_found_among_others() {
        let body = b"--B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--B\r\nContent-Disposition: form-data; name=\"firmware\"; filename=\"f.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\r\n\x02\r\n--B--\r\n";
        assert_eq!(
            file_field(body, "B", "firmware"),
            Some(&b"\x00\x01\r\n\x02"[..])
        );
        assert_eq!(file_field(body, "B", "note"), Some(&b"hello"[..]));
        assert_eq!(file_field(body, "B", "other"), None);
        assert_eq!(
            boundary("multipart/form-data; boundary=\"B\"").as_deref(),
            Some("B")
        );
        assert_eq!(boundary("application/octet-stream"), None);
    }

    #[test]
    fn hostile_forms_never_panic() {
        for body in [
            &b""[..],
            b"--B",
            b"--B\r\n",
            b"--B\r\n\r\n\r\n",
            b"--B\r\nContent-Disposition: form-data; name=\"firmware\"\r\n\r\nno end",
            b"--B--",
        ] {
            assert_eq!(file_field(body, "B", "firmware"), None);
        }
    }
}
