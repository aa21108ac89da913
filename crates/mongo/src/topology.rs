//! The catalog's MongoDB as a cluster (ADR 0025): `replSetGetStatus` for the replica set,
//! and, behind a router (`hello` answers `msg: "isdbgrid"`), `listShards`, the chunk
//! counts from `config.chunks`, `balancerStatus`, `moveChunk` / `moveRange` and
//! `balancerStart` / `balancerStop`.
//!
//! The commands are built, and the replies read, by the plain functions below, which the
//! unit tests check against the reply shapes MongoDB's documentation gives. The stand-in
//! server used in tests is a one-member replica set and cannot shard, so the shard half
//! has not run against a live cluster here (README says so).

use async_trait::async_trait;
use emporium_domain::model::{
    BalancerStatus, ChunkMove, ChunkSelector, ReplicaMember, ReplicaSetStatus, Shard, ShardStatus,
    ShardedCollection, SlowOperation,
};
use emporium_domain::ports::CatalogTopology;
use emporium_domain::{Error, Result};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Database;
use std::collections::BTreeMap;

/// Where the sharded topology is described, for the `not_sharded` answer.
const SHARDED_DEPLOY: &str = "deploy/compose.sharded.yaml";

pub struct MongoTopology {
    db: Database,
}

impl MongoTopology {
    pub fn new(db: Database) -> Self {
        MongoTopology { db }
    }

    async fn admin(&self, command: Document) -> Result<Document> {
        self.db
            .client()
            .database("admin")
            .run_command(command)
            .await
            .map_err(crate::error::from_driver)
    }

    /// Refuses with `not_sharded` unless the server is a router.
    async fn router(&self) -> Result<()> {
        let hello = self.admin(doc! {"hello": 1}).await?;
        if is_router(&hello) {
            Ok(())
        } else {
            Err(Error::NotSharded(format!(
                "the catalog's MongoDB is not a sharded cluster (its server is no mongos \
                 router); the sharded topology is {SHARDED_DEPLOY}"
            )))
        }
    }

    async fn balancer(&self) -> Result<BalancerStatus> {
        Ok(balancer_of(&self.admin(doc! {"balancerStatus": 1}).await?))
    }
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::Internal(format!("mongodb topology: {what}"))
}

/// Whether a `hello` reply comes from a `mongos` router.
pub fn is_router(hello: &Document) -> bool {
    hello.get_str("msg") == Ok("isdbgrid")
}

fn number(doc: &Document, key: &str) -> Option<f64> {
    match doc.get(key)? {
        Bson::Double(v) => Some(*v),
        Bson::Int32(v) => Some(f64::from(*v)),
        Bson::Int64(v) => Some(*v as f64),
        _ => None,
    }
}

/// A member's last applied operation, in seconds: `optimeDate`, or the optime's `ts`.
fn optime_seconds(member: &Document) -> Option<i64> {
    if let Ok(date) = member.get_datetime("optimeDate") {
        return Some(date.timestamp_millis() / 1000);
    }
    member
        .get_document("optime")
        .ok()
        .and_then(|o| o.get_timestamp("ts").ok())
        .map(|ts| i64::from(ts.time))
}

/// Reads a `replSetGetStatus` reply: members, their states and health, and each one's lag
/// behind the primary's last applied operation.
pub fn replica_set_of(reply: &Document) -> Result<ReplicaSetStatus> {
    let set = reply.get_str("set").map_err(bad)?.to_owned();
    let raw: Vec<&Document> = reply
        .get_array("members")
        .map_err(bad)?
        .iter()
        .filter_map(Bson::as_document)
        .collect();
    let primary = raw.iter().find(|m| m.get_str("stateStr") == Ok("PRIMARY"));
    let primary_optime = primary.and_then(|p| optime_seconds(p));
    let members = raw
        .iter()
        .map(|m| {
            let health = number(m, "health").unwrap_or(0.0);
            let optime = optime_seconds(m);
            let lag_seconds = match (primary_optime, optime) {
                (Some(p), Some(o)) if health > 0.0 => Some((p - o).max(0) as f64),
                _ => None,
            };
            Ok(ReplicaMember {
                name: m.get_str("name").map_err(bad)?.to_owned(),
                state: m.get_str("stateStr").unwrap_or("UNKNOWN").to_owned(),
                health,
                optime_seconds: optime,
                lag_seconds,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ReplicaSetStatus {
        set,
        read_from: primary
            .and_then(|p| p.get_str("name").ok())
            .map(str::to_owned),
        members,
    })
}

/// Reads one `system.profile` entry: the operation, its namespace, its time and plan.
pub fn slow_operation_of(entry: &Document) -> SlowOperation {
    SlowOperation {
        op: entry.get_str("op").unwrap_or("?").to_owned(),
        namespace: entry.get_str("ns").unwrap_or("?").to_owned(),
        millis: number(entry, "millis").unwrap_or(0.0) as i64,
        plan_summary: entry.get_str("planSummary").ok().map(str::to_owned),
    }
}

/// Reads a `listShards` reply.
pub fn shards_of(reply: &Document) -> Result<Vec<Shard>> {
    reply
        .get_array("shards")
        .map_err(bad)?
        .iter()
        .filter_map(Bson::as_document)
        .map(|s| {
            Ok(Shard {
                id: s.get_str("_id").map_err(bad)?.to_owned(),
                host: s.get_str("host").unwrap_or_default().to_owned(),
                state: number(s, "state").unwrap_or(0.0) as i64,
            })
        })
        .collect()
}

/// Reads a `balancerStatus` reply (`mode` is `full` or `off`).
pub fn balancer_of(reply: &Document) -> BalancerStatus {
    let mode = reply.get_str("mode").unwrap_or("off").to_owned();
    BalancerStatus {
        enabled: mode != "off",
        mode,
        in_balancer_round: reply.get_bool("inBalancerRound").unwrap_or(false),
        rounds: number(reply, "numBalancerRounds").unwrap_or(0.0) as i64,
    }
}

/// The command that moves `chunk` of `database`'s collection: `moveChunk` with `find`, or
/// `moveRange` with `min` and `max` (MongoDB 6.0 and later).
pub fn move_command(database: &str, chunk: &ChunkMove) -> Result<Document> {
    let namespace = format!("{database}.{}", chunk.collection);
    let bson = |v: &serde_json::Value| -> Result<Bson> {
        Bson::try_from(v.clone()).map_err(|e| Error::invalid("find", e.to_string()))
    };
    Ok(match &chunk.which {
        ChunkSelector::Find(find) => doc! {
            "moveChunk": namespace, "find": bson(find)?, "to": &chunk.to,
        },
        ChunkSelector::Bounds { min, max } => doc! {
            "moveRange": namespace, "min": bson(min)?, "max": bson(max)?, "toShard": &chunk.to,
        },
    })
}

fn json_of(document: Document) -> serde_json::Value {
    Bson::Document(document).into_relaxed_extjson()
}

#[async_trait]
impl CatalogTopology for MongoTopology {
    async fn replica_set(&self) -> Result<Option<ReplicaSetStatus>> {
        match self
            .db
            .client()
            .database("admin")
            .run_command(doc! {"replSetGetStatus": 1})
            .await
        {
            Ok(reply) => replica_set_of(&reply).map(Some),
            // NoReplicationEnabled: a standalone server, or a router.
            Err(e) if matches!(*e.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 76) => {
                Ok(None)
            }
            Err(e) => Err(crate::error::from_driver(e)),
        }
    }

    async fn shard_status(&self) -> Result<ShardStatus> {
        self.router().await?;
        let shards = shards_of(&self.admin(doc! {"listShards": 1}).await?)?;
        let config = self.db.client().database("config");
        let prefix = format!("{}.", self.db.name());
        let sharded: Vec<Document> = config
            .collection::<Document>("collections")
            .find(doc! {"_id": {"$regex": format!("^{}", regex_escape(&prefix))}})
            .await
            .map_err(crate::error::from_driver)?
            .try_collect()
            .await
            .map_err(crate::error::from_driver)?;
        let mut collections = Vec::with_capacity(sharded.len());
        for spec in sharded {
            let namespace = spec.get_str("_id").map_err(bad)?.to_owned();
            // Chunks name their collection by uuid since MongoDB 5.0, by ns before.
            let by = match spec.get("uuid") {
                Some(uuid) => doc! {"uuid": uuid.clone()},
                None => doc! {"ns": &namespace},
            };
            let counts: Vec<Document> = config
                .collection::<Document>("chunks")
                .aggregate([
                    doc! {"$match": by},
                    doc! {"$group": {"_id": "$shard", "n": {"$sum": 1}}},
                ])
                .await
                .map_err(crate::error::from_driver)?
                .try_collect()
                .await
                .map_err(crate::error::from_driver)?;
            let chunks: BTreeMap<String, u64> = counts
                .iter()
                .filter_map(|c| Some((c.get_str("_id").ok()?.to_owned(), number(c, "n")? as u64)))
                .collect();
            collections.push(ShardedCollection {
                namespace,
                key: spec
                    .get_document("key")
                    .cloned()
                    .map(json_of)
                    .unwrap_or_default(),
                chunks,
            });
        }
        Ok(ShardStatus {
            shards,
            collections,
            balancer: self.balancer().await?,
        })
    }

    async fn move_chunk(&self, chunk: &ChunkMove) -> Result<serde_json::Value> {
        self.router().await?;
        let command = move_command(self.db.name(), chunk)?;
        Ok(json_of(self.admin(command).await?))
    }

    async fn slow_operations(&self, limit: u32) -> Result<Option<Vec<SlowOperation>>> {
        let level = self
            .db
            .run_command(doc! {"profile": -1})
            .await
            .map_err(crate::error::from_driver)?;
        if number(&level, "was").unwrap_or(0.0) < 1.0 {
            return Ok(None);
        }
        let entries: Vec<Document> = self
            .db
            .collection::<Document>("system.profile")
            .find(doc! {})
            .sort(doc! {"millis": -1})
            .limit(i64::from(limit))
            .projection(doc! {"op": 1, "ns": 1, "millis": 1, "planSummary": 1})
            .await
            .map_err(crate::error::from_driver)?
            .try_collect()
            .await
            .map_err(crate::error::from_driver)?;
        Ok(Some(entries.iter().map(slow_operation_of).collect()))
    }

    async fn set_balancer(&self, enabled: bool) -> Result<BalancerStatus> {
        self.router().await?;
        let command = if enabled {
            doc! {"balancerStart": 1}
        } else {
            doc! {"balancerStop": 1}
        };
        self.admin(command).await?;
        self.balancer().await
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escape = "\\.^$|?*+()[]{}".contains(c);
            escape.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::{DateTime, Timestamp};

    /// `replSetGetStatus` as MongoDB's manual shows it (abridged): a primary, a secondary
    /// 4 s behind, and a member that is down.
    #[test]
    fn the_replica_set_reports_each_members_lag_behind_the_primary() {
        let at = |s: i64| DateTime::from_millis(s * 1000);
        let reply = doc! {
            "set": "rs0", "myState": 1, "ok": 1,
            "members": [
                {"_id": 0, "name": "mongo1:27017", "health": 1.0, "state": 1, "stateStr": "PRIMARY",
                 "optime": {"ts": Timestamp {time: 1_700_000_100, increment: 3}, "t": 5_i64},
                 "optimeDate": at(1_700_000_100), "self": true},
                {"_id": 1, "name": "mongo2:27017", "health": 1.0, "state": 2, "stateStr": "SECONDARY",
                 "optime": {"ts": Timestamp {time: 1_700_000_096, increment: 1}, "t": 5_i64},
                 "optimeDate": at(1_700_000_096)},
                {"_id": 2, "name": "mongo3:27017", "health": 0.0, "state": 8,
                 "stateStr": "(not reachable/healthy)",
                 "optime": {"ts": Timestamp {time: 0, increment: 0}, "t": -1_i64},
                 "optimeDate": at(0)},
            ],
        };
        let status = replica_set_of(&reply).unwrap();
        assert_eq!(status.set, "rs0");
        assert_eq!(status.read_from.as_deref(), Some("mongo1:27017"));
        let lags: Vec<_> = status
            .members
            .iter()
            .map(|m| (m.name.as_str(), m.state.as_str(), m.health, m.lag_seconds))
            .collect();
        assert_eq!(
            lags,
            [
                ("mongo1:27017", "PRIMARY", 1.0, Some(0.0)),
                ("mongo2:27017", "SECONDARY", 1.0, Some(4.0)),
                ("mongo3:27017", "(not reachable/healthy)", 0.0, None),
            ]
        );
    }

    #[test]
    fn a_router_is_told_from_a_replica_set_member_by_hello() {
        assert!(is_router(
            &doc! {"isWritablePrimary": true, "msg": "isdbgrid", "ok": 1}
        ));
        assert!(!is_router(
            &doc! {"isWritablePrimary": true, "setName": "rs0", "ok": 1}
        ));
    }

    /// `listShards` and `balancerStatus` as the manual shows them.
    #[test]
    fn shards_and_the_balancer_are_read_from_their_replies() {
        let shards = shards_of(&doc! {
            "shards": [
                {"_id": "shard01", "host": "shard01/shard01-a:27018,shard01-b:27018", "state": 1,
                 "topologyTime": Timestamp {time: 1, increment: 1}},
                {"_id": "shard02", "host": "shard02/shard02-a:27018", "state": 1_i64},
            ],
            "ok": 1,
        })
        .unwrap();
        assert_eq!(shards.len(), 2);
        assert_eq!(shards[0].id, "shard01");
        assert_eq!(shards[1].host, "shard02/shard02-a:27018");
        assert_eq!(shards[1].state, 1);
        let on = balancer_of(
            &doc! {"mode": "full", "inBalancerRound": false, "numBalancerRounds": 1234_i64, "ok": 1},
        );
        assert_eq!(
            (on.enabled, on.mode.as_str(), on.rounds),
            (true, "full", 1234)
        );
        let off = balancer_of(
            &doc! {"mode": "off", "inBalancerRound": false, "numBalancerRounds": 0, "ok": 1},
        );
        assert!(!off.enabled);
    }

    #[test]
    fn moves_are_move_chunk_by_document_or_move_range_by_bounds() {
        let by_find = move_command(
            "emporium",
            &ChunkMove {
                collection: "products".into(),
                which: ChunkSelector::Find(serde_json::json!({"_id": 42})),
                to: "shard02".into(),
            },
        )
        .unwrap();
        assert_eq!(
            by_find,
            doc! {"moveChunk": "emporium.products", "find": {"_id": 42}, "to": "shard02"}
        );
        let by_bounds = move_command(
            "emporium",
            &ChunkMove {
                collection: "products".into(),
                which: ChunkSelector::Bounds {
                    min: serde_json::json!({"_id": -100}),
                    max: serde_json::json!({"_id": 0}),
                },
                to: "shard01".into(),
            },
        )
        .unwrap();
        assert_eq!(
            by_bounds,
            doc! {"moveRange": "emporium.products", "min": {"_id": -100},
            "max": {"_id": 0}, "toShard": "shard01"}
        );
    }

    #[test]
    fn namespaces_are_matched_literally() {
        assert_eq!(regex_escape("shop.v1."), "shop\\.v1\\.");
    }
}
