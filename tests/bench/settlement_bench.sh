#!/usr/bin/env bash
# tests/bench/settlement_bench.sh [RUNFILE] - the settlement benchmark of
# issue 5 (docs/benchmarks.md), against the running dev stack:
#   1. without RUNFILE, seeds one with psop-bench-seed-settlement
#      ($SEED_ARGS, default 25 organisers, 5 000 providers, 50 000 vouchers,
#      1 000 000 approved events of last month) straight into PostgreSQL;
#   2. sends settlement.run for every organiser of the run file in ONE
#      POST /v1/commands (admin token), the path psop-batch and the api use;
#   3. polls the command statuses in the Redis read model (what GET
#      /v1/commands/{id} answers) every 100 ms until all are applied or
#      rejected; prints the wall time from the POST to the last verdict, the
#      settlements and lines written, and the settlement workers' peak RSS
#      (VmHWM) and CPU time.
# One line of JSON on stdout. Needs `source .run/stack.env` values (it sources
# the file itself) and the build in ./build (PSOP_BUILD overrides).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
# shellcheck disable=SC1091
source .run/stack.env
build=${PSOP_BUILD:-$root/build}
timeout_s=${BENCH_TIMEOUT_S:-600}
run=${1:-}
if [ -z "$run" ]; then
  run=$(mktemp /tmp/psop-settlement-run.XXXXXX)
  # shellcheck disable=SC2086
  "$build/tests/bench/psop-bench-seed-settlement" ${SEED_ARGS:---organisers 25 --providers 5000 --vouchers 50000 --events 1000000} --out "$run" >/dev/null
fi
period=$(awk '$1 == "period" {print $2}' "$run")
mapfile -t orgs < <(awk '$1 == "organiser" {print $2}' "$run")
[ -n "$period" ] && [ ${#orgs[@]} -gt 0 ] || { echo "$run: not a seed_settlement run file" >&2; exit 2; }
redis() { redis-cli -u "$PSOP_REDIS_URL" "$@"; }
pg() { psql "$PSOP_PG_DSN" -XtAq "$@"; }

token=$("$build/tools/psopctl" token --role admin --sub bench-settlement --ttl 3600)
body=$(printf '%s\n' "${orgs[@]}" | jq -Rn --arg p "$period" \
  '{commands: [inputs | {type: "settlement.run", data: {organiser_id: ., period: $p}}]}')

# The settlement workers: peak RSS and CPU before (VmHWM only grows).
wpids=()
for f in .run/pids/worker-settlement-*.pid; do wpids+=("$(cat "$f")"); done
proc_figures() { # "hwm_kb rss_kb cpu_ticks" summed over the settlement workers
  local h=0 r=0 c=0 p v
  for p in "${wpids[@]}"; do
    v=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status"); h=$((h > v ? h : v))
    v=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status"); r=$((r > v ? r : v))
    v=$(awk '{print $14 + $15}' "/proc/$p/stat"); c=$((c + v))
  done
  echo "$h $r $c"
}
read -r hwm0 rss0 cpu0 < <(proc_figures)
load0=$(cut -d' ' -f1-3 /proc/loadavg)

t0=$(date +%s.%N)
answer=$(curl -sS --max-time 30 -X POST "$PSOP_API_URL/v1/commands" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body")
t_acc=$(date +%s.%N)
mapfile -t ids < <(echo "$answer" | jq -r '(.commands // [.])[] | .command_id // empty')
[ ${#ids[@]} -eq ${#orgs[@]} ] || { echo "api answered: $answer" >&2; exit 1; }
keys=()
for id in "${ids[@]}"; do keys+=("psop:cmd:$id"); done
applied=0 rejected=0
while :; do
  statuses=$(for k in "${keys[@]}"; do echo "HGET $k d"; done | redis | jq -R -r 'fromjson? | .status')
  applied=$(grep -c '^applied$' <<<"$statuses" || true)
  rejected=$(grep -c '^rejected$' <<<"$statuses" || true)
  t1=$(date +%s.%N)
  [ $((applied + rejected)) -ge ${#ids[@]} ] && break
  if (($(echo "$t1 - $t0 > $timeout_s" | bc))); then break; fi
  sleep 0.1
done
read -r hwm1 rss1 cpu1 < <(proc_figures)
load1=$(cut -d' ' -f1-3 /proc/loadavg)
idlist=$(printf "'%s'," "${ids[@]}")
read -r nset nlines nev < <(pg -F' ' -c "SELECT count(*), coalesce(sum(line_count), 0), \
  (SELECT coalesce(sum(event_count), 0) FROM psop.settlement_runs WHERE id IN (${idlist%,})) \
  FROM psop.settlements WHERE run_id IN (${idlist%,})")
hz=$(getconf CLK_TCK)
jq -nc --arg run "$run" --arg period "$period" --argjson orgs ${#orgs[@]} \
  --argjson applied "$applied" --argjson rejected "$rejected" \
  --argjson accepted_s "$(echo "$t_acc - $t0" | bc)" --argjson wall_s "$(echo "$t1 - $t0" | bc)" \
  --argjson settlements "$nset" --argjson lines "$nlines" --argjson events "$nev" \
  --argjson hwm0 "$hwm0" --argjson hwm1 "$hwm1" --argjson rss1 "$rss1" \
  --argjson cpu_s "$(echo "scale=2; ($cpu1 - $cpu0) / $hz" | bc)" \
  --arg load_before "$load0" --arg load_after "$load1" \
  '{run: $run, period: $period, organisers: $orgs, applied: $applied, rejected: $rejected,
    accepted_s: $accepted_s, wall_s: $wall_s, settlements: $settlements, lines: $lines,
    events_settled: $events, worker_peak_rss_mb: ($hwm1 / 1024 | floor),
    worker_peak_rss_before_mb: ($hwm0 / 1024 | floor), worker_rss_after_mb: ($rss1 / 1024 | floor),
    worker_cpu_s: $cpu_s, loadavg_before: $load_before, loadavg_after: $load_after}'
