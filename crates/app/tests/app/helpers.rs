//! Spawning the app and talking to it.

use emporium_app::backend::Backend;
use emporium_app::startup::AppOptions;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A `write` admin token (named `ops`) and a `read` one (named `viewer`).
pub const ADMIN_TOKEN: &str = "test-admin-token-write";
pub const READ_TOKEN: &str = "test-admin-token-read";

pub fn admin_tokens() -> emporium_app::admin_auth::AdminTokens {
    emporium_app::admin_auth::AdminTokens::from_config(
        Some(&format!("ops:write:{ADMIN_TOKEN},viewer:read:{READ_TOKEN}")),
        None,
    )
    .expect("test tokens")
}

/// A running app on a random port, with the guards that keep its databases alive.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    _guards: crate::support::Guards,
}

/// Starts the app on `backend` (port 0: the OS picks a free one).
pub async fn spawn(backend: Backend, guards: crate::support::Guards) -> TestApp {
    let options = AppOptions {
        admin_tokens: admin_tokens(),
        recovery: None,
        ..AppOptions::default()
    };
    spawn_with(backend, guards, options)
}

/// A folder of a test's own, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The memory set with its backups in a folder of the test's own, and a payment gateway
/// that takes `gateway_latency` per payment (to hold an order in flight).
pub async fn spawn_memory_with_backups(
    gateway_latency: std::time::Duration,
) -> (TestApp, std::path::PathBuf) {
    let dir = TempDir::new("emporium-test-backups");
    let path = dir.0.clone();
    let gateway = emporium_memory::TestPaymentGateway::default().with_latency(gateway_latency);
    let backend = Backend::assemble(None, None, std::sync::Arc::new(gateway));
    let options = AppOptions {
        admin_tokens: admin_tokens(),
        recovery: None,
        backup_dir: Some(path.clone()),
        ..AppOptions::default()
    };
    (spawn_with(backend, vec![Box::new(dir)], options), path)
}

/// Another server on the memory set whose backups and backup log are in `dir` (which the
/// caller keeps): what a restarted server finds there.
pub fn spawn_memory_on_backup_dir(dir: &std::path::Path) -> TestApp {
    let gateway = emporium_memory::TestPaymentGateway::default();
    let backend = Backend::assemble(None, None, std::sync::Arc::new(gateway));
    let options = AppOptions {
        admin_tokens: admin_tokens(),
        recovery: None,
        backup_dir: Some(dir.to_path_buf()),
        ..AppOptions::default()
    };
    spawn_with(backend, Vec::new(), options)
}

/// The real stores with backups on: a private PostgreSQL cluster archiving its WAL into a
/// pgBackRest repository of its own, and a fresh MongoDB database; backups in a folder of
/// the test's own.
pub async fn spawn_real_with_backups() -> (TestApp, std::path::PathBuf) {
    use emporium_testkit::harness::private_postgres::{PrivatePostgres, BACKUP_STANZA};
    let pg = PrivatePostgres::launch_backup_ready()
        .await
        .expect("backup-ready PostgreSQL");
    let mongo = emporium_testkit::harness::mongo::create()
        .await
        .expect("test MongoDB database");
    let mut settings = emporium_app::config::Settings::load(None).expect("default settings");
    settings.backup_pgbackrest_stanza = Some(BACKUP_STANZA.into());
    settings.backup_pgbackrest_config = Some(pg.pgbackrest_config().display().to_string());
    settings.backup_pg_data = Some(pg.data_dir().display().to_string());
    settings.backup_pg_bindir = pg.bindir().map(|d| d.display().to_string());
    settings.backup_run_as = pg.run_as();
    let ledger = emporium_app::backend::connect_postgres(
        &pg.url,
        &settings,
        true,
        emporium_postgres::FeedWakeup::InProcess,
    )
    .await
    .expect("PostgreSQL ledger");
    let catalog = emporium_app::backend::connect_mongo(&mongo.uri, &mongo.db, true)
        .await
        .expect("MongoDB catalog");
    let pg_backup = emporium_app::backups::postgres_backup(&ledger, &settings);
    let mongo_backup = emporium_mongo::MongoBackup::new(catalog.database().clone());
    let mut backend = Backend::assemble(
        Some(catalog),
        Some(ledger),
        std::sync::Arc::new(emporium_memory::TestPaymentGateway::default()),
    );
    backend.backups.push(pg_backup);
    backend.backups.push(std::sync::Arc::new(mongo_backup));
    let dir = TempDir::new("emporium-test-backups");
    let path = dir.0.clone();
    let options = AppOptions {
        admin_tokens: admin_tokens(),
        recovery: None,
        backup_dir: Some(path.clone()),
        ..AppOptions::default()
    };
    let guards: crate::support::Guards = vec![Box::new(pg), Box::new(mongo), Box::new(dir)];
    (spawn_with(backend, guards, options), path)
}

pub fn spawn_with(
    backend: Backend,
    guards: crate::support::Guards,
    options: AppOptions,
) -> TestApp {
    TestApp {
        base: crate::support::spawn_app(backend, options),
        client: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            // The server closes a connection idle for 5 s (actix's keep-alive); a pooled
            // connection reused just as it closes fails the request (`IncompleteMessage`,
            // seen after a slow CLI backup). Dropping them at 2 s removes that race.
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("client"),
        _guards: guards,
    }
}

pub async fn spawn_memory() -> TestApp {
    spawn(Backend::memory(), Vec::new()).await
}

/// The app on real stores: a fresh PostgreSQL database and a fresh MongoDB database.
pub async fn spawn_real() -> TestApp {
    let (backend, guards) = crate::support::real_backend().await;
    spawn(backend, guards).await
}

/// Status and JSON body (`Value::Null` for an empty body).
pub type Reply = (StatusCode, Value);

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body ({status}): {text}"))
    };
    (status, body)
}

impl TestApp {
    /// The PostgreSQL database of an app on the real stores.
    pub fn postgres_url(&self) -> Option<String> {
        self._guards.iter().find_map(|g| {
            g.downcast_ref::<emporium_testkit::harness::postgres::TestPostgres>()
                .map(|pg| pg.url.clone())
        })
    }

    /// The MongoDB database of an app on the real stores.
    pub fn mongo_database(&self) -> Option<(String, String)> {
        self._guards.iter().find_map(|g| {
            g.downcast_ref::<emporium_testkit::harness::mongo::TestMongo>()
                .map(|m| (m.uri.clone(), m.db.clone()))
        })
    }

    /// The environment that points `emporium` (the binary) at this app's stores and
    /// backups (an app from [`spawn_real_with_backups`]).
    pub fn cli_env(&self, backup_dir: &std::path::Path) -> Vec<(String, String)> {
        use emporium_testkit::harness::private_postgres::{PrivatePostgres, BACKUP_STANZA};
        let pg = self
            ._guards
            .iter()
            .find_map(|g| g.downcast_ref::<PrivatePostgres>())
            .expect("a backup-ready PostgreSQL");
        let (uri, db) = self.mongo_database().expect("a MongoDB app");
        let mut env = vec![
            ("EMPORIUM_POSTGRES_URL".into(), pg.url.clone()),
            ("EMPORIUM_MONGODB_URI".into(), uri),
            ("EMPORIUM_MONGODB_DB".into(), db),
            ("EMPORIUM_TEST_GATEWAY".into(), "true".into()),
            (
                "EMPORIUM_BACKUP_DIR".into(),
                backup_dir.display().to_string(),
            ),
            (
                "EMPORIUM_BACKUP_PGBACKREST_STANZA".into(),
                BACKUP_STANZA.into(),
            ),
            (
                "EMPORIUM_BACKUP_PGBACKREST_CONFIG".into(),
                pg.pgbackrest_config().display().to_string(),
            ),
            (
                "EMPORIUM_BACKUP_PG_DATA".into(),
                pg.data_dir().display().to_string(),
            ),
            ("RUST_LOG".into(), "warn".into()),
        ];
        if let Some(dir) = pg.bindir() {
            env.push((
                "EMPORIUM_BACKUP_PG_BINDIR".into(),
                dir.display().to_string(),
            ));
        }
        if let Some(user) = pg.run_as() {
            env.push(("EMPORIUM_BACKUP_RUN_AS".into(), user));
        }
        env
    }

    /// `ws://.../api/ws?<query>`.
    pub fn ws_url(&self, query: &str) -> String {
        format!("{}/ws?{query}", self.base.replacen("http://", "ws://", 1))
    }

    /// `GET /metrics` (outside `/api`), as text.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics").replace("/api/metrics", "/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("the metrics text")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Reply {
        reply(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        reply(
            self.client
                .post(self.url(path))
                .json(body)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        reply(
            self.client
                .put(self.url(path))
                .json(body)
                .send()
                .await
                .expect("PUT"),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        reply(
            self.client
                .delete(self.url(path))
                .send()
                .await
                .expect("DELETE"),
        )
        .await
    }

    /// POST with an `Idempotency-Key`; also says whether the answer was a replay.
    pub async fn post_idempotent(&self, path: &str, key: &str, body: &Value) -> (Reply, bool) {
        let response = self
            .client
            .post(self.url(path))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("POST");
        let replayed = response.headers().get("Idempotent-Replayed").is_some();
        (reply(response).await, replayed)
    }

    /// Sends a raw body with a JSON content type.
    pub async fn post_raw(&self, path: &str, body: &str) -> Reply {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("POST");
        reply(response).await
    }

    /// Creates a product with a unique SKU and returns its JSON.
    pub async fn product(&self, name: &str, category: &str, price: &str, stock: u32) -> Value {
        let (status, body) = self
            .post(
                "/products",
                &json!({"sku": unique_sku(), "name": name, "category": category,
                        "price": price, "stock": stock}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Places an order for `(product_id, quantity)` lines.
    pub async fn order(&self, customer: &str, lines: &[(&str, u32)], token: &str) -> Reply {
        let items: Vec<Value> = lines
            .iter()
            .map(|(id, q)| json!({"product_id": id, "quantity": q}))
            .collect();
        self.post(
            "/orders",
            &json!({"customer_id": customer, "items": items,
                    "payment": {"method": "card", "token": token}}),
        )
        .await
    }

    /// Renames a product straight in MongoDB, as the MongoDB shell would (real stores only).
    pub async fn rename_in_mongodb(&self, product_id: &str, name: &str) {
        self.rename_document("products", product_id, name).await
    }

    /// Sets `name` on the document `id` of `collection`, as the MongoDB shell would.
    pub async fn rename_document(&self, collection: &str, id: &str, name: &str) {
        let (uri, db) = self.mongo_database().expect("a MongoDB app");
        let client = mongodb::Client::with_uri_str(&uri).await.expect("mongo");
        let uuid = uuid::Uuid::parse_str(id).expect("a uuid");
        client
            .database(&db)
            .collection::<mongodb::bson::Document>(collection)
            .update_one(
                mongodb::bson::doc! {"_id": mongodb::bson::Binary {
                    subtype: mongodb::bson::spec::BinarySubtype::Uuid,
                    bytes: uuid.as_bytes().to_vec(),
                }},
                mongodb::bson::doc! {"$set": {"name": name}},
            )
            .await
            .expect("direct update");
    }

    /// An admin call with the `write` token (`ops`); the reply and its `Location`.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (Reply, Option<String>) {
        self.admin_as(ADMIN_TOKEN, method, path, body).await
    }

    pub async fn admin_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (Reply, Option<String>) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("admin call");
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().expect("location").to_owned());
        (reply(response).await, location)
    }

    /// Polls a job's log entry until it is no longer running (at most 120 s).
    pub async fn wait_for_job(&self, id: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let ((status, job), _) = self
                .admin(
                    reqwest::Method::GET,
                    &format!("/admin/backup-logs/{id}"),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if job["status"] != "running" {
                return job;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job {id} still runs: {job}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// `stock` (available) and `reserved` of a product.
    pub async fn stock(&self, id: &str) -> (u64, u64) {
        let (status, body) = self.get(&format!("/products/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["stock"].as_u64().expect("stock"),
            body["reserved"].as_u64().expect("reserved"),
        )
    }
}

pub fn unique_sku() -> String {
    format!("T-{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// The `field` names of a 422's details.
pub fn fields(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details in {body}"))
        .iter()
        .map(|d| d["field"].as_str().unwrap_or_default().to_owned())
        .collect()
}

pub fn id(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body}"))
        .to_owned()
}
