# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""delegated as a daemon: configuration errors (exit 78), its user,
SIGTERM, and passwords kept out of the logs and the cache file
(doc/delegated.md; README, Running the daemons)."""

import os
import pwd
import re

import pytest

from delegateharness import (DELEG_ONLY_ALICE_PW, DELEG_USERS,  # noqa: F401
    PROBE_SENDER, delegate, files_under, secrets_in)
from conftest import wait_for
from smtpdharness import USERS, b64, plain_blob


def conf_error(delegate, **keys):
    delegate.ferry.write_conf(**keys)
    r = delegate.run_delegated()
    return r.returncode, r.stderr.decode(errors="replace")


@pytest.mark.delegate_nostart
def test_recipients_domain_not_accepted(delegate):
    """delegate_recipients naming a domain that is not in accepted_domains:
    exit 78, the message naming the file and the domain."""
    rc, err = conf_error(delegate,
        delegate_recipients="ferry.test elsewhere.example")
    assert rc == 78, (rc, err)
    assert str(delegate.ferry.conf_path) in err, err
    assert "elsewhere.example" in err, err


@pytest.mark.delegate_nostart
def test_auth_domain_not_accepted(delegate):
    """delegate_auth naming a domain that is not in accepted_domains:
    exit 78, the message naming the file and the domain."""
    rc, err = conf_error(delegate, delegate_auth="elsewhere.example")
    assert rc == 78, (rc, err)
    assert str(delegate.ferry.conf_path) in err, err
    assert "elsewhere.example" in err, err


@pytest.mark.delegate_nostart
def test_auth_without_servers(delegate):
    """delegate_auth without delegate_servers: exit 78, naming the file
    and delegate_servers; so does delegate_recipients without servers."""
    rc, err = conf_error(delegate, delegate_servers="",
        delegate_recipients="")
    assert rc == 78, (rc, err)
    assert str(delegate.ferry.conf_path) in err, err
    assert "delegate_servers" in err, err
    rc, err = conf_error(delegate, delegate_auth="",
        delegate_recipients="ferry.test")
    assert rc == 78, (rc, err)
    assert "delegate_servers" in err, err


@pytest.mark.delegate_nostart
@pytest.mark.parametrize("key,value", [
    ("delegate_tls", "sometimes"),
    ("delegate_rate", "0"),
    ("delegate_connections", "many"),
    ("delegate_wait", "soon"),
    ("delegate_reject_text", "verbose"),
    ("delegate_login_form", "upper-case"),
])
def test_bad_values(delegate, key, value):
    """A bad value of a delegate key: exit 78 with FILE:LINE:."""
    rc, err = conf_error(delegate, **{key: value})
    assert rc == 78, (rc, err)
    assert "%s:" % delegate.ferry.conf_path in err, err


def test_runs_as_delegate_user(delegate):
    """Started as root, delegated runs as delegate_user (ferry-deleg)."""
    uid, gid = delegate.ferry.daemon_uid_gid("delegated")
    with open("/proc/%d/status" % delegate.ferry.pid("delegated")) as f:
        status = dict(l.split(":", 1) for l in f.read().splitlines()
            if ":" in l)
    assert [int(x) for x in status["Uid"].split()] == [uid] * 4, status
    assert [int(x) for x in status["Gid"].split()] == [gid] * 4, status


def test_sigterm_exits_zero(delegate):
    """SIGTERM: exit 0."""
    assert delegate.rcpt("erin@ferry.test").code == 250
    assert delegate.ferry.stop("delegated") == 0


def test_smtpd_without_delegated(delegate):
    """delegated stopped: smtpd says 454 4.7.0 to a delegate user's AUTH
    and 451 4.4.3 to a delegated recipient, and still serves the rest
    (a local user, a table recipient)."""
    delegate.ferry.stop("delegated")
    r = delegate.auth("carol", DELEG_USERS["carol"])
    assert r.startswith("454 4.7.0"), r
    assert delegate.auth("alice", USERS["alice"]).code == 235
    rs = delegate.rcpts("erin@ferry.test", "user@ferry.test")
    assert rs[0].startswith("451 4.4.3"), rs
    assert rs[1].startswith("250 2."), rs
    # and once it is back, smtpd asks it again
    delegate.start_delegated()
    assert delegate.rcpt("erin@ferry.test").code == 250


def test_passwords_not_in_logs_or_cache(delegate):
    """After good and bad AUTHs (delegate users, a local user, the
    delegate refusing basic auth) and some probes, no file under the log
    directory, no daemon's stderr and not the cache file holds a
    password, in clear, in base64 or as the client's PLAIN blob; nor does
    the cache file hold the delegate users' names (credentials are cached
    in memory only)."""
    bad = "Wr0ng-Deleg-Pa55-xyzzy-77"
    attempts = [("carol", DELEG_USERS["carol"]), ("carol", bad),
        ("dave@ferry.test", DELEG_USERS["dave@ferry.test"]),
        ("zed", bad), ("alice", USERS["alice"]),
        ("alice", DELEG_ONLY_ALICE_PW)]
    for user, pw in attempts:
        delegate.auth(user, pw)
        delegate.auth(user, pw, mech="login")
    delegate.sink.auth_reply = "550 5.7.30 Basic authentication is not " \
        "supported for Client Submission"
    delegate.auth("frank", DELEG_USERS["frank"])
    delegate.sink.auth_reply = None
    delegate.rcpts("erin@ferry.test", "nobody@ferry.test")
    delegate.smtpd.stop()
    delegate.ferry.stop("delegated")
    assert delegate.cache_file.exists(), list(delegate.state.iterdir())
    needles = []
    for user, pw in attempts + [("frank", DELEG_USERS["frank"])]:
        needles += [pw.encode(), b64(pw).encode(),
            plain_blob(user, pw).encode()]
    paths = files_under(delegate.ferry.log_dir) + \
        files_under(delegate.state) + \
        [str(d.err_path) for d in delegate.ferry.daemons.values()] + \
        [str(d.out_path) for d in delegate.ferry.daemons.values()]
    assert any("delegated" in p for p in paths), paths
    found = secrets_in(paths, needles)
    assert found == [], found
    cache = delegate.cache_file.read_bytes()
    for user in ("carol", "dave", "frank", "zed"):
        assert user.encode() not in cache, (user, cache)
    assert b"erin@ferry.test" in cache, cache


def test_cache_file_private(delegate):
    """The cache file (recipient answers) and the directory delegated
    made for it belong to delegated's user and are not writable by
    others."""
    assert delegate.rcpt("erin@ferry.test").code == 250
    delegate.ferry.stop("delegated")
    st = os.stat(delegate.cache_file)
    uid, _ = delegate.ferry.daemon_uid_gid("delegated")
    assert st.st_uid == uid, st
    assert st.st_mode & 0o022 == 0, oct(st.st_mode)
    # its directory, made by delegated, is its user's too
    st = os.stat(delegate.state)
    assert st.st_uid == uid, st
    assert st.st_mode & 0o022 == 0, oct(st.st_mode)


def test_selfcheck_at_start(delegate):
    """At start delegated probes a made-up address of each
    delegate_recipients domain with the probe sender; the delegate
    refuses it (event=selfcheck), the answer is not cached, `ferry-control
    delegate status` exits 0, and `ferryctl status` (every daemon
    running) exits 0 without a warning."""
    (cmd,) = delegate.sink.selfcheck_rcpts()
    addr = cmd.split("<", 1)[1].split(">", 1)[0]
    assert addr.lower().endswith("@ferry.test"), cmd
    assert delegate.sink.mail_before(addr).startswith(
        "MAIL FROM:<%s>" % PROBE_SENDER), delegate.sink.show()
    assert delegate.events("selfcheck"), delegate.log()
    assert not delegate.events("delegate-catchall"), delegate.log()
    out = delegate.ctl("delegate", "list").stdout.decode()
    assert addr not in out, out
    r = delegate.ferry.control("delegate", "status")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    delegate.ferry.start("relayd")
    r = delegate.ctl("status")
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 0, (r.returncode, out)
    assert "ineffective" not in out and "catch-all" not in out, out


@pytest.mark.ferry_conf(delegate_selfcheck="no")
def test_selfcheck_off(delegate):
    """delegate_selfcheck = no: no made-up address is probed at start."""
    assert delegate.rcpt("erin@ferry.test").code == 250
    assert delegate.sink.selfcheck_rcpts() == [], delegate.sink.show()
    assert not delegate.selfcheck_events(), delegate.log()


@pytest.mark.delegate_sink(catchall=True)
def test_selfcheck_catchall(delegate):
    """A delegate that accepts the made-up address (a catch-all):
    event=delegate-catchall domain=ferry.test in delegated.log, and
    `ferryctl status` prints a warning naming the domain and exits 69."""
    ev = delegate.events("delegate-catchall")
    assert ev and ev[0].get("domain") == "ferry.test", delegate.log()
    delegate.ferry.start("relayd")
    r = delegate.ctl("status")
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode == 69, (r.returncode, out)
    assert "ferry.test" in out, out
    assert re.search(r"catch-all|made-up|ineffective", out), out


# --- the sockets ------------------------------------------------------------

DELEG_AUTH, DELEG_RCPT, DELEG_ANSWER, DELEG_LIST, DELEG_FORGET = \
    50, 51, 52, 54, 56      # common/ipc.h


def ask_as(user, path, mtype, *fields):
    """In a child process running as USER: HELLO on PATH, then one frame;
    returns the type of the answer (None: refused, closed or nothing in
    3 s)."""
    import ferryipc as ipc
    pw = pwd.getpwnam(user)
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        answer = b"-"
        try:
            os.close(rd)
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            with ipc.connect(path, name="smtpd", timeout=3) as c:
                c.send(mtype, *fields)
                f = c.recv_frame(3)
                answer = b"%d %s" % (f.type, repr(f.fields).encode())
        except BaseException:
            pass
        finally:
            os.write(wr, answer)
            os._exit(0)
    os.close(wr)
    os.waitpid(pid, 0)
    with os.fdopen(rd, "rb") as f:
        out = f.read().decode()
    return None if out == "-" else out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change uid")
def test_smtpd_socket_only_for_smtpd(delegate):
    """run_directory/smtpd/delegated.sock answers smtpd's user (DELEG_RCPT
    -> DELEG_ANSWER yes), and nobody else: nobody's DELEG_AUTH and
    DELEG_RCPT get no DELEG_ANSWER."""
    path = str(delegate.ferry.run_dir / "smtpd" / "delegated.sock")
    smtpd_user = delegate.ferry.daemon_user("smtpd")
    r = ask_as(smtpd_user, path, DELEG_RCPT, "erin@ferry.test",
        "sender@example.net")
    assert r is not None and r.startswith("%d [0" % DELEG_ANSWER), r
    r = ask_as("nobody", path, DELEG_RCPT, "grace@ferry.test", "")
    assert r is None or not r.startswith("%d " % DELEG_ANSWER), r
    r = ask_as("nobody", path, DELEG_AUTH, "carol", DELEG_USERS["carol"])
    assert r is None or not r.startswith("%d " % DELEG_ANSWER), r
    assert delegate.sink.rcpt_count("grace@ferry.test") == 0
    assert delegate.sink.auth_attempts == []


INJECTED = "victim@example.net"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change uid")
@pytest.mark.ferry_conf(delegate_probe_sender="sender")
@pytest.mark.parametrize("sender", [
    "a@example.net>\r\nRCPT TO:<%s>" % INJECTED,
    "a@example.net>\nRCPT TO:<%s>" % INJECTED,
    "a@example.net>\rRCPT TO:<%s>" % INJECTED,
    "a@example.net>\x00\r\nRCPT TO:<%s>" % INJECTED,
    "<a@example.net> SIZE=1\r\nRCPT TO:<%s>" % INJECTED,
], ids=["crlf", "lf", "cr", "nul", "parameter"])
def test_smtpd_socket_refuses_a_sender_that_is_no_address(delegate, sender):
    """A DELEG_RCPT whose sender (the probe's MAIL FROM with
    delegate_probe_sender = sender) is not an address, as a compromised
    smtpd could send to inject commands, is refused: the connection is
    closed, the delegate sees no injected command, and delegated answers
    the next good question."""
    path = str(delegate.ferry.run_dir / "smtpd" / "delegated.sock")
    smtpd_user = delegate.ferry.daemon_user("smtpd")
    r = ask_as(smtpd_user, path, DELEG_RCPT, "erin@ferry.test", sender)
    assert r is None, r
    wait_for(lambda: delegate.events("ipc-close"),
        what="delegated logs the refused question")
    r = ask_as(smtpd_user, path, DELEG_RCPT, "erin@ferry.test",
        "someone@example.net")
    assert r is not None and r.startswith("%d [0" % DELEG_ANSWER), r
    mail = delegate.sink.mail_before("erin@ferry.test")
    assert mail is not None and mail.startswith(
        "MAIL FROM:<someone@example.net>"), delegate.sink.show()
    cmds = [c for cs in delegate.sink.sessions().values() for c in cs]
    assert not [c for c in cmds if INJECTED in c], delegate.sink.show()
    assert delegate.sink.rcpt_count("erin@ferry.test") == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change uid")
def test_control_socket_refuses_others(delegate):
    """run_directory/delegated.sock (ferryctl's) refuses other users:
    nobody's DELEG_FORGET all does not empty the cache."""
    assert delegate.rcpt("erin@ferry.test").code == 250
    path = str(delegate.ferry.run_dir / "delegated.sock")
    ask_as("nobody", path, DELEG_FORGET, "all")
    assert delegate.rcpt("erin@ferry.test").code == 250
    assert delegate.sink.rcpt_count("erin@ferry.test") == 1


@pytest.mark.delegate_nostart
@pytest.mark.ferry_conf(delegate_user="nobody")
def test_unprivileged_delegated_exits_clean(delegate):
    """Started by an ordinary user (as root here: by nobody, through
    setpriv), delegated stays that user, probes recipients and
    credentials for ferryctl, writes its cache and exits 0 on SIGTERM.
    Without chroot LeakSanitizer works, so under SAN=1 this also proves
    delegated's probe, cache and worker paths leak nothing."""
    import conftest
    ferry = delegate.ferry
    # run/smtpd is root's (queued made it); nobody binds a socket there
    own = (ferry.run_dir, ferry.run_dir / "smtpd", ferry.log_dir,
        delegate.state.parent)
    with conftest.unprivileged_daemon("delegated", ferry.conf_path, own):
        conftest.wait_for(lambda: ferry.ping("delegated"), timeout=10,
            what="unprivileged delegated")
        for addr in ("known@ferry.test", "nobody@ferry.test"):
            r = delegate.ctl("delegate", "test", addr)
            assert r.returncode == 0, r.stderr
        r = delegate.ctl("delegate", "list")
        assert b"nobody@ferry.test" in r.stdout, r.stdout
    assert delegate.cache_file.exists()
