#!/bin/sh
# postgres-entrypoint - PostgreSQL 15 of psop/postgres (docker/postgres/Dockerfile).
# First start (no $PGDATA/PG_VERSION): initdb with superuser POSTGRES_USER
# (default postgres) and POSTGRES_PASSWORD, password (scram-sha-256) for every
# TCP connection, trust on the container's own socket; database POSTGRES_DB.
# Every later start with POSTGRES_PASSWORD set makes it the user's password
# again (the environment is the truth: a rotated secret, or a volume kept
# from a checkout whose generated password is gone, still lets the services
# in). Then exec postgres with the arguments (postgres options, e.g. -c k=v).
set -eu
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (first start)}"
  echo "postgres-entrypoint: initdb $PGDATA (user $user, database $db)" >&2
  pw=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pw"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pw" --auth-local=trust --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pw"
  cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
unix_socket_directories = '/run/postgresql'
CONF
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\"" | postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
elif [ -n "${POSTGRES_PASSWORD:-}" ]; then
  # Single-user mode, before the server listens: no connection sees the old
  # password after this start. Quotes in the password doubled for SQL.
  quoted=$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")
  printf "ALTER ROLE \"%s\" PASSWORD '%s'\n" "$user" "$quoted" \
    | postgres --single -D "$PGDATA" -j postgres >/dev/null \
    || { echo "postgres-entrypoint: could not set the password of $user" >&2; exit 1; }
  echo "postgres-entrypoint: password of $user set from POSTGRES_PASSWORD" >&2
fi
exec postgres -D "$PGDATA" "$@"
