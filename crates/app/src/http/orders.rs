//! `/api/orders`.

use super::dto::{ErrorBody, OrderBody, OrderResponse, OrderStatusBody, PageBody};
use super::error::{ApiError, ApiResult};
use super::{idempotency, not_allowed, query};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use emporium_domain::model::{OrderId, OrderRequest, OrderStatus};
use emporium_domain::service::Placement;
use emporium_domain::Error;
use serde_json::Value;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/orders")
            .route(web::get().to(list_orders))
            .route(web::post().to(place_order))
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/orders/{id}")
            .route(web::get().to(get_order))
            .route(web::put().to(update_order))
            .route(web::delete().to(cancel_order))
            .default_service(not_allowed("GET, PUT, DELETE")),
    );
}

/// Place an order: reserve stock, authorize payment, confirm (a saga across both stores).
///
/// With an `Idempotency-Key` header, the same key and body answer the first response
/// again and never place a second order; the same key with another body is 409 `conflict`,
/// as is a duplicate that arrives while the first request still runs.
#[utoipa::path(post, path = "/api/orders", tag = "orders", request_body = OrderBody,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
        pattern = r"^[\x21-\x7e]+$", description = "1-255 printable ASCII characters"),
        ("Prefer" = Option<String>, Header,
            description = "`respond-async`: while PostgreSQL is unreachable, queue the order (202) instead of 503")),
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 201, description = "confirmed", body = OrderResponse),
        (status = 202, description = "PostgreSQL is unreachable and `Prefer: respond-async` was sent: \
            the order is queued (`status` `queued`) and placed when PostgreSQL is back; \
            follow `Location`", body = OrderResponse,
            headers(("Location" = String, description = "/api/orders/{id}"),
                ("Preference-Applied" = String, description = "respond-async"))),
        (status = 402, description = "payment declined; the order exists as failed", body = ErrorBody),
        (status = 409, description = "insufficient stock (nothing changed), or an Idempotency-Key conflict", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn place_order(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let key = idempotency::key_of(&req)?;
    let parsed: OrderBody =
        serde_json::from_value(body.into_inner()).map_err(|e| ApiError::BadBody(e.to_string()))?;
    let request = OrderRequest::parse(parsed.into())?;
    let Some(key) = key else {
        if !(state.queue_orders_when_ledger_down || prefers_async(&req)) {
            let order = state.orders.place(OrderId::new(), request).await?;
            return Ok(HttpResponse::Created().json(OrderResponse::from(order)));
        }
        return Ok(
            match state.orders.place_or_queue(OrderId::new(), request).await? {
                Placement::Placed(order) => {
                    HttpResponse::Created().json(OrderResponse::from(order))
                }
                Placement::Queued(order) => HttpResponse::Accepted()
                    .insert_header(("Location", format!("/api/orders/{}", order.id)))
                    .insert_header(("Preference-Applied", "respond-async"))
                    .json(OrderResponse::from(order)),
            },
        );
    };
    let placement = state.orders.place_idempotent(&key, request).await?;
    Ok(idempotency::respond(placement))
}

/// True when the request carries `Prefer: respond-async` (RFC 7240), among other
/// preferences or alone.
fn prefers_async(req: &HttpRequest) -> bool {
    req.headers().get_all("prefer").any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',').any(|p| {
                p.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("respond-async")
            })
        })
    })
}

/// List orders: filters `status`, `customer_id`, `product_id`, `from`, `to`.
#[utoipa::path(get, path = "/api/orders", tag = "orders",
    params(("status" = Option<String>, Query, pattern = r"^(queued|pending|confirmed|shipped|delivered|cancelled|failed)$"),
        ("customer_id" = Option<String>, Query, min_length = 1),
        ("product_id" = Option<uuid::Uuid>, Query),
        ("from" = Option<String>, Query, format = DateTime, description = "RFC 3339 timestamp"),
        ("to" = Option<String>, Query, format = DateTime, description = "RFC 3339 timestamp"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<OrderResponse>), (status = 400, body = ErrorBody)))]
pub async fn list_orders(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let page = state.orders.list(&query::orders(&pairs)?).await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, OrderResponse::from)))
}

/// One order with its lines and payment.
#[utoipa::path(get, path = "/api/orders/{id}", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody)))]
pub async fn get_order(
    state: web::Data<AppState>,
    id: web::Path<OrderId>,
) -> ApiResult<HttpResponse> {
    let order = state.orders.get(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::from(order)))
}

/// Move an order: `shipped`, `delivered`, or `cancelled` (same as DELETE).
#[utoipa::path(put, path = "/api/orders/{id}", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "order id")), request_body = OrderStatusBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 200, body = OrderResponse), (status = 404, body = ErrorBody),
        (status = 409, description = "invalid transition", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_order(
    state: web::Data<AppState>,
    id: web::Path<OrderId>,
    body: web::Json<OrderStatusBody>,
) -> ApiResult<HttpResponse> {
    let status = match body.into_inner().status {
        Some(s) => s
            .parse::<OrderStatus>()
            .map_err(|e| Error::invalid("status", e))?,
        None => return Err(Error::invalid("status", "is required").into()),
    };
    let order = state.orders.set_status(id.into_inner(), status).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::from(order)))
}

/// Cancel: stock goes back, the payment is voided. 200 with the cancelled order.
#[utoipa::path(delete, path = "/api/orders/{id}", tag = "orders",
    params(("id" = uuid::Uuid, Path, description = "order id")),
    responses((status = 200, body = OrderResponse), (status = 404, body = ErrorBody),
        (status = 409, description = "invalid transition", body = ErrorBody)))]
pub async fn cancel_order(
    state: web::Data<AppState>,
    id: web::Path<OrderId>,
) -> ApiResult<HttpResponse> {
    let order = state.orders.cancel(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(OrderResponse::from(order)))
}
