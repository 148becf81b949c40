//! Errors of the GDB remote protocol client. Each names the peer and says
//! what the user can do about it.

use super::packet::ErrorReply;

#[derive(Debug, thiserror::Error)]
pub enum GdbError {
    #[error("cannot connect to the GDB server at {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("connection to the GDB server at {peer} lost: {reason}")]
    Lost { peer: String, reason: String },
    #[error("timed out after {waited_ms} ms waiting for {waiting_for} from {peer} (is the target running, or the server busy with another client?)")]
    Timeout {
        peer: String,
        waiting_for: String,
        waited_ms: u128,
    },
    #[error("{peer} sent a packet longer than the {limit}-byte limit; raise GdbConfig::max_packet if the server is trusted")]
    PacketTooLarge { peer: String, limit: usize },
    #[error("{peer} did not acknowledge {command} after {attempts} transmissions (noisy link?)")]
    Retransmits {
        peer: String,
        command: String,
        attempts: u32,
    },
    #[error("protocol error from {peer}: {detail}")]
    Protocol { peer: String, detail: String },
    #[error("{peer} refused to read {len} bytes at {addr:#x}: error {code:#04x}{}", text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    MemoryReadRefused {
        peer: String,
        addr: u64,
        len: usize,
        code: u8,
        text: Option<String>,
    },
    #[error("{peer} refused to write {len} bytes at {addr:#x}: error {code:#04x}{}", text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    MemoryWriteRefused {
        peer: String,
        addr: u64,
        len: usize,
        code: u8,
        text: Option<String>,
    },
    #[error("{peer} refused monitor command {command:?}: error {code:#04x}; output before the error: {output:?}")]
    MonitorRefused {
        peer: String,
        command: String,
        code: u8,
        output: String,
    },
    #[error("{peer} refused {command}: {reply}")]
    Refused {
        peer: String,
        command: String,
        reply: ErrorReply,
    },
    #[error("{peer} does not support {command} (empty reply)")]
    Unsupported { peer: String, command: String },
    #[error("{peer} sent more than {limit} bytes of monitor output")]
    OutputTooLarge { peer: String, limit: usize },
    #[error("address {addr:#x} + {len} overflows 64 bits")]
    AddressOverflow { addr: u64, len: u64 },
}

impl GdbError {
    /// The stub's error code, for refusals (`Exx`).
    pub fn code(&self) -> Option<u8> {
        match self {
            GdbError::MemoryReadRefused { code, .. }
            | GdbError::MemoryWriteRefused { code, .. }
            | GdbError::MonitorRefused { code, .. } => Some(*code),
            GdbError::Refused { reply, .. } => Some(reply.code),
            _ => None,
        }
    }
}
