# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Directories a daemon makes its own: queued's queue_directory (and its
q/ and corrupt/), relayd's Maildir base, the directory of delegated's
delegate_cache_file.  A daemon started as root makes a missing one and
hands it to its user; an existing one it takes only from that user, and it
never chowns or chmods a directory it did not make (/home, /etc/ferry, /):
anything else is a configuration error, exit 78, naming the file, line and
key."""

import contextlib
import os
import pwd
import subprocess

import pytest

from conftest import BIN, daemon_env, run, wait_for
from delegateharness import delegate  # noqa: F401
from relayharness import relay  # noqa: F401

needs_root = pytest.mark.skipif(os.geteuid() != 0,
    reason="needs root: only root can chown, and daemons drop to their "
    "own users only when started as root")


def conf_line(ferry, key):
    """The line number of `key = ...` in ferry's ferry.conf."""
    for n, line in enumerate(ferry.conf_path.read_text().splitlines(), 1):
        if line.split("=", 1)[0].strip() == key:
            return n
    raise AssertionError("%s not in %s" % (key, ferry.conf_path))


def refused(argv, what):
    """Run a daemon that must refuse to start: its stderr."""
    try:
        r = run(argv, timeout=15, env=daemon_env())
    except subprocess.TimeoutExpired:
        pytest.fail("%s kept running" % what, pytrace=False)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 78, (r.returncode, err)
    return err


def snapshot(path):
    """Owner, group, mode and entries of a directory."""
    st = os.stat(path)
    return st.st_uid, st.st_gid, st.st_mode, sorted(os.listdir(path))


@contextlib.contextmanager
def untouched(path):
    """Assert that path keeps its owner, group, mode and entries; should a
    broken daemon change them (the root directory!), put them back before
    failing."""
    st = os.stat(path)
    before = snapshot(path)
    try:
        yield
    finally:
        after = snapshot(path)
        if after[:3] != before[:3]:
            os.chown(path, st.st_uid, st.st_gid)
            os.chmod(path, st.st_mode & 0o7777)
    assert after == before, (path, before, after)


def foreign_dir(path):
    """A directory as a system has it: root's, 0755, with something in it
    (a user's home, a file in /etc/ferry)."""
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)
    (path / "someone").mkdir()
    return snapshot(path)


def queued_refuses(ferry):
    return refused([BIN / "queued", "-f", "-c", ferry.conf_path], "queued")


def user_of(ferry, daemon):
    return ferry.daemon_user(daemon)


@needs_root
def test_queued_makes_a_missing_queue_directory_private(ferry_factory):
    ferry = ferry_factory(daemons=())
    os.rmdir(ferry.queue_dir)
    ferry.start("queued")
    uid, gid = ferry.daemon_uid_gid("queued")
    for d in (ferry.queue_dir, ferry.q_dir, ferry.corrupt_dir):
        st = os.stat(d)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == \
            (uid, gid, 0o700), d


@needs_root
def test_queued_refuses_a_queue_directory_of_another_user(ferry_factory):
    """An existing queue_directory that belongs to root: exit 78 naming
    ferry.conf's line, and the directory is left exactly as it was."""
    ferry = ferry_factory(daemons=())
    spool = ferry.base / "spool"
    before = foreign_dir(spool)
    ferry.write_conf(queue_directory=str(spool))
    err = queued_refuses(ferry)
    assert "%s:%d: queue_directory = %s" % (ferry.conf_path,
        conf_line(ferry, "queue_directory"), spool) in err, err
    assert "belongs to root, not %s" % user_of(ferry, "queued") in err, err
    assert snapshot(spool) == before


@needs_root
def test_queued_refuses_a_q_directory_of_another_user(ferry_factory):
    """queue_directory is ferry-queue's but q/ in it is root's: refused,
    q/ untouched."""
    ferry = ferry_factory(daemons=())
    before = foreign_dir(ferry.q_dir)
    err = queued_refuses(ferry)
    assert "queue_directory = %s" % ferry.queue_dir in err, err
    assert "%s belongs to root" % ferry.q_dir in err, err
    assert snapshot(ferry.q_dir) == before


def test_queued_refuses_the_root_directory(ferry_factory):
    """queue_directory = /: refused (it is root's, not the queue user's,
    nor ours when we are not root), / untouched."""
    ferry = ferry_factory(daemons=())
    ferry.write_conf(queue_directory="/")
    with untouched("/"):
        err = queued_refuses(ferry)
    assert "queue_directory = /: / belongs to root" in err, err


def test_queued_refuses_a_queue_directory_others_may_write(ferry_factory):
    """Its own user's directory, but mode 0777: refused, not chmodded."""
    ferry = ferry_factory(daemons=())
    os.chmod(ferry.queue_dir, 0o777)
    err = queued_refuses(ferry)
    assert "writable by group or others (mode 0777)" in err, err
    assert os.stat(ferry.queue_dir).st_mode & 0o7777 == 0o777


def relayd_refuses(ferry):
    return refused([BIN / "relayd", "-f", "-c", ferry.conf_path], "relayd")


@needs_root
def test_relayd_refuses_a_maildir_base_of_another_user(ferry_factory):
    """maildir:BASE/home/%u/Maildir in routes_file with BASE/home root's
    (as /home is): exit 78 naming the routes_file line; /home is not
    handed to the relay user."""
    ferry = ferry_factory(daemons=())
    home = ferry.base / "home"
    before = foreign_dir(home)
    routes = ferry.base / "routes"
    routes.write_text("# local mail\nferry.test maildir:%s/%%u/Maildir\n"
        % home)
    ferry.write_conf(routes_file=str(routes))
    err = relayd_refuses(ferry)
    assert "%s:2: ferry.test maildir:%s/%%u/Maildir: %s belongs to root, "\
        "not %s" % (routes, home, home, user_of(ferry, "relayd")) in err, err
    assert snapshot(home) == before


def test_relayd_refuses_a_maildir_route_at_the_root(ferry_factory):
    """default_route = maildir:/%u/Maildir would hand / to the relay
    user: refused, naming ferry.conf's line."""
    ferry = ferry_factory(daemons=())
    ferry.write_conf(default_route="maildir:/%u/Maildir")
    with untouched("/"):
        err = relayd_refuses(ferry)
    assert "%s:%d: default_route = maildir:/%%u/Maildir: / belongs to "\
        "root" % (ferry.conf_path, conf_line(ferry, "default_route")) \
        in err, err


@needs_root
def test_relayd_makes_a_missing_maildir_base(relay):
    """The base that does not exist is made, for the relay user alone to
    write, and mail is delivered below it."""
    base = relay.ferry.base / "mailboxes"
    relay.ferry.write_conf(default_route="maildir:%s/%%u/Maildir" % base)
    relay.start()
    st = os.stat(base)
    uid, gid = relay.ferry.daemon_uid_gid("relayd")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (uid, gid, 0o755)
    relay.ferry.submit("ann@ferry.test")
    new = base / "ann" / "Maildir" / "new"
    wait_for(lambda: new.is_dir() and os.listdir(new), timeout=10,
        what="delivery into the Maildir")


@needs_root
@pytest.mark.delegate_nostart
def test_delegated_refuses_a_cache_directory_of_another_user(delegate):
    """delegate_cache_file = BASE/etc/ferry/x.cache with that directory
    root's: exit 78 naming the key's line; the directory is not handed
    to the delegated user."""
    ferry = delegate.ferry
    etc = ferry.base / "etc"
    before = foreign_dir(etc)
    ferry.write_conf(delegate_cache_file=str(etc / "x.cache"))
    r = delegate.run_delegated()
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 78, (r.returncode, err)
    assert "%s:%d: delegate_cache_file = %s/x.cache: %s belongs to root, " \
        "not %s" % (ferry.conf_path, conf_line(ferry, "delegate_cache_file"),
        etc, etc, pwd.getpwuid(ferry.daemon_uid_gid("delegated")[0])
        .pw_name) in err, err
    assert snapshot(etc) == before
