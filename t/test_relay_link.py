# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""relayd's link to queued (common/qlink.c, common/agent.c) against a fake
queued: the test serves run_directory/queued.sock itself and a real relayd
connects to it.  A frame relayd cannot use (a WORK without its message,
with a field missing, with no recipient or an absurd count, a WORK_RCPT
with a field missing, a WORK out of turn) is logged, the link is closed
and made again, and relayd delivers the next good job: it does not exit,
and the count in WORK allocates nothing."""

import os
import socket

import pytest

import ferryipc as ipc
from conftest import wait_for
from relayharness import RELAY_CONF, SENDER
import sinks

MSGID = "0123456789ABCDEF"
RCPT = "rcpt@example.test"
MESSAGE = (b"From: %s\r\nTo: %s\r\nSubject: over the fake link\r\n\r\n"
    b"hello\r\n" % (SENDER.encode(), RCPT.encode()))


class FakeQueued:
    """A listening queued.sock; accept() returns a HELLO'd ipc.Conn."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.listen(4)

    def accept(self, timeout=20):
        self.sock.settimeout(timeout)
        s, _ = self.sock.accept()
        c = ipc.Conn.accepted(s, timeout=timeout)
        f = c.expect(ipc.HELLO)
        c.send(ipc.HELLO, ipc.U32(ipc.VERSION), "queued", reqid=f.reqid)
        return c

    def close(self):
        self.sock.close()
        os.unlink(self.path)


def message_fd(ferry):
    path = ferry.base / "message"
    path.write_bytes(MESSAGE)
    return os.open(path, os.O_RDONLY)


def send_work(c, reqid, fields, fd):
    try:
        c.send(ipc.WORK, *fields, fd=fd, reqid=reqid)
    finally:
        if fd is not None:
            os.close(fd)


def work_fields(n=1, size=len(MESSAGE)):
    return [MSGID, SENDER, ipc.U64(size), ipc.U32(n), ""]


def bad_work_no_fd(c, ferry, reqid):
    send_work(c, reqid, work_fields(), None)


def bad_work_no_credential(c, ferry, reqid):
    send_work(c, reqid, work_fields()[:-1], message_fd(ferry))


def bad_work_no_recipient(c, ferry, reqid):
    send_work(c, reqid, work_fields(n=0), message_fd(ferry))


def bad_work_absurd_count(c, ferry, reqid):
    """4 294 967 295 recipients announced, one sent, then the next
    WORK: relayd must neither allocate for the count nor wait on."""
    send_work(c, reqid, work_fields(n=0xffffffff), message_fd(ferry))
    c.send(ipc.WORK_RCPT, ipc.U32(0), RCPT, reqid=reqid)
    send_work(c, reqid, work_fields(), message_fd(ferry))


def bad_work_rcpt_no_addr(c, ferry, reqid):
    send_work(c, reqid, work_fields(), message_fd(ferry))
    c.send(ipc.WORK_RCPT, ipc.U32(0), reqid=reqid)


def bad_work_rcpt_out_of_turn(c, ferry, reqid):
    c.send(ipc.WORK_RCPT, ipc.U32(0), RCPT, reqid=reqid)


BAD = [bad_work_no_fd, bad_work_no_credential, bad_work_no_recipient,
    bad_work_absurd_count, bad_work_rcpt_no_addr, bad_work_rcpt_out_of_turn]


@pytest.fixture
def link(ferry_factory):
    sink = sinks.Sink(None).start()
    ferry = ferry_factory(dict(RELAY_CONF,
        default_route="smtp:[127.0.0.1]:%d" % sink.port), ())
    fake = FakeQueued(ferry.run_dir / "queued.sock")
    yield ferry, fake, sink
    if "relayd" in ferry.daemons:
        ferry.stop("relayd")
    fake.close()
    sink.stop()


@pytest.mark.parametrize("bad", BAD, ids=[b.__name__[4:] for b in BAD])
def test_bad_frame_from_queued_resets_the_link(link, bad):
    ferry, fake, sink = link
    ferry.start("relayd", wait=False)
    c = fake.accept()
    f = c.expect(ipc.FETCH)
    assert f.fields == [ipc.CHANNEL_SMTP], f
    bad(c, ferry, f.reqid)
    assert c.wait_closed(timeout=20), "relayd did not close the link"
    c.close()
    wait_for(lambda: [e for e in ferry.log_events("error", name="relayd")
        if e.get("msg", "").endswith("from queued; reconnecting")],
        timeout=20, what="relayd logs the bad frame")

    c = fake.accept()               # relayd is back, and delivers
    f = c.expect(ipc.FETCH)
    send_work(c, f.reqid, work_fields(), message_fd(ferry))
    c.send(ipc.WORK_RCPT, ipc.U32(0), RCPT, reqid=f.reqid)
    while True:
        r = c.expect(ipc.REPORT, ipc.FETCH, timeout=30)
        if r.type == ipc.FETCH:
            c.send(ipc.NO_WORK, reqid=r.reqid)
            continue
        c.send(ipc.OK, reqid=r.reqid)
        break
    assert r.fields[:3] == [MSGID, 0, ipc.DELIVERED], r
    (m,) = sink.wait_messages(1)
    assert m.rcpt_tos == [RCPT] and m.mail_from == SENDER
    assert b"over the fake link" in m.data
    assert ferry.daemons["relayd"].alive()
    c.close()
