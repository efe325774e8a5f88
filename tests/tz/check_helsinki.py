#!/usr/bin/env python3
"""lib/core/date.c's Europe/Helsinki clock against tzdata, every day of 1990-2100.

lib/core/date.c computes Helsinki's UTC offset from the EU summer-time rule
without tzdata. This runs $PSOP_BUILD/tests/tz/psop-tz-helsinki (see
tests/tz/helsinki_offsets.c for its output) and computes the same line for
each day with Python's zoneinfo (the system tzdata, Debian's tzdata package):
the offset at hh:00:00 and hh:59:59 UTC of every hour and the civil date at
four instants around local midnight. Any difference fails; the last line is
"N passed, N failed" (days).
  check_helsinki.py [FIRST_YEAR LAST_YEAR]
"""
import datetime
import os
import subprocess
import sys
import zoneinfo

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD_DIR = os.environ.get("PSOP_BUILD") or os.path.join(HERE, "..", "..", "build")
DUMP = os.path.join(BUILD_DIR, "tests", "tz", "psop-tz-helsinki")
NEAR_MIDNIGHT = (20 * 3600 + 3599, 21 * 3600, 21 * 3600 + 3599, 22 * 3600)


def tzdata_line(day, tz):
    t0 = int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc).timestamp())
    at = lambda t: datetime.datetime.fromtimestamp(t, tz)  # noqa: E731
    offsets = "".join(str(int(at(t0 + s).utcoffset().total_seconds()) // 3600)
                      for h in range(24) for s in (h * 3600, h * 3600 + 3599))
    dates = " ".join(at(t0 + s).date().isoformat() for s in NEAR_MIDNIGHT)
    return f"{day.isoformat()} {offsets} {dates}"


def main():
    first, last = (int(a) for a in sys.argv[1:3]) if len(sys.argv) == 3 else (1990, 2100)
    tz = zoneinfo.ZoneInfo("Europe/Helsinki")
    if not os.access(DUMP, os.X_OK):
        print(f"FAIL {DUMP} not built (set PSOP_BUILD)\n0 passed, 1 failed")
        return 1
    ours = subprocess.run([DUMP, str(first), str(last)], capture_output=True, text=True, check=True)
    lines = ours.stdout.splitlines()
    day = datetime.date(first, 1, 1)
    want_days = (datetime.date(last, 12, 31) - day).days + 1
    passed = failed = 0
    if len(lines) != want_days:
        print(f"FAIL {len(lines)} lines for {want_days} days")
        failed += 1
    for line in lines:
        want = tzdata_line(day, tz)
        if line == want:
            passed += 1
        else:
            failed += 1
            if failed <= 20:
                print(f"FAIL {day}:\n  ours   {line}\n  tzdata {want}")
        day += datetime.timedelta(days=1)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
