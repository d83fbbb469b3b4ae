#!/usr/bin/env python3
"""nettool beside the reference tools, in one run on loopback, with ratios.

Pairs (each tool against its own server, interleaved run by run so that the machine's
drift hits both sides alike; medians of RUNS runs):

  round trip 64 B    nettool bench rtt     vs  sockperf ping-pong --full-rtt  (TCP, UDP)
  stream             nettool bench stream  vs  iperf3 (TCP; UDP unpaced at 1200 B and 64 B)
  chat fan-out       nettool chat -l       vs  the lesson's Node.js server, ncat --chat
                     at 10 x 14 000, 50 x 260 and 200 x 16 msg/s (TCP; nettool also UDP)
  pinned fan-out     the same text fan-out, nettool vs Node, server on CPU 0 and load
                     generator on CPU 1 (taskset; `bench --pin`), at 10 x 6000, 50 x 260
                     and 200 x 16 msg/s: CPU per delivery per core (and nettool's own
                     binary TCP and UDP members at the same loads); beside them
                     scripts/relay-floor.c, the same room made of bare system calls
                     (one epoll loop, one write per member per round): what the
                     socket API and this load generator allow on this machine;
                     and before each load, scripts/host-stalls.c: how much of the time
                     the host keeps a line waiting on CPU 0 or 1 (the p99 floor)
  capacity           (only when named in PARTS) `nettool bench capacity --pin` vs
                     scripts/capacity-floor.c, the same broadcast to CAPACITY (default
                     10000) TCP + as many UDP members made of bare system calls: how close
                     nettool comes to what the socket API allows on this machine

Installs nothing: a missing tool is named and its rows are skipped. Run through
scripts/compare.sh, which builds the release binary first.

Environment: RUNS (default 3), SECONDS_EACH (default 3), PARTS (default
"rtt stream fanout pinned"), OUT (JSON file for the raw figures, default
bench-out/compare.json), COALESCE (pinned part: the nettool server's --coalesce windows
to run, "default" for none given, e.g. "default 1ms 2ms 5ms" for the latency/CPU curve;
default: its default only),
FLOORS (pinned part: the relay floor's variants, "now", "round" and/or windows in µs,
e.g. "now round 1000"; default "now round"), PINNED (pinned part: the loads, members x
msg/s each; default "10x6000 50x260 200x16"), PINNED_PROTOS (pinned part: nettool's own
binary members over these protocols beside the text fan-out; default "tcp udp"), BEFORE
(pinned part: an earlier nettool binary measured beside this one, run by run).
"""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETTOOL = str(ROOT / "target" / "release" / "nettool")
NODE_SERVER = str(ROOT / "tests" / "peers" / "chat-server.js")
RUNS = int(os.environ.get("RUNS", "3"))
SECS = int(os.environ.get("SECONDS_EACH", "3"))
PARTS = os.environ.get("PARTS", "rtt stream fanout pinned").split()
OUT = Path(os.environ.get("OUT", str(ROOT / "bench-out" / "compare.json")))
LOADS = [(10, 14000.0), (50, 260.0), (200, 16.0)]
# PINNED ("10x6000 50x260 200x16"): the pinned fan-out's loads, members x msg/s each.
PINNED_LOADS = [(int(c), float(r)) for c, r in (
    x.split("x") for x in os.environ.get("PINNED", "10x6000 50x260 200x16").split())]
COALESCE = os.environ.get("COALESCE", "").split()
RELAY_FLOOR = None  # the built scripts/relay-floor.c, once part_pinned has built it (build_c)
HOST_STALLS = None  # the built scripts/host-stalls.c, likewise
FLOORS = os.environ.get("FLOORS", "now round").split()
# PINNED_PROTOS ("tcp udp"): nettool's own binary members over these protocols, beside the
# text fan-out, in the pinned part; "" for none.
PINNED_PROTOS = os.environ.get("PINNED_PROTOS", "tcp udp").split()
# BEFORE (pinned part): another nettool binary (an earlier build) run beside this one at
# each pinned load, text and own members alike, for a before/after in the same run.
BEFORE = os.environ.get("BEFORE")
BEFORE_COALESCE = os.environ.get("BEFORE_COALESCE", "10ms")  # its chat server's default
CAPACITY = int(os.environ.get("CAPACITY", "10000"))
INSTALL = {"sockperf": "sockperf", "iperf3": "iperf3", "ncat": "ncat", "node": "nodejs"}

missing = [t for t in INSTALL if shutil.which(t) is None]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    """A port free for both TCP and UDP right now."""
    for _ in range(50):
        with socket.socket() as t, socket.socket(type=socket.SOCK_DGRAM) as u:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


class Server:
    """A server process, started and waited for by a line it prints, killed on exit."""

    def __init__(self, args, ready, stream="stdout"):
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if stream == "stdout" else subprocess.PIPE,
            text=True,
        )
        out = self.proc.stdout if stream == "stdout" else self.proc.stderr
        deadline = time.monotonic() + 10
        self.first = ""
        while time.monotonic() < deadline:
            line = out.readline()
            if not line:
                break
            if ready in line:
                self.first = line.strip()
                break
        else:
            self.stop()
            raise RuntimeError(f"{args[0]} did not start")
        if not self.first:
            self.stop()
            raise RuntimeError(f"{args[0]} did not start")
        # Keep draining so the server never blocks on a full pipe.
        import threading

        threading.Thread(target=lambda: [None for _ in out], daemon=True).start()

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_json(args, timeout=None):
    r = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout or SECS * 10 + 60
    )
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {r.stderr.strip()[-400:]}")
    return json.loads(r.stdout)


def nettool_bench(parts, *extra, exe=None):
    return run_json([exe or NETTOOL, "bench", *parts, "--json", "--duration", f"{SECS}s",
                     *extra])


def sockperf_rtt(proto, port):
    args = ["sockperf", "pp", "-i", "127.0.0.1", "-p", str(port), "-t", str(SECS),
            "-m", "64", "--full-rtt"]
    if proto == "tcp":
        args.insert(2, "--tcp")
    r = subprocess.run(args, capture_output=True, text=True, timeout=SECS + 30)
    pct = {}
    for line in r.stdout.splitlines():
        if "---> percentile" in line:
            # "sockperf: ---> percentile 99.000 =   61.365"
            words = line.replace("=", " ").split()
            pct[words[-2]] = float(words[-1])
    if "50.000" not in pct:
        raise RuntimeError(f"sockperf printed no percentiles: {r.stdout[-400:]}")
    return {"p50_us": pct["50.000"], "p99_us": pct["99.000"]}


def iperf3(proto, size=None):
    port = free_port()
    srv = subprocess.Popen(["iperf3", "-s", "-1", "-p", str(port)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(SECS), "-J"]
        if proto == "udp":
            args += ["-u", "-b", "0", "-l", str(size)]
        for _ in range(50):  # the server takes a moment to listen
            r = subprocess.run(args, capture_output=True, text=True, timeout=SECS + 30)
            d = json.loads(r.stdout) if r.stdout.strip() else {}
            # iperf3 3.12 with -J exits 0 even when it could not connect: read its error.
            err = d.get("error") or ("" if r.returncode == 0 else r.stderr.strip())
            if not err:
                break
            if "unable to connect" not in err:
                raise RuntimeError(f"iperf3: {err}")
            time.sleep(0.1)  # retry interval while iperf3 -s starts; not a measurement
        else:
            raise RuntimeError(f"iperf3: {err}")
        d = d["end"]
    finally:
        srv.kill()
        srv.wait()
    if proto == "tcp":
        return {"gbps": d["sum_received"]["bits_per_second"] / 1e9}
    rx = d["sum_received"]
    return {
        "recv_pps": rx["bytes"] / size / rx["seconds"],
        "loss_pct": rx["lost_percent"],
    }


def fanout_nettool(proto, clients, rate):
    r = nettool_bench(["fanout"], "--proto", proto, "--clients", str(clients),
                      "--msg-rate", str(rate))
    return fanout_fields(r["fanout"][proto])


def fanout_external(kind, clients, rate, pin=False, server_args=(), exe=None):
    """kind: node, ncat, floor (server_args: relay-floor's mode and window) or nettool
    (`exe`, default the release build)."""
    port = free_port()
    cpu0 = ["taskset", "-c", "0"] if pin else []
    if kind == "node":
        srv = Server([*cpu0, "node", NODE_SERVER, str(port)], "listening")
    elif kind == "floor":  # scripts/relay-floor.c, built by part_pinned
        srv = Server([*cpu0, str(RELAY_FLOOR), str(port), *server_args], "serving")
    elif kind == "ncat":
        srv = Server(["ncat", "-v", "--chat", "--max-conns", "1000", "-l", "127.0.0.1",
                      str(port)], "Listening")
    else:  # nettool's own server, spoken to in text lines like the others
        srv = Server([*cpu0, exe or NETTOOL, "chat", "-l", f"127.0.0.1:{port}", "--proto", "tcp",
                      "--max-members", "1000", "--max-conns", "1000", "--queue", "4096",
                      *server_args],
                     "serving")
    try:
        r = nettool_bench(["fanout"], "--proto", "tcp", "--clients", str(clients),
                          "--msg-rate", str(rate), "--chat", f"127.0.0.1:{port}",
                          "--server-pid", str(srv.pid), "--text", *(["--pin"] if pin else []))
    finally:
        alive = srv.proc.poll() is None
        srv.stop()
    out = fanout_fields(r["fanout"]["tcp"])
    out["server_survived"] = alive
    return out


def fanout_fields(f):
    lat = f.get("latency") or {}
    return {
        "delivered_per_s": f["delivered_per_s"],
        "p50_us": lat.get("p50_us"),
        "p99_us": lat.get("p99_us"),
        "loss_pct": f["loss_pct"],
        "server_us_per_delivery": f.get("server_cpu_us_per_delivery"),
        "loadgen_cpu_s": f.get("loadgen_cpu_s"),
        "seconds": f["seconds"],
    }


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def medians(samples):
    keys = samples[0].keys() if samples else []
    return {k: median([s[k] for s in samples]) for k in keys if k != "server_survived"}


def interleave(pairs):
    """Run each (name, fn) RUNS times, round-robin; medians per name."""
    got = {name: [] for name, _ in pairs}
    for i in range(RUNS):
        for name, fn in pairs:
            log(f"  run {i + 1}/{RUNS}: {name}")
            try:
                got[name].append(fn())
            except Exception as e:  # a failed run is reported, not hidden
                log(f"    {name} failed: {e}")
    return {name: ({**medians(s), "runs": s} if s else None) for name, s in got.items()}


rows = []
raw = {"runs": RUNS, "seconds_each": SECS, "unix_time": int(time.time()), "missing": missing}


def row(label, ours, ref_name, ref, target, unit_fmt, better="lower"):
    if ours is None or ref is None:
        ratio = None
    else:
        ratio = ours / ref if ref else None
    rows.append((label, unit_fmt(ours), f"{ref_name} {unit_fmt(ref)}", ratio, target, better))


def us(v):
    return "-" if v is None else (f"{v:.1f} µs" if v < 1000 else f"{v / 1000:.2f} ms")


def gbps(v):
    return "-" if v is None else f"{v:.2f} Gbit/s"


def kpps(v):
    return "-" if v is None else f"{v / 1000:.1f} k/s"


def pct(v):
    return "-" if v is None else f"{v:.2f} %"


def cpu(v):
    return "-" if v is None else f"{v:.3f} µs"


def part_rtt():
    if "sockperf" in missing:
        log("round trip: sockperf is missing; skipped")
        return
    echo = Server([NETTOOL, "echo", "-l", "127.0.0.1:0"], "serving", stream="stderr")
    addr = echo.first.split()[-1]
    sp_tcp, sp_udp = free_port(), free_port()
    sps = [Server(["sockperf", "sr", "--tcp", "-i", "127.0.0.1", "-p", str(sp_tcp)], "listen on"),
           Server(["sockperf", "sr", "-i", "127.0.0.1", "-p", str(sp_udp)], "listen on")]
    try:
        for proto, port in (("tcp", sp_tcp), ("udp", sp_udp)):
            log(f"round trip over {proto}")
            res = interleave([
                ("nettool", lambda p=proto: nettool_bench(
                    ["rtt"], "--connect", addr, "--proto", p)["rtt"][p]["latency"]),
                ("sockperf", lambda p=proto, port=port: sockperf_rtt(p, port)),
            ])
            raw[f"rtt_{proto}"] = res
            n, s = res["nettool"] or {}, res["sockperf"] or {}
            for q in ("p50_us", "p99_us"):
                row(f"round trip {proto.upper()} 64 B {q[:-3]}", n.get(q), "sockperf",
                    s.get(q), "≤ 1.25×", us)
    finally:
        echo.stop()
        for s in sps:
            s.stop()


def part_stream():
    if "iperf3" in missing:
        log("stream: iperf3 is missing; skipped")
        return
    log("stream over tcp")
    res = interleave([
        ("nettool", lambda: {"gbps": nettool_bench(["stream"], "--proto", "tcp")["stream"]["tcp"]["recv_gbps"]}),
        ("iperf3", lambda: iperf3("tcp")),
    ])
    raw["stream_tcp"] = res
    row("stream TCP goodput", (res["nettool"] or {}).get("gbps"), "iperf3",
        (res["iperf3"] or {}).get("gbps"), "≥ 1.0×", gbps, better="higher")
    # Unpaced, nettool's GSO sender outruns the receiver and loss grows; paced at a rate
    # this receiver keeps up with, it shows the throughput it sustains without loss.
    for size, paced in ((1200, "10G"), (64, "2G")):
        log(f"stream over udp, {size} B")

        def ours(size=size, rate="0"):
            s = nettool_bench(["stream"], "--proto", "udp", "--udp-size", str(size),
                              "--rate", rate)["stream"]["udp"]
            return {"recv_pps": s["recv_pps"], "loss_pct": s["loss_pct"]}

        res = interleave([("nettool", ours),
                          ("nettool paced", lambda size=size, r=paced: ours(size, r)),
                          ("iperf3", lambda size=size: iperf3("udp", size))])
        raw[f"stream_udp_{size}"] = res
        i = res["iperf3"] or {}
        for name, label in (("nettool", "unpaced"), ("nettool paced", f"paced {paced}bit/s")):
            n = res[name] or {}
            row(f"stream UDP {size} B {label}: received", n.get("recv_pps"), "iperf3",
                i.get("recv_pps"), "≥ 1.0×", kpps, better="higher")
            row(f"stream UDP {size} B {label}: loss", n.get("loss_pct"), "iperf3",
                i.get("loss_pct"), "no more", pct)


def part_fanout():
    for clients, rate in LOADS:
        label = f"fan-out {clients} x {rate:g}/s"
        log(label)
        pairs = [("nettool tcp", lambda c=clients, r=rate: fanout_nettool("tcp", c, r)),
                 ("nettool udp", lambda c=clients, r=rate: fanout_nettool("udp", c, r)),
                 ("nettool text", lambda c=clients, r=rate: fanout_external("nettool", c, r))]
        if "node" not in missing:
            pairs.append(("node", lambda c=clients, r=rate: fanout_external("node", c, r)))
        if "ncat" not in missing:
            pairs.append(("ncat", lambda c=clients, r=rate: fanout_external("ncat", c, r)))
        res = interleave(pairs)
        raw[f"fanout_{clients}x{rate:g}"] = res
        node = res.get("node") or {}
        for name in ("nettool tcp", "nettool text", "nettool udp"):
            n = res.get(name) or {}
            row(f"{label} {name}: CPU/delivery", n.get("server_us_per_delivery"), "node",
                node.get("server_us_per_delivery"), "≤ 0.33×", cpu)
            row(f"{label} {name}: p99", n.get("p99_us"), "node", node.get("p99_us"),
                "≤ 0.2×", us)
        ncat = res.get("ncat") or {}
        row(f"{label} ncat --chat: CPU/delivery", ncat.get("server_us_per_delivery"), "node",
            node.get("server_us_per_delivery"), "(info)", cpu)
        row(f"{label} ncat --chat: p99", ncat.get("p99_us"), "node", node.get("p99_us"),
            "(info)", us)
        for name, r in res.items():
            if r:
                log(f"    {name}: {r['delivered_per_s']:.0f} delivered/s, loss "
                    f"{r['loss_pct']:.2f} %, server {cpu(r['server_us_per_delivery'])}/delivery, "
                    f"load generator {r['loadgen_cpu_s'] or 0:.2f} CPU-s in {r['seconds']:.1f} s")


def build_c(name):
    """Compile scripts/NAME.c beside the raw output; None (and a log line) if it cannot."""
    out = OUT.parent / name
    out.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("cc") is None or subprocess.run(
            ["cc", "-O2", "-pthread", "-o", str(out), str(ROOT / "scripts" / f"{name}.c")]).returncode:
        log(f"cannot build scripts/{name}.c (cc)")
        return None
    return out


def host_stalls(label):
    """scripts/host-stalls.c on CPUs 0 and 1 for SECS seconds: the share of the time at
    which a line crossing them would wait >= 2 and >= 4 ms for the host, as a row."""
    if HOST_STALLS is None:
        return None
    log(f"  host stalls on CPUs 0 and 1, {SECS} s")
    try:
        out = subprocess.run([str(HOST_STALLS), str(SECS), "0", "1"], capture_output=True,
                             text=True, timeout=SECS + 30, check=True).stdout
        st = json.loads(out.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as e:
        log(f"    host-stalls failed: {e}")
        return None
    rows.append((f"{label} host: a line waits ≥ 2 ms", pct(st["wait_ge_2ms_pct"]),
                 f"≥ 4 ms: {pct(st['wait_ge_4ms_pct'])}", None, "(info: the p99 floor)", "lower"))
    return st


def part_pinned():
    global RELAY_FLOOR, HOST_STALLS
    if shutil.which("taskset") is None:
        log("pinned fan-out: taskset is missing; skipped")
        return
    RELAY_FLOOR = build_c("relay-floor")
    HOST_STALLS = build_c("host-stalls")
    windows = [None if w == "default" else w for w in COALESCE] or [None]
    for clients, rate in PINNED_LOADS:
        label = f"pinned fan-out {clients} x {rate:g}/s"
        log(label)
        stalls = host_stalls(label)
        pairs = []
        for w in windows:
            args = () if w is None else ("--coalesce", w)
            name = "nettool" if w is None else f"nettool --coalesce {w}"
            pairs.append((name, lambda c=clients, r=rate, a=args:
                          fanout_external("nettool", c, r, True, a)))
        for f in FLOORS if RELAY_FLOOR is not None else []:
            args = (f,) if f in ("now", "round") else ("round", f)
            pairs.append((f"floor {f}", lambda c=clients, r=rate, a=args:
                          fanout_external("floor", c, r, True, a)))
        # The same loads with nettool's own members (its server spawned and pinned by the
        # bench): binary TCP members, and UDP members, so that each protocol's cost per
        # delivery shows beside the other's. With BEFORE, an older build beside this one.
        builds = [("nettool", None)] + ([("before", BEFORE)] if BEFORE else [])
        if BEFORE:
            pairs.append(("before", lambda c=clients, r=rate:
                          fanout_external("nettool", c, r, True, exe=BEFORE)))
        for who, exe in builds:
            for proto in PINNED_PROTOS:
                # The earlier build's own bench ran its server with no window unless told:
                # give it the window its chat server had by default.
                extra = ("--coalesce", BEFORE_COALESCE) if exe else ()
                pairs.append((f"{who} {proto} members", lambda c=clients, r=rate, p=proto, x=exe, e=extra:
                              fanout_fields(nettool_bench(
                                  ["fanout"], "--proto", p, "--clients", str(c), "--msg-rate",
                                  str(r), "--pin", *e, exe=x)["fanout"][p])))
        if "node" not in missing:
            pairs.append(("node", lambda c=clients, r=rate: fanout_external("node", c, r, True)))
        res = interleave(pairs)
        raw[f"pinned_{clients}x{rate:g}"] = {**res, "host_stalls": stalls}
        node = res.get("node") or {}
        floor = res.get("floor round") or {}
        for name, _ in pairs:
            if name == "node":
                continue
            n = res.get(name) or {}
            tag = label if name == "nettool" else f"{label} {name[8:]}"
            if name.startswith("floor"):
                f = name[6:]
                tag = f"{label} relay floor " + (f if f in ("now", "round") else f"round, {f} µs window")
            if name.endswith(" members"):
                tag = f"{label} {name}"
            if name == "before":
                tag = f"{label} before (text)"
            ours = name.startswith("nettool") and not name.startswith("nettool --")
            row(f"{tag}: CPU/delivery", n.get("server_us_per_delivery"), "node",
                node.get("server_us_per_delivery"), "≤ 0.6×" if ours else "(info)", cpu)
            row(f"{tag}: p50", n.get("p50_us"), "node", node.get("p50_us"), "-", us)
            row(f"{tag}: p99", n.get("p99_us"), "floor round", floor.get("p99_us"),
                "≤ 2×" if ours else "(info)", us)


def part_capacity():
    floor = build_c("capacity-floor")
    if floor is None:
        log("capacity: skipped")
        return
    n, broadcasts = str(CAPACITY), "10"
    log(f"capacity: {n} TCP + {n} UDP members")

    def ours():
        c = run_json([NETTOOL, "bench", "capacity", "--json", "--pin", "--members", n,
                      "--join-rate", "2000", "--broadcasts", broadcasts], timeout=600)["capacity"]
        return {"p50_us": c["latency"]["p50_us"], "p99_us": c["latency"]["p99_us"],
                "dropped": c["dropped"], "rss_per_member_bytes": c["rss_per_member_bytes"]}

    def bare():
        out = subprocess.run([str(floor), n, broadcasts, "mmsg"], capture_output=True,
                             text=True, timeout=600).stdout
        ms = dict(re.findall(r"(p50|p99|sender) ([0-9.]+) ms", out))
        if "p99" not in ms:
            raise RuntimeError(f"capacity-floor printed {out!r}")
        return {"p50_us": float(ms["p50"]) * 1000, "p99_us": float(ms["p99"]) * 1000,
                "sender_ms": float(ms["sender"])}

    res = interleave([("nettool", ours), ("floor", bare)])
    raw["capacity"] = res
    n_, f = res["nettool"] or {}, res["floor"] or {}
    for q in ("p50_us", "p99_us"):
        row(f"one line to {2 * CAPACITY - 1} members {q[:3]}", n_.get(q), "floor", f.get(q),
            "p99 < 100 ms" if q == "p99_us" else "-", us)


def main():
    if not os.access(NETTOOL, os.X_OK):
        sys.exit(f"{NETTOOL} is missing: run scripts/compare.sh (it builds it)")
    for t in missing:
        log(f"missing: {t} (apt-get install {INSTALL[t]}); its comparisons are skipped")
    for part, fn in (("rtt", part_rtt), ("stream", part_stream), ("fanout", part_fanout),
                     ("pinned", part_pinned), ("capacity", part_capacity)):
        if part in PARTS:
            fn()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(raw, indent=2))
    print(f"nettool vs reference tools on loopback, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
          f" medians of {RUNS} runs of {SECS} s (raw: {OUT})")
    print(f"{'measurement':<44} {'nettool':>14}  {'reference':<22} {'ratio':>7}  target")
    for label, ours, ref, ratio, target, _ in rows:
        r = "-" if ratio is None else f"{ratio:.2f}×"
        print(f"{label:<44} {ours:>14}  {ref:<22} {r:>7}  {target}")
    if missing:
        print(f"skipped (missing tools): {', '.join(missing)}")
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the servers were stopped on the way out (finally blocks)
        sys.exit("compare: interrupted")
