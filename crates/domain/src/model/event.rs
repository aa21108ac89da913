//! Events: every change to an order, a product or stock, as the feed carries it; and,
//! for clients that ask for them by topic, every change to a supplier.
//!
//! Events are not published by the services. The stores record them with the change
//! itself (PostgreSQL triggers into the outbox, MongoDB's change stream, the memory
//! adapters under their lock), so a change made directly in a database is announced too.
//! See ADR 0013.

use super::{Order, Product, ProductId, Supplier, SupplierId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// The kinds of event clients can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.updated")]
    OrderUpdated,
    #[serde(rename = "product.created")]
    ProductCreated,
    #[serde(rename = "product.updated")]
    ProductUpdated,
    #[serde(rename = "product.deleted")]
    ProductDeleted,
    #[serde(rename = "stock.changed")]
    StockChanged,
    #[serde(rename = "supplier.created")]
    SupplierCreated,
    #[serde(rename = "supplier.updated")]
    SupplierUpdated,
    #[serde(rename = "supplier.deleted")]
    SupplierDeleted,
}

impl EventKind {
    /// The wire name (`"order.created"`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::OrderCreated => "order.created",
            EventKind::OrderUpdated => "order.updated",
            EventKind::ProductCreated => "product.created",
            EventKind::ProductUpdated => "product.updated",
            EventKind::ProductDeleted => "product.deleted",
            EventKind::StockChanged => "stock.changed",
            EventKind::SupplierCreated => "supplier.created",
            EventKind::SupplierUpdated => "supplier.updated",
            EventKind::SupplierDeleted => "supplier.deleted",
        }
    }

    pub fn parse(name: &str) -> Option<EventKind> {
        Some(match name {
            "order.created" => EventKind::OrderCreated,
            "order.updated" => EventKind::OrderUpdated,
            "product.created" => EventKind::ProductCreated,
            "product.updated" => EventKind::ProductUpdated,
            "product.deleted" => EventKind::ProductDeleted,
            "stock.changed" => EventKind::StockChanged,
            "supplier.created" => EventKind::SupplierCreated,
            "supplier.updated" => EventKind::SupplierUpdated,
            "supplier.deleted" => EventKind::SupplierDeleted,
            _ => return None,
        })
    }

    pub fn topic(self) -> Topic {
        match self {
            EventKind::OrderCreated | EventKind::OrderUpdated => Topic::Orders,
            EventKind::ProductCreated | EventKind::ProductUpdated | EventKind::ProductDeleted => {
                Topic::Products
            }
            EventKind::StockChanged => Topic::Stock,
            EventKind::SupplierCreated
            | EventKind::SupplierUpdated
            | EventKind::SupplierDeleted => Topic::Suppliers,
        }
    }
}

/// What a feed client subscribes to (`?topics=orders,stock`).
///
/// API.md fixes the event types a client receives by default (orders, products, stock).
/// Supplier events are an opt-in topic: only a client that names `suppliers` gets them,
/// so a client that switches on the contract's types never meets a type it does not know
/// (ADR 0013).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    Orders,
    Products,
    Stock,
    Suppliers,
}

impl Topic {
    pub const ALL: [Topic; 4] = [
        Topic::Orders,
        Topic::Products,
        Topic::Stock,
        Topic::Suppliers,
    ];
    /// What a client gets when it names no topics: the contract's event types.
    pub const DEFAULT: [Topic; 3] = [Topic::Orders, Topic::Products, Topic::Stock];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Orders => "orders",
            Topic::Products => "products",
            Topic::Stock => "stock",
            Topic::Suppliers => "suppliers",
        }
    }
}

impl FromStr for Topic {
    type Err = String;

    fn from_str(s: &str) -> Result<Topic, String> {
        Topic::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!("unknown topic `{s}` (known: orders, products, stock, suppliers)")
            })
    }
}

/// A change worth telling the world about. `id` is the order's id for order events, the
/// product's id for product and stock events, and the supplier's id for supplier events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainEvent {
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub id: Uuid,
    pub data: serde_json::Value,
    pub at: Timestamp,
}

impl DomainEvent {
    pub fn new(kind: EventKind, id: Uuid, data: serde_json::Value) -> Self {
        DomainEvent {
            kind,
            id,
            data,
            at: super::now(),
        }
    }

    pub fn stock_changed(product_id: ProductId, available: u32, reserved: u32) -> Self {
        DomainEvent::new(
            EventKind::StockChanged,
            product_id.as_uuid(),
            serde_json::json!({"stock": available, "reserved": reserved}),
        )
    }

    /// `order.created` or `order.updated`, as the PostgreSQL trigger writes it.
    pub fn order(kind: EventKind, order: &Order) -> Self {
        DomainEvent::new(
            kind,
            order.id.as_uuid(),
            serde_json::json!({
                "status": order.status.as_str(),
                "customer_id": order.customer_id.as_str(),
                "total": order.total.to_string(),
                "currency": order.total.currency().as_str(),
            }),
        )
    }

    /// `product.created` or `product.updated` carrying the catalog fields a feed client
    /// shows (stock travels in `stock.changed`).
    pub fn product(kind: EventKind, p: &Product) -> Self {
        DomainEvent::new(
            kind,
            p.id.as_uuid(),
            serde_json::json!({
                "sku": p.sku.as_str(),
                "name": p.name.as_str(),
                "category": p.category.as_str(),
                "price": p.price.to_string(),
                "currency": p.price.currency().as_str(),
            }),
        )
    }

    pub fn product_deleted(id: ProductId) -> Self {
        DomainEvent::new(
            EventKind::ProductDeleted,
            id.as_uuid(),
            serde_json::json!({}),
        )
    }

    /// `supplier.created` or `supplier.updated`, carrying the supplier as the API shows it.
    pub fn supplier(kind: EventKind, s: &Supplier) -> Self {
        DomainEvent::new(
            kind,
            s.id.as_uuid(),
            serde_json::json!({
                "name": s.name.as_str(),
                "region": s.region.as_str(),
                "contact": {"email": s.contact.email, "phone": s.contact.phone},
            }),
        )
    }

    pub fn supplier_deleted(id: SupplierId) -> Self {
        DomainEvent::new(
            EventKind::SupplierDeleted,
            id.as_uuid(),
            serde_json::json!({}),
        )
    }
}

/// A position in the feed. Every event has one; they grow along the feed, so one `Seq`
/// names a point in the whole feed, whatever store the event came from. `Seq(0)` is
/// before the first event. On the wire it is a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Seq(pub u64);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Seq {
    type Err = String;

    fn from_str(s: &str) -> Result<Seq, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{s}` is not a feed position (a decimal `seq`)"));
        }
        s.parse()
            .map(Seq)
            .map_err(|_| format!("`{s}` is not a feed position (a decimal `seq`)"))
    }
}

impl Serialize for Seq {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// An event with its place in the feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedEvent {
    #[serde(flatten)]
    pub event: DomainEvent,
    pub seq: Seq,
}

/// Events read from the feed after some position.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replay {
    /// In feed order.
    pub events: Vec<FeedEvent>,
    /// Events right after the position asked for are no longer kept (older than the
    /// replay window): the reader has missed some.
    pub truncated: bool,
}

/// Where an external change source (MongoDB's change stream) is up to, opaque to all but
/// that source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeToken(pub Vec<u8>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_their_wire_names() {
        for kind in [
            EventKind::OrderCreated,
            EventKind::OrderUpdated,
            EventKind::ProductCreated,
            EventKind::ProductUpdated,
            EventKind::ProductDeleted,
            EventKind::StockChanged,
            EventKind::SupplierCreated,
            EventKind::SupplierUpdated,
            EventKind::SupplierDeleted,
        ] {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn seq_is_a_decimal_string() {
        assert_eq!("42".parse::<Seq>(), Ok(Seq(42)));
        assert!("-1".parse::<Seq>().is_err());
        assert!("4e2".parse::<Seq>().is_err());
        assert!("".parse::<Seq>().is_err());
        assert!("99999999999999999999999".parse::<Seq>().is_err());
        assert_eq!(serde_json::to_value(Seq(7)).unwrap(), "7");
    }

    #[test]
    fn topics_parse_and_name_unknowns() {
        assert_eq!("stock".parse::<Topic>(), Ok(Topic::Stock));
        assert!("payments"
            .parse::<Topic>()
            .unwrap_err()
            .contains("payments"));
    }
}
