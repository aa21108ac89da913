//! `emporium-bench soak`: the shop under sustained load and mixed faults (issue 13), with
//! the outcome checked against the databases, not against what the app says.
//!
//! What it does, in order:
//! 1. starts a private stack (`scripts/dev-services.sh up --private`: a PostgreSQL cluster
//!    of its own and the MongoDB stand-in, or what `EMPORIUM_TEST_MONGODB_URI` names is not
//!    used: the stand-in is restarted during the run, so it must be the stack's own), and
//!    puts a fault proxy (`emporium-chaos`) in front of each store;
//! 2. starts the `emporium` server through the proxies and creates `--products` products:
//!    a quarter of them scarce (a few units, so they sell out under load and an oversell
//!    would show), the rest plentiful;
//! 3. runs `--clients` clients for `--seconds`: each places orders (with an
//!    `Idempotency-Key`, retried with the same key after a 503 or a cut connection, as a
//!    careful client does), cancels some of its confirmed orders, and browses;
//! 4. meanwhile: kill -9 of the server every `--kill-every` seconds and a restart at once;
//!    PostgreSQL stopped (immediate: a crash) and started once, and the MongoDB stand-in
//!    killed and started once; proxy faults on both stores (latency with jitter, resets,
//!    bandwidth, a black hole, half-open), each for a window;
//! 5. clears the faults, waits for every saga to end (the bound is reported), and checks
//!    against the databases: 0 units oversold, the stock ledger balancing exactly per SKU
//!    and per warehouse, 0 lost orders (every 2xx placement stored `confirmed` with an
//!    authorized payment, or `cancelled` when this run cancelled it), 0 double charges, no
//!    saga left unfinished, no order transition announced twice in the feed, every feed
//!    event published once;
//! 6. fuzzes the API with schemathesis on the same real stores (`--fuzz-requests`), with
//!    no faults;
//! 7. prints the counts, the error mix, p50/p99 with and without faults, the recovery time
//!    after each kill, and the violations; exits non-zero on any violation.
//!
//! ```text
//! cargo run --release -p emporium-bench -- soak                 # 10 minutes, 64 clients
//! cargo run -p emporium-bench -- soak --seconds 60 --debug --fuzz-requests 0   # the CI form
//! ```

use crate::backup::Stack;
use crate::placement::{percentile, server_binary, workspace_root};
use crate::process::succeed;
use anyhow::{bail, Context, Result};
use emporium_chaos::{Fault, FaultProxy};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod checks;
mod clients;
mod faults;
mod fuzz;
mod report;

use checks::{check, wait_for_sagas};
use clients::client;
use faults::disturb;
use fuzz::fuzz;
use report::report;

#[derive(clap::Parser, Clone)]
pub struct SoakArgs {
    /// Seconds of load and faults.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Concurrent clients (each sends one request at a time).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds between two kill -9 of the server.
    #[arg(long, default_value_t = 30)]
    kill_every: u64,
    /// Products to create; a quarter of them scarce.
    #[arg(long, default_value_t = 80)]
    products: usize,
    /// Requests schemathesis sends on the real stores after the soak (0: no fuzz).
    #[arg(long, default_value_t = 10_000)]
    fuzz_requests: u64,
    /// Run the debug build of the server (the CI form), not the release build.
    #[arg(long)]
    debug: bool,
    /// Keep the private stack and its folder afterwards (the folder is printed).
    #[arg(long)]
    keep: bool,
}

/// Units of a scarce product: a few, so the load sells them out.
const SCARCE: i64 = 25;
/// Units of a plentiful product: more than any run sells.
const PLENTIFUL: i64 = 1_000_000;
/// How long a client keeps retrying an answerless placement or cancel after the end.
const GRACE: Duration = Duration::from_secs(60);
/// How long every saga gets to end once the faults are gone.
const SETTLE_BOUND: Duration = Duration::from_secs(120);
const ADMIN_TOKEN: &str = "soak-admin-token";

pub async fn soak(args: SoakArgs) -> Result<()> {
    let root = workspace_root();
    let binary = server_binary(&root, !args.debug)?;
    let dir = std::env::temp_dir().join(format!("emporium-soak-{}", std::process::id()));
    let stack = Stack::up(&root, &dir, args.keep).await?;
    let pg_url = stack.var("EMPORIUM_POSTGRES_URL")?;
    let mongo_uri = stack.var("EMPORIUM_MONGODB_URI")?;
    let pg_proxy = FaultProxy::start("postgres", "127.0.0.1:0", &host_port(&pg_url)?).await?;
    let mongo_proxy = FaultProxy::start("mongodb", "127.0.0.1:0", &host_port(&mongo_uri)?).await?;
    let mut env = stack.env.clone();
    env.retain(|(k, _)| k != "EMPORIUM_POSTGRES_URL" && k != "EMPORIUM_MONGODB_URI");
    env.push((
        "EMPORIUM_POSTGRES_URL".into(),
        pg_url.replace(
            &host_port(&pg_url)?,
            &format!("127.0.0.1:{}", pg_proxy.port()),
        ),
    ));
    env.push((
        "EMPORIUM_MONGODB_URI".into(),
        mongo_uri.replace(
            &host_port(&mongo_uri)?,
            &format!("127.0.0.1:{}", mongo_proxy.port()),
        ),
    ));
    env.push(("EMPORIUM_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    env.push(("EMPORIUM_LISTEN".into(), format!("127.0.0.1:{port}")));
    env.push(("RUST_LOG".into(), "warn".into()));
    // The test gateway keeps its answers in a journal, as a real gateway keeps them across
    // our restarts: after a kill, recovery asks it what it authorized.
    let journal = dir.join("gateway.journal");
    env.push((
        "EMPORIUM_TEST_GATEWAY_JOURNAL".into(),
        journal.display().to_string(),
    ));

    succeed(
        tokio::process::Command::new(&binary)
            .arg("migrate")
            .envs(env.iter().cloned()),
        "emporium migrate",
    )
    .await?;
    let mut app = App {
        binary,
        env,
        base: format!("http://127.0.0.1:{port}/api"),
        log: dir.join("app.log"),
        child: None,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(args.clients)
            .build()?,
    };
    app.spawn().await?;
    app.wait_serving(Duration::from_secs(60)).await?;

    let catalog = create_products(&app, args.products).await?;
    eprintln!(
        "soak: {} clients for {} s, kill -9 every {} s, {} products",
        args.clients,
        args.seconds,
        args.kill_every,
        catalog.len()
    );
    let started = Instant::now();
    let run = Arc::new(Run {
        base: app.base.clone(),
        http: app.http.clone(),
        catalog,
        started,
        end: started + Duration::from_secs(args.seconds),
        samples: Mutex::default(),
        windows: Mutex::default(),
        placed: Mutex::default(),
        cancelled: Mutex::default(),
        cancel_sent: Mutex::default(),
        unresolved: Mutex::default(),
    });
    let clients: Vec<_> = (0..args.clients)
        .map(|n| tokio::spawn(client(run.clone(), n as u64)))
        .collect();
    let proxies = Proxies {
        postgres: pg_proxy,
        mongodb: mongo_proxy,
    };
    let kills = disturb(&mut app, &stack, &proxies, &run, &args).await?;
    proxies.postgres.clear().await?;
    proxies.mongodb.clear().await?;
    for c in clients {
        c.await?;
    }
    let load_ended = Instant::now();
    eprintln!("load over; waiting for every saga to end ...");
    let mut pg = PgConnection::connect(&pg_url).await?;
    let settle = wait_for_sagas(&mut pg, &app.log).await?;
    let mut checks = check(&mut pg, &mongo_uri, &journal, &run).await?;
    checks.server_errors = run
        .samples
        .lock()
        .expect("samples")
        .iter()
        .filter(|s| s.outcome.starts_with("500"))
        .count() as i64;
    let fuzz = if args.fuzz_requests > 0 {
        Some(fuzz(&root, &app, args.fuzz_requests).await?)
    } else {
        None
    };
    app.kill().await;

    let report = report(
        &run,
        &kills,
        &checks,
        settle,
        load_ended,
        fuzz.as_ref(),
        &args,
    );
    println!("{report}");
    drop(stack);
    if !checks.violations().is_empty() || fuzz.as_ref().is_some_and(|f| !f.passed) {
        bail!("the soak found violations");
    }
    Ok(())
}

/// `host:port` of a PostgreSQL URL or a MongoDB URI.
fn host_port(url: &str) -> Result<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = &rest[..end];
    if host.is_empty() || !host.contains(':') {
        bail!("no host:port in {url}");
    }
    Ok(host.to_owned())
}

/// The server process, restarted after each kill on the same port.
struct App {
    binary: PathBuf,
    env: Vec<(String, String)>,
    base: String,
    log: PathBuf,
    child: Option<tokio::process::Child>,
    http: reqwest::Client,
}

impl App {
    async fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = tokio::process::Command::new(&self.binary)
            .arg("serve")
            .envs(self.env.iter().cloned())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting the server")?;
        self.child = Some(child);
        Ok(())
    }

    /// kill -9, and waits for the process to be gone.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Waits until the server answers `GET /api/health` at all (200 or 503: it serves).
    async fn wait_serving(&self, bound: Duration) -> Result<Duration> {
        let started = Instant::now();
        loop {
            let health = self
                .http
                .get(format!("{}/health", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok() {
                return Ok(started.elapsed());
            }
            if started.elapsed() > bound {
                bail!(
                    "the server did not answer within {bound:?}; its log: {}",
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A product of the run: its id, SKU and the units it started with.
struct Product {
    id: String,
    sku: String,
    initial: i64,
}

async fn create_products(app: &App, count: usize) -> Result<Vec<Product>> {
    let mut products = Vec::with_capacity(count);
    for i in 0..count {
        let initial = if i % 4 == 0 { SCARCE } else { PLENTIFUL };
        let sku = format!("SOAK-{i}");
        let body = json!({"sku": sku, "name": format!("Soak item {i}"), "category": "soak",
                          "price": format!("{}.{:02}", 1 + i % 50, i % 100), "stock": initial});
        let response = app
            .http
            .post(format!("{}/products", app.base))
            .json(&body)
            .send()
            .await?;
        if response.status() != StatusCode::CREATED {
            bail!("creating a product: {}", response.text().await?);
        }
        let created: Value = response.json().await?;
        let id = created["id"].as_str().context("product id")?.to_owned();
        products.push(Product { id, sku, initial });
    }
    Ok(products)
}

/// What the clients did and when; shared by every client and the disturber.
struct Run {
    base: String,
    http: reqwest::Client,
    catalog: Vec<Product>,
    started: Instant,
    end: Instant,
    samples: Mutex<Vec<Sample>>,
    /// Disturbances: what, from and to (since `started`).
    windows: Mutex<Vec<(String, Duration, Duration)>>,
    /// Order ids answered 2xx to a placement.
    placed: Mutex<Vec<uuid::Uuid>>,
    /// Order ids answered 200 to a cancel.
    cancelled: Mutex<Vec<uuid::Uuid>>,
    /// Order ids a cancel was sent for, whatever the answer: one whose answer was lost
    /// (a cut connection, a kill) may have landed, and its retry is then 409.
    cancel_sent: Mutex<Vec<uuid::Uuid>>,
    /// Placements and cancels still answerless when the grace ran out.
    unresolved: Mutex<Vec<String>>,
}

struct Sample {
    /// Since `started`.
    at: Duration,
    latency: Duration,
    op: &'static str,
    outcome: String,
}

impl Run {
    fn record(&self, op: &'static str, sent: Instant, outcome: String) {
        let sample = Sample {
            at: sent - self.started,
            latency: sent.elapsed(),
            op,
            outcome,
        };
        self.samples.lock().expect("samples").push(sample);
    }

    fn window(&self, what: String, from: Instant, to: Instant) {
        self.windows
            .lock()
            .expect("windows")
            .push((what, from - self.started, to - self.started));
    }
}

struct Proxies {
    postgres: FaultProxy,
    mongodb: FaultProxy,
}

/// One kill -9: when, how long until the new process answered, and until the first
/// order placed after the kill.
struct Kill {
    at: Duration,
    serving_after: Duration,
    first_order_after: Option<Duration>,
}

/// What happens when during the run, as fractions of it.
#[derive(Clone, Copy)]
enum Disturbance {
    Proxy(&'static str, Fault, f32),
    RestartPostgres,
    RestartMongodb,
}

/// What the databases say, whatever the clients saw.
#[derive(Default)]
struct Checks {
    placed: usize,
    cancelled: usize,
    /// Units sold beyond a product's initial stock.
    oversold: i64,
    /// Units by which a product's stock differs from its initial stock less the units of
    /// its sold order lines, plus units still reserved, plus per-warehouse rows that do not
    /// add up to the product's record.
    unbalanced: i64,
    /// 2xx placements not stored `confirmed` with an authorized payment nor `cancelled`
    /// by this run; 200 cancels not stored `cancelled`.
    lost: i64,
    /// Orders with more than one payment, and authorized payments of unsold orders.
    double_charged: i64,
    /// Sold orders (confirmed, shipped, delivered) without an authorized payment on
    /// record, or whose authorization the gateway voided.
    unpaid_sales: i64,
    /// Sagas not finished, and orders left `pending` or `queued`.
    open_sagas: i64,
    /// An order's creation or one status announced more than once in the feed.
    duplicated_events: i64,
    /// Feed events the relay never published.
    unpublished_events: i64,
    /// Products of the run missing from the catalog.
    missing_products: i64,
    /// Answers 500 (a bug, whatever the fault).
    server_errors: i64,
    /// Confirmed orders and units sold, for the report.
    confirmed_orders: i64,
    units_sold: i64,
}

impl Checks {
    fn violations(&self) -> Vec<String> {
        [
            ("oversold units", self.oversold),
            ("unbalanced stock units", self.unbalanced),
            ("lost orders", self.lost),
            ("double charges", self.double_charged),
            ("unpaid sales", self.unpaid_sales),
            ("open sagas", self.open_sagas),
            ("duplicated events", self.duplicated_events),
            ("unpublished events", self.unpublished_events),
            ("missing products", self.missing_products),
            ("500 answers", self.server_errors),
        ]
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(what, n)| format!("{what}: {n}"))
        .collect()
    }
}

/// schemathesis's verdict on the real stores.
struct Fuzz {
    passed: bool,
    operations: usize,
    examples: u64,
    summary: String,
}
