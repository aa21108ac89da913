//! `emporium reconcile` end to end: the real binary against a real PostgreSQL and MongoDB
//! from the testkit harness, with inconsistencies written straight into one store.
//!
//! MongoDB is written with the driver (a product inserted with no stock record anywhere).
//! PostgreSQL is written through `PgLedger`'s own port methods, each one statement on the
//! ledger alone (`emporium-app` has no `sqlx` dependency to write SQL with).

use emporium_app::backend::{connect_mongo, connect_postgres};
use emporium_app::config::Settings;
use emporium_domain::model::Units;
use emporium_domain::ports::{Catalog, Inventory, Orders};
use emporium_mongo::{codec::product_to_document, schema::PRODUCTS};
use emporium_testkit::contract::{new_order, product};
use emporium_testkit::harness::{mongo::TestMongo, postgres::TestPostgres};
use serde_json::Value;
use std::process::Output;

/// The databases, and how to run the binary against them.
struct Env {
    pg: TestPostgres,
    mongo: TestMongo,
}

impl Env {
    /// Runs `emporium <args>` with only these stores configured.
    async fn emporium(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_emporium"))
            .args(args)
            .env("EMPORIUM_POSTGRES_URL", &self.pg.url)
            .env("EMPORIUM_MONGODB_URI", &self.mongo.uri)
            .env("EMPORIUM_MONGODB_DB", &self.mongo.db)
            .env("EMPORIUM_TEST_GATEWAY", "true")
            .env("RUST_LOG", "warn")
            .env_remove("EMPORIUM_TEST_GATEWAY_JOURNAL")
            .env_remove("EMPORIUM_FAILPOINT")
            .kill_on_drop(true)
            .output()
            .await
            .expect("the emporium binary runs")
    }

    /// Runs `emporium reconcile <args>`, expecting exit code `code`; returns the report.
    async fn reconcile(&self, args: &[&str], code: i32) -> Value {
        let output = self.emporium(&[&["reconcile"], args].concat()).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(code),
            "reconcile {args:?}: stdout:\n{}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        );
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("stdout is one JSON report ({e}); stderr:\n{stderr}"))
    }
}

/// `(kind, sku, status)` of every finding, sorted.
fn outline(report: &Value) -> Vec<(String, String, String)> {
    let mut outline: Vec<_> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap_or_default().to_owned(),
                f["sku"].as_str().unwrap_or_default().to_owned(),
                f["resolution"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    outline.sort();
    outline
}

fn row(kind: &str, sku: &impl ToString, status: &str) -> (String, String, String) {
    (kind.to_owned(), sku.to_string(), status.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_reports_repairs_and_exits_by_what_remains() {
    let env = Env {
        pg: TestPostgres::create().await.expect("test PostgreSQL"),
        mongo: emporium_testkit::harness::mongo::create()
            .await
            .expect("test MongoDB"),
    };
    let migrate = env.emporium(&["migrate"]).await;
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let settings = Settings::load(None).expect("settings");
    let ledger = connect_postgres(
        &env.pg.url,
        &settings,
        false,
        emporium_postgres::FeedWakeup::Notify,
    )
    .await
    .expect("ledger");
    let catalog = connect_mongo(&env.mongo.uri, &env.mongo.db, false)
        .await
        .expect("catalog");

    // Consistent stores first: nothing to report, exit 0.
    let kept = product("Kept", "tools", "5.00");
    let leaky = product("Leaky", "tools", "5.00");
    for p in [&kept, &leaky] {
        catalog.insert(p).await.unwrap();
        ledger
            .create_stock(&p.sku, p.id, Units::new(10).unwrap())
            .await
            .unwrap();
    }
    let clean = env.reconcile(&[], 0).await;
    assert_eq!(clean["mode"], "check");
    assert_eq!(clean["findings"], Value::Array(vec![]));
    assert_eq!(clean["scanned"]["products"], 2);

    // One inconsistency of each repairable kind, each written into one store only.
    let unstocked = product("Unstocked", "tools", "5.00");
    env.mongo
        .database()
        .await
        .unwrap()
        .collection(PRODUCTS)
        .insert_one(product_to_document(&unstocked).unwrap())
        .await
        .expect("inserted into MongoDB with the driver");
    let orphan = product("Orphan", "tools", "5.00");
    ledger
        .create_stock(&orphan.sku, orphan.id, Units::new(4).unwrap())
        .await
        .unwrap();
    ledger
        .repair_reserved(&leaky.sku, Units::new(3).unwrap())
        .await
        .unwrap();

    let found = env.reconcile(&[], 1).await;
    assert_eq!(
        outline(&found),
        [
            row("catalog_without_stock", &unstocked.sku, "repairable"),
            row("leaked_reservation", &leaky.sku, "repairable"),
            row("stock_without_catalog", &orphan.sku, "repairable"),
        ],
        "{found:#}"
    );
    assert_eq!(found["summary"]["remaining"], 3);
    let leak = found["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "leaked_reservation")
        .unwrap();
    assert_eq!(
        leak["expected"],
        "reserved 0 (the units pending orders hold)"
    );
    assert_eq!(leak["actual"], "reserved 3");
    assert_eq!(leak["product_id"], leaky.id.to_string());
    assert!(
        ledger.stock(&unstocked.sku).await.unwrap().is_none(),
        "a check changes nothing"
    );

    let fixed = env.reconcile(&["--fix"], 0).await;
    assert_eq!(fixed["mode"], "fix");
    assert_eq!(
        outline(&fixed),
        [
            row("catalog_without_stock", &unstocked.sku, "repaired"),
            row("leaked_reservation", &leaky.sku, "repaired"),
            row("stock_without_catalog", &orphan.sku, "repaired"),
        ],
        "{fixed:#}"
    );
    let created = ledger.stock(&unstocked.sku).await.unwrap().unwrap();
    assert_eq!((created.product_id, created.on_hand), (unstocked.id, 0));
    assert!(ledger.stock(&orphan.sku).await.unwrap().is_none());
    assert_eq!(ledger.stock(&leaky.sku).await.unwrap().unwrap().reserved, 0);
    assert_eq!(ledger.stock(&kept.sku).await.unwrap().unwrap().on_hand, 10);
    let after = env.reconcile(&[], 0).await;
    assert_eq!(after["findings"], Value::Array(vec![]), "{after:#}");

    // A stock record without a product, whose units a pending order holds: `--fix` must
    // leave it for a human, and the exit code says something remains.
    let ghost = product("Ghost", "tools", "5.00");
    ledger
        .create_stock(&ghost.sku, ghost.id, Units::new(5).unwrap())
        .await
        .unwrap();
    ledger
        .create_pending(&new_order("ghost-buyer", &[(&ghost, 2)]))
        .await
        .unwrap();
    let left = env.reconcile(&["--fix"], 1).await;
    assert_eq!(
        outline(&left),
        [row("stock_without_catalog", &ghost.sku, "needs_human")],
        "{left:#}"
    );
    assert!(left["findings"][0]["resolution"]["reason"]
        .as_str()
        .unwrap()
        .contains("reserved"));
    assert_eq!(ledger.stock(&ghost.sku).await.unwrap().unwrap().reserved, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_refuses_to_run_without_both_stores() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_emporium"))
        .arg("reconcile")
        .env("EMPORIUM_POSTGRES_URL", "postgres://127.0.0.1:1/none")
        .env("EMPORIUM_TEST_GATEWAY", "true")
        .env_remove("EMPORIUM_MONGODB_URI")
        .output()
        .await
        .expect("the emporium binary runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "no report without both stores");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("EMPORIUM_MONGODB_URI"), "{stderr}");
}
