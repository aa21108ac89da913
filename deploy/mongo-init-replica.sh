#!/usr/bin/env bash
# Initiates the MongoDB replica set of deploy/compose.yaml and waits for a primary.
#
# Runs once in the `mongo-init` container (image mongo:7, which ships mongosh), after
# mongo1..3 are healthy. Safe to run again: an already initiated set is left as it is.
#
#   MONGO_REPLSET   replica set name            (default rs0)
#   MONGO_MEMBERS   host:port list, comma-separated; the first gets priority 2 so it is
#                   the usual primary           (default mongo1:27017,mongo2:27017,mongo3:27017)
#   MONGO_WAIT_SECS how long to wait for members and for a primary (default 60)
#   MONGO_CONFIGSVR true for a sharded cluster's config server replica set (default false;
#                   deploy/compose.sharded.yaml)
set -euo pipefail

replset="${MONGO_REPLSET:-rs0}"
members="${MONGO_MEMBERS:-mongo1:27017,mongo2:27017,mongo3:27017}"
wait_secs="${MONGO_WAIT_SECS:-60}"
configsvr="${MONGO_CONFIGSVR:-false}"

IFS=',' read -r -a hosts <<<"$members"
first="${hosts[0]}"

log() { printf 'mongo-init: %s\n' "$*" >&2; }

# Every member must answer before the set can be initiated (compose's service_healthy
# already ensures this; the loop makes the script usable on its own too).
for host in "${hosts[@]}"; do
  for ((i = 0; ; i++)); do
    if mongosh --quiet "mongodb://${host}/?directConnection=true" \
         --eval 'quit(db.adminCommand({ ping: 1 }).ok === 1 ? 0 : 1)' >/dev/null 2>&1; then
      break
    fi
    if ((i >= wait_secs)); then
      log "${host} did not answer within ${wait_secs}s"
      exit 1
    fi
    sleep 1
  done
done

# The replica set configuration, as a JSON document for rs.initiate.
config="{\"_id\": \"${replset}\", \"configsvr\": ${configsvr}, \"members\": ["
for i in "${!hosts[@]}"; do
  priority=1
  if ((i == 0)); then
    priority=2
  else
    config+=", "
  fi
  config+="{\"_id\": ${i}, \"host\": \"${hosts[$i]}\", \"priority\": ${priority}}"
done
config+="]}"

log "replica set ${replset}: ${members}"

# rs.status() throws NotYetInitialized (code 94) on a fresh member: that, and only that,
# means "initiate now". Afterwards wait until some member reports PRIMARY.
mongosh --quiet "mongodb://${first}/?directConnection=true" --eval "
  const config = ${config};
  const deadline = Date.now() + ${wait_secs} * 1000;
  try {
    rs.status();
    print('mongo-init: already initiated, leaving the configuration alone');
  } catch (e) {
    if (e.codeName !== 'NotYetInitialized' && e.code !== 94) { throw e; }
    const res = rs.initiate(config);
    if (res.ok !== 1) { throw new Error('rs.initiate failed: ' + JSON.stringify(res)); }
    print('mongo-init: rs.initiate ok');
  }
  for (;;) {
    let primary;
    try {
      primary = rs.status().members.find((m) => m.stateStr === 'PRIMARY');
    } catch (e) {
      primary = undefined;
    }
    if (primary) { print('mongo-init: primary is ' + primary.name); break; }
    if (Date.now() > deadline) { print('mongo-init: no primary elected in time'); quit(1); }
    sleep(1000);
  }
"
