# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""The processes a benchmark starts: their peak memory, and stopping them."""
import signal
import subprocess


def stop(procs):
    """SIGTERM each running process in order, SIGKILL one that does not
    exit within 10 s."""
    for p in procs:
        if p is None or p.poll() is not None:
            continue
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def peak_kib(pid):
    """VmHWM of pid in KiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
