# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Runs the C unit tests (t/unit/test_*.c, built by make into t/unit/bin/)
and checks their TAP output: a plan `1..N` and N `ok` lines."""

import os
import re

import pytest

from conftest import T_DIR, run

UNIT_BIN = T_DIR / "unit" / "bin"


def unit_binaries():
    try:
        names = sorted(os.listdir(UNIT_BIN))
    except FileNotFoundError:
        return []
    return [n for n in names
        if os.access(UNIT_BIN / n, os.X_OK) and (UNIT_BIN / n).is_file()]


BINARIES = unit_binaries()


@pytest.mark.parametrize("name", BINARIES or ["(none)"])
def test_unit(name):
    if not BINARIES:
        pytest.fail("no unit test binaries in %s: run make" % UNIT_BIN,
            pytrace=False)
    r = run([UNIT_BIN / name], timeout=60)
    out = r.stdout.decode(errors="replace")
    diag = "%s\n%s" % (out, r.stderr.decode(errors="replace"))
    lines = out.splitlines()
    plan = [l for l in lines if re.fullmatch(r"1\.\.\d+", l)]
    assert len(plan) == 1, "no TAP plan (1..N)\n" + diag
    planned = int(plan[0][3:])
    results = [l for l in lines if re.match(r"(not )?ok\b", l)]
    failed = [l for l in results if l.startswith("not ok")
        and "# TODO" not in l]
    assert not failed, "\n".join(failed) + "\n" + diag
    numbers = [int(m[1]) for m in
        (re.match(r"(?:not )?ok (\d+)", l) for l in results) if m]
    assert len(results) == planned, "planned %d, ran %d\n%s" % (planned,
        len(results), diag)
    assert numbers == list(range(1, planned + 1)), diag
    assert r.returncode == 0, "exit status %d\n%s" % (r.returncode, diag)
    assert planned > 0, diag
