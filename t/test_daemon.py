# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""queued as a daemon: privileges, chroot, pidfile, signals, ping."""

import os
import pwd
import signal

import pytest

import ferryipc as ipc
from conftest import BIN, fetch_work, run, wait_for


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_queued_as_root_drops_to_queue_user_and_chroots(ferry):
    pid = ferry.pid()
    user = pwd.getpwnam(ferry.conf.get("queue_user", "ferry-queue"))
    st = proc_status(pid)
    assert [int(x) for x in st["Uid"]] == [user.pw_uid] * 4, st["Uid"]
    assert [int(x) for x in st["Gid"]] == [user.pw_gid] * 4, st["Gid"]
    assert st["Groups"] == [] or st["Groups"] == [str(user.pw_gid)], \
        st["Groups"]
    assert st["NoNewPrivs"] == ["1"]
    assert os.readlink("/proc/%d/root" % pid) == str(ferry.queue_dir)


def test_queued_unprivileged_runs_as_invoking_user_and_exits_clean(
        ferry_factory):
    """Started by an ordinary user (as root here: by nobody, through
    setpriv), queued stays that user, does not chroot, serves a whole
    message life and exits 0 on SIGTERM.  Without chroot LeakSanitizer
    works, so under SAN=1 this also proves queued leaks nothing."""
    import conftest
    ferry = ferry_factory(daemons=())
    with conftest.unprivileged_daemon("queued", ferry.conf_path,
            (ferry.queue_dir, ferry.run_dir, ferry.log_dir)) as proc:
        wait_for(ferry.ping, timeout=10, what="unprivileged queued")
        st = proc_status(proc.pid)
        assert st["Uid"][0] == str(os.getuid() if os.geteuid() != 0
            else pwd.getpwnam("nobody").pw_uid)
        assert os.readlink("/proc/%d/root" % proc.pid) == "/"
        done = ferry.submit("a@example.test")
        kept = ferry.submit("b@example.test", "c@example.test",
            args=("-t",), headers=(("Bcc", "d@example.test"),))
        with ferry.ipc() as relayd:
            for _ in range(2):
                w = fetch_work(relayd)
                w.close()
                result = ipc.DELIVERED if w.id == done else ipc.TEMPFAIL
                for index, _addr in w.rcpts:
                    relayd.report(w.id, index, result, "250 ok")
        assert [e["id"] for e in ferry.mailq_entries()] == [kept]


def test_ping_answers_while_running_and_fails_when_stopped(ferry):
    assert ferry.control("ping", "queued").returncode == 0
    ferry.stop()
    r = ferry.control("ping", "queued")
    assert r.returncode == 1


def test_pidfile_holds_queued_pid(ferry):
    pidfile = ferry.run_dir / "queued.pid"
    assert int(pidfile.read_text().strip()) == ferry.pid()


def test_sigterm_exits_0(ferry):
    assert ferry.stop(sig=signal.SIGTERM) == 0


def test_queued_without_f_daemonizes_and_stops_on_sigterm(ferry_factory):
    ferry = ferry_factory(daemons=())
    r = run([BIN / "queued", "-c", ferry.conf_path], timeout=15)
    assert r.returncode == 0, r.stderr
    pidfile = ferry.run_dir / "queued.pid"
    wait_for(pidfile.exists, timeout=5, what="queued.pid")
    wait_for(lambda: pidfile.read_text().strip(), timeout=5,
        what="pid in queued.pid")
    pid = int(pidfile.read_text().strip())
    try:
        wait_for(ferry.ping, timeout=5, what="daemonized queued to answer")
        ferry.submit("a@example.test")
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
        proc_status(pid)["State"][0] == "Z", timeout=10,
        what="daemonized queued (pid %d) to exit" % pid)
