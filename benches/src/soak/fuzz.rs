//! schemathesis on the real stores, after the checks.

use super::*;

/// schemathesis against the server on the real stores, sized to about `requests`
/// requests: `--max-examples` is that over the document's operations. The restore and PITR
/// routes are left out: they replace the data they run on and hold the shop in
/// maintenance (503) while they do, which their own tests cover.
pub(super) async fn fuzz(root: &Path, app: &App, requests: u64) -> Result<Fuzz> {
    let venv = succeed(
        tokio::process::Command::new("bash")
            .arg("-c")
            .arg("source scripts/lib.sh >/dev/null && ensure_schemathesis >&2 && echo \"$SCHEMATHESIS_VENV\"")
            .current_dir(root),
        "installing schemathesis",
    )
    .await?;
    let venv = PathBuf::from(venv.trim());
    let document: Value = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await?
        .json()
        .await?;
    let operations = document["paths"]
        .as_object()
        .map(|paths| {
            paths
                .values()
                .filter_map(Value::as_object)
                .map(|p| p.keys().filter(|k| *k != "parameters").count())
                .sum::<usize>()
        })
        .unwrap_or(1)
        .max(1);
    let examples = (requests / operations as u64).max(1);
    eprintln!("fuzz: schemathesis, {operations} operations x {examples} examples, real stores ...");
    let output = tokio::process::Command::new(venv.join("bin/schemathesis"))
        .arg("run")
        .arg(format!("{}/openapi.json", app.base))
        .args(["--checks", "all", "--seed", "20261206", "--no-color"])
        .args(["--max-examples", &examples.to_string()])
        .args(["--exclude-path-regex", "/api/admin/(restore|pitr)"])
        .args(["-H", &format!("Authorization: Bearer {ADMIN_TOKEN}")])
        .current_dir(root)
        .output()
        .await?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let summary: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect();
    if !output.status.success() {
        eprintln!("{text}");
    }
    Ok(Fuzz {
        passed: output.status.success(),
        operations,
        examples,
        summary: summary.join("\n"),
    })
}
