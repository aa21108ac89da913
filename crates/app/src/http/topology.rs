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

/// Checks a migrate body: every field invalid at once.
fn chunk_move(body: ShardMigrateBody) -> emporium_domain::Result<ChunkMove> {
    let mut fields = Vec::new();
    let collection = body
        .collection
        .filter(|c| !c.trim().is_empty() && !c.contains('$') && !c.starts_with("system."));
    if collection.is_none() {
        fields.push(("collection", "is required: a collection of the catalog"));
    }
    let to = body.to.filter(|t| !t.trim().is_empty());
    if to.is_none() {
        fields.push(("to", "is required: the shard to move to"));
    }
    let which = match (body.find, body.bounds) {
        (Some(find @ serde_json::Value::Object(_)), None) => Some(ChunkSelector::Find(find)),
        (None, Some(bounds)) => match <[serde_json::Value; 2]>::try_from(bounds) {
            Ok([min @ serde_json::Value::Object(_), max @ serde_json::Value::Object(_)]) => {
                Some(ChunkSelector::Bounds { min, max })
            }
            _ => {
                fields.push(("bounds", "must be [min, max], two shard-key documents"));
                None
            }
        },
        (Some(_), None) => {
            fields.push(("find", "must be a document of shard-key values"));
            None
        }
        _ => {
            fields.push(("find", "give exactly one of find and bounds"));
            None
        }
    };
    match (collection, to, which) {
        (Some(collection), Some(to), Some(which)) if fields.is_empty() => Ok(ChunkMove {
            collection,
            which,
            to,
        }),
        _ => Err(Error::Validation(
            fields
                .into_iter()
                .map(|(f, m)| emporium_domain::FieldError::new(f, m))
                .collect(),
        )),
    }
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
    let enabled = body
        .enabled
        .ok_or_else(|| Error::invalid("enabled", "is required: true or false"))?;
    let status = topology(&state)?.set_balancer(enabled).await?;
    Ok(HttpResponse::Ok().json(status))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: serde_json::Value) -> ShardMigrateBody {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_migrate_names_a_collection_a_shard_and_one_chunk() {
        let by_find = chunk_move(body(
            json!({"collection": "products", "find": {"_id": 1}, "to": "shard02"}),
        ));
        assert!(matches!(
            by_find,
            Ok(ChunkMove {
                which: ChunkSelector::Find(_),
                ..
            })
        ));
        let by_bounds = chunk_move(body(
            json!({"collection": "products", "bounds": [{"_id": 0}, {"_id": 9}], "to": "shard01"}),
        ));
        assert!(matches!(
            by_bounds,
            Ok(ChunkMove {
                which: ChunkSelector::Bounds { .. },
                ..
            })
        ));
        let Err(Error::Validation(fields)) =
            chunk_move(body(json!({"find": {"_id": 1}, "bounds": [{}, {}]})))
        else {
            panic!("refused");
        };
        let named: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(named, ["collection", "to", "find"]);
        assert!(chunk_move(body(json!({"collection": "$cmd", "find": {}, "to": "s"}))).is_err());
        assert!(chunk_move(body(json!({"collection": "p", "bounds": [{}], "to": "s"}))).is_err());
    }
}
