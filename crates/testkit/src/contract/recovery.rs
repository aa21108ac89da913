//! The recovery service over the adapter set: abandoned placements are driven forward or
//! released, and abandoned reservations expire.

use super::support::{available, level, new_order, stocked};
use chrono::Duration;
use emporium_domain::model::{
    now, NewOrder, OrderStatus, PaymentStatus, SagaEntry, SagaId, SagaKind, SagaRecord, SagaState,
    StepOutcome,
};
use emporium_domain::ports::Stores;
use emporium_domain::service::RecoveryService;
use serde_json::json;

/// A saga log entry for a placement that died after its reservation.
async fn orphaned_placement(stores: &Stores, order: &NewOrder) {
    let at = now();
    let record = SagaRecord {
        id: SagaId::new(),
        kind: SagaKind::PlaceOrder,
        subject: order.id.as_uuid(),
        state: SagaState::Running,
        payload: json!({"payment_method": "card"}),
        entries: vec![SagaEntry {
            step: "reserve_stock".into(),
            outcome: StepOutcome::Succeeded,
            detail: None,
            at,
        }],
        started_at: at,
        updated_at: at,
    };
    stores.saga_log.save(&record).await.unwrap();
}

pub async fn recovery_drives_paid_orders_forward_and_releases_unpaid_ones(stores: &Stores) {
    let p = stocked(stores, "Recovered", "10.00", 10).await;
    // Died after the gateway approved, before the payment was recorded.
    let paid = new_order("rec-1", &[(&p, 2)]);
    stores.orders.create_pending(&paid).await.unwrap();
    let approved = stores
        .gateway
        .authorize(paid.id, &paid.total, "tok_visa")
        .await
        .unwrap();
    assert!(matches!(
        approved,
        emporium_domain::ports::Authorization::Approved { .. }
    ));
    orphaned_placement(stores, &paid).await;
    // Died before the gateway was asked.
    let unpaid = new_order("rec-2", &[(&p, 3)]);
    stores.orders.create_pending(&unpaid).await.unwrap();
    orphaned_placement(stores, &unpaid).await;
    // Died while compensating a decline.
    let declined = new_order("rec-3", &[(&p, 1)]);
    stores.orders.create_pending(&declined).await.unwrap();
    stores
        .gateway
        .authorize(declined.id, &declined.total, "tok_chargeDeclined")
        .await
        .unwrap();
    orphaned_placement(stores, &declined).await;
    assert_eq!(level(stores, &p).await, (10, 6));

    let recovery = RecoveryService::new(stores.clone());
    // A fresh saga may still be running in another process: left alone.
    let untouched = recovery
        .recover(std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(untouched.examined, 0);
    let report = recovery.recover(std::time::Duration::ZERO).await.unwrap();
    assert!(
        report.completed >= 1 && report.compensated >= 2,
        "{report:?}"
    );

    let paid_now = stores.orders.get(paid.id).await.unwrap().unwrap();
    assert_eq!(paid_now.status, OrderStatus::Confirmed, "paid: forward");
    assert_eq!(paid_now.payment.unwrap().status, PaymentStatus::Authorized);
    let unpaid_now = stores.orders.get(unpaid.id).await.unwrap().unwrap();
    assert_eq!(
        unpaid_now.status,
        OrderStatus::Failed,
        "unpaid: compensated"
    );
    let declined_now = stores.orders.get(declined.id).await.unwrap().unwrap();
    assert_eq!(declined_now.status, OrderStatus::Failed);
    assert_eq!(
        declined_now.payment.unwrap().status,
        PaymentStatus::Declined
    );
    assert_eq!(
        level(stores, &p).await,
        (8, 0),
        "2 sold, the rest back in stock"
    );

    // Running recovery again changes nothing.
    let again = recovery.recover(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(again.examined, 0, "{again:?}");
    assert_eq!(level(stores, &p).await, (8, 0));
}

pub async fn recovery_expires_abandoned_reservations(stores: &Stores) {
    let p = stocked(stores, "Abandoned", "5.00", 4).await;
    let mut old = new_order("abandoned", &[(&p, 3)]);
    old.created_at = now() - Duration::minutes(20);
    stores.orders.create_pending(&old).await.unwrap();
    let fresh = new_order("in-flight", &[(&p, 1)]);
    stores.orders.create_pending(&fresh).await.unwrap();
    assert_eq!(available(stores, &p).await, 0);

    let recovery = RecoveryService::new(stores.clone());
    let expired = recovery
        .expire_reservations(std::time::Duration::from_secs(15 * 60))
        .await
        .unwrap();
    assert!(expired >= 1);
    let old_now = stores.orders.get(old.id).await.unwrap().unwrap();
    assert_eq!(old_now.status, OrderStatus::Failed);
    let fresh_now = stores.orders.get(fresh.id).await.unwrap().unwrap();
    assert_eq!(
        fresh_now.status,
        OrderStatus::Pending,
        "young reservations stay"
    );
    assert_eq!(level(stores, &p).await, (4, 1));
}
