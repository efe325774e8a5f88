#!/usr/bin/env bash
# tests/bench/audit_read.sh OUTDIR - what an access record costs a read
# (docs/benchmarks.md, "Issue 18: access records"), against the stack that is
# up with the demo data (source .run/stack.env; scripts/demo-data).
#
# Two reads of the same kind (a document from Redis, answered by the same
# replicas through HAProxy), alternated step by step at the same rates:
#   recorded  GET /v1/vouchers/{V1}   client data: answered after its access
#                                     record is acknowledged on psop.audit
#   peer      GET /v1/providers/{P1}  not client data: no record
# psop-loadgen --get, open loop, 32 connections, 10 s a step at RATES
# (default "100 300 600 1200"). Progress on the terminal, figures in OUTDIR.
set -euo pipefail
# shellcheck source=tests/bench/stack_env.sh
source "$(dirname "$0")/stack_env.sh"
export PATH="$root/build/tools:$PATH"
ORG1=0195d000-0000-7000-8000-000000000001
PROV1=0195d000-0000-7000-8000-000000000101
V1=0195d000-0000-7000-8000-000000000201
tok=$(psopctl token --ttl 3600 --role organiser --sub bench-reader --org $ORG1)
port=${PSOP_API_URL##*:}
for path in "/v1/vouchers/$V1" "/v1/providers/$PROV1"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$PSOP_API_URL$path")
  [ "$code" = 200 ] || { echo "audit_read: GET $path -> $code (demo data loaded?)" >&2; exit 1; }
done
before=$(psql -At "${PSOP_PG_DSN}" -c "SELECT count(*) FROM psop.access_log WHERE actor_sub = 'bench-reader'" 2>/dev/null || echo "?")
for rate in ${RATES:-100 300 600 1200}; do
  for kind in recorded peer; do
    path=/v1/providers/$PROV1
    [ $kind = recorded ] && path=/v1/vouchers/$V1
    echo "== $(date -u +%H:%M:%S) $kind GET $path at $rate/s for 10 s" >&2
    "$bin/psop-loadgen" --port "$port" --rate "$rate" --duration 10 --connections 32 \
      --token "$tok" --path "$path" --get | tee "$out/$kind-$rate.txt"
  done
done
sleep 5
after=$(psql -At "${PSOP_PG_DSN}" -c "SELECT count(*) FROM psop.access_log WHERE actor_sub = 'bench-reader'" 2>/dev/null || echo "?")
echo "access records written for the recorded reads: $before -> $after" | tee "$out/records.txt"
