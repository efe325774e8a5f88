#!/usr/bin/env bash
# The rate limits of the HAProxy configuration scripts/dev writes (issue 14
# item 9): a private HAProxy started from the stack's .run/haproxy.cfg with
# the limits lowered to 5 requests in 10 s and its own port, in front of the
# same api replicas. Over the limit per token and per address: 429,
# problem+json, Retry-After. Stopped by its PID.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
cfg=$PSOP_RUN/haproxy.cfg
[ -f "$cfg" ] || die "no $cfg: scripts/dev up first"
tmp=$(mktemp -d)
port=$((PSOP_HAPROXY_PORT + 37))
sed -e "s/sc_http_req_rate(\([01]\)) gt [0-9]*/sc_http_req_rate(\1) gt 5/" \
  -e "s/bind 127.0.0.1:[0-9]*/bind 127.0.0.1:$port/" -e '/stats socket/d' "$cfg" >"$tmp/h.cfg"
haproxy -db -f "$tmp/h.cfg" >"$tmp/log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" -H 'Authorization: Bearer warmup' && break; sleep 0.1; done
fail=0
check() { # check LABEL CURL_ARGS...: the 7th request is refused as it should be
  local label=$1 i code hdrs
  shift
  for i in 1 2 3 4 5 6; do curl -s -o /dev/null "$@" "http://127.0.0.1:$port/healthz" || true; done
  hdrs=$(curl -s -D - -o "$tmp/body" "$@" "http://127.0.0.1:$port/healthz")
  code=$(printf '%s' "$hdrs" | head -1 | awk '{print $2}')
  if [ "$code" = 429 ] && printf '%s' "$hdrs" | grep -qi '^retry-after: 10' &&
    printf '%s' "$hdrs" | grep -qi '^content-type: application/problem+json' &&
    grep -q '"status":429' "$tmp/body"; then
    echo "ok   $label: 429 problem+json with Retry-After"
  else
    echo "FAIL $label: got $code"; printf '%s\n' "$hdrs"; cat "$tmp/body"; fail=1
  fi
}
check "per token" -H "Authorization: Bearer sec-$RANDOM-$$"
# A new token from the same address still passes until the address's limit.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer other-$$" "http://127.0.0.1:$port/healthz")
if [ "$code" = 429 ]; then echo "ok   per address: over its limit too (every request above counted)"; else echo "FAIL per address: $code"; fail=1; fi
exit $fail
