"""The flood: idle connections opened from child processes (one process may not hold
20 000 sockets under this machine's hard limit), never sending a byte, each classified
by how it ends."""

import errno
import select
import signal
import socket
import time

from .common import BANNER, EVICTED, FULL, HOST, raise_nofile


def flood_child(index, children, total, rate, port, t0, pipe):
    """Open this child's share of the flood (global indices index, index+children, ...;
    index i at t0 + i/rate), never send, drain what arrives, classify how each ends.
    Reports to `pipe` when told to stop (or at its deadline)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_nofile()
    ep = select.epoll()
    conns = {}  # fd -> [sock, state, tail, t_start]
    out = {
        "admitted": [],  # seconds after t0, at the banner
        "banner_ms": [],  # connect start -> banner
        "answers": [],  # (connect start after t0, ms to the banner or the refusal)
        "refused": [],
        "evicted": [],
        "dropped": [],  # closed before the banner, without a line
        "closed": [],  # closed after the banner, without the eviction line
        "connect_errors": {},
        "still_open": 0,
        "opened": 0,
    }
    mine = list(range(index, total, children))
    nxt = 0

    def finish(fd, state, now):
        sock = conns.pop(fd)[0]
        try:
            ep.unregister(fd)
        except OSError:
            pass
        sock.close()
        out[state].append(now - t0)

    stop = False
    while not stop:
        now = time.monotonic()
        while nxt < len(mine) and t0 + mine[nxt] / rate <= now:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((HOST, port))
            nxt += 1
            if rc not in (0, errno.EINPROGRESS):
                name = errno.errorcode.get(rc, str(rc))
                out["connect_errors"][name] = out["connect_errors"].get(name, 0) + 1
                s.close()
                continue
            out["opened"] += 1
            conns[s.fileno()] = [s, "open", b"", now]
            ep.register(s.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        wait = 0.05
        if nxt < len(mine):
            wait = max(0.0, min(wait, t0 + mine[nxt] / rate - now))
        for fd, _ev in ep.poll(wait, 1024):
            c = conns.get(fd)
            if c is None:
                continue
            now = time.monotonic()
            while True:
                try:
                    data = c[0].recv(65536)
                except BlockingIOError:
                    break
                except OSError:
                    data = b""
                if not data:
                    if c[1] == "open":
                        finish(fd, "dropped", now)
                    else:
                        finish(fd, "closed", now)
                    break
                buf = c[2] + data
                *lines, c[2] = buf.split(b"\n")
                c[2] = c[2][-4096:]
                gone = None
                for line in lines:
                    if c[1] == "open" and line.startswith(BANNER):
                        c[1] = "admitted"
                        out["admitted"].append(now - t0)
                        out["banner_ms"].append((now - c[3]) * 1000)
                        out["answers"].append((c[3] - t0, (now - c[3]) * 1000))
                    elif line.startswith(FULL.encode()):
                        gone = "refused"
                        if c[1] == "open":
                            out["answers"].append((c[3] - t0, (now - c[3]) * 1000))
                    elif line.startswith(EVICTED.encode()):
                        gone = "evicted"
                if gone:
                    finish(fd, gone, now)
                    break
        if pipe.poll():
            pipe.recv()
            stop = True
    out["still_open"] = len(conns)
    out["still_admitted"] = sum(1 for c in conns.values() if c[1] == "admitted")
    pipe.send(out)
    for c in conns.values():
        c[0].close()

