# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""A small client for Ferry's IPC framing (see doc/ipc.md).

SOCK_SEQPACKET UNIX sockets; one sendmsg is one frame.  A frame is a 12-byte
big-endian header {u32 type, u32 payload length, u32 request id} followed by
typed fields: a tag byte, then the value (1 = u32, 2 = u64, 3 = str as u32
length + bytes).  At most one fd travels with a frame (SCM_RIGHTS).

Tests use this module to act as a daemon peer (a fake relayd doing FETCH and
REPORT, an smtpd doing CREATE and COMMIT) and to send malformed frames on
purpose.  Nothing here is clever: a test must be able to build any byte
string it likes, so the encoder exposes the raw layers too.
"""

import os
import select
import socket
import struct
import time

HEADER = struct.Struct(">III")
MAX_FRAME = 65536
VERSION = 1

TAG_U32 = 1
TAG_U64 = 2
TAG_STR = 3
TAG_BYTES = 4

HELLO = 1
OK = 2
ERROR = 3
CREATE = 10
CREATED = 11
RCPT = 12
COMMIT = 13
SUBMIT = 14
SUBMIT_COMMIT = 15
COMMITTED = 16
SUBMIT_DATA = 17
FETCH = 20
WORK = 21
WORK_RCPT = 22
NO_WORK = 23
REPORT = 24
LIST = 30
LIST_MSG = 31
LIST_RCPT = 32
LIST_END = 33
FLUSH = 34
DELETE = 35
WAKE = 36
LICENSE_QUERY = 60
LICENSE_STATE = 61

NAMES = {v: k for k, v in dict(globals()).items()
     if k.isupper() and isinstance(v, int) and not k.startswith("TAG_")
     and k not in ("MAX_FRAME", "VERSION")}

# Report results and recipient states.
DELIVERED, TEMPFAIL, PERMFAIL, UNREACHABLE, RELAY_REFUSED = 0, 1, 2, 3, 4
CHANNEL_SMTP, CHANNEL_WEB = 0, 1
PENDING, DEFERRED, RCPT_DELIVERED, FAILED = 0, 1, 2, 3

SUBMIT_FLAG_T = 1


class IPCError(Exception):
    pass


class Closed(IPCError):
    """The peer closed the connection."""


class Timeout(IPCError):
    pass


# --- field encoding -------------------------------------------------------

class U32(int):
    pass


class U64(int):
    pass


class Bytes(bytes):
    """A bytes field (SUBMIT_DATA), not a string."""


# most bytes in one bytes field: a frame less its header and one tag
DATA_MAX = MAX_FRAME - HEADER.size - 5


def encode_field(value):
    if isinstance(value, U64):
        return bytes([TAG_U64]) + struct.pack(">Q", value)
    if isinstance(value, Bytes):
        return bytes([TAG_BYTES]) + struct.pack(">I", len(value)) + value
    if isinstance(value, int):
        return bytes([TAG_U32]) + struct.pack(">I", value)
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, (bytes, bytearray)):
        return bytes([TAG_STR]) + struct.pack(">I", len(value)) + value
    raise TypeError("cannot encode %r" % (value,))


def encode_payload(fields):
    """fields: ints are u32 unless wrapped in U64; str/bytes are strings."""
    return b"".join(encode_field(f) for f in fields)


def encode_frame(mtype, reqid, fields=(), payload=None, length=None):
    """Build a frame.  payload overrides fields; length overrides the
    header's length field (to lie on purpose)."""
    if payload is None:
        payload = encode_payload(fields)
    if length is None:
        length = len(payload)
    return HEADER.pack(mtype, length, reqid) + payload


def decode_payload(payload):
    """Decode self-describing fields; returns a list of int / str (str
    values are decoded as UTF-8 with surrogateescape)."""
    out = []
    i = 0
    n = len(payload)
    while i < n:
        tag = payload[i]
        i += 1
        if tag == TAG_U32:
            if i + 4 > n:
                raise IPCError("short u32")
            out.append(struct.unpack_from(">I", payload, i)[0])
            i += 4
        elif tag == TAG_U64:
            if i + 8 > n:
                raise IPCError("short u64")
            out.append(struct.unpack_from(">Q", payload, i)[0])
            i += 8
        elif tag in (TAG_STR, TAG_BYTES):
            if i + 4 > n:
                raise IPCError("short str length")
            ln = struct.unpack_from(">I", payload, i)[0]
            i += 4
            if i + ln > n:
                raise IPCError("short str")
            raw = payload[i:i + ln]
            out.append(Bytes(raw) if tag == TAG_BYTES else
                raw.decode("utf-8", "surrogateescape"))
            i += ln
        else:
            raise IPCError("unknown tag %d" % tag)
    return out


class Frame:
    def __init__(self, mtype, reqid, fields, fd=None, raw=b""):
        self.type = mtype
        self.reqid = reqid
        self.fields = fields
        self.fd = fd
        self.raw = raw

    @property
    def name(self):
        return NAMES.get(self.type, str(self.type))

    def __repr__(self):
        return "<Frame %s req=%d %r%s>" % (self.name, self.reqid,
            self.fields, " fd=%d" % self.fd if self.fd is not None
            else "")


# --- connection ------------------------------------------------------------

class Conn:
    """One SEQPACKET connection to a Ferry daemon socket."""

    def __init__(self, path, timeout=10.0, hello=None):
        self.path = str(path)
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.settimeout(timeout)
        self.sock.connect(self.path)
        self.next_reqid = 1
        self.peer_hello = None
        self.wakes = 0          # WAKE frames expect() passed over
        if hello is not None:
            self.hello(hello)

    @classmethod
    def accepted(cls, sock, timeout=10.0):
        """The server side of a connection a test accepted (a fake
        queued that a real agent connects to)."""
        c = cls.__new__(cls)
        c.path = None
        c.timeout = timeout
        c.sock = sock
        sock.settimeout(timeout)
        c.next_reqid = 1
        c.peer_hello = None
        c.wakes = 0
        return c

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fileno(self):
        return self.sock.fileno()

    # raw layer
    def send_raw(self, data, fds=()):
        if fds:
            return socket.send_fds(self.sock, [data], list(fds))
        return self.sock.send(data)

    def recv_frame(self, timeout=None):
        """Next frame, or raise Closed / Timeout."""
        if timeout is None:
            timeout = self.timeout
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            raise Timeout("no frame within %.1fs" % timeout)
        try:
            data, fds, flags, _ = socket.recv_fds(self.sock,
                MAX_FRAME + 1, 4, socket.MSG_CMSG_CLOEXEC)
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Closed(str(e))
        if not data and not fds:
            raise Closed("EOF")
        for fd in fds:
            os.set_inheritable(fd, False)
        if len(fds) > 1:
            for fd in fds:
                os.close(fd)
            raise IPCError("more than one fd in a frame")
        if len(data) < HEADER.size:
            raise IPCError("short frame %r" % data)
        mtype, length, reqid = HEADER.unpack_from(data)
        payload = data[HEADER.size:]
        if length != len(payload):
            raise IPCError("length %d != payload %d" % (length,
                len(payload)))
        return Frame(mtype, reqid, decode_payload(payload),
            fds[0] if fds else None, data)

    def send(self, mtype, *fields, fd=None, reqid=None):
        """Send a well-formed frame; returns its request id."""
        if reqid is None:
            reqid = self.next_reqid
            self.next_reqid += 1
        self.send_raw(encode_frame(mtype, reqid, fields),
            [fd] if fd is not None else ())
        return reqid

    def expect(self, *types, timeout=None, reqid=None):
        """The next frame, which must be of one of types.  A WAKE may
        come between any two frames: unless asked for, it is counted in
        self.wakes and passed over."""
        f = self.recv_frame(timeout)
        while f.type == WAKE and WAKE not in types:
            self.wakes += 1
            f = self.recv_frame(timeout)
        if f.type not in types:
            if f.fd is not None:
                os.close(f.fd)
            raise IPCError("expected %s, got %r" % (
                "/".join(NAMES.get(t, str(t)) for t in types), f))
        if reqid is not None and f.reqid != reqid:
            raise IPCError("reply %r carries request id %d, "
                "expected %d" % (f, f.reqid, reqid))
        return f

    def request(self, mtype, *fields, fd=None, expect=(OK,),
        timeout=None):
        reqid = self.send(mtype, *fields, fd=fd)
        return self.expect(*expect, ERROR, timeout=timeout,
            reqid=reqid)

    def wait_closed(self, timeout=5.0):
        """True if the peer closes the connection within timeout;
        frames received before EOF (e.g. an ERROR) are discarded."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                f = self.recv_frame(left)
            except Closed:
                return True
            except Timeout:
                return False
            except IPCError:
                continue
            if f.fd is not None:
                os.close(f.fd)

    # protocol layer
    def hello(self, name):
        self.send(HELLO, U32(VERSION), name)
        f = self.expect(HELLO)
        self.peer_hello = f.fields
        return f

    def fetch(self, timeout=None, channel=0):
        """FETCH {channel}: None for NO_WORK, else a Work."""
        reqid = self.send(FETCH, U32(channel))
        f = self.expect(WORK, NO_WORK, ERROR, timeout=timeout,
            reqid=reqid)
        if f.type == NO_WORK:
            return None
        if f.type == ERROR:
            raise IPCError("FETCH: %r" % f)
        msgid, sender, size, n, credential = f.fields
        rcpts = []
        for _ in range(n):
            r = self.expect(WORK_RCPT, timeout=timeout)
            rcpts.append((r.fields[0], r.fields[1]))
        return Work(msgid, sender, size, f.fd, rcpts, credential)

    def wait_wake(self, timeout=None):
        """True once a WAKE has come (now or passed over before); the
        count goes down by one.  False if none comes within timeout."""
        if self.wakes == 0:
            try:
                self.expect(WAKE, timeout=timeout)
            except Timeout:
                return False
            self.wakes += 1
        self.wakes -= 1
        return True

    def report(self, msgid, index, result, text="", retry_after=0):
        return self.request(REPORT, msgid, U32(index), U32(result),
            text, U32(retry_after))

    def list(self, timeout=None):
        """LIST: a list of dicts, one per message."""
        reqid = self.send(LIST)
        msgs = []
        while True:
            f = self.expect(LIST_MSG, LIST_RCPT, LIST_END, ERROR,
                timeout=timeout, reqid=reqid)
            if f.type == ERROR:
                raise IPCError("LIST: %r" % f)
            if f.type == LIST_END:
                return msgs
            if f.type == LIST_MSG:
                msgid, size, arrival, sender, nrcpt = f.fields
                msgs.append(dict(id=msgid, size=size,
                    arrival=arrival, sender=sender,
                    nrcpt=nrcpt, rcpts=[]))
            else:
                if not msgs:
                    raise IPCError("LIST_RCPT before "
                        "LIST_MSG")
                addr, state, next_try, error, via = f.fields
                msgs[-1]["rcpts"].append(dict(addr=addr,
                    state=state, next_try=next_try,
                    error=error, via=via))

    def submit_data(self, data):
        """Stream data to an open local submission, in SUBMIT_DATA
        frames as sendmail sends it."""
        for i in range(0, len(data), DATA_MAX):
            self.send(SUBMIT_DATA, Bytes(data[i:i + DATA_MAX]))

    def flush(self):
        return self.request(FLUSH)

    def delete(self, msgid):
        return self.request(DELETE, msgid)


class Work:
    def __init__(self, msgid, sender, size, fd, rcpts, credential=""):
        self.id = msgid
        self.sender = sender
        self.size = size
        self.fd = fd
        self.rcpts = rcpts
        self.credential = credential

    def read(self):
        os.lseek(self.fd, 0, os.SEEK_SET)
        chunks = []
        while True:
            b = os.read(self.fd, 65536)
            if not b:
                return b"".join(chunks)
            chunks.append(b)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __repr__(self):
        return "<Work %s from=%r size=%d rcpts=%r>" % (self.id,
            self.sender, self.size, self.rcpts)


def connect(path, name="test", timeout=10.0):
    """Connect and exchange HELLO."""
    return Conn(path, timeout=timeout, hello=name)
