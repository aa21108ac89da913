//! The product-creation saga, declared once.
//!
//! | step | role | log | compensation |
//! |---|---|---|---|
//! | `create_catalog_entry` | compensatable | probed: is it in the catalog? | delete it |
//! | `init_stock` | pivot | probed: has its SKU a stock record of this product? | — |
//!
//! The catalog (MongoDB) and the stock record (PostgreSQL) are two stores: a product whose
//! stock record never appeared is removed from the catalog again (the client never got its
//! 201).

use crate::error::{Error, Result};
use crate::model::{Product, ProductId, SagaKind, Sku, StockLevel, Units};
use crate::ports::Stores;
use crate::saga::{Commit, Role, SagaDefinition, StepContext, StepName, StepSpec};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    CreateCatalogEntry,
    InitStock,
}

impl StepName for Step {
    fn name(self) -> &'static str {
        match self {
            Step::CreateCatalogEntry => "create_catalog_entry",
            Step::InitStock => "init_stock",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    pub sku: Sku,
    pub stock: u32,
}

pub struct CreateProduct<'a> {
    stores: &'a Stores,
    id: ProductId,
    /// Live run only: the entry to insert.
    product: Option<&'a Product>,
    /// The stock record `init_stock` created (live run).
    pub stock: Option<StockLevel>,
}

impl<'a> CreateProduct<'a> {
    pub fn new(stores: &'a Stores, product: &'a Product) -> Self {
        CreateProduct {
            stores,
            id: product.id,
            product: Some(product),
            stock: None,
        }
    }

    pub fn recovering(stores: &'a Stores, id: ProductId) -> Self {
        CreateProduct {
            stores,
            id,
            product: None,
            stock: None,
        }
    }
}

#[async_trait]
impl SagaDefinition for CreateProduct<'_> {
    const KIND: SagaKind = SagaKind::CreateProduct;
    type Step = Step;
    type Payload = Payload;
    const STEPS: &'static [StepSpec<Step>] = &[
        StepSpec {
            step: Step::CreateCatalogEntry,
            role: Role::Compensatable,
            commit: Commit::Probed,
            compensable: true,
        },
        StepSpec {
            step: Step::InitStock,
            role: Role::Pivot,
            commit: Commit::Probed,
            compensable: false,
        },
    ];

    async fn run(&mut self, step: Step, cx: &mut StepContext<'_, Payload>) -> Result<()> {
        match step {
            Step::CreateCatalogEntry => {
                let product = self.product.ok_or_else(|| {
                    Error::Internal("create_product runs its first step live only".into())
                })?;
                self.stores.catalog.insert(product).await
            }
            Step::InitStock => {
                let units = Units::new(cx.payload.stock).map_err(|e| {
                    Error::Internal(format!("saga payload holds a bad stock figure: {e}"))
                })?;
                let level = self
                    .stores
                    .inventory
                    .create_stock(&cx.payload.sku, self.id, units)
                    .await
                    .map_err(|e| match e {
                        Error::Conflict(_) => Error::Conflict(format!(
                            "sku {} already has a stock record",
                            cx.payload.sku
                        )),
                        other => other,
                    })?;
                self.stock = Some(level);
                Ok(())
            }
        }
    }

    async fn compensate(&mut self, step: Step, _cx: &mut StepContext<'_, Payload>) -> Result<()> {
        match step {
            Step::CreateCatalogEntry => self.stores.catalog.delete(self.id).await.map(|_| ()),
            Step::InitStock => Ok(()),
        }
    }

    async fn probe(&mut self, step: Step, cx: &mut StepContext<'_, Payload>) -> Result<bool> {
        Ok(match step {
            Step::CreateCatalogEntry => self.stores.catalog.get(self.id).await?.is_some(),
            Step::InitStock => self
                .stores
                .inventory
                .stock(&cx.payload.sku)
                .await?
                .is_some_and(|level| level.product_id == self.id),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn declaration_has_one_pivot() {
        crate::saga::assert_well_formed::<super::CreateProduct<'_>>();
    }
}
