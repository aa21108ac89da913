//! Customers (ADR 0017): e-mail addresses unique without regard to case, listing oldest
//! first, replace and delete; and the service's delete, which anonymises the customer's
//! orders and keeps them in the ledger.

use super::support::{order_request, page, stocked};
use emporium_domain::model::{Customer, CustomerId, CustomerInput, Email, OrderId, OrderQuery};
use emporium_domain::ports::{Stores, ANONYMOUS_CUSTOMER};
use emporium_domain::service::{CustomerService, OrderService};
use emporium_domain::Error;

fn customer(name: &str, email: &str) -> Customer {
    Customer::parse_new(CustomerInput {
        name: Some(name.into()),
        email: Some(email.into()),
        addresses: None,
    })
    .expect("valid customer")
}

pub async fn customers_keep_emails_unique_without_case(stores: &Stores) {
    let customers = stores.customers.as_ref();
    let mut ada = customer("Ada Lovelace", "Ada@Example.com");
    ada.created_at -= chrono::Duration::seconds(2);
    customers.insert(&ada).await.expect("insert");
    assert_eq!(
        customers.get(&ada.id).await.expect("get"),
        Some(ada.clone())
    );
    // Another customer with the same address in another case: refused, nothing stored.
    let twin = customer("Ada Twin", "ada@example.COM");
    assert!(matches!(
        customers.insert(&twin).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(customers.get(&twin.id).await.expect("get"), None);
    let mut grace = customer("Grace Hopper", "grace@example.com");
    grace.created_at -= chrono::Duration::seconds(1);
    customers.insert(&grace).await.expect("insert");
    // Taking Ada's address on replace is refused; Grace stays as she was.
    let mut stolen = grace.clone();
    stolen.email = Email::parse("ADA@example.com").unwrap();
    assert!(matches!(
        customers.replace(&stolen).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        customers.get(&grace.id).await.expect("get"),
        Some(grace.clone())
    );
    // A new address frees the old one.
    grace.email = Email::parse("amazing.grace@example.com").unwrap();
    customers.replace(&grace).await.expect("replace");
    let reuse = customer("Grace II", "grace@example.com");
    customers
        .insert(&reuse)
        .await
        .expect("the freed address is free");
    assert!(matches!(
        customers
            .replace(&customer("Nobody", "nobody@example.com"))
            .await,
        Err(Error::NotFound(_))
    ));

    let listed = customers.list(page(2, 0)).await.expect("list");
    assert_eq!(listed.total, 3);
    assert_eq!(listed.items.len(), 2);
    assert_eq!(listed.items[0].id, ada.id, "oldest first");
    let rest = customers.list(page(2, 2)).await.expect("list");
    assert_eq!(rest.items.len(), 1);

    assert!(customers.delete(&ada.id).await.expect("delete"));
    assert!(!customers.delete(&ada.id).await.expect("delete again"));
    // The deleted customer's address can be registered again.
    customers
        .insert(&customer("Ada Again", "ada@example.com"))
        .await
        .expect("insert");
}

pub async fn deleting_a_customer_anonymises_their_orders(stores: &Stores) {
    let service = CustomerService::new(stores.clone());
    let ada = service
        .create(CustomerInput {
            name: Some("Ada Lovelace".into()),
            email: Some("ada.orders@example.com".into()),
            addresses: None,
        })
        .await
        .expect("create");
    let p = stocked(stores, "Customer lamp", "10.00", 5).await;
    let orders = OrderService::new(stores.clone());
    let mut request = order_request(&[(&p, 2)], "tok_visa");
    request.customer_id = ada.id.clone();
    request.customer_name = Some(emporium_domain::model::Name::parse("Ada Lovelace").unwrap());
    let placed = orders.place(OrderId::new(), request).await.expect("order");
    let other = orders
        .place(OrderId::new(), order_request(&[(&p, 1)], "tok_visa"))
        .await
        .expect("someone else's order");
    let theirs = service.orders(&ada.id, page(10, 0)).await.expect("orders");
    assert_eq!(theirs.total, 1);
    assert_eq!(theirs.items[0].id, placed.id);

    assert_eq!(service.delete(&ada.id).await.expect("delete"), 1);
    assert!(matches!(
        service.get(&ada.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        service.orders(&ada.id, page(10, 0)).await,
        Err(Error::NotFound(_))
    ));
    // The order stays in the ledger, sold, without who placed it.
    let kept = stores
        .orders
        .get(placed.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(kept.customer_id.as_str(), ANONYMOUS_CUSTOMER);
    assert_eq!(kept.customer_name, None);
    assert_eq!(kept.total, placed.total);
    assert_eq!(kept.status, placed.status);
    let by_old_id = stores
        .orders
        .list(&OrderQuery {
            customer_id: Some(ada.id.as_str().to_owned()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(by_old_id.total, 0);
    let untouched = stores
        .orders
        .get(other.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(untouched.customer_id, other.customer_id);
    assert!(matches!(
        service
            .delete(&CustomerId::parse("no-such-customer").unwrap())
            .await,
        Err(Error::NotFound(_))
    ));
}
