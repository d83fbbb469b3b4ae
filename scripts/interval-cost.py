#!/usr/bin/env python3
"""What collecting intervals costs the loopback TCP stream (issue 25): `nettool bench
stream --proto tcp` with `--interval 0` against `--interval 1s`, interleaved rounds, the
medians of goodput and of CPU per byte. The bench runs its echo sink in-process, so the
process's CPU (user + system, from wait4's rusage) covers sender and receiver; divided by
the bytes received it does not depend on how fast the run went, which goodput on a
shared 2-core VM does.

Rounds alternate which setting goes first (use an even count).

Usage (alone on the machine; on the shared one inside /work/tools/quiet):
  scripts/interval-cost.py [NETTOOL] [ROUNDS] [DURATION] [PIN]
PIN: a CPU list for taskset (e.g. 0), or '-' for none.
"""
import json, os, statistics, subprocess, sys, time

nettool = sys.argv[1] if len(sys.argv) > 1 else "target/release/nettool"
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
duration = sys.argv[3] if len(sys.argv) > 3 else "3s"
pin = sys.argv[4] if len(sys.argv) > 4 else "-"


def run(interval):
    cmd = [nettool, "bench", "stream", "--proto", "tcp", "--json",
           "--duration", duration, "--interval", interval]
    if pin != "-":
        cmd = ["taskset", "-c", pin] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    assert status == 0, f"{cmd}: exit {status}"
    s = json.loads(out)["stream"]["tcp"]
    cpu = ru.ru_utime + ru.ru_stime
    return s["recv_gbps"], cpu * 1e9 / s["recv_bytes"] * 1e3  # ns per kB


print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load "
      f"{open('/proc/loadavg').read().split()[0]}, {rounds} rounds of {duration}, pin {pin}")
res = {"0": [], "1s": []}
for r in range(rounds):
    line = f"round {r + 1}"
    for iv in (["0", "1s"] if r % 2 == 0 else ["1s", "0"]):
        g, c = run(iv)
        res[iv].append((g, c))
        line += f"  {iv:>2}: {g:6.2f} Gbit/s {c:6.1f} ns CPU/kB"
    print(line, flush=True)
med = {k: (statistics.median(g for g, _ in v), statistics.median(c for _, c in v))
       for k, v in res.items()}
for k, (g, c) in med.items():
    gs = [g for g, _ in res[k]]
    print(f"--interval {k:>2}: goodput median {g:.2f} Gbit/s (range {min(gs):.2f}-{max(gs):.2f}), "
          f"CPU median {c:.1f} ns/kB")
print(f"1s / 0 (ratio of medians): goodput {med['1s'][0] / med['0'][0]:.3f}x, "
      f"CPU per byte {med['1s'][1] / med['0'][1]:.3f}x")
# The run that goes first in a round tends to be the slower one; rounds alternate the
# order, so with an even count the median of the per-round ratios cancels that out.
gr = statistics.median(b[0] / a[0] for a, b in zip(res["0"], res["1s"]))
cr = statistics.median(b[1] / a[1] for a, b in zip(res["0"], res["1s"]))
print(f"1s / 0 (median of per-round ratios): goodput {gr:.3f}x, CPU per byte {cr:.3f}x")
