//! Reviews over HTTP: one per customer and product, verified purchases, ratings on the
//! product exact under 50 concurrent reviews, sorted listings, deletes by the author or
//! an admin only, and supplier (partner) ratings.

use crate::helpers::{id, TestApp, ADMIN_TOKEN, READ_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::json;

pub async fn reviews_rate_products_exactly_under_concurrency(app: &TestApp) {
    let kettle = app.product("Kettle", "kitchen", "30.00", 100).await;
    let kettle_id = id(&kettle);
    assert!(kettle["rating_average"].is_null(), "{kettle}");
    assert_eq!(kettle["rating_count"], 0, "{kettle}");
    let path = format!("/products/{kettle_id}/reviews");

    // Fifty customers review at once, 1 to 5 stars in turn: 150 stars over 50 reviews.
    let posts = (0..50).map(|i| {
        let (client, url) = (app.client.clone(), app.url(&path));
        let body = json!({"customer_id": format!("rater-{i}"), "rating": i % 5 + 1,
                          "title": "Boils", "body": "It boils water."});
        async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("answers")
                .status()
        }
    });
    let statuses = futures::future::join_all(posts).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    let (_, got) = app.get(&format!("/products/{kettle_id}")).await;
    assert_eq!(got["rating_count"], 50, "{got}");
    assert_eq!(got["rating_average"], "3.00", "{got}");

    // A second review by one customer is 409; bad values are 422; nothing changes.
    let (status, body) = app
        .post(&path, &json!({"customer_id": "rater-0", "rating": 5}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = app
        .post(&path, &json!({"customer_id": "", "rating": 6}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = crate::helpers::fields(&body);
    assert!(fields.contains(&"rating".to_owned()) && fields.contains(&"customer_id".to_owned()));
    let (status, _) = app
        .post(
            &format!("/products/{}/reviews", uuid::Uuid::now_v7()),
            &json!({"customer_id": "x", "rating": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, got) = app.get(&format!("/products/{kettle_id}")).await;
    assert_eq!(
        (got["rating_count"].as_u64(), got["rating_average"].as_str()),
        (Some(50), Some("3.00"))
    );

    // Half up to two digits: one more 5-star review makes 155 / 51 = 3.0392 -> "3.04".
    let (status, _) = app
        .post(&path, &json!({"customer_id": "late", "rating": 5}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, listed) = app.get("/products?category=kitchen").await;
    let listed = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == kettle_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (
            listed["rating_count"].as_u64(),
            listed["rating_average"].as_str()
        ),
        (Some(51), Some("3.04"))
    );

    // Sorted listings, paged.
    let (_, top) = app.get(&format!("{path}?sort=-rating&limit=3")).await;
    let stars: Vec<u64> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rating"].as_u64().unwrap())
        .collect();
    assert_eq!((stars, top["total"].as_u64()), (vec![5, 5, 5], Some(51)));
    let (_, low) = app.get(&format!("{path}?sort=rating&limit=2")).await;
    assert_eq!(low["items"][0]["rating"], 1, "{low}");
    let (_, newest) = app.get(&format!("{path}?limit=1")).await;
    assert_eq!(newest["items"][0]["customer_id"], "late", "{newest}");
    let (status, _) = app.get(&format!("{path}?sort=stars")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Deletes: the author, or an admin; anyone else is refused.
    let late = id(&newest["items"][0]);
    let one = format!("{path}/{late}");
    let (status, _) = app.delete(&one).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.delete(&format!("{one}?customer_id=rater-1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let ((status, _), _) = app.admin_as(READ_TOKEN, Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.delete(&format!("{one}?customer_id=late")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.delete(&format!("{one}?customer_id=late")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, any) = app.get(&format!("{path}?limit=1&sort=rating")).await;
    let ((status, _), _) = app
        .admin_as(
            ADMIN_TOKEN,
            Method::DELETE,
            &format!("{path}/{}", id(&any["items"][0])),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, got) = app.get(&format!("/products/{kettle_id}")).await;
    assert_eq!(got["rating_count"], 49, "{got}");
}

pub async fn verified_purchases_and_supplier_ratings(app: &TestApp) {
    let (status, supplier) = app
        .post("/suppliers", &json!({"name": "Rated Ltd", "region": "EU"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let supplier_id = id(&supplier);
    let (status, toaster) = app
        .post(
            "/products",
            &json!({"sku": crate::helpers::unique_sku(), "name": "Toaster", "category": "kitchen",
                    "price": "45.00", "stock": 5, "supplier_id": supplier_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{toaster}");
    let toaster_id = id(&toaster);
    let (status, order) = app.order("buyer-1", &[(&toaster_id, 1)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let path = format!("/orders/{}", id(&order));
    for next in ["shipped", "delivered"] {
        let (status, _) = app.put(&path, &json!({"status": next})).await;
        assert_eq!(status, StatusCode::OK);
    }
    let reviews = format!("/products/{toaster_id}/reviews");
    let (_, bought) = app
        .post(&reviews, &json!({"customer_id": "buyer-1", "rating": 4}))
        .await;
    assert_eq!(bought["verified_purchase"], true, "{bought}");
    let (_, browsed) = app
        .post(&reviews, &json!({"customer_id": "browser-1", "rating": 2}))
        .await;
    assert_eq!(browsed["verified_purchase"], false, "{browsed}");

    let partner = format!("/suppliers/{supplier_id}/reviews");
    for (who, stars) in [("buyer-1", 5), ("buyer-2", 4)] {
        let (status, body) = app
            .post(&partner, &json!({"customer_id": who, "rating": stars}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = app
        .post(&partner, &json!({"customer_id": "buyer-2", "rating": 1}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, got) = app.get(&format!("/suppliers/{supplier_id}")).await;
    assert_eq!(
        (got["rating_count"].as_u64(), got["rating_average"].as_str()),
        (Some(2), Some("4.50")),
        "{got}"
    );
    let (_, listed) = app.get(&partner).await;
    assert_eq!(listed["total"], 2);
    assert_eq!(listed["items"][0]["subject"], "supplier");
}
