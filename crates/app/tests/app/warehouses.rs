//! Warehouses over HTTP: the built-in default, stock per warehouse, transfers, orders
//! split over warehouses without overselling any of them, low stock per warehouse.

use crate::helpers::{id, unique, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn by_code(breakdown: &Value) -> std::collections::HashMap<String, (u64, u64)> {
    breakdown["warehouses"]
        .as_array()
        .expect("warehouses")
        .iter()
        .map(|w| {
            (
                w["code"].as_str().unwrap().to_owned(),
                (
                    w["stock"].as_u64().unwrap(),
                    w["reserved"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

pub async fn stock_lives_in_warehouses_and_orders_never_oversell_one(app: &TestApp) {
    let (status, listed) = app.get("/warehouses").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"][0]["code"], "default", "{listed}");
    let code = unique("wh").to_lowercase().replace(['.', ' '], "-");
    let code = &code[..code.len().min(32)];
    let (status, north) = app
        .post(
            "/warehouses",
            &json!({"code": code, "name": "North", "region": "EU"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{north}");
    let north_id = id(&north);
    let (status, _) = app
        .post(
            "/warehouses",
            &json!({"code": code, "name": "Again", "region": "EU"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = app
        .post("/warehouses", &json!({"code": "Bad Code", "name": ""}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The stock given at creation is the default warehouse's.
    let rug = app.product("Rug", "home", "80.00", 4).await;
    let rug_id = id(&rug);
    let (status, stock) = app.get(&format!("/products/{rug_id}/stock")).await;
    assert_eq!(status, StatusCode::OK, "{stock}");
    assert_eq!(stock["total"], 4);
    assert_eq!(by_code(&stock)["default"], (4, 0));
    let (status, stock) = app
        .put(
            &format!("/products/{rug_id}/stock/{north_id}"),
            &json!({"stock": 6}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stock}");
    assert_eq!(stock["total"], 10);
    let (_, product) = app.get(&format!("/products/{rug_id}")).await;
    assert_eq!(
        product["stock"], 10,
        "a product's stock is the sum over warehouses"
    );
    let (status, _) = app
        .put(
            &format!("/products/{rug_id}/stock/{}", uuid::Uuid::now_v7()),
            &json!({"stock": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Transfers: atomic; refused (409) when `from` lacks the units, changing nothing.
    let (status, moved) = app
        .post(
            "/stock/transfers",
            &json!({"product_id": rug_id, "from": code, "to": "default", "quantity": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(
        (by_code(&moved)[code], by_code(&moved)["default"]),
        ((4, 0), (6, 0))
    );
    let (status, body) = app
        .post(
            "/stock/transfers",
            &json!({"product_id": rug_id, "from": code, "to": "default", "quantity": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_stock");
    let (status, body) = app
        .post(
            "/stock/transfers",
            &json!({"product_id": rug_id, "from": "nowhere", "to": "default", "quantity": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = app
        .post("/stock/transfers", &json!({"product_id": rug_id}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, stock) = app.get(&format!("/products/{rug_id}/stock")).await;
    assert_eq!(
        (stock["total"].as_u64(), by_code(&stock)[code]),
        (Some(10), (4, 0))
    );

    // Twenty-five orders of one rug at once: ten succeed, no warehouse oversells.
    let rug = rug_id.as_str();
    let orders = (0..25).map(|i| async move {
        app.order(&format!("rug-{i}"), &[(rug, 1)], "tok_visa")
            .await
            .0
    });
    let statuses = futures::future::join_all(orders).await;
    let placed = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    assert_eq!(placed, 10, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT));
    let (_, stock) = app.get(&format!("/products/{rug_id}/stock")).await;
    assert_eq!(stock["total"], 0, "{stock}");
    assert_eq!(
        (by_code(&stock)[code], by_code(&stock)["default"]),
        ((0, 0), (0, 0)),
        "{stock}"
    );

    // Low stock per warehouse needs a threshold.
    let (status, low) = app
        .get(&format!("/reports/low-stock?warehouse={code}&threshold=0"))
        .await;
    assert_eq!(status, StatusCode::OK, "{low}");
    assert!(
        low["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["product_id"] == rug_id.as_str() && l["warehouse_code"] == code),
        "{low}"
    );
    let (status, _) = app
        .get(&format!("/reports/low-stock?warehouse={code}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
