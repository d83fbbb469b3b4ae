#!/usr/bin/env bash
# The figures of issue 25, each a before/after from the same run, interleaved, medians:
#  1. what collecting intervals costs the loopback TCP stream: --interval 0 against
#     --interval 1s (and 100 ms), ROUNDS rounds of each;
#  2. what --pcap costs the link: bench --link SPEC stream with and without a capture,
#     on a perfect link (offload on) and on an impaired one.
# Run it alone on the machine (on the shared machine: /work/tools/quiet scripts/capture-figures.sh).
# Needs root for part 2. Usage: scripts/capture-figures.sh [NETTOOL] [ROUNDS]
set -euo pipefail
N="${1:-target/release/nettool}"
ROUNDS="${2:-7}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

goodput() { # bench args... -> TCP stream goodput in Gbit/s (3 decimals)
  "$N" bench stream --proto tcp --json "$@" 2>/dev/null |
    python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["stream"]["tcp"]["recv_gbps"])'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "# 1. intervals on the loopback TCP stream, 3 s each, $ROUNDS interleaved rounds ($(date -u +%FT%TZ), load $(cut -d' ' -f1 /proc/loadavg))"
for r in $(seq "$ROUNDS"); do
  a=$(goodput --duration 3s --interval 0)
  b=$(goodput --duration 3s --interval 1s)
  c=$(goodput --duration 3s --interval 100ms)
  echo "round $r  off $a  1s $b  100ms $c Gbit/s"
  echo "$a" >>"$tmp/off"; echo "$b" >>"$tmp/1s"; echo "$c" >>"$tmp/100ms"
done
off=$(median <"$tmp/off"); s1=$(median <"$tmp/1s"); ms=$(median <"$tmp/100ms")
echo "medians: off $off, 1s $s1 ($(python3 -c "print('%.3f' % ($s1/$off))")x), 100ms $ms ($(python3 -c "print('%.3f' % ($ms/$off))")x)"

if [ "$(id -u)" -ne 0 ]; then echo "# 2. skipped: --link needs root"; exit 0; fi
for spec in "" "delay=5ms"; do
  echo "# 2. --pcap on --link \"$spec\", stream 3 s, $ROUNDS interleaved rounds"
  rm -f "$tmp/no" "$tmp/yes"
  for r in $(seq "$ROUNDS"); do
    a=$(goodput --link "$spec" --duration 3s --interval 0)
    b=$(goodput --link "$spec" --duration 3s --interval 0 --pcap "$tmp/c.pcapng")
    size=$(stat -c %s "$tmp/c.pcapng")
    echo "round $r  without $a  with $b Gbit/s (capture $((size / 1024)) KiB)"
    echo "$a" >>"$tmp/no"; echo "$b" >>"$tmp/yes"
  done
  no=$(median <"$tmp/no"); yes=$(median <"$tmp/yes")
  echo "medians: without $no, with $yes ($(python3 -c "print('%.3f' % ($yes/$no))")x)"
done
