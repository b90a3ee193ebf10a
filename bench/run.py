#!/usr/bin/python3
# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Ferry benchmarks: figures, not pass/fail (`make bench`).

Starts its own queued on a temporary spool and measures
  - local submission throughput, one sendmail at a time and several in
    parallel (parallel commits share directory fsyncs: group commit);
  - peak memory of queued and sendmail while a large message is submitted
    (both stream: the peak must not grow with the message size);
  - with relayd and two sink servers: delivery rates end to end, and
    relayd's memory while it sends a 1 GiB message;
  - with smtpd (queued + smtpd on a fresh spool for each figure, no
    relayd, so what smtpd accepts stays queued; load from smtpload.py,
    like Postfix's smtp-source): messages/s with 20 parallel sessions of
    1 and of 100 messages of 10 KB, one session's latency from MAIL to
    the 250 after the final dot, smtpd's peak RSS while it receives a
    1 GiB message and with 1000 idle sessions open, and whether another
    client is served meanwhile;
  - with delegated and an aiosmtpd delegate (bench/delegate.py):
    recipient checks per second through smtpd with a cold and a warm
    cache, and AUTH latency via the delegate;
  - WebSmtp (bench/webload.py: queued, licensed, relayd with an
    unreachable default_route, webrelayd and t/websink.py's HTTPS
    service): messages/s end to end for 200 small messages and the time
    per post as webrelayd logs it, the TLS connections they came on
    (reuse: 1), and webrelayd's peak RSS and rate posting a 256 MiB
    message, against its peak after a small one;
  - OAuth2 at a smarthost (bench/oauthload.py: queued and relayd with
    an XOAUTH2 route to t/oauthharness.py's BearerSink and its HTTPS
    token endpoint, and a route without AUTH beside it): the first
    message's time with the token fetch, with a client secret and with
    a client certificate, messages/s each way for 200 messages, the
    token requests those caused (0: the cache), the token process's
    peak RSS;
  - local delivery (bench/localload.py: queued and locald, as root with
    a user it makes): 10 KB messages per second into an mbox and into a
    Maildir, 20 at a time, and locald's peak RSS delivering a 1 GiB
    message;
  - with POSTFIX=HOST:PORT, the same three loads against that Postfix,
    for the comparison the smtpd issue asks for.  Its main.cf needs
    relay_domains = bench.test, mynetworks = 127.0.0.0/8,
    smtpd_recipient_restrictions = permit_mynetworks, reject and
    smtpd_client_restrictions = check_client_access static:HOLD (accepted
    mail is fsynced into the hold queue and stays there, as with Ferry's
    queued without relayd); `postsuper -d ALL hold` empties it.
"""
import asyncio
import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")
sys.path.insert(0, os.path.join(ROOT, "t"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import delegate  # noqa: E402
import localload  # noqa: E402
import oauthload  # noqa: E402
import procs  # noqa: E402
from procs import peak_kib  # noqa: E402
import smtpload  # noqa: E402
import table  # noqa: E402
import webload  # noqa: E402
BODY = b"Subject: bench\n\n" + b"x" * 76 + b"\n" * 1 + (b"y" * 76 + b"\n") * 25


def start_queued(top, extra=""):
    """queued on a spool under TOP; EXTRA: more lines for ferry.conf."""
    # queue/ is queued's to make: it takes an existing one only from its user
    for sub in ("run", "log"):
        os.makedirs(os.path.join(top, sub), exist_ok=True)
    os.chmod(top, 0o755)
    conf = os.path.join(top, "ferry.conf")
    with open(conf, "w") as f:
        f.write(f"queue_directory = {top}/queue\nrun_directory = {top}/run\n"
                f"log_directory = {top}/log\nmyhostname = bench.test\n"
                "max_message_size = 1G\nqueue_min_free = 0\n" + extra)
    proc = subprocess.Popen([f"{BIN}/queued", "-f", "-c", conf],
                            stderr=subprocess.DEVNULL)
    for _ in range(100):
        if subprocess.run([f"{BIN}/ferry-control", "-c", conf, "ping",
                           "queued"]).returncode == 0:
            return proc, conf
        time.sleep(0.05)
    proc.kill()
    sys.exit("bench: queued did not start")


def submit(conf, data=BODY):
    r = subprocess.run([f"{BIN}/sendmail", "-C", conf, "-i",
                        "bench@example.test"], input=data,
                       capture_output=True)
    if r.returncode != 0:
        sys.exit(f"bench: sendmail failed: {r.stderr.decode()}")


def throughput(conf, count, workers):
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: submit(conf), range(count)))
    elapsed = time.monotonic() - start
    return count / elapsed


def large_message(conf, qpid, megabytes):
    """Stream megabytes of body through sendmail; return the peaks (KiB)."""
    proc = subprocess.Popen([f"{BIN}/sendmail", "-C", conf, "-i",
                             "big@example.test"], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    line = b"z" * 998 + b"\n"
    chunk = line * 1024                         # about 1 MiB
    proc.stdin.write(b"Subject: large\n\n")
    sendmail_peak = 0
    start = time.monotonic()
    for _ in range(megabytes):
        proc.stdin.write(chunk)
        sendmail_peak = max(sendmail_peak, peak_kib(proc.pid))
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit(f"bench: large sendmail failed: {proc.stderr.read()}")
    return sendmail_peak, peak_kib(qpid), time.monotonic() - start


# --- end to end, with relayd -------------------------------------------------

def start_relayd(top, conf, routes):
    """Add relayd keys to CONF (routes: {domain: port}) and start relayd."""
    with open(os.path.join(top, "routes"), "w") as f:
        for domain, port in routes.items():
            f.write(f"{domain} smtp:[127.0.0.1]:{port}\n")
    os.chmod(os.path.join(top, "routes"), 0o644)
    with open(conf, "a") as f:
        f.write(f"routes_file = {top}/routes\nrelay_tls = none\n"
                "relay_idle_timeout = 5s\nretry_min = 1s\n")
    return start_daemon("relayd", conf)


def start_daemon(name, conf):
    """bin/NAME -f -c CONF, once it answers ferry-control ping."""
    proc = subprocess.Popen([f"{BIN}/{name}", "-f", "-c", conf],
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        if subprocess.run([f"{BIN}/ferry-control", "-c", conf, "ping",
                           name], capture_output=True).returncode == 0:
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    sys.exit(f"bench: {name} did not start")


def wait_count(get, n, timeout):
    deadline = time.monotonic() + timeout
    while get() < n:
        if time.monotonic() > deadline:
            sys.exit(f"bench: only {get()} of {n} messages arrived "
                     f"within {timeout} s")
        time.sleep(0.002)


def e2e_sequential(conf, sink, count):
    """Submit, wait until the sink has it, submit the next."""
    start = time.monotonic()
    have = len(sink.received())
    for i in range(count):
        submit_to(conf, "seq@fast.test")
        wait_count(lambda: len(sink.received()), have + i + 1, 60)
    return count / (time.monotonic() - start)


def e2e_parallel(conf, sink, count, workers):
    """count submissions from workers threads; time until all arrived."""
    have = len(sink.received())
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: submit_to(conf, "par@fast.test"),
                      range(count)))
    wait_count(lambda: len(sink.received()), have + count, 300)
    return count / (time.monotonic() - start)


def submit_to(conf, rcpt, data=BODY):
    r = subprocess.run([f"{BIN}/sendmail", "-C", conf, "-i", rcpt],
                       input=data, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"bench: sendmail failed: {r.stderr.decode()}")


def tree_hwm(pid, peaks):
    """Sample VmHWM of pid and its descendants into peaks {pid: KiB};
    returns the sum over the processes alive now."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    stack, total = [pid], 0
    while stack:
        p = stack.pop()
        stack.extend(kids.get(p, []))
        try:
            kib = peak_kib(p)
        except OSError:
            continue
        peaks[p] = max(peaks.get(p, 0), kib)
        total += kib
    return total


def relayd_large(conf, rpid, raw, megabytes):
    """Submit a message of megabytes MiB to big@huge.test (routed to the
    counting sink) and sample relayd's memory until the sink has it."""
    have = len(raw.received())
    peaks, max_sum = {}, 0
    proc = subprocess.Popen([f"{BIN}/sendmail", "-C", conf, "-i",
                             "big@huge.test"], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    chunk = (b"r" * 998 + b"\n") * 1024
    proc.stdin.write(b"Subject: large relay\n\n")
    for _ in range(megabytes):
        proc.stdin.write(chunk)
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit(f"bench: large sendmail failed: {proc.stderr.read()}")
    start = time.monotonic()
    while len(raw.received()) <= have:
        max_sum = max(max_sum, tree_hwm(rpid, peaks))
        if time.monotonic() - start > 600:
            sys.exit("bench: the large message did not arrive")
        time.sleep(0.02)
    secs = time.monotonic() - start
    max_sum = max(max_sum, tree_hwm(rpid, peaks))
    m = raw.received()[-1]
    if m.size < megabytes * 1024 * 1000:        # 1024 CRLF lines of 1000
        sys.exit(f"bench: sink got {m.size} bytes of a {megabytes} MiB message")
    master = peaks.get(rpid, 0)
    child = max([v for p, v in peaks.items() if p != rpid], default=0)
    return master, child, max_sum, secs


def relay_rows(top, conf):
    import sinks
    rows = []
    sink = sinks.Sink().start()                 # aiosmtpd, keeps messages
    raw = sinks.RawSink().start()               # counts bytes only
    rproc = start_relayd(top, conf, {"fast.test": sink.port,
                                     "huge.test": raw.port})
    try:
        rows.append(("end to end, sequential (msg/s)",
                     f"{e2e_sequential(conf, sink, 200):.0f}"))
        rows.append(("end to end, 8 submitters in parallel (msg/s)",
                     f"{e2e_parallel(conf, sink, 1000, 8):.0f}"))
        sink.messages.clear()                   # give the memory back
        # let the idle delivery processes of the runs above time out
        # (relay_idle_timeout = 5s) so that the sums below are the
        # large message's own
        time.sleep(6)
        for mb in (1, 1024):
            master, child, total, secs = relayd_large(conf, rproc.pid, raw,
                                                      mb)
            rows.append((f"{mb} MiB message: relayd master peak RSS (KiB)",
                         master))
            rows.append((f"{mb} MiB message: largest relayd child peak "
                         "RSS (KiB)", child))
            rows.append((f"{mb} MiB message: relayd master+children, "
                         "largest sum (KiB)", total))
            rows.append((f"{mb} MiB message: commit to receipt (MiB/s)",
                         f"{mb / secs:.0f}"))
    finally:
        procs.stop([rproc])
        sink.stop()
        raw.stop()
    return rows


# --- smtpd: SMTP reception into the queue ------------------------------------

# bench.test is a relay domain here, not local (myhostname is bench.test):
# the SMTP figures are smtpd's and the queue's, without locald.
SMTPD_CONF = """smtp_listen = 127.0.0.1:{port}
submission_listen =
smtps_listen =
accepted_domains = bench.test
mydestination = localhost
mynetworks = 127.0.0.0/8
smtpd_max_sessions_per_ip = 2000
smtpd_max_sessions = 3000
"""
RCPT = ("user@bench.test",)
SENDER = "bench@source.test"


class SmtpdFailed(Exception):
    pass


class Smtpd:
    """queued and smtpd on a fresh spool of their own (no relayd: what
    smtpd accepts stays queued).  A new one for each measurement, so that
    every peak RSS (VmHWM) is that measurement's own and the queue starts
    empty."""

    def __init__(self, top):
        import sinks
        self.top = top
        self.port = sinks.free_port()
        self.qproc, self.conf = start_queued(
            top, SMTPD_CONF.format(port=self.port))
        self.errfile = os.path.join(top, "smtpd.stderr")
        self.proc = None
        try:
            with open(self.errfile, "wb") as err:
                # -f: the pid started is the daemon, also after it drops
                # privileges
                self.proc = subprocess.Popen([f"{BIN}/smtpd", "-f", "-c",
                                              self.conf], stderr=err)
            self.extensions = self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout=10):
        """Until the port accepts and the 220 greeting is read; returns
        the EHLO keywords."""
        async def greeting():
            c = await smtpload.Client.connect("127.0.0.1", self.port,
                                              ehlo=False)
            c.close()

        async def ehlo():
            c = await smtpload.Client.connect("127.0.0.1", self.port)
            await c.quit()
            return c.extensions

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SmtpdFailed(f"smtpd exited ({self.proc.returncode})"
                                  f" at start-up: {self.stderr()}")
            try:
                self.run(greeting(), 5)
                break
            except (OSError, smtpload.SMTPError, asyncio.TimeoutError):
                if time.monotonic() > deadline:
                    raise SmtpdFailed("smtpd did not greet within "
                                      f"{timeout} s: {self.stderr()}")
                time.sleep(0.02)
        try:
            return self.run(ehlo(), 10)
        except (OSError, smtpload.SMTPError, asyncio.TimeoutError) as e:
            raise SmtpdFailed(f"EHLO: {e!r}: smtpd: {self.stderr()}")

    def run(self, coro, timeout):
        """Run COROUTINE in a new event loop, at most TIMEOUT seconds."""
        return asyncio.run(asyncio.wait_for(coro, timeout))

    def peak_kib(self):
        return peak_kib(self.proc.pid)

    def queued_messages(self):
        """(count, bytes) of the messages committed to the queue."""
        q = os.path.join(self.top, "queue", "q")
        envs = [n for n in os.listdir(q) if n.endswith(".env")]
        size = sum(os.path.getsize(os.path.join(q, n[:-4] + ".msg"))
                   for n in envs)
        return len(envs), size

    def stderr(self):
        try:
            with open(self.errfile, "rb") as f:
                text = f.read().decode(errors="replace").strip()
        except OSError:
            text = ""
        return " | ".join(text.splitlines()[-5:]) or "(nothing on stderr)"

    def stop(self):
        procs.stop((self.proc, self.qproc))
        shutil.rmtree(self.top, ignore_errors=True)


def smtpd_load(top, sessions, messages, per_session):
    """smtp-source -s SESSIONS -m MESSAGES -l 10240, PER_SESSION messages
    per connection; returns (Result, extensions)."""
    d = Smtpd(top)
    try:
        r = d.run(smtpload.load("127.0.0.1", d.port, sessions, messages,
                                per_session, 10240, SENDER, RCPT), 300)
        n, _ = d.queued_messages()
        if n != messages:
            raise SmtpdFailed(f"{messages} messages accepted, {n} in the "
                              "queue")
        if d.proc.poll() is not None:
            raise SmtpdFailed(f"smtpd exited: {d.stderr()}")
        return r, d.extensions
    except (smtpload.SMTPError, OSError, asyncio.TimeoutError) as e:
        raise SmtpdFailed(f"{e!r}: smtpd: {d.stderr()}") from None
    finally:
        d.stop()


def smtpd_large(top, size):
    """One message of SIZE bytes, streamed; returns (smtpd peak RSS after
    start, after the message (KiB), MAIL to 250 in seconds)."""
    d = Smtpd(top)
    try:
        before = d.peak_kib()

        async def send():
            c = await smtpload.Client.connect("127.0.0.1", d.port)
            secs = await c.send(SENDER, RCPT, smtpload.large_body(size))
            await c.quit()
            return secs

        secs = d.run(send(), 600)
        after = d.peak_kib()
        n, queued = d.queued_messages()
        if n != 1 or queued < size:
            raise SmtpdFailed(f"{n} messages of {queued} bytes in the "
                              f"queue after one of {size}")
        return before, after, secs
    except (smtpload.SMTPError, OSError, asyncio.TimeoutError) as e:
        raise SmtpdFailed(f"{e!r}: smtpd: {d.stderr()}") from None
    finally:
        d.stop()


def smtpd_idle(top, count):
    """COUNT idle sessions (greeting read, EHLO said), then one more
    client's whole transaction; returns (smtpd peak RSS before, with the
    sessions (KiB), the transaction's seconds from connect to the 250)."""
    import resource
    d = Smtpd(top)                  # with the limit smtpd would have
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        want, hard = count + 256, limits[1]
        if limits[0] != resource.RLIM_INFINITY and limits[0] < want:
            if hard != resource.RLIM_INFINITY and hard < want:
                raise SmtpdFailed(f"RLIMIT_NOFILE hard limit {hard} is "
                                  f"under the {want} needed")
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        before = d.peak_kib()

        async def measure():
            idle = await smtpload.open_idle("127.0.0.1", d.port, count)
            try:
                await asyncio.sleep(0.2)        # let smtpd settle
                peak = d.peak_kib()
                start = time.perf_counter()
                c = await smtpload.Client.connect("127.0.0.1", d.port)
                await c.send(SENDER, RCPT, smtpload.message(10240))
                secs = time.perf_counter() - start
                await c.quit()
                return peak, secs
            finally:
                for c in idle:
                    c.close()

        peak, secs = d.run(measure(), 120)
        return before, peak, secs
    except (smtpload.SMTPError, OSError, asyncio.TimeoutError) as e:
        raise SmtpdFailed(f"{e!r}: smtpd: {d.stderr()}") from None
    finally:
        d.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)


def smtpd_rows(top):
    """The smtpd figures; a measurement that fails says so in its row and
    the others still run."""
    rows = []
    one, many = smtpload.selftest(20, 2000, 10240)
    rows.append(("load generator vs a do-nothing server, 1 / 100 msg per "
                 "session (msg/s)", f"{one.rate:.0f} / {many.rate:.0f}"))
    n = [0]

    def fresh():
        n[0] += 1
        return os.path.join(top, f"smtpd{n[0]}")

    def measure(name, fn):
        try:
            fn()
        except SmtpdFailed as e:
            rows.append((name, f"failed: {e}"))

    def load(per_session, messages):
        r, ext = smtpd_load(fresh(), 20, messages, per_session)
        if "PIPELINING" not in ext:
            rows.append(("smtpd does not advertise PIPELINING: commands "
                         "went one at a time", None))
        rows.append((f"SMTP, 20 sessions, {per_session} msg/session, "
                     "10 KB (msg/s)", f"{r.rate:.0f}"))
        rows.append((f"SMTP, 20 sessions, {per_session} msg/session: "
                     "latency median / p99 (ms)",
                     f"{r.median * 1000:.1f} / {r.p99 * 1000:.1f}"))

    def latency():
        r, _ = smtpd_load(fresh(), 1, 500, 500)
        rows.append(("SMTP, 1 session, 10 KB: MAIL to 250 median / p99 "
                     "(ms)", f"{r.median * 1000:.2f} / {r.p99 * 1000:.2f}"))
        rows.append(("SMTP, 1 session, 10 KB (msg/s)", f"{r.rate:.0f}"))

    def large():
        mib = 1000   # with its headers under max_message_size (1G)
        start, peak, secs = smtpd_large(fresh(), mib << 20)
        rows.append(("smtpd peak RSS after start-up (KiB)", start))
        rows.append((f"{mib} MiB message over SMTP: smtpd peak RSS (KiB)",
                     peak))
        rows.append((f"{mib} MiB message over SMTP: MAIL to 250 (MiB/s)",
                     f"{mib / secs:.0f}"))

    def idle():
        count = 1000
        start, peak, secs = smtpd_idle(fresh(), count)
        rows.append((f"{count} idle sessions: smtpd peak RSS (KiB)", peak))
        rows.append((f"{count} idle sessions: per session (KiB)",
                     f"{(peak - start) / count:.1f}"))
        rows.append((f"{count} idle sessions: one more client, connect to "
                     "250 (ms)", f"{secs * 1000:.1f}"))

    measure("SMTP, 20 sessions, 1 msg/session", lambda: load(1, 2000))
    measure("SMTP, 20 sessions, 100 msg/session", lambda: load(100, 4000))
    measure("SMTP, 1 session", latency)
    measure("1024 MiB message over SMTP", large)
    measure("1000 idle sessions", idle)
    rows.extend(postfix_rows(os.environ.get("POSTFIX")))
    return rows


def postfix_rows(where):
    """The same loads against a Postfix the caller runs (POSTFIX=HOST:PORT,
    see the module's comment), for comparison on the same machine."""
    if not where:
        return [("Postfix: not measured (make bench POSTFIX=HOST:PORT "
                 "compares one)", None)]
    host, port = where.rsplit(":", 1)
    rows = []
    for sessions, messages, per_session in ((20, 2000, 1), (20, 4000, 100),
                                            (1, 500, 500)):
        try:
            r = asyncio.run(asyncio.wait_for(smtpload.load(host, int(port),
                sessions, messages, per_session, 10240, SENDER, RCPT), 300))
        except (smtpload.SMTPError, OSError, asyncio.TimeoutError) as e:
            rows.append((f"Postfix at {where}", f"failed: {e!r}"))
            break
        rows.append((f"Postfix, {sessions} session(s), {per_session} "
                     "msg/session (msg/s; latency median / p99 ms)",
                     f"{r.rate:.0f}; {r.median * 1000:.1f} / "
                     f"{r.p99 * 1000:.1f}"))
    return rows


def main():
    top = tempfile.mkdtemp(prefix="ferry-bench-")
    proc, conf = start_queued(top)
    try:
        rows = []
        rows.append(("submission, 1 client (msg/s)",
                     f"{throughput(conf, 300, 1):.0f}"))
        rows.append(("submission, 8 clients in parallel (msg/s)",
                     f"{throughput(conf, 800, 8):.0f}"))
        for mb in (16, 256):
            sm, qd, secs = large_message(conf, proc.pid, mb)
            rows.append((f"{mb} MiB message: sendmail peak RSS (KiB)", sm))
            rows.append((f"{mb} MiB message: queued peak RSS (KiB)", qd))
            rows.append((f"{mb} MiB message: submit+commit (MiB/s)",
                         f"{mb / secs:.0f}"))
        if os.path.exists(f"{BIN}/relayd"):
            # a fresh queue: the messages above must not be delivered
            rtop = os.path.join(top, "relay")
            os.makedirs(rtop)
            rqproc, rconf = start_queued(rtop)
            try:
                rows.extend(relay_rows(rtop, rconf))
            finally:
                rqproc.send_signal(signal.SIGTERM)
                rqproc.wait(timeout=10)
        else:
            rows.append(("end to end (relayd)", "not built"))
        if os.path.exists(f"{BIN}/smtpd"):
            rows.extend(smtpd_rows(os.path.join(top, "smtpd")))
        if os.path.exists(f"{BIN}/delegated"):
            rows.extend(delegate.rows(os.path.join(top, "delegate")))
        else:
            rows.append(("delegated: not built", None))
        rows.extend(webload.rows(os.path.join(top, "web")))
        rows.extend(oauthload.rows(os.path.join(top, "oauth")))
        if os.path.exists(f"{BIN}/locald"):
            rows.extend(localload.rows(os.path.join(top, "local")))
        table.print_rows(rows)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
