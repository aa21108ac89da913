//! `emporium-bench feed`: the event feed under load (ADR 0013).
//!
//! 1. builds and starts the server in release mode on a fresh PostgreSQL database (catalog
//!    in memory) and creates `--products` products;
//! 2. measures the server's RSS, connects `--clients` WebSocket clients to `/api/ws`, waits
//!    for the connections to settle and measures the RSS again: the difference per client
//!    is the cost of an idle client;
//! 3. writes stock changes straight into PostgreSQL (`UPDATE inventory`, as psql would) at
//!    `--rate` per second for `--seconds`, each with a unique `on_hand`, and notes when
//!    each commit returned; every client records when each event arrived. Latency is
//!    commit-returned → received, over `--sampled` clients (the other clients read and
//!    discard, so the bench's own JSON parsing does not crowd the 2 cores);
//! 4. reports p50/p95/p99/max latency, events per client received, clients closed by the
//!    server (1013) and RSS per idle client; drops the database.

use crate::placement::{on_fresh_database, Server};
use anyhow::{Context, Result};
use futures::StreamExt;
use sqlx::{Connection, PgConnection};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Parser, Clone)]
pub struct FeedArgs {
    /// Connected WebSocket clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Clients whose every event is timed (the others only read).
    #[arg(long, default_value_t = 50)]
    sampled: usize,
    /// Stock changes per second written into PostgreSQL.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Products whose stock changes.
    #[arg(long, default_value_t = 100)]
    products: usize,
    #[arg(
        long,
        env = "EMPORIUM_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
}

/// `on_hand` values start here, so each write's value names it.
const BASE: i64 = 2_000_000; // above the products' initial stock, so every write changes it

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS")
}

pub async fn feed(args: FeedArgs) -> Result<()> {
    let root = crate::placement::workspace_root();
    let outcome = on_fresh_database(&args.postgres_url, "emporium_feed_bench", |db_url| {
        let (root, args) = (&root, &args);
        async move { run(root, &db_url, args).await }
    })
    .await?;
    println!("{outcome}");
    Ok(())
}

async fn run(root: &std::path::Path, db_url: &str, args: &FeedArgs) -> Result<String> {
    let server = Server::start(root, db_url).await?;
    let products = server.create_products(args.products, "feed").await?;
    let skus: Vec<String> = {
        let mut conn = PgConnection::connect(db_url).await?;
        sqlx::query_scalar("SELECT sku FROM inventory ORDER BY sku")
            .fetch_all(&mut conn)
            .await?
    };
    anyhow::ensure!(skus.len() == products.len(), "stock records missing");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = server.pid().context("server pid")?;
    let rss_before = rss_kib(pid)?;

    let ws = format!(
        "{}/ws?topics=stock",
        server.base.replacen("http://", "ws://", 1)
    );
    // value -> arrival instants, from the sampled clients.
    let arrivals: Arc<Mutex<HashMap<i64, Vec<Instant>>>> = Arc::default();
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let closed_by_server = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut clients = Vec::with_capacity(args.clients);
    eprintln!("connecting {} clients ...", args.clients);
    for i in 0..args.clients {
        let (socket, _) = tokio_tungstenite::connect_async(&ws)
            .await
            .with_context(|| format!("client {i} connects"))?;
        let sampled = i < args.sampled;
        let (arrivals, received, closed) =
            (arrivals.clone(), received.clone(), closed_by_server.clone());
        clients.push(tokio::spawn(async move {
            let (_, mut read) = socket.split();
            while let Some(message) = read.next().await {
                match message {
                    Ok(Message::Text(text)) => {
                        received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if sampled {
                            let at = Instant::now();
                            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                                if let Some(stock) = v["data"]["stock"].as_i64() {
                                    crate::lock(&arrivals).entry(stock).or_default().push(at);
                                }
                            }
                        }
                    }
                    Ok(Message::Close(_)) => {
                        closed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_idle = rss_kib(pid)?;
    let per_client_kib = (rss_idle.saturating_sub(rss_before)) as f64 / args.clients as f64;
    eprintln!(
        "RSS {rss_before} KiB -> {rss_idle} KiB with {} idle clients ({per_client_kib:.1} KiB each); writing {} stock changes/s for {} s ...",
        args.clients, args.rate, args.seconds
    );

    // Several writers, each a share of the rate: one connection alone is bound by its own
    // commit latency (a WAL flush per change) below the rate asked for.
    const WRITERS: u64 = 4;
    let total = args.rate * args.seconds;
    let skus = Arc::new(skus);
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (db_url, skus, rate) = (db_url.to_owned(), skus.clone(), args.rate);
        writers.push(tokio::spawn(async move {
            let mut conn = PgConnection::connect(&db_url).await?;
            let mut commits = Vec::new();
            let period = Duration::from_secs_f64(WRITERS as f64 / rate as f64);
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for n in (w..total).step_by(WRITERS as usize) {
                tick.tick().await;
                let value = BASE + n as i64;
                // Writer w owns the SKUs congruent to w, so writers never wait on each other.
                let sku = &skus[(n as usize) % skus.len()];
                sqlx::query("UPDATE inventory SET on_hand = $2 + reserved WHERE sku = $1")
                    .bind(sku)
                    .bind(value)
                    .execute(&mut conn)
                    .await?;
                commits.push((value, Instant::now()));
            }
            Ok::<_, anyhow::Error>(commits)
        }));
    }
    let mut commits: Vec<(i64, Instant)> = Vec::new();
    for writer in writers {
        commits.extend(writer.await??);
    }
    commits.sort_by_key(|(_, t)| *t);
    let writing = commits
        .last()
        .map(|(_, t)| t.duration_since(commits[0].1))
        .unwrap_or_default();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_loaded = rss_kib(pid)?;
    for client in &clients {
        client.abort();
    }

    let arrivals = crate::lock(&arrivals);
    let mut latencies: Vec<u64> = Vec::new();
    let mut missing = 0u64;
    for (value, committed) in &commits {
        match arrivals.get(value) {
            Some(times) => {
                missing += (args.sampled.min(args.clients) - times.len().min(args.sampled)) as u64;
                latencies.extend(
                    times
                        .iter()
                        .map(|t| t.saturating_duration_since(*committed).as_micros() as u64),
                );
            }
            None => {
                eprintln!("no sampled client received value {value}");
                missing += args.sampled.min(args.clients) as u64
            }
        }
    }
    latencies.sort_unstable();
    let p = |q: f64| crate::percentile(&latencies, q);
    let expected = commits.len() as u64 * args.clients as u64;
    Ok(format!(
        "feed clients={} rate={}/s achieved={:.0}/s events={} p50={:.1}ms p95={:.1}ms p99={:.1}ms max={:.1}ms \
         delivered={}/{} sampled_missing={} closed_by_server={} rss_idle_per_client={:.1}KiB rss_loaded={}KiB",
        args.clients,
        args.rate,
        commits.len() as f64 / writing.as_secs_f64().max(0.001),
        commits.len(),
        p(50.0),
        p(95.0),
        p(99.0),
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
        received.load(std::sync::atomic::Ordering::Relaxed),
        expected,
        missing,
        closed_by_server.load(std::sync::atomic::Ordering::Relaxed),
        per_client_kib,
        rss_loaded,
    ))
}
