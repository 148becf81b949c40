//! `undeclared-lockout`: the board file declares no lockout, yet the
//! device slows repeated failed logins (each failure after the second is
//! answered up to 3 s later, until a login succeeds) instead of locking
//! the account. AU-04 attacks it all the same (EN 303 645 5.1-5) and must
//! see the slowing; with the `no-lockout` flaw nothing slows it, and AU-04
//! FAILs.

use yaml_serde::Value;

use super::edit;
use super::BoardFileContext;

pub const NAME: &str = "undeclared-lockout";

pub fn board_file(doc: &mut Value, _ctx: &BoardFileContext) {
    edit::remove(doc, &["declares", "lockout"]);
}
