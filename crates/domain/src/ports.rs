//! Ports: the async traits every store adapter implements.
//!
//! Each method is **one operation a real store can do atomically on its own**. Where an
//! operation must change several records together (reserve stock for every line and create
//! the pending order), it is one method, and the adapter owns the transaction. Cross-store
//! work (catalog in MongoDB, ledger in PostgreSQL) is never a single method: the services in
//! [`crate::service`] run it as a saga over several ports.
//!
//! Every method may return [`Error::Unavailable`] when its store is down or times out, and
//! [`Error::Internal`] for an unexpected store answer; other variants are listed per method.
//! The contract suite in `emporium-testkit` checks every statement made here.
//!
//! No port method has a default body. Every adapter and every decorator (the fail-fast and
//! caching wrappers of `emporium-resilience`) must implement each method itself, so a
//! method added here is a compile error wherever it is not handled, never a call that
//! silently bypasses a wrapper.
//!
//! [`Error::Unavailable`]: crate::Error::Unavailable
//! [`Error::Internal`]: crate::Error::Internal

use crate::model::{
    AuditEntry, BackupFile, BackupType, CategorySales, DomainEvent, FacetField, Facets, IndexEntry,
    Job, JobId, Manifest, Mark, NewOrder, Order, OrderId, OrderQuery, OrderStatus, Page,
    PageRequest, Payment, PaymentStatus, Product, ProductId, ProductQuery, ProductSales, Replay,
    ResumeToken, SagaId, SagaRecord, SagaState, SalesWindow, SearchHit, SearchQuery, Seq, Sku,
    StockLevel, StoreManifest, Supplier, SupplierId, SupplierSales, Timestamp, Units,
};
use crate::{Error, Result};
use async_trait::async_trait;
use std::sync::Arc;

/// The product catalog (MongoDB in production).
#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// Stores a new product. MUST return `Conflict` when another product has the same SKU,
    /// and change nothing then.
    async fn insert(&self, product: &Product) -> Result<()>;
    async fn get(&self, id: ProductId) -> Result<Option<Product>>;
    /// The products among `ids` that exist, in any order.
    async fn get_many(&self, ids: &[ProductId]) -> Result<Vec<Product>>;
    /// Replaces the product with the same id. `NotFound` when it does not exist.
    async fn replace(&self, product: &Product) -> Result<()>;
    /// Deletes and returns the product; `Ok(None)` when there was none.
    async fn delete(&self, id: ProductId) -> Result<Option<Product>>;
    /// Filters, sorts and pages exactly as [`ProductQuery::matches`] and
    /// [`crate::model::ProductSort`] describe; ties break by id (descending for
    /// `NewestFirst`, ascending otherwise), so paging is stable.
    async fn list(&self, query: &ProductQuery) -> Result<Page<Product>>;
    /// How many products reference this supplier.
    async fn count_by_supplier(&self, supplier: SupplierId) -> Result<u64>;
    /// How many products reference each of `suppliers`, in one round trip; suppliers
    /// without products are left out.
    async fn count_by_suppliers(&self, suppliers: &[SupplierId]) -> Result<Vec<(SupplierId, u64)>>;
    /// The highest `low_stock_threshold` of any product (0 for an empty catalog).
    async fn max_low_stock_threshold(&self) -> Result<Units>;
    /// One page of a scan over every product's SKU (reconciliation reads a large catalog
    /// in pages so it is never held in memory whole): at most `limit` `(product, SKU)`
    /// pairs, ascending by SKU in the store's own collation, those after `after` (from the
    /// first SKU when `None`). Paging on with the last SKU of each page visits every
    /// product exactly once when nothing changes meanwhile; a product inserted or deleted
    /// during the scan may or may not be seen. An empty page ends the scan. The order only
    /// has to agree with itself: callers never compare it with another store's.
    async fn skus(&self, after: Option<&Sku>, limit: u32) -> Result<Vec<(ProductId, Sku)>>;
    /// The `(product, SKU)` pairs of the products among `ids` that exist, in any order:
    /// [`Catalog::get_many`] without the rest of each product, for checks that only ask
    /// whether a product exists and under which SKU.
    async fn skus_of(&self, ids: &[ProductId]) -> Result<Vec<(ProductId, Sku)>>;
    /// Answers only when the store answers.
    async fn ping(&self) -> Result<()>;
}

/// Suppliers (MongoDB in production).
#[async_trait]
pub trait Suppliers: Send + Sync + 'static {
    async fn insert(&self, supplier: &Supplier) -> Result<()>;
    async fn get(&self, id: SupplierId) -> Result<Option<Supplier>>;
    /// The suppliers among `ids` that exist, in any order, in one round trip.
    async fn get_many(&self, ids: &[SupplierId]) -> Result<Vec<Supplier>>;
    /// Oldest first.
    async fn list(&self, page: PageRequest) -> Result<Page<Supplier>>;
    /// `NotFound` when it does not exist.
    async fn replace(&self, supplier: &Supplier) -> Result<()>;
    /// `Ok(false)` when there was none.
    async fn delete(&self, id: SupplierId) -> Result<bool>;
}

/// Stock records per SKU (PostgreSQL in production). Invariant: `0 <= reserved <= on_hand`.
#[async_trait]
pub trait Inventory: Send + Sync + 'static {
    /// Creates the stock record of a new product with `on_hand` units and none reserved.
    /// MUST return `Conflict` when the SKU already has a record, changing nothing.
    async fn create_stock(
        &self,
        sku: &Sku,
        product: ProductId,
        on_hand: Units,
    ) -> Result<StockLevel>;
    /// Sets the units available to sell (`on_hand = reserved + available`), leaving
    /// reservations alone. `NotFound` when the SKU has no record.
    async fn set_available(&self, sku: &Sku, available: Units) -> Result<StockLevel>;
    async fn stock(&self, sku: &Sku) -> Result<Option<StockLevel>>;
    /// The records among `skus` that exist, in any order.
    async fn stock_many(&self, skus: &[Sku]) -> Result<Vec<StockLevel>>;
    /// Deletes the record (the product left the catalog); `Ok(None)` when there was none.
    /// Orders that hold units of it keep their lines; their later moves skip the record.
    async fn remove_stock(&self, sku: &Sku) -> Result<Option<StockLevel>>;
    /// One page of a scan over every stock record, paged exactly as [`Catalog::skus`]:
    /// at most `limit` records ascending by SKU in the store's own collation, those after
    /// `after`; an empty page ends the scan.
    async fn levels(&self, after: Option<&Sku>, limit: u32) -> Result<Vec<StockLevel>>;
    /// Sets `reserved` to `reserved` in one atomic step, leaving `on_hand` alone, without
    /// looking at any order. A low-level repair (and the way tests create a leaked
    /// reservation); reconciliation repairs live data with [`LedgerAudit::release_leaked`]
    /// instead, which reads what orders hold in the same atomic step as it writes.
    /// `NotFound` when the SKU has no record; `Conflict` when `reserved` exceeds `on_hand`
    /// (the invariant holds, nothing changes).
    async fn repair_reserved(&self, sku: &Sku, reserved: Units) -> Result<StockLevel>;
    /// Deletes the record only when nothing is reserved, deciding and deleting in one
    /// atomic step, so a reservation made meanwhile is never deleted with it. `Ok(None)`
    /// when there is no record; `Conflict` when units are reserved (nothing changes).
    async fn remove_unreserved(&self, sku: &Sku) -> Result<Option<StockLevel>>;
    /// Answers only when the store answers.
    async fn ping(&self) -> Result<()>;
}

/// What a cancellation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancellation {
    pub order: Order,
    /// The status before the cancellation; `Cancelled` when it was already cancelled
    /// (the call then changed nothing).
    pub previous: OrderStatus,
}

/// A stock record and the units `pending` orders hold of its SKU, read at one instant.
///
/// In a consistent ledger `level.reserved == held`: every reserved unit belongs to a
/// pending order line, and every pending line's units are reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub level: StockLevel,
    /// Units of this SKU on the lines of `pending` orders.
    pub held: u64,
}

/// What [`LedgerAudit::release_leaked`] found, and the record it left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The record and the pending orders' units, as read under the record's lock.
    pub found: Holding,
    /// The record afterwards: `reserved` lowered to `found.held` when it was above it,
    /// otherwise unchanged.
    pub level: StockLevel,
}

impl Release {
    /// Units whose reservation was released.
    pub fn released(&self) -> u32 {
        self.found
            .level
            .reserved
            .saturating_sub(self.level.reserved)
    }
}

/// Whether an order's status and its payment record agree, for an order at rest (no saga
/// working on it). The rule [`LedgerAudit::payment_mismatches`] applies:
///
/// * a sale (`confirmed`, `shipped`, `delivered`) has an `authorized` payment (Emporium
///   authorizes and never captures, so a sale's payment stays `authorized`);
/// * a closed order (`failed`, `cancelled`) holds no authorization: its payment is
///   `declined`, `voided`, `refunded`, or absent;
/// * a `pending` order has no payment yet: the placement saga records the gateway's answer
///   and then confirms or fails the order at once.
pub fn payment_agrees(status: OrderStatus, payment: Option<PaymentStatus>) -> bool {
    match status {
        OrderStatus::Confirmed | OrderStatus::Shipped | OrderStatus::Delivered => {
            payment == Some(PaymentStatus::Authorized)
        }
        OrderStatus::Failed | OrderStatus::Cancelled => payment != Some(PaymentStatus::Authorized),
        OrderStatus::Queued | OrderStatus::Pending => payment.is_none(),
    }
}

/// The ledger's figures for the reports (ADR 0012). Only sales count (orders
/// `confirmed`, `shipped` or `delivered`, see [`crate::model::is_sale`]), each line as it was
/// when its order was placed, and only orders created in the window. A report counts every
/// order settled before it was asked for. Groups whose units net to zero (a sale cancelled
/// later) are left out. Ties sort by the group's key, in byte order.
#[async_trait]
pub trait SalesReports: Send + Sync + 'static {
    /// Per product, SKU and currency, highest revenue first.
    async fn sales_by_product(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<ProductSales>>;
    /// Per category and currency, highest revenue first.
    async fn sales_by_category(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<CategorySales>>;
    /// Per supplier and currency, over the lines that had a supplier, highest revenue
    /// first; `orders` counts each sale once per supplier of its lines.
    async fn sales_by_supplier(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<SupplierSales>>;
    /// Stock records with at most `at_most` units available, lowest first (ties by SKU).
    async fn low_stock(&self, at_most: Units, page: PageRequest) -> Result<Page<StockLevel>>;
    /// What `customer` bought (products on their sales: confirmed, shipped, delivered),
    /// and the products other customers bought in sales together with any of those, not
    /// bought by `customer`, with how many such sales each was in: most first (ties by
    /// id), at most `limit` of them. In one round trip.
    async fn purchase_affinity(
        &self,
        customer: &crate::model::CustomerId,
        limit: u32,
    ) -> Result<crate::model::PurchaseAffinity>;
    /// Brings whatever the adapter keeps for the reports up to date with the orders (a
    /// rollup folds in the status changes since the last call); returns how many orders it
    /// took in. Every report does this first; calling it in the background keeps that
    /// work small. An adapter that reads the orders directly has nothing to do.
    async fn catch_up(&self) -> Result<u64>;
}

/// Orders and the stock moves they make (PostgreSQL in production: one transaction each).
#[async_trait]
pub trait Orders: Send + Sync + 'static {
    /// In one atomic step: for every line, check `available >= quantity` and reserve it,
    /// and store the order as `pending`. When any line falls short, MUST return
    /// `InsufficientStock` naming every short line and change nothing. A line whose SKU has
    /// no stock record counts as available 0. Idempotent on `order.id`: a second call for
    /// an order that exists returns it unchanged.
    async fn create_pending(&self, order: &NewOrder) -> Result<Order>;
    /// `pending → confirmed` in one atomic step, the reservation becoming a sale
    /// (`on_hand -= q`, `reserved -= q`). Idempotent: an order already `confirmed` (or
    /// further along, `shipped`, `delivered`) is returned unchanged. `InvalidTransition`
    /// from `cancelled` or `failed`; `NotFound` when there is no such order.
    async fn confirm(&self, id: OrderId) -> Result<Order>;
    /// `pending → failed` in one atomic step, releasing the reservation. Idempotent on an
    /// order already `failed`. `InvalidTransition` otherwise.
    async fn fail(&self, id: OrderId) -> Result<Order>;
    /// `pending | confirmed → cancelled` in one atomic step: a pending order's reservation
    /// is released, a confirmed order's units go back on hand. Idempotent on an order
    /// already `cancelled`. `InvalidTransition` from other statuses.
    async fn cancel(&self, id: OrderId) -> Result<Cancellation>;
    /// [`Orders::create_pending`] and [`SagaLog::save`] of `saga` in one atomic step: the
    /// placement saga's first commit. When the order falls short, nothing is stored, the
    /// saga record included. When the order already exists it is returned unchanged and
    /// the record is still stored.
    async fn reserve(&self, order: &NewOrder, saga: &SagaRecord) -> Result<Order>;
    /// Settles a pending order and stores `saga`, in one atomic step: the placement saga's
    /// second commit. [`Settlement::Confirm`] records the authorized payment and confirms
    /// (idempotent as [`Orders::confirm`]); [`Settlement::Fail`] records the declined
    /// payment, if any, and fails the order (idempotent as [`Orders::fail`]). `NotFound`
    /// (nothing stored) when there is no such order.
    ///
    /// The adapter MAY commit this step without waiting for it to be durable
    /// (PostgreSQL: `synchronous_commit = off`): everything it writes can be derived again
    /// from the payment gateway, which recovery asks by the order id when a crash lost it.
    async fn settle(
        &self,
        id: OrderId,
        settlement: &Settlement,
        saga: &SagaRecord,
    ) -> Result<Order>;
    /// Moves that touch no stock (`confirmed → shipped`, `shipped → delivered`), checked
    /// against the state machine inside the store's transaction.
    async fn advance(&self, id: OrderId, to: OrderStatus) -> Result<Order>;
    /// Stores `order` as `failed`, with `reason`, touching no stock: a queued placement
    /// that could not be placed. Idempotent on `order.id`: an order that exists keeps its
    /// status; a `failed` one without a reason gets this one. Returns the order as stored.
    async fn record_failed(&self, order: &NewOrder, reason: &str) -> Result<Order>;
    /// Anonymises every order of `customer` (a deleted customer): the customer id becomes
    /// [`ANONYMOUS_CUSTOMER`] and the name is removed; lines, totals, payments and stock
    /// stay as they are. Returns how many orders changed; idempotent.
    async fn anonymise(&self, customer: &crate::model::CustomerId) -> Result<u64>;
    /// The order with its payment, if any.
    async fn get(&self, id: OrderId) -> Result<Option<Order>>;
    /// Filters as [`OrderQuery::matches`] describes; oldest first, ties by id.
    async fn list(&self, query: &OrderQuery) -> Result<Page<Order>>;
}

/// How [`Orders::settle`] ends a pending order.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    /// The gateway authorized this payment: record it, confirm the order.
    Confirm(Payment),
    /// The order fails and its units are released; the declined payment is recorded when
    /// the gateway declined (none when it never answered).
    Fail(Option<Payment>),
}

/// Payment records, one per order.
#[async_trait]
pub trait Payments: Send + Sync + 'static {
    /// Stores the payment of `payment.order_id`, replacing the earlier record of that order
    /// (so repeating a step is harmless). The record keeps its first `id` and `created_at`.
    async fn record(&self, payment: &Payment) -> Result<Payment>;
    async fn for_order(&self, order: OrderId) -> Result<Option<Payment>>;
}

/// The answer of a payment gateway to an authorization.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Authorization {
    Approved { reference: String },
    Declined { reason: String },
}

/// An external payment provider.
#[async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    /// Authorizes `amount` on `token`. `idempotency_key` is the order id: calling again with
    /// the same key MUST return the first answer and never authorize twice.
    async fn authorize(
        &self,
        idempotency_key: OrderId,
        amount: &crate::model::Money,
        token: &str,
    ) -> Result<Authorization>;
    /// The answer already given for `idempotency_key`, or `None` when the gateway never
    /// saw it. Recovery uses it to settle a saga that died around the authorization.
    async fn lookup(&self, idempotency_key: OrderId) -> Result<Option<Authorization>>;
    /// Releases an authorization. Voiding twice is harmless.
    async fn void(&self, reference: &str) -> Result<()>;
    /// Returns captured money. Refunding twice is harmless.
    async fn refund(&self, reference: &str, amount: &crate::model::Money) -> Result<()>;
}

/// The ledger's own consistency scans, for the reconciliation service only: read-mostly
/// queries over orders and stock records that no use case needs, kept off [`Orders`] so
/// that port stays what placing and moving orders needs. The PostgreSQL and memory ledgers
/// implement both.
#[async_trait]
pub trait LedgerAudit: Send + Sync + 'static {
    /// Units held by `pending` orders, summed per SKU over their lines, ascending by SKU;
    /// SKUs no pending order holds are left out. A scan's first look, not a consistent
    /// reading of the stock records (pending orders are few: they live only until their
    /// saga, or recovery, settles them); [`LedgerAudit::holding`] confirms a SKU.
    async fn reserved_by_pending(&self) -> Result<Vec<(Sku, u64)>>;
    /// The stock record of `sku` and the units pending orders hold of it, read in one
    /// consistent snapshot, so an order placed, confirmed or released meanwhile is seen
    /// on both sides or on neither. Takes no lock. `Ok(None)` when the SKU has no record.
    async fn holding(&self, sku: &Sku) -> Result<Option<Holding>>;
    /// In one atomic step that excludes every order move on `sku` (a row lock in
    /// PostgreSQL): reads the record and the units pending orders hold of it, and when the
    /// record reserves more than they hold, lowers `reserved` to what they hold. Never
    /// raises `reserved`: pending orders holding more than is reserved means units may
    /// have been sold twice, which is for a human to settle. `Ok(None)` when the SKU has
    /// no record.
    async fn release_leaked(&self, sku: &Sku) -> Result<Option<Release>>;
    /// One page of a scan for orders whose status and payment disagree by
    /// [`payment_agrees`]: at most `limit` orders (with their payment), ascending by id,
    /// those after `after`; an empty page ends the scan. Each order is returned as it is
    /// when read, which may already agree again (callers check with [`payment_agrees`]).
    async fn payment_mismatches(&self, after: Option<OrderId>, limit: u32) -> Result<Vec<Order>>;
    /// One page of a scan for stock records whose warehouse rows do not add up to them
    /// (ADR 0022): at most `limit`, ascending by SKU, those after `after`; an empty page
    /// ends the scan. A hint: each is confirmed by [`LedgerAudit::resync_warehouses`].
    async fn warehouse_mismatches(
        &self,
        after: Option<&Sku>,
        limit: u32,
    ) -> Result<Vec<crate::model::WarehouseMismatch>>;
    /// Under the record's lock: when its warehouse rows do not add up to it, sets each
    /// warehouse's `reserved` to what its pending orders' splits hold and lets the
    /// default warehouse take up the rest of both figures; returns what it found, or
    /// `Ok(None)` when they add up (or the record is gone). Fails, changing nothing, when
    /// the other warehouses hold more than the total (a human counts the stock then).
    async fn resync_warehouses(&self, sku: &Sku)
        -> Result<Option<crate::model::WarehouseMismatch>>;
}

/// The durable log of every saga, read by recovery after a crash.
///
/// Only the saga executor (`crate::saga`) writes it. Ledger steps do not call it at all:
/// they hand their record to [`Orders::reserve`] and [`Orders::settle`], which store it in
/// the same atomic step as their effect.
#[async_trait]
pub trait SagaLog: Send + Sync + 'static {
    /// Stores `saga` as it now stands: inserts it, or replaces the stored record with the
    /// same id (state, payload, entries, `updated_at`; `started_at` keeps its first value).
    async fn save(&self, saga: &SagaRecord) -> Result<()>;
    async fn get(&self, id: SagaId) -> Result<Option<SagaRecord>>;
    /// Sagas in `state`, oldest first.
    async fn in_state(&self, state: SagaState, limit: u32) -> Result<Vec<SagaRecord>>;
    /// Told when a step of a running saga ends: its saga's kind, its name, how long it
    /// took and whether it succeeded (for the server's figures). Nothing by default.
    fn step_finished(
        &self,
        _kind: crate::model::SagaKind,
        _step: &'static str,
        _elapsed: std::time::Duration,
        _ok: bool,
    ) {
    }
}

/// The event feed: every change to an order, a product or stock, in one order, each with
/// its [`Seq`]. The stores write events with their changes (PostgreSQL's triggers, the
/// memory ledger under its lock); [`EventLog::relay`] makes them part of the feed, and
/// catalog changes arrive through [`CatalogChanges::follow`]. Readers page through it with
/// [`EventLog::read_after`] and sleep in [`EventLog::wait`] until something new arrives.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Gives the recorded but unpublished events their `seq` (in the order they were
    /// recorded, which for one order or product is the order of its changes); returns how
    /// many. Safe to call from several servers at once.
    async fn relay(&self) -> Result<u64>;
    /// At most `limit` events with `seq > after`, in feed order; `truncated` when events
    /// right after `after` have left the replay window.
    async fn read_after(&self, after: Seq, limit: u32) -> Result<Replay>;
    /// The newest event's position (`Seq(0)` for an empty feed).
    async fn head(&self) -> Result<Seq>;
    /// Returns when new events may have been recorded or published, or after `timeout`.
    /// Never busy-waits: the wake-up comes from the store.
    async fn wait(&self, timeout: std::time::Duration);
    /// Records `events` (in order) from the external source `source` and, in the same
    /// transaction, that the source has been read up to `resume` (the position after the
    /// last of them); but only if the source was still at `previous` (another server
    /// following the same source may have recorded them first; then nothing is written and
    /// `false` comes back). A follower that is behind records many changes per call, so
    /// it catches up in few transactions.
    async fn record_external(
        &self,
        source: &str,
        events: &[DomainEvent],
        previous: Option<&ResumeToken>,
        resume: &ResumeToken,
    ) -> Result<bool>;
    /// Where `source` was last read up to.
    async fn resume_token(&self, source: &str) -> Result<Option<ResumeToken>>;
    /// [`Self::record_external`] for a follower that keeps its own `previous`: `Ok` when the
    /// log is now at `resume` (recorded here, or first by another follower), and an error
    /// when the log's cursor is anywhere else, so that the follower starts again from
    /// [`Self::resume_token`] instead of losing every later change to a check that can no
    /// longer pass. The cursor moves elsewhere when a restore takes the log back to an
    /// earlier point, or when another follower is further ahead.
    async fn record_following(
        &self,
        source: &str,
        events: &[DomainEvent],
        previous: Option<&ResumeToken>,
        resume: &ResumeToken,
    ) -> Result<()> {
        if self
            .record_external(source, events, previous, resume)
            .await?
        {
            return Ok(());
        }
        match self.resume_token(source).await? {
            Some(at) if &at == resume => Ok(()),
            _ => Err(Error::Conflict(format!(
                "the feed's cursor for {source} is no longer where this follower left it; \
                 following again from the cursor"
            ))),
        }
    }
    /// Drops events recorded before `cutoff`; they leave the replay window. Returns how many.
    async fn prune(&self, cutoff: Timestamp) -> Result<u64>;
}

/// The catalog's own change history (MongoDB's change stream), as feed events.
#[async_trait]
pub trait CatalogChanges: Send + Sync + 'static {
    /// Follows the catalog's changes from where `log` says this source stopped (or from
    /// now), recording each in `log` with its resume token. Returns only on an error.
    async fn follow(&self, log: &dyn EventLog) -> Result<()>;
}

/// A search index over the catalog and its stock: ranked text search, filters and facets
/// (an embedded engine in production). It holds copies: [`crate::service::SearchService`]
/// keeps it current from the event feed, so it trails the stores by the feed's lag.
#[async_trait]
pub trait ProductIndex: Send + Sync + 'static {
    /// The entries matching every filter of `query` (its text, when present, must match
    /// every word: exactly, as a prefix, or for words of 5 or more letters with one typo),
    /// sorted by `query.sort` with ties by id (descending for newest first, ascending
    /// otherwise), paged. Each hit has a score exactly when there is text.
    async fn search(&self, query: &SearchQuery) -> Result<Page<SearchHit>>;
    /// How many entries match `query` (its page and sort are ignored), and the counts of
    /// each of `wanted` among them.
    async fn facets(&self, query: &SearchQuery, wanted: &[FacetField]) -> Result<Facets>;
    /// Adds or replaces `entries` and removes the entries of `removed`, as one step:
    /// a search sees all of it or none of it.
    async fn apply(&self, entries: Vec<IndexEntry>, removed: &[ProductId]) -> Result<()>;
    /// The id of every entry (for a rebuild to find what left the catalog).
    async fn ids(&self) -> Result<Vec<ProductId>>;
}

/// The audit log of calls to admin routes (PostgreSQL in production).
#[async_trait]
pub trait AdminAudit: Send + Sync + 'static {
    /// Keeps `entry`; recording the same entry (same id) twice keeps one.
    async fn record(&self, entry: &AuditEntry) -> Result<()>;
    /// A page of entries, newest first (ties by id, descending).
    async fn entries(&self, page: PageRequest) -> Result<Page<AuditEntry>>;
}

/// What the idempotency store says about a request carrying a key it was given.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyClaim {
    /// Run the request now, for the resource `id` (the one proposed, or the one a crashed
    /// or released earlier attempt with this key was working on), then call `complete`.
    Proceed { id: uuid::Uuid },
    /// The request ran before with the same fingerprint: answer with its outcome again.
    Replay(crate::model::KeyedOutcome),
    /// The key was used for a request with a different fingerprint.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

/// Stored idempotency keys (PostgreSQL in production), so a retried request never runs twice.
#[async_trait]
pub trait IdempotencyKeys: Send + Sync + 'static {
    /// Atomically claims `key` for a request with `fingerprint`. A new key is stored with
    /// `proposed` as its resource id and answers `Proceed`. An existing key answers
    /// `Mismatch` for another fingerprint, `Replay` once completed, `InFlight` while a claim
    /// younger than `lease` runs, and `Proceed` with the stored id (renewing the claim)
    /// when the claim is older than `lease` or was released. Of many concurrent claims of
    /// one new key, exactly one gets `Proceed`.
    async fn claim(
        &self,
        key: &str,
        fingerprint: &str,
        proposed: uuid::Uuid,
        lease: std::time::Duration,
    ) -> Result<IdempotencyClaim>;
    /// Stores the final outcome of the claimed request.
    async fn complete(&self, key: &str, outcome: &crate::model::KeyedOutcome) -> Result<()>;
    /// Gives the claim up after a transient failure: the next request with this key
    /// proceeds at once, on resource `resume` (the same id to continue the attempt, a new
    /// one when the attempt was undone).
    async fn release(&self, key: &str, resume: uuid::Uuid) -> Result<()>;
    /// Deletes keys created before `cutoff`; returns how many.
    async fn purge(&self, cutoff: crate::model::Timestamp) -> Result<u64>;
}

/// Registered customers (ADR 0017: in MongoDB). E-mail addresses are unique without
/// regard to case ([`crate::model::Email::key`]).
#[async_trait]
pub trait Customers: Send + Sync + 'static {
    /// `Conflict` when the id or the e-mail address (any case) is taken; nothing stored.
    async fn insert(&self, customer: &crate::model::Customer) -> Result<()>;
    async fn get(&self, id: &crate::model::CustomerId) -> Result<Option<crate::model::Customer>>;
    /// Oldest first, ties by id.
    async fn list(&self, page: PageRequest) -> Result<Page<crate::model::Customer>>;
    /// Replaces the customer whole. `NotFound` for an unknown id; `Conflict` when the new
    /// e-mail address belongs to another customer.
    async fn replace(&self, customer: &crate::model::Customer) -> Result<()>;
    /// True when there was such a customer.
    async fn delete(&self, id: &crate::model::CustomerId) -> Result<bool>;
    /// The recommendations last stored on the customer (`None`: none yet, or no such
    /// customer).
    async fn recommendations(
        &self,
        id: &crate::model::CustomerId,
    ) -> Result<Option<crate::model::Recommendations>>;
    /// Stores `recommendations` on the customer, leaving every other field as it is;
    /// `Ok(false)` when there is no such customer.
    async fn store_recommendations(
        &self,
        id: &crate::model::CustomerId,
        recommendations: &crate::model::Recommendations,
    ) -> Result<bool>;
}

/// The category tree (ADR 0018: one document in MongoDB), and the products' membership
/// in it, which lives on the products (in the catalog's store).
#[async_trait]
pub trait Categories: Send + Sync + 'static {
    /// The tree as stored now; version 0 with no nodes before the first write.
    async fn tree(&self) -> Result<crate::model::CategoryTree>;
    /// Stores `tree` whole, provided the stored version is still `tree.version - 1`
    /// (the version it was read at). `Ok(false)`, storing nothing, when another write
    /// came first: of many concurrent writes from one version, exactly one lands.
    async fn save_tree(&self, tree: &crate::model::CategoryTree) -> Result<bool>;
    /// How many products name each category in their `categories` (categories without
    /// products are left out), in one round trip.
    async fn product_counts(&self) -> Result<Vec<(crate::model::CategoryId, u64)>>;
    /// Every product in `from` is put in `to` (once) and taken out of `from`; returns how
    /// many products moved. A product is never in neither while this runs.
    async fn reassign_products(
        &self,
        from: crate::model::CategoryId,
        to: crate::model::CategoryId,
    ) -> Result<u64>;
}

/// Shopping carts (ADR 0019: in MongoDB, with a TTL index on `expires_at`). Every write
/// is a compare-and-set on the cart's version, and an expired cart is gone to every
/// method even before a purge removes it.
#[async_trait]
pub trait Carts: Send + Sync + 'static {
    /// Stores a new cart; `Conflict` when its id is taken.
    async fn insert(&self, cart: &crate::model::Cart) -> Result<()>;
    /// The cart, unless it does not exist or expired at or before `at`.
    async fn get(
        &self,
        id: crate::model::CartId,
        at: Timestamp,
    ) -> Result<Option<crate::model::Cart>>;
    /// Replaces the cart whole, provided the stored one still has version
    /// `cart.version - 1` and has not expired at `at`; `Ok(false)`, storing nothing,
    /// otherwise. Of concurrent writes from one version, exactly one lands.
    async fn replace(&self, cart: &crate::model::Cart, at: Timestamp) -> Result<bool>;
    /// True when there was such a cart (expired or not).
    async fn delete(&self, id: crate::model::CartId) -> Result<bool>;
    /// Removes carts that expired at or before `at`, at most `limit` of them; returns
    /// how many.
    async fn purge_expired(&self, at: Timestamp, limit: u32) -> Result<u64>;
}

/// Reviews and the ratings derived from them (ADR 0020: in MongoDB).
#[async_trait]
pub trait Reviews: Send + Sync + 'static {
    /// Stores a review; `Conflict` when the customer already reviewed the subject (of
    /// concurrent reviews by one customer of one subject, exactly one is stored).
    async fn insert(&self, review: &crate::model::Review) -> Result<()>;
    async fn get(&self, id: crate::model::ReviewId) -> Result<Option<crate::model::Review>>;
    /// One subject's reviews in `query.sort` order ([`crate::model::ReviewSort::compare`]),
    /// paged.
    async fn list(&self, query: &crate::model::ReviewQuery) -> Result<Page<crate::model::Review>>;
    /// True when there was such a review.
    async fn delete(&self, id: crate::model::ReviewId) -> Result<bool>;
    /// The rating of each of `subjects` that has reviews, counted from the reviews stored
    /// now (so exact under any concurrency), in one round trip.
    async fn summaries(
        &self,
        subjects: &[crate::model::ReviewSubject],
    ) -> Result<Vec<(crate::model::ReviewSubject, crate::model::RatingSummary)>>;
    /// The `limit` products with the highest average rating (ties: more reviews first,
    /// then by id), among those with at least `min_count` reviews.
    async fn top_rated_products(
        &self,
        limit: u32,
        min_count: u64,
    ) -> Result<Vec<(ProductId, crate::model::RatingSummary)>>;
}

/// Warehouses and stock per location (ADR 0022: in the ledger, PostgreSQL). The
/// [`Inventory`] record of a SKU is the sum over its warehouses, kept so by every write;
/// orders reserve from the total and are allocated to warehouses, the one with the most
/// units available first, in the same transaction.
#[async_trait]
pub trait Warehouses: Send + Sync + 'static {
    /// `Conflict` when the code is taken.
    async fn create_warehouse(&self, warehouse: &crate::model::Warehouse) -> Result<()>;
    /// Oldest first (the built-in `default` first of all).
    async fn warehouses(&self, page: PageRequest) -> Result<Page<crate::model::Warehouse>>;
    /// The SKU's units in each warehouse that has a record of it, by code.
    async fn warehouse_levels(&self, sku: &Sku) -> Result<Vec<crate::model::WarehouseLevel>>;
    /// Sets the units available in one warehouse (`on_hand = reserved + available`
    /// there, creating the record), and the total with it; returns the total.
    /// `NotFound("stock")` for a SKU without a record, `NotFound("warehouse")` for an
    /// unknown warehouse.
    async fn set_warehouse_available(
        &self,
        sku: &Sku,
        warehouse: crate::model::WarehouseId,
        available: Units,
    ) -> Result<StockLevel>;
    /// Moves units between two warehouses in one transaction (the total is unchanged);
    /// `InsufficientStock` when `from` has fewer available, changing nothing. Returns the
    /// SKU's levels afterwards.
    async fn transfer(
        &self,
        transfer: &crate::model::Transfer,
    ) -> Result<Vec<crate::model::WarehouseLevel>>;
    /// Records of one warehouse with at most `at_most` units available, lowest first
    /// (ties by SKU).
    async fn low_stock_in(
        &self,
        warehouse: crate::model::WarehouseId,
        at_most: Units,
        page: PageRequest,
    ) -> Result<Page<crate::model::WarehouseLevel>>;
}

/// Bulk loading into the catalog's store (`emporium seed`, ADR 0023): many records per
/// round trip (batched `insert_many` on MongoDB). Each call writes its records or, on a
/// duplicate id or unique key, returns `Conflict`; a batch cut short may have written a
/// prefix, which the caller must treat as loaded. Loaded records are ordinary records
/// afterwards: every other port reads and changes them.
#[async_trait]
pub trait CatalogLoad: Send + Sync + 'static {
    async fn load_suppliers(&self, suppliers: &[Supplier]) -> Result<()>;
    async fn load_products(&self, products: &[Product]) -> Result<()>;
    async fn load_customers(&self, customers: &[crate::model::Customer]) -> Result<()>;
    async fn load_reviews(&self, reviews: &[crate::model::Review]) -> Result<()>;
    /// How many products, customers and reviews the store holds (a seed refuses to load
    /// into a store that is not empty).
    async fn loaded(&self) -> Result<LoadedCounts>;
}

/// Bulk loading into the ledger (`emporium seed`, ADR 0023): `COPY` on PostgreSQL, one
/// transaction per call, so a call writes all its records or none.
#[async_trait]
pub trait LedgerLoad: Send + Sync + 'static {
    /// New stock records with their split over existing warehouses. `Conflict` when a
    /// SKU has a record already or a warehouse does not exist (a reference rule).
    async fn load_stock(&self, stock: &[crate::model::StockLoad]) -> Result<()>;
    /// Settled orders from the past (`confirmed`, `shipped`, `delivered`, `cancelled` or
    /// `failed`, never `pending`), each with its payment, as the saga would have left
    /// them; they hold no stock and publish no events (history is not news). Reports
    /// count them once [`SalesReports::catch_up`] has run. `Conflict` on a known id.
    async fn load_orders(&self, orders: &[Order]) -> Result<()>;
    /// How many orders the ledger holds.
    async fn order_count(&self) -> Result<u64>;
    /// After a bulk load: lets the store catch up with what it now holds (PostgreSQL
    /// refreshes the planner's statistics, without which the first queries over a
    /// freshly loaded table plan as if it were empty).
    async fn finish_load(&self) -> Result<()>;
}

/// What a catalog store holds, counted for [`CatalogLoad::loaded`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadedCounts {
    pub products: u64,
    pub customers: u64,
    pub reviews: u64,
}

/// The order queue (ADR 0016): placements taken while the ledger was unreachable, kept
/// in the store that was up (the catalog's) until a worker places them, oldest first.
#[async_trait]
pub trait OrderQueue: Send + Sync + 'static {
    /// Adds `entry` (`queued`). Idempotent on its id: an entry already there is kept as it
    /// is.
    async fn enqueue(&self, entry: &crate::model::QueuedOrder) -> Result<()>;
    async fn get(&self, id: crate::model::OrderId) -> Result<Option<crate::model::QueuedOrder>>;
    /// In one atomic step: the oldest entry (by `received_at`, then id) that is `queued`,
    /// or `placing` under a claim older than `lease` (its worker died), moved to
    /// `placing` and claimed now. `None` when no entry waits.
    async fn claim_next(
        &self,
        lease: std::time::Duration,
    ) -> Result<Option<crate::model::QueuedOrder>>;
    /// Gives a claimed entry back (`queued`, in its place) when it cannot be placed yet.
    async fn release(&self, id: crate::model::OrderId) -> Result<()>;
    /// Ends an entry: `placed`, or `failed` with the reason. `NotFound` for an unknown id.
    async fn settle(
        &self,
        id: crate::model::OrderId,
        state: crate::model::QueueState,
        reason: Option<&str>,
    ) -> Result<()>;
    /// How many entries wait (`queued` or `placing`).
    async fn waiting(&self) -> Result<u64>;
}

/// The customer id a deleted customer's orders carry.
pub const ANONYMOUS_CUSTOMER: &str = "anonymised";

/// One adapter for every port: what the services run on. Any port can come from any
/// adapter crate, which is how the mixed sets (memory catalog + PostgreSQL ledger, ...) run.
#[derive(Clone)]
pub struct Stores {
    pub catalog: Arc<dyn Catalog>,
    pub suppliers: Arc<dyn Suppliers>,
    pub inventory: Arc<dyn Inventory>,
    pub orders: Arc<dyn Orders>,
    pub payments: Arc<dyn Payments>,
    pub gateway: Arc<dyn PaymentGateway>,
    pub saga_log: Arc<dyn SagaLog>,
    /// The ledger's consistency scans (reconciliation only).
    pub audit: Arc<dyn LedgerAudit>,
    pub idempotency: Arc<dyn IdempotencyKeys>,
    /// The event feed (written by the stores themselves; read by the app's feed).
    pub feed: Arc<dyn EventLog>,
    /// The catalog's change history, for the feed.
    pub catalog_changes: Arc<dyn CatalogChanges>,
    /// The ledger's report figures.
    pub reports: Arc<dyn SalesReports>,
    /// Who called which admin route, and what came of it.
    pub admin_audit: Arc<dyn AdminAudit>,
    /// Placements waiting for the ledger (in the catalog's store).
    pub order_queue: Arc<dyn OrderQueue>,
    /// Registered customers (in the catalog's store).
    pub customers: Arc<dyn Customers>,
    /// The category tree (in the catalog's store).
    pub categories: Arc<dyn Categories>,
    /// Shopping carts (in the catalog's store).
    pub carts: Arc<dyn Carts>,
    /// Reviews of products and suppliers (in the catalog's store).
    pub reviews: Arc<dyn Reviews>,
    /// Warehouses and stock per location (in the ledger).
    pub warehouses: Arc<dyn Warehouses>,
    /// Bulk loading into the catalog's store (`emporium seed`): the adapter itself,
    /// never behind the cache.
    pub catalog_load: Arc<dyn CatalogLoad>,
    /// Bulk loading into the ledger: the adapter itself, never behind the fail-fast wrapper.
    pub ledger_load: Arc<dyn LedgerLoad>,
}

/// One store's side of backup and restore (ADR 0015). The [`BackupService`] calls `base`,
/// then `mark` for every store with the server's writes paused (the consistent point),
/// then `seal`; a restore calls `restore` and then `counts`.
///
/// [`BackupService`]: crate::service::BackupService
#[async_trait]
pub trait StoreBackup: Send + Sync + 'static {
    /// This store's key in manifests and positions: `postgres`, `mongodb` or `memory`.
    fn store(&self) -> &'static str;
    /// The slow part, before the consistent point: a base copy (into `dir`, this store's
    /// directory in the backup, or the store's own backup tool's repository).
    async fn base(&self, dir: &std::path::Path, kind: BackupType) -> Result<()>;
    /// Where the store is now. Called with writes paused: must be quick. The counts may
    /// be left for `seal`, as of this moment.
    async fn mark(&self, label: &str) -> Result<Mark>;
    /// After the point: whatever makes the base copy reach `mark` (the WAL or oplog that
    /// leads there) is made durable, and `mark.counts` completed as of the mark. Returns
    /// the tool that wrote the backup (with its version) and the bytes kept outside `dir`.
    async fn seal(&self, dir: &std::path::Path, mark: &mut Mark) -> Result<(String, u64)>;
    /// A backup failed after `mark` and before (or during) `seal`: let go of whatever the
    /// mark holds (a snapshot kept open would hold back the store's cleanup).
    async fn abandon(&self) {}
    /// Puts the store back where `part` says, from the files in `dir`. Everything the
    /// store holds now is replaced.
    async fn restore(&self, dir: &std::path::Path, part: &StoreManifest) -> Result<()>;
    /// Rows or documents per table or collection now, with the keys `mark` counts.
    async fn counts(&self) -> Result<std::collections::BTreeMap<String, u64>>;
    /// Copies the store's log (what point-in-time recovery replays) into `archive`, this
    /// store's folder in the repository, from `since` (the oldest backup's position for
    /// this store) or from where the last call stopped. A no-op for a store whose own tool
    /// archives continuously (pgBackRest), or that keeps no log (memory).
    async fn archive(&self, archive: &std::path::Path, since: &serde_json::Value) -> Result<()>;
    /// Until when the store can be recovered, called right after `archive` copied its log
    /// up to now (a store whose own tool archives makes sure of it here); `None` when it
    /// keeps no log and can only go back to whole backups.
    async fn recoverable_until(&self, archive: &std::path::Path) -> Result<Option<Timestamp>>;
    /// Whether the archived log reaches without a gap from a backup at `from` (a
    /// position this store wrote) to `target`; [`Error::OutsideWindow`] naming the gap
    /// when it does not. Checked before a recovery touches anything. By default the
    /// store's own tool vouches for its archive.
    async fn reaches(
        &self,
        _archive: &std::path::Path,
        _from: &serde_json::Value,
        _target: Timestamp,
    ) -> Result<()> {
        Ok(())
    }
    /// Puts the store back as it was at `target`: the base copy of `part` (in `dir`), then
    /// its archived log replayed up to `target`.
    async fn restore_to(
        &self,
        dir: &std::path::Path,
        part: &StoreManifest,
        archive: &std::path::Path,
        target: Timestamp,
    ) -> Result<()>;
}

/// One store's side of a snapshot (ADR 0024): a filesystem-level copy of the data
/// directory of a store that runs on this host, taken in the same three phases as a
/// backup. `begin` copies what can be copied with writes flowing (PostgreSQL's data files
/// under a backup label); `point` is called for every store with the server's writes
/// paused and makes the copy reach that moment (`pg_backup_stop`; MongoDB's `fsyncLock`,
/// copy, unlock); `complete` adds what recovery needs to reach it (the WAL) and records
/// sizes and the tool.
#[async_trait]
pub trait StoreSnapshot: Send + Sync + 'static {
    /// This store's key in the snapshot's manifest: `postgres`, `mongodb` or `memory`.
    fn store(&self) -> &'static str;
    /// Whether a snapshot can be taken here at all (the data directory is on this host and
    /// readable); [`Error::Conflict`] saying why not. Checked before the job starts.
    async fn ready(&self) -> Result<()>;
    async fn begin(&self, dir: &std::path::Path) -> Result<()>;
    async fn point(&self, dir: &std::path::Path, label: &str) -> Result<Mark>;
    /// The tool that wrote the copy, with its version.
    async fn complete(&self, dir: &std::path::Path, mark: &mut Mark) -> Result<String>;
    /// The snapshot failed after `begin`: let go of what it holds (a backup in progress).
    async fn abandon(&self) {}
}

/// The catalog's store as a cluster (ADR 0025): its replica set, and its shards when it
/// runs behind a router. Reports what MongoDB's own replication and sharding do, and asks
/// them to move chunks; never a layer of its own.
#[async_trait]
pub trait CatalogTopology: Send + Sync + 'static {
    /// `None` when the server is not a replica set member.
    async fn replica_set(&self) -> Result<Option<crate::model::ReplicaSetStatus>>;
    /// [`Error::NotSharded`] when the catalog is not behind a sharded cluster's router.
    async fn shard_status(&self) -> Result<crate::model::ShardStatus>;
    /// Moves a chunk (`moveChunk`) or a range (`moveRange`); the router's reply.
    async fn move_chunk(&self, chunk: &crate::model::ChunkMove) -> Result<serde_json::Value>;
    /// Starts or stops the balancer; its status afterwards.
    async fn set_balancer(&self, enabled: bool) -> Result<crate::model::BalancerStatus>;
    /// The `limit` slowest operations MongoDB's profiler recorded in the catalog's
    /// database; `None` while the profiler is off (`profile` level 0, the default).
    async fn slow_operations(&self, limit: u32)
        -> Result<Option<Vec<crate::model::SlowOperation>>>;
}

/// The ledger's store as a cluster (ADR 0025): its role and its standbys.
#[async_trait]
pub trait LedgerTopology: Send + Sync + 'static {
    async fn replication(&self) -> Result<crate::model::PgReplicationStatus>;
    /// The connection pool now.
    fn pool(&self) -> crate::model::PoolUsage;
    /// How long taking a connection from the pool takes now: the wait a request would see
    /// (sqlx keeps no wait statistics, so the scrape measures one).
    async fn acquire_wait(&self) -> Result<std::time::Duration>;
    /// Deadlocks the server reported in this database since its statistics were reset.
    async fn deadlocks(&self) -> Result<u64>;
    /// The `limit` statements slowest on average, from `pg_stat_statements`; `None` when
    /// the extension is not installed in the database.
    async fn slow_queries(&self, limit: u32) -> Result<Option<Vec<crate::model::SlowQuery>>>;
}

/// Where backups are kept: one directory per backup, a manifest with a checksum per file.
#[async_trait]
pub trait BackupRepository: Send + Sync + 'static {
    /// The directory `store` writes its part of backup `id` into (created when missing).
    async fn store_dir(&self, id: JobId, store: &str) -> Result<std::path::PathBuf>;
    /// Every file in `store`'s directory of backup `id`, with its size and SHA-256.
    async fn files(&self, id: JobId, store: &str) -> Result<Vec<BackupFile>>;
    async fn save_manifest(&self, manifest: &Manifest) -> Result<()>;
    async fn manifest(&self, id: JobId) -> Result<Option<Manifest>>;
    /// The newest backup with a manifest (a backup has one only once it succeeded).
    async fn latest(&self) -> Result<Option<Manifest>>;
    /// Every backup with a manifest, oldest consistent point first.
    async fn manifests(&self) -> Result<Vec<Manifest>>;
    /// The folder `store` archives its log into (created when missing).
    async fn archive_dir(&self, store: &str) -> Result<std::path::PathBuf>;
    /// The files of `manifest` that are missing or whose size or checksum differ.
    async fn damaged(&self, manifest: &Manifest) -> Result<Vec<String>>;
    /// The directory `store` copies its data directory into for snapshot `id` (created
    /// when missing). Snapshots are kept apart from backups: a restore never picks one.
    async fn snapshot_dir(&self, id: JobId, store: &str) -> Result<std::path::PathBuf>;
    /// Every file in `store`'s part of snapshot `id`, with its size and SHA-256.
    async fn snapshot_files(&self, id: JobId, store: &str) -> Result<Vec<BackupFile>>;
    /// Writes the snapshot's manifest beside its copies.
    async fn save_snapshot_manifest(&self, manifest: &Manifest) -> Result<()>;
}

/// The backup log: every backup, restore, snapshot and PITR job. It must live outside what
/// a restore rolls back.
#[async_trait]
pub trait JobLog: Send + Sync + 'static {
    /// Inserts or replaces the job with this id.
    async fn save(&self, job: &Job) -> Result<()>;
    async fn get(&self, id: JobId) -> Result<Option<Job>>;
    /// Newest first.
    async fn list(&self, page: PageRequest) -> Result<Page<Job>>;
}
