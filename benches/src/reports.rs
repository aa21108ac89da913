//! `emporium-bench reports`: the four reports at scale, timed against the PostgreSQL
//! adapter on data generated here (ADR 0012).
//!
//! What it does, in order:
//! 1. creates a fresh database on the configured PostgreSQL and applies the migrations;
//! 2. generates `--products` products (over `--suppliers` suppliers and 50 categories) and
//!    `--lines` order lines, two per order, created uniformly over the last `--days` days,
//!    with a realistic mix of statuses (64% confirmed, 9% shipped, 9% delivered, 9%
//!    cancelled, 9% failed), straight into the ledger's tables, with ids that sort by
//!    creation time as the server's UUIDv7 ids do;
//! 3. times the first fold of all of it into the rollup (what a report would otherwise pay);
//! 4. times each report `--samples` times per window (all time; the last 30 days from a
//!    partial day; a random 90 days with partial days at both ends), through the same
//!    `SalesReports` calls the server makes, and prints p50 and p99 per report and window;
//! 5. drops the database (unless `--keep`, to read the plans with `EXPLAIN`).

use anyhow::{Context, Result};
use emporium_domain::model::{PageRequest, SalesWindow, Units};
use emporium_domain::ports::SalesReports;
use emporium_postgres::{PgLedger, PgOptions};
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};

#[derive(clap::Parser, Clone)]
pub struct ReportsArgs {
    /// PostgreSQL to create the bench database on.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Order lines to generate (two per order).
    #[arg(long, default_value_t = 1_000_000)]
    lines: u64,
    #[arg(long, default_value_t = 10_000)]
    products: u64,
    #[arg(long, default_value_t = 200)]
    suppliers: u64,
    /// Days the orders are spread over, ending now.
    #[arg(long, default_value_t = 365)]
    days: u64,
    /// Timed calls per report and window.
    #[arg(long, default_value_t = 30)]
    samples: usize,
    /// Keep the database afterwards (its name is printed).
    #[arg(long)]
    keep: bool,
}

pub async fn reports(args: ReportsArgs) -> Result<()> {
    let db = format!("emporium_reports_{}", std::process::id());
    let db_url = crate::placement::with_database(&args.postgres_url, &db);
    let mut admin = PgConnection::connect(&args.postgres_url)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await?;
    let outcome = run(&args, &db_url).await;
    if args.keep {
        eprintln!("kept database {db}");
    } else {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
    }
    outcome
}

async fn run(args: &ReportsArgs, db_url: &str) -> Result<()> {
    emporium_postgres::migrate_database(db_url).await?;
    let mut conn = PgConnection::connect(db_url).await?;
    let started = Instant::now();
    generate(&mut conn, args).await?;
    eprintln!(
        "generated {} lines in {:.1} s",
        args.lines,
        started.elapsed().as_secs_f64()
    );
    let opts = PgOptions {
        statement_timeout: Duration::from_secs(600),
        ..PgOptions::default()
    };
    let ledger = PgLedger::connect(db_url, opts).await?;
    let started = Instant::now();
    let folded = ledger.catch_up().await?;
    println!(
        "reports fold orders={folded} seconds={:.1}",
        started.elapsed().as_secs_f64()
    );
    sqlx::query("VACUUM ANALYZE").execute(&mut conn).await?;
    let rollup: i64 = sqlx::query_scalar("SELECT count(*) FROM product_sales")
        .fetch_one(&mut conn)
        .await?;
    println!("reports rollup_rows={rollup}");

    let now = chrono::Utc::now();
    let windows = [
        ("all", SalesWindow::default()),
        (
            "last_30_days",
            SalesWindow::new(Some(now - chrono::Duration::days(30)), None)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        ),
        (
            "90_days_partial",
            SalesWindow::new(
                Some(now - chrono::Duration::days(200) - chrono::Duration::minutes(517)),
                Some(now - chrono::Duration::days(110) + chrono::Duration::minutes(311)),
            )
            .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        ),
    ];
    let page = PageRequest::default();
    for (name, window) in windows {
        time(args, "sales-by-product", name, || async {
            ledger.sales_by_product(window, page).await.map(|p| p.total)
        })
        .await?;
        time(args, "sales-by-category", name, || async {
            ledger
                .sales_by_category(window, page)
                .await
                .map(|p| p.total)
        })
        .await?;
        time(args, "supplier-performance", name, || async {
            ledger
                .sales_by_supplier(window, page)
                .await
                .map(|p| p.total)
        })
        .await?;
    }
    let threshold = Units::new(5).map_err(anyhow::Error::msg)?;
    time(args, "low-stock", "threshold_5", || async {
        ledger.low_stock(threshold, page).await.map(|p| p.total)
    })
    .await?;
    Ok(())
}

/// Times `samples` calls and prints the report's line.
async fn time<F, Fut>(args: &ReportsArgs, report: &str, window: &str, call: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = emporium_domain::Result<u64>>,
{
    let mut micros = Vec::with_capacity(args.samples);
    let mut rows = 0;
    for _ in 0..args.samples {
        let started = Instant::now();
        rows = call().await?;
        micros.push(started.elapsed().as_micros() as u64);
    }
    micros.sort_unstable();
    println!(
        "reports report={report} window={window} lines={} samples={} p50_ms={:.1} p99_ms={:.1} rows={rows}",
        args.lines,
        args.samples,
        crate::placement::percentile(&micros, 50.0),
        crate::placement::percentile(&micros, 99.0),
    );
    Ok(())
}

/// Products (a scratch table: the catalog is not in PostgreSQL), stock, orders and lines.
async fn generate(conn: &mut PgConnection, args: &ReportsArgs) -> Result<()> {
    let orders = (args.lines / 2).max(1) as i64;
    let statements = [
        format!(
            "CREATE TABLE bench_products AS \
             SELECT n, md5('p' || n)::uuid AS id, 'BENCH-' || n AS sku, 'Product ' || n AS name, \
                    'cat-' || (n % 50) AS category, md5('s' || (n % {suppliers}))::uuid AS supplier_id, \
                    ((n % 500) + 1 + 0.99)::numeric(12,2) AS price \
               FROM generate_series(1, {products}) n",
            suppliers = args.suppliers,
            products = args.products
        ),
        "CREATE UNIQUE INDEX ON bench_products (n)".to_owned(),
        "INSERT INTO inventory (sku, product_id, on_hand, reserved, version, updated_at) \
         SELECT sku, id, n % 100, 0, 1, now() FROM bench_products"
            .to_owned(),
        format!(
            "INSERT INTO orders (id, customer_id, status, total, currency, created_at, updated_at, \
                                 confirmed_at, delivered_at) \
             SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') \
                     || substr(md5('o' || g), 13, 20))::uuid, \
                    'cust-' || (g % 50000), s.status, 0, 'USD', t, t, \
                    CASE WHEN s.status IN ('confirmed', 'shipped', 'delivered', 'cancelled') \
                         THEN t + interval '1 minute' END, \
                    CASE WHEN s.status = 'delivered' THEN t + (g % 96) * interval '1 hour' END \
               FROM generate_series(1, {orders}) g, \
                    LATERAL (SELECT now() - random() * interval '{days} days' + g * interval '0' AS t) x, \
                    LATERAL (SELECT (ARRAY['confirmed', 'confirmed', 'confirmed', 'confirmed', \
                                           'confirmed', 'confirmed', 'confirmed', 'shipped', \
                                           'delivered', 'cancelled', 'failed'])[1 + g % 11] AS status) s",
            days = args.days
        ),
        format!(
            "INSERT INTO order_items (order_id, line_no, product_id, sku, name, category, \
                                      supplier_id, quantity, unit_price, line_total) \
             SELECT o.id, l, p.id, p.sku, p.name, p.category, p.supplier_id, \
                    1 + (hashtext(o.id::text) & 3), p.price, p.price * (1 + (hashtext(o.id::text) & 3)) \
               FROM orders o CROSS JOIN generate_series(1, 2) l \
               JOIN bench_products p \
                 ON p.n = 1 + ((hashtext(o.id::text || l::text) & 2147483647) % {products})",
            products = args.products
        ),
        "DROP TABLE bench_products".to_owned(),
        "VACUUM ANALYZE".to_owned(),
    ];
    for sql in statements {
        sqlx::query(&sql)
            .execute(&mut *conn)
            .await
            .with_context(|| sql.chars().take(80).collect::<String>())?;
    }
    Ok(())
}
