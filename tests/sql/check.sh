#!/bin/sh
# tests/sql/check.sh - applies schemas/sql/*.sql in order to a scratch
# database, each file in its own transaction (as `psopctl migrate` does), runs
# tests/sql/constraints.sql, and drops the scratch database.
#
# Uses only its own database (psop_sqlcheck_<pid>) on the server; never
# touches another. Exit status: 0 all good, non-zero on any failure.
#
# Environment: PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres);
# KEEP_DB=1 leaves the database in place for inspection.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export PGHOST="${PGHOST:-127.0.0.1}"
export PGPORT="${PGPORT:-5432}"
export PGUSER="${PGUSER:-postgres}"
db="psop_sqlcheck_$$"

psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

cleanup() {
    status=$?
    if [ "${KEEP_DB:-0}" = 1 ]; then
        echo "check.sh: kept database $db" >&2
    else
        psql_admin -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    fi
    exit $status
}

psql_admin -c "CREATE DATABASE $db" >/dev/null
trap cleanup EXIT INT TERM

n=0
for f in "$root"/schemas/sql/[0-9][0-9][0-9][0-9]_*.sql; do
    [ -e "$f" ] || { echo "check.sh: no migrations found" >&2; exit 1; }
    echo "apply $(basename "$f")"
    psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$db" -f "$f"
    n=$((n + 1))
done

# Migration numbers must be unique and start at 0001 without holes.
nums=$(for f in "$root"/schemas/sql/[0-9][0-9][0-9][0-9]_*.sql; do basename "$f" | cut -c1-4; done)
expect=$(i=1; while [ $i -le $n ]; do printf '%04d\n' $i; i=$((i + 1)); done)
if [ "$nums" != "$expect" ]; then
    echo "check.sh: migration numbers are not 0001..$(printf '%04d' $n) in sequence" >&2
    exit 1
fi

echo "run constraints.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$here/constraints.sql"
echo "check.sh: OK ($n migrations, constraints.sql passed)"
