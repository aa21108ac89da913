//! Test-only fail points: named places in the sagas where a process can be made to stop
//! dead, so crash tests can kill it (SIGKILL) exactly there.
//!
//! Production never sets one. The app configures at most one name at start-up (from
//! `EMPORIUM_FAILPOINT`); reaching it logs a marker line on stderr and then never returns,
//! leaving the process for the test to kill.

use std::sync::OnceLock;

static ACTIVE: OnceLock<String> = OnceLock::new();

/// The marker printed when a fail point is reached.
pub const MARKER: &str = "EMPORIUM FAILPOINT REACHED:";

/// Arms the fail point `name` for the life of the process (first call wins).
pub fn arm(name: &str) {
    let _ = ACTIVE.set(name.to_owned());
}

/// Stops here forever when `name` is the armed fail point; returns at once otherwise.
pub async fn hit(name: &str) {
    if ACTIVE.get().is_some_and(|active| active == name) {
        tracing::error!(failpoint = name, "fail point reached; waiting to be killed");
        eprintln!("{MARKER} {name}");
        std::future::pending::<()>().await;
    }
}
