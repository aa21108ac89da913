//! Step 2 of a pass: the sagas that have not finished, read after the scan, so a finding
//! one of them (or recovery) will settle is deferred to it instead of repaired under it.

use crate::error::Result;
use crate::model::{SagaId, SagaKind, SagaState};
use crate::ports::Stores;
use std::collections::HashMap;
use uuid::Uuid;

/// Unfinished sagas read per state. More than this means recovery is far behind; the pass
/// then defers every saga-owned finding rather than guess which saga owns it.
const SAGA_SCAN_LIMIT: u32 = 10_000;

/// The subjects (product or order ids) of sagas that have not finished.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    sagas: HashMap<Uuid, (SagaId, SagaKind, SagaState)>,
    /// A state had more unfinished sagas than were read: ownership cannot be told.
    truncated: bool,
}

impl InFlight {
    pub(super) async fn load(stores: &Stores) -> Result<InFlight> {
        let mut in_flight = InFlight::default();
        for state in [
            SagaState::Running,
            SagaState::Compensating,
            SagaState::Stuck,
        ] {
            let sagas = stores.saga_log.in_state(state, SAGA_SCAN_LIMIT).await?;
            in_flight.truncated |= sagas.len() >= SAGA_SCAN_LIMIT as usize;
            for saga in sagas {
                in_flight
                    .sagas
                    .insert(saga.subject, (saga.id, saga.kind, saga.state));
            }
        }
        Ok(in_flight)
    }

    /// Why a record belonging to `subject` must be left alone, if it must.
    pub(super) fn owner(&self, subject: Uuid) -> Option<String> {
        if let Some((id, kind, state)) = self.sagas.get(&subject) {
            return Some(format!(
                "saga {id} ({kind}) is {state} on it; that saga or recovery settles it"
            ));
        }
        self.truncated.then(|| {
            format!(
                "more than {SAGA_SCAN_LIMIT} sagas are unfinished, so whether one owns this \
                 record cannot be told; run again once recovery has caught up"
            )
        })
    }
}
