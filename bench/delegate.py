# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""The delegate's figures for `make bench` (bench/run.py calls rows()).

queued, delegated and smtpd on a fresh directory, an aiosmtpd server as
the delegate (it accepts every recipient and one user).  Measured through
smtpd, with smtplib clients in threads:
  - recipient checks per second with a cold cache (every RCPT is a probe:
    delegate_connections = 2 connections, the token bucket set out of the
    way) and with a warm one (the same addresses again: no probe);
  - AUTH latency via the delegate (a fresh delegate connection per
    attempt), and with the credential cache.
"""
import concurrent.futures
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")
sys.path.insert(0, os.path.join(ROOT, "t"))
import sinks  # noqa: E402
from procs import stop as procs_stop  # noqa: E402

USER, PASSWORD = "bench-user", "bench-Pw-2651"
# aiosmtpd's own deprecation notice, once per AUTH it answers
warnings.filterwarnings("ignore", message=".*login_data is deprecated")


def start(top, delegate_port, smtp_port, auth_ttl):
    for sub in ("run", "log"):  # queue/ is queued's to make
        os.makedirs(os.path.join(top, sub), exist_ok=True)
    os.chmod(top, 0o755)
    conf = os.path.join(top, "ferry.conf")
    with open(conf, "w") as f:
        f.write(f"""queue_directory = {top}/queue
run_directory = {top}/run
log_directory = {top}/log
myhostname = bench.test
queue_min_free = 0
smtp_listen = 127.0.0.1:{smtp_port}
accepted_domains = bench.test
mydestination = localhost
mynetworks = 127.0.0.0/8
smtpd_max_sessions_per_ip = 2000
delegate_servers = 127.0.0.1:{delegate_port}
delegate_tls = none
delegate_auth = bench.test
delegate_recipients = bench.test
delegate_rate = 10000
smtpd_auth_plaintext = loopback
delegate_auth_ttl = {auth_ttl}
delegate_cache_file = {top}/cache/delegate.cache
""")
    procs = []
    for name in ("queued", "delegated", "smtpd"):
        procs.append(subprocess.Popen([f"{BIN}/{name}", "-f", "-c", conf],
                                      stderr=subprocess.DEVNULL))
        sock = "smtpd.sock" if name == "smtpd" else f"{name}.sock"
        for _ in range(200):
            if subprocess.run([f"{BIN}/ferry-control", "-c", conf, "ping",
                               name]).returncode == 0:
                break
            time.sleep(0.05)
        else:
            procs_stop(reversed(procs))
            raise RuntimeError(f"{name} did not start ({sock})")
    return procs


def rcpt_rate(port, addresses, sessions=4):
    """RCPTs per second, SESSIONS clients splitting ADDRESSES."""
    def one(part):
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
        s.ehlo()
        for i, a in enumerate(part):
            if i % 50 == 0:         # a fresh transaction now and then
                s.rset()
                s.mail("bench@source.test")
            code, _ = s.rcpt(a)
            if code != 250:
                raise RuntimeError(f"RCPT {a}: {code}")
        s.quit()

    parts = [addresses[i::sessions] for i in range(sessions)]
    start_t = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(sessions) as pool:
        list(pool.map(one, parts))
    return len(addresses) / (time.monotonic() - start_t)


def auth_latency(port, count):
    """Median and p99 seconds of AUTH PLAIN, one session each."""
    times = []
    for _ in range(count):
        s = smtplib.SMTP("127.0.0.1", port, timeout=60)
        s.ehlo()
        t = time.monotonic()
        s.login(USER, PASSWORD)
        times.append(time.monotonic() - t)
        s.quit()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def measure(top, auth_ttl):
    sink = sinks.Sink(top, auth={USER: PASSWORD}, auth_required=False)
    sink.start()
    port = sinks.free_port()
    procs = start(os.path.join(top, "ferry"), sink.port, port, auth_ttl)
    try:
        addrs = [f"user{i}@bench.test" for i in range(400)]
        cold = rcpt_rate(port, addrs)
        warm = rcpt_rate(port, addrs)
        auth = auth_latency(port, 30)
        return cold, warm, auth
    finally:
        procs_stop(reversed(procs))
        sink.stop()


def rows(top):
    os.makedirs(top, exist_ok=True)
    try:
        cold, warm, (med, p99) = measure(os.path.join(top, "a"), "0")
        _, _, (cmed, cp99) = measure(os.path.join(top, "b"), "5m")
    except (RuntimeError, OSError, smtplib.SMTPException) as e:
        return [("delegate", f"failed: {e!r}")]
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return [
        ("delegate: recipient checks via smtpd, cold cache (RCPT/s)",
         f"{cold:.0f}"),
        ("delegate: recipient checks via smtpd, warm cache (RCPT/s)",
         f"{warm:.0f}"),
        ("delegate: AUTH via the delegate, median / p99 (ms)",
         f"{med * 1000:.1f} / {p99 * 1000:.1f}"),
        ("delegate: AUTH from the credential cache, median / p99 (ms)",
         f"{cmed * 1000:.1f} / {cp99 * 1000:.1f}"),
    ]
