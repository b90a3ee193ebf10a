# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""Shared pieces of relayd's tests (t/test_relay*.py).

The `relay` fixture is a Ferry installation (conftest's `ferry_factory`)
with queued running and relayd NOT yet started, so that a test can queue a
message, read q/ID.msg, and only then let relayd deliver it:

    def test_x(relay):
        sink = relay.sink()                       # sinks.Sink, started
        relay.routes({"example.test": sink})      # smtp:[127.0.0.1]:PORT
        msgid = relay.ferry.submit("a@example.test")
        sent = relay.ferry.read_msg(msgid)
        relay.start()                             # bin/relayd -f -c CONF
        (m,) = sink.wait_messages(1)
        relay.wait_event("delivered", id=msgid)

Keys every relay test gets (tests override with @ferry_conf): relay_tls =
none (aiosmtpd offers no STARTTLS unless asked), relay_idle_timeout = 1s,
retry_min = 1s / retry_max = 2s so a deferred recipient is retried within
seconds, short connect and command timeouts.
"""

import email
import email.policy
import os
import random
import time
from pathlib import Path

import pytest

import sinks
from conftest import ORIGIN, login_name, wait_for

SENDER = "%s@%s" % (login_name(), ORIGIN)

RELAY_CONF = dict(
    relay_tls="none",
    relay_idle_timeout="1s",
    retry_min="1s",
    retry_max="2s",
    relay_connect_timeout="5s",
    relay_command_timeout="30s",
    relay_data_timeout="60s",
)

RESOLV_WRAPPER = "/usr/lib/x86_64-linux-gnu/libresolv_wrapper.so"


class Relay:
    def __init__(self, ferry):
        self.ferry = ferry
        self.base = ferry.base
        self._sinks = []
        self._cert = None
        self.env = None

    # servers
    def sink(self, **kw):
        s = sinks.Sink(self.base, **kw).start()
        self._sinks.append(s)
        return s

    def raw_sink(self, **kw):
        s = sinks.RawSink(**kw).start()
        self._sinks.append(s)
        return s

    def stop_sinks(self):
        for s in self._sinks:
            s.stop()

    def cert(self, name="sink", **kw):
        """A self-signed certificate (its own CA) in the test directory."""
        return sinks.make_cert(self.base, name=name, **kw)

    # configuration
    def conf(self, **conf):
        """Change ferry.conf.  relayd reads it when it starts (tests
        start it after configuring); queued is already running, so a key
        of its own (retry_min...) restarts it."""
        before = dict(self.ferry.conf)
        self.ferry.write_conf(**conf)
        queued_keys = [k for k in conf if not k.startswith(("relay_",
            "routes_file", "default_route"))]
        if any(before.get(k) != self.ferry.conf.get(k) for k in queued_keys) \
                and "queued" in self.ferry.daemons \
                and self.ferry.daemons["queued"].alive():
            self.ferry.restart("queued")

    def routes(self, table, **conf):
        """Write routes_file from {domain: route}; a route may be a sink
        (then smtp:[127.0.0.1]:its port) or an int (a port)."""
        lines = ["# written by t/relayharness.py"]
        for domain, route in table.items():
            if isinstance(route, (sinks.Sink, sinks.RawSink)):
                route = "smtp:[%s]:%d" % (getattr(route, "host",
                    sinks.HOST), route.port)
            elif isinstance(route, int):
                route = "smtp:[127.0.0.1]:%d" % route
            lines.append("%s %s" % (domain, route))
        p = self.base / "routes"
        p.write_text("\n".join(lines) + "\n")
        os.chmod(p, 0o644)
        self.conf(routes_file=str(p), **conf)
        return p

    def auth_file(self, user, password):
        p = self.base / "relay-auth"
        p.write_text("%s %s\n" % (user, password))
        os.chmod(p, 0o600)
        self.conf(relay_auth_file=str(p))
        return p

    def maildir_root(self, name="mail"):
        """BASE/NAME, owned by the relay user as an installer makes it
        (relayd creates USER/Maildir/{tmp,new,cur} below it)."""
        d = self.base / name
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o755)
        if os.geteuid() == 0:
            os.chown(d, *self.ferry.daemon_uid_gid("relayd"))
        return d

    def resolver(self, records):
        """Serve these records ('MX dom 10 host', 'A host 127.0.0.1',
        'AAAA host ::1') from a sinks.FakeDNS on 127.0.0.x:53 and remember
        the environment that makes relayd ask it: LD_PRELOAD of
        libresolv-wrapper with RESOLV_WRAPPER_CONF naming that server.
        Needs root (port 53)."""
        if not os.path.exists(RESOLV_WRAPPER):
            pytest.skip("libresolv-wrapper not installed "
                "(etc/install-deps test)")
        if os.geteuid() != 0:
            pytest.skip("the fake DNS server needs root for port 53")
        dns = None
        for _ in range(20):
            ip = "127.0.%d.%d" % (random.randint(100, 250),
                random.randint(2, 250))
            try:
                dns = sinks.FakeDNS(records, ip=ip).start()
                break
            except OSError:
                continue
        assert dns is not None, "no free 127.0.x.y:53 for the fake DNS"
        self._sinks.append(dns)
        self.dns = dns
        p = self.base / "resolv.conf"
        p.write_text("nameserver %s\n" % dns.ip)
        os.chmod(p, 0o644)
        # the wrapper dlopens libc with RTLD_DEEPBIND, which ASan
        # (SAN=1) refuses by killing the process: bind normally
        self.env = {"LD_PRELOAD": RESOLV_WRAPPER,
            "RESOLV_WRAPPER_CONF": str(p),
            "RESOLV_WRAPPER_DISABLE_DEEPBIND": "1"}
        # RESOLV_WRAPPER_DEBUGLEVEL=4 in our environment traces every
        # lookup into relayd.stderr
        if os.environ.get("RESOLV_WRAPPER_DEBUGLEVEL"):
            self.env["RESOLV_WRAPPER_DEBUGLEVEL"] = \
                os.environ["RESOLV_WRAPPER_DEBUGLEVEL"]
        return dns

    # relayd
    def start(self, wait=True):
        if "queued" not in self.ferry.daemons or \
                not self.ferry.daemons["queued"].alive():
            self.ferry.start("queued")
        return self.ferry.start("relayd", wait=wait, env=self.env)

    def stop(self):
        return self.ferry.stop("relayd")

    # log
    def events(self, event=None, **match):
        return self.ferry.log_events(event, name="relayd", **match)

    def wait_event(self, event, timeout=20, **match):
        return wait_for(lambda: self.events(event, **match), timeout=timeout,
            what="relayd.log event=%s %r\n%s" % (event, match,
                self.ferry.diagnostics("relayd")))

    def queued_events(self, event=None, **match):
        return self.ferry.log_events(event, name="queued", **match)

    def wait_queue_empty(self, timeout=20):
        wait_for(lambda: self.ferry.queue_files() == [], timeout=timeout,
            what="an empty queue (have %r)\n%s" % (self.ferry.queue_files(),
                self.ferry.diagnostics("relayd")))


@pytest.fixture
def relay(request, ferry_factory):
    m = request.node.get_closest_marker("ferry_conf")
    conf = dict(RELAY_CONF)
    conf.update(m.kwargs if m else {})
    f = ferry_factory(conf, ("queued",))
    r = Relay(f)
    yield r
    # relayd first (the factory stops daemons after us), then the sinks
    if "relayd" in f.daemons:
        f.stop("relayd")
    r.stop_sinks()


def parse(data):
    """A message as Python's email package sees it."""
    return email.message_from_bytes(data, policy=email.policy.compat32)


def dsn_fields(msg):
    """(per-message fields, [per-recipient fields]) of an RFC 3464
    message/delivery-status part, as dicts with lower-case keys."""
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            # compat32 parses message/delivery-status into a list of
            # header blocks
            blocks = [{k.lower(): v for k, v in b.items()} for b in payload]
            return blocks[0], blocks[1:]
    raise AssertionError("no message/delivery-status part in:\n%s" %
        msg.as_string()[:3000])


def wait_gone(path, timeout=10):
    wait_for(lambda: not Path(path).exists(), timeout=timeout,
        what="%s removed" % path)

