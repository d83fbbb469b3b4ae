#!/usr/bin/env bash
# Install the real peers the interop tests talk to (netcat, ncat, socat, openssl), the
# NATS broker the cluster tests start (nats-server) and tcpdump, which reads back the
# lab's captures, when missing, from Debian's packages. Node.js must already be there.
# Installs only as root or with passwordless sudo; otherwise says what is missing and
# exits non-zero.
set -euo pipefail

declare -A package=([nc]=netcat-openbsd [ncat]=ncat [socat]=socat [openssl]=openssl [nats-server]=nats-server [tcpdump]=tcpdump)
missing=()
for tool in nc ncat socat openssl nats-server tcpdump; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "install-peers: missing ${missing[*]}; install them with apt-get (needs root)" >&2
    exit 1
  fi
  echo "install-peers: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v node >/dev/null 2>&1; then
  echo "install-peers: node (Node.js) is missing; the interop tests need it" >&2
  exit 1
fi
