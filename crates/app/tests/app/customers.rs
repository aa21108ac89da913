//! `/api/customers` over HTTP: registration with a unique e-mail (any case), partial
//! updates, the customer's orders, and a delete that keeps their orders, anonymised.

use crate::helpers::{id, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn patch(app: &TestApp, path: &str, body: &Value) -> (StatusCode, Value) {
    let response = app
        .client
        .patch(app.url(path))
        .json(body)
        .send()
        .await
        .expect("the app answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn customers_register_update_and_leave_their_orders_behind(app: &TestApp) {
    let (status, ada) = app
        .post(
            "/customers",
            &json!({"name": "Ada Lovelace", "email": "Ada@Example.com",
                    "addresses": [{"country": "GB", "city": "London", "postcode": "W1", "line1": "12 St James's Sq"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ada}");
    let ada_id = id(&ada);
    assert!(uuid::Uuid::parse_str(&ada_id).is_ok(), "{ada}");
    assert!(ada["created_at"].is_string());
    assert_eq!(ada["addresses"][0]["city"], "London");

    // The same address in another case is taken; nothing is created.
    let (status, body) = app
        .post(
            "/customers",
            &json!({"name": "Ada Twin", "email": "ada@EXAMPLE.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    // Bad input: 422 naming every field, nothing created.
    let (status, body) = app
        .post("/customers", &json!({"name": "", "addresses": [{"city": "Paris", "country": "FR"}, {"city": "Lyon", "country": ""}]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"name") && fields.contains(&"email"),
        "{body}"
    );
    let (_, listed) = app.get("/customers").await;
    assert_eq!(listed["total"], 1, "{listed}");

    // A partial update keeps what it does not name.
    let (status, grace) = app
        .post(
            "/customers",
            &json!({"name": "Grace Hopper", "email": "grace@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grace}");
    let grace_id = id(&grace);
    let (status, updated) = patch(
        app,
        &format!("/customers/{grace_id}"),
        &json!({"addresses": [{"country": "US", "city": "Arlington"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "Grace Hopper");
    assert_eq!(updated["addresses"][0]["city"], "Arlington");
    let (status, body) = patch(
        app,
        &format!("/customers/{grace_id}"),
        &json!({"email": "ADA@example.com"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, still) = app.get(&format!("/customers/{grace_id}")).await;
    assert_eq!(still["email"], "grace@example.com");
    let unknown = uuid::Uuid::new_v4();
    let (status, _) = app.get(&format!("/customers/{unknown}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = patch(app, &format!("/customers/{unknown}"), &json!({"name": "X"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Orders name the customer by id; the customer's orders list them.
    let product = app
        .product("Customer desk lamp", "lighting", "40.00", 5)
        .await;
    let product_id = id(&product);
    let (status, order) = app.order(&ada_id, &[(&product_id, 2)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let (status, other) = app.order(&grace_id, &[(&product_id, 1)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let (status, theirs) = app.get(&format!("/customers/{ada_id}/orders")).await;
    assert_eq!(status, StatusCode::OK, "{theirs}");
    assert_eq!(theirs["total"], 1, "{theirs}");
    assert_eq!(theirs["items"][0]["id"], order["id"]);

    // Deleting Ada keeps her order in the ledger, anonymised; the stock stays sold.
    let (status, _) = app.delete(&format!("/customers/{ada_id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/customers/{ada_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&format!("/customers/{ada_id}/orders")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, kept) = app.get(&format!("/orders/{}", id(&order))).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["customer_id"], "anonymised");
    assert_eq!(kept["total"], "80.00");
    assert_eq!(kept["status"], "confirmed");
    assert_eq!(app.stock(&product_id).await, (2, 0));
    let (_, grace_orders) = app.get(&format!("/customers/{grace_id}/orders")).await;
    assert_eq!(
        grace_orders["total"], 1,
        "another customer's orders are untouched"
    );
    // The address is free again.
    let (status, body) = app
        .post(
            "/customers",
            &json!({"name": "Ada Again", "email": "ada@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Fifty registrations of one address at once: exactly one wins, the rest are 409.
pub async fn concurrent_registrations_of_one_email_create_one_customer(app: &TestApp) {
    let attempts = (0..50).map(|i| {
        let (client, url) = (app.client.clone(), app.url("/customers"));
        async move {
            client
                .post(url)
                .json(&json!({"name": format!("Racer {i}"), "email": format!("RACE@example.{}", if i % 2 == 0 { "com" } else { "COM" })}))
                .send()
                .await
                .expect("answer")
                .status()
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (1, 49), "{statuses:?}");
}

pub async fn recommendations_skip_what_was_bought_and_are_served_from_the_customer(app: &TestApp) {
    let (status, me) = app
        .post("/customers", &json!({"name": "Rec Shopper", "email": format!("{}@example.com", crate::helpers::unique("rec"))}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{me}");
    let me = id(&me);
    let tea = id(&app.product("Tea", "pantry", "5.00", 20).await);
    let cup = id(&app.product("Cup", "kitchen", "8.00", 20).await);
    let mat = id(&app.product("Mat", "kitchen", "3.50", 20).await);
    for (customer, lines) in [
        (me.as_str(), vec![(tea.as_str(), 1)]),
        ("rec-other", vec![(tea.as_str(), 1), (cup.as_str(), 1)]),
    ] {
        let (status, order) = app.order(customer, &lines, "tok_visa").await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
    }
    let (status, _) = app
        .post(
            &format!("/products/{mat}/reviews"),
            &json!({"customer_id": "critic", "rating": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let path = format!("/customers/{me}/recommendations");
    let (status, first) = app.get(&format!("{path}?limit=2")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["cached"], false, "{first}");
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{first}");
    assert_eq!(
        (items[0]["product_id"].as_str(), items[0]["price"].as_str()),
        (Some(cup.as_str()), Some("8.00"))
    );
    assert_eq!(
        (
            items[1]["product_id"].as_str(),
            items[1]["rating_average"].as_str()
        ),
        (Some(mat.as_str()), Some("5.00"))
    );
    assert!(
        items.iter().all(|i| i["product_id"] != tea.as_str()),
        "never what was bought"
    );
    let (_, again) = app.get(&path).await;
    assert_eq!(again["cached"], true, "{again}");
    assert_eq!(again["generated_at"], first["generated_at"]);
    let (_, fresh) = app.get(&format!("{path}?refresh=true")).await;
    assert_eq!(fresh["cached"], false);
    let (status, _) = app.get(&format!("{path}?limit=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .get(&format!(
            "/customers/{}/recommendations",
            uuid::Uuid::now_v7()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("emporium_recommendation_cache_hits_total 1"),
        "{metrics}"
    );
}
