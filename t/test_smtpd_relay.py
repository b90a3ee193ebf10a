# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""smtpd's relay control and sender policy (doc/smtpd.md, Listeners and
Replies): accepted domains and the recipients table, mynetworks, AUTH as
the way to relay, the address tricks that must not open a relay, MAIL on
the submission ports, and which senders a login may use.

The harness's mynetworks (198.51.100.0/24) holds no client of these
tests, so a loopback client is a stranger for relaying (only AUTH is
offered to it at once)."""

import time

import pytest

from smtpdharness import USERS, simple_message, smtpd  # noqa: F401


# --- recipients -------------------------------------------------------------

def test_relay_denied_without_auth(smtpd):
    """RCPT to another domain from a client outside mynetworks without
    AUTH: 554 5.7.1 Relay access denied; DATA then has no recipient
    (503 5.5.1) and nothing is queued."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.mail().code == 250
        r = c.rcpt("someone@other.example")
        assert r.startswith("554 5.7.1"), r
        assert "Relay access denied" in r, r
        r = c.cmd("DATA")
        assert r.startswith("503 5.5.1"), r
        c.quit()
    assert smtpd.wait_queue_quiet() == []


def test_relay_after_auth(smtpd):
    """The same client after AUTH (offered at once on loopback): RCPT to
    another domain is 250 and the message is queued for it."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.auth_plain("alice", USERS["alice"]).startswith("235 2.7.0")
        msgid = c.send_mail(["someone@other.example"],
            sender="alice@ferry.test")
    assert smtpd.envelope(msgid) == ("alice@ferry.test",
        ["someone@other.example"])


@pytest.mark.ferry_conf(mynetworks="10.0.0.0/8 127.0.0.0/8")
def test_relay_from_mynetworks(smtpd):
    """A client in mynetworks relays without AUTH."""
    with smtpd.client() as c:
        c.ehlo()
        msgid = c.send_mail(["someone@other.example", "user@ferry.test"])
    assert smtpd.envelope(msgid)[1] == ["someone@other.example",
        "user@ferry.test"]


@pytest.mark.ferry_conf(mynetworks="[::1]/128 10.0.0.0/8")
def test_mynetworks_is_by_address(smtpd):
    """mynetworks naming other networks (even IPv6 loopback) does not let
    127.0.0.1 relay."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        assert c.rcpt("someone@other.example").startswith("554 5.7.1")


def test_unknown_user_of_accepted_domain(smtpd):
    """recipients_file lists user, alice and bob @ferry.test: another
    local part gets 550 5.1.1 User unknown; the listed ones 250; the
    domain matches in any case."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        r = c.rcpt("nosuch@ferry.test")
        assert r.startswith("550 5.1.1"), r
        for a in ("user@ferry.test", "alice@ferry.test",
                  "bob@FERRY.Test"):
            r = c.rcpt(a)
            assert r.startswith("250 2."), (a, r)


def test_catch_all_domain(smtpd):
    """The line @example.org accepts every local part of that domain."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        for a in ("anything@example.org", "x.y+z@example.org",
                  "postmaster@example.org"):
            r = c.rcpt(a)
            assert r.startswith("250 2."), (a, r)


@pytest.mark.ferry_conf(recipients_file="")
def test_no_recipients_file_accepts_every_local_part(smtpd):
    """Without recipients_file every address of accepted_domains is
    valid; other domains are still relaying."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        assert c.rcpt("whoever@ferry.test").startswith("250 2.")
        assert c.rcpt("whoever@example.org").startswith("250 2.")
        assert c.rcpt("whoever@other.example").startswith("554 5.7.1")


@pytest.mark.ferry_conf(accepted_domains="", recipients_file="",
    mydestination="")
def test_default_accepted_domains(smtpd):
    """accepted_domains empty: myhostname and localhost are accepted,
    nothing else (not even myorigin).  (No local domains here: their
    recipients are locald's to know, t/test_local.py.)"""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        assert c.rcpt("root@mx.ferry.test").startswith("250 2.")
        assert c.rcpt("root@localhost").startswith("250 2.")
        assert c.rcpt("root@ferry.test").startswith("554 5.7.1")


def test_similar_domains_are_not_accepted(smtpd):
    """Subdomains and look-alikes of an accepted domain are other
    domains: 554 5.7.1."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        for a in ("user@sub.ferry.test", "user@evilferry.test",
                  "user@ferry.test.other.example", "user@ferry.tes"):
            r = c.rcpt(a)
            assert r.startswith("554 5.7.1"), (a, r)


RELAY_TRICKS = [
    "user%other.example@ferry.test",
    "other.example!user@ferry.test",
    '"user@other.example"@ferry.test',
    "@ferry.test:user@other.example",
    "@ferry.test,@ferry.test:user@other.example",
    "user@[192.0.2.1]",
    "user@[127.0.0.1]",
    "user@[IPv6:::1]",
    "user@other.example@ferry.test",
    '"user%other.example"@ferry.test',
]


@pytest.mark.ferry_conf(recipients_file="")
@pytest.mark.parametrize("rcpt", RELAY_TRICKS)
def test_relay_tricks_refused(smtpd, rcpt):
    """Addresses that route elsewhere through a local domain (%, !, a
    quoted @, a source route, an address literal, a double @) are refused
    with 554 5.7.1, or 501 5.1.3 as bad syntax, even where every local
    part of ferry.test is valid; nothing is queued."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        r = c.rcpt(rcpt)
        assert r.startswith("554 5.7.1") or r.startswith("501 5.1.3"), \
            (rcpt, r)
        assert c.cmd("DATA").code == 503
    assert smtpd.wait_queue_quiet(0.2) == []


# --- the submission ports ---------------------------------------------------

def test_submission_needs_auth(smtpd):
    """MAIL on the submission port without AUTH: 530 5.7.0
    Authentication required, even to a local recipient, even after
    STARTTLS; the smtps port likewise."""
    with smtpd.submission_client() as c:
        c.ehlo()
        r = c.mail("user@ferry.test")
        assert r.startswith("530 5.7.0"), r
        c.starttls()
        c.ehlo()
        r = c.mail("user@ferry.test")
        assert r.startswith("530 5.7.0"), r
    with smtpd.smtps_client() as c:
        c.ehlo()
        r = c.mail("user@ferry.test")
        assert r.startswith("530 5.7.0"), r


@pytest.mark.ferry_conf(mynetworks="127.0.0.0/8")
def test_submission_needs_auth_even_from_mynetworks(smtpd):
    """mynetworks is for the SMTP listener only: on submission a client in
    mynetworks still gets 530 5.7.0 at MAIL."""
    with smtpd.submission_client() as c:
        c.ehlo()
        r = c.mail("user@ferry.test")
        assert r.startswith("530 5.7.0"), r


def test_tls_alone_does_not_allow_relay(smtpd):
    """STARTTLS without AUTH grants nothing: relaying is still 554
    5.7.1."""
    with smtpd.client() as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        c.mail()
        r = c.rcpt("someone@other.example")
        assert r.startswith("554 5.7.1"), r


def test_submission_after_auth_relays(smtpd):
    """After AUTH on the submission port: any domain is accepted, an
    unknown local user is still 550 5.1.1."""
    with smtpd.submission_client() as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        assert c.auth_login("bob", USERS["bob"]).startswith("235 2.7.0")
        assert c.mail("bob@ferry.test").startswith("250 2.")
        assert c.rcpt("friend@other.example").startswith("250 2.")
        assert c.rcpt("nosuch@ferry.test").startswith("550 5.1.1")
        r = c.data(simple_message())
        assert r.startswith("250 2.0.0 Ok: queued as"), r
        msgid = r.split()[-1]
    assert smtpd.envelope(msgid) == ("bob@ferry.test",
        ["friend@other.example"])


def login_session(smtpd, user="alice"):
    c = smtpd.submission_client()
    c.ehlo()
    c.starttls()
    c.ehlo()
    r = c.auth_plain(user, USERS[user])
    assert r.startswith("235 2.7.0"), r
    return c


def test_sender_policy_login(smtpd):
    """smtpd_sender_policy = login (default): alice may send as
    alice@ferry.test, alice@example.org (accepted domains) and <>; as
    bob@ferry.test or alice@other.example she gets 553 5.7.1 Sender
    address not owned by alice."""
    with login_session(smtpd) as c:
        for bad in ("bob@ferry.test", "alice@other.example",
                    "alicex@ferry.test"):
            r = c.mail(bad)
            assert r.startswith("553 5.7.1"), (bad, r)
            assert "alice" in r, r
        for good in ("alice@ferry.test", "alice@example.org", ""):
            r = c.mail(good)
            assert r.startswith("250 2."), (good, r)
            assert c.cmd("RSET").code == 250


def test_sender_policy_on_smtp_port(smtpd):
    """The policy holds for an authenticated client on the SMTP port
    too."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.auth_plain("bob", USERS["bob"]).code == 235
        r = c.mail("alice@ferry.test")
        assert r.startswith("553 5.7.1"), r
        assert c.mail("bob@ferry.test").startswith("250 2.")


@pytest.mark.ferry_conf(smtpd_sender_policy="any")
def test_sender_policy_any(smtpd):
    """smtpd_sender_policy = any: an authenticated user may use any
    sender."""
    with login_session(smtpd) as c:
        assert c.mail("bob@ferry.test").startswith("250 2.")
        c.cmd("RSET")
        assert c.mail("anyone@other.example").startswith("250 2.")


# --- clients off loopback ---------------------------------------------------
# These need a listener and a client on this host's non-loopback address
# ({ext}); without one they are skipped.

@pytest.mark.ferry_conf(smtp_listen="{ext}:{smtp}",
    submission_listen="{ext}:{submission}", smtps_listen="")
def test_remote_client_no_auth_before_tls(smtpd):
    """Off loopback, AUTH is offered only after STARTTLS; AUTH before it
    is 538 5.7.11 Encryption required; after it AUTH works and relaying
    is allowed."""
    for port in (smtpd.smtp, smtpd.submission):
        with smtpd.ext_client(port) as c:
            r = c.ehlo()
            assert r.keyword("AUTH") is None, r
            r = c.auth_plain("alice", USERS["alice"])
            assert r.startswith("538 5.7.11"), r
            c.starttls()
            r = c.ehlo()
            assert r.keyword("AUTH") is not None, r
            assert c.auth_plain("alice", USERS["alice"]).startswith(
                "235 2.7.0")
            assert c.mail("alice@ferry.test").startswith("250 2.")
            assert c.rcpt("x@other.example").startswith("250 2.")


@pytest.mark.ferry_conf(smtp_listen="{ext}:{smtp}", smtps_listen="",
    submission_listen="")
def test_remote_client_relay_denied(smtpd):
    """A remote client outside mynetworks: local recipients 250, other
    domains 554 5.7.1."""
    with smtpd.ext_client() as c:
        c.ehlo()
        c.mail()
        assert c.rcpt("user@ferry.test").startswith("250 2.")
        assert c.rcpt("x@other.example").startswith("554 5.7.1")


@pytest.mark.ferry_conf(smtp_listen="{ext}:{smtp}", smtps_listen="",
    submission_listen="", mynetworks="{ext}/32")
def test_remote_client_in_mynetworks_relays(smtpd):
    """A remote client inside mynetworks relays without AUTH."""
    with smtpd.ext_client() as c:
        c.ehlo()
        msgid = c.send_mail(["x@other.example"])
    assert smtpd.envelope(msgid)[1] == ["x@other.example"]


@pytest.mark.ferry_conf(smtp_listen="{ext}:{smtp}", smtps_listen="",
    submission_listen="", smtpd_auth_plaintext="yes")
def test_remote_client_auth_plaintext(smtpd):
    """smtpd_auth_plaintext = yes: AUTH is offered and works without TLS
    off loopback."""
    with smtpd.ext_client() as c:
        r = c.ehlo()
        assert r.keyword("AUTH") is not None, r
        assert c.auth_login("bob", USERS["bob"]).startswith("235 2.7.0")


@pytest.mark.ferry_conf(smtpd_max_errors="5")
def test_unknown_recipients_slowed_then_cut_off(smtpd):
    """A client guessing addresses: the first two unknown recipients get
    550 5.1.1 at once, each one after that waits a second longer, and
    the fifth error ends the session with 421."""
    with smtpd.client(timeout=20) as c:
        c.ehlo()
        assert c.mail().startswith("250")
        waits = []
        for i in range(4):
            start = time.monotonic()
            r = c.rcpt("nobody%d@ferry.test" % i)
            waits.append(time.monotonic() - start)
            assert r.startswith("550 5.1.1"), r
        assert waits[2] >= 0.9 and waits[3] >= 1.9, waits
        r = c.rcpt("nobody9@ferry.test")
        assert r.startswith("550 5.1.1"), r
        assert c.expect_close(10).startswith("421 4.7.0"), "not cut off"
