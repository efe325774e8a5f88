#!/usr/bin/env bash
# tests/bench/history_run.sh OUTDIR - issue 19's series (docs/benchmarks.md,
# "Issue 19"), against the stack that is up (source .run/stack.env), for
# vouchers holding EVENTS_LIST ("3 200") events each:
#   1. seed VOUCHERS (2 000) vouchers with E recorded events each, then
#      VACUUM ANALYZE and CHECKPOINT (SETTLE=0: not);
#   2. the synchronous peer on them (sync_peer.sh: pgbench, 8 clients, 20 s);
#   3. the pipeline's sustained applied/s: a 202 burst of 2 000/s for 3 s
#      (6 000 commands, 80 % service_event.record) drained from
#      processed_commands (e2e_runs.sh), with the CPU per process;
#   4. planned send -> visible (200 applied) at half that rate for 20 s.
# One JSON line per series in OUTDIR/history.jsonl (with the machine's steal
# in each phase), progress on the terminal.
set -euo pipefail
# shellcheck source=tests/bench/stack_env.sh
source "$(dirname "$0")/stack_env.sh"
vouchers=${VOUCHERS:-2000}
for e in ${EVENTS_LIST:-3 200}; do
  d=$out/events-$e
  mkdir -p "$d"
  echo "== $(date -u +%H:%M:%S) $vouchers vouchers with $e events each" >&2
  "$bin/psop-bench-seed" --vouchers "$vouchers" --providers 20 --events "$e" --out "$d/run.txt" >"$d/seed.txt"
  # The history as a running system holds it: vacuumed, analysed and
  # checkpointed, not a bulk load whose autovacuum, hint bits and checkpoint
  # fall into the measurement (SETTLE=0 measures right after the load).
  if [ "${SETTLE:-1}" = 1 ]; then
    t=$(date +%s)
    psql "$PSOP_PG_DSN" -q -c "VACUUM (ANALYZE)"
    psql "$PSOP_PG_DSN" -q -c "CHECKPOINT" 2>/dev/null || echo "   (CHECKPOINT refused: not a superuser)" >&2
    echo "   settled (VACUUM ANALYZE, CHECKPOINT) in $(($(date +%s) - t)) s" >&2
  fi
  peer=$("$here/sync_peer.sh" "$d/run.txt" "$d" 8 20)
  echo "   peer: $peer" >&2
  sleep 3
  APPLIED_RATES="" ACK_STEPS="2000:3" "$here/e2e_runs.sh" "$d/run.txt" "$d"
  sustained=$(tail -1 "$d/runs.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pg"]["applied_per_s"])')
  half=$(python3 -c "print(max(10, int($sustained / 2)))")
  echo "   sustained $sustained applied/s; applied at $half/s" >&2
  APPLIED_RATES="$half" ACK_STEPS="" "$here/e2e_runs.sh" "$d/run.txt" "$d"
  python3 - "$d" "$e" "$peer" <<'PY' | tee -a "$out/history.jsonl"
import json, re, sys
d, e, peer = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
def steal(step):  # the machine's steal during a step (cpu_sample.sh), or None
    try:
        m = re.search(r"steal (\d+)%", open(d + "/cpu-" + step + ".txt").read())
    except OSError:
        return None
    return int(m.group(1)) if m else None
runs = [json.loads(l) for l in open(d + "/runs.jsonl")]
ack = [r for r in runs if r["mode"] != "applied"][-1]
app = [r for r in runs if r["mode"] == "applied"][-1]
print(json.dumps({"events_per_voucher": e, "peer_tps": peer["tps"], "peer_p99_ms": peer["p99_ms"],
                  "sustained_applied_per_s": ack["pg"]["applied_per_s"],
                  "ratio_to_peer": round(ack["pg"]["applied_per_s"] / peer["tps"], 2),
                  "half_rate": app["planned_rate"], "visible_p50_ms": app["latency_ms"]["p50"],
                  "visible_p99_ms": app["latency_ms"]["p99"], "status": app["status"],
                  "steal_pct": {"peer": peer.get("machine_steal_pct"), "burst": steal("ack-2000"),
                                "half_rate": steal("applied-%d" % app["planned_rate"])}}))
PY
done
echo "== $(date -u +%H:%M:%S) done: $out/history.jsonl (CPU per step in $out/events-*/cpu-*.txt)" >&2
