#!/usr/bin/python3
# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""SMTP load generator for the benchmarks, like Postfix's smtp-source.

    smtpload.py [-s SESSIONS] [-m MESSAGES] [-M PER_SESSION] [-l SIZE]
                [-f FROM] [-t TO] [--no-pipelining] HOST:PORT
    smtpload.py --sink PORT          a do-nothing SMTP server (for checks)
    smtpload.py --selftest           the generator against that server

SESSIONS connections run in parallel; each sends PER_SESSION messages of
SIZE bytes, then QUIT, then connects again, until MESSAGES messages have
been sent in all.  `-s 20 -m 2000 -M 1 -l 10240` is
`smtp-source -s 20 -m 2000 -l 10240`.  When the server advertises
PIPELINING, MAIL, RCPT and DATA go out in one write (RFC 2920).  Prints
messages per second and the latency of each message: from the write of
MAIL to the 250 after the final dot (median and 99th percentile).

One process, asyncio on raw sockets: it does several thousand messages a
second against the do-nothing server (--selftest), so it is not what
limits the figures of a real server.  bench/run.py imports it.
"""
import argparse
import asyncio
import math
import os
import socket
import subprocess
import sys
import time

class SMTPError(Exception):
    pass


def message(size, sender="bench@source.test", rcpt="user@bench.test"):
    """A message of exactly SIZE bytes (headers included), CRLF lines of
    at most 80 octets, no line starting with a dot, ending in CRLF."""
    head = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\n"
            f"Subject: smtpload {size} bytes\r\n"
            "Message-ID: <smtpload@source.test>\r\n\r\n").encode()
    left = max(size - len(head), 2)
    line = b"X" * 78 + b"\r\n"
    body = line * (left // len(line))
    rest = left - len(body)
    if rest == 1:                   # a lone octet cannot hold a CRLF
        body = body[:-len(line)] + b"X" * 77 + b"\r\n"
        rest += 1
    if rest:
        body += b"X" * (rest - 2) + b"\r\n"
    return head + body


def large_body(total, sender="bench@source.test", rcpt="user@bench.test"):
    """Chunks of a message of exactly TOTAL bytes (lines of 1000 octets
    with the CRLF, 1000 lines at a time): never all of it in memory."""
    head = message(0, sender, rcpt)         # the headers and an empty line
    yield head
    line = b"z" * 998 + b"\r\n"
    lines, rest = divmod(max(total - len(head), 0), len(line))
    if rest == 1:                           # 999 + 2 octets instead
        lines, tail = lines - 1, b"z" * 997 + b"\r\n\r\n"
    else:
        tail = b"z" * (rest - 2) + b"\r\n" if rest else b""
    chunk = line * 1000
    for _ in range(lines // 1000):
        yield chunk
    yield line * (lines % 1000) + tail


class Client:
    """One SMTP session."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.extensions = set()

    @classmethod
    async def connect(cls, host, port, helo="source.test", ehlo=True):
        """Connect, read the greeting and (if ehlo) say EHLO."""
        reader, writer = await asyncio.open_connection(host, port)
        writer.get_extra_info("socket").setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = cls(reader, writer)
        await c.expect(220, "greeting")
        if ehlo:
            await c.ehlo(helo)
        return c

    async def ehlo(self, helo):
        self.writer.write(b"EHLO %s\r\n" % helo.encode())
        lines = await self.expect(250, "EHLO")
        self.extensions = {ln[4:].split(b" ")[0].upper().decode()
                           for ln in lines[1:]}

    async def reply(self):
        """One reply: (code, [lines without CRLF])."""
        lines = []
        while True:
            ln = await self.reader.readline()
            if not ln.endswith(b"\n"):
                raise SMTPError(f"connection closed after {lines!r}")
            ln = ln.rstrip(b"\r\n")
            lines.append(ln)
            if ln[3:4] != b"-":
                try:
                    return int(ln[:3]), lines
                except ValueError:
                    raise SMTPError(f"bad reply {lines!r}") from None

    async def expect(self, code, what):
        got, lines = await self.reply()
        if got != code and not (code == 250 and got == 251):
            raise SMTPError(f"{what}: expected {code}, got "
                            + " / ".join(ln.decode(errors="replace")
                                         for ln in lines))
        return lines

    async def send(self, sender, rcpts, data, pipelining=True):
        """One transaction; DATA is bytes (CRLF lines, dot-stuffed, ending
        in CRLF) or an iterable of such chunks.  Returns the seconds from
        the write of MAIL to the final 250."""
        w = self.writer
        cmds = [b"MAIL FROM:<%s>\r\n" % sender.encode()]
        cmds += [b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts]
        cmds.append(b"DATA\r\n")
        start = time.perf_counter()
        if pipelining and "PIPELINING" in self.extensions:
            w.write(b"".join(cmds))
            await self.expect(250, "MAIL")
            for _ in rcpts:
                await self.expect(250, "RCPT")
            await self.expect(354, "DATA")
        else:
            w.write(cmds[0])
            await self.expect(250, "MAIL")
            for c in cmds[1:-1]:
                w.write(c)
                await self.expect(250, "RCPT")
            w.write(cmds[-1])
            await self.expect(354, "DATA")
        if isinstance(data, bytes):
            w.write(data + b".\r\n")
        else:
            for chunk in data:
                w.write(chunk)
                await w.drain()
            w.write(b".\r\n")
        await w.drain()
        await self.expect(250, "end of data")
        return time.perf_counter() - start

    async def quit(self):
        try:
            self.writer.write(b"QUIT\r\n")
            await self.expect(221, "QUIT")
        finally:
            self.close()

    def close(self):
        self.writer.close()


class Result:
    def __init__(self, count, seconds, latencies):
        self.count, self.seconds = count, seconds
        self.rate = count / seconds if seconds else 0.0
        lat = sorted(latencies)
        self.median = percentile(lat, 50)
        self.p99 = percentile(lat, 99)

    def __str__(self):
        return (f"{self.count} messages in {self.seconds:.2f} s: "
                f"{self.rate:.0f} msg/s, latency median "
                f"{self.median * 1000:.2f} ms, p99 {self.p99 * 1000:.2f} ms")


def percentile(ordered, p):
    """Nearest-rank percentile of a sorted list (0 when empty)."""
    if not ordered:
        return 0.0
    return ordered[max(math.ceil(p / 100 * len(ordered)), 1) - 1]


async def load(host, port, sessions=20, messages=2000, per_session=1,
               size=10240, sender="bench@source.test",
               rcpts=("user@bench.test",), pipelining=True):
    """The smtp-source run; returns a Result."""
    data = message(size, sender, rcpts[0])
    latencies = []
    left = messages

    async def worker():
        nonlocal left
        while left > 0:
            n = min(per_session, left)
            left -= n
            c = await Client.connect(host, port)
            try:
                for _ in range(n):
                    latencies.append(await c.send(sender, rcpts, data,
                                                  pipelining))
                await c.quit()
            finally:
                c.close()

    start = time.perf_counter()
    tasks = [asyncio.ensure_future(worker()) for _ in range(sessions)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
    return Result(messages, time.perf_counter() - start, latencies)


async def open_idle(host, port, count, parallel=50):
    """COUNT sessions that have read the greeting and said EHLO (and read
    its reply); returns their Clients, which the caller closes."""
    sem = asyncio.Semaphore(parallel)
    clients = []

    async def one():
        async with sem:
            clients.append(await Client.connect(host, port))

    try:
        await asyncio.gather(*(one() for _ in range(count)))
    except BaseException:
        for c in clients:
            c.close()
        raise
    return clients


# --- a do-nothing server, to check the generator ---------------------------

class _SinkProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
        self.buf = b""
        self.data = False
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data):
        buf = self.buf + data
        out = []
        while True:
            if self.data:
                i = buf.find(b"\r\n.\r\n")
                if i == -1:
                    buf = buf[-4:]
                    break
                buf = buf[i + 5:]
                self.data = False
                out.append(b"250 2.0.0 Ok: queued\r\n")
                continue
            i = buf.find(b"\r\n")
            if i == -1:
                break
            verb, buf = buf[:4].upper(), buf[i + 2:]
            if verb == b"EHLO":
                out.append(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                out.append(b"354 go ahead\r\n")
                self.data = True
                buf = b"\r\n" + buf         # the dot may come at once
            elif verb == b"QUIT":
                out.append(b"221 bye\r\n")
                self.t.write(b"".join(out))
                self.t.close()
                return
            else:
                out.append(b"250 ok\r\n")
        self.buf = buf
        if out:
            self.t.write(b"".join(out))


async def serve_sink(port, ready=None):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_SinkProtocol, "127.0.0.1", port,
                                      backlog=4096, reuse_address=True)
    if ready:
        ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def sink_process():
    """Start the do-nothing server in a child process (its own CPU);
    returns (Popen, port)."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                             "--sink", "0"], stdout=subprocess.PIPE)
    port = int(proc.stdout.readline())
    return proc, port


def selftest(sessions=20, messages=4000, size=10240):
    """The generator against the do-nothing server: (one message per
    connection, 100 per connection) Results."""
    proc, port = sink_process()
    try:
        one = asyncio.run(load("127.0.0.1", port, sessions, messages, 1,
                               size))
        many = asyncio.run(load("127.0.0.1", port, sessions, messages * 2,
                                100, size))
    finally:
        proc.kill()
        proc.wait()
    return one, many


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-s", type=int, default=20, dest="sessions",
                    help="parallel sessions (20)")
    ap.add_argument("-m", type=int, default=2000, dest="messages",
                    help="messages in all (2000)")
    ap.add_argument("-M", type=int, default=1, dest="per_session",
                    help="messages per session (1)")
    ap.add_argument("-l", type=int, default=10240, dest="size",
                    help="message size in bytes (10240)")
    ap.add_argument("-f", default="bench@source.test", dest="sender")
    ap.add_argument("-t", default="user@bench.test", dest="rcpt")
    ap.add_argument("--no-pipelining", action="store_true")
    ap.add_argument("--sink", type=int, metavar="PORT",
                    help="run the do-nothing server; prints its port")
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("target", nargs="?", metavar="HOST:PORT")
    a = ap.parse_args()
    if a.sink is not None:
        def ready(port):
            print(port, flush=True)
        try:
            asyncio.run(serve_sink(a.sink, ready))
        except KeyboardInterrupt:
            pass
        return
    if a.selftest:
        one, many = selftest(a.sessions, a.messages, a.size)
        print(f"1 message per connection: {one}")
        print(f"100 messages per connection: {many}")
        return
    if not a.target:
        ap.error("HOST:PORT needed")
    host, _, port = a.target.rpartition(":")
    r = asyncio.run(load(host or "127.0.0.1", int(port), a.sessions,
                         a.messages, a.per_session, a.size, a.sender,
                         (a.rcpt,), not a.no_pipelining))
    print(r)


if __name__ == "__main__":
    main()
