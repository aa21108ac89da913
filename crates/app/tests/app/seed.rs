//! `emporium seed` (the binary) on the real stores of a running app: the shop it writes
//! is served over HTTP like any other, and a second run refuses and changes nothing.

use crate::helpers::TestApp;
use reqwest::StatusCode;

async fn run_seed(app: &TestApp, args: &[&str]) -> std::process::Output {
    let (uri, db) = app.mongo_database().expect("a MongoDB app");
    tokio::process::Command::new(env!("CARGO_BIN_EXE_emporium"))
        .arg("seed")
        .args(args)
        .env(
            "EMPORIUM_POSTGRES_URL",
            app.postgres_url().expect("a PostgreSQL app"),
        )
        .env("EMPORIUM_MONGODB_URI", uri)
        .env("EMPORIUM_MONGODB_DB", db)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("emporium seed runs")
}

pub async fn the_seeded_shop_is_served_and_a_second_seed_refuses(app: &TestApp) {
    let output = run_seed(
        app,
        &[
            "--products",
            "40",
            "--customers",
            "25",
            "--orders",
            "300",
            "--seed",
            "42",
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("the report as JSON");
    assert_eq!(report["written"]["products"], 40, "{report:#}");
    assert_eq!(report["written"]["orders"], 300, "{report:#}");

    let (status, products) = app.get("/products?limit=5&sort=-price").await;
    assert_eq!(status, StatusCode::OK, "{products}");
    assert_eq!(products["total"], 40);
    let first = &products["items"][0];
    assert!(
        first["attributes"].is_object() && first["stock"].is_u64(),
        "{first}"
    );
    let (_, customers) = app.get("/customers?limit=1").await;
    assert_eq!(customers["total"], 25, "{customers}");
    let (_, warehouses) = app.get("/warehouses").await;
    assert_eq!(
        warehouses["items"].as_array().map(Vec::len),
        Some(5),
        "{warehouses}"
    );
    let (_, categories) = app.get("/categories").await;
    assert!(
        categories["items"].as_array().is_some_and(|c| c.len() > 20),
        "{categories}"
    );
    let (status, sales) = app.get("/reports/sales-by-product?limit=3").await;
    assert_eq!(status, StatusCode::OK, "{sales}");
    assert!(
        sales["items"].as_array().is_some_and(|s| !s.is_empty()),
        "{sales}"
    );

    // A second run refuses, names what is there, and writes nothing.
    let again = run_seed(
        app,
        &["--products", "5", "--customers", "5", "--orders", "5"],
    )
    .await;
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("not empty") && stderr.contains("40 products"),
        "{stderr}"
    );
    let (_, products) = app.get("/products?limit=1").await;
    assert_eq!(products["total"], 40);
}
