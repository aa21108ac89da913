//! The payments port: one payment record per order, keeping its first id.

use super::support::{new_order, stocked};
use chrono::Duration;
use emporium_domain::model::{now, OrderId, Payment, PaymentId, PaymentStatus};
use emporium_domain::ports::Stores;

pub async fn payments_record_keeps_first_id(stores: &Stores) {
    let a = stocked(stores, "Bag", "60.00", 2).await;
    let o = new_order("cust-7", &[(&a, 1)]);
    stores.orders.create_pending(&o).await.unwrap();
    let at = now();
    let first = Payment {
        id: PaymentId::new(),
        order_id: o.id,
        status: PaymentStatus::Authorized,
        amount: o.total,
        method: "card".into(),
        gateway_ref: Some("auth_1".into()),
        decline_reason: None,
        created_at: at,
        updated_at: at,
    };
    let stored = stores.payments.record(&first).await.unwrap();
    assert_eq!(stored, first);
    let voided = Payment {
        id: PaymentId::new(),
        status: PaymentStatus::Voided,
        updated_at: at + Duration::seconds(1),
        created_at: at + Duration::seconds(1),
        ..first.clone()
    };
    let stored = stores.payments.record(&voided).await.unwrap();
    assert_eq!(stored.id, first.id, "the record keeps its first id");
    assert_eq!(stored.created_at, first.created_at);
    assert_eq!(stored.status, PaymentStatus::Voided);
    assert_eq!(
        stores.payments.for_order(o.id).await.unwrap(),
        Some(stored.clone())
    );
    let order = stores.orders.get(o.id).await.unwrap().unwrap();
    assert_eq!(order.payment, Some(stored), "orders carry their payment");
    assert!(stores
        .payments
        .for_order(OrderId::new())
        .await
        .unwrap()
        .is_none());
}
