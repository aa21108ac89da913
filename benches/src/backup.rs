//! `emporium-bench backup`: backup, restore and PITR times at scale (ADR 0015).
//!
//! What it does, in order:
//! 1. starts a private backup-ready stack with `scripts/dev-services.sh up --private`, the
//!    path a newcomer takes: a PostgreSQL cluster of its own that archives its WAL into
//!    pgBackRest, and the MongoDB stand-in;
//! 2. applies the schema (`emporium migrate`), then generates `--products` products
//!    (straight into MongoDB, in the adapter's document shape, with their stock records in
//!    PostgreSQL) and `--orders` orders of two lines each with their payments, straight into
//!    the ledger's tables;
//! 3. times `emporium backup` (full), then a write and `emporium backup --type
//!    incremental`, then `emporium pitr` to a moment between the two backups, then
//!    `emporium restore` of the full backup (both include the checks, saga recovery and
//!    reconcile). Each is the real command, in release mode; the times come from the job
//!    log entries each command prints;
//! 4. stops the stack and removes its folder (unless `--keep`).

use anyhow::{bail, Context, Result};
use emporium_domain::model::{
    now, Category, Currency, Description, Money, Name, Product, ProductId, Sku, Units,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Parser, Clone)]
pub struct BackupArgs {
    #[arg(long, default_value_t = 100_000)]
    products: u64,
    /// Orders to generate (two lines each).
    #[arg(long, default_value_t = 1_000_000)]
    orders: u64,
    /// Keep the stack and its folder afterwards (the folder is printed).
    #[arg(long)]
    keep: bool,
}

/// A private stack from `scripts/dev-services.sh up --private DIR`: its own PostgreSQL
/// cluster (archiving into pgBackRest) and MongoDB stand-in. `down --private` when dropped.
pub(crate) struct Stack {
    script: PathBuf,
    pub(crate) dir: PathBuf,
    keep: bool,
    /// The variables `up` printed (`EMPORIUM_POSTGRES_URL`, `EMPORIUM_MONGODB_URI`, ...).
    pub(crate) env: Vec<(String, String)>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(&self.script)
            .args(["down", "--private"])
            .arg(&self.dir)
            .status();
        if self.keep {
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Stack {
    /// Starts (or, when it runs already, checks) the private stack under `dir`.
    pub(crate) async fn up(root: &Path, dir: &Path, keep: bool) -> Result<Stack> {
        let mut stack = Stack {
            script: root.join("scripts/dev-services.sh"),
            dir: dir.to_path_buf(),
            keep,
            env: Vec::new(),
        };
        stack.env = stack.start().await?;
        Ok(stack)
    }

    /// `up --private` again: starts whatever part of the stack is not running.
    pub(crate) async fn start(&self) -> Result<Vec<(String, String)>> {
        let up = crate::process::succeed(
            tokio::process::Command::new("bash")
                .arg(&self.script)
                .args(["up", "--private"])
                .arg(&self.dir),
            "dev-services.sh up --private",
        )
        .await?;
        Ok(up
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
            .collect())
    }

    /// A variable `up` printed.
    pub(crate) fn var(&self, name: &str) -> Result<String> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .with_context(|| format!("{name} not printed"))
    }
}

pub async fn backup(args: BackupArgs) -> Result<()> {
    let root = crate::placement::workspace_root();
    let binary = crate::placement::release_server(&root)?;
    let dir = std::env::temp_dir().join(format!("emporium-backup-bench-{}", std::process::id()));
    let stack = Stack::up(&root, &dir, args.keep).await?;
    let env = stack.env.clone();
    let var = |name: &str| stack.var(name);
    let run = |args: Vec<String>| {
        let (binary, env) = (binary.clone(), env.clone());
        async move { emporium(&binary, &env, &args).await }
    };
    run(vec!["migrate".into()]).await?;

    eprintln!(
        "generating {} products and {} orders ...",
        args.products, args.orders
    );
    let started = Instant::now();
    let pg_url = var("EMPORIUM_POSTGRES_URL")?;
    generate(&var("EMPORIUM_MONGODB_URI")?, &pg_url, &args).await?;
    eprintln!("generated in {:.0} s", started.elapsed().as_secs_f64());

    let full = run(vec!["backup".into()]).await?;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut conn = sqlx::PgConnection::connect(&pg_url).await?;
    sqlx::query("UPDATE inventory SET on_hand = on_hand + 1 WHERE sku = 'BENCH-1'")
        .execute(&mut conn)
        .await?;
    drop(conn);
    let incremental = run(vec!["backup".into(), "--type".into(), "incremental".into()]).await?;
    // PITR first: a recovery never starts from a backup older than the last restore.
    let pitr = run(vec!["pitr".into(), "--to".into(), between.to_rfc3339()]).await?;
    let restore = run(vec![
        "restore".into(),
        "--backup-id".into(),
        full["id"].as_str().unwrap_or_default().to_owned(),
    ])
    .await?;

    let line = |label: &str, job: &Value| {
        format!(
            "{label:<20} {:>8.1} s  {:>8.1} MiB  {}",
            job["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0,
            job["size_bytes"].as_f64().unwrap_or(0.0) / (1 << 20) as f64,
            job["status"].as_str().unwrap_or("?")
        )
    };
    println!(
        "backup bench: {} products, {} orders ({} order lines)",
        args.products,
        args.orders,
        args.orders * 2
    );
    println!("{}", line("full backup", &full));
    println!("{}", line("incremental backup", &incremental));
    println!("{}", line("pitr", &pitr));
    println!("{}", line("restore (full)", &restore));
    let full_pg = &full["positions"]["postgres"];
    println!(
        "full backup positions: postgres lsn {}, mongodb optime {}",
        full_pg["lsn"], full["positions"]["mongodb"]["optime"]
    );
    println!(
        "restore verification: {}",
        restore["verification"]["counts"]
    );
    println!("pitr rpo: {}", pitr["verification"]["rpo"]);
    println!("full backup pause: {}", full["verification"]["pause"]);
    println!(
        "incremental backup pause: {}",
        incremental["verification"]["pause"]
    );
    drop(stack);
    Ok(())
}

use sqlx::Connection;

/// Runs the `emporium` binary with `env`; its job (JSON on stdout) when it succeeded.
async fn emporium(binary: &Path, env: &[(String, String)], args: &[String]) -> Result<Value> {
    eprintln!("emporium {} ...", args.join(" "));
    let output = tokio::process::Command::new(binary)
        .args(args)
        .envs(env.iter().cloned())
        .env("RUST_LOG", "warn")
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!("emporium {}: {stdout}{stderr}", args.join(" "));
    }
    Ok(serde_json::from_str(&stdout).unwrap_or(Value::Null))
}

/// Products into MongoDB (the adapter's own document shape) and PostgreSQL (their stock),
/// then orders, order lines and payments into PostgreSQL, consistent with each other so
/// that reconcile finds nothing.
async fn generate(mongo_uri: &str, pg_url: &str, args: &BackupArgs) -> Result<()> {
    let client = mongodb::Client::with_uri_str(mongo_uri).await?;
    let products = client
        .database("emporium")
        .collection::<mongodb::bson::Document>("products");
    let mut pg = sqlx::PgConnection::connect(pg_url).await?;
    sqlx::query(
        "CREATE TABLE bench_products (n bigint PRIMARY KEY, id uuid, sku text, name text, \
         category text, price numeric(12,2))",
    )
    .execute(&mut pg)
    .await?;
    let at = now();
    let mut n = 1u64;
    while n <= args.products {
        let end = (n + 999).min(args.products);
        let mut documents = Vec::new();
        let (mut ns, mut ids, mut skus, mut names, mut categories, mut prices) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for i in n..=end {
            let price = Money::parse(&format!("{}.99", i % 500 + 1), Currency::USD)
                .map_err(anyhow::Error::msg)?;
            let product = Product {
                id: ProductId::new(),
                sku: Sku::parse(format!("BENCH-{i}")).map_err(anyhow::Error::msg)?,
                name: Name::parse(format!("Product {i}")).map_err(anyhow::Error::msg)?,
                description: Description::parse(format!("Bench product number {i}"))
                    .map_err(anyhow::Error::msg)?,
                category: Category::parse(format!("cat-{}", i % 50)).map_err(anyhow::Error::msg)?,
                price,
                low_stock_threshold: Units::new(5).map_err(anyhow::Error::msg)?,
                supplier_id: None,
                categories: Vec::new(),
                tags: Vec::new(),
                attributes: Default::default(),
                variants: Vec::new(),
                created_at: at,
                updated_at: at,
            };
            documents.push(emporium_mongo::codec::product_to_document(&product)?);
            ns.push(i as i64);
            ids.push(product.id.as_uuid());
            skus.push(product.sku.to_string());
            names.push(product.name.to_string());
            categories.push(product.category.to_string());
            prices.push(product.price.amount());
        }
        products.insert_many(documents).await?;
        sqlx::query(
            "INSERT INTO bench_products SELECT * FROM UNNEST($1::bigint[], $2::uuid[], $3::text[], \
             $4::text[], $5::text[], $6::numeric[])",
        )
        .bind(&ns)
        .bind(&ids)
        .bind(&skus)
        .bind(&names)
        .bind(&categories)
        .bind(&prices)
        .execute(&mut pg)
        .await?;
        n = end + 1;
    }
    let statements = [
        "INSERT INTO inventory (sku, product_id, on_hand, reserved, version, updated_at) \
         SELECT sku, id, 100 + n % 100, 0, 1, now() FROM bench_products"
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
                    LATERAL (SELECT now() - interval '1 hour' - random() * interval '365 days' + g * interval '0' AS t) x, \
                    LATERAL (SELECT (ARRAY['confirmed', 'confirmed', 'confirmed', 'confirmed', \
                                           'confirmed', 'confirmed', 'confirmed', 'shipped', \
                                           'delivered', 'cancelled', 'failed'])[1 + g % 11] AS status) s",
            orders = args.orders
        ),
        format!(
            "INSERT INTO order_items (order_id, line_no, product_id, sku, name, category, \
                                      supplier_id, quantity, unit_price, line_total) \
             SELECT o.id, l, p.id, p.sku, p.name, p.category, NULL, \
                    1 + (hashtext(o.id::text) & 3), p.price, p.price * (1 + (hashtext(o.id::text) & 3)) \
               FROM orders o CROSS JOIN generate_series(1, 2) l \
               JOIN bench_products p \
                 ON p.n = 1 + ((hashtext(o.id::text || l::text) & 2147483647) % {products})",
            products = args.products
        ),
        "UPDATE orders o SET total = s.total \
           FROM (SELECT order_id, sum(line_total) AS total FROM order_items GROUP BY order_id) s \
          WHERE s.order_id = o.id"
            .to_owned(),
        "INSERT INTO payments (id, order_id, status, amount, currency, method, gateway_ref, \
                               decline_reason, created_at, updated_at) \
         SELECT gen_random_uuid(), id, \
                CASE status WHEN 'cancelled' THEN 'voided' WHEN 'failed' THEN 'declined' \
                            ELSE 'authorized' END, \
                total, 'USD', 'card', 'bench_' || id, \
                CASE WHEN status = 'failed' THEN 'card_declined' END, created_at, updated_at \
           FROM orders"
            .to_owned(),
        "DROP TABLE bench_products".to_owned(),
        "VACUUM ANALYZE".to_owned(),
    ];
    for sql in statements {
        sqlx::query(&sql)
            .execute(&mut pg)
            .await
            .with_context(|| sql.chars().take(80).collect::<String>())?;
    }
    Ok(())
}
