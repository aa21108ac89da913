//! Step 3 for the catalog against the inventory: stock records without a product, products
//! without a stock record, and a SKU the two stores give to different products.

use super::in_flight::InFlight;
use super::{failed, Finding, FindingKind, Mode, ReconciliationService, Resolution};
use crate::error::{Error, Result};
use crate::model::{ProductId, Sku, StockLevel, Units};

impl ReconciliationService {
    pub(super) async fn settle_orphan_stock(
        &self,
        seen: StockLevel,
        mode: Mode,
        in_flight: &InFlight,
    ) -> Result<Option<Finding>> {
        // Re-read: the record may be gone, replaced, or its product back in the catalog.
        let Some(level) = self.stores.inventory.stock(&seen.sku).await? else {
            return Ok(None);
        };
        if level.product_id != seen.product_id
            || !self
                .stores
                .catalog
                .skus_of(&[level.product_id])
                .await?
                .is_empty()
        {
            return Ok(None);
        }
        let finding = |resolution| Finding {
            kind: FindingKind::StockWithoutCatalog,
            sku: Some(level.sku.clone()),
            product_id: Some(level.product_id),
            order_id: None,
            expected: format!("catalog product {} for this stock record", level.product_id),
            actual: format!(
                "no such product; the record has {} on hand, {} reserved",
                level.on_hand, level.reserved
            ),
            resolution,
        };
        if let Some(reason) = in_flight.owner(level.product_id.as_uuid()) {
            return Ok(Some(finding(Resolution::Deferred { reason })));
        }
        if level.reserved > 0 {
            // In fix mode a leaked reservation was released before this (reservations
            // settle first), so units still reserved here are held by pending orders, or
            // their release failed. A check says what fix would do.
            let held = match self.stores.audit.holding(&level.sku).await? {
                Some(holding) => holding.held,
                None => return Ok(None),
            };
            let resolution = if mode == Mode::Check && held == 0 {
                Resolution::Repairable {
                    action: "release the leaked reservation, then remove the stock record".into(),
                }
            } else {
                reserved_orphan(level.reserved)
            };
            return Ok(Some(finding(resolution)));
        }
        let action = "remove the stock record (nothing is reserved)".to_owned();
        let resolution = match mode {
            Mode::Check => Resolution::Repairable { action },
            Mode::Fix => match self.stores.inventory.remove_unreserved(&level.sku).await {
                Ok(Some(_)) => {
                    tracing::info!(
                        sku = %level.sku,
                        product_id = %level.product_id,
                        "removed a stock record without a product"
                    );
                    Resolution::Repaired { action }
                }
                Ok(None) => return Ok(None),
                Err(Error::Conflict(_)) => reserved_orphan(level.reserved.max(1)),
                Err(e) => failed(action, e),
            },
        };
        Ok(Some(finding(resolution)))
    }

    pub(super) async fn settle_missing_stock(
        &self,
        product: ProductId,
        sku: Sku,
        mode: Mode,
        in_flight: &InFlight,
    ) -> Result<Option<Finding>> {
        let finding = |resolution| Finding {
            kind: FindingKind::CatalogWithoutStock,
            sku: Some(sku.clone()),
            product_id: Some(product),
            order_id: None,
            expected: format!("a stock record for SKU {sku}"),
            actual: "none".into(),
            resolution,
        };
        if let Some(reason) = in_flight.owner(product.as_uuid()) {
            return Ok(Some(finding(Resolution::Deferred { reason })));
        }
        // Re-read: the product may be gone, or its stock record created, since the scan.
        // `skus_of`, not `get`: only the store's own answer will do, never a cached copy.
        let still_listed = self
            .stores
            .catalog
            .skus_of(&[product])
            .await?
            .iter()
            .any(|(_, listed)| *listed == sku);
        if !still_listed || self.stores.inventory.stock(&sku).await?.is_some() {
            return Ok(None);
        }
        // Zero, not a guess: the units on the shelf are for a human to count and set; until
        // then the product is listed as out of stock instead of being unorderable.
        let action = "create the stock record with 0 units on hand".to_owned();
        let resolution = match mode {
            Mode::Check => Resolution::Repairable { action },
            Mode::Fix => match self
                .stores
                .inventory
                .create_stock(&sku, product, Units::ZERO)
                .await
            {
                Ok(_) => {
                    tracing::info!(%sku, product_id = %product, "created a missing stock record");
                    Resolution::Repaired { action }
                }
                Err(Error::Conflict(detail)) => {
                    match self.stores.inventory.stock(&sku).await? {
                        // Created meanwhile, by the product's own saga or another pass.
                        Some(level) if level.product_id == product => return Ok(None),
                        _ => Resolution::NeedsHuman {
                            reason: format!(
                                "creating the record was refused ({detail}): another stock \
                                 record already belongs to this product"
                            ),
                        },
                    }
                }
                Err(e) => failed(action, e),
            },
        };
        Ok(Some(finding(resolution)))
    }
}

/// Two products claim one stock record: deferred to a saga working on either product, else
/// for a human.
pub(super) fn settle_product_mismatch(
    sku: Sku,
    stock_product: ProductId,
    catalog_product: ProductId,
    expected: String,
    actual: String,
    in_flight: &InFlight,
) -> Finding {
    let owner = in_flight
        .owner(stock_product.as_uuid())
        .or_else(|| in_flight.owner(catalog_product.as_uuid()));
    let resolution = match owner {
        Some(reason) => Resolution::Deferred { reason },
        None => Resolution::NeedsHuman {
            reason: "two products claim one stock record; which one owns the \
                     counted units is for a human to decide"
                .into(),
        },
    };
    Finding {
        kind: FindingKind::StockProductMismatch,
        sku: Some(sku),
        product_id: Some(stock_product),
        order_id: None,
        expected,
        actual,
        resolution,
    }
}

fn reserved_orphan(reserved: u32) -> Resolution {
    Resolution::NeedsHuman {
        reason: format!(
            "{reserved} units are reserved; removing the record would drop the reservation \
             of the pending orders holding them. Settle or cancel those orders, then run fix \
             again"
        ),
    }
}
