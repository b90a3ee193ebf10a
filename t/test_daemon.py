"""queued as a daemon: privileges, chroot, pidfile, signals, ping."""

import os
import pwd
import signal

import pytest

from conftest import BIN, run, wait_for


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


def test_queued_without_root_runs_as_the_invoking_user(ferry_factory):
    if os.geteuid() == 0:
        pytest.skip("runs as root here")
    ferry = ferry_factory()
    assert proc_status(ferry.pid())["Uid"][0] == str(os.getuid())


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
