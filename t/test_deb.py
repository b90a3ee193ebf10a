# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""The Debian package, installed on this host as its MTA (root only).

`make deb` in a copy of the tree (the checkout's bin/ is left alone),
lintian without an error, `dpkg -i`: /usr/sbin/sendmail and
/usr/lib/sendmail are Ferry's, ferry.conf is written for this host and
kept across a reinstall, the daemons run (with ferryctl, as the postinst
starts them where systemd does not run) and smtpd greets on port 25 of
loopback; a user made here sends mail to root with `mail` (bsd-mailx,
installed for the test if there is no `mail`, taking ferry as its MTA)
and with sendmail under no_new_privs, and it arrives in the mbox of the user that
/etc/aliases names for root; `dpkg --purge ferry` leaves no Ferry file,
directory, user, process or debconf answer.

The test changes the host and puts it back: another MTA package is
removed first (its configuration kept) and installed again at the end,
/etc/aliases is restored, the test user and its mailbox go, and Ferry's
system users that existed before (etc/install-deps users) are made
again with their ids, since the purge removes them.  The host's users,
groups, MTA packages and /etc/aliases are compared with their state
before.  Deselect with `-m 'not host_package'`.
"""

import grp
import mailbox
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, build_san, run, wait_for

pytestmark = [pytest.mark.host_package, pytest.mark.timeout(300)]

VERSION = (REPO / "VERSION").read_text().strip()
USERS = ("ferry-queue", "ferry-smtpd", "ferry-deleg", "ferry-relay",
    "ferry-web", "ferry-lic", "ferry-mda")
STATE = ("/etc/ferry", "/var/spool/ferry", "/var/log/ferry",
    "/var/lib/ferry", "/var/lib/ferry-relay", "/run/ferry")
BUILD_TIMEOUT = 1200
DPKG_TIMEOUT = 300
LOCKED = b"locked by another process"
# the checkout's git data, build products and state, not copied for the
# build, and the same in t/
NOT_COPIED = {REPO: (".git", "bin", "obj", "run", "dist"),
    REPO / "t" / "unit": ("bin",), REPO / "t" / "shim": ("bin",)}
CACHES = ("__pycache__", ".pytest_cache")

if os.geteuid() != 0:
    pytest.skip("needs root: installs the package with dpkg, makes a user "
        "and edits /etc/aliases", allow_module_level=True)
if shutil.which("dpkg") is None:
    pytest.skip("not a Debian host: no dpkg", allow_module_level=True)
if build_san() == "1":
    pytest.skip("a SAN=1 suite: the package is built and installed without "
        "sanitizers, as in make test, which runs this", allow_module_level=True)


def sh(*argv, timeout=60, input=None, check=True):
    """Run argv; fail the test with its output unless it exits 0."""
    r = run(argv, input=input, timeout=timeout)
    if check and r.returncode != 0:
        pytest.fail("%s: exit %d\n%s%s" % (" ".join(map(str, argv)),
            r.returncode, r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace")), pytrace=False)
    return r


def dpkg(*args):
    """dpkg with debconf's non-interactive front end, once the lock that
    another dpkg or apt-get on this host may hold is free."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = None

    def attempt():
        nonlocal r
        r = subprocess.run(["dpkg"] + [str(a) for a in args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
            timeout=DPKG_TIMEOUT)
        return not (r.returncode != 0 and LOCKED in r.stdout)

    wait_for(attempt, timeout=DPKG_TIMEOUT, interval=1, what="dpkg's lock")
    return r


def installed(package):
    r = run(["dpkg-query", "-W", "-f", "${Status}", package])
    return r.returncode == 0 and r.stdout == b"install ok installed"


def other_mtas():
    """Installed packages other than ferry that provide an MTA, with
    their versions."""
    r = sh("dpkg-query", "-W", "-f",
        "${Package}\t${Version}\t${Status}\t${Provides}\n")
    found = []
    for line in r.stdout.decode().splitlines():
        name, version, status, provides = line.split("\t")
        if name != "ferry" and status == "install ok installed" and \
                "mail-transport-agent" in provides:
            found.append((name, version))
    return found


def packages():
    """The installed packages, with their versions."""
    r = sh("dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n")
    return sorted(l.split(" ", 2)[:2] for l in r.stdout.decode().splitlines()
                  if l.endswith(" install ok installed"))


def host_state():
    return {
        "packages": packages(),
        "passwd": sorted(sh("getent", "passwd").stdout.splitlines()),
        "group": sorted(sh("getent", "group").stdout.splitlines()),
        "mtas": other_mtas(),
        "aliases": Path("/etc/aliases").read_bytes()
        if os.path.exists("/etc/aliases") else None,
    }


def remake_ferry_users(before):
    """Make again, with their ids, the Ferry users the host had before
    (the purge removed them)."""
    groups = {}
    for line in before["group"]:
        name, _, gid = line.decode().split(":")[:3]
        groups[gid] = name
    for line in before["passwd"]:
        name, _, uid, gid, gecos, home, shell = line.decode().split(":")
        if name not in USERS or \
                run(["getent", "passwd", name]).returncode == 0:
            continue
        if gid in groups and \
                run(["getent", "group", groups[gid]]).returncode != 0:
            sh("groupadd", "-r", "-g", gid, groups[gid])
        sh("useradd", "-r", "-u", uid, "-g", gid, "-c", gecos, "-d", home,
            "-M", "-s", shell, name)


def conf_get(key):
    """The installed configuration's value of key."""
    return sh("/usr/libexec/ferry/ferry-control", "get", key) \
        .stdout.decode().strip()


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


# --- fixtures --------------------------------------------------------------

@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """ferry_VERSION_ARCH.deb, built by make deb in a copy of the tree."""
    src = tmp_path_factory.mktemp("deb") / "ferry"
    shutil.copytree(REPO, src, symlinks=True, ignore=lambda d, names:
        [n for n in names if n in CACHES or n in NOT_COPIED.get(Path(d), ())])
    r = run(["make", "-C", src, "deb"], timeout=BUILD_TIMEOUT)
    if r.returncode != 0:
        pytest.fail("make deb: exit %d\n%s" % (r.returncode,
            (r.stdout + r.stderr)[-6000:].decode(errors="replace")),
            pytrace=False)
    arch = sh("dpkg", "--print-architecture").stdout.decode().strip()
    path = src / ("ferry_%s_%s.deb" % (VERSION, arch))
    assert path.is_file(), "make deb made no %s" % path.name
    return path


class Host:
    """What the test changed on the host, to be put back."""

    def __init__(self):
        self.before = host_state()
        self.removed_mtas = []
        self.added = []
        self.user = None
        self.home_base = None

    def remove_other_mtas(self):
        # --force-depends: what needs an MTA (a mailx, say) stays, and
        # ferry provides mail-transport-agent until the MTA is back.
        for name, version in self.before["mtas"]:
            r = dpkg("--remove", "--force-depends", name)
            assert r.returncode == 0, r.stdout.decode(errors="replace")
            self.removed_mtas.append((name, version))

    def add_mail_command(self):
        """`mail`, as the README's `echo hi | mail -s test root` has it:
        bsd-mailx, which needs an MTA and now takes ferry as one."""
        if shutil.which("mail") is not None:
            return
        before = packages()
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(["apt-get", "install", "-y", "-q",
            "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300",
            "bsd-mailx"], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, timeout=DPKG_TIMEOUT)
        self.added = [name for name, _ in packages() if
                      name not in {n for n, _ in before}]
        assert r.returncode == 0, r.stdout.decode(errors="replace")
        assert "ferry" not in self.added and "bsd-mailx" in self.added, \
            self.added

    def remove_added(self):
        """Purge what add_mail_command() installed: it needs an MTA."""
        if self.added:
            r = dpkg("--purge", *self.added)
            assert r.returncode == 0, r.stdout.decode(errors="replace")
            self.added = []

    def make_user(self):
        self.home_base = Path(tempfile.mkdtemp(prefix="ferry-deb-"))
        self.home_base.chmod(0o755)
        name = "ftdeb%s" % secrets.token_hex(3)
        sh("useradd", "-m", "-d", self.home_base / name, "-s", "/bin/sh",
            "-K", "MAIL_DIR=/nonexistent", name)
        self.user = pwd.getpwnam(name)
        return self.user

    def restore(self):
        """Purge, then put back /etc/aliases before the MTA packages
        (their postinst reads it), then the users."""
        self.remove_added()
        if run(["dpkg-query", "-W", "ferry"]).returncode == 0:
            dpkg("--purge", "--force-depends", "ferry")
        # an answer preseeded for a package that never got installed
        run(["debconf-communicate", "ferry"], input=b"PURGE\n")
        if self.before["aliases"] is None:
            Path("/etc/aliases").unlink(missing_ok=True)
        else:
            Path("/etc/aliases").write_bytes(self.before["aliases"])
        if self.removed_mtas:
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "install", "-y", "-q",
                "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"] +
                ["%s=%s" % nv for nv in self.removed_mtas], env=env,
                timeout=DPKG_TIMEOUT, check=True)
        if self.user is not None:
            run(["userdel", self.user.pw_name])
            for name in (self.user.pw_name, self.user.pw_name + ".lock"):
                Path("/var/mail", name).unlink(missing_ok=True)
        if self.home_base is not None:
            shutil.rmtree(self.home_base, ignore_errors=True)
        remake_ferry_users(self.before)


@pytest.fixture(scope="module")
def host():
    if installed("ferry"):
        pytest.skip("the ferry package is installed already; this test "
            "installs and purges it and leaves an existing one alone")
    h = Host()
    try:
        h.remove_other_mtas()
        if listening(25):
            pytest.skip("port 25 of loopback is taken, by no MTA package; "
                "the package's smtpd needs it")
        yield h
    finally:
        h.restore()
    after = host_state()
    for key in ("packages", "passwd", "group", "mtas", "aliases"):
        assert after[key] == h.before[key], "host's %s not as before" % key


@pytest.fixture(scope="module")
def installed_ferry(host, deb):
    """The package installed, root's mail aliased to a new user."""
    user = host.make_user()
    if host.before["aliases"] is None:
        # the postinst writes /etc/aliases with the debconf answer
        sh("debconf-set-selections", input=b"ferry ferry/root_address "
            b"string %s\n" % user.pw_name.encode())
    else:
        Path("/etc/aliases").write_text("postmaster: root\nroot: %s\n" %
            user.pw_name)
    r = dpkg("-i", deb)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    host.add_mail_command()
    return user


# --- tests -----------------------------------------------------------------

def test_lintian_finds_no_error(deb):
    r = run(["lintian", deb], timeout=300)
    out = r.stdout.decode(errors="replace")
    errors = [l for l in out.splitlines() if l.startswith("E:")]
    assert not errors, out


def test_sendmail_is_ferrys_and_not_setuid(installed_ferry):
    for path in ("/usr/sbin/sendmail", "/usr/lib/sendmail",
            "/usr/bin/mailq", "/usr/bin/newaliases"):
        owner = sh("dpkg", "-S", path).stdout.decode()
        assert owner.startswith("ferry: "), owner
    assert os.path.realpath("/usr/lib/sendmail") == "/usr/sbin/sendmail"
    mode = os.stat("/usr/sbin/sendmail").st_mode
    assert mode & (stat.S_ISUID | stat.S_ISGID) == 0
    assert sh("ferryctl", "version").stdout.decode() == \
        "ferry %s\n" % VERSION


def test_config_written_for_this_host_is_not_a_conffile(installed_ferry):
    conffiles = sh("dpkg-query", "-W", "-f", "${Conffiles}", "ferry") \
        .stdout.decode()
    assert "/etc/ferry/ferry.conf" not in conffiles
    assert "/etc/logrotate.d/ferry" in conffiles
    fqdn = sh("hostname", "--fqdn").stdout.decode().strip()
    assert conf_get("myhostname") == fqdn
    assert conf_get("default_route") == "mx"
    assert "127.0.0.1:25" in conf_get("smtp_listen").split()
    assert "localhost" in conf_get("mydestination").split()


def test_man_ferry_conf_documents_every_key(installed_ferry):
    page = sh("man", "-w", "5", "ferry.conf").stdout.decode().strip()
    assert page == "/usr/share/man/man5/ferry.conf.5.gz"
    r = subprocess.run(["man", "--nh", "--nj", "5", "ferry.conf"],
        env=dict(os.environ, MANWIDTH="200"), stdout=subprocess.PIPE,
        timeout=60, check=True)
    defaults = sh("/usr/libexec/ferry/ferry-control", "defaults").stdout
    keys = re.findall(r"^#([a-z_]+) =", defaults.decode(), re.M)
    assert len(keys) > 50
    assert [k for k in keys if k not in r.stdout.decode()] == []


def test_users_and_state_directories(installed_ferry):
    for name in USERS:
        pw = pwd.getpwnam(name)
        assert pw.pw_shell == "/usr/sbin/nologin"
        assert grp.getgrgid(pw.pw_gid).gr_name == name
    for path, owner, mode in (("/var/spool/ferry", "ferry-queue", 0o700),
            ("/var/spool/ferry/q", "ferry-queue", 0o700),
            ("/var/lib/ferry", "ferry-deleg", 0o700),
            ("/var/lib/ferry-relay", "ferry-relay", 0o700),
            ("/var/log/ferry", "root", 0o755)):
        st = os.stat(path)
        assert (pwd.getpwuid(st.st_uid).pw_name,
            stat.S_IMODE(st.st_mode)) == (owner, mode), path


def test_units_verify_clean(installed_ferry):
    units = ["/lib/systemd/system/ferry.target"] + sorted(
        str(p) for p in Path("/lib/systemd/system").glob("ferry-*.service"))
    assert len(units) == 8
    r = run(["systemd-analyze", "verify"] + units, timeout=60)
    assert (r.returncode, r.stdout + r.stderr) == (0, b"")


def test_daemons_run_and_smtpd_greets_on_port_25(installed_ferry):
    if os.path.isdir("/run/systemd/system"):
        # the postinst started ferry.target, which started each daemon
        sh("systemctl", "is-active", "ferry.target", "ferry-queued",
            "ferry-relayd", "ferry-locald", "ferry-smtpd")
    r = sh("ferryctl", "status")
    out = r.stdout.decode()
    for d in ("queued", "relayd", "locald", "smtpd"):
        assert any(l.split()[:1] == [d] and " running " in l
            for l in out.splitlines()), out
    with socket.create_connection(("127.0.0.1", 25), timeout=10) as s:
        assert s.recv(512).startswith(b"220 ")


def test_user_mail_to_root_arrives_where_aliases_say(installed_ferry):
    user = installed_ferry
    as_user = ["setpriv", "--reuid", str(user.pw_uid), "--regid",
        str(user.pw_gid), "--init-groups", "--reset-env"]
    mail = shutil.which("mail")
    tokens = [secrets.token_hex(8) for _ in range(2)]
    sh(*as_user, mail, "-s", "test", "root",
        input=b"hi %s\n" % tokens[0].encode())
    # as a service started with NoNewPrivileges would
    sh(*as_user, "--no-new-privs", "/usr/sbin/sendmail", "-i", "root",
        input=b"Subject: nnp\n\nhi %s\n" % tokens[1].encode())
    box = Path("/var/mail", user.pw_name)

    def bodies():
        if not box.exists():
            return None
        msgs = list(mailbox.mbox(str(box), create=False))
        return msgs if len(msgs) >= 2 else None
    msgs = wait_for(bodies, timeout=120, interval=0.2,
        what="two messages in %s" % box)
    got = {m["Subject"]: m.get_payload() for m in msgs}
    assert tokens[0] in got["test"] and tokens[1] in got["nnp"], got
    assert os.stat(box).st_uid == user.pw_uid


def test_logrotate_rotates_and_the_daemons_reopen(installed_ferry,
        tmp_path):
    log = Path("/var/log/ferry/queued.log")
    owner = os.stat(log).st_uid
    sh("logrotate", "-f", "-s", tmp_path / "status",
        "/etc/logrotate.d/ferry")
    assert Path("/var/log/ferry/queued.log.1").exists()
    # the new file is the daemon's, and it writes there after the reload
    assert os.stat(log).st_uid == owner
    wait_for(lambda: b"event=reopen" in log.read_bytes(), timeout=30,
        what="queued's event=reopen in the new queued.log")


@pytest.mark.parametrize("answer, route", [
    ("relay.example.net", "smtp:[relay.example.net]:25"),
    ("[relay.example.net]:587", "smtp:[relay.example.net]:587")])
def test_debconf_smarthost_becomes_the_default_route(installed_ferry,
        tmp_path, answer, route):
    conf = Path("/etc/ferry/ferry.conf")
    kept = tmp_path / "ferry.conf"
    shutil.move(conf, kept)
    try:
        # the question is asked, and its answer used, for a new file
        sh("debconf-set-selections", input=b"ferry ferry/smarthost "
            b"string %s\n" % answer.encode())
        r = subprocess.run(["dpkg-reconfigure", "-fnoninteractive",
            "ferry"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            timeout=DPKG_TIMEOUT)
        assert r.returncode == 0, r.stdout.decode(errors="replace")
        assert conf_get("default_route") == route
    finally:
        shutil.move(kept, conf)
        sh("debconf-set-selections",
            input=b"ferry ferry/smarthost string \n")


def test_admin_config_kept_on_reinstall(installed_ferry, deb):
    conf = Path("/etc/ferry/ferry.conf")
    edit = "# the admin's line (t/test_deb.py)\n"
    with conf.open("a") as f:
        f.write(edit)
    r = dpkg("-i", deb)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    assert conf.read_text().endswith(edit)
    sh("ferryctl", "status")


def test_purge_leaves_nothing_of_ferry(host, installed_ferry):
    files = [p for p in sh("dpkg", "-L", "ferry").stdout.decode()
        .splitlines() if p.startswith("/") and not os.path.isdir(p)]
    host.remove_added()
    r = dpkg("--purge", "ferry")
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    assert run(["dpkg-query", "-W", "ferry"]).returncode != 0
    assert [p for p in files if os.path.lexists(p)] == []
    assert [p for p in STATE if os.path.lexists(p)] == []
    passwd = sh("getent", "passwd").stdout.decode()
    group = sh("getent", "group").stdout.decode()
    assert [u for u in USERS if "\n%s:" % u in "\n" + passwd] == []
    assert [u for u in USERS if "\n%s:" % u in "\n" + group] == []
    assert sh("debconf-show", "ferry").stdout == b""
    procs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv0 = Path("/proc", pid, "cmdline").read_bytes() \
                .split(b"\0")[0]
        except OSError:
            continue
        if argv0.startswith(b"/usr/libexec/ferry/"):
            procs.append((pid, argv0))
    assert procs == []
    assert not listening(25)
