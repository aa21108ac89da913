//! PgLedger against a real PostgreSQL server: one fresh database per test (see
//! `emporium_testkit::harness::postgres`). Start the local server with
//! `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`.
//!
//! These tests cover what only PostgreSQL can get wrong: concurrency, locking, constraints,
//! timeouts and the SQL itself. The adapter-agnostic behaviour of the ports is checked by
//! the shared contract suite (`tests/contract.rs`).

use anyhow::Result;
use chrono::{Duration as Days, TimeZone, Utc};
use emporium_domain::model::{
    Category, Currency, CustomerId, Money, Name, NewOrder, OrderId, OrderItem, OrderQuery,
    OrderStatus, PageRequest, Payment, PaymentId, PaymentStatus, ProductId, Quantity, SagaEntry,
    SagaId, SagaKind, SagaRecord, SagaState, Sku, StepOutcome, Timestamp, Units,
};
use emporium_domain::ports::{Inventory, Orders, Payments, SagaLog};
use emporium_domain::{model::now, Error};
use emporium_postgres::{LockingStrategy, PgLedger, PgOptions, MIGRATOR};
use emporium_testkit::harness::postgres::TestPostgres;
use futures::future::join_all;
use std::time::{Duration, Instant};

mod backup;
mod failure_modes;
mod feed_wakeups;
mod inventory;
mod payments_and_saga_log;
mod reads;
mod reservations;
mod schema;
mod status;

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// A migrated ledger on a fresh database (dropped with the returned guard).
async fn ledger() -> Result<(PgLedger, TestPostgres)> {
    ledger_with(PgOptions::default()).await
}

async fn ledger_with(opts: PgOptions) -> Result<(PgLedger, TestPostgres)> {
    let db = migrated_database().await?;
    let ledger = PgLedger::connect(&db.url, opts).await?;
    Ok((ledger, db))
}

/// A fresh database with every migration applied, cloned from a template built once.
async fn migrated_database() -> anyhow::Result<TestPostgres> {
    TestPostgres::from_template(&emporium_postgres::migrations_digest(), |url| async move {
        Ok(emporium_postgres::migrate_database(&url).await?)
    })
    .await
}

/// A product with a stock record.
#[derive(Debug, Clone)]
struct Stocked {
    id: ProductId,
    sku: Sku,
}

async fn stocked(ledger: &PgLedger, sku: &str, on_hand: u32) -> Result<Stocked> {
    let product = Stocked {
        id: ProductId::new(),
        sku: Sku::parse(sku).map_err(anyhow::Error::msg)?,
    };
    ledger
        .create_stock(
            &product.sku,
            product.id,
            Units::new(on_hand).map_err(anyhow::Error::msg)?,
        )
        .await?;
    Ok(product)
}

fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::USD).expect("valid amount")
}

fn line(product: &Stocked, quantity: i64) -> OrderItem {
    let unit_price = usd("2.50");
    OrderItem {
        product_id: product.id,
        sku: product.sku.clone(),
        name: Name::parse(format!("Product {}", product.sku)).expect("valid name"),
        category: Category::parse("tests").expect("valid category"),
        supplier_id: None,
        quantity: Quantity::new(quantity).expect("valid quantity"),
        unit_price,
        line_total: unit_price.times(quantity as u32).expect("no overflow"),
    }
}

fn order_of(customer: &str, items: Vec<OrderItem>) -> NewOrder {
    order_at(customer, items, now())
}

fn order_at(customer: &str, items: Vec<OrderItem>, created_at: Timestamp) -> NewOrder {
    let total = items
        .iter()
        .try_fold(usd("0"), |sum, item| sum.plus(&item.line_total))
        .expect("no overflow");
    NewOrder {
        id: OrderId::new(),
        customer_id: CustomerId::parse(customer).expect("valid customer"),
        customer_name: Some(Name::parse("Ada Lovelace").expect("valid name")),
        items,
        total,
        created_at,
    }
}

/// `(on_hand, reserved)` of a product.
async fn levels(ledger: &PgLedger, product: &Stocked) -> Result<(u32, u32)> {
    let level = ledger
        .stock(&product.sku)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no stock record for {}", product.sku))?;
    Ok((level.on_hand, level.reserved))
}

async fn count(ledger: &PgLedger, sql: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(ledger.pool()).await?)
}

fn payment(order: OrderId, status: PaymentStatus, at: Timestamp) -> Payment {
    Payment {
        id: PaymentId::new(),
        order_id: order,
        status,
        amount: usd("5.00"),
        method: "card".into(),
        gateway_ref: Some("auth_1".into()),
        decline_reason: None,
        created_at: at,
        updated_at: at,
    }
}
