//! Step 1 of a pass: reads only, a page at a time, collecting *candidates*: states that
//! may be inconsistent, or may only be passing, until they are re-read.

use super::{ReconciliationService, Scanned};
use crate::error::{Error, Result};
use crate::model::{OrderId, ProductId, Sku, StockLevel};
use crate::ports::payment_agrees;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Display;

/// What the scan saw; each is re-read before it becomes a [`Finding`](super::Finding).
#[derive(Debug, Clone)]
pub(super) enum Candidate {
    /// A reservation that disagreed with the pending orders' lines.
    Reservation { sku: Sku },
    /// A stock record whose product was not in the catalog.
    OrphanStock { level: StockLevel },
    /// A catalog product whose SKU had no stock record.
    MissingStock { product: ProductId, sku: Sku },
    /// The catalog and the inventory disagree on which product a SKU belongs to.
    ProductMismatch {
        sku: Sku,
        stock_product: ProductId,
        catalog_product: ProductId,
        expected: String,
        actual: String,
    },
    /// An order whose payment disagreed with its status.
    Payment { order: OrderId },
    /// A stock record whose warehouse rows did not add up to it.
    WarehouseSplit {
        mismatch: crate::model::WarehouseMismatch,
    },
}

impl Candidate {
    /// Settling order: reservations first, so a leaked reservation on a record without a
    /// product is released before the record's removal is considered in the same pass.
    pub(super) fn rank(&self) -> u8 {
        match self {
            Candidate::Reservation { .. } => 0,
            Candidate::OrphanStock { .. } => 1,
            Candidate::MissingStock { .. } => 2,
            Candidate::ProductMismatch { .. } => 3,
            Candidate::Payment { .. } => 4,
            // Last: the repairs above may move the record's figures first.
            Candidate::WarehouseSplit { .. } => 5,
        }
    }
}

/// Candidates collected so far, up to a limit.
pub(super) struct Scan {
    pub(super) candidates: Vec<Candidate>,
    pub(super) scanned: Scanned,
    max: usize,
    pub(super) truncated: bool,
    /// SKUs already named in a mismatch (both sides of the scan can see the same one).
    mismatched: HashSet<Sku>,
}

impl Scan {
    pub(super) fn new(max: usize) -> Scan {
        Scan {
            candidates: Vec::new(),
            scanned: Scanned::default(),
            max,
            truncated: false,
            mismatched: HashSet::new(),
        }
    }

    pub(super) fn push(&mut self, candidate: Candidate) {
        if let Candidate::ProductMismatch { sku, .. } = &candidate {
            if !self.mismatched.insert(sku.clone()) {
                return;
            }
        }
        if self.candidates.len() >= self.max {
            self.truncated = true;
            return;
        }
        self.candidates.push(candidate);
    }
}

impl ReconciliationService {
    /// Every catalog SKU, looked up in the inventory a page at a time.
    pub(super) async fn scan_catalog(&self, scan: &mut Scan) -> Result<()> {
        let mut after: Option<Sku> = None;
        loop {
            let page = self.stores.catalog.skus(after.as_ref(), self.batch).await?;
            let Some((_, last)) = page.last() else {
                return Ok(());
            };
            let next = moved_past(after.as_ref(), last, "Catalog::skus")?;
            scan.scanned.products += page.len() as u64;
            let skus: Vec<Sku> = page.iter().map(|(_, sku)| sku.clone()).collect();
            let levels = self.stores.inventory.stock_many(&skus).await?;
            let levels: HashMap<&Sku, &StockLevel> = levels.iter().map(|l| (&l.sku, l)).collect();
            for (product, sku) in &page {
                match levels.get(sku) {
                    None => scan.push(Candidate::MissingStock {
                        product: *product,
                        sku: sku.clone(),
                    }),
                    Some(level) if level.product_id != *product => {
                        scan.push(Candidate::ProductMismatch {
                            sku: sku.clone(),
                            stock_product: level.product_id,
                            catalog_product: *product,
                            expected: format!(
                                "the stock record of SKU {sku} is product {product}'s"
                            ),
                            actual: format!("it belongs to product {}", level.product_id),
                        })
                    }
                    Some(_) => {}
                }
            }
            if scan.truncated {
                return Ok(());
            }
            after = Some(next);
        }
    }

    /// Every stock record: its product looked up in the catalog a page at a time, its
    /// `reserved` compared with what pending orders hold.
    pub(super) async fn scan_inventory(&self, scan: &mut Scan) -> Result<()> {
        let held: BTreeMap<Sku, u64> = self
            .stores
            .audit
            .reserved_by_pending()
            .await?
            .into_iter()
            .collect();
        scan.scanned.pending_skus = held.len() as u64;
        let mut after: Option<Sku> = None;
        loop {
            let page = self
                .stores
                .inventory
                .levels(after.as_ref(), self.batch)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            let next = moved_past(after.as_ref(), &last.sku, "Inventory::levels")?;
            scan.scanned.stock_records += page.len() as u64;
            let ids: Vec<ProductId> = page.iter().map(|l| l.product_id).collect();
            let known: HashMap<ProductId, Sku> = self
                .stores
                .catalog
                .skus_of(&ids)
                .await?
                .into_iter()
                .collect();
            for level in page {
                if u64::from(level.reserved) != held.get(&level.sku).copied().unwrap_or(0) {
                    scan.push(Candidate::Reservation {
                        sku: level.sku.clone(),
                    });
                }
                match known.get(&level.product_id) {
                    None => scan.push(Candidate::OrphanStock { level }),
                    Some(sku) if *sku != level.sku => scan.push(Candidate::ProductMismatch {
                        sku: level.sku.clone(),
                        stock_product: level.product_id,
                        catalog_product: level.product_id,
                        expected: format!(
                            "product {} has SKU {} in the catalog",
                            level.product_id, level.sku
                        ),
                        actual: format!("the catalog gives it SKU {sku}"),
                    }),
                    Some(_) => {}
                }
            }
            if scan.truncated {
                return Ok(());
            }
            after = Some(next);
        }
    }

    /// Orders whose payment disagrees with their status, a page at a time.
    pub(super) async fn scan_payments(&self, scan: &mut Scan) -> Result<()> {
        let mut after: Option<OrderId> = None;
        loop {
            let page = self
                .stores
                .audit
                .payment_mismatches(after, self.batch)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            let next = moved_past(after.as_ref(), &last.id, "LedgerAudit::payment_mismatches")?;
            for order in page {
                let paid = order.payment.as_ref().map(|p| p.status);
                if !payment_agrees(order.status, paid) {
                    scan.scanned.payment_candidates += 1;
                    scan.push(Candidate::Payment { order: order.id });
                }
            }
            if scan.truncated {
                return Ok(());
            }
            after = Some(next);
        }
    }
}

/// The cursor for the next page, refusing a page that did not move past `after`: an
/// adapter that ignored `after` would otherwise make the scan loop forever.
pub(super) fn moved_past<K: Clone + PartialEq + Display>(
    after: Option<&K>,
    last: &K,
    method: &str,
) -> Result<K> {
    if after == Some(last) {
        return Err(Error::Internal(format!(
            "{method} returned a page ending at its cursor {last}: the scan would not advance"
        )));
    }
    Ok(last.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_that_does_not_advance_is_refused() {
        let a = Sku::parse("A").unwrap();
        assert_eq!(moved_past(None, &a, "m").unwrap(), a);
        assert!(matches!(
            moved_past(Some(&a), &a, "m"),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn candidates_beyond_the_limit_truncate_the_scan() {
        let mut scan = Scan::new(1);
        let sku = |s: &str| Sku::parse(s).unwrap();
        scan.push(Candidate::Reservation { sku: sku("A") });
        scan.push(Candidate::Reservation { sku: sku("B") });
        assert_eq!(scan.candidates.len(), 1);
        assert!(scan.truncated);

        let mut scan = Scan::new(10);
        for _ in 0..2 {
            scan.push(Candidate::ProductMismatch {
                sku: sku("C"),
                stock_product: ProductId::new(),
                catalog_product: ProductId::new(),
                expected: String::new(),
                actual: String::new(),
            });
        }
        assert_eq!(scan.candidates.len(), 1, "one SKU, one mismatch");
    }
}
