//! The event feed in memory: what the outbox, its relay and the replay window are in
//! PostgreSQL, under one mutex.

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{DomainEvent, FeedEvent, Replay, ResumeToken, Seq, Timestamp};
use emporium_domain::ports::EventLog;
use emporium_domain::Result;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;

/// How many published events the memory feed keeps for replay. PostgreSQL keeps a time
/// window instead; in memory a count bounds what a busy server holds.
pub const MEMORY_FEED_CAPACITY: usize = 100_000;

#[derive(Default)]
struct State {
    /// Recorded, not yet given a `seq` (the outbox rows the relay has not claimed).
    recorded: Vec<DomainEvent>,
    /// Published, oldest first, with consecutive `seq`s.
    published: VecDeque<FeedEvent>,
    last: u64,
    pruned_through: u64,
    cursors: HashMap<String, ResumeToken>,
}

/// Implements [`EventLog`]. The memory ledger and catalog record into it under their own
/// locks, so an event exists exactly when its change does.
pub struct MemoryEventLog {
    state: Mutex<State>,
    wake: Notify,
    capacity: usize,
}

impl Default for MemoryEventLog {
    fn default() -> Self {
        MemoryEventLog::with_capacity(MEMORY_FEED_CAPACITY)
    }
}

impl MemoryEventLog {
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryEventLog {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records events for the relay to publish (the memory outbox).
    pub fn record(&self, events: impl IntoIterator<Item = DomainEvent>) {
        let mut state = lock(&self.state);
        let before = state.recorded.len();
        state.recorded.extend(events);
        if state.recorded.len() > before {
            drop(state);
            self.wake.notify_one();
        }
    }
}

#[async_trait]
impl EventLog for MemoryEventLog {
    async fn relay(&self) -> Result<u64> {
        let mut state = lock(&self.state);
        let recorded = std::mem::take(&mut state.recorded);
        let count = recorded.len() as u64;
        for event in recorded {
            state.last += 1;
            let seq = Seq(state.last);
            state.published.push_back(FeedEvent { event, seq });
        }
        while state.published.len() > self.capacity {
            if let Some(dropped) = state.published.pop_front() {
                state.pruned_through = dropped.seq.0;
            }
        }
        Ok(count)
    }

    async fn read_after(&self, after: Seq, limit: u32) -> Result<Replay> {
        let state = lock(&self.state);
        let first = state.pruned_through + 1;
        let start = after.0.saturating_add(1).max(first) - first;
        let events = state
            .published
            .iter()
            .skip(usize::try_from(start).unwrap_or(usize::MAX))
            .take(limit as usize)
            .cloned()
            .collect();
        Ok(Replay {
            events,
            truncated: after.0 < state.pruned_through,
        })
    }

    async fn head(&self) -> Result<Seq> {
        Ok(Seq(lock(&self.state).last))
    }

    async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.wake.notified()).await;
    }

    async fn record_external(
        &self,
        source: &str,
        events: &[DomainEvent],
        previous: Option<&ResumeToken>,
        resume: &ResumeToken,
    ) -> Result<bool> {
        let mut state = lock(&self.state);
        if state.cursors.get(source) != previous {
            return Ok(false);
        }
        state.cursors.insert(source.to_owned(), resume.clone());
        state.recorded.extend(events.iter().cloned());
        drop(state);
        self.wake.notify_one();
        Ok(true)
    }

    async fn resume_token(&self, source: &str) -> Result<Option<ResumeToken>> {
        Ok(lock(&self.state).cursors.get(source).cloned())
    }

    async fn prune(&self, cutoff: Timestamp) -> Result<u64> {
        let mut state = lock(&self.state);
        let mut pruned = 0;
        while state.published.front().is_some_and(|e| e.event.at < cutoff) {
            if let Some(dropped) = state.published.pop_front() {
                state.pruned_through = dropped.seq.0;
                pruned += 1;
            }
        }
        Ok(pruned)
    }
}
