#!/usr/bin/python3
# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""OAuth2 logins at a smarthost, for `make bench` (bench/run.py calls
rows(); run alone, `bench/oauthload.py` prints just these).

queued and relayd on a fresh directory (webload.Web's), with two routes
to aiosmtpd smarthosts on loopback in the same relayd: oauth.test to
t/oauthharness.py's BearerSink (AUTH XOAUTH2, every token checked
against the OAuthServer that issued it, a real HTTPS token endpoint with
a client certificate's assertions or a secret), plain.test to a
sinks.Sink without AUTH, for the comparison.  Measured:
  - the first message to oauth.test while relayd has no token yet, from
    sendmail to the smarthost's receipt (ms), with a client secret and
    with a client certificate (the assertion is signed per request);
  - then COUNT messages each way, WORKERS sendmails at a time: messages
    per second, the logins (a connection lives relay_idle_timeout = 1s
    after its last message) and the token requests they caused (the
    token process serves all from its cache: 0);
  - the token process's peak RSS.
"""
import concurrent.futures
import logging
import os
import shutil
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")
sys.path.insert(0, os.path.join(ROOT, "t"))
import oauthharness  # noqa: E402
import sinks  # noqa: E402
from procs import peak_kib, stop as procs_stop  # noqa: E402
import table  # noqa: E402
from webload import Web, WebFailed  # noqa: E402

# the smarthosts take AUTH without TLS on loopback, on purpose
warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
logging.getLogger("mail.log").setLevel(logging.ERROR)

COUNT = 200
WORKERS = 8
USER = "bench@contoso.example"
BODY = b"Subject: bench oauth\n\n" + (b"o" * 76 + b"\n") * 26


class OAuthBench(Web):
    """queued and relayd, the token endpoint and both smarthosts."""

    def __init__(self, top, certificate):
        super().__init__(top)
        self.certificate = certificate
        self.oauth = None
        self.bearer = None
        self.plain = None

    def setup(self):
        top = self.top
        for sub in ("run", "log", "oauth"):     # queue/ is queued's
            os.makedirs(os.path.join(top, sub), exist_ok=True)
            os.chmod(os.path.join(top, sub), 0o755)
        os.chmod(top, 0o755)
        d = os.path.join(top, "oauth")
        self.oauth = oauthharness.OAuthServer(d).start()
        self.bearer = oauthharness.BearerSink(d, self.oauth, USER).start()
        self.plain = sinks.Sink().start()
        route = oauthharness.route_of(self.bearer)
        if self.certificate:
            crt, key = oauthharness.client_certificate(d)
            self.oauth.register_certificate(crt)
            client = dict(client_certificate=crt, client_key=key)
        else:
            client = {}
        lines = oauthharness.oauth_stanza(route, self.oauth, USER,
            grant="client_credentials", secret=not self.certificate,
            **client)
        auth = os.path.join(top, "relay-auth")
        with open(auth, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(auth, 0o600)
        routes = os.path.join(top, "routes")
        with open(routes, "w") as f:
            f.write(f"oauth.test {route}\n"
                    f"plain.test smtp:[127.0.0.1]:{self.plain.port}\n")
        os.chmod(routes, 0o644)
        with open(self.conf, "w") as f:
            f.write(f"""queue_directory = {top}/queue
run_directory = {top}/run
log_directory = {top}/log
myhostname = bench.test
queue_min_free = 0
routes_file = {routes}
relay_tls = none
relay_idle_timeout = 1s
retry_min = 1s
relay_auth_file = {auth}
relay_state_directory = {top}/relay-state
relay_oauth_ca_file = {self.oauth.ca_file}
""")
        os.chmod(self.conf, 0o644)

    def stop(self):
        procs_stop([self.procs.get("relayd"), self.procs.get("queued")])
        for s in (self.bearer, self.plain, self.oauth):
            if s is not None:
                s.stop()


def token_process(relayd_pid):
    """The pid of relayd's token process: the child it forked first."""
    with open(f"/proc/{relayd_pid}/task/{relayd_pid}/children") as f:
        kids = [int(p) for p in f.read().split()]
    if not kids:
        raise WebFailed("relayd has no token process")
    return min(kids)


def batch(b, sink, rcpt):
    """COUNT messages to rcpt, WORKERS at a time: messages per second."""
    have = len(sink.messages)
    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(lambda _: b.submit(BODY, rcpt), range(COUNT)))
    b.wait(f"{COUNT} messages at {rcpt}'s smarthost",
           lambda: len(sink.messages) >= have + COUNT, 120)
    return COUNT / (time.monotonic() - start)


def measure(b, rows, how):
    b.start("queued")
    tpid = token_process(b.start("relayd").pid)
    start = time.monotonic()
    b.submit(BODY, "first@oauth.test")
    b.wait("the first message", lambda: len(b.bearer.messages) >= 1, 30)
    first = time.monotonic() - start
    if len(b.oauth.issued()) != 1:
        raise WebFailed(f"{len(b.oauth.issued())} tokens for one message")
    plain = batch(b, b.plain, "x@plain.test")
    requests = len(b.oauth.token_requests())
    logins = len(b.bearer.attempts)
    rate = batch(b, b.bearer, "x@oauth.test")
    rows.append((f"OAuth2, {how}: first message, token fetched, sendmail "
                 "to smarthost (ms)", f"{first * 1000:.0f}"))
    rows.append((f"OAuth2, {how}: {COUNT} messages ({WORKERS} "
                 "submitters; msg/s)", f"{rate:.0f}"))
    rows.append((f"  the same relayd, no AUTH: {COUNT} messages (msg/s)",
                 f"{plain:.0f}"))
    rows.append((f"OAuth2, {how}: logins / token requests for those "
                 f"{COUNT} (cached: 0)", f"{len(b.bearer.attempts) - logins}"
                 f" / {len(b.oauth.token_requests()) - requests}"))
    rows.append((f"OAuth2, {how}: token process peak RSS (KiB)",
                 peak_kib(tpid)))


def rows(top):
    """The OAuth2 rows; on a failure the rows so far and one that says
    what went wrong."""
    out = table.not_built("OAuth2", BIN, ("queued", "relayd",
                                          "relayd-token", "sendmail"))
    if out:
        return out
    os.makedirs(top, exist_ok=True)
    os.chmod(top, 0o755)        # relayd's user reaches the directories
    for how, certificate in (("client secret", False),
                             ("client certificate", True)):
        b = OAuthBench(os.path.join(top, how.split()[1]), certificate)
        if not b.measure(measure, out, f"OAuth2, {how}", how):
            break
    shutil.rmtree(top, ignore_errors=True)
    return out


if __name__ == "__main__":
    table.run_alone(rows, "ferry-bench-oauth-")
