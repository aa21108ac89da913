//! What a pass reports: each finding, what became of it, and the counts over them. This is
//! the output of `emporium reconcile`, so its serialized form is a contract.

use crate::model::{OrderId, ProductId, Sku, Timestamp};
use serde::Serialize;

/// Whether a pass only looks or also repairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Check,
    Fix,
}

/// The kinds of inconsistency a pass looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A catalog product whose SKU has no stock record: it shows as out of stock and can
    /// never be ordered.
    CatalogWithoutStock,
    /// A stock record whose product is not in the catalog.
    StockWithoutCatalog,
    /// A catalog product and the stock record of its SKU name different products.
    StockProductMismatch,
    /// A record reserves more units than pending orders hold: the surplus can never be
    /// sold, because no order will release it.
    LeakedReservation,
    /// Pending orders hold more units than the record reserves: their confirmation can
    /// sell units that are also sold to someone else.
    MissingReservation,
    /// A `confirmed`, `shipped` or `delivered` order without an `authorized` payment.
    SaleWithoutPayment,
    /// A `failed` or `cancelled` order whose payment is still `authorized`: the customer's
    /// money is held for nothing.
    AuthorizedPaymentOnClosedOrder,
    /// A `pending` order that already has a payment record and no saga working on it.
    PendingOrderWithPayment,
    /// A stock record whose warehouse rows (ADR 0022) do not add up to it.
    WarehouseSplitMismatch,
}

/// What became of a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Resolution {
    /// Found by a check; `fix` would do `action`.
    Repairable { action: String },
    /// `fix` did `action`.
    Repaired { action: String },
    /// Not safe to repair by program: `reason` says why and what to look at.
    NeedsHuman { reason: String },
    /// Owned by a saga still in flight, or by recovery: `reason` names which. Not counted
    /// as remaining: it settles without anyone acting.
    Deferred { reason: String },
    /// `fix` tried `action` and the store refused or was down; the next pass tries again.
    RepairFailed { action: String, error: String },
}

impl Resolution {
    /// True when someone (or the next `fix`) still has to act.
    pub fn remains(&self) -> bool {
        !matches!(
            self,
            Resolution::Repaired { .. } | Resolution::Deferred { .. }
        )
    }
}

/// One inconsistency: what was expected, what was found, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    pub expected: String,
    pub actual: String,
    pub resolution: Resolution,
}

/// How much a pass read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Scanned {
    /// Catalog products.
    pub products: u64,
    /// Stock records.
    pub stock_records: u64,
    /// SKUs that pending orders hold units of.
    pub pending_skus: u64,
    /// Orders whose payment disagreed with their status when scanned.
    pub payment_candidates: u64,
}

/// Counts over [`ReconciliationReport::findings`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub findings: usize,
    pub repaired: usize,
    pub deferred: usize,
    /// Findings someone still has to act on ([`Resolution::remains`]).
    pub remaining: usize,
}

/// The outcome of one pass, serialized as the `emporium reconcile` output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconciliationReport {
    pub mode: Mode,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub scanned: Scanned,
    /// True when the pass stopped collecting at its limit of findings: there are more.
    pub truncated: bool,
    pub summary: Summary,
    pub findings: Vec<Finding>,
}

impl ReconciliationReport {
    /// Nothing remains to be done by anyone: every finding was repaired or is deferred to
    /// a saga or recovery, and none were left uncollected.
    pub fn is_clean(&self) -> bool {
        !self.truncated && self.summary.remaining == 0
    }

    /// The findings someone still has to act on.
    pub fn remaining(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.resolution.remains())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_repaired_and_deferred_findings_are_settled() {
        let text = || "x".to_owned();
        assert!(!Resolution::Repaired { action: text() }.remains());
        assert!(!Resolution::Deferred { reason: text() }.remains());
        assert!(Resolution::Repairable { action: text() }.remains());
        assert!(Resolution::NeedsHuman { reason: text() }.remains());
        assert!(Resolution::RepairFailed {
            action: text(),
            error: text()
        }
        .remains());
    }

    #[test]
    fn findings_serialize_with_their_resolution_tagged() {
        let finding = Finding {
            kind: FindingKind::LeakedReservation,
            sku: Some(Sku::parse("LAP-001").unwrap()),
            product_id: None,
            order_id: None,
            expected: "reserved 0 (the units pending orders hold)".into(),
            actual: "reserved 3".into(),
            resolution: Resolution::Repaired {
                action: "released 3 leaked units (reserved 3 -> 0)".into(),
            },
        };
        let json = serde_json::to_value(&finding).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "leaked_reservation",
                "sku": "LAP-001",
                "expected": "reserved 0 (the units pending orders hold)",
                "actual": "reserved 3",
                "resolution": {
                    "status": "repaired",
                    "action": "released 3 leaked units (reserved 3 -> 0)"
                }
            })
        );
    }
}
