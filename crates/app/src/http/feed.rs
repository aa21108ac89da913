//! `GET /api/ws`: the live event feed over WebSocket (ADR 0013).
//!
//! Each client gets the events of its topics in feed order, each once: on `?since=` first
//! the replay from the log, then the live feed from the hub, skipping what the replay
//! already sent. A client whose queue fills up is closed with 1013 ("try again later"),
//! counted in `emporium_feed_slow_clients_closed_total`; nobody else waits for it. A
//! client that stops answering pings is closed too.

use super::error::{ApiError, ApiResult};
use super::{not_allowed, query};
use crate::feed::{Delivery, FeedHub};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use emporium_domain::model::{Seq, Topic};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;

/// How often the server pings; a client silent for [`SILENCE_LIMIT`] is closed.
const HEARTBEAT: Duration = Duration::from_secs(15);
const SILENCE_LIMIT: Duration = Duration::from_secs(45);
/// How long one message may wait for room in the client's connection before the client
/// counts as unable to keep up.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);
/// Events per replay page.
const REPLAY_PAGE: u32 = 500;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/ws")
            .route(web::get().to(feed))
            .default_service(not_allowed("GET")),
    );
}

/// Upgrades to a WebSocket and streams every change to orders, products and stock:
/// `{"type", "id", "data", "at", "seq"}`. `topics` subscribes to a subset, or opts in to
/// supplier changes (`supplier.created|updated|deleted`, only when `suppliers` is named); `since`
/// replays the events after that `seq` still kept (the last hour at least) first, and
/// when it is older than that, the first message is `{"type": "replay.truncated"}`.
#[utoipa::path(get, path = "/api/ws", tag = "feed",
    params(
        ("topics" = Option<String>, Query, pattern = "^(orders|products|stock|suppliers)(,(orders|products|stock|suppliers))*$",
            description = "comma-separated topics among `orders`, `products`, `stock` and `suppliers` \
                (default: `orders,products,stock`; supplier events only when `suppliers` is named)"),
        ("since" = Option<String>, Query, pattern = "^[0-9]+$", description = "replay the events after this `seq` first")),
    responses(
        (status = 101, description = "switched to the WebSocket protocol; events follow as text messages"),
        (status = 400, body = super::dto::ErrorBody, description = "unknown topic, malformed `since`, or not a WebSocket upgrade")))]
pub async fn feed(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let (topics, since) = query::feed(&pairs)?;
    let (response, session, messages) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::BadRequest(format!(
            "GET /api/ws is a WebSocket endpoint: connect with a WebSocket client \
             (Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Key, \
             Sec-WebSocket-Version: 13); {e}"
        ))
    })?;
    let hub = state.feed.clone();
    // Subscribed before the upgrade is answered: every change made after the client saw
    // its 101 reaches it.
    let live = hub.subscribe();
    actix_web::rt::spawn(async move {
        hub.metrics().feed_client_connected();
        serve_client(&hub, live, session, messages, topics, since).await;
        hub.metrics().feed_client_gone();
    });
    Ok(response)
}

/// Why a client's stream ended.
enum End {
    /// The client closed, or the connection broke.
    Gone,
    /// The client's queue overflowed.
    Slow,
    /// No pong for too long.
    Silent,
}

struct Client {
    session: Session,
    topics: Vec<Topic>,
    /// The last position sent (or skipped as not subscribed).
    last: Seq,
}

impl Client {
    async fn send(&mut self, delivery: &Delivery) -> Result<(), End> {
        if delivery.event.seq <= self.last {
            return Ok(());
        }
        self.last = delivery.event.seq;
        if !self.topics.contains(&delivery.topic) {
            return Ok(());
        }
        self.send_text(delivery.text.clone()).await
    }

    async fn send_text(&mut self, text: bytestring::ByteString) -> Result<(), End> {
        match tokio::time::timeout(SEND_TIMEOUT, self.session.text(text)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_closed)) => Err(End::Gone),
            Err(_) => Err(End::Slow),
        }
    }
}

async fn serve_client(
    hub: &Arc<FeedHub>,
    (mut live, head): (tokio::sync::broadcast::Receiver<Arc<Delivery>>, Seq),
    session: Session,
    mut messages: MessageStream,
    topics: Vec<Topic>,
    since: Option<Seq>,
) {
    let mut client = Client {
        session,
        topics,
        last: since.unwrap_or(head),
    };
    let end = match since {
        Some(_) => match replay(hub, &mut client).await {
            Ok(()) => stream(&mut client, &mut live, &mut messages).await,
            Err(end) => end,
        },
        None => stream(&mut client, &mut live, &mut messages).await,
    };
    let reason = match end {
        End::Gone => return,
        End::Slow => {
            hub.metrics().feed_slow_client_closed();
            tracing::info!("feed client could not keep up; closed with 1013");
            CloseReason {
                code: CloseCode::Again,
                description: Some(
                    "too slow: the event queue overflowed; reconnect with since".into(),
                ),
            }
        }
        End::Silent => {
            hub.metrics().feed_silent_client_closed();
            CloseReason {
                code: CloseCode::Policy,
                description: Some("no pong within the heartbeat limit".into()),
            }
        }
    };
    // A client that cannot take more text may not take the close frame either: bounded.
    let _ = tokio::time::timeout(SEND_TIMEOUT, client.session.close(Some(reason))).await;
}

/// Sends the kept events after `client.last`, page by page, until the log has no more.
async fn replay(hub: &FeedHub, client: &mut Client) -> Result<(), End> {
    let mut first = true;
    loop {
        let page = match hub.replay(client.last, REPLAY_PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "feed replay failed; continuing live");
                return Ok(());
            }
        };
        if first && page.truncated {
            client
                .send_text(r#"{"type":"replay.truncated"}"#.into())
                .await?;
        }
        first = false;
        let full = page.events.len() as u32 == REPLAY_PAGE;
        for event in page.events {
            client.send(&Delivery::new(event)).await?;
        }
        if !full {
            return Ok(());
        }
    }
}

async fn stream(
    client: &mut Client,
    live: &mut tokio::sync::broadcast::Receiver<Arc<Delivery>>,
    messages: &mut MessageStream,
) -> End {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            delivery = live.recv() => match delivery {
                Ok(delivery) => {
                    if let Err(end) = client.send(&delivery).await {
                        return end;
                    }
                }
                Err(RecvError::Lagged(_)) => return End::Slow,
                Err(RecvError::Closed) => return End::Gone,
            },
            message = messages.recv() => match message {
                Some(Ok(Message::Ping(bytes))) => {
                    heard = Instant::now();
                    if client.session.pong(&bytes).await.is_err() {
                        return End::Gone;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return End::Gone,
                // Pongs and anything the client sends show it is alive; the feed takes no
                // input.
                Some(Ok(_)) => heard = Instant::now(),
            },
            _ = heartbeat.tick() => {
                if heard.elapsed() > SILENCE_LIMIT {
                    return End::Silent;
                }
                if client.session.ping(b"").await.is_err() {
                    return End::Gone;
                }
            }
        }
    }
}
