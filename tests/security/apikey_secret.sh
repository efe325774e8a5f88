#!/usr/bin/env bash
# A provider integration key's secret is shown once and kept nowhere
# (docs/domain.md, "Provider integration keys"; issue 17): after a create
# (with an Idempotency-Key, whose answer Redis keeps), a read and a command
# with the key, a replay of the create and a revoke, the secret is in no
# PostgreSQL table (pg_dump of the data), no Redis key (every value of every
# key), no Kafka topic (every message of every topic) and no log line of the
# stack, and a replay of the create does not answer it again. The hash is
# in no Redis key and on no event topic either (only the command topic and
# psop.api_keys carry it).
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
[ -f "$PSOP_RUN/stack.env" ] || die "no $PSOP_RUN/stack.env: scripts/dev up first"
source "$PSOP_RUN/stack.env"
api=$PSOP_API_URL
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

pid=$(python3 -c 'import uuid; print(uuid.uuid4())')
ptok=$(psopctl token --role provider --provider "$pid" --sub "erp-user-${pid:0:8}")
yt=$(python3 - <<'PY'
import random
w=[7,9,10,5,8,4,2]
while True:
    d=[random.randint(0,9) for _ in range(7)]
    r=sum(a*b for a,b in zip(d,w))%11
    if r==1: continue
    c=0 if r==0 else 11-r
    print("".join(map(str,d))+"-"+str(c)); break
PY
)
call() { # call METHOD PATH TOKEN [BODY] [EXTRA-HEADER]: prints the status, body in $tmp/body
  local args=(-s -o "$tmp/body" -w '%{http_code}' -X "$1" "$api$2" -H "Authorization: Bearer $3")
  [ -n "${4:-}" ] && args+=(-H 'Content-Type: application/json' --data "$4")
  [ -n "${5:-}" ] && args+=(-H "$5")
  curl "${args[@]}"
}
st=$(call POST /v1/providers "$ptok" "{\"id\":\"$pid\",\"business_id\":\"$yt\",\"name\":\"Vuoto $pid Oy\",\"iban\":\"FI2112345600000785\"}" 'Prefer: wait=10')
[ "$st" = 200 ] || die "provider.register: $st $(cat "$tmp/body")"

ikey="leak-$pid"
st=$(call POST "/v1/providers/$pid/api-keys" "$ptok" '{"name":"Vuototesti","expires_in_days":1}' "Idempotency-Key: $ikey")
[ "$st" = 202 ] || die "api_key.create: $st $(cat "$tmp/body")"
text=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["secret"])' "$tmp/body")
cid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["command_id"])' "$tmp/body")
kid=$(printf '%s' "$text" | cut -d_ -f2)
secret=${text:42} # after "psop_<36-character key id>_"
[ ${#secret} = 43 ] || die "secret of ${#secret} characters: $text"
for _ in $(seq 200); do
  st=$(call GET "/v1/commands/$cid" "$ptok")
  grep -q '"status":"applied"' "$tmp/body" && break
  grep -q '"status":"rejected"' "$tmp/body" && die "create rejected: $(cat "$tmp/body")"
  sleep 0.05
done
hash=$(psql "$PSOP_PG_DSN" -Atc "SELECT secret_hash FROM psop.api_keys WHERE id = '$kid'")
want=$(printf '%s' "$secret" | sha256sum | cut -d' ' -f1)
[ "$hash" = "$want" ] && ok "psop.api_keys holds the secret's SHA-256" || bad "stored hash '$hash', want $want"

st=$(call GET "/v1/providers/$pid" "$text"); [ "$st" = 200 ] && ok "a read with the key" || bad "read with the key: $st"
st=$(call POST "/v1/providers/$pid/applications" "$text" "{\"organiser_id\":\"$pid\",\"service_type\":\"eiole\",\"rulebook_version\":\"1\"}" 'Prefer: wait=10')
[ "$st" = 422 ] && ok "a command with the key reaches the workers (rejected: no such organiser)" || bad "command with the key: $st $(cat "$tmp/body")"
st=$(call POST "/v1/providers/$pid/api-keys" "$ptok" '{"name":"Vuototesti","expires_in_days":1}' "Idempotency-Key: $ikey")
if [ "$st" = 202 ] && grep -q "\"command_id\":\"$cid\"" "$tmp/body" && ! grep -q "$secret" "$tmp/body"; then
  ok "a replay of the create answers the same command, without the secret"
else bad "replay: $st $(cat "$tmp/body")"; fi
st=$(call DELETE "/v1/providers/$pid/api-keys/$kid" "$ptok" '' 'Prefer: wait=10')
[ "$st" = 200 ] && ok "revoked" || bad "revoke: $st $(cat "$tmp/body")"

# PostgreSQL: every row of every table of the database.
pg_dump --data-only "$PSOP_PG_DSN" >"$tmp/dump.sql"
n=$(grep -c -- "$secret" "$tmp/dump.sql" || true)
[ "$n" = 0 ] && ok "PostgreSQL: the secret in no table ($(wc -c <"$tmp/dump.sql") bytes of data searched)" || bad "PostgreSQL: secret found $n times"

# Redis: every value of every key, searched inside Redis.
lua='local n, cur, hits = 0, "0", 0
repeat
  local r = redis.call("SCAN", cur, "COUNT", 1000); cur = r[1]
  for _, k in ipairs(r[2]) do
    n = n + 1
    local t = redis.call("TYPE", k)["ok"]
    local vals = {k}
    if t == "string" then vals = {k, redis.call("GET", k)}
    elseif t == "hash" then vals = redis.call("HGETALL", k)
    elseif t == "list" then vals = redis.call("LRANGE", k, 0, -1)
    elseif t == "set" then vals = redis.call("SMEMBERS", k)
    elseif t == "zset" then vals = redis.call("ZRANGE", k, 0, -1)
    elseif t == "stream" then
      vals = {}
      for _, e in ipairs(redis.call("XRANGE", k, "-", "+")) do for _, f in ipairs(e[2]) do vals[#vals + 1] = f end end
    end
    for _, v in ipairs(vals) do
      for _, needle in ipairs(ARGV) do if string.find(v, needle, 1, true) then hits = hits + 1 end end
    end
  end
until cur == "0"
return {n, hits}'
out=$(redis-cli -u "$PSOP_REDIS_URL" --no-auth-warning EVAL "$lua" 0 "$secret" "$hash" | tr '\n' ' ')
keys=${out%% *}; hits=$(echo "$out" | awk '{print $2}')
[ "$hits" = 0 ] && ok "Redis: neither secret nor hash in any of $keys keys" || bad "Redis: $hits hits ($out)"

# Kafka: every message of every topic.
topics=$(kcat -b "$PSOP_KAFKA_BROKERS" -L -J | python3 -c 'import json,sys; print("\n".join(t["topic"] for t in json.load(sys.stdin)["topics"] if not t["topic"].startswith("__")))')
total=0; hits=0; hash_hits=0
for t in $topics; do
  kcat -b "$PSOP_KAFKA_BROKERS" -C -t "$t" -o beginning -e -q -f '%k %s\n' >"$tmp/topic" 2>/dev/null || true
  total=$((total + $(wc -l <"$tmp/topic")))
  hits=$((hits + $(grep -c -- "$secret" "$tmp/topic" || true)))
  case $t in psop.commands.*) ;; *) hash_hits=$((hash_hits + $(grep -c -- "$hash" "$tmp/topic" || true))) ;; esac
done
[ "$hits" = 0 ] && ok "Kafka: the secret in none of $total messages of $(echo "$topics" | wc -w) topics" || bad "Kafka: secret in $hits messages"
[ "$hash_hits" = 0 ] && ok "Kafka: the hash only on the command topic" || bad "Kafka: hash in $hash_hits messages outside psop.commands.*"

# Logs of every process of the stack (and HAProxy's).
sleep 1
n=$( (grep -rl -- "$secret" "$PSOP_RUN/logs" 2>/dev/null || true) | wc -l)
[ "$n" = 0 ] && ok "logs: the secret in no log file ($(cat "$PSOP_RUN"/logs/* 2>/dev/null | wc -l) lines)" || bad "logs: secret in $n files"
exit $fail
