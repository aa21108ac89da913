//! Reviews of products and of suppliers (ADR 0020).

use super::dto::{ErrorBody, PageBody, ReviewBody, ReviewResponse};
use super::error::{ApiError, ApiResult};
use super::{from_object, not_allowed, query};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use emporium_domain::model::{
    AdminScope, CustomerId, ProductId, ReviewId, ReviewSort, ReviewSubject, SupplierId,
};
use emporium_domain::service::Requester;
use serde_json::Value;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/products/{id}/reviews")
            .route(web::get().to(list_product_reviews))
            .route(web::post().to(create_product_review))
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/products/{id}/reviews/{review_id}")
            .route(web::delete().to(delete_product_review))
            .default_service(not_allowed("DELETE")),
    )
    .service(
        web::resource("/suppliers/{id}/reviews")
            .route(web::get().to(list_supplier_reviews))
            .route(web::post().to(create_supplier_review))
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/suppliers/{id}/reviews/{review_id}")
            .route(web::delete().to(delete_supplier_review))
            .default_service(not_allowed("DELETE")),
    );
}

/// `sort`: `-created_at` (default), `-rating` or `rating`.
fn sort(pairs: &query::Pairs) -> ApiResult<ReviewSort> {
    match pairs.iter().rev().find(|(k, _)| k == "sort") {
        None => Ok(ReviewSort::default()),
        Some((_, v)) => ReviewSort::parse(v)
            .map_err(|e| ApiError::BadRequest(format!("query parameter `sort`: {e}"))),
    }
}

/// Who deletes: an admin (a `write` token), or the customer named by `customer_id`.
fn requester(req: &HttpRequest, state: &AppState, pairs: &query::Pairs) -> ApiResult<Requester> {
    let author = match pairs.iter().rev().find(|(k, _)| k == "customer_id") {
        Some((_, c)) => Some(
            CustomerId::parse(c.clone())
                .map_err(|e| ApiError::BadRequest(format!("query parameter `customer_id`: {e}")))?,
        ),
        None => None,
    };
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    if let Some(token) = bearer {
        return match state.admin_tokens.authenticate(token) {
            Some(t) if t.scope == AdminScope::Write => Ok(Requester::Admin),
            Some(_) => Err(ApiError::Forbidden("a read token cannot delete reviews")),
            None => Err(ApiError::Unauthorized("the token is not valid")),
        };
    }
    match author {
        Some(c) => Ok(Requester::Customer(c)),
        None => Err(ApiError::Unauthorized(
            "name the author with ?customer_id=, or send an admin token",
        )),
    }
}

async fn create(state: &AppState, subject: ReviewSubject, body: Value) -> ApiResult<HttpResponse> {
    let body: ReviewBody = from_object(body)?;
    let review = state.reviews.create(subject, body.into()).await?;
    Ok(HttpResponse::Created().json(ReviewResponse::from(review)))
}

async fn list(
    state: &AppState,
    subject: ReviewSubject,
    pairs: &query::Pairs,
) -> ApiResult<HttpResponse> {
    let page = state
        .reviews
        .list(subject, sort(pairs)?, query::page(pairs)?)
        .await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, ReviewResponse::from)))
}

async fn delete(
    req: &HttpRequest,
    state: &AppState,
    subject: ReviewSubject,
    id: ReviewId,
    pairs: &query::Pairs,
) -> ApiResult<HttpResponse> {
    let who = requester(req, state, pairs)?;
    state.reviews.delete(subject, id, &who).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Review a product: one review per customer (409 for a second); `verified_purchase` when
/// the customer has a delivered order with it.
#[utoipa::path(post, path = "/api/products/{id}/reviews", tag = "reviews",
    params(("id" = uuid::Uuid, Path, description = "product id")), request_body = ReviewBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 201, body = ReviewResponse), (status = 404, body = ErrorBody),
        (status = 409, description = "the customer already reviewed it", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_product_review(
    state: web::Data<AppState>,
    id: web::Path<ProductId>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    create(
        &state,
        ReviewSubject::Product(id.into_inner()),
        body.into_inner(),
    )
    .await
}

/// A product's reviews, newest first unless `sort` says otherwise.
#[utoipa::path(get, path = "/api/products/{id}/reviews", tag = "reviews",
    params(("id" = uuid::Uuid, Path, description = "product id"),
        ("sort" = Option<String>, Query, pattern = r"^(-created_at|-rating|rating)$"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<ReviewResponse>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_product_reviews(
    state: web::Data<AppState>,
    id: web::Path<ProductId>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    list(&state, ReviewSubject::Product(id.into_inner()), &pairs).await
}

/// Delete a review: its author (`?customer_id=`) or an admin (a `write` token).
#[utoipa::path(delete, path = "/api/products/{id}/reviews/{review_id}", tag = "reviews",
    params(("id" = uuid::Uuid, Path, description = "product id"),
        ("review_id" = uuid::Uuid, Path, description = "review id"),
        ("customer_id" = Option<String>, Query, min_length = 1, max_length = 100,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*$", description = "the author")),
    responses((status = 204), (status = 400, body = ErrorBody),
        (status = 401, description = "neither an author nor an admin token", body = ErrorBody),
        (status = 403, description = "not the author", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security((), ("admin_token" = [])))]
pub async fn delete_product_review(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(ProductId, ReviewId)>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let (id, review) = path.into_inner();
    delete(&req, &state, ReviewSubject::Product(id), review, &pairs).await
}

/// Rate a supplier (seed 003's partner ratings): one review per customer (409 for a second).
#[utoipa::path(post, path = "/api/suppliers/{id}/reviews", tag = "reviews",
    params(("id" = uuid::Uuid, Path, description = "supplier id")), request_body = ReviewBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 201, body = ReviewResponse), (status = 404, body = ErrorBody),
        (status = 409, description = "the customer already reviewed it", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_supplier_review(
    state: web::Data<AppState>,
    id: web::Path<SupplierId>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    create(
        &state,
        ReviewSubject::Supplier(id.into_inner()),
        body.into_inner(),
    )
    .await
}

/// A supplier's reviews, newest first unless `sort` says otherwise.
#[utoipa::path(get, path = "/api/suppliers/{id}/reviews", tag = "reviews",
    params(("id" = uuid::Uuid, Path, description = "supplier id"),
        ("sort" = Option<String>, Query, pattern = r"^(-created_at|-rating|rating)$"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<ReviewResponse>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn list_supplier_reviews(
    state: web::Data<AppState>,
    id: web::Path<SupplierId>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    list(&state, ReviewSubject::Supplier(id.into_inner()), &pairs).await
}

/// Delete a supplier review: its author (`?customer_id=`) or an admin (a `write` token).
#[utoipa::path(delete, path = "/api/suppliers/{id}/reviews/{review_id}", tag = "reviews",
    params(("id" = uuid::Uuid, Path, description = "supplier id"),
        ("review_id" = uuid::Uuid, Path, description = "review id"),
        ("customer_id" = Option<String>, Query, min_length = 1, max_length = 100,
            pattern = r"^[^\x00-\x1f\x7f-\x9f]*$", description = "the author")),
    responses((status = 204), (status = 400, body = ErrorBody),
        (status = 401, description = "neither an author nor an admin token", body = ErrorBody),
        (status = 403, description = "not the author", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security((), ("admin_token" = [])))]
pub async fn delete_supplier_review(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(SupplierId, ReviewId)>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let (id, review) = path.into_inner();
    delete(&req, &state, ReviewSubject::Supplier(id), review, &pairs).await
}
