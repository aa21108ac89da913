//! `/api/suppliers`.

use super::dto::{ErrorBody, NewSupplierBody, PageBody, SupplierBody, SupplierResponse};
use super::error::ApiResult;
use super::{not_allowed, query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use emporium_domain::model::SupplierId;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/suppliers")
            .route(web::get().to(list_suppliers))
            .route(web::post().to(create_supplier))
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/suppliers/{id}")
            .route(web::get().to(get_supplier))
            .route(web::put().to(update_supplier))
            .route(web::delete().to(delete_supplier))
            .default_service(not_allowed("GET, PUT, DELETE")),
    );
}

/// Create a supplier (`name` and `region` required).
#[utoipa::path(post, path = "/api/suppliers", tag = "suppliers", request_body = NewSupplierBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 201, body = SupplierResponse), (status = 422, body = ErrorBody)))]
pub async fn create_supplier(
    state: web::Data<AppState>,
    body: web::Json<NewSupplierBody>,
) -> ApiResult<HttpResponse> {
    let supplier = state.suppliers.create(body.into_inner().0.into()).await?;
    Ok(HttpResponse::Created().json(SupplierResponse::from(supplier)))
}

/// List suppliers, oldest first.
#[utoipa::path(get, path = "/api/suppliers", tag = "suppliers",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<SupplierResponse>), (status = 400, body = ErrorBody)))]
pub async fn list_suppliers(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let page = state.suppliers.list(query::page(&pairs)?).await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, SupplierResponse::from)))
}

/// One supplier with `products`: the catalog entries that name it.
#[utoipa::path(get, path = "/api/suppliers/{id}", tag = "suppliers",
    params(("id" = uuid::Uuid, Path, description = "supplier id")),
    responses((status = 200, body = SupplierResponse), (status = 404, body = ErrorBody)))]
pub async fn get_supplier(
    state: web::Data<AppState>,
    id: web::Path<SupplierId>,
) -> ApiResult<HttpResponse> {
    let view = state.suppliers.get(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(SupplierResponse::from(view)))
}

/// Partial update.
#[utoipa::path(put, path = "/api/suppliers/{id}", tag = "suppliers",
    params(("id" = uuid::Uuid, Path, description = "supplier id")), request_body = SupplierBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 200, body = SupplierResponse), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_supplier(
    state: web::Data<AppState>,
    id: web::Path<SupplierId>,
    body: web::Json<SupplierBody>,
) -> ApiResult<HttpResponse> {
    let supplier = state
        .suppliers
        .update(id.into_inner(), body.into_inner().into())
        .await?;
    Ok(HttpResponse::Ok().json(SupplierResponse::from(supplier)))
}

/// Delete a supplier; 409 `conflict` while products still reference it.
#[utoipa::path(delete, path = "/api/suppliers/{id}", tag = "suppliers",
    params(("id" = uuid::Uuid, Path, description = "supplier id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_supplier(
    state: web::Data<AppState>,
    id: web::Path<SupplierId>,
) -> ApiResult<HttpResponse> {
    state.suppliers.delete(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
