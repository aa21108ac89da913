//! The catalog's changes, from MongoDB's change stream (ADR 0013).
//!
//! Products are watched with `fullDocument: updateLookup`, so an edit made in the MongoDB
//! shell reaches the feed as well as one made through the API. Each change is recorded in
//! the event log together with its resume token, in one transaction; after a restart the
//! stream resumes right after the last recorded change, so none is lost or recorded twice.

use crate::codec::{product_from_document, uuid_from_bson};
use crate::error::from_driver;
use crate::MongoCatalog;
use async_trait::async_trait;
use emporium_domain::model::{DomainEvent, EventKind, ProductId, ResumeToken};
use emporium_domain::ports::{CatalogChanges, EventLog};
use emporium_domain::{Error, Result};
use futures::StreamExt;
use mongodb::bson::{self, doc, Document};
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType};
use mongodb::options::FullDocumentType;

/// The source name of MongoDB's product changes in the event log.
pub const PRODUCT_CHANGES: &str = "mongodb.products";

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

/// The feed event for one change, or `None` for a change the feed does not carry.
fn event_of(change: &ChangeStreamEvent<Document>) -> Result<Option<DomainEvent>> {
    let id = change
        .document_key
        .as_ref()
        .and_then(|k| k.get("_id"))
        .and_then(uuid_from_bson)
        .map(ProductId::from_uuid);
    Ok(match (&change.operation_type, id) {
        (OperationType::Delete, Some(id)) => Some(DomainEvent::product_deleted(id)),
        (OperationType::Insert | OperationType::Update | OperationType::Replace, Some(_)) => {
            // `None` when the product was deleted before the lookup: its delete follows.
            let Some(document) = &change.full_document else {
                return Ok(None);
            };
            let product = product_from_document(document)?;
            let kind = if change.operation_type == OperationType::Insert {
                EventKind::ProductCreated
            } else {
                EventKind::ProductUpdated
            };
            let mut event = DomainEvent::product(kind, &product);
            if let Some(at) = change
                .wall_time
                .and_then(|at| chrono::DateTime::from_timestamp_millis(at.timestamp_millis()))
            {
                event.at = at;
            }
            Some(event)
        }
        _ => None,
    })
}

#[async_trait]
impl CatalogChanges for MongoCatalog {
    #[tracing::instrument(name = "mongo.follow_products", skip_all)]
    async fn follow(&self, log: &dyn EventLog) -> Result<()> {
        let mut previous = log.resume_token(PRODUCT_CHANGES).await?;
        let resume = previous.as_ref().map(from_token).transpose()?;
        let mut stream = self
            .products()
            .watch()
            .full_document(FullDocumentType::UpdateLookup)
            .resume_after(resume)
            .await
            .map_err(from_driver)?;
        tracing::info!(
            resumed = previous.is_some(),
            "following the product change stream"
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
                        PRODUCT_CHANGES,
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
                    tracing::debug!(operation = ?change.operation_type, "change not in the feed")
                }
            }
        }
        Err(Error::Unavailable("mongodb".into()))
    }
}
