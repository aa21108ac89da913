//! Bodies of the cluster routes: replica status and the shard routes (ADR 0025).

use emporium_domain::model::{PgReplicationStatus, ReplicaSetStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// `GET /api/admin/replica-status`: each configured store's replication; a store that is
/// not configured is absent, one that does not answer says so in `error`.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ReplicaStatusResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mongodb: Option<MongoReplicaStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresReplicaStatus>,
}

/// The catalog's replica set (`replSetGetStatus`).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct MongoReplicaStatus {
    /// The replica set's name; absent for a server that is no replica set member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set: Option<String>,
    pub members: Vec<MongoMember>,
    /// The member reads go to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_from: Option<String>,
    /// Why the store could not be asked (it is down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MongoMember {
    pub name: String,
    /// `PRIMARY`, `SECONDARY`, `(not reachable/healthy)`, ...
    pub state: String,
    /// 1 when the member answers, 0 when it does not.
    pub health: f64,
    /// Seconds behind the primary; null when unknown.
    pub lag_seconds: Option<f64>,
}

/// The ledger's role and standbys.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct PostgresReplicaStatus {
    /// `primary` or `standby`; absent when the store does not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(primary|standby)$")]
    pub role: Option<String>,
    pub standbys: Vec<PostgresStandby>,
    pub slots: Vec<PostgresSlot>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostgresStandby {
    pub name: String,
    /// `streaming`, `catchup`, ..., or `down` (a slot nobody streams from).
    pub state: String,
    pub healthy: bool,
    pub sent_lsn: Option<String>,
    pub flush_lsn: Option<String>,
    pub replay_lsn: Option<String>,
    /// WAL not yet replayed on the standby.
    pub lag_bytes: Option<i64>,
    pub lag_seconds: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostgresSlot {
    pub name: String,
    pub kind: String,
    pub active: bool,
    /// WAL held back for the slot.
    pub retained_bytes: Option<i64>,
}

impl From<Option<ReplicaSetStatus>> for MongoReplicaStatus {
    fn from(status: Option<ReplicaSetStatus>) -> Self {
        let Some(status) = status else {
            return MongoReplicaStatus::default();
        };
        MongoReplicaStatus {
            set: Some(status.set),
            members: status
                .members
                .into_iter()
                .map(|m| MongoMember {
                    name: m.name,
                    state: m.state,
                    health: m.health,
                    lag_seconds: m.lag_seconds,
                })
                .collect(),
            read_from: status.read_from,
            error: None,
        }
    }
}

impl From<PgReplicationStatus> for PostgresReplicaStatus {
    fn from(status: PgReplicationStatus) -> Self {
        PostgresReplicaStatus {
            role: Some(status.role.to_owned()),
            standbys: status
                .standbys
                .into_iter()
                .map(|s| PostgresStandby {
                    name: s.name,
                    state: s.state,
                    healthy: s.healthy,
                    sent_lsn: s.sent_lsn,
                    flush_lsn: s.flush_lsn,
                    replay_lsn: s.replay_lsn,
                    lag_bytes: s.lag_bytes,
                    lag_seconds: s.lag_seconds,
                })
                .collect(),
            slots: status
                .slots
                .into_iter()
                .map(|s| PostgresSlot {
                    name: s.name,
                    kind: s.kind,
                    active: s.active,
                    retained_bytes: s.retained_bytes,
                })
                .collect(),
            error: None,
        }
    }
}

/// `POST /api/admin/shard-migrate`: the chunk holding a document (`find`; `moveChunk`)
/// or a range of the shard key (`bounds`; `moveRange`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ShardMigrateBody {
    ByDocument(MigrateByDocument),
    ByRange(MigrateByRange),
}

/// Moves the chunk that holds a document matching `find` (`moveChunk`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateByDocument {
    /// A collection of the catalog's database, e.g. `products`.
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = "^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
    )]
    pub collection: String,
    /// Shard-key values of a document in the chunk, e.g. `{"_id": "..."}`.
    #[schema(value_type = Object)]
    pub find: serde_json::Map<String, Value>,
    /// The shard to move it to.
    #[schema(min_length = 1, max_length = 120, pattern = "^[A-Za-z0-9_.-]+$")]
    pub to: String,
}

/// Moves the range `[min, max)` of the shard key (`moveRange`, MongoDB 6.0 and later).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateByRange {
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = "^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
    )]
    pub collection: String,
    /// `[min, max]`: two documents of shard-key values.
    #[schema(value_type = Vec<Object>, min_items = 2, max_items = 2)]
    pub bounds: (
        serde_json::Map<String, Value>,
        serde_json::Map<String, Value>,
    ),
    #[schema(min_length = 1, max_length = 120, pattern = "^[A-Za-z0-9_.-]+$")]
    pub to: String,
}

/// `PUT /api/admin/shard-balancer`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardBalancerBody {
    pub enabled: bool,
}
