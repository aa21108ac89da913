//! `/api/carts` over HTTP: lines priced when put, a sliding expiry, a checkout that
//! re-prices (409 `price_changed`, cart updated), places the order through the saga, and
//! answers a second checkout with the same order; concurrent checkouts place one order.

use crate::helpers::{id, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn cart(app: &TestApp, customer: &str) -> String {
    let (status, body) = app.post("/carts", &json!({"customer_id": customer})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["total"], "0.00");
    id(&body)
}

async fn checkout(app: &TestApp, cart: &str, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(app.url(&format!("/carts/{cart}/checkout")))
        .json(&json!({"payment": {"method": "card", "token": "tok_visa"}}));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("the app answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn carts_fill_reprice_and_check_out_once(app: &TestApp) {
    let lamp = app.product("Lamp", "lighting", "19.99", 10).await;
    let desk = app.product("Desk", "furniture", "250.00", 5).await;
    let (lamp_id, desk_id) = (id(&lamp), id(&desk));
    let cart_id = cart(app, "cart-shopper").await;

    let (status, body) = app
        .put(
            &format!("/carts/{cart_id}/items/{lamp_id}"),
            &json!({"quantity": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first_expiry = body["expires_at"].as_str().unwrap().to_owned();
    let (_, body) = app
        .put(
            &format!("/carts/{cart_id}/items/{desk_id}"),
            &json!({"quantity": 1}),
        )
        .await;
    assert_eq!(body["items"][0]["unit_price"], "19.99", "{body}");
    assert_eq!(body["items"][0]["line_total"], "39.98", "{body}");
    assert_eq!(body["total"], "289.98", "{body}");
    assert!(body["expires_at"].as_str().unwrap() >= first_expiry.as_str());
    // Carts hold no stock.
    assert_eq!(app.stock(&lamp_id).await.0, 10);
    // Bad input changes nothing: a negative quantity, an unknown product, a bad body.
    let (status, _) = app
        .put(
            &format!("/carts/{cart_id}/items/{lamp_id}"),
            &json!({"quantity": -1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .put(
            &format!("/carts/{cart_id}/items/{}", uuid::Uuid::now_v7()),
            &json!({"quantity": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .put(
            &format!("/carts/{cart_id}/items/{lamp_id}"),
            &json!({"quantity": "many"}),
        )
        .await;
    assert!(status.is_client_error(), "{status}");
    let (status, _) = app.get(&format!("/carts/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.post("/carts", &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The lamp's price moves: checkout is 409 price_changed, nothing placed, cart updated.
    let (status, _) = app
        .put(&format!("/products/{lamp_id}"), &json!({"price": "21.50"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = checkout(app, &cart_id, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "price_changed", "{body}");
    assert_eq!(
        body["error"]["details"],
        json!([{"product_id": lamp_id, "old": "19.99", "new": "21.50", "currency": "USD"}])
    );
    let (_, now) = app.get(&format!("/carts/{cart_id}")).await;
    assert_eq!(now["items"][0]["unit_price"], "21.50", "{now}");
    assert_eq!(now["total"], "293.00", "{now}");
    assert_eq!(app.stock(&lamp_id).await.0, 10);
    let (_, orders) = app.get("/orders?customer_id=cart-shopper").await;
    assert_eq!(orders["total"], 0, "{orders}");

    // Checkout at the prices shown: 201 with the order; stock moves once.
    let (status, order) = checkout(app, &cart_id, Some("cart-key-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["total"], "293.00", "{order}");
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(app.stock(&lamp_id).await.0, 8);
    assert_eq!(app.stock(&desk_id).await.0, 4);
    // A second checkout answers with the same order, 200; the cart is closed to edits.
    let (status, again) = checkout(app, &cart_id, None).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], order["id"]);
    let (status, _) = app
        .put(
            &format!("/carts/{cart_id}/items/{lamp_id}"),
            &json!({"quantity": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, after) = app.get(&format!("/carts/{cart_id}")).await;
    assert_eq!(after["order_id"], order["id"], "{after}");
    assert_eq!(app.stock(&lamp_id).await.0, 8);
    let (_, orders) = app.get("/orders?customer_id=cart-shopper").await;
    assert_eq!(orders["total"], 1, "{orders}");

    // An empty cart cannot be checked out; a deleted cart is gone.
    let empty = cart(app, "cart-shopper").await;
    let (status, body) = checkout(app, &empty, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = app.delete(&format!("/carts/{empty}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/carts/{empty}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub async fn concurrent_checkouts_of_a_cart_place_one_order(app: &TestApp) {
    let mug = app.product("Mug", "kitchen", "8.00", 5).await;
    let mug_id = id(&mug);
    let cart_id = cart(app, "cart-racer").await;
    let (status, _) = app
        .put(
            &format!("/carts/{cart_id}/items/{mug_id}"),
            &json!({"quantity": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let attempts = (0..10).map(|_| checkout(app, &cart_id, None));
    let results = futures::future::join_all(attempts).await;
    let mut orders: Vec<String> = Vec::new();
    for (status, body) in &results {
        match *status {
            StatusCode::CREATED | StatusCode::OK => orders.push(id(body)),
            // Met another checkout still running: retry later.
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "conflict", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    orders.dedup();
    assert_eq!(orders.len(), 1, "{results:?}");
    assert_eq!(app.stock(&mug_id).await.0, 3);
    let (status, again) = checkout(app, &cart_id, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(id(&again), orders[0]);
    let (_, listed) = app.get("/orders?customer_id=cart-racer").await;
    assert_eq!(listed["total"], 1, "{listed}");
}

/// With `EMPORIUM_CART_TTL` of one second: a cart lives a second after its last change,
/// then is 404 to every route.
pub async fn carts_expire_after_their_last_change(app: &TestApp) {
    let pen = app.product("Pen", "office", "1.50", 3).await;
    let cart_id = cart(app, "cart-sleeper").await;
    for _ in 0..3 {
        // Each change moves the expiry on: the cart outlives its first second.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let (status, body) = app
            .put(
                &format!("/carts/{cart_id}/items/{}", id(&pen)),
                &json!({"quantity": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let (status, _) = app.get(&format!("/carts/{cart_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = checkout(app, &cart_id, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .put(
            &format!("/carts/{cart_id}/items/{}", id(&pen)),
            &json!({"quantity": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.stock(&id(&pen)).await.0, 3);
}
