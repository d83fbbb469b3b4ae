#!/usr/bin/env python3
"""The fan-out's latency/CPU curve as one SVG, from the raw JSON of compare.sh's pinned part.

Usage: scripts/fanout-curve.py [RAW.json ...] [OUT.svg]
(default bench-out/compare.json and docs/img/fanout-curve.svg; several raw files, e.g. one
per load, are drawn side by side)

One panel per pinned load: each server variant a point at (server CPU µs per delivery,
p99 delivery latency in ms, log scale); nettool's windows joined by a line from the
default (rounds only) outwards, the C relay floor's variants likewise, Node.js alone.
The shaded corner is the issue's target: CPU <= 0.6x Node's and p99 <= 2x the floor's
`round` p99, both from the same run. Plain SVG, no plotting library needed.
"""

import json
import math
import sys
import time
from pathlib import Path

W, H = 420, 340  # one panel
YCAP = 50.0  # ms: a point above (a server that could not keep up) sits on the top edge
ML, MR, MT, MB = 52, 12, 36, 44
COLOURS = {"nettool": "#1f77b4", "floor": "#d62728", "node": "#2ca02c",
           "members": "#9467bd"}


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def points(load):
    """(label, family, cpu µs, p99 ms) for each variant measured at this load."""
    out = []
    for name, r in load.items():
        if not isinstance(r, dict) or "runs" not in r:
            continue
        cpu, p99 = r.get("server_us_per_delivery"), r.get("p99_us")
        if cpu is None or p99 is None:
            continue
        if name == "nettool":
            fam, label = "nettool", "rounds (default)"
        elif name.startswith("nettool --coalesce "):
            fam, label = "nettool", name.split()[-1]
        elif name.startswith("floor "):
            v = name[6:]
            fam, label = "floor", v if v in ("now", "round") else f"round {int(v) / 1000:g}ms"
        elif name == "node":
            fam, label = "node", "Node.js"
        else:
            continue  # binary members, earlier builds: in the table, not on the curve
        out.append((label, fam, cpu, p99 / 1000))
    return out


def panel(x0, title, pts, target):
    # A server that could not keep up is drawn on the top edge, its p99 in its label.
    pts = [(f"{lb}: p99 {p99 / 1000:.1f} s ↑" if p99 > YCAP else lb, fam, cpu, min(p99, YCAP))
           for lb, fam, cpu, p99 in pts]
    xs = [p[2] for p in pts] + ([target[0]] if target else [])
    ys = [p[3] for p in pts] + ([target[1]] if target else [])
    xmax = max(xs) * 1.15
    ylo, yhi = math.log10(min(ys) / 1.6), math.log10(max(ys) * 1.6)
    pw, ph = W - ML - MR, H - MT - MB

    def sx(v):
        return x0 + ML + v / xmax * pw

    def sy(v):
        return MT + (yhi - math.log10(v)) / (yhi - ylo) * ph

    svg = [f'<text x="{x0 + W / 2}" y="18" text-anchor="middle" font-weight="bold">{esc(title)}</text>',
           f'<rect x="{x0 + ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>']
    if target:
        tx, ty = sx(min(target[0], xmax)), sy(target[1])
        svg.append(f'<rect x="{x0 + ML}" y="{ty}" width="{tx - x0 - ML}" height="{MT + ph - ty}" '
                   f'fill="#2ca02c" fill-opacity="0.08" stroke="#2ca02c" stroke-dasharray="4 3"/>')
        svg.append(f'<text x="{x0 + ML + 4}" y="{MT + ph - 6}" font-size="10" fill="#2ca02c">target</text>')
    for i in range(6):  # x ticks
        v = xmax * i / 5
        svg.append(f'<text x="{sx(v)}" y="{MT + ph + 14}" font-size="10" text-anchor="middle">{v:.2f}</text>')
    for e in range(math.floor(ylo), math.ceil(yhi) + 1):  # y ticks: 1, 2, 5 per decade
        for m in (1, 2, 5):
            v = m * 10 ** e
            if ylo <= math.log10(v) <= yhi:
                svg.append(f'<line x1="{x0 + ML - 3}" x2="{x0 + ML}" y1="{sy(v)}" y2="{sy(v)}" stroke="#888"/>')
                svg.append(f'<text x="{x0 + ML - 5}" y="{sy(v) + 3}" font-size="10" text-anchor="end">{v:g}</text>')
    svg.append(f'<text x="{x0 + ML + pw / 2}" y="{H - 12}" font-size="11" text-anchor="middle">server CPU µs per delivery</text>')
    svg.append(f'<text transform="translate({x0 + 13},{MT + ph / 2}) rotate(-90)" font-size="11" text-anchor="middle">p99 latency, ms</text>')
    for fam in ("nettool", "floor"):
        line = sorted([p for p in pts if p[1] == fam], key=lambda p: -p[2])
        if len(line) > 1:
            d = " ".join(f"{sx(p[2]):.1f},{sy(p[3]):.1f}" for p in line)
            svg.append(f'<polyline points="{d}" fill="none" stroke="{COLOURS[fam]}" stroke-opacity="0.4"/>')
    for label, fam, cpu, p99 in pts:
        c = COLOURS[fam]
        shape = (f'<rect x="{sx(cpu) - 4}" y="{sy(p99) - 4}" width="8" height="8" fill="{c}"/>'
                 if fam == "floor" else
                 f'<circle cx="{sx(cpu)}" cy="{sy(p99)}" r="4.5" fill="{c}"/>')
        svg.append(shape)
        # Labels near the right edge go to the left of their point.
        left = sx(cpu) + 6 + 5.2 * len(label) > x0 + ML + pw
        lx, anchor = (sx(cpu) - 6, "end") if left else (sx(cpu) + 6, "start")
        ly = sy(p99) + (14 + 11 * (fam == "node") if label.endswith("↑") else -5)
        svg.append(f'<text x="{lx}" y="{ly}" font-size="9.5" fill="{c}" '
                   f'text-anchor="{anchor}">{esc(label)}</text>')
    return svg


def main():
    args = sys.argv[1:]
    dst = Path(args.pop() if args and args[-1].endswith(".svg") else "docs/img/fanout-curve.svg")
    srcs = [Path(a) for a in args] or [Path("bench-out/compare.json")]
    raws = [json.loads(src.read_text()) for src in srcs]
    raw = raws[0]
    loads = [(k, v) for r in raws for k, v in r.items() if k.startswith("pinned_")]
    if not loads:
        sys.exit(f"{srcs[0]}: no pinned part (run PARTS=pinned scripts/compare.sh)")
    body = []
    for i, (key, load) in enumerate(loads):
        pts = points(load)
        node = load.get("node") or {}
        floor = load.get("floor round") or {}
        target = None
        if node.get("server_us_per_delivery") and floor.get("p99_us"):
            target = (0.6 * node["server_us_per_delivery"], 2 * floor["p99_us"] / 1000)
        members, rate = key[len("pinned_"):].split("x")
        body += panel(i * W, f"{members} members × {rate} msg/s", pts, target)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(raw.get("unix_time", time.time())))
    legend = (f"Pinned text fan-out (server CPU 0, load CPU 1), medians of {raw.get('runs')} runs of "
              f"{raw.get('seconds_each')} s, {when}. Circles: nettool, rounds and --coalesce windows "
              f"(blue), Node.js (green); squares: scripts/relay-floor.c now, round, round + window (red).")
    total_w, total_h = W * len(loads), H + 24
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{total_h}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{total_w}" height="{total_h}" fill="white"/>',
           *body,
           f'<text x="8" y="{H + 16}" font-size="10.5">{esc(legend)}</text>',
           "</svg>"]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n".join(svg) + "\n")
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
