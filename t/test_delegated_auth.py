# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""delegated's first question (doc/delegated.md): are these credentials
good?  smtpd asks its users table first, then delegated, which opens a
fresh connection to the delegate per credential (EHLO, STARTTLS, one AUTH,
QUIT) and maps the delegate's answer to 235 / 535 / 454; good credentials
are cached in memory for delegate_auth_ttl."""

import signal
import time

import pytest

from conftest import wait_for
from delegateharness import (DELEG_ONLY_ALICE_PW, DELEG_USERS,  # noqa: F401
    delegate)
from smtpdharness import USERS, secret_forms

CAROL = DELEG_USERS["carol"]
DAVE = DELEG_USERS["dave@ferry.test"]


def quiet(seconds=0.3):
    """Give delegated a moment to do what it should not do."""
    time.sleep(seconds)


def wait_sessions(sink, n, timeout=5):
    """n delegate sessions that tried AUTH, each finished with QUIT."""
    wait_for(lambda: len(sink.auth_sessions()) >= n and all("QUIT" in c
        for c in sink.auth_sessions().values()), timeout=timeout,
        what="%d AUTH session(s) ending with QUIT at the delegate:\n%s" %
        (n, sink.show()))
    return sink.auth_sessions()


def test_good_credentials(delegate):
    """Users only the delegate knows log in (PLAIN and LOGIN at smtpd):
    235 2.7.0.  Each attempt is one fresh delegate connection with EHLO,
    STARTTLS, EHLO, exactly one AUTH (after STARTTLS) with the user's own
    name, QUIT -- and no MAIL, RCPT or DATA."""
    r = delegate.auth("carol", CAROL)
    assert r.startswith("235 2.7.0"), r
    r = delegate.auth("dave@ferry.test", DAVE, mech="login")
    assert r.startswith("235 2.7.0"), r
    sessions = wait_sessions(delegate.sink, 2)
    assert len(sessions) == 2, delegate.sink.show()
    for cmds in sessions.values():
        auths = [c for c in cmds if c.startswith("AUTH")]
        assert len(auths) == 1, cmds
        assert "STARTTLS" in cmds, cmds
        assert cmds.index("STARTTLS") < cmds.index(auths[0]), cmds
        assert cmds[0].startswith("EHLO"), cmds
        assert any(c.startswith("EHLO") and c.endswith("(tls)")
            for c in cmds), cmds
        assert not [c for c in cmds if c.startswith(("MAIL", "RCPT",
            "DATA"))], cmds
    logins = sorted(a[1] for a in delegate.sink.auth_attempts)
    assert logins == [b"carol", b"dave@ferry.test"], \
        delegate.sink.auth_attempts
    assert all(a[2] for a in delegate.sink.auth_attempts)


def test_bad_credentials(delegate):
    """A wrong password and a user the delegate does not know: 535 5.7.8,
    one delegate connection and one AUTH each."""
    r1 = delegate.auth("carol", "not-carols-password")
    assert r1.startswith("535 5.7.8"), r1
    r2 = delegate.auth("zed", "whatever-Pw-1")
    assert r2.startswith("535 5.7.8"), r2
    sessions = wait_sessions(delegate.sink, 2)
    assert len(sessions) == 2, delegate.sink.show()
    for cmds in sessions.values():
        assert len([c for c in cmds if c.startswith("AUTH")]) == 1, cmds
    assert [a[2] for a in delegate.sink.auth_attempts] == [False, False]


BASIC_OFF = [
    "550 5.7.30 Basic authentication is not supported for Client "
    "Submission",
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
    "disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for "
    "more information.",
    "535 5.7.139 Authentication unsuccessful, basic authentication is not "
    "supported",
]
NOT_CONFIG = [
    ("454 4.7.0 Temporary authentication failure", "454 4.7.0"),
    ("535 5.7.3 Authentication unsuccessful", "535 5.7.8"),
    ("535 5.7.139 Authentication unsuccessful, the request did not meet "
     "the criteria to be authenticated successfully. Contact your "
     "administrator.", "535 5.7.8"),
    ("550 5.7.1 Client does not have permissions to send", "535 5.7.8"),
]


@pytest.mark.parametrize("reply", BASIC_OFF)
def test_basic_auth_disabled_at_delegate(delegate, reply):
    """5.7.30, or 5.7.139 with "disabled" / "not supported": basic
    authentication is off at the delegate, a configuration problem and
    not a bad password: 454 4.7.0, and an event=delegate-config line in
    delegated.log (without the password)."""
    delegate.sink.auth_reply = reply
    r = delegate.auth("carol", CAROL)
    assert r.startswith("454 4.7.0"), r
    wait_for(lambda: delegate.events("delegate-config"), timeout=3,
        what="event=delegate-config in delegated.log:\n%s" %
        delegate.log()[-2000:])
    for form in secret_forms("carol", CAROL):
        assert form not in delegate.log(), form
        assert form not in delegate.ferry.log("smtpd"), form


@pytest.mark.parametrize("reply,want", NOT_CONFIG)
def test_delegate_auth_replies(delegate, reply, want):
    """A 4xx is 454 4.7.0; any other 5xx (a 5.7.139 that does not say
    "disabled" / "not supported" included) is 535 5.7.8; neither logs
    event=delegate-config."""
    delegate.sink.auth_reply = reply
    r = delegate.auth("carol", CAROL)
    assert r.startswith(want), (reply, r)
    quiet()
    assert not delegate.events("delegate-config"), delegate.log()[-2000:]


@pytest.mark.delegate_sink(offer_auth=False)
def test_auth_not_offered(delegate):
    """A delegate whose EHLO (after STARTTLS) offers no AUTH: 454 4.7.0
    and event=delegate-config."""
    r = delegate.auth("carol", CAROL)
    assert r.startswith("454 4.7.0"), r
    wait_for(lambda: delegate.events("delegate-config"), timeout=3,
        what="event=delegate-config in delegated.log:\n%s" %
        delegate.log()[-2000:])


@pytest.mark.delegate_sink(mechanisms=("LOGIN",))
def test_login_only_delegate(delegate):
    """A delegate that offers only AUTH LOGIN is asked with LOGIN."""
    r = delegate.auth("carol", CAROL)
    assert r.startswith("235 2.7.0"), r
    assert [(m, l) for m, l, _ in delegate.sink.auth_attempts] == \
        [("LOGIN", b"carol")], delegate.sink.auth_attempts


@pytest.mark.ferry_conf(delegate_servers="127.0.0.1:{closed}")
def test_delegate_down(delegate):
    """A delegate that refuses connections: 454 4.7.0, at once (not
    after delegate_wait): the answer is delegated's tempfail, and smtpd's
    delegate_wait deadline never fired."""
    r = delegate.auth("carol", CAROL)
    assert r.startswith("454 4.7.0"), r
    assert delegate.events("probe", kind="auth", user="carol",
        result="tempfail"), delegate.log()[-2000:]
    assert not delegate.smtpd.ferry.log_events("delegate-wait",
        name="smtpd"), delegate.smtpd.log()[-2000:]


def test_local_users_first(delegate):
    """The local users table is asked first, and a user in it never
    reaches the delegate: alice's local password logs in, the password
    the delegate knows for her does not, nor does a wrong one for bob."""
    r = delegate.auth("alice", USERS["alice"])
    assert r.startswith("235 2.7.0"), r
    r = delegate.auth("alice", DELEG_ONLY_ALICE_PW)
    assert r.startswith("535 5.7.8"), r
    r = delegate.auth("bob", "bob-wrong-Pw-1", mech="login")
    assert r.startswith("535 5.7.8"), r
    quiet(0.5)
    assert delegate.sink.auth_sessions() == {}, delegate.sink.show()
    assert delegate.sink.auth_attempts == []


@pytest.mark.parametrize("user", ["someone@example.org",
    "someone@example.net", "carol@example.org"])
def test_other_domains_not_asked(delegate, user):
    """delegate_auth = ferry.test: a user of another domain (accepted or
    not) is not asked at the delegate: 535 5.7.8."""
    delegate.sink.auth["carol@example.org"] = CAROL
    r = delegate.auth(user, CAROL)
    assert r.startswith("535 5.7.8"), r
    quiet()
    assert delegate.sink.auth_attempts == [], delegate.sink.auth_attempts


@pytest.mark.ferry_conf(delegate_login_domain="example.org")
def test_login_domain(delegate):
    """delegate_login_domain = example.org: a name without @ belongs to
    example.org, which is not in delegate_auth, so carol is not asked at
    the delegate (535 5.7.8), while dave@ferry.test still is."""
    r = delegate.auth("carol", CAROL)
    assert r.startswith("535 5.7.8"), r
    r = delegate.auth("dave@ferry.test", DAVE)
    assert r.startswith("235 2.7.0"), r
    assert [a[1] for a in delegate.sink.auth_attempts] == \
        [b"dave@ferry.test"], delegate.sink.auth_attempts


def test_good_credentials_cached(delegate):
    """Good credentials are cached (default delegate_auth_ttl 5 min): a
    second AUTH with them makes no delegate connection, with PLAIN or
    LOGIN.  A wrong password for the same user is not served from the
    cache (asked, 535), nor are failures cached."""
    assert delegate.auth("carol", CAROL).startswith("235 2.7.0")
    wait_sessions(delegate.sink, 1)
    assert delegate.auth("carol", CAROL).startswith("235 2.7.0")
    assert delegate.auth("carol", CAROL, mech="login").startswith(
        "235 2.7.0")
    quiet()
    assert len(delegate.sink.auth_sessions()) == 1, delegate.sink.show()
    r = delegate.auth("carol", CAROL + "x")
    assert r.startswith("535 5.7.8"), r
    r = delegate.auth("carol", CAROL + "x")
    assert r.startswith("535 5.7.8"), r
    wait_sessions(delegate.sink, 3)
    assert len(delegate.sink.auth_cmds()) == 3, delegate.sink.auth_cmds()
    # another user is another question
    assert delegate.auth("frank", DELEG_USERS["frank"]).startswith(
        "235 2.7.0")
    wait_sessions(delegate.sink, 4)


@pytest.mark.ferry_conf(delegate_auth_ttl="2s")
def test_auth_cache_expires(delegate):
    """delegate_auth_ttl = 2s: after 3 s the delegate is asked again."""
    assert delegate.auth("carol", CAROL).startswith("235 2.7.0")
    assert delegate.auth("carol", CAROL).startswith("235 2.7.0")
    quiet()
    assert len(delegate.sink.auth_cmds()) == 1, delegate.sink.auth_cmds()
    time.sleep(3)
    assert delegate.auth("carol", CAROL).startswith("235 2.7.0")
    assert len(delegate.sink.auth_cmds()) == 2, delegate.sink.auth_cmds()


@pytest.mark.ferry_conf(delegate_auth_ttl="0")
def test_auth_cache_off(delegate):
    """delegate_auth_ttl = 0: every AUTH goes to the delegate."""
    for _ in range(2):
        assert delegate.auth("carol", CAROL).startswith("235 2.7.0")
    assert len(delegate.sink.auth_cmds()) == 2, delegate.sink.auth_cmds()


@pytest.mark.parametrize("given,sent", [
    pytest.param("dave@ferry.test", b"dave@ferry.test", id="as-given",
        marks=pytest.mark.ferry_conf(delegate_login_form="as-given")),
    pytest.param("carol@ferry.test", b"carol", id="local-part",
        marks=pytest.mark.ferry_conf(delegate_login_form="local-part")),
    pytest.param("dave", b"dave@ferry.test", id="add-domain",
        marks=pytest.mark.ferry_conf(delegate_login_form="add-domain")),
])
def test_login_form(delegate, given, sent):
    """delegate_login_form: the name sent to the delegate is the client's,
    its local part, or with @ the first accepted domain added."""
    pw = DELEG_USERS[sent.decode()]
    r = delegate.auth(given, pw)
    assert r.startswith("235 2.7.0"), r
    assert [a[1] for a in delegate.sink.auth_attempts] == [sent], \
        delegate.sink.auth_attempts


@pytest.mark.ferry_conf(delegate_tls="verify", delegate_tls_ca_file="{ca}")
def test_tls_verify(delegate):
    """delegate_tls = verify with the delegate's certificate as CA file:
    the login works (host name 127.0.0.1 is in the certificate)."""
    r = delegate.auth("carol", CAROL)
    assert r.startswith("235 2.7.0"), r


@pytest.mark.ferry_conf(delegate_tls="verify",
    delegate_tls_ca_file="{otherca}")
def test_tls_verify_fails(delegate):
    """delegate_tls = verify with a CA that did not sign the delegate's
    certificate: 454 4.7.0, and the password is never sent."""
    r = delegate.auth("carol", CAROL)
    assert r.startswith("454 4.7.0"), r
    quiet()
    assert delegate.sink.auth_attempts == [], delegate.sink.auth_attempts


@pytest.mark.delegate_sink(tls=False)
@pytest.mark.ferry_conf(delegate_tls="encrypt")
def test_tls_required_but_not_offered(delegate):
    """delegate_tls = encrypt against a delegate without STARTTLS: 454
    4.7.0, and the password is never sent in clear."""
    r = delegate.auth("carol", CAROL)
    assert r.startswith("454 4.7.0"), r
    quiet()
    assert delegate.sink.auth_attempts == [], delegate.sink.auth_attempts


@pytest.mark.delegate_sink(tls=False)
def test_tls_may_without_starttls(delegate):
    """delegate_tls = may against a delegate without STARTTLS: AUTH in
    clear works."""
    r = delegate.auth("carol", CAROL)
    assert r.startswith("235 2.7.0"), r


def test_submission_with_smtplib(delegate):
    """A real client: smtplib, STARTTLS, login as a delegate user, a
    message to a recipient the delegate knows and one elsewhere: queued;
    the delegate saw the AUTH and one RCPT probe, never DATA."""
    s = delegate.smtplib_submission()
    try:
        s.login("carol", CAROL)
        refused = s.sendmail("carol@ferry.test",
            ["erin@ferry.test", "someone@example.net"],
            b"From: carol@ferry.test\r\nSubject: hi\r\n\r\nhello\r\n")
        assert refused == {}, refused
    finally:
        s.quit()
    ids = delegate.smtpd.queued()
    assert len(ids) == 1, ids
    sender, rcpts = delegate.smtpd.envelope(ids[0])
    assert sender == "carol@ferry.test"
    assert sorted(rcpts) == ["erin@ferry.test", "someone@example.net"]
    assert delegate.sink.rcpt_count("erin@ferry.test") == 1
    assert delegate.sink.rcpt_count() == 1
    assert delegate.sink.commands("DATA") == []
    assert delegate.sink.received() == []


def test_user_failure_limit(delegate):
    """delegate_auth_max_failures = 3 (default): after three failed
    logins of one user at the delegate, the next -- even with the right
    password -- is refused here (535 5.7.8) without asking the delegate,
    which would lock the account; another user is still asked."""
    for i in range(3):
        r = delegate.auth("carol", "carol-wrong-%d" % i)
        assert r.startswith("535 5.7.8"), r
    assert len(delegate.sink.auth_cmds()) == 3, delegate.sink.show()
    r = delegate.auth("carol", CAROL)
    assert r.startswith("535 5.7.8"), r
    quiet()
    assert len(delegate.sink.auth_cmds()) == 3, delegate.sink.show()
    r = delegate.auth("frank", DELEG_USERS["frank"])
    assert r.startswith("235 2.7.0"), r
    assert len(delegate.sink.auth_cmds()) == 4, delegate.sink.show()


def test_delegated_down_during_auth(delegate):
    """delegated itself not running (smtpd cannot reach its socket), then
    killed while smtpd holds a connection to it: AUTH for a delegated
    user is 454 4.7.0 both times, smtpd lives on (these are the paths that
    must wipe the password, run them under make SAN=1), and once delegated
    is back the same credentials log in."""
    delegate.ferry.stop("delegated")
    r = delegate.auth("carol", CAROL)
    assert r.startswith("454 4.7.0"), r
    delegate.start_delegated()
    assert delegate.auth("carol", CAROL).startswith("235 2.7.0")
    delegate.ferry.stop("delegated", sig=signal.SIGKILL)
    r = delegate.auth("dave@ferry.test", DAVE)
    assert r.startswith("454 4.7.0"), r
    assert delegate.ferry.daemons["smtpd"].alive()
    delegate.start_delegated()
    assert delegate.auth("dave@ferry.test", DAVE).startswith("235 2.7.0")
