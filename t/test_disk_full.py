# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""A full disk: the queue on a small tmpfs that fills up.  Below
queue_min_free, and when a write meets ENOSPC itself (queue_min_free = 0),
SMTP gets 452 4.3.1 and sendmail exits 75; what was acknowledged before
stays in the queue intact, a refused message leaves nothing behind, and
once space returns Ferry takes mail again without a restart."""

import contextlib
import hashlib
import os
import smtplib
import subprocess

import pytest

from conftest import run, wait_for
from smtpdharness import smtpd  # noqa: F401

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0,
        reason="needs root: mounts a tmpfs for the queue"),
    pytest.mark.smtpd_nostart,
]


@contextlib.contextmanager
def queue_on_tmpfs(smtpd, size, **conf):
    """Stop queued, put a tmpfs of size bytes on its queue directory,
    start queued and smtpd on it; on the way out stop them and unmount."""
    ferry = smtpd.ferry
    ferry.stop("queued")
    qdir = ferry.queue_dir
    r = run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % size,
        "tmpfs", str(qdir)])
    assert r.returncode == 0, r.stderr
    try:
        os.chown(qdir, *ferry.daemon_uid_gid("queued"))  # our mount's root
        ferry.write_conf(**conf)
        ferry.start("queued")
        smtpd.start()
        yield qdir
    finally:
        for name in ("smtpd", "queued"):
            if name in ferry.daemons and ferry.daemons[name].alive():
                ferry.stop(name)
        r = run(["umount", str(qdir)])
        assert r.returncode == 0, r.stderr


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def ballast(qdir, leave):
    """A file of root's beside q/ that leaves about `leave` bytes free."""
    path = qdir / "ballast"
    with open(path, "wb", buffering=0) as f:
        n = free_bytes(qdir) - leave
        block = b"\0" * 65536
        while n > 0:
            try:
                f.write(block[:min(n, len(block))])
            except OSError:
                break
            n -= len(block)
    return path


def message(tag, size):
    body = (("%s " % tag) * (size // (len(tag) + 1) + 1))[:size]
    lines = [body[i:i + 76] for i in range(0, len(body), 76)]
    return ("From: a@example.org\r\nTo: user@ferry.test\r\nSubject: %s\r\n\r\n"
        % tag + "\r\n".join(lines) + "\r\n").encode()


def smtp_send(smtpd, data):
    """(code, text) of the reply to the end of DATA (or an earlier one)."""
    s = smtplib.SMTP("127.0.0.1", smtpd.smtp, timeout=30)
    try:
        s.ehlo("client.example")
        s.mail("a@example.org")
        s.rcpt("user@ferry.test")
        code, text = s.data(data)
        return code, text.decode()
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode()
    finally:
        with contextlib.suppress(Exception):
            s.quit()


def sendmail(ferry, data):
    r = ferry.sendmail("-i", "user@ferry.test", input=data, timeout=60)
    return r.returncode, r.stderr.decode(errors="replace")


def stored(ferry):
    """{queue id: sha256 of its message} for every committed message."""
    return {m: hashlib.sha256(ferry.read_msg(m)).hexdigest()
        for m in ferry.queue_ids()}


def only_committed(ferry):
    """q/ holds exactly ID.msg + ID.env pairs: nothing half written."""
    names = ferry.queue_files()
    ids = {n.split(".")[0] for n in names}
    assert sorted(names) == sorted([i + ".env" for i in ids] +
        [i + ".msg" for i in ids]), names


@pytest.mark.ferry_conf(max_message_size="4M",
    default_route="smtp:[127.0.0.1]:9")
def test_below_queue_min_free_452_and_75_then_recovers(smtpd):
    ferry = smtpd.ferry
    with queue_on_tmpfs(smtpd, 8 << 20, queue_min_free="4M") as qdir:
        assert smtp_send(smtpd, message("before", 20000))[0] == 250
        assert sendmail(ferry, message("before-local", 20000))[0] == 0
        kept = stored(ferry)
        assert len(kept) == 2
        weight = ballast(qdir, 3 << 20)         # under queue_min_free
        code, text = smtp_send(smtpd, message("refused", 1000))
        assert (code, text.split(" ")[0]) == (452, "4.3.1"), (code, text)
        rc, err = sendmail(ferry, message("refused-local", 1000))
        assert rc == 75, err
        assert "free space" in err, err
        assert stored(ferry) == kept
        only_committed(ferry)
        os.unlink(weight)                       # space returns
        assert smtp_send(smtpd, message("after", 1000))[0] == 250
        assert sendmail(ferry, message("after-local", 1000))[0] == 0
        now = stored(ferry)
        assert len(now) == 4 and all(now[m] == h for m, h in kept.items())


@pytest.mark.ferry_conf(max_message_size="4M",
    default_route="smtp:[127.0.0.1]:9")
def test_enospc_while_writing_452_and_75_nothing_half_kept(smtpd):
    """queue_min_free = 0: the writes themselves meet ENOSPC, in smtpd's
    ID.msg and in queued's ID.in."""
    ferry = smtpd.ferry
    with queue_on_tmpfs(smtpd, 8 << 20, queue_min_free="0") as qdir:
        assert smtp_send(smtpd, message("before", 20000))[0] == 250
        kept = stored(ferry)
        weight = ballast(qdir, 256 << 10)
        code, text = smtp_send(smtpd, message("too-big-now", 1 << 20))
        assert (code, text.split(" ")[0]) == (452, "4.3.1"), (code, text)
        rc, err = sendmail(ferry, message("too-big-local", 1 << 20))
        assert rc == 75, err
        assert "no space left" in err, err
        wait_for(lambda: stored(ferry) == kept, timeout=10,
            what="refused messages removed")
        only_committed(ferry)
        assert smtpd.ferry.ping() and ferry.daemons["smtpd"].alive()
        os.unlink(weight)
        assert smtp_send(smtpd, message("after", 1 << 20))[0] == 250
        assert sendmail(ferry, message("after-local", 1 << 20))[0] == 0
        assert len(stored(ferry)) == 3
