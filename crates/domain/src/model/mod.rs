//! Domain entities and value types.

mod admin;
mod backup;
mod cart;
mod category;
mod customer;
mod event;
mod idempotency;
mod ids;
mod inventory;
mod money;
mod order;
mod page;
mod payment;
mod product;
mod queue;
mod report;
mod review;
mod saga;
mod search;
mod supplier;
mod text;
mod topology;
mod warehouse;

pub use admin::{AdminScope, AuditEntry};
pub use backup::{BackupFile, BackupType, Job, JobKind, JobStatus, Manifest, Mark, StoreManifest};
pub use cart::{Cart, CartLine, PriceChange, MAX_CART_LINES};
pub use category::{
    CategoryInput, CategoryNode, CategoryScope, CategoryTree, Slug, MAX_CATEGORIES, MAX_DEPTH,
    MAX_PRODUCT_CATEGORIES,
};
pub use customer::{
    Address, AddressInput, Customer, CustomerInput, Email, Recommendation, Recommendations,
    MAX_ADDRESSES,
};
pub use event::{DomainEvent, EventKind, FeedEvent, Replay, ResumeToken, Seq, Topic};
pub use idempotency::{IdempotencyKey, KeyedOutcome, Refusal, RequestFingerprint};
pub use ids::{
    CartId, CategoryId, JobId, OrderId, PaymentId, ProductId, ReviewId, SagaId, SupplierId,
    WarehouseId,
};
pub use inventory::{StockLevel, Units};
pub use money::{Currency, Money, MAX_AMOUNT};
pub use order::{
    NewOrder, Order, OrderInput, OrderItem, OrderQuery, OrderRequest, OrderStatus, PaymentToken,
    Quantity, MAX_ORDER_LINES,
};
pub use page::{Page, PageRequest};
pub use payment::{Payment, PaymentStatus};
pub use product::{
    parse_attributes, AttrFilter, Attributes, NewProduct, Product, ProductInput, ProductPatch,
    ProductQuery, ProductSort, Variant, VariantInput,
};
pub use queue::{QueueState, QueuedOrder};
pub use report::{
    is_sale, CategorySales, LowStock, ProductSales, PurchaseAffinity, Revenue, SalesWindow,
    SupplierSales,
};
pub use review::{
    RatingSummary, Review, ReviewInput, ReviewQuery, ReviewSort, ReviewSubject, Stars,
};
pub use saga::{SagaEntry, SagaKind, SagaRecord, SagaState, StepOutcome};
pub use search::{
    attribute_values, cents_to_decimal, price_bucket_bounds, price_cents, FacetCounts, FacetField,
    Facets, IndexEntry, PriceBucket, SearchHit, SearchQuery, SearchSort, ValueCount,
    MAX_FACET_VALUES,
};
pub use supplier::{Contact, NewSupplier, Supplier, SupplierInput, SupplierPatch};
pub use text::{Category, CustomerId, Description, Name, Region, Sku, Tag};
pub use topology::{
    BalancerStatus, ChunkMove, ChunkSelector, PgReplicationStatus, PgSlot, PgStandby, PoolUsage,
    ReplicaMember, ReplicaSetStatus, Shard, ShardStatus, ShardedCollection, SlowOperation,
    SlowQuery,
};
pub use warehouse::{
    allocate, StockLoad, Transfer, Warehouse, WarehouseCode, WarehouseInput, WarehouseLevel,
    WarehouseMismatch,
};

/// Wall-clock timestamps are UTC everywhere.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// Now, truncated to milliseconds so a value survives a round trip through PostgreSQL
/// and MongoDB unchanged.
pub fn now() -> Timestamp {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(3)
}
