//! `form-login-api`: a web-managed device. Its HTTPS API takes no HTTP
//! Basic: a client posts a login form to `/login` and sends the
//! `SESSIONID` cookie it gets back. The board file declares that login
//! on the HTTPS interface.

use yaml_serde::Value;

use super::edit;
use super::BoardFileContext;

pub fn board_file(doc: &mut Value, ctx: &BoardFileContext) {
    let https = crate::netglue::port(443, ctx.loopback);
    let api = edit::yaml(
        r#"{ auth: { form: { path: /login, user_field: username, password_field: password, cookie: SESSIONID, success: { status: 303 } } }, accounts: [admin] }"#,
    );
    // The HTTPS interface the other shapes leave in place (http-api
    // replaces it with its own plain-HTTP one).
    if let Some(Value::Sequence(interfaces)) =
        edit::mapping(doc, &["declares"]).get_mut(Value::from("interfaces"))
    {
        for interface in interfaces.iter_mut() {
            if let Value::Mapping(m) = interface {
                let port = m.get(Value::from("port")).and_then(Value::as_u64);
                if port == Some(u64::from(https)) {
                    m.insert(Value::from("api"), api.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    #[test]
    fn the_board_file_declares_a_form_login_on_https() {
        let ctx = BoardFileContext {
            dir: "/run/hilt/sim-25".into(),
            index: 25,
            loopback: true,
        };
        let reference =
            crate::lifecycle::board_yaml_with(25, &ctx.dir, true, "k.pem", &[]).expect("reference");
        let text = board_file(&reference, &[FORM_LOGIN_API.into()], &ctx).expect("shaped");
        assert!(text.contains("service: https"), "{text}");
        assert!(text.contains("form:"), "{text}");
        assert!(text.contains("cookie: SESSIONID"), "{text}");
    }
}
