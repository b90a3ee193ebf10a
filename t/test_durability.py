# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Durability in order: every 250, every sendmail exit 0 and every answer
to a delivery report comes after the syncs that make it durable.

Killing a process leaves the page cache intact, so a crash test cannot
see a missing fdatasync.  Here queued runs with t/shim/bin/syncrec.so
preloaded, which records every open, fdatasync, fsync, rename, unlink and
IPC frame sent, in order; check_order() then demands, per message:

- new message (COMMITTED ID): fdatasync of q/ID.msg and of q/ID.tmp,
  then rename q/ID.tmp -> q/ID.env, then an fsync of q/, then COMMITTED
  (one directory fsync may cover several messages: group commit);
- recipient update (a REPORT's OK): the envelope's rename, then an fsync
  of q/, then the OK on that agent's connection;
- bounce: the bounce's envelope renamed and q/ fsynced before the
  original's envelope is rewritten or removed.

FERRY_SYNCREC_SKIP drops one call, and the checker must notice."""

import pytest

import ferryipc as ipc
from conftest import REPO, fetch_work, wait_for

SHIM = REPO / "t" / "shim" / "bin" / "syncrec.so"


class Record:
    def __init__(self, path):
        self.events = []
        for line in path.read_text().splitlines():
            self.events.append(line.split(" "))

    def index(self, pred, start=0):
        for i in range(start, len(self.events)):
            if pred(self.events[i]):
                return i
        return None


def is_dir_fsync(e):
    return e[0] == "fsync" and (e[2] == "q" or e[2].endswith("/q"))


def check_new(rec, msgid):
    """Raises AssertionError naming what is out of order for msgid."""
    committed = rec.index(lambda e: e[0] == "send" and
        e[2] == str(ipc.COMMITTED) and e[3] == msgid)
    assert committed is not None, "no COMMITTED %s recorded" % msgid
    rename = rec.index(lambda e: e[0] == "rename" and
        e[1].endswith("%s.tmp" % msgid) and e[2].endswith("%s.env" % msgid))
    assert rename is not None and rename < committed, \
        "%s: no rename of the envelope before COMMITTED" % msgid
    for suffix in ("msg", "tmp"):
        i = rec.index(lambda e: e[0] == "fdatasync" and
            e[2].endswith("%s.%s" % (msgid, suffix)))
        assert i is not None and i < rename, \
            "%s: no fdatasync of %s.%s before the rename" % (msgid, msgid,
                suffix)
    dsync = rec.index(is_dir_fsync, rename + 1)
    assert dsync is not None and dsync < committed, \
        "%s: COMMITTED before an fsync of q/ covered the rename" % msgid


def check_updates(rec, msgid):
    """Each later rename of msgid's envelope is covered by an fsync of q/
    before the next OK queued sends on any connection (the REPORT's)."""
    n = 0
    first = rec.index(lambda e: e[0] == "send" and
        e[2] == str(ipc.COMMITTED) and e[3] == msgid)
    i = first
    while True:
        i = rec.index(lambda e: e[0] == "rename" and
            e[2].endswith("%s.env" % msgid), i + 1)
        if i is None:
            return n
        ok = rec.index(lambda e: e[0] == "send" and e[2] == str(ipc.OK),
            i + 1)
        assert ok is not None, "no OK after the update of %s" % msgid
        dsync = rec.index(is_dir_fsync, i + 1)
        assert dsync is not None and dsync < ok, \
            "%s: OK to the report before q/ was fsynced" % msgid
        n += 1


def check_bounce(rec, orig, bounce):
    rename = rec.index(lambda e: e[0] == "rename" and
        e[2].endswith("%s.env" % bounce))
    assert rename is not None, "bounce %s never committed" % bounce
    for suffix in ("msg", "tmp"):
        i = rec.index(lambda e: e[0] == "fdatasync" and
            e[2].endswith("%s.%s" % (bounce, suffix)))
        assert i is not None and i < rename, \
            "bounce %s: no fdatasync of .%s before its rename" % (bounce,
                suffix)
    dsync = rec.index(is_dir_fsync, rename + 1)
    touch = rec.index(lambda e: (e[0] == "rename" and
        e[2].endswith("%s.env" % orig)) or (e[0] == "unlink" and
        orig in e[1]), rename + 1)
    assert touch is not None, "original %s not updated" % orig
    assert dsync is not None and dsync < touch, \
        "%s marked failed before its bounce %s was durable" % (orig, bounce)


def start_recorded(ferry, skip=None):
    if not SHIM.exists():
        pytest.fail("%s not built (run make)" % SHIM, pytrace=False)
    path = ferry.base / "syncrec.log"
    env = {"LD_PRELOAD": str(SHIM), "FERRY_SYNCREC": str(path)}
    if skip:
        env["FERRY_SYNCREC_SKIP"] = skip
    ferry.restart("queued", env=env)
    return path


def deliver_as_agent(ferry, msgid, result, text):
    with ferry.ipc() as relayd:
        w = fetch_work(relayd)
        w.close()
        assert w.id == msgid, w
        r = relayd.report(msgid, 0, result, text)
        assert r.type == ipc.OK, r


def test_every_acknowledgement_follows_its_syncs(ferry):
    path = start_recorded(ferry)
    ids = [ferry.submit("a%d@example.test" % i) for i in range(5)]
    # a recipient update: one of them delivered, as relayd reports it
    deliver_as_agent(ferry, ids[0], ipc.TEMPFAIL, "451 4.3.0 try later")
    # a bounce: the next one (the first waits for its retry) fails for good
    deliver_as_agent(ferry, ids[1], ipc.PERMFAIL, "550 5.1.1 no such user")
    (bev,) = wait_for(lambda: ferry.log_events("bounce", id=ids[1]),
        what="the bounce of %s" % ids[1])
    ferry.stop("queued")
    rec = Record(path)
    for msgid in ids:
        check_new(rec, msgid)
    assert check_updates(rec, ids[0]) >= 1
    check_bounce(rec, ids[1], bev["bounce"])


@pytest.mark.parametrize("skip,complaint", [
    ("fdatasync:.msg", "no fdatasync of .*msg"),
    ("fdatasync:.tmp", "no fdatasync of .*tmp"),
    ("fsync:q", "fsync of q/")])
def test_checker_notices_a_missing_sync(ferry, skip, complaint):
    """With one kind of sync dropped by the shim, the checker fails: so
    deleting that call from queued would fail the test above."""
    path = start_recorded(ferry, skip=skip)
    msgid = ferry.submit("a@example.test")
    ferry.stop("queued")
    with pytest.raises(AssertionError, match=complaint):
        check_new(Record(path), msgid)


@pytest.mark.ferry_daemons()
@pytest.mark.parametrize("nth,step", [("#1", "fdatasync ID.msg"),
    ("#2", "fdatasync ID.tmp")])
def test_a_failed_sync_is_logged_with_its_step_and_cause(ferry, nth, step):
    """An fdatasync of the commit failing (EIO from t/shim/bin/failsync.so):
    sendmail exits 75, nothing is kept, and queued's log names the step
    and the cause, not only "sync failed".  The first message's commit
    syncs ID.msg, then ID.tmp: the shim fails the NTH fdatasync."""
    shim = REPO / "t" / "shim" / "bin" / "failsync.so"
    ferry.start("queued", env={"LD_PRELOAD": str(shim),
        "FERRY_FAIL_DATASYNC": nth})
    r = ferry.sendmail("-i", "a@example.test", input=b"Subject: x\n\nx\n")
    assert r.returncode == 75, r.stderr
    assert b"cannot write the queue file" in r.stderr, r.stderr
    lines = [l for l in ferry.log().splitlines() if "cannot commit" in l]
    assert len(lines) == 1, ferry.log()
    assert "cannot commit: %s: Input/output error" % step in lines[0], \
        lines[0]
    wait_for(lambda: ferry.queue_files() == [], timeout=5,
        what="the failed message removed (%r)" % ferry.queue_files())
