#!/usr/bin/env bash
# Joins the shards of deploy/compose.sharded.yaml to its router and shards the catalog
# (ADR 0027). Runs once in the `mongo-shards-init` container (image mongo:7, with
# mongosh), after the config server and both shard replica sets are initiated. Safe to
# run again: shards already added and collections already sharded are left alone.
#
#   MONGOS          the router, host:port             (default mongos:27017)
#   MONGO_SHARDS    replica-set/host,host,... per shard, separated by spaces
#   MONGO_DB        the catalog's database            (default emporium)
#   MONGO_WAIT_SECS how long to wait for the router   (default 90)
set -euo pipefail

mongos="${MONGOS:-mongos:27017}"
shards="${MONGO_SHARDS:?MONGO_SHARDS lists the shards, e.g. shard1/shard1a:27018,shard1b:27018}"
db="${MONGO_DB:-emporium}"
wait_secs="${MONGO_WAIT_SECS:-90}"

log() { printf 'mongo-shards-init: %s\n' "$*" >&2; }

for ((i = 0; ; i++)); do
  if mongosh --quiet "mongodb://${mongos}/" --eval 'quit(db.adminCommand({ ping: 1 }).ok === 1 ? 0 : 1)' >/dev/null 2>&1; then
    break
  fi
  if ((i >= wait_secs)); then
    log "the router ${mongos} did not answer within ${wait_secs}s"
    exit 1
  fi
  sleep 1
done

# The shard keys, and why, are in ADR 0027. Each collection's unique index is kept: it
# is prefixed by (or is the non-hashed twin of) the shard key, as MongoDB requires.
mongosh --quiet "mongodb://${mongos}/" --eval "
  const wanted = '${shards}'.split(' ').filter((s) => s.length > 0);
  const present = db.adminCommand({ listShards: 1 }).shards.map((s) => s.host);
  for (const shard of wanted) {
    const name = shard.split('/')[0];
    if (present.some((host) => host.split('/')[0] === name)) {
      print('mongo-shards-init: shard ' + name + ' already added');
      continue;
    }
    const res = sh.addShard(shard);
    if (res.ok !== 1) { throw new Error('addShard ' + shard + ': ' + JSON.stringify(res)); }
    print('mongo-shards-init: added ' + name);
  }
  sh.enableSharding('${db}');
  const keys = {
    products: { sku: 'hashed' },
    customers: { email_key: 'hashed' },
    reviews: { subject_kind: 1, subject_id: 1 },
    carts: { _id: 'hashed' },
  };
  const sharded = db.getSiblingDB('config').collections
    .find({ _id: { \$regex: '^${db}\\\\.' } }).toArray().map((c) => c._id);
  for (const [name, key] of Object.entries(keys)) {
    const ns = '${db}.' + name;
    if (sharded.includes(ns)) { print('mongo-shards-init: ' + ns + ' already sharded'); continue; }
    const res = sh.shardCollection(ns, key);
    if (res.ok !== 1) { throw new Error('shardCollection ' + ns + ': ' + JSON.stringify(res)); }
    print('mongo-shards-init: sharded ' + ns + ' on ' + JSON.stringify(key));
  }
"
