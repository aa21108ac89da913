//! Reconciliation: compares the stores that no single transaction spans (the catalog in
//! MongoDB, the ledger in PostgreSQL, the payment gateway) and repairs what is safe.
//!
//! The sagas keep the stores consistent as long as every process finishes what it starts,
//! and recovery finishes what a crashed process left. Reconciliation is the check behind
//! both: it looks for the states no saga should leave behind, whatever caused them (a bug,
//! a hand-edited row, a restored backup), reports them, and with [`ReconciliationService::fix`]
//! repairs the ones a program can repair without guessing.
//!
//! | finding | repair by `fix` |
//! |---|---|
//! | [`CatalogWithoutStock`](FindingKind::CatalogWithoutStock) | create the stock record with 0 units on hand |
//! | [`StockWithoutCatalog`](FindingKind::StockWithoutCatalog) | remove the record when nothing is reserved, else a human |
//! | [`StockProductMismatch`](FindingKind::StockProductMismatch) | a human |
//! | [`LeakedReservation`](FindingKind::LeakedReservation) | lower `reserved` to what pending orders hold |
//! | [`MissingReservation`](FindingKind::MissingReservation) | a human (units may be sold twice) |
//! | [`SaleWithoutPayment`](FindingKind::SaleWithoutPayment) | record the authorization the gateway holds, else a human |
//! | [`AuthorizedPaymentOnClosedOrder`](FindingKind::AuthorizedPaymentOnClosedOrder) | void it at the gateway, record it voided |
//! | [`PendingOrderWithPayment`](FindingKind::PendingOrderWithPayment) | left to recovery |
//!
//! # How a pass runs, and why it is safe next to live traffic
//!
//! 1. **Scan** (reads only, in pages of [`DEFAULT_BATCH`]): every catalog SKU is looked up
//!    in the inventory, every stock record's product in the catalog and its `reserved`
//!    compared with what pending orders hold, and orders whose payment disagrees with their
//!    status are listed. Each store pages in its own index order and lookups go by key, so
//!    neither store is ever read whole into memory and the two stores' collations never
//!    have to agree. The scan is not a snapshot: live orders and product changes make it
//!    see states that are only passing, so it yields *candidates*, not findings.
//! 2. **In-flight sagas** are read *after* the scan. Every saga is logged before its first
//!    write, so a saga that caused a state the scan saw is in this list unless it has
//!    finished since (and then the re-read in step 3 sees its end). A candidate a saga is
//!    still working on is [`Deferred`](Resolution::Deferred) to that saga (or to recovery,
//!    which settles abandoned ones), never touched: creating a stock record under a
//!    product-creation saga would make that saga's own insert conflict and undo the product.
//! 3. **Settle** each candidate: re-read it (it may have been a passing state) and, in fix
//!    mode, repair it with one atomic port call. Reservations are confirmed with
//!    [`LedgerAudit::holding`] (record and pending orders in one snapshot) and repaired with
//!    [`LedgerAudit::release_leaked`], which re-reads both under the stock row's lock, so an
//!    order placed between the check and the repair is counted, not erased.
//!
//! Races that remain, all harmless, and left on purpose:
//!
//! * A product deleted between the re-read and the creation of its zero stock record
//!   leaves a record without a product; the next pass removes it (nothing is reserved).
//! * A new product that takes the SKU of a stock record being removed may see its own
//!   stock creation conflict and be rolled back (409); the client's retry succeeds.
//! * A report says what was true when each candidate was re-read; by the time it is
//!   printed, traffic may have moved on.
//!
//! Costs: a pass reads every catalog SKU and stock record once, plus one lookup per page
//! in the other store, and scans orders for payment disagreements (an index-ordered scan
//! of the orders table in PostgreSQL). It is meant to run hourly, not per request.
//!
//! # Layout
//!
//! This file holds the service and the pass; the rest, by concern:
//!
//! * `report.rs`: the report and its findings, as `emporium reconcile` prints them;
//! * `scan.rs`: step 1, the paged scans that collect candidates;
//! * `in_flight.rs`: step 2, the unfinished sagas a finding may belong to;
//! * `reservations.rs`, `catalog.rs`, `payments.rs`: step 3, re-reading and repairing
//!   reservations, the catalog against the inventory, and payments against orders.
//!
//! [`LedgerAudit::holding`]: crate::ports::LedgerAudit::holding
//! [`LedgerAudit::release_leaked`]: crate::ports::LedgerAudit::release_leaked

mod catalog;
mod in_flight;
mod payments;
mod report;
mod reservations;
mod scan;
mod warehouses;

pub use report::{Finding, FindingKind, Mode, ReconciliationReport, Resolution, Scanned, Summary};

use crate::error::{Error, Result};
use crate::model::now;
use crate::ports::Stores;
use catalog::settle_product_mismatch;
use in_flight::InFlight;
use scan::{Candidate, Scan};
use tracing::Instrument;

/// Records read per page while scanning.
pub const DEFAULT_BATCH: u32 = 500;
/// Most candidates one pass collects; the rest wait for the next pass (the report says it
/// was truncated). Keeps memory bounded when something is badly wrong, such as a ledger
/// pointed at an empty database, where every product would lack stock.
pub const DEFAULT_MAX_FINDINGS: usize = 10_000;

/// Finds (and with [`ReconciliationService::fix`] repairs) inconsistencies between the
/// catalog, the inventory, the orders and their payments. See the module documentation.
#[derive(Clone)]
pub struct ReconciliationService {
    stores: Stores,
    batch: u32,
    max_findings: usize,
}

impl ReconciliationService {
    pub fn new(stores: Stores) -> Self {
        Self {
            stores,
            batch: DEFAULT_BATCH,
            max_findings: DEFAULT_MAX_FINDINGS,
        }
    }

    /// Records read per page (at least 1).
    pub fn with_batch_size(mut self, batch: u32) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Most findings one pass collects (at least 1).
    pub fn with_max_findings(mut self, max: usize) -> Self {
        self.max_findings = max.max(1);
        self
    }

    /// Looks and reports; changes nothing (the payment gateway is asked, never told).
    #[tracing::instrument(name = "reconcile.check", skip_all)]
    pub async fn check(&self) -> Result<ReconciliationReport> {
        self.run(Mode::Check).await
    }

    /// Looks, repairs what is safe, and reports what was repaired and what was not.
    ///
    /// A repair that fails is reported ([`Resolution::RepairFailed`]) and the pass goes on.
    /// A store failing while candidates are read ends the pass with that error; repairs
    /// made before it stand (each is one atomic step, and logged), and the next pass finds
    /// what is left.
    #[tracing::instrument(name = "reconcile.fix", skip_all)]
    pub async fn fix(&self) -> Result<ReconciliationReport> {
        self.run(Mode::Fix).await
    }

    async fn run(&self, mode: Mode) -> Result<ReconciliationReport> {
        let started_at = now();
        let mut scan = Scan::new(self.max_findings);
        self.scan_catalog(&mut scan)
            .instrument(tracing::info_span!("reconcile.scan_catalog"))
            .await?;
        self.scan_inventory(&mut scan)
            .instrument(tracing::info_span!("reconcile.scan_inventory"))
            .await?;
        self.scan_payments(&mut scan)
            .instrument(tracing::info_span!("reconcile.scan_payments"))
            .await?;
        self.scan_warehouses(&mut scan)
            .instrument(tracing::info_span!("reconcile.scan_warehouses"))
            .await?;

        // Read only now, after the scan: see "How a pass runs" in the module docs.
        let in_flight = if scan.candidates.is_empty() {
            InFlight::default()
        } else {
            InFlight::load(&self.stores).await?
        };
        let mut candidates = scan.candidates;
        candidates.sort_by_key(Candidate::rank);
        let mut findings = Vec::new();
        for candidate in candidates {
            let settled = self
                .settle(candidate, mode, &in_flight)
                .instrument(tracing::debug_span!("reconcile.settle"))
                .await?;
            findings.extend(settled);
        }

        let summary = Summary {
            findings: findings.len(),
            repaired: count(&findings, |r| matches!(r, Resolution::Repaired { .. })),
            deferred: count(&findings, |r| matches!(r, Resolution::Deferred { .. })),
            remaining: count(&findings, Resolution::remains),
        };
        let report = ReconciliationReport {
            mode,
            started_at,
            finished_at: now(),
            scanned: scan.scanned,
            truncated: scan.truncated,
            summary,
            findings,
        };
        tracing::info!(
            ?mode,
            products = report.scanned.products,
            stock_records = report.scanned.stock_records,
            findings = summary.findings,
            repaired = summary.repaired,
            deferred = summary.deferred,
            remaining = summary.remaining,
            truncated = report.truncated,
            "reconciliation pass"
        );
        Ok(report)
    }

    /// Re-reads one candidate and, in fix mode, repairs it. `None` when the re-read shows
    /// it was a passing state.
    async fn settle(
        &self,
        candidate: Candidate,
        mode: Mode,
        in_flight: &InFlight,
    ) -> Result<Option<Finding>> {
        match candidate {
            Candidate::Reservation { sku } => self.settle_reservation(sku, mode).await,
            Candidate::OrphanStock { level } => {
                self.settle_orphan_stock(level, mode, in_flight).await
            }
            Candidate::MissingStock { product, sku } => {
                self.settle_missing_stock(product, sku, mode, in_flight)
                    .await
            }
            Candidate::ProductMismatch {
                sku,
                stock_product,
                catalog_product,
                expected,
                actual,
            } => Ok(Some(settle_product_mismatch(
                sku,
                stock_product,
                catalog_product,
                expected,
                actual,
                in_flight,
            ))),
            Candidate::Payment { order } => self.settle_payment(order, mode, in_flight).await,
            Candidate::WarehouseSplit { mismatch } => {
                self.settle_warehouse_split(mismatch, mode).await
            }
        }
    }
}

fn failed(action: String, error: Error) -> Resolution {
    tracing::warn!(%error, %action, "reconciliation repair failed");
    Resolution::RepairFailed {
        action,
        error: error.to_string(),
    }
}

fn count(findings: &[Finding], pred: impl Fn(&Resolution) -> bool) -> usize {
    findings.iter().filter(|f| pred(&f.resolution)).count()
}
