# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""locald: local delivery to real Unix accounts (doc/local.md).

Every test makes its own users with useradd (root only; skipped with the
reason otherwise), delivers to them through queued and locald (and smtpd
where RCPT matters), and reads the result as a user would: with s-nail,
the mail reader Debian installs as mail(1), and with Python's mailbox
module.  See t/localharness.py.
"""

import fcntl
import mailbox
import os
import stat
import subprocess
import time

import pytest

from conftest import wait_for
from localharness import DOMAIN, local  # noqa: F401 (fixture)


def snail_headers(path):
    """The header summary s-nail prints for an mbox (one line a message)."""
    r = subprocess.run(["s-nail", "-N", "-R", "-S", "headline=%f %s",
        "-H", "-f", str(path)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=30,
        env={"HOME": "/nonexistent", "PATH": "/usr/bin:/bin",
            "MAILRC": "/dev/null", "LC_ALL": "C"})
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().splitlines()


def test_mbox_delivery_over_sendmail_as_the_user(local):
    alice = local.user("alice")
    body = "first line\nFrom here on it is quoted\nlast line\n"
    msgid = local.ferry.submit(alice.addr, body=body, subject="hi alice")
    (msg,) = local.wait_mbox(alice)
    st = os.stat(local.mbox_path(alice))
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (alice.uid, 0o600)
    assert msg["Delivered-To"] == alice.addr
    assert msg["Return-Path"].startswith("<")
    assert msg["Subject"] == "hi alice"
    payload = msg.get_payload()
    assert ">From here on it is quoted" in payload
    assert "\r" not in payload
    local.wait_event("delivered", id=msgid, to=alice.addr)
    (line,) = snail_headers(local.mbox_path(alice))
    assert "hi alice" in line
    # a second one is appended, the first untouched
    local.ferry.submit(alice.addr, subject="second")
    msgs = local.wait_mbox(alice, 2)
    assert [m["Subject"] for m in msgs] == ["hi alice", "second"]
    assert len(snail_headers(local.mbox_path(alice))) == 2


@pytest.mark.ferry_conf(local_mailbox="maildir")
def test_maildir_delivery(local):
    bob = local.user("bob")
    msgid = local.ferry.submit(bob.addr, subject="to the maildir")
    md = bob.home / "Maildir"
    # linked into new/ before it leaves tmp/: delivered means both done
    local.wait_event("delivered", id=msgid, to=bob.addr)
    (name,) = os.listdir(md / "new")
    assert os.listdir(md / "tmp") == []
    st = os.stat(md / "new" / name)
    assert st.st_uid == bob.uid and stat.S_IMODE(st.st_mode) == 0o600
    (msg,) = list(mailbox.Maildir(str(md), create=False))
    assert msg["Subject"] == "to the maildir"
    assert msg["Delivered-To"] == bob.addr


def test_root_is_delivered_through_its_alias(local):
    admin = local.user("admin")
    local.aliases("root: %s" % admin.name)
    local.ferry.submit("root", subject="cron says")
    (msg,) = local.wait_mbox(admin)
    assert msg["Subject"] == "cron says"
    # sent on as a new message, Delivered-To naming root first
    assert "root@" + DOMAIN in msg.get_all("Delivered-To")
    assert not (local.spool / "root").exists()


def test_root_without_alias_is_deferred_never_written(local):
    msgid = local.ferry.submit("root", subject="nobody reads this")
    (ev,) = local.wait_event("root-mail", id=msgid)[:1]
    assert "alias" in ev["warning"]
    local.wait_event("deferred", id=msgid)
    assert not (local.spool / "root").exists()
    (entry,) = local.ferry.mailq_entries()
    assert entry["id"] == msgid


def test_ROOT_and_root_are_one_mailbox_and_user_plus_tag(local):
    carol = local.user("carol")
    upper = carol.name.upper() + "@" + DOMAIN
    tagged = "%s+lists@%s" % (carol.name, DOMAIN)
    local.ferry.submit(upper, subject="upper")
    local.ferry.submit(tagged, subject="tagged")
    msgs = local.wait_mbox(carol, 2)
    assert sorted(m["Subject"] for m in msgs) == ["tagged", "upper"]
    tags = {m["Subject"]: m["Delivered-To"] for m in msgs}
    assert tags["tagged"] == "%s+lists@%s" % (carol.name, DOMAIN)


def test_unknown_user_bounces(local):
    dave = local.user("dave")
    msgid = local.ferry.submit("nosuchuser-x7", args=("-f", dave.addr))
    local.wait_event("failed", id=msgid)
    (bounce,) = local.wait_mbox(dave)
    assert "no such user" in bounce.as_string()


def test_unknown_user_is_refused_at_rcpt(local):
    erin = local.user("erin")
    connect = local.smtp()
    with connect() as s:
        s.ehlo("client.example")
        s.mail("someone@example.net")
        code, text = s.rcpt("nosuch-%s@%s" % (erin.name, DOMAIN))
        assert (code, text[:5]) == (550, b"5.1.1")
        assert s.rcpt(erin.name.upper() + "@" + DOMAIN)[0] == 250
        assert s.rcpt("%s+tag@%s" % (erin.name, DOMAIN))[0] == 250
        assert s.rcpt("root@" + DOMAIN)[0] == 250
        code, _ = s.data(b"Subject: over smtp\r\n\r\nhello\r\n")
        assert code == 250
    msgs = local.wait_mbox(erin, 2)
    assert [m["Subject"] for m in msgs] == ["over smtp", "over smtp"]


def test_alias_loop_bounces(local):
    frank = local.user("frank")
    local.aliases("loopa: loopb", "loopb: loopa")
    msgid = local.ferry.submit("loopa", args=("-f", frank.addr))
    (bounce,) = local.wait_mbox(frank, timeout=30)
    assert "loop" in bounce.as_string()
    local.wait_event("forward", id=msgid)


def test_alias_naming_itself_goes_to_the_mailbox(local):
    gina = local.user("gina")
    hank = local.user("hank")
    local.aliases("%s: %s, %s" % (gina.name, gina.name, hank.name))
    local.ferry.submit(gina.addr, subject="both")
    (mg,) = local.wait_mbox(gina)
    (mh,) = local.wait_mbox(hank)
    assert mg["Subject"] == mh["Subject"] == "both"


def test_forward_to_another_user(local):
    ivy = local.user("ivy")
    jack = local.user("jack")
    fw = ivy.home / ".forward"
    fw.write_text("%s\n" % jack.name)
    os.chown(fw, ivy.uid, ivy.gid)
    os.chmod(fw, 0o644)
    local.ferry.submit(ivy.addr, subject="forwarded")
    (msg,) = local.wait_mbox(jack)
    assert ivy.addr in msg.get_all("Delivered-To")
    assert local.mbox(ivy) == []


@pytest.mark.parametrize("mode", [0o666, 0o620])
def test_forward_with_a_bad_mode_is_refused(local, mode):
    kim = local.user("kim")
    fw = kim.home / ".forward"
    fw.write_text("someone@example.net\n")
    os.chown(fw, kim.uid, kim.gid)
    os.chmod(fw, mode)
    msgid = local.ferry.submit(kim.addr)
    (ev,) = local.wait_event("deferred", id=msgid)[:1]
    assert "refused" in ev["reply"] and "write" in ev["reply"]
    assert local.mbox(kim) == []
    assert not local.ferry.log_events("forward", name="locald", id=msgid)


def test_command_runs_as_the_user_with_postfix_variables(local):
    lee = local.user("lee")
    out = lee.home / "cmd.out"
    fw = lee.home / ".forward"
    fw.write_text('"|/bin/sh -c \'id -u > %s; env >> %s; cat >> %s\'"\n'
        % (out, out, out))
    os.chown(fw, lee.uid, lee.gid)
    local.ferry.submit("%s+ext@%s" % (lee.name, DOMAIN), subject="piped",
        args=("-f", "sender@example.net"))
    wait_for(lambda: out.exists() and b"piped" in out.read_bytes(),
        timeout=20, what="the command's output")
    lines = out.read_text().splitlines()
    assert lines[0] == str(lee.uid)
    env = dict(l.split("=", 1) for l in lines[1:] if "=" in l and
        l.split("=", 1)[0].isupper())
    assert env["SENDER"] == "sender@example.net"
    assert env["RECIPIENT"] == "%s+ext@%s" % (lee.name, DOMAIN)
    assert env["USER"] == lee.name and env["HOME"] == str(lee.home)
    assert env["LOCAL"] == lee.name and env["EXTENSION"] == "ext"
    assert env["DOMAIN"] == DOMAIN
    assert env["ORIGINAL_RECIPIENT"] == "%s+ext@%s" % (lee.name, DOMAIN)
    assert "Subject: piped" in out.read_text()
    assert os.stat(out).st_uid == lee.uid


def test_alias_command_runs_as_the_alias_user(local):
    drop = local.ferry.base / "drop"
    drop.mkdir()
    os.chmod(drop, 0o1777)
    out = drop / "out"
    local.aliases('pipe: "|/bin/sh -c \'id -un > %s\'"' % out)
    local.ferry.submit("pipe")
    # the shell makes the file before id writes to it
    wait_for(lambda: out.exists() and out.read_text().endswith("\n"),
        timeout=20, what="the alias command's output")
    assert out.read_text().strip() == "ferry-mda"


def test_include_and_error_targets(local):
    mia = local.user("mia")
    ned = local.user("ned")
    inc = local.ferry.base / "list.inc"
    inc.write_text("%s\n%s\n" % (mia.name, ned.name))
    bad = local.ferry.base / "bad.inc"
    bad.write_text('"|/bin/true"\n')
    local.aliases("list: :include:%s" % inc, "badlist: :include:%s" % bad,
        "gone: error:550 5.1.1 this person has left")
    local.ferry.submit("list", subject="to the list")
    assert local.wait_mbox(mia)[0]["Subject"] == "to the list"
    assert local.wait_mbox(ned)[0]["Subject"] == "to the list"
    local.ferry.submit("gone", args=("-f", mia.name))
    local.ferry.submit("badlist", args=("-f", ned.name))
    (_, b1) = local.wait_mbox(mia, 2)
    assert "this person has left" in b1.as_string()
    (_, b2) = local.wait_mbox(ned, 2)
    assert ":include:" in b2.as_string()


def test_symlinked_or_hard_linked_mailbox_is_refused(local):
    oli = local.user("oli")
    target = local.ferry.base / "precious"
    target.write_text("do not touch\n")
    os.chown(target, oli.uid, oli.gid)
    os.symlink(target, local.mbox_path(oli))
    msgid = local.ferry.submit(oli.addr)
    local.wait_event("deferred", id=msgid)
    assert target.read_text() == "do not touch\n"
    os.unlink(local.mbox_path(oli))
    os.link(target, local.mbox_path(oli))
    local.ferry.control("flush")
    wait_for(lambda: len(local.ferry.log_events("deferred", name="locald",
        id=msgid)) >= 2, timeout=20, what="a second deferral")
    assert target.read_text() == "do not touch\n"


@pytest.mark.ferry_conf(local_command_timeout="2s")
def test_hanging_command_is_killed_and_retried(local):
    pat = local.user("pat")
    mark = pat.home / "tried"
    done = pat.home / "done"
    fw = pat.home / ".forward"
    # hangs the first time, works the second
    fw.write_text('"|/bin/sh -c \'if [ -e %s ]; then cat > %s; else '
        'touch %s; exec sleep 300; fi\'"\n' % (mark, done, mark))
    os.chown(fw, pat.uid, pat.gid)
    msgid = local.ferry.submit(pat.addr, subject="eventually")
    (ev,) = local.wait_event("deferred", id=msgid)[:1]
    assert "timed out" in ev["reply"]
    wait_for(lambda: done.exists() and b"eventually" in done.read_bytes(),
        timeout=30, what="the retried command")
    local.wait_event("delivered", id=msgid)
    # nothing of the killed one runs on (a zombie is dead: a container's
    # init may not reap what was reparented to it)
    r = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-u", pat.name],
        stdout=subprocess.PIPE, timeout=10)
    running = [l for l in r.stdout.decode().splitlines()
        if l.split()[1][0] != "Z"]
    assert running == [], r.stdout.decode()


def test_mbox_locked_by_a_reader_waits_for_it(local):
    quinn = local.user("quinn")
    path = local.mbox_path(quinn)
    path.touch(mode=0o600)
    os.chown(path, quinn.uid, quinn.gid)
    box = mailbox.mbox(str(path))
    box.lock()                     # fcntl and a dotlock, as readers do
    try:
        msgid = local.ferry.submit(quinn.addr, subject="after the reader")
        (ev,) = local.wait_event("deferred", id=msgid, timeout=30)[:1]
        assert "locked" in ev["reply"]
        assert path.read_bytes() == b""
    finally:
        box.unlock()
        box.close()
    (msg,) = local.wait_mbox(quinn, timeout=30)
    assert msg["Subject"] == "after the reader"


def test_command_exit_codes_bounce_or_retry(local):
    rae = local.user("rae")
    sid = local.user("sid")
    for u, code in ((rae, 67), (sid, 75)):
        fw = u.home / ".forward"
        fw.write_text('"|/bin/sh -c \'cat >/dev/null; exit %d\'"\n' % code)
        os.chown(fw, u.uid, u.gid)
    sender = local.user("snd")
    bounced = local.ferry.submit(rae.addr, args=("-f", sender.addr))
    retried = local.ferry.submit(sid.addr, args=("-f", sender.addr))
    (ev,) = local.wait_event("failed", id=bounced)[:1]
    assert "5.1.1" in ev["reply"] and "exit 67" in ev["reply"]
    (bounce,) = local.wait_mbox(sender)
    assert "exit 67" in bounce.as_string()
    wait_for(lambda: len(local.ferry.log_events("deferred", name="locald",
        id=retried)) >= 2, timeout=20, what="two tries of the exit-75 one")
    assert not local.ferry.log_events("failed", name="locald", id=retried)


def test_command_gets_no_other_descriptor(local):
    tom = local.user("tom")
    out = tom.home / "fds"
    fw = tom.home / ".forward"
    fw.write_text('"|/bin/sh -c \'ls /proc/self/fd > %s\'"\n' % out)
    os.chown(fw, tom.uid, tom.gid)
    local.ferry.submit(tom.addr)
    wait_for(lambda: out.exists() and out.read_text().endswith("\n"),
        timeout=20, what="the command's descriptor list")
    # 0, 1, 2 and the one ls opened to read the directory
    assert sorted(int(x) for x in out.read_text().split()) == [0, 1, 2, 3]


def test_too_many_received_headers_bounce(local):
    uma = local.user("uma")
    snd = local.user("snd")
    hops = [("Received", "from h%d by h%d" % (i, i + 1)) for i in range(51)]
    msgid = local.ferry.submit(uma.addr, headers=hops,
        args=("-f", snd.addr))
    (ev,) = local.wait_event("failed", id=msgid)[:1]
    assert "too many hops" in ev["reply"]
    assert local.mbox(uma) == []
    local.wait_mbox(snd)


def test_owner_alias_receives_the_bounces_of_its_list(local):
    own = local.user("own")
    snd = local.user("snd")
    local.aliases("staff: nosuchuser-q9@%s" % DOMAIN,
        "owner-staff: %s" % own.name)
    local.ferry.submit("staff", args=("-f", snd.addr))
    (bounce,) = local.wait_mbox(own, timeout=30)
    assert "nosuchuser-q9" in bounce.as_string()
    assert local.mbox(snd) == []


def test_forward_in_a_group_writable_home_is_refused(local):
    vic = local.user("vic")
    fw = vic.home / ".forward"
    fw.write_text("someone@example.net\n")
    os.chown(fw, vic.uid, vic.gid)
    os.chmod(vic.home, 0o775)
    msgid = local.ferry.submit(vic.addr)
    (ev,) = local.wait_event("deferred", id=msgid)[:1]
    assert "refused" in ev["reply"] and "directory" in ev["reply"]


@pytest.mark.ferry_conf(local_recipient_reject_code="450")
def test_reject_code_450_while_testing(local):
    connect = local.smtp()
    local.user("wes")
    with connect() as s:
        s.ehlo("client.example")
        s.mail("someone@example.net")
        code, text = s.rcpt("nobody-here-z1@" + DOMAIN)
        assert (code, text[:5]) == (450, b"4.1.1")


def test_a_new_account_is_accepted_without_a_reload(local):
    connect = local.smtp()
    with connect() as s:
        s.ehlo("client.example")
        s.mail("someone@example.net")
        # locald has written its table: an unknown user is refused, not
        # deferred
        assert s.rcpt("nobody-here-z2@" + DOMAIN)[0] == 550
    name = "ftnew%s" % os.urandom(2).hex()
    home = local.homes / name
    subprocess.run(["useradd", "-m", "-d", str(home), "-s", "/bin/sh",
        "-K", "MAIL_DIR=/nonexistent", name], check=True, timeout=30)
    try:
        def accepted():
            with connect() as s:
                s.ehlo("client.example")
                s.mail("someone@example.net")
                return s.rcpt("%s@%s" % (name, DOMAIN))[0] == 250
        wait_for(accepted, timeout=20, interval=0.5,
            what="the new account in smtpd's table")
    finally:
        subprocess.run(["userdel", name], timeout=30)


@pytest.mark.ferry_daemons()
def test_smtpd_without_locald_defers_local_recipients(ferry_factory):
    import localharness
    localharness.need_root()
    f = ferry_factory(dict(localharness.LOCAL_CONF), daemons=("queued",))
    lc = localharness.Local(f)
    connect = lc.smtp()
    with connect() as s:
        s.ehlo("client.example")
        s.mail("someone@example.net")
        code, text = s.rcpt("root@" + DOMAIN)
        assert code == 451 and text.startswith(b"4.4.3"), (code, text)


def test_an_unreadable_forward_defers_never_the_mailbox(local):
    """A ~/.forward that cannot be read (here: a home only root may
    enter, as an NFS home gone away looks to the user) is no "no
    .forward": the mail waits."""
    xan = local.user("xan")
    fw = xan.home / ".forward"
    fw.write_text("someone@example.net\n")
    os.chown(fw, xan.uid, xan.gid)
    os.chown(xan.home, 0, 0)
    os.chmod(xan.home, 0o700)
    msgid = local.ferry.submit(xan.addr)
    (ev,) = local.wait_event("deferred", id=msgid)[:1]
    assert "cannot read" in ev["reply"] and "Permission denied" in \
        ev["reply"], ev
    assert local.mbox(xan) == []
