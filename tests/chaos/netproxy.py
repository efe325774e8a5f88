#!/usr/bin/env python3
"""netproxy.py - a TCP forwarder that can impair one path (scripts/chaos net-impair).

  netproxy.py [--listen HOST:PORT --to HOST:PORT --delay-ms D --jitter-ms J --loss-pct L]
              [--plain LHOST:LPORT=THOST:TPORT ...]

--listen/--to is the impaired path: every chunk, in each direction, is held
for D +- J ms, and with probability L% for another 200 ms more (what a lost
segment costs TCP: one minimum retransmission timeout). Order is kept, so a
held chunk delays those behind it, as on a real connection. --plain paths are
forwarded as they are. Used when the kernel has no sch_netem (tc netem): see
docs/operations.md. Runs until SIGTERM.
"""
import argparse
import asyncio
import random
import signal

RTO_S = 0.2


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


async def pump(reader, writer, delay, jitter, loss):
    impaired = delay > 0 or jitter > 0 or loss > 0
    q = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def out():
        while True:
            when, data = await q.get()
            if data is None:
                break
            wait = when - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    task = asyncio.create_task(out())
    last = 0.0
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            when = loop.time()
            if impaired:
                when += max(0.0, (delay + random.uniform(-jitter, jitter)) / 1000.0)
                if random.random() * 100 < loss:
                    when += RTO_S
                when = max(when, last)
                last = when
            await q.put((when, data))
    except (ConnectionError, OSError):
        pass
    finally:
        await q.put((0, None))
        try:
            await task
        except (ConnectionError, OSError):
            pass
        try:
            writer.close()
        except OSError:
            pass


def handler(target, delay, jitter, loss):
    async def on_conn(cr, cw):
        try:
            tr, tw = await asyncio.open_connection(*target)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pump(cr, tw, delay, jitter, loss), pump(tr, cw, delay, jitter, loss))
    return on_conn


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen")
    ap.add_argument("--to")
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--jitter-ms", type=float, default=0)
    ap.add_argument("--loss-pct", type=float, default=0)
    ap.add_argument("--plain", action="append", default=[])
    a = ap.parse_args()
    servers = []
    if a.listen and a.to:
        h, p = hostport(a.listen)
        servers.append(await asyncio.start_server(
            handler(hostport(a.to), a.delay_ms, a.jitter_ms, a.loss_pct), h, p, reuse_address=True))
    for spec in a.plain:
        lst, tgt = spec.split("=", 1)
        h, p = hostport(lst)
        servers.append(await asyncio.start_server(handler(hostport(tgt), 0, 0, 0), h, p,
                                                  reuse_address=True))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main())
