//! `/api/categories` over HTTP: a tree with slugs unique among siblings and no cycles,
//! products in many categories, `?category=` with descendants, the sales report rolled up
//! the tree, and deletes that refuse while products use a category unless reassigned.

use crate::helpers::{id, unique_sku, TestApp};
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

async fn category(app: &TestApp, name: &str, slug: &str, parent: Option<&str>) -> String {
    let (status, body) = app
        .post(
            "/categories",
            &json!({"name": name, "slug": slug, "parent_id": parent}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    id(&body)
}

async fn names(app: &TestApp, path: &str) -> Vec<String> {
    let (status, body) = app.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    let mut names: Vec<String> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

pub async fn categories_form_a_tree_that_products_and_reports_follow(app: &TestApp) {
    let electronics = category(app, "Electronics", "electronics", None).await;
    let computers = category(app, "Computers", "computers", Some(&electronics)).await;
    let laptops = category(app, "Laptops", "laptops", Some(&computers)).await;
    let books = category(app, "Books", "books", None).await;

    // A slug is unique among siblings only.
    let (status, body) = app
        .post(
            "/categories",
            &json!({"name": "X", "slug": "computers", "parent_id": electronics}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    category(app, "Used computers", "computers", Some(&books)).await;
    // Bad values are 422 naming the fields; an unknown parent too.
    let (status, body) = app
        .post("/categories", &json!({"name": "", "slug": "Not A Slug"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields = crate::helpers::fields(&body);
    assert!(
        fields.contains(&"name".to_owned()) && fields.contains(&"slug".to_owned()),
        "{body}"
    );
    let (status, _) = app
        .post(
            "/categories",
            &json!({"name": "Orphan", "slug": "orphan", "parent_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A parent that would make a cycle is 422, and the tree stays as it was.
    let (status, body) = patch(
        app,
        &format!("/categories/{electronics}"),
        &json!({"parent_id": laptops}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, got) = app.get(&format!("/categories/{laptops}")).await;
    assert_eq!(got["path"], "electronics/computers/laptops", "{got}");
    let (_, got) = app.get(&format!("/categories/{electronics}")).await;
    assert!(got["parent_id"].is_null(), "{got}");

    // Products name categories by slug or id; an ambiguous slug is 422.
    let create = |name: &str, primary: &str, price: &str, categories: Value| {
        json!({"sku": unique_sku(), "name": name, "category": primary, "price": price,
               "stock": 10, "categories": categories})
    };
    let (status, body) = app
        .post(
            "/products",
            &create("Nope", "misc", "1.00", json!(["computers"])),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"]["details"][0]["field"], "categories[0]",
        "{body}"
    );
    let (status, laptop) = app
        .post(
            "/products",
            &create("Laptop", "misc", "1000.00", json!(["laptops", books])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{laptop}");
    assert_eq!(laptop["categories"], json!([laptops, books]), "{laptop}");
    let (_, desktop) = app
        .post(
            "/products",
            &create("Desktop", "computers", "500.00", json!([])),
        )
        .await;
    let (_, novel) = app
        .post(
            "/products",
            &create("Novel", "fiction", "10.00", json!([books])),
        )
        .await;

    // `?category=` includes descendants, and primary categories named by the slug of one
    // of them. "computers" is the slug of two categories, so the desktop's primary
    // category stands for neither (yet).
    assert_eq!(
        names(app, "/products?category=electronics").await,
        ["Laptop"]
    );
    assert_eq!(
        names(app, &format!("/products?category={books}")).await,
        ["Laptop", "Novel"]
    );
    assert_eq!(names(app, "/products?category=fiction").await, ["Novel"]);
    let (_, listed) = app.get("/categories?limit=500").await;
    let counts: Vec<(String, u64)> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_owned(),
                c["product_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("electronics".to_owned(), 0),
            ("electronics/computers".to_owned(), 0),
            ("electronics/computers/laptops".to_owned(), 1),
            ("books".to_owned(), 2),
            ("books/computers".to_owned(), 0),
        ]
    );

    // Sales follow the tree: a parent has its descendants' sales, each product once.
    let (status, order) = app
        .order(
            "tree-buyer",
            &[(&id(&laptop), 1), (&id(&desktop), 2), (&id(&novel), 3)],
            "tok_visa",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    // In use: 409 and nothing changes; with reassign_to the products move first.
    let (status, body) = app.delete(&format!("/categories/{books}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = app.delete(&format!("/categories/{computers}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "subcategories");
    let (status, _) = app
        .delete(&format!("/categories/{books}?reassign_to={books}"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        names(app, &format!("/products?category={books}")).await,
        ["Laptop", "Novel"]
    );
    let (status, _) = app
        .delete(&format!("/categories/{books}?reassign_to=laptops"))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "books/computers is still under books"
    );
    let used = {
        let (_, listed) = app.get("/categories?limit=500").await;
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["path"] == "books/computers")
            .map(id)
            .unwrap()
    };
    let (status, _) = app.delete(&format!("/categories/{used}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // With "computers" unique again, the desktop's primary category is in the tree.
    assert_eq!(
        names(app, "/products?category=electronics").await,
        ["Desktop", "Laptop"]
    );
    // Sales follow the tree: a parent has its descendants' sales, each product once.
    let (status, report) = app.get("/reports/sales-by-category?rollup=tree").await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let rows: Vec<(String, u64, String)> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_owned(),
                r["units"].as_u64().unwrap(),
                r["revenue"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("electronics".to_owned(), 3, "2000.00".to_owned()),
            ("electronics/computers".to_owned(), 3, "2000.00".to_owned()),
            ("books".to_owned(), 4, "1030.00".to_owned()),
            (
                "electronics/computers/laptops".to_owned(),
                1,
                "1000.00".to_owned()
            ),
        ]
    );
    let (status, _) = app.get("/reports/sales-by-category?rollup=sideways").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = app
        .delete(&format!("/categories/{books}?reassign_to=laptops"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, novel_now) = app.get(&format!("/products/{}", id(&novel))).await;
    assert_eq!(novel_now["categories"], json!([laptops]), "{novel_now}");
    let (status, _) = app.get(&format!("/categories/{books}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        names(app, "/products?category=laptops").await,
        ["Laptop", "Novel"]
    );
}

pub async fn concurrent_category_writes_keep_the_tree_sound(app: &TestApp) {
    let root = category(app, "Garden", "garden", None).await;
    let requests = (0..20).map(|i| {
        let (client, url) = (app.client.clone(), app.url("/categories"));
        let slug = if i % 2 == 0 {
            "tools".to_owned()
        } else {
            format!("plants-{i}")
        };
        let body = json!({"name": "Child", "slug": slug, "parent_id": root});
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
    let statuses = futures::future::join_all(requests).await;
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    // Ten distinct slugs and one of the ten "tools": eleven created, nine conflicts.
    assert_eq!((created, conflicts), (11, 9), "{statuses:?}");
    let (_, listed) = app.get("/categories?limit=500").await;
    assert_eq!(listed["total"], 12, "{listed}");
}
