# tests/bench/stack_env.sh - sourced (not run) by the bench scripts that take
# OUTDIR as their first argument, after `set -euo pipefail`: sets here (this
# folder), root and bin (the bench programs), makes OUTDIR ($out), goes to
# the root (config/psop.conf) and takes the stack's environment
# (.run/stack.env).
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:?usage: tests/bench/$(basename "$0") OUTDIR}
mkdir -p "$out"
cd "$root"
# shellcheck disable=SC1091
source .run/stack.env
bin=${PSOP_BENCH_DIR:-$root/build/tests/bench}

# bench_table NAME "COLUMNS" TSV: psop_bench.NAME (COLUMNS), made afresh and
# filled from the tab-separated TSV, for the pgbench scripts to pick rows of.
bench_table() {
  psql "$PSOP_PG_DSN" -v ON_ERROR_STOP=1 -q <<SQL
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS psop_bench;
DROP TABLE IF EXISTS psop_bench.$1;
CREATE TABLE psop_bench.$1 ($2);
\copy psop_bench.$1 FROM '$3'
ANALYZE psop_bench.$1;
SQL
}
