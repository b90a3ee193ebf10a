# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""smtpd's connection limits (doc/smtpd.md, Replies and listener.c):
smtpd_max_sessions and smtpd_max_sessions_per_ip, and 1000 idle sessions
that must not stop a new client from getting its mail through."""

import resource
import smtplib
import socket
import time

import pytest

from smtpdharness import HELO, SENDER, Client, Closed, simple_message  # noqa
from smtpdharness import smtpd  # noqa: F401


def open_sessions(smtpd, n, source=None):
    out = []
    for _ in range(n):
        c = smtpd.client(source=source)
        assert c.greeting.code == 220, c.greeting
        out.append(c)
    return out


def refused(smtpd, source=None):
    """Connect and expect 421 4.7.0 Too many connections, then close."""
    c = smtpd.client(source=source, read_greeting=False)
    try:
        text = c.expect_close(5)
    finally:
        c.close()
    assert text.startswith("421 4.7.0"), text
    assert "Too many connections" in text, text
    return text


def wait_admitted(smtpd, timeout=5, source=None):
    """A new session gets 220 within timeout (the server may take a
    moment to notice a closed one)."""
    deadline = time.monotonic() + timeout
    while True:
        c = smtpd.client(source=source, read_greeting=False)
        try:
            r = c.reply()
        except Closed:
            r = None
        if r is not None and r.code == 220:
            return c
        c.close()
        if time.monotonic() > deadline:
            pytest.fail("no 220 within %ds (last %r)" % (timeout, r))
        time.sleep(0.1)


@pytest.mark.ferry_conf(smtpd_max_sessions_per_ip="2")
def test_max_sessions_per_ip(smtpd):
    """smtpd_max_sessions_per_ip = 2: a third connection from 127.0.0.1
    gets 421 4.7.0 Too many connections and is closed; one from 127.0.0.2
    is served; when one of the two ends, 127.0.0.1 is served again."""
    held = open_sessions(smtpd, 2)
    refused(smtpd)
    with smtpd.client(source="127.0.0.2") as other:
        assert other.greeting.code == 220
        other.ehlo()
    # the held ones still work
    for c in held:
        assert c.cmd("NOOP").startswith("250 2.0.0")
    held[0].quit()
    with wait_admitted(smtpd) as c:
        c.ehlo()
        c.send_mail()
    held[1].close()


@pytest.mark.ferry_conf(smtpd_max_sessions="2")
def test_max_sessions(smtpd):
    """smtpd_max_sessions = 2: a third connection, from any address, gets
    421 4.7.0; after one closes, a new one is served."""
    held = open_sessions(smtpd, 1) + open_sessions(smtpd, 1,
        source="127.0.0.2")
    refused(smtpd, source="127.0.0.3")
    refused(smtpd, source="127.0.0.1")
    held[1].close()
    with wait_admitted(smtpd, source="127.0.0.3") as c:
        c.ehlo()
    held[0].close()


@pytest.mark.ferry_conf(smtpd_max_sessions="2")
def test_max_sessions_counts_all_listeners(smtpd):
    """The limit is over all listeners: sessions on the submission and
    smtps ports count too."""
    a = smtpd.submission_client()
    b = smtpd.smtps_client()
    try:
        refused(smtpd)
    finally:
        a.close()
        b.close()


@pytest.mark.ferry_conf(smtpd_max_sessions_per_ip="2000",
    smtpd_timeout="60s")
@pytest.mark.timeout(180)
def test_1000_idle_sessions(smtpd):
    """1000 connections that each got their 220 and then say nothing:
    a new client still completes a transaction with smtplib, and the idle
    ones still answer afterwards."""
    need = 1200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need * 2:
        if hard != resource.RLIM_INFINITY and hard < need * 2:
            pytest.skip("RLIMIT_NOFILE hard limit %d is too low" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (need * 2, hard))
        smtpd.restart()         # smtpd inherits the higher limit
    idle = []
    try:
        for i in range(1000):
            c = Client("127.0.0.1", smtpd.smtp, timeout=10)
            assert c.greeting.code == 220, (i, c.greeting)
            idle.append(c)
        # served, not starved: smtplib's timeout is the watchdog
        with smtplib.SMTP("127.0.0.1", smtpd.smtp, local_hostname=HELO,
                          timeout=30) as s:
            s.sendmail(SENDER, ["user@ferry.test"], simple_message("busy"))
        assert len(smtpd.queued()) == 1
        for c in (idle[0], idle[499], idle[-1]):
            assert c.cmd("NOOP").startswith("250 2.0.0")
    finally:
        for c in idle:
            c.close()
    # all of them are gone again: a fresh client is served at once
    time.sleep(0.5)
    with smtpd.client() as c:
        c.ehlo()
        c.send_mail()


@pytest.mark.ferry_conf(smtpd_max_sessions_per_ip="2", smtpd_max_sessions="3",
    smtpd_max_errors="2", smtpd_auth_max_failures="1", smtpd_timeout="1s")
@pytest.mark.timeout(60)
def test_every_way_of_ending_frees_the_slot(smtpd):
    """Sessions that end every which way -- QUIT, close, RST, too many
    errors, AUTH failures, 521 bare LF, timeout, a failed TLS handshake
    on smtps and after STARTTLS, a client that never starts TLS -- each
    give their slot back: afterwards two sessions from 127.0.0.1 are
    still admitted."""
    import struct
    from smtpdharness import plain_blob

    def quit_(c):
        c.quit()

    def close_(c):
        c.close()

    def rst(c):
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
            struct.pack("ii", 1, 0))
        c.close()

    def errors(c):
        c.send("X\r\nY\r\nZ\r\n")
        c.expect_close()

    def auth_fail(c):
        c.cmd("AUTH PLAIN %s" % plain_blob("alice", "bad"))
        c.expect_close()

    def bare_lf(c):
        c.mail()
        c.rcpt("user@ferry.test")
        c.cmd("DATA")
        c.send(b"a\nb\r\n.\r\n")
        c.expect_close()

    def timeout(c):
        c.expect_close(5)

    def starttls_garbage(c):
        c.cmd("STARTTLS")
        c.send(b"\x16\x03\x01\x00\x05hello" + b"junk" * 100)
        try:
            c.expect_close(5)
        except OSError:
            pass

    for end in (quit_, close_, rst, errors, auth_fail, bare_lf, timeout,
                starttls_garbage):
        for _ in range(3):
            c = smtpd.client()
            c.ehlo()
            end(c)
            c.close()
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", smtpd.smtps))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.settimeout(5)
        try:
            while s.recv(1000):
                pass
        except OSError:
            pass
        s.close()
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", smtpd.smtps))
        s.close()
    time.sleep(0.5)
    held = [wait_admitted(smtpd), wait_admitted(smtpd)]
    for c in held:
        assert c.cmd("NOOP").startswith("250")
        c.close()


def smtpd_rss_kib(smtpd):
    with open("/proc/%d/status" % smtpd.ferry.pid("smtpd")) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_client_that_never_reads(smtpd):
    """A client that pipelines commands and never reads the replies:
    smtpd stops reading once 64 KB of replies wait, so the client's sends
    stall after what the kernel buffers hold, and smtpd's memory stays
    put (unbounded, 60 MB of NOOPs would queue 160 MB of replies)."""
    before = smtpd_rss_kib(smtpd)
    c = smtpd.client()
    c.sock.setblocking(False)
    chunk = b"NOOP\r\n" * 10000
    sent, deadline = 0, time.monotonic() + 8
    while sent < 60 * 2**20 and time.monotonic() < deadline:
        try:
            sent += c.sock.send(chunk)
        except BlockingIOError:
            time.sleep(0.05)
    grown = smtpd_rss_kib(smtpd) - before
    c.close()
    assert sent < 40 * 2**20, "smtpd kept reading: %d bytes taken" % sent
    assert grown < 16 * 1024, "smtpd grew by %d KiB" % grown
    with smtpd.client() as c2:
        c2.ehlo()
        c2.send_mail()
