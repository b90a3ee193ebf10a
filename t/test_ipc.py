# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""IPC: queued's two sockets as a peer sees them.  A malformed frame closes
only that one connection (OpenSMTPD CVE-2025-62875: one bad frame from any
local user stopped the daemon); the public socket refuses private requests;
CREATE/COMMIT and SUBMIT/SUBMIT_COMMIT queue messages."""

import os
import re
import socket
import struct

import pytest

import ferryipc as ipc
from ferryipc import U32, U64, encode_frame, encode_payload
from conftest import (fetch_work, header_values, run_as, split_message,
    wait_for)


def hello_frame(*fields):
    return encode_frame(ipc.HELLO, 1, fields)


GOOD_HELLO = hello_frame(U32(1), "test")

# name -> (send HELLO first?, raw frame bytes, fds)
MALFORMED = {
    "short_header": (False, b"\x00\x00\x00\x01\x00", 0),
    "short_header_after_hello": (True, b"\x00\x00\x00\x22\x00\x00", 0),
    "length_larger_than_payload": (True,
        encode_frame(ipc.LIST, 2, payload=b"", length=100), 0),
    "length_smaller_than_payload": (True,
        encode_frame(ipc.DELETE, 2, ["0123456789ABCDEF"], length=3), 0),
    "length_over_max": (True,
        encode_frame(ipc.FLUSH, 2, payload=b"", length=0xFFFFFFFF), 0),
    "oversized_frame": (True,
        encode_frame(ipc.DELETE, 2, ["A" * 70000]), 0),
    "hello_wrong_field_tag": (False, hello_frame("1", "test"), 0),
    "hello_unknown_field_tag": (False,
        encode_frame(ipc.HELLO, 1, payload=b"\x09\x00\x00\x00\x01"), 0),
    "hello_missing_field": (False, hello_frame(U32(1)), 0),
    "hello_truncated_string": (False, encode_frame(ipc.HELLO, 1,
        payload=encode_payload([U32(1)]) + b"\x03\x00\x00\x00\x64abc"), 0),
    "hello_string_length_huge": (False, encode_frame(ipc.HELLO, 1,
        payload=encode_payload([U32(1)]) + b"\x03\xff\xff\xff\xfftest"), 0),
    "hello_name_with_nul": (False, hello_frame(U32(1), "te\x00st"), 0),
    "hello_leftover_bytes": (False,
        hello_frame(U32(1), "test") + b"\x00", 0),
    "hello_extra_field": (False, hello_frame(U32(1), "test", U32(7)), 0),
    "hello_u64_for_u32": (False, hello_frame(U64(1), "test"), 0),
    "hello_wrong_version": (False, hello_frame(U32(99), "test"), 0),
    "no_hello_first": (False, encode_frame(ipc.LIST, 1), 0),
    "second_hello": (True, hello_frame(U32(1), "again"), 0),
    "unknown_type": (True, encode_frame(999, 2), 0),
    "reply_type_as_request": (True, encode_frame(ipc.COMMITTED, 2,
        ["0123456789ABCDEF"]), 0),
    "delete_wrong_field_tag": (True, encode_frame(ipc.DELETE, 2, [U32(5)]),
        0),
    "report_missing_fields": (True,
        encode_frame(ipc.REPORT, 2, ["0123456789ABCDEF", U32(0)]), 0),
    "two_fds": (True, encode_frame(ipc.FLUSH, 2), 2),
    "empty_payload_with_fields_expected": (True,
        encode_frame(ipc.SUBMIT_COMMIT, 2), 0),
}


# Frames a daemon may also answer with ERROR and keep the connection: the
# framing is sound, only the conversation is wrong.
LENIENT = {"second_hello", "reply_type_as_request", "hello_wrong_version"}


def open_fds(n):
    fds = []
    for _ in range(n):
        fds.append(os.open("/dev/null", os.O_RDONLY))
    return fds


def send_malformed(ferry, sock, case):
    hello_first, frame, nfds = MALFORMED[case]
    conn = ipc.Conn(ferry.socket_path(sock), timeout=5)
    try:
        if hello_first:
            conn.hello("test")
        if case == "oversized_frame":
            # room for the whole frame in one datagram: a kernel refusing
            # it (EMSGSIZE) would leave queued's own limit untested
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                4 * len(frame))
        fds = open_fds(nfds)
        try:
            conn.send_raw(frame, fds)
        finally:
            for fd in fds:
                os.close(fd)
        if case in LENIENT:
            try:
                f = conn.recv_frame(5)
            except ipc.Closed:
                return
            assert f.type == ipc.ERROR, f
            return
        assert conn.wait_closed(5), "queued kept the connection open " \
            "after %s" % case
    finally:
        conn.close()


def assert_queued_still_serves(ferry, bystander):
    assert ferry.daemons["queued"].alive(), ferry.diagnostics()
    assert ferry.ping(), ferry.diagnostics()
    # the connection that did nothing wrong is still open and served:
    # its LIST sees the message submitted after the bad frame
    before = [m["id"] for m in bystander.list()]
    msgid = ferry.submit("after@example.test")
    after = [m["id"] for m in bystander.list()]
    assert sorted(after) == sorted(before + [msgid]), (before, after)


@pytest.mark.parametrize("sock", ["queued", "submit"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_frame_closes_only_that_connection(ferry, sock, case):
    with ferry.ipc(sock=sock, name="bystander") as bystander:
        send_malformed(ferry, sock, case)
        assert_queued_still_serves(ferry, bystander)


def test_many_bad_connections_do_not_stop_queued(ferry):
    with ferry.ipc(name="bystander") as bystander:
        for _ in range(3):
            for case in sorted(MALFORMED):
                if case == "oversized_frame":
                    continue
                send_malformed(ferry, "submit", case)
        assert_queued_still_serves(ferry, bystander)


def test_peer_closing_mid_conversation_is_harmless(ferry):
    for sock in ("queued", "submit"):
        for _ in range(20):
            c = ipc.Conn(ferry.socket_path(sock))
            c.send_raw(GOOD_HELLO)
            c.send_raw(encode_frame(ipc.LIST, 2))
            c.close()
    assert ferry.ping()
    ferry.submit("after@example.test")


def test_hello_is_answered_with_hello(ferry):
    for sock in ("queued", "submit"):
        with ipc.Conn(ferry.socket_path(sock)) as c:
            f = c.hello("test")
            assert f.fields[0] == 1
            assert f.fields[1] == "queued"


def test_reply_carries_request_id(ferry):
    with ferry.ipc() as c:
        c.send(ipc.FLUSH, reqid=0xDEADBEEF)
        f = c.expect(ipc.OK)
        assert f.reqid == 0xDEADBEEF


@pytest.mark.parametrize("request_", [
    (ipc.CREATE, ()),
    (ipc.COMMIT, ("0123456789ABCDEF", "x@example.test")),
    (ipc.FETCH, (U32(0),)),
    (ipc.REPORT, ("0123456789ABCDEF", U32(0), U32(0), "250", U32(0))),
    (ipc.DELETE, ("0123456789ABCDEF",)),
], ids=["CREATE", "COMMIT", "FETCH", "REPORT", "DELETE"])
def test_public_socket_refuses_private_requests(ferry, request_):
    mtype, fields = request_
    ferry.submit("victim@example.test")
    with ferry.ipc(sock="submit", name="sendmail") as c:
        c.send(mtype, *fields)
        try:
            f = c.recv_frame(5)
        except ipc.Closed:
            f = None
        if f is not None:
            if f.fd is not None:
                os.close(f.fd)
            assert f.type == ipc.ERROR, f
    assert len(ferry.queue_ids()) == 1      # nothing created or deleted
    assert ferry.ping()


# --- the smtpd side: CREATE / RCPT / COMMIT on the private socket ----------

def create(conn):
    reqid = conn.send(ipc.CREATE)
    f = conn.expect(ipc.CREATED, reqid=reqid)
    assert f.fd is not None, "CREATED without fd"
    return f.fields[0], f.fields[1], f.fd


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


@pytest.mark.ferry_conf(max_message_size="64k")
def test_create_commit_queues_message_verbatim(ferry):
    data = (b"Received: from client by mx.ferry.test\r\nSubject: smtp\r\n"
        b"\r\nbody\r\n")
    with ferry.ipc(name="smtpd") as smtpd:
        msgid, max_size, fd = create(smtpd)
        assert max_size == 64 * 1024
        write_all(fd, data)
        os.close(fd)
        smtpd.send(ipc.RCPT, "a@example.test")
        smtpd.send(ipc.RCPT, "b@example.test")
        f = smtpd.request(ipc.COMMIT, msgid, "sender@example.org",
            expect=(ipc.COMMITTED,))
        assert f.type == ipc.COMMITTED, f
        assert f.fields == [msgid]
    assert ferry.read_msg(msgid) == data
    (e,) = ferry.mailq_entries()
    assert e["id"] == msgid
    assert e["sender"] == "sender@example.org"
    assert e["rcpts"] == ["a@example.test", "b@example.test"]
    assert ferry.log_events("commit", id=msgid)


def test_create_commit_null_sender(ferry):
    with ferry.ipc(name="smtpd") as smtpd:
        msgid, _, fd = create(smtpd)
        write_all(fd, b"Subject: bounce\r\n\r\nx\r\n")
        os.close(fd)
        smtpd.send(ipc.RCPT, "a@example.test")
        f = smtpd.request(ipc.COMMIT, msgid, "", expect=(ipc.COMMITTED,))
        assert f.type == ipc.COMMITTED, f
    with ferry.ipc() as relayd:
        w = fetch_work(relayd)
        w.close()
        assert w.sender == ""


@pytest.mark.ferry_conf(max_message_size="4k")
def test_commit_of_message_over_max_size_is_refused(ferry):
    with ferry.ipc(name="smtpd") as smtpd:
        msgid, max_size, fd = create(smtpd)
        write_all(fd, b"x" * (max_size + 1))
        os.close(fd)
        smtpd.send(ipc.RCPT, "a@example.test")
        f = smtpd.request(ipc.COMMIT, msgid, "s@example.org",
            expect=(ipc.COMMITTED,))
        assert f.type == ipc.ERROR, f
        assert f.fields[0] == 1, "too big is permanent"
    wait_for(lambda: ferry.queue_files() == [], timeout=2,
        what="no files left (%r)" % (ferry.queue_files(),))


def test_commit_without_recipients_is_refused(ferry):
    with ferry.ipc(name="smtpd") as smtpd:
        msgid, _, fd = create(smtpd)
        write_all(fd, b"Subject: x\r\n\r\nx\r\n")
        os.close(fd)
        f = smtpd.request(ipc.COMMIT, msgid, "s@example.org",
            expect=(ipc.COMMITTED,))
        assert f.type == ipc.ERROR, f
    wait_for(lambda: ferry.queue_files() == [], timeout=2,
        what="no files left (%r)" % (ferry.queue_files(),))


def test_commit_with_bad_recipient_is_refused(ferry):
    with ferry.ipc(name="smtpd") as smtpd:
        msgid, _, fd = create(smtpd)
        write_all(fd, b"Subject: x\r\n\r\nx\r\n")
        os.close(fd)
        smtpd.send(ipc.RCPT, "a@b@c")
        f = smtpd.request(ipc.COMMIT, msgid, "s@example.org",
            expect=(ipc.COMMITTED,))
        assert f.type == ipc.ERROR, f
    wait_for(lambda: ferry.queue_files() == [], timeout=2,
        what="no files left (%r)" % (ferry.queue_files(),))


def test_commit_of_another_connections_message_is_refused(ferry):
    with ferry.ipc(name="smtpd") as a, ferry.ipc(name="smtpd") as b:
        msgid, _, fd = create(a)
        write_all(fd, b"Subject: x\r\n\r\nx\r\n")
        os.close(fd)
        own, _, fd = create(b)
        os.close(fd)
        b.send(ipc.RCPT, "a@example.test")
        try:
            f = b.request(ipc.COMMIT, msgid, "s@example.org",
                expect=(ipc.COMMITTED,))
        except ipc.Closed:
            f = None        # closing the connection is acceptable too
        assert f is None or f.type == ipc.ERROR, f
    assert [e["id"] for e in ferry.mailq_entries()] == []


def test_uncommitted_message_is_removed_when_peer_goes_away(ferry):
    with ferry.ipc(name="smtpd") as smtpd:
        msgid, _, fd = create(smtpd)
        write_all(fd, b"Subject: x\r\n\r\nhalf")
        os.close(fd)
        assert msgid + ".msg" in ferry.queue_files()
    wait_for(lambda: ferry.queue_files() == [], timeout=3,
        what="uncommitted %s.msg removed (%r)" % (msgid,
        ferry.queue_files()))


# --- the sendmail side: SUBMIT / SUBMIT_COMMIT on the public socket --------

def submit(conn, data, rcpts, sender="", login="root", fullname="",
    flags=0):
    reqid = conn.send(ipc.SUBMIT)
    f = conn.expect(ipc.CREATED, reqid=reqid)
    assert f.fd is None, "a spool descriptor handed to a local user"
    msgid = f.fields[0]
    conn.submit_data(data)
    for r in rcpts:
        conn.send(ipc.RCPT, r)
    return msgid, conn.request(ipc.SUBMIT_COMMIT, msgid, sender, login,
        fullname, U32(flags), expect=(ipc.COMMITTED,))


def test_submit_commit_processes_raw_message(ferry):
    with ferry.ipc(sock="submit", name="sendmail") as c:
        msgid, f = submit(c, b"Subject: raw\n\nline\n", ["a@example.test"],
            sender="me@example.org")
        assert f.type == ipc.COMMITTED, f
        assert f.fields == [msgid]
    assert ferry.queue_files() == [msgid + ".env", msgid + ".msg"]
    headers, body = split_message(ferry.read_msg(msgid))
    assert body == b"line\r\n"
    assert header_values(headers, "Message-ID")
    (e,) = ferry.mailq_entries()
    assert e["sender"] == "me@example.org"


def test_submit_commit_with_t_flag_reads_headers(ferry):
    with ferry.ipc(sock="submit", name="sendmail") as c:
        msgid, f = submit(c, b"To: x@example.test\nBcc: y@example.test\n"
            b"Subject: t\n\nbody\n", [], sender="me@example.org",
            flags=ipc.SUBMIT_FLAG_T)
        assert f.type == ipc.COMMITTED, f
    (e,) = ferry.mailq_entries()
    assert sorted(e["rcpts"]) == ["x@example.test", "y@example.test"]
    headers, _ = split_message(ferry.read_msg(msgid))
    assert header_values(headers, "Bcc") == []


def test_submitted_in_file_is_not_left_behind(ferry):
    with ferry.ipc(sock="submit", name="sendmail") as c:
        reqid = c.send(ipc.SUBMIT)
        c.expect(ipc.CREATED, reqid=reqid)
        c.submit_data(b"Subject: abandoned\n\nx")
    wait_for(lambda: ferry.queue_files() == [], timeout=3,
        what="abandoned .in removed (%r)" % (ferry.queue_files(),))


def test_received_header_names_the_peer_uid_not_the_claimed_login(ferry):
    with ferry.ipc(sock="submit", name="sendmail") as c:
        msgid, f = submit(c, b"Subject: x\n\nx\n", ["a@example.test"],
            sender="me@example.org", login="somebody-else")
        assert f.type == ipc.COMMITTED, f
    headers, _ = split_message(ferry.read_msg(msgid))
    received = header_values(headers, "Received")[0]
    assert re.search(r"(uid|userid)\D{0,3}%d\b" % os.getuid(), received,
        re.I), \
        received


@pytest.mark.parametrize("login", ["evil\r\nBcc: victim@example.test",
    "evil\nBcc: victim@example.test", "evil\r", "two words", "", "-x"])
def test_submit_commit_refuses_a_login_that_is_no_user_name(ferry, login):
    """The login is sendmail's word and goes into the From header queued
    writes: anything that is no user name is refused, nothing queued."""
    with ferry.ipc(sock="submit", name="sendmail") as c:
        reqid = c.send(ipc.SUBMIT)
        f = c.expect(ipc.CREATED, reqid=reqid)
        c.submit_data(b"Subject: x\n\nx\n")
        c.send(ipc.RCPT, "a@example.test")
        f = c.request(ipc.SUBMIT_COMMIT, f.fields[0], "", login, "",
            U32(0), expect=(ipc.COMMITTED, ipc.ERROR))
        assert f.type == ipc.ERROR, f
        assert "user name" in f.fields[-1], f
    wait_for(lambda: ferry.queue_files() == [], timeout=3,
        what="refused submission removed (%r)" % (ferry.queue_files(),))


def test_submit_commit_without_sender_uses_a_valid_login(ferry):
    with ferry.ipc(sock="submit", name="sendmail") as c:
        msgid, f = submit(c, b"Subject: x\n\nx\n", ["a@example.test"],
            login="cron-job")
        assert f.type == ipc.COMMITTED, f
    headers, _ = split_message(ferry.read_msg(msgid))
    assert header_values(headers, "From")[0].startswith("cron-job@"), \
        headers


def test_socket_modes(ferry):
    """Both sockets are open by mode (relayd, webrelayd and licensed reach
    the private one as three users); on the private one SO_PEERCRED
    keeps everyone else out (test_private_socket_refuses_other_users)."""
    import stat as st
    pub = os.stat(ferry.submit_socket).st_mode
    priv = os.stat(ferry.socket_path()).st_mode
    assert st.S_ISSOCK(pub) and st.S_ISSOCK(priv)
    assert pub & 0o777 == 0o666, oct(pub)
    assert priv & 0o777 == 0o666, oct(priv)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change uid")
def test_private_socket_refuses_other_users(ferry):
    """nobody connects; SO_PEERCRED must keep it out: no WORK, no
    NO_WORK, the connection closed."""
    def fetch():
        with ipc.connect(str(ferry.socket_path()), name="relayd",
                timeout=3) as c:
            c.fetch()
            return 1
    assert run_as("nobody", fetch) == 126, "nobody got served"
    assert ferry.ping()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change uid")
def test_public_socket_serves_other_users(ferry):
    def list_queue():
        with ipc.connect(str(ferry.submit_socket), name="sendmail",
                timeout=3) as c:
            c.list()
            return 0
    assert run_as("nobody", list_queue) == 0


def test_frame_header_is_big_endian():
    raw = encode_frame(ipc.HELLO, 7, [U32(1), "x"])
    assert raw[:12] == struct.pack(">III", 1, len(raw) - 12, 7)
    assert raw[12:] == b"\x01\x00\x00\x00\x01\x03\x00\x00\x00\x01x"
    assert socket.SOCK_SEQPACKET
