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
//!    [`Orders::holding`] (record and pending orders in one snapshot) and repaired with
//!    [`Orders::release_leaked`], which re-reads both under the stock row's lock, so an
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
//! [`Orders::holding`]: crate::ports::Orders::holding
//! [`Orders::release_leaked`]: crate::ports::Orders::release_leaked

use crate::error::{Error, Result};
use crate::model::{
    now, Order, OrderId, OrderStatus, Payment, PaymentId, PaymentStatus, ProductId, SagaId,
    SagaKind, SagaState, Sku, StockLevel, Timestamp, Units,
};
use crate::ports::{payment_agrees, Authorization, Holding, Stores};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Display;
use tracing::Instrument;
use uuid::Uuid;

/// Records read per page while scanning.
pub const DEFAULT_BATCH: u32 = 500;
/// Most candidates one pass collects; the rest wait for the next pass (the report says it
/// was truncated). Keeps memory bounded when something is badly wrong, such as a ledger
/// pointed at an empty database, where every product would lack stock.
pub const DEFAULT_MAX_FINDINGS: usize = 10_000;
/// Unfinished sagas read per state. More than this means recovery is far behind; the pass
/// then defers every saga-owned finding rather than guess which saga owns it.
const SAGA_SCAN_LIMIT: u32 = 10_000;

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

/// What the scan saw; each is re-read before it becomes a [`Finding`].
#[derive(Debug, Clone)]
enum Candidate {
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
}

impl Candidate {
    /// Settling order: reservations first, so a leaked reservation on a record without a
    /// product is released before the record's removal is considered in the same pass.
    fn rank(&self) -> u8 {
        match self {
            Candidate::Reservation { .. } => 0,
            Candidate::OrphanStock { .. } => 1,
            Candidate::MissingStock { .. } => 2,
            Candidate::ProductMismatch { .. } => 3,
            Candidate::Payment { .. } => 4,
        }
    }
}

/// The subjects (product or order ids) of sagas that have not finished.
#[derive(Debug, Default)]
struct InFlight {
    sagas: HashMap<Uuid, (SagaId, SagaKind, SagaState)>,
    /// A state had more unfinished sagas than were read: ownership cannot be told.
    truncated: bool,
}

impl InFlight {
    async fn load(stores: &Stores) -> Result<InFlight> {
        let mut in_flight = InFlight::default();
        for state in [
            SagaState::Running,
            SagaState::Compensating,
            SagaState::Stuck,
        ] {
            let sagas = stores.saga_log.in_state(state, SAGA_SCAN_LIMIT).await?;
            in_flight.truncated |= sagas.len() >= SAGA_SCAN_LIMIT as usize;
            for saga in sagas {
                in_flight
                    .sagas
                    .insert(saga.subject, (saga.id, saga.kind, saga.state));
            }
        }
        Ok(in_flight)
    }

    /// Why a record belonging to `subject` must be left alone, if it must.
    fn owner(&self, subject: Uuid) -> Option<String> {
        if let Some((id, kind, state)) = self.sagas.get(&subject) {
            return Some(format!(
                "saga {id} ({kind}) is {state} on it; that saga or recovery settles it"
            ));
        }
        self.truncated.then(|| {
            format!(
                "more than {SAGA_SCAN_LIMIT} sagas are unfinished, so whether one owns this \
                 record cannot be told; run again once recovery has caught up"
            )
        })
    }
}

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

    /// Every catalog SKU, looked up in the inventory a page at a time.
    async fn scan_catalog(&self, scan: &mut Scan) -> Result<()> {
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
    async fn scan_inventory(&self, scan: &mut Scan) -> Result<()> {
        let held: BTreeMap<Sku, u64> = self
            .stores
            .orders
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
    async fn scan_payments(&self, scan: &mut Scan) -> Result<()> {
        let mut after: Option<OrderId> = None;
        loop {
            let page = self
                .stores
                .orders
                .payment_mismatches(after, self.batch)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            let next = moved_past(after.as_ref(), &last.id, "Orders::payment_mismatches")?;
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
            } => {
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
                Ok(Some(Finding {
                    kind: FindingKind::StockProductMismatch,
                    sku: Some(sku),
                    product_id: Some(stock_product),
                    order_id: None,
                    expected,
                    actual,
                    resolution,
                }))
            }
            Candidate::Payment { order } => self.settle_payment(order, mode, in_flight).await,
        }
    }

    /// Confirmed with one consistent reading; repaired under the stock row's lock, so an
    /// order placed between this reading and the repair is counted, not erased. A repaired
    /// finding reports the reading taken under the lock, which is the one acted on.
    async fn settle_reservation(&self, sku: Sku, mode: Mode) -> Result<Option<Finding>> {
        let Some(holding) = self.stores.orders.holding(&sku).await? else {
            return Ok(None);
        };
        let finding = |holding: &Holding, resolution| {
            let (reserved, held) = (u64::from(holding.level.reserved), holding.held);
            Finding {
                kind: if held > reserved {
                    FindingKind::MissingReservation
                } else {
                    FindingKind::LeakedReservation
                },
                sku: Some(sku.clone()),
                product_id: Some(holding.level.product_id),
                order_id: None,
                expected: format!("reserved {held} (the units pending orders hold)"),
                actual: format!("reserved {reserved}"),
                resolution,
            }
        };
        let (reserved, held) = (u64::from(holding.level.reserved), holding.held);
        if held > reserved {
            return Ok(Some(finding(&holding, missing_reservation())));
        }
        if held == reserved {
            return Ok(None);
        }
        if mode == Mode::Check {
            let action = format!(
                "release {} leaked units (lower reserved to {held})",
                reserved - held
            );
            return Ok(Some(finding(&holding, Resolution::Repairable { action })));
        }
        match self.stores.orders.release_leaked(&sku).await {
            Ok(Some(release)) if release.released() > 0 => {
                tracing::info!(
                    %sku,
                    released = release.released(),
                    "released a leaked reservation"
                );
                let action = format!(
                    "released {} leaked units (reserved {} -> {})",
                    release.released(),
                    release.found.level.reserved,
                    release.level.reserved
                );
                Ok(Some(finding(
                    &release.found,
                    Resolution::Repaired { action },
                )))
            }
            // Pending orders now hold more than is reserved: not for a program to settle.
            Ok(Some(release)) if release.found.held > u64::from(release.found.level.reserved) => {
                Ok(Some(finding(&release.found, missing_reservation())))
            }
            // Orders moved meanwhile and the record agrees with them now, or it is gone.
            Ok(_) => Ok(None),
            Err(e) => {
                let action = "release the leaked units".to_owned();
                Ok(Some(finding(&holding, failed(action, e))))
            }
        }
    }

    async fn settle_orphan_stock(
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
            let held = match self.stores.orders.holding(&level.sku).await? {
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

    async fn settle_missing_stock(
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

    async fn settle_payment(
        &self,
        id: OrderId,
        mode: Mode,
        in_flight: &InFlight,
    ) -> Result<Option<Finding>> {
        let Some(order) = self.stores.orders.get(id).await? else {
            return Ok(None);
        };
        let paid = order.payment.as_ref().map(|p| p.status);
        if payment_agrees(order.status, paid) {
            return Ok(None);
        }
        let (kind, expected) = match order.status {
            OrderStatus::Confirmed | OrderStatus::Shipped | OrderStatus::Delivered => {
                (FindingKind::SaleWithoutPayment, "an authorized payment")
            }
            OrderStatus::Failed | OrderStatus::Cancelled => (
                FindingKind::AuthorizedPaymentOnClosedOrder,
                "no authorized payment",
            ),
            OrderStatus::Pending => (
                FindingKind::PendingOrderWithPayment,
                "no payment until the order is settled",
            ),
        };
        let resolution = if let Some(reason) = in_flight.owner(id.as_uuid()) {
            Resolution::Deferred { reason }
        } else {
            match kind {
                FindingKind::SaleWithoutPayment => self.settle_unpaid_sale(&order, mode).await,
                FindingKind::AuthorizedPaymentOnClosedOrder => {
                    self.settle_closed_authorized(&order, mode).await
                }
                _ => Resolution::Deferred {
                    reason: "recovery settles pending orders: forward when the payment is \
                             authorized, released otherwise, once the reservation expires"
                        .into(),
                },
            }
        };
        Ok(Some(Finding {
            kind,
            sku: None,
            product_id: None,
            order_id: Some(id),
            expected: expected.into(),
            actual: format!(
                "order {}, payment {}",
                order.status,
                paid.map_or("none", PaymentStatus::as_str)
            ),
            resolution,
        }))
    }

    /// A sale whose payment record is missing is repaired only when the gateway itself
    /// says it authorized the order (the record was lost, the money was not). Anything else
    /// means goods may leave unpaid: a human decides.
    async fn settle_unpaid_sale(&self, order: &Order, mode: Mode) -> Resolution {
        if let Some(payment) = &order.payment {
            return Resolution::NeedsHuman {
                reason: format!(
                    "the order is a sale but its payment is {}: collect the payment or \
                     cancel the order",
                    payment.status
                ),
            };
        }
        let lookup = "ask the payment gateway for the order's authorization".to_owned();
        let reference = match self.stores.gateway.lookup(order.id).await {
            Ok(Some(Authorization::Approved { reference })) => reference,
            Ok(_) => {
                return Resolution::NeedsHuman {
                    reason: "the order is a sale but the gateway holds no authorization for \
                             it: collect the payment or cancel the order"
                        .into(),
                }
            }
            Err(e) => return failed(lookup, e),
        };
        let action = format!("record the authorization the gateway holds ({reference})");
        if mode == Mode::Check {
            return Resolution::Repairable { action };
        }
        let at = now();
        let payment = Payment {
            id: PaymentId::new(),
            order_id: order.id,
            status: PaymentStatus::Authorized,
            amount: order.total,
            method: "card".into(),
            gateway_ref: Some(reference),
            decline_reason: None,
            created_at: at,
            updated_at: at,
        };
        match self.stores.payments.record(&payment).await {
            Ok(_) => {
                tracing::info!(order_id = %order.id, "recorded a sale's missing authorization");
                Resolution::Repaired { action }
            }
            Err(e) => failed(action, e),
        }
    }

    /// Voiding is always safe here: `failed` and `cancelled` are final, so the
    /// authorization can never be needed again, and voiding twice (a cancellation saga
    /// doing the same at the same time) is harmless. Same steps as recovery.
    async fn settle_closed_authorized(&self, order: &Order, mode: Mode) -> Resolution {
        let Some(payment) = order.payment.clone() else {
            return Resolution::NeedsHuman {
                reason: "the payment record vanished while it was read".into(),
            };
        };
        let Some(reference) = payment.gateway_ref.clone() else {
            return Resolution::NeedsHuman {
                reason: "the authorized payment has no gateway reference to void".into(),
            };
        };
        let action =
            format!("void authorization {reference} at the gateway and record the payment voided");
        if mode == Mode::Check {
            return Resolution::Repairable { action };
        }
        if let Err(e) = self.stores.gateway.void(&reference).await {
            return failed(action, e);
        }
        let voided = Payment {
            status: PaymentStatus::Voided,
            updated_at: now(),
            ..payment
        };
        match self.stores.payments.record(&voided).await {
            Ok(_) => {
                tracing::info!(order_id = %order.id, "voided the authorization of a closed order");
                Resolution::Repaired { action }
            }
            Err(e) => failed(action, e),
        }
    }
}

/// Candidates collected so far, up to a limit.
struct Scan {
    candidates: Vec<Candidate>,
    scanned: Scanned,
    max: usize,
    truncated: bool,
    /// SKUs already named in a mismatch (both sides of the scan can see the same one).
    mismatched: HashSet<Sku>,
}

impl Scan {
    fn new(max: usize) -> Scan {
        Scan {
            candidates: Vec::new(),
            scanned: Scanned::default(),
            max,
            truncated: false,
            mismatched: HashSet::new(),
        }
    }

    fn push(&mut self, candidate: Candidate) {
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

/// The cursor for the next page, refusing a page that did not move past `after`: an
/// adapter that ignored `after` would otherwise make the scan loop forever.
fn moved_past<K: Clone + PartialEq + Display>(
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

fn failed(action: String, error: Error) -> Resolution {
    tracing::warn!(%error, %action, "reconciliation repair failed");
    Resolution::RepairFailed {
        action,
        error: error.to_string(),
    }
}

fn missing_reservation() -> Resolution {
    Resolution::NeedsHuman {
        reason: "pending orders hold more units than are reserved, so units may be sold \
                 twice: count the stock and compare it with the pending orders before \
                 changing either"
            .into(),
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

fn count(findings: &[Finding], pred: impl Fn(&Resolution) -> bool) -> usize {
    findings.iter().filter(|f| pred(&f.resolution)).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;
    use PaymentStatus::*;

    #[test]
    fn payment_rule_matches_the_order_life_cycle() {
        for sale in [Confirmed, Shipped, Delivered] {
            assert!(payment_agrees(sale, Some(Authorized)));
            for other in [None, Some(Declined), Some(Voided), Some(Refunded)] {
                assert!(!payment_agrees(sale, other), "{sale} with {other:?}");
            }
        }
        for closed in [Failed, Cancelled] {
            assert!(!payment_agrees(closed, Some(Authorized)));
            for other in [None, Some(Declined), Some(Voided), Some(Refunded)] {
                assert!(payment_agrees(closed, other), "{closed} with {other:?}");
            }
        }
        assert!(payment_agrees(Pending, None));
        assert!(!payment_agrees(Pending, Some(Authorized)));
    }

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
