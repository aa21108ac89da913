//! `/api/warehouses`, `/api/products/{id}/stock`, `/api/stock/transfers` (ADR 0022).

use super::dto::{
    ErrorBody, PageBody, StockBreakdownResponse, TransferBody, WarehouseBody, WarehouseResponse,
    WarehouseStockBody,
};
use super::error::ApiResult;
use super::{from_object, not_allowed, query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use emporium_domain::model::{ProductId, WarehouseId};
use emporium_domain::Error;
use serde_json::Value;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/warehouses")
            .route(web::get().to(list_warehouses))
            .route(web::post().to(create_warehouse))
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/products/{id}/stock")
            .route(web::get().to(product_stock))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/products/{id}/stock/{warehouse_id}")
            .route(web::put().to(set_warehouse_stock))
            .default_service(not_allowed("PUT")),
    )
    .service(
        web::resource("/stock/transfers")
            .route(web::post().to(transfer_stock))
            .default_service(not_allowed("POST")),
    );
}

/// Add a warehouse (`code` unique: 409).
#[utoipa::path(post, path = "/api/warehouses", tag = "warehouses", request_body = WarehouseBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 201, body = WarehouseResponse), (status = 409, description = "the code is taken", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_warehouse(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let body: WarehouseBody = from_object(body.into_inner())?;
    let warehouse = state.warehouses.create(body.into()).await?;
    Ok(HttpResponse::Created().json(WarehouseResponse::from(warehouse)))
}

/// Every warehouse, the built-in `default` first.
#[utoipa::path(get, path = "/api/warehouses", tag = "warehouses",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<WarehouseResponse>), (status = 400, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list_warehouses(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let page = state.warehouses.list(query::page(&pairs)?).await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, WarehouseResponse::from)))
}

/// A product's stock, in total and per warehouse.
#[utoipa::path(get, path = "/api/products/{id}/stock", tag = "warehouses",
    params(("id" = uuid::Uuid, Path, description = "product id")),
    responses((status = 200, body = StockBreakdownResponse), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn product_stock(
    state: web::Data<AppState>,
    id: web::Path<ProductId>,
) -> ApiResult<HttpResponse> {
    let breakdown = state.warehouses.stock(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(StockBreakdownResponse::from(breakdown)))
}

/// Set the units available in one warehouse (the product's total moves with it).
#[utoipa::path(put, path = "/api/products/{id}/stock/{warehouse_id}", tag = "warehouses",
    params(("id" = uuid::Uuid, Path, description = "product id"),
        ("warehouse_id" = uuid::Uuid, Path, description = "warehouse id")),
    request_body = WarehouseStockBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 200, body = StockBreakdownResponse), (status = 404, description = "no such product or warehouse", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn set_warehouse_stock(
    state: web::Data<AppState>,
    path: web::Path<(ProductId, WarehouseId)>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let (id, warehouse) = path.into_inner();
    let body: WarehouseStockBody = from_object(body.into_inner())?;
    let stock = body
        .stock
        .ok_or_else(|| Error::invalid("stock", "is required"))?;
    let breakdown = state.warehouses.set_stock(id, warehouse, stock).await?;
    Ok(HttpResponse::Ok().json(StockBreakdownResponse::from(breakdown)))
}

/// Move units between two warehouses (ids or codes) in one transaction: 409
/// `insufficient_stock` when `from` has fewer available, changing nothing.
#[utoipa::path(post, path = "/api/stock/transfers", tag = "warehouses", request_body = TransferBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 200, description = "the product's stock afterwards", body = StockBreakdownResponse),
        (status = 404, description = "no such product", body = ErrorBody),
        (status = 409, description = "`from` lacks the units", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn transfer_stock(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let body: TransferBody = from_object(body.into_inner())?;
    let mut missing_fields = Vec::new();
    for (field, missing) in [
        ("product_id", body.product_id.is_none()),
        ("from", body.from.is_none()),
        ("to", body.to.is_none()),
        ("quantity", body.quantity.is_none()),
    ] {
        if missing {
            missing_fields.push(emporium_domain::FieldError::new(field, "is required"));
        }
    }
    if !missing_fields.is_empty() {
        return Err(Error::Validation(missing_fields).into());
    }
    let (Some(product), Some(from), Some(to), Some(quantity)) =
        (body.product_id, body.from, body.to, body.quantity)
    else {
        unreachable!("checked above");
    };
    let breakdown = state
        .warehouses
        .transfer(ProductId::from_uuid(product), &from, &to, quantity)
        .await?;
    Ok(HttpResponse::Ok().json(StockBreakdownResponse::from(breakdown)))
}
