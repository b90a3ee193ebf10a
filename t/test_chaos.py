# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Chaos, every daemon: a steady SMTP and sendmail load goes on while a
seeded random killer SIGKILLs one of the six daemons (with the processes
it forked) at a random moment and `ferryctl start`s it again, over and
over (t/chaosharness.py sets up the suite).  Then the queue drains, and

- every recipient of a message that got 250 after DATA, or a sendmail
  exit 0, has it at a sink (the SMTP sink or the WebSmtp service) at
  least once, byte for byte (its body's size and sha256);
- nothing that arrived is cut or garbled, acknowledged or not;
- no recipient that RCPT refused has the message;
- no daemon died that was not killed, and each came back.

At-least-once is the promise: duplicates are counted and reported, not
failed.  FERRY_CHAOS_KILLS (default 60, `make chaos`: 1000) and
FERRY_CHAOS_SEED (replay a run) are read from the environment.  The
figures are printed (-s) and written to $FERRY_TEST_TMP (or /tmp)
/ferry-chaos-SEED.txt."""

import bisect
import collections
import os
import random
import resource
import smtplib
import subprocess
import tempfile
import threading
import time

import pytest

import chaosharness
from chaosharness import (DAEMONS, HELO, RCPTS, SENDER, SMTP_LINE_MAX,
    WEB_DOMAIN, WEB_LINE_MAX, chaos, make_body, message,  # noqa: F401
    random_size)
from conftest import tail, wait_for

KILLS = int(os.environ.get("FERRY_CHAOS_KILLS") or 60)
SMTP_WORKERS = 2
SENDMAIL_WORKERS = 2
CLIENT_TIMEOUT = 30
DELIVERY_DAEMONS = ("queued", "relayd", "webrelayd")
DELIVERY_SLACK = 10         # seconds a delivery may outlast queued
# the watchdog: generous, the test ends by itself long before
WATCHDOG = 240 + 4 * KILLS


def pick_rcpts(rng):
    """One or two recipients: the SMTP sink's domains, the web one, or
    both (relayd delivers one part, webrelayd posts the other)."""
    domains = rng.sample(sorted(RCPTS), rng.choice((1, 1, 1, 2)))
    return [rng.choice(RCPTS[d]) for d in domains]


class Load:
    """Submitting threads; every attempt is recorded in self.attempts as
    a dict: token, via, rcpts, acked (the recipients acknowledged),
    outcome."""

    def __init__(self, harness, seed):
        self.chaos = harness
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.attempts = []
        self.threads = []

    def _record(self, **a):
        with self.lock:
            self.attempts.append(a)

    def acked(self):
        with self.lock:
            return sum(1 for a in self.attempts if a["acked"])

    def _message(self, wrng, token, eol):
        rcpts = pick_rcpts(wrng)
        web_only = all(r.endswith("@" + WEB_DOMAIN) for r in rcpts)
        first, lines = make_body(wrng, token, random_size(wrng),
            WEB_LINE_MAX if web_only else SMTP_LINE_MAX)
        return rcpts, message(token, first, lines,
            headers=[b"To: <%s>" % r.encode() for r in rcpts], eol=eol)

    def smtp_worker(self, n, wrng):
        port = self.chaos.smtp_port
        conn = None
        i = 0
        while not self.stop.is_set():
            token = "s%d-%d-%08x" % (n, i, wrng.getrandbits(32))
            i += 1
            rcpts, data = self._message(wrng, token, b"\r\n")
            acked, outcome = [], "250"
            try:
                if conn is None:
                    conn = smtplib.SMTP("127.0.0.1", port,
                        timeout=CLIENT_TIMEOUT)
                    conn.ehlo(HELO)
                refused = conn.sendmail(SENDER, rcpts, data)
                acked = [r for r in rcpts if r not in refused]
            except smtplib.SMTPRecipientsRefused as e:
                outcome = "RCPT %s" % sorted({c for c, _ in
                    e.recipients.values()})
            except smtplib.SMTPResponseException as e:
                outcome = "%d" % e.smtp_code
            except (smtplib.SMTPException, OSError) as e:
                outcome = type(e).__name__
            if outcome != "250" and conn is not None:
                try:
                    conn.close()
                except OSError:
                    pass
                conn = None
            if outcome != "250":
                # a daemon is down: a client backs off before it tries
                # again
                self.stop.wait(wrng.uniform(0.02, 0.1))
            self._record(token=token, via="smtp", rcpts=rcpts, acked=acked,
                outcome=outcome)
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass

    def sendmail_worker(self, n, wrng):
        ferry = self.chaos.ferry
        i = 0
        while not self.stop.is_set():
            token = "m%d-%d-%08x" % (n, i, wrng.getrandbits(32))
            i += 1
            rcpts, data = self._message(wrng, token, b"\n")
            try:
                r = ferry.sendmail("-i", *rcpts, input=data,
                    timeout=CLIENT_TIMEOUT)
                rc = r.returncode
                err = r.stderr.decode(errors="replace").strip()[-200:]
            except subprocess.TimeoutExpired:
                rc, err = "timeout", ""
            if rc != 0:
                self.stop.wait(wrng.uniform(0.02, 0.1))
            self._record(token=token, via="sendmail", rcpts=rcpts,
                acked=list(rcpts) if rc == 0 else [],
                outcome="exit %s" % rc,
                stderr=err if rc not in (0, 75) else None)

    def start(self):
        for n in range(SMTP_WORKERS):
            self.threads.append(threading.Thread(target=self.smtp_worker,
                args=(n, random.Random(self.rng.random())), daemon=True))
        for n in range(SENDMAIL_WORKERS):
            self.threads.append(threading.Thread(
                target=self.sendmail_worker,
                args=(n, random.Random(self.rng.random())), daemon=True))
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(CLIENT_TIMEOUT * 3)
        assert not any(t.is_alive() for t in self.threads), \
            "a load thread hung"


def kill_moment(rng):
    """Seconds from a daemon's return to the next kill: one in five
    at once (while the daemons recover and reconnect), else up to 1 s."""
    if rng.random() < 0.2:
        return rng.uniform(0, 0.02)
    return rng.uniform(0.05, 1.0)


def arrivals(harness):
    """Everything the sinks took: a list of dicts via, token, verdict,
    rcpts, key (the Idempotency-Key of a post), bounce."""
    out = []
    for m in harness.sink.received():
        token, verdict = m.summary
        out.append(dict(via="smtp", token=token, verdict=verdict,
            rcpts=[r.lower() for r in m.rcpt_tos], key=None,
            bounce=m.mail_from == "", time=m.time))
    for req in harness.web.sink.received():
        if req.error is not None:
            out.append(dict(via="web", token=None, verdict=req.error,
                rcpts=[], key=req.header("Idempotency-Key"), bounce=False,
                time=req.arrived))
            continue
        part = req.message_part
        token, verdict = part.summary if part.summary else (None,
            "message part of %d bytes not summarized" % part.size)
        out.append(dict(via="web", token=token, verdict=verdict,
            rcpts=[r.lower() for r in req.to],
            key=req.header("Idempotency-Key"), bounce=req.sender == "",
            time=req.arrived))
    return out


def test_summarize_tells_a_cut_message():
    """The checker's own check: a whole message is "ok", one cut
    anywhere in its body or with a byte changed is not."""
    rng = random.Random(1)
    first, lines = make_body(rng, "t-1", 5000)
    data = b"Received: by x\r\n" + message("t-1", first, lines)
    assert chaosharness.summarize(data) == ("t-1", "ok")
    head_end = data.index(b"\r\n\r\n")
    for cut in (head_end + 10, len(data) // 2, len(data) - 2):
        token, verdict = chaosharness.summarize(data[:cut])
        assert verdict != "ok", cut
    i = len(data) - 100
    changed = data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]
    assert chaosharness.summarize(changed)[1] == "sha256 differs"


@pytest.mark.timeout(WATCHDOG)
def test_kill_9_any_daemon_under_load_loses_nothing(chaos):
    seed = int(os.environ.get("FERRY_CHAOS_SEED") or
        random.SystemRandom().getrandbits(32))
    print("\nFERRY_CHAOS_SEED=%d FERRY_CHAOS_KILLS=%d" % (seed, KILLS))
    rng = random.Random(seed)
    t0 = time.monotonic()

    rc, started, out = chaos.start()
    assert rc == 0, out
    assert sorted(started) == sorted(DAEMONS), out
    load = Load(chaos, rng.random())
    load.start()

    kills = collections.Counter()
    kill_log = []           # (time.time(), daemon)
    unexpected = []         # (kill number, daemon, what)
    came_back_late = []     # (kill number, daemon, ferryctl output)
    try:
        # the first messages: the load is going before the first kill
        wait_for(lambda: load.acked() >= 4, timeout=60,
            what="the first acknowledged messages\n%s" %
            chaos.diagnostics())
        before = chaos.pids()
        for i in range(1, KILLS + 1):
            load.stop.wait(kill_moment(rng))
            name = rng.choice(DAEMONS)
            now = chaos.pids()
            gone = [n for n in DAEMONS if before.get(n) != now.get(n)]
            for n in gone:
                pid = before.get(n)
                unexpected.append((i, n, "pid %s is gone (%s) before kill "
                    "%d\n%s" % (pid, chaosharness.how_it_ended(pid) if pid
                    else "-", i, tail(chaos.ferry.log_path(n), 15))))
            if name not in gone:
                assert chaos.kill(name), "%s was not running at kill %d" \
                    "\n%s" % (name, i, chaos.diagnostics())
                kills[name] += 1
                kill_log.append((time.time(), name))
            rc, started, out = chaos.start()
            if rc != 0:
                # once more: a daemon that cannot come back fails the test
                came_back_late.append((i, name, out))
                rc, started2, out2 = chaos.start()
                assert rc == 0, "kill %d of %s: ferryctl start failed " \
                    "twice:\n%s\n%s\n%s" % (i, name, out, out2,
                    chaos.diagnostics())
                started += started2
            for n in started:
                if n != name and n not in gone:
                    unexpected.append((i, n, "restarted after kill %d of "
                        "%s:\n%s" % (i, name, tail(chaos.ferry.log_path(n),
                        15))))
            assert chaos.answers(name), "%s does not answer after kill %d" \
                % (name, i)
            before = chaos.pids()
    finally:
        load.finish()
    loop_time = time.monotonic() - t0

    # all up, then the queue drains
    rc, started, out = chaos.start()
    assert rc == 0, out
    with load.lock:
        attempts = list(load.attempts)
    acked = [a for a in attempts if a["acked"]]
    wait_for(lambda: chaos.ferry.queue_files() == [],
        timeout=300 + len(acked) // 5, interval=0.5,
        what="an empty queue after the run (%d files)\n%s\n%s" % (
            len(chaos.ferry.queue_files()), chaos.ferry.mailq().stdout.decode(
            errors="replace")[-3000:], chaos.diagnostics()))
    drain_time = time.monotonic() - t0 - loop_time
    assert chaos.ferry.queue_files("corrupt") == [], \
        "kill -9 left damaged files in corrupt/"

    # --- what arrived ---------------------------------------------------
    arrived = arrivals(chaos)
    by_token = {a["token"]: a for a in attempts}
    damaged = [a for a in arrived if a["verdict"] != "ok" and
        not a["bounce"]]
    unknown = [a for a in arrived if not a["bounce"] and a["verdict"] == "ok"
        and a["token"] not in by_token]
    bounces = [a for a in arrived if a["bounce"]]
    copies = collections.Counter()          # (token, rcpt) -> copies
    keys = collections.defaultdict(set)     # (token, rcpt) -> web keys
    times = collections.defaultdict(list)   # (token, rcpt) -> arrivals
    for a in arrived:
        if a["verdict"] == "ok" and a["token"] in by_token:
            for r in a["rcpts"]:
                copies[a["token"], r] += 1
                times[a["token"], r].append(a["time"])
                if a["key"]:
                    keys[a["token"], r].add(a["key"])

    lost = [(a["token"], r, a["via"]) for a in acked for r in a["acked"]
        if copies[a["token"], r.lower()] == 0]
    refused_arrived = [(a["token"], r, a["outcome"]) for a in attempts
        for r in a["rcpts"] if r not in a["acked"] and (a["outcome"] ==
        "250" or a["outcome"].startswith("RCPT"))
        and copies[a["token"], r.lower()]]
    unacked_arrived = [a["token"] for a in attempts if not a["acked"] and
        any(copies[a["token"], r.lower()] for r in a["rcpts"])]
    dups = {k: n for k, n in copies.items() if n > 1}
    # a post repeated under the same Idempotency-Key is one message to a
    # service that honours the key
    web_dups_same_key = sum(n - 1 for k, n in dups.items() if keys[k] and
        len(keys[k]) < n)
    # an extra copy is explained by a kill of a daemon that hands out or
    # reports deliveries (queued, relayd, webrelayd) between the copy
    # before it (less DELIVERY_SLACK: a delivery under way when queued
    # died) and it; one without is a duplicate no crash explains
    delivery_kills = [t for t, n in kill_log if n in DELIVERY_DAEMONS]
    unexplained = []
    for k in dups:
        ts = sorted(times[k])
        for prev, t in zip(ts, ts[1:]):
            j = bisect.bisect_left(delivery_kills, prev - DELIVERY_SLACK)
            if j == len(delivery_kills) or delivery_kills[j] > t:
                unexplained.append(k)
    outcomes = collections.Counter(a["outcome"] for a in attempts)
    odd = [a for a in attempts if a["via"] == "sendmail" and
        a["outcome"] not in ("exit 0", "exit 75")]

    summary = ("chaos: seed=%d kills=%d (%s) attempts=%d acked=%d "
        "(smtp %d, sendmail %d) recipients-acked=%d copies-arrived=%d "
        "duplicates=%d (recipients %d; web same Idempotency-Key %d; "
        "without a kill of %s between the copies %d) "
        "unacked-but-arrived=%d lost=%d damaged=%d refused-but-arrived=%d "
        "bounces=%d web-cut-off=%d unexpected-deaths=%d late-restarts=%d "
        "loop=%.0fs drain=%.0fs maxrss=%dM outcomes=%s" % (
        seed, sum(kills.values()), " ".join("%s %d" % (n, kills[n])
        for n in DAEMONS), len(attempts), len(acked),
        sum(1 for a in acked if a["via"] == "smtp"),
        sum(1 for a in acked if a["via"] == "sendmail"),
        sum(len(a["acked"]) for a in acked), sum(copies.values()),
        sum(n - 1 for n in dups.values()), len(dups), web_dups_same_key,
        "/".join(DELIVERY_DAEMONS), len(unexplained),
        len(unacked_arrived), len(lost), len(damaged), len(refused_arrived),
        len(bounces), len(chaos.web.sink.incomplete), len(unexpected),
        len(came_back_late), loop_time, drain_time,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        dict(sorted(outcomes.items(), key=lambda kv: -kv[1]))))
    print(summary)
    out_dir = os.environ.get("FERRY_TEST_TMP") or tempfile.gettempdir()
    path = os.path.join(out_dir, "ferry-chaos-%d.txt" % seed)
    with open(path, "w") as f:
        f.write(summary + "\n")
        for (tok, r), n in sorted(dups.items()):
            f.write("duplicate %s %s copies=%d keys=%s\n" % (tok, r, n,
                ",".join(sorted(keys[tok, r])) or "-"))
        for tok, r in unexplained:
            f.write("unexplained duplicate %s %s\n" % (tok, r))
        for i, n, what in unexpected:
            f.write("unexpected kill=%d %s: %s\n" % (i, n, what))
        for i, n, o in came_back_late:
            f.write("late kill=%d %s: %s\n" % (i, n, o))
    print("chaos: figures in %s" % path)

    problems = []
    if lost:
        problems.append("%d acknowledged recipients lost, e.g. %r" % (
            len(lost), lost[:5]))
    if damaged:
        problems.append("%d messages arrived cut or garbled: %r" % (
            len(damaged), damaged[:5]))
    if unknown:
        problems.append("messages nobody sent: %r" % unknown[:5])
    if refused_arrived:
        problems.append("recipients refused at RCPT got the message: %r"
            % refused_arrived[:5])
    if unexpected:
        problems.append("daemons died without being killed: %s" % "\n".join(
            "kill %d: %s %s" % u for u in unexpected[:5]))
    if came_back_late:
        problems.append("ferryctl start failed once after a kill: %s" %
            "\n".join("kill %d: %s %s" % u for u in came_back_late[:3]))
    if odd:
        problems.append("sendmail exit codes other than 0/75: %r" % odd[:5])
    if problems:
        pytest.fail("FERRY_CHAOS_SEED=%d\n%s\n%s" % (seed, summary,
            "\n".join(problems)), pytrace=False)
    assert len(acked) >= 20, "too few acknowledged messages (%r) for the " \
        "test to mean anything" % outcomes
