# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""WebSmtp: when the smarthost is unreachable or refuses to relay, queued
hands the recipients to webrelayd, which posts the message over HTTPS to
webrelay_url (t/websink.py, a real TLS server on loopback).  What the
service receives, what queued.log and webrelayd.log say, mailq, bounces,
and every reason the fallback is not taken (t/webharness.py)."""

import base64
import hashlib
import os
import re
import threading
import time

import pytest

import sinks
from conftest import (BIN, MEASURE_MEMORY_ENV, child_pids, make_message,
    run, wait_for)
from relayharness import dsn_fields, parse
from webharness import SENDER, licence_header, web  # noqa: F401
from websink import Answer

RCPT = "x@example.test"
RELAY_AT_RCPT = "554 5.7.1 <%s>: Relay access denied"


def submit_raw(ferry, rcpts, data, args=("-i",), timeout=30):
    """sendmail -i RCPTS < data; returns the new queue id."""
    before = set(ferry.queue_ids())
    r = ferry.sendmail(*args, *rcpts, input=data, timeout=timeout)
    assert r.returncode == 0, r.stderr
    (msgid,) = set(ferry.queue_ids()) - before
    return msgid


def crlf(data):
    return data.replace(b"\n", b"\r\n")


def wait_bounce(sink, timeout=30):
    def bounces():
        return [m for m in sink.received() if m.mail_from == ""]
    return wait_for(bounces, timeout=timeout,
        what="a bounce (MAIL FROM:<>) at the SMTP sink")


def entry_block(text, msgid):
    """The lines of mailq's entry for msgid."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(msgid):
            out = [line]
            for more in lines[i + 1:]:
                if not more.strip():
                    break
                out.append(more)
            return out
    return []


def vm_hwm(pid):
    """VmHWM of a process in bytes, 0 if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --- the fallback and what the service receives ------------------------------

BODY = ("Dear Ops,\n"
    ".\n"
    "..two dots, a lone dot above\n"
    "Gr\u00fc\u00dfe aus K\u00f6ln\n"
    "trailing blanks   \n"
    "\n"
    "-- \n"
    "the end\n")


def test_unreachable_smarthost_posts_the_message_byte_for_byte(web):
    """The smarthost is down: the message goes to the service exactly as
    queued holds it (CRLF), with the envelope sender, every envelope
    recipient (the Bcc one too), the queue ID as Idempotency-Key and the
    licence as credential."""
    web.start()
    data = make_message(BODY, subject="via the web",
        headers=[("To", "Visible <visible@example.test>")])
    rcpts = ["visible@example.test", "hidden@example.org"]
    msgid = submit_raw(web.ferry, rcpts, data)
    queued = web.ferry.read_msg(msgid)
    assert queued.endswith(crlf(BODY.encode())), "q/%s.msg" % msgid
    web.start_relayd()

    (req,) = web.sink.wait_requests(1)
    for r in rcpts:
        web.wait_event("delivered", id=msgid, to=r, via="websmtp")
    assert req.error is None, req
    assert (req.method, req.path) == ("POST", "/v3/messages.mime")
    assert req.header("Idempotency-Key") == msgid
    assert req.header("Authorization") == licence_header(web.licence_path)
    assert req.header("User-Agent").startswith("ferry-webrelayd"), \
        req.header("User-Agent")
    assert req.headers.get_content_type() == "multipart/form-data"
    assert not req.chunked, "Content-Length must be known up front"
    assert int(req.header("Content-Length")) == req.body_size
    assert req.sender == SENDER
    assert sorted(req.to) == sorted(rcpts), "every envelope recipient"
    part = req.message_part
    assert part.filename == "message.eml", part
    assert part.content_type == "message/rfc822", part
    assert req.message == queued, "the message part differs from q/%s.msg" \
        % msgid
    assert b"hidden@example.org" not in req.message, "Bcc is envelope only"
    assert b"\r\nSubject: via the web\r\n" in req.message

    for r in rcpts:
        (ev,) = web.events("websmtp", id=msgid, to=r)
        assert ev["reason"] == "unreachable", ev
        assert ev.get("reply"), "relayd's text belongs in the line: %r" % ev
        (d,) = web.events("delivered", id=msgid, to=r, via="websmtp")
        assert d["reply"].startswith("WebSmtp: 200"), d
        assert "<websink-1@ferry.test>" in d["reply"], d
    assert "<websink-1@ferry.test>" in web.ferry.log("webrelayd"), \
        "webrelayd logs the service's id"
    web.wait_queue_empty()
    time.sleep(1)
    assert len(web.sink.received()) == 1, "posted once for all recipients"


def test_ferryctl_starts_the_websmtp_daemons(web):
    """As an admin runs it: `ferryctl start` starts webrelayd (before
    relayd, so it is there for relayd's first failure) and licensed,
    `status` shows them answering, a message to the unreachable
    smarthost is posted, and `ferryctl stop` stops everything."""
    web.ferry.write_conf(smtp_listen="127.0.0.1:%d" % sinks.free_port())
    ctl = [BIN / "ferryctl", "-c", web.ferry.conf_path]
    r = run(ctl + ["start"], timeout=60)
    try:
        assert r.returncode == 0, r.stderr
        started = re.findall(rb"ferryctl: (\w+): started", r.stdout)
        assert started == [b"queued", b"licensed", b"webrelayd", b"relayd",
            b"locald", b"smtpd"], r.stdout
        status = run(ctl + ["status"])
        assert status.returncode == 0, status.stdout + status.stderr
        assert re.search(rb"^webrelayd +pid \d+ +running +answers yes$",
            status.stdout, re.M), status.stdout
        msgid = web.ferry.submit(RCPT)
        (req,) = web.sink.wait_requests(1)
        assert req.header("Idempotency-Key") == msgid
        web.wait_event("delivered", id=msgid, via="websmtp")
    finally:
        stop = run(ctl + ["stop"], timeout=60)
    assert stop.returncode == 0, stop.stderr
    assert b"webrelayd: stopped" in stop.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_webrelayd_runs_as_its_user(web):
    import pwd
    web.start()
    with open("/proc/%d/status" % web.ferry.pid("webrelayd")) as f:
        uid = [l.split()[1] for l in f if l.startswith("Uid:")][0]
    assert int(uid) == pwd.getpwnam("ferry-web").pw_uid


@pytest.mark.parametrize("where", ["mail", "rcpt"])
def test_relay_refused_for_a_foreign_sender_is_posted(web, where):
    """The smarthost will not relay for a sender of another domain
    (Exchange Online's 5.7.60 at MAIL, Postfix's 5.7.1 at RCPT): posted."""
    smart = web.smarthost()
    if where == "mail":
        smart.mail_replies(sinks.MAIL_REFUSED)
    else:
        smart.rcpt_replies(RCPT, RELAY_AT_RCPT)
    web.start()
    msgid = web.ferry.submit(RCPT, args=("-f", "alice@customer.example"))
    web.start_relayd()
    (req,) = web.sink.wait_requests(1)
    assert req.sender == "alice@customer.example"
    assert req.to == [RCPT]
    (ev,) = web.wait_event("websmtp", id=msgid, to=RCPT)
    assert ev["reason"] == "relay-refused", ev
    assert ("5.7.60" if where == "mail" else "5.7.1") in ev["reply"], ev
    web.wait_event("delivered", id=msgid, to=RCPT, via="websmtp")
    assert smart.commands("MAIL FROM:<alice@customer.example>"), \
        "relayd tried the smarthost first"
    assert smart.received() == []
    assert web.events("bounce", id=msgid) == []


def test_unknown_user_in_relay_recipient_table_bounces(web):
    """Postfix's 5.1.1 "User unknown in relay recipient table" names the
    word relay but refuses the address: the sender gets a bounce and
    nothing goes to WebSmtp, although the sender is foreign."""
    smart = web.smarthost()
    smart.rcpt_replies(RCPT, "550 5.1.1 <%s>: Recipient address rejected: "
        "User unknown in relay recipient table")
    web.start()
    msgid = web.ferry.submit(RCPT, args=("-f", "alice@customer.example"))
    web.start_relayd()
    (f,) = web.wait_event("failed", id=msgid, to=RCPT)
    assert f["class"] == "perm" and f.get("via") != "websmtp", f
    (b,) = wait_bounce(smart)
    assert b.rcpt_tos == ["alice@customer.example"]
    _, (r,) = dsn_fields(parse(b.data))
    assert "User unknown in relay recipient table" in r["diagnostic-code"], r
    web.wait_queue_empty()
    assert web.sink.received() == [] and web.sink.incomplete == []
    assert web.events("websmtp", id=msgid) == []


# --- the site's own mail ------------------------------------------------------

@pytest.mark.ferry_conf(accepted_domains="corp.test")
def test_local_mail_refused_by_the_smarthost_is_not_posted(web):
    """Admin to admin (myorigin to accepted_domains) refused by the
    smarthost is a configuration error to see: it bounces, nothing is
    posted."""
    smart = web.smarthost()
    smart.rcpt_replies("ops@corp.test", RELAY_AT_RCPT)
    web.start()
    msgid = web.ferry.submit("ops@corp.test",
        args=("-f", "admin@ferry.test"), subject="disk full")
    web.start_relayd()
    (skip,) = web.wait_skip(msgid,
        "local mail falls back only when the server is unreachable")
    assert skip["to"] == "ops@corp.test"
    (f,) = web.wait_event("failed", id=msgid, to="ops@corp.test")
    assert f.get("via") != "websmtp", f
    (b,) = wait_bounce(smart)
    assert b.rcpt_tos == ["admin@ferry.test"]
    _, (r,) = dsn_fields(parse(b.data))
    assert "Relay access denied" in r["diagnostic-code"], r
    web.wait_queue_empty()
    assert web.sink.received() == [] and web.sink.incomplete == []
    assert web.events("websmtp", id=msgid) == []


@pytest.mark.ferry_conf(accepted_domains="corp.test")
def test_local_mail_is_posted_when_the_smarthost_is_unreachable(web):
    web.start()
    msgid = web.ferry.submit("ops@corp.test",
        args=("-f", "admin@ferry.test"))
    web.start_relayd()
    (req,) = web.sink.wait_requests(1)
    assert (req.sender, req.to) == ("admin@ferry.test", ["ops@corp.test"])
    (ev,) = web.wait_event("websmtp", id=msgid, to="ops@corp.test")
    assert ev["reason"] == "unreachable", ev
    web.wait_event("delivered", id=msgid, to="ops@corp.test",
        via="websmtp")


# --- no licence, no WebSmtp --------------------------------------------------

def _expired(web):
    web.licence("licence", issued=-400, until=-2)


def _tampered(web):
    p = web.licence_path
    data = p.read_bytes()
    assert data.count(b"GmbH") == 1
    p.write_bytes(data.replace(b"GmbH", b"GmbX"))      # one byte


def _missing(web):
    web.ferry.write_conf(license_files=str(web.dir / "no-such-licence"))


def _future(web):
    web.licence("licence", issued=3, until=300)


def _no_feature(web):
    web.licence("licence", features="priority-support")


def _webrelay_no(web):
    web.ferry.write_conf(webrelay="no")


def _no_url(web):
    web.ferry.write_conf(webrelay_url=None)


@pytest.mark.parametrize("make,daemons,why", [
    (_expired, "all", "licence expired: "),
    (_tampered, "all", "licence invalid: "),
    (_missing, "all", "licence missing: "),
    (lambda web: None, "no licensed", "licensed is not connected"),
    (_future, "all", "licence not-yet-valid: "),
    (_no_feature, "all", "the licence lacks the webrelay feature"),
    (_webrelay_no, "all", "webrelay = no"),
    (_no_url, "no webrelayd", "webrelay_url is not set"),
], ids=["expired", "tampered", "missing", "licensed-down", "future",
    "no-feature", "webrelay-no", "no-url"])
def test_without_a_usable_licence_nothing_is_posted(web, make, daemons, why):
    """The recipient stays deferred as it would without WebSmtp, and
    queued says why, at every try."""
    make(web)
    web.start(licensed=daemons != "no licensed",
        webrelayd=daemons != "no webrelayd")
    msgid = web.ferry.submit(RCPT)
    web.start_relayd()
    web.wait_skip(msgid, why, n=2)          # the first try and a retry
    deferred = web.events("deferred", id=msgid, to=RCPT)
    assert deferred, "the recipient is deferred"
    for d in deferred:
        assert d.get("via") != "websmtp" and d["class"] == "unreachable", d
    assert web.events("websmtp", id=msgid) == []
    assert web.events("failed", id=msgid) == []
    assert web.sink.received() == [] and web.sink.incomplete == [], \
        "nothing may reach the service"
    e = web.entry(msgid)
    assert e is not None and e["rcpts"] == [RCPT], e
    block = "\n".join(entry_block(web.mailq_text(), msgid))
    assert "WebSmtp" not in block, block


def test_renewal_is_used_without_a_restart(web):
    """license_files names an expired licence and a renewal not installed
    yet; once it is there and licensed got SIGHUP, the waiting message is
    posted with the renewal as credential."""
    expired = web.licence("licence", issued=-400, until=-2)
    renewal = web.dir / "renewal"
    web.ferry.write_conf(license_files="%s %s" % (expired, renewal))
    web.start()
    msgid = web.ferry.submit(RCPT)
    web.start_relayd()
    web.wait_skip(msgid, "licence expired: ")
    assert web.sink.received() == []
    pids = {n: web.ferry.pid(n) for n in ("queued", "licensed")}

    web.licence("renewal", issued=-1, until=365)
    web.hup_licensed()
    wait_for(lambda: web.ferry.control("license").stdout.startswith(
        b"licence: valid"), timeout=10, what="licensed's renewal")
    r = web.ferry.control("flush")
    assert r.returncode == 0, r.stderr
    (req,) = web.sink.wait_requests(1)
    assert req.header("Authorization") == licence_header(renewal)
    assert req.header("Idempotency-Key") == msgid
    (ev,) = web.wait_event("websmtp", id=msgid, to=RCPT)
    assert ev["reason"] == "unreachable", ev
    web.wait_event("delivered", id=msgid, to=RCPT, via="websmtp")
    assert {n: web.ferry.pid(n) for n in pids} == pids
    assert len(web.events("start")) == 1, "queued was not restarted"


# --- the service's answers ---------------------------------------------------

def refused_then_delivered(web, answer):
    """The service gives ANSWER, then 200: (msgid, first, second request)
    once the retry has delivered the message."""
    web.sink.script(answer)
    web.start()
    msgid = web.ferry.submit(RCPT)
    web.start_relayd()
    first, second = web.sink.wait_requests(2, timeout=30)
    web.wait_event("delivered", id=msgid, to=RCPT, via="websmtp")
    return msgid, first, second


def test_503_then_200_is_delivered_once_with_one_key(web):
    msgid, first, second = refused_then_delivered(web,
        Answer(503, {"message": "Service busy"}))
    assert first.header("Idempotency-Key") == msgid
    assert second.header("Idempotency-Key") == msgid
    assert first.message == second.message
    (d,) = web.events("deferred", id=msgid, to=RCPT, via="websmtp")
    assert d["reply"].startswith("WebSmtp: 503") and "Service busy" in \
        d["reply"], d
    web.wait_queue_empty()
    time.sleep(1.5)
    assert len(web.sink.received()) == 2, web.sink.received()
    assert len(web.events("delivered", id=msgid)) == 1
    assert web.events("bounce", id=msgid) == []


def test_429_retry_after_is_honoured(web):
    web.sink.script(Answer(429, {"message": "Too many requests"},
        retry_after=3))
    web.start()
    msgid = web.ferry.submit(RCPT)
    web.start_relayd()
    first, second = web.sink.wait_requests(2, timeout=30)
    # retry_max is 2 s: only Retry-After can make the wait this long
    assert second.arrived - first.arrived >= 3.0, \
        "second POST %.2f s after the first, Retry-After: 3" % (
        second.arrived - first.arrived)
    assert second.header("Idempotency-Key") == msgid
    web.wait_event("delivered", id=msgid, to=RCPT, via="websmtp")
    (d,) = web.events("deferred", id=msgid, to=RCPT, via="websmtp")
    assert d["reply"].startswith("WebSmtp: 429"), d


def test_400_fails_the_recipient_and_the_bounce_names_websmtp(web):
    home = web.relay.sink()
    web.routes({"ferry.test": home})        # the sender's bounce lands here
    web.sink.script(Answer(400, {"message": "bad recipient"}))
    web.start()
    msgid = web.ferry.submit(RCPT, subject="400 ahead")
    web.start_relayd()
    (f,) = web.wait_event("failed", id=msgid, to=RCPT, via="websmtp")
    assert f["reply"] == "WebSmtp: 400 bad recipient", f
    (b,) = wait_bounce(home)
    assert b.rcpt_tos == [SENDER]
    msg = parse(b.data)
    text = msg.get_payload()[0].get_payload(decode=True).decode()
    assert "WebSmtp" in text and "bad recipient" in text, text
    _, (r,) = dsn_fields(msg)
    assert r["final-recipient"].replace(" ", "").lower() == \
        "rfc822;" + RCPT
    assert r["action"] == "failed"
    assert "WebSmtp: 400 bad recipient" in r["diagnostic-code"], r
    web.wait_queue_empty()
    assert len(web.sink.received()) == 1, "a permanent failure: no retry"


def test_401_defers_without_a_bounce_and_warns(web):
    home = web.relay.sink()
    web.routes({"ferry.test": home})
    web.sink.default = Answer(401, {"message": "unknown licence"})
    web.start()
    msgid = web.ferry.submit(RCPT)
    web.start_relayd()
    (w,) = web.wait_event("websmtp-credential-refused", name="webrelayd",
        id=msgid)[:1]
    assert w["status"] == "401", w
    assert "warning" in w["_line"].lower(), "a loud line: %r" % w["_line"]
    web.sink.wait_requests(2, timeout=30)       # it is retried
    (d, *_) = web.wait_event("deferred", id=msgid, to=RCPT, via="websmtp")
    assert d["reply"].startswith("WebSmtp: 401"), d
    assert web.events("failed", id=msgid) == []
    assert web.events("bounce", id=msgid) == []
    time.sleep(1)
    assert home.received() == [], "no bounce for a refused credential"
    assert web.entry(msgid)["rcpts"] == [RCPT]


def test_bad_certificate_posts_nothing(web):
    bad = web.service(trusted=False)
    web.start()
    msgid = web.ferry.submit(RCPT)
    web.start_relayd()
    (d, *_) = web.wait_event("deferred", id=msgid, to=RCPT, via="websmtp")
    assert d["reply"].startswith("WebSmtp: cannot post"), d
    wait_for(lambda: bad.tls_failures, timeout=10,
        what="webrelayd's handshake at the service")
    assert bad.received() == [], "no request over an unverified connection"
    assert "certificate" in web.ferry.log("webrelayd").lower(), \
        web.ferry.log("webrelayd")
    assert web.events("failed", id=msgid) == []
    assert web.entry(msgid)["rcpts"] == [RCPT]


@pytest.mark.ferry_conf(webrelay_timeout="2s")
def test_slow_service_times_out_and_is_retried(web):
    web.sink.script(Answer(200, delay=5))
    web.start()
    msgid = web.ferry.submit(RCPT)
    web.start_relayd()
    (d, *_) = web.wait_event("deferred", id=msgid, to=RCPT, via="websmtp")
    assert d["reply"].startswith("WebSmtp: cannot post"), d
    assert "time" in d["reply"].lower(), "a timeout text: %r" % d
    web.wait_event("delivered", id=msgid, to=RCPT, via="websmtp",
        timeout=30)
    keys = {r.header("Idempotency-Key") for r in web.sink.received()}
    assert keys == {msgid}, keys


def test_webrelayd_killed_mid_post_posts_again_with_the_same_key(web):
    """A crash of webrelayd while the service is still answering: nothing
    is lost, the restarted webrelayd posts the message again with the
    same Idempotency-Key (the service can tell the repeat), and queued
    records one delivery."""
    web.sink.script(Answer(200, delay=5))
    web.start()
    msgid = web.ferry.submit(RCPT)
    web.start_relayd()
    web.sink.wait_requests(1)
    web.ferry.kill("webrelayd")
    assert web.events("delivered", id=msgid) == []
    web.ferry.start("webrelayd")
    first, second = web.sink.wait_requests(2, timeout=30)
    (d,) = web.wait_event("delivered", id=msgid, to=RCPT, via="websmtp")
    assert first.header("Idempotency-Key") == second.header(
        "Idempotency-Key") == msgid
    assert first.message == second.message
    web.wait_queue_empty()
    assert len(web.events("delivered", id=msgid)) == 1


def test_mailq_shows_websmtp(web):
    web.sink.default = Answer(503, {"message": "maintenance"})
    web.start()
    msgid = web.ferry.submit(RCPT)
    web.start_relayd()
    web.wait_event("deferred", id=msgid, to=RCPT, via="websmtp")

    def shown():
        # "(via WebSmtp)" on the recipient's line or on its error line
        e = web.entry(msgid)
        for r in (e or {}).get("rcpts", []):
            err = e["rcpt_errors"][r] or ""
            if r.split()[0] == RCPT and "via WebSmtp" in r + err and \
                    "WebSmtp: 503 maintenance" in err:
                return e
        return None
    try:
        sinks.wait_until(shown, 10, "mailq to show %s via WebSmtp" % RCPT)
    except sinks.Timeout as e:
        pytest.fail("%s with the service's 503:\n%s" % (e,
            web.mailq_text()), pytrace=False)


def test_two_messages_share_one_tls_connection(web):
    web.start()
    one = web.ferry.submit(RCPT)
    web.start_relayd()
    web.wait_event("delivered", id=one, via="websmtp")
    two = web.ferry.submit(RCPT)
    web.wait_event("delivered", id=two, via="websmtp")
    first, second = web.sink.received()
    assert [first.header("Idempotency-Key"),
        second.header("Idempotency-Key")] == [one, two]
    assert len(web.sink.connections) == 1, web.sink.connections
    assert first.conn == second.conn == 0


KEY = "key-6d1f0c9a7e3b4852ac"


def test_basic_auth_replaces_the_licence_and_is_never_logged(web):
    """webrelay_auth_file's key goes out as HTTP Basic.  As root the file
    is root's, mode 0600, and webrelayd runs as ferry-web, who cannot
    read it: it was read before the privilege drop."""
    key_file = web.auth_file("basic:api:" + KEY)
    msgid, first, second = refused_then_delivered(web,
        Answer(401, {"message": "Forbidden"}))
    if os.geteuid() == 0:
        import pwd
        st = key_file.stat()
        assert (st.st_uid, st.st_mode & 0o777) == (0, 0o600), st
        with open("/proc/%d/status" % web.ferry.pid("webrelayd")) as f:
            uid = [l.split()[1] for l in f if l.startswith("Uid:")][0]
        assert int(uid) == pwd.getpwnam("ferry-web").pw_uid
    (start,) = web.events("start", name="webrelayd")
    assert start["auth"] == "basic", start
    for req in (first, second):
        assert req.header("Authorization") == "Basic " + \
            base64.b64encode(("api:" + KEY).encode()).decode()
        assert req.basic_credentials() == ("api", KEY)
    secrets = [KEY.encode(), base64.b64encode(("api:" + KEY).encode())]
    files = list(web.ferry.log_dir.iterdir()) + [p for p in
        web.ferry.base.iterdir() if p.suffix in (".stderr", ".stdout")]
    assert any(p.name == "webrelayd.log" for p in files), files
    for p in files:
        data = p.read_bytes()
        for s in secrets:
            assert s not in data, "%s holds the key" % p


def start_refused(web):
    """Run webrelayd in the foreground; it must exit at once."""
    return run([BIN / "webrelayd", "-f", "-c", web.ferry.conf_path],
        timeout=15)


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o602])
def test_auth_file_others_may_read_or_write_is_refused(web, mode):
    """A key others may read has leaked: exit 78 naming the file, and
    the key never shown."""
    p = web.auth_file("basic:api:" + KEY, mode=mode)
    r = start_refused(web)
    err = r.stderr.decode()
    assert r.returncode == 78, (r.returncode, err)
    assert "webrelay_auth_file %s: others may read or write it (mode " \
        "%04o)" % (p, mode) in err, err
    assert KEY not in err + r.stdout.decode()


def test_auth_file_missing_is_refused(web):
    p = web.dir / "no-such-key"
    web.ferry.write_conf(webrelay_auth_file=str(p))
    r = start_refused(web)
    err = r.stderr.decode()
    assert r.returncode == 78, (r.returncode, err)
    assert "webrelay_auth_file %s: No such file or directory" % p in err, \
        err


def test_auth_file_its_group_may_read_is_a_warning(web):
    p = web.auth_file("basic:api:" + KEY, mode=0o640)
    web.start()
    ev = [e for e in web.events("error", name="webrelayd")
        if "its group may read or write it" in e.get("msg", "")]
    assert ev and str(p) in ev[0]["msg"], web.events(name="webrelayd")
    (start,) = web.events("start", name="webrelayd")
    assert start["auth"] == "basic", start


# --- size ---------------------------------------------------------------------

def big_message(size):
    """About SIZE bytes with LF line ends, lines of varied text."""
    lines = []
    for i in range(1000):
        lines.append(("%04d " % i + "".join(chr(0x21 + (i * 7 + j) % 94)
            for j in range(70 + i % 9))).encode())
        if i % 97 == 0:
            lines.append(b".a dot line")
    block = b"\n".join(lines) + b"\n"
    head = b"Subject: 100 MB\n\n"
    return head + block * (size // len(block) + 1)


class HwmWatch:
    """Samples VmHWM of a process and its children until stopped."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = vm_hwm(pid)
        self._children = child_pids
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.wait(0.05):
            for p in [self.pid] + self._children(self.pid):
                self.peak = max(self.peak, vm_hwm(p))

    def stop(self):
        self._stop.set()
        self._t.join(5)
        return max(self.peak, vm_hwm(self.pid))


@pytest.mark.ferry_conf(max_message_size="200M")
@pytest.mark.timeout(150)
def test_100mb_message_is_posted_intact_in_flat_memory(web):
    web.start(webrelayd_env=MEASURE_MEMORY_ENV)
    small = web.ferry.submit(RCPT)
    web.start_relayd()
    web.wait_event("delivered", id=small, via="websmtp")
    pid = web.ferry.pid("webrelayd")
    before = vm_hwm(pid)
    assert before > 0

    web.ferry.stop("relayd")            # to read q/ID.msg before delivery
    msgid = submit_raw(web.ferry, ["big@example.test"],
        big_message(100 * 2**20), timeout=120)
    h = hashlib.sha256()
    size = 0
    with open(web.ferry.q_dir / ("%s.msg" % msgid), "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
            size += len(b)
    assert size > 100 * 10**6
    watch = HwmWatch(pid)
    try:
        web.start_relayd()
        req = web.sink.wait_requests(2, timeout=90)[1]
        web.wait_event("delivered", id=msgid, via="websmtp", timeout=30)
    finally:
        after = watch.stop()
    assert req.header("Idempotency-Key") == msgid
    assert not req.chunked
    assert req.message_size == size
    assert req.message_sha256 == h.hexdigest(), "the 100 MB part differs"
    assert after - before < 10 * 2**20, \
        "webrelayd's VmHWM grew by %.1f MB posting 100 MB" % (
        (after - before) / 2**20)
