//! The order and catalog services over the adapter set: the placement, cancellation and
//! product sagas must behave the same on every set.

use super::support::{available, level, order_request, stocked, unique_sku};
use emporium_domain::model::{OrderId, OrderStatus, PaymentStatus, SagaState, StepOutcome};
use emporium_domain::ports::Stores;
use emporium_domain::service::{CatalogService, OrderService};
use emporium_domain::{Error, FieldError};

pub async fn saga_places_confirmed_order(stores: &Stores) {
    let a = stocked(stores, "Headphones", "59.90", 5).await;
    let b = stocked(stores, "Stand", "19.95", 5).await;
    let service = OrderService::new(stores.clone());
    let order = service
        .place(
            OrderId::new(),
            order_request(&[(&a, 2), (&b, 1)], "tok_visa"),
        )
        .await
        .unwrap();
    assert_eq!(order.status, OrderStatus::Confirmed);
    assert_eq!(order.total.to_string(), "139.75");
    let payment = order.payment.clone().expect("payment recorded");
    assert_eq!(payment.status, PaymentStatus::Authorized);
    assert_eq!(payment.amount, order.total);
    assert_eq!(level(stores, &a).await, (3, 0));

    let err = service
        .place(OrderId::new(), order_request(&[(&a, 4)], "tok_visa"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InsufficientStock(_)));
    assert_eq!(level(stores, &a).await, (3, 0));

    let cancelled = service.cancel(order.id).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(cancelled.payment.unwrap().status, PaymentStatus::Voided);
    assert_eq!(level(stores, &a).await, (5, 0));
    assert_eq!(level(stores, &b).await, (5, 0));
}

pub async fn saga_declined_payment_restores_stock(stores: &Stores) {
    let a = stocked(stores, "Camera", "499.00", 3).await;
    let service = OrderService::new(stores.clone());
    let err = service
        .place(
            OrderId::new(),
            order_request(&[(&a, 2)], "tok_chargeDeclined"),
        )
        .await
        .unwrap_err();
    let Error::PaymentDeclined { order_id, .. } = err else {
        panic!("expected PaymentDeclined, got {err:?}")
    };
    let order = stores.orders.get(order_id).await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Failed);
    assert_eq!(order.payment.unwrap().status, PaymentStatus::Declined);
    assert_eq!(
        level(stores, &a).await,
        (3, 0),
        "every reserved unit is back"
    );
    let failed = stores
        .saga_log
        .in_state(SagaState::Compensated, 10_000)
        .await
        .unwrap();
    let saga = failed
        .iter()
        .find(|s| s.subject == order_id.as_uuid())
        .expect("the saga is logged as compensated");
    let steps: Vec<_> = saga
        .entries
        .iter()
        .map(|e| (e.step.as_str(), e.outcome))
        .collect();
    assert_eq!(
        steps,
        [
            ("reserve_stock", StepOutcome::Succeeded),
            ("authorize_payment", StepOutcome::Failed),
            ("reserve_stock", StepOutcome::Compensated),
        ]
    );
}

pub async fn saga_product_create_and_delete(stores: &Stores) {
    let service = CatalogService::new(stores.clone());
    let sku = unique_sku("SAGA");
    let input = emporium_domain::model::ProductInput {
        sku: Some(sku.to_string()),
        name: Some("Saga Lamp".into()),
        category: Some("home".into()),
        price: Some("12.5".into()),
        stock: Some(4),
        ..Default::default()
    };
    let view = service.create(input.clone()).await.unwrap();
    assert_eq!(view.available(), 4);
    assert_eq!(view.product.price.to_string(), "12.50");
    let dup = service.create(input).await.unwrap_err();
    assert!(matches!(dup, Error::Conflict(_)));
    assert_eq!(
        available(stores, &view.product).await,
        4,
        "duplicate changed nothing"
    );

    let bad = service
        .create(emporium_domain::model::ProductInput {
            sku: Some("bad sku!".into()),
            price: Some("-1".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let Error::Validation(fields) = bad else {
        panic!("expected validation error")
    };
    let names: Vec<&str> = fields
        .iter()
        .map(|f: &FieldError| f.field.as_str())
        .collect();
    for field in ["sku", "name", "category", "price"] {
        assert!(names.contains(&field), "{field} named in {names:?}");
    }

    service.delete(view.product.id).await.unwrap();
    assert!(stores.catalog.get(view.product.id).await.unwrap().is_none());
    assert!(stores.inventory.stock(&sku).await.unwrap().is_none());
    assert!(matches!(
        service.delete(view.product.id).await,
        Err(Error::NotFound(_))
    ));
}
