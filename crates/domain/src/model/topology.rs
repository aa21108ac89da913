//! How the stores are laid out, as the operator's routes show it: replica sets and
//! standbys (`GET /api/admin/replica-status`), and the shards of a sharded catalog
//! (`/api/admin/shard-*`). The stores' own replication and sharding do the work; these
//! types only report it and name what to move.

use serde::Serialize;
use serde_json::Value;

/// The catalog's replica set, as `replSetGetStatus` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaSetStatus {
    /// The set's name.
    pub set: String,
    pub members: Vec<ReplicaMember>,
    /// The member the server reads from (the primary unless read routing says otherwise).
    pub read_from: Option<String>,
}

/// One member of a replica set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaMember {
    /// `host:port`.
    pub name: String,
    /// `PRIMARY`, `SECONDARY`, `ARBITER`, `(not reachable/healthy)`, ...
    pub state: String,
    /// 1 when the member answers, 0 when it does not (as MongoDB reports it).
    pub health: f64,
    /// The member's last applied operation, as a time, in seconds since the epoch.
    pub optime_seconds: Option<i64>,
    /// How far it is behind the primary's last applied operation; 0 for the primary,
    /// `None` when unknown (the member is down, or there is no primary).
    pub lag_seconds: Option<f64>,
}

/// The ledger's replication, from the server the app writes to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PgReplicationStatus {
    /// `primary`, or `standby` when the server is in recovery.
    pub role: &'static str,
    pub standbys: Vec<PgStandby>,
    pub slots: Vec<PgSlot>,
}

/// One standby, connected (from `pg_stat_replication`) or expected by its slot and not
/// connected (`state: "down"`, `healthy: false`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PgStandby {
    /// Its `application_name` (`cluster_name` of the standby), or its slot.
    pub name: String,
    /// `streaming`, `catchup`, `backup`, ..., or `down`.
    pub state: String,
    pub healthy: bool,
    pub client_addr: Option<String>,
    pub sent_lsn: Option<String>,
    pub flush_lsn: Option<String>,
    pub replay_lsn: Option<String>,
    /// WAL written on the primary and not yet replayed on the standby (for one that is
    /// down: not yet received, from its slot).
    pub lag_bytes: Option<i64>,
    /// `replay_lag` as the primary measures it; `None` when the standby is down, or
    /// when the primary has not measured it yet.
    pub lag_seconds: Option<f64>,
}

/// A replication slot: the WAL it holds back from recycling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PgSlot {
    pub name: String,
    pub kind: String,
    pub active: bool,
    /// WAL held back for it, in bytes.
    pub retained_bytes: Option<i64>,
}

/// A sharded catalog: its shards, how each sharded collection's chunks are spread, and
/// the balancer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardStatus {
    pub shards: Vec<Shard>,
    pub collections: Vec<ShardedCollection>,
    pub balancer: BalancerStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shard {
    pub id: String,
    /// `replicaSet/host:port,host:port`.
    pub host: String,
    /// 1 once the shard is part of the cluster.
    pub state: i64,
}

/// One sharded collection of the catalog's database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardedCollection {
    /// `database.collection`.
    pub namespace: String,
    /// The shard key, as MongoDB holds it (`{"_id": "hashed"}`).
    pub key: Value,
    /// Chunks per shard id.
    pub chunks: std::collections::BTreeMap<String, u64>,
}

/// The balancer, as `balancerStatus` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BalancerStatus {
    /// `full` when it runs, `off` when stopped.
    pub mode: String,
    pub enabled: bool,
    pub in_balancer_round: bool,
    pub rounds: i64,
}

/// A chunk or range to move to another shard (`POST /api/admin/shard-migrate`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkMove {
    /// The collection of the catalog's database (`products`), without the database.
    pub collection: String,
    pub which: ChunkSelector,
    /// The shard id to move it to.
    pub to: String,
}

/// Which chunk to move: the one holding a document matching `find` (ranged keys;
/// `moveChunk`), or the range between two shard-key values (`moveRange`, any key).
#[derive(Debug, Clone, PartialEq)]
pub enum ChunkSelector {
    Find(Value),
    Bounds { min: Value, max: Value },
}

/// The ledger's connection pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PoolUsage {
    /// Connections open.
    pub size: u32,
    /// Of those, not lent out.
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
}

/// One statement from `pg_stat_statements`: its text with parameters as `$n` (never
/// values), how often it ran and how long it took.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowQuery {
    pub query: String,
    pub calls: i64,
    pub mean_ms: f64,
    pub max_ms: f64,
    pub total_ms: f64,
}

/// One operation from MongoDB's profiler (`system.profile`): what it was and on what, and
/// how long it took; never its filter or its documents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlowOperation {
    /// `query`, `insert`, `update`, `command`, ...
    pub op: String,
    /// `database.collection`.
    pub namespace: String,
    pub millis: i64,
    /// How the server ran it (`IXSCAN { sku: 1 }`, `COLLSCAN`), when it says.
    pub plan_summary: Option<String>,
}
