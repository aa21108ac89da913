//! `/api/reports/*`: sales by product, by category and by supplier, and low stock (ADR 0012).

use super::dto::{
    CategorySalesResponse, ErrorBody, LowStockResponse, PageBody, ProductSalesResponse,
    SupplierPerformanceResponse,
};
use super::error::ApiResult;
use super::{not_allowed, query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};

pub fn routes(cfg: &mut web::ServiceConfig) {
    for (path, handler) in [
        ("/reports/sales-by-product", web::get().to(sales_by_product)),
        (
            "/reports/sales-by-category",
            web::get().to(sales_by_category),
        ),
        ("/reports/low-stock", web::get().to(low_stock)),
        (
            "/reports/supplier-performance",
            web::get().to(supplier_performance),
        ),
    ] {
        cfg.service(
            web::resource(path)
                .route(handler)
                .default_service(not_allowed("GET")),
        );
    }
}

/// Units and revenue per product (and currency), highest revenue first. Sales only
/// (`confirmed`, `shipped`, `delivered`), placed in `[from, to)`.
#[utoipa::path(get, path = "/api/reports/sales-by-product", tag = "reports",
    params(
        ("from" = Option<String>, Query, format = DateTime, description = "orders created at or after (RFC 3339)"),
        ("to" = Option<String>, Query, format = DateTime, description = "orders created before (RFC 3339); later than `from`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<ProductSalesResponse>), (status = 400, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn sales_by_product(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let page = state
        .reports
        .sales_by_product(query::sales_window(&pairs)?, query::page(&pairs)?)
        .await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, ProductSalesResponse::from)))
}

/// Units and revenue per category (as the lines had it when placed), highest revenue first.
/// With `rollup=tree`, per category of the tree instead, each with its descendants'
/// sales (a product counts in the categories it belongs to now).
#[utoipa::path(get, path = "/api/reports/sales-by-category", tag = "reports",
    params(
        ("rollup" = Option<String>, Query, pattern = "^(none|tree)$", description = "`tree`: per category of the tree, descendants included"),
        ("from" = Option<String>, Query, format = DateTime, description = "orders created at or after (RFC 3339)"),
        ("to" = Option<String>, Query, format = DateTime, description = "orders created before (RFC 3339); later than `from`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<CategorySalesResponse>), (status = 400, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn sales_by_category(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let (window, page) = (query::sales_window(&pairs)?, query::page(&pairs)?);
    if query::rollup_tree(&pairs)? {
        let page = state.reports.sales_by_category_tree(window, page).await?;
        return Ok(HttpResponse::Ok().json(PageBody::from_page(page, CategorySalesResponse::from)));
    }
    let page = state.reports.sales_by_category(window, page).await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, CategorySalesResponse::from)))
}

/// Products whose available stock is at or below `threshold` (or, without it, at or below
/// their own `low_stock_threshold`), lowest stock first. With `warehouse` (id or code),
/// the units in that warehouse, against `threshold` (then required).
#[utoipa::path(get, path = "/api/reports/low-stock", tag = "reports",
    params(
        ("warehouse" = Option<String>, Query, min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_-]+$",
            description = "a warehouse id or code: low stock there (needs `threshold`)"),
        ("threshold" = Option<u32>, Query, minimum = 0, maximum = 1_000_000_000, description = "units available at most; each product's own threshold when absent"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<LowStockResponse>), (status = 400, body = ErrorBody),
        (status = 422, description = "`warehouse` names no warehouse", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn low_stock(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    if let Some(warehouse) = query::warehouse(&pairs)? {
        let threshold = match query::low_stock(&pairs)? {
            emporium_domain::service::LowStockRule::AtMost(n) => n,
            emporium_domain::service::LowStockRule::OwnThreshold => {
                return Err(super::error::ApiError::BadRequest(
                    "query parameter `threshold` is required with `warehouse`".into(),
                ))
            }
        };
        let page = state
            .warehouses
            .low_stock(&warehouse, threshold, query::page(&pairs)?)
            .await?;
        return Ok(HttpResponse::Ok().json(PageBody::from_page(page, LowStockResponse::from)));
    }
    let page = state
        .reports
        .low_stock(query::low_stock(&pairs)?, query::page(&pairs)?)
        .await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, LowStockResponse::from)))
}

/// Per supplier (and currency): products, units, revenue, orders, share delivered and mean
/// hours from confirmation to delivery, highest revenue first.
#[utoipa::path(get, path = "/api/reports/supplier-performance", tag = "reports",
    params(
        ("from" = Option<String>, Query, format = DateTime, description = "orders created at or after (RFC 3339)"),
        ("to" = Option<String>, Query, format = DateTime, description = "orders created before (RFC 3339); later than `from`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<SupplierPerformanceResponse>), (status = 400, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn supplier_performance(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let page = state
        .reports
        .supplier_performance(query::sales_window(&pairs)?, query::page(&pairs)?)
        .await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, SupplierPerformanceResponse::from)))
}
