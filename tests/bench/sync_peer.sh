#!/usr/bin/env bash
# tests/bench/sync_peer.sh RUNFILE OUTDIR [CLIENTS] [SECONDS] - the synchronous
# peer (tests/bench/sync_peer.sql) on the stack's PostgreSQL: pgbench with
# CLIENTS (8) connections for SECONDS (20), each service_event.record its own
# transaction on a random voucher of a psop-bench-seed run (RUNFILE). Prints
# one JSON line {clients, seconds, tps, p50_ms, p99_ms, transactions, failed}
# and keeps pgbench's output and per-transaction log in OUTDIR/peer-*.
# Each transaction adds one event (recorded_by 'sync-peer') to a voucher of
# the run, as the pipeline's commands do.
set -euo pipefail
run=${1:?usage: tests/bench/sync_peer.sh RUNFILE OUTDIR [CLIENTS] [SECONDS]}
shift
# shellcheck source=tests/bench/stack_env.sh
source "$(dirname "$0")/stack_env.sh"
clients=${2:-8}
secs=${3:-20}
[ -s "$run" ] || { echo "sync_peer: no run file $run" >&2; exit 2; }

organiser=$(awk '$1 == "organiser" {print $2}' "$run")
stype=$(awk '$1 == "service_type" {print $2}' "$run")
day=$(awk '$1 == "dates" {print $NF}' "$run")
# The run's vouchers with their providers, numbered 1..nv for pgbench.
awk -v o="$organiser" -v s="$stype" -v d="$day" '
  $1 == "provider" { p[++np] = $2 }
  $1 == "voucher" { printf "%d\t%s\t%s\t%s\t%s\t%s\n", ++nv, $2, p[$3 + 1], o, s, d }' "$run" >"$out/peer-vouchers.tsv"
nv=$(wc -l <"$out/peer-vouchers.tsv")
[ "$nv" -gt 0 ] || { echo "sync_peer: no voucher in $run" >&2; exit 2; }
bench_table peer_vouchers "n int PRIMARY KEY, voucher_id uuid, provider_id uuid,
  organiser_id uuid, service_type text, day date" "$out/peer-vouchers.tsv"

rm -f "$out"/peer-log*
echo "== $(date -u +%H:%M:%S) sync peer: pgbench, $clients clients, ${secs} s, $nv vouchers" >&2
# The CPU per process and the machine's steal during the peer, as for the
# pipeline's steps: a peer that ran while the hypervisor took a third of the
# machine is not the same reference (docs/benchmarks.md).
"$here/cpu_sample.sh" "$secs" >"$out/peer-cpu.txt" 2>&1 &
sampler=$!
pgbench -n -M prepared -c "$clients" -j 2 -T "$secs" -P 5 -D nv="$nv" -f "$here/sync_peer.sql" \
  -l --log-prefix="$out/peer-log" "$PSOP_PG_DSN" >"$out/peer-pgbench.txt" 2>"$out/peer-progress.txt" || {
  tail -20 "$out/peer-progress.txt" >&2
  exit 1
}
wait "$sampler"
# Per-transaction log: client_id transaction_no time_us script_no epoch epoch_us
cat "$out"/peer-log* | awk '{print $3}' | sort -n >"$out/peer-latency-us.txt"
python3 - "$out" "$clients" "$secs" <<'PY'
import json, re, sys
out, clients, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lat = [int(x) for x in open(out + "/peer-latency-us.txt") if x.strip()]
txt = open(out + "/peer-pgbench.txt").read()
tps = float(re.search(r"tps = ([0-9.]+)", txt).group(1))
failed = re.search(r"number of failed transactions: (\d+)", txt)
def pct(p):
    return round(lat[min(len(lat) - 1, int(len(lat) * p))] / 1000.0, 1) if lat else None
steal = re.search(r"steal (\d+)%", open(out + "/peer-cpu.txt").read())
print(json.dumps({"what": "sync peer (pgbench, one transaction per service_event.record)",
                  "clients": clients, "seconds": secs, "tps": round(tps, 1),
                  "machine_steal_pct": int(steal.group(1)) if steal else None,
                  "p50_ms": pct(0.50), "p99_ms": pct(0.99), "transactions": len(lat),
                  "failed": int(failed.group(1)) if failed else 0}))
PY
