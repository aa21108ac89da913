//! Warehouse rows against their stock record (ADR 0022): every writer keeps the sums
//! equal to the record, so a difference comes from outside (a hand-written `UPDATE
//! inventory`, a partial restore). The default warehouse takes up the difference, under
//! the record's lock, with each warehouse's reservations reset from its pending orders.

use super::scan::{moved_past, Candidate, Scan};
use super::{failed, Finding, FindingKind, Mode, ReconciliationService, Resolution};
use crate::error::Result;
use crate::model::{Sku, WarehouseMismatch};

fn finding(m: &WarehouseMismatch, resolution: Resolution) -> Finding {
    Finding {
        kind: FindingKind::WarehouseSplitMismatch,
        sku: Some(m.sku.clone()),
        product_id: Some(m.product_id),
        order_id: None,
        expected: format!(
            "the warehouses hold on_hand {} and reserved {} (the record's)",
            m.total.0, m.total.1
        ),
        actual: format!("they hold on_hand {} and reserved {}", m.split.0, m.split.1),
        resolution,
    }
}

const ACTION: &str = "let the default warehouse take up the difference (reservations from \
                      the pending orders' splits)";

impl ReconciliationService {
    /// Every stock record whose warehouse rows do not add up to it, a page at a time.
    pub(super) async fn scan_warehouses(&self, scan: &mut Scan) -> Result<()> {
        let mut after: Option<Sku> = None;
        loop {
            let page = self
                .stores
                .audit
                .warehouse_mismatches(after.as_ref(), self.batch)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            let next = moved_past(
                after.as_ref(),
                &last.sku,
                "LedgerAudit::warehouse_mismatches",
            )?;
            for mismatch in page {
                scan.push(Candidate::WarehouseSplit { mismatch });
            }
            if scan.truncated {
                return Ok(());
            }
            after = Some(next);
        }
    }

    /// Reported as read by the scan; repaired under the record's lock, reporting the
    /// reading taken there.
    pub(super) async fn settle_warehouse_split(
        &self,
        mismatch: WarehouseMismatch,
        mode: Mode,
    ) -> Result<Option<Finding>> {
        if mode == Mode::Check {
            let resolution = Resolution::Repairable {
                action: ACTION.into(),
            };
            return Ok(Some(finding(&mismatch, resolution)));
        }
        match self.stores.audit.resync_warehouses(&mismatch.sku).await {
            Ok(Some(found)) => Ok(Some(finding(
                &found,
                Resolution::Repaired {
                    action: ACTION.into(),
                },
            ))),
            Ok(None) => Ok(None),
            Err(e) => Ok(Some(finding(&mismatch, failed(ACTION.into(), e)))),
        }
    }
}
