#!/usr/bin/python3
"""Ferry benchmarks: figures, not pass/fail (`make bench`).

Starts its own queued on a temporary spool and measures
  - local submission throughput, one sendmail at a time and several in
    parallel (parallel commits share directory fsyncs: group commit);
  - peak memory of queued and sendmail while a large message is submitted
    (both stream: the peak must not grow with the message size).
"""
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
BODY = b"Subject: bench\n\n" + b"x" * 76 + b"\n" * 1 + (b"y" * 76 + b"\n") * 25


def start_queued(top):
    for sub in ("queue", "run", "log"):
        os.makedirs(os.path.join(top, sub), exist_ok=True)
    os.chmod(top, 0o755)
    conf = os.path.join(top, "ferry.conf")
    with open(conf, "w") as f:
        f.write(f"queue_directory = {top}/queue\nrun_directory = {top}/run\n"
                f"log_directory = {top}/log\nmyhostname = bench.test\n"
                "max_message_size = 2G\nqueue_min_free = 0\n")
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


def peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


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
    proc = subprocess.Popen([f"{BIN}/relayd", "-f", "-c", conf],
                            stderr=subprocess.DEVNULL)
    for _ in range(200):
        if subprocess.run([f"{BIN}/ferry-control", "-c", conf, "ping",
                           "relayd"], capture_output=True).returncode == 0:
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    sys.exit("bench: relayd did not start")


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
        rproc.send_signal(signal.SIGTERM)
        try:
            rproc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rproc.kill()
        sink.stop()
        raw.stop()
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
        width = max(len(r[0]) for r in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
