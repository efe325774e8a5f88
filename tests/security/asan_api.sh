#!/usr/bin/env bash
# tests/security/asan_api.sh - the attacker suite and the api's integration
# suites once more, against api replicas built with ASan and UBSan (issue 14:
# bad input never crashes, leaks or misbehaves in the front itself). The other
# suites meet the normal build; this one rolls the ASan build of psop-api
# (build-asan, made by scripts/test) into the running stack with
# `scripts/dev rollout api`, runs the suites through HAProxy and straight to
# the replicas, and rolls the normal build back in. The replicas' logs since
# the swap must then hold no sanitizer report. LeakSanitizer reports when a
# replica exits, which happens during the roll back.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
asan_bin=${PSOP_ASAN_BUILD:-$PSOP_ROOT/build-asan}/api/psop-api
[ -x "$asan_bin" ] || die "no ASan psop-api at $asan_bin (scripts/test builds it)"
[ -f "$PSOP_RUN/stack.env" ] || die "no stack: scripts/dev up first"
# shellcheck disable=SC1091
source "$PSOP_RUN/stack.env"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PSOP_ROOT/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

declare -A from
for f in "$PSOP_RUN"/logs/api-*.log; do from[$f]=$(stat -c %s "$f"); done
rolled_back=0
roll_back() {
  [ $rolled_back = 1 ] && return 0
  rolled_back=1
  "$PSOP_ROOT/scripts/dev" rollout api >/dev/null
}
trap roll_back EXIT

PSOP_API_BIN=$asan_bin "$PSOP_ROOT/scripts/dev" rollout api >/dev/null
n=0
for f in "$PSOP_RUN"/pids/api-*.pid; do
  exe=$(readlink "/proc/$(cat "$f")/exe")
  [ "$exe" = "$(readlink -f "$asan_bin")" ] || die "$(basename "$f" .pid) runs $exe, not the ASan build"
  n=$((n + 1))
done
echo "$n api replicas run the ASan build"

failed=0
# Not api_drain and api_broker_down: they start psop-api processes of their
# own, and asan-integration runs them with the ASan build already.
for b in "$PSOP_BUILD"/tests/security/security_* "$PSOP_BUILD"/tests/integration/integration_api_*; do
  case $b in *_api_drain | *_api_broker_down) continue ;; esac
  if "$b" --jobs 2 >"$PSOP_RUN/logs/asan-api-suite.log" 2>&1; then
    echo "ok   $(basename "$b"): $(grep -o 'Tested: [0-9]* | Passing: [0-9]*' "$PSOP_RUN/logs/asan-api-suite.log")"
  else
    echo "FAIL $(basename "$b")"
    tail -30 "$PSOP_RUN/logs/asan-api-suite.log"
    failed=1
  fi
done

roll_back
reports=0
for f in "${!from[@]}"; do
  hits=$(tail -c +"$((from[$f] + 1))" "$f" | grep -E -c 'ERROR: (Address|Leak)Sanitizer|runtime error:|UndefinedBehaviorSanitizer' || true)
  if [ "$hits" -gt 0 ]; then
    echo "FAIL $(basename "$f"): $hits sanitizer lines since the swap:"
    tail -c +"$((from[$f] + 1))" "$f" | grep -E -A12 'ERROR: (Address|Leak)Sanitizer|runtime error:' | head -60
    reports=1
  fi
done
[ $reports = 0 ] && echo "ok   no sanitizer report in the replicas' logs (exits included)"
[ $failed = 0 ] && [ $reports = 0 ]
