//! Crash tests: the real `emporium` binary on the real stores, killed with SIGKILL inside
//! each step of the order saga (a test-only fail point, `EMPORIUM_FAILPOINT`, stops the
//! saga exactly there), then started again. The restarted process's recovery must drive
//! every saga to an end, and stock, order status and payments must add up afterwards.
//! The test payment gateway keeps a journal file, playing an external gateway that
//! outlives our process, so "never charged twice" can be checked.

use emporium_testkit::harness::postgres::TestPostgres;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The stores and files one test's server generations share.
struct World {
    pg: TestPostgres,
    mongo: emporium_testkit::harness::mongo::TestMongo,
    journal: PathBuf,
}

impl World {
    async fn new() -> World {
        let journal =
            std::env::temp_dir().join(format!("emporium-gw-{}.jsonl", uuid::Uuid::new_v4()));
        World {
            pg: TestPostgres::create()
                .await
                .expect("test PostgreSQL database"),
            mongo: emporium_testkit::harness::mongo::create()
                .await
                .expect("test MongoDB database"),
            journal,
        }
    }

    /// Journal lines that approved `order_id`.
    fn approvals_of(&self, order_id: &str) -> usize {
        std::fs::read_to_string(&self.journal)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["key"] == order_id && e["approved"].is_string())
            .count()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.journal);
    }
}

/// One running `emporium serve` process.
struct Server {
    child: Child,
    base: String,
    stderr: mpsc::Receiver<String>,
    client: reqwest::Client,
}

impl Drop for Server {
    /// A test that fails leaves no server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Server {
    /// Starts the binary on the world's stores and waits until it is healthy.
    async fn start(world: &World, failpoint: Option<&str>, recover_at_once: bool) -> Server {
        Server::start_with(world, failpoint, recover_at_once, &[]).await
    }

    /// [`Server::start`] with more settings in its environment.
    async fn start_with(
        world: &World,
        failpoint: Option<&str>,
        recover_at_once: bool,
        env: &[(&str, &str)],
    ) -> Server {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_emporium"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("EMPORIUM_LISTEN", format!("127.0.0.1:{port}"))
            .env("EMPORIUM_POSTGRES_URL", &world.pg.url)
            .env("EMPORIUM_MONGODB_URI", &world.mongo.uri)
            .env("EMPORIUM_MONGODB_DB", &world.mongo.db)
            .env("EMPORIUM_TEST_GATEWAY_JOURNAL", &world.journal)
            .env("EMPORIUM_RECOVERY_INTERVAL_SECS", "1")
            .env(
                "EMPORIUM_RECOVERY_STALE_AFTER_SECS",
                if recover_at_once { "0" } else { "600" },
            )
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(name) = failpoint {
            cmd.env("EMPORIUM_FAILPOINT", name);
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("emporium starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}/api"),
            stderr: rx,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self
                .client
                .get(format!("{}/health", self.base))
                .send()
                .await
            {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the server did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the fail point's marker line on stderr.
    fn wait_for_failpoint(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let marker = format!("{} {name}", emporium_domain::failpoint::MARKER);
        while Instant::now() < deadline {
            if let Ok(line) = self.stderr.recv_timeout(Duration::from_millis(200)) {
                if line.contains(&marker) {
                    return;
                }
            }
        }
        panic!("fail point {name} was never reached");
    }

    /// SIGKILL: no destructor, no graceful shutdown, nothing flushed.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and returns at once.
    fn terminate(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    /// Waits up to `limit` for the process to exit; its exit status and how long it took.
    fn exit_within(mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let since = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status, since.elapsed());
            }
            if since.elapsed() > limit {
                self.child.kill().ok();
                panic!("the server did not exit within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM: a graceful stop.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("POST");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn product(&self, stock: u32) -> String {
        let sku = format!("CRASH-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let (status, body) = self
            .post(
                "/products",
                &json!({"sku": sku, "name": "Crash Test Dummy", "category": "test",
                        "price": "12.34", "stock": stock}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    async fn stock(&self, product: &str) -> (u64, u64) {
        let (_, p) = self.get(&format!("/products/{product}")).await;
        (
            p["stock"].as_u64().unwrap(),
            p["reserved"].as_u64().unwrap(),
        )
    }

    /// The only order of `customer`, once it has left `pending` (recovery is at work).
    async fn settled_order(&self, customer: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, page) = self.get(&format!("/orders?customer_id={customer}")).await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            assert!(items.len() <= 1, "one order at most: {page}");
            if let Some(order) = items.first() {
                if order["status"] != "pending" {
                    return order.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "the order was never settled: {page}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Places an order on a server that will stop at `failpoint`, kills it there, and starts
/// a new generation that recovers. Returns the new server, the product and the customer.
async fn crash_inside(world: &World, failpoint: &str, token: &str) -> (Server, String, String) {
    let first = Server::start(world, Some(failpoint), false).await;
    let product = first.product(10).await;
    let customer = format!("crash-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let request = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 2}],
                         "payment": {"method": "card", "token": token}});
    let url = format!("{}/orders", first.base);
    let client = first.client.clone();
    // The request never gets an answer: its process dies mid-saga.
    let in_flight = tokio::spawn(async move { client.post(url).json(&request).send().await });
    first.wait_for_failpoint(failpoint);
    first.kill();
    assert!(
        in_flight.await.expect("task").is_err(),
        "the client sees the connection die"
    );

    let second = Server::start(world, None, true).await;
    (second, product, customer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_reservation_releases_the_stock() {
    let world = World::new().await;
    let (server, product, customer) =
        crash_inside(&world, "place_order.after_reserve_stock", "tok_visa").await;
    let order = server.settled_order(&customer).await;
    assert_eq!(order["status"], "failed", "before the pivot: compensated");
    assert!(
        order["payment"].is_null(),
        "no payment was ever taken: {order}"
    );
    assert_eq!(
        server.stock(&product).await,
        (10, 0),
        "every reserved unit is back"
    );
    assert_eq!(world.approvals_of(order["id"].as_str().unwrap()), 0);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_authorization_confirms_the_paid_order() {
    let world = World::new().await;
    let (server, product, customer) =
        crash_inside(&world, "place_order.after_authorize_payment", "tok_visa").await;
    let order = server.settled_order(&customer).await;
    assert_eq!(order["status"], "confirmed", "after the pivot: forward");
    assert_eq!(order["payment"]["status"], "authorized");
    assert_eq!(order["payment"]["amount"], "24.68");
    assert_eq!(
        server.stock(&product).await,
        (8, 0),
        "the reservation became a sale"
    );
    assert_eq!(
        world.approvals_of(order["id"].as_str().unwrap()),
        1,
        "authorized exactly once"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_compensation_finishes_it() {
    let world = World::new().await;
    let (server, product, customer) = crash_inside(
        &world,
        "place_order.during_compensation",
        "tok_chargeDeclined",
    )
    .await;
    let order = server.settled_order(&customer).await;
    assert_eq!(order["status"], "failed");
    assert_eq!(order["payment"]["status"], "declined");
    assert_eq!(server.stock(&product).await, (10, 0));
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_restart() {
    let world = World::new().await;
    let first = Server::start(&world, None, false).await;
    let (_, supplier) = first
        .post(
            "/suppliers",
            &json!({"name": "Durable Goods", "region": "EU"}),
        )
        .await;
    let product = first.product(5).await;
    let (status, order) = first
        .post(
            "/orders",
            &json!({"customer_id": "durable", "items": [{"product_id": product, "quantity": 1}],
                    "payment": {"method": "card", "token": "tok_visa"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let before = (
        first.get(&format!("/products/{product}")).await.1,
        first
            .get(&format!("/orders/{}", order["id"].as_str().unwrap()))
            .await
            .1,
        first
            .get(&format!("/suppliers/{}", supplier["id"].as_str().unwrap()))
            .await
            .1,
    );
    first.stop();

    let second = Server::start(&world, None, false).await;
    let after = (
        second.get(&format!("/products/{product}")).await.1,
        second
            .get(&format!("/orders/{}", order["id"].as_str().unwrap()))
            .await
            .1,
        second
            .get(&format!("/suppliers/{}", supplier["id"].as_str().unwrap()))
            .await
            .1,
    );
    assert_eq!(after, before, "everything is still there after a restart");
    assert_eq!(after.0["stock"], 4);
    second.stop();
}

/// SIGKILL between commit and publish: the order and the product are committed (and a
/// stock change is typed in psql while no server runs), nothing of it is published by the
/// killed process; the next one publishes it, and a client replaying with `since` gets
/// every change exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_commit_and_publish_loses_no_event() {
    use futures::StreamExt;
    let world = World::new().await;
    let first = Server::start(&world, Some("feed.before_relay"), false).await;
    first.wait_for_failpoint("feed.before_relay");
    let product = first.product(5).await;
    let (status, order) = first
        .post(
            "/orders",
            &json!({"customer_id": customer("feed-kill"), "items": [{"product_id": product, "quantity": 2}],
                    "payment": {"method": "card", "token": "tok_visa"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let order_id = order["id"].as_str().unwrap().to_owned();
    first.kill();

    let pool = sqlx::PgPool::connect(&world.pg.url).await.expect("psql");
    sqlx::query("UPDATE inventory SET on_hand = on_hand + 10 WHERE product_id = $1")
        .bind(uuid::Uuid::parse_str(&product).unwrap())
        .execute(&pool)
        .await
        .expect("direct update while no server runs");
    pool.close().await;

    let second = Server::start(&world, None, false).await;
    let url = format!("{}/ws?since=0", second.base.replacen("http://", "ws://", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    let mut events: Vec<Value> = Vec::new();
    let wanted = |events: &[Value]| {
        let has = |kind: &str, id: &str, extra: &dyn Fn(&Value) -> bool| {
            events
                .iter()
                .any(|e| e["type"] == kind && e["id"] == id && extra(e))
        };
        has("order.created", &order_id, &|_| true)
            && has("order.updated", &order_id, &|e| {
                e["data"]["status"] == "confirmed"
            })
            && has("product.created", &product, &|_| true)
            && has("stock.changed", &product, &|e| e["data"]["stock"] == 13)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !wanted(&events) {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
                events.push(serde_json::from_str(&text).expect("JSON"));
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("replay incomplete ({other:?}); got {events:#?}"),
        }
    }
    // Exactly once each: nothing was published twice by the two processes.
    let mut seqs: Vec<&str> = events.iter().map(|e| e["seq"].as_str().unwrap()).collect();
    let total = seqs.len();
    seqs.dedup();
    assert_eq!(seqs.len(), total, "no event twice: {events:#?}");
    let created = events
        .iter()
        .filter(|e| e["type"] == "order.created" && e["id"] == order_id.as_str())
        .count();
    assert_eq!(created, 1);
    second.stop();
}

/// A customer name no other test uses.
fn customer(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// SIGTERM while an order is inside the gateway call: the order finishes and is answered,
/// no new connection is accepted, and the process exits cleanly once it is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_order_under_way_finish_then_exits() {
    let world = World::new().await;
    let server = Server::start_with(
        &world,
        None,
        false,
        &[
            ("EMPORIUM_TEST_GATEWAY_LATENCY_MS", "1500"),
            ("EMPORIUM_SHUTDOWN_DRAIN_SECS", "20"),
        ],
    )
    .await;
    let product = server.product(5).await;
    let customer = customer("drain");
    let request = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}],
                         "payment": {"method": "card", "token": "tok_visa"}});
    let url = format!("{}/orders", server.base);
    let client = server.client.clone();
    let in_flight = tokio::spawn(async move {
        let r = client
            .post(url)
            .json(&request)
            .send()
            .await
            .expect("an answer");
        (r.status(), r.json::<Value>().await.expect("JSON"))
    });
    tokio::time::sleep(Duration::from_millis(500)).await; // inside the 1.5 s authorization
    server.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fresh = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert!(
        fresh
            .get(format!("{}/health", server.base))
            .send()
            .await
            .is_err(),
        "a draining server takes no new connection"
    );
    let (status, order) = in_flight.await.expect("task");
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "confirmed");
    let (exit, took) = server.exit_within(Duration::from_secs(30));
    assert!(exit.success(), "a drained server exits cleanly: {exit:?}");
    assert!(
        took < Duration::from_secs(15),
        "exited {took:?} after SIGTERM"
    );

    let next = Server::start(&world, None, false).await;
    assert_eq!(next.stock(&product).await, (4, 0), "the sale is durable");
    assert_eq!(world.approvals_of(order["id"].as_str().unwrap()), 1);
    next.stop();
}

/// The drain time bounds the exit: an order that cannot finish in time is cut off, and the
/// next process's recovery settles it from the saga log (stock and payment agree).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_drain_time_and_recovery_settles_the_rest() {
    let world = World::new().await;
    let server = Server::start_with(
        &world,
        None,
        false,
        &[
            ("EMPORIUM_TEST_GATEWAY_LATENCY_MS", "8000"),
            ("EMPORIUM_SHUTDOWN_DRAIN_SECS", "1"),
        ],
    )
    .await;
    let product = server.product(5).await;
    let customer = customer("cutoff");
    let request = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}],
                         "payment": {"method": "card", "token": "tok_visa"}});
    let url = format!("{}/orders", server.base);
    let client = server.client.clone();
    let in_flight = tokio::spawn(async move { client.post(url).json(&request).send().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.terminate();
    let (_, took) = server.exit_within(Duration::from_secs(6));
    assert!(
        took < Duration::from_secs(4),
        "a 1 s drain, then exit: took {took:?}"
    );
    assert!(
        in_flight.await.expect("task").is_err(),
        "the cut-off request gets no answer"
    );

    let next = Server::start(&world, None, true).await;
    let order = next.settled_order(&customer).await;
    let approvals = world.approvals_of(order["id"].as_str().unwrap());
    match order["status"].as_str() {
        Some("confirmed") => {
            assert_eq!(next.stock(&product).await, (4, 0));
            assert_eq!(approvals, 1);
        }
        Some("failed") => {
            assert_eq!(next.stock(&product).await, (5, 0), "units back");
            assert_eq!(approvals, 0, "never charged");
        }
        other => panic!("unexpected status {other:?}: {order}"),
    }
    next.stop();
}
