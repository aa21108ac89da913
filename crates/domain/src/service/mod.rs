//! Services: the use cases, written against the ports only.

mod audit;
mod backup;
mod carts;
mod catalog;
mod categories;
mod customers;
mod orders;
mod recommendations;
mod reconcile;
mod recovery;
mod reports;
mod reviews;
pub mod sagas;
mod search;
mod suppliers;
mod warehouses;

pub use audit::AuditService;
pub use backup::{
    BackupService, JobRequest, RestoreListener, RestoreRequest, WriteGate, WritePass, PAUSE_TIMEOUT,
};
pub use carts::{CartService, Checkout, CART_PURGE_BATCH, DEFAULT_CART_TTL};
pub use catalog::{CatalogService, ProductView};
pub use categories::{CategoryService, CategoryView};
pub use customers::CustomerService;
pub use orders::{
    KeyedPlacement, OrderService, Placement, GATEWAY_TIMEOUT, IDEMPOTENCY_LEASE, IDEMPOTENCY_TTL,
    QUEUE_LEASE,
};
pub use recommendations::{
    RecommendationService, RecommendationStats, Served, RECOMMENDATIONS_MAX_AGE,
    STORED_RECOMMENDATIONS,
};
pub use reconcile::{
    Finding, FindingKind, Mode, ReconciliationReport, ReconciliationService, Resolution, Scanned,
    Summary,
};
pub use recovery::{RecoveryReport, RecoveryService};
pub use reports::{
    CategoryRollup, LowStockRule, ProductSalesLine, ReportService, SupplierPerformance,
};
pub use reviews::{Requester, ReviewService};
pub use search::{PendingUpdates, RankedProduct, SearchService};
pub use suppliers::{SupplierService, SupplierView};
pub use warehouses::{StockBreakdown, WarehouseService};
