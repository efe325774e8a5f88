#!/bin/sh
# Builds and runs the parse_validate fuzz target for SECONDS (default 60),
# seeded with every "doc" of the schema fixtures and the committed corpus
# (tests/fuzz/corpus.hex: hostile bodies and earlier runs' finds, one input
# per line in hex). What the run finds stays in build-fuzz/corpus, which the
# schema cross-check replays too; tests/fuzz/save_corpus.sh folds it into
# corpus.hex. Exits non-zero when the fuzzer finds a crash, leak or sanitizer
# report (the reproducer is left in build-fuzz/).
#   tests/fuzz/run.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUTDIR=$ROOT/build-fuzz
BIN=$OUTDIR/parse_validate
"$ROOT/tests/fuzz/build.sh" "$BIN"

SEEDS=$(mktemp -d "${TMPDIR:-/tmp}/psop-fuzz-seeds.XXXXXX")
trap 'rm -rf "$SEEDS"' EXIT INT TERM
mkdir -p "$OUTDIR/corpus"
python3 "$ROOT/tests/fuzz/seeds.py" "$SEEDS"

cd "$OUTDIR"
# -max_len: bodies up to 64 KiB; -timeout: a single input over 10 s is a bug.
# New inputs go to the first directory.
"$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$OUTDIR/corpus" "$SEEDS"
