# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""mailq(1): the Postfix-style queue listing."""

import re


from conftest import parse_mailq


def test_mailq_empty_queue_says_mail_queue_is_empty(ferry):
    r = ferry.mailq()
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "Mail queue is empty"


def test_sendmail_bp_on_empty_queue_equals_mailq(ferry):
    assert ferry.sendmail("-bp").stdout == ferry.mailq().stdout


def test_mailq_has_postfix_header_and_total_line(ferry):
    msgid = ferry.submit("rcpt@example.test", body="x" * 3000 + "\n")
    r = ferry.mailq()
    text = r.stdout.decode()
    lines = text.splitlines()
    assert lines[0].startswith("-Queue ID-"), text
    assert re.match(r"^%s\s+\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d\s+\S"
        % msgid, lines[1]), text
    entries, total = parse_mailq(text)
    assert [e["id"] for e in entries] == [msgid]
    assert total is not None, text
    m = re.fullmatch(r"-- (\d+) Kbytes in 1 Request\.", total)
    assert m, total
    kbytes = int(m[1])
    size = entries[0]["size"]
    assert kbytes in (size // 1024, (size + 1023) // 1024), (kbytes, size)


def test_mailq_counts_requests(ferry):
    for i in range(3):
        ferry.submit("rcpt%d@example.test" % i)
    entries, total = parse_mailq(ferry.mailq().stdout.decode())
    assert len(entries) == 3
    assert re.fullmatch(r"-- \d+ Kbytes in 3 Requests\.", total), total


def test_mailq_shows_every_recipient_once(ferry):
    rcpts = ["a%d@example.test" % i for i in range(10)]
    ferry.submit(*rcpts)
    (e,) = ferry.mailq_entries()
    assert e["rcpts"] == rcpts


def test_mailq_works_without_queued_as_error_not_hang(ferry_factory):
    ferry = ferry_factory(daemons=())
    r = ferry.mailq(timeout=15)
    # Postfix says "mail system is down"; ours is EX_TEMPFAIL, as sendmail's
    assert r.returncode == 75, r
    assert r.stderr
