//! The [`Carts`] port on the `carts` collection (ADR 0019): one document per cart, a TTL
//! index on `expires_at` so MongoDB removes abandoned carts on its own, and a version on
//! every document so each write is a compare-and-set. The TTL monitor runs about once a
//! minute, so reads filter on `expires_at` too, and the purge job removes what it has not
//! reached yet.

use crate::codec::{cart_from_document, cart_to_document, time_to_bson, uuid_to_bson};
use crate::error::{from_driver, from_write};
use crate::MongoCatalog;
use async_trait::async_trait;
use emporium_domain::model::{Cart, CartId, Timestamp};
use emporium_domain::ports::Carts;
use emporium_domain::Result;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;

/// The collection of carts.
pub const CARTS: &str = "carts";

impl MongoCatalog {
    fn carts(&self) -> Collection<Document> {
        self.database().collection(CARTS)
    }
}

#[async_trait]
impl Carts for MongoCatalog {
    #[tracing::instrument(name = "mongo.carts.insert", skip_all, fields(id = %cart.id))]
    async fn insert(&self, cart: &Cart) -> Result<()> {
        self.carts()
            .insert_one(cart_to_document(cart)?)
            .await
            .map(drop)
            .map_err(|e| from_write(e, |_| format!("cart {} already exists", cart.id)))
    }

    #[tracing::instrument(name = "mongo.carts.get", skip_all, fields(%id))]
    async fn get(&self, id: CartId, at: Timestamp) -> Result<Option<Cart>> {
        self.carts()
            .find_one(
                doc! {"_id": uuid_to_bson(id.as_uuid()), "expires_at": {"$gt": time_to_bson(at)}},
            )
            .await
            .map_err(from_driver)?
            .as_ref()
            .map(cart_from_document)
            .transpose()
    }

    #[tracing::instrument(name = "mongo.carts.replace", skip_all, fields(id = %cart.id, version = cart.version))]
    async fn replace(&self, cart: &Cart, at: Timestamp) -> Result<bool> {
        let read = i64::try_from(cart.version.saturating_sub(1)).unwrap_or(i64::MAX);
        let replaced = self
            .carts()
            .replace_one(
                doc! {
                    "_id": uuid_to_bson(cart.id.as_uuid()),
                    "version": read,
                    "expires_at": {"$gt": time_to_bson(at)},
                },
                cart_to_document(cart)?,
            )
            .await
            .map_err(from_driver)?;
        Ok(replaced.matched_count == 1)
    }

    #[tracing::instrument(name = "mongo.carts.delete", skip_all, fields(%id))]
    async fn delete(&self, id: CartId) -> Result<bool> {
        let deleted = self
            .carts()
            .delete_one(doc! {"_id": uuid_to_bson(id.as_uuid())})
            .await
            .map_err(from_driver)?;
        Ok(deleted.deleted_count == 1)
    }

    #[tracing::instrument(name = "mongo.carts.purge_expired", skip_all)]
    async fn purge_expired(&self, at: Timestamp, limit: u32) -> Result<u64> {
        let expired = doc! {"expires_at": {"$lte": time_to_bson(at)}};
        let ids: Vec<Bson> = self
            .carts()
            .find(expired.clone())
            .projection(doc! {"_id": 1})
            .limit(i64::from(limit))
            .await
            .map_err(from_driver)?
            .try_collect::<Vec<Document>>()
            .await
            .map_err(from_driver)?
            .into_iter()
            .filter_map(|d| d.get("_id").cloned())
            .collect();
        if ids.is_empty() {
            return Ok(0);
        }
        // The expiry is checked again: a cart touched since the find stays.
        let mut filter = expired;
        filter.insert("_id", doc! {"$in": ids});
        let deleted = self
            .carts()
            .delete_many(filter)
            .await
            .map_err(from_driver)?;
        Ok(deleted.deleted_count)
    }
}
