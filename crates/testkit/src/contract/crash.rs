//! Every saga, crashed after every step and during compensation, then recovered.
//!
//! A crash here is [`failpoint::crash_at`]: the saga's future is dropped at the fail point,
//! so nothing after it runs, exactly as when the process dies there; the stores keep what
//! was committed. Recovery (as a restarted process runs it) must then leave stock, orders,
//! payments and the catalog as the saga's rules say, and the saga finished.

use super::support::{level, order_request, stocked, unique_sku};
use emporium_domain::failpoint;
use emporium_domain::model::{
    OrderId, OrderStatus, PaymentStatus, ProductId, ProductInput, SagaEntry, SagaState, Sku,
    StepOutcome, Units,
};
use emporium_domain::ports::Stores;
use emporium_domain::service::{CatalogService, OrderService, RecoveryService};
use std::future::Future;
use uuid::Uuid;

/// Runs `work` until `failpoint` kills it; fails the test when it is never reached.
async fn crash<F: Future>(failpoint: &str, work: F) {
    assert!(
        failpoint::crash_at(failpoint, work).await.is_none(),
        "fail point {failpoint} was never reached"
    );
}

/// Recovery as a restarted process runs it: every unfinished saga counts as abandoned.
async fn recover(stores: &Stores) {
    RecoveryService::new(stores.clone())
        .recover(std::time::Duration::ZERO)
        .await
        .expect("recovery pass");
}

/// The state of the one saga about `subject`.
async fn saga_state(stores: &Stores, subject: Uuid) -> SagaState {
    let mut found = Vec::new();
    for state in [
        SagaState::Running,
        SagaState::Compensating,
        SagaState::Stuck,
        SagaState::Completed,
        SagaState::Compensated,
    ] {
        for saga in stores.saga_log.in_state(state, 10_000).await.unwrap() {
            if saga.subject == subject {
                found.push(saga.state);
            }
        }
    }
    assert_eq!(found.len(), 1, "one saga about {subject}: {found:?}");
    found[0]
}

pub async fn placement_recovers_from_a_crash_after_every_step(stores: &Stores) {
    use OrderStatus::*;
    let cases = [
        // Before the pivot: compensated, nothing charged.
        (
            "place_order.after_reserve_stock",
            "tok_visa",
            Failed,
            (10, 0),
            None,
        ),
        // After the pivot: forward.
        (
            "place_order.after_authorize_payment",
            "tok_visa",
            Confirmed,
            (8, 0),
            Some(PaymentStatus::Authorized),
        ),
        (
            "place_order.after_confirm_order",
            "tok_visa",
            Confirmed,
            (8, 0),
            Some(PaymentStatus::Authorized),
        ),
        // Dead while compensating a decline: the compensation is finished.
        (
            "place_order.during_compensation",
            "tok_chargeDeclined",
            Failed,
            (10, 0),
            Some(PaymentStatus::Declined),
        ),
    ];
    let service = OrderService::new(stores.clone());
    for (failpoint, token, status, stock, payment) in cases {
        let p = stocked(stores, "Crash", "12.34", 10).await;
        let id = OrderId::new();
        crash(
            failpoint,
            service.place(id, order_request(&[(&p, 2)], token)),
        )
        .await;
        recover(stores).await;
        let order = stores.orders.get(id).await.unwrap().expect("order");
        assert_eq!(order.status, status, "{failpoint}");
        assert_eq!(
            order.payment.as_ref().map(|p| p.status),
            payment,
            "{failpoint}"
        );
        if let Some(paid) = &order.payment {
            assert_eq!(paid.amount.to_string(), "24.68", "{failpoint}");
        }
        assert_eq!(level(stores, &p).await, stock, "{failpoint}");
        let ended = if status == Confirmed {
            SagaState::Completed
        } else {
            SagaState::Compensated
        };
        assert_eq!(saga_state(stores, id.as_uuid()).await, ended, "{failpoint}");
    }
}

/// No saga about `subject` is left running, compensating or stuck.
async fn no_open_saga(stores: &Stores, subject: Uuid) -> bool {
    for state in [
        SagaState::Running,
        SagaState::Compensating,
        SagaState::Stuck,
    ] {
        let open = stores.saga_log.in_state(state, 10_000).await.unwrap();
        if open.iter().any(|saga| saga.subject == subject) {
            return false;
        }
    }
    true
}

/// Found by the soak (issue 13): a process dies mid-placement; a keyed retry finishes
/// the same order under a new saga record, or the order is cancelled while still
/// `pending`; recovery later picks up the dead process's record. It must end that record
/// (not fail it forever), leave the order as it was settled, and leave no authorization
/// held for an order that did not sell.
pub async fn recovery_of_a_dead_placement_another_run_settled_ends_it(stores: &Stores) {
    let service = OrderService::new(stores.clone());

    // Confirmed by the retry, then cancelled: the old record ends, the order stays
    // cancelled with its payment voided, the units back.
    let p = stocked(stores, "Settled", "12.34", 10).await;
    let id = OrderId::new();
    crash(
        "place_order.after_authorize_payment",
        service.place(id, order_request(&[(&p, 2)], "tok_visa")),
    )
    .await;
    let placed = service
        .place(id, order_request(&[(&p, 2)], "tok_visa"))
        .await
        .expect("the retry places the same order");
    assert_eq!(placed.status, OrderStatus::Confirmed);
    service.cancel(id).await.expect("cancel");
    recover(stores).await;
    recover(stores).await;
    let order = stores.orders.get(id).await.unwrap().expect("order");
    assert_eq!(order.status, OrderStatus::Cancelled);
    assert_eq!(order.payment.map(|p| p.status), Some(PaymentStatus::Voided));
    assert_eq!(level(stores, &p).await, (10, 0));
    assert!(no_open_saga(stores, id.as_uuid()).await, "a saga left open");

    // Confirmed by the retry and left so: the old record ends and takes nothing back; the
    // one authorization stays.
    let p = stocked(stores, "Kept", "3.00", 10).await;
    let id = OrderId::new();
    crash(
        "place_order.after_authorize_payment",
        service.place(id, order_request(&[(&p, 2)], "tok_visa")),
    )
    .await;
    service
        .place(id, order_request(&[(&p, 2)], "tok_visa"))
        .await
        .expect("the retry places the same order");
    recover(stores).await;
    let order = stores.orders.get(id).await.unwrap().expect("order");
    assert_eq!(order.status, OrderStatus::Confirmed);
    assert_eq!(
        order.payment.map(|p| (p.status, p.amount.to_string())),
        Some((PaymentStatus::Authorized, "6.00".to_owned()))
    );
    assert_eq!(level(stores, &p).await, (8, 0));
    assert!(no_open_saga(stores, id.as_uuid()).await, "a saga left open");

    // Cancelled while `pending`, after the dead process's authorization: nothing recorded
    // the authorization, so recovery voids it.
    let p = stocked(stores, "Pending", "5.00", 10).await;
    let id = OrderId::new();
    crash(
        "place_order.after_authorize_payment",
        service.place(id, order_request(&[(&p, 1)], "tok_visa")),
    )
    .await;
    service.cancel(id).await.expect("cancel a pending order");
    recover(stores).await;
    let order = stores.orders.get(id).await.unwrap().expect("order");
    assert_eq!(order.status, OrderStatus::Cancelled);
    let payment = stores.payments.for_order(id).await.unwrap();
    assert_eq!(
        payment.map(|p| (p.status, p.amount.to_string())),
        Some((PaymentStatus::Voided, "5.00".to_owned())),
        "the dead process's authorization is voided"
    );
    assert_eq!(level(stores, &p).await, (10, 0));
    assert!(no_open_saga(stores, id.as_uuid()).await, "a saga left open");
}

/// Found by the soak (issue 13): a placement meets an outage with its authorization in
/// doubt, and its release of the units fails too, so its record ends `stuck`; a keyed retry
/// then sells the same order. Finishing the old record's compensations must leave the sale
/// and its authorization alone (the gateway answers every run of an order with the one
/// authorization) and end, or, when the customer cancelled the sale since, leave the
/// cancellation as it is. Before the fix recovery voided the sale's authorization and then
/// failed forever on the `confirmed` order.
pub async fn compensation_of_a_placement_another_run_sold_keeps_the_sale(stores: &Stores) {
    let service = OrderService::new(stores.clone());
    for cancelled_since in [false, true] {
        let p = stocked(stores, "Sold", "4.50", 10).await;
        let id = OrderId::new();
        crash(
            "place_order.after_reserve_stock",
            service.place(id, order_request(&[(&p, 2)], "tok_visa")),
        )
        .await;
        let mut record = stores
            .saga_log
            .in_state(SagaState::Running, 10_000)
            .await
            .unwrap()
            .into_iter()
            .find(|saga| saga.subject == id.as_uuid())
            .expect("the placement's record");
        // What the outage left: the authorization in doubt, the release failed.
        record.push(
            SagaEntry::new(
                "authorize_payment",
                StepOutcome::Failed,
                Some("service unavailable: payment gateway".into()),
            ),
            SagaState::Compensating,
        );
        record.push(
            SagaEntry::new(
                "reserve_stock",
                StepOutcome::CompensationFailed,
                Some("service unavailable: ledger".into()),
            ),
            SagaState::Stuck,
        );
        record.updated_at -= chrono::Duration::minutes(1);
        stores.saga_log.save(&record).await.unwrap();

        let sold = service
            .place(id, order_request(&[(&p, 2)], "tok_visa"))
            .await
            .expect("the retry sells the order");
        assert_eq!(sold.status, OrderStatus::Confirmed);
        if cancelled_since {
            service.cancel(id).await.expect("cancel");
        }
        recover(stores).await;
        let order = stores.orders.get(id).await.unwrap().expect("order");
        let payment = order.payment.map(|p| (p.status, p.amount.to_string()));
        if cancelled_since {
            assert_eq!(order.status, OrderStatus::Cancelled);
            assert_eq!(payment, Some((PaymentStatus::Voided, "9.00".to_owned())));
            assert_eq!(level(stores, &p).await, (10, 0));
        } else {
            assert_eq!(order.status, OrderStatus::Confirmed);
            assert_eq!(
                payment,
                Some((PaymentStatus::Authorized, "9.00".to_owned())),
                "the sale keeps its authorization"
            );
            assert_eq!(level(stores, &p).await, (8, 0));
        }
        assert!(
            no_open_saga(stores, id.as_uuid()).await,
            "the old record ends (cancelled since: {cancelled_since})"
        );
    }
}

pub async fn cancellation_recovers_from_a_crash_after_every_step(stores: &Stores) {
    let service = OrderService::new(stores.clone());
    for failpoint in [
        "cancel_order.after_cancel_order",
        "cancel_order.after_void_payment",
    ] {
        let p = stocked(stores, "Cancel crash", "5.00", 6).await;
        let id = OrderId::new();
        service
            .place(id, order_request(&[(&p, 2)], "tok_visa"))
            .await
            .expect("placed");
        crash(failpoint, service.cancel(id)).await;
        recover(stores).await;
        let order = stores.orders.get(id).await.unwrap().expect("order");
        assert_eq!(order.status, OrderStatus::Cancelled, "{failpoint}");
        assert_eq!(
            order.payment.map(|p| p.status),
            Some(PaymentStatus::Voided),
            "{failpoint}: the authorization is voided"
        );
        assert_eq!(level(stores, &p).await, (6, 0), "{failpoint}");
    }
}

fn input(sku: &str, stock: u32) -> ProductInput {
    ProductInput {
        sku: Some(sku.to_owned()),
        name: Some("Crash lamp".into()),
        category: Some("home".into()),
        price: Some("3.00".into()),
        stock: Some(stock.into()),
        ..Default::default()
    }
}

fn sku_of(sku: &str) -> Sku {
    Sku::parse(sku).expect("valid sku")
}

/// The id of the catalog entry with `sku`, if there is one.
async fn subject_of(stores: &Stores, sku: &str) -> Option<ProductId> {
    let sku = sku_of(sku);
    let entries = stores.catalog.skus(None, 100_000).await.unwrap();
    entries
        .into_iter()
        .find(|(_, s)| *s == sku)
        .map(|(id, _)| id)
}

pub async fn product_sagas_recover_from_a_crash_after_every_step(stores: &Stores) {
    let catalog = CatalogService::new(stores.clone());
    // Creation, dead after the catalog entry: the entry is removed again.
    let sku = unique_sku("CRASH").to_string();
    crash(
        "create_product.after_create_catalog_entry",
        catalog.create(input(&sku, 3)),
    )
    .await;
    let id = subject_of(stores, &sku)
        .await
        .expect("the entry was created");
    recover(stores).await;
    assert!(
        stores.catalog.get(id).await.unwrap().is_none(),
        "compensated"
    );
    assert_eq!(
        saga_state(stores, id.as_uuid()).await,
        SagaState::Compensated
    );

    // Creation, dead after the stock record: the product is complete.
    let sku = unique_sku("CRASH").to_string();
    crash(
        "create_product.after_init_stock",
        catalog.create(input(&sku, 3)),
    )
    .await;
    let id = subject_of(stores, &sku).await.expect("created");
    recover(stores).await;
    assert!(stores.catalog.get(id).await.unwrap().is_some());
    let stock = stores
        .inventory
        .stock(&sku_of(&sku))
        .await
        .unwrap()
        .expect("stock");
    assert_eq!((stock.product_id, stock.on_hand), (id, 3));
    assert_eq!(saga_state(stores, id.as_uuid()).await, SagaState::Completed);

    // Creation whose stock step fails (the SKU has a record already), dead while
    // compensating: the entry is removed, the other record untouched.
    let sku = unique_sku("CRASH").to_string();
    let other = ProductId::new();
    stores
        .inventory
        .create_stock(&sku_of(&sku), other, Units::new(7).unwrap())
        .await
        .unwrap();
    crash(
        "create_product.during_compensation",
        catalog.create(input(&sku, 3)),
    )
    .await;
    let id = subject_of(stores, &sku)
        .await
        .expect("the entry was created");
    recover(stores).await;
    assert!(
        stores.catalog.get(id).await.unwrap().is_none(),
        "compensated"
    );
    let kept = stores
        .inventory
        .stock(&sku_of(&sku))
        .await
        .unwrap()
        .expect("kept");
    assert_eq!((kept.product_id, kept.on_hand), (other, 7));
    assert_eq!(
        saga_state(stores, id.as_uuid()).await,
        SagaState::Compensated
    );

    // Deletion, dead after each step: the product and its stock are gone.
    for failpoint in [
        "delete_product.after_remove_catalog_entry",
        "delete_product.after_remove_stock",
    ] {
        let p = stocked(stores, "Doomed", "1.00", 2).await;
        crash(failpoint, catalog.delete(p.id)).await;
        recover(stores).await;
        assert!(
            stores.catalog.get(p.id).await.unwrap().is_none(),
            "{failpoint}"
        );
        assert!(
            stores.inventory.stock(&p.sku).await.unwrap().is_none(),
            "{failpoint}"
        );
        assert_eq!(
            saga_state(stores, p.id.as_uuid()).await,
            SagaState::Completed,
            "{failpoint}"
        );
    }
}
