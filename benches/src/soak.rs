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
use anyhow::{bail, Context, Result};
use emporium_chaos::{Fault, FaultProxy};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

    let migrate = tokio::process::Command::new(&binary)
        .arg("migrate")
        .envs(env.iter().cloned())
        .output()
        .await?;
    if !migrate.status.success() {
        bail!(
            "emporium migrate: {}",
            String::from_utf8_lossy(&migrate.stderr)
        );
    }
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

/// splitmix64: a client's own reproducible choices.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One client: 55% places an order, 10% cancels one of its confirmed orders, 35% browses.
async fn client(run: Arc<Run>, n: u64) {
    let mut dice = Dice(0x5EED_0000 + n);
    let mut mine: Vec<uuid::Uuid> = Vec::new();
    while Instant::now() < run.end {
        match dice.below(100) {
            0..=54 => {
                if let Some(id) = place(&run, &mut dice, n).await {
                    mine.push(id);
                }
            }
            55..=64 if !mine.is_empty() => {
                let id = mine.swap_remove(dice.below(mine.len()));
                cancel(&run, id).await;
            }
            _ => browse(&run, &mut dice, &mine).await,
        }
    }
}

/// What one attempt came to.
enum Attempt {
    /// An answer to keep: 2xx or a refusal.
    Final(StatusCode, Value),
    /// 503, 5xx other than 500, or no answer: try again.
    Retry,
}

async fn attempt(run: &Run, op: &'static str, request: reqwest::RequestBuilder) -> Attempt {
    let sent = Instant::now();
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let outcome = match body["error"]["code"].as_str() {
                Some(code) => format!("{} {code}", status.as_u16()),
                None => status.as_u16().to_string(),
            };
            run.record(op, sent, outcome);
            if status == StatusCode::SERVICE_UNAVAILABLE
                || status == StatusCode::BAD_GATEWAY
                || status == StatusCode::GATEWAY_TIMEOUT
                // A keyed retry that arrives while the first attempt still runs.
                || (status == StatusCode::CONFLICT
                    && body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("still in flight")))
            {
                Attempt::Retry
            } else {
                Attempt::Final(status, body)
            }
        }
        Err(e) => {
            let outcome = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connection refused"
            } else {
                "connection cut"
            };
            run.record(op, sent, outcome.into());
            Attempt::Retry
        }
    }
}

/// Sends until a final answer, or until the grace after the end runs out.
async fn until_final(
    run: &Run,
    op: &'static str,
    what: String,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Option<(StatusCode, Value)> {
    let mut pause = Duration::from_millis(50);
    loop {
        if let Attempt::Final(status, body) = attempt(run, op, request()).await {
            return Some((status, body));
        }
        if Instant::now() > run.end + GRACE {
            run.unresolved.lock().expect("unresolved").push(what);
            return None;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

async fn place(run: &Run, dice: &mut Dice, n: u64) -> Option<uuid::Uuid> {
    let lines = 1 + dice.below(2);
    let mut items = Vec::new();
    let first = dice.below(run.catalog.len());
    for line in 0..lines {
        let product = &run.catalog[(first + line * 7) % run.catalog.len()];
        items.push(json!({"product_id": product.id, "quantity": 1 + dice.below(2)}));
    }
    let body = json!({"customer_id": format!("soak-{n}"), "items": items,
                      "payment": {"method": "card", "token": "tok_visa"}});
    let key = uuid::Uuid::new_v4().to_string();
    let url = format!("{}/orders", run.base);
    let (status, order) = until_final(run, "place", format!("placement {key}"), || {
        run.http
            .post(&url)
            .header("Idempotency-Key", &key)
            .json(&body)
    })
    .await?;
    if !status.is_success() {
        return None;
    }
    let id = order["id"].as_str().and_then(|s| s.parse().ok())?;
    run.placed.lock().expect("placed").push(id);
    Some(id)
}

async fn cancel(run: &Run, id: uuid::Uuid) {
    let url = format!("{}/orders/{id}", run.base);
    run.cancel_sent.lock().expect("cancel_sent").push(id);
    if let Some((status, _)) = until_final(run, "cancel", format!("cancel {id}"), || {
        run.http.delete(&url)
    })
    .await
    {
        if status == StatusCode::OK {
            run.cancelled.lock().expect("cancelled").push(id);
        }
    }
}

async fn browse(run: &Run, dice: &mut Dice, mine: &[uuid::Uuid]) {
    let product = &run.catalog[dice.below(run.catalog.len())];
    let (op, url) = match dice.below(4) {
        0 => (
            "list",
            format!("{}/products?category=soak&limit=20", run.base),
        ),
        1 => ("product", format!("{}/products/{}", run.base, product.id)),
        2 => (
            "stock",
            format!("{}/products/{}/stock", run.base, product.id),
        ),
        _ => match mine.first() {
            Some(id) => ("order", format!("{}/orders/{id}", run.base)),
            None => (
                "list",
                format!("{}/products?category=soak&limit=20", run.base),
            ),
        },
    };
    // Browsing is not retried: a shopper reloads the page later.
    if let Attempt::Retry = attempt(run, op, run.http.get(&url)).await {
        tokio::time::sleep(Duration::from_millis(100)).await;
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

fn schedule(seconds: u64) -> Vec<(f64, Disturbance, Duration)> {
    let window = Duration::from_secs((seconds / 12).clamp(3, 20));
    let short = Duration::from_secs((seconds / 30).clamp(2, 6));
    let latency = Fault::Latency {
        latency: Duration::from_millis(100),
        jitter: Duration::from_millis(50),
    };
    use Disturbance::*;
    vec![
        (0.08, Proxy("postgres", latency, 1.0), window),
        (0.18, Proxy("mongodb", latency, 1.0), window),
        (0.28, Proxy("postgres", Fault::Reset, 0.5), short),
        (0.36, RestartPostgres, short),
        (0.46, Proxy("mongodb", Fault::Reset, 0.5), short),
        (
            0.54,
            Proxy(
                "mongodb",
                Fault::Bandwidth {
                    kilobytes_per_second: 64,
                },
                1.0,
            ),
            window,
        ),
        (0.64, RestartMongodb, short),
        (0.74, Proxy("postgres", Fault::HalfOpen, 0.3), short),
        (0.84, Proxy("mongodb", Fault::BlackHole, 0.3), short),
        (
            0.90,
            Proxy(
                "postgres",
                Fault::Bandwidth {
                    kilobytes_per_second: 64,
                },
                1.0,
            ),
            short,
        ),
    ]
}

/// Kills and restarts the server every `kill_every`, and runs the schedule's faults beside.
async fn disturb(
    app: &mut App,
    stack: &Stack,
    proxies: &Proxies,
    run: &Arc<Run>,
    args: &SoakArgs,
) -> Result<Vec<Kill>> {
    let total = Duration::from_secs(args.seconds);
    let faults = async {
        for (at, what, length) in schedule(args.seconds) {
            let due = run.started + total.mul_f64(at);
            tokio::time::sleep_until(due.into()).await;
            let from = Instant::now();
            let name = match what {
                Disturbance::Proxy(target, fault, toxicity) => {
                    let proxy = if target == "postgres" {
                        &proxies.postgres
                    } else {
                        &proxies.mongodb
                    };
                    proxy.inject(fault, toxicity).await?;
                    tokio::time::sleep(length).await;
                    proxy.clear().await?;
                    format!(
                        "{target} {fault:?} ({:.0}% of connections)",
                        toxicity * 100.0
                    )
                }
                Disturbance::RestartPostgres => {
                    restart_postgres(stack, length).await?;
                    "postgres restarted (immediate stop)".into()
                }
                Disturbance::RestartMongodb => {
                    restart_mongodb(stack, length).await?;
                    "mongodb killed and restarted".into()
                }
            };
            eprintln!("  {name}: {:.1} s", from.elapsed().as_secs_f64());
            run.window(name, from, Instant::now());
        }
        Ok::<_, anyhow::Error>(())
    };
    let kills = async {
        let mut kills = Vec::new();
        let every = Duration::from_secs(args.kill_every.max(1));
        let mut due = run.started + every;
        while due + Duration::from_secs(2) < run.end {
            tokio::time::sleep_until(due.into()).await;
            let at = Instant::now();
            app.kill().await;
            app.spawn().await?;
            let serving_after = app.wait_serving(Duration::from_secs(60)).await?;
            run.window("server killed".into(), at, Instant::now());
            eprintln!(
                "  kill -9 at {:.0} s: serving again after {:.2} s",
                (at - run.started).as_secs_f64(),
                serving_after.as_secs_f64()
            );
            kills.push(Kill {
                at: at - run.started,
                serving_after,
                first_order_after: None,
            });
            due += every;
        }
        Ok::<_, anyhow::Error>(kills)
    };
    let (faults, kills) = tokio::join!(faults, kills);
    faults?;
    let mut kills = kills?;
    tokio::time::sleep_until(run.end.into()).await;
    let samples = run.samples.lock().expect("samples");
    for kill in &mut kills {
        kill.first_order_after = samples
            .iter()
            .filter(|s| s.op == "place" && s.outcome == "201" && s.at > kill.at)
            .map(|s| s.at + s.latency - kill.at)
            .min();
    }
    Ok(kills)
}

/// The stack's PostgreSQL: `pg_ctl stop -m immediate` (what a crash leaves), down for
/// `down`, then started again (crash recovery).
async fn restart_postgres(stack: &Stack, down: Duration) -> Result<()> {
    let bindir = PathBuf::from(stack.var("EMPORIUM_BACKUP_PG_BINDIR")?);
    let data = PathBuf::from(stack.var("EMPORIUM_BACKUP_PG_DATA")?);
    let log = data.parent().unwrap_or(&data).join("server.log");
    let run_as = stack.var("EMPORIUM_BACKUP_RUN_AS").ok();
    let pg_ctl = |args: Vec<String>| {
        let mut command = match &run_as {
            Some(user) => {
                let mut c = tokio::process::Command::new("runuser");
                c.args(["-u", user, "--"]).arg(bindir.join("pg_ctl"));
                c
            }
            None => tokio::process::Command::new(bindir.join("pg_ctl")),
        };
        command.arg("-D").arg(&data).args(args);
        command
    };
    let stop = pg_ctl(vec![
        "stop".into(),
        "-m".into(),
        "immediate".into(),
        "-w".into(),
    ])
    .output()
    .await?;
    if !stop.status.success() {
        bail!("pg_ctl stop: {}", String::from_utf8_lossy(&stop.stderr));
    }
    tokio::time::sleep(down).await;
    let start = pg_ctl(vec![
        "start".into(),
        "-w".into(),
        "-t".into(),
        "120".into(),
        "-l".into(),
        log.display().to_string(),
    ])
    .output()
    .await?;
    if !start.status.success() {
        bail!("pg_ctl start: {}", String::from_utf8_lossy(&start.stderr));
    }
    Ok(())
}

/// The stack's MongoDB stand-in: kill -9, down for `down`, then `up --private` starts it
/// again on the same storage.
async fn restart_mongodb(stack: &Stack, down: Duration) -> Result<()> {
    let pid = std::fs::read_to_string(stack.dir.join("mongo.pid"))?;
    let status = tokio::process::Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .await?;
    if !status.success() {
        bail!("kill -9 {pid} failed");
    }
    tokio::time::sleep(down).await;
    stack.start().await?;
    Ok(())
}

/// Waits until no saga is left running, compensating or stuck, and no order pending or
/// queued; the time it took.
async fn wait_for_sagas(pg: &mut PgConnection, log: &Path) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM saga_log WHERE state NOT IN ('completed', 'compensated')) \
                  + (SELECT count(*) FROM orders WHERE status IN ('pending', 'queued'))",
        )
        .fetch_one(&mut *pg)
        .await?;
        if open == 0 {
            return Ok(started.elapsed());
        }
        if started.elapsed() > SETTLE_BOUND {
            eprintln!("{open} sagas or orders still open after {SETTLE_BOUND:?}:");
            describe_open(pg, log).await?;
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Prints what a saga or order left open looks like: every saga record of its subject, the
/// order, and the server's log lines that name it, so that a failed run can be read.
async fn describe_open(pg: &mut PgConnection, log: &Path) -> Result<()> {
    let subjects: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT subject FROM saga_log WHERE state NOT IN ('completed', 'compensated') \
         UNION SELECT id FROM orders WHERE status IN ('pending', 'queued') LIMIT 20",
    )
    .fetch_all(&mut *pg)
    .await?;
    let log = std::fs::read_to_string(log).unwrap_or_default();
    for subject in subjects {
        let order: Option<(String, String)> =
            sqlx::query_as("SELECT status, created_at::text FROM orders WHERE id = $1")
                .bind(subject)
                .fetch_optional(&mut *pg)
                .await?;
        eprintln!("  subject {subject}: order {order:?}");
        let sagas: Vec<(uuid::Uuid, String, String, String, String, String)> = sqlx::query_as(
            "SELECT id, kind, state, started_at::text, updated_at::text, entries::text \
             FROM saga_log WHERE subject = $1 ORDER BY started_at",
        )
        .bind(subject)
        .fetch_all(&mut *pg)
        .await?;
        for (id, kind, state, started, updated, entries) in sagas {
            eprintln!(
                "    saga {id} {kind} {state} started {started} updated {updated}: {entries}"
            );
        }
        let payments: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT status, gateway_ref FROM payments WHERE order_id = $1")
                .bind(subject)
                .fetch_all(&mut *pg)
                .await?;
        eprintln!("    payments {payments:?}");
        for line in log
            .lines()
            .filter(|l| l.contains(&subject.to_string()))
            .take(40)
        {
            eprintln!("    log: {line}");
        }
    }
    Ok(())
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

/// The authorizations the test gateway voided, from its journal (one JSON object a line).
fn voided_authorizations(journal: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(journal)
        .with_context(|| format!("reading the gateway journal {}", journal.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|entry| entry.get("void")?.as_str().map(str::to_owned))
        .collect())
}

async fn check(
    pg: &mut PgConnection,
    mongo_uri: &str,
    journal: &Path,
    run: &Run,
) -> Result<Checks> {
    let placed = run.placed.lock().expect("placed").clone();
    let cancelled = run.cancelled.lock().expect("cancelled").clone();
    let cancel_sent = run.cancel_sent.lock().expect("cancel_sent").clone();
    let skus: Vec<String> = run.catalog.iter().map(|p| p.sku.clone()).collect();
    let initial: Vec<i64> = run.catalog.iter().map(|p| p.initial).collect();
    let mut checks = Checks {
        placed: placed.len(),
        cancelled: cancelled.len(),
        ..Checks::default()
    };
    let (oversold, unbalanced, units_sold): (i64, i64, i64) = sqlx::query_as(
        "WITH run AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS r(sku, initial)), \
              sold AS (SELECT i.sku, sum(i.quantity)::bigint AS units FROM order_items i \
                       JOIN orders o ON o.id = i.order_id \
                       WHERE o.status IN ('confirmed', 'shipped', 'delivered') GROUP BY i.sku) \
         SELECT coalesce(sum(greatest(coalesce(sold.units, 0) - run.initial, 0)), 0)::bigint, \
                coalesce(sum(abs((run.initial - s.on_hand) - coalesce(sold.units, 0)) \
                             + s.reserved), 0)::bigint, \
                coalesce(sum(sold.units), 0)::bigint \
         FROM run JOIN inventory s ON s.sku = run.sku LEFT JOIN sold ON sold.sku = run.sku",
    )
    .bind(&skus)
    .bind(&initial)
    .fetch_one(&mut *pg)
    .await?;
    let warehouses_off: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(abs(i.on_hand - w.on_hand) + abs(i.reserved - w.reserved)), 0)::bigint \
         FROM inventory i JOIN (SELECT sku, sum(on_hand) AS on_hand, sum(reserved) AS reserved \
                                FROM warehouse_stock GROUP BY sku) w ON w.sku = i.sku",
    )
    .fetch_one(&mut *pg)
    .await?;
    let missing_stock: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unnest($1::text[]) AS r(sku) \
         WHERE NOT EXISTS (SELECT 1 FROM inventory i WHERE i.sku = r.sku)",
    )
    .bind(&skus)
    .fetch_one(&mut *pg)
    .await?;
    checks.oversold = oversold;
    checks.unbalanced = unbalanced + warehouses_off + missing_stock;
    checks.units_sold = units_sold;
    // Kept: confirmed with an authorized payment and never cancelled by this run, or
    // cancelled by this run (a cancel whose answer was lost counts if it landed). A 200
    // cancel must have landed.
    let lost: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT p.id, coalesce(o.status, 'missing') FROM unnest($1::uuid[]) AS p(id) \
         LEFT JOIN orders o ON o.id = p.id \
         WHERE NOT ((o.status = 'cancelled' AND p.id = ANY($3)) \
                 OR (o.status = 'confirmed' AND NOT (p.id = ANY($2)) AND EXISTS \
                     (SELECT 1 FROM payments y WHERE y.order_id = p.id AND y.status = 'authorized'))) \
            OR o.status IS NULL",
    )
    .bind(&placed)
    .bind(&cancelled)
    .bind(&cancel_sent)
    .fetch_all(&mut *pg)
    .await?;
    for (id, status) in lost.iter().take(10) {
        eprintln!("lost: order {id} answered 2xx is {status}");
    }
    checks.lost = lost.len() as i64;
    checks.double_charged = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM (SELECT order_id FROM payments GROUP BY order_id \
                                       HAVING count(*) > 1) d) \
              + (SELECT count(*) FROM payments p JOIN orders o ON o.id = p.order_id \
                 WHERE p.status = 'authorized' \
                   AND o.status NOT IN ('confirmed', 'shipped', 'delivered'))",
    )
    .fetch_one(&mut *pg)
    .await?;
    let unpaid: Vec<(uuid::Uuid, String, Option<String>)> = sqlx::query_as(
        "SELECT o.id, o.status, p.status FROM orders o \
           LEFT JOIN payments p ON p.order_id = o.id \
          WHERE o.status IN ('confirmed', 'shipped', 'delivered') \
            AND (p.status IS DISTINCT FROM 'authorized' OR p.gateway_ref = ANY($1))",
    )
    .bind(voided_authorizations(journal)?)
    .fetch_all(&mut *pg)
    .await?;
    for (id, status, payment) in unpaid.iter().take(10) {
        eprintln!("unpaid sale: order {id} is {status}, its payment {payment:?} or voided");
    }
    checks.unpaid_sales = unpaid.len() as i64;
    checks.open_sagas = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM saga_log WHERE state NOT IN ('completed', 'compensated')) \
              + (SELECT count(*) FROM orders WHERE status IN ('pending', 'queued'))",
    )
    .fetch_one(&mut *pg)
    .await?;
    checks.confirmed_orders =
        sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'confirmed'")
            .fetch_one(&mut *pg)
            .await?;
    checks.duplicated_events = sqlx::query_scalar(
        "SELECT coalesce(sum(n - 1), 0)::bigint FROM ( \
             SELECT count(*) AS n FROM outbox WHERE event_type IN ('order.created', 'order.updated') \
             GROUP BY aggregate_id, event_type, payload->>'status' HAVING count(*) > 1) d",
    )
    .fetch_one(&mut *pg)
    .await?;
    // The relay publishes within a second; give it a few.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        checks.unpublished_events =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE seq IS NULL")
                .fetch_one(&mut *pg)
                .await?;
        if checks.unpublished_events == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mongo = mongodb::Client::with_uri_str(mongo_uri).await?;
    let stored = mongo
        .database("emporium")
        .collection::<mongodb::bson::Document>("products")
        .count_documents(mongodb::bson::doc! {"sku": {"$in": &skus}})
        .await?;
    checks.missing_products = skus.len() as i64 - stored as i64;
    Ok(checks)
}

/// schemathesis's verdict on the real stores.
struct Fuzz {
    passed: bool,
    operations: usize,
    examples: u64,
    summary: String,
}

/// schemathesis against the server on the real stores, sized to about `requests`
/// requests: `--max-examples` is that over the document's operations. The restore and PITR
/// routes are left out: they replace the data they run on and hold the shop in
/// maintenance (503) while they do, which their own tests cover.
async fn fuzz(root: &Path, app: &App, requests: u64) -> Result<Fuzz> {
    let venv = tokio::process::Command::new("bash")
        .arg("-c")
        .arg("source scripts/lib.sh >/dev/null && ensure_schemathesis >&2 && echo \"$SCHEMATHESIS_VENV\"")
        .current_dir(root)
        .output()
        .await?;
    if !venv.status.success() {
        bail!(
            "installing schemathesis: {}",
            String::from_utf8_lossy(&venv.stderr)
        );
    }
    let venv = PathBuf::from(String::from_utf8_lossy(&venv.stdout).trim());
    let document: Value = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await?
        .json()
        .await?;
    let operations = document["paths"]
        .as_object()
        .map(|paths| {
            paths
                .values()
                .filter_map(Value::as_object)
                .map(|p| p.keys().filter(|k| *k != "parameters").count())
                .sum::<usize>()
        })
        .unwrap_or(1)
        .max(1);
    let examples = (requests / operations as u64).max(1);
    eprintln!("fuzz: schemathesis, {operations} operations x {examples} examples, real stores ...");
    let output = tokio::process::Command::new(venv.join("bin/schemathesis"))
        .arg("run")
        .arg(format!("{}/openapi.json", app.base))
        .args(["--checks", "all", "--seed", "20261206", "--no-color"])
        .args(["--max-examples", &examples.to_string()])
        .args(["--exclude-path-regex", "/api/admin/(restore|pitr)"])
        .args(["-H", &format!("Authorization: Bearer {ADMIN_TOKEN}")])
        .current_dir(root)
        .output()
        .await?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let summary: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect();
    if !output.status.success() {
        eprintln!("{text}");
    }
    Ok(Fuzz {
        passed: output.status.success(),
        operations,
        examples,
        summary: summary.join("\n"),
    })
}

fn report(
    run: &Run,
    kills: &[Kill],
    checks: &Checks,
    settle: Duration,
    load_ended: Instant,
    fuzz: Option<&Fuzz>,
    args: &SoakArgs,
) -> String {
    let samples = run.samples.lock().expect("samples");
    let windows = run.windows.lock().expect("windows");
    let disturbed = |s: &Sample| {
        windows
            .iter()
            .any(|(_, from, to)| s.at + s.latency >= *from && s.at <= *to)
    };
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line(format!(
        "soak: {} clients, {} s of load (+{:.0} s of retries after it), kill -9 every {} s",
        args.clients,
        args.seconds,
        (load_ended - run.end).as_secs_f64().max(0.0),
        args.kill_every
    ));
    let mut by_op: BTreeMap<&str, usize> = BTreeMap::new();
    let mut mix: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples.iter() {
        *by_op.entry(s.op).or_default() += 1;
        *mix.entry(format!("{} {}", s.op, s.outcome)).or_default() += 1;
    }
    line(format!(
        "requests: {} ({})",
        samples.len(),
        by_op
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    line(format!(
        "orders: {} placed (2xx), {} cancelled (200), {} confirmed in the ledger, {} units sold; \
         {} left answerless after the grace",
        checks.placed,
        checks.cancelled,
        checks.confirmed_orders,
        checks.units_sold,
        run.unresolved.lock().expect("unresolved").len()
    ));
    line("answers:".into());
    for (what, n) in &mix {
        line(format!("  {what:<40} {n:>8}"));
    }
    let latency = |calm: bool| {
        let mut l: Vec<u64> = samples
            .iter()
            .filter(|s| disturbed(s) != calm)
            .map(|s| s.latency.as_micros() as u64)
            .collect();
        l.sort_unstable();
        (l.len(), percentile(&l, 50.0), percentile(&l, 99.0))
    };
    let (n_calm, p50_calm, p99_calm) = latency(true);
    let (n_hit, p50_hit, p99_hit) = latency(false);
    line(format!(
        "latency without faults: {n_calm} requests, p50 {p50_calm:.1} ms, p99 {p99_calm:.1} ms"
    ));
    line(format!(
        "latency during faults:  {n_hit} requests, p50 {p50_hit:.1} ms, p99 {p99_hit:.1} ms"
    ));
    line("faults:".into());
    for (what, from, to) in windows.iter().filter(|(w, ..)| w != "server killed") {
        line(format!(
            "  {:>6.1} s .. {:>6.1} s  {what}",
            from.as_secs_f64(),
            to.as_secs_f64()
        ));
    }
    line(format!("kill -9: {}", kills.len()));
    for k in kills {
        line(format!(
            "  at {:>5.0} s: serving after {:.2} s, first order placed {}",
            k.at.as_secs_f64(),
            k.serving_after.as_secs_f64(),
            k.first_order_after.map_or("never".into(), |d| format!(
                "{:.2} s after the kill",
                d.as_secs_f64()
            ))
        ));
    }
    line(format!(
        "sagas: all ended {:.1} s after the load (bound {} s)",
        settle.as_secs_f64(),
        SETTLE_BOUND.as_secs()
    ));
    if let Some(f) = fuzz {
        line(format!(
            "fuzz (schemathesis, real stores): {} operations x {} examples: {}",
            f.operations,
            f.examples,
            if f.passed { "passed" } else { "FAILED" }
        ));
        for l in f.summary.lines() {
            line(format!("  {l}"));
        }
    }
    line(format!(
        "checked against the databases: oversold={} unbalanced={} lost={} double_charged={} \
         unpaid_sales={} open_sagas={} duplicated_events={} unpublished_events={} missing_products={} \
         server_errors={}",
        checks.oversold,
        checks.unbalanced,
        checks.lost,
        checks.double_charged,
        checks.unpaid_sales,
        checks.open_sagas,
        checks.duplicated_events,
        checks.unpublished_events,
        checks.missing_products,
        checks.server_errors
    ));
    let violations = checks.violations();
    line(if violations.is_empty() {
        "violations: 0".into()
    } else {
        format!("VIOLATIONS: {}", violations.join(", "))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_and_port_of_store_urls() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5433/emporium").unwrap(),
            "127.0.0.1:5433"
        );
        assert_eq!(
            host_port("mongodb://127.0.0.1:27018/?directConnection=true").unwrap(),
            "127.0.0.1:27018"
        );
        assert!(host_port("postgres://localhost/emporium").is_err());
    }
}
