//! Backups and restores over HTTP (ADR 0015): one backup covers every store at one
//! consistent point, a restore brings every store back to it, and the backup log survives
//! the restore. `RUNBOOK.md` names these tests.

use crate::helpers::{id, TestApp, READ_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Starts a job and checks the 202: the job's fields and its `Location`.
async fn start(app: &TestApp, path: &str, body: Value, kind: &str) -> String {
    let ((status, job), location) = app.admin(Method::POST, path, Some(&body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["kind"], kind);
    assert_eq!(job["status"], "running");
    assert!(job["started_at"].is_string(), "{job}");
    let job_id = id(&job);
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/admin/backup-logs/{job_id}").as_str())
    );
    job_id
}

async fn succeeded(app: &TestApp, job_id: &str) -> Value {
    let job = app.wait_for_job(job_id).await;
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert!(
        job["finished_at"].is_string() && job["duration_ms"].is_u64(),
        "{job}"
    );
    job
}

/// The shop's state before the backup comes back, and nothing written after it remains:
/// products (and search over them), stock, orders. The backup log keeps both jobs.
/// Returns the backup's log entry.
pub async fn backup_then_restore_brings_the_shop_back(app: &TestApp) -> Value {
    let kept = app
        .product("Backup keeper lamp", "lighting", "25.00", 10)
        .await;
    let doomed = app
        .product("Backup doomed chair", "furniture", "80.00", 5)
        .await;
    let (kept_id, doomed_id) = (id(&kept), id(&doomed));
    let (status, before) = app.order("cust-before", &[(&kept_id, 3)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{before}");

    let backup_id = start(app, "/admin/backup", json!({"type": "full"}), "backup").await;
    let backup = succeeded(app, &backup_id).await;
    assert_eq!(backup["request"]["type"], "full");
    assert!(backup["size_bytes"].as_u64().unwrap_or(0) > 0, "{backup}");
    assert!(
        backup["verification"]["pause"]["marks_ms"].is_f64(),
        "{backup}"
    );
    let positions = backup["positions"].as_object().expect("positions");
    assert!(!positions.is_empty(), "{backup}");

    // After the backup: a product deleted, another created, an order placed.
    let (status, _) = app.delete(&format!("/products/{doomed_id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let late = app
        .product("Backup latecomer desk", "furniture", "120.00", 4)
        .await;
    let (status, after) = app.order("cust-after", &[(&kept_id, 2)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{after}");
    assert_eq!(app.stock(&kept_id).await, (5, 0));

    let restore_id = start(app, "/admin/restore", json!({}), "restore").await;
    let restore = succeeded(app, &restore_id).await;
    assert_eq!(restore["request"]["backup_id"], backup_id.as_str());
    let verification = &restore["verification"];
    assert_eq!(verification["counts_match"], true, "{verification:#}");
    assert_eq!(verification["reconcile"]["clean"], true, "{verification:#}");
    assert_eq!(restore["positions"], backup["positions"]);

    // Everything from before the backup is back ...
    let (status, body) = app.get(&format!("/products/{doomed_id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.stock(&kept_id).await, (7, 0));
    assert_eq!(app.stock(&doomed_id).await, (5, 0));
    let (status, body) = app.get(&format!("/orders/{}", id(&before))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "confirmed");
    // ... nothing written after it remains ...
    let (status, _) = app.get(&format!("/products/{}", id(&late))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/orders/{}", id(&after))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // ... and search, rebuilt from the restored catalog, agrees.
    let (status, found) = app.get("/products?q=doomed").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let ids: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, [doomed_id.as_str()], "{found}");
    let (_, found) = app.get("/products?q=latecomer").await;
    assert_eq!(found["total"], 0, "{found}");
    // New changes reach feed clients and search again: the feed's positions and the
    // catalog follower's cursor did not go back with the restore.
    let mut feed = crate::feed::connect(app, "topics=products").await;
    let glow = id(&app
        .product("Backup afterglow sconce", "lighting", "30.00", 2)
        .await);
    crate::feed::wait_for(&mut feed, |e| {
        e["type"] == "product.created" && e["id"] == glow.as_str()
    })
    .await;
    let (status, _) = app
        .put(&format!("/products/{kept_id}"), &json!({"price": "26.00"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    crate::feed::wait_for(&mut feed, |e| {
        e["type"] == "product.updated" && e["id"] == kept_id.as_str()
    })
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, found) = app.get("/products?q=afterglow").await;
        if found["items"][0]["id"] == glow.as_str() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a product created after the restore never reached search: {found}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The shop takes orders again, against the restored stock.
    let (status, body) = app
        .order("cust-again", &[(&doomed_id, 5)], "tok_visa")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The log survived the restore: both jobs, newest first, readable with a read token.
    let ((status, log), _) = app
        .admin_as(READ_TOKEN, Method::GET, "/admin/backup-logs?limit=10", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let kinds: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["restore", "backup"], "{log:#}");
    assert_eq!(log["total"], 2);
    backup
}

/// What is refused changes nothing: a read token, an unknown backup, a body of the wrong
/// shape, a damaged backup.
pub async fn bad_backup_requests_are_refused(app: &TestApp, backup_dir: &std::path::Path) {
    // schemathesis (seed 20261204) sent a body of one space: not JSON, so 400, not the
    // defaults.
    let spaces = app
        .client
        .post(app.url("/admin/restore"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(" ")
        .send()
        .await
        .unwrap();
    assert_eq!(spaces.status(), StatusCode::BAD_REQUEST);
    let ((status, body), _) = app
        .admin_as(READ_TOKEN, Method::POST, "/admin/backup", Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let ((status, body), _) = app
        .admin(Method::POST, "/admin/restore", Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no backup yet: {body}");
    let ((status, body), _) = app
        .admin(
            Method::POST,
            "/admin/backup",
            Some(&json!({"type": "differential"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let ((status, body), _) = app
        .admin(
            Method::POST,
            "/admin/restore",
            Some(&json!({"backup_id": uuid::Uuid::now_v7()})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let ((status, body), _) = app
        .admin(
            Method::GET,
            &format!("/admin/backup-logs/{}", uuid::Uuid::now_v7()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    for (path, body) in [
        ("/admin/restore", json!([null, null])),
        ("/admin/backup", json!("full")),
    ] {
        let ((status, reply), _) = app.admin(Method::POST, path, Some(&body)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {reply}"
        );
    }

    let product = app.product("Checksum guard", "misc", "3.00", 2).await;
    // A `null` body is no body: a full backup.
    let backup_id = start(app, "/admin/backup", Value::Null, "backup").await;
    succeeded(app, &backup_id).await;
    let (status, _) = app.delete(&format!("/products/{}", id(&product))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // One byte of the backup changes: the restore is refused, and nothing is restored.
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(
            backup_dir
                .join("backups")
                .join(&backup_id)
                .join("manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let file = manifest["stores"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|s| s["files"].as_array().unwrap().iter())
        .max_by_key(|f| f["size"].as_u64().unwrap())
        .and_then(|f| f["path"].as_str())
        .expect("a file in the backup")
        .to_owned();
    let path = backup_dir.join("backups").join(&backup_id).join(file);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let ((status, body), _) = app
        .admin(
            Method::POST,
            "/admin/restore",
            Some(&json!({"backup_id": backup_id})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("checksum"),
        "{body}"
    );
    let (status, _) = app.get(&format!("/products/{}", id(&product))).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused restore changed the catalog"
    );
}

/// One job at a time: while a backup waits at its consistent point for a slow order to
/// finish, a second backup gets 409 naming the first; the order is not refused.
pub async fn one_job_at_a_time(app: &TestApp) {
    let product = app.product("Slow order lamp", "lighting", "9.00", 5).await;
    let product_id = id(&product);
    let order = {
        let app_base = app.base.clone();
        let client = app.client.clone();
        tokio::spawn(async move {
            client
                .post(format!("{app_base}/orders"))
                .json(&json!({"customer_id": "slow", "items": [{"product_id": product_id, "quantity": 1}],
                              "payment": {"method": "card", "token": "tok_visa"}}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let first = start(app, "/admin/backup", json!({}), "backup").await;
    let ((status, body), _) = app
        .admin(Method::POST, "/admin/backup", Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(body["error"]["job_id"], first.as_str());
    let ((status, body), _) = app
        .admin(Method::POST, "/admin/restore", Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(order.await.unwrap(), StatusCode::CREATED);
    let backup = succeeded(app, &first).await;
    // The point waited for the order in flight (its payment takes 1.5 s; the backup
    // started 0.2 s in), and did not take its marks while the order was half written.
    let waited = backup["verification"]["pause"]["waiting_for_writes_ms"]
        .as_f64()
        .expect("waiting_for_writes_ms");
    assert!(
        waited >= 1_000.0,
        "the point waited {waited} ms: {backup:#}"
    );
}

/// While a restore runs, writes get 503 `maintenance` with `Retry-After` and reads go on;
/// afterwards writes are taken again.
pub async fn writes_get_maintenance_during_a_restore(app: &TestApp) {
    let product = app.product("Maintenance probe", "misc", "4.00", 3).await;
    let backup_id = start(app, "/admin/backup", json!({}), "backup").await;
    succeeded(app, &backup_id).await;
    let restore_id = start(
        app,
        "/admin/restore",
        json!({"backup_id": backup_id}),
        "restore",
    )
    .await;
    let mut refused = 0;
    loop {
        let response = app
            .client
            .post(app.url("/suppliers"))
            .json(&json!({"name": "During restore", "region": "EU"}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let retry_after = response.headers().get("retry-after").is_some();
        let body: Value = response.json().await.unwrap_or_default();
        if status == StatusCode::SERVICE_UNAVAILABLE && body["error"]["code"] == "maintenance" {
            assert!(retry_after, "a maintenance 503 without Retry-After");
            refused += 1;
            // A read is answered from the stores as they were or as they are restored,
            // or refused while they are swapped; never a wrong answer such as a 404.
            let (status, body) = app.get(&format!("/products/{}", id(&product))).await;
            assert!(
                status == StatusCode::OK
                    || (status == StatusCode::SERVICE_UNAVAILABLE
                        && ["maintenance", "unavailable"]
                            .contains(&body["error"]["code"].as_str().unwrap_or(""))),
                "{status} {body}"
            );
        } else if status == StatusCode::CREATED {
            // Taken: before the restore closed the gate, or after it.
            let ((_, job), _) = app
                .admin(
                    Method::GET,
                    &format!("/admin/backup-logs/{restore_id}"),
                    None,
                )
                .await;
            if job["status"] != "running" {
                break;
            }
        } else {
            panic!("a write during a restore got {status}: {body}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    succeeded(app, &restore_id).await;
    assert!(refused > 0, "no write was refused while the restore ran");
}

/// `emporium backup` makes the same backup as the route, into the same repository and log:
/// the server restores it, and the log holds both jobs.
pub async fn the_cli_backs_up_what_the_server_restores(
    app: &TestApp,
    backup_dir: &std::path::Path,
) {
    let product = app.product("CLI kept kettle", "kitchen", "19.00", 6).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_emporium"))
        .arg("backup")
        .envs(app.cli_env(backup_dir))
        .output()
        .await
        .expect("emporium backup runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let job: Value = serde_json::from_str(&stdout).expect("the job as JSON");
    assert_eq!(job["status"], "succeeded", "{job:#}");
    assert_eq!(job["actor"], "cli");
    let (status, _) = app.delete(&format!("/products/{}", id(&product))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let restore = start(
        app,
        "/admin/restore",
        json!({"backup_id": job["id"]}),
        "restore",
    )
    .await;
    succeeded(app, &restore).await;
    let (status, body) = app.get(&format!("/products/{}", id(&product))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.stock(&id(&product)).await, (6, 0));
}

/// The seed's exercise: data is created, the time `T` noted, then products are deleted and
/// orders cancelled by mistake, and something new is written. PITR to `T` brings back
/// everything from before `T` (including what was written after the last backup, from the
/// archived logs) and nothing from after it.
pub async fn pitr_undoes_an_accidental_deletion(app: &TestApp) {
    let lamp = id(&app.product("PITR lamp", "lighting", "12.00", 10).await);
    let desk = id(&app.product("PITR desk", "furniture", "150.00", 5).await);
    let (status, first) = app.order("pitr-1", &[(&lamp, 2)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let backup_id = start(app, "/admin/backup", json!({}), "backup").await;
    let backup = succeeded(app, &backup_id).await;

    // Before T but after the backup: only the archived WAL and oplog hold these.
    let rug = id(&app.product("PITR rug", "textiles", "60.00", 3).await);
    let (status, second) = app.order("pitr-2", &[(&rug, 1)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let t = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // The accidents, and a newcomer: all after T.
    let (status, _) = app.delete(&format!("/products/{desk}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, cancelled) = app.delete(&format!("/orders/{}", id(&first))).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let late = id(&app.product("PITR latecomer", "misc", "1.00", 1).await);
    assert_eq!(app.stock(&lamp).await, (10, 0));

    // Outside the window: 422 with the window.
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let before_backup = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    for to in [future, before_backup] {
        let ((status, body), _) = app
            .admin(Method::POST, "/admin/pitr", Some(&json!({ "to": to })))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["error"]["window"]["from"].is_string(), "{body}");
        assert!(body["error"]["window"]["to"].is_string(), "{body}");
    }
    let ((status, body), _) = app
        .admin(
            Method::POST,
            "/admin/pitr",
            Some(&json!({"to": "yesterday"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let pitr_id = start(app, "/admin/pitr", json!({ "to": t.to_rfc3339() }), "pitr").await;
    let pitr = succeeded(app, &pitr_id).await;
    assert_eq!(pitr["request"]["backup_id"], backup["id"], "{pitr:#}");
    let verification = &pitr["verification"];
    assert_eq!(verification["reconcile"]["clean"], true, "{verification:#}");
    assert!(verification["rto_ms"].is_i64(), "{verification:#}");
    assert!(
        verification["rpo"]["rolled_back_ms"].as_i64().unwrap() >= 1000,
        "{verification:#}"
    );
    assert_eq!(
        verification["rpo"]["counts"]["mongodb"]["rolled_back"]["products"], 0,
        "{verification:#}"
    );

    // Everything from before T is back ...
    for product in [&lamp, &desk, &rug] {
        let (status, body) = app.get(&format!("/products/{product}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(app.stock(&lamp).await, (8, 0));
    assert_eq!(app.stock(&rug).await, (2, 0));
    for order in [&first, &second] {
        let (status, body) = app.get(&format!("/orders/{}", id(order))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "confirmed", "{body}");
    }
    // ... and nothing written after it.
    let (status, _) = app.get(&format!("/products/{late}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, found) = app.get("/products?q=latecomer").await;
    assert_eq!(found["total"], 0, "{found}");
}

/// The memory set keeps no log: PITR is 422, saying so, and changes nothing.
pub async fn pitr_needs_a_log(app: &TestApp) {
    let product = id(&app.product("No log here", "misc", "2.00", 1).await);
    let backup_id = start(app, "/admin/backup", json!({}), "backup").await;
    succeeded(app, &backup_id).await;
    let ((status, body), _) = app
        .admin(
            Method::POST,
            "/admin/pitr",
            Some(&json!({"to": chrono::Utc::now().to_rfc3339()})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("keeps no log"),
        "{body}"
    );
    let ((status, body), _) = app
        .admin(Method::POST, "/admin/pitr", Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = app.get(&format!("/products/{product}")).await;
    assert_eq!(status, StatusCode::OK);
}

/// A private, backup-ready stack of the test's own, started by `scripts/dev-services.sh up
/// --private DIR` (the newcomer's path, issue 10 part 7), with the variables it printed.
/// Stopped when dropped, even when an assertion fails halfway.
pub(crate) struct PrivateStack {
    script: std::path::PathBuf,
    env: Vec<(String, String)>,
    // Dropped after the stack is stopped (fields drop in order, after `Drop::drop`).
    pub(crate) dir: crate::helpers::TempDir,
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(&self.script)
            .args(["down", "--private"])
            .arg(&self.dir.0)
            .output();
    }
}

/// The `export NAME=value` lines a script printed.
fn exports(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}

impl PrivateStack {
    pub(crate) async fn up() -> PrivateStack {
        PrivateStack::up_with(&[]).await
    }

    /// `up --private DIR <more>` (e.g. `--standby`).
    pub(crate) async fn up_with(more: &[&str]) -> PrivateStack {
        let dir = crate::helpers::TempDir::new("emporium-private-stack");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut stack = PrivateStack {
            script: root.join("scripts/dev-services.sh"),
            env: Vec::new(),
            dir,
        };
        let up = stack.script(&["up", "--private"], more).await;
        stack.env = exports(&up);
        assert!(
            stack
                .env
                .iter()
                .any(|(k, _)| k == "EMPORIUM_BACKUP_PGBACKREST_STANZA"),
            "{up}"
        );
        stack
    }

    pub(crate) fn var(&self, name: &str) -> &str {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("the stack prints {name}"))
    }

    /// Runs `dev-services.sh <args> DIR <more>`, expecting success; its stdout.
    pub(crate) async fn script(&self, args: &[&str], more: &[&str]) -> String {
        let output = tokio::process::Command::new("bash")
            .arg(&self.script)
            .args(args)
            .arg(&self.dir.0)
            .args(more)
            .output()
            .await
            .expect("dev-services.sh runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "dev-services.sh {args:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// Runs `emporium <args>` with the stack's variables, expecting success; its stdout.
    pub(crate) async fn emporium(&self, args: &[&str]) -> String {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_emporium"))
            .args(args)
            .envs(self.env.clone())
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("emporium runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "emporium {args:?}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// `emporium serve` on the stack, on a free port, once it answers `/api/health`.
    pub(crate) async fn serve(&self) -> Serving {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_emporium"))
            .arg("serve")
            .envs(self.env.clone())
            .env("EMPORIUM_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "EMPORIUM_ADMIN_TOKENS",
                format!("ops:write:{}", crate::helpers::ADMIN_TOKEN),
            )
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("emporium serve starts");
        let serving = Serving {
            _child: child,
            base: format!("http://127.0.0.1:{port}/api"),
            client: reqwest::Client::new(),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Ok(r) = serving
                .client
                .get(format!("{}/health", serving.base))
                .send()
                .await
            {
                if r.status() == StatusCode::OK {
                    return serving;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not become healthy"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// The `emporium` binary serving a private stack; killed when dropped.
pub(crate) struct Serving {
    _child: tokio::process::Child,
    base: String,
    client: reqwest::Client,
}

impl Serving {
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(crate::helpers::ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The newcomer's path (issue 10, part 7): `scripts/dev-services.sh up --private DIR` starts
/// a backup-ready stack and prints its variables; with them `emporium migrate`, `backup`
/// and `restore` work with nothing else set up; `down --private DIR` stops it.
pub async fn the_private_stack_backs_up_and_restores() {
    let stack = PrivateStack::up().await;
    stack.emporium(&["migrate"]).await;
    let backup: Value =
        serde_json::from_str(&stack.emporium(&["backup", "--type", "incremental"]).await).unwrap();
    assert_eq!(backup["status"], "succeeded", "{backup:#}");
    assert!(
        backup["positions"]["postgres"]["backup_label"].is_string(),
        "{backup:#}"
    );
    let restore: Value = serde_json::from_str(&stack.emporium(&["restore"]).await).unwrap();
    assert_eq!(restore["status"], "succeeded", "{restore:#}");
    assert_eq!(restore["request"]["backup_id"], backup["id"]);
    assert_eq!(restore["verification"]["counts_match"], true, "{restore:#}");
    stack.script(&["down", "--private"], &[]).await;
}

/// The seed's disaster simulation (issue 10, part 5; RUNBOOK.md "Store lost: restore from
/// a snapshot"): a snapshot of both stores' data directories is taken over HTTP while the
/// shop runs; both data directories are then deleted; `dev-services.sh restore-snapshot`
/// puts the snapshot's back, and the shop serves again with everything up to the snapshot
/// and nothing after it, the ledger reconciling clean and new orders taken.
pub async fn a_snapshot_brings_the_shop_back_after_its_data_directories_are_lost() {
    let stack = PrivateStack::up().await;
    stack.emporium(&["migrate"]).await;
    let server = stack.serve().await;
    let sku = crate::helpers::unique_sku();
    let (status, kept) = server
        .call(
            Method::POST,
            "/products",
            Some(
                json!({"sku": sku, "name": "Snapshot keeper kettle", "category": "kitchen",
                        "price": "30.00", "stock": 10}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{kept}");
    let kept_id = id(&kept);
    let order_body = |customer: &str, quantity: u32| {
        json!({"customer_id": customer, "items": [{"product_id": kept_id, "quantity": quantity}],
               "payment": {"method": "card", "token": "tok_visa"}})
    };
    let (status, before) = server
        .call(Method::POST, "/orders", Some(order_body("cust-before", 3)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{before}");
    assert!(before["total"].is_string(), "{before}");

    let (status, job) = server.call(Method::POST, "/admin/snapshot", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["kind"], "snapshot");
    let job_id = id(&job);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let snapshot = loop {
        let (_, job) = server
            .call(Method::GET, &format!("/admin/backup-logs/{job_id}"), None)
            .await;
        if job["status"] != "running" {
            break job;
        }
        assert!(std::time::Instant::now() < deadline, "{job:#}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(snapshot["status"], "succeeded", "{snapshot:#}");
    assert!(
        snapshot["positions"]["postgres"]["lsn"].is_string(),
        "{snapshot:#}"
    );
    assert!(
        snapshot["positions"]["mongodb"]["optime"].is_object(),
        "{snapshot:#}"
    );
    assert!(snapshot["size_bytes"].as_u64() > Some(0), "{snapshot:#}");

    // Written after the snapshot: gone after the disaster.
    let (status, lost) = server
        .call(
            Method::POST,
            "/products",
            Some(
                json!({"sku": crate::helpers::unique_sku(), "name": "Lost lamp",
                        "category": "lighting", "price": "5.00", "stock": 4}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{lost}");
    let (status, after) = server
        .call(Method::POST, "/orders", Some(order_body("cust-after", 2)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{after}");
    drop(server);

    // The disaster: both data directories are gone.
    stack.script(&["down", "--private"], &[]).await;
    std::fs::remove_dir_all(stack.dir.0.join("postgres/data")).expect("PostgreSQL data deleted");
    std::fs::remove_dir_all(stack.dir.0.join("mongo")).expect("MongoDB data deleted");
    let snapshot_dir = std::path::Path::new(stack.var("EMPORIUM_BACKUP_DIR"))
        .join("snapshots")
        .join(&job_id);
    let restored = stack
        .script(
            &["restore-snapshot", "--private"],
            &[snapshot_dir.to_str().unwrap()],
        )
        .await;
    assert_eq!(
        exports(&restored),
        stack.env,
        "the same stack, on the same ports"
    );

    let server = stack.serve().await;
    let (status, product) = server
        .call(Method::GET, &format!("/products/{kept_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{product}");
    assert_eq!(
        product["stock"], 7,
        "10 less the 3 ordered before: {product}"
    );
    let (status, order) = server
        .call(Method::GET, &format!("/orders/{}", id(&before)), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["total"], before["total"]);
    let (status, _) = server
        .call(Method::GET, &format!("/products/{}", id(&lost)), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "written after the snapshot");
    let (status, _) = server
        .call(Method::GET, &format!("/orders/{}", id(&after)), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "placed after the snapshot");
    // The log of the snapshot itself lives outside the stores: it survived.
    let (status, entry) = server
        .call(Method::GET, &format!("/admin/backup-logs/{job_id}"), None)
        .await;
    assert_eq!(
        (status, &entry["status"]),
        (StatusCode::OK, &json!("succeeded"))
    );
    // The shop takes orders again (PostgreSQL left recovery and was promoted).
    let (status, again) = server
        .call(Method::POST, "/orders", Some(order_body("cust-again", 1)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    drop(server);
    let report: Value = serde_json::from_str(&stack.emporium(&["reconcile"]).await).unwrap();
    assert_eq!(report["findings"], json!([]), "{report:#}");
}

/// The embedded default snapshots too: its state, at the consistent point, in the
/// snapshot's folder with a manifest; a snapshot is never offered to a restore.
pub async fn the_memory_set_snapshots_its_state(app: &TestApp, dir: &std::path::Path) {
    let ((status, _), _) = app
        .admin_as(READ_TOKEN, Method::POST, "/admin/snapshot", None)
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a read token cannot snapshot"
    );
    app.product("Snapshot mug", "kitchen", "7.50", 3).await;
    let job_id = start(app, "/admin/snapshot", json!(null), "snapshot").await;
    let job = succeeded(app, &job_id).await;
    assert!(job["positions"]["memory"].is_object(), "{job:#}");
    let folder = dir.join("snapshots").join(&job_id);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).expect("manifest"))
            .unwrap();
    let files = manifest["stores"]["memory"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{manifest:#}");
    assert!(
        manifest["stores"]["memory"]["counts"]["products"].as_u64() >= Some(1),
        "{manifest:#}"
    );
    // Not a backup: a restore finds none.
    let ((status, body), _) = app
        .admin(Method::POST, "/admin/restore", Some(&json!({})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

/// A job left `running` by a process that was killed is marked failed when a server starts
/// on the same backup log, saying it was interrupted and where; a job of another host is
/// left alone; and the interrupted job blocks nothing.
pub async fn a_job_whose_process_is_gone_is_marked_failed(dir: &std::path::Path) {
    use emporium_domain::model::{Job, JobKind};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    let left = |runner: String| {
        let mut job = Job::start(
            JobKind::Restore,
            Some("ops".into()),
            json!({"force": false}),
        );
        job.runner = Some(runner);
        job.step = Some("2/4: restoring postgres".into());
        let path = dir.join("jobs").join(format!("{}.json", job.id));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, serde_json::to_vec_pretty(&job).unwrap()).unwrap();
        job.id.to_string()
    };
    // No process has a pid this large (Linux caps pids at 4,194,304).
    let killed = left(format!("{host}:99999999"));
    let elsewhere = left("another-host.example:1".into());

    let restarted = crate::helpers::spawn_memory_on_backup_dir(dir);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let job = loop {
        let ((status, job), _) = restarted
            .admin(Method::GET, &format!("/admin/backup-logs/{killed}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if job["status"] != "running" {
            break job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running: {job:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(job["status"], "failed", "{job:#}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("interrupted") && error.contains("2/4: restoring postgres"),
        "{job:#}"
    );
    assert!(job["finished_at"].is_string(), "{job:#}");
    let ((_, other), _) = restarted
        .admin(
            Method::GET,
            &format!("/admin/backup-logs/{elsewhere}"),
            None,
        )
        .await;
    assert_eq!(
        other["status"], "running",
        "another host's job is its own business"
    );
    let job_id = start(&restarted, "/admin/backup", json!({}), "backup").await;
    succeeded(&restarted, &job_id).await;
}
