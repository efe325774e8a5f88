#!/usr/bin/env bash
# tests/chaos/checker_selftest.sh RECORDS VOUCHERS - the checker must fail.
# Takes a clean run's record file (the checker passes it) and shows that the
# checker reports each anomaly it exists for, against the real PostgreSQL:
#   lost:        an acknowledged command that was never applied (a forged line)
#   unexpected:  an applied event whose request is removed from the records
#   duplicated:  a second 'applied' processed_commands row for one event
#                (inserted, checked, deleted again)
#   events_unpublished: an outbox row of one of the run's commands that no
#                broker acknowledged (inserted dated 10 minutes ahead, so the
#                relay leaves it alone, checked, deleted again)
#   access_records_doubled: a second access record of a command on one of
#                the run's vouchers (inserted, checked, deleted again with the
#                append-only trigger off for that one statement)
# Needs PSOP_PG_DSN. Exits 0 when every anomaly was caught.
set -uo pipefail
rec=${1:?records}
vouchers=${2:?vouchers}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
check() { python3 "$here/checker.py" --records "$1" --vouchers "$vouchers" --settle 5 --read-retries 1 --events-wait 2; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }
fail=0

out=$(check "$rec") || { echo "selftest: the clean run does not pass: $out" >&2; exit 1; }

# caught FIELD RECORDS: the checker fails on RECORDS and counts 1 under FIELD.
caught() {
  local out rc
  out=$(check "$2")
  rc=$?
  if [ $rc -ne 0 ] && [ "$(field "$1" <<<"$out")" = 1 ]; then
    echo "selftest: $1 caught"
  else
    echo "selftest: $1 NOT caught: $out"
    fail=1
  fi
}
# caught_with_row FIELD INSERT DELETE: caught on the clean records while a
# row forged in PostgreSQL is there (INSERT, the check, DELETE again).
caught_with_row() {
  psql "$PSOP_PG_DSN" -X -q -v ON_ERROR_STOP=1 -c "$2" || { echo "selftest: cannot forge the row for $1"; exit 1; }
  caught "$1" "$rec"
  psql "$PSOP_PG_DSN" -X -q -c "$3"
}

# lost
cp "$rec" "$tmp/lost.tsv"
first=$(grep -m1 -P '\t202\t' "$rec")
IFS=$'\t' read -r _ ev v q ts _ _ cid <<<"$first"
printf '999999\t%s\t%s\t%s\t%s\t202\t5.00\t%s\n' "$(cat /proc/sys/kernel/random/uuid)" "$v" "$q" "$ts" \
  "$(cat /proc/sys/kernel/random/uuid)" >>"$tmp/lost.tsv"
caught lost "$tmp/lost.tsv"

# unexpected
grep -v -F "$first" "$rec" >"$tmp/unexpected.tsv"
caught unexpected "$tmp/unexpected.tsv"

# duplicated
fake=$(cat /proc/sys/kernel/random/uuid)
caught_with_row duplicated \
  "INSERT INTO psop.processed_commands (command_id, type, status, resource_id, received_at) VALUES ('$fake', 'service_event.record', 'applied', '$ev', now())" \
  "DELETE FROM psop.processed_commands WHERE command_id = '$fake'"

# events_unpublished
fake=$(cat /proc/sys/kernel/random/uuid)
caught_with_row events_unpublished \
  "INSERT INTO psop.outbox (event_id, topic, key, payload, created_at) VALUES ('$fake', 'psop.events.voucher', '$v', jsonb_build_object('psopcommandid', '$cid', 'selftest', true), now() + interval '10 minutes')" \
  "DELETE FROM psop.outbox WHERE event_id = '$fake'"

# access_records_doubled
fake=$(cat /proc/sys/kernel/random/uuid)
caught_with_row access_records_doubled \
  "INSERT INTO psop.access_log (id, at, actor_sub, actor_role, action, resource_type, resource_id, client_ids, status) VALUES ('$fake', now(), 'selftest', 'provider', 'command', 'voucher', '$v', '{}', 202)" \
  "BEGIN; ALTER TABLE psop.access_log DISABLE TRIGGER access_log_no_update; DELETE FROM psop.access_log WHERE id = '$fake'; ALTER TABLE psop.access_log ENABLE TRIGGER access_log_no_update; COMMIT"
exit $fail
