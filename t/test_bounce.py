# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Bounces and delay warnings: RFC 3464 reports queued commits to the
sender when recipients fail, seen from a fake relayd on queued.sock."""

import email
import re
import time

import pytest

import ferryipc as ipc
from conftest import HOSTNAME, ORIGIN, fetch_work, login_name, wait_for

SENDER = "%s@%s" % (login_name(), ORIGIN)


def listing(ferry):
    with ferry.ipc(name="ferry-control") as c:
        return c.list()


def bounces(ferry):
    """LIST entries of the messages from the null sender."""
    return [m for m in listing(ferry) if m["sender"] == ""]


def report(ferry, msgid, results):
    """Take msgid as a fake relayd and report {index: (result, text)}."""
    with ferry.ipc() as relayd:
        w = fetch_work(relayd)
        w.close()
        assert w.id == msgid, w
        for index, (result, text) in sorted(results.items()):
            reply = relayd.report(msgid, index, result, text)
            assert reply.type == ipc.OK, reply


def wait_bounce(ferry, n=1):
    """The parsed bounce messages, once there are n."""
    found = wait_for(lambda: len(bounces(ferry)) >= n and bounces(ferry),
        timeout=4, what="%d bounce(s) in the queue (log: %s)" % (n,
        ferry.log()[-800:]))
    assert len(found) == n, found
    return [(m, ferry.read_msg(m["id"])) for m in found]


def assert_crlf_only(data):
    assert b"\r" not in data.replace(b"\r\n", b""), "bare CR"
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF"
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def parse_report(data):
    """(message, text part, per-message fields, [per-recipient fields],
    returned headers) of a bounce, its structure checked on the way."""
    assert_crlf_only(data)
    msg = email.message_from_bytes(data)
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    text, status, headers = msg.get_payload()
    assert text.get_content_type() == "text/plain"
    assert status.get_content_type() == "message/delivery-status"
    assert headers.get_content_type() == "text/rfc822-headers"
    blocks = status.get_payload()
    return (msg, text.get_payload(), blocks[0], blocks[1:],
        headers.get_payload())


def unfold(value):
    return re.sub(r"\s+", " ", value).strip()


def test_perm_failure_bounces_to_sender(ferry):
    msgid = ferry.submit("a@example.test", "b@example.test",
        subject="quarterly figures 7741")
    report(ferry, msgid, {0: (ipc.PERMFAIL, "550 5.1.1 no such user"),
        1: (ipc.DELIVERED, "250 2.0.0 ok")})
    ((entry, data),) = wait_bounce(ferry)
    assert [r["addr"] for r in entry["rcpts"]] == [SENDER]
    wait_for(lambda: msgid not in [m["id"] for m in listing(ferry)],
        what="the original removed")

    msg, text, per_msg, rcpts, returned = parse_report(data)
    assert msg["From"].startswith("MAILER-DAEMON@%s" % ORIGIN)
    assert msg["To"] == "<%s>" % SENDER
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Message-ID"] and msg["Date"]
    assert "a@example.test" in text and "550 5.1.1 no such user" in text
    assert "b@example.test" not in text
    assert per_msg["Reporting-MTA"] == "dns; %s" % HOSTNAME
    assert per_msg["Arrival-Date"]
    (r,) = rcpts
    assert r["Final-Recipient"] == "rfc822; a@example.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert unfold(r["Diagnostic-Code"]) == "smtp; 550 5.1.1 no such user"
    assert "Subject: quarterly figures 7741\r\n" in returned
    assert "hello" not in returned, "the body is not returned"

    (b,) = ferry.log_events("bounce", id=msgid)
    assert b["bounce"] == entry["id"] and b["action"] == "failed"
    (f,) = ferry.log_events("failed", id=msgid)
    assert (f["to"], f["class"], f["reply"]) == ("a@example.test", "perm",
        "550 5.1.1 no such user")
    assert ferry.log_events("commit", id=entry["id"], **{"from": ""})


@pytest.mark.parametrize("reply", [
    "554 5.7.1 <a@example.test>: Relay access denied",
    "550 relay not permitted"])
def test_relay_refused_bounces_with_5_7_1(ferry, reply):
    msgid = ferry.submit("a@example.test")
    report(ferry, msgid, {0: (ipc.RELAY_REFUSED, reply)})
    ((_, data),) = wait_bounce(ferry)
    _, _, _, (r,), _ = parse_report(data)
    assert r["Action"] == "failed"
    assert r["Status"] == "5.7.1"
    assert unfold(r["Diagnostic-Code"]) == "smtp; " + reply
    (f,) = ferry.log_events("failed", id=msgid)
    assert f["class"] == "relay-refused"


@pytest.mark.ferry_conf(queue_lifetime="2s")
def test_expired_message_bounces_with_4_4_7(ferry):
    msgid = ferry.submit("a@example.test")
    report(ferry, msgid, {0: (ipc.TEMPFAIL, "451 4.2.0 mailbox busy")})
    time.sleep(2.1)
    ((_, data),) = wait_bounce(ferry)
    _, text, _, (r,), _ = parse_report(data)
    assert r["Final-Recipient"] == "rfc822; a@example.test"
    assert r["Action"] == "failed"
    assert r["Status"] == "4.4.7"
    assert "451 4.2.0 mailbox busy" in unfold(r["Diagnostic-Code"])
    assert ferry.log_events("expire", id=msgid)


def test_no_bounce_for_the_null_sender(ferry):
    msgid = ferry.submit("a@example.test", args=("-f", "<>"))
    report(ferry, msgid, {0: (ipc.PERMFAIL, "550 5.1.1 no such user")})
    wait_for(lambda: ferry.queue_files() == [],
        what="the message removed, no bounce (have %r)" %
        (ferry.queue_files(),))
    assert not ferry.log_events("bounce")
    assert ferry.log_events("done", id=msgid)


def test_bounce_lists_every_failed_recipient_once_done(ferry):
    msgid = ferry.submit("a@example.test", "b@example.test",
        "c@example.test")
    report(ferry, msgid, {0: (ipc.PERMFAIL, "550 5.1.1 unknown a"),
        1: (ipc.TEMPFAIL, "451 4.3.0 later"),
        2: (ipc.RELAY_REFUSED, "554 5.7.1 relay denied")})
    assert bounces(ferry) == [], "no bounce while a recipient is deferred"
    with ferry.ipc() as relayd:
        relayd.flush()
        w = fetch_work(relayd)
        w.close()
        assert w.rcpts == [(1, "b@example.test")]
        relayd.report(msgid, 1, ipc.PERMFAIL, "550 5.2.2 mailbox full")
    ((_, data),) = wait_bounce(ferry)
    _, _, _, rcpts, _ = parse_report(data)
    assert [(r["Final-Recipient"], r["Status"]) for r in rcpts] == [
        ("rfc822; a@example.test", "5.1.1"),
        ("rfc822; b@example.test", "5.2.2"),
        ("rfc822; c@example.test", "5.7.1")]


def test_hostile_reply_cannot_forge_report_fields(ferry):
    evil = ("550-5.1.1 first line\r\nX-Evil: injected\r\n\r\n--x\n"
        "550 5.1.1 bell\x07 and \x1b[31m escape " + "word " * 60 + "end")
    msgid = ferry.submit("a@example.test")
    report(ferry, msgid, {0: (ipc.PERMFAIL, evil)})
    ((_, data),) = wait_bounce(ferry)
    assert b"\x07" not in data and b"\x1b" not in data
    _, text, _, (r,), _ = parse_report(data)
    assert r["X-Evil"] is None
    assert r["Status"] == "5.1.1"
    diag = r["Diagnostic-Code"]
    assert unfold(diag).startswith("smtp; 550-5.1.1 first line X-Evil:")
    assert unfold(diag).endswith("end")
    lines = data.split(b"\r\n")
    field = [i for i, line in enumerate(lines)
        if line.startswith(b"Diagnostic-Code:")]
    while lines[field[-1] + 1][:1] in (b" ", b"\t"):
        field.append(field[-1] + 1)
    assert len(field) > 3, "a long reply is folded"
    assert all(len(lines[i]) <= 78 for i in field)
    assert "\nX-Evil" not in text.replace("\r\n", "\n")


def test_returned_headers_are_bounded_and_crlf(ferry):
    # a message written by smtpd may have bare LF; what is returned is
    # the header block only, at most 64 KiB, every line ended by CRLF
    msgid = ferry.submit("a@example.test", headers=[
        ("X-Filler-%d" % i, "x" * 900) for i in range(100)],
        subject="big headers")
    report(ferry, msgid, {0: (ipc.PERMFAIL, "550 no")})
    ((_, data),) = wait_bounce(ferry)
    _, _, _, (r,), returned = parse_report(data)
    assert r["Status"] == "5.0.0"
    assert 60000 < len(returned) <= 65536 + 2
    assert "X-Filler-0: " in returned


def put_message(ferry, msgid, envelope_lines, msg):
    ferry.put_queue_file(msgid + ".msg", msg)
    env = ["ferry-envelope 1", "id " + msgid, "arrival %d" % time.time(),
        "sender alice@example.org", "size %d" % len(msg),
        *envelope_lines, "end"]
    ferry.put_queue_file(msgid + ".env", ("\n".join(env) + "\n").encode())


@pytest.mark.ferry_daemons()
def test_done_envelope_left_by_a_crash_is_bounced_at_start(ferry):
    # queued killed after the last REPORT was written, before the bounce
    ferry.start()
    ferry.stop()
    msgid = "6B00000000000001"
    put_message(ferry, msgid, [
        "rcpt delivered 1 0 ok@example.test 250%20ok 2.0.0",
        "rcpt failed 1 0 bob@example.test 550%205.1.1%20gone 5.1.1"],
        b"Subject: lost in a crash\r\nX-Folded: bare LF\n then fold\r\n"
        b"\r\nbody\r\n")
    ferry.start()
    ((entry, data),) = wait_bounce(ferry)
    assert [r["addr"] for r in entry["rcpts"]] == ["alice@example.org"]
    assert msgid not in ferry.queue_ids()
    _, _, _, (r,), returned = parse_report(data)
    assert r["Final-Recipient"] == "rfc822; bob@example.test"
    assert r["Status"] == "5.1.1"
    assert "Subject: lost in a crash\r\n" in returned
    assert "X-Folded: bare LF\r\n then fold\r\n" in returned
    # and it stays one bounce across another restart
    ferry.restart()
    assert len(bounces(ferry)) == 1


def test_unreachable_and_temp_stay_deferred_with_reply_in_mailq(ferry):
    unreachable = "connect to mx.example.test[192.0.2.1]:25: Connection refused"
    temp = "451 4.3.0 try again later"
    msgid = ferry.submit("a@example.test", "b@example.test")
    report(ferry, msgid, {0: (ipc.UNREACHABLE, unreachable),
        1: (ipc.TEMPFAIL, temp)})
    (m,) = listing(ferry)
    assert [(r["addr"], r["state"], r["error"]) for r in m["rcpts"]] == [
        ("a@example.test", ipc.DEFERRED, unreachable),
        ("b@example.test", ipc.DEFERRED, temp)]
    (e,) = ferry.mailq_entries()
    assert e["rcpt_errors"]["a@example.test"].endswith(unreachable)
    assert e["rcpt_errors"]["b@example.test"].endswith(temp)
    classes = {ev["to"]: ev["class"] for ev in
        ferry.log_events("deferred", id=msgid)}
    assert classes == {"a@example.test": "unreachable",
        "b@example.test": "temp"}
    assert not ferry.log_events("bounce")


@pytest.mark.ferry_conf(delay_warning_time="1s", retry_min="1h",
    retry_max="1h")
def test_delay_warning_is_sent_once(ferry):
    msgid = ferry.submit("a@example.test", "b@example.test",
        subject="slow one")
    report(ferry, msgid, {0: (ipc.TEMPFAIL, "451 4.2.0 mailbox busy"),
        1: (ipc.DELIVERED, "250 ok")})
    time.sleep(1.1)
    ((entry, data),) = wait_bounce(ferry)
    msg, text, _, (r,), returned = parse_report(data)
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    assert r["Final-Recipient"] == "rfc822; a@example.test"
    assert r["Action"] == "delayed"
    assert r["Status"] == "4.2.0"
    assert r["Will-Retry-Until"]
    assert "Subject: slow one\r\n" in returned
    assert b"\nwarned 1\n" in ferry.read_env(msgid)
    (b,) = ferry.log_events("bounce", id=msgid)
    assert b["action"] == "delayed"
    # the message itself is still queued and deferred
    assert [r["state"] for m in listing(ferry) if m["id"] == msgid
        for r in m["rcpts"] if r["addr"] == "a@example.test"] == [
        ipc.DEFERRED]
    time.sleep(1.1)
    assert len(bounces(ferry)) == 1
    ferry.restart()
    assert len(bounces(ferry)) == 1
    assert len(ferry.log_events("bounce", id=msgid)) == 1


@pytest.mark.ferry_conf(delay_warning_time="1s", retry_min="1h",
    retry_max="1h")
def test_no_delay_warning_for_the_null_sender(ferry):
    msgid = ferry.submit("a@example.test", args=("-f", "<>"))
    report(ferry, msgid, {0: (ipc.TEMPFAIL, "451 4.2.0 mailbox busy")})
    time.sleep(1.1)
    assert [m["id"] for m in listing(ferry)] == [msgid]
    assert b"warned" not in ferry.read_env(msgid)
