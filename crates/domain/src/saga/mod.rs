//! Sagas declared once, run by one executor.
//!
//! A saga is a [`SagaDefinition`]: an ordered table of steps ([`SagaDefinition::STEPS`]),
//! each with its role around the pivot and the way its effect reaches the log, and three
//! functions that say what each step does ([`SagaDefinition::run`]), how it is undone
//! ([`SagaDefinition::compensate`]) and how recovery finds out whether it took effect
//! ([`SagaDefinition::probe`]). Its state is a typed payload, serialized into the log.
//!
//! [`executor`] interprets every definition the same way, live and after a crash: it writes
//! the log, runs the compensations in reverse when a step up to the pivot fails, retries the
//! steps after the pivot, surfaces a compensation that keeps failing as `stuck`, and
//! settles whatever a dead process left behind. No use case writes the saga log itself.
//!
//! The log costs no commit of its own where a step's store can keep it: a step declared
//! [`Commit::WithEffect`] hands its record ([`StepContext::record`]) to the port that makes
//! its change, which stores both in one transaction. That is how an order is placed with
//! two commits (ADR 0002).

pub mod executor;

use crate::model::{now, SagaEntry, SagaKind, SagaRecord, SagaState, StepOutcome};
use crate::Result;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use uuid::Uuid;

pub use executor::{recover, run, Settled};

/// Where a step stands relative to the pivot, the point of no return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Before the pivot: undone by its compensation when a step up to the pivot fails.
    Compensatable,
    /// The point of no return: once it took effect the saga only goes forward.
    Pivot,
    /// After the pivot: retried until it succeeds, never compensated. Must be idempotent.
    Retriable,
}

/// How the log learns that a step took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// The step's own store commits the saga record ([`StepContext::record`]) in the same
    /// atomic step as its effect: a step the stored log does not show never took effect.
    WithEffect,
    /// The effect lives elsewhere (another database, the payment gateway). The executor
    /// stores the record before the step runs, and after a crash recovery asks
    /// [`SagaDefinition::probe`] whether the step took effect.
    Probed,
}

/// One line of a saga's declaration.
#[derive(Debug, Clone, Copy)]
pub struct StepSpec<S> {
    pub step: S,
    pub role: Role,
    pub commit: Commit,
    /// Whether [`SagaDefinition::compensate`] undoes this step. A step that cannot be
    /// undone and fails in doubt (a transient error: it may have taken effect) leaves the
    /// saga running, for recovery to settle by probing it.
    pub compensable: bool,
}

/// A step's name, as the log records it.
pub trait StepName: Copy + Eq + Debug + Send + Sync + 'static {
    fn name(self) -> &'static str;
}

/// One saga, declared once.
///
/// The definition value carries what a live run needs but the log must not keep (the
/// payment token, the result to hand back); recovery builds one from the stores alone.
#[async_trait]
pub trait SagaDefinition: Send {
    const KIND: SagaKind;
    type Step: StepName;
    /// What recovery needs to finish the saga; stored in the log with every write.
    type Payload: Serialize + DeserializeOwned + Send + Sync;
    /// The steps in the order they run. Exactly one is [`Role::Pivot`]; every step before
    /// it is [`Role::Compensatable`], every step after it [`Role::Retriable`].
    const STEPS: &'static [StepSpec<Self::Step>];

    /// Runs `step`. A step declared [`Commit::WithEffect`] stores `cx.record()` with its
    /// effect and then calls `cx.committed()`.
    async fn run(
        &mut self,
        step: Self::Step,
        cx: &mut StepContext<'_, Self::Payload>,
    ) -> Result<()>;

    /// Undoes `step`. Must be idempotent, and harmless when the step never took effect.
    /// Called only for steps declared `compensable`.
    async fn compensate(
        &mut self,
        step: Self::Step,
        cx: &mut StepContext<'_, Self::Payload>,
    ) -> Result<()>;

    /// Whether a [`Commit::Probed`] step took effect, asked of its store after a crash. May
    /// fill the payload with what it learns (the gateway's answer, say).
    async fn probe(
        &mut self,
        step: Self::Step,
        cx: &mut StepContext<'_, Self::Payload>,
    ) -> Result<bool>;
}

/// What a step sees: the saga's subject and payload, and the record to store with its
/// effect.
pub struct StepContext<'a, P> {
    pub subject: Uuid,
    pub payload: &'a mut P,
    current: &'a SagaRecord,
    /// The entry and state the log gets when this call succeeds.
    next: (SagaEntry, SagaState),
    committed: bool,
}

impl<P: Serialize> StepContext<'_, P> {
    /// The saga record as it stands once this call has succeeded, with the payload as it
    /// is now: for a store that commits it together with the step's effect.
    pub fn record(&self) -> Result<SagaRecord> {
        let mut record = self.record_so_far()?;
        let (entry, state) = self.next.clone();
        record.push(entry, state);
        Ok(record)
    }

    /// The saga record as it stands while this call is under way, with the payload as it
    /// is now: for a store that writes the record with an effect that does not finish the
    /// call (recovery must still see the call as not done).
    pub fn record_so_far(&self) -> Result<SagaRecord> {
        let mut record = self.current.clone();
        record.payload = to_json(self.payload)?;
        Ok(record)
    }

    /// Tells the executor that the step's store committed [`StepContext::record`].
    pub fn committed(&mut self) {
        self.committed = true;
    }
}

impl SagaRecord {
    /// A new record of a saga of `kind` about `subject`, not yet stored.
    pub fn new(kind: SagaKind, subject: Uuid, payload: serde_json::Value) -> SagaRecord {
        let at = now();
        SagaRecord {
            id: crate::model::SagaId::new(),
            kind,
            subject,
            state: SagaState::Running,
            payload,
            entries: Vec::new(),
            started_at: at,
            updated_at: at,
        }
    }

    /// Appends `entry` and moves to `state`.
    pub fn push(&mut self, entry: SagaEntry, state: SagaState) {
        self.updated_at = entry.at;
        self.entries.push(entry);
        self.state = state;
    }

    /// Whether `step` took effect, as far as the log knows.
    pub fn succeeded(&self, step: &str) -> bool {
        self.has(step, StepOutcome::Succeeded)
    }

    /// Whether `step` was compensated.
    pub fn compensated(&self, step: &str) -> bool {
        self.has(step, StepOutcome::Compensated)
    }

    /// How many compensations have failed so far (the backoff of a stuck saga).
    pub fn compensation_failures(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.outcome == StepOutcome::CompensationFailed)
            .count()
    }

    fn has(&self, step: &str, outcome: StepOutcome) -> bool {
        self.entries
            .iter()
            .any(|e| e.step == step && e.outcome == outcome)
    }
}

impl SagaEntry {
    pub fn new(step: &str, outcome: StepOutcome, detail: Option<String>) -> SagaEntry {
        SagaEntry {
            step: step.to_owned(),
            outcome,
            detail,
            at: now(),
        }
    }
}

fn to_json<P: Serialize>(payload: &P) -> Result<serde_json::Value> {
    serde_json::to_value(payload)
        .map_err(|e| crate::Error::Internal(format!("cannot serialize a saga payload: {e}")))
}

/// Panics unless `D`'s declaration has the shape the executor relies on: exactly one pivot,
/// only compensatable steps before it, only retriable ones after, and distinct names.
/// Every definition's unit tests call it.
pub fn assert_well_formed<D: SagaDefinition>() {
    let steps = D::STEPS;
    let pivots: Vec<usize> = (0..steps.len())
        .filter(|&i| steps[i].role == Role::Pivot)
        .collect();
    assert_eq!(pivots.len(), 1, "{}: exactly one pivot", D::KIND);
    for (i, s) in steps.iter().enumerate() {
        let expected = match i.cmp(&pivots[0]) {
            std::cmp::Ordering::Less => Role::Compensatable,
            std::cmp::Ordering::Equal => Role::Pivot,
            std::cmp::Ordering::Greater => Role::Retriable,
        };
        assert_eq!(s.role, expected, "{}: step {:?}", D::KIND, s.step);
        if s.role == Role::Compensatable {
            assert!(
                s.compensable,
                "{}: {:?} must have a compensation",
                D::KIND,
                s.step
            );
        }
        let name = s.step.name();
        assert_eq!(
            steps.iter().filter(|o| o.step.name() == name).count(),
            1,
            "{}: step names are unique",
            D::KIND
        );
    }
}
