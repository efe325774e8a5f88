#!/usr/bin/python3
"""GET /metrics of running api replicas, parsed by prometheus_client's own
text-format parser (Debian's python3-prometheus-client, hence /usr/bin/python3).

  check_metrics.py PORT...     the api replicas' ports ($PSOP_API_PORTS)

For each replica: sends requests a user could send (a health check, an
unknown path, an unauthenticated read), scrapes /metrics twice around them,
and checks that
  * the answer is 200 with Content-Type text/plain; version=0.0.4;
  * prometheus_client parses every line (text_string_to_metric_families);
  * every family has a TYPE and HELP, no sample (name + labels) is repeated;
  * histograms: buckets ascend in le, counts never decrease, +Inf = _count,
    and _sum and _count exist for each label set;
  * the families docs/operations.md names are there with their types;
  * the counters moved by what was sent (the unknown path's 404).
The psop workers expose no metrics (they log JSON lines and touch a
heartbeat file); only the api is scraped. Last line "N passed, N failed".
"""
import http.client
import math
import sys
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

EXPECTED = {
    "psop_api_requests": "counter",
    "psop_api_request_duration_seconds": "histogram",
    "psop_api_produce_errors": "counter",
    "psop_api_requests_in_flight": "gauge",
    "psop_api_ready": "gauge",
}


def get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read().decode("utf-8")
    finally:
        c.close()


def scrape(port):
    """(problems, families by name) of one scrape."""
    status, ctype, text = get(port, "/metrics")
    bad = []
    if status != 200:
        return [f"/metrics answered {status}"], {}
    if not ctype.startswith("text/plain") or "version=0.0.4" not in ctype:
        bad.append(f"Content-Type {ctype!r}, want text/plain; version=0.0.4")
    helps = sum(1 for line in text.splitlines() if line.startswith("# HELP "))
    types = sum(1 for line in text.splitlines() if line.startswith("# TYPE "))
    try:
        families = {f.name: f for f in text_string_to_metric_families(text)}
    except Exception as e:  # the parser's own verdict: ValueError and friends
        return [f"prometheus_client cannot parse it: {e!r}"], {}
    if helps != len(families) or types != len(families):
        bad.append(f"{len(families)} families, {helps} HELP and {types} TYPE lines")
    for f in families.values():
        if f.type == "unknown":
            bad.append(f"{f.name}: no TYPE")
        seen = set()
        for s in f.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in seen:
                bad.append(f"{s.name}{s.labels}: repeated")
            seen.add(key)
            if math.isnan(s.value) or s.value < 0 and f.type in ("counter", "histogram"):
                bad.append(f"{s.name}{s.labels}: value {s.value}")
        if f.type == "histogram":
            bad += check_histogram(f)
    return bad, families


def check_histogram(f):
    bad = []
    groups = defaultdict(lambda: {"buckets": [], "sum": None, "count": None})
    for s in f.samples:
        labels = {k: v for k, v in s.labels.items() if k != "le"}
        g = groups[tuple(sorted(labels.items()))]
        if s.name.endswith("_bucket"):
            g["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_sum"):
            g["sum"] = s.value
        elif s.name.endswith("_count"):
            g["count"] = s.value
    for key, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        counts = [c for _, c in g["buckets"]]
        where = f"{f.name}{dict(key)}"
        if les != sorted(les) or not les or les[-1] != math.inf:
            bad.append(f"{where}: buckets not ascending to +Inf: {les}")
        if any(b < a for a, b in zip(counts, counts[1:])):
            bad.append(f"{where}: bucket counts decrease: {counts}")
        if g["sum"] is None or g["count"] is None:
            bad.append(f"{where}: no _sum or _count")
        elif counts and counts[-1] != g["count"]:
            bad.append(f"{where}: +Inf bucket {counts[-1]} != _count {g['count']}")
    return bad


def requests_total(families, route, status):
    f = families.get("psop_api_requests")
    if not f:
        return 0
    return sum(s.value for s in f.samples
               if s.labels.get("route") == route and s.labels.get("status") == str(status))


def check_replica(port):
    """Yields (what, None | why)."""
    bad, before = scrape(port)
    yield f"api :{port} first scrape", "; ".join(bad) or None
    get(port, "/healthz")
    unknown = [get(port, "/no/such/path")[0] for _ in range(3)]
    get(port, "/v1/commands/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")  # no token: 401
    bad, after = scrape(port)
    yield f"api :{port} second scrape", "; ".join(bad) or None
    for name, typ in EXPECTED.items():
        f = after.get(name)
        yield f"api :{port} family {name}", None if f and f.type == typ else \
            f"missing or not a {typ}: {f.type if f else 'absent'}"
    st = unknown[0]
    moved = requests_total(after, "unmatched", st) - requests_total(before, "unmatched", st)
    yield (f"api :{port} counts the unknown path's {st}",
           None if moved >= 3 else f"psop_api_requests_total{{route=\"unmatched\",status=\"{st}\"}}"
           f" moved by {moved}, want >= 3")


def main():
    ports = [int(p) for a in sys.argv[1:] for p in a.split()]
    if not ports:
        print("usage: check_metrics.py PORT...\n0 passed, 1 failed")
        return 1
    passed = failed = 0
    for port in ports:
        try:
            results = list(check_replica(port))
        except OSError as e:
            results = [(f"api :{port}", f"cannot reach it: {e}")]
        for what, why in results:
            if why is None:
                passed += 1
            else:
                failed += 1
                print(f"FAIL {what}: {why}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
