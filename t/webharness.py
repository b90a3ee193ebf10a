# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Shared pieces of WebSmtp's tests (t/test_webrelay.py).

The `web` fixture is a Ferry installation (conftest's `ferry_factory`) set
up for the WebSmtp fallback, with nothing running yet:

    def test_x(web):
        web.start()                      # queued, licensed, webrelayd
        msgid = web.ferry.submit("a@example.test")
        web.start_relayd()               # relayd finds the smarthost down
        (req,) = web.sink.wait_requests(1)
        web.wait_event("delivered", id=msgid, via="websmtp")

What every test gets (override keys with @ferry_conf):

- `web.sink`: a websink.WebSink with a certificate signed by the test CA
  `web.ca`; webrelay_url points at it and webrelay_ca_file at the CA.
  `web.service(trusted=False)` starts another one whose certificate comes
  from a CA Ferry does not know, and points webrelay_url there.
- default_route = smtp:[127.0.0.1]:PORT, a loopback port nothing listens
  on: the smarthost is unreachable.  `web.smarthost()` starts an aiosmtpd
  sinks.Sink and routes everything to it instead; `web.routes()` writes a
  routes_file (relayharness.Relay.routes).
- a vendor key pair (license_public_key) and a valid licence with the
  webrelay feature at `web.licence_path` (license_files);
  `web.licence(name, ...)` signs others (test_license.text's arguments).
- `web.auth_file("basic:USER:KEY", mode=0o600)` writes webrelay_auth_file.
- relayharness.RELAY_CONF (retry_min = 1s, retry_max = 2s...) and
  webrelay_timeout = 10s.

licensed and webrelayd are stopped (and checked to be alive) before the
services when the test ends; queued goes with the factory.
"""

import base64
import os
import signal

import pytest

import conftest
import relayharness
import sinks
import websink
from conftest import BIN, run, wait_for
from test_license import text as licence_text

SENDER = relayharness.SENDER
AGENTS = ("relayd", "webrelayd", "licensed")

WEB_CONF = dict(relayharness.RELAY_CONF, webrelay_timeout="10s")


def licence_header(path):
    """The Authorization header a licence file makes."""
    return "Ferry-License " + base64.b64encode(
        open(path, "rb").read()).decode()


class Web:
    def __init__(self, ferry):
        self.ferry = ferry
        self.base = ferry.base
        self.relay = relayharness.Relay(ferry)      # SMTP sinks and routes
        self.dir = self.base / "web"
        self.dir.mkdir(mode=0o755)
        os.chmod(self.dir, 0o755)
        self.ca = websink.make_ca(self.dir, "ca")
        self._services = []
        self.sink = self.service()
        self.vendor_key = self.dir / "vendor.key"
        self.vendor_pub = self.dir / "vendor.pub"
        r = run([BIN / "ferry-license", "keygen", self.vendor_key,
            self.vendor_pub])
        assert r.returncode == 0, r.stderr
        self.licence_path = self.licence("licence")
        self.smarthost_port = sinks.closed_port()
        ferry.write_conf(
            default_route="smtp:[127.0.0.1]:%d" % self.smarthost_port,
            webrelay_ca_file=str(self.ca[0]),
            license_public_key=str(self.vendor_pub),
            license_files=str(self.licence_path))

    # the WebSmtp service
    def service(self, trusted=True, **kw):
        """A started WebSink that webrelay_url now names; trusted=False:
        its certificate comes from a CA that is not webrelay_ca_file."""
        n = len(self._services)
        ca = self.ca if trusted else websink.make_ca(self.dir,
            "otherca%d" % n)
        cert = websink.make_server_cert(self.dir, ca, name="websink%d" % n)
        s = websink.WebSink(self.dir, cert, **kw).start()
        self._services.append(s)
        self.ferry.write_conf(webrelay_url=s.url)
        return s

    def stop_services(self):
        for s in self._services:
            s.stop()
        self.relay.stop_sinks()

    # licences
    def licence(self, name, body=None, **kw):
        """Sign BODY (default: test_license.text(**kw)) with the vendor key
        into web/NAME, readable by licensed's user."""
        if body is None:
            body = licence_text(**kw)
        r = run([BIN / "ferry-license", "sign", self.vendor_key],
            input=body.encode())
        assert r.returncode == 0, r.stderr
        p = self.dir / name
        tmp = self.dir / (".%s.tmp" % name)
        tmp.write_bytes(r.stdout)
        os.chmod(tmp, 0o644)
        os.rename(tmp, p)
        return p

    def auth_file(self, line, mode=0o600):
        """Write LINE (basic:USER:KEY) into web/api.key with MODE and name
        it webrelay_auth_file; the file is ours (root's in CI)."""
        p = self.dir / "api.key"
        p.write_text(line + "\n")
        os.chmod(p, mode)
        self.ferry.write_conf(webrelay_auth_file=str(p))
        return p

    # SMTP side
    def smarthost(self, **kw):
        """An aiosmtpd sinks.Sink as default_route."""
        s = self.relay.sink(**kw)
        self.ferry.write_conf(default_route="smtp:[127.0.0.1]:%d" % s.port)
        return s

    def routes(self, table, **conf):
        return self.relay.routes(table, **conf)

    # daemons
    def start(self, licensed=True, webrelayd=True, webrelayd_env=None):
        """queued, then licensed and webrelayd (with webrelayd_env in its
        environment); relayd waits for start_relayd() so that a test can
        queue messages first."""
        self.ferry.start("queued")
        if licensed:
            self.ferry.start("licensed")
            self.wait_licence_pushed()
        if webrelayd:
            self.ferry.start("webrelayd", env=webrelayd_env)

    def wait_licence_pushed(self, timeout=5):
        """licensed tells queued its state when it connects; queued logs
        `event=license state=...`.  Wait for that line so that relayd's
        first report meets a known licence (otherwise queued defers it
        until licensed has spoken, and the test waits for a retry).
        Only a readiness aid: without the line the tests go on."""
        try:
            sinks.wait_until(lambda: [e for e in self.events("license")
                if e.get("state") not in (None, "unknown")], timeout,
                "queued.log event=license")
        except sinks.Timeout:
            pass

    def start_relayd(self):
        return self.ferry.start("relayd")

    def hup_licensed(self):
        """SIGHUP to licensed, by the pid in its pidfile (a foreground
        daemon: the pid we started), so it rereads license_files."""
        pidfile = self.ferry.run_dir / "licensed.pid"
        pid = self.ferry.pid("licensed")
        if pidfile.exists():
            assert int(pidfile.read_text().split()[0]) == pid, \
                "licensed.pid names another process"
        os.kill(pid, signal.SIGHUP)

    # logs
    def events(self, event=None, name="queued", **match):
        return self.ferry.log_events(event, name=name, **match)

    def wait_event(self, event, name="queued", timeout=20, **match):
        """Wait for a log line event=EVENT with these fields in NAME.log."""
        try:
            return sinks.wait_until(lambda: self.events(event, name,
                **match), timeout, "%s.log event=%s %r" % (name, event,
                match))
        except sinks.Timeout as e:
            pytest.fail("%s\n%s" % (e, self.diagnostics()), pytrace=False)

    def wait_skip(self, msgid, why, n=1, timeout=20):
        """n event=websmtp-skip lines for msgid whose why starts with
        WHY (earlier ones may say licensed was not connected yet)."""
        def skips():
            ev = [e for e in self.events("websmtp-skip", id=msgid)
                if e.get("why", "").startswith(why)]
            return len(ev) >= n and ev
        try:
            return sinks.wait_until(skips, timeout,
                "%d event=websmtp-skip id=%s why=%r..." % (n, msgid, why))
        except sinks.Timeout as e:
            pytest.fail("%s\n%s" % (e, self.diagnostics()), pytrace=False)

    def wait_queue_empty(self, timeout=20):
        wait_for(lambda: self.ferry.queue_files() == [], timeout=timeout,
            what="an empty queue (have %r)\n%s" % (self.ferry.queue_files(),
            self.diagnostics()))

    def diagnostics(self):
        out = []
        for name in ("queued", "relayd", "licensed", "webrelayd"):
            out.append("--- %s.log (tail) ---\n%s" % (name, conftest.tail(
                self.ferry.log_path(name), 25)))
        d = self.ferry.daemons.get("webrelayd")
        if d is not None:
            out.append("--- webrelayd stderr (tail) ---\n%s" %
                conftest.tail(d.err_path, 15))
        return "\n".join(out)

    def mailq_text(self):
        r = self.ferry.mailq()
        assert r.returncode == 0, r.stderr
        return r.stdout.decode(errors="replace")

    def entry(self, msgid):
        for e in self.ferry.mailq_entries():
            if e["id"] == msgid:
                return e
        return None


@pytest.fixture
def web(request, ferry_factory):
    f = ferry_factory(WEB_CONF, ())
    w = Web(f)
    m = request.node.get_closest_marker("ferry_conf")
    if m:
        f.write_conf(**m.kwargs)
    yield w
    # the agents before the services they talk to (queued: the
    # factory); one that died during the test is left for the factory,
    # which fails the test with its diagnostics
    for n in AGENTS:
        if n in f.daemons and f.daemons[n].alive():
            f.stop(n)
    w.stop_services()
