# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""ferry-control passwd / ferryctl passwd: SMTP AUTH users in
smtpd_users_file ("name:crypt-hash" lines)."""

import ctypes
import os
import pty
import pwd
import re
import select
import signal
import stat
import subprocess
import time

import pytest

from conftest import BIN, REPO, CMD_TIMEOUT, run

pytestmark = pytest.mark.ferry_daemons()

USER = "alice@example.test"
PASSWORD = b"correct horse battery staple"
LINE_RE = re.compile(r"^(?P<name>[^:\n]+):(?P<hash>\$y\$[^:\s]+)$")

_libcrypt = ctypes.CDLL("libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]


def crypt_matches(password, hash):
    """libcrypt itself, not Ferry's code, says whether hash is password's
    (Python's crypt module is gone in 3.13)."""
    return _libcrypt.crypt(password, hash.encode()) == hash.encode()


@pytest.fixture
def users(ferry):
    """ferry with smtpd_users_file set; yields the file's path."""
    path = ferry.base / "users"
    ferry.write_conf(smtpd_users_file=str(path))
    return path


def passwd(ferry, *args, input=PASSWORD + b"\n"):
    """ferry-control passwd ARGS with input on a pipe."""
    return run([BIN / "ferry-control", "-c", ferry.conf_path, "passwd",
        *args], input=input)


def entries(path):
    """name -> hash of the file's user lines."""
    out = {}
    for line in path.read_text().splitlines():
        m = LINE_RE.match(line)
        if m:
            out[m["name"]] = m["hash"]
    return out


def no_password_shown(r, password=PASSWORD):
    return password not in r.stdout and password not in r.stderr


def test_passwd_adds_user_with_yescrypt_hash(ferry, users):
    r = passwd(ferry, USER)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "ferry-control: passwd: %s added\n" % USER
    assert no_password_shown(r)
    lines = users.read_text().splitlines()
    assert len(lines) == 1
    m = LINE_RE.match(lines[0])
    assert m and m["name"] == USER, lines
    assert crypt_matches(PASSWORD, m["hash"])
    assert not crypt_matches(b"wrong", m["hash"])
    assert PASSWORD not in users.read_bytes()


def test_passwd_without_trailing_newline(ferry, users):
    r = passwd(ferry, "bob", input=b"pw-no-newline")
    assert r.returncode == 0, r.stderr
    assert crypt_matches(b"pw-no-newline", entries(users)["bob"])


def test_passwd_change_keeps_other_lines(ferry, users):
    users.write_text("# SMTP AUTH users\n\nbob:$y$old-bob\n"
        "%s:$y$old-alice\n  # indented comment\ncarol:$y$old-carol" % USER)
    r = passwd(ferry, USER)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "ferry-control: passwd: %s changed\n" % USER
    lines = users.read_text().split("\n")
    assert lines[:3] == ["# SMTP AUTH users", "", "bob:$y$old-bob"]
    assert lines[3].startswith(USER + ":$y$")
    assert crypt_matches(PASSWORD, lines[3].split(":", 1)[1])
    assert lines[4:] == ["  # indented comment", "carol:$y$old-carol", ""]


def test_passwd_change_twice_gives_new_salt(ferry, users):
    assert passwd(ferry, USER).returncode == 0
    first = entries(users)[USER]
    assert passwd(ferry, USER).returncode == 0
    second = entries(users)[USER]
    assert first != second
    assert crypt_matches(PASSWORD, second)


def test_passwd_prefix_of_name_is_another_user(ferry, users):
    users.write_text("alice:$y$other\n")
    r = passwd(ferry, "ali")
    assert r.returncode == 0, r.stderr
    assert "added" in r.stdout.decode()
    text = users.read_text()
    assert text.startswith("alice:$y$other\nali:$y$")


def test_passwd_delete_removes_user(ferry, users):
    users.write_text("# users\nbob:$y$b\n%s:$y$a\ncarol:$y$c\n" % USER)
    r = passwd(ferry, "-d", USER, input=b"")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "ferry-control: passwd: %s deleted\n" % USER
    assert users.read_text() == "# users\nbob:$y$b\ncarol:$y$c\n"


def test_passwd_delete_missing_user_exits_67(ferry, users):
    users.write_text("bob:$y$b\n")
    r = passwd(ferry, "-d", USER, input=b"")
    assert r.returncode == 67, r
    assert USER in r.stderr.decode()
    assert users.read_text() == "bob:$y$b\n"
    assert not (users.parent / "users.tmp").exists()


def test_passwd_delete_without_file_exits_67(ferry, users):
    r = passwd(ferry, "-d", USER, input=b"")
    assert r.returncode == 67, r
    assert not users.exists()


@pytest.mark.parametrize("name", ["a:b", "a b", "a\tb", "#alice", "",
    "x" * 256, "a\x01b"])
def test_passwd_bad_user_name_exits_64(ferry, users, name):
    r = passwd(ferry, name)
    assert r.returncode == 64, r
    assert not users.exists()


def test_passwd_longest_user_name(ferry, users):
    name = "x" * 255
    assert passwd(ferry, name).returncode == 0
    assert name in entries(users)


@pytest.mark.parametrize("args", [(), ("-d",), ("-x", USER),
    (USER, "extra")])
def test_passwd_usage_exits_64(ferry, users, args):
    r = passwd(ferry, *args)
    assert r.returncode == 64, r
    assert "passwd [-d] user" in r.stderr.decode()


@pytest.mark.parametrize("data", [b"\n", b""])
def test_passwd_empty_password_fails(ferry, users, data):
    r = passwd(ferry, USER, input=data)
    assert r.returncode == 65, r
    assert "empty password" in r.stderr.decode()
    assert not users.exists()


def test_passwd_too_long_password_fails(ferry, users):
    r = passwd(ferry, USER, input=b"p" * 600 + b"\n")
    assert r.returncode == 65, r
    assert not users.exists()


def test_passwd_users_file_unset_exits_78(ferry):
    r = passwd(ferry, USER)
    assert r.returncode == 78, r
    assert ("smtpd_users_file is not set in %s" % ferry.conf_path) in \
        r.stderr.decode()


def test_passwd_file_mode_0640_whatever_the_umask(ferry, users):
    argv = [str(BIN / "ferry-control"), "-c", str(ferry.conf_path),
        "passwd", USER]
    r = subprocess.run(argv, input=PASSWORD, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, timeout=CMD_TIMEOUT, cwd=str(REPO),
        preexec_fn=lambda: os.umask(0o077))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o640
    users.chmod(0o644)
    assert passwd(ferry, USER).returncode == 0
    assert stat.S_IMODE(os.stat(users).st_mode) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_passwd_as_root_file_belongs_to_smtpd_group(ferry, users):
    try:
        smtpd = pwd.getpwnam("ferry-smtpd")
    except KeyError:
        pytest.fail("user ferry-smtpd missing: etc/install-deps users",
            pytrace=False)
    assert passwd(ferry, USER).returncode == 0
    st = os.stat(users)
    assert (st.st_uid, st.st_gid) == (0, smtpd.pw_gid)


def test_passwd_stale_tmp_file_fails_and_keeps_file(ferry, users):
    users.write_text("bob:$y$b\n")
    tmp = users.parent / "users.tmp"
    tmp.write_text("left over\n")
    r = passwd(ferry, USER)
    assert r.returncode == 74, r
    assert str(tmp) in r.stderr.decode()
    assert users.read_text() == "bob:$y$b\n"
    assert tmp.read_text() == "left over\n"


def test_passwd_leaves_no_tmp_file(ferry, users):
    assert passwd(ferry, USER).returncode == 0
    assert sorted(os.listdir(users.parent)).count("users.tmp") == 0


def test_ferryctl_passwd(ferry, users):
    ctl = [BIN / "ferryctl", "-c", ferry.conf_path]
    r = run(ctl + ["passwd", USER], input=PASSWORD + b"\n")
    assert r.returncode == 0, r.stderr
    assert crypt_matches(PASSWORD, entries(users)[USER])
    r = run(ctl + ["passwd", "-d", USER])
    assert r.returncode == 0, r.stderr
    assert USER not in entries(users)
    r = run(ctl + ["passwd", "-d", USER])
    assert r.returncode == 67, r
    r = run(ctl + ["passwd"])
    assert r.returncode == 64, r
    assert "passwd [-d] USER" in r.stderr.decode()


def pty_passwd(ferry, answers, timeout=10):
    """Run passwd on a terminal; answer each prompt in turn.  Returns
    (exit status, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execv(str(BIN / "ferry-control"), ["ferry-control", "-c",
                str(ferry.conf_path), "passwd", USER])
        finally:
            os._exit(127)
    shown = b""
    answers = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(fd, 1024)
            except OSError:
                break
            if not data:
                break
            shown += data
            for prompt in (b"Password: ", b"Again: "):
                if shown.endswith(prompt) and answers:
                    os.write(fd, answers.pop(0) + b"\n")
        else:
            os.kill(pid, signal.SIGKILL)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown


def test_passwd_on_terminal_asks_twice_without_echo(ferry, users):
    status, shown = pty_passwd(ferry, [PASSWORD, PASSWORD])
    assert status == 0, shown
    assert b"Password: " in shown and b"Again: " in shown
    assert PASSWORD not in shown
    assert crypt_matches(PASSWORD, entries(users)[USER])


def test_passwd_on_terminal_mismatch_fails(ferry, users):
    status, shown = pty_passwd(ferry, [PASSWORD, b"something else"])
    assert status == 65, shown
    assert b"do not match" in shown
    assert not users.exists()
