//! Reviews (ADR 0020): one per customer and subject, even when sent at once; ratings
//! counted exactly from the reviews; listing orders; top-rated products.

use emporium_domain::model::{
    CustomerId, PageRequest, ProductId, RatingSummary, Review, ReviewInput, ReviewQuery,
    ReviewSort, ReviewSubject, SupplierId,
};
use emporium_domain::ports::Stores;
use emporium_domain::Error;

fn review(subject: ReviewSubject, customer: &str, stars: i64) -> Review {
    Review::parse_new(
        subject,
        ReviewInput {
            customer_id: Some(customer.into()),
            rating: Some(stars),
            title: Some(format!("{stars} stars")),
            body: Some("Said in a review".into()),
        },
    )
    .expect("valid review")
}

pub async fn reviews_are_one_per_customer_and_ratings_exact(stores: &Stores) {
    let reviews = stores.reviews.as_ref();
    let product = ReviewSubject::Product(ProductId::new());
    // Fifty customers at once, ratings 1..5 in turn: every one stored, counted exactly.
    let inserts = (0..50).map(|i| {
        let r = review(product, &format!("cust-{i}"), i % 5 + 1);
        async move { reviews.insert(&r).await }
    });
    let results = futures::future::join_all(inserts).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // One customer, eight reviews of one product at once: exactly one is stored.
    let twins = (0..8).map(|i| {
        let r = review(product, "cust-twin", i % 5 + 1);
        async move { reviews.insert(&r).await }
    });
    let results = futures::future::join_all(twins).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, Error::Conflict(_))));
    let twin_stars = {
        let all = reviews
            .list(&ReviewQuery {
                subject: product,
                sort: ReviewSort::Newest,
                page: PageRequest::new(Some(500), None).unwrap(),
            })
            .await
            .unwrap();
        assert_eq!(all.total, 51);
        all.items
            .iter()
            .find(|r| r.customer_id == CustomerId::parse("cust-twin").unwrap())
            .unwrap()
            .rating
            .get()
    };
    // The same customer may review another subject.
    let supplier = ReviewSubject::Supplier(SupplierId::new());
    reviews
        .insert(&review(supplier, "cust-twin", 2))
        .await
        .unwrap();
    let summaries: std::collections::HashMap<_, _> = reviews
        .summaries(&[product, supplier, ReviewSubject::Product(ProductId::new())])
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        summaries.get(&product),
        Some(&RatingSummary {
            count: 51,
            sum: 150 + u64::from(twin_stars)
        })
    );
    assert_eq!(
        summaries.get(&supplier),
        Some(&RatingSummary { count: 1, sum: 2 })
    );
    assert_eq!(summaries.len(), 2);
}

pub async fn reviews_list_sorted_and_products_rank_by_rating(stores: &Stores) {
    let reviews = stores.reviews.as_ref();
    let (good, fair, lone) = (ProductId::new(), ProductId::new(), ProductId::new());
    for (i, stars) in [5, 4, 5].iter().enumerate() {
        let mut r = review(ReviewSubject::Product(good), &format!("g{i}"), *stars);
        r.created_at -= chrono::Duration::seconds(10 - i as i64);
        reviews.insert(&r).await.unwrap();
    }
    for (i, stars) in [3, 4].iter().enumerate() {
        reviews
            .insert(&review(
                ReviewSubject::Product(fair),
                &format!("f{i}"),
                *stars,
            ))
            .await
            .unwrap();
    }
    reviews
        .insert(&review(ReviewSubject::Product(lone), "l0", 5))
        .await
        .unwrap();
    let page = |sort| ReviewQuery {
        subject: ReviewSubject::Product(good),
        sort,
        page: PageRequest::default(),
    };
    let stars = |p: emporium_domain::model::Page<Review>| {
        p.items.iter().map(|r| r.rating.get()).collect::<Vec<_>>()
    };
    assert_eq!(
        stars(reviews.list(&page(ReviewSort::RatingAsc)).await.unwrap()),
        [4, 5, 5]
    );
    assert_eq!(
        stars(reviews.list(&page(ReviewSort::RatingDesc)).await.unwrap()),
        [5, 5, 4]
    );
    // Newest first: the last inserted (5) came last in time.
    assert_eq!(
        stars(reviews.list(&page(ReviewSort::Newest)).await.unwrap()),
        [5, 4, 5]
    );
    // Top rated with at least two reviews: good (4.67) before fair (3.5); lone is left out.
    let top = reviews.top_rated_products(10, 2).await.unwrap();
    let ids: Vec<ProductId> = top.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [good, fair]);
    // With one review enough: lone (5.0) first.
    let top = reviews.top_rated_products(1, 1).await.unwrap();
    assert_eq!(top[0].0, lone);
    // Delete.
    let first = reviews.list(&page(ReviewSort::Newest)).await.unwrap().items[0].id;
    assert!(reviews.delete(first).await.unwrap());
    assert!(!reviews.delete(first).await.unwrap());
    assert_eq!(reviews.get(first).await.unwrap(), None);
}
