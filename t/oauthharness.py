# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""An OAuth2 provider and a bearer-token smarthost on loopback, for the
tests of relayd's OAuth2 login (t/test_relay_oauth.py, issue 14).

Microsoft 365 and Gmail take no password at SMTP AUTH: the client shows an
access token (XOAUTH2, or OAUTHBEARER of RFC 7628) that it got from the
provider's token endpoint.  To test that for real, both ends are real
servers here, never mocks:

- `OAuthServer`: an HTTPS token endpoint (http.server over TLS, a
  certificate from websink's test CA, `.ca_file` for
  relay_oauth_ca_file) that speaks RFC 6749 and RFC 8628 as Microsoft's
  v2.0 endpoint does: `POST /token` with the refresh_token,
  client_credentials and device_code grants, `POST /devicecode`.  Tokens
  expire (`expires_in`), a refresh token can be rotated on use (`rotate`),
  revoked (`revoke()`), an access token invalidated before it expires
  (`invalidate()`); a device login waits for `approve()` or `deny()`.  A
  client may prove itself with a certificate instead of the secret: the
  server then wants a PS256 client assertion (RFC 7523 2.2, as Entra ID
  does) naming the certificate given to `register_certificate()` by its
  thumbprints, for its token endpoint, live, and with a jti never seen
  before; `assertions` holds each accepted one's header and claims.  It
  records every request (`requests`), every token it issued (`grants`,
  `wait_grants()`), and every secret it ever issued or accepted
  (`secrets()`), so that a test can look for them in the logs.

      oauth = OAuthServer(tmpdir).start()
      rt = oauth.add_refresh_token()        # what the admin stored
      oauth.token_url, oauth.device_url, oauth.ca_file
      (g,) = oauth.wait_grants(1)           # g.access_token_issued
      oauth.valid(token)                    # issued, live, not invalidated

- `BearerSink`: an aiosmtpd smarthost (a `sinks.Sink`: messages, sessions
  and commands recorded the same way) that offers AUTH XOAUTH2,
  OAUTHBEARER or both and checks the bearer token against the
  OAuthServer that issued it.  Optionally it offers PLAIN and LOGIN and
  answers them as Microsoft does since basic authentication ended (550
  5.7.30).  A refused token gets the error challenge (a 334 with a JSON
  status); the client's answer to it is recorded (RFC 7628 3.2.3 wants
  an empty XOAUTH2 response, a single 0x01 for OAUTHBEARER), then 535.
  An AUTH line over 512 octets is refused with 500 5.5.6 (RFC 4954 4: the
  client must then send the initial response after a 334), a
  continuation line over 12288 octets likewise.  Every attempt is an
  `AuthAttempt` in `sink.attempts`; a message's `.auth` is the dict of
  the attempt its session logged in with (user, token, mechanism).

The `oauth` fixture is an OAuthServer in the `relay` fixture's directory;
`bearer_sink()`, `write_credentials()`, `state()` and `Login` (a running
`ferryctl oauth login`) are the pieces the tests put together.
"""

import asyncio
import base64
import binascii
import collections
import json
import os
import re
import secrets
import signal
import ssl
import string
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding
from aiosmtpd.smtp import SMTP, AuthResult

import sinks
import websink
from conftest import BIN, CMD_TIMEOUT, wait_for

HOST = "127.0.0.1"
IDLE_TIMEOUT = 60           # an idle keep-alive HTTPS connection closes

INVALID_GRANT_TEXT = ("AADSTS70008: the refresh token has expired or been "
    "revoked")
BASIC_REFUSED = ("550 5.7.30 Basic authentication is not supported for "
    "Client Submission")
AUTH_FAILED = "535 5.7.8 Authentication unsuccessful"
AUTH_LINE_MAX = 512         # RFC 5321 4.5.3.1.4, RFC 4954 4
AUTH_RESPONSE_MAX = 12288   # RFC 4954 4
DEFAULT_SCOPE = "https://outlook.office.com/SMTP.Send offline_access"

TOKEN_CHARS = string.ascii_letters + string.digits + "-_."
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFE_MAX = 600    # seconds from nbf to exp, as Entra ID asks
CLOCK_SKEW = 60


def _random(n, chars=string.ascii_letters + string.digits):
    return "".join(secrets.choice(chars) for _ in range(n))


def _unb64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def client_certificate(tmpdir, name="client", combined=False,
                       key_type="rsa:2048"):
    """A self-signed certificate for a client, as an admin makes one to
    upload to the app registration: (certificate file, key file), or
    (one PEM file with both, None) if combined.  Key files are 0600."""
    d = Path(tmpdir)
    crt, key = d / ("%s.crt" % name), d / ("%s.key" % name)
    args = ["-newkey", key_type]
    if key_type.startswith("ec"):
        args = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    subprocess.run(["openssl", "req", "-x509", *args, "-nodes", "-keyout",
        str(key), "-out", str(crt), "-subj", "/CN=Ferry relay %s" % name,
        "-days", "2"], check=True, capture_output=True, timeout=CMD_TIMEOUT)
    os.chmod(key, 0o600)
    if not combined:
        return crt, key
    pem = d / ("%s.pem" % name)
    pem.write_bytes(crt.read_bytes() + key.read_bytes())
    os.chmod(pem, 0o600)
    return pem, None


# --- the OAuth2 provider ------------------------------------------------------

Grant = collections.namedtuple("Grant", "time grant_type refresh_token_used "
    "access_token_issued refresh_token_issued scope client_id expires_in")
Grant.__doc__ = """One token the server issued (a 200 from /token)."""


class TokenRequest:
    """One request to the server, as it arrived and as it was answered."""

    def __init__(self, **kw):
        self.status = None
        self.answer = None
        self.__dict__.update(kw)

    @property
    def error(self):
        return (self.answer or {}).get("error")

    def __repr__(self):
        return "<TokenRequest %s %s grant_type=%s -> %s %s>" % (
            self.method, self.path, self.form.get("grant_type"),
            self.status, self.error or "")


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oauthsink/1"
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        self.server.oauth._note("%s %s" % (self.client_address,
            fmt % args))

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip()
                    or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                            b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline(16)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status, body, ctype="application/json"):
        data = (json.dumps(body) if ctype == "application/json"
            else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Pragma", "no-cache")
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="oauthsink"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self):
        oauth = self.server.oauth
        path = urllib.parse.urlsplit(self.path).path
        if path == "/device":
            self._answer(200, "<html><body><form>Enter the code shown "
                "by your device: <input name=code></form></body></html>\n",
                "text/html; charset=utf-8")
        else:
            self._answer(404, {"error": "not_found"})
        oauth._record(TokenRequest(time=time.time(), method="GET",
            path=self.path, form={}, headers=self.headers,
            peer=self.client_address, client_auth=None, status=200
            if path == "/device" else 404))

    def do_POST(self):
        oauth = self.server.oauth
        body = self._body()
        req = TokenRequest(time=time.time(), method="POST", path=self.path,
            headers=self.headers, peer=self.client_address, body=body)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0]
        req.form = {k: v[0] for k, v in urllib.parse.parse_qs(
            body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        req.repeated = [k for k, v in urllib.parse.parse_qs(
            body.decode("utf-8", "replace"), keep_blank_values=True).items()
            if len(v) > 1]
        if ctype.strip().lower() != "application/x-www-form-urlencoded":
            status, answer = 400, {"error": "invalid_request",
                "error_description": "Content-Type must be "
                "application/x-www-form-urlencoded, not %r" % ctype}
        elif req.repeated:
            status, answer = 400, {"error": "invalid_request",
                "error_description": "parameters given twice: %s"
                % ", ".join(req.repeated)}
        else:
            path = urllib.parse.urlsplit(self.path).path
            status, answer = oauth._serve(path, req, self.headers)
        req.status, req.answer = status, answer
        oauth._record(req)
        self._answer(status, answer)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, oauth, ctx):
        self.oauth = oauth
        self.ctx = ctx
        super().__init__((oauth.host, oauth.port), _HTTPHandler)

    def finish_request(self, request, client_address):
        """The TLS handshake in the connection's own thread, then HTTP."""
        oauth = self.oauth
        request.settimeout(IDLE_TIMEOUT)
        with oauth.lock:
            oauth._socks.add(request)
        try:
            try:
                tls = self.ctx.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:
                with oauth.lock:
                    oauth.tls_failures.append((client_address, str(e)))
                return
            with oauth.lock:
                oauth._socks.add(tls)
                oauth.connections.append((client_address, time.time(),
                    tls.version()))
            try:
                _HTTPHandler(tls, client_address, self)
            except (OSError, ValueError):
                pass
            finally:
                with oauth.lock:
                    oauth._socks.discard(tls)
                try:
                    tls.close()
                except OSError:
                    pass
        finally:
            with oauth.lock:
                oauth._socks.discard(request)

    def handle_error(self, request, client_address):
        pass


class OAuthServer:
    """The provider on https://127.0.0.1:PORT.  Knobs (attributes, change
    them at any time): expires_in (seconds an access token lives),
    token_length (characters of an access token: 1500 makes the XOAUTH2
    response longer than an AUTH line may be), rotate (a refresh grant
    answers a new refresh token and the one used dies), scope (granted
    when the client asks none), device_expires_in, device_interval,
    client_id, client_secret; outage (an HTTP status such as 503: every
    POST is answered so, as a provider in trouble does).  name: the stem
    of its certificate files; san: the names its certificate is for."""

    def __init__(self, tmpdir, host=HOST, port=None, name="oauth",
                 san="IP:127.0.0.1,DNS:localhost"):
        self.dir = Path(tmpdir)
        self.host = host
        self.port = port or sinks.free_port(host)
        self.lock = threading.Lock()
        self.client_id = "6f1c2e4a-%s-4b7d-9c3e-%s" % (_random(4, "0123456789"
            "abcdef"), _random(12, "0123456789abcdef"))
        self.client_secret = "Qx8~" + _random(36, TOKEN_CHARS)
        self.expires_in = 3600
        self.token_length = 40
        self.refresh_token_length = 64
        self.rotate = False
        self.scope = DEFAULT_SCOPE
        self.device_expires_in = 600
        self.device_interval = 1
        self.outage = None
        self.certificate = None         # a client's, x509.Certificate
        self.assertions = []            # dict(header, claims), accepted
        self._jtis = set()
        self.requests = []              # TokenRequest, every one
        self.grants = []                # Grant, every token issued
        self.connections = []           # (peer, time, TLS version)
        self.tls_failures = []
        self.log = []
        self._access = {}               # token -> dict(expires, invalidated)
        self._refresh = {}              # token -> "valid"|"revoked"|"rotated"
        self._devices = {}              # device_code -> dict
        self._secrets = {self.client_secret}
        self._socks = set()
        self._thread = None
        ca = websink.make_ca(self.dir, name="%s-ca" % name)
        self.ca_file = str(ca[0])
        cert = websink.make_server_cert(self.dir, ca, name="%s-server" %
            name, san=san)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        self._server = _HTTPServer(self, ctx)

    # life cycle
    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()
        with self.lock:
            sinks.shut_down(list(self._socks))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # addresses
    @property
    def base_url(self):
        return "https://%s:%d" % (self.host, self.port)

    @property
    def token_url(self):
        return self.base_url + "/token"

    @property
    def device_url(self):
        return self.base_url + "/devicecode"

    @property
    def verification_uri(self):
        return self.base_url + "/device"

    def describe(self):
        return "the OAuth server on port %d" % self.port

    # what the admin does at the provider
    def add_refresh_token(self):
        """A fresh valid refresh token, as if the admin had consented
        once and stored what came back."""
        rt = self._new_refresh_token()
        return rt

    def revoke(self, refresh_token):
        with self.lock:
            self._refresh[refresh_token] = "revoked"

    def register_certificate(self, path):
        """The client may prove itself with the certificate in path (PEM)
        instead of its secret, as after an upload to Entra ID."""
        self.certificate = x509.load_pem_x509_certificate(
            Path(path).read_bytes())

    def invalidate(self, access_token):
        """From now on the token is refused (a password change, a
        revoked session), though its time has not run out."""
        with self.lock:
            self._access[access_token]["invalidated"] = True

    def approve(self, user_code):
        self._device_decision(user_code, "approved")

    def deny(self, user_code):
        self._device_decision(user_code, "denied")

    def _device_decision(self, user_code, what):
        with self.lock:
            for d in self._devices.values():
                if d["user_code"] == user_code:
                    assert d["status"] == "pending", d
                    d["status"] = what
                    return
        raise AssertionError("no device login with user code %r (have %r)"
            % (user_code, self.user_codes()))

    # what it knows
    def valid(self, access_token):
        """True if the server issued this token, its time has not run
        out and it was not invalidated."""
        with self.lock:
            t = self._access.get(access_token)
            return bool(t) and not t["invalidated"] and \
                time.monotonic() < t["expires"]

    def expires_at(self, access_token):
        """time.time() at which the token runs out."""
        with self.lock:
            t = self._access[access_token]
            return t["expires_wall"]

    def refresh_token_state(self, refresh_token):
        """'valid', 'revoked', 'rotated' (replaced by a new one), or None
        (never issued)."""
        with self.lock:
            return self._refresh.get(refresh_token)

    def secrets(self):
        """Every secret the server issued or accepted: the client secret,
        refresh tokens, access tokens, device codes."""
        with self.lock:
            return set(self._secrets)

    def user_codes(self):
        with self.lock:
            return [d["user_code"] for d in self._devices.values()]

    def device_polls(self, user_code=None):
        """time.monotonic() of each poll of the token endpoint with a
        device code (the one of user_code, or any)."""
        with self.lock:
            return [t for d in self._devices.values()
                if user_code in (None, d["user_code"]) for t in d["polls"]]

    def token_requests(self, grant_type=None):
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and
                urllib.parse.urlsplit(r.path).path == "/token" and
                grant_type in (None, r.form.get("grant_type"))]

    def issued(self):
        with self.lock:
            return list(self.grants)

    def wait_grants(self, n=1, timeout=20):
        """The grants once there are at least n."""
        try:
            return sinks.wait_until(lambda: len(self.issued()) >= n and
                self.issued(), timeout, "%d grant(s) at %s" % (n,
                self.describe()))
        except sinks.Timeout as e:
            pytest.fail("%s (requests %r; TLS failures %r)" % (e,
                self.requests, self.tls_failures), pytrace=False)

    # a client of its own, to check the server (and what a token is worth)
    def post(self, path, **form):
        """POST a form over HTTPS, verifying the certificate against
        ca_file; returns (status, JSON answer)."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        data = urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(self.base_url + path, data=data,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    # the endpoints
    def _record(self, req):
        with self.lock:
            self.requests.append(req)

    def _note(self, what):
        with self.lock:
            self.log.append(what)

    def _new_refresh_token(self):
        rt = "0.AX" + _random(self.refresh_token_length - 4, TOKEN_CHARS)
        with self.lock:
            self._refresh[rt] = "valid"
            self._secrets.add(rt)
        return rt

    def _new_access_token(self):
        n = max(self.token_length, 8)
        at = "eyJ0" + _random(n - 4, TOKEN_CHARS)
        with self.lock:
            self._access[at] = dict(expires=time.monotonic() +
                self.expires_in, expires_wall=time.time() + self.expires_in,
                invalidated=False)
            self._secrets.add(at)
        return at

    def _client(self, req, headers, secret_required=True):
        """(client_id, None) if the client authenticated, else (None,
        (status, error answer)).  Basic (RFC 6749 2.3.1) or the form's
        client_id/client_secret, not both."""
        form = req.form
        cid, secret = form.get("client_id"), form.get("client_secret")
        auth = headers.get("Authorization") or ""
        req.client_auth = "post" if secret is not None else None
        if "client_assertion" in form or "client_assertion_type" in form:
            if secret is not None or auth.startswith("Basic "):
                return None, (400, {"error": "invalid_request",
                    "error_description": "client authenticated twice"})
            why = self._check_assertion(form.get("client_assertion_type"),
                form.get("client_assertion") or "", cid)
            if why:
                return None, (401, {"error": "invalid_client",
                    "error_description": why})
            req.client_auth = "assertion"
            return self.client_id, None
        if auth.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(
                    ":")
            except (binascii.Error, UnicodeDecodeError):
                return None, (401, {"error": "invalid_client",
                    "error_description": "bad Basic credentials"})
            if secret is not None:
                return None, (400, {"error": "invalid_request",
                    "error_description": "client authenticated twice"})
            cid, secret = (urllib.parse.unquote_plus(user),
                urllib.parse.unquote_plus(pw))
            req.client_auth = "basic"
        if secret is not None:
            with self.lock:
                self._secrets.add(secret)
        if cid != self.client_id or (secret is not None and
                secret != self.client_secret) or (secret is None and
                secret_required):
            return None, (401, {"error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret "
                "provided." if cid == self.client_id else
                "AADSTS700016: Application not found."})
        return cid, None

    def _check_assertion(self, atype, assertion, cid):
        """None if assertion is a good client assertion for this server,
        else why not, as Entra ID says it."""
        with self.lock:
            self._secrets.add(assertion)
        if atype != JWT_BEARER:
            return "AADSTS50027: client_assertion_type %r" % atype
        if self.certificate is None:
            return "AADSTS700027: no certificate is registered"
        try:
            h64, c64, s64 = assertion.split(".")
            header = json.loads(_unb64url(h64))
            claims = json.loads(_unb64url(c64))
            sig = _unb64url(s64)
        except (ValueError, binascii.Error, UnicodeDecodeError) as e:
            return "AADSTS50012: malformed client assertion: %s" % e
        der = self.certificate.public_bytes(Encoding.DER)
        sha1, sha256 = (hashes.Hash(h) for h in (hashes.SHA1(),
            hashes.SHA256()))
        sha1.update(der)
        sha256.update(der)
        if (header.get("alg"), header.get("typ")) != ("PS256", "JWT"):
            return "AADSTS5002738: alg %r typ %r" % (header.get("alg"),
                header.get("typ"))
        if header.get("x5t#S256") != _b64url(sha256.finalize()) or \
                header.get("x5t") != _b64url(sha1.finalize()):
            return ("AADSTS700027: the certificate with thumbprint %r is "
                "not registered" % header.get("x5t#S256"))
        try:
            self.certificate.public_key().verify(sig, ("%s.%s" % (h64,
                c64)).encode(), padding.PSS(mgf=padding.MGF1(
                hashes.SHA256()), salt_length=32), hashes.SHA256())
        except (InvalidSignature, TypeError, ValueError):
            return ("AADSTS700027: Client assertion contains an invalid "
                "signature.")
        now = time.time()
        if claims.get("aud") != self.token_url:
            return "AADSTS50013: aud %r" % claims.get("aud")
        if not (claims.get("iss") == claims.get("sub") == self.client_id
                and cid in (None, self.client_id)):
            return "AADSTS700016: Application not found."
        try:
            nbf, exp = int(claims["nbf"]), int(claims["exp"])
        except (KeyError, TypeError, ValueError):
            return "AADSTS50012: no nbf or exp"
        if not (nbf <= now + CLOCK_SKEW and exp > now and
                exp - nbf <= ASSERTION_LIFE_MAX):
            return ("AADSTS700024: Client assertion is not within its "
                "valid time range.")
        with self.lock:
            jti = claims.get("jti")
            if not jti or jti in self._jtis:
                return "AADSTS700021: jti %r was used before" % jti
            self._jtis.add(jti)
            self.assertions.append(dict(header=header, claims=claims))
        return None

    def _token_answer(self, grant_type, req, rt_used, scope, with_refresh):
        at = self._new_access_token()
        answer = {"token_type": "Bearer", "scope": scope,
            "expires_in": self.expires_in, "ext_expires_in": self.expires_in,
            "access_token": at}
        rt_new = None
        if with_refresh:
            rt_new = self._new_refresh_token()
            answer["refresh_token"] = rt_new
        with self.lock:
            self.grants.append(Grant(time.time(), grant_type, rt_used, at,
                rt_new, scope, req.form.get("client_id") or self.client_id,
                self.expires_in))
        return 200, answer

    def _serve(self, path, req, headers):
        if self.outage:
            return self.outage, {"error": "temporarily_unavailable",
                "error_description": "AADSTS90033: A transient error has "
                "occurred. Please try again."}
        if path == "/devicecode":
            return self._devicecode(req, headers)
        if path != "/token":
            return 404, {"error": "not_found"}
        gt = req.form.get("grant_type")
        scope = req.form.get("scope") or None
        if gt == "refresh_token":
            _, err = self._client(req, headers)
            if err:
                return err
            rt = req.form.get("refresh_token")
            if rt:
                with self.lock:
                    self._secrets.add(rt)
            if self.refresh_token_state(rt) != "valid":
                return 400, {"error": "invalid_grant",
                    "error_description": INVALID_GRANT_TEXT}
            if self.rotate:
                with self.lock:
                    self._refresh[rt] = "rotated"
            return self._token_answer(gt, req, rt, scope or self.scope,
                self.rotate)
        if gt == "client_credentials":
            _, err = self._client(req, headers)
            if err:
                return err
            if not scope:
                return 400, {"error": "invalid_scope",
                    "error_description": "AADSTS1002012: The provided "
                    "value for scope is not valid."}
            return self._token_answer(gt, req, None, scope, False)
        if gt == "urn:ietf:params:oauth:grant-type:device_code":
            _, err = self._client(req, headers, secret_required=False)
            if err:
                return err
            code = req.form.get("device_code")
            with self.lock:
                if code:
                    self._secrets.add(code)
                d = self._devices.get(code)
                if d is None or d["status"] == "used":
                    return 400, {"error": "invalid_grant",
                        "error_description": "AADSTS70000: the device code "
                        "is unknown or was used."}
                d["polls"].append(time.monotonic())
                if time.monotonic() > d["expires"]:
                    return 400, {"error": "expired_token",
                        "error_description": "AADSTS70019: Verification "
                        "code expired."}
                if d["status"] == "pending":
                    return 400, {"error": "authorization_pending",
                        "error_description": "AADSTS70016: OAuth 2.0 device "
                        "flow error. Authorization is pending. Continue "
                        "polling."}
                if d["status"] == "denied":
                    d["status"] = "used"
                    return 400, {"error": "access_denied",
                        "error_description": "AADSTS70000: The user denied "
                        "the authorization request."}
                d["status"] = "used"
                dscope = d["scope"]
            return self._token_answer(gt, req, None, dscope, True)
        return 400, {"error": "unsupported_grant_type",
            "error_description": "grant_type %r" % gt}

    def _devicecode(self, req, headers):
        _, err = self._client(req, headers, secret_required=False)
        if err:
            return err
        code = "DAQABAAEAAA" + _random(48, TOKEN_CHARS)
        user_code = "%s-%s" % (_random(4, string.ascii_uppercase),
            _random(4, string.digits))
        with self.lock:
            self._secrets.add(code)
            self._devices[code] = dict(user_code=user_code,
                scope=req.form.get("scope") or self.scope, status="pending",
                expires=time.monotonic() + self.device_expires_in,
                polls=[])
        return 200, {"device_code": code, "user_code": user_code,
            "verification_uri": self.verification_uri,
            "expires_in": self.device_expires_in,
            "interval": self.device_interval,
            "message": "To sign in, use a web browser to open the page %s "
            "and enter the code %s to authenticate." % (
                self.verification_uri, user_code)}


# --- the bearer-token smarthost ------------------------------------------------

class AuthAttempt:
    """One AUTH command and everything that followed it until the final
    reply.  initial: the response came on the AUTH line (False: after a
    334 continuation).  line_len: octets of the AUTH line with its CRLF.
    raw: the base64 text of the client's response (a secret, wholly).
    error_answer: the decoded answer to the error challenge, or None if
    there was none."""

    def __init__(self, **kw):
        self.user = self.token = self.host = self.port = self.gs2 = None
        self.raw = None
        self.initial = None
        self.error_answer = None
        self.error_raw = None
        self.problem = None             # what was malformed
        self.ok = False
        self.reply = None
        self.__dict__.update(kw)

    def __repr__(self):
        return ("<AuthAttempt %s peer=%s %s line=%d user=%r ok=%s%s%s>" % (
            self.mechanism, self.peer, "initial" if self.initial else
            "after 334", self.line_len, self.user, self.ok,
            " problem=%s" % self.problem if self.problem else "",
            " error-answer=%r" % self.error_answer
            if self.error_answer is not None else ""))


def _saslname(s):
    """RFC 5801's saslname: =2C is ',' and =3D is '='."""
    return s.replace("=2C", ",").replace("=3D", "=")


def parse_xoauth2(blob):
    """(user, token) of 'user=U^Aauth=Bearer T^A^A'; ValueError if it is
    not that."""
    text = blob.decode("utf-8")
    if not text.endswith("\x01\x01"):
        raise ValueError("does not end with ^A^A")
    fields = text[:-2].split("\x01")
    if len(fields) != 2 or not fields[0].startswith("user=") or \
            not fields[1].startswith("auth=Bearer "):
        raise ValueError("want user=...^Aauth=Bearer ...^A^A")
    return fields[0][5:], fields[1][12:]


def parse_oauthbearer(blob):
    """{gs2, user, host, port, token} of RFC 7628's client response
    'n,a=U,^Ahost=H^Aport=P^Aauth=Bearer T^A^A'; ValueError if it is
    not that."""
    text = blob.decode("utf-8")
    if not text.endswith("\x01\x01"):
        raise ValueError("does not end with ^A^A")
    gs2, sep, rest = text[:-2].partition("\x01")
    if not sep:
        raise ValueError("no kvsep after the gs2 header")
    m = re.fullmatch(r"([ny]),(?:a=([^,]*))?,", gs2)
    if not m:
        raise ValueError("bad gs2 header %r" % gs2)
    out = dict(gs2=gs2, user=_saslname(m.group(2)) if m.group(2) is not None
        else None, host=None, port=None, token=None)
    for kv in rest.split("\x01"):
        k, eq, v = kv.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z]+", k):
            raise ValueError("bad kvpair %r" % kv)
        if k == "auth":
            if not v.startswith("Bearer "):
                raise ValueError("auth is not Bearer")
            out["token"] = v[7:]
        elif k in ("host", "port"):
            out[k] = v
    if out["token"] is None:
        raise ValueError("no auth=Bearer")
    return out


class _BearerSMTP(SMTP):
    """aiosmtpd's SMTP with room for a long AUTH exchange: the AUTH line
    itself is checked by the handler (it records the length first), a
    continuation line may be up to AUTH_RESPONSE_MAX octets."""
    line_length_limit = 4 * AUTH_RESPONSE_MAX
    command_size_limits = collections.defaultdict(lambda: 512)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.command_size_limits = collections.defaultdict(lambda: 512)
        self.command_size_limits["AUTH"] = 4 * AUTH_RESPONSE_MAX


class _BearerController(Controller):
    def factory(self):
        return _BearerSMTP(self.handler, **self.SMTP_kwargs)


class _BearerHandler(sinks._Handler):
    async def handle_DATA(self, server, session, envelope):
        if self.sink.data_delay:
            await asyncio.sleep(self.sink.data_delay)
        return await super().handle_DATA(server, session, envelope)

    async def _read_line(self, server):
        line = await server._reader.readline()
        return line.rstrip(b"\r\n")

    async def _response(self, server, args, attempt):
        """The client's response: on the AUTH line, or after an empty
        334.  None if the exchange ended (the reply is sent)."""
        if len(args) > 1:
            attempt.initial = True
            raw = args[1].encode()
            if raw == b"=":
                raw = b""
        else:
            attempt.initial = False
            await server.push("334 ")
            raw = await self._read_line(server)
            attempt.response_len = len(raw) + 2
            if len(raw) + 2 > AUTH_RESPONSE_MAX:
                attempt.problem = "response line of %d octets" % (
                    len(raw) + 2)
                return await self._end(server, attempt,
                    "500 5.5.6 Authentication Exchange line is too long")
            if raw == b"*":
                attempt.problem = "cancelled"
                return await self._end(server, attempt,
                    "501 5.7.0 Authentication cancelled")
        attempt.raw = raw.decode("ascii", "replace")
        try:
            return base64.b64decode(raw, validate=True)
        except binascii.Error:
            attempt.problem = "not base64"
            return await self._end(server, attempt,
                "501 5.5.2 Cannot decode base64")

    async def _end(self, server, attempt, reply):
        attempt.reply = reply
        await server.push(reply)
        return None

    async def _bearer(self, server, args, mechanism):
        sink = self.sink
        session = server.session
        line = "AUTH " + " ".join(args)
        attempt = AuthAttempt(mechanism=mechanism, peer=session.peer,
            line_len=len(line) + 2, time=time.time(), initial=len(args) > 1)
        with sink.lock:
            sink.attempts.append(attempt)
        self._log(session, "AUTH %s (%d octets)" % (mechanism,
            attempt.line_len))
        if attempt.line_len > AUTH_LINE_MAX:
            attempt.problem = "AUTH line of %d octets" % attempt.line_len
            await self._end(server, attempt,
                "500 5.5.6 Authentication Exchange line is too long")
            return AuthResult(success=False, handled=True)
        blob = await self._response(server, args, attempt)
        if blob is None:
            return AuthResult(success=False, handled=True)
        try:
            if mechanism == "XOAUTH2":
                attempt.user, attempt.token = parse_xoauth2(blob)
            else:
                f = parse_oauthbearer(blob)
                attempt.user, attempt.token = f["user"], f["token"]
                attempt.host, attempt.port = f["host"], f["port"]
                attempt.gs2 = f["gs2"]
        except (ValueError, UnicodeDecodeError) as e:
            attempt.problem = "malformed: %s" % e
            await self._end(server, attempt,
                "501 5.5.2 Malformed %s response" % mechanism)
            return AuthResult(success=False, handled=True)
        if attempt.user == sink.user and sink.oauth.valid(attempt.token):
            attempt.ok = True
            attempt.reply = "235 2.7.0 Authentication successful"
            self._log(session, "AUTH %s ok" % mechanism)
            return AuthResult(success=True, auth_data=dict(
                user=attempt.user, token=attempt.token,
                mechanism=mechanism), message=attempt.reply)
        # the error challenge (Google's for XOAUTH2, RFC 7628 3.2.2's
        # for OAUTHBEARER), then the client's answer, then 535
        if mechanism == "XOAUTH2":
            status = {"status": "401", "schemes": "bearer",
                "scope": sink.scope}
        else:
            status = {"status": "invalid_token", "scope": sink.scope}
        await server.push("334 " + base64.b64encode(json.dumps(
            status).encode()).decode())
        answer = await self._read_line(server)
        attempt.error_raw = answer
        try:
            attempt.error_answer = base64.b64decode(answer, validate=True)
        except binascii.Error:
            attempt.error_answer = b"(not base64) " + answer
        self._log(session, "AUTH %s refused" % mechanism)
        if answer == b"*":
            await self._end(server, attempt,
                "501 5.7.0 Authentication cancelled")
        else:
            await self._end(server, attempt, AUTH_FAILED)
        return AuthResult(success=False, handled=True)

    async def _basic(self, server, args, mechanism):
        sink = self.sink
        attempt = AuthAttempt(mechanism=mechanism, peer=server.session.peer,
            line_len=len("AUTH " + " ".join(args)) + 2, time=time.time(),
            initial=len(args) > 1)
        with sink.lock:
            sink.attempts.append(attempt)
        self._log(server.session, "AUTH %s refused (basic)" % mechanism)
        await self._end(server, attempt, BASIC_REFUSED)
        return AuthResult(success=False, handled=True)

    async def auth_XOAUTH2(self, server, args):
        return await self._bearer(server, args, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server, args):
        return await self._bearer(server, args, "OAUTHBEARER")

    async def auth_PLAIN(self, server, args):
        return await self._basic(server, args, "PLAIN")

    async def auth_LOGIN(self, server, args):
        return await self._basic(server, args, "LOGIN")


class BearerSink(sinks.Sink):
    """A smarthost that takes only OAuth2 bearer tokens of `oauth` for
    `user`.  mechanisms: what AUTH offers of XOAUTH2 and OAUTHBEARER;
    basic: offer PLAIN and LOGIN too, and refuse them with 550 5.7.30;
    data_delay: seconds before the reply to DATA (deliveries overlap,
    relayd opens more connections).  Mail without AUTH gets 530."""

    def __init__(self, tmpdir, oauth, user, mechanisms=("XOAUTH2",),
                 basic=False, data_delay=0.0, scope=DEFAULT_SCOPE,
                 hostname="smtp.office365.example", **kw):
        super().__init__(tmpdir, hostname=hostname, **kw)
        self.oauth = oauth
        self.user = user
        self.scope = scope
        self.data_delay = data_delay
        self.attempts = []
        self.mechanisms = tuple(m.upper() for m in mechanisms)
        self.offered = sorted(set(self.mechanisms) | ({"PLAIN", "LOGIN"}
            if basic else set()))
        exclude = [m for m in ("XOAUTH2", "OAUTHBEARER", "PLAIN", "LOGIN")
            if m not in self.offered]
        kw = dict(hostname=self.host, port=self.port,
            server_hostname=hostname, data_size_limit=200 * 2**20,
            decode_data=False, ready_timeout=10, auth_required=True,
            auth_require_tls=False, auth_exclude_mechanism=exclude)
        with warnings.catch_warnings():
            # "Requiring AUTH while not requiring TLS": on purpose here
            warnings.simplefilter("ignore")
            self.controller = _BearerController(_BearerHandler(self), **kw)

    def auth_attempts_of(self, mechanism=None):
        with self.lock:
            return [a for a in self.attempts
                if mechanism in (None, a.mechanism)]

    def wait_attempts(self, n=1, timeout=20):
        return sinks.wait_until(lambda: len(self.auth_attempts_of()) >= n
            and self.auth_attempts_of(), timeout, "%d AUTH attempt(s) at %s "
            "(log %r)" % (n, self.describe(), self.log))

    def describe(self):
        return "the bearer sink on port %d" % self.port


# --- Ferry's side: the credentials file, the state file, ferryctl ------------

def route_of(sink):
    """The routes_file route relay.routes() writes for a sink."""
    return "smtp:[%s]:%d" % (sink.host, sink.port)


def state_name(route):
    """oauth-ROUTE with every byte outside [A-Za-z0-9.-] as '_'."""
    return "oauth-" + re.sub(r"[^A-Za-z0-9.-]", "_", route)


def stanza(route, **keys):
    """The lines of one route's stanza; a value None leaves its key out."""
    lines = ["route %s" % route]
    lines += ["%s %s" % (k, v) for k, v in keys.items() if v is not None]
    return lines


def oauth_stanza(route, oauth, user, mech="xoauth2", grant=None,
                 refresh_token=None, device=True, secret=True, **more):
    """A stanza that logs in to route with OAuth2 tokens from oauth."""
    return stanza(route, user=user, oauth=mech, grant=grant,
        token_endpoint=oauth.token_url,
        device_endpoint=oauth.device_url if device else None,
        client_id=oauth.client_id,
        client_secret=oauth.client_secret if secret else None,
        scope=oauth.scope if grant != "client_credentials" else
        "https://outlook.office365.com/.default",
        refresh_token=refresh_token, **more)


def write_credentials(relay, oauth, *stanzas, text=None):
    """relay_auth_file of root's (0600) with these stanzas (lists of
    lines) or the text given; relay_state_directory in the test
    directory, relay_oauth_ca_file the OAuth server's CA."""
    p = relay.base / "relay-auth"
    if text is None:
        text = "# written by t/oauthharness.py\n\n" + "\n\n".join(
            "\n".join(s) for s in stanzas) + "\n"
    p.write_text(text)
    os.chmod(p, 0o600)
    relay.conf(relay_auth_file=str(p),
        relay_state_directory=str(state_dir(relay)),
        relay_oauth_ca_file=oauth.ca_file if oauth else "")
    return p


def state_dir(relay):
    return relay.base / "relay-state"


def state_path(relay, route):
    return state_dir(relay) / state_name(route)


def state(relay, route):
    """The route's state file as {key: value}; {} if there is none."""
    try:
        text = state_path(relay, route).read_text()
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k and not k.startswith("#"):
            out[k] = v
    return out


def ctl(relay, *args, timeout=CMD_TIMEOUT):
    """bin/ferryctl -c CONF ARGS (as chaosharness runs it)."""
    return subprocess.run([str(BIN / "ferryctl"), "-c",
        str(relay.ferry.conf_path), *map(str, args)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, timeout=timeout)


class Login:
    """A running `ferryctl oauth login ROUTE`, its output read as it
    comes (the admin reads the URL and the code while it waits).

        with Login(relay, route) as login:
            code = login.wait_code(oauth)
            oauth.approve(code)
            rc = login.wait()
        login.out, login.err

    Leaving the block ends it (SIGTERM, then SIGKILL) if it still runs."""

    def __init__(self, relay, route):
        self.route = route
        self.proc = subprocess.Popen([str(BIN / "ferryctl"), "-c",
            str(relay.ferry.conf_path), "oauth", "login", route],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        self._out = []
        self._err = []
        self._threads = [threading.Thread(target=self._read,
            args=(self.proc.stdout, self._out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr,
            self._err), daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _read(f, into):
        for line in iter(f.readline, b""):
            into.append(line.decode("utf-8", "replace"))

    @property
    def out(self):
        return "".join(self._out)

    @property
    def err(self):
        return "".join(self._err)

    def wait_code(self, oauth, timeout=20):
        """The user code the server issued, once ferryctl has printed it
        (and the URL) on stdout."""
        def shown():
            if self.proc.poll() is not None and not any(c in self.out
                    for c in oauth.user_codes()):
                pytest.fail("ferryctl oauth login exited %d before showing "
                    "a code\nstdout: %s\nstderr: %s" % (self.proc.returncode,
                    self.out, self.err), pytrace=False)
            for c in oauth.user_codes():
                if c in self.out:
                    return c
            return None
        return wait_for(shown, timeout=timeout,
            what="ferryctl oauth login showing a user code of %r\n"
            "stdout so far: %r\nstderr: %r" % (oauth.user_codes(),
            self.out, self.err))

    def wait(self, timeout=30):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail("ferryctl oauth login still running after %ds\n"
                "stdout: %s\nstderr: %s" % (timeout, self.out, self.err),
                pytrace=False)
        for t in self._threads:
            t.join(5)
        return rc

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for t in self._threads:
            t.join(5)


@pytest.fixture
def oauth(relay):
    """An OAuthServer in the relay fixture's directory; at the end relayd
    stops first, then the server."""
    server = OAuthServer(relay.base).start()
    yield server
    if "relayd" in relay.ferry.daemons:
        relay.ferry.stop("relayd")
    server.stop()


def bearer_sink(relay, oauth, user, **kw):
    """A started BearerSink that the relay fixture stops at the end."""
    s = BearerSink(relay.base, oauth, user, **kw).start()
    relay._sinks.append(s)
    return s
