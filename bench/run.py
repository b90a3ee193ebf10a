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
        width = max(len(r[0]) for r in rows)
        for name, value in rows:
            print(f"{name:<{width}}  {value}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
