# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""The scheduler, seen from a fake relayd on queued.sock: FETCH, REPORT,
deferral and retry, flush, expiry, persistence, DELETE."""

import errno
import os
import pwd
import stat
import time

import pytest

import ferryipc as ipc
from conftest import (ORIGIN, fetch_work, login_name, parse_mailq,
    run_as, user_exists, wait_for)

SENDER = "%s@%s" % (login_name(), ORIGIN)


def message(ferry, msgid):
    """The LIST entry of msgid, or None when it is no longer queued."""
    with ferry.ipc(name="ferry-control") as c:
        for m in c.list():
            if m["id"] == msgid:
                return m
    return None


def states(ferry, msgid):
    """{addr: state} of msgid's recipients, or None when it is gone.
    LIST may leave out delivered recipients (mailq never shows them), so
    they are dropped here."""
    m = message(ferry, msgid)
    if m is None:
        return None
    return {r["addr"]: r["state"] for r in m["rcpts"]
        if r["state"] != ipc.RCPT_DELIVERED}


def assert_report_ok(reply):
    assert reply.type == ipc.OK, reply


def fetch_all(relayd):
    """FETCH until NO_WORK; the Works, closed."""
    got = []
    while (w := relayd.fetch()) is not None:
        w.close()
        got.append(w)
    return got


def test_fetch_on_empty_queue_returns_no_work(ferry):
    with ferry.ipc() as relayd:
        assert relayd.fetch() is None


def test_fetch_returns_work_with_fd_and_recipients(ferry):
    msgid = ferry.submit("a@example.test", "b@example.org")
    with ferry.ipc() as relayd:
        w = fetch_work(relayd)
        try:
            assert w.id == msgid
            assert w.sender == SENDER
            data = ferry.read_msg(msgid)
            assert w.size == len(data)
            assert w.rcpts == [(0, "a@example.test"), (1, "b@example.org")]
            assert w.fd is not None, "WORK came without a file descriptor"
            assert stat.S_ISREG(os.fstat(w.fd).st_mode)
            assert w.read() == data
            with pytest.raises(OSError) as e:
                os.write(w.fd, b"overwrite")
            assert e.value.errno == errno.EBADF, "fd must be read-only"
        finally:
            w.close()


def test_fetch_does_not_hand_out_a_message_in_flight(ferry):
    ferry.submit("a@example.test")
    with ferry.ipc() as relayd:
        w = fetch_work(relayd)
        w.close()
        assert relayd.fetch() is None
        with ferry.ipc() as other:
            assert other.fetch() is None


def test_message_of_a_vanished_agent_is_handed_out_again(ferry):
    # at-least-once: an agent that dies mid-delivery loses nothing
    msgid = ferry.submit("a@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
    with ferry.ipc() as other:
        w = fetch_work(other)
        w.close()
        assert w.id == msgid


def test_fetch_hands_out_each_message_once(ferry):
    ids = {ferry.submit("r%d@example.test" % i) for i in range(5)}
    got = []
    with ferry.ipc() as relayd:
        deadline = time.monotonic() + 5
        while len(got) < 5 and time.monotonic() < deadline:
            w = relayd.fetch()
            if w is None:
                time.sleep(0.05)
                continue
            w.close()
            got.append(w.id)
        assert sorted(got) == sorted(ids)
        assert relayd.fetch() is None


def test_report_delivered_removes_recipient_from_mailq(ferry):
    msgid = ferry.submit("a@example.test", "b@example.test")
    with ferry.ipc() as relayd:
        w = fetch_work(relayd)
        w.close()
        assert_report_ok(relayd.report(msgid, 0, ipc.DELIVERED,
            "250 2.0.0 ok"))
        (e,) = ferry.mailq_entries()
        assert e["rcpts"] == ["b@example.test"]
        assert states(ferry, msgid) == {"b@example.test": ipc.PENDING}


def test_all_recipients_delivered_removes_message(ferry):
    msgid = ferry.submit("a@example.test", "b@example.test")
    with ferry.ipc() as relayd:
        w = fetch_work(relayd)
        w.close()
        for i in (0, 1):
            assert_report_ok(relayd.report(msgid, i, ipc.DELIVERED, "250"))
    wait_for(lambda: ferry.queue_files() == [], timeout=3,
        what="message files removed (have %r)" % (ferry.queue_files(),))
    assert "Mail queue is empty" in ferry.mailq().stdout.decode()
    assert message(ferry, msgid) is None


def test_report_temp_defers_with_error_in_mailq(ferry):
    msgid = ferry.submit("a@example.test")
    text = "451 4.2.0 mailbox busy, try later"
    with ferry.ipc() as relayd:
        w = fetch_work(relayd)
        w.close()
        assert_report_ok(relayd.report(msgid, 0, ipc.TEMPFAIL, text))
        (e,) = ferry.mailq_entries()
        assert e["rcpts"] == ["a@example.test"]
        # mailq may label it ("deferred: ...") but shows the text whole
        assert e["rcpt_errors"]["a@example.test"].endswith(text), e
        (r,) = message(ferry, msgid)["rcpts"]
        assert r["state"] == ipc.DEFERRED
        assert r["error"] == text
        assert r["next_try"] > time.time()
        # not handed out again before its next try
        assert relayd.fetch() is None
        time.sleep(1)
        assert relayd.fetch() is None


@pytest.mark.ferry_conf(retry_min="10m", retry_max="1h")
def test_deferred_next_try_follows_retry_min(ferry):
    msgid = ferry.submit("a@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        now = time.time()
        assert_report_ok(relayd.report(msgid, 0, ipc.TEMPFAIL, "451 later"))
    (r,) = message(ferry, msgid)["rcpts"]
    # clamp(age ~ 0, 10m, 1h) = 10m, +-10 % jitter
    assert now + 540 - 2 <= r["next_try"] <= now + 660 + 2, \
        (r["next_try"] - now)


def test_recipients_deferred_together_are_retried_together(ferry):
    """The ±10 % jitter is per message: recipients that failed in one
    attempt come back in one retry, not one by one."""
    rcpts = ["r%d@example.test" % i for i in range(8)]
    msgid = ferry.submit(*rcpts)
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        for i in range(len(rcpts)):
            assert_report_ok(relayd.report(msgid, i, ipc.TEMPFAIL,
                "451 later"))
    times = {r["next_try"] for r in message(ferry, msgid)["rcpts"]}
    assert len(times) == 1, times


def test_retry_after_is_never_cut_short(ferry):
    msgid = ferry.submit("a@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        now = time.time()
        assert_report_ok(relayd.report(msgid, 0, ipc.TEMPFAIL, "429 busy",
            retry_after=3600 * 3))
    (r,) = message(ferry, msgid)["rcpts"]
    assert r["next_try"] >= now + 3600 * 3, r["next_try"] - now


@pytest.mark.ferry_conf(retry_min="2s", retry_max="2s")
def test_deferred_recipient_fetched_again_after_retry_time(ferry):
    msgid = ferry.submit("a@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        assert_report_ok(relayd.report(msgid, 0, ipc.TEMPFAIL, "451 later"))
        next_try = message(ferry, msgid)["rcpts"][0]["next_try"]
        assert relayd.fetch() is None
        w = fetch_work(relayd, timeout=8)
        now = time.time()
        w.close()
        assert w.id == msgid
        assert now >= next_try, "handed out %.2fs before its next try" % (
            next_try - now)
        assert w.rcpts == [(0, "a@example.test")]


@pytest.mark.parametrize("how", ["sendmail -q", "ferry-control flush",
    "ipc FLUSH"])
def test_flush_makes_deferred_message_fetchable_again(ferry, how):
    msgid = ferry.submit("a@example.test", "b@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        assert_report_ok(relayd.report(msgid, 0, ipc.DELIVERED, "250 ok"))
        assert_report_ok(relayd.report(msgid, 1, ipc.TEMPFAIL, "451 later"))
        assert relayd.fetch() is None
        if how == "sendmail -q":
            r = ferry.sendmail("-q")
            assert r.returncode == 0, r.stderr
        elif how == "ferry-control flush":
            r = ferry.control("flush")
            assert r.returncode == 0, r.stderr
        else:
            with ferry.ipc(sock="submit", name="sendmail") as c:
                assert c.flush().type == ipc.OK
        w = fetch_work(relayd, timeout=5)
        w.close()
        assert w.id == msgid
        # only the recipient still to do
        assert w.rcpts == [(1, "b@example.test")]
    assert ferry.log_events("flush")


def test_report_perm_marks_recipient_failed(ferry):
    msgid = ferry.submit("a@example.test", "b@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        assert_report_ok(relayd.report(msgid, 0, ipc.PERMFAIL,
            "550 5.1.1 no such user"))
        st = states(ferry, msgid)
        assert st == {"a@example.test": ipc.FAILED,
            "b@example.test": ipc.PENDING}
        m = message(ferry, msgid)
        assert m["rcpts"][0]["error"] == "550 5.1.1 no such user"
        # a failed recipient is never handed out again
        assert_report_ok(relayd.report(msgid, 1, ipc.TEMPFAIL, "451"))
        assert relayd.flush().type == ipc.OK
        w = fetch_work(relayd)
        w.close()
        assert w.rcpts == [(1, "b@example.test")]


def test_report_for_unknown_message_is_an_error_not_a_disconnect(ferry):
    with ferry.ipc() as relayd:
        reply = relayd.report("0000000000000000", 0, ipc.DELIVERED, "250")
        assert reply.type == ipc.ERROR, reply
        assert relayd.fetch() is None   # connection still usable


def test_report_with_bad_index_or_result_is_refused(ferry):
    msgid = ferry.submit("a@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        for idx, result in ((1, ipc.DELIVERED), (2 ** 32 - 1, ipc.DELIVERED),
                (0, 7)):
            try:
                reply = relayd.report(msgid, idx, result, "250")
            except ipc.IPCError:
                relayd = ferry.ipc()    # closing is acceptable too
                continue
            assert reply.type == ipc.ERROR, (idx, result, reply)
    assert states(ferry, msgid) == {"a@example.test": ipc.PENDING}


def test_report_text_with_newlines_cannot_forge_envelope_lines(ferry):
    # remote replies are hostile (OpenSMTPD CVE-2020-8794): the text goes
    # into the envelope and must not add lines to it
    msgid = ferry.submit("a@example.test")
    evil = "451 busy\nrcpt pending 0 0 evil@example.org -\nend\n\r%00 tail"
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        assert_report_ok(relayd.report(msgid, 0, ipc.TEMPFAIL, evil))
    ferry.restart()
    assert ferry.queue_files("corrupt") == []
    m = message(ferry, msgid)
    assert [r["addr"] for r in m["rcpts"]] == ["a@example.test"]
    assert m["rcpts"][0]["state"] == ipc.DEFERRED


def test_report_text_with_newlines_cannot_forge_mailq_lines(ferry):
    # the same hostile reply must not add lines to mailq's listing:
    # parse_mailq fails on any line that is neither an entry nor indented
    msgid = ferry.submit("a@example.test")
    evil = ("451 busy\n1111111111111111     1 Mon Nov 23 09:30:56  "
        "forged@example.org\r\n")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        assert_report_ok(relayd.report(msgid, 0, ipc.TEMPFAIL, evil))
    out = ferry.mailq().stdout.decode()
    assert "\r" not in out, out
    entries, _ = parse_mailq(out)
    assert [e["id"] for e in entries] == [msgid], out
    assert entries[0]["rcpts"] == ["a@example.test"], out


def test_relayd_disconnect_returns_message_to_the_queue(ferry):
    msgid = ferry.submit("a@example.test")
    relayd = ferry.ipc()
    fetch_work(relayd).close()
    relayd.close()
    with ferry.ipc() as again:
        w = fetch_work(again, timeout=5)
        w.close()
        assert w.id == msgid


@pytest.mark.ferry_conf(queue_lifetime="2s")
def test_queue_lifetime_expires_pending_recipients(ferry):
    msgid = ferry.submit("a@example.test", "b@example.test")
    time.sleep(2.2)

    def expired():
        with ferry.ipc(name="ferry-control") as c:
            c.flush()
        st = states(ferry, msgid)
        logged = ferry.log_events("expire", id=msgid)
        return logged and (st is None or set(st.values()) == {ipc.FAILED})
    wait_for(expired, timeout=8, interval=0.25,
        what="expiry of %s (log: %s)" % (msgid, ferry.log()[-500:]))
    with ferry.ipc() as relayd:
        # what is left is the bounce to the sender, not the message
        assert [(w.sender, w.rcpts) for w in fetch_all(relayd)] == [
            ("", [(0, SENDER)])]


@pytest.mark.ferry_conf(queue_lifetime="2s")
def test_queue_lifetime_expires_deferred_recipients(ferry):
    msgid = ferry.submit("a@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        assert_report_ok(relayd.report(msgid, 0, ipc.TEMPFAIL, "451 later"))
        time.sleep(2.2)
        deadline = time.monotonic() + 8
        while True:
            relayd.flush()
            for w in fetch_all(relayd):
                # one last attempt after the lifetime is fine (Postfix)
                if w.id == msgid:
                    relayd.report(msgid, 0, ipc.TEMPFAIL,
                        "451 still later")
            st = states(ferry, msgid)
            if ferry.log_events("expire", id=msgid) and (
                    st is None or st == {"a@example.test": ipc.FAILED}):
                break
            assert time.monotonic() < deadline, (st, ferry.log())
            time.sleep(0.25)
        assert msgid not in [w.id for w in fetch_all(relayd)]


def test_delivery_state_persists_across_restart(ferry):
    msgid = ferry.submit("a@example.test", "b@example.test", "c@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        assert_report_ok(relayd.report(msgid, 0, ipc.DELIVERED, "250 ok"))
        assert_report_ok(relayd.report(msgid, 1, ipc.TEMPFAIL, "451 later"))
        assert_report_ok(relayd.report(msgid, 2, ipc.PERMFAIL, "550 no"))
    def shown(m):
        return [(r["addr"], r["state"], r["error"], r["next_try"])
            for r in m["rcpts"] if r["state"] != ipc.RCPT_DELIVERED]
    before = message(ferry, msgid)
    assert [r[:3] for r in shown(before)] == [
        ("b@example.test", ipc.DEFERRED, "451 later"),
        ("c@example.test", ipc.FAILED, "550 no")]
    ferry.restart()
    after = message(ferry, msgid)
    assert after is not None
    assert shown(after) == shown(before)
    assert after["arrival"] == before["arrival"]
    assert [r["addr"] for r in after["rcpts"]] == [r["addr"] for r in
        before["rcpts"]]
    (e,) = ferry.mailq_entries()
    assert "a@example.test" not in e["rcpts"]
    assert "b@example.test" in e["rcpts"]
    with ferry.ipc() as relayd:
        assert relayd.fetch() is None   # deferred: not due yet
        relayd.flush()
        w = fetch_work(relayd)
        w.close()
        assert w.rcpts == [(1, "b@example.test")]


def test_ferry_control_delete_removes_message_files(ferry):
    msgid = ferry.submit("a@example.test")
    other = ferry.submit("b@example.test")
    r = ferry.control("delete", msgid)
    assert r.returncode == 0, r.stderr
    assert ferry.queue_files() == [other + ".env", other + ".msg"]
    assert [e["id"] for e in ferry.mailq_entries()] == [other]
    assert ferry.log_events("delete", id=msgid)
    ferry.restart()
    assert [e["id"] for e in ferry.mailq_entries()] == [other]


def test_ferry_control_delete_unknown_id_fails(ferry):
    r = ferry.control("delete", "0123456789ABCDEF")
    assert r.returncode == 65 and b"no such message" in r.stderr, r
    r = ferry.control("delete", "../../etc/passwd")
    assert r.returncode == 65, r  # not a queue id: no such message
    assert os.path.exists("/etc/passwd")


def test_deleted_message_is_not_fetched(ferry):
    msgid = ferry.submit("a@example.test")
    with ferry.ipc(name="ferry-control") as c:
        assert c.delete(msgid).type == ipc.OK
    with ferry.ipc() as relayd:
        assert relayd.fetch() is None


def test_list_on_public_socket_matches_private(ferry):
    ferry.submit("a@example.test")
    with ferry.ipc(sock="submit", name="mailq") as pub:
        public = pub.list()
    with ferry.ipc(name="ferry-control") as priv:
        private = priv.list()
    assert public == private
    assert len(public) == 1


@pytest.mark.parametrize("result, event, cls", [
    (ipc.DELIVERED, "delivered", "delivered"),
    (ipc.TEMPFAIL, "deferred", "temp"),
    (ipc.PERMFAIL, "failed", "perm"),
    (ipc.UNREACHABLE, "deferred", "unreachable"),
    (ipc.RELAY_REFUSED, "failed", "relay-refused")])
def test_report_is_logged_with_its_class(ferry, result, event, cls):
    msgid = ferry.submit("a@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        assert_report_ok(relayd.report(msgid, 0, result, "5xx or so"))
    (e,) = ferry.log_events(event, id=msgid)
    assert (e["to"], e["class"], e["reply"]) == ("a@example.test", cls,
        "5xx or so")


def test_wake_after_a_commit(ferry):
    with ferry.ipc() as relayd:
        assert relayd.fetch() is None
        msgid = ferry.submit("a@example.test")
        assert relayd.wait_wake(timeout=3), "no WAKE after a commit"
        w = relayd.fetch()
        w.close()
        assert w.id == msgid
        # one WAKE per NO_WORK: none while it has not asked again
        ferry.submit("b@example.test")
        assert not relayd.wait_wake(timeout=0.5)


def test_wake_is_sent_once_per_no_work(ferry):
    with ferry.ipc() as relayd:
        assert relayd.fetch() is None
        assert relayd.fetch() is None
        ferry.submit("a@example.test")
        ferry.submit("b@example.test")
        assert relayd.wait_wake(timeout=3)
        assert not relayd.wait_wake(timeout=0.5)


def test_no_wake_without_no_work(ferry):
    with ferry.ipc() as relayd, ferry.ipc() as idle:
        assert idle.fetch() is None
        ferry.submit("a@example.test")
        assert idle.wait_wake(timeout=3)
        assert not relayd.wait_wake(timeout=0.5)


def test_wake_after_flush(ferry):
    msgid = ferry.submit("a@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        assert_report_ok(relayd.report(msgid, 0, ipc.TEMPFAIL, "451 later"))
        assert relayd.fetch() is None
        assert not relayd.wait_wake(timeout=0.3)
        r = ferry.sendmail("-q")
        assert r.returncode == 0, r.stderr
        assert relayd.wait_wake(timeout=3), "no WAKE after a flush"
        w = relayd.fetch()
        w.close()
        assert w.id == msgid


@pytest.mark.ferry_conf(retry_min="1s", retry_max="1s")
def test_wake_when_a_retry_time_passes(ferry):
    msgid = ferry.submit("a@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        assert_report_ok(relayd.report(msgid, 0, ipc.TEMPFAIL, "451 later"))
        next_try = message(ferry, msgid)["rcpts"][0]["next_try"]
        assert relayd.fetch() is None
        assert relayd.wait_wake(timeout=4), "no WAKE at the retry time"
        assert time.time() >= next_try
        w = relayd.fetch()
        w.close()
        assert w.id == msgid


def test_wake_when_a_vanished_agent_gives_a_message_back(ferry):
    msgid = ferry.submit("a@example.test")
    with ferry.ipc() as idle:
        holder = ferry.ipc()
        fetch_work(holder).close()
        assert idle.fetch() is None
        holder.close()
        assert idle.wait_wake(timeout=3)
        w = idle.fetch()
        w.close()
        assert w.id == msgid


def fetch_as(ferry, user):
    """FETCH on queued.sock from a child running as user: 0 if it got
    NO_WORK, 1 if it was kept out."""
    def fetch():
        try:
            with ferry.ipc(timeout=3) as c:
                return 0 if c.fetch() is None else 2
        except (OSError, ipc.IPCError):
            return 1
    return run_as(user, fetch)


@pytest.mark.skipif(os.geteuid() != 0 or not user_exists("ferry-relay") or
    not user_exists("ferry-lic"), reason="needs root and the Ferry users")
def test_private_socket_serves_relay_user(ferry):
    assert fetch_as(ferry, "ferry-relay") == 0
    assert fetch_as(ferry, "nobody") == 1
    ferry.write_conf(relay_user="ferry-lic")
    ferry.restart()
    assert fetch_as(ferry, "ferry-lic") == 0
    assert fetch_as(ferry, "ferry-relay") == 1
