# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""The whole suite on loopback, for t/test_chaos.py.

The `chaos` fixture is a Ferry installation (conftest's `ferry_factory`)
configured for all six daemons, which `ferryctl start` starts as an admin
would (detached, pidfiles in run_directory), nothing running yet:

    def test_x(chaos):
        chaos.start()                    # ferryctl start: all six answer
        pids = chaos.kill("relayd")      # the daemon and its children, -9
        chaos.start()                    # ferryctl start restarts it
        chaos.sink.received()            # what the SMTP sink took

Where mail goes (routes_file):

- `sink.test` and `ferry.test`: an aiosmtpd sinks.Sink (`chaos.sink`);
- `web.test`: a loopback port nothing listens on, so relayd finds it
  unreachable and queued hands it to webrelayd, which posts it to the
  HTTPS websink.WebSink (`chaos.web.sink`, webharness.Web: a valid
  licence with the webrelay feature, checked by licensed).

smtpd listens on `chaos.smtp_port`; loopback is in mynetworks, so a test
client relays to any of the three domains.  Recipients of `ferry.test`
(accepted_domains) are checked by delegated against an aiosmtpd delegate
(delegateharness.DelegateSink) that knows delegateharness.KNOWN: while
delegated is down smtpd answers RCPT with 4xx.

Both sinks keep `summarize(data)` of each message instead of its bytes
(sinks.Sink and websink.WebSink's summarize=).  Messages made by
`make_body()` carry a token and the size and sha256 of their own body,
so `summarize()` tells a whole message from a cut one without knowing
what was sent.

`kill(name)` takes the pid from NAME's pidfile, checks that it is this
installation's daemon (its command line names our program and our
ferry.conf), and SIGKILLs it with every process it forked
(conftest.kill_tree).  The test process is made a child subreaper while
the fixture lives, so the detached daemons' corpses are ours to reap
(the container's init does not) and their exit status is known.  At the
end `ferryctl stop`, then any process still naming our ferry.conf is
killed and fails the test.
"""

import ctypes
import hashlib
import os
import re
import signal

import pytest

import conftest
import delegateharness
import relayharness
import sinks
import webharness
from conftest import BIN, run, wait_for

DAEMONS = ("queued", "licensed", "delegated", "webrelayd", "relayd",
    "locald", "smtpd")
SINK_DOMAINS = ("sink.test", "ferry.test")
WEB_DOMAIN = "web.test"
SENDER = "chaos@example.net"
HELO = "chaos.example"
# recipients per domain; ferry.test's are those the delegate knows
RCPTS = {
    "sink.test": ["a@sink.test", "b@sink.test", "c@sink.test"],
    "ferry.test": delegateharness.KNOWN[:6],
    "web.test": ["x@web.test", "y@web.test"],
}
SMTP_LINE_MAX = 998         # aiosmtpd refuses longer lines (RFC 5321)
WEB_LINE_MAX = 4000         # the web channel has no line limit
CTL_TIMEOUT = 90            # ferryctl start: six daemons, 10 s each

CHAOS_CONF = dict(
    relayharness.RELAY_CONF,
    webrelay_timeout="10s",
    accepted_domains="ferry.test",
    mynetworks="127.0.0.0/8",
    max_message_size="2M",
    smtpd_timeout="30s",
    smtpd_queue_wait="10s",
    delegate_tls="may",
    delegate_recipients="ferry.test",
    delegate_wait="5s",
    delegate_timeout="5s",
    delegate_rate="50",
)


# --- messages ----------------------------------------------------------------

# printable ASCII and blanks, as random bytes are mapped onto it
_ALPHABET = bytes(range(0x20, 0x7f)) + b"\t  "
_TABLE = bytes(_ALPHABET[i % len(_ALPHABET)] for i in range(256))
TOKEN_LINE = re.compile(rb"^chaos (\S+) size (\d+) sha256 ([0-9a-f]{64})$")


def random_size(rng, low=100, high=200 * 1024):
    """Log-uniform between low and high bytes: mostly small messages,
    some large."""
    return int(low * (high / low) ** rng.random())


def _line(rng, n):
    return rng.randbytes(n).translate(_TABLE)


def make_body(rng, token, size, line_max=SMTP_LINE_MAX):
    """A message body of about SIZE bytes as lines (no line ends):
    its first line names the token and the size and sha256 of the rest
    with CRLF line ends.  The rest has lines starting with a dot, a lone
    '.' and '..', empty lines, trailing blanks and lines of line_max
    octets.  Returns (first_line, lines)."""
    lines = []
    total = 0
    while total < size:
        r = rng.random()
        if r < 0.03:
            line = b"."
        elif r < 0.05:
            line = b".."
        elif r < 0.08:
            line = b"." + _line(rng, rng.randrange(0, 80))
        elif r < 0.12:
            line = b""
        elif r < 0.15:
            line = _line(rng, line_max)
        elif r < 0.17:
            line = _line(rng, rng.randrange(0, 60)) + b"   "
        else:
            line = _line(rng, rng.randrange(1, 100))
        lines.append(line)
        total += len(line) + 2
    rest = b"".join(l + b"\r\n" for l in lines)
    first = b"chaos %s size %d sha256 %s" % (token.encode(), len(rest),
        hashlib.sha256(rest).hexdigest().encode())
    return first, lines


def message(token, first, lines, headers=(), eol=b"\r\n"):
    """Header lines, an empty line and the body, with EOL line ends."""
    head = [b"Subject: chaos %s" % token.encode(),
        b"X-Chaos-Token: %s" % token.encode()] + list(headers)
    return eol.join(head + [b"", first] + lines) + eol


def summarize(data):
    """What a sink keeps of one arrived message (bytes with CRLF): a
    (token, verdict) pair; verdict "ok" when the body is whole (its size
    and sha256 are those its first line names), else why not.  token is
    None for a message without a token line (a bounce, or garbage)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"^X-Chaos-Token: (\S+)\r?$", head, re.M)
    token = m.group(1).decode() if m else None
    if not sep:
        return token, "no body (%d bytes)" % len(data)
    first, sep, rest = body.partition(b"\r\n")
    m = TOKEN_LINE.match(first)
    if not m:
        return token, "no token line: %r" % first[:80]
    if token is not None and m.group(1).decode() != token:
        return token, "token line names %s" % m.group(1).decode()
    token = m.group(1).decode()
    if len(rest) != int(m.group(2)):
        return token, "body is %d bytes, not %s" % (len(rest),
            m.group(2).decode())
    if hashlib.sha256(rest).hexdigest() != m.group(3).decode():
        return token, "sha256 differs"
    return token, "ok"


# --- processes ---------------------------------------------------------------

PR_SET_CHILD_SUBREAPER = 36


def set_subreaper(on):
    """Make this process the reaper of orphans below it (Linux prctl);
    False if that failed."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


EXITED = {}        # pid -> wait status, of the daemons reaped here


def reap(pid):
    """True once pid has exited (reaped here if it is our child: the
    daemons detach, and we are their subreaper)."""
    if pid in EXITED:
        return True
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            EXITED[pid] = status
            return True
    except ChildProcessError:
        pass
    return not conftest._pid_alive(pid)


def how_it_ended(pid):
    """'killed by signal N', 'exit status N' or 'unknown' (not our
    child) for a process that is gone."""
    reap(pid)
    st = EXITED.get(pid)
    if st is None:
        return "unknown"
    if os.WIFSIGNALED(st):
        return "killed by signal %d" % os.WTERMSIG(st)
    return "exit status %d" % os.WEXITSTATUS(st)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


class Chaos:
    def __init__(self, ferry):
        self.ferry = ferry
        self.base = ferry.base
        self.web = webharness.Web(ferry)       # websink, licence, keys
        self.web.sink.summarize = summarize
        self.sink = self.web.relay.sink(summarize=summarize)
        cert, key = delegateharness.delegate_cert(ferry.base)
        self.deleg = delegateharness.DelegateSink(ferry.base,
            tls=(cert, key)).start()
        self.smtp_port = sinks.free_port()
        state = self.base / "deleg-state"
        ferry.write_conf(**CHAOS_CONF)
        ferry.write_conf(
            smtp_listen="127.0.0.1:%d" % self.smtp_port,
            delegate_servers="127.0.0.1:%d" % self.deleg.port,
            delegate_cache_file="%s/delegate.cache" % state)
        self.web.routes({
            "sink.test": self.sink,
            "ferry.test": self.sink,
            WEB_DOMAIN: self.web.smarthost_port,      # unreachable
        })
        self.conf_arg = str(ferry.conf_path).encode()
        self.reaped = {}            # pid -> wait status seen
        self.subreaper = set_subreaper(True)

    # ferryctl
    def ctl(self, *args, timeout=CTL_TIMEOUT):
        return run([BIN / "ferryctl", "-c", self.ferry.conf_path, *args],
            timeout=timeout)

    def start(self):
        """ferryctl start; returns (exit status, the daemons it started,
        its output)."""
        r = self.ctl("start")
        out = (r.stdout + r.stderr).decode(errors="replace")
        started = re.findall(r"^ferryctl: (\w+): started", out, re.M)
        return r.returncode, started, out

    def pidfile_pid(self, name):
        try:
            text = (self.ferry.run_dir / ("%s.pid" % name)).read_text()
            return int(text.split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def ours(self, pid, name):
        """True if pid is bin/NAME -c OUR_CONF (never kill anyone else's
        process, whatever a pidfile says)."""
        argv = cmdline(pid)
        return bool(argv) and argv[0] == str(BIN / name).encode() and \
            self.conf_arg in argv

    def pids(self):
        """{name: pid} of the daemons running now."""
        out = {}
        for name in DAEMONS:
            pid = self.pidfile_pid(name)
            if pid is not None and conftest._pid_alive(pid) and \
                    self.ours(pid, name):
                out[name] = pid
        return out

    def kill(self, name):
        """SIGKILL NAME and every process it forked; wait until they are
        gone (and reaped).  Returns the pids killed ([] if it was not
        running)."""
        pid = self.pidfile_pid(name)
        if pid is None or not self.ours(pid, name):
            return []
        killed = conftest.kill_tree(pid)
        for p in killed:
            wait_for(lambda: reap(p), timeout=conftest.STOP_TIMEOUT,
                what="pid %d (%s) to die after SIGKILL" % (p, name))
        return killed

    def answers(self, name):
        return self.ferry.ping(name)

    # the end
    def stop(self):
        """ferryctl stop, then reap; returns problems (strings): a stop
        that failed, processes of this installation still alive."""
        problems = []
        pids = self.pids()
        kids = {n: conftest.child_pids(p) for n, p in pids.items()}
        r = self.ctl("stop")
        if r.returncode != 0:
            problems.append("ferryctl stop: %d %s" % (r.returncode,
                (r.stdout + r.stderr).decode(errors="replace")))
        for n, p in pids.items():
            for q in [p] + kids[n]:
                try:
                    sinks.wait_until(lambda: reap(q), conftest.STOP_TIMEOUT,
                        "pid %d" % q)
                except sinks.Timeout:
                    problems.append("%s: pid %d outlived ferryctl stop" %
                        (n, q))
        for d in os.listdir("/proc"):
            if d.isdigit() and self.conf_arg in cmdline(int(d)) and \
                    conftest._pid_alive(int(d)):
                problems.append("still running: pid %s %r" % (d,
                    cmdline(int(d))))
                try:
                    os.kill(int(d), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.subreaper:
            set_subreaper(False)
        return problems

    def stop_services(self):
        self.web.stop_services()
        self.deleg.stop()

    # diagnostics
    def diagnostics(self, names=DAEMONS, n=25):
        out = []
        for name in names:
            out.append("--- %s.log (tail) ---\n%s" % (name, conftest.tail(
                self.ferry.log_path(name), n)))
        return "\n".join(out)


@pytest.fixture
def chaos(request, ferry_factory):
    f = ferry_factory(None, ())
    c = Chaos(f)
    problems = []
    try:
        yield c
    finally:
        problems = c.stop()
        c.stop_services()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
