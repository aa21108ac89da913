//! Bulk loading (ADR 0023): one ordered `insert_many` per call, which the driver splits
//! into as few messages as the server's size limits allow. The collections' validators
//! and unique indexes apply as they do to single inserts.

use crate::codec::{product_to_document, review_to_document, supplier_to_document};
use crate::error::{from_driver, from_write};
use crate::MongoCatalog;
use async_trait::async_trait;
use emporium_domain::model::{Customer, Product, Review, Supplier};
use emporium_domain::ports::{CatalogLoad, LoadedCounts};
use emporium_domain::Result;
use mongodb::bson::Document;
use mongodb::Collection;

async fn insert_many(
    collection: Collection<Document>,
    docs: Vec<Document>,
    what: &str,
) -> Result<()> {
    if docs.is_empty() {
        return Ok(());
    }
    collection
        .insert_many(docs)
        .await
        .map(drop)
        .map_err(|e| from_write(e, |_| format!("some of these {what} exist already")))
}

#[async_trait]
impl CatalogLoad for MongoCatalog {
    #[tracing::instrument(name = "mongo.load.suppliers", skip_all, fields(count = suppliers.len()))]
    async fn load_suppliers(&self, suppliers: &[Supplier]) -> Result<()> {
        let docs = suppliers.iter().map(supplier_to_document).collect();
        insert_many(self.suppliers(), docs, "suppliers").await
    }

    #[tracing::instrument(name = "mongo.load.products", skip_all, fields(count = products.len()))]
    async fn load_products(&self, products: &[Product]) -> Result<()> {
        let docs = products
            .iter()
            .map(product_to_document)
            .collect::<Result<Vec<_>>>()?;
        insert_many(self.products(), docs, "products").await
    }

    #[tracing::instrument(name = "mongo.load.customers", skip_all, fields(count = customers.len()))]
    async fn load_customers(&self, customers: &[Customer]) -> Result<()> {
        let docs = customers
            .iter()
            .map(crate::customers::to_document)
            .collect();
        insert_many(self.customers(), docs, "customers").await
    }

    #[tracing::instrument(name = "mongo.load.reviews", skip_all, fields(count = reviews.len()))]
    async fn load_reviews(&self, reviews: &[Review]) -> Result<()> {
        let docs = reviews.iter().map(review_to_document).collect();
        insert_many(self.reviews(), docs, "reviews").await
    }

    #[tracing::instrument(name = "mongo.load.counts", skip_all)]
    async fn loaded(&self) -> Result<LoadedCounts> {
        let count = |c: Collection<Document>| async move {
            c.estimated_document_count().await.map_err(from_driver)
        };
        Ok(LoadedCounts {
            products: count(self.products()).await?,
            customers: count(self.customers()).await?,
            reviews: count(self.reviews()).await?,
        })
    }
}
