//! `emporium-bench`: drives a running Emporium server over HTTP with N concurrent clients
//! and checks afterwards that no unit was oversold or lost.
//!
//! ```text
//! cargo run -p emporium-bench --release -- orders --base http://127.0.0.1:8080/api \
//!     --scenario uniform --skus 10000 --clients 8 --seconds 20
//! ```
//!
//! `placement --vs-ceiling` starts its own server and runs the pgbench ceiling beside it
//! (see `placement.rs`):
//!
//! ```text
//! cargo run --release -p emporium-bench -- placement --vs-ceiling --clients 8 --seconds 15
//! ```
//!
//! Scenarios: `uniform` (each order takes 1 unit of a random SKU out of `--skus`), `hot`
//! (every order takes 1 unit of the same SKU), `crossed` (2-item baskets over two SKUs, in
//! opposite orders half of the time).

mod backup;
mod feed;
mod placement;
mod process;
mod reports;
mod search;
mod soak;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "emporium-bench", about = "HTTP load generator for Emporium")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Place orders as fast as N clients can and report throughput and latency.
    Orders(OrdersArgs),
    /// Start a release server on a fresh database and measure HTTP order placement against
    /// the pgbench ceiling of the same PostgreSQL, in one run.
    Placement(placement::PlacementArgs),
    /// Generate a ledger of N order lines on a fresh database and time the four reports.
    Reports(reports::ReportsArgs),
    /// Start a release server, connect N WebSocket clients to the event feed and time
    /// database commit to client receipt under a steady rate of stock changes.
    Feed(feed::FeedArgs),
    /// Start a release server, create N products and time ranked search with two filters,
    /// and facets, once the index has them all.
    Search(search::SearchArgs),
    /// Start a private backup-ready stack, generate N products and M orders, and time full
    /// and incremental backups, a restore and a PITR through the `emporium` commands.
    Backup(backup::BackupArgs),
    /// Start a private stack behind fault proxies and run N clients placing, cancelling
    /// and browsing while the server is killed every K seconds, each store is restarted
    /// and faults come and go; then check the databases and fuzz the API on them.
    Soak(soak::SoakArgs),
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Scenario {
    Uniform,
    Hot,
    Crossed,
}

#[derive(Parser, Clone)]
struct OrdersArgs {
    /// Base URL of the API.
    #[arg(long, default_value = "http://127.0.0.1:8080/api")]
    base: String,
    #[arg(long, value_enum, default_value = "uniform")]
    scenario: Scenario,
    /// Number of SKUs to create for the `uniform` scenario.
    #[arg(long, default_value_t = 10_000)]
    skus: usize,
    /// Units of stock per SKU.
    #[arg(long, default_value_t = 1_000_000)]
    stock: u32,
    /// Concurrent clients (each sends one request at a time).
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// How long to send orders, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Print one JSON line instead of a table row.
    #[arg(long)]
    json: bool,
    /// A label for the result line (e.g. the locking strategy the server runs).
    #[arg(long, default_value = "")]
    label: String,
    /// Reuse the products listed in this file (one id a line) when it holds as many as the
    /// scenario needs; otherwise create them and write their ids here. Lets a series of
    /// runs against one server create its 10,000 SKUs once, outside the measured runs.
    #[arg(long)]
    products_file: Option<std::path::PathBuf>,
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    created: u64,
    /// 409 (`insufficient_stock`: nothing was changed).
    conflicts: u64,
    /// 5xx answers (e.g. 503 when a pool or lock wait timed out).
    server_errors: u64,
    /// Any other status (4xx other than 409, 402, ...).
    other_status: u64,
    /// No HTTP answer at all (connection error, client timeout).
    transport_errors: u64,
    units_sold: u64,
}

impl Tally {
    /// Every request that was neither 201 nor 409.
    fn errors(&self) -> u64 {
        self.server_errors + self.other_status + self.transport_errors
    }
}

/// Stock of the run's products as the API shows it.
struct Stock {
    /// Sum of `stock + reserved`, i.e. units on hand.
    on_hand: u64,
    /// Sum of `reserved`: must be 0 once every order has finished.
    reserved: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Orders(args) => orders(args).await,
        Command::Placement(args) => placement::placement(args).await,
        Command::Reports(args) => reports::reports(args).await,
        Command::Feed(args) => feed::feed(args).await,
        Command::Search(args) => search::search(args).await,
        Command::Backup(args) => backup::backup(args).await,
        Command::Soak(args) => soak::soak(args).await,
    }
}

/// Locks a mutex, keeping the data of a poisoned one (a panicked client task).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn orders(args: OrdersArgs) -> Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let count = match args.scenario {
        Scenario::Uniform => args.skus,
        Scenario::Hot => 1,
        Scenario::Crossed => 2,
    };
    let products = Arc::new(products_for(&client, &args, count).await?);
    let before = stock_of(&client, &args.base, &products).await?;
    if before.reserved != 0 {
        bail!(
            "new products already have {} units reserved",
            before.reserved
        );
    }

    eprintln!(
        "{} clients, scenario {:?}, {} s ...",
        args.clients, args.scenario, args.seconds
    );
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.clients)
        .map(|worker| {
            let (client, products, args) = (client.clone(), products.clone(), args.clone());
            tokio::spawn(async move { run_client(worker, client, products, args, deadline).await })
        })
        .collect();
    let mut total = Tally::default();
    for w in workers {
        let t = w.await??;
        total.latencies_us.extend(t.latencies_us);
        total.created += t.created;
        total.conflicts += t.conflicts;
        total.server_errors += t.server_errors;
        total.other_status += t.other_status;
        total.transport_errors += t.transport_errors;
        total.units_sold += t.units_sold;
    }
    let elapsed = started.elapsed().as_secs_f64();

    let after = stock_of(&client, &args.base, &products).await?;
    // Sold + remaining == starting stock, and no reservation left behind.
    let consistent = before.on_hand == after.on_hand + total.units_sold && after.reserved == 0;
    report(&args, &mut total, elapsed, &before, &after, consistent);
    if !consistent {
        bail!(
            "stock mismatch: {} on hand at start, {} on hand after, {} sold by 201 answers, \
             {} still reserved",
            before.on_hand,
            after.on_hand,
            total.units_sold,
            after.reserved
        );
    }
    Ok(())
}

/// The run's products: read from `--products-file` when it lists `count` ids, else created
/// (and written to that file when one is given).
async fn products_for(
    client: &reqwest::Client,
    args: &OrdersArgs,
    count: usize,
) -> Result<Vec<String>> {
    if let Some(path) = &args.products_file {
        if let Ok(text) = std::fs::read_to_string(path) {
            let ids: Vec<String> = text.lines().map(str::to_owned).collect();
            if ids.len() == count {
                eprintln!("reusing {count} products from {}", path.display());
                return Ok(ids);
            }
        }
    }
    eprintln!(
        "creating {count} products with {} units each ...",
        args.stock
    );
    let ids = create_products(client, args, count).await?;
    if let Some(path) = &args.products_file {
        std::fs::write(path, ids.join("\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ids)
}

async fn create_products(
    client: &reqwest::Client,
    args: &OrdersArgs,
    count: usize,
) -> Result<Vec<String>> {
    let run = uuid_like();
    let mut ids = Vec::with_capacity(count);
    // Create in parallel batches: setup time is not what we measure.
    for chunk in (0..count).collect::<Vec<_>>().chunks(64) {
        let requests = chunk.iter().map(|i| {
            let body = json!({"sku": format!("BENCH-{run}-{i}"), "name": format!("Bench item {i}"),
                              "category": "bench", "price": "9.99", "stock": args.stock});
            client
                .post(format!("{}/products", args.base))
                .json(&body)
                .send()
        });
        for response in futures::future::join_all(requests).await {
            let response = response.context("creating a product")?;
            if response.status() != StatusCode::CREATED {
                bail!(
                    "creating a product: {} {}",
                    response.status(),
                    response.text().await?
                );
            }
            let body: Value = response.json().await?;
            ids.push(body["id"].as_str().context("product id")?.to_owned());
        }
    }
    Ok(ids)
}

/// Units on hand and reserved, summed over `ids`, read back over HTTP (64 reads at a time:
/// reading 10,000 products one by one would take longer than the run).
async fn stock_of(client: &reqwest::Client, base: &str, ids: &[String]) -> Result<Stock> {
    let mut stock = Stock {
        on_hand: 0,
        reserved: 0,
    };
    for chunk in ids.chunks(64) {
        let reads = chunk.iter().map(|id| async move {
            let response = client.get(format!("{base}/products/{id}")).send().await?;
            if response.status() != StatusCode::OK {
                bail!("reading product {id}: {}", response.status());
            }
            let body: Value = response.json().await?;
            let available = body["stock"].as_u64().context("stock")?;
            let reserved = body["reserved"].as_u64().context("reserved")?;
            Ok::<_, anyhow::Error>((available, reserved))
        });
        for read in futures::future::join_all(reads).await {
            let (available, reserved) = read?;
            stock.on_hand += available + reserved;
            stock.reserved += reserved;
        }
    }
    Ok(stock)
}

async fn run_client(
    worker: usize,
    client: reqwest::Client,
    products: Arc<Vec<String>>,
    args: OrdersArgs,
    deadline: Instant,
) -> Result<Tally> {
    let mut tally = Tally::default();
    let mut rng = SplitMix::for_worker(worker);
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let lines: Vec<&String> = match args.scenario {
            Scenario::Uniform => vec![&products[rng.below(products.len())]],
            Scenario::Hot => vec![&products[0]],
            Scenario::Crossed if n.is_multiple_of(2) => vec![&products[0], &products[1]],
            Scenario::Crossed => vec![&products[1], &products[0]],
        };
        let items: Vec<Value> = lines
            .iter()
            .map(|id| json!({"product_id": id, "quantity": 1}))
            .collect();
        let body = json!({"customer_id": format!("bench-{worker}"), "items": items,
                          "payment": {"method": "card", "token": "tok_visa"}});
        let sent = Instant::now();
        let status = client
            .post(format!("{}/orders", args.base))
            .json(&body)
            .send()
            .await
            .map(|r| r.status());
        tally.latencies_us.push(sent.elapsed().as_micros() as u64);
        match status {
            Ok(StatusCode::CREATED) => {
                tally.created += 1;
                tally.units_sold += lines.len() as u64;
            }
            Ok(StatusCode::CONFLICT) => tally.conflicts += 1,
            Ok(status) if status.is_server_error() => tally.server_errors += 1,
            Ok(_) => tally.other_status += 1,
            Err(_) => tally.transport_errors += 1,
        }
    }
    Ok(tally)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank] as f64 / 1000.0
}

fn report(
    args: &OrdersArgs,
    t: &mut Tally,
    elapsed: f64,
    before: &Stock,
    after: &Stock,
    consistent: bool,
) {
    t.latencies_us.sort_unstable();
    let requests = t.latencies_us.len() as f64;
    let result = json!({
        "label": args.label,
        "scenario": format!("{:?}", args.scenario).to_lowercase(),
        "clients": args.clients,
        "seconds": (elapsed * 10.0).round() / 10.0,
        "orders_per_s": (t.created as f64 / elapsed).round(),
        "requests_per_s": (requests / elapsed).round(),
        "p50_ms": percentile(&t.latencies_us, 50.0),
        "p95_ms": percentile(&t.latencies_us, 95.0),
        "p99_ms": percentile(&t.latencies_us, 99.0),
        "requests": t.latencies_us.len(),
        "created": t.created,
        "conflicts": t.conflicts,
        "conflict_rate": if requests > 0.0 { t.conflicts as f64 / requests } else { 0.0 },
        "errors": t.errors(),
        "server_errors": t.server_errors,
        "other_status": t.other_status,
        "transport_errors": t.transport_errors,
        "units_sold": t.units_sold,
        "on_hand_before": before.on_hand,
        "on_hand_after": after.on_hand,
        "reserved_after": after.reserved,
        "stock_consistent": consistent,
    });
    if args.json {
        println!("{result}");
    } else {
        println!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2}% | {} | {} |",
            args.label,
            result["scenario"].as_str().unwrap_or_default(),
            args.clients,
            t.created as f64 / elapsed,
            percentile(&t.latencies_us, 50.0),
            percentile(&t.latencies_us, 95.0),
            percentile(&t.latencies_us, 99.0),
            100.0 * result["conflict_rate"].as_f64().unwrap_or_default(),
            t.errors(),
            if consistent { "yes" } else { "NO" },
        );
    }
}

/// A tiny deterministic PRNG: reproducible runs without another dependency.
struct SplitMix(u64);

impl SplitMix {
    /// Client `worker`'s stream. SplitMix's state only ever advances by one constant, so
    /// seeding client `w` with `w * constant` (as this bench once did) makes it replay client
    /// 0's sequence `w` steps ahead: the clients then order the same SKUs one after another
    /// and "uniform" turns into a rolling hot spot. A mixed seed puts every client at an
    /// unrelated point of the sequence.
    fn for_worker(worker: usize) -> SplitMix {
        SplitMix(SplitMix(worker as u64).next())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::SplitMix;
    use std::collections::HashSet;

    #[test]
    fn clients_draw_independent_skus() {
        // Two clients, 1,000 draws each out of 10,000 SKUs: independent streams share about
        // 100 SKUs (1,000 * 1,000 / 10,000); shifted copies of one stream share ~all.
        let draws = |w| {
            let mut rng = SplitMix::for_worker(w);
            (0..1_000).map(|_| rng.below(10_000)).collect::<Vec<_>>()
        };
        let (a, b) = (draws(0), draws(1));
        let shared = a.iter().collect::<HashSet<_>>();
        let common = b.iter().filter(|x| shared.contains(x)).count();
        assert!(common < 200, "{common} SKUs in common");
        // Nor does one client order right after the other what the other just ordered.
        let echoes_of =
            |x: &[usize], y: &[usize]| x.iter().zip(&y[1..]).filter(|(p, q)| p == q).count();
        let echoes = echoes_of(&a, &b) + echoes_of(&b, &a);
        assert!(echoes < 5, "{echoes} echoes");
    }
}
