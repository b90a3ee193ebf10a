# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""newaliases (sendmail -bi, -I): alias_file checked, errors as FILE:LINE,
and locald told to read it again."""

import pytest

from conftest import BIN, run, wait_for


def newaliases(ferry, *how):
    argv = [BIN / "newaliases"] if not how else [BIN / "sendmail", *how]
    return run([*argv, "-C", ferry.conf_path])


@pytest.mark.ferry_daemons()
@pytest.mark.parametrize("how", [(), ("-bi",), ("-I",)])
def test_a_good_file_is_counted(ferry, how):
    p = ferry.base / "aliases"
    p.write_text("# admins\npostmaster: root\nroot: alice,\n  bob\n")
    ferry.write_conf(alias_file=str(p))
    r = newaliases(ferry, *how)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines()[0] == \
        "newaliases: %s: 2 aliases" % p


@pytest.mark.ferry_daemons()
def test_every_error_is_reported_with_its_line(ferry):
    p = ferry.base / "aliases"
    p.write_text("postmaster: root\nno colon\nroot: alice\nroot: bob\n"
        "x: error:250 fine\n")
    ferry.write_conf(alias_file=str(p))
    r = newaliases(ferry)
    assert r.returncode == 78
    assert r.stderr.decode().splitlines() == [
        "%s:2: expected \"name: target, ...\"" % p,
        "%s:5: error: needs a 4xx or 5xx code (and X.Y.Z of its class), "
        "then text" % p,
        "%s:4: alias root given again (first at line 3)" % p,
    ]
    assert r.stdout == b""


@pytest.mark.ferry_daemons()
def test_nul_bytes_relative_paths_and_bad_codes_are_refused(ferry):
    p = ferry.base / "aliases"
    p.write_bytes(b"a: b\nc: d\0e\nf: mbox/f\r\n"
        b"g: h,\n  error:550 4.1.1 wrong class\n")
    ferry.write_conf(alias_file=str(p))
    r = newaliases(ferry, "-bi")
    assert r.returncode == 78
    assert r.stderr.decode().splitlines() == [
        "%s:2: a NUL byte" % p,
        "%s:3: a relative path (a file is /path)" % p,
        "%s:4: error: needs a 4xx or 5xx code (and X.Y.Z of its class), "
        "then text" % p,
    ]


@pytest.mark.ferry_daemons()
def test_an_empty_alias_file_means_no_aliases(ferry):
    ferry.write_conf(alias_file="")
    r = newaliases(ferry)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == \
        "newaliases: alias_file is empty: no aliases"


@pytest.mark.ferry_daemons()
def test_a_missing_file_is_no_aliases(ferry):
    p = ferry.base / "none"
    ferry.write_conf(alias_file=str(p))
    r = newaliases(ferry)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == \
        "newaliases: %s: no such file (no aliases)" % p


@pytest.mark.ferry_daemons()
def test_locald_rereads_the_file(ferry):
    p = ferry.base / "aliases"
    p.write_text("postmaster: root\n")
    ferry.write_conf(alias_file=str(p))
    ferry.start("queued")
    ferry.start("locald")
    n = len(ferry.log_events("aliases", name="locald"))
    p.write_text("postmaster: root\nroot: %s\n" % "someone")
    r = newaliases(ferry)
    assert r.returncode == 0, r.stderr
    assert b"locald rereads it" in r.stdout
    evs = wait_for(lambda: ferry.log_events("aliases", name="locald")[n:],
        timeout=10, what="locald's aliases event")
    assert evs[-1]["aliases"] == "2"
    table = (ferry.run_dir / "local-recipients").read_text().splitlines()
    assert "postmaster" in table and "root" in table
