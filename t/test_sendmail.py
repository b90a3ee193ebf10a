# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""sendmail(1): local injection through queued's public submission socket."""

import os
import re

import pytest

from conftest import (ORIGIN, header_values, login_name, make_message,
    parse_mailq, split_message, wait_for)


def only_id(ferry):
    ids = ferry.queue_ids()
    assert len(ids) == 1, "queue holds %r" % (ferry.queue_files(),)
    return ids[0]


def stored(ferry, msgid):
    return split_message(ferry.read_msg(msgid))


def assert_queue_empty(ferry):
    # queued removes a refused submission before it answers; allow a
    # moment for the unlink to be visible to another process anyway.
    wait_for(lambda: ferry.queue_files() == [], timeout=2,
        what="an empty q/ (have %r)" % (ferry.queue_files(),))


def test_sendmail_queues_message_as_msg_and_env(ferry):
    r = ferry.sendmail("rcpt@example.test", input=make_message("hi\n"))
    assert r.returncode == 0, r.stderr
    msgid = only_id(ferry)
    assert re.fullmatch(r"[0-9A-F]{16}", msgid)
    assert ferry.queue_files() == [msgid + ".env", msgid + ".msg"]


def test_mailq_shows_id_size_sender_and_recipients(ferry):
    msgid = ferry.submit("one@example.test", "two@example.org")
    entries = ferry.mailq_entries()
    assert [e["id"] for e in entries] == [msgid]
    e = entries[0]
    assert e["size"] == os.path.getsize(ferry.q_dir / (msgid + ".msg"))
    assert e["sender"] == "%s@%s" % (login_name(), ORIGIN)
    assert e["rcpts"] == ["one@example.test", "two@example.org"]


def test_sendmail_adds_message_id_date_and_from(ferry):
    msgid = ferry.submit("rcpt@example.test")
    headers, _ = stored(ferry, msgid)
    assert len(header_values(headers, "Message-ID")) == 1
    mid = header_values(headers, "Message-ID")[0]
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", mid), mid
    assert len(header_values(headers, "Date")) == 1
    date = header_values(headers, "Date")[0]
    # RFC 5322: [day, ] dd Mon yyyy hh:mm:ss +zzzz
    assert re.search(r"\d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4}",
        date), date
    froms = header_values(headers, "From")
    assert len(froms) == 1
    assert "%s@%s" % (login_name(), ORIGIN) in froms[0]


def test_sendmail_full_name_goes_into_from(ferry):
    msgid = ferry.submit("rcpt@example.test", args=("-F", "Jane Q Doe"))
    headers, _ = stored(ferry, msgid)
    froms = header_values(headers, "From")
    assert len(froms) == 1
    assert "Jane Q Doe" in froms[0]
    assert "<%s@%s>" % (login_name(), ORIGIN) in froms[0]


def test_sendmail_adds_received_header_with_uid(ferry):
    msgid = ferry.submit("rcpt@example.test")
    headers, _ = stored(ferry, msgid)
    assert headers[0][0].lower() == "received", headers[:3]
    received = headers[0][1]
    assert re.search(r"(uid|userid)\D{0,3}%d\b" % os.getuid(), received,
        re.I), \
        received


@pytest.mark.parametrize("name", ["Evil\nBcc: victim@example.test",
    "Evil\r\nBcc: victim@example.test", "Evil\rBcc: victim@example.test"])
def test_sendmail_full_name_cannot_inject_headers(ferry, name):
    r = ferry.sendmail("-F", name, "rcpt@example.test", input=make_message())
    if r.returncode != 0:
        assert r.returncode == 65, r
        assert_queue_empty(ferry)
        return
    data = ferry.read_msg(only_id(ferry))
    headers, _ = split_message(data)
    assert header_values(headers, "Bcc") == [], headers
    assert re.search(rb"(?<!\r)\n|\r(?!\n)", data) is None, data
    (e,) = ferry.mailq_entries()
    assert e["rcpts"] == ["rcpt@example.test"]


@pytest.mark.parametrize("text", [
    b"Subject: x\0\n\nReply-To: attacker@example.org\n",
    b"Subject: x\0\nTo: rcpt@example.test\n\nbody\n",
    b"Subject: a\n b\0c\n\nbody\n"])
@pytest.mark.parametrize("flags", [(), ("-t",)])
def test_sendmail_nul_in_a_header_is_refused(ferry, text, flags):
    """A NUL in the header block once cut that field's CRLF off, so the
    next field or the body was glued onto it (body lines became
    headers).  Now the message is refused as malformed and not queued."""
    r = ferry.sendmail(*flags, "rcpt@example.test", input=text)
    assert r.returncode == 65, r
    assert b"NUL" in r.stderr, r.stderr
    assert_queue_empty(ferry)


def test_sendmail_nul_in_the_body_keeps_the_header_boundary(ferry):
    r = ferry.sendmail("rcpt@example.test",
        input=b"Subject: x\n\nReply-To: a\0b@example.org\n")
    assert r.returncode == 0, r
    headers, body = split_message(ferry.read_msg(only_id(ferry)))
    assert header_values(headers, "Reply-To") == [], headers
    assert body == b"Reply-To: a\0b@example.org\r\n"


def test_sendmail_keeps_existing_message_id_date_and_from(ferry):
    mine = [("From", "Robot <robot@example.org>"),
        ("Date", "Mon, 23 Nov 2026 09:30:56 +0100"),
        ("Message-ID", "<given.1@example.org>")]
    msgid = ferry.submit("rcpt@example.test", headers=mine)
    headers, _ = stored(ferry, msgid)
    for name, value in mine:
        assert header_values(headers, name) == [value], headers


def test_sendmail_bare_lf_becomes_crlf(ferry):
    msg = b"Subject: lf\nX-Two: a\n\nline one\nline two\n\nlast\n"
    r = ferry.sendmail("rcpt@example.test", input=msg)
    assert r.returncode == 0, r.stderr
    data = ferry.read_msg(only_id(ferry))
    assert re.search(rb"(?<!\r)\n", data) is None, data
    headers, body = split_message(data)
    assert body == b"line one\r\nline two\r\n\r\nlast\r\n"
    assert header_values(headers, "X-Two") == ["a"]


def test_sendmail_crlf_input_is_not_doubled(ferry):
    msg = b"Subject: crlf\r\n\r\nline one\r\nline two\r\n"
    r = ferry.sendmail("rcpt@example.test", input=msg)
    assert r.returncode == 0, r.stderr
    _, body = stored(ferry, only_id(ferry))
    assert body == b"line one\r\nline two\r\n"


def test_sendmail_missing_final_newline_is_completed(ferry):
    r = ferry.sendmail("rcpt@example.test",
        input=b"Subject: x\n\nno newline at end")
    assert r.returncode == 0, r.stderr
    _, body = stored(ferry, only_id(ferry))
    assert body == b"no newline at end\r\n"


def test_sendmail_dot_line_ends_input_without_i(ferry):
    msg = b"Subject: dot\n\nbefore\n.\nafter\n"
    r = ferry.sendmail("rcpt@example.test", input=msg)
    assert r.returncode == 0, r.stderr
    _, body = stored(ferry, only_id(ferry))
    assert body == b"before\r\n"


@pytest.mark.parametrize("flag", ["-i", "-oi"])
def test_sendmail_dot_line_is_data_with_i(ferry, flag):
    msg = b"Subject: dot\n\nbefore\n.\nafter\n"
    r = ferry.sendmail(flag, "rcpt@example.test", input=msg)
    assert r.returncode == 0, r.stderr
    _, body = stored(ferry, only_id(ferry))
    assert body == b"before\r\n.\r\nafter\r\n"


def test_sendmail_leading_dot_text_is_kept(ferry):
    msg = b"Subject: dots\n\n..two\n.x\n"
    r = ferry.sendmail("rcpt@example.test", input=msg)
    assert r.returncode == 0, r.stderr
    _, body = stored(ferry, only_id(ferry))
    assert body == b"..two\r\n.x\r\n"


def test_sendmail_t_adds_header_recipients_to_arguments(ferry):
    msg = make_message("body\n", headers=[
        ("To", "Alice <alice@example.test>, bob@example.test"),
        ("Cc", "carol@example.org"),
        ("Bcc", "dave@example.net")])
    r = ferry.sendmail("-t", "arg@example.test", input=msg)
    assert r.returncode == 0, r.stderr
    msgid = only_id(ferry)
    (e,) = ferry.mailq_entries()
    assert sorted(e["rcpts"]) == sorted(["arg@example.test",
        "alice@example.test", "bob@example.test", "carol@example.org",
        "dave@example.net"])
    headers, _ = stored(ferry, msgid)
    assert header_values(headers, "Bcc") == []
    assert header_values(headers, "To") == [
        "Alice <alice@example.test>, bob@example.test"]
    assert header_values(headers, "Cc") == ["carol@example.org"]


def test_sendmail_t_reads_folded_address_headers(ferry):
    msg = (b"To: one@example.test,\n two@example.test\n"
        b"Cc: \"Doe, John\" <john@example.test>\nSubject: fold\n\nx\n")
    r = ferry.sendmail("-t", input=msg)
    assert r.returncode == 0, r.stderr
    (e,) = ferry.mailq_entries()
    assert sorted(e["rcpts"]) == ["john@example.test", "one@example.test",
        "two@example.test"]


def test_sendmail_t_without_any_recipient_exits_65(ferry):
    r = ferry.sendmail("-t", input=b"Subject: nobody\n\nx\n")
    assert r.returncode == 65, r
    assert_queue_empty(ferry)


def test_sendmail_t_ignores_address_headers_in_body(ferry):
    msg = b"To: a@example.test\nSubject: s\n\nTo: b@example.test\n"
    r = ferry.sendmail("-t", input=msg)
    assert r.returncode == 0, r.stderr
    (e,) = ferry.mailq_entries()
    assert e["rcpts"] == ["a@example.test"]


def test_sendmail_f_sets_envelope_sender(ferry):
    msgid = ferry.submit("rcpt@example.test",
        args=("-f", "bounces@example.org"))
    (e,) = ferry.mailq_entries()
    assert e["id"] == msgid
    assert e["sender"] == "bounces@example.org"


def test_sendmail_cron_style_invocation(ferry):
    # Vixie cron: sendmail -FCronDaemon -i -odi -oem -oi -t
    msg = (b"From: root (Cron Daemon)\nTo: root\n"
        b"Subject: Cron <root@host> run-parts\n\noutput\n.\nmore\n")
    r = ferry.sendmail("-FCronDaemon", "-i", "-odi", "-oem", "-oi", "-t",
        input=msg)
    assert r.returncode == 0, r.stderr
    msgid = only_id(ferry)
    (e,) = ferry.mailq_entries()
    # an unqualified local name is qualified with myorigin
    assert e["rcpts"] == ["root@%s" % ORIGIN]
    _, body = stored(ferry, msgid)
    assert body == b"output\r\n.\r\nmore\r\n"


def test_sendmail_ignores_unknown_flags(ferry):
    r = ferry.sendmail("-odi", "-oem", "-U", "rcpt@example.test",
        input=make_message())
    assert r.returncode == 0, r.stderr
    (e,) = ferry.mailq_entries()
    assert e["rcpts"] == ["rcpt@example.test"]


def test_sendmail_bm_is_plain_delivery_mode(ferry):
    r = ferry.sendmail("-bm", "rcpt@example.test", input=make_message())
    assert r.returncode == 0, r.stderr
    assert len(ferry.queue_ids()) == 1


def test_sendmail_double_dash_ends_options(ferry):
    r = ferry.sendmail("-i", "--", "rcpt@example.test",
        input=make_message())
    assert r.returncode == 0, r.stderr
    (e,) = ferry.mailq_entries()
    assert e["rcpts"] == ["rcpt@example.test"]


def test_sendmail_without_recipients_exits_64(ferry):
    r = ferry.sendmail(input=make_message())
    assert r.returncode == 64, r
    assert r.stderr
    assert_queue_empty(ferry)


@pytest.mark.parametrize("addr", ["a@b@c", "<x", "x>", "a b@example.test",
    "rcpt@example.test\nX-Injected: 1", "@example.test", "user@"])
def test_sendmail_bad_address_exits_65(ferry, addr):
    r = ferry.sendmail("good@example.test", addr, input=make_message())
    assert r.returncode == 65, r
    assert r.stderr
    assert_queue_empty(ferry)


def test_sendmail_bad_sender_exits_65(ferry):
    r = ferry.sendmail("-f", "a@b@c", "rcpt@example.test",
        input=make_message())
    assert r.returncode == 65, r
    assert_queue_empty(ferry)


@pytest.mark.ferry_conf(max_message_size="2k")
def test_sendmail_message_larger_than_max_message_size_exits_65(ferry):
    big = make_message(("y" * 70 + "\n") * 100)
    r = ferry.sendmail("rcpt@example.test", input=big)
    assert r.returncode == 65, r
    assert r.stderr
    assert_queue_empty(ferry)
    # a message under the limit still goes through
    r = ferry.sendmail("rcpt@example.test", input=make_message("small\n"))
    assert r.returncode == 0, r.stderr


@pytest.mark.ferry_conf(max_recipients="2")
def test_sendmail_more_than_max_recipients_is_refused(ferry):
    r = ferry.sendmail("a@example.test", "b@example.test", "c@example.test",
        input=make_message())
    assert r.returncode == 65, r  # a permanent error, not a temporary one
    assert_queue_empty(ferry)


def test_sendmail_v_prints_queue_id(ferry):
    r = ferry.sendmail("-v", "rcpt@example.test", input=make_message())
    assert r.returncode == 0, r.stderr
    msgid = only_id(ferry)
    assert "sendmail: queued as %s" % msgid in r.stderr.decode(), r.stderr


def test_sendmail_is_quiet_without_v(ferry):
    r = ferry.sendmail("rcpt@example.test", input=make_message())
    assert r.returncode == 0
    assert r.stdout == b"" and r.stderr == b""


def test_sendmail_empty_message_is_queued(ferry):
    r = ferry.sendmail("rcpt@example.test", input=b"")
    assert r.returncode == 0, r.stderr
    headers, _ = stored(ferry, only_id(ferry))
    assert header_values(headers, "Message-ID")


def test_sendmail_keeps_8bit_body_bytes(ferry):
    body = "Grüße, ½ € \u2603\n".encode()
    r = ferry.sendmail("rcpt@example.test",
        input=b"Subject: 8bit\n\n" + body)
    assert r.returncode == 0, r.stderr
    _, stored_body = stored(ferry, only_id(ferry))
    assert stored_body == body.replace(b"\n", b"\r\n")


def test_sendmail_many_messages_get_distinct_ids(ferry):
    ids = set()
    for i in range(20):
        ids.add(ferry.submit("rcpt@example.test", body="n %d\n" % i))
    assert len(ids) == 20
    assert {e["id"] for e in ferry.mailq_entries()} == ids


@pytest.mark.parametrize("how", ["stopped", "killed", "never_started"])
def test_sendmail_exits_75_when_queue_not_running(ferry_factory, how):
    daemons = () if how == "never_started" else ("queued",)
    ferry = ferry_factory(daemons=daemons)
    if how == "stopped":
        ferry.stop()
    elif how == "killed":
        ferry.kill()
    r = ferry.sendmail("rcpt@example.test", input=make_message())
    assert r.returncode == 75, r
    err = r.stderr.decode()
    assert "sendmail: queue is not running" in err, err
    assert ferry.queue_files() == []


def test_sendmail_bp_equals_mailq(ferry):
    ferry.submit("rcpt@example.test")
    ferry.submit("other@example.test", args=("-f", "s@example.org"))
    bp = ferry.sendmail("-bp")
    mq = ferry.mailq()
    assert bp.returncode == mq.returncode == 0
    assert bp.stdout == mq.stdout
    entries, _ = parse_mailq(bp.stdout.decode())
    assert len(entries) == 2
