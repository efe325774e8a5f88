#!/usr/bin/env bash
# tests/bench/brokers_run.sh OUTDIR - one run of the figures that set the
# 3-broker process stack beside the 1-broker one (docs/benchmarks.md, "Issue
# 15: three brokers"), against the stack that is up (source .run/stack.env):
#   1. applied commands end to end: e2e_runs.sh at 100 and 200 applied/s and
#      a 202 burst of 2 000/s for 3 s with its drain (sustained applied/s);
#   2. accepted commands through HAProxy (psop-loadgen, settlement.run of an
#      unknown organiser, 64 connections, 10 s a step at 2 000, 4 000 and
#      6 000/s) with the settlement workers stopped by their PIDs, so only
#      the front and Kafka are measured.
# Step 2 leaves a backlog of rejected-to-be commands on
# psop.commands.settlement: throw the stack away afterwards
# (scripts/dev down --wipe). Progress on the terminal, figures in OUTDIR.
# STEPS="e2e front" (default) chooses the parts.
set -euo pipefail
# shellcheck source=tests/bench/stack_env.sh
source "$(dirname "$0")/stack_env.sh"
steps=" ${STEPS:-e2e front} "
if [[ $steps == *" e2e "* ]]; then
  echo "== $(date -u +%H:%M:%S) applied commands end to end (brokers: $PSOP_KAFKA_BROKERS)" >&2
  APPLIED_RATES="100 200" ACK_STEPS="2000:3" "$here/e2e_runs.sh" - "$out"
fi
[[ $steps == *" front "* ]] || exit 0

echo "== $(date -u +%H:%M:%S) accepted commands through HAProxy (settlement workers stopped)" >&2
for f in "$root"/.run/pids/worker-settlement-*.pid; do
  kill "$(cat "$f")" 2>/dev/null || true
done
sleep 2
tok=$(psopctl token --role organiser --org 0190a0b0-0000-7000-8000-00000000000a)
port=${PSOP_API_URL##*:}
"$bin/psop-loadgen" --port "$port" --rate 500 --duration 3 --connections 64 --token "$tok" >/dev/null
for r in 2000 4000 6000; do
  echo "-- planned $r/s" | tee -a "$out/accepted.txt" >&2
  "$bin/psop-loadgen" --port "$port" --rate "$r" --duration 10 --connections 64 --token "$tok" |
    tee -a "$out/accepted.txt" >&2
  sleep 3
done
echo "== $(date -u +%H:%M:%S) done: $out/runs.jsonl, $out/accepted.txt" >&2
