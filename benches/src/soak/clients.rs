//! The soak's clients: place with an `Idempotency-Key` and retry as a careful client does,
//! cancel, browse; every answer recorded.

use super::*;

/// A client's own reproducible choices: the benches' one generator.
type Dice = crate::SplitMix;

/// One client: 55% places an order, 10% cancels one of its confirmed orders, 35% browses.
pub(super) async fn client(run: Arc<Run>, n: u64) {
    let mut dice = Dice::for_worker(n as usize);
    let mut mine: Vec<uuid::Uuid> = Vec::new();
    while Instant::now() < run.end {
        match dice.below(100) {
            0..=54 => {
                if let Some(id) = place(&run, &mut dice, n).await {
                    mine.push(id);
                }
            }
            55..=64 if !mine.is_empty() => {
                let id = mine.swap_remove(dice.below(mine.len()));
                cancel(&run, id).await;
            }
            _ => browse(&run, &mut dice, &mine).await,
        }
    }
}

/// What one attempt came to.
enum Attempt {
    /// An answer to keep: 2xx or a refusal.
    Final(StatusCode, Value),
    /// 503, 5xx other than 500, or no answer: try again.
    Retry,
}

async fn attempt(run: &Run, op: &'static str, request: reqwest::RequestBuilder) -> Attempt {
    let sent = Instant::now();
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let outcome = match body["error"]["code"].as_str() {
                Some(code) => format!("{} {code}", status.as_u16()),
                None => status.as_u16().to_string(),
            };
            run.record(op, sent, outcome);
            if status == StatusCode::SERVICE_UNAVAILABLE
                || status == StatusCode::BAD_GATEWAY
                || status == StatusCode::GATEWAY_TIMEOUT
                // A keyed retry that arrives while the first attempt still runs.
                || (status == StatusCode::CONFLICT
                    && body["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("still in flight")))
            {
                Attempt::Retry
            } else {
                Attempt::Final(status, body)
            }
        }
        Err(e) => {
            let outcome = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connection refused"
            } else {
                "connection cut"
            };
            run.record(op, sent, outcome.into());
            Attempt::Retry
        }
    }
}

/// Sends until a final answer, or until the grace after the end runs out.
async fn until_final(
    run: &Run,
    op: &'static str,
    what: String,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Option<(StatusCode, Value)> {
    let mut pause = Duration::from_millis(50);
    loop {
        if let Attempt::Final(status, body) = attempt(run, op, request()).await {
            return Some((status, body));
        }
        if Instant::now() > run.end + GRACE {
            run.unresolved.lock().expect("unresolved").push(what);
            return None;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

async fn place(run: &Run, dice: &mut Dice, n: u64) -> Option<uuid::Uuid> {
    let lines = 1 + dice.below(2);
    let mut items = Vec::new();
    let first = dice.below(run.catalog.len());
    for line in 0..lines {
        let product = &run.catalog[(first + line * 7) % run.catalog.len()];
        items.push(json!({"product_id": product.id, "quantity": 1 + dice.below(2)}));
    }
    let body = json!({"customer_id": format!("soak-{n}"), "items": items,
                      "payment": {"method": "card", "token": "tok_visa"}});
    let key = uuid::Uuid::new_v4().to_string();
    let url = format!("{}/orders", run.base);
    let (status, order) = until_final(run, "place", format!("placement {key}"), || {
        run.http
            .post(&url)
            .header("Idempotency-Key", &key)
            .json(&body)
    })
    .await?;
    if !status.is_success() {
        return None;
    }
    let id = order["id"].as_str().and_then(|s| s.parse().ok())?;
    run.placed.lock().expect("placed").push(id);
    Some(id)
}

async fn cancel(run: &Run, id: uuid::Uuid) {
    let url = format!("{}/orders/{id}", run.base);
    run.cancel_sent.lock().expect("cancel_sent").push(id);
    if let Some((status, _)) = until_final(run, "cancel", format!("cancel {id}"), || {
        run.http.delete(&url)
    })
    .await
    {
        if status == StatusCode::OK {
            run.cancelled.lock().expect("cancelled").push(id);
        }
    }
}

async fn browse(run: &Run, dice: &mut Dice, mine: &[uuid::Uuid]) {
    let product = &run.catalog[dice.below(run.catalog.len())];
    let (op, url) = match dice.below(4) {
        0 => (
            "list",
            format!("{}/products?category=soak&limit=20", run.base),
        ),
        1 => ("product", format!("{}/products/{}", run.base, product.id)),
        2 => (
            "stock",
            format!("{}/products/{}/stock", run.base, product.id),
        ),
        _ => match mine.first() {
            Some(id) => ("order", format!("{}/orders/{id}", run.base)),
            None => (
                "list",
                format!("{}/products?category=soak&limit=20", run.base),
            ),
        },
    };
    // Browsing is not retried: a shopper reloads the page later.
    if let Attempt::Retry = attempt(run, op, run.http.get(&url)).await {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
