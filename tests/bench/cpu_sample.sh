#!/usr/bin/env bash
# tests/bench/cpu_sample.sh SECONDS - CPU used per process group during an
# interval (no pidstat on the dev box): reads utime+stime of every process
# from /proc at the start and the end, names the stack's processes from
# .run/pids/*.pid (api-1, worker-voucher-2, ...), groups PostgreSQL backends,
# (this stack's by its postmaster, other stacks' apart), and prints the groups using >= 1 % of one core, busiest first,
# then the whole machine's busy, idle, iowait and steal time (steal: CPU the hypervisor gave elsewhere).
# Run it next to psop-bench-e2e: tests/bench/cpu_sample.sh 20 & psop-bench-e2e ...
set -euo pipefail
secs=${1:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
hz=$(getconf CLK_TCK)
snap() {
  for d in /proc/[0-9]*; do
    [ -r "$d/stat" ] || continue
    # fields after the ")" : state(3) ... utime(14) stime(15)
    s=$(cat "$d/stat" 2>/dev/null) || continue
    rest=${s##*) }
    set -- $rest
    echo "${d#/proc/} $(( ${12} + ${13} ))"
  done
}
name_of() {
  local pid=$1 f comm ppid
  for f in "$root"/.run/pids/*.pid; do
    [ "$(cat "$f" 2>/dev/null)" = "$pid" ] && { basename "$f" .pid; return; }
  done
  comm=$(cat /proc/$pid/comm 2>/dev/null || echo gone)
  case $comm in
    postgres) # backends are children of the stack's postmaster; other stacks' are "other"
      ppid=$(awk '{print $4}' /proc/$pid/stat 2>/dev/null || echo 0)
      if [ "$ppid" = "$(cat "$root/.run/pids/postgres.pid" 2>/dev/null)" ]; then echo "postgres (stack)"; else echo "postgres (other)"; fi ;;
    psop-*) echo "$comm (other)" ;;
    java) if grep -q "$root" /proc/$pid/cmdline 2>/dev/null; then echo "kafka (stack)"; else echo "java (other)"; fi ;;
    *) echo "$comm" ;;
  esac
}
a=$(mktemp); b=$(mktemp)
cpu0=$(head -1 /proc/stat)
snap >"$a"; sleep "$secs"; snap >"$b"
cpu1=$(head -1 /proc/stat)
join <(sort "$a") <(sort "$b") | while read -r pid t0 t1; do
  d=$((t1 - t0)); if [ $d -gt 0 ]; then echo "$(name_of "$pid")|$d"; fi
done | awk -F'|' -v hz="$hz" -v s="$secs" '{c[$1]+=$2} END {for (k in c) { p=100*c[k]/hz/s; if (p>=1) printf "%6.1f%%  %s\n", p, k }}' | sort -rn
rm -f "$a" "$b"
# The whole machine over the same interval, in % of all its cores: on a
# virtual machine the hypervisor's "steal" is CPU the stack did not get.
echo "$cpu0" "$cpu1" | awk '{ for (i = 2; i <= 11; i++) d[i] = $(i + 11) - $i
  tot = 0; for (i = 2; i <= 9; i++) tot += d[i]; if (tot <= 0) exit
  printf "machine: busy %.0f%%  idle %.0f%%  iowait %.0f%%  steal %.0f%% (of all cores)\n",
    100 * (d[2] + d[3] + d[4] + d[7] + d[8]) / tot, 100 * d[5] / tot, 100 * d[6] / tot, 100 * d[9] / tot }'
