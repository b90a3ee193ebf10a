# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Local delivery benchmarks (part of `make bench`, bench/run.py).

queued and locald on a spool of their own: messages of 10 KB are queued
first with locald stopped, then locald starts and delivers them, 20 at a
time (local_max_processes), each fsynced into the mailbox; the figure is
messages per second from locald's start to the last delivery, into an
mbox and into a Maildir.  Then a 1 GiB message, and the peak RSS of
locald and of its delivery processes while it is written.

Delivering as a user needs root: run as root, the benchmark makes a Unix
account for it (useradd, home under the benchmark's directory) and
removes it at the end; without root it reports that and measures nothing.
"""
import os
import secrets
import subprocess
import time

import run
from procs import stop

COUNT = 400
BODY10K = b"Subject: local bench\n\n" + (b"l" * 99 + b"\n") * 100


def delivered(log):
    try:
        with open(log) as f:
            return sum(" event=delivered " in line for line in f)
    except FileNotFoundError:
        return 0


def one_run(top, user, mailbox, large_mib=0):
    os.makedirs(top)
    spool = os.path.join(top, "mail")
    os.makedirs(spool)
    os.chmod(spool, 0o1777)
    extra = (f"mydestination = bench.test\nalias_file =\n"
             f"mail_spool_directory = {spool}\nlocal_mailbox = {mailbox}\n"
             "local_max_processes = 20\n")
    qproc, conf = run.start_queued(top, extra)
    lproc = None
    log = os.path.join(top, "log", "locald.log")
    try:
        rcpt = f"{user}@bench.test"
        if large_mib == 0:
            for _ in range(COUNT):
                run.submit_to(conf, rcpt, BODY10K)
        else:
            p = subprocess.Popen([f"{run.BIN}/sendmail", "-C", conf, "-i",
                                  rcpt], stdin=subprocess.PIPE)
            p.stdin.write(b"Subject: large local\n\n")
            chunk = (b"m" * 998 + b"\n") * 1024
            for _ in range(large_mib):
                p.stdin.write(chunk)
            p.stdin.close()
            if p.wait() != 0:
                raise SystemExit("bench: large sendmail failed")
        start = time.monotonic()
        lproc = run.start_daemon("locald", conf)
        want = COUNT if large_mib == 0 else 1
        peaks, total = {}, 0
        while delivered(log) < want:
            total = max(total, run.tree_hwm(lproc.pid, peaks))
            if time.monotonic() - start > 900:
                raise SystemExit("bench: local deliveries did not finish")
            time.sleep(0.01)
        secs = time.monotonic() - start
        master = peaks.get(lproc.pid, 0)
        child = max([v for p, v in peaks.items() if p != lproc.pid],
                    default=0)
        return want / secs, master, child, secs
    finally:
        stop([lproc, qproc])


def rows(top):
    if os.geteuid() != 0:
        return [("local delivery: needs root (it delivers as a user it "
                 "makes)", None)]
    user = "ftbench" + secrets.token_hex(2)
    home = os.path.join(top, "home")
    os.makedirs(top)
    subprocess.run(["useradd", "-m", "-d", home, "-s", "/bin/sh", "-K",
                    "MAIL_DIR=/nonexistent", user], check=True)
    out = []
    try:
        rate, _, _, _ = one_run(os.path.join(top, "mbox"), user, "mbox")
        out.append(("local delivery, 10 KB into an mbox, 20 at a time "
                    "(msg/s)", f"{rate:.0f}"))
        rate, _, _, _ = one_run(os.path.join(top, "maildir"), user,
                                "maildir")
        out.append(("local delivery, 10 KB into ~/Maildir, 20 at a time "
                    "(msg/s)", f"{rate:.0f}"))
        for mib in (16, 1024):
            _, master, child, secs = one_run(os.path.join(top, f"big{mib}"),
                                             user, "mbox", mib)
            out.append((f"{mib} MiB message into an mbox: locald peak RSS "
                        "(KiB)", master))
            out.append((f"{mib} MiB message into an mbox: delivery process "
                        "peak RSS (KiB)", child))
            out.append((f"{mib} MiB message into an mbox: MiB/s",
                        f"{mib / secs:.0f}"))
            subprocess.run(["rm", "-rf", os.path.join(top, f"big{mib}")])
    finally:
        subprocess.run(["userdel", user])
    return out
