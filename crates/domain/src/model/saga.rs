//! The durable record of a saga: which steps ran, which were compensated, where it stands.
//!
//! Records are written only by the saga executor (`crate::saga`), from each saga's typed
//! declaration; step names are the declaration's own.

use super::{SagaId, Timestamp};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use uuid::Uuid;

/// What a saga does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaKind {
    PlaceOrder,
    CancelOrder,
    CreateProduct,
    DeleteProduct,
}

/// How one step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// Written before a step by versions before the executor; read, never written.
    Started,
    /// The step's action took effect.
    Succeeded,
    /// The step's action failed (detail says why); it took no effect unless in doubt.
    Failed,
    /// The step's compensation undid it.
    Compensated,
    /// The step's compensation failed; recovery retries it with backoff.
    CompensationFailed,
}

/// Where a saga stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SagaState {
    /// Steps are running forward.
    Running,
    /// A step failed; compensations are running.
    Compensating,
    /// Every step succeeded.
    Completed,
    /// Compensations undid the partial work.
    Compensated,
    /// A compensation failed; needs recovery (retried, and surfaced to operators).
    Stuck,
}

impl SagaState {
    pub fn is_finished(self) -> bool {
        matches!(self, SagaState::Completed | SagaState::Compensated)
    }
}

macro_rules! serde_str {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let v = serde_json::to_value(self).map_err(|_| fmt::Error)?;
                f.write_str(v.as_str().ok_or(fmt::Error)?)
            }
        }
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                serde_json::from_value(serde_json::Value::String(s.to_owned()))
                    .map_err(|_| format!("unknown value `{s}`"))
            }
        }
    };
}
serde_str!(SagaKind);
serde_str!(StepOutcome);
serde_str!(SagaState);

/// One line of a saga's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SagaEntry {
    /// The step's name in its saga's declaration (e.g. `reserve_stock`).
    pub step: String,
    pub outcome: StepOutcome,
    pub detail: Option<String>,
    pub at: Timestamp,
}

/// A saga as the saga log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SagaRecord {
    pub id: SagaId,
    pub kind: SagaKind,
    /// The order or product the saga works on.
    pub subject: Uuid,
    pub state: SagaState,
    /// What recovery needs to finish the saga: the saga definition's typed payload
    /// (`SagaDefinition::Payload`), serialized by the executor, which is the only writer.
    pub payload: serde_json::Value,
    pub entries: Vec<SagaEntry>,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
}
