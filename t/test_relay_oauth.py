# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""relayd's OAuth2 login at a smarthost (issue 14): XOAUTH2 and
OAUTHBEARER with access tokens that Ferry itself gets from the provider's
token endpoint, keeps, refreshes ahead of expiry and rotates, and the
device-code login of `ferryctl oauth login`.

Microsoft 365 stops taking passwords at SMTP AUTH; a site that relays
through it must show a bearer token instead.  Every test here runs relayd
against two real servers on loopback (t/oauthharness.py): an HTTPS token
endpoint that issues, expires, rotates and revokes tokens, and an aiosmtpd
smarthost that takes a token only if that endpoint issued it and it is
still good.  What is asserted is what an admin would see: mail arrives
(with the token the provider issued), the provider is asked once and not
per message, a dead refresh token keeps mail queued with an alert instead
of bouncing it, and no secret reaches a log."""

import base64
import os
import re
import smtplib
import stat

import pytest
from cryptography.hazmat.primitives import hashes

import sinks
import websink
from conftest import BIN, run, wait_for
from oauthharness import (AUTH_LINE_MAX, INVALID_GRANT_TEXT, Login,
    OAuthServer, bearer_sink, client_certificate, ctl, oauth,  # noqa
    oauth_stanza, route_of, stanza, state, state_dir, state_name,
    state_path, write_credentials)
from relayharness import SENDER, relay  # noqa: F401

USER = "relay@contoso.example"
PASSWORD = "Winter2026!basic"
CC_SCOPE = "https://outlook.office365.com/.default"


# --- helpers -----------------------------------------------------------------

def setup_route(relay, oauth, sink, mech="xoauth2", grant=None,
                refresh_token=True, domain="example.test", more_routes=None,
                **conf):
    """example.test (or domain) routed to sink, logged in to with OAuth2
    from oauth; returns (route, the refresh token stored, or None)."""
    table = {domain: sink}
    table.update(more_routes or {})
    relay.routes(table, **conf)
    route = route_of(sink)
    if refresh_token is True:
        refresh_token = oauth.add_refresh_token()
    write_credentials(relay, oauth, oauth_stanza(route, oauth, USER,
        mech=mech, grant=grant, refresh_token=refresh_token))
    return route, refresh_token


def result(relay, msgid, timeout=20):
    """The first delivered/deferred/failed event for msgid."""
    def first():
        evs = [e for e in relay.events(None, id=msgid)
            if e.get("event") in ("delivered", "deferred", "failed")]
        return evs and evs[0]
    return wait_for(first, timeout=timeout, what="a result for %s\n%s" %
        (msgid, relay.ferry.diagnostics("relayd")))


def delivered(relay, msgid):
    ev = result(relay, msgid)
    assert ev["event"] == "delivered", ev
    return ev


def tokens(grants):
    return [g.access_token_issued for g in grants]


def wait_session_closed(sink, n=1):
    """Until n sessions have ended with QUIT (relay_idle_timeout is 1s):
    the next message needs a new connection and a new AUTH."""
    wait_for(lambda: len(sink.commands("QUIT")) >= n, timeout=10,
        what="%d QUIT(s) at %s: %r" % (n, sink.describe(), sink.log))


def assert_no_bounce(relay, home, *msgids):
    """No DSN anywhere: queued made none, none arrived where the
    sender's mail goes, and the messages are still queued."""
    assert not relay.queued_events("bounce"), relay.ferry.log()
    assert home.received() == [], home.received()
    assert relay.ferry.queue_ids() == sorted(msgids), \
        relay.ferry.queue_files()


def with_smtpd(relay):
    """smtpd on a free port and no local delivery, so that `ferryctl
    status` exits 0 while every daemon runs: its exit status then says
    something."""
    relay.conf(mydestination="", smtp_listen="127.0.0.1:%d" %
        sinks.free_port(), submission_listen="", smtps_listen="")
    relay.ferry.start("smtpd", wait=False)


def oauth_status(relay, route):
    """(exit status, the block of `ferryctl oauth status` for route)."""
    r = ctl(relay, "oauth", "status")
    out = r.stdout.decode()
    assert route in out, (r.returncode, out, r.stderr)
    block = out[out.index(route):]
    nxt = re.search(r"\n(?=smtp:)", block)
    return r.returncode, block[:nxt.start()] if nxt else block


def log_files(relay):
    """Every log and stderr/stdout file of the installation."""
    base = relay.base
    out = sorted(p for p in (base / "log").iterdir() if p.is_file())
    out += sorted(base.glob("*.stderr")) + sorted(base.glob("*.stdout"))
    return out


# --- the servers themselves ---------------------------------------------------

def test_the_servers_refuse_what_a_provider_refuses(relay, oauth):
    """The test servers are strict, so that a test below passing means
    relayd did it right: the sink refuses a token the server did not
    issue, an invalidated or expired one and another user, each after
    the error challenge, and an AUTH line over 512 octets; the server
    refuses a wrong client secret, a revoked and a rotated-away refresh
    token."""
    sink = bearer_sink(relay, oauth, USER, mechanisms=("XOAUTH2",
        "OAUTHBEARER"))
    rt = oauth.add_refresh_token()
    form = dict(grant_type="refresh_token", client_id=oauth.client_id,
        client_secret=oauth.client_secret, refresh_token=rt)
    st, good = oauth.post("/token", **form)
    assert st == 200 and good["token_type"] == "Bearer", good
    st, bad = oauth.post("/token", **dict(form, client_secret="nope"))
    assert (st, bad["error"]) == (401, "invalid_client"), bad
    oauth.expires_in = 1
    st, short = oauth.post("/token", **form)
    oauth.rotate = True
    st, rotated = oauth.post("/token", **form)
    assert st == 200 and rotated["refresh_token"] != rt
    st, bad = oauth.post("/token", **form)
    assert (st, bad["error"]) == (400, "invalid_grant"), bad
    assert bad["error_description"] == INVALID_GRANT_TEXT
    oauth.revoke(rotated["refresh_token"])
    st, bad = oauth.post("/token", **dict(form,
        refresh_token=rotated["refresh_token"]))
    assert (st, bad["error"]) == (400, "invalid_grant"), bad

    def xoauth2(user, token):
        return lambda challenge=None: "" if challenge else \
            "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)

    def login(user, token, initial=True):
        c = smtplib.SMTP(sinks.HOST, sink.port, timeout=10)
        try:
            c.ehlo("client.example")
            code, _ = c.docmd("MAIL FROM:<a@example.test>")
            assert code == 530, "MAIL without AUTH: %d" % code
            try:
                return c.auth("XOAUTH2", xoauth2(user, token),
                    initial_response_ok=initial)[0]
            except smtplib.SMTPException as e:
                return e.smtp_code
        finally:
            c.close()

    assert login(USER, good["access_token"]) == 235
    assert login(USER, "eyJ0-never-issued") == 535
    assert login("mallory@contoso.example", good["access_token"]) == 535
    wait_for(lambda: not oauth.valid(short["access_token"]), timeout=10,
        what="the 1 s token expired")
    assert login(USER, short["access_token"]) == 535
    oauth.invalidate(good["access_token"])
    assert login(USER, good["access_token"]) == 535
    oauth.token_length = 1500
    st, long_ = oauth.post("/token", grant_type="client_credentials",
        client_id=oauth.client_id, client_secret=oauth.client_secret,
        scope=CC_SCOPE)
    assert login(USER, long_["access_token"], initial=True) == 500
    assert login(USER, long_["access_token"], initial=False) == 235
    ok = [a.ok for a in sink.attempts]
    assert ok == [True, False, False, False, False, False, True], \
        sink.attempts
    assert all(a.error_answer == b"" for a in sink.attempts[1:5]), \
        sink.attempts
    assert sink.attempts[5].line_len > AUTH_LINE_MAX


# --- delivery -------------------------------------------------------------------

@pytest.mark.parametrize("mech,length", [("XOAUTH2", 40),
    ("XOAUTH2", 1500), ("OAUTHBEARER", 1500)])
def test_refresh_token_grant_delivers(relay, oauth, mech, length):
    """The stored refresh token buys an access token, and the message
    arrives authenticated with exactly that token.  A short one goes on
    the AUTH line; one of 1500 characters (a Microsoft JWT is that long)
    after a 334, the AUTH line staying within 512 octets."""
    oauth.token_length = length
    sink = bearer_sink(relay, oauth, USER, mechanisms=(mech,))
    route, rt = setup_route(relay, oauth, sink, mech=mech.lower())
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    (m,) = sink.wait_messages(1)
    (g,) = oauth.issued()
    assert g.grant_type == "refresh_token" and g.refresh_token_used == rt
    assert m.auth == dict(user=USER, token=g.access_token_issued,
        mechanism=mech), m.auth
    assert len(m.auth["token"]) == length
    (a,) = sink.attempts
    assert a.line_len <= AUTH_LINE_MAX, a
    if length < 300:
        assert a.initial, "a short token goes on the AUTH line: %r" % a
    else:
        assert not a.initial, "a long token after a 334: %r" % a
    (req,) = oauth.token_requests()
    assert req.form.get("scope") == oauth.scope, req.form
    delivered(relay, msgid)
    (ev,) = relay.events("oauth-token", route=route)
    assert ev["grant"] == "refresh_token" and ev["expires_in"] == "3600", ev


@pytest.mark.parametrize("mech,offered,used", [
    ("auto", ("XOAUTH2", "OAUTHBEARER"), "OAUTHBEARER"),
    ("auto", ("XOAUTH2",), "XOAUTH2"),
    ("auto", ("OAUTHBEARER",), "OAUTHBEARER"),
    ("xoauth2", ("XOAUTH2", "OAUTHBEARER"), "XOAUTH2"),
    ("oauthbearer", ("XOAUTH2", "OAUTHBEARER"), "OAUTHBEARER"),
])
def test_mechanism_from_what_ehlo_offers(relay, oauth, mech, offered, used):
    """oauth auto takes OAUTHBEARER when the server offers it, else
    XOAUTH2; a named one is used as named.  OAUTHBEARER's gs2 header
    names the user (RFC 7628), and host/port, if sent, are the server's."""
    sink = bearer_sink(relay, oauth, USER, mechanisms=offered)
    setup_route(relay, oauth, sink, mech=mech)
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    (m,) = sink.wait_messages(1)
    (a,) = sink.attempts
    assert a.mechanism == used and a.ok, a
    assert m.auth["mechanism"] == used and m.auth["user"] == USER
    if used == "OAUTHBEARER":
        assert a.gs2 == "n,a=%s," % USER, a.gs2
        assert a.port in (None, str(sink.port)), a.port
        assert a.host in (None, sinks.HOST), a.host
    delivered(relay, msgid)


# --- one token for many deliveries --------------------------------------------

def test_token_is_reused_for_messages_one_after_another(relay, oauth):
    """Five messages, each on its own connection after the last one
    closed: five AUTHs with one token, fetched once."""
    sink = bearer_sink(relay, oauth, USER)
    setup_route(relay, oauth, sink)
    relay.start()
    for i in range(5):
        msgid = relay.ferry.submit("r%d@example.test" % i)
        delivered(relay, msgid)
        wait_session_closed(sink, i + 1)
    msgs = sink.wait_messages(5)
    assert len(sink.attempts) == 5, sink.attempts
    (g,) = oauth.issued()
    assert {m.auth["token"] for m in msgs} == {g.access_token_issued}
    assert len(oauth.token_requests()) == 1, oauth.requests


@pytest.mark.ferry_conf(relay_destination_concurrency="5",
    relay_idle_timeout="20s")
def test_parallel_deliveries_fetch_one_token(relay, oauth):
    """Ten messages queued before relayd starts, five connections at a
    time (the sink is slow to answer DATA): every session logs in with
    the same token, and the token endpoint was asked once."""
    sink = bearer_sink(relay, oauth, USER, data_delay=0.5)
    setup_route(relay, oauth, sink)
    for i in range(10):
        relay.ferry.submit("r%d@example.test" % i)
    relay.start()
    msgs = sink.wait_messages(10, timeout=30)
    assert len(sink.sessions()) > 1, "deliveries did not overlap: %r" % (
        sink.sessions(),)
    (g,) = oauth.issued()
    assert {m.auth["token"] for m in msgs} == {g.access_token_issued}
    assert len(oauth.token_requests()) == 1, oauth.requests
    assert len(relay.events("oauth-token")) == 1, relay.events("oauth-token")


# --- expiry, refresh, restart ---------------------------------------------------

@pytest.mark.ferry_conf(relay_oauth_refresh_ahead="4s")
def test_token_is_refreshed_ahead_of_expiry_without_a_delivery(relay, oauth):
    """expires_in 8 s, refresh ahead 4 s: a second token is fetched by
    itself about 4 s in, with no message waiting, and the next message
    uses it (the first, with under 4 s left, is never handed out)."""
    oauth.expires_in = 8
    sink = bearer_sink(relay, oauth, USER)
    route, rt = setup_route(relay, oauth, sink)
    relay.ferry.submit("a@example.test")
    relay.start()
    sink.wait_messages(1)
    grants = oauth.wait_grants(2)
    g1, g2 = grants[:2]
    assert len(sink.attempts) == 1, "the refresh came with a delivery: %r" \
        % sink.attempts
    assert g2.refresh_token_used == rt, g2
    assert g2.time - g1.time >= 2, "refreshed %.1f s after the first: not " \
        "ahead of expiry but at once" % (g2.time - g1.time)
    msgid = relay.ferry.submit("b@example.test")
    m2 = sink.wait_messages(2)[1]
    assert m2.auth["token"] != g1.access_token_issued, \
        "a token with under refresh_ahead left was handed out"
    assert m2.auth["token"] in tokens(oauth.issued()[1:])
    delivered(relay, msgid)
    assert len(relay.events("oauth-token", route=route)) >= 2


@pytest.mark.ferry_conf(relay_oauth_refresh_ahead="2s")
def test_rotated_refresh_token_is_stored(relay, oauth):
    """With rotation the provider answers a new refresh token and the
    old one dies.  relayd stores the new one in the state file (0600,
    the relay user's) at once; after a restart with every access token
    expired, delivery works, so what it stored is what it uses."""
    oauth.rotate = True
    oauth.expires_in = 6
    sink = bearer_sink(relay, oauth, USER)
    route, rt0 = setup_route(relay, oauth, sink)
    relay.ferry.submit("a@example.test")
    relay.start()
    sink.wait_messages(1)
    (g1,) = oauth.wait_grants(1)[:1]
    assert g1.refresh_token_issued, g1

    def stored_current():
        rt = state(relay, route).get("refresh_token")
        return rt and rt != rt0 and oauth.refresh_token_state(rt) == "valid"
    wait_for(stored_current, timeout=10, what="the rotated refresh token "
        "in %s (have %r)" % (state_path(relay, route), state(relay, route)))
    st = os.stat(state_path(relay, route))
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    dst = os.stat(state_dir(relay))
    assert stat.S_IMODE(dst.st_mode) == 0o700, oct(dst.st_mode)
    if os.geteuid() == 0:
        uid = relay.ferry.daemon_uid_gid("relayd")[0]
        assert st.st_uid == uid and dst.st_uid == uid, (st, dst)
    first_inode = st.st_ino
    status, answer = oauth.post("/token", grant_type="refresh_token",
        client_id=oauth.client_id, client_secret=oauth.client_secret,
        refresh_token=rt0)
    assert (status, answer.get("error")) == (400, "invalid_grant"), answer

    relay.stop()
    last = oauth.issued()[-1]
    wait_for(lambda: not oauth.valid(last.access_token_issued), timeout=15,
        what="relayd's last access token expired")
    rc, block = oauth_status(relay, route)
    assert rc == 0 and "expired" in block, (rc, block)
    before = len(oauth.issued())
    relay.start()
    msgid = relay.ferry.submit("b@example.test")
    m2 = sink.wait_messages(2)[1]
    delivered(relay, msgid)
    grants = oauth.issued()
    assert len(grants) > before, "no token fetched after the restart"
    assert m2.auth["token"] in tokens(grants[before:])
    # each grant used the refresh token the one before it issued: none
    # was lost in the state file, none used twice
    for prev, g in zip([None] + grants[:-1], grants):
        want = rt0 if prev is None else prev.refresh_token_issued
        assert g.refresh_token_used == want, (grants.index(g), grants)
    refused = [r for r in oauth.token_requests() if r.status != 200]
    assert len(refused) == 1, "relayd used a dead refresh token: %r" % (
        refused,)
    assert state(relay, route)["refresh_token"] == \
        grants[-1].refresh_token_issued
    # replaced by a rename, never rewritten in place, nothing left over
    assert os.stat(state_path(relay, route)).st_ino != first_inode
    assert os.listdir(state_dir(relay)) == [state_name(route)], \
        os.listdir(state_dir(relay))


def test_token_process_is_relayd_token_and_relayd_maps_no_libcurl(relay,
                                                                  oauth):
    """The token process is the program relayd-token, a child of relayd
    and relay_user's; relayd itself, which forks the processes that talk
    SMTP, has no libcurl mapped."""
    sink = bearer_sink(relay, oauth, USER)
    setup_route(relay, oauth, sink)
    relay.start()
    relay.wait_event("token-process-start")
    master = relay.ferry.pid("relayd")
    with open("/proc/%d/task/%d/children" % (master, master)) as f:
        kids = [int(p) for p in f.read().split()]
    tokens = [p for p in kids if os.path.basename(
        os.readlink("/proc/%d/exe" % p)) == "relayd-token"]
    assert len(tokens) == 1, (kids, tokens)
    tpid = tokens[0]
    if os.geteuid() == 0:
        assert os.stat("/proc/%d" % tpid).st_uid == \
            relay.ferry.daemon_uid_gid("relayd")[0]
    with open("/proc/%d/maps" % master) as f:
        maps = f.read()
    assert "libcurl" not in maps, [ln for ln in maps.splitlines()
        if "libcurl" in ln][:1]
    with open("/proc/%d/maps" % tpid) as f:
        assert "libcurl" in f.read()


def test_restart_with_a_valid_token_fetches_none(relay, oauth):
    """The access token and its expiry live in the state file: relayd
    restarted while the token is good goes on with it."""
    sink = bearer_sink(relay, oauth, USER)
    route, _ = setup_route(relay, oauth, sink)
    first = relay.ferry.submit("a@example.test")
    relay.start()
    delivered(relay, first)
    (g,) = oauth.issued()
    assert g.access_token_issued in state_path(relay, route).read_text()
    relay.ferry.restart("relayd")
    second = relay.ferry.submit("b@example.test")
    msgs = sink.wait_messages(2)
    delivered(relay, second)
    assert [m.auth["token"] for m in msgs] == [g.access_token_issued] * 2
    assert len(oauth.token_requests()) == 1, oauth.requests
    assert len(sink.attempts) == 2, sink.attempts
    rc, block = oauth_status(relay, route)
    assert rc == 0, block
    assert "valid until" in block and "last error: none" in block, block


# --- a dead refresh token ---------------------------------------------------------

@pytest.mark.ferry_conf(relay_oauth_refresh_ahead="1s")
@pytest.mark.timeout(60)
def test_revoked_refresh_token_defers_with_an_alert_until_login(relay, oauth):
    """The refresh token is revoked and the access token runs out: the
    next message stays queued (4.7.0, retried, never bounced), the alert
    line, `ferryctl status` and `ferryctl oauth status` name
    invalid_grant.  `ferryctl oauth login` with the admin's approval
    stores a new refresh token, the running relayd takes it, and the
    message goes."""
    oauth.expires_in = 4
    sink = bearer_sink(relay, oauth, USER)
    home = relay.sink()
    route, rt = setup_route(relay, oauth, sink,
        more_routes={"ferry.test": home})
    with_smtpd(relay)
    first = relay.ferry.submit("a@example.test")
    relay.start()
    delivered(relay, first)
    r = wait_for(lambda: (lambda r: r.returncode == 0 and r)(
        ctl(relay, "status")), timeout=10, what="ferryctl status exit 0")
    assert "invalid_grant" not in r.stdout.decode() + r.stderr.decode()

    # Whether relayd's ahead-of-time refresh runs before or after the
    # revocation depends on how fast the steps above were; after it no
    # token can be issued, so the last one is the one that has to run out.
    oauth.revoke(rt)
    last = oauth.issued()[-1]
    wait_for(lambda: not oauth.valid(last.access_token_issued), timeout=10,
        what="the last access token expired")
    msgid = relay.ferry.submit("b@example.test")
    err = relay.wait_event("oauth-error", route=route)[0]
    assert err["class"] == "config" and err["error"] == "invalid_grant", err
    assert "AADSTS70008" in err.get("text", ""), err
    (d,) = relay.wait_event("deferred", id=msgid)[:1]
    assert re.match(r"(4\d\d )?4\.7\.0", d["reply"]), d
    wait_for(lambda: len(relay.events("deferred", id=msgid)) >= 2,
        timeout=15, what="a second deferral of %s (retried, not failed)" %
        msgid)
    assert not relay.events("failed", id=msgid)
    assert_no_bounce(relay, home, msgid)
    assert len(sink.received()) == 1

    r = ctl(relay, "status")
    out = r.stdout.decode() + r.stderr.decode()
    assert r.returncode != 0, out
    line = [ln for ln in out.splitlines() if "oauth" in ln.lower() and
        route in ln]
    assert line and "invalid_grant" in line[0], out
    r = ctl(relay, "oauth", "status")
    out = r.stdout.decode()
    assert r.returncode == 1, (r.returncode, out, r.stderr)
    block = out[out.index(route):]
    assert re.search(r"last error: invalid_grant", block), out

    with Login(relay, route) as login:
        code = login.wait_code(oauth)
        assert oauth.verification_uri in login.out, login.out
        oauth.approve(code)
        assert login.wait() == 0, (login.out, login.err)
    assert "stored" in login.out, login.out
    (dg,) = [g for g in oauth.issued() if g.grant_type ==
        "urn:ietf:params:oauth:grant-type:device_code"]
    relay.ferry.control("flush")
    m2 = sink.wait_messages(2)[1]
    delivered_ev = relay.wait_event("delivered", id=msgid)
    assert delivered_ev
    later = oauth.issued()[oauth.issued().index(dg):]
    assert m2.auth["token"] in tokens(later), (m2.auth, later)
    assert_no_bounce(relay, home)

    def healthy():
        r = ctl(relay, "oauth", "status")
        return r.returncode == 0 and "last error: none" in \
            r.stdout.decode() and r
    wait_for(healthy, timeout=10, what="ferryctl oauth status without "
        "the error: %r" % ctl(relay, "oauth", "status").stdout)
    r = ctl(relay, "status")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("outcome", ["approve", "deny", "expire"])
def test_device_code_login(relay, oauth, outcome):
    """`ferryctl oauth login ROUTE` for a route without a refresh token:
    it prints the provider's URL and the user code, polls no faster than
    the interval, and stores the refresh token once the admin approves
    (relayd started afterwards delivers with it); a denied or expired
    login exits non-zero and stores nothing."""
    if outcome == "expire":
        oauth.device_expires_in = 3
    sink = bearer_sink(relay, oauth, USER)
    route, _ = setup_route(relay, oauth, sink, refresh_token=None)
    with Login(relay, route) as login:
        code = login.wait_code(oauth)
        assert oauth.verification_uri in login.out, login.out
        (req,) = [r for r in oauth.requests if r.path == "/devicecode"]
        assert req.form.get("client_id") == oauth.client_id, req.form
        assert req.form.get("scope") == oauth.scope, req.form
        wait_for(lambda: oauth.device_polls(code), timeout=10,
            what="a poll of the token endpoint")
        if outcome == "approve":
            oauth.approve(code)
        elif outcome == "deny":
            oauth.deny(code)
        rc = login.wait()
    polls = oauth.device_polls(code)
    gaps = [b - a for a, b in zip(polls, polls[1:])]
    assert all(g >= 0.5 for g in gaps), "polled faster than interval 1: " \
        "%r" % gaps
    st = state(relay, route)
    if outcome != "approve":
        assert rc != 0, (login.out, login.err)
        assert "stored" not in login.out, login.out
        assert login.err.strip(), "no message on stderr"
        word = "denied" if outcome == "deny" else "expired"
        assert word in login.err.lower() or ("access_denied" if
            outcome == "deny" else "expired_token") in login.err, login.err
        assert not st.get("refresh_token"), st
        return
    assert rc == 0, (login.out, login.err)
    assert "stored" in login.out, login.out
    (g,) = oauth.issued()
    assert st.get("refresh_token") == g.refresh_token_issued, st
    p = state_path(relay, route)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    if os.geteuid() == 0:
        assert os.stat(p).st_uid == relay.ferry.daemon_uid_gid("relayd")[0]
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    (m,) = sink.wait_messages(1)
    delivered(relay, msgid)
    assert oauth.valid(m.auth["token"])
    for r in oauth.token_requests("refresh_token"):
        assert r.form.get("refresh_token") == g.refresh_token_issued, r.form


def test_oauth_status_before_any_token(relay, oauth):
    """A route nobody has logged in for yet: `ferryctl oauth status`
    says it has no access token, and no error (exit 0)."""
    sink = bearer_sink(relay, oauth, USER)
    route, _ = setup_route(relay, oauth, sink, refresh_token=None)
    rc, block = oauth_status(relay, route)
    assert rc == 0, block
    assert "no access token" in block, block
    assert "last error: none" in block, block
    assert "client %s, with a secret" % oauth.client_id in block, block


# --- a token refused, other grants, passwords ----------------------------------

@pytest.mark.parametrize("mech", ["XOAUTH2", "OAUTHBEARER"])
def test_refused_token_is_replaced_on_the_same_connection(relay, oauth,
                                                          mech):
    """The server refuses a token that has time left (invalidated at the
    provider): relayd answers the error challenge as the mechanism wants
    (XOAUTH2 empty, OAUTHBEARER a single 0x01), logs auth-refused, gets a
    new token and logs in with it on the same connection."""
    sink = bearer_sink(relay, oauth, USER, mechanisms=(mech,))
    setup_route(relay, oauth, sink, mech=mech.lower())
    first = relay.ferry.submit("a@example.test")
    relay.start()
    delivered(relay, first)
    wait_session_closed(sink)
    (g1,) = oauth.issued()
    oauth.invalidate(g1.access_token_issued)
    msgid = relay.ferry.submit("b@example.test")
    m2 = sink.wait_messages(2)[1]
    delivered(relay, msgid)
    bad, good = sink.attempts[1:]
    assert bad.token == g1.access_token_issued and not bad.ok, bad
    assert bad.error_answer == (b"" if mech == "XOAUTH2" else b"\x01"), bad
    g1_, g2 = oauth.issued()
    assert good.ok and good.token == g2.access_token_issued, good
    assert good.peer == bad.peer, "not the same connection: %r" % (
        sink.attempts,)
    assert m2.auth["token"] == g2.access_token_issued
    (ev,) = relay.events("auth-refused", mechanism=mech)
    assert "535" in ev["reply"], ev
    assert not relay.events("deferred", id=msgid)


def one_client_credentials_delivery(relay, oauth, sink):
    """Submit a message and start relayd: it goes with the token of the
    one client-credentials grant, of the configured scope.  (That grant,
    its token request.)"""
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    (m,) = sink.wait_messages(1)
    delivered(relay, msgid)
    (g,) = oauth.issued()
    assert g.grant_type == "client_credentials" and g.scope == CC_SCOPE, g
    assert m.auth["token"] == g.access_token_issued
    (req,) = oauth.token_requests()
    return g, req


def test_client_credentials_grant_delivers(relay, oauth):
    """grant client_credentials: no refresh token anywhere, the token
    asked for with the configured scope."""
    sink = bearer_sink(relay, oauth, USER)
    route, _ = setup_route(relay, oauth, sink, grant="client_credentials",
        refresh_token=None)
    _, req = one_client_credentials_delivery(relay, oauth, sink)
    assert "refresh_token" not in req.form, req.form
    (ev,) = relay.events("oauth-token", route=route)
    assert ev["grant"] == "client_credentials", ev
    assert not state(relay, route).get("refresh_token"), state(relay, route)


# --- a client certificate instead of the secret ---------------------------------

def cert_stanza(relay, oauth, route, grant="client_credentials",
                combined=False, register=True, **more):
    """A stanza whose client proves itself with a new certificate (no
    client_secret), registered at oauth unless register is False."""
    crt, key = client_certificate(relay.base, combined=combined)
    if register:
        oauth.register_certificate(crt)
    keys = dict(client_certificate=crt, client_key=key)
    keys.update(more)
    return oauth_stanza(route, oauth, USER, grant=grant, secret=False,
        **keys)


def pem_body(path):
    """The base64 lines of a PEM file's private key."""
    text = path.read_text()
    key = text[text.index("PRIVATE KEY-----"):]
    return [ln for ln in key.splitlines()[1:] if ln and "-----" not in ln]


@pytest.mark.ferry_conf(relay_idle_timeout="1s")
def test_certificate_client_credentials_grant_delivers(relay, oauth):
    """client_certificate instead of client_secret: each token request
    carries a PS256 client assertion for the token endpoint, signed by
    the registered certificate's key, with a fresh jti (the server
    refuses a replay); no secret is sent, and neither the key nor an
    assertion reaches a log."""
    sink = bearer_sink(relay, oauth, USER)
    relay.routes({"example.test": sink})
    route = route_of(sink)
    write_credentials(relay, oauth, cert_stanza(relay, oauth, route))
    g, req = one_client_credentials_delivery(relay, oauth, sink)
    assert req.client_auth == "assertion", req.form
    assert "client_secret" not in req.form, req.form
    (a,) = oauth.assertions
    assert a["header"]["alg"] == "PS256", a
    c = a["claims"]
    assert c["aud"] == oauth.token_url and c["iss"] == c["sub"] == \
        oauth.client_id, c
    assert 0 < c["exp"] - c["nbf"] <= 600, c

    # The provider refuses the token at the next login: a fresh one, with
    # a new assertion.
    oauth.invalidate(g.access_token_issued)
    wait_session_closed(sink)
    second = relay.ferry.submit("y@example.test")
    sink.wait_messages(2)
    delivered(relay, second)
    assert len(oauth.issued()) == 2, oauth.issued()
    jtis = [x["claims"]["jti"] for x in oauth.assertions]
    assert len(jtis) == 2 and jtis[0] != jtis[1], jtis
    relay.ferry.stop("relayd")
    key = relay.base / "client.key"
    for f in log_files(relay):
        text = f.read_text(errors="replace")
        for line in pem_body(key):
            assert line not in text, (f, line)
        for secret in oauth.secrets():
            assert secret not in text, (f, secret[:12])


def test_certificate_in_one_file_with_a_device_login(relay, oauth):
    """A delegated login (refresh-token grant) whose client has a
    certificate, key and certificate in one PEM file: `ferryctl oauth
    login` proves the client with assertions at both endpoints, and
    relayd's refreshes do too."""
    sink = bearer_sink(relay, oauth, USER)
    relay.routes({"example.test": sink})
    route = route_of(sink)
    write_credentials(relay, oauth, cert_stanza(relay, oauth, route,
        grant=None, combined=True))
    with Login(relay, route) as login:
        code = login.wait_code(oauth)
        oauth.approve(code)
        assert login.wait() == 0, (login.out, login.err)
    assert "stored" in login.out, login.out
    # The login's access token is refused: relayd refreshes at once.
    (dg,) = oauth.issued()
    oauth.invalidate(dg.access_token_issued)
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    (m,) = sink.wait_messages(1)
    delivered(relay, msgid)
    assert oauth.valid(m.auth["token"])
    reqs = [r for r in oauth.requests if r.method == "POST"]
    assert [r.path for r in reqs if r.status == 200][:1] == ["/devicecode"]
    assert oauth.token_requests("refresh_token"), oauth.requests
    for r in reqs:
        assert r.client_auth == "assertion", (r, r.form.keys())
    rc, block = oauth_status(relay, route)
    thumb = oauth.certificate.fingerprint(hashes.SHA1()).hex().upper()
    end = oauth.certificate.not_valid_after.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert rc == 0, block
    assert "client %s, with certificate %s, valid until %s" % (
        oauth.client_id, thumb, end) in block, block


def test_unregistered_certificate_defers_as_a_configuration_problem(
        relay, oauth):
    """The provider does not know the certificate (not uploaded, or
    replaced): invalid_client, an alert, and the mail waits (4.7.0)."""
    sink = bearer_sink(relay, oauth, USER)
    home = relay.sink()
    relay.routes({"example.test": sink, "ferry.test": home})
    route = route_of(sink)
    other, _ = client_certificate(relay.base, name="other")
    oauth.register_certificate(other)
    write_credentials(relay, oauth, cert_stanza(relay, oauth, route,
        register=False))
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    err = relay.wait_event("oauth-error", route=route)[0]
    assert err["class"] == "config" and err["error"] == "invalid_client", err
    assert "AADSTS700027" in err.get("text", ""), err
    (d,) = relay.wait_event("deferred", id=msgid)[:1]
    assert re.match(r"(4\d\d )?4\.7\.0", d["reply"]), d
    assert sink.received() == [] and not oauth.issued()
    assert_no_bounce(relay, home, msgid)


def bad_certificates(relay, oauth, route):
    """(name, stanza lines, a word the message must have)."""
    crt, key = client_certificate(relay.base)
    other_crt, other_key = client_certificate(relay.base, name="other")
    ec_crt, ec_key = client_certificate(relay.base, name="ec",
        key_type="ec")
    enc = relay.base / "encrypted.key"
    run(["openssl", "pkey", "-in", str(key), "-out", str(enc), "-aes256",
        "-passout", "pass:only-the-admin-knows"], check=True)
    os.chmod(enc, 0o600)
    loose = relay.base / "loose.key"
    loose.write_bytes(key.read_bytes())
    os.chmod(loose, 0o644)

    def lines(**keys):
        return oauth_stanza(route, oauth, USER, grant="client_credentials",
            secret=False, **keys)
    return [
        ("another certificate's key", lines(client_certificate=crt,
            client_key=other_key), "not the certificate's"),
        ("key others may read", lines(client_certificate=crt,
            client_key=loose), "others may read"),
        ("encrypted key", lines(client_certificate=crt, client_key=enc),
            "unencrypted"),
        ("EC key", lines(client_certificate=ec_crt, client_key=ec_key),
            "RSA"),
        ("no such certificate", lines(client_certificate=relay.base /
            "nowhere.crt", client_key=key), "nowhere.crt"),
        ("a key but no certificate", lines(client_key=key),
            "client_key without client_certificate"),
        ("secret and certificate", oauth_stanza(route, oauth, USER,
            grant="client_credentials", client_certificate=crt,
            client_key=key), "both client_secret and client_certificate"),
    ]


@pytest.mark.parametrize("case", ["another certificate's key",
    "key others may read", "encrypted key", "EC key", "no such certificate",
    "a key but no certificate", "secret and certificate"])
def test_bad_client_certificate_is_refused(relay, oauth, case):
    """relayd exits 78 with FILE:LINE: of the route's stanza and what is
    wrong, and shows no part of a key."""
    sink = bearer_sink(relay, oauth, USER)
    relay.routes({"example.test": sink})
    route = route_of(sink)
    (lines, word), = [(ln, w) for n, ln, w in
        bad_certificates(relay, oauth, route) if n == case]
    p = write_credentials(relay, oauth, lines)
    r = run([BIN / "relayd", "-f", "-c", relay.ferry.conf_path], timeout=15)
    err = r.stderr.decode()
    assert r.returncode == 78, (r.returncode, err)
    text = p.read_text().splitlines()
    route_line = text.index("route %s" % route) + 1
    assert re.search(r"%s:%d: " % (re.escape(str(p)), route_line), err), err
    assert word in err, err
    for line in pem_body(relay.base / "client.key"):
        assert line not in err


@pytest.mark.parametrize("form", ["one line", "stanza"])
def test_basic_auth_refused_with_5_7_30_hints_at_oauth(relay, oauth, form):
    """A password login answered 550 5.7.30 (Microsoft after basic auth
    ends): auth-refused with a hint that the provider wants OAuth2, the
    mail deferred and kept, never bounced; the password not logged."""
    sink = bearer_sink(relay, oauth, USER, basic=True)
    home = relay.sink()
    relay.routes({"example.test": sink, "ferry.test": home})
    if form == "one line":
        text = "%s %s\n" % (USER, PASSWORD)
    else:
        text = "\n".join(stanza(route_of(sink), user=USER,
            password=PASSWORD)) + "\n"
    write_credentials(relay, oauth, text=text)
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    ev = wait_for(lambda: [e for e in relay.events("auth-refused")
        if e.get("mechanism") in ("PLAIN", "LOGIN")], timeout=20,
        what="auth-refused for a password login\n%s" %
        relay.ferry.diagnostics("relayd"))[0]
    assert "5.7.30" in ev["reply"], ev
    assert "OAuth2" in ev.get("hint", ""), ev
    d = result(relay, msgid)
    assert d["event"] == "deferred", d
    wait_for(lambda: len(relay.events("deferred", id=msgid)) >= 2,
        timeout=15, what="a second deferral (retried, not failed)")
    assert not relay.events("failed", id=msgid)
    assert_no_bounce(relay, home, msgid)
    assert sink.received() == []
    for p in log_files(relay):
        assert PASSWORD not in p.read_text(errors="replace"), p


@pytest.mark.parametrize("how", ["503", "unreachable"])
@pytest.mark.timeout(120)
def test_token_endpoint_down_is_temporary(relay, oauth, how):
    """A provider answering 503, or not there at all, is no admin's
    mistake: oauth-error class=temp, the mail deferred (4.7.0) and not
    bounced, `ferryctl oauth status` and `ferryctl status` exit 0; once
    the provider answers again the mail goes (relayd's token process
    waits 30 s after a temporary failure before it asks again, hence
    the long wait)."""
    sink = bearer_sink(relay, oauth, USER)
    home = relay.sink()
    relay.routes({"example.test": sink, "ferry.test": home})
    route = route_of(sink)
    rt = oauth.add_refresh_token()
    s = oauth_stanza(route, oauth, USER, refresh_token=rt)
    if how == "503":
        oauth.outage = 503
    else:
        dead = "https://127.0.0.1:%d/token" % sinks.closed_port()
        s = [ln if not ln.startswith("token_endpoint ") else
            "token_endpoint " + dead for ln in s]
    write_credentials(relay, oauth, s)
    with_smtpd(relay)
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    err = relay.wait_event("oauth-error", route=route)[0]
    assert err["class"] == "temp", err
    d = relay.wait_event("deferred", id=msgid)[0]
    assert re.match(r"(4\d\d )?4\.7\.0", d["reply"]), d
    assert_no_bounce(relay, home, msgid)
    rc, block = oauth_status(relay, route)
    assert rc == 0, block
    r = wait_for(lambda: (lambda r: r.returncode == 0 and r)(
        ctl(relay, "status")), timeout=10, what="ferryctl status exit 0: "
        "%r" % (ctl(relay, "status"),))
    assert "invalid_grant" not in r.stdout.decode()
    if how == "503":
        assert oauth.token_requests(), "no request reached the server"
        oauth.outage = None
        (m,) = sink.wait_messages(1, timeout=60)
        delivered_ = relay.wait_event("delivered", id=msgid, timeout=10)
        assert delivered_ and oauth.valid(m.auth["token"])


@pytest.mark.parametrize("bad", ["other CA", "other name"])
def test_token_endpoint_certificate_is_verified(relay, oauth, bad):
    """The token endpoint's certificate must chain to
    relay_oauth_ca_file and name the host: else nothing is posted (the
    client secret and refresh token go nowhere), oauth-error class=temp,
    the mail deferred."""
    sink = bearer_sink(relay, oauth, USER)
    server = oauth
    if bad == "other name":
        server = OAuthServer(relay.base, name="oauth-other",
            san="DNS:other.example").start()
    try:
        route, _ = setup_route(relay, server, sink)
        if bad == "other CA":
            other = websink.make_ca(relay.base, name="other-ca")[0]
            relay.conf(relay_oauth_ca_file=str(other))
        msgid = relay.ferry.submit("x@example.test")
        relay.start()
        err = relay.wait_event("oauth-error", route=route)[0]
        assert err["class"] == "temp", err
        assert result(relay, msgid)["event"] == "deferred"
        assert server.tls_failures or server.connections, \
            "relayd never tried the server"
        assert server.requests == [], "posted to an unverified server: " \
            "%r" % server.requests
        assert sink.received() == []
    finally:
        if server is not oauth:
            relay.stop()
            server.stop()


@pytest.mark.ferry_conf(relay_idle_timeout="1s")
def test_new_refresh_token_in_the_file_beats_the_stored_one(relay, oauth):
    """The admin pastes a new refresh token into relay_auth_file (the one
    Ferry stored was revoked) and restarts relayd: the next fetch uses
    the admin's, not the dead one of the state file."""
    oauth.rotate = True
    sink = bearer_sink(relay, oauth, USER)
    route, rt0 = setup_route(relay, oauth, sink)
    first = relay.ferry.submit("a@example.test")
    relay.start()
    delivered(relay, first)
    (g1,) = oauth.issued()
    wait_for(lambda: state(relay, route).get("refresh_token") ==
        g1.refresh_token_issued, timeout=10, what="the rotated token stored")
    relay.stop()
    oauth.revoke(g1.refresh_token_issued)
    oauth.invalidate(g1.access_token_issued)
    fresh = oauth.add_refresh_token()
    write_credentials(relay, oauth, oauth_stanza(route, oauth, USER,
        refresh_token=fresh))
    relay.start()
    msgid = relay.ferry.submit("b@example.test")
    m2 = sink.wait_messages(2)[1]
    delivered(relay, msgid)
    g2 = oauth.issued()[1]
    assert g2.refresh_token_used == fresh, g2
    assert m2.auth["token"] == g2.access_token_issued


# --- the credentials file ------------------------------------------------------

def bad_files(oauth, route):
    """(name, lines, the bad line's 1-based number or None (somewhere in
    its stanza), a word the message must have)."""
    good = oauth_stanza(route, oauth, USER, refresh_token="0.AXbad-line-rt")
    head = ["# relayd's smarthost logins", ""]

    def with_line(key, new):
        lines = head + [ln if not ln.startswith(key + " ") else new
            for ln in good]
        return lines, lines.index(new) + 1

    out = []
    lines = head + good + ["colour blue"]
    out.append(("unknown key", lines, len(lines), "colour"))
    lines, _ = with_line("token_endpoint", "token_endpoint " +
        oauth.token_url.replace("https://", "http://"))
    out.append(("http endpoint", lines, None, "https"))
    lines = head + [ln for ln in good if not ln.startswith("token_endpoint")]
    out.append(("no token_endpoint", lines, None, "token_endpoint"))
    lines, n = with_line("oauth", "oauth magic")
    out.append(("oauth value", lines, n, "magic"))
    lines = head + good + ["grant password"]
    out.append(("grant value", lines, len(lines), "password"))
    return out


@pytest.mark.parametrize("case", ["unknown key", "http endpoint",
    "no token_endpoint", "oauth value", "grant value"])
def test_bad_credentials_file_is_refused(relay, oauth, case):
    """relayd exits 78 with FILE:LINE: on stderr, and shows no secret."""
    sink = bearer_sink(relay, oauth, USER)
    relay.routes({"example.test": sink})
    route = route_of(sink)
    (name, lines, n, word), = [c for c in bad_files(oauth, route)
        if c[0] == case]
    p = write_credentials(relay, oauth, text="\n".join(lines) + "\n")
    r = run([BIN / "relayd", "-f", "-c", relay.ferry.conf_path], timeout=15)
    err = r.stderr.decode()
    assert r.returncode == 78, (r.returncode, err)
    m = re.search(r"%s:(\d+): " % re.escape(str(p)), err)
    assert m, err
    first = lines.index("route %s" % route) + 1
    if n is not None:
        assert int(m.group(1)) == n, (n, err)
    else:
        assert first <= int(m.group(1)) <= len(lines), (first, err)
    assert word in err, err
    assert oauth.client_secret not in err and "0.AXbad-line-rt" not in err


# --- secrets ------------------------------------------------------------------------

@pytest.mark.timeout(90)
def test_no_secret_in_any_log(relay, oauth):
    """Every grant, a refused token and a refused refresh token later,
    no client secret, refresh token, access token, device code or SASL
    response is in relayd.log, queued.log, any daemon's stderr or
    ferryctl's output; the state file does hold the refresh tokens."""
    oauth.rotate = True
    s_rt = bearer_sink(relay, oauth, USER)
    s_dev = bearer_sink(relay, oauth, USER, mechanisms=("OAUTHBEARER",))
    s_cc = bearer_sink(relay, oauth, USER)
    s_dead = bearer_sink(relay, oauth, USER)
    relay.routes({"a.example.test": s_rt, "b.example.test": s_dev,
        "c.example.test": s_cc, "d.example.test": s_dead})
    dead = oauth.add_refresh_token()
    oauth.revoke(dead)
    rt = oauth.add_refresh_token()
    r_rt, r_dev, r_cc, r_dead = map(route_of, (s_rt, s_dev, s_cc, s_dead))
    write_credentials(relay, oauth,
        oauth_stanza(r_rt, oauth, USER, refresh_token=rt),
        oauth_stanza(r_dev, oauth, USER, mech="auto"),
        oauth_stanza(r_cc, oauth, USER, grant="client_credentials"),
        oauth_stanza(r_dead, oauth, USER, refresh_token=dead))
    outputs = []
    with Login(relay, r_dev) as login:
        oauth.approve(login.wait_code(oauth))
        assert login.wait() == 0, (login.out, login.err)
    outputs += [login.out, login.err]
    relay.start()
    ids = [relay.ferry.submit("x@%s.example.test" % d) for d in "abc"]
    for i in ids:
        delivered(relay, i)
    dead_id = relay.ferry.submit("x@d.example.test")
    relay.wait_event("oauth-error", route=r_dead)
    relay.wait_event("deferred", id=dead_id)
    wait_session_closed(s_rt)
    oauth.invalidate(s_rt.received()[0].auth["token"])
    again = relay.ferry.submit("y@a.example.test")
    delivered(relay, again)
    assert any(a.error_answer is not None for a in s_rt.attempts)
    for args in (("status",), ("oauth", "status")):
        r = ctl(relay, *args)
        outputs += [r.stdout.decode(errors="replace"),
            r.stderr.decode(errors="replace")]
    relay.stop()

    grant_types = {g.grant_type for g in oauth.issued()}
    assert grant_types == {"refresh_token", "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code"}, grant_types
    secrets = set(oauth.secrets())
    for s in (s_rt, s_dev, s_cc, s_dead):
        secrets |= {a.raw for a in s.attempts if a.raw}
    # a token or the client secret in base64 (a SASL response, Basic)
    secrets |= {base64.b64encode(x.encode()).decode() for x in
        oauth.secrets()}
    secrets |= {base64.b64encode(("%s:%s" % (oauth.client_id,
        oauth.client_secret)).encode()).decode()}
    secrets = {s for s in secrets if len(s) >= 16}
    files = log_files(relay)
    assert any(p.name == "relayd.log" for p in files), files
    leaks = []
    for p in files:
        text = p.read_text(errors="replace")
        leaks += ["%s: %s..." % (p.name, s[:12]) for s in secrets if s in text]
    for i, text in enumerate(outputs):
        leaks += ["ferryctl output %d: %s..." % (i, s[:12]) for s in secrets
            if s in text]
    assert not leaks, leaks
    # where they are meant to be
    rts = [g.refresh_token_issued for g in oauth.issued()
        if g.refresh_token_issued]
    for route in (r_rt, r_dev):
        text = state_path(relay, route).read_text()
        assert any(x in text for x in rts), (route, text[:200])
