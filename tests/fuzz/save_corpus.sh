#!/bin/sh
# Folds what fuzz runs found (build-fuzz/corpus) into tests/fuzz/corpus.hex:
# the inputs that reach code the fixture docs and the committed corpus do not
# (libFuzzer -merge=1), appended as hex lines. Run after tests/fuzz/run.sh.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/build-fuzz/parse_validate
[ -x "$BIN" ] && [ -d "$ROOT/build-fuzz/corpus" ] || { echo "run tests/fuzz/run.sh first" >&2; exit 1; }
KEEP=$(mktemp -d "${TMPDIR:-/tmp}/psop-fuzz-keep.XXXXXX")
trap 'rm -rf "$KEEP"' EXIT INT TERM
python3 "$ROOT/tests/fuzz/seeds.py" "$KEEP"
ls "$KEEP" | sort >"$KEEP.before"
"$BIN" -merge=1 -max_len=65536 -timeout=10 "$KEEP" "$ROOT/build-fuzz/corpus" 2>"$KEEP.log" \
    || { tail -20 "$KEEP.log" >&2; exit 1; }
ls "$KEEP" | sort | comm -13 "$KEEP.before" - | while read -r f; do
    od -An -v -tx1 "$KEEP/$f" | tr -d ' \n'
    echo
done >>"$ROOT/tests/fuzz/corpus.hex"
rm -f "$KEEP.before" "$KEEP.log"
echo "corpus.hex: $(grep -vc '^#' "$ROOT/tests/fuzz/corpus.hex") inputs"
