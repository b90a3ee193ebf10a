#!/usr/bin/python3
# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""WebSmtp's figures for `make bench` (bench/run.py calls rows(); run
alone, `bench/webload.py` prints just these).

queued, licensed, relayd and webrelayd on a fresh directory, set up as
t/webharness.py does: default_route is a closed loopback port, so relayd
reports every recipient unreachable and queued hands it to webrelayd,
which posts it to t/websink.py (a real HTTPS service on loopback, its
certificate from a test CA that webrelay_ca_file names).  The credential
is a licence with the webrelay feature, signed with a vendor key made by
bin/ferry-license.  Measured:
  - one small message, then N = 200 submitted with bin/sendmail (8 in
    parallel): messages per second from the first submission until the
    service has received all, the time per post as webrelayd logs it
    (`seconds=` of `event=post`, median) and the number of TLS
    connections the 200 came on (connection reuse: 1);
  - webrelayd's peak RSS (VmHWM) after the small messages and after one
    256 MiB message (it streams: the peak must not grow with the size),
    and that message's rate: the post as webrelayd times it, the upload
    as the service reads it, and from commit to the service's receipt.
"""
import concurrent.futures
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")
sys.path.insert(0, os.path.join(ROOT, "t"))
import sinks  # noqa: E402
import websink  # noqa: E402
from procs import peak_kib, stop as procs_stop  # noqa: E402
import table  # noqa: E402

COUNT = 200                 # small messages
WORKERS = 8                 # sendmails at a time
LARGE_MIB = 256
RCPT = "bench@example.test"
BODY = b"Subject: bench websmtp\n\n" + (b"w" * 76 + b"\n") * 26
# under SAN=1 ASan's quarantine would hold freed buffers back and VmHWM
# would grow with the bytes posted; without it VmHWM is webrelayd's own
DAEMON_ENV = dict(os.environ,
                  ASAN_OPTIONS="detect_leaks=0:quarantine_size_mb=0")
POST_RE = re.compile(r"\bevent=post id=(\S+) status=(\d+) .*\bbytes=(\d+) "
                     r"seconds=([0-9.]+) .*\bresult=(\S+)")


class WebFailed(Exception):
    pass


def ms(seconds):
    """A logged seconds= (to the millisecond) in ms."""
    return f"{seconds * 1000:.1f}"


def licence_text():
    """What test_license.text() makes: valid for a year, webrelay."""
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return (f"id: FERRY-BENCH-1\ncustomer: Ferry bench\n"
            f"issued: {today - datetime.timedelta(days=30)}\n"
            f"support-until: {today + datetime.timedelta(days=365)}\n"
            "features: webrelay\n")


def make_licence(d):
    """A vendor key pair and a licence it signs, in D; returns the paths
    (public key, licence), readable by licensed's user."""
    key, pub, lic = (os.path.join(d, n) for n in
                     ("vendor.key", "vendor.pub", "licence"))
    r = subprocess.run([f"{BIN}/ferry-license", "keygen", key, pub],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        raise WebFailed(f"ferry-license keygen: {r.stderr.decode()}")
    r = subprocess.run([f"{BIN}/ferry-license", "sign", key],
                       input=licence_text().encode(), capture_output=True,
                       timeout=30)
    if r.returncode != 0:
        raise WebFailed(f"ferry-license sign: {r.stderr.decode()}")
    with open(lic, "wb") as f:
        f.write(r.stdout)
    os.chmod(lic, 0o644)
    return pub, lic


class Web:
    """The installation, the service and the daemons; stop() ends all."""

    def __init__(self, top):
        self.top = top
        self.conf = os.path.join(top, "ferry.conf")
        self.procs = {}
        self.sink = None

    def setup(self):
        top = self.top
        for sub in ("run", "log", "web"):  # queue/ is queued's to make
            os.makedirs(os.path.join(top, sub), exist_ok=True)
            os.chmod(os.path.join(top, sub), 0o755)
        os.chmod(top, 0o755)
        web = os.path.join(top, "web")
        ca = websink.make_ca(web)
        cert = websink.make_server_cert(web, ca)
        pub, lic = make_licence(web)
        self.sink = websink.WebSink(web, cert).start()
        with open(self.conf, "w") as f:
            f.write(f"""queue_directory = {top}/queue
run_directory = {top}/run
log_directory = {top}/log
myhostname = bench.test
max_message_size = 1G
queue_min_free = 0
default_route = smtp:[127.0.0.1]:{sinks.closed_port()}
relay_tls = none
relay_idle_timeout = 5s
retry_min = 1s
license_public_key = {pub}
license_files = {lic}
webrelay_url = {self.sink.url}
webrelay_ca_file = {ca[0]}
""")
        os.chmod(self.conf, 0o644)

    def start(self, name):
        err = open(os.path.join(self.top, f"{name}.stderr"), "wb")
        with err:
            proc = subprocess.Popen([f"{BIN}/{name}", "-f", "-c",
                                     self.conf], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    env=DAEMON_ENV)
        self.procs[name] = proc
        for _ in range(200):
            if subprocess.run([f"{BIN}/ferry-control", "-c", self.conf,
                               "ping", name], capture_output=True,
                              timeout=10).returncode == 0:
                return proc
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        raise WebFailed(f"{name} did not start: {self.tail(name)}")

    def log(self, name):
        try:
            with open(os.path.join(self.top, "log", f"{name}.log")) as f:
                return f.read()
        except OSError:
            return ""

    def tail(self, name):
        lines = self.log(name).splitlines()[-3:]
        try:
            with open(os.path.join(self.top, f"{name}.stderr")) as f:
                lines += f.read().splitlines()[-3:]
        except OSError:
            pass
        return " | ".join(lines) or "(nothing logged)"

    def wait(self, what, predicate, timeout):
        deadline = time.monotonic() + timeout
        while not predicate():
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise WebFailed(f"{name} exited ({p.returncode}) "
                                    f"waiting for {what}: {self.tail(name)}")
            if time.monotonic() > deadline:
                raise WebFailed(f"no {what} within {timeout} s: webrelayd: "
                                f"{self.tail('webrelayd')}; queued: "
                                f"{self.tail('queued')}")
            time.sleep(0.005)

    def posts(self):
        """webrelayd.log's event=post lines: (id, status, bytes, seconds,
        result)."""
        return [(m[1], int(m[2]), int(m[3]), float(m[4]), m[5])
                for m in POST_RE.finditer(self.log("webrelayd"))]

    def submit(self, data=BODY, rcpt=RCPT):
        r = subprocess.run([f"{BIN}/sendmail", "-C", self.conf, "-i", rcpt],
                           input=data, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise WebFailed(f"sendmail failed: {r.stderr.decode()}")

    def submit_large(self, mib):
        """A message of MIB MiB (and its header) as queued, streamed."""
        proc = subprocess.Popen([f"{BIN}/sendmail", "-C", self.conf, "-i",
                                 RCPT], stdin=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        chunk = (b"v" * 510 + b"\n") * 2048      # 1 MiB queued (CRLF)
        proc.stdin.write(b"Subject: large websmtp\n\n")
        for _ in range(mib):
            proc.stdin.write(chunk)
        proc.stdin.close()
        if proc.wait() != 0:
            raise WebFailed(f"large sendmail failed: {proc.stderr.read()}")

    def measure(self, fn, out, label, *args):
        """setup(), fn(self, out, *args), stop(): the rows fn found go
        to out; on a failure also one row, named label, that says what
        went wrong, and False."""
        try:
            self.setup()
            fn(self, out, *args)
            return True
        except (WebFailed, OSError, subprocess.SubprocessError) as e:
            out.append((label, f"failed: {e}"))
            return False
        finally:
            self.stop()

    def stop(self):
        # the agents, then queued, then the service they talk to
        procs_stop(self.procs.get(name) for name in
                   ("relayd", "webrelayd", "licensed", "queued"))
        if self.sink is not None:
            self.sink.stop()


def measure(w, rows):
    w.start("queued")
    w.start("licensed")
    w.wait("event=license state=valid in queued.log",
           lambda: "event=license state=valid" in w.log("queued"), 10)
    wpid = w.start("webrelayd").pid
    w.start("relayd")
    sink = w.sink

    # one small message: the TLS connection, webrelayd's memory after it
    w.submit()
    w.wait("the first post", lambda: len(w.posts()) >= 1, 30)
    one_kib = peak_kib(wpid)

    # COUNT small messages, WORKERS sendmails at a time
    have = len(sink.received())
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda _: w.submit(), range(COUNT)))
    w.wait(f"{COUNT} requests at the service",
           lambda: len(sink.received()) >= have + COUNT, 60)
    rate = COUNT / (time.monotonic() - start)
    w.wait(f"{COUNT + 1} event=post lines in webrelayd.log",
           lambda: len(w.posts()) >= COUNT + 1, 10)
    reqs = sink.received()[have:]
    posts = w.posts()[1:]
    bad = [p for p in posts if p[1] != 200 or p[4] != "delivered"]
    if bad or len(reqs) != COUNT or len(posts) != COUNT:
        raise WebFailed(f"{len(reqs)} requests and {len(posts)} posts for "
                        f"{COUNT} messages; not delivered: {bad[:3]}")
    many_kib = peak_kib(wpid)
    secs = sorted(p[3] for p in posts)
    conns = len({r.conn for r in reqs})
    rows.append((f"WebSmtp: {COUNT} messages, sendmail to the service "
                 f"({WORKERS} submitters; msg/s)", f"{rate:.0f}"))
    rows.append(("WebSmtp: time per post, webrelayd's seconds= median / "
                 "max (ms)",
                 f"{ms(statistics.median(secs))} / {ms(secs[-1])}"))
    rows.append((f"WebSmtp: TLS connections the {COUNT} posts came on "
                 "(reuse: 1)", conns))
    if len(sink.connections) != 1 or sink.tls_failures:
        rows.append((f"  (the service saw {len(sink.connections)} TLS "
                     f"connections in all, {len(sink.tls_failures)} failed "
                     "handshakes)", None))

    # one large message: memory and rate
    have = len(sink.received())
    w.submit_large(LARGE_MIB)
    start = time.monotonic()
    w.wait(f"the {LARGE_MIB} MiB message at the service",
           lambda: len(sink.received()) > have, 240)
    receipt = time.monotonic() - start
    req = sink.received()[-1]
    msgid = req.header("Idempotency-Key")
    w.wait(f"the {LARGE_MIB} MiB post in webrelayd.log",
           lambda: [p for p in w.posts() if p[0] == msgid], 30)
    large_kib = peak_kib(wpid)
    (post,) = [p for p in w.posts() if p[0] == msgid]
    if req.error or post[1] != 200 or req.message_size != post[2] or \
            post[2] < LARGE_MIB << 20:
        raise WebFailed(f"the {LARGE_MIB} MiB message: {req!r}, "
                        f"webrelayd: {post}")
    mib = post[2] / (1 << 20)
    rows.append(("WebSmtp: webrelayd peak RSS after 1 / "
                 f"{COUNT + 1} small messages (KiB)",
                 f"{one_kib} / {many_kib}"))
    rows.append((f"WebSmtp: {LARGE_MIB} MiB message: webrelayd peak RSS "
                 "(KiB)", large_kib))
    rows.append((f"WebSmtp: {LARGE_MIB} MiB message: post as webrelayd "
                 "times it / upload as the service reads it (MiB/s)",
                 f"{mib / post[3]:.0f} / "
                 f"{mib / (req.received - req.arrived):.0f}"))
    rows.append((f"WebSmtp: {LARGE_MIB} MiB message: commit to receipt "
                 "(MiB/s)", f"{mib / receipt:.0f}"))


def rows(top):
    """The WebSmtp rows; on a failure the rows so far and one that says
    what went wrong."""
    out = table.not_built("WebSmtp", BIN, ("webrelayd", "licensed",
                                             "ferry-license"))
    if out:
        return out
    Web(top).measure(measure, out, "WebSmtp")
    shutil.rmtree(top, ignore_errors=True)
    return out


if __name__ == "__main__":
    table.run_alone(rows, "ferry-bench-web-")
