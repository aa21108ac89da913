//! `MongoCatalog` passes the shared contract suite as the catalog, supplier and order queue
//! ports; every
//! other port comes from the memory adapters. Each case gets its own database on the
//! harness's server, dropped with the fixture.

use std::sync::Arc;

emporium_testkit::contract_suite!(async {
    let db = emporium_testkit::harness::mongo::create()
        .await
        .expect("a test MongoDB");
    let catalog = emporium_mongo::MongoCatalog::connect(&db.uri, &db.db)
        .await
        .expect("connects");
    catalog.init().await.expect("init");
    let catalog = Arc::new(catalog);
    let mut stores = emporium_memory::memory_stores();
    stores.catalog = catalog.clone();
    stores.suppliers = catalog.clone();
    stores.catalog_changes = catalog.clone();
    stores.order_queue = catalog.clone();
    stores.categories = catalog.clone();
    stores.carts = catalog.clone();
    stores.reviews = catalog.clone();
    stores.catalog_load = catalog.clone();
    stores.customers = catalog;
    emporium_testkit::Fixture::new(stores).guard(db)
});
