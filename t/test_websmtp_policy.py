# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""queued's WebSmtp policy, seen from a fake relayd, a fake webrelayd and
a fake licensed on queued.sock: which results send a recipient to the
web channel, what the licence and webrelay say, what is logged, listed
and kept on disk.  The end-to-end path with the real daemons and an
HTTPS service is test_webrelay.py."""

import os
import time

import pytest

import ferryipc as ipc
from conftest import ORIGIN, fetch_work, run_as, user_exists, wait_for
from ferryipc import U32, U64

WEB_CONF = dict(webrelay_url="https://127.0.0.1:9/v3/messages.mime")
LICENCE_TEXT = "id: T-1\nfeatures: webrelay\nsignature: x\n"


def licence_frame(state=0, features="webrelay", reason="", text=None):
    """The fields of LICENSE_STATE, as licensed sends them."""
    return (U32(state), U64(30), "T-1", "Example", "2027-12-31", features,
        reason, LICENCE_TEXT if text is None else text)


class FakeLicensed:
    """A connection to queued.sock that tells a licence, as licensed
    does (request id 0, no reply); and, unless webrelayd=False, a
    webrelayd connected, as WebSmtp needs one to take recipients."""

    def __init__(self, ferry, webrelayd=True, **licence):
        self.conn = ferry.ipc(name="licensed")
        self.web = None
        if webrelayd:
            self.web = ferry.ipc(name="webrelayd")
            self.web.fetch(channel=ipc.CHANNEL_WEB)
        self.tell(**licence)

    def tell(self, **licence):
        self.conn.send(ipc.LICENSE_STATE, *licence_frame(**licence), reqid=0)
        # the next request's answer proves queued has read the frame
        self.conn.request(ipc.FLUSH)

    def close(self):
        self.conn.close()
        if self.web is not None:
            self.web.close()


@pytest.fixture
def licensed(ferry):
    fake = FakeLicensed(ferry)
    yield fake
    fake.close()


def rcpt_of(ferry, msgid, addr):
    with ferry.ipc(name="ferry-control") as c:
        for m in c.list():
            if m["id"] == msgid:
                return next(r for r in m["rcpts"] if r["addr"] == addr)
    return None


def relayd_reports(ferry, result, text, rcpt="bob@example.org",
        sender=None):
    """Submit to rcpt, have a fake relayd report result; the message id."""
    args = ("-f", sender) if sender else ()
    msgid = ferry.submit(rcpt, args=args)
    with ferry.ipc() as relayd:
        w = fetch_work(relayd)
        w.close()
        assert w.id == msgid
        assert relayd.report(msgid, 0, result, text).type == ipc.OK
    return msgid


def fetch_web(ferry, timeout=0.0):
    """What a fake webrelayd gets: a Work or None."""
    with ferry.ipc(name="webrelayd") as web:
        deadline = time.monotonic() + timeout
        while True:
            w = web.fetch(channel=ipc.CHANNEL_WEB)
            if w is not None or time.monotonic() >= deadline:
                return w
            time.sleep(0.05)


@pytest.mark.ferry_conf(**WEB_CONF)
def test_unreachable_goes_to_the_web_channel(ferry, licensed):
    msgid = relayd_reports(ferry, ipc.UNREACHABLE, "connect: refused")
    ev = ferry.log_events("websmtp", id=msgid)
    assert ev and ev[0]["reason"] == "unreachable", ev
    assert ev[0]["reply"] == "connect: refused"
    r = rcpt_of(ferry, msgid, "bob@example.org")
    assert r["state"] == ipc.DEFERRED and r["via"] == ipc.CHANNEL_WEB
    with ferry.ipc() as relayd:
        assert relayd.fetch() is None, "relayd must not get it back"
    w = fetch_web(ferry)
    try:
        assert w is not None and w.id == msgid
        assert w.rcpts == [(0, "bob@example.org")]
        assert w.credential == LICENCE_TEXT
        assert w.read() == ferry.read_msg(msgid)
    finally:
        w.close()
    assert b" websmtp\n" in ferry.read_env(msgid)
    assert b"deferred via WebSmtp: connect: refused" in ferry.mailq().stdout


@pytest.mark.ferry_conf(**WEB_CONF)
def test_web_results_are_recorded_with_via(ferry, licensed):
    msgid = relayd_reports(ferry, ipc.UNREACHABLE, "connect: refused")
    with ferry.ipc(name="webrelayd") as web:
        w = web.fetch(channel=ipc.CHANNEL_WEB)
        w.close()
        assert web.report(msgid, 0, ipc.DELIVERED,
            "WebSmtp: 200 id=<1@svc>").type == ipc.OK
    ev = ferry.log_events("delivered", id=msgid)
    assert ev and ev[0]["via"] == "websmtp", ev
    assert ev[0]["reply"] == "WebSmtp: 200 id=<1@svc>"
    wait_for(lambda: msgid not in ferry.queue_ids(), what="message done")


@pytest.mark.ferry_conf(**WEB_CONF, retry_min="1s", retry_max="2s")
def test_retry_after_from_the_web_agent_is_honoured(ferry, licensed):
    msgid = relayd_reports(ferry, ipc.UNREACHABLE, "connect: refused")
    with ferry.ipc(name="webrelayd") as web:
        w = web.fetch(channel=ipc.CHANNEL_WEB)
        w.close()
        before = time.time()
        assert web.report(msgid, 0, ipc.TEMPFAIL, "WebSmtp: 429 slow down",
            retry_after=120).type == ipc.OK
    r = rcpt_of(ferry, msgid, "bob@example.org")
    assert r["via"] == ipc.CHANNEL_WEB, "a web retry stays on the web"
    assert r["next_try"] >= before + 119, (r, before)


@pytest.mark.ferry_conf(**WEB_CONF)
def test_relay_refused_for_foreign_mail_goes_to_the_web(ferry, licensed):
    msgid = relayd_reports(ferry, ipc.RELAY_REFUSED,
        "554 5.7.1 <bob@example.org>: Relay access denied")
    ev = ferry.log_events("websmtp", id=msgid)
    assert ev and ev[0]["reason"] == "relay-refused", ev
    assert ferry.log_events("failed", id=msgid) == []
    assert fetch_web(ferry).id == msgid


@pytest.mark.ferry_conf(**WEB_CONF)
def test_relay_refused_for_site_mail_fails_and_bounces(ferry, licensed):
    admin = "root@%s" % ORIGIN
    msgid = relayd_reports(ferry, ipc.RELAY_REFUSED,
        "554 5.7.1 Relay access denied", rcpt=admin)
    skip = ferry.log_events("websmtp-skip", id=msgid)
    assert skip and "only when the server is unreachable" in skip[0]["why"]
    assert ferry.log_events("failed", id=msgid)
    assert ferry.log_events("bounce", id=msgid)
    assert fetch_web(ferry) is None


@pytest.mark.ferry_conf(**WEB_CONF)
def test_site_mail_falls_back_when_unreachable(ferry, licensed):
    msgid = relayd_reports(ferry, ipc.UNREACHABLE, "no route to host",
        rcpt="root@%s" % ORIGIN)
    assert ferry.log_events("websmtp", id=msgid)


@pytest.mark.parametrize("conf,licence,why", [
    (dict(webrelay="no", **WEB_CONF), {}, "webrelay = no"),
    ({}, {}, "webrelay_url is not set"),
    (WEB_CONF, dict(state=1, reason="support ended", text=""),
        "licence expired: support ended"),
    (WEB_CONF, dict(state=4, reason="no licence file", text=""),
        "licence missing: no licence file"),
    (WEB_CONF, dict(features="support"),
        "the licence lacks the webrelay feature"),
    (WEB_CONF, None, "licensed is not connected"),
], ids=["webrelay-no", "no-url", "expired", "missing", "no-feature",
    "no-licensed"])
def test_without_websmtp_the_result_stands(ferry, conf, licence, why):
    ferry.write_conf(**conf)
    ferry.restart()
    fake = FakeLicensed(ferry, **licence) if licence is not None else None
    try:
        msgid = relayd_reports(ferry, ipc.UNREACHABLE, "connect: refused")
        skip = ferry.log_events("websmtp-skip", id=msgid)
        assert skip and skip[0]["why"] == why, skip
        r = rcpt_of(ferry, msgid, "bob@example.org")
        assert r["state"] == ipc.DEFERRED and r["via"] == ipc.CHANNEL_SMTP
        assert fetch_web(ferry) is None
    finally:
        if fake:
            fake.close()


@pytest.mark.ferry_conf(**WEB_CONF)
def test_licence_ending_hands_web_recipients_back_to_relayd(ferry):
    fake = FakeLicensed(ferry)
    msgid = relayd_reports(ferry, ipc.UNREACHABLE, "connect: refused")
    fake.tell(state=1, reason="support ended", text="")
    assert fetch_web(ferry) is None
    with ferry.ipc() as relayd:
        w = fetch_work(relayd)
        w.close()
        assert w.id == msgid and w.credential == ""
    fake.close()


@pytest.mark.ferry_conf(**WEB_CONF)
def test_licensed_going_away_switches_websmtp_off(ferry):
    fake = FakeLicensed(ferry)
    fake.close()
    wait_for(lambda: ferry.log_events("license", state="unknown"),
        what="queued noticing licensed went away")
    msgid = relayd_reports(ferry, ipc.UNREACHABLE, "connect: refused")
    skip = ferry.log_events("websmtp-skip", id=msgid)
    assert skip and skip[0]["why"] == "licensed is not connected"


@pytest.mark.ferry_conf(**WEB_CONF)
def test_web_marking_survives_a_restart(ferry, licensed):
    msgid = relayd_reports(ferry, ipc.UNREACHABLE, "connect: refused")
    licensed.close()
    ferry.restart()
    fake = FakeLicensed(ferry)
    try:
        r = rcpt_of(ferry, msgid, "bob@example.org")
        assert r["via"] == ipc.CHANNEL_WEB
        assert fetch_web(ferry).id == msgid
    finally:
        fake.close()


@pytest.mark.ferry_conf(license_files="/nonexistent/licence", **WEB_CONF)
def test_relay_refusal_waits_for_a_licensed_not_yet_connected(ferry):
    """With a licence configured, a refusal that comes while licensed is
    not connected (a restart of either) is deferred, not failed: once
    licensed has spoken, the retry may go by WebSmtp."""
    msgid = relayd_reports(ferry, ipc.RELAY_REFUSED,
        "554 5.7.1 Relay access denied")
    skip = ferry.log_events("websmtp-skip", id=msgid)
    assert skip and skip[0]["why"] == "licensed is not connected"
    assert skip[0]["retry"] == "yes"
    r = rcpt_of(ferry, msgid, "bob@example.org")
    assert r["state"] == ipc.DEFERRED, r
    assert ferry.log_events("bounce", id=msgid) == []
    fake = FakeLicensed(ferry)
    try:
        with ferry.ipc() as relayd:
            relayd.flush()
            w = fetch_work(relayd)
            w.close()
            assert relayd.report(msgid, 0, ipc.RELAY_REFUSED,
                "554 5.7.1 Relay access denied").type == ipc.OK
        assert fetch_web(ferry).id == msgid
    finally:
        fake.close()


@pytest.mark.ferry_conf(**WEB_CONF)
def test_without_webrelayd_web_recipients_go_back_and_a_refusal_waits(
        ferry):
    """No webrelayd to take them: recipients already marked for WebSmtp
    go back to relayd, and a relay refusal is deferred, not failed."""
    fake = FakeLicensed(ferry)
    try:
        marked = relayd_reports(ferry, ipc.UNREACHABLE, "connect: refused")
        assert ferry.log_events("websmtp", id=marked)
        fake.web.close()
        fake.web = None
        with ferry.ipc() as relayd:
            w = fetch_work(relayd)
            w.close()
            assert w.id == marked, "relayd gets the marked one back"
            assert relayd.report(marked, 0, ipc.UNREACHABLE,
                "connect: refused").type == ipc.OK
        msgid = relayd_reports(ferry, ipc.RELAY_REFUSED,
            "554 5.7.1 Relay access denied")
        skip = ferry.log_events("websmtp-skip", id=msgid)
        assert skip and skip[0]["why"] == "webrelayd is not connected"
        assert skip[0]["retry"] == "yes"
        assert rcpt_of(ferry, msgid, "bob@example.org")["state"] == \
            ipc.DEFERRED
        assert ferry.log_events("bounce", id=msgid) == []
    finally:
        fake.close()


def test_bad_licence_frame_closes_the_connection(ferry):
    with ferry.ipc(name="licensed") as c:
        c.send(ipc.LICENSE_STATE, U32(9), reqid=0)
        assert c.wait_closed()
    with ferry.ipc() as relayd:
        assert relayd.fetch() is None, "queued still serves"


@pytest.mark.skipif(os.geteuid() != 0 or not user_exists("ferry-web") or
    not user_exists("ferry-lic"), reason="needs root and the Ferry users")
def test_roles_on_the_private_socket(ferry):
    """By uid: 0 served, 126 refused (the connection closed)."""
    def fetch():
        with ferry.ipc(timeout=3) as c:
            return 0 if c.fetch(channel=ipc.CHANNEL_WEB) is None else 2

    def delete():
        with ferry.ipc(timeout=3) as c:
            f = c.request(ipc.DELETE, "0123456789ABCDEF")
            return 0 if f.type == ipc.ERROR else 2

    def tell():
        with ferry.ipc(timeout=3) as c:
            c.send(ipc.LICENSE_STATE, *licence_frame(), reqid=0)
            return 126 if c.wait_closed(1) else 0

    assert run_as("ferry-web", fetch) == 0
    assert run_as("ferry-web", delete) == 126, "an agent cannot DELETE"
    assert run_as("ferry-web", tell) == 126, "an agent cannot tell a licence"
    assert run_as("ferry-lic", tell) == 0
    assert run_as("ferry-lic", fetch) == 126, "licensed cannot FETCH"
    assert run_as("nobody", fetch) == 126
