//! The background tasks of a running server (saga recovery, reservation expiry, the
//! idempotency-key sweep, the reconciliation check) run under one supervisor:
//!
//! - a task that panics is logged and started again after a pause, so one bad pass does not
//!   end recovery for the life of the process;
//! - [`Supervisor::shutdown`] tells every task to stop at its next pause between passes (a
//!   pass already running, with the sagas it drives, finishes), waits up to a drain time,
//!   then aborts what is left. An aborted saga is not lost: its log record is durable, and
//!   the next process's recovery finishes it.

use std::future::Future;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

/// What a supervised task watches to know it should stop.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// Resolves once shutdown has begun.
    pub async fn requested(&self) {
        self.0.cancelled().await
    }

    pub fn is_requested(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Waits for `tick`, or returns `false` when shutdown begins first: the shape of every
    /// supervised loop (`while shutdown.wait(tick.tick()).await { one pass }`).
    pub async fn wait<F: Future>(&self, tick: F) -> bool {
        tokio::select! {
            biased;
            () = self.0.cancelled() => false,
            _ = tick => true,
        }
    }
}

/// How long a panicked task waits before it is started again.
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// Owns the background tasks. Dropping it aborts them (a test that drops its server stops
/// its background work with it).
#[derive(Default)]
pub struct Supervisor {
    shutdown: Shutdown,
    tasks: JoinSet<()>,
}

/// How a shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Tasks that stopped by themselves within the drain time.
    pub stopped: usize,
    /// Tasks aborted when the drain time ran out.
    pub aborted: usize,
}

impl Supervisor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `make()` as the task `name`, again after a pause each time it panics, until
    /// shutdown. `make` gets the [`Shutdown`] to watch.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, make: F)
    where
        F: Fn(Shutdown) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            loop {
                // Aborting the supervisor's task aborts the run too.
                let run = AbortOnDropHandle::new(tokio::spawn(make(shutdown.clone())));
                match run.await {
                    Ok(()) => return,
                    Err(e) if e.is_panic() => {
                        tracing::error!(task = name, "background task panicked; restarting it");
                        if !shutdown.wait(tokio::time::sleep(RESTART_AFTER)).await {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
    }

    /// Asks every task to stop, waits up to `drain` for them, aborts the rest.
    pub async fn shutdown(mut self, drain: Duration) -> Drained {
        self.shutdown.0.cancel();
        let mut stopped = 0;
        let deadline = tokio::time::Instant::now() + drain;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(Some(_)) => stopped += 1,
                Ok(None) => break,
                Err(_) => break,
            }
        }
        let aborted = self.tasks.len();
        self.tasks.shutdown().await;
        Drained { stopped, aborted }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn a_pass_under_way_finishes_and_no_new_one_starts() {
        let passes = Arc::new(AtomicUsize::new(0));
        let mut supervisor = Supervisor::new();
        let counter = passes.clone();
        supervisor.spawn("worker", move |shutdown| {
            let counter = counter.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_millis(10));
                while shutdown.wait(tick.tick()).await {
                    tokio::time::sleep(Duration::from_millis(50)).await; // a pass
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await; // inside the first pass
        let drained = supervisor.shutdown(Duration::from_secs(5)).await;
        assert_eq!(
            drained,
            Drained {
                stopped: 1,
                aborted: 0
            }
        );
        let after = passes.load(Ordering::SeqCst);
        assert!(after >= 1, "the pass under way finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            passes.load(Ordering::SeqCst),
            after,
            "no pass after shutdown"
        );
    }

    #[tokio::test]
    async fn a_task_that_ignores_shutdown_is_aborted_after_the_drain_time() {
        let mut supervisor = Supervisor::new();
        supervisor.spawn("stubborn", |_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        let started = std::time::Instant::now();
        let drained = supervisor.shutdown(Duration::from_millis(100)).await;
        assert_eq!(
            drained,
            Drained {
                stopped: 0,
                aborted: 1
            }
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_panicking_task_is_restarted() {
        let runs = Arc::new(AtomicUsize::new(0));
        let mut supervisor = Supervisor::new();
        let counter = runs.clone();
        supervisor.spawn("flaky", move |shutdown| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    panic!("first run fails");
                }
                shutdown.requested().await;
            }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 2 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "restarted once after the panic"
        );
        let drained = supervisor.shutdown(Duration::from_secs(5)).await;
        assert_eq!(
            drained,
            Drained {
                stopped: 1,
                aborted: 0
            }
        );
    }
}
