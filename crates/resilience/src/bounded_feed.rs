//! [`BoundedFeed`]: the event feed's calls, each bounded by a deadline.
//!
//! The feed is not behind [`crate::FailFast`]: it retries on its own, and must not be cut
//! off by the breaker's view of order traffic. It still needs the deadline. A call whose
//! request or answer the network swallowed (a black hole, a half-open link) never returns,
//! and the relay that made it then publishes nothing more until a restart. The soak found
//! that (issue 13): 3,109 events left unpublished in a 60 s run.

use crate::fail_fast::CALL_DEADLINE;
use async_trait::async_trait;
use emporium_domain::model::{DomainEvent, Replay, ResumeToken, Seq, Timestamp};
use emporium_domain::ports::EventLog;
use emporium_domain::{Error, Result};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Bounds every call of the event log `L` by the ledger's call deadline
/// ([`CALL_DEADLINE`]): one that runs out answers `Unavailable`, and the caller retries as
/// it does after any outage.
pub struct BoundedFeed<L> {
    inner: Arc<L>,
    store: &'static str,
    deadline: Duration,
}

impl<L: EventLog> BoundedFeed<L> {
    /// Wraps `inner`; `store` names it in errors and logs.
    pub fn new(inner: Arc<L>, store: &'static str) -> BoundedFeed<L> {
        BoundedFeed {
            inner,
            store,
            deadline: CALL_DEADLINE,
        }
    }

    async fn bounded<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        tokio::time::timeout(self.deadline, call)
            .await
            .unwrap_or_else(|_| {
                tracing::warn!(store = self.store, operation, deadline = ?self.deadline, "feed call timed out");
                Err(Error::Unavailable(self.store.to_owned()))
            })
    }
}

#[async_trait]
impl<L: EventLog> EventLog for BoundedFeed<L> {
    async fn relay(&self) -> Result<u64> {
        self.bounded("relay", self.inner.relay()).await
    }

    async fn read_after(&self, after: Seq, limit: u32) -> Result<Replay> {
        self.bounded("read_after", self.inner.read_after(after, limit))
            .await
    }

    async fn head(&self) -> Result<Seq> {
        self.bounded("head", self.inner.head()).await
    }

    /// Returns after `timeout` at the latest, plus the deadline for the wait to be set up.
    async fn wait(&self, timeout: Duration) {
        if tokio::time::timeout(timeout + self.deadline, self.inner.wait(timeout))
            .await
            .is_err()
        {
            tracing::warn!(store = self.store, "feed wait timed out");
        }
    }

    async fn record_external(
        &self,
        source: &str,
        events: &[DomainEvent],
        previous: Option<&ResumeToken>,
        resume: &ResumeToken,
    ) -> Result<bool> {
        self.bounded(
            "record_external",
            self.inner.record_external(source, events, previous, resume),
        )
        .await
    }

    async fn resume_token(&self, source: &str) -> Result<Option<ResumeToken>> {
        self.bounded("resume_token", self.inner.resume_token(source))
            .await
    }

    async fn prune(&self, cutoff: Timestamp) -> Result<u64> {
        self.bounded("prune", self.inner.prune(cutoff)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A feed whose every call waits forever, as over a link that swallowed the request.
    struct Swallowed;

    #[async_trait]
    impl EventLog for Swallowed {
        async fn relay(&self) -> Result<u64> {
            std::future::pending().await
        }
        async fn read_after(&self, _: Seq, _: u32) -> Result<Replay> {
            std::future::pending().await
        }
        async fn head(&self) -> Result<Seq> {
            std::future::pending().await
        }
        async fn wait(&self, _: Duration) {
            std::future::pending().await
        }
        async fn record_external(
            &self,
            _: &str,
            _: &[DomainEvent],
            _: Option<&ResumeToken>,
            _: &ResumeToken,
        ) -> Result<bool> {
            std::future::pending().await
        }
        async fn resume_token(&self, _: &str) -> Result<Option<ResumeToken>> {
            std::future::pending().await
        }
        async fn prune(&self, _: Timestamp) -> Result<u64> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_swallowed_call_answers_unavailable_at_the_deadline() {
        let deadline = Duration::from_millis(50);
        let feed = BoundedFeed {
            inner: Arc::new(Swallowed),
            store: "postgres",
            deadline,
        };
        let started = std::time::Instant::now();
        assert!(matches!(feed.relay().await, Err(Error::Unavailable(_))));
        assert!(started.elapsed() >= deadline);
        assert!(matches!(feed.head().await, Err(Error::Unavailable(_))));
        let resume = ResumeToken(vec![1]);
        assert!(matches!(
            feed.record_following("catalog", &[], None, &resume).await,
            Err(Error::Unavailable(_))
        ));
        let started = std::time::Instant::now();
        feed.wait(Duration::from_millis(20)).await;
        assert!(started.elapsed() >= Duration::from_millis(70));
    }
}
