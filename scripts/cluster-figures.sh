#!/usr/bin/env bash
# cluster-figures.sh [RUNS] [RATE...]: the bus's cost against the bare async-nats peer
# (issue 27), soundly: `nettool bench fanout --servers 2 --pin` (every nettool server and
# bare peer on CPU 0; nats-server and the load on CPU 1), 100 members, RUNS runs of each
# rate (default 3 of 20 and 50 lines/s per member), the rates interleaved, each run alone
# on the machine (/work/tools/quiet when it exists), then the medians. JSON per run in
# $OUT (default target/cluster-figures).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}; shift || true
rates=("${@:-20 50}"); rates=(${rates[*]})
out=${OUT:-target/cluster-figures}
mkdir -p "$out"
bin=target/release/nettool
[ -x "$bin" ] && [ -x target/release/examples/bus_floor ] || {
    echo "build first: cargo build --release --bins --examples" >&2; exit 1; }
quiet=(); [ -x /work/tools/quiet ] && quiet=(/work/tools/quiet)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
for i in $(seq "$runs"); do
    for r in "${rates[@]}"; do
        f="$out/$stamp-r$r-$i.json"
        "${quiet[@]}" "$bin" bench fanout --servers 2 --clients 100 --msg-rate "$r" \
            --duration 5s --pin ${FLOOR_BESIDE:+--floor-beside} --json > "$f"
        echo "run $i at 100 x $r: $f" >&2
    done
done
python3 - "$out" "$stamp" "${rates[@]}" <<'PY'
import glob, json, statistics as st, sys
out, stamp, rates = sys.argv[1], sys.argv[2], sys.argv[3:]
med = lambda xs: st.median(xs) if xs else float("nan")
for r in rates:
    rs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{stamp}-r{r}-*.json"))]
    rs = [x.get("cluster_fanout", x) for x in rs]
    s = [x["single"] for x in rs]; c = [x["cluster"] for x in rs]
    srv = [p for x in c for p in x["per_server"]]
    print(f"100 members x {r} lines/s, medians of {len(rs)} runs (pinned; servers and bare peers on CPU 0)")
    print(f"  delivered msg/s    1 server {med([x['delivered_per_s'] for x in s]):9.0f}   2 servers {med([x['delivered_per_s'] for x in c]):9.0f}")
    print(f"  p99 ms             1 server {med([x['latency']['p99_us']/1e3 for x in s]):9.2f}   2 servers {med([x['latency']['p99_us']/1e3 for x in c]):9.2f}")
    print(f"  CPU/delivery µs    1 server {med([x['per_server'][0]['cpu_us_per_delivery'] for x in s]):9.2f}   each of 2 {med([p['cpu_us_per_delivery'] for p in srv]):9.2f}")
    b = [x["broker"] for x in c if x.get("broker")]
    if b:
        print(f"  broker             {med([x['in_per_s'] for x in b]):.0f} publications/s in, {med([x['lines_per_publication'] for x in b]):.2f} lines each, "
              f"{med([x['cpu_us_per_publication'] for x in b]):.1f} µs CPU/publication, {med([x['cpu_us_per_line'] for x in b]):.1f} µs/line")
    print(f"  bus cost ms/s {med([p['bus_ms_per_s'] for p in srv]):.1f}, bare peer ms/s {med([p['floor_ms_per_s'] for p in srv]):.1f}, "
          f"ratio median {med([p['bus_to_floor'] for p in srv]):.2f}x (range {min(p['bus_to_floor'] for p in srv):.2f}-{max(p['bus_to_floor'] for p in srv):.2f}x; target <= 1.25x)")
PY
