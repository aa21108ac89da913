//! Running the tools a bench drives (the `emporium` binary, `pg_ctl`, the dev-services
//! script): to their end, failing with what they printed on standard error.

use anyhow::{bail, Result};

/// Runs `command` to its end: its standard output when it succeeded, an error naming
/// `what` with its standard error otherwise.
pub(crate) async fn succeed(command: &mut tokio::process::Command, what: &str) -> Result<String> {
    let output = command.output().await?;
    if !output.status.success() {
        bail!("{what}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
