# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""A WebSmtp service on loopback for webrelayd's tests (t/test_webrelay.py).

A real HTTPS server, never a mock: http.server's ThreadingHTTPServer
speaking HTTP/1.1 (connections stay open between requests) over TLS with a
certificate signed by a test CA (`make_ca()`, `make_server_cert()`); the
test gives that CA to Ferry as webrelay_ca_file.  A certificate from
another CA makes the "bad certificate" case.

    sink = WebSink(tmpdir, cert_and_key).start()
    sink.url                                  # https://127.0.0.1:PORT/v3/messages.mime
    sink.script(Answer(503, {"message": "busy"}), Answer(200))
    (req,) = sink.wait_requests(1)
    req.header("Idempotency-Key"), req.sender, req.to, req.message

Every request is recorded (`sink.requests`, a `Request` each): method,
path, headers, the TLS connection it came on (`conn`: an index into
`sink.connections`, one entry per completed handshake), whether the client
sent `Expect: 100-continue` or a chunked body, and the multipart/form-data
fields.  The body is streamed to a temporary file in 1 MiB blocks and the
parts are found there with a boundary scan over an mmap, so a 100 MB
message is never held in memory: a part is kept as bytes only up to
KEEP_BYTES, beyond that only its size and sha256.  `summarize`: a function
of the message part's bytes; the part then keeps its result as .summary
instead of the bytes (a long run does not hold every message).  Handshakes that fail
(a client that does not trust the certificate) are counted in
`tls_failures`.

Answers are scripted: `script()` queues Answers consumed in order, then
`default` answers everything.  An Answer has a status, a JSON body (a dict
or list is serialized; str/bytes are sent as they are), an optional
Retry-After header and an optional delay before answering (after the body
has been read; `stop()` cuts it short).
"""

import base64
import email.parser
import email.policy
import hashlib
import itertools
import json
import mmap
import os
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sinks

HOST = "127.0.0.1"
PATH = "/v3/messages.mime"
BLOCK = 1 << 20             # body read and hash block
KEEP_BYTES = 4 << 20        # parts up to this size are kept as bytes
IDLE_TIMEOUT = 60           # an idle keep-alive connection is closed after


# --- certificates ------------------------------------------------------------

def _openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)


def make_ca(directory, name="ca"):
    """A test CA (EC P-256, basicConstraints CA:TRUE) in DIRECTORY;
    returns (cert, key).  The cert is what webrelay_ca_file names."""
    d = Path(directory)
    cert, key = d / ("%s.crt" % name), d / ("%s.key" % name)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", "/CN=Ferry test CA %s" % name, "-days", "2",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", key, "-out", cert)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o600)
    return cert, key


def make_server_cert(directory, ca, name="websink",
                     san="IP:127.0.0.1,DNS:localhost"):
    """A server certificate for SAN signed by CA (a (cert, key) pair from
    make_ca); returns (cert, key)."""
    d = Path(directory)
    cert, key = d / ("%s.crt" % name), d / ("%s.key" % name)
    csr, ext = d / ("%s.csr" % name), d / ("%s.ext" % name)
    ext.write_text("subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n" % san)
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", "/CN=websink.ferry.test", "-keyout", key, "-out", csr)
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
        "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
        "-days", "2", "-extfile", ext, "-out", cert)
    os.chmod(cert, 0o644)
    os.chmod(key, 0o600)
    return cert, key


# --- what the service answers and records ----------------------------------

class Answer:
    """One scripted answer.  body: dict/list (sent as JSON), str or bytes
    (sent as they are), or None (an empty body)."""

    def __init__(self, status=200, body=None, retry_after=None, delay=0.0,
                 headers=()):
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.delay = delay
        self.headers = list(headers)

    def encoded(self, n):
        body = self.body
        if body is None:
            return b"", None
        if isinstance(body, (dict, list)):
            text = json.dumps(body).replace("{n}", str(n))
            return text.encode(), "application/json"
        if isinstance(body, str):
            return body.encode(), "text/plain; charset=utf-8"
        return bytes(body), "application/octet-stream"

    def __repr__(self):
        return "<Answer %d %r%s%s>" % (self.status, self.body,
            " Retry-After: %s" % self.retry_after
            if self.retry_after is not None else "",
            " after %.1fs" % self.delay if self.delay else "")


def accepted():
    """What a real service says to a good post ({n}: the request number)."""
    return Answer(200, {"id": "<websink-{n}@ferry.test>",
        "message": "Queued. Thank you."})


class Part:
    """One multipart/form-data field."""

    def __init__(self, name, filename, content_type, headers, size, sha256,
                 data):
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.headers = headers          # email.message.Message
        self.size = size
        self.sha256 = sha256
        self.data = data                # bytes, or None above KEEP_BYTES
        self.summary = None             # WebSink(summarize=...)

    def text(self):
        assert self.data is not None, "part %r is too big to keep" % self.name
        return self.data.decode("utf-8", "surrogateescape")

    def __repr__(self):
        return "<Part %s%s %d bytes>" % (self.name,
            " filename=%s" % self.filename if self.filename else "",
            self.size)


class Request:
    """One request as the service received it."""

    def __init__(self, **kw):
        self.parts = []
        self.error = None
        self.answer = None
        self.answered = None
        self.answer_sent = False
        self.__dict__.update(kw)

    def header(self, name):
        return self.headers.get(name)

    def fields(self, name):
        return [p for p in self.parts if p.name == name]

    @property
    def sender(self):
        f = self.fields("from")
        assert len(f) == 1, "want one 'from' part, got %r" % (self.parts,)
        return f[0].text()

    @property
    def to(self):
        return [p.text() for p in self.fields("to")]

    @property
    def message_part(self):
        f = self.fields("message")
        assert len(f) == 1, "want one 'message' part, got %r" % (self.parts,)
        return f[0]

    @property
    def message(self):
        return self.message_part.data

    @property
    def message_size(self):
        return self.message_part.size

    @property
    def message_sha256(self):
        return self.message_part.sha256

    def basic_credentials(self):
        """(user, key) of an HTTP Basic Authorization header, or None."""
        auth = self.header("Authorization") or ""
        if not auth.startswith("Basic "):
            return None
        user, _, key = base64.b64decode(auth[6:]).decode().partition(":")
        return user, key

    def __repr__(self):
        return ("<Request %s %s conn=%s key=%s %d bytes parts=%r%s>" % (
            self.method, self.path, self.conn,
            self.headers.get("Idempotency-Key"), self.body_size,
            self.parts, " error=%s" % self.error if self.error else ""))


# --- multipart/form-data from a file ----------------------------------------

def parse_multipart(path, boundary):
    """The parts of the multipart/form-data body in the file at PATH, found
    by a boundary scan (RFC 2046 5.1.1, RFC 7578); raises ValueError on a
    malformed body."""
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError("empty body")
    parts = []
    delim = b"--" + boundary.encode()
    with open(path, "rb") as f, \
            mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m[:len(delim)] == delim:
            pos = 0
        else:
            pos = m.find(b"\r\n" + delim)
            if pos < 0:
                raise ValueError("no boundary %r in the body" % boundary)
            pos += 2
        while True:
            pos += len(delim)
            if m[pos:pos + 2] == b"--":
                return parts                    # the close delimiter
            eol = m.find(b"\r\n", pos)
            if eol < 0 or m[pos:eol].strip(b" \t"):
                raise ValueError("junk after a boundary at %d" % pos)
            head_end = m.find(b"\r\n\r\n", eol)
            nxt = m.find(b"\r\n" + delim, eol)
            if nxt < 0:
                raise ValueError("no close delimiter")
            if head_end < 0 or head_end + 4 > nxt + 2:
                # a part without headers: its content starts right away
                head, start = b"", eol + 2
            else:
                head, start = m[eol + 2:head_end + 2], head_end + 4
            msg = email.parser.BytesHeaderParser(
                policy=email.policy.compat32).parsebytes(head + b"\r\n")
            h = hashlib.sha256()
            for i in range(start, nxt, BLOCK):
                h.update(m[i:min(i + BLOCK, nxt)])
            n = nxt - start
            parts.append(Part(
                name=msg.get_param("name", header="content-disposition"),
                filename=msg.get_param("filename",
                    header="content-disposition"),
                content_type=msg.get_content_type()
                    if msg.get("Content-Type") else None,
                headers=msg, size=n, sha256=h.hexdigest(),
                data=m[start:nxt] if n <= KEEP_BYTES else None))
            pos = nxt + 2


# --- the server --------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "websink/1"
    timeout = IDLE_TIMEOUT
    # http.server answers in two writes (headers, then body); with Nagle's
    # algorithm the second waits for an ACK curl delays by 40 ms.  A real
    # service sets TCP_NODELAY; so does this one.
    disable_nagle_algorithm = True

    def __init__(self, *args, conn=None, **kw):
        self.conn = conn
        self.expect = None
        super().__init__(*args, **kw)

    def log_message(self, fmt, *args):
        self.server.sink._note("%s %s" % (self.client_address,
            fmt % args))

    def parse_request(self):
        self.expect = None              # per request on a kept connection
        return super().parse_request()

    def handle_expect_100(self):
        self.expect = self.headers.get("Expect")
        return super().handle_expect_100()

    def do_POST(self):
        self._serve()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_POST

    def _copy(self, size, out, h):
        """Copy SIZE bytes of the body to OUT and the hash H; returns
        how many came before the connection ended."""
        n = 0
        while n < size:
            b = self.rfile.read(min(size - n, BLOCK))
            if not b:
                break
            out.write(b)
            h.update(b)
            n += len(b)
        return n

    def _read_body(self, out):
        """Copy the body to OUT; returns (size, sha256, chunked, complete)."""
        h = hashlib.sha256()
        n = 0
        chunked = "chunked" in (self.headers.get("Transfer-Encoding")
            or "").lower()
        if not chunked:
            size = int(self.headers.get("Content-Length") or 0)
            n = self._copy(size, out, h)
            return n, h.hexdigest(), False, n == size
        while True:
            line = self.rfile.readline(1024)
            if not line:
                return n, h.hexdigest(), True, False
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return n, h.hexdigest(), True, True
            got = self._copy(size, out, h)
            n += got
            if got < size:
                return n, h.hexdigest(), True, False
            self.rfile.readline(16)

    def _serve(self):
        sink = self.server.sink
        arrived = time.time()
        req = Request(method=self.command, path=self.path,
            headers=self.headers, conn=self.conn, peer=self.client_address,
            arrived=arrived, expect=self.expect)
        fd, tmp = tempfile.mkstemp(dir=str(sink.dir), prefix="body-")
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    (req.body_size, req.body_sha256, req.chunked,
                        req.complete) = self._read_body(out)
                except (OSError, ValueError) as e:
                    req.body_size, req.body_sha256 = 0, None
                    req.chunked, req.complete = False, False
                    req.error = "reading the body: %s" % e
            req.received = time.time()
            if req.complete:
                boundary = self.headers.get_param("boundary")
                try:
                    if self.headers.get_content_type() != \
                            "multipart/form-data" or not boundary:
                        raise ValueError("Content-Type is %r" %
                            self.headers.get("Content-Type"))
                    req.parts = parse_multipart(tmp, boundary)
                except ValueError as e:
                    req.error = "multipart: %s" % e
                if sink.summarize is not None:
                    for p in req.parts:
                        if p.name == "message" and p.data is not None:
                            p.summary = sink.summarize(p.data)
                            p.data = None
        finally:
            os.unlink(tmp)
        if not req.complete:
            with sink.lock:
                sink.incomplete.append(req)
            self.close_connection = True
            return
        answer, n = sink._next_answer(req)
        if answer.delay:
            sink._stopping.wait(answer.delay)
        body, ctype = answer.encoded(n)
        req.answered = time.time()
        try:
            self.send_response(answer.status)
            if ctype:
                self.send_header("Content-Type", ctype)
            if answer.retry_after is not None:
                self.send_header("Retry-After", str(answer.retry_after))
            for k, v in answer.headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            req.answer_sent = True
        except (OSError, ValueError) as e:
            req.answer_error = str(e)
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, sink, ctx):
        self.sink = sink
        self.ctx = ctx
        super().__init__((sink.host, sink.port), _Handler)

    def finish_request(self, request, client_address):
        """TLS handshake in the connection's own thread, then HTTP."""
        sink = self.sink
        request.settimeout(IDLE_TIMEOUT)
        with sink.lock:
            sink._socks.add(request)
        try:
            try:
                tls = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                with sink.lock:
                    sink.tls_failures.append((client_address, str(e)))
                return
            with sink.lock:
                sink._socks.add(tls)
                conn = len(sink.connections)
                sink.connections.append((client_address, time.time(),
                    tls.version()))
            try:
                _Handler(tls, client_address, self, conn=conn)
            except (OSError, ValueError):
                pass
            finally:
                with sink.lock:
                    sink._socks.discard(tls)
                try:
                    tls.close()
                except OSError:
                    pass
        finally:
            with sink.lock:
                sink._socks.discard(request)

    def handle_error(self, request, client_address):
        pass


class WebSink:
    """The service.  cert: (cert, key) to serve."""

    def __init__(self, tmpdir, cert, port=None, host=HOST, path=PATH,
                 summarize=None):
        self.dir = Path(tmpdir)
        self.summarize = summarize
        self.host = host
        self.port = port or sinks.free_port(host)
        self.path = path
        self.lock = threading.Lock()
        self.requests = []
        self.incomplete = []            # bodies cut off
        self.connections = []           # (peer, time, TLS version)
        self.tls_failures = []          # (peer, error)
        self.log = []
        self.default = accepted()
        self._script = []
        self._count = itertools.count(1)
        self._socks = set()
        self._stopping = threading.Event()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        self._server = _Server(self, ctx)
        self._thread = None

    @property
    def url(self):
        return "https://%s:%d%s" % (self.host, self.port, self.path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()
        with self.lock:
            sinks.shut_down(list(self._socks))

    def describe(self):
        return "the WebSmtp service on port %d" % self.port

    # answers
    def script(self, *answers):
        """Answer the next requests with these, in order; then default."""
        with self.lock:
            self._script.extend(answers)

    def _next_answer(self, req):
        with self.lock:
            a = self._script.pop(0) if self._script else self.default
            n = next(self._count)
            req.answer = a
            req.number = n
            self.requests.append(req)
        return a, n

    def _note(self, what):
        with self.lock:
            self.log.append(what)

    # what arrived
    def received(self):
        with self.lock:
            return list(self.requests)

    def wait_requests(self, n=1, timeout=20):
        try:
            return sinks.wait_until(lambda: len(self.received()) >= n and
                self.received(), timeout, "%d request(s)" % n)
        except sinks.Timeout as e:
            raise sinks.Timeout("%s at %s (have %r; connections %r; TLS "
                "failures %r; cut off %r)" % (e, self.describe(),
                self.received(), self.connections, self.tls_failures,
                self.incomplete)) from None
