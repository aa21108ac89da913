//! What every handler can reach: the services, the health probes and the admin token.

use crate::backend::Backend;
use emporium_domain::service::{
    AuditService, BackupService, CatalogService, OrderService, RecoveryService, ReportService,
    SearchService, SupplierService,
};

/// Shared, cheaply clonable application state. Handlers reach the stores only through the
/// services (the use cases); the backend is here for health probes.
#[derive(Clone)]
pub struct AppState {
    pub catalog: CatalogService,
    /// Listings with text or a stock filter, and facets.
    pub search: SearchService,
    pub suppliers: SupplierService,
    pub customers: emporium_domain::service::CustomerService,
    pub categories: emporium_domain::service::CategoryService,
    pub carts: emporium_domain::service::CartService,
    pub reviews: emporium_domain::service::ReviewService,
    pub recommendations: emporium_domain::service::RecommendationService,
    pub warehouses: emporium_domain::service::WarehouseService,
    pub orders: OrderService,
    pub recovery: RecoveryService,
    pub reports: ReportService,
    pub backend: std::sync::Arc<Backend>,
    /// The audit log of admin calls.
    pub audit: AuditService,
    /// Who may call `/api/admin/*` (empty: the routes are off).
    pub admin_tokens: crate::admin_auth::AdminTokens,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The live event feed of `GET /api/ws`.
    pub feed: std::sync::Arc<crate::feed::FeedHub>,
    /// Backups and restores of both stores, and the write gate they close.
    pub backups: BackupService,
    /// The catalog cache that answers while MongoDB is down (its hit rate).
    pub catalog_cache: Option<std::sync::Arc<emporium_resilience::CachingCatalog>>,
    /// The catalog's replica set and shards (MongoDB only).
    pub catalog_topology: Option<std::sync::Arc<dyn emporium_domain::ports::CatalogTopology>>,
    /// The ledger's standbys (PostgreSQL only).
    pub ledger_topology: Option<std::sync::Arc<dyn emporium_domain::ports::LedgerTopology>>,
    /// Queue orders while PostgreSQL is unreachable without waiting for `Prefer:
    /// respond-async` (ADR 0016).
    pub queue_orders_when_ledger_down: bool,
}

impl AppState {
    pub fn new(
        backend: Backend,
        admin_tokens: crate::admin_auth::AdminTokens,
        backup_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let stores = backend.stores.clone();
        let metrics = backend.metrics.clone();
        let feed = std::sync::Arc::new(crate::feed::FeedHub::new(
            stores.feed.clone(),
            metrics.clone(),
            backend.cache.clone(),
        ));
        let index = emporium_search::TantivyIndex::new()?;
        // The index's upkeep reads every product it indexes: from the catalog itself, so
        // the cache stays what clients recently read (ADR 0007).
        let mut search = SearchService::new(stores.clone(), std::sync::Arc::new(index))
            .with_upkeep_catalog(backend.uncached_catalog.clone());
        if let Some(browse) = &backend.browse_catalog {
            search = search.with_browse_catalog(browse.clone());
        }
        let backups = crate::backups::service(&backend, backup_dir)
            .with_listener(std::sync::Arc::new(search.clone()));
        Ok(AppState {
            catalog_topology: backend.catalog_topology.clone(),
            catalog_cache: backend.cache.clone(),
            ledger_topology: backend.ledger_topology.clone(),
            catalog: match &backend.browse_catalog {
                Some(browse) => {
                    CatalogService::new(stores.clone()).with_browse_catalog(browse.clone())
                }
                None => CatalogService::new(stores.clone()),
            },
            search,
            backups,
            suppliers: SupplierService::new(stores.clone()),
            customers: emporium_domain::service::CustomerService::new(stores.clone()),
            categories: emporium_domain::service::CategoryService::new(stores.clone()),
            reviews: emporium_domain::service::ReviewService::new(stores.clone()),
            recommendations: emporium_domain::service::RecommendationService::new(stores.clone()),
            warehouses: emporium_domain::service::WarehouseService::new(stores.clone()),
            carts: emporium_domain::service::CartService::new(
                stores.clone(),
                emporium_domain::service::DEFAULT_CART_TTL,
            ),
            audit: AuditService::new(stores.clone()),
            orders: OrderService::new(stores.clone()),
            reports: ReportService::new(stores.clone()),
            recovery: RecoveryService::new(stores),
            backend: std::sync::Arc::new(backend),
            admin_tokens,
            metrics,
            feed,
            queue_orders_when_ledger_down: false,
        })
    }
}
