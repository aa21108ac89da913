//! Health, OpenAPI, error shapes and admin routes.

use crate::helpers::{TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::json;

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

/// The OpenAPI document declares what the server enforces (checked in full by schemathesis
/// in `scripts/test.sh`): every path parameter, the 400 of every route that reads a body or
/// a query, the query constraints, and the fields a create requires.
pub async fn openapi_describes_what_the_server_enforces(app: &TestApp) {
    let (status, doc) = app.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            if path.contains("{id}") {
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == "id" && p["in"] == "path"));
                assert!(declared, "{method} {path} declares its `id`");
            }
            let reads_input = op.get("requestBody").is_some()
                || op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            if reads_input {
                assert!(
                    op["responses"].get("400").is_some(),
                    "{method} {path} documents 400"
                );
            }
        }
    }
    let limit = doc["paths"]["/api/orders"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .cloned()
        .unwrap();
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["NewProductBody"]["required"],
        json!(["sku", "name", "category", "price"])
    );
    assert!(
        schemas["ProductBody"].get("required").is_none(),
        "an update requires nothing: {}",
        schemas["ProductBody"]
    );
    assert_eq!(
        schemas["NewProductBody"]["properties"]["sku"]["type"],
        "string"
    );
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
    assert_eq!(
        response.headers()["allow"],
        "GET, POST",
        "RFC 9110: 405 lists the methods"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string());
    for (path, allow) in [("/orders/0", "GET, PUT, DELETE"), ("/health", "GET")] {
        let response = app.client.post(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(response.headers()["allow"], allow, "{path}");
    }
    // serde would read a struct from an array; the contract says object.
    let (status, body) = app
        .post(
            "/suppliers",
            &json!({"name": "Arrays Inc", "region": "EU", "contact": [null, null]}),
        )
        .await;
    assert!(status.is_client_error(), "{status} {body}");
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
    use crate::helpers::READ_TOKEN;
    let call = |method: reqwest::Method, path: &str, token: Option<&str>| {
        let mut request = app.client.request(method, app.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, challenge, body)
        }
    };
    use reqwest::Method;
    let (status, challenge, body) = call(Method::GET, "/admin/sagas", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    let (status, ..) = call(
        Method::GET,
        "/admin/sagas?state=stuck",
        Some("wrong-token-wrong-token"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Reading: either token. Writing: only the write token.
    let (status, _, body) = call(
        Method::GET,
        "/admin/sagas?state=completed",
        Some(READ_TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["items"].is_array());
    let (status, _, body) = call(Method::GET, "/admin/sagas", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = call(Method::POST, "/admin/sagas", Some(READ_TOKEN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, ..) = call(Method::POST, "/admin/sagas", Some(ADMIN_TOKEN)).await;
    assert_eq!(
        status,
        StatusCode::METHOD_NOT_ALLOWED,
        "past the guard, the route's own answer"
    );
    let (status, ..) = call(Method::GET, "/admin/nothing-here", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every call above is in the audit log, newest first, with the token's name and never
    // the token.
    let (status, _, audit) = call(Method::GET, "/admin/audit?limit=500", Some(READ_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let text = audit.to_string();
    for token in [ADMIN_TOKEN, READ_TOKEN, "wrong-token-wrong-token"] {
        assert!(!text.contains(token), "a token in the audit log: {text}");
    }
    let seen: Vec<(serde_json::Value, String, String, u64)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].clone(),
                e["method"].as_str().unwrap().to_owned(),
                e["path"].as_str().unwrap().to_owned(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        (json!("ops"), "GET", "/api/admin/nothing-here", 404),
        (json!("ops"), "POST", "/api/admin/sagas", 405),
        (json!("viewer"), "POST", "/api/admin/sagas", 403),
        (json!("ops"), "GET", "/api/admin/sagas", 200),
        (json!("viewer"), "GET", "/api/admin/sagas", 200),
        (json!(null), "GET", "/api/admin/sagas", 401),
        (json!(null), "GET", "/api/admin/sagas", 401),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(a, m, p, s)| (a.clone(), m.to_string(), p.to_string(), *s))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(audit["total"], 7);
}

/// Without any admin token configured, admin routes do not exist.
pub async fn admin_routes_are_off_without_tokens() {
    let base = crate::support::spawn_app(
        emporium_app::backend::Backend::memory(),
        emporium_app::startup::AppOptions::default(),
    );
    let client = reqwest::Client::new();
    for path in ["/admin/sagas", "/admin/audit"] {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }
}
