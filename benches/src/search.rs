//! `emporium-bench search`: ranked search and facets at catalog scale (ADR 0014).
//!
//! 1. builds and starts the server in release mode on a fresh PostgreSQL database (catalog
//!    in memory) and creates `--products` products through the API, with text drawn from
//!    word lists (names, descriptions, tags, nested attributes), 20 categories, prices
//!    from 1 to 2,000 and one product in ten out of stock;
//! 2. waits until the search index has every product (facets total), the feed has been
//!    still for `--settle` seconds with the index level with it, then `VACUUM ANALYZE`;
//! 3. `--clients` clients each send `--queries` requests one after another: `q` (one or
//!    two words, some cut to a prefix, some with a typo) plus two filters drawn from
//!    category, max price, in stock and colour; every fifth request is the facets of the
//!    same filters;
//! 4. reports p50/p95/p99/max per kind, and how many results a search had on average.

use crate::placement::{on_fresh_database, percentile, Server};
use anyhow::{bail, Context, Result};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};

#[derive(clap::Parser, Clone)]
pub struct SearchArgs {
    /// Products in the catalog.
    #[arg(long, default_value_t = 100_000)]
    products: usize,
    /// Concurrent clients (each sends one request at a time).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Requests per client.
    #[arg(long, default_value_t = 2_000)]
    queries: usize,
    /// Seconds the feed must stay still, with the index level with it, before measuring:
    /// the bulk creation leaves catch-up work behind (catalog changes, relaying, indexing).
    #[arg(long, default_value_t = 5)]
    settle: u64,
    /// Time the index alone, in this process (no server, no HTTP, no stores): what the
    /// engine itself costs.
    #[arg(long)]
    engine_only: bool,
    #[arg(
        long,
        env = "EMPORIUM_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
}

const ADJECTIVES: &[&str] = &[
    "compact",
    "wireless",
    "premium",
    "classic",
    "portable",
    "ergonomic",
    "vintage",
    "smart",
    "rugged",
    "silent",
    "modular",
    "foldable",
    "heated",
    "organic",
    "waterproof",
    "bamboo",
    "carbon",
    "ceramic",
    "digital",
    "magnetic",
];
const NOUNS: &[&str] = &[
    "laptop",
    "keyboard",
    "headphones",
    "kettle",
    "backpack",
    "lamp",
    "chair",
    "blender",
    "monitor",
    "speaker",
    "jacket",
    "sneakers",
    "tripod",
    "drill",
    "toaster",
    "router",
    "camera",
    "notebook",
    "mattress",
    "umbrella",
    "bicycle",
    "guitar",
    "telescope",
    "watch",
    "charger",
];
const BRANDS: &[&str] = &[
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
];
const COLOURS: &[&str] = &[
    "black", "white", "red", "blue", "green", "grey", "silver", "gold",
];
const MATERIALS: &[&str] = &[
    "steel",
    "aluminium",
    "wood",
    "plastic",
    "leather",
    "cotton",
    "glass",
];
const FILLER: &[&str] = &[
    "designed",
    "for",
    "everyday",
    "use",
    "with",
    "a",
    "long",
    "lasting",
    "battery",
    "and",
    "easy",
    "care",
    "travel",
    "home",
    "office",
    "outdoor",
    "quality",
    "warranty",
    "included",
    "lightweight",
    "durable",
    "finish",
];

/// A small deterministic generator (xorshift64*), so every run sees the same catalog.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

fn product(i: usize, rng: &mut Rng) -> Value {
    let (adjective, noun, brand) = (rng.pick(ADJECTIVES), rng.pick(NOUNS), rng.pick(BRANDS));
    let words: Vec<&str> = (0..12).map(|_| rng.pick(FILLER)).collect();
    let cents = 100 + rng.below(199_900);
    json!({
        "sku": format!("SRCH-{i}"),
        "name": format!("{brand} {adjective} {noun} {}", i % 1000),
        "description": format!("A {adjective} {noun} by {brand}, {}.", words.join(" ")),
        "category": format!("category-{}", rng.below(20)),
        "price": format!("{}.{:02}", cents / 100, cents % 100),
        "stock": if rng.below(10) == 0 { 0 } else { 1 + rng.below(100) },
        "tags": [rng.pick(ADJECTIVES), rng.pick(NOUNS)],
        "attributes": {"color": rng.pick(COLOURS), "material": rng.pick(MATERIALS),
                        "dimensions": {"weight_kg": rng.below(30) + 1}},
    })
}

/// One request's query string: `q` plus two filters.
fn query(rng: &mut Rng) -> String {
    let mut word = rng.pick(NOUNS).to_owned();
    match rng.below(4) {
        // A prefix, as typed so far.
        0 if word.len() > 4 => word.truncate(4),
        // One typo: two letters swapped.
        1 if word.len() >= 5 => {
            let mut letters: Vec<char> = word.chars().collect();
            letters.swap(1, 2);
            word = letters.into_iter().collect();
        }
        _ => {}
    }
    let q = if rng.below(2) == 0 {
        format!("{}+{word}", rng.pick(ADJECTIVES))
    } else {
        word
    };
    let filters = [
        format!("category=category-{}", rng.below(20)),
        format!("max_price={}", 100 + rng.below(1_900)),
        "in_stock=true".to_owned(),
        format!("attr.color={}", rng.pick(COLOURS)),
    ];
    let first = rng.below(filters.len());
    let second = (first + 1 + rng.below(filters.len() - 1)) % filters.len();
    format!("q={q}&{}&{}", filters[first], filters[second])
}

pub async fn search(args: SearchArgs) -> Result<()> {
    if args.engine_only {
        println!("{}", engine_only(&args).await?);
        return Ok(());
    }
    let root = crate::placement::workspace_root();
    let outcome = on_fresh_database(&args.postgres_url, "emporium_search_bench", |db_url| {
        let (root, args) = (&root, &args);
        async move { run(root, &db_url, args).await }
    })
    .await?;
    println!("{outcome}");
    Ok(())
}

async fn run(root: &std::path::Path, db_url: &str, args: &SearchArgs) -> Result<String> {
    let server = Server::start(root, db_url).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()?;
    eprintln!("creating {} products ...", args.products);
    let started = Instant::now();
    let mut rng = Rng(0x5EED_CAFE);
    let bodies: Vec<Value> = (0..args.products).map(|i| product(i, &mut rng)).collect();
    for chunk in bodies.chunks(64) {
        let requests = chunk.iter().map(|body| {
            client
                .post(format!("{}/products", server.base))
                .json(body)
                .send()
        });
        for response in futures::future::join_all(requests).await {
            let status = response.context("creating a product")?.status();
            if status != StatusCode::CREATED {
                bail!("creating a product: {status}");
            }
        }
    }
    eprintln!(
        "created in {:.0} s; waiting for the index ...",
        started.elapsed().as_secs_f64()
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let facets: Value = client
            .get(format!("{}/products/facets?facets=category", server.base))
            .send()
            .await?
            .json()
            .await?;
        if facets["total"].as_u64() == Some(args.products as u64) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the index did not catch up: {facets}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The bulk creation leaves work behind (catalog changes still being written into the
    // log, relayed, applied to the index): measure only once the feed has been still and
    // the index level with it for `--settle` seconds in a row.
    let (position, took) = server
        .wait_for_feed_to_settle(Duration::from_secs(args.settle))
        .await?;
    let lag_line = format!("feed at {position}, still after {took:.0} s");
    // As a database that has been running would be: statistics current (autovacuum's
    // analyze may not have run yet after the bulk load; stale statistics make the planner
    // scan `inventory` for `sku = ANY(...)`).
    let mut conn = PgConnection::connect(db_url).await?;
    sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    conn.close().await?;
    eprintln!(
        "indexed ({lag_line}); {} clients x {} requests ...",
        args.clients, args.queries
    );

    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (client, base, queries) = (client.clone(), server.base.clone(), args.queries);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xC0FFEE + c as u64);
            let mut searches = Vec::with_capacity(queries);
            let mut facets = Vec::new();
            let mut found = 0u64;
            for n in 0..queries {
                let q = query(&mut rng);
                let facet = n % 5 == 4;
                let url = if facet {
                    format!("{base}/products/facets?{q}&facets=category,price,attr.color")
                } else {
                    format!("{base}/products?{q}&limit=20")
                };
                let sent = Instant::now();
                let response = client.get(&url).send().await?;
                let status = response.status();
                let body: Value = response.json().await?;
                let took = sent.elapsed().as_micros() as u64;
                if status != StatusCode::OK {
                    bail!("{url}: {status} {body}");
                }
                if facet {
                    facets.push(took);
                } else {
                    found += body["total"].as_u64().unwrap_or(0);
                    searches.push(took);
                }
            }
            Ok::<_, anyhow::Error>((searches, facets, found))
        }));
    }
    let (mut searches, mut facets, mut found) = (Vec::new(), Vec::new(), 0);
    for task in tasks {
        let (s, f, n) = task.await??;
        searches.extend(s);
        facets.extend(f);
        found += n;
    }
    searches.sort_unstable();
    facets.sort_unstable();
    Ok(format!(
        "search bench: {} products, {} clients\n{}\n{}\nmean matches per search: {:.0}",
        args.products,
        args.clients,
        latency_line("search", &searches),
        latency_line("facets", &facets),
        found as f64 / searches.len().max(1) as f64
    ))
}

/// The product a generated body describes, as the catalog would hold it.
fn parsed(body: &Value) -> Result<emporium_domain::model::IndexEntry> {
    use emporium_domain::model::{NewProduct, ProductInput};
    let text = |k: &str| body[k].as_str().map(str::to_owned);
    let new = NewProduct::parse(ProductInput {
        sku: text("sku"),
        name: text("name"),
        description: text("description"),
        category: text("category"),
        price: text("price"),
        stock: body["stock"].as_i64(),
        tags: body["tags"].as_array().map(|t| {
            t.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        }),
        attributes: Some(body["attributes"].clone()),
        ..Default::default()
    })
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(emporium_domain::model::IndexEntry {
        in_stock: new.initial_stock.get() > 0,
        product: new.product,
    })
}

async fn engine_only(args: &SearchArgs) -> Result<String> {
    use emporium_domain::ports::ProductIndex;
    let index = emporium_search::TantivyIndex::new().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rng = Rng(0x5EED_CAFE);
    let started = Instant::now();
    let entries = (0..args.products)
        .map(|i| parsed(&product(i, &mut rng)))
        .collect::<Result<Vec<_>>>()?;
    for chunk in entries.chunks(5_000) {
        index
            .apply(chunk.to_vec(), &[])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let built = started.elapsed();
    let mut searches = Vec::new();
    let mut facets = Vec::new();
    let mut found = 0;
    let mut rng = Rng(0xC0FFEE);
    let wanted = [
        emporium_domain::model::FacetField::Category,
        emporium_domain::model::FacetField::Price,
        emporium_domain::model::FacetField::Attribute(vec!["color".into()]),
    ];
    for n in 0..args.queries * args.clients {
        let q = query(&mut rng);
        let pairs: Vec<(String, String)> = q
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.replace('+', " ")))
            .chain([("limit".to_owned(), "20".to_owned())])
            .collect();
        let query =
            emporium_app::http::query::products(&pairs).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let sent = Instant::now();
        if n % 5 == 4 {
            index
                .facets(&query, &wanted)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            facets.push(sent.elapsed().as_micros() as u64);
        } else {
            found += index
                .search(&query)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .total;
            searches.push(sent.elapsed().as_micros() as u64);
        }
    }
    searches.sort_unstable();
    facets.sort_unstable();
    Ok(format!(
        "search engine only: {} products indexed in {:.1} s, one client\n{}\n{}\nmean matches per search: {:.0}",
        args.products,
        built.as_secs_f64(),
        latency_line("search", &searches),
        latency_line("facets", &facets),
        found as f64 / searches.len().max(1) as f64
    ))
}

/// `kind n=... p50=... p95=... p99=... max=...` of latencies in microseconds, sorted.
fn latency_line(kind: &str, sorted: &[u64]) -> String {
    format!(
        "{kind:<8} n={:<6} p50={:>6.2} ms  p95={:>6.2} ms  p99={:>6.2} ms  max={:>6.2} ms",
        sorted.len(),
        percentile(sorted, 50.0),
        percentile(sorted, 95.0),
        percentile(sorted, 99.0),
        percentile(sorted, 100.0)
    )
}
