# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Shared pieces of delegated's tests (t/test_delegated*.py).

The `delegate` fixture is a Ferry installation with an aiosmtpd delegate
(a `DelegateSink`) on loopback, and queued, delegated and smtpd running
(relayd not started):

    def test_x(delegate):
        r = delegate.auth("carol", DELEG_USERS["carol"])     # 235 2.7.0
        (r,) = delegate.rcpts("erin@ferry.test")             # 250
        assert delegate.sink.rcpt_count("erin@ferry.test") == 1

The delegate (doc/delegated.md) offers STARTTLS (a certificate for
127.0.0.1 made once per run) and, only after STARTTLS, AUTH PLAIN and
LOGIN for DELEG_USERS; MAIL needs no AUTH.  RCPT TO a KNOWN address is
250, any other 550 5.1.1 (sink.rcpt_replies() overrides one address).  It
records every command with its time, and every TCP connection with its
open and close times.

ferry.conf gets SMTPD_CONF (smtpdharness) and DELEG_CONF; @ferry_conf
overrides keys, and a value may name

    {smtp} {submission} {smtps} {extra}   smtpd's ports, one more free port
    {deleg}     the delegate's port
    {closed}    a port nothing listens on
    {ca}        the delegate's certificate (its own CA)
    {otherca}   a certificate that did not sign the delegate's
    {state}     a directory delegated makes for the cache file

@delegate_sink(...) passes options to the DelegateSink (start=False:
made but not started, a delegate that is down); @delegate_nostart leaves
delegated and smtpd stopped.

delegated probes a made-up address (ferry-check-HEX@ferry.test) at start:
the fixture waits for that self-check to finish, and the sink's counters
(rcpt_cmds, rcpt_count, probe_sessions) leave it out; sessions() and
intervals() do not (it is a real connection).

The users table smtpd reads holds only smtpdharness.USERS (alice, bob);
DELEG_USERS are known to the delegate alone.  alice is known to the
delegate too, with another password: the local table must be asked first.
"""

import asyncio
import os
import shutil
import smtplib
import ssl
import tempfile
import threading
import time
from pathlib import Path

import pytest

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

import conftest
import sinks
import smtpdharness
from smtpdharness import SENDER, Smtpd, base_conf

# users only the delegate knows (a user name may be a whole address)
DELEG_USERS = {
    "carol": "carol-Deleg-Pw-5521",
    "dave@ferry.test": "dave-Deleg-Pw-9034",
    "frank": "frank-Deleg-Pw-7710",
}
# alice is a local user; the delegate knows her with another password
DELEG_ONLY_ALICE_PW = "alice-at-the-Delegate-Pw-31"

KNOWN = ["erin@ferry.test", "grace@ferry.test", "heidi@ferry.test",
    "ivan@ferry.test", "judy@ferry.test", "mallory@ferry.test",
    "oscar@ferry.test", "peggy@ferry.test", "trent@ferry.test",
    "victor@ferry.test", "walter@ferry.test"] + \
    ["r%d@ferry.test" % i for i in range(1, 13)]
UNKNOWN_REPLY = "550 5.1.1 <%s>: Recipient address rejected: User unknown"

PROBE_SENDER = "postmaster@ferry.test"   # first of accepted_domains
# delegated's self-check (at start and daily) probes a made-up address
# ferry-check-HEX@DOMAIN of each delegate_recipients domain
SELFCHECK_PREFIX = "ferry-check-"


def is_selfcheck(cmd_or_addr):
    """True for the self-check's address or a RCPT command naming it."""
    a = cmd_or_addr.split("<", 1)[-1].lower()
    return a.startswith(SELFCHECK_PREFIX)


def without_selfcheck(cmds):
    """A session's commands without the self-check's probe (its MAIL,
    RCPT and RSET)."""
    out = []
    skip_rset = False
    for c in cmds:
        if c.startswith("RCPT") and is_selfcheck(c):
            if out and out[-1].startswith("MAIL"):
                out.pop()
            skip_rset = True
            continue
        if skip_rset and c == "RSET":
            skip_rset = False
            continue
        if c.startswith(("MAIL", "RCPT")):
            skip_rset = False
        out.append(c)
    return out

DELEG_CONF = dict(
    # no local domains: `ferryctl status` would miss locald
    mydestination="",
    delegate_servers="127.0.0.1:{deleg}",
    delegate_tls="may",
    delegate_auth="ferry.test",
    delegate_recipients="ferry.test",
    delegate_cache_file="{state}/delegate.cache",
    delegate_wait="5s",
    delegate_timeout="5s",
)


# --- the delegate ------------------------------------------------------------

class _DelegSMTP(SMTP):
    """aiosmtpd's SMTP, telling the sink when a TCP connection opens and
    closes (connection_made runs again after STARTTLS: counted once)."""

    def __init__(self, handler, dsink, **kw):
        self._dsink = dsink
        self._dpeer = None
        super().__init__(handler, **kw)

    def connection_made(self, transport):
        first = self._dpeer is None
        super().connection_made(transport)
        if first:
            self._dpeer = self.session.peer
            self._dsink._opened(self._dpeer)

    def connection_lost(self, error):
        if self._dpeer is not None:
            self._dsink._closed(self._dpeer)
        super().connection_lost(error)


class _DelegController(Controller):
    def __init__(self, dsink, handler, **kw):
        self._dsink = dsink
        super().__init__(handler, **kw)

    def factory(self):
        return _DelegSMTP(self.handler, self._dsink, **self.SMTP_kwargs)


class _DelegHandler(sinks._Handler):
    def _log(self, session, what):
        self.sink._log_peer(session.peer, what)

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        responses = await super().handle_EHLO(server, session, envelope,
            hostname, responses)
        if not self.sink.offer_auth:
            responses = [r for r in responses
                if not r[4:].upper().startswith("AUTH")]
        return responses

    def handle_STARTTLS(self, server, session, envelope):
        # aiosmtpd calls this (not awaited) once the handshake is done
        self._log(session, "STARTTLS")
        return True

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        self._log(session, "RCPT TO:<%s> %s" % (address,
            " ".join(rcpt_options)))
        if self.sink.rcpt_delay:
            await asyncio.sleep(self.sink.rcpt_delay)
        reply = self.sink._next_reply(address, address)
        with self.sink.lock:
            self.sink.rcpt_answered.append((time.monotonic(), address,
                reply))
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return reply


class DelegateSink(sinks.Sink):
    """The delegate: an aiosmtpd server on 127.0.0.1.

    tls: (cert, key) for STARTTLS, or None.  users: {user: password}
    accepted by AUTH (default: DELEG_USERS and alice; AUTH is offered
    only after STARTTLS when tls is given).
    auth_reply: answer every AUTH with this reply instead (e.g. "454
    4.7.0 ...", "550 5.7.30 ...").  offer_auth=False: no AUTH in EHLO
    (and AUTH is 502).  mechanisms: the AUTH mechanisms offered (PLAIN,
    LOGIN).  known: addresses RCPT accepts (250); others get 550 5.1.1;
    catchall=True: every address is accepted.
    rcpt_delay: seconds before every RCPT reply.

    tlog: [(monotonic time, peer, command)]; conns: {peer: [open, close]}
    (monotonic; close None while open)."""

    def __init__(self, tmpdir=None, tls=None, users=None, auth_reply=None,
                 offer_auth=True, mechanisms=("PLAIN", "LOGIN"),
                 known=KNOWN, catchall=False, rcpt_delay=0.0, port=None,
                 hostname="delegate.ferry.test"):
        super().__init__(tmpdir, port=port, hostname=hostname)
        # the base class made a plain controller: replace it
        self.controller.loop.close()
        self.auth = dict(DELEG_USERS, alice=DELEG_ONLY_ALICE_PW) \
            if users is None else dict(users)
        self.auth_reply = auth_reply
        self.offer_auth = offer_auth
        self.known = {a.lower() for a in known}
        self.catchall = catchall
        self.rcpt_delay = rcpt_delay
        self.tlog = []
        self.conns = {}
        self.rcpt_answered = []
        self.tls = tls
        kw = dict(hostname=sinks.HOST, port=self.port,
            server_hostname=hostname, decode_data=False, ready_timeout=10,
            authenticator=self._authenticate, auth_required=False,
            auth_require_tls=bool(tls),
            auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN")
                if m not in mechanisms])
        if tls:
            kw["tls_context"] = sinks.server_tls_context(*tls,
                record_sni=self.sni)
            kw["require_starttls"] = False
        self.controller = _DelegController(self, _DelegHandler(self), **kw)

    # connection bookkeeping
    def _opened(self, peer):
        with self.lock:
            self.conns[peer] = [time.monotonic(), None]

    def _closed(self, peer):
        with self.lock:
            c = self.conns.get(peer)
            if c is not None and c[1] is None:
                c[1] = time.monotonic()

    def _log_peer(self, peer, what):
        with self.lock:
            self.log.append((peer, what))
            self.tlog.append((time.monotonic(), peer, what))

    def start(self):
        super().start()
        with self.lock:
            self.tlog.clear()
            self.conns.clear()
        return self

    # replies
    def _next_reply(self, key, addr):
        if key is not None:
            with self.lock:
                explicit = key.lower() in self._rcpt
            if not explicit:
                if self.catchall or key.lower() in self.known:
                    return sinks.ACCEPT
                return UNKNOWN_REPLY % addr
        return super()._next_reply(key, addr)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if not self.offer_auth:
            self._log_peer(session.peer, "AUTH %s not-offered" % mechanism)
            return AuthResult(success=False, handled=False,
                message="502 5.5.2 Error: command not recognized")
        if self.auth_reply is not None:
            with self.lock:
                self.auth_attempts.append((mechanism, getattr(auth_data,
                    "login", None), False))
            self._log_peer(session.peer, "AUTH %s reply" % mechanism)
            return AuthResult(success=False, handled=False,
                message=self.auth_reply)
        return super()._authenticate(server, session, envelope, mechanism,
            auth_data)

    # what the delegate saw
    def ehlo_sessions(self):
        """{peer: [commands]} of connections that said EHLO/HELO."""
        return self.sessions()

    def show(self):
        """The sessions as text, for assertion messages."""
        return "\n".join("%s:%d: %s" % (p[0], p[1], " | ".join(c))
            for p, c in self.sessions().items()) or "(no sessions)"

    def rcpt_cmds(self, addr=None, selfcheck=False):
        """The RCPT commands, for one address or all (but the
        self-check's, unless selfcheck): [(time, peer, cmd)]."""
        with self.lock:
            out = [e for e in self.tlog if e[2].startswith("RCPT") and
                (selfcheck or not is_selfcheck(e[2]))]
        if addr is not None:
            want = ("RCPT TO:<%s>" % addr).lower()
            out = [e for e in out if e[2].lower().startswith(want)]
        return out

    def rcpt_count(self, addr=None):
        return len(self.rcpt_cmds(addr))

    def probe_sessions(self):
        """{peer: [commands without the self-check's]} of the sessions
        that probed a recipient other than the self-check's."""
        return {p: without_selfcheck(c) for p, c in self.sessions().items()
            if any(x.startswith("RCPT") and not is_selfcheck(x)
                for x in c)}

    def auth_sessions(self):
        """{peer: [commands]} of the sessions that tried AUTH."""
        return {p: c for p, c in self.sessions().items()
            if any(x.startswith("AUTH") for x in c)}

    def mail_before(self, addr):
        """The MAIL command of the probe of addr."""
        for cmds in self.sessions().values():
            last = None
            for c in cmds:
                if c.startswith("MAIL"):
                    last = c
                elif c.lower().startswith(("rcpt to:<%s>" % addr).lower()):
                    return last
        return None

    def selfcheck_rcpts(self):
        return [e[2] for e in self.rcpt_cmds(selfcheck=True)
            if is_selfcheck(e[2])]

    def auth_cmds(self):
        return self.commands("AUTH")

    def n_sessions(self):
        return len(self.sessions())

    def intervals(self):
        """[(open, close)] of the connections that said EHLO (a close of
        None: still open, counted until now).  A QUIT ends the interval
        (the client may connect again before we see the close)."""
        now = time.monotonic()
        with self.lock:
            conns = dict(self.conns)
            quits = {}
            for t, peer, what in self.tlog:
                if what == "QUIT":
                    quits.setdefault(peer, t)
        out = []
        for peer in self.sessions():
            if peer not in conns:
                continue
            start, end = conns[peer]
            end = now if end is None else end
            if peer in quits:
                end = min(end, quits[peer])
            out.append((start, end))
        return out

    def max_concurrent(self, slack=0.02):
        """The most connections open at one moment (an overlap shorter
        than slack seconds is the race between our seeing one close and
        the next open, not two connections)."""
        iv = sorted(self.intervals())
        best = 0
        for i, (s, _) in enumerate(iv):
            n = 1 + sum(1 for j, (s2, e2) in enumerate(iv)
                if j != i and s2 <= s and e2 - slack > s)
            best = max(best, n)
        return best


_CERT = {}


def delegate_cert(directory, name="delegate"):
    """(cert, key) of the delegate: a self-signed certificate for
    delegate.ferry.test and IP 127.0.0.1 (made once per run), copied into
    DIRECTORY; the certificate is world-readable (delegated reads it as
    its own user)."""
    if name not in _CERT:
        d = tempfile.mkdtemp(prefix="ferry-deleg-cert-")
        cert, key = sinks.make_cert(d, name=name, cn="delegate.ferry.test",
            san="DNS:delegate.ferry.test,IP:127.0.0.1")
        _CERT[name] = (cert.read_bytes(), key.read_bytes())
        shutil.rmtree(d, ignore_errors=True)
    out = []
    for suffix, data, mode in ((".crt", _CERT[name][0], 0o644),
                               (".key", _CERT[name][1], 0o600)):
        p = Path(directory) / (name + suffix)
        p.write_bytes(data)
        os.chmod(p, mode)
        out.append(p)
    return tuple(out)


# --- the fixture -------------------------------------------------------------

class Delegate:
    """What a delegate test works with: .smtpd (smtpdharness.Smtpd),
    .ferry, .sink (the DelegateSink), .cache_file, clients and ferryctl."""

    def __init__(self, smtpd, sink, state, ca, otherca):
        self.smtpd = smtpd
        self.ferry = smtpd.ferry
        self.sink = sink
        self.state = state
        self.ca = ca
        self.otherca = otherca
        self.extra_sinks = []

    @property
    def cache_file(self):
        return Path(self.ferry.conf["delegate_cache_file"])

    # daemons
    def start(self):
        """delegated (ready when `ferry-control ping delegated` answers),
        then smtpd."""
        self.start_delegated()
        self.smtpd.start()

    def start_delegated(self):
        """Start delegated and let its self-check at start finish (its
        probe would otherwise mingle with the test's)."""
        n = len(self.selfcheck_events())
        self.ferry.start("delegated")
        if self.ferry.conf.get("delegate_recipients") and \
                self.ferry.conf.get("delegate_selfcheck") != "no":
            deadline = time.monotonic() + 3
            while len(self.selfcheck_events()) <= n and \
                    time.monotonic() < deadline:
                time.sleep(0.02)

    def restart_delegated(self):
        self.ferry.stop("delegated")
        self.start_delegated()

    def selfcheck_events(self):
        return self.events("selfcheck") + self.events("delegate-catchall")

    def run_delegated(self, timeout=15):
        """bin/delegated -f -c CONF for a configuration it must refuse;
        returns the CompletedProcess (fails the test if it keeps
        running)."""
        import subprocess
        try:
            return conftest.run([conftest.BIN / "delegated", "-f", "-c",
                self.ferry.conf_path], timeout=timeout,
                env=conftest.daemon_env())
        except subprocess.TimeoutExpired:
            pytest.fail("delegated kept running with a bad configuration",
                pytrace=False)

    def new_sink(self, **kw):
        """Another delegate (stopped with the test)."""
        kw.setdefault("tls", self.sink.tls)
        s = DelegateSink(self.ferry.base, **kw)
        self.extra_sinks.append(s)
        return s

    # clients
    def auth(self, user, password, mech="plain", port=None):
        """AUTH in a new session on the submission port (loopback: AUTH
        without TLS); the reply."""
        c = smtpdharness.Client("127.0.0.1", port or self.smtpd.submission)
        try:
            c.ehlo()
            if mech == "plain":
                r = c.auth_plain(user, password)
            else:
                r = c.auth_login(user, password)
        finally:
            c.quit()
        return r

    def rcpts(self, *addrs, sender=SENDER):
        """MAIL and RCPTs in one new session on the SMTP port; the RCPT
        replies."""
        c = self.smtpd.client()
        try:
            c.ehlo()
            r = c.mail(sender)
            assert r.startswith("250 2."), r
            return [c.rcpt(a) for a in addrs]
        finally:
            c.quit()

    def rcpt(self, addr, sender=SENDER):
        return self.rcpts(addr, sender=sender)[0]

    def timed_rcpt(self, addr, sender=SENDER):
        """(reply, seconds the RCPT took)."""
        c = self.smtpd.client()
        try:
            c.ehlo()
            assert c.mail(sender).startswith("250 2.")
            t0 = time.monotonic()
            r = c.rcpt(addr)
            return r, time.monotonic() - t0
        finally:
            c.quit()

    def smtplib_submission(self):
        """smtplib on the submission port after STARTTLS (any
        certificate)."""
        s = smtplib.SMTP("127.0.0.1", self.smtpd.submission, timeout=15)
        s.ehlo("client.example")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        s.ehlo("client.example")
        return s

    # ferryctl
    def ctl(self, *args, timeout=30):
        return conftest.run([conftest.BIN / "ferryctl", "-c",
            self.ferry.conf_path, *args], timeout=timeout)

    # logs
    def log(self):
        return self.ferry.log("delegated")

    def events(self, event=None, **match):
        return self.ferry.log_events(event, name="delegated", **match)

    def stop_sinks(self):
        for s in [self.sink] + self.extra_sinks:
            s.stop()


def _state_dir(ferry):
    """The directory of the cache file: delegated makes it (as root) and
    gives it to its user, as it does /var/lib/ferry for an installed
    delegated (the file is rewritten by renaming a new one over it, so the
    directory must be delegated's)."""
    return ferry.base / "deleg-state"


@pytest.fixture
def delegate(request, ferry_factory):
    """queued, delegated and smtpd running against a DelegateSink; see the
    module docstring."""
    m = request.node.get_closest_marker("delegate_sink")
    sink_kw = dict(m.kwargs) if m else {}
    start_sink = sink_kw.pop("start", True)
    want_tls = sink_kw.pop("tls", True)

    f = ferry_factory(None, ())
    ports = {k: sinks.free_port() for k in ("smtp", "submission", "smtps",
        "extra")}
    s = Smtpd(f, ports, None)
    state = _state_dir(f)
    cert, key = delegate_cert(f.base)
    otherca, _ = delegate_cert(f.base, name="other")
    sink = DelegateSink(f.base, tls=(cert, key) if want_tls else None,
        **sink_kw)
    d = Delegate(s, sink, state, cert, otherca)

    fmt = dict(ports, deleg=sink.port, closed=sinks.closed_port(),
        ca=cert, otherca=otherca, state=state)
    m = request.node.get_closest_marker("ferry_conf")
    over = dict(m.kwargs) if m else {}
    conf = base_conf(s)
    conf.update(DELEG_CONF)
    conf.update(over)
    conf = {k: v.format(**fmt) if isinstance(v, str) else v
        for k, v in conf.items()}
    f.write_conf(**{k: v for k, v in conf.items()})
    if start_sink:
        sink.start()
    f.start("queued")
    if not request.node.get_closest_marker("delegate_nostart"):
        d.start()
    try:
        yield d
    finally:
        d.stop_sinks()


def secrets_in(paths, needles):
    """[(needle, path)] for every needle found in the files."""
    found = []
    for p in paths:
        try:
            data = Path(p).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            continue
        for n in needles:
            if n in data:
                found.append((n, str(p)))
    return found


def files_under(directory):
    return [os.path.join(d, f) for d, _, fs in os.walk(directory)
        for f in fs]


def in_threads(funcs, timeout=30):
    """Run the callables at once; their results in order (an exception
    is re-raised)."""
    results = [None] * len(funcs)
    errors = []
    barrier = threading.Barrier(len(funcs))

    def run(i, fn):
        try:
            barrier.wait(10)
            results[i] = fn()
        except BaseException as e:          # noqa: B902
            errors.append(e)
    threads = [threading.Thread(target=run, args=(i, fn), daemon=True)
        for i, fn in enumerate(funcs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if errors:
        raise errors[0]
    assert not any(t.is_alive() for t in threads), "threads still running"
    return results
