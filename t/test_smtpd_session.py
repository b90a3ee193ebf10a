# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""smtpd's SMTP dialogue (doc/smtpd.md, Replies): the greeting, EHLO
keywords on each listener, the simple verbs, sequence and syntax errors,
command-line limits, error and idle limits, pipelining, and STARTTLS with
commands pipelined after it."""

import re
import smtplib
import socket
import time

import pytest

from conftest import HOSTNAME, wait_for
from smtpdharness import (HELO, SENDER, Client, Closed,  # noqa: F401
    USERS, plain_blob, simple_message, smtpd)

ENHANCED = re.compile(r"^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b")


def timeouts(smtpd, **match):
    """smtpd's event=timeout lines (an idle session, or during= the TLS
    handshake)."""
    return smtpd.ferry.log_events("timeout", name="smtpd", **match)


def assert_enhanced(reply):
    """Every line of a 2xx/4xx/5xx reply starts with an enhanced status
    code of the same class (RFC 2034/3463)."""
    for line in reply.lines:
        assert ENHANCED.match(line) and line[0] == line[4], \
            "no enhanced status code: %r" % line


# --- greeting and EHLO ------------------------------------------------------

def test_greeting_names_host(smtpd):
    """The greeting is `220 HOST ESMTP Ferry` on each plain listener."""
    for port in (smtpd.smtp, smtpd.submission):
        with smtpd.client(port) as c:
            assert c.greeting == "220 %s ESMTP Ferry" % HOSTNAME


def test_ehlo_keywords_on_smtp_port(smtpd):
    """EHLO on the SMTP listener, from loopback, with a certificate and a
    users table: PIPELINING, SIZE max_message_size, 8BITMIME,
    ENHANCEDSTATUSCODES, STARTTLS, AUTH PLAIN LOGIN, CHUNKING, SMTPUTF8."""
    with smtpd.client() as c:
        r = c.ehlo()
        assert r.code == 250, r
        assert r.lines[0].startswith("250-%s" % HOSTNAME), r
        kw = r.keywords
        for k in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES",
                  "STARTTLS", "CHUNKING", "SMTPUTF8"):
            assert k in kw, (k, r)
        assert r.keyword("SIZE") == "SIZE %d" % (1 << 20), r
        auth = r.keyword("AUTH")
        assert auth is not None, "AUTH is offered at once on loopback: %s" % r
        assert {"PLAIN", "LOGIN"} <= set(auth.split()[1:]), r
        assert len(kw) == len(set(k.split()[0] for k in kw)), \
            "a keyword twice: %s" % r


def test_ehlo_via_smtplib(smtpd):
    """smtplib sees the same extensions (its parser is the one most
    Python applications use)."""
    with smtplib.SMTP("127.0.0.1", smtpd.smtp, local_hostname=HELO,
                      timeout=10) as s:
        code, _ = s.ehlo()
        assert code == 250
        for k in ("pipelining", "size", "8bitmime", "enhancedstatuscodes",
                  "starttls", "auth", "chunking", "smtputf8"):
            assert s.has_extn(k), (k, s.esmtp_features)
        assert s.esmtp_features["size"] == str(1 << 20)
        assert {"PLAIN", "LOGIN"} <= set(s.esmtp_features["auth"].split())


def test_no_starttls_after_tls(smtpd):
    """After STARTTLS the new EHLO no longer offers STARTTLS; AUTH stays;
    a second STARTTLS is a bad sequence (503 5.5.1)."""
    with smtpd.client() as c:
        assert "STARTTLS" in c.ehlo().keywords
        c.starttls()
        r = c.ehlo()
        assert r.code == 250
        assert "STARTTLS" not in r.keywords, r
        assert r.keyword("AUTH") is not None, r
        assert "PIPELINING" in r.keywords and "CHUNKING" in r.keywords
        r = c.cmd("STARTTLS")
        assert r.startswith("503 5.5.1"), r


def test_smtps_offers_auth_not_starttls(smtpd):
    """On the implicit-TLS listener the greeting comes over TLS, and EHLO
    offers AUTH but not STARTTLS."""
    with smtpd.smtps_client() as c:
        assert c.greeting.startswith("220 %s ESMTP Ferry" % HOSTNAME)
        r = c.ehlo()
        assert "STARTTLS" not in r.keywords, r
        auth = r.keyword("AUTH")
        assert auth and {"PLAIN", "LOGIN"} <= set(auth.split()[1:]), r
        r = c.cmd("STARTTLS")
        assert r.code in (500, 502, 503), r


def test_submission_offers_starttls_and_auth_on_loopback(smtpd):
    """The submission listener offers STARTTLS, and AUTH at once to a
    loopback client."""
    with smtpd.submission_client() as c:
        r = c.ehlo()
        assert "STARTTLS" in r.keywords, r
        assert r.keyword("AUTH") is not None, r


@pytest.mark.ferry_conf(smtpd_tls_cert_file="", smtpd_tls_key_file="",
    smtps_listen="", submission_listen="")
def test_no_certificate_no_starttls(smtpd):
    """Without a certificate the SMTP listener does not offer STARTTLS."""
    with smtpd.client() as c:
        r = c.ehlo()
        assert r.code == 250
        assert "STARTTLS" not in r.keywords, r
        r = c.cmd("STARTTLS")
        assert r.code >= 500, r


@pytest.mark.ferry_conf(smtpd_users_file="")
def test_no_users_table_no_auth(smtpd):
    """Without a users table (or delegate) AUTH is not offered, even on
    loopback and after TLS."""
    with smtpd.client() as c:
        assert c.ehlo().keyword("AUTH") is None
        c.starttls()
        assert c.ehlo().keyword("AUTH") is None
    with smtpd.smtps_client() as c:
        assert c.ehlo().keyword("AUTH") is None


def test_helo(smtpd):
    """HELO gets a one-line 250; the transaction works after it."""
    with smtpd.client() as c:
        r = c.cmd("HELO %s" % HELO)
        assert r.code == 250 and len(r.lines) == 1, r
        msgid = c.send_mail()
    assert msgid in smtpd.queued()


def test_ehlo_again_resets_transaction(smtpd):
    """A second EHLO ends the transaction in progress (RFC 5321 4.1.4):
    DATA after it is a bad sequence."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.mail().code == 250
        assert c.rcpt("user@ferry.test").code == 250
        assert c.ehlo().code == 250
        r = c.cmd("DATA")
        assert r.startswith("503 5.5.1"), r


# --- simple verbs -----------------------------------------------------------

def test_simple_verbs(smtpd):
    """NOOP and RSET 250 2.0.0, VRFY 252 2.5.2 (smtpd_vrfy = no), HELP 214,
    QUIT 221 2.0.0 and the connection closes."""
    with smtpd.client() as c:
        c.ehlo()
        r = c.cmd("NOOP")
        assert r.startswith("250 2.0.0"), r
        r = c.cmd("NOOP some text")
        assert r.startswith("250 2.0.0"), r
        r = c.cmd("RSET")
        assert r.startswith("250 2.0.0"), r
        r = c.cmd("VRFY user@ferry.test")
        assert r.startswith("252 2.5.2"), r
        r = c.cmd("VRFY nosuchuser")
        assert r.startswith("252 2.5.2"), r
        r = c.cmd("HELP")
        assert r.code == 214, r
        r = c.cmd("QUIT")
        assert r.startswith("221 2.0.0"), r
        assert c.expect_close() == ""


@pytest.mark.ferry_conf(smtpd_vrfy="yes")
def test_vrfy_from_table(smtpd):
    """smtpd_vrfy = yes: VRFY answers from the recipient table: 250 for a
    listed address, 550 5.1.1 for an unknown one of an accepted domain."""
    with smtpd.client() as c:
        c.ehlo()
        r = c.cmd("VRFY user@ferry.test")
        assert r.startswith("250 2."), r
        r = c.cmd("VRFY nosuch@ferry.test")
        assert r.startswith("550 5.1.1"), r


def test_verbs_are_case_insensitive(smtpd):
    """Verbs and FROM:/TO: in any case (RFC 5321 2.4)."""
    with smtpd.client() as c:
        assert c.cmd("ehlo %s" % HELO).code == 250
        assert c.cmd("mail from:<%s>" % SENDER).startswith("250 2.")
        assert c.cmd("rCpT tO:<user@ferry.test>").startswith("250 2.")
        assert c.cmd("noop").startswith("250 2.0.0")


def test_rset_clears_transaction(smtpd):
    """RSET forgets MAIL and RCPT: DATA after it is 503 5.5.1, a new MAIL
    is fine."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.mail().code == 250
        assert c.rcpt("user@ferry.test").code == 250
        assert c.cmd("RSET").startswith("250 2.0.0")
        r = c.cmd("DATA")
        assert r.startswith("503 5.5.1"), r
        assert c.mail().startswith("250 2.")
    assert smtpd.wait_queue_quiet() == []


def test_unknown_command(smtpd):
    """An unknown verb: 500 5.5.1 Command unrecognized; the session goes
    on."""
    with smtpd.client() as c:
        c.ehlo()
        r = c.cmd("FROBNICATE now")
        assert r.startswith("500 5.5.1"), r
        assert c.cmd("NOOP").startswith("250 2.0.0")


def test_bad_sequences(smtpd):
    """503 5.5.1 for MAIL before EHLO, RCPT before MAIL, DATA before RCPT,
    BDAT before MAIL, and a nested MAIL."""
    with smtpd.client() as c:
        r = c.mail()
        assert r.startswith("503 5.5.1"), "MAIL before EHLO: %s" % r
        c.ehlo()
        r = c.rcpt("user@ferry.test")
        assert r.startswith("503 5.5.1"), "RCPT before MAIL: %s" % r
        r = c.cmd("DATA")
        assert r.startswith("503 5.5.1"), "DATA before MAIL: %s" % r
        r = c.cmd("BDAT 0 LAST")
        assert r.startswith("503 5.5.1"), "BDAT before MAIL: %s" % r
        assert c.mail().startswith("250 2.")
        r = c.cmd("DATA")
        assert r.startswith("503 5.5.1"), "DATA before RCPT: %s" % r
        r = c.mail()
        assert r.startswith("503 5.5.1"), "nested MAIL: %s" % r
        # the transaction is still the first one
        assert c.rcpt("user@ferry.test").startswith("250 2.")


@pytest.mark.ferry_conf(smtpd_max_errors="100")
def test_syntax_errors(smtpd):
    """501: EHLO without a name, a malformed MAIL or RCPT (501 5.1.7 bad
    sender, 501 5.1.3 bad recipient), a bad SIZE value; each leaves the
    session usable."""
    with smtpd.client() as c:
        r = c.cmd("EHLO")
        assert r.startswith("501 5.5.4"), r
        c.ehlo()
        for line in ("MAIL FROM:<no@@pe.example>",
                     "MAIL FROM:<@example.net>", "MAIL FROM:<a@b@c.example>"):
            r = c.cmd(line)
            assert r.startswith("501 5.1.7"), (line, r)
        for line in ("MAIL FROM:", "MAIL FROM:<a b@example.net>",
                     "MAIL FROM:<%s" % SENDER):
            r = c.cmd(line)
            assert r.startswith("501 5."), (line, r)
        r = c.cmd("MAIL TO:<%s>" % SENDER)
        assert r.startswith("501 5."), r
        r = c.cmd("MAIL FROM:<%s> SIZE=ten" % SENDER)
        assert r.startswith("501 5.5.4"), r
        assert c.mail().startswith("250 2.")
        for line in ("RCPT TO:<user@@ferry.test>", "RCPT TO:<>",
                     "RCPT TO:<user@>", "RCPT TO:<user@ferry..test>"):
            r = c.cmd(line)
            assert r.startswith("501 5.1.3"), (line, r)
        r = c.cmd("RCPT FROM:<user@ferry.test>")
        assert r.startswith("501 5."), r
        assert c.rcpt("user@ferry.test").startswith("250 2.")


def test_null_sender_accepted(smtpd):
    """MAIL FROM:<> (bounces) is accepted and queued with the null
    sender."""
    with smtpd.client() as c:
        c.ehlo()
        msgid = c.send_mail(sender="")
    sender, rcpts = smtpd.envelope(msgid)
    assert sender == "" and rcpts == ["user@ferry.test"]


def test_unsupported_parameters(smtpd):
    """555 5.5.4 for a MAIL or RCPT parameter smtpd does not offer;
    BODY=7BIT/8BITMIME and SIZE are fine."""
    with smtpd.client() as c:
        c.ehlo()
        r = c.mail(params="FROBNICATE=yes")
        assert r.startswith("555 5.5.4"), r
        r = c.mail(params="RET=HDRS")           # DSN is not offered
        assert r.startswith("555 5.5.4"), r
        assert c.mail(params="BODY=8BITMIME SIZE=100").startswith("250 2.")
        r = c.rcpt("user@ferry.test", params="NOTIFY=NEVER")
        assert r.startswith("555 5.5.4"), r
        assert c.rcpt("user@ferry.test").startswith("250 2.")
        assert c.cmd("RSET").code == 250
        assert c.mail(params="BODY=7BIT").startswith("250 2.")


def test_enhanced_codes_everywhere(smtpd):
    """Every 2xx/4xx/5xx reply after the greeting (but EHLO's first line)
    carries an enhanced status code."""
    with smtpd.client() as c:
        c.ehlo()
        for line in ("NOOP", "RSET", "VRFY x", "FOO", "RCPT TO:<a@b.c>",
                     "MAIL FROM:<bad", "MAIL FROM:<%s>" % SENDER,
                     "RCPT TO:<nobody@ferry.test>",
                     "RCPT TO:<user@ferry.test>", "RCPT TO:<x@other.example>"):
            assert_enhanced(c.cmd(line))
        r = c.data(simple_message())
        assert_enhanced(r)
        assert_enhanced(c.cmd("QUIT"))


# --- command lines ----------------------------------------------------------

def test_command_line_limit_is_1000_octets(smtpd):
    """A command line of exactly 1000 octets (CRLF included) is read; one
    of 1001 gets 500 5.5.2 Line too long and the session goes on."""
    with smtpd.client() as c:
        c.ehlo()
        line = "NOOP " + "x" * (1000 - 2 - 5)
        assert len(line) + 2 == 1000
        r = c.cmd(line)
        assert r.startswith("250 2.0.0"), r
        r = c.cmd(line + "y")
        assert r.startswith("500 5.5.2"), r
        assert c.cmd("NOOP").startswith("250 2.0.0")


def test_very_long_line_one_error(smtpd):
    """A 100 kB command line: one 500 5.5.2 for all of it (the rest of the
    line is discarded, not read as commands), then the next command
    works; a transaction after it is queued."""
    with smtpd.client() as c:
        c.ehlo()
        junk = "MAIL FROM:<" + "a" * 100000 + "@example.net>\r\n"
        c.send(junk + "NOOP\r\n")
        r = c.reply()
        assert r.startswith("500 5.5.2"), r
        r = c.reply()
        assert r.startswith("250 2.0.0"), "reply to NOOP: %s" % r
        assert c.silent()
        msgid = c.send_mail()
    assert msgid in smtpd.queued()


def test_bare_lf_in_command(smtpd):
    """A command ended by a bare LF: 500 5.5.2 Line must end with CRLF,
    not executed."""
    with smtpd.client() as c:
        c.ehlo()
        c.send("MAIL FROM:<%s>\n" % SENDER)
        r = c.reply()
        assert r.startswith("500 5.5.2"), r
        # the MAIL was not executed: RCPT has no transaction
        assert c.rcpt("user@ferry.test").startswith("503 5.5.1")
        assert c.cmd("NOOP").startswith("250 2.0.0")


def test_command_sent_byte_by_byte(smtpd):
    """A command that arrives one byte per segment is one command."""
    with smtpd.client() as c:
        c.ehlo()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in ("MAIL FROM:<%s>\r\n" % SENDER).encode():
            c.send(bytes([b]))
            time.sleep(0.002)
        r = c.reply()
        assert r.startswith("250 2."), r
        assert c.silent(0.3)


def test_nothing_after_quit(smtpd):
    """Commands pipelined after QUIT are not answered: 221, then the
    connection closes."""
    with smtpd.client() as c:
        c.ehlo()
        c.send("QUIT\r\nNOOP\r\nMAIL FROM:<%s>\r\n" % SENDER)
        r = c.reply()
        assert r.startswith("221 2.0.0"), r
        assert c.expect_close() == ""


def test_nul_in_command(smtpd):
    """A NUL byte in a command line is refused (500 or 501), never read as
    the end of the address: x@ferry.test<NUL>@other.example is not
    accepted."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.mail().code == 250
        for line in (b"RCPT TO:<x@ferry.test\0@other.example>",
                     b"RCPT TO:<user@ferry.test\0>", b"NO\0OP"):
            r = c.cmd(line)
            assert r.code in (500, 501), (line, r)
        assert c.cmd("DATA").startswith("503 5.5.1")


def test_postmaster_accepted(smtpd):
    """RCPT TO:<Postmaster> (no domain, any case) is accepted even though
    the recipients table does not list it (RFC 5321 4.5.1: MUST)."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        for a in ("Postmaster", "postmaster", "POSTMASTER"):
            r = c.rcpt(a)
            assert r.startswith("250 2."), (a, r)


# --- error and idle limits --------------------------------------------------

@pytest.mark.ferry_conf(smtpd_max_errors="3")
def test_too_many_errors(smtpd):
    """smtpd_max_errors = 3: after the third error smtpd says 421 4.7.0
    Too many errors and closes, without a fourth command."""
    with smtpd.client() as c:
        c.ehlo()
        seen = []
        for i in range(3):
            c.send("BOGUS%d\r\n" % i)
            try:
                seen.append(c.reply())
            except Closed:
                break
        seen.append(c.expect_close())
        text = "\n".join(seen)
        assert "421 4.7.0 Too many errors" in text, seen
        assert text.count("500 5.5.1") <= 3, seen


@pytest.mark.ferry_conf(smtpd_max_errors="3")
def test_good_commands_do_not_count_as_errors(smtpd):
    """smtpd_max_errors counts errors, not commands: two errors with many
    good commands around them leave the session open."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.cmd("BOGUS").startswith("500")
        for _ in range(10):
            assert c.cmd("NOOP").startswith("250")
        assert c.cmd("BOGUS").startswith("500")
        assert c.cmd("NOOP").startswith("250")


@pytest.mark.ferry_conf(smtpd_timeout="2s")
def test_idle_timeout(smtpd):
    """smtpd_timeout = 2s: a silent client gets 421 4.4.2 Timeout and the
    connection closes, after at least 2 seconds (event=timeout)."""
    with smtpd.client() as c:
        c.ehlo()
        t0 = time.monotonic()
        r = c.reply(timeout=10)     # a watchdog: 5x smtpd_timeout
        took = time.monotonic() - t0
        assert r.startswith("421 4.4.2"), r
        assert took >= 1.5, took
        assert c.expect_close() == ""
    wait_for(lambda: timeouts(smtpd), timeout=5, what="event=timeout")


@pytest.mark.ferry_conf(smtpd_timeout="2s")
def test_idle_timeout_in_data(smtpd):
    """A client that stops in the middle of DATA gets 421 4.4.2 and
    nothing is queued."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.mail().code == 250
        assert c.rcpt("user@ferry.test").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: half\r\n\r\nsome text\r\n")
        r = c.reply(timeout=10)
        assert r.startswith("421 4.4.2"), r
        c.expect_close()
    assert smtpd.wait_queue_quiet(1) == []


@pytest.mark.ferry_conf(smtpd_timeout="2s")
def test_idle_timeout_before_tls_handshake(smtpd):
    """A client that connects to the smtps port and never starts the TLS
    handshake is disconnected after about smtpd_timeout (it would
    otherwise hold a session slot for ever)."""
    s = socket.create_connection(("127.0.0.1", smtpd.smtps), timeout=10)
    try:
        t0 = time.monotonic()
        try:
            data = s.recv(100)
        except socket.timeout:
            pytest.fail("smtps connection still open after 10 s with "
                "smtpd_timeout = 2s")
        except ConnectionResetError:
            data = b""
        assert data == b"", data
        assert time.monotonic() - t0 >= 1.5
    finally:
        s.close()
    wait_for(lambda: timeouts(smtpd, during="tls-handshake"), timeout=5,
        what="event=timeout during=tls-handshake")


@pytest.mark.ferry_conf(smtpd_timeout="2s")
def test_idle_timeout_after_starttls(smtpd):
    """A client that says STARTTLS and then nothing is disconnected after
    about smtpd_timeout."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.cmd("STARTTLS").code == 220
        t0 = time.monotonic()
        try:
            c.expect_close(10)
        except AssertionError:
            pytest.fail("still open 10 s after STARTTLS with "
                "smtpd_timeout = 2s")
        assert time.monotonic() - t0 >= 1.5
    wait_for(lambda: timeouts(smtpd, during="tls-handshake"), timeout=5,
        what="event=timeout during=tls-handshake")


@pytest.mark.ferry_conf(smtpd_timeout="3s")
def test_timeout_is_idle_time_not_session_time(smtpd):
    """A client that keeps talking stays connected longer than
    smtpd_timeout."""
    with smtpd.client() as c:
        c.ehlo()
        for _ in range(5):
            time.sleep(1)
            assert c.cmd("NOOP").startswith("250 2.0.0")


# --- pipelining -------------------------------------------------------------

def test_pipelined_transaction(smtpd):
    """MAIL, RCPT, RCPT, DATA in one write: four replies in order; then the
    message is queued for both recipients."""
    with smtpd.client() as c:
        c.ehlo()
        c.send("MAIL FROM:<%s>\r\nRCPT TO:<user@ferry.test>\r\n"
               "RCPT TO:<alice@ferry.test>\r\nDATA\r\n" % SENDER)
        r = c.replies(4)
        assert [x.code for x in r] == [250, 250, 250, 354], r
        c.send(simple_message() + b".\r\n")
        r = c.reply()
        assert r.startswith("250 2.0.0 Ok: queued as"), r
        msgid = r.split()[-1]
    assert smtpd.envelope(msgid) == (SENDER,
        ["user@ferry.test", "alice@ferry.test"])


def test_pipelined_with_refused_recipient(smtpd):
    """A refused recipient in a pipelined group gets its own reply in its
    place; DATA goes on with the others."""
    with smtpd.client() as c:
        c.ehlo()
        c.send("RSET\r\nMAIL FROM:<%s>\r\nRCPT TO:<user@ferry.test>\r\n"
               "RCPT TO:<nosuch@ferry.test>\r\nRCPT TO:<bob@ferry.test>\r\n"
               "NOOP\r\nDATA\r\n" % SENDER)
        r = c.replies(7)
        assert [x.code for x in r] == [250, 250, 250, 550, 250, 250, 354], r
        assert r[3].startswith("550 5.1.1"), r
        c.send(simple_message() + b".\r\n")
        msgid = c.reply().split()[-1]
    assert smtpd.envelope(msgid)[1] == ["user@ferry.test", "bob@ferry.test"]


def test_pipelined_two_transactions(smtpd):
    """The end of one message and the next transaction's commands in one
    write: two messages, replies in order."""
    with smtpd.client() as c:
        c.ehlo()
        c.send("MAIL FROM:<%s>\r\nRCPT TO:<user@ferry.test>\r\nDATA\r\n"
               % SENDER)
        assert [x.code for x in c.replies(3)] == [250, 250, 354]
        c.send(simple_message("one") + b".\r\n" +
               ("MAIL FROM:<%s>\r\nRCPT TO:<bob@ferry.test>\r\nDATA\r\n"
                % SENDER).encode())
        r = c.replies(4)
        assert [x.code for x in r] == [250, 250, 250, 354], r
        c.send(simple_message("two") + b".\r\nQUIT\r\n")
        r = c.replies(2)
        assert r[0].startswith("250 2.0.0 Ok: queued as"), r
        assert r[1].startswith("221 2.0.0"), r
    assert len(smtpd.queued()) == 2


def test_pipelined_commands_survive_a_slow_reader(smtpd):
    """20000 NOOPs written before reading any reply: all answered, in
    order (smtpd must not drop replies when the client's window is
    full)."""
    n = 20000
    with smtpd.client() as c:
        c.ehlo()
        c.send("NOOP\r\n" * n + "QUIT\r\n")
        time.sleep(0.5)
        r = c.replies(n + 1)
        assert all(x.startswith("250 2.0.0") for x in r[:n])
        assert r[n].startswith("221")


# --- STARTTLS ---------------------------------------------------------------

def test_starttls_discards_pipelined_command(smtpd):
    """Commands pipelined after STARTTLS in the same write are discarded,
    not executed after the handshake (CVE-2011-0411): no reply to the
    injected MAIL in plaintext or over TLS, and after TLS + EHLO a RCPT
    finds no transaction (503 5.5.1)."""
    with smtpd.client() as c:
        c.ehlo()
        c.send("STARTTLS\r\nMAIL FROM:<evil@example.net>\r\n")
        r = c.reply()
        assert r.startswith("220 2.0.0"), r
        time.sleep(0.3)
        assert c.buf == b"", "plaintext after 220: %r" % c.buf
        c._wrap()
        assert c.silent(0.3), "reply to the injected MAIL: %r" % c.buf
        r = c.ehlo()
        assert r.code == 250, r
        r = c.rcpt("user@ferry.test")
        assert r.startswith("503 5.5.1"), \
            "the injected MAIL was executed: %s" % r


def test_starttls_forgets_ehlo(smtpd):
    """After the handshake the client must say EHLO again (RFC 3207 4.2):
    MAIL before it is 503 5.5.1."""
    with smtpd.client() as c:
        c.ehlo()
        c.starttls()
        r = c.mail()
        assert r.startswith("503 5.5.1"), r
        c.ehlo()
        assert c.mail().startswith("250 2.")


def test_starttls_with_smtplib_then_mail(smtpd):
    """smtplib's starttls() on the SMTP port, then a message."""
    with smtplib.SMTP("127.0.0.1", smtpd.smtp, local_hostname=HELO,
                      timeout=10) as s:
        s.starttls(context=Client.tls_context())
        s.ehlo()
        assert not s.has_extn("starttls")
        refused = s.sendmail(SENDER, ["user@ferry.test"], simple_message())
        assert refused == {}
    assert len(smtpd.queued()) == 1


def test_starttls_garbage_handshake_does_not_hurt_others(smtpd):
    """A client that says STARTTLS and then sends garbage instead of a
    ClientHello is dropped; smtpd keeps serving."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.cmd("STARTTLS").code == 220
        c.send(b"this is not TLS\r\n" * 10)
        try:
            c.expect_close(10)
        except OSError:
            pass
    with smtpd.client() as c:
        c.ehlo()
        c.send_mail()


# Every verb in every phase: the reply code it gets.  "init" is a fresh
# session, "greeted" after EHLO, "mail" after MAIL, "tls" after STARTTLS
# without a new EHLO (RFC 3207 4.2: the session starts over).
PHASE_VERBS = [
    # verb line,                     init greeted mail tls
    ("HELO client.example",          250, 250, 250, 250),
    ("EHLO client.example",          250, 250, 250, 250),
    ("MAIL FROM:<%s>" % SENDER,      503, 250, 503, 503),
    ("RCPT TO:<user@ferry.test>",    503, 503, 250, 503),
    ("DATA",                         503, 503, 503, 503),
    ("BDAT 0 LAST",                  503, 503, 503, 503),
    ("RSET",                         250, 250, 250, 250),
    ("NOOP",                         250, 250, 250, 250),
    ("VRFY user@ferry.test",         252, 252, 252, 252),
    ("HELP",                         214, 214, 214, 214),
    ("STARTTLS",                     220, 220, 503, 503),
    ("AUTH PLAIN " + plain_blob("alice", USERS["alice"]),
                                     503, 235, 503, 503),
    ("QUIT",                         221, 221, 221, 221),
]


def enter_phase(c, phase):
    if phase in ("greeted", "mail", "tls"):
        assert c.ehlo().code == 250
    if phase == "mail":
        assert c.mail().code == 250
    if phase == "tls":
        c.starttls()


def test_every_verb_in_every_phase(smtpd):
    """The command table's phases: each verb in each phase gets its reply,
    and a verb out of sequence gets 503 5.5.1 (not a 5.5.4 or a 250)."""
    wrong = []
    for line, *codes in PHASE_VERBS:
        for phase, code in zip(("init", "greeted", "mail", "tls"), codes):
            with smtpd.client() as c:
                enter_phase(c, phase)
                r = c.cmd(line)
                if r.code != code or (code == 503 and
                        not r.startswith("503 5.5.1")):
                    wrong.append("%s in %s: %s (want %d)" % (
                        line.split()[0], phase, r, code))
    assert not wrong, "\n".join(wrong)
