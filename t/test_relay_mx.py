# Copyright (c) 2026 The Ferry authors
# SPDX-License-Identifier: ISC
"""relayd's MX routing (route `mx`, `smtp:host:port`, RFC 5321 section 5)
through libresolv-wrapper: relayd runs with LD_PRELOAD=libresolv_wrapper.so
and RESOLV_WRAPPER_HOSTS pointing at a hosts file in the test directory,
so res_query answers from that file and no real DNS is asked.

Every MX host listens on port relay_mx_port; hosts are told apart by their
loopback address (127.0.0.1, 127.0.0.3; 127.0.0.2 has no listener)."""

import pytest

import sinks
from relayharness import relay  # noqa: F401
from test_relay_tls import result


def mx_setup(relay, records, port, **conf):
    relay.resolver(records)
    relay.conf(default_route="mx", relay_mx_port=str(port),
        retry_min="1h", retry_max="1h", **conf)


def test_mx_preference_order_skips_a_dead_host(relay):
    sink = relay.sink()
    # listed out of order on purpose: preference decides, not file order
    mx_setup(relay, [
        "MX example.test 20 mx2.example.test",
        "MX example.test 10 mx1.example.test",
        "A mx1.example.test 127.0.0.2",          # nothing listens there
        "A mx2.example.test 127.0.0.1",
    ], sink.port)
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    (m,) = sink.wait_messages(1)
    assert m.rcpt_tos == ["x@example.test"]
    ev = result(relay, msgid)
    assert ev["event"] == "delivered", ev
    assert "mx2.example.test" in ev["relay"], ev
    relay.wait_queue_empty()


def test_lowest_preference_value_is_tried_first(relay):
    best = relay.sink(host="127.0.0.3")
    worse = relay.sink(host="127.0.0.1", port=best.port)
    mx_setup(relay, [
        "MX example.test 50 worse.example.test",
        "MX example.test 5 best.example.test",
        "A worse.example.test 127.0.0.1",
        "A best.example.test 127.0.0.3",
    ], best.port)
    relay.ferry.submit("x@example.test")
    relay.start()
    best.wait_messages(1)
    assert worse.received() == [] and worse.sessions() == {}


def test_no_mx_falls_back_to_the_a_record(relay):
    sink = relay.sink()
    mx_setup(relay, ["A example.test 127.0.0.1"], sink.port)
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    sink.wait_messages(1)
    assert result(relay, msgid)["event"] == "delivered"


def test_mx_without_address_does_not_fall_back_to_a(relay):
    # RFC 5321 5.1: MX records exist, so the domain's own A record is not
    # an implicit MX even when no MX host resolves
    sink = relay.sink()
    mx_setup(relay, [
        "MX example.test 10 nowhere.example.test",
        "A example.test 127.0.0.1",
    ], sink.port)
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    ev = result(relay, msgid)
    assert ev["event"] == "deferred" and ev["class"] == "unreachable", ev
    assert sink.received() == []


def test_nonexistent_domain_fails_permanently(relay):
    # NXDOMAIN is an answer, not a failure to get one: it bounces, as in
    # Postfix ("Host or domain name not found")
    sink = relay.sink()
    mx_setup(relay, ["A other.test 127.0.0.1"], sink.port)
    msgid = relay.ferry.submit("x@nothing-here.test")
    relay.start()
    ev = result(relay, msgid, timeout=60)
    assert ev["class"] == "perm" and ev["event"] == "failed", ev
    assert "nothing-here.test" in ev.get("reply", ""), ev
    assert sink.messages == [], sink.log


def test_all_mx_hosts_down_is_unreachable(relay):
    port = sinks.closed_port()
    mx_setup(relay, [
        "MX example.test 10 mx1.example.test",
        "MX example.test 20 mx2.example.test",
        "A mx1.example.test 127.0.0.2",
        "A mx2.example.test 127.0.0.1",
    ], port)
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    ev = result(relay, msgid)
    assert ev["event"] == "deferred" and ev["class"] == "unreachable", ev


def test_temp_failure_at_first_mx_tries_the_next(relay):
    # a 4xx greeting from the best MX: RFC 5321 5.1 says try the next one
    bad = relay.raw_sink(greeting="421 4.3.2 busy, go away")
    good = relay.sink(host="127.0.0.3", port=bad.port)
    mx_setup(relay, [
        "MX example.test 10 mx1.example.test",
        "MX example.test 20 mx2.example.test",
        "A mx1.example.test 127.0.0.1",
        "A mx2.example.test 127.0.0.3",
    ], bad.port)
    relay.ferry.submit("x@example.test")
    relay.start()
    good.wait_messages(1)


def test_smtp_host_route_uses_the_hosts_mx(relay):
    sink = relay.sink()
    relay.resolver([
        "MX relay.isp.test 10 smtp1.isp.test",
        "A smtp1.isp.test 127.0.0.1",
    ])
    relay.routes({"example.test": "smtp:relay.isp.test:%d" % sink.port})
    relay.ferry.submit("x@example.test")
    relay.start()
    (m,) = sink.wait_messages(1)
    assert m.rcpt_tos == ["x@example.test"]


def test_smarthost_by_name_is_resolved_without_mx(relay):
    sink = relay.sink()
    relay.resolver([
        # an MX for the name must be ignored: [brackets] mean no MX lookup
        "MX smarthost.isp.test 10 elsewhere.isp.test",
        "A elsewhere.isp.test 127.0.0.2",
        "A smarthost.isp.test 127.0.0.1",
    ])
    relay.routes({"example.test": "smtp:[smarthost.isp.test]:%d" %
        sink.port})
    relay.ferry.submit("x@example.test")
    relay.start()
    sink.wait_messages(1)


def test_verify_by_name_sends_sni_and_checks_the_name(relay):
    cert, key = relay.cert(cn="smarthost.isp.test",
        san="DNS:smarthost.isp.test")
    sink = relay.sink(tls=(cert, key), require_tls=True)
    relay.resolver(["A smarthost.isp.test 127.0.0.1"])
    relay.routes({"example.test": "smtp:[smarthost.isp.test]:%d" %
        sink.port}, relay_tls="verify", relay_tls_ca_file=str(cert))
    relay.ferry.submit("x@example.test")
    relay.start()
    (m,) = sink.wait_messages(1)
    assert m.tls
    assert sink.sni == ["smarthost.isp.test"], sink.sni


def test_routes_file_beats_default_route(relay):
    sink = relay.sink()
    relay.resolver([])          # any DNS use fails
    relay.routes({"example.test": sink}, default_route="mx")
    relay.ferry.submit("x@example.test")
    relay.start()
    sink.wait_messages(1)


@pytest.mark.ferry_conf(relay_mx_port="1")
def test_default_route_smarthost(relay):
    sink = relay.sink()
    relay.conf(default_route="smtp:[127.0.0.1]:%d" % sink.port)
    relay.ferry.submit("x@anywhere.test")
    relay.start()
    sink.wait_messages(1)


def test_null_mx_is_a_permanent_failure(relay):
    # RFC 7505: "MX 0 ." means the domain takes no mail
    sink = relay.sink()
    mx_setup(relay, ["MX example.test 0 .", "A example.test 127.0.0.1"],
        sink.port)
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    ev = result(relay, msgid)
    assert ev["event"] == "failed" and ev["class"] == "perm", ev
    assert sink.received() == []


def test_aaaa_only_mx_host_is_tried_over_ipv6(relay):
    import socket
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    import threading
    port = sinks.free_port()
    got = []
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::1", port))
    ls.listen(1)

    def accept():
        try:
            c, _ = ls.accept()
            got.append(True)
            c.sendall(b"421 4.3.2 v6 probe only\r\n")
            c.close()
        except OSError:
            pass
    threading.Thread(target=accept, daemon=True).start()
    mx_setup(relay, ["MX example.test 10 v6.example.test",
        "AAAA v6.example.test ::1"], port)
    relay.ferry.submit("x@example.test")
    relay.start()
    try:
        from conftest import wait_for
        wait_for(lambda: got, timeout=20, what="a connection to [::1]")
    finally:
        ls.close()


def test_mx_answer_over_2k_by_tcp_after_truncated_udp(relay):
    # the UDP answer is cut (TC), the resolver asks again over TCP and
    # gets 40 MX records, some 3 KB: more than a 2 KB buffer holds, and
    # glibc reports the whole length all the same
    sink = relay.sink()
    records = ["MX example.test 10 mx.example.test",
        "A mx.example.test 127.0.0.1"]
    records += ["MX example.test %d mx%02d.%s.example.test" % (20 + i, i,
        "x" * 40) for i in range(39)]
    mx_setup(relay, records, sink.port)
    msgid = relay.ferry.submit("x@example.test")
    relay.start()
    (m,) = sink.wait_messages(1)
    assert m.rcpt_tos == ["x@example.test"]
    ev = result(relay, msgid)
    assert ev["event"] == "delivered", ev
    assert ("example.test", 15) in relay.dns.tcp_queries, relay.dns.queries
    assert relay.ferry.daemons["relayd"].alive(), \
        relay.ferry.diagnostics("relayd")
    relay.wait_queue_empty()
