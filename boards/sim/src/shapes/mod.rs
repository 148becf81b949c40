//! Device shapes: the simulated board dressed as another kind of product.
//!
//! hilt is for devices it did not build, and devices differ in how they are
//! reached: a camera with a plain-HTTP API and firmware upload, a
//! serial-only sensor whose console needs no login, a gateway whose TLS
//! client calls a fixed cloud address. A shape changes the firmware's
//! behaviour (it is recorded in the image manifest, like a product line)
//! and the board file `up` writes for the board, so that file is what a
//! lab would write for such a device. Shapes combine with each other and
//! with flaws: `hilt-sim up --shape NAME --flaw NAME`.
//!
//! Adding a shape: one entry in [`SHAPES`], one module here whose
//! `board_file` edits the generated board file, and the behaviour in the
//! device behind `Manifest::has_shape`.

use yaml_serde::Value;

pub mod fixed_telemetry;
mod form_login_api;
mod http_api;
pub mod second_tls_client;

/// A camera-like device: its API over plain HTTP, camera-style paths,
/// Digest authentication with an account of its own.
pub const HTTP_API: &str = "http-api";
/// A web-managed device: its HTTPS API behind a login form and a session
/// cookie.
pub const FORM_LOGIN_API: &str = "form-login-api";
pub mod update;

/// One shape: its name, what kind of device it makes, and how it changes
/// the board file a lab writes for the board.
pub struct Shape {
    pub name: &'static str,
    pub summary: &'static str,
    /// Edits the generated board file (parsed YAML) for this shape.
    pub board_file: fn(&mut Value, &BoardFileContext),
}

/// What a shape's board-file edit may need to know.
pub struct BoardFileContext {
    /// The board's runtime folder (absolute).
    pub dir: std::path::PathBuf,
    pub index: u32,
    pub loopback: bool,
}

pub mod no_console;
pub mod open_console;
pub mod rotating_label;
pub mod undeclared_lockout;

/// Every shape the simulator knows.
pub const SHAPES: &[Shape] = &[Shape {
    name: HTTP_API,
    summary: "camera-like: the API over plain HTTP on tcp/80 (loopback 10080) only, under /cgi-bin/*.cgi, HTTP Digest as `operator` (own password)",
    board_file: http_api::board_file,
}, Shape {
    name: fixed_telemetry::NAME,
    summary: "the TLS telemetry client calls a server fixed in the firmware (198.18.<i>.10:8883), not a setting",
    board_file: fixed_telemetry::board_file,
}, Shape {
    name: FORM_LOGIN_API,
    summary: "web-managed: the HTTPS API authenticates with a login form (POST /login) and a SESSIONID cookie, not HTTP Basic",
    board_file: form_login_api::board_file,
}, Shape {
    name: open_console::NAME,
    summary: "serial-only sensor: console without login at `sensor# `, no network",
    board_file: open_console::board_file,
}, Shape {
    name: rotating_label::NAME,
    summary: "per-unit password on the label (`PW: ...`), new after a factory reset; interactive passwd, `system restart`, `system factory-reset`",
    board_file: rotating_label::board_file,
}, Shape {
    name: undeclared_lockout::NAME,
    summary: "board file declares no lockout; the device slows repeated failed logins",
    board_file: undeclared_lockout::board_file,
},
    Shape {
        name: update::CONSOLE_UPLOAD,
        summary: "update only through a console command taking base64 chunks (no SMP)",
        board_file: update::console_upload,
    },
    Shape {
        name: update::SMP_UDP_UPDATE,
        summary: "update only through MCUmgr SMP over UDP port 1337 (no SMP on the console)",
        board_file: update::smp_udp_update,
    },
    Shape {
        name: update::HTTP_UPLOAD_ONLY,
        summary: "update only through a multipart HTTPS upload; read back from the status resource",
        board_file: update::http_upload_only,
    },
    Shape {
        name: no_console::NAME,
        summary: "the lab has no access to the console: no hardware.serial, no declares.console, no console-only resource in the board file (the device is unchanged)",
        board_file: no_console::board_file,
    },
    Shape {
        name: second_tls_client::NAME,
        summary: "a second TLS client, an update check (purpose ota-check) calling a server fixed in the firmware (198.18.<i>.11:8443) every 3 s, beside telemetry",
        board_file: second_tls_client::board_file,
    },
];

pub fn find(name: &str) -> Option<&'static Shape> {
    SHAPES.iter().find(|s| s.name == name)
}

/// Checks shape names; sorted and without repeats.
pub fn validate(names: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for n in names {
        if find(n).is_none() {
            let known: Vec<&str> = SHAPES.iter().map(|s| s.name).collect();
            return Err(format!(
                "unknown shape {n:?} (known: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        out.push(n.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The board file for a board with `shapes`: the reference board file
/// (`reference`, YAML text) as each shape edits it. Without shapes the
/// reference text is returned unchanged (comments and layout kept).
pub fn board_file(
    reference: &str,
    shapes: &[String],
    ctx: &BoardFileContext,
) -> Result<String, String> {
    if shapes.is_empty() {
        return Ok(reference.to_string());
    }
    let mut doc: Value =
        yaml_serde::from_str(reference).map_err(|e| format!("reference board file: {e}"))?;
    for name in shapes {
        let shape = find(name).ok_or_else(|| format!("unknown shape {name:?}"))?;
        (shape.board_file)(&mut doc, ctx);
    }
    let body = yaml_serde::to_string(&doc).map_err(|e| format!("board file: {e}"))?;
    Ok(format!(
        "# Board file for simulated board sim-{} with shape(s) {}.\n# Generated by hilt-sim; the same shape a lab writes for such a device.\n{body}",
        ctx.index,
        shapes.join(", ")
    ))
}

/// Helpers for shapes' board-file edits: paths into the YAML mapping.
pub mod edit {
    use yaml_serde::{Mapping, Value};

    /// The mapping at `path` (created as empty mappings where missing).
    pub fn mapping<'a>(doc: &'a mut Value, path: &[&str]) -> &'a mut Mapping {
        let mut node = doc;
        for key in path {
            if !node.is_mapping() {
                *node = Value::Mapping(Mapping::new());
            }
            let Value::Mapping(map) = node else {
                unreachable!("made a mapping above")
            };
            node = map
                .entry(Value::from(*key))
                .or_insert_with(|| Value::Mapping(Mapping::new()));
        }
        if !node.is_mapping() {
            *node = Value::Mapping(Mapping::new());
        }
        match node {
            Value::Mapping(map) => map,
            _ => unreachable!("made a mapping above"),
        }
    }

    /// Sets `path` (the last element is the key) to `value`.
    pub fn set(doc: &mut Value, path: &[&str], value: impl Into<Value>) {
        let Some((key, parents)) = path.split_last() else {
            return;
        };
        mapping(doc, parents).insert(Value::from(*key), value.into());
    }

    /// Removes `path` (the last element is the key), if present.
    pub fn remove(doc: &mut Value, path: &[&str]) {
        let Some((key, parents)) = path.split_last() else {
            return;
        };
        mapping(doc, parents).remove(Value::from(*key));
    }

    /// Parses a YAML fragment (a shape's literal piece of board file).
    pub fn yaml(text: &str) -> Value {
        yaml_serde::from_str(text).unwrap_or_else(|e| panic!("shape's YAML fragment: {e}\n{text}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_shape_keeps_the_reference_text_and_unknown_shapes_are_refused() {
        let ctx = BoardFileContext {
            dir: "/run/hilt/sim-0".into(),
            index: 0,
            loopback: false,
        };
        let text = "# comment\nboard: sim-0\n";
        assert_eq!(board_file(text, &[], &ctx).as_deref(), Ok(text));
        let err = validate(&["no-such-shape".into()]).expect_err("an unknown shape is refused");
        assert!(err.contains("no-such-shape"), "{err}");
    }

    #[test]
    fn edits_reach_nested_keys() {
        let mut doc = edit::yaml("declares:\n  console: { prompt: 'sim> ' }\n");
        edit::set(&mut doc, &["declares", "console", "login"], "user: ");
        edit::remove(&mut doc, &["declares", "console", "prompt"]);
        edit::set(&mut doc, &["declares", "update", "mechanism"], "http");
        let text = yaml_serde::to_string(&doc).expect("yaml");
        assert!(text.contains("login: 'user: '"), "{text}");
        assert!(!text.contains("prompt"), "{text}");
        assert!(text.contains("mechanism: http"), "{text}");
    }
}
