//! Domain events, published after the change they announce.

use super::{ProductId, Timestamp};
use serde::Serialize;
use uuid::Uuid;

/// The kinds of event clients can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
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
}

/// A change worth telling the world about. `id` is the order's id for order events and
/// the product's id for product and stock events.
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
}
