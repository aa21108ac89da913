//! The [`Suppliers`] port on the `suppliers` collection.

use crate::codec::{supplier_from_document, supplier_to_document, uuid_to_bson};
use crate::error::{from_driver, from_write};
use crate::MongoCatalog;
use async_trait::async_trait;
use emporium_domain::model::{Page, PageRequest, Supplier, SupplierId};
use emporium_domain::ports::Suppliers;
use emporium_domain::{Error, Result};
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};

fn by_id(id: SupplierId) -> Document {
    doc! { "_id": uuid_to_bson(id.as_uuid()) }
}

#[async_trait]
impl Suppliers for MongoCatalog {
    /// A second insert of the same id is a `Conflict` (the `_id` index refuses it).
    #[tracing::instrument(name = "mongo.suppliers.insert", skip_all, fields(id = %supplier.id))]
    async fn insert(&self, supplier: &Supplier) -> Result<()> {
        self.suppliers()
            .insert_one(supplier_to_document(supplier))
            .await
            .map(drop)
            .map_err(|e| from_write(e, |_| format!("supplier {} already exists", supplier.id)))
    }

    #[tracing::instrument(name = "mongo.suppliers.get", skip_all, fields(%id))]
    async fn get(&self, id: SupplierId) -> Result<Option<Supplier>> {
        let found = self
            .suppliers()
            .find_one(by_id(id))
            .await
            .map_err(from_driver)?;
        found.as_ref().map(supplier_from_document).transpose()
    }

    /// One `$in` on `_id`.
    #[tracing::instrument(name = "mongo.suppliers.get_many", skip_all)]
    async fn get_many(&self, ids: &[SupplierId]) -> Result<Vec<Supplier>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<mongodb::bson::Bson> =
            ids.iter().map(|id| uuid_to_bson(id.as_uuid())).collect();
        let found: Vec<Document> = self
            .suppliers()
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(from_driver)?
            .try_collect()
            .await
            .map_err(from_driver)?;
        found.iter().map(supplier_from_document).collect()
    }

    /// Oldest first, ties by id, on the `(created_at, _id)` index; the total is counted
    /// concurrently.
    #[tracing::instrument(name = "mongo.suppliers.list", skip_all)]
    async fn list(&self, page: PageRequest) -> Result<Page<Supplier>> {
        crate::find_page(
            &self.suppliers(),
            Document::new(),
            doc! { "created_at": 1, "_id": 1 },
            page,
            supplier_from_document,
        )
        .await
    }

    #[tracing::instrument(name = "mongo.suppliers.replace", skip_all, fields(id = %supplier.id))]
    async fn replace(&self, supplier: &Supplier) -> Result<()> {
        let result = self
            .suppliers()
            .replace_one(by_id(supplier.id), supplier_to_document(supplier))
            .await
            .map_err(from_driver)?;
        if result.matched_count == 0 {
            return Err(Error::NotFound("supplier"));
        }
        Ok(())
    }

    #[tracing::instrument(name = "mongo.suppliers.delete", skip_all, fields(%id))]
    async fn delete(&self, id: SupplierId) -> Result<bool> {
        let result = self
            .suppliers()
            .delete_one(by_id(id))
            .await
            .map_err(from_driver)?;
        Ok(result.deleted_count > 0)
    }
}
