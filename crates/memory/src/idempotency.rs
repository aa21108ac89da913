//! Idempotency keys in memory.

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{now, KeyedOutcome, Timestamp};
use emporium_domain::ports::{IdempotencyClaim, IdempotencyKeys};
use emporium_domain::Result;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

struct Entry {
    fingerprint: String,
    id: Uuid,
    outcome: Option<KeyedOutcome>,
    /// When the running claim started; `None` once released.
    claimed_at: Option<Timestamp>,
    created_at: Timestamp,
}

/// Keys by name, behind one mutex: a claim is one critical section.
#[derive(Default)]
pub struct MemoryIdempotencyKeys {
    keys: Mutex<HashMap<String, Entry>>,
}

#[async_trait]
impl IdempotencyKeys for MemoryIdempotencyKeys {
    async fn claim(
        &self,
        key: &str,
        fingerprint: &str,
        proposed: Uuid,
        lease: Duration,
    ) -> Result<IdempotencyClaim> {
        let mut keys = lock(&self.keys);
        let at = now();
        let Some(entry) = keys.get_mut(key) else {
            keys.insert(
                key.to_owned(),
                Entry {
                    fingerprint: fingerprint.to_owned(),
                    id: proposed,
                    outcome: None,
                    claimed_at: Some(at),
                    created_at: at,
                },
            );
            return Ok(IdempotencyClaim::Proceed { id: proposed });
        };
        if entry.fingerprint != fingerprint {
            return Ok(IdempotencyClaim::Mismatch);
        }
        if let Some(outcome) = &entry.outcome {
            return Ok(IdempotencyClaim::Replay(outcome.clone()));
        }
        let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        match entry.claimed_at {
            Some(claimed) if at - claimed < lease => Ok(IdempotencyClaim::InFlight),
            _ => {
                entry.claimed_at = Some(at);
                Ok(IdempotencyClaim::Proceed { id: entry.id })
            }
        }
    }

    async fn complete(&self, key: &str, outcome: &KeyedOutcome) -> Result<()> {
        if let Some(entry) = lock(&self.keys).get_mut(key) {
            entry.outcome = Some(outcome.clone());
            entry.claimed_at = None;
        }
        Ok(())
    }

    async fn release(&self, key: &str, resume: Uuid) -> Result<()> {
        if let Some(entry) = lock(&self.keys).get_mut(key) {
            if entry.outcome.is_none() {
                entry.claimed_at = None;
                entry.id = resume;
            }
        }
        Ok(())
    }

    async fn purge(&self, cutoff: Timestamp) -> Result<u64> {
        let mut keys = lock(&self.keys);
        let before = keys.len();
        keys.retain(|_, e| e.created_at >= cutoff);
        Ok((before - keys.len()) as u64)
    }
}
