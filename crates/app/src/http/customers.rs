//! `/api/customers` (ADR 0017).

use super::dto::{
    CustomerBody, CustomerResponse, ErrorBody, NewCustomerBody, OrderResponse, PageBody,
    RecommendationsResponse,
};
use super::error::{ApiError, ApiResult};
use super::{not_allowed, query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use emporium_domain::model::CustomerId;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/customers")
            .route(web::get().to(list_customers))
            .route(web::post().to(create_customer))
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/customers/{id}")
            .route(web::get().to(get_customer))
            .route(web::patch().to(update_customer))
            .route(web::delete().to(delete_customer))
            .default_service(not_allowed("GET, PATCH, DELETE")),
    )
    .service(
        web::resource("/customers/{id}/recommendations")
            .route(web::get().to(customer_recommendations))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/customers/{id}/orders")
            .route(web::get().to(customer_orders))
            .default_service(not_allowed("GET")),
    );
}

/// A customer id from the path: a UUID (400 otherwise, as for every id in a path).
fn customer_id(id: uuid::Uuid) -> ApiResult<CustomerId> {
    CustomerId::parse(id.to_string()).map_err(ApiError::BadRequest)
}

/// Register a customer (`name` and `email` required; `email` unique without regard to
/// case: 409 `conflict`).
#[utoipa::path(post, path = "/api/customers", tag = "customers", request_body = NewCustomerBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 201, body = CustomerResponse),
        (status = 409, description = "the e-mail address is taken", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_customer(
    state: web::Data<AppState>,
    body: web::Json<NewCustomerBody>,
) -> ApiResult<HttpResponse> {
    let customer = state.customers.create(body.into_inner().0.into()).await?;
    Ok(HttpResponse::Created().json(CustomerResponse::from(customer)))
}

/// List customers, oldest first.
#[utoipa::path(get, path = "/api/customers", tag = "customers",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<CustomerResponse>), (status = 400, body = ErrorBody)))]
pub async fn list_customers(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let page = state.customers.list(query::page(&pairs)?).await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, CustomerResponse::from)))
}

/// One customer.
#[utoipa::path(get, path = "/api/customers/{id}", tag = "customers",
    params(("id" = uuid::Uuid, Path, description = "customer id")),
    responses((status = 200, body = CustomerResponse), (status = 404, body = ErrorBody)))]
pub async fn get_customer(
    state: web::Data<AppState>,
    id: web::Path<uuid::Uuid>,
) -> ApiResult<HttpResponse> {
    let customer = state.customers.get(&customer_id(id.into_inner())?).await?;
    Ok(HttpResponse::Ok().json(CustomerResponse::from(customer)))
}

/// Partial update: the fields given replace the current ones (`addresses` as a whole).
#[utoipa::path(patch, path = "/api/customers/{id}", tag = "customers",
    params(("id" = uuid::Uuid, Path, description = "customer id")), request_body = CustomerBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 200, body = CustomerResponse), (status = 404, body = ErrorBody),
        (status = 409, description = "the e-mail address is taken", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_customer(
    state: web::Data<AppState>,
    id: web::Path<uuid::Uuid>,
    body: web::Json<CustomerBody>,
) -> ApiResult<HttpResponse> {
    let customer = state
        .customers
        .update(&customer_id(id.into_inner())?, body.into_inner().into())
        .await?;
    Ok(HttpResponse::Ok().json(CustomerResponse::from(customer)))
}

/// Delete a customer. Their orders stay in the ledger, anonymised (`customer_id`
/// `anonymised`, no name).
#[utoipa::path(delete, path = "/api/customers/{id}", tag = "customers",
    params(("id" = uuid::Uuid, Path, description = "customer id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn delete_customer(
    state: web::Data<AppState>,
    id: web::Path<uuid::Uuid>,
) -> ApiResult<HttpResponse> {
    state
        .customers
        .delete(&customer_id(id.into_inner())?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The customer's orders, oldest first.
#[utoipa::path(get, path = "/api/customers/{id}/orders", tag = "customers",
    params(("id" = uuid::Uuid, Path, description = "customer id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<OrderResponse>), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn customer_orders(
    state: web::Data<AppState>,
    id: web::Path<uuid::Uuid>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let page = state
        .customers
        .orders(&customer_id(id.into_inner())?, query::page(&pairs)?)
        .await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, OrderResponse::from)))
}

/// Products the customer has not bought, best first: what other customers bought with
/// their purchases, then the top-rated products (a customer without purchases gets the
/// top-rated ones). Served as stored on the customer while under an hour old, unless
/// `refresh=true`; `generated_at` says when it was worked out.
#[utoipa::path(get, path = "/api/customers/{id}/recommendations", tag = "customers",
    params(("id" = uuid::Uuid, Path, description = "customer id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 20, description = "how many, default 5"),
        ("refresh" = Option<bool>, Query, description = "work the list out now")),
    responses((status = 200, body = RecommendationsResponse), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn customer_recommendations(
    state: web::Data<AppState>,
    id: web::Path<uuid::Uuid>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let (limit, refresh) = query::recommendations(&pairs)?;
    let served = state
        .recommendations
        .for_customer(&customer_id(id.into_inner())?, limit, refresh)
        .await?;
    Ok(HttpResponse::Ok().json(RecommendationsResponse::from(served)))
}
