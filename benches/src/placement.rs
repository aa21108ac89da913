//! `emporium-bench placement --vs-ceiling`: order placement over HTTP against the PostgreSQL
//! ceiling for the same work, measured side by side in one run.
//!
//! What it does, in order:
//! 1. runs `benches/ceiling/pgbench-ceiling.sh` (the single-transaction order: lock the SKU
//!    row, insert the order and its lines, decrement stock, insert the payment) on the
//!    configured PostgreSQL, for the `random` and `hot` workloads;
//! 2. builds and starts the `emporium` server in release mode on a fresh database of the
//!    same server (catalog in memory, ledger on PostgreSQL, full placement saga);
//! 3. per workload, creates the products, warms up with the same load for `--warmup`
//!    seconds, runs `VACUUM ANALYZE` and `CHECKPOINT` (as the ceiling does), then places
//!    orders with N clients for the given time (one unit of a random SKU out of `--skus`,
//!    or of one hot SKU), and counts from the
//!    database afterwards what the run did: units oversold, 201 answers without a confirmed
//!    order (lost), payments beyond one per sale (double charges), commits and WAL syncs
//!    per order;
//! 4. prints one line per workload and drops the database.

use anyhow::{bail, Context, Result};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Parser, Clone)]
pub struct PlacementArgs {
    /// Run the pgbench ceiling in the same run and report the ratio to it.
    #[arg(long)]
    vs_ceiling: bool,
    /// Concurrent clients, for the ceiling and the HTTP load alike.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds per workload, for the ceiling and the HTTP load alike.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// SKUs of the `random` workload.
    #[arg(long, default_value_t = 10_000)]
    skus: usize,
    /// Seconds of the same load before each measured run, not counted (see `run_workload`).
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// The PostgreSQL server (any database on it; the bench creates and drops its own).
    #[arg(
        long,
        env = "EMPORIUM_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Workloads to run.
    #[arg(long, value_delimiter = ',', default_value = "random,hot")]
    workloads: Vec<String>,
}

/// Units of stock per product: more than any run can sell.
const STOCK: u32 = 1_000_000;

pub async fn placement(args: PlacementArgs) -> Result<()> {
    let root = workspace_root();
    let ceiling = if args.vs_ceiling {
        run_ceiling(&root, &args)?
    } else {
        BTreeMap::new()
    };

    let db = format!("emporium_bench_{}", std::process::id());
    let admin_url = args.postgres_url.clone();
    let db_url = with_database(&admin_url, &db);
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await?;
    let outcome = async {
        let server = Server::start(&root, &db_url).await?;
        let mut lines = Vec::new();
        for workload in &args.workloads {
            let line = run_workload(&server, &db_url, &args, workload, &ceiling).await?;
            println!("{line}");
            lines.push(line);
        }
        drop(server);
        Ok::<_, anyhow::Error>(lines)
    }
    .await;
    // Let the server's connections go before the drop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    let lines = outcome?;
    if lines
        .iter()
        .any(|l| !l.contains(" oversold=0 lost=0 double_charged=0"))
    {
        bail!("a workload found inconsistencies");
    }
    Ok(())
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `url` with its path replaced by `/db`.
/// Runs `body` on a fresh database `<prefix>_<pid>` of the server at `admin_url` (given
/// the database's URL), and drops the database afterwards, whatever `body` returned.
pub(crate) async fn on_fresh_database<F, Fut, T>(
    admin_url: &str,
    prefix: &str,
    body: F,
) -> Result<T>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let db = format!("{prefix}_{}", std::process::id());
    let mut admin = PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await?;
    let outcome = body(with_database(admin_url, &db)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    outcome
}

pub(crate) fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    if query.is_empty() {
        format!("{base}/{db}")
    } else {
        format!("{base}/{db}?{query}")
    }
}

/// The ceiling's tps per workload, from `pgbench-ceiling.sh`'s output lines.
fn run_ceiling(root: &Path, args: &PlacementArgs) -> Result<BTreeMap<String, f64>> {
    let script = root.join("benches/ceiling/pgbench-ceiling.sh");
    eprintln!(
        "ceiling: pgbench, {} clients, {} s per workload ...",
        args.clients, args.seconds
    );
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(&args.postgres_url)
        .arg(args.clients.to_string())
        .arg(args.seconds.to_string())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed", script.display());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut tps = BTreeMap::new();
    for line in text.lines() {
        eprintln!("{line}");
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name).map(str::to_owned))
        };
        if let (Some(w), Some(t)) = (field("workload="), field("tps=")) {
            tps.insert(w, t.parse::<f64>().context("ceiling tps")?);
        }
    }
    Ok(tps)
}

/// The release server, killed on drop.
pub(crate) struct Server {
    child: tokio::process::Child,
    pub(crate) base: String,
    client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Builds the server in release mode and returns the path of its binary.
pub(crate) fn release_server(root: &Path) -> Result<PathBuf> {
    server_binary(root, true)
}

/// Builds the server, in release mode or not, and returns the path of its binary.
pub(crate) fn server_binary(root: &Path, release: bool) -> Result<PathBuf> {
    let profile = if release { "release" } else { "debug" };
    eprintln!("building the server ({profile}) ...");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = std::process::Command::new(cargo);
    // `cargo run` hands this process the package's CARGO_* variables and its own
    // LD_LIBRARY_PATH; build scripts that watch them would make every bench run rebuild
    // the server from scratch. The build gets the environment of a plain shell.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let cargo_own = name.starts_with("CARGO_")
            && !matches!(name.as_ref(), "CARGO_HOME" | "CARGO_TARGET_DIR");
        if cargo_own || name == "LD_LIBRARY_PATH" || name == "OUT_DIR" {
            build.env_remove(name.as_ref());
        }
    }
    let built = build
        .args([
            "build",
            "--locked",
            "-p",
            "emporium-app",
            "--bin",
            "emporium",
        ])
        .args(release.then_some("--release"))
        .current_dir(root)
        .status()?;
    if !built.success() {
        bail!("cargo build of the server failed");
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    Ok(target.join(profile).join("emporium"))
}

impl Server {
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub(crate) async fn start(root: &Path, db_url: &str) -> Result<Server> {
        let binary = release_server(root)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = tokio::process::Command::new(&binary)
            .arg("serve")
            .env("EMPORIUM_LISTEN", format!("127.0.0.1:{port}"))
            .env("EMPORIUM_POSTGRES_URL", db_url)
            .env("EMPORIUM_TEST_GATEWAY", "true")
            .env_remove("EMPORIUM_MONGODB_URI")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .context("starting the server")?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(30))
            .build()?;
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}/api"),
            client,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = server
                .client
                .get(format!("{}/health", server.base))
                .send()
                .await;
            if health.is_ok_and(|r| r.status() == StatusCode::OK) {
                break;
            }
            if Instant::now() > deadline {
                bail!("the server did not become healthy");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    /// Waits until the event feed has been still, and the search index level with it, for
    /// `still` in a row; returns the feed position and the seconds it took.
    pub(crate) async fn wait_for_feed_to_settle(&self, still: Duration) -> Result<(u64, f64)> {
        let metric = |text: &str, name: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
        };
        let started = Instant::now();
        let (mut still_since, mut last) = (Instant::now(), None);
        loop {
            let text = self
                .client
                .get(format!("{}/metrics", self.base.trim_end_matches("/api")))
                .send()
                .await?
                .text()
                .await?;
            let position = metric(&text, "emporium_feed_position ");
            let lag = metric(&text, "emporium_search_lag_events ");
            if position != last || lag != Some(0) {
                still_since = Instant::now();
                last = position;
            }
            if still_since.elapsed() >= still {
                return Ok((position.unwrap_or(0), started.elapsed().as_secs_f64()));
            }
            if started.elapsed() > Duration::from_secs(900) {
                bail!("the feed did not settle: position {position:?}, search lag {lag:?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub(crate) async fn create_products(&self, count: usize, tag: &str) -> Result<Vec<String>> {
        eprintln!("creating {count} products ...");
        let mut ids = Vec::with_capacity(count);
        let indices: Vec<usize> = (0..count).collect();
        for chunk in indices.chunks(32) {
            let requests = chunk.iter().map(|i| {
                let body = json!({"sku": format!("PLACE-{tag}-{i}"), "name": format!("Item {i}"),
                                  "category": "bench", "price": "9.99", "stock": STOCK});
                self.client
                    .post(format!("{}/products", self.base))
                    .json(&body)
                    .send()
            });
            for response in futures::future::join_all(requests).await {
                let response = response.context("creating a product")?;
                if response.status() != StatusCode::CREATED {
                    bail!("creating a product: {}", response.status());
                }
                let body: Value = response.json().await?;
                ids.push(body["id"].as_str().context("product id")?.to_owned());
            }
        }
        Ok(ids)
    }
}

/// What the clients saw.
#[derive(Default)]
struct Seen {
    latencies_us: Vec<u64>,
    /// Ids of the orders answered 201.
    placed: Vec<uuid::Uuid>,
    errors: u64,
}

/// Counters of the database server, read before and after a workload.
#[derive(Clone, Copy)]
struct Counters {
    commits: i64,
    wal_syncs: i64,
}

async fn counters(conn: &mut PgConnection) -> Result<Counters> {
    let commits: i64 = sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut *conn)
    .await?;
    let wal_syncs: i64 = sqlx::query_scalar("SELECT wal_sync FROM pg_stat_wal")
        .fetch_one(&mut *conn)
        .await?;
    Ok(Counters { commits, wal_syncs })
}

async fn run_workload(
    server: &Server,
    db_url: &str,
    args: &PlacementArgs,
    workload: &str,
    ceiling: &BTreeMap<String, f64>,
) -> Result<String> {
    let count = match workload {
        "random" => args.skus,
        "hot" => 1,
        other => bail!("unknown workload `{other}` (random or hot)"),
    };
    let products = Arc::new(server.create_products(count, workload).await?);
    // Creating the products leaves work behind (their catalog events written into the log
    // and relayed, the search index reading them): let it finish before warming up.
    server
        .wait_for_feed_to_settle(Duration::from_secs(3))
        .await?;
    let mut conn = PgConnection::connect(db_url).await?;
    // Steady state, not a cold start. Run the same load for a while first, so the order
    // tables hold rows, then VACUUM ANALYZE (as the ceiling's schema.sql ends) so the
    // planner knows it, and a checkpoint (as the ceiling script takes before each workload)
    // so no workload pays for the WAL of the one before it.
    //
    // Without the warm-up the measurement depends on when autovacuum happens to analyze
    // the order tables: a prepared statement planned while a table was (nearly) empty keeps
    // its sequential scan as the table grows, until the next ANALYZE. That made whichever
    // workload ran second 12-25% slower (perf: PostgreSQL in `heap_getnextslot` and
    // `ExecEvalScalarArrayOp`, i.e. `= ANY($1)` lookups scanning whole tables).
    if args.warmup > 0 {
        eprintln!(
            "placement: workload {workload}, warming up for {} s ...",
            args.warmup
        );
        let deadline = Instant::now() + Duration::from_secs(args.warmup);
        let warmers: Vec<_> = (0..args.clients)
            .map(|worker| {
                let (client, base, products) =
                    (server.client.clone(), server.base.clone(), products.clone());
                tokio::spawn(
                    async move { place_until(worker, client, base, products, deadline).await },
                )
            })
            .collect();
        for w in warmers {
            w.await??;
        }
    }
    sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    sqlx::query("CHECKPOINT").execute(&mut conn).await?;
    // pg_stat counters are updated when a backend's transaction ends, in batches: give the
    // setup's counts time to land before the first reading.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let before = counters(&mut conn).await?;

    eprintln!(
        "placement: workload {workload}, {} clients, {} s ...",
        args.clients, args.seconds
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let clients: Vec<_> = (0..args.clients)
        .map(|worker| {
            let (client, base, products) =
                (server.client.clone(), server.base.clone(), products.clone());
            tokio::spawn(async move { place_until(worker, client, base, products, deadline).await })
        })
        .collect();
    let mut seen = Seen::default();
    for c in clients {
        let s = c.await??;
        seen.latencies_us.extend(s.latencies_us);
        seen.placed.extend(s.placed);
        seen.errors += s.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let after = counters(&mut conn).await?;
    let checks = check_ledger(&mut conn, &seen.placed).await?;

    seen.latencies_us.sort_unstable();
    let p99 = percentile(&seen.latencies_us, 99.0);
    let orders = seen.placed.len() as f64;
    let orders_per_s = orders / elapsed;
    let ceiling_tps = ceiling.get(workload).copied().unwrap_or(f64::NAN);
    let per_order = |delta: i64| {
        if orders > 0.0 {
            delta as f64 / orders
        } else {
            f64::NAN
        }
    };
    Ok(format!(
        "placement workload={workload} clients={} orders_per_s={orders_per_s:.1} \
         ceiling_tps={ceiling_tps:.1} ratio={:.3} p99_ms={p99:.1} oversold={} lost={} \
         double_charged={} errors={} commits_per_order={:.2} wal_syncs_per_order={:.2}",
        args.clients,
        orders_per_s / ceiling_tps,
        checks.oversold,
        checks.lost,
        checks.double_charged,
        seen.errors,
        per_order(after.commits - before.commits),
        per_order(after.wal_syncs - before.wal_syncs),
    ))
}

async fn place_until(
    worker: usize,
    client: reqwest::Client,
    base: String,
    products: Arc<Vec<String>>,
    deadline: Instant,
) -> Result<Seen> {
    let mut seen = Seen::default();
    let mut rng = crate::SplitMix::for_worker(worker);
    let url = format!("{base}/orders");
    while Instant::now() < deadline {
        let product = &products[rng.below(products.len())];
        let body = json!({"customer_id": format!("bench-{worker}"),
                          "items": [{"product_id": product, "quantity": 1}],
                          "payment": {"method": "card", "token": "tok_visa"}});
        let sent = Instant::now();
        let response = client.post(&url).json(&body).send().await;
        seen.latencies_us.push(sent.elapsed().as_micros() as u64);
        match response {
            Ok(r) if r.status() == StatusCode::CREATED => {
                let order: Value = r.json().await?;
                let id = order["id"].as_str().context("order id")?;
                seen.placed.push(id.parse()?);
            }
            _ => seen.errors += 1,
        }
    }
    Ok(seen)
}

/// What the database says about the run, whatever the clients saw.
struct LedgerCheck {
    /// Units sold beyond what a stock record held, plus units whose drop in `on_hand`
    /// does not match the confirmed orders' lines, plus units left reserved.
    oversold: i64,
    /// 201 answers whose order is not stored `confirmed` with an authorized payment.
    lost: i64,
    /// Sales with more than one payment, and authorized payments on orders that did not
    /// sell.
    double_charged: i64,
}

async fn check_ledger(conn: &mut PgConnection, placed: &[uuid::Uuid]) -> Result<LedgerCheck> {
    let oversold: i64 = sqlx::query_scalar(
        "WITH sold AS ( \
             SELECT i.sku, sum(i.quantity)::bigint AS units FROM order_items i \
             JOIN orders o ON o.id = i.order_id \
             WHERE o.status IN ('confirmed', 'shipped', 'delivered') GROUP BY i.sku) \
         SELECT coalesce(sum(abs(($1::bigint - s.on_hand) - coalesce(sold.units, 0)) \
                             + s.reserved), 0)::bigint \
         FROM inventory s LEFT JOIN sold ON sold.sku = s.sku",
    )
    .bind(i64::from(STOCK))
    .fetch_one(&mut *conn)
    .await?;
    let confirmed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders o JOIN payments p ON p.order_id = o.id \
         WHERE o.id = ANY($1) AND o.status = 'confirmed' AND p.status = 'authorized'",
    )
    .bind(placed)
    .fetch_one(&mut *conn)
    .await?;
    Ok(LedgerCheck {
        oversold,
        lost: placed.len() as i64 - confirmed,
        double_charged: double_charged(conn).await?,
    })
}

/// Orders with more than one payment, and authorized payments of orders that did not sell.
pub(crate) async fn double_charged(conn: &mut PgConnection) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM (SELECT order_id FROM payments GROUP BY order_id \
                                       HAVING count(*) > 1) d) \
              + (SELECT count(*) FROM payments p JOIN orders o ON o.id = p.order_id \
                 WHERE p.status = 'authorized' \
                   AND o.status NOT IN ('confirmed', 'shipped', 'delivered'))",
    )
    .fetch_one(conn)
    .await?)
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u@h:1/x?sslmode=disable", "b"),
            "postgres://u@h:1/b?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:1", "b"), "postgres://u@h:1/b");
    }
}
