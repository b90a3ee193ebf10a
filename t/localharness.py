# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Shared pieces of locald's tests (t/test_local*.py).

The `local` fixture is a Ferry installation (conftest's `ferry_factory`)
with queued and locald running, a mail spool of its own made as Debian
makes /var/mail (root:mail, 2775) and an alias_file the test writes:

    def test_x(local):
        alice = local.user("alice")          # a real Unix account
        local.aliases("root: %s" % alice.name)
        local.ferry.submit("root")
        msg = local.wait_mbox(alice)[0]       # mailbox.mboxMessage

Users are made with useradd (so the tests need root; without it they skip
with the reason) under this installation's directory, and removed with
userdel at the end; nothing else of the host changes.  `local.smtp()`
starts smtpd too, on a free loopback port.
"""

import grp
import mailbox
import os
import pwd
import secrets
import shutil
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

import conftest
import sinks
import smtpdharness  # noqa: F401  (smtpd's READY_CHECK)
from conftest import wait_for

DOMAIN = conftest.HOSTNAME          # a local domain (mydestination)


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: makes Unix users with useradd and "
            "delivers as them")


class User:
    def __init__(self, name, home):
        self.name = name
        self.home = Path(home)
        pw = pwd.getpwnam(name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid

    @property
    def addr(self):
        return "%s@%s" % (self.name, DOMAIN)


class Local:
    def __init__(self, ferry):
        self.ferry = ferry
        self.users = []
        self.spool = ferry.base / "mail"
        self.spool.mkdir()
        os.chown(self.spool, 0, grp.getgrnam("mail").gr_gid)
        os.chmod(self.spool, 0o2775)
        self.alias_path = ferry.base / "aliases"
        self.alias_path.write_text("postmaster: root\n")
        self.homes = ferry.base / "home"
        self.homes.mkdir(mode=0o755)
        self.smtp_port = None

    # accounts
    def user(self, stem):
        """A new Unix account ftSTEMxxxx with its home under the test's
        directory; removed at the end of the test."""
        name = ("ft%s%s" % (stem, secrets.token_hex(2)))[:30]
        home = self.homes / name
        subprocess.run(["useradd", "-m", "-d", str(home), "-s", "/bin/sh",
            "-K", "MAIL_DIR=/nonexistent", name], check=True, timeout=30,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        u = User(name, home)
        self.users.append(u)
        self.refresh_table()
        return u

    def remove_users(self):
        """userdel each account, waiting while a process of the user's
        (a delivery just finishing, say) keeps userdel from it: exit 8,
        the user is in use; 6, there is no such user."""
        for u in self.users:
            def removed():
                r = subprocess.run(["userdel", u.name], timeout=30,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return r.returncode in (0, 6)
            wait_for(removed, timeout=30, interval=0.2,
                what="userdel %s: a process of the user's still runs" %
                u.name)
            shutil.rmtree(u.home, ignore_errors=True)
        self.users = []

    def refresh_table(self):
        """locald rereads passwd and aliases on SIGHUP (and every few
        seconds by itself); wait for the table that follows."""
        d = self.ferry.daemons.get("locald")
        if d is None or not d.alive():
            return
        n = len(self.ferry.log_events("local-table", name="locald"))
        self.ferry.signal("locald", 1)
        wait_for(lambda: len(self.ferry.log_events("local-table",
            name="locald")) > n, timeout=10, what="a new local table")

    def aliases(self, *lines):
        self.alias_path.write_text("postmaster: root\n" +
            "".join(l + "\n" for l in lines))
        self.refresh_table()

    # mailboxes
    def mbox_path(self, user):
        return self.spool / user.name

    def mbox(self, user):
        p = self.mbox_path(user)
        if not p.exists():
            return []
        return list(mailbox.mbox(str(p), create=False))

    def wait_mbox(self, user, n=1, timeout=20):
        wait_for(lambda: len(self.mbox(user)) >= n, timeout=timeout,
            what="%d message(s) in %s\n%s" % (n, self.mbox_path(user),
                self.ferry.diagnostics("locald")))
        return self.mbox(user)

    def wait_event(self, event, timeout=20, **match):
        return wait_for(lambda: self.ferry.log_events(event, name="locald",
            **match), timeout=timeout, what="locald.log event=%s %r\n%s" %
            (event, match, self.ferry.diagnostics("locald")))

    def smtp(self):
        """Start smtpd on a free loopback port; returns an smtplib.SMTP
        factory."""
        self.smtp_port = sinks.free_port()
        self.ferry.write_conf(smtp_listen="127.0.0.1:%d" % self.smtp_port)
        self.ferry.start("smtpd")
        return lambda: smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=20)


LOCAL_CONF = dict(
    retry_min="1s",
    retry_max="2s",
    local_command_timeout="20s",
    smtp_listen="",
    accepted_domains="ferry.test",
    myorigin=DOMAIN,                # bare names are local users
)


@pytest.fixture
def local(request, ferry_factory):
    need_root()
    m = request.node.get_closest_marker("ferry_conf")
    conf = dict(LOCAL_CONF, **(m.kwargs if m else {}))
    f = ferry_factory(conf, daemons=())
    lc = Local(f)
    f.write_conf(alias_file=str(lc.alias_path),
        mail_spool_directory=str(lc.spool))
    f.start("queued")
    f.start("locald")
    try:
        yield lc
    finally:
        lc.remove_users()
