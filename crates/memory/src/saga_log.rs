//! The saga log in memory.

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{SagaEntry, SagaId, SagaRecord, SagaState};
use emporium_domain::ports::SagaLog;
use emporium_domain::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;

/// Saga records by id.
#[derive(Default)]
pub struct MemorySagaLog {
    sagas: Mutex<HashMap<SagaId, SagaRecord>>,
}

#[async_trait]
impl SagaLog for MemorySagaLog {
    async fn begin(&self, saga: &SagaRecord) -> Result<()> {
        lock(&self.sagas)
            .entry(saga.id)
            .or_insert_with(|| saga.clone());
        Ok(())
    }

    async fn append(&self, id: SagaId, entry: &SagaEntry, state: SagaState) -> Result<()> {
        let mut sagas = lock(&self.sagas);
        let saga = sagas.get_mut(&id).ok_or(Error::NotFound("saga"))?;
        saga.entries.push(entry.clone());
        saga.state = state;
        saga.updated_at = entry.at;
        Ok(())
    }

    async fn get(&self, id: SagaId) -> Result<Option<SagaRecord>> {
        Ok(lock(&self.sagas).get(&id).cloned())
    }

    async fn in_state(&self, state: SagaState, limit: u32) -> Result<Vec<SagaRecord>> {
        let mut found: Vec<SagaRecord> = lock(&self.sagas)
            .values()
            .filter(|s| s.state == state)
            .cloned()
            .collect();
        found.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        found.truncate(limit as usize);
        Ok(found)
    }
}
