//! Rows as PostgreSQL returns them, and their conversion into domain values.
//!
//! Conversions re-parse every value through the domain's constructors ("parse, don't
//! validate" holds for data coming back from the store too): a row that breaks a domain
//! rule becomes `Error::Internal` instead of an invalid value.

use crate::error::{corrupt, PgResult};
use chrono::{DateTime, Utc};
use emporium_domain::model::{
    Category, Currency, CustomerId, Money, Name, Order, OrderId, OrderItem, OrderStatus, Payment,
    PaymentId, PaymentStatus, ProductId, Quantity, SagaEntry, SagaId, SagaRecord, Sku, StockLevel,
    SupplierId, Units,
};
use rust_decimal::Decimal;
use sqlx::types::Json;
use std::str::FromStr;
use uuid::Uuid;

// Counts are stored as `INTEGER`: the domain's maxima must fit, with room to add.
const _: () = assert!(Units::MAX <= i32::MAX as u32 / 2 && Quantity::MAX <= i32::MAX as u32);

/// Units as an `INTEGER` (lossless: see the assertion above).
pub(crate) fn sql_units(n: Units) -> i32 {
    n.get() as i32
}

/// A line quantity as an `INTEGER` (lossless: see the assertion above).
pub(crate) fn sql_quantity(q: Quantity) -> i32 {
    q.get() as i32
}

/// The columns of [`StockRow`], for `SELECT` and `RETURNING` lists.
pub(crate) const STOCK_COLUMNS: &str = "sku, product_id, on_hand, reserved, version";

/// One `inventory` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct StockRow {
    pub sku: String,
    pub product_id: Uuid,
    pub on_hand: i32,
    pub reserved: i32,
    pub version: i64,
}

impl StockRow {
    /// Units that can be reserved now.
    pub fn available(&self) -> i64 {
        i64::from(self.on_hand) - i64::from(self.reserved)
    }

    pub fn into_level(self) -> PgResult<StockLevel> {
        let count = |n: i32| u32::try_from(n).map_err(|_| corrupt("inventory", "negative count"));
        Ok(StockLevel {
            sku: Sku::parse(self.sku).map_err(|e| corrupt("inventory", e))?,
            product_id: ProductId::from_uuid(self.product_id),
            on_hand: count(self.on_hand)?,
            reserved: count(self.reserved)?,
        })
    }
}

/// The columns of [`OrderRow`], qualified with the alias `o`.
pub(crate) const ORDER_COLUMNS: &str = "o.id, o.customer_id, o.customer_name, o.status, \
     o.total, o.currency, o.failure_reason, o.created_at, o.updated_at";

/// One `orders` row (the order without its lines and payment).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OrderRow {
    pub id: Uuid,
    pub customer_id: String,
    pub customer_name: Option<String>,
    pub status: String,
    pub total: Decimal,
    pub currency: String,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrderRow {
    pub fn currency(&self) -> PgResult<Currency> {
        Currency::parse(&self.currency).map_err(|e| corrupt("orders", e))
    }

    /// The order, given its lines (in line order) and its payment.
    pub fn into_order(self, items: Vec<OrderItem>, payment: Option<Payment>) -> PgResult<Order> {
        let currency = self.currency()?;
        Ok(Order {
            id: OrderId::from_uuid(self.id),
            customer_id: CustomerId::parse(self.customer_id).map_err(|e| corrupt("orders", e))?,
            customer_name: self
                .customer_name
                .map(Name::parse)
                .transpose()
                .map_err(|e| corrupt("orders", e))?,
            status: OrderStatus::from_str(&self.status).map_err(|e| corrupt("orders", e))?,
            items,
            total: Money::new(self.total, currency).map_err(|e| corrupt("orders", e))?,
            payment,
            failure_reason: self.failure_reason,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The columns of [`ItemRow`].
pub(crate) const ITEM_COLUMNS: &str =
    "order_id, product_id, sku, name, category, supplier_id, quantity, unit_price, line_total";

/// One `order_items` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ItemRow {
    pub order_id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub category: String,
    pub supplier_id: Option<Uuid>,
    pub quantity: i32,
    pub unit_price: Decimal,
    pub line_total: Decimal,
}

impl ItemRow {
    /// The line; prices are in the order's `currency` (lines do not store their own).
    pub fn into_item(self, currency: Currency) -> PgResult<OrderItem> {
        let bad = |e: String| corrupt("order_items", e);
        Ok(OrderItem {
            product_id: ProductId::from_uuid(self.product_id),
            sku: Sku::parse(self.sku).map_err(bad)?,
            name: Name::parse(self.name).map_err(bad)?,
            category: Category::parse(self.category).map_err(bad)?,
            supplier_id: self.supplier_id.map(SupplierId::from_uuid),
            quantity: Quantity::new(i64::from(self.quantity)).map_err(bad)?,
            unit_price: Money::new(self.unit_price, currency).map_err(bad)?,
            line_total: Money::new(self.line_total, currency).map_err(bad)?,
        })
    }
}

/// The columns of [`PaymentRow`].
pub(crate) const PAYMENT_COLUMNS: &str = "id, order_id, status, amount, currency, method, \
     gateway_ref, decline_reason, created_at, updated_at";

/// One `payments` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PaymentRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub status: String,
    pub amount: Decimal,
    pub currency: String,
    pub method: String,
    pub gateway_ref: Option<String>,
    pub decline_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PaymentRow {
    pub fn into_payment(self) -> PgResult<Payment> {
        let bad = |e: String| corrupt("payments", e);
        let currency = Currency::parse(&self.currency).map_err(bad)?;
        Ok(Payment {
            id: PaymentId::from_uuid(self.id),
            order_id: OrderId::from_uuid(self.order_id),
            status: PaymentStatus::from_str(&self.status).map_err(bad)?,
            amount: Money::new(self.amount, currency).map_err(bad)?,
            method: self.method,
            gateway_ref: self.gateway_ref,
            decline_reason: self.decline_reason,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// The columns of [`SagaRow`].
pub(crate) const SAGA_COLUMNS: &str =
    "id, kind, subject, state, payload, entries, started_at, updated_at";

/// One `saga_log` row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SagaRow {
    pub id: Uuid,
    pub kind: String,
    pub subject: Uuid,
    pub state: String,
    pub payload: serde_json::Value,
    pub entries: Json<Vec<SagaEntry>>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SagaRow {
    pub fn into_record(self) -> PgResult<SagaRecord> {
        let bad = |e: String| corrupt("saga_log", e);
        Ok(SagaRecord {
            id: SagaId::from_uuid(self.id),
            kind: self.kind.parse().map_err(bad)?,
            subject: self.subject,
            state: self.state.parse().map_err(bad)?,
            payload: self.payload,
            entries: self.entries.0,
            started_at: self.started_at,
            updated_at: self.updated_at,
        })
    }
}
