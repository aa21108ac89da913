//! The executor: interprets any [`SagaDefinition`], live ([`run`]) and after a crash
//! ([`recover`]), and is the only writer of the saga log.
//!
//! The rules (ADR 0002), the same for every saga:
//!
//! * Steps run in declared order. A step that fails up to the pivot has the steps before it
//!   compensated in reverse; the failing step too when its outcome is in doubt (a transient
//!   error) and it can be undone. One that is in doubt and cannot be undone leaves the
//!   saga `running` for recovery, which probes it.
//! * A step after the pivot is retried with backoff; if it still fails the saga stays
//!   `running` and recovery retries it.
//! * A compensation that fails does not stop the others; the saga ends `stuck` and
//!   recovery retries the failed ones with exponential backoff until they succeed.
//! * Recovery reads the log: a `running` saga goes forward past any step that took effect
//!   (the log says so, or its probe does) and is compensated at the first step up to the
//!   pivot that did not; a `compensating` or `stuck` saga finishes its compensations.
//!
//! The log is written as late as correctness allows: before a [`Commit::Probed`] step
//! (so that recovery can find the saga and ask), together with every
//! [`Commit::WithEffect`] step, and once at the end when anything is left unwritten.

use super::{to_json, Commit, Role, SagaDefinition, StepContext, StepName, StepSpec};
use crate::error::{Error, Result};
use crate::failpoint;
use crate::model::{SagaEntry, SagaRecord, SagaState, StepOutcome};
use crate::ports::SagaLog;
use std::time::Duration;
use tracing::Instrument;
use uuid::Uuid;

/// Attempts of a retriable step in a live run before it is left to recovery.
const FORWARD_ATTEMPTS: u32 = 3;

/// How a saga stands after [`recover`] (or a live run) left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Every step took effect.
    Completed,
    /// The steps that took effect were undone.
    Compensated,
    /// A compensation failed; recovery will retry it.
    Stuck,
    /// A step is still to be retried (or probed) later.
    Running,
}

/// Runs a new saga of `D` about `subject` to its end. Returns the error of the step that
/// failed (after compensating, or leaving the saga for recovery, as the rules say).
pub async fn run<D: SagaDefinition>(
    log: &dyn SagaLog,
    def: &mut D,
    subject: Uuid,
    payload: D::Payload,
) -> Result<()> {
    let record = SagaRecord::new(D::KIND, subject, to_json(&payload)?);
    let span = tracing::info_span!("saga", kind = %D::KIND, saga_id = %record.id, %subject);
    let mut run = Run {
        log,
        def,
        record,
        payload,
        stored: false,
        exists: false,
    };
    run.live().instrument(span).await
}

/// Drives a saga a dead (or failing) process left unfinished to its end, as far as the
/// stores allow now.
pub async fn recover<D: SagaDefinition>(
    log: &dyn SagaLog,
    def: &mut D,
    record: SagaRecord,
) -> Result<Settled> {
    let payload = serde_json::from_value(record.payload.clone()).map_err(|e| {
        Error::Internal(format!(
            "saga {} has a payload its definition cannot read: {e}",
            record.id
        ))
    })?;
    let span = tracing::info_span!("saga.recover", kind = %D::KIND, saga_id = %record.id, subject = %record.subject);
    let mut run = Run {
        log,
        def,
        record,
        payload,
        stored: true,
        exists: true,
    };
    run.recover().instrument(span).await
}

fn context<'a, P>(
    record: &'a SagaRecord,
    payload: &'a mut P,
    entry: SagaEntry,
    state: SagaState,
) -> StepContext<'a, P> {
    StepContext {
        subject: record.subject,
        payload,
        current: record,
        next: (entry, state),
        committed: false,
    }
}

/// One saga being executed: its definition, its record as the executor knows it, and
/// whether the stored record is up to date.
struct Run<'a, D: SagaDefinition> {
    log: &'a dyn SagaLog,
    def: &'a mut D,
    record: SagaRecord,
    payload: D::Payload,
    /// The stored record equals `record`.
    stored: bool,
    /// A record with this id is stored (maybe older than `record`).
    exists: bool,
}

fn steps<D: SagaDefinition>() -> &'static [StepSpec<D::Step>] {
    D::STEPS
}

impl<D: SagaDefinition> Run<'_, D> {
    async fn live(&mut self) -> Result<()> {
        let count = steps::<D>().len();
        for i in 0..count {
            let spec = steps::<D>()[i];
            let state = if i + 1 == count {
                SagaState::Completed
            } else {
                SagaState::Running
            };
            // Recovery must be able to find the saga before an effect it cannot see.
            if spec.commit == Commit::Probed && !self.exists {
                if let Err(e) = self.save().await {
                    self.note(i, StepOutcome::Failed, &e, SagaState::Compensating);
                    self.compensate((0..i).rev().collect()).await;
                    return Err(e);
                }
            }
            let result = if spec.role == Role::Retriable {
                self.retry_forward(i, state).await
            } else {
                self.forward(i, state).await
            };
            match result {
                Ok(()) => {
                    failpoint::hit_step(D::KIND, "after", spec.step.name()).await;
                }
                Err(e) if spec.role == Role::Retriable => {
                    // Past the pivot: never compensate; recovery retries the step.
                    self.note(i, StepOutcome::Failed, &e, SagaState::Running);
                    self.flush().await;
                    return Err(e);
                }
                Err(e) => {
                    let in_doubt = e.is_transient();
                    if in_doubt && !spec.compensable {
                        tracing::warn!(step = spec.step.name(), error = %e,
                            "step failed in doubt and cannot be undone; left for recovery");
                        self.note(i, StepOutcome::Failed, &e, SagaState::Running);
                        self.flush().await;
                        return Err(e);
                    }
                    self.note(i, StepOutcome::Failed, &e, SagaState::Compensating);
                    let mut undo: Vec<usize> = (0..i).rev().collect();
                    if in_doubt {
                        undo.insert(0, i);
                    }
                    self.compensate(undo).await;
                    return Err(e);
                }
            }
        }
        self.flush().await;
        Ok(())
    }

    async fn recover(&mut self) -> Result<Settled> {
        match self.record.state {
            SagaState::Completed => return Ok(Settled::Completed),
            SagaState::Compensated => return Ok(Settled::Compensated),
            SagaState::Compensating | SagaState::Stuck => {
                return Ok(self.finish_compensating().await)
            }
            SagaState::Running => {}
        }
        let count = steps::<D>().len();
        let mut i = (0..count)
            .find(|&i| !self.record.succeeded(steps::<D>()[i].step.name()))
            .unwrap_or(count);
        while i < count {
            let spec = steps::<D>()[i];
            let state = if i + 1 == count {
                SagaState::Completed
            } else {
                SagaState::Running
            };
            if spec.role == Role::Retriable {
                if let Err(e) = self.forward(i, state).await {
                    self.note(i, StepOutcome::Failed, &e, SagaState::Running);
                    self.flush().await;
                    return Err(e);
                }
            } else if self.took_effect(i).await? {
                self.note_found(i, state);
            } else {
                let undo: Vec<usize> = (0..i).rev().collect();
                self.record.state = SagaState::Compensating;
                self.stored = false;
                return Ok(self.compensate(undo).await);
            }
            i += 1;
        }
        self.flush().await;
        Ok(Settled::Completed)
    }

    /// Finishes the compensations of a `compensating` or `stuck` saga: every step that took
    /// effect and is not undone yet, and the first step that did not finish when it may
    /// have taken effect (a probed step that can be undone).
    async fn finish_compensating(&mut self) -> Settled {
        let specs = steps::<D>();
        let first_open = specs
            .iter()
            .position(|s| !self.record.succeeded(s.step.name()));
        let undo: Vec<usize> = (0..specs.len())
            .rev()
            .filter(|&i| {
                let name = specs[i].step.name();
                let open = self.record.succeeded(name)
                    || (Some(i) == first_open && specs[i].commit == Commit::Probed);
                open && !self.record.compensated(name)
            })
            .collect();
        self.compensate(undo).await
    }

    /// Whether step `i` took effect, when the log does not say so.
    async fn took_effect(&mut self, i: usize) -> Result<bool> {
        let spec = steps::<D>()[i];
        if spec.commit == Commit::WithEffect {
            return Ok(false); // its record would say so
        }
        let entry = SagaEntry::new(spec.step.name(), StepOutcome::Succeeded, None);
        let mut cx = context(&self.record, &mut self.payload, entry, self.record.state);
        self.def.probe(spec.step, &mut cx).await
    }

    /// Runs step `i` once; on success the record says so and moves to `state`.
    async fn forward(&mut self, i: usize, state: SagaState) -> Result<()> {
        let spec = steps::<D>()[i];
        let entry = SagaEntry::new(spec.step.name(), StepOutcome::Succeeded, None);
        let span = tracing::info_span!("saga.step", step = spec.step.name());
        let mut cx = context(&self.record, &mut self.payload, entry.clone(), state);
        let started = std::time::Instant::now();
        let outcome = self.def.run(spec.step, &mut cx).instrument(span).await;
        self.log.step_finished(
            D::KIND,
            spec.step.name(),
            started.elapsed(),
            outcome.is_ok(),
        );
        outcome?;
        let committed = cx.committed;
        self.apply(entry, state, committed)?;
        tracing::debug!(step = spec.step.name(), "saga step done");
        Ok(())
    }

    /// [`Run::forward`] with up to [`FORWARD_ATTEMPTS`] tries on transient errors.
    async fn retry_forward(&mut self, i: usize, state: SagaState) -> Result<()> {
        let mut attempt = 1;
        loop {
            match self.forward(i, state).await {
                Err(e) if e.is_transient() && attempt < FORWARD_ATTEMPTS => {
                    tracing::warn!(step = steps::<D>()[i].step.name(), attempt, error = %e, "retrying a step past the pivot");
                    tokio::time::sleep(Duration::from_millis(50 * 4u64.pow(attempt - 1))).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Runs the compensations of the steps in `undo`, in that order, all of them even when
    /// one fails. The saga ends `compensated`, or `stuck` when any failed.
    async fn compensate(&mut self, undo: Vec<usize>) -> Settled {
        let undo: Vec<usize> = undo
            .into_iter()
            .filter(|&i| steps::<D>()[i].compensable)
            .collect();
        let mut failed = false;
        for (k, &i) in undo.iter().enumerate() {
            let spec = steps::<D>()[i];
            let last = k + 1 == undo.len();
            let state = match (last, failed) {
                (false, _) => SagaState::Compensating,
                (true, false) => SagaState::Compensated,
                (true, true) => SagaState::Stuck,
            };
            failpoint::hit_step(D::KIND, "during_compensation", "").await;
            let entry = SagaEntry::new(spec.step.name(), StepOutcome::Compensated, None);
            let span = tracing::info_span!("saga.compensate", step = spec.step.name());
            let mut cx = context(&self.record, &mut self.payload, entry.clone(), state);
            match self
                .def
                .compensate(spec.step, &mut cx)
                .instrument(span)
                .await
            {
                Ok(()) => {
                    let committed = cx.committed;
                    if let Err(e) = self.apply(entry, state, committed) {
                        tracing::error!(error = %e, "cannot record a compensation");
                    }
                }
                Err(e) => {
                    failed = true;
                    tracing::warn!(step = spec.step.name(), error = %e, "compensation failed; the saga is stuck until recovery retries it");
                    let state = if last {
                        SagaState::Stuck
                    } else {
                        SagaState::Compensating
                    };
                    self.note(i, StepOutcome::CompensationFailed, &e, state);
                }
            }
        }
        if undo.is_empty() {
            self.record.state = SagaState::Compensated;
            self.stored = false;
        }
        // A saga that never stored anything took no effect: there is nothing to record.
        if self.exists
            || !self
                .record
                .entries
                .iter()
                .all(|e| e.outcome == StepOutcome::Failed)
        {
            self.flush().await;
        }
        if failed {
            Settled::Stuck
        } else {
            Settled::Compensated
        }
    }

    /// Records a call that succeeded; `committed` when its store already stored the record.
    fn apply(&mut self, entry: SagaEntry, state: SagaState, committed: bool) -> Result<()> {
        self.record.payload = to_json(&self.payload)?;
        self.record.push(entry, state);
        self.stored = committed;
        self.exists |= committed;
        Ok(())
    }

    /// Records, in memory, that step `i` ended with `outcome` because of `error`.
    fn note(&mut self, i: usize, outcome: StepOutcome, error: &Error, state: SagaState) {
        let name = steps::<D>()[i].step.name();
        self.record.push(
            SagaEntry::new(name, outcome, Some(error.to_string())),
            state,
        );
        self.stored = false;
    }

    /// Records, in memory, that recovery found step `i` had taken effect.
    fn note_found(&mut self, i: usize, state: SagaState) {
        let name = steps::<D>()[i].step.name();
        if let Ok(payload) = to_json(&self.payload) {
            self.record.payload = payload;
        }
        self.record.push(
            SagaEntry::new(
                name,
                StepOutcome::Succeeded,
                Some("found by recovery".into()),
            ),
            state,
        );
        self.stored = false;
    }

    async fn save(&mut self) -> Result<()> {
        self.log.save(&self.record).await?;
        self.stored = true;
        self.exists = true;
        Ok(())
    }

    /// Stores the record when it changed. A failure is logged, not returned: every step is
    /// safe to repeat, so recovery can still finish the saga from what the stores hold.
    async fn flush(&mut self) {
        if self.stored {
            return;
        }
        if let Err(e) = self.save().await {
            tracing::error!(error = %e, state = %self.record.state, "could not write the saga log");
        }
    }
}
