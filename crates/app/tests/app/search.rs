//! `GET /api/products?q=` and `GET /api/products/facets`: what a shop's search page sees.
//! The index follows the event feed, so each case waits (a few seconds at most) for a
//! change to show, as a client would.

use crate::helpers::{id, unique, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// How long a change may take to reach search results (the feed's second, plus margin
/// for a loaded CI machine).
const WITHIN: Duration = Duration::from_secs(10);

/// GETs `path` until `done` holds for the 200 body; panics with the last body after
/// [`WITHIN`].
pub async fn eventually(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let (status, body) = app.get(path).await;
        if status == StatusCode::OK && done(&body) {
            return body;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{path}: not as expected within {WITHIN:?}; last {status}: {body:#}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn names(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, created) = app.post("/products", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

pub async fn search_ranks_filters_and_sorts(app: &TestApp) {
    // A word of our own in every product, so other cases' products never match.
    let word = unique("zq").replace('-', "");
    let category = unique("search");
    let supplier = {
        let (status, body) = app
            .post("/suppliers", &json!({"name": "Acme", "region": "EU"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        id(&body)
    };
    let laptop = create(app, json!({"sku": unique("S"), "name": format!("Gaming Laptop {word}"),
        "description": "Fast", "category": category, "price": "1299.99", "stock": 5,
        "supplier_id": supplier, "tags": ["esports"], "attributes": {"color": "black", "ram_gb": 32}})).await;
    let bag = create(
        app,
        json!({"sku": unique("S"), "name": format!("Sleeve {word}"),
        "description": "Protects a laptop", "category": category, "price": "39.00", "stock": 1,
        "attributes": {"color": "black"}}),
    )
    .await;
    let _lamp = create(
        app,
        json!({"sku": unique("S"), "name": format!("Desk lamp {word}"),
        "description": "Warm light", "category": "lights", "price": "25.00", "stock": 0,
        "attributes": {"color": "white"}}),
    )
    .await;

    // All three indexed (the index follows the feed: eventually).
    eventually(app, &format!("/products?q={word}"), |b| b["total"] == 3).await;
    eventually(app, &format!("/products?q={word}&in_stock=true"), |b| {
        b["total"] == 2
    })
    .await;
    // Ranked: the name match first, the description match after it, each with a score.
    let path = format!("/products?q=laptop+{word}");
    let body = eventually(app, &path, |b| b["total"] == 2).await;
    assert_eq!(names(&body)[0], format!("Gaming Laptop {word}"));
    let scores: Vec<f64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["score"].as_f64().expect("a score with q"))
        .collect();
    assert!(scores[0] > scores[1] && scores[1] > 0.0, "{scores:?}");
    assert_eq!(body["items"][0]["stock"], 5, "stock comes from the ledger");
    // Prefix and one typo.
    let body = app.get(&format!("/products?q=lapt+{word}")).await.1;
    assert_eq!(body["total"], 2, "prefix: {body}");
    let body = app.get(&format!("/products?q=labtop+{word}")).await.1;
    assert_eq!(body["total"], 2, "one typo: {body}");
    let body = app.get(&format!("/products?q=esprots+{word}")).await.1;
    assert_eq!(
        names(&body),
        [format!("Gaming Laptop {word}")],
        "tags, one typo"
    );

    // Every filter combines with q.
    let only = |query: &str| {
        let path = format!("/products?q={word}&{query}");
        async move {
            let (status, body) = app.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            let mut n = names(&body);
            n.sort();
            n
        }
    };
    assert_eq!(only(&format!("category={category}")).await.len(), 2);
    assert_eq!(
        only(&format!("supplier_id={supplier}")).await,
        [format!("Gaming Laptop {word}")]
    );
    assert_eq!(
        only("min_price=25&max_price=39").await,
        [format!("Desk lamp {word}"), format!("Sleeve {word}")]
    );
    assert_eq!(
        only("in_stock=true").await,
        [format!("Gaming Laptop {word}"), format!("Sleeve {word}")]
    );
    assert_eq!(only("in_stock=false").await, [format!("Desk lamp {word}")]);
    assert_eq!(
        only("attr.color=black&max_price=100").await,
        [format!("Sleeve {word}")]
    );
    assert_eq!(
        only("attr.ram_gb=32").await,
        [format!("Gaming Laptop {word}")]
    );
    assert!(
        only("attr.color=%7B%22%24ne%22%3Anull%7D").await.is_empty(),
        "operators are values"
    );

    // Sorts.
    let sorted = |sort: &str| {
        let path = format!("/products?q={word}&sort={sort}");
        async move { names(&app.get(&path).await.1) }
    };
    assert_eq!(
        sorted("price").await,
        [
            format!("Desk lamp {word}"),
            format!("Sleeve {word}"),
            format!("Gaming Laptop {word}")
        ]
    );
    assert_eq!(
        sorted("-price").await,
        [
            format!("Gaming Laptop {word}"),
            format!("Sleeve {word}"),
            format!("Desk lamp {word}")
        ]
    );
    assert_eq!(
        sorted("name").await,
        [
            format!("Desk lamp {word}"),
            format!("Gaming Laptop {word}"),
            format!("Sleeve {word}")
        ]
    );
    assert_eq!(
        sorted("-created_at").await,
        [
            format!("Desk lamp {word}"),
            format!("Sleeve {word}"),
            format!("Gaming Laptop {word}")
        ]
    );
    let page = app
        .get(&format!("/products?q={word}&sort=price&limit=1&offset=1"))
        .await
        .1;
    assert_eq!(
        (
            page["total"].clone(),
            page["limit"].clone(),
            page["offset"].clone()
        ),
        (json!(3), json!(1), json!(1))
    );
    assert_eq!(names(&page), [format!("Sleeve {word}")]);

    // Stock running out takes a product out of `in_stock=true`; an edit is found by its
    // new words; a deleted product is gone.
    let order = app
        .order("search-buyer", &[(&id(&bag), 1)], "tok_visa")
        .await;
    assert_eq!(order.0, StatusCode::CREATED, "{}", order.1);
    eventually(app, &format!("/products?q={word}&in_stock=true"), |b| {
        b["total"] == 1
    })
    .await;
    let (status, _) = app
        .put(
            &format!("/products/{}", id(&laptop)),
            &json!({"name": format!("Ultrabook {word}")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    eventually(app, &format!("/products?q=ultrabook+{word}"), |b| {
        b["total"] == 1
    })
    .await;
    let (status, _) = app.delete(&format!("/products/{}", id(&bag))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually(app, &format!("/products?q=sleeve+{word}"), |b| {
        b["total"] == 0
    })
    .await;

    // Without q and in_stock the catalog answers: current at once, and no scores.
    let plain = app.get(&format!("/products?category={category}")).await.1;
    assert_eq!(names(&plain), [format!("Ultrabook {word}")]);
    assert!(plain["items"][0].get("score").is_none());
}

pub async fn facets_count_the_filtered_products(app: &TestApp) {
    let word = unique("zf").replace('-', "");
    for (name, category, price, color) in [
        ("Desk lamp", "lights", "9.99", "red"),
        ("Floor lamp", "lights", "10.00", "red"),
        ("Wall lamp", "lights", "24.99", "blue"),
        ("Lamp oil", "supplies", "25.00", "clear"),
    ] {
        create(
            app,
            json!({"sku": unique("F"), "name": format!("{name} {word}"), "category": category,
            "price": price, "stock": 1, "attributes": {"finish": {"color": color}}}),
        )
        .await;
    }
    let path =
        format!("/products/facets?q={word}&facets=category,price,attr.finish.color,supplier_id");
    let body = eventually(app, &path, |b| b["total"] == 4).await;
    assert_eq!(
        body["facets"],
        json!({
            "category": [{"value": "lights", "count": 3}, {"value": "supplies", "count": 1}],
            "supplier_id": [],
            "price": [
                {"min": "0.00", "max": "10.00", "count": 1},
                {"min": "10.00", "max": "25.00", "count": 2},
                {"min": "25.00", "max": "50.00", "count": 1}
            ],
            "attr.finish.color": [
                {"value": "red", "count": 2}, {"value": "blue", "count": 1}, {"value": "clear", "count": 1}
            ]
        })
    );
    // The same filters as the list narrow the counts; the default facets are three.
    let body = app
        .get(&format!(
            "/products/facets?q={word}&category=lights&max_price=10"
        ))
        .await
        .1;
    assert_eq!(body["total"], 2, "{body}");
    let keys: Vec<_> = body["facets"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys, ["category", "price", "supplier_id"]);
    assert_eq!(
        body["facets"]["category"],
        json!([{"value": "lights", "count": 2}])
    );
}

pub async fn bad_search_parameters_are_400(app: &TestApp) {
    for query in [
        "/products?sort=popularity",
        "/products?q=lamp&sort=score",
        "/products?in_stock=maybe",
        "/products?q=lamp&min_price=abc",
        "/products/facets?facets=colour",
        "/products/facets?facets=category,",
        "/products/facets?facets=attr.%24where",
        "/products/facets?max_price=1e3",
        "/products?attr.%24where=1",
    ] {
        let (status, body) = app.get(query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
        let named = [
            "sort",
            "in_stock",
            "min_price",
            "facets",
            "max_price",
            "attr.",
        ]
        .iter()
        .any(|p| body["error"]["message"].as_str().unwrap_or("").contains(p));
        assert!(named, "{query}: the message names the parameter: {body}");
    }
    // An operator-shaped parameter name is just an unknown parameter.
    let (status, _) = app.get("/products?q%5B%24ne%5D=1").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.post("/products/facets", &json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

/// Real stores only: a product renamed in the MongoDB shell is found by its new name.
pub async fn direct_catalog_edits_reach_search(app: &TestApp) {
    let word = unique("zm").replace('-', "");
    let product = app
        .product(&format!("Shell lamp {word}"), "lights", "19.00", 5)
        .await;
    eventually(app, &format!("/products?q={word}"), |b| b["total"] == 1).await;
    app.rename_in_mongodb(&id(&product), &format!("Lantern {word}"))
        .await;
    eventually(app, &format!("/products?q=lantern+{word}"), |b| {
        b["total"] == 1
    })
    .await;
}

/// Products that exist before the server starts are found: the index is built at start.
pub async fn the_index_is_built_at_start() {
    use emporium_app::backend::Backend;
    use emporium_domain::model::ProductInput;
    use emporium_domain::service::CatalogService;
    let backend = Backend::memory();
    let word = unique("zs").replace('-', "");
    CatalogService::new(backend.stores.clone())
        .create(ProductInput {
            sku: Some(unique("B")),
            name: Some(format!("Old lamp {word}")),
            category: Some("lights".into()),
            price: Some("5.00".into()),
            stock: Some(2),
            ..Default::default()
        })
        .await
        .expect("product made before the start");
    let app = crate::helpers::spawn(backend, Vec::new()).await;
    let body = eventually(
        &app,
        &format!("/products?q=lamp+{word}&in_stock=true"),
        |b| b["total"] == 1,
    )
    .await;
    assert_eq!(body["items"][0]["stock"], 2);
}
