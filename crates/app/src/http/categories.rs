//! `/api/categories` (ADR 0018).

use super::dto::{CategoryBody, CategoryResponse, ErrorBody, NewCategoryBody, PageBody};
use super::error::ApiResult;
use super::{not_allowed, query};
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use emporium_domain::model::CategoryId;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/categories")
            .route(web::get().to(list_categories))
            .route(web::post().to(create_category))
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/categories/{id}")
            .route(web::get().to(get_category))
            .route(web::patch().to(update_category))
            .route(web::delete().to(delete_category))
            .default_service(not_allowed("GET, PATCH, DELETE")),
    );
}

/// Create a category (`name` and `slug` required; `parent_id` null or absent for a root).
/// A slug taken by a sibling is 409 `conflict`; an unknown parent is 422.
#[utoipa::path(post, path = "/api/categories", tag = "categories", request_body = NewCategoryBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 201, body = CategoryResponse),
        (status = 409, description = "a sibling has the slug", body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_category(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    let body: CategoryBody = super::from_object(body.into_inner())?;
    let view = state.categories.create(body.into()).await?;
    Ok(HttpResponse::Created().json(CategoryResponse::from(view)))
}

/// Every category, flat, in tree order (a parent before its children), with its `path`
/// and `product_count`.
#[utoipa::path(get, path = "/api/categories", tag = "categories",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "page size, default 50"),
        ("offset" = Option<u64>, Query, minimum = 0)),
    responses((status = 200, body = PageBody<CategoryResponse>), (status = 400, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn list_categories(
    state: web::Data<AppState>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let page = state.categories.list(query::page(&pairs)?).await?;
    Ok(HttpResponse::Ok().json(PageBody::from_page(page, CategoryResponse::from)))
}

/// One category.
#[utoipa::path(get, path = "/api/categories/{id}", tag = "categories",
    params(("id" = uuid::Uuid, Path, description = "category id")),
    responses((status = 200, body = CategoryResponse), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn get_category(
    state: web::Data<AppState>,
    id: web::Path<CategoryId>,
) -> ApiResult<HttpResponse> {
    let view = state.categories.get(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(CategoryResponse::from(view)))
}

/// Rename, re-slug or move a category. Moving it under itself or a descendant is 422.
#[utoipa::path(patch, path = "/api/categories/{id}", tag = "categories",
    params(("id" = uuid::Uuid, Path, description = "category id")), request_body = CategoryBody,
    responses((status = 400, description = "malformed JSON, or not `application/json`", body = ErrorBody),
        (status = 200, body = CategoryResponse), (status = 404, body = ErrorBody),
        (status = 409, description = "a sibling has the slug", body = ErrorBody),
        (status = 422, description = "invalid values, or a parent that would make a cycle", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn update_category(
    state: web::Data<AppState>,
    id: web::Path<CategoryId>,
    body: web::Json<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    let body: CategoryBody = super::from_object(body.into_inner())?;
    let view = state
        .categories
        .update(id.into_inner(), body.into())
        .await?;
    Ok(HttpResponse::Ok().json(CategoryResponse::from(view)))
}

/// Delete a category. 409 while products are in it, unless `reassign_to` names the
/// category (id or slug) they move to; 409 while it has subcategories.
#[utoipa::path(delete, path = "/api/categories/{id}", tag = "categories",
    params(("id" = uuid::Uuid, Path, description = "category id"),
        ("reassign_to" = Option<String>, Query, min_length = 1, description = "id or slug of the category its products move to")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "products or subcategories use it", body = ErrorBody),
        (status = 422, description = "`reassign_to` names no other category", body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub async fn delete_category(
    state: web::Data<AppState>,
    id: web::Path<CategoryId>,
    pairs: web::Query<query::Pairs>,
) -> ApiResult<HttpResponse> {
    let reassign_to = query::reassign_to(&pairs)?;
    state
        .categories
        .delete(id.into_inner(), reassign_to.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
