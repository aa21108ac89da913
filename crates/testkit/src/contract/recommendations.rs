//! Recommendations (ADR 0021): the ledger's purchase affinity, and the service that ranks
//! co-purchases, then top-rated products, never what the customer bought, stores the list
//! on the customer and serves it from there while fresh.

use super::support::{order_request, stocked};
use emporium_domain::model::{
    Customer, CustomerId, CustomerInput, OrderId, Review, ReviewInput, ReviewSubject,
};
use emporium_domain::ports::Stores;
use emporium_domain::service::{OrderService, RecommendationService};

async fn bought(stores: &Stores, customer: &str, products: &[&emporium_domain::model::Product]) {
    let mut request = order_request(
        &products.iter().map(|p| (*p, 1)).collect::<Vec<_>>(),
        "tok_visa",
    );
    request.customer_id = CustomerId::parse(customer).unwrap();
    OrderService::new(stores.clone())
        .place(OrderId::new(), request)
        .await
        .expect("placed");
}

pub async fn purchase_affinity_counts_what_others_bought_with_it(stores: &Stores) {
    let (a, b, c, d) = (
        stocked(stores, "A", "1.00", 50).await,
        stocked(stores, "B", "2.00", 50).await,
        stocked(stores, "C", "3.00", 50).await,
        stocked(stores, "D", "4.00", 50).await,
    );
    bought(stores, "aff-me", &[&a]).await;
    bought(stores, "aff-me", &[&b]).await;
    bought(stores, "aff-1", &[&a, &c]).await;
    bought(stores, "aff-2", &[&b, &c, &d]).await;
    bought(stores, "aff-3", &[&b, &a]).await;
    bought(stores, "aff-4", &[&d]).await; // shares nothing with aff-me
    let me = CustomerId::parse("aff-me").unwrap();
    let affinity = stores
        .reports
        .purchase_affinity(&me, 10)
        .await
        .expect("affinity");
    let mut mine = vec![a.id, b.id];
    mine.sort();
    assert_eq!(affinity.bought, mine);
    // C was in two sales with A or B, D in one; A and B themselves are left out.
    assert_eq!(affinity.co_purchased, vec![(c.id, 2), (d.id, 1)]);
    let limited = stores.reports.purchase_affinity(&me, 1).await.unwrap();
    assert_eq!(limited.co_purchased, vec![(c.id, 2)]);
    let stranger = CustomerId::parse("aff-nobody").unwrap();
    let none = stores
        .reports
        .purchase_affinity(&stranger, 10)
        .await
        .unwrap();
    assert!(none.bought.is_empty() && none.co_purchased.is_empty());
}

pub async fn recommendations_rank_co_purchases_then_ratings_and_are_cached(stores: &Stores) {
    let register = |email: &str| {
        Customer::parse_new(CustomerInput {
            name: Some("Shopper".into()),
            email: Some(email.into()),
            addresses: None,
        })
        .unwrap()
    };
    let (me, newcomer) = (register("me@example.com"), register("new@example.com"));
    stores.customers.insert(&me).await.unwrap();
    stores.customers.insert(&newcomer).await.unwrap();
    let (tea, cup, pot, mat) = (
        stocked(stores, "Tea", "5.00", 50).await,
        stocked(stores, "Cup", "8.00", 50).await,
        stocked(stores, "Pot", "30.00", 50).await,
        stocked(stores, "Mat", "3.00", 50).await,
    );
    bought(stores, me.id.as_str(), &[&tea]).await;
    bought(stores, "rec-other", &[&tea, &cup]).await;
    for (who, product, stars) in [
        ("r1", &mat, 5),
        ("r2", &pot, 4),
        ("r3", &tea, 5),
        ("r4", &tea, 4),
    ] {
        let review = Review::parse_new(
            ReviewSubject::Product(product.id),
            ReviewInput {
                customer_id: Some(who.into()),
                rating: Some(stars),
                ..Default::default()
            },
        )
        .unwrap();
        stores.reviews.insert(&review).await.unwrap();
    }
    let service = RecommendationService::new(stores.clone());
    let first = service
        .for_customer(&me.id, 3, false)
        .await
        .expect("recommendations");
    assert!(!first.cached);
    let ids: Vec<_> = first
        .recommendations
        .items
        .iter()
        .map(|r| r.product_id)
        .collect();
    // The cup (bought with tea by another customer), then the mat (5.00) and the pot
    // (4.00); never the tea the customer bought.
    assert_eq!(ids, [cup.id, mat.id, pot.id]);
    assert_eq!(
        first.recommendations.items[1]
            .rating_average
            .unwrap()
            .to_string(),
        "5.00"
    );
    assert_eq!(first.recommendations.items[0].price, cup.price);
    // Served from the customer document now, until refreshed.
    let again = service.for_customer(&me.id, 2, false).await.unwrap();
    assert!(again.cached);
    assert_eq!(
        again.recommendations.generated_at,
        first.recommendations.generated_at
    );
    assert_eq!(again.recommendations.items.len(), 2);
    let refreshed = service.for_customer(&me.id, 3, true).await.unwrap();
    assert!(!refreshed.cached);
    let stats = service.stats();
    assert_eq!(stats.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(stats.misses.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert!(stats.round_trips.load(std::sync::atomic::Ordering::Relaxed) >= 10);
    // A customer with no purchases: the top-rated products first (5.00, 4.50, 4.00),
    // never an error.
    let fresh = service.for_customer(&newcomer.id, 3, false).await.unwrap();
    let ids: Vec<_> = fresh
        .recommendations
        .items
        .iter()
        .map(|r| r.product_id)
        .collect();
    assert_eq!(ids, [mat.id, tea.id, pot.id]);
    // An unknown customer is 404.
    let nobody = CustomerId::parse(uuid::Uuid::now_v7().to_string()).unwrap();
    assert!(matches!(
        service.for_customer(&nobody, 3, false).await,
        Err(emporium_domain::Error::NotFound(_))
    ));
}
