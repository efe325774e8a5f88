#!/usr/bin/env bash
# tests/bench/placement_ab.sh OUTDIR - the experiment of docs/benchmarks.md,
# "Issue 19: partitions aligned across topics (tried, not kept)": the same
# load on the same 3-broker stack with the psop topics' partitions aligned
# (partition p of every topic on the same brokers, the first its leader) and
# skewed (the access log and voucher events one broker further, as the
# controller's own placement mostly leaves them), alternating ROUNDS times
# (default 3). Each layout is made with Kafka's own tools
# (ReassignPartitionsCommand, then a preferred leader election) and left
# 20 s to settle; then
#   1. 202 load: psop-bench-e2e at RATE/s (default 300) for 10 s with its
#      drain; the CPU of every process group meanwhile, per command sent
#      (idle cost included);
#   2. request count: broker 1's kafka.request.logger at DEBUG during 10 s
#      of the same load: PRODUCE and FETCH requests per command it leads.
# Ends with the aligned layout. Progress on the terminal, one JSON line per
# run in OUTDIR/placement.jsonl. The logger's own JVMs add a few idle
# seconds to the counted window: compare layouts, not absolute counts.
set -euo pipefail
# shellcheck source=tests/bench/stack_env.sh
source "$(dirname "$0")/stack_env.sh"
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
rate=${RATE:-300}
cp="$KAFKA_LIBS/*"
kafka_tool() { java -cp "$cp" -Dlog4j2.configurationFile="$root/scripts/kafka/log4j2.yaml" "$@"; }
boot=${PSOP_KAFKA_BROKERS%%,*}

layout() { # layout aligned|skewed: reassign every psop topic, then elect preferred leaders
  python3 - "$1" "$(kcat -b "$PSOP_KAFKA_BROKERS" -L -J)" >"$out/assign.json" <<'PY'
import json, sys
mode, md = sys.argv[1], json.loads(sys.argv[2])
ids = sorted(b["id"] for b in md["brokers"])
shift = {"psop.audit", "psop.events.voucher"} if mode == "skewed" else set()
parts = []
for t in md["topics"]:
    if not t["topic"].startswith("psop."):
        continue
    for p in t["partitions"]:
        s = p["partition"] + (1 if t["topic"] in shift else 0)
        parts.append({"topic": t["topic"], "partition": p["partition"],
                      "replicas": [ids[(s + i) % len(ids)] for i in range(len(p["replicas"]))]})
print(json.dumps({"version": 1, "partitions": parts}))
PY
  kafka_tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server "$boot" \
    --reassignment-json-file "$out/assign.json" --execute >/dev/null
  sleep 3
  kafka_tool org.apache.kafka.tools.LeaderElectionCommand --bootstrap-server "$boot" \
    --election-type preferred --all-topic-partitions >/dev/null 2>&1 || true # "already elected"
}

cpu_ticks() { # "group ticks" lines: kafka, postgres, api, workers, haproxy, redis
  local f n pid g
  declare -A sum=()
  for f in .run/pids/*.pid; do
    n=$(basename "$f" .pid) pid=$(cat "$f")
    case $n in kafka-*) g=kafka ;; worker-*) g=workers ;; api-*) g=api ;; *) g=$n ;; esac
    local pids="$pid $(pgrep -P "$pid" | tr '\n' ' ')" # postgres backends, haproxy's worker
    for p in $pids; do
      local s rest
      s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
      rest=${s##*) }
      # shellcheck disable=SC2086
      set -- $rest
      sum[$g]=$((${sum[$g]:-0} + ${12} + ${13}))
    done
  done
  for g in "${!sum[@]}"; do echo "$g ${sum[$g]}"; done | sort
}

logger() { # logger LEVEL: broker 1's request logger
  kafka_tool kafka.admin.ConfigCommand --bootstrap-server "$boot" --entity-type broker-loggers \
    --entity-name 1 --alter --add-config "kafka.request.logger=$1" >/dev/null
}

count_requests() { # count_requests LOGSLICE COMMANDS: JSON of broker 1's requests per command
  python3 - "$1" "$2" <<'PY'
import json, re, sys, collections
c = collections.Counter()
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"Completed request:(\{.*\}) \(kafka.request.logger\)", line)
    if not m:
        continue
    try:
        d = json.loads(m.group(1))
    except ValueError:
        continue
    k, cid = d["requestHeader"]["requestApiKeyName"], d["requestHeader"]["clientId"]
    who = "replica" if "fetcher" in cid else "raft" if cid.startswith("raft") else "client"
    c[f"{k.lower()}_{who}"] += 1
n = int(sys.argv[2]) / 3  # broker 1 leads a third of the partitions
print(json.dumps({k: round(v / n, 2) for k, v in sorted(c.items()) if k.startswith(("produce", "fetch"))}))
PY
}

run=$out/run.txt
[ -s "$run" ] || "$bin/psop-bench-seed" --vouchers 10000 --providers 20 --events 3 --out "$run" >/dev/null
hz=$(getconf CLK_TCK)
for ((round = 1; round <= ${ROUNDS:-3}; round++)); do
  for lay in aligned skewed; do
    echo "== $(date -u +%H:%M:%S) round $round: $lay" >&2
    layout "$lay"
    sleep 20
    a=$(cpu_ticks)
    "$bin/psop-bench-e2e" --run "$run" --rate "$rate" --duration 10 --wait 0 --drain-timeout 90 >"$out/load.json"
    b=$(cpu_ticks)
    cpu=$(join <(echo "$a") <(echo "$b") | awk -v hz="$hz" -v n=$((rate * 10)) \
      '{printf "%s\"%s_ms_per_cmd\":%.2f", (NR>1?",":""), $1, ($3-$2)*1000/hz/n}')
    log=.run/logs/kafka-main-1.log
    from=$(wc -l <"$log")
    logger DEBUG
    "$bin/psop-bench-e2e" --run "$run" --rate "$rate" --duration 10 --wait 0 --drain-timeout 90 >/dev/null
    logger WARN
    tail -n +"$((from + 1))" "$log" >"$out/requests.log"
    req=$(count_requests "$out/requests.log" $((rate * 10)))
    python3 - "$lay" "$round" "$out/load.json" "{$cpu}" "$req" <<'PY' | tee -a "$out/placement.jsonl" >&2
import json, sys
lay, rnd, load, cpu, req = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3])), json.loads(sys.argv[4]), json.loads(sys.argv[5])
print(json.dumps({"layout": lay, "round": rnd, "accepted_per_s": load["accepted_per_s"],
                  "p50_202_ms": load["latency_ms"]["p50"], "p99_202_ms": load["latency_ms"]["p99"],
                  "applied_per_s": load["pg"]["applied_per_s"], "cpu": cpu, "broker1_requests_per_cmd": req}))
PY
  done
done
layout aligned
echo "== $(date -u +%H:%M:%S) done: $out/placement.jsonl" >&2
