#!/bin/sh
# Builds and runs the parse_validate fuzz target for SECONDS (default 60),
# seeded with every "doc" of the schema fixtures plus a few hostile bodies.
# Exits non-zero when the fuzzer finds a crash, leak or sanitizer report
# (the reproducer is left in build-fuzz/).
#   tests/fuzz/run.sh [SECONDS]
set -eu
SECONDS_TO_RUN=${1:-60}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUTDIR=$ROOT/build-fuzz
BIN=$OUTDIR/parse_validate
"$ROOT/tests/fuzz/build.sh" "$BIN"

SEEDS=$(mktemp -d "${TMPDIR:-/tmp}/psop-fuzz-seeds.XXXXXX")
CORPUS=$(mktemp -d "${TMPDIR:-/tmp}/psop-fuzz-corpus.XXXXXX")
trap 'rm -rf "$SEEDS" "$CORPUS"' EXIT INT TERM

python3 - "$ROOT/tests/fixtures/schema" "$SEEDS" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
n = 0
for dirpath, _, files in os.walk(src):
    for fn in sorted(files):
        if not fn.endswith(".json"):
            continue
        with open(os.path.join(dirpath, fn), encoding="utf-8") as f:
            for case in json.load(f):
                with open(os.path.join(dst, f"seed{n:05d}.json"), "w", encoding="utf-8") as out:
                    json.dump(case["doc"], out, ensure_ascii=False)
                n += 1
hostile = [b"", b"{}", b"[" * 40 + b"]" * 40, b'{"a":"\\u0000"}', b'{"a":1,"a":2}',
           b'{"a":"\xed\xa0\x80"}', b'{"quantity":1.155e0}', b'{"x":1e400}', b"{} x"]
for h in hostile:
    with open(os.path.join(dst, f"seed{n:05d}.json"), "wb") as out:
        out.write(h)
    n += 1
print(f"{n} seeds")
PY

cd "$OUTDIR"
# -max_len: bodies up to 64 KiB; -timeout: a single input over 10 s is a bug.
"$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$CORPUS" "$SEEDS"
