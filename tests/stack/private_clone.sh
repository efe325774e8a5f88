#!/usr/bin/env bash
# A newcomer's first try, and two stacks on one machine (docs/operations.md,
# "Several stacks on one machine").
#
#  1. The repository is cloned as root into a folder nobody else may enter
#     (mktemp -d: mode 700), with nothing beside it, and `scripts/dev up`,
#     `status`, `down` run there on other ports. PostgreSQL runs as the
#     postgres user, which cannot enter that folder: its data must live
#     outside the clone, in a folder of its own.
#  2. While both stacks run, the clone's `scripts/dev rollout api` and
#     `rollout workers voucher` are started from a fresh shell (no PSOP_* in
#     the environment; one worker role is enough: workers listen on no port,
#     and every role rolls the same way — all twelve would add ~4 minutes). The clone's replicas must come back on the clone's ports,
#     and the stack of this checkout must not notice: every request through
#     its HAProxy answered, each of its replica ports answered only by its own
#     replicas (the Psop-Stack header of /healthz), its replica PIDs unchanged.
#  3. `down` leaves nothing of the clone running; `down --wipe` removes its
#     PostgreSQL state too.
#
# Needs the stack of this checkout running (scripts/test starts it). The
# clone reuses this checkout's build (PSOP_BUILD): what is under test is the
# scripts and the api's port guard, not the compiler. Prints numbers; exits
# non-zero on any failure.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC1091
source "$root/scripts/lib.sh" 2>/dev/null
[ -f "$root/.run/stack.env" ] || { echo "no stack here: scripts/dev up first" >&2; exit 1; }
main_haproxy=$PSOP_HAPROXY_PORT
main_api_ports=$PSOP_API_PORTS
main_stack=$PSOP_API_STACK_ID
main_build=$PSOP_BUILD

fails=0
ok() { printf 'ok    %s\n' "$*"; }
bad() { printf 'FAIL  %s\n' "$*"; fails=$((fails + 1)); }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Seven ports in a row that nothing listens on (the clone runs one broker:
# client port and controller port).
base=""
for b in 17100 17300 17500 17700 23100 23300 33100 33300; do
  all=1
  for o in 32 79 80 81 82 92 93; do port_free $((b + o)) || { all=0; break; }; done
  [ $all -eq 1 ] && { base=$b; break; }
done
[ -n "$base" ] || { echo "no free port range for the clone's stack" >&2; exit 1; }

tmp=$(mktemp -d)
clone=$tmp/psop
cleanup() {
  if [ -d "$clone/.run" ]; then
    (cd "$clone" && env -u PSOP_KAFKA_PORT PSOP_BUILD="$main_build" scripts/dev down --wipe >/dev/null 2>&1)
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

[ "$(stat -c %a "$tmp")" = 700 ] && ok "the clone's folder is mode 700 ($tmp)" || bad "mktemp -d gave mode $(stat -c %a "$tmp")"
git clone -q "$root" "$clone" || { bad "git clone"; exit 1; }
[ ! -e "$tmp/shared" ] && ok "nothing beside the clone" || bad "a shared folder beside the clone"

# The clone's stack: other ports, one broker, this checkout's build.
clone_env=(PSOP_KAFKA_PORT=$((base + 92)) PSOP_PG_PORT=$((base + 32)) PSOP_REDIS_PORT=$((base + 79))
  PSOP_HAPROXY_PORT=$((base + 80)) PSOP_API_PORTS="$((base + 81)) $((base + 82))"
  PSOP_KAFKA_NODES=1 PSOP_BUILD="$main_build")
# A shell that never saw this checkout's stack.env.
fresh() { (cd "$clone" && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME="$HOME" LANG=C.UTF-8 "$@"); }

t0=$(date +%s)
if fresh env "${clone_env[@]}" scripts/dev up >"$tmp/up.log" 2>&1; then
  ok "scripts/dev up in the clone ($(($(date +%s) - t0)) s)"
else
  bad "scripts/dev up in the clone"
  tail -30 "$tmp/up.log"
  exit 1
fi
# shellcheck disable=SC1091
clone_stack=$(. "$clone/.run/ports.env"; echo "$PSOP_API_STACK_ID")
clone_pg=$(. "$clone/.run/ports.env"; echo "$PSOP_PG_STATE")
case "$clone_pg" in
  "$clone"/*) bad "PostgreSQL data inside the clone ($clone_pg), where postgres cannot go" ;;
  *) [ -f "$clone_pg/data/PG_VERSION" ] && [ "$(stat -c %U "$clone_pg/data")" = postgres ] \
       && ok "PostgreSQL data outside the clone, owned by postgres ($clone_pg)" \
       || bad "no PostgreSQL data owned by postgres at $clone_pg" ;;
esac
[ "$clone_stack" != "$main_stack" ] && ok "the two stacks have their own ids ($main_stack, $clone_stack)" \
  || bad "both stacks are named $main_stack"
if fresh scripts/dev status >"$tmp/status.log" 2>&1 && grep -q "api-1 .*running" "$tmp/status.log" \
  && grep -q "postgres .*running" "$tmp/status.log"; then
  ok "scripts/dev status in a fresh shell sees the clone's stack"
else
  bad "scripts/dev status"; cat "$tmp/status.log"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((base + 80))/readyz")
[ "$code" = 200 ] && ok "the clone's api answers through its HAProxy" || bad "the clone's HAProxy /readyz: $code"

# Who answers a replica port: the Psop-Stack header of /healthz, n times.
stack_on() { # stack_on PORT N -> the distinct stack ids seen
  local i
  for ((i = 0; i < $2; i++)); do
    curl -s -D - -o /dev/null "http://127.0.0.1:$1/healthz" | tr -d '\r' | awk -F': ' 'tolower($1)=="psop-stack"{print $2}'
  done | sort -u | tr '\n' ' '
}
main_pids() { cat "$root"/.run/pids/api-*.pid 2>/dev/null | sort | tr '\n' ' '; }
pids_before=$(main_pids)

# Load on this checkout's stack for as long as the clone rolls.
load_log=$tmp/load.txt
: >"$load_log"
(
  while [ ! -f "$tmp/stop" ]; do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "http://127.0.0.1:$main_haproxy/readyz" >>"$load_log"
    for p in $main_api_ports; do stack_on "$p" 1 >>"$tmp/seen-$p.txt"; echo >>"$tmp/seen-$p.txt"; done
    sleep 0.05
  done
) &
load_pid=$!

t0=$(date +%s)
fresh scripts/dev rollout api >"$tmp/rollout-api.log" 2>&1 && ok "the clone's rollout api from a fresh shell ($(($(date +%s) - t0)) s)" \
  || { bad "the clone's rollout api"; tail -20 "$tmp/rollout-api.log"; }
t0=$(date +%s)
fresh scripts/dev rollout workers voucher >"$tmp/rollout-workers.log" 2>&1 && ok "the clone's rollout workers voucher from a fresh shell ($(($(date +%s) - t0)) s)" \
  || { bad "the clone's rollout workers"; tail -20 "$tmp/rollout-workers.log"; }
touch "$tmp/stop"
wait "$load_pid" 2>/dev/null

total=$(wc -l <"$load_log")
failed=$(grep -vc '^200$' "$load_log")
[ "$total" -gt 20 ] && [ "$failed" -eq 0 ] && ok "this checkout's stack during the clone's rollouts: $total requests, $failed failed" \
  || bad "this checkout's stack during the clone's rollouts: $total requests, $failed failed"
for p in $main_api_ports; do
  seen=$(tr ' ' '\n' <"$tmp/seen-$p.txt" | grep -v '^$' | sort -u | tr '\n' ' ')
  [ "$seen" = "$main_stack " ] && ok "port $p answered only by $main_stack during the rollouts" \
    || bad "port $p answered by: $seen(expected $main_stack only)"
  after=$(stack_on "$p" 20)
  [ "$after" = "$main_stack " ] && ok "port $p after the rollouts: 20 of 20 answers from $main_stack" \
    || bad "port $p after the rollouts answered by: $after"
done
[ "$(main_pids)" = "$pids_before" ] && ok "this checkout's replicas untouched (pids $pids_before)" \
  || bad "this checkout's replica pids changed: $pids_before -> $(main_pids)"
for p in $((base + 81)) $((base + 82)); do
  s=$(stack_on "$p" 10)
  [ "$s" = "$clone_stack " ] && ok "the clone's replica back on its own port $p" || bad "clone port $p answered by: $s"
done

# Down: nothing of the clone runs; --wipe: its PostgreSQL state is gone.
fresh scripts/dev down >"$tmp/down.log" 2>&1 || bad "scripts/dev down in the clone"
left=0
for f in "$clone"/.run/pids/*.pid; do
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && left=$((left + 1))
done
for p in 32 79 80 81 82 92; do port_free $((base + p)) || left=$((left + 1)); done
[ $left -eq 0 ] && ok "down: nothing of the clone runs, its ports are free" || bad "down: $left processes or ports of the clone left"
fresh scripts/dev down --wipe >/dev/null 2>&1
[ ! -e "$clone_pg" ] && [ ! -e "$clone/.run" ] && ok "down --wipe removed $clone_pg and .run" || bad "down --wipe left $clone_pg or .run"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$main_haproxy/readyz")
[ "$code" = 200 ] && ok "this checkout's stack still answers" || bad "this checkout's stack: $code"

echo "private-clone: $fails failed"
[ $fails -eq 0 ]
