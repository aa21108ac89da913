//! A compensation that keeps failing is retried with backoff and surfaced (log, metric,
//! `GET /admin/sagas?state=stuck`), never dropped; once the store heals, recovery
//! finishes it.

use crate::support;

use async_trait::async_trait;
use emporium_app::backend::Backend;
use emporium_app::background::RecoveryConfig;
use emporium_app::startup::AppOptions;
use emporium_domain::model::{
    Money, NewOrder, Order, OrderId, OrderQuery, OrderStatus, Page, SagaRecord,
};
use emporium_domain::ports::{Authorization, Cancellation, Orders, PaymentGateway, Settlement};
use emporium_domain::{Error, Result};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Orders whose `fail` and failing settlement (the placement saga's compensation) are down
/// until healed.
struct BrokenCompensation {
    inner: Arc<dyn Orders>,
    broken: AtomicBool,
}

#[async_trait]
impl Orders for BrokenCompensation {
    async fn create_pending(&self, order: &NewOrder) -> Result<Order> {
        self.inner.create_pending(order).await
    }
    async fn reserve(&self, order: &NewOrder, saga: &SagaRecord) -> Result<Order> {
        self.inner.reserve(order, saga).await
    }
    async fn settle(
        &self,
        id: OrderId,
        settlement: &Settlement,
        saga: &SagaRecord,
    ) -> Result<Order> {
        if matches!(settlement, Settlement::Fail(_)) && self.broken.load(Ordering::SeqCst) {
            return Err(Error::Unavailable("postgres".into()));
        }
        self.inner.settle(id, settlement, saga).await
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
    async fn record_failed(&self, order: &NewOrder, reason: &str) -> Result<Order> {
        self.inner.record_failed(order, reason).await
    }
    async fn anonymise(&self, customer: &emporium_domain::model::CustomerId) -> Result<u64> {
        self.inner.anonymise(customer).await
    }
    async fn get(&self, id: OrderId) -> Result<Option<Order>> {
        self.inner.get(id).await
    }
    async fn list(&self, query: &OrderQuery) -> Result<Page<Order>> {
        self.inner.list(query).await
    }
}

/// The app with recovery every 300 ms, treating every saga as abandoned at once.
fn spawn_recovering(backend: Backend, admin_token: Option<&str>) -> String {
    let options = AppOptions {
        admin_tokens: emporium_app::admin_auth::AdminTokens::from_config(None, admin_token)
            .expect("token"),
        recovery: Some(RecoveryConfig {
            interval: Duration::from_millis(300),
            stale_after: Duration::ZERO,
            reservation_ttl: Duration::from_secs(900),
        }),
        ..AppOptions::default()
    };
    support::spawn_app(backend, options)
}

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// Creates a product with `stock` units; returns its id.
async fn product(client: &reqwest::Client, base: &str, sku: &str, stock: u32) -> String {
    let body = json!({"sku": sku, "name": sku, "category": "c", "price": "3.00", "stock": stock});
    let reply = client
        .post(format!("{base}/products"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let p: Value = reply.json().await.unwrap();
    p["id"].as_str().unwrap().to_owned()
}

/// Places an order for `quantity` units of `pid`.
async fn place(
    client: &reqwest::Client,
    base: &str,
    customer: &str,
    (pid, quantity): (&str, u32),
    token: &str,
) -> reqwest::Response {
    let body = json!({"customer_id": customer, "items": [{"product_id": pid, "quantity": quantity}],
                      "payment": {"method": "card", "token": token}});
    client
        .post(format!("{base}/orders"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_compensation_is_surfaced_retried_and_finished() {
    let mut backend = Backend::memory();
    let orders = Arc::new(BrokenCompensation {
        inner: backend.stores.orders.clone(),
        broken: AtomicBool::new(true),
    });
    backend.stores.orders = orders.clone();
    let base = spawn_recovering(backend, Some("stuck-admin-token"));
    let client = reqwest::Client::new();
    let pid = product(&client, &base, "STUCK-1", 5).await;
    let declined = place(&client, &base, "stuck", (&pid, 2), "tok_chargeDeclined").await;
    assert_eq!(declined.status(), 402);

    // The release failed: the saga is stuck, and says so.
    let stuck = || async {
        let body: Value = client
            .get(format!("{base}/admin/sagas?state=stuck"))
            .bearer_auth("stuck-admin-token")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["items"].as_array().unwrap().len()
    };
    assert_eq!(stuck().await, 1);
    let held = get_json(&client, format!("{base}/products/{pid}")).await;
    assert_eq!(held["reserved"], 2, "still held while the store is down");

    // Recovery keeps trying (and fails) while the store is broken; the metric shows it.
    let metrics_url = format!("{}/metrics", base.trim_end_matches("/api"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = client
            .get(&metrics_url)
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
    assert_eq!(stuck().await, 1, "never dropped");

    // The store heals: the next retry (after its backoff) finishes the compensation.
    orders.broken.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = get_json(&client, format!("{base}/products/{pid}")).await;
        if p["reserved"] == 0 && stuck().await == 0 {
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

/// How [`FaultyGateway`] misbehaves on `authorize`.
enum Fault {
    /// Authorizes, then loses the answer (a timeout on our side).
    LostAnswer,
    /// Is down for its first call only.
    DownOnce(AtomicBool),
}

/// The test gateway with a fault injected into `authorize`.
struct FaultyGateway {
    inner: Arc<emporium_memory::TestPaymentGateway>,
    fault: Fault,
}

impl FaultyGateway {
    fn new(fault: Fault) -> (Arc<FaultyGateway>, Arc<emporium_memory::TestPaymentGateway>) {
        let inner = Arc::new(emporium_memory::TestPaymentGateway::default());
        let faulty = Arc::new(FaultyGateway {
            inner: inner.clone(),
            fault,
        });
        (faulty, inner)
    }
}

#[async_trait]
impl PaymentGateway for FaultyGateway {
    async fn authorize(&self, key: OrderId, amount: &Money, token: &str) -> Result<Authorization> {
        let down = Err(Error::Unavailable("payment gateway".into()));
        match &self.fault {
            Fault::LostAnswer => {
                self.inner.authorize(key, amount, token).await?;
                down
            }
            Fault::DownOnce(first) if first.swap(false, Ordering::SeqCst) => down,
            Fault::DownOnce(_) => self.inner.authorize(key, amount, token).await,
        }
    }
    async fn lookup(&self, key: OrderId) -> Result<Option<Authorization>> {
        self.inner.lookup(key).await
    }
    async fn void(&self, reference: &str) -> Result<()> {
        self.inner.void(reference).await
    }
    async fn refund(&self, reference: &str, amount: &Money) -> Result<()> {
        self.inner.refund(reference, amount).await
    }
}

/// The gateway authorized but the saga never heard: the order fails at once (503, stock
/// back), and recovery later finds the authorization by the order id and voids it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_lost_in_a_timeout_is_voided_by_recovery() {
    let mut backend = Backend::memory();
    let (faulty, gateway) = FaultyGateway::new(Fault::LostAnswer);
    backend.stores.gateway = faulty;
    let stores = backend.stores.clone();
    let base = spawn_recovering(backend, None);
    let client = reqwest::Client::new();
    let pid = product(&client, &base, "LOST-1", 3).await;
    let reply = place(&client, &base, "lost", (&pid, 1), "tok_visa").await;
    assert_eq!(reply.status(), 503);
    assert!(reply.headers().contains_key("retry-after"));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let query = OrderQuery {
            customer_id: Some("lost".into()),
            ..Default::default()
        };
        let page = stores.orders.list(&query).await.unwrap();
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
    let p = get_json(&client, format!("{base}/products/{pid}")).await;
    assert_eq!(
        (p["stock"].as_u64(), p["reserved"].as_u64()),
        (Some(3), Some(0))
    );
}

/// A 503 whose order was compensated, retried with the same `Idempotency-Key`, places the
/// order anew (once), instead of replaying a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_retry_after_a_compensated_503_places_the_order() {
    let mut backend = Backend::memory();
    backend.stores.gateway = FaultyGateway::new(Fault::DownOnce(AtomicBool::new(true))).0;
    let base = support::spawn_app(backend, AppOptions::default());
    let client = reqwest::Client::new();
    let pid = product(&client, &base, "RETRY-1", 4).await;
    let body = json!({"customer_id": "retrier", "items": [{"product_id": pid, "quantity": 1}],
                      "payment": {"method": "card", "token": "tok_visa"}});
    let send = || {
        client
            .post(format!("{base}/orders"))
            .header("Idempotency-Key", "retry-after-503")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 503);
    let second = send().await.unwrap();
    assert_eq!(second.status(), 201, "the retry places the order");
    let order: Value = second.json().await.unwrap();
    let third = send().await.unwrap();
    assert_eq!(third.status(), 201);
    assert_eq!(
        third.json::<Value>().await.unwrap()["id"],
        order["id"],
        "replayed"
    );
    let p = get_json(&client, format!("{base}/products/{pid}")).await;
    assert_eq!(
        (p["stock"].as_u64(), p["reserved"].as_u64()),
        (Some(3), Some(0)),
        "sold once"
    );
    let page = get_json(
        &client,
        format!("{base}/orders?customer_id=retrier&status=confirmed"),
    )
    .await;
    assert_eq!(page["total"], 1);
}
