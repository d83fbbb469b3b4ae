#!/usr/bin/env bash
# nettool's QUIC and TCP+TLS figures beside their floors, in one go: for each round,
# `nettool bench rtt setup` and `nettool bench stream` (all four columns, JSON), the bare quinn /
# tokio-rustls program (benches/bare.rs) and, if QUINN_PERF points at quinn's own
# `perf` binary (built from the quinn repository, see docs/quic-and-tls.md), its bulk
# upload (and QUINN_PERF_AWS_LC's, the same tool rebuilt on rustls's aws-lc-rs provider,
# nettool's; docs/quic-and-tls.md says how); then medians over the rounds and the ratios
# the figures are judged by.
# Each round also measures TLS and QUIC setup with --classical (X25519 alone) beside the
# post-quantum default. With LINK set (e.g. LINK="delay=20ms", needs root), setup is
# also measured across the link lab, both key exchanges, where round trips dominate.
# Servers run on CPU 0 and clients on CPU 1 (`bench --pin`, the bare program's --pin,
# taskset for quinn perf), as the issue's reference figures were taken; PIN=0 leaves the
# scheduler free to place them.
# Every goodput (nettool's four streams, the bare programs', quinn perf's upload) runs
# STREAM_SECS seconds (default 5), so all compare like for like.
# Usage: [LINK=SPEC] [PIN=0] [STREAM_SECS=N] scripts/quic-tls-compare.sh [ROUNDS]  (default 3). Build first:
#   cargo build --release && cargo bench --bench bare --no-run
# On a shared machine wrap the measurement: scripts/quic-tls-compare.sh runs each round
# under /work/tools/quiet when that exists.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
out="$(mktemp -d)"
bare="$(ls -t target/release/deps/bare-* 2>/dev/null | grep -v '\.d$' | head -1 || true)"
[ -x target/release/nettool ] && [ -n "$bare" ] || { echo "build first (see the header)" >&2; exit 1; }
secs="${STREAM_SECS:-5}"
quiet=()
[ -x /work/tools/quiet ] && quiet=(/work/tools/quiet)
pin=""; cpu0=""; cpu1=""
if [ "${PIN:-1}" != 0 ]; then
  command -v taskset >/dev/null || { echo "taskset is missing (util-linux); PIN=0 to run unpinned" >&2; exit 1; }
  pin="--pin"; cpu0="taskset -c 0"; cpu1="taskset -c 1"
fi
perf_round() {  # BINARY OUT.json
  [ -n "$1" ] || return 0
  $cpu0 "$1" server --listen 127.0.0.1:4433 >/dev/null 2>&1 &
  local srv=$! n
  # Wait (bounded) for its UDP port rather than for a fixed time.
  for n in $(seq 50); do ss -Hlun 'sport = :4433' | grep -q . && break; sleep 0.1; done
  $cpu1 "$1" client 127.0.0.1:4433 --upload-size 100G --download-size 0 --duration "$secs" \
    --json "$2" >/dev/null 2>&1 || true
  kill "$srv" 2>/dev/null || true
  wait "$srv" 2>/dev/null || true
}
for i in $(seq "$rounds"); do
  echo "round $i of $rounds" >&2
  "${quiet[@]}" bash -c "
    target/release/nettool bench rtt setup $pin --json > '$out/nettool-$i.json'
    target/release/nettool bench stream $pin --duration ${secs}s --json > '$out/stream-$i.json'
    target/release/nettool bench setup --proto tls,quic --classical $pin --json > '$out/classical-$i.json'
    '$bare' $pin --bulk $secs --json > '$out/bare-$i.json'
    $(declare -f perf_round); secs='$secs' cpu0='$cpu0' cpu1='$cpu1'
    perf_round '${QUINN_PERF:-}' '$out/perf-$i.json'
    perf_round '${QUINN_PERF_AWS_LC:-}' '$out/perf-aws-lc-$i.json'
  "
done
if [ -n "${LINK:-}" ]; then
  echo "setup across the link lab: $LINK" >&2
  "${quiet[@]}" bash -c "
    target/release/nettool bench setup --link '$LINK' --json > '$out/link.json'
    target/release/nettool bench setup --link '$LINK' --proto tls,quic --classical --json > '$out/link-classical.json'
  "
fi
python3 - "$out" "$rounds" <<'PY'
import json, statistics as st, sys, os
out, n = sys.argv[1], int(sys.argv[2])
def load(k, i):
    p = f"{out}/{k}-{i}.json" if i != "" else f"{out}/{k}.json"
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
rows = {}
def add(name, v):
    if v is not None:
        rows.setdefault(name, []).append(v)
for i in range(1, n + 1):
    nt, b = load("nettool", i), load("bare", i)
    nt["stream"] = (load("stream", i) or {}).get("stream", {})
    for proto in ("tcp", "tls", "udp", "quic"):
        r = nt["rtt"].get(proto)
        add(f"nettool {proto} rtt p50 us", r and r["latency"]["p50_us"])
        s = nt["stream"].get(proto)
        add(f"nettool {proto} goodput Gbit/s", s and s["recv_gbps"])
        su = nt["setup"].get(proto)
        if su:
            add(f"nettool {proto} setup p50 us", su["latency"]["p50_us"])
            if su.get("resumed"):
                add(f"nettool {proto} setup resumed p50 us", su["resumed"]["p50_us"])
            if su.get("zero_rtt"):
                add(f"nettool {proto} setup 0-RTT p50 us", su["zero_rtt"]["p50_us"])
    for proto, su in (load("classical", i) or {}).get("setup", {}).items():
        if su and su.get("latency"):
            add(f"nettool {proto} setup classical p50 us", su["latency"]["p50_us"])
    d = nt.get("rtt_datagrams")
    add("nettool quic datagram rtt p50 us", d and d["latency"]["p50_us"])
    for k, v in b.items():
        add(f"bare {k}", v)
    for k, name in (("perf", "quinn perf"), ("perf-aws-lc", "quinn perf on aws-lc-rs")):
        pf = load(k, i)
        if pf:
            # quinn perf's JSON: per-interval sums at the sender; the mean over them.
            ints = pf.get("intervals", [])
            bps = [x.get("sum", {}).get("bits_per_second") for x in ints]
            bps = [x for x in bps if x]
            add(f"{name} upload Gbit/s", bps and st.mean(bps) / 1e9)
med = {k: st.median(v) for k, v in rows.items()}
for name in ("nettool", "classical"):
    for proto, su in (load(name, 1) or {}).get("setup", {}).items():
        if su and su.get("negotiated"):
            ng = su["negotiated"]
            print(f"{name} {proto}: {ng.get('group')} {ng.get('suite')}")
for k in sorted(med):
    print(f"{k:40} {med[k]:10.2f}   ({', '.join(f'{x:.2f}' for x in rows[k])})")
def ratio(label, a, b, want):
    # The ratio of the medians, and the median of each round's own ratio: the machine
    # drifts between rounds, and the second cancels what one round shares.
    if a in med and b in med:
        per = ""
        if len(rows[a]) == len(rows[b]):
            per = f"  per round {st.median(x / y for x, y in zip(rows[a], rows[b])):.2f}"
        print(f"{label:52} {med[a] / med[b]:.2f}{per}  (target {want})")
print()
ratio("QUIC stream rtt p50 / bare quinn", "nettool quic rtt p50 us", "bare quic_rtt_stream_p50_us", "<= 1.15")
ratio("QUIC datagram rtt p50 / bare quinn", "nettool quic datagram rtt p50 us", "bare quic_rtt_datagram_p50_us", "<= 1.15")
ratio("TCP+TLS rtt p50 / plain TCP", "nettool tls rtt p50 us", "nettool tcp rtt p50 us", "<= 1.1")
ratio("  bare tokio-rustls rtt p50 / plain TCP", "bare tls_rtt_p50_us", "nettool tcp rtt p50 us", "-")
ratio("  TCP+TLS rtt p50 / bare tokio-rustls", "nettool tls rtt p50 us", "bare tls_rtt_p50_us", "-")
ratio("QUIC goodput / quinn perf", "nettool quic goodput Gbit/s", "quinn perf upload Gbit/s", ">= 0.9")
ratio("QUIC goodput / quinn perf on aws-lc-rs", "nettool quic goodput Gbit/s", "quinn perf on aws-lc-rs upload Gbit/s", "-")
ratio("QUIC goodput / bare quinn", "nettool quic goodput Gbit/s", "bare quic_goodput_gbps", "-")
ratio("TCP+TLS goodput / bare tokio-rustls", "nettool tls goodput Gbit/s", "bare tls_goodput_gbps", ">= 0.9")
ratio("QUIC setup full / bare quinn", "nettool quic setup p50 us", "bare quic_setup_full_p50_us", "<= 1.15")
ratio("QUIC setup resumed / bare quinn", "nettool quic setup resumed p50 us", "bare quic_setup_resumed_p50_us", "<= 1.15")
ratio("QUIC setup 0-RTT / bare quinn", "nettool quic setup 0-RTT p50 us", "bare quic_setup_0rtt_p50_us", "<= 1.15")
ratio("TLS setup full / bare tokio-rustls", "nettool tls setup p50 us", "bare tls_setup_full_p50_us", "<= 1.15")
ratio("TLS setup resumed / bare tokio-rustls", "nettool tls setup resumed p50 us", "bare tls_setup_resumed_p50_us", "<= 1.15")
ratio("TLS setup classical / post-quantum", "nettool tls setup classical p50 us", "nettool tls setup p50 us", "-")
ratio("QUIC setup classical / post-quantum", "nettool quic setup classical p50 us", "nettool quic setup p50 us", "-")
for name in ("link", "link-classical"):
    v = load(name, "")
    if not v:
        continue
    print(f"\nsetup across the link ({name}), time to the first echoed byte, p50 ms:")
    for proto, su in v["setup"].items():
        if not su or not su.get("latency"):
            continue
        kinds = [("full", su["latency"]), ("resumed", su.get("resumed")), ("0-RTT", su.get("zero_rtt"))]
        ng = su.get("negotiated") or {}
        cells = "  ".join(f"{k} {x['p50_us'] / 1000:7.2f}" for k, x in kinds if x)
        print(f"  {proto:5} {cells}  {ng.get('group', '')}")
PY
echo "raw JSON in $out" >&2
