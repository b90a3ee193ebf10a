# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""queued.log: one line per event, key=value fields, reopened on SIGHUP."""

import calendar
import os
import pwd
import re
import signal
import stat
import time

import pytest

from conftest import ORIGIN, login_name, parse_log_line, wait_for

# the exact timestamp form is checked by
# test_log_timestamp_is_utc_with_milliseconds
LINE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z queued\[(\d+)\]: '
    r'event=\w+( \w+=("(?:[^"\\]|\\.)*"|[^\s"]*))*$')


def test_log_lines_have_timestamp_program_pid_and_fields(ferry):
    ferry.submit("rcpt@example.test")
    lines = ferry.log().splitlines()
    assert lines, "empty log"
    for line in lines:
        m = LINE.match(line)
        assert m, "malformed log line: %r" % line
        assert int(m[2]) == ferry.pid()


def test_log_timestamp_is_utc_with_milliseconds(ferry):
    # README: `2026-11-23T09:30:56.123Z queued[PID]: event=NAME key=value`
    ferry.submit("rcpt@example.test")
    for line in ferry.log().splitlines():
        m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{3}Z "
            r"queued\[\d+\]: event=", line)
        assert m, line
        stamp = calendar.timegm(time.strptime(m[1], "%Y-%m-%dT%H:%M:%S"))
        assert abs(stamp - time.time()) < 300, line


def test_log_has_one_commit_line_per_message(ferry):
    ids = [ferry.submit("a@example.test", "b@example.test",
        args=("-f", "s@example.org")) for _ in range(3)]
    for msgid in ids:
        (ev,) = ferry.log_events("commit", id=msgid)
        assert ev["from"] == "s@example.org", ev["_line"]
        assert ev["nrcpt"] == "2", ev["_line"]
        size = os.path.getsize(ferry.q_dir / (msgid + ".msg"))
        assert ev["size"] == str(size), ev["_line"]
        assert ev["uid"] == str(os.getuid()), ev["_line"]
    assert len(ferry.log_events("commit")) == 3


def test_log_commit_line_for_default_sender(ferry):
    msgid = ferry.submit("a@example.test")
    (ev,) = ferry.log_events("commit", id=msgid)
    assert ev["from"] == "%s@%s" % (login_name(), ORIGIN)


def test_log_start_line(ferry):
    assert ferry.log_events("start")
    (rec,) = ferry.log_events("recover")
    for key in ("removed", "corrupt", "loaded"):
        assert key in rec, rec["_line"]


def test_log_values_cannot_forge_fields_or_lines(ferry):
    # a sender with spaces or newlines cannot get through sendmail; a
    # full name can, but is not logged as a field of its own
    msgid = ferry.submit("a@example.test",
        args=("-F", "x event=forged id=0000000000000000\nfake line"))
    for line in ferry.log().splitlines():
        assert LINE.match(line), line
    assert not ferry.log_events("forged")
    assert len(ferry.log_events("commit", id=msgid)) == 1


def rotate(ferry, create=True):
    """What logrotate does: move queued.log away and, with its `create`
    option, put an empty file with the old owner and mode in its place (a
    daemon that dropped root cannot create files in the root-owned log
    directory; see etc/logrotate.ferry)."""
    log = ferry.log_path()
    old = log.with_name("queued.log.1")
    st = os.stat(log)
    os.rename(log, old)
    if create:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
            st.st_mode & 0o777)
        os.fchown(fd, st.st_uid, st.st_gid)
        os.close(fd)
    return log, old


def test_sighup_reopens_log(ferry):
    first = ferry.submit("a@example.test")
    log, old = rotate(ferry)
    ferry.signal("queued", signal.SIGHUP)
    # the reopen happens in queued's event loop: wait for its line
    wait_for(lambda: ferry.log_events("reopen"), timeout=5,
        what="event=reopen in the fresh queued.log (old: %s)" %
        old.read_text()[-300:])
    second = ferry.submit("b@example.test")
    wait_for(lambda: ferry.log_events("commit", id=second), timeout=3,
        what="commit of %s in the fresh log" % second)
    assert first not in log.read_text()
    old_text = old.read_text()
    assert first in old_text
    assert second not in old_text
    assert ferry.ping()


def test_sighup_without_new_file_keeps_logging_to_old_one(ferry):
    if os.geteuid() != 0:
        # not privilege-separated: queued creates the file itself
        log, old = rotate(ferry, create=False)
        ferry.signal("queued", signal.SIGHUP)
        wait_for(log.exists, timeout=5, what="a fresh queued.log")
        return
    log, old = rotate(ferry, create=False)
    ferry.signal("queued", signal.SIGHUP)
    wait_for(lambda: "reopen" in old.read_text(), timeout=5,
        what="queued to say in the old file that it could not reopen")
    msgid = ferry.submit("a@example.test")
    assert msgid in old.read_text()
    assert ferry.ping()


def test_sighup_twice_keeps_logging(ferry):
    for i in range(2):
        ferry.signal("queued", signal.SIGHUP)
        time.sleep(0.2)
    msgid = ferry.submit("a@example.test")
    wait_for(lambda: ferry.log_events("commit", id=msgid), timeout=3,
        what="commit line after two SIGHUPs")
    assert ferry.ping()


def test_log_has_a_result_event_for_each_report(ferry):
    # README: a REPORT is logged as delivered, deferred or failed
    import ferryipc as ipc
    from conftest import fetch_work
    msgid = ferry.submit("a@example.test")
    with ferry.ipc() as relayd:
        fetch_work(relayd).close()
        relayd.report(msgid, 0, ipc.TEMPFAIL, "451 4.0.0 later")
    evs = ferry.log_events("deferred", id=msgid)
    assert evs, ferry.log()
    assert parse_log_line(evs[0]["_line"])["id"] == msgid


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: only a daemon "
                    "started as root hands its log file to its user")
def test_a_log_file_that_was_there_keeps_its_owner_and_mode(ferry_factory):
    """queued hands over the log file it makes (its user must reopen it
    on SIGHUP), never one that was there before it started."""
    made = ferry_factory(daemons=())
    made.start("queued")
    st = os.stat(made.log_path())
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (
        pwd.getpwnam("ferry-queue").pw_uid, 0o640)

    f = ferry_factory(daemons=())
    log = f.log_path()
    log.write_text("the admin's line\n")
    os.chmod(log, 0o600)
    f.start("queued")
    st = os.stat(log)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, 0, 0o600)
    assert log.read_text().startswith("the admin's line\n")
    assert f.log_events("start")
