//! `/api/reports/*`: what a shop owner reads, to the cent, after orders go through.

use crate::helpers::{id, unique, unique_sku, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn product(app: &TestApp, name: &str, category: &str, price: &str, supplier: &str) -> String {
    let (status, body) = app
        .post(
            "/products",
            &json!({"sku": unique_sku(), "name": name, "category": category, "price": price,
                    "stock": 20, "low_stock_threshold": 5, "supplier_id": supplier}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    id(&body)
}

async fn placed(app: &TestApp, lines: &[(&str, u32)]) -> String {
    let (status, order) = app.order(&unique("cust"), lines, "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    id(&order)
}

async fn report(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

pub async fn sales_reports_count_sales_as_they_were_placed(app: &TestApp) {
    let (status, acme) = app
        .post("/suppliers", &json!({"name": "Acme", "region": "EU"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{acme}");
    let acme = id(&acme);
    let lamp = product(app, "Lamp", "lighting", "19.99", &acme).await;
    let desk = product(app, "Desk", "furniture", "250.00", &acme).await;

    let first = placed(app, &[(&lamp, 3), (&desk, 1)]).await;
    placed(app, &[(&lamp, 1)]).await;
    // Not sales: a declined order, and a pending one does not exist after the saga.
    let (status, _) = app
        .order(&unique("cust"), &[(&desk, 2)], "tok_chargeDeclined")
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    // Delivered: the supplier's delivery figures.
    for step in ["shipped", "delivered"] {
        let (status, body) = app
            .put(&format!("/orders/{first}"), &json!({"status": step}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Editing the product later does not rewrite history: the category stays as placed.
    let (status, body) = app
        .put(
            &format!("/products/{lamp}"),
            &json!({"name": "Desk lamp", "category": "decor"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let by_product = report(app, "/reports/sales-by-product").await;
    assert_eq!(by_product["total"], 2);
    assert_eq!(by_product["items"][0]["product_id"], desk.as_str());
    assert_eq!(by_product["items"][0]["revenue"], "250.00");
    assert_eq!(by_product["items"][0]["units"], 1);
    assert_eq!(by_product["items"][1]["product_id"], lamp.as_str());
    assert_eq!(by_product["items"][1]["units"], 4);
    assert_eq!(
        by_product["items"][1]["revenue"], "79.96",
        "19.99 * 4, to the cent"
    );
    assert_eq!(
        by_product["items"][1]["name"], "Desk lamp",
        "names come from the catalog"
    );
    assert_eq!(by_product["items"][1]["currency"], "USD");

    let by_category = report(app, "/reports/sales-by-category").await;
    let rows: Vec<(String, u64, String)> = by_category["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["category"].as_str().unwrap().to_owned(),
                r["units"].as_u64().unwrap(),
                r["revenue"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("furniture".to_owned(), 1, "250.00".to_owned()),
            ("lighting".to_owned(), 4, "79.96".to_owned()),
        ]
    );

    let suppliers = report(app, "/reports/supplier-performance").await;
    assert_eq!(suppliers["total"], 1, "{suppliers}");
    let acme_row = &suppliers["items"][0];
    assert_eq!(acme_row["supplier_id"], acme.as_str());
    assert_eq!(acme_row["name"], "Acme");
    assert_eq!(acme_row["products"], 2);
    assert_eq!(acme_row["units"], 5);
    assert_eq!(acme_row["revenue"], "329.96");
    assert_eq!(acme_row["orders"], 2);
    assert_eq!(acme_row["delivered_orders"], 1);
    assert_eq!(acme_row["delivered_share"], 0.5);
    assert!(acme_row["mean_hours_to_delivery"].as_f64().unwrap() >= 0.0);

    // A window that ends before the orders holds nothing; paging keeps the total.
    let empty = report(app, "/reports/sales-by-product?to=2020-01-01T00:00:00Z").await;
    assert_eq!(
        (
            empty["total"].as_u64(),
            empty["items"].as_array().unwrap().len()
        ),
        (Some(0), 0)
    );
    let second = report(app, "/reports/sales-by-product?limit=1&offset=1").await;
    assert_eq!(second["total"], 2);
    assert_eq!(second["items"][0]["product_id"], lamp.as_str());
    let window = report(
        app,
        "/reports/sales-by-category?from=2020-01-01T00:00:00Z&to=2999-01-01T00:00:00%2B02:00",
    )
    .await;
    assert_eq!(window["total"], 2);
}

pub async fn low_stock_report_uses_the_threshold_or_each_products_own(app: &TestApp) {
    let (_, supplier) = app
        .post("/suppliers", &json!({"name": "Initech", "region": "US"}))
        .await;
    let supplier = id(&supplier);
    let a = product(app, "A", "things", "1.00", &supplier).await;
    let b = product(app, "B", "things", "1.00", &supplier).await;
    let c = product(app, "C", "things", "1.00", &supplier).await;
    for (p, stock) in [(&a, 4), (&b, 1), (&c, 12)] {
        let (status, body) = app
            .put(&format!("/products/{p}"), &json!({"stock": stock}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let low = report(app, "/reports/low-stock?threshold=4").await;
    let rows: Vec<(String, u64)> = low["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["product_id"].as_str().unwrap().to_owned(),
                r["stock"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, vec![(b.clone(), 1), (a.clone(), 4)], "lowest first");
    assert_eq!(low["items"][0]["name"], "B");
    assert_eq!(low["items"][0]["low_stock_threshold"], 5);
    // Without a threshold, each product's own (5 for all three): C is not low.
    let own = report(app, "/reports/low-stock").await;
    assert_eq!(own["total"], 2, "{own}");
    // Selling lowers what is available.
    placed(app, &[(&c, 9)]).await;
    let own = report(app, "/reports/low-stock").await;
    assert_eq!(own["total"], 3, "{own}");
    assert_eq!(own["items"][1]["product_id"], c.as_str());
    assert_eq!(own["items"][1]["stock"], 3);
}

pub async fn bad_report_parameters_are_400_naming_them(app: &TestApp) {
    for (path, parameter) in [
        ("/reports/sales-by-product?from=yesterday", "from"),
        ("/reports/sales-by-category?to=2026-13-01T00:00:00Z", "to"),
        (
            "/reports/supplier-performance?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "to",
        ),
        ("/reports/low-stock?threshold=-1", "threshold"),
        ("/reports/low-stock?threshold=many", "threshold"),
        ("/reports/sales-by-product?limit=0", "limit"),
        ("/reports/sales-by-product?offset=-3", "offset"),
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{parameter}`")),
            "{path}: {message}"
        );
    }
    let (status, _) = app.post("/reports/low-stock", &json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}
