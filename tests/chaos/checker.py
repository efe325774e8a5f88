#!/usr/bin/env python3
"""checker.py - the set checker of the fault scenarios (scripts/chaos).

Reads the record file written by psop-chaos-load (one line per request:
seq event_id voucher_id quantity_h sent_epoch_ms status latency_ms command_id)
and compares it with PostgreSQL, the source of truth, after letting the
workers settle:

  acknowledged   status 202: the front said the command is stored
  indeterminate  no answer in time (0), the connection broke (-1), or a 5xx
                 that names its command_id ("outcome": "unknown": Kafka did
                 not acknowledge in time, the command may still be stored)
                 ; or a balancer's 502/504 (the replica died holding the
                 request, which it may have published)
  refused        4xx/5xx, or never sent (-2)

  lost        acknowledged, but neither its command nor its service event
              was applied
  duplicated  a service event applied by more than one command, or a voucher
              whose read model (GET /v1/vouchers/{id}, what users see) counts
              other events or quantities than PostgreSQL holds
  unexpected  a service event on the scenario's vouchers that no
              acknowledged or indeterminate request asked for
  rejected    acknowledged and applied as a business rejection (reported; the
              scenario data makes every command valid, so it is a failure too)
  events_unpublished
              outbox rows of the run's applied commands (the events
              integrations subscribe to) that no broker acknowledged within
              --events-wait seconds after the settle: the worker's own send,
              or the relay's after a fault, must get every one out
  access_records_lost / access_records_doubled
              a command about a client has exactly one access record
              (docs/domain.md): the records in psop.access_log of the load's
              commands on the scenario's vouchers (action command, by a
              provider, at or after the run's start), against the run's
              commands that have a verdict, within --events-wait seconds

Prints one JSON line; exits 1 when lost, duplicated, unexpected, rejected,
events_unpublished, access_records_lost or access_records_doubled is not zero, or when --max-error-rate / --max-status rules are broken.

  checker.py --records run.tsv --vouchers V1,V2 [--settle 120]
             [--max-error-rate 0] [--forbid-status 202-when-down ...]
Needs PSOP_PG_DSN; PSOP_API_URL and PSOP_CHAOS_READ_TOKEN for the read check.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request


def psql(sql):
    dsn = os.environ["PSOP_PG_DSN"]
    r = subprocess.run(["psql", dsn, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                       input=sql, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("psql: " + r.stderr.strip())
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def read_records(path):
    recs = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) != 8:
                continue
            recs.append({"seq": int(p[0]), "event": p[1], "voucher": p[2], "qty": int(p[3]),
                         "sent_ms": float(p[4]), "status": int(p[5]), "latency_ms": float(p[6]),
                         "cid": None if p[7] == "-" else p[7]})
    return recs


def uuid_array(ids):
    return "'{" + ",".join(ids) + "}'::uuid[]"


def fetch(vouchers, since_ms):
    events = psql("SELECT id, voucher_id, quantity FROM psop.service_events WHERE voucher_id = ANY(%s);"
                  % uuid_array(vouchers))
    # Commands of the run: received after it started (minus clock slack).
    pcs = psql("SELECT command_id, status, coalesce(reason, ''), coalesce(resource_id, ''), "
               "extract(epoch FROM applied_at) * 1000 FROM psop.processed_commands "
               "WHERE type = 'service_event.record' AND received_at >= to_timestamp(%f);"
               % (since_ms / 1000.0 - 60))
    return events, pcs


def unpublished_events(command_ids, since_ms, wait_s):
    """(unpublished, total) outbox rows of the commands after up to wait_s."""
    if not command_ids:
        return 0, 0
    ids = "'{" + ",".join(command_ids) + "}'::text[]"
    deadline = time.time() + wait_s
    while True:
        row = psql("SELECT count(*) FILTER (WHERE published_at IS NULL), count(*) FROM psop.outbox "
                   "WHERE created_at >= to_timestamp(%f) AND payload->>'psopcommandid' = ANY(%s);"
                   % (since_ms / 1000.0 - 60, ids))[0]
        left, total = int(row[0]), int(row[1])
        if left == 0 or time.time() > deadline:
            return left, total
        time.sleep(1)


def access_records(vouchers, since_ms, want, wait_s):
    """The access records of the load's commands on the vouchers, waiting up
    to wait_s for them to reach want (the audit worker writes them a moment
    after the verdict, and a relay's after a fault)."""
    ids = "'{" + ",".join(vouchers) + "}'::text[]"
    deadline = time.time() + wait_s
    while True:
        n = int(psql("SELECT count(*) FROM psop.access_log WHERE action = 'command' "
                     "AND resource_type = 'voucher' AND actor_role = 'provider' "
                     "AND resource_id = ANY(%s) AND at >= to_timestamp(%f);"
                     % (ids, since_ms / 1000.0 - 1))[0][0])
        if n >= want or time.time() > deadline:
            return n
        time.sleep(1)


def read_model_check(vouchers, events, month):
    """The voucher read (Redis, else PostgreSQL) must count what PostgreSQL holds."""
    url = os.environ.get("PSOP_API_URL")
    tok = os.environ.get("PSOP_CHAOS_READ_TOKEN")
    if not url or not tok:
        return [], False
    pg = {}
    for e in events:
        n, q = pg.get(e[1], (0, 0))
        pg[e[1]] = (n + 1, q + int(e[2]))
    bad = []
    for v in vouchers:
        req = urllib.request.Request(url + "/v1/vouchers/" + v + "?month=" + month, headers={"Authorization": "Bearer " + tok})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                doc = json.load(r)
        except Exception as ex:  # noqa: BLE001 - reported, not raised
            bad.append({"voucher": v, "error": str(ex)})
            continue
        n = int(doc.get("events", 0))
        q = round(float(doc.get("used_quantity", 0)) * 100)
        want = pg.get(v, (0, 0))
        if (n, q) != want:
            bad.append({"voucher": v, "read_events": n, "read_quantity_h": q,
                        "pg_events": want[0], "pg_quantity_h": want[1]})
    return bad, True


def pctl(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[int(p * (len(xs) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", required=True)
    ap.add_argument("--vouchers", required=True)
    ap.add_argument("--settle", type=float, default=120, help="seconds to wait for the workers")
    ap.add_argument("--scenario", default="")
    ap.add_argument("--month", default="2026-11", help="the month of the events (the load's --date)")
    ap.add_argument("--max-error-rate", type=float, default=None)
    ap.add_argument("--events-wait", type=float, default=60,
                    help="seconds for every event of the run to be acknowledged by a broker")
    ap.add_argument("--read-retries", type=int, default=60,
                    help="read model checks, 1 s apart, before a mismatch counts")
    args = ap.parse_args()
    vouchers = [v for v in args.vouchers.split(",") if v]
    recs = read_records(args.records)
    if not recs:
        print(json.dumps({"scenario": args.scenario, "error": "no records"}))
        return 1
    since = min(r["sent_ms"] for r in recs)
    acked = [r for r in recs if r["status"] == 202]
    # A 5xx naming its command (the front sent it to Kafka and got no
    # acknowledgement in time) is indeterminate too: it may be stored.
    # So is a balancer's 502/504 (the replica died or hung with the request:
    # it may have published it before).
    indet = [r for r in recs if r["status"] in (0, -1, 502, 504) or (r["status"] >= 500 and r["cid"])]
    indet_seqs = {r["seq"] for r in indet}
    refused = [r for r in recs if r["status"] != 202 and r["seq"] not in indet_seqs]

    # Settle: every acknowledged command applied (or its event present), and
    # nothing changing any more for 3 s.
    deadline = time.time() + args.settle
    last, stable_since = None, time.time()
    while True:
        events, pcs = fetch(vouchers, since)
        ev_ids = {e[0] for e in events}
        pc_ids = {p[0] for p in pcs}
        missing = sum(1 for r in acked if r["cid"] not in pc_ids and r["event"] not in ev_ids)
        state = (len(events), len(pcs))
        if state != last:
            last, stable_since = state, time.time()
        if (missing == 0 and time.time() - stable_since >= 3) or time.time() > deadline:
            break
        time.sleep(1)

    by_cid = {p[0]: p for p in pcs}
    applied_by_event = {}
    for p in pcs:
        if p[1] == "applied" and p[3]:
            applied_by_event[p[3]] = applied_by_event.get(p[3], 0) + 1
    lost, rejected, apply_lat = [], [], []
    for r in acked:
        p = by_cid.get(r["cid"])
        if p is None and r["event"] not in ev_ids:
            lost.append(r["event"])
            continue
        if p is not None and p[1] == "rejected" and r["event"] not in ev_ids:
            rejected.append({"event": r["event"], "reason": p[2][:200]})
        if p is not None:
            apply_lat.append(float(p[4]) - r["sent_ms"])
    dup_events = [e for e, n in applied_by_event.items() if n > 1]
    asked = {r["event"] for r in acked} | {r["event"] for r in indet}
    unexpected = sorted(ev_ids - asked)

    mismatch, checked = [], False
    for _ in range(max(1, args.read_retries)):
        mismatch, checked = read_model_check(vouchers, events, args.month)
        if not mismatch:
            break
        time.sleep(1)
        # PostgreSQL again: an indeterminate command applied since the
        # snapshot is in the read model too, and is no mismatch.
        events, _ = fetch(vouchers, since)

    unpublished, outbox_rows = unpublished_events([p[0] for p in pcs], since, args.events_wait)

    # One access record per command of the load that has a verdict: known by
    # its command id, or, where no answer named it, by its event id.
    run_cids = {r["cid"] for r in recs if r["cid"]}
    run_events = {r["event"] for r in recs}
    with_verdict = sum(1 for p in pcs if p[0] in run_cids or p[3] in run_events)
    n_access = access_records(vouchers, since, with_verdict, args.events_wait)

    n = len(recs)
    errors = n - len(acked)
    lat = [r["latency_ms"] for r in recs if r["status"] > 0]
    indet_applied = sum(1 for r in indet if r["event"] in ev_ids)
    res = {
        "scenario": args.scenario,
        "sent": n,
        "acknowledged": len(acked),
        "indeterminate": len(indet),
        "indeterminate_applied": indet_applied,
        "refused": len(refused),
        "refused_by_status": {},
        "lost": len(lost),
        "duplicated": len(dup_events) + len(mismatch),
        "duplicated_events": len(dup_events),
        "read_model_mismatch": mismatch[:5],
        "read_model_checked": checked,
        "unexpected": len(unexpected),
        "rejected": len(rejected),
        "events": outbox_rows,
        "events_unpublished": unpublished,
        "access_records": n_access,
        "access_records_lost": max(0, with_verdict - n_access),
        "access_records_doubled": max(0, n_access - with_verdict),
        "error_rate": round(errors / n, 5) if n else 0,
        "latency_ms": {"p50": round(pctl(lat, 0.5), 1), "p99": round(pctl(lat, 0.99), 1),
                       "max": round(max(lat) if lat else 0, 1)},
        "apply_latency_ms": {"p50": round(pctl(apply_lat, 0.5), 1),
                             "p99": round(pctl(apply_lat, 0.99), 1),
                             "max": round(max(apply_lat) if apply_lat else 0, 1)},
        "examples": {"lost": lost[:3], "unexpected": unexpected[:3], "duplicated": dup_events[:3],
                     "rejected": rejected[:3]},
    }
    for r in refused:
        k = str(r["status"])
        res["refused_by_status"][k] = res["refused_by_status"].get(k, 0) + 1
    print(json.dumps(res))
    ok = (res["lost"] == 0 and res["duplicated"] == 0 and res["unexpected"] == 0 and res["rejected"] == 0
          and res["events_unpublished"] == 0 and res["access_records_lost"] == 0
          and res["access_records_doubled"] == 0)
    if args.max_error_rate is not None and res["error_rate"] > args.max_error_rate:
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
