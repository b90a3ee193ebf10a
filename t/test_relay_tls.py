# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""relayd's STARTTLS (relay_tls = none|may|encrypt|verify, CA file) and AUTH
PLAIN/LOGIN at a smarthost, against aiosmtpd sinks on loopback."""

import os

import pytest

import sinks
from conftest import BIN, run, wait_for
from relayharness import SENDER, relay  # noqa: F401
from smtpdharness import secret_forms


def deliver_one(relay, sink, **conf):
    relay.routes({"example.test": sink}, retry_min="1h", retry_max="1h",
        **conf)
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    return msgid


def result(relay, msgid, timeout=20):
    """The first delivered/deferred/failed event for msgid."""
    def first():
        evs = [e for e in relay.events(None, id=msgid)
            if e.get("event") in ("delivered", "deferred", "failed")]
        return evs and evs[0]
    return wait_for(first, timeout=timeout, what="a result for %s\n%s" %
        (msgid, relay.ferry.diagnostics("relayd")))


# --- STARTTLS ------------------------------------------------------------

def test_encrypt_uses_starttls_when_required(relay):
    sink = relay.sink(tls=relay.cert(), require_tls=True)
    msgid = deliver_one(relay, sink, relay_tls="encrypt")
    (m,) = sink.wait_messages(1)
    assert m.tls, "message went in clear"
    assert m.tls_version in ("TLSv1.2", "TLSv1.3"), m.tls_version
    ehlos = [c for c in sink.commands("EHLO")]
    assert len(ehlos) == 2 and ehlos[1].endswith("(tls)"), \
        "EHLO again after STARTTLS (RFC 3207): %r" % ehlos
    ev = result(relay, msgid)
    assert ev["event"] == "delivered", ev
    tls = relay.events("tls")
    assert tls, "no event=tls line in relayd.log"
    assert any("TLS" in e["_line"] for e in tls), tls


def test_may_uses_starttls_when_offered(relay):
    sink = relay.sink(tls=relay.cert())
    deliver_one(relay, sink, relay_tls="may")
    (m,) = sink.wait_messages(1)
    assert m.tls


def test_may_delivers_in_clear_when_not_offered(relay):
    sink = relay.sink()
    msgid = deliver_one(relay, sink, relay_tls="may")
    (m,) = sink.wait_messages(1)
    assert not m.tls
    assert result(relay, msgid)["event"] == "delivered"


def test_none_never_starts_tls(relay):
    sink = relay.sink(tls=relay.cert())
    deliver_one(relay, sink, relay_tls="none")
    (m,) = sink.wait_messages(1)
    assert not m.tls


def test_may_with_a_bad_certificate_still_delivers(relay):
    # may = opportunistic, unverified: an expired/self-signed/wrong-name
    # certificate is still better than clear text
    sink = relay.sink(tls=relay.cert(cn="wrong.example", san="DNS:wrong.example"))
    msgid = deliver_one(relay, sink, relay_tls="may")
    (m,) = sink.wait_messages(1)
    assert m.tls
    assert result(relay, msgid)["event"] == "delivered"


def test_encrypt_against_a_sink_without_tls_is_unreachable(relay):
    sink = relay.sink()
    msgid = deliver_one(relay, sink, relay_tls="encrypt")
    ev = result(relay, msgid)
    assert ev["event"] == "deferred", ev
    assert ev["class"] == "unreachable", ev
    assert sink.commands("MAIL") == [], "sent MAIL without TLS"
    assert sink.received() == []
    (e,) = relay.ferry.mailq_entries()
    assert e["rcpt_errors"]["x@example.test"], e


def test_verify_with_the_right_ca_delivers(relay):
    cert, key = relay.cert()
    sink = relay.sink(tls=(cert, key), require_tls=True)
    msgid = deliver_one(relay, sink, relay_tls="verify",
        relay_tls_ca_file=str(cert))
    (m,) = sink.wait_messages(1)
    assert m.tls
    assert result(relay, msgid)["event"] == "delivered"


def test_verify_with_the_wrong_ca_is_unreachable(relay):
    cert, key = relay.cert()
    other, _ = relay.cert(name="other-ca", cn="Other CA")
    sink = relay.sink(tls=(cert, key), require_tls=True)
    msgid = deliver_one(relay, sink, relay_tls="verify",
        relay_tls_ca_file=str(other))
    ev = result(relay, msgid)
    assert ev["event"] == "deferred" and ev["class"] == "unreachable", ev
    assert sink.commands("MAIL") == []
    assert sink.received() == []


def test_verify_checks_the_host_name(relay):
    # a certificate the CA file trusts, but for another name
    cert, key = relay.cert(cn="other.example", san="DNS:other.example")
    sink = relay.sink(tls=(cert, key), require_tls=True)
    msgid = deliver_one(relay, sink, relay_tls="verify",
        relay_tls_ca_file=str(cert))
    ev = result(relay, msgid)
    assert ev["event"] == "deferred" and ev["class"] == "unreachable", ev
    assert sink.received() == []


def test_verify_against_a_sink_without_tls_is_unreachable(relay):
    cert, _ = relay.cert()
    sink = relay.sink()
    msgid = deliver_one(relay, sink, relay_tls="verify",
        relay_tls_ca_file=str(cert))
    ev = result(relay, msgid)
    assert ev["event"] == "deferred" and ev["class"] == "unreachable", ev
    assert sink.commands("MAIL") == []


# --- AUTH ------------------------------------------------------------------

def test_auth_with_the_right_password_delivers(relay):
    sink = relay.sink(auth={"alice@isp.example": "s3cret!Pass"})
    relay.auth_file("alice@isp.example", "s3cret!Pass")
    msgid = deliver_one(relay, sink)
    (m,) = sink.wait_messages(1)
    assert m.auth == "alice@isp.example"
    assert m.mail_from == SENDER
    assert [a[2] for a in sink.auth_attempts] == [True]
    assert sink.auth_attempts[0][0] in ("PLAIN", "LOGIN")
    assert result(relay, msgid)["event"] == "delivered"


def test_auth_password_may_contain_spaces(relay):
    # the file is "user password": everything after the first blank is
    # the password
    sink = relay.sink(auth={"carol": "correct horse battery"})
    relay.auth_file("carol", "correct horse battery")
    deliver_one(relay, sink)
    (m,) = sink.wait_messages(1)
    assert m.auth == "carol"


def test_auth_with_the_wrong_password_is_not_delivered(relay):
    sink = relay.sink(auth={"alice@isp.example": "right"})
    relay.auth_file("alice@isp.example", "wrong")
    msgid = deliver_one(relay, sink)
    ev = result(relay, msgid)
    assert ev["event"] in ("deferred", "failed"), ev
    assert "535" in ev["reply"], ev
    assert sink.received() == []
    assert sink.commands("MAIL") == [], "MAIL after a failed AUTH"
    assert [a[2] for a in sink.auth_attempts] == [False]


def test_auth_offered_only_after_starttls(relay):
    sink = relay.sink(tls=relay.cert(), require_tls=True,
        auth={"bob": "pw"}, auth_require_tls=True)
    relay.auth_file("bob", "pw")
    deliver_one(relay, sink, relay_tls="encrypt")
    (m,) = sink.wait_messages(1)
    assert m.tls and m.auth == "bob"


def test_auth_required_but_no_credentials_configured(relay):
    sink = relay.sink(auth={"bob": "pw"})
    msgid = deliver_one(relay, sink)
    ev = result(relay, msgid)
    assert ev["event"] != "delivered", ev
    # aiosmtpd: 530 5.7.0 Authentication required (at MAIL)
    assert "530" in ev["reply"], ev


def test_auth_file_is_not_readable_by_the_relay_user(relay):
    p = relay.auth_file("u", "p")
    assert oct(os.stat(p).st_mode & 0o777) == "0o600"
    sink = relay.sink(auth={"u": "p"})
    deliver_one(relay, sink)
    sink.wait_messages(1)   # relayd read it as root before dropping


@pytest.mark.parametrize("mode,line,what", [
    (0o644, "u hunter2-secret", "relay_auth_file %s: others may read or "
        "write it (mode 0644)"),
    (0o602, "u hunter2-secret", "relay_auth_file %s: others may read or "
        "write it (mode 0602)"),
    (0o600, "hunter2-secret", '%s:1: expected "user password"'),
])
def test_bad_auth_file_is_refused(relay, mode, line, what):
    """Exit 78 before relayd starts, naming the file, never the
    password."""
    user, _, password = line.rpartition(" ")
    p = relay.auth_file(user, password)
    os.chmod(p, mode)
    r = run([BIN / "relayd", "-f", "-c", relay.ferry.conf_path], timeout=15)
    err = r.stderr.decode()
    assert r.returncode == 78, (r.returncode, err)
    assert what % p in err, err
    assert "hunter2-secret" not in err, err


def test_password_not_in_the_log(relay):
    sink = relay.sink(auth={"u": "p"})
    relay.auth_file("u", "hunter2-secret")
    msgid = deliver_one(relay, sink)
    result(relay, msgid)
    d = relay.ferry.daemons["relayd"]
    stderr = open(d.err_path, "rb").read().decode(errors="replace")
    for form in secret_forms("u", "hunter2-secret"):
        assert form not in relay.ferry.log("relayd"), form
        assert form not in stderr, form
