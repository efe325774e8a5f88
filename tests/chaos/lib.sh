# shellcheck shell=bash
# tests/chaos/lib.sh - the pieces of a fault scenario under load, for a stack
# of processes or of containers (tests/containers/check.sh): a world of
# reference data made through the api, fresh vouchers per scenario, the open-
# loop load client (psop-chaos-load) in the background, and the checker
# (checker.py) with its JSON line and one table row per scenario.
# Sourced, never run. The caller sets, before use:
#   LOAD (the load client), CHECK (checker.py), OUT (a results folder),
#   LOAD_PORT (HAProxy's port on 127.0.0.1), duration, rate;
#   PSOP_API_URL, PSOP_PG_DSN and psopctl on PATH (a stack's env file).
# Results: results[] (table rows), failed (count).

now_ms() { date +%s%3N; }
uuid() { cat /proc/sys/kernel/random/uuid; }
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

ytunnus() { # a random valid Finnish business id (weights 7 9 10 5 8 4 2, mod 11)
  local d w=(7 9 10 5 8 4 2) i s r
  while :; do
    d=$(printf '%07d' $((RANDOM * 32768 % 10000000 + RANDOM % 1000)))
    d=${d:0:7}
    s=0
    for ((i = 0; i < 7; i++)); do s=$((s + ${d:i:1} * w[i])); done
    r=$((s % 11))
    [ $r -eq 1 ] && continue
    [ $r -eq 0 ] && d="$d-0" || d="$d-$((11 - r))"
    ytunnus_taken "$d" && continue
    echo "$d"
    return
  done
}

ytunnus_taken() { # true when an organiser or provider of the stack's database has it
  # (the suites before the chaos run leave hundreds; unknown counts as free)
  [ -n "${PSOP_PG_DSN:-}" ] && command -v psql >/dev/null || return 1
  [ "$(psql "$PSOP_PG_DSN" -XAtc "SELECT EXISTS (SELECT 1 FROM psop.organisers WHERE business_id = '$1') OR EXISTS (SELECT 1 FROM psop.providers WHERE business_id = '$1')" 2>/dev/null)" = t ]
}

chaos_send() { # chaos_send TOKEN METHOD PATH BODY: must be applied (setup only)
  # With an Idempotency-Key, a 503 (not acknowledged in time: outcome
  # unknown) is sent again as it was (docs/api.md); applied once either way.
  local out code id status i key
  key=chaos-$(uuid)
  for ((i = 1; ; i++)); do
    out=$(curl -sS -m 20 -w '\n%{http_code}' -X "$2" -H "Authorization: Bearer $1" \
      -H "Content-Type: application/json" -H "Prefer: wait=10" -H "Idempotency-Key: $key" \
      --data "$4" "$PSOP_API_URL$3")
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    [ "$code" = 503 ] && [ $i -lt 6 ] || break
    log "setup: $2 $3 -> 503, sent again ($i)"
    sleep 2
  done
  status=$(jq -r '.status // empty' <<<"$out" 2>/dev/null || true)
  if [ "$code" = 202 ]; then
    id=$(jq -r .command_id <<<"$out")
    for ((i = 0; i < 150; i++)); do
      status=$(curl -sS -H "Authorization: Bearer $1" "$PSOP_API_URL/v1/commands/$id" | jq -r '.status // empty')
      [ "$status" = accepted ] || [ -z "$status" ] || break
      sleep 0.2
    done
  fi
  [ "$status" = applied ] || { log "setup: $2 $3 -> HTTP $code $out"; return 1; }
}

# chaos_world: an organiser, a service type and an approved provider with a
# price; sets ORG, PROV, ST and the tokens ADMIN, ORGTOK, PTOK.
chaos_world() {
  ORG=$(uuid)
  PROV=$(uuid)
  ST=chaos$(date +%s)
  ADMIN=$(psopctl token --ttl 7200 --role admin --sub chaos-admin)
  ORGTOK=$(psopctl token --ttl 7200 --role organiser --sub chaos-case-worker --org "$ORG")
  PTOK=$(psopctl token --ttl 7200 --role provider --sub chaos-erp --provider "$PROV")
  export PSOP_CHAOS_READ_TOKEN=$ORGTOK
  log "setup: organiser, service type $ST, provider"
  chaos_send "$ADMIN" PUT "/v1/organisers/$ORG" '{"name":"Kaaoskunta","business_id":"'"$(ytunnus)"'","iban":"FI2112345600000785","invoice_prefix":"CH'"$(uuid | tr -d - | tr a-f A-F | cut -c1-8)"'","settlement_day":5,"auto_approve_days":0}' &&
    chaos_send "$ADMIN" PUT "/v1/service-types/$ST" '{"name":"Kaaossiivous","unit":"hour","vat_rate_bp":0,"client_share_allowed":true}' &&
    chaos_send "$PTOK" POST /v1/providers "{\"id\":\"$PROV\",\"business_id\":\"$(ytunnus)\",\"name\":\"Kaaos Oy\",\"iban\":\"FI8740060010005678\",\"email\":\"laskutus@example.fi\"}" &&
    chaos_send "$PTOK" POST "/v1/providers/$PROV/applications" "{\"organiser_id\":\"$ORG\",\"service_type\":\"$ST\",\"rulebook_version\":\"2026-1\"}" &&
    chaos_send "$ORGTOK" POST "/v1/providers/$PROV/decisions" "{\"organiser_id\":\"$ORG\",\"service_type\":\"$ST\",\"decision\":\"approved\",\"valid_from\":\"2026-01-01\",\"reason\":\"ok\"}" &&
    chaos_send "$PTOK" POST "/v1/providers/$PROV/prices" "{\"organiser_id\":\"$ORG\",\"service_type\":\"$ST\",\"valid_from\":\"2026-01-01\",\"price_cents\":4000}"
}

chaos_vouchers() { # chaos_vouchers N: prints a comma-separated list of fresh vouchers
  local n=$1 i v list=""
  for ((i = 0; i < n; i++)); do
    v=$(uuid)
    chaos_send "$ORGTOK" POST /v1/vouchers "{\"id\":\"$v\",\"organiser_id\":\"$ORG\",\"client_id\":\"kaaos-$i\",\"service_type\":\"$ST\",\"decision_number\":\"KA-$i\",\"valid_from\":\"2026-01-01\",\"unit_value_cents\":3500,\"provider_id\":\"$PROV\"}" ||
      return 1
    list+=${list:+,}$v
  done
  echo "$list"
}

results=()
failed=0

chaos_start_load() { # chaos_start_load NAME VOUCHERS [RATE]: sets LOAD_PID
  "$LOAD" --port "$LOAD_PORT" --rate "${3:-$rate}" --duration "$duration" --connections 64 \
    --timeout 10 --token "$PTOK" --vouchers "$2" --date 2026-11-02 --out "$OUT/$1.tsv" \
    >"$OUT/$1.load.json" 2>"$OUT/$1.load.err" &
  LOAD_PID=$!
}

# chaos_start_open_load NAME VOUCHERS: the load with no set end (up to 30
# min); chaos_end_load stops it, but not before $duration seconds of load.
# For faults that take as long as they take (a rollout, a broker's restart):
# the load covers all of it.
chaos_start_open_load() {
  local d=$duration
  duration=1800
  chaos_start_load "$1" "$2"
  duration=$d
  LOAD_T0=$(date +%s)
}

chaos_end_load() {
  local left=$((LOAD_T0 + ${duration%.*} - $(date +%s)))
  [ "$left" -le 0 ] || sleep "$left"
  kill -TERM "$LOAD_PID" 2>/dev/null
}

# chaos_finish NAME VOUCHERS [EXTRA_RULE_ERR]: waits for the load, runs the
# checker (MAX_ERR: the highest client error rate allowed), prints its JSON
# line, adds the table row (NOTE: the fault column); a non-empty
# EXTRA_RULE_ERR fails the scenario with that text.
chaos_finish() {
  local name=$1 vouchers=$2 extra=${3:-} settle=$((duration * 2 + 120))
  echo "$vouchers" >"$OUT/$name.vouchers"
  wait "$LOAD_PID" 2>/dev/null || true
  local rc=0
  python3 "$CHECK" --scenario "$name" --records "$OUT/$name.tsv" --vouchers "$vouchers" \
    --settle "$settle" ${MAX_ERR:+--max-error-rate "$MAX_ERR"} >"$OUT/$name.check.json" || rc=1
  [ -n "$extra" ] && rc=1
  local row
  row=$(jq -r --arg x "${NOTE:-}" '[.scenario, .sent, .acknowledged, .lost, .duplicated, .unexpected,
      ((.error_rate * 10000 | round) / 100 | tostring + "%"), .latency_ms.p99, .apply_latency_ms.max, $x] | @tsv' \
    "$OUT/$name.check.json" 2>/dev/null || echo "$name	checker-failed")
  if [ $rc -ne 0 ]; then
    failed=$((failed + 1))
    row+="	FAIL ${extra}"
    log "FAIL $name: $(cat "$OUT/$name.check.json") $extra"
  else
    row+="	ok"
    [ -n "${SELFTEST_ON:-}" ] || SELFTEST_ON=$name
  fi
  results+=("$row")
  log "done $name: $(jq -c '{sent,acknowledged,lost,duplicated,unexpected,rejected,error_rate,refused_by_status,latency_ms,apply_latency_ms}' "$OUT/$name.check.json" 2>/dev/null)"
  unset MAX_ERR NOTE
}

# Repeats CMD every PERIOD seconds while the load runs (leaving the last ~5 s quiet).
chaos_during_load() { # chaos_during_load FIRST_DELAY PERIOD CMD...
  local first=$1 period=$2
  shift 2
  local end=$(($(date +%s) + ${duration%.*} - 5))
  sleep "$first"
  while [ "$(date +%s)" -lt "$end" ] && kill -0 "$LOAD_PID" 2>/dev/null; do
    "$@"
    sleep "$period"
  done
}

# The checker itself must be able to fail: forge a lost, an unexpected and a
# duplicated command against the records of one clean scenario.
chaos_selftest() {
  [ -n "${SELFTEST_ON:-}" ] || return 0
  log "checker self-test on the records of $SELFTEST_ON"
  if bash "$(dirname "$CHECK")/checker_selftest.sh" "$OUT/$SELFTEST_ON.tsv" "$(cat "$OUT/$SELFTEST_ON.vouchers")" >"$OUT/checker-selftest.log" 2>&1; then
    results+=("checker-selftest	-	-	1	1	1	-	-	-	forged lost, unexpected, duplicated, unpublished event: all caught	ok")
  else
    failed=$((failed + 1))
    results+=("checker-selftest	-	-	-	-	-	-	-	-	$(tr '\n' ' ' <"$OUT/checker-selftest.log" | head -c 200)	FAIL")
  fi
}

chaos_table() { # the markdown table of results[], also in $OUT/table.md
  {
    printf '| scenario | sent | acknowledged | lost | duplicated | unexpected | client error rate | p99 latency ms | worst apply latency ms | fault | result |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n'
    local r
    for r in "${results[@]}"; do
      printf '| %s |\n' "$(sed 's/\t/ | /g' <<<"$r")"
    done
  } | tee "$OUT/table.md"
}
