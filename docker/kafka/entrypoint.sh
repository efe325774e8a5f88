#!/bin/sh
# kafka-entrypoint - starts one KRaft node of psop/kafka (docker/kafka/Dockerfile).
#
# Every KAFKA_<NAME> variable becomes a server.properties line: KAFKA_ dropped,
# lower case, "_" -> ".", "__" -> "_", "___" -> "-" (KAFKA_NODE_ID=1 ->
# node.id=1), except KAFKA_HEAP_OPTS and KAFKA_JVM_OPTS (java options).
# CLUSTER_ID formats an empty KAFKA_LOG_DIRS on the first start (the same id
# on every node of a cluster). Then exec java: SIGTERM is a controlled shutdown.
#   kafka-entrypoint --check   health: the broker lists itself in its metadata
set -eu
props=/etc/kafka/server.properties

if [ "${1:-}" = "--check" ]; then
  port=$(sed -n 's/^listeners=.*INTERNAL:\/\/[^:]*:\([0-9]*\).*/\1/p' "$props")
  id=$(sed -n 's/^node\.id=//p' "$props")
  kcat -b "127.0.0.1:${port:-9092}" -L -m 3 2>/dev/null | grep -q "broker $id at"
  exit $?
fi

: "${CLUSTER_ID:?set CLUSTER_ID (the same on every node)}"
: "${KAFKA_NODE_ID:?set KAFKA_NODE_ID}"
env | sed -n 's/^KAFKA_\([A-Z0-9_]*\)=\(.*\)$/\1=\2/p' | grep -v -e '^HEAP_OPTS=' -e '^JVM_OPTS=' |
  while IFS='=' read -r key value; do
    key=$(printf '%s' "$key" | sed -e 's/___/-/g' -e 's/__/\x01/g' -e 's/_/./g' -e 's/\x01/_/g' | tr 'A-Z' 'a-z')
    printf '%s=%s\n' "$key" "$value"
  done | sort >"$props"

cp="/opt/kafka/libs/*"
log="-Dlog4j2.configurationFile=/etc/kafka/log4j2.yaml"
dir=${KAFKA_LOG_DIRS%%,*}
if [ ! -f "$dir/meta.properties" ]; then
  echo "kafka-entrypoint: formatting $dir for cluster $CLUSTER_ID, node $KAFKA_NODE_ID" >&2
  java -cp "$cp" "$log" kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$props" >/dev/null
fi
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:-} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
  -Djava.awt.headless=true ${KAFKA_JVM_OPTS:-} "$log" -cp "$cp" kafka.Kafka "$props"
