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

/// A gateway that authorizes, then loses the answer (a timeout on our side).
struct LostAnswer {
    inner: Arc<dyn emporium_domain::ports::PaymentGateway>,
}

#[async_trait]
impl emporium_domain::ports::PaymentGateway for LostAnswer {
    async fn authorize(
        &self,
        key: OrderId,
        amount: &emporium_domain::model::Money,
        token: &str,
    ) -> Result<emporium_domain::ports::Authorization> {
        self.inner.authorize(key, amount, token).await?;
        Err(Error::Unavailable("payment gateway".into()))
    }
    async fn lookup(&self, key: OrderId) -> Result<Option<emporium_domain::ports::Authorization>> {
        self.inner.lookup(key).await
    }
    async fn void(&self, reference: &str) -> Result<()> {
        self.inner.void(reference).await
    }
    async fn refund(&self, reference: &str, amount: &emporium_domain::model::Money) -> Result<()> {
        self.inner.refund(reference, amount).await
    }
}

/// The gateway authorized but the saga never heard: the order fails at once (503, stock
/// back), and recovery later finds the authorization by the order id and voids it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_lost_in_a_timeout_is_voided_by_recovery() {
    let mut backend = Backend::memory();
    let gateway = Arc::new(emporium_memory::TestPaymentGateway::default());
    backend.stores.gateway = Arc::new(LostAnswer {
        inner: gateway.clone(),
    });
    let stores = backend.stores.clone();
    let options = AppOptions {
        admin_token: None,
        recovery: Some(RecoveryConfig {
            interval: Duration::from_millis(300),
            stale_after: Duration::ZERO,
            reservation_ttl: Duration::from_secs(900),
        }),
    };
    let app = Application::with_backend("127.0.0.1:0", backend, options).expect("app");
    let base = format!("http://127.0.0.1:{}/api", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let product: Value = client
        .post(format!("{base}/products"))
        .json(
            &json!({"sku": "LOST-1", "name": "Lost", "category": "c", "price": "7.00", "stock": 3}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid = product["id"].as_str().unwrap().to_owned();
    let reply = client
        .post(format!("{base}/orders"))
        .json(
            &json!({"customer_id": "lost", "items": [{"product_id": pid, "quantity": 1}],
                      "payment": {"method": "card", "token": "tok_visa"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 503);
    assert!(reply.headers().contains_key("retry-after"));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = stores
            .orders
            .list(&OrderQuery {
                customer_id: Some("lost".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let order = &page.items[0];
        assert_eq!(order.status, OrderStatus::Failed);
        if let Some(p) = &order.payment {
            assert_eq!(p.status, emporium_domain::model::PaymentStatus::Voided);
            assert!(gateway.is_voided(p.gateway_ref.as_deref().unwrap()));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lost authorization was never voided"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let p: Value = client
        .get(format!("{base}/products/{pid}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (p["stock"].as_u64(), p["reserved"].as_u64()),
        (Some(3), Some(0))
    );
}
