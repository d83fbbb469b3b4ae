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
"""

import argparse
import asyncio
import errno
import json
import math
import multiprocessing
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
BANNER = b"* nettool chat"
WELCOME = "* you are "
FULL = "! server full"
EVICTED = "* disconnected: server full, and this connection was idle"
SERVER_FULL_LOG = "connection refused: server full"
EVICT_LOG = "idle connection closed to make room"


def raise_nofile():
    """Soft RLIMIT_NOFILE up to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_s(pid):
    """User + system CPU seconds the process has used."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def listen_overflows():
    """The kernel's count of connections dropped at a full accept queue (ListenOverflows,
    for the whole network namespace: other traffic on the machine counts too)."""
    try:
        with open("/proc/net/netstat") as f:
            rows = [line.split() for line in f if line.startswith("TcpExt:")]
        return int(dict(zip(rows[0], rows[1]))["ListenOverflows"])
    except (OSError, IndexError, KeyError, ValueError):
        return None


# ---------------------------------------------------------------- the flood (children)


def flood_child(index, children, total, rate, port, t0, pipe):
    """Open this child's share of the flood (global indices index, index+children, ...;
    index i at t0 + i/rate), never send, drain what arrives, classify how each ends.
    Reports to `pipe` when told to stop (or at its deadline)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_nofile()
    ep = select.epoll()
    conns = {}  # fd -> [sock, state, tail, t_start]
    out = {
        "admitted": [],  # seconds after t0, at the banner
        "banner_ms": [],  # connect start -> banner
        "answers": [],  # (connect start after t0, ms to the banner or the refusal)
        "refused": [],
        "evicted": [],
        "dropped": [],  # closed before the banner, without a line
        "closed": [],  # closed after the banner, without the eviction line
        "connect_errors": {},
        "still_open": 0,
        "opened": 0,
    }
    mine = list(range(index, total, children))
    nxt = 0

    def finish(fd, state, now):
        sock = conns.pop(fd)[0]
        try:
            ep.unregister(fd)
        except OSError:
            pass
        sock.close()
        out[state].append(now - t0)

    stop = False
    while not stop:
        now = time.monotonic()
        while nxt < len(mine) and t0 + mine[nxt] / rate <= now:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((HOST, port))
            nxt += 1
            if rc not in (0, errno.EINPROGRESS):
                name = errno.errorcode.get(rc, str(rc))
                out["connect_errors"][name] = out["connect_errors"].get(name, 0) + 1
                s.close()
                continue
            out["opened"] += 1
            conns[s.fileno()] = [s, "open", b"", now]
            ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        wait = 0.05
        if nxt < len(mine):
            wait = max(0.0, min(wait, t0 + mine[nxt] / rate - now))
        for fd, _ev in ep.poll(wait, 1024):
            c = conns.get(fd)
            if c is None:
                continue
            now = time.monotonic()
            while True:
                try:
                    data = c[0].recv(65536)
                except BlockingIOError:
                    break
                except OSError:
                    data = b""
                if not data:
                    if c[1] == "open":
                        finish(fd, "dropped", now)
                    else:
                        finish(fd, "closed", now)
                    break
                buf = c[2] + data
                *lines, c[2] = buf.split(b"\n")
                c[2] = c[2][-4096:]
                gone = None
                for line in lines:
                    if c[1] == "open" and line.startswith(BANNER):
                        c[1] = "admitted"
                        out["admitted"].append(now - t0)
                        out["banner_ms"].append((now - c[3]) * 1000)
                        out["answers"].append((c[3] - t0, (now - c[3]) * 1000))
                    elif line.startswith(FULL.encode()):
                        gone = "refused"
                        if c[1] == "open":
                            out["answers"].append((c[3] - t0, (now - c[3]) * 1000))
                    elif line.startswith(EVICTED.encode()):
                        gone = "evicted"
                if gone:
                    finish(fd, gone, now)
                    break
        if pipe.poll():
            pipe.recv()
            stop = True
    out["still_open"] = len(conns)
    out["still_admitted"] = sum(1 for c in conns.values() if c[1] == "admitted")
    pipe.send(out)
    for c in conns.values():
        c[0].close()


# ---------------------------------------------------------------- real members (asyncio)


class Member:
    def __init__(self, name, wave):
        self.name, self.wave = name, wave
        self.attempts = 0
        self.refused = 0
        self.dropped = 0  # closed without a line
        self.errors = 0  # connect failed or timed out
        self.welcome_ms = None
        self.in_at = None  # seconds after the flood started
        self.writer = None
        self.heard = set()
        self.evicted = False
        self.closed_at = None

    @property
    def connected(self):
        return self.writer is not None and self.closed_at is None


async def attempt(m, port, timeout):
    """One connection: `in` (welcomed; keeps the connection), `refused`, `dropped` or
    `error`."""
    start = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return "error", start
    writer.write(f"/nick {m.name}\n".encode())
    deadline = start + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            line = await asyncio.wait_for(reader.readline(), max(0.001, left))
            if not line:
                writer.close()
                return "dropped", start
            text = line.decode(errors="replace")
            if text.startswith(WELCOME):
                m.welcome_ms = (time.monotonic() - start) * 1000
                m.writer = writer
                m.reader = reader
                return "in", start
            if text.startswith(FULL):
                writer.close()
                return "refused", start
    except (OSError, asyncio.TimeoutError):
        writer.close()
        return "error", start


async def listen(m, t0):
    """Read a member's lines until its connection ends: who it heard, and whether it
    was evicted."""
    try:
        while True:
            line = await m.reader.readline()
            if not line:
                break
            text = line.decode(errors="replace").rstrip("\n")
            if text.startswith(EVICTED):
                m.evicted = True
            elif ": hello from " in text:
                m.heard.add(text.split(":", 1)[0])
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        if m.closed_at is None:
            m.closed_at = time.monotonic() - t0


async def join(m, port, t0, args):
    """Join, retrying when refused, for at most args.retry_for seconds."""
    arrived = time.monotonic()
    while True:
        m.attempts += 1
        result, start = await attempt(m, port, 10.0)
        if result == "in":
            m.in_at = time.monotonic() - t0
            m.task = asyncio.ensure_future(listen(m, t0))
            return
        field = {"refused": "refused", "dropped": "dropped", "error": "errors"}[result]
        setattr(m, field, getattr(m, field) + 1)
        nxt = start + args.retry
        if args.retry <= 0 or nxt > arrived + args.retry_for:
            return
        await asyncio.sleep(max(0.0, nxt - time.monotonic()))


async def wave(at, names, members, port, t0, args, sent):
    await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
    mine = [Member(n, at) for n in names]
    members.extend(mine)
    await asyncio.gather(*(join(m, port, t0, args) for m in mine))
    # Settled: each member in says one line, to be heard by every real member connected.
    for m in mine:
        if m.connected:
            expect = [o for o in members if o is not m and o.connected]
            m.writer.write(f"hello from {m.name}\n".encode())
            sent.append((m.name, expect))


# ---------------------------------------------------------------- one scenario


def start_server(args, port, log):
    cmd = [args.nettool, "chat", "-l", f"{HOST}:{port}", "--proto", "tcp", *args.server_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
    # It says `nettool chat: serving tcp on ADDR` on stderr once it listens.
    until = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < until:
        with open(log.name) as f:
            if "serving" in f.read():
                break
        time.sleep(0.05)
    else:
        proc.kill()
        sys.exit(f"idle-flood: the server did not start: {' '.join(cmd)} (see {log.name})")
    return proc, cmd


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


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


def summarise(name, cmd, waves, args, children, flood, members, sent, still, rss_before, peak,
              rss_end, log_text, log_name):
    merged = {k: [] for k in ("admitted", "banner_ms", "answers", "refused", "evicted", "dropped",
                              "closed")}
    errors, opened, still_open, still_admitted = {}, 0, 0, 0
    lost_children = 0
    for f in flood:
        if f is None:
            lost_children += 1
            continue
        for k in merged:
            merged[k] += f[k]
        for k, v in f["connect_errors"].items():
            errors[k] = errors.get(k, 0) + v
        opened += f["opened"]
        still_open += f["still_open"]
        still_admitted += f["still_admitted"]
    first = lambda xs: round(min(xs), 2) if xs else None
    r2 = lambda x: None if x is None else round(x, 2)
    ms = lambda xs: {"p50": r2(pct(xs, 50)), "p99": r2(pct(xs, 99)), "max": r2(max(xs) if xs else None)}
    flood_out = {
        "connections": args.flood, "rate_per_s": args.rate, "children": children,
        "opened": opened, "connect_errors": errors,
        "admitted": len(merged["admitted"]), "refused": len(merged["refused"]),
        "evicted": len(merged["evicted"]), "dropped_without_a_word": len(merged["dropped"]),
        "closed_otherwise": len(merged["closed"]), "open_at_end": still_admitted,
        "unanswered_at_end": still_open - still_admitted, "lost_children": lost_children,
        "banner_ms": ms(merged["banner_ms"]),
        "first_refusal_s": first(merged["refused"]), "first_eviction_s": first(merged["evicted"]),
        "last_admitted_s": round(max(merged["admitted"]), 2) if merged["admitted"] else None,
    }
    # Per second after the flood started: what happened in it, and how long the
    # connections started in it waited for an answer (banner or refusal).
    timeline = []
    for sec in range(int(max([0.0] + [x for k in ("admitted", "refused", "evicted", "dropped")
                                      for x in merged[k]])) + 1):
        inside = lambda xs: sum(1 for x in xs if sec <= x < sec + 1)
        waits = [w for t, w in merged["answers"] if sec <= t < sec + 1]
        timeline.append({"s": sec, "admitted": inside(merged["admitted"]),
                         "refused": inside(merged["refused"]), "evicted": inside(merged["evicted"]),
                         "dropped": inside(merged["dropped"]), "answered_of_started": len(waits),
                         "answer_ms_p50": pct(waits, 50), "answer_ms_p99": pct(waits, 99)})
    flood_out["timeline"] = timeline
    waves_out = []
    for at in waves:
        ms_ = [m for m in members if m.wave == at]
        ins = [m for m in ms_ if m.in_at is not None]
        waves_out.append({
            "arrive_s": at, "members": len(ms_), "got_in": len(ins),
            "at_first_try": sum(1 for m in ins if m.attempts == 1),
            "refusals": sum(m.refused for m in ms_),
            "dropped_without_a_word": sum(m.dropped for m in ms_),
            "errors": sum(m.errors for m in ms_),
            "welcome_ms": ms([m.welcome_ms for m in ins]),
            "in_at_s": {"first": first([m.in_at for m in ins]),
                        "last": round(max(m.in_at for m in ins), 2) if ins else None},
            "evicted": sum(1 for m in ms_ if m.evicted),
            "closed_before_end": sum(1 for m in ins if m not in still),
        })
    expected = sum(len(exp) for _, exp in sent)
    delivered = sum(1 for n, exp in sent for o in exp if n in o.heard)
    return {
        "scenario": name, "server": " ".join(cmd), "waves_s": waves, "real_per_wave": args.real,
        "flood": flood_out, "real": waves_out,
        "chat_lines": {"sent": len(sent), "expected": expected, "delivered": delivered},
        "real_evicted": sum(1 for m in members if m.evicted),
        "server_rss_kb": {"before": rss_before, "peak": peak[0], "peak_at_s": round(peak[1], 1),
                          "end": rss_end},
        "server_log": {"server_full": log_text.count(SERVER_FULL_LOG),
                       "evictions": log_text.count(EVICT_LOG),
                       "accept_failed": log_text.count("accept failed"),
                       "too_slow": log_text.count("too slow"),
                       "file": log_name if args.keep_log else None},
    }


def show(r):
    f, lg, rss = r["flood"], r["server_log"], r["server_rss_kb"]
    fmt = lambda d: "p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms".format(d["p50"], d["p99"], d["max"]) \
        if d["p50"] is not None else "-"
    print(f"== {r['scenario']}: {r['server']}")
    print(f"flood      {f['connections']} idle connections at {f['rate_per_s']}/s from "
          f"{f['children']} processes; {f['opened']} opened, connect errors {f['connect_errors'] or 0}")
    print(f"           admitted {f['admitted']} (banner {fmt(f['banner_ms'])}), refused {f['refused']}, "
          f"evicted {f['evicted']}, dropped without a word {f['dropped_without_a_word']}, "
          f"closed otherwise {f['closed_otherwise']}")
    print(f"           first refusal at {f['first_refusal_s']} s, last admission at "
          f"{f['last_admitted_s']} s, first eviction at {f['first_eviction_s']} s; "
          f"open at the end {f['open_at_end']} (+{f['unanswered_at_end']} never answered)")
    print("           per second: admitted/refused/evicted/dropped; answer p50/p99 (ms) for those started then")
    row = []
    for t in f["timeline"]:
        ans = "-" if t["answer_ms_p50"] is None else f"{t['answer_ms_p50']:.0f}/{t['answer_ms_p99']:.0f}"
        row.append(f"{t['s']:>2}s {t['admitted']}/{t['refused']}/{t['evicted']}/{t['dropped']} {ans}")
    for i in range(0, len(row), 4):
        print("           " + " | ".join(row[i:i + 4]))
    for w in r["real"]:
        print(f"real @{w['arrive_s']:>5} s {w['got_in']:>3}/{w['members']} in "
              f"({w['at_first_try']} at the first try; {w['refusals']} refusals, "
              f"{w['dropped_without_a_word']} dropped without a word, {w['errors']} errors); "
              f"welcome {fmt(w['welcome_ms'])}; in at {w['in_at_s']['first']}..{w['in_at_s']['last']} s; "
              f"evicted {w['evicted']}, closed early {w['closed_before_end']}")
    c = r["chat_lines"]
    print(f"chat       {c['sent']} lines from real members, {c['delivered']} of {c['expected']} "
          f"deliveries to real members; real members evicted: {r['real_evicted']}")
    mb = lambda kb: f"{kb / 1024:.1f} MB" if kb else "?"
    print(f"server     RSS {mb(rss['before'])} before, {mb(rss['peak'])} at peak ({rss['peak_at_s']} s), "
          f"{mb(rss['end'])} at the end; CPU {r.get('server_cpu_s', '?')} s; log: {lg['server_full']} 'server full', "
          f"{lg['evictions']} evictions, {lg['accept_failed']} accept errors, {lg['too_slow']} 'too slow'; "
          f"kernel: {r.get('listen_overflows', '?')} accept-queue overflows")
    print()


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
