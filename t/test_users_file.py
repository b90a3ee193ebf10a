# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""smtpd_users_file as smtpd reads it and `ferryctl passwd` rewrites it:
one reader (common/users.c), so both agree on which line is whose.  User
names are one user in any ASCII case, passwd writes them in lower case,
and blanks around the line and around each field do not count (README,
SMTP AUTH; doc/smtpd.md)."""

import os
import signal

from conftest import BIN, run, wait_for
from smtpdharness import crypt_hash, smtpd  # noqa: F401

PW = {"bob": "bob-M1xed-Case-Pw", "carol": "carol-Bl4nks-Pw",
    "dave": "dave-0ld-Pw", "alice": "alice-St4ys-Pw"}


def write_users(smtpd, text):
    """The users file as an editor leaves it, then SIGHUP and wait until
    smtpd has read it."""
    path = smtpd.ferry.conf["smtpd_users_file"]
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o640)
    if os.geteuid() == 0:
        os.chown(tmp, 0, smtpd.ferry.daemon_uid_gid("smtpd")[1])
    os.replace(tmp, path)
    reread(smtpd)
    return path


def reread(smtpd):
    before = len(table_events(smtpd))
    smtpd.ferry.signal("smtpd", signal.SIGHUP)
    wait_for(lambda: len(table_events(smtpd)) > before,
        what="smtpd reads the users table again")


def table_events(smtpd):
    return smtpd.ferry.log_events("table", name="smtpd", table="users")


def ferryctl_passwd(smtpd, *args, password=None):
    return run([BIN / "ferryctl", "-c", smtpd.ferry.conf_path, "passwd",
        *args], input=b"" if password is None else password.encode() +
        b"\n")


def auth(smtpd, user, password):
    with smtpd.submission_client() as c:
        c.ehlo()
        return c.auth_plain(user, password)


def test_delete_bob_removes_a_Bob_line(smtpd):
    """A "Bob:" line is bob's: smtpd takes Bob's password as "bob",
    `ferryctl passwd -d bob` deletes that line, and then smtpd refuses
    the password in either case."""
    path = write_users(smtpd, "Bob:%s\nalice:%s\n" % (crypt_hash(PW["bob"]),
        crypt_hash(PW["alice"])))
    assert auth(smtpd, "bob", PW["bob"]).startswith("235 2.7.0")
    r = ferryctl_passwd(smtpd, "-d", "bob")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "ferry-control: passwd: bob deleted\n"
    assert [l.split(":")[0] for l in open(path)] == ["alice"]
    reread(smtpd)
    assert auth(smtpd, "Bob", PW["bob"]).startswith("535 5.7.8")
    assert auth(smtpd, "bob", PW["bob"]).startswith("535 5.7.8")
    assert auth(smtpd, "alice", PW["alice"]).startswith("235 2.7.0")


def test_passwd_writes_the_name_in_lower_case(smtpd):
    path = write_users(smtpd, "alice:%s\n" % crypt_hash(PW["alice"]))
    r = ferryctl_passwd(smtpd, "Bob", password=PW["bob"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "ferry-control: passwd: bob added\n"
    assert [l.split(":")[0] for l in open(path)] == ["alice", "bob"]
    r = ferryctl_passwd(smtpd, "BOB", password=PW["bob"] + "2")
    assert r.stdout.decode() == "ferry-control: passwd: bob changed\n"
    assert [l.split(":")[0] for l in open(path)] == ["alice", "bob"]
    reread(smtpd)
    assert auth(smtpd, "Bob", PW["bob"] + "2").startswith("235 2.7.0")


def test_blanks_around_fields_count_for_neither(smtpd):
    """Blanks before, after and around the ':' of a line: smtpd takes
    the user's password, and passwd finds the user's line to change or
    delete it (and writes no second one)."""
    path = write_users(smtpd, "  carol :  %s  \n\tdave\t:\t%s\t\n"
        "alice:%s\n" % (crypt_hash(PW["carol"]), crypt_hash(PW["dave"]),
        crypt_hash(PW["alice"])))
    assert auth(smtpd, "carol", PW["carol"]).startswith("235 2.7.0")
    assert auth(smtpd, "dave", PW["dave"]).startswith("235 2.7.0")
    r = ferryctl_passwd(smtpd, "-d", "carol")
    assert r.returncode == 0, r.stderr
    r = ferryctl_passwd(smtpd, "dave", password="dave-N3w-Pw")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "ferry-control: passwd: dave changed\n"
    names = [l.split(":")[0].strip() for l in open(path)]
    assert sorted(names) == ["alice", "dave"], names
    reread(smtpd)
    assert auth(smtpd, "carol", PW["carol"]).startswith("535 5.7.8")
    assert auth(smtpd, "dave", PW["dave"]).startswith("535 5.7.8")
    assert auth(smtpd, "dave", "dave-N3w-Pw").startswith("235 2.7.0")


def test_a_name_with_a_blank_inside_is_a_bad_line(smtpd):
    """"a b:HASH" is no user for either: smtpd names the line and keeps
    the table it had."""
    path = write_users(smtpd, "alice:%s\n" % crypt_hash(PW["alice"]))
    before = len(table_events(smtpd))
    with open(path, "a") as f:
        f.write("car ol:%s\n" % crypt_hash(PW["carol"]))
    smtpd.ferry.signal("smtpd", signal.SIGHUP)
    wait_for(lambda: "keeping the old users table" in smtpd.ferry.log(
        "smtpd"), what="smtpd keeps the old users table")
    assert "%s:2: bad user name" % path in smtpd.ferry.log("smtpd")
    assert len(table_events(smtpd)) == before
    assert auth(smtpd, "alice", PW["alice"]).startswith("235 2.7.0")
