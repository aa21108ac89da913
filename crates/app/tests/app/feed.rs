//! `GET /api/ws`: what a feed client sees. Changes made through the API and directly in
//! the databases arrive within a second, each with a `seq` that grows; `topics` filters;
//! `since` replays; bad parameters are 400 before any upgrade.

use crate::helpers::{id, TestApp};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a change may take to reach a client (API.md: within a second; the margin is
/// for a loaded CI machine).
const WITHIN: Duration = Duration::from_secs(5);

pub async fn connect(app: &TestApp, query: &str) -> Socket {
    let (socket, response) = tokio_tungstenite::connect_async(app.ws_url(query))
        .await
        .expect("WebSocket upgrade");
    assert_eq!(response.status(), 101);
    socket
}

/// The next JSON text message, or `None` when nothing arrives within `wait`.
pub async fn next_event(socket: &mut Socket, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??;
        match message.expect("frame") {
            Message::Text(text) => return Some(serde_json::from_str(&text).expect("JSON event")),
            Message::Close(frame) => panic!("closed by the server: {frame:?}"),
            _ => continue,
        }
    }
}

/// Reads events until one matches `want`; panics after [`WITHIN`] with what did arrive.
pub async fn wait_for(socket: &mut Socket, want: impl Fn(&Value) -> bool) -> Value {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_event(socket, left).await {
            Some(event) if want(&event) => return event,
            Some(event) => seen.push(event),
            None => panic!("no matching event within {WITHIN:?}; got {seen:#?}"),
        }
    }
}

fn is(event: &Value, kind: &str, id: &str) -> bool {
    event["type"] == kind && event["id"] == id
}

fn seq(event: &Value) -> u64 {
    event["seq"]
        .as_str()
        .expect("seq is a string")
        .parse()
        .expect("seq is decimal")
}

/// Reads events until `want` holds for everything read so far (events of different
/// orders and products may arrive in any order relative to each other).
pub async fn collect_until(socket: &mut Socket, want: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !want(&seen) {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next_event(socket, left).await {
            Some(event) => seen.push(event),
            None => panic!("the expected events did not arrive within {WITHIN:?}; got {seen:#?}"),
        }
    }
    seen
}

fn find(events: &[Value], want: impl Fn(&Value) -> bool) -> Option<&Value> {
    events.iter().find(|e| want(e))
}

pub async fn feed_pushes_every_kind_of_change(app: &TestApp) {
    let mut socket = connect(app, "").await;
    let product = app.product("Feed kettle", "kitchen", "25.00", 10).await;
    let pid = id(&product);
    let events = collect_until(&mut socket, |seen| {
        find(seen, |e| is(e, "product.created", &pid)).is_some()
            && find(seen, |e| is(e, "stock.changed", &pid)).is_some()
    })
    .await;
    let created = find(&events, |e| is(e, "product.created", &pid)).unwrap();
    assert_eq!(created["data"]["name"], "Feed kettle");
    assert_eq!(created["data"]["price"], "25.00");
    assert!(created["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let stock = find(&events, |e| is(e, "stock.changed", &pid)).unwrap();
    assert_eq!(stock["data"]["stock"], 10);
    let stock_seq = seq(stock);

    let (status, order) = app.order("feed-c", &[(&pid, 3)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let oid = id(&order);
    let sold = |e: &Value| {
        is(e, "stock.changed", &pid) && e["data"]["stock"] == 7 && e["data"]["reserved"] == 0
    };
    let confirmed = |e: &Value| is(e, "order.updated", &oid) && e["data"]["status"] == "confirmed";
    let events = collect_until(&mut socket, |seen| {
        find(seen, |e| is(e, "order.created", &oid)).is_some()
            && find(seen, confirmed).is_some()
            && find(seen, sold).is_some()
    })
    .await;
    let placed = find(&events, |e| is(e, "order.created", &oid)).unwrap();
    assert_eq!(placed["data"]["total"], "75.00");
    assert!(seq(find(&events, confirmed).unwrap()) > seq(placed));
    assert!(seq(find(&events, sold).unwrap()) > stock_seq);
    assert!(
        events.windows(2).all(|w| seq(&w[0]) < seq(&w[1])),
        "a client gets events in feed order"
    );

    let (status, _) = app
        .put(&format!("/products/{pid}"), &json!({"price": "30.00"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let updated = wait_for(&mut socket, |e| is(e, "product.updated", &pid)).await;
    assert_eq!(updated["data"]["price"], "30.00");
    let (status, _) = app.delete(&format!("/products/{pid}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    wait_for(&mut socket, |e| is(e, "product.deleted", &pid)).await;
}

pub async fn feed_topics_filter_and_since_replays(app: &TestApp) {
    let mut orders_only = connect(app, "topics=orders").await;
    let product = app.product("Feed mug", "kitchen", "4.00", 10).await;
    let pid = id(&product);
    let (status, order) = app.order("feed-t", &[(&pid, 1)], "tok_visa").await;
    assert_eq!(status, StatusCode::CREATED);
    let oid = id(&order);
    let first = wait_for(&mut orders_only, |e| is(e, "order.created", &oid)).await;
    let confirmed = wait_for(&mut orders_only, |e| is(e, "order.updated", &oid)).await;
    // Nothing but order events on this subscription.
    while let Some(event) = next_event(&mut orders_only, Duration::from_millis(300)).await {
        assert!(
            event["type"].as_str().unwrap().starts_with("order."),
            "{event}"
        );
    }

    // A client that saw only the first event reconnects and gets what it missed, in order.
    let since = seq(&first);
    let mut resumed = connect(app, &format!("since={since}&topics=orders,stock")).await;
    let replayed = wait_for(&mut resumed, |e| is(e, "order.updated", &oid)).await;
    assert_eq!(seq(&replayed), seq(&confirmed));
    // Then it is live.
    let (status, _) = app
        .put(&format!("/products/{pid}"), &json!({"stock": 42}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let live = wait_for(&mut resumed, |e| {
        is(e, "stock.changed", &pid) && e["data"]["stock"] == 42
    })
    .await;
    assert!(seq(&live) > seq(&replayed));

    // A replay from the beginning (older than anything kept back to the start of the
    // feed here) starts with the first event, not with a truncation notice.
    let mut everything = connect(app, "since=0").await;
    let head = next_event(&mut everything, WITHIN).await.expect("replay");
    assert_ne!(head["type"], "replay.truncated");
    let _ = orders_only.close(None).await;
}

pub async fn feed_bad_requests_are_400_before_the_upgrade(app: &TestApp) {
    for (query, names) in [
        ("topics=orders,payments", "topics"),
        ("topics=", "topics"),
        ("since=yesterday", "since"),
        ("since=-1", "since"),
    ] {
        let (status, body) = app.get(&format!("/ws?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{query}: {message}");
        // Also refused on a real upgrade request.
        let refused = tokio_tungstenite::connect_async(app.ws_url(query)).await;
        assert!(refused.is_err(), "{query} upgraded");
    }
    let (status, body) = app.get("/ws").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("WebSocket"));
    let (status, _) = app.post("/ws", &json!({})).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

/// Real stores only: an `UPDATE` typed in psql and an edit in the MongoDB shell reach a
/// client like any change made through the API.
pub async fn direct_database_changes_reach_clients(app: &TestApp) {
    let pg_url = app.postgres_url().expect("a PostgreSQL app");
    let product = app.product("Feed lamp", "lights", "19.00", 5).await;
    let pid = id(&product);
    let mut socket = connect(app, "topics=stock,products").await;

    let pool = sqlx::PgPool::connect(&pg_url).await.expect("psql");
    sqlx::query("UPDATE inventory SET on_hand = 99 WHERE product_id = $1")
        .bind(uuid::Uuid::parse_str(&pid).unwrap())
        .execute(&pool)
        .await
        .expect("direct update");
    wait_for(&mut socket, |e| {
        is(e, "stock.changed", &pid) && e["data"]["stock"] == 99
    })
    .await;
    pool.close().await;

    app.rename_in_mongodb(&pid, "Lamp renamed in the shell")
        .await;
    let updated = wait_for(&mut socket, |e| is(e, "product.updated", &pid)).await;
    assert_eq!(updated["data"]["name"], "Lamp renamed in the shell");
    // The catalog cache heard it too: the API shows the new name at once.
    let (_, body) = app.get(&format!("/products/{pid}")).await;
    assert_eq!(body["name"], "Lamp renamed in the shell");

    // A supplier edited in the shell reaches a client that asked for suppliers.
    let (status, supplier) = app
        .post(
            "/suppliers",
            &json!({"name": "Shell Supplies", "region": "EU"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{supplier}");
    let sid = id(&supplier);
    let mut suppliers = connect(app, "topics=suppliers").await;
    app.rename_document("suppliers", &sid, "Shell Supplies Renamed")
        .await;
    let updated = wait_for(&mut suppliers, |e| is(e, "supplier.updated", &sid)).await;
    assert_eq!(updated["data"]["name"], "Shell Supplies Renamed");
}

/// Supplier events are opt-in: a client that names `suppliers` gets each supplier's
/// creation, edit and deletion, in feed order; a client that names no topics gets the
/// contract's types only (API.md), so it never meets a `supplier.*` type.
pub async fn feed_supplier_changes_are_opt_in(app: &TestApp) {
    let mut plain = connect(app, "").await;
    let mut suppliers = connect(app, "topics=suppliers").await;
    let (status, supplier) = app
        .post(
            "/suppliers",
            &json!({"name": "Feed Supplies", "region": "EU"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{supplier}");
    let sid = id(&supplier);
    let created = wait_for(&mut suppliers, |e| is(e, "supplier.created", &sid)).await;
    assert_eq!(created["data"]["name"], "Feed Supplies");
    assert_eq!(created["data"]["region"], "EU");
    let (status, _) = app
        .put(
            &format!("/suppliers/{sid}"),
            &json!({"name": "Feed Supplies Ltd"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let updated = wait_for(&mut suppliers, |e| is(e, "supplier.updated", &sid)).await;
    assert_eq!(updated["data"]["name"], "Feed Supplies Ltd");
    let (status, _) = app.delete(&format!("/suppliers/{sid}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let deleted = wait_for(&mut suppliers, |e| is(e, "supplier.deleted", &sid)).await;
    assert!(seq(&created) < seq(&updated) && seq(&updated) < seq(&deleted));

    // The plain client: everything up to a product created after the supplier's changes,
    // and not one supplier event among it.
    let product = app.product("Feed after suppliers", "misc", "3.00", 1).await;
    let pid = id(&product);
    let seen = collect_until(&mut plain, |events| {
        events.iter().any(|e| is(e, "product.created", &pid))
    })
    .await;
    assert!(
        seen.iter()
            .all(|e| !e["type"].as_str().unwrap_or("").starts_with("supplier.")),
        "a client that asked for no topics got supplier events: {seen:#?}"
    );
}
