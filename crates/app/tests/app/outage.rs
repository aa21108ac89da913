//! A store that is down: what keeps working, what answers 503 at once, and that the server
//! recovers by itself when the store comes back.
//!
//! Each test takes a real server down. It is always a server of the test's own (the
//! harness's `PrivatePostgres` / `PrivateMongo`), never the shared ones the other tests in
//! this process use; the store that stays up is a fresh database on the shared server.
//! The app runs in-process on the real adapters, wired by `Backend::assemble` exactly as
//! `emporium serve` wires them.
//!
//! Timings are printed (`cargo test -p emporium-app --test outage -- --nocapture`); the
//! only timing asserted is [`HANG_GUARD`], which catches a request that hangs, not one
//! that is slow.

use crate::support;

use emporium_app::backend::{connect_mongo, connect_postgres, Backend};
use emporium_app::background::RecoveryConfig;
use emporium_app::startup::AppOptions;
use emporium_domain::model::Sku;
use emporium_domain::ports::Inventory;
use emporium_testkit::harness::{
    mongo, postgres::TestPostgres, private_mongo::PrivateMongo, private_postgres::PrivatePostgres,
};
use reqwest::{header::HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request that takes longer than this during an outage counts as hanging.
const HANG_GUARD: Duration = Duration::from_secs(10);
/// How long the server may take to notice that a store is back.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(30);
const ADMIN_TOKEN: &str = "outage-admin-token";

/// One answer, with how long it took.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    took: Duration,
}

impl Reply {
    /// Asserts the contract's 503: code `unavailable`, a `Retry-After`, in bounded time.
    fn assert_unavailable(&self, what: &str) {
        assert_eq!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {}",
            self.body
        );
        assert_eq!(
            self.body["error"]["code"], "unavailable",
            "{what}: {}",
            self.body
        );
        let retry_after = self
            .headers
            .get("retry-after")
            .unwrap_or_else(|| panic!("{what}: a 503 without Retry-After"));
        assert!(
            retry_after.to_str().is_ok_and(|v| v.parse::<u32>().is_ok()),
            "{what}: Retry-After {retry_after:?} is not a number of seconds"
        );
        self.assert_bounded(what);
    }

    fn assert_bounded(&self, what: &str) {
        assert!(
            self.took < HANG_GUARD,
            "{what} took {:?}: a request during an outage must not hang",
            self.took
        );
    }
}

/// The app under test and a client for it.
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    fn spawn(backend: Backend) -> Api {
        // Recovery runs as in production (faster): a step that failed in doubt while its
        // store was down is compensated by recovery once the store is back.
        let options = AppOptions {
            admin_tokens: emporium_app::admin_auth::AdminTokens::from_config(
                None,
                Some(ADMIN_TOKEN),
            )
            .expect("token"),
            recovery: Some(RecoveryConfig {
                interval: Duration::from_millis(250),
                stale_after: Duration::from_secs(3),
                reservation_ttl: Duration::from_secs(900),
            }),
            ..AppOptions::default()
        };
        Api {
            base: support::spawn_app(backend, options),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let started = Instant::now();
        let response = request.send().await.expect("the app answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let took = started.elapsed();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON ({status}): {text}"))
        };
        Reply {
            status,
            headers,
            body,
            took,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.client.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn admin_get(&self, path: &str) -> Reply {
        self.send(
            self.client
                .get(format!("{}{path}", self.base))
                .bearer_auth(ADMIN_TOKEN),
        )
        .await
    }

    /// Creates a product with `stock` units; returns `(id, sku)`.
    async fn product(&self, name: &str, stock: u32) -> (String, String) {
        let reply = self.post("/products", &product_body(name, stock)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        (
            reply.body["id"].as_str().expect("id").to_owned(),
            reply.body["sku"].as_str().expect("sku").to_owned(),
        )
    }

    async fn order(&self, product: &str, quantity: u32) -> Reply {
        self.post("/orders", &order_body(product, quantity)).await
    }

    /// The same order, sent with an `Idempotency-Key`.
    async fn keyed_order(&self, key: &str, product: &str, quantity: u32) -> Reply {
        let request = self
            .client
            .post(format!("{}/orders", self.base))
            .header("Idempotency-Key", key)
            .json(&order_body(product, quantity));
        self.send(request).await
    }

    /// `(stock, reserved)` of a product, as the API shows them.
    async fn stock(&self, product: &str) -> (Value, Value) {
        let reply = self.get(&format!("/products/{product}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        (reply.body["stock"].clone(), reply.body["reserved"].clone())
    }

    /// Polls `GET /health` until it answers 200; returns how long that took.
    async fn wait_healthy(&self) -> Duration {
        let started = Instant::now();
        loop {
            let reply = self.get("/health").await;
            if reply.status == StatusCode::OK {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < RECOVERY_DEADLINE,
                "still unhealthy after {RECOVERY_DEADLINE:?}: {}",
                reply.body
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Polls `GET /products/{id}` until it shows stock figures again (the server has
    /// noticed that the ledger is back) and returns them.
    async fn wait_for_stock(&self, product: &str) -> (Value, Value) {
        let started = Instant::now();
        loop {
            let stock = self.stock(product).await;
            if !stock.0.is_null() {
                return stock;
            }
            assert!(
                started.elapsed() < RECOVERY_DEADLINE,
                "no stock figures {RECOVERY_DEADLINE:?} after the ledger came back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asserts that no order is left pending and no saga is left unfinished, once recovery
    /// has had [`RECOVERY_DEADLINE`] to settle what failed in doubt during the outage.
    async fn assert_nothing_half_written(&self) {
        let started = Instant::now();
        loop {
            let pending = self.get("/orders?status=pending").await;
            assert_eq!(pending.status, StatusCode::OK, "{}", pending.body);
            let mut left = Vec::new();
            if pending.body["total"] != 0 {
                left.push(format!("pending orders left: {}", pending.body));
            }
            for state in ["running", "compensating", "stuck"] {
                let sagas = self.admin_get(&format!("/admin/sagas?state={state}")).await;
                assert_eq!(sagas.status, StatusCode::OK, "{}", sagas.body);
                if sagas.body["total"] != 0 {
                    left.push(format!("{state} sagas left: {}", sagas.body));
                }
            }
            if left.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < RECOVERY_DEADLINE,
                "{RECOVERY_DEADLINE:?} after the outage: {left:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn product_body(name: &str, stock: u32) -> Value {
    let sku = format!("OUT-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    json!({"sku": sku, "name": name, "category": "outage", "price": "12.50", "stock": stock})
}

fn order_body(product: &str, quantity: u32) -> Value {
    json!({"customer_id": "outage-customer",
           "items": [{"product_id": product, "quantity": quantity}],
           "payment": {"method": "card", "token": "tok_visa"}})
}

fn settings() -> emporium_app::config::Settings {
    emporium_app::config::Settings::load(None).expect("default settings")
}

/// Asserts a 503 from `/health` that names `down` as failing and `up` as fine.
async fn assert_health_names(api: &Api, down: &str, up: &str) -> Duration {
    let health = api.get("/health").await;
    assert_eq!(
        health.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        health.body
    );
    assert_eq!(health.body["failing"], json!([down]), "{}", health.body);
    let check = health.body["checks"][down].as_str().unwrap_or_default();
    assert!(check.starts_with("unavailable"), "{}", health.body);
    assert_eq!(health.body["checks"][up], "ok", "{}", health.body);
    assert!(health.headers.get("retry-after").is_some());
    health.assert_bounded("GET /health");
    health.took
}

/// The app on the real adapters, its ledger on a private PostgreSQL cluster the test may
/// stop, its catalog in a fresh database on the shared MongoDB (dropped with the guard).
async fn with_private_postgres() -> (PrivatePostgres, mongo::TestMongo, Api) {
    let pg = PrivatePostgres::launch()
        .await
        .expect("a private PostgreSQL cluster");
    let catalog_db = mongo::create().await.expect("a MongoDB test database");
    let ledger = connect_postgres(
        &pg.url,
        &settings(),
        true,
        emporium_postgres::FeedWakeup::InProcess,
    )
    .await
    .expect("PostgreSQL ledger");
    let catalog = connect_mongo(&catalog_db.uri, &catalog_db.db, true)
        .await
        .expect("MongoDB catalog");
    let api = Api::spawn(Backend::assemble(
        Some(catalog),
        Some(ledger),
        Arc::new(emporium_memory::TestPaymentGateway::default()),
    ));
    (pg, catalog_db, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_browsing_works_orders_fail_fast_and_nothing_is_left_behind() {
    let (pg, _catalog_db, api) = with_private_postgres().await;

    let (product, _) = api.product("Ledger Outage Lamp", 10).await;
    let first = api.order(&product, 1).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(api.stock(&product).await, (json!(9), json!(0)));

    pg.stop().await.expect("stop PostgreSQL");

    // Browsing keeps working, without stock figures.
    let list = api.get("/products?category=outage").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    list.assert_bounded("GET /products");
    let items = list.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", list.body);
    assert_eq!(items[0]["id"], json!(product));
    assert_eq!(items[0]["name"], "Ledger Outage Lamp");
    assert_eq!(items[0]["stock"], Value::Null);
    assert_eq!(items[0]["reserved"], Value::Null);
    let one = api.get(&format!("/products/{product}")).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["price"], "12.50");
    assert_eq!(
        (&one.body["stock"], &one.body["reserved"]),
        (&Value::Null, &Value::Null)
    );

    // Orders answer 503 with Retry-After, without hanging; so does a keyed retry.
    let mut order_times = Vec::new();
    for attempt in 0..3 {
        let reply = api.order(&product, 2).await;
        reply.assert_unavailable(&format!("order attempt {attempt}"));
        order_times.push(reply.took);
    }
    let keyed = api.keyed_order("outage-key-1", &product, 2).await;
    keyed.assert_unavailable("order with an Idempotency-Key");
    // Reports come from the ledger: 503 at once, never a hang or a guess.
    for report in [
        "sales-by-product",
        "supplier-performance",
        "low-stock?threshold=3",
    ] {
        api.get(&format!("/reports/{report}"))
            .await
            .assert_unavailable(&format!("report {report}"));
    }
    let health_took = assert_health_names(&api, "postgres", "mongodb").await;
    let list_again = api.get("/products?category=outage").await;
    assert_eq!(list_again.status, StatusCode::OK);

    pg.start().await.expect("start PostgreSQL again");
    let recovered_in = api.wait_healthy().await;

    // Stock figures come back by themselves, and the failed attempts left nothing: no
    // order, no reservation, no unfinished saga.
    let started = Instant::now();
    assert_eq!(api.wait_for_stock(&product).await, (json!(9), json!(0)));
    let stock_back_in = started.elapsed();
    api.assert_nothing_half_written().await;
    let all = api.get("/orders?customer_id=outage-customer").await;
    assert_eq!(
        all.body["total"], 1,
        "only the order placed before the outage: {}",
        all.body
    );

    // Orders work again.
    let placed = api.order(&product, 2).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.body);
    assert_eq!(placed.body["status"], "confirmed");
    assert_eq!(api.stock(&product).await, (json!(7), json!(0)));
    // The key of the failed request can be used again: its claim was never stored.
    let keyed = api.keyed_order("outage-key-1", &product, 1).await;
    assert_eq!(keyed.status, StatusCode::CREATED, "{}", keyed.body);
    assert_eq!(api.stock(&product).await, (json!(6), json!(0)));
    api.assert_nothing_half_written().await;

    println!(
        "postgres down: product list {:?} (200, stock null); orders 503 in {:?}; \
         health 503 in {:?}; healthy again {:?} after the restart; stock figures and orders \
         back {:?} after that",
        list.took, order_times, health_took, recovered_in, stock_back_in
    );
}

impl Api {
    /// An order sent with `Prefer: respond-async`.
    async fn async_order(&self, product: &str, quantity: u32) -> Reply {
        let request = self
            .client
            .post(format!("{}/orders", self.base))
            .header("Prefer", "respond-async")
            .json(&order_body(product, quantity));
        self.send(request).await
    }

    /// Polls `GET /orders/{id}` until its status is not `queued`.
    async fn wait_until_placed(&self, id: &str) -> Value {
        let deadline = Instant::now() + RECOVERY_DEADLINE;
        loop {
            let reply = self.get(&format!("/orders/{id}")).await;
            // `pending` is the moment between the saga's two commits: not an outcome yet.
            let status = reply.body["status"].as_str().unwrap_or_default();
            if reply.status == StatusCode::OK && status != "queued" && status != "pending" {
                return reply.body;
            }
            assert!(
                Instant::now() < deadline,
                "order {id} still not placed after PostgreSQL came back: {} {}",
                reply.status,
                reply.body
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Seed 001's first scenario: PostgreSQL down, orders queued (`Prefer: respond-async`),
/// PostgreSQL back, the queued orders placed in arrival order, each ending confirmed or
/// failed with its reason, seen through `GET /api/orders/{id}` and the feed; the ledger
/// balances. Without the header an order still gets 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_orders_are_queued_and_placed_when_it_returns() {
    use futures::StreamExt;
    let (pg, _catalog_db, api) = with_private_postgres().await;
    let (product, _) = api.product("Queued Outage Lamp", 5).await;
    let before = api.order(&product, 1).await;
    assert_eq!(before.status, StatusCode::CREATED, "{}", before.body);
    let (mut feed, _) = tokio_tungstenite::connect_async(format!(
        "{}/ws?topics=orders",
        api.base.replacen("http://", "ws://", 1)
    ))
    .await
    .expect("feed");

    pg.stop().await.expect("stop PostgreSQL");
    // Without the header: 503, as before.
    api.order(&product, 1)
        .await
        .assert_unavailable("an order without Prefer: respond-async");
    // With it: 202 queued, in arrival order. 4 units are left: the third no longer fits.
    let mut queued = Vec::new();
    for (quantity, total) in [(2, "25.00"), (2, "25.00"), (1, "12.50")] {
        let reply = api.async_order(&product, quantity).await;
        reply.assert_bounded("a queued order");
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        assert_eq!(reply.body["status"], "queued");
        assert_eq!(reply.body["total"], total, "priced when taken");
        let id = reply.body["id"].as_str().expect("id").to_owned();
        assert_eq!(
            reply.headers.get("location").and_then(|l| l.to_str().ok()),
            Some(format!("/api/orders/{id}").as_str())
        );
        assert_eq!(
            reply
                .headers
                .get("preference-applied")
                .and_then(|l| l.to_str().ok()),
            Some("respond-async")
        );
        // Readable while PostgreSQL is still down.
        let read = api.get(&format!("/orders/{id}")).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        assert_eq!(read.body["status"], "queued");
        queued.push(id);
    }
    // Validated against the catalog before it is queued: nothing is queued for it.
    let unknown = api.async_order(&uuid::Uuid::new_v4().to_string(), 1).await;
    assert_eq!(
        unknown.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        unknown.body
    );

    pg.start().await.expect("start PostgreSQL again");
    api.wait_healthy().await;
    let first = api.wait_until_placed(&queued[0]).await;
    let second = api.wait_until_placed(&queued[1]).await;
    let third = api.wait_until_placed(&queued[2]).await;
    assert_eq!(first["status"], "confirmed", "{first}");
    assert_eq!(second["status"], "confirmed", "{second}");
    assert_eq!(third["status"], "failed", "{third}");
    let reason = third["failure_reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("insufficient stock"), "{third}");
    assert_eq!(api.wait_for_stock(&product).await, (json!(0), json!(0)));
    api.assert_nothing_half_written().await;

    // The feed tells the outcome of each: the two sales confirmed, the third failed.
    let mut outcomes = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + RECOVERY_DEADLINE;
    while outcomes.len() < 3 {
        let message = tokio::time::timeout_at(deadline, feed.next())
            .await
            .expect("the queued orders' outcomes reach the feed")
            .expect("feed open")
            .expect("frame");
        let tokio_tungstenite::tungstenite::Message::Text(text) = message else {
            continue;
        };
        let event: Value = serde_json::from_str(&text).expect("JSON event");
        let id = event["id"].as_str().unwrap_or_default().to_owned();
        let status = event["data"]["status"].as_str().unwrap_or_default();
        if queued.contains(&id) && matches!(status, "confirmed" | "failed") {
            outcomes.insert(id, status.to_owned());
        }
    }
    assert_eq!(outcomes[&queued[0]], "confirmed");
    assert_eq!(outcomes[&queued[1]], "confirmed");
    assert_eq!(outcomes[&queued[2]], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_down_orders_for_recently_seen_products_still_work() {
    let mongo = PrivateMongo::launch()
        .await
        .expect("a private MongoDB server");
    let ledger_db = TestPostgres::create()
        .await
        .expect("a PostgreSQL test database");
    let ledger = connect_postgres(
        &ledger_db.url,
        &settings(),
        true,
        emporium_postgres::FeedWakeup::InProcess,
    )
    .await
    .expect("PostgreSQL ledger");
    let catalog = connect_mongo(&mongo.uri, "emporium_outage", true)
        .await
        .expect("MongoDB catalog");
    let api = Api::spawn(Backend::assemble(
        Some(catalog),
        Some(ledger),
        Arc::new(emporium_memory::TestPaymentGateway::default()),
    ));
    // A second handle on the ledger, to look at stock records the API cannot show.
    let inventory = emporium_postgres::PgLedger::connect(
        &ledger_db.url,
        emporium_postgres::PgOptions::default(),
    )
    .await
    .expect("PostgreSQL");

    let (seen, _) = api.product("Catalog Outage Kettle", 10).await;
    // Created through the API, but never read: creating does not fill the cache.
    let (unseen, _) = api.product("Catalog Outage Toaster", 5).await;
    assert_eq!(api.stock(&seen).await, (json!(10), json!(0)));

    mongo.stop().await.expect("stop MongoDB");

    // An order for the product read a moment ago is priced from the cache and placed.
    let first = api.order(&seen, 2).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    first.assert_bounded("the first order after MongoDB went down");
    assert_eq!(first.body["status"], "confirmed");
    assert_eq!(
        first.body["items"][0]["unit_price"], "12.50",
        "{}",
        first.body
    );
    let second = api.order(&seen, 1).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(api.stock(&seen).await, (json!(7), json!(0)), "stock moved");

    // A product the server never read cannot be priced: 503, not a guess.
    let unseen_order = api.order(&unseen, 1).await;
    unseen_order.assert_unavailable("an order for a product never read");
    // Catalog writes and lists need the store.
    let mixer = product_body("Catalog Outage Mixer", 3);
    let create = api.post("/products", &mixer).await;
    create.assert_unavailable("POST /products");
    let list = api.get("/products").await;
    list.assert_unavailable("GET /products");
    let health_took = assert_health_names(&api, "mongodb", "postgres").await;

    mongo.start().await.expect("start MongoDB again");
    let recovered_in = api.wait_healthy().await;

    // The failed create left nothing behind: no stock record, and the same request now
    // succeeds (a leftover catalog entry or stock record would make it a 409).
    let mixer_sku = Sku::parse(mixer["sku"].as_str().expect("sku")).expect("sku");
    assert_eq!(
        inventory.stock(&mixer_sku).await.expect("stock record"),
        None
    );
    let created = api.post("/products", &mixer).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["stock"], 3);

    // Everything works again, the product never read included.
    let late = api.order(&unseen, 1).await;
    assert_eq!(late.status, StatusCode::CREATED, "{}", late.body);
    assert_eq!(api.stock(&unseen).await, (json!(4), json!(0)));
    assert_eq!(api.stock(&seen).await, (json!(7), json!(0)));
    let listed = api.get("/products?category=outage").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["total"], 3, "{}", listed.body);
    api.assert_nothing_half_written().await;

    println!(
        "mongodb down: orders for a cached product 201 in {:?}, then {:?}; order for an \
         uncached product 503 in {:?}; POST /products 503 in {:?}; GET /products 503 in {:?}; \
         health 503 in {:?}; healthy again {:?} after the restart",
        first.took,
        second.took,
        unseen_order.took,
        create.took,
        list.took,
        health_took,
        recovered_in
    );
}
