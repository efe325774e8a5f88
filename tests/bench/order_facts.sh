#!/usr/bin/env bash
# tests/bench/order_facts.sh OUTDIR [SECONDS] - what an order event's facts
# cost PostgreSQL as its contract's month grows (issue 19, schemas/sql/0014):
# the former sums over the order's and the contract's events of the month
# (order_facts_summed.sql, the peer) against the rows kept by delta
# (order_facts_kept.sql), at 100, 1 000, 10 000 and 50 000 events in one
# contract's month over 100 orders; and what the triggers cost an event's
# insert (order_event_insert.sql, triggers on and off, alternately three times).
#
# On a scratch database of the stack's PostgreSQL (psop_orderbench_<pid>,
# dropped at the end), the migrations applied as `psopctl migrate` does.
# pgbench, 1 client, SECONDS (5) a step. One JSON line per step on stdout
# and in OUTDIR/order_facts.jsonl; progress on stderr.
set -euo pipefail
# shellcheck source=tests/bench/stack_env.sh
source "$(dirname "$0")/stack_env.sh"
secs=${2:-5}
db="psop_orderbench_$$"
server=${PSOP_PG_DSN/dbname=psop/dbname=postgres}
dsn=${PSOP_PG_DSN/dbname=psop/dbname=$db}
psql "$server" -X -q -c "CREATE DATABASE $db"
trap 'psql "$server" -X -q -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
for f in schemas/sql/[0-9][0-9][0-9][0-9]_*.sql; do
  psql "$dsn" -X -q -v ON_ERROR_STOP=1 --single-transaction -f "$f" >/dev/null
done
q() { psql "$dsn" -X -q -v ON_ERROR_STOP=1 "$@"; }
q <<'SQL'
SET client_min_messages = warning;
INSERT INTO psop.organisers (id, name, business_id, iban, invoice_prefix, settlement_day, auto_approve_days)
VALUES ('00000000-0000-0000-0000-0000000000a1', 'Penkkikunta', '0737546-2', 'FI2112345600000785',
        'PENKKI', 5, 14);
INSERT INTO psop.service_types (code, name, unit, vat_rate_bp, client_share_allowed)
VALUES ('siivous', 'Siivous', 'visit', 2550, true);
INSERT INTO psop.providers (id, business_id, name, iban, registered_by)
VALUES ('00000000-0000-0000-0000-0000000000b2', '4567891-5', 'Siisti Oy', 'FI2112345600000785', 'bench');
INSERT INTO psop.contracts (id, organiser_id, provider_id, service_type, valid_from, monthly_volume_cap, created_by)
VALUES ('00000000-0000-0000-0000-0000000000d1', '00000000-0000-0000-0000-0000000000a1',
        '00000000-0000-0000-0000-0000000000b2', 'siivous', '2024-01-01', 100000000, 'bench');
INSERT INTO psop.contract_prices (contract_id, valid_from, price_cents, set_by)
VALUES ('00000000-0000-0000-0000-0000000000d1', '2024-01-01', 4000, 'bench');
CREATE SCHEMA psop_bench;
CREATE TABLE psop_bench.orders (n int PRIMARY KEY, order_id uuid NOT NULL);
INSERT INTO psop_bench.orders SELECT i, gen_random_uuid() FROM generate_series(1, 100) i;
INSERT INTO psop.orders (id, organiser_id, client_id, contract_id, decision_number, valid_from,
                         client_fee_cents, created_by)
SELECT order_id, '00000000-0000-0000-0000-0000000000a1', 'ASIAKAS-' || n,
       '00000000-0000-0000-0000-0000000000d1', 'MS-' || n, '2024-01-01', 1500, 'bench'
  FROM psop_bench.orders;
SQL
# fill_to N: the contract's March has N events, spread over the orders and days.
fill_to() {
  q -c "INSERT INTO psop.service_events (id, order_id, contract_id, provider_id, organiser_id,
          service_type, date, quantity, unit_price_cents, client_fee_cents, gross_cents,
          organiser_part_cents, client_share_cents, recorded_by)
        SELECT gen_random_uuid(), b.order_id, '00000000-0000-0000-0000-0000000000d1',
               '00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000a1',
               'siivous', make_date(2024, 3, (1 + i % 28)::int), 100, 4000, 1500, 4000, 2500, 1500, 'bench'
          FROM generate_series((SELECT count(*) FROM psop.service_events
                                 WHERE date >= '2024-03-01' AND date < '2024-04-01') + 1, $1) i
          JOIN psop_bench.orders b ON b.n = (1 + i % 100)::int;
        ANALYZE psop.service_events;"
}
# step NAME SCRIPT EVENTS: one pgbench step, one JSON line.
step() {
  echo "== $(date -u +%H:%M:%S) $1 at $3 events: pgbench, 1 client, $secs s" >&2
  pgbench -n -M prepared -c 1 -T "$secs" -D norders=100 -f "$here/$2.sql" "$dsn" \
    >"$out/$1-$3.txt" 2>&1
  python3 - "$out/$1-$3.txt" "$1" "$3" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
tps = float(re.search(r"tps = ([0-9.]+)", text).group(1))
lat = float(re.search(r"latency average = ([0-9.]+) ms", text).group(1))
print(json.dumps({"step": sys.argv[2], "contract_month_events": int(sys.argv[3]),
                  "per_s": round(tps), "mean_ms": lat}))
PY
}
{
  for n in 100 1000 10000 50000; do
    fill_to "$n"
    step summed order_facts_summed "$n"
    step kept order_facts_kept "$n"
  done
  q -At -c "SELECT 'kept = summed for every order: ' || bool_and(k.used = s.used)
          FROM psop.order_usage k JOIN psop.order_usage_from_events s USING (order_id, month)" >&2
  for round in 1 2 3; do
    step insert_triggers_on order_event_insert 50000
    q -c "ALTER TABLE psop.service_events DISABLE TRIGGER order_usage_ins"
    step insert_triggers_off order_event_insert 50000
    q -c "ALTER TABLE psop.service_events ENABLE TRIGGER order_usage_ins"
  done
} | tee -a "$out/order_facts.jsonl"
