#!/usr/bin/env bash
# tests/bench/e2e_runs.sh [RUNFILE|-] [OUTDIR] - the series behind the "applied
# commands end to end" table of docs/benchmarks.md: the applied variant
# (Prefer: wait=10) at increasing rates, then the 202 variant with a drain to
# measure sustained applied/s. Each step: one JSON line in OUTDIR/runs.jsonl
# and the CPU per process during it in OUTDIR/cpu-<step>.txt. Every load is
# bounded (<= 20 s of sending, <= 6 000 commands per 202 step) and the next
# step starts only once the previous one is drained.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
run=${1:--}
out=${2:-/tmp/psop-bench}
bin=${PSOP_BENCH_BIN:-$root/build/tests/bench/psop-bench-e2e}
mkdir -p "$out"
cd "$root" # config/psop.conf
# shellcheck disable=SC1091
source .run/stack.env
if [ "$run" = - ]; then # seed 10 000 vouchers (20 providers, 3 recorded events each)
  run=$out/run.txt
  "$(dirname "$bin")/psop-bench-seed" --vouchers 10000 --providers 20 --events 3 --out "$run" >/dev/null
fi
step() { # step NAME SAMPLE_SECONDS ARGS...
  local name=$1 secs=$2
  shift 2
  "$here/cpu_sample.sh" "$secs" >"$out/cpu-$name.txt" 2>&1 &
  local sampler=$!
  "$bin" --run "$run" "$@" | tee -a "$out/runs.jsonl" >/dev/null
  wait "$sampler"
  echo "$name done: $(tail -1 "$out/runs.jsonl" | head -c 300)" >&2
  sleep 3
}
# warm-up (tokens, connections, plans)
"$bin" --run "$run" --rate 50 --duration 3 --wait 10 >/dev/null
for r in ${APPLIED_RATES-25 50 100 150 200}; do
  step "applied-$r" 15 --rate "$r" --duration 20 --wait 10
done
for spec in ${ACK_STEPS-500:10 1000:5 2000:3 10000:0.6}; do
  r=${spec%%:*} d=${spec##*:}
  step "ack-$r" 20 --rate "$r" --duration "$d" --wait 0 --drain-timeout 90
done
