//! `rotating-label`: each unit's admin password is printed on its label in
//! the label's own layout (`S/N: ...`, `PW: ...` among other lines), and a
//! factory reset gives the unit a new one (the label shows it after the
//! reset). The product's own shell commands: an interactive `passwd`
//! (`Old password:`, `New password:`, `Retype:`, then `passwd: password
//! updated`), `system restart`, and `system factory-reset`, which asks
//! `Type YES to erase everything:` first. `passwd NEW`, `reboot` and
//! `factory-reset` are unknown commands here.

use yaml_serde::Value;

use super::edit;
use super::BoardFileContext;

pub const NAME: &str = "rotating-label";

/// The label as printed for unit `uid` with password `password`.
pub fn label(uid: &str, password: &str) -> String {
    format!(
        "{}\nMfr: {}\nS/N: {uid}\nPW: {password}\nRated 5 V 1 A\n",
        crate::firmware::MODEL,
        crate::firmware::MANUFACTURER
    )
}

pub fn board_file(doc: &mut Value, ctx: &BoardFileContext) {
    let label = ctx.dir.join("label.txt");
    edit::set(
        doc,
        &["declares", "identity", "physical"],
        edit::yaml(&format!(
            "{{ file: '{}', identifier: 'S/N: (\\S+)', password: 'PW: (\\S+)', rotates_on_factory_reset: true }}",
            label.display()
        )),
    );
    edit::set(doc, &["declares", "accounts", "admin", "password"], "label");
    edit::set(
        doc,
        &["declares", "console", "change_password"],
        edit::yaml(
            "steps:\n  - { send: passwd, expect: 'Old password: ' }\n  - { send: '{old}', expect: 'New password: ' }\n  - { send: '{new}', expect: 'Retype: ' }\n  - { send: '{new}' }\nsuccess: 'passwd: password updated'\n",
        ),
    );
    edit::set(doc, &["declares", "console", "reboot"], "system restart");
    edit::set(
        doc,
        &["declares", "factory_reset", "console"],
        edit::yaml(
            "steps:\n  - { send: system factory-reset, expect: 'Type YES to erase everything: ' }\n  - { send: 'YES' }\n",
        ),
    );
}
