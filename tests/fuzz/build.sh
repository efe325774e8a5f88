#!/bin/sh
# Builds the libFuzzer target tests/fuzz/parse_validate.c with ASan and UBSan,
# straight from the lib/ sources it needs (no CMake).
#   tests/fuzz/build.sh [OUTPUT]      default OUTPUT: build-fuzz/parse_validate
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/build-fuzz/parse_validate}
CC=${CC:-clang}
mkdir -p "$(dirname "$OUT")"
# shellcheck disable=SC2046 # pkg-config output is meant to split
"$CC" -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
    -DPSOP_SCHEMA_DIR="\"$ROOT/schemas\"" -I"$ROOT/lib" \
    "$ROOT/tests/fuzz/parse_validate.c" \
    "$ROOT/lib/wire/json_strict.c" "$ROOT/lib/wire/jschema.c" "$ROOT/lib/core/date.c" \
    "$ROOT/lib/domain/fi.c" "$ROOT/lib/core/xmalloc.c" "$ROOT/lib/core/log.c" "$ROOT/lib/core/invariant.c" \
    $(pkg-config --cflags --libs jansson libpcre2-8) -lm -o "$OUT"
echo "built $OUT"
