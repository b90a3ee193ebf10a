# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Crash safety: kill -9 queued again and again while sendmail submissions
stream in.  Every message sendmail acknowledged (exit 0) must be in the
queue exactly once with its body intact; nothing may be duplicated; no
debris may survive a clean start."""

import os
import random
import re
import subprocess
import threading
import time

import pytest

import ferryipc as ipc
from conftest import split_message

KILLS = 200             # kills wanted, and at least MIN_OK acknowledged
MIN_OK = 50             # submissions among them
WORKERS = 4
LOOP_BUDGET = 80        # seconds for the kill loop at most: a slow machine
                        # gets fewer kills, not a failure; the test < 2 min
TOKEN = re.compile(rb"^token ([0-9a-z-]+)\r$", re.M)


def random_body(rng, token):
    lines = ["token %s" % token]
    for _ in range(rng.choice([1, 3, 10, 100, 400])):
        n = rng.randrange(0, 120)
        line = "".join(rng.choice("abcdefghij .,;:-=") for _ in range(n))
        if rng.random() < 0.05:
            line = "." + line       # a leading dot must survive too
        lines.append(line)
    return ("\n".join(lines) + "\n").encode()


def answers(path):
    try:
        c = ipc.Conn(path, timeout=1)
    except OSError:
        return False
    try:
        c.hello("test")
        return True
    except (OSError, ipc.IPCError):
        return False
    finally:
        c.close()


@pytest.mark.timeout(115)
def test_kill_9_during_submissions_loses_and_duplicates_nothing(ferry):
    seed = int(os.environ.get("FERRY_CRASH_SEED") or
        random.SystemRandom().getrandbits(32))
    print("FERRY_CRASH_SEED=%d" % seed)     # shown when the test fails
    rng = random.Random(seed)
    stop = threading.Event()
    results = []        # (token, expected stored body, rc, stderr)
    lock = threading.Lock()

    def submitter(n):
        wrng = random.Random(rng.random())
        i = 0
        while not stop.is_set():
            token = "w%d-%d-%08x" % (n, i, wrng.getrandbits(32))
            i += 1
            body = random_body(wrng, token)
            msg = b"Subject: crash " + token.encode() + b"\n\n" + body
            try:
                r = ferry.sendmail("-i", "rcpt@example.test", input=msg,
                    timeout=20)
                rc, err = r.returncode, r.stderr
            except subprocess.TimeoutExpired:
                rc, err = "timeout", b""
            with lock:
                results.append((token, body.replace(b"\n", b"\r\n"), rc,
                    err))

    threads = [threading.Thread(target=submitter, args=(n,), daemon=True)
        for n in range(WORKERS)]
    for t in threads:
        t.start()

    def acked():
        with lock:
            return sum(1 for r in results if r[2] == 0)

    kills = 0
    deadline = time.monotonic() + LOOP_BUDGET
    try:
        while (kills < KILLS or acked() < MIN_OK) and \
                time.monotonic() < deadline:
            ferry.kill()
            kills += 1
            d = ferry.start(wait=False)
            # one restart in ten is killed during its own recovery
            if kills % 10:
                t0 = time.monotonic()
                while not answers(ferry.submit_socket):
                    if not d.alive():
                        d.expect_exit = True
                        pytest.fail("queued exited (%s) after crash %d\n%s"
                            % (d.proc.returncode, kills,
                            ferry.diagnostics()), pytrace=False)
                    # a watchdog (queued is back in milliseconds)
                    assert time.monotonic() - t0 < 10, \
                        "queued did not come back after crash %d\n%s" % (
                        kills, ferry.diagnostics())
                    time.sleep(0.005)
            time.sleep(rng.uniform(0.03, 0.08))
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not any(t.is_alive() for t in threads), "a submitter hung"

    # a clean start after the last crash
    ferry.kill()
    ferry.start()
    ferry.restart()

    files = ferry.queue_files()
    debris = [f for f in files if not f.endswith((".msg", ".env"))]
    assert debris == [], "debris after a clean start: %r" % debris
    msgs = {f[:-4] for f in files if f.endswith(".msg")}
    envs = {f[:-4] for f in files if f.endswith(".env")}
    assert msgs == envs, "unpaired: msg only %r, env only %r" % (
        sorted(msgs - envs), sorted(envs - msgs))
    assert ferry.queue_files("corrupt") == [], \
        "kill -9 cannot tear an envelope written by rename"

    found = {}          # token -> [(id, body)]
    for msgid in msgs:
        _, body = split_message(ferry.read_msg(msgid))
        m = TOKEN.search(body)
        assert m, "message %s has no token: %r" % (msgid, body[:200])
        found.setdefault(m[1].decode(), []).append((msgid, body))

    dups = {t: [i for i, _ in v] for t, v in found.items() if len(v) > 1}
    assert not dups, "duplicated messages: %r" % dups

    submitted = {tok: (body, rc, err) for tok, body, rc, err in results}
    unknown = set(found) - set(submitted)
    assert not unknown, "messages nobody submitted: %r" % unknown

    rcs = {}
    for _, _, rc, _ in results:
        rcs[rc] = rcs.get(rc, 0) + 1
    odd = [(tok, rc, err[-200:]) for tok, _, rc, err in results
        if rc not in (0, 75)]
    assert not odd, "sendmail exit codes other than 0/75 (%r): %r" % (
        rcs, odd[:5])

    lost = [tok for tok, (_, rc, _) in submitted.items()
        if rc == 0 and tok not in found]
    assert not lost, "%d acknowledged messages lost, e.g. %r (exit codes " \
        "%r)" % (len(lost), lost[:5], rcs)
    damaged = [tok for tok, v in found.items() if v[0][1] != submitted[tok][0]]
    assert not damaged, "bodies differ: %r" % damaged[:5]

    # how far the loop got depends on the machine; that sendmail was
    # acknowledged at all under the kills does not
    assert rcs.get(0, 0) >= 1, "no successful submission (%r): the test " \
        "means nothing" % rcs

    listed = {e["id"] for e in ferry.mailq_entries()}
    assert listed == msgs
    print("crash test: %d kills, exit codes %r, %d queued" % (kills, rcs,
        len(msgs)))
