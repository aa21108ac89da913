//! The product-deletion saga, declared once.
//!
//! | step | role | log | compensation |
//! |---|---|---|---|
//! | `remove_catalog_entry` | pivot | probed: is it gone from the catalog? | — |
//! | `remove_stock` | retriable | probed | — |
//!
//! Once the entry is gone no new order can take the product; its stock record goes next,
//! retried until it is gone. Orders keep their own snapshot of what they bought.

use crate::error::{Error, Result};
use crate::model::{ProductId, SagaKind, Sku};
use crate::ports::Stores;
use crate::saga::{Commit, Role, SagaDefinition, StepContext, StepName, StepSpec};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    RemoveCatalogEntry,
    RemoveStock,
}

impl StepName for Step {
    fn name(self) -> &'static str {
        match self {
            Step::RemoveCatalogEntry => "remove_catalog_entry",
            Step::RemoveStock => "remove_stock",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    pub sku: Sku,
}

pub struct DeleteProduct<'a> {
    stores: &'a Stores,
    id: ProductId,
}

impl<'a> DeleteProduct<'a> {
    pub fn new(stores: &'a Stores, id: ProductId) -> Self {
        DeleteProduct { stores, id }
    }
}

#[async_trait]
impl SagaDefinition for DeleteProduct<'_> {
    const KIND: SagaKind = SagaKind::DeleteProduct;
    type Step = Step;
    type Payload = Payload;
    const STEPS: &'static [StepSpec<Step>] = &[
        StepSpec {
            step: Step::RemoveCatalogEntry,
            role: Role::Pivot,
            commit: Commit::Probed,
            compensable: false,
        },
        StepSpec {
            step: Step::RemoveStock,
            role: Role::Retriable,
            commit: Commit::Probed,
            compensable: false,
        },
    ];

    async fn run(&mut self, step: Step, cx: &mut StepContext<'_, Payload>) -> Result<()> {
        match step {
            Step::RemoveCatalogEntry => match self.stores.catalog.delete(self.id).await? {
                Some(_) => Ok(()),
                None => Err(Error::NotFound("product")),
            },
            Step::RemoveStock => {
                // Only this product's record: the SKU may have been taken by a new product.
                match self.stores.inventory.stock(&cx.payload.sku).await? {
                    Some(level) if level.product_id == self.id => {
                        self.stores.inventory.remove_stock(&cx.payload.sku).await?;
                    }
                    _ => {}
                }
                Ok(())
            }
        }
    }

    async fn compensate(&mut self, step: Step, _cx: &mut StepContext<'_, Payload>) -> Result<()> {
        Err(Error::Internal(format!(
            "delete_product declares no compensation, yet {step:?} was compensated"
        )))
    }

    async fn probe(&mut self, step: Step, _cx: &mut StepContext<'_, Payload>) -> Result<bool> {
        Ok(match step {
            Step::RemoveCatalogEntry => self.stores.catalog.get(self.id).await?.is_none(),
            Step::RemoveStock => false,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn declaration_has_one_pivot() {
        crate::saga::assert_well_formed::<super::DeleteProduct<'_>>();
    }
}
