# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""submit.sock, open to every local user, against a user who misuses it:
no spool descriptor ever reaches the user (the message comes over the
socket in SUBMIT_DATA frames), queued itself holds max_message_size, one
uid gets at most 64 connections, a peer that does not read its replies is
not read from, queued out of descriptors pauses its listener instead of
spinning, and a user's flush counts once a minute."""

import os
import pwd
import resource
import socket
import subprocess
import threading

import pytest

import ferryipc as ipc
from conftest import BIN, run, run_as, user_exists, wait_for

MAX_PER_UID = 64            # SUBMIT_MAX_PER_UID in queue/queued.c

needs_root = pytest.mark.skipif(os.geteuid() != 0,
    reason="needs root: the limits are for other users than queued's own "
    "and root, and only root can become one")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def in_file(ferry, msgid):
    return ferry.q_dir / (msgid + ".in")


def settle(conn):
    """Wait until queued has handled every frame sent on conn before
    now: it answers in order, so a LIST's end means the rest is done."""
    conn.list()


def test_submit_hands_no_spool_descriptor(ferry):
    """CREATED on the public socket carries no file descriptor: a local
    user never holds a writable file of the spool."""
    with ferry.ipc(sock="submit", name="sendmail") as c:
        reqid = c.send(ipc.SUBMIT)
        f = c.expect(ipc.CREATED, reqid=reqid)
        assert f.fd is None, f
        msgid = f.fields[0]
        c.submit_data(b"Subject: streamed\n\nline one\nline two\n")
        c.send(ipc.RCPT, "a@example.test")
        f = c.request(ipc.SUBMIT_COMMIT, msgid, "", "root", "",
            ipc.U32(0), expect=(ipc.COMMITTED,))
    assert ferry.read_msg(msgid).endswith(b"\r\n\r\nline one\r\nline two\r\n")


@pytest.mark.ferry_conf(max_message_size="100k")
def test_queued_holds_max_message_size_itself(ferry):
    """A raw client that ignores the max_size CREATED names: queued stops
    writing at the limit, gives the space back at once and refuses the
    commit as permanent."""
    with ferry.ipc(sock="submit", name="sendmail") as c:
        reqid = c.send(ipc.SUBMIT)
        msgid = c.expect(ipc.CREATED, reqid=reqid).fields[0]
        c.submit_data(b"Subject: big\n\n" + b"x" * 99 * 1024)
        settle(c)
        assert in_file(ferry, msgid).stat().st_size > 99 * 1024
        c.submit_data(b"y" * 300 * 1024)
        settle(c)
        assert in_file(ferry, msgid).stat().st_size == 0
        c.send(ipc.RCPT, "a@example.test")
        f = c.request(ipc.SUBMIT_COMMIT, msgid, "", "root", "",
            ipc.U32(0), expect=(ipc.ERROR,))
        assert f.fields[0] == 1, f          # IPC_ERR_PERM
        assert "max_message_size" in f.fields[1], f
    wait_for(lambda: ferry.queue_files() == [], timeout=5,
        what="refused submission removed (%r)" % ferry.queue_files())


def test_submit_data_without_a_message_closes(ferry):
    with ferry.ipc(sock="submit", name="sendmail") as c:
        c.submit_data(b"no SUBMIT first")
        c.wait_closed()
    assert ferry.ping()


@needs_root
def test_one_uid_holds_at_most_64_connections(ferry):
    """nobody's 65th connection is closed at once (and logged) while root's
    still come in; once one of nobody's closes, nobody gets one again."""
    if not user_exists("nobody"):
        pytest.fail("no user nobody on this host")
    path = ferry.submit_socket
    held = threading.Event()
    release = threading.Event()

    def as_nobody():
        conns = [ipc.Conn(path, timeout=10, hello="sendmail")
            for _ in range(MAX_PER_UID)]
        try:
            ipc.Conn(path, timeout=10, hello="sendmail")
            return 1                        # the 65th got in
        except (ipc.Closed, OSError):
            pass
        os.write(w, b"x")                   # tell the parent: at the cap
        os.read(r2, 1)                      # until root has been in
        conns.pop().close()
        conns[-1].list()                    # a round trip: queued saw it
        try:
            ipc.Conn(path, timeout=10, hello="sendmail").close()
        except (ipc.Closed, OSError):
            return 2
        return 0

    r, w = os.pipe()
    r2, w2 = os.pipe()
    result = []
    t = threading.Thread(target=lambda: result.append(
        run_as("nobody", as_nobody)), daemon=True)
    t.start()
    assert os.read(r, 1) == b"x"
    with ipc.Conn(path, timeout=10, hello="mailq") as c:     # root's
        c.list()
    os.write(w2, b"x")
    t.join(30)
    assert result == [0], result
    nobody = pwd.getpwnam("nobody").pw_uid
    refused = ferry.log_events("ipc-refused", uid=str(nobody))
    assert len(refused) == 1, refused
    assert refused[0].get("reason") == "too many connections", refused
    for fd in (r, w, r2, w2):
        os.close(fd)


def test_a_peer_that_does_not_read_is_not_read_from(ferry):
    """LIST after LIST without reading a reply: queued stops reading from
    that connection once its unread replies pass a bound, so the sender
    blocks and queued's memory stays flat; other clients are served
    meanwhile, and every reply arrives complete once the peer reads."""
    for i in range(50):
        ferry.submit("r%d@example.test" % i, body="x\n" * 10)
    pid = ferry.pid()
    before = rss_kib(pid)
    c = ferry.ipc(sock="submit", name="mailq")
    c.sock.settimeout(3)
    frame = ipc.encode_frame(ipc.LIST, 0)
    sent = 0
    with pytest.raises(socket.timeout):
        while sent < 100000:
            c.send_raw(frame)
            sent += 1
    # each LIST answers ~5 KiB: unbounded, 100000 would take ~500 MB
    assert sent < 100000
    assert rss_kib(pid) - before < 32 * 1024, (before, rss_kib(pid))
    assert ferry.ping()
    with ferry.ipc(sock="submit", name="mailq") as other:
        assert len(other.list()) == 50
    ends = 0
    while ends < sent:
        f = c.recv_frame(timeout=10)
        assert f.type in (ipc.LIST_MSG, ipc.LIST_RCPT, ipc.LIST_END), f
        ends += f.type == ipc.LIST_END
    c.close()


def accept_warnings(ferry):
    return [e for e in ferry.log_events("error")
        if "accept on queued socket" in e.get("msg", "")]


FD_LIMIT = 48


@pytest.mark.ferry_daemons()
def test_out_of_descriptors_queued_pauses_instead_of_spinning(ferry):
    """With its descriptors used up, accept() fails with EMFILE while the
    connection waits in the backlog.  queued logs it and looks again a
    second later, rather than at once in a loop (which would log the
    warning thousands of times a second); when descriptors free up, it
    serves again by itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, hard))
    try:
        ferry.start("queued")               # inherits the soft limit
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    conns = []
    while len(os.listdir("/proc/%d/fd" % ferry.pid())) < FD_LIMIT:
        conns.append(ferry.ipc(sock="submit", name="mailq"))
    waiting = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    waiting.connect(str(ferry.submit_socket))     # into the backlog
    wait_for(lambda: len(accept_warnings(ferry)) >= 3, timeout=15,
        what="queued retrying accept once a second")
    seen = accept_warnings(ferry)
    assert "Too many open files" in seen[0]["msg"], seen[0]
    stamps = sorted({e["_ts"][:19] for e in seen})
    # at most one warning per second: a spinning loop logs thousands
    assert len(seen) <= len(stamps) + 1, len(seen)
    for c in conns:
        c.close()
    waiting.close()
    wait_for(ferry.ping, timeout=10, what="queued serving again")
    with ferry.ipc(sock="submit", name="mailq") as c:
        c.list()


@needs_root
def test_a_user_flushes_once_a_minute_root_always(ferry):
    if not user_exists("nobody"):
        pytest.fail("no user nobody on this host")
    results = []

    def flush():
        p = subprocess.run([str(BIN / "sendmail"), "-C",
            str(ferry.conf_path), "-q"], capture_output=True, timeout=20)
        results.append((p.returncode, p.stderr.decode(errors="replace")))
        return p.returncode

    assert run_as("nobody", flush) == 0
    assert run_as("nobody", flush) == 75
    r = ferry.sendmail("-q")
    assert r.returncode == 0, r.stderr
    assert ferry.sendmail("-q").returncode == 0
    nobody = str(pwd.getpwnam("nobody").pw_uid)
    assert len(ferry.log_events("flush", uid=nobody)) == 1
    assert len(ferry.log_events("flush-refused", uid=nobody)) == 1
    assert len(ferry.log_events("flush", uid="0")) == 2
