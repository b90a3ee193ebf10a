# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Messages through smtpd (doc/smtpd.md, Data): what is queued behind the
Received header, byte for byte to the sink through relayd; real clients
(smtplib, swaks, curl); BDAT; SMTPUTF8; size and recipient limits."""

import shutil
import smtplib
import subprocess

import pytest

from conftest import MEASURE_MEMORY_ENV, run
from smtpdharness import (HELO, QUEUED_RE, SENDER, USERS, Client,  # noqa
    received_re, simple_message, smtpd, split_received)

TRICKY_BODY = (
    "first line\r\n"
    ".\r\n"                         # a lone dot, stuffed on the wire
    "..two dots\r\n"
    ".leading dot\r\n"
    "x.\r\n"
    " .space dot\r\n"
    "Gr\u00fc\u00dfe aus K\u00f6ln, \u65e5\u672c\u8a9e\r\n"
    "\r\n"
    + "a long line " * 200 + "\r\n"     # 2400 octets: data lines may
    "last line\r\n")                    # exceed 1000


def queued_after_received(smtpd, msgid):
    return split_received(smtpd.ferry.read_msg(msgid))


# --- what is queued ---------------------------------------------------------

def test_message_queued_byte_for_byte(smtpd):
    """Raw DATA with dot lines, 8-bit text and a 2400-octet line: q/ID.msg
    is smtpd's Received header followed by exactly the (unstuffed)
    message; the envelope has the sender and recipient."""
    msg = simple_message("dots", TRICKY_BODY)
    with smtpd.client() as c:
        c.ehlo()
        msgid = c.send_mail(body=msg)
    head, rest = queued_after_received(smtpd, msgid)
    assert rest == msg
    assert smtpd.envelope(msgid) == (SENDER, ["user@ferry.test"])


def test_received_header_plain(smtpd):
    """Received: from HELO (... [127.0.0.1]) by HOST ... with ESMTP ... id
    QUEUEID; DATE -- the queue id is the one in the 250 reply."""
    with smtpd.client() as c:
        c.ehlo()
        msgid = c.send_mail()
    head, _ = queued_after_received(smtpd, msgid)
    assert received_re(HELO, "127.0.0.1", "ESMTP", msgid).match(head), head


def test_received_header_helo_is_smtp(smtpd):
    """After HELO (not EHLO) the protocol is SMTP (RFC 3848)."""
    with smtpd.client() as c:
        c.cmd("HELO %s" % HELO)
        msgid = c.send_mail()
    head, _ = queued_after_received(smtpd, msgid)
    assert received_re(HELO, "127.0.0.1", "SMTP", msgid).match(head), head


def test_received_header_tls_and_auth(smtpd):
    """STARTTLS: ESMTPS; STARTTLS and AUTH: ESMTPSA; AUTH on loopback
    without TLS: ESMTPA (RFC 3848)."""
    seen = {}
    with smtpd.client() as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        seen["ESMTPS"] = c.send_mail()
    with smtpd.submission_client() as c:
        c.ehlo()
        c.starttls()
        c.ehlo()
        assert c.auth_plain("alice", USERS["alice"]).code == 235
        seen["ESMTPSA"] = c.send_mail(sender="alice@ferry.test")
    with smtpd.submission_client() as c:
        c.ehlo()
        assert c.auth_plain("alice", USERS["alice"]).code == 235
        seen["ESMTPA"] = c.send_mail(sender="alice@ferry.test")
    for proto, msgid in seen.items():
        head, _ = queued_after_received(smtpd, msgid)
        assert received_re(HELO, "127.0.0.1", proto, msgid).match(head), \
            (proto, head)


# aiosmtpd refuses lines over 1000 octets: the sink gets the body without
# the long line
SINK_BODY = TRICKY_BODY.replace("a long line " * 200 + "\r\n", "")


def test_delivered_to_sink_byte_for_byte(smtpd):
    """With relayd routed to an aiosmtpd sink: the sink receives exactly
    q/ID.msg (Received header, then the client's bytes), from the
    envelope sender to the recipient; the queue empties."""
    msg = simple_message("through", SINK_BODY)
    with smtpd.client() as c:
        c.ehlo()
        msgid = c.send_mail(body=msg)
    queued = smtpd.ferry.read_msg(msgid)
    sink = smtpd.relay_to_sink()
    (m,) = sink.wait_messages(1)
    assert m.data == queued
    head, rest = split_received(m.data)
    assert rest == msg
    assert m.mail_from == SENDER and m.rcpt_tos == ["user@ferry.test"]
    smtpd.wait_queue_empty(20)


def test_smtplib_sendmail_arrives(smtpd):
    """smtplib.sendmail to user@ferry.test with relayd and the sink
    running: 250 for the message, and the sink gets it behind the
    Received header."""
    sink = smtpd.relay_to_sink()
    msg = simple_message("smtplib", "caf\u00e9\r\n")
    with smtplib.SMTP("127.0.0.1", smtpd.smtp, local_hostname=HELO,
                      timeout=10) as s:
        refused = s.sendmail(SENDER, ["user@ferry.test", "bob@ferry.test"],
            msg, mail_options=["BODY=8BITMIME"])
        assert refused == {}
    (m,) = sink.wait_messages(1)
    head, rest = split_received(m.data)
    assert rest == msg
    assert head.startswith("Received: from %s " % HELO), head
    assert sorted(m.rcpt_tos) == ["bob@ferry.test", "user@ferry.test"]


def test_smtplib_starttls_login_on_submission(smtpd):
    """smtplib on the submission port: STARTTLS, login (AUTH PLAIN and
    AUTH LOGIN), send_message; both queued."""
    for mech in ("PLAIN", "LOGIN"):
        with smtplib.SMTP("127.0.0.1", smtpd.submission,
                          local_hostname=HELO, timeout=10) as s:
            s.starttls(context=Client.tls_context())
            s.ehlo()
            s.user, s.password = "bob", USERS["bob"]
            code, resp = s.auth(mech, getattr(s, "auth_" + mech.lower()))
            assert code == 235, (mech, code, resp)
            assert resp.startswith(b"2.7.0"), resp
            s.sendmail("bob@ferry.test", ["user@ferry.test"],
                simple_message(mech))
    assert len(smtpd.queued()) == 2


def test_smtplib_smtps_login(smtpd):
    """smtplib.SMTP_SSL on the smtps port with login(): queued."""
    with smtplib.SMTP_SSL("127.0.0.1", smtpd.smtps, local_hostname=HELO,
                          timeout=10, context=Client.tls_context()) as s:
        s.login("alice", USERS["alice"])
        s.sendmail("alice@ferry.test", ["user@ferry.test"],
            simple_message())
    (msgid,) = smtpd.queued()
    head, _ = queued_after_received(smtpd, msgid)
    assert received_re(HELO, "127.0.0.1", "ESMTPSA", msgid).match(head), head


# --- other clients ----------------------------------------------------------

def swaks(*args):
    if not shutil.which("swaks"):
        pytest.skip("swaks not installed (etc/install-deps test)")
    return run(["swaks", "--helo", HELO, "--timeout", "20", *args],
        timeout=60)


def swaks_has_tls():
    r = subprocess.run(["perl", "-MNet::SSLeay", "-e", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    return r.returncode == 0


def test_swaks_tls_auth(smtpd):
    """swaks --tls --auth on the submission port: exit 0 and queued."""
    if not swaks_has_tls():
        pytest.skip("swaks --tls needs Net::SSLeay (Debian "
            "libnet-ssleay-perl, a Recommends of swaks that "
            "etc/install-deps installs without)")
    r = swaks("--server", "127.0.0.1", "--port", str(smtpd.submission),
        "--tls", "--auth", "PLAIN", "--auth-user", "alice",
        "--auth-password", USERS["alice"], "--from", "alice@ferry.test",
        "--to", "user@ferry.test")
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    (msgid,) = smtpd.queued()
    assert smtpd.envelope(msgid) == ("alice@ferry.test", ["user@ferry.test"])


def test_swaks_auth_login_loopback_plaintext(smtpd):
    """swaks --auth LOGIN without TLS from loopback (AUTH is offered at
    once there): exit 0, queued."""
    r = swaks("--server", "127.0.0.1", "--port", str(smtpd.submission),
        "--auth", "LOGIN", "--auth-user", "bob",
        "--auth-password", USERS["bob"], "--from", "bob@ferry.test",
        "--to", "user@ferry.test")
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    assert len(smtpd.queued()) == 1


def test_swaks_pipelining(smtpd):
    """swaks --pipe... --pipeline: a pipelined transaction from a
    different client implementation."""
    r = swaks("--server", "127.0.0.1", "--port", str(smtpd.smtp),
        "--pipeline", "--from", SENDER, "--to",
        "user@ferry.test,bob@ferry.test")
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    (msgid,) = smtpd.queued()
    assert smtpd.envelope(msgid)[1] == ["user@ferry.test", "bob@ferry.test"]


def curl(*args):
    if not shutil.which("curl"):
        pytest.skip("curl not installed")
    return run(["curl", "--silent", "--show-error", "--max-time", "30",
        *args], timeout=60)


def test_curl_smtp(smtpd, tmp_path):
    """curl smtp:// with --mail-from/--mail-rcpt -T FILE: exit 0 and the
    file queued byte for byte."""
    msg = simple_message("curl", "sent by curl\r\n.dot line\r\n")
    f = tmp_path / "msg"
    f.write_bytes(msg)
    r = curl("--url", "smtp://127.0.0.1:%d" % smtpd.smtp,
        "--mail-from", SENDER, "--mail-rcpt", "user@ferry.test",
        "-T", str(f))
    assert r.returncode == 0, r.stderr
    (msgid,) = smtpd.queued()
    _, rest = queued_after_received(smtpd, msgid)
    assert rest == msg


def test_curl_smtps_auth(smtpd, tmp_path):
    """curl smtps:// --insecure --user: implicit TLS and AUTH on the
    smtps port; exit 0 and queued."""
    f = tmp_path / "msg"
    f.write_bytes(simple_message("curl smtps"))
    r = curl("--url", "smtps://127.0.0.1:%d" % smtpd.smtps, "--insecure",
        "--user", "alice:%s" % USERS["alice"],
        "--mail-from", "alice@ferry.test", "--mail-rcpt", "user@ferry.test",
        "-T", str(f))
    assert r.returncode == 0, r.stderr
    (msgid,) = smtpd.queued()
    assert smtpd.envelope(msgid) == ("alice@ferry.test", ["user@ferry.test"])


def test_curl_smtps_wrong_password(smtpd, tmp_path):
    """curl smtps:// with a wrong password fails (curl exit 67, login
    denied) and nothing is queued."""
    f = tmp_path / "msg"
    f.write_bytes(simple_message())
    r = curl("--url", "smtps://127.0.0.1:%d" % smtpd.smtps, "--insecure",
        "--user", "alice:wrong", "--mail-from", "alice@ferry.test",
        "--mail-rcpt", "user@ferry.test", "-T", str(f))
    assert r.returncode == 67, (r.returncode, r.stderr)
    assert smtpd.queued() == []


# --- BDAT -------------------------------------------------------------------

def bdat_transaction(c, chunks, last_empty=False):
    """BDAT the chunks (the last one with LAST, or a BDAT 0 LAST after
    them); returns the replies."""
    out = []
    for i, chunk in enumerate(chunks):
        last = (i == len(chunks) - 1) and not last_empty
        c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"")
            + chunk)
        out.append(c.reply())
    if last_empty:
        out.append(c.cmd("BDAT 0 LAST"))
    return out


def test_bdat_chunks(smtpd):
    """Three BDAT chunks (split inside a line and inside a CRLF), the last
    with LAST: 250 for each, the last `250 2.0.0 Ok: queued as ID`; the
    queued message is exactly the chunks, dots untouched."""
    msg = simple_message("bdat", ".no dot stuffing in BDAT\r\n" +
        "x" * 5000 + "\r\nend\r\n")
    cut1, cut2 = 30, msg.index(b"\r\nend") + 1
    chunks = [msg[:cut1], msg[cut1:cut2], msg[cut2:]]
    with smtpd.client() as c:
        c.ehlo()
        assert c.mail().code == 250
        assert c.rcpt("user@ferry.test").code == 250
        r = bdat_transaction(c, chunks)
        assert all(x.startswith("250 2.") for x in r), r
        assert r[-1].startswith("250 2.0.0 Ok: queued as"), r
        msgid = r[-1].split()[-1]
    _, rest = queued_after_received(smtpd, msgid)
    assert rest == msg


def test_bdat_zero_last(smtpd):
    """Chunks followed by BDAT 0 LAST: queued with the chunks' bytes."""
    msg = simple_message("bdat 0 last")
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        c.rcpt("user@ferry.test")
        r = bdat_transaction(c, [msg[:10], msg[10:]], last_empty=True)
        assert r[-1].startswith("250 2.0.0 Ok: queued as"), r
        msgid = r[-1].split()[-1]
    assert queued_after_received(smtpd, msgid)[1] == msg


def test_bdat_pipelined_with_envelope(smtpd):
    """MAIL, RCPT and a single BDAT LAST in one write (RFC 3030 with
    PIPELINING): three replies, message queued."""
    msg = simple_message("one write")
    with smtpd.client() as c:
        c.ehlo()
        c.send(("MAIL FROM:<%s>\r\nRCPT TO:<user@ferry.test>\r\n"
                "BDAT %d LAST\r\n" % (SENDER, len(msg))).encode() + msg)
        r = c.replies(3)
        assert [x.code for x in r] == [250, 250, 250], r
        msgid = r[2].split()[-1]
    assert queued_after_received(smtpd, msgid)[1] == msg


def test_bdat_syntax(smtpd):
    """BDAT without a size, with a non-numeric or absurd size: 501 5.5.4,
    and the session goes on."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        c.rcpt("user@ferry.test")
        for line in ("BDAT", "BDAT abc", "BDAT -5 LAST", "BDAT 10 FIRST",
                     "BDAT 99999999999999999999999 LAST"):
            r = c.cmd(line)
            assert r.startswith("501 5.5.4") or (line.endswith("LAST") and
                r.startswith("552 5.3.4")), (line, r)
        assert c.cmd("NOOP").startswith("250 2.0.0")


def test_data_after_bdat_is_bad_sequence(smtpd):
    """DATA in a BDAT transaction is 503 5.5.1 (RFC 3030)."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        c.rcpt("user@ferry.test")
        c.send(b"BDAT 5\r\nabc\r\n")
        assert c.reply().code == 250
        r = c.cmd("DATA")
        assert r.startswith("503 5.5.1"), r


@pytest.mark.ferry_conf(max_message_size="64k")
def test_bdat_over_size_limit(smtpd):
    """BDAT chunks adding up to more than max_message_size: 552 5.3.4,
    nothing queued."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        c.rcpt("user@ferry.test")
        replies = []
        chunk = (b"y" * 1022 + b"\r\n") * 16        # 16 kB
        for i in range(8):
            c.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if i == 7
                else b"") + chunk)
            replies.append(c.reply())
            if replies[-1].code != 250:
                break
        assert replies[-1].startswith("552 5.3.4"), replies
    assert smtpd.wait_queue_quiet() == []


# --- SMTPUTF8 ---------------------------------------------------------------

def test_smtputf8_recipient_with_parameter(smtpd):
    """MAIL ... SMTPUTF8, then a UTF-8 recipient of an accepted domain:
    250, and the envelope keeps it in UTF-8."""
    rcpt = "j\u00f6rg@example.org"
    with smtpd.client() as c:
        c.ehlo()
        r = c.mail("s\u00e9nder@example.net", params="SMTPUTF8")
        assert r.startswith("250 2."), r
        r = c.rcpt(rcpt)
        assert r.startswith("250 2."), r
        r = c.data(simple_message("utf8"))
        assert r.startswith("250 2.0.0 Ok: queued as"), r
        msgid = r.split()[-1]
    assert smtpd.envelope(msgid) == ("s\u00e9nder@example.net", [rcpt])


def test_utf8_address_without_smtputf8(smtpd):
    """A non-ASCII recipient or sender without SMTPUTF8: 553 5.6.7."""
    with smtpd.client() as c:
        c.ehlo()
        r = c.mail("s\u00e9nder@example.net")
        assert r.startswith("553 5.6.7"), r
        assert c.mail().code == 250
        r = c.rcpt("j\u00f6rg@example.org")
        assert r.startswith("553 5.6.7"), r
        assert c.rcpt("user@ferry.test").code == 250


def test_utf8_rejected_in_smtputf8_with_bad_encoding(smtpd):
    """With SMTPUTF8, an address that is not valid UTF-8 is a syntax
    error (501), not stored."""
    with smtpd.client() as c:
        c.ehlo()
        assert c.mail(params="SMTPUTF8").code == 250
        c.send(b"RCPT TO:<j\xf6rg@example.org>\r\n")
        r = c.reply()
        assert r.startswith("501 5.1.3") or r.startswith("553 5.6.7"), r


# --- limits -----------------------------------------------------------------

@pytest.mark.ferry_conf(max_recipients="3")
def test_too_many_recipients(smtpd):
    """max_recipients = 3: the 4th RCPT gets 452 4.5.3 Too many
    recipients; the message is queued for the first three."""
    rcpts = ["user@ferry.test", "alice@ferry.test", "bob@ferry.test",
        "x@example.org"]
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        for a in rcpts[:3]:
            assert c.rcpt(a).startswith("250 2."), a
        r = c.rcpt(rcpts[3])
        assert r.startswith("452 4.5.3"), r
        r = c.data(simple_message())
        msgid = r.split()[-1]
    assert smtpd.envelope(msgid)[1] == rcpts[:3]


def test_size_parameter_over_limit(smtpd):
    """MAIL FROM:<...> SIZE=N over max_message_size (1M here): 552 5.3.4
    at MAIL; SIZE at the limit is fine."""
    with smtpd.client() as c:
        c.ehlo()
        r = c.mail(params="SIZE=%d" % 10**12)
        assert r.startswith("552 5.3.4"), r
        r = c.mail(params="SIZE=%d" % ((1 << 20) + 1))
        assert r.startswith("552 5.3.4"), r
        r = c.mail(params="SIZE=%d" % (1 << 19))
        assert r.startswith("250 2."), r


def test_size_parameter_overflow(smtpd):
    """A SIZE= too large for any integer: refused (552 5.3.4 or 501), not
    wrapped around to a small number."""
    with smtpd.client() as c:
        c.ehlo()
        r = c.mail(params="SIZE=99999999999999999999999999999")
        assert r.startswith("552 5.3.4") or r.startswith("501 5.5.4"), r
        r = c.mail(params="SIZE=18446744073709551617")   # 2**64 + 1
        assert r.startswith("552 5.3.4") or r.startswith("501 5.5.4"), r


@pytest.mark.ferry_conf(max_message_size="64k")
def test_message_over_limit_at_end_of_data(smtpd):
    """A message larger than max_message_size (without SIZE=): 552 5.3.4
    after the final dot, nothing queued; the session goes on and the next
    (small) message is queued."""
    big = simple_message("big", ("z" * 998 + "\r\n") * 100)   # 100 kB
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        c.rcpt("user@ferry.test")
        r = c.data(big)
        assert r.startswith("552 5.3.4"), r
        assert smtpd.wait_queue_quiet() == []
        msgid = c.send_mail()
    assert smtpd.queued() == [msgid]


@pytest.mark.ferry_conf(max_message_size="64k")
def test_message_just_under_limit(smtpd):
    """A message a little under max_message_size, Received header
    included, is queued (the limit is not checked against a rough
    estimate)."""
    size = 64 * 1024 - 2048     # room for the Received header
    msg = simple_message("fits")
    msg += b"a" * (size - len(msg) - 2) + b"\r\n"
    with smtpd.client() as c:
        c.ehlo()
        msgid = c.send_mail(body=msg)
    assert queued_after_received(smtpd, msgid)[1] == msg


def vm_hwm(pid):
    """Peak resident set size of a process, in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


@pytest.mark.ferry_conf(max_message_size="40M")
@pytest.mark.timeout(180)
def test_large_message_streams(smtpd):
    """A 30 MB message through DATA and one through BDAT are queued intact,
    and smtpd's peak memory grows by far less than the message: it
    streams the body into the queue file."""
    smtpd.ferry.restart("smtpd", env=MEASURE_MEMORY_ENV)
    with smtpd.client() as c:
        c.ehlo()
        c.send_mail()
    pid = smtpd.ferry.pid("smtpd")
    before = vm_hwm(pid)
    line = b"0123456789" * 10 + b"\r\n"
    msg = simple_message("big") + line * (30 * 2**20 // len(line))
    with smtpd.client() as c:
        c.ehlo()
        c.timeout = 120
        msgid = c.send_mail(body=msg)
        c.mail()
        c.rcpt("user@ferry.test")
        c.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
        r = c.reply()
        assert QUEUED_RE.match(r), r
    after = vm_hwm(pid)
    assert queued_after_received(smtpd, msgid)[1] == msg
    assert queued_after_received(smtpd, r.split()[-1])[1] == msg
    if before is not None:
        assert after - before < 10 * 2**20, \
            "smtpd's peak RSS grew %d MB for a 30 MB message" % (
                (after - before) >> 20)


def test_many_messages_one_session(smtpd):
    """50 transactions in one session: 50 distinct queue ids."""
    ids = set()
    with smtpd.client() as c:
        c.ehlo()
        for i in range(50):
            ids.add(c.send_mail(body=simple_message("n%d" % i)))
    assert len(ids) == 50 and set(smtpd.queued()) == ids
