//! The order queue in MongoDB (ADR 0016): placements taken while PostgreSQL was
//! unreachable, in the store that was up. One document per order:
//!
//! `{_id: <order id>, state, received_at, claimed_at, failure_reason, request, order}`,
//! with `request` and `order` as the domain's JSON forms (readable in the shell), and an
//! index on `(state, received_at, _id)` for the oldest-first claim.

use crate::codec::{bson_to_json, json_to_bson, time_to_bson, uuid_to_bson};
use crate::error::from_driver;
use crate::MongoCatalog;
use async_trait::async_trait;
use emporium_domain::model::{now, OrderId, QueueState, QueuedOrder};
use emporium_domain::ports::OrderQueue;
use emporium_domain::{Error, Result};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use mongodb::Collection;
use std::time::Duration;

/// The collection of queued placements.
pub const ORDER_QUEUE: &str = "order_queue";

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Internal(format!("order_queue document: {what}"))
}

fn to_document(entry: &QueuedOrder) -> Result<Document> {
    let json = |value: serde_json::Result<serde_json::Value>| {
        value
            .map(|v| json_to_bson(&v))
            .map_err(|e| Error::Internal(format!("queued order: {e}")))
    };
    Ok(doc! {
        "_id": uuid_to_bson(entry.id.as_uuid()),
        "state": entry.state.as_str(),
        "received_at": time_to_bson(entry.received_at),
        "claimed_at": entry.claimed_at.map(time_to_bson).unwrap_or(Bson::Null),
        "failure_reason": entry.failure_reason.clone().map(Bson::String).unwrap_or(Bson::Null),
        "request": json(serde_json::to_value(&entry.request))?,
        "order": json(serde_json::to_value(&entry.order))?,
    })
}

fn from_document(d: &Document) -> Result<QueuedOrder> {
    let json = |key: &str| -> Result<serde_json::Value> {
        bson_to_json(d.get(key).ok_or_else(|| corrupt(format!("no {key}")))?).map_err(corrupt)
    };
    let state: QueueState =
        serde_json::from_value(json("state")?).map_err(|e| corrupt(format!("state: {e}")))?;
    let time = |key: &str| match d.get(key) {
        Some(Bson::DateTime(at)) => Ok(Some(
            chrono::DateTime::from_timestamp_millis(at.timestamp_millis())
                .ok_or_else(|| corrupt(format!("{key} out of range")))?,
        )),
        Some(Bson::Null) | None => Ok(None),
        Some(other) => Err(corrupt(format!("{key} is {other}"))),
    };
    let order: emporium_domain::model::Order =
        serde_json::from_value(json("order")?).map_err(|e| corrupt(format!("order: {e}")))?;
    Ok(QueuedOrder {
        id: order.id,
        request: serde_json::from_value(json("request")?)
            .map_err(|e| corrupt(format!("request: {e}")))?,
        state,
        failure_reason: d.get_str("failure_reason").ok().map(str::to_owned),
        received_at: time("received_at")?.ok_or_else(|| corrupt("no received_at"))?,
        claimed_at: time("claimed_at")?,
        order,
    })
}

impl MongoCatalog {
    fn order_queue(&self) -> Collection<Document> {
        self.database().collection(ORDER_QUEUE)
    }
}

#[async_trait]
impl OrderQueue for MongoCatalog {
    #[tracing::instrument(name = "mongo.queue.enqueue", skip_all, fields(order_id = %entry.id))]
    async fn enqueue(&self, entry: &QueuedOrder) -> Result<()> {
        let mut document = to_document(entry)?;
        // The filter's `_id` becomes the new document's.
        document.remove("_id");
        // Idempotent on the id: an entry already there is kept as it is.
        self.order_queue()
            .update_one(
                doc! {"_id": uuid_to_bson(entry.id.as_uuid())},
                doc! {"$setOnInsert": document},
            )
            .upsert(true)
            .await
            .map_err(from_driver)?;
        Ok(())
    }

    #[tracing::instrument(name = "mongo.queue.get", skip_all, fields(order_id = %id))]
    async fn get(&self, id: OrderId) -> Result<Option<QueuedOrder>> {
        self.order_queue()
            .find_one(doc! {"_id": uuid_to_bson(id.as_uuid())})
            .await
            .map_err(from_driver)?
            .as_ref()
            .map(from_document)
            .transpose()
    }

    #[tracing::instrument(name = "mongo.queue.claim_next", skip_all)]
    async fn claim_next(&self, lease: Duration) -> Result<Option<QueuedOrder>> {
        let at = now();
        let stale = at - chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        self.order_queue()
            .find_one_and_update(
                doc! {"$or": [
                    {"state": QueueState::Queued.as_str()},
                    {"state": QueueState::Placing.as_str(), "claimed_at": {"$lt": time_to_bson(stale)}},
                ]},
                doc! {"$set": {"state": QueueState::Placing.as_str(), "claimed_at": time_to_bson(at)}},
            )
            .sort(doc! {"received_at": 1, "_id": 1})
            .return_document(ReturnDocument::After)
            .await
            .map_err(from_driver)?
            .as_ref()
            .map(from_document)
            .transpose()
    }

    #[tracing::instrument(name = "mongo.queue.release", skip_all, fields(order_id = %id))]
    async fn release(&self, id: OrderId) -> Result<()> {
        self.order_queue()
            .update_one(
                doc! {"_id": uuid_to_bson(id.as_uuid()), "state": QueueState::Placing.as_str()},
                doc! {"$set": {"state": QueueState::Queued.as_str(), "claimed_at": Bson::Null}},
            )
            .await
            .map_err(from_driver)?;
        Ok(())
    }

    #[tracing::instrument(name = "mongo.queue.settle", skip_all, fields(order_id = %id, state = state.as_str()))]
    async fn settle(&self, id: OrderId, state: QueueState, reason: Option<&str>) -> Result<()> {
        let updated = self
            .order_queue()
            .update_one(
                doc! {"_id": uuid_to_bson(id.as_uuid())},
                doc! {"$set": {
                    "state": state.as_str(),
                    "claimed_at": Bson::Null,
                    "failure_reason": reason.map(|r| Bson::String(r.to_owned())).unwrap_or(Bson::Null),
                }},
            )
            .await
            .map_err(from_driver)?;
        if updated.matched_count == 0 {
            return Err(Error::NotFound("queued order"));
        }
        Ok(())
    }

    async fn waiting(&self) -> Result<u64> {
        self.order_queue()
            .count_documents(doc! {"state": {"$in": [QueueState::Queued.as_str(), QueueState::Placing.as_str()]}})
            .await
            .map_err(from_driver)
    }
}
