#!/usr/bin/env bash
# tests/layers/check.sh BUILD_DIR: the build refuses a lower layer reaching a
# higher one (CMakeLists.txt at the top, docs/architecture.md "Code layout").
# domain_ok must build (the control); each other probe must fail, with the
# compiler's or the linker's words for the reach it tries.
set -uo pipefail
build=${1:?usage: check.sh BUILD_DIR}
fail=0
probe() { # probe NAME EXPECT(ok|regex of the failure)
  local name=$1 expect=$2 out rc
  out=$(cmake --build "$build" --target "layer_probe_$name" 2>&1)
  rc=$?
  if [ "$expect" = ok ]; then
    if [ $rc -eq 0 ]; then echo "ok   $name builds"; else echo "FAIL $name does not build:"; echo "$out" | tail -20; fail=1; fi
  elif [ $rc -eq 0 ]; then
    echo "FAIL $name built, the layering is not enforced"; fail=1
  elif grep -Eq "$expect" <<<"$out"; then
    echo "ok   $name refused: $(grep -Em1 "$expect" <<<"$out" | sed 's/^.*\(error\|undefined\)/\1/')"
  else
    echo "FAIL $name failed for another reason:"; echo "$out" | tail -20; fail=1
  fi
}
probe domain_ok ok
probe domain_includes_store 'store/pgc\.h: No such file or directory'
probe domain_links_store 'undefined reference to .pgc_last_transient'
probe store_includes_domain 'domain/event\.h: No such file or directory'
probe core_includes_wire 'wire/envelope\.h: No such file or directory'
exit $fail
