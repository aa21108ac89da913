//! `/api/products`.

use super::dto::{ErrorBody, PageBody, ProductBody, ProductResponse};
use super::error::ApiResult;
use super::{method_not_allowed, query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use emporium_domain::model::ProductId;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/products")
            .route(web::get().to(list_products))
            .route(web::post().to(create_product))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/products/{id}")
            .route(web::get().to(get_product))
            .route(web::put().to(update_product))
            .route(web::delete().to(delete_product))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Create a product with its initial stock.
#[utoipa::path(post, path = "/api/products", tag = "products", request_body = ProductBody,
    responses((status = 201, body = ProductResponse), (status = 409, description = "duplicate sku", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_product(
    state: web::Data<AppState>,
    body: web::Json<ProductBody>,
) -> ApiResult<HttpResponse> {
    let view = state.catalog.create(body.into_inner().into()).await?;
    Ok(HttpResponse::Created().json(ProductResponse::from(view)))
}

/// List products: filters `category`, `min_price`, `max_price`, `supplier_id`, `q`,
/// `attr.<path>`, `sort` (`price`, `-price`, `name`, `-created_at`), `limit`, `offset`.
///
/// While the inventory store is down the list is still served, from the catalog, with
/// `stock` and `reserved` null; while the catalog store is down it is 503.
#[utoipa::path(get, path = "/api/products", tag = "products",
    params(("category" = Option<String>, Query), ("min_price" = Option<String>, Query),
        ("max_price" = Option<String>, Query), ("supplier_id" = Option<uuid::Uuid>, Query),
        ("q" = Option<String>, Query), ("sort" = Option<String>, Query),
        ("limit" = Option<u32>, Query), ("offset" = Option<u64>, Query)),
    responses((status = 200, body = PageBody<ProductResponse>), (status = 400, body = ErrorBody),
        (status = 503, description = "the catalog store is down", body = ErrorBody)))]
pub async fn list_products(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let query = query::products(&pairs)?;
    let page = state.catalog.list(&query).await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, ProductResponse::from)))
}

/// One product with its stock; like the list, served with `stock` and `reserved` null
/// while the inventory store is down. While the catalog store is down, a product read in
/// the last minute is served from the server's cache, any other is 503.
#[utoipa::path(get, path = "/api/products/{id}", tag = "products",
    responses((status = 200, body = ProductResponse), (status = 404, body = ErrorBody),
        (status = 503, description = "the catalog store is down", body = ErrorBody)))]
pub async fn get_product(
    state: web::Data<AppState>,
    id: web::Path<ProductId>,
) -> ApiResult<HttpResponse> {
    let view = state.catalog.get(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(ProductResponse::from(view)))
}

/// Partial update; `stock` sets the units available. The SKU cannot change.
#[utoipa::path(put, path = "/api/products/{id}", tag = "products", request_body = ProductBody,
    responses((status = 200, body = ProductResponse), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_product(
    state: web::Data<AppState>,
    id: web::Path<ProductId>,
    body: web::Json<ProductBody>,
) -> ApiResult<HttpResponse> {
    let view = state
        .catalog
        .update(id.into_inner(), body.into_inner().into())
        .await?;
    Ok(HttpResponse::Ok().json(ProductResponse::from(view)))
}

/// Delete a product and its stock record; orders keep their own copy.
#[utoipa::path(delete, path = "/api/products/{id}", tag = "products",
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_product(
    state: web::Data<AppState>,
    id: web::Path<ProductId>,
) -> ApiResult<HttpResponse> {
    state.catalog.delete(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
