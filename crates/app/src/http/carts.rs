//! `/api/carts` (ADR 0019).

use super::dto::{CartItemBody, CartResponse, CheckoutBody, ErrorBody, NewCartBody, OrderResponse};
use super::error::{ApiError, ApiResult};
use super::{idempotency, not_allowed};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use emporium_domain::model::{CartId, ProductId};
use serde_json::Value;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/carts")
            .route(web::post().to(create_cart))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/carts/{id}")
            .route(web::get().to(get_cart))
            .route(web::delete().to(delete_cart))
            .default_service(not_allowed("GET, DELETE")),
    )
    .service(
        web::resource("/carts/{id}/items/{product_id}")
            .route(web::put().to(put_cart_item))
            .default_service(not_allowed("PUT")),
    )
    .service(
        web::resource("/carts/{id}/checkout")
            .route(web::post().to(checkout_cart))
            .default_service(not_allowed("POST")),
    );
}

fn parse<T: serde::de::DeserializeOwned>(body: Value) -> ApiResult<T> {
    super::from_object(body)
}

/// Start a cart for a customer. It holds no stock, and expires `EMPORIUM_CART_TTL` seconds
/// (default 7 days) after its last change.
#[utoipa::path(post, path = "/api/carts", tag = "carts", request_body = NewCartBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 201, body = CartResponse), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn create_cart(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let body: NewCartBody = parse(body.into_inner())?;
    let cart = state.carts.create(body.customer_id).await?;
    Ok(HttpResponse::Created().json(CartResponse::from(cart)))
}

/// A cart, with each line at the price it had when it was last put. 404 once expired.
#[utoipa::path(get, path = "/api/carts/{id}", tag = "carts",
    params(("id" = uuid::Uuid, Path, description = "cart id")),
    responses((status = 200, body = CartResponse), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_cart(
    state: web::Data<AppState>,
    id: web::Path<CartId>,
) -> ApiResult<HttpResponse> {
    let cart = state.carts.get(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(CartResponse::from(cart)))
}

/// Delete a cart.
#[utoipa::path(delete, path = "/api/carts/{id}", tag = "carts",
    params(("id" = uuid::Uuid, Path, description = "cart id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn delete_cart(
    state: web::Data<AppState>,
    id: web::Path<CartId>,
) -> ApiResult<HttpResponse> {
    state.carts.delete(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Set how many of a product the cart holds, at the product's price now (0 removes the
/// line). An unknown product is 404; a checked-out cart is 409.
#[utoipa::path(put, path = "/api/carts/{id}/items/{product_id}", tag = "carts",
    params(("id" = uuid::Uuid, Path, description = "cart id"),
        ("product_id" = uuid::Uuid, Path, description = "product id")),
    request_body = CartItemBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 200, body = CartResponse), (status = 404, description = "no such cart or product", body = ErrorBody),
        (status = 409, description = "the cart was checked out", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn put_cart_item(
    state: web::Data<AppState>,
    path: web::Path<(CartId, ProductId)>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let (id, product_id) = path.into_inner();
    let body: CartItemBody = parse(body.into_inner())?;
    let Some(quantity) = body.quantity else {
        return Err(emporium_domain::Error::invalid("quantity", "is required").into());
    };
    let cart = state.carts.put_item(id, product_id, quantity).await?;
    Ok(HttpResponse::Ok().json(CartResponse::from(cart)))
}

/// Check the cart out: the order saga places its lines at the catalog's prices now. If a
/// price moved since its line was put: 409 `price_changed` with `details` `[{product_id,
/// old, new}]`, nothing placed, and the cart carries the new prices. A checked-out cart
/// answers again with its order (200). Honours `Idempotency-Key` like `POST /api/orders`.
#[utoipa::path(post, path = "/api/carts/{id}/checkout", tag = "carts",
    params(("id" = uuid::Uuid, Path, description = "cart id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
            pattern = r"^[\x21-\x7e]+$", description = "1-255 printable ASCII characters")),
    request_body = CheckoutBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 201, description = "the order placed", body = OrderResponse),
        (status = 200, description = "the cart was checked out before: its order", body = OrderResponse),
        (status = 402, description = "payment declined", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`price_changed`, insufficient stock, or an Idempotency-Key conflict", body = ErrorBody),
        (status = 422, description = "an empty cart, a bad payment, or a product that left the catalog", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn checkout_cart(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<CartId>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let key = idempotency::key_of(&req)?;
    let body: CheckoutBody = parse(body.into_inner())?;
    let has_payment = body.payment.is_some();
    let (method, token) = body
        .payment
        .map(|p| (p.method, p.token))
        .unwrap_or((None, None));
    let checkout = state
        .carts
        .checkout(id.into_inner(), method, token, has_payment, key)
        .await?;
    let mut response = match checkout.outcome {
        Ok(order) if checkout.placed_now => {
            HttpResponse::Created().json(OrderResponse::from(order))
        }
        Ok(order) => HttpResponse::Ok().json(OrderResponse::from(order)),
        Err(e) => ApiError::from(e).error_response(),
    };
    if checkout.replayed {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("idempotent-replayed"),
            actix_web::http::header::HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}
