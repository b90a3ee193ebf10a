# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""delegated's politeness and failures (doc/delegated.md): a delegate that
is down or slow, several delegates in order, delegate_wait, delegate_rate,
delegate_connections, one probe per question in flight."""

import time

import pytest

from conftest import wait_for
from delegateharness import DELEG_USERS, delegate, in_threads  # noqa: F401

import sinks

KNOWN1, KNOWN2 = "erin@ferry.test", "grace@ferry.test"
CAROL = DELEG_USERS["carol"]


def smtpd_waits(delegate):
    """smtpd's event=delegate-wait lines: questions it stopped waiting
    for after delegate_wait."""
    return delegate.smtpd.ferry.log_events("delegate-wait", name="smtpd")


@pytest.mark.delegate_sink(start=False)
@pytest.mark.ferry_conf(delegate_dead_time="1s")
def test_delegate_down_then_back(delegate):
    """The delegate cannot be reached: RCPT 451 4.4.3 (temporary, not
    cached); once it is back (and delegate_dead_time = 1s is over), the
    same RCPT is 250.  The 451 is delegated's answer, not smtpd giving up
    after delegate_wait."""
    r = delegate.rcpt(KNOWN1)
    assert r.startswith("451 4.4.3"), r
    assert delegate.events("probe", kind="rcpt", address=KNOWN1,
        result="tempfail"), delegate.log()[-2000:]
    assert not smtpd_waits(delegate), delegate.smtpd.log()[-2000:]
    delegate.sink.start()
    time.sleep(1.5)
    r = delegate.rcpt(KNOWN1)
    assert r.startswith("250 2."), r
    assert delegate.sink.rcpt_count(KNOWN1) == 1


@pytest.mark.ferry_conf(
    delegate_servers="127.0.0.1:{closed} 127.0.0.1:{deleg}")
def test_second_delegate_used(delegate):
    """delegate_servers lists a dead delegate first: the second answers
    AUTH and RCPT."""
    r = delegate.auth("carol", CAROL)
    assert r.startswith("235 2.7.0"), r
    rs = delegate.rcpts(KNOWN1, "nobody@ferry.test")
    assert [r.code for r in rs] == [250, 550], rs
    assert delegate.sink.rcpt_count() == 2


@pytest.mark.ferry_conf(delegate_servers="127.0.0.1:{deleg} "
    "127.0.0.1:{extra}")
def test_first_delegate_preferred(delegate):
    """Both delegates up: the first one in delegate_servers is asked."""
    other = delegate.new_sink(port=delegate.smtpd.extra).start()
    assert delegate.rcpt(KNOWN1).code == 250
    assert delegate.auth("carol", CAROL).code == 235
    assert delegate.sink.rcpt_count() == 1
    assert len(delegate.sink.auth_cmds()) == 1
    assert other.sessions() == {}, other.show()


@pytest.mark.delegate_sink(rcpt_delay=2.5)
@pytest.mark.ferry_conf(delegate_wait="1s", delegate_timeout="5s")
def test_slow_delegate(delegate):
    """The delegate takes 2.5 s per RCPT, delegate_wait = 1s: smtpd says
    451 4.4.3 after delegate_wait, before the delegate has answered; the
    probe goes on and fills the cache, so a RCPT then is 250 from the
    cache without a new probe."""
    r, took = delegate.timed_rcpt(KNOWN1)
    answered = [a for _, a, _ in delegate.sink.rcpt_answered]
    assert r.startswith("451 4.4.3"), r
    assert took >= 0.8, took
    assert KNOWN1 not in answered, "451 only after the delegate answered"
    assert smtpd_waits(delegate), delegate.smtpd.log()[-2000:]
    wait_for(lambda: delegate.events("probe", kind="rcpt", address=KNOWN1,
        result="yes"), timeout=10, what="the probe's answer cached:\n%s" %
        delegate.log()[-2000:])
    r = delegate.rcpt(KNOWN1)
    assert r.startswith("250 2."), r
    assert delegate.events("answer", kind="rcpt", address=KNOWN1,
        result="yes", cache="hit"), delegate.log()[-2000:]
    assert delegate.sink.rcpt_count(KNOWN1) == 1


@pytest.mark.ferry_conf(delegate_rate="2")
def test_rate_limit(delegate):
    """delegate_rate = 2: six probes for six recipients are spread over
    at least 2 s at the delegate (a token bucket: at most 3 in any
    0.9 s)."""
    addrs = ["r%d@ferry.test" % i for i in range(1, 7)]
    rs = delegate.rcpts(*addrs)
    assert all(r.code == 250 for r in rs), rs
    times = sorted(t for t, _, _ in delegate.sink.rcpt_cmds())
    assert len(times) == 6, delegate.sink.show()
    span = times[-1] - times[0]
    assert span >= 1.9, [round(t - times[0], 3) for t in times]
    for t in times:
        n = sum(1 for u in times if t <= u < t + 0.9)
        assert n <= 3, [round(u - times[0], 3) for u in times]


@pytest.mark.delegate_sink(rcpt_delay=0.3)
@pytest.mark.ferry_conf(delegate_connections="1")
def test_one_connection(delegate):
    """delegate_connections = 1: AUTHs and probes from five client
    sessions at once are all answered, and the delegate never has two
    connections open at once."""
    def rcpt(a):
        return lambda: delegate.rcpt(a)

    def auth(u):
        return lambda: delegate.auth(u, DELEG_USERS[u])
    rs = in_threads([rcpt("r1@ferry.test"), rcpt("r2@ferry.test"),
        auth("carol"), rcpt("r3@ferry.test"), auth("frank")])
    assert [r.code for r in rs] == [250, 250, 235, 250, 235], rs
    assert delegate.sink.rcpt_count() == 3
    assert delegate.sink.max_concurrent() == 1, \
        (delegate.sink.intervals(), delegate.sink.show())


@pytest.mark.delegate_sink(rcpt_delay=0.3)
def test_connections_default_limit(delegate):
    """delegate_connections = 2 (default): six sessions asking for six
    recipients at once; never more than two delegate connections."""
    rs = in_threads([lambda a=a: delegate.rcpt(a) for a in
        ("r%d@ferry.test" % i for i in range(1, 7))])
    assert all(r.code == 250 for r in rs), rs
    assert delegate.sink.max_concurrent() <= 2, \
        (delegate.sink.intervals(), delegate.sink.show())


@pytest.mark.delegate_sink(rcpt_delay=1.0)
def test_one_probe_per_question(delegate):
    """Three sessions ask for the same recipient at once: one probe, and
    every one of them gets its 250."""
    rs = in_threads([lambda: delegate.rcpt(KNOWN2)] * 3)
    assert [r.code for r in rs] == [250, 250, 250], rs
    assert delegate.sink.rcpt_count(KNOWN2) == 1, delegate.sink.show()


@pytest.mark.ferry_conf(delegate_servers="127.0.0.1:{closed}")
def test_down_not_cached(delegate):
    """A delegate that cannot be reached: 451 4.4.3 every time, nothing
    cached (`ferryctl delegate list` does not show the address)."""
    for _ in range(2):
        r = delegate.rcpt(KNOWN1)
        assert r.startswith("451 4.4.3"), r
    r = delegate.ctl("delegate", "list")
    assert KNOWN1 not in r.stdout.decode(), r.stdout


def test_failed_probe_keeps_yes(delegate):
    """A cached "yes" is not replaced by a later failed probe: after
    `ferryctl delegate test` meets a 451, the RCPT is still 250."""
    assert delegate.rcpt(KNOWN1).code == 250
    delegate.sink.rcpt_replies(KNOWN1, sinks.TEMP)
    delegate.ctl("delegate", "test", KNOWN1)
    assert delegate.sink.rcpt_count(KNOWN1) == 2
    r = delegate.rcpt(KNOWN1)
    assert r.startswith("250 2."), r


@pytest.mark.delegate_sink(rcpt_delay=0.3)
@pytest.mark.ferry_conf(delegate_connections="64", delegate_rate="10000",
    smtpd_max_sessions_per_ip="100")
def test_connections_at_the_maximum(delegate):
    """delegate_connections = 64, the largest it may be: seventy unknown
    recipients at once all get the delegate's answer (550, not 4xx),
    never more than 64 connections; delegated still answers after its
    pool of idle connections was filled."""
    rs = in_threads([lambda a=a: delegate.rcpt(a) for a in
        ("m%d@ferry.test" % i for i in range(70))])
    assert all(r.code == 550 for r in rs), rs
    assert delegate.sink.max_concurrent() <= 64, delegate.sink.show()
    again = delegate.rcpt("r1@ferry.test")
    assert again.code == 250, again
