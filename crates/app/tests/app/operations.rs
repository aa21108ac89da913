//! Health, OpenAPI, error shapes and admin routes.

use crate::helpers::{TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;

pub async fn health_and_openapi(app: &TestApp) {
    let (status, body) = app.get("/health").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    let checks = body["checks"].as_object().unwrap();
    assert!(!checks.is_empty());
    assert!(checks.values().all(|v| v == "ok"), "{body}");

    let (status, doc) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/products",
        "/api/products/{id}",
        "/api/suppliers",
        "/api/suppliers/{id}",
        "/api/orders",
        "/api/orders/{id}",
        "/api/health",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
}

pub async fn errors_are_json(app: &TestApp) {
    let (status, body) = app.get("/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = app.get("/products/not-a-uuid").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let response = app.client.patch(app.url("/orders")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string());
    let (status, body) = app.post_raw("/orders", "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_request");
    let response = app
        .client
        .post(app.url("/orders"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20));
    let (status, body) = app.post_raw("/suppliers", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}

pub async fn admin_routes_need_the_token(app: &TestApp) {
    let (status, body) = app.get("/admin/sagas").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let response = app
        .client
        .get(app.url("/admin/sagas?state=stuck"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .client
        .get(app.url("/admin/sagas?state=completed"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["items"].is_array());
}
