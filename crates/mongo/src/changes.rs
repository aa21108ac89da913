//! The catalog's changes, from MongoDB's change stream (ADR 0013).
//!
//! Products and suppliers are watched with `fullDocument: updateLookup`, so an edit made
//! in the MongoDB shell reaches the feed as well as one made through the API. Each change is recorded in
//! the event log together with its resume token, in one transaction; after a restart the
//! stream resumes right after the last recorded change, so none is lost or recorded twice.

use crate::codec::{product_from_document, supplier_from_document, uuid_from_bson};
use crate::error::from_driver;
use crate::MongoCatalog;
use async_trait::async_trait;
use emporium_domain::model::{DomainEvent, EventKind, ProductId, ResumeToken, SupplierId};
use emporium_domain::ports::{CatalogChanges, EventLog};
use emporium_domain::{Error, Result};
use futures::StreamExt;
use mongodb::bson::{self, doc, Document};
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType};
use mongodb::options::FullDocumentType;
use mongodb::Collection;

/// The source name of MongoDB's product changes in the event log.
pub const PRODUCT_CHANGES: &str = "mongodb.products";
/// The source name of MongoDB's supplier changes in the event log.
pub const SUPPLIER_CHANGES: &str = "mongodb.suppliers";

fn to_token(token: &mongodb::change_stream::event::ResumeToken) -> Result<ResumeToken> {
    let value = bson::to_bson(token).map_err(|e| Error::Internal(format!("resume token: {e}")))?;
    let bytes = bson::to_vec(&doc! {"token": value})
        .map_err(|e| Error::Internal(format!("resume token: {e}")))?;
    Ok(ResumeToken(bytes))
}

fn from_token(token: &ResumeToken) -> Result<mongodb::change_stream::event::ResumeToken> {
    let corrupt = |e: String| Error::Internal(format!("stored resume token: {e}"));
    let d: Document = bson::from_slice(&token.0).map_err(|e| corrupt(e.to_string()))?;
    let value = d
        .get("token")
        .cloned()
        .ok_or_else(|| corrupt("empty".into()))?;
    bson::from_bson(value).map_err(|e| corrupt(e.to_string()))
}

/// The id of the changed document.
fn document_id(change: &ChangeStreamEvent<Document>) -> Option<uuid::Uuid> {
    change
        .document_key
        .as_ref()
        .and_then(|k| k.get("_id"))
        .and_then(uuid_from_bson)
}

/// `created` for an insert, `updated` for an update or a replacement.
fn created_or_updated(
    change: &ChangeStreamEvent<Document>,
    created: EventKind,
    updated: EventKind,
) -> EventKind {
    if change.operation_type == OperationType::Insert {
        created
    } else {
        updated
    }
}

/// The change's time in the database, when the server gives it.
fn stamped(mut event: DomainEvent, change: &ChangeStreamEvent<Document>) -> DomainEvent {
    if let Some(at) = change
        .wall_time
        .and_then(|at| chrono::DateTime::from_timestamp_millis(at.timestamp_millis()))
    {
        event.at = at;
    }
    event
}

/// The feed event for one product change, or `None` for a change the feed does not carry.
fn product_event(change: &ChangeStreamEvent<Document>) -> Result<Option<DomainEvent>> {
    let id = document_id(change).map(ProductId::from_uuid);
    Ok(match (&change.operation_type, id) {
        (OperationType::Delete, Some(id)) => Some(DomainEvent::product_deleted(id)),
        (OperationType::Insert | OperationType::Update | OperationType::Replace, Some(_)) => {
            // `None` when the product was deleted before the lookup: its delete follows.
            let Some(document) = &change.full_document else {
                return Ok(None);
            };
            let product = product_from_document(document)?;
            let kind =
                created_or_updated(change, EventKind::ProductCreated, EventKind::ProductUpdated);
            Some(stamped(DomainEvent::product(kind, &product), change))
        }
        _ => None,
    })
}

/// The feed event for one supplier change, or `None` for a change the feed does not carry.
fn supplier_event(change: &ChangeStreamEvent<Document>) -> Result<Option<DomainEvent>> {
    let id = document_id(change).map(SupplierId::from_uuid);
    Ok(match (&change.operation_type, id) {
        (OperationType::Delete, Some(id)) => Some(DomainEvent::supplier_deleted(id)),
        (OperationType::Insert | OperationType::Update | OperationType::Replace, Some(_)) => {
            let Some(document) = &change.full_document else {
                return Ok(None);
            };
            let supplier = supplier_from_document(document)?;
            let kind = created_or_updated(
                change,
                EventKind::SupplierCreated,
                EventKind::SupplierUpdated,
            );
            Some(stamped(DomainEvent::supplier(kind, &supplier), change))
        }
        _ => None,
    })
}

type EventOf = fn(&ChangeStreamEvent<Document>) -> Result<Option<DomainEvent>>;

/// Follows one collection's change stream into `log` as `source`, each change with its
/// resume token, from where the log's cursor for `source` stands. Returns only on an error.
async fn follow_collection(
    collection: Collection<Document>,
    source: &'static str,
    event_of: EventOf,
    log: &dyn EventLog,
    connected_at: Option<mongodb::bson::Timestamp>,
) -> Result<()> {
    let mut previous = log.resume_token(source).await?;
    let resume = previous.as_ref().map(from_token).transpose()?;
    // With no cursor yet (a fresh feed), from when the server connected rather than from
    // whenever this stream happens to open.
    let start = if resume.is_none() { connected_at } else { None };
    let watch = collection
        .watch()
        .full_document(FullDocumentType::UpdateLookup)
        .resume_after(resume);
    let watch = match start {
        Some(at) => watch.start_at_operation_time(at),
        None => watch,
    };
    let mut stream = watch.await.map_err(from_driver)?;
    tracing::info!(
        source,
        resumed = previous.is_some(),
        "following a change stream"
    );
    while let Some(change) = stream.next().await {
        let change = change.map_err(from_driver)?;
        let token = to_token(&change.id)?;
        match event_of(&change)? {
            Some(event) => {
                // Another server following the stream may record it first (resume
                // tokens are the same for every follower); a cursor moved anywhere
                // else (a restore) ends this stream, to start again from the cursor.
                log.record_following(
                    source,
                    std::slice::from_ref(&event),
                    previous.as_ref(),
                    &token,
                )
                .await?;
                previous = Some(token);
            }
            // Not recorded, so the log's cursor stays where it is and the next
            // recorded change moves it from there.
            None => {
                tracing::debug!(source, operation = ?change.operation_type, "change not in the feed")
            }
        }
    }
    Err(Error::Unavailable("mongodb".into()))
}

#[async_trait]
impl CatalogChanges for MongoCatalog {
    /// Products and suppliers, each from its own stream with its own cursor (so adding a
    /// stream never has to resume from another stream's token).
    #[tracing::instrument(name = "mongo.follow_catalog", skip_all)]
    async fn follow(&self, log: &dyn EventLog) -> Result<()> {
        let at = self.connected_at.get().copied();
        let products = follow_collection(self.products(), PRODUCT_CHANGES, product_event, log, at);
        let suppliers =
            follow_collection(self.suppliers(), SUPPLIER_CHANGES, supplier_event, log, at);
        tokio::try_join!(products, suppliers).map(|_| ())
    }
}
