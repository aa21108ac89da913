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
    // The private stack loads pg_stat_statements: the slowest statements are listed.
    let (code, performance) = server.call(Method::GET, "/admin/performance", None).await;
    assert_eq!(code, StatusCode::OK, "{performance}");
    let slow = performance["slow_queries"]["postgres"].as_array();
    assert!(slow.is_some_and(|s| !s.is_empty()), "{performance:#}");
    let metrics = reqwest::get(server_metrics_url(&server))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains(r#"emporium_replica_healthy{store="postgres",member="emporium_standby"} 1"#),
        "{metrics}"
    );

    // Reports read from the standby (EMPORIUM_POSTGRES_STANDBY_URL, printed by the
    // script): an order placed on the primary shows once folded and replicated.
    let (code, product) = server
        .call(
            Method::POST,
            "/products",
            Some(
                json!({"sku": crate::helpers::unique_sku(), "name": "Standby lamp",
                        "category": "lighting", "price": "15.00", "stock": 5}),
            ),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{product}");
    let order = |quantity: u32| {
        json!({"customer_id": "standby-reader", "payment": {"method": "card", "token": "tok_visa"},
               "items": [{"product_id": product["id"], "quantity": quantity}]})
    };
    let (code, placed) = server.call(Method::POST, "/orders", Some(order(2))).await;
    assert_eq!(code, StatusCode::CREATED, "{placed}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (code, report) = server
            .call(Method::GET, "/reports/sales-by-product", None)
            .await;
        assert_eq!(code, StatusCode::OK, "{report}");
        if report["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|i| i["product_id"] == product["id"] && i["units"] == 2)
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reached the standby: {report:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

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
    // Reports are the standby's: they answer 503 without it, and orders go on.
    let (code, body) = server
        .call(Method::GET, "/reports/sales-by-product", None)
        .await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (code, placed) = server.call(Method::POST, "/orders", Some(order(1))).await;
    assert_eq!(code, StatusCode::CREATED, "{placed}");
}

fn server_metrics_url(server: &crate::backups::Serving) -> String {
    format!("{}/metrics", server.base().trim_end_matches("/api"))
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
    assert_eq!(body["error"]["code"], "validation_failed", "{body}");
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

/// `/metrics` comes from the Prometheus exporter: requests are counted and timed by route
/// *pattern* (the product's id never becomes a label), ledger calls by operation, the
/// pool's use is there, and `promtool` accepts the exposition; the performance route gives
/// the same requests' count and quantiles.
pub async fn metrics_count_routes_by_pattern_and_performance_has_quantiles(
    app: &TestApp,
    real: bool,
) {
    let product = app.product("Metered lamp", "lighting", "12.00", 5).await;
    let id = product["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let (status, _) = app.get(&format!("/products/{id}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = app
        .get(&format!("/products/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let text = app.metrics_text().await;
    let series = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
            .to_owned()
    };
    assert!(
        series(
            r#"emporium_http_requests_total{method="GET",route="/api/products/{id}",status="200"}"#
        )
        .ends_with(" 3"),
        "{text}"
    );
    assert!(
        series(
            r#"emporium_http_requests_total{method="GET",route="/api/products/{id}",status="404"}"#
        )
        .ends_with(" 1"),
        "{text}"
    );
    series(
        r#"emporium_http_request_duration_seconds_bucket{method="GET",route="/api/products/{id}",le="0.005"}"#,
    );
    assert!(!text.contains(&id), "a raw path leaked into a label");
    // schemathesis found `TRACE /metrics` answering 404 (seed 20261204): it is 405.
    let traced = app
        .client
        .request(
            Method::TRACE,
            app.url("/metrics").replace("/api/metrics", "/metrics"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(traced.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        text.contains("# TYPE emporium_http_request_duration_seconds histogram"),
        "{text}"
    );
    series("emporium_sagas_stuck 0");
    if real {
        series(r#"emporium_store_operation_duration_seconds_count{store="postgres",operation="#);
        series("emporium_postgres_pool_max_connections ");
        series("emporium_postgres_pool_acquire_seconds ");
        series(r#"emporium_replica_healthy{store="mongodb""#);
        // A placed order's saga steps, timed by the saga log's observer.
        let (status, order) = app.order("metered", &[(id.as_str(), 1)], "tok_visa").await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let after = app.metrics_text().await;
        assert!(
            after.lines().any(|l| l.starts_with(
                r#"emporium_saga_step_duration_seconds_count{saga="place_order",step="#
            )),
            "{after}"
        );
        // MongoDB's commands, by command and collection, from the driver's monitoring.
        series(
            r#"emporium_store_operation_duration_seconds_count{store="mongodb",operation="find products"}"#,
        );
        series("emporium_catalog_cache_hits_total ");
    }
    if let Ok(mut promtool) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        promtool
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let checked = promtool.wait_with_output().unwrap();
        assert!(
            checked.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
    }

    let ((status, performance), _) = app
        .admin_as(READ_TOKEN, Method::GET, "/admin/performance", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{performance}");
    let route = &performance["routes"]["GET /api/products/{id}"];
    assert_eq!(route["count"], 4, "{performance:#}");
    let (p50, p95, p99) = (
        route["p50_ms"].as_f64().unwrap(),
        route["p95_ms"].as_f64().unwrap(),
        route["p99_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p95 && p95 <= p99, "{route}");
    assert!(performance["sagas"]["stuck"].is_u64(), "{performance:#}");
    assert!(
        performance["events"]["feed_position"].is_u64(),
        "{performance:#}"
    );
    if real {
        let operations = performance["store_operations"].as_object().unwrap();
        assert!(
            operations.keys().any(|k| k.starts_with("postgres ")),
            "{performance:#}"
        );
        assert!(
            operations.contains_key("mongodb insert products"),
            "{performance:#}"
        );
        assert!(
            performance["cache"]["catalog"]["hit_rate"].is_f64(),
            "{performance:#}"
        );
        assert!(
            performance["saga_steps"]
                .as_object()
                .is_some_and(|steps| steps.keys().any(|k| k.starts_with("place_order "))),
            "{performance:#}"
        );
        assert!(performance["pools"]["postgres"]["max"].as_u64() > Some(0));
        // MongoDB's profiler is off by default: the route says so.
        assert_eq!(
            performance["slow_queries"]["mongodb"]["available"], false,
            "{performance:#}"
        );
        // Turned on, its slowest operations are listed: names and times, no values.
        let (uri, db) = app.mongo_database().expect("a MongoDB app");
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        client
            .database(&db)
            .run_command(mongodb::bson::doc! {"profile": 2})
            .await
            .unwrap();
        let (status, _) = app.get("/products?limit=5").await;
        assert_eq!(status, StatusCode::OK);
        let ((_, performance), _) = app
            .admin_as(READ_TOKEN, Method::GET, "/admin/performance", None)
            .await;
        let slow = performance["slow_queries"]["mongodb"]
            .as_array()
            .unwrap_or_else(|| panic!("{performance:#}"));
        assert!(
            slow.iter().any(|op| op["namespace"]
                .as_str()
                .is_some_and(|ns| ns.starts_with(&format!("{db}.")))
                && op["millis"].is_i64()),
            "{performance:#}"
        );
        assert!(
            performance["pools"]["postgres"]["acquire_ms"].is_f64(),
            "{performance:#}"
        );
        assert!(
            performance["slow_queries"]["postgres"].is_array()
                || performance["slow_queries"]["postgres"]["available"] == false,
            "{performance:#}"
        );
    }
    let response = reqwest::Client::new()
        .get(app.url("/admin/performance"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// Read routing (ADR 0025): listings and search pages read the browse catalog (in
/// production MongoDB secondaries), product pages by id read the primary. Here the browse
/// catalog is a second memory catalog holding a product the primary does not: it shows in
/// the listing and is 404 by id.
pub async fn listings_read_the_browse_catalog_and_product_pages_the_primary() {
    use emporium_domain::ports::Catalog;
    let mut backend = emporium_app::backend::Backend::memory();
    let replica = std::sync::Arc::new(emporium_memory::MemoryCatalog::default());
    let only_there = emporium_testkit::contract::product("Only on the replica", "lighting", "3.00");
    replica.insert(&only_there).await.unwrap();
    backend.browse_catalog = Some(replica);
    let app = crate::helpers::spawn_with(backend, Vec::new(), Default::default());
    let (status, listing) = app.get("/products?limit=50").await;
    assert_eq!(status, StatusCode::OK, "{listing}");
    assert!(
        listing["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|p| p["id"] == json!(only_there.id))),
        "{listing}"
    );
    let (status, _) = app.get(&format!("/products/{}", only_there.id)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "product pages read the primary"
    );
}
