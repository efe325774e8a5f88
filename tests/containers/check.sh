#!/usr/bin/env bash
# tests/containers/check.sh [--short] [--duration S] [--rate R] [SCENARIO...]
#
# Fault scenarios against the container stack (scripts/containers up), run by
# `scripts/containers check`, which exports the engine's variables
# (CONTAINERS_CONF, DOCKER_HOST, COMPOSE_PROJECT_NAME, PSOP_CT_*). Each
# scenario but demo: fresh vouchers, the load client psop-chaos-load sending
# service events open-loop through HAProxy's published port, the fault
# meanwhile, then the checker (tests/chaos/checker.py) against PostgreSQL; the
# same JSON line per scenario and table as scripts/chaos.
#
#   demo          the demo story through HAProxy: scripts/demo-data (idempotent)
#                 and the README's reads of its vouchers, order and providers
#   api-rollout   scripts/containers rollout api: each api container drained in
#                 HAProxy, replaced, put back          rule: 0 failed requests
#   worker-kill   SIGKILL of a random worker container's process every few
#                 seconds; the engine restarts it (restart: unless-stopped)
#                 rules: 0 failed requests, every worker running at the end
#   broker-kill   SIGKILL of one of the 3 broker containers, restarted by the
#                 engine                                rule: 0 failed requests
#   pg-restart    the PostgreSQL container killed, down a while, started again
#                 rules: 0 failed requests, no worker container restarted
#   redis-kill    the Redis container (the read models) killed, down a while,
#                 started again empty; a voucher read through HAProxy every
#                 250 ms meanwhile        rules: 0 failed requests, every read
#                 200, each voucher's read model written again by the workers,
#                 psopctl cache rebuild succeeds
# Every scenario: lost = duplicated = unexpected = rejected = 0 (checker).
# --short: 20 s of load per scenario (CI); default 120 s (PSOP_CHAOS_DURATION).
# Exits 1 if any scenario fails. Results in .run/containers/check/.
set -uo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"

short=0
duration=${PSOP_CHAOS_DURATION:-120}
# 50/s: one 2-core host carries 3 broker JVMs, PostgreSQL and 16 more
# containers, and during an api rollout one replica carries all of it.
rate=${PSOP_CHAOS_RATE:-50}
scenarios=()
while [ $# -gt 0 ]; do
  case "$1" in
    --short) short=1; duration=${PSOP_CHAOS_DURATION:-20} ;;
    --duration) duration=$2; shift ;;
    --rate) rate=$2; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) scenarios+=("$1") ;;
  esac
  shift
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(demo api-rollout worker-kill broker-kill pg-restart redis-kill)

: "${CONTAINERS_CONF:?run through scripts/containers check}"
# shellcheck disable=SC1091
source "$PSOP_RUN/containers.env"
source "$PSOP_ROOT/tests/chaos/lib.sh"
CT=$PSOP_ROOT/scripts/containers
LOAD=$PSOP_BUILD/tests/chaos/psop-chaos-load
[ -x "$LOAD" ] || die "$LOAD not built"
CHECK=$PSOP_ROOT/tests/chaos/checker.py
OUT=$PSOP_RUN/containers/check
LOAD_PORT=${PSOP_CT_HTTP_PORT:?}
mkdir -p "$OUT"
rm -f "$OUT"/*

compose() { "$CT" compose "$@"; }
ct_id() { # the service's container, by compose's labels (cheaper than compose ps)
  podman ps -aq --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
    --filter "label=com.docker.compose.service=$1" 2>/dev/null | head -1
}
ct_pid() { podman inspect -f '{{.State.Pid}}' "$1" 2>/dev/null; }
restarts() { podman inspect -f '{{.RestartCount}}' "$1" 2>/dev/null; }
running() { [ "$(podman inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
healthy() { [ "$(podman inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = healthy ]; }
# wait_healthy SERVICE SECONDS: its container healthy (health checks run on
# demand: there is no systemd timer here); 1 when it is not in time.
wait_healthy() {
  local t id
  id=$(ct_id "$1")
  for ((t = 0; t < $2 * 2; t++)); do
    healthy "$id" && return 0
    podman healthcheck run "$id" >/dev/null 2>&1
    sleep 0.5
  done
  healthy "$id"
}
WORKERS=()
for role in reference provider voucher order settlement relay audit; do WORKERS+=("worker-$role-1" "worker-$role-2"); done

# The state every scenario starts from: every service running, the api ready.
EXPECTED_RUNNING=$(($(compose config --services | wc -l) - 1)) # all but migrate
revive() {
  local n
  n=$(podman ps -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" | wc -l)
  [ "$n" -ge "$EXPECTED_RUNNING" ] || compose up -d --no-build >>"$OUT/revive.log" 2>&1
  local i
  for ((i = 0; i < 240; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$PSOP_API_URL/readyz")" = 200 ] && return 0
    sleep 0.5
  done
  log "revive: no ready api after 120 s"
  return 1
}

# host_kill SERVICE: SIGKILL of the container's main process from the host:
# what a crash (or the kernel's OOM killer) does. Prints the killed pid.
host_kill() {
  local id pid
  id=$(ct_id "$1")
  pid=$(ct_pid "$id")
  [ -n "$pid" ] && [ "$pid" != 0 ] || return 1
  kill -KILL "$pid" && echo "$pid"
}

# wait_running SERVICE SECONDS [PREV_PID]: running again (a new process)
wait_running() {
  local id t pid
  for ((t = 0; t < $2 * 5; t++)); do
    id=$(ct_id "$1")
    pid=$(ct_pid "$id")
    if running "$id" && [ -n "$pid" ] && [ "$pid" != 0 ] && [ "$pid" != "${3:-}" ]; then return 0; fi
    sleep 0.2
  done
  return 1
}

# ------------------------------------------------------------------ scenarios
sc_demo() {
  local t0 out ok=0 bad="" n
  t0=$(now_ms)
  "$PSOP_ROOT/scripts/demo-data" >"$OUT/demo.log" 2>&1 || bad+=" demo-data failed ($(tail -1 "$OUT/demo.log"));"
  local org=0195d000-0000-7000-8000-000000000001 tok
  tok=$(psopctl token --role organiser --org "$org" --ttl 600)
  get() { curl -sS -m 10 -H "Authorization: Bearer $tok" "$PSOP_API_URL$1"; }
  # The README's reads: V1's November events, the order's month, the public list.
  out=$(get "/v1/vouchers/0195d000-0000-7000-8000-000000000201/service-events?month=2026-11")
  n=$(jq '[.. | objects | select(has("quantity") and has("date"))] | length' <<<"$out" 2>/dev/null || echo 0)
  [ "$n" -ge 5 ] && ok=$((ok + 1)) || bad+=" voucher V1 lists $n November events, expected 5: ${out:0:200};"
  out=$(get "/v1/orders/0195d000-0000-7000-8000-000000000601?month=2026-11")
  jq -e '.id == "0195d000-0000-7000-8000-000000000601"' <<<"$out" >/dev/null 2>&1 && ok=$((ok + 1)) \
    || bad+=" order O1: ${out:0:200};"
  out=$(curl -sS -m 10 "$PSOP_API_URL/v1/public/providers?organiser_id=$org&service_type=kotihoito")
  n=$(jq '[.. | objects | select(has("business_id"))] | length' <<<"$out" 2>/dev/null || echo 0)
  [ "$n" -ge 1 ] && ok=$((ok + 1)) || bad+=" public providers: ${out:0:200};"
  local ms=$(($(now_ms) - t0))
  jq -cn --arg b "$bad" --argjson ok "$ok" --argjson ms "$ms" \
    '{scenario: "demo", reads_ok: $ok, reads: 3, failures: $b, elapsed_ms: $ms}' >"$OUT/demo.check.json"
  log "done demo: $(cat "$OUT/demo.check.json")"
  if [ -z "$bad" ]; then
    results+=("demo	-	-	-	-	-	-	-	-	demo-data through HAProxy, $ok/3 reads as the README shows	ok")
  else
    failed=$((failed + 1))
    results+=("demo	-	-	-	-	-	-	-	-	$bad	FAIL")
  fi
}

sc_api_rollout() {
  local v n=0 err=""
  v=$(chaos_vouchers 8) || { failed=$((failed + 1)); results+=("api-rollout	setup failed	FAIL"); return; }
  # The load runs until the last rollout is over (and at least $duration s);
  # short: one rollout, long: again and again for $duration s.
  chaos_start_open_load api-rollout "$v"
  rollout() { "$CT" rollout api >>"$OUT/api-rollout.rollout.log" 2>&1 || err="rollout api failed"; n=$((n + 1)); }
  local end=$(($(date +%s) + (short ? 0 : ${duration%.*})))
  sleep 5
  rollout
  while [ -z "$err" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 5; rollout; done
  sleep 3
  chaos_end_load
  MAX_ERR=0 NOTE="$n rollouts (2 containers each, drained first)" chaos_finish api-rollout "$v" "$err"
}

KILLS=0
kill_random_worker() {
  local pool=(voucher voucher voucher relay reference provider settlement order) role svc pid
  role=${pool[RANDOM % ${#pool[@]}]}
  svc=worker-$role-$((RANDOM % 2 + 1))
  pid=$(host_kill "$svc") || return 0
  KILLS=$((KILLS + 1))
  echo "$(date -u +%T) SIGKILL $svc pid $pid" >>"$OUT/worker-kill.kills.log"
}

sc_worker_kill() {
  local v svc extra="" before=0 after=0 notrunning=""
  v=$(chaos_vouchers 8) || { failed=$((failed + 1)); results+=("worker-kill	setup failed	FAIL"); return; }
  : >"$OUT/worker-kill.kills.log"
  KILLS=0
  for svc in "${WORKERS[@]}"; do before=$((before + $(restarts "$(ct_id "$svc")"))); done
  chaos_start_load worker-kill "$v"
  chaos_during_load 2 "${PSOP_CHAOS_KILL_PERIOD:-3}" kill_random_worker
  wait "$LOAD_PID" 2>/dev/null || true
  # The engine restarts each (restart: unless-stopped); nobody else does.
  for svc in "${WORKERS[@]}"; do
    wait_running "$svc" 30 || notrunning+=" $svc"
    after=$((after + $(restarts "$(ct_id "$svc")")))
  done
  [ -z "$notrunning" ] || extra="not restarted by the engine:$notrunning"
  MAX_ERR=0 NOTE="$KILLS SIGKILLs, $((after - before)) restarts by the engine" chaos_finish worker-kill "$v" "$extra"
}

sc_broker_kill() {
  local v svc pid t_kill t_up extra="" n=$((RANDOM % 3 + 1))
  svc=kafka-$n
  v=$(chaos_vouchers 8) || { failed=$((failed + 1)); results+=("broker-kill	setup failed	FAIL"); return; }
  # The load runs until the broker is back and leads again (and at least $duration s).
  chaos_start_open_load broker-kill "$v"
  sleep $((short ? 5 : 20))
  pid=$(host_kill "$svc") || extra="could not kill $svc"
  t_kill=$(now_ms)
  log "broker-kill: SIGKILL $svc (pid $pid)"
  # The engine restarts it; if it did not within 15 s, that is a failure of
  # the platform, and the scenario starts it itself to go on.
  if ! wait_running "$svc" 15 "$pid"; then
    extra+=" $svc not restarted by the engine;"
    compose start "$svc" >>"$OUT/broker-kill.log" 2>&1
  fi
  local healthy_again=0
  wait_healthy "$svc" 300 && healthy_again=1
  t_up=$(now_ms)
  [ $healthy_again -eq 1 ] || extra+=" $svc not healthy 5 min after the kill;"
  # Its preferred leaderships come back within the imbalance check (30 s):
  # the load goes on through that move too.
  sleep 35
  chaos_end_load
  wait "$LOAD_PID" 2>/dev/null || true
  log "broker-kill: $svc back in $(((t_up - t_kill) / 1000)) s"
  LOAD_PID=$$ MAX_ERR=0 NOTE="$svc SIGKILLed, restarted by the engine, healthy again after $(((t_up - t_kill) / 1000)) s" \
    chaos_finish broker-kill "$v" "$extra"
}

worker_pids() {
  local svc
  for svc in "${WORKERS[@]}"; do printf '%s ' "$(ct_pid "$(ct_id "$svc")")"; done
}

sc_pg_restart() {
  local v down_s=$((short ? 6 : 30)) before after extra=""
  v=$(chaos_vouchers 8) || { failed=$((failed + 1)); results+=("pg-restart	setup failed	FAIL"); return; }
  before=$(worker_pids)
  chaos_start_open_load pg-restart "$v"
  sleep $((short ? 5 : 20))
  # Killed (no shutdown checkpoint: crash recovery on start, like pg_ctl -m
  # immediate), kept down, started again.
  compose kill -s SIGKILL postgres >>"$OUT/pg-restart.log" 2>&1
  compose stop -t 1 postgres >>"$OUT/pg-restart.log" 2>&1
  sleep "$down_s"
  compose start postgres >>"$OUT/pg-restart.log" 2>&1 || extra="postgres did not start;"
  wait_healthy postgres 120
  sleep 5
  chaos_end_load
  wait "$LOAD_PID" 2>/dev/null || true
  after=$(worker_pids)
  [ "$before" = "$after" ] || extra+=" a worker container exited during the PostgreSQL outage ($before -> $after)"
  LOAD_PID=$$ MAX_ERR=0 NOTE="killed, down ${down_s}s, started; workers not restarted" chaos_finish pg-restart "$v" "$extra"
}

# The cache goes away: Redis is killed and kept down (no persistence: it
# comes back empty, as in production). Commands never touch Redis on their
# way in (idempotency falls back to PostgreSQL), reads fall back to
# PostgreSQL; once it is back the workers write each voucher's documents
# again with its next event, and psopctl cache rebuild refills the rest.
sc_redis_kill() {
  local v down_s=$((short ? 6 : 30)) extra="" first
  v=$(chaos_vouchers 8) || { failed=$((failed + 1)); results+=("redis-kill	setup failed	FAIL"); return; }
  first=${v%%,*}
  chaos_start_open_load redis-kill "$v"
  sleep $((short ? 5 : 20))
  compose kill -s SIGKILL redis >>"$OUT/redis-kill.log" 2>&1
  compose stop -t 1 redis >>"$OUT/redis-kill.log" 2>&1
  local reads=0 bad=0 code t_end=$(($(now_ms) + down_s * 1000))
  while [ "$(now_ms)" -lt "$t_end" ]; do
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ORGTOK" "$PSOP_API_URL/v1/vouchers/$first")
    reads=$((reads + 1))
    [ "$code" = 200 ] || bad=$((bad + 1))
    sleep 0.25
  done
  compose start redis >>"$OUT/redis-kill.log" 2>&1 || extra="redis did not start;"
  wait_healthy redis 60
  chaos_end_load
  wait "$LOAD_PID" 2>/dev/null || true
  [ $bad -eq 0 ] || extra+=" $bad of $reads reads failed while Redis was down;"
  local vid current=0 t
  for ((t = 0; t < 120; t++)); do
    current=0
    for vid in ${v//,/ }; do
      [ "$(redis-cli -u "$PSOP_REDIS_URL" HGET "psop:voucher:$vid" v 2>/dev/null)" = \
        "$(psql "$PSOP_PG_DSN" -XAtc "SELECT version FROM psop.vouchers WHERE id = '$vid'")" ] && current=$((current + 1))
    done
    [ $current -eq 8 ] && break
    sleep 1
  done
  [ $current -eq 8 ] || extra+=" only $current of 8 read models written again by the workers;"
  psopctl cache rebuild >"$OUT/redis-kill.rebuild.log" 2>&1 || extra+=" psopctl cache rebuild failed;"
  LOAD_PID=$$ MAX_ERR=0 NOTE="down ${down_s}s: $reads reads, $bad not 200; $current/8 read models written again; rebuild" \
    chaos_finish redis-kill "$v" "$extra"
}

# ------------------------------------------------------------------ main
trap 'revive >/dev/null 2>&1' EXIT
revive || die "the container stack is not ready (scripts/containers up)"
chaos_world || die "setup of the scenario world failed"
for s in "${scenarios[@]}"; do
  log "scenario $s${duration:+: ${duration}s of load}"
  case "$s" in
    demo) sc_demo ;;
    api-rollout) sc_api_rollout ;;
    worker-kill) sc_worker_kill ;;
    broker-kill) sc_broker_kill ;;
    pg-restart) sc_pg_restart ;;
    redis-kill) sc_redis_kill ;;
    *) die "unknown scenario $s" ;;
  esac
  revive || { failed=$((failed + 1)); results+=("revive	-	-	-	-	-	-	-	-	no ready api after $s	FAIL"); }
done
chaos_selftest
chaos_table
echo "containers check: $((${#results[@]} - failed)) passed, $failed failed (details in $OUT)"
[ $failed -eq 0 ]
