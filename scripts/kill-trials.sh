#!/usr/bin/env bash
# Kill trials: does a chat server survive a client killed under traffic?
#
# Each trial starts a fresh server on 127.0.0.1, puts LOAD clients (default 10) on it
# sending RATE lines/s each (default 1000) through `nettool bench fanout --chat`, joins
# one extra client (`nc`, which says one line so that every server relays to it), waits
# until that client is receiving, sends it SIGKILL, lets the load run on, and then checks
# whether the server process is still alive. TRIALS (default 10) trials against each of:
#   - nettool chat -l (the release build; `cargo build --release` first),
#   - the lesson's Node.js server, tests/peers/chat-server.js (no 'error' handler),
#   - ncat --chat.
# Prints survived/trials per server (and, for nettool, clean exits on SIGTERM). Installs
# nothing: a missing tool is named and its server skipped.
#
#   scripts/kill-trials.sh
#   TRIALS=20 RATE=2000 SERVERS="nettool node" scripts/kill-trials.sh
#   KEEP=/tmp/crashes scripts/kill-trials.sh     # keep a dead server's stderr
set -uo pipefail
cd "$(dirname "$0")/.."

TRIALS=${TRIALS:-10}
LOAD=${LOAD:-10}
RATE=${RATE:-1000}
SECS=${SECS:-2}
SERVERS=${SERVERS:-nettool node ncat}
NETTOOL=target/release/nettool

have() { command -v "$1" >/dev/null 2>&1; }

if ! have nc; then
  echo "kill-trials: nc (netcat-openbsd) is missing: it is the killed client" >&2
  exit 1
fi
echo "kill-trials: building the release nettool" >&2
cargo build --release --locked --quiet || exit 1

work=$(mktemp -d)
# On exit, end only this script's own background jobs that are still running.
cleanup() {
  local running
  running=$(jobs -pr)
  [ -n "$running" ] && kill -KILL $running 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  if have python3; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    echo $((20000 + RANDOM % 40000))
  fi
}

# Wait (bounded, 10 s) until "$@" succeeds.
wait_until() {
  local i
  for i in $(seq 200); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

# Start server $1; sets SPID and PORT.
start_server() {
  local kind=$1 line
  : >"$work/server.out"
  : >"$work/server.err"
  case $kind in
    nettool)
      RUST_LOG=warn "$NETTOOL" chat -l 127.0.0.1:0 --proto tcp --queue 4096 \
        >"$work/server.out" 2>"$work/server.err" &
      SPID=$!
      wait_until grep -q serving "$work/server.err" || return 1
      line=$(grep serving "$work/server.err")
      PORT=${line##*:}
      ;;
    node)
      node tests/peers/chat-server.js 0 >"$work/server.out" 2>"$work/server.err" &
      SPID=$!
      wait_until grep -q listening "$work/server.out" || return 1
      line=$(grep listening "$work/server.out")
      PORT=${line##* }
      ;;
    ncat)
      PORT=$(free_port)
      ncat --chat -l 127.0.0.1 "$PORT" >"$work/server.out" 2>"$work/server.err" &
      SPID=$!
      wait_until nc -z 127.0.0.1 "$PORT" || return 1
      ;;
  esac
}

output_size() { stat -c %s "$work/victim.out" 2>/dev/null || echo 0; }
victim_hears() { [ "$(output_size)" -gt 4096 ]; }

# One trial against server $1: 0 if the server survived.
trial() {
  local kind=$1 text=() lpid vpid alive=1
  [ "$kind" = nettool ] || text=(--text)
  start_server "$kind" || { echo "kill-trials: $kind did not start" >&2; return 2; }
  "$NETTOOL" bench fanout --chat "127.0.0.1:$PORT" --proto tcp "${text[@]}" \
    --clients "$LOAD" --msg-rate "$RATE" --duration "${SECS}s" --json \
    >"$work/load.json" 2>"$work/load.err" &
  lpid=$!
  # The victim: says one line (so that every server counts it as a member), then only
  # reads. Its stdin is a FIFO held open on fd 3, so it never sends EOF.
  rm -f "$work/victim.in" "$work/victim.out"
  mkfifo "$work/victim.in"
  nc 127.0.0.1 "$PORT" <"$work/victim.in" >"$work/victim.out" 2>/dev/null &
  vpid=$!
  exec 3>"$work/victim.in"
  echo "hello from the victim" >&3
  if wait_until victim_hears; then
    kill -KILL "$vpid" 2>/dev/null
  else
    echo "kill-trials: the victim heard no traffic from $kind" >&2
    kill -KILL "$vpid" 2>/dev/null
  fi
  exec 3>&-
  wait "$vpid" 2>/dev/null
  # The load runs on past the kill; a crashed server ends it early with an error.
  wait "$lpid" 2>/dev/null
  kill -0 "$SPID" 2>/dev/null || alive=0
  if [ "$alive" = 1 ]; then
    kill -TERM "$SPID" 2>/dev/null
    wait "$SPID"
    STATUS=$?
  else
    wait "$SPID" 2>/dev/null
    STATUS=dead
    CRASH=$(grep -m1 -E "^[A-Za-z]*Error|panicked" "$work/server.err" || echo "no error printed")
    if [ -n "${KEEP:-}" ]; then
      mkdir -p "$KEEP" && cp "$work/server.err" "$KEEP/$kind-$(date +%s%N).err"
    fi
  fi
  [ "$alive" = 1 ]
}

printf '%-34s %s\n' "server" "survived/trials"
for kind in $SERVERS; do
  case $kind in
    node) have node || { printf '%-34s %s\n' "node tests/peers/chat-server.js" "skipped: node is missing"; continue; } ;;
    ncat) have ncat || { printf '%-34s %s\n' "ncat --chat" "skipped: ncat is missing"; continue; } ;;
  esac
  survived=0 clean=0
  : >"$work/crashes"
  for t in $(seq "$TRIALS"); do
    CRASH=""
    if trial "$kind"; then
      survived=$((survived + 1))
      [ "$STATUS" = 0 ] && clean=$((clean + 1))
    elif [ -n "$CRASH" ]; then
      echo "$CRASH" >>"$work/crashes"
    fi
  done
  case $kind in
    nettool) label="nettool chat (release)"; extra=" (exit 0 on SIGTERM: $clean/$survived)" ;;
    node) label="node tests/peers/chat-server.js"; extra="" ;;
    ncat) label="ncat --chat"; extra="" ;;
  esac
  if [ -s "$work/crashes" ]; then
    extra="$extra; died with: $(sort "$work/crashes" | uniq -c | sed 's/^ *//' | paste -sd';' -)"
  fi
  printf '%-34s %s\n' "$label" "$survived/$TRIALS$extra"
done
