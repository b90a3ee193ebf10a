# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Test harness for Ferry.

The `ferry` fixture gives each test its own installation in a temporary
directory: a ferry.conf whose queue_directory, run_directory and
log_directory all live under it, and the daemons the test names, started in
the foreground (`bin/NAME -f -c CONF`) as our own child processes.  At the
end every daemon is stopped by its pid (SIGTERM, then SIGKILL after a bounded
wait), never by name.

    def test_something(ferry):                   # queued is running
        r = ferry.sendmail("rcpt@example.test", input=b"Subject: x\\n\\nhi\\n")

    @pytest.mark.ferry_conf(max_message_size="2k")   # extra/overridden keys
    @pytest.mark.ferry_daemons()                     # start nothing
    def test_other(ferry): ...

`ferry_factory` builds further installations inside one test.

Every subprocess call has a timeout, and a SIGALRM watchdog bounds each test
(`@pytest.mark.timeout(SECONDS)` changes the limit), so a hung daemon fails
the test instead of hanging the suite.

Tests run as root in CI: daemons then drop to their own user and chroot into
queue_directory, so the directories we create are mode 0755, and queue/
belongs to the queue user as a package would make it.
"""

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

T_DIR = Path(__file__).resolve().parent
REPO = T_DIR.parent
# FERRY_BIN runs the suite against programs elsewhere (e.g. an install)
BIN = Path(os.environ.get("FERRY_BIN") or REPO / "bin")

sys.path.insert(0, str(T_DIR))
import ferryipc  # noqa: E402
import sinks  # noqa: E402

CMD_TIMEOUT = 30            # any one CLI call
START_TIMEOUT = 10          # daemon start until it answers ping
STOP_TIMEOUT = 10           # SIGTERM until SIGKILL
TEST_TIMEOUT = 120          # default watchdog per test

DAEMON_USERS = {"queued": "ferry-queue", "relayd": "ferry-relay",
    "smtpd": "ferry-smtpd", "delegated": "ferry-deleg", "licensed": "ferry-lic",
    "webrelayd": "ferry-web"}
# the ferry.conf key naming each daemon's user
DAEMON_USER_KEYS = {"queued": "queue_user", "relayd": "relay_user",
    "smtpd": "smtpd_user", "delegated": "delegate_user",
    "licensed": "license_user", "webrelayd": "webrelay_user"}
# name -> function(ferry) that is true once the daemon serves, for daemons
# that do not answer `ferry-control ping` (smtpd: its 220 greeting; set by
# t/smtpdharness.py); the others are pinged
READY_CHECKS = {}

HOSTNAME = "mx.ferry.test"
ORIGIN = "ferry.test"

ID_RE = re.compile(r"^[0-9A-F]{16}$")


# --- pytest plumbing -------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers",
        "ferry_conf(**keys): extra or overridden ferry.conf keys")
    config.addinivalue_line("markers",
        "ferry_daemons(*names): daemons the ferry fixture starts "
        "(default: queued)")
    config.addinivalue_line("markers",
        "timeout(seconds): watchdog limit for this test")
    config.addinivalue_line("markers",
        "smtpd_nostart: the smtpd fixture (t/smtpdharness.py) leaves "
        "smtpd stopped")
    config.addinivalue_line("markers",
        "delegate_sink(**kw): options of the delegate fixture's aiosmtpd "
        "delegate (t/delegateharness.py)")
    config.addinivalue_line("markers",
        "delegate_nostart: the delegate fixture leaves delegated and "
        "smtpd stopped")
    config.addinivalue_line("markers",
        "host_package: installs the Debian package on this host and "
        "purges it (t/test_deb.py); deselect with -m 'not host_package'")


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


class WatchdogTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _watchdog(request):
    """Fail a test that runs longer than its limit (no pytest-timeout)."""
    m = request.node.get_closest_marker("timeout")
    limit = int(m.args[0]) if m else TEST_TIMEOUT

    def on_alarm(signum, frame):
        raise WatchdogTimeout("test exceeded its %d s limit" % limit)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --- helpers usable without a fixture --------------------------------------

def run(argv, input=None, timeout=CMD_TIMEOUT, env=None, check=False):
    """subprocess.run with pipes and a timeout; bytes in, bytes out."""
    argv = [str(a) for a in argv]
    return subprocess.run(argv, input=input, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, timeout=timeout, env=env, check=check,
        cwd=str(REPO))


# For a test that measures a daemon's memory: under SAN=1, ASan's
# quarantine holds freed memory back (OpenSSL and libevent free and
# allocate a buffer per write), so VmHWM would grow with the bytes
# passed through; without it VmHWM measures the daemon's own use.
MEASURE_MEMORY_ENV = {"ASAN_OPTIONS": "detect_leaks=0:quarantine_size_mb=0"}


def build_san():
    """The SAN setting bin/ was last linked with ("0" or "1"): the
    Makefile keeps the stamp of that setting alone."""
    return "1" if (REPO / "obj/san1/.stamp").exists() else "0"


def daemon_env(extra=None):
    """The environment for a daemon.  Under SAN=1, LeakSanitizer cannot
    work in a chrooted daemon without /proc and would turn every clean
    exit into status 1, so leak checks are off there unless asked for.
    extra: more variables (e.g. LD_PRELOAD for libresolv-wrapper); with
    LD_PRELOAD, ASan's check that it comes first is turned off."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
        if "LD_PRELOAD" in extra and "verify_asan_link_order" not in \
                env["ASAN_OPTIONS"]:
            env["ASAN_OPTIONS"] += ":verify_asan_link_order=0"
    return env


def child_pids(pid):
    """Every descendant of pid (from /proc), deepest last."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out = []
    stack = [pid]
    while stack:
        p = stack.pop(0)
        for c in kids.get(p, []):
            out.append(c)
            stack.append(c)
    return out


def kill_tree(pid):
    """SIGKILL pid and every process below it at one moment, the way a
    whole service crashes: the tree is frozen (SIGSTOP) from the top down
    first, so that nothing forks a child between the listing and the
    kill.  Returns the pids killed, pid first; [] if pid was gone."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return []
    frozen = [pid]
    while True:
        new = [p for p in child_pids(pid) if p not in frozen]
        if not new:
            break
        for p in new:
            try:
                os.kill(p, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        frozen.extend(new)
    for p in frozen:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return frozen


@contextlib.contextmanager
def unprivileged_daemon(name, conf_path, own=()):
    """bin/NAME -f -c CONF_PATH started by an ordinary user (as root: by
    nobody, through setpriv, after handing it the paths in OWN), with
    LeakSanitizer on: without chroot it works.  Yields the Popen; on the
    way out SIGTERM, and the daemon must exit 0 without a sanitizer
    report."""
    prefix = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for p in own:
            os.chown(p, nobody.pw_uid, nobody.pw_gid)
        prefix = ["setpriv", "--reuid=%d" % nobody.pw_uid,
            "--regid=%d" % nobody.pw_gid, "--clear-groups"]
    env = daemon_env()
    env["ASAN_OPTIONS"] = "detect_leaks=1"
    proc = subprocess.Popen(prefix + [str(BIN / name), "-f", "-c",
        str(conf_path)], stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")
    assert b"Sanitizer" not in err, err.decode(errors="replace")


def _pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def login_name():
    return pwd.getpwuid(os.getuid()).pw_name


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def run_as(user, action):
    """Run action() in a child process that has become user (needs
    root); returns what it returned (an int 0-125), 126 if it raised."""
    pw = pwd.getpwnam(user)
    pid = os.fork()
    if pid == 0:
        code = 126
        try:
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            code = action()
        except BaseException:
            code = 126
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status)


def make_message(body="hello\n", subject="test", headers=()):
    """A message with LF line ends, as an application would hand it to
    sendmail.  headers: (name, value) pairs placed before Subject."""
    lines = ["%s: %s" % h for h in headers]
    if subject is not None:
        lines.append("Subject: %s" % subject)
    text = "\n".join(lines) + "\n\n" + body
    return text.encode()


def split_message(data):
    """(headers, body) of a stored message: headers is a list of
    (name, value) with folding removed, body the bytes after the first
    empty line (CRLF CRLF)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, body = data, b""
    headers = []
    for line in head.split(b"\r\n"):
        text = line.decode("utf-8", "surrogateescape")
        if text[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + " " + text.strip())
        elif ":" in text:
            name, value = text.split(":", 1)
            headers.append((name.strip(), value.strip()))
        else:
            headers.append((text, None))
    return headers, body


def header_values(headers, name):
    return [v for n, v in headers if n.lower() == name.lower()]


MAILQ_ENTRY = re.compile(
    r"^(?P<id>[0-9A-F]{16})(?P<flag>[*!]?)\s+(?P<size>\d+)\s+"
    r"(?P<arrival>\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d)\s+(?P<sender>.*)$")


def parse_mailq(text):
    """Parse Postfix-style mailq output into a list of dicts
    {id, size, arrival, sender, rcpts: [addr], errors: [text],
    rcpt_errors: {addr: last error shown above it}} and the total line."""
    entries = []
    cur = None
    error = None
    total = None
    if text.strip() == "Mail queue is empty":
        return [], None
    for line in text.splitlines():
        if line.startswith("-Queue ID-"):
            continue
        if line.startswith("-- "):
            total = line
            continue
        if not line.strip():
            cur = None
            error = None
            continue
        m = MAILQ_ENTRY.match(line)
        if m:
            cur = dict(id=m["id"], flag=m["flag"], size=int(m["size"]),
                arrival=m["arrival"], sender=m["sender"].strip(),
                rcpts=[], errors=[], rcpt_errors={})
            entries.append(cur)
            error = None
            continue
        if cur is None or not line[:1].isspace():
            raise AssertionError("unparsable mailq line: %r\n%s" %
                (line, text))
        s = line.strip()
        if s.startswith("("):
            error = s[1:-1] if s.endswith(")") else s[1:]
            cur["errors"].append(error)
        else:
            cur["rcpts"].append(s)
            cur["rcpt_errors"][s] = error
    return entries, total


def wait_for(predicate, timeout=5.0, interval=0.05, what="condition"):
    """Poll predicate until it returns something true; fail the test
    (briefly, without a traceback) on timeout."""
    try:
        return sinks.wait_until(predicate, timeout, what, interval)
    except sinks.Timeout as e:
        pytest.fail(str(e), pytrace=False)


def fetch_work(conn, timeout=5.0):
    """FETCH on a ferryipc.Conn until WORK (a new message may need a
    scheduler tick); fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        w = conn.fetch()
        if w is not None:
            return w
        if time.monotonic() > deadline:
            pytest.fail("no WORK within %.1fs" % timeout, pytrace=False)
        time.sleep(0.05)


# --- one Ferry installation ------------------------------------------------

class Daemon:
    def __init__(self, name, proc, out_path, err_path):
        self.name = name
        self.proc = proc
        self.out_path = out_path
        self.err_path = err_path
        self.expect_exit = False

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None


class Ferry:
    """A Ferry installation under one temporary directory."""

    def __init__(self, base, conf=None):
        self.base = Path(base)
        self.conf_path = self.base / "ferry.conf"
        self.queue_dir = self.base / "queue"
        self.run_dir = self.base / "run"
        self.log_dir = self.base / "log"
        for d in (self.base, self.run_dir, self.log_dir):
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o755)
        self.conf = dict(
            queue_directory=str(self.queue_dir),
            run_directory=str(self.run_dir),
            log_directory=str(self.log_dir),
            myhostname=HOSTNAME,
            myorigin=ORIGIN,
        )
        self.daemons = {}
        self.daemon_extra_env = {}      # name -> dict, kept for restarts
        self.orphans = []
        self.write_conf(**(conf or {}))
        self.make_queue_dir()

    def make_queue_dir(self):
        """queue/ as an installer makes it: private to the queue user.
        queued takes a directory only from its own user, never chowns
        one it did not make."""
        self.queue_dir.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.queue_dir, *self.daemon_uid_gid("queued"))

    # configuration
    def write_conf(self, **overrides):
        """Rewrite ferry.conf with overrides applied; a value of None
        drops the key."""
        for k, v in overrides.items():
            if v is None:
                self.conf.pop(k, None)
            else:
                self.conf[k] = v
        text = "# written by t/conftest.py\n" + "".join(
            "%s = %s\n" % kv for kv in self.conf.items())
        self.conf_path.write_text(text)
        os.chmod(self.conf_path, 0o644)
        return self.conf_path

    # paths
    @property
    def q_dir(self):
        return self.queue_dir / "q"

    @property
    def corrupt_dir(self):
        return self.queue_dir / "corrupt"

    def socket_path(self, name="queued"):
        return self.run_dir / ("%s.sock" % name)

    @property
    def submit_socket(self):
        return self.run_dir / "submit.sock"

    def log_path(self, name="queued"):
        return self.log_dir / ("%s.log" % name)

    # daemons
    def daemon_user(self, name):
        """The user daemon `name` runs as when started as root."""
        return self.conf.get(DAEMON_USER_KEYS.get(name, "queue_user"),
                             DAEMON_USERS.get(name, "ferry-queue"))

    def daemon_uid_gid(self, name):
        """(uid, gid) daemon `name` runs as: its user when we are root,
        else our own."""
        if os.geteuid() != 0:
            return os.getuid(), os.getgid()
        pw = pwd.getpwnam(self.daemon_user(name))
        return pw.pw_uid, pw.pw_gid

    def start(self, name="queued", wait=True, args=(), env=None, wrap=()):
        """Start bin/NAME -f -c CONF.  env: extra environment variables
        for this daemon, remembered for later start()s and restart()s of
        it (env={} forgets them).  wrap: a command that execs the daemon
        (e.g. setpriv with its options).  relayd needs queued running
        first."""
        if name in self.daemons and self.daemons[name].alive():
            raise RuntimeError("%s is already running" % name)
        exe = BIN / name
        if not exe.exists():
            pytest.fail("%s not built (run make)" % exe, pytrace=False)
        if env is not None:
            self.daemon_extra_env[name] = dict(env)
        user = DAEMON_USERS.get(name)
        if os.geteuid() == 0 and user and not user_exists(
                self.daemon_user(name)):
            pytest.fail("running as root but user %s does not exist "
                "(etc/install-deps creates it)" % user, pytrace=False)
        out_path = self.base / ("%s.stdout" % name)
        err_path = self.base / ("%s.stderr" % name)
        with open(out_path, "ab") as out, open(err_path, "ab") as err:
            err.write(b"--- start %f\n" % time.time())
            err.flush()
            proc = subprocess.Popen([*wrap, str(exe), "-f", "-c",
                str(self.conf_path), *map(str, args)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                cwd=str(self.base),
                env=daemon_env(self.daemon_extra_env.get(name)))
        d = Daemon(name, proc, out_path, err_path)
        self.daemons[name] = d
        if wait:
            self.wait_ready(name)
        return d

    def wait_ready(self, name="queued", timeout=START_TIMEOUT):
        d = self.daemons[name]
        deadline = time.monotonic() + timeout
        while True:
            if not d.alive():
                d.expect_exit = True
                pytest.fail("%s exited with status %s during start-up\n%s"
                    % (name, d.proc.returncode, self.diagnostics(name)),
                    pytrace=False)
            check = READY_CHECKS.get(name)
            if check(self) if check else self.ping(name):
                return
            if time.monotonic() > deadline:
                pytest.fail("%s did not answer within %ds\n%s" %
                    (name, timeout, self.diagnostics(name)),
                    pytrace=False)
            time.sleep(0.02)

    def ping(self, name="queued"):
        try:
            r = self.control("ping", name, timeout=5)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0

    def pid(self, name="queued"):
        return self.daemons[name].pid

    def stop(self, name="queued", sig=signal.SIGTERM,
        timeout=STOP_TIMEOUT):
        """Stop a daemon by pid; returns its exit status (negative =
        killed by that signal, as subprocess reports it)."""
        d = self.daemons.get(name)
        if d is None:
            return None
        d.expect_exit = True
        kids = child_pids(d.pid) if d.alive() else []
        if d.alive():
            try:
                os.kill(d.pid, sig)
            except ProcessLookupError:
                pass
            try:
                d.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(d.pid, signal.SIGKILL)
                d.proc.wait(timeout=timeout)
        self._reap_orphans(name, kids, sig, timeout)
        return d.proc.returncode

    def _reap_orphans(self, name, pids, sig, timeout):
        """Processes a daemon forked must end with it (relayd's workers):
        wait for them, then SIGKILL and remember the survivors in
        self.orphans, which fails the test.  A SIGKILLed daemon cannot
        tell its children, so only a graceful stop is judged."""
        deadline = time.monotonic() + timeout
        alive = list(pids)
        while alive and time.monotonic() < deadline:
            alive = [p for p in alive if _pid_alive(p)]
            if alive:
                time.sleep(0.05)
        for p in alive:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if alive and sig != signal.SIGKILL:
            self.orphans.append("%s: process(es) %r outlived it by %ds" %
                (name, alive, timeout))

    def kill(self, name="queued"):
        """SIGKILL: a crash."""
        return self.stop(name, sig=signal.SIGKILL)

    def kill_tree(self, name="relayd"):
        """SIGKILL a daemon and every process it forked (relayd's
        delivery workers), by pid: the whole service crashes at once."""
        d = self.daemons[name]
        d.expect_exit = True
        pids = child_pids(d.pid) if d.alive() else []
        for p in [d.pid] + pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        d.proc.wait(timeout=STOP_TIMEOUT)
        return pids

    def restart(self, name="queued", wait=True, env=None):
        self.stop(name)
        return self.start(name, wait=wait, env=env)

    def signal(self, name, sig):
        os.kill(self.daemons[name].pid, sig)

    def stop_all(self):
        """Stop every daemon; returns names of daemons that had died
        without being told to."""
        died = []
        # the last started first: relayd before the queued it talks to
        for name, d in reversed(list(self.daemons.items())):
            if not d.expect_exit and not d.alive():
                died.append(name)
            self.stop(name)
        return died

    def diagnostics(self, name="queued"):
        d = self.daemons.get(name)
        parts = []
        if d is not None:
            parts.append("--- %s stderr (tail) ---\n%s" % (name,
                tail(d.err_path)))
        parts.append("--- %s log (tail) ---\n%s" % (name,
            tail(self.log_path(name))))
        return "\n".join(parts)

    # command-line tools
    def sendmail(self, *args, input=b"", timeout=CMD_TIMEOUT, conf=True):
        """bin/sendmail -C CONF ARGS with the message on a pipe, the way
        cron runs it."""
        argv = [BIN / "sendmail"]
        if conf:
            argv += ["-C", self.conf_path]
        return run(argv + list(args), input=input, timeout=timeout)

    def mailq(self, *args, timeout=CMD_TIMEOUT):
        return run([BIN / "mailq", "-C", self.conf_path, *args],
            timeout=timeout)

    def control(self, *args, timeout=CMD_TIMEOUT):
        return run([BIN / "ferry-control", "-c", self.conf_path, *args],
            timeout=timeout)

    def submit(self, *rcpts, body="hello\n", subject="test", headers=(),
        args=()):
        """Inject one message with sendmail; returns its queue id (from
        -v's "queued as ID": a running relayd may deliver the message
        before q/ could be looked at).  Fails the test if sendmail
        fails."""
        msg = make_message(body, subject, headers)
        r = self.sendmail("-v", *args, *rcpts, input=msg)
        assert r.returncode == 0, "sendmail failed (%d): %s" % (
            r.returncode, r.stderr.decode(errors="replace"))
        m = re.search(rb"queued as ([0-9A-F]{16})$", r.stderr, re.M)
        assert m, "sendmail -v named no queue id: %r" % r.stderr
        return m.group(1).decode()

    def mailq_entries(self):
        r = self.mailq()
        assert r.returncode == 0, r.stderr
        return parse_mailq(r.stdout.decode())[0]

    # IPC
    def ipc(self, sock="queued", name="relayd", timeout=10.0):
        """A HELLO'd connection to run_directory/SOCK.sock."""
        path = self.socket_path(sock)
        return ferryipc.connect(path, name=name, timeout=timeout)

    # log
    def log(self, name="queued"):
        p = self.log_path(name)
        try:
            return p.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_events(self, event=None, name="queued", **match):
        """Parsed log lines: dicts of key=value fields plus _line;
        filtered by event and exact field values."""
        out = []
        for line in self.log(name).splitlines():
            fields = parse_log_line(line)
            if fields is None:
                continue
            if event is not None and fields.get("event") != event:
                continue
            if any(fields.get(k) != str(v) for k, v in match.items()):
                continue
            out.append(fields)
        return out

    # queue
    def queue_files(self, sub="q"):
        d = self.queue_dir / sub
        try:
            return sorted(os.listdir(d))
        except FileNotFoundError:
            return []

    def queue_ids(self, sub="q"):
        return sorted({f.split(".")[0] for f in self.queue_files(sub)
            if ID_RE.match(f.split(".")[0])})

    def read_msg(self, msgid):
        return (self.q_dir / ("%s.msg" % msgid)).read_bytes()

    def read_env(self, msgid):
        return (self.q_dir / ("%s.env" % msgid)).read_bytes()

    def put_queue_file(self, name, data, sub="q"):
        """Write a file into the queue owned like its directory, as
        queued itself would have left it."""
        d = self.queue_dir / sub
        st = os.stat(d)
        p = d / name
        p.write_bytes(data)
        os.chmod(p, 0o600)
        if os.geteuid() == 0:
            os.chown(p, st.st_uid, st.st_gid)
        return p


LOG_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (?P<prog>[\w-]+)\[(?P<pid>\d+)\]: "
    r"(?P<rest>.*)$")
LOG_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_log_line(line):
    m = LOG_LINE.match(line)
    if not m:
        return None
    fields = dict(_line=line, _ts=m["ts"], _prog=m["prog"], _pid=m["pid"])
    for k, v in LOG_FIELD.findall(m["rest"]):
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            v = v[1:-1]
        fields.setdefault(k, v)
    return fields


def tail(path, n=40):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no %s)" % path
    return "\n".join(lines[-n:])


# --- fixtures --------------------------------------------------------------

def _new_base():
    parent = os.environ.get("FERRY_TEST_TMP") or tempfile.gettempdir()
    base = tempfile.mkdtemp(prefix="ferry-t-", dir=parent)
    os.chmod(base, 0o755)
    return base


@pytest.fixture
def ferry_factory(request):
    """make(conf=None, daemons=("queued",)) -> a started Ferry."""
    made = []

    def make(conf=None, daemons=("queued",)):
        f = Ferry(_new_base(), conf)
        made.append(f)
        for name in daemons:
            f.start(name)
        return f

    yield make

    problems = []
    for f in made:
        died = f.stop_all()
        problems.extend(f.orphans)
        for name in died:
            problems.append("%s (pid %d) died during the test with "
                "status %s\n%s" % (name, f.daemons[name].pid,
                f.daemons[name].proc.returncode, f.diagnostics(name)))
    failed = any(getattr(request.node, "rep_" + w, None) is not None
        and getattr(request.node, "rep_" + w).failed
        for w in ("setup", "call"))
    for f in made:
        if failed or problems or os.environ.get("FERRY_KEEP"):
            sys.stderr.write("\nferry test directory kept: %s\n" % f.base)
        else:
            shutil.rmtree(f.base, ignore_errors=True)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def ferry(request, ferry_factory):
    """A Ferry installation with the daemons of @ferry_daemons (default:
    queued) running and the keys of @ferry_conf in its ferry.conf."""
    m = request.node.get_closest_marker("ferry_conf")
    conf = dict(m.kwargs) if m else {}
    m = request.node.get_closest_marker("ferry_daemons")
    daemons = m.args if m else ("queued",)
    return ferry_factory(conf, daemons)
