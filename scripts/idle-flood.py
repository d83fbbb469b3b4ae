#!/usr/bin/env python3
"""A flood of idle TCP connections against `nettool chat -l`, and real members joining
while it holds: can people still get in, how long does it take, and what does the
server cost?

What it measures (issue 11, "a flood of idle connections must not lock real members
out while capacity remains"):

  * flood: FLOOD TCP connections opened at RATE/s from several child processes (one
    process may not hold 20 000 sockets under this machine's hard RLIMIT_NOFILE), that
    never send one byte. Each is counted as admitted (got the banner), refused (got
    `! server full ...`), evicted (got `* disconnected: server full, and this connection
    was idle`), dropped (closed by the server without a word), or failed to connect.
    Flood sockets are drained (read and discarded) as data arrives, so that the lines
    above are seen; the server sends an idle member only a presence line a second, so
    a flood that never reads would look the same to it for hours.
  * real members: REAL plain-text members per wave, each wave arriving at a given time
    after the flood starts (default 2, 7, 12 and 20 s). Each connects, sends
    `/nick realN`, and waits for its welcome (`* you are ...`); if refused it retries
    every RETRY s (a person told "try again later"), for at most RETRY_FOR s. Reported
    per wave: how many got in, at the first try or later, connect-to-welcome time of
    the attempt that got in (p50/p99/max), and the time after the flood started at
    which they got in. Once a wave is settled each member sends one chat line; every
    real member connected at that moment must receive it.
  * server: RSS (/proc/PID/status) before the flood and at its peak, CPU seconds used
    (/proc/PID/stat), its own count of refusals and evictions (its log), and the
    kernel's count of connections dropped at a full accept queue (ListenOverflows,
    machine-wide).
  * two scenarios: `flood-first` (the flood, then the waves) and `members-first` (one
    wave joins and talks, then the flood, then later waves that force evictions): a
    member that has spoken must never be evicted.

The policy under test: at the connection cap (`--max-conns`, default 10 240), the
oldest connection that has not sent one byte for at least the handshake timeout (10 s)
is closed to make room for the newcomer; with none such, the newcomer is refused.

Run (takes ~1 minute; wrap it in `flock /work/measure.lock` on a shared machine):

  scripts/idle-flood.py                           # defaults: 15 000 at 2 000/s, 50 per wave
  scripts/idle-flood.py --flood 18000 --json      # JSON on stdout
  scripts/idle-flood.py --nettool /path/nettool --scenario flood-first -- --max-conns 4096
  scripts/idle-flood.py --scenario members-first --first-waves=-1,12  # '=' before a '-'

Output: per scenario, the flood's fate (with a per-second timeline: admitted / refused /
evicted / dropped, and the answer time of the connections started in that second), one
line per wave of real members, chat deliveries, the server's RSS, CPU and counts.

Arguments after `--` go to the server. Traffic goes to 127.0.0.1 only; every loop is
bounded in count and time (`--max-seconds` for the whole run). Python 3 stdlib only.
Its parts are in scripts/idle_flood/ (the flood's children, the members, the report).
"""

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time

from idle_flood.common import cpu_s, free_port, listen_overflows, raise_nofile, rss_kb, start_server
from idle_flood.flood import flood_child
from idle_flood.members import wave
from idle_flood.report import show, summarise


def run_scenario(name, waves, args):
    port = args.port or free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix=f"idle-flood-{name}-", suffix=".log", delete=False)
    server, cmd = start_server(args, port, log)
    rss_before = rss_kb(server.pid)
    cpu_before = cpu_s(server.pid)
    overflows_before = listen_overflows()
    lead = 0.5 + max(0.0, -min(waves))
    t0 = time.monotonic() + lead
    ctx = multiprocessing.get_context("fork")
    children = args.children or max(1, math.ceil(args.flood / 5000))
    procs = []
    for i in range(children):
        parent_end, child_end = ctx.Pipe()
        p = ctx.Process(target=flood_child,
                        args=(i, children, args.flood, args.rate, port, t0, child_end))
        p.start()
        procs.append((p, parent_end))
    members, sent = [], []
    peak = [rss_before or 0, 0.0]

    async def sample():
        while True:
            r = rss_kb(server.pid)
            if r and r > peak[0]:
                peak[0], peak[1] = r, time.monotonic() - t0
            await asyncio.sleep(0.25)

    def quiet_cancel(loop, ctx):
        # A Ctrl-C cancels the waves: nothing to report about that.
        if not isinstance(ctx.get("exception"), asyncio.CancelledError):
            loop.default_exception_handler(ctx)

    async def main():
        asyncio.get_running_loop().set_exception_handler(quiet_cancel)
        sampler = asyncio.ensure_future(sample())
        names = iter(f"real{i}" for i in range(1, 10**6))
        tasks = [wave(at, [next(names) for _ in range(args.real)], members, port, t0, args, sent)
                 for at in waves]
        await asyncio.wait_for(asyncio.gather(*tasks), args.max_seconds)
        # Wait (bounded) for every chat line to reach every member that should hear it.
        until = time.monotonic() + 5
        while time.monotonic() < until and any(
                n not in o.heard for n, exp in sent for o in exp if o.connected):
            await asyncio.sleep(0.1)
        await asyncio.sleep(max(0.0, t0 + args.hold - time.monotonic()))
        sampler.cancel()
        rss_end = rss_kb(server.pid)
        cpu.append(cpu_s(server.pid))
        for p, pipe in procs:
            pipe.send("stop")
            flood.append(pipe.recv() if pipe.poll(30) else None)
            p.join(30)
            if p.is_alive():
                p.kill()
        still_connected.extend(m for m in members if m.connected)
        for m in members:
            if m.writer is not None:
                m.writer.close()
        return rss_end

    flood, still_connected, cpu = [], [], []
    try:
        rss_end = asyncio.run(main())
    except BaseException:
        # Ctrl-C or a failure: take the flood and the server down before leaving (the
        # flood children ignore SIGINT, and exiting would wait for them).
        for p, _ in procs:
            p.kill()
        server.kill()
        server.wait()
        log.close()
        if not args.keep_log:
            os.unlink(log.name)
        raise
    server.send_signal(signal.SIGINT)
    try:
        server.wait(20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    log.seek(0)
    text = log.read()
    log.close()
    if not args.keep_log:
        os.unlink(log.name)
    r = summarise(name, cmd, waves, args, children, flood, members, sent, still_connected,
                  rss_before, peak, rss_end, text, log.name)
    overflows = listen_overflows()
    if overflows is not None and overflows_before is not None:
        r["listen_overflows"] = overflows - overflows_before
    if cpu_before is not None and cpu and cpu[0] is not None:
        r["server_cpu_s"] = round(cpu[0] - cpu_before, 2)
    return r



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nettool", default="target/release/nettool")
    ap.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    ap.add_argument("--flood", type=int, default=15000, help="idle connections (default 15000)")
    ap.add_argument("--rate", type=float, default=2000, help="flood connections per second")
    ap.add_argument("--children", type=int, default=0, help="flood processes (default: 1 per 5000)")
    ap.add_argument("--real", type=int, default=50, help="real members per wave")
    ap.add_argument("--waves", default="2,7,12,20",
                    help="flood-first: seconds after the flood starts at which waves arrive")
    ap.add_argument("--first-waves", default="-1,12,20",
                    help="members-first: the same (a negative time: before the flood)")
    ap.add_argument("--retry", type=float, default=1.0, help="a refused member retries after (s); 0: never")
    ap.add_argument("--retry-for", type=float, default=15.0, help="and gives up after (s)")
    ap.add_argument("--hold", type=float, default=0.0, help="keep the flood at least this long (s)")
    ap.add_argument("--scenario", choices=["flood-first", "members-first", "both"], default="both")
    ap.add_argument("--max-seconds", type=float, default=100.0, help="bound on each scenario's waves")
    ap.add_argument("--json", action="store_true", help="JSON on stdout instead of the summary")
    ap.add_argument("--keep-log", action="store_true", help="keep the server's log (its path is shown)")
    ap.add_argument("server_args", nargs="*", help="after --: arguments for the server")
    args = ap.parse_args()
    if args.flood < 0 or args.flood > 50000 or args.real < 0 or args.real > 1000 or args.rate <= 0:
        sys.exit("idle-flood: --flood at most 50000, --real at most 1000, --rate above 0")
    raise_nofile()
    runs = []
    if args.scenario in ("flood-first", "both"):
        runs.append(("flood-first", [float(x) for x in args.waves.split(",")]))
    if args.scenario in ("members-first", "both"):
        runs.append(("members-first", [float(x) for x in args.first_waves.split(",")]))
    results = []
    for name, waves in runs:
        r = run_scenario(name, waves, args)
        results.append(r)
        if not args.json:
            show(r)
    if args.json:
        json.dump({"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                   "load_average": os.getloadavg(), "scenarios": results}, sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("idle-flood: interrupted; the flood and the server were stopped")
    except BrokenPipeError:  # the reader of our output left (`| head`): end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
