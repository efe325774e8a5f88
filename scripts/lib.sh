# shellcheck shell=bash
# Shared helpers of scripts/dev, scripts/kafka-node and scripts/test.
# Sourced, never run. Every process we start gets a pid file under $PSOP_RUN/pids
# and is stopped by that PID only.

PSOP_ROOT=${PSOP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PSOP_RUN=${PSOP_RUN:-$PSOP_ROOT/.run}
PSOP_CACHE=${PSOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/psop}
KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
KAFKA_LIBS=$PSOP_CACHE/kafka-$KAFKA_VERSION/libs

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------ the stack's record
# `scripts/dev up` records the stack's ports and identity in .run/ports.env.
# While any process of the stack runs, that record is what every verb and
# script of this checkout uses (a PSOP_*_PORT in the caller's environment
# that differs is ignored, with a warning): a rollout started from a new
# shell must never start a replica on another stack's port. When nothing
# runs, the environment may choose new ports and `up` records them.
PSOP_STACK_VARS=(PSOP_KAFKA_PORT PSOP_KAFKA_NODES PSOP_PG_PORT PSOP_REDIS_PORT PSOP_HAPROXY_PORT
  PSOP_API_PORTS PSOP_API_STACK_ID PSOP_PG_STATE PSOP_BUILD)
PSOP_PORTS_FILE=$PSOP_RUN/ports.env

psop_stack_running() { # any process with a pid file here is alive
  local f
  for f in "$PSOP_RUN"/pids/*.pid; do
    [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && return 0
  done
  return 1
}

psop_load_record() {
  [ -f "$PSOP_PORTS_FILE" ] || return 0
  local running=1 line k v
  psop_stack_running && running=0
  while IFS= read -r line; do
    case "$line" in PSOP_*=*) ;; *) continue ;; esac
    k=${line%%=*}
    v=${line#*=}
    v=${v#\"}
    v=${v%\"}
    if [ $running -eq 0 ]; then
      if [ -n "${!k:-}" ] && [ "${!k}" != "$v" ]; then
        printf 'note: %s=%s ignored: the stack in %s runs with %s\n' "$k" "${!k}" "$PSOP_RUN" "$v" >&2
      fi
      printf -v "$k" '%s' "$v"
    elif [ -z "${!k:-}" ]; then
      printf -v "$k" '%s' "$v"
    fi
  done <"$PSOP_PORTS_FILE"
}
psop_load_record
PSOP_BUILD=${PSOP_BUILD:-$PSOP_ROOT/build}

# Ports of the project's own services (not the system ones on 5432/6379).
PSOP_KAFKA_PORT=${PSOP_KAFKA_PORT:-19092}
PSOP_PG_PORT=${PSOP_PG_PORT:-15432}
PSOP_REDIS_PORT=${PSOP_REDIS_PORT:-16379}
PSOP_HAPROXY_PORT=${PSOP_HAPROXY_PORT:-18080}
PSOP_API_PORTS=${PSOP_API_PORTS:-"18081 18082"}
# Kafka nodes of the local stack: 3 (replication 3, min.insync.replicas 2, as
# deployed), or 1 for a lighter stack. Node I listens on PSOP_KAFKA_PORT+2(I-1)
# (controller one above): 19092, 19094, 19096 by default.
PSOP_KAFKA_NODES=${PSOP_KAFKA_NODES:-3}
# Names this stack's api replicas (api/port_guard.h): one per checkout, made
# at the first `up` and kept in the record.
PSOP_API_STACK_ID=${PSOP_API_STACK_ID:-$(basename "$PSOP_ROOT" | tr -cd 'A-Za-z0-9._-' | cut -c1-40)-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')}
export PSOP_KAFKA_PORT PSOP_PG_PORT PSOP_REDIS_PORT PSOP_HAPROXY_PORT PSOP_API_PORTS PSOP_API_STACK_ID

psop_save_record() {
  mkdir -p "$PSOP_RUN"
  local k tmp=$PSOP_PORTS_FILE.tmp
  {
    echo "# Written by scripts/dev up: this stack's ports and identity (scripts/lib.sh)."
    for k in "${PSOP_STACK_VARS[@]}"; do
      [ -n "${!k:-}" ] && printf '%s="%s"\n' "$k" "${!k}"
    done
  } >"$tmp"
  mv "$tmp" "$PSOP_PORTS_FILE"
}

# Debian packages the project needs to build, run and test.
PSOP_PACKAGES=(
  build-essential cmake pkg-config git
  librdkafka-dev libmicrohttpd-dev libhiredis-dev libjwt-dev libjansson-dev libpq-dev
  libssl-dev libcriterion-dev clang libclang-rt-14-dev libpcre2-dev libcurl4-openssl-dev
  postgresql postgresql-contrib redis-server haproxy
  openjdk-17-jre-headless maven kcat jq curl libxml2-utils
  python3 python3-jsonschema python3-yaml python3-prometheus-client iproute2 procps socat
  ca-certificates tzdata clang-format
)

# What scripts/containers needs on the host (scripts/test runs it too): Podman
# with runc (crun fails on some cgroup layouts), netavark and aardvark-dns (the
# compose network and its DNS), docker-compose (1.29, against Podman's API
# socket), debootstrap (the base image).
PSOP_CONTAINER_PACKAGES=(
  podman runc netavark aardvark-dns iptables catatonit uidmap slirp4netns fuse-overlayfs
  docker-compose debootstrap
)

ensure_packages() { # ensure_packages [PACKAGE...]: PSOP_PACKAGES by default
  local want=("$@")
  [ ${#want[@]} -gt 0 ] || want=("${PSOP_PACKAGES[@]}")
  local missing=()
  local p
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed for: ${missing[*]}"
}

ensure_kafka_jars() {
  [ -f "$KAFKA_LIBS/.complete" ] && return 0
  say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_LIBS"
  mkdir -p "$KAFKA_LIBS" "$PSOP_CACHE"
  mvn -q -B -f "$PSOP_ROOT/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime \
    >"$PSOP_CACHE/mvn-kafka.log" 2>&1 || { tail -20 "$PSOP_CACHE/mvn-kafka.log" >&2; die "mvn could not fetch the Kafka jars"; }
  touch "$KAFKA_LIBS/.complete"
}

build_project() {
  local dir=${1:-$PSOP_BUILD}
  shift || true
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S "$PSOP_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null || die "cmake configure failed"
  fi
  cmake --build "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1 || { tail -40 "$dir/build.log" >&2; die "build failed (log: $dir/build.log)"; }
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# start_bg NAME CMD... : runs CMD in its own session, logs to $PSOP_RUN/logs/NAME.log
start_bg() {
  local name=$1
  shift
  mkdir -p "$PSOP_RUN/pids" "$PSOP_RUN/logs"
  if pid_alive "$PSOP_RUN/pids/$name.pid"; then return 0; fi
  setsid "$@" >>"$PSOP_RUN/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$PSOP_RUN/pids/$name.pid"
}

# stop_pid NAME [SIGNAL] [WAIT_S]: signals the recorded PID, waits, then KILLs.
stop_pid() {
  local name=$1 sig=${2:-TERM} wait_s=${3:-20}
  local f="$PSOP_RUN/pids/$name.pid"
  [ -f "$f" ] || return 0
  local pid
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -s "$sig" "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < wait_s * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name ($pid) did not stop in ${wait_s}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}

kafka_brokers() { # the stack's broker list: 127.0.0.1:P1,127.0.0.1:P2,...
  local i list=""
  for ((i = 0; i < PSOP_KAFKA_NODES; i++)); do list+=${list:+,}127.0.0.1:$((PSOP_KAFKA_PORT + 2 * i)); done
  echo "$list"
}

wait_tcp() { # wait_tcp PORT SECONDS
  local port=$1 secs=${2:-60} i
  for ((i = 0; i < secs * 5; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
