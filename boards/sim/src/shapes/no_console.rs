//! `no-console`: the lab has no access to the device's serial console (a
//! camera on the rack: its UART, if any, is not wired). The device is the
//! same (the simulator's PTY stays, unused); the board file a lab writes has
//! no `hardware.serial`, no `declares.console`, and no resource that is
//! reached only through the console: console identity, configuration,
//! state, event log and factory reset dialogues, SMP on the serial line and
//! console update or read-back. What remains is what the device offers over
//! its network side (its API), so every check must reach it there.
//!
//! Combine it with `http-api` (and `http-upload-only`) for a camera whose
//! one way in is its plain-HTTP API.

use yaml_serde::Value;

use super::edit;
use super::BoardFileContext;

pub const NAME: &str = "no-console";

pub fn board_file(doc: &mut Value, _ctx: &BoardFileContext) {
    edit::remove(doc, &["hardware", "serial"]);
    edit::remove(doc, &["declares", "console"]);
    label_keeps_its_pattern(doc);
    keep_list(doc, &["declares", "identity", "logical"], |e| {
        !has_key(e, "console")
    });
    for (parent, key) in [
        (&["declares", "state"][..], "console"),
        (&["declares", "state"][..], "version_console"),
        (&["declares", "configuration"][..], "console"),
        (&["declares", "logging", "event_log"][..], "console"),
        (&["declares", "logging", "event_log"][..], "console_clear"),
        (&["declares", "factory_reset"][..], "console"),
    ] {
        let mut path = parent.to_vec();
        path.push(key);
        edit::remove(doc, &path);
    }
    // The console's update path and read-back go with it; SMP read-back
    // stays only where SMP has a network path.
    keep_list(doc, &["declares", "update", "paths"], |e| {
        e.as_str() != Some("smp-serial") && !has_key(e, "smp-serial") && !has_key(e, "console")
    });
    let smp_udp = list(doc, &["declares", "update", "paths"])
        .iter()
        .any(|e| has_key(e, "smp-udp"));
    keep_list(doc, &["declares", "update", "read_back"], |e| {
        !has_key(e, "console") && (smp_udp || (e.as_str() != Some("smp") && !has_key(e, "smp")))
    });
    if list(doc, &["declares", "update", "read_back"]).is_empty() {
        // The status resource reports the running image.
        let state = edit::mapping(doc, &["declares", "state"]);
        if let Some(path) = state
            .get("http")
            .and_then(Value::as_str)
            .map(str::to_string)
        {
            edit::set(
                doc,
                &["declares", "update", "read_back"],
                edit::yaml(&format!(
                    "[ {{ http: {{ path: '{path}', version_field: version, sha256_field: image_sha256 }} }} ]"
                )),
            );
        }
    }
}

/// The label's identifier was found with the console identity source's
/// pattern; with that source gone, the label declares the pattern itself.
fn label_keeps_its_pattern(doc: &mut Value) {
    let pattern = list(doc, &["declares", "identity", "logical"])
        .iter()
        .find_map(|e| {
            e.get("console")?
                .get("pattern")?
                .as_str()
                .map(str::to_string)
        });
    let Some(pattern) = pattern else {
        return;
    };
    let identity = edit::mapping(doc, &["declares", "identity"]);
    let physical = match identity.get("physical") {
        Some(Value::String(file)) => {
            let mut m = yaml_serde::Mapping::new();
            m.insert(Value::from("file"), Value::from(file.clone()));
            m
        }
        Some(Value::Mapping(m)) if !m.contains_key("identifier") => m.clone(),
        _ => return,
    };
    let mut physical = physical;
    physical.insert(Value::from("identifier"), Value::from(pattern));
    identity.insert(Value::from("physical"), Value::Mapping(physical));
}

fn has_key(entry: &Value, key: &str) -> bool {
    entry.as_mapping().is_some_and(|m| m.contains_key(key))
}

fn list(doc: &mut Value, path: &[&str]) -> Vec<Value> {
    let Some((key, parents)) = path.split_last() else {
        return Vec::new();
    };
    match edit::mapping(doc, parents).get(*key) {
        Some(Value::Sequence(items)) => items.clone(),
        _ => Vec::new(),
    }
}

/// Keeps the entries of the list at `path` that `keep` accepts.
fn keep_list(doc: &mut Value, path: &[&str], keep: impl Fn(&Value) -> bool) {
    let Some((key, parents)) = path.split_last() else {
        return;
    };
    if let Some(Value::Sequence(items)) = edit::mapping(doc, parents).get_mut(*key) {
        items.retain(|e| keep(e));
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    fn shaped(shapes: &[&str]) -> String {
        let ctx = BoardFileContext {
            dir: "/run/hilt/sim-20".into(),
            index: 20,
            loopback: true,
        };
        let reference =
            crate::lifecycle::board_yaml_with(20, &ctx.dir, true, "k.pem", &[]).expect("reference");
        let shapes: Vec<String> = shapes.iter().map(|s| s.to_string()).collect();
        let shapes = validate(&shapes).expect("known shapes");
        board_file(&reference, &shapes, &ctx).expect("shaped")
    }

    #[test]
    fn a_camera_without_console_declares_only_its_api() {
        let text = shaped(&[super::NAME, HTTP_API, update::HTTP_UPLOAD_ONLY]);
        for gone in ["serial:", "console:", "console_clear", "smp", "/api/v1"] {
            assert!(!text.contains(gone), "{gone} left in:\n{text}");
        }
        assert!(text.contains("/cgi-bin/firmware-upload.cgi"), "{text}");
        assert!(text.contains("path: /cgi-bin/status.cgi"), "{text}");
        assert!(text.contains("/cgi-bin/identity.cgi"), "{text}");
        // The label's identifier keeps the console source's pattern.
        assert!(
            text.contains("identifier: device_id: (\\S+)")
                || text.contains("identifier: 'device_id: (\\S+)'"),
            "{text}"
        );
    }

    #[test]
    fn without_an_update_shape_the_status_resource_reads_back() {
        let text = shaped(&[super::NAME]);
        assert!(!text.contains("smp-serial"), "{text}");
        assert!(text.contains("version_field: version"), "{text}");
        assert!(!text.contains("console:"), "{text}");
    }
}
