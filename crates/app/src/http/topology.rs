//! `/api/admin/replica-status` and the shard routes (ADR 0025): what MongoDB's and
//! PostgreSQL's own replication and sharding report, and the moves they are asked to make.
//! A store that does not answer is reported as such, with a 200: the route exists to look
//! at a cluster in trouble.

use super::dto::{
    ErrorBody, MongoReplicaStatus, PostgresReplicaStatus, ReplicaStatusResponse, ShardBalancerBody,
    ShardMigrateBody,
};
use super::error::ApiResult;
use crate::state::AppState;
use actix_web::{web, HttpResponse};
use emporium_domain::model::{ChunkMove, ChunkSelector};
use emporium_domain::Error;

/// How long the route waits for each store.
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/replica-status")
            .route(web::get().to(replica_status))
            .default_service(super::not_allowed("GET")),
    )
    .service(
        web::resource("/performance")
            .route(web::get().to(performance))
            .default_service(super::not_allowed("GET")),
    )
    .service(
        web::resource("/shard-status")
            .route(web::get().to(shard_status))
            .default_service(super::not_allowed("GET")),
    )
    .service(
        web::resource("/shard-migrate")
            .route(web::post().to(shard_migrate))
            .default_service(super::not_allowed("POST")),
    )
    .service(
        web::resource("/shard-balancer")
            .route(web::put().to(shard_balancer))
            .default_service(super::not_allowed("PUT")),
    );
}

async fn bounded<T>(
    ask: impl std::future::Future<Output = emporium_domain::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(ASK_TIMEOUT, ask).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", ASK_TIMEOUT.as_secs())),
    }
}

/// Each configured store's replication: the catalog's replica set members with their
/// state, health and lag behind the primary; the ledger's role, its standbys (connected,
/// or `down` when a slot waits for one) with their lag, and its slots.
#[utoipa::path(get, path = "/api/admin/replica-status", tag = "operations",
    responses(
        (status = 200, body = ReplicaStatusResponse),
        (status = 401, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn replica_status(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let mongodb = match &state.catalog_topology {
        Some(topology) => Some(match bounded(topology.replica_set()).await {
            Ok(status) => MongoReplicaStatus::from(status),
            Err(error) => MongoReplicaStatus {
                error: Some(error),
                ..MongoReplicaStatus::default()
            },
        }),
        None => None,
    };
    let postgres = match &state.ledger_topology {
        Some(topology) => Some(match bounded(topology.replication()).await {
            Ok(status) => PostgresReplicaStatus::from(status),
            Err(error) => PostgresReplicaStatus {
                error: Some(error),
                ..PostgresReplicaStatus::default()
            },
        }),
        None => None,
    };
    Ok(HttpResponse::Ok().json(ReplicaStatusResponse { mongodb, postgres }))
}

/// Latency per route and per ledger operation (count, p50, p95, p99 in ms, since the
/// server started), the ledger's pool, the recommendation cache's hit rate, the event
/// feed's and search index's lag, saga recovery figures, and the slowest statements from
/// `pg_stat_statements` (when the extension is installed).
#[utoipa::path(get, path = "/api/admin/performance", tag = "operations",
    responses(
        (status = 200, body = Object, description = "`{routes: {\"GET /api/products/{id}\": {count, p50_ms, p95_ms, p99_ms}}, store_operations: {...}, pools, cache, events, sagas, reconcile, slow_queries}`"),
        (status = 401, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn performance(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let registry = &state.metrics.registry;
    let mut body = state.metrics.snapshot();
    body["routes"] = serde_json::json!(registry.latencies("route"));
    body["store_operations"] = serde_json::json!(registry.latencies("store"));
    body["saga_steps"] = serde_json::json!(registry.latencies("saga"));
    let stats = state.recommendations.stats();
    let catalog_cache = state.catalog_cache.as_ref().map(|c| {
        let (hits, misses) = c.hits_and_misses();
        let rate = if hits + misses == 0 {
            0.0
        } else {
            hits as f64 / (hits + misses) as f64
        };
        serde_json::json!({"hits": hits, "misses": misses, "hit_rate": rate})
    });
    body["cache"] = serde_json::json!({
        "catalog": catalog_cache,
        "recommendations": {
            "hits": stats.hits.load(std::sync::atomic::Ordering::Relaxed),
            "misses": stats.misses.load(std::sync::atomic::Ordering::Relaxed),
            "hit_rate": stats.hit_rate(),
        }
    });
    let mongodb_slow = match &state.catalog_topology {
        Some(catalog) => Some(match bounded(catalog.slow_operations(10)).await {
            Ok(Some(operations)) => serde_json::json!(operations),
            Ok(None) => serde_json::json!({
                "available": false,
                "reason": "MongoDB's profiler is off for the catalog's database \
                           (db.setProfilingLevel(1, {slowms: 100}) turns it on)",
            }),
            Err(error) => serde_json::json!({ "available": false, "reason": error }),
        }),
        None => None,
    };
    if let Some(ledger) = &state.ledger_topology {
        let mut pool = serde_json::json!(ledger.pool());
        if let Ok(waited) = bounded(ledger.acquire_wait()).await {
            pool["acquire_ms"] = serde_json::json!(waited.as_secs_f64() * 1000.0);
        }
        body["pools"] = serde_json::json!({ "postgres": pool });
        body["slow_queries"] = match bounded(ledger.slow_queries(10)).await {
            Ok(Some(queries)) => serde_json::json!({ "postgres": queries }),
            Ok(None) => serde_json::json!({ "postgres": {
                "available": false,
                "reason": "pg_stat_statements is not installed in the ledger's database \
                           (shared_preload_libraries, then CREATE EXTENSION pg_stat_statements; \
                           scripts/dev-services.sh up --private does both)",
            }}),
            Err(error) => {
                serde_json::json!({ "postgres": { "available": false, "reason": error } })
            }
        };
    } else {
        body["pools"] = serde_json::json!({});
        body["slow_queries"] = serde_json::json!({});
    }
    if let Some(slow) = mongodb_slow {
        body["slow_queries"]["mongodb"] = slow;
    }
    Ok(HttpResponse::Ok().json(body))
}

fn topology(
    state: &AppState,
) -> ApiResult<&std::sync::Arc<dyn emporium_domain::ports::CatalogTopology>> {
    state.catalog_topology.as_ref().ok_or_else(|| {
        Error::NotSharded(
            "the catalog is in memory, not in a sharded MongoDB cluster; the sharded \
             topology is deploy/compose.sharded.yaml"
                .into(),
        )
        .into()
    })
}

/// The sharded catalog: its shards, the chunks of each sharded collection per shard, and
/// the balancer. 409 `not_sharded` when the catalog is not behind a `mongos` router.
#[utoipa::path(get, path = "/api/admin/shard-status", tag = "operations",
    responses(
        (status = 200, body = Object, description = "`{shards: [{id, host, state}], collections: [{namespace, key, chunks: {shard: n}}], balancer: {mode, enabled, in_balancer_round, rounds}}`"),
        (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`not_sharded`"),
        (status = 503, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn shard_status(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let status = topology(&state)?.shard_status().await?;
    Ok(HttpResponse::Ok().json(status))
}

/// Moves a chunk of a sharded collection to another shard: the chunk holding a document
/// matching `find` (`moveChunk`), or the shard-key range `bounds` (`moveRange`).
#[utoipa::path(post, path = "/api/admin/shard-migrate", tag = "operations",
    request_body(content = ShardMigrateBody, content_type = "application/json"),
    responses(
        (status = 200, body = Object, description = "the router's reply"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`not_sharded`"),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn shard_migrate(
    state: web::Data<AppState>,
    body: web::Json<ShardMigrateBody>,
) -> ApiResult<HttpResponse> {
    let chunk = chunk_move(body.into_inner())?;
    let reply = topology(&state)?.move_chunk(&chunk).await?;
    Ok(HttpResponse::Ok().json(reply))
}

/// The move a migrate body asks for. The body's shape is checked by its type (422 for
/// anything else); what is left is the names.
fn chunk_move(body: ShardMigrateBody) -> emporium_domain::Result<ChunkMove> {
    let (collection, which, to) = match body {
        ShardMigrateBody::ByDocument(b) => (
            b.collection,
            ChunkSelector::Find(serde_json::Value::Object(b.find)),
            b.to,
        ),
        ShardMigrateBody::ByRange(b) => (
            b.collection,
            ChunkSelector::Bounds {
                min: serde_json::Value::Object(b.bounds.0),
                max: serde_json::Value::Object(b.bounds.1),
            },
            b.to,
        ),
    };
    let mut fields = Vec::new();
    if collection.trim().is_empty() || collection.contains('$') {
        fields.push(emporium_domain::FieldError::new(
            "collection",
            "must name a collection of the catalog",
        ));
    }
    if to.trim().is_empty() {
        fields.push(emporium_domain::FieldError::new("to", "must name a shard"));
    }
    if !fields.is_empty() {
        return Err(Error::Validation(fields));
    }
    Ok(ChunkMove {
        collection,
        which,
        to,
    })
}

/// Starts or stops the balancer (`balancerStart` / `balancerStop`); its status after.
#[utoipa::path(put, path = "/api/admin/shard-balancer", tag = "operations",
    request_body(content = ShardBalancerBody, content_type = "application/json"),
    responses(
        (status = 200, body = Object, description = "`balancerStatus`: `{mode, enabled, in_balancer_round, rounds}`"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`not_sharded`"),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn shard_balancer(
    state: web::Data<AppState>,
    body: web::Json<ShardBalancerBody>,
) -> ApiResult<HttpResponse> {
    let status = topology(&state)?.set_balancer(body.enabled).await?;
    Ok(HttpResponse::Ok().json(status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: serde_json::Value) -> Result<ShardMigrateBody, serde_json::Error> {
        serde_json::from_value(value)
    }

    #[test]
    fn a_migrate_names_a_collection_a_shard_and_one_chunk() {
        let by_find = chunk_move(
            body(json!({"collection": "products", "find": {"_id": 1}, "to": "shard02"})).unwrap(),
        );
        assert!(matches!(
            by_find,
            Ok(ChunkMove {
                which: ChunkSelector::Find(_),
                ..
            })
        ));
        let by_bounds = chunk_move(
            body(json!({"collection": "products", "bounds": [{"_id": 0}, {"_id": 9}], "to": "shard01"}))
                .unwrap(),
        );
        assert!(matches!(
            by_bounds,
            Ok(ChunkMove {
                which: ChunkSelector::Bounds { .. },
                ..
            })
        ));
        // Both, neither, a missing shard, one bound: not a body of either kind.
        for bad in [
            json!({"collection": "p", "find": {}, "bounds": [{}, {}], "to": "s"}),
            json!({"collection": "p", "to": "s"}),
            json!({"collection": "p", "find": {"_id": 1}}),
            json!({"collection": "p", "bounds": [{}], "to": "s"}),
        ] {
            assert!(body(bad.clone()).is_err(), "{bad}");
        }
        let Err(Error::Validation(fields)) =
            chunk_move(body(json!({"collection": "$cmd", "find": {}, "to": " "})).unwrap())
        else {
            panic!("refused");
        };
        let named: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(named, ["collection", "to"]);
    }
}
