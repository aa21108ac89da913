//! Orders paid through the HTTP payment gateway adapter, against the gateway simulator
//! (served in this process on its own port): what a shop on a real gateway sees.

use crate::helpers::{id, spawn, unique, TestApp};
use emporium_app::backend::Backend;
use emporium_gateway::simulator::{Simulator, SimulatorConfig};
use emporium_gateway::{HttpGatewayConfig, HttpPaymentGateway};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

const API_KEY: &str = "sk_test_api_suite";

/// The app on memory stores, paying through the HTTP gateway; and the simulator's base URL.
async fn app_on_http_gateway() -> (TestApp, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let simulator = Simulator::new(SimulatorConfig {
        api_key: API_KEY.into(),
        slow: Duration::from_secs(3),
    })
    .serve(listener)
    .expect("the simulator serves");
    tokio::spawn(simulator);
    let gateway = HttpPaymentGateway::new(HttpGatewayConfig {
        timeout: Duration::from_secs(2),
        backoff: Duration::from_millis(20),
        ..HttpGatewayConfig::new(base.clone(), API_KEY)
    })
    .expect("a gateway client");
    let backend = Backend::assemble(None, None, Arc::new(gateway));
    (spawn(backend, Vec::new()).await, base)
}

/// How many times the simulator authorized `order_id`.
async fn authorizations(base: &str, order_id: &str) -> u64 {
    let stats: Value = reqwest::get(format!("{base}/__sim/stats"))
        .await
        .expect("stats")
        .json()
        .await
        .expect("JSON");
    stats["authorizations"][order_id].as_u64().unwrap_or(0)
}

fn order(product: &str, customer: &str, token: &str) -> Value {
    json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 2}],
           "payment": {"method": "card", "token": token}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_authorized_once_at_the_http_gateway() {
    let (app, gateway) = app_on_http_gateway().await;
    let p = id(&app.product("Lamp", "home", "19.99", 5).await);
    let (status, placed) = app
        .post("/orders", &order(&p, &unique("gw"), "tok_visa"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    assert_eq!(placed["status"], "confirmed");
    assert_eq!(placed["payment"]["status"], "authorized");
    assert_eq!(placed["payment"]["amount"], "39.98");
    let order_id = placed["id"].as_str().unwrap();
    assert_eq!(authorizations(&gateway, order_id).await, 1);
    assert_eq!(app.stock(&p).await, (3, 0));

    // Cancelling voids the authorization at the gateway; stock comes back.
    let (status, cancelled) = app.delete(&format!("/orders/{order_id}")).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["payment"]["status"], "voided");
    assert_eq!(app.stock(&p).await, (5, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_at_the_http_gateway_is_402_and_stock_comes_back() {
    let (app, _gateway) = app_on_http_gateway().await;
    let p = id(&app.product("Rug", "home", "80.00", 4).await);
    let (status, body) = app
        .post("/orders", &order(&p, &unique("gw"), "tok_chargeDeclined"))
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert_eq!(body["error"]["code"], "payment_declined");
    assert_eq!(app.stock(&p).await, (4, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_that_is_down_is_503_and_nothing_is_sold() {
    let (app, gateway) = app_on_http_gateway().await;
    let p = id(&app.product("Vase", "home", "12.50", 4).await);
    let customer = unique("gw-down");
    let (status, body) = app
        .post("/orders", &order(&p, &customer, "tok_unavailable"))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let (on_hand, _reserved) = app.stock(&p).await;
    assert_eq!(on_hand, 4, "no unit sold without a payment");
    let (_, orders) = app.get(&format!("/orders?customer_id={customer}")).await;
    for o in orders["items"].as_array().unwrap() {
        assert_ne!(o["status"], "confirmed", "{o}");
        assert_eq!(authorizations(&gateway, o["id"].as_str().unwrap()).await, 0);
    }
}
