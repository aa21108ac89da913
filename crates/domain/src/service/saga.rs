//! A thin recorder that writes each saga step to the [`SagaLog`] and to `tracing`.

use crate::model::{
    now, SagaEntry, SagaId, SagaKind, SagaRecord, SagaState, SagaStep, StepOutcome,
};
use crate::ports::SagaLog;
use crate::Result;
use std::sync::Arc;
use uuid::Uuid;

/// One running saga. Create it with [`SagaRun::begin`], then record every step.
pub struct SagaRun {
    log: Arc<dyn SagaLog>,
    id: SagaId,
    kind: SagaKind,
}

impl SagaRun {
    /// Durably records the saga before its first step. Fails (and nothing has happened yet)
    /// when the saga log is unavailable.
    pub async fn begin(
        log: Arc<dyn SagaLog>,
        kind: SagaKind,
        subject: Uuid,
        payload: serde_json::Value,
    ) -> Result<SagaRun> {
        let at = now();
        let record = SagaRecord {
            id: SagaId::new(),
            kind,
            subject,
            state: SagaState::Running,
            payload,
            entries: Vec::new(),
            started_at: at,
            updated_at: at,
        };
        log.begin(&record).await?;
        tracing::debug!(saga_id = %record.id, ?kind, %subject, "saga started");
        Ok(SagaRun {
            log,
            id: record.id,
            kind,
        })
    }

    /// Continues recording an existing saga (recovery after a crash).
    pub fn resume(log: Arc<dyn SagaLog>, record: &SagaRecord) -> SagaRun {
        SagaRun {
            log,
            id: record.id,
            kind: record.kind,
        }
    }

    pub fn id(&self) -> SagaId {
        self.id
    }

    /// Appends a step and the saga's new state. A saga-log failure here is logged, not
    /// returned: the step itself has already happened (or not) in its own store, and
    /// every step is safe to repeat, so recovery can still finish the saga.
    pub async fn record(
        &self,
        step: SagaStep,
        outcome: StepOutcome,
        state: SagaState,
        detail: Option<String>,
    ) {
        let entry = SagaEntry {
            step,
            outcome,
            detail,
            at: now(),
        };
        match outcome {
            StepOutcome::Failed => tracing::warn!(
                saga_id = %self.id, kind = ?self.kind, ?step, ?state,
                detail = entry.detail.as_deref().unwrap_or(""), "saga step failed"
            ),
            StepOutcome::Started => {
                tracing::debug!(saga_id = %self.id, kind = ?self.kind, ?step, "saga step started")
            }
            StepOutcome::Succeeded => {
                tracing::info!(saga_id = %self.id, kind = ?self.kind, ?step, ?state, "saga step done")
            }
        }
        if let Err(e) = self.log.append(self.id, &entry, state).await {
            tracing::error!(saga_id = %self.id, error = %e, "could not write the saga log");
        }
    }

    pub async fn started(&self, step: SagaStep, state: SagaState) {
        self.record(step, StepOutcome::Started, state, None).await;
    }

    pub async fn succeeded(&self, step: SagaStep, state: SagaState) {
        self.record(step, StepOutcome::Succeeded, state, None).await;
    }

    pub async fn failed(&self, step: SagaStep, state: SagaState, detail: impl ToString) {
        self.record(step, StepOutcome::Failed, state, Some(detail.to_string()))
            .await;
    }
}
