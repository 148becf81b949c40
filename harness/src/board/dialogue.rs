//! The console dialogue's texts as the patterns the console driver looks
//! for: each anchored to a line start, prompts also to the end of output.

use super::ConsoleDecl;

/// Regex source matching `pattern` only where a line begins (the start of
/// output, or after CR or LF). A terminal's echo of control keys in caret
/// notation (`^C`, as a tty with ECHOCTL echoes the Ctrl-C that woke it)
/// may stand before it: a login that restarts without a new line prints
/// `^Cdebian login: ` on one line, and that is still where the line begins.
pub fn at_line_start(pattern: &str) -> String {
    format!("{LINE_START}{pattern})")
}

/// Like [`at_line_start`], and only as the last thing shown (spaces or
/// tabs may follow): a prompt is where the device waits for input.
pub fn resting_prompt(pattern: &str) -> String {
    format!("{LINE_START}{pattern}{RESTING}")
}

/// The declared text inside a pattern made by [`at_line_start`] or
/// [`resting_prompt`] (any other pattern as it is), for messages.
pub fn declared_text(pattern: &str) -> &str {
    let inner = pattern
        .strip_prefix(LINE_START)
        .and_then(|p| p.strip_suffix(RESTING).or_else(|| p.strip_suffix(')')));
    match inner {
        Some(text) => text,
        None => pattern,
    }
}

const LINE_START: &str = "(?mR:^)(?:\\^[@-_?])*(?:";
const RESTING: &str = ")[ \\t]*\\z";

impl ConsoleDecl {
    /// The user-name prompt, if the console has a login.
    pub fn login_pattern(&self) -> Option<String> {
        self.login.as_deref().map(resting_prompt)
    }

    /// The password prompt, if the console has a login.
    pub fn password_pattern(&self) -> Option<String> {
        self.password.as_deref().map(resting_prompt)
    }

    /// The shell prompt.
    pub fn prompt_pattern(&self) -> String {
        resting_prompt(&self.prompt)
    }

    /// The refusal text, if declared.
    pub fn failure_pattern(&self) -> Option<String> {
        self.failure.as_deref().map(at_line_start)
    }

    /// The first dialogue text that is not a usable pattern: its field
    /// (under `declares.console`) and why.
    pub fn pattern_error(&self) -> Option<(&'static str, String)> {
        let fields = [
            ("login", self.login.as_deref()),
            ("password", self.password.as_deref()),
            ("prompt", Some(self.prompt.as_str())),
            ("failure", self.failure.as_deref()),
            (
                "autoboot.pattern",
                self.autoboot.as_ref().map(|a| a.pattern.as_str()),
            ),
        ];
        if self.autoboot.as_ref().is_some_and(|a| a.key.is_empty()) {
            return Some((
                "autoboot.key",
                "expected the key that stops autoboot (a space unless told), not empty text".into(),
            ));
        }
        fields.into_iter().find_map(|(field, text)| {
            let text = text?;
            let why = match (
                regex::Regex::new(text),
                regex::Regex::new(&at_line_start(text)),
            ) {
                (Err(e), _) | (_, Err(e)) => format!("invalid regular expression: {e}"),
                (Ok(alone), Ok(_)) if alone.is_match("") => {
                    format!("{text:?} matches empty text, so it would match anywhere")
                }
                _ => return None,
            };
            Some((field, why))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn matches(pattern: &str, text: &str) -> bool {
        Regex::new(pattern).expect("valid").is_match(text)
    }

    #[test]
    fn a_last_login_line_is_not_a_login_prompt() {
        let login = resting_prompt("login: ");
        assert!(!matches(
            &login,
            "\r\nLast login: Sun Dec  6 18:01:02 UTC 2026 on pts/3\r\n"
        ));
        assert!(!matches(&login, "\r\nLast login: "));
        assert!(matches(&login, "boot\r\nlogin: "));
        assert!(matches(&login, "login: "));
        // A host-name prefix is no line start either: declare it.
        assert!(!matches(&login, "debian login: "));
        assert!(matches(
            &resting_prompt("debian login: "),
            "\r\ndebian login: "
        ));
    }

    #[test]
    fn an_echoed_control_key_before_a_prompt_keeps_the_line_start() {
        let login = resting_prompt("debian login: ");
        assert!(matches(&login, "\r\n^Cdebian login: "));
        assert!(matches(&login, "^C^Cdebian login: "));
        assert!(matches(&resting_prompt("=> "), "^C\r\n=> "));
        // Caret notation only: other text before the prompt still is no line start.
        assert!(!matches(&login, "\r\nx^Cdebian login: "));
        assert!(!matches(&login, "\r\n^debian login: "));
        assert_eq!(declared_text(&login), "debian login: ");
    }

    #[test]
    fn messages_show_the_declared_text() {
        assert_eq!(declared_text(&resting_prompt("dev> ")), "dev> ");
        assert_eq!(
            declared_text(&at_line_start("Login incorrect")),
            "Login incorrect"
        );
        assert_eq!(declared_text("device_id: (\\S+)"), "device_id: (\\S+)");
    }

    #[test]
    fn a_prompt_must_end_the_output() {
        let prompt = resting_prompt("dev> ");
        assert!(matches(&prompt, "id\r\ndevice_id: X\r\ndev> "));
        assert!(matches(&prompt, "\rdev>  \t"));
        assert!(!matches(&prompt, "dev> id\r\n"));
    }

    #[test]
    fn failure_text_is_anchored_but_may_be_followed() {
        let failure = at_line_start("Login incorrect");
        assert!(matches(&failure, "\r\nLogin incorrect\r\nlogin: "));
        assert!(!matches(&failure, "\r\nprevious Login incorrect\r\n"));
    }

    #[test]
    fn plain_text_matches_literally_and_escapes_work() {
        assert!(matches(&resting_prompt("sim> "), "\nsim> "));
        assert!(matches(&resting_prompt(r"\$ "), "\n$ "));
        assert!(matches(&resting_prompt(r"\S+@\S+:~\$ "), "\r\nu@host:~$ "));
    }

    fn decl(prompt: &str) -> ConsoleDecl {
        ConsoleDecl {
            login: Some("login: ".into()),
            password: Some("Password: ".into()),
            prompt: prompt.into(),
            failure: None,
            account: None,
            logout: "logout".into(),
            change_password: None,
            reboot: None,
            settle_ms: 250,
            wake: Default::default(),
            autoboot: None,
        }
    }

    #[test]
    fn bad_patterns_name_their_field() {
        assert_eq!(decl("dev> ").pattern_error(), None);
        let (field, why) = decl("[root@x ~# ").pattern_error().expect("error");
        assert_eq!(field, "prompt");
        assert!(why.contains("invalid regular expression"), "{why}");
        let (field, why) = decl(".*").pattern_error().expect("error");
        assert_eq!(field, "prompt");
        assert!(why.contains("empty"), "{why}");
        let mut d = decl("dev> ");
        d.failure = Some("a)|(b".into());
        assert_eq!(d.pattern_error().map(|e| e.0), Some("failure"));
    }
}
