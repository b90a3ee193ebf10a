# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""SMTP servers on loopback for relayd's tests and the benchmark.

Real servers, never mocks:

- `Sink`: an aiosmtpd server (Controller, its own thread) whose handler
  records every envelope with the DATA bytes exactly as aiosmtpd received
  them (CRLF kept, dot-stuffing removed), the EHLO name, the MAIL and RCPT
  parameters (SIZE=, BODY=8BITMIME), TLS and AUTH state, and a per-session
  log of commands.  Replies are configurable per recipient and for MAIL
  FROM, as a sequence (the last one repeats): accept, 451 temp, 550 5.1.1
  perm, 550 5.7.1 relay refused...  Optional STARTTLS (required or not) and
  AUTH PLAIN/LOGIN.
- `RawSink`: a small socket SMTP server (one thread per connection) that
  never holds a message in memory: it counts DATA bytes and hashes them,
  optionally throttled (to catch relayd mid-DATA) or with a delay before
  the final 250.  Used for the 1 GB benchmark and the kill -9 test.
- `closed_port()`: a port nothing listens on (connection refused).
- `make_cert()`: a self-signed certificate made with openssl(1).
"""

import hashlib
import os
import random
import socket
import ssl
import subprocess
import threading
import time
import warnings
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"

ACCEPT = "250 2.1.5 OK"
TEMP = "451 4.2.0 mailbox busy, try again later"
PERM = "550 5.1.1 <%s>: user unknown"
RELAY = "550 5.7.1 <%s>: Relay access denied"
MAIL_REFUSED = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"


def shut_down(socks):
    """Shut down every socket of socks (open connections a server is
    stopping), whatever state each is in."""
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# Ports for the tests' servers are drawn below the kernel's ephemeral
# range: a port bound to 0 comes from that range, and before the daemon
# it was chosen for binds it, an outgoing connection of some other test
# may take it as its local port, and the daemon fails with EADDRINUSE
# (seen in CI: smtpd "bind 127.0.0.1:57597: Address already in use").
PORT_FLOOR = 10000


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host=HOST):
    """A port that was free a moment ago (bound, then closed), outside the
    ephemeral range where the kernel allows one; else one bound to 0."""
    low = _ephemeral_low()
    rng = random.Random()
    for _ in range(100 if low > PORT_FLOOR + 100 else 0):
        port = rng.randrange(PORT_FLOOR, low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def closed_port(host=HOST):
    """A port on which a connection is refused: bound, never listening,
    then released; the kernel answers RST."""
    return free_port(host)


def make_cert(directory, name="sink", cn="localhost",
              san="DNS:localhost,IP:127.0.0.1", days=2):
    """Self-signed certificate + key in DIRECTORY; returns (cert, key).
    The certificate is its own CA: relay_tls_ca_file can point at it."""
    d = Path(directory)
    cert, key = d / ("%s.crt" % name), d / ("%s.key" % name)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
        "-nodes", "-subj", "/CN=%s" % cn, "-days", str(days),
        "-addext", "subjectAltName=%s" % san,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-keyout", str(key), "-out", str(cert)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        timeout=60)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o600)
    return cert, key


def server_tls_context(cert, key, record_sni=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    if record_sni is not None:
        def sni(sslobj, name, context):
            record_sni.append(name)
        ctx.sni_callback = sni
    return ctx


class Timeout(AssertionError):
    pass


def wait_until(predicate, timeout, what, interval=0.05):
    """Poll predicate until it returns something true, and return that;
    raise Timeout after timeout seconds.  The one polling loop of the
    tests (conftest.wait_for uses it too)."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Timeout("timed out after %.1fs waiting for %s"
                % (timeout, what))
        time.sleep(interval)


class _SinkBase:
    """What every sink offers: a context manager, and the messages that
    arrived (self.messages, guarded by self.lock)."""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def received(self):
        with self.lock:
            return list(self.messages)

    def wait_messages(self, n=1, timeout=20):
        return wait_until(lambda: len(self.received()) >= n and
            self.received(), timeout, "%d message(s) at %s (log: %r)" % (
            n, self.describe(), getattr(self, "log", None)))


class Received:
    """One message the sink accepted (or was given: see RawSink)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return "<Received from=%r to=%r %d bytes peer=%r>" % (
            self.mail_from, self.rcpt_tos, self.size, self.peer)


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    def _log(self, session, what):
        with self.sink.lock:
            self.sink.log.append((session.peer, what))

    async def handle_HELO(self, server, session, envelope, hostname):
        self._log(session, "HELO %s" % hostname)
        session.host_name = hostname
        return "250 %s" % server.hostname

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        self._log(session, "EHLO %s%s" % (hostname,
            " (tls)" if session.ssl else ""))
        session.host_name = hostname
        with self.sink.lock:
            self.sink.ehlo_names.append(hostname)
        return responses

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        # aiosmtpd gives the null reverse-path as "<>"; it must stay so
        # in its envelope (an empty mail_from means "no MAIL yet")
        shown = "" if address == "<>" else address
        self._log(session, "MAIL FROM:<%s> %s" % (shown,
            " ".join(mail_options)))
        reply = self.sink._next_reply(None, shown)
        if reply.startswith("2"):
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
        return reply

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        self._log(session, "RCPT TO:<%s> %s" % (address,
            " ".join(rcpt_options)))
        reply = self.sink._next_reply(address, address)
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return reply

    async def handle_RSET(self, server, session, envelope):
        self._log(session, "RSET")
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        self._log(session, "QUIT")
        return "221 Bye"

    async def handle_DATA(self, server, session, envelope):
        data = bytes(envelope.original_content)
        self._log(session, "DATA %d bytes" % len(data))
        reply = self.sink.data_reply
        if reply.startswith("2"):
            summary = None
            size = len(data)
            if self.sink.summarize is not None:
                summary = self.sink.summarize(data)
                data = None
            r = Received(mail_from="" if envelope.mail_from == "<>"
                else envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                mail_options=list(envelope.mail_options),
                rcpt_options=list(envelope.rcpt_options),
                data=data, size=size, summary=summary, peer=session.peer,
                tls=session.ssl is not None,
            tls_version=(session.ssl or {}).get("cipher", (None,) * 3)[1],
                cipher=(session.ssl or {}).get("cipher"),
                auth=session.auth_data if session.authenticated else None,
                helo=getattr(session, "host_name", None),
                time=time.time())
            with self.sink.lock:
                self.sink.messages.append(r)
        return reply


class Sink(_SinkBase):
    """aiosmtpd on 127.0.0.1:port.

        with Sink(tmp) as s:                        # accepts everything
            s.rcpt_replies("b@example.test", sinks.TEMP, sinks.ACCEPT)
            s.rcpt_replies("c@example.test", sinks.PERM % "c@example.test")
            s.wait_messages(1)

    tls: (cert, key) to offer STARTTLS; require_tls: refuse MAIL before
    it.  auth: {user: password} to require AUTH (PLAIN, LOGIN);
    auth_require_tls: offer AUTH only after STARTTLS; auth_required=False:
    offer AUTH but take mail without it (a delegate's port 25).
    summarize: a function of the DATA bytes; a message then keeps its
    result as .summary and .data is None (a long run, t/test_chaos.py,
    does not hold every message in memory)."""

    def __init__(self, tmpdir=None, tls=None, require_tls=False, auth=None,
                 auth_require_tls=False, auth_required=True,
                 data_size_limit=200 * 2**20,
                 port=None, hostname="sink.example.test", host=HOST,
                 summarize=None):
        self.lock = threading.Lock()
        self.summarize = summarize
        self.messages = []
        self.log = []
        self.ehlo_names = []
        self.sni = []
        self.auth_attempts = []
        self.data_reply = "250 2.0.0 Ok: queued"
        self._rcpt = {}
        self._mail = []
        self.host = host
        self.port = port or free_port(host)
        self.auth = auth
        kw = dict(hostname=host, port=self.port, server_hostname=hostname,
            data_size_limit=data_size_limit, decode_data=False,
            ready_timeout=10)
        if tls:
            kw["tls_context"] = server_tls_context(*tls, record_sni=self.sni)
            kw["require_starttls"] = require_tls
        if auth is not None:
            kw["authenticator"] = self._authenticate
            kw["auth_required"] = auth_required
            kw["auth_require_tls"] = auth_require_tls
        with warnings.catch_warnings():
            # "Requiring AUTH while not requiring TLS": on purpose here
            warnings.simplefilter("ignore")
            self.controller = Controller(_Handler(self), **kw)

    # replies
    def rcpt_replies(self, addr, *replies):
        """Replies to RCPT TO:<addr>, in order; the last one repeats.  A
        '%s' in a reply is replaced by the address."""
        with self.lock:
            self._rcpt[addr.lower()] = list(replies)

    def mail_replies(self, *replies):
        with self.lock:
            self._mail = list(replies)

    def _next_reply(self, key, addr):
        with self.lock:
            seq = self._mail if key is None else self._rcpt.get(key.lower())
            if not seq:
                return "250 2.1.0 OK" if key is None else ACCEPT
            reply = seq.pop(0) if len(seq) > 1 else seq[0]
        return reply.replace("%s", addr) if "%s" in reply else reply

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and
            self.auth.get(auth_data.login.decode(errors="replace"))
            == auth_data.password.decode(errors="replace"))
        with self.lock:
            self.auth_attempts.append((mechanism, auth_data.login
                if isinstance(auth_data, LoginPassword) else None, ok))
        self._log_peer(session.peer, "AUTH %s %s" % (mechanism,
            "ok" if ok else "failed"))
        return AuthResult(success=ok, handled=False,
            auth_data=auth_data.login.decode(errors="replace") if ok
            else None)

    def _log_peer(self, peer, what):
        with self.lock:
            self.log.append((peer, what))

    # life cycle
    def start(self):
        self.controller.start()
        # Controller's own start-up probe connection is not a client.
        with self.lock:
            self.log.clear()
        return self

    def stop(self):
        try:
            self.controller.stop()
        except Exception:
            pass

    def describe(self):
        return "the sink on port %d" % self.port

    def sessions(self):
        """{peer: [commands]} for peers that said HELO/EHLO: one per TCP
        connection relayd opened."""
        out = {}
        with self.lock:
            for peer, what in self.log:
                out.setdefault(peer, []).append(what)
        return {p: cmds for p, cmds in out.items()
            if any(c.startswith(("EHLO", "HELO")) for c in cmds)}

    def commands(self, prefix):
        with self.lock:
            return [w for _, w in self.log if w.startswith(prefix)]


class RawSink(_SinkBase):
    """A minimal SMTP server on plain sockets that counts and hashes DATA
    (dot-stuffed, as on the wire, without the final '.' line) instead of
    keeping it.  throttle: bytes/second read during DATA (None: as fast as
    possible); reply_delay: seconds between the final dot and the 250.

    messages: Received(size, sha256, complete=True...) for every DATA
    that ended with CRLF.CRLF; aborted: sizes of DATA cut off by a closed
    connection."""

    def __init__(self, port=None, throttle=None, reply_delay=0.0,
                 size_limit=4 * 2**30, greeting="220 raw.example.test ESMTP",
                 ehlo=True):
        self.port = port or free_port()
        self.greeting = greeting
        self.ehlo = ehlo
        self.commands = []
        self.throttle = throttle
        self.reply_delay = reply_delay
        self.size_limit = size_limit
        self.lock = threading.Lock()
        self.messages = []
        self.aborted = []
        self.connections = 0
        self.data_started = 0
        self.bytes_in_data = 0          # running total, all connections
        self._socks = set()
        self._stop = False
        self._listener = None
        self._thread = None

    def start(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((HOST, self.port))
        ls.listen(64)
        self._listener = ls
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self.lock:
            shut_down(list(self._socks))

    def describe(self):
        return "the raw sink"

    def wait_messages(self, n=1, timeout=60):
        # large messages take longer to stream than the default allows
        return super().wait_messages(n, timeout)

    def _accept(self):
        while not self._stop:
            try:
                s, peer = self._listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self._socks.add(s)
            threading.Thread(target=self._serve, args=(s, peer),
                daemon=True).start()

    def _serve(self, s, peer):
        try:
            self._session(s, peer)
        except (OSError, ConnectionError):
            pass
        finally:
            with self.lock:
                self._socks.discard(s)
            s.close()

    def _session(self, s, peer):
        s.sendall(self.greeting.encode() + b"\r\n")
        if not self.greeting.startswith("220"):
            # RFC 5321 4.3.1: 554 greeting, then only QUIT is answered
            s.settimeout(5)
        buf = b""
        env = {"from": None, "to": [], "ehlo": None, "params": []}
        while True:
            while b"\r\n" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    return
                buf += chunk
            line, buf = buf.split(b"\r\n", 1)
            cmd = line.decode("latin-1")
            verb = cmd[:4].upper()
            with self.lock:
                self.commands.append((peer, cmd))
            if not self.greeting.startswith("220") and verb != "QUIT":
                s.sendall(b"503 5.5.1 no service\r\n")
            elif verb == "EHLO" and not self.ehlo:
                s.sendall(b"502 5.5.2 EHLO not recognized\r\n")
            elif verb in ("EHLO", "HELO"):
                env["ehlo"] = cmd[5:]
                if verb == "EHLO":
                    s.sendall(b"250-raw.example.test\r\n250-PIPELINING\r\n"
                        b"250-SIZE %d\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES"
                        b"\r\n" % self.size_limit)
                else:
                    s.sendall(b"250 raw.example.test\r\n")
            elif verb == "MAIL":
                env["from"] = cmd[10:].split(">", 1)[0].lstrip("<")
                env["params"] = cmd.split(">", 1)[1].split() if ">" in cmd \
                    else []
                env["to"] = []
                s.sendall(b"250 2.1.0 OK\r\n")
            elif verb == "RCPT":
                env["to"].append(cmd[8:].split(">", 1)[0].lstrip("<"))
                s.sendall(b"250 2.1.5 OK\r\n")
            elif verb == "DATA":
                s.sendall(b"354 go ahead\r\n")
                buf = self._data(s, peer, buf, env)
                if buf is None:
                    return
            elif verb == "RSET":
                env["from"], env["to"] = None, []
                s.sendall(b"250 2.0.0 OK\r\n")
            elif verb == "NOOP":
                s.sendall(b"250 2.0.0 OK\r\n")
            elif verb == "QUIT":
                s.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                s.sendall(b"502 5.5.2 command not recognized\r\n")

    def _data(self, s, peer, buf, env):
        """Read DATA up to CRLF.CRLF; returns what follows it, or None if
        the connection closed first."""
        with self.lock:
            self.data_started += 1
        h = hashlib.sha256()
        size = 0
        pending = b"\r\n"       # not yet hashed; the first 2 are virtual
        skip = 2
        t0 = time.monotonic()
        while True:
            data = pending + buf
            i = data.find(b"\r\n.\r\n")
            if i >= 0:
                body = data[:i + 2]
                if skip:
                    body = body[skip:]
                h.update(body)
                size += len(body)
                rest = data[i + 5:]
                break
            keep = min(4, len(data))
            body = data[:len(data) - keep]
            if skip and body:
                n = min(skip, len(body))
                body = body[n:]
                skip -= n
            h.update(body)
            size += len(body)
            with self.lock:
                self.bytes_in_data += len(buf)
            pending = data[len(data) - keep:]
            if self.throttle:
                ahead = size / self.throttle - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
            buf = s.recv(65536 if self.throttle else 1 << 20)
            if not buf:
                with self.lock:
                    self.aborted.append(size)
                return None
        r = Received(mail_from=env["from"], rcpt_tos=list(env["to"]),
            mail_options=list(env["params"]), size=size,
            sha256=h.hexdigest(), peer=peer, helo=env["ehlo"],
            time=time.time())
        with self.lock:
            self.messages.append(r)
        if self.reply_delay:
            time.sleep(self.reply_delay)
        s.sendall(b"250 2.0.0 OK counted %d bytes\r\n" % size)
        return rest


def dot_stuff(data):
    """The wire form of message bytes (CRLF lines): a '.' doubled at the
    start of every line."""
    out = data.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    return out


class FakeDNS:
    """A small authoritative DNS server on UDP ip:53 (root only) answering
    from records given as text lines, the libresolv-wrapper hosts format:

        MX example.test 10 mx1.example.test
        A mx1.example.test 127.0.0.1
        AAAA mx1.example.test ::1

    A name with no record of any type is NXDOMAIN; a known name without
    the asked type is NODATA (NOERROR, no answers).  relayd reaches it
    through libresolv-wrapper's RESOLV_WRAPPER_CONF ("nameserver IP"):
    libresolv-wrapper 1.1.8's own hosts file cannot fake MX records, and
    its "not found" answers do not parse (ns_initparse fails).

    As a real server does, it sets TC on a UDP answer over 512 bytes and
    leaves its records out, and answers the resolver's retry over TCP on
    the same ip:port in full; tcp_queries lists those."""

    TYPES = {"A": 1, "MX": 15, "AAAA": 28}

    def __init__(self, records, ip="127.0.0.1", port=53):
        self.ip, self.port = ip, port
        self.records = {}
        self.queries = []
        for line in records:
            f = line.split()
            if not f or f[0].startswith("#"):
                continue
            t, name = f[0].upper(), f[1].lower().rstrip(".")
            if t == "MX":
                rdata = struct_pack_mx(int(f[2]), f[3])
            elif t == "A":
                rdata = socket.inet_pton(socket.AF_INET, f[2])
            elif t == "AAAA":
                rdata = socket.inet_pton(socket.AF_INET6, f[2])
            else:
                raise ValueError("FakeDNS: unsupported record %r" % line)
            self.records.setdefault((name, self.TYPES[t]), []).append(rdata)
        self.names = {n for n, _ in self.records}
        self.tcp_queries = []
        self.sock = self.tcp = None

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.ip, self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.tcp.bind((self.ip, self.port))
        except OSError:
            self.stop()
            raise
        self.tcp.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()
        threading.Thread(target=self._serve_tcp, daemon=True).start()
        return self

    def stop(self):
        for name in ("sock", "tcp"):
            s = getattr(self, name)
            if s is not None:
                setattr(self, name, None)
                s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _serve(self):
        while self.sock is not None:
            try:
                q, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                r = self._answer(q)
            except (IndexError, ValueError):
                continue
            if len(r) > 512:
                # TC, and only the question: ask again over TCP
                qend = 12 + len(self._question(q))
                r = r[0:2] + bytes([r[2] | 0x02]) + r[3:6] + \
                    b"\0\0\0\0\0\0" + r[12:qend]
            try:
                self.sock.sendto(r, addr)
            except (OSError, AttributeError):
                return

    def _serve_tcp(self):
        while self.tcp is not None:
            try:
                c, _ = self.tcp.accept()
            except (OSError, AttributeError):
                return
            threading.Thread(target=self._serve_conn, args=(c,),
                daemon=True).start()

    def _serve_conn(self, c):
        with c:
            try:
                while True:
                    n = int.from_bytes(self._recv_all(c, 2), "big")
                    q = self._recv_all(c, n)
                    try:
                        r = self._answer(q)
                    except (IndexError, ValueError):
                        return
                    self.tcp_queries.append(self.queries[-1])
                    c.sendall(len(r).to_bytes(2, "big") + r)
            except OSError:
                return

    @staticmethod
    def _recv_all(c, n):
        out = b""
        while len(out) < n:
            chunk = c.recv(n - len(out))
            if not chunk:
                raise OSError("closed")
            out += chunk
        return out

    @staticmethod
    def _question(q):
        i = 12
        while q[i]:
            i += 1 + q[i]
        return q[12:i + 5]

    def _answer(self, q):
        qid, flags, qd = int.from_bytes(q[0:2], "big"), \
            int.from_bytes(q[2:4], "big"), int.from_bytes(q[4:6], "big")
        if qd != 1:
            raise ValueError("one question")
        labels, i = [], 12
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii").lower())
            i += 1 + q[i]
        qname_end = i + 1
        qtype = int.from_bytes(q[qname_end:qname_end + 2], "big")
        question = q[12:qname_end + 4]
        name = ".".join(labels)
        with_lock = (name, qtype)
        self.queries.append(with_lock)
        answers = self.records.get((name, qtype), [])
        rcode = 0 if name in self.names else 3          # NXDOMAIN
        rflags = 0x8000 | 0x0400 | (flags & 0x0100) | rcode   # QR AA RD
        out = qid.to_bytes(2, "big") + rflags.to_bytes(2, "big") + \
            (1).to_bytes(2, "big") + len(answers).to_bytes(2, "big") + \
            b"\0\0\0\0" + question
        for rdata in answers:
            out += b"\xc0\x0c" + qtype.to_bytes(2, "big") + b"\0\x01" + \
                (60).to_bytes(4, "big") + len(rdata).to_bytes(2, "big") + rdata
        return out


def _dns_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def struct_pack_mx(pref, host):
    return pref.to_bytes(2, "big") + _dns_name(host)
