# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""make install, install-dirs and uninstall, into temporary roots.

The file list is the README's "Installed files"; nothing may land
outside PREFIX, SYSCONFDIR and LOCALSTATEDIR.  make install must not run
the package manager.  Every source file carries the copyright header.
"""
import os
import pwd
import re
import stat
import subprocess

import pytest

from conftest import REPO, build_san, run

VERSION = (REPO / "VERSION").read_text().strip()


def make(*args, check=True):
    """make in the tree, with bin/'s SAN setting: install must not relink
    bin/ under a running SAN=1 suite."""
    r = subprocess.run(["make", "--no-print-directory", "-C", str(REPO),
                        "SAN=" + build_san(), *args],
                       capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def readme_files():
    """(mode, path, link target) from the README's list, doc/ expanded."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"<!-- installed-files -->\n```\n(.*?)```", text,
                      re.S).group(1)
    want = {}
    for line in block.splitlines():
        mode, path, *rest = line.split(" ", 2)
        target = rest[0][3:] if rest and rest[0].startswith("-> ") else None
        if path.endswith("/*.md"):
            for doc in (REPO / "doc").glob("*.md"):
                want[path[:-4] + doc.name] = (mode, None)
        else:
            want[path] = (mode, target)
    return want


def tree(root):
    """{path: (mode, link target)} of every file and link under root."""
    found = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files + [d for d in dirs
                             if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            target = os.readlink(full) if stat.S_ISLNK(st.st_mode) else None
            found["/" + os.path.relpath(full, root)] = (
                "%04o" % stat.S_IMODE(st.st_mode), target)
    return found


def test_install_writes_the_readme_list_and_no_package_manager(tmp_path):
    r = make("install", "DESTDIR=" + str(tmp_path))
    assert "install-deps" not in r.stdout + r.stderr
    assert "apt-get" not in r.stdout + r.stderr
    assert tree(tmp_path) == readme_files()
    if os.geteuid() == 0:
        for path in tree(tmp_path):
            assert os.lstat(str(tmp_path) + path).st_uid == 0, path


def test_installed_programs_name_their_installed_places(tmp_path):
    make("install", "DESTDIR=" + str(tmp_path), "PREFIX=/opt/ferry")
    ctl = tmp_path / "opt/ferry/sbin/ferryctl"
    text = ctl.read_text()
    assert "\nlibexec=/opt/ferry/libexec/ferry\n" in text
    # ferryctl queue and locald's forwards run the sendmail on PATH
    link = tmp_path / "opt/ferry/libexec/ferry/sendmail"
    assert os.path.realpath(link) == str(tmp_path / "opt/ferry/sbin/sendmail")
    assert "\nconf=/etc/ferry/ferry.conf\n" in text
    # Every daemon ferryctl starts is in that libexec directory.
    daemons = re.search(r"all_daemons=\(([^)]*)\)", text).group(1).split()
    for d in daemons + ["ferry-control"]:
        assert (tmp_path / "opt/ferry/libexec/ferry" / d).is_file(), d
    rot = (tmp_path / "etc/logrotate.d/ferry").read_text()
    assert "/opt/ferry/sbin/ferryctl reload" in rot
    outside = [p for p in tree(tmp_path)
               if not p.startswith(("/opt/ferry/", "/etc/"))]
    assert outside == []
    r = run([str(ctl), "version"])
    assert (r.returncode, r.stdout) == (0, b"ferry %s\n" % VERSION.encode())


def test_uninstall_removes_what_install_put_and_keeps_a_changed_conf(
        tmp_path):
    make("install", "DESTDIR=" + str(tmp_path))
    keep = tmp_path / "usr/local/bin/mine"
    keep.write_text("not Ferry's\n")
    make("uninstall", "DESTDIR=" + str(tmp_path))
    assert tree(tmp_path) == {"/usr/local/bin/mine": ("0644", None)}
    make("install", "DESTDIR=" + str(tmp_path))
    conf = tmp_path / "etc/ferry/ferry.conf"
    conf.write_text(conf.read_text() + "myhostname = mine.example\n")
    make("uninstall", "DESTDIR=" + str(tmp_path))
    assert set(tree(tmp_path)) == {"/usr/local/bin/mine",
                                   "/etc/ferry/ferry.conf"}


def test_a_second_install_keeps_the_admins_configuration(tmp_path):
    make("install", "DESTDIR=" + str(tmp_path))
    conf = tmp_path / "etc/ferry/ferry.conf"
    conf.write_text("myhostname = mine.example\n")
    make("install", "DESTDIR=" + str(tmp_path))
    assert conf.read_text() == "myhostname = mine.example\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the state "
                    "directories are made for Ferry's system users")
def test_install_dirs_gives_each_state_directory_its_owner(tmp_path):
    var = tmp_path / "var"
    make("install-dirs", "DESTDIR=" + str(tmp_path))
    want = {"spool/ferry": ("ferry-queue", 0o700),
            "spool/ferry/q": ("ferry-queue", 0o700),
            "spool/ferry/corrupt": ("ferry-queue", 0o700),
            "lib/ferry": ("ferry-deleg", 0o700),
            "lib/ferry-relay": ("ferry-relay", 0o700),
            "log/ferry": ("root", 0o755)}
    for sub, (user, mode) in want.items():
        st = os.stat(var / sub)
        assert (pwd.getpwuid(st.st_uid).pw_name,
                stat.S_IMODE(st.st_mode)) == (user, mode), sub
    # uninstall takes them away only while they are empty.
    (var / "spool/ferry/q/ABC.msg").write_text("mail\n")
    make("uninstall", "DESTDIR=" + str(tmp_path))
    assert (var / "spool/ferry/q/ABC.msg").exists()
    assert not (var / "lib/ferry").exists()
    assert not (var / "lib/ferry-relay").exists()
    assert not (var / "log/ferry").exists()


def test_ferryctl_version_needs_no_configuration():
    r = run([str(REPO / "bin/ferryctl"), "-c", "/nonexistent", "version"])
    assert (r.returncode, r.stdout) == (0, b"ferry %s\n" % VERSION.encode())
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)
    assert ("\n" + VERSION + " ") in (REPO / "CHANGES").read_text()


def source_files():
    out = subprocess.run(["git", "-C", str(REPO), "ls-files"],
                         capture_output=True, text=True, check=True).stdout
    for name in out.split():
        path = REPO / name
        if name.startswith("fuzz/corpus/") or not path.is_file():
            continue
        head = path.read_bytes()[:200]
        if name.endswith((".c", ".h", ".py")) or (
                head.startswith(b"#!") and re.match(
                    rb"#![^\n]*\b(sh|bash|python3?)\b", head)):
            yield name, path


def test_every_source_file_carries_the_copyright_header():
    missing = [name for name, path in source_files()
               if b"SPDX-License-Identifier: ISC" not in
               path.read_bytes()[:400]]
    assert missing == []
    assert "Permission to use, copy, modify, and distribute" in \
        (REPO / "LICENSE").read_text()
