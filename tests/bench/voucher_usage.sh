#!/usr/bin/env bash
# tests/bench/voucher_usage.sh OUTDIR RUNFILE [SECONDS] - what the voucher
# document's usage costs PostgreSQL per build, on the vouchers of a
# psop-bench-seed run (RUNFILE): the aggregate over every event it was before
# schemas/sql/0013 (usage_aggregate.sql, the peer) against the table kept by
# delta (usage_kept.sql), pgbench, 1 client, SECONDS (10) each, alternately
# twice. One JSON line per step {script, round, builds_per_s, mean_ms}.
set -euo pipefail
# shellcheck source=tests/bench/stack_env.sh
source "$(dirname "$0")/stack_env.sh"
run=${2:?usage: tests/bench/voucher_usage.sh OUTDIR RUNFILE [SECONDS]}
secs=${3:-10}
awk '$1 == "voucher" { printf "%d\t%s\n", ++nv, $2 }' "$run" >"$out/usage-vouchers.tsv"
nv=$(wc -l <"$out/usage-vouchers.tsv")
[ "$nv" -gt 0 ] || { echo "voucher_usage: no voucher in $run" >&2; exit 2; }
bench_table usage_vouchers "n int PRIMARY KEY, voucher_id uuid" "$out/usage-vouchers.tsv"
for round in 1 2; do
  for script in usage_aggregate usage_kept; do
    echo "== $(date -u +%H:%M:%S) $script, round $round: pgbench, 1 client, $secs s, $nv vouchers" >&2
    pgbench -n -M prepared -c 1 -T "$secs" -D nv="$nv" -f "$here/$script.sql" "$PSOP_PG_DSN" \
      >"$out/$script-$round.txt" 2>&1
    python3 - "$out/$script-$round.txt" "$script" "$round" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
tps = float(re.search(r"tps = ([0-9.]+)", text).group(1))
lat = float(re.search(r"latency average = ([0-9.]+) ms", text).group(1))
print(json.dumps({"script": sys.argv[2], "round": int(sys.argv[3]), "builds_per_s": round(tps),
                  "mean_ms": lat}))
PY
  done
done | tee -a "$out/usage.jsonl"
