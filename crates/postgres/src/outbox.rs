//! The transactional outbox: events written in the same transaction as the change they
//! announce, for a relay to publish later. Nothing reads them yet; writing them now means
//! the history is complete from the first order on.

use crate::error::{Failure, PgResult};
use chrono::{DateTime, Utc};
use emporium_domain::model::{DomainEvent, EventKind, Order, StockLevel};
use emporium_domain::Error;
use sqlx::PgConnection;
use uuid::Uuid;

/// The event announcing `order` (the same data the order service publishes on its bus).
pub(crate) fn order_event(kind: EventKind, order: &Order) -> DomainEvent {
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

/// One `stock.changed` per record.
pub(crate) fn stock_events(levels: &[StockLevel]) -> impl Iterator<Item = DomainEvent> + '_ {
    levels
        .iter()
        .map(|l| DomainEvent::stock_changed(l.product_id, l.available(), l.reserved))
}

/// Writes `events` in one statement on the caller's transaction.
pub(crate) async fn record(
    conn: &mut PgConnection,
    events: impl IntoIterator<Item = DomainEvent>,
) -> PgResult<()> {
    let events: Vec<DomainEvent> = events.into_iter().collect();
    if events.is_empty() {
        return Ok(());
    }
    let types = events
        .iter()
        .map(|e| event_type(e.kind))
        .collect::<PgResult<Vec<_>>>()?;
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let payloads: Vec<&serde_json::Value> = events.iter().map(|e| &e.data).collect();
    let at: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
    sqlx::query(
        "INSERT INTO outbox (event_type, aggregate_id, payload, created_at) \
         SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::jsonb[], $4::timestamptz[])",
    )
    .bind(&types)
    .bind(&ids)
    .bind(&payloads)
    .bind(&at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The wire name of an event kind (`"order.created"`), as the domain serializes it.
fn event_type(kind: EventKind) -> PgResult<String> {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => Ok(name),
        other => Err(Failure::Domain(Error::Internal(format!(
            "event kind {kind:?} serializes as {other:?}"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_the_wire_names() {
        assert_eq!(
            event_type(EventKind::OrderCreated).unwrap(),
            "order.created"
        );
        assert_eq!(
            event_type(EventKind::StockChanged).unwrap(),
            "stock.changed"
        );
    }
}
