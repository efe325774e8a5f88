#!/bin/sh
# psop-batch-schedule - runs psop-batch once a day at BATCH_AT (HH:MM, default
# 02:15) in BATCH_TZ (default Europe/Helsinki): the compose file's stand-in for
# cron (docs/batch.md, docs/deployment.md). Kubernetes uses a CronJob instead.
# Arguments are passed to psop-batch. SIGTERM while waiting exits at once;
# during a run, psop-batch gets it too (the same process group) and stops.
set -u
at=${BATCH_AT:-02:15}
tz=${BATCH_TZ:-Europe/Helsinki}
case "$at" in
  [0-2][0-9]:[0-5][0-9]) ;;
  *) echo "psop-batch-schedule: BATCH_AT must be HH:MM, not '$at'" >&2; exit 2 ;;
esac
TZ=$tz date -d "today $at" +%s >/dev/null 2>&1 || { echo "psop-batch-schedule: BATCH_AT '$at' is not a time of day" >&2; exit 2; }
[ -f "/usr/share/zoneinfo/$tz" ] || { echo "psop-batch-schedule: unknown BATCH_TZ '$tz'" >&2; exit 2; }
bin=${BATCH_BIN:-/usr/local/bin/psop-batch}

trap 'exit 0' TERM INT
while :; do
  now=$(date +%s)
  next=$(TZ=$tz date -d "today $at" +%s)
  [ "$next" -gt "$now" ] || next=$(TZ=$tz date -d "tomorrow $at" +%s)
  echo "psop-batch-schedule: next run at $(TZ=$tz date -d "@$next" '+%Y-%m-%d %H:%M %Z')" >&2
  # sleep in the background so that TERM is handled at once
  sleep $((next - now)) &
  wait $!
  "$bin" "$@"
  rc=$?
  # 1: a command was rejected or not applied (logged); a rerun is harmless.
  [ $rc -eq 0 ] || echo "psop-batch-schedule: psop-batch exited $rc" >&2
done
