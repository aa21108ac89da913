//! `/api/products`.

use super::dto::{
    ErrorBody, FacetsResponse, NewProductBody, PageBody, ProductBody, ProductResponse,
};
use super::error::ApiResult;
use super::{not_allowed, query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use emporium_domain::model::ProductId;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/products")
            .route(web::get().to(list_products))
            .route(web::post().to(create_product))
            .default_service(not_allowed("GET, POST")),
    )
    // Before `/products/{id}`, which would otherwise take `facets` for an id.
    .service(
        web::resource("/products/facets")
            .route(web::get().to(product_facets))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/products/{id}")
            .route(web::get().to(get_product))
            .route(web::put().to(update_product))
            .route(web::delete().to(delete_product))
            .default_service(not_allowed("GET, PUT, DELETE")),
    );
}

/// Create a product with its initial stock.
#[utoipa::path(post, path = "/api/products", tag = "products", request_body = NewProductBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 201, body = ProductResponse), (status = 409, description = "duplicate sku", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_product(
    state: web::Data<AppState>,
    body: web::Json<NewProductBody>,
) -> ApiResult<HttpResponse> {
    let view = state.catalog.create(body.into_inner().0.into()).await?;
    Ok(HttpResponse::Created().json(ProductResponse::from(view)))
}

/// List products: filters `category`, `min_price`, `max_price`, `supplier_id`, `in_stock`,
/// `attr.<path>`, text `q`, `sort`, `limit`, `offset`.
///
/// With `q`, results are ranked by relevance (BM25 over name, tags, attribute values and
/// description; prefixes match, and words of 5 or more letters match with one typo), each
/// with a `score`. Listings with `q` or `in_stock` are answered by the search index, which
/// follows the event feed (typically well under a second behind); others come straight
/// from the catalog. While the index is first being built after a start, those listings
/// are 503 with `Retry-After`.
///
/// While the inventory store is down the list is still served, with `stock` and
/// `reserved` null; while the catalog store is down it is 503.
#[utoipa::path(get, path = "/api/products", tag = "products",
    params(("category" = Option<String>, Query, min_length = 1, description = "a primary category, or a category of the tree (id or slug): then its descendants too"),
        ("min_price" = Option<String>, Query, pattern = r"^[0-9]{1,15}(\.[0-9]{1,10})?$", description = "a decimal amount, e.g. 10 or 9.99"),
        ("max_price" = Option<String>, Query, pattern = r"^[0-9]{1,15}(\.[0-9]{1,10})?$"),
        ("supplier_id" = Option<uuid::Uuid>, Query),
        ("in_stock" = Option<bool>, Query, description = "only products with (true) or without (false) units available"),
        ("q" = Option<String>, Query, max_length = 200, description = "words to find in name, description, tags and attribute values"),
        ("sort" = Option<String>, Query, pattern = r"^(relevance|price|-price|name|created_at|-created_at)$",
            description = "default: `relevance` with `q`, else `created_at` (oldest first)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<ProductResponse>), (status = 400, body = ErrorBody),
        (status = 503, description = "the catalog store is down, or the search index is being built", body = ErrorBody)))]
pub async fn list_products(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let mut query = query::products(&pairs)?;
    state.categories.scope(&mut query.filter).await?;
    let page = state.search.list(&query).await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, ProductResponse::from)))
}

/// Counts per category, supplier, price bucket and requested attribute among the products
/// matching the same filters as `GET /api/products`, in one round trip.
#[utoipa::path(get, path = "/api/products/facets", tag = "products",
    params(("facets" = Option<String>, Query,
            pattern = r"^(category|supplier_id|price|attr\.[A-Za-z0-9_]+(\.[A-Za-z0-9_]+){0,7})(,(category|supplier_id|price|attr\.[A-Za-z0-9_]+(\.[A-Za-z0-9_]+){0,7})){0,19}$",
            description = "comma-separated `category`, `supplier_id`, `price`, `attr.<path>` (a path of at most 8 segments; default `category,supplier_id,price`; at most 20 facets)"),
        ("category" = Option<String>, Query, min_length = 1),
        ("min_price" = Option<String>, Query, pattern = r"^[0-9]{1,15}(\.[0-9]{1,10})?$"),
        ("max_price" = Option<String>, Query, pattern = r"^[0-9]{1,15}(\.[0-9]{1,10})?$"),
        ("supplier_id" = Option<uuid::Uuid>, Query),
        ("in_stock" = Option<bool>, Query),
        ("q" = Option<String>, Query, max_length = 200)),
    responses((status = 200, body = FacetsResponse), (status = 400, body = ErrorBody),
        (status = 503, description = "the search index is being built", body = ErrorBody)))]
pub async fn product_facets(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let mut query = query::products(&pairs)?;
    state.categories.scope(&mut query.filter).await?;
    let wanted = query::facets(&pairs)?;
    let facets = state.search.facets(&query, &wanted).await?;
    Ok(HttpResponse::Ok().json(FacetsResponse::from(facets)))
}

/// One product with its stock; like the list, served with `stock` and `reserved` null
/// while the inventory store is down. While the catalog store is down, a product read in
/// the last minute is served from the server's cache, any other is 503.
#[utoipa::path(get, path = "/api/products/{id}", tag = "products",
    params(("id" = uuid::Uuid, Path, description = "product id")),
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
#[utoipa::path(put, path = "/api/products/{id}", tag = "products",
    params(("id" = uuid::Uuid, Path, description = "product id")), request_body = ProductBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 200, body = ProductResponse), (status = 404, body = ErrorBody),
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
    params(("id" = uuid::Uuid, Path, description = "product id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_product(
    state: web::Data<AppState>,
    id: web::Path<ProductId>,
) -> ApiResult<HttpResponse> {
    state.catalog.delete(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
