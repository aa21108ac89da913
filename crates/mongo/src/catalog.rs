//! The [`Catalog`] port on the `products` collection.

use crate::codec::{product_from_document, product_to_document, uuid_from_bson, uuid_to_bson};
use crate::error::{duplicate_key_index, from_driver, from_write, malformed};
use crate::query::{product_filter, product_sort};
use crate::MongoCatalog;
use async_trait::async_trait;
use emporium_domain::model::{
    Page, PageRequest, Product, ProductId, ProductQuery, Sku, SupplierId, Units,
};
use emporium_domain::ports::Catalog;
use emporium_domain::{Error, Result};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Cursor;

fn by_id(id: ProductId) -> Document {
    doc! { "_id": uuid_to_bson(id.as_uuid()) }
}

/// The `Conflict` text for a duplicate key on insert: the unique `sku` index in practice,
/// or the `_id` index when the very same product is inserted twice.
fn duplicate_message(product: &Product, e: &mongodb::error::Error) -> String {
    if duplicate_key_index(e).as_deref() == Some("_id_") {
        format!("product {} already exists", product.id)
    } else {
        format!("sku {} already exists", product.sku)
    }
}

async fn collect_products(cursor: Cursor<Document>) -> Result<Vec<Product>> {
    let docs: Vec<Document> = cursor.try_collect().await.map_err(from_driver)?;
    docs.iter().map(product_from_document).collect()
}

/// Only `_id` and `sku`: a reconciliation scan reads every product, and the rest of each
/// document (descriptions, attributes, variants) would multiply what it moves.
fn id_and_sku() -> Document {
    doc! { "_id": 1, "sku": 1 }
}

/// `(product, SKU)` pairs from documents projected with [`id_and_sku`].
async fn collect_skus(cursor: Cursor<Document>) -> Result<Vec<(ProductId, Sku)>> {
    let docs: Vec<Document> = cursor.try_collect().await.map_err(from_driver)?;
    docs.iter()
        .map(|d| {
            let id = d
                .get("_id")
                .and_then(uuid_from_bson)
                .ok_or_else(|| malformed("product", "`_id` is not a UUID"))?;
            let sku = d
                .get_str("sku")
                .map_err(|e| malformed("product", format!("`sku`: {e}")))
                .and_then(|s| {
                    Sku::parse(s).map_err(|e| malformed("product", format!("`sku`: {e}")))
                })?;
            Ok((ProductId::from_uuid(id), sku))
        })
        .collect()
}

fn empty_page(page: PageRequest) -> Page<Product> {
    Page {
        items: Vec::new(),
        total: 0,
        limit: page.limit,
        offset: page.offset,
    }
}

#[async_trait]
impl Catalog for MongoCatalog {
    /// One `insert_one`: the unique `sku` index refuses a second product with the same SKU
    /// atomically, so nothing is written then.
    #[tracing::instrument(name = "mongo.catalog.insert", skip_all, fields(id = %product.id))]
    async fn insert(&self, product: &Product) -> Result<()> {
        let document = product_to_document(product)?;
        self.products()
            .insert_one(document)
            .await
            .map(drop)
            .map_err(|e| from_write(e, |e| duplicate_message(product, e)))
    }

    #[tracing::instrument(name = "mongo.catalog.get", skip_all, fields(%id))]
    async fn get(&self, id: ProductId) -> Result<Option<Product>> {
        let found = self
            .products()
            .find_one(by_id(id))
            .await
            .map_err(from_driver)?;
        found.as_ref().map(product_from_document).transpose()
    }

    #[tracing::instrument(name = "mongo.catalog.get_many", skip_all, fields(count = ids.len()))]
    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Bson> = ids.iter().map(|id| uuid_to_bson(id.as_uuid())).collect();
        let cursor = self
            .products()
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(from_driver)?;
        collect_products(cursor).await
    }

    /// `replace_one` by `_id`; no upsert, so a missing product stays missing.
    #[tracing::instrument(name = "mongo.catalog.replace", skip_all, fields(id = %product.id))]
    async fn replace(&self, product: &Product) -> Result<()> {
        let document = product_to_document(product)?;
        let result = self
            .products()
            .replace_one(by_id(product.id), document)
            .await
            .map_err(|e| from_write(e, |_| format!("sku {} already exists", product.sku)))?;
        if result.matched_count == 0 {
            return Err(Error::NotFound("product"));
        }
        Ok(())
    }

    /// `findOneAndDelete`, so the product returned is exactly the one removed.
    #[tracing::instrument(name = "mongo.catalog.delete", skip_all, fields(%id))]
    async fn delete(&self, id: ProductId) -> Result<Option<Product>> {
        let removed = self
            .products()
            .find_one_and_delete(by_id(id))
            .await
            .map_err(from_driver)?;
        removed.as_ref().map(product_from_document).transpose()
    }

    /// The page and the total are two commands run concurrently with the same filter.
    /// Not one `$facet`: a facet returns the whole page as one document, which a page of
    /// large products (long descriptions, many variants) could push past MongoDB's 16 MiB
    /// document limit.
    #[tracing::instrument(name = "mongo.catalog.list", skip_all)]
    async fn list(&self, query: &ProductQuery) -> Result<Page<Product>> {
        let page = query.page;
        let Some(filter) = product_filter(query, self.effective_search_mode())? else {
            return Ok(empty_page(page));
        };
        crate::find_page(
            &self.products(),
            filter,
            product_sort(query.sort),
            page,
            product_from_document,
        )
        .await
    }

    /// Served by the `supplier_id` index.
    #[tracing::instrument(name = "mongo.catalog.count_by_supplier", skip_all, fields(%supplier))]
    async fn count_by_supplier(&self, supplier: SupplierId) -> Result<u64> {
        self.products()
            .count_documents(doc! { "supplier_id": uuid_to_bson(supplier.as_uuid()) })
            .await
            .map_err(from_driver)
    }

    /// One `$group` over the `supplier_id` index's matches.
    #[tracing::instrument(name = "mongo.catalog.count_by_suppliers", skip_all)]
    async fn count_by_suppliers(&self, suppliers: &[SupplierId]) -> Result<Vec<(SupplierId, u64)>> {
        if suppliers.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Bson> = suppliers
            .iter()
            .map(|s| uuid_to_bson(s.as_uuid()))
            .collect();
        let pipeline = vec![
            doc! { "$match": { "supplier_id": { "$in": ids } } },
            doc! { "$group": { "_id": "$supplier_id", "products": { "$sum": 1 } } },
        ];
        let groups: Vec<Document> = self
            .products()
            .aggregate(pipeline)
            .await
            .map_err(from_driver)?
            .try_collect()
            .await
            .map_err(from_driver)?;
        groups
            .iter()
            .map(|g| {
                let id = g.get("_id").and_then(uuid_from_bson).ok_or_else(|| {
                    Error::Internal("a supplier group without a supplier id".into())
                })?;
                let n = match g.get("products") {
                    Some(Bson::Int32(n)) => i64::from(*n),
                    Some(Bson::Int64(n)) => *n,
                    _ => return Err(Error::Internal("a supplier group without a count".into())),
                };
                Ok((SupplierId::from_uuid(id), u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    /// The last entry of the `low_stock_threshold` index.
    #[tracing::instrument(name = "mongo.catalog.max_low_stock_threshold", skip_all)]
    async fn max_low_stock_threshold(&self) -> Result<Units> {
        let top = self
            .products()
            .find_one(doc! {})
            .sort(doc! { "low_stock_threshold": -1 })
            .projection(doc! { "low_stock_threshold": 1 })
            .await
            .map_err(from_driver)?;
        let Some(top) = top else {
            return Ok(Units::ZERO);
        };
        let n = match top.get("low_stock_threshold") {
            Some(Bson::Int32(n)) => i64::from(*n),
            Some(Bson::Int64(n)) => *n,
            _ => 0,
        };
        Units::try_from(n).map_err(Error::Internal)
    }

    /// Served by the unique `sku` index in both directions: `$gt` on the cursor and the
    /// sort, so a page costs `limit` index entries however large the catalog. Strings
    /// compare by their bytes (MongoDB's default, binary collation).
    #[tracing::instrument(name = "mongo.catalog.skus", skip_all, fields(limit = limit))]
    async fn skus(&self, after: Option<&Sku>, limit: u32) -> Result<Vec<(ProductId, Sku)>> {
        if limit == 0 {
            // The driver reads a limit of 0 as "no limit".
            return Ok(Vec::new());
        }
        let filter = match after {
            Some(sku) => doc! { "sku": { "$gt": sku.as_str() } },
            None => doc! {},
        };
        let cursor = self
            .products()
            .find(filter)
            .sort(doc! { "sku": 1 })
            .limit(i64::from(limit))
            .projection(id_and_sku())
            .await
            .map_err(from_driver)?;
        collect_skus(cursor).await
    }

    #[tracing::instrument(name = "mongo.catalog.skus_of", skip_all, fields(count = ids.len()))]
    async fn skus_of(&self, ids: &[ProductId]) -> Result<Vec<(ProductId, Sku)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Bson> = ids.iter().map(|id| uuid_to_bson(id.as_uuid())).collect();
        let cursor = self
            .products()
            .find(doc! { "_id": { "$in": ids } })
            .projection(id_and_sku())
            .await
            .map_err(from_driver)?;
        collect_skus(cursor).await
    }

    /// The `ping` command: answers only when a server does.
    #[tracing::instrument(name = "mongo.catalog.ping", skip_all)]
    async fn ping(&self) -> Result<()> {
        self.run_ping().await
    }
}
