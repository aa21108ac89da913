//! Operators: what an admin token may do, and the audit log of what was done with one.

use super::Timestamp;
use serde::Serialize;
use uuid::Uuid;

/// What an admin token may do. `Write` includes `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminScope {
    /// Status, logs and reports of operations (every `GET`).
    Read,
    /// Operations that change something: backup, restore, PITR, snapshot, shard moves.
    Write,
}

impl AdminScope {
    /// `read` or `write`.
    pub fn parse(s: &str) -> Result<AdminScope, String> {
        match s {
            "read" => Ok(AdminScope::Read),
            "write" => Ok(AdminScope::Write),
            other => Err(format!("scope `{other}` is not `read` or `write`")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AdminScope::Read => "read",
            AdminScope::Write => "write",
        }
    }

    /// True when a token of this scope may do what `needed` asks.
    pub fn allows(self, needed: AdminScope) -> bool {
        self >= needed
    }
}

/// One call to an admin route, as the audit log keeps it: who, what, when, and the
/// answer. Never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: Timestamp,
    /// The name of the token used; `None` when no valid token was presented.
    pub actor: Option<String>,
    pub method: String,
    pub path: String,
    /// The HTTP status the call was answered with.
    pub status: u16,
}

impl AuditEntry {
    pub fn new(actor: Option<String>, method: &str, path: &str, status: u16) -> AuditEntry {
        AuditEntry {
            id: Uuid::now_v7(),
            at: super::now(),
            actor,
            method: method.to_owned(),
            path: path.to_owned(),
            status,
        }
    }
}
