# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""smtpd's AUTH (doc/smtpd.md, Replies): PLAIN and LOGIN with and without
initial responses, every failure reply, the delay after a failure, the
per-session and per-address failure limits, and passwords kept out of
the logs.

Plaintext AUTH follows smtpd_auth_plaintext (no, loopback, yes); the
harness sets loopback, so most tests here AUTH without TLS.  AUTH before
TLS off loopback (538 5.7.11) is also in test_smtpd_relay.py's
remote-client tests."""

import os
import select
import time

import pytest

from smtpdharness import (USERS, Yardstick, b64, plain_blob,  # noqa: F401
    secret_forms, smtpd)


def session(smtpd):
    c = smtpd.submission_client()
    c.ehlo()
    return c


def test_auth_plain_initial_response(smtpd):
    """AUTH PLAIN with the initial response: 235 2.7.0."""
    with session(smtpd) as c:
        r = c.auth_plain("alice", USERS["alice"])
        assert r.startswith("235 2.7.0"), r


def test_auth_plain_with_challenge(smtpd):
    """AUTH PLAIN alone: an empty 334 challenge, then the response."""
    with session(smtpd) as c:
        r = c.cmd("AUTH PLAIN")
        assert r.code == 334 and r.strip() == "334", repr(r)
        r = c.cmd(plain_blob("bob", USERS["bob"]))
        assert r.startswith("235 2.7.0"), r


def test_auth_login(smtpd):
    """AUTH LOGIN: 334 VXNlcm5hbWU6 (Username:), 334 UGFzc3dvcmQ6
    (Password:), 235 2.7.0."""
    with session(smtpd) as c:
        r = c.cmd("AUTH LOGIN")
        assert r == "334 VXNlcm5hbWU6", r
        r = c.cmd(b64("alice"))
        assert r == "334 UGFzc3dvcmQ6", r
        r = c.cmd(b64(USERS["alice"]))
        assert r.startswith("235 2.7.0"), r


def test_auth_login_initial_response(smtpd):
    """AUTH LOGIN with the user name as initial response (as smtplib
    sends it): 334 UGFzc3dvcmQ6, then 235."""
    with session(smtpd) as c:
        r = c.cmd("AUTH LOGIN %s" % b64("alice"))
        assert r == "334 UGFzc3dvcmQ6", r
        r = c.cmd(b64(USERS["alice"]))
        assert r.startswith("235 2.7.0"), r


def test_auth_mechanism_case_insensitive(smtpd):
    """The mechanism name in any case (RFC 4954)."""
    with session(smtpd) as c:
        r = c.cmd("auth plain %s" % plain_blob("alice", USERS["alice"]))
        assert r.startswith("235 2.7.0"), r


def test_auth_bad_password_and_unknown_user(smtpd):
    """A wrong password and an unknown user get the same 535 5.7.8 (no
    user enumeration); the session can try again and succeed."""
    with session(smtpd) as c:
        r1 = c.auth_plain("alice", "wrong-password")
        assert r1.startswith("535 5.7.8"), r1
        r2 = c.auth_login("nosuchuser", "whatever")
        assert r2.startswith("535 5.7.8"), r2
        assert r1 == r2
        r = c.auth_login("alice", USERS["alice"])
        assert r.startswith("235 2.7.0"), r


def test_auth_password_is_whole(smtpd):
    """A prefix of the password, or the password with more after it, is
    wrong (no truncation in the comparison)."""
    with session(smtpd) as c:
        for pw in (USERS["alice"][:-1], USERS["alice"] + "x"):
            r = c.auth_plain("alice", pw)
            assert r.startswith("535 5.7.8"), (pw, r)
        # a NUL after the password: a malformed PLAIN response or wrong
        r = c.auth_plain("alice", USERS["alice"] + "\0")
        assert r.startswith("535 5.7.8") or r.startswith("501 5.5.2"), r
        r = c.auth_login("alice", USERS["alice"] + "\0")
        assert r.startswith("535 5.7.8") or r.startswith("501 5.5.2"), r
        assert c.mail("alice@ferry.test").startswith("530 5.7.0")


def test_auth_errors(smtpd):
    """Unknown mechanism 504 5.5.4, bad base64 501 5.5.2, cancelled with
    '*' 501 5.7.0, a PLAIN blob without two NULs 501 (or 535); none of
    them logs in."""
    with session(smtpd) as c:
        r = c.cmd("AUTH CRAM-MD5")
        assert r.startswith("504 5.5.4"), r
        r = c.cmd("AUTH XOAUTH2 %s" % b64("x"))
        assert r.startswith("504 5.5.4"), r
        r = c.cmd("AUTH PLAIN !!not*base64!!")
        assert r.startswith("501 5.5.2"), r
        r = c.cmd("AUTH LOGIN")
        assert r.code == 334, r
        r = c.cmd("*")
        assert r.startswith("501 5.7.0"), r
        r = c.cmd("AUTH PLAIN")
        assert r.code == 334, r
        r = c.cmd("*")
        assert r.startswith("501 5.7.0"), r
        r = c.cmd("AUTH PLAIN %s" % b64("alice" + USERS["alice"]))
        assert r.code in (501, 535), r
        r = c.cmd("AUTH")
        assert r.code == 501, r
        # still not logged in: MAIL on submission needs AUTH
        assert c.mail("alice@ferry.test").startswith("530 5.7.0")


def test_auth_twice(smtpd):
    """A second AUTH after a successful one: 503 5.5.1."""
    with session(smtpd) as c:
        assert c.auth_plain("alice", USERS["alice"]).code == 235
        r = c.auth_plain("bob", USERS["bob"])
        assert r.startswith("503 5.5.1"), r


def test_starttls_after_auth_forgets_login(smtpd):
    """AUTH (offered on loopback without TLS), then STARTTLS: either the
    STARTTLS is refused (503), or after the handshake the session starts
    over unauthenticated (RFC 3207 4.2: the server MUST discard what it
    learnt from the client before TLS) -- MAIL on submission is 530 and
    AUTH works again."""
    with session(smtpd) as c:
        assert c.auth_plain("alice", USERS["alice"]).code == 235
        r = c.cmd("STARTTLS")
        if r.code == 503:
            return
        assert r.startswith("220 2.0.0"), r
        c._wrap()
        r = c.ehlo()
        assert r.keyword("AUTH") is not None, \
            "AUTH not offered after TLS: still logged in? %s" % r
        r = c.mail("alice@ferry.test")
        assert r.startswith("530 5.7.0"), r
        assert c.auth_plain("bob", USERS["bob"]).startswith("235 2.7.0")


def test_auth_during_transaction(smtpd):
    """AUTH in a mail transaction is 503 (RFC 4954 4: MUST)."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.mail().code == 250
        r = c.auth_plain("alice", USERS["alice"])
        assert r.startswith("503 5.5.1"), r


def test_authzid_cannot_switch_user(smtpd):
    """AUTH PLAIN with authzid bob and alice's credentials: either refused,
    or logged in as alice (who then may not send as bob)."""
    with session(smtpd) as c:
        r = c.cmd("AUTH PLAIN %s" % plain_blob("alice", USERS["alice"],
            authzid="bob"))
        if r.code == 235:
            r = c.mail("bob@ferry.test")
            assert r.startswith("553 5.7.1"), r
        else:
            assert r.code in (535, 501), r


# --- failure delay and limits -----------------------------------------------

def has_reply(c):
    """Has anything (a reply, a close) arrived on c that was not read?"""
    return bool(c.buf) or bool(select.select([c.sock], [], [], 0)[0])


@pytest.mark.ferry_conf(smtpd_auth_failure_delay="2s",
    smtpd_auth_max_failures="5")
def test_auth_failure_delay(smtpd):
    """smtpd_auth_failure_delay = 2s: the first failure is answered after
    at least 2 s, the second after at least 4 s; another session is
    served while a failure waits; a good password is answered at once,
    that is before a failure smtpd delays by 2 s in another session."""
    with session(smtpd) as c:
        t0 = time.monotonic()
        r = c.auth_plain("alice", "bad")
        t1 = time.monotonic()
        assert r.startswith("535 5.7.8"), r
        assert t1 - t0 >= 1.8, t1 - t0
        # while the second failure waits, another session is answered
        c.send("AUTH PLAIN %s\r\n" % plain_blob("alice", "bad"))
        with smtpd.client() as o:
            assert o.ehlo().code == 250
            assert not has_reply(c), \
                "another session waited for the delayed failure"
        r = c.reply()
        t2 = time.monotonic()
        assert r.startswith("535 5.7.8"), r
        assert t2 - t1 >= 3.6, t2 - t1
        y = Yardstick(smtpd)
        try:
            assert c.auth_plain("alice", USERS["alice"]).code == 235
            assert not y.fired(), "the good password was delayed"
        finally:
            y.close()


@pytest.mark.ferry_conf(smtpd_auth_failure_delay="1s")
def test_auth_delay_keeps_pipelined_order(smtpd):
    """A failed AUTH pipelined with NOOP: the 535 (after the delay) comes
    before the NOOP's 250."""
    with session(smtpd) as c:
        c.send("AUTH PLAIN %s\r\nNOOP\r\n" % plain_blob("alice", "bad"))
        r = c.replies(2)
        assert r[0].startswith("535 5.7.8") and r[1].startswith("250"), r


@pytest.mark.ferry_conf(smtpd_auth_failure_delay="1s")
def test_disconnect_during_auth_delay(smtpd):
    """A client that closes while its failed AUTH is being delayed does
    not harm smtpd (the delayed reply has no session to go to)."""
    for _ in range(3):
        c = session(smtpd)
        c.send("AUTH PLAIN %s\r\n" % plain_blob("alice", "bad"))
        time.sleep(0.1)
        c.close()
    time.sleep(1.5)
    assert smtpd.ferry.daemons["smtpd"].alive()
    with smtpd.client() as c:
        c.ehlo()
        c.send_mail()


@pytest.mark.ferry_conf(smtpd_auth_max_failures="2")
def test_auth_max_failures_in_session(smtpd):
    """smtpd_auth_max_failures = 2: the first failure is 535 5.7.8, the
    second 421 4.7.0 Too many authentication failures, then the
    connection closes."""
    with session(smtpd) as c:
        r = c.auth_plain("alice", "bad1")
        assert r.startswith("535 5.7.8"), r
        r = c.auth_login("alice", "bad2")
        assert r.startswith("421 4.7.0"), r
        assert "Too many authentication failures" in r, r
        c.expect_close()


@pytest.mark.ferry_conf(smtpd_auth_ip_max_failures="3",
    smtpd_auth_max_failures="10")
def test_auth_failures_per_address(smtpd):
    """smtpd_auth_ip_max_failures = 3: after three failures from 127.0.0.1
    in separate sessions, the next AUTH from it -- even with the right
    password -- is 454 4.7.0 Too many authentication failures, try later;
    the rest of the session still works."""
    for i in range(3):
        with session(smtpd) as c:
            assert c.auth_plain("alice", "bad%d" % i).startswith(
                "535 5.7.8")
    with session(smtpd) as c:
        r = c.auth_plain("alice", USERS["alice"])
        assert r.startswith("454 4.7.0"), r
        assert "try later" in r, r
        r = c.auth_login("bob", USERS["bob"])
        assert r.startswith("454 4.7.0"), r
    with smtpd.client() as c:
        c.ehlo()
        c.send_mail()


def test_successful_auth_does_not_hit_address_limit(smtpd):
    """Many successful logins from one address are no failures (default
    smtpd_auth_ip_max_failures = 10)."""
    for _ in range(15):
        with session(smtpd) as c:
            assert c.auth_plain("bob", USERS["bob"]).code == 235


# --- passwords and logs -----------------------------------------------------

def test_password_not_logged(smtpd):
    """After good and bad AUTH PLAIN and LOGIN, no file under the log
    directory (nor smtpd's stderr) holds a password, in clear or in the
    base64 the client sent."""
    secret_bad = "Wr0ng-Pa55-plugh-4411"
    with session(smtpd) as c:
        c.auth_plain("alice", secret_bad)
        c.auth_login("bob", secret_bad)
        c.auth_login("alice", USERS["alice"])
    with session(smtpd) as c:
        c.auth_plain("bob", USERS["bob"])
    smtpd.stop()
    needles = [form.encode() for user, pw in (("alice", secret_bad),
        ("bob", secret_bad), ("alice", USERS["alice"]),
        ("bob", USERS["bob"])) for form in secret_forms(user, pw)]
    files = [os.path.join(d, f) for d, _, fs in os.walk(
        smtpd.ferry.log_dir) for f in fs]
    files.append(str(smtpd.ferry.daemons["smtpd"].err_path))
    assert any("smtpd" in f for f in files), files
    for path in files:
        with open(path, "rb") as fh:
            data = fh.read()
        for n in needles:
            assert n not in data, "%r found in %s" % (n, path)
    # the attempts themselves are logged, with the user name
    log = smtpd.log()
    assert "alice" in log and "bob" in log, log[-2000:]


def test_auth_after_starttls_needs_new_ehlo(smtpd):
    """STARTTLS forgets the EHLO (RFC 3207 4.2): AUTH before a new EHLO is
    503 5.5.1 (RFC 4954 3), and works after it."""
    with session(smtpd) as c:
        c.starttls()
        r = c.auth_plain("alice", USERS["alice"])
        assert r.startswith("503 5.5.1"), r
        assert c.ehlo().code == 250
        r = c.auth_plain("alice", USERS["alice"])
        assert r.startswith("235 2.7.0"), r


def test_auth_after_starttls_needs_new_ehlo_smtplib(smtpd):
    """The same with smtplib: starttls() without ehlo(), then a raw AUTH
    command is 503."""
    import smtplib
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", smtpd.submission, timeout=10) as c:
        c.ehlo("client.example")
        code, _ = c.starttls(context=ctx)
        assert code == 220
        code, msg = c.docmd("AUTH", "PLAIN " + plain_blob("alice",
            USERS["alice"]))
        assert code == 503 and msg.startswith(b"5.5.1"), (code, msg)


def auth_offered(c):
    """EHLO offers AUTH and AUTH PLAIN works (True), or EHLO does not
    offer it and AUTH is 538 5.7.11 (False)."""
    offered = c.ehlo().keyword("AUTH") is not None
    r = c.auth_plain("alice", USERS["alice"])
    if offered:
        assert r.startswith("235 2.7.0"), r
    else:
        assert r.startswith("538 5.7.11"), r
    return offered


@pytest.mark.ferry_conf(smtpd_auth_plaintext=None)
def test_plaintext_auth_default_refused_on_loopback(smtpd):
    """By default (no) a loopback client is not offered AUTH without TLS
    (it may be a local proxy's) and AUTH is 538 5.7.11; after STARTTLS it
    is offered and works."""
    for port in (smtpd.smtp, smtpd.submission):
        with smtpd.client(port) as c:
            assert not auth_offered(c)
            c.starttls()
            assert auth_offered(c)


@pytest.mark.ferry_conf(smtp_listen="127.0.0.1:{smtp} {ext}:{extra}")
@pytest.mark.parametrize("value,on_loopback,off_loopback", [
    ("no", False, False), ("loopback", True, False), ("yes", True, True)])
def test_plaintext_auth_setting(smtpd, value, on_loopback, off_loopback):
    """smtpd_auth_plaintext: AUTH without TLS is offered (and works) to a
    loopback client with loopback and yes, to one off loopback only with
    yes."""
    smtpd.conf(smtpd_auth_plaintext=value)
    with smtpd.client() as c:
        assert auth_offered(c) == on_loopback
    with smtpd.ext_client(smtpd.extra) as c:
        assert auth_offered(c) == off_loopback


def test_plaintext_auth_bad_value_is_config_error(smtpd):
    """smtpd_auth_plaintext takes no, loopback or yes."""
    code, err = smtpd.start_refused(78,
        smtpd_auth_plaintext="sometimes")
    assert code == 78 and "smtpd_auth_plaintext" in err, (code, err)
