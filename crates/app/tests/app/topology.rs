//! The cluster routes (issue 12): replica status from both stores' own replication, and
//! the shard routes, which answer 409 `not_sharded` on a catalog that is not sharded.

use crate::backups::PrivateStack;
use crate::helpers::{TestApp, READ_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// `scripts/dev-services.sh up --private DIR --standby` starts a real streaming standby;
/// the route shows it streaming with its lag, and once it is stopped, shows it `down` and
/// unhealthy (from its slot) with a 200, never an error.
pub async fn a_real_standby_is_seen_streaming_and_then_down() {
    let stack = PrivateStack::up_with(&["--standby"]).await;
    assert!(
        stack
            .var("EMPORIUM_POSTGRES_STANDBY_URL")
            .contains("127.0.0.1:"),
        "the printed variables name the standby"
    );
    stack.emporium(&["migrate"]).await;
    let server = stack.serve().await;
    let standby = |status: &Value| {
        status["postgres"]["standbys"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["name"] == "emporium_standby"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    // A standby connects within a moment of starting; wait for it to stream.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        let (code, status) = server
            .call(Method::GET, "/admin/replica-status", None)
            .await;
        assert_eq!(code, StatusCode::OK, "{status}");
        if standby(&status)["state"] == "streaming" {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "{status:#}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(status["postgres"]["role"], "primary", "{status:#}");
    let streaming = standby(&status);
    assert_eq!(streaming["healthy"], true, "{status:#}");
    assert!(streaming["lag_bytes"].is_i64(), "{status:#}");
    assert!(streaming["replay_lsn"].is_string(), "{status:#}");
    assert_eq!(
        status["mongodb"]["members"][0]["state"], "PRIMARY",
        "{status:#}"
    );
    assert_eq!(
        status["mongodb"]["members"][0]["lag_seconds"], 0.0,
        "{status:#}"
    );

    // The standby stops: the slot it streamed from says it is gone.
    let pg_ctl = std::path::Path::new(stack.var("EMPORIUM_BACKUP_PG_BINDIR")).join("pg_ctl");
    let data = stack.dir.0.join("standby/data");
    let mut stop = std::process::Command::new(if is_root() { "runuser" } else { "env" });
    if is_root() {
        stop.args(["-u", "postgres", "--"]);
    }
    let stopped = stop
        .arg(&pg_ctl)
        .arg("-D")
        .arg(&data)
        .args(["-m", "fast", "-w", "stop"])
        .output()
        .expect("pg_ctl runs");
    assert!(stopped.status.success(), "{stopped:?}");
    let (code, status) = server
        .call(Method::GET, "/admin/replica-status", None)
        .await;
    assert_eq!(code, StatusCode::OK, "{status}");
    let down = standby(&status);
    assert_eq!(down["state"], "down", "{status:#}");
    assert_eq!(down["healthy"], false, "{status:#}");
    assert!(down["lag_bytes"].is_i64(), "{status:#}");
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// On either backend: the replica status is read with a read token and names only the
/// stores that are configured; the shard routes answer 409 `not_sharded` (nothing here is
/// sharded), after checking their bodies (422) and their token (401, 403).
pub async fn shard_routes_refuse_a_catalog_that_is_not_sharded(app: &TestApp, real: bool) {
    let ((status, replicas), _) = app
        .admin_as(READ_TOKEN, Method::GET, "/admin/replica-status", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{replicas}");
    if real {
        assert_eq!(replicas["postgres"]["role"], "primary", "{replicas}");
        assert!(replicas["mongodb"]["set"].is_string(), "{replicas}");
    } else {
        assert_eq!(replicas, json!({}), "the memory set has no replication");
    }
    let ((status, body), _) = app
        .admin_as(READ_TOKEN, Method::GET, "/admin/shard-status", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_sharded");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("compose.sharded.yaml")),
        "{body}"
    );
    let ((status, _), _) = app
        .admin_as(
            READ_TOKEN,
            Method::PUT,
            "/admin/shard-balancer",
            Some(&json!({"enabled": true})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "moving shards needs a write token"
    );
    let ((status, body), _) = app
        .admin(
            Method::PUT,
            "/admin/shard-balancer",
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_sharded");
    let ((status, body), _) = app
        .admin(
            Method::POST,
            "/admin/shard-migrate",
            Some(&json!({"collection": "products", "find": {"_id": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "to", "{body}");
    let ((status, body), _) = app
        .admin(
            Method::POST,
            "/admin/shard-migrate",
            Some(&json!({"collection": "products", "find": {"_id": 1}, "to": "shard02"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_sharded");
    let response = reqwest::Client::new()
        .get(app.url("/admin/replica-status"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
