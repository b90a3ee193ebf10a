# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""The systemd units (etc/systemd/, doc/systemd.md): installed by
`make install-units` with this installation's paths, clean for
`systemd-analyze verify` (with their manual pages), one per daemon of
ferryctl, each running its daemon in the foreground with the
configuration; the capability bounding set of each unit enough for its
daemon to start as root, and again once its log file belongs to its
user; Ferry's sendmail working under NoNewPrivileges, as from a hardened
service.

systemd need not run: verify reads the units from a temporary unit
directory (SYSTEMD_UNIT_PATH), whose ExecStart programs are links to
bin/.  Starting ferry.target itself is the Debian package test's job.
"""

import os
import pwd
import re
import shutil
import stat
import subprocess

import pytest

import conftest
import sinks
from conftest import BIN, REPO, run, wait_for
from localharness import local  # noqa: F401 (fixture)

UNIT_SRC = REPO / "etc" / "systemd"
DROPIN = "ferry-.service.d/ferry.conf"
CONF_PATH = "ferry/ferry.conf"          # under SYSCONFDIR


def all_daemons():
    """ferryctl's all_daemons, in its order."""
    m = re.search(r"^all_daemons=\(([^)]*)\)",
        (REPO / "etc" / "ferryctl").read_text(), re.M)
    return m.group(1).split()


def parse_unit(text, into=None):
    """{section: {key: [values]}} of a unit file; an empty value resets
    the key, as systemd does for list settings."""
    unit = into if into is not None else {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = unit.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        values = section.setdefault(key.strip(), [])
        if value.strip() == "":
            values.clear()
        else:
            values.append(value.strip())
    return unit


class Installed:
    """make install-units install-man PREFIX=tmp SYSCONFDIR=tmp/etc, with
    the programs the units name leading to bin/."""

    def __init__(self, root):
        self.prefix = root
        self.sysconfdir = root / "etc"
        self.unitdir = root / "lib" / "systemd" / "system"
        self.mandir = root / "share" / "man"
        r = run(["make", "-s", "install-units", "install-man",
            "PREFIX=%s" % root, "SYSCONFDIR=%s" % self.sysconfdir],
            timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        (root / "libexec" / "ferry").mkdir(parents=True)
        (root / "sbin").mkdir()
        for d in all_daemons():
            (root / "libexec" / "ferry" / d).symlink_to(BIN / d)
        # bin/ferryctl finds ferry-control beside itself
        ctl = root / "sbin" / "ferryctl"
        ctl.write_text('#!/bin/sh\nexec %s "$@"\n' % (BIN / "ferryctl"))
        ctl.chmod(0o755)

    def files(self):
        return sorted(str(p.relative_to(self.unitdir))
            for p in self.unitdir.rglob("*") if p.is_file())

    def unit(self, name):
        """The unit as systemd reads it: a service with the shared
        drop-in applied after it."""
        u = parse_unit((self.unitdir / name).read_text())
        if name.startswith("ferry-") and name.endswith(".service"):
            parse_unit((self.unitdir / DROPIN).read_text(), into=u)
        return u

    def verify(self, *names):
        """systemd-analyze verify, which also runs man(1) on each unit's
        Documentation= page among those installed."""
        env = dict(os.environ, SYSTEMD_UNIT_PATH="%s:" % self.unitdir,
            MANPATH=str(self.mandir))
        return subprocess.run(["systemd-analyze", "verify", *names],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
            timeout=60, cwd=str(self.unitdir))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """One installation for the tests that only read it."""
    return Installed(tmp_path_factory.mktemp("units"))


@pytest.fixture
def fresh(tmp_path):
    """An installation of this test's own, to change."""
    return Installed(tmp_path / "units")


def service(d):
    return "ferry-%s.service" % d


def all_units():
    return ["ferry.target"] + [service(d) for d in all_daemons()]


def need_analyze():
    for prog, pkg in (("systemd-analyze", "systemd"), ("man", "man-db")):
        if shutil.which(prog) is None:
            pytest.skip("%s not installed (package %s, etc/install-deps "
                "test)" % (prog, pkg))


def test_install_units_installs_every_template_with_mode_0644(installed):
    sources = sorted(str(p.relative_to(UNIT_SRC))
        for p in UNIT_SRC.rglob("*") if p.is_file())
    assert installed.files() == sources
    for f in installed.files():
        text = (installed.unitdir / f).read_text()
        assert "@" not in re.sub(r"#.*", "", text), f
        assert stat.S_IMODE((installed.unitdir / f).stat().st_mode) == \
            0o644, f


def test_uninstall_units_removes_the_units_and_nothing_else(fresh):
    other = fresh.unitdir / "postfix.service"
    other.write_text("[Service]\nExecStart=/bin/true\n")
    r = run(["make", "-s", "uninstall-units", "PREFIX=%s" % fresh.prefix,
        "SYSCONFDIR=%s" % fresh.sysconfdir])
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(p.name for p in fresh.unitdir.iterdir()) == \
        ["postfix.service"]


def test_make_install_puts_every_program_a_unit_runs_in_place(tmp_path):
    """With the default paths, make install and make install-units into
    one DESTDIR: each ExecStart and ExecCondition names a program that
    make install put there."""
    for target in ("install", "install-units"):
        r = run(["make", "-s", target, "DESTDIR=%s" % tmp_path],
            timeout=300)
        assert r.returncode == 0, r.stderr.decode()
    unitdir = tmp_path / "usr" / "local" / "lib" / "systemd" / "system"
    for d in all_daemons():
        text = (unitdir / service(d)).read_text()
        progs = re.findall(r"^Exec(?:Start|Condition)=(\S+)", text, re.M)
        assert len(progs) >= 1, d
        for prog in progs:
            path = tmp_path / prog.lstrip("/")
            assert path.is_file() and os.access(path, os.X_OK), prog


def test_systemd_analyze_verify_is_clean(installed):
    need_analyze()
    r = installed.verify(*all_units())
    assert r.returncode == 0 and r.stdout == b"", r.stdout.decode()


def test_verify_reports_a_broken_unit(fresh):
    """The check above can fail: a unit with a bad value, a missing
    program and a manual page that does not exist is reported."""
    need_analyze()
    u = fresh.unitdir / service("relayd")
    u.write_text(u.read_text().replace("ExecStart=",
        "Restart=sometimes\nExecStart=/nonexistent", 1).replace(
        "man:ferry-relayd(8)", "man:ferry-relay(8)"))
    out = fresh.verify(*all_units()).stdout.decode()
    for what in ("sometimes", "/nonexistent", "ferry-relay(8)"):
        assert what in out, out


def test_every_daemon_has_a_unit_and_the_target_wants_it(installed):
    services = sorted(f for f in installed.files()
        if f.startswith("ferry-") and f.endswith(".service"))
    assert services == sorted(service(d) for d in all_daemons())
    wants = " ".join(installed.unit("ferry.target")["Unit"]["Wants"])
    assert sorted(wants.split()) == services


@pytest.mark.parametrize("daemon", all_daemons())
def test_unit_runs_its_daemon_in_the_foreground_with_the_config(
        installed, daemon):
    s = installed.unit(service(daemon))["Service"]
    assert s["ExecStart"] == ["%s/libexec/ferry/%s -f -c %s/%s" % (
        installed.prefix, daemon, installed.sysconfdir, CONF_PATH)]
    assert s["Type"] == ["exec"]
    assert s["ExecReload"] == ["+/bin/kill -HUP $MAINPID"]
    u = installed.unit(service(daemon))["Unit"]
    assert u["PartOf"] == ["ferry.target"]
    assert u["ReloadPropagatedFrom"] == ["ferry.target"]


@pytest.mark.parametrize("daemon", all_daemons())
def test_other_daemons_start_after_queued_and_smtpd_last(installed,
        daemon):
    after = " ".join(installed.unit(service(daemon))["Unit"].get(
        "After", [])).split()
    if daemon == "queued":
        assert not [a for a in after if a.startswith("ferry-")]
    elif daemon == "smtpd":
        assert sorted(a for a in after if a.startswith("ferry-")) == \
            sorted(service(d) for d in all_daemons() if d != "smtpd")
    elif daemon != "delegated":         # smtpd asks it, not queued
        assert service("queued") in after


def condition(installed, daemon, conf):
    """The exit status of the unit's ExecCondition against conf; None
    for a unit without one."""
    cond = installed.unit(service(daemon))["Service"].get("ExecCondition")
    if not cond:
        return None
    argv = cond[0].replace(str(installed.sysconfdir / CONF_PATH),
        str(conf)).split()
    return run(argv).returncode


@pytest.mark.parametrize("keys", [{}, {"mydestination": ""},
    {"delegate_servers": "127.0.0.1:1", "license_files": "/nonexistent",
     "webrelay_url": "https://web.test/"}], ids=["defaults",
    "no-mydestination", "all-configured"])
def test_a_daemon_without_a_job_is_skipped_not_failed(installed, tmp_path,
        keys):
    """ExecCondition skips a unit (exit 1 to 254) exactly where ferryctl
    start would leave the daemon out; a unit without one is never left
    out."""
    conf = tmp_path / "ferry.conf"
    conf.write_text("".join("%s = %s\n" % kv for kv in keys.items()))
    for d in all_daemons():
        has_job = run([BIN / "ferryctl", "-c", conf, "configured",
            d]).returncode == 0
        status = condition(installed, d, conf)
        if status is None:
            assert has_job, "%s has no job but no ExecCondition" % d
        else:
            assert (status == 0) == has_job, d
            assert 0 <= status < 255, d


def defaults_dirs():
    """The compiled-in directories the units must let their daemons
    write (an empty configuration leaves every key at its default)."""
    out = {}
    for key in ("queue_directory", "log_directory", "delegate_cache_file"):
        r = run([BIN / "ferry-control", "-c", "/dev/null", "get", key])
        assert r.returncode == 0, r.stderr
        out[key] = r.stdout.decode().strip()
    out["delegate_cache_file"] = os.path.dirname(out["delegate_cache_file"])
    return out


def test_writable_paths_are_the_default_directories(installed):
    """ProtectSystem=strict leaves only ReadWritePaths= writable: each
    such unit may write log_directory, queued queue_directory, delegated
    delegate_cache_file's directory, and nothing else."""
    dirs = defaults_dirs()
    want = {"queued": {dirs["log_directory"], dirs["queue_directory"]},
        "delegated": {dirs["log_directory"],
            dirs["delegate_cache_file"]}}
    for d in all_daemons():
        s = installed.unit(service(d))["Service"]
        if s["ProtectSystem"] != ["strict"]:
            continue
        paths = {p.lstrip("-") for p in " ".join(
            s.get("ReadWritePaths", [])).split()}
        assert paths == want.get(d, {dirs["log_directory"]}), d


def reload_as_systemd(installed, daemon, pid):
    """ExecReload as systemd runs it: within the unit's bounding set,
    unless "+" asks for full privileges."""
    cmd = installed.unit(service(daemon))["Service"]["ExecReload"][0]
    argv = cmd.lstrip("+").replace("$MAINPID", str(pid)).split()
    if not cmd.startswith("+"):
        argv = ["setpriv", "--bounding-set",
            bounding_set(installed, daemon), "--"] + argv
    return run(argv)


def bounding_set(installed, daemon):
    caps = " ".join(installed.unit(service(daemon))["Service"][
        "CapabilityBoundingSet"]).split()
    assert caps and all(c.startswith("CAP_") for c in caps), caps
    return "-all," + ",".join("+" + c[4:].lower() for c in caps)


@pytest.mark.timeout(180)
def test_each_daemon_starts_within_its_bounding_set(installed,
        ferry_factory, tmp_path):
    """As root, as systemd starts them: every daemon under its unit's
    CapabilityBoundingSet answers, twice (the second time its log file
    and directories exist and belong to its user), and the unit's
    ExecReload makes it reopen its log."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the bounding sets limit what root may do")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed (package util-linux)")
    key, pub = tmp_path / "vendor.key", tmp_path / "vendor.pub"
    assert run([BIN / "ferry-license", "keygen", key, pub]).returncode == 0
    f = ferry_factory(dict(
        smtp_listen="127.0.0.1:%d" % sinks.free_port(),
        delegate_servers="127.0.0.1:%d" % sinks.free_port(),
        delegate_cache_file=str(tmp_path / "deleg" / "cache"),
        license_files=str(tmp_path / "licence"),
        license_public_key=str(pub),
        webrelay_url="https://127.0.0.1:%d/" % sinks.free_port(),
        mail_spool_directory=str(tmp_path / "mail"),
        default_route="maildir:%s/relay/%%u" % tmp_path,
    ), daemons=())
    for attempt in (1, 2):
        for d in all_daemons():
            f.start(d, wrap=["setpriv", "--bounding-set",
                bounding_set(installed, d), "--"])
        for d in all_daemons():
            n = len(f.log_events("reopen", name=d))
            r = reload_as_systemd(installed, d, f.daemons[d].pid)
            assert r.returncode == 0, (d, r.stderr.decode())
            wait_for(lambda: len(f.log_events("reopen", name=d)) > n,
                what="%s reopening its log" % d)
        f.stop_all()
        for d in all_daemons():
            assert f.daemons[d].proc.returncode == 0, \
                "%s (start %d)\n%s" % (d, attempt, f.diagnostics(d))


def no_new_privs(user=None):
    """setpriv --no-new-privs, as user (needs root) if one is named."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv not installed (package util-linux)")
    argv = ["setpriv", "--no-new-privs"]
    if user is not None:
        pw = pwd.getpwnam(user)
        argv += ["--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
            "--init-groups"]
    return argv


def test_sendmail_is_neither_setuid_nor_setgid():
    mode = (BIN / "sendmail").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID), oct(mode)


def test_sendmail_queues_mail_under_no_new_privs(ferry):
    """A service with NoNewPrivileges=yes (most hardened units) can still
    send mail: Ferry's sendmail needs no privilege to gain."""
    user = "nobody" if os.geteuid() == 0 else None
    uid = pwd.getpwnam(user).pw_uid if user else os.getuid()
    r = run(no_new_privs(user) + [BIN / "sendmail", "-C", ferry.conf_path,
        "rcpt@example.test"], input=conftest.make_message("hi\n"))
    assert r.returncode == 0, r.stderr.decode()
    ids = wait_for(ferry.queue_ids, what="a message in q/")
    headers, body = conftest.split_message(ferry.read_msg(ids[0]))
    received = conftest.header_values(headers, "Received")[0]
    assert re.search(r"(uid|userid)\D{0,3}%d\b" % uid, received, re.I), \
        received
    assert body == b"hi\r\n"


def test_mail_from_a_no_new_privs_user_reaches_the_mailbox(local):
    """(root) As a user's cron job under NoNewPrivileges: sendmail to the
    user herself, delivered by locald into her mbox."""
    alice = local.user("alice")
    r = run(no_new_privs(alice.name) + [BIN / "sendmail", "-C",
        local.ferry.conf_path, alice.name],
        input=conftest.make_message("from a hardened service\n",
            subject="nnp"))
    assert r.returncode == 0, r.stderr.decode()
    msg = local.wait_mbox(alice)[0]
    assert msg["Subject"] == "nnp"
    assert msg.get_payload() == "from a hardened service\n"
