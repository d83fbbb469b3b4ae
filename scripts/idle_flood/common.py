"""What every part of idle-flood shares: the lines the server says, the open-file limit,
percentiles, the server's RSS and CPU from /proc, the kernel's accept-queue overflows,
and starting the server."""

import math
import os
import resource
import socket
import subprocess
import sys
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

