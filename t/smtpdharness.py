# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Shared pieces of smtpd's tests (t/test_smtpd_*.py).

The `smtpd` fixture is a Ferry installation (conftest's `ferry_factory`)
with queued and smtpd running and relayd not started:

    def test_x(smtpd):
        c = smtpd.client()                 # raw SMTP on smtp_listen
        assert c.ehlo().code == 250
        assert c.cmd("MAIL FROM:<a@example.net>").startswith("250 2.")
        ...
        (msgid,) = smtpd.ferry.queue_ids()
        head, rest = split_received(smtpd.ferry.read_msg(msgid))

        sink = smtpd.relay_to_sink()      # aiosmtpd sink + relayd routed to it

Ports and files every smtpd test gets (override keys with @ferry_conf; a
value may name the fixture's ports and addresses as {smtp}, {submission},
{smtps}, {extra} (one more free port) and {ext} (a non-loopback address of
this host, see `external_ipv4`; the test is skipped without one)):

    smtp_listen       = 127.0.0.1:{smtp}
    submission_listen = 127.0.0.1:{submission}
    smtps_listen      = 127.0.0.1:{smtps}
    smtpd_tls_cert_file, smtpd_tls_key_file: a self-signed certificate
    accepted_domains  = ferry.test example.org
    recipients_file   : user@, alice@, bob@ferry.test and @example.org
    smtpd_users_file  : alice and bob (USERS), sha512-crypt hashes
    mynetworks        = 198.51.100.0/24   (no client of the tests is in it)
    smtpd_auth_plaintext = loopback  (AUTH without TLS from loopback)
    smtpd_auth_failure_delay = 0, smtpd_timeout = 30s

smtpd has no control socket, so the harness knows it is ready when its
first listener sends a 220 greeting (conftest.READY_CHECKS).
"""

import base64
import ipaddress
import os
import re
import shutil
import socket
import ssl
import subprocess
import time

import pytest

import conftest
import relayharness
import sinks
from conftest import HOSTNAME, wait_for

USERS = {"alice": "alice-S3cret-Pw-7781", "bob": "bob-0ther-Pw-2213"}
RECIPIENTS = ["user@ferry.test", "alice@ferry.test", "bob@ferry.test",
    "@example.org"]
HELO = "client.example"
SENDER = "sender@example.net"

SMTPD_CONF = dict(
    accepted_domains="ferry.test example.org",
    mynetworks="198.51.100.0/24",
    smtpd_auth_failure_delay="0",
    smtpd_timeout="30s",
    # the tests AUTH without TLS from loopback; the default (no) is tested
    # with smtpd_auth_plaintext=None
    smtpd_auth_plaintext="loopback",
    max_message_size="1M",
    # relayd, when a test starts it, delivers to a plain aiosmtpd sink
    **relayharness.RELAY_CONF,
)

LISTEN_KEYS = ("smtp_listen", "submission_listen", "smtps_listen")

ID_RE = re.compile(r"[0-9A-F]{16}")
QUEUED_RE = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9A-F]{16})$")


# --- the host ----------------------------------------------------------------

def external_ipv4():
    """An IPv4 address of this host outside 127/8 (e.g. eth0's), or None.
    A client that connects from it to a listener on it is off loopback,
    which is how the tests reach smtpd's rules for remote clients."""
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show",
            "scope", "global"], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, timeout=10).stdout.decode()
    except (OSError, subprocess.TimeoutExpired):
        return None
    for m in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/", out):
        addr = m.group(1)
        if ipaddress.ip_address(addr) in \
                ipaddress.ip_network("198.51.100.0/24"):
            continue        # inside the harness's mynetworks
        try:
            with socket.socket() as s:
                s.bind((addr, 0))
        except OSError:
            continue
        return addr
    return None


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def crypt_hash(password):
    """A sha512-crypt hash, as smtpd_users_file holds them."""
    r = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
        input=password.encode() + b"\n", stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, timeout=30, check=True)
    return r.stdout.decode().strip()


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def plain_blob(user, password, authzid=""):
    return b64("%s\0%s\0%s" % (authzid, user, password))


def secret_forms(user, password):
    """Every form a password crosses the wire in: clear, LOGIN's base64 of
    it alone, PLAIN's base64 of authzid NUL user NUL password (authzid
    empty or the user).  A log holding any of them leaks it."""
    return [password, b64(password), plain_blob(user, password),
        plain_blob(user, password, authzid=user)]


# --- a raw SMTP client -------------------------------------------------------

class Closed(AssertionError):
    """The server closed the connection where a reply was expected."""


class Reply(str):
    """A whole (possibly multi-line) reply: the str is its lines joined by
    '\\n' without CRLF; .code the number, .lines the lines, .last the
    final line, .keywords the EHLO keywords (upper case)."""

    def __new__(cls, lines):
        r = str.__new__(cls, "\n".join(lines))
        r.lines = list(lines)
        r.code = int(lines[-1][:3])
        r.last = lines[-1]
        return r

    @property
    def keywords(self):
        return [l[4:].upper() for l in self.lines[1:]]

    def keyword(self, name):
        """The EHLO line of keyword NAME ("SIZE 1048576"), or None."""
        for k in self.keywords:
            if k.split()[0] == name.upper():
                return k
        return None


class Client:
    """SMTP over a plain socket, for what smtplib cannot do: pipelining,
    bytes as they are (bare LF, long lines), several commands in one write,
    and watching what the server sends unasked.

    tls=True: implicit TLS (smtps).  source: local address to connect
    from.  The greeting is read at once into .greeting (unless
    read_greeting=False)."""

    def __init__(self, host, port, tls=False, source=None, timeout=10,
                 read_greeting=True):
        self.host, self.port = host, port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""
        self.tls = False
        if tls:
            self._wrap()
        self.greeting = self.reply() if read_greeting else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @staticmethod
    def tls_context():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _wrap(self):
        self.sock = self.tls_context().wrap_socket(self.sock,
            server_hostname=None)
        self.tls = True

    # bytes
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        """Read more into buf; False at EOF."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return False
        self.buf += chunk
        return True

    def line(self, timeout=None):
        while b"\r\n" not in self.buf:
            if not self._fill(timeout):
                raise Closed("connection closed; unread: %r" % self.buf)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self, timeout=None):
        lines = []
        while True:
            l = self.line(timeout)
            if len(l) < 3 or not l[:3].isdigit() or \
                    (len(l) > 3 and l[3] not in " -"):
                raise AssertionError("malformed reply line %r" % l)
            lines.append(l)
            if len(l) == 3 or l[3] == " ":
                return Reply(lines)

    def replies(self, n, timeout=None):
        return [self.reply(timeout) for _ in range(n)]

    def cmd(self, line, timeout=None):
        """Send one command line (CRLF added) and return its reply."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.reply(timeout)

    def expect_close(self, timeout=5):
        """Wait until the server closes; returns whatever it sent first
        (decoded).  Fails if it stays open for timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("server kept the connection open "
                    "%.1fs; unread: %r" % (timeout, self.buf))
            try:
                if not self._fill(left):
                    out, self.buf = self.buf, b""
                    return out.decode("utf-8", "replace")
            except socket.timeout:
                continue
            except OSError:
                out, self.buf = self.buf, b""
                return out.decode("utf-8", "replace")

    def is_open(self, wait=0.3):
        """True if the server neither closed nor sent anything in wait
        seconds (what it sent is kept in buf)."""
        try:
            return self._fill(wait) and False
        except socket.timeout:
            return True
        except OSError:
            return False

    def silent(self, wait=0.5):
        """Nothing unread and nothing arrives within wait seconds."""
        if self.buf:
            return False
        return self.is_open(wait)

    # SMTP
    def ehlo(self, name=HELO):
        return self.cmd("EHLO %s" % name)

    def starttls(self):
        """STARTTLS, then the handshake.  Asserts that nothing followed
        the 220 in plaintext."""
        r = self.cmd("STARTTLS")
        assert r.startswith("220 2.0.0"), r
        assert self.buf == b"", "plaintext after 220: %r" % self.buf
        self._wrap()
        return r

    def auth_plain(self, user, password):
        return self.cmd("AUTH PLAIN %s" % plain_blob(user, password))

    def auth_login(self, user, password):
        r = self.cmd("AUTH LOGIN")
        if r.code != 334:
            return r
        r = self.cmd(b64(user))
        if r.code != 334:
            return r
        return self.cmd(b64(password))

    def mail(self, sender=SENDER, params=""):
        return self.cmd("MAIL FROM:<%s>%s" % (sender,
            " " + params if params else ""))

    def rcpt(self, addr, params=""):
        return self.cmd("RCPT TO:<%s>%s" % (addr,
            " " + params if params else ""))

    def data(self, body):
        """DATA, the dot-stuffed body and the final dot; returns the reply
        to the final dot (fails if DATA itself is refused)."""
        r = self.cmd("DATA")
        assert r.startswith("354"), r
        if isinstance(body, str):
            body = body.encode()
        self.send(sinks.dot_stuff(body) + b".\r\n")
        return self.reply()

    def open_data(self, rcpt="user@ferry.test"):
        """EHLO, MAIL, RCPT and DATA, each accepted: ready for the text."""
        self.ehlo()
        r = self.mail()
        assert r.startswith("250 2."), r
        r = self.rcpt(rcpt)
        assert r.startswith("250 2."), (rcpt, r)
        r = self.cmd("DATA")
        assert r.code == 354, r

    def send_mail(self, rcpts=("user@ferry.test",), body=None,
                  sender=SENDER):
        """MAIL, RCPTs and DATA, each answered with 2xx/354; returns the
        queue id from the final 250."""
        r = self.mail(sender)
        assert r.startswith("250 2."), r
        for a in rcpts:
            r = self.rcpt(a)
            assert r.startswith("250 2."), (a, r)
        r = self.data(body if body is not None else simple_message())
        m = QUEUED_RE.match(r)
        assert m, r
        return m.group(1)

    def quit(self):
        try:
            r = self.cmd("QUIT")
        except (Closed, OSError):
            r = None
        self.close()
        return r


def simple_message(subject="test", body="hello\r\n", extra=()):
    """A small message with CRLF line ends, as bytes."""
    lines = ["From: <%s>" % SENDER, "To: <user@ferry.test>",
        "Subject: %s" % subject, "Message-ID: <%d.%d@example.net>" % (
            time.time() * 1e6, os.getpid())] + list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def split_received(data):
    """(the first header unfolded, as str; the bytes after it): the
    Received header smtpd put in front of what the client sent."""
    assert data.startswith(b"Received:"), data[:200]
    i = 0
    while True:
        j = data.index(b"\r\n", i)
        if data[j + 2:j + 3] not in (b" ", b"\t"):
            break
        i = j + 2
    head = data[:j].decode("utf-8", "replace")
    head = re.sub(r"\r\n[ \t]+", " ", head)
    return head, data[j + 2:]


def received_re(helo, ip, proto, msgid):
    """The shape of smtpd's Received header (RFC 5321 4.4, RFC 3848):
    from HELO (... [IP]) (comments, e.g. the TLS cipher) by HOST ... with
    PROTO ... id QUEUEID ...; DATE"""
    return re.compile(
        r"^Received: from %s \((?:[^()]*\s)?\[%s\]\)"
        r"(?:\s+\((?:[^()]|\([^()]*\))*\))*"     # (using TLS...) comments
        r"\s+by %s\b.*"
        r"\swith %s\s.*\bid %s\b.*;\s*\S.*$" % (re.escape(helo),
            re.escape(ip), re.escape(HOSTNAME), proto, msgid))


def parse_env(data):
    """The sender and recipient addresses of a q/ID.env."""
    def unescape(v):
        if v == "-":
            return ""
        return re.sub(rb"%([0-9A-F]{2})",
            lambda m: bytes([int(m.group(1), 16)]),
            v.encode()).decode("utf-8", "surrogateescape")
    sender, rcpts = None, []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        f = line.split(" ")
        if f[0] == "sender":
            sender = unescape(f[1])
        elif f[0] == "rcpt":
            rcpts.append(unescape(f[4]))
    return sender, rcpts


# --- readiness --------------------------------------------------------------

def first_listener(conf):
    """(host, port, tls) of smtpd's first listener in this ferry.conf."""
    for key in LISTEN_KEYS:
        words = (conf.get(key) or "").split()
        if words:
            host, _, port = words[0].rpartition(":")
            return host.strip("[]"), int(port), key == "smtps_listen"
    return None


def greets(ferry):
    """True once smtpd's first listener answers 220 (then QUIT, and wait
    for the close, so the probe is not counted in a later session limit)."""
    where = first_listener(ferry.conf)
    if where is None:
        return ferry.ping("smtpd")
    host, port, tls = where
    try:
        c = Client(host, port, tls=tls, timeout=2)
    except (OSError, Closed, ssl.SSLError):
        return False
    try:
        if c.greeting.code != 220:
            return False
        c.send("QUIT\r\n")
        try:
            c.expect_close(2)
        except AssertionError:
            pass
        return True
    except (OSError, Closed, ssl.SSLError):
        return False
    finally:
        c.close()


conftest.READY_CHECKS["smtpd"] = greets


# --- the fixture -------------------------------------------------------------

class Smtpd:
    def __init__(self, ferry, ports, ext):
        self.ferry = ferry
        self.base = ferry.base
        self.ports = ports          # smtp, submission, smtps, extra
        self.ext = ext
        self._sinks = []
        self.cert = self.key = None

    @property
    def smtp(self):
        return self.ports["smtp"]

    @property
    def submission(self):
        return self.ports["submission"]

    @property
    def smtps(self):
        return self.ports["smtps"]

    @property
    def extra(self):
        return self.ports["extra"]

    # tables
    def write_users(self, users=None, name="smtpd-users"):
        """smtpd_users_file: name:sha512-crypt lines; readable by smtpd's
        user (it reads the table again on SIGHUP), by nobody else."""
        users = USERS if users is None else users
        p = self.base / name
        tmp = self.base / (name + ".new")
        tmp.write_text("".join("%s:%s\n" % (u, crypt_hash(pw))
            for u, pw in users.items()))
        os.chmod(tmp, 0o640)
        if os.geteuid() == 0:
            os.chown(tmp, 0, self.ferry.daemon_uid_gid("smtpd")[1])
        os.replace(tmp, p)
        return p

    def write_recipients(self, lines=None, name="recipients"):
        lines = RECIPIENTS if lines is None else lines
        p = self.base / name
        tmp = self.base / (name + ".new")
        tmp.write_text("".join("%s\n" % l for l in lines))
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
        return p

    # smtpd
    def start(self, wait=True):
        return self.ferry.start("smtpd", wait=wait)

    def stop(self):
        return self.ferry.stop("smtpd")

    def restart(self):
        self.stop()
        return self.start()

    def conf(self, **keys):
        """Change ferry.conf and restart smtpd (it reads it at start)."""
        self.ferry.write_conf(**keys)
        if "smtpd" in self.ferry.daemons and \
                self.ferry.daemons["smtpd"].alive():
            self.restart()

    def run_smtpd(self, timeout=15):
        """bin/smtpd -f -c CONF in the foreground for a configuration it
        must refuse; returns the CompletedProcess (or fails the test if it
        keeps running)."""
        try:
            return conftest.run([conftest.BIN / "smtpd", "-f", "-c",
                self.ferry.conf_path], timeout=timeout,
                env=conftest.daemon_env())
        except subprocess.TimeoutExpired:
            pytest.fail("smtpd kept running with a bad configuration",
                pytrace=False)

    def start_refused(self, status, **keys):
        """With keys written to ferry.conf, smtpd must refuse to start
        with exit status STATUS (README, Running the daemons: 78 for a
        configuration error, 1 for any other failure to start); returns
        (its exit status, its stderr)."""
        if keys:
            self.ferry.write_conf(**keys)
        r = self.run_smtpd()
        err = r.stderr.decode(errors="replace")
        assert r.returncode == status, (r.returncode, err)
        return r.returncode, err

    # clients
    def client(self, port=None, host="127.0.0.1", **kw):
        return Client(host, port or self.smtp, **kw)

    def submission_client(self, **kw):
        return Client("127.0.0.1", self.submission, **kw)

    def smtps_client(self, **kw):
        return Client("127.0.0.1", self.smtps, tls=True, **kw)

    def ext_client(self, port=None, **kw):
        """A client off loopback: from and to this host's external
        address (the listener must be configured on {ext})."""
        assert self.ext, "no external address"
        return Client(self.ext, port or self.smtp, source=self.ext, **kw)

    # the queue
    def queued(self):
        return self.ferry.queue_ids()

    def envelope(self, msgid):
        return parse_env(self.ferry.read_env(msgid))

    def wait_queue_quiet(self, wait=0.5):
        """Give queued and smtpd a moment (for checks that nothing
        happened), then return q/'s files."""
        time.sleep(wait)
        return self.ferry.queue_files()

    def wait_queue_empty(self, timeout=10):
        wait_for(lambda: self.ferry.queue_files() == [], timeout=timeout,
            what="an empty queue (have %r)" % (self.ferry.queue_files(),))

    # delivery
    def relay_to_sink(self, start=True, **kw):
        """An aiosmtpd sink, default_route pointing at it, relayd started
        (unless start=False); returns the sink."""
        sink = sinks.Sink(self.base, **kw).start()
        self._sinks.append(sink)
        self.ferry.write_conf(default_route="smtp:[127.0.0.1]:%d" %
            sink.port)
        if start:
            self.ferry.start("relayd")
        return sink

    def stop_sinks(self):
        for s in self._sinks:
            s.stop()

    # logs
    def log(self):
        return self.ferry.log("smtpd")


class Yardstick:
    """A session whose reply smtpd holds back by a known delay: a failed
    AUTH on the submission port (the test sets smtpd_auth_failure_delay,
    e.g. 10s).  What another session got before this reply arrived took
    less than that delay, by smtpd's own timer: "at once" without a
    wall-clock bound that a loaded machine could break.

        y = Yardstick(smtpd)        # returns once smtpd's timer runs
        ...                         # the replies that must be prompt
        assert not y.fired(), "not at once"
    """

    def __init__(self, smtpd, user="bob"):
        def failed():
            return smtpd.ferry.log_events("auth", name="smtpd",
                user=user, result="failed")
        n = len(failed())
        self.c = Client("127.0.0.1", smtpd.submission)
        self.c.ehlo()
        self.c.send("AUTH PLAIN %s\r\n" % plain_blob(user,
            "wrong-yardstick-Pw-1"))
        # smtpd logs the failure as it starts the delay
        wait_for(lambda: len(failed()) > n, timeout=10,
            what="the yardstick's AUTH failure in smtpd.log")

    def fired(self):
        """Has the delayed reply (or a close) arrived?"""
        if self.c.buf:
            return True
        import select
        return bool(select.select([self.c.sock], [], [], 0)[0])

    def close(self):
        self.c.close()


_CERT_CACHE = {}


def smtpd_cert(directory):
    """A copy of one self-signed certificate for mx.ferry.test (made once
    per run: RSA key generation is slow) in DIRECTORY; (cert, key)."""
    if "pem" not in _CERT_CACHE:
        import tempfile
        d = tempfile.mkdtemp(prefix="ferry-smtpd-cert-")
        cert, key = sinks.make_cert(d, name="smtpd", cn="mx.ferry.test",
            san="DNS:mx.ferry.test,IP:127.0.0.1")
        _CERT_CACHE["pem"] = (cert.read_bytes(), key.read_bytes())
        shutil.rmtree(d, ignore_errors=True)
    out = []
    for name, data, mode in (("smtpd.crt", _CERT_CACHE["pem"][0], 0o644),
                             ("smtpd.key", _CERT_CACHE["pem"][1], 0o600)):
        p = directory / name
        p.write_bytes(data)
        os.chmod(p, mode)
        out.append(p)
    return tuple(out)


def base_conf(s):
    """SMTPD_CONF with s's listeners, a certificate and the tables."""
    s.cert, s.key = smtpd_cert(s.base)
    conf = dict(SMTPD_CONF)
    conf.update(
        smtp_listen="127.0.0.1:%d" % s.smtp,
        submission_listen="127.0.0.1:%d" % s.submission,
        smtps_listen="127.0.0.1:%d" % s.smtps,
        smtpd_tls_cert_file=str(s.cert),
        smtpd_tls_key_file=str(s.key),
        recipients_file=str(s.write_recipients()),
        smtpd_users_file=str(s.write_users()),
    )
    return conf


@pytest.fixture
def smtpd(request, ferry_factory):
    """queued and smtpd running with SMTPD_CONF, the listeners, the
    certificate and the tables; @ferry_conf overrides (with {smtp}...
    placeholders); @pytest.mark.smtpd_nostart leaves smtpd stopped."""
    ports = {k: sinks.free_port() for k in ("smtp", "submission", "smtps",
        "extra")}
    m = request.node.get_closest_marker("ferry_conf")
    over = dict(m.kwargs) if m else {}
    ext = None
    if any(isinstance(v, str) and "{ext}" in v for v in over.values()):
        ext = external_ipv4()
        if ext is None:
            pytest.skip("this host has no non-loopback IPv4 address to "
                "be a remote client from")
    fmt = dict(ports, ext=ext)
    over = {k: v.format(**fmt) if isinstance(v, str) else v
        for k, v in over.items()}
    f = ferry_factory(None, ())
    s = Smtpd(f, ports, ext)
    conf = base_conf(s)
    conf.update(over)
    f.write_conf(**conf)
    f.start("queued")
    if not request.node.get_closest_marker("smtpd_nostart"):
        s.start()
    yield s
    for name in ("smtpd", "relayd"):
        if name in f.daemons:
            f.stop(name)
    s.stop_sinks()

