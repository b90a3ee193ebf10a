# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""smtpd as a daemon (doc/smtpd.md, Privileges; README, Running the
daemons): configuration errors, the user and chroot it runs in, SIGTERM,
SIGHUP re-reading its tables, IPv6 listeners."""

import os
import pwd
import re
import signal
import socket
import stat
import time
from pathlib import Path

import pytest

from conftest import child_pids, parse_log_line, run_as, wait_for
from smtpdharness import (USERS, Client, greets,  # noqa: F401
    has_ipv6_loopback, smtpd, split_received)


def conf_line(ferry, key):
    """The 1-based line of KEY in ferry.conf."""
    for i, line in enumerate(ferry.conf_path.read_text().splitlines(), 1):
        if line.split("=")[0].strip() == key:
            return i
    raise AssertionError("%s not in ferry.conf" % key)


# --- configuration errors -----------------------------------------------------

BAD_LISTEN = ["127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
    "127.0.0.1:smtp", "::1:25", "localhost:25", "1.2.3.4.5:25",
    "[::1]25", "[127.0.0.1:25"]


@pytest.mark.smtpd_nostart
@pytest.mark.parametrize("key,value", [("smtp_listen", v) for v in
    BAD_LISTEN] + [("submission_listen", "127.0.0.1:x"),
    ("smtps_listen", "[::1]:")])
def test_bad_listen_value(smtpd, key, value):
    """A listener that is not address:port: smtpd exits 78 with
    FILE:LINE: and the key on stderr, without starting."""
    rc, err = smtpd.start_refused(78, **{key: "127.0.0.1:%d %s" % (
        smtpd.extra, value)})
    assert rc == 78, (rc, err)
    where = "%s:%d:" % (smtpd.ferry.conf_path, conf_line(smtpd.ferry, key))
    assert where in err, err
    assert key in err, err


@pytest.mark.smtpd_nostart
def test_smtps_without_certificate(smtpd):
    """smtps_listen without smtpd_tls_cert_file: exit 78, naming
    smtps_listen."""
    rc, err = smtpd.start_refused(78, smtpd_tls_cert_file="",
        smtpd_tls_key_file="")
    assert rc == 78, (rc, err)
    assert "smtps_listen" in err, err
    assert str(smtpd.ferry.conf_path) in err, err


@pytest.mark.smtpd_nostart
@pytest.mark.parametrize("key,value", [
    ("mynetworks", "10.0.0.0/33"),
    ("mynetworks", "not-a-network"),
    ("accepted_domains", "ferry.test bad..domain"),
    ("smtpd_bare_lf", "maybe"),
    ("smtpd_sender_policy", "nobody"),
    ("smtpd_max_sessions", "0"),
])
def test_bad_smtpd_keys(smtpd, key, value):
    """Other smtpd keys with bad values: exit 78 and FILE:LINE:."""
    rc, err = smtpd.start_refused(78, **{key: value})
    assert rc == 78, (rc, err)
    assert "%s:%d:" % (smtpd.ferry.conf_path,
        conf_line(smtpd.ferry, key)) in err, err


@pytest.mark.smtpd_nostart
def test_missing_certificate_file(smtpd):
    """A certificate file that does not exist: a configuration error
    (exit 78, as for a table that cannot be read), naming the file."""
    missing = smtpd.base / "nonexistent.crt"
    _, err = smtpd.start_refused(78, smtpd_tls_cert_file=str(missing))
    assert "cannot load certificate %s" % missing in err, err


@pytest.mark.smtpd_nostart
def test_missing_recipients_file(smtpd):
    """A recipients_file that does not exist at start-up: smtpd does not
    start and names the file (accepting every address instead would be
    silently wrong)."""
    missing = smtpd.base / "nonexistent-recipients"
    _, err = smtpd.start_refused(78, recipients_file=str(missing))
    assert "%s: No such file or directory" % missing in err, err


@pytest.mark.smtpd_nostart
def test_port_in_use(smtpd):
    """A listener whose port another program holds: not a configuration
    error, smtpd exits 1 and says which address it could not bind."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", smtpd.smtp))
        s.listen(1)
        _, err = smtpd.start_refused(1)
    assert "bind 127.0.0.1:%d: Address already in use" % smtpd.smtp in err, \
        err


# --- life cycle ---------------------------------------------------------------

def test_sigterm_exits_zero(smtpd):
    """SIGTERM: smtpd exits 0 and its ports are closed."""
    assert smtpd.stop() == 0
    with pytest.raises(ConnectionRefusedError):
        Client("127.0.0.1", smtpd.smtp, timeout=2)


def test_sigterm_with_open_sessions(smtpd):
    """SIGTERM while sessions are open (one in DATA): smtpd exits 0 by
    itself (the harness's SIGKILL after the stop timeout would be -9),
    logging event=stop; nothing half-written stays in the queue."""
    a = smtpd.client()
    a.ehlo()
    b = smtpd.client()
    b.ehlo()
    b.mail()
    b.rcpt("user@ferry.test")
    assert b.cmd("DATA").code == 354
    b.send(b"Subject: x\r\n\r\nhalf\r\n")
    time.sleep(0.2)
    assert smtpd.stop() == 0
    assert smtpd.ferry.log_events("stop", name="smtpd"), smtpd.log()[-2000:]
    a.close()
    b.close()
    smtpd.wait_queue_empty()


def test_second_copy_refuses(smtpd):
    """A second smtpd with the same configuration does not start; the
    first keeps serving."""
    _, err = smtpd.start_refused(1)
    pid = smtpd.ferry.pid("smtpd")
    assert "already running as pid %d" % pid in err, err
    with smtpd.client() as c:
        c.ehlo()
        c.send_mail()


def test_log_file(smtpd):
    """smtpd writes log_directory/smtpd.log in the common format, and the
    queue id of an accepted message appears in it."""
    with smtpd.client() as c:
        c.ehlo()
        msgid = c.send_mail()
    time.sleep(0.2)
    lines = smtpd.log().splitlines()
    assert lines, "smtpd.log is empty"
    parsed = [parse_log_line(l) for l in lines]
    assert all(p is not None and p["_prog"] == "smtpd" for p in parsed), \
        lines[:5]
    assert any(msgid in l for l in lines), lines[-10:]


# --- tables on SIGHUP ---------------------------------------------------------

def test_sighup_rereads_tables(smtpd):
    """SIGHUP: a recipient and a user added to the tables (files replaced
    by rename, as editors and ferryctl passwd do) are in force; a
    removed one is gone."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        assert c.rcpt("carol@ferry.test").startswith("550 5.1.1")
    smtpd.write_recipients(["user@ferry.test", "carol@ferry.test"])
    users = dict(USERS, carol="carol-N3w-pw")
    del users["bob"]
    smtpd.write_users(users)
    reads = len(smtpd.ferry.log_events("table", name="smtpd"))
    smtpd.ferry.signal("smtpd", signal.SIGHUP)
    # both tables read again (one event=table line each)
    wait_for(lambda: len(smtpd.ferry.log_events("table", name="smtpd")) >=
        reads + 2, what="smtpd rereads both tables after SIGHUP")
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        assert c.rcpt("carol@ferry.test").startswith("250 2.")
        assert c.rcpt("alice@ferry.test").startswith("550 5.1.1")
        # example.org is still accepted, but no longer in the table
        assert c.rcpt("x@example.org").startswith("550 5.1.1")
    with smtpd.submission_client() as c:
        c.ehlo()
        assert c.auth_plain("carol", "carol-N3w-pw").startswith("235")
    with smtpd.submission_client() as c:
        c.ehlo()
        assert c.auth_plain("bob", USERS["bob"]).startswith("535 5.7.8")


def test_sighup_unreadable_table_keeps_old(smtpd):
    """SIGHUP while the recipients file is missing: the old table stays in
    force and smtpd keeps running."""
    p = Path(smtpd.ferry.conf["recipients_file"])
    p.rename(p.with_suffix(".away"))
    smtpd.ferry.signal("smtpd", signal.SIGHUP)
    wait_for(lambda: "keeping the old recipients table" in smtpd.log(),
        what="smtpd keeps the old recipients table")
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        assert c.rcpt("user@ferry.test").startswith("250 2.")
        assert c.rcpt("nosuch@ferry.test").startswith("550 5.1.1")
    assert smtpd.ferry.daemons["smtpd"].alive()


def test_sighup_keeps_sessions(smtpd):
    """A session open across SIGHUP goes on."""
    with smtpd.client() as c:
        c.ehlo()
        c.mail()
        reads = len(smtpd.ferry.log_events("table", name="smtpd"))
        smtpd.ferry.signal("smtpd", signal.SIGHUP)
        wait_for(lambda: len(smtpd.ferry.log_events("table",
            name="smtpd")) >= reads + 2, what="smtpd rereads its tables")
        assert c.rcpt("user@ferry.test").startswith("250 2.")
        r = c.data(b"Subject: hup\r\n\r\nx\r\n")
        assert r.startswith("250 2.0.0 Ok: queued as"), r


def test_ping(smtpd):
    """`ferry-control ping smtpd` answers on smtpd.sock (ferryctl start and
    status use it)."""
    assert smtpd.ferry.ping("smtpd")


# --- privileges ---------------------------------------------------------------

def proc_ids(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_runs_as_smtpd_user_in_chroot(smtpd):
    """Started as root, smtpd runs as ferry-smtpd (real, effective, saved
    and fs uid and gid), in a chroot at run_directory/smtpd that holds
    nothing but sockets, as one process."""
    pid = smtpd.ferry.pid("smtpd")
    pw = pwd.getpwnam("ferry-smtpd")
    assert proc_ids(pid, "Uid") == [pw.pw_uid] * 4
    assert proc_ids(pid, "Gid") == [pw.pw_gid] * 4
    groups = proc_ids(pid, "Groups")
    assert set(groups) <= {pw.pw_gid}, groups
    root = os.readlink("/proc/%d/root" % pid)
    assert root == str(smtpd.ferry.run_dir / "smtpd"), root
    for name in os.listdir(root):
        st = os.lstat(os.path.join(root, name))
        assert stat.S_ISSOCK(st.st_mode), "%s in the chroot" % name
    assert child_pids(pid) == []
    # and it still does its job
    with smtpd.client() as c:
        c.ehlo()
        c.send_mail()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_no_capabilities(smtpd):
    """After dropping root smtpd holds no capabilities."""
    pid = smtpd.ferry.pid("smtpd")
    with open("/proc/%d/status" % pid) as f:
        caps = dict(l.split(":", 1) for l in f if l.startswith("Cap"))
    for k in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        if k in caps:
            assert int(caps[k].strip(), 16) == 0, (k, caps[k])


# --- IPv6 ---------------------------------------------------------------------

@pytest.mark.ferry_conf(smtp_listen="127.0.0.1:{smtp} [::1]:{extra}")
def test_ipv6_listener(smtpd):
    """smtp_listen with [::1]:PORT: a session over ::1 works, and the
    Received header names the IPv6 address."""
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host")
    with Client("::1", smtpd.extra) as c:
        assert c.greeting.code == 220
        c.ehlo()
        msgid = c.send_mail()
    head, _ = split_received(smtpd.ferry.read_msg(msgid))
    assert re.search(r"\[(IPv6:)?::1\]", head), head


# --- the queue socket in smtpd's chroot ------------------------------------

def smtpd_queue_socket(smtpd):
    return smtpd.ferry.run_dir / "smtpd" / "queued.sock"


def test_chroot_queue_socket_only_smtpd_verbs(smtpd):
    """run_directory/smtpd/queued.sock does CREATE but refuses everything
    else (FETCH, LIST, DELETE, FLUSH, SUBMIT) with ERROR or by closing."""
    import ferryipc as ipc
    path = smtpd_queue_socket(smtpd)
    with ipc.connect(path, name="smtpd") as c:
        f = c.request(ipc.CREATE, expect=(ipc.CREATED,))
        assert f.type == ipc.CREATED, f
        if f.fd is not None:
            os.close(f.fd)
    for verb in (ipc.FETCH, ipc.LIST, ipc.FLUSH, ipc.SUBMIT):
        with ipc.connect(path, name="smtpd") as c:
            c.send(verb)
            try:
                f = c.recv_frame(3)
            except ipc.Closed:
                continue
            if f.fd is not None:
                os.close(f.fd)
            assert f.type == ipc.ERROR, (ipc.NAMES.get(verb), f)
    with ipc.connect(path, name="smtpd") as c:
        c.send(ipc.DELETE, "0000000000000000")
        try:
            f = c.recv_frame(3)
            assert f.type == ipc.ERROR, f
        except ipc.Closed:
            pass


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change uid")
def test_chroot_queue_socket_refuses_other_users(smtpd):
    """The socket is mode 0666, but queued's SO_PEERCRED check keeps any
    uid but root, ferry-queue and ferry-smtpd out: nobody gets no
    CREATED."""
    import ferryipc as ipc
    path = str(smtpd_queue_socket(smtpd))

    def create():
        with ipc.connect(path, name="smtpd", timeout=3) as c:
            c.send(ipc.CREATE)
            f = c.recv_frame(3)
            return 1 if f.type == ipc.CREATED else 0
    assert run_as("nobody", create) in (0, 126), "nobody got CREATED"


@pytest.mark.ferry_conf(smtp_listen="0.0.0.0:{extra} [::]:{extra}",
    mynetworks="127.0.0.0/8")
def test_wildcard_listeners_both_families(smtpd):
    """The default's shape, 0.0.0.0:PORT and [::]:PORT together: smtpd
    starts (the IPv6 socket must be IPV6_V6ONLY, or the second bind
    fails), serves 127.0.0.1 and ::1, and sees 127.0.0.1 as IPv4 (in
    mynetworks 127.0.0.0/8: relaying allowed)."""
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host")
    with Client("127.0.0.1", smtpd.extra) as c:
        c.ehlo()
        msgid = c.send_mail(["x@other.example"])
    head, _ = split_received(smtpd.ferry.read_msg(msgid))
    assert "[127.0.0.1]" in head, head
    with Client("::1", smtpd.extra) as c:
        c.ehlo()
        c.mail()
        # ::1 is not in mynetworks here
        assert c.rcpt("x@other.example").startswith("554 5.7.1")


@pytest.mark.ferry_conf(smtp_listen="[::1]:{smtp}", mynetworks="[::1]/128")
def test_ipv6_mynetworks(smtpd):
    """mynetworks [::1]/128 lets a client on ::1 relay."""
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback on this host")
    with Client("::1", smtpd.smtp) as c:
        c.ehlo()
        c.send_mail(["x@other.example"])


@pytest.mark.smtpd_nostart
@pytest.mark.ferry_conf(smtpd_user="nobody")
def test_unprivileged_smtpd_serves_and_exits_clean(smtpd):
    """Started by an ordinary user (as root here: by nobody, through
    setpriv), smtpd stays that user, does not chroot, serves plain, TLS,
    AUTH, DATA, BDAT and an abandoned transaction, and exits 0 on
    SIGTERM.  Without chroot LeakSanitizer works, so under SAN=1 this
    also proves smtpd leaks nothing on those paths."""
    import conftest
    own = (smtpd.ferry.run_dir, smtpd.ferry.log_dir, smtpd.cert, smtpd.key,
        Path(smtpd.ferry.conf["smtpd_users_file"]))
    with conftest.unprivileged_daemon("smtpd", smtpd.ferry.conf_path,
            own) as proc:
        conftest.wait_for(lambda: greets(smtpd.ferry), timeout=10,
            what="unprivileged smtpd")
        assert os.readlink("/proc/%d/root" % proc.pid) == "/"
        with smtpd.client() as c:
            c.ehlo()
            c.send_mail()
            c.mail()
            c.rcpt("user@ferry.test")
            c.send(b"BDAT 5 LAST\r\nabc\r\n")
            assert c.reply().startswith("250 2.0.0 Ok: queued as"), \
                "BDAT"
        with smtpd.submission_client() as c:
            c.ehlo()
            c.starttls()
            c.ehlo()
            assert c.auth_plain("alice", USERS["alice"]).code == 235
            c.send_mail(sender="alice@ferry.test")
        with smtpd.client() as c:
            c.open_data()
            c.send(b"Subject: left\r\n\r\nhalf")
        # the abandoned one goes once smtpd has seen the client leave
        conftest.wait_for(lambda: len(smtpd.queued()) == 3, timeout=5,
            what="three messages queued")


# --- a queued or delegated that misbehaves -----------------------------------

DELEG_AUTH, DELEG_ANSWER = 50, 52       # common/ipc.h


class FakePeer:
    """Stands in for queued (or delegated) on smtpd's socket for it: says
    HELLO, then answers as told -- "silent": never; "wrong-reqid": CREATED
    under another request id; "no-commit": CREATED, but never COMMITTED;
    "deleg-wrong-reqid": a yes to DELEG_AUTH under another request id.
    .closed is set when smtpd hangs up."""

    def __init__(self, path, mode, tmpdir, name="queued"):
        import threading
        self.path = str(path)
        self.mode = mode
        self.name = name
        self.file = str(tmpdir / "fake-queued-msg")
        self.frames = []
        self.closed = threading.Event()
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.lsock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.lsock.listen(4)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        import ferryipc as ipc
        s, _ = self.lsock.accept()
        c = ipc.Conn.__new__(ipc.Conn)
        c.sock, c.timeout, c.next_reqid = s, 60.0, 1
        hello = c.recv_frame()
        c.send(ipc.HELLO, ipc.VERSION, self.name, reqid=hello.reqid)
        while True:
            try:
                f = c.recv_frame(120)
            except ipc.IPCError:
                self.closed.set()
                return
            self.frames.append(f)
            if f.fd is not None:
                os.close(f.fd)
            if f.type == ipc.CREATE and self.mode != "silent":
                fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o600)
                reqid = f.reqid + (7 if self.mode == "wrong-reqid" else 0)
                c.send(ipc.CREATED, "0123456789ABCDEF", ipc.U64(1 << 20),
                    fd=fd, reqid=reqid)
                os.close(fd)
            if f.type == DELEG_AUTH and self.mode == "deleg-wrong-reqid":
                c.send(DELEG_ANSWER, 0, "", reqid=f.reqid + 7)

    def stop(self):
        self.lsock.close()


@pytest.fixture
def fake_queued(smtpd, tmp_path):
    """queued stopped and a FakePeer on its socket; call it with the
    mode."""
    fakes = []

    def start(mode):
        smtpd.ferry.stop("queued")
        fakes.append(FakePeer(smtpd_queue_socket(smtpd), mode, tmp_path))
        return fakes[-1]
    yield start
    for f in fakes:
        f.stop()


def open_transaction(smtpd):
    c = smtpd.client()
    c.ehlo()
    assert c.mail().code == 250
    assert c.rcpt("user@ferry.test").code == 250
    return c


@pytest.mark.ferry_conf(smtpd_queue_wait="1s")
def test_queue_create_unanswered_is_451(smtpd, fake_queued):
    """queued never answers CREATE: DATA gets 451 4.3.0 after
    smtpd_queue_wait, smtpd hangs up on queued, the session goes on."""
    fake = fake_queued("silent")
    with open_transaction(smtpd) as c:
        r = c.cmd("DATA", timeout=60)
        assert r.startswith("451 4.3.0"), r
        assert fake.closed.wait(30), "smtpd kept the queued connection"
        assert c.cmd("NOOP").startswith("250 2.0.0")
        assert c.mail().code == 250, "the transaction was not reset"


@pytest.mark.ferry_conf(smtpd_queue_wait="1s")
def test_queue_commit_unanswered_is_451(smtpd, fake_queued):
    """queued takes the message but never answers COMMIT: the end of DATA
    gets 451 4.3.0 after smtpd_queue_wait, not silence."""
    fake = fake_queued("no-commit")
    with open_transaction(smtpd) as c:
        r = c.cmd("DATA")
        assert r.startswith("354"), r
        c.send(b"Subject: t\r\n\r\nbody\r\n.\r\n")
        r = c.reply(timeout=60)
        assert r.startswith("451 4.3.0"), r
        assert fake.closed.wait(30), "smtpd kept the queued connection"
        assert c.cmd("NOOP").startswith("250 2.0.0")
    import ferryipc as ipc
    assert [f.type for f in fake.frames] == [ipc.CREATE, ipc.RCPT,
        ipc.COMMIT], fake.frames


def test_queue_answer_with_wrong_reqid_is_refused(smtpd, fake_queued):
    """CREATED under a request id smtpd did not send: smtpd closes the
    connection to queued and the client hears 451 4.3.0 (smtpd_queue_wait
    stays long, so the refusal is not the timeout)."""
    fake = fake_queued("wrong-reqid")
    with open_transaction(smtpd) as c:
        r = c.cmd("DATA", timeout=60)
        assert r.startswith("451 4.3.0"), r
        assert fake.closed.wait(30), "smtpd kept the queued connection"
        assert c.cmd("NOOP").startswith("250 2.0.0")
    assert "wrong request id" in smtpd.log()


@pytest.mark.ferry_conf(delegate_auth="ferry.test",
    delegate_servers="127.0.0.1:{extra}")
def test_delegated_answer_with_wrong_reqid_is_refused(smtpd, tmp_path):
    """delegated answers AUTH under a request id smtpd never sent: smtpd
    hangs up on it (not "a late answer") and the client hears 454 4.7.0."""
    path = smtpd_queue_socket(smtpd).with_name("delegated.sock")
    fake = FakePeer(path, "deleg-wrong-reqid", tmp_path, name="delegated")
    try:
        with smtpd.submission_client() as c:
            c.ehlo()
            r = c.auth_plain("carol@ferry.test", "carol-Pw-0000")
            assert r.startswith("454 4.7.0"), r
            assert fake.closed.wait(30), "smtpd kept the connection"
    finally:
        fake.stop()
