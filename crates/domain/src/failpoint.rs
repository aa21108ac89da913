//! Test-only fail points: named places in the saga executor where a process can be made to
//! stop dead, so crash tests can kill it (SIGKILL) exactly there.
//!
//! Every saga has the same ones, named after its declaration:
//! `<saga>.after_<step>` (the step took effect) and `<saga>.during_compensation` (before
//! each compensation), e.g. `place_order.after_reserve_stock`.
//!
//! Production never sets one. The app arms at most one name for the whole process (from
//! `EMPORIUM_FAILPOINT`, first call wins); a test can also arm one for a single future with
//! [`crash_at`]. Reaching an armed fail point logs a marker line on stderr and never returns,
//! leaving the process for the test to kill (or the future for the test to drop, which is
//! the in-process equivalent of a crash).

use crate::model::SagaKind;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;

static ACTIVE: OnceLock<String> = OnceLock::new();

tokio::task_local! {
    static SCOPED: (String, Arc<Notify>);
}

/// The marker printed when a fail point is reached.
pub const MARKER: &str = "EMPORIUM FAILPOINT REACHED:";

/// Arms the fail point `name` for the life of the process (first call wins).
pub fn arm(name: &str) {
    let _ = ACTIVE.set(name.to_owned());
}

/// Runs `work` with the fail point `name` armed for it alone, and "crashes" it there: when
/// the fail point is reached, `work` is dropped at that await (no later line of it runs,
/// as when a process dies) and the answer is `None`. `Some` with its output when `work`
/// finished without reaching the fail point.
pub async fn crash_at<F: Future>(name: &str, work: F) -> Option<F::Output> {
    let reached = Arc::new(Notify::new());
    let armed = SCOPED.scope((name.to_owned(), reached.clone()), work);
    tokio::select! {
        output = armed => Some(output),
        () = reached.notified() => None,
    }
}

fn armed(name: &str) -> bool {
    if ACTIVE.get().is_some_and(|active| active == name) {
        return true;
    }
    SCOPED
        .try_with(|(scoped, reached)| {
            let hit = scoped == name;
            if hit {
                reached.notify_one();
            }
            hit
        })
        .unwrap_or(false)
}

/// Stops here forever when `name` is armed; returns at once otherwise.
pub async fn hit(name: &str) {
    if armed(name) {
        tracing::error!(failpoint = name, "fail point reached; waiting to be killed");
        eprintln!("{MARKER} {name}");
        std::future::pending::<()>().await;
    }
}

/// [`hit`] on the fail point of saga `kind` at `at` (`after`, `during_compensation`) of
/// `step` (empty for none). Costs nothing when no fail point is armed.
pub async fn hit_step(kind: SagaKind, at: &str, step: &str) {
    if ACTIVE.get().is_none() && SCOPED.try_with(|_| ()).is_err() {
        return;
    }
    let name = if step.is_empty() {
        format!("{kind}.{at}")
    } else {
        format!("{kind}.{at}_{step}")
    };
    hit(&name).await;
}
