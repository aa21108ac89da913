//! `/api/suppliers`.

use crate::helpers::{fields, id, unique_sku, TestApp};
use reqwest::StatusCode;
use serde_json::json;

pub async fn supplier_crud_and_reference_conflict(app: &TestApp) {
    let (status, body) = app.post("/suppliers", &json!({"name": "No Region"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&body), ["region"]);

    let (status, supplier) = app
        .post(
            "/suppliers",
            &json!({"name": "Acme", "contact": {"email": "sales@acme.test", "phone": "+1 555"},
                    "region": "EU"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{supplier}");
    assert_eq!(supplier["contact"]["email"], "sales@acme.test");
    let sid = id(&supplier);

    let (status, product) = app
        .post(
            "/products",
            &json!({"sku": unique_sku(), "name": "Widget", "category": "parts",
                    "price": "2.50", "supplier_id": sid}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let pid = id(&product);

    let (status, fetched) = app.get(&format!("/suppliers/{sid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["name"], "Acme");
    assert_eq!(fetched["products"].as_array().unwrap().len(), 1);
    assert_eq!(fetched["products"][0]["id"], pid.as_str());

    let (status, updated) = app
        .put(&format!("/suppliers/{sid}"), &json!({"region": "APAC"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["region"], "APAC");
    assert_eq!(updated["name"], "Acme");

    let (_, list) = app.get("/suppliers?limit=500").await;
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == sid.as_str()));

    let (status, body) = app.delete(&format!("/suppliers/{sid}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(
        app.get(&format!("/suppliers/{sid}")).await.0,
        StatusCode::OK
    );

    // Detach the product (supplier_id: null), then the supplier can go.
    let (status, body) = app
        .put(&format!("/products/{pid}"), &json!({"supplier_id": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["supplier_id"].is_null());
    assert_eq!(
        app.delete(&format!("/suppliers/{sid}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/suppliers/{sid}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.put(&format!("/suppliers/{sid}"), &json!({"name": "x"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}
