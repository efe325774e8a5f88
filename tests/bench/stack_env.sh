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
