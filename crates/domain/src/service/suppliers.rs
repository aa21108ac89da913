//! Supplier use cases.

use crate::error::{Error, Result};
use crate::model::{
    NewSupplier, Page, PageRequest, Product, ProductQuery, Supplier, SupplierId, SupplierInput,
    SupplierPatch,
};
use crate::ports::Stores;

/// A supplier with the catalog entries that name it.
#[derive(Debug, Clone)]
pub struct SupplierView {
    pub supplier: Supplier,
    pub products: Vec<Product>,
    /// Its reviews' rating (seed 003's partner ratings); `None` when it could not be read.
    pub rating: Option<crate::model::RatingSummary>,
}

/// Creates, reads, updates and deletes suppliers.
#[derive(Clone)]
pub struct SupplierService {
    stores: Stores,
}

impl SupplierService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    #[tracing::instrument(name = "suppliers.create", skip_all)]
    pub async fn create(&self, input: SupplierInput) -> Result<Supplier> {
        let NewSupplier(supplier) = NewSupplier::parse(input)?;
        self.stores.suppliers.insert(&supplier).await?;
        Ok(supplier)
    }

    #[tracing::instrument(name = "suppliers.get", skip(self))]
    pub async fn get(&self, id: SupplierId) -> Result<SupplierView> {
        let supplier = self
            .stores
            .suppliers
            .get(id)
            .await?
            .ok_or(Error::NotFound("supplier"))?;
        let query = ProductQuery {
            supplier_id: Some(id),
            page: PageRequest {
                limit: PageRequest::MAX_LIMIT,
                offset: 0,
            },
            ..Default::default()
        };
        let products = self.stores.catalog.list(&query).await?.items;
        let subject = crate::model::ReviewSubject::Supplier(id);
        let rating = match self.stores.reviews.summaries(&[subject]).await {
            Ok(found) => Some(found.into_iter().map(|(_, r)| r).next().unwrap_or_default()),
            Err(e @ Error::Unavailable(_)) => {
                tracing::warn!(error = %e, "serving the supplier without its rating");
                None
            }
            Err(e) => return Err(e),
        };
        Ok(SupplierView {
            supplier,
            products,
            rating,
        })
    }

    pub async fn list(&self, page: PageRequest) -> Result<Page<Supplier>> {
        self.stores.suppliers.list(page).await
    }

    #[tracing::instrument(name = "suppliers.update", skip(self, input))]
    pub async fn update(&self, id: SupplierId, input: SupplierInput) -> Result<Supplier> {
        let patch = SupplierPatch::parse(input)?;
        let current = self
            .stores
            .suppliers
            .get(id)
            .await?
            .ok_or(Error::NotFound("supplier"))?;
        let updated = patch.apply_to(&current);
        self.stores.suppliers.replace(&updated).await?;
        Ok(updated)
    }

    /// Refuses with `Conflict` while products still reference the supplier.
    #[tracing::instrument(name = "suppliers.delete", skip(self))]
    pub async fn delete(&self, id: SupplierId) -> Result<()> {
        if self.stores.suppliers.get(id).await?.is_none() {
            return Err(Error::NotFound("supplier"));
        }
        let referencing = self.stores.catalog.count_by_supplier(id).await?;
        if referencing > 0 {
            return Err(Error::Conflict(format!(
                "{referencing} product(s) still reference this supplier"
            )));
        }
        if !self.stores.suppliers.delete(id).await? {
            return Err(Error::NotFound("supplier"));
        }
        Ok(())
    }
}
