//! The event feed: the stores record their own changes, the relay gives them increasing
//! positions, followers of the catalog's change history record each change once, and the
//! replay window says when a reader has missed something.

use super::support::{new_order, product, supplier};
use emporium_domain::model::{now, EventKind, FeedEvent, ResumeToken, Seq, Units};
use emporium_domain::ports::{EventLog, Stores};
use std::time::Duration;

/// Relays and reads everything after `after` until `want` matches, for up to 10 s.
async fn events_until(
    feed: &dyn EventLog,
    after: Seq,
    want: impl Fn(&[FeedEvent]) -> bool,
) -> Vec<FeedEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        feed.relay().await.expect("relay");
        let read = feed.read_after(after, 1000).await.expect("read");
        if want(&read.events) || tokio::time::Instant::now() > deadline {
            return read.events;
        }
        feed.wait(Duration::from_millis(100)).await;
    }
}

fn kinds_of(events: &[FeedEvent], id: uuid::Uuid) -> Vec<EventKind> {
    events
        .iter()
        .filter(|e| e.event.id == id)
        .map(|e| e.event.kind)
        .collect()
}

pub async fn feed_publishes_ledger_changes_with_increasing_positions(stores: &Stores) {
    let feed = stores.feed.as_ref();
    feed.relay().await.expect("relay");
    let start = feed.head().await.expect("head");
    let p = product("Feed lamp", "lamps", "12.00");
    stores
        .inventory
        .create_stock(&p.sku, p.id, Units::new(5).unwrap())
        .await
        .expect("stock");
    let order = new_order("feed-customer", &[(&p, 2)]);
    stores.orders.create_pending(&order).await.expect("reserve");
    stores.orders.confirm(order.id).await.expect("confirm");

    let events = events_until(feed, start, |e| {
        kinds_of(e, order.id.as_uuid()).len() >= 2 && kinds_of(e, p.id.as_uuid()).len() >= 3
    })
    .await;
    assert_eq!(
        kinds_of(&events, order.id.as_uuid()),
        [EventKind::OrderCreated, EventKind::OrderUpdated]
    );
    let stock: Vec<(u64, u64)> = events
        .iter()
        .filter(|e| e.event.id == p.id.as_uuid())
        .map(|e| {
            (
                e.event.data["stock"].as_u64().expect("stock"),
                e.event.data["reserved"].as_u64().expect("reserved"),
            )
        })
        .collect();
    // Created with 5, 2 reserved, then 2 sold: each change as it happened.
    assert_eq!(stock, [(5, 0), (3, 2), (3, 0)]);
    let updated = events
        .iter()
        .find(|e| e.event.kind == EventKind::OrderUpdated)
        .expect("order.updated");
    assert_eq!(updated.event.data["status"], "confirmed");
    assert_eq!(updated.event.data["total"], "24.00");
    assert!(
        events.windows(2).all(|w| w[0].seq < w[1].seq),
        "positions grow along the feed: {:?}",
        events.iter().map(|e| e.seq).collect::<Vec<_>>()
    );
    assert!(events.iter().all(|e| e.seq > start));

    // Reading after the last one gives nothing; after the first, all but it.
    let last = events.last().expect("events").seq;
    assert_eq!(feed.head().await.expect("head"), last);
    assert!(feed
        .read_after(last, 10)
        .await
        .expect("read")
        .events
        .is_empty());
    let rest = feed.read_after(events[0].seq, 1000).await.expect("read");
    assert_eq!(rest.events.len(), events.len() - 1);
    assert!(!rest.truncated);
    // A page is the oldest events first.
    let page = feed.read_after(start, 2).await.expect("read");
    assert_eq!(page.events, events[..2]);
}

pub async fn feed_records_catalog_changes_once_each(stores: &Stores) {
    let feed = stores.feed.clone();
    feed.relay().await.expect("relay");
    let start = feed.head().await.expect("head");
    let follower = {
        let (changes, feed) = (stores.catalog_changes.clone(), feed.clone());
        tokio::spawn(async move { changes.follow(feed.as_ref()).await })
    };
    // A second follower of the same history: each change must still appear once.
    let second = {
        let (changes, feed) = (stores.catalog_changes.clone(), feed.clone());
        tokio::spawn(async move { changes.follow(feed.as_ref()).await })
    };
    // Followers start from "now": give them a moment to open their streams.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut p = product("Feed chair", "chairs", "80.00");
    stores.catalog.insert(&p).await.expect("insert");
    p.name = emporium_domain::model::Name::parse("Feed chair, oak").expect("name");
    stores.catalog.replace(&p).await.expect("replace");
    stores.catalog.delete(p.id).await.expect("delete");
    let mut s = supplier("Feed timber");
    stores.suppliers.insert(&s).await.expect("insert supplier");
    s.name = emporium_domain::model::Name::parse("Feed timber and sons").expect("name");
    stores
        .suppliers
        .replace(&s)
        .await
        .expect("replace supplier");
    stores
        .suppliers
        .delete(s.id)
        .await
        .expect("delete supplier");

    events_until(feed.as_ref(), start, |e| {
        kinds_of(e, p.id.as_uuid()).len() >= 3 && kinds_of(e, s.id.as_uuid()).len() >= 3
    })
    .await;
    // Let a late duplicate show up if there were going to be one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = events_until(feed.as_ref(), start, |_| true).await;
    follower.abort();
    second.abort();
    assert_eq!(
        kinds_of(&events, p.id.as_uuid()),
        [
            EventKind::ProductCreated,
            EventKind::ProductUpdated,
            EventKind::ProductDeleted
        ]
    );
    let updated = events
        .iter()
        .find(|e| e.event.kind == EventKind::ProductUpdated)
        .expect("updated");
    assert_eq!(updated.event.data["name"], "Feed chair, oak");
    assert_eq!(updated.event.data["price"], "80.00");
    assert_eq!(
        kinds_of(&events, s.id.as_uuid()),
        [
            EventKind::SupplierCreated,
            EventKind::SupplierUpdated,
            EventKind::SupplierDeleted
        ]
    );
    let renamed = events
        .iter()
        .find(|e| e.event.kind == EventKind::SupplierUpdated)
        .expect("supplier updated");
    assert_eq!(renamed.event.data["name"], "Feed timber and sons");
}

pub async fn feed_external_records_move_the_cursor_only_from_where_it_was(stores: &Stores) {
    let feed = stores.feed.as_ref();
    let source = "contract.source";
    let (t1, t2) = (ResumeToken(vec![1]), ResumeToken(vec![2]));
    let p = product("Feed desk", "desks", "1.00");
    let event = emporium_domain::model::DomainEvent::product(EventKind::ProductCreated, &p);
    assert_eq!(feed.resume_token(source).await.expect("token"), None);
    assert!(feed
        .record_external(source, std::slice::from_ref(&event), None, &t1)
        .await
        .expect("first"));
    // Someone else's view of the cursor (not where it is) records nothing.
    assert!(!feed
        .record_external(source, std::slice::from_ref(&event), None, &t2)
        .await
        .expect("stale"));
    assert!(!feed
        .record_external(source, std::slice::from_ref(&event), Some(&t2), &t2)
        .await
        .expect("stale"));
    assert_eq!(
        feed.resume_token(source).await.expect("token"),
        Some(t1.clone())
    );
    // Several changes in one call: recorded in the order given.
    let updated = emporium_domain::model::DomainEvent::product(EventKind::ProductUpdated, &p);
    let deleted = emporium_domain::model::DomainEvent::product_deleted(p.id);
    assert!(feed
        .record_external(source, &[updated, deleted], Some(&t1), &t2)
        .await
        .expect("next"));
    assert_eq!(
        feed.resume_token(source).await.expect("token"),
        Some(t2.clone())
    );
    // A follower: another follower that recorded the same change first is fine; a
    // cursor anywhere else (moved back by a restore) sends it back to the cursor.
    feed.record_following(source, &[], Some(&t1), &t2)
        .await
        .expect("recorded by another follower");
    let t3 = ResumeToken(vec![3]);
    assert!(matches!(
        feed.record_following(source, &[], Some(&t1), &t3).await,
        Err(emporium_domain::Error::Conflict(_))
    ));
    assert_eq!(feed.resume_token(source).await.expect("token"), Some(t2));
    feed.relay().await.expect("relay");
    let recorded = feed.read_after(Seq(0), 10_000).await.expect("read");
    assert_eq!(
        kinds_of(&recorded.events, p.id.as_uuid()),
        [
            EventKind::ProductCreated,
            EventKind::ProductUpdated,
            EventKind::ProductDeleted
        ]
    );
}

pub async fn feed_prunes_old_events_and_says_a_reader_missed_them(stores: &Stores) {
    let feed = stores.feed.as_ref();
    let p = product("Feed rug", "rugs", "3.00");
    stores
        .inventory
        .create_stock(&p.sku, p.id, Units::new(1).unwrap())
        .await
        .expect("stock");
    feed.relay().await.expect("relay");
    let head = feed.head().await.expect("head");
    assert!(head > Seq(0));
    assert!(!feed.read_after(Seq(0), 10).await.expect("read").truncated);

    let pruned = feed
        .prune(now() + chrono::Duration::seconds(1))
        .await
        .expect("prune");
    assert!(pruned >= 1);
    let old = feed.read_after(Seq(0), 10).await.expect("read");
    assert!(
        old.truncated,
        "a reader from before the window missed events"
    );
    assert!(old.events.is_empty());
    let current = feed.read_after(head, 10).await.expect("read");
    assert!(!current.truncated, "a reader at the head missed nothing");

    // New events get later positions than the pruned ones.
    stores
        .inventory
        .set_available(&p.sku, Units::new(4).unwrap())
        .await
        .expect("set");
    let next = events_until(feed, head, |e| !e.is_empty()).await;
    assert!(next[0].seq > head);
    assert_eq!(next[0].event.data["stock"], 4);
}
