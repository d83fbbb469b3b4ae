#!/usr/bin/env bash
# The link lab's figures (issue 9), measured with third-party tools through
# `nettool lab`, next to plain loopback in the same run. Needs root, iperf3, sockperf,
# ping (apt-get install -y iperf3 sockperf iputils-ping). Every load is bounded in time.
# Usage: scripts/lab-figures.sh [path/to/nettool]   (default: target/release/nettool)
set -uo pipefail
NT="${1:-${CARGO_TARGET_DIR:-target}/release/nettool}"
T="${T:-5}"   # seconds per throughput run

# p50 of a ping run: "ping ... | p50" (ms).
p50() { grep -o 'time=[0-9.]*' | cut -d= -f2 | sort -n | awk '{a[NR]=$1} END {if (NR) printf "p50 %.3f ms over %d replies\n", a[int((NR+1)/2)], NR}'; }
lab() { local spec="$1"; shift; "$NT" lab --link "$spec" -- sh -c "$*"; }
export -f p50

iperf3 -s -p 5201 >/dev/null 2>&1 &
IP3=$!
"$NT" echo -l 0.0.0.0:5202 --proto udp --udp-rate 0 2>/dev/null &
ECHO=$!
sockperf server --tcp -i 0.0.0.0 -p 11111 >/dev/null 2>&1 &
SP_TCP=$!
sockperf server -i 0.0.0.0 -p 11112 >/dev/null 2>&1 &
SP_UDP=$!
trap 'kill $IP3 $ECHO $SP_TCP $SP_UDP 2>/dev/null' EXIT
sleep 1

echo "== empty spec vs loopback: TCP throughput (iperf3 -t $T, MTU 1500 on the lab)"
echo "-- loopback"; iperf3 -c 127.0.0.1 -t "$T" -f m | grep -E 'sender|receiver'
echo "-- lab, empty spec"; lab "" "iperf3 -c \$NETTOOL_LAB_HOST -t $T -f m | grep -E 'sender|receiver'"

echo "== empty spec vs loopback: round trip"
echo "-- loopback ping"; ping -c 500 -i 0.002 -q 127.0.0.1 >/dev/null; ping -c 500 -i 0.002 127.0.0.1 | p50
echo "-- lab ping"; lab "" "ping -c 500 -i 0.002 \$NETTOOL_LAB_HOST" | p50
for proto in udp tcp; do
  port=11112; flag=""; [ $proto = tcp ] && { port=11111; flag=--tcp; }
  echo "-- loopback sockperf $proto"; sockperf ping-pong $flag -i 127.0.0.1 -p $port -t "$T" 2>&1 | grep -E 'avg-latency|50.000|99.000'
  echo "-- lab sockperf $proto"; lab "" "sockperf ping-pong $flag -i \$NETTOOL_LAB_HOST -p $port -t $T 2>&1 | grep -E 'avg-latency|50.000|99.000'"
done

echo "== delay=20ms each way: ping (target: p50 = 40 ms + the lab's base RTT, within 0.5 ms)"
lab "delay=20ms" "ping -c 200 -i 0.02 \$NETTOOL_LAB_HOST" | p50

echo "== loss=5%: iperf3 UDP at 20 Mbit/s, 1200-byte datagrams, 12 s (≈ 25 000 datagrams)"
lab "loss=5%" "iperf3 -c \$NETTOOL_LAB_HOST -u -b 20M -l 1200 -t 12 -f m | grep -E 'receiver'"

echo "== seed=: the same loss on a rerun (2000 UDP echoes, loss=5% seed=7, twice)"
for i in 1 2; do
  lab "loss=5% seed=7" "$NT echo --proto udp -c 2000 -i 1ms -W 200ms \$NETTOOL_LAB_HOST:5202 --json >/dev/null" 2>&1 | grep uplink
done

for r in 10 100; do
  echo "== rate=${r}mbit: iperf3 TCP (target $((r*9/10))-$r Mbit/s)"
  lab "rate=${r}mbit" "iperf3 -c \$NETTOOL_LAB_HOST -t $((T*2)) -f m | grep -E 'sender|receiver'"
done
