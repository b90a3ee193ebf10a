# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""delegated's second question (doc/delegated.md): would the delegate
accept this recipient?  Recipients of delegate_recipients domains that the
recipients table does not list are probed on a pooled connection (MAIL
FROM the probe sender, RCPT TO, RSET; never DATA); the answers are cached
in memory and in delegate_cache_file; `ferryctl delegate` lists, tests and
forgets them."""

import re
import time

import pytest

from conftest import wait_for
from delegateharness import PROBE_SENDER, delegate  # noqa: F401
from smtpdharness import SENDER, Yardstick

import sinks

KNOWN1, KNOWN2, KNOWN3 = "erin@ferry.test", "grace@ferry.test", \
    "heidi@ferry.test"
NOBODY = "nobody@ferry.test"


def quiet(seconds=0.3):
    time.sleep(seconds)


def probe_cmds(cmds):
    """The transaction commands of one delegate session."""
    return [c.split(":")[0].split()[0] for c in cmds
        if c.startswith(("MAIL", "RCPT", "RSET", "DATA"))]


# --- answers -----------------------------------------------------------------

def test_known_recipient_accepted_and_queued(delegate):
    """A recipient the delegate accepts: 250, and the message is queued
    for it; the delegate saw one RCPT for it and never DATA."""
    with delegate.smtpd.client() as c:
        c.ehlo()
        msgid = c.send_mail(rcpts=[KNOWN1])
        c.quit()
    assert delegate.smtpd.queued() == [msgid]
    assert delegate.smtpd.envelope(msgid) == (SENDER, [KNOWN1])
    assert delegate.sink.rcpt_count(KNOWN1) == 1
    quiet()
    assert delegate.sink.commands("DATA") == []
    assert delegate.sink.received() == []


def test_unknown_recipient_refused(delegate):
    """A recipient the delegate refuses: 550 5.1.1 User unknown (not the
    delegate's text, delegate_reject_text = fixed), and nothing queued."""
    with delegate.smtpd.client() as c:
        c.ehlo()
        assert c.mail().code == 250
        r = c.rcpt(NOBODY)
        assert r.startswith("550 5.1.1"), r
        assert "User unknown" in r, r
        assert "Recipient address rejected" not in r, r
        r = c.cmd("DATA")
        assert r.code in (503, 554), r
        c.quit()
    assert delegate.smtpd.wait_queue_quiet() == []
    assert delegate.sink.rcpt_count(NOBODY) == 1


@pytest.mark.ferry_conf(delegate_reject_text="pass")
def test_reject_text_pass(delegate):
    """delegate_reject_text = pass: the delegate's own 5xx text."""
    text = "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not " \
        "found by SMTP address lookup"
    delegate.sink.rcpt_replies(NOBODY, text)
    r = delegate.rcpt(NOBODY)
    assert r.code == 550, r
    assert "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP " \
        "address lookup" in r, r


def test_delegate_tempfail(delegate):
    """The delegate says 451: 451 4.4.3; not cached, so the next RCPT
    asks again (and gets the delegate's 250 now)."""
    delegate.sink.rcpt_replies(KNOWN1, sinks.TEMP, sinks.ACCEPT)
    r = delegate.rcpt(KNOWN1)
    assert r.startswith("451 4.4.3"), r
    r = delegate.rcpt(KNOWN1)
    assert r.startswith("250 2."), r
    assert delegate.sink.rcpt_count(KNOWN1) == 2


@pytest.mark.ferry_conf(delegate_connections="1")
def test_probe_shape(delegate):
    """Three recipients in one session: probed over ONE delegate
    connection, each as MAIL FROM:<postmaster@ferry.test> (the first
    accepted domain), RCPT TO, RSET; never DATA.  (delegate_connections
    = 1 here; test_probe_connection_reused checks the default.)"""
    rs = delegate.rcpts(KNOWN1, NOBODY, KNOWN2)
    assert [r.code for r in rs] == [250, 550, 250], rs
    wait_for(lambda: sum(c.count("RSET") for c in
        delegate.sink.probe_sessions().values()) >= 3, timeout=3,
        what="an RSET after each probe:\n%s" % delegate.sink.show())
    sessions = delegate.sink.probe_sessions()
    assert len(sessions) == 1, delegate.sink.show()
    (cmds,) = sessions.values()
    assert probe_cmds(cmds) == ["MAIL", "RCPT", "RSET"] * 3, cmds
    mails = [c for c in cmds if c.startswith("MAIL")]
    assert all(m.startswith("MAIL FROM:<%s>" % PROBE_SENDER)
        for m in mails), mails
    rcpts = [c.split()[1] for c in cmds if c.startswith("RCPT")]
    assert rcpts == ["TO:<%s>" % a for a in (KNOWN1, NOBODY, KNOWN2)], \
        rcpts


def test_probe_connection_reused(delegate):
    """With the default delegate_connections = 2, recipients asked one
    after the other (in one client session, then in separate ones) are
    probed over ONE delegate connection: the next probe reuses the idle
    pooled connection, no second one is opened while nothing runs in
    parallel."""
    delegate.rcpts(KNOWN1, NOBODY, KNOWN2)
    for a in ("heidi@ferry.test", "ivan@ferry.test"):
        time.sleep(0.1)
        delegate.rcpt(a)
    assert delegate.sink.rcpt_count() == 5
    assert len(delegate.sink.probe_sessions()) == 1, delegate.sink.show()


@pytest.mark.parametrize("sender,want", [
    pytest.param(SENDER, "", id="null",
        marks=pytest.mark.ferry_conf(delegate_probe_sender="null")),
    pytest.param("someone@example.net", "someone@example.net",
        id="sender",
        marks=pytest.mark.ferry_conf(delegate_probe_sender="sender")),
    pytest.param(SENDER, "probe@example.org", id="address",
        marks=pytest.mark.ferry_conf(
            delegate_probe_sender="probe@example.org")),
])
def test_probe_sender(delegate, sender, want):
    """delegate_probe_sender: null is MAIL FROM:<>, sender the client's
    own, an address that address."""
    assert delegate.rcpt(KNOWN1, sender=sender).code == 250
    mail = delegate.sink.mail_before(KNOWN1)
    assert mail is not None and mail.startswith("MAIL FROM:<%s>" % want), \
        delegate.sink.show()


def test_table_and_other_domains_not_probed(delegate):
    """A recipient the recipients table lists (user@ferry.test), and one
    of an accepted domain that is not delegated (@example.org, a
    catch-all), are accepted without a probe."""
    rs = delegate.rcpts("user@ferry.test", "anyone@example.org")
    assert [r.code for r in rs] == [250, 250], rs
    quiet()
    assert delegate.sink.rcpt_count() == 0
    assert delegate.sink.probe_sessions() == {}, delegate.sink.show()


@pytest.mark.ferry_conf(smtpd_auth_failure_delay="10s")
def test_harvest_tarpit(delegate):
    """A client that piles up unknown recipients is slowed by smtpd: the
    first two 550 5.1.1 at once, the third after at least 1 s, the fourth
    after at least 2 s; a known recipient in between is not delayed.  "At
    once" is measured against a reply smtpd holds back for 10 s in
    another session (a Yardstick), not against the wall clock."""
    unknown = ["ghost%d@ferry.test" % i for i in range(1, 5)]
    with delegate.smtpd.client(timeout=30) as c:
        c.ehlo()
        assert c.mail().code == 250
        y = Yardstick(delegate.smtpd)
        try:
            for a in unknown[:2] + [KNOWN1]:
                r = c.rcpt(a)
                assert r.code == (250 if a == KNOWN1 else 550), (a, r)
            assert not y.fired(), \
                "two unknown and one known recipient not answered at once"
            took = []
            for a in unknown[2:]:
                t0 = time.monotonic()
                r = c.rcpt(a)
                took.append(time.monotonic() - t0)
                assert r.code == 550, (a, r)
            # 1 s + 2 s, not (say) the 5 s cap each
            assert not y.fired(), ("the tarpit's delays add up to 10 s "
                "or more", took)
        finally:
            y.close()
        c.quit()
    assert took[0] >= 0.9 and took[1] >= 1.9, took


# --- the cache ---------------------------------------------------------------

def test_positive_answer_cached(delegate):
    """A second RCPT for the same address, in another session, makes no
    new probe."""
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.rcpts(KNOWN1, KNOWN1)[1].code == 250
    quiet()
    assert delegate.sink.rcpt_count(KNOWN1) == 1


def test_negative_answer_cached(delegate):
    """A "no" is cached too (default delegate_negative_ttl 1 h)."""
    for _ in range(3):
        r = delegate.rcpt(NOBODY)
        assert r.startswith("550 5.1.1"), r
    quiet()
    assert delegate.sink.rcpt_count(NOBODY) == 1


@pytest.mark.ferry_conf(delegate_negative_ttl="2s")
def test_negative_ttl(delegate):
    """delegate_negative_ttl = 2s: asked again after 3 s (a "yes" of the
    same age is still cached)."""
    assert delegate.rcpt(NOBODY).code == 550
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.rcpt(NOBODY).code == 550
    assert delegate.sink.rcpt_count(NOBODY) == 1
    time.sleep(3)
    assert delegate.rcpt(NOBODY).code == 550
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.sink.rcpt_count(NOBODY) == 2
    assert delegate.sink.rcpt_count(KNOWN1) == 1


@pytest.mark.ferry_conf(delegate_positive_ttl="6s")
def test_positive_refresh_keeps_yes(delegate):
    """delegate_positive_ttl = 6s: asked again past half its life (4.2 s:
    past 3 s even counted in whole seconds, short of 6), a "yes" is
    answered from the cache at once and refreshed in the background; the
    refresh meeting a 451 does not replace the cached "yes"."""
    assert delegate.rcpt(KNOWN1).code == 250
    delegate.sink.rcpt_replies(KNOWN1, sinks.TEMP)
    time.sleep(4.2)
    r = delegate.rcpt(KNOWN1)
    # the delegate now says 451: a 250 can only come from the cache
    assert r.code == 250, r
    assert delegate.events("answer", kind="rcpt", address=KNOWN1,
        result="yes", cache="hit"), delegate.log()[-2000:]
    wait_for(lambda: delegate.sink.rcpt_count(KNOWN1) == 2, timeout=3,
        what="a background refresh probe")
    wait_for(lambda: delegate.sink.rcpt_answered and
        delegate.sink.rcpt_answered[-1][2] == sinks.TEMP, timeout=3,
        what="the refresh answered")
    quiet()
    r = delegate.rcpt(KNOWN1)
    assert r.code == 250, r


def test_restart_keeps_cache(delegate):
    """The cache file keeps the answers across a restart of delegated: no
    new probe for a known or an unknown address afterwards."""
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.rcpt(NOBODY).code == 550
    delegate.restart_delegated()
    assert delegate.cache_file.exists(), list(delegate.state.iterdir())
    data = delegate.cache_file.read_bytes()
    assert KNOWN1.encode() in data and NOBODY.encode() in data, data
    r = delegate.rcpt(KNOWN1)
    assert r.code == 250, r
    r = delegate.rcpt(NOBODY)
    assert r.startswith("550 5.1.1"), r
    quiet()
    assert delegate.sink.rcpt_count(KNOWN1) == 1
    assert delegate.sink.rcpt_count(NOBODY) == 1


def test_cache_file_written_while_running(delegate):
    """The cache file is rewritten while delegated runs (at most every
    10 s), not only at exit: within 12 s of an answer it holds it."""
    assert delegate.rcpt(KNOWN1).code == 250
    wait_for(lambda: delegate.cache_file.exists() and KNOWN1.encode() in
        delegate.cache_file.read_bytes(), timeout=12,
        what="%s in %s" % (KNOWN1, delegate.cache_file))


# --- ferryctl delegate -------------------------------------------------------

def test_ferryctl_list(delegate):
    """`ferryctl delegate list` shows the cached answers, a "yes" and a
    "no" told apart."""
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.rcpt(NOBODY).code == 550
    r = delegate.ctl("delegate", "list")
    out = r.stdout.decode()
    assert r.returncode == 0, (r.returncode, out, r.stderr)
    lines = {a: [l for l in out.splitlines() if a in l]
        for a in (KNOWN1, NOBODY)}
    assert all(len(v) == 1 for v in lines.values()), out
    assert lines[KNOWN1][0].replace(KNOWN1, "") != \
        lines[NOBODY][0].replace(NOBODY, ""), out


def test_ferryctl_forget(delegate):
    """`ferryctl delegate forget ADDRESS` drops one entry (the next RCPT
    probes again, another entry stays); `forget all` drops them all."""
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.rcpt(NOBODY).code == 550
    r = delegate.ctl("delegate", "forget", KNOWN1)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.rcpt(NOBODY).code == 550
    assert delegate.sink.rcpt_count(KNOWN1) == 2
    assert delegate.sink.rcpt_count(NOBODY) == 1
    r = delegate.ctl("delegate", "forget", "all")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    out = delegate.ctl("delegate", "list").stdout.decode()
    assert KNOWN1 not in out and NOBODY not in out, out
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.rcpt(NOBODY).code == 550
    assert delegate.sink.rcpt_count(KNOWN1) == 3
    assert delegate.sink.rcpt_count(NOBODY) == 2


def test_ferryctl_forget_survives_restart(delegate):
    """A forgotten entry stays forgotten after a restart (the cache file
    is rewritten, at the latest at exit)."""
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.ctl("delegate", "forget", KNOWN1).returncode == 0
    delegate.restart_delegated()
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.sink.rcpt_count(KNOWN1) == 2


def test_ferryctl_test(delegate):
    """`ferryctl delegate test ADDRESS` probes now and prints the answer:
    the delegate sees a RCPT for it; a known and an unknown address are
    told apart."""
    r1 = delegate.ctl("delegate", "test", KNOWN3)
    out1 = r1.stdout.decode() + r1.stderr.decode()
    assert delegate.sink.rcpt_count(KNOWN3) == 1, delegate.sink.log
    r2 = delegate.ctl("delegate", "test", NOBODY)
    out2 = r2.stdout.decode() + r2.stderr.decode()
    assert delegate.sink.rcpt_count(NOBODY) == 1, delegate.sink.log
    assert r1.returncode == 0, (r1.returncode, out1)
    assert re.search(r"\byes\b|\baccept|\b250\b", out1, re.I), out1
    assert re.search(r"\bno\b|reject|refuse|unknown|\b550\b", out2,
        re.I), out2
    assert out1.replace(KNOWN3, "") != out2.replace(NOBODY, ""), \
        (out1, out2)
