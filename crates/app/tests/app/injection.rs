//! Hostile input (issue 13, part 3): MongoDB operators and SQL in query parameters and
//! JSON bodies are data, never queries; oversized bodies, deeply nested JSON and clients
//! that stall get clear 4xx answers or a closed connection, and the server goes on.

use crate::helpers::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

async fn total(app: &TestApp, path: &str) -> (StatusCode, Option<u64>) {
    let (status, body) = app.get(path).await;
    (status, body["total"].as_u64())
}

pub async fn operators_and_sql_are_data_and_hostile_bodies_are_refused(app: &TestApp) {
    let lamp = app.product("Injection lamp", "lighting", "10.00", 5).await;
    app.product("Injection pan", "kitchen", "12.00", 5).await;
    let (_, all) = total(app, "/products?limit=100").await;

    // MongoDB operators in query parameters: each case's result as an operator would
    // differ from its result as data (or as an unknown parameter, which is ignored).
    for (path, as_operator) in [
        // `category != lighting` would be the pan alone.
        ("/products?category[$ne]=lighting", Some(1)),
        ("/products?category%5B%24ne%5D=lighting", Some(1)),
        // A category spelled as an operator document is a category nobody has.
        (
            "/products?category=%7B%22%24ne%22%3A%22lighting%22%7D",
            Some(1),
        ),
        // Text that is a regex or a server-side operator matches only itself.
        ("/products?q=.*", Some(2)),
        ("/products?q=%5E", Some(2)),
        ("/products?q=%24where", None),
    ] {
        let (status, body) = app.get(path).await;
        assert!(
            status == StatusCode::OK || status.is_client_error(),
            "{path}: {status} {body}"
        );
        if status == StatusCode::OK {
            let n = body["total"].as_u64();
            assert!(
                as_operator.is_none() || n != as_operator,
                "{path} was read as an operator: {body}"
            );
            if path.contains("q=") || path.contains("%7B") {
                assert_eq!(n, Some(0), "{path} is data that matches nothing: {body}");
            } else {
                assert_eq!(
                    n, all,
                    "{path}: an unknown parameter changes nothing: {body}"
                );
            }
        }
    }

    // MongoDB operators in JSON bodies: refused as the wrong type, nothing written.
    for (path, body) in [
        (
            "/products",
            json!({"sku": "INJ-1", "name": {"$ne": null}, "category": "x", "price": "1.00", "stock": 1}),
        ),
        (
            "/products",
            json!({"sku": {"$gt": ""}, "name": "n", "category": "x", "price": "1.00", "stock": 1}),
        ),
        (
            "/customers",
            json!({"name": "n", "email": {"$regex": ".*"}}),
        ),
        (
            "/orders",
            json!({"customer_id": {"$ne": null}, "items": [{"product_id": lamp["id"], "quantity": 1}],
                           "payment": {"method": "card", "token": "tok_visa"}}),
        ),
    ] {
        let (status, answer) = app.post(path, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {answer}");
        assert!(answer["error"]["code"].is_string(), "{answer}");
    }
    let (status, answer) = app
        .put(
            &format!("/products/{}", lamp["id"].as_str().unwrap()),
            &json!({"price": {"$gt": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        total(app, "/products?limit=100").await.1,
        all,
        "nothing was written"
    );

    // SQL in parameters that reach PostgreSQL: bound, never spliced.
    for path in [
        "/orders?customer_id=%27%20OR%20%271%27%3D%271",
        "/orders?customer_id=x%27%3B%20DROP%20TABLE%20inventory%3B--",
        "/reports/low-stock?threshold=1%3BDROP%20TABLE%20inventory",
        "/reports/sales-by-product?from=2020-01-01%27%20OR%201%3D1--",
    ] {
        let (status, body) = app.get(path).await;
        assert!(
            status == StatusCode::OK || status.is_client_error(),
            "{path}: {status} {body}"
        );
        if status == StatusCode::OK && path.starts_with("/orders") {
            assert_eq!(body["total"], 0, "{path}: {body}");
        }
    }
    let (status, still) = app
        .get(&format!("/products/{}", lamp["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        (status, &still["stock"]),
        (StatusCode::OK, &json!(5)),
        "inventory is intact: {still}"
    );

    // A body over the limit: 413 in the error envelope.
    let big = "x".repeat(2 << 20);
    let response = app
        .client
        .post(app.url("/products"))
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");

    // JSON nested deeper than the parser goes: a 4xx, not a crash.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let response = app
        .client
        .post(app.url("/products"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());

    // A client that sends half a request and stalls: the server gives up on it within its
    // request timeout, and serves everyone else meanwhile.
    let address = app.url("/").replace("http://", "");
    let address = address.split('/').next().unwrap().to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&address).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stalled
        .write_all(b"POST /api/products HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
        .await
        .unwrap();
    let (status, _) = app.get("/products?limit=1").await;
    assert_eq!(status, StatusCode::OK, "others are served while one stalls");
    let mut answer = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(15), stalled.read_to_end(&mut answer)).await;
    assert!(
        closed.is_ok(),
        "the stalled connection was never given up on"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
}
