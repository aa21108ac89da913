//! A compensation that keeps failing is retried with backoff and surfaced (log, metric,
//! `GET /api/admin/sagas?state=stuck`), never dropped; once the store heals, recovery
//! finishes it.

use async_trait::async_trait;
use emporium_app::backend::Backend;
use emporium_app::background::RecoveryConfig;
use emporium_app::startup::{AppOptions, Application};
use emporium_domain::model::{NewOrder, Order, OrderId, OrderQuery, OrderStatus, Page};
use emporium_domain::ports::{Cancellation, Orders};
use emporium_domain::{Error, Result};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Orders whose `fail` (the placement saga's compensation) is down until healed.
struct BrokenCompensation {
    inner: Arc<dyn Orders>,
    broken: AtomicBool,
}

#[async_trait]
impl Orders for BrokenCompensation {
    async fn create_pending(&self, order: &NewOrder) -> Result<Order> {
        self.inner.create_pending(order).await
    }
    async fn confirm(&self, id: OrderId) -> Result<Order> {
        self.inner.confirm(id).await
    }
    async fn fail(&self, id: OrderId) -> Result<Order> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(Error::Unavailable("postgres".into()));
        }
        self.inner.fail(id).await
    }
    async fn cancel(&self, id: OrderId) -> Result<Cancellation> {
        self.inner.cancel(id).await
    }
    async fn advance(&self, id: OrderId, to: OrderStatus) -> Result<Order> {
        self.inner.advance(id, to).await
    }
    async fn get(&self, id: OrderId) -> Result<Option<Order>> {
        self.inner.get(id).await
    }
    async fn list(&self, query: &OrderQuery) -> Result<Page<Order>> {
        self.inner.list(query).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_compensation_is_surfaced_retried_and_finished() {
    let mut backend = Backend::memory();
    let orders = Arc::new(BrokenCompensation {
        inner: backend.stores.orders.clone(),
        broken: AtomicBool::new(true),
    });
    backend.stores.orders = orders.clone();
    let options = AppOptions {
        admin_token: Some("t".into()),
        recovery: Some(RecoveryConfig {
            interval: Duration::from_millis(300),
            stale_after: Duration::ZERO,
            reservation_ttl: Duration::from_secs(900),
        }),
    };
    let app = Application::with_backend("127.0.0.1:0", backend, options).expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    let product: Value = client
        .post(format!("{base}/api/products"))
        .json(&json!({"sku": "STUCK-1", "name": "Sticky", "category": "c", "price": "3.00", "stock": 5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid = product["id"].as_str().unwrap().to_owned();
    let declined = client
        .post(format!("{base}/api/orders"))
        .json(
            &json!({"customer_id": "stuck", "items": [{"product_id": pid, "quantity": 2}],
                      "payment": {"method": "card", "token": "tok_chargeDeclined"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status(), 402);

    // The release failed: the saga is stuck, and says so.
    let stuck = |client: reqwest::Client, base: String| async move {
        let body: Value = client
            .get(format!("{base}/api/admin/sagas?state=stuck"))
            .bearer_auth("t")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["items"].as_array().unwrap().len()
    };
    assert_eq!(stuck(client.clone(), base.clone()).await, 1);
    let product_now: Value = client
        .get(format!("{base}/api/products/{pid}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        product_now["reserved"], 2,
        "still held while the store is down"
    );

    // Recovery keeps trying (and fails) while the store is broken; the metric shows it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("emporium_sagas_stuck 1")
            && !metrics.contains("emporium_recovery_failures_total 0")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "stuck saga never surfaced in /metrics:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        stuck(client.clone(), base.clone()).await,
        1,
        "never dropped"
    );

    // The store heals: the next retry (after its backoff) finishes the compensation.
    orders.broken.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p: Value = client
            .get(format!("{base}/api/products/{pid}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if p["reserved"] == 0 && stuck(client.clone(), base.clone()).await == 0 {
            assert_eq!(p["stock"], 5, "every unit is back");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stuck saga was never finished: {p}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
