//! The tantivy index against the index contract, and the search service's upkeep of it
//! over the memory stores.

use emporium_domain::model::{DomainEvent, EventKind, Name, SearchQuery, Units};
use emporium_domain::ports::{ProductIndex, Stores};
use emporium_domain::service::{PendingUpdates, SearchService};
use emporium_domain::Error;
use emporium_search::TantivyIndex;
use emporium_testkit::contract::{run, stocked, text_search};
use std::sync::Arc;

emporium_testkit::index_contract_suite!(|| async {
    Arc::new(TantivyIndex::new().expect("index")) as Arc<dyn ProductIndex>
});

fn service() -> (Stores, SearchService) {
    let stores = emporium_memory::memory_stores();
    let index = Arc::new(TantivyIndex::new().expect("index"));
    (stores.clone(), SearchService::new(stores, index))
}

async fn names(search: &SearchService, query: &SearchQuery) -> Vec<String> {
    search
        .list(query)
        .await
        .expect("search")
        .items
        .into_iter()
        .map(|r| r.view.product.name.as_str().to_owned())
        .collect()
}

#[test]
fn search_is_unavailable_until_the_index_is_built_but_plain_listings_are_not() {
    run(async {
        let (stores, search) = service();
        stocked(&stores, "Desk lamp", "10.00", 3).await;
        assert!(matches!(
            search.list(&text_search("lamp")).await,
            Err(Error::Unavailable(_))
        ));
        assert_eq!(names(&search, &SearchQuery::default()).await, ["Desk lamp"]);
        assert_eq!(search.rebuild().await.unwrap(), 1);
        assert_eq!(names(&search, &text_search("lamp")).await, ["Desk lamp"]);
    });
}

#[test]
fn rebuild_indexes_the_stores_and_drops_what_left_the_catalog() {
    run(async {
        let (stores, search) = service();
        let lamp = stocked(&stores, "Desk lamp", "10.00", 3).await;
        let kettle = stocked(&stores, "Kettle lamp", "20.00", 0).await;
        search.rebuild().await.unwrap();
        let in_stock = SearchQuery {
            in_stock: Some(true),
            ..text_search("lamp")
        };
        assert_eq!(names(&search, &in_stock).await, ["Desk lamp"]);
        let page = search.list(&text_search("lamp")).await.unwrap();
        assert_eq!(page.total, 2);
        assert!(page.items.iter().all(|r| r.score.is_some()));
        let desk = page
            .items
            .iter()
            .find(|r| r.view.product.id == lamp.id)
            .unwrap();
        assert_eq!(desk.view.available(), 3, "stock comes from the ledger");

        stores.catalog.delete(kettle.id).await.unwrap();
        search.rebuild().await.unwrap();
        assert_eq!(names(&search, &text_search("lamp")).await, ["Desk lamp"]);
    });
}

#[test]
fn feed_events_bring_the_index_up_to_date() {
    run(async {
        let (stores, search) = service();
        let lamp = stocked(&stores, "Desk lamp", "10.00", 3).await;
        search.rebuild().await.unwrap();

        // A new product, a renamed one, and stock running out.
        let kettle = stocked(&stores, "Kettle", "20.00", 5).await;
        let mut renamed = lamp.clone();
        renamed.name = Name::parse("Reading light").unwrap();
        stores.catalog.replace(&renamed).await.unwrap();
        stores
            .inventory
            .set_available(&lamp.sku, Units::new(0).unwrap())
            .await
            .unwrap();
        let mut pending = PendingUpdates::default();
        pending.note(&DomainEvent::product(EventKind::ProductCreated, &kettle));
        pending.note(&DomainEvent::product(EventKind::ProductUpdated, &renamed));
        pending.note(&DomainEvent::stock_changed(lamp.id, 0, 0));
        assert!(!pending.is_empty());
        search.apply(&pending).await.unwrap();
        assert_eq!(names(&search, &text_search("kettle")).await, ["Kettle"]);
        assert_eq!(
            names(&search, &text_search("reading")).await,
            ["Reading light"]
        );
        let out_of_stock = SearchQuery {
            in_stock: Some(false),
            ..text_search("reading")
        };
        assert_eq!(names(&search, &out_of_stock).await, ["Reading light"]);

        // An event's payload is never trusted: a stale stock reading re-reads the ledger.
        let mut stale = PendingUpdates::default();
        stale.note(&DomainEvent::stock_changed(lamp.id, 7, 0));
        search.apply(&stale).await.unwrap();
        assert_eq!(
            names(&search, &out_of_stock).await,
            ["Reading light"],
            "the ledger says 0"
        );

        // Deleted from the catalog: gone from the index.
        stores.catalog.delete(kettle.id).await.unwrap();
        let mut deleted = PendingUpdates::default();
        deleted.note(&DomainEvent::product_deleted(kettle.id));
        search.apply(&deleted).await.unwrap();
        assert!(names(&search, &text_search("kettle")).await.is_empty());
    });
}
