//! `/api/products`.

use crate::helpers::{fields, id, unique, unique_sku, TestApp};
use reqwest::StatusCode;
use serde_json::json;

pub async fn create_get_update_delete(app: &TestApp) {
    let sku = unique_sku();
    let (status, created) = app
        .post(
            "/products",
            &json!({
                "sku": sku, "name": "Gaming Laptop", "description": "Fast.",
                "category": "electronics", "price": "1299.99", "currency": "USD", "stock": 25,
                "low_stock_threshold": 5, "supplier_id": null, "tags": ["gaming"],
                "attributes": {"cpu": "i7", "display": {"size": "15.6in"}},
                "variants": [{"sku": format!("{sku}-V"), "attributes": {"color": "Red"}}]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["price"], "1299.99");
    assert_eq!(created["currency"], "USD");
    assert_eq!(created["stock"], 25);
    assert_eq!(created["reserved"], 0);
    assert_eq!(created["attributes"]["display"]["size"], "15.6in");
    assert_eq!(created["variants"][0]["attributes"]["color"], "Red");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    let pid = id(&created);

    let (status, fetched) = app.get(&format!("/products/{pid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created, "GET returns what POST returned");

    // Partial update: a JSON number price, new stock; untouched fields stay.
    let (status, updated) = app
        .put(
            &format!("/products/{pid}"),
            &json!({"name": "Gaming Laptop Pro", "price": 1499.5, "stock": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "Gaming Laptop Pro");
    assert_eq!(updated["price"], "1499.50");
    assert_eq!(updated["stock"], 7);
    assert_eq!(updated["category"], "electronics");
    assert_eq!(updated["attributes"]["cpu"], "i7");
    assert_eq!(app.stock(&pid).await, (7, 0));

    let (status, body) = app
        .put(&format!("/products/{pid}"), &json!({"sku": "OTHER-SKU"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app
        .put(&format!("/products/{pid}"), &json!({"stock": -1}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        app.stock(&pid).await,
        (7, 0),
        "a refused update changes nothing"
    );

    let (status, body) = app.delete(&format!("/products/{pid}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = app.get(&format!("/products/{pid}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = app.delete(&format!("/products/{pid}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The SKU is free again.
    let (status, body) = app
        .post(
            "/products",
            &json!({"sku": sku, "name": "Again", "category": "c", "price": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

pub async fn invalid_products_are_refused_and_change_nothing(app: &TestApp) {
    let category = unique("invalid");
    let count = || async {
        app.get(&format!("/products?category={category}")).await.1["total"]
            .as_u64()
            .unwrap()
    };
    let (status, body) = app.post("/products", &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "validation_failed");
    let named = fields(&body);
    for f in ["sku", "name", "category", "price"] {
        assert!(named.contains(&f.to_string()), "{f} missing from {named:?}");
    }

    let base = json!({"sku": unique_sku(), "name": "X", "category": category, "price": "1.00"});
    let cases = [
        ("price", json!("-0.01")),
        ("price", json!("1.999")),
        ("price", json!("10000000000.00")),
        ("price", json!("abc")),
        ("stock", json!(-1)),
        ("sku", json!("has space")),
        ("sku", json!("x".repeat(65))),
        ("name", json!("")),
        ("name", json!("n".repeat(201))),
        ("name", json!("bell\u{0007}")),
        ("category", json!("c".repeat(101))),
        ("description", json!("d".repeat(10_001))),
        ("currency", json!("usd")),
        ("attributes", json!({"$where": "1"})),
        ("attributes", json!([1, 2])),
        ("supplier_id", json!(uuid::Uuid::now_v7())),
    ];
    for (field, value) in cases {
        let mut body = base.clone();
        body[field] = value.clone();
        let (status, reply) = app.post("/products", &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value} should be refused: {reply}"
        );
        assert!(
            fields(&reply).iter().any(|f| f.starts_with(field)),
            "{field} named in {reply}"
        );
    }
    // Wrong JSON types are 422 too; malformed JSON is 400.
    let mut wrong_type = base.clone();
    wrong_type["stock"] = json!("many");
    assert_eq!(
        app.post("/products", &wrong_type).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, body) = app.post_raw("/products", "{\"sku\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_request");
    assert_eq!(count().await, 0, "nothing was created");

    let (status, _) = app.post("/products", &base).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut dup = base.clone();
    dup["name"] = json!("Duplicate");
    let (status, body) = app.post("/products", &dup).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(count().await, 1);
}

pub async fn list_filters_sort_and_page(app: &TestApp) {
    let category = unique("list");
    let make = |sku: String, name: &str, price: &str, attrs: serde_json::Value, tags: Vec<&str>| {
        json!({"sku": sku, "name": name, "category": category, "price": price,
               "attributes": attrs, "tags": tags, "description": format!("About {name}")})
    };
    let laptop = make(
        unique_sku(),
        "Gaming Laptop",
        "1299.99",
        json!({"display": {"size": "15.6in"}, "ram_gb": 32}),
        vec!["gaming"],
    );
    let tablet = make(
        unique_sku(),
        "Drawing Tablet",
        "349.00",
        json!({"display": {"size": "13in"}, "ram_gb": 8}),
        vec!["art"],
    );
    let phone = make(
        unique_sku(),
        "Budget Phone",
        "99.90",
        json!({"display": {"size": "6.1in"}, "ram_gb": 4}),
        vec!["mobile"],
    );
    for p in [&laptop, &tablet, &phone] {
        assert_eq!(app.post("/products", p).await.0, StatusCode::CREATED);
    }
    let category = category.as_str();
    let names = |query: String| async move {
        let (status, body) = app
            .get(&format!("/products?category={category}&{query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names("sort=price".into()).await,
        ["Budget Phone", "Drawing Tablet", "Gaming Laptop"]
    );
    assert_eq!(
        names("sort=-price".into()).await,
        ["Gaming Laptop", "Drawing Tablet", "Budget Phone"]
    );
    assert_eq!(
        names("sort=name".into()).await,
        ["Budget Phone", "Drawing Tablet", "Gaming Laptop"]
    );
    assert_eq!(
        names("sort=-created_at".into()).await,
        ["Budget Phone", "Drawing Tablet", "Gaming Laptop"]
    );
    assert_eq!(
        names("min_price=100&max_price=1299.99&sort=price".into()).await,
        ["Drawing Tablet", "Gaming Laptop"]
    );
    assert_eq!(
        names("attr.display.size=15.6in".into()).await,
        ["Gaming Laptop"]
    );
    assert_eq!(names("attr.ram_gb=8".into()).await, ["Drawing Tablet"]);
    // `q` is ranked search, answered by the index: see search.rs.
    assert!(names("attr.display.size=%7B%22%24ne%22%3Anull%7D".into())
        .await
        .is_empty());

    let (_, page) = app
        .get(&format!(
            "/products?category={category}&sort=price&limit=2&offset=1"
        ))
        .await;
    assert_eq!(page["total"], 3);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["offset"], 1);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["name"], "Drawing Tablet");
    let (_, defaults) = app.get("/products").await;
    assert_eq!(defaults["limit"], 50);
    assert_eq!(defaults["offset"], 0);
}

pub async fn bad_query_parameters_are_400(app: &TestApp) {
    for query in [
        "min_price=abc",
        "max_price=-5",
        "limit=-1",
        "limit=0",
        "limit=501",
        "offset=-1",
        "limit=ten",
        "sort=random",
        "in_stock=maybe",
        "supplier_id=not-a-uuid",
        "attr.bad$key=1",
        "attr.display..size=1",
        "attr.=x",
    ] {
        let (status, body) = app.get(&format!("/products?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    let (status, _) = app.get("/products?unknown=1&limit=500").await;
    assert_eq!(status, StatusCode::OK, "unknown parameters are ignored");
}
