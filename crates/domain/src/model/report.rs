//! Report figures (ADR 0012): sales per product, category and supplier, and low stock.
//!
//! Only sales count: orders `confirmed`, `shipped` or `delivered`. Each line counts as it
//! was when the order was placed (its category and supplier then), so editing a product
//! later does not rewrite history.

use super::{Category, Currency, OrderStatus, ProductId, Sku, StockLevel, SupplierId, Timestamp};
use rust_decimal::Decimal;

/// Whether an order in `status` counts in the sales reports.
pub fn is_sale(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Confirmed | OrderStatus::Shipped | OrderStatus::Delivered
    )
}

/// The orders a sales report counts: those created in `[from, to)`; an open end is
/// unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SalesWindow {
    from: Option<Timestamp>,
    to: Option<Timestamp>,
}

impl SalesWindow {
    /// `Err` names the parameter at fault: `to` when the window would be empty.
    pub fn new(
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<SalesWindow, (&'static str, String)> {
        if let (Some(from), Some(to)) = (from, to) {
            if to <= from {
                return Err(("to", "must be later than from".into()));
            }
        }
        Ok(SalesWindow { from, to })
    }

    pub fn from(&self) -> Option<Timestamp> {
        self.from
    }

    pub fn to(&self) -> Option<Timestamp> {
        self.to
    }

    pub fn contains(&self, at: Timestamp) -> bool {
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to)
    }
}

/// A sum of money in one currency, as a report totals it: non-negative, two fraction
/// digits, and, unlike [`super::Money`], without the ceiling of one order's amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revenue {
    amount: Decimal,
    currency: Currency,
}

impl Revenue {
    pub fn new(amount: Decimal, currency: Currency) -> Result<Revenue, String> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err("must not be negative".into());
        }
        let mut amount = amount.normalize();
        if amount.scale() > 2 {
            return Err("must have at most two fraction digits".into());
        }
        amount.rescale(2);
        Ok(Revenue { amount, currency })
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }
}

/// Units and revenue of one product in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSales {
    pub product_id: ProductId,
    pub sku: Sku,
    pub units: u64,
    pub revenue: Revenue,
}

/// Units and revenue of one category (as the lines had it) in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategorySales {
    pub category: Category,
    pub units: u64,
    pub revenue: Revenue,
}

/// What one supplier's products sold (in one currency), and how its orders were delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplierSales {
    pub supplier_id: SupplierId,
    pub units: u64,
    pub revenue: Revenue,
    /// Sales with at least one line of this supplier's.
    pub orders: u64,
    /// Those of them delivered.
    pub delivered_orders: u64,
    /// Confirmation to delivery, summed over the delivered ones, in whole seconds.
    pub delivery_seconds: u64,
}

impl SupplierSales {
    /// Delivered orders over orders, from 0 to 1 (0 without orders).
    pub fn delivered_share(&self) -> f64 {
        if self.orders == 0 {
            0.0
        } else {
            self.delivered_orders as f64 / self.orders as f64
        }
    }

    /// Mean hours from confirmation to delivery; `None` until an order is delivered.
    pub fn mean_hours_to_delivery(&self) -> Option<f64> {
        (self.delivered_orders > 0)
            .then(|| self.delivery_seconds as f64 / 3600.0 / self.delivered_orders as f64)
    }
}

/// A stock record at or below a threshold, with what the catalog says of its product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowStock {
    pub level: StockLevel,
    /// The product's name; `None` when the product has left the catalog.
    pub name: Option<super::Name>,
    /// The product's own threshold; `None` when the product has left the catalog.
    pub low_stock_threshold: Option<super::Units>,
}

/// A customer's purchases and what others bought with them (for recommendations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurchaseAffinity {
    /// Every product on the customer's sales.
    pub bought: Vec<ProductId>,
    /// Products on other customers' sales that share a product with the customer's,
    /// with the number of such sales, most first.
    pub co_purchased: Vec<(ProductId, u64)>,
}
