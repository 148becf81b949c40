//! How hilt logs in on a network interface (telnet, SSH, MQTT, SNMP, ...):
//! the account that must get in (the positive control of AU-01 and AU-04)
//! and, for a telnet login, the dialogue.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An interface's login.
///
/// ```yaml
/// interfaces:
///   - { port: 23, service: telnet, login: { account: admin, login: '\S+ login: ' } }
///   - { port: 1883, service: mqtt, login: { account: sensor } }
///   - { port: 161, protocol: udp, service: snmp, login: { account: snmp } }
/// ```
///
/// For SNMP the account's password is the community the agent answers.
/// The dialogue fields are patterns like the console's (`declares.console`:
/// anchored to a line start, prompts the last thing shown); unset, they are
/// the console's, else `login: `, `Password: `, a shell prompt ending in
/// `#`, `$` or `>` and `Login incorrect`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InterfaceLoginDecl {
    /// The account (a key of `declares.accounts`) that logs in here; unset:
    /// the console's account, else the only declared account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Telnet: where the service asks for a user name (a pattern).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    /// Telnet: where it asks for the password (a pattern).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Telnet: the shell prompt after a login (a pattern).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Telnet: what it prints when it refuses a login (a pattern).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}
