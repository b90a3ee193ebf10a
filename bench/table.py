# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""How the benchmarks print their figures: a row is (name, value), and a
row without a value is a note, printed as it is."""
import os
import tempfile


def not_built(label, bindir, names):
    """[a row saying which of names is missing from bindir], or []."""
    missing = [n for n in names if not os.path.exists(f"{bindir}/{n}")]
    return [(label, f"not built ({missing[0]})")] if missing else []


def print_rows(rows):
    width = max((len(r[0]) for r in rows if r[1] is not None), default=0)
    for name, value in rows:
        print(name if value is None else f"{name:<{width}}  {value}")


def run_alone(rows, prefix):
    """A module's own main: its rows() on a fresh directory, printed."""
    print_rows(rows(tempfile.mkdtemp(prefix=prefix)))
