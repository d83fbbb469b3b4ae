"""The real members (asyncio): each connects, asks for a nickname, waits for its welcome,
retries when refused, and listens for the chat lines of the others."""

import asyncio
import time

from .common import EVICTED, FULL, HOST, WELCOME


class Member:
    def __init__(self, name, wave):
        self.name, self.wave = name, wave
        self.attempts = 0
        self.refused = 0
        self.dropped = 0  # closed without a line
        self.errors = 0  # connect failed or timed out
        self.welcome_ms = None
        self.in_at = None  # seconds after the flood started
        self.writer = None
        self.heard = set()
        self.evicted = False
        self.closed_at = None

    @property
    def connected(self):
        return self.writer is not None and self.closed_at is None


async def attempt(m, port, timeout):
    """One connection: `in` (welcomed; keeps the connection), `refused`, `dropped` or
    `error`."""
    start = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return "error", start
    writer.write(f"/nick {m.name}\n".encode())
    deadline = start + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            line = await asyncio.wait_for(reader.readline(), max(0.001, left))
            if not line:
                writer.close()
                return "dropped", start
            text = line.decode(errors="replace")
            if text.startswith(WELCOME):
                m.welcome_ms = (time.monotonic() - start) * 1000
                m.writer = writer
                m.reader = reader
                return "in", start
            if text.startswith(FULL):
                writer.close()
                return "refused", start
    except (OSError, asyncio.TimeoutError):
        writer.close()
        return "error", start


async def listen(m, t0):
    """Read a member's lines until its connection ends: who it heard, and whether it
    was evicted."""
    try:
        while True:
            line = await m.reader.readline()
            if not line:
                break
            text = line.decode(errors="replace").rstrip("\n")
            if text.startswith(EVICTED):
                m.evicted = True
            elif ": hello from " in text:
                m.heard.add(text.split(":", 1)[0])
    except (OSError, asyncio.CancelledError):
        pass
    finally:
        if m.closed_at is None:
            m.closed_at = time.monotonic() - t0


async def join(m, port, t0, args):
    """Join, retrying when refused, for at most args.retry_for seconds."""
    arrived = time.monotonic()
    while True:
        m.attempts += 1
        result, start = await attempt(m, port, 10.0)
        if result == "in":
            m.in_at = time.monotonic() - t0
            m.task = asyncio.ensure_future(listen(m, t0))
            return
        field = {"refused": "refused", "dropped": "dropped", "error": "errors"}[result]
        setattr(m, field, getattr(m, field) + 1)
        nxt = start + args.retry
        if args.retry <= 0 or nxt > arrived + args.retry_for:
            return
        await asyncio.sleep(max(0.0, nxt - time.monotonic()))


async def wave(at, names, members, port, t0, args, sent):
    await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
    mine = [Member(n, at) for n in names]
    members.extend(mine)
    await asyncio.gather(*(join(m, port, t0, args) for m in mine))
    # Settled: each member in says one line, to be heard by every real member connected.
    for m in mine:
        if m.connected:
            expect = [o for o in members if o is not m and o.connected]
            m.writer.write(f"hello from {m.name}\n".encode())
            sent.append((m.name, expect))

