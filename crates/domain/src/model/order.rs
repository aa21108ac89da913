//! Orders, their lines, and the order status state machine.

use super::{
    now, Category, CustomerId, Money, Name, OrderId, PageRequest, Payment, Product, ProductId, Sku,
    SupplierId, Timestamp,
};
use crate::error::{Error, Result, Violations};
use serde::{Deserialize, Serialize};
use std::{collections::HashSet, fmt, str::FromStr};

/// A positive number of units on an order line (1 ..= 1,000,000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64")]
pub struct Quantity(u32);

impl TryFrom<i64> for Quantity {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Quantity::new(n)
    }
}

impl Quantity {
    pub const MAX: u32 = 1_000_000;

    pub fn new(n: i64) -> Result<Quantity, String> {
        if n < 1 {
            Err("must be at least 1".into())
        } else if n > Self::MAX as i64 {
            Err(format!("must be at most {}", Self::MAX))
        } else {
            Ok(Quantity(n as u32))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Where an order is in its life. Moves are checked by [`OrderStatus::transition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Taken while the ledger was unreachable (`Prefer: respond-async`) and waiting in
    /// the order queue; never stored in the ledger as such.
    Queued,
    Pending,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
    Failed,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Queued,
        OrderStatus::Pending,
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Queued => "queued",
            OrderStatus::Pending => "pending",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Failed => "failed",
        }
    }

    /// The contract's allowed moves: `queued → pending | failed | cancelled`,
    /// `pending → confirmed | cancelled | failed`,
    /// `confirmed → shipped | cancelled`, `shipped → delivered`.
    pub fn can_move_to(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (Queued, Pending)
                | (Queued, Failed)
                | (Queued, Cancelled)
                | (Pending, Confirmed)
                | (Pending, Cancelled)
                | (Pending, Failed)
                | (Confirmed, Shipped)
                | (Confirmed, Cancelled)
                | (Shipped, Delivered)
        )
    }

    /// The new status, or [`Error::InvalidTransition`].
    pub fn transition(self, to: OrderStatus) -> Result<OrderStatus> {
        if self.can_move_to(to) {
            Ok(to)
        } else {
            Err(Error::InvalidTransition { from: self, to })
        }
    }

    /// True for `confirmed`, `shipped` and `delivered`: the statuses that count as sales.
    pub fn is_sale(self) -> bool {
        matches!(
            self,
            OrderStatus::Confirmed | OrderStatus::Shipped | OrderStatus::Delivered
        )
    }

    /// True while the order holds a stock reservation.
    pub fn holds_reservation(self) -> bool {
        self == OrderStatus::Pending
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "`{s}` is not one of queued, pending, confirmed, shipped, delivered, cancelled, failed"
                )
            })
    }
}

/// An opaque payment token from the shop's payment form (e.g. `tok_visa`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentToken {
    pub method: String,
    pub token: String,
}

/// A valid order request, before prices are looked up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub customer_id: CustomerId,
    pub customer_name: Option<Name>,
    pub lines: Vec<(ProductId, Quantity)>,
    pub payment: PaymentToken,
}

/// Raw order fields as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct OrderInput {
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub items: Option<Vec<(Option<ProductId>, Option<i64>)>>,
    pub payment_method: Option<String>,
    pub payment_token: Option<String>,
    pub has_payment: bool,
}

/// The most lines one order may have.
pub const MAX_ORDER_LINES: usize = 100;

impl OrderRequest {
    pub fn parse(input: OrderInput) -> Result<OrderRequest> {
        let mut v = Violations::new();
        let customer_id = match input.customer_id {
            Some(c) => v.check("customer_id", CustomerId::parse(c)),
            None => {
                v.push("customer_id", "is required");
                None
            }
        };
        let customer_name = input
            .customer_name
            .and_then(|n| v.check("customer_name", Name::parse(n)));
        let mut lines = Vec::new();
        match input.items {
            None => v.push("items", "is required"),
            Some(items) if items.is_empty() => v.push("items", "must have at least one line"),
            Some(items) if items.len() > MAX_ORDER_LINES => v.push(
                "items",
                format!("must have at most {MAX_ORDER_LINES} lines"),
            ),
            Some(items) => {
                let mut seen = HashSet::new();
                for (i, (product_id, quantity)) in items.into_iter().enumerate() {
                    let product_id = match product_id {
                        Some(p) => Some(p),
                        None => {
                            v.push(format!("items[{i}].product_id"), "is required");
                            None
                        }
                    };
                    let quantity = match quantity {
                        Some(q) => v.check(&format!("items[{i}].quantity"), Quantity::new(q)),
                        None => {
                            v.push(format!("items[{i}].quantity"), "is required");
                            None
                        }
                    };
                    if let Some(p) = product_id {
                        if !seen.insert(p) {
                            v.push(
                                format!("items[{i}].product_id"),
                                format!("product {p} appears more than once"),
                            );
                        }
                    }
                    if let (Some(p), Some(q)) = (product_id, quantity) {
                        lines.push((p, q));
                    }
                }
            }
        }
        let payment = if !input.has_payment {
            v.push("payment", "is required");
            None
        } else {
            let method = input.payment_method.unwrap_or_else(|| "card".into());
            if method != "card" {
                v.push("payment.method", "must be `card`");
            }
            match input.payment_token {
                Some(t) if !t.is_empty() && t.len() <= 200 && !t.contains(char::is_control) => {
                    Some(PaymentToken { method, token: t })
                }
                Some(_) => {
                    v.push("payment.token", "must be 1-200 characters");
                    None
                }
                None => {
                    v.push("payment.token", "is required");
                    None
                }
            }
        };
        let (customer_id, payment) = v.finish_with((customer_id, payment))?;
        Ok(OrderRequest {
            customer_id,
            customer_name,
            lines,
            payment,
        })
    }
}

/// One order line with the product as it was at order time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub product_id: ProductId,
    pub sku: Sku,
    pub name: Name,
    pub category: Category,
    /// The product's supplier when the order was placed, for the supplier report.
    pub supplier_id: Option<SupplierId>,
    pub quantity: Quantity,
    pub unit_price: Money,
    pub line_total: Money,
}

/// A priced order, ready to reserve stock for.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    pub id: OrderId,
    pub customer_id: CustomerId,
    pub customer_name: Option<Name>,
    pub items: Vec<OrderItem>,
    pub total: Money,
    pub created_at: Timestamp,
}

impl NewOrder {
    /// Prices the request against catalog entries (one per line, in any order), snapshotting
    /// sku, name, category, supplier and unit price. Unknown products are a validation error naming them.
    pub fn price(id: OrderId, request: &OrderRequest, products: &[Product]) -> Result<NewOrder> {
        let mut v = Violations::new();
        let mut items = Vec::with_capacity(request.lines.len());
        for (i, (product_id, quantity)) in request.lines.iter().enumerate() {
            let Some(p) = products.iter().find(|p| p.id == *product_id) else {
                v.push(
                    format!("items[{i}].product_id"),
                    format!("product {product_id} does not exist"),
                );
                continue;
            };
            match p.price.times(quantity.get()) {
                Ok(line_total) => items.push(OrderItem {
                    product_id: p.id,
                    sku: p.sku.clone(),
                    name: p.name.clone(),
                    category: p.category.clone(),
                    supplier_id: p.supplier_id,
                    quantity: *quantity,
                    unit_price: p.price,
                    line_total,
                }),
                Err(e) => v.push(format!("items[{i}].quantity"), e),
            }
        }
        v.finish()?;
        let first = items[0].line_total;
        let total = items[1..]
            .iter()
            .try_fold(first, |acc, item| acc.plus(&item.line_total))
            .map_err(|e| Error::invalid("items", format!("order total: {e}")))?;
        Ok(NewOrder {
            id,
            customer_id: request.customer_id.clone(),
            customer_name: request.customer_name.clone(),
            items,
            total,
            created_at: now(),
        })
    }
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub customer_id: CustomerId,
    pub customer_name: Option<Name>,
    pub status: OrderStatus,
    pub items: Vec<OrderItem>,
    pub total: Money,
    pub payment: Option<Payment>,
    /// Why a `failed` order failed, when that was recorded (a queued order's placement).
    pub failure_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Order {
    /// A new order as the order queue shows it while it waits: `queued`.
    pub fn queued(new: &NewOrder) -> Order {
        Order {
            status: OrderStatus::Queued,
            ..Order::pending(new)
        }
    }

    /// The `pending` order a new order becomes once its stock is reserved.
    pub fn pending(new: &NewOrder) -> Order {
        Order {
            id: new.id,
            customer_id: new.customer_id.clone(),
            customer_name: new.customer_name.clone(),
            status: OrderStatus::Pending,
            items: new.items.clone(),
            total: new.total,
            payment: None,
            failure_reason: None,
            created_at: new.created_at,
            updated_at: new.created_at,
        }
    }
}

/// Filters of `GET /api/orders`.
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    pub status: Option<OrderStatus>,
    pub customer_id: Option<String>,
    pub product_id: Option<ProductId>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub page: PageRequest,
}

impl OrderQuery {
    /// Reference semantics of the filters (`from` inclusive, `to` exclusive).
    pub fn matches(&self, o: &Order) -> bool {
        self.status.is_none_or(|s| o.status == s)
            && self
                .customer_id
                .as_ref()
                .is_none_or(|c| o.customer_id.as_str() == c)
            && self
                .product_id
                .is_none_or(|p| o.items.iter().any(|i| i.product_id == p))
            && self.from.is_none_or(|f| o.created_at >= f)
            && self.to.is_none_or(|t| o.created_at < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn state_machine_matches_contract() {
        let allowed = [
            (Queued, Pending),
            (Queued, Failed),
            (Queued, Cancelled),
            (Pending, Confirmed),
            (Pending, Cancelled),
            (Pending, Failed),
            (Confirmed, Shipped),
            (Confirmed, Cancelled),
            (Shipped, Delivered),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let ok = allowed.contains(&(from, to));
                assert_eq!(from.transition(to).is_ok(), ok, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn quantity_bounds() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(-3).is_err());
        assert_eq!(Quantity::new(2).unwrap().get(), 2);
    }

    #[test]
    fn order_request_reports_every_problem() {
        let p = ProductId::new();
        let err = OrderRequest::parse(OrderInput {
            customer_id: Some(String::new()),
            items: Some(vec![(Some(p), Some(0)), (Some(p), Some(1))]),
            has_payment: false,
            ..Default::default()
        })
        .unwrap_err();
        let Error::Validation(fields) = err else {
            panic!("expected validation error")
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert!(names.contains(&"customer_id"));
        assert!(names.contains(&"items[0].quantity"));
        assert!(names.contains(&"items[1].product_id"));
        assert!(names.contains(&"payment"));
    }
}
