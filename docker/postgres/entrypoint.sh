#!/bin/sh
# postgres-entrypoint - PostgreSQL 15 of psop/postgres (docker/postgres/Dockerfile).
# First start (no $PGDATA/PG_VERSION): initdb with superuser POSTGRES_USER
# (default postgres) and POSTGRES_PASSWORD, password (scram-sha-256) for every
# TCP connection, trust on the container's own socket; database POSTGRES_DB.
# Then exec postgres with the arguments (postgres options, e.g. -c k=v).
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
fi
exec postgres -D "$PGDATA" "$@"
