//! Bulk loading in memory (ADR 0023): the catalog's records through the same checks as
//! single inserts, the ledger's under its one lock (see `ledger.rs`).

use crate::{MemoryCatalog, MemoryCustomers, MemoryReviews};
use async_trait::async_trait;
use emporium_domain::model::{Customer, Product, Review, Supplier};
use emporium_domain::ports::{Catalog, CatalogLoad, Customers, LoadedCounts, Suppliers};
use emporium_domain::Result;
use std::sync::Arc;

/// [`CatalogLoad`] over the memory catalog, customers and reviews.
pub struct MemoryCatalogLoad {
    catalog: Arc<MemoryCatalog>,
    customers: Arc<MemoryCustomers>,
    reviews: Arc<MemoryReviews>,
}

impl MemoryCatalogLoad {
    pub fn new(
        catalog: Arc<MemoryCatalog>,
        customers: Arc<MemoryCustomers>,
        reviews: Arc<MemoryReviews>,
    ) -> Self {
        MemoryCatalogLoad {
            catalog,
            customers,
            reviews,
        }
    }
}

#[async_trait]
impl CatalogLoad for MemoryCatalogLoad {
    async fn load_suppliers(&self, suppliers: &[Supplier]) -> Result<()> {
        for s in suppliers {
            Suppliers::insert(&*self.catalog, s).await?;
        }
        Ok(())
    }

    async fn load_products(&self, products: &[Product]) -> Result<()> {
        for p in products {
            Catalog::insert(&*self.catalog, p).await?;
        }
        Ok(())
    }

    async fn load_customers(&self, customers: &[Customer]) -> Result<()> {
        for c in customers {
            Customers::insert(&*self.customers, c).await?;
        }
        Ok(())
    }

    async fn load_reviews(&self, reviews: &[Review]) -> Result<()> {
        self.reviews.load(reviews)
    }

    async fn loaded(&self) -> Result<LoadedCounts> {
        Ok(LoadedCounts {
            products: self.catalog.product_count(),
            customers: self.customers.count(),
            reviews: self.reviews.count(),
        })
    }
}
