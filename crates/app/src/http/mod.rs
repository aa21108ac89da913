//! The HTTP surface: routes, request and response bodies, error mapping.

pub mod admin;
pub mod backups;
pub mod carts;
pub mod categories;
pub mod customers;
pub mod dashboard;
pub mod dto;
pub mod error;
pub mod feed;
pub mod health;
pub mod idempotency;
pub mod maintenance;
pub mod openapi;
pub mod orders;
pub mod products;
pub mod query;
pub mod reports;
pub mod reviews;
pub mod suppliers;
pub mod topology;
pub mod warehouses;

use actix_web::{web, HttpRequest};
use error::ApiError;

/// The largest JSON body accepted.
pub const BODY_LIMIT: usize = 1 << 20;

/// Registers every route of the contract under `/api`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(BODY_LIMIT)
            .error_handler(|err, _| error::json_error(err, BODY_LIMIT).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::BadRequest(format!("malformed query: {err}")).into()),
    )
    .app_data(
        web::PathConfig::default().error_handler(|_, req| {
            ApiError::NoRoute(format!("no resource at {}", req.path())).into()
        }),
    )
    .configure(dashboard::routes)
    .service(
        web::scope("/api")
            .wrap(actix_web::middleware::from_fn(maintenance::write_gate))
            .configure(products::routes)
            .configure(suppliers::routes)
            .configure(customers::routes)
            .configure(categories::routes)
            .configure(carts::routes)
            .configure(reviews::routes)
            .configure(warehouses::routes)
            .configure(orders::routes)
            .configure(reports::routes)
            .configure(feed::routes)
            .configure(health::routes)
            .configure(openapi::routes)
            .configure(admin::routes),
    );
}

/// The JSON 405 of a resource that answers only `allow` (e.g. `"GET, POST"`), with the
/// `Allow` header RFC 9110 requires.
/// A request body that must be a JSON object, decoded into `T` (serde would otherwise
/// also read a struct from an array); 422 naming `body` otherwise.
pub fn from_object<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> error::ApiResult<T> {
    if !body.is_object() {
        return Err(error::ApiError::BadBody("must be a JSON object".into()));
    }
    serde_json::from_value(body).map_err(|e| error::ApiError::BadBody(e.to_string()))
}

pub fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move || async move {
        use actix_web::ResponseError;
        let mut response = ApiError::MethodNotAllowed.error_response();
        response.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allow),
        );
        response
    })
}

/// JSON 404 for everything no route matches.
pub async fn no_route(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NoRoute(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// `GET /metrics`: Prometheus text format, through this server's recorder
/// (`metrics-exporter-prometheus`); replica lag and health and the ledger's deadlocks are
/// read from the stores at each scrape.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String,
        description = "Prometheus text exposition (version 0.0.4): requests by method, route pattern and status; store calls by store and operation; pool, replicas, deadlocks, sagas, feed, search, caches. No token: scrape it from inside the network")))]
pub async fn metrics(
    state: actix_web::web::Data<crate::state::AppState>,
) -> actix_web::HttpResponse {
    state
        .metrics
        .scrape_stores(
            state.catalog_topology.as_ref(),
            state.ledger_topology.as_ref(),
        )
        .await;
    let pool = state.ledger_topology.as_ref().map(|l| {
        let p = l.pool();
        crate::metrics::PoolUse {
            size: p.size,
            idle: p.idle,
            max: p.max,
        }
    });
    actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render(
            state.recommendations.stats(),
            pool,
            state.catalog_cache.as_ref().map(|c| c.hits_and_misses()),
        ))
}
