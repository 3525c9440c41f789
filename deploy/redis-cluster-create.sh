#!/bin/sh
# docker-compose.scale.yml's one-shot job: join its six Redis nodes into one cluster,
# 3 masters with a replica each. On a later `up` the cluster exists and it only waits
# for it to be ok.
set -eu
NODES="redis-1 redis-2 redis-3 redis-4 redis-5 redis-6"

known=$(redis-cli -h redis-1 cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p')
if [ "$known" = "1" ]; then
  addresses=""
  for name in $NODES; do
    # CLUSTER MEET takes an IP address, not a name (redis/redis#7238): resolve here.
    address=$(getent hosts "$name" | cut -d ' ' -f 1)
    [ -n "$address" ] || { echo "cannot resolve $name" >&2; exit 1; }
    addresses="$addresses $address:6379"
  done
  # shellcheck disable=SC2086 # one argument per node
  redis-cli --cluster create $addresses --cluster-replicas 1 --cluster-yes
fi
tries=0
until redis-cli -h redis-1 cluster info | grep -q '^cluster_state:ok'; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { echo "the cluster is not ok after 60 s" >&2; exit 1; }
  sleep 1
done
echo "redis cluster ok"
