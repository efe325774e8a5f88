#!/usr/bin/env bash
# tests/chaos/load_selftest.sh BUILD - the chaos load client's handling of a
# connection the server closes (tests/chaos/chaos_load.c, head comment):
#  1. a reused keep-alive connection closed as the next request arrives,
#     before any byte of answer (tests/chaos/closing_server.py answering one
#     request per connection): the request is sent once more on a new
#     connection, so every request is answered, none counted broken;
#  2. a new connection closed before its first answer: nothing says the server
#     was idle-closing it, so the request is recorded broken (indeterminate),
#     never retried.
# Needs nothing but the built client and python3; listens on 127.0.0.1.
set -uo pipefail
build=${1:?usage: tests/chaos/load_selftest.sh BUILD}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0
port=$((20000 + $$ % 20000))

# run ANSWERED: the client for 2 s at 20/s on 4 connections against a server
# answering ANSWERED requests a connection; prints the client's JSON totals.
run() {
  python3 "$here/closing_server.py" "$port" "$1" >"$tmp/server.out" 2>&1 &
  srv=$!
  for _ in $(seq 50); do grep -q listening "$tmp/server.out" 2>/dev/null && break; sleep 0.1; done
  "$build/tests/chaos/psop-chaos-load" --port "$port" --rate 20 --duration 2 --connections 4 \
    --timeout 5 --token selftest --vouchers 00000000-0000-0000-0000-000000000001 \
    --out "$tmp/records.tsv"
  kill "$srv" 2>/dev/null
  wait "$srv" 2>/dev/null
  srv=""
  port=$((port + 1))
}
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())$1)"; }
expect() { # expect WHAT ACTUAL WANTED
  if [ "$2" = "$3" ]; then echo "ok: $1 ($2)"; else echo "FAILED: $1: $2, expected $3"; fail=1; fi
}

out=$(run 1)
echo "one answer a connection: $out"
expect "every request answered 202" "$(field "['status'].get('202', 0)" <<<"$out")" 40
expect "none broken" "$(field "['broken']" <<<"$out")" 0
expect "records written" "$(awk '$6 == 202' "$tmp/records.tsv" | wc -l)" 40
retried=$(field "['retried']" <<<"$out")
[ "$retried" -ge 30 ] && echo "ok: $retried requests sent once more" \
  || { echo "FAILED: only $retried requests sent once more (expected >= 30)"; fail=1; }

out=$(run 0)
echo "no answer at all: $out"
expect "every request broken" "$(field "['broken']" <<<"$out")" 40
expect "none sent once more" "$(field "['retried']" <<<"$out")" 0
expect "records say broken" "$(awk '$6 == -1' "$tmp/records.tsv" | wc -l)" 40
exit $fail
