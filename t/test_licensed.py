# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""licensed: which licence counts, what it tells ferryctl, and that a bad
or missing licence never stops it (README, "Licence")."""

import os
import pwd
import signal
import socket
import stat

import pytest

from conftest import BIN, run, wait_for
from test_license import text

TOOL = str(BIN / "ferry-license")


class Licences:
    """A vendor key pair and signed licence files in the test directory
    (world-readable: licensed reads them as its own user)."""

    def __init__(self, ferry):
        self.ferry = ferry
        self.dir = ferry.base / "licences"
        self.dir.mkdir(mode=0o755)
        self.key, self.pub = self.dir / "vendor.key", self.dir / "vendor.pub"
        r = run([TOOL, "keygen", self.key, self.pub])
        assert r.returncode == 0, r.stderr

    def write(self, name, body):
        r = run([TOOL, "sign", self.key], input=body.encode())
        assert r.returncode == 0, r.stderr
        p = self.dir / name
        p.write_bytes(r.stdout)
        os.chmod(p, 0o644)
        return p

    def start(self, *names):
        self.ferry.write_conf(license_public_key=str(self.pub),
            license_files=" ".join(str(self.dir / n) for n in names))
        self.ferry.start("licensed")

    def ask(self):
        r = self.ferry.control("license")
        return r.returncode, r.stdout.decode()


@pytest.fixture
def lic(ferry):
    return Licences(ferry)


def test_valid(lic):
    lic.write("a", text(until=99))
    lic.start("a")
    rc, out = lic.ask()
    assert rc == 0, out
    assert out.startswith("licence: valid, 100 days left"), out
    assert "customer: Example GmbH" in out and "features: webrelay" in out


def test_longest_valid_wins_and_renewal_is_picked_up(lic):
    """Of two valid licences the one that runs longer counts; a renewal
    written later is used after SIGHUP, without a restart."""
    lic.write("a", text(until=50))
    lic.write("b", text(until=20))
    lic.start("a", "b", "c")
    assert "51 days left" in lic.ask()[1]
    lic.write("c", text(until=400))
    lic.ferry.signal("licensed", signal.SIGHUP)
    wait_for(lambda: "401 days left" in lic.ask()[1], timeout=5,
        what="the renewal")


@pytest.mark.parametrize("make,state", [
    (lambda lic: lic.write("a", text(issued=-400, until=-2)), "expired"),
    (lambda lic: lic.write("a", text(issued=3, until=300)), "not-yet-valid"),
    (lambda lic: None, "missing"),
])
def test_not_valid_says_why(lic, make, state):
    make(lic)
    lic.start("a")
    rc, out = lic.ask()
    assert rc == 1 and out.startswith("licence: %s: " % state), out
    assert lic.ferry.daemons["licensed"].alive()


def test_tampered_is_invalid_and_expired_beats_it(lic):
    """A changed byte makes a licence invalid; with only an expired one
    besides, the expired one is the answer (it is the better news)."""
    p = lic.write("a", text(until=99))
    p.write_bytes(p.read_bytes().replace(b"Example", b"Exampel"))
    lic.start("a")
    rc, out = lic.ask()
    assert rc == 1 and "invalid: signature does not match" in out, out
    lic.write("b", text(issued=-400, until=-1))
    lic.ferry.write_conf(license_files="%s %s" % (lic.dir / "a",
        lic.dir / "b"))
    lic.ferry.restart("licensed")
    assert lic.ask()[1].startswith("licence: expired"), lic.ask()


def test_warning_before_the_end(lic):
    lic.write("a", text(until=19))
    lic.start("a")
    ev = lic.ferry.log_events("license-ending", name="licensed")
    assert ev and ev[0]["days_left"] == "20", ev


def test_bad_public_key_is_a_config_error(lic):
    lic.pub.write_text("not a key\n")
    lic.ferry.write_conf(license_public_key=str(lic.pub),
        license_files=str(lic.dir / "a"))
    r = run([BIN / "licensed", "-f", "-c", lic.ferry.conf_path])
    assert r.returncode == 78, r.stderr
    assert b"not an Ed25519 public key" in r.stderr


def test_ferryctl_license_and_status(lic):
    lic.write("a", text(until=9))
    lic.start("a")
    r = run([BIN / "ferryctl", "-c", lic.ferry.conf_path, "license"])
    assert r.returncode == 0 and b"10 days left" in r.stdout, r.stdout
    r = run([BIN / "ferryctl", "-c", lic.ferry.conf_path, "status"])
    assert b"licence: valid, 10 days left" in r.stdout, r.stdout


def test_socket_is_private(lic):
    """licensed.sock is 0600 like every daemon's socket: only root and
    licensed's own user (the owner) may ask it."""
    lic.write("a", text())
    lic.start("a")
    sock = lic.ferry.socket_path("licensed")
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: connects as nobody")
def test_other_users_cannot_connect(lic):
    lic.write("a", text())
    lic.start("a")
    sock = str(lic.ferry.socket_path("licensed"))
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgid(pwd.getpwnam("nobody").pw_gid)
            os.setuid(pwd.getpwnam("nobody").pw_uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                s.connect(sock)
            except PermissionError:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "nobody could connect"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_runs_as_its_user(lic):
    lic.write("a", text())
    lic.start("a")
    with open("/proc/%d/status" % lic.ferry.pid("licensed")) as f:
        uid = [l.split()[1] for l in f if l.startswith("Uid:")][0]
    assert int(uid) == pwd.getpwnam("ferry-lic").pw_uid


def test_unprivileged_exits_clean(lic):
    """Started by an ordinary user, licensed checks, answers and exits 0
    on SIGTERM; under SAN=1, LeakSanitizer finds nothing."""
    import conftest
    lic.write("a", text(until=30))
    lic.ferry.write_conf(license_public_key=str(lic.pub),
        license_files=str(lic.dir / "a"))
    with conftest.unprivileged_daemon("licensed", lic.ferry.conf_path,
            (lic.ferry.run_dir, lic.ferry.log_dir)) as proc:
        wait_for(lambda: lic.ferry.ping("licensed"), timeout=10,
            what="unprivileged licensed")
        assert lic.ask()[0] == 0
        lic.write("a", text(issued=-90, until=-1))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: lic.ask()[1].startswith("licence: expired"),
            timeout=15, what="the expired licence noticed")
