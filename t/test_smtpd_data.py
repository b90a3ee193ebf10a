# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""The end of DATA and the durability of `250` (doc/smtpd.md, Data): SMTP
smuggling variants with smtpd_bare_lf = reject and = normalize, bare CR or
LF in DATA and BDAT, a client that disconnects mid-message, and kill -9 of
smtpd or queued right after the 250."""

import time

import pytest

from smtpdharness import SENDER, QUEUED_RE, simple_message, smtpd  # noqa
from smtpdharness import split_received

SMUGGLE_ENDS = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n.\r",
    b"\r\n.\r\r\n", b"\n..\n"]
IDS = ["lf-dot-lf", "lf-dot-crlf", "cr-dot-crlf", "crlf-dot-lf",
    "crlf-dot-cr", "crlf-dot-cr-crlf", "lf-dotdot-lf"]

SMUGGLED = (b"MAIL FROM:<smuggler@evil.example>\r\n"
    b"RCPT TO:<bob@ferry.test>\r\n"
    b"DATA\r\n"
    b"Subject: smuggled\r\n\r\nsmuggled body\r\n")


def smuggle(c, end, finish=True):
    """DATA with a fake end of data (END) followed by a second
    transaction's commands, then (finish) the real CRLF.CRLF."""
    c.ehlo()
    assert c.mail().code == 250
    assert c.rcpt("user@ferry.test").code == 250
    assert c.cmd("DATA").code == 354
    payload = b"Subject: carrier\r\n\r\nhello" + end + SMUGGLED
    if finish:
        payload += b".\r\n"
    c.send(payload)


@pytest.mark.parametrize("end", SMUGGLE_ENDS, ids=IDS)
def test_smuggling_rejected(smtpd, end):
    """smtpd_bare_lf = reject (default): a bare CR or LF in the data gets
    521 5.5.2 and the connection closes; nothing is queued, the smuggled
    commands are never answered."""
    with smtpd.client() as c:
        smuggle(c, end)
        r = c.reply()
        assert r.startswith("521 5.5.2"), r
        rest = c.expect_close()
        assert rest == "", "more after 521: %r" % rest
    assert smtpd.wait_queue_quiet() == []


@pytest.mark.ferry_conf(smtpd_bare_lf="normalize")
@pytest.mark.parametrize("end", SMUGGLE_ENDS, ids=IDS)
def test_smuggling_normalized_is_one_message(smtpd, end):
    """smtpd_bare_lf = normalize: the fake end is data.  Exactly one
    reply (250 queued), one message queued for user@ferry.test that
    contains the smuggled MAIL FROM text, every line ending CRLF; no
    second transaction."""
    with smtpd.client() as c:
        smuggle(c, end)
        r = c.reply()
        m = QUEUED_RE.match(r)
        assert m, r
        assert c.silent(0.5), "more replies: %r" % c.buf
        assert c.cmd("NOOP").startswith("250 2.0.0")
    ids = smtpd.queued()
    assert ids == [m.group(1)], ids
    assert smtpd.envelope(ids[0]) == (SENDER, ["user@ferry.test"])
    data = smtpd.ferry.read_msg(ids[0])
    assert b"MAIL FROM:<smuggler@evil.example>" in data
    _, rest = split_received(data)
    no_crlf = rest.replace(b"\r\n", b"")
    assert b"\r" not in no_crlf and b"\n" not in no_crlf, rest


@pytest.mark.ferry_conf(smtpd_bare_lf="normalize")
def test_normalize_bare_lf_message(smtpd):
    """normalize: a message written with bare LF line ends (and an LF-only
    dot line) is queued with CRLF line ends, the dot line kept as data."""
    with smtpd.client() as c:
        c.open_data()
        c.send(b"Subject: lf\n\nline one\n.\nline two\r\n.\r\n")
        r = c.reply()
        assert QUEUED_RE.match(r), r
        msgid = r.split()[-1]
    _, rest = split_received(smtpd.ferry.read_msg(msgid))
    assert rest == b"Subject: lf\r\n\r\nline one\r\n.\r\nline two\r\n", rest


def test_bare_lf_in_body_rejected(smtpd):
    """reject: one bare LF anywhere in the body (not only around a dot)
    is 521 5.5.2 Bare CR or LF in message, then close, nothing queued."""
    with smtpd.client() as c:
        c.open_data()
        c.send(b"Subject: x\r\n\r\nfine line\r\nbad line\nmore\r\n.\r\n")
        r = c.reply()
        assert r.startswith("521 5.5.2"), r
        assert "Bare CR or LF" in r, r
        c.expect_close()
    assert smtpd.wait_queue_quiet() == []


def test_bare_cr_in_bdat_rejected(smtpd):
    """BDAT chunks are checked the same way: a bare CR in a chunk is
    521 5.5.2, nothing queued."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        c.rcpt("user@ferry.test")
        chunk = b"Subject: x\r\n\r\nbare\rcr\r\n"
        c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        r = c.reply()
        assert r.startswith("521 5.5.2"), r
        c.expect_close()
    assert smtpd.wait_queue_quiet() == []


def test_bare_lf_split_across_bdat_chunks(smtpd):
    """A CR at the end of one BDAT chunk and the LF at the start of the
    next is a CRLF; queued intact."""
    msg = simple_message("split crlf", "a\r\nb\r\n")
    cut = msg.index(b"\r\nb") + 1
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        c.rcpt("user@ferry.test")
        c.send(b"BDAT %d\r\n" % cut + msg[:cut])
        assert c.reply().code == 250
        c.send(b"BDAT %d LAST\r\n" % (len(msg) - cut) + msg[cut:])
        r = c.reply()
        assert QUEUED_RE.match(r), r
    _, rest = split_received(smtpd.ferry.read_msg(r.split()[-1]))
    assert rest == msg


def test_crlf_dot_split_across_segments(smtpd):
    """The final CRLF.CRLF arriving one byte per write still ends the
    message exactly once."""
    import socket
    msg = simple_message("split end")
    with smtpd.client() as c:
        c.ehlo()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.mail()
        c.rcpt("user@ferry.test")
        assert c.cmd("DATA").code == 354
        c.send(msg[:-2])
        for b in b"\r\n.\r\n":
            time.sleep(0.02)
            c.send(bytes([b]))
        r = c.reply()
        assert QUEUED_RE.match(r), r
        assert c.silent(0.3)
    _, rest = split_received(smtpd.ferry.read_msg(r.split()[-1]))
    assert rest == msg


# --- connections that end early -----------------------------------------------

def assert_abandoned(smtpd):
    """The transaction a client walked away from left nothing in q/, and
    smtpd still takes mail."""
    time.sleep(1)
    assert smtpd.ferry.queue_files() == []
    with smtpd.client() as c:
        c.ehlo()
        c.send_mail()


def test_disconnect_mid_data(smtpd):
    """A client that sends half a message and closes the connection
    leaves nothing in the queue: no message, no stray file in q/."""
    with smtpd.client() as c:
        c.open_data()
        c.send(simple_message("half", "x" * 30000 + "\r\n"))
    assert_abandoned(smtpd)


def test_disconnect_mid_bdat(smtpd):
    """Likewise in the middle of a BDAT chunk."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        c.rcpt("user@ferry.test")
        c.send(b"BDAT 100000 LAST\r\n" + b"y" * 5000)
    time.sleep(1)
    assert smtpd.ferry.queue_files() == []


def test_kill_smtpd_mid_data(smtpd):
    """kill -9 smtpd while a client is in DATA: queued drops the message
    it had reserved (nothing left in q/), and a restarted smtpd works."""
    c = smtpd.client()
    c.open_data()
    c.send(b"Subject: x\r\n\r\n" + b"y" * 10000 + b"\r\n")
    time.sleep(0.3)
    smtpd.ferry.kill("smtpd")
    c.close()
    smtpd.wait_queue_empty(5)
    smtpd.start()
    with smtpd.client() as c:
        c.ehlo()
        c.send_mail()


def test_empty_message(smtpd):
    """DATA with nothing before the final dot: queued, the queued message
    is just the Received header."""
    with smtpd.client() as c:
        c.open_data()
        c.send(b".\r\n")
        r = c.reply()
        assert QUEUED_RE.match(r), r
    head, rest = split_received(smtpd.ferry.read_msg(r.split()[-1]))
    assert rest == b""


def test_disconnect_after_final_dot(smtpd):
    """A client that sends the final dot and closes at once, before the
    250: smtpd survives; the message is either queued whole or not at
    all (no .msg without its .env)."""
    msg = simple_message("gone")
    for _ in range(5):
        c = smtpd.client()
        c.open_data()
        c.send(msg + b".\r\n")
        c.close()
    time.sleep(1)
    assert smtpd.ferry.daemons["smtpd"].alive()
    files = smtpd.ferry.queue_files()
    ids = smtpd.queued()
    assert sorted(files) == sorted([i + ".env" for i in ids] +
        [i + ".msg" for i in ids]), files
    for i in ids:
        assert split_received(smtpd.ferry.read_msg(i))[1] == msg
    with smtpd.client() as c:
        c.ehlo()
        c.send_mail()


def test_long_data_line(smtpd):
    """Message lines are not limited to 1000 octets: a 300 kB line is
    queued intact."""
    msg = simple_message("long line", "w" * 300000 + "\r\nend\r\n")
    with smtpd.client() as c:
        c.ehlo()
        msgid = c.send_mail(body=msg)
    assert split_received(smtpd.ferry.read_msg(msgid))[1] == msg


def test_reset_mid_data(smtpd):
    """A TCP RST (SO_LINGER 0) mid-DATA: nothing queued, smtpd goes on."""
    import socket
    import struct
    c = smtpd.client()
    c.open_data()
    c.send(b"Subject: rst\r\n\r\npartial\r\n")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
        struct.pack("ii", 1, 0))
    c.close()
    assert_abandoned(smtpd)


# --- crashes after 250 --------------------------------------------------------

def data_to_final_reply(smtpd, msg):
    """A session that sends msg by DATA: (the client, the final reply)."""
    c = smtpd.client()
    c.open_data()
    c.send(msg + b".\r\n")
    return c, c.reply()


def test_kill_smtpd_after_250_still_delivered(smtpd):
    """kill -9 smtpd the moment the 250 arrives (relayd and the sink
    running): the message was durable before the 250, so it reaches the
    sink."""
    sink = smtpd.relay_to_sink()
    msg = simple_message("survives smtpd")
    c, r = data_to_final_reply(smtpd, msg)
    smtpd.ferry.kill("smtpd")
    c.close()
    assert QUEUED_RE.match(r), r
    (m,) = sink.wait_messages(1)
    assert split_received(m.data)[1] == msg
    smtpd.wait_queue_empty(20)


def test_kill_queued_after_250_still_delivered(smtpd):
    """kill -9 queued right after the 250, then start queued and relayd:
    the message is delivered."""
    sink = smtpd.relay_to_sink(start=False)
    msg = simple_message("survives queued")
    c, r = data_to_final_reply(smtpd, msg)
    smtpd.ferry.kill("queued")
    assert QUEUED_RE.match(r), r
    c.close()
    smtpd.ferry.start("queued")
    smtpd.ferry.start("relayd")
    (m,) = sink.wait_messages(1)
    assert split_received(m.data)[1] == msg
    assert m.rcpt_tos == ["user@ferry.test"]


def full_transaction_reply(c, body):
    """MAIL, RCPT, DATA step by step; the first reply that is not the
    expected 2xx/354 (or the final one)."""
    r = c.mail()
    if r.code != 250:
        return r
    r = c.rcpt("user@ferry.test")
    if r.code != 250:
        return r
    r = c.cmd("DATA")
    if r.code != 354:
        return r
    c.send(body + b".\r\n")
    return c.reply()


def test_queued_down_then_back(smtpd):
    """While queued is stopped, a transaction gets 451 4.3.0 somewhere
    (never 250) and smtpd stays up; once queued is back, smtpd queues
    again."""
    smtpd.ferry.stop("queued")
    with smtpd.client() as c:
        c.ehlo()
        r = full_transaction_reply(c, simple_message("queued down"))
        assert r.startswith("451 4.3.0"), r
    smtpd.ferry.start("queued")
    deadline = time.monotonic() + 10
    while True:
        with smtpd.client() as c:
            c.ehlo()
            r = full_transaction_reply(c, simple_message("queued back"))
        if QUEUED_RE.match(r) or time.monotonic() > deadline:
            break
        assert r.startswith("451 4.3.0"), r
        time.sleep(0.5)
    assert QUEUED_RE.match(r), r
    assert smtpd.queued() == [r.split()[-1]]


def test_queued_killed_mid_data(smtpd):
    """kill -9 queued while a client is in DATA: the client gets 451 4.3.0
    (not 250) at the end, and after a restart of queued nothing of that
    message is in the queue."""
    c = smtpd.client()
    c.open_data()
    c.send(b"Subject: torn\r\n\r\n" + b"x" * 10000 + b"\r\n")
    time.sleep(0.3)
    smtpd.ferry.kill("queued")
    c.send(b"more\r\n.\r\n")
    r = c.reply()
    c.close()
    assert r.startswith("451 4.3.0"), r
    smtpd.ferry.start("queued")
    assert smtpd.ferry.queue_files() == []


@pytest.mark.ferry_conf(queue_min_free="1000000G")
def test_queue_refuses_for_space(smtpd):
    """queued refuses new messages (queue_min_free not available): the
    client gets 452 4.3.1 Insufficient system storage, never 250, and
    nothing is queued."""
    with smtpd.client() as c:
        c.ehlo()
        r = full_transaction_reply(c, simple_message("no space"))
        assert r.startswith("452 4.3.1 Insufficient system storage"), r
        assert c.cmd("NOOP").startswith("250")
    assert smtpd.ferry.queue_files() == []
